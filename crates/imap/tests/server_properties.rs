//! The proxy's pre-auth parser faces the internet: any bytes are answered,
//! never panicked on, and what a client can encode comes back exactly.

use mailport_imap::server::{parse_request, read_request, sasl_plain, Command, Limits, Refusal};
use proptest::prelude::*;
use tokio::io::AsyncWriteExt;

/// `s` as a client would send it: an atom when it can be, else quoted,
/// else a literal.
fn encode(s: &str, literal: bool) -> String {
    let atom = !s.is_empty()
        && s.bytes()
            .all(|b| b > 0x20 && b < 0x7f && !b"(){%*\"\\".contains(&b));
    if literal || s.contains(['\r', '\n']) {
        format!("{{{}}}\r\n{s}", s.len())
    } else if atom {
        s.to_string()
    } else {
        let escaped = s.replace('\\', "\\\\").replace('"', "\\\"");
        format!("\"{escaped}\"")
    }
}

proptest! {
    #[test]
    fn any_bytes_are_answered(raw in proptest::collection::vec(any::<u8>(), 0..400)) {
        match parse_request(&raw) {
            Ok(r) => prop_assert!(!r.tag.is_empty() && r.tag != "*"),
            Err(Refusal::Bad { tag, text }) => prop_assert!(!tag.is_empty() && !text.is_empty()),
            Err(Refusal::Bye(_)) => prop_assert!(false, "parsing alone never ends a session"),
        }
    }

    #[test]
    fn imap_like_lines_are_answered(raw in "[a-z0-9]{1,4} (LOGIN|AUTHENTICATE|ID|NOOP)( |\"|\\\\|\\{[0-9]{1,3}\\+?\\}\r\n|[a-zA-Z=/+]|\\(|\\)|NIL){0,12}\r\n") {
        let _ = parse_request(raw.as_bytes());
    }

    #[test]
    fn logins_come_back_exactly(
        user in "[^\u{0}\r\n]{1,40}",
        password in "[^\u{0}]{0,40}",
        literal in any::<bool>(),
    ) {
        let raw = format!("t1 LOGIN {} {}\r\n", encode(&user, literal), encode(&password, false));
        match parse_request(raw.as_bytes()) {
            Ok(r) => match r.command {
                Command::Login { user: u, password: p } => {
                    prop_assert_eq!(u, user);
                    prop_assert_eq!(p.as_str(), password.as_str());
                }
                other => prop_assert!(false, "{other:?}"),
            },
            Err(e) => prop_assert!(false, "{raw:?}: {e:?}"),
        }
    }

    #[test]
    fn sasl_plain_comes_back(user in "[^\u{0}]{1,30}", password in "[^\u{0}]{0,30}") {
        let msg = format!("\0{user}\0{password}");
        let p = sasl_plain(msg.as_bytes()).unwrap();
        prop_assert_eq!(p.user, user);
        prop_assert_eq!(p.password.as_str(), password.as_str());
    }

    #[test]
    fn reading_stays_within_the_limits(input in proptest::collection::vec(any::<u8>(), 0..2000), literal in 1usize..64) {
        let limits = Limits { line: 100, literal, command: 300, literals: 2, ..Limits::default() };
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let (client, server) = tokio::io::duplex(1 << 16);
            let (_cr, mut cw) = tokio::io::split(client);
            cw.write_all(&input).await.unwrap();
            cw.shutdown().await.unwrap();
            let mut io = tokio::io::BufStream::new(server);
            let mut commands = 0;
            while let Ok(r) = read_request(&mut io, &limits).await {
                commands += 1;
                if matches!(r, Err(Refusal::Bye(_))) {
                    break;
                }
                prop_assert!(commands <= input.len());
            }
            Ok(())
        })?;
    }
}
