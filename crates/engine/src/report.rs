//! What a run did, per folder and in total. Every source message ends in
//! exactly one outcome: copied, already present, deleted on the destination
//! by its user, skipped (why), failed (why).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use crate::plan::Plan;

#[derive(Debug, Clone, Default, Serialize)]
pub struct FolderReport {
    pub source: String,
    pub destination: String,
    /// Messages in the source folder when it was read.
    pub source_messages: u64,
    pub copied: u64,
    pub already_present: u64,
    /// Copied earlier, then deleted on the destination by its user: left
    /// deleted (`--recopy-deleted` copies them again).
    pub deleted_on_destination: u64,
    /// Reason -> count.
    pub skipped: BTreeMap<String, u64>,
    /// Reason -> count.
    pub failed: BTreeMap<String, u64>,
    /// Copies the destination holds with other bytes than the source's: the
    /// server rewrote them on APPEND (found present with only line endings
    /// changed, or copied now and stored with another size). Counted in
    /// `already_present` or `copied` as well.
    pub changed_by_destination: u64,
    /// Copied earlier, flags changed on the source since: updated now.
    pub flags_updated: u64,
    /// Copied earlier, deleted on the source since: deleted now (`--sync-deletes`).
    pub deleted: u64,
    /// Nothing changed since the last complete pass (CONDSTORE): not read again.
    pub unchanged: bool,
    /// Messages a dry run would copy.
    pub to_copy: u64,
    /// Bytes of the copied messages (in a dry run: of those it would copy).
    pub bytes: u64,
    /// Other connection pairs that copied some of this folder's batches.
    pub helpers: u64,
    #[serde(serialize_with = "secs")]
    pub elapsed: Duration,
    /// A folder-level failure (could not read or create the folder).
    pub error: Option<String>,
    /// (UIDVALIDITY, UIDNEXT) when the pass opened the source folder:
    /// messages with UIDs from there on arrived after it read the folder.
    #[serde(skip)]
    pub arrivals_from: Option<(u32, u32)>,
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((d.as_secs_f64() * 1000.0).round() / 1000.0)
}

impl FolderReport {
    pub fn skipped_total(&self) -> u64 {
        self.skipped.values().sum()
    }
    pub fn failed_total(&self) -> u64 {
        self.failed.values().sum()
    }
    /// source = copied + present + deleted on the destination + skipped +
    /// failed (+ to_copy in a dry run).
    pub fn adds_up(&self) -> bool {
        self.source_messages
            == self.copied
                + self.already_present
                + self.deleted_on_destination
                + self.skipped_total()
                + self.failed_total()
                + self.to_copy
    }
    pub fn fail(&mut self, reason: &str, n: u64) {
        if n > 0 {
            *self.failed.entry(reason.to_string()).or_default() += n;
        }
    }
    pub fn skip(&mut self, reason: &str) {
        *self.skipped.entry(reason.to_string()).or_default() += 1;
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Totals {
    pub source_messages: u64,
    pub copied: u64,
    pub already_present: u64,
    pub deleted_on_destination: u64,
    pub changed_by_destination: u64,
    pub skipped: u64,
    pub failed: u64,
    pub to_copy: u64,
    pub bytes: u64,
    pub failed_folders: u64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub dry_run: bool,
    /// Stopped early (Ctrl-C): folders not started are not in `folders`,
    /// messages not reached in started ones failed as interrupted.
    pub interrupted: bool,
    pub plan: Plan,
    pub folders: Vec<FolderReport>,
    pub subscriptions_added: u64,
    #[serde(serialize_with = "secs")]
    pub elapsed: Duration,
    pub totals: Totals,
}

impl Report {
    pub fn compute_totals(&mut self) {
        let mut t = Totals::default();
        for f in &self.folders {
            t.source_messages += f.source_messages;
            t.copied += f.copied;
            t.already_present += f.already_present;
            t.deleted_on_destination += f.deleted_on_destination;
            t.changed_by_destination += f.changed_by_destination;
            t.skipped += f.skipped_total();
            t.failed += f.failed_total();
            t.to_copy += f.to_copy;
            t.bytes += f.bytes;
            t.failed_folders += u64::from(f.error.is_some());
        }
        self.totals = t;
    }

    /// True when nothing failed.
    pub fn is_clean(&self) -> bool {
        self.totals.failed == 0 && self.totals.failed_folders == 0
    }
}
