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

use std::sync::Arc;
use std::time::{Duration, Instant};

use mailport_mail::date::now;
use mailport_project::runner::run_one;
use mailport_project::{Pass, Project};
use mailport_store::{EventRow, MailboxState, ServedBy};

/// Running proxies look at their sessions' accounts every second
/// ([`crate::sessions::Sessions::watch`]): the final pass starts once they
/// have closed the account's sessions on the old server.
const SESSIONS_CLOSE: Duration = Duration::from_millis(1500);

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
    store
        .set_served_by(&project.name, login, ServedBy::Moving, to, now(), detail)
        .await
        .map_err(|e| fail(&e))?;
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
    let owner = format!("cutover-{}", std::process::id());
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

/// Accounts left *moving* by a cut-over that died with its process (no
/// live lease on their mailbox) go back to *source*: their next cut-over
/// starts again. Returns how many.
pub async fn roll_back_interrupted(project: &Project) -> Result<usize, mailport_store::StoreError> {
    let store = &project.store;
    let mut n = 0;
    for account in store.accounts(&project.name).await? {
        if account.served_by != ServedBy::Moving {
            continue;
        }
        let busy = store
            .mailbox(&project.name, &account.login)
            .await?
            .is_some_and(|m| m.state == "running" && m.lease_until.is_some_and(|u| u >= now()));
        if busy {
            continue;
        }
        let why = "the cut-over was interrupted (its process ended); rolled back, cut over again";
        if store
            .set_served_by(
                &project.name,
                &account.login,
                ServedBy::Moving,
                ServedBy::Source,
                now(),
                Some(why),
            )
            .await?
        {
            n += 1;
        }
    }
    Ok(n)
}
