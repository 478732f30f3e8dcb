//! The `member_origins` table (migration 0035): where members frame the warnings
//! board. Rules in [`crate::domain::board`], use cases in [`crate::service::origins`].

use ca::db::{Database, Tx};
use ca::{on_pool, on_tx};

use crate::domain::board::MemberOrigin;
use crate::error::AppError;

/// Locks member `id`'s row until the transaction ends (PostgreSQL; SQLite writes one
/// transaction at a time), so that two registrations cannot both take the last
/// place; whether the member exists.
pub async fn lock_member(tx: &mut Tx, id: &str) -> Result<bool, AppError> {
    let sql = match tx {
        Tx::Postgres(_) => "SELECT id FROM members WHERE id = $1 FOR UPDATE",
        _ => "SELECT id FROM members WHERE id = $1",
    };
    let row: Option<(String,)> = on_tx!(tx, |c| sqlx::query_as(sql)
        .bind(id)
        .fetch_optional(c)
        .await?);
    Ok(row.is_some())
}

/// How many origins member `id` has, read in the transaction.
pub async fn count(tx: &mut Tx, id: &str) -> Result<i64, AppError> {
    let (n,): (i64,) = on_tx!(tx, |c| sqlx::query_as(
        "SELECT COUNT(*) FROM member_origins WHERE member_id = $1"
    )
    .bind(id)
    .fetch_one(c)
    .await?);
    Ok(n)
}

/// Adds `origin` to member `id`; false when it has it already.
pub async fn insert(tx: &mut Tx, id: &str, origin: &str, now: i64) -> Result<bool, AppError> {
    let r = on_tx!(tx, |c| sqlx::query(
        "INSERT INTO member_origins (member_id, origin, created_at) VALUES ($1, $2, $3)"
    )
    .bind(id)
    .bind(origin)
    .bind(now)
    .execute(c)
    .await
    .map(|r| r.rows_affected()));
    match r {
        Ok(_) => Ok(true),
        Err(e)
            if e.as_database_error()
                .is_some_and(|d| d.is_unique_violation()) =>
        {
            Ok(false)
        }
        Err(e) => Err(e.into()),
    }
}

/// Removes `origin` from member `id`; whether it had it.
pub async fn delete(tx: &mut Tx, id: &str, origin: &str) -> Result<bool, AppError> {
    let n = on_tx!(tx, |c| sqlx::query(
        "DELETE FROM member_origins WHERE member_id = $1 AND origin = $2"
    )
    .bind(id)
    .bind(origin)
    .execute(c)
    .await?
    .rows_affected());
    Ok(n == 1)
}

/// Member `id`'s origins, oldest first.
pub async fn list(db: &Database, id: &str) -> Result<Vec<MemberOrigin>, AppError> {
    let rows: Vec<(String, i64)> = on_pool!(db, |p| sqlx::query_as(
        "SELECT origin, created_at FROM member_origins WHERE member_id = $1 \
         ORDER BY created_at, origin"
    )
    .bind(id)
    .fetch_all(p)
    .await?);
    Ok(rows
        .into_iter()
        .map(|(origin, created_at)| MemberOrigin { origin, created_at })
        .collect())
}

/// Every member's origins, sorted, each once.
pub async fn all(db: &Database) -> Result<Vec<String>, AppError> {
    let rows: Vec<(String,)> = on_pool!(db, |p| sqlx::query_as(
        "SELECT DISTINCT origin FROM member_origins ORDER BY origin"
    )
    .fetch_all(p)
    .await?);
    Ok(rows.into_iter().map(|r| r.0).collect())
}
