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

/// A site enrolled for re-verification: a row of `recheck_subjects`, read by
/// [`crate::recheck`], which owns what the columns mean.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct SubjectRow {
    pub(crate) site_id: String,
    pub(crate) organization: String,
    pub(crate) uscc: Option<String>,
    pub(crate) icp: Option<String>,
    pub(crate) filings: Option<String>,
    pub(crate) domains: String,
    pub(crate) method: String,
    pub(crate) token: String,
    pub(crate) certificate_serial: Option<Vec<u8>>,
    pub(crate) state: String,
    pub(crate) domain_due_at: i64,
    pub(crate) icp_due_at: i64,
    pub(crate) retry_at: Option<i64>,
    pub(crate) retries: i64,
    pub(crate) failing_since: Option<i64>,
    pub(crate) suspended_at: Option<i64>,
    pub(crate) icp_snapshot: Option<String>,
}

const SUBJECT_COLUMNS: &str = "site_id, organization, uscc, icp, filings, domains, method, token, certificate_serial, state, \
    domain_due_at, icp_due_at, retry_at, retries, failing_since, suspended_at, icp_snapshot";

/// A site to enroll (or re-enroll) in state `ok` with no failure or retry pending.
pub(crate) struct NewSubject<'a> {
    pub(crate) site_id: &'a str,
    pub(crate) organization: &'a str,
    pub(crate) uscc: Option<&'a str>,
    pub(crate) icp: Option<&'a str>,
    /// JSON map of filings.
    pub(crate) filings: String,
    /// JSON array of domains.
    pub(crate) domains: String,
    pub(crate) method: &'a str,
    pub(crate) token: &'a str,
    pub(crate) certificate_serial: Option<Vec<u8>>,
    pub(crate) domain_due_at: i64,
    pub(crate) icp_due_at: i64,
    pub(crate) now: i64,
}

/// Inserts a site for re-verification, or resets an enrolled one.
pub(crate) async fn upsert_subject(tx: &mut Tx, s: &NewSubject<'_>) -> Result<()> {
    on_tx!(tx, |c| {
        sqlx::query(
        "INSERT INTO recheck_subjects (site_id, organization, uscc, icp, filings, domains, method, token, \
         certificate_serial, state, domain_due_at, icp_due_at, retries, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'ok', $10, $11, 0, $12) \
         ON CONFLICT (site_id) DO UPDATE SET organization = excluded.organization, uscc = excluded.uscc, \
         icp = excluded.icp, filings = excluded.filings, domains = excluded.domains, method = excluded.method, \
         token = excluded.token, certificate_serial = excluded.certificate_serial, state = 'ok', \
         domain_due_at = excluded.domain_due_at, icp_due_at = excluded.icp_due_at, retry_at = NULL, retries = 0, \
         failing_since = NULL, suspended_at = NULL, last_reason = NULL, icp_snapshot = NULL, \
         updated_at = excluded.updated_at"
    )
    .bind(s.site_id)
    .bind(s.organization)
    .bind(s.uscc)
    .bind(s.icp)
    .bind(&s.filings)
    .bind(&s.domains)
    .bind(s.method)
    .bind(s.token)
    .bind(&s.certificate_serial)
    .bind(s.domain_due_at)
    .bind(s.icp_due_at)
    .bind(s.now)
    .execute(c)
    .await
    .map(|_| ())?
    });
    Ok(())
}

/// A site's stored state and last reason.
pub(crate) async fn subject_state(
    db: &Database,
    site_id: &str,
) -> Result<Option<(String, Option<String>)>> {
    Ok(on_pool!(db, |p| sqlx::query_as(
        "SELECT state, last_reason FROM recheck_subjects WHERE site_id = $1"
    )
    .bind(site_id)
    .fetch_optional(p)
    .await?))
}

/// Sites not revoked with a check or a retry due at `now`.
pub(crate) async fn subjects_due(db: &Database, now: i64) -> Result<Vec<SubjectRow>> {
    let sql = format!(
        "SELECT {SUBJECT_COLUMNS} FROM recheck_subjects WHERE state <> 'revoked' AND \
         (CASE WHEN retry_at IS NOT NULL THEN retry_at <= $1 \
          ELSE (domain_due_at <= $1 OR icp_due_at <= $1) END) ORDER BY site_id"
    );
    Ok(on_pool!(db, |p| sqlx::query_as(&sql)
        .bind(now)
        .fetch_all(p)
        .await?))
}

/// The condition of [`subjects_due`], `$1` being now.
const DUE: &str = "state <> 'revoked' AND \
     (CASE WHEN retry_at IS NOT NULL THEN retry_at <= $1 \
      ELSE (domain_due_at <= $1 OR icp_due_at <= $1) END)";

/// Up to `limit` sites due at `now` whose ids sort after `after`, by id: one batch
/// of a run that walks the due sites.
pub(crate) async fn subjects_due_after(
    db: &Database,
    now: i64,
    after: &str,
    limit: i64,
) -> Result<Vec<SubjectRow>> {
    let sql = format!(
        "SELECT {SUBJECT_COLUMNS} FROM recheck_subjects WHERE {DUE} AND site_id > $2 \
         ORDER BY site_id LIMIT $3"
    );
    Ok(on_pool!(db, |p| sqlx::query_as(&sql)
        .bind(now)
        .bind(after)
        .bind(limit)
        .fetch_all(p)
        .await?))
}

/// How many sites are due at `now`.
pub(crate) async fn count_due(db: &Database, now: i64) -> Result<i64> {
    let sql = format!("SELECT COUNT(*) FROM recheck_subjects WHERE {DUE}");
    let (n,): (i64,) = on_pool!(db, |p| sqlx::query_as(&sql).bind(now).fetch_one(p).await?);
    Ok(n)
}

/// Every site not revoked.
pub(crate) async fn subjects_not_revoked(db: &Database) -> Result<Vec<SubjectRow>> {
    let sql = format!(
        "SELECT {SUBJECT_COLUMNS} FROM recheck_subjects WHERE state <> 'revoked' ORDER BY site_id"
    );
    Ok(on_pool!(db, |p| sqlx::query_as(&sql).fetch_all(p).await?))
}

/// The site `site_id`, if enrolled (none or one row).
pub(crate) async fn subject(db: &Database, site_id: &str) -> Result<Vec<SubjectRow>> {
    let sql = format!("SELECT {SUBJECT_COLUMNS} FROM recheck_subjects WHERE site_id = $1");
    Ok(on_pool!(db, |p| sqlx::query_as(&sql)
        .bind(site_id)
        .fetch_all(p)
        .await?))
}

/// What a re-check leaves in a site's row.
pub(crate) struct SubjectUpdate<'a> {
    pub(crate) site_id: &'a str,
    pub(crate) state: &'a str,
    pub(crate) reason: &'a str,
    pub(crate) failing_since: Option<i64>,
    pub(crate) suspended_at: Option<i64>,
    pub(crate) retry_at: Option<i64>,
    pub(crate) retries: i64,
    /// JSON of the filings' subject fields.
    pub(crate) snapshot: Option<String>,
    pub(crate) domain_due_at: i64,
    pub(crate) icp_due_at: i64,
    pub(crate) now: i64,
}

/// Stores the outcome of a re-check.
pub(crate) async fn update_subject(tx: &mut Tx, u: &SubjectUpdate<'_>) -> Result<()> {
    on_tx!(tx, |c| {
        sqlx::query(
        "UPDATE recheck_subjects SET state = $1, last_reason = $2, failing_since = $3, suspended_at = $4, \
         retry_at = $5, retries = $6, icp_snapshot = $7, domain_due_at = $8, icp_due_at = $9, updated_at = $10 \
         WHERE site_id = $11"
    )
    .bind(u.state)
    .bind(u.reason)
    .bind(u.failing_since)
    .bind(u.suspended_at)
    .bind(u.retry_at)
    .bind(u.retries)
    .bind(&u.snapshot)
    .bind(u.domain_due_at)
    .bind(u.icp_due_at)
    .bind(u.now)
    .bind(u.site_id)
    .execute(c)
    .await
    .map(|_| ())?
    });
    Ok(())
}

/// The settings staff stored (`staff_settings`, name and value), which override the
/// configured re-verification timings ([`crate::recheck::Policy::with_stored`]).
pub async fn stored_settings(db: &Database) -> Result<Vec<(String, String)>> {
    Ok(on_pool!(db, |p| sqlx::query_as(
        "SELECT name, value FROM staff_settings ORDER BY name"
    )
    .fetch_all(p)
    .await?))
}

/// As [`stored_settings`], inside the caller's transaction.
pub async fn stored_settings_in(tx: &mut Tx) -> Result<Vec<(String, String)>> {
    Ok(on_tx!(tx, |c| sqlx::query_as(
        "SELECT name, value FROM staff_settings ORDER BY name"
    )
    .fetch_all(c)
    .await?))
}
