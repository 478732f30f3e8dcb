//! The durable job queue: work that must happen later or outside the request
//! (mail, webhooks, complaint deadlines and reminders) is a row in `jobs`, written
//! in the same transaction as the state change that causes it, so a notification
//! is sent if and only if the change committed.
//!
//! A worker in every `badge-server serve` process claims due jobs in batches
//! ([`worker::run_due`]): PostgreSQL hands each row to one claimant
//! (`FOR UPDATE SKIP LOCKED`), SQLite has a single writer. A claim is a lease
//! (`locked_until`): a job whose worker died becomes runnable again when it expires.
//! A job that fails is retried with exponential backoff; after `max_attempts` it is
//! marked failed, logged as an error and written to the audit log. What a job does
//! is looked up by its kind in a [`Registry`].

use std::sync::OnceLock;

use ca::db::Tx;
use ca::on_tx;
use tokio::sync::Notify;

use crate::error::AppError;

mod registry;
pub mod worker;

pub use registry::{BoxFuture, Handler, Job, JobError, JobFn, Queue, Registry};
pub use worker::{QueueSettings, run_due};

/// Job kinds.
pub mod kind {
    /// Send an e-mail: payload `{"to", "subject", "text"}`.
    pub const MAIL: &str = "mail";
    /// POST a signed webhook to an account's URL: payload `{"account_id", "event", "data"}`.
    pub const WEBHOOK: &str = "webhook";
    /// Keep the CRL and OCSP responses fresh; re-enqueues itself for the next hour.
    pub const PKI_REFRESH: &str = "pki.refresh";
    /// Delete finished jobs, expired sessions and old e-mail links; re-enqueues
    /// itself for the next day.
    pub const HOUSEKEEPING: &str = "housekeeping";
}

/// Enqueues a job to run at `run_at` (unix seconds). With a `dedupe_key`, a second
/// enqueue with the same key is a no-op and returns `None`.
///
/// The worker of this process is woken; it sees the job once `tx` commits (or at its
/// next poll, if the commit comes later than a few milliseconds).
pub async fn enqueue(
    tx: &mut Tx,
    kind: &str,
    payload: &serde_json::Value,
    run_at: i64,
    dedupe_key: Option<&str>,
) -> Result<Option<i64>, AppError> {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let row: Option<(i64,)> = on_tx!(tx, |c| {
        sqlx::query_as(
        "INSERT INTO jobs (kind, payload, run_at, dedupe_key, created_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (dedupe_key) DO NOTHING RETURNING id"
    )
    .bind(kind)
    .bind(payload.to_string())
    .bind(run_at)
    .bind(dedupe_key)
    .bind(now)
    .fetch_optional(c)
    .await
    ?
    });
    if row.is_some() && run_at <= now {
        wake();
    }
    Ok(row.map(|r| r.0))
}

/// The in-process wake-up signal of the worker.
pub(crate) fn waker() -> &'static Notify {
    static WAKE: OnceLock<Notify> = OnceLock::new();
    WAKE.get_or_init(Notify::new)
}

/// Wakes this process's worker now instead of at its next poll (call it after
/// committing a transaction that enqueued due work).
pub fn wake() {
    waker().notify_one();
}
