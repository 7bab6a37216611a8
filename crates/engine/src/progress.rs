//! What a job tells its front door while it runs: counts per folder
//! ([`Progress`]), and typed events, each with the id of the job it is about,
//! so that a dashboard or the proxy can store them and the CLI can print
//! them. `tracing` stays for debugging only.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use mailport_net::Endpoint;

use crate::error::Side;
use crate::plan::Plan;
use crate::report::{FolderReport, Report};
use crate::verify::VerifyReport;

/// Receives progress; called from several workers at once.
pub trait Progress: Send + Sync {
    fn planned(&self, _plan: &Plan) {}
    /// Folder `index` of the plan starts: messages and bytes it will copy.
    fn folder_started(&self, _index: usize, _messages: u64, _bytes: u64) {}
    /// Body bytes streamed for folder `index`.
    fn bytes(&self, _index: usize, _n: u64) {}
    /// Messages confirmed by the destination for folder `index`.
    fn messages(&self, _index: usize, _n: u64) {}
    fn folder_finished(&self, _index: usize, _report: &FolderReport) {}
    /// Something to tell the user: a retry, a server pushing back, a folder
    /// recreated, a route found... (module `event`).
    fn event(&self, _event: &Event) {}
    /// A job moved on: the copy ended, verify starts or ended.
    fn phase(&self, _phase: Phase<'_>) {}
}

/// Where a job is, for front doors that show each step's result as it comes.
#[derive(Debug, Clone, Copy)]
pub enum Phase<'a> {
    /// The copy ended (perhaps interrupted) with this report.
    Copied(&'a Report),
    /// Verify starts: it reads both sides in full.
    Verifying,
    Verified(&'a VerifyReport),
}

/// A progress sink that ignores everything.
pub struct NoProgress;

impl Progress for NoProgress {}

/// Who a job is: the CLI's is empty; a project names its mailbox.
pub type JobId = Arc<str>;

#[derive(Debug, Clone)]
pub struct Event {
    pub job: JobId,
    pub kind: EventKind,
}

/// Something worth telling the user while the job carries on; a message or
/// folder that fails is in the report too.
#[derive(Debug, Clone)]
pub enum EventKind {
    /// The given address did not connect but another route to the same
    /// host did, and the job uses it.
    RouteFound {
        side: Side,
        given: Endpoint,
        found: Endpoint,
        /// Implicit TLS, STARTTLS, or plain text the options allow.
        how: &'static str,
        /// Why the given address (first) and other routes tried failed.
        why: String,
    },
    /// A folder goes to a destination folder of another name than the plan
    /// would give it (a separator in a name, a case-insensitive collision).
    FolderRenamed {
        source: String,
        destination: String,
        why: String,
    },
    /// The destination refused a message for good (its reason is in the
    /// report too); the copy goes on.
    MessageRefused {
        folder: String,
        uid: u32,
        reason: String,
    },
    /// Connecting failed for a reason that may pass; trying again.
    Retrying { error: String, wait: Duration },
    /// A server refused more connections; the job goes on with fewer.
    FewerConnections { error: String },
    /// The destination asked to slow down; the batch is sent again.
    PushedBack {
        folder: String,
        why: String,
        wait: Duration,
    },
    /// A destination folder that the state file recorded copies in was gone
    /// (account wiped, folder deleted): its messages are copied again.
    FolderRecreated { folder: String, messages: u64 },
    /// A subscription could not be made on the destination.
    NotSubscribed { folder: String, error: String },
    /// Deletions `--sync-deletes` asked for that the destination cannot do
    /// safely (no UID EXPUNGE).
    DeletesNotPossible { folder: String, messages: u64 },
    /// The state file could not be written; nothing is lost (the next pass
    /// finds the messages on the destination by identity).
    StateNotSaved { error: String },
    /// A copy worker stopped unexpectedly; its folders are reported failed.
    WorkerCrashed { error: String },
    /// Anything else worth a warning, in words.
    Warning { text: String },
}

impl EventKind {
    /// Notes are good news with advice; the rest are warnings.
    pub fn is_note(&self) -> bool {
        matches!(
            self,
            EventKind::RouteFound { .. } | EventKind::FolderRenamed { .. }
        )
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = |d: &Duration| d.as_secs_f64();
        match self {
            EventKind::RouteFound {
                side,
                given,
                found,
                how,
                why,
            } => write!(
                f,
                "{side} {given} did not connect ({why}); {found} ({how}) does: give --{} {found} next time",
                match side {
                    Side::Source => "from",
                    Side::Destination => "to",
                }
            ),
            EventKind::FolderRenamed {
                source,
                destination,
                why,
            } => write!(f, "folder {source:?} goes to {destination:?} ({why})"),
            EventKind::MessageRefused {
                folder,
                uid,
                reason,
            } => write!(f, "{folder}: message UID {uid} not copied: {reason}"),
            EventKind::Retrying { error, wait } => {
                write!(f, "{error}; trying again in {:.1} s", secs(wait))
            }
            EventKind::FewerConnections { error } => {
                write!(f, "{error}; continuing with fewer connections")
            }
            EventKind::PushedBack { folder, why, wait } => {
                write!(f, "{folder}: {why}; waiting {:.1} s", secs(wait))
            }
            EventKind::FolderRecreated { folder, messages } => write!(
                f,
                "destination folder {folder:?} was gone: copying again the {messages} messages the state file recorded there"
            ),
            EventKind::NotSubscribed { folder, error } => {
                write!(f, "could not subscribe {folder:?} on the destination: {error}")
            }
            EventKind::DeletesNotPossible { folder, messages } => write!(
                f,
                "{folder}: not deleting {messages} messages: the destination lacks UIDPLUS (UID EXPUNGE)"
            ),
            EventKind::StateNotSaved { error } => write!(
                f,
                "{error}; a re-run will recognise these messages by identity"
            ),
            EventKind::WorkerCrashed { error } => {
                write!(f, "a copy worker stopped unexpectedly: {error}")
            }
            EventKind::Warning { text } => f.write_str(text),
        }
    }
}

/// How the engine's parts tell events: the job's id and where they go.
#[derive(Clone)]
pub(crate) struct Tell {
    pub(crate) job: JobId,
    pub(crate) progress: Arc<dyn Progress>,
}

impl Tell {
    pub(crate) fn new(job: JobId, progress: Arc<dyn Progress>) -> Tell {
        Tell { job, progress }
    }

    pub(crate) fn event(&self, kind: EventKind) {
        tracing::debug!("event: {kind}");
        self.progress.event(&Event {
            job: self.job.clone(),
            kind,
        });
    }
}
