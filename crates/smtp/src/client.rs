//! The relay side: the proxy passing a transaction on to the old or the new
//! server's MTA, over SMTP or LMTP (RFC 2033: one reply per recipient after
//! the data). Generic over the stream; the caller connects, and upgrades
//! after [`Client::starttls`] with TLS of its own.

use std::borrow::Cow;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};

use crate::server::Reply;

/// A reply line is at most 512 octets (RFC 5321 §4.5.3.1.5); servers send
/// longer texts, and EHLO lists: generous bounds, still bounds.
const MAX_REPLY_LINE: usize = 4096;
const MAX_REPLY_LINES: usize = 200;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("the server closed the connection")]
    Closed,
    #[error("the server did not answer within {} seconds", .0.as_secs())]
    Timeout(Duration),
    #[error("the server's reply is not SMTP: {0:?}")]
    Garbled(String),
    /// An answer other than the one the step needs.
    #[error("the server answered {}", reply_text(.0))]
    Refused(Reply),
}

fn reply_text(r: &Reply) -> String {
    let code = match &r.enhanced {
        Some(e) => format!("{} {e}", r.code),
        None => r.code.to_string(),
    };
    format!("{code} {}", r.lines.join(" / "))
}

/// SMTP or LMTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Smtp,
    Lmtp,
}

pub struct Client<S> {
    io: BufReader<S>,
    timeout: Duration,
    dialect: Dialect,
    /// EHLO's keywords, upper case, with their arguments.
    extensions: Vec<String>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Client<S> {
    /// Reads the greeting (220).
    pub async fn connect(
        stream: S,
        dialect: Dialect,
        timeout: Duration,
    ) -> Result<Self, ClientError> {
        let mut c = Client {
            io: BufReader::new(stream),
            timeout,
            dialect,
            extensions: Vec::new(),
        };
        c.expect(220).await?;
        Ok(c)
    }

    /// Wraps a stream after STARTTLS: nothing is known of the server again.
    pub fn resume(stream: S, dialect: Dialect, timeout: Duration) -> Self {
        Client {
            io: BufReader::new(stream),
            timeout,
            dialect,
            extensions: Vec::new(),
        }
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    pub fn into_inner(self) -> S {
        self.io.into_inner()
    }

    /// The stream and what the server sent that was read but not used
    /// (a proxy relaying the session passes it on first).
    pub fn into_parts(self) -> (S, Vec<u8>) {
        let unread = self.io.buffer().to_vec();
        (self.io.into_inner(), unread)
    }

    /// `AUTH PLAIN` with the initial response (RFC 4954, RFC 4616):
    /// `authzid` acts for another user (empty: for oneself). The server's
    /// answer, 235 when authenticated. The command line, which carries the
    /// password, is wiped after it is sent.
    pub async fn auth_plain(
        &mut self,
        authzid: &str,
        authcid: &str,
        password: &str,
    ) -> Result<Reply, ClientError> {
        let message = zeroize::Zeroizing::new(format!("{authzid}\0{authcid}\0{password}"));
        let encoded = zeroize::Zeroizing::new(mailport_mail::base64::base64(message.as_bytes()));
        let line = zeroize::Zeroizing::new(format!("AUTH PLAIN {}", encoded.as_str()));
        self.command(&line).await
    }

    /// EHLO (or LHLO); the extensions are kept.
    pub async fn hello(&mut self, name: &str) -> Result<(), ClientError> {
        let verb = match self.dialect {
            Dialect::Smtp => "EHLO",
            Dialect::Lmtp => "LHLO",
        };
        let r = self.command(&format!("{verb} {name}")).await?;
        if r.code != 250 {
            return Err(ClientError::Refused(r));
        }
        self.extensions = r
            .lines
            .iter()
            .skip(1)
            .map(|l| l.to_ascii_uppercase())
            .collect();
        Ok(())
    }

    /// Whether the server announced `keyword` in its EHLO.
    pub fn has(&self, keyword: &str) -> bool {
        self.extension(keyword).is_some()
    }

    /// The argument of an extension (`SIZE 10240000` -> `10240000`).
    pub fn extension(&self, keyword: &str) -> Option<&str> {
        self.extensions.iter().find_map(|e| {
            let (k, rest) = e.split_once(' ').unwrap_or((e.as_str(), ""));
            (k == keyword).then_some(rest)
        })
    }

    /// The server's message size limit, if it announced one (0: none).
    pub fn size_limit(&self) -> Option<u64> {
        self.extension("SIZE")?
            .trim()
            .parse()
            .ok()
            .filter(|&n| n > 0)
    }

    /// STARTTLS; the caller then wraps [`Client::into_inner`] in TLS and
    /// says hello again.
    pub async fn starttls(&mut self) -> Result<(), ClientError> {
        self.expect_after("STARTTLS", 220).await.map(|_| ())
    }

    /// Postfix's XCLIENT (the real client's address, for the server's own
    /// checks), when announced; the server greets again (220), and wants a
    /// new EHLO.
    pub async fn xclient(
        &mut self,
        attributes: &[(&str, &str)],
        name: &str,
    ) -> Result<bool, ClientError> {
        if !self.has("XCLIENT") {
            return Ok(false);
        }
        let args: Vec<String> = attributes
            .iter()
            .map(|(k, v)| format!("{k}={}", xtext(v)))
            .collect();
        self.expect_after(&format!("XCLIENT {}", args.join(" ")), 220)
            .await?;
        self.hello(name).await?;
        Ok(true)
    }

    /// `MAIL FROM:<path> params`.
    pub async fn mail(&mut self, from: &str, params: &[String]) -> Result<Reply, ClientError> {
        let mut cmd = format!("MAIL FROM:<{from}>");
        for p in params {
            cmd.push(' ');
            cmd.push_str(p);
        }
        self.command(&cmd).await
    }

    /// `RCPT TO:<path> params`: the server's answer, whatever it is.
    pub async fn rcpt(&mut self, to: &str, params: &[String]) -> Result<Reply, ClientError> {
        let mut cmd = format!("RCPT TO:<{to}>");
        for p in params {
            cmd.push(' ');
            cmd.push_str(p);
        }
        self.command(&cmd).await
    }

    /// `DATA`: the server's answer (354 to go on).
    pub async fn data(&mut self) -> Result<Reply, ClientError> {
        self.command("DATA").await
    }

    /// Where the message goes after a 354, still dot-stuffed, ending in
    /// its `.` line.
    pub fn message_sink(&mut self) -> &mut S {
        self.io.get_mut()
    }

    /// The answers after the message: one (SMTP), or one per accepted
    /// recipient (LMTP).
    pub async fn after_data(&mut self, recipients: usize) -> Result<Vec<Reply>, ClientError> {
        self.io.get_mut().flush().await?;
        let n = match self.dialect {
            Dialect::Smtp => 1,
            Dialect::Lmtp => recipients.max(1),
        };
        let mut replies = Vec::with_capacity(n);
        for _ in 0..n {
            replies.push(self.reply().await?);
        }
        Ok(replies)
    }

    pub async fn rset(&mut self) -> Result<Reply, ClientError> {
        self.command("RSET").await
    }

    /// QUIT, and never mind the answer.
    pub async fn quit(mut self) {
        let _ = self.command("QUIT").await;
    }

    /// Sends one command line; the reply.
    pub async fn command(&mut self, line: &str) -> Result<Reply, ClientError> {
        // One write: a command in two segments waits for the server's
        // delayed ACK (Nagle), 40 ms a command on Linux.
        let mut bytes = zeroize::Zeroizing::new(Vec::with_capacity(line.len() + 2));
        bytes.extend_from_slice(line.as_bytes());
        bytes.extend_from_slice(b"\r\n");
        let w = self.io.get_mut();
        w.write_all(&bytes).await?;
        w.flush().await?;
        self.reply().await
    }

    async fn expect(&mut self, code: u16) -> Result<Reply, ClientError> {
        let r = self.reply().await?;
        match r.code == code {
            true => Ok(r),
            false => Err(ClientError::Refused(r)),
        }
    }

    async fn expect_after(&mut self, line: &str, code: u16) -> Result<Reply, ClientError> {
        let r = self.command(line).await?;
        match r.code == code {
            true => Ok(r),
            false => Err(ClientError::Refused(r)),
        }
    }

    /// One reply, all its lines.
    pub async fn reply(&mut self) -> Result<Reply, ClientError> {
        let mut lines = Vec::new();
        let mut code = 0;
        loop {
            let mut raw = Vec::new();
            let mut bounded = (&mut self.io).take(MAX_REPLY_LINE as u64);
            let read = bounded.read_until(b'\n', &mut raw);
            match tokio::time::timeout(self.timeout, read).await {
                Err(_) => return Err(ClientError::Timeout(self.timeout)),
                Ok(Err(e)) => return Err(e.into()),
                Ok(Ok(0)) => return Err(ClientError::Closed),
                Ok(Ok(_)) => {}
            }
            let line = String::from_utf8_lossy(&raw);
            let line = line.trim_end_matches(['\r', '\n']);
            let garbled = || ClientError::Garbled(line.chars().take(100).collect());
            let this: u16 = line
                .get(..3)
                .and_then(|c| c.parse().ok())
                .filter(|c| (200..600).contains(c))
                .ok_or_else(garbled)?;
            if code != 0 && this != code {
                return Err(garbled());
            }
            code = this;
            let more = line.as_bytes().get(3) == Some(&b'-');
            lines.push(line.get(4..).unwrap_or("").to_string());
            if !more {
                break;
            }
            if lines.len() >= MAX_REPLY_LINES {
                return Err(garbled());
            }
        }
        let enhanced = lines.first().and_then(|l| enhanced_code(l));
        if enhanced.is_some() {
            for l in &mut lines {
                if let Some((_, text)) = l.split_once(' ').filter(|(c, _)| is_enhanced(c)) {
                    *l = text.to_string();
                }
            }
        }
        Ok(Reply {
            code,
            enhanced,
            lines,
        })
    }
}

fn is_enhanced(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    parts.len() == 3
        && matches!(parts[0], "2" | "4" | "5")
        && parts[1..]
            .iter()
            .all(|p| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()))
}

/// The enhanced code at the start of a reply text.
fn enhanced_code(text: &str) -> Option<Cow<'static, str>> {
    let first = text.split(' ').next()?;
    is_enhanced(first).then(|| Cow::Owned(first.to_string()))
}

/// RFC 3461 xtext: `+XX` for `+`, `=`, and bytes outside 33-126.
pub fn xtext(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'+' | b'=' => out.push_str(&format!("+{b:02X}")),
            33..=126 => out.push(b as char),
            _ => out.push_str(&format!("+{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn replies_with_and_without_enhanced_codes() {
        let (a, b) = tokio::io::duplex(4096);
        let mut server = tokio::io::BufReader::new(b);
        tokio::spawn(async move {
            server
                .get_mut()
                .write_all(b"220 mx ready\r\n250-mx\r\n250-SIZE 1000\r\n250 8BITMIME\r\n452 4.5.3 too many\r\n550-5.1.1 no\r\n550 5.1.1 such user\r\n")
                .await
                .unwrap();
            // Reads the EHLO, then hangs up.
            let mut ehlo = String::new();
            server.read_line(&mut ehlo).await.unwrap();
            assert_eq!(ehlo, "EHLO proxy.example\r\n");
        });
        let mut c = Client::connect(a, Dialect::Smtp, Duration::from_secs(2))
            .await
            .unwrap();
        c.hello("proxy.example").await.unwrap();
        assert_eq!(c.size_limit(), Some(1000));
        assert!(c.has("8BITMIME") && !c.has("PIPELINING"));
        let r = c.reply().await.unwrap();
        assert_eq!(
            (r.code, r.enhanced.as_deref(), r.lines[0].as_str()),
            (452, Some("4.5.3"), "too many")
        );
        let r = c.reply().await.unwrap();
        assert_eq!(
            (r.code, r.enhanced.as_deref(), r.lines.join(" ")),
            (550, Some("5.1.1"), "no such user".into())
        );
        assert!(matches!(c.reply().await, Err(ClientError::Closed)));
        assert_eq!(xtext("a+b=c d"), "a+2Bb+3Dc+20d");
    }
}
