//! The async client: framing, the TRANSACTION commands, streaming RETR.
//!
//! Generic over any `AsyncRead + AsyncWrite` stream so that tests can use
//! `tokio::io::duplex` and callers can hand in TCP or TLS. Every read and
//! write is bounded by [`ClientConfig::timeout`].
//!
//! RETR is streamed: [`Client::retr_start`] queues message numbers,
//! [`Client::retr_next`] starts the next message, [`Client::retr_read`] hands
//! out its unstuffed bytes in caller-sized chunks. With PIPELINING (RFC 2449
//! 6.6) several RETR commands are on the wire at once; without it they go one
//! after another. Either way the caller sees the same calls.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};

use mailport_mail::dot::Unstuffer;

use crate::error::Error;
use crate::response::{self, shorten, Capability, Line, Status};

/// Limits and timeouts; the defaults suit public servers.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Longest wait for any single read or write. A stalled server fails
    /// the operation after this long instead of hanging forever.
    pub timeout: Duration,
    /// Longest status or listing line. RFC 2449 4 caps responses at 512
    /// octets; 64 KiB leaves room for servers that ignore it.
    pub max_line: usize,
    /// Largest TOP result kept in memory (headers plus the asked-for lines).
    pub max_top: usize,
    /// Most entries accepted in a LIST, UIDL or CAPA answer.
    pub max_listing: usize,
    /// RETR commands kept on the wire ahead of the one being read when the
    /// server has PIPELINING. 32 short commands fit any TCP window, so the
    /// client never blocks writing while the server blocks writing to it.
    pub pipeline_window: usize,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            timeout: Duration::from_secs(120),
            max_line: 64 << 10,
            max_top: 1 << 20,
            max_listing: 1 << 22,
            pipeline_window: 32,
        }
    }
}

enum State {
    Idle,
    Retr(Retr),
    /// An error left the stream at an unknown place; only dropping is safe.
    Broken,
}

struct Retr {
    /// Message numbers whose RETR has not been sent yet.
    unsent: VecDeque<u32>,
    /// Sent, response not yet read; the front one is answered next.
    in_flight: VecDeque<u32>,
    window: usize,
    /// The body being read, if a message is open.
    body: Option<(u32, Unstuffer)>,
}

pub struct Client<S> {
    io: BufReader<S>,
    config: ClientConfig,
    greeting: String,
    apop_timestamp: Option<String>,
    /// None until CAPA was asked in the current state (RFC 2449 5: the
    /// answer may change after login and after STLS).
    capa: Option<Vec<Capability>>,
    state: State,
}

/// Read buffer; large enough that a 64 KiB chunk moves in one syscall, small
/// enough that many connections stay cheap.
const IO_BUFFER: usize = 64 << 10;

pub(crate) const WIRE: &str = "mailport::pop3::wire";

impl<S: AsyncRead + AsyncWrite + Unpin> Client<S> {
    /// Reads the greeting (RFC 1939 4) and keeps its APOP timestamp.
    pub async fn connect(stream: S, config: ClientConfig) -> Result<Self, Error> {
        let mut c = Self::resume(stream, config);
        let status = c.status("greeting").await?;
        // As written after `+OK`, its response code included (Dovecot
        // offers `[XCLIENT]` there).
        c.set_greeting(match status.code {
            Some(code) => format!("[{code}] {}", status.text),
            None => status.text,
        });
        Ok(c)
    }

    /// Wraps a stream on which the greeting has already been read (after
    /// STLS). Capabilities are unknown again, as RFC 2595 4 demands.
    pub fn resume(stream: S, config: ClientConfig) -> Self {
        Client {
            io: BufReader::with_capacity(IO_BUFFER, stream),
            config,
            greeting: String::new(),
            apop_timestamp: None,
            capa: None,
            state: State::Idle,
        }
    }

    /// The text of the greeting after `+OK`.
    pub fn greeting(&self) -> &str {
        &self.greeting
    }

    /// Carries the greeting (and so the APOP timestamp) over to a client
    /// resumed after STLS.
    pub fn set_greeting(&mut self, text: String) {
        self.apop_timestamp = response::apop_timestamp(&text);
        self.greeting = text;
    }

    /// The greeting's `<…@…>` timestamp, brackets included; APOP needs it.
    pub fn apop_timestamp(&self) -> Option<&str> {
        self.apop_timestamp.as_deref()
    }

    /// The underlying stream, e.g. to ask it about TLS.
    pub fn stream(&self) -> &S {
        self.io.get_ref()
    }

    /// Gives back the stream (after [`Client::stls`]). Anything the server
    /// sent that was not read yet is dropped with the buffer.
    pub fn into_inner(self) -> S {
        self.io.into_inner()
    }

    /// Gives back the stream and what the server sent that was not read
    /// yet (for a proxy that relays the session from here on).
    pub fn into_parts(self) -> (S, Vec<u8>) {
        let unread = self.io.buffer().to_vec();
        (self.io.into_inner(), unread)
    }

    // ---- framing ---------------------------------------------------------

    /// Waits for readable bytes; returns how many are buffered.
    async fn fill(&mut self) -> Result<usize, Error> {
        let t = self.config.timeout;
        match tokio::time::timeout(t, self.io.fill_buf()).await {
            Ok(Ok([])) => Err(Error::Closed),
            Ok(Ok(buf)) => Ok(buf.len()),
            Ok(Err(e)) => Err(e.into()),
            Err(_) => Err(Error::Timeout(t.as_secs())),
        }
    }

    /// One line, line end included, at most `max_line` long.
    async fn read_line(&mut self) -> Result<Vec<u8>, Error> {
        let mut line = Vec::new();
        loop {
            self.fill().await?;
            let available = self.io.buffer();
            let (n, done) = match available.iter().position(|&b| b == b'\n') {
                Some(i) => (i + 1, true),
                None => (available.len(), false),
            };
            line.extend_from_slice(&available[..n]);
            self.io.consume(n);
            if line.len() > self.config.max_line {
                return Err(Error::Malformed(format!(
                    "a response line longer than {} bytes",
                    self.config.max_line
                )));
            }
            if done {
                return Ok(line);
            }
        }
    }

    /// Reads a status line; `-ERR` becomes [`Error::Err`] for `command`.
    pub(crate) async fn status(&mut self, command: &str) -> Result<Status, Error> {
        match self.line(command).await? {
            Line::Status(s) if s.ok => Ok(s),
            Line::Status(s) => Err(Error::Err {
                command: command.to_string(),
                code: s.code,
                text: s.text,
            }),
            Line::Continuation(_) => Err(Error::Malformed(format!(
                "a SASL continuation in answer to {command}"
            ))),
        }
    }

    /// Reads one response line of any kind.
    pub(crate) async fn line(&mut self, command: &str) -> Result<Line, Error> {
        let raw = self.read_line().await?;
        let parsed = response::parse_line(&raw);
        tracing::debug!(target: WIRE, "S: {}", shorten(&String::from_utf8_lossy(response::trim_line_end(&raw))));
        parsed.map_err(|e| Error::Malformed(format!("in answer to {command}: {e}")))
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
            State::Idle => Ok(()),
            State::Retr(_) => Err(Error::Usage(
                "a streaming RETR is still running: read it to the end first".into(),
            )),
            State::Broken => Err(Error::Usage(
                "an earlier error broke this connection; open a new one".into(),
            )),
        }
    }

    /// Passes `r` on, marking the connection broken if it failed in a way
    /// that leaves the stream at an unknown place.
    pub(crate) fn note<T>(&mut self, r: Result<T, Error>) -> Result<T, Error> {
        if let Err(e) = &r {
            if e.breaks_connection() {
                self.state = State::Broken;
            }
        }
        r
    }

    /// Dovecot's XCLIENT, offered as `[XCLIENT]` in its greeting to the
    /// clients it trusts (a proxy): the real client's address, for the
    /// server's logs and checks. Whether the server took it.
    pub async fn xclient(&mut self, attributes: &[(&str, &str)]) -> Result<bool, Error> {
        if !self.greeting().to_ascii_uppercase().contains("[XCLIENT]") {
            return Ok(false);
        }
        let args: Vec<String> = attributes.iter().map(|(k, v)| format!("{k}={v}")).collect();
        match self.command(&format!("XCLIENT {}", args.join(" "))).await {
            Ok(_) => Ok(true),
            Err(Error::Err { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Sends a command without secrets and reads its status line.
    pub async fn command(&mut self, cmd: &str) -> Result<Status, Error> {
        self.ensure_idle()?;
        check_arg(cmd)?;
        tracing::debug!(target: WIRE, "C: {cmd}");
        let line = format!("{cmd}\r\n");
        let r = async {
            self.send(line.as_bytes()).await?;
            self.status(cmd).await
        }
        .await;
        self.note(r)
    }

    /// The lines of a multi-line answer after its `+OK`, unstuffed, without
    /// line ends.
    async fn listing(&mut self, command: &str) -> Result<Vec<String>, Error> {
        let mut lines = Vec::new();
        loop {
            let raw = self.read_line().await?;
            let line = response::trim_line_end(&raw);
            if line == b"." {
                return Ok(lines);
            }
            if lines.len() >= self.config.max_listing {
                return Err(Error::Malformed(format!(
                    "{command} listed more than {} entries",
                    self.config.max_listing
                )));
            }
            let line = line.strip_prefix(b".").unwrap_or(line);
            lines.push(String::from_utf8_lossy(line).into_owned());
        }
    }

    async fn command_listing(&mut self, cmd: &str) -> Result<Vec<String>, Error> {
        self.command(cmd).await?;
        let r = self.listing(cmd).await;
        self.note(r)
    }

    // ---- capabilities ----------------------------------------------------

    /// CAPA (RFC 2449 5), asked once per state and cached. A server without
    /// CAPA answers `-ERR`: then the list is empty.
    pub async fn capa(&mut self) -> Result<&[Capability], Error> {
        if self.capa.is_none() {
            let caps = match self.command_listing("CAPA").await {
                Ok(lines) => lines.iter().filter_map(|l| Capability::parse(l)).collect(),
                Err(Error::Err { .. }) => Vec::new(),
                Err(e) => return Err(e),
            };
            self.capa = Some(caps);
        }
        Ok(self.capa.as_deref().unwrap_or_default())
    }

    /// Whether the last CAPA answer lists `name` (false before [`Client::capa`]).
    /// Changes the longest wait for a read or write from now on.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.config.timeout = timeout;
    }

    pub fn has_capability(&self, name: &str) -> bool {
        self.capability(name).is_some()
    }

    /// The CAPA line for `name`, with its arguments (`SASL PLAIN LOGIN`).
    pub fn capability(&self, name: &str) -> Option<&Capability> {
        self.capa
            .as_deref()?
            .iter()
            .find(|c| c.name.eq_ignore_ascii_case(name))
    }

    /// The SASL mechanisms the server offers (RFC 5034 6).
    pub fn sasl_mechanisms(&self) -> Vec<&str> {
        self.capability("SASL")
            .map(|c| c.args.iter().map(String::as_str).collect())
            .unwrap_or_default()
    }

    /// Forgets CAPA: after login the server may offer other things.
    pub(crate) fn forget_capabilities(&mut self) {
        self.capa = None;
    }

    /// STLS (RFC 2595 4). On success, take the stream with
    /// [`Client::into_inner`], run the TLS handshake, and go on with
    /// [`Client::resume`] (and [`Client::set_greeting`] for APOP).
    pub async fn stls(&mut self) -> Result<(), Error> {
        self.command("STLS").await?;
        // Bytes after the +OK came before the handshake: a man in the middle
        // could have put them there to be read as if protected (CVE-2011-0411).
        if !self.io.buffer().is_empty() {
            self.state = State::Broken;
            return Err(Error::Malformed(
                "the server sent data after its STLS answer, before TLS".into(),
            ));
        }
        self.capa = None;
        Ok(())
    }

    // ---- TRANSACTION state ----------------------------------------------

    /// STAT (RFC 1939 5): number of messages and their total size in octets.
    pub async fn stat(&mut self) -> Result<(u32, u64), Error> {
        let s = self.command("STAT").await?;
        let mut words = s.text.split_ascii_whitespace();
        match (
            words.next().and_then(|w| w.parse().ok()),
            words.next().and_then(|w| w.parse().ok()),
        ) {
            (Some(n), Some(size)) => Ok((n, size)),
            _ => Err(Error::Malformed(format!("STAT answer {:?}", s.text))),
        }
    }

    /// LIST: (message number, size in octets) of every message not deleted.
    pub async fn list(&mut self) -> Result<Vec<(u32, u64)>, Error> {
        let lines = self.command_listing("LIST").await?;
        lines
            .iter()
            .map(|l| {
                let mut words = l.split_ascii_whitespace();
                match (
                    words.next().and_then(|w| w.parse().ok()),
                    words.next().and_then(|w| w.parse().ok()),
                ) {
                    (Some(n), Some(size)) => Ok((n, size)),
                    _ => Err(Error::Malformed(format!("LIST line {l:?}"))),
                }
            })
            .collect()
    }

    /// UIDL (RFC 1939 7): (message number, unique id). None when the server
    /// does not implement UIDL (a `-ERR` without a response code).
    pub async fn uidl(&mut self) -> Result<Option<Vec<(u32, String)>>, Error> {
        let lines = match self.command_listing("UIDL").await {
            Ok(lines) => lines,
            Err(Error::Err { code: None, .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        lines
            .iter()
            .map(|l| {
                let mut words = l.split_ascii_whitespace();
                match (words.next().and_then(|w| w.parse().ok()), words.next()) {
                    (Some(n), Some(uid)) => Ok((n, uid.to_string())),
                    _ => Err(Error::Malformed(format!("UIDL line {l:?}"))),
                }
            })
            .collect::<Result<_, _>>()
            .map(Some)
    }

    /// TOP (RFC 1939 7): the headers, the blank line, and the first `lines`
    /// lines of the body, unstuffed. Longer than [`ClientConfig::max_top`] is
    /// [`Error::TooLarge`] (the rest is read and dropped, so the connection
    /// stays usable).
    pub async fn top(&mut self, msgno: u32, lines: u32) -> Result<Vec<u8>, Error> {
        let cmd = format!("TOP {msgno} {lines}");
        self.command(&cmd).await?;
        let limit = self.config.max_top;
        let mut out = Vec::new();
        let mut overflow = false;
        let mut u = Unstuffer::new();
        let mut chunk = vec![0u8; 8 << 10];
        while !u.is_done() {
            let r = self.fill().await;
            self.note(r)?;
            let (used, made) = u.decode(self.io.buffer(), &mut chunk);
            self.io.consume(used);
            if out.len() + made > limit {
                overflow = true;
            }
            if !overflow {
                out.extend_from_slice(&chunk[..made]);
            }
        }
        if overflow {
            return Err(Error::TooLarge {
                what: cmd,
                limit: limit as u64,
            });
        }
        Ok(out)
    }

    /// DELE: marks a message; the server removes it at QUIT.
    pub async fn dele(&mut self, msgno: u32) -> Result<(), Error> {
        self.command(&format!("DELE {msgno}")).await.map(|_| ())
    }

    /// RSET: unmarks every message marked by DELE in this session.
    pub async fn rset(&mut self) -> Result<(), Error> {
        self.command("RSET").await.map(|_| ())
    }

    pub async fn noop(&mut self) -> Result<(), Error> {
        self.command("NOOP").await.map(|_| ())
    }

    /// QUIT (RFC 1939 6): the server removes messages marked by DELE and
    /// answers. Only `+OK` proves the removal happened, so a connection that
    /// closes before answering is an error ([`Error::Closed`]), not success.
    pub async fn quit(&mut self) -> Result<(), Error> {
        self.command("QUIT").await.map(|_| ())
    }

    // ---- streaming RETR --------------------------------------------------

    /// Starts retrieving `msgnos` in this order. Then call
    /// [`Client::retr_next`] until it returns None. Asks CAPA first if
    /// nobody did, to know whether to pipeline.
    pub async fn retr_start(&mut self, msgnos: &[u32]) -> Result<(), Error> {
        self.ensure_idle()?;
        self.capa().await?;
        if msgnos.is_empty() {
            return Ok(());
        }
        let window = if self.has_capability("PIPELINING") {
            self.config.pipeline_window.max(1)
        } else {
            1
        };
        self.state = State::Retr(Retr {
            unsent: msgnos.iter().copied().collect(),
            in_flight: VecDeque::new(),
            window,
            body: None,
        });
        let r = self.send_retrs().await;
        self.note(r)
    }

    /// Tops up the RETR commands on the wire to the window, in one write.
    async fn send_retrs(&mut self) -> Result<(), Error> {
        let State::Retr(r) = &mut self.state else {
            return Ok(());
        };
        let mut out = String::new();
        while r.in_flight.len() < r.window {
            let Some(n) = r.unsent.pop_front() else { break };
            tracing::debug!(target: WIRE, "C: RETR {n}");
            out.push_str(&format!("RETR {n}\r\n"));
            r.in_flight.push_back(n);
        }
        if out.is_empty() {
            return Ok(());
        }
        self.send(out.as_bytes()).await
    }

    /// Starts the next message and returns its number, or None when all are
    /// done. An unread rest of the previous message is read and dropped.
    /// A `-ERR` for one message (e.g. deleted meanwhile) is returned as
    /// [`Error::Err`] and the run goes on: call again for the next one.
    pub async fn retr_next(&mut self) -> Result<Option<u32>, Error> {
        let r = self.retr_next_inner().await;
        self.note(r)
    }

    async fn retr_next_inner(&mut self) -> Result<Option<u32>, Error> {
        match &self.state {
            State::Retr(_) => {}
            State::Idle => return Ok(None),
            State::Broken => return self.ensure_idle().map(|_| None),
        }
        let mut sink = vec![0u8; 8 << 10];
        while self.retr_read(&mut sink).await? > 0 {}
        self.send_retrs().await?;
        let State::Retr(r) = &mut self.state else {
            unreachable!("checked above")
        };
        r.body = None;
        let Some(n) = r.in_flight.pop_front() else {
            self.state = State::Idle;
            return Ok(None);
        };
        self.status(&format!("RETR {n}")).await?;
        if let State::Retr(r) = &mut self.state {
            r.body = Some((n, Unstuffer::new()));
        }
        Ok(Some(n))
    }

    /// Reads up to `buf.len()` bytes of the current message, unstuffed, line
    /// ends as the server sent them; 0 at its end (or if `buf` is empty).
    pub async fn retr_read(&mut self, buf: &mut [u8]) -> Result<usize, Error> {
        let r = self.retr_read_inner(buf).await;
        self.note(r)
    }

    async fn retr_read_inner(&mut self, buf: &mut [u8]) -> Result<usize, Error> {
        let open = match &self.state {
            State::Retr(r) => r.body.as_ref().is_some_and(|(_, u)| !u.is_done()),
            _ => return Err(Error::Usage("no streaming RETR is running".into())),
        };
        if !open || buf.is_empty() {
            return Ok(0);
        }
        loop {
            self.fill().await?;
            let State::Retr(Retr {
                body: Some((_, u)), ..
            }) = &mut self.state
            else {
                unreachable!("checked above")
            };
            let (used, made) = u.decode(self.io.buffer(), buf);
            let done = u.is_done();
            self.io.consume(used);
            // A buffer that held only the start of a "." line yields
            // nothing yet: read on rather than report a false end.
            if made > 0 || done {
                return Ok(made);
            }
        }
    }
}

/// Refuses what would end or split a command line (RFC 1939 3: arguments
/// are printable and the line ends at CRLF) instead of sending a broken or
/// injected command.
pub(crate) fn check_arg(s: &str) -> Result<(), Error> {
    if s.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
        return Err(Error::Usage(
            "a POP3 argument contains CR, LF or NUL, which cannot be sent".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{duplex, AsyncReadExt, DuplexStream};
    use tokio::sync::mpsc;

    /// A client on one end of a duplex pipe; the server side writes `script`
    /// and forwards everything the client sends to the returned channel.
    pub(crate) async fn scripted(
        script: &'static [u8],
    ) -> (Client<DuplexStream>, mpsc::UnboundedReceiver<Vec<u8>>) {
        let (a, mut b) = duplex(1 << 16);
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            b.write_all(script).await.unwrap();
            let mut buf = vec![0u8; 1 << 16];
            loop {
                match b.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        let _ = tx.send(buf[..n].to_vec());
                    }
                }
            }
        });
        let config = ClientConfig {
            timeout: Duration::from_millis(500),
            ..Default::default()
        };
        (Client::connect(a, config).await.unwrap(), rx)
    }

    /// What the client sent so far (after letting the server task run).
    async fn sent(rx: &mut mpsc::UnboundedReceiver<Vec<u8>>) -> String {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let mut all = Vec::new();
        while let Ok(chunk) = rx.try_recv() {
            all.extend(chunk);
        }
        String::from_utf8(all).unwrap()
    }

    async fn read_all(c: &mut Client<DuplexStream>, room: usize) -> Vec<u8> {
        let mut got = Vec::new();
        let mut buf = vec![0u8; room];
        loop {
            let n = c.retr_read(&mut buf).await.unwrap();
            if n == 0 {
                return got;
            }
            got.extend_from_slice(&buf[..n]);
        }
    }

    #[tokio::test]
    async fn greeting_keeps_the_apop_timestamp() {
        let (c, _) = scripted(b"+OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>\r\n").await;
        assert_eq!(
            c.greeting(),
            "POP3 server ready <1896.697170952@dbc.mtview.ca.us>"
        );
        assert_eq!(
            c.apop_timestamp(),
            Some("<1896.697170952@dbc.mtview.ca.us>")
        );
        let (c, _) = scripted(b"+OK ready\r\n").await;
        assert_eq!(c.apop_timestamp(), None);
    }

    #[tokio::test]
    async fn an_err_greeting_is_refused_with_its_code() {
        let (a, mut b) = duplex(1024);
        b.write_all(b"-ERR [SYS/TEMP] too busy\r\n").await.unwrap();
        let e = Client::connect(a, ClientConfig::default())
            .await
            .err()
            .unwrap();
        assert!(e.is_transient(), "{e:?}");
        assert!(matches!(&e, Error::Err { code: Some(c), .. } if c == "SYS/TEMP"));
    }

    #[tokio::test]
    async fn err_codes_are_classified() {
        let (mut c, _) = scripted(
            b"+OK hi\r\n-ERR [IN-USE] mailbox locked\r\n-ERR [LOGIN-DELAY] wait\r\n-ERR [SYS/PERM] gone\r\n-ERR no such message\r\n+OK\r\n",
        )
        .await;
        let e = c.command("STAT").await.unwrap_err();
        assert!(e.is_transient() && !e.is_auth() && !e.breaks_connection());
        assert!(c.command("STAT").await.unwrap_err().is_transient());
        let e = c.command("STAT").await.unwrap_err();
        assert!(!e.is_transient(), "{e}");
        let e = c.dele(9).await.unwrap_err();
        assert!(matches!(&e, Error::Err { command, code: None, .. } if command == "DELE 9"));
        // The connection is still in step after all that.
        c.noop().await.unwrap();
    }

    #[tokio::test]
    async fn capa_is_cached_and_empty_on_err() {
        let (mut c, mut rx) = scripted(
            b"+OK hi\r\n+OK list follows\r\nTOP\r\nUIDL\r\nSASL PLAIN OAUTHBEARER\r\npipelining\r\n.\r\n",
        )
        .await;
        assert_eq!(c.capa().await.unwrap().len(), 4);
        c.capa().await.unwrap();
        assert_eq!(sent(&mut rx).await, "CAPA\r\n");
        assert!(c.has_capability("PIPELINING") && c.has_capability("uidl"));
        assert_eq!(c.sasl_mechanisms(), ["PLAIN", "OAUTHBEARER"]);

        let (mut c, _) = scripted(b"+OK hi\r\n-ERR unknown command\r\n").await;
        assert!(c.capa().await.unwrap().is_empty());
        assert!(!c.has_capability("UIDL"));
    }

    #[tokio::test]
    async fn stat_list_uidl_top() {
        let (mut c, mut rx) = scripted(
            b"+OK hi\r\n+OK 2 320\r\n+OK\r\n1 120\r\n2 200\r\n.\r\n+OK\r\n1 whqtswO00WBw418f9t5JxYwZ\r\n2 QhdPYR:00WBw1Ph7x7\r\n.\r\n+OK\r\nSubject: x\r\n\r\n..dot\r\n.\r\n-ERR command not implemented\r\n",
        )
        .await;
        assert_eq!(c.stat().await.unwrap(), (2, 320));
        assert_eq!(c.list().await.unwrap(), vec![(1, 120), (2, 200)]);
        assert_eq!(
            c.uidl().await.unwrap().unwrap()[1],
            (2, "QhdPYR:00WBw1Ph7x7".to_string())
        );
        assert_eq!(c.top(1, 1).await.unwrap(), b"Subject: x\r\n\r\n.dot\r\n");
        assert_eq!(c.uidl().await.unwrap(), None);
        assert_eq!(
            sent(&mut rx).await,
            "STAT\r\nLIST\r\nUIDL\r\nTOP 1 1\r\nUIDL\r\n"
        );
    }

    #[tokio::test]
    async fn top_over_the_limit_is_too_large_and_the_connection_goes_on() {
        let (a, mut b) = duplex(1 << 16);
        tokio::spawn(async move {
            b.write_all(b"+OK hi\r\n+OK\r\n").await.unwrap();
            b.write_all(&b"x".repeat(5000)).await.unwrap();
            b.write_all(b"\r\n.\r\n+OK\r\n").await.unwrap();
            let mut sink = [0u8; 1024];
            while b.read(&mut sink).await.unwrap_or(0) > 0 {}
        });
        let mut c = Client::connect(
            a,
            ClientConfig {
                max_top: 1000,
                ..Default::default()
            },
        )
        .await
        .unwrap();
        let e = c.top(1, 0).await.unwrap_err();
        assert!(matches!(e, Error::TooLarge { .. }), "{e}");
        c.noop().await.unwrap();
    }

    #[tokio::test]
    async fn pipelined_retr_sends_everything_then_streams_each_message() {
        let (mut c, mut rx) = scripted(
            b"+OK hi\r\n+OK\r\nPIPELINING\r\n.\r\n\
              +OK 5 octets\r\nab\r\n.\r\n\
              -ERR [SYS/PERM] message 2 went away\r\n\
              +OK\r\n..\r\nline\r\n.\r\n\
              +OK\r\n.\r\n",
        )
        .await;
        c.retr_start(&[1, 2, 3, 4]).await.unwrap();
        assert_eq!(
            sent(&mut rx).await,
            "CAPA\r\nRETR 1\r\nRETR 2\r\nRETR 3\r\nRETR 4\r\n"
        );
        assert_eq!(c.retr_next().await.unwrap(), Some(1));
        assert_eq!(read_all(&mut c, 1).await, b"ab\r\n");
        let e = c.retr_next().await.unwrap_err();
        assert!(matches!(&e, Error::Err { command, .. } if command == "RETR 2"));
        assert!(matches!(c.noop().await.unwrap_err(), Error::Usage(_)));
        assert_eq!(c.retr_next().await.unwrap(), Some(3));
        assert_eq!(read_all(&mut c, 3).await, b".\r\nline\r\n");
        assert_eq!(c.retr_next().await.unwrap(), Some(4));
        assert_eq!(read_all(&mut c, 3).await, b"");
        assert_eq!(c.retr_next().await.unwrap(), None);
        assert_eq!(c.retr_next().await.unwrap(), None);
    }

    #[tokio::test]
    async fn without_pipelining_retr_goes_one_by_one_and_skips_unread_rests() {
        let (a, mut b) = duplex(1 << 16);
        let server = tokio::spawn(async move {
            let mut io = BufReader::new(&mut b);
            io.write_all(b"+OK hi\r\n").await.unwrap();
            let mut commands = Vec::new();
            loop {
                let mut line = String::new();
                if io.read_line(&mut line).await.unwrap() == 0 {
                    break;
                }
                // The next command must not arrive before this answer is out.
                assert!(io.buffer().is_empty(), "pipelined: {line:?}");
                commands.push(line.trim_end().to_string());
                let reply: &[u8] = match line.trim_end() {
                    "CAPA" => b"+OK\r\nUIDL\r\n.\r\n",
                    "RETR 1" => b"+OK\r\nfirst line\r\nsecond line\r\n.\r\n",
                    "RETR 2" => b"+OK\r\nbare\nlf\n.\n",
                    _ => b"+OK\r\n",
                };
                io.write_all(reply).await.unwrap();
                if line.starts_with("QUIT") {
                    break;
                }
            }
            commands
        });
        let mut c = Client::connect(a, ClientConfig::default()).await.unwrap();
        c.retr_start(&[1, 2]).await.unwrap();
        assert_eq!(c.retr_next().await.unwrap(), Some(1));
        let mut buf = [0u8; 5];
        assert_eq!(c.retr_read(&mut buf).await.unwrap(), 5);
        assert_eq!(c.retr_next().await.unwrap(), Some(2));
        assert_eq!(read_all_generic(&mut c).await, b"bare\nlf\n");
        assert_eq!(c.retr_next().await.unwrap(), None);
        c.quit().await.unwrap();
        assert_eq!(server.await.unwrap(), ["CAPA", "RETR 1", "RETR 2", "QUIT"]);
    }

    async fn read_all_generic<S: AsyncRead + AsyncWrite + Unpin>(c: &mut Client<S>) -> Vec<u8> {
        let mut got = Vec::new();
        let mut buf = [0u8; 2];
        loop {
            let n = c.retr_read(&mut buf).await.unwrap();
            if n == 0 {
                return got;
            }
            got.extend_from_slice(&buf[..n]);
        }
    }

    #[tokio::test]
    async fn one_byte_at_a_time_splits_every_terminator() {
        // A one-byte pipe: every read returns one byte, so ".", "\r" and
        // "\n" of each terminator arrive separately.
        let (a, b) = duplex(1);
        let (mut from_client, mut to_client) = tokio::io::split(b);
        tokio::spawn(async move {
            let mut sink = [0u8; 64];
            while from_client.read(&mut sink).await.unwrap_or(0) > 0 {}
        });
        tokio::spawn(async move {
            to_client
                .write_all(
                    b"+OK hi\r\n+OK\r\nPIPELINING\r\n.\r\n\
                      +OK\r\n..\r\n.x\r\nlong line\r\n.\r\n\
                      +OK\r\nbare\n..\n.\n\
                      +OK\r\n.\r\n",
                )
                .await
                .unwrap();
        });
        let mut c = Client::connect(a, ClientConfig::default()).await.unwrap();
        c.retr_start(&[1, 2, 3]).await.unwrap();
        let mut got = Vec::new();
        while let Some(n) = c.retr_next().await.unwrap() {
            got.push((n, read_all(&mut c, 4).await));
        }
        assert_eq!(
            got,
            vec![
                (1, b".\r\nx\r\nlong line\r\n".to_vec()),
                (2, b"bare\n.\n".to_vec()),
                (3, Vec::new()),
            ]
        );
    }

    #[tokio::test]
    async fn a_cut_during_retr_breaks_the_connection() {
        let (mut c, _) = scripted(b"+OK hi\r\n-ERR\r\n+OK\r\npartial").await;
        c.retr_start(&[1]).await.unwrap();
        c.retr_next().await.unwrap();
        let mut buf = [0u8; 100];
        assert_eq!(c.retr_read(&mut buf).await.unwrap(), 7);
        let e = c.retr_read(&mut buf).await.unwrap_err();
        assert!(e.breaks_connection(), "{e:?}");
        assert!(matches!(c.noop().await.unwrap_err(), Error::Usage(_)));
    }

    #[tokio::test]
    async fn stls_refuses_data_sent_before_the_handshake() {
        let (mut c, _) = scripted(b"+OK hi\r\n+OK begin TLS\r\n+OK injected\r\n").await;
        let e = c.stls().await.unwrap_err();
        assert!(matches!(e, Error::Malformed(_)), "{e}");
    }

    #[test]
    fn arguments_cannot_inject_commands() {
        assert!(check_arg("alice\r\nDELE 1").is_err());
        assert!(check_arg("alice").is_ok());
    }
}
