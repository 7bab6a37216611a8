//! The framing both directions share: an IMAP command and an IMAP response
//! are each a line that may end in a literal announcement (`{n}`, `{n+}`),
//! whose bytes follow before the rest of the line (decision 006). The client
//! reads responses with it, the proxy's server side reads commands; each
//! brings its own limits.

use std::time::Duration;

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncReadExt};

pub use crate::parse::trailing_literal;

/// Why a line or a literal could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FramingError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("the peer closed the connection")]
    Closed,
    #[error("no data for {} seconds", .0.as_secs())]
    Timeout(Duration),
    /// The line grew past the limit; what was read of it is in the buffer.
    #[error("line longer than {limit} bytes")]
    TooLong { size: usize, limit: usize },
}

/// Appends one line, CRLF or LF included, to `into`; fails once the line
/// (not counting what `into` held before) exceeds `max` bytes, without
/// reading the rest of it.
pub async fn read_line<R: AsyncBufRead + Unpin>(
    r: &mut R,
    into: &mut Vec<u8>,
    max: usize,
    timeout: Duration,
) -> Result<(), FramingError> {
    let start = into.len();
    loop {
        let available = match tokio::time::timeout(timeout, r.fill_buf()).await {
            Ok(result) => result?,
            Err(_) => return Err(FramingError::Timeout(timeout)),
        };
        if available.is_empty() {
            return Err(FramingError::Closed);
        }
        let (n, done) = match available.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (available.len(), false),
        };
        into.extend_from_slice(&available[..n]);
        r.consume(n);
        let size = into.len() - start;
        if size > max {
            return Err(FramingError::TooLong { size, limit: max });
        }
        if done {
            return Ok(());
        }
    }
}

/// Appends exactly `n` bytes of a literal to `into`.
pub async fn read_literal<R: AsyncRead + Unpin>(
    r: &mut R,
    into: &mut Vec<u8>,
    n: usize,
    timeout: Duration,
) -> Result<(), FramingError> {
    let start = into.len();
    into.resize(start + n, 0);
    match tokio::time::timeout(timeout, r.read_exact(&mut into[start..])).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => Err(FramingError::Closed),
        Ok(Err(e)) => Err(e.into()),
        Err(_) => Err(FramingError::Timeout(timeout)),
    }
}

/// A line without its line end (CRLF or a bare LF).
pub fn without_line_end(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r\n")
        .or_else(|| line.strip_suffix(b"\n"))
        .unwrap_or(line)
}
