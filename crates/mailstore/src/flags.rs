//! IMAP system flags and their Maildir info letters (the `:2,` suffix).
//!
//! Maildir has letters for five of IMAP's system flags; `P` (passed) has no
//! IMAP counterpart and Dovecot ignores it, so it is read as nothing. Lowercase
//! letters are keywords, numbered by the folder's `dovecot-keywords` file.

/// IMAP system flag -> Maildir letter, in the letters' sort order.
pub const SYSTEM: [(&str, u8); 5] = [
    ("\\Draft", b'D'),
    ("\\Flagged", b'F'),
    ("\\Answered", b'R'),
    ("\\Seen", b'S'),
    ("\\Deleted", b'T'),
];

/// The Maildir letter of a system flag (case-insensitive), if it has one.
pub fn letter_of(flag: &str) -> Option<u8> {
    SYSTEM
        .iter()
        .find(|(f, _)| f.eq_ignore_ascii_case(flag))
        .map(|&(_, l)| l)
}

/// The IMAP system flag of an uppercase Maildir letter.
pub fn flag_of(letter: u8) -> Option<&'static str> {
    SYSTEM.iter().find(|&&(_, l)| l == letter).map(|&(f, _)| f)
}

/// A keyword as IMAP allows it (an atom without `\`), so that it can be a line
/// of `dovecot-keywords` and be served again.
pub fn valid_keyword(k: &str) -> bool {
    !k.is_empty()
        && k.bytes().all(|b| {
            b > 0x20
                && b < 0x7f
                && !matches!(b, b'(' | b')' | b'{' | b'%' | b'*' | b'"' | b'\\' | b']')
        })
}
