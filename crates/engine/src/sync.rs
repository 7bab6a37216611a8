//! Carrying source changes to messages already on the destination: flags,
//! and with `--sync-deletes` removals. Both act by the destination UID
//! recorded (by the ledger, or found by identity this pass: module
//! `backing`), and only while the destination folder's UIDVALIDITY is the
//! one recorded. Removals touch only what this tool copied.

use mailport_store::{Entry, FolderKey};

use crate::destination::DestinationSession;
use crate::error::MailboxError;
use crate::flags::FlagChange;
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
