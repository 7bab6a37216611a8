//! Carrying source changes to messages already on the destination: flags,
//! and with `--sync-deletes` removals. Both act by the destination UID
//! recorded (by the ledger, or found by identity this pass: module
//! `backing`), and only while the destination folder's UIDVALIDITY is the
//! one recorded. Removals touch only what this tool copied.

use std::collections::BTreeMap;

use mailport_store::{Entry, FolderKey};

use crate::destination::DestinationSession;
use crate::error::MailboxError;
use crate::ledger::{FlagUpdate, Ledger};
use crate::plan::FolderPlan;
use crate::progress::{EventKind, Tell};
use crate::report::FolderReport;

/// Carries source flag changes to the destination copies: what was added on
/// the source since the last pass is added there, what was removed is
/// removed. Flags the source did not change stay as they are on the
/// destination, so a user already reading mail there keeps their own marks.
pub(crate) async fn carry_flags(
    dst: &mut DestinationSession,
    folder: &FolderPlan,
    updates: Vec<FlagUpdate>,
    ledger: Option<(&Ledger, &FolderKey)>,
    report: &mut FolderReport,
    tell: &Tell,
) -> Result<(), MailboxError> {
    if updates.is_empty() {
        return Ok(());
    }
    let st = dst.select(&folder.destination_wire).await?;
    let mut changes = Vec::new();
    let mut records = Vec::new();
    for u in updates {
        let (Some(uid), Some(uv)) = (u.entry.dest_uid, u.entry.dest_uidvalidity) else {
            continue;
        };
        if uv != st.uidvalidity || u.entry.dest_folder.as_deref() != Some(&folder.destination) {
            continue;
        }
        changes.push(FlagChange {
            uid,
            before: u.entry.flags.clone(),
            after: u.flags.clone(),
        });
        records.push(Entry {
            flags: u.baseline,
            ..u.entry
        });
    }
    dst.change_flags(&changes).await?;
    report.flags_updated += records.len() as u64;
    if let Some((ledger, key)) = ledger {
        if let Err(e) = ledger.store.record(key, &records).await {
            tell.event(EventKind::StateNotSaved {
                error: e.to_string(),
            });
        }
    }
    Ok(())
}

/// Flags of one destination copy: as last carried, and as the source has them now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlagChange {
    pub uid: u32,
    pub before: Vec<String>,
    pub after: Vec<String>,
}

impl FlagChange {
    /// Flags the source gained and lost.
    pub fn delta(&self) -> (Vec<String>, Vec<String>) {
        let missing_from = |a: &[String], b: &[String]| {
            let mut v: Vec<String> = a.iter().filter(|f| !b.contains(f)).cloned().collect();
            v.sort();
            v
        };
        (
            missing_from(&self.after, &self.before),
            missing_from(&self.before, &self.after),
        )
    }
}

/// `changes` as few `+FLAGS`/`-FLAGS` groups as possible: UIDs (sorted) per
/// distinct set of flags to add, then per distinct set to remove. A delta pass
/// changes flags on many messages the same way, and each STORE is a round trip
/// and a transaction on the destination.
pub fn flag_groups(changes: &[FlagChange]) -> Vec<(bool, Vec<String>, Vec<u32>)> {
    let mut add: BTreeMap<Vec<String>, Vec<u32>> = BTreeMap::new();
    let mut remove: BTreeMap<Vec<String>, Vec<u32>> = BTreeMap::new();
    for c in changes {
        let (plus, minus) = c.delta();
        if !plus.is_empty() {
            add.entry(plus).or_default().push(c.uid);
        }
        if !minus.is_empty() {
            remove.entry(minus).or_default().push(c.uid);
        }
    }
    let group = |adding: bool, m: BTreeMap<Vec<String>, Vec<u32>>| {
        m.into_iter().map(move |(flags, mut uids)| {
            uids.sort_unstable();
            (adding, flags, uids)
        })
    };
    group(true, add).chain(group(false, remove)).collect()
}

/// Deletes from the destination what this tool copied and the source no
/// longer has. Needs UIDPLUS (UID EXPUNGE): a plain EXPUNGE could remove
/// messages someone else flagged `\Deleted`.
pub(crate) async fn delete_gone(
    dst: &mut DestinationSession,
    folder: &FolderPlan,
    gone: Vec<Entry>,
    (ledger, key): (&Ledger, &FolderKey),
    report: &mut FolderReport,
    tell: &Tell,
) -> Result<(), MailboxError> {
    if gone.is_empty() {
        return Ok(());
    }
    if !dst.has_capability("UIDPLUS") {
        tell.event(EventKind::DeletesNotPossible {
            folder: folder.destination.clone(),
            messages: gone.len() as u64,
        });
        return Ok(());
    }
    let st = dst.select(&folder.destination_wire).await?;
    // Only copies recorded in this very folder and generation: the mapping
    // may have changed since, and another folder's UIDs are other messages.
    let doomed: Vec<&Entry> = gone
        .iter()
        .filter(|e| e.dest_uidvalidity == Some(st.uidvalidity))
        .filter(|e| e.dest_folder.as_deref() == Some(folder.destination.as_str()))
        .collect();
    let dest_uids: Vec<u32> = doomed.iter().filter_map(|e| e.dest_uid).collect();
    if dest_uids.is_empty() {
        return Ok(());
    }
    dst.expunge_uids(&dest_uids).await?;
    report.deleted += dest_uids.len() as u64;
    let source_uids: Vec<u32> = doomed.iter().map(|e| e.uid).collect();
    if let Err(e) = ledger.store.forget(key, &source_uids).await {
        tell.event(EventKind::StateNotSaved {
            error: e.to_string(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(uid: u32, before: &[&str], after: &[&str]) -> FlagChange {
        let v = |s: &[&str]| s.iter().map(|f| f.to_string()).collect();
        FlagChange {
            uid,
            before: v(before),
            after: v(after),
        }
    }

    #[test]
    fn same_changes_on_different_flag_sets_make_one_store() {
        // Three messages with different flags all gain the same keyword.
        let changes = [
            change(7, &["\\Seen"], &["$Changed", "\\Seen"]),
            change(3, &[], &["$Changed"]),
            change(
                5,
                &["$Forwarded", "\\Answered"],
                &["$Changed", "$Forwarded", "\\Answered"],
            ),
        ];
        assert_eq!(
            flag_groups(&changes),
            vec![(true, vec!["$Changed".to_string()], vec![3, 5, 7])]
        );
    }

    #[test]
    fn additions_and_removals_are_grouped_apart() {
        let changes = [
            change(1, &["\\Seen"], &["\\Flagged"]),
            change(2, &["\\Seen", "\\Draft"], &["\\Draft"]),
            change(3, &[], &["\\Flagged"]),
            change(4, &["\\Seen"], &["\\Seen"]),
        ];
        assert_eq!(
            flag_groups(&changes),
            vec![
                (true, vec!["\\Flagged".to_string()], vec![1, 3]),
                (false, vec!["\\Seen".to_string()], vec![1, 2]),
            ]
        );
    }
}
