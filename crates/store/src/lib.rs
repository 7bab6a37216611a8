//! The state store: what happened to every source message, kept so that a
//! re-run (a delta pass) copies only what is new and a crash loses nothing.
//!
//! - One SQL dialect for SQLite (default, a file) and PostgreSQL (many
//!   workers): `$N` placeholders, `ON CONFLICT ... DO UPDATE`, natural keys,
//!   no autoincrement, through sqlx's `Any` driver.
//! - Migrations are embedded ([`MIGRATIONS`]) and applied in order by a small
//!   runner that records the version in `schema_version`.
//! - [`Store::record`] writes a batch of outcomes in one transaction; the
//!   engine calls it only after the destination confirmed the batch.
//! - `projects`: projects, their mailboxes (settings, encrypted secrets,
//!   state), passes, and the leases workers share mailboxes by
//!   ([`Store::claim`], [`Store::renew`], [`Store::finish`]).
//! - `accounts`: the proxy's accounts (where each is served, the captured
//!   password's hash, logins) and its event log ([`Store::set_served_by`]
//!   changes an account only from the state the caller expects).
//! - `deliveries`: mail the proxy's SMTP front passed on, per recipient
//!   (where, why), for the retirement report.
//! - Times are Unix seconds from `mailport_mail::date::now`.
//! - Errors: [`StoreError`] (the database's, or invalid content; a store
//!   written by a newer mailport is refused).

use std::collections::HashMap;
use std::path::Path;
use std::str::FromStr;

use mailport_mail::date::now;
use serde::Serialize;

mod accounts;
mod deliveries;
mod projects;
mod uids;
pub use accounts::{AccountRow, EventRow, ServedBy};
pub use deliveries::{DeliveryCount, DeliveryRow};
pub use projects::{Finish, MailboxRow, MailboxState, PassRow, ProjectRow};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Executor, Row};
pub use uids::UidRepair;

/// Embedded schema migrations: (version, SQL). Append only.
pub const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../migrations/0001_ledger.sql")),
    (
        2,
        include_str!("../migrations/0002_folder_state_counts.sql"),
    ),
    (3, include_str!("../migrations/0003_source_uids.sql")),
    (4, include_str!("../migrations/0004_unique_source_uids.sql")),
    (5, include_str!("../migrations/0005_projects.sql")),
    (6, include_str!("../migrations/0006_accounts.sql")),
    (7, include_str!("../migrations/0007_account_changed_at.sql")),
    (8, include_str!("../migrations/0008_deliveries.sql")),
];

/// Migration before which shared UIDs are renumbered (see [`uids`]).
const UNIQUE_UIDS: i64 = 4;

/// Marks the pair under which a destination without UIDs of its own (a
/// Maildir) keeps its messages' UIDs: `"{pair} [destination]"`.
pub const DESTINATION_SUFFIX: &str = " [destination]";

/// Where the state of the destination folder of a source folder generation
/// is kept: beside the source folders' in `folder_state`, under a name no
/// mailbox has (IMAP names carry no control characters).
pub fn destination_state_key(destination_folder: &str, source_uidvalidity: u32) -> String {
    format!("\u{1}destination\u{1}{destination_folder}\u{1}{source_uidvalidity}")
}

/// `key` is a [`destination_state_key`] of `destination_folder`.
fn is_destination_state_of(key: &str, destination_folder: &str) -> bool {
    key.strip_prefix("\u{1}destination\u{1}")
        .and_then(|rest| rest.strip_prefix(destination_folder))
        .is_some_and(|rest| rest.starts_with('\u{1}'))
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("state store {what}: {source}")]
    Db { what: String, source: sqlx::Error },
    #[error("state store: {0}")]
    Invalid(String),
}

fn db(what: &str) -> impl FnOnce(sqlx::Error) -> StoreError + '_ {
    move |source| StoreError::Db {
        what: what.to_string(),
        source,
    }
}

/// The final state of one source message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Copied,
    AlreadyPresent,
    Skipped,
    Failed,
    /// Copied (or found present) earlier and deleted on the destination
    /// since, by its user: not copied again unless asked for.
    DeletedOnDestination,
    /// Being appended: written before a batch is sent and replaced when the
    /// destination answers. Found on a later run, it means that run died
    /// mid-batch and the destination may still be committing it.
    InFlight,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Copied => "copied",
            Outcome::AlreadyPresent => "already-present",
            Outcome::Skipped => "skipped",
            Outcome::Failed => "failed",
            Outcome::DeletedOnDestination => "deleted-on-destination",
            Outcome::InFlight => "in-flight",
        }
    }
    /// The message is on the destination.
    pub fn is_done(self) -> bool {
        matches!(self, Outcome::Copied | Outcome::AlreadyPresent)
    }
}

impl FromStr for Outcome {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "copied" => Outcome::Copied,
            "already-present" => Outcome::AlreadyPresent,
            "skipped" => Outcome::Skipped,
            "failed" => Outcome::Failed,
            "deleted-on-destination" => Outcome::DeletedOnDestination,
            "in-flight" => Outcome::InFlight,
            other => return Err(StoreError::Invalid(format!("unknown outcome {other:?}"))),
        })
    }
}

/// One ledger row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    pub uid: u32,
    pub identity: String,
    pub size: u64,
    /// Flags as last carried to the destination (sorted).
    pub flags: Vec<String>,
    pub outcome: Outcome,
    pub reason: Option<String>,
    pub retryable: bool,
    pub dest_folder: Option<String>,
    pub dest_uidvalidity: Option<u32>,
    pub dest_uid: Option<u32>,
}

/// Identifies a source folder generation in the ledger.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FolderKey {
    /// The mailbox pair, e.g. `imaps://alice@old -> imaps://alice@new`.
    pub pair: String,
    /// Source folder, `/`-joined logical name.
    pub folder: String,
    pub uidvalidity: u32,
}

/// A source folder as a pass found it (CONDSTORE, RFC 7162).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FolderState {
    pub uidvalidity: u32,
    pub highest_modseq: u64,
    pub uidnext: Option<u32>,
    pub messages: u32,
    /// Every message ended copied or already present in that pass.
    pub complete: bool,
}

#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    params: Params,
    /// Damage found in the file and repaired when it was opened.
    repairs: std::sync::Arc<Vec<UidRepair>>,
}

impl Store {
    /// Opens (creating if needed) a SQLite file.
    pub async fn open_sqlite(path: &Path) -> Result<Store, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::Invalid(format!("cannot create {}: {e}", dir.display()))
            })?;
        }
        Store::open(&format!("sqlite://{}?mode=rwc", path.display())).await
    }

    /// Opens `sqlite://...` or `postgres://...` and applies pending migrations.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let sqlite = url.starts_with("sqlite:");
        let pool = AnyPoolOptions::new()
            .max_connections(if sqlite { 4 } else { 8 })
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if sqlite {
                        // WAL lets readers and the writer proceed together; the
                        // busy timeout makes concurrent workers wait, not fail.
                        // The timeout first: switching a connection to WAL takes a
                        // lock too, and another connection may be writing.
                        conn.execute("PRAGMA busy_timeout = 10000").await?;
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute("PRAGMA synchronous = NORMAL").await?;
                    }
                    Ok(())
                })
            })
            .connect(url)
            .await
            .map_err(db("cannot be opened"))?;
        let mut store = Store {
            pool,
            params: if sqlite {
                Params::Anonymous
            } else {
                Params::Numbered
            },
            repairs: Default::default(),
        };
        store.repairs = std::sync::Arc::new(store.migrate().await?);
        Ok(store)
    }

    /// Folders whose stored UIDs were shared by several messages (a state
    /// file written before UIDs were reserved atomically) and have been
    /// renumbered on opening: the engine finds those messages again by identity.
    pub fn repairs(&self) -> &[UidRepair] {
        &self.repairs
    }

    async fn migrate(&self) -> Result<Vec<UidRepair>, StoreError> {
        let mut repairs = Vec::new();
        self.pool
            .execute("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL PRIMARY KEY, applied_at BIGINT NOT NULL)")
            .await
            .map_err(db("migration"))?;
        let done: Vec<i64> = sqlx::query("SELECT version FROM schema_version")
            .fetch_all(&self.pool)
            .await
            .map_err(db("migration"))?
            .iter()
            .map(|r| r.get::<i64, _>(0))
            .collect();
        let known = MIGRATIONS.last().map_or(0, |(v, _)| *v);
        if let Some(newer) = done.iter().copied().filter(|v| *v > known).max() {
            return Err(StoreError::Invalid(format!(
                "it was written by a newer mailport (schema {newer}; this one knows up to {known}): upgrade mailport on this machine"
            )));
        }
        for (version, sql) in MIGRATIONS {
            if done.contains(version) {
                continue;
            }
            let mut tx = self.pool.begin().await.map_err(db("migration"))?;
            if *version == UNIQUE_UIDS {
                repairs = uids::repair_shared_uids(&mut tx).await?;
            }
            for stmt in sql.split(';').map(str::trim).filter(|s| {
                !s.lines()
                    .all(|l| l.trim().is_empty() || l.trim().starts_with("--"))
            }) {
                tx.execute(stmt).await.map_err(db("migration"))?;
            }
            sqlx::query("INSERT INTO schema_version (version, applied_at) VALUES ($1, $2)")
                .bind(*version)
                .bind(now())
                .execute(&mut *tx)
                .await
                .map_err(db("migration"))?;
            tx.commit().await.map_err(db("migration"))?;
        }
        Ok(repairs)
    }

    /// Every entry of one folder generation, by UID.
    pub async fn entries(&self, key: &FolderKey) -> Result<HashMap<u32, Entry>, StoreError> {
        let rows = sqlx::query(
            "SELECT uid, identity, size, flags, outcome, reason, retryable, dest_folder, dest_uidvalidity, dest_uid \
             FROM ledger WHERE pair = $1 AND folder = $2 AND uidvalidity = $3",
        )
        .bind(&key.pair)
        .bind(&key.folder)
        .bind(i64::from(key.uidvalidity))
        .fetch_all(&self.pool)
        .await
        .map_err(db("read"))?;
        rows.iter()
            .map(entry)
            .map(|e| e.map(|e| (e.uid, e)))
            .collect()
    }

    /// Writes outcomes in one transaction (insert or replace by key).
    pub async fn record(&self, key: &FolderKey, entries: &[Entry]) -> Result<(), StoreError> {
        if entries.is_empty() {
            return Ok(());
        }
        // One statement per many rows: each statement is a round trip to
        // the database (a thread hop for SQLite), and a copy writes a row
        // per message. A uid twice in one statement is an error for
        // PostgreSQL's ON CONFLICT; the last entry for it is what counts.
        let mut seen = std::collections::HashSet::new();
        let mut rows: Vec<&Entry> = entries
            .iter()
            .rev()
            .filter(|e| seen.insert(e.uid))
            .collect();
        rows.reverse();
        let mut tx = self.pool.begin().await.map_err(db("write"))?;
        let t = now();
        for chunk in rows.chunks(ROWS_PER_INSERT) {
            // Built from constants and row counts only: no input reaches the text.
            let sql = ledger_upsert(self.params, chunk.len());
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for e in chunk {
                q = q
                    .bind(&key.pair)
                    .bind(&key.folder)
                    .bind(i64::from(key.uidvalidity))
                    .bind(i64::from(e.uid))
                    .bind(&e.identity)
                    .bind(e.size as i64)
                    .bind(e.flags.join(" "))
                    .bind(e.outcome.as_str())
                    .bind(e.reason.clone())
                    .bind(i64::from(e.retryable))
                    .bind(e.dest_folder.clone())
                    .bind(e.dest_uidvalidity.map(i64::from))
                    .bind(e.dest_uid.map(i64::from))
                    .bind(t);
            }
            q.execute(&mut *tx).await.map_err(db("write"))?;
        }
        tx.commit().await.map_err(db("write"))
    }

    pub async fn folder_state(
        &self,
        pair: &str,
        folder: &str,
    ) -> Result<Option<FolderState>, StoreError> {
        let row = sqlx::query("SELECT uidvalidity, highest_modseq, uidnext, message_count, complete FROM folder_state WHERE pair = $1 AND folder = $2")
            .bind(pair)
            .bind(folder)
            .fetch_all(&self.pool)
            .await
            .map(|rows| rows.into_iter().next())
            .map_err(db("read"))?;
        let Some(r) = row else { return Ok(None) };
        let num =
            |i: usize| -> Result<Option<i64>, StoreError> { r.try_get(i).map_err(db("read")) };
        Ok(Some(FolderState {
            uidvalidity: num(0)?.unwrap_or(0) as u32,
            highest_modseq: num(1)?.unwrap_or(0) as u64,
            uidnext: num(2)?.map(|v| v as u32),
            messages: num(3)?.unwrap_or(0) as u32,
            complete: num(4)?.unwrap_or(0) != 0,
        }))
    }

    pub async fn set_folder_state(
        &self,
        pair: &str,
        folder: &str,
        st: &FolderState,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO folder_state (pair, folder, uidvalidity, highest_modseq, uidnext, message_count, complete, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (pair, folder) DO UPDATE SET uidvalidity = excluded.uidvalidity, highest_modseq = excluded.highest_modseq, \
             uidnext = excluded.uidnext, message_count = excluded.message_count, complete = excluded.complete, updated_at = excluded.updated_at",
        )
        .bind(pair)
        .bind(folder)
        .bind(i64::from(st.uidvalidity))
        .bind(st.highest_modseq as i64)
        .bind(st.uidnext.map(i64::from))
        .bind(i64::from(st.messages))
        .bind(i64::from(st.complete))
        .bind(now())
        .execute(&self.pool)
        .await
        .map_err(db("write"))?;
        Ok(())
    }

    /// Removes entries (e.g. after `--sync-deletes` removed their messages).
    /// Drops everything recorded about a source folder (every UIDVALIDITY)
    /// and the state of its destination folder: for a destination folder
    /// that is gone, whose messages must be copied again. Returns how many
    /// messages the ledger said were there.
    pub async fn forget_folder(
        &self,
        pair: &str,
        folder: &str,
        destination_folder: &str,
    ) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await.map_err(db("write"))?;
        lock_for_writing(&mut tx).await?;
        let done: i64 = sqlx::query(
            "SELECT COUNT(*) FROM ledger WHERE pair = $1 AND folder = $2 AND outcome IN ('copied', 'already-present')",
        )
        .bind(pair)
        .bind(folder)
        .fetch_all(&mut *tx)
        .await
        .map_err(db("read"))?
        .into_iter()
        .next()
        .ok_or_else(|| StoreError::Invalid("a query returned no row".into()))?
        .try_get(0)
        .map_err(db("read"))?;
        sqlx::query("DELETE FROM ledger WHERE pair = $1 AND folder = $2")
            .bind(pair)
            .bind(folder)
            .execute(&mut *tx)
            .await
            .map_err(db("write"))?;
        drop_folder_states(&mut tx, pair, folder, destination_folder).await?;
        tx.commit().await.map_err(db("write"))?;
        Ok(done as u64)
    }

    pub async fn forget(&self, key: &FolderKey, uids: &[u32]) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(db("write"))?;
        for uid in uids {
            sqlx::query("DELETE FROM ledger WHERE pair = $1 AND folder = $2 AND uidvalidity = $3 AND uid = $4")
                .bind(&key.pair)
                .bind(&key.folder)
                .bind(i64::from(key.uidvalidity))
                .bind(i64::from(*uid))
                .execute(&mut *tx)
                .await
                .map_err(db("write"))?;
        }
        tx.commit().await.map_err(db("write"))
    }
}

/// Takes the database's write lock at the start of a transaction that reads
/// before it writes. SQLite (WAL) cannot turn a read transaction into a
/// write transaction once another connection has written since it read: it
/// fails at once with "database is locked" instead of waiting its turn. A
/// write first makes the transaction wait for the lock, then read what is
/// current. (PostgreSQL needs nothing: the statement changes no row.)
pub(crate) async fn lock_for_writing(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE schema_version SET version = version WHERE 1 = 0")
        .execute(&mut **tx)
        .await
        .map_err(db("write"))?;
    Ok(())
}

/// Deletes the remembered state of `folder` and that of the destination
/// folder `destination_folder` (for every source UIDVALIDITY), so that the
/// next pass reads both instead of skipping them as unchanged.
pub(crate) async fn drop_folder_states(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    pair: &str,
    folder: &str,
    destination_folder: &str,
) -> Result<(), StoreError> {
    let states: Vec<String> = sqlx::query("SELECT folder FROM folder_state WHERE pair = $1")
        .bind(pair)
        .fetch_all(&mut **tx)
        .await
        .map_err(db("read"))?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()
        .map_err(db("read"))?;
    for state in states
        .iter()
        .filter(|s| *s == folder || is_destination_state_of(s, destination_folder))
    {
        sqlx::query("DELETE FROM folder_state WHERE pair = $1 AND folder = $2")
            .bind(pair)
            .bind(state)
            .execute(&mut **tx)
            .await
            .map_err(db("write"))?;
    }
    Ok(())
}

fn entry(r: &AnyRow) -> Result<Entry, StoreError> {
    let get_u32 = |i: usize| -> Result<Option<u32>, StoreError> {
        let v: Option<i64> = r.try_get(i).map_err(db("read"))?;
        Ok(v.and_then(|v| u32::try_from(v).ok()))
    };
    let flags: String = r.try_get(3).map_err(db("read"))?;
    let outcome: String = r.try_get(4).map_err(db("read"))?;
    Ok(Entry {
        uid: get_u32(0)?.ok_or_else(|| StoreError::Invalid("UID out of range".into()))?,
        identity: r.try_get(1).map_err(db("read"))?,
        size: r.try_get::<i64, _>(2).map_err(db("read"))? as u64,
        flags: flags.split_whitespace().map(str::to_string).collect(),
        outcome: outcome.parse()?,
        reason: r.try_get(5).map_err(db("read"))?,
        retryable: r.try_get::<i64, _>(6).map_err(db("read"))? != 0,
        dest_folder: r.try_get(7).map_err(db("read"))?,
        dest_uidvalidity: get_u32(8)?,
        dest_uid: get_u32(9)?,
    })
}

/// Ledger rows per INSERT: 14 parameters each stays far below SQLite's
/// 32,766 and PostgreSQL's 65,535 parameters per statement.
const ROWS_PER_INSERT: usize = 500;
const LEDGER_COLUMNS: usize = 14;

/// How a multi-row statement names its parameters. PostgreSQL needs `$N`;
/// SQLite takes anonymous `?`, and must get them: sqlx binds `$N` by
/// looking each name up in SQLite's list of names, a linear scan per
/// parameter, so a statement of thousands of `$N` costs quadratic time (it
/// was a quarter of mailport's CPU in a 10,000-message copy).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Params {
    Numbered,
    Anonymous,
}

impl Params {
    /// `$3, $4, $5` (from `first`, `n` of them) or `?, ?, ?`.
    pub(crate) fn list(self, first: usize, n: usize) -> String {
        (first..first + n)
            .map(|i| match self {
                Params::Numbered => format!("${i}"),
                Params::Anonymous => "?".into(),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// `a = $1 AND b = $2` (or with `?`).
    pub(crate) fn conditions(self, columns: &[&str]) -> String {
        columns
            .iter()
            .enumerate()
            .map(|(i, c)| match self {
                Params::Numbered => format!("{c} = ${}", i + 1),
                Params::Anonymous => format!("{c} = ?"),
            })
            .collect::<Vec<_>>()
            .join(" AND ")
    }

    /// `VALUES` rows of `columns` parameters each: `($1, $2), ($3, $4)` or `(?, ?), (?, ?)`.
    pub(crate) fn rows(self, rows: usize, columns: usize) -> String {
        use std::fmt::Write as _;
        let mut sql = String::new();
        for r in 0..rows {
            sql.push_str(if r == 0 { "(" } else { ", (" });
            for c in 0..columns {
                let sep = if c == 0 { "" } else { ", " };
                match self {
                    Params::Numbered => {
                        let _ = write!(sql, "{sep}${}", r * columns + c + 1);
                    }
                    Params::Anonymous => {
                        let _ = write!(sql, "{sep}?");
                    }
                }
            }
            sql.push(')');
        }
        sql
    }
}

/// `INSERT INTO ledger … VALUES (…), (…) ON CONFLICT … DO UPDATE` for
/// `rows` rows, in the column order [`Store::record`] binds.
fn ledger_upsert(params: Params, rows: usize) -> String {
    let mut sql = String::from(
        "INSERT INTO ledger (pair, folder, uidvalidity, uid, identity, size, flags, outcome, reason, retryable, dest_folder, dest_uidvalidity, dest_uid, updated_at) VALUES ",
    );
    sql.push_str(&params.rows(rows, LEDGER_COLUMNS));
    sql.push_str(
        " ON CONFLICT (pair, folder, uidvalidity, uid) DO UPDATE SET \
         identity = excluded.identity, size = excluded.size, flags = excluded.flags, outcome = excluded.outcome, \
         reason = excluded.reason, retryable = excluded.retryable, dest_folder = excluded.dest_folder, \
         dest_uidvalidity = excluded.dest_uidvalidity, dest_uid = excluded.dest_uid, updated_at = excluded.updated_at",
    );
    sql
}

#[cfg(test)]
mod tests {
    use super::MIGRATIONS;

    /// Migrations are split at ';' (the `Any` driver runs one statement at a
    /// time): one in a comment cuts a statement in two.
    #[test]
    fn migration_comments_hold_no_semicolon() {
        for (version, sql) in MIGRATIONS {
            for line in sql.lines().filter(|l| l.trim_start().starts_with("--")) {
                assert!(!line.contains(';'), "migration {version}: {line}");
            }
        }
    }

    use super::*;

    fn e(uid: u32, outcome: Outcome) -> Entry {
        Entry {
            uid,
            identity: format!("mid:<{uid}@x>"),
            size: 100 + u64::from(uid),
            flags: vec!["\\Seen".into(), "$Label1".into()],
            outcome,
            reason: (outcome == Outcome::Failed).then(|| "destination refused it: too big".into()),
            retryable: false,
            dest_folder: Some("Sent".into()),
            dest_uidvalidity: Some(7),
            dest_uid: Some(uid + 1000),
        }
    }

    #[tokio::test]
    async fn sqlite_round_trip_upsert_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/state.db");
        let key = FolderKey {
            pair: "a -> b".into(),
            folder: "INBOX".into(),
            uidvalidity: 5,
        };
        {
            let s = Store::open_sqlite(&path).await.unwrap();
            s.record(&key, &[e(1, Outcome::Copied), e(2, Outcome::Failed)])
                .await
                .unwrap();
            s.record(&key, &[e(2, Outcome::Copied)]).await.unwrap();
        }
        // Reopening applies no migration twice and finds the rows.
        let s = Store::open_sqlite(&path).await.unwrap();
        let got = s.entries(&key).await.unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[&1], e(1, Outcome::Copied));
        assert_eq!(got[&2].outcome, Outcome::Copied);
        let other = FolderKey {
            uidvalidity: 6,
            ..key.clone()
        };
        assert!(s.entries(&other).await.unwrap().is_empty());
        s.forget(&key, &[1]).await.unwrap();
        assert_eq!(s.entries(&key).await.unwrap().len(), 1);
        assert_eq!(s.folder_state("a -> b", "INBOX").await.unwrap(), None);
        let st = FolderState {
            uidvalidity: 5,
            highest_modseq: u64::from(u32::MAX) + 7,
            uidnext: Some(9),
            messages: 8,
            complete: true,
        };
        s.set_folder_state("a -> b", "INBOX", &st).await.unwrap();
        s.set_folder_state("a -> b", "INBOX", &st).await.unwrap();
        assert_eq!(s.folder_state("a -> b", "INBOX").await.unwrap(), Some(st));
    }

    #[test]
    fn parameters_are_numbered_for_postgresql_and_anonymous_for_sqlite() {
        assert_eq!(Params::Numbered.rows(2, 3), "($1, $2, $3), ($4, $5, $6)");
        assert_eq!(Params::Anonymous.rows(2, 2), "(?, ?), (?, ?)");
        assert_eq!(Params::Numbered.list(3, 2), "$3, $4");
        assert_eq!(Params::Anonymous.list(3, 2), "?, ?");
        assert_eq!(
            Params::Numbered.conditions(&["a", "b"]),
            "a = $1 AND b = $2"
        );
        assert_eq!(Params::Anonymous.conditions(&["a"]), "a = ?");
    }

    #[tokio::test]
    async fn bad_location_is_a_clear_error() {
        let err = Store::open_sqlite(Path::new("/proc/no/such/dir/state.db"))
            .await
            .err()
            .expect("must fail");
        assert!(err.to_string().contains("cannot create"), "{err}");
    }
}
