//! An account's webhook: the `webhook_url`, `webhook_secret` and `webhook_updated_at`
//! columns of `accounts`.

use ca::db::{Database, Tx};
use ca::{on_pool, on_tx};

use crate::error::AppError;

/// Sets the account's webhook URL and secret in the step's transaction.
pub async fn set(
    tx: &mut Tx,
    account: i64,
    url: &str,
    secret: &str,
    now: i64,
) -> Result<(), AppError> {
    on_tx!(tx, |c| sqlx::query(
        "UPDATE accounts SET webhook_url = $1, webhook_secret = $2, webhook_updated_at = $3 \
         WHERE id = $4"
    )
    .bind(url)
    .bind(secret)
    .bind(now)
    .bind(account)
    .execute(c)
    .await
    .map(|_| ())?);
    Ok(())
}

/// Removes the account's webhook in the step's transaction; whether there was one.
pub async fn clear(tx: &mut Tx, account: i64, now: i64) -> Result<bool, AppError> {
    let n = on_tx!(tx, |c| {
        sqlx::query(
        "UPDATE accounts SET webhook_url = NULL, webhook_secret = NULL, webhook_updated_at = $1 \
         WHERE id = $2 AND webhook_url IS NOT NULL"
    )
    .bind(now)
    .bind(account)
    .execute(c)
    .await
    ?
    .rows_affected()
    });
    Ok(n > 0)
}

/// The account's webhook URL and secret, when it has both.
pub async fn target(db: &Database, account: i64) -> Result<Option<(String, String)>, AppError> {
    let row: Option<(Option<String>, Option<String>)> = on_pool!(db, |c| sqlx::query_as(
        "SELECT webhook_url, webhook_secret FROM accounts WHERE id = $1"
    )
    .bind(account)
    .fetch_optional(c)
    .await?);
    Ok(match row {
        Some((Some(url), Some(secret))) => Some((url, secret)),
        _ => None,
    })
}
