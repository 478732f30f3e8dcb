//! The `fraud_warnings` table and what a warning reads of `site_domains`: rows
//! converted into [`crate::domain::warning`] types here. The copied-seal report they
//! are often made from is [`crate::store::seal_copies`].

use ca::db::{Database, Tx};
use ca::identity::Domain;
use ca::{on_pool, on_tx};

use crate::domain::warning::{Checked, Warning, with_parents};
use crate::error::AppError;

const COLUMNS: &str =
    "id, domain, impersonates, description, evidence, published_at, on_certified, prominent_at";

/// A `fraud_warnings` row as read.
#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    domain: String,
    impersonates: Option<String>,
    description: String,
    evidence: String,
    published_at: i64,
    on_certified: bool,
    prominent_at: Option<i64>,
}

impl From<Row> for Warning {
    fn from(r: Row) -> Warning {
        Warning {
            id: r.id,
            domain: r.domain,
            impersonates: r.impersonates,
            description: r.description,
            evidence: r.evidence,
            published_at: r.published_at,
            on_certified: r.on_certified,
            prominent_at: r.prominent_at,
        }
    }
}

/// The sites with `domain`, a parent of it, or a host under it among their domains,
/// sorted and each once.
pub async fn overlapping_sites(db: &Database, domain: &Domain) -> Result<Vec<String>, AppError> {
    let mut sites: Vec<String> = Vec::new();
    for candidate in with_parents(domain.as_str()) {
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
    Ok(sites)
}

/// Inserts a published warning in the step's transaction; its id, or `None` when
/// the domain already has a published warning.
pub async fn insert(
    tx: &mut Tx,
    w: &Checked,
    impersonates: Option<&str>,
    created_by: i64,
    on_certified: bool,
    now: i64,
) -> Result<Option<i64>, AppError> {
    let row: Result<(i64,), sqlx::Error> = on_tx!(tx, |c| {
        sqlx::query_as(
        "INSERT INTO fraud_warnings (domain, impersonates, description, evidence, created_by, published_at, \
         on_certified) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id"
    )
    .bind(w.domain.as_str())
    .bind(impersonates)
    .bind(&w.description)
    .bind(&w.evidence)
    .bind(created_by)
    .bind(now)
    .bind(on_certified)
    .fetch_one(c)
    .await
    });
    match row {
        Ok((id,)) => Ok(Some(id)),
        Err(e)
            if e.as_database_error()
                .is_some_and(|d| d.is_unique_violation()) =>
        {
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

/// Marks warning `id` withdrawn in the step's transaction; whether a published one
/// was.
pub async fn withdraw(tx: &mut Tx, id: i64, now: i64) -> Result<bool, AppError> {
    let n = on_tx!(tx, |c| sqlx::query(
        "UPDATE fraud_warnings SET withdrawn_at = $1 WHERE id = $2 AND withdrawn_at IS NULL"
    )
    .bind(now)
    .bind(id)
    .execute(c)
    .await?
    .rows_affected());
    Ok(n == 1)
}

/// Marks published warning `id` prominent (`Some((account, now))`) or not
/// (`None`) in the step's transaction; whether a published warning was found.
pub async fn set_prominent(tx: &mut Tx, id: i64, by: Option<(i64, i64)>) -> Result<bool, AppError> {
    let n = on_tx!(tx, |c| sqlx::query(
        "UPDATE fraud_warnings SET prominent_by = $1, prominent_at = $2 \
         WHERE id = $3 AND withdrawn_at IS NULL"
    )
    .bind(by.map(|b| b.0))
    .bind(by.map(|b| b.1))
    .bind(id)
    .execute(c)
    .await?
    .rows_affected());
    Ok(n == 1)
}

/// The first `limit` published warnings in the board's order: prominent ones
/// first, then newest first ([`crate::domain::board::order`]).
pub async fn board(db: &Database, limit: i64) -> Result<Vec<Warning>, AppError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM fraud_warnings WHERE withdrawn_at IS NULL \
         ORDER BY (prominent_at IS NULL), published_at DESC, id DESC LIMIT $1"
    );
    let rows: Vec<Row> = on_pool!(db, |p| sqlx::query_as(&sql)
        .bind(limit)
        .fetch_all(p)
        .await?);
    Ok(rows.into_iter().map(Warning::from).collect())
}

/// The newest `limit` published warnings, newest first.
pub async fn latest(db: &Database, limit: i64) -> Result<Vec<Warning>, AppError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM fraud_warnings WHERE withdrawn_at IS NULL ORDER BY published_at DESC, id DESC LIMIT $1"
    );
    let rows: Vec<Row> = on_pool!(db, |p| sqlx::query_as(&sql)
        .bind(limit)
        .fetch_all(p)
        .await?);
    Ok(rows.into_iter().map(Warning::from).collect())
}

/// The published warning on the first of `names` that has one.
pub async fn first_published(db: &Database, names: &[String]) -> Result<Option<Warning>, AppError> {
    let sql =
        format!("SELECT {COLUMNS} FROM fraud_warnings WHERE domain = $1 AND withdrawn_at IS NULL");
    for candidate in names {
        let w: Option<Row> = on_pool!(db, |p| sqlx::query_as(&sql)
            .bind(candidate)
            .fetch_optional(p)
            .await?);
        if let Some(w) = w {
            return Ok(Some(w.into()));
        }
    }
    Ok(None)
}

/// The first of the site's domains, if it has any.
pub async fn first_domain(db: &Database, site: &str) -> Result<Option<String>, AppError> {
    let row: Option<(String,)> = on_pool!(db, |p| sqlx::query_as(
        "SELECT domain FROM site_domains WHERE site_id = $1 ORDER BY position LIMIT 1"
    )
    .bind(site)
    .fetch_optional(p)
    .await?);
    Ok(row.map(|r| r.0))
}
