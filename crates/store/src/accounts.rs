//! The proxy's accounts and the event log (migration 6). An account is a
//! mailbox of a project seen through the proxy: where it is served
//! (source, moving, destination), the hash of the password its user logs in
//! with, and when it logged in and moved. State changes are conditional
//! (`from` → `to`), so two proxies sharing a store cannot both start the
//! final pass of one account.

use sqlx::Row;

use crate::{db, Store, StoreError};

/// Where an account's sessions go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServedBy {
    Source,
    /// The final pass runs: logins are asked to try again later.
    Moving,
    Destination,
}

impl ServedBy {
    pub fn as_str(self) -> &'static str {
        match self {
            ServedBy::Source => "source",
            ServedBy::Moving => "moving",
            ServedBy::Destination => "destination",
        }
    }

    pub fn parse(s: &str) -> Option<ServedBy> {
        match s {
            "source" => Some(ServedBy::Source),
            "moving" => Some(ServedBy::Moving),
            "destination" => Some(ServedBy::Destination),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountRow {
    pub login: String,
    pub served_by: ServedBy,
    /// Argon2id, PHC string format.
    pub password_hash: Option<String>,
    pub first_login_at: i64,
    pub last_login_at: i64,
    pub moved_at: Option<i64>,
    pub following: bool,
    /// Why the last move failed, if it did.
    pub detail: Option<String>,
    /// When `served_by` last changed (none: never since it was seen).
    pub changed_at: Option<i64>,
}

/// One entry of the event log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRow {
    pub at: i64,
    pub login: Option<String>,
    /// `login`, `capture`, `move`, `refusal`, ...
    pub kind: String,
    pub client: Option<String>,
    pub outcome: String,
}

const COLUMNS: &str =
    "login, served_by, password_hash, first_login_at, last_login_at, moved_at, following, detail, changed_at";

fn account(r: &sqlx::any::AnyRow) -> Result<AccountRow, StoreError> {
    let served: String = r.try_get(1).map_err(db("read"))?;
    Ok(AccountRow {
        login: r.try_get(0).map_err(db("read"))?,
        served_by: ServedBy::parse(&served).ok_or_else(|| {
            StoreError::Invalid(format!("unknown account state {served:?} in the store"))
        })?,
        password_hash: r.try_get(2).map_err(db("read"))?,
        first_login_at: r.try_get(3).map_err(db("read"))?,
        last_login_at: r.try_get(4).map_err(db("read"))?,
        moved_at: r.try_get(5).map_err(db("read"))?,
        following: r.try_get::<i64, _>(6).map_err(db("read"))? != 0,
        detail: r.try_get(7).map_err(db("read"))?,
        changed_at: r.try_get(8).map_err(db("read"))?,
    })
}

impl Store {
    pub async fn account(
        &self,
        project: &str,
        login: &str,
    ) -> Result<Option<AccountRow>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM accounts WHERE project = $1 AND login = $2");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(project)
            .bind(login)
            .fetch_all(&self.pool)
            .await
            .map_err(db("read"))?;
        rows.first().map(account).transpose()
    }

    pub async fn accounts(&self, project: &str) -> Result<Vec<AccountRow>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM accounts WHERE project = $1 ORDER BY login");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(project)
            .fetch_all(&self.pool)
            .await
            .map_err(db("read"))?;
        rows.iter().map(account).collect()
    }

    /// Adds an account or updates its hash and last login (its state and
    /// first login stay).
    pub async fn put_account(&self, project: &str, a: &AccountRow) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO accounts (project, login, served_by, password_hash, first_login_at, last_login_at, moved_at, following, detail) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (project, login) DO UPDATE SET password_hash = excluded.password_hash, last_login_at = excluded.last_login_at",
        )
        .bind(project)
        .bind(&a.login)
        .bind(a.served_by.as_str())
        .bind(&a.password_hash)
        .bind(a.first_login_at)
        .bind(a.last_login_at)
        .bind(a.moved_at)
        .bind(i64::from(a.following))
        .bind(&a.detail)
        .execute(&self.pool)
        .await
        .map_err(db("write"))?;
        Ok(())
    }

    /// Moves an account from `from` to `to` if it is in `from`; whether it
    /// was. `detail` is recorded (a failed move's reason, or cleared).
    pub async fn set_served_by(
        &self,
        project: &str,
        login: &str,
        from: ServedBy,
        to: ServedBy,
        now: i64,
        detail: Option<&str>,
    ) -> Result<bool, StoreError> {
        let moved = to == ServedBy::Destination;
        let n = sqlx::query(
            "UPDATE accounts SET served_by = $1, detail = $2, changed_at = $4, \
             moved_at = CASE WHEN $3 = 1 THEN $4 ELSE moved_at END, \
             following = CASE WHEN $3 = 1 THEN 1 ELSE following END \
             WHERE project = $5 AND login = $6 AND served_by = $7",
        )
        .bind(to.as_str())
        .bind(detail)
        .bind(i64::from(moved))
        .bind(now)
        .bind(project)
        .bind(login)
        .bind(from.as_str())
        .execute(&self.pool)
        .await
        .map_err(db("write"))?
        .rows_affected();
        Ok(n == 1)
    }

    /// Ends (or resumes) the short delta passes of moved accounts.
    pub async fn set_following(
        &self,
        project: &str,
        login: Option<&str>,
        on: bool,
    ) -> Result<u64, StoreError> {
        let n = sqlx::query(
            "UPDATE accounts SET following = $1 WHERE project = $2 AND ($3 = '' OR login = $3) AND served_by = 'destination'",
        )
        .bind(i64::from(on))
        .bind(project)
        .bind(login.unwrap_or(""))
        .execute(&self.pool)
        .await
        .map_err(db("write"))?
        .rows_affected();
        Ok(n)
    }

    pub async fn record_event(&self, project: &str, e: &EventRow) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO events (project, at, login, kind, client, outcome) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(project)
        .bind(e.at)
        .bind(&e.login)
        .bind(&e.kind)
        .bind(&e.client)
        .bind(&e.outcome)
        .execute(&self.pool)
        .await
        .map_err(db("write"))?;
        Ok(())
    }

    /// The newest `limit` events of a project (or of one account), newest first.
    pub async fn events(
        &self,
        project: &str,
        login: Option<&str>,
        limit: i64,
    ) -> Result<Vec<EventRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT at, login, kind, client, outcome FROM events \
             WHERE project = $1 AND ($2 = '' OR login = $2) ORDER BY at DESC LIMIT $3",
        )
        .bind(project)
        .bind(login.unwrap_or(""))
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(db("read"))?;
        rows.iter()
            .map(|r| {
                Ok(EventRow {
                    at: r.try_get(0).map_err(db("read"))?,
                    login: r.try_get(1).map_err(db("read"))?,
                    kind: r.try_get(2).map_err(db("read"))?,
                    client: r.try_get(3).map_err(db("read"))?,
                    outcome: r.try_get(4).map_err(db("read"))?,
                })
            })
            .collect()
    }
}
