//! Message identity: how a message already on the destination is recognised
//! without a ledger. Message-ID + Date + size; without a Message-ID, a hash of
//! From, To, Subject and Date + size.

use sha2::{Digest, Sha256};

/// Header fields to fetch to compute an identity.
pub const HEADER_FIELDS: &[&str] = &["MESSAGE-ID", "DATE", "FROM", "TO", "SUBJECT"];

/// Values of the named fields in a header block, unfolded and trimmed.
fn field(headers: &[u8], name: &str) -> Option<String> {
    let text = String::from_utf8_lossy(headers);
    let mut value: Option<String> = None;
    for line in text.split('\n') {
        let line = line.trim_end_matches('\r');
        if line.is_empty() {
            // End of the header: what follows is body.
            break;
        }
        if line.starts_with([' ', '\t']) {
            if let Some(v) = value.as_mut() {
                v.push(' ');
                v.push_str(line.trim());
            }
            continue;
        }
        if value.is_some() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            if k.trim().eq_ignore_ascii_case(name) {
                value = Some(v.trim().to_string());
            }
        }
    }
    value.map(|v| v.trim().to_string())
}

/// Which rule recognises a message already on the destination.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum IdentityRule {
    /// Message-ID + Date + size; without Message-ID, a hash of From, To,
    /// Subject and Date + size. Safe against different messages that share
    /// a Message-ID (resent, edited drafts).
    #[default]
    Strict,
    /// Message-ID + Date (no size); without Message-ID, the header hash. For
    /// destinations filled by tools that add headers (mbsync adds X-TUID).
    MessageId,
    /// Always the hash of From, To, Subject, Date and Message-ID + size: for
    /// sources whose Message-IDs are unreliable.
    Headers,
}

impl IdentityRule {
    /// The identity key of a message from its header fields and size.
    pub fn key(self, headers: &[u8], size: u64) -> String {
        const BASIC: &[&str] = &["From", "To", "Subject", "Date"];
        let date = field(headers, "Date").unwrap_or_default();
        let mid = field(headers, "Message-ID").filter(|m| !m.is_empty());
        match (self, mid) {
            (IdentityRule::Strict, Some(mid)) => format!("mid:{mid}|date:{date}|size:{size}"),
            (IdentityRule::Strict, None) => {
                format!("hdr:{}|size:{size}", header_hash(headers, BASIC))
            }
            (IdentityRule::MessageId, Some(mid)) => format!("mid:{mid}|date:{date}"),
            (IdentityRule::MessageId, None) => format!("hdr:{}", header_hash(headers, BASIC)),
            (IdentityRule::Headers, _) => {
                let all = ["From", "To", "Subject", "Date", "Message-ID"];
                format!("hdr:{}|size:{size}", header_hash(headers, &all))
            }
        }
    }
}

fn header_hash(headers: &[u8], names: &[&str]) -> String {
    let mut h = Sha256::new();
    for name in names {
        h.update(field(headers, name).unwrap_or_default().as_bytes());
        h.update([0]);
    }
    h.finalize()[..12]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The identity key under the default rule ([`IdentityRule::Strict`]).
pub fn identity(headers: &[u8], size: u64) -> String {
    IdentityRule::Strict.key(headers, size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_id_date_size() {
        let h = b"Message-ID: <a@b>\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\n\r\n";
        assert_eq!(
            identity(h, 10),
            "mid:<a@b>|date:Mon, 1 Jan 2024 10:00:00 +0000|size:10"
        );
        assert_ne!(identity(h, 10), identity(h, 11));
        let folded = b"message-id:\r\n <a@b>\r\nDATE: Mon, 1 Jan 2024 10:00:00 +0000\r\n\r\n";
        assert_eq!(identity(folded, 10), identity(h, 10));
    }

    #[test]
    fn rules_differ_in_what_they_tolerate() {
        let h = b"Message-ID: <a@b>\r\nDate: d\r\nFrom: x\r\n\r\n";
        let tuid = b"Message-ID: <a@b>\r\nDate: d\r\nFrom: x\r\nX-TUID: abc\r\n\r\n";
        // A tool that adds a header changes the size, not Message-ID and Date.
        assert_ne!(
            IdentityRule::Strict.key(h, 30),
            IdentityRule::Strict.key(tuid, 43)
        );
        assert_eq!(
            IdentityRule::MessageId.key(h, 30),
            IdentityRule::MessageId.key(tuid, 43)
        );
        assert_eq!(
            IdentityRule::Headers.key(h, 30),
            IdentityRule::Headers.key(tuid, 30)
        );
        assert!(IdentityRule::Headers.key(h, 30).starts_with("hdr:"));
    }

    #[test]
    fn header_hash_without_message_id() {
        let a = b"From: x@y\r\nSubject: hi\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\n\r\n";
        let b = b"From: x@y\r\nSubject: ho\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\n\r\n";
        assert!(identity(a, 5).starts_with("hdr:"));
        assert_ne!(identity(a, 5), identity(b, 5));
        assert_eq!(identity(a, 5), identity(a, 5));
    }
}
