//! The `health_probe` row: one tiny write that shows the database still takes writes.

use ca::db::Database;
use ca::on_tx;

/// Counts one probe at `now` in its own transaction.
pub async fn probe_write(db: &Database, now: i64) -> ca::Result<()> {
    let mut tx = db.begin().await?;
    on_tx!(&mut tx, |c| sqlx::query(
        "UPDATE health_probe SET probes = probes + 1, written_at = $1 WHERE id = 1"
    )
    .bind(now)
    .execute(c)
    .await
    .map(drop))?;
    Ok(tx.commit().await?)
}
