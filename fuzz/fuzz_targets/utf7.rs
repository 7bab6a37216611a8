//! Modified UTF-7 mailbox names (crates/mail/src/utf7.rs).
//!
//! Properties:
//! - `decode` never panics on any bytes; what it accepts it accepts exactly:
//!   `encode(decode(x)) == x` (the strictness its doc promises), and the
//!   result is no longer (in chars) than the input;
//! - for every UTF-8 string s: `encode(s)` is printable US-ASCII, at most five
//!   bytes per input byte, and `decode(encode(s)) == s`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailport_mail::utf7::{decode, encode};

fuzz_target!(|data: &[u8]| {
    // Arbitrary bytes as a wire name.
    if let Ok(s) = decode(data) {
        assert!(s.chars().count() <= data.len(), "{data:?} -> {s:?}");
        assert_eq!(
            encode(&s).as_bytes(),
            data,
            "decode accepted a non-canonical name"
        );
    }
    // The same bytes as a Unicode name (lossily where not UTF-8).
    let s = String::from_utf8_lossy(data);
    let e = encode(&s);
    assert!(e.bytes().all(|b| (0x20..=0x7e).contains(&b)), "{e:?}");
    assert!(e.len() <= 5 * s.len(), "{s:?} -> {e:?}");
    assert_eq!(decode(e.as_bytes()).as_deref(), Ok(&*s), "{e:?}");
});
