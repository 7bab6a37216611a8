//! Protocol-neutral mail pieces for mailport, shared by the IMAP and POP3
//! clients (`mailport-imap`, `mailport-pop3`), the local stores
//! (`mailport-mailstore`) and the engine, so that none of them depends on
//! another protocol's crate. Nothing here does I/O, and nothing here knows a
//! protocol's commands or a store's files; the crate has no dependencies.
//!
//! - [`meta`]: [`MessageMeta`], one message's metadata without its body, the
//!   shape every source and destination answers a metadata fetch in.
//! - [`date`]: INTERNALDATE (RFC 3501 `date-time`) to and from Unix seconds,
//!   civil-date arithmetic, `YYYY-MM-DD` command-line dates.
//! - [`base64`]: standard base64 with padding (RFC 4648), for SASL exchanges.
//! - [`utf7`]: modified UTF-7 mailbox names (RFC 3501 5.1.3), on the IMAP
//!   wire and in Dovecot's Maildir folder names.
//! - [`dot`]: sans-I/O dot-stuffing and unstuffing of multi-line bodies ending
//!   in a "." line (POP3 multi-line answers, RFC 1939 3; SMTP DATA has the
//!   same framing, RFC 5321 4.5.2).

pub mod base64;
pub mod date;
pub mod dot;
pub mod meta;
pub mod utf7;

pub use meta::MessageMeta;
