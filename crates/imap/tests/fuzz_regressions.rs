//! Inputs that failed a fuzz target's properties (fuzz/, docs/FUZZING.md),
//! kept as they were found. Each must stay fixed. The INTERNALDATE one is in
//! crates/mail/tests/fuzz_regressions.rs.

use mailport_imap::parse::{parse_response, Response};

/// imap_response, mode 0 (minimised crash input `\SB\0Y[)] NO`): the tag was
/// read as an atom, whose bracket balancing let `)` and spaces into it, so
/// `[)] NO` was a tagged NO with tag `[)]`. RFC 3501: a tag is astring
/// characters, no parentheses or spaces.
#[test]
fn a_tag_holds_no_parenthesis_or_space() {
    assert!(parse_response(b"[)] NO").is_err());
    assert!(parse_response(b"BODY[HEADER.FIELDS (MESSAGE-ID)]een0 OK 000000\r\n").is_err());
    assert!(parse_response(b"a(b OK done\r\n").is_err());
    // Brackets alone are allowed in a tag; our own tags are still read.
    let Ok(Response::Tagged { tag, .. }) = parse_response(b"a[1] OK done\r\n") else {
        panic!()
    };
    assert_eq!(tag, "a[1]");
    let Ok(Response::Tagged { tag, .. }) = parse_response(b"m12 OK done\r\n") else {
        panic!()
    };
    assert_eq!(tag, "m12");
}
