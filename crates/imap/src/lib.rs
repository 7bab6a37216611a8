//! IMAP4rev1 client for mailport (RFC 3501 and the extensions a migration needs).
//!
//! - [`auth`]: LOGIN and SASL (PLAIN with authzid, XOAUTH2, OAUTHBEARER).
//! - [`parse`]: sans-I/O response parser (complete responses, literals inline).
//! - [`client`]: framing over any async stream, timeouts on every read, bounded
//!   lines and buffered literals, streaming `BODY[]` FETCH and (MULTI)APPEND.
//! - [`commands`]: NAMESPACE, LIST/LSUB, SELECT, CREATE, SUBSCRIBE, metadata FETCH.
//! - [`utf7`]: modified UTF-7 mailbox names (RFC 3501 5.1.3).
//! - [`uidset`]: sequence sets.
//!
//! This crate knows nothing of the engine: it moves bytes and reports what the
//! server said, with errors that classify themselves ([`Error::is_transient`],
//! [`Error::is_auth`]).

pub mod auth;
pub mod base64;
pub mod client;
pub mod commands;
pub mod date;
pub mod error;
pub mod parse;
pub mod uidset;
pub mod utf7;

pub use auth::Sasl;
pub use client::{AppendUid, BodyStart, Client, ClientConfig, Completion};
pub use commands::{ListEntry, MailboxStatus, MessageMeta, Namespace, Namespaces};
pub use error::Error;
