//! SMTP for the AutoPort proxy (issue 15): what a server at the old
//! server's address needs to speak. Sans-I/O where it can be: the caller
//! reads bounded lines and hands them here.
//!
//! - [`server`]: commands (EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT,
//!   VRFY, HELP, STARTTLS, AUTH) parsed from one line, with their paths and
//!   ESMTP parameters; replies with enhanced status codes (RFC 3463).
//! - [`data`]: the message after DATA, passed on still dot-stuffed,
//!   bounded in size and time, read to its end (never past it) even when
//!   too big.
//! - [`client`]: the relay to the old or the new server's MTA, SMTP or
//!   LMTP, with XCLIENT; AUTH PLAIN as a user at a submission service.
//!
//! Knows nothing of accounts or routing: the proxy decides.

pub mod client;
pub mod data;
pub mod server;
