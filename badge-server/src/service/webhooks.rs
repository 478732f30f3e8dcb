//! An operator's webhook as use cases: setting it (a new secret every time) and
//! removing it, each one transaction with its audit entry; and the `webhook` job,
//! which sends an event to the account's current URL ([`crate::notify::webhook`]
//! signs and delivers).

use serde_json::json;

use crate::domain::account::Account;
use crate::error::AppError;
use crate::jobs::queue::{Job, JobError};
use crate::notify::webhook::{WebhookPayload, new_secret};
use crate::service::Services;
use crate::store::webhooks as store;

/// Sets the account's webhook URL (already checked) with a new secret, which is
/// returned: the only time it leaves the server. Every call rotates the secret.
pub async fn set(s: &Services, account: &Account, url: &str, now: i64) -> Result<String, AppError> {
    let secret = new_secret()?;
    let mut tx = s.db.begin().await?;
    store::set(&mut tx, account.id, url, &secret, now).await?;
    ca::audit::append(
        &mut tx,
        &account.email,
        "webhook.set",
        &account.email,
        &json!({ "url": url }),
    )
    .await?;
    tx.commit().await?;
    Ok(secret)
}

/// Removes the account's webhook; returns whether there was one.
pub async fn clear(s: &Services, account: &Account, now: i64) -> Result<bool, AppError> {
    let mut tx = s.db.begin().await?;
    let removed = store::clear(&mut tx, account.id, now).await?;
    if removed {
        ca::audit::append(
            &mut tx,
            &account.email,
            "webhook.delete",
            &account.email,
            &json!({}),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(removed)
}

/// The `webhook` job: POSTs the event, signed, to the account's current URL. An
/// account without a webhook (never set, or deleted since) makes it a no-op.
pub async fn deliver_job(s: &Services, job: &Job) -> Result<(), JobError> {
    let p = WebhookPayload::of(job)?;
    let Some((url, secret)) = store::target(&s.db, p.account_id).await? else {
        tracing::info!(job = job.id, account = p.account_id, event = %p.event, "no webhook set; event not sent");
        return Ok(());
    };
    s.webhooks.deliver(job, &p, &url, &secret).await
}
