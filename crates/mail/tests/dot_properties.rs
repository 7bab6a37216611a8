//! Property tests of the dot-stuffing reader (the quick, every-`cargo test`
//! side of modes 0 and 1 of the fuzz target pop3_multiline; docs/FUZZING.md).
//! The stuff -> unstuff round trip with arbitrary chunking is in src/dot.rs.

use mailport_mail::dot::{stuff, Unstuffer};
use proptest::prelude::*;

/// Decodes `wire` in input pieces of the sizes `reads` cycles through, into
/// output buffers of the sizes `rooms` cycles through.
fn decode(wire: &[u8], reads: &[usize], rooms: &[usize]) -> (Vec<u8>, usize, bool) {
    let mut u = Unstuffer::new();
    let (mut body, mut consumed) = (Vec::new(), 0);
    let (mut r, mut o) = (0, 0);
    while consumed < wire.len() && !u.is_done() {
        let end = (consumed + reads[r % reads.len()]).min(wire.len());
        r += 1;
        let mut piece = &wire[consumed..end];
        while !piece.is_empty() && !u.is_done() {
            let mut out = vec![0u8; rooms[o % rooms.len()]];
            o += 1;
            let (used, made) = u.decode(piece, &mut out);
            assert!(used > 0 || made > 0, "no progress");
            body.extend_from_slice(&out[..made]);
            piece = &piece[used..];
            consumed += used;
        }
    }
    (body, consumed, u.is_done())
}

/// Bytes where every state of the reader is reachable.
fn wire_bytes() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        prop_oneof![Just(b'.'), Just(b'\r'), Just(b'\n'), any::<u8>()],
        0..400,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Whatever the peer sends, how it is cut into reads and how small the
    /// caller's buffer is do not change the body, where it ends, or whether
    /// it ended; and no more comes out than went in.
    #[test]
    fn decoding_does_not_depend_on_chunking(
        wire in wire_bytes(),
        reads in proptest::collection::vec(1usize..50, 1..5),
        rooms in proptest::collection::vec(1usize..50, 1..5),
    ) {
        let whole = decode(&wire, &[wire.len().max(1)], &[wire.len().max(1)]);
        prop_assert!(whole.0.len() <= whole.1);
        prop_assert_eq!(decode(&wire, &reads, &rooms), whole);
    }

    /// A stuffed body followed by the next response: the reader stops right
    /// after the terminator, whatever the body held.
    #[test]
    fn the_terminator_is_found_after_any_body(
        body in wire_bytes(),
        reads in proptest::collection::vec(1usize..50, 1..5),
    ) {
        let mut wire = stuff(&body);
        let end = wire.len();
        wire.extend_from_slice(b"+OK next\r\n");
        let (_, consumed, done) = decode(&wire, &reads, &[7]);
        prop_assert!(done);
        prop_assert_eq!(consumed, end);
    }
}
