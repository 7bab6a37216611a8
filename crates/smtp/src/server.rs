//! The server side of SMTP: one command line (without its CRLF) parsed into
//! a [`Command`], or refused with the [`Reply`] to send. RFC 5321 §4.1
//! grammar, with what real senders send: lower-case verbs, a space before
//! the path (`MAIL FROM: <a@b>`), source routes (accepted and ignored, §4.1.2
//! says so), quoted local parts, UTF-8 addresses (RFC 6531), ESMTP
//! parameters (`SIZE=`, `BODY=`, `SMTPUTF8`, DSN's, `AUTH=`).

use std::borrow::Cow;

use zeroize::Zeroizing;

/// RFC 5321 §4.5.3.1.4: a command line is at most 512 octets with its CRLF;
/// RFC 1869 extensions add to that (SIZE, BODY, DSN, AUTH): 2048 is Postfix's
/// own default line length and room for all of them.
pub const MAX_COMMAND_LINE: usize = 2048;
/// §4.5.3.1.1 and .2: local part 64 octets, domain 255; a path is at most
/// 256 octets with its brackets.
pub const MAX_PATH: usize = 256;

/// An address of an envelope: `local@domain`, as given (the local part
/// unquoted), the domain in lower case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    pub local: String,
    pub domain: String,
}

impl Address {
    /// `local@domain`, quoting the local part if it needs it.
    pub fn to_path(&self) -> String {
        let plain = !self.local.is_empty()
            && !self.local.starts_with('.')
            && !self.local.ends_with('.')
            && !self.local.contains("..")
            && self.local.chars().all(|c| is_atext(c) || c == '.');
        match plain {
            true => format!("{}@{}", self.local, self.domain),
            false => {
                let escaped = self.local.replace('\\', "\\\\").replace('"', "\\\"");
                format!("\"{escaped}\"@{}", self.domain)
            }
        }
    }
}

/// `RCPT TO:` names a mailbox or the postmaster (§4.1.1.3: `<Postmaster>`
/// without a domain).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recipient {
    Address(Address),
    Postmaster,
}

/// An ESMTP parameter: `KEYWORD[=value]`, the keyword in upper case.
pub type Param = (String, Option<String>);

#[derive(PartialEq, Eq)]
pub enum Command {
    Ehlo(String),
    Helo(String),
    /// `None` is the null reverse path `<>` (bounces).
    Mail {
        from: Option<Address>,
        params: Vec<Param>,
    },
    Rcpt {
        to: Recipient,
        params: Vec<Param>,
    },
    Data,
    Rset,
    Noop,
    Quit,
    Vrfy(String),
    Help,
    StartTls,
    Auth {
        mechanism: String,
        initial: Option<Zeroizing<Vec<u8>>>,
    },
    /// Any other verb, in upper case.
    Other(String),
}

impl std::fmt::Debug for Command {
    // Never shows SASL data.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Command::Ehlo(d) => f.debug_tuple("Ehlo").field(d).finish(),
            Command::Helo(d) => f.debug_tuple("Helo").field(d).finish(),
            Command::Mail { from, params } => f
                .debug_struct("Mail")
                .field("from", from)
                .field("params", params)
                .finish(),
            Command::Rcpt { to, params } => f
                .debug_struct("Rcpt")
                .field("to", to)
                .field("params", params)
                .finish(),
            Command::Data => f.write_str("Data"),
            Command::Rset => f.write_str("Rset"),
            Command::Noop => f.write_str("Noop"),
            Command::Quit => f.write_str("Quit"),
            Command::Vrfy(s) => f.debug_tuple("Vrfy").field(s).finish(),
            Command::Help => f.write_str("Help"),
            Command::StartTls => f.write_str("StartTls"),
            Command::Auth { mechanism, .. } => write!(f, "Auth({mechanism:?})"),
            Command::Other(n) => f.debug_tuple("Other").field(n).finish(),
        }
    }
}

/// A reply: code, enhanced status code (RFC 3463) and text lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    pub enhanced: Option<Cow<'static, str>>,
    pub lines: Vec<String>,
}

impl Reply {
    pub fn new(code: u16, enhanced: Option<&'static str>, text: &str) -> Reply {
        Reply {
            code,
            enhanced: enhanced.map(Cow::Borrowed),
            lines: vec![text.to_string()],
        }
    }

    /// Lines after the first one (EHLO's extensions).
    pub fn with_lines(mut self, more: impl IntoIterator<Item = String>) -> Reply {
        self.lines.extend(more);
        self
    }

    /// `250-first`, ..., `250 last`, each ending in CRLF; control
    /// characters in a text become spaces (a text never splits a reply).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let n = self.lines.len().max(1);
        for i in 0..n {
            let text = self.lines.get(i).map(String::as_str).unwrap_or("");
            let sep = if i + 1 < n { '-' } else { ' ' };
            let code = match &self.enhanced {
                // Enhanced codes on the first line, and on every line as
                // RFC 2034 §3 wants — but not on EHLO's keyword lines.
                Some(e) if i == 0 || self.code != 250 => format!("{}{sep}{e} ", self.code),
                _ => format!("{}{sep}", self.code),
            };
            out.extend_from_slice(code.as_bytes());
            let clean: String = text
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .take(500)
                .collect();
            out.extend_from_slice(clean.trim_end().as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out
    }

    /// 2xx.
    pub fn is_positive(&self) -> bool {
        (200..300).contains(&self.code)
    }

    /// 4xx: the sender tries again later.
    pub fn is_transient(&self) -> bool {
        (400..500).contains(&self.code)
    }
}

fn syntax(text: &str) -> Reply {
    Reply::new(501, Some("5.5.4"), text)
}

/// One command line, without its CRLF.
pub fn parse_command(line: &[u8]) -> Result<Command, Reply> {
    let line = std::str::from_utf8(line)
        .map_err(|_| Reply::new(500, Some("5.5.2"), "the command is not UTF-8"))?;
    if line.chars().any(|c| c.is_control() && c != '\t') {
        return Err(Reply::new(
            500,
            Some("5.5.2"),
            "control characters in the command",
        ));
    }
    let (verb, rest) = match line.split_once(' ') {
        Some((v, r)) => (v, r.trim_start()),
        None => (line, ""),
    };
    let verb = verb.to_ascii_uppercase();
    let nothing = |c: Command| match rest.trim().is_empty() {
        true => Ok(c),
        false => Err(syntax(&format!("{verb} takes no argument"))),
    };
    match verb.as_str() {
        "EHLO" | "HELO" => {
            let domain = rest.split_whitespace().next().unwrap_or("");
            if domain.is_empty() {
                return Err(syntax(&format!("{verb} needs your host name")));
            }
            Ok(match verb.as_str() {
                "EHLO" => Command::Ehlo(domain.to_string()),
                _ => Command::Helo(domain.to_string()),
            })
        }
        "MAIL" => {
            let path = after_keyword(rest, "FROM:")
                .ok_or_else(|| syntax("MAIL FROM:<address> [parameters]"))?;
            let (from, params) = path_and_params(path)?;
            let from = match from {
                Path::Null => None,
                Path::Address(a) => Some(a),
                Path::Postmaster => {
                    return Err(syntax("the sender must be an address with a domain"))
                }
            };
            Ok(Command::Mail { from, params })
        }
        "RCPT" => {
            let path = after_keyword(rest, "TO:")
                .ok_or_else(|| syntax("RCPT TO:<address> [parameters]"))?;
            let (to, params) = path_and_params(path)?;
            let to = match to {
                Path::Null => return Err(syntax("a recipient cannot be <>")),
                Path::Address(a) => Recipient::Address(a),
                Path::Postmaster => Recipient::Postmaster,
            };
            Ok(Command::Rcpt { to, params })
        }
        "DATA" => nothing(Command::Data),
        "RSET" => nothing(Command::Rset),
        // NOOP, HELP and QUIT may carry a string that means nothing.
        "NOOP" => Ok(Command::Noop),
        "HELP" => Ok(Command::Help),
        "QUIT" => nothing(Command::Quit),
        "STARTTLS" => nothing(Command::StartTls),
        "VRFY" => match rest.trim() {
            "" => Err(syntax("VRFY needs a name")),
            s => Ok(Command::Vrfy(s.to_string())),
        },
        "AUTH" => {
            let mut words = rest.split(' ').filter(|w| !w.is_empty());
            let mechanism = words.next().unwrap_or("").to_ascii_uppercase();
            if mechanism.is_empty()
                || !mechanism
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err(syntax("AUTH mechanism [initial-response]"));
            }
            let initial = match words.next() {
                None => None,
                Some("=") => Some(Zeroizing::new(Vec::new())),
                Some(b64) => Some(Zeroizing::new(
                    mailport_mail::base64::base64_decode(b64.as_bytes())
                        .ok_or_else(|| syntax("the initial response is not base64"))?,
                )),
            };
            match words.next() {
                Some(_) => Err(syntax("AUTH mechanism [initial-response]")),
                None => Ok(Command::Auth { mechanism, initial }),
            }
        }
        "" => Err(Reply::new(500, Some("5.5.2"), "empty command")),
        _ => Ok(Command::Other(verb)),
    }
}

/// The text after `FROM:` / `TO:` (case-insensitive; a space after the
/// colon, as some senders write, is accepted).
fn after_keyword<'a>(rest: &'a str, keyword: &str) -> Option<&'a str> {
    let head = rest.get(..keyword.len())?;
    match head.eq_ignore_ascii_case(keyword) {
        true => Some(rest[keyword.len()..].trim_start()),
        false => None,
    }
}

enum Path {
    Null,
    Address(Address),
    Postmaster,
}

/// `<path> [SP param]*`.
fn path_and_params(s: &str) -> Result<(Path, Vec<Param>), Reply> {
    let s = s
        .strip_prefix('<')
        .ok_or_else(|| syntax("the address must be in <>"))?;
    let end = closing_bracket(s).ok_or_else(|| syntax("no closing > after the address"))?;
    let (inside, after) = (&s[..end], &s[end + 1..]);
    if inside.len() + 2 > MAX_PATH {
        return Err(Reply::new(501, Some("5.1.3"), "the address is too long"));
    }
    let path = path(inside)?;
    if !after.is_empty() && !after.starts_with(' ') {
        return Err(syntax("a space must follow the address"));
    }
    let mut params = Vec::new();
    for word in after.split(' ').filter(|w| !w.is_empty()) {
        let (key, value) = match word.split_once('=') {
            Some((k, v)) => (k, Some(v.to_string())),
            None => (word, None),
        };
        let good_key = !key.is_empty()
            && key
                .bytes()
                .next()
                .is_some_and(|b| b.is_ascii_alphanumeric())
            && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !good_key || value.as_deref() == Some("") {
            return Err(Reply::new(
                501,
                Some("5.5.4"),
                &format!("bad parameter {word:?}"),
            ));
        }
        if params.len() >= 16 {
            return Err(Reply::new(501, Some("5.5.4"), "too many parameters"));
        }
        params.push((key.to_ascii_uppercase(), value));
    }
    Ok((path, params))
}

/// The `>` that closes the path, outside any quoted string.
fn closing_bracket(s: &str) -> Option<usize> {
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '>' if !quoted => return Some(i),
            _ => {}
        }
    }
    None
}

fn path(inside: &str) -> Result<Path, Reply> {
    if inside.is_empty() {
        return Ok(Path::Null);
    }
    if inside.eq_ignore_ascii_case("postmaster") {
        return Ok(Path::Postmaster);
    }
    // A source route (`@a,@b:`) is accepted and ignored (§4.1.2, C.2).
    let mailbox = match inside.starts_with('@') {
        true => match inside.find(':') {
            Some(i) => &inside[i + 1..],
            None => return Err(syntax("a source route must end in ':'")),
        },
        false => inside,
    };
    let at = last_at_outside_quotes(mailbox).ok_or_else(|| {
        Reply::new(
            501,
            Some("5.1.3"),
            "the address needs a domain: local@domain",
        )
    })?;
    let (local, domain) = (&mailbox[..at], &mailbox[at + 1..]);
    let local = local_part(local)?;
    let domain = domain_part(domain)?;
    Ok(Path::Address(Address { local, domain }))
}

fn last_at_outside_quotes(s: &str) -> Option<usize> {
    let mut quoted = false;
    let mut escaped = false;
    let mut at = None;
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '@' if !quoted => at = Some(i),
            _ => {}
        }
    }
    at
}

/// RFC 5322 atext, plus any non-ASCII character (RFC 6531).
fn is_atext(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c) || !c.is_ascii()
}

fn local_part(s: &str) -> Result<String, Reply> {
    let bad = || Reply::new(501, Some("5.1.3"), "bad local part of the address");
    if s.len() > 64 * 4 || s.is_empty() {
        return Err(bad());
    }
    if let Some(q) = s.strip_prefix('"') {
        let q = q.strip_suffix('"').ok_or_else(bad)?;
        let mut out = String::new();
        let mut chars = q.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => out.push(chars.next().ok_or_else(bad)?),
                '"' => return Err(bad()),
                c => out.push(c),
            }
        }
        return Ok(out);
    }
    let dot_atom = !s.starts_with('.')
        && !s.ends_with('.')
        && !s.contains("..")
        && s.chars().all(|c| is_atext(c) || c == '.');
    match dot_atom {
        true => Ok(s.to_string()),
        false => Err(bad()),
    }
}

fn domain_part(s: &str) -> Result<String, Reply> {
    let bad = || Reply::new(501, Some("5.1.2"), "bad domain in the address");
    if s.is_empty() || s.len() > 255 {
        return Err(bad());
    }
    // An address literal: [192.0.2.1] or [IPv6:...].
    if let Some(lit) = s.strip_prefix('[') {
        let lit = lit.strip_suffix(']').ok_or_else(bad)?;
        let ok = match lit.get(..5) {
            Some(p) if p.eq_ignore_ascii_case("IPv6:") => {
                lit[5..].parse::<std::net::Ipv6Addr>().is_ok()
            }
            _ => lit.parse::<std::net::Ipv4Addr>().is_ok(),
        };
        return match ok {
            true => Ok(s.to_ascii_lowercase()),
            false => Err(bad()),
        };
    }
    let labels_ok = s.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || !c.is_ascii())
    });
    match labels_ok {
        true => Ok(s.to_lowercase()),
        false => Err(bad()),
    }
}

/// The value of ESMTP parameter `key` (upper case) in `params`, if given.
pub fn param<'a>(params: &'a [Param], key: &str) -> Option<Option<&'a str>> {
    params
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_deref())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn addr(local: &str, domain: &str) -> Address {
        Address {
            local: local.into(),
            domain: domain.into(),
        }
    }

    #[test]
    fn what_real_senders_send() {
        assert_eq!(
            parse_command(b"ehlo mail.example.org"),
            Ok(Command::Ehlo("mail.example.org".into()))
        );
        assert_eq!(
            parse_command(b"MAIL FROM:<alice@Example.ORG> SIZE=1234 BODY=8BITMIME"),
            Ok(Command::Mail {
                from: Some(addr("alice", "example.org")),
                params: vec![
                    ("SIZE".into(), Some("1234".into())),
                    ("BODY".into(), Some("8BITMIME".into()))
                ]
            })
        );
        assert_eq!(
            parse_command(b"mail from: <>"),
            Ok(Command::Mail {
                from: None,
                params: vec![]
            })
        );
        assert_eq!(
            parse_command(
                b"RCPT TO:<@relay.example,@b.example:Bob.Smith@example.org> NOTIFY=NEVER"
            ),
            Ok(Command::Rcpt {
                to: Recipient::Address(addr("Bob.Smith", "example.org")),
                params: vec![("NOTIFY".into(), Some("NEVER".into()))]
            })
        );
        assert_eq!(
            parse_command(b"RCPT TO:<Postmaster>"),
            Ok(Command::Rcpt {
                to: Recipient::Postmaster,
                params: vec![]
            })
        );
        assert_eq!(
            parse_command("RCPT TO:<\"john doe\\\"x\"@example.org>".as_bytes()),
            Ok(Command::Rcpt {
                to: Recipient::Address(addr("john doe\"x", "example.org")),
                params: vec![]
            })
        );
        assert_eq!(
            parse_command("RCPT TO:<jörg@bücher.example> ".as_bytes()),
            Ok(Command::Rcpt {
                to: Recipient::Address(addr("jörg", "bücher.example")),
                params: vec![]
            })
        );
        assert_eq!(
            parse_command(b"RCPT TO:<a@[192.0.2.1]>"),
            Ok(Command::Rcpt {
                to: Recipient::Address(addr("a", "[192.0.2.1]")),
                params: vec![]
            })
        );
        assert_eq!(parse_command(b"NOOP hello"), Ok(Command::Noop));
        assert_eq!(
            parse_command(b"XCLIENT ADDR=1.2.3.4"),
            Ok(Command::Other("XCLIENT".into()))
        );
        let auth = parse_command(b"AUTH PLAIN AGFsaWNlAHB3").unwrap();
        assert_eq!(
            auth,
            Command::Auth {
                mechanism: "PLAIN".into(),
                initial: Some(Zeroizing::new(b"\0alice\0pw".to_vec()))
            }
        );
        assert!(!format!("{auth:?}").contains("AGFs"));
    }

    #[test]
    fn refusals_say_why_with_the_right_code() {
        for (line, code) in [
            (&b""[..], 500),
            (b"MAIL alice@example.org", 501),
            (b"MAIL FROM:alice@example.org", 501),
            (b"MAIL FROM:<alice>", 501),
            (b"MAIL FROM:<Postmaster>", 501),
            (b"RCPT TO:<>", 501),
            (b"RCPT TO:<a@b..c>", 501),
            (b"RCPT TO:<.a@b.c>", 501),
            (b"RCPT TO:<a@b.c>SIZE=1", 501),
            (b"RCPT TO:<a@b.c> SIZE=", 501),
            (b"RCPT TO:<a@[300.1.1.1]>", 501),
            (b"DATA now", 501),
            (b"EHLO", 501),
            (b"MAIL FROM:<a@b.c\x01>", 500),
            (b"\xff", 500),
        ] {
            let r = parse_command(line).unwrap_err();
            assert_eq!(r.code, code, "{line:?}: {r:?}");
            assert!(r.enhanced.is_some());
        }
        let long = format!("RCPT TO:<{}@example.org>", "a".repeat(300));
        assert_eq!(
            parse_command(long.as_bytes())
                .unwrap_err()
                .enhanced
                .as_deref(),
            Some("5.1.3")
        );
    }

    #[test]
    fn replies_are_lines() {
        let r = Reply::new(250, None, "mail.example greets you")
            .with_lines(["PIPELINING".to_string(), "SIZE 1000".to_string()]);
        assert_eq!(
            r.to_bytes(),
            b"250-mail.example greets you\r\n250-PIPELINING\r\n250 SIZE 1000\r\n"
        );
        assert_eq!(
            Reply::new(452, Some("4.5.3"), "too many\r\nrecipients").to_bytes(),
            b"452 4.5.3 too many  recipients\r\n"
        );
        assert_eq!(
            addr("john doe", "example.org").to_path(),
            "\"john doe\"@example.org"
        );
        assert_eq!(addr("a.b", "example.org").to_path(), "a.b@example.org");
    }

    proptest! {
        #[test]
        fn any_line_parses_or_is_refused_in_one_reply_line(line in proptest::collection::vec(any::<u8>(), 0..600)) {
            match parse_command(&line) {
                Ok(_) => {}
                Err(r) => {
                    let bytes = r.to_bytes();
                    prop_assert!((400..600).contains(&r.code));
                    prop_assert_eq!(bytes.iter().filter(|&&b| b == b'\n').count(), 1);
                }
            }
        }

        #[test]
        fn addresses_read_back(local in "[a-zA-Z0-9!#$%&'*+/=?^_`{|}~-]{1,20}(\\.[a-z0-9]{1,5}){0,2}", domain in "[a-z0-9]{1,10}(\\.[a-z0-9]{1,10}){0,3}") {
            let a = addr(&local, &domain);
            let line = format!("RCPT TO:<{}>", a.to_path());
            prop_assert_eq!(
                parse_command(line.as_bytes()),
                Ok(Command::Rcpt { to: Recipient::Address(a), params: vec![] })
            );
        }

        #[test]
        fn quoted_local_parts_read_back(local in "[ -~]{1,30}", domain in "[a-z]{1,10}\\.[a-z]{2,4}") {
            let a = addr(&local, &domain);
            let line = format!("MAIL FROM:<{}>", a.to_path());
            prop_assert_eq!(
                parse_command(line.as_bytes()),
                Ok(Command::Mail { from: Some(a), params: vec![] })
            );
        }
    }
}
