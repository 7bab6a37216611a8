//! Where mail comes from: an IMAP server, or a Maildir or mbox on disk.
//!
//! The engine reads every source the way it reads IMAP — select a folder,
//! fetch metadata, stream bodies by UID — so copy, the ledger and verify
//! work unchanged for local stores. A local folder's UIDs are the positions
//! of its messages in the store's stable order, and its UIDVALIDITY is a
//! hash of all their keys: any change to the folder (a message added,
//! removed or renamed) gives a new UIDVALIDITY, so ledger entries can never
//! point at the wrong message, and the destination is consulted by identity
//! instead (as after an IMAP folder was rebuilt).

use std::collections::VecDeque;
use std::path::PathBuf;

use mailport_imap::{BodyStart, ListEntry, MailboxStatus};
use mailport_mail::date::format_internal_date;
use mailport_mail::MessageMeta;
use mailport_mailstore::{Layout, Maildir, Mbox, MessageStream};
use tokio::io::AsyncReadExt;

use crate::connector::{Connector, ImapSession};
use crate::error::SessionError;
use crate::error::{EngineError, MailboxError, Side};
use crate::hierarchy::Hierarchy;
use crate::ledger::Ledger;
use crate::numbering::Numbering;
use crate::plan::Listing;
use crate::pop3_source::Pop3Source;

/// A source as given by the user.
#[derive(Clone)]
pub enum Source {
    Imap(Connector),
    /// `pop3://` or `pop3s://`: INBOX only.
    Pop3(Connector),
    Maildir {
        root: PathBuf,
        layout: Layout,
    },
    /// One mbox file, or a directory tree of them.
    Mbox {
        path: PathBuf,
    },
}

impl From<Connector> for Source {
    fn from(c: Connector) -> Self {
        Source::Imap(c)
    }
}

impl Source {
    pub async fn open(&self) -> Result<SourceSession, SessionError> {
        self.open_for(None).await
    }

    /// Opens the source; with a ledger, local stores and POP3 get stable
    /// UIDs from it (else their UIDs hold for this session only).
    pub async fn open_for(&self, ids: Option<&Ledger>) -> Result<SourceSession, SessionError> {
        let with_ids = |mut l: Local| {
            l.ids = ids.cloned();
            SourceSession::local(l)
        };
        match self {
            Source::Imap(c) => Ok(SourceSession::Imap(c.open().await?)),
            Source::Pop3(c) => {
                let mut p = crate::pop3_source::open(c).await?;
                p.ids = ids.cloned();
                Ok(SourceSession::Pop3(Box::new(p)))
            }
            Source::Maildir { root, layout } => {
                let m = Maildir::open(root, *layout)
                    .await
                    .map_err(SessionError::Local)?;
                Local::new(Kind::Maildir(m)).await.map(with_ids)
            }
            Source::Mbox { path } => {
                let folders = mailport_mailstore::mbox::folders(path)
                    .await
                    .map_err(SessionError::Local)?;
                let paths = folders.into_iter().map(|f| (f.name, f.path)).collect();
                Local::new(Kind::Mbox(paths)).await.map(with_ids)
            }
        }
    }

    /// The server's connector (IMAP or POP3), for discovery and limits per host.
    pub fn server(&self) -> Option<&Connector> {
        match self {
            Source::Imap(c) | Source::Pop3(c) => Some(c),
            _ => None,
        }
    }

    pub fn server_mut(&mut self) -> Option<&mut Connector> {
        match self {
            Source::Imap(c) | Source::Pop3(c) => Some(c),
            _ => None,
        }
    }
}

/// The source as the ledger names it: the IMAP URL without credentials, or
/// the store's kind and absolute path.
impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Imap(c) | Source::Pop3(c) => write!(f, "{}", c.config.endpoint),
            Source::Maildir { root, .. } => f.write_str(&local_name("maildir", root)),
            Source::Mbox { path } => f.write_str(&local_name("mbox", path)),
        }
    }
}

/// Deletes from a POP3 source the messages `proven` (UIDVALIDITY, UID)
/// present on the destination; nothing when the mailbox changed since (its
/// UIDVALIDITY differs). Returns how many were deleted.
pub async fn delete_proven(origin: &Source, proven: &[(u32, u32)]) -> Result<u64, EngineError> {
    let side = Side::Source;
    let Source::Pop3(c) = origin else {
        return Ok(0);
    };
    let mut p = crate::pop3_source::open(c)
        .await
        .map_err(|source| EngineError::Session { side, source })?;
    let err = |e| crate::error::failed(side, "deleting verified messages")(e);
    let st = p.select().await.map_err(err)?;
    let uids: Vec<u32> = proven
        .iter()
        .filter(|(v, _)| *v == st.uidvalidity)
        .map(|(_, u)| *u)
        .collect();
    let n = p.delete(&uids).await.map_err(err)?;
    Ok(n)
}

/// An open source. (Few exist, each for a whole run: their size does not matter.)
#[allow(clippy::large_enum_variant)]
pub enum SourceSession {
    Imap(ImapSession),
    Pop3(Box<Pop3Source>),
    Local(Box<Local>),
}

impl SourceSession {
    fn local(l: Local) -> SourceSession {
        SourceSession::Local(Box::new(l))
    }

    pub fn has_capability(&self, name: &str) -> bool {
        match self {
            SourceSession::Imap(s) => s.has_capability(name),
            SourceSession::Pop3(_) | SourceSession::Local(_) => false,
        }
    }

    pub async fn enable(&mut self, what: &str) -> Result<Vec<String>, MailboxError> {
        match self {
            SourceSession::Imap(s) => Ok(s.enable(what).await?),
            SourceSession::Pop3(_) | SourceSession::Local(_) => Ok(Vec::new()),
        }
    }

    pub async fn listing(&mut self, utf8: bool) -> Result<Listing, MailboxError> {
        match self {
            SourceSession::Imap(s) => Ok(crate::plan::read_listing(s, utf8).await?),
            SourceSession::Pop3(_) => Ok(local_listing(&["INBOX".to_string()], &[])),
            SourceSession::Local(l) => Ok(l.listing()),
        }
    }

    pub async fn select(
        &mut self,
        wire: &[u8],
        read_only: bool,
    ) -> Result<MailboxStatus, MailboxError> {
        match self {
            SourceSession::Imap(s) => Ok(s.select(wire, read_only).await?),
            SourceSession::Pop3(p) => p.select().await,
            SourceSession::Local(l) => l.select(wire).await,
        }
    }

    pub async fn examine_condstore(&mut self, wire: &[u8]) -> Result<MailboxStatus, MailboxError> {
        match self {
            SourceSession::Imap(s) => Ok(s.examine_condstore(wire).await?),
            SourceSession::Pop3(p) => p.select().await,
            SourceSession::Local(l) => l.select(wire).await,
        }
    }

    pub async fn fetch_meta(
        &mut self,
        set: &str,
        headers: &[&str],
    ) -> Result<Vec<MessageMeta>, MailboxError> {
        match self {
            SourceSession::Imap(s) => Ok(s.fetch_meta(set, headers).await?),
            SourceSession::Pop3(p) => p.fetch_meta(set, !headers.is_empty()),
            SourceSession::Local(l) => l.fetch_meta(set, !headers.is_empty()).await,
        }
    }

    pub async fn body_fetch_start(&mut self, set: &str) -> Result<(), MailboxError> {
        match self {
            SourceSession::Imap(s) => Ok(s.body_fetch_start(set).await?),
            SourceSession::Pop3(p) => p.body_fetch_start(set).await,
            SourceSession::Local(l) => l.body_fetch_start(set),
        }
    }

    pub async fn body_next(&mut self) -> Result<Option<BodyStart>, MailboxError> {
        match self {
            SourceSession::Imap(s) => Ok(s.body_next().await?),
            SourceSession::Pop3(p) => p.body_next().await,
            SourceSession::Local(l) => l.body_next().await,
        }
    }

    pub async fn body_read(&mut self, buf: &mut [u8]) -> Result<usize, MailboxError> {
        match self {
            SourceSession::Imap(s) => Ok(s.body_read(buf).await?),
            SourceSession::Pop3(p) => p.body_read(buf).await,
            SourceSession::Local(l) => l.body_read(buf).await,
        }
    }

    pub async fn noop(&mut self) -> Result<(), MailboxError> {
        match self {
            SourceSession::Imap(s) => Ok(s.noop().await?),
            SourceSession::Pop3(p) => p.noop().await,
            SourceSession::Local(_) => Ok(()),
        }
    }

    pub async fn logout(&mut self) -> Result<(), MailboxError> {
        match self {
            SourceSession::Imap(s) => Ok(s.logout().await?),
            SourceSession::Pop3(p) => p.logout().await,
            SourceSession::Local(_) => Ok(()),
        }
    }
}

/// Reads whole messages one after the other: a source, or a destination
/// read back (verify, and copies compared with their source).
pub(crate) trait BodyReader {
    /// Starts reading the messages of a UID set.
    async fn start(&mut self, set: &str) -> Result<(), MailboxError>;
    /// The next message, `None` after the last.
    async fn next(&mut self) -> Result<Option<BodyStart>, MailboxError>;
    /// Bytes of the current message; 0 at its end.
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, MailboxError>;
}

impl BodyReader for SourceSession {
    async fn start(&mut self, set: &str) -> Result<(), MailboxError> {
        self.body_fetch_start(set).await
    }
    async fn next(&mut self) -> Result<Option<BodyStart>, MailboxError> {
        self.body_next().await
    }
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, MailboxError> {
        self.body_read(buf).await
    }
}

/// What a `Local` reads.
enum Kind {
    Maildir(Maildir),
    /// (folder name, mbox file).
    Mbox(Vec<(String, PathBuf)>),
}

/// A local store read like an IMAP mailbox.
pub struct Local {
    store: Kind,
    folders: Vec<String>,
    subscribed: Vec<String>,
    selected: Option<Selected>,
    /// UIDs asked for by `body_fetch_start`, not yet started.
    queue: VecDeque<u32>,
    body: Option<MessageStream>,
    /// Where stable UIDs are kept, when there is a state file.
    ids: Option<Ledger>,
}

struct Selected {
    folder: String,
    /// In UID order.
    messages: Vec<LocalMessage>,
    numbering: Numbering,
    /// The open mbox, whose index the messages point into.
    mbox: Option<Mbox>,
}

struct LocalMessage {
    size: u64,
    flags: Vec<String>,
    internal_date: i64,
    maildir: Option<mailport_mailstore::Message>,
    /// Position in the mbox's index.
    mbox_index: usize,
}

/// A local store as the ledger and messages name it: kind and absolute path.
pub(crate) fn local_name(kind: &str, path: &std::path::Path) -> String {
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    format!("{kind}:{}", abs.display())
}

impl Local {
    async fn new(store: Kind) -> Result<Local, SessionError> {
        let local = SessionError::Local;
        let (folders, subscribed) = match &store {
            Kind::Maildir(m) => {
                let folders = m.folders().await.map_err(local)?;
                let subscribed = folders
                    .iter()
                    .filter(|f| f.subscribed)
                    .map(|f| f.name.clone())
                    .collect();
                (folders.into_iter().map(|f| f.name).collect(), subscribed)
            }
            // An mbox has no subscriptions: every folder is subscribed,
            // as a mail client showing the files would show them all.
            Kind::Mbox(files) => {
                let names: Vec<String> = files.iter().map(|(n, _)| n.clone()).collect();
                (names.clone(), names)
            }
        };
        Ok(Local {
            store,
            folders,
            subscribed,
            selected: None,
            queue: VecDeque::new(),
            body: None,
            ids: None,
        })
    }

    /// A Maildir being written to, read like a source.
    pub(crate) async fn maildir(m: Maildir) -> Result<Local, SessionError> {
        Local::new(Kind::Maildir(m)).await
    }

    pub(crate) fn listing(&self) -> Listing {
        local_listing(&self.folders, &self.subscribed)
    }

    pub(crate) async fn select(&mut self, wire: &[u8]) -> Result<MailboxStatus, MailboxError> {
        let folder = String::from_utf8_lossy(wire).into_owned();
        let (messages, keys, mbox) = match &self.store {
            Kind::Maildir(m) => {
                let list = m.messages(&folder).await.map_err(MailboxError::Local)?;
                let keys: Vec<String> = list.iter().map(|x| x.key.clone()).collect();
                let messages: Vec<LocalMessage> = list
                    .into_iter()
                    .map(|x| LocalMessage {
                        size: x.size,
                        flags: x.flags.clone(),
                        internal_date: x.internal_date,
                        maildir: Some(x),
                        mbox_index: 0,
                    })
                    .collect();
                (messages, keys, None)
            }
            Kind::Mbox(files) => {
                let Some((_, path)) = files.iter().find(|(n, _)| *n == folder) else {
                    return Err(no_folder(&folder));
                };
                let mbox = Mbox::open(path).await.map_err(MailboxError::Local)?;
                // A message whose From_ line has no date gets the file's time.
                let fallback = tokio::fs::metadata(path)
                    .await
                    .ok()
                    .and_then(|m| m.modified().ok())
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map_or(0, |d| d.as_secs() as i64);
                let keys = mbox.messages().iter().map(|x| x.key.clone()).collect();
                let messages = mbox
                    .messages()
                    .iter()
                    .enumerate()
                    .map(|(i, x)| LocalMessage {
                        size: x.size,
                        flags: x.flags.clone(),
                        internal_date: x.internal_date.unwrap_or(fallback),
                        maildir: None,
                        mbox_index: i,
                    })
                    .collect();
                (messages, keys, Some(mbox))
            }
        };
        let generation = self.generation(&folder).await?;
        let (numbering, messages) =
            Numbering::assign(self.ids.as_ref(), &folder, &keys, messages, generation).await?;
        let status = numbering.status();
        self.selected = Some(Selected {
            folder,
            messages,
            numbering,
            mbox,
        });
        self.queue.clear();
        self.body = None;
        Ok(status)
    }

    fn selected(&self) -> Result<&Selected, MailboxError> {
        self.selected
            .as_ref()
            .ok_or_else(|| MailboxError::Internal("no folder selected".into()))
    }

    fn uids(&self, set: &str) -> Result<Vec<u32>, MailboxError> {
        self.selected()?.numbering.select(set)
    }

    /// The open folder and the store key of `uid` in it (Maildir only).
    pub(crate) fn maildir_key(&self, uid: u32) -> Result<(String, String), MailboxError> {
        let sel = self.selected()?;
        let m = self.message(uid)?;
        match &m.maildir {
            Some(msg) => Ok((sel.folder.clone(), msg.key.clone())),
            None => Err(MailboxError::Internal("not a Maildir message".into())),
        }
    }

    /// The UIDVALIDITY and UID a message delivered just now with `key` gets
    /// (stable when there is a state file; otherwise none is promised).
    pub(crate) async fn uid_for_new(&self, folder: &str, key: &str) -> Option<(u32, u32)> {
        let l = self.ids.as_ref()?;
        let uid = l
            .store
            .uids_for_keys(&l.pair, folder, &[key.to_string()])
            .await
            .ok()?
            .first()
            .copied()?;
        Some((self.generation(folder).await.ok()?, uid))
    }

    /// A Maildir folder's generation (see `Maildir::generation`); 1 for an
    /// mbox, whose message keys are content hashes and need none.
    async fn generation(&self, folder: &str) -> Result<u32, MailboxError> {
        match &self.store {
            Kind::Maildir(m) => m.generation(folder).await.map_err(MailboxError::Local),
            Kind::Mbox(_) => Ok(1),
        }
    }

    pub(crate) fn set_ids(&mut self, ids: Option<Ledger>) {
        self.ids = ids;
    }

    fn message(&self, uid: u32) -> Result<&LocalMessage, MailboxError> {
        let sel = self.selected()?;
        Ok(&sel.messages[sel.numbering.index(uid)?])
    }

    pub(crate) async fn fetch_meta(
        &mut self,
        set: &str,
        headers: bool,
    ) -> Result<Vec<MessageMeta>, MailboxError> {
        let mut out = Vec::new();
        for uid in self.uids(set)? {
            let m = self.message(uid)?;
            let mut meta = MessageMeta {
                seq: uid,
                uid,
                flags: m.flags.clone(),
                internal_date: format_internal_date(m.internal_date),
                size: m.size,
                headers: None,
            };
            if headers {
                meta.headers = Some(self.header_block(uid).await?);
            }
            out.push(meta);
        }
        Ok(out)
    }

    /// The message's header block (the identity reads its fields from it).
    async fn header_block(&self, uid: u32) -> Result<Vec<u8>, MailboxError> {
        let mut stream = self.open(uid).await?;
        let mut head = Vec::new();
        let mut buf = [0u8; 8192];
        loop {
            let n = stream.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            head.extend_from_slice(&buf[..n]);
            if let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
                head.truncate(end + 4);
                break;
            }
            if head.len() > 256 << 10 {
                break;
            }
        }
        Ok(head)
    }

    async fn open(&self, uid: u32) -> Result<MessageStream, MailboxError> {
        let sel = self.selected()?;
        let m = self.message(uid)?;
        match (&self.store, &m.maildir, &sel.mbox) {
            (Kind::Maildir(d), Some(msg), _) => d
                .open_message(&sel.folder, msg)
                .await
                .map_err(MailboxError::Local),
            (Kind::Mbox(_), _, Some(mbox)) => mbox
                .open_message(&mbox.messages()[m.mbox_index])
                .await
                .map_err(MailboxError::Local),
            _ => Err(MailboxError::Internal("message without a store".into())),
        }
    }

    pub(crate) fn body_fetch_start(&mut self, set: &str) -> Result<(), MailboxError> {
        let uids = self.uids(set)?;
        self.queue.extend(uids);
        Ok(())
    }

    pub(crate) async fn body_next(&mut self) -> Result<Option<BodyStart>, MailboxError> {
        let Some(uid) = self.queue.pop_front() else {
            self.body = None;
            return Ok(None);
        };
        self.body = Some(self.open(uid).await?);
        let len = self.message(uid)?.size;
        Ok(Some(BodyStart {
            seq: uid,
            uid: Some(uid),
            len,
        }))
    }

    pub(crate) async fn body_read(&mut self, buf: &mut [u8]) -> Result<usize, MailboxError> {
        match &mut self.body {
            Some(s) => Ok(s.read(buf).await?),
            None => Ok(0),
        }
    }
}

fn no_folder(name: &str) -> MailboxError {
    MailboxError::Local(mailport_mailstore::Error::NoFolder(name.to_string()))
}

/// Folders named in UTF-8 with `/` between levels, no namespace prefix.
fn local_listing(folders: &[String], subscribed: &[String]) -> Listing {
    Listing {
        hierarchy: Hierarchy {
            prefix: String::new(),
            delimiter: Some('/'),
            utf8: true,
            foreign: Vec::new(),
        },
        folders: folders
            .iter()
            .map(|f| ListEntry {
                name: f.as_bytes().to_vec(),
                delimiter: Some(b'/'),
                attributes: Vec::new(),
            })
            .collect(),
        subscribed: subscribed.iter().map(|f| f.as_bytes().to_vec()).collect(),
    }
}
