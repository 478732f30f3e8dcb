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
//! is looked up by its kind in a [`Registry`], which the application fills
//! (`app::job_registry`): the queue itself names no kind.

use std::sync::OnceLock;

use ca::db::Tx;
use tokio::sync::Notify;

use crate::error::AppError;

mod registry;
mod settings;
pub mod worker;

pub use registry::{BoxFuture, Handler, Job, JobError, JobFn, Queue, Registry};
pub use settings::QueueSettings;
pub use worker::run_due;

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
    let id =
        crate::store::jobs::insert(tx, kind, &payload.to_string(), run_at, dedupe_key, now).await?;
    if id.is_some() && run_at <= now {
        wake();
    }
    Ok(id)
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
