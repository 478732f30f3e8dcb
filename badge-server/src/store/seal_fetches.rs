//! The `seal_no_referer` table: how often a certified site's seal was fetched
//! without a `Referer`, per day, as the seal cache's flusher counts it.

use ca::db::Database;
use ca::on_pool;

use crate::error::AppError;

/// Adds `hits` fetches without a `Referer` to `site` on unix day `day`.
pub async fn add_no_referer(
    db: &Database,
    site: &str,
    day: i64,
    hits: i64,
) -> Result<(), AppError> {
    on_pool!(db, |p| sqlx::query(
        "INSERT INTO seal_no_referer (site_id, day, hits) VALUES ($1, $2, $3) \
         ON CONFLICT (site_id, day) DO UPDATE SET hits = seal_no_referer.hits + excluded.hits"
    )
    .bind(site)
    .bind(day)
    .bind(hits)
    .execute(p)
    .await
    .map(drop)?);
    Ok(())
}

/// Fetches without a `Referer` of `site` on days `since_day` and later.
pub async fn no_referer_since(db: &Database, site: &str, since_day: i64) -> Result<i64, AppError> {
    // PostgreSQL sums BIGINT as NUMERIC: cast back.
    let (n,): (i64,) = on_pool!(db, |p| sqlx::query_as(
        "SELECT CAST(COALESCE(SUM(hits), 0) AS BIGINT) FROM seal_no_referer \
         WHERE site_id = $1 AND day >= $2"
    )
    .bind(site)
    .bind(since_day)
    .fetch_one(p)
    .await?);
    Ok(n)
}
