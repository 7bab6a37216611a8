//! The proxy's pre-login POP3 side (crates/pop3/src/server.rs): any line a
//! client on the internet can send before logging in.
//!
//! Properties: `parse_command` never panics; a refusal has a text; a USER
//! name has no space; what `PASS` gets is the rest of the line exactly; the
//! replies built from any text are one line.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailport_pop3::server::{err, ok, parse_command, Command};

fuzz_target!(|data: &[u8]| {
    match parse_command(data) {
        Err(text) => {
            assert!(!text.is_empty());
            let reply = err(Some("SYS/TEMP"), &text);
            assert!(reply.ends_with(b"\r\n") && !reply[..reply.len() - 2].contains(&b'\n'));
        }
        Ok(Command::User(name)) => assert!(!name.contains(' ') && !name.is_empty()),
        Ok(Command::Pass(p)) => assert_eq!(p.as_bytes(), &data[5..]),
        Ok(_) => {}
    }
    let text = String::from_utf8_lossy(data);
    let reply = ok(&text);
    assert!(reply.ends_with(b"\r\n") && !reply[..reply.len() - 2].contains(&b'\n'));
});
