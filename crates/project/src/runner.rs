//! Workers: each claims a mailbox (a lease in the store), runs its pass as
//! the engine's mailbox job while renewing the lease, records the pass and
//! gives the mailbox up. `mailport run` is a pool of them in one process;
//! `mailport worker` on other machines adds more over PostgreSQL.
//!
//! A worker that dies loses its lease when it expires and another resumes
//! the mailbox from the ledger: nothing lost, nothing twice. A stop asked
//! for in the store (or Ctrl-C) cancels the job at its next batch boundary.

use std::sync::Arc;
use std::time::{Duration, Instant};

use mailport_engine::error::in_words;
use mailport_engine::{
    Cancel, ErrorKind, Event, JobError, JobReport, Progress, SessionError, Side,
};
use mailport_store::{Finish, MailboxRow, MailboxState, PassRow};

use crate::project::{Pass, Project, ProjectError};
use mailport_mail::date::now;

/// Attempts of a mailbox whose failure may pass (a connection, a busy
/// server) before it is left failed.
const ATTEMPTS: i64 = 3;

/// What a run tells its front door.
pub trait RunProgress: Send + Sync {
    fn started(&self, _login: &str, _pass: &str) {}
    fn finished(&self, _login: &str, _state: MailboxState, _pass: &PassRow) {}
    /// An event of a mailbox's job (its id is the login).
    fn event(&self, _event: &Event) {}
    /// Messages confirmed on the destination, bytes streamed.
    fn copied(&self, _login: &str, _messages: u64, _bytes: u64) {}
}

pub struct RunOptions {
    pub workers: usize,
    /// Who this process is (host and pid): leases carry it.
    pub owner: String,
    /// How long a lease lasts without renewal; renewed every third of it.
    pub lease: Duration,
    /// Stops every worker after the batches in flight.
    pub cancel: Cancel,
}

/// What a run did, by final state of the mailboxes it worked on.
#[derive(Debug, Default, Clone)]
pub struct RunSummary {
    pub passes: Vec<(String, MailboxState, PassRow)>,
}

/// Ends the leases held by processes of this machine that died (killed,
/// crashed): their mailboxes are claimed again at once, and resume from
/// the ledger. `mailboxes`: the project's, as just read. How many.
pub async fn free_dead_leases(
    project: &Project,
    mailboxes: &[MailboxRow],
) -> Result<usize, ProjectError> {
    let mut n = 0;
    for m in mailboxes {
        let Some(holder) = m.lease_owner.as_deref() else {
            continue;
        };
        if m.state == MailboxState::Running.as_str()
            && crate::holder::dead_here(holder)
            && project
                .store
                .expire_lease(&project.name, &m.login, holder)
                .await?
        {
            tracing::warn!(
                "{}: its worker {holder} died; the mailbox is taken again",
                m.login
            );
            n += 1;
        }
    }
    Ok(n)
}

/// Runs workers until no mailbox of the project is left to claim.
pub async fn run(
    project: Arc<Project>,
    opts: RunOptions,
    progress: Arc<dyn RunProgress>,
) -> Result<RunSummary, ProjectError> {
    let summary = Arc::new(std::sync::Mutex::new(RunSummary::default()));
    let opts = Arc::new(opts);
    let mut handles = Vec::new();
    for w in 0..opts.workers.max(1) {
        let (project, opts, progress, summary) = (
            project.clone(),
            opts.clone(),
            progress.clone(),
            summary.clone(),
        );
        handles.push(tokio::spawn(async move {
            let owner = format!("{}/{w}", opts.owner);
            worker(&project, &owner, &opts, &progress, &summary).await
        }));
    }
    let mut first_error = None;
    for h in handles {
        match h.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => first_error = first_error.or(Some(e)),
            Err(e) => {
                first_error = first_error.or(Some(ProjectError::Invalid(format!(
                    "a worker stopped unexpectedly: {e}"
                ))))
            }
        }
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    let summary = summary.lock().unwrap_or_else(|p| p.into_inner()).clone();
    Ok(summary)
}

async fn worker(
    project: &Project,
    owner: &str,
    opts: &RunOptions,
    progress: &Arc<dyn RunProgress>,
    summary: &std::sync::Mutex<RunSummary>,
) -> Result<(), ProjectError> {
    let lease = opts.lease.as_secs().max(3) as i64;
    loop {
        if opts.cancel.is_cancelled() {
            return Ok(());
        }
        let t = now();
        let Some(m) = project
            .store
            .claim(
                &project.name,
                owner,
                (t, t + lease),
                project.running_limit(),
            )
            .await?
        else {
            if !work_left(project).await? {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        };
        let (state, pass) = work(project, &m, owner, opts, progress).await?;
        progress.finished(&m.login, state, &pass);
        summary
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .passes
            .push((m.login.clone(), state, pass));
    }
}

/// Whether a mailbox may still need a worker: one queued (waiting for its
/// back-off), or one running elsewhere, whose worker may die and leave it
/// to be taken over when its lease expires. The run ends when none is left.
async fn work_left(project: &Project) -> Result<bool, ProjectError> {
    let rows = project.store.mailboxes(&project.name).await?;
    Ok(rows.iter().any(|m| {
        m.state == MailboxState::Queued.as_str() || m.state == MailboxState::Running.as_str()
    }))
}

/// Runs `pass` over one named mailbox now, under a lease like any worker's
/// (the proxy's final pass). `None` while another worker holds it.
pub async fn run_one(
    project: &Project,
    login: &str,
    pass: Pass,
    owner: &str,
    lease: Duration,
) -> Result<Option<(MailboxState, PassRow)>, ProjectError> {
    let t = now();
    let claimed = project
        .store
        .claim_mailbox(
            &project.name,
            login,
            &pass.stored(),
            owner,
            (t, t + lease.as_secs().max(3) as i64),
        )
        .await?;
    let Some(m) = claimed else {
        return Ok(None);
    };
    let opts = RunOptions {
        workers: 1,
        owner: owner.to_string(),
        lease,
        cancel: Cancel::default(),
    };
    let progress: Arc<dyn RunProgress> = Arc::new(Quiet);
    work(project, &m, owner, &opts, &progress).await.map(Some)
}

/// One claimed mailbox: its pass run under a renewed lease, recorded, and
/// the mailbox given up in its new state.
async fn work(
    project: &Project,
    m: &MailboxRow,
    owner: &str,
    opts: &RunOptions,
    progress: &Arc<dyn RunProgress>,
) -> Result<(MailboxState, PassRow), ProjectError> {
    let pass = Pass::parse(m.pass.as_deref().unwrap_or("full")).unwrap_or(Pass::Full);
    progress.started(&m.login, pass.name());
    let started_ms = now_ms();
    let clock = Instant::now();
    let cancel = Cancel::default();
    let heartbeat = tokio::spawn(keep_lease(
        project.store.clone(),
        project.name.clone(),
        m.login.clone(),
        owner.to_string(),
        opts.lease,
        cancel.clone(),
        opts.cancel.clone(),
    ));
    let ended = run_pass(project, m, &pass, cancel, progress).await;
    heartbeat.abort();
    let mut row = PassRow {
        project: project.name.clone(),
        login: m.login.clone(),
        started_at: started_ms,
        kind: pass.name().into(),
        duration_ms: clock.elapsed().as_millis() as i64,
        ..Default::default()
    };
    let finish = conclude(m, &ended, &mut row);
    project.store.record_pass(&row).await?;
    project
        .store
        .finish(&project.name, &m.login, owner, &finish)
        .await?;
    Ok((finish.state, row))
}

/// Renews the lease every third of its length; cancels the job when the
/// lease is lost (it expired and another worker took the mailbox), when a
/// stop was asked for in the store, or when the whole run is stopped.
async fn keep_lease(
    store: mailport_store::Store,
    project: String,
    login: String,
    owner: String,
    lease: Duration,
    job: Cancel,
    run: Cancel,
) {
    let every = (lease / 3).max(Duration::from_millis(500));
    loop {
        for _ in 0..10 {
            tokio::time::sleep(every / 10).await;
            if run.is_cancelled() {
                job.cancel();
            }
        }
        let until = now() + lease.as_secs().max(3) as i64;
        match store.renew(&project, &login, &owner, until).await {
            Ok((true, false)) => {}
            Ok(_) => job.cancel(),
            // The store is unreachable for a moment: the lease lasts longer
            // than the interval, try again.
            Err(_) => {}
        }
    }
}

/// What a pass ended in.
enum Ended {
    Job(Box<JobReport>),
    Verified(mailport_engine::verify::VerifyReport),
    LoggedIn,
    Failed(ErrorKind, String),
}

async fn run_pass(
    project: &Project,
    m: &MailboxRow,
    pass: &Pass,
    cancel: Cancel,
    progress: &Arc<dyn RunProgress>,
) -> Ended {
    let job = match project.job(m, pass) {
        Ok(j) => j,
        Err(e) => return Ended::Failed(ErrorKind::Usage, e.to_string()),
    };
    let relay: Arc<dyn Progress> = Arc::new(Relay {
        to: progress.clone(),
        login: m.login.clone(),
    });
    let failed = |e: JobError| Ended::Failed(e.kind(), in_words(&e));
    match pass {
        Pass::VerifyCredentials => {
            let (s, d) = tokio::join!(job.source.open(), job.destination.open());
            match (s, d) {
                (Ok(_), Ok(_)) => Ended::LoggedIn,
                (Err(e), _) => session_failed(Side::Source, e),
                (_, Err(e)) => session_failed(Side::Destination, e),
            }
        }
        Pass::Verify => match job.verify_only(relay, false).await {
            Ok(v) => Ended::Verified(v),
            Err(e) => failed(e),
        },
        _ => match job.run(relay, cancel).await {
            Ok(r) => Ended::Job(Box::new(r)),
            Err(e) => failed(e),
        },
    }
}

fn session_failed(side: Side, e: SessionError) -> Ended {
    Ended::Failed(e.kind(), format!("{side}: {}", in_words(&e)))
}

/// The mailbox's new state and the pass's record.
fn conclude(m: &MailboxRow, ended: &Ended, row: &mut PassRow) -> Finish {
    let done = |good: bool, error: Option<String>| Finish {
        state: MailboxState::Completed,
        error,
        retryable: false,
        not_before: 0,
        size_hint: None,
        good,
    };
    match ended {
        Ended::LoggedIn => {
            row.outcome = "ok".into();
            // Nothing was copied: the mailbox is as it was.
            Finish {
                state: m
                    .state()
                    .ok()
                    .filter(|s| *s != MailboxState::Running && *s != MailboxState::Queued)
                    .unwrap_or(MailboxState::NotStarted),
                ..done(false, None)
            }
        }
        Ended::Verified(v) => {
            let ok = v.is_ok();
            row.verified = Some(if ok { "ok" } else { "failed" }.into());
            row.outcome = if ok { "ok" } else { "failed" }.into();
            row.detail = (!ok).then(|| "verify found messages missing or different".into());
            Finish {
                state: if ok {
                    MailboxState::Completed
                } else {
                    MailboxState::Failed
                },
                ..done(ok, row.detail.clone())
            }
        }
        Ended::Job(r) => {
            let t = &r.copy.totals;
            row.source_messages = t.source_messages as i64;
            row.copied = t.copied as i64;
            row.already_present = t.already_present as i64;
            row.skipped = t.skipped as i64;
            row.failed = t.failed as i64;
            row.bytes = t.bytes as i64;
            row.reasons = reasons(&r.copy);
            row.verified = r
                .verify
                .as_ref()
                .map(|v| if v.is_ok() { "ok" } else { "failed" }.into());
            let size_hint = Some(m.size_hint.max(t.bytes as i64));
            if r.copy.interrupted {
                row.outcome = "interrupted".into();
                return Finish {
                    state: MailboxState::Stopped,
                    size_hint,
                    ..done(false, None)
                };
            }
            let verify_failed = r.verify.as_ref().is_some_and(|v| !v.is_ok());
            let error = match (t.failed, verify_failed) {
                (0, false) => None,
                (0, true) => Some("verify found messages missing or different".to_string()),
                (n, _) => Some(format!(
                    "{n} messages could not be copied (the report lists why)"
                )),
            };
            row.outcome = if error.is_none() { "ok" } else { "failed" }.into();
            row.detail = error.clone();
            Finish {
                size_hint,
                ..done(error.is_none(), error)
            }
        }
        Ended::Failed(kind, why) => {
            row.outcome = "failed".into();
            row.detail = Some(why.clone());
            let transient = matches!(kind, ErrorKind::Connection | ErrorKind::Server);
            let again = transient && m.attempts + 1 < ATTEMPTS;
            Finish {
                state: if again {
                    MailboxState::Queued
                } else {
                    MailboxState::Failed
                },
                error: Some(why.clone()),
                // A refused password is not retried until it changes.
                retryable: transient,
                not_before: if again {
                    now() + back_off(m.attempts)
                } else {
                    0
                },
                size_hint: None,
                good: false,
            }
        }
    }
}

/// Logs in to both sides of every mailbox that has its credentials (or
/// the `only` ones), `at_once` at a time; records a pass for each and
/// leaves every mailbox's state as it was.
pub async fn verify_credentials(
    project: Arc<Project>,
    only: &[String],
    at_once: usize,
) -> Result<Vec<PassRow>, ProjectError> {
    let rows: Vec<MailboxRow> = project
        .store
        .mailboxes(&project.name)
        .await?
        .into_iter()
        .filter(|m| only.is_empty() || only.contains(&m.login))
        .filter(|m| m.state != MailboxState::WaitingForCredentials.as_str())
        .collect();
    let gate = Arc::new(tokio::sync::Semaphore::new(at_once.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    for m in rows {
        let (project, gate) = (project.clone(), gate.clone());
        tasks.spawn(async move {
            let _turn = gate.acquire_owned().await;
            let started_at = now_ms();
            let clock = Instant::now();
            let quiet: Arc<dyn RunProgress> = Arc::new(Quiet);
            let ended = run_pass(
                &project,
                &m,
                &Pass::VerifyCredentials,
                Cancel::default(),
                &quiet,
            )
            .await;
            let mut row = PassRow {
                project: project.name.clone(),
                login: m.login.clone(),
                started_at,
                kind: Pass::VerifyCredentials.name().into(),
                duration_ms: clock.elapsed().as_millis() as i64,
                ..Default::default()
            };
            conclude(&m, &ended, &mut row);
            project.store.record_pass(&row).await?;
            Ok::<_, ProjectError>(row)
        });
    }
    let mut out = Vec::new();
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(row) => out.push(row?),
            Err(e) => {
                return Err(ProjectError::Invalid(format!(
                    "a credential check stopped unexpectedly: {e}"
                )))
            }
        }
    }
    out.sort_by(|a, b| a.login.cmp(&b.login));
    Ok(out)
}

struct Quiet;

impl RunProgress for Quiet {}

/// Skipped and failed messages by reason, over all folders, as the pass
/// record keeps them.
fn reasons(r: &mailport_engine::Report) -> String {
    let mut skipped = std::collections::BTreeMap::<String, u64>::new();
    let mut failed = std::collections::BTreeMap::<String, u64>::new();
    for f in &r.folders {
        for (why, n) in &f.skipped {
            *skipped.entry(why.clone()).or_default() += n;
        }
        for (why, n) in &f.failed {
            *failed.entry(why.clone()).or_default() += n;
        }
        if let Some(e) = &f.error {
            *failed
                .entry(format!("folder {}: {e}", f.source))
                .or_default() += 0;
        }
    }
    serde_json::json!({ "skipped": skipped, "failed": failed }).to_string()
}

/// Seconds before another attempt: 30, 60, 120...
fn back_off(attempts: i64) -> i64 {
    30 << attempts.clamp(0, 6)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A job's progress handed to the run's: events as they are, counts per mailbox.
struct Relay {
    to: Arc<dyn RunProgress>,
    login: String,
}

impl Progress for Relay {
    fn bytes(&self, _index: usize, n: u64) {
        self.to.copied(&self.login, 0, n);
    }
    fn messages(&self, _index: usize, n: u64) {
        self.to.copied(&self.login, n, 0);
    }
    fn event(&self, event: &Event) {
        self.to.event(event);
    }
}
