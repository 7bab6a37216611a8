//! A worker: owns folders one after the other (with retries), and helps
//! with the batches of others' big folders when it has none left.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::progress::EventKind;
use crate::report::FolderReport;
use crate::share::{Board, Next, Preparing, SharedFolder, Tally};

use super::batch::run_batches;
use super::connect::{open_pair, pair_or_retire, Pair};
use super::folder::copy_folder;
use super::run::Ctx;

pub(super) async fn worker(mut pair: Option<Pair>, ctx: Arc<Ctx>) -> Vec<(usize, FolderReport)> {
    let mut out = Vec::new();
    let mut idle = Instant::now();
    loop {
        if ctx.opts.cancel.is_cancelled() {
            break;
        }
        if let Some((index, preparing)) = ctx.board.take_folder() {
            match own_folder(&mut pair, index, preparing, &ctx).await {
                Some(report) => out.push((index, report)),
                None => break,
            }
            idle = Instant::now();
            continue;
        }
        // No folder left to own: help with the batches of others'.
        match ctx.board.next_help() {
            Next::Help(helping) => {
                if pair.is_none() {
                    // Helping is optional: one attempt, no back-off.
                    match open_pair(&ctx).await {
                        Ok(p) => pair = Some(p),
                        Err(e) => {
                            ctx.tell.event(match e.pushback() {
                                Some(_) => EventKind::FewerConnections {
                                    error: e.to_string(),
                                },
                                None => EventKind::Warning {
                                    text: format!("could not open more connections to help: {e}"),
                                },
                            });
                            helping.leave(Tally::default());
                            ctx.board.retire();
                            break;
                        }
                    }
                }
                let p = pair.as_mut().expect("connected above");
                let (tally, usable) = help(p, helping.folder(), &ctx).await;
                if !usable {
                    pair = None;
                }
                helping.leave(tally);
                idle = Instant::now();
            }
            Next::Wait => {
                tokio::time::sleep(Board::POLL).await;
                // A big folder can keep this worker waiting for long: servers
                // log out idle sessions (RFC 3501: after 30 minutes at least).
                if let Some(p) = pair.as_mut() {
                    if idle.elapsed() >= KEEPALIVE {
                        idle = Instant::now();
                        let (s, d) = tokio::join!(p.src.noop(), p.dst.noop());
                        if s.is_err() || d.is_err() {
                            pair = None;
                        }
                    }
                }
            }
            Next::Done => break,
        }
    }
    if let Some(mut p) = pair {
        let _ = tokio::join!(p.src.logout(), p.dst.logout());
    }
    out
}

/// Copies a folder this worker took, with retries. None when the worker
/// gave the folder back because the server refused it a connection.
async fn own_folder(
    pair: &mut Option<Pair>,
    index: usize,
    mut preparing: Preparing<'_>,
    ctx: &Ctx,
) -> Option<FolderReport> {
    let folder = &ctx.plan.folders[index];
    let started = Instant::now();
    if pair.is_none() {
        match pair_or_retire(ctx).await {
            Ok(Some(p)) => *pair = Some(p),
            Ok(None) => {
                ctx.board.put_back(index);
                return None;
            }
            Err(e) => {
                let mut r = FolderReport {
                    source: folder.source.clone(),
                    destination: folder.destination.clone(),
                    error: Some(format!("no connection: {e}")),
                    ..Default::default()
                };
                r.elapsed = started.elapsed();
                ctx.progress.folder_finished(index, &r);
                return Some(r);
            }
        }
    }
    let mut report: Option<FolderReport> = None;
    for attempt in 0..=FOLDER_RETRIES {
        let Some(p) = pair.as_mut() else { break };
        let (r, end) = copy_folder(p, index, &mut preparing, ctx).await;
        report = Some(match report {
            None => r,
            // Messages the broken attempt copied are found present now:
            // count them as copied once, not as present.
            Some(prev) => merge_attempts(prev, r),
        });
        if end == FolderEnd::Done || attempt == FOLDER_RETRIES || ctx.opts.cancel.is_cancelled() {
            if end == FolderEnd::Reconnect {
                *pair = None;
            }
            break;
        }
        tokio::time::sleep(std::time::Duration::from_secs(1 << attempt)).await;
        if end == FolderEnd::Reconnect {
            *pair = None;
            match pair_or_retire(ctx).await {
                Ok(Some(p)) => *pair = Some(p),
                // What this attempt copied is in the ledger or found on the
                // destination by the worker that takes the folder over.
                Ok(None) => {
                    ctx.board.put_back(index);
                    return None;
                }
                Err(e) => ctx.tell.event(EventKind::Warning {
                    text: format!("reconnecting for folder {:?} failed: {e}", folder.source),
                }),
            }
        }
    }
    let mut report = report.expect("at least one attempt ran");
    report.elapsed = started.elapsed();
    ctx.progress.folder_finished(index, &report);
    Some(report)
}

/// How long a worker's connections may sit idle before a NOOP on each.
const KEEPALIVE: Duration = Duration::from_secs(240);

/// Further attempts for a folder that could not be opened or whose
/// connection broke. Servers have transient folder-level failures too:
/// Dovecot answers `NO Mailbox already exists` to EXAMINE while another
/// connection auto-creates a new user's INBOX.
const FOLDER_RETRIES: u32 = 2;

/// How a folder attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum FolderEnd {
    Done,
    /// A folder-level command was refused: try again on the same connections.
    Retry,
    /// The connections broke: try again on new ones.
    Reconnect,
}

fn merge_attempts(prev: FolderReport, mut next: FolderReport) -> FolderReport {
    // A folder error of an earlier attempt is superseded by the later attempt.
    let moved = prev.copied.min(next.already_present);
    next.already_present -= moved;
    next.copied += moved;
    next.bytes += prev.bytes;
    next.helpers = next.helpers.max(prev.helpers);
    next
}

/// Copies batches of another worker's folder on this worker's connections.
/// Returns what it did and whether the connections are still usable.
async fn help(p: &mut Pair, shared: &SharedFolder, ctx: &Ctx) -> (Tally, bool) {
    let folder = &ctx.plan.folders[shared.index];
    match p.src.select(&folder.source_wire, true).await {
        Ok(st) if st.uidvalidity == shared.uidvalidity => {}
        // Rebuilt since its owner read it: these UIDs mean other messages.
        Ok(_) => return (Tally::default(), true),
        Err(e) => {
            ctx.tell.event(EventKind::Warning {
                text: format!("could not open {:?} to help: {e}", folder.source),
            });
            return (Tally::default(), !e.breaks_connection());
        }
    }
    let key = ctx
        .opts
        .ledger
        .as_ref()
        .map(|l| (l, l.key(&folder.source, shared.uidvalidity)));
    let tally = run_batches(p, shared, key.as_ref().map(|(l, k)| (*l, k)), ctx).await;
    let usable = tally.broken.is_none();
    (tally, usable)
}
