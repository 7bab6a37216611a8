//! Logging in: LOGIN and AUTHENTICATE with the SASL mechanisms migrations
//! need — PLAIN (RFC 4616, with an authorization identity for admin
//! impersonation), XOAUTH2 (Google/Microsoft) and OAUTHBEARER (RFC 7628).
//!
//! Every buffer that holds a secret is wiped after use; the wire trace shows
//! `AUTHENTICATE MECH <redacted>` and never the client's responses.

use zeroize::Zeroizing;

use mailport_mail::base64::{base64, base64_decode};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::client::{quote, Client};
use crate::parse::Response;
use crate::Error;

/// A SASL exchange the client can start.
pub enum Sasl<'a> {
    /// `authzid` empty for a normal login; the user to act as when `authcid`
    /// is an administrator.
    Plain {
        authzid: &'a str,
        authcid: &'a str,
        password: &'a [u8],
    },
    XOAuth2 {
        user: &'a str,
        token: &'a str,
    },
    OAuthBearer {
        user: &'a str,
        host: &'a str,
        port: u16,
        token: &'a str,
    },
}

impl Sasl<'_> {
    pub fn mechanism(&self) -> &'static str {
        match self {
            Sasl::Plain { .. } => "PLAIN",
            Sasl::XOAuth2 { .. } => "XOAUTH2",
            Sasl::OAuthBearer { .. } => "OAUTHBEARER",
        }
    }

    /// The client's first (and, when all goes well, only) message (also
    /// what POP3's AUTH sends: SASL is the same in both protocols).
    pub fn initial_response(&self) -> Zeroizing<Vec<u8>> {
        let mut m = Zeroizing::new(Vec::new());
        match self {
            Sasl::Plain {
                authzid,
                authcid,
                password,
            } => {
                m.extend_from_slice(authzid.as_bytes());
                m.push(0);
                m.extend_from_slice(authcid.as_bytes());
                m.push(0);
                m.extend_from_slice(password);
            }
            Sasl::XOAuth2 { user, token } => {
                m.extend_from_slice(format!("user={user}\x01auth=Bearer ").as_bytes());
                m.extend_from_slice(token.as_bytes());
                m.extend_from_slice(b"\x01\x01");
            }
            Sasl::OAuthBearer {
                user,
                host,
                port,
                token,
            } => {
                // RFC 7628 3.1: GS2 header with the authorization identity,
                // then key=value pairs separated by ^A.
                let user = user.replace('=', "=3D").replace(',', "=2C");
                m.extend_from_slice(
                    format!("n,a={user},\x01host={host}\x01port={port}\x01auth=Bearer ").as_bytes(),
                );
                m.extend_from_slice(token.as_bytes());
                m.extend_from_slice(b"\x01\x01");
            }
        }
        m
    }

    /// What to answer when the server, instead of a verdict, sends a challenge:
    /// for the OAuth mechanisms that is an error report in JSON, which the
    /// client must acknowledge before the server sends its NO.
    fn challenge_reply(&self) -> &'static [u8] {
        match self {
            // RFC 7628 3.2.3: a single ^A.
            Sasl::OAuthBearer { .. } => b"\x01",
            Sasl::XOAuth2 { .. } => b"",
            // PLAIN has no second step: cancel (RFC 3501 6.2.2).
            Sasl::Plain { .. } => b"*",
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Client<S> {
    /// LOGIN (RFC 3501 6.2.3). Refreshes capabilities afterwards.
    pub async fn login(&mut self, user: &str, password: &[u8]) -> Result<(), Error> {
        if self.has_capability("LOGINDISABLED") {
            return Err(Error::No {
                command: "LOGIN".into(),
                code: Some("LOGINDISABLED".into()),
                text: "the server disabled LOGIN on this connection (LOGINDISABLED)".into(),
            });
        }
        let mut cmd = Zeroizing::new(b"LOGIN ".to_vec());
        cmd.extend(quote(user.as_bytes())?);
        cmd.push(b' ');
        cmd.extend(Zeroizing::new(quote(password)?).iter());
        let done = self.command(&cmd).await?;
        self.refresh_capabilities(&done).await
    }

    /// AUTHENTICATE PLAIN (RFC 4616) with an optional authorization identity.
    pub async fn authenticate_plain(
        &mut self,
        authzid: &str,
        authcid: &str,
        password: &[u8],
    ) -> Result<(), Error> {
        self.authenticate(&Sasl::Plain {
            authzid,
            authcid,
            password,
        })
        .await
    }

    /// AUTHENTICATE (RFC 3501 6.2.2), with the initial response in the
    /// command when the server has SASL-IR (RFC 4959).
    pub async fn authenticate(&mut self, sasl: &Sasl<'_>) -> Result<(), Error> {
        let mech = sasl.mechanism();
        let initial = Zeroizing::new(base64(&sasl.initial_response()).into_bytes());
        self.ensure_idle()?;
        let tag = self.tag();
        tracing::debug!(target: "mailport::imap::wire", "C: {tag} AUTHENTICATE {mech} <redacted>");
        let mut line = Zeroizing::new(format!("{tag} AUTHENTICATE {mech}").into_bytes());
        let sasl_ir = self.has_capability("SASL-IR");
        if sasl_ir {
            line.push(b' ');
            // An empty initial response is sent as "=" (RFC 4959).
            line.extend_from_slice(if initial.is_empty() { b"=" } else { &initial });
        }
        line.extend_from_slice(b"\r\n");
        self.send(&line).await?;
        let mut initial_sent = sasl_ir;
        let mut server_said: Option<String> = None;
        loop {
            match self.read_response().await? {
                Response::Continuation(text) => {
                    let mut out = if initial_sent {
                        // Servers report OAuth failures as a base64 JSON challenge.
                        server_said = base64_decode(text.trim().as_bytes())
                            .map(|b| String::from_utf8_lossy(&b).into_owned());
                        let reply = sasl.challenge_reply();
                        Zeroizing::new(if reply == b"*" {
                            reply.to_vec()
                        } else {
                            base64(reply).into_bytes()
                        })
                    } else {
                        Zeroizing::new(initial.to_vec())
                    };
                    initial_sent = true;
                    out.extend_from_slice(b"\r\n");
                    self.send(&out).await?;
                }
                Response::Tagged { tag: t, .. } if t != tag => {
                    return Err(Error::Malformed(format!("completion for unknown tag {t}")))
                }
                other => {
                    let done = self.collect_from(Some(other), &tag, "AUTHENTICATE").await;
                    return match done {
                        Ok(done) => self.refresh_capabilities(&done).await,
                        Err(Error::No {
                            command,
                            code,
                            text,
                        }) => Err(Error::No {
                            command,
                            code,
                            text: match server_said {
                                Some(detail) => format!("{text} ({detail})"),
                                None => text,
                            },
                        }),
                        Err(e) => Err(e),
                    };
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oauth_initial_responses_follow_the_specs() {
        let x = Sasl::XOAuth2 {
            user: "alice@example.org",
            token: "ya29.tok",
        };
        assert_eq!(
            &x.initial_response()[..],
            b"user=alice@example.org\x01auth=Bearer ya29.tok\x01\x01"
        );
        let o = Sasl::OAuthBearer {
            user: "a,b=c@example.org",
            host: "imap.example.org",
            port: 993,
            token: "t",
        };
        assert_eq!(
            &o.initial_response()[..],
            &b"n,a=a=2Cb=3Dc@example.org,\x01host=imap.example.org\x01port=993\x01auth=Bearer t\x01\x01"[..]
        );
    }
}
