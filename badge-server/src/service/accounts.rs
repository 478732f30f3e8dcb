//! Account use cases that tell someone: confirmation and reset mails, and the
//! queued reset request that answers every address the same way.

use crate::domain::account::*;
use crate::error::AppError;
use crate::store::accounts::*;
use serde_json::json;

/// Queues a mail (`{"to", "subject", "text"}`) in the transaction that causes it.
pub async fn enqueue_mail(
    tx: &mut ca::db::Tx,
    to: &str,
    (subject, text): (String, String),
    now: i64,
) -> Result<(), AppError> {
    crate::jobs::queue::enqueue(
        tx,
        crate::jobs::kind::MAIL,
        &json!({ "to": to, "subject": subject, "text": text }),
        now,
        None,
    )
    .await?;
    Ok(())
}

/// Creates a reset link for the account and queues the mail that carries it.
pub async fn enqueue_reset(
    tx: &mut ca::db::Tx,
    account: &Account,
    public_url: &str,
    now: i64,
) -> Result<(), AppError> {
    let token = create_email_token(tx, account.id, Purpose::Reset, now).await?;
    let link = format!("{public_url}/password/reset?token={token}");
    enqueue_mail(
        tx,
        &account.email,
        crate::notify::account_mail::reset(&link),
        now,
    )
    .await
}

/// Queues the handling of a reset request for `email`, whether or not it has an
/// account: the request does the same work either way, so its timing says nothing
/// about which addresses have accounts. [`reset_request_job`] decides.
pub async fn enqueue_reset_request(
    tx: &mut ca::db::Tx,
    email: &Email,
    now: i64,
) -> Result<(), AppError> {
    crate::jobs::queue::enqueue(
        tx,
        JOB_RESET_REQUEST,
        &json!({ "email": email.as_str() }),
        now,
        None,
    )
    .await
    .map(drop)
}

/// The queue's handler for [`JOB_RESET_REQUEST`]: for an address with an account, a
/// new link and its mail (in one transaction); for any other, nothing.
pub async fn reset_request_job(
    state: &crate::service::Services,
    job: &crate::jobs::queue::Job,
) -> Result<(), crate::jobs::queue::JobError> {
    use crate::jobs::queue::JobError;
    let email = job.payload["email"]
        .as_str()
        .and_then(|e| Email::parse(e).ok())
        .ok_or_else(|| JobError::Fail("reset request without a valid email".into()))?;
    let Some(creds) = credentials(&state.db, &email)
        .await
        .map_err(|e| JobError::Retry(e.to_string()))?
    else {
        return Ok(());
    };
    let retry = |e: AppError| JobError::Retry(e.to_string());
    let mut tx = state
        .db
        .begin()
        .await
        .map_err(|e| JobError::Retry(e.to_string()))?;
    enqueue_reset(&mut tx, &creds.account, &state.public_url, job.now)
        .await
        .map_err(retry)?;
    tx.commit()
        .await
        .map_err(|e| JobError::Retry(e.to_string()))?;
    Ok(())
}

/// Creates a confirmation link for the account and queues the mail that carries it.
pub async fn enqueue_confirm(
    tx: &mut ca::db::Tx,
    account: &Account,
    public_url: &str,
    now: i64,
) -> Result<(), AppError> {
    let token = create_email_token(tx, account.id, Purpose::Confirm, now).await?;
    let link = format!("{public_url}/confirm?token={token}");
    enqueue_mail(
        tx,
        &account.email,
        crate::notify::account_mail::confirm(&link),
        now,
    )
    .await
}
