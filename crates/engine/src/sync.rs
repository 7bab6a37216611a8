//! Carrying source changes to messages already copied: flags, and with
//! `--sync-deletes` removals. Both act only on messages the ledger recorded,
//! by the destination UID it recorded, and only while the destination
//! folder's UIDVALIDITY is the one recorded.

use std::collections::BTreeMap;

use mailport_imap::Error;
use mailport_store::{Entry, FolderKey};

use crate::ledger::{FlagUpdate, Ledger};
use crate::plan::FolderPlan;
use crate::report::FolderReport;
use crate::target::Target;

/// Sets the current source flags on the destination copies.
pub async fn carry_flags(
    dst: &mut Target,
    folder: &FolderPlan,
    updates: Vec<FlagUpdate>,
    ledger: &Ledger,
    key: &FolderKey,
    report: &mut FolderReport,
) -> Result<(), Error> {
    if updates.is_empty() {
        return Ok(());
    }
    let st = dst.select(&folder.destination_wire, false).await?;
    // One UID STORE per distinct flag set: a delta pass changes flags on
    // many messages but to few different sets, and each STORE is a round
    // trip and a destination transaction.
    let mut by_flags: BTreeMap<Vec<String>, Vec<u32>> = BTreeMap::new();
    let mut records = Vec::new();
    for u in updates {
        let (Some(uid), Some(uv)) = (u.entry.dest_uid, u.entry.dest_uidvalidity) else {
            continue;
        };
        if uv != st.uidvalidity {
            continue;
        }
        let mut flags = u.flags.clone();
        flags.sort();
        by_flags.entry(flags).or_default().push(uid);
        records.push(Entry {
            flags: u.flags,
            ..u.entry
        });
    }
    for (flags, mut uids) in by_flags {
        uids.sort_unstable();
        dst.store_flags(&uids, &flags).await?;
    }
    report.flags_updated += records.len() as u64;
    if let Err(e) = ledger.store.record(key, &records).await {
        tracing::warn!("{e}");
    }
    Ok(())
}

/// Deletes from the destination what this tool copied and the source no
/// longer has. Needs UIDPLUS (UID EXPUNGE): a plain EXPUNGE could remove
/// messages someone else flagged `\Deleted`.
pub async fn delete_gone(
    dst: &mut Target,
    folder: &FolderPlan,
    gone: Vec<Entry>,
    ledger: &Ledger,
    key: &FolderKey,
    report: &mut FolderReport,
) -> Result<(), Error> {
    if gone.is_empty() {
        return Ok(());
    }
    if !dst.has_capability("UIDPLUS") {
        tracing::warn!(
            "{}: not deleting {} messages: the destination lacks UIDPLUS (UID EXPUNGE)",
            folder.destination,
            gone.len()
        );
        return Ok(());
    }
    let st = dst.select(&folder.destination_wire, false).await?;
    let doomed: Vec<&Entry> = gone
        .iter()
        .filter(|e| e.dest_uidvalidity == Some(st.uidvalidity))
        .collect();
    let dest_uids: Vec<u32> = doomed.iter().filter_map(|e| e.dest_uid).collect();
    if dest_uids.is_empty() {
        return Ok(());
    }
    dst.expunge_uids(&dest_uids).await?;
    report.deleted += dest_uids.len() as u64;
    let source_uids: Vec<u32> = doomed.iter().map(|e| e.uid).collect();
    if let Err(e) = ledger.store.forget(key, &source_uids).await {
        tracing::warn!("{e}");
    }
    Ok(())
}
