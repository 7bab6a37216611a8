//! One folder: sort its messages against the ledger and the destination,
//! copy the rest in batches (shared with idle workers), carry flags and
//! deletions, remember what the destination folder looks like.

use std::sync::Arc;

use mailport_imap::MailboxStatus;
use mailport_mail::MessageMeta;
use mailport_store::{Entry, FolderKey, FolderState, Outcome};

use super::backing;
use crate::destination::DestinationSession;
use crate::error::MailboxError;
use crate::ledger::{self, FlagUpdate, Known, Ledger};
use crate::plan::FolderPlan;
use crate::progress::{EventKind, Tell};
use crate::report::FolderReport;
use crate::share::{Preparing, SharedFolder, Tally};
use crate::sync;

use super::batch::{into_batches, run_batches};
use super::connect::Pair;
use super::options::CopyOptions;
use super::run::Ctx;
use super::worker::FolderEnd;

/// The ledger of a folder generation: where it is kept, and its key.
type FolderLedger<'a> = Option<(&'a Ledger, FolderKey)>;

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
    let status = match ctx.opts.ledger {
        Some(_) => p.src.examine_condstore(&folder.source_wire).await,
        None => p.src.select(&folder.source_wire, true).await,
    };
    let status = match status {
        Ok(s) => s,
        Err(e) => return folder_error(report, "opening the source folder", &e),
    };
    report.arrivals_from = status.uidnext.map(|next| (status.uidvalidity, next));
    // CONDSTORE: a folder finished completely last time whose HIGHESTMODSEQ,
    // UIDNEXT and count are unchanged has nothing new, changed or deleted.
    let seen_now = status.highest_modseq.map(|m| FolderState {
        uidvalidity: status.uidvalidity,
        highest_modseq: m,
        uidnext: status.uidnext,
        messages: status.exists,
        complete: true,
    });
    if unchanged_since_last_pass(p, folder, seen_now, ctx).await {
        report.source_messages = u64::from(status.exists);
        report.already_present = u64::from(status.exists);
        report.unchanged = true;
        return (report, FolderEnd::Done);
    }
    let ledger = ctx
        .opts
        .ledger
        .as_ref()
        .map(|l| (l, l.key(&folder.source, status.uidvalidity)));
    let sorted = match sort_folder(p, index, &status, &ledger, ctx, &mut report).await {
        Ok(s) => s,
        Err(end) => return (report, end),
    };
    let bytes: u64 = sorted.to_copy.iter().map(|m| m.size).sum();
    ctx.progress
        .folder_started(index, sorted.to_copy.len() as u64, bytes);
    if ctx.opts.dry_run {
        report.to_copy = sorted.to_copy.len() as u64;
        report.bytes = bytes;
        return (report, FolderEnd::Done);
    }
    let mut unrecorded = false;
    if let Some((l, key)) = &ledger {
        unrecorded = !write_ledger(l, key, &sorted.records, &ctx.tell).await;
    }
    let copied = copy_messages(p, index, &status, sorted.to_copy, &ledger, preparing, ctx).await;
    let appended = match copied.add_to(&mut report) {
        Ok(appended) => appended,
        Err(end) => return (report, end),
    };
    let settling = Settling {
        source_uidvalidity: status.uidvalidity,
        seen_now,
        flag_updates: sorted.flag_updates,
        gone: sorted.gone,
        appended,
        unrecorded: unrecorded || copied.unrecorded(),
    };
    settle(p, folder, settling, &ledger, ctx, report).await
}

/// The source folder is as the last complete pass left it (CONDSTORE) and
/// so is the destination folder: nothing to read.
async fn unchanged_since_last_pass(
    p: &mut Pair,
    folder: &FolderPlan,
    seen_now: Option<FolderState>,
    ctx: &Ctx,
) -> bool {
    let (Some(l), Some(now)) = (&ctx.opts.ledger, seen_now) else {
        return false;
    };
    match l.store.folder_state(&l.pair, &folder.source).await {
        Ok(Some(before)) if before == now && !ctx.opts.dry_run => {
            destination_unchanged(p, folder, now.uidvalidity, &ctx.opts).await
        }
        _ => false,
    }
}

/// A folder's source messages sorted: what to copy, and what the pass knows
/// of the others.
struct SortedFolder {
    /// In UID order, within the destination's APPENDLIMIT.
    to_copy: Vec<MessageMeta>,
    flag_updates: Vec<FlagUpdate>,
    /// Copied by us, deleted on the source since.
    gone: Vec<Entry>,
    /// Ledger entries of the messages settled without copying.
    records: Vec<Entry>,
}

/// Reads the source folder's messages and sorts them against the ledger
/// and the destination (module `backing`); counts in `report` what is
/// there already, skipped or deleted on the destination.
async fn sort_folder(
    p: &mut Pair,
    index: usize,
    status: &MailboxStatus,
    ledger: &FolderLedger<'_>,
    ctx: &Ctx,
    report: &mut FolderReport,
) -> Result<SortedFolder, FolderEnd> {
    let folder = &ctx.plan.folders[index];
    let metas = if status.exists == 0 {
        Vec::new()
    } else {
        match p.src.fetch_meta("1:*", &[]).await {
            Ok(m) => m,
            Err(e) => return Err(folder_failed(report, "reading the source folder", &e)),
        }
    };
    report.source_messages = metas.len() as u64;
    if let Some(e) = ctx.create_errors.get(&index) {
        report.fail(e, metas.len() as u64);
        return Err(FolderEnd::Done);
    }
    let known = match ledger {
        // A dry run does not create the folder, so nothing recorded holds.
        Some(_) if ctx.opts.dry_run && !folder.exists_on_destination => Known {
            rest: metas,
            ..Default::default()
        },
        Some((l, key)) => match l.store.entries(key).await {
            Ok(entries) => ledger::split(entries, metas, ctx.opts.recopy_deleted),
            Err(e) => {
                report.error = Some(e.to_string());
                return Err(FolderEnd::Done);
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
    let sorted = backing::sort(
        p,
        folder,
        status.uidvalidity,
        known,
        &ctx.opts,
        report,
        &mut records,
    )
    .await
    .map_err(|(context, e)| folder_failed(report, context, &e))?;
    let (to_copy, too_big): (Vec<_>, Vec<_>) = match append_limit(&p.dst) {
        Some(limit) => sorted.to_copy.into_iter().partition(|m| m.size <= limit),
        None => (sorted.to_copy, Vec::new()),
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
    Ok(SortedFolder {
        to_copy,
        flag_updates: sorted.flag_updates,
        gone,
        records,
    })
}

/// What the batches of a folder did, this worker's and its helpers'.
struct Copied {
    own: Tally,
    helped: Tally,
    /// Messages left in batches nobody copied (this worker's connections broke).
    left: u64,
}

impl Copied {
    fn interrupted(&self) -> bool {
        self.own.interrupted || self.helped.interrupted
    }

    /// Counts what was copied and failed into `report`; the copies the
    /// destination numbered, or how the folder attempt ends when the
    /// batches did not all settle.
    fn add_to(&self, report: &mut FolderReport) -> Result<Vec<(u32, u64)>, FolderEnd> {
        report.helpers = self.helped.helpers;
        let mut appended = Vec::new();
        for t in [&self.own, &self.helped] {
            appended.extend(t.appended.iter().copied());
            report.copied += t.copied;
            report.bytes += t.bytes;
            for (reason, n) in &t.failed {
                report.fail(reason, *n);
            }
        }
        if let Some(reason) = &self.own.broken {
            report.fail(reason, self.left);
            return Err(FolderEnd::Reconnect);
        }
        if self.interrupted() {
            // The folder stays incomplete: the next pass reads it again.
            report.fail(crate::cancel::INTERRUPTED, self.left);
            return Err(FolderEnd::Done);
        }
        if self.helped.broken.is_some() {
            // A helper's batch may be in flight: another pass settles it.
            return Err(FolderEnd::Retry);
        }
        Ok(appended)
    }

    fn unrecorded(&self) -> bool {
        self.own.unrecorded || self.helped.unrecorded
    }
}

/// Copies `to_copy` in batches, offered to idle workers as well.
async fn copy_messages(
    p: &mut Pair,
    index: usize,
    status: &MailboxStatus,
    to_copy: Vec<MessageMeta>,
    ledger: &FolderLedger<'_>,
    preparing: &mut Preparing<'_>,
    ctx: &Ctx,
) -> Copied {
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
    Copied { own, helped, left }
}

/// What is left to do once a folder's messages are copied.
struct Settling {
    source_uidvalidity: u32,
    seen_now: Option<FolderState>,
    flag_updates: Vec<FlagUpdate>,
    gone: Vec<Entry>,
    appended: Vec<(u32, u64)>,
    /// A ledger write failed: the folder is not taken as finished.
    unrecorded: bool,
}

/// After the copy: copies the destination changed are counted, flags and
/// (opt-in) deletions carried, and the folder's state saved last — a folder
/// is only "settled" once everything before held and every outcome is in
/// the ledger.
async fn settle(
    p: &mut Pair,
    folder: &FolderPlan,
    s: Settling,
    ledger: &FolderLedger<'_>,
    ctx: &Ctx,
    mut report: FolderReport,
) -> (FolderReport, FolderEnd) {
    match backing::count_changed(&mut p.dst, folder, &s.appended).await {
        Ok(n) => report.changed_by_destination += n,
        Err(e) => ctx.tell.event(EventKind::Warning {
            text: format!(
                "{}: could not read back the sizes of the copies: {e}",
                folder.destination
            ),
        }),
    }
    let ledger_key = ledger.as_ref().map(|(l, key)| (*l, key));
    if let Err(e) = sync::carry_flags(
        &mut p.dst,
        folder,
        s.flag_updates,
        ledger_key,
        &mut report,
        &ctx.tell,
    )
    .await
    {
        return folder_error(report, "updating flags on the destination", &e);
    }
    let Some((l, key)) = ledger else {
        return (report, FolderEnd::Done);
    };
    // Deletions owed to a later --sync-deletes pass keep the folder open.
    let deletes_owed = !s.gone.is_empty() && !ctx.opts.sync_deletes;
    if ctx.opts.sync_deletes {
        if let Err(e) =
            sync::delete_gone(&mut p.dst, folder, s.gone, (l, key), &mut report, &ctx.tell).await
        {
            return folder_error(report, "deleting on the destination", &e);
        }
    }
    // The destination folder is remembered as it is now (whatever the
    // source: a later pass need not read it while it stays so).
    let settled = report.failed_total() == 0 && !s.unrecorded;
    if settled {
        remember_destination(p, folder, s.source_uidvalidity, l, &ctx.tell).await;
    }
    if let Some(now) = s.seen_now {
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
    let end = folder_failed(&mut report, what, e);
    (report, end)
}

/// Records a folder-level failure; how the attempt ends.
fn folder_failed(report: &mut FolderReport, what: &str, e: &MailboxError) -> FolderEnd {
    report.error = Some(format!("{what}: {e}"));
    if e.breaks_connection() {
        FolderEnd::Reconnect
    } else {
        FolderEnd::Retry
    }
}
