//! The `seal_changes` table: written only by the database's triggers (migration
//! 0026), in the transaction of each change to a site or its certificate's
//! revocation; read by every replica's seal cache to know whose facts to forget.

use ca::db::Database;
use ca::on_pool;

use crate::error::AppError;

/// The newest change id (0 when there is none): where a new poller starts.
pub async fn latest(db: &Database) -> Result<i64, AppError> {
    let (id,): (i64,) = on_pool!(db, |p| sqlx::query_as(
        "SELECT CAST(COALESCE(MAX(id), 0) AS BIGINT) FROM seal_changes"
    )
    .fetch_one(p)
    .await?);
    Ok(id)
}

/// Up to `limit` changes after id `after`, oldest first: (id, site id).
pub async fn after(db: &Database, after: i64, limit: i64) -> Result<Vec<(i64, String)>, AppError> {
    Ok(on_pool!(db, |p| sqlx::query_as(
        "SELECT id, site_id FROM seal_changes WHERE id > $1 ORDER BY id LIMIT $2"
    )
    .bind(after)
    .bind(limit)
    .fetch_all(p)
    .await?))
}

/// The changes among `ids` that have committed by now.
pub async fn among(db: &Database, ids: &[i64]) -> Result<Vec<(i64, String)>, AppError> {
    let mut found = Vec::new();
    // Integers written into the statement (they are ours, not input): one statement
    // for both backends, at most a thousand to a statement.
    for chunk in ids.chunks(1_000) {
        let list = chunk
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let sql = format!("SELECT id, site_id FROM seal_changes WHERE id IN ({list})");
        let rows: Vec<(i64, String)> = on_pool!(db, |p| sqlx::query_as(&sql).fetch_all(p).await?);
        found.extend(rows);
    }
    Ok(found)
}
