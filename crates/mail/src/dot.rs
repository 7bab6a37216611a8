//! Dot-stuffed multi-line bodies: POP3 multi-line responses (RFC 1939 3), and
//! the same framing in SMTP DATA (RFC 5321 4.5.2). The body ends at a line
//! holding only ".", and a line that starts with "." had one more "." put in
//! front.
//!
//! ```text
//! multi-line = *( ( "." 1*octet / non-dot-octet *octet ) CRLF ) "." CRLF
//!              ; each line beginning with "." is sent with an extra "."
//! ```
//!
//! [`Unstuffer`] undoes that framing sans-I/O, in whatever pieces the bytes
//! arrive and into whatever room the caller has: memory stays bounded by the
//! caller's buffer, not by the length of a line or of a message. It keeps
//! line ends as the peer sent them (CRLF stays CRLF) and also accepts a
//! bare LF as a line end, because some POP3 servers (and mbox-backed ones in
//! particular) send their stored bytes unchanged. [`stuff`] is the sending
//! side.
//!
//! That leniency suits a client reading a server. An SMTP server must not
//! take `LF.LF` (or `LF.CRLF`) as the end of DATA (SMTP smuggling: a message
//! hidden after a false terminator); an `smtp` crate needs a strict
//! CRLF-only mode of [`Unstuffer`] first.

/// Where in the current line the unstuffer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// At the first byte of a line (and of the body).
    LineStart,
    /// A "." opened the line: stuffing, or the terminator.
    Dot,
    /// ".\r" opened the line: the terminator if LF follows.
    DotCr,
    /// Inside a line.
    InLine,
    /// The terminating line has been consumed.
    Done,
}

/// Removes dot-stuffing and finds the end of one multi-line response.
#[derive(Debug, Clone)]
pub struct Unstuffer {
    state: State,
}

impl Default for Unstuffer {
    fn default() -> Self {
        Self::new()
    }
}

impl Unstuffer {
    /// Positioned at the start of the body (in POP3, right after the `+OK`
    /// line).
    pub fn new() -> Self {
        Unstuffer {
            state: State::LineStart,
        }
    }

    /// The terminating "." line has been seen; nothing after it belongs here.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Decodes from `input` into `out`. Returns (bytes of `input` consumed,
    /// bytes written to `out`). Stops at the terminator (leaving what follows
    /// it in `input`), when `out` is full, or when `input` is used up.
    /// Progress is guaranteed whenever `input` and `out` are both non-empty.
    pub fn decode(&mut self, input: &[u8], out: &mut [u8]) -> (usize, usize) {
        let (mut i, mut o) = (0, 0);
        while i < input.len() && o < out.len() {
            let b = input[i];
            match self.state {
                State::Done => break,
                State::InLine => {
                    // The common case: copy up to and including the line end in one go.
                    let room = (input.len() - i).min(out.len() - o);
                    let chunk = &input[i..i + room];
                    let n = match chunk.iter().position(|&c| c == b'\n') {
                        Some(p) => {
                            self.state = State::LineStart;
                            p + 1
                        }
                        None => room,
                    };
                    out[o..o + n].copy_from_slice(&chunk[..n]);
                    i += n;
                    o += n;
                }
                State::LineStart => {
                    i += 1;
                    if b == b'.' {
                        self.state = State::Dot;
                    } else {
                        out[o] = b;
                        o += 1;
                        if b != b'\n' {
                            self.state = State::InLine;
                        }
                    }
                }
                State::Dot => {
                    i += 1;
                    match b {
                        b'\r' => self.state = State::DotCr,
                        // A bare-LF server's terminator.
                        b'\n' => self.state = State::Done,
                        // RFC 1939 3: the first "." of a line that is not the
                        // terminator is dropped, whatever follows it (so a
                        // server that forgot to stuff loses one "." — what
                        // every POP3 client does).
                        _ => {
                            out[o] = b;
                            o += 1;
                            self.state = State::InLine;
                        }
                    }
                }
                State::DotCr => {
                    if b == b'\n' {
                        i += 1;
                        self.state = State::Done;
                    } else {
                        // ".\rX": the line was "\rX…" stuffed. Give back the CR
                        // and look at X again as line content.
                        out[o] = b'\r';
                        o += 1;
                        self.state = State::InLine;
                    }
                }
            }
        }
        (i, o)
    }
}

/// Dot-stuffs `body` and appends the terminator, as a POP3 server or an SMTP
/// client sends it. A body that does not end with a line end gets CRLF first
/// (RFC 1939 and RFC 5321 require one). For tests, the server side of the
/// proxy and an SMTP relay.
pub fn stuff(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + body.len() / 64 + 5);
    let mut at_line_start = true;
    for &b in body {
        if at_line_start && b == b'.' {
            out.push(b'.');
        }
        out.push(b);
        at_line_start = b == b'\n';
    }
    if !at_line_start {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Feeds `wire` in pieces of `read` bytes into an output buffer of
    /// `room` bytes; returns the decoded body and what followed the terminator.
    fn decode_in_pieces(wire: &[u8], read: usize, room: usize) -> (Vec<u8>, Vec<u8>) {
        let mut u = Unstuffer::new();
        let mut body = Vec::new();
        let mut out = vec![0u8; room];
        let mut pos = 0;
        while !u.is_done() {
            assert!(pos < wire.len(), "input ended before the terminator");
            let end = (pos + read).min(wire.len());
            let mut piece = &wire[pos..end];
            // Within one read, drain into the small output buffer.
            while !piece.is_empty() && !u.is_done() {
                let (used, made) = u.decode(piece, &mut out);
                assert!(used > 0 || made > 0, "no progress");
                body.extend_from_slice(&out[..made]);
                piece = &piece[used..];
                pos += used;
            }
        }
        (body, wire[pos..].to_vec())
    }

    #[test]
    fn known_cases() {
        let cases: &[(&[u8], &[u8])] = &[
            (b".\r\n", b""),
            (b"a\r\n.\r\n", b"a\r\n"),
            (b"..\r\n.\r\n", b".\r\n"),
            (b"...x\r\n.\r\n", b"..x\r\n"),
            (b"a\r\n..b\r\n.\r\n", b"a\r\n.b\r\n"),
            // Bare LF servers.
            (b"a\n..b\n.\n", b"a\n.b\n"),
            (b"a\n.\r\n", b"a\n"),
            // CR alone inside and at the start of lines.
            (b"a\rb\r\n\r\n.\r\n", b"a\rb\r\n\r\n"),
            (b".\rx\r\n.\r\n", b"\rx\r\n"),
            // A dot in the middle of a line is data.
            (b"a.\r\n.b\r\n.\r\n", b"a.\r\nb\r\n"),
        ];
        for (wire, body) in cases {
            for read in 1..=wire.len() {
                for room in 1..=4 {
                    let (got, rest) = decode_in_pieces(wire, read, room);
                    assert_eq!(&got, body, "{wire:?} read={read} room={room}");
                    assert!(rest.is_empty());
                }
            }
        }
    }

    #[test]
    fn stops_at_the_terminator() {
        let (body, rest) = decode_in_pieces(b"x\r\n.\r\n+OK next\r\n", 4, 2);
        assert_eq!(body, b"x\r\n");
        assert_eq!(rest, b"+OK next\r\n");
    }

    proptest! {
        #[test]
        fn stuffing_then_unstuffing_round_trips(
            body in proptest::collection::vec(
                prop_oneof![Just(b'.'), Just(b'\r'), Just(b'\n'), any::<u8>()],
                0..600,
            ),
            read in 1usize..80,
            room in 1usize..80,
        ) {
            let wire = stuff(&body);
            let mut expected = body.clone();
            if !(expected.is_empty() || expected.ends_with(b"\n")) {
                expected.extend_from_slice(b"\r\n");
            }
            let mut wire_and_more = wire.clone();
            wire_and_more.extend_from_slice(b"+OK\r\n");
            let (got, rest) = decode_in_pieces(&wire_and_more, read, room);
            prop_assert_eq!(got, expected);
            prop_assert_eq!(rest, b"+OK\r\n".to_vec());
        }

        #[test]
        fn line_bodies_with_crlf_round_trip(
            lines in proptest::collection::vec("[.\\r a-z]{0,70}", 0..30),
            read in 1usize..40,
            room in 1usize..40,
        ) {
            // What mail looks like: CRLF lines, many starting with ".", some
            // longer than every buffer involved.
            let body: Vec<u8> = lines
                .iter()
                .flat_map(|l| l.bytes().filter(|&b| b != b'\r').chain(*b"\r\n"))
                .collect();
            let (got, _) = decode_in_pieces(&stuff(&body), read, room);
            prop_assert_eq!(got, body);
        }
    }
}
