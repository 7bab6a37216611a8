//! The async client: framing, commands, and streaming FETCH/APPEND.
//!
//! Generic over any `AsyncRead + AsyncWrite` stream so that tests can use
//! `tokio::io::duplex` and callers can hand in TCP or TLS.
//!
//! Two commands move message bodies without holding them whole:
//! - [`Client::body_fetch_start`] / [`Client::body_next`] / [`Client::body_read`]
//!   pull `BODY[]` literals off the wire in caller-sized chunks;
//! - [`Client::append_start`] / [`Client::append_message`] / [`Client::append_write`]
//!   / [`Client::append_finish`] push them, several per command with MULTIAPPEND
//!   (RFC 3502) and without waiting for continuations with LITERAL+ (RFC 7888).

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader, BufWriter};

use crate::error::Error;
use crate::framing;
use crate::parse::{self, RespText, Response, Status, Untagged, Value};

/// Limits and timeouts; the defaults suit public servers.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Longest wait for any single read or write. A stalled server fails
    /// the operation after this long instead of hanging forever.
    pub timeout: Duration,
    /// Largest literal buffered in memory (names, headers). Message bodies
    /// are streamed and not bound by this.
    pub max_buffered_literal: u64,
    /// Longest response line (without literals). 1 MiB: well above the
    /// longest lines seen from real servers (large LIST/SEARCH results).
    pub max_line: usize,
    /// Most bytes one buffered response may hold, lines and literals
    /// together: a hostile server cannot make the client buffer without
    /// bound by sending many literals in one response.
    pub max_response: u64,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            timeout: Duration::from_secs(120),
            max_buffered_literal: 8 << 20,
            max_line: 1 << 20,
            max_response: 16 << 20,
        }
    }
}

/// What the server said when a command completed successfully.
#[derive(Debug, Default)]
pub struct Completion {
    pub untagged: Vec<Untagged>,
    pub text: RespText,
}

/// The start of one message body in a streaming fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyStart {
    pub seq: u32,
    /// Present when the server sent UID before the body (Dovecot and most
    /// others do); otherwise map `seq` to the UID.
    pub uid: Option<u32>,
    pub len: u64,
}

/// Result of an APPEND: the UIDs given by UIDPLUS (RFC 4315), if any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppendUid {
    pub uidvalidity: u32,
    pub uids: Vec<u32>,
}

enum BodyState {
    Idle,
    /// A streaming fetch is running; `remaining` bytes of the current body
    /// are still on the wire; `prefix` is the response up to the literal.
    Fetching {
        tag: String,
        remaining: u64,
        buffered: Option<(Vec<u8>, usize)>,
        in_body: bool,
    },
    /// An APPEND is open; `literal_left` bytes of the current message are owed.
    Appending {
        tag: String,
        literal_left: u64,
        messages: usize,
    },
}

enum Frame {
    Complete(Vec<u8>),
    Body {
        seq: u32,
        uid: Option<u32>,
        len: u64,
    },
}

pub struct Client<S> {
    /// Buffered both ways (what `BufStream` is, spelled out so that
    /// [`Client::into_parts`] can hand over unread bytes).
    io: BufReader<BufWriter<S>>,
    next_tag: u32,
    greeting: String,
    capabilities: Vec<String>,
    config: ClientConfig,
    state: BodyState,
}

/// Buffer size for each direction; large enough that a 64 KiB chunk moves in
/// one syscall, small enough that many connections stay cheap.
const IO_BUFFER: usize = 64 << 10;

impl<S: AsyncRead + AsyncWrite + Unpin> Client<S> {
    /// Reads the greeting. Returns the client and whether the server
    /// pre-authenticated the session.
    pub async fn connect(stream: S, config: ClientConfig) -> Result<(Self, bool), Error> {
        let mut c = Self::resume(stream, config);
        let raw = c.read_frame(false).await?;
        let Frame::Complete(raw) = raw else {
            unreachable!("stop_at_body is false")
        };
        match parse::parse_response(&raw)? {
            Response::Untagged(Untagged::Status { status, text }) => {
                c.absorb_code(&text);
                c.greeting = text.text.clone();
                match status {
                    Status::Ok => Ok((c, false)),
                    Status::PreAuth => Ok((c, true)),
                    Status::Bye => Err(Error::Bye(text.text)),
                    _ => Err(Error::Malformed(format!(
                        "unexpected greeting: {}",
                        text.text
                    ))),
                }
            }
            other => Err(Error::Malformed(format!("unexpected greeting: {other:?}"))),
        }
    }

    /// Wraps a stream on which the greeting has already been read (after STARTTLS).
    pub fn resume(stream: S, config: ClientConfig) -> Self {
        Client {
            io: BufReader::with_capacity(IO_BUFFER, BufWriter::with_capacity(IO_BUFFER, stream)),
            next_tag: 1,
            greeting: String::new(),
            capabilities: Vec::new(),
            config,
            state: BodyState::Idle,
        }
    }

    /// The text of the server's greeting (after STARTTLS: as set by [`Client::set_greeting`]).
    pub fn greeting(&self) -> &str {
        &self.greeting
    }

    /// Carries the greeting over to a client resumed after STARTTLS.
    pub fn set_greeting(&mut self, text: String) {
        self.greeting = text;
    }

    /// Changes the longest wait for a read or write from now on.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.config.timeout = timeout;
    }

    /// The underlying stream, e.g. to ask it about TLS.
    pub fn stream(&self) -> &S {
        self.io.get_ref().get_ref()
    }

    /// Gives back the stream (for STARTTLS). Must be called between commands.
    pub fn into_inner(self) -> S {
        self.io.into_inner().into_inner()
    }

    /// Gives back the stream and the bytes the server sent that were read
    /// but not yet consumed (a proxy relays them first). Must be called
    /// between commands.
    pub fn into_parts(self) -> (S, Vec<u8>) {
        let unread = self.io.buffer().to_vec();
        (self.io.into_inner().into_inner(), unread)
    }

    pub fn capabilities(&self) -> &[String] {
        &self.capabilities
    }

    pub fn has_capability(&self, name: &str) -> bool {
        self.capabilities
            .iter()
            .any(|c| c.eq_ignore_ascii_case(name))
    }

    pub(crate) fn tag(&mut self) -> String {
        let t = format!("m{}", self.next_tag);
        self.next_tag += 1;
        t
    }

    fn absorb_code(&mut self, text: &RespText) {
        if text.code.as_deref() == Some("CAPABILITY") {
            self.capabilities = text
                .code_args
                .iter()
                .filter_map(Value::as_bytes)
                .map(|b| String::from_utf8_lossy(b).to_ascii_uppercase())
                .collect();
        }
    }

    async fn read_line(&mut self, into: &mut Vec<u8>) -> Result<(), Error> {
        let start = into.len();
        let timeout = self.config.timeout;
        framing::read_line(&mut self.io, into, self.config.max_line, timeout).await?;
        // The server's side of the conversation for --debug; literal bytes
        // (message contents) never pass here, only the line announcing them.
        tracing::debug!(target: "mailport::imap::wire", "S: {}", shown(&into[start..]));
        Ok(())
    }

    /// Reads one response, literals inline. With `stop_at_body`, stops at a
    /// FETCH `BODY[]` literal and leaves its bytes on the wire.
    async fn read_frame(&mut self, stop_at_body: bool) -> Result<Frame, Error> {
        let mut buf = Vec::new();
        loop {
            self.read_line(&mut buf).await?;
            let line = framing::without_line_end(&buf);
            let Some(n) = parse::trailing_literal(line) else {
                return Ok(Frame::Complete(buf));
            };
            if stop_at_body {
                if let Some((seq, uid)) = parse::body_literal_prefix(line) {
                    return Ok(Frame::Body { seq, uid, len: n });
                }
            }
            if n > self.config.max_buffered_literal {
                return Err(Error::TooLarge {
                    what: "literal in server response".into(),
                    size: n,
                    limit: self.config.max_buffered_literal,
                });
            }
            let total = buf.len() as u64 + n;
            if total > self.config.max_response {
                return Err(Error::TooLarge {
                    what: "server response".into(),
                    size: total,
                    limit: self.config.max_response,
                });
            }
            let timeout = self.config.timeout;
            framing::read_literal(&mut self.io, &mut buf, n as usize, timeout).await?;
        }
    }

    pub(crate) async fn read_response(&mut self) -> Result<Response, Error> {
        let Frame::Complete(raw) = self.read_frame(false).await? else {
            unreachable!("stop_at_body is false")
        };
        Ok(parse::parse_response(&raw)?)
    }

    pub(crate) async fn send(&mut self, bytes: &[u8]) -> Result<(), Error> {
        let (io, t) = (&mut self.io, self.config.timeout);
        match tokio::time::timeout(t, async {
            io.write_all(bytes).await?;
            io.flush().await
        })
        .await
        {
            Ok(r) => Ok(r?),
            Err(_) => Err(Error::Timeout(t.as_secs())),
        }
    }

    pub(crate) fn ensure_idle(&self) -> Result<(), Error> {
        match self.state {
            BodyState::Idle => Ok(()),
            _ => Err(Error::Usage(
                "a streaming FETCH or APPEND is still open".into(),
            )),
        }
    }

    /// Runs one command (given without tag and CRLF) to completion.
    pub async fn command(&mut self, cmd: &[u8]) -> Result<Completion, Error> {
        self.ensure_idle()?;
        let tag = self.tag();
        tracing::debug!(target: "mailport::imap::wire", "C: {tag} {}", redact(cmd));
        // Wiped after sending: LOGIN and AUTHENTICATE lines carry secrets.
        let mut line = zeroize::Zeroizing::new(Vec::with_capacity(tag.len() + cmd.len() + 3));
        line.extend_from_slice(tag.as_bytes());
        line.push(b' ');
        line.extend_from_slice(cmd);
        line.extend_from_slice(b"\r\n");
        self.send(&line).await?;
        self.collect(&tag, &command_name(cmd)).await
    }

    /// Reads responses until `tag` completes.
    async fn collect(&mut self, tag: &str, command: &str) -> Result<Completion, Error> {
        self.collect_from(None, tag, command).await
    }

    /// Like `collect`, starting with a response the caller already read.
    pub(crate) async fn collect_from(
        &mut self,
        mut first: Option<Response>,
        tag: &str,
        command: &str,
    ) -> Result<Completion, Error> {
        let mut untagged = Vec::new();
        loop {
            let response = match first.take() {
                Some(r) => r,
                None => self.read_response().await?,
            };
            match response {
                Response::Tagged {
                    tag: t,
                    status,
                    text,
                } if t == tag => {
                    self.absorb_code(&text);
                    return match status {
                        Status::Ok => Ok(Completion { untagged, text }),
                        _ => Err(refusal(command, status, text)),
                    };
                }
                Response::Tagged { tag: t, .. } => {
                    return Err(Error::Malformed(format!("completion for unknown tag {t}")))
                }
                Response::Untagged(Untagged::Status {
                    status: Status::Bye,
                    text,
                }) => return Err(Error::Bye(text.text)),
                Response::Untagged(Untagged::Capability(c)) => {
                    self.capabilities = c.clone();
                    untagged.push(Untagged::Capability(c));
                }
                Response::Untagged(u) => untagged.push(u),
                Response::Continuation(_) => {
                    return Err(Error::Malformed(format!(
                        "unexpected continuation request during {command}"
                    )))
                }
            }
        }
    }

    pub async fn capability(&mut self) -> Result<(), Error> {
        self.command(b"CAPABILITY").await.map(|_| ())
    }

    pub(crate) async fn refresh_capabilities(&mut self, done: &Completion) -> Result<(), Error> {
        // Servers often change capabilities after login; ask unless told.
        let told = done.text.code.as_deref() == Some("CAPABILITY")
            || done
                .untagged
                .iter()
                .any(|u| matches!(u, Untagged::Capability(_)));
        if !told {
            self.capability().await?;
        }
        Ok(())
    }

    /// ENABLE (RFC 5161); returns what the server enabled.
    pub async fn enable(&mut self, what: &str) -> Result<Vec<String>, Error> {
        let done = self.command(format!("ENABLE {what}").as_bytes()).await?;
        Ok(done
            .untagged
            .into_iter()
            .filter_map(|u| match u {
                Untagged::Enabled(e) => Some(e),
                _ => None,
            })
            .flatten()
            .collect())
    }

    pub async fn logout(&mut self) -> Result<(), Error> {
        match self.command(b"LOGOUT").await {
            Ok(_) | Err(Error::Bye(_)) | Err(Error::Closed) => Ok(()),
            Err(e) => Err(e),
        }
    }

    // ---- streaming FETCH -------------------------------------------------

    /// Sends `UID FETCH <set> (UID BODY.PEEK[])`. Then call [`Client::body_next`].
    pub async fn body_fetch_start(&mut self, uid_set: &str) -> Result<(), Error> {
        self.ensure_idle()?;
        let tag = self.tag();
        let cmd = format!("{tag} UID FETCH {uid_set} (UID BODY.PEEK[])\r\n");
        tracing::debug!(target: "mailport::imap::wire", "C: {}", cmd.trim_end());
        self.send(cmd.as_bytes()).await?;
        self.state = BodyState::Fetching {
            tag,
            remaining: 0,
            buffered: None,
            in_body: false,
        };
        Ok(())
    }

    /// The next body of the running fetch, or None when the fetch completed.
    /// Any unread rest of the previous body is an error: the caller decides.
    pub async fn body_next(&mut self) -> Result<Option<BodyStart>, Error> {
        let BodyState::Fetching {
            tag,
            remaining,
            in_body,
            ..
        } = &self.state
        else {
            return Err(Error::Usage("no streaming FETCH is running".into()));
        };
        if *remaining > 0 {
            return Err(Error::Usage("previous body not fully read".into()));
        }
        let tag = tag.clone();
        if *in_body {
            // Finish the response the last body was part of.
            self.finish_fetch_response().await?;
        }
        loop {
            match self.read_frame(true).await {
                Err(e) => {
                    self.state = BodyState::Idle;
                    return Err(e);
                }
                Ok(Frame::Body { seq, uid, len }) => {
                    self.state = BodyState::Fetching {
                        tag,
                        remaining: len,
                        buffered: None,
                        in_body: true,
                    };
                    return Ok(Some(BodyStart { seq, uid, len }));
                }
                Ok(Frame::Complete(raw)) => match parse::parse_response(&raw) {
                    Err(e) => {
                        self.state = BodyState::Idle;
                        return Err(e.into());
                    }
                    Ok(Response::Tagged {
                        tag: t,
                        status,
                        text,
                    }) if t == tag => {
                        self.state = BodyState::Idle;
                        return match status {
                            Status::Ok => Ok(None),
                            _ => Err(refusal("UID FETCH", status, text)),
                        };
                    }
                    Ok(Response::Untagged(Untagged::Status {
                        status: Status::Bye,
                        text,
                    })) => {
                        self.state = BodyState::Idle;
                        return Err(Error::Bye(text.text));
                    }
                    Ok(Response::Untagged(Untagged::Fetch { seq, items })) => {
                        // A body sent as a quoted string (tiny or empty message).
                        if let Some((_, Value::Str(body))) =
                            items.iter().find(|(k, _)| k == "BODY[]" || k == "RFC822")
                        {
                            let uid = items
                                .iter()
                                .find(|(k, _)| k == "UID")
                                .and_then(|(_, v)| v.as_u32());
                            let len = body.len() as u64;
                            self.state = BodyState::Fetching {
                                tag,
                                remaining: len,
                                buffered: Some((body.clone(), 0)),
                                in_body: false,
                            };
                            return Ok(Some(BodyStart { seq, uid, len }));
                        }
                        // Unsolicited flag updates etc.: not ours to act on.
                    }
                    Ok(_) => {}
                },
            }
        }
    }

    /// Reads up to `buf.len()` bytes of the current body; 0 at its end.
    pub async fn body_read(&mut self, buf: &mut [u8]) -> Result<usize, Error> {
        let timeout = self.config.timeout;
        let BodyState::Fetching {
            remaining,
            buffered,
            ..
        } = &mut self.state
        else {
            return Err(Error::Usage("no streaming FETCH is running".into()));
        };
        if *remaining == 0 {
            return Ok(0);
        }
        let want = buf
            .len()
            .min(usize::try_from(*remaining).unwrap_or(usize::MAX));
        if let Some((data, pos)) = buffered {
            buf[..want].copy_from_slice(&data[*pos..*pos + want]);
            *pos += want;
            *remaining -= want as u64;
            return Ok(want);
        }
        let n = match tokio::time::timeout(timeout, self.io.read(&mut buf[..want])).await {
            Ok(r) => r?,
            Err(_) => return Err(Error::Timeout(timeout.as_secs())),
        };
        if n == 0 {
            self.state = BodyState::Idle;
            return Err(Error::Closed);
        }
        *remaining -= n as u64;
        Ok(n)
    }

    /// After a streamed literal: reads the rest of that FETCH response.
    async fn finish_fetch_response(&mut self) -> Result<(), Error> {
        let Frame::Complete(rest) = self.read_frame(false).await? else {
            unreachable!("stop_at_body is false")
        };
        // Items after the body (FLAGS, UID) are parsed to check the syntax.
        let mut synthetic = b"* 1 FETCH (X \"\"".to_vec();
        synthetic.extend_from_slice(&rest);
        parse::parse_response(&synthetic)?;
        if let BodyState::Fetching { in_body, .. } = &mut self.state {
            *in_body = false;
        }
        Ok(())
    }

    // ---- streaming APPEND ------------------------------------------------

    /// Opens `APPEND <mailbox>`; the mailbox is already encoded for the wire.
    pub async fn append_start(&mut self, mailbox: &[u8]) -> Result<(), Error> {
        self.ensure_idle()?;
        let tag = self.tag();
        let mut cmd = format!("{tag} APPEND ").into_bytes();
        cmd.extend(quote(mailbox)?);
        tracing::debug!(target: "mailport::imap::wire", "C: {}", String::from_utf8_lossy(&cmd));
        self.io.write_all(&cmd).await?;
        self.state = BodyState::Appending {
            tag,
            literal_left: 0,
            messages: 0,
        };
        Ok(())
    }

    /// Announces the next message of an open APPEND. Several per command only
    /// when the server has MULTIAPPEND.
    pub async fn append_message(
        &mut self,
        flags: &[String],
        internal_date: Option<&str>,
        len: u64,
    ) -> Result<(), Error> {
        let nonsync =
            self.has_capability("LITERAL+") || (self.has_capability("LITERAL-") && len <= 4096);
        let BodyState::Appending {
            tag,
            literal_left,
            messages,
        } = &mut self.state
        else {
            return Err(Error::Usage("no APPEND is open".into()));
        };
        if *literal_left > 0 {
            return Err(Error::Usage("previous message not fully written".into()));
        }
        *messages += 1;
        let tag = tag.clone();
        let mut head = Vec::with_capacity(64);
        head.push(b' ');
        if !flags.is_empty() {
            head.push(b'(');
            head.extend_from_slice(flags.join(" ").as_bytes());
            head.extend_from_slice(b") ");
        }
        if let Some(d) = internal_date {
            head.extend(quote(d.as_bytes())?);
            head.push(b' ');
        }
        head.extend_from_slice(
            format!("{{{len}{}}}\r\n", if nonsync { "+" } else { "" }).as_bytes(),
        );
        if let BodyState::Appending { literal_left, .. } = &mut self.state {
            *literal_left = len;
        }
        if nonsync {
            self.io.write_all(&head).await?;
            return Ok(());
        }
        self.send(&head).await?;
        match self.read_response().await? {
            Response::Continuation(_) => Ok(()),
            Response::Tagged {
                tag: t,
                status,
                text,
            } if t == tag => {
                self.state = BodyState::Idle;
                Err(refusal("APPEND", status, text))
            }
            other => {
                self.state = BodyState::Idle;
                Err(Error::Malformed(format!(
                    "unexpected reply to APPEND literal: {other:?}"
                )))
            }
        }
    }

    /// Writes body bytes of the current message.
    pub async fn append_write(&mut self, data: &[u8]) -> Result<(), Error> {
        let BodyState::Appending { literal_left, .. } = &mut self.state else {
            return Err(Error::Usage("no APPEND is open".into()));
        };
        if data.len() as u64 > *literal_left {
            return Err(Error::Usage("more body bytes than announced".into()));
        }
        *literal_left -= data.len() as u64;
        let t = self.config.timeout;
        match tokio::time::timeout(t, self.io.write_all(data)).await {
            Ok(r) => Ok(r?),
            Err(_) => Err(Error::Timeout(t.as_secs())),
        }
    }

    /// Ends the APPEND and waits for the server's verdict.
    pub async fn append_finish(&mut self) -> Result<Option<AppendUid>, Error> {
        let BodyState::Appending {
            tag,
            literal_left,
            messages,
        } = &self.state
        else {
            return Err(Error::Usage("no APPEND is open".into()));
        };
        if *literal_left > 0 {
            return Err(Error::Usage("message not fully written".into()));
        }
        if *messages == 0 {
            return Err(Error::Usage("APPEND without a message".into()));
        }
        let tag = tag.clone();
        self.state = BodyState::Idle;
        self.send(b"\r\n").await?;
        let done = self.collect(&tag, "APPEND").await?;
        Ok(parse_appenduid(&done.text))
    }
}

/// The error for a tagged NO or BAD (or anything but OK) ending `command`.
fn refusal(command: &str, status: Status, text: RespText) -> Error {
    match status {
        Status::No => Error::No {
            command: command.into(),
            code: text.code,
            text: text.text,
        },
        _ => Error::Bad {
            command: command.into(),
            text: text.text,
        },
    }
}

fn parse_appenduid(text: &RespText) -> Option<AppendUid> {
    if text.code.as_deref() != Some("APPENDUID") {
        return None;
    }
    let uidvalidity = text.code_args.first()?.as_u32()?;
    let set = std::str::from_utf8(text.code_args.get(1)?.as_bytes()?).ok()?;
    Some(AppendUid {
        uidvalidity,
        uids: crate::uidset::expand(set)?,
    })
}

fn command_name(cmd: &[u8]) -> String {
    let s = String::from_utf8_lossy(cmd);
    let mut words = s.split(' ');
    let first = words.next().unwrap_or("").to_ascii_uppercase();
    if first == "UID" {
        format!("UID {}", words.next().unwrap_or("").to_ascii_uppercase())
    } else {
        first
    }
}

/// Never log credentials: LOGIN and AUTHENTICATE show the user at most.
fn redact(cmd: &[u8]) -> String {
    let s = String::from_utf8_lossy(cmd);
    let upper = s.to_ascii_uppercase();
    if upper.starts_with("LOGIN ") {
        let user = s[6..].split(' ').next().unwrap_or("");
        format!("LOGIN {user} <redacted>")
    } else if upper.starts_with("AUTHENTICATE ") {
        let mech = s[13..].split(' ').next().unwrap_or("");
        format!("AUTHENTICATE {mech} <redacted>")
    } else {
        s.into_owned()
    }
}

/// Encodes a string argument: quoted, with `"` and `\` escaped. Refuses what a
/// quoted string cannot carry (CR, LF, NUL) instead of sending a broken command.
pub fn quote(s: &[u8]) -> Result<Vec<u8>, Error> {
    if s.iter().any(|&b| b == b'\r' || b == b'\n' || b == 0) {
        return Err(Error::Usage(
            "a name or value contains CR, LF or NUL, which IMAP cannot carry here".into(),
        ));
    }
    let mut out = Vec::with_capacity(s.len() + 2);
    out.push(b'"');
    for &b in s {
        if b == b'"' || b == b'\\' {
            out.push(b'\\');
        }
        out.push(b);
    }
    out.push(b'"');
    Ok(out)
}

/// A server line for the trace: without its line end, at most 300 characters.
fn shown(line: &[u8]) -> String {
    let text = String::from_utf8_lossy(line);
    let text = text.trim_end_matches(['\r', '\n']);
    match text.char_indices().nth(300) {
        Some((i, _)) => format!("{}... ({} bytes)", &text[..i], line.len()),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::duplex;

    #[test]
    fn redacts_secrets() {
        assert_eq!(
            redact(b"LOGIN \"alice\" \"s3cret\""),
            "LOGIN \"alice\" <redacted>"
        );
        assert_eq!(
            redact(b"AUTHENTICATE PLAIN AGFsaWNl"),
            "AUTHENTICATE PLAIN <redacted>"
        );
        assert_eq!(quote(b"a\"b").unwrap(), b"\"a\\\"b\"");
        assert!(quote(b"a\r\nb").is_err());
    }

    #[tokio::test]
    async fn oauth_failure_shows_the_servers_reason_and_logindisabled_is_respected() {
        let mut c = scripted(
            b"* OK ready\r\n+ \r\n+ eyJzdGF0dXMiOiI0MDEifQ==\r\nm1 NO [AUTHENTICATIONFAILED] Invalid credentials\r\n",
        )
        .await;
        let e = c
            .authenticate(&crate::Sasl::XOAuth2 {
                user: "alice",
                token: "expired",
            })
            .await
            .unwrap_err();
        assert!(e.is_auth(), "{e:?}");
        let text = e.to_string();
        assert!(text.contains(r#"{"status":"401"}"#), "{text}");
        assert!(!text.contains("expired"), "{text}");

        let mut c = scripted(b"* OK [CAPABILITY IMAP4rev1 LOGINDISABLED] ready\r\n").await;
        let e = c.login("alice", b"pw").await.unwrap_err();
        assert!(e.to_string().contains("LOGINDISABLED"), "{e}");
    }

    async fn scripted(server_script: &'static [u8]) -> Client<tokio::io::DuplexStream> {
        scripted_with(server_script, ClientConfig::default()).await
    }

    async fn scripted_with(
        server_script: &'static [u8],
        config: ClientConfig,
    ) -> Client<tokio::io::DuplexStream> {
        let (a, mut b) = duplex(1 << 16);
        tokio::spawn(async move {
            b.write_all(server_script).await.unwrap();
            let mut sink = vec![0u8; 1 << 16];
            while b.read(&mut sink).await.unwrap_or(0) > 0 {}
        });
        let config = ClientConfig {
            timeout: Duration::from_millis(300),
            ..config
        };
        Client::connect(a, config).await.unwrap().0
    }

    /// Many literals, each allowed, in one response: refused as a whole
    /// before the client buffers more than the limit.
    #[tokio::test]
    async fn one_response_cannot_buffer_without_bound() {
        let mut script = b"* OK ready\r\n* 1 FETCH (".to_vec();
        for _ in 0..10 {
            script.extend_from_slice(b"BODY[HEADER] {600}\r\n");
            script.extend_from_slice(&[b'x'; 600]);
            script.push(b' ');
        }
        script.extend_from_slice(b"UID 1)\r\nm1 OK done\r\n");
        let config = ClientConfig {
            max_buffered_literal: 1000,
            max_response: 4000,
            ..Default::default()
        };
        let mut c = scripted_with(Box::leak(script.into_boxed_slice()), config).await;
        let e = c.command(b"FETCH 1 (BODY[HEADER])").await.unwrap_err();
        assert!(
            matches!(&e, Error::TooLarge { what, limit: 4000, .. } if what == "server response"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn streams_bodies_in_chunks() {
        let mut c = scripted(
            b"* OK ready\r\n* 1 FETCH (UID 5 BODY[] {11}\r\nhello world)\r\n* 2 FETCH (FLAGS (\\Seen))\r\n* 3 FETCH (BODY[] \"\" UID 9)\r\n* 4 FETCH (BODY[] {3}\r\nabc UID 10)\r\nm1 OK done\r\n",
        )
        .await;
        c.body_fetch_start("1:*").await.unwrap();
        let b = c.body_next().await.unwrap().unwrap();
        assert_eq!(
            b,
            BodyStart {
                seq: 1,
                uid: Some(5),
                len: 11
            }
        );
        let mut got = Vec::new();
        let mut buf = [0u8; 4];
        loop {
            let n = c.body_read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got, b"hello world");
        let b = c.body_next().await.unwrap().unwrap();
        assert_eq!(
            b,
            BodyStart {
                seq: 3,
                uid: Some(9),
                len: 0
            }
        );
        let b = c.body_next().await.unwrap().unwrap();
        assert_eq!(
            b,
            BodyStart {
                seq: 4,
                uid: None,
                len: 3
            }
        );
        assert_eq!(c.body_read(&mut buf).await.unwrap(), 3);
        assert_eq!(c.body_next().await.unwrap(), None);
    }

    #[tokio::test]
    async fn stalled_server_times_out() {
        let mut c = scripted(b"* OK ready\r\n* 1 FETCH (UID 5 BODY[] {100}\r\nonly a little").await;
        c.body_fetch_start("1").await.unwrap();
        c.body_next().await.unwrap().unwrap();
        let mut buf = [0u8; 200];
        let n = c.body_read(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"only a little");
        assert!(matches!(
            c.body_read(&mut buf).await,
            Err(Error::Timeout(_))
        ));
    }

    #[tokio::test]
    async fn oversized_literal_is_refused() {
        let mut c = scripted(b"* OK ready\r\n* LIST () \"/\" {999999999}\r\n").await;
        let e = c.command(b"LIST \"\" *").await.unwrap_err();
        assert!(matches!(e, Error::TooLarge { .. }), "{e}");
    }

    #[tokio::test]
    async fn bye_and_no_are_errors() {
        let mut c =
            scripted(b"* OK ready\r\nm1 NO [TRYCREATE] no such mailbox\r\n* BYE going away\r\n")
                .await;
        let e = c.command(b"SELECT x").await.unwrap_err();
        assert!(
            matches!(&e, Error::No { code: Some(c), .. } if c == "TRYCREATE"),
            "{e}"
        );
        assert!(matches!(c.command(b"NOOP").await, Err(Error::Bye(_))));
    }
}
