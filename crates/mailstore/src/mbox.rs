//! mbox, read: one file per folder, messages separated by `From ` lines.
//!
//! - Boundaries: a line starting with `From ` starts a message; the blank line
//!   before it belongs to the separator (as Python's `mailbox` and most writers
//!   see it). A `Content-Length:` header is trusted only when the file has a
//!   message boundary or its end exactly there; then `From ` lines inside that
//!   body do not split it.
//! - Quoting: mboxrd removes one `>` from `^>+From `, mboxo only from `^>From `
//!   (mboxo cannot tell a quoted `From ` from a real `>From `; that loss is in
//!   the format).
//! - Flags: `Status:` (R = \Seen, O = old, i.e. not recent), `X-Status:`
//!   (A = \Answered, F = \Flagged, T = \Draft, D = \Deleted), `X-Keywords:`.
//! - INTERNALDATE: the date of the `From ` line (asctime, zone optional, UTC
//!   when absent).
//! - The bytes handed out leave out the `From ` line and the headers that are
//!   the mbox writer's bookkeeping (Status, X-Status, X-Keywords, X-UID,
//!   X-IMAPbase, X-IMAP, Content-Length): an IMAP server holding the message
//!   would not have them, and they would be stale after a migration.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::crlf::{to_crlf, MessageStream};
use crate::{blocking, io_err, names, Error, Result};

/// How `From ` lines inside messages were quoted by the writer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Variant {
    /// `From ` became `>From `; nothing else was quoted.
    Mboxo,
    /// Every `>*From ` got one more `>` (reversible). Also reads mboxo files
    /// right unless a message itself had lines starting `>>From `.
    #[default]
    Mboxrd,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MboxFolder {
    /// Logical name, `/` between levels; `INBOX` for a top-level `inbox`/`mbox`.
    pub name: String,
    pub path: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MboxMessage {
    /// First 16 hex digits of the SHA-256 of the bytes [`Mbox::open_message`]
    /// streams, plus `#n` for the n-th copy within the same file.
    pub key: String,
    /// Bytes as streamed (CRLF line ends, without the mbox headers).
    pub size: u64,
    /// IMAP flags: system flags, then keywords.
    pub flags: Vec<String>,
    /// From the `From ` line; `None` when it has no date we understand.
    pub internal_date: Option<i64>,
    /// `Status: O`: a mail client has seen it arrive (not `\Recent`).
    pub old: bool,
    /// Where its `From ` line starts in the file.
    pub offset: u64,
    ranges: Vec<(u64, u64)>,
}

#[derive(Debug, Clone)]
pub struct Mbox {
    path: PathBuf,
    variant: Variant,
    messages: Vec<MboxMessage>,
}

/// Headers that belong to the mbox file, not to the message.
const INTERNAL_HEADERS: [&str; 7] = [
    "status",
    "x-status",
    "x-keywords",
    "x-uid",
    "x-imapbase",
    "x-imap",
    "content-length",
];

/// Bytes of a line kept for parsing; enough for a From_ line and the headers read.
const PREFIX: usize = 1024;

impl Mbox {
    /// Indexes an mbox file read as [`Variant::Mboxrd`].
    pub async fn open(path: impl AsRef<Path>) -> Result<Mbox> {
        Mbox::open_with(path, Variant::default()).await
    }

    pub async fn open_with(path: impl AsRef<Path>, variant: Variant) -> Result<Mbox> {
        let path = path.as_ref().to_path_buf();
        let p = path.clone();
        let messages = blocking(move || index(&p, variant)).await?;
        Ok(Mbox {
            path,
            variant,
            messages,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn variant(&self) -> Variant {
        self.variant
    }

    /// The messages in file order.
    pub fn messages(&self) -> &[MboxMessage] {
        &self.messages
    }

    /// Streams one message (CRLF line ends, unquoted, mbox headers left out).
    pub async fn open_message(&self, msg: &MboxMessage) -> Result<MessageStream> {
        let file = tokio::fs::File::open(&self.path)
            .await
            .map_err(io_err(&self.path))?;
        Ok(MessageStream::new(file, msg.ranges.clone()))
    }
}

/// The folders at `path`: a file is one folder; a directory holds one folder
/// per mbox file below it, named by its path. Dotfiles, Dovecot's index files
/// and Thunderbird's `.msf` are skipped, as are files that are not mbox (with
/// a warning). Thunderbird's `X.sbd/` and Apple Mail's `X.mbox/mbox` are the
/// folder `X`'s children and the folder `X`.
pub async fn folders(path: impl AsRef<Path>) -> Result<Vec<MboxFolder>> {
    let path = path.as_ref().to_path_buf();
    blocking(move || {
        let meta = fs::metadata(&path).map_err(io_err(&path))?;
        let mut out = Vec::new();
        if meta.is_dir() {
            walk(&path, "", true, &mut out)?;
            out.sort_by(|a, b| a.name.cmp(&b.name));
        } else {
            let file_name = path
                .file_name()
                .map(|n| n.as_encoded_bytes())
                .unwrap_or(b"");
            out.push(MboxFolder {
                name: file_folder_name(file_name, true),
                path,
            });
        }
        Ok(out)
    })
    .await
}

fn file_folder_name(file_name: &[u8], top: bool) -> String {
    let lower = file_name.to_ascii_lowercase();
    if top && (lower == b"inbox" || lower == b"mbox") {
        return "INBOX".into();
    }
    let stem = file_name.strip_suffix(b".mbox").unwrap_or(file_name);
    names::decode(stem)
}

fn walk(dir: &Path, prefix: &str, top: bool, out: &mut Vec<MboxFolder>) -> Result<()> {
    let mut entries = Vec::new();
    for e in fs::read_dir(dir).map_err(io_err(dir))? {
        entries.push(e.map_err(io_err(dir))?);
    }
    entries.sort_by_key(|e| e.file_name());
    let apple_bundle = dir
        .file_name()
        .is_some_and(|n| n.as_encoded_bytes().ends_with(b".mbox"));
    for entry in entries {
        let file_name = entry.file_name();
        let raw = file_name.as_encoded_bytes();
        if raw.starts_with(b".") || raw.starts_with(b"dovecot") || raw.ends_with(b".msf") {
            continue;
        }
        let path = entry.path();
        let meta = fs::metadata(&path).map_err(io_err(&path))?;
        if meta.is_dir() {
            let stem = raw
                .strip_suffix(b".sbd")
                .or_else(|| raw.strip_suffix(b".mbox"))
                .unwrap_or(raw);
            let name = format!("{prefix}{}", names::decode(stem));
            if raw.ends_with(b".mbox") && path.join("mbox").is_file() {
                out.push(MboxFolder {
                    name: name.clone(),
                    path: path.join("mbox"),
                });
            }
            walk(&path, &format!("{name}/"), false, out)?;
        } else if meta.is_file() {
            if apple_bundle && raw == b"mbox" {
                continue;
            }
            if !looks_like_mbox(&path)? {
                tracing::warn!(path = %path.display(), "skipping a file that is not an mbox");
                continue;
            }
            let name = file_folder_name(raw, top);
            let name = if name == "INBOX" {
                name
            } else {
                format!("{prefix}{name}")
            };
            out.push(MboxFolder { name, path });
        }
    }
    Ok(())
}

fn looks_like_mbox(path: &Path) -> Result<bool> {
    let f = File::open(path).map_err(io_err(path))?;
    let mut head = [0u8; 5];
    let n = read_at_most(&f, &mut head, 0).map_err(io_err(path))?;
    Ok(n == 0 || head[..n] == *b"From ")
}

fn read_at_most(f: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read_at(&mut buf[n..], offset + n as u64)? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// Reads the next line, keeping at most [`PREFIX`] bytes of it; returns its
/// start and length (with the line end). Memory does not grow with the line.
fn next_line(
    r: &mut impl BufRead,
    pos: &mut u64,
    prefix: &mut Vec<u8>,
) -> io::Result<Option<(u64, u64)>> {
    prefix.clear();
    let start = *pos;
    loop {
        let buf = r.fill_buf()?;
        if buf.is_empty() {
            break;
        }
        let (take, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (buf.len(), false),
        };
        let room = PREFIX.saturating_sub(prefix.len()).min(take);
        prefix.extend_from_slice(&buf[..room]);
        r.consume(take);
        *pos += take as u64;
        if done {
            break;
        }
    }
    Ok((*pos > start).then_some((start, *pos - start)))
}

#[derive(Default)]
struct Building {
    from_start: u64,
    start: u64,
    date: Option<i64>,
    in_headers: bool,
    skip_header: bool,
    collecting: Option<usize>,
    /// Status, X-Status, X-Keywords, Content-Length.
    values: [String; 4],
    skips: Vec<(u64, u64)>,
    content_end: Option<u64>,
}

fn is_blank(line: &[u8]) -> bool {
    line == b"\n" || line == b"\r\n"
}

/// How many leading bytes of a line are the writer's quoting (0 or 1).
fn quoting(line: &[u8], variant: Variant) -> bool {
    let gts = line.iter().take_while(|&&b| b == b'>').count();
    let quoted = gts > 0 && line[gts..].starts_with(b"From ");
    match variant {
        Variant::Mboxrd => quoted,
        Variant::Mboxo => quoted && gts == 1,
    }
}

fn index(path: &Path, variant: Variant) -> Result<Vec<MboxMessage>> {
    let file = File::open(path).map_err(io_err(path))?;
    let file_len = file.metadata().map_err(io_err(path))?.len();
    if file_len == 0 {
        return Ok(Vec::new());
    }
    if !looks_like_mbox(path)? {
        return Err(Error::NotMbox {
            path: path.to_path_buf(),
        });
    }
    let mut reader = BufReader::with_capacity(64 << 10, file.try_clone().map_err(io_err(path))?);
    let mut pos = 0u64;
    let mut line = Vec::with_capacity(PREFIX);
    let mut cur: Option<Building> = None;
    let mut prev_blank: Option<u64> = None;
    let mut done: Vec<(Building, u64)> = Vec::new();
    while let Some((start, len)) =
        next_line(&mut reader, &mut pos, &mut line).map_err(io_err(path))?
    {
        let blank = is_blank(&line);
        if let Some(end) = cur.as_ref().and_then(|b| b.content_end) {
            if start < end {
                body_line(cur.as_mut().expect("set"), start, &line, variant);
                prev_blank = blank.then_some(start);
                continue;
            }
            done.push((cur.take().expect("set"), end));
        }
        if line.starts_with(b"From ") {
            if let Some(b) = cur.take() {
                done.push((b, prev_blank.unwrap_or(start)));
            }
            cur = Some(Building {
                from_start: start,
                start: start + len,
                date: from_line_date(&line),
                in_headers: true,
                ..Default::default()
            });
            prev_blank = None;
            continue;
        }
        match cur.as_mut() {
            // Only between a Content-Length message and the next From_ line,
            // where the length check found nothing but line ends.
            None => {}
            Some(b) if b.in_headers => {
                header_line(b, start, len, &line, variant, &file, file_len)
                    .map_err(io_err(path))?;
            }
            Some(b) => body_line(b, start, &line, variant),
        }
        prev_blank = blank.then_some(start);
    }
    if let Some(b) = cur.take() {
        let end = b.content_end.unwrap_or(prev_blank.unwrap_or(file_len));
        done.push((b, end));
    }

    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut out = Vec::with_capacity(done.len());
    let mut buf = vec![0u8; 64 << 10];
    let mut crlf = Vec::with_capacity(130 << 10);
    for (b, end) in done {
        let ranges = keep_ranges(b.start, end, &b.skips);
        // A second pass over the kept bytes: the key and size are those of
        // exactly what open_message streams.
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        let mut last_cr = false;
        for &(s, e) in &ranges {
            let mut at = s;
            while at < e {
                let want = ((e - at) as usize).min(buf.len());
                let n = read_at_most(&file, &mut buf[..want], at).map_err(io_err(path))?;
                if n == 0 {
                    break;
                }
                crlf.clear();
                to_crlf(&buf[..n], &mut last_cr, &mut crlf);
                hasher.update(&crlf);
                size += crlf.len() as u64;
                at += n as u64;
            }
        }
        let hex: String = hasher.finalize()[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let n = seen.entry(hex.clone()).or_insert(0);
        *n += 1;
        let key = if *n == 1 { hex } else { format!("{hex}#{n}") };
        let (flags, old) = flags_of(&b.values);
        out.push(MboxMessage {
            key,
            size,
            flags,
            internal_date: b.date,
            old,
            offset: b.from_start,
            ranges,
        });
    }
    Ok(out)
}

fn keep_ranges(start: u64, end: u64, skips: &[(u64, u64)]) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    let mut at = start;
    for &(s, e) in skips {
        let s = s.min(end);
        if s > at {
            out.push((at, s));
        }
        at = at.max(e.min(end));
    }
    if end > at {
        out.push((at, end));
    }
    out
}

fn body_line(b: &mut Building, start: u64, line: &[u8], variant: Variant) {
    if quoting(line, variant) {
        b.skips.push((start, start + 1));
    }
}

fn header_line(
    b: &mut Building,
    start: u64,
    len: u64,
    line: &[u8],
    variant: Variant,
    file: &File,
    file_len: u64,
) -> io::Result<()> {
    if is_blank(line) {
        b.in_headers = false;
        b.collecting = None;
        let body_start = start + len;
        if let Ok(cl) = b.values[3].trim().parse::<u64>() {
            let end = body_start.saturating_add(cl);
            if content_length_fits(file, end, file_len)? {
                b.content_end = Some(end);
            }
        }
        return Ok(());
    }
    if line[0] == b' ' || line[0] == b'\t' {
        if b.skip_header {
            b.skips.push((start, start + len));
        }
        if let Some(i) = b.collecting {
            b.values[i].push(' ');
            b.values[i].push_str(String::from_utf8_lossy(line).trim());
        }
        return Ok(());
    }
    b.skip_header = false;
    b.collecting = None;
    if quoting(line, variant) {
        b.skips.push((start, start + 1));
        return Ok(());
    }
    let Some(colon) = line.iter().position(|&c| c == b':') else {
        return Ok(());
    };
    let name = String::from_utf8_lossy(&line[..colon])
        .trim()
        .to_ascii_lowercase();
    if let Some(i) = INTERNAL_HEADERS.iter().position(|h| *h == name) {
        b.skip_header = true;
        b.skips.push((start, start + len));
        let slot = match i {
            0..=2 => Some(i),
            6 => Some(3),
            _ => None,
        };
        if let Some(slot) = slot {
            b.values[slot] = String::from_utf8_lossy(&line[colon + 1..])
                .trim()
                .to_string();
            b.collecting = Some(slot);
        }
    }
    Ok(())
}

/// A Content-Length is believed when the body it gives ends at the end of
/// the file or just before the next `From ` line (with or without the blank
/// separator line); anything else means the header is stale or wrong.
fn content_length_fits(file: &File, end: u64, file_len: u64) -> io::Result<bool> {
    if end >= file_len {
        return Ok(end == file_len);
    }
    let mut buf = [0u8; 7];
    let n = read_at_most(file, &mut buf, end)?;
    let b = &buf[..n];
    Ok(b.starts_with(b"From ")
        || b.starts_with(b"\nFrom ")
        || b.starts_with(b"\r\nFrom ")
        || (b == b"\n" && end + 1 == file_len)
        || (b == b"\r\n" && end + 2 == file_len))
}

fn flags_of(values: &[String; 4]) -> (Vec<String>, bool) {
    let [status, xstatus, keywords, _] = values;
    let mut flags = Vec::new();
    let mut add = |f: &str| {
        if !flags.iter().any(|g: &String| g.eq_ignore_ascii_case(f)) {
            flags.push(f.to_string());
        }
    };
    if status.contains('R') {
        add("\\Seen");
    }
    for (letter, flag) in [
        ('A', "\\Answered"),
        ('F', "\\Flagged"),
        ('T', "\\Draft"),
        ('D', "\\Deleted"),
    ] {
        if xstatus.contains(letter) {
            add(flag);
        }
    }
    for k in keywords.split(|c: char| c == ',' || c.is_whitespace()) {
        if crate::flags::valid_keyword(k) {
            add(k);
        }
    }
    (flags, status.contains('O'))
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];

fn month(tok: &str) -> Option<u32> {
    let t = tok.to_ascii_lowercase();
    MONTHS
        .iter()
        .position(|m| t.starts_with(m) && t.len() <= 9)
        .map(|i| i as u32 + 1)
}

fn time_of(tok: &str) -> Option<i64> {
    // Unsigned, and multiplied only once in range: a huge or negative field
    // overflowed the arithmetic (`0:9223372036854775807`, `-9223372036854775808:00`).
    let mut p = tok.split(':');
    let h: u32 = p.next()?.parse().ok()?;
    let m: u32 = p.next()?.parse().ok()?;
    let s: u32 = match p.next() {
        Some(s) => s.parse().ok()?,
        None => 0,
    };
    (p.next().is_none() && h < 24 && m < 60 && s <= 60)
        .then(|| i64::from(h) * 3600 + i64::from(m) * 60 + i64::from(s))
}

/// Zone offset in seconds east of UTC.
fn zone_of(tok: &str) -> Option<i64> {
    let b = tok.as_bytes();
    if b.len() == 5 && (b[0] == b'+' || b[0] == b'-') && b[1..].iter().all(u8::is_ascii_digit) {
        let v: i64 = tok[1..3].parse::<i64>().ok()? * 3600 + tok[3..5].parse::<i64>().ok()? * 60;
        return Some(if b[0] == b'-' { -v } else { v });
    }
    let hours = match tok.to_ascii_uppercase().as_str() {
        "UT" | "UTC" | "GMT" | "Z" => 0,
        "EST" => -5,
        "EDT" | "AST" => -4,
        "CST" => -6,
        "CDT" => -5,
        "MST" => -7,
        "MDT" => -6,
        "PST" => -8,
        "PDT" => -7,
        "CET" | "MET" | "BST" => 1,
        "CEST" | "MEST" | "EET" => 2,
        "EEST" => 3,
        "JST" => 9,
        _ => return None,
    };
    Some(hours * 3600)
}

fn year_of(tok: &str) -> Option<i64> {
    (tok.len() == 4 && tok.bytes().all(|b| b.is_ascii_digit())).then(|| tok.parse().ok())?
}

/// The date of a From_ line: `From sender Wed Jan  1 12:00:00 2020`, with or
/// without a zone before or after the year (`... 2020 +0100`, `... +0100 2020`),
/// also the RFC 2822 order some tools write (`... 3 Feb 2014 10:00:00 +0100`).
/// Without a zone the time is taken as UTC (Python's mailbox writes UTC; the
/// writer's local zone is unknowable).
#[doc(hidden)]
pub fn from_line_date(line: &[u8]) -> Option<i64> {
    let text = String::from_utf8_lossy(line);
    let toks: Vec<&str> = text.split_whitespace().skip(1).collect();
    let civil = |y: i64, mo: u32, d: u32, t: i64, z: i64| {
        (1..=31)
            .contains(&d)
            .then(|| mailport_mail::date::days_from_civil(y, mo, d) * 86_400 + t - z)
    };
    for j in 0..toks.len() {
        // asctime: month day time [zone] year [zone]
        if let (Some(mo), Some(d), Some(t)) = (
            month(toks[j]),
            toks.get(j + 1).and_then(|d| d.parse::<u32>().ok()),
            toks.get(j + 2).and_then(|t| time_of(t)),
        ) {
            let rest: Vec<&str> = toks.iter().skip(j + 3).take(2).copied().collect();
            let year = rest.iter().find_map(|t| year_of(t));
            let zone = rest.iter().find_map(|t| zone_of(t)).unwrap_or(0);
            if let Some(y) = year {
                return civil(y, mo, d, t, zone);
            }
        }
        // RFC 2822 order: day month year time [zone]
        if let (Some(d), Some(mo), Some(y), Some(t)) = (
            toks[j].parse::<u32>().ok(),
            toks.get(j + 1).and_then(|m| month(m)),
            toks.get(j + 2).and_then(|y| year_of(y)),
            toks.get(j + 3).and_then(|t| time_of(t)),
        ) {
            let zone = toks.get(j + 4).and_then(|z| zone_of(z)).unwrap_or(0);
            return civil(y, mo, d, t, zone);
        }
    }
    None
}

/// Quotes a message for an mboxrd file: one more `>` before every `>*From `
/// at a line start. [`Variant::Mboxrd`] reading undoes exactly this.
pub fn mboxrd_escape(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + 16);
    for line in message.split_inclusive(|&b| b == b'\n') {
        if quoting_candidate(line) {
            out.push(b'>');
        }
        out.extend_from_slice(line);
    }
    out
}

fn quoting_candidate(line: &[u8]) -> bool {
    let gts = line.iter().take_while(|&&b| b == b'>').count();
    line[gts..].starts_with(b"From ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn from_line_dates() {
        let t = |s: &str| from_line_date(s.as_bytes());
        assert_eq!(t("From MAILER-DAEMON Thu Jan  1 00:00:00 1970\n"), Some(0));
        assert_eq!(
            t("From a@b Tue Mar  4 11:00:00 2015\n"),
            Some(1_425_466_800)
        );
        assert_eq!(
            t("From a@b Tue Mar  4 12:00:00 2015 +0100\n"),
            Some(1_425_466_800)
        );
        assert_eq!(
            t("From a@b Tue Mar 4 03:00:00 PST 2015\n"),
            Some(1_425_466_800)
        );
        assert_eq!(t("From a@b Tue Mar  4 11:00 2015\n"), Some(1_425_466_800));
        assert_eq!(
            t("From a@b Tue, 4 Mar 2015 12:00:00 +0100\n"),
            Some(1_425_466_800)
        );
        assert_eq!(
            t("From a@b  Tue Mar  4 11:00:00 2015 remote from x\n"),
            Some(1_425_466_800)
        );
        assert_eq!(t("From a@b\n"), None);
        assert_eq!(t("From a@b sometime\n"), None);
    }

    #[test]
    fn ranges_leave_out_skips() {
        assert_eq!(
            keep_ranges(0, 10, &[(2, 3), (5, 7)]),
            vec![(0, 2), (3, 5), (7, 10)]
        );
        assert_eq!(keep_ranges(0, 6, &[(0, 1), (5, 9)]), vec![(1, 5)]);
        assert_eq!(keep_ranges(4, 4, &[]), vec![]);
    }

    fn crlf(data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        to_crlf(data, &mut false, &mut out);
        out
    }

    fn read_back(file: &Path, variant: Variant) -> Vec<Vec<u8>> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let mbox = Mbox::open_with(file, variant).await.unwrap();
            let mut out = Vec::new();
            for m in mbox.messages() {
                let mut s = mbox.open_message(m).await.unwrap();
                let mut buf = Vec::new();
                tokio::io::AsyncReadExt::read_to_end(&mut s, &mut buf)
                    .await
                    .unwrap();
                assert_eq!(buf.len() as u64, m.size);
                out.push(buf);
            }
            out
        })
    }

    fn line() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            Just(b"From here on\n".to_vec()),
            Just(b">From quoted\n".to_vec()),
            Just(b">>>From deep\n".to_vec()),
            Just(b">> not from\n".to_vec()),
            Just(b"From\n".to_vec()),
            Just(b"\n".to_vec()),
            Just(b"\r\n".to_vec()),
            "[ -~]{0,20}\n".prop_map(String::into_bytes),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Whatever lines messages hold, an mboxrd file of them reads back as
        /// the messages (with CRLF and a final line end).
        #[test]
        fn mboxrd_round_trip(msgs in proptest::collection::vec(proptest::collection::vec(line(), 0..12), 1..5)) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("rd");
            let mut file = Vec::new();
            let mut want = Vec::new();
            for lines in &msgs {
                let mut body = b"Subject: x\n\n".to_vec();
                body.extend(lines.iter().flatten());
                file.extend_from_slice(b"From a@b Thu Jan  1 00:00:00 1970\n");
                file.extend_from_slice(&mboxrd_escape(&body));
                file.push(b'\n');
                want.push(crlf(&body));
            }
            std::fs::write(&path, &file).unwrap();
            prop_assert_eq!(read_back(&path, Variant::Mboxrd), want);
        }
    }
}
