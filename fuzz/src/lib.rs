//! Helpers shared by the fuzz targets: how an input is split into a header
//! (mode and chunk sizes) and a payload, a byte reader for building
//! structured inputs, an in-memory stream that hands out the server's bytes
//! in fuzzer-chosen pieces, and a runtime to drive the async readers on.
//!
//! Input layout of every target (see docs/FUZZING.md):
//!
//! ```text
//! byte 0     mode: which property is checked (taken modulo the target's count)
//! bytes 1-4  piece sizes, used in turn: an ASCII digit d means d+1 bytes,
//!            any other byte b means b+1 bytes
//! bytes 5..  payload
//! ```
//!
//! so a seed like `01234<an IMAP trace>` stays readable.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// An input taken apart.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    pub mode: u8,
    pub pieces: Pieces,
    pub payload: &'a [u8],
}

impl<'a> Input<'a> {
    /// `modes` is how many modes the target has.
    pub fn split(data: &'a [u8], modes: u8) -> Input<'a> {
        let mode = data.first().map_or(0, |m| m % modes);
        let mut raw = [b'9'; 4];
        for (slot, b) in raw.iter_mut().zip(data.iter().skip(1)) {
            *slot = *b;
        }
        Input {
            mode,
            pieces: Pieces::new(raw),
            payload: data.get(5..).unwrap_or(&[]),
        }
    }
}

/// A cycle of four piece sizes (each 1..=256).
#[derive(Debug, Clone, Copy)]
pub struct Pieces {
    sizes: [usize; 4],
    next: usize,
}

impl Pieces {
    pub fn new(raw: [u8; 4]) -> Pieces {
        Pieces {
            sizes: raw.map(|b| {
                if b.is_ascii_digit() {
                    usize::from(b - b'0') + 1
                } else {
                    usize::from(b) + 1
                }
            }),
            next: 0,
        }
    }

    /// The next piece size.
    pub fn next_size(&mut self) -> usize {
        let s = self.sizes[self.next % 4];
        self.next += 1;
        s
    }

    /// Whether a read should first answer "not ready yet" (about one in
    /// eight, decided by the sizes so that it is reproducible).
    fn pend(&self) -> bool {
        let s = self.sizes[self.next % 4];
        s % 8 == 3
    }
}

/// Splits `data` into consecutive pieces of the sizes `pieces` gives.
pub fn pieces(data: &[u8], mut p: Pieces) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let n = p.next_size().min(rest.len());
        out.push(&rest[..n]);
        rest = &rest[n..];
    }
    out
}

/// Reads bytes for structured inputs; zeros once the data is used up, so
/// every input builds something.
pub struct Gen<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Gen<'a> {
    pub fn new(data: &'a [u8]) -> Gen<'a> {
        Gen { data, pos: 0 }
    }
    pub fn is_empty(&self) -> bool {
        self.pos >= self.data.len()
    }
    pub fn byte(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }
    /// A number below `n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        usize::from(self.byte()) % n
    }
    pub fn bool(&mut self) -> bool {
        self.byte() & 1 == 1
    }
    pub fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.byte(), self.byte(), self.byte(), self.byte()])
    }
    /// Up to `max` raw bytes (length chosen by the data).
    pub fn bytes(&mut self, max: usize) -> &'a [u8] {
        let n = self.below(max + 1);
        let start = self.pos.min(self.data.len());
        let end = (start + n).min(self.data.len());
        self.pos = start + n;
        &self.data[start..end]
    }
    /// 1..=max characters from `alphabet`.
    pub fn word(&mut self, alphabet: &[u8], max: usize) -> String {
        let n = 1 + self.below(max);
        (0..n)
            .map(|_| char::from(alphabet[self.below(alphabet.len())]))
            .collect()
    }
}

/// The server side of a connection: hands out `data` in the sizes `pieces`
/// gives, sometimes answering "not ready" first (and waking at once), then
/// end of stream. Whatever the client writes is counted and dropped.
pub struct Wire<'a> {
    data: &'a [u8],
    pos: usize,
    pieces: Pieces,
    pending_given: bool,
    pub written: usize,
}

impl<'a> Wire<'a> {
    pub fn new(data: &'a [u8], pieces: Pieces) -> Wire<'a> {
        Wire {
            data,
            pos: 0,
            pieces,
            pending_given: false,
            written: 0,
        }
    }
}

impl AsyncRead for Wire<'_> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.pos < this.data.len() && this.pieces.pend() && !this.pending_given {
            this.pending_given = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        this.pending_given = false;
        let n = this
            .pieces
            .next_size()
            .min(this.data.len() - this.pos)
            .min(buf.remaining());
        buf.put_slice(&this.data[this.pos..this.pos + n]);
        this.pos += n;
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Wire<'_> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.written += buf.len();
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

thread_local! {
    static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a tokio runtime");
}

/// Runs `f` to completion on one runtime kept for the whole fuzzing process.
pub fn block_on<F: Future>(f: F) -> F::Output {
    RUNTIME.with(|rt| rt.block_on(f))
}

/// Every LF is preceded by CR (what the mailstore readers promise to serve).
pub fn all_crlf(data: &[u8]) -> bool {
    data.iter()
        .enumerate()
        .all(|(i, &b)| b != b'\n' || (i > 0 && data[i - 1] == b'\r'))
}
