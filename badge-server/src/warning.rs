//! Fraud warnings: staff publish the domains of sites that impersonate certified
//! ones. The public list is at `/warnings` (and as JSON), and `/api/v1/check` answers
//! `warned` for them. A host seen showing someone else's seal (the copied-seal report)
//! becomes a warning in one step.

use ca::db::Database;
use ca::identity::Domain;
use ca::{on_pool, on_tx};
use serde::Serialize;
use serde_json::json;

use crate::domain::account::{Account, Role};
use crate::error::AppError;
use crate::service::sites as application;

/// Longest description or evidence, in characters.
pub const MAX_TEXT: usize = 2000;

/// A published warning.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Warning {
    /// Row id.
    pub id: i64,
    /// The impersonating domain (A-label).
    pub domain: String,
    /// The certified site it impersonates, if any.
    pub impersonates: Option<String>,
    /// What visitors should know.
    pub description: String,
    /// What staff saw (published as written: staff write it for the public).
    pub evidence: String,
    /// When it was published (unix seconds).
    pub published_at: i64,
    /// It names a certified domain (or a parent or a child of one), published on
    /// staff's explicit confirmation.
    pub on_certified: bool,
}

/// What staff submit.
#[derive(Debug, Clone)]
pub struct NewWarning<'a> {
    /// The impersonating domain, any form.
    pub domain: &'a str,
    /// The site impersonated.
    pub impersonates: Option<&'a str>,
    /// For the public.
    pub description: &'a str,
    /// What was seen.
    pub evidence: &'a str,
    /// Staff confirm that the domain, though certified (or a parent or a child of a
    /// certified one), is to be warned about.
    pub confirm_certified: bool,
}

const COLUMNS: &str = "id, domain, impersonates, description, evidence, published_at, on_certified";

/// The sites holding a live (certified or suspended) certificate for `domain`, a
/// parent of it, or a host under it: what a warning on `domain` would mark as warned
/// in `/api/v1/check`.
async fn certified_overlap(db: &Database, domain: &Domain) -> Result<Vec<String>, AppError> {
    let labels: Vec<&str> = domain.as_str().split('.').collect();
    let mut sites: Vec<String> = Vec::new();
    for i in 0..labels.len() {
        let candidate = labels[i..].join(".");
        let rows: Vec<(String,)> = on_pool!(db, |p| sqlx::query_as(
            "SELECT site_id FROM site_domains WHERE domain = $1"
        )
        .bind(&candidate)
        .fetch_all(p)
        .await?);
        sites.extend(rows.into_iter().map(|r| r.0));
    }
    // Hosts under the domain (a domain name has no LIKE wildcards but `_`, escaped).
    let pattern = format!("%.{}", domain.as_str().replace('_', "\\_"));
    let under: Vec<(String,)> = on_pool!(db, |p| sqlx::query_as(
        "SELECT site_id FROM site_domains WHERE domain LIKE $1 ESCAPE '\\' LIMIT 100"
    )
    .bind(&pattern)
    .fetch_all(p)
    .await?);
    sites.extend(under.into_iter().map(|r| r.0));
    sites.sort();
    sites.dedup();
    let mut live = Vec::new();
    for site in sites {
        let status = application::site_certificate(db, &site).await?.status;
        if matches!(status.as_str(), "certified" | "suspended") {
            live.push(site);
        }
    }
    Ok(live)
}

fn text(field: &str, value: &str) -> Result<String, (String, String)> {
    let v = value.trim();
    let n = v.chars().count();
    if n == 0 || n > MAX_TEXT {
        return Err((field.into(), format!("write 1 to {MAX_TEXT} characters")));
    }
    Ok(v.to_string())
}

/// Publishes a warning (staff): one transaction with its audit entry.
pub async fn publish(
    db: &Database,
    account: &Account,
    new: &NewWarning<'_>,
    now: i64,
) -> Result<Warning, AppError> {
    account.require(&[Role::Staff, Role::Admin])?;
    let mut errors = Vec::new();
    let domain = Domain::parse(new.domain)
        .map_err(|e| errors.push(("domain".to_string(), e.to_string())))
        .ok();
    let description = text("description", new.description)
        .map_err(|e| errors.push(e))
        .ok();
    let evidence = text("evidence", new.evidence)
        .map_err(|e| errors.push(e))
        .ok();
    if let Some(site) = new.impersonates
        && matches!(
            application::site_certificate(db, site).await,
            Err(AppError::NotFound)
        )
    {
        errors.push(("impersonates".into(), format!("no site {site:?}")));
    }
    // A public suffix (com.cn, gov.cn) is nobody's site: a warning on it would mark
    // every site under it, certified ones included.
    if let Some(d) = &domain
        && let Err(verifier::Error::PublicSuffix(_)) = verifier::ident::registrable_domain(d)
    {
        errors.push((
            "domain".into(),
            format!(
                "{d} is a public suffix (Public Suffix List): warn about a registrable domain or a host under one"
            ),
        ));
    }
    let (Some(domain), Some(description), Some(evidence)) = (domain, description, evidence) else {
        return Err(AppError::Invalid(errors));
    };
    if !errors.is_empty() {
        return Err(AppError::Invalid(errors));
    }
    let certified = certified_overlap(db, &domain).await?;
    if !certified.is_empty() && !new.confirm_certified {
        return Err(AppError::Conflict(format!(
            "{} is (or covers, or is under) the certified site {}: publishing would mark it as \
             warned; confirm that this is intended",
            domain.as_str(),
            certified.join(", ")
        )));
    }
    let on_certified = !certified.is_empty();
    let mut tx = db.begin().await?;
    let row: Result<(i64,), sqlx::Error> = on_tx!(&mut tx, |c| {
        sqlx::query_as(
        "INSERT INTO fraud_warnings (domain, impersonates, description, evidence, created_by, published_at, \
         on_certified) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id"
    )
    .bind(domain.as_str())
    .bind(new.impersonates)
    .bind(&description)
    .bind(&evidence)
    .bind(account.id)
    .bind(now)
    .bind(on_certified)
    .fetch_one(c)
    .await
    });
    let id = match row {
        Ok((id,)) => id,
        Err(e)
            if e.as_database_error()
                .is_some_and(|d| d.is_unique_violation()) =>
        {
            return Err(AppError::Conflict(format!(
                "{} already has a published warning",
                domain.as_str()
            )));
        }
        Err(e) => return Err(e.into()),
    };
    ca::audit::append(
        &mut tx,
        &account.email,
        "warning.publish",
        domain.as_str(),
        &json!({ "id": id, "impersonates": new.impersonates, "certified_sites": certified }),
    )
    .await?;
    tx.commit().await?;
    Ok(Warning {
        id,
        domain: domain.as_str().to_string(),
        impersonates: new.impersonates.map(str::to_string),
        description,
        evidence,
        published_at: now,
        on_certified,
    })
}

/// Withdraws a warning (staff).
pub async fn withdraw(db: &Database, account: &Account, id: i64, now: i64) -> Result<(), AppError> {
    account.require(&[Role::Staff, Role::Admin])?;
    let mut tx = db.begin().await?;
    let n = on_tx!(&mut tx, |c| sqlx::query(
        "UPDATE fraud_warnings SET withdrawn_at = $1 WHERE id = $2 AND withdrawn_at IS NULL"
    )
    .bind(now)
    .bind(id)
    .execute(c)
    .await?
    .rows_affected());
    if n != 1 {
        return Err(AppError::NotFound);
    }
    ca::audit::append(
        &mut tx,
        &account.email,
        "warning.withdraw",
        &id.to_string(),
        &json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Published warnings, newest first.
pub async fn list(db: &Database) -> Result<Vec<Warning>, AppError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM fraud_warnings WHERE withdrawn_at IS NULL ORDER BY published_at DESC, id DESC LIMIT 500"
    );
    Ok(on_pool!(db, |p| sqlx::query_as(&sql).fetch_all(p).await?))
}

/// The warning covering `host` or one of its parent domains.
pub async fn for_host(db: &Database, host: &Domain) -> Result<Option<Warning>, AppError> {
    let sql =
        format!("SELECT {COLUMNS} FROM fraud_warnings WHERE domain = $1 AND withdrawn_at IS NULL");
    let labels: Vec<&str> = host.as_str().split('.').collect();
    for i in 0..labels.len().saturating_sub(1) {
        let candidate = labels[i..].join(".");
        let w: Option<Warning> = on_pool!(db, |p| sqlx::query_as(&sql)
            .bind(&candidate)
            .fetch_optional(p)
            .await?);
        if w.is_some() {
            return Ok(w);
        }
    }
    Ok(None)
}

/// A host seen showing a site's seal that its certificate does not cover.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct SealCopy {
    /// The site whose seal was shown.
    pub site_id: String,
    /// Where (from the `Referer`).
    pub host: String,
    /// First seen (unix seconds).
    pub first_seen: i64,
    /// Last seen (unix seconds).
    pub last_seen: i64,
    /// Requests seen.
    pub hits: i64,
}

/// The copied-seal report (staff), most requests first: hosts seen in at least
/// [`CONFIRM_HOURS`](crate::service::seals::CONFIRM_HOURS) different hours, so a burst
/// of forged Referers does not bury the real copies.
pub async fn copies(db: &Database, account: &Account) -> Result<Vec<SealCopy>, AppError> {
    account.require(&[Role::Staff, Role::Admin])?;
    Ok(on_pool!(db, |p| {
        sqlx::query_as(
        "SELECT site_id, host, first_seen, last_seen, hits FROM seal_copies WHERE hours_seen >= $1 \
         ORDER BY hits DESC, last_seen DESC LIMIT 500"
    )
    .bind(crate::service::seals::CONFIRM_HOURS)
    .fetch_all(p)
    .await
    ?
    }))
}

/// Turns a copied-seal record into a published warning (staff), its evidence taken
/// from the record.
pub async fn from_copy(
    db: &Database,
    account: &Account,
    site: &str,
    host: &str,
    now: i64,
) -> Result<Warning, AppError> {
    account.require(&[Role::Staff, Role::Admin])?;
    let copy: SealCopy = on_pool!(db, |p| sqlx::query_as(
        "SELECT site_id, host, first_seen, last_seen, hits FROM seal_copies WHERE site_id = $1 AND host = $2"
    )
    .bind(site)
    .bind(host)
    .fetch_optional(p)
    .await
    ?)
    .ok_or(AppError::NotFound)?;
    let certified: Option<(String,)> = on_pool!(db, |p| sqlx::query_as(
        "SELECT domain FROM site_domains WHERE site_id = $1 ORDER BY position LIMIT 1"
    )
    .bind(site)
    .fetch_optional(p)
    .await?);
    let certified = certified.map(|c| c.0).unwrap_or_else(|| site.to_string());
    let description = format!(
        "{host} 展示了 {certified} 的诚信印章，但并未获得认证，可能是仿冒网站。\n\
         {host} displays the Chengxin seal of {certified} without being certified: it may impersonate it."
    );
    let evidence = format!(
        "印章被展示 {hits} 次 / seal shown {hits} times, {first} — {last}",
        hits = copy.hits,
        first = crate::domain::clock::date_time(copy.first_seen),
        last = crate::domain::clock::date_time(copy.last_seen),
    );
    publish(
        db,
        account,
        &NewWarning {
            domain: host,
            impersonates: Some(site),
            description: &description,
            evidence: &evidence,
            // A copy is by definition not the certified site: if the host is
            // certified after all, staff must say so on the form.
            confirm_certified: false,
        },
        now,
    )
    .await
}
