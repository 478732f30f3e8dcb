//! The `jobs` table: a job is written in its cause's transaction, claimed as a lease,
//! and settled by the worker holding the claim. The queue's rules (backoff, lanes,
//! what a failure means) live in `jobs::queue`; this is only its SQL.

use ca::db::{Database, Tx};
use ca::{on_pool, on_tx};

use crate::error::AppError;

/// A claimed row, its payload still text.
#[derive(Debug, sqlx::FromRow)]
pub struct ClaimedRow {
    /// Row id.
    pub id: i64,
    /// Job kind.
    pub kind: String,
    /// The payload as stored (JSON text).
    pub payload: String,
    /// When it was due.
    pub run_at: i64,
    /// Attempts, this claim's included.
    pub attempts: i32,
    /// Attempts allowed.
    pub max_attempts: i32,
    /// When it was enqueued.
    pub created_at: i64,
}

/// Which kinds a claim takes.
#[derive(Debug, Clone, Copy)]
pub enum Kinds<'a> {
    /// Every kind.
    All,
    /// These kinds only.
    In(&'a [&'a str]),
    /// Every kind but these.
    NotIn(&'a [&'a str]),
}

impl Kinds<'_> {
    /// The claim's condition on `kind`. Kinds are the application's constants, quoted
    /// as SQL literals (a quote doubled), so one statement serves both backends.
    fn condition(&self) -> String {
        let list = |kinds: &[&str]| {
            kinds
                .iter()
                .map(|k| format!("'{}'", k.replace('\'', "''")))
                .collect::<Vec<_>>()
                .join(", ")
        };
        match self {
            Kinds::All => String::new(),
            Kinds::In(k) => format!(" AND kind IN ({})", list(k)),
            Kinds::NotIn(k) => format!(" AND kind NOT IN ({})", list(k)),
        }
    }
}

/// Writes a job due at `run_at` in `tx`; `None` when `dedupe_key` is already taken.
pub async fn insert(
    tx: &mut Tx,
    kind: &str,
    payload: &str,
    run_at: i64,
    dedupe_key: Option<&str>,
    now: i64,
) -> Result<Option<i64>, AppError> {
    let row: Option<(i64,)> = on_tx!(tx, |c| {
        sqlx::query_as(
            "INSERT INTO jobs (kind, payload, run_at, dedupe_key, created_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (dedupe_key) DO NOTHING RETURNING id",
        )
        .bind(kind)
        .bind(payload)
        .bind(run_at)
        .bind(dedupe_key)
        .bind(now)
        .fetch_optional(c)
        .await?
    });
    Ok(row.map(|r| r.0))
}

/// Claims up to `limit` jobs of `kinds` due at `now` for `worker`, leased until
/// `lease_until`, counting the attempt; in `run_at` order. On PostgreSQL concurrent
/// claimants skip each other's rows (`FOR UPDATE SKIP LOCKED`); SQLite has one writer.
pub async fn claim(
    db: &Database,
    worker: &str,
    now: i64,
    lease_until: i64,
    limit: u32,
    kinds: Kinds<'_>,
) -> Result<Vec<ClaimedRow>, AppError> {
    let lock = match db {
        Database::Postgres(_) => " FOR UPDATE SKIP LOCKED",
        Database::Sqlite(_) => "",
    };
    let sql = format!(
        "UPDATE jobs SET locked_until = $1, locked_by = $2, attempts = attempts + 1 \
         WHERE id IN (SELECT id FROM jobs WHERE done_at IS NULL AND failed_at IS NULL \
         AND run_at <= $3 AND (locked_until IS NULL OR locked_until < $3){kinds} \
         ORDER BY run_at, id LIMIT $4{lock}) \
         RETURNING id, kind, payload, run_at, attempts, max_attempts, created_at",
        kinds = kinds.condition()
    );
    let mut rows: Vec<ClaimedRow> = on_pool!(db, |p| sqlx::query_as(&sql)
        .bind(lease_until)
        .bind(worker)
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(p)
        .await?);
    rows.sort_by_key(|r| (r.run_at, r.id));
    Ok(rows)
}

/// Marks job `id` done, if `worker` still holds it; rows changed (0 or 1).
pub async fn mark_done(db: &Database, id: i64, worker: &str, now: i64) -> Result<u64, AppError> {
    Ok(on_pool!(db, |p| sqlx::query(
        "UPDATE jobs SET done_at = $1, locked_until = NULL, last_error = NULL \
         WHERE id = $2 AND locked_by = $3 AND done_at IS NULL"
    )
    .bind(now)
    .bind(id)
    .bind(worker)
    .execute(p)
    .await?
    .rows_affected()))
}

/// Puts job `id` back to run at `run_at` with `error`, if `worker` still holds it.
pub async fn retry_at(
    db: &Database,
    id: i64,
    worker: &str,
    run_at: i64,
    error: &str,
) -> Result<u64, AppError> {
    Ok(on_pool!(db, |p| sqlx::query(
        "UPDATE jobs SET run_at = $1, locked_until = NULL, last_error = $2 \
         WHERE id = $3 AND locked_by = $4 AND done_at IS NULL"
    )
    .bind(run_at)
    .bind(error)
    .bind(id)
    .bind(worker)
    .execute(p)
    .await?
    .rows_affected()))
}

/// Marks job `id` failed for good in `tx`, if `worker` still holds it.
pub async fn mark_failed(
    tx: &mut Tx,
    id: i64,
    worker: &str,
    now: i64,
    error: &str,
) -> Result<u64, AppError> {
    Ok(on_tx!(tx, |c| sqlx::query(
        "UPDATE jobs SET failed_at = $1, locked_until = NULL, last_error = $2 \
         WHERE id = $3 AND locked_by = $4 AND done_at IS NULL AND failed_at IS NULL"
    )
    .bind(now)
    .bind(error)
    .bind(id)
    .bind(worker)
    .execute(c)
    .await?
    .rows_affected()))
}

/// Ends the lease of every unfinished job `worker` holds; how many.
pub async fn release(db: &Database, worker: &str) -> Result<u64, AppError> {
    Ok(on_pool!(db, |p| sqlx::query(
        "UPDATE jobs SET locked_until = NULL WHERE locked_by = $1 AND locked_until IS NOT NULL \
         AND done_at IS NULL AND failed_at IS NULL"
    )
    .bind(worker)
    .execute(p)
    .await?
    .rows_affected()))
}

/// Jobs waiting, per kind: how many (scheduled ones included), how many are due at
/// `now` and wait for a worker (not one a worker holds now: a long report build is
/// running, not waiting), and the `run_at` of the oldest of those. Reads the
/// partial index of unfinished jobs only.
pub async fn waiting(db: &Database, now: i64) -> Result<Vec<Waiting>, AppError> {
    Ok(on_pool!(db, |p| sqlx::query_as(
        "SELECT kind, COUNT(*) AS queued, \
         COALESCE(SUM(CASE WHEN run_at <= $1 AND COALESCE(locked_until, 0) <= $1 \
                      THEN 1 ELSE 0 END), 0) AS due, \
         MIN(CASE WHEN run_at <= $1 AND COALESCE(locked_until, 0) <= $1 THEN run_at END) \
             AS oldest_due \
         FROM jobs WHERE done_at IS NULL AND failed_at IS NULL GROUP BY kind ORDER BY kind"
    )
    .bind(now)
    .fetch_all(p)
    .await?))
}

/// Unfinished jobs of one kind ([`waiting`]).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Waiting {
    /// The job kind.
    pub kind: String,
    /// Unfinished jobs, scheduled ones included.
    pub queued: i64,
    /// Those due now that no worker holds.
    pub due: i64,
    /// When the oldest of those was due.
    pub oldest_due: Option<i64>,
}
