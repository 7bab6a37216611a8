//! One copy from start to end: plan, create folders, run the workers,
//! collect the report.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use crate::destination::Destination;
use crate::plan::{FolderPlan, Plan};
use crate::progress::{EventKind, JobId, Tell};
use crate::report::{FolderReport, Report};
use crate::share::Board;
use crate::source::Source;

use super::connect::connect_and_plan;
use super::options::CopyOptions;
use super::worker::worker;
use crate::error::{failed, EngineError, Side};
use crate::progress::Progress;

pub(super) struct Ctx {
    pub(super) source: Source,
    pub(super) destination: Destination,
    pub(super) utf8: bool,
    pub(super) opts: CopyOptions,
    pub(super) plan: Plan,
    pub(super) board: Board,
    pub(super) create_errors: HashMap<usize, String>,
    pub(super) progress: Arc<dyn Progress>,
    pub(super) tell: Tell,
}

/// Copies (or, with `dry_run`, plans) a whole mailbox. Events carry no job
/// id: a front door with several jobs runs them as [`crate::job::Job`]s.
pub async fn copy(
    source: impl Into<Source>,
    destination: impl Into<Destination>,
    opts: CopyOptions,
    progress: Arc<dyn Progress>,
) -> Result<Report, EngineError> {
    let tell = Tell::new(JobId::from(""), progress);
    copy_as(source.into(), destination.into(), opts, tell).await
}

pub(crate) async fn copy_as(
    source: Source,
    destination: Destination,
    opts: CopyOptions,
    tell: Tell,
) -> Result<Report, EngineError> {
    let started = Instant::now();
    let progress = tell.progress.clone();
    let (mut first, plan, utf8) = connect_and_plan(
        &source,
        opts.ledger.as_ref(),
        &destination,
        &opts.plan,
        true,
    )
    .await?;
    progress.planned(&plan);
    for f in &plan.folders {
        if let Some(why) = f.note.as_ref().filter(|_| f.renamed) {
            tell.event(EventKind::FolderRenamed {
                source: f.source.clone(),
                destination: f.destination.clone(),
                why: why.clone(),
            });
        }
    }

    let mut report = Report {
        dry_run: opts.dry_run,
        ..Default::default()
    };
    let mut create_errors = HashMap::new();
    if !opts.dry_run {
        // Parents before children; a folder mapped twice is created once.
        let mut order: Vec<usize> = (0..plan.folders.len())
            .filter(|&i| !plan.folders[i].exists_on_destination)
            .collect();
        order.sort_by_key(|&i| plan.folders[i].destination.matches('/').count());
        // Ok(true): created now; Ok(false): it was there after all.
        let mut created: HashMap<Vec<u8>, Result<bool, String>> = HashMap::new();
        for i in order {
            let wire = plan.folders[i].destination_wire.clone();
            let outcome = match created.get(&wire) {
                Some(o) => o.clone(),
                None => {
                    let o = match first.dst.create(&wire).await {
                        Ok(()) => Ok(true),
                        Err(e) if e.code() == Some("ALREADYEXISTS") => Ok(false),
                        Err(e) if e.breaks_connection() => {
                            return Err(failed(Side::Destination, "creating folders")(e))
                        }
                        Err(e) => Err(format!(
                            "cannot create destination folder {:?}: {e}",
                            plan.folders[i].destination
                        )),
                    };
                    created.insert(wire, o.clone());
                    o
                }
            };
            match outcome {
                Err(e) => {
                    create_errors.insert(i, e);
                }
                // Only a folder that really was not there holds nothing recorded.
                Ok(true) => forget_missing(&opts, &plan.folders[i], &tell).await,
                Ok(false) => {}
            }
        }
        for (name, wire) in &plan.subscribe {
            match first.dst.subscribe(wire).await {
                Ok(()) => report.subscriptions_added += 1,
                Err(e) if e.breaks_connection() => {
                    return Err(failed(Side::Destination, "subscribing")(e))
                }
                Err(e) => tell.event(EventKind::NotSubscribed {
                    folder: name.clone(),
                    error: e.to_string(),
                }),
            }
        }
    }

    let ctx = Arc::new(Ctx {
        source,
        destination,
        utf8,
        board: Board::new(plan.folders.len()),
        plan,
        create_errors,
        opts,
        progress,
        tell,
    });
    // More workers than folders help with the big ones (they connect only
    // when there is something to help with).
    let workers = ctx.opts.connections.max(1);
    ctx.board.set_workers(workers);
    let mut handles = Vec::new();
    let mut first = Some(first);
    for _ in 0..workers {
        let ctx = ctx.clone();
        let pair = first.take();
        handles.push(tokio::spawn(async move { worker(pair, ctx).await }));
    }
    let mut folders: Vec<(usize, FolderReport)> = Vec::new();
    let mut crashed = None;
    for h in handles {
        match h.await {
            Ok(r) => folders.extend(r),
            Err(e) => {
                ctx.tell.event(EventKind::WorkerCrashed {
                    error: e.to_string(),
                });
                crashed = Some(e.to_string());
            }
        }
    }
    report.interrupted = ctx.opts.cancel.is_cancelled();
    if let Some(why) = crashed.filter(|_| !report.interrupted) {
        folders.extend(unreported(&ctx.plan, &folders, &why));
    }
    folders.sort_by_key(|(i, _)| *i);
    report.folders = folders.into_iter().map(|(_, r)| r).collect();
    report.plan = Arc::try_unwrap(ctx).map(|c| c.plan).unwrap_or_default();
    report.elapsed = started.elapsed();
    report.compute_totals();
    Ok(report)
}

/// Reports for the folders a worker that panicked took with it: failed as
/// folders, so that the run says so (exit 1) and a re-run copies them.
fn unreported(
    plan: &Plan,
    reported: &[(usize, FolderReport)],
    why: &str,
) -> Vec<(usize, FolderReport)> {
    (0..plan.folders.len())
        .filter(|i| !reported.iter().any(|(r, _)| r == i))
        .map(|i| {
            let f = &plan.folders[i];
            let report = FolderReport {
                source: f.source.clone(),
                destination: f.destination.clone(),
                error: Some(format!(
                    "not finished: a copy worker stopped unexpectedly ({why}); run the same command again"
                )),
                ..Default::default()
            };
            (i, report)
        })
        .collect()
}

/// A destination folder that had to be created holds nothing the ledger
/// recorded in it (the account was wiped, the folder deleted): the ledger
/// forgets that folder, so its messages are copied again.
async fn forget_missing(opts: &CopyOptions, folder: &FolderPlan, tell: &Tell) {
    let Some(l) = &opts.ledger else { return };
    match l
        .store
        .forget_folder(&l.pair, &folder.source, &folder.destination)
        .await
    {
        Ok(0) => {}
        Ok(n) => tell.event(EventKind::FolderRecreated {
            folder: folder.destination.clone(),
            messages: n,
        }),
        Err(e) => tell.event(EventKind::StateNotSaved {
            error: e.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::FolderPlan;

    #[test]
    fn folders_a_crashed_worker_took_are_reported_failed() {
        let folder = |name: &str| FolderPlan {
            source: name.into(),
            destination: name.into(),
            ..Default::default()
        };
        let plan = Plan {
            folders: vec![folder("INBOX"), folder("Sent"), folder("Work")],
            ..Default::default()
        };
        let done = vec![(1, FolderReport::default())];
        let missing = unreported(&plan, &done, "task panicked");
        let names: Vec<&str> = missing.iter().map(|(_, r)| r.source.as_str()).collect();
        assert_eq!(names, vec!["INBOX", "Work"]);
        assert!(missing
            .iter()
            .all(|(_, r)| r.error.as_deref().unwrap().contains("task panicked") && r.adds_up()));
    }
}
