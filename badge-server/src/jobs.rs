//! Keeping the CRL and the pre-signed OCSP responses fresh: a recurring `pki.refresh`
//! job on the queue, one per hour.
//!
//! Each run first enqueues the next hour's run (its dedupe key names the hour, so
//! however many replicas and retries there are, each hour has one job), then
//! refreshes. `badge-server serve` enqueues the current hour's run at start, which
//! also restarts the chain should a run ever fail for good. The refresh itself is
//! idempotent (a CRL number only grows, a refresh only re-signs responses close to
//! expiry).

use ca::Ca;

use crate::error::AppError;
use crate::queue::{self, Job, JobError};
use crate::state::AppState;

/// Publish a new CRL when the newest expires within this many seconds.
const CRL_REFRESH_MARGIN: i64 = 3 * 86_400;

/// Seconds between runs.
pub const EVERY: i64 = 3_600;

/// Enqueues the run of the hour that contains `now` (a no-op if it exists).
pub async fn schedule(db: &ca::db::Database, now: i64) -> Result<(), AppError> {
    let hour = now - now.rem_euclid(EVERY);
    let mut tx = db.begin().await?;
    queue::enqueue(
        &mut tx,
        queue::kind::PKI_REFRESH,
        &serde_json::json!({ "hour": hour }),
        hour,
        Some(&format!("{}:{hour}", queue::kind::PKI_REFRESH)),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The `pki.refresh` job: schedules the next hour, then refreshes.
pub async fn refresh_job(state: &AppState, job: &Job) -> Result<(), JobError> {
    schedule(&state.db, job.now + EVERY).await?;
    refresh_once(&state.ca).await?;
    Ok(())
}

/// One pass: a CRL when due, OCSP responses close to expiry.
pub async fn refresh_once(ca: &Ca) -> ca::Result<()> {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let due = match ca::store::latest_crl(ca.db(), ca.slug()).await? {
        Some(crl) => crl.next_update - now < CRL_REFRESH_MARGIN,
        None => true,
    };
    if due {
        let crl = ca.publish_crl("system").await?;
        tracing::info!(number = crl.number, entries = crl.entries, "published CRL");
    }
    let refreshed = ca.refresh_ocsp(10_000).await?;
    if refreshed > 0 {
        tracing::info!(refreshed, "re-signed OCSP responses");
    }
    Ok(())
}
