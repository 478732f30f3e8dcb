//! The audit chain's tables: `audit_log` and its head row `audit_head`. The chain
//! itself (hashing, verification) is [`crate::audit`]'s.

use serde::Serialize;

use crate::db::{Database, Tx};
use crate::{Result, on_pool, on_tx};

/// One audit record as appended.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Entry {
    /// Position in the chain, from 1.
    pub seq: i64,
    /// Unix seconds.
    pub at: i64,
    /// Who did it (`ca-cli`, `staff:alice@example.cn`, `system`).
    pub actor: String,
    /// What was done (`certificate.issue`, `certificate.revoke`, …).
    pub action: String,
    /// What it was done to (a serial, a site id).
    pub subject: String,
    /// JSON details.
    pub details: String,
}

/// An entry with its links in the chain, as stored.
#[derive(sqlx::FromRow)]
pub(crate) struct StoredEntry {
    #[sqlx(flatten)]
    pub(crate) entry: Entry,
    pub(crate) prev_hash: Vec<u8>,
    pub(crate) hash: Vec<u8>,
}

/// Reserves `n` sequence numbers: returns the new last one and the head's hash.
/// Updating the head row first takes the write lock (SQLite) or the row lock
/// (PostgreSQL), so appends are serialised.
pub(crate) async fn advance_head(tx: &mut Tx, n: i64) -> Result<(i64, Vec<u8>)> {
    Ok(on_tx!(tx, |c| sqlx::query_as(
        "UPDATE audit_head SET seq = seq + $1 WHERE id = 1 RETURNING seq, hash"
    )
    .bind(n)
    .fetch_one(c)
    .await?))
}

/// Takes the head row's lock without moving it: a transaction that appends to the
/// transparency log takes it first, so every transaction that writes both takes the
/// audit head before the log counter and two of them can never wait on each other.
pub(crate) async fn lock_head(tx: &mut Tx) -> Result<()> {
    advance_head(tx, 0).await.map(|_| ())
}

/// Inserts chained entries, 500 per statement.
pub(crate) async fn insert_entries(tx: &mut Tx, rows: &[StoredEntry]) -> Result<()> {
    for chunk in rows.chunks(500) {
        on_tx!(tx, |c| {
            let mut q = sqlx::QueryBuilder::new(
                "INSERT INTO audit_log (seq, at, actor, action, subject, details, prev_hash, hash) ",
            );
            q.push_values(chunk, |mut b, r| {
                let e = &r.entry;
                b.push_bind(e.seq)
                    .push_bind(e.at)
                    .push_bind(&e.actor)
                    .push_bind(&e.action)
                    .push_bind(&e.subject)
                    .push_bind(&e.details)
                    .push_bind(&r.prev_hash)
                    .push_bind(&r.hash);
            });
            q.build().execute(&mut *c).await?;
        });
    }
    Ok(())
}

/// Records the hash of the last entry in the head row.
pub(crate) async fn set_head_hash(tx: &mut Tx, hash: &[u8]) -> Result<()> {
    on_tx!(tx, |c| sqlx::query(
        "UPDATE audit_head SET hash = $1 WHERE id = 1"
    )
    .bind(hash)
    .execute(c)
    .await
    .map(|_| ())?);
    Ok(())
}

/// Every entry with its links, in chain order.
pub(crate) async fn all_entries(tx: &mut Tx) -> Result<Vec<StoredEntry>> {
    Ok(on_tx!(tx, |c| {
        sqlx::query_as(
        "SELECT seq, at, actor, action, subject, details, prev_hash, hash FROM audit_log ORDER BY seq"
    )
    .fetch_all(c)
    .await?
    }))
}

/// The hash of entry `seq`, if stored.
pub(crate) async fn hash_at(tx: &mut Tx, seq: i64) -> Result<Option<Vec<u8>>> {
    let row: Option<(Vec<u8>,)> = on_tx!(tx, |c| sqlx::query_as(
        "SELECT hash FROM audit_log WHERE seq = $1"
    )
    .bind(seq)
    .fetch_optional(c)
    .await?);
    Ok(row.map(|r| r.0))
}

/// The head row: the last sequence number and its hash.
pub(crate) async fn head(tx: &mut Tx) -> Result<(i64, Vec<u8>)> {
    Ok(on_tx!(tx, |c| sqlx::query_as(
        "SELECT seq, hash FROM audit_head WHERE id = 1"
    )
    .fetch_one(c)
    .await?))
}

/// The most recent entries, newest first.
/// The most recent entries whose subject is one of `subjects`, newest first (a
/// site's page: the site id and its certificates' serials).
pub(crate) async fn about(db: &Database, subjects: &[String], limit: i64) -> Result<Vec<Entry>> {
    if subjects.is_empty() {
        return Ok(vec![]);
    }
    let marks: Vec<String> = (2..subjects.len() + 2).map(|i| format!("${i}")).collect();
    let sql = format!(
        "SELECT seq, at, actor, action, subject, details FROM audit_log WHERE subject IN ({}) \
         ORDER BY seq DESC LIMIT $1",
        marks.join(", ")
    );
    Ok(on_pool!(db, |p| {
        let mut q = sqlx::query_as(&sql).bind(limit);
        for s in subjects {
            q = q.bind(s);
        }
        q.fetch_all(p).await?
    }))
}

pub(crate) async fn recent(db: &Database, limit: i64) -> Result<Vec<Entry>> {
    Ok(on_pool!(db, |p| sqlx::query_as(
        "SELECT seq, at, actor, action, subject, details FROM audit_log ORDER BY seq DESC LIMIT $1"
    )
    .bind(limit)
    .fetch_all(p)
    .await?))
}
