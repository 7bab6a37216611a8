//! Property tests of the response parser (the quick, every-`cargo test` side
//! of the fuzz target imap_response; docs/FUZZING.md). INTERNALDATE's are in
//! crates/mail/tests/date_properties.rs.

use mailport_imap::parse::{
    body_literal_prefix, parse_response, trailing_literal, Response, Untagged, Value,
};
use proptest::prelude::*;

fn size(v: &Value) -> usize {
    match v {
        Value::Atom(b) | Value::Str(b) => b.len(),
        Value::Nil => 3,
        Value::List(l) => 2 + l.iter().map(size).sum::<usize>(),
    }
}

/// Atoms as servers write them (never `NIL`, which is no atom).
fn atom() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        "[A-Za-z$\\\\][A-Za-z0-9$.:_+-]{0,8}".prop_map(String::into_bytes),
        Just(b"BODY[]".to_vec()),
        Just(b"BODY[HEADER.FIELDS (MESSAGE-ID)]".to_vec()),
        Just(b"BODY[]<0>".to_vec()),
    ]
    .prop_filter("NIL is not an atom", |a| !a.eq_ignore_ascii_case(b"NIL"))
}

fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        atom().prop_map(Value::Atom),
        proptest::collection::vec(any::<u8>(), 0..20).prop_map(Value::Str),
        Just(Value::Nil),
    ];
    leaf.prop_recursive(4, 32, 5, |inner| {
        proptest::collection::vec(inner, 0..5).prop_map(Value::List)
    })
}

/// Writes `v` as a server would: strings quoted when they can be, else (or
/// when `literals`) as literals.
fn write(out: &mut Vec<u8>, v: &Value, literals: bool) {
    match v {
        Value::Atom(a) => out.extend_from_slice(a),
        Value::Str(s) if literals || s.iter().any(|b| matches!(b, b'\r' | b'\n' | 0)) => {
            out.extend_from_slice(format!("{{{}}}\r\n", s.len()).as_bytes());
            out.extend_from_slice(s);
        }
        // The crate's own quoting (no CR, LF or NUL here: those went to a literal).
        Value::Str(s) => out.extend(mailport_imap::client::quote(s).expect("quotable")),
        Value::Nil => out.extend_from_slice(b"NIL"),
        Value::List(l) => {
            out.push(b'(');
            for (i, v) in l.iter().enumerate() {
                if i > 0 {
                    out.push(b' ');
                }
                write(out, v, literals);
            }
            out.push(b')');
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Arbitrary bytes: an error or a response, never a panic, and nothing
    /// bigger than what came in (lossy UTF-8 at most triples a byte).
    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(r) = parse_response(&data) {
            let n = match &r {
                Response::Untagged(Untagged::Fetch { items, .. }) => {
                    items.iter().map(|(k, v)| k.len() + size(v)).sum()
                }
                Response::Untagged(Untagged::Other { args, .. }) => args.iter().map(size).sum(),
                _ => 0,
            };
            prop_assert!(n <= 3 * data.len());
        }
        let _ = trailing_literal(&data);
        let _ = body_literal_prefix(&data);
    }

    /// Lines made of IMAP's own punctuation, where the parser has to decide.
    #[test]
    fn imap_like_lines_never_panic(line in "[*+a-zA-Z0-9 ()\\[\\]{}\"\\\\<>.%\r\n]{0,80}") {
        let _ = parse_response(line.as_bytes());
        let _ = body_literal_prefix(line.as_bytes());
    }

    /// Well-formed FETCH responses (atoms, quoted strings, literals, NIL,
    /// nested lists) parse back to what was written.
    #[test]
    fn generated_fetch_responses_parse_back(
        seq in 1u32..,
        items in proptest::collection::vec((atom(), value()), 0..6),
        literals in any::<bool>(),
    ) {
        let mut wire = format!("* {seq} FETCH (").into_bytes();
        for (i, (k, v)) in items.iter().enumerate() {
            if i > 0 {
                wire.push(b' ');
            }
            wire.extend_from_slice(k);
            wire.push(b' ');
            write(&mut wire, v, literals);
        }
        wire.extend_from_slice(b")\r\n");
        let want: Vec<(String, Value)> = items
            .into_iter()
            .map(|(k, v)| (String::from_utf8(k).unwrap().to_ascii_uppercase(), v))
            .collect();
        prop_assert_eq!(
            parse_response(&wire).map_err(|e| e.to_string()),
            Ok(Response::Untagged(Untagged::Fetch { seq, items: want }))
        );
    }

    /// LIST with any name bytes and any one-byte delimiter.
    #[test]
    fn generated_list_responses_parse_back(
        name in proptest::collection::vec(any::<u8>(), 0..30),
        delimiter in proptest::option::of(0u8..0x80),
        literal in any::<bool>(),
    ) {
        let mut wire = b"* LIST (\\HasNoChildren) ".to_vec();
        match delimiter {
            Some(d) => write(&mut wire, &Value::Str(vec![d]), false),
            None => wire.extend_from_slice(b"NIL"),
        }
        wire.push(b' ');
        write(&mut wire, &Value::Str(name.clone()), literal);
        wire.extend_from_slice(b"\r\n");
        prop_assert_eq!(
            parse_response(&wire).map_err(|e| e.to_string()),
            Ok(Response::Untagged(Untagged::List {
                lsub: false,
                attributes: vec!["\\HasNoChildren".into()],
                delimiter,
                name,
            }))
        );
    }
}
