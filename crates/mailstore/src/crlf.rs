//! The byte stream of one stored message: chosen byte ranges of a file, with
//! bare LF turned into CRLF on the way, in bounded memory.

use std::io::{self, SeekFrom};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::fs::File;
use tokio::io::{AsyncRead, AsyncSeek, ReadBuf};

const CHUNK: usize = 64 << 10;

/// Appends `input` to `out` with every LF that does not follow a CR preceded by
/// one. `last_cr` carries the last byte's CR-ness across chunks, so a CRLF split
/// between two reads stays one line end.
pub fn to_crlf(input: &[u8], last_cr: &mut bool, out: &mut Vec<u8>) {
    let mut rest = input;
    while let Some(i) = rest.iter().position(|&b| b == b'\n') {
        out.extend_from_slice(&rest[..i]);
        let before_is_cr = if i == 0 {
            *last_cr
        } else {
            rest[i - 1] == b'\r'
        };
        if !before_is_cr {
            out.push(b'\r');
        }
        out.push(b'\n');
        *last_cr = false;
        rest = &rest[i + 1..];
    }
    if let Some(&last) = rest.last() {
        *last_cr = last == b'\r';
    }
    out.extend_from_slice(rest);
}

/// How many bytes [`to_crlf`] makes of `input` (same carry rule).
pub(crate) fn crlf_len(input: &[u8], last_cr: &mut bool) -> u64 {
    let mut n = input.len() as u64;
    let mut prev_cr = *last_cr;
    for &b in input {
        if b == b'\n' && !prev_cr {
            n += 1;
        }
        prev_cr = b == b'\r';
    }
    if !input.is_empty() {
        *last_cr = prev_cr;
    }
    n
}

/// A message's bytes as an IMAP server serves them: CRLF line ends. Reads the
/// file in 64 KiB chunks; memory does not grow with the message.
pub struct MessageStream {
    file: File,
    /// Sorted, disjoint `[start, end)` ranges of the file that make up the
    /// message (mbox: everything but the From_ line, internal headers and
    /// quoting `>`); `u64::MAX` as an end means "to the end of the file".
    ranges: Vec<(u64, u64)>,
    idx: usize,
    pos: u64,
    file_pos: u64,
    seeking: bool,
    inbuf: Vec<u8>,
    out: Vec<u8>,
    out_pos: usize,
    last_cr: bool,
}

impl MessageStream {
    pub(crate) fn new(file: File, ranges: Vec<(u64, u64)>) -> MessageStream {
        MessageStream {
            file,
            ranges,
            idx: 0,
            pos: 0,
            file_pos: 0,
            seeking: false,
            inbuf: vec![0; CHUNK],
            out: Vec::with_capacity(2 * CHUNK),
            out_pos: 0,
            last_cr: false,
        }
    }

    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        loop {
            let Some(&(start, end)) = self.ranges.get(self.idx) else {
                return Poll::Ready(Ok(0));
            };
            if self.seeking {
                self.file_pos = ready!(Pin::new(&mut self.file).poll_complete(cx))?;
                self.seeking = false;
                continue;
            }
            let at = self.pos.max(start);
            if at >= end {
                self.idx += 1;
                continue;
            }
            if self.file_pos != at {
                Pin::new(&mut self.file).start_seek(SeekFrom::Start(at))?;
                self.seeking = true;
                continue;
            }
            let want = (self.inbuf.len() as u64).min(end - at) as usize;
            let mut rb = ReadBuf::new(&mut self.inbuf[..want]);
            ready!(Pin::new(&mut self.file).poll_read(cx, &mut rb))?;
            let n = rb.filled().len();
            if n == 0 {
                if end == u64::MAX {
                    self.idx += 1;
                    continue;
                }
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the file became shorter while it was read",
                )));
            }
            self.file_pos += n as u64;
            self.pos = self.file_pos;
            return Poll::Ready(Ok(n));
        }
    }
}

impl AsyncRead for MessageStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if this.out_pos < this.out.len() {
                let n = buf.remaining().min(this.out.len() - this.out_pos);
                buf.put_slice(&this.out[this.out_pos..this.out_pos + n]);
                this.out_pos += n;
                return Poll::Ready(Ok(()));
            }
            this.out.clear();
            this.out_pos = 0;
            let n = ready!(this.poll_fill(cx))?;
            if n == 0 {
                return Poll::Ready(Ok(()));
            }
            let MessageStream {
                inbuf,
                out,
                last_cr,
                ..
            } = this;
            to_crlf(&inbuf[..n], last_cr, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn reference(input: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for (i, &b) in input.iter().enumerate() {
            if b == b'\n' && (i == 0 || input[i - 1] != b'\r') {
                out.push(b'\r');
            }
            out.push(b);
        }
        out
    }

    #[test]
    fn known_answers() {
        let mut out = Vec::new();
        to_crlf(b"a\nb\r\nc\r\rd\n", &mut false, &mut out);
        assert_eq!(out, b"a\r\nb\r\nc\r\rd\r\n");
    }

    proptest! {
        #[test]
        fn chunked_equals_whole(input in proptest::collection::vec(prop_oneof![Just(b'\r'), Just(b'\n'), Just(b'x')], 0..200), cuts in proptest::collection::vec(0usize..200, 0..6)) {
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(input.len())).collect();
            cuts.sort();
            let mut out = Vec::new();
            let mut last_cr = false;
            let mut len_cr = false;
            let mut len = 0;
            let mut prev = 0;
            for c in cuts.into_iter().chain([input.len()]) {
                to_crlf(&input[prev..c], &mut last_cr, &mut out);
                len += crlf_len(&input[prev..c], &mut len_cr);
                prev = c;
            }
            prop_assert_eq!(&out, &reference(&input));
            prop_assert_eq!(len, out.len() as u64);
        }
    }
}
