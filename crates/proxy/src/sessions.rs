//! Open sessions after login, by account: when an account starts its final
//! pass its sessions on the old server are closed (`* BYE`), so that no
//! client changes mail there while it is copied for the last time; when
//! the proxy stops, every session is told so and given a little time.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use mailport_project::Project;
use mailport_store::ServedBy;
use tokio::sync::Notify;

/// How often the accounts with sessions on the old server are looked at:
/// a cut-over waits this long (and a margin) before its final pass.
pub const WATCH: Duration = Duration::from_millis(250);

/// Why a session is being closed by the proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    /// The account's final pass began.
    Moving,
    /// The proxy is stopping.
    ShuttingDown,
}

/// What tells a relay to end its session, and why.
#[derive(Default)]
pub struct Closing {
    notify: Notify,
    why: OnceLock<Why>,
}

impl Closing {
    fn close(&self, why: Why) {
        let _ = self.why.set(why);
        // A permit is kept if the relay is not waiting yet.
        self.notify.notify_one();
    }

    /// Waits until the session is to close; why.
    pub async fn closed(&self) -> Why {
        self.notify.notified().await;
        self.why.get().copied().unwrap_or(Why::ShuttingDown)
    }
}

struct Open {
    id: u64,
    served: ServedBy,
    closing: Arc<Closing>,
}

#[derive(Default)]
pub struct Sessions {
    open: Mutex<HashMap<String, Vec<Open>>>,
    next: Mutex<u64>,
}

/// One open session; leaves the table when dropped.
pub struct Registered {
    sessions: Arc<Sessions>,
    login: String,
    id: u64,
    pub closing: Arc<Closing>,
}

impl Sessions {
    pub fn register(self: &Arc<Self>, login: &str, served: ServedBy) -> Registered {
        let id = {
            let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
            *next += 1;
            *next
        };
        let closing = Arc::new(Closing::default());
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.entry(login.to_string()).or_default().push(Open {
            id,
            served,
            closing: closing.clone(),
        });
        Registered {
            sessions: self.clone(),
            login: login.to_string(),
            id,
            closing,
        }
    }

    /// Logins with a session on the old server.
    fn at_source(&self) -> Vec<String> {
        let open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.iter()
            .filter(|(_, list)| list.iter().any(|o| o.served == ServedBy::Source))
            .map(|(login, _)| login.clone())
            .collect()
    }

    /// Closes every old-server session of `login`; how many.
    fn close_at_source(&self, login: &str) -> usize {
        let open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let list = open.get(login).map(Vec::as_slice).unwrap_or_default();
        let at_source = list.iter().filter(|o| o.served == ServedBy::Source);
        at_source.map(|o| o.closing.close(Why::Moving)).count()
    }

    /// Sessions open now.
    pub fn count(&self) -> usize {
        let open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.values().map(Vec::len).sum()
    }

    /// Sessions open now by where they are served.
    pub fn count_by_server(&self) -> [(ServedBy, usize); 2] {
        let open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let n = |s: ServedBy| {
            open.values()
                .flat_map(|l| l.iter())
                .filter(|o| o.served == s)
                .count()
        };
        [
            (ServedBy::Source, n(ServedBy::Source)),
            (ServedBy::Destination, n(ServedBy::Destination)),
        ]
    }

    /// Tells every session the proxy is stopping, then waits up to `grace`
    /// for them to end; how many were still open.
    pub async fn drain(&self, grace: Duration) -> usize {
        {
            let open = self.open.lock().unwrap_or_else(|p| p.into_inner());
            for o in open.values().flat_map(|l| l.iter()) {
                o.closing.close(Why::ShuttingDown);
            }
        }
        let until = tokio::time::Instant::now() + grace;
        while self.count() > 0 && tokio::time::Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.count()
    }

    /// Every [`WATCH`], closes the old-server sessions of accounts that are
    /// no longer served there (their final pass began, here or elsewhere).
    pub async fn watch(self: Arc<Self>, project: Arc<Project>, cancel: mailport_engine::Cancel) {
        while !cancel.is_cancelled() {
            tokio::time::sleep(WATCH).await;
            let open = self.at_source();
            if open.is_empty() {
                continue;
            }
            // One read for all of them, however many sessions are open.
            let Ok(accounts) = project.store.accounts(&project.name).await else {
                continue;
            };
            for a in accounts {
                if a.served_by != ServedBy::Source && open.contains(&a.login) {
                    let n = self.close_at_source(&a.login);
                    tracing::info!(
                        "closed {n} session(s) of {} on the old server: its final pass began",
                        a.login
                    );
                }
            }
        }
    }
}

impl Drop for Registered {
    fn drop(&mut self) {
        let mut open = self.sessions.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(list) = open.get_mut(&self.login) {
            list.retain(|o| o.id != self.id);
            if list.is_empty() {
                open.remove(&self.login);
            }
        }
    }
}
