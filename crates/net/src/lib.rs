//! Network layer: endpoint URLs and TCP/TLS connections.
//!
//! - [`endpoint`]: parse and print `imaps://user@host[:port]` URLs with clear errors.
//! - [`tls`]: TCP connect with timeout, rustls (ring provider) with system roots,
//!   a CA file, or explicit `insecure`; [`tls::MaybeTls`] unifies plain and TLS streams.
//!
//! Knows nothing of IMAP: STARTTLS is negotiated by the caller, which then
//! hands the TCP stream to [`tls::TlsConnector::wrap`].

pub mod endpoint;
pub mod tls;

pub use endpoint::{Endpoint, EndpointError, Scheme};
pub use tls::{connect_tcp, ConnectError, MaybeTls, TlsConnector, TlsOptions};
