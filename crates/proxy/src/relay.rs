//! After login: bytes both ways between the client and its backend, the
//! proxy parsing nothing (decision 006).

use std::sync::Arc;

use crate::backend::Backend;
use crate::sessions::{Closing, Why};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};

/// Relays until either side closes, or until `closing` says so (the
/// account's final pass began, or the proxy is stopping): then the client
/// gets `goodbye(why)` (the protocol's way of saying so). What either side
/// had sent that the proxy read but did not use goes first. The bytes
/// relayed each way (client to server, server to client).
pub async fn run<C: AsyncRead + AsyncWrite + Unpin>(
    client: BufReader<C>,
    backend: Backend,
    closing: Arc<Closing>,
    goodbye: impl Fn(Why) -> &'static [u8],
) -> std::io::Result<(u64, u64)> {
    let client_unread = client.buffer().to_vec();
    let mut client = client.into_inner();
    let mut server = backend.stream;
    if !backend.unread.is_empty() {
        client.write_all(&backend.unread).await?;
        client.flush().await?;
    }
    if !client_unread.is_empty() {
        server.write_all(&client_unread).await?;
        server.flush().await?;
    }
    let copied = tokio::select! {
        r = tokio::io::copy_bidirectional(&mut client, &mut server) => Ok(r),
        why = closing.closed() => Err(why),
    };
    match copied {
        Ok(r) => r,
        Err(why) => {
            client.write_all(goodbye(why)).await?;
            client.shutdown().await?;
            Ok((0, 0))
        }
    }
}
