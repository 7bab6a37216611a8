//! `--on-first-login migrate-now`: for small mailboxes, the first login
//! waits while the mailbox is copied and cut over, and the session then
//! goes straight to the new server — the account never has a session on
//! the old one. A move that takes longer than the wait goes on in the
//! background and the login is answered as usual (by the old server, or
//! "try again later" while its final pass runs).

use std::sync::Arc;
use std::time::Duration;

use mailport_project::runner::run_one;
use mailport_project::{Pass, Project};
use mailport_store::MailboxState;

use crate::cutover;

/// Moves `login` now (full pass, then the cut-over), waiting at most
/// `within`; the move itself is not cut short by the wait.
pub async fn move_now(project: &Arc<Project>, login: &str, within: Duration) {
    let (p, l) = (project.clone(), login.to_string());
    let moving = tokio::spawn(async move { full_then_cutover(&p, &l).await });
    match tokio::time::timeout(within, moving).await {
        Ok(Ok(Ok(window))) => {
            tracing::info!(
                "{login} moved at its first login (logins waited {} ms)",
                window.as_millis()
            )
        }
        Ok(Ok(Err(why))) => tracing::warn!("{login}: moving at the first login: {why}"),
        Ok(Err(e)) => tracing::warn!("{login}: moving at the first login: {e}"),
        Err(_) => tracing::info!(
            "{login}: not moved within {} s of its first login; the move goes on in the background",
            within.as_secs()
        ),
    }
}

async fn full_then_cutover(project: &Arc<Project>, login: &str) -> Result<Duration, String> {
    let owner = mailport_project::holder::here("first-login");
    loop {
        match run_one(project, login, Pass::Full, &owner, Duration::from_secs(60)).await {
            Ok(Some((MailboxState::Completed, pass))) if pass.outcome == "ok" => break,
            Ok(Some((_, pass))) => {
                return Err(pass
                    .detail
                    .unwrap_or_else(|| format!("the full pass ended {}", pass.outcome)))
            }
            // A worker took it first: wait for its pass.
            Ok(None) => {
                let m = project.store.mailbox(&project.name, login).await;
                let done = m.map_err(|e| e.to_string())?.is_some_and(|m| {
                    m.state == MailboxState::Completed.as_str() && m.last_good_at.is_some()
                });
                if done {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => return Err(e.to_string()),
        }
    }
    cutover::cut_over(project, login)
        .await
        .map_err(|e| e.to_string())
}
