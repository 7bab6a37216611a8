//! Stable UIDs for the messages of stores that have none (Maildir, mbox,
//! POP3, and a Maildir destination): one number per message key, given once
//! and kept, unique per folder.
//!
//! Numbers are reserved from a per-folder counter (`uid_next`) with one
//! atomic upsert, and the database refuses a second key with the same UID
//! (`source_uids_uid`), so several connections numbering one folder at once
//! cannot share a UID. A key two connections number at the same moment keeps
//! the first number written; the other's reserved number is simply unused.

use std::collections::HashMap;

use sqlx::{Any, Row, Transaction};

use crate::{db, Store, StoreError};

/// Keys per multi-row INSERT (4 parameters each).
const KEYS_PER_INSERT: usize = 500;

/// A folder whose stored UIDs were shared by several messages (written by a
/// version before UIDs were reserved atomically), and what was done about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UidRepair {
    /// The mailbox pair as stored (a destination's ends in ` [destination]`).
    pub pair: String,
    pub folder: String,
    /// Messages that shared a UID with another and were renumbered.
    pub messages: u64,
}

impl UidRepair {
    /// The renumbered messages are the destination's (a Maildir written to).
    pub fn on_destination(&self) -> bool {
        self.pair.ends_with(crate::DESTINATION_SUFFIX)
    }
}

impl Store {
    /// The UIDs of these message keys in `folder`: those given in earlier
    /// passes, and for keys not seen before new ones above every UID given
    /// so far in this folder, in the order given.
    pub async fn uids_for_keys(
        &self,
        pair: &str,
        folder: &str,
        keys: &[String],
    ) -> Result<Vec<u32>, StoreError> {
        // A few keys (a Maildir destination numbers each file it writes)
        // are looked up alone, not with the whole folder's numbers.
        let only = (keys.len() <= KEYS_PER_INSERT).then_some(keys);
        let mut known = self.known_uids(pair, folder, only).await?;
        let mut fresh: Vec<&String> = Vec::new();
        let mut asked = std::collections::HashSet::new();
        for k in keys {
            if !known.contains_key(k) && asked.insert(k) {
                fresh.push(k);
            }
        }
        if !fresh.is_empty() {
            self.number(pair, folder, &fresh).await?;
            known = self.known_uids(pair, folder, only).await?;
        }
        keys.iter()
            .map(|k| {
                known.get(k).copied().ok_or_else(|| {
                    StoreError::Invalid(format!("no UID was recorded for message {k:?}"))
                })
            })
            .collect()
    }

    /// The numbers of a folder's keys: all of them, or of `only` these.
    async fn known_uids(
        &self,
        pair: &str,
        folder: &str,
        only: Option<&[String]>,
    ) -> Result<HashMap<String, u32>, StoreError> {
        let mut sql = String::from("SELECT message_key, uid FROM source_uids WHERE ");
        sql.push_str(&self.params.conditions(&["pair", "folder"]));
        if let Some(keys) = only {
            sql.push_str(" AND message_key IN (");
            sql.push_str(&self.params.list(3, keys.len()));
            sql.push(')');
        }
        // Built from constants and counts only: no input reaches the text.
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(pair)
            .bind(folder);
        for k in only.unwrap_or_default() {
            q = q.bind(k.as_str());
        }
        let rows = q.fetch_all(&self.pool).await.map_err(db("read"))?;
        let mut known = HashMap::with_capacity(rows.len());
        for r in &rows {
            let key: String = r.try_get(0).map_err(db("read"))?;
            known.insert(key, uid_of(r.try_get(1).map_err(db("read"))?)?);
        }
        Ok(known)
    }

    /// Gives `keys` new UIDs in one transaction: reserve a range, then insert
    /// each key unless another connection numbered it meanwhile.
    async fn number(&self, pair: &str, folder: &str, keys: &[&String]) -> Result<(), StoreError> {
        let n = keys.len() as i64;
        let mut tx = self.pool.begin().await.map_err(db("write"))?;
        // The write comes first, so SQLite takes its write lock at once (a
        // read first would make the transaction fail to upgrade under load).
        // Above the counter and above every UID already given, so that a
        // number written by an older version is never given again.
        let end: i64 = sqlx::query(
            "INSERT INTO uid_next (pair, folder, next_uid) \
             VALUES ($1, $2, (SELECT COALESCE(MAX(uid), 0) + 1 FROM source_uids WHERE pair = $1 AND folder = $2) + $3) \
             ON CONFLICT (pair, folder) DO UPDATE SET next_uid = (CASE \
               WHEN uid_next.next_uid > (SELECT COALESCE(MAX(uid), 0) + 1 FROM source_uids WHERE pair = $1 AND folder = $2) \
               THEN uid_next.next_uid \
               ELSE (SELECT COALESCE(MAX(uid), 0) + 1 FROM source_uids WHERE pair = $1 AND folder = $2) END) + $3 \
             RETURNING next_uid",
        )
        .bind(pair)
        .bind(folder)
        .bind(n)
        .fetch_all(&mut *tx)
        .await
        .map_err(db("write"))?
        .first()
        .ok_or_else(|| StoreError::Invalid("no UID reserved".into()))?
        .try_get(0)
        .map_err(db("write"))?;
        let first = end - n;
        if first < 1 || end - 1 > i64::from(u32::MAX) {
            return Err(StoreError::Invalid(format!(
                "no UIDs left in folder {folder:?}"
            )));
        }
        for (c, chunk) in keys.chunks(KEYS_PER_INSERT).enumerate() {
            let mut sql =
                String::from("INSERT INTO source_uids (pair, folder, message_key, uid) VALUES ");
            sql.push_str(&self.params.rows(chunk.len(), 4));
            // A key numbered by another connection meanwhile keeps its UID;
            // a UID clash is impossible (reserved range) and would be an error.
            sql.push_str(" ON CONFLICT (pair, folder, message_key) DO NOTHING");
            // Built from constants and row counts only: no input reaches the text.
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (i, k) in chunk.iter().enumerate() {
                let uid = first + (c * KEYS_PER_INSERT + i) as i64;
                q = q.bind(pair).bind(folder).bind(k.as_str()).bind(uid);
            }
            q.execute(&mut *tx).await.map_err(db("write"))?;
        }
        tx.commit().await.map_err(db("write"))
    }
}

fn uid_of(v: i64) -> Result<u32, StoreError> {
    u32::try_from(v).map_err(|_| StoreError::Invalid(format!("UID {v} out of range")))
}

/// Before the uniqueness of UIDs is enforced: every group of keys sharing a
/// UID gets new UIDs, and what the ledger said about that UID is no longer
/// believed. On the source side its ledger rows go (the messages are decided
/// again, by identity against the destination); on a destination its copies
/// lose their recorded destination UID (found again by identity) and the
/// destination folder's remembered state goes, so the next pass reads it.
pub(crate) async fn repair_shared_uids(
    tx: &mut Transaction<'_, Any>,
) -> Result<Vec<UidRepair>, StoreError> {
    let groups = sqlx::query(
        "SELECT pair, folder, uid FROM source_uids GROUP BY pair, folder, uid HAVING COUNT(*) > 1",
    )
    .fetch_all(&mut **tx)
    .await
    .map_err(db("repair"))?;
    let mut repairs: Vec<UidRepair> = Vec::new();
    for g in &groups {
        let pair: String = g.try_get(0).map_err(db("repair"))?;
        let folder: String = g.try_get(1).map_err(db("repair"))?;
        let uid: i64 = g.try_get(2).map_err(db("repair"))?;
        let keys: Vec<String> = sqlx::query(
            "SELECT message_key FROM source_uids WHERE pair = $1 AND folder = $2 AND uid = $3",
        )
        .bind(&pair)
        .bind(&folder)
        .bind(uid)
        .fetch_all(&mut **tx)
        .await
        .map_err(db("repair"))?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()
        .map_err(db("repair"))?;
        let max: i64 =
            sqlx::query("SELECT MAX(uid) FROM source_uids WHERE pair = $1 AND folder = $2")
                .bind(&pair)
                .bind(&folder)
                .fetch_all(&mut **tx)
                .await
                .map_err(db("repair"))?
                .into_iter()
                .next()
                .ok_or_else(|| StoreError::Invalid("a query returned no row".into()))?
                .try_get(0)
                .map_err(db("repair"))?;
        for (i, key) in keys.iter().enumerate() {
            sqlx::query(
                "UPDATE source_uids SET uid = $1 WHERE pair = $2 AND folder = $3 AND message_key = $4",
            )
            .bind(max + 1 + i as i64)
            .bind(&pair)
            .bind(&folder)
            .bind(key)
            .execute(&mut **tx)
            .await
            .map_err(db("repair"))?;
        }
        forget_shared_uid(tx, &pair, &folder, uid).await?;
        match repairs
            .iter_mut()
            .find(|r| r.pair == pair && r.folder == folder)
        {
            Some(r) => r.messages += keys.len() as u64,
            None => repairs.push(UidRepair {
                pair,
                folder,
                messages: keys.len() as u64,
            }),
        }
    }
    Ok(repairs)
}

/// What the ledger recorded under a UID several messages shared.
async fn forget_shared_uid(
    tx: &mut Transaction<'_, Any>,
    pair: &str,
    folder: &str,
    uid: i64,
) -> Result<(), StoreError> {
    let (sql, state_pair) = match pair.strip_suffix(crate::DESTINATION_SUFFIX) {
        Some(base) => (
            "UPDATE ledger SET dest_uid = NULL WHERE pair = $1 AND dest_folder = $2 AND dest_uid = $3",
            base,
        ),
        None => (
            "DELETE FROM ledger WHERE pair = $1 AND folder = $2 AND uid = $3",
            pair,
        ),
    };
    sqlx::query(sql)
        .bind(state_pair)
        .bind(folder)
        .bind(uid)
        .execute(&mut **tx)
        .await
        .map_err(db("repair"))?;
    // Remembered states would let a pass skip the folder unread.
    crate::drop_folder_states(tx, state_pair, folder, folder).await
}
