//! IMAP4rev1 client for mailport (RFC 3501 and the extensions a migration needs).
//!
//! - [`auth`]: LOGIN and SASL (PLAIN with authzid, XOAUTH2, OAUTHBEARER).
//! - [`parse`]: sans-I/O response parser (complete responses, literals inline).
//! - [`framing`]: lines and literals off any async stream, bounded and timed,
//!   shared by the client and the server side.
//! - [`server`]: the server side before authentication (the proxy): commands
//!   read and parsed with strict limits, SASL PLAIN and LOGIN, replies.
//! - [`client`]: framing over any async stream, timeouts on every read, bounded
//!   lines and buffered literals, streaming `BODY[]` FETCH and (MULTI)APPEND.
//! - [`commands`]: NAMESPACE, LIST/LSUB, SELECT, CREATE, SUBSCRIBE, metadata FETCH,
//!   NOOP, STARTTLS, UID STORE of flags and UID EXPUNGE (in chunks a server's
//!   line limit accepts).
//! - [`error`]: the one error type, [`Error`].
//! - [`uidset`]: sequence sets.
//!
//! This crate knows nothing of the engine: it moves bytes and reports what the
//! server said, with errors that classify themselves ([`Error::is_transient`],
//! [`Error::is_auth`]). What is not IMAP's own comes from `mailport_mail`:
//! base64 for SASL, and [`MessageMeta`], which metadata FETCH returns and
//! which is re-exported here for that reason. Modified UTF-7 names and
//! INTERNALDATE arithmetic are in `mailport_mail::utf7` and
//! `mailport_mail::date`.

pub mod auth;
pub mod client;
pub mod commands;
pub mod error;
pub mod framing;
pub mod parse;
pub mod server;
pub mod uidset;

pub use auth::Sasl;
pub use client::{AppendUid, BodyStart, Client, ClientConfig, Completion};
pub use commands::{ListEntry, MailboxStatus, Namespace, Namespaces};
pub use error::Error;
pub use mailport_mail::MessageMeta;
