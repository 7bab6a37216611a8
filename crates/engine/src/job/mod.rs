//! One mailbox moved the way every front door moves it (the CLI's `copy`,
//! a project's worker, the proxy): the same addresses, discovery, ledger
//! key, connection cap, and copy -> verify -> delete-after-verify, behind
//! one call (decision 007).
//!
//! - [`address`]: `imaps://...`, `pop3s://...`, `maildir:PATH`, `mbox:PATH`
//!   parsed and checked for their use;
//! - `discover`: both servers reached before anything else, another route
//!   taken (and said) when the given one does not connect.
//!
//! A job reports through [`Progress`] (counts, typed events with the job's
//! id, phases) and returns a [`JobReport`] or a [`JobError`].

pub mod address;
mod discover;

use std::path::PathBuf;
use std::sync::Arc;

use mailport_store::Store;

use crate::connector::{Connector, Unreachable};
use crate::copy::{copy_as, CopyOptions};
use crate::destination::Destination;
use crate::error::{EngineError, ErrorKind, Side};
use crate::ledger::Ledger;
use crate::progress::{JobId, Phase, Progress, Tell};
use crate::report::Report;
use crate::source::Source;
use crate::verify::{self, Verdict, VerifyReport};
use crate::Cancel;

pub use address::{Address, Use};

/// One mailbox: where from, where to, how, and what to do after the copy.
pub struct Job {
    /// Carried by every event of the job (a project's mailbox id; empty for
    /// the CLI).
    pub id: JobId,
    pub source: Source,
    pub destination: Destination,
    /// How to copy. Its `ledger` and `cancel` are the job's to set: from
    /// [`Job::state`] and the token given to [`Job::run`].
    pub options: CopyOptions,
    /// Where outcomes are recorded, so that a later pass copies only what is
    /// new; None copies by identity alone.
    pub state: Option<State>,
    /// Read both sides in full after the copy.
    pub verify: bool,
    /// Verify by identity (Message-ID, Date, size) instead of every
    /// message's bytes: seconds instead of minutes on a big mailbox (the
    /// proxy's final pass, while logins wait).
    pub verify_quick: bool,
    /// POP3 sources: delete what verify proved present on the destination.
    pub delete_source_after_verify: bool,
    /// Most connections to one host (both sides on one host count twice).
    pub max_connections_per_host: Option<usize>,
}

/// The state store and the name the mailbox's history is filed under.
pub struct State {
    pub store: Store,
    pub key: StateKey,
}

/// What the ledger files a mailbox under. The same mailbox reached through
/// another address (a proxy, an alias, a new port) keeps its history only
/// under a name of its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateKey {
    /// `"{source} -> {destination}"`, the addresses that connect (after
    /// discovery): the CLI's default.
    Addresses,
    /// Given by the caller: `--state-key`, a project's mailbox id.
    Named(String),
}

/// What a job did: the copy's report, and the verify's and the deletion's
/// when they ran.
#[derive(Debug)]
pub struct JobReport {
    pub copy: Report,
    pub verify: Option<VerifyReport>,
    /// Messages deleted from a POP3 source after verify proved them copied.
    pub deleted_from_source: Option<u64>,
}

impl JobReport {
    /// Every message accounted for without failure, and verify (if run) clean.
    pub fn is_clean(&self) -> bool {
        self.copy.is_clean() && self.verify.as_ref().is_none_or(VerifyReport::is_ok)
    }
}

/// Why a job stopped before its report.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Options that cannot go together (nothing was done).
    #[error("{0}")]
    Invalid(String),
    /// A server could not be reached by any route (nothing was done).
    #[error("{}", unreachable_list(.0))]
    Unreachable(Vec<(Side, Unreachable)>),
    #[error("copy failed")]
    Copy(#[source] EngineError),
    #[error("verify failed")]
    Verify(#[source] EngineError),
    #[error("deleting failed")]
    Delete(#[source] EngineError),
}

impl JobError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            JobError::Invalid(_) => ErrorKind::Usage,
            JobError::Unreachable(sides) => sides
                .first()
                .map_or(ErrorKind::Connection, |(_, e)| e.error.kind()),
            JobError::Copy(e) | JobError::Verify(e) | JobError::Delete(e) => e.kind(),
        }
    }

    /// The side and error that ended the job, if one did.
    pub fn engine_error(&self) -> Option<&EngineError> {
        match self {
            JobError::Copy(e) | JobError::Verify(e) | JobError::Delete(e) => Some(e),
            _ => None,
        }
    }
}

fn unreachable_list(v: &[(Side, Unreachable)]) -> String {
    v.iter()
        .map(|(side, e)| format!("{side}: {e}"))
        .collect::<Vec<_>>()
        .join("\n")
}

impl Job {
    /// A job with default options and no state.
    pub fn new(source: Source, destination: Destination) -> Job {
        Job {
            id: JobId::from(""),
            source,
            destination,
            options: CopyOptions::default(),
            state: None,
            verify: false,
            verify_quick: false,
            delete_source_after_verify: false,
            max_connections_per_host: None,
        }
    }

    /// Options that cannot go together, found before anything connects.
    pub fn check(&self) -> Result<(), JobError> {
        let invalid = |s: &str| Err(JobError::Invalid(s.into()));
        if self.options.sync_deletes && self.state.is_none() {
            return invalid("--sync-deletes needs the state file; drop --no-state");
        }
        if self.delete_source_after_verify {
            if !matches!(self.source, Source::Pop3(_)) {
                return invalid(
                    "--delete-source-after-verify is for POP3 sources (pop3:// or pop3s://)",
                );
            }
            if self.options.dry_run {
                return invalid(
                    "--delete-source-after-verify deletes; it cannot go with --dry-run",
                );
            }
        }
        Ok(())
    }

    /// Runs the job to its end or to `cancel`: a cancelled copy stops at the
    /// next batch boundary with the ledger consistent, and its report (whose
    /// totals add up) says `interrupted`; nothing is verified or deleted then.
    pub async fn run(
        mut self,
        progress: Arc<dyn Progress>,
        cancel: Cancel,
    ) -> Result<JobReport, JobError> {
        self.check()?;
        let tell = Tell::new(self.id.clone(), progress.clone());
        discover::discover(self.source.server_mut(), self.destination.imap_mut(), &tell)
            .await
            .map_err(JobError::Unreachable)?;
        let mut opts = self.options;
        opts.cancel = cancel;
        opts.connections = connections(
            opts.connections,
            self.max_connections_per_host,
            self.source.server(),
            self.destination.imap(),
        );
        opts.ledger = self.state.map(|s| Ledger {
            store: s.store,
            pair: match s.key {
                StateKey::Addresses => format!("{} -> {}", self.source, self.destination),
                StateKey::Named(key) => key,
            },
        });
        let after = (self.verify || self.delete_source_after_verify)
            .then(|| (self.source.clone(), self.destination.clone(), opts.clone()));
        let copy = copy_as(self.source, self.destination, opts, tell)
            .await
            .map_err(JobError::Copy)?;
        progress.phase(Phase::Copied(&copy));
        let mut report = JobReport {
            copy,
            verify: None,
            deleted_from_source: None,
        };
        let Some((source, destination, opts)) = after.filter(|_| !report.copy.interrupted) else {
            return Ok(report);
        };
        progress.phase(Phase::Verifying);
        // Deleting from the source needs the bytes compared, whatever was asked.
        let quick = self.verify_quick && !self.delete_source_after_verify;
        // What arrived on the source after the copy read a folder is the
        // next pass's, not missing.
        let arrivals: verify::Arrivals = report
            .copy
            .folders
            .iter()
            .filter_map(|f| Some((f.source.clone(), f.arrivals_from?)))
            .collect();
        let v = verify::verify(source.clone(), destination, &opts, quick, &arrivals)
            .await
            .map_err(JobError::Verify)?;
        progress.phase(Phase::Verified(&v));
        if self.delete_source_after_verify {
            // Only what verify saw present, byte for byte, in this very state
            // of the POP3 mailbox (same UIDVALIDITY, i.e. the same messages).
            let proven: Vec<_> = v
                .manifest
                .iter()
                .filter(|l| l.verdict == Verdict::Present && l.change.is_none())
                .filter_map(|l| Some((l.uidvalidity, l.uid?)))
                .collect();
            let deleted = crate::source::delete_proven(&source, &proven)
                .await
                .map_err(JobError::Delete)?;
            report.deleted_from_source = Some(deleted);
        }
        report.verify = Some(v);
        Ok(report)
    }
}

/// Reaches the servers among `source` and `destination` (as a job does
/// first), for front doors that only read (check).
pub async fn discover(
    source: Option<&mut Connector>,
    destination: Option<&mut Connector>,
    progress: Arc<dyn Progress>,
) -> Result<(), JobError> {
    let tell = Tell::new(JobId::from(""), progress);
    discover::discover(source, destination, &tell)
        .await
        .map_err(JobError::Unreachable)
}

impl Job {
    /// Only verifies (`mailport verify`, a project's verify pass): reaches
    /// both sides as [`Job::run`] does, then reads them in full (`quick`:
    /// identities only, no bodies). Changes nothing and needs no state.
    pub async fn verify_only(
        mut self,
        progress: Arc<dyn Progress>,
        quick: bool,
    ) -> Result<VerifyReport, JobError> {
        let tell = Tell::new(self.id.clone(), progress.clone());
        discover::discover(self.source.server_mut(), self.destination.imap_mut(), &tell)
            .await
            .map_err(JobError::Unreachable)?;
        progress.phase(Phase::Verifying);
        let v = verify::verify(
            self.source,
            self.destination,
            &self.options,
            quick,
            &verify::Arrivals::new(),
        )
        .await
        .map_err(JobError::Verify)?;
        progress.phase(Phase::Verified(&v));
        Ok(v)
    }
}

/// `wanted` connections per side, capped by `per_host`: each worker opens
/// one connection per side, so two to a host that serves both sides.
fn connections(
    wanted: usize,
    per_host: Option<usize>,
    source: Option<&Connector>,
    destination: Option<&Connector>,
) -> usize {
    let Some(cap) = per_host else {
        return wanted;
    };
    let same_host = match (source, destination) {
        (Some(s), Some(d)) => s
            .config
            .endpoint
            .host
            .eq_ignore_ascii_case(&d.config.endpoint.host),
        _ => false,
    };
    let per_worker = if same_host { 2 } else { 1 };
    wanted.min(cap / per_worker).max(1)
}

/// Where a state file lives when none is named:
/// `$XDG_DATA_HOME/mailport/state.db`, else `~/.local/share/mailport/state.db`.
pub fn default_state_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_DATA_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))?;
    Some(base.join("mailport").join("state.db"))
}
