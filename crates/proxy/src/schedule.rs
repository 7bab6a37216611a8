//! The passes nobody asks for, on a clock (and the recovery of cut-overs
//! whose process died, [`cutover::recover`], and of mailboxes whose worker
//! on this machine died, [`runner::free_dead_leases`]): after its full pass an account
//! still on the old server gets a delta pass every `delta_every` (so its
//! final pass has little left), and with automatic cut-over it moves once a
//! delta pass finds at most `cutover_below` new messages; a moved account
//! that is *followed* gets a short delta pass every `follow_every` (mail
//! still reaching the old server, until the MX or the SMTP front carries
//! it); once nobody follows it, its captured passwords are erased unless
//! they are to be kept.
//!
//! Every proxy of a project may run this: queueing is conditional (only a
//! mailbox that is idle and completed is queued) and a cut-over is taken
//! by one of them only ([`crate::cutover`]).

use std::sync::Arc;
use std::time::Duration;

use mailport_engine::Cancel;
use mailport_mail::date::now;
use mailport_project::{runner, Pass, Project};
use mailport_store::{AccountRow, EventRow, MailboxRow, MailboxState, ServedBy, StoreError};

use crate::cutover;

#[derive(Debug, Clone)]
pub struct Schedule {
    /// Delta passes of accounts still on the old server, this often.
    pub delta_every: Option<Duration>,
    /// Delta passes of moved accounts that are followed, this often.
    pub follow_every: Option<Duration>,
    /// Cut an account over by itself once a delta pass copied at most this
    /// many messages; none: only `accounts cutover` moves accounts.
    pub cutover_below: Option<u64>,
    /// Keep the captured passwords after the last pass that needs them.
    pub keep_credentials: bool,
    /// One delta pass this long after each move.
    pub settle_after: Duration,
}

impl Default for Schedule {
    /// Deltas every 15 minutes, followed accounts every 5, manual
    /// cut-over, passwords erased when no pass needs them.
    fn default() -> Schedule {
        Schedule {
            delta_every: Some(Duration::from_secs(15 * 60)),
            follow_every: Some(Duration::from_secs(5 * 60)),
            cutover_below: None,
            keep_credentials: false,
            settle_after: SETTLE_AFTER,
        }
    }
}

/// An MTA hands a message to its mailbox server within a second or two
/// when all is well; the settling pass waits well past that.
pub const SETTLE_AFTER: Duration = Duration::from_secs(30);

/// How often the accounts are looked at.
const TICK: Duration = Duration::from_secs(2);

/// Runs until `cancel`.
pub async fn run(project: Arc<Project>, schedule: Schedule, cancel: Cancel) {
    let mut cutovers = tokio::task::JoinSet::new();
    while !cancel.is_cancelled() {
        if let Err(e) = tick(&project, &schedule, &mut cutovers).await {
            tracing::warn!("scheduling passes: {e}");
        }
        while let Some(done) = cutovers.try_join_next() {
            if let Ok((login, Err(why))) = done {
                tracing::warn!("automatic cut-over of {login}: {why}");
            }
        }
        tokio::time::sleep(TICK).await;
    }
    // A cut-over in flight finishes (or rolls back) rather than leaving
    // its account moving.
    while cutovers.join_next().await.is_some() {}
}

type Cutovers = tokio::task::JoinSet<(String, Result<Duration, cutover::NotMoved>)>;

async fn tick(
    project: &Arc<Project>,
    s: &Schedule,
    cutovers: &mut Cutovers,
) -> Result<(), StoreError> {
    let store = &project.store;
    let accounts = store.accounts(&project.name).await?;
    if accounts.is_empty() {
        return Ok(());
    }
    let rows = store.mailboxes(&project.name).await?;
    if let Err(e) = runner::free_dead_leases(project, &rows).await {
        tracing::warn!("freeing the mailboxes of dead workers: {e}");
    }
    let mut mailboxes: std::collections::HashMap<String, MailboxRow> =
        rows.into_iter().map(|m| (m.login.clone(), m)).collect();
    let t = now();
    for account in accounts {
        let Some(m) = mailboxes.remove(&account.login) else {
            continue;
        };
        if account.served_by == ServedBy::Moving {
            cutover::recover(project, &account, &m).await?;
            continue;
        }
        if m.state != MailboxState::Completed.as_str() {
            continue;
        }
        let age = Duration::from_secs(t.saturating_sub(m.last_good_at.unwrap_or(0)).max(0) as u64);
        if unsettled(&account, &m, s.settle_after, t) {
            queue_delta(project, &account.login).await?;
            continue;
        }
        match account.served_by {
            ServedBy::Source => {
                if let Some(below) = s.cutover_below {
                    if little_left(project, &m, below).await? {
                        let (project, login) = (project.clone(), account.login.clone());
                        cutovers.spawn(async move {
                            let moved = cutover::cut_over(&project, &login).await;
                            (login, moved)
                        });
                        continue;
                    }
                }
                if s.delta_every.is_some_and(|every| age >= every) {
                    queue_delta(project, &account.login).await?;
                }
            }
            ServedBy::Destination if account.following => {
                if s.follow_every.is_some_and(|every| age >= every) {
                    queue_delta(project, &account.login).await?;
                }
            }
            ServedBy::Destination if !s.keep_credentials => forget(project, &account, &m).await?,
            ServedBy::Destination | ServedBy::Moving => {}
        }
    }
    Ok(())
}

/// A moved account due its settling pass: `settle_after` has passed since
/// the move, and no pass completed since then.
fn unsettled(account: &AccountRow, m: &MailboxRow, settle_after: Duration, t: i64) -> bool {
    let (ServedBy::Destination, Some(moved_at)) = (account.served_by, account.moved_at) else {
        return false;
    };
    let due = moved_at + settle_after.as_secs() as i64;
    t >= due && m.last_good_at.is_none_or(|good| good < due)
}

/// The mailbox's last pass was a good delta that copied at most `below`.
async fn little_left(project: &Project, m: &MailboxRow, below: u64) -> Result<bool, StoreError> {
    if m.pass.as_deref() != Some("delta") {
        return Ok(false);
    }
    let passes = project.store.passes(&project.name, Some(&m.login)).await?;
    Ok(passes.last().is_some_and(|p| {
        p.kind == "delta" && p.outcome == "ok" && p.copied >= 0 && p.copied as u64 <= below
    }))
}

/// Queues a delta pass if the mailbox is idle and completed.
pub async fn queue_delta(project: &Project, login: &str) -> Result<u64, StoreError> {
    project
        .store
        .queue(
            &project.name,
            &[MailboxState::Completed],
            &[login.to_string()],
            &Pass::Delta.stored(),
        )
        .await
}

/// Erases a moved, no longer followed account's captured passwords (the
/// Argon2id hash stays: the proxy still checks logins with it).
async fn forget(project: &Project, account: &AccountRow, m: &MailboxRow) -> Result<(), StoreError> {
    let captured = m.source_auth == "password" || m.destination_auth == "password";
    if !captured
        || !project
            .store
            .forget_passwords(&project.name, &m.login)
            .await?
    {
        return Ok(());
    }
    let e = EventRow {
        at: now(),
        login: Some(account.login.clone()),
        kind: "erase".into(),
        client: None,
        outcome: "captured password erased: no pass needs it any more".into(),
    };
    project.store.record_event(&project.name, &e).await
}
