//! Mail the proxy's SMTP front passed on (migration 8): one row per
//! recipient of each message — where it went (`old`: relayed to the old
//! server; `new`: delivered to the new one) and why — so that the
//! retirement report can say what still depends on the old server.

use sqlx::Row;

use crate::{db, Store, StoreError};

/// One recipient of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRow {
    pub at: i64,
    /// The envelope sender (empty for `<>`).
    pub sender: String,
    pub recipient: String,
    /// The project's mailbox it belongs to, if any.
    pub login: Option<String>,
    pub size: i64,
    /// `old` or `new`.
    pub server: String,
    /// `not moved`, `no mailbox`, `moved`.
    pub why: String,
}

/// Deliveries to one recipient, by one route, on one day (UTC).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryCount {
    pub recipient: String,
    pub login: Option<String>,
    pub server: String,
    pub why: String,
    /// Days since 1970-01-01.
    pub day: i64,
    pub messages: i64,
    pub bytes: i64,
    /// The last of them.
    pub last_at: i64,
}

impl Store {
    pub async fn record_delivery(&self, project: &str, d: &DeliveryRow) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO deliveries (project, at, sender, recipient, login, size, server, why) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(project)
        .bind(d.at)
        .bind(&d.sender)
        .bind(&d.recipient)
        .bind(&d.login)
        .bind(d.size)
        .bind(&d.server)
        .bind(&d.why)
        .execute(&self.pool)
        .await
        .map_err(db("write"))?;
        Ok(())
    }

    /// Deliveries at or after `since`, oldest first.
    pub async fn deliveries(
        &self,
        project: &str,
        since: i64,
    ) -> Result<Vec<DeliveryRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT at, sender, recipient, login, size, server, why FROM deliveries \
             WHERE project = $1 AND at >= $2 ORDER BY at",
        )
        .bind(project)
        .bind(since)
        .fetch_all(&self.pool)
        .await
        .map_err(db("read"))?;
        rows.iter()
            .map(|r| {
                Ok(DeliveryRow {
                    at: r.try_get(0).map_err(db("read"))?,
                    sender: r.try_get(1).map_err(db("read"))?,
                    recipient: r.try_get(2).map_err(db("read"))?,
                    login: r.try_get(3).map_err(db("read"))?,
                    size: r.try_get(4).map_err(db("read"))?,
                    server: r.try_get(5).map_err(db("read"))?,
                    why: r.try_get(6).map_err(db("read"))?,
                })
            })
            .collect()
    }

    /// Deliveries at or after `since` counted by recipient, route and day:
    /// what a report needs, however much mail went by.
    pub async fn delivery_counts(
        &self,
        project: &str,
        since: i64,
    ) -> Result<Vec<DeliveryCount>, StoreError> {
        let rows = sqlx::query(
            "SELECT recipient, login, server, why, at / 86400 AS day, \
             CAST(COUNT(*) AS BIGINT), CAST(SUM(size) AS BIGINT), MAX(at) \
             FROM deliveries WHERE project = $1 AND at >= $2 \
             GROUP BY recipient, login, server, why, at / 86400 \
             ORDER BY recipient, day, server, why",
        )
        .bind(project)
        .bind(since)
        .fetch_all(&self.pool)
        .await
        .map_err(db("read"))?;
        rows.iter()
            .map(|r| {
                Ok(DeliveryCount {
                    recipient: r.try_get(0).map_err(db("read"))?,
                    login: r.try_get(1).map_err(db("read"))?,
                    server: r.try_get(2).map_err(db("read"))?,
                    why: r.try_get(3).map_err(db("read"))?,
                    day: r.try_get(4).map_err(db("read"))?,
                    messages: r.try_get(5).map_err(db("read"))?,
                    bytes: r.try_get(6).map_err(db("read"))?,
                    last_at: r.try_get(7).map_err(db("read"))?,
                })
            })
            .collect()
    }

    /// Moved accounts whose mail was relayed to the old server after their
    /// move, at or after `since`: (login, messages, the last at). Should be
    /// none: each is a bug or a stale route.
    pub async fn relayed_after_move(
        &self,
        project: &str,
        since: i64,
    ) -> Result<Vec<(String, i64, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT d.login, CAST(COUNT(*) AS BIGINT), MAX(d.at) FROM deliveries d \
             JOIN accounts a ON a.project = d.project AND a.login = d.login \
             WHERE d.project = $1 AND d.at >= $2 AND d.server = 'old' \
             AND a.served_by = 'destination' AND a.moved_at IS NOT NULL AND d.at >= a.moved_at \
             GROUP BY d.login ORDER BY d.login",
        )
        .bind(project)
        .bind(since)
        .fetch_all(&self.pool)
        .await
        .map_err(db("read"))?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get(0).map_err(db("read"))?,
                    r.try_get(1).map_err(db("read"))?,
                    r.try_get(2).map_err(db("read"))?,
                ))
            })
            .collect()
    }
}
