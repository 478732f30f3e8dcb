//! The verifier's table: the evidence of every check.

use ca::db::{Database, Tx};
use ca::{on_pool, on_tx};

use crate::Result;
use crate::verdict::Evidence;

/// Which application or site a check was made for.
#[derive(Debug, Clone, Default)]
pub struct Subject {
    /// Application id, when checking an application.
    pub application_id: Option<String>,
    /// Site id, when re-verifying a site.
    pub site_id: Option<String>,
}

/// Stores every piece of evidence in one statement each.
pub async fn record(db: &Database, subject: &Subject, evidence: &[Evidence]) -> Result<()> {
    let mut tx = db.begin().await?;
    record_in(&mut tx, subject, evidence).await?;
    tx.commit().await?;
    Ok(())
}

/// As [`record`], inside the caller's transaction.
pub async fn record_in(tx: &mut Tx, subject: &Subject, evidence: &[Evidence]) -> Result<()> {
    for e in evidence {
        let json = serde_json::to_string(e).unwrap_or_else(|_| "{}".into());
        on_tx!(tx, |c| {
            sqlx::query(
            "INSERT INTO verification_checks (subject, check_kind, verdict, application_id, site_id, evidence, at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)"
        )
        .bind(&e.subject)
        .bind(&e.check)
        .bind(e.verdict.as_str())
        .bind(&subject.application_id)
        .bind(&subject.site_id)
        .bind(json)
        .bind(e.at)
        .execute(c)
        .await
        .map(|_| ())?
        });
    }
    Ok(())
}

/// The most recent evidence for a domain, newest first.
pub async fn recent(db: &Database, domain: &str, limit: i64) -> Result<Vec<Evidence>> {
    let rows: Vec<(String,)> = on_pool!(db, |p| {
        sqlx::query_as(
        "SELECT evidence FROM verification_checks WHERE subject = $1 ORDER BY at DESC, id DESC LIMIT $2"
    )
    .bind(domain)
    .bind(limit)
    .fetch_all(p)
    .await?
    });
    Ok(rows
        .into_iter()
        .filter_map(|(j,)| serde_json::from_str(&j).ok())
        .collect())
}

/// The domains of an application with a passing domain-control check (any method)
/// made at or after `since`, read inside the caller's transaction so that approval
/// judges the evidence it commits with (design §4: domain control is never waived).
pub async fn proven_domains_in(
    tx: &mut Tx,
    application_id: &str,
    since: i64,
) -> Result<Vec<String>> {
    let rows: Vec<(String,)> = on_tx!(tx, |c| {
        sqlx::query_as(
            "SELECT DISTINCT subject FROM verification_checks WHERE application_id = $1 \
             AND verdict = 'pass' AND check_kind IN ('dns-txt', 'http-file', 'html-meta') AND at >= $2",
        )
        .bind(application_id)
        .bind(since)
        .fetch_all(c)
        .await?
    });
    Ok(rows.into_iter().map(|(s,)| s).collect())
}
