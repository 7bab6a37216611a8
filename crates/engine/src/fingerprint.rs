//! A message's fingerprints, computed in one pass over its bytes: SHA-256
//! of the exact bytes, and of the bytes with line endings normalised (every
//! CR removed, trailing line feeds dropped), whole and split into header and
//! body. Servers change line endings on APPEND (Courier appends CRLF to a
//! last line without one and strips bare CRs; Dovecot folds CR CR LF): the
//! normalised fingerprints recognise such a copy and name what changed.

use std::collections::HashMap;

use sha2::{Digest, Sha256};

use crate::error::MailboxError;
use crate::source::BodyReader;

/// How a destination copy differs from its source message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Change {
    /// Only CR/LF bytes differ.
    LineEndings,
    /// The body is the same (up to line endings), the header is not.
    Header,
    /// The body differs.
    Body,
}

impl Change {
    pub fn describe(self) -> &'static str {
        match self {
            Change::LineEndings => "line endings only",
            Change::Header => "header changed",
            Change::Body => "content changed",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    /// SHA-256 of the exact bytes, hex.
    pub exact: String,
    /// Of the normalised bytes.
    pub lines: [u8; 32],
    pub head: [u8; 32],
    pub body: [u8; 32],
}

impl Fingerprint {
    pub fn of(bytes: &[u8]) -> Fingerprint {
        let mut h = Hasher::default();
        h.feed(bytes);
        h.finish()
    }

    /// What differs between `self` (the source) and `other`, if anything
    /// beyond exact bytes; `None` when they are byte-identical.
    pub fn change_to(&self, other: &Fingerprint) -> Option<Change> {
        if self.exact == other.exact {
            None
        } else if self.lines == other.lines {
            Some(Change::LineEndings)
        } else if self.body == other.body {
            Some(Change::Header)
        } else {
            Some(Change::Body)
        }
    }
}

/// Streams a message into its fingerprints.
#[derive(Default)]
pub struct Hasher {
    exact: Sha256,
    lines: Sha256,
    head: Sha256,
    body: Sha256,
    /// Line feeds seen but not hashed yet: dropped if nothing else follows.
    pending_lf: usize,
    /// The normalised header has ended (a blank line was seen).
    in_body: bool,
    /// The last normalised byte hashed was a line feed (or nothing yet).
    after_lf: bool,
}

impl Hasher {
    pub fn feed(&mut self, chunk: &[u8]) {
        self.exact.update(chunk);
        // Runs between line-end bytes go to the hashes whole: verify feeds
        // every byte of both mailboxes through here.
        let mut start = 0;
        for (i, &b) in chunk.iter().enumerate() {
            if b == b'\r' || b == b'\n' {
                self.text(&chunk[start..i]);
                self.pending_lf += usize::from(b == b'\n');
                start = i + 1;
            }
        }
        self.text(&chunk[start..]);
    }

    /// Bytes without CR or LF.
    fn text(&mut self, run: &[u8]) {
        if !run.is_empty() {
            self.flush_lf();
            self.put(run);
            self.after_lf = false;
        }
    }

    fn flush_lf(&mut self) {
        for _ in 0..std::mem::take(&mut self.pending_lf) {
            if !self.in_body && self.after_lf {
                // A blank line: the header ends; the line feed belongs to neither.
                self.in_body = true;
                self.lines.update(b"\n");
                continue;
            }
            self.put(b"\n");
            self.after_lf = true;
        }
    }

    fn put(&mut self, b: &[u8]) {
        self.lines.update(b);
        if self.in_body {
            self.body.update(b);
        } else {
            self.head.update(b);
        }
    }

    pub fn finish(self) -> Fingerprint {
        let hex = self
            .exact
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Fingerprint {
            exact: hex,
            lines: self.lines.finalize().into(),
            head: self.head.finalize().into(),
            body: self.body.finalize().into(),
        }
    }
}

/// Fingerprints of the messages of a UID set, by UID (`by_seq` names the
/// UID of a message a server announces by sequence number only).
pub(crate) async fn read(
    r: &mut impl BodyReader,
    set: &str,
    by_seq: &HashMap<u32, u32>,
) -> Result<HashMap<u32, Fingerprint>, MailboxError> {
    let mut out = HashMap::new();
    r.start(set).await?;
    let mut buf = vec![0u8; 64 << 10];
    while let Some(b) = r.next().await? {
        let mut h = Hasher::default();
        loop {
            let n = r.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            h.feed(&buf[..n]);
        }
        if let Some(uid) = b.uid.or_else(|| by_seq.get(&b.seq).copied()) {
            out.insert(uid, h.finish());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MSG: &[u8] = b"From: a\r\nSubject: s\r\n\r\nline one\r\nline two\r\n";

    #[test]
    fn names_what_a_server_changed() {
        let src = Fingerprint::of(MSG);
        assert_eq!(src.change_to(&Fingerprint::of(MSG)), None);
        // Courier: a CRLF added after a last line without one, bare CRs gone.
        let no_end = b"From: a\r\nSubject: s\r\n\r\nline\r one\r\nline two";
        let courier = b"From: a\r\nSubject: s\r\n\r\nline one\r\nline two\r\n";
        assert_eq!(
            Fingerprint::of(no_end).change_to(&Fingerprint::of(courier)),
            Some(Change::LineEndings)
        );
        // Bare LF stored as CRLF; CR CR LF folded.
        let lf = b"From: a\nSubject: s\n\nline one\r\r\nline two\n";
        assert_eq!(
            Fingerprint::of(lf).change_to(&src),
            Some(Change::LineEndings)
        );
        let munged = b"From: X\r\nSubject: s\r\n\r\nline one\r\nline two\r\n";
        assert_eq!(
            src.change_to(&Fingerprint::of(munged)),
            Some(Change::Header)
        );
        let added = b"X-TUID: abc\r\nFrom: a\r\nSubject: s\r\n\r\nline one\r\nline two\r\n";
        assert_eq!(src.change_to(&Fingerprint::of(added)), Some(Change::Header));
        let body = b"From: a\r\nSubject: s\r\n\r\nline one\r\nline 2\r\n";
        assert_eq!(src.change_to(&Fingerprint::of(body)), Some(Change::Body));
        // A line moved across the blank line is not a header-only change.
        let moved = b"From: a\r\n\r\nSubject: s\r\nline one\r\nline two\r\n";
        assert_eq!(src.change_to(&Fingerprint::of(moved)), Some(Change::Body));
    }

    proptest! {
        /// Chunk boundaries never change a fingerprint.
        #[test]
        fn chunking_does_not_matter(bytes in proptest::collection::vec(
            prop_oneof![Just(b'\r'), Just(b'\n'), Just(b'a'), Just(b':'), any::<u8>()], 0..300),
            cut in 0usize..300)
        {
            let cut = cut.min(bytes.len());
            let mut h = Hasher::default();
            h.feed(&bytes[..cut]);
            h.feed(&bytes[cut..]);
            prop_assert_eq!(h.finish(), Fingerprint::of(&bytes));
        }

        /// Turning every LF into CRLF, or adding a final CRLF, is a line-ending change only.
        #[test]
        fn crlf_conversion_is_line_endings_only(text in "[a-z: \n]{0,200}") {
            let lf = text.as_bytes();
            let crlf = text.replace('\n', "\r\n") + "\r\n";
            let a = Fingerprint::of(lf);
            let b = Fingerprint::of(crlf.as_bytes());
            prop_assert_eq!(a.lines, b.lines);
            prop_assert!(a.change_to(&b).is_none_or(|c| c == Change::LineEndings));
        }
    }
}
