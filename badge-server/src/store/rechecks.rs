//! Re-verification runs (migration 0040): the run rows, their changes, and whether a
//! run's job chain is still alive.

use ca::db::{Database, Tx};
use ca::{on_pool, on_tx};

use crate::domain::recheck_run::{Run, RunChange, RunState};
use crate::error::AppError;

type RunRow = (
    i64,
    String,
    String,
    i64,
    Option<i64>,
    i64,
    i64,
    i64,
    i64,
    i64,
    Option<String>,
);

const RUN_COLUMNS: &str = "id, state, started_by, started_at, finished_at, total, done, passed, \
                           failed, errors, problem";

fn run_of(r: RunRow) -> Run {
    Run {
        id: r.0,
        state: RunState::parse(&r.1),
        started_by: r.2,
        started_at: r.3,
        finished_at: r.4,
        total: r.5,
        done: r.6,
        passed: r.7,
        failed: r.8,
        errors: r.9,
        problem: r.10,
        changes: vec![],
    }
}

/// Inserts a running run; `None` when another run is running (the unique index on
/// running runs refused it).
pub async fn insert(
    tx: &mut Tx,
    started_by: &str,
    now: i64,
    total: i64,
) -> Result<Option<i64>, AppError> {
    let r: Result<(i64,), sqlx::Error> = on_tx!(tx, |c| sqlx::query_as(
        "INSERT INTO recheck_runs (state, started_by, started_at, total) \
         VALUES ('running', $1, $2, $3) RETURNING id"
    )
    .bind(started_by)
    .bind(now)
    .bind(total)
    .fetch_one(c)
    .await);
    match r {
        Ok((id,)) => Ok(Some(id)),
        Err(e) if super::conventions::unique_violation(&e) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The running run, if any.
pub async fn running(db: &Database) -> Result<Option<Run>, AppError> {
    let sql = format!("SELECT {RUN_COLUMNS} FROM recheck_runs WHERE state = 'running'");
    let row: Option<RunRow> = on_pool!(db, |p| sqlx::query_as(&sql).fetch_optional(p).await?);
    Ok(row.map(run_of))
}

/// A run with its changes.
pub async fn get(db: &Database, id: i64) -> Result<Option<Run>, AppError> {
    let sql = format!("SELECT {RUN_COLUMNS} FROM recheck_runs WHERE id = $1");
    let row: Option<RunRow> = on_pool!(db, |p| sqlx::query_as(&sql)
        .bind(id)
        .fetch_optional(p)
        .await?);
    let Some(mut run) = row.map(run_of) else {
        return Ok(None);
    };
    let changes: Vec<(String, String, String, String, i64)> = on_pool!(db, |p| sqlx::query_as(
        "SELECT site_id, from_state, to_state, reason, at FROM recheck_run_changes \
         WHERE run_id = $1 ORDER BY id"
    )
    .bind(id)
    .fetch_all(p)
    .await?);
    run.changes = changes
        .into_iter()
        .map(|(site, from, to, reason, at)| RunChange {
            site,
            from,
            to,
            reason,
            at,
        })
        .collect();
    Ok(Some(run))
}

/// The `limit` most recent runs, newest first, without their changes.
pub async fn recent(db: &Database, limit: i64) -> Result<Vec<Run>, AppError> {
    let sql = format!("SELECT {RUN_COLUMNS} FROM recheck_runs ORDER BY id DESC LIMIT $1");
    let rows: Vec<RunRow> = on_pool!(db, |p| sqlx::query_as(&sql)
        .bind(limit)
        .fetch_all(p)
        .await?);
    Ok(rows.into_iter().map(run_of).collect())
}

/// Where a running run is: the last site id it took (`''` before the first); `None`
/// once it has ended.
pub async fn cursor(db: &Database, id: i64) -> Result<Option<String>, AppError> {
    let row: Option<(String,)> = on_pool!(db, |p| sqlx::query_as(
        "SELECT after_site FROM recheck_runs WHERE id = $1 AND state = 'running'"
    )
    .bind(id)
    .fetch_optional(p)
    .await?);
    Ok(row.map(|(s,)| s))
}

/// As [`cursor`], locking the row until `tx` ends, so two workers never add one
/// batch twice: the last site id it took (`''` before the first).
/// Locks the row until `tx` ends, so two workers never add one batch twice.
pub async fn lock_cursor(tx: &mut Tx, id: i64) -> Result<Option<String>, AppError> {
    let row: Option<(String,)> = on_tx!(tx, |c| sqlx::query_as(
        "UPDATE recheck_runs SET after_site = after_site WHERE id = $1 AND state = 'running' \
         RETURNING after_site"
    )
    .bind(id)
    .fetch_optional(c)
    .await?);
    Ok(row.map(|(s,)| s))
}

/// The counts of one batch.
#[derive(Debug, Clone, Copy, Default)]
pub struct Counts {
    /// Sites taken.
    pub done: i64,
    /// Passed.
    pub passed: i64,
    /// Failed.
    pub failed: i64,
    /// Errors.
    pub errors: i64,
}

/// Adds a batch to a run: its counts, where it got to, and what it changed.
pub async fn add_batch(
    tx: &mut Tx,
    id: i64,
    counts: Counts,
    after_site: &str,
    changes: &[RunChange],
) -> Result<(), AppError> {
    on_tx!(tx, |c| sqlx::query(
        "UPDATE recheck_runs SET done = done + $1, passed = passed + $2, failed = failed + $3, \
         errors = errors + $4, after_site = $5 WHERE id = $6"
    )
    .bind(counts.done)
    .bind(counts.passed)
    .bind(counts.failed)
    .bind(counts.errors)
    .bind(after_site)
    .bind(id)
    .execute(c)
    .await
    .map(|_| ())?);
    for ch in changes {
        on_tx!(tx, |c| sqlx::query(
            "INSERT INTO recheck_run_changes (run_id, site_id, from_state, to_state, reason, at) \
             VALUES ($1, $2, $3, $4, $5, $6)"
        )
        .bind(id)
        .bind(&ch.site)
        .bind(&ch.from)
        .bind(&ch.to)
        .bind(&ch.reason)
        .bind(ch.at)
        .execute(c)
        .await
        .map(|_| ())?);
    }
    Ok(())
}

/// Ends a running run: `finished`, or `failed` with the problem.
pub async fn end(
    tx: &mut Tx,
    id: i64,
    state: RunState,
    problem: Option<&str>,
    now: i64,
) -> Result<(), AppError> {
    on_tx!(tx, |c| sqlx::query(
        "UPDATE recheck_runs SET state = $1, problem = $2, finished_at = $3 \
         WHERE id = $4 AND state = 'running'"
    )
    .bind(state.as_str())
    .bind(problem)
    .bind(now)
    .bind(id)
    .execute(c)
    .await
    .map(|_| ())?);
    Ok(())
}

/// Whether a job of `kind` whose dedupe key starts with `prefix` is still to run
/// (pending or claimed): a run's chain is alive.
pub async fn chain_alive(db: &Database, kind: &str, prefix: &str) -> Result<bool, AppError> {
    let (n,): (i64,) = on_pool!(db, |p| sqlx::query_as(
        "SELECT COUNT(*) FROM jobs WHERE kind = $1 AND dedupe_key LIKE $2 \
         AND done_at IS NULL AND failed_at IS NULL"
    )
    .bind(kind)
    .bind(format!("{prefix}%"))
    .fetch_one(p)
    .await?);
    Ok(n > 0)
}
