//! One folder: sort its messages against the ledger and the destination,
//! copy the rest in batches (shared with idle workers), carry flags and
//! deletions, remember what the destination folder looks like.

use std::sync::Arc;

use mailport_store::{Entry, FolderKey, FolderState, Outcome};

use crate::backing;
use crate::destination::DestinationSession;
use crate::error::MailboxError;
use crate::ledger::{self, Known, Ledger};
use crate::plan::FolderPlan;
use crate::progress::{EventKind, Tell};
use crate::report::FolderReport;
use crate::share::{Preparing, SharedFolder};
use crate::sync;

use super::batch::{into_batches, run_batches};
use super::connect::Pair;
use super::options::CopyOptions;
use super::run::Ctx;
use super::worker::FolderEnd;

/// Copies one folder. Returns its report and whether to try again.
pub(super) async fn copy_folder(
    p: &mut Pair,
    index: usize,
    preparing: &mut Preparing<'_>,
    ctx: &Ctx,
) -> (FolderReport, FolderEnd) {
    let folder: &FolderPlan = &ctx.plan.folders[index];
    let mut report = FolderReport {
        source: folder.source.clone(),
        destination: folder.destination.clone(),
        ..Default::default()
    };
    let status = match &ctx.opts.ledger {
        Some(_) => p.src.examine_condstore(&folder.source_wire).await,
        None => p.src.select(&folder.source_wire, true).await,
    };
    let status = match status {
        Ok(s) => s,
        Err(e) => return folder_error(report, "opening the source folder", &e),
    };
    // CONDSTORE: a folder finished completely last time whose HIGHESTMODSEQ,
    // UIDNEXT and count are unchanged has nothing new, changed or deleted.
    let seen_now = status.highest_modseq.map(|m| FolderState {
        uidvalidity: status.uidvalidity,
        highest_modseq: m,
        uidnext: status.uidnext,
        messages: status.exists,
        complete: true,
    });
    if let (Some(l), Some(now)) = (&ctx.opts.ledger, seen_now) {
        if let Ok(Some(before)) = l.store.folder_state(&l.pair, &folder.source).await {
            if before == now
                && !ctx.opts.dry_run
                && destination_unchanged(p, folder, now.uidvalidity, &ctx.opts).await
            {
                report.source_messages = u64::from(status.exists);
                report.already_present = u64::from(status.exists);
                report.unchanged = true;
                return (report, FolderEnd::Done);
            }
        }
    }
    let metas = if status.exists == 0 {
        Vec::new()
    } else {
        match p.src.fetch_meta("1:*", &[]).await {
            Ok(m) => m,
            Err(e) => return folder_error(report, "reading the source folder", &e),
        }
    };
    report.source_messages = metas.len() as u64;
    if let Some(e) = ctx.create_errors.get(&index) {
        report.fail(e, metas.len() as u64);
        return (report, FolderEnd::Done);
    }
    let ledger = ctx
        .opts
        .ledger
        .as_ref()
        .map(|l| (l, l.key(&folder.source, status.uidvalidity)));
    let known = match &ledger {
        // A dry run does not create the folder, so nothing recorded holds.
        Some(_) if ctx.opts.dry_run && !folder.exists_on_destination => Known {
            rest: metas,
            ..Default::default()
        },
        Some((l, key)) => match l.store.entries(key).await {
            Ok(entries) => ledger::split(entries, metas, ctx.opts.recopy_deleted),
            Err(e) => {
                report.error = Some(e.to_string());
                return (report, FolderEnd::Done);
            }
        },
        None => Known {
            rest: metas,
            ..Default::default()
        },
    };
    report.deleted_on_destination += known.deleted_on_destination;
    let gone = known.gone.clone();
    let mut records = Vec::new();
    // A ledger write failed: the folder is not taken as finished.
    let mut unrecorded = false;
    let sorted = match backing::sort(
        p,
        folder,
        status.uidvalidity,
        known,
        &ctx.opts,
        &mut report,
        &mut records,
    )
    .await
    {
        Ok(s) => s,
        Err((context, e)) => return folder_error(report, context, &e),
    };
    let to_copy = sorted.to_copy;
    let (to_copy, too_big): (Vec<_>, Vec<_>) = match append_limit(&p.dst) {
        Some(limit) => to_copy.into_iter().partition(|m| m.size <= limit),
        None => (to_copy, Vec::new()),
    };
    for m in &too_big {
        let reason = "larger than the destination's APPENDLIMIT";
        report.skip(reason);
        records.push(ledger::settled(
            m,
            String::new(),
            Outcome::Skipped,
            Some(reason.into()),
        ));
    }
    let bytes: u64 = to_copy.iter().map(|m| m.size).sum();
    ctx.progress
        .folder_started(index, to_copy.len() as u64, bytes);
    if ctx.opts.dry_run {
        report.to_copy = to_copy.len() as u64;
        report.bytes = bytes;
        return (report, FolderEnd::Done);
    }
    if let Some((l, key)) = &ledger {
        unrecorded |= !write_ledger(l, key, &records, &ctx.tell).await;
    }

    let shared = Arc::new(SharedFolder::new(
        index,
        status.uidvalidity,
        into_batches(to_copy, ctx.opts.batch_messages, ctx.opts.batch_bytes),
    ));
    let open = ctx.board.open(&shared);
    preparing.done();
    let ledger_key = ledger.as_ref().map(|(l, key)| (*l, key));
    let own = run_batches(p, &shared, ledger_key, ctx).await;
    // Left over only when this worker's connections broke.
    let left: u64 = open.close().iter().map(|b| b.len() as u64).sum();
    let helped = shared.helpers_done().await;
    let own_broken = own.broken.clone();
    let helper_broken = helped.broken.is_some();
    let interrupted = own.interrupted || helped.interrupted;
    unrecorded |= own.unrecorded || helped.unrecorded;
    report.helpers = helped.helpers;
    let mut appended = Vec::new();
    for t in [own, helped] {
        appended.extend(t.appended);
        report.copied += t.copied;
        report.bytes += t.bytes;
        for (reason, n) in t.failed {
            report.fail(&reason, n);
        }
    }
    if let Some(reason) = own_broken {
        report.fail(&reason, left);
        return (report, FolderEnd::Reconnect);
    }
    if interrupted {
        // The folder stays incomplete: the next pass reads it again.
        report.fail(crate::cancel::INTERRUPTED, left);
        return (report, FolderEnd::Done);
    }
    if helper_broken {
        // A helper's batch may be in flight: another pass settles it.
        return (report, FolderEnd::Retry);
    }
    match backing::count_changed(&mut p.dst, folder, &appended).await {
        Ok(n) => report.changed_by_destination += n,
        Err(e) => ctx.tell.event(EventKind::Warning {
            text: format!(
                "{}: could not read back the sizes of the copies: {e}",
                folder.destination
            ),
        }),
    }
    if let Err(e) = sync::carry_flags(
        &mut p.dst,
        folder,
        sorted.flag_updates,
        ledger.as_ref().map(|(l, key)| (*l, key)),
        &mut report,
        &ctx.tell,
    )
    .await
    {
        return folder_error(report, "updating flags on the destination", &e);
    }
    if let Some((l, key)) = &ledger {
        // Deletions owed to a later --sync-deletes pass keep the folder open.
        let deletes_owed = !gone.is_empty() && !ctx.opts.sync_deletes;
        if ctx.opts.sync_deletes {
            if let Err(e) =
                sync::delete_gone(&mut p.dst, folder, gone, (l, key), &mut report, &ctx.tell).await
            {
                return folder_error(report, "deleting on the destination", &e);
            }
        }
        // Saved last: a folder is only "settled" once everything above held
        // and every outcome is in the ledger. Then the destination folder is
        // remembered as it is now (whatever the source: a later pass need
        // not read it while it stays so).
        let settled = report.failed_total() == 0 && !unrecorded && !interrupted;
        if settled {
            remember_destination(p, folder, status.uidvalidity, l, &ctx.tell).await;
        }
        if let Some(now) = seen_now {
            // The source may be skipped unread next time only when all its
            // messages are there: an unchanged folder is reported as all
            // present without reading.
            let complete = settled
                && report.copied + report.already_present == report.source_messages
                && !deletes_owed;
            let state = FolderState { complete, ..now };
            if let Err(e) = l
                .store
                .set_folder_state(&l.pair, &folder.source, &state)
                .await
            {
                ctx.tell.event(EventKind::StateNotSaved {
                    error: e.to_string(),
                });
            }
        }
    }
    (report, FolderEnd::Done)
}

/// The source folder is unchanged since the last complete pass: the pass can
/// skip it if the destination folder is also as that pass left it.
async fn destination_unchanged(
    p: &mut Pair,
    folder: &FolderPlan,
    source_uidvalidity: u32,
    opts: &CopyOptions,
) -> bool {
    let Some(before) = backing::remembered(opts, folder, source_uidvalidity).await else {
        return false;
    };
    match p.dst.select(&folder.destination_wire).await {
        Ok(st) => backing::same_destination(&before, &st),
        Err(_) => false,
    }
}

/// Records the destination folder as this pass left it. Best effort: when
/// it fails, the next pass reads the destination folder, as without it.
async fn remember_destination(
    p: &mut Pair,
    folder: &FolderPlan,
    source_uidvalidity: u32,
    l: &Ledger,
    tell: &Tell,
) {
    let Ok(st) = p.dst.select(&folder.destination_wire).await else {
        return;
    };
    let state = FolderState {
        uidvalidity: st.uidvalidity,
        highest_modseq: st.highest_modseq.unwrap_or(0),
        uidnext: st.uidnext,
        messages: st.exists,
        complete: true,
    };
    if let Err(e) = l
        .store
        .set_folder_state(
            &l.pair,
            &backing::destination_key(folder, source_uidvalidity),
            &state,
        )
        .await
    {
        tell.event(EventKind::StateNotSaved {
            error: e.to_string(),
        });
    }
}

/// Records outcomes; false when the write failed. That loses no mail (the
/// folder is then not taken as finished, so the next pass reads the
/// destination and finds these messages by identity) but is worth a warning.
pub(super) async fn write_ledger(
    l: &Ledger,
    key: &FolderKey,
    records: &[Entry],
    tell: &Tell,
) -> bool {
    match l.store.record(key, records).await {
        Ok(()) => true,
        Err(e) => {
            tell.event(EventKind::StateNotSaved {
                error: e.to_string(),
            });
            false
        }
    }
}

/// APPENDLIMIT=N (RFC 7889): the destination refuses larger messages.
fn append_limit(s: &DestinationSession) -> Option<u64> {
    s.capabilities()
        .iter()
        .find_map(|c| c.strip_prefix("APPENDLIMIT="))
        .and_then(|n| n.parse().ok())
}

fn folder_error(
    mut report: FolderReport,
    what: &str,
    e: &MailboxError,
) -> (FolderReport, FolderEnd) {
    report.error = Some(format!("{what}: {e}"));
    let end = if e.breaks_connection() {
        FolderEnd::Reconnect
    } else {
        FolderEnd::Retry
    };
    (report, end)
}
