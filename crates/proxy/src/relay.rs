//! After login: bytes both ways between the client and its backend, the
//! proxy parsing nothing (decision 006).

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};

use crate::backend::Backend;

/// Relays until either side closes. What either side had sent that the
/// proxy read but did not use goes first.
pub async fn run<C: AsyncRead + AsyncWrite + Unpin>(
    client: BufReader<C>,
    backend: Backend,
) -> std::io::Result<()> {
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
    tokio::io::copy_bidirectional(&mut client, &mut server).await?;
    Ok(())
}
