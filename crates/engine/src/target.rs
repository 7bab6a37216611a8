//! Where mail goes: an IMAP server, or a Maildir on disk.
//!
//! Like sources, a Maildir destination is driven with the IMAP verbs the
//! engine already uses: CREATE, SUBSCRIBE, SELECT, FETCH of identities, and
//! one APPEND per message (written to `tmp/`, fsynced, renamed into `cur/`
//! with its flags and INTERNALDATE as mtime, so Dovecot serves it as is).
//! It reports no APPENDUID, so delta passes do not carry flag changes to a
//! Maildir (new messages are copied; verify compares flags).

use std::path::PathBuf;

use mailport_imap::date::parse_internal_date;
use mailport_imap::{AppendUid, Error, MailboxStatus, MessageMeta};
use mailport_mailstore::{Delivery, Layout, Maildir};

use crate::origin::{Local, Source};
use crate::plan::Listing;
use crate::session::{Connector, ImapSession, SessionError};

/// A destination as given by the user.
#[derive(Clone)]
pub enum Destination {
    Imap(Connector),
    Maildir { root: PathBuf, layout: Layout },
}

impl From<Connector> for Destination {
    fn from(c: Connector) -> Self {
        Destination::Imap(c)
    }
}

impl Destination {
    pub async fn open(&self) -> Result<Target, SessionError> {
        match self {
            Destination::Imap(c) => Ok(Target::Imap(c.open().await?)),
            Destination::Maildir { root, layout } => {
                let m = Maildir::create(root, *layout)
                    .await
                    .map_err(|e| SessionError::Unusable(e.to_string()))?;
                let reader = Local::maildir(m.clone()).await?;
                Ok(Target::Maildir(Box::new(MaildirTarget {
                    maildir: m,
                    reader,
                    folder: None,
                    delivery: None,
                })))
            }
        }
    }

    pub fn imap(&self) -> Option<&Connector> {
        match self {
            Destination::Imap(c) => Some(c),
            Destination::Maildir { .. } => None,
        }
    }

    pub fn imap_mut(&mut self) -> Option<&mut Connector> {
        match self {
            Destination::Imap(c) => Some(c),
            Destination::Maildir { .. } => None,
        }
    }
}

impl std::fmt::Display for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Destination::Imap(c) => write!(f, "{}", c.config.endpoint),
            Destination::Maildir { root, .. } => {
                let abs = std::path::absolute(root).unwrap_or_else(|_| root.clone());
                write!(f, "maildir:{}", abs.display())
            }
        }
    }
}

/// An open destination.
#[allow(clippy::large_enum_variant)]
pub enum Target {
    Imap(ImapSession),
    Maildir(Box<MaildirTarget>),
}

pub struct MaildirTarget {
    maildir: Maildir,
    /// Reads what is there (identities, verify) the way a source is read.
    reader: Local,
    /// The folder of the open APPEND.
    folder: Option<String>,
    delivery: Option<Delivery>,
}

fn io(e: mailport_mailstore::Error) -> Error {
    Error::Io(std::io::Error::other(e.to_string()))
}

/// Refusals the destination gives for one message or folder (not breaking).
fn refusal(command: &str, e: mailport_mailstore::Error) -> Error {
    Error::No {
        command: command.into(),
        code: None,
        text: e.to_string(),
    }
}

impl Target {
    pub fn has_capability(&self, name: &str) -> bool {
        match self {
            Target::Imap(s) => s.has_capability(name),
            Target::Maildir(_) => false,
        }
    }

    pub fn capabilities(&self) -> &[String] {
        match self {
            Target::Imap(s) => s.capabilities(),
            Target::Maildir(_) => &[],
        }
    }

    pub async fn enable(&mut self, what: &str) -> Result<Vec<String>, Error> {
        match self {
            Target::Imap(s) => s.enable(what).await,
            Target::Maildir(_) => Ok(Vec::new()),
        }
    }

    pub async fn listing(&mut self, utf8: bool) -> Result<Listing, Error> {
        match self {
            Target::Imap(s) => crate::copy::listing(s, utf8).await,
            Target::Maildir(m) => Ok(m.reader.listing()),
        }
    }

    pub async fn create(&mut self, wire: &[u8]) -> Result<(), Error> {
        match self {
            Target::Imap(s) => s.create(wire).await,
            Target::Maildir(m) => m
                .maildir
                .create_folder(&String::from_utf8_lossy(wire))
                .await
                .map_err(|e| refusal("CREATE", e)),
        }
    }

    pub async fn subscribe(&mut self, wire: &[u8]) -> Result<(), Error> {
        match self {
            Target::Imap(s) => s.subscribe(wire).await,
            Target::Maildir(m) => m
                .maildir
                .subscribe(&String::from_utf8_lossy(wire))
                .await
                .map_err(|e| refusal("SUBSCRIBE", e)),
        }
    }

    pub async fn select(&mut self, wire: &[u8], read_only: bool) -> Result<MailboxStatus, Error> {
        match self {
            Target::Imap(s) => s.select(wire, read_only).await,
            Target::Maildir(m) => m.reader.select(wire).await,
        }
    }

    pub async fn fetch_meta(
        &mut self,
        set: &str,
        headers: &[&str],
    ) -> Result<Vec<MessageMeta>, Error> {
        match self {
            Target::Imap(s) => s.fetch_meta(set, headers).await,
            Target::Maildir(m) => m.reader.fetch_meta(set, !headers.is_empty()).await,
        }
    }

    pub async fn command(&mut self, cmd: &[u8]) -> Result<(), Error> {
        match self {
            Target::Imap(s) => s.command(cmd).await.map(|_| ()),
            Target::Maildir(_) if cmd == b"NOOP" => Ok(()),
            Target::Maildir(_) => Err(Error::Usage(format!(
                "{} is not available on a Maildir",
                String::from_utf8_lossy(cmd)
            ))),
        }
    }

    pub async fn append_start(&mut self, wire: &[u8]) -> Result<(), Error> {
        match self {
            Target::Imap(s) => s.append_start(wire).await,
            Target::Maildir(m) => {
                m.folder = Some(String::from_utf8_lossy(wire).into_owned());
                Ok(())
            }
        }
    }

    pub async fn append_message(
        &mut self,
        flags: &[String],
        internal_date: Option<&str>,
        len: u64,
    ) -> Result<(), Error> {
        match self {
            Target::Imap(s) => s.append_message(flags, internal_date, len).await,
            Target::Maildir(m) => {
                let folder = m
                    .folder
                    .clone()
                    .ok_or_else(|| Error::Usage("no APPEND open".into()))?;
                let date = internal_date
                    .and_then(parse_internal_date)
                    .unwrap_or_else(now);
                let d = m
                    .maildir
                    .deliver(&folder, flags, date)
                    .await
                    .map_err(|e| refusal("APPEND", e))?;
                m.delivery = Some(d);
                Ok(())
            }
        }
    }

    pub async fn append_write(&mut self, data: &[u8]) -> Result<(), Error> {
        match self {
            Target::Imap(s) => s.append_write(data).await,
            Target::Maildir(m) => match &mut m.delivery {
                Some(d) => d.write(data).await.map_err(io),
                None => Err(Error::Usage("no message open".into())),
            },
        }
    }

    pub async fn append_finish(&mut self) -> Result<Option<AppendUid>, Error> {
        match self {
            Target::Imap(s) => s.append_finish().await,
            Target::Maildir(m) => {
                m.folder = None;
                match m.delivery.take() {
                    Some(d) => d.finish().await.map(|_| None).map_err(io),
                    None => Ok(None),
                }
            }
        }
    }

    pub async fn logout(&mut self) -> Result<(), Error> {
        match self {
            Target::Imap(s) => s.logout().await,
            Target::Maildir(_) => Ok(()),
        }
    }

    /// The destination read like a source (verify reads both sides alike).
    pub(crate) fn into_source(self) -> Source {
        match self {
            Target::Imap(s) => Source::Imap(s),
            Target::Maildir(m) => Source::Local(Box::new(m.reader)),
        }
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
