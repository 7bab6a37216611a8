//! Property tests of the status-line parser (the quick, every-`cargo test`
//! side of the fuzz target pop3_multiline; docs/FUZZING.md). The multi-line
//! reader's are in crates/mail (src/dot.rs, tests/dot_properties.rs).

use mailport_pop3::response::{parse_line, Line};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Status lines: never a panic; `+OK`/`-ERR` decide, a code is only what
    /// RFC 2449 allows.
    #[test]
    fn status_lines_never_panic(line in proptest::collection::vec(any::<u8>(), 0..120)) {
        if let Ok(Line::Status(s)) = parse_line(&line) {
            let head = line.get(..3).unwrap_or(&[]);
            prop_assert_eq!(s.ok, head.eq_ignore_ascii_case(b"+OK"));
            if let Some(code) = s.code {
                prop_assert!(code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'/'));
            }
        }
    }
}

proptest! {
    /// The proxy's pre-login parser: any line is a command or an `-ERR`
    /// text, and a password comes back exactly, spaces and all.
    #[test]
    fn server_side_command_lines(line in proptest::collection::vec(any::<u8>(), 0..300), password in "[^\u{0}-\u{1f}\u{7f}]{1,60}") {
        if let Err(text) = mailport_pop3::server::parse_command(&line) {
            prop_assert!(!text.is_empty());
        }
        let got = mailport_pop3::server::parse_command(format!("PASS {password}").as_bytes());
        match got {
            Ok(mailport_pop3::server::Command::Pass(p)) => prop_assert_eq!(p.as_str(), password.as_str()),
            other => prop_assert!(false, "{other:?}"),
        }
    }
}
