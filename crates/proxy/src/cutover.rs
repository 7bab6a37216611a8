//! The final pass of an account: from the old server to the new one.
//!
//! 1. The account becomes *moving* (only from *source*: two operators, or
//!    two proxies, cannot both start it). From now on logins are asked to
//!    try again later, and a running proxy closes the account's open
//!    sessions on the old server, so no client changes mail there during
//!    the pass.
//! 2. The mailbox is claimed like any worker claims it (waiting while
//!    another worker holds it) and given a last delta pass and a verify
//!    ([`Pass::Final`]), recorded with the mailbox's other passes.
//! 3. Verified: the account is *destination*; its next login goes to the
//!    new server. Anything else: back to *source*, with the reason; nothing
//!    is lost either way (the old server still holds everything).
//!
//! The time from 1 to 3 is the window in which a login is refused: it is
//! returned and recorded in the account's move event.
//!
//! A cut-over whose process dies leaves its account *moving*; running
//! proxies [`recover`] it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use mailport_mail::date::now;
use mailport_project::runner::run_one;
use mailport_project::{Pass, Project};
use mailport_store::{AccountRow, EventRow, MailboxRow, MailboxState, ServedBy, StoreError};

/// Running proxies look at their sessions' accounts every
/// [`crate::sessions::WATCH`]: the final pass starts once they have closed
/// the account's sessions on the old server (three looks, for a busy store).
const SESSIONS_CLOSE: Duration = Duration::from_millis(750);

/// How long a cut-over waits for a worker that holds the mailbox.
const WAIT_FOR_WORKER: Duration = Duration::from_secs(600);

/// A cut-over that did not happen, and why (one sentence for the operator).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotMoved(pub String);

impl std::fmt::Display for NotMoved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Moves `login` to the new server; the window logins were refused.
pub async fn cut_over(project: &Arc<Project>, login: &str) -> Result<Duration, NotMoved> {
    let store = &project.store;
    let fail = |e: &dyn std::fmt::Display| NotMoved(format!("{login}: {e}"));
    let account = store
        .account(&project.name, login)
        .await
        .map_err(|e| fail(&e))?
        .ok_or_else(|| fail(&"has not logged in through the proxy yet (no captured password)"))?;
    if account.served_by != ServedBy::Source {
        return Err(fail(&format!("is already {}", account.served_by.as_str())));
    }
    let mailbox = store
        .mailbox(&project.name, login)
        .await
        .map_err(|e| fail(&e))?
        .ok_or_else(|| fail(&"has no mailbox in the project"))?;
    if mailbox.last_good_at.is_none() {
        return Err(fail(
            &"its first full pass has not completed yet; cut over when `mailport accounts` shows it completed",
        ));
    }
    let moving = store
        .set_served_by(
            &project.name,
            login,
            ServedBy::Source,
            ServedBy::Moving,
            now(),
            None,
        )
        .await
        .map_err(|e| fail(&e))?;
    if !moving {
        return Err(fail(&"is being moved by someone else"));
    }
    let window = Instant::now();
    tokio::time::sleep(SESSIONS_CLOSE).await;
    let outcome = final_pass(project, login).await;
    let elapsed = window.elapsed();
    let (to, detail, said) = match &outcome {
        Ok(()) => (
            ServedBy::Destination,
            None,
            format!("moved; logins waited {} ms", elapsed.as_millis()),
        ),
        Err(why) => (
            ServedBy::Source,
            Some(why.as_str()),
            format!("rolled back: {why}"),
        ),
    };
    let still_ours = store
        .set_served_by(&project.name, login, ServedBy::Moving, to, now(), detail)
        .await
        .map_err(|e| fail(&e))?;
    if !still_ours {
        // A proxy took it for an interrupted cut-over (see [`recover`]).
        return Err(fail(&"was taken over by a proxy meanwhile (the pass outlived its lease); see mailport accounts"));
    }
    let event = EventRow {
        at: now(),
        login: Some(login.to_string()),
        kind: "move".into(),
        client: None,
        outcome: said,
    };
    if let Err(e) = store.record_event(&project.name, &event).await {
        tracing::warn!("recording the move of {login} failed: {e}");
    }
    outcome
        .map(|()| elapsed)
        .map_err(|why| fail(&format!("not moved, still on the old server: {why}")))
}

async fn final_pass(project: &Project, login: &str) -> Result<(), String> {
    let owner = mailport_project::holder::here("cutover");
    let started = Instant::now();
    loop {
        match run_one(project, login, Pass::Final, &owner, Duration::from_secs(60)).await {
            Ok(Some((MailboxState::Completed, pass))) if pass.verified.as_deref() == Some("ok") => {
                return Ok(())
            }
            Ok(Some((_, pass))) => {
                return Err(pass
                    .detail
                    .unwrap_or_else(|| format!("the final pass ended {}", pass.outcome)))
            }
            Ok(None) if started.elapsed() < WAIT_FOR_WORKER => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Ok(None) => return Err("another worker held the mailbox for 10 minutes".into()),
            Err(e) => return Err(e.to_string()),
        }
    }
}

/// How long a live cut-over may leave its account moving without holding
/// the mailbox's lease: it claims the mailbox [`SESSIONS_CLOSE`] after it
/// began (or waits while another worker holds it), and between the end of
/// its final pass and the account's new state there are milliseconds.
const UNHELD: i64 = 60;

/// An account left *moving* by a cut-over whose process died (nobody has
/// held its mailbox for a minute): *destination* if a worker completed its
/// final pass since (verified: the final pass is a delta and a verify while
/// logins wait, whoever runs it), else back to *source* so that it can be
/// cut over again. The new state, or none when the account is not such a
/// one.
pub async fn recover(
    project: &Project,
    account: &AccountRow,
    m: &MailboxRow,
) -> Result<Option<ServedBy>, StoreError> {
    let t = now();
    let since = account.changed_at.unwrap_or(0);
    // A holder of this machine that died is known dead at once.
    let dead_holder = m
        .lease_owner
        .as_deref()
        .is_some_and(mailport_project::holder::dead_here);
    let held = m.state == MailboxState::Running.as_str()
        && m.lease_until.is_some_and(|u| u >= t)
        && !dead_holder;
    let recent = t - since < UNHELD && !dead_holder;
    if account.served_by != ServedBy::Moving || held || recent {
        return Ok(None);
    }
    let finished = m.state == MailboxState::Completed.as_str()
        && m.pass.as_deref() == Some("final")
        && m.last_good_at.is_some_and(|good| good >= since);
    let (to, detail, said) = match finished {
        true => (
            ServedBy::Destination,
            None,
            "moved: its final pass was completed after the cut-over's process ended",
        ),
        false => (
            ServedBy::Source,
            Some("the cut-over was interrupted (its process ended); rolled back, cut over again"),
            "rolled back: the cut-over was interrupted (its process ended)",
        ),
    };
    let store = &project.store;
    if !store
        .set_served_by(
            &project.name,
            &account.login,
            ServedBy::Moving,
            to,
            t,
            detail,
        )
        .await?
    {
        return Ok(None);
    }
    let event = EventRow {
        at: t,
        login: Some(account.login.clone()),
        kind: "move".into(),
        client: None,
        outcome: said.into(),
    };
    store.record_event(&project.name, &event).await?;
    tracing::warn!("{}: {said}", account.login);
    Ok(Some(to))
}
