//! Test harness for mailport: real servers, started privately.
//!
//! - [`dovecot`]: private Dovecot instances (own config, temp dirs, free
//!   loopback ports, passwd-file users, generated TLS certificates); stopped on drop.
//!   A harness that cannot start its server returns an error: tests fail, never skip.
//! - [`cyrus`]: private Cyrus IMAP 3.6 instances (the second implementation),
//!   same shape as [`dovecot`]; all three servers implement [`server::ImapServer`].
//! - [`courier`]: private Courier-IMAP 5.0 instances (the third implementation),
//!   run from unpacked packages inside a private mount and PID namespace.
//! - [`corpus`]: a deterministic, realistic sample mailbox.
//! - [`cli`]: what tests of the `mailport` binary share: servers that fail the
//!   test when they cannot start, and [`cli::Migration`] (two servers, a
//!   corpus loaded, `mailport` commands between them run and checked,
//!   both sides compared).
//! - [`session`]: load a corpus over IMAP, and snapshot an account (hashes,
//!   flags, dates, folders, subscriptions) to compare source and destination.
//! - [`certs`]: a throw-away CA and server certificate.
//! - [`peers`]: mbsync and OfflineIMAP invocations against private servers.
//! - [`postgres`]: private PostgreSQL instances for the state store.
//! - [`postfix`]: private Postfix instances (an MTA delivering by LMTP to a
//!   private Dovecot started with `lmtp`), for the SMTP tests.
//! - [`relay`]: a TCP relay that cuts or stalls connections on cue (fault injection).

pub mod certs;
pub mod cli;
pub mod corpus;
pub mod courier;
pub mod cyrus;
pub mod dovecot;
pub mod oauth;
pub mod peers;
pub mod postfix;
pub mod postgres;
pub mod relay;
pub mod server;
pub mod session;

pub use corpus::{Corpus, CorpusOptions};
pub use courier::{Courier, CourierOptions};
pub use cyrus::{Cyrus, CyrusOptions};
pub use dovecot::{Dovecot, DovecotOptions, Layout};
pub use postfix::{Postfix, PostfixOptions};
pub use server::ImapServer;
