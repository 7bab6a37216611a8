//! Projects: many mailboxes moved with one set of settings, by workers that
//! share the state store (one process on SQLite, many machines on
//! PostgreSQL). Every mailbox is moved by the engine's mailbox job.
//!
//! - [`csv_import`]: the CSV formats admins already have (mailport's own,
//!   Microsoft 365's IMAP migration file, imapsync's mass-migration file),
//!   every bad row reported with its line.
//! - [`key`]: the project key (XChaCha20-Poly1305) that seals every
//!   credential; its file, or `MAILPORT_KEY`.
//! - [`settings`]: the project's addresses, admins and copy settings.
//! - [`project`]: a project opened with its key; mailboxes imported with
//!   their secrets sealed; the engine's job for a mailbox and a [`Pass`].
//! - [`runner`]: workers claiming mailboxes by lease, running their passes,
//!   recording them.
//! - [`report`]: per mailbox and total, as CSV, JSON or one HTML page.
//!
//! Errors: [`ProjectError`] (store, key, invalid settings), [`KeyError`].

pub mod csv_import;
pub mod holder;
pub mod key;
pub mod project;
pub mod report;
pub mod runner;
pub mod settings;

pub use key::{KeyError, ProjectKey};
pub use project::{Addressee, Pass, Project, ProjectError};
pub use runner::{run, verify_credentials, RunOptions, RunProgress, RunSummary};
pub use settings::{Admin, Overrides, Settings};
