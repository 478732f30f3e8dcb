//! The `staff_settings` table: one row per setting staff changed
//! ([`crate::domain::settings`]), with who changed it last and when. The verifier
//! reads the same rows for its timings ([`verifier::store::stored_settings`]).

use ca::db::{Database, Tx};
use ca::{on_pool, on_tx};

use crate::error::AppError;

/// A stored setting.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Stored {
    /// The setting's name ([`crate::domain::settings::DEADLINE_HOURS`], …).
    pub name: String,
    /// Its value as text.
    pub value: String,
    /// Who changed it last (an account's email).
    pub changed_by: String,
    /// When, Unix seconds.
    pub changed_at: i64,
}

const SELECT: &str = "SELECT name, value, changed_by, changed_at FROM staff_settings ORDER BY name";

/// Every stored setting.
pub async fn all(db: &Database) -> Result<Vec<Stored>, AppError> {
    Ok(on_pool!(db, |p| sqlx::query_as(SELECT)
        .fetch_all(p)
        .await?))
}

/// Every stored setting, inside the caller's transaction.
pub async fn all_in(tx: &mut Tx) -> Result<Vec<Stored>, AppError> {
    Ok(on_tx!(tx, |c| sqlx::query_as(SELECT).fetch_all(c).await?))
}

/// Stores `value` for `name`, replacing the row there was.
pub async fn put(
    tx: &mut Tx,
    name: &str,
    value: &str,
    changed_by: &str,
    changed_at: i64,
) -> Result<(), AppError> {
    on_tx!(tx, |c| sqlx::query(
        "INSERT INTO staff_settings (name, value, changed_by, changed_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (name) DO UPDATE SET value = excluded.value, \
         changed_by = excluded.changed_by, changed_at = excluded.changed_at"
    )
    .bind(name)
    .bind(value)
    .bind(changed_by)
    .bind(changed_at)
    .execute(c)
    .await
    .map(drop)?);
    Ok(())
}
