//! The operator notices' table (migration 0040): each site's latest notice, and
//! who to tell (the projection's head is [`crate::store::exchange::Head`]).

use ca::db::{Database, Tx};
use ca::{on_pool, on_tx};

use crate::domain::notice::{Kind, Notice};
use crate::error::AppError;

/// Who runs a site: the operator's account id and e-mail, and the site's primary
/// domain.
#[derive(Debug, Clone)]
pub struct Operator {
    /// Account id.
    pub account_id: i64,
    /// Where mail goes.
    pub email: String,
    /// The site's first domain (its id when it has none).
    pub domain: String,
}

/// The operator of `site`, if the site exists.
pub async fn operator(tx: &mut Tx, site: &str) -> Result<Option<Operator>, AppError> {
    let row: Option<(i64, String, Option<String>)> = on_tx!(tx, |c| sqlx::query_as(
        "SELECT a.id, a.email, (SELECT d.domain FROM site_domains d WHERE d.site_id = s.id \
         ORDER BY d.position LIMIT 1) FROM sites s JOIN accounts a ON a.id = s.account_id \
         WHERE s.id = $1"
    )
    .bind(site)
    .fetch_optional(c)
    .await?);
    Ok(row.map(|(account_id, email, domain)| Operator {
        account_id,
        email,
        domain: domain.unwrap_or_else(|| site.to_string()),
    }))
}

/// Keeps `n` (audit entry `seq`) as its site's latest notice.
pub async fn upsert(tx: &mut Tx, seq: i64, n: &Notice) -> Result<(), AppError> {
    let evidence = serde_json::to_string(&n.evidence).unwrap_or_else(|_| "[]".into());
    on_tx!(tx, |c| sqlx::query(
        "INSERT INTO site_notices (site_id, seq, kind, reason, evidence, until_at, at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (site_id) DO UPDATE SET \
         seq = excluded.seq, kind = excluded.kind, reason = excluded.reason, \
         evidence = excluded.evidence, until_at = excluded.until_at, at = excluded.at"
    )
    .bind(&n.site)
    .bind(seq)
    .bind(n.kind.as_str())
    .bind(&n.reason)
    .bind(evidence)
    .bind(n.until)
    .bind(n.at)
    .execute(c)
    .await
    .map(|_| ())?);
    Ok(())
}

/// A site's latest notice.
pub async fn latest(db: &Database, site: &str) -> Result<Option<Notice>, AppError> {
    let row: Option<(String, String, String, Option<i64>, i64)> = on_pool!(db, |p| sqlx::query_as(
        "SELECT kind, reason, evidence, until_at, at FROM site_notices WHERE site_id = $1"
    )
    .bind(site)
    .fetch_optional(p)
    .await?);
    Ok(row.and_then(|(kind, reason, evidence, until, at)| {
        Some(Notice {
            kind: Kind::parse(&kind)?,
            site: site.to_string(),
            reason,
            evidence: serde_json::from_str(&evidence).unwrap_or_default(),
            until,
            at,
        })
    }))
}
