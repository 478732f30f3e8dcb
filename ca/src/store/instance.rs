//! The serial-prefix leases: `ca_instances`. What makes a lease live is
//! [`crate::instance`]'s rule.

use crate::db::Database;
use crate::{Result, on_pool};

/// Who holds a prefix, as stored.
#[derive(sqlx::FromRow)]
pub(crate) struct Holder {
    /// The holder's random token.
    pub(crate) holder: String,
    /// Its host name.
    pub(crate) host: String,
    /// Its process id.
    pub(crate) pid: i64,
    /// Unix second the lease runs out unless renewed.
    pub(crate) expires_at: i64,
}

/// Inserts a lease on `prefix` unless one exists; returns the rows inserted (0 or 1).
pub(crate) async fn insert(
    db: &Database,
    prefix: u8,
    token: &str,
    host: &str,
    pid: i64,
    now: i64,
    expires_at: i64,
) -> Result<u64> {
    Ok(on_pool!(db, |p| sqlx::query(
        "INSERT INTO ca_instances (prefix, holder, host, pid, claimed_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (prefix) DO NOTHING"
    )
    .bind(i64::from(prefix))
    .bind(token)
    .bind(host)
    .bind(pid)
    .bind(now)
    .bind(expires_at)
    .execute(p)
    .await
    .map(|r| r.rows_affected()))?)
}

/// The current holder of `prefix`, if any.
pub(crate) async fn holder(db: &Database, prefix: u8) -> Result<Option<Holder>> {
    Ok(on_pool!(db, |p| sqlx::query_as(
        "SELECT holder, host, pid, expires_at FROM ca_instances WHERE prefix = $1"
    )
    .bind(i64::from(prefix))
    .fetch_optional(p)
    .await)?)
}

/// Deletes the lease on `prefix` if `token` still holds it.
pub(crate) async fn delete(db: &Database, prefix: u8, token: &str) -> Result<()> {
    on_pool!(db, |p| sqlx::query(
        "DELETE FROM ca_instances WHERE prefix = $1 AND holder = $2"
    )
    .bind(i64::from(prefix))
    .bind(token)
    .execute(p)
    .await
    .map(drop))?;
    Ok(())
}

/// Extends the lease on `prefix` to `until` if `token` still holds it; returns the
/// rows updated (0 when it was taken over or is gone).
pub(crate) async fn renew(db: &Database, prefix: u8, token: &str, until: i64) -> Result<u64> {
    Ok(on_pool!(db, |p| sqlx::query(
        "UPDATE ca_instances SET expires_at = $3 WHERE prefix = $1 AND holder = $2"
    )
    .bind(i64::from(prefix))
    .bind(token)
    .bind(until)
    .execute(p)
    .await
    .map(|r| r.rows_affected()))?)
}
