//! A POP3 mailbox read like one IMAP folder, INBOX (POP3 sees nothing else).
//!
//! - Message keys are UIDLs; without UIDL, a hash of the message's header
//!   (TOP n 0). Like Maildir and mbox, UIDs are positions and UIDVALIDITY a
//!   hash of the keys, so the ledger never confuses two messages.
//! - INTERNALDATE is the date of the newest `Received:` header, else `Date:`.
//! - POP3 has no flags: messages arrive unflagged.
//! - LIST sizes are what servers say, not always the bytes RETR sends (some
//!   count LF line ends): each body is spooled to a temporary file first, so
//!   the APPEND announces exactly what follows.
//! - Nothing is ever deleted on the server.

use std::collections::VecDeque;
use std::io::SeekFrom;

use mailport_imap::{BodyStart, MailboxStatus};
use mailport_mail::date::format_internal_date;
use mailport_mail::MessageMeta;
use mailport_net::{connect_tcp, MaybeTls, Scheme};
use mailport_pop3::{Client, ClientConfig};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

use crate::connector::Connector;
use crate::error::MailboxError;
use crate::error::SessionError;
use crate::ledger::Ledger;
use crate::login::{AuthMech, Credentials};
use crate::numbering::Numbering;

pub struct Pop3Source {
    client: Client<MaybeTls>,
    /// In UID order.
    messages: Vec<PopMessage>,
    numbering: Option<Numbering>,
    /// Where stable UIDs are kept, when there is a state file.
    pub(crate) ids: Option<Ledger>,
    /// UIDs whose RETR was sent, in order.
    queue: VecDeque<u32>,
    spool: Option<tokio::fs::File>,
}

struct PopMessage {
    msgno: u32,
    key: String,
    size: u64,
    internal_date: i64,
    header: Vec<u8>,
}

/// Connects, logs in and reads nothing yet.
pub(crate) async fn open(c: &Connector) -> Result<Pop3Source, SessionError> {
    Ok(Pop3Source {
        client: log_in(c, None).await?,
        messages: Vec::new(),
        numbering: None,
        ids: None,
        queue: VecDeque::new(),
        spool: None,
    })
}

/// Connects (TLS, or STLS unless plain text is allowed) and logs in.
/// `on_behalf_of`: the client a proxy logs in for, told to a server that
/// trusts the proxy (Dovecot's XCLIENT) before the login.
pub(crate) async fn log_in(
    c: &Connector,
    on_behalf_of: Option<std::net::SocketAddr>,
) -> Result<Client<MaybeTls>, SessionError> {
    let cfg = &c.config;
    let ep = &cfg.endpoint;
    let fail = |e: mailport_pop3::Error| {
        if e.is_auth() {
            SessionError::Auth {
                user: ep.user.clone(),
                host: ep.host.clone(),
                reason: e.to_string(),
            }
        } else {
            SessionError::Pop3 {
                host: ep.host.clone(),
                source: e,
            }
        }
    };
    let config = ClientConfig {
        timeout: cfg.timeout,
        ..Default::default()
    };
    let tcp = connect_tcp(&ep.host, ep.port, cfg.timeout).await?;
    let mut client = if ep.scheme == Scheme::Pop3s {
        let tls = c.tls().wrap(&ep.host, tcp, cfg.timeout).await?;
        Client::connect(tls, config).await.map_err(fail)?
    } else {
        let mut plain = Client::connect(MaybeTls::Plain(tcp), config.clone())
            .await
            .map_err(fail)?;
        let _ = plain.capa().await;
        if cfg.starttls(plain.has_capability("STLS"))? {
            plain.stls().await.map_err(fail)?;
            let greeting = plain.greeting().to_string();
            let MaybeTls::Plain(tcp) = plain.into_inner() else {
                unreachable!("pop3:// starts in plain text")
            };
            let tls = c.tls().wrap(&ep.host, tcp, cfg.timeout).await?;
            let mut client = Client::resume(tls, config);
            client.set_greeting(greeting);
            client
        } else {
            plain
        }
    };
    let _ = client.capa().await;
    if let Some(addr) = on_behalf_of {
        let (ip, port) = (addr.ip().to_string(), addr.port().to_string());
        client
            .xclient(&[("ADDR", &ip), ("PORT", &port)])
            .await
            .map_err(fail)?;
    }
    let user = ep.user.as_str();
    match &cfg.credentials {
        Credentials::Password(p) => {
            let pw = p.expose().as_bytes();
            match cfg.auth_mech {
                None | Some(AuthMech::Login) => client.user_pass(user, pw).await,
                Some(AuthMech::Apop) => client.apop(user, pw).await,
                Some(AuthMech::Plain) => client.auth_plain("", user, pw).await,
                Some(m) => {
                    return Err(SessionError::Unusable(format!(
                        "{} needs an access token, not a password",
                        m.name()
                    )))
                }
            }
        }
        Credentials::Admin {
            login,
            password,
            style,
        } => match style.login_name(user, login) {
            Ok(None) => {
                client
                    .auth_plain(user, login, password.expose().as_bytes())
                    .await
            }
            Ok(Some(name)) => client.user_pass(&name, password.expose().as_bytes()).await,
            Err(e) => return Err(SessionError::Unusable(e)),
        },
        Credentials::Token(source) => {
            let mech = match cfg.auth_mech {
                Some(AuthMech::XOAuth2) => "XOAUTH2",
                Some(AuthMech::OAuthBearer) => "OAUTHBEARER",
                _ if client.sasl_mechanisms().contains(&"OAUTHBEARER") => "OAUTHBEARER",
                _ => "XOAUTH2",
            };
            let token = source.get(false).await.map_err(SessionError::Unusable)?;
            let first = token_auth(&mut client, mech, ep, &token).await;
            match first {
                Err(e) if e.is_auth() && source.can_refresh() => {
                    // Expired, most likely: ask for a new one once.
                    let token = source.get(true).await.map_err(SessionError::Unusable)?;
                    token_auth(&mut client, mech, ep, &token).await
                }
                other => other,
            }
        }
    }
    .map_err(fail)?;
    Ok(client)
}

/// AUTH XOAUTH2 or OAUTHBEARER with `token`; the SASL bytes are IMAP's.
async fn token_auth(
    client: &mut Client<MaybeTls>,
    mech: &str,
    ep: &mailport_net::Endpoint,
    token: &crate::login::Secret,
) -> Result<(), mailport_pop3::Error> {
    let sasl = if mech == "OAUTHBEARER" {
        mailport_imap::Sasl::OAuthBearer {
            user: &ep.user,
            host: &ep.host,
            port: ep.port,
            token: token.expose(),
        }
    } else {
        mailport_imap::Sasl::XOAuth2 {
            user: &ep.user,
            token: token.expose(),
        }
    };
    client.auth(mech, Some(&sasl.initial_response())).await
}

impl Pop3Source {
    /// POP3 shows one mailbox; any name opens it.
    pub(crate) async fn select(&mut self) -> Result<MailboxStatus, MailboxError> {
        let list = self.client.list().await.map_err(MailboxError::Pop3)?;
        let uidl = self.client.uidl().await.map_err(MailboxError::Pop3)?;
        let mut messages = Vec::with_capacity(list.len());
        for (msgno, size) in list {
            let header = self
                .client
                .top(msgno, 0)
                .await
                .map_err(MailboxError::Pop3)?;
            let key = uidl
                .as_ref()
                .and_then(|u| u.iter().find(|(n, _)| *n == msgno))
                .map(|(_, k)| k.clone())
                .unwrap_or_else(|| {
                    let h = Sha256::digest(&header);
                    h.iter().take(8).map(|b| format!("{b:02x}")).collect()
                });
            messages.push(PopMessage {
                msgno,
                key,
                size,
                internal_date: received_date(&header).unwrap_or(0),
                header,
            });
        }
        let keys: Vec<String> = messages.iter().map(|m| m.key.clone()).collect();
        let (numbering, messages) =
            Numbering::assign(self.ids.as_ref(), "INBOX", &keys, messages, 1).await?;
        let status = numbering.status();
        self.messages = messages;
        self.numbering = Some(numbering);
        self.queue.clear();
        self.spool = None;
        Ok(status)
    }

    fn numbering(&self) -> Result<&Numbering, MailboxError> {
        self.numbering
            .as_ref()
            .ok_or_else(|| MailboxError::Internal("no folder selected".into()))
    }

    fn uids(&self, set: &str) -> Result<Vec<u32>, MailboxError> {
        self.numbering()?.select(set)
    }

    fn message(&self, uid: u32) -> Result<&PopMessage, MailboxError> {
        Ok(&self.messages[self.numbering()?.index(uid)?])
    }

    pub(crate) fn fetch_meta(
        &self,
        set: &str,
        headers: bool,
    ) -> Result<Vec<MessageMeta>, MailboxError> {
        self.uids(set)?
            .into_iter()
            .map(|uid| {
                let m = self.message(uid)?;
                Ok(MessageMeta {
                    seq: uid,
                    uid,
                    flags: Vec::new(),
                    internal_date: format_internal_date(m.internal_date),
                    size: m.size,
                    headers: headers.then(|| m.header.clone()),
                })
            })
            .collect()
    }

    /// All RETRs of the batch go out at once where the server offers
    /// PIPELINING (RFC 2449), one after another otherwise.
    pub(crate) async fn body_fetch_start(&mut self, set: &str) -> Result<(), MailboxError> {
        let uids = self.uids(set)?;
        let msgnos = uids
            .iter()
            .map(|&u| self.message(u).map(|m| m.msgno))
            .collect::<Result<Vec<u32>, MailboxError>>()?;
        self.queue.extend(uids);
        self.client
            .retr_start(&msgnos)
            .await
            .map_err(MailboxError::Pop3)
    }

    pub(crate) async fn body_next(&mut self) -> Result<Option<BodyStart>, MailboxError> {
        let Some(uid) = self.queue.pop_front() else {
            self.spool = None;
            // Past the last message: the client returns to idle.
            while self
                .client
                .retr_next()
                .await
                .map_err(MailboxError::Pop3)?
                .is_some()
            {}
            return Ok(None);
        };
        let msgno = self.message(uid)?.msgno;
        let started = self.client.retr_next().await.map_err(MailboxError::Pop3)?;
        if started != Some(msgno) {
            return Err(MailboxError::Pop3(mailport_pop3::Error::Malformed(
                format!("expected message {msgno} from the POP3 server, got {started:?}"),
            )));
        }
        let mut spool = tokio::fs::File::from_std(tempfile::tempfile()?);
        let mut buf = vec![0u8; 64 << 10];
        let mut len = 0u64;
        loop {
            let n = self
                .client
                .retr_read(&mut buf)
                .await
                .map_err(MailboxError::Pop3)?;
            if n == 0 {
                break;
            }
            spool.write_all(&buf[..n]).await?;
            len += n as u64;
        }
        spool.flush().await?;
        spool.seek(SeekFrom::Start(0)).await?;
        self.spool = Some(spool);
        Ok(Some(BodyStart {
            seq: uid,
            uid: Some(uid),
            len,
        }))
    }

    pub(crate) async fn body_read(&mut self, buf: &mut [u8]) -> Result<usize, MailboxError> {
        match &mut self.spool {
            Some(f) => Ok(f.read(buf).await?),
            None => Ok(0),
        }
    }

    pub(crate) async fn noop(&mut self) -> Result<(), MailboxError> {
        self.client.noop().await.map_err(MailboxError::Pop3)
    }

    /// DELE of these UIDs, committed by QUIT (RFC 1939: deletions take
    /// effect only when the session ends in the UPDATE state).
    pub(crate) async fn delete(&mut self, uids: &[u32]) -> Result<u64, MailboxError> {
        let mut n = 0;
        for &uid in uids {
            if let Ok(m) = self.message(uid) {
                self.client
                    .dele(m.msgno)
                    .await
                    .map_err(MailboxError::Pop3)?;
                n += 1;
            }
        }
        self.client.quit().await.map_err(MailboxError::Pop3)?;
        Ok(n)
    }

    /// QUIT without DELE: the server keeps every message.
    pub(crate) async fn logout(&mut self) -> Result<(), MailboxError> {
        self.client.quit().await.map_err(MailboxError::Pop3)
    }
}

/// The date of the newest (topmost) `Received:` header, else of `Date:`.
fn received_date(header: &[u8]) -> Option<i64> {
    let text = String::from_utf8_lossy(header);
    let mut fields: Vec<(String, String)> = Vec::new();
    for line in text.split("\r\n").flat_map(|l| l.split('\n')) {
        if line.starts_with([' ', '\t']) {
            if let Some(last) = fields.last_mut() {
                last.1.push(' ');
                last.1.push_str(line.trim());
            }
        } else if let Some((name, value)) = line.split_once(':') {
            fields.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
    }
    let received = fields
        .iter()
        .find(|(n, _)| n == "received")
        .and_then(|(_, v)| v.rsplit_once(';'))
        .and_then(|(_, d)| parse_rfc5322_date(d));
    received.or_else(|| {
        fields
            .iter()
            .find(|(n, _)| n == "date")
            .and_then(|(_, v)| parse_rfc5322_date(v))
    })
}

/// `[Day,] D Mon YYYY HH:MM[:SS] (+|-)HHMM` (RFC 5322 3.3; obsolete zone
/// names count as UTC). Comments after the zone are ignored.
fn parse_rfc5322_date(s: &str) -> Option<i64> {
    const MONTHS: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    let s = s.split_once(',').map_or(s, |(_, rest)| rest);
    let mut parts = s.split_whitespace();
    let day: u32 = parts.next()?.parse().ok()?;
    let month = parts.next()?.to_ascii_lowercase();
    let month = MONTHS.iter().position(|m| month.starts_with(m))? as u32 + 1;
    let mut year: i64 = parts.next()?.parse().ok()?;
    if year < 100 {
        year += if year < 50 { 2000 } else { 1900 };
    }
    let mut hms = parts.next()?.split(':');
    let h: i64 = hms.next()?.parse().ok()?;
    let m: i64 = hms.next()?.parse().ok()?;
    let sec: i64 = hms.next().map_or(Some(0), |x| x.parse().ok())?;
    let zone = parts.next().unwrap_or("+0000");
    let offset = match zone.as_bytes().first() {
        Some(b'+' | b'-') if zone.len() >= 5 => {
            let v: i64 = zone[1..5].parse().ok()?;
            let mins = v / 100 * 60 + v % 100;
            if zone.starts_with('-') {
                -mins
            } else {
                mins
            }
        }
        _ => 0,
    };
    let days = mailport_mail::date::days_from_civil(year, month, day);
    Some(days * 86_400 + h * 3600 + m * 60 + sec - offset * 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internaldate_from_the_newest_received_header_else_date() {
        let h = b"Received: from b by c; Tue, 2 Jan 2024 10:00:00 +0100\r\nReceived: from a by b;\r\n Mon, 1 Jan 2024 09:00:00 +0000\r\nDate: Sun, 31 Dec 2023 08:00:00 -0500\r\n\r\n";
        assert_eq!(
            received_date(h),
            parse_rfc5322_date("2 Jan 2024 09:00:00 +0000")
        );
        let h = b"Date: Sun, 31 Dec 2023 08:00:00 -0500 (EST)\r\n\r\n";
        assert_eq!(
            received_date(h),
            Some(mailport_mail::date::parse_internal_date("31-Dec-2023 13:00:00 +0000").unwrap())
        );
        assert_eq!(received_date(b"Subject: none\r\n\r\n"), None);
        assert_eq!(parse_rfc5322_date("1 Jan 70 00:00 GMT"), Some(0));
    }
}
