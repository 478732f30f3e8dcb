//! Deleting what nobody reads again, across the tables that grow on their own: finished
//! jobs, expired sessions, used or expired e-mail links and copied-seal hosts that were
//! never confirmed or went quiet. One file, so that a purge is one transaction and one
//! place to read what is kept how long.

use ca::db::Database;
use ca::on_tx;

use crate::error::AppError;

/// Cut-off times (unix seconds) of one purge: rows older than these go.
#[derive(Debug, Clone, Copy)]
pub struct Cutoffs {
    /// Jobs done before this.
    pub jobs_done: i64,
    /// Jobs failed for good before this.
    pub jobs_failed: i64,
    /// Sessions whose absolute expiry is before this.
    pub sessions: i64,
    /// E-mail links used or expired before this.
    pub email_tokens: i64,
    /// Copied-seal hosts seen in fewer than `copy_confirm_hours` hours, last before this.
    pub copies_unconfirmed: i64,
    /// Any copied-seal host last seen before this.
    pub copies_any: i64,
    /// Hours a copied-seal host must be seen in to count as confirmed.
    pub copy_confirm_hours: i64,
    /// Counts of seals fetched without a `Referer` on unix days before this.
    pub no_referer_day: i64,
    /// Seal changes (`seal_changes`) made before this; every replica has long read them.
    pub seal_changes: i64,
    /// Shared records whose retention (`CHENGXIN_RECORD_RETENTION_DAYS` when they
    /// were submitted) ends before this.
    pub records: i64,
}

/// Rows deleted per table, in the order jobs, sessions, e-mail links, seal copies,
/// counts of seals fetched without a `Referer`, seal changes, shared records.
pub async fn purge(db: &Database, c: &Cutoffs) -> Result<[u64; 7], AppError> {
    let statements: [(&str, &[i64]); 7] = [
        (
            "DELETE FROM jobs WHERE (done_at IS NOT NULL AND done_at < $1) \
             OR (failed_at IS NOT NULL AND failed_at < $2)",
            &[c.jobs_done, c.jobs_failed],
        ),
        ("DELETE FROM sessions WHERE expires_at < $1", &[c.sessions]),
        (
            "DELETE FROM email_tokens WHERE expires_at < $1 OR used_at < $1",
            &[c.email_tokens],
        ),
        (
            "DELETE FROM seal_copies WHERE (hours_seen < $1 AND last_seen < $2) OR last_seen < $3",
            &[c.copy_confirm_hours, c.copies_unconfirmed, c.copies_any],
        ),
        (
            "DELETE FROM seal_no_referer WHERE day < $1",
            &[c.no_referer_day],
        ),
        ("DELETE FROM seal_changes WHERE at < $1", &[c.seal_changes]),
        (
            "DELETE FROM shared_records WHERE expires_at <= $1",
            &[c.records],
        ),
    ];
    let mut tx = db.begin().await?;
    let mut counts = [0u64; 7];
    for (count, (sql, binds)) in counts.iter_mut().zip(statements) {
        *count = on_tx!(&mut tx, |conn| {
            let mut q = sqlx::query(sql);
            for b in binds {
                q = q.bind(*b);
            }
            q.execute(conn).await.map(|r| r.rows_affected())?
        });
    }
    tx.commit().await?;
    Ok(counts)
}
