//! POP3 client (and the proxy's pre-login server side) for mailport: RFC 1939 with CAPA (RFC 2449), STLS (RFC 2595)
//! and SASL AUTH (RFC 5034). Protocol only: which messages to fetch, when to
//! delete and how to retry is the engine's business.
//!
//! - [`response`]: sans-I/O parsing of status lines, response codes
//!   (`[SYS/TEMP]`, `[IN-USE]`, `[LOGIN-DELAY]`, `[AUTH]`), the APOP
//!   timestamp and CAPA lines.
//! - [`client`]: framing over any async stream, timeouts on every read and
//!   write, bounded lines and listings, CAPA/STLS, STAT/LIST/UIDL/TOP,
//!   DELE/RSET/NOOP/QUIT, and streaming RETR, pipelined with PIPELINING.
//!   Multi-line answers are unstuffed chunk by chunk into the caller's buffer
//!   by `mailport_mail::dot` (shared with SMTP's DATA), so memory is bounded
//!   whatever the size of a message or the length of its lines.
//! - [`auth`]: USER/PASS, APOP, AUTH PLAIN (with an authorization identity)
//!   and AUTH with any mechanism (XOAUTH2, OAUTHBEARER), base64 from
//!   `mailport_mail`. Secrets are wiped after use and never traced.
//! - [`server`]: the server side before login (the proxy): AUTHORIZATION
//!   commands parsed from one line (CAPA, STLS, USER, PASS, AUTH, NOOP,
//!   QUIT), `+OK`/`-ERR [CODE]` replies.
//! - [`error`]: one error type that says whether to retry
//!   ([`Error::is_transient`]), whether the credentials were refused
//!   ([`Error::is_auth`]) and whether the connection is still usable
//!   ([`Error::breaks_connection`]).
//!
//! Wire traces go to `tracing` target `mailport::pop3::wire` at debug level.

pub mod auth;
pub mod client;
pub mod error;
pub mod response;
pub mod server;

pub use client::{Client, ClientConfig};
pub use error::Error;
pub use response::{Capability, Status};
