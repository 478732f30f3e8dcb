//! The `reports` table, and the counts a report is made of, each read from rows that
//! carry their own time: the audit chain (issuances, holds, revocations),
//! `applications`, `complaints` and `complaint_events`, `fraud_warnings`,
//! `seal_copies`, `verification_checks` and `certificates` (provinces).

use std::collections::BTreeMap;

use ca::db::{Database, Tx};
use ca::{on_pool, on_tx};

use crate::domain::complaint::Status;
use crate::domain::report::Counted;
use crate::error::AppError;

/// A stored report.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StoredReport {
    /// `2026-Q4` or `2026-11`.
    pub period: String,
    /// The canonical figures JSON.
    pub figures: String,
    /// When it was built (Unix seconds).
    pub built_at: i64,
    /// Whether a PDF was made.
    pub has_pdf: bool,
}

async fn count(db: &Database, sql: &str, from: i64, to: i64) -> Result<i64, AppError> {
    let (n,): (i64,) = on_pool!(db, |p| sqlx::query_as(sql)
        .bind(from)
        .bind(to)
        .fetch_one(p)
        .await?);
    Ok(n)
}

async fn grouped(
    db: &Database,
    sql: &str,
    from: i64,
    to: i64,
) -> Result<BTreeMap<String, i64>, AppError> {
    let rows: Vec<(String, i64)> = on_pool!(db, |p| sqlx::query_as(sql)
        .bind(from)
        .bind(to)
        .fetch_all(p)
        .await?);
    Ok(rows.into_iter().collect())
}

/// Everything a report counts in `from .. to`.
pub async fn count_period(db: &Database, from: i64, to: i64) -> Result<Counted, AppError> {
    let mut c = Counted {
        applications: count(
            db,
            "SELECT COUNT(*) FROM applications WHERE created_at >= $1 AND created_at < $2",
            from,
            to,
        )
        .await?,
        issued: count(
            db,
            "SELECT COUNT(*) FROM audit_log WHERE action = 'certificate.issue' AND at >= $1 AND at < $2",
            from,
            to,
        )
        .await?,
        complaints: grouped(
            db,
            "SELECT category, COUNT(*) FROM complaints WHERE created_at >= $1 AND created_at < $2 \
             GROUP BY category",
            from,
            to,
        )
        .await?,
        warnings: count(
            db,
            "SELECT COUNT(*) FROM fraud_warnings WHERE published_at >= $1 AND published_at < $2",
            from,
            to,
        )
        .await?,
        copied_hosts: count(
            db,
            "SELECT COUNT(DISTINCT host) FROM seal_copies WHERE first_seen >= $1 AND first_seen < $2",
            from,
            to,
        )
        .await?,
        recheck_failures: count(
            db,
            "SELECT COUNT(DISTINCT site_id) FROM verification_checks \
             WHERE site_id IS NOT NULL AND verdict = 'fail' AND at >= $1 AND at < $2",
            from,
            to,
        )
        .await?,
        provinces: grouped(
            db,
            "SELECT province, COUNT(*) FROM certificates \
             WHERE status = 'issued' AND created_at >= $1 AND created_at < $2 GROUP BY province",
            from,
            to,
        )
        .await?,
        ..Counted::default()
    };
    // Holds and revocations: the audit chain's `certificate.revoke` entries, whose
    // details name the reason (a release is `certificate.release`).
    let details: Vec<(String,)> = on_pool!(db, |p| {
        sqlx::query_as(
        "SELECT details FROM audit_log WHERE action = 'certificate.revoke' AND at >= $1 AND at < $2"
    )
    .bind(from)
    .bind(to)
    .fetch_all(p)
    .await?
    });
    for (d,) in details {
        let reason = serde_json::from_str::<serde_json::Value>(&d)
            .ok()
            .and_then(|v| v["reason"].as_str().map(str::to_owned))
            .unwrap_or_else(|| "unspecified".into());
        if reason == ca::RevocationReason::CertificateHold.name() {
            c.held += 1;
        } else {
            *c.revoked.entry(reason).or_default() += 1;
        }
    }
    // Outcomes: the events that closed a complaint in the period.
    let outcomes = [Status::Upheld, Status::Dismissed, Status::Withdrawn];
    let rows: Vec<(String, i64)> = on_pool!(db, |p| sqlx::query_as(
        "SELECT to_status, COUNT(*) FROM complaint_events \
         WHERE to_status IN ($3, $4, $5) AND at >= $1 AND at < $2 GROUP BY to_status"
    )
    .bind(from)
    .bind(to)
    .bind(outcomes[0].as_str())
    .bind(outcomes[1].as_str())
    .bind(outcomes[2].as_str())
    .fetch_all(p)
    .await?);
    c.outcomes = rows.into_iter().collect();
    let spans = |sql: &'static str| async move {
        let rows: Vec<(i64,)> = on_pool!(db, |p| sqlx::query_as(sql)
            .bind(from)
            .bind(to)
            .fetch_all(p)
            .await?);
        Ok::<_, AppError>(rows.into_iter().map(|r| r.0).collect::<Vec<i64>>())
    };
    c.to_answer = spans(
        "SELECT answered_at - created_at FROM complaints \
         WHERE answered_at IS NOT NULL AND answered_at >= $1 AND answered_at < $2",
    )
    .await?;
    c.to_decision = spans(
        "SELECT decided_at - created_at FROM complaints \
         WHERE decided_at IS NOT NULL AND decided_at >= $1 AND decided_at < $2",
    )
    .await?;
    let (due, in_time): (i64, i64) = on_pool!(db, |p| {
        sqlx::query_as(
        "SELECT COUNT(*), COALESCE(SUM(CASE WHEN answered_at IS NOT NULL AND answered_at <= deadline_at \
         THEN 1 ELSE 0 END), 0) FROM complaints WHERE deadline_at >= $1 AND deadline_at < $2"
    )
    .bind(from)
    .bind(to)
    .fetch_one(p)
    .await?
    });
    c.due = due;
    c.answered_in_time = in_time;
    Ok(c)
}

/// The stored report of `period`, if any.
pub async fn get(db: &Database, period: &str) -> Result<Option<StoredReport>, AppError> {
    Ok(on_pool!(db, |p| {
        sqlx::query_as(
        "SELECT period, figures, built_at, pdf IS NOT NULL AS has_pdf FROM reports WHERE period = $1"
    )
    .bind(period)
    .fetch_optional(p)
    .await?
    }))
}

/// The stored report's PDF, if it has one.
pub async fn pdf(db: &Database, period: &str) -> Result<Option<Vec<u8>>, AppError> {
    let row: Option<(Option<Vec<u8>>,)> = on_pool!(db, |p| sqlx::query_as(
        "SELECT pdf FROM reports WHERE period = $1"
    )
    .bind(period)
    .fetch_optional(p)
    .await?);
    Ok(row.and_then(|r| r.0))
}

/// Every stored report, newest period first (`2026-Q4` sorts after `2026-12`).
pub async fn list(db: &Database) -> Result<Vec<StoredReport>, AppError> {
    Ok(on_pool!(db, |p| sqlx::query_as(
        "SELECT period, figures, built_at, pdf IS NOT NULL AS has_pdf FROM reports \
         ORDER BY period DESC"
    )
    .fetch_all(p)
    .await?))
}

/// Stores a new report; `false` when the period already has one (another replica
/// or run was first).
pub async fn insert(
    tx: &mut Tx,
    period: &str,
    figures: &str,
    pdf: Option<&[u8]>,
    now: i64,
) -> Result<bool, AppError> {
    let n = on_tx!(tx, |c| sqlx::query(
        "INSERT INTO reports (period, figures, pdf, built_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (period) DO NOTHING"
    )
    .bind(period)
    .bind(figures)
    .bind(pdf)
    .bind(now)
    .execute(c)
    .await?
    .rows_affected());
    Ok(n == 1)
}
