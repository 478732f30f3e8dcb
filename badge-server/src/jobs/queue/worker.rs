//! Claiming, running and settling jobs.

use std::time::Duration;

use ca::db::Database;
use serde_json::json;

use super::registry::{Job, JobError, Registry};
use crate::error::AppError;
use crate::service::Services;
use crate::store::jobs::{self as store, Kinds};

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
#[derive(Debug, Clone)]
pub enum Lane {
    /// Every kind.
    All,
    /// These kinds only.
    Kinds(Vec<&'static str>),
    /// Every kind but these.
    Others(Vec<&'static str>),
}

impl Lane {
    /// The lanes of a worker whose registry gives some kinds lanes of their own
    /// ([`Registry::own_lane`]): one per such group, and one for every other kind, so
    /// that a slow webhook endpoint holds up only webhooks and a slow SMTP server only
    /// mail.
    pub fn of(registry: &Registry) -> Vec<Lane> {
        let own = registry.own_lanes();
        let mut lanes: Vec<Lane> = own.iter().map(|k| Lane::Kinds(k.to_vec())).collect();
        lanes.push(if own.is_empty() {
            Lane::All
        } else {
            Lane::Others(own.iter().flat_map(|k| k.iter().copied()).collect())
        });
        lanes
    }

    fn kinds(&self) -> Kinds<'_> {
        match self {
            Lane::All => Kinds::All,
            Lane::Kinds(k) => Kinds::In(k),
            Lane::Others(k) => Kinds::NotIn(k),
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
    let rows = store::claim(db, worker, now, now + lease_secs, limit, lane.kinds()).await?;
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
            store::mark_done(&state.db, job.id, worker, now).await?
        }
        Err(JobError::Retry(e)) if job.attempts < job.max_attempts => {
            count_failure(&job.kind, "retry");
            let delay = q.settings.backoff_with_jitter(job.attempts);
            tracing::warn!(
                job = job.id, kind = %job.kind, attempt = job.attempts,
                max_attempts = job.max_attempts, retry_in_secs = delay, error = %e,
                "job failed; will retry"
            );
            store::retry_at(&state.db, job.id, worker, now + delay, &truncate(&e)).await?
        }
        Err(JobError::Retry(e) | JobError::Fail(e)) => {
            count_failure(&job.kind, "failed");
            tracing::error!(
                job = job.id, kind = %job.kind, attempts = job.attempts, error = %e,
                "job failed for good"
            );
            let mut tx = state.db.begin().await?;
            let n = store::mark_failed(&mut tx, job.id, worker, now, &truncate(&e)).await?;
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

/// The worker loop of `badge-server serve`. Each lane ([`Lane::of`]) keeps up to
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
    let lanes = Lane::of(&q.registry);
    let mut running = vec![0u32; lanes.len()];
    let mut lane_of = std::collections::HashMap::new();
    let mut set = tokio::task::JoinSet::new();
    loop {
        if *stop.borrow() {
            break;
        }
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        for (i, lane) in lanes.iter().enumerate() {
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
    store::release(db, worker).await
}

/// `chengxin_job_failures_total{kind, outcome}`: a failed attempt of a job of `kind`
/// (`mail`, `webhook`: the deliveries; and every other kind), `retry` when it will be
/// tried again, `failed` when it is given up.
fn count_failure(kind: &str, outcome: &'static str) {
    metrics::counter!("chengxin_job_failures_total", "kind" => kind.to_string(), "outcome" => outcome)
        .increment(1);
}
