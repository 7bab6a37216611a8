//! Open sessions on the old server, by account: when an account starts its
//! final pass, its sessions there are closed (`* BYE`), so that no client
//! changes mail on the old server while it is copied for the last time.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mailport_project::Project;
use mailport_store::ServedBy;
use tokio::sync::Notify;

/// A session's number and what tells it to close.
type Open = (u64, Arc<Notify>);

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
    pub closing: Arc<Notify>,
}

impl Sessions {
    pub fn register(self: &Arc<Self>, login: &str) -> Registered {
        let id = {
            let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
            *next += 1;
            *next
        };
        let closing = Arc::new(Notify::new());
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.entry(login.to_string())
            .or_default()
            .push((id, closing.clone()));
        Registered {
            sessions: self.clone(),
            login: login.to_string(),
            id,
            closing,
        }
    }

    fn logins(&self) -> Vec<String> {
        let open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.keys().cloned().collect()
    }

    /// Closes every open session of `login`; how many.
    fn close(&self, login: &str) -> usize {
        let open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let sessions = open.get(login).map(Vec::as_slice).unwrap_or_default();
        for (_, closing) in sessions {
            // A permit is kept if the relay is not waiting yet.
            closing.notify_one();
        }
        sessions.len()
    }

    /// Every second, closes the old-server sessions of accounts that are no
    /// longer served there (their final pass began, here or elsewhere).
    pub async fn watch(self: Arc<Self>, project: Arc<Project>, cancel: mailport_engine::Cancel) {
        while !cancel.is_cancelled() {
            tokio::time::sleep(Duration::from_secs(1)).await;
            for login in self.logins() {
                let served = project.store.account(&project.name, &login).await;
                if let Ok(Some(a)) = served {
                    if a.served_by != ServedBy::Source {
                        let n = self.close(&login);
                        tracing::info!("closed {n} session(s) of {login} on the old server: its final pass began");
                    }
                }
            }
        }
    }
}

impl Drop for Registered {
    fn drop(&mut self) {
        let mut open = self.sessions.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(list) = open.get_mut(&self.login) {
            list.retain(|(id, _)| *id != self.id);
            if list.is_empty() {
                open.remove(&self.login);
            }
        }
    }
}
