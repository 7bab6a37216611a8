//! AutoPort: mailport at the old server's address. Each user's mailbox moves
//! to the new server in the background after their first login through the
//! proxy, with the password they logged in with; after the move their
//! sessions go to the new server (issue 14, docs/proxy.md).
//!
//! - [`gate`]: the policy of a login — where an account is served (source,
//!   moving, destination), checking the password there, capturing it
//!   (sealed and Argon2id-hashed) and queuing the mailbox; failed logins
//!   rate-limited per client address and per account.
//! - [`export`]: the captured passwords for the new server
//!   (`accounts export-passwords`: Argon2id, SHA512-crypt, bcrypt).
//! - [`first_login`]: `--on-first-login migrate-now`, the move while the
//!   first login waits.
//! - [`front`]: a client connection from accept to the end of its relay,
//!   what both protocols share (TLS, the login deadline, SASL PLAIN and
//!   LOGIN).
//! - [`imap_front`], [`pop3_front`]: each protocol before login (the
//!   protocol crates' server sides parse), STARTTLS/STLS.
//! - [`backend`]: logging in to the old or new server as the user (IMAP,
//!   POP3, submission) and handing over the raw connection.
//! - [`relay`]: bytes both ways after login, until the session ends or the
//!   account's final pass begins.
//! - [`cutover`]: the final pass of an account (moving, last delta and
//!   verify, destination; rolled back on failure or after a crash).
//! - [`schedule`]: delta passes on a clock, following passes of moved
//!   accounts, automatic cut-over, erasing passwords no pass needs.
//! - [`smtp_front`]: SMTP at the old address (port 25): each recipient's
//!   mail to the server that serves its mailbox this minute, every relay
//!   recorded (issue 15); [`smtp_downstream`]: the MTAs behind it (TLS,
//!   XCLIENT, SIZE).
//! - [`submission_front`]: submission (ports 587, 465): users' clients
//!   sending mail, AUTH checked like an IMAP login, the session relayed
//!   to the submission service of the account's server.
//! - [`servers`]: the old and new servers' POP3 and submission services.
//! - [`retire`]: the retirement report — what still depends on the old
//!   server (mailboxes not moved, addresses without a mailbox, stale
//!   routes) and whether it can be switched off.
//! - [`sessions`]: open sessions on the old server by account, closed when
//!   the account's final pass begins.
//! - [`metrics`]: Prometheus text metrics on their own port.
//! - [`password`]: Argon2id hashes of captured passwords.
//! - [`strikes`]: failed logins and wrong SMTP commands counted per
//!   client address (and account), for refusing without asking a server.
//! - [`server`]: listeners, sessions, and the project's workers moving
//!   mailboxes in the same process.
//!
//! Client connections are `mailport_net::MaybeTls`, as backend ones are.

pub mod backend;
pub mod cutover;
pub mod export;
pub mod first_login;
pub mod front;
pub mod gate;
pub mod imap_front;
pub mod metrics;
pub mod password;
pub mod pop3_front;
pub mod relay;
pub mod retire;
pub mod schedule;
pub mod server;
pub mod servers;
pub mod sessions;
pub mod smtp_downstream;
pub mod smtp_front;
pub mod strikes;
pub mod submission_front;

pub use front::Protocol;
pub use gate::{Gate, UnknownUsers};
pub use schedule::Schedule;
pub use server::{Listen, Proxy, ProxyConfig};
pub use servers::{Pop3Servers, Submission, SubmissionServers};
