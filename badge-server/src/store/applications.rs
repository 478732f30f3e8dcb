//! The `applications` table, and the evidence of their verification checks: every
//! statement once for both backends, rows converted into
//! [`crate::domain::application`] types here.

use ca::db::{Database, Tx};
use ca::profile::SiteIdentity;
use ca::{on_pool, on_tx};
use verifier::icp::Filings;

use crate::domain::application::{Application, ApplicationStatus};
use crate::error::AppError;

const COLUMNS: &str = "id, account_id, status, organization, uscc, icp, province, city, domains, csr_pem, \
    filings, verified_filings, token, method, reasons, site_id, created_at, updated_at";

/// An `applications` row as stored.
#[derive(sqlx::FromRow)]
struct Row {
    id: String,
    account_id: i64,
    status: String,
    organization: String,
    uscc: String,
    icp: String,
    province: String,
    city: String,
    /// JSON array.
    domains: String,
    csr_pem: Option<String>,
    /// JSON object, NULL on rows from before filings were claimed per domain.
    filings: Option<String>,
    /// JSON object.
    verified_filings: Option<String>,
    token: String,
    method: Option<String>,
    /// JSON array.
    reasons: String,
    site_id: Option<String>,
    created_at: i64,
    updated_at: i64,
}

fn parse_filings(id: &str, json: Option<String>) -> Result<Option<Filings>, AppError> {
    json.map(|j| {
        serde_json::from_str(&j).map_err(|e| {
            AppError::Internal(ca::Error::Config(format!("stored filings of {id}: {e}")))
        })
    })
    .transpose()
}

impl TryFrom<Row> for Application {
    type Error = AppError;
    fn try_from(r: Row) -> Result<Application, AppError> {
        Ok(Application {
            status: r.status.parse()?,
            filings: parse_filings(&r.id, r.filings)?,
            verified_filings: parse_filings(&r.id, r.verified_filings)?,
            domains: serde_json::from_str(&r.domains).unwrap_or_default(),
            reasons: serde_json::from_str(&r.reasons).unwrap_or_default(),
            id: r.id,
            account_id: r.account_id,
            organization: r.organization,
            uscc: r.uscc,
            icp: r.icp,
            province: r.province,
            city: r.city,
            csr_pem: r.csr_pem,
            token: r.token,
            method: r.method,
            site_id: r.site_id,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

fn applications(rows: Vec<Row>) -> Result<Vec<Application>, AppError> {
    rows.into_iter().map(Application::try_from).collect()
}

/// A new application, `pending`.
pub struct NewApplication<'a> {
    /// Public id.
    pub id: &'a str,
    /// Owner.
    pub account_id: i64,
    /// What it asks to certify.
    pub identity: &'a SiteIdentity,
    /// The filing number claimed for each registrable domain.
    pub filings: &'a Filings,
    /// The request for the operator's key.
    pub csr_pem: &'a str,
    /// Challenge token.
    pub token: &'a str,
    /// Unix seconds.
    pub now: i64,
}

/// Stores a new `pending` application.
pub async fn insert(tx: &mut Tx, new: &NewApplication<'_>) -> Result<(), AppError> {
    let domains = serde_json::to_string(&new.identity.domains).unwrap_or_else(|_| "[]".into());
    let filings = serde_json::to_string(new.filings).unwrap_or_else(|_| "{}".into());
    let identity = new.identity;
    on_tx!(tx, |c| {
        sqlx::query(
        "INSERT INTO applications (id, account_id, status, organization, uscc, icp, province, city, domains, csr_pem, \
         filings, token, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13)"
    )
    .bind(new.id)
    .bind(new.account_id)
    .bind(ApplicationStatus::Pending.as_str())
    .bind(&identity.organization)
    .bind(identity.uscc.as_str())
    .bind(identity.icp.as_str())
    .bind(&identity.province)
    .bind(&identity.city)
    .bind(&domains)
    .bind(new.csr_pem)
    .bind(&filings)
    .bind(new.token)
    .bind(new.now)
    .execute(c)
    .await
    .map(|_| ())
    ?
    });
    Ok(())
}

/// One application.
pub async fn get(db: &Database, id: &str) -> Result<Option<Application>, AppError> {
    let sql = format!("SELECT {COLUMNS} FROM applications WHERE id = $1");
    let row: Option<Row> = on_pool!(db, |p| sqlx::query_as(&sql)
        .bind(id)
        .fetch_optional(p)
        .await?);
    row.map(Application::try_from).transpose()
}

/// What a status change records besides the status.
pub struct StatusChange<'a> {
    /// The new status.
    pub status: ApplicationStatus,
    /// The method that proved control (kept when `None`).
    pub method: Option<&'a str>,
    /// The reasons (replacing the last ones).
    pub reasons: &'a [String],
    /// The site it became (kept when `None`).
    pub site: Option<&'a str>,
    /// Unix seconds.
    pub now: i64,
}

/// Moves application `id` to a new status.
pub async fn set_status(tx: &mut Tx, id: &str, change: &StatusChange<'_>) -> Result<(), AppError> {
    let reasons = serde_json::to_string(change.reasons).unwrap_or_else(|_| "[]".into());
    on_tx!(tx, |c| sqlx::query(
        "UPDATE applications SET status = $1, method = COALESCE($2, method), reasons = $3, \
         site_id = COALESCE($4, site_id), updated_at = $5 WHERE id = $6"
    )
    .bind(change.status.as_str())
    .bind(change.method)
    .bind(&reasons)
    .bind(change.site)
    .bind(change.now)
    .bind(id)
    .execute(c)
    .await
    .map(|_| ())?);
    Ok(())
}

/// Records the filing numbers MIIT gave at the last verification.
pub async fn set_verified_filings(
    tx: &mut Tx,
    id: &str,
    verified: &Filings,
) -> Result<(), AppError> {
    let verified = serde_json::to_string(verified).unwrap_or_else(|_| "{}".into());
    on_tx!(tx, |c| sqlx::query(
        "UPDATE applications SET verified_filings = $1 WHERE id = $2"
    )
    .bind(&verified)
    .bind(id)
    .execute(c)
    .await
    .map(|_| ())?);
    Ok(())
}

/// The applications of one account, newest first; at most 200.
pub async fn list_for(db: &Database, account_id: i64) -> Result<Vec<Application>, AppError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM applications WHERE account_id = $1 ORDER BY created_at DESC, id LIMIT 200"
    );
    applications(on_pool!(db, |p| sqlx::query_as(&sql)
        .bind(account_id)
        .fetch_all(p)
        .await?))
}

/// Applications waiting for staff (`validated` or `review`), oldest first; at most
/// 200.
pub async fn awaiting_review(db: &Database) -> Result<Vec<Application>, AppError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM applications WHERE status IN ($1, $2) \
         ORDER BY updated_at, id LIMIT 200"
    );
    applications(on_pool!(db, |p| sqlx::query_as(&sql)
        .bind(ApplicationStatus::Validated.as_str())
        .bind(ApplicationStatus::Review.as_str())
        .fetch_all(p)
        .await?))
}

/// The evidence of every check made for application `id`, oldest first, as stored
/// (JSON objects; rows that do not parse are left out).
pub async fn evidence(db: &Database, id: &str) -> Result<Vec<serde_json::Value>, AppError> {
    let rows: Vec<(String,)> = on_pool!(db, |p| sqlx::query_as(
        "SELECT evidence FROM verification_checks WHERE application_id = $1 ORDER BY id"
    )
    .bind(id)
    .fetch_all(p)
    .await?);
    Ok(rows
        .into_iter()
        .filter_map(|(j,)| serde_json::from_str(&j).ok())
        .collect())
}
