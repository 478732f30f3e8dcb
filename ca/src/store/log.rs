//! The transparency log's tables (migration 0028): entries, hash tiles, the head,
//! checkpoints and the witnesses' last sizes.

use crate::db::{Database, Tx};
use crate::{Error, Result, on_pool, on_tx};

/// One entry to append.
#[derive(Debug, Clone)]
pub struct NewLogEntry {
    /// The entry's kind name (`issue`, `hold`, …), for queries.
    pub kind: &'static str,
    /// The certificate it is about, if any.
    pub certificate_id: Option<i64>,
    /// The site it is about, if any.
    pub site_id: Option<String>,
    /// The canonical entry bytes.
    pub body: Vec<u8>,
}

/// A stored entry.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LogEntryRow {
    /// Its index in the log.
    pub idx: i64,
    /// Its kind name.
    pub kind: String,
    /// The certificate it is about, if any.
    pub certificate_id: Option<i64>,
    /// The canonical entry bytes.
    pub body: Vec<u8>,
}

/// A stored checkpoint.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CheckpointRow {
    /// Entries in the tree.
    pub size: i64,
    /// Its root hash.
    pub root: Vec<u8>,
    /// The note as the log signed it.
    pub note: String,
    /// The note as published (with cosignatures), once published.
    pub published: Option<String>,
    /// When it was signed, Unix seconds.
    pub signed_at: i64,
    /// When it was published, Unix seconds.
    pub published_at: Option<i64>,
}

/// Creates the head row with `salt` unless it exists.
pub async fn ensure_head(db: &Database, empty_root: &[u8], salt: &[u8]) -> Result<()> {
    on_pool!(db, |c| {
        sqlx::query(
        "INSERT INTO log_head (id, size, root, salt) VALUES (1, 0, $1, $2) ON CONFLICT (id) DO NOTHING"
    )
    .bind(empty_root)
    .bind(salt)
    .execute(c)
    .await
    .map(|_| ())?
    });
    Ok(())
}

/// The salt of complaint hashes.
pub async fn salt_in(tx: &mut Tx) -> Result<Vec<u8>> {
    let row: Option<(Vec<u8>,)> = on_tx!(tx, |c| sqlx::query_as(
        "SELECT salt FROM log_head WHERE id = 1"
    )
    .fetch_optional(c)
    .await?);
    row.map(|r| r.0)
        .ok_or_else(|| Error::Encoding("the log has no head row: open the log first".into()))
}

/// Appends entries, taking their indexes from the `log` counter: its row lock makes
/// transactions that append commit in index order. Returns the first index.
pub async fn append(tx: &mut Tx, entries: &[NewLogEntry]) -> Result<i64> {
    if entries.is_empty() {
        return Ok(0);
    }
    let n = i64::try_from(entries.len()).map_err(|_| Error::Encoding("too many entries".into()))?;
    let last = super::reserve_counter(tx, "log", n).await?;
    let first = last - n;
    for (k, chunk) in entries.chunks(200).enumerate() {
        let base = first + (k * 200) as i64;
        on_tx!(tx, |c| {
            let mut q = sqlx::QueryBuilder::new(
                "INSERT INTO log_entries (idx, kind, certificate_id, site_id, body) ",
            );
            q.push_values(chunk.iter().enumerate(), |mut b, (i, e)| {
                b.push_bind(base + i as i64)
                    .push_bind(e.kind)
                    .push_bind(e.certificate_id)
                    .push_bind(e.site_id.clone())
                    .push_bind(e.body.clone());
            });
            q.build().execute(&mut *c).await.map(|_| ())?
        });
    }
    Ok(first)
}

/// How many entries have been appended (committed and visible to this transaction).
pub async fn appended(tx: &mut Tx) -> Result<i64> {
    let row: Option<(i64,)> = on_tx!(tx, |c| sqlx::query_as(
        "SELECT value FROM counters WHERE name = 'log'"
    )
    .fetch_optional(c)
    .await?);
    Ok(row.map_or(0, |r| r.0))
}

/// Locks the head for the integrator and returns (size, root).
pub async fn head_for_update(tx: &mut Tx) -> Result<(i64, Vec<u8>)> {
    let row: Option<(i64, Vec<u8>)> = on_tx!(tx, |c| sqlx::query_as(
        "UPDATE log_head SET size = size WHERE id = 1 RETURNING size, root"
    )
    .fetch_optional(c)
    .await?);
    row.ok_or_else(|| Error::Encoding("the log has no head row: open the log first".into()))
}

/// The head, as `tx` sees it: (size, root).
pub async fn head(tx: &mut Tx) -> Result<(i64, Vec<u8>)> {
    let row: Option<(i64, Vec<u8>)> = on_tx!(tx, |c| sqlx::query_as(
        "SELECT size, root FROM log_head WHERE id = 1"
    )
    .fetch_optional(c)
    .await?);
    Ok(row.unwrap_or((0, Vec::new())))
}

/// Moves the head.
pub async fn set_head(tx: &mut Tx, size: i64, root: &[u8]) -> Result<()> {
    on_tx!(tx, |c| sqlx::query(
        "UPDATE log_head SET size = $1, root = $2 WHERE id = 1"
    )
    .bind(size)
    .bind(root)
    .execute(c)
    .await
    .map(|_| ())?);
    Ok(())
}

/// Entries `from ..` in index order, at most `limit`.
pub async fn entries_in(tx: &mut Tx, from: i64, limit: i64) -> Result<Vec<LogEntryRow>> {
    Ok(on_tx!(tx, |c| {
        sqlx::query_as(
        "SELECT idx, kind, certificate_id, body FROM log_entries WHERE idx >= $1 ORDER BY idx LIMIT $2"
    )
    .bind(from)
    .bind(limit)
    .fetch_all(c)
    .await?
    }))
}

/// Entries `from .. to` in index order.
pub async fn entries(db: &Database, from: i64, to: i64) -> Result<Vec<LogEntryRow>> {
    Ok(on_pool!(db, |c| {
        sqlx::query_as(
        "SELECT idx, kind, certificate_id, body FROM log_entries WHERE idx >= $1 AND idx < $2 ORDER BY idx"
    )
    .bind(from)
    .bind(to)
    .fetch_all(c)
    .await?
    }))
}

/// The entries about a site, in index order.
pub async fn entries_of_site(db: &Database, site_id: &str) -> Result<Vec<LogEntryRow>> {
    Ok(on_pool!(db, |c| sqlx::query_as(
        "SELECT idx, kind, certificate_id, body FROM log_entries WHERE site_id = $1 ORDER BY idx"
    )
    .bind(site_id)
    .fetch_all(c)
    .await?))
}

/// The site a certificate was issued for, from its `issue` entry.
pub async fn site_of_certificate_in(tx: &mut Tx, certificate_id: i64) -> Result<Option<String>> {
    let row: Option<(Option<String>,)> = on_tx!(tx, |c| {
        sqlx::query_as(
        "SELECT site_id FROM log_entries WHERE certificate_id = $1 AND kind = 'issue' ORDER BY idx LIMIT 1"
    )
    .bind(certificate_id)
    .fetch_optional(c)
    .await?
    });
    Ok(row.and_then(|r| r.0))
}

/// The body of the newest entry of `kind`.
pub async fn last_of_kind_in(tx: &mut Tx, kind: &str) -> Result<Option<Vec<u8>>> {
    let row: Option<(Vec<u8>,)> = on_tx!(tx, |c| sqlx::query_as(
        "SELECT body FROM log_entries WHERE kind = $1 ORDER BY idx DESC LIMIT 1"
    )
    .bind(kind)
    .fetch_optional(c)
    .await?);
    Ok(row.map(|r| r.0))
}

/// Most tiles read by one query (two parameters each). A tree computation asks for
/// a handful (one per level and the right edge), so one query almost always does.
const TILES_PER_QUERY: usize = 64;

/// `SELECT` of the tiles with `keys` (level, n) pairs as `$1, $2, …`: one query for
/// all the tiles a proof needs rather than one round trip per tile, which was most
/// of an inclusion proof's time (bench-log). Each `OR` term is a primary-key lookup
/// on SQLite and PostgreSQL alike.
fn tiles_sql(keys: usize) -> String {
    let terms: Vec<String> = (0..keys)
        .map(|k| format!("(level = ${} AND n = ${})", 2 * k + 1, 2 * k + 2))
        .collect();
    format!(
        "SELECT level, n, data FROM log_tiles WHERE {}",
        terms.join(" OR ")
    )
}

fn tile_key((level, n): &(u8, u64)) -> (i16, i64) {
    (i16::from(*level), i64::try_from(*n).unwrap_or(i64::MAX))
}

/// Hash tiles by (level, n), in no particular order; those not stored are left out.
pub async fn tiles_in(tx: &mut Tx, keys: &[(u8, u64)]) -> Result<Vec<(i16, i64, Vec<u8>)>> {
    let mut out = Vec::with_capacity(keys.len());
    for chunk in keys.chunks(TILES_PER_QUERY) {
        let sql = tiles_sql(chunk.len());
        let rows: Vec<(i16, i64, Vec<u8>)> = on_tx!(tx, |c| {
            let mut q = sqlx::query_as(&sql);
            for (level, n) in chunk.iter().map(tile_key) {
                q = q.bind(level).bind(n);
            }
            q.fetch_all(c).await?
        });
        out.extend(rows);
    }
    Ok(out)
}

/// Hash tiles by (level, n), outside a transaction, in no particular order; those
/// not stored are left out.
pub async fn tiles(db: &Database, keys: &[(u8, u64)]) -> Result<Vec<(i16, i64, Vec<u8>)>> {
    let mut out = Vec::with_capacity(keys.len());
    for chunk in keys.chunks(TILES_PER_QUERY) {
        let sql = tiles_sql(chunk.len());
        let rows: Vec<(i16, i64, Vec<u8>)> = on_pool!(db, |c| {
            let mut q = sqlx::query_as(&sql);
            for (level, n) in chunk.iter().map(tile_key) {
                q = q.bind(level).bind(n);
            }
            q.fetch_all(c).await?
        });
        out.extend(rows);
    }
    Ok(out)
}

/// Every hash tile of a level, in order (for `ca log verify`).
pub async fn tiles_of_level(
    db: &Database,
    level: u8,
    from: i64,
    limit: i64,
) -> Result<Vec<(i64, Vec<u8>)>> {
    Ok(on_pool!(db, |c| sqlx::query_as(
        "SELECT n, data FROM log_tiles WHERE level = $1 AND n >= $2 ORDER BY n LIMIT $3"
    )
    .bind(i16::from(level))
    .bind(from)
    .bind(limit)
    .fetch_all(c)
    .await?))
}

/// Stores hash tiles, replacing narrower versions.
pub async fn put_tiles(tx: &mut Tx, tiles: &[(u8, u64, Vec<u8>)]) -> Result<()> {
    for chunk in tiles.chunks(100) {
        on_tx!(tx, |c| {
            let mut q = sqlx::QueryBuilder::new("INSERT INTO log_tiles (level, n, data) ");
            q.push_values(chunk, |mut b, (level, n, data)| {
                b.push_bind(i16::from(*level))
                    .push_bind(i64::try_from(*n).unwrap_or(i64::MAX))
                    .push_bind(data.clone());
            });
            q.push(" ON CONFLICT (level, n) DO UPDATE SET data = excluded.data");
            q.build().execute(&mut *c).await.map(|_| ())?
        });
    }
    Ok(())
}

/// Stores a newly signed checkpoint.
pub async fn insert_checkpoint(
    tx: &mut Tx,
    size: i64,
    root: &[u8],
    note: &str,
    now: i64,
) -> Result<()> {
    on_tx!(tx, |c| sqlx::query(
        "INSERT INTO log_checkpoints (size, root, note, signed_at) VALUES ($1, $2, $3, $4)"
    )
    .bind(size)
    .bind(root)
    .bind(note)
    .bind(now)
    .execute(c)
    .await
    .map(|_| ())?);
    Ok(())
}

/// Marks a checkpoint published, as `published` (the note with its cosignatures).
pub async fn publish_checkpoint(db: &Database, size: i64, published: &str, now: i64) -> Result<()> {
    on_pool!(db, |c| sqlx::query(
        "UPDATE log_checkpoints SET published = $2, published_at = $3 WHERE size = $1"
    )
    .bind(size)
    .bind(published)
    .bind(now)
    .execute(c)
    .await
    .map(|_| ())?);
    Ok(())
}

const CHECKPOINT_COLUMNS: &str = "size, root, note, published, signed_at, published_at";

/// The newest published checkpoint.
pub async fn latest_published(db: &Database) -> Result<Option<CheckpointRow>> {
    let sql = format!(
        "SELECT {CHECKPOINT_COLUMNS} FROM log_checkpoints WHERE published IS NOT NULL ORDER BY size DESC LIMIT 1"
    );
    Ok(on_pool!(db, |c| sqlx::query_as(&sql)
        .fetch_optional(c)
        .await?))
}

/// Signed checkpoints not yet published, oldest first.
pub async fn unpublished(db: &Database) -> Result<Vec<CheckpointRow>> {
    let sql = format!(
        "SELECT {CHECKPOINT_COLUMNS} FROM log_checkpoints WHERE published IS NULL ORDER BY size"
    );
    Ok(on_pool!(db, |c| sqlx::query_as(&sql).fetch_all(c).await?))
}

/// Every checkpoint, in size order (for `ca log verify`).
pub async fn checkpoints(tx: &mut Tx) -> Result<Vec<CheckpointRow>> {
    let sql = format!("SELECT {CHECKPOINT_COLUMNS} FROM log_checkpoints ORDER BY size");
    Ok(on_tx!(tx, |c| sqlx::query_as(&sql).fetch_all(c).await?))
}

/// The size a witness last cosigned (0 when never).
pub async fn witness_size(db: &Database, name: &str) -> Result<i64> {
    let row: Option<(i64,)> = on_pool!(db, |c| sqlx::query_as(
        "SELECT size FROM log_witnesses WHERE name = $1"
    )
    .bind(name)
    .fetch_optional(c)
    .await?);
    Ok(row.map_or(0, |r| r.0))
}

/// Records the size a witness last cosigned.
pub async fn set_witness_size(db: &Database, name: &str, size: i64) -> Result<()> {
    on_pool!(db, |c| sqlx::query(
        "INSERT INTO log_witnesses (name, size) VALUES ($1, $2) \
         ON CONFLICT (name) DO UPDATE SET size = excluded.size"
    )
    .bind(name)
    .bind(size)
    .execute(c)
    .await
    .map(|_| ())?);
    Ok(())
}

/// Issued certificates without exactly one `issue` entry: (certificate id, entries).
pub async fn certificates_not_logged_once(tx: &mut Tx) -> Result<Vec<(i64, i64)>> {
    Ok(on_tx!(tx, |c| sqlx::query_as(
        "SELECT c.id, COUNT(e.idx) FROM certificates c \
         LEFT JOIN log_entries e ON e.certificate_id = c.id AND e.kind = 'issue' \
         WHERE c.status = 'issued' GROUP BY c.id HAVING COUNT(e.idx) <> 1 ORDER BY c.id LIMIT 10"
    )
    .fetch_all(c)
    .await?))
}

/// Every issued certificate's SHA-256: (id, hash).
pub async fn certificate_hashes(tx: &mut Tx) -> Result<Vec<(i64, Vec<u8>)>> {
    Ok(on_tx!(tx, |c| sqlx::query_as(
        "SELECT id, sha256 FROM certificates WHERE status = 'issued' AND sha256 IS NOT NULL"
    )
    .fetch_all(c)
    .await?))
}

/// Each certificate's revocation state as the database has it: (certificate id,
/// reason code) for every revoked or held certificate.
pub async fn revocation_reasons(tx: &mut Tx) -> Result<Vec<(i64, i64)>> {
    Ok(on_tx!(tx, |c| sqlx::query_as(
        "SELECT certificate_id, reason FROM revocations ORDER BY certificate_id"
    )
    .fetch_all(c)
    .await?))
}

/// Issued certificates with no `issue` entry (for the backfill), at most `limit`:
/// (id, issuer slug, DER).
pub async fn unlogged_certificates(
    db: &Database,
    limit: i64,
) -> Result<Vec<(i64, String, Vec<u8>)>> {
    Ok(on_pool!(db, |c| sqlx::query_as(
        "SELECT c.id, i.slug, c.der FROM certificates c JOIN issuers i ON i.id = c.issuer_id \
         WHERE c.status = 'issued' AND c.der IS NOT NULL AND NOT EXISTS \
         (SELECT 1 FROM log_entries e WHERE e.certificate_id = c.id) ORDER BY c.id LIMIT $1"
    )
    .bind(limit)
    .fetch_all(c)
    .await?))
}
