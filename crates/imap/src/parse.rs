//! Sans-I/O parser for server responses (RFC 3501 section 7, 9).
//!
//! Input is one complete response as it came off the wire, literals inline
//! (`{n}\r\n` followed by n bytes). The framing layer ([`crate::client`])
//! assembles it; this module only turns bytes into [`Response`] values and
//! never panics on hostile input.

use std::fmt;

/// A parse failure, with the offending response shown (shortened).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub reason: String,
    pub near: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (near {:?})", self.reason, self.near)
    }
}

impl std::error::Error for ParseError {}

/// A generic IMAP value: the grammar's atoms, numbers, strings and lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// An atom, number, flag (`\Seen`), or fetch item name like `BODY[]`.
    Atom(Vec<u8>),
    /// A quoted string or a literal, unescaped.
    Str(Vec<u8>),
    Nil,
    List(Vec<Value>),
}

impl Value {
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Atom(b) | Value::Str(b) => Some(b),
            _ => None,
        }
    }
    pub fn as_u32(&self) -> Option<u32> {
        match self {
            Value::Atom(b) => std::str::from_utf8(b).ok()?.parse().ok(),
            _ => None,
        }
    }
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Value::Atom(b) => std::str::from_utf8(b).ok()?.parse().ok(),
            _ => None,
        }
    }
    pub fn is_atom(&self, name: &str) -> bool {
        matches!(self, Value::Atom(b) if b.eq_ignore_ascii_case(name.as_bytes()))
    }
}

/// Completion status of a tagged or untagged status response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    No,
    Bad,
    Bye,
    PreAuth,
}

/// `resp-text = ["[" resp-text-code "]" SP] text`
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RespText {
    /// The response code's name, upper-cased (`APPENDUID`, `UIDVALIDITY`).
    pub code: Option<String>,
    /// The code's arguments, parsed as values.
    pub code_args: Vec<Value>,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    Continuation(String),
    Tagged {
        tag: String,
        status: Status,
        text: RespText,
    },
    Untagged(Untagged),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Untagged {
    Status {
        status: Status,
        text: RespText,
    },
    Capability(Vec<String>),
    /// LIST or LSUB: attributes, hierarchy delimiter, raw (encoded) name.
    List {
        lsub: bool,
        attributes: Vec<String>,
        delimiter: Option<u8>,
        name: Vec<u8>,
    },
    /// NAMESPACE: personal, other users', shared; each (prefix, delimiter).
    Namespace([Vec<(Vec<u8>, Option<u8>)>; 3]),
    Exists(u32),
    Recent(u32),
    Expunge(u32),
    Flags(Vec<String>),
    Fetch {
        seq: u32,
        items: Vec<(String, Value)>,
    },
    Enabled(Vec<String>),
    /// Anything else (SEARCH, STATUS, ID, ...) kept as values.
    Other {
        name: String,
        args: Vec<Value>,
    },
}

struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn err(&self, reason: impl Into<String>) -> ParseError {
        let start = self.pos.saturating_sub(20);
        let end = (self.pos + 40).min(self.buf.len());
        ParseError {
            reason: reason.into(),
            near: String::from_utf8_lossy(&self.buf[start..end]).into_owned(),
        }
    }
    fn peek(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }
    fn at_end(&self) -> bool {
        self.pos >= self.buf.len() || self.buf[self.pos..] == *b"\r\n"
    }
    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }
    fn expect(&mut self, c: u8) -> Result<(), ParseError> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(self.err(format!("expected {:?}", c as char)))
        }
    }
    fn skip_spaces(&mut self) {
        while self.peek() == Some(b' ') {
            self.pos += 1;
        }
    }
    /// Text up to CRLF (or end).
    fn rest_of_line(&mut self) -> String {
        let start = self.pos;
        while self.pos < self.buf.len()
            && self.buf[self.pos] != b'\r'
            && self.buf[self.pos] != b'\n'
        {
            self.pos += 1;
        }
        String::from_utf8_lossy(&self.buf[start..self.pos]).into_owned()
    }

    /// An atom-like token. Brackets are balanced so that `BODY[HEADER.FIELDS (A B)]`
    /// and `BODY[]<0>` are one token.
    fn atom(&mut self) -> Result<Vec<u8>, ParseError> {
        let start = self.pos;
        let mut depth = 0usize;
        while let Some(c) = self.peek() {
            match c {
                b'[' => depth += 1,
                b']' if depth > 0 => depth -= 1,
                b']' => break,
                b' ' | b'(' | b')' if depth == 0 => break,
                b'\r' | b'\n' | b'{' | b'"' if depth == 0 => break,
                b'\r' | b'\n' => break,
                _ => {}
            }
            self.pos += 1;
        }
        if self.pos == start {
            return Err(self.err("expected an atom"));
        }
        Ok(self.buf[start..self.pos].to_vec())
    }

    /// `tag = 1*<any ASTRING-CHAR except "+">`: unlike [`Cursor::atom`], no
    /// bracket lets a space or a parenthesis into it.
    fn tag(&mut self) -> Result<Vec<u8>, ParseError> {
        let start = self.pos;
        while let Some(c) = self.peek() {
            if c <= b' ' || matches!(c, 0x7f | b'(' | b')' | b'{' | b'"' | b'%' | b'*' | b'\\') {
                break;
            }
            self.pos += 1;
        }
        if self.pos == start {
            return Err(self.err("expected a tag"));
        }
        Ok(self.buf[start..self.pos].to_vec())
    }

    fn quoted(&mut self) -> Result<Vec<u8>, ParseError> {
        self.expect(b'"')?;
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None | Some(b'\r') | Some(b'\n') => {
                    return Err(self.err("unterminated quoted string"))
                }
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.pos += 1;
                    match self.peek() {
                        Some(c @ (b'"' | b'\\')) => {
                            out.push(c);
                            self.pos += 1;
                        }
                        _ => return Err(self.err("bad escape in quoted string")),
                    }
                }
                Some(c) => {
                    out.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    fn literal(&mut self) -> Result<Vec<u8>, ParseError> {
        self.expect(b'{')?;
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
        let n: usize = std::str::from_utf8(&self.buf[start..self.pos])
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| self.err("bad literal length"))?;
        self.eat(b'+');
        self.expect(b'}')?;
        self.expect(b'\r')?;
        self.expect(b'\n')?;
        if self.buf.len() - self.pos < n {
            return Err(self.err("literal shorter than announced"));
        }
        let v = self.buf[self.pos..self.pos + n].to_vec();
        self.pos += n;
        Ok(v)
    }

    fn value(&mut self, depth: usize) -> Result<Value, ParseError> {
        if depth > 32 {
            return Err(self.err("lists nested too deeply"));
        }
        match self.peek() {
            Some(b'(') => {
                self.pos += 1;
                let mut items = Vec::new();
                loop {
                    self.skip_spaces();
                    if self.eat(b')') {
                        return Ok(Value::List(items));
                    }
                    if self.at_end() {
                        return Err(self.err("unterminated list"));
                    }
                    items.push(self.value(depth + 1)?);
                }
            }
            Some(b'"') => Ok(Value::Str(self.quoted()?)),
            Some(b'{') => Ok(Value::Str(self.literal()?)),
            Some(_) => {
                let a = self.atom()?;
                if a.eq_ignore_ascii_case(b"NIL") {
                    Ok(Value::Nil)
                } else {
                    Ok(Value::Atom(a))
                }
            }
            None => Err(self.err("unexpected end of response")),
        }
    }

    /// Values until end of line.
    fn values(&mut self) -> Result<Vec<Value>, ParseError> {
        let mut out = Vec::new();
        loop {
            self.skip_spaces();
            if self.at_end() {
                return Ok(out);
            }
            out.push(self.value(0)?);
        }
    }

    fn resp_text(&mut self) -> Result<RespText, ParseError> {
        self.skip_spaces();
        let mut rt = RespText::default();
        if self.eat(b'[') {
            let name = self.atom()?;
            rt.code = Some(String::from_utf8_lossy(&name).to_ascii_uppercase());
            loop {
                self.skip_spaces();
                if self.eat(b']') {
                    break;
                }
                if self.at_end() {
                    return Err(self.err("unterminated response code"));
                }
                // Codes carry free text too (e.g. `[ALERT]`-less servers); be lenient.
                match self.value(0) {
                    Ok(v) => rt.code_args.push(v),
                    Err(_) => {
                        self.pos += 1;
                    }
                }
            }
            self.skip_spaces();
        }
        rt.text = self.rest_of_line();
        Ok(rt)
    }
}

fn status_of(word: &[u8]) -> Option<Status> {
    match word.to_ascii_uppercase().as_slice() {
        b"OK" => Some(Status::Ok),
        b"NO" => Some(Status::No),
        b"BAD" => Some(Status::Bad),
        b"BYE" => Some(Status::Bye),
        b"PREAUTH" => Some(Status::PreAuth),
        _ => None,
    }
}

fn strings(values: &[Value]) -> Vec<String> {
    values
        .iter()
        .filter_map(|v| v.as_bytes())
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .collect()
}

fn delimiter(v: &Value) -> Result<Option<u8>, String> {
    match v {
        Value::Nil => Ok(None),
        Value::Str(b) if b.len() == 1 => Ok(Some(b[0])),
        other => Err(format!("bad hierarchy delimiter {other:?}")),
    }
}

/// Parses one complete response.
pub fn parse_response(buf: &[u8]) -> Result<Response, ParseError> {
    let mut c = Cursor { buf, pos: 0 };
    if c.eat(b'+') {
        c.skip_spaces();
        return Ok(Response::Continuation(c.rest_of_line()));
    }
    if c.eat(b'*') {
        c.expect(b' ')?;
        return parse_untagged(&mut c).map(Response::Untagged);
    }
    let tag = c.tag()?;
    c.expect(b' ')?;
    let word = c.atom()?;
    let status = status_of(&word).ok_or_else(|| c.err("expected OK, NO or BAD after tag"))?;
    let text = c.resp_text()?;
    Ok(Response::Tagged {
        tag: String::from_utf8_lossy(&tag).into_owned(),
        status,
        text,
    })
}

fn parse_untagged(c: &mut Cursor<'_>) -> Result<Untagged, ParseError> {
    let first = c.atom()?;
    if first.iter().all(u8::is_ascii_digit) {
        let n: u32 = std::str::from_utf8(&first)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| c.err("number out of range"))?;
        c.expect(b' ')?;
        let what = c.atom()?.to_ascii_uppercase();
        return match what.as_slice() {
            b"EXISTS" => Ok(Untagged::Exists(n)),
            b"RECENT" => Ok(Untagged::Recent(n)),
            b"EXPUNGE" => Ok(Untagged::Expunge(n)),
            b"FETCH" => {
                c.skip_spaces();
                let Value::List(list) = c.value(0)? else {
                    return Err(c.err("FETCH data is not a list"));
                };
                Ok(Untagged::Fetch {
                    seq: n,
                    items: fetch_items(list).map_err(|e| c.err(e))?,
                })
            }
            _ => Ok(Untagged::Other {
                name: String::from_utf8_lossy(&what).into_owned(),
                args: c.values()?,
            }),
        };
    }
    if let Some(status) = status_of(&first) {
        return Ok(Untagged::Status {
            status,
            text: c.resp_text()?,
        });
    }
    let name = String::from_utf8_lossy(&first).to_ascii_uppercase();
    let args = c.values()?;
    match name.as_str() {
        "CAPABILITY" => Ok(Untagged::Capability(
            strings(&args)
                .into_iter()
                .map(|s| s.to_ascii_uppercase())
                .collect(),
        )),
        "ENABLED" => Ok(Untagged::Enabled(strings(&args))),
        "FLAGS" => match args.first() {
            Some(Value::List(l)) => Ok(Untagged::Flags(strings(l))),
            _ => Err(c.err("FLAGS without a list")),
        },
        "LIST" | "LSUB" => {
            let [Value::List(attrs), delim, name, ..] = args.as_slice() else {
                return Err(c.err("LIST needs attributes, delimiter and name"));
            };
            let name = match name {
                Value::Atom(b) | Value::Str(b) => b.clone(),
                _ => return Err(c.err("LIST name is not a string")),
            };
            Ok(Untagged::List {
                lsub: name_is_lsub(&first),
                attributes: strings(attrs),
                delimiter: delimiter(delim).map_err(|e| c.err(e))?,
                name,
            })
        }
        "NAMESPACE" => {
            let mut out: [Vec<(Vec<u8>, Option<u8>)>; 3] = Default::default();
            for (slot, v) in out.iter_mut().zip(args.iter()) {
                if let Value::List(descrs) = v {
                    for d in descrs {
                        if let Value::List(parts) = d {
                            let prefix = parts.first().and_then(Value::as_bytes).unwrap_or(b"");
                            let delim = match parts.get(1) {
                                Some(v) => delimiter(v).map_err(|e| c.err(e))?,
                                None => None,
                            };
                            slot.push((prefix.to_vec(), delim));
                        }
                    }
                }
            }
            Ok(Untagged::Namespace(out))
        }
        _ => Ok(Untagged::Other { name, args }),
    }
}

fn name_is_lsub(word: &[u8]) -> bool {
    word.eq_ignore_ascii_case(b"LSUB")
}

fn fetch_items(list: Vec<Value>) -> Result<Vec<(String, Value)>, String> {
    let mut out = Vec::with_capacity(list.len() / 2);
    let mut it = list.into_iter();
    while let Some(k) = it.next() {
        let Value::Atom(k) = k else {
            return Err("FETCH item name is not an atom".into());
        };
        let v = it.next().ok_or("FETCH item without a value")?;
        out.push((String::from_utf8_lossy(&k).to_ascii_uppercase(), v));
    }
    Ok(out)
}

/// If `line` (a response so far, ending just before CRLF) ends with a literal
/// announcement `{n}` or `{n+}`, returns n.
pub fn trailing_literal(line: &[u8]) -> Option<u64> {
    let line = line.strip_suffix(b"}")?;
    let open = line.iter().rposition(|&c| c == b'{')?;
    let digits = &line[open + 1..];
    let digits = digits.strip_suffix(b"+").unwrap_or(digits);
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// For a partial FETCH response ending in `BODY[] {n}` (or `RFC822 {n}`):
/// the sequence number and, when it came first, the UID.
/// Returns None when the pending literal is not a whole-message body.
pub fn body_literal_prefix(line: &[u8]) -> Option<(u32, Option<u32>)> {
    let open = line.iter().rposition(|&c| c == b'{')?;
    let head = line[..open].strip_suffix(b" ")?;
    let upper = head.to_ascii_uppercase();
    if !(upper.ends_with(b" BODY[]")
        || upper.ends_with(b"(BODY[]")
        || upper.ends_with(b" RFC822")
        || upper.ends_with(b"(RFC822"))
    {
        return None;
    }
    let rest = upper.strip_prefix(b"* ")?;
    let sp = rest.iter().position(|&c| c == b' ')?;
    let seq: u32 = std::str::from_utf8(&rest[..sp]).ok()?.parse().ok()?;
    let after = rest[sp..].strip_prefix(b" FETCH (")?;
    // Parse the complete items before the body with the ordinary parser.
    let items_src = &head[head.len() - after.len()..head.len() - 6];
    let mut synthetic = b"(".to_vec();
    synthetic.extend_from_slice(items_src.strip_suffix(b" ").unwrap_or(items_src));
    synthetic.push(b')');
    let mut c = Cursor {
        buf: &synthetic,
        pos: 0,
    };
    let uid = match c.value(0) {
        Ok(Value::List(l)) => fetch_items(l)
            .ok()
            .and_then(|items| items.into_iter().find(|(k, _)| k == "UID"))
            .and_then(|(_, v)| v.as_u32()),
        _ => None,
    };
    Some((seq, uid))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &[u8]) -> Response {
        parse_response(s).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn tagged_with_code() {
        let r = p(b"a1 OK [APPENDUID 38505 3955:3957] APPEND completed\r\n");
        let Response::Tagged { tag, status, text } = r else {
            panic!()
        };
        assert_eq!(tag, "a1");
        assert_eq!(status, Status::Ok);
        assert_eq!(text.code.as_deref(), Some("APPENDUID"));
        assert_eq!(text.code_args[0].as_u32(), Some(38505));
        assert_eq!(text.text, "APPEND completed");
    }

    #[test]
    fn rfc3501_examples() {
        assert_eq!(
            p(b"* 172 EXISTS\r\n"),
            Response::Untagged(Untagged::Exists(172))
        );
        let r = p(b"* LIST (\\Noselect) \"/\" ~/Mail/foo\r\n");
        assert_eq!(
            r,
            Response::Untagged(Untagged::List {
                lsub: false,
                attributes: vec!["\\Noselect".into()],
                delimiter: Some(b'/'),
                name: b"~/Mail/foo".to_vec()
            })
        );
        let r = p(b"* OK [PERMANENTFLAGS (\\Deleted \\Seen \\*)] Limited\r\n");
        let Response::Untagged(Untagged::Status { text, .. }) = r else {
            panic!()
        };
        assert_eq!(text.code.as_deref(), Some("PERMANENTFLAGS"));
        assert!(matches!(&text.code_args[0], Value::List(l) if l.len() == 3));
        let r = p(b"* NAMESPACE ((\"\" \"/\")) NIL ((\"Public Folders/\" \"/\"))\r\n");
        let Response::Untagged(Untagged::Namespace(ns)) = r else {
            panic!()
        };
        assert_eq!(ns[0], vec![(b"".to_vec(), Some(b'/'))]);
        assert!(ns[1].is_empty());
        assert_eq!(ns[2][0].0, b"Public Folders/".to_vec());
    }

    #[test]
    fn fetch_with_literal_and_sections() {
        let r = p(b"* 12 FETCH (FLAGS (\\Seen $Label1) INTERNALDATE \"17-Jul-1996 02:44:25 -0700\" RFC822.SIZE 4286 BODY[HEADER.FIELDS (MESSAGE-ID)] {5}\r\nab\r\nc UID 9)\r\n");
        let Response::Untagged(Untagged::Fetch { seq, items }) = r else {
            panic!()
        };
        assert_eq!(seq, 12);
        assert_eq!(items[0].0, "FLAGS");
        assert_eq!(items[3].0, "BODY[HEADER.FIELDS (MESSAGE-ID)]");
        assert_eq!(items[3].1, Value::Str(b"ab\r\nc".to_vec()));
        assert_eq!(items[4].1.as_u32(), Some(9));
    }

    #[test]
    fn literal_name_and_quoted_escapes() {
        let r = p(b"* LIST () \".\" {7}\r\nfoo bar\r\n");
        let Response::Untagged(Untagged::List { name, .. }) = r else {
            panic!()
        };
        assert_eq!(name, b"foo bar");
        let r = p(b"* LIST () NIL \"a\\\"b\\\\\"\r\n");
        let Response::Untagged(Untagged::List {
            name, delimiter, ..
        }) = r
        else {
            panic!()
        };
        assert_eq!(name, b"a\"b\\");
        assert_eq!(delimiter, None);
    }

    #[test]
    fn malformed_is_an_error_not_a_panic() {
        for bad in [
            &b"* 1 FETCH (UID"[..],
            b"* 1 FETCH (BODY[] {10}\r\nabc",
            b"* LIST (\\X) \"..\" x\r\n",
            b"a1 MAYBE\r\n",
            b"* OK [UNTERMINATED\r\n",
            b"",
            b"(((((((((((((((((((((((((((((((((((((((((",
        ] {
            assert!(
                parse_response(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn literal_detection() {
        assert_eq!(trailing_literal(b"* 1 FETCH (BODY[] {123}"), Some(123));
        assert_eq!(trailing_literal(b"* 1 FETCH (BODY[] {12+}"), Some(12));
        assert_eq!(trailing_literal(b"* OK {x}"), None);
        assert_eq!(
            body_literal_prefix(b"* 3 FETCH (UID 7 BODY[] {100}"),
            Some((3, Some(7)))
        );
        assert_eq!(
            body_literal_prefix(b"* 3 FETCH (BODY[] {100}"),
            Some((3, None))
        );
        assert_eq!(
            body_literal_prefix(b"* 3 FETCH (FLAGS (\\Seen) UID 7 BODY[] {100}"),
            Some((3, Some(7)))
        );
        assert_eq!(body_literal_prefix(b"* 3 FETCH (BODY[HEADER] {100}"), None);
        assert_eq!(body_literal_prefix(b"* LIST () \"/\" {100}"), None);
    }
}
