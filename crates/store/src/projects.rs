//! Projects, their mailboxes and passes, and the leases by which workers
//! (in one process or on many machines) share a project's mailboxes.
//!
//! The store keeps what the project crate hands it: settings as JSON and
//! secrets already encrypted. Claims are one statement each, so two workers
//! never hold the same mailbox: on PostgreSQL `FOR UPDATE SKIP LOCKED` picks
//! a row no other claim is taking; on SQLite the single writer makes the
//! conditional `UPDATE ... RETURNING` atomic.

use std::str::FromStr;

use sqlx::any::AnyRow;
use sqlx::Row;

use mailport_mail::date::now;

use crate::{db, Params, Store, StoreError};

/// Where a mailbox is in its migration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MailboxState {
    NotStarted,
    Queued,
    Running,
    Completed,
    Failed,
    WaitingForCredentials,
    Stopped,
}

impl MailboxState {
    pub fn as_str(self) -> &'static str {
        match self {
            MailboxState::NotStarted => "not-started",
            MailboxState::Queued => "queued",
            MailboxState::Running => "running",
            MailboxState::Completed => "completed",
            MailboxState::Failed => "failed",
            MailboxState::WaitingForCredentials => "waiting-for-credentials",
            MailboxState::Stopped => "stopped",
        }
    }

    pub const ALL: [MailboxState; 7] = [
        MailboxState::NotStarted,
        MailboxState::Queued,
        MailboxState::Running,
        MailboxState::Completed,
        MailboxState::Failed,
        MailboxState::WaitingForCredentials,
        MailboxState::Stopped,
    ];
}

impl FromStr for MailboxState {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        MailboxState::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| StoreError::Invalid(format!("unknown mailbox state {s:?}")))
    }
}

impl std::fmt::Display for MailboxState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectRow {
    pub name: String,
    /// The project's settings as JSON (no secrets).
    pub settings: String,
    /// A known text encrypted with the project key: proves a key is the
    /// project's before anything is decrypted with it.
    pub key_check: String,
    pub created_at: i64,
}

/// A mailbox as the store keeps it; secrets are ciphertexts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MailboxRow {
    pub project: String,
    pub login: String,
    /// `password`, `admin` (impersonation) or `ask` (the end user is asked).
    pub source_auth: String,
    pub source_secret: Option<String>,
    pub destination_login: String,
    pub destination_auth: String,
    pub destination_secret: Option<String>,
    /// Per-mailbox settings over the project's (JSON).
    pub overrides: String,
    pub state: String,
    /// The pass running or last run.
    pub pass: Option<String>,
    pub error: Option<String>,
    pub retryable: bool,
    /// Failed attempts in a row (back-off).
    pub attempts: i64,
    /// Not to be claimed before this time (back-off after a failure).
    pub not_before: i64,
    /// Bytes on the source when last seen (biggest first).
    pub size_hint: i64,
    pub lease_owner: Option<String>,
    pub lease_until: Option<i64>,
    pub stop_requested: bool,
    pub last_good_at: Option<i64>,
    pub updated_at: i64,
}

impl MailboxRow {
    pub fn state(&self) -> Result<MailboxState, StoreError> {
        self.state.parse()
    }
}

/// One pass over a mailbox.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct PassRow {
    pub project: String,
    pub login: String,
    /// Unix milliseconds.
    pub started_at: i64,
    /// `verify-credentials`, `prestage`, `full`, `delta`, `verify`.
    pub kind: String,
    pub duration_ms: i64,
    pub source_messages: i64,
    pub copied: i64,
    pub already_present: i64,
    pub skipped: i64,
    pub failed: i64,
    pub bytes: i64,
    /// `ok`, `failed`, `interrupted`.
    pub outcome: String,
    pub detail: Option<String>,
    /// Skipped and failed messages by reason, as JSON
    /// (`{"skipped": {"reason": n}, "failed": {...}}`).
    pub reasons: String,
    /// The verify that ended the pass: `ok`, `failed`, or none.
    pub verified: Option<String>,
}

const MAILBOX_COLUMNS: &str = "project, login, source_auth, source_secret, destination_login, \
     destination_auth, destination_secret, overrides, state, pass, error, retryable, attempts, \
     not_before, size_hint, lease_owner, lease_until, stop_requested, last_good_at, updated_at";

/// A column that cannot be read as its type.
fn unreadable(source: sqlx::Error) -> StoreError {
    StoreError::Db {
        what: "read".into(),
        source,
    }
}

fn mailbox(r: &AnyRow) -> Result<MailboxRow, StoreError> {
    let go = unreadable;
    Ok(MailboxRow {
        project: r.try_get(0).map_err(go)?,
        login: r.try_get(1).map_err(go)?,
        source_auth: r.try_get(2).map_err(go)?,
        source_secret: r.try_get(3).map_err(go)?,
        destination_login: r.try_get(4).map_err(go)?,
        destination_auth: r.try_get(5).map_err(go)?,
        destination_secret: r.try_get(6).map_err(go)?,
        overrides: r.try_get(7).map_err(go)?,
        state: r.try_get(8).map_err(go)?,
        pass: r.try_get(9).map_err(go)?,
        error: r.try_get(10).map_err(go)?,
        retryable: r.try_get::<i64, _>(11).map_err(go)? != 0,
        attempts: r.try_get(12).map_err(go)?,
        not_before: r.try_get(13).map_err(go)?,
        size_hint: r.try_get(14).map_err(go)?,
        lease_owner: r.try_get(15).map_err(go)?,
        lease_until: r.try_get(16).map_err(go)?,
        stop_requested: r.try_get::<i64, _>(17).map_err(go)? != 0,
        last_good_at: r.try_get(18).map_err(go)?,
        updated_at: r.try_get(19).map_err(go)?,
    })
}

/// How a worker's pass over a claimed mailbox ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finish {
    pub state: MailboxState,
    pub error: Option<String>,
    pub retryable: bool,
    /// Not to be claimed again before (a retry's back-off).
    pub not_before: i64,
    pub size_hint: Option<i64>,
    /// The pass succeeded now: the mailbox's last good time.
    pub good: bool,
}

impl Store {
    pub async fn create_project(&self, p: &ProjectRow) -> Result<(), StoreError> {
        let exists = self.project(&p.name).await?.is_some();
        if exists {
            return Err(StoreError::Invalid(format!(
                "a project named {:?} exists already",
                p.name
            )));
        }
        sqlx::query(
            "INSERT INTO projects (name, settings, key_check, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(&p.name)
        .bind(&p.settings)
        .bind(&p.key_check)
        .bind(p.created_at)
        .execute(&self.pool)
        .await
        .map_err(db("write"))?;
        Ok(())
    }

    pub async fn update_project_settings(
        &self,
        name: &str,
        settings: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE projects SET settings = $1 WHERE name = $2")
            .bind(settings)
            .bind(name)
            .execute(&self.pool)
            .await
            .map_err(db("write"))?;
        Ok(())
    }

    pub async fn project(&self, name: &str) -> Result<Option<ProjectRow>, StoreError> {
        let row = sqlx::query(
            "SELECT name, settings, key_check, created_at FROM projects WHERE name = $1",
        )
        .bind(name)
        .fetch_all(&self.pool)
        .await
        .map(|rows| rows.into_iter().next())
        .map_err(db("read"))?;
        row.map(|r| {
            Ok(ProjectRow {
                name: r.try_get(0).map_err(db("read"))?,
                settings: r.try_get(1).map_err(db("read"))?,
                key_check: r.try_get(2).map_err(db("read"))?,
                created_at: r.try_get(3).map_err(db("read"))?,
            })
        })
        .transpose()
    }

    /// Every project's name, with its mailboxes counted by state.
    pub async fn projects(&self) -> Result<Vec<(String, Vec<(String, i64)>)>, StoreError> {
        let names: Vec<String> = sqlx::query("SELECT name FROM projects ORDER BY name")
            .fetch_all(&self.pool)
            .await
            .map_err(db("read"))?
            .iter()
            .map(|r| r.try_get(0))
            .collect::<Result<_, _>>()
            .map_err(db("read"))?;
        let counts = sqlx::query(
            "SELECT project, state, COUNT(*) FROM mailboxes GROUP BY project, state ORDER BY project, state",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db("read"))?;
        let mut out: Vec<(String, Vec<(String, i64)>)> =
            names.into_iter().map(|n| (n, Vec::new())).collect();
        for r in counts {
            let project: String = r.try_get(0).map_err(db("read"))?;
            if let Some((_, v)) = out.iter_mut().find(|(n, _)| *n == project) {
                v.push((
                    r.try_get(1).map_err(db("read"))?,
                    r.try_get(2).map_err(db("read"))?,
                ));
            }
        }
        Ok(out)
    }

    /// Deletes a project, its mailboxes and passes, and the ledger of its
    /// mailboxes (filed under `ledger_prefix`).
    pub async fn delete_project(&self, name: &str, ledger_prefix: &str) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(db("write"))?;
        for table in ["passes", "mailboxes", "accounts", "events"] {
            let sql = format!("DELETE FROM {table} WHERE project = $1");
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(name)
                .execute(&mut *tx)
                .await
                .map_err(db("write"))?;
        }
        for table in ["ledger", "folder_state", "source_uids"] {
            // Prefix match without LIKE (whose wildcards a name may contain).
            let sql = format!("DELETE FROM {table} WHERE substr(pair, 1, length($1)) = $1");
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(ledger_prefix)
                .execute(&mut *tx)
                .await
                .map_err(db("write"))?;
        }
        sqlx::query("DELETE FROM projects WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(db("write"))?;
        tx.commit().await.map_err(db("write"))
    }

    /// Adds mailboxes or updates them in place (by login), in one
    /// transaction: credentials, destination login and overrides are
    /// replaced; a mailbox whose credentials changed and that failed for
    /// them, or waited for them, can run again. Its history stays.
    pub async fn put_mailboxes(&self, rows: &[MailboxRow]) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(db("write"))?;
        crate::lock_for_writing(&mut tx).await?;
        let t = now();
        // The rows already there: a few by their keys (the proxy adds one
        // mailbox per first login), many by reading the project once (a
        // 10,000-line file is a few round trips, not 20,000). New ones go
        // in multi-row INSERTs.
        let mut existing = std::collections::HashMap::new();
        let mut found = Vec::new();
        if rows.len() <= 50 {
            let sql = format!(
                "SELECT {MAILBOX_COLUMNS} FROM mailboxes WHERE project = $1 AND login = $2"
            );
            for m in rows {
                found.extend(
                    sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                        .bind(&m.project)
                        .bind(&m.login)
                        .fetch_all(&mut *tx)
                        .await
                        .map_err(db("read"))?,
                );
            }
        } else {
            let projects: std::collections::BTreeSet<&str> =
                rows.iter().map(|m| m.project.as_str()).collect();
            let sql = format!("SELECT {MAILBOX_COLUMNS} FROM mailboxes WHERE project = $1");
            for project in projects {
                found.extend(
                    sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                        .bind(project)
                        .fetch_all(&mut *tx)
                        .await
                        .map_err(db("read"))?,
                );
            }
        }
        for r in &found {
            let m = mailbox(r)?;
            existing.insert((m.project.clone(), m.login.clone()), m);
        }
        // A login given twice counts once, as given last.
        let mut seen = std::collections::HashSet::new();
        let mut unique: Vec<&MailboxRow> = rows
            .iter()
            .rev()
            .filter(|m| seen.insert((m.project.as_str(), m.login.as_str())))
            .collect();
        unique.reverse();
        let (updates, inserts): (Vec<&MailboxRow>, Vec<&MailboxRow>) = unique
            .into_iter()
            .partition(|m| existing.contains_key(&(m.project.clone(), m.login.clone())));
        // 20 parameters a row: far below both engines' limits per statement.
        for chunk in inserts.chunks(500) {
            let sql = format!(
                "INSERT INTO mailboxes ({MAILBOX_COLUMNS}) VALUES {}",
                self.params.rows(chunk.len(), 20)
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for m in chunk {
                q = bind_mailbox(q, m, t);
            }
            q.execute(&mut *tx).await.map_err(db("write"))?;
        }
        for m in updates {
            let old = existing
                .remove(&(m.project.clone(), m.login.clone()))
                .expect("partitioned by presence");
            let credentials_changed = old.source_auth != m.source_auth
                || old.source_secret != m.source_secret
                || old.destination_auth != m.destination_auth
                || old.destination_secret != m.destination_secret
                || old.destination_login != m.destination_login;
            let old_state = old.state()?;
            let state = match old_state {
                MailboxState::WaitingForCredentials | MailboxState::Failed
                    if credentials_changed =>
                {
                    m.state.clone()
                }
                _ => old.state.clone(),
            };
            let reset = credentials_changed && old_state == MailboxState::Failed;
            sqlx::query(
                "UPDATE mailboxes SET source_auth = $1, source_secret = $2, destination_login = $3, \
                 destination_auth = $4, destination_secret = $5, overrides = $6, state = $7, \
                 error = $8, attempts = $9, updated_at = $10 WHERE project = $11 AND login = $12",
            )
            .bind(&m.source_auth)
            .bind(&m.source_secret)
            .bind(&m.destination_login)
            .bind(&m.destination_auth)
            .bind(&m.destination_secret)
            .bind(&m.overrides)
            .bind(state)
            .bind(if reset { None } else { old.error })
            .bind(if reset { 0 } else { old.attempts })
            .bind(t)
            .bind(&m.project)
            .bind(&m.login)
            .execute(&mut *tx)
            .await
            .map_err(db("write"))?;
        }
        tx.commit().await.map_err(db("write"))
    }

    /// Every mailbox of a project, by login, in one query.
    pub async fn mailboxes(&self, project: &str) -> Result<Vec<MailboxRow>, StoreError> {
        let sql =
            format!("SELECT {MAILBOX_COLUMNS} FROM mailboxes WHERE project = $1 ORDER BY login");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(project)
            .fetch_all(&self.pool)
            .await
            .map_err(db("read"))?
            .iter()
            .map(mailbox)
            .collect()
    }

    pub async fn mailbox(
        &self,
        project: &str,
        login: &str,
    ) -> Result<Option<MailboxRow>, StoreError> {
        let sql =
            format!("SELECT {MAILBOX_COLUMNS} FROM mailboxes WHERE project = $1 AND login = $2");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(project)
            .bind(login)
            .fetch_all(&self.pool)
            .await
            .map(|rows| rows.into_iter().next())
            .map_err(db("read"))?
            .map(|r| mailbox(&r))
            .transpose()
    }

    /// Removes a mailbox and its history (its ledger is the caller's to drop).
    pub async fn remove_mailbox(&self, project: &str, login: &str) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.map_err(db("write"))?;
        for table in ["passes", "accounts"] {
            let sql = format!("DELETE FROM {table} WHERE project = $1 AND login = $2");
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(project)
                .bind(login)
                .execute(&mut *tx)
                .await
                .map_err(db("write"))?;
        }
        let n = sqlx::query("DELETE FROM mailboxes WHERE project = $1 AND login = $2")
            .bind(project)
            .bind(login)
            .execute(&mut *tx)
            .await
            .map_err(db("write"))?
            .rows_affected();
        tx.commit().await.map_err(db("write"))?;
        Ok(n > 0)
    }

    /// Queues the mailboxes in `from` states (all of the project's, or the
    /// `only` logins) for `pass`; how many.
    pub async fn queue(
        &self,
        project: &str,
        from: &[MailboxState],
        only: &[String],
        pass: &str,
    ) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await.map_err(db("write"))?;
        let t = now();
        let mut n = 0;
        for state in from {
            let sql = "UPDATE mailboxes SET state = $1, pass = $2, stop_requested = 0, \
                       updated_at = $3 WHERE project = $4 AND state = $5";
            if only.is_empty() {
                n += sqlx::query(sql)
                    .bind(MailboxState::Queued.as_str())
                    .bind(pass)
                    .bind(t)
                    .bind(project)
                    .bind(state.as_str())
                    .execute(&mut *tx)
                    .await
                    .map_err(db("write"))?
                    .rows_affected();
                continue;
            }
            for login in only {
                n += sqlx::query(sqlx::AssertSqlSafe(format!("{sql} AND login = $6")))
                    .bind(MailboxState::Queued.as_str())
                    .bind(pass)
                    .bind(t)
                    .bind(project)
                    .bind(state.as_str())
                    .bind(login)
                    .execute(&mut *tx)
                    .await
                    .map_err(db("write"))?
                    .rows_affected();
            }
        }
        tx.commit().await.map_err(db("write"))?;
        Ok(n)
    }

    /// Takes the biggest queued mailbox whose back-off has passed, or a
    /// running one whose worker's lease expired (a dead worker: the ledger
    /// lets the new one resume), for `owner` until `until`. With
    /// `at_most_running`, only while fewer mailboxes run under live leases
    /// (all workers on all machines together: a per-host connection cap).
    /// None: nothing to take now.
    pub async fn claim(
        &self,
        project: &str,
        owner: &str,
        (now, until): (i64, i64),
        at_most_running: Option<i64>,
    ) -> Result<Option<MailboxRow>, StoreError> {
        let lock = match self.params {
            Params::Numbered => " FOR UPDATE SKIP LOCKED",
            Params::Anonymous => "",
        };
        let cap = match at_most_running {
            Some(_) => {
                " AND (SELECT COUNT(*) FROM mailboxes WHERE project = $4 \
                        AND state = 'running' AND lease_until >= $3) < $5"
            }
            None => "",
        };
        let sql = format!(
            "UPDATE mailboxes SET state = 'running', lease_owner = $1, lease_until = $2, updated_at = $3 \
             WHERE project = $4 AND login = (SELECT login FROM mailboxes \
               WHERE project = $4 AND ((state = 'queued' AND not_before <= $3) \
                 OR (state = 'running' AND lease_until < $3)) \
               ORDER BY size_hint DESC, login LIMIT 1{lock}){cap} \
             RETURNING {MAILBOX_COLUMNS}"
        );
        let mut tx = self.pool.begin().await.map_err(db("claim"))?;
        if at_most_running.is_some() && self.params == Params::Numbered {
            // Claims count the running mailboxes one at a time (on SQLite
            // the single writer does that already).
            sqlx::query("SELECT name FROM projects WHERE name = $1 FOR UPDATE")
                .bind(project)
                .fetch_all(&mut *tx)
                .await
                .map(|rows| rows.into_iter().next())
                .map_err(db("claim"))?;
        }
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(owner)
            .bind(until)
            .bind(now)
            .bind(project);
        if let Some(n) = at_most_running {
            q = q.bind(n);
        }
        // Every row fetched: SQLite finishes (and unlocks) an UPDATE ...
        // RETURNING only once it is stepped to its end.
        let row = q
            .fetch_all(&mut *tx)
            .await
            .map_err(db("claim"))?
            .first()
            .map(mailbox)
            .transpose()?;
        tx.commit().await.map_err(db("claim"))?;
        Ok(row)
    }

    /// Claims one named mailbox for `pass`, whatever its state, unless a
    /// live lease holds it (another worker is copying it): the proxy's
    /// final pass of an account.
    pub async fn claim_mailbox(
        &self,
        project: &str,
        login: &str,
        pass: &str,
        owner: &str,
        (now, until): (i64, i64),
    ) -> Result<Option<MailboxRow>, StoreError> {
        let sql = format!(
            "UPDATE mailboxes SET state = 'running', pass = $1, lease_owner = $2, lease_until = $3, \
             updated_at = $4, stop_requested = 0 \
             WHERE project = $5 AND login = $6 AND (state <> 'running' OR lease_until < $4) \
             RETURNING {MAILBOX_COLUMNS}"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(pass)
            .bind(owner)
            .bind(until)
            .bind(now)
            .bind(project)
            .bind(login)
            .fetch_all(&self.pool)
            .await
            .map_err(db("claim"))?
            .first()
            .map(mailbox)
            .transpose()?;
        Ok(row)
    }

    /// Extends `owner`'s lease; false when it is no longer `owner`'s (it
    /// expired and another worker took the mailbox). Also whether a stop
    /// was asked for.
    pub async fn renew(
        &self,
        project: &str,
        login: &str,
        owner: &str,
        until: i64,
    ) -> Result<(bool, bool), StoreError> {
        let row = sqlx::query(
            "UPDATE mailboxes SET lease_until = $1 WHERE project = $2 AND login = $3 \
             AND lease_owner = $4 AND state = 'running' RETURNING stop_requested",
        )
        .bind(until)
        .bind(project)
        .bind(login)
        .bind(owner)
        .fetch_all(&self.pool)
        .await
        .map_err(db("write"))?;
        match row.first() {
            None => Ok((false, false)),
            Some(r) => Ok((true, r.try_get::<i64, _>(0).map_err(db("read"))? != 0)),
        }
    }

    /// Ends `owner`'s pass over a claimed mailbox and gives it up. False
    /// when the lease was no longer `owner`'s (nothing changed).
    pub async fn finish(
        &self,
        project: &str,
        login: &str,
        owner: &str,
        f: &Finish,
    ) -> Result<bool, StoreError> {
        let t = now();
        let n = sqlx::query(
            "UPDATE mailboxes SET state = $1, error = $2, retryable = $3, not_before = $4, \
             size_hint = COALESCE($5, size_hint), last_good_at = CASE WHEN $6 = 1 THEN $7 ELSE last_good_at END, \
             attempts = CASE WHEN $6 = 1 THEN 0 ELSE attempts + 1 END, \
             lease_owner = NULL, lease_until = NULL, stop_requested = 0, updated_at = $7 \
             WHERE project = $8 AND login = $9 AND lease_owner = $10",
        )
        .bind(f.state.as_str())
        .bind(&f.error)
        .bind(i64::from(f.retryable))
        .bind(f.not_before)
        .bind(f.size_hint)
        .bind(i64::from(f.good))
        .bind(t)
        .bind(project)
        .bind(login)
        .bind(owner)
        .execute(&self.pool)
        .await
        .map_err(db("write"))?
        .rows_affected();
        Ok(n > 0)
    }

    /// Ends `holder`'s lease on a running mailbox now (its process died):
    /// the next claim takes it. Whether it was `holder`'s.
    pub async fn expire_lease(
        &self,
        project: &str,
        login: &str,
        holder: &str,
    ) -> Result<bool, StoreError> {
        let n = sqlx::query(
            "UPDATE mailboxes SET lease_until = 0 \
             WHERE project = $1 AND login = $2 AND lease_owner = $3 AND state = 'running'",
        )
        .bind(project)
        .bind(login)
        .bind(holder)
        .execute(&self.pool)
        .await
        .map_err(db("write"))?
        .rows_affected();
        Ok(n > 0)
    }

    /// Erases a mailbox's captured passwords (sealed user passwords; admin
    /// logins stay): no pass needs them any more. A side that logged in
    /// with the user's password now waits for credentials. Whether there
    /// was anything to erase.
    pub async fn forget_passwords(&self, project: &str, login: &str) -> Result<bool, StoreError> {
        let n = sqlx::query(
            "UPDATE mailboxes SET \
             source_secret = CASE WHEN source_auth = 'password' THEN NULL ELSE source_secret END, \
             source_auth = CASE WHEN source_auth = 'password' THEN 'ask' ELSE source_auth END, \
             destination_secret = CASE WHEN destination_auth = 'password' THEN NULL ELSE destination_secret END, \
             destination_auth = CASE WHEN destination_auth = 'password' THEN 'ask' ELSE destination_auth END, \
             updated_at = $1 \
             WHERE project = $2 AND login = $3 AND (source_auth = 'password' OR destination_auth = 'password')",
        )
        .bind(now())
        .bind(project)
        .bind(login)
        .execute(&self.pool)
        .await
        .map_err(db("write"))?
        .rows_affected();
        Ok(n > 0)
    }

    /// Asks the workers running these mailboxes (all when `only` is empty)
    /// to stop after the batch in flight; queued ones are stopped at once.
    pub async fn request_stop(&self, project: &str, only: &[String]) -> Result<u64, StoreError> {
        let rows = self.mailboxes(project).await?;
        let mut tx = self.pool.begin().await.map_err(db("write"))?;
        let mut n = 0;
        for m in rows
            .iter()
            .filter(|m| only.is_empty() || only.contains(&m.login))
        {
            let sql = match m.state()? {
                MailboxState::Running => {
                    "UPDATE mailboxes SET stop_requested = 1 WHERE project = $1 AND login = $2 AND state = 'running'"
                }
                MailboxState::Queued => {
                    "UPDATE mailboxes SET state = 'stopped' WHERE project = $1 AND login = $2 AND state = 'queued'"
                }
                _ => continue,
            };
            n += sqlx::query(sql)
                .bind(project)
                .bind(&m.login)
                .execute(&mut *tx)
                .await
                .map_err(db("write"))?
                .rows_affected();
        }
        tx.commit().await.map_err(db("write"))?;
        Ok(n)
    }

    pub async fn record_pass(&self, p: &PassRow) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO passes (project, login, started_at, kind, duration_ms, source_messages, copied, \
             already_present, skipped, failed, bytes, outcome, detail, reasons, verified) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) \
             ON CONFLICT (project, login, started_at, kind) DO NOTHING",
        )
        .bind(&p.project)
        .bind(&p.login)
        .bind(p.started_at)
        .bind(&p.kind)
        .bind(p.duration_ms)
        .bind(p.source_messages)
        .bind(p.copied)
        .bind(p.already_present)
        .bind(p.skipped)
        .bind(p.failed)
        .bind(p.bytes)
        .bind(&p.outcome)
        .bind(&p.detail)
        .bind(&p.reasons)
        .bind(&p.verified)
        .execute(&self.pool)
        .await
        .map_err(db("write"))?;
        Ok(())
    }

    /// Passes of a project (one mailbox's when `login` is given), oldest first.
    pub async fn passes(
        &self,
        project: &str,
        login: Option<&str>,
    ) -> Result<Vec<PassRow>, StoreError> {
        let cols = "project, login, started_at, kind, duration_ms, source_messages, copied, \
                    already_present, skipped, failed, bytes, outcome, detail, reasons, verified";
        let q = match login {
            Some(l) => sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {cols} FROM passes WHERE project = $1 AND login = $2 ORDER BY started_at"
            )))
            .bind(project)
            .bind(l),
            None => sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {cols} FROM passes WHERE project = $1 ORDER BY login, started_at"
            )))
            .bind(project),
        };
        q.fetch_all(&self.pool)
            .await
            .map_err(db("read"))?
            .iter()
            .map(|r| {
                let go = unreadable;
                Ok(PassRow {
                    project: r.try_get(0).map_err(go)?,
                    login: r.try_get(1).map_err(go)?,
                    started_at: r.try_get(2).map_err(go)?,
                    kind: r.try_get(3).map_err(go)?,
                    duration_ms: r.try_get(4).map_err(go)?,
                    source_messages: r.try_get(5).map_err(go)?,
                    copied: r.try_get(6).map_err(go)?,
                    already_present: r.try_get(7).map_err(go)?,
                    skipped: r.try_get(8).map_err(go)?,
                    failed: r.try_get(9).map_err(go)?,
                    bytes: r.try_get(10).map_err(go)?,
                    outcome: r.try_get(11).map_err(go)?,
                    detail: r.try_get(12).map_err(go)?,
                    reasons: r.try_get(13).map_err(go)?,
                    verified: r.try_get(14).map_err(go)?,
                })
            })
            .collect()
    }
}

fn bind_mailbox<'q>(
    q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    m: &'q MailboxRow,
    t: i64,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    q.bind(&m.project)
        .bind(&m.login)
        .bind(&m.source_auth)
        .bind(&m.source_secret)
        .bind(&m.destination_login)
        .bind(&m.destination_auth)
        .bind(&m.destination_secret)
        .bind(&m.overrides)
        .bind(&m.state)
        .bind(&m.pass)
        .bind(&m.error)
        .bind(i64::from(m.retryable))
        .bind(m.attempts)
        .bind(m.not_before)
        .bind(m.size_hint)
        .bind(&m.lease_owner)
        .bind(m.lease_until)
        .bind(i64::from(m.stop_requested))
        .bind(m.last_good_at)
        .bind(t)
}
