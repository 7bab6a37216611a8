//! Maildir file names and what goes with them (crates/mailstore/src/maildir.rs,
//! names.rs): the `key:2,letters` info suffix, `,W=` sizes, delivery times,
//! the `dovecot-keywords` file, folder levels on disk.
//!
//! Modes:
//! 0. arbitrary name and keywords file: parsing never panics; the key is the
//!    name up to the first ':'; every flag is a system flag or a keyword IMAP
//!    can carry (an atom without `\`), each once (ignoring case), at most
//!    5 + 26 of them;
//!    `dovecot-keywords` text -> slots -> text -> the same slots; a folder
//!    level read from disk decodes without panicking.
//! 1. flags -> file name -> flags: flags built from the input (system flags
//!    in any case, `\Recent`, keywords old and new) are turned into info
//!    letters the way a delivery does, appended to a key, and parsed back:
//!    the same set of flags (ignoring case), `\Recent` left out; keywords that
//!    did not fit (more than 26) are refused, never dropped silently.
//! 2. folder level round trip: `encode(level)` accepted -> `decode` gives it back.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailport_fuzz::{Gen, Input};
use mailport_mailstore::flags::{valid_keyword, SYSTEM};
use mailport_mailstore::fuzzing::{
    assign_keyword_letters, decode_folder_level, encode_folder_level, format_keywords, info_string,
    parse_file_name, parse_keywords, system_letters,
};

fn is_system(f: &str) -> bool {
    SYSTEM.iter().any(|(s, _)| *s == f)
}

fn arbitrary(data: &[u8]) {
    // Name and keywords file separated by the first NUL (neither can hold one).
    let (name, kw) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let name = String::from_utf8_lossy(name);
    let kw_text = String::from_utf8_lossy(kw);
    let slots = parse_keywords(&kw_text);
    assert_eq!(slots.len(), 26);
    assert_eq!(
        parse_keywords(&format_keywords(&slots)),
        slots,
        "dovecot-keywords does not read back"
    );
    let parsed = parse_file_name(&name, &slots);
    assert!(!parsed.key.contains(':'));
    assert!(name.starts_with(&parsed.key));
    assert!(
        parsed.flags.len() <= SYSTEM.len() + 26,
        "{:?}",
        parsed.flags
    );
    for (i, f) in parsed.flags.iter().enumerate() {
        assert!(
            is_system(f) || valid_keyword(f),
            "{name:?} gives flag {f:?}, which IMAP cannot carry"
        );
        assert!(
            !parsed.flags[..i].iter().any(|g| g.eq_ignore_ascii_case(f)),
            "{f:?} twice"
        );
    }
    if parsed.size.is_some() {
        assert!(parsed.key.contains(",W="));
    }
    for level in data.split(|&b| b == b'.' || b == b'/') {
        let _ = decode_folder_level(level);
    }
}

const KEYWORD_CHARS: &[u8] = b"abcXYZ$_-09:;+&.";

fn round_trip(g: &mut Gen) {
    let slots_text = String::from_utf8_lossy(g.bytes(200)).into_owned();
    let mut slots = parse_keywords(&slots_text);
    let filled = slots.iter().flatten().count();
    let existing: Vec<String> = slots
        .iter()
        .flatten()
        .filter(|k| valid_keyword(k))
        .cloned()
        .collect();
    let mut flags = Vec::new();
    for _ in 0..g.below(12) {
        let f = match g.below(5) {
            0 => {
                let (name, _) = SYSTEM[g.below(SYSTEM.len())];
                if g.bool() {
                    name.to_ascii_uppercase()
                } else {
                    name.to_string()
                }
            }
            1 => "\\Recent".to_string(),
            2 if !existing.is_empty() => existing[g.below(existing.len())].to_ascii_lowercase(),
            _ => g.word(KEYWORD_CHARS, 6),
        };
        flags.push(f);
    }
    let (mut letters, keywords) = system_letters(&flags).expect("only storable flags");
    let before = slots.clone();
    match assign_keyword_letters(&mut slots, "F", &keywords) {
        Ok((kw_letters, changed)) => {
            assert_eq!(changed, slots != before);
            letters.extend(kw_letters);
        }
        Err(_) => {
            // Refused only when the new keywords really do not fit in the free slots.
            let mut new: Vec<String> = Vec::new();
            for k in &keywords {
                let known = before.iter().flatten().any(|s| s.eq_ignore_ascii_case(k));
                if !known && !new.iter().any(|n| n.eq_ignore_ascii_case(k)) {
                    new.push(k.clone());
                }
            }
            assert!(
                new.len() > 26 - filled,
                "refused {keywords:?} with {before:?}"
            );
            return;
        }
    }
    // The keywords file as it would be rewritten reads back the same.
    assert_eq!(parse_keywords(&format_keywords(&slots)), slots);
    let info = info_string(letters);
    let key = format!("{}.M{}P1.host,S=1,W=2", g.u32(), g.u32() % 1_000_000);
    let name = format!("{key}:2,{info}");
    let parsed = parse_file_name(&name, &slots);
    assert_eq!(parsed.key, key);
    assert_eq!(parsed.size, Some(2));
    let norm = |v: &[String]| {
        let mut v: Vec<String> = v
            .iter()
            .filter(|f| !f.eq_ignore_ascii_case("\\Recent"))
            .map(|f| f.to_ascii_lowercase())
            .collect();
        v.sort();
        v.dedup();
        v
    };
    assert_eq!(norm(&parsed.flags), norm(&flags), "{name:?} with {slots:?}");
}

fn folder_level(data: &[u8]) {
    let level = String::from_utf8_lossy(data);
    for sep in [None, Some('.'), Some('/')] {
        if let Ok(e) = encode_folder_level(&level, sep) {
            assert!(!e.is_empty());
            if let Some(sep) = sep {
                assert!(!e.contains(sep));
            }
            assert_eq!(decode_folder_level(e.as_bytes()), level, "{e:?}");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let input = Input::split(data, 3);
    match input.mode {
        0 => arbitrary(input.payload),
        1 => round_trip(&mut Gen::new(input.payload)),
        _ => folder_level(input.payload),
    }
});
