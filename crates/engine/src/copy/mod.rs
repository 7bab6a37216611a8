//! The copy: plan, then folders in parallel over several connection pairs,
//! each folder streamed in batches from `UID FETCH` into `APPEND`.
//!
//! Memory stays bounded whatever the message size: bodies move source ->
//! destination in 64 KiB pieces, never whole. A folder is one
//! worker's, in the source's (UID) order, until that worker has batches left
//! and another has nothing to do: then they share it (module `share`).
//! With MULTIAPPEND (RFC 3502) a batch is one APPEND command, which lets the
//! destination do its per-append bookkeeping once per batch; a batch the
//! destination refuses is retried message by message so that one bad message
//! does not fail its neighbours.
//!
//! - [`options`]: what the copy is asked to do, and which messages the
//!   options leave out (it reports through [`crate::progress`] and fails
//!   with [`crate::error`]); [`settings`]: the options as users write them
//!   (flags, a project's settings), validated into options one way.
//! - `run`: plan, create folders, run the workers, collect the report;
//!   `connect`: connection pairs, reconnecting with back-off.
//! - `worker`: folders owned one after the other, batches of others' helped
//!   with; `folder`: one folder sorted against the ledger and the
//!   destination, copied, flags and deletions carried; `backing`: whether
//!   the destination still holds what the ledger says, and which messages
//!   are there already (identity, destination UIDs);
//!   `batch`: bodies streamed from FETCH into (MULTI)APPEND.

mod backing;
mod batch;
mod connect;
mod folder;
pub mod options;
mod run;
pub mod settings;
mod worker;

pub(crate) use connect::open_listings;
pub(crate) use options::skip_reason;
pub use options::CopyOptions;
pub use run::copy;
pub(crate) use run::copy_as;
pub use settings::CopySettings;
