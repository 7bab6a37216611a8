//! The mailport engine: move one mailbox from a source to a destination.
//!
//! Names (decision 007): a [`Source`] or [`Destination`] is what the user
//! configured (a server's [`Connector`], or a local path); opened, it is a
//! [`SourceSession`] or [`DestinationSession`], driven with IMAP's verbs
//! whatever the kind of mailbox (decision 004). A [`Job`] is one mailbox
//! moved the way every front door moves it.
//!
//! - [`job`]: the mailbox job — addresses parsed and checked, discovery,
//!   ledger key, connection cap, copy -> verify -> delete-after-verify;
//!   [`progress`]: what a job tells its caller (counts, typed events with
//!   the job's id, phases); [`error`]: how a job fails, by kind.
//! - [`source`]: sources — IMAP, POP3 (`pop3_source`), Maildir, mbox (UIDs
//!   for stores without their own: `numbering`);
//!   [`destination`]: destinations — IMAP, Maildir.
//! - [`connector`]: connect, TLS/STARTTLS, route discovery; [`login`]:
//!   password, OAuth token or admin impersonation; secrets redacted and wiped.
//! - [`hierarchy`]: wire names <-> logical paths (namespace prefix,
//!   separator, modified UTF-7 or UTF-8).
//! - [`roles`]: special folders (SPECIAL-USE, else well-known names).
//! - [`plan`]: the folder mapping with every rule unit-tested, and reading a
//!   server's listing (namespace, folders, subscriptions).
//! - [`identity`]: recognising a message already on the destination.
//! - [`ledger`]: what the state store says a pass can skip or must update
//!   (the copy's `backing` step checks the destination still holds it);
//!   [`sync`] carries flag changes ([`flags`]: grouped into few STOREs) and
//!   (opt-in) deletions to copied messages.
//! - [`mod@copy`]: the copy, split by step (options, run, connection pairs,
//!   workers, one folder, batches streamed FETCH -> (MULTI)APPEND); `share`:
//!   idle workers take batches of a big folder; [`throttle`]: servers
//!   pushing back, and the user's rate limits.
//! - [`report`]: per-folder outcomes whose totals add up; [`cancel`]: stopping
//!   at the next batch boundary with the ledger consistent.
//! - [`verify`]: the independent check (hashes or identities) and the manifest;
//!   [`fingerprint`]: exact and line-ending-normalised hashes that name what
//!   a server changed.
//! - [`inspect`]: what a server is and holds, read-only (`mailport check`).
//!
//! Data flows one way: front doors build a [`Job`] (or call [`copy()`],
//! [`verify::verify`]); the engine calls the protocol and store crates. The
//! engine never prints: it reports through [`Progress`] and returns a
//! [`JobReport`] or a [`JobError`].

pub mod cancel;
pub mod connector;
pub mod copy;
pub mod destination;
pub mod error;
pub mod fingerprint;
pub mod flags;
pub mod hierarchy;
pub mod identity;
pub mod inspect;
pub mod job;
pub mod ledger;
pub mod login;
mod numbering;
pub mod plan;
mod pop3_source;
pub mod progress;
pub mod report;
pub mod roles;
mod share;
pub mod source;
pub mod sync;
pub mod throttle;
pub mod verify;

pub use cancel::Cancel;
pub use connector::{Connector, Discovery, EndpointConfig, Pop3Session, Unreachable};
pub use copy::{copy, CopyOptions, CopySettings};
pub use destination::{Destination, DestinationSession};
pub use error::{EngineError, ErrorKind, MailboxError, SessionError, Side};
pub use job::{Job, JobError, JobReport};
pub use ledger::Ledger;
pub use login::{AdminStyle, AuthMech, Credentials, Secret, TokenSource};
pub use mailport_store::Store;
pub use progress::{Event, EventKind, JobId, NoProgress, Phase, Progress};
pub use report::{FolderReport, Report};
pub use source::{Source, SourceSession};
