//! IMAP responses (crates/imap/src/parse.rs) and the client's framing of them
//! (crates/imap/src/client.rs: lines, literals, streaming BODY[] FETCH).
//!
//! Modes:
//! 0. arbitrary bytes into the sans-I/O parser, `trailing_literal`,
//!    `body_literal_prefix` and the INTERNALDATE parser (crates/mail/src/
//!    date.rs; the whole input, and every string of a parsed response): no
//!    panic; what comes out is bounded by what went in (bytes, list depth); a
//!    tagged response's tag is a non-empty atom; a date that parses keeps its
//!    instant through `format_internal_date`.
//! 1. generated well-formed responses (tagged with response codes, untagged
//!    status, numeric, FETCH with atoms, quoted strings, literals, NIL and
//!    nested lists, LIST/LSUB, CAPABILITY, NAMESPACE, continuation) are
//!    written out and must parse back to exactly what was generated.
//! 2. arbitrary server bytes, in fuzzer-chosen pieces, into a client running
//!    LIST, SELECT, metadata FETCH and a streaming BODY[] FETCH: no panic, no
//!    hang (every step consumes input or ends), no body longer than announced,
//!    never more bytes handed out than came in.
//! 3. generated bodies served as FETCH literals or quoted strings, with
//!    unsolicited responses in between, in fuzzer-chosen pieces: the client
//!    streams back exactly those bodies, UIDs and sequence numbers.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailport_fuzz::{block_on, Gen, Input, Pieces, Wire};
use mailport_imap::parse::{
    body_literal_prefix, parse_response, trailing_literal, RespText, Response, Status, Untagged,
    Value,
};
use mailport_imap::{Client, ClientConfig};
use mailport_mail::date::{format_internal_date, parse_internal_date};

// ---- mode 0 -------------------------------------------------------------

fn value_size(v: &Value, depth: usize) -> usize {
    assert!(depth <= 33, "list nested deeper than the parser allows");
    match v {
        Value::Atom(b) | Value::Str(b) => b.len(),
        Value::Nil => 3,
        Value::List(l) => 2 + l.iter().map(|v| value_size(v, depth + 1)).sum::<usize>(),
    }
}

fn text_size(t: &RespText) -> usize {
    t.code.as_ref().map_or(0, String::len)
        + t.code_args.iter().map(|v| value_size(v, 0)).sum::<usize>()
        + t.text.len()
}

fn response_size(r: &Response) -> usize {
    let strs = |v: &[String]| v.iter().map(String::len).sum::<usize>();
    match r {
        Response::Continuation(t) => t.len(),
        Response::Tagged { tag, text, .. } => tag.len() + text_size(text),
        Response::Untagged(u) => match u {
            Untagged::Status { text, .. } => text_size(text),
            Untagged::Capability(c) | Untagged::Flags(c) | Untagged::Enabled(c) => strs(c),
            Untagged::List {
                attributes, name, ..
            } => strs(attributes) + name.len(),
            Untagged::Namespace(groups) => groups
                .iter()
                .flatten()
                .map(|(p, _)| p.len() + 1)
                .sum::<usize>(),
            Untagged::Exists(_) | Untagged::Recent(_) | Untagged::Expunge(_) => 0,
            Untagged::Fetch { items, .. } => items
                .iter()
                .map(|(k, v)| k.len() + value_size(v, 0))
                .sum::<usize>(),
            Untagged::Other { name, args } => {
                name.len() + args.iter().map(|v| value_size(v, 0)).sum::<usize>()
            }
        },
    }
}

/// Every string and atom of a value, depth first.
fn strings<'a>(v: &'a Value, out: &mut Vec<&'a [u8]>) {
    match v {
        Value::Atom(b) | Value::Str(b) => out.push(b),
        Value::Nil => {}
        Value::List(l) => l.iter().for_each(|v| strings(v, out)),
    }
}

fn date(s: &[u8]) {
    let s = String::from_utf8_lossy(s);
    if let Some(t) = parse_internal_date(&s) {
        // RFC 3501 date-year is 4 digits; format_internal_date writes those.
        let min = -62_167_219_200; // 0000-01-01T00:00:00Z
        let max = 253_402_300_799; // 9999-12-31T23:59:59Z
        if (min..=max).contains(&t) {
            let f = format_internal_date(t);
            assert_eq!(parse_internal_date(&f), Some(t), "{s:?} -> {t} -> {f:?}");
        }
    }
}

fn arbitrary(data: &[u8]) {
    date(data);
    if let Ok(r) = parse_response(data) {
        if let Response::Untagged(Untagged::Fetch { items, .. }) = &r {
            let mut all = Vec::new();
            items.iter().for_each(|(_, v)| strings(v, &mut all));
            all.into_iter().for_each(date);
        }
        // Lossy UTF-8 turns one bad byte into three; nothing grows more.
        assert!(response_size(&r) <= 3 * data.len() + 3, "{r:?}");
        if let Response::Tagged { tag, .. } = &r {
            assert!(!tag.is_empty() && !tag.contains([' ', '(', ')', '\r', '\n']));
        }
    }
    let line = data
        .strip_suffix(b"\r\n")
        .or_else(|| data.strip_suffix(b"\n"))
        .unwrap_or(data);
    if trailing_literal(line).is_some() {
        assert!(line.ends_with(b"}"));
    }
    if body_literal_prefix(line).is_some() {
        assert!(line.len() >= 2 && line[..2].eq_ignore_ascii_case(b"* "));
        assert!(line.contains(&b'{'));
    }
}

// ---- mode 1 -------------------------------------------------------------

const ATOM_CHARS: &[u8] = b"ABCXYZabcxyz0189.-_:$\\*+<>/%";
const TEXT_CHARS: &[u8] = b"ABCxyz019 .,:;!?()[]{}\"\\/*+-=";
const FIXED_ATOMS: [&str; 5] = [
    "BODY[]",
    "BODY[HEADER.FIELDS (MESSAGE-ID DATE)]",
    "BODY[]<0>",
    "BINARY.SIZE[1]",
    "\\Seen",
];

fn atom(g: &mut Gen) -> Vec<u8> {
    if g.below(6) == 0 {
        return FIXED_ATOMS[g.below(FIXED_ATOMS.len())].as_bytes().to_vec();
    }
    let mut a = g.word(ATOM_CHARS, 10).into_bytes();
    if a.eq_ignore_ascii_case(b"NIL") {
        a.push(b'x');
    }
    a
}

fn value(g: &mut Gen, depth: usize) -> Value {
    match g.below(if depth >= 4 { 3 } else { 4 }) {
        0 => Value::Atom(atom(g)),
        1 => Value::Str(g.bytes(24).to_vec()),
        2 => Value::Nil,
        _ => Value::List((0..g.below(5)).map(|_| value(g, depth + 1)).collect()),
    }
}

/// A string as the server would send it: quoted when it can be, else (or
/// when `g` says so) a literal.
fn write_str(out: &mut Vec<u8>, s: &[u8], literal: bool) {
    if literal || s.iter().any(|&b| matches!(b, b'\r' | b'\n' | 0)) {
        out.extend_from_slice(format!("{{{}}}\r\n", s.len()).as_bytes());
        out.extend_from_slice(s);
    } else {
        // The crate's own quoting.
        out.extend(mailport_imap::client::quote(s).expect("no CR, LF or NUL"));
    }
}

fn write_value(out: &mut Vec<u8>, v: &Value, g: &mut Gen) {
    match v {
        Value::Atom(a) => out.extend_from_slice(a),
        Value::Str(s) => write_str(out, s, g.bool()),
        Value::Nil => out.extend_from_slice(if g.bool() { b"NIL" } else { b"nil" }),
        Value::List(l) => {
            out.push(b'(');
            for (i, v) in l.iter().enumerate() {
                if i > 0 {
                    out.push(b' ');
                }
                write_value(out, v, g);
            }
            out.push(b')');
        }
    }
}

fn resp_text(g: &mut Gen, out: &mut Vec<u8>) -> RespText {
    let mut rt = RespText::default();
    if g.bool() {
        let code = g.word(b"ABCDEFUIDNEXT-0123", 12);
        out.extend_from_slice(b"[");
        out.extend_from_slice(code.as_bytes());
        rt.code = Some(code.to_ascii_uppercase());
        for _ in 0..g.below(4) {
            let v = value(g, 1);
            out.push(b' ');
            write_value(out, &v, g);
            rt.code_args.push(v);
        }
        out.extend_from_slice(b"] ");
    }
    // Text: printable, not starting with '[' or a space (both would be read
    // as something else).
    let mut text = g.word(TEXT_CHARS, 30);
    while text.starts_with([' ', '[']) {
        text.remove(0);
    }
    out.extend_from_slice(text.as_bytes());
    rt.text = text;
    rt
}

const STATUS: [(Status, &str); 5] = [
    (Status::Ok, "OK"),
    (Status::No, "no"),
    (Status::Bad, "BAD"),
    (Status::Bye, "BYE"),
    (Status::PreAuth, "PREAUTH"),
];

fn generated(g: &mut Gen) {
    let mut out = Vec::new();
    let want = match g.below(9) {
        0 => {
            let mut tag = g.word(b"Aa019.xyz", 8);
            if tag.starts_with(['+', '*']) {
                tag.insert(0, 'a');
            }
            let (status, word) = STATUS[g.below(3)];
            out.extend_from_slice(format!("{tag} {word} ").as_bytes());
            let text = resp_text(g, &mut out);
            Response::Tagged { tag, status, text }
        }
        1 => {
            let (status, word) = STATUS[g.below(5)];
            out.extend_from_slice(format!("* {word} ").as_bytes());
            let text = resp_text(g, &mut out);
            Response::Untagged(Untagged::Status { status, text })
        }
        2 => {
            let n = g.u32();
            let (word, u) = match g.below(3) {
                0 => ("EXISTS", Untagged::Exists(n)),
                1 => ("recent", Untagged::Recent(n)),
                _ => ("EXPUNGE", Untagged::Expunge(n)),
            };
            out.extend_from_slice(format!("* {n} {word}").as_bytes());
            Response::Untagged(u)
        }
        3 => {
            let seq = g.u32();
            out.extend_from_slice(format!("* {seq} FETCH (").as_bytes());
            let mut items = Vec::new();
            for i in 0..g.below(6) {
                if i > 0 {
                    out.push(b' ');
                }
                let k = atom(g);
                let v = value(g, 1);
                out.extend_from_slice(&k);
                out.push(b' ');
                write_value(&mut out, &v, g);
                items.push((String::from_utf8(k).unwrap().to_ascii_uppercase(), v));
            }
            out.push(b')');
            Response::Untagged(Untagged::Fetch { seq, items })
        }
        4 => {
            let lsub = g.bool();
            out.extend_from_slice(if lsub { b"* LSUB (" } else { b"* list (" });
            let attributes: Vec<String> = (0..g.below(4))
                .map(|_| format!("\\{}", g.word(b"HasNoChildrenSentJunk", 10)))
                .collect();
            out.extend_from_slice(attributes.join(" ").as_bytes());
            out.extend_from_slice(b") ");
            let delimiter = match g.below(4) {
                0 => None,
                _ => Some(g.byte() & 0x7f),
            };
            match delimiter {
                None => out.extend_from_slice(b"NIL"),
                Some(d) => write_str(&mut out, &[d], d == b'\r' || d == b'\n'),
            }
            out.push(b' ');
            let name = g.bytes(30).to_vec();
            write_str(&mut out, &name, g.bool());
            Response::Untagged(Untagged::List {
                lsub,
                attributes,
                delimiter,
                name,
            })
        }
        5 => {
            let caps: Vec<String> = (0..g.below(8))
                .map(|_| g.word(b"IMAP4rev1UTF8=ACCEPTliteral+-", 12))
                .collect();
            out.extend_from_slice(b"* CAPABILITY");
            for c in &caps {
                out.push(b' ');
                out.extend_from_slice(c.as_bytes());
            }
            Response::Untagged(Untagged::Capability(
                caps.iter().map(|c| c.to_ascii_uppercase()).collect(),
            ))
        }
        6 => {
            out.extend_from_slice(b"* NAMESPACE");
            let mut groups: [Vec<(Vec<u8>, Option<u8>)>; 3] = Default::default();
            for group in &mut groups {
                out.push(b' ');
                if g.below(3) == 0 {
                    out.extend_from_slice(b"NIL");
                    continue;
                }
                out.push(b'(');
                for _ in 0..1 + g.below(3) {
                    let prefix = g.bytes(12).to_vec();
                    let delim = g.bool().then(|| b"./"[g.below(2)]);
                    out.push(b'(');
                    write_str(&mut out, &prefix, g.bool());
                    out.push(b' ');
                    match delim {
                        Some(d) => write_str(&mut out, &[d], false),
                        None => out.extend_from_slice(b"NIL"),
                    }
                    out.push(b')');
                    group.push((prefix, delim));
                }
                out.push(b')');
            }
            Response::Untagged(Untagged::Namespace(groups))
        }
        7 => {
            let mut text = g.word(TEXT_CHARS, 40);
            while text.starts_with(' ') {
                text.remove(0);
            }
            out.extend_from_slice(format!("+ {text}").as_bytes());
            Response::Continuation(text)
        }
        _ => {
            // SEARCH, STATUS, ID...: kept as values.
            let name = g.word(b"SEARCHTUIDX", 8).to_ascii_uppercase();
            out.extend_from_slice(format!("* {name}").as_bytes());
            let mut args = Vec::new();
            for _ in 0..g.below(6) {
                let v = value(g, 0);
                out.push(b' ');
                write_value(&mut out, &v, g);
                args.push(v);
            }
            let known = matches!(
                name.as_str(),
                "CAPABILITY" | "ENABLED" | "FLAGS" | "LIST" | "LSUB" | "NAMESPACE"
            ) || status_word(&name);
            if known {
                return;
            }
            Response::Untagged(Untagged::Other { name, args })
        }
    };
    out.extend_from_slice(b"\r\n");
    match parse_response(&out) {
        Ok(got) => assert_eq!(got, want, "{:?}", String::from_utf8_lossy(&out)),
        Err(e) => panic!("{:?} does not parse: {e}", String::from_utf8_lossy(&out)),
    }
}

fn status_word(w: &str) -> bool {
    matches!(w, "OK" | "NO" | "BAD" | "BYE" | "PREAUTH")
}

// ---- modes 2 and 3: the client over a stream ---------------------------

fn config() -> ClientConfig {
    ClientConfig {
        max_buffered_literal: 64 << 10,
        max_line: 8 << 10,
        ..Default::default()
    }
}

/// Reads every body of a streaming fetch in pieces of `room` bytes.
async fn read_bodies(
    c: &mut Client<Wire<'_>>,
    input_len: usize,
    mut rooms: Pieces,
) -> Result<Vec<(u32, Option<u32>, Vec<u8>)>, mailport_imap::Error> {
    let mut bodies = Vec::new();
    let mut total = 0usize;
    let mut steps = 0usize;
    while let Some(start) = c.body_next().await? {
        let mut body = Vec::new();
        let mut buf = vec![0u8; rooms.next_size()];
        loop {
            steps += 1;
            assert!(steps <= 2 * input_len + 16, "no progress");
            let n = c.body_read(&mut buf).await?;
            assert!(n <= buf.len());
            if n == 0 {
                break;
            }
            body.extend_from_slice(&buf[..n]);
        }
        assert_eq!(
            body.len() as u64,
            start.len,
            "body shorter or longer than announced"
        );
        total += body.len();
        assert!(total <= input_len, "more body bytes than the server sent");
        bodies.push((start.seq, start.uid, body));
    }
    Ok(bodies)
}

fn client_arbitrary(input: &Input) {
    let data = input.payload;
    let mut script =
        b"* OK [CAPABILITY IMAP4rev1 SPECIAL-USE LIST-EXTENDED CONDSTORE] hi\r\n".to_vec();
    script.extend_from_slice(data);
    block_on(async {
        let wire = Wire::new(&script, input.pieces);
        let Ok((mut c, _)) = Client::connect(wire, config()).await else {
            return;
        };
        // Whatever happens, each call ends; errors are expected.
        let _ = c.list_all().await;
        let _ = c.examine_condstore(b"INBOX").await;
        let _ = c.fetch_meta("1:*", &["Message-ID"]).await;
        if c.body_fetch_start("1:*").await.is_ok() {
            let _ = read_bodies(&mut c, script.len(), input.pieces).await;
        }
    });
}

fn client_round_trip(input: &Input) {
    let mut g = Gen::new(input.payload);
    let mut script = b"* OK ready\r\n".to_vec();
    let mut want = Vec::new();
    for _ in 0..g.below(6) {
        // Unsolicited responses are allowed anywhere.
        match g.below(4) {
            0 => script.extend_from_slice(b"* 9 EXISTS\r\n"),
            1 => script.extend_from_slice(b"* 2 FETCH (FLAGS (\\Seen))\r\n"),
            _ => {}
        }
        let seq = 1 + g.u32() % 1000;
        let uid = g.bool().then(|| 1 + g.u32() % 100_000);
        let body = g.bytes(300).to_vec();
        let quoted = g.below(4) == 0
            && !body
                .iter()
                .any(|&b| matches!(b, b'\r' | b'\n' | b'"' | b'\\'));
        let uid_item = uid.map(|u| format!("UID {u} ")).unwrap_or_default();
        script.extend_from_slice(format!("* {seq} FETCH ({uid_item}BODY[] ").as_bytes());
        if quoted {
            script.push(b'"');
            script.extend_from_slice(&body);
            script.push(b'"');
        } else {
            script.extend_from_slice(format!("{{{}}}\r\n", body.len()).as_bytes());
            script.extend_from_slice(&body);
        }
        script.extend_from_slice(b" FLAGS (\\Seen $Label1))\r\n");
        want.push((seq, uid, body));
    }
    script.extend_from_slice(b"m1 OK UID FETCH done\r\n");
    let got = block_on(async {
        let wire = Wire::new(&script, input.pieces);
        let (mut c, _) = Client::connect(wire, config()).await.expect("greeting");
        c.body_fetch_start("1:*").await.expect("send");
        read_bodies(&mut c, script.len(), input.pieces).await
    });
    match got {
        Ok(got) => assert_eq!(got, want),
        Err(e) => panic!("{e}: {:?}", String::from_utf8_lossy(&script)),
    }
}

fuzz_target!(|data: &[u8]| {
    let input = Input::split(data, 4);
    match input.mode {
        0 => arbitrary(input.payload),
        1 => generated(&mut Gen::new(input.payload)),
        2 => client_arbitrary(&input),
        _ => client_round_trip(&input),
    }
});
