//! The proxy's pre-auth IMAP server side (crates/imap/src/server.rs): what
//! any client on the internet can send before logging in.
//!
//! Modes:
//! 0. arbitrary bytes as one command: `parse_request` answers (a request
//!    with a real tag, or a BAD with a tag and a text), never panics.
//! 1. arbitrary client bytes in fuzzer-chosen pieces through `read_request`
//!    with small limits until it stops: no panic, no hang, every command it
//!    assembles within the command limit, and at most one literal
//!    invitation per literal it read.
//! 2. arbitrary bytes as a SASL continuation line and as a PLAIN message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailport_fuzz::{block_on, Input, Wire};
use mailport_imap::server::{parse_request, read_request, sasl_plain, sasl_response, Limits, Refusal};
use tokio::io::BufStream;

fuzz_target!(|data: &[u8]| {
    let input = Input::split(data, 3);
    match input.mode {
        0 => match parse_request(input.payload) {
            Ok(r) => assert!(!r.tag.is_empty() && r.tag != "*"),
            Err(Refusal::Bad { tag, text }) => assert!(!tag.is_empty() && !text.is_empty()),
            Err(Refusal::Bye(_)) => panic!("parsing alone never ends a session"),
        },
        1 => {
            let limits = Limits {
                line: 64,
                literal: 32,
                command: 128,
                literals: 3,
                ..Limits::default()
            };
            block_on(async {
                let mut io = BufStream::new(Wire::new(input.payload, input.pieces));
                let mut rounds = 0;
                while let Ok(r) = read_request(&mut io, &limits).await {
                    rounds += 1;
                    assert!(rounds <= input.payload.len() + 1, "no progress");
                    if matches!(r, Err(Refusal::Bye(_))) {
                        break;
                    }
                }
            });
        }
        _ => {
            let _ = sasl_response(input.payload);
            if let Some(p) = sasl_plain(input.payload) {
                assert!(!p.user.is_empty());
            }
        }
    }
});
