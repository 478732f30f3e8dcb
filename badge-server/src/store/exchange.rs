//! The exchange feed's tables (migration 0036): the projection's head, the events,
//! and the rows an event's data is read from when it is projected.

use ca::db::{Database, Tx};
use ca::{on_pool, on_tx};

use crate::domain::exchange::Event;
use crate::error::AppError;

/// A projection of the audit log, read in order, and the one-row table of its head:
/// the exchange feed's, and the operator notices' (migration 0040).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Head {
    /// The exchange feed (`exchange_head`).
    Exchange,
    /// Re-verification notices to operators (`site_notice_head`).
    SiteNotices,
}

impl Head {
    fn table(self) -> &'static str {
        match self {
            Head::Exchange => "exchange_head",
            Head::SiteNotices => "site_notice_head",
        }
    }
}

/// Takes the projection's lock (the head row's, until `tx` ends) and returns how far
/// it has read the audit log.
pub async fn lock_head(tx: &mut Tx, head: Head) -> Result<i64, AppError> {
    let sql = format!(
        "UPDATE {} SET seq = seq WHERE id = 1 RETURNING seq",
        head.table()
    );
    let (seq,): (i64,) = on_tx!(tx, |c| sqlx::query_as(&sql).fetch_one(c).await?);
    Ok(seq)
}

/// Records how far the projection has read.
pub async fn set_head(tx: &mut Tx, head: Head, seq: i64) -> Result<(), AppError> {
    let sql = format!("UPDATE {} SET seq = $1 WHERE id = 1", head.table());
    on_tx!(tx, |c| sqlx::query(&sql)
        .bind(seq)
        .execute(c)
        .await
        .map(|_| ())?);
    Ok(())
}

/// An audit entry as the projection reads it.
#[derive(Debug, sqlx::FromRow)]
pub struct AuditRow {
    /// Its number.
    pub seq: i64,
    /// Unix seconds.
    pub at: i64,
    /// What was done.
    pub action: String,
    /// To what.
    pub subject: String,
    /// JSON details.
    pub details: String,
}

/// Up to `limit` audit entries after `after` and up to `upto`, in order, of
/// `actions` (the exchange feed's: [`crate::domain::exchange::ACTIONS`]), by `actor` when given (the names
/// are ours, written into the statement).
pub async fn audit_after(
    tx: &mut Tx,
    (after, upto, limit): (i64, i64, i64),
    actions: &[&str],
    actor: Option<&str>,
) -> Result<Vec<AuditRow>, AppError> {
    let actions = actions
        .iter()
        .map(|a| format!("'{a}'"))
        .collect::<Vec<_>>()
        .join(", ");
    let by = actor
        .map(|a| format!(" AND actor = '{a}'"))
        .unwrap_or_default();
    let sql = format!(
        "SELECT seq, at, action, subject, details FROM audit_log \
         WHERE seq > $1 AND seq <= $2 AND action IN ({actions}){by} ORDER BY seq LIMIT $3"
    );
    Ok(on_tx!(tx, |c| sqlx::query_as(&sql)
        .bind(after)
        .bind(upto)
        .bind(limit)
        .fetch_all(c)
        .await?))
}

/// Stores one event.
pub async fn insert(tx: &mut Tx, e: &Event) -> Result<(), AppError> {
    on_tx!(tx, |c| sqlx::query(
        "INSERT INTO exchange_events (seq, kind, at, data) VALUES ($1, $2, $3, $4)"
    )
    .bind(e.seq)
    .bind(&e.kind)
    .bind(e.at)
    .bind(&e.data)
    .execute(c)
    .await
    .map(|_| ())?);
    Ok(())
}

/// Up to `limit` events after `after`, in order.
pub async fn page(db: &Database, after: i64, limit: i64) -> Result<Vec<Event>, AppError> {
    let rows: Vec<(i64, String, i64, String)> = on_pool!(db, |p| sqlx::query_as(
        "SELECT seq, kind, at, data FROM exchange_events WHERE seq > $1 ORDER BY seq LIMIT $2"
    )
    .bind(after)
    .bind(limit)
    .fetch_all(p)
    .await?);
    Ok(rows
        .into_iter()
        .map(|(seq, kind, at, data)| Event {
            seq,
            kind,
            at,
            data,
        })
        .collect())
}

/// How far the projection has read the audit log (the exchange feed issued no
/// cursor beyond it).
pub async fn head(db: &Database, head: Head) -> Result<i64, AppError> {
    let sql = format!("SELECT seq FROM {} WHERE id = 1", head.table());
    let (seq,): (i64,) = on_pool!(db, |p| sqlx::query_as(&sql).fetch_one(p).await?);
    Ok(seq)
}

/// The newest committed audit entry's number.
pub async fn audit_max(db: &Database) -> Result<i64, AppError> {
    let (seq,): (i64,) = on_pool!(db, |p| sqlx::query_as(
        "SELECT CAST(COALESCE(MAX(seq), 0) AS BIGINT) FROM audit_log"
    )
    .fetch_one(p)
    .await?);
    Ok(seq)
}

/// A site and its owner as an event names them.
#[derive(Debug, Default)]
pub struct SiteContext {
    /// Site id, when a site holds the certificate.
    pub site: Option<String>,
    /// Domains, primary first.
    pub domains: Vec<String>,
    /// The organization's name.
    pub organization: String,
    /// Its USCC.
    pub uscc: String,
}

/// The certificate with this serial (hex, as audited): its subject and its site.
pub async fn certificate_context(
    tx: &mut Tx,
    serial: &[u8],
) -> Result<Option<SiteContext>, AppError> {
    let row: Option<(String, String, String, Option<String>)> = on_tx!(tx, |c| sqlx::query_as(
        "SELECT c.organization, c.uscc, c.domains, \
         (SELECT s.id FROM sites s WHERE s.certificate_id = c.id) \
         FROM certificates c WHERE c.serial = $1"
    )
    .bind(serial)
    .fetch_optional(c)
    .await?);
    Ok(row.map(|(organization, uscc, domains, site)| SiteContext {
        site,
        domains: serde_json::from_str(&domains).unwrap_or_default(),
        organization,
        uscc,
    }))
}

/// A site, its domains and its organization.
pub async fn site_context(tx: &mut Tx, site: &str) -> Result<Option<SiteContext>, AppError> {
    let row: Option<(String, String)> = on_tx!(tx, |c| sqlx::query_as(
        "SELECT o.name, o.uscc FROM sites s JOIN organizations o ON o.id = s.organization_id \
         WHERE s.id = $1"
    )
    .bind(site)
    .fetch_optional(c)
    .await?);
    let Some((organization, uscc)) = row else {
        return Ok(None);
    };
    Ok(Some(SiteContext {
        site: Some(site.to_string()),
        domains: crate::store::sites::domains_in(tx, site).await?,
        organization,
        uscc,
    }))
}

/// The reason re-verification gave for a hold, revocation or release of `site`,
/// audited beside the certificate's entry `seq` (same transaction, a few entries
/// apart).
pub async fn verifier_reason(
    tx: &mut Tx,
    site: &str,
    seq: i64,
) -> Result<Option<String>, AppError> {
    let row: Option<(String,)> = on_tx!(tx, |c| sqlx::query_as(
        "SELECT details FROM audit_log WHERE subject = $1 \
         AND action IN ('site.suspend', 'site.revoke', 'site.release') \
         AND seq BETWEEN $2 AND $3 ORDER BY seq DESC LIMIT 1"
    )
    .bind(site)
    .bind(seq - 8)
    .bind(seq + 8)
    .fetch_optional(c)
    .await?);
    Ok(row.and_then(|(d,)| {
        serde_json::from_str::<serde_json::Value>(&d)
            .ok()
            .and_then(|v| v["reason"].as_str().map(str::to_string))
    }))
}

/// Member accounts with a webhook: each receives every new event.
pub async fn member_hooks(tx: &mut Tx) -> Result<Vec<i64>, AppError> {
    let rows: Vec<(i64,)> = on_tx!(tx, |c| sqlx::query_as(
        "SELECT id FROM accounts WHERE role = 'member' AND webhook_url IS NOT NULL ORDER BY id"
    )
    .fetch_all(c)
    .await?);
    Ok(rows.into_iter().map(|r| r.0).collect())
}

/// A published warning as an event shows it: domain, the site it impersonates,
/// description, publication time.
pub async fn warning(
    tx: &mut Tx,
    id: i64,
) -> Result<Option<(String, Option<String>, String, i64)>, AppError> {
    Ok(on_tx!(tx, |c| sqlx::query_as(
        "SELECT domain, impersonates, description, published_at FROM fraud_warnings WHERE id = $1"
    )
    .bind(id)
    .fetch_optional(c)
    .await?))
}
