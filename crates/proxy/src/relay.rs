//! After login: bytes both ways between the client and its backend, the
//! proxy parsing nothing (decision 006).

use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::Notify;

use crate::backend::Backend;

/// Relays until either side closes, or until `closing` is notified (the
/// account's final pass began): then the client gets `goodbye` (the
/// protocol's way of saying so). What either side had sent that the proxy
/// read but did not use goes first.
pub async fn run<C: AsyncRead + AsyncWrite + Unpin>(
    client: BufReader<C>,
    backend: Backend,
    closing: Option<Arc<Notify>>,
    goodbye: &[u8],
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
    let closed = async {
        match &closing {
            Some(n) => n.notified().await,
            None => std::future::pending().await,
        }
    };
    let copied = tokio::select! {
        r = tokio::io::copy_bidirectional(&mut client, &mut server) => Some(r),
        () = closed => None,
    };
    match copied {
        Some(r) => r.map(|_| ()),
        None => {
            client.write_all(goodbye).await?;
            client.shutdown().await
        }
    }
}
