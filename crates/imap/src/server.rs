//! The server side of IMAP before authentication, for the proxy: a client's
//! command read with strict limits (the proxy faces the internet), the
//! pre-auth commands parsed, SASL PLAIN and LOGIN taken apart, and replies
//! written. After login the proxy relays bytes and parses nothing
//! (decision 006), so there is no post-auth grammar here.
//!
//! [`read_request`] reads one command with its literals (answering `+` to
//! synchronizing ones); [`parse_request`] is the sans-I/O part, a pure
//! function over those bytes (property tests and a fuzz target drive it).
//! A command that breaks a limit or the grammar is a [`Refusal`]: a tagged
//! `BAD` the session can go on after, or a `BYE` after which it cannot (a
//! line too long to find its end, a literal too big that the client sends
//! without waiting).

use std::time::Duration;

use tokio::io::{AsyncBufRead, AsyncWrite, AsyncWriteExt};
use zeroize::Zeroizing;

use crate::framing::{self, FramingError};
use mailport_mail::base64::base64_decode;

/// Bounds on one pre-auth command. Credentials are short: anything near
/// these is an attack or a confused client.
#[derive(Debug, Clone)]
pub struct Limits {
    /// One line, without its literals.
    pub line: usize,
    /// One literal.
    pub literal: usize,
    /// A whole command, lines and literals together.
    pub command: usize,
    /// Literals in one command.
    pub literals: usize,
    /// Longest wait for the client's next bytes.
    pub timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            line: 8 << 10,
            literal: 16 << 10,
            command: 32 << 10,
            literals: 4,
            timeout: Duration::from_secs(60),
        }
    }
}

/// One tagged command.
#[derive(Debug, PartialEq, Eq)]
pub struct Request {
    pub tag: String,
    pub command: Command,
}

/// The commands a server answers before login; anything else is `Other`
/// with its name in upper case.
#[derive(PartialEq, Eq)]
pub enum Command {
    Capability,
    Noop,
    Logout,
    StartTls,
    /// RFC 2971: the client's fields (`ID NIL` gives none).
    Id(Vec<(String, Option<String>)>),
    Login {
        user: String,
        password: Zeroizing<String>,
    },
    /// `initial` is the SASL-IR initial response, decoded (`=` is empty).
    Authenticate {
        mechanism: String,
        initial: Option<Zeroizing<Vec<u8>>>,
    },
    Other(String),
}

impl std::fmt::Debug for Command {
    // Never shows a password or SASL data, so that requests can be logged.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Command::Capability => f.write_str("Capability"),
            Command::Noop => f.write_str("Noop"),
            Command::Logout => f.write_str("Logout"),
            Command::StartTls => f.write_str("StartTls"),
            Command::Id(fields) => f.debug_tuple("Id").field(fields).finish(),
            Command::Login { user, .. } => write!(f, "Login {{ user: {user:?}, .. }}"),
            Command::Authenticate { mechanism, initial } => write!(
                f,
                "Authenticate {{ mechanism: {mechanism:?}, initial: {} }}",
                if initial.is_some() { "given" } else { "none" }
            ),
            Command::Other(name) => f.debug_tuple("Other").field(name).finish(),
        }
    }
}

/// A command the server will not carry out, with the reply it gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// `tag BAD text`; the session goes on. The tag is `*` when the line
    /// had none.
    Bad { tag: String, text: String },
    /// `* BYE text`; the session must end (the byte stream cannot be
    /// followed any more).
    Bye(String),
}

impl Refusal {
    /// The reply's bytes.
    pub fn reply(&self) -> Vec<u8> {
        match self {
            Refusal::Bad { tag, text } => tagged(tag, "BAD", None, text),
            Refusal::Bye(text) => untagged("BYE", None, text),
        }
    }
}

/// Why no command could be read at all (nothing to answer).
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("the client closed the connection")]
    Closed,
    #[error("the client sent nothing for {} seconds", .0.as_secs())]
    Timeout(Duration),
}

/// Reads one command with its literals, answering `+` to each synchronizing
/// literal it accepts.
pub async fn read_request<S: AsyncBufRead + AsyncWrite + Unpin>(
    io: &mut S,
    limits: &Limits,
) -> Result<Result<Request, Refusal>, ReadError> {
    let mut raw = Vec::new();
    let mut literals = 0;
    loop {
        let line_start = raw.len();
        if let Err(e) = framing::read_line(io, &mut raw, limits.line, limits.timeout).await {
            return line_failure(e).map(Err);
        }
        let line = framing::without_line_end(&raw[line_start..]);
        let Some(n) = framing::trailing_literal(line) else {
            return Ok(parse_request(&raw));
        };
        let synchronizing = !line.ends_with(b"+}");
        literals += 1;
        let too_big = n > limits.literal as u64
            || raw.len() as u64 + n > limits.command as u64
            || literals > limits.literals;
        if too_big {
            let text = format!(
                "literal too big or too many (at most {} literals of {} bytes)",
                limits.literals, limits.literal
            );
            // The client waits for '+' before a synchronizing literal, so
            // the stream stays in step; a non-synchronizing one is on its way.
            return Ok(Err(match synchronizing {
                true => Refusal::Bad {
                    tag: tag_of(&raw),
                    text,
                },
                false => Refusal::Bye(text),
            }));
        }
        if synchronizing {
            io.write_all(b"+ Ready for literal data\r\n").await?;
            io.flush().await?;
        }
        match framing::read_literal(io, &mut raw, n as usize, limits.timeout).await {
            Ok(()) => {}
            Err(FramingError::Io(e)) => return Err(ReadError::Io(e)),
            Err(FramingError::Timeout(t)) => return Err(ReadError::Timeout(t)),
            Err(_) => return Err(ReadError::Closed),
        }
    }
}

/// A line that could not be read: one too long is answered (BYE: its end
/// cannot be found); anything else ends the session unanswered.
fn line_failure(e: FramingError) -> Result<Refusal, ReadError> {
    match e {
        FramingError::TooLong { limit, .. } => {
            Ok(Refusal::Bye(format!("line longer than {limit} bytes")))
        }
        FramingError::Io(e) => Err(ReadError::Io(e)),
        FramingError::Closed => Err(ReadError::Closed),
        FramingError::Timeout(t) => Err(ReadError::Timeout(t)),
    }
}

/// The tag of a command line, or `*` when it has none a reply could carry.
fn tag_of(raw: &[u8]) -> String {
    let end = raw
        .iter()
        .position(|&b| b == b' ' || b == b'\r' || b == b'\n')
        .unwrap_or(raw.len());
    match raw[..end].iter().all(|&b| is_tag_char(b)) && end > 0 {
        true => String::from_utf8_lossy(&raw[..end]).into_owned(),
        false => "*".into(),
    }
}

fn is_atom_char(b: u8) -> bool {
    b > 0x20 && b < 0x7f && !b"(){%*\"\\]".contains(&b)
}

fn is_astring_char(b: u8) -> bool {
    is_atom_char(b) || b == b']'
}

fn is_tag_char(b: u8) -> bool {
    is_astring_char(b) && b != b'+'
}

/// Parses one command as [`read_request`] assembled it: lines with their
/// line ends, each literal's bytes after its announcement.
pub fn parse_request(raw: &[u8]) -> Result<Request, Refusal> {
    let tag = tag_of(raw);
    let bad = |text: &str| Refusal::Bad {
        tag: tag.clone(),
        text: text.to_string(),
    };
    if tag == "*" {
        return Err(bad("a command starts with a tag, e.g. a1 CAPABILITY"));
    }
    let mut c = Cursor {
        buf: raw,
        pos: tag.len(),
    };
    if !c.eat(b' ') {
        return Err(bad("a command name follows the tag after one space"));
    }
    let name = c
        .atom()
        .ok_or_else(|| bad("a command name follows the tag"))?;
    let name = String::from_utf8_lossy(name).to_ascii_uppercase();
    let command = match name.as_str() {
        "CAPABILITY" => Command::Capability,
        "NOOP" => Command::Noop,
        "LOGOUT" => Command::Logout,
        "STARTTLS" => Command::StartTls,
        "LOGIN" => {
            let user = c
                .space_astring()
                .ok_or_else(|| bad("LOGIN user password"))?;
            let password = Zeroizing::new(
                c.space_astring()
                    .ok_or_else(|| bad("LOGIN user password"))?,
            );
            let user = String::from_utf8(user).map_err(|_| bad("the user name is not UTF-8"))?;
            let password = String::from_utf8(password.to_vec())
                .map(Zeroizing::new)
                .map_err(|_| bad("the password is not UTF-8"))?;
            Command::Login { user, password }
        }
        "AUTHENTICATE" => {
            if !c.eat(b' ') {
                return Err(bad("AUTHENTICATE mechanism [initial-response]"));
            }
            let mechanism = c.atom().ok_or_else(|| bad("AUTHENTICATE mechanism"))?;
            let mechanism = String::from_utf8_lossy(mechanism).to_ascii_uppercase();
            let initial = match c.eat(b' ') {
                false => None,
                true => {
                    let start = c.pos;
                    while c
                        .peek()
                        .is_some_and(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b))
                    {
                        c.pos += 1;
                    }
                    let text = &raw[start..c.pos];
                    Some(Zeroizing::new(match text {
                        b"=" => Vec::new(),
                        _ => base64_decode(text)
                            .filter(|_| !text.is_empty())
                            .ok_or_else(|| bad("the initial response is not base64"))?,
                    }))
                }
            };
            Command::Authenticate { mechanism, initial }
        }
        "ID" => Command::Id(
            c.id_fields()
                .ok_or_else(|| bad("ID NIL or ID (\"name\" \"value\" ...)"))?,
        ),
        _ => {
            return Ok(Request {
                tag,
                command: Command::Other(name),
            })
        }
    };
    if !c.at_line_end() {
        return Err(bad(&format!("unexpected text after {name}")));
    }
    Ok(Request { tag, command })
}

struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    fn eat(&mut self, b: u8) -> bool {
        let hit = self.peek() == Some(b);
        self.pos += usize::from(hit);
        hit
    }

    fn at_line_end(&self) -> bool {
        matches!(&self.buf[self.pos..], b"\r\n" | b"\n" | b"")
    }

    fn atom(&mut self) -> Option<&[u8]> {
        let start = self.pos;
        while self.peek().is_some_and(is_atom_char) {
            self.pos += 1;
        }
        (self.pos > start).then(|| &self.buf[start..self.pos])
    }

    fn space_astring(&mut self) -> Option<Vec<u8>> {
        if !self.eat(b' ') {
            return None;
        }
        self.astring()
    }

    /// An atom (with `]`), a quoted string or a literal.
    fn astring(&mut self) -> Option<Vec<u8>> {
        match self.peek()? {
            b'"' => self.quoted(),
            b'{' => self.literal(),
            _ => {
                let start = self.pos;
                while self.peek().is_some_and(is_astring_char) {
                    self.pos += 1;
                }
                (self.pos > start).then(|| self.buf[start..self.pos].to_vec())
            }
        }
    }

    fn quoted(&mut self) -> Option<Vec<u8>> {
        self.pos += 1;
        let mut out = Vec::new();
        loop {
            match self.peek()? {
                b'"' => {
                    self.pos += 1;
                    return Some(out);
                }
                b'\\' => {
                    let next = *self.buf.get(self.pos + 1)?;
                    if next != b'"' && next != b'\\' {
                        return None;
                    }
                    out.push(next);
                    self.pos += 2;
                }
                b'\r' | b'\n' | 0 => return None,
                b => {
                    out.push(b);
                    self.pos += 1;
                }
            }
        }
    }

    /// `{n}` or `{n+}`, the line end, then n bytes.
    fn literal(&mut self) -> Option<Vec<u8>> {
        let close = self.pos + self.buf[self.pos..].iter().position(|&b| b == b'}')?;
        let n = framing::trailing_literal(&self.buf[self.pos..=close])? as usize;
        let rest = &self.buf[close + 1..];
        let skip = match rest {
            [b'\r', b'\n', ..] => 2,
            [b'\n', ..] => 1,
            _ => return None,
        };
        let start = close + 1 + skip;
        let bytes = self.buf.get(start..start.checked_add(n)?)?.to_vec();
        self.pos = start + n;
        Some(bytes)
    }

    fn nstring(&mut self) -> Option<Option<Vec<u8>>> {
        if self.buf[self.pos..].len() >= 3
            && self.buf[self.pos..self.pos + 3].eq_ignore_ascii_case(b"NIL")
        {
            self.pos += 3;
            return Some(None);
        }
        match self.peek()? {
            b'"' => self.quoted().map(Some),
            b'{' => self.literal().map(Some),
            _ => None,
        }
    }

    /// ` NIL` or ` (k v k v ...)`, at most 30 pairs (RFC 2971).
    fn id_fields(&mut self) -> Option<Vec<(String, Option<String>)>> {
        if !self.eat(b' ') {
            return None;
        }
        if !self.eat(b'(') {
            return self.nstring().filter(Option::is_none).map(|_| Vec::new());
        }
        let mut fields = Vec::new();
        loop {
            if self.eat(b')') {
                return Some(fields);
            }
            if !fields.is_empty() && !self.eat(b' ') {
                return None;
            }
            let key = self.nstring()??;
            if !self.eat(b' ') {
                return None;
            }
            let value = self.nstring()?;
            let text = |b: Vec<u8>| String::from_utf8_lossy(&b).into_owned();
            fields.push((text(key), value.map(text)));
            if fields.len() > 30 {
                return None;
            }
        }
    }
}

/// One SASL client response (a continuation line).
#[derive(PartialEq, Eq)]
pub enum SaslResponse {
    Data(Zeroizing<Vec<u8>>),
    /// The client sent `*`.
    Cancelled,
}

/// Reads a client's answer to a `+` challenge: base64 or `*`.
pub async fn read_sasl_response<S: AsyncBufRead + Unpin>(
    io: &mut S,
    limits: &Limits,
) -> Result<Result<SaslResponse, Refusal>, ReadError> {
    let mut line = Zeroizing::new(Vec::new());
    if let Err(e) = framing::read_line(io, &mut line, limits.line, limits.timeout).await {
        return line_failure(e).map(Err);
    }
    Ok(sasl_response(framing::without_line_end(&line)))
}

/// A SASL continuation line (without its line end), decoded. Its refusal
/// has no tag: the caller puts the command's.
pub fn sasl_response(line: &[u8]) -> Result<SaslResponse, Refusal> {
    if line == b"*" {
        return Ok(SaslResponse::Cancelled);
    }
    match line {
        b"" => Ok(SaslResponse::Data(Zeroizing::new(Vec::new()))),
        _ => base64_decode(line)
            .map(|d| SaslResponse::Data(Zeroizing::new(d)))
            .ok_or(Refusal::Bad {
                tag: String::new(),
                text: "the response is not base64".into(),
            }),
    }
}

/// The parts of a SASL PLAIN message (RFC 4616): `authzid NUL authcid NUL
/// password`.
pub struct Plain {
    /// Empty when the client acts as itself.
    pub authzid: String,
    pub user: String,
    pub password: Zeroizing<String>,
}

pub fn sasl_plain(message: &[u8]) -> Option<Plain> {
    let mut parts = message.split(|&b| b == 0);
    let authzid = std::str::from_utf8(parts.next()?).ok()?.to_string();
    let user = std::str::from_utf8(parts.next()?).ok()?.to_string();
    let password = Zeroizing::new(std::str::from_utf8(parts.next()?).ok()?.to_string());
    if parts.next().is_some() || user.is_empty() {
        return None;
    }
    Some(Plain {
        authzid,
        user,
        password,
    })
}

/// `tag STATUS [code] text` with CRLF.
pub fn tagged(tag: &str, status: &str, code: Option<&str>, text: &str) -> Vec<u8> {
    let code = code.map(|c| format!("[{c}] ")).unwrap_or_default();
    format!("{tag} {status} {code}{}\r\n", one_line(text)).into_bytes()
}

/// `* STATUS [code] text` with CRLF.
pub fn untagged(status: &str, code: Option<&str>, text: &str) -> Vec<u8> {
    tagged("*", status, code, text)
}

/// Text a reply can carry: no line breaks, bounded.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(400)
        .collect()
}

/// A string as an IMAP quoted string (for ID replies).
pub fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars().filter(|c| !c.is_control()) {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(raw: &str) -> Command {
        parse_request(raw.as_bytes()).unwrap().command
    }

    #[test]
    fn pre_auth_commands() {
        assert_eq!(cmd("a1 capability\r\n"), Command::Capability);
        assert_eq!(cmd("a2 NOOP\r\n"), Command::Noop);
        assert_eq!(cmd("a3 StartTLS\n"), Command::StartTls);
        assert_eq!(cmd("a4 LOGOUT\r\n"), Command::Logout);
        assert_eq!(cmd("a5 SELECT INBOX\r\n"), Command::Other("SELECT".into()));
        let Command::Login { user, password } = cmd("x LOGIN \"al\\\"ice\" {5}\r\ns3 \"t\r\n")
        else {
            panic!()
        };
        assert_eq!((user.as_str(), password.as_str()), ("al\"ice", "s3 \"t"));
        let Command::Login { user, password } = cmd("x LOGIN alice@example.org p]w\r\n") else {
            panic!()
        };
        assert_eq!(
            (user.as_str(), password.as_str()),
            ("alice@example.org", "p]w")
        );
        let Command::Authenticate { mechanism, initial } =
            cmd("b AUTHENTICATE plain AGFsaWNlAHB3\r\n")
        else {
            panic!()
        };
        assert_eq!(mechanism, "PLAIN");
        let p = sasl_plain(&initial.unwrap()).unwrap();
        assert_eq!(
            (p.authzid.as_str(), p.user.as_str(), p.password.as_str()),
            ("", "alice", "pw")
        );
        assert_eq!(
            cmd("c AUTHENTICATE PLAIN =\r\n"),
            Command::Authenticate {
                mechanism: "PLAIN".into(),
                initial: Some(Zeroizing::new(Vec::new()))
            }
        );
        assert_eq!(
            cmd("d ID (\"name\" \"Thunderbird\" \"version\" NIL)\r\n"),
            Command::Id(vec![
                ("name".into(), Some("Thunderbird".into())),
                ("version".into(), None)
            ])
        );
        assert_eq!(cmd("e ID NIL\r\n"), Command::Id(vec![]));
    }

    #[test]
    fn malformed_commands_are_bad_with_their_tag() {
        for raw in [
            "a1 LOGIN alice\r\n",
            "a1 LOGIN alice pw extra\r\n",
            "a1 LOGIN \"alice pw\r\n",
            "a1 CAPABILITY now\r\n",
            "a1 AUTHENTICATE PLAIN !!!\r\n",
            "a1 ID (\"name\")\r\n",
            "a1 LOGIN alice {9}\r\nshort\r\n",
            "a1  NOOP\r\n",
        ] {
            match parse_request(raw.as_bytes()) {
                Err(Refusal::Bad { tag, .. }) => assert_eq!(tag, "a1", "{raw:?}"),
                other => panic!("{raw:?}: {other:?}"),
            }
        }
        assert_eq!(tag_of(b"(x NOOP\r\n"), "*");
        assert!(matches!(parse_request(b"\r\n"), Err(Refusal::Bad { tag, .. }) if tag == "*"));
    }

    #[test]
    fn a_password_never_shows_in_debug() {
        let shown = format!("{:?}", cmd("a LOGIN alice Secret123\r\n"));
        assert!(
            !shown.contains("Secret123") && shown.contains("alice"),
            "{shown}"
        );
        let shown = format!(
            "{:?}",
            cmd("a AUTHENTICATE PLAIN AGFsaWNlAFNlY3JldDEyMw==\r\n")
        );
        assert!(!shown.contains("AGFs"), "{shown}");
    }

    #[test]
    fn sasl_messages() {
        assert!(sasl_plain(b"\0\0pw").is_none());
        assert!(sasl_plain(b"alice\0pw").is_none());
        assert!(sasl_plain(b"a\0b\0c\0d").is_none());
        assert_eq!(sasl_plain(b"admin\0alice\0pw").unwrap().authzid, "admin");
        assert!(matches!(sasl_response(b"*"), Ok(SaslResponse::Cancelled)));
        assert!(sasl_response(b"%%").is_err());
        assert!(
            matches!(sasl_response(b"YWxpY2U="), Ok(SaslResponse::Data(d)) if d.as_slice() == b"alice")
        );
    }

    #[test]
    fn replies() {
        assert_eq!(
            tagged("a1", "NO", Some("UNAVAILABLE"), "try\r\nlater"),
            b"a1 NO [UNAVAILABLE] try  later\r\n"
        );
        assert_eq!(quoted("a\"b\\c"), "\"a\\\"b\\\\c\"");
    }

    async fn read_all(input: &[u8], limits: &Limits) -> (Vec<Result<Request, Refusal>>, Vec<u8>) {
        let (client, server) = tokio::io::duplex(1 << 16);
        let (mut cr, mut cw) = tokio::io::split(client);
        cw.write_all(input).await.unwrap();
        cw.shutdown().await.unwrap();
        let mut io = tokio::io::BufStream::new(server);
        let mut out = Vec::new();
        while let Ok(r) = read_request(&mut io, limits).await {
            let bye = matches!(r, Err(Refusal::Bye(_)));
            out.push(r);
            if bye {
                break;
            }
        }
        drop(io);
        let mut said = Vec::new();
        tokio::io::AsyncReadExt::read_to_end(&mut cr, &mut said)
            .await
            .unwrap();
        (out, said)
    }

    #[tokio::test]
    async fn literals_are_invited_and_bounded() {
        let limits = Limits {
            literal: 10,
            ..Limits::default()
        };
        let (got, said) = read_all(
            b"a LOGIN {5}\r\nalice {3+}\r\npw!\r\nb LOGIN {11}\r\nc NOOP\r\n",
            &limits,
        )
        .await;
        assert!(
            matches!(&got[0], Ok(Request { command: Command::Login { user, .. }, .. }) if user == "alice")
        );
        assert_eq!(
            got[1],
            Err(Refusal::Bad {
                tag: "b".into(),
                text: "literal too big or too many (at most 4 literals of 10 bytes)".into()
            })
        );
        assert!(matches!(
            got[2],
            Ok(Request {
                command: Command::Noop,
                ..
            })
        ));
        // One invitation: for the accepted synchronizing literal only.
        assert_eq!(said, b"+ Ready for literal data\r\n");
        let (got, _) = read_all(b"a LOGIN {50+}\r\n", &limits).await;
        assert!(matches!(got[0], Err(Refusal::Bye(_))));
        let long = format!("a LOGIN {} x\r\n", "u".repeat(9000));
        let (got, _) = read_all(long.as_bytes(), &Limits::default()).await;
        assert!(matches!(got[0], Err(Refusal::Bye(_))));
    }
}
