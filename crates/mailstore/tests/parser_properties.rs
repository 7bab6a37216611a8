//! Property tests of the Maildir name parsing and the mbox reader (the quick,
//! every-`cargo test` side of the fuzz targets maildir_filename and
//! mbox_reader; docs/FUZZING.md). The mboxrd write/read round trip is in
//! src/mbox.rs.

use mailport_mailstore::flags::{valid_keyword, SYSTEM};
use mailport_mailstore::fuzzing::{
    assign_keyword_letters, decode_folder_level, encode_folder_level, format_keywords,
    from_line_date, info_string, parse_file_name, parse_keywords, system_letters, to_crlf,
};
use mailport_mailstore::{Mbox, Variant};
use proptest::prelude::*;
use tokio::io::AsyncReadExt;

fn flag() -> impl Strategy<Value = String> {
    prop_oneof![
        (0..SYSTEM.len(), any::<bool>()).prop_map(|(i, upper)| {
            let f = SYSTEM[i].0;
            if upper {
                f.to_ascii_uppercase()
            } else {
                f.to_string()
            }
        }),
        Just("\\Recent".to_string()),
        "[a-zA-Z$_][a-zA-Z0-9$_.:&-]{0,8}",
    ]
}

fn normalized(flags: &[String]) -> Vec<String> {
    let mut v: Vec<String> = flags
        .iter()
        .filter(|f| !f.eq_ignore_ascii_case("\\Recent"))
        .map(|f| f.to_ascii_lowercase())
        .collect();
    v.sort();
    v.dedup();
    v
}

fn mbox_line() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(b"From a@b Thu Jan  1 00:00:00 1970\n".to_vec()),
        Just(b"From \n".to_vec()),
        Just(b">From x\n".to_vec()),
        Just(b"Content-Length: 5\n".to_vec()),
        Just(b"Status: RO\n".to_vec()),
        Just(b"X-Keywords: a b\n".to_vec()),
        Just(b" folded\n".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"\r\n".to_vec()),
        proptest::collection::vec(any::<u8>(), 0..30),
    ]
}

fn read_all(data: &[u8], variant: Variant) -> Vec<(u64, Vec<u8>)> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mbox");
    std::fs::write(&path, data).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let Ok(mbox) = Mbox::open_with(&path, variant).await else {
            assert!(!data.starts_with(b"From "));
            return Vec::new();
        };
        let mut out = Vec::new();
        for m in mbox.messages() {
            let mut bytes = Vec::new();
            let mut s = mbox.open_message(m).await.unwrap();
            s.read_to_end(&mut bytes).await.unwrap();
            out.push((m.size, bytes));
        }
        out
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Flags -> `:2,` letters (keywords numbered in dovecot-keywords) -> file
    /// name -> flags: the same set, `\Recent` left out.
    #[test]
    fn maildir_flags_survive_the_file_name(
        flags in proptest::collection::vec(flag(), 0..12),
        keywords_file in proptest::collection::vec("[a-zA-Z$]{1,6}", 0..30),
        seconds in any::<u32>(),
    ) {
        let text: String = keywords_file
            .iter()
            .enumerate()
            .map(|(i, k)| format!("{i} {k}\n"))
            .collect();
        let mut slots = parse_keywords(&text);
        let (mut letters, keywords) = system_letters(&flags).unwrap();
        let Ok((kw, _)) = assign_keyword_letters(&mut slots, "F", &keywords) else {
            // More than 26 distinct keywords: refused, never dropped.
            return Ok(());
        };
        letters.extend(kw);
        prop_assert_eq!(parse_keywords(&format_keywords(&slots)), slots.clone());
        let key = format!("{seconds}.M1P2.host,S=10,W=12");
        let name = format!("{key}:2,{}", info_string(letters));
        let parsed = parse_file_name(&name, &slots);
        prop_assert_eq!(&parsed.key, &key);
        prop_assert_eq!(parsed.size, Some(12));
        prop_assert_eq!(parsed.delivery, (i64::from(seconds), 1));
        prop_assert_eq!(normalized(&parsed.flags), normalized(&flags));
    }

    /// Any name with any keywords file: no panic, only flags IMAP can carry,
    /// each once; the key is the name up to the info part.
    #[test]
    fn maildir_names_never_panic(name in "\\PC{0,40}", keywords_file in "\\PC{0,80}") {
        let slots = parse_keywords(&keywords_file);
        prop_assert_eq!(parse_keywords(&format_keywords(&slots)), slots.clone());
        let parsed = parse_file_name(&name, &slots);
        prop_assert!(name.starts_with(&parsed.key) && !parsed.key.contains(':'));
        for (i, f) in parsed.flags.iter().enumerate() {
            prop_assert!(SYSTEM.iter().any(|(s, _)| s == f) || valid_keyword(f), "{:?}", f);
            prop_assert!(!parsed.flags[..i].iter().any(|g| g.eq_ignore_ascii_case(f)), "{:?} twice", f);
        }
    }

    /// A folder level Maildir can hold reads back as itself.
    #[test]
    fn folder_levels_round_trip(level in "\\PC{1,20}") {
        for sep in [None, Some('.'), Some('/')] {
            if let Ok(e) = encode_folder_level(&level, sep) {
                prop_assert_eq!(decode_folder_level(e.as_bytes()), level.clone());
            }
        }
    }

    /// From_ lines of any shape: a date or None, never a panic.
    #[test]
    fn from_line_dates_never_panic(
        line in "From [a-z@.]{0,8} [A-Za-z, ]{0,8}[ 0-9]{0,4} [+-]?[0-9]{0,20}:[+-]?[0-9]{0,20}(:[0-9]{0,20})? [+-]?[0-9A-Z]{0,20} \\PC{0,10}",
    ) {
        let _ = from_line_date(line.as_bytes());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Any file read as an mbox: no panic; every message streams exactly its
    /// size, CRLF only, and all of them together at most twice the file.
    #[test]
    fn any_mbox_file_reads_safely(
        lines in proptest::collection::vec(mbox_line(), 0..30),
        mboxo in any::<bool>(),
    ) {
        let mut data = b"From a@b Thu Jan  1 00:00:00 1970\n".to_vec();
        data.extend(lines.concat());
        let variant = if mboxo { Variant::Mboxo } else { Variant::Mboxrd };
        let mut total = 0;
        for (size, bytes) in read_all(&data, variant) {
            prop_assert_eq!(size, bytes.len() as u64);
            let mut crlf = Vec::new();
            to_crlf(&bytes, &mut false, &mut crlf);
            prop_assert_eq!(&crlf, &bytes, "a bare LF was served");
            total += size;
        }
        prop_assert!(total <= 2 * data.len() as u64);
    }
}
