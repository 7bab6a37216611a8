//! Maildir, read and written as Dovecot does it.
//!
//! - Layouts: Maildir++ (`.A.B` directories below the root) and Dovecot's
//!   `LAYOUT=fs` (`A/B` directories); the root is INBOX in both.
//! - Names: each level in modified UTF-7, as Dovecot writes it (UTF-8 names of
//!   other tools are read too).
//! - Flags: the `:2,` info letters; keywords are the letters `a`-`z`, numbered by
//!   the folder's `dovecot-keywords` file.
//! - INTERNALDATE: the file's mtime, which Dovecot sets on APPEND.
//! - Size: `,W=` in the file name when present (Dovecot's size with CRLF line
//!   ends), else counted.

use std::collections::HashSet;
use std::fs;
use std::io::{Read, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::io::AsyncWriteExt;

use crate::crlf::{crlf_len, MessageStream};
use crate::flags::{flag_of, letter_of, valid_keyword};
use crate::{blocking, io_err, names, Error, Result};

/// How folders below the root are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Maildir++: folder `A/B` is the directory `.A.B` in the root.
    PlusPlus,
    /// Dovecot's `LAYOUT=fs`: folder `A/B` is the directory `A/B`.
    Fs,
}

impl Layout {
    fn separator(self) -> char {
        match self {
            Layout::PlusPlus => '.',
            Layout::Fs => '/',
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Folder {
    /// Logical name: Unicode, `/` between levels, `INBOX` for the root.
    pub name: String,
    pub subscribed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The file's base name without the `:2,` info: unique and stable while
    /// flags change.
    pub key: String,
    /// Bytes as served over IMAP (CRLF line ends).
    pub size: u64,
    /// IMAP flags: system flags first, then keywords.
    pub flags: Vec<String>,
    /// INTERNALDATE, Unix seconds.
    pub internal_date: i64,
    path: PathBuf,
}

impl Message {
    /// Where the file was when the folder was listed.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[derive(Debug, Clone)]
pub struct Maildir {
    root: PathBuf,
    layout: Layout,
    /// Serialises our own rewrites of `dovecot-keywords` and `subscriptions`.
    lock: Arc<tokio::sync::Mutex<()>>,
}

const KEYWORDS_FILE: &str = "dovecot-keywords";
const SUBSCRIPTIONS_FILE: &str = "subscriptions";

impl Maildir {
    /// Opens an existing Maildir whose root (INBOX) holds `cur/`, `new/`, `tmp/`.
    pub async fn open(root: impl AsRef<Path>, layout: Layout) -> Result<Maildir> {
        let root = root.as_ref().to_path_buf();
        let check = root.clone();
        blocking(move || {
            if ["cur", "new", "tmp"].iter().all(|s| check.join(s).is_dir()) {
                Ok(())
            } else {
                Err(Error::NotMaildir { path: check })
            }
        })
        .await?;
        Ok(Maildir::at(root, layout))
    }

    /// Creates (or opens) a Maildir for writing.
    pub async fn create(root: impl AsRef<Path>, layout: Layout) -> Result<Maildir> {
        let root = root.as_ref().to_path_buf();
        let r = root.clone();
        blocking(move || make_maildir(&r)).await?;
        Ok(Maildir::at(root, layout))
    }

    fn at(root: PathBuf, layout: Layout) -> Maildir {
        Maildir {
            root,
            layout,
            lock: Arc::new(tokio::sync::Mutex::new(())),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// Every folder (a directory with `cur/`), INBOX first, then by name.
    /// Parents that are only directories (IMAP `\Noselect`) are not listed.
    pub async fn folders(&self) -> Result<Vec<Folder>> {
        let (root, layout) = (self.root.clone(), self.layout);
        blocking(move || {
            let subs: HashSet<String> = read_subscriptions(&root, layout)?.into_iter().collect();
            let mut names = Vec::new();
            match layout {
                Layout::PlusPlus => {
                    for entry in read_dir(&root)? {
                        let file_name = entry.file_name();
                        let raw = file_name.as_encoded_bytes();
                        if raw.len() < 2 || raw[0] != b'.' || raw == b".." {
                            continue;
                        }
                        if !entry.path().join("cur").is_dir() {
                            continue;
                        }
                        let name: Vec<String> =
                            raw[1..].split(|&b| b == b'.').map(names::decode).collect();
                        names.push(name.join("/"));
                    }
                }
                Layout::Fs => walk_fs(&root, "", &mut names)?,
            }
            names.sort();
            let mut out = vec![Folder {
                subscribed: subs.contains("INBOX"),
                name: "INBOX".into(),
            }];
            out.extend(names.into_iter().map(|name| Folder {
                subscribed: subs.contains(&name),
                name,
            }));
            Ok(out)
        })
        .await
    }

    /// Subscribed names (existing or not), as the `subscriptions` file lists them.
    pub async fn subscriptions(&self) -> Result<Vec<String>> {
        let (root, layout) = (self.root.clone(), self.layout);
        blocking(move || read_subscriptions(&root, layout)).await
    }

    /// The messages of `folder` (`new/` and `cur/`), by delivery time, then name.
    pub async fn messages(&self, folder: &str) -> Result<Vec<Message>> {
        let dir = self.find_dir(folder)?;
        blocking(move || {
            let keywords = read_keywords(&dir)?;
            let mut out = Vec::new();
            for sub in ["new", "cur"] {
                let subdir = dir.join(sub);
                let entries = match fs::read_dir(&subdir) {
                    Ok(e) => e,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(io_err(&subdir)(e)),
                };
                for entry in entries {
                    let entry = entry.map_err(io_err(&subdir))?;
                    let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                        tracing::warn!(path = %entry.path().display(), "skipping a file whose name is not UTF-8");
                        continue;
                    };
                    if name.starts_with('.') {
                        continue;
                    }
                    let path = entry.path();
                    let meta = fs::metadata(&path).map_err(io_err(&path))?;
                    if !meta.is_file() {
                        continue;
                    }
                    out.push(read_entry(&name, path, &meta, &keywords)?);
                }
            }
            out.sort_by_cached_key(|m| (delivery_time(&m.key), m.key.clone()));
            Ok(out)
        })
        .await
    }

    /// A number that stays the same while `folder`'s directory exists and
    /// changes when it is deleted and made again (its `cur/` directory's
    /// device and inode): what UIDVALIDITY is to IMAP, so that numbers given
    /// to the old folder's files are never believed for the new one's.
    pub async fn generation(&self, folder: &str) -> Result<u32> {
        use std::os::unix::fs::MetadataExt;
        let cur = self.find_dir(folder)?.join("cur");
        let meta = fs::metadata(&cur).map_err(io_err(&cur))?;
        let mixed = meta.dev().wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ meta.ino();
        Ok(((mixed ^ (mixed >> 32)) as u32).max(1))
    }

    /// Streams the message with CRLF line ends. Finds it again by key when a
    /// flag change renamed the file since it was listed.
    pub async fn open_message(&self, folder: &str, msg: &Message) -> Result<MessageStream> {
        let file = match tokio::fs::File::open(&msg.path).await {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let path = self.find_file(folder, &msg.key).await?;
                tokio::fs::File::open(&path).await.map_err(io_err(&path))?
            }
            Err(e) => return Err(io_err(&msg.path)(e)),
        };
        Ok(MessageStream::new(file, vec![(0, u64::MAX)]))
    }

    /// Creates `name` (and the directories above it; in `LAYOUT=fs` those stay
    /// plain directories, which Dovecot lists as `\Noselect`). Idempotent.
    pub async fn create_folder(&self, name: &str) -> Result<()> {
        let dir = self.encoded_dir(name)?;
        let plus_plus = self.layout == Layout::PlusPlus && dir != self.root;
        blocking(move || {
            make_maildir(&dir)?;
            if plus_plus {
                // Maildir++ marks subfolders so that deliverers know the quota
                // file is one level up; Dovecot writes it too.
                let marker = dir.join("maildirfolder");
                fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&marker)
                    .map_err(io_err(&marker))?;
            }
            Ok(())
        })
        .await
    }

    /// Adds `name` to the `subscriptions` file (Dovecot's version 2 format).
    pub async fn subscribe(&self, name: &str) -> Result<()> {
        let _guard = self.lock.lock().await;
        let (root, layout, name) = (self.root.clone(), self.layout, name.to_string());
        blocking(move || {
            let mut subs = read_subscriptions(&root, layout)?;
            if subs.contains(&name) {
                return Ok(());
            }
            subs.push(name);
            let mut text = String::from("V\t2\n\n");
            for s in &subs {
                let parts = if s.eq_ignore_ascii_case("INBOX") {
                    vec!["INBOX".to_string()]
                } else {
                    s.split('/')
                        .map(|p| {
                            names::encode(p, None).map_err(|reason| Error::BadName {
                                name: s.clone(),
                                reason,
                            })
                        })
                        .collect::<Result<Vec<_>>>()?
                };
                text.push_str(&parts.join("\t"));
                text.push('\n');
            }
            replace_file(&root.join(SUBSCRIPTIONS_FILE), text.as_bytes())
        })
        .await
    }

    /// Starts writing a message into `folder` (which must exist). The bytes
    /// are stored as given; [`Delivery::finish`] makes it visible.
    pub async fn deliver<S: AsRef<str>>(
        &self,
        folder: &str,
        flags: &[S],
        internal_date: i64,
    ) -> Result<Delivery> {
        let dir = self.existing_dir(folder)?;
        let info = self.info_letters(folder, &dir, flags).await?;
        let base = unique_name();
        let tmp_path = dir.join("tmp").join(&base);
        let file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp_path)
            .await
            .map_err(io_err(&tmp_path))?;
        Ok(Delivery {
            file: Some(file),
            tmp_path,
            dir,
            base,
            info,
            internal_date,
            size: 0,
            vsize: 0,
            last_cr: false,
            done: false,
        })
    }

    /// Replaces the flags of a message (a rename; the key stays).
    pub async fn set_flags<S: AsRef<str>>(
        &self,
        folder: &str,
        key: &str,
        flags: &[S],
    ) -> Result<()> {
        let dir = self.existing_dir(folder)?;
        let info = self.info_letters(folder, &dir, flags).await?;
        let from = self.find_file(folder, key).await?;
        let to = dir.join("cur").join(format!("{key}:2,{info}"));
        if from != to {
            blocking(move || fs::rename(&from, &to).map_err(io_err(&from))).await?;
        }
        Ok(())
    }

    /// Removes a message.
    pub async fn delete(&self, folder: &str, key: &str) -> Result<()> {
        let path = self.find_file(folder, key).await?;
        blocking(move || fs::remove_file(&path).map_err(io_err(&path))).await
    }

    /// The directory for `name` as Dovecot would name it.
    fn encoded_dir(&self, name: &str) -> Result<PathBuf> {
        if name.eq_ignore_ascii_case("INBOX") {
            return Ok(self.root.clone());
        }
        let bad = |reason| Error::BadName {
            name: name.to_string(),
            reason,
        };
        let mut parts = Vec::new();
        for p in name.split('/') {
            let e = names::encode(p, Some(self.layout.separator())).map_err(bad)?;
            if self.layout == Layout::Fs
                && (e.starts_with('.') || matches!(e.as_str(), "cur" | "new" | "tmp"))
            {
                return Err(bad(
                    "a level named cur, new, tmp or starting with '.' is not a folder in LAYOUT=fs",
                ));
            }
            parts.push(e);
        }
        Ok(self.join_parts(&parts))
    }

    fn join_parts<S: AsRef<str>>(&self, parts: &[S]) -> PathBuf {
        match self.layout {
            Layout::PlusPlus => {
                let joined: Vec<&str> = parts.iter().map(AsRef::as_ref).collect();
                self.root.join(format!(".{}", joined.join(".")))
            }
            Layout::Fs => parts
                .iter()
                .fold(self.root.clone(), |p, c| p.join(c.as_ref())),
        }
    }

    /// The directory of an existing folder: Dovecot's encoding first, then the
    /// name as UTF-8 (written by other tools).
    fn find_dir(&self, name: &str) -> Result<PathBuf> {
        if let Ok(dir) = self.encoded_dir(name) {
            if dir.join("cur").is_dir() {
                return Ok(dir);
            }
        }
        let parts: Vec<&str> = name.split('/').collect();
        let raw = self.join_parts(&parts);
        if raw.join("cur").is_dir() {
            return Ok(raw);
        }
        Err(Error::NoFolder(name.to_string()))
    }

    fn existing_dir(&self, name: &str) -> Result<PathBuf> {
        let dir = self.encoded_dir(name)?;
        if dir.join("cur").is_dir() {
            Ok(dir)
        } else {
            Err(Error::NoFolder(name.to_string()))
        }
    }

    async fn find_file(&self, folder: &str, key: &str) -> Result<PathBuf> {
        let dir = self.find_dir(folder)?;
        let (folder, key) = (folder.to_string(), key.to_string());
        blocking(move || {
            for sub in ["cur", "new"] {
                let subdir = dir.join(sub);
                for entry in read_dir(&subdir)? {
                    let name = entry.file_name();
                    let Some(name) = name.to_str() else { continue };
                    if name == key
                        || name
                            .strip_prefix(key.as_str())
                            .is_some_and(|r| r.starts_with(':'))
                    {
                        return Ok(entry.path());
                    }
                }
            }
            Err(Error::NoMessage { folder, key })
        })
        .await
    }

    /// The sorted `:2,` letters for `flags`, numbering new keywords in the
    /// folder's `dovecot-keywords`.
    async fn info_letters<S: AsRef<str>>(
        &self,
        folder: &str,
        dir: &Path,
        flags: &[S],
    ) -> Result<String> {
        let (mut letters, keywords) = system_letters(flags)?;
        if !keywords.is_empty() {
            let _guard = self.lock.lock().await;
            let (dir, folder) = (dir.to_path_buf(), folder.to_string());
            letters.extend(blocking(move || keyword_letters(&dir, &folder, &keywords)).await?);
        }
        Ok(info_string(letters))
    }
}

/// Splits IMAP flags into the info letters of the system flags and the
/// keywords (which need `dovecot-keywords` for their letters). `\Recent` is
/// left out; a flag Maildir cannot store is [`Error::BadFlag`].
#[doc(hidden)]
pub fn system_letters<S: AsRef<str>>(flags: &[S]) -> Result<(Vec<u8>, Vec<String>)> {
    let mut letters = Vec::new();
    let mut keywords = Vec::new();
    for f in flags {
        let f = f.as_ref();
        if f.starts_with('\\') {
            if f.eq_ignore_ascii_case("\\Recent") {
                // Session state of the server, not part of the message.
                continue;
            }
            letters.push(letter_of(f).ok_or_else(|| Error::BadFlag(f.to_string()))?);
        } else if valid_keyword(f) {
            keywords.push(f.to_string());
        } else {
            return Err(Error::BadFlag(f.to_string()));
        }
    }
    Ok((letters, keywords))
}

/// The info letters as they go after `:2,`: sorted, each once.
#[doc(hidden)]
pub fn info_string(mut letters: Vec<u8>) -> String {
    letters.sort_unstable();
    letters.dedup();
    letters.into_iter().map(char::from).collect()
}

/// A message being written into `tmp/`. Dropped without [`finish`](Self::finish),
/// the temporary file is removed.
pub struct Delivery {
    file: Option<tokio::fs::File>,
    tmp_path: PathBuf,
    dir: PathBuf,
    base: String,
    info: String,
    internal_date: i64,
    size: u64,
    vsize: u64,
    last_cr: bool,
    done: bool,
}

impl Delivery {
    pub async fn write(&mut self, data: &[u8]) -> Result<()> {
        let file = self.file.as_mut().expect("not finished");
        file.write_all(data).await.map_err(io_err(&self.tmp_path))?;
        self.size += data.len() as u64;
        self.vsize += crlf_len(data, &mut self.last_cr);
        Ok(())
    }

    /// Makes the message durable and visible: fsync, mtime = INTERNALDATE,
    /// rename into `cur/` with its flags. Returns its key.
    pub async fn finish(mut self) -> Result<String> {
        let mut file = self.file.take().expect("not finished");
        file.flush().await.map_err(io_err(&self.tmp_path))?;
        let file = file.into_std().await;
        // Dovecot's own names carry both sizes: S= on disk, W= as served (CRLF),
        // which it then need not count.
        let key = format!("{},S={},W={}", self.base, self.size, self.vsize);
        let final_path = self.dir.join("cur").join(format!("{key}:2,{}", self.info));
        let (tmp, cur) = (self.tmp_path.clone(), self.dir.join("cur"));
        let mtime = system_time(self.internal_date);
        blocking(move || {
            file.set_modified(mtime).map_err(io_err(&tmp))?;
            file.sync_all().map_err(io_err(&tmp))?;
            drop(file);
            fs::rename(&tmp, &final_path).map_err(io_err(&tmp))?;
            // The rename is durable only once the directory is.
            fs::File::open(&cur)
                .and_then(|d| d.sync_all())
                .map_err(io_err(&cur))
        })
        .await?;
        self.done = true;
        Ok(key)
    }
}

impl Drop for Delivery {
    fn drop(&mut self) {
        if !self.done {
            let _ = fs::remove_file(&self.tmp_path);
        }
    }
}

fn make_maildir(dir: &Path) -> Result<()> {
    for sub in ["cur", "new", "tmp"] {
        let p = dir.join(sub);
        fs::create_dir_all(&p).map_err(io_err(&p))?;
    }
    Ok(())
}

fn read_dir(dir: &Path) -> Result<Vec<fs::DirEntry>> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).map_err(io_err(dir))? {
        out.push(e.map_err(io_err(dir))?);
    }
    Ok(out)
}

fn walk_fs(dir: &Path, prefix: &str, out: &mut Vec<String>) -> Result<()> {
    for entry in read_dir(dir)? {
        let file_name = entry.file_name();
        let raw = file_name.as_encoded_bytes();
        if raw.starts_with(b".") || matches!(raw, b"cur" | b"new" | b"tmp") {
            continue;
        }
        let path = entry.path();
        if !path.is_dir() {
            continue;
        }
        let name = format!("{prefix}{}", names::decode(raw));
        if path.join("cur").is_dir() {
            out.push(name.clone());
        }
        walk_fs(&path, &format!("{name}/"), out)?;
    }
    Ok(())
}

/// Dovecot's `subscriptions` (version 2: a `V\t2` header, a blank line, then
/// one name a line with levels separated by tabs) or the older one-name-a-line
/// form with the layout's separator (Courier's `courierimapsubscribed`, with
/// its `INBOX.` prefix).
fn read_subscriptions(root: &Path, layout: Layout) -> Result<Vec<String>> {
    let mut text = None;
    for file in [SUBSCRIPTIONS_FILE, "courierimapsubscribed"] {
        let path = root.join(file);
        match fs::read(&path) {
            Ok(t) => {
                text = Some(t);
                break;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io_err(&path)(e)),
        }
    }
    let Some(text) = text else {
        return Ok(Vec::new());
    };
    let mut lines = text
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let mut out = Vec::new();
    let mut push = |name: String| {
        if !name.is_empty() && !out.contains(&name) {
            out.push(name);
        }
    };
    if text.starts_with(b"V\t") {
        for line in lines.by_ref() {
            if line.is_empty() {
                break;
            }
        }
        for line in lines {
            let parts: Vec<String> = line.split(|&b| b == b'\t').map(names::decode).collect();
            push(parts.join("/"));
        }
    } else {
        let sep = layout.separator() as u8;
        for line in lines {
            let line = match layout {
                Layout::PlusPlus => line.strip_prefix(b"INBOX.").unwrap_or(line),
                Layout::Fs => line,
            };
            if line.is_empty() {
                continue;
            }
            let parts: Vec<String> = line.split(|&b| b == sep).map(names::decode).collect();
            push(parts.join("/"));
        }
    }
    Ok(out)
}

/// `dovecot-keywords`: lines `N name`, N the letter's index (`a` = 0).
fn read_keywords(dir: &Path) -> Result<Vec<Option<String>>> {
    let path = dir.join(KEYWORDS_FILE);
    match fs::read_to_string(&path) {
        Ok(t) => Ok(parse_keywords(&t)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(vec![None; 26]),
        Err(e) => Err(io_err(&path)(e)),
    }
}

/// The 26 keyword slots (`a`-`z`) of a `dovecot-keywords` text. A name that
/// is not a valid IMAP keyword keeps its slot (so that its letter is never
/// given to another keyword) but is never served as a flag.
#[doc(hidden)]
pub fn parse_keywords(text: &str) -> Vec<Option<String>> {
    let mut slots = vec![None; 26];
    for line in text.lines() {
        if let Some((n, name)) = line.split_once(' ') {
            // Trailing white space (a stray CR) is not part of the name: a
            // rewrite of the file would not keep it.
            let name = name.trim_end_matches(|c: char| c.is_ascii_whitespace());
            if let Ok(n) = n.parse::<usize>() {
                if n < 26 && !name.is_empty() {
                    slots[n] = Some(name.to_string());
                }
            }
        }
    }
    slots
}

/// A `dovecot-keywords` text for `slots`; [`parse_keywords`] reads it back.
#[doc(hidden)]
pub fn format_keywords(slots: &[Option<String>]) -> String {
    let mut text = String::new();
    for (i, s) in slots.iter().enumerate() {
        if let Some(s) = s {
            text.push_str(&format!("{i} {s}\n"));
        }
    }
    text
}

fn keyword_letters(dir: &Path, folder: &str, keywords: &[String]) -> Result<Vec<u8>> {
    let mut slots = read_keywords(dir)?;
    let (letters, changed) = assign_keyword_letters(&mut slots, folder, keywords)?;
    if changed {
        replace_file(&dir.join(KEYWORDS_FILE), format_keywords(&slots).as_bytes())?;
    }
    Ok(letters)
}

/// The letters of `keywords` in `slots` (same spelling first, then ignoring
/// case); a keyword not there yet takes the first free slot. Returns the
/// letters and whether `slots` changed.
#[doc(hidden)]
pub fn assign_keyword_letters(
    slots: &mut [Option<String>],
    folder: &str,
    keywords: &[String],
) -> Result<(Vec<u8>, bool)> {
    let mut changed = false;
    let mut letters = Vec::new();
    for k in keywords {
        let found = slots
            .iter()
            .position(|s| s.as_deref() == Some(k.as_str()))
            .or_else(|| {
                slots
                    .iter()
                    .position(|s| s.as_deref().is_some_and(|s| s.eq_ignore_ascii_case(k)))
            });
        let idx = match found {
            Some(i) => i,
            None => {
                let free = slots.iter().position(Option::is_none).ok_or_else(|| {
                    Error::TooManyKeywords {
                        folder: folder.to_string(),
                    }
                })?;
                slots[free] = Some(k.clone());
                changed = true;
                free
            }
        };
        letters.push(b'a' + idx as u8);
    }
    Ok((letters, changed))
}

/// Writes a whole file so that readers see the old or the new one, never half.
fn replace_file(path: &Path, data: &[u8]) -> Result<()> {
    let tmp = path.with_file_name(format!(
        ".{}.{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("file"),
        std::process::id()
    ));
    let mut f = fs::File::create(&tmp).map_err(io_err(&tmp))?;
    f.write_all(data).map_err(io_err(&tmp))?;
    f.sync_all().map_err(io_err(&tmp))?;
    fs::rename(&tmp, path).map_err(io_err(path))
}

fn read_entry(
    name: &str,
    path: PathBuf,
    meta: &fs::Metadata,
    keywords: &[Option<String>],
) -> Result<Message> {
    let FileName {
        key,
        flags,
        size,
        delivery,
    } = parse_file_name(name, keywords);
    let size = match size {
        Some(w) => w,
        None => {
            let mut f = fs::File::open(&path).map_err(io_err(&path))?;
            let mut buf = vec![0u8; 64 << 10];
            let (mut n, mut last_cr) = (0u64, false);
            loop {
                let got = f.read(&mut buf).map_err(io_err(&path))?;
                if got == 0 {
                    break;
                }
                n += crlf_len(&buf[..got], &mut last_cr);
            }
            n
        }
    };
    let internal_date = meta.modified().ok().map(unix_secs).unwrap_or(delivery.0);
    Ok(Message {
        key,
        size,
        flags,
        internal_date,
        path,
    })
}

/// What a Maildir file name (`key:2,letters`) says.
#[doc(hidden)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileName {
    /// The base name without the `:` info part.
    pub key: String,
    /// IMAP flags of the `:2,` letters: system flags first (in letter order),
    /// then the keywords `keywords` (the `dovecot-keywords` slots) names.
    pub flags: Vec<String>,
    /// `,W=`: the size as served with CRLF line ends.
    pub size: Option<u64>,
    /// Seconds and microseconds the name starts with (0 when absent).
    pub delivery: (i64, u64),
}

/// Parses a Maildir file name. Letters that are neither system flags nor
/// keywords with a slot in `keywords` are ignored, as Dovecot does.
#[doc(hidden)]
pub fn parse_file_name(name: &str, keywords: &[Option<String>]) -> FileName {
    let (key, info) = match name.split_once(':') {
        Some((k, i)) => (k, Some(i)),
        None => (name, None),
    };
    let mut system = Vec::new();
    let mut kws = Vec::new();
    if let Some(letters) = info.and_then(|i| i.strip_prefix("2,")) {
        let mut letters: Vec<u8> = letters.bytes().collect();
        letters.sort_unstable();
        letters.dedup();
        for l in letters {
            if let Some(f) = flag_of(l) {
                system.push(f.to_string());
            } else if l.is_ascii_lowercase() {
                // A letter missing from dovecot-keywords is ignored, as Dovecot
                // does; so is one whose name IMAP cannot carry (it would break
                // or inject into the flag list of a STORE or APPEND), and a
                // second letter for a name already given (a file that lists
                // one name twice).
                if let Some(Some(k)) = keywords.get(usize::from(l - b'a')) {
                    if valid_keyword(k) && !kws.iter().any(|x: &String| x.eq_ignore_ascii_case(k)) {
                        kws.push(k.clone());
                    }
                }
            }
        }
    }
    system.extend(kws);
    FileName {
        key: key.to_string(),
        flags: system,
        size: name_field(key, "W"),
        delivery: delivery_time(key),
    }
}

/// A `,X=number` field of a Maildir base name.
fn name_field(key: &str, field: &str) -> Option<u64> {
    key.split(',').skip(1).find_map(|f| {
        f.strip_prefix(field)
            .and_then(|r| r.strip_prefix('='))
            .and_then(|n| n.parse().ok())
    })
}

/// Seconds and microseconds at the start of a Maildir name
/// (`1700000000.M123456P42...`); microseconds compare as numbers, not text.
fn delivery_time(key: &str) -> (i64, u64) {
    fn digits(s: &str) -> &str {
        let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        &s[..end]
    }
    let secs = digits(key).parse().unwrap_or(0);
    let usecs = key
        .split_once('.')
        .and_then(|(_, rest)| rest.strip_prefix('M'))
        .and_then(|r| digits(r).parse().ok())
        .unwrap_or(0);
    (secs, usecs)
}

fn unix_secs(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs_f64().ceil() as i64),
    }
}

fn system_time(secs: i64) -> SystemTime {
    if secs >= 0 {
        UNIX_EPOCH + Duration::from_secs(secs as u64)
    } else {
        UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs())
    }
}

/// `secs.MusecsPpidQn.host`: the classic unique Maildir name. The counter keeps
/// names of one process unique and ordered even within one microsecond.
fn unique_name() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!(
        "{}.M{}P{}Q{}.{}",
        now.as_secs(),
        now.subsec_micros(),
        std::process::id(),
        n,
        hostname()
    )
}

fn hostname() -> String {
    let raw = fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let raw = raw.trim();
    let raw = if raw.is_empty() { "localhost" } else { raw };
    // '/' and ':' would break the path and the info part, ',' the size fields.
    raw.replace('/', "\\057")
        .replace(':', "\\072")
        .replace(',', "\\054")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_fields() {
        let k = "1795375673.M919288P28806.vm,S=78123,W=79149";
        assert_eq!(name_field(k, "W"), Some(79149));
        assert_eq!(name_field(k, "S"), Some(78123));
        assert_eq!(name_field("1.M2P3.host", "W"), None);
        assert_eq!(delivery_time(k), (1795375673, 919288));
        assert!(delivery_time("1.M99P1.h") < delivery_time("1.M100P1.h"));
    }

    #[test]
    fn times_before_1970() {
        assert_eq!(unix_secs(system_time(-86_400)), -86_400);
        assert_eq!(unix_secs(system_time(1_000)), 1_000);
    }
}
