//! The `seal_copies` table: hosts that embed a site's seal without being one of its
//! domains, counted in batches by the seal cache's flusher, and read by staff as the
//! copied-seal report ([`crate::domain::warning::SealCopy`]).

use ca::db::Database;
use ca::on_pool;

use crate::domain::warning::SealCopy;
use crate::error::AppError;

/// Sightings of one host's copy since the last flush.
#[derive(Debug, Clone, Copy)]
pub struct Sightings {
    /// First sighting, unix seconds.
    pub first: i64,
    /// Last sighting, unix seconds.
    pub last: i64,
    /// How many.
    pub hits: i64,
}

/// Adds `seen` to a host already on record (one more hour of sightings when the clock
/// hour changed since its last); rows changed (0: not on record).
pub async fn count(
    db: &Database,
    site: &str,
    host: &str,
    seen: Sightings,
) -> Result<u64, AppError> {
    Ok(on_pool!(db, |p| sqlx::query(
        "UPDATE seal_copies SET hits = hits + $3, last_seen = $4, \
         hours_seen = hours_seen + CASE WHEN $4 / 3600 > last_seen / 3600 THEN 1 ELSE 0 END \
         WHERE site_id = $1 AND host = $2"
    )
    .bind(site)
    .bind(host)
    .bind(seen.hits)
    .bind(seen.last)
    .execute(p)
    .await?
    .rows_affected()))
}

/// Records a new host while the site has fewer than `cap` on record; rows inserted.
pub async fn insert_below_cap(
    db: &Database,
    site: &str,
    host: &str,
    seen: Sightings,
    cap: i64,
) -> Result<u64, AppError> {
    Ok(on_pool!(db, |p| sqlx::query(
        "INSERT INTO seal_copies (site_id, host, first_seen, last_seen, hits, hours_seen) \
         SELECT $1, $2, $3, $4, $5, 1 \
         WHERE (SELECT COUNT(*) FROM seal_copies WHERE site_id = $1) < $6 \
         ON CONFLICT (site_id, host) DO NOTHING"
    )
    .bind(site)
    .bind(host)
    .bind(seen.first)
    .bind(seen.last)
    .bind(seen.hits)
    .bind(cap)
    .execute(p)
    .await?
    .rows_affected()))
}

/// Deletes the site's weakest unconfirmed host (seen in fewer than `confirm_hours`
/// hours, with at most `hits` sightings; fewest sightings, then oldest); rows deleted.
pub async fn evict_weakest(
    db: &Database,
    site: &str,
    confirm_hours: i64,
    hits: i64,
) -> Result<u64, AppError> {
    Ok(on_pool!(db, |p| sqlx::query(
        "DELETE FROM seal_copies WHERE site_id = $1 AND host = (SELECT host FROM seal_copies \
         WHERE site_id = $1 AND hours_seen < $2 AND hits <= $3 \
         ORDER BY hits, last_seen LIMIT 1)"
    )
    .bind(site)
    .bind(confirm_hours)
    .bind(hits)
    .execute(p)
    .await?
    .rows_affected()))
}

/// A `seal_copies` row as read.
#[derive(sqlx::FromRow)]
struct CopyRow {
    site_id: String,
    host: String,
    first_seen: i64,
    last_seen: i64,
    hits: i64,
}

impl From<CopyRow> for SealCopy {
    fn from(r: CopyRow) -> SealCopy {
        SealCopy {
            site_id: r.site_id,
            host: r.host,
            first_seen: r.first_seen,
            last_seen: r.last_seen,
            hits: r.hits,
        }
    }
}

/// The copied-seal records of hosts seen in at least `min_hours` different hours,
/// most requests first.
pub async fn copies(db: &Database, min_hours: i64) -> Result<Vec<SealCopy>, AppError> {
    let rows: Vec<CopyRow> = on_pool!(db, |p| {
        sqlx::query_as(
        "SELECT site_id, host, first_seen, last_seen, hits FROM seal_copies WHERE hours_seen >= $1 \
         ORDER BY hits DESC, last_seen DESC LIMIT 500"
    )
    .bind(min_hours)
    .fetch_all(p)
    .await
    ?
    });
    Ok(rows.into_iter().map(SealCopy::from).collect())
}

/// The copied-seal record of `host` showing the seal of `site`.
pub async fn copy(db: &Database, site: &str, host: &str) -> Result<Option<SealCopy>, AppError> {
    let row: Option<CopyRow> = on_pool!(db, |p| {
        sqlx::query_as(
        "SELECT site_id, host, first_seen, last_seen, hits FROM seal_copies WHERE site_id = $1 AND host = $2"
    )
    .bind(site)
    .bind(host)
    .fetch_optional(p)
    .await
    ?
    });
    Ok(row.map(SealCopy::from))
}
