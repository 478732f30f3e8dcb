//! The durable job queue: work that must happen later or outside the request
//! (mail, webhooks, complaint deadlines and reminders) is a row in `jobs`, written
//! in the same transaction as the state change that causes it, so a notification
//! is sent if and only if the change committed.

use ca::db::Tx;
use ca::on_tx;

use crate::error::AppError;

/// Job kinds.
pub mod kind {
    /// Send an e-mail: payload `{"to", "subject", "text"}`.
    pub const MAIL: &str = "mail";
    /// POST a signed webhook to an account's URL: payload `{"account_id", "event", "data"}`.
    pub const WEBHOOK: &str = "webhook";
}

/// Enqueues a job to run at `run_at` (unix seconds). With a `dedupe_key`, a second
/// enqueue with the same key is a no-op and returns `None`.
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
    .map_err(ca::Error::from)?
    });
    Ok(row.map(|r| r.0))
}
