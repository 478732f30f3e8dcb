//! The public figures of the home page, each one `COUNT(*)` over the tables that
//! hold it: certified sites (`sites` with their certificate and its revocation),
//! revocations (`revocations`), upheld complaints (`complaints`) and published
//! fraud warnings (`fraud_warnings`).

use ca::db::Database;
use ca::on_pool;

use crate::domain::site::SiteStatus;
use crate::error::AppError;

/// Sites that show as certified at `now`: their row says certified, and their
/// certificate is neither revoked, on hold nor expired (what
/// [`SiteStatus::shown`] decides for one site).
pub async fn certified_sites(db: &Database, now: i64) -> Result<i64, AppError> {
    let (n,): (i64,) = on_pool!(db, |p| sqlx::query_as(
        "SELECT COUNT(*) FROM sites s JOIN certificates c ON c.id = s.certificate_id \
         LEFT JOIN revocations r ON r.certificate_id = c.id \
         WHERE s.status = $1 AND r.certificate_id IS NULL AND c.not_after >= $2"
    )
    .bind(SiteStatus::Certified.as_str())
    .bind(now)
    .fetch_one(p)
    .await?);
    Ok(n)
}

/// Certificates revoked since `since` (holds, which can be released, not counted).
pub async fn revocations_since(db: &Database, since: i64) -> Result<i64, AppError> {
    let (n,): (i64,) = on_pool!(db, |p| sqlx::query_as(
        "SELECT COUNT(*) FROM revocations WHERE revoked_at >= $1 AND reason <> $2"
    )
    .bind(since)
    .bind(ca::RevocationReason::CertificateHold.code())
    .fetch_one(p)
    .await?);
    Ok(n)
}

/// Complaints upheld (decided so) since `since`.
pub async fn upheld_since(db: &Database, since: i64) -> Result<i64, AppError> {
    let (n,): (i64,) = on_pool!(db, |p| sqlx::query_as(
        "SELECT COUNT(*) FROM complaints WHERE status = $1 AND decided_at >= $2"
    )
    .bind(crate::domain::complaint::Status::Upheld.as_str())
    .bind(since)
    .fetch_one(p)
    .await?);
    Ok(n)
}

/// Fraud warnings published and not withdrawn.
pub async fn warnings_published(db: &Database) -> Result<i64, AppError> {
    let (n,): (i64,) = on_pool!(db, |p| sqlx::query_as(
        "SELECT COUNT(*) FROM fraud_warnings WHERE withdrawn_at IS NULL"
    )
    .fetch_one(p)
    .await?);
    Ok(n)
}
