//! Logging in to the server that serves an account (the old one or the new
//! one) as its user, then handing over the raw connection for the relay.

use mailport_engine::connector::Connector;
use mailport_engine::error::in_words;
use mailport_engine::SessionError;
use mailport_net::MaybeTls;

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

pub async fn log_in(connector: &Connector) -> Result<Backend, LoginFailure> {
    match connector.open().await {
        Ok(client) => {
            let capabilities = client.capabilities().to_vec();
            let (stream, unread) = client.into_parts();
            Ok(Backend {
                stream,
                unread,
                capabilities,
            })
        }
        Err(SessionError::Auth { reason, .. }) => Err(LoginFailure::Refused(reason)),
        Err(e) => Err(LoginFailure::Unavailable(in_words(&e))),
    }
}
