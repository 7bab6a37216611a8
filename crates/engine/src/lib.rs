//! The mailport engine: plan and copy a mailbox from a source to a destination.
//!
//! - [`origin`]: sources — IMAP, POP3 (`pop3_source`), Maildir, mbox — all read
//!   the way IMAP is; [`target`]: destinations — IMAP, Maildir (decision 004).
//! - [`session`]: connect, TLS/STARTTLS, route discovery; [`login`]: password,
//!   OAuth token or admin impersonation; secrets redacted and wiped.
//! - [`names`]: wire names <-> logical paths (namespace prefix, separator,
//!   modified UTF-7 or UTF-8).
//! - [`roles`]: special folders (SPECIAL-USE, else well-known names).
//! - [`plan`]: the folder mapping with every rule unit-tested, and reading a
//!   server's listing (namespace, folders, subscriptions).
//! - [`identity`]: recognising a message already on the destination.
//! - [`ledger`]: what the state store says a pass can skip or must update;
//!   `backing`: whether the destination still holds what the ledger says,
//!   and which messages are there already (identity, destination UIDs);
//!   [`sync`] carries flag changes and (opt-in) deletions to copied messages.
//! - [`mod@copy`]: the copy, split by job (options, progress, errors, run,
//!   connection pairs, workers, one folder, batches streamed FETCH ->
//!   (MULTI)APPEND); `share`: idle workers take batches of a big folder;
//!   [`throttle`]: servers pushing back, and the user's rate limits.
//! - [`report`]: per-folder outcomes whose totals add up; [`cancel`]: stopping
//!   at the next batch boundary with the ledger consistent.
//! - [`verify`]: the independent check (hashes or identities) and the manifest;
//!   [`fingerprint`]: exact and line-ending-normalised hashes that name what
//!   a server changed.
//! - [`check`]: what a server is and holds, read-only.
//!
//! Data flows one way: the CLI calls [`copy::copy`]; the engine calls the
//! protocol and store crates. The engine never prints: it reports through
//! [`copy::Progress`] and returns a [`report::Report`].

mod backing;
pub mod cancel;
pub mod check;
pub mod copy;
pub mod error;
pub mod fingerprint;
pub mod identity;
pub mod job;
pub mod ledger;
pub mod login;
pub mod names;
pub mod origin;
pub mod plan;
mod pop3_source;
pub mod progress;
pub mod report;
pub mod roles;
pub mod session;
mod share;
pub mod sync;
pub mod target;
pub mod throttle;
pub mod verify;

pub use cancel::Cancel;
pub use copy::{copy, CopyOptions};
pub use error::{EngineError, Side};
pub use job::{Job, JobError, JobReport};
pub use ledger::Ledger;
pub use login::{AdminStyle, AuthMech, Credentials, TokenSource};
pub use mailport_store::Store;
pub use origin::{Origin, Source};
pub use progress::{Event, EventKind, JobId, NoProgress, Phase, Progress};
pub use report::{FolderReport, Report};
pub use session::{Connector, Discovery, EndpointConfig, Secret, SessionError, Unreachable};
pub use target::{Destination, Target};
