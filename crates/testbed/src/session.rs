//! Loading a corpus into a server and reading a mailbox back, over IMAP on
//! loopback (plaintext LOGIN is allowed on the private instances).

use std::collections::BTreeMap;

use mailport_imap::{Client, ClientConfig, Error};
use mailport_mail::utf7;
use sha2::{Digest, Sha256};
use tokio::net::TcpStream;

use crate::corpus::Corpus;

pub type Session = Client<TcpStream>;

/// Connects to `127.0.0.1:port` without TLS and logs in.
pub async fn login(port: u16, user: &str, password: &str) -> Result<Session, Error> {
    let tcp = TcpStream::connect(("127.0.0.1", port)).await?;
    let (mut c, _) = Client::connect(tcp, ClientConfig::default()).await?;
    c.login(user, password.as_bytes()).await?;
    Ok(c)
}

/// Connects to the server's IMAPS port (TLS verified against its test CA) and logs in.
pub async fn login_tls(
    d: &dyn crate::ImapServer,
    user: &str,
) -> Result<Client<mailport_net::MaybeTls>, Error> {
    login_tls_at(d.imaps_port(), d.ca_pem(), user, d.password(user)).await
}

/// Connects to `localhost:port` over TLS (verified against `ca`) and logs in.
pub async fn login_tls_at(
    port: u16,
    ca: &std::path::Path,
    user: &str,
    password: &str,
) -> Result<Client<mailport_net::MaybeTls>, Error> {
    let tls = mailport_net::TlsConnector::new(&mailport_net::TlsOptions {
        ca_file: Some(ca.to_path_buf()),
        ..Default::default()
    })
    .map_err(|e| Error::Usage(e.to_string()))?;
    let timeout = std::time::Duration::from_secs(120);
    let tcp = mailport_net::connect_tcp("localhost", port, timeout)
        .await
        .map_err(|e| Error::Usage(e.to_string()))?;
    let stream = tls
        .wrap("localhost", tcp, timeout)
        .await
        .map_err(|e| Error::Usage(e.to_string()))?;
    let (mut c, _) = Client::connect(stream, ClientConfig::default()).await?;
    c.login(user, password.as_bytes()).await?;
    Ok(c)
}

/// The server's personal namespace prefix and delimiter.
pub async fn namespace(c: &mut Session) -> Result<(String, char), Error> {
    let ns = c.personal_namespace().await?;
    Ok(match ns {
        Some(ns) => (
            String::from_utf8_lossy(&ns.prefix).into_owned(),
            ns.delimiter.unwrap_or(b'/') as char,
        ),
        None => (String::new(), '/'),
    })
}

/// The wire name of a logical `/`-separated name on this server.
pub fn wire_name(logical: &str, prefix: &str, delimiter: char) -> String {
    if logical.eq_ignore_ascii_case("INBOX") {
        return "INBOX".into();
    }
    let parts: Vec<String> = logical.split('/').map(utf7::encode).collect();
    format!("{prefix}{}", parts.join(&delimiter.to_string()))
}

/// Appends every folder and message of `corpus` and subscribes as it says.
pub async fn load(c: &mut Session, corpus: &Corpus) -> Result<(), Error> {
    let (prefix, delim) = namespace(c).await?;
    for folder in &corpus.folders {
        let name = wire_name(&folder.name, &prefix, delim);
        if name != "INBOX" {
            match c.create(name.as_bytes()).await {
                Ok(()) => {}
                Err(Error::No {
                    code: Some(code), ..
                }) if code == "ALREADYEXISTS" => {}
                Err(e) => return Err(e),
            }
        }
        if folder.subscribed {
            c.subscribe(name.as_bytes()).await?;
        }
        for m in &folder.messages {
            c.append_start(name.as_bytes()).await?;
            c.append_message(&m.flags, Some(&m.internal_date), m.raw.len() as u64)
                .await?;
            c.append_write(&m.raw).await?;
            c.append_finish().await?;
        }
    }
    Ok(())
}

/// What a test compares of one message.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct MessageSnapshot {
    pub sha256: String,
    /// Sorted, without `\Recent`.
    pub flags: Vec<String>,
    /// INTERNALDATE as Unix seconds (servers may change the zone, not the instant).
    pub internal_date: i64,
    pub size: u64,
}

/// A whole account as seen over IMAP, keyed by logical folder name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Folder -> messages in UID order.
    pub folders: BTreeMap<String, Vec<MessageSnapshot>>,
    /// Folders listed `\Noselect` (or `\NonExistent`).
    pub noselect: Vec<String>,
    pub subscribed: Vec<String>,
}

impl Snapshot {
    /// How `dst` fails to hold every folder of `self` with the same messages
    /// (bytes, flags, date; counted), folders renamed by `mapping`. Empty when
    /// it holds them all exactly.
    pub fn differences(&self, dst: &Snapshot, mapping: &[(&str, &str)]) -> Vec<String> {
        let mut out = Vec::new();
        for (name, msgs) in &self.folders {
            let target = mapping
                .iter()
                .find(|(from, _)| from == name)
                .map_or(name.as_str(), |(_, to)| to);
            let Some(got) = dst.folders.get(target) else {
                out.push(format!("{name} -> {target}: missing on the destination"));
                continue;
            };
            let (mut a, mut b) = (msgs.clone(), got.clone());
            a.sort();
            b.sort();
            if a != b {
                out.push(format!("{name} -> {target}: {} messages on the source, {} on the destination, contents differ", a.len(), b.len()));
            }
        }
        out
    }
}

fn logical(wire: &[u8], prefix: &str, delim: char) -> String {
    let decoded = utf7::decode(wire).unwrap_or_else(|_| String::from_utf8_lossy(wire).into_owned());
    let stripped = decoded.strip_prefix(prefix).unwrap_or(&decoded);
    stripped.split(delim).collect::<Vec<_>>().join("/")
}

/// Reads every folder, message (hash, flags, date) and subscription.
pub async fn snapshot(c: &mut Session) -> Result<Snapshot, Error> {
    let (prefix, delim) = namespace(c).await?;
    let mut snap = Snapshot::default();
    for entry in c.list_all().await? {
        let name = logical(&entry.name, &prefix, delim);
        if entry.has_attribute("\\Noselect") || entry.has_attribute("\\NonExistent") {
            snap.noselect.push(name);
            continue;
        }
        c.select(&entry.name, true).await?;
        let metas = c.fetch_meta("1:*", &[]).await.or_else(|e| match e {
            // An empty mailbox: "1:*" names no message on some servers.
            Error::No { .. } | Error::Bad { .. } => Ok(Vec::new()),
            e => Err(e),
        })?;
        let mut bodies = BTreeMap::new();
        if !metas.is_empty() {
            c.body_fetch_start("1:*").await?;
            while let Some(b) = c.body_next().await? {
                let mut hasher = Sha256::new();
                let mut buf = vec![0u8; 64 << 10];
                loop {
                    let n = c.body_read(&mut buf).await?;
                    if n == 0 {
                        break;
                    }
                    hasher.update(&buf[..n]);
                }
                let uid = b
                    .uid
                    .or_else(|| metas.iter().find(|m| m.seq == b.seq).map(|m| m.uid));
                bodies.insert(uid.unwrap_or(0), hex(&hasher.finalize()));
            }
        }
        let msgs = metas
            .iter()
            .map(|m| {
                let mut flags: Vec<String> = m
                    .flags
                    .iter()
                    .filter(|f| !f.eq_ignore_ascii_case("\\Recent"))
                    .cloned()
                    .collect();
                flags.sort();
                MessageSnapshot {
                    sha256: bodies.get(&m.uid).cloned().unwrap_or_default(),
                    flags,
                    internal_date: mailport_mail::date::parse_internal_date(&m.internal_date)
                        .unwrap_or(i64::MIN),
                    size: m.size,
                }
            })
            .collect();
        snap.folders.insert(name, msgs);
    }
    for entry in c.lsub_all().await? {
        snap.subscribed.push(logical(&entry.name, &prefix, delim));
    }
    snap.subscribed.sort();
    snap.noselect.sort();
    Ok(snap)
}

/// How the mailbox of `user` on the server at `dst_port` differs from the
/// one at `src_port` (logged in with `password` on both): empty when it
/// holds every folder with the same messages, each once, in any order.
pub async fn mailbox_differences(
    src_port: u16,
    dst_port: u16,
    user: &str,
    password: &str,
) -> Result<Vec<String>, Error> {
    let a = snapshot(&mut login(src_port, user, password).await?).await?;
    let b = snapshot(&mut login(dst_port, user, password).await?).await?;
    Ok(a.differences(&b, &[]))
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The Message-ID of every message in `mailbox` (`<...>`, as written;
/// empty for a message without one), in UID order.
pub async fn message_ids(c: &mut Session, mailbox: &[u8]) -> Result<Vec<String>, Error> {
    if c.select(mailbox, true).await?.exists == 0 {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    c.body_fetch_start("1:*").await?;
    while c.body_next().await?.is_some() {
        let mut message = Vec::new();
        let mut buf = vec![0u8; 64 << 10];
        loop {
            let n = c.body_read(&mut buf).await?;
            if n == 0 {
                break;
            }
            message.extend_from_slice(&buf[..n]);
        }
        let text = String::from_utf8_lossy(&message);
        let header = text.split("\r\n\r\n").next().unwrap_or("");
        let id = header
            .lines()
            .find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("message-id")
                    .then(|| value.trim().to_string())
            })
            .unwrap_or_default();
        out.push(id);
    }
    Ok(out)
}
