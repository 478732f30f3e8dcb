//! The `sessions` table and the server's own keys (`server_keys`): what a browser's
//! cookie stands for.

use ca::db::{Database, Tx};
use ca::{on_pool, on_tx};

use crate::error::AppError;

/// A session row with its account, as `find` reads it.
pub struct SessionRow {
    /// The signed-in account, if any.
    pub account_id: Option<i64>,
    /// The form token of the session.
    pub csrf: String,
    /// When the session was last used.
    pub last_seen_at: i64,
    /// When the session ends however active.
    pub expires_at: i64,
    /// The account's address.
    pub email: Option<String>,
    /// The account's role as stored.
    pub role: Option<String>,
    /// The message left for the next page.
    pub flash: Option<String>,
    /// The member a `member` account acts for.
    pub member: Option<String>,
}

/// The session with this id hash and its account, if the row exists.
pub async fn find(db: &Database, id_hash: &[u8]) -> Result<Option<SessionRow>, AppError> {
    type Row = (
        Option<i64>,
        String,
        i64,
        i64,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
    );
    let row: Option<Row> = on_pool!(db, |p| {
        sqlx::query_as(
            "SELECT s.account_id, s.csrf_token, s.last_seen_at, s.expires_at, a.email, a.role, s.flash, a.member_id \
             FROM sessions s LEFT JOIN accounts a ON a.id = s.account_id WHERE s.id_hash = $1",
        )
        .bind(id_hash)
        .fetch_optional(p)
        .await?
    });
    Ok(row.map(
        |(account_id, csrf, last_seen_at, expires_at, email, role, flash, member)| SessionRow {
            account_id,
            csrf,
            last_seen_at,
            expires_at,
            email,
            role,
            flash,
            member,
        },
    ))
}

/// Records that the session was used at `now`.
pub async fn touch(db: &Database, id_hash: &[u8], now: i64) -> Result<(), AppError> {
    on_pool!(db, |p| sqlx::query(
        "UPDATE sessions SET last_seen_at = $2 WHERE id_hash = $1"
    )
    .bind(id_hash)
    .bind(now)
    .execute(p)
    .await
    .map(|_| ())?);
    Ok(())
}

/// Sets (or, with `None`, clears) the message for the session's next page.
pub async fn set_flash(
    db: &Database,
    id_hash: &[u8],
    message: Option<&str>,
) -> Result<(), AppError> {
    on_pool!(db, |p| sqlx::query(
        "UPDATE sessions SET flash = $2 WHERE id_hash = $1"
    )
    .bind(id_hash)
    .bind(message)
    .execute(p)
    .await
    .map(|_| ())?);
    Ok(())
}

/// Deletes one session.
pub async fn delete(db: &Database, id_hash: &[u8]) -> Result<(), AppError> {
    on_pool!(db, |p| sqlx::query(
        "DELETE FROM sessions WHERE id_hash = $1"
    )
    .bind(id_hash)
    .execute(p)
    .await
    .map(|_| ())?);
    Ok(())
}

/// Sweeps sessions expired by `now` (or idle since `idle_before`) and the one being
/// replaced (`old`, empty for none).
pub async fn sweep(tx: &mut Tx, now: i64, idle_before: i64, old: &[u8]) -> Result<(), AppError> {
    on_tx!(tx, |c| sqlx::query(
        "DELETE FROM sessions WHERE expires_at <= $1 OR last_seen_at <= $2 OR id_hash = $3"
    )
    .bind(now)
    .bind(idle_before)
    .bind(old)
    .execute(c)
    .await
    .map(|_| ())?);
    Ok(())
}

/// A new signed-in session.
pub async fn insert(
    tx: &mut Tx,
    id_hash: &[u8],
    account_id: i64,
    csrf: &str,
    now: i64,
    expires_at: i64,
) -> Result<(), AppError> {
    on_tx!(tx, |c| {
        sqlx::query(
        "INSERT INTO sessions (id_hash, account_id, csrf_token, created_at, last_seen_at, expires_at) \
         VALUES ($1, $2, $3, $4, $4, $5)"
    )
    .bind(id_hash)
    .bind(account_id)
    .bind(csrf)
    .bind(now)
    .bind(expires_at)
    .execute(c)
    .await
    .map(|_| ())?
    });
    Ok(())
}

/// The secret of the anonymous forms' CSRF key (made by a migration, shared by every
/// replica).
pub async fn form_secret(db: &Database) -> Result<Vec<u8>, AppError> {
    let (secret,): (Vec<u8>,) = on_pool!(db, |p| sqlx::query_as(
        "SELECT secret FROM server_keys WHERE name = 'form'"
    )
    .fetch_one(p)
    .await?);
    Ok(secret)
}
