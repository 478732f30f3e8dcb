//! Re-verification runs staff start over every due site (issue 18): a durable job
//! chain walks the due sites by id, one batch per job, and each batch's counts,
//! position and changes commit in one transaction with the job of the next batch.
//! A crash loses at most the batch under way, which its retried job takes again
//! (the sites it had re-verified are no longer due); a restarted server picks the
//! chain up where it was. One run at a time: the database refuses a second running
//! row (`recheck_runs_one_running`), so two replicas cannot both start one.

use ca::db::Database;
use serde_json::json;

use crate::domain::account::{Account, Role};
use crate::domain::recheck_run::{Run, RunChange, RunState};
use crate::error::AppError;
use crate::jobs::queue::{self, Job, JobError};
use crate::service::Services;
use crate::store::rechecks as store;

/// The job kind of one batch of a run: payload `{"run": id}`.
pub const JOB_RUN: &str = "recheck.run";

/// Sites re-verified at once within a batch.
pub const CONCURRENCY: usize = 8;

/// Runs `GET /api/v1/staff/rechecks` lists.
pub const RECENT: i64 = 20;

fn staff(account: &Account) -> Result<(), AppError> {
    account.require(&[Role::Staff, Role::Admin])
}

/// The re-verifier as the server runs it: its CA holds, releases and revokes.
pub fn rechecker(s: &Services, concurrency: usize) -> verifier::recheck::Rechecker {
    verifier::recheck::Rechecker {
        db: s.db.clone(),
        challenger: (*s.challenger).clone(),
        icp: s.icp.clone(),
        ca: Some(s.ca.clone()),
        policy: s.policy.clone(),
        concurrency,
    }
}

fn dedupe(run: i64, after: &str) -> String {
    format!("{JOB_RUN}:{run}:{after}")
}

/// Starts a run over every site due now: 409 while another runs. A running run
/// whose job chain died (its job failed for good) is marked failed first, so it
/// cannot block every later run.
pub async fn start(s: &Services, account: &Account, now: i64) -> Result<Run, AppError> {
    staff(account)?;
    if let Some(r) = store::running(&s.db).await? {
        if store::chain_alive(&s.db, JOB_RUN, &format!("{JOB_RUN}:{}:", r.id)).await? {
            return Err(AppError::Conflict(format!(
                "re-verification run {} is already going: one run at a time",
                r.id
            )));
        }
        let mut tx = s.db.begin().await?;
        store::end(
            &mut tx,
            r.id,
            RunState::Failed,
            Some("its job stopped before the end"),
            now,
        )
        .await?;
        tx.commit().await?;
    }
    let total = rechecker(s, 1).count_due(now).await?;
    let mut tx = s.db.begin().await?;
    let Some(id) = store::insert(&mut tx, &account.email, now, total).await? else {
        return Err(AppError::Conflict(
            "a re-verification run is already going: one run at a time".into(),
        ));
    };
    queue::enqueue(
        &mut tx,
        JOB_RUN,
        &json!({ "run": id }),
        now,
        Some(&dedupe(id, "")),
    )
    .await?;
    ca::audit::append(
        &mut tx,
        &account.email,
        "recheck.start",
        &format!("recheck-run:{id}"),
        &json!({ "due": total }),
    )
    .await?;
    tx.commit().await?;
    queue::wake();
    store::get(&s.db, id).await?.ok_or(AppError::NotFound)
}

/// A run with the changes it made so far.
pub async fn get(db: &Database, account: &Account, id: i64) -> Result<Run, AppError> {
    staff(account)?;
    store::get(db, id).await?.ok_or(AppError::NotFound)
}

/// The most recent runs, newest first.
pub async fn recent(db: &Database, account: &Account) -> Result<Vec<Run>, AppError> {
    staff(account)?;
    store::recent(db, RECENT).await
}

/// The `recheck.run` job: one batch of its run, then the job of the next batch, or
/// the end of the run.
pub async fn run_job(s: &Services, job: &Job) -> Result<(), JobError> {
    let Some(id) = job.payload["run"].as_i64() else {
        return Err(JobError::Fail("payload without a run id".into()));
    };
    let Some(run) = store::get(&s.db, id).await? else {
        return Err(JobError::Fail(format!("no re-verification run {id}")));
    };
    // Where the run is, read now: a retried job (its previous attempt crashed after
    // the batch committed) continues from there, not from its own payload.
    let Some(after) = store::cursor(&s.db, id).await? else {
        return Ok(());
    };
    let (summary, last) = rechecker(s, CONCURRENCY)
        .run_batch(&after, s.recheck_run_batch.max(1), job.now)
        .await
        .map_err(|e| JobError::Retry(e.to_string()))?;
    Ok(record_batch(s, &run, &after, summary, last, job.now).await?)
}

/// Commits one batch of `run` (taken after site `after`): its counts and changes and
/// the next batch's job, or the end of the run when `last` is `None`.
async fn record_batch(
    s: &Services,
    run: &Run,
    after: &str,
    summary: verifier::recheck::Summary,
    last: Option<String>,
    now: i64,
) -> Result<(), AppError> {
    let id = run.id;
    let mut tx = s.db.begin().await?;
    // Another attempt of this batch may have committed meanwhile (a lease ran out).
    if store::lock_cursor(&mut tx, id).await?.as_deref() != Some(after) {
        return Ok(());
    }
    match last {
        None => {
            store::end(&mut tx, id, RunState::Finished, None, now).await?;
            // The counts as this chain (the only writer of them) read them at start.
            ca::audit::append(
                &mut tx,
                "system",
                "recheck.finish",
                &format!("recheck-run:{id}"),
                &json!({ "done": run.done, "passed": run.passed, "failed": run.failed,
                         "errors": run.errors, "changes": run.changes.len() }),
            )
            .await?;
        }
        Some(last) => {
            let changes: Vec<RunChange> = summary
                .changes
                .iter()
                .map(|c| RunChange {
                    site: c.site.clone(),
                    from: c.from.as_str().into(),
                    to: c.to.as_str().into(),
                    reason: c.reason.clone(),
                    at: now,
                })
                .collect();
            let counts = store::Counts {
                done: summary.checked as i64,
                passed: summary.passed as i64,
                failed: summary.failed() as i64,
                errors: summary.errors() as i64,
            };
            store::add_batch(&mut tx, id, counts, &last, &changes).await?;
            queue::enqueue(
                &mut tx,
                JOB_RUN,
                &json!({ "run": id }),
                now,
                Some(&dedupe(id, &last)),
            )
            .await?;
            if summary.suspended + summary.revoked + summary.released > 0 {
                s.publish_crls_after(&mut tx, now).await?;
            }
        }
    }
    tx.commit().await?;
    queue::wake();
    Ok(())
}
