//! Logging in to the server that serves an account (the old one or the new
//! one) as its user, over IMAP or POP3, then handing over the raw connection for the relay.

use std::net::SocketAddr;

use mailport_engine::connector::Connector;
use mailport_engine::error::in_words;
use mailport_engine::SessionError;
use mailport_net::MaybeTls;

use crate::front::Protocol;

/// A logged-in backend connection.
pub struct Backend {
    pub stream: MaybeTls,
    /// What the server sent after the login's reply (relayed first).
    pub unread: Vec<u8>,
    /// The server's capabilities after login, for the client's OK.
    pub capabilities: Vec<String>,
}

pub enum LoginFailure {
    /// The server refused the credentials, in its words.
    Refused(String),
    /// The server could not be reached or failed: try again later.
    Unavailable(String),
}

/// Logs in for the client at `client`, whose address an IMAP server is
/// told (ID `x-originating-ip`, which Dovecot honours from its
/// `login_trusted_networks`).
pub async fn log_in(
    connector: &Connector,
    protocol: Protocol,
    client: SocketAddr,
) -> Result<Backend, LoginFailure> {
    let opened = match protocol {
        Protocol::Imap => connector.open_for(Some(client)).await.map(|client| {
            let capabilities = client.capabilities().to_vec();
            let (stream, unread) = client.into_parts();
            Backend {
                stream,
                unread,
                capabilities,
            }
        }),
        Protocol::Smtp => {
            let why = "SMTP sessions do not log in to a mailbox server";
            return Err(LoginFailure::Unavailable(why.into()));
        }
        Protocol::Pop3 => connector.open_pop3().await.map(|client| {
            let (stream, unread) = client.into_parts();
            Backend {
                stream,
                unread,
                capabilities: Vec::new(),
            }
        }),
    };
    opened.map_err(|e| match e {
        SessionError::Auth { reason, .. } => LoginFailure::Refused(reason),
        e => LoginFailure::Unavailable(in_words(&e)),
    })
}
