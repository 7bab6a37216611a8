//! Modified UTF-7 for mailbox names (RFC 3501 section 5.1.3).
//!
//! ```text
//! printable US-ASCII 0x20..=0x7e except '&' stand for themselves;
//! '&' is written "&-";
//! other characters: '&' + modified BASE64 of UTF-16BE + '-'
//!   (alphabet A-Z a-z 0-9 + , ; no padding)
//! ```

use std::fmt;

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

/// A name that is not valid modified UTF-7.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Utf7Error {
    /// The offending name, lossily shown.
    pub name: String,
    pub reason: &'static str,
}

impl fmt::Display for Utf7Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "mailbox name {:?} is not valid modified UTF-7: {}",
            self.name, self.reason
        )
    }
}

impl std::error::Error for Utf7Error {}

/// Encodes a Unicode mailbox name to modified UTF-7.
pub fn encode(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut pending: Vec<u16> = Vec::new();
    for ch in name.chars() {
        if (' '..='~').contains(&ch) {
            flush(&mut pending, &mut out);
            if ch == '&' {
                out.push_str("&-");
            } else {
                out.push(ch);
            }
        } else {
            let mut buf = [0u16; 2];
            pending.extend_from_slice(ch.encode_utf16(&mut buf));
        }
    }
    flush(&mut pending, &mut out);
    out
}

fn flush(pending: &mut Vec<u16>, out: &mut String) {
    if pending.is_empty() {
        return;
    }
    let bytes: Vec<u8> = pending.iter().flat_map(|u| u.to_be_bytes()).collect();
    out.push('&');
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = chunk.len() + 1;
        for i in 0..chars {
            let idx = (n >> (18 - 6 * i)) & 0x3f;
            out.push(ALPHABET[idx as usize] as char);
        }
    }
    out.push('-');
    pending.clear();
}

fn decode_b64(c: u8) -> Option<u32> {
    ALPHABET.iter().position(|&a| a == c).map(|p| p as u32)
}

/// Decodes a modified UTF-7 mailbox name.
///
/// Strict: rejects non-ASCII bytes, unterminated shifts, bad base64,
/// non-zero padding bits and shifted runs of printable ASCII, so that
/// `encode(decode(x)) == x` for every accepted `x`.
pub fn decode(name: &[u8]) -> Result<String, Utf7Error> {
    let err = |reason| Utf7Error {
        name: String::from_utf8_lossy(name).into_owned(),
        reason,
    };
    let mut out = String::with_capacity(name.len());
    let mut i = 0;
    while i < name.len() {
        let c = name[i];
        if !(0x20..=0x7e).contains(&c) {
            return Err(err("contains a byte outside printable US-ASCII"));
        }
        if c != b'&' {
            out.push(c as char);
            i += 1;
            continue;
        }
        let end = name[i + 1..]
            .iter()
            .position(|&b| b == b'-')
            .map(|p| i + 1 + p)
            .ok_or_else(|| err("'&' shift is not closed by '-'"))?;
        let run = &name[i + 1..end];
        i = end + 1;
        if run.is_empty() {
            out.push('&');
            continue;
        }
        let mut bits: u32 = 0;
        let mut nbits = 0;
        let mut units: Vec<u16> = Vec::new();
        let mut bytes: Vec<u8> = Vec::new();
        for &b in run {
            let v = decode_b64(b).ok_or_else(|| err("invalid character in base64 run"))?;
            bits = (bits << 6) | v;
            nbits += 6;
            if nbits >= 8 {
                nbits -= 8;
                bytes.push((bits >> nbits) as u8);
                bits &= (1 << nbits) - 1;
            }
        }
        if bits != 0 || nbits >= 6 {
            return Err(err("base64 run has leftover bits"));
        }
        if !bytes.len().is_multiple_of(2) {
            return Err(err("base64 run is not whole UTF-16 units"));
        }
        for pair in bytes.chunks(2) {
            units.push(u16::from_be_bytes([pair[0], pair[1]]));
        }
        let decoded =
            String::from_utf16(&units).map_err(|_| err("invalid UTF-16 in base64 run"))?;
        if decoded.chars().any(|c| (' '..='~').contains(&c)) {
            return Err(err("printable ASCII must not be base64-encoded"));
        }
        out.push_str(&decoded);
        // Two adjacent shifted runs must have been one run.
        if name.get(i) == Some(&b'&') && name.get(i + 1) != Some(&b'-') {
            return Err(err("adjacent base64 runs"));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rfc3501_known_answers() {
        // RFC 3501 5.1.3 example.
        assert_eq!(
            decode(b"~peter/mail/&U,BTFw-/&ZeVnLIqe-").unwrap(),
            "~peter/mail/\u{53f0}\u{5317}/\u{65e5}\u{672c}\u{8a9e}"
        );
        assert_eq!(
            encode("~peter/mail/\u{53f0}\u{5317}/\u{65e5}\u{672c}\u{8a9e}"),
            "~peter/mail/&U,BTFw-/&ZeVnLIqe-"
        );
        assert_eq!(encode("&"), "&-");
        assert_eq!(decode(b"&-").unwrap(), "&");
    }

    #[test]
    fn common_names() {
        assert_eq!(encode("Entwürfe"), "Entw&APw-rfe");
        assert_eq!(encode("Envoyés"), "Envoy&AOk-s");
        assert_eq!(encode("a\u{3000}b"), "a&MAA-b");
        assert_eq!(decode(b"a&MAA-b").unwrap(), "a\u{3000}b");
        // Emoji: a surrogate pair.
        assert_eq!(decode(encode("📧").as_bytes()).unwrap(), "📧");
        assert_eq!(encode("📧"), "&2D3c5w-");
    }

    #[test]
    fn rejects_malformed() {
        assert!(decode(b"&U,BTFw").is_err());
        assert!(decode(b"&*-").is_err());
        assert!(decode("Entwürfe".as_bytes()).is_err());
        assert!(decode(b"&AGE-").is_err()); // 'a' shifted
        assert!(decode(b"&APw-&APw-").is_err());
    }

    proptest! {
        #[test]
        fn round_trip(s in "\\PC*") {
            let e = encode(&s);
            prop_assert!(e.bytes().all(|b| (0x20..=0x7e).contains(&b)));
            prop_assert_eq!(decode(e.as_bytes()).unwrap(), s);
        }

        #[test]
        fn decode_then_encode_is_identity(bytes in proptest::collection::vec(0x20u8..0x7f, 0..40)) {
            if let Ok(s) = decode(&bytes) {
                prop_assert_eq!(encode(&s).into_bytes(), bytes);
            }
        }
    }
}
