//! POP3 multi-line answers: the dot-stuffing reader (crates/mail/src/dot.rs),
//! the streaming RETR client around it (crates/pop3/src/client.rs) and single
//! response lines (crates/pop3/src/response.rs).
//!
//! Modes:
//! 0. arbitrary wire bytes through `Unstuffer` in fuzzer-chosen input pieces
//!    and output room: the same body, the same end, as one call with room
//!    for everything; progress on every call; never more out than in; nothing
//!    consumed after the terminator.
//! 1. arbitrary body -> `stuff` -> pieces -> `Unstuffer`: the body comes back
//!    (plus the CRLF RFC 1939 requires at its end), and what follows the
//!    terminator is left untouched.
//! 2. arbitrary server bytes after a PIPELINING CAPA into the client's
//!    streaming RETR of three messages, in fuzzer-chosen pieces: no panic, no
//!    hang, `retr_read` never returns more than asked, never more bytes out
//!    than came in; plus the status-line, CAPA and APOP parsers on each line.
//! 3. generated messages served stuffed (with or without PIPELINING, some
//!    refused with -ERR): the client streams back exactly those bodies.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailport_fuzz::{block_on, pieces, Gen, Input, Pieces, Wire};
use mailport_mail::dot::{stuff, Unstuffer};
use mailport_pop3::response::{apop_timestamp, parse_line, Capability, Line};
use mailport_pop3::{Client, ClientConfig, Error};

/// Decodes `wire` fed in `input` pieces into an output buffer whose size
/// changes with `room`. Returns (body, bytes of `wire` consumed, done).
fn unstuff(wire: &[u8], input: Pieces, mut room: Pieces) -> (Vec<u8>, usize, bool) {
    let mut u = Unstuffer::new();
    let mut body = Vec::new();
    let mut consumed = 0;
    for piece in pieces(wire, input) {
        let mut rest = piece;
        while !rest.is_empty() && !u.is_done() {
            let mut out = vec![0u8; room.next_size()];
            let (used, made) = u.decode(rest, &mut out);
            assert!(used > 0 || made > 0, "no progress");
            assert!(used <= rest.len() && made <= out.len());
            body.extend_from_slice(&out[..made]);
            rest = &rest[used..];
            consumed += used;
        }
        if u.is_done() {
            break;
        }
    }
    if u.is_done() {
        // Nothing more is taken once the terminator was seen.
        assert_eq!(u.decode(b"+OK\r\n", &mut [0u8; 8]), (0, 0));
    }
    assert!(body.len() <= consumed);
    (body, consumed, u.is_done())
}

fn arbitrary_wire(input: &Input) {
    let wire = input.payload;
    let mut u = Unstuffer::new();
    let mut whole = vec![0u8; wire.len()];
    let (used, made) = u.decode(wire, &mut whole);
    let reference = (whole[..made].to_vec(), used, u.is_done());
    let rooms = Pieces::new([
        wire.first().copied().unwrap_or(0),
        wire.last().copied().unwrap_or(0),
        3,
        b'0',
    ]);
    assert_eq!(unstuff(wire, input.pieces, rooms), reference);
    assert_eq!(unstuff(wire, input.pieces, input.pieces), reference);
}

fn round_trip(input: &Input) {
    let body = input.payload;
    let mut wire = stuff(body);
    wire.extend_from_slice(b"+OK next\r\n");
    let mut want = body.to_vec();
    if !(want.is_empty() || want.ends_with(b"\n")) {
        want.extend_from_slice(b"\r\n");
    }
    let (got, consumed, done) = unstuff(&wire, input.pieces, input.pieces);
    assert!(done);
    assert_eq!(got, want);
    assert_eq!(&wire[consumed..], b"+OK next\r\n");
}

fn config() -> ClientConfig {
    ClientConfig {
        max_line: 4 << 10,
        max_top: 16 << 10,
        max_listing: 1000,
        ..Default::default()
    }
}

/// Streams every message of a RETR run; per message its number and body,
/// or the error it got (a refused message does not end the run).
async fn retr_all(
    c: &mut Client<Wire<'_>>,
    msgnos: &[u32],
    input_len: usize,
    mut rooms: Pieces,
) -> Vec<Result<(u32, Vec<u8>), String>> {
    let mut out = Vec::new();
    if let Err(e) = c.retr_start(msgnos).await {
        out.push(Err(e.to_string()));
        return out;
    }
    let mut total = 0;
    let mut steps = 0;
    loop {
        steps += 1;
        assert!(steps <= 2 * input_len + 16, "no progress");
        let n = match c.retr_next().await {
            Ok(Some(n)) => n,
            Ok(None) => return out,
            Err(e @ Error::Err { .. }) => {
                out.push(Err(e.to_string()));
                continue;
            }
            Err(e) => {
                out.push(Err(e.to_string()));
                return out;
            }
        };
        let mut body = Vec::new();
        loop {
            steps += 1;
            assert!(steps <= 2 * input_len + 16, "no progress");
            let mut buf = vec![0u8; rooms.next_size()];
            match c.retr_read(&mut buf).await {
                Ok(0) => break,
                Ok(k) => {
                    assert!(k <= buf.len());
                    body.extend_from_slice(&buf[..k]);
                }
                Err(e) => {
                    out.push(Err(e.to_string()));
                    return out;
                }
            }
        }
        total += body.len();
        assert!(total <= input_len, "more bytes out than in");
        out.push(Ok((n, body)));
    }
}

fn client_arbitrary(input: &Input) {
    let data = input.payload;
    for line in data.split_inclusive(|&b| b == b'\n') {
        if let Ok(Line::Status(s)) = parse_line(line) {
            assert!(s.text.len() <= 3 * line.len());
            if let Some(code) = &s.code {
                assert!(!code.is_empty() && code.bytes().all(|b| b != b']'));
            }
            if let Some(t) = apop_timestamp(&s.text) {
                assert!(t.starts_with('<') && t.ends_with('>') && t.contains('@'));
            }
        }
        if let Some(c) = Capability::parse(&String::from_utf8_lossy(line)) {
            assert!(!c.name.is_empty());
        }
    }
    let mut script = b"+OK ready <1.2@x>\r\n+OK\r\nPIPELINING\r\nTOP\r\n.\r\n".to_vec();
    script.extend_from_slice(data);
    block_on(async {
        let wire = Wire::new(&script, input.pieces);
        let Ok(mut c) = Client::connect(wire, config()).await else {
            return;
        };
        retr_all(&mut c, &[1, 2, 3], script.len(), input.pieces).await;
        // Whatever state that left, the other commands end too.
        let _ = c.top(1, 10).await;
        let _ = c.uidl().await;
    });
}

fn client_round_trip(input: &Input) {
    let mut g = Gen::new(input.payload);
    let pipelining = g.bool();
    let mut script = b"+OK POP3 ready\r\n".to_vec();
    script.extend_from_slice(if pipelining {
        b"+OK\r\nUIDL\r\nPIPELINING\r\n.\r\n"
    } else {
        b"+OK\r\nUIDL\r\n.\r\n"
    });
    let count = 1 + g.below(5);
    let msgnos: Vec<u32> = (1..=count as u32).collect();
    let mut want = Vec::new();
    for &n in &msgnos {
        if g.below(5) == 0 {
            script.extend_from_slice(b"-ERR [SYS/PERM] gone\r\n");
            want.push(Err(format!("RETR {n}")));
            continue;
        }
        let body = g.bytes(400);
        script.extend_from_slice(format!("+OK {} octets\r\n", body.len()).as_bytes());
        script.extend_from_slice(&stuff(body));
        let mut expected = body.to_vec();
        if !(expected.is_empty() || expected.ends_with(b"\n")) {
            expected.extend_from_slice(b"\r\n");
        }
        want.push(Ok((n, expected)));
    }
    let got = block_on(async {
        let wire = Wire::new(&script, input.pieces);
        let mut c = Client::connect(wire, config()).await.expect("greeting");
        retr_all(&mut c, &msgnos, script.len(), input.pieces).await
    });
    assert_eq!(got.len(), want.len(), "{got:?}");
    for (got, want) in got.iter().zip(&want) {
        match (got, want) {
            (Ok(g), Ok(w)) => assert_eq!(g, w),
            (Err(g), Err(w)) => assert!(g.contains(w.as_str()), "{g}"),
            _ => panic!("got {got:?}, want {want:?}"),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let input = Input::split(data, 4);
    match input.mode {
        0 => arbitrary_wire(&input),
        1 => round_trip(&input),
        2 => client_arbitrary(&input),
        _ => client_round_trip(&input),
    }
});
