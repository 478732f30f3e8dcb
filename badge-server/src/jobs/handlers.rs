//! Keeping the CRLs and the pre-signed OCSP responses fresh: a recurring `pki.refresh`
//! job on the queue, one per hour, and `crl.publish` after revocations.
//!
//! A revocation marks its certificate's CRL shard dirty and enqueues, in its own
//! transaction, the `crl.publish` job of the current period of
//! `CHENGXIN_CRL_PUBLISH_SECS` (1 s), to run at the period's end: its dedupe key
//! names the period, so however many revocations and replicas, a period has one
//! publication, and a revoked certificate is listed within about a period. The dirty
//! marks are the durable part: a publication that never ran (a crash, a revocation by
//! `verifier recheck` or another process) is made by the next one, by the hourly
//! refresh, or when a server starts.
//!
//! Each run first enqueues the next hour's run (its dedupe key names the hour, so
//! however many replicas and retries there are, each hour has one job), then
//! refreshes. `badge-server serve` enqueues the current hour's run at start, which
//! also restarts the chain should a run ever fail for good. The refresh itself is
//! idempotent (a CRL number only grows, a refresh only re-signs responses close to
//! expiry).
//!
//! A daily `housekeeping` job, chained the same way, deletes what nobody reads
//! again: finished jobs, expired sessions and used or expired e-mail links.

use ca::Ca;

use crate::error::AppError;
use crate::jobs::queue::{self, Job, JobError};
use crate::service::Services;

/// Publish a new CRL for a shard when its newest expires within this many seconds.
const CRL_REFRESH_MARGIN: i64 = 3 * 86_400;

/// Seconds between runs.
pub const EVERY: i64 = 3_600;

/// Seconds between housekeeping runs.
pub const HOUSEKEEPING_EVERY: i64 = 86_400;

/// Finished jobs are kept this long (for staff looking into a delivery).
pub const KEEP_DONE_JOBS: i64 = 30 * 86_400;

/// Jobs that failed for good are kept longer: they are what went wrong.
pub const KEEP_FAILED_JOBS: i64 = 90 * 86_400;

/// Enqueues the run of the hour that contains `now` (a no-op if it exists).
pub async fn schedule(db: &ca::db::Database, now: i64) -> Result<(), AppError> {
    schedule_every(db, crate::jobs::kind::PKI_REFRESH, EVERY, now).await
}

/// Enqueues the housekeeping run of the day that contains `now` (a no-op if it
/// exists).
pub async fn schedule_housekeeping(db: &ca::db::Database, now: i64) -> Result<(), AppError> {
    schedule_every(db, crate::jobs::kind::HOUSEKEEPING, HOUSEKEEPING_EVERY, now).await
}

/// Enqueues the day's `report.build` run (a no-op if it exists).
pub async fn schedule_reports(db: &ca::db::Database, now: i64) -> Result<(), AppError> {
    schedule_every(
        db,
        crate::service::reports::REPORT_BUILD,
        HOUSEKEEPING_EVERY,
        now,
    )
    .await
}

/// The `report.build` job: schedules the next day, then builds the month and the
/// quarter that last ended when they are not published yet (so the first run on or
/// after a period's first day publishes it).
pub async fn report_build_job(state: &Services, job: &Job) -> Result<(), JobError> {
    schedule_reports(&state.db, job.now + HOUSEKEEPING_EVERY).await?;
    for built in
        crate::service::reports::build_due(&state.db, state.chromium.as_deref(), job.now).await?
    {
        tracing::info!(
            period = %built.figures.period,
            pdf = built.has_pdf,
            problem = ?built.pdf_problem,
            "published the anti-fraud work report"
        );
    }
    Ok(())
}

/// One job of `kind` per period of `every` seconds: its dedupe key names the start
/// of the period, so replicas and retries cannot double it.
async fn schedule_every(
    db: &ca::db::Database,
    kind: &str,
    every: i64,
    now: i64,
) -> Result<(), AppError> {
    let start = now - now.rem_euclid(every);
    let mut tx = db.begin().await?;
    queue::enqueue(
        &mut tx,
        kind,
        &serde_json::json!({ "period": start }),
        start,
        Some(&format!("{kind}:{start}")),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The `housekeeping` job: schedules the next day, then purges.
pub async fn housekeeping_job(state: &Services, job: &Job) -> Result<(), JobError> {
    schedule_housekeeping(&state.db, job.now + HOUSEKEEPING_EVERY).await?;
    let purged = purge(&state.db, job.now).await?;
    tracing::info!(?purged, "housekeeping");
    if crate::service::log::anchor_audit(&state.db, job.now).await? {
        tracing::info!("anchored the audit chain's head in the transparency log");
    }
    Ok(())
}

/// Rows deleted by one [`purge`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Purged {
    /// Jobs done more than [`KEEP_DONE_JOBS`] ago or failed more than
    /// [`KEEP_FAILED_JOBS`] ago.
    pub jobs: u64,
    /// Sessions past their absolute expiry.
    pub sessions: u64,
    /// E-mail links used or expired more than a week ago.
    pub email_tokens: u64,
    /// Copied-seal hosts seen in one hour only and not for a day, or not for 90 days.
    pub seal_copies: u64,
    /// Daily counts of seals fetched without a `Referer`, older than 30 days.
    pub no_referer_days: u64,
    /// Seal changes older than an hour.
    pub seal_changes: u64,
    /// Shared records past their retention.
    pub records: u64,
}

/// Deletes, as of `now`, what no one reads again. Pending and running jobs, live
/// sessions and links still in their week of grace (so "this link was already
/// used" can still be told) stay.
pub async fn purge(db: &ca::db::Database, now: i64) -> Result<Purged, AppError> {
    let counts = crate::store::housekeeping::purge(
        db,
        &crate::store::housekeeping::Cutoffs {
            jobs_done: now - KEEP_DONE_JOBS,
            jobs_failed: now - KEEP_FAILED_JOBS,
            sessions: now,
            email_tokens: now - 7 * 86_400,
            copies_unconfirmed: now - 86_400,
            copies_any: now - 90 * 86_400,
            copy_confirm_hours: crate::service::seals::CONFIRM_HOURS,
            no_referer_day: now.div_euclid(86_400) - 30,
            seal_changes: now - 3_600,
            records: now,
        },
    )
    .await?;
    Ok(Purged {
        jobs: counts[0],
        sessions: counts[1],
        email_tokens: counts[2],
        seal_copies: counts[3],
        no_referer_days: counts[4],
        seal_changes: counts[5],
        records: counts[6],
    })
}

/// The `pki.refresh` job: schedules the next hour, then refreshes.
pub async fn refresh_job(state: &Services, job: &Job) -> Result<(), JobError> {
    schedule(&state.db, job.now + EVERY).await?;
    refresh_once(&state.ca).await?;
    Ok(())
}

/// The `crl.publish` job: a new CRL for every shard revocations marked dirty.
pub async fn crl_publish_job(state: &Services, _job: &Job) -> Result<(), JobError> {
    publish_dirty(&state.ca).await?;
    Ok(())
}

/// Publishes the CRLs of the dirty shards (of every issuer); how many.
pub async fn publish_dirty(ca: &Ca) -> ca::Result<usize> {
    let published = ca.publish_dirty_crls("system").await?;
    log_published(&published);
    Ok(published.len())
}

fn log_published(published: &[ca::crl::ShardCrl]) {
    for p in published {
        tracing::info!(
            issuer = %p.issuer,
            shard = p.shard,
            number = p.crl.number,
            entries = p.crl.entries,
            "published CRL"
        );
    }
}

/// One pass: a CRL for each shard that is dirty or whose newest CRL is due (for the
/// issuing CA and each retired one still answering for its certificates), OCSP
/// responses close to expiry.
pub async fn refresh_once(ca: &Ca) -> ca::Result<()> {
    let published = ca.publish_due_crls(CRL_REFRESH_MARGIN, "system").await?;
    log_published(&published);
    let refreshed = ca.refresh_ocsp(10_000).await?;
    if refreshed > 0 {
        tracing::info!(refreshed, "re-signed OCSP responses");
    }
    Ok(())
}
