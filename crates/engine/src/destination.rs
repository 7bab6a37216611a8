//! Where mail goes: an IMAP server, or a Maildir on disk.
//!
//! Like sources, a Maildir destination is driven with the IMAP verbs the
//! engine already uses: CREATE, SUBSCRIBE, SELECT, FETCH of identities, and
//! one APPEND per message (written to `tmp/`, fsynced, renamed into `cur/`
//! with its flags and INTERNALDATE as mtime, so Dovecot serves it as is).
//! With a state file its messages get stable UIDs (per file name), reported
//! like APPENDUID, so delta passes carry flag changes and deletions to it.

use std::path::PathBuf;

use mailport_imap::{AppendUid, BodyStart, MailboxStatus};
use mailport_mail::date::{now, parse_internal_date};
use mailport_mail::MessageMeta;
use mailport_mailstore::{Delivery, Layout, Maildir};

use crate::connector::{Connector, ImapSession};
use crate::error::MailboxError;
use crate::error::SessionError;
use crate::flags::{self, FlagChange};
use crate::ledger::Ledger;
use crate::plan::Listing;
use crate::source::{local_name, BodyReader, Local, SourceSession};

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
    pub async fn open(&self) -> Result<DestinationSession, SessionError> {
        self.open_for(None).await
    }

    /// With a ledger, a Maildir's messages get stable UIDs (kept per file
    /// name, under the pair's name marked as the destination's), so delta
    /// passes can carry flag changes and deletions to them.
    pub async fn open_for(&self, ids: Option<&Ledger>) -> Result<DestinationSession, SessionError> {
        self.open_with(ids, true).await
    }

    /// Opened to be read only (verify): a Maildir that is not there is an
    /// error, not created.
    pub async fn open_to_read(&self) -> Result<DestinationSession, SessionError> {
        self.open_with(None, false).await
    }

    async fn open_with(
        &self,
        ids: Option<&Ledger>,
        create: bool,
    ) -> Result<DestinationSession, SessionError> {
        match self {
            Destination::Imap(c) => Ok(DestinationSession::Imap(c.open().await?)),
            Destination::Maildir { root, layout } => {
                let m = match create {
                    true => Maildir::create(root, *layout).await,
                    false => Maildir::open(root, *layout).await,
                }
                .map_err(SessionError::Local)?;
                let mut reader = Local::maildir(m.clone()).await?;
                reader.set_ids(ids.map(|l| Ledger {
                    store: l.store.clone(),
                    pair: format!("{}{}", l.pair, mailport_store::DESTINATION_SUFFIX),
                }));
                Ok(DestinationSession::Maildir(Box::new(MaildirDestination {
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
            Destination::Maildir { root, .. } => f.write_str(&local_name("maildir", root)),
        }
    }
}

/// An open destination.
#[allow(clippy::large_enum_variant)]
pub enum DestinationSession {
    Imap(ImapSession),
    Maildir(Box<MaildirDestination>),
}

pub struct MaildirDestination {
    maildir: Maildir,
    /// Reads what is there (identities, verify) the way a source is read.
    reader: Local,
    /// The folder of the open APPEND.
    folder: Option<String>,
    delivery: Option<Delivery>,
}

impl DestinationSession {
    pub fn has_capability(&self, name: &str) -> bool {
        match self {
            DestinationSession::Imap(s) => s.has_capability(name),
            // Deleting by UID is what UIDPLUS gives IMAP.
            DestinationSession::Maildir(_) => name.eq_ignore_ascii_case("UIDPLUS"),
        }
    }

    /// Sets the flags of these messages of the selected folder.
    pub async fn change_flags(&mut self, changes: &[FlagChange]) -> Result<(), MailboxError> {
        match self {
            DestinationSession::Imap(s) => {
                for (adding, flags, uids) in flags::flag_groups(changes) {
                    s.uid_store_flags(&uids, adding, &flags).await?;
                }
                Ok(())
            }
            // A file name holds the whole flag set: the source's is given
            // (reading the current one back would need the keywords file).
            DestinationSession::Maildir(m) => {
                for c in changes {
                    let (folder, key) = m.reader.maildir_key(c.uid)?;
                    m.maildir
                        .set_flags(&folder, &key, &c.after)
                        .await
                        .map_err(MailboxError::Local)?;
                }
                Ok(())
            }
        }
    }

    /// Removes these messages of the selected folder (only these).
    pub async fn expunge_uids(&mut self, uids: &[u32]) -> Result<(), MailboxError> {
        match self {
            DestinationSession::Imap(s) => Ok(s.uid_expunge(uids).await?),
            DestinationSession::Maildir(m) => {
                for &uid in uids {
                    // A file already gone (its user deleted it there too)
                    // needs no deleting, as UID EXPUNGE ignores such UIDs.
                    let Ok((folder, key)) = m.reader.maildir_key(uid) else {
                        continue;
                    };
                    m.maildir
                        .delete(&folder, &key)
                        .await
                        .map_err(MailboxError::Local)?;
                }
                Ok(())
            }
        }
    }

    pub fn capabilities(&self) -> &[String] {
        match self {
            DestinationSession::Imap(s) => s.capabilities(),
            DestinationSession::Maildir(_) => &[],
        }
    }

    pub async fn enable(&mut self, what: &str) -> Result<Vec<String>, MailboxError> {
        match self {
            DestinationSession::Imap(s) => Ok(s.enable(what).await?),
            DestinationSession::Maildir(_) => Ok(Vec::new()),
        }
    }

    pub async fn listing(&mut self, utf8: bool) -> Result<Listing, MailboxError> {
        match self {
            DestinationSession::Imap(s) => Ok(crate::plan::read_listing(s, utf8).await?),
            DestinationSession::Maildir(m) => Ok(m.reader.listing()),
        }
    }

    pub async fn create(&mut self, wire: &[u8]) -> Result<(), MailboxError> {
        match self {
            DestinationSession::Imap(s) => Ok(s.create(wire).await?),
            DestinationSession::Maildir(m) => m
                .maildir
                .create_folder(&String::from_utf8_lossy(wire))
                .await
                .map_err(MailboxError::Local),
        }
    }

    pub async fn subscribe(&mut self, wire: &[u8]) -> Result<(), MailboxError> {
        match self {
            DestinationSession::Imap(s) => Ok(s.subscribe(wire).await?),
            DestinationSession::Maildir(m) => m
                .maildir
                .subscribe(&String::from_utf8_lossy(wire))
                .await
                .map_err(MailboxError::Local),
        }
    }

    /// Opens a folder read-write (SELECT), always: Courier-IMAP refuses an
    /// APPEND into a folder that the same connection has EXAMINEd ("Current
    /// box is selected READ-ONLY"), and the destination is appended to.
    /// Nothing here expunges on leaving a folder (no CLOSE is ever sent).
    pub async fn select(&mut self, wire: &[u8]) -> Result<MailboxStatus, MailboxError> {
        match self {
            DestinationSession::Imap(s) => Ok(s.select(wire, false).await?),
            DestinationSession::Maildir(m) => m.reader.select(wire).await,
        }
    }

    pub async fn fetch_meta(
        &mut self,
        set: &str,
        headers: &[&str],
    ) -> Result<Vec<MessageMeta>, MailboxError> {
        match self {
            DestinationSession::Imap(s) => Ok(s.fetch_meta(set, headers).await?),
            DestinationSession::Maildir(m) => m.reader.fetch_meta(set, !headers.is_empty()).await,
        }
    }

    pub async fn noop(&mut self) -> Result<(), MailboxError> {
        match self {
            DestinationSession::Imap(s) => Ok(s.noop().await?),
            DestinationSession::Maildir(_) => Ok(()),
        }
    }

    pub async fn append_start(&mut self, wire: &[u8]) -> Result<(), MailboxError> {
        match self {
            DestinationSession::Imap(s) => Ok(s.append_start(wire).await?),
            DestinationSession::Maildir(m) => {
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
    ) -> Result<(), MailboxError> {
        match self {
            DestinationSession::Imap(s) => Ok(s.append_message(flags, internal_date, len).await?),
            DestinationSession::Maildir(m) => {
                let folder = m
                    .folder
                    .clone()
                    .ok_or_else(|| MailboxError::Internal("no APPEND open".into()))?;
                let date = internal_date
                    .and_then(parse_internal_date)
                    .unwrap_or_else(now);
                let d = m
                    .maildir
                    .deliver(&folder, flags, date)
                    .await
                    .map_err(MailboxError::Local)?;
                m.delivery = Some(d);
                Ok(())
            }
        }
    }

    pub async fn append_write(&mut self, data: &[u8]) -> Result<(), MailboxError> {
        match self {
            DestinationSession::Imap(s) => Ok(s.append_write(data).await?),
            // A Maildir that cannot be written (a full disk, a quota)
            // refuses this message; the half-written file is removed.
            DestinationSession::Maildir(m) => match &mut m.delivery {
                Some(d) => match d.write(data).await {
                    Ok(()) => Ok(()),
                    Err(e) => {
                        m.delivery = None;
                        Err(MailboxError::Local(e))
                    }
                },
                None => Err(MailboxError::Internal("no message open".into())),
            },
        }
    }

    pub async fn append_finish(&mut self) -> Result<Option<AppendUid>, MailboxError> {
        match self {
            DestinationSession::Imap(s) => Ok(s.append_finish().await?),
            DestinationSession::Maildir(m) => {
                let folder = m.folder.take().unwrap_or_default();
                let Some(d) = m.delivery.take() else {
                    return Ok(None);
                };
                let key = d.finish().await.map_err(MailboxError::Local)?;
                // Like APPENDUID (RFC 4315), when UIDs are kept.
                Ok(m.reader
                    .uid_for_new(&folder, &key)
                    .await
                    .map(|(uidvalidity, uid)| AppendUid {
                        uidvalidity,
                        uids: vec![uid],
                    }))
            }
        }
    }

    pub async fn logout(&mut self) -> Result<(), MailboxError> {
        match self {
            DestinationSession::Imap(s) => Ok(s.logout().await?),
            DestinationSession::Maildir(_) => Ok(()),
        }
    }

    /// The destination read like a source (verify reads both sides alike).
    pub(crate) fn into_source(self) -> SourceSession {
        match self {
            DestinationSession::Imap(s) => SourceSession::Imap(s),
            DestinationSession::Maildir(m) => SourceSession::Local(Box::new(m.reader)),
        }
    }
}

/// A destination read back, to compare a copy with its source.
impl BodyReader for DestinationSession {
    async fn start(&mut self, set: &str) -> Result<(), MailboxError> {
        match self {
            DestinationSession::Imap(s) => Ok(s.body_fetch_start(set).await?),
            DestinationSession::Maildir(m) => m.reader.body_fetch_start(set),
        }
    }
    async fn next(&mut self) -> Result<Option<BodyStart>, MailboxError> {
        match self {
            DestinationSession::Imap(s) => Ok(s.body_next().await?),
            DestinationSession::Maildir(m) => m.reader.body_next().await,
        }
    }
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, MailboxError> {
        match self {
            DestinationSession::Imap(s) => Ok(s.body_read(buf).await?),
            DestinationSession::Maildir(m) => m.reader.body_read(buf).await,
        }
    }
}
