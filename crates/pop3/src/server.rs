//! The server side of POP3 before authentication, for the proxy: the
//! commands of the AUTHORIZATION state (RFC 1939, CAPA and STLS of RFC 2449
//! and 2595, AUTH of RFC 5034) parsed from one line, and replies written.
//! Sans-I/O: the proxy reads lines with its bounded reader and hands them
//! here; after login it relays bytes.

use zeroize::Zeroizing;

/// RFC 2449: a command line is at most 255 octets; a little room for
/// clients that send long SASL initial responses.
pub const MAX_COMMAND_LINE: usize = 2048;

#[derive(PartialEq, Eq)]
pub enum Command {
    Capa,
    Stls,
    User(String),
    /// The rest of the line: passwords may hold spaces.
    Pass(Zeroizing<String>),
    /// `AUTH` alone asks for the mechanisms.
    Auth {
        mechanism: Option<String>,
        initial: Option<Zeroizing<Vec<u8>>>,
    },
    Noop,
    Quit,
    /// Any other command, its name in upper case.
    Other(String),
}

impl std::fmt::Debug for Command {
    // Never shows a password or SASL data.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Command::Capa => f.write_str("Capa"),
            Command::Stls => f.write_str("Stls"),
            Command::User(u) => f.debug_tuple("User").field(u).finish(),
            Command::Pass(_) => f.write_str("Pass(..)"),
            Command::Auth { mechanism, .. } => write!(f, "Auth({mechanism:?})"),
            Command::Noop => f.write_str("Noop"),
            Command::Quit => f.write_str("Quit"),
            Command::Other(n) => f.debug_tuple("Other").field(n).finish(),
        }
    }
}

/// One command line (without its line end). The error is the text of the
/// `-ERR` reply.
pub fn parse_command(line: &[u8]) -> Result<Command, String> {
    let line = std::str::from_utf8(line).map_err(|_| "the command is not UTF-8".to_string())?;
    if line.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return Err("control characters in the command".into());
    }
    let (name, rest) = match line.split_once(' ') {
        Some((n, r)) => (n, Some(r)),
        None => (line, None),
    };
    let name = name.to_ascii_uppercase();
    let arg = |what: &str| -> Result<String, String> {
        match rest {
            Some(r) if !r.is_empty() => Ok(r.to_string()),
            _ => Err(format!("{name} needs {what}")),
        }
    };
    let nothing = |c: Command| match rest {
        None => Ok(c),
        Some(_) => Err(format!("{name} takes no argument")),
    };
    match name.as_str() {
        "CAPA" => nothing(Command::Capa),
        "STLS" => nothing(Command::Stls),
        "NOOP" => nothing(Command::Noop),
        "QUIT" => nothing(Command::Quit),
        "USER" => {
            let user = arg("a user name")?;
            match user.contains(' ') {
                true => Err("USER takes one name".into()),
                false => Ok(Command::User(user)),
            }
        }
        "PASS" => Ok(Command::Pass(Zeroizing::new(arg("a password")?))),
        "AUTH" => {
            let Some(rest) = rest else {
                return Ok(Command::Auth {
                    mechanism: None,
                    initial: None,
                });
            };
            let mut words = rest.split(' ');
            let mechanism = words.next().unwrap_or("").to_ascii_uppercase();
            if mechanism.is_empty()
                || !mechanism
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err("AUTH needs a mechanism name".into());
            }
            let initial = match words.next() {
                None => None,
                Some("=") => Some(Zeroizing::new(Vec::new())),
                Some(b64) => Some(Zeroizing::new(
                    mailport_mail::base64::base64_decode(b64.as_bytes())
                        .filter(|_| !b64.is_empty())
                        .ok_or("the initial response is not base64")?,
                )),
            };
            match words.next() {
                Some(_) => Err("AUTH mechanism [initial-response]".into()),
                None => Ok(Command::Auth {
                    mechanism: Some(mechanism),
                    initial,
                }),
            }
        }
        "" => Err("empty command".into()),
        _ => Ok(Command::Other(name)),
    }
}

/// `+OK text` with CRLF.
pub fn ok(text: &str) -> Vec<u8> {
    format!("+OK {}\r\n", one_line(text)).into_bytes()
}

/// `-ERR [code] text` with CRLF (RFC 2449 response codes, e.g. `SYS/TEMP`,
/// `AUTH`, `IN-USE`).
pub fn err(code: Option<&str>, text: &str) -> Vec<u8> {
    let code = code.map(|c| format!("[{c}] ")).unwrap_or_default();
    format!("-ERR {code}{}\r\n", one_line(text)).into_bytes()
}

fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(400)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorization_commands() {
        assert_eq!(parse_command(b"capa"), Ok(Command::Capa));
        assert_eq!(
            parse_command(b"USER alice@example.org"),
            Ok(Command::User("alice@example.org".into()))
        );
        assert_eq!(
            parse_command(b"PASS  two words "),
            Ok(Command::Pass(Zeroizing::new(" two words ".into())))
        );
        assert_eq!(
            parse_command(b"AUTH PLAIN AGFsaWNlAHB3"),
            Ok(Command::Auth {
                mechanism: Some("PLAIN".into()),
                initial: Some(Zeroizing::new(b"\0alice\0pw".to_vec()))
            })
        );
        assert_eq!(
            parse_command(b"AUTH"),
            Ok(Command::Auth {
                mechanism: None,
                initial: None
            })
        );
        assert_eq!(parse_command(b"RETR 1"), Ok(Command::Other("RETR".into())));
        for bad in [
            &b"USER"[..],
            b"USER a b",
            b"PASS",
            b"STLS now",
            b"AUTH PLAIN !!",
            b"",
            b"US\x01ER a",
            b"\xff",
        ] {
            assert!(parse_command(bad).is_err(), "{bad:?}");
        }
        assert!(!format!("{:?}", parse_command(b"PASS Secret1").unwrap()).contains("Secret1"));
    }

    #[test]
    fn replies() {
        assert_eq!(
            err(Some("SYS/TEMP"), "try\r\nlater"),
            b"-ERR [SYS/TEMP] try  later\r\n"
        );
        assert_eq!(ok("ready"), b"+OK ready\r\n");
    }
}
