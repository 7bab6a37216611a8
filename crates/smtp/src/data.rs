//! The message after `DATA` / `354`: bytes up to and including the line
//! that holds a single dot. They are passed on as they came — still
//! dot-stuffed, so a downstream server can take them as they are — and
//! never read past the end (a pipelining sender's next command stays in the
//! reader). The end is a line of one dot after a line end, CRLF or a bare
//! LF (as Postfix accepts them).

use std::time::Duration;

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite, AsyncWriteExt};

#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("the sender closed the connection in the middle of the message")]
    Closed,
    #[error("the sender sent nothing for {} seconds", .0.as_secs())]
    Timeout(Duration),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// How the message ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataEnd {
    /// Bytes of the message, terminator included, as sent.
    pub bytes: u64,
    /// Over `max` bytes: what came after the limit was read and dropped,
    /// and the sink got only the part before (without the end).
    pub too_big: bool,
}

/// Where the scanner is, relative to the last line end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum At {
    MidLine,
    LineStart,
    Dot,
    DotCr,
}

/// Finds the end in `chunk`, starting from `at`: the index just past the
/// terminating LF, or the state to carry into the next chunk.
fn scan(chunk: &[u8], mut at: At) -> Result<usize, At> {
    for (i, &b) in chunk.iter().enumerate() {
        at = match (at, b) {
            (At::Dot | At::DotCr, b'\n') => return Ok(i + 1),
            (At::Dot, b'\r') => At::DotCr,
            (At::LineStart, b'.') => At::Dot,
            (_, b'\n') => At::LineStart,
            _ => At::MidLine,
        };
    }
    Err(at)
}

/// Reads the message from `from` into `sink` (when given), at most `max`
/// bytes to the sink; waits at most `timeout` for each read (RFC 5321
/// §4.5.3.2.5: 3 minutes per data block).
pub async fn read_data<R, W>(
    from: &mut R,
    mut sink: Option<&mut W>,
    max: u64,
    timeout: Duration,
) -> Result<DataEnd, DataError>
where
    R: AsyncBufRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut at = At::LineStart;
    let mut bytes: u64 = 0;
    let mut too_big = false;
    loop {
        let chunk = match tokio::time::timeout(timeout, from.fill_buf()).await {
            Err(_) => return Err(DataError::Timeout(timeout)),
            Ok(r) => r?,
        };
        if chunk.is_empty() {
            return Err(DataError::Closed);
        }
        let (take, done) = match scan(chunk, at) {
            Ok(end) => (end, true),
            Err(next) => {
                at = next;
                (chunk.len(), false)
            }
        };
        let part = &chunk[..take];
        if !too_big && bytes + part.len() as u64 > max {
            too_big = true;
        }
        if let (false, Some(sink)) = (too_big, sink.as_mut()) {
            sink.write_all(part).await?;
        }
        bytes += part.len() as u64;
        from.consume(take);
        if done {
            if let (false, Some(sink)) = (too_big, sink.as_mut()) {
                sink.flush().await?;
            }
            return Ok(DataEnd { bytes, too_big });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    async fn run(input: &[u8], max: u64) -> (Result<DataEnd, String>, Vec<u8>, Vec<u8>) {
        let mut r = tokio::io::BufReader::with_capacity(7, input);
        let mut sink = Vec::new();
        let got = read_data(&mut r, Some(&mut sink), max, Duration::from_secs(1))
            .await
            .map_err(|e| e.to_string());
        let mut rest = Vec::new();
        tokio::io::AsyncReadExt::read_to_end(&mut r, &mut rest)
            .await
            .unwrap();
        (got, sink, rest)
    }

    #[tokio::test]
    async fn the_message_ends_at_its_dot_line_and_no_later() {
        let msg = b"Subject: hi\r\n\r\n..stuffed\r\n.not end\r\nlast\r\n.\r\nQUIT\r\n";
        let (got, sink, rest) = run(msg, 1000).await;
        let body = &msg[..msg.len() - 6];
        assert_eq!(
            got,
            Ok(DataEnd {
                bytes: body.len() as u64,
                too_big: false
            })
        );
        assert_eq!(sink, body, "passed on still stuffed, end included");
        assert_eq!(rest, b"QUIT\r\n");
        // An empty message, and bare LF line ends.
        assert_eq!(run(b".\r\nRSET\r\n", 10).await.2, b"RSET\r\n");
        assert_eq!(run(b"a\n.\nNOOP\r\n", 10).await.2, b"NOOP\r\n");
        // Too big: read to the end all the same, the sink cut short.
        let (got, sink, rest) = run(b"0123456789\r\n.\r\nQUIT\r\n", 8).await;
        assert_eq!(
            got,
            Ok(DataEnd {
                bytes: 15,
                too_big: true
            })
        );
        assert!(sink.len() <= 8);
        assert_eq!(rest, b"QUIT\r\n");
        // The sender leaves mid-message.
        assert!(run(b"half a mess", 100)
            .await
            .0
            .unwrap_err()
            .contains("closed"));
    }

    proptest! {
        #[test]
        fn any_body_stuffed_comes_through_whole(lines in proptest::collection::vec("[ -~]{0,20}", 0..20), tail in "[A-Z]{0,8}") {
            // Stuff it as a sender must.
            let mut msg = Vec::new();
            for l in &lines {
                if l.starts_with('.') {
                    msg.push(b'.');
                }
                msg.extend_from_slice(l.as_bytes());
                msg.extend_from_slice(b"\r\n");
            }
            let body_len = msg.len() + 3;
            msg.extend_from_slice(b".\r\n");
            msg.extend_from_slice(tail.as_bytes());
            let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
            let (got, sink, rest) = rt.block_on(run(&msg, 1 << 20));
            prop_assert_eq!(got, Ok(DataEnd { bytes: body_len as u64, too_big: false }));
            prop_assert_eq!(&sink[..], &msg[..body_len]);
            prop_assert_eq!(rest, tail.as_bytes());
        }
    }
}
