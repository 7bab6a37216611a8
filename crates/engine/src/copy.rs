//! The copy: plan, then folders in parallel over several connection pairs,
//! each folder streamed in batches from `UID FETCH` into `APPEND`.
//!
//! Memory stays bounded whatever the message size: bodies move source ->
//! destination in [`CHUNK`]-sized pieces, never whole. A folder is one
//! worker's, in the source's (UID) order, until that worker has batches left
//! and another has nothing to do: then they share it (module `share`).
//! With MULTIAPPEND (RFC 3502) a batch is one APPEND command, which lets the
//! destination do its per-append bookkeeping once per batch; a batch the
//! destination refuses is retried message by message so that one bad message
//! does not fail its neighbours.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mailport_imap::{date::parse_internal_date, uidset, MessageMeta};

use mailport_store::{Entry, FolderKey, FolderState, Outcome};

use crate::backing;
use crate::identity::IdentityRule;
use crate::ledger::{self, Known, Ledger};
use crate::names::Hierarchy;
use crate::origin::{Origin, Source};
use crate::plan::{self, FolderPlan, Listing, Plan, PlanOptions};
use crate::report::{FolderReport, Report};
use crate::session::{ImapSession, SessionError};
use crate::share::{Board, Next, Preparing, SharedFolder, Tally};
use crate::sync;
use crate::target::{Destination, Target};
use crate::throttle::{self, Backoff, Limits};

/// Bytes moved per read/write while streaming a body.
const CHUNK: usize = 64 << 10;

#[derive(Debug, Clone)]
pub struct CopyOptions {
    /// Connections per side: folders in parallel, big ones shared.
    pub connections: usize,
    /// Plan and count only; change nothing.
    pub dry_run: bool,
    /// Skip messages larger than this many bytes.
    pub max_size: Option<u64>,
    /// Only messages whose INTERNALDATE is at or after this Unix time.
    pub since: Option<i64>,
    /// Only messages whose INTERNALDATE is before this Unix time.
    pub before: Option<i64>,
    /// Leave out messages flagged `\Deleted`.
    pub skip_deleted: bool,
    /// Most messages per APPEND batch (MULTIAPPEND).
    pub batch_messages: usize,
    /// Most bytes per APPEND batch (a larger single message is its own batch).
    pub batch_bytes: u64,
    pub plan: PlanOptions,
    /// Record outcomes and skip what a previous pass did.
    pub ledger: Option<Ledger>,
    /// Delete on the destination what this tool copied and the source deleted since.
    pub sync_deletes: bool,
    /// Copy again what this tool copied and the destination's user deleted
    /// since (by default such messages are reported and left deleted).
    pub recopy_deleted: bool,
    /// How messages already on the destination are recognised without the ledger.
    pub identity: IdentityRule,
    /// The user's limits on bytes and messages per second (all connections together).
    pub limits: Arc<Limits>,
    /// Stops the copy at the next batch boundary.
    pub cancel: crate::Cancel,
}

impl Default for CopyOptions {
    fn default() -> Self {
        CopyOptions {
            connections: 4,
            dry_run: false,
            max_size: None,
            since: None,
            before: None,
            skip_deleted: false,
            // 100 messages: on Dovecot a batch this size costs about half per
            // message of single APPENDs; 32 MiB bounds what one refused batch redoes.
            batch_messages: 100,
            batch_bytes: 32 << 20,
            plan: PlanOptions::default(),
            ledger: None,
            sync_deletes: false,
            recopy_deleted: false,
            identity: IdentityRule::Strict,
            limits: Arc::default(),
            cancel: crate::Cancel::default(),
        }
    }
}

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
}

/// A progress sink that ignores everything.
pub struct NoProgress;
impl Progress for NoProgress {}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Source,
    Destination,
}

impl std::fmt::Display for Side {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Side::Source => "source",
            Side::Destination => "destination",
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{side}: {source}")]
    Session { side: Side, source: SessionError },
    #[error("{side}: {context}: {source}")]
    Imap {
        side: Side,
        context: String,
        source: mailport_imap::Error,
    },
}

impl EngineError {
    /// Worth another connection attempt: the network or server availability
    /// failed, not the credentials or the request.
    pub fn is_transient(&self) -> bool {
        match self {
            EngineError::Session { source, .. } => match source {
                SessionError::Connect(c) => c.is_transient(),
                SessionError::Imap { source, .. } => source.is_transient(),
                SessionError::Auth { .. }
                | SessionError::Login { .. }
                | SessionError::Unusable(_)
                | SessionError::NoStartTls { .. } => false,
            },
            EngineError::Imap { source, .. } => source.is_transient(),
        }
    }

    /// The server pushed back (too many connections, throttled), with the
    /// delay it suggested if any.
    pub fn pushback(&self) -> Option<Option<Duration>> {
        match self {
            EngineError::Session {
                source: SessionError::Imap { source, .. },
                ..
            }
            | EngineError::Imap { source, .. } => throttle::pushback(source),
            _ => None,
        }
    }

    fn suggested_delay(&self) -> Option<Duration> {
        self.pushback().flatten()
    }

    /// Connection or login failure (exit code 3 in the CLI).
    pub fn is_connection(&self) -> bool {
        match self {
            EngineError::Session { .. } => true,
            EngineError::Imap { source, .. } => source.breaks_connection(),
        }
    }
}

pub(crate) struct Pair {
    pub(crate) src: Source,
    pub(crate) dst: Target,
}

struct Ctx {
    source: Origin,
    destination: Destination,
    utf8: bool,
    opts: CopyOptions,
    plan: Plan,
    board: Board,
    create_errors: HashMap<usize, String>,
    progress: Arc<dyn Progress>,
}

/// ENABLE UTF8=ACCEPT (RFC 6855): names then travel as UTF-8. The error
/// of that command on `side`.
fn utf8_error(side: Side) -> impl FnOnce(mailport_imap::Error) -> EngineError {
    move |source| EngineError::Imap {
        side,
        context: "ENABLE UTF8=ACCEPT".into(),
        source,
    }
}

async fn open_target(
    c: &Destination,
    ids: Option<&Ledger>,
    utf8: bool,
) -> Result<Target, EngineError> {
    let side = Side::Destination;
    let mut s = c
        .open_for(ids)
        .await
        .map_err(|source| EngineError::Session { side, source })?;
    if utf8 {
        s.enable("UTF8=ACCEPT").await.map_err(utf8_error(side))?;
    }
    Ok(s)
}

async fn open_source(o: &Origin, ids: Option<&Ledger>, utf8: bool) -> Result<Source, EngineError> {
    let side = Side::Source;
    let mut s = o
        .open_for(ids)
        .await
        .map_err(|source| EngineError::Session { side, source })?;
    if utf8 {
        s.enable("UTF8=ACCEPT").await.map_err(utf8_error(side))?;
    }
    Ok(s)
}

/// Opens a pair, retrying with back-off (the server's suggestion, else about
/// 1, 2, 4, 8 s) while the failure is a connection problem or the server
/// pushing back (not, say, a refused login).
async fn reconnect(ctx: &Ctx) -> Result<Pair, EngineError> {
    let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(30));
    loop {
        match open_pair(ctx).await {
            Ok(p) => return Ok(p),
            Err(e) if backoff.attempts() < 4 && e.is_transient() => {
                let wait = backoff.next(e.suggested_delay());
                tracing::warn!("{e}; trying again in {:.1} s", wait.as_secs_f64());
                tokio::time::sleep(wait).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// A pair for a worker; `None` when the server pushed back (too many
/// connections) and other workers carry on, so this one retired. The last
/// worker keeps trying with back-off.
async fn pair_or_retire(ctx: &Ctx) -> Result<Option<Pair>, EngineError> {
    match open_pair(ctx).await {
        Ok(p) => Ok(Some(p)),
        Err(e) if e.pushback().is_some() && ctx.board.retire() => {
            tracing::warn!("{e}; continuing with fewer connections");
            Ok(None)
        }
        Err(_) => reconnect(ctx).await.map(Some),
    }
}

async fn open_pair(ctx: &Ctx) -> Result<Pair, EngineError> {
    let (src, dst) = tokio::join!(
        open_source(&ctx.source, ctx.opts.ledger.as_ref(), ctx.utf8),
        open_target(&ctx.destination, ctx.opts.ledger.as_ref(), ctx.utf8)
    );
    Ok(Pair {
        src: src?,
        dst: dst?,
    })
}

pub(crate) async fn listing(
    s: &mut ImapSession,
    utf8: bool,
) -> Result<Listing, mailport_imap::Error> {
    let ns = s.namespaces().await?.unwrap_or_default();
    let folders = s.list_all().await?;
    let subscribed = s.lsub_all().await?.into_iter().map(|e| e.name).collect();
    let text = |prefix: &[u8]| {
        if utf8 {
            String::from_utf8_lossy(prefix).into_owned()
        } else {
            mailport_imap::utf7::decode(prefix).unwrap_or_default()
        }
    };
    let (prefix, delimiter) = match ns.personal.first() {
        Some(p) => (text(&p.prefix), p.delimiter),
        None => (String::new(), folders.iter().find_map(|f| f.delimiter)),
    };
    let foreign = ns
        .other_users
        .iter()
        .chain(&ns.shared)
        .map(|n| text(&n.prefix))
        .collect();
    Ok(Listing {
        hierarchy: Hierarchy {
            prefix,
            delimiter: delimiter.map(char::from),
            utf8,
            foreign,
        },
        folders,
        subscribed,
    })
}

/// Opens one session per side (UTF8=ACCEPT when both offer it), lists both
/// and builds the folder plan. Returns the sessions for further use.
async fn connect_and_plan(
    source: &Origin,
    ids: Option<&Ledger>,
    destination: &Destination,
    opts: &PlanOptions,
    write: bool,
) -> Result<(Pair, Plan, bool), EngineError> {
    let dst = async {
        match write {
            true => destination.open_for(ids).await,
            false => destination.open_to_read().await,
        }
    };
    let (src, dst) = tokio::join!(source.open_for(ids), dst);
    let mut first = Pair {
        src: src.map_err(|source| EngineError::Session {
            side: Side::Source,
            source,
        })?,
        dst: dst.map_err(|source| EngineError::Session {
            side: Side::Destination,
            source,
        })?,
    };
    // Names travel as UTF-8 only when both sides accept it; otherwise both
    // speak modified UTF-7 and the plan translates.
    let utf8 = first.src.has_capability("UTF8=ACCEPT") && first.dst.has_capability("UTF8=ACCEPT");
    if utf8 {
        let source = first.src.enable("UTF8=ACCEPT").await;
        source.map_err(utf8_error(Side::Source))?;
        let destination = first.dst.enable("UTF8=ACCEPT").await;
        destination.map_err(utf8_error(Side::Destination))?;
    }
    let listing_err = |side: Side| {
        move |source| EngineError::Imap {
            side,
            context: "listing folders".into(),
            source,
        }
    };
    let src_listing = first
        .src
        .listing(utf8)
        .await
        .map_err(listing_err(Side::Source))?;
    let dst_listing = first
        .dst
        .listing(utf8)
        .await
        .map_err(listing_err(Side::Destination))?;
    let plan = plan::build(&src_listing, &dst_listing, opts);
    Ok((first, plan, utf8))
}

/// For `verify`: a connected pair and the plan; nothing is created.
pub(crate) async fn open_listings(
    source: &Origin,
    destination: &Destination,
    opts: &PlanOptions,
) -> Result<(Pair, Plan), EngineError> {
    connect_and_plan(source, None, destination, opts, false)
        .await
        .map(|(p, plan, _)| (p, plan))
}

/// Copies (or, with `dry_run`, plans) a whole mailbox.
pub async fn copy(
    source: impl Into<Origin>,
    destination: impl Into<Destination>,
    opts: CopyOptions,
    progress: Arc<dyn Progress>,
) -> Result<Report, EngineError> {
    let started = Instant::now();
    let source = source.into();
    let destination = destination.into();
    let (mut first, plan, utf8) = connect_and_plan(
        &source,
        opts.ledger.as_ref(),
        &destination,
        &opts.plan,
        true,
    )
    .await?;
    progress.planned(&plan);
    let imap = |side: Side, context: &str| {
        let context = context.to_string();
        move |source| EngineError::Imap {
            side,
            context,
            source,
        }
    };

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
        let mut created: HashMap<Vec<u8>, Option<String>> = HashMap::new();
        for i in order {
            let wire = plan.folders[i].destination_wire.clone();
            let outcome = match created.get(&wire) {
                Some(o) => o.clone(),
                None => {
                    let o = match first.dst.create(&wire).await {
                        Ok(()) => None,
                        Err(mailport_imap::Error::No { code: Some(c), .. })
                            if c == "ALREADYEXISTS" =>
                        {
                            None
                        }
                        Err(e) if e.breaks_connection() => {
                            return Err(imap(Side::Destination, "creating folders")(e))
                        }
                        Err(e) => Some(format!(
                            "cannot create destination folder {:?}: {e}",
                            plan.folders[i].destination
                        )),
                    };
                    created.insert(wire, o.clone());
                    o
                }
            };
            match outcome {
                Some(e) => {
                    create_errors.insert(i, e);
                }
                None => forget_missing(&opts, &plan.folders[i]).await,
            }
        }
        for (name, wire) in &plan.subscribe {
            match first.dst.subscribe(wire).await {
                Ok(()) => report.subscriptions_added += 1,
                Err(e) if e.breaks_connection() => {
                    return Err(imap(Side::Destination, "subscribing")(e))
                }
                Err(e) => tracing::warn!("could not subscribe {name:?} on the destination: {e}"),
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
    for h in handles {
        match h.await {
            Ok(r) => folders.extend(r),
            Err(e) => tracing::error!("a copy worker stopped unexpectedly: {e}"),
        }
    }
    folders.sort_by_key(|(i, _)| *i);
    report.folders = folders.into_iter().map(|(_, r)| r).collect();
    report.interrupted = ctx.opts.cancel.is_cancelled();
    report.plan = Arc::try_unwrap(ctx).map(|c| c.plan).unwrap_or_default();
    report.elapsed = started.elapsed();
    report.compute_totals();
    Ok(report)
}

/// A destination folder that had to be created holds nothing the ledger
/// recorded in it (the account was wiped, the folder deleted): the ledger
/// forgets that folder, so its messages are copied again.
async fn forget_missing(opts: &CopyOptions, folder: &FolderPlan) {
    let Some(l) = &opts.ledger else { return };
    match l
        .store
        .forget_folder(&l.pair, &folder.source, &folder.destination)
        .await
    {
        Ok(0) => {}
        Ok(n) => tracing::warn!(
            "destination folder {:?} was gone: copying again the {n} messages the state file recorded there",
            folder.destination
        ),
        Err(e) => tracing::warn!("{e}"),
    }
}

async fn worker(mut pair: Option<Pair>, ctx: Arc<Ctx>) -> Vec<(usize, FolderReport)> {
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
            Next::Help(shared) => {
                if pair.is_none() {
                    // Helping is optional: one attempt, no back-off.
                    match open_pair(&ctx).await {
                        Ok(p) => pair = Some(p),
                        Err(e) => {
                            if e.pushback().is_some() {
                                tracing::warn!("{e}; continuing with fewer connections");
                            } else {
                                tracing::warn!("could not open more connections to help: {e}");
                            }
                            shared.leave(Tally::default());
                            ctx.board.retire();
                            break;
                        }
                    }
                }
                let p = pair.as_mut().expect("connected above");
                let (tally, usable) = help(p, &shared, &ctx).await;
                if !usable {
                    pair = None;
                }
                shared.leave(tally);
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
                Err(e) => {
                    tracing::warn!("reconnecting for folder {:?} failed: {e}", folder.source)
                }
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
enum FolderEnd {
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

/// Why the options leave a message out, if they do (shared by copy and verify).
pub(crate) fn skip_reason(m: &MessageMeta, opts: &CopyOptions) -> Option<&'static str> {
    let date = parse_internal_date(&m.internal_date);
    if opts.skip_deleted && m.flags.iter().any(|f| f.eq_ignore_ascii_case("\\Deleted")) {
        Some("flagged \\Deleted (--skip-deleted)")
    } else if opts.max_size.is_some_and(|max| m.size > max) {
        Some("larger than --max-size")
    } else if opts.since.zip(date).is_some_and(|(s, d)| d < s) {
        Some("older than --since")
    } else if opts.before.zip(date).is_some_and(|(b, d)| d >= b) {
        Some("not before --before")
    } else {
        None
    }
}

/// Copies one folder. Returns its report and whether to try again.
async fn copy_folder(
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
        write_ledger(l, key, &records).await;
    }

    let shared = Arc::new(SharedFolder::new(
        index,
        status.uidvalidity,
        batch(to_copy, ctx.opts.batch_messages, ctx.opts.batch_bytes),
    ));
    ctx.board.open(&shared);
    preparing.done();
    let ledger_key = ledger.as_ref().map(|(l, key)| (*l, key));
    let own = run_batches(p, &shared, ledger_key, ctx).await;
    // Left over only when this worker's connections broke.
    let left: u64 = ctx
        .board
        .close(&shared)
        .iter()
        .map(|b| b.len() as u64)
        .sum();
    let helped = shared.helpers_done().await;
    let own_broken = own.broken.clone();
    let helper_broken = helped.broken.is_some();
    let interrupted = own.interrupted || helped.interrupted;
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
        Err(e) => tracing::warn!(
            "{}: could not read back the sizes of the copies: {e}",
            folder.destination
        ),
    }
    if let Err(e) = sync::carry_flags(
        &mut p.dst,
        folder,
        sorted.flag_updates,
        ledger.as_ref().map(|(l, key)| (*l, key)),
        &mut report,
    )
    .await
    {
        return folder_error(report, "updating flags on the destination", &e);
    }
    if let Some((l, key)) = &ledger {
        // Deletions owed to a later --sync-deletes pass keep the folder open.
        let deletes_owed = !gone.is_empty() && !ctx.opts.sync_deletes;
        if ctx.opts.sync_deletes {
            if let Err(e) = sync::delete_gone(&mut p.dst, folder, gone, l, key, &mut report).await {
                return folder_error(report, "deleting on the destination", &e);
            }
        }
        // Saved last: a folder is only "complete" once everything above held.
        if let Some(now) = seen_now {
            // Messages deleted on the destination keep it incomplete: an
            // unchanged folder is reported as all present without reading.
            let complete =
                report.copied + report.already_present == report.source_messages && !deletes_owed;
            if complete {
                remember_destination(p, folder, now.uidvalidity, l).await;
            }
            let state = FolderState { complete, ..now };
            if let Err(e) = l
                .store
                .set_folder_state(&l.pair, &folder.source, &state)
                .await
            {
                tracing::warn!("{e}");
            }
        }
    }
    (report, FolderEnd::Done)
}

/// Waits in a row after which a batch the destination keeps pushing back fails.
const PUSHBACK_ATTEMPTS: u32 = 8;

/// Copies a folder's batches until none is left, taking them from `shared`
/// one at a time so that other workers can take some too.
async fn run_batches(
    p: &mut Pair,
    shared: &SharedFolder,
    ledger: Option<(&Ledger, &FolderKey)>,
    ctx: &Ctx,
) -> Tally {
    let index = shared.index;
    let folder = &ctx.plan.folders[index];
    let multiappend = p.dst.has_capability("MULTIAPPEND");
    let mut tally = Tally::default();
    // Batches only this worker may copy: the next one, whose FETCH may
    // already be on the wire, and single retries of a refused batch.
    let mut mine: VecDeque<Vec<MessageMeta>> = VecDeque::new();
    let mut buf = vec![0u8; CHUNK];
    // True when the FETCH for the front batch was already sent (pipelining).
    let mut prefetched = false;
    let mut pushbacks = Backoff::new(Duration::from_secs(1), Duration::from_secs(120));
    loop {
        if ctx.opts.cancel.is_cancelled() {
            // Between batches: the last one is confirmed and recorded.
            let left: u64 = mine.iter().map(|b| b.len() as u64).sum();
            tally.failed.push((crate::cancel::INTERRUPTED.into(), left));
            tally.interrupted = true;
            break;
        }
        let Some(b) = mine.pop_front().or_else(|| shared.pop()) else {
            break;
        };
        if mine.is_empty() {
            mine.extend(shared.pop());
        }
        let step = Step {
            batch: &b,
            fetch_sent: prefetched,
            next: mine.front().map(Vec::as_slice),
            multiappend,
        };
        if let Some((l, key)) = ledger {
            // Write-ahead: a run that dies before the verdict leaves these
            // behind, and the next run knows to let the destination settle.
            let intents: Vec<Entry> = b
                .iter()
                .map(|m| ledger::settled(m, String::new(), Outcome::InFlight, None))
                .collect();
            write_ledger(l, key, &intents).await;
        }
        let out = copy_batch(p, folder, index, step, &mut buf, ctx).await;
        if let Some((l, key)) = ledger {
            write_ledger(l, key, &out.records).await;
        }
        tally.appended.extend(
            out.records
                .iter()
                .filter(|e| e.outcome == Outcome::Copied)
                .filter_map(|e| Some((e.dest_uid?, e.size))),
        );
        prefetched = out.next_fetch_sent;
        tally.batches += 1;
        tally.copied += out.copied;
        tally.bytes += out.copied_bytes;
        tally.failed.extend(out.failed);
        // Retried one by one, right after the batch whose FETCH is already
        // running, so that the order stays close to the source's.
        let at = usize::from(prefetched).min(mine.len());
        for m in out.retry_singly.into_iter().rev() {
            mine.insert(at, vec![m]);
        }
        if let Some((suggested, why)) = out.pushback {
            if pushbacks.attempts() >= PUSHBACK_ATTEMPTS {
                let reason = format!("the destination kept pushing back: {why}");
                tally.failed.push((reason, out.pushed_back.len() as u64));
            } else {
                let wait = pushbacks.next(suggested);
                tracing::warn!(
                    "{}: {why}; waiting {:.1} s",
                    folder.destination,
                    wait.as_secs_f64()
                );
                tokio::time::sleep(wait).await;
                mine.insert(at, out.pushed_back);
            }
        } else if out.copied > 0 {
            pushbacks = Backoff::new(Duration::from_secs(1), Duration::from_secs(120));
        }
        if let Some(reason) = out.broken {
            let left: u64 = mine.iter().map(|b| b.len() as u64).sum();
            tally.failed.push((reason.clone(), left));
            tally.broken = Some(reason);
            break;
        }
    }
    tally
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
            tracing::warn!("could not open {:?} to help: {e}", folder.source);
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
        tracing::warn!("{e}");
    }
}

/// Records outcomes. A failed write loses no mail (the identity check finds
/// the messages next time) but is worth a warning.
async fn write_ledger(l: &Ledger, key: &FolderKey, records: &[Entry]) {
    if let Err(e) = l.store.record(key, records).await {
        tracing::warn!("{e}; a re-run will recognise these messages by identity");
    }
}

/// APPENDLIMIT=N (RFC 7889): the destination refuses larger messages.
fn append_limit(s: &Target) -> Option<u64> {
    s.capabilities()
        .iter()
        .find_map(|c| c.strip_prefix("APPENDLIMIT="))
        .and_then(|n| n.parse().ok())
}

fn folder_error(
    mut report: FolderReport,
    what: &str,
    e: &mailport_imap::Error,
) -> (FolderReport, FolderEnd) {
    report.error = Some(format!("{what}: {e}"));
    let end = if e.breaks_connection() {
        FolderEnd::Reconnect
    } else {
        FolderEnd::Retry
    };
    (report, end)
}

fn batch(msgs: Vec<MessageMeta>, max_messages: usize, max_bytes: u64) -> Vec<Vec<MessageMeta>> {
    let mut out: Vec<Vec<MessageMeta>> = Vec::new();
    let mut bytes = 0;
    for m in msgs {
        let full = out
            .last()
            .is_none_or(|b| b.len() >= max_messages.max(1) || bytes + m.size > max_bytes);
        if full {
            out.push(Vec::new());
            bytes = 0;
        }
        bytes += m.size;
        out.last_mut().expect("pushed above").push(m);
    }
    out
}

#[derive(Default)]
struct BatchOutcome {
    copied: u64,
    copied_bytes: u64,
    /// Reason -> count.
    failed: Vec<(String, u64)>,
    retry_singly: Vec<MessageMeta>,
    /// The destination pushed back (throttled): try these again after a
    /// wait (the server's suggestion, if any), with the server's words.
    pushed_back: Vec<MessageMeta>,
    pushback: Option<(Option<Duration>, String)>,
    /// The connections broke; reason for the messages not done.
    broken: Option<String>,
    /// The FETCH for the next batch has been sent.
    next_fetch_sent: bool,
    /// Ledger entries for the messages this batch settled.
    records: Vec<Entry>,
}

/// A message written into the open APPEND command, awaiting the verdict.
struct Pending {
    uid: u32,
    len: u64,
    identity: String,
}

/// Collects a message's header block from the first body chunks.
#[derive(Default)]
struct HeaderTap {
    bytes: Vec<u8>,
    done: bool,
}

impl HeaderTap {
    /// Bodies are streamed; the header (for the message's identity) is kept
    /// up to its end or 256 KiB, whichever comes first.
    fn feed(&mut self, chunk: &[u8]) {
        if self.done {
            return;
        }
        let from = self.bytes.len().saturating_sub(3);
        self.bytes.extend_from_slice(chunk);
        let end = self.bytes[from..]
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map(|i| from + i + 4)
            .or_else(|| {
                self.bytes[from..]
                    .windows(2)
                    .position(|w| w == b"\n\n")
                    .map(|i| from + i + 2)
            });
        if let Some(end) = end {
            self.bytes.truncate(end);
            self.done = true;
        } else if self.bytes.len() > 256 << 10 {
            self.done = true;
        }
    }
}

/// One batch to copy, and what pipelining knows about its neighbours.
struct Step<'a> {
    batch: &'a [MessageMeta],
    /// Its FETCH was sent while the previous batch was being committed.
    fetch_sent: bool,
    /// The batch after it, whose FETCH may be sent early.
    next: Option<&'a [MessageMeta]>,
    multiappend: bool,
}

fn flags_for_append(m: &MessageMeta) -> Vec<String> {
    m.flags
        .iter()
        .filter(|f| !f.eq_ignore_ascii_case("\\Recent"))
        .cloned()
        .collect()
}

/// Streams one batch: `UID FETCH set (BODY.PEEK[])` into one APPEND command
/// (MULTIAPPEND) or one APPEND per message. Once the source has sent the
/// whole batch, the next batch's FETCH goes out before waiting for the
/// destination to commit, so the two servers work at the same time.
async fn copy_batch(
    p: &mut Pair,
    folder: &FolderPlan,
    index: usize,
    step: Step<'_>,
    buf: &mut [u8],
    ctx: &Ctx,
) -> BatchOutcome {
    let Step {
        batch,
        fetch_sent,
        next,
        multiappend,
    } = step;
    let mut out = BatchOutcome::default();
    let by_uid: HashMap<u32, &MessageMeta> = batch.iter().map(|m| (m.uid, m)).collect();
    let by_seq: HashMap<u32, u32> = batch.iter().map(|m| (m.seq, m.uid)).collect();
    let uids: Vec<u32> = batch.iter().map(|m| m.uid).collect();
    let mut settled: HashSet<u32> = HashSet::new();
    // Messages written into the APPEND command that is open now.
    let mut pending: Vec<Pending> = Vec::new();
    let mut open = false;

    let broken =
        |out: &mut BatchOutcome, settled: &HashSet<u32>, side: Side, e: &mailport_imap::Error| {
            let reason = format!("connection to the {side} lost: {e}");
            let left = uids.iter().filter(|u| !settled.contains(u)).count() as u64;
            out.failed.push((reason.clone(), left));
            out.broken = Some(reason);
        };

    if !fetch_sent {
        if let Err(e) = p.src.body_fetch_start(&uidset::compress(&uids)).await {
            broken(&mut out, &settled, Side::Source, &e);
            return out;
        }
    }
    loop {
        let b = match p.src.body_next().await {
            Ok(Some(b)) => b,
            Ok(None) => {
                if let Some(next) = next {
                    let next_uids: Vec<u32> = next.iter().map(|m| m.uid).collect();
                    if let Err(e) = p.src.body_fetch_start(&uidset::compress(&next_uids)).await {
                        broken(&mut out, &settled, Side::Source, &e);
                        return out;
                    }
                    out.next_fetch_sent = true;
                }
                break;
            }
            Err(e) => {
                broken(&mut out, &settled, Side::Source, &e);
                return out;
            }
        };
        let uid = b.uid.or_else(|| by_seq.get(&b.seq).copied());
        let Some(meta) = uid
            .and_then(|u| by_uid.get(&u))
            .filter(|m| !settled.contains(&m.uid))
        else {
            // Not one we asked for (or a repeat): read past it.
            if let Err(e) = drain(&mut p.src, buf).await {
                broken(&mut out, &settled, Side::Source, &e);
                return out;
            }
            continue;
        };
        if b.len > body_limit(meta.size) {
            // A server announcing far more than the message's size is broken or
            // hostile: do not read it, and do not trust this connection further.
            let e = mailport_imap::Error::Malformed(format!(
                "the source announced {} bytes for UID {} whose size is {} bytes",
                b.len, meta.uid, meta.size
            ));
            broken(&mut out, &settled, Side::Source, &e);
            return out;
        }
        ctx.opts.limits.message().await;
        if !open {
            if let Err(e) = p.dst.append_start(&folder.destination_wire).await {
                broken(&mut out, &settled, Side::Destination, &e);
                return out;
            }
            open = true;
        }
        match p
            .dst
            .append_message(&flags_for_append(meta), Some(&meta.internal_date), b.len)
            .await
        {
            Ok(()) => {}
            Err(e) if !e.breaks_connection() => {
                // The destination refused the literal: that ends the whole command.
                open = false;
                pending.push(Pending {
                    uid: meta.uid,
                    len: b.len,
                    identity: String::new(),
                });
                refused(&mut out, &mut settled, &mut pending, batch, &e);
                if let Err(e) = drain(&mut p.src, buf).await {
                    broken(&mut out, &settled, Side::Source, &e);
                    return out;
                }
                continue;
            }
            Err(e) => {
                broken(&mut out, &settled, Side::Destination, &e);
                return out;
            }
        }
        let mut tap = HeaderTap::default();
        loop {
            let n = match p.src.body_read(buf).await {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) => {
                    broken(&mut out, &settled, Side::Source, &e);
                    return out;
                }
            };
            tap.feed(&buf[..n]);
            if let Err(e) = p.dst.append_write(&buf[..n]).await {
                broken(&mut out, &settled, Side::Destination, &e);
                return out;
            }
            ctx.progress.bytes(index, n as u64);
            ctx.opts.limits.bytes(n as u64).await;
        }
        pending.push(Pending {
            uid: meta.uid,
            len: b.len,
            identity: ctx.opts.identity.key(&tap.bytes, meta.size),
        });
        if !multiappend {
            open = false;
            if let Err(e) = finish(p, &mut out, &mut settled, &mut pending, batch, index, ctx).await
            {
                broken(&mut out, &settled, Side::Destination, &e);
                return out;
            }
        }
    }
    if open {
        if let Err(e) = finish(p, &mut out, &mut settled, &mut pending, batch, index, ctx).await {
            broken(&mut out, &settled, Side::Destination, &e);
            return out;
        }
    }
    let vanished = uids.iter().filter(|u| !settled.contains(u)).count() as u64;
    if vanished > 0 {
        out.failed.push((
            "message vanished from the source during the copy".into(),
            vanished,
        ));
    }
    out
}

/// Ends the open APPEND; on success the pending messages are copied, on a
/// refusal they fail or are retried singly. Errs only when the connection broke.
async fn finish(
    p: &mut Pair,
    out: &mut BatchOutcome,
    settled: &mut HashSet<u32>,
    pending: &mut Vec<Pending>,
    batch: &[MessageMeta],
    index: usize,
    ctx: &Ctx,
) -> Result<(), mailport_imap::Error> {
    match p.dst.append_finish().await {
        Ok(appenduid) => {
            let n = pending.len() as u64;
            // APPENDUID lists the new UIDs in the order of the messages.
            let dest_uids = appenduid.filter(|a| a.uids.len() == pending.len());
            for (i, pm) in pending.drain(..).enumerate() {
                settled.insert(pm.uid);
                out.copied += 1;
                out.copied_bytes += pm.len;
                if let Some(m) = batch.iter().find(|m| m.uid == pm.uid) {
                    let mut e = ledger::settled(m, pm.identity, Outcome::Copied, None);
                    e.dest_folder = Some(ctx.plan.folders[index].destination.clone());
                    e.dest_uidvalidity = dest_uids.as_ref().map(|a| a.uidvalidity);
                    e.dest_uid = dest_uids.as_ref().map(|a| a.uids[i]);
                    out.records.push(e);
                }
            }
            ctx.progress.messages(index, n);
            Ok(())
        }
        Err(e) if !e.breaks_connection() => {
            refused(out, settled, pending, batch, &e);
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// The destination refused an APPEND command: a single message fails with
/// the server's reason; a batch is retried message by message.
fn refused(
    out: &mut BatchOutcome,
    settled: &mut HashSet<u32>,
    pending: &mut Vec<Pending>,
    batch: &[MessageMeta],
    e: &mailport_imap::Error,
) {
    if let Some(suggested) = throttle::pushback(e) {
        for pm in pending.drain(..) {
            settled.insert(pm.uid);
            if let Some(m) = batch.iter().find(|m| m.uid == pm.uid) {
                out.pushed_back.push(m.clone());
            }
        }
        out.pushback = Some((suggested, e.to_string()));
        return;
    }
    if pending.len() > 1 {
        for pm in pending.drain(..) {
            settled.insert(pm.uid);
            if let Some(m) = batch.iter().find(|m| m.uid == pm.uid) {
                out.retry_singly.push(m.clone());
            }
        }
        return;
    }
    let reason = match e {
        mailport_imap::Error::No { text, code, .. } => match code {
            Some(c) => format!("destination refused it [{c}]: {text}"),
            None => format!("destination refused it: {text}"),
        },
        other => format!("destination refused it: {other}"),
    };
    for pm in pending.drain(..) {
        settled.insert(pm.uid);
        out.failed.push((reason.clone(), 1));
        if let Some(m) = batch.iter().find(|m| m.uid == pm.uid) {
            let mut entry = ledger::settled(m, pm.identity, Outcome::Failed, Some(reason.clone()));
            entry.retryable = e.is_transient();
            out.records.push(entry);
        }
    }
}

/// The most body bytes accepted for a message of RFC822.SIZE `size`: servers
/// differ a little in how they count line ends, never by this much.
fn body_limit(size: u64) -> u64 {
    size.saturating_mul(2).saturating_add(1 << 20)
}

async fn drain(src: &mut Source, buf: &mut [u8]) -> Result<(), mailport_imap::Error> {
    while src.body_read(buf).await? > 0 {}
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::identity;

    fn meta(uid: u32, size: u64, flags: &[&str], date: &str) -> MessageMeta {
        MessageMeta {
            seq: uid,
            uid,
            flags: flags.iter().map(|s| s.to_string()).collect(),
            internal_date: date.into(),
            size,
            headers: None,
        }
    }

    #[test]
    fn header_tap_finds_the_end_across_chunks() {
        let mut t = HeaderTap::default();
        t.feed(b"Subject: a\r\nMessage-ID: <x@y>\r");
        assert!(!t.done);
        t.feed(b"\n\r\nbody body\r\n\r\nmore");
        assert!(t.done);
        assert_eq!(t.bytes, b"Subject: a\r\nMessage-ID: <x@y>\r\n\r\n");
        let mut lf = HeaderTap::default();
        lf.feed(b"Subject: b\n\nbody");
        assert_eq!(lf.bytes, b"Subject: b\n\n");
        assert_eq!(
            identity(&t.bytes, 5),
            identity(b"Message-ID: <x@y>\r\nSubject: a\r\n\r\n", 5)
        );
    }

    #[test]
    fn body_limit_allows_line_end_differences_only() {
        assert!(body_limit(1000) >= 1100);
        assert!(body_limit(25 << 20) < 60 << 20);
        assert_eq!(body_limit(u64::MAX), u64::MAX);
    }

    #[test]
    fn batches_respect_count_and_bytes() {
        let msgs: Vec<_> = (1..=7)
            .map(|u| meta(u, 10, &[], "01-Jan-2020 00:00:00 +0000"))
            .collect();
        let b = batch(msgs.clone(), 3, 1000);
        assert_eq!(b.iter().map(Vec::len).collect::<Vec<_>>(), vec![3, 3, 1]);
        let b = batch(msgs, 100, 25);
        assert_eq!(b.iter().map(Vec::len).collect::<Vec<_>>(), vec![2, 2, 2, 1]);
        let big = vec![meta(1, 500, &[], "x"), meta(2, 5, &[], "x")];
        assert_eq!(batch(big, 100, 100).len(), 2);
    }
}
