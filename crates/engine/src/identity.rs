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

/// The identity key of a message from its header fields and size.
pub fn identity(headers: &[u8], size: u64) -> String {
    let date = field(headers, "Date").unwrap_or_default();
    match field(headers, "Message-ID").filter(|m| !m.is_empty()) {
        Some(mid) => format!("mid:{mid}|date:{date}|size:{size}"),
        None => {
            let mut h = Sha256::new();
            for name in ["From", "To", "Subject", "Date"] {
                h.update(field(headers, name).unwrap_or_default().as_bytes());
                h.update([0]);
            }
            let digest: String = h.finalize()[..12]
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            format!("hdr:{digest}|size:{size}")
        }
    }
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
    fn header_hash_without_message_id() {
        let a = b"From: x@y\r\nSubject: hi\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\n\r\n";
        let b = b"From: x@y\r\nSubject: ho\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\n\r\n";
        assert!(identity(a, 5).starts_with("hdr:"));
        assert_ne!(identity(a, 5), identity(b, 5));
        assert_eq!(identity(a, 5), identity(a, 5));
    }
}
