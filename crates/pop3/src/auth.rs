//! Logging in: USER/PASS and APOP (RFC 1939 7), AUTH with SASL (RFC 5034):
//! PLAIN with an authorization identity (RFC 4616) for admin impersonation,
//! and any other mechanism whose initial response the caller builds
//! (XOAUTH2, OAUTHBEARER).
//!
//! Every buffer that holds a secret is wiped after use; the wire trace shows
//! `PASS <redacted>`, `APOP user <redacted>`, `AUTH MECH <redacted>`.

use md5::{Digest, Md5};
use tokio::io::{AsyncRead, AsyncWrite};
use zeroize::Zeroizing;

use mailport_mail::base64::{base64, base64_decode};

use crate::client::{check_arg, Client, WIRE};
use crate::response::Line;
use crate::Error;

/// RFC 5034 4: an AUTH command with its initial response must fit in 255
/// octets (CRLF included); longer responses (OAuth tokens) wait for "+".
const MAX_AUTH_LINE: usize = 255;

impl<S: AsyncRead + AsyncWrite + Unpin> Client<S> {
    /// USER then PASS. The password may contain spaces (RFC 1939 7 lets
    /// servers take the rest of the line), but not CR, LF or NUL.
    pub async fn user_pass(&mut self, user: &str, password: &[u8]) -> Result<(), Error> {
        check_arg(user)?;
        if password.iter().any(|&b| b == b'\r' || b == b'\n' || b == 0) {
            return Err(Error::Usage(
                "the password contains CR, LF or NUL, which PASS cannot carry".into(),
            ));
        }
        self.command(&format!("USER {user}")).await?;
        let mut line = Zeroizing::new(Vec::with_capacity(password.len() + 7));
        line.extend_from_slice(b"PASS ");
        line.extend_from_slice(password);
        line.extend_from_slice(b"\r\n");
        self.secret_command(&line, "PASS", "PASS <redacted>").await
    }

    /// APOP (RFC 1939 7): proves the password with MD5(timestamp + password)
    /// without sending it. Needs the greeting's timestamp; servers keep the
    /// password in plain text for this, so many have it turned off.
    pub async fn apop(&mut self, user: &str, password: &[u8]) -> Result<(), Error> {
        check_arg(user)?;
        let Some(timestamp) = self.apop_timestamp() else {
            return Err(Error::Usage(
                "the server's greeting has no APOP timestamp: it does not offer APOP".into(),
            ));
        };
        let digest = Zeroizing::new(apop_digest(timestamp, password));
        let mut line = Zeroizing::new(format!("APOP {user} ").into_bytes());
        line.extend_from_slice(digest.as_bytes());
        line.extend_from_slice(b"\r\n");
        self.secret_command(&line, "APOP", &format!("APOP {user} <redacted>"))
            .await
    }

    /// AUTH PLAIN (RFC 4616) with an optional authorization identity
    /// (empty for a normal login; the user to act as for an admin `authcid`).
    pub async fn auth_plain(
        &mut self,
        authzid: &str,
        authcid: &str,
        password: &[u8],
    ) -> Result<(), Error> {
        let mut m = Zeroizing::new(Vec::with_capacity(
            authzid.len() + authcid.len() + password.len() + 2,
        ));
        m.extend_from_slice(authzid.as_bytes());
        m.push(0);
        m.extend_from_slice(authcid.as_bytes());
        m.push(0);
        m.extend_from_slice(password);
        self.auth("PLAIN", Some(&m)).await
    }

    /// AUTH (RFC 5034) with one client message: `initial_response` raw (this
    /// encodes it), None to wait for the server's first challenge and answer
    /// it with an empty response. A further challenge is the server's error
    /// report (OAuth mechanisms send JSON): the exchange is cancelled with
    /// "*" and the report is added to the error's text.
    pub async fn auth(
        &mut self,
        mechanism: &str,
        initial_response: Option<&[u8]>,
    ) -> Result<(), Error> {
        self.ensure_idle()?;
        check_arg(mechanism)?;
        if mechanism.contains(' ') {
            return Err(Error::Usage(format!(
                "{mechanism:?} is not a SASL mechanism name"
            )));
        }
        let mechanism = mechanism.to_ascii_uppercase();
        let command = format!("AUTH {mechanism}");
        let encoded = Zeroizing::new(match initial_response {
            // RFC 5034 4: an empty initial response is sent as "=".
            Some([]) => "=".to_string(),
            Some(r) => base64(r),
            None => String::new(),
        });
        let mut line = Zeroizing::new(command.clone().into_bytes());
        let inline =
            initial_response.is_some() && command.len() + 1 + encoded.len() + 2 <= MAX_AUTH_LINE;
        if inline {
            line.push(b' ');
            line.extend_from_slice(encoded.as_bytes());
        }
        line.extend_from_slice(b"\r\n");
        tracing::debug!(target: WIRE, "C: {command}{}", if inline { " <redacted>" } else { "" });
        let r = self.auth_exchange(&line, &command, &encoded, inline).await;
        self.note(r)?;
        self.forget_capabilities();
        Ok(())
    }

    async fn auth_exchange(
        &mut self,
        first: &[u8],
        command: &str,
        encoded: &str,
        mut response_sent: bool,
    ) -> Result<(), Error> {
        self.send(first).await?;
        let mut server_said: Option<String> = None;
        loop {
            match self.line(command).await? {
                Line::Continuation(challenge) => {
                    let reply: Zeroizing<Vec<u8>> = if response_sent {
                        server_said = base64_decode(challenge.trim().as_bytes())
                            .map(|b| String::from_utf8_lossy(&b).into_owned());
                        tracing::debug!(target: WIRE, "C: *");
                        Zeroizing::new(b"*\r\n".to_vec())
                    } else {
                        tracing::debug!(target: WIRE, "C: <redacted>");
                        // After "+", an empty response is an empty line ("="
                        // belongs only to the command line).
                        let body = if encoded == "=" { "" } else { encoded };
                        Zeroizing::new(format!("{body}\r\n").into_bytes())
                    };
                    response_sent = true;
                    self.send(&reply).await?;
                }
                Line::Status(s) if s.ok => return Ok(()),
                Line::Status(s) => {
                    return Err(Error::Err {
                        command: command.to_string(),
                        code: s.code,
                        text: match server_said {
                            Some(detail) => format!("{} ({detail})", s.text),
                            None => s.text,
                        },
                    })
                }
            }
        }
    }

    /// Sends a line that carries a secret, traced as `shown`; forgets CAPA on
    /// success, since the server may offer more once logged in.
    async fn secret_command(
        &mut self,
        line: &[u8],
        command: &str,
        shown: &str,
    ) -> Result<(), Error> {
        self.ensure_idle()?;
        tracing::debug!(target: WIRE, "C: {shown}");
        let r = async {
            self.send(line).await?;
            self.status(command).await
        }
        .await;
        self.note(r)?;
        self.forget_capabilities();
        Ok(())
    }
}

/// Lower-case hex MD5 of the timestamp followed by the password (RFC 1939 7).
pub fn apop_digest(timestamp: &str, password: &[u8]) -> String {
    let mut h = Md5::new();
    h.update(timestamp.as_bytes());
    h.update(password);
    let digest = h.finalize();
    let mut out = String::with_capacity(32);
    for b in digest.iter() {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    out
}

const HEX: &[u8; 16] = b"0123456789abcdef";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ClientConfig;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;
    use tokio::io::{duplex, AsyncReadExt, AsyncWriteExt, DuplexStream};

    #[test]
    fn apop_digest_matches_rfc_1939() {
        assert_eq!(
            apop_digest("<1896.697170952@dbc.mtview.ca.us>", b"tanstaaf"),
            "c4c9334bac560ecc979e58001b3e22fb"
        );
    }

    /// A client whose server answers with `script` and records what it got.
    async fn scripted(script: &'static [u8]) -> (Client<DuplexStream>, Arc<Mutex<Vec<u8>>>) {
        let (a, mut b) = duplex(1 << 16);
        let got = Arc::new(Mutex::new(Vec::new()));
        let sink = got.clone();
        tokio::spawn(async move {
            b.write_all(script).await.unwrap();
            let mut buf = vec![0u8; 4096];
            while let Ok(n) = b.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        let config = ClientConfig {
            timeout: Duration::from_millis(500),
            ..Default::default()
        };
        (Client::connect(a, config).await.unwrap(), got)
    }

    #[tokio::test]
    async fn apop_sends_the_digest() {
        let (mut c, got) =
            scripted(b"+OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>\r\n+OK maildrop has 1 message\r\n").await;
        c.apop("mrose", b"tanstaaf").await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(
            &got.lock().unwrap()[..],
            b"APOP mrose c4c9334bac560ecc979e58001b3e22fb\r\n"
        );
        let (mut c, _) = scripted(b"+OK no timestamp\r\n").await;
        assert!(matches!(c.apop("mrose", b"x").await, Err(Error::Usage(_))));
    }

    #[tokio::test]
    async fn wrong_password_is_auth_and_in_use_is_transient() {
        let (mut c, got) = scripted(b"+OK hi\r\n+OK\r\n-ERR [AUTH] Authentication failed.\r\n+OK\r\n-ERR [IN-USE] locked\r\n").await;
        let e = c.user_pass("alice", b"wrong pw").await.unwrap_err();
        assert!(e.is_auth() && !e.is_transient(), "{e:?}");
        let e = c.user_pass("alice", b"right").await.unwrap_err();
        assert!(e.is_transient() && !e.is_auth(), "{e:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(
            &got.lock().unwrap()[..],
            b"USER alice\r\nPASS wrong pw\r\nUSER alice\r\nPASS right\r\n"
        );
        let (mut c, _) = scripted(b"+OK hi\r\n").await;
        assert!(matches!(
            c.user_pass("alice", b"a\r\nDELE 1").await,
            Err(Error::Usage(_))
        ));
    }

    #[tokio::test]
    async fn auth_plain_sends_the_initial_response_inline() {
        let (mut c, got) = scripted(b"+OK hi\r\n+OK logged in\r\n").await;
        c.auth_plain("", "tim", b"tanstaaf").await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(
            &got.lock().unwrap()[..],
            b"AUTH PLAIN AHRpbQB0YW5zdGFhZg==\r\n"
        );
    }

    #[tokio::test]
    async fn long_initial_responses_wait_for_the_continuation() {
        let (mut c, got) = scripted(b"+OK hi\r\n+ \r\n+OK\r\n").await;
        let token = vec![b'x'; 300];
        c.auth("XOAUTH2", Some(&token)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        let sent = got.lock().unwrap().clone();
        let expected = format!("AUTH XOAUTH2\r\n{}\r\n", base64(&token));
        assert_eq!(String::from_utf8(sent).unwrap(), expected);
    }

    #[tokio::test]
    async fn oauth_failure_report_is_kept_and_the_exchange_cancelled() {
        let (mut c, got) = scripted(
            b"+OK hi\r\n+ eyJzdGF0dXMiOiI0MDEifQ==\r\n-ERR [AUTH] Invalid credentials\r\n",
        )
        .await;
        let e = c
            .auth("OAUTHBEARER", Some(b"n,,\x01auth=Bearer t\x01\x01"))
            .await
            .unwrap_err();
        assert!(e.is_auth(), "{e:?}");
        assert!(e.to_string().contains(r#"{"status":"401"}"#), "{e}");
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(got.lock().unwrap().ends_with(b"\r\n*\r\n"));
    }
}
