//! Sans-I/O parsing of single response lines: status, response codes
//! (RFC 2449 8), the APOP timestamp (RFC 1939 7), CAPA lines (RFC 2449 5).

/// ```text
/// single-line = status [SP text] CRLF
/// status      = "+OK" / "-ERR"
/// text        = [ "[" resp-code "]" SP ] *schar     ; RFC 2449 8
/// resp-code   = resp-level *("/" resp-level)
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub ok: bool,
    /// Upper-cased response code without brackets, e.g. `SYS/TEMP`, `IN-USE`,
    /// `LOGIN-DELAY`, `AUTH` (RFC 2449 8, RFC 3206).
    pub code: Option<String>,
    /// The human-readable rest of the line.
    pub text: String,
}

/// What one line from the server was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    Status(Status),
    /// `+ base64` (or `+` alone): a SASL challenge (RFC 5034 4).
    Continuation(String),
}

/// Why a line is not a POP3 response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a POP3 response: {0:?}")]
pub struct ParseError(pub String);

/// Parses one line (with or without its line end).
pub fn parse_line(raw: &[u8]) -> Result<Line, ParseError> {
    let line = trim_line_end(raw);
    let text = String::from_utf8_lossy(line);
    let (ok, rest) = if let Some(rest) = strip_word(&text, "+OK") {
        (true, rest)
    } else if let Some(rest) = strip_word(&text, "-ERR") {
        (false, rest)
    } else if let Some(rest) = strip_word(&text, "+") {
        return Ok(Line::Continuation(rest.trim_start_matches(' ').to_string()));
    } else {
        return Err(ParseError(shorten(&text)));
    };
    let rest = rest.trim_start_matches(' ');
    let (code, text) = match rest.strip_prefix('[').and_then(|r| r.split_once(']')) {
        Some((code, after)) if is_code(code) => (
            Some(code.to_ascii_uppercase()),
            after.trim_start_matches(' ').to_string(),
        ),
        _ => (None, rest.to_string()),
    };
    Ok(Line::Status(Status { ok, code, text }))
}

/// `word` at the start of `s`, followed by a space or nothing. Servers differ
/// in case ("+ok" is seen in the wild), so the match ignores it.
fn strip_word<'a>(s: &'a str, word: &str) -> Option<&'a str> {
    let head = s.get(..word.len())?;
    if !head.eq_ignore_ascii_case(word) {
        return None;
    }
    let rest = &s[word.len()..];
    (rest.is_empty() || rest.starts_with(' ')).then_some(rest)
}

/// `resp-level = 1*rchar`, `rchar = ALPHA / DIGIT / "-"` (upper- or lower-case).
fn is_code(s: &str) -> bool {
    !s.is_empty()
        && s.split('/').all(|level| {
            !level.is_empty()
                && level
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

pub(crate) fn trim_line_end(raw: &[u8]) -> &[u8] {
    raw.strip_suffix(b"\r\n")
        .or_else(|| raw.strip_suffix(b"\n"))
        .unwrap_or(raw)
}

pub(crate) fn shorten(s: &str) -> String {
    match s.char_indices().nth(120) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// The APOP timestamp in a greeting: the first `<…>` that looks like a
/// msg-id (RFC 1939 7: "the syntax of a msg-id", so it holds an "@" and no
/// spaces), angle brackets included, as the digest needs it.
pub fn apop_timestamp(greeting: &str) -> Option<String> {
    let mut rest = greeting;
    while let Some(start) = rest.find('<') {
        let candidate = &rest[start..];
        let end = candidate.find('>')?;
        let inner = &candidate[1..end];
        if inner.contains('@') && !inner.is_empty() && !inner.contains([' ', '<']) {
            return Some(candidate[..=end].to_string());
        }
        rest = &candidate[1..];
    }
    None
}

/// One line of a CAPA response: the capability's name and its arguments.
///
/// ```text
/// capa-line = capa-tag *(SP param) CRLF   ; RFC 2449 5
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capability {
    /// Upper-cased (`SASL`, `UIDL`, `PIPELINING`, `STLS`, …).
    pub name: String,
    pub args: Vec<String>,
}

impl Capability {
    pub fn parse(line: &str) -> Option<Capability> {
        let mut words = line.split_ascii_whitespace();
        let name = words.next()?.to_ascii_uppercase();
        Some(Capability {
            name,
            args: words.map(str::to_string).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(raw: &str) -> Status {
        match parse_line(raw.as_bytes()).unwrap() {
            Line::Status(s) => s,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn status_lines_and_codes() {
        assert_eq!(
            status("+OK 2 320\r\n"),
            Status {
                ok: true,
                code: None,
                text: "2 320".into()
            }
        );
        assert_eq!(status("+OK").text, "");
        let s = status("-ERR [SYS/TEMP] try later\r\n");
        assert_eq!((s.ok, s.code.as_deref()), (false, Some("SYS/TEMP")));
        assert_eq!(s.text, "try later");
        assert_eq!(
            status("-ERR [in-use] locked").code.as_deref(),
            Some("IN-USE")
        );
        // Brackets that are not a code stay text.
        let s = status("-ERR [no code here] x");
        assert_eq!((s.code, s.text.as_str()), (None, "[no code here] x"));
        assert_eq!(status("-err lower case\n").text, "lower case");
        assert_eq!(
            parse_line(b"+ ZGF0YQ==\r\n").unwrap(),
            Line::Continuation("ZGF0YQ==".into())
        );
        assert_eq!(
            parse_line(b"+\r\n").unwrap(),
            Line::Continuation(String::new())
        );
        assert!(parse_line(b"* OK IMAP here\r\n").is_err());
        assert!(parse_line(b"+OKAY\r\n").is_err());
    }

    #[test]
    fn apop_timestamps() {
        // RFC 1939 7.
        assert_eq!(
            apop_timestamp("POP3 server ready <1896.697170952@dbc.mtview.ca.us>").as_deref(),
            Some("<1896.697170952@dbc.mtview.ca.us>")
        );
        assert_eq!(
            apop_timestamp("Dovecot <x> ready. <12.34@host>").as_deref(),
            Some("<12.34@host>")
        );
        assert_eq!(apop_timestamp("Dovecot ready."), None);
        assert_eq!(apop_timestamp("ready <unclosed@x"), None);
    }

    #[test]
    fn capability_lines() {
        assert_eq!(
            Capability::parse("sasl PLAIN LOGIN"),
            Some(Capability {
                name: "SASL".into(),
                args: vec!["PLAIN".into(), "LOGIN".into()]
            })
        );
        assert_eq!(Capability::parse("  "), None);
    }
}
