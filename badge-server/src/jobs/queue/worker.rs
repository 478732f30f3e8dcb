//! Claiming, running and settling jobs.

use std::time::Duration;

use ca::db::Database;
use ca::{on_pool, on_tx};
use ring::rand::{SecureRandom, SystemRandom};
use serde_json::json;

use super::kind;
use super::registry::{Job, JobError};
use crate::error::AppError;
use crate::service::Services;

/// The queue's timings.
#[derive(Debug, Clone)]
pub struct QueueSettings {
    /// Between polls of the table.
    pub poll: Duration,
    /// Wait before the first retry; each further retry waits twice as long.
    pub backoff_base: Duration,
    /// Longest wait between retries.
    pub backoff_max: Duration,
    /// How long a claim holds a job.
    pub lease: Duration,
    /// Jobs claimed at once (and run concurrently).
    pub batch: u32,
}

impl Default for QueueSettings {
    fn default() -> Self {
        QueueSettings {
            poll: Duration::from_secs(1),
            backoff_base: Duration::from_secs(30),
            backoff_max: Duration::from_secs(3600),
            lease: Duration::from_secs(300),
            batch: 10,
        }
    }
}

impl QueueSettings {
    /// From the server's settings.
    pub fn from_settings(s: &crate::config::JobSettings) -> Self {
        QueueSettings {
            poll: Duration::from_millis(s.job_poll_ms.max(10)),
            backoff_base: Duration::from_secs(s.job_backoff_secs.max(1)),
            backoff_max: Duration::from_secs(s.job_backoff_max_secs.max(1)),
            lease: Duration::from_secs(s.job_lease_secs.max(5)),
            batch: s.job_batch.clamp(1, 1000),
        }
    }

    /// Seconds to wait after failed attempt number `attempts` (from 1), without
    /// jitter: `base × 2^(attempts−1)`, at most the cap.
    pub fn backoff_secs(&self, attempts: i32) -> i64 {
        let base = self.backoff_base.as_secs().max(1);
        let max = self.backoff_max.as_secs().max(1);
        let shift = u32::try_from(attempts.saturating_sub(1).clamp(0, 40)).unwrap_or(40);
        let delay = base.saturating_mul(1u64 << shift).min(max);
        i64::try_from(delay).unwrap_or(i64::MAX)
    }

    /// The backoff plus up to a fifth of it at random, so jobs that failed together
    /// do not all come back together.
    pub fn backoff_with_jitter(&self, attempts: i32) -> i64 {
        let delay = self.backoff_secs(attempts);
        let mut raw = [0u8; 4];
        let r = SystemRandom::new()
            .fill(&mut raw)
            .map(|()| i64::from(u32::from_be_bytes(raw)))
            .unwrap_or(0);
        delay + r % (delay / 5 + 1)
    }
}

/// A claimed row, before its payload is parsed.
#[derive(sqlx::FromRow)]
struct Claimed {
    id: i64,
    kind: String,
    payload: String,
    run_at: i64,
    attempts: i32,
    max_attempts: i32,
    created_at: i64,
}

/// The columns a claim returns.
const RETURNING: &str = "RETURNING id, kind, payload, run_at, attempts, max_attempts, created_at";

/// Claims up to `limit` jobs due at `now` for `worker`, leasing them until
/// `now + lease_secs` and counting the attempt. On PostgreSQL concurrent claimants
/// skip each other's rows (`FOR UPDATE SKIP LOCKED`); SQLite has one writer at a time.
/// Jobs come back in `run_at` order.
pub async fn claim(
    db: &Database,
    worker: &str,
    now: i64,
    lease_secs: i64,
    limit: u32,
) -> Result<Vec<Job>, AppError> {
    claim_in(db, worker, now, lease_secs, limit, &Lane::All).await
}

/// Which kinds a claim takes.
#[derive(Debug, Clone, Copy)]
pub enum Lane {
    /// Every kind.
    All,
    /// These kinds only.
    Kinds(&'static [&'static str]),
    /// Every kind but these.
    Others(&'static [&'static str]),
}

impl Lane {
    /// The lanes of the worker: a slow webhook endpoint holds up only webhooks, a
    /// slow SMTP server only mail; the CRL/OCSP refresh, complaint deadlines and
    /// reminders share the third.
    pub const WORKER: [Lane; 3] = [
        Lane::Kinds(&[kind::WEBHOOK]),
        Lane::Kinds(&[kind::MAIL]),
        Lane::Others(&[kind::WEBHOOK, kind::MAIL]),
    ];

    /// The claim's condition on `kind` (the kinds are this crate's constants).
    fn condition(&self) -> String {
        let list = |kinds: &[&str]| {
            kinds
                .iter()
                .map(|k| format!("'{}'", k.replace('\'', "''")))
                .collect::<Vec<_>>()
                .join(", ")
        };
        match self {
            Lane::All => String::new(),
            Lane::Kinds(k) => format!(" AND kind IN ({})", list(k)),
            Lane::Others(k) => format!(" AND kind NOT IN ({})", list(k)),
        }
    }
}

/// As [`claim`], only jobs of `lane`.
pub async fn claim_in(
    db: &Database,
    worker: &str,
    now: i64,
    lease_secs: i64,
    limit: u32,
    lane: &Lane,
) -> Result<Vec<Job>, AppError> {
    let lock = match db {
        Database::Postgres(_) => " FOR UPDATE SKIP LOCKED",
        Database::Sqlite(_) => "",
    };
    let kinds = lane.condition();
    let sql = format!(
        "UPDATE jobs SET locked_until = $1, locked_by = $2, attempts = attempts + 1 \
         WHERE id IN (SELECT id FROM jobs WHERE done_at IS NULL AND failed_at IS NULL \
         AND run_at <= $3 AND (locked_until IS NULL OR locked_until < $3){kinds} \
         ORDER BY run_at, id LIMIT $4{lock}) {RETURNING}"
    );
    let mut rows: Vec<Claimed> = on_pool!(db, |p| sqlx::query_as(&sql)
        .bind(now + lease_secs)
        .bind(worker)
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(p)
        .await?);
    rows.sort_by_key(|r| (r.run_at, r.id));
    Ok(rows
        .into_iter()
        .map(|r| Job {
            id: r.id,
            kind: r.kind,
            // An unparsable payload is kept as a string; the run fails the job.
            payload: serde_json::from_str(&r.payload)
                .unwrap_or(serde_json::Value::String(r.payload)),
            attempts: r.attempts,
            max_attempts: r.max_attempts,
            run_at: r.run_at,
            created_at: r.created_at,
            now,
        })
        .collect())
}

/// Runs every job due at `now` (unix seconds), batch after batch, until none is left
/// to claim; returns how many ran (successfully or not). Jobs that fail are put back
/// with a later `run_at`, so they do not come back within the same call.
pub async fn run_due(state: &Services, now: i64) -> Result<usize, AppError> {
    let mut total = 0;
    loop {
        let n = run_batch(state, now).await?;
        total += n;
        if n < state.queue.settings.batch as usize {
            return Ok(total);
        }
    }
}

/// Claims one batch of jobs due at `now`, runs them concurrently and records their
/// outcomes; how many it claimed.
async fn run_batch(state: &Services, now: i64) -> Result<usize, AppError> {
    let q = &state.queue;
    let lease = i64::try_from(q.settings.lease.as_secs()).unwrap_or(300);
    let jobs = claim(&state.db, &q.worker_id, now, lease, q.settings.batch).await?;
    let n = jobs.len();
    let mut set = tokio::task::JoinSet::new();
    for job in jobs {
        let state = state.clone();
        set.spawn(async move { run_one(&state, job).await });
    }
    while let Some(done) = set.join_next().await {
        match done {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "could not record a job's outcome"),
            Err(e) => tracing::error!(error = %e, "job task died"),
        }
    }
    Ok(n)
}

/// Runs one claimed job under a deadline inside its lease and records the outcome.
async fn run_one(state: &Services, job: Job) -> Result<(), AppError> {
    let outcome = if job.attempts > job.max_attempts {
        // Claimed again after its lease ran out more often than it may be tried: its
        // runs keep dying (or hanging) before they finish.
        Err(JobError::Fail(format!(
            "claimed {} times without finishing",
            job.attempts
        )))
    } else if let serde_json::Value::String(_) = job.payload {
        Err(JobError::Fail("payload is not a JSON object".into()))
    } else if let Some(handler) = state.queue.registry.get(&job.kind) {
        let deadline = state.queue.settings.lease.mul_f64(0.8);
        let (s, j) = (state.clone(), job.clone());
        // Its own task, so a panicking handler is one failed attempt, not a dead worker.
        let task = tokio::spawn(async move { handler.run(&s, &j).await });
        match tokio::time::timeout(deadline, task).await {
            Ok(Ok(result)) => result,
            Ok(Err(e)) => Err(JobError::Retry(format!("handler panicked: {e}"))),
            Err(_) => Err(JobError::Retry(format!(
                "did not finish within {} s",
                deadline.as_secs()
            ))),
        }
    } else {
        // Retried, not failed at once: during a rolling upgrade a newer process may
        // know the kind. After max_attempts it fails like any other job.
        Err(JobError::Retry(format!(
            "no handler for job kind {:?}",
            job.kind
        )))
    };
    settle(state, &job, outcome).await
}

/// Records a job's outcome: done, retry later, or failed for good (with an audit
/// entry). Only the worker that holds the claim may settle it.
async fn settle(
    state: &Services,
    job: &Job,
    outcome: Result<(), JobError>,
) -> Result<(), AppError> {
    let q = &state.queue;
    let worker = q.worker_id.as_str();
    let now = job.now;
    let changed = match outcome {
        Ok(()) => {
            tracing::debug!(job = job.id, kind = %job.kind, "job done");
            on_pool!(&state.db, |p| sqlx::query(
                "UPDATE jobs SET done_at = $1, locked_until = NULL, last_error = NULL \
                 WHERE id = $2 AND locked_by = $3 AND done_at IS NULL"
            )
            .bind(now)
            .bind(job.id)
            .bind(worker)
            .execute(p)
            .await?
            .rows_affected())
        }
        Err(JobError::Retry(e)) if job.attempts < job.max_attempts => {
            let delay = q.settings.backoff_with_jitter(job.attempts);
            tracing::warn!(
                job = job.id, kind = %job.kind, attempt = job.attempts,
                max_attempts = job.max_attempts, retry_in_secs = delay, error = %e,
                "job failed; will retry"
            );
            on_pool!(&state.db, |p| sqlx::query(
                "UPDATE jobs SET run_at = $1, locked_until = NULL, last_error = $2 \
                 WHERE id = $3 AND locked_by = $4 AND done_at IS NULL"
            )
            .bind(now + delay)
            .bind(truncate(&e))
            .bind(job.id)
            .bind(worker)
            .execute(p)
            .await?
            .rows_affected())
        }
        Err(JobError::Retry(e) | JobError::Fail(e)) => {
            tracing::error!(
                job = job.id, kind = %job.kind, attempts = job.attempts, error = %e,
                "job failed for good"
            );
            let mut tx = state.db.begin().await?;
            let n = on_tx!(&mut tx, |c| sqlx::query(
                "UPDATE jobs SET failed_at = $1, locked_until = NULL, last_error = $2 \
                 WHERE id = $3 AND locked_by = $4 AND done_at IS NULL AND failed_at IS NULL"
            )
            .bind(now)
            .bind(truncate(&e))
            .bind(job.id)
            .bind(worker)
            .execute(&mut *c)
            .await?
            .rows_affected());
            if n == 1 {
                ca::audit::append(
                    &mut tx,
                    "system",
                    "job.failed",
                    &format!("job:{}", job.id),
                    &json!({ "kind": job.kind, "attempts": job.attempts, "error": e }),
                )
                .await?;
            }
            tx.commit().await?;
            n
        }
    };
    if changed == 0 {
        tracing::warn!(
            job = job.id,
            kind = %job.kind,
            "job outcome not recorded: its lease ran out and another worker holds it"
        );
    }
    Ok(())
}

fn truncate(e: &str) -> String {
    e.chars().take(2000).collect()
}

/// How long the jobs under way may still run after the worker is told to stop, before
/// it hands back what it holds.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// The worker loop of `badge-server serve`. Each [`Lane::WORKER`] lane keeps up to
/// the batch size (`CHENGXIN_JOB_BATCH`) of its jobs running; whenever one finishes,
/// the poll interval passes or an enqueue in this process wakes it, every lane with
/// room claims more. No lane waits for another, nor for a whole batch to finish: the
/// worker used to claim 10 jobs of any kind and wait for all of them, so an operator
/// whose webhook never answers delayed a password-reset mail from 0.14 s to 78 s.
///
/// When `stop` turns true (or its sender goes away: SIGTERM), it claims nothing more,
/// gives the jobs under way [`SHUTDOWN_GRACE`] to finish and [`release`]s the rest, so
/// that they are claimable at once rather than after their lease (300 s by default).
pub async fn run(state: Services, mut stop: tokio::sync::watch::Receiver<bool>) {
    let q = state.queue.clone();
    let poll = q.settings.poll;
    let lease = i64::try_from(q.settings.lease.as_secs()).unwrap_or(300);
    let per_lane = q.settings.batch;
    tracing::info!(worker = %q.worker_id, poll_ms = poll.as_millis() as u64, "job worker started");
    let mut running = [0u32; Lane::WORKER.len()];
    let mut lane_of = std::collections::HashMap::new();
    let mut set = tokio::task::JoinSet::new();
    loop {
        if *stop.borrow() {
            break;
        }
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        for (i, lane) in Lane::WORKER.iter().enumerate() {
            let room = per_lane.saturating_sub(running[i]);
            if room == 0 {
                continue;
            }
            match claim_in(&state.db, &q.worker_id, now, lease, room, lane).await {
                Ok(jobs) => {
                    for job in jobs {
                        let s = state.clone();
                        let task = set.spawn(async move { run_one(&s, job).await });
                        lane_of.insert(task.id(), i);
                        running[i] += 1;
                    }
                }
                Err(e) => tracing::error!(error = %e, "job queue poll failed"),
            }
        }
        tokio::select! {
            Some(done) = set.join_next_with_id(), if !set.is_empty() => {
                let id = match done {
                    Ok((id, Ok(()))) => id,
                    Ok((id, Err(e))) => {
                        tracing::error!(error = %e, "could not record a job's outcome");
                        id
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "job task died");
                        e.id()
                    }
                };
                if let Some(i) = lane_of.remove(&id) {
                    running[i] = running[i].saturating_sub(1);
                }
            }
            () = tokio::time::sleep(poll) => {}
            () = super::waker().notified() => {
                // The enqueueing transaction commits just after; give it a moment.
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            _ = stop.changed() => break,
        }
    }
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while set.join_next().await.is_some() {}
    })
    .await;
    set.abort_all();
    match release(&state.db, &q.worker_id).await {
        Ok(n) => tracing::info!(
            released = n,
            "job worker stopped; its unfinished jobs are claimable again"
        ),
        Err(e) => tracing::error!(
            error = %e,
            "job worker stopped but could not release its jobs; they wait for their lease"
        ),
    }
}

/// Hands back every unfinished job `worker` holds: its lease ends now, so any worker
/// may claim it at once (the attempt it was on still counts). A job whose handler
/// still finishes afterwards is recorded as usual unless another worker has claimed
/// it meanwhile — then it runs twice, which is why deliveries are at-least-once.
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
