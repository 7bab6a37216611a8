//! Network layer: endpoint URLs and TCP/TLS connections.
//!
//! - [`endpoint`]: parse and print `imaps://user@host[:port]` URLs with clear errors.
//! - [`tls`]: TCP connect with timeout, rustls (ring provider) with system roots,
//!   a CA file, a pinned certificate fingerprint, or explicit `insecure`;
//!   [`tls::MaybeTls`] unifies plain and TLS streams.
//! - [`tls_server`]: the proxy's TLS: a certificate per hostname chosen by SNI
//!   (wildcards one label deep, a default), names without one reported,
//!   reloadable.
//! - [`proxy_header`]: the PROXY protocol header (v1, v2) a load balancer
//!   puts before a connection: the client's real address.
//! - [`cert`]: why a certificate was refused (dates, names, issuer) and its fingerprint.
//! - [`route`]: the port/security permutations worth trying when a given one
//!   does not connect (protocol-agnostic: IMAP today, POP3 later).
//!
//! Knows nothing of IMAP: STARTTLS is negotiated by the caller, which then
//! hands the TCP stream to [`tls::TlsConnector::wrap`].

pub mod cert;
pub mod endpoint;
pub mod proxy_header;
pub mod route;
pub mod tls;
pub mod tls_server;

pub use cert::{CertDiagnosis, CertProblem, Fingerprint};
pub use endpoint::{Endpoint, EndpointError, Scheme};
pub use route::{Route, Security};
pub use tls::{connect_tcp, ConnectError, MaybeTls, TlsConnector, TlsDetails, TlsOptions};
