//! The `shared_records` table (migration 0037), rows converted into
//! [`crate::domain::record::Record`] here, and who a record concerns.

use ca::db::{Database, Tx};
use ca::{on_pool, on_tx};

use crate::domain::record::{CheckedRecord, Record, Scope};
use crate::error::AppError;

const COLUMNS: &str = "id, member_id, uscc, domain, category, summary, scope, disputed_at, dispute, \
                       resolved_at, resolution, created_at, expires_at";

/// Most records one list returns.
pub const MAX_LIST: i64 = 500;

#[derive(sqlx::FromRow)]
struct Row {
    id: String,
    member_id: String,
    uscc: Option<String>,
    domain: Option<String>,
    category: String,
    summary: String,
    scope: String,
    disputed_at: Option<i64>,
    dispute: Option<String>,
    resolved_at: Option<i64>,
    resolution: Option<String>,
    created_at: i64,
    expires_at: i64,
}

impl From<Row> for Record {
    fn from(r: Row) -> Record {
        Record {
            id: r.id,
            member: r.member_id,
            uscc: r.uscc,
            domain: r.domain,
            category: r.category,
            summary: r.summary,
            scope: if r.scope == "members" {
                Scope::Members
            } else {
                Scope::Staff
            },
            disputed_at: r.disputed_at,
            dispute: r.dispute,
            resolved_at: r.resolved_at,
            resolution: r.resolution,
            created_at: r.created_at,
            expires_at: r.expires_at,
        }
    }
}

/// Stores a record in the step's transaction.
#[allow(clippy::too_many_arguments)]
pub async fn insert(
    tx: &mut Tx,
    id: &str,
    member: &str,
    account: i64,
    r: &CheckedRecord,
    now: i64,
    expires_at: i64,
) -> Result<Record, AppError> {
    let sql = format!(
        "INSERT INTO shared_records (id, member_id, submitted_by, uscc, domain, category, summary, \
         scope, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
         RETURNING {COLUMNS}"
    );
    let row: Row = on_tx!(tx, |c| sqlx::query_as(&sql)
        .bind(id)
        .bind(member)
        .bind(account)
        .bind(r.uscc.as_ref().map(|u| u.as_str()))
        .bind(r.domain.as_ref().map(|d| d.as_str()))
        .bind(r.category.as_str())
        .bind(&r.summary)
        .bind(r.scope.as_str())
        .bind(now)
        .bind(expires_at)
        .fetch_one(c)
        .await?);
    Ok(row.into())
}

/// One record.
pub async fn get(db: &Database, id: &str) -> Result<Option<Record>, AppError> {
    let sql = format!("SELECT {COLUMNS} FROM shared_records WHERE id = $1");
    let row: Option<Row> = on_pool!(db, |p| sqlx::query_as(&sql)
        .bind(id)
        .fetch_optional(p)
        .await?);
    Ok(row.map(Record::from))
}

/// The sites' organizations and domains an operator account runs: what "concerns"
/// it means.
const CONCERNS: &str = "(uscc IN (SELECT o.uscc FROM sites s JOIN organizations o \
                         ON o.id = s.organization_id WHERE s.account_id = $1) \
                        OR domain IN (SELECT d.domain FROM site_domains d JOIN sites s \
                         ON s.id = d.site_id WHERE s.account_id = $1))";

/// Whether record `id` concerns an organization or site that `account` operates.
pub async fn concerns(db: &Database, id: &str, account: i64) -> Result<bool, AppError> {
    let sql = format!("SELECT COUNT(*) FROM shared_records WHERE id = $2 AND {CONCERNS}");
    let (n,): (i64,) = on_pool!(db, |p| sqlx::query_as(&sql)
        .bind(account)
        .bind(id)
        .fetch_one(p)
        .await?);
    Ok(n > 0)
}

/// Which records a list shows.
#[derive(Debug, Clone, Copy)]
pub enum Audience<'a> {
    /// Staff: every record.
    Staff,
    /// A member: shared with all members, or its own.
    Member(&'a str),
    /// An operator: records about its organizations and sites.
    Concerned(i64),
}

/// Records for `audience`, newest first, optionally about one USCC or domain; at
/// most [`MAX_LIST`].
pub async fn list(
    db: &Database,
    audience: Audience<'_>,
    uscc: Option<&str>,
    domain: Option<&str>,
) -> Result<Vec<Record>, AppError> {
    let (who, key) = match audience {
        Audience::Staff => ("1 = 1 AND $1 = $1", String::new()),
        Audience::Member(m) => ("(scope = 'members' OR member_id = $1)", m.to_string()),
        Audience::Concerned(a) => (CONCERNS, a.to_string()),
    };
    let sql = format!(
        "SELECT {COLUMNS} FROM shared_records WHERE {who} \
         AND ($2 = '' OR uscc = $2) AND ($3 = '' OR domain = $3) \
         ORDER BY created_at DESC, id LIMIT {MAX_LIST}"
    );
    let (uscc, domain) = (uscc.unwrap_or(""), domain.unwrap_or(""));
    let rows: Vec<Row> = match audience {
        Audience::Concerned(a) => on_pool!(db, |p| sqlx::query_as(&sql)
            .bind(a)
            .bind(uscc)
            .bind(domain)
            .fetch_all(p)
            .await?),
        _ => on_pool!(db, |p| sqlx::query_as(&sql)
            .bind(&key)
            .bind(uscc)
            .bind(domain)
            .fetch_all(p)
            .await?),
    };
    Ok(rows.into_iter().map(Record::from).collect())
}

/// The operators (id, address) of the organization or site a record names: they are
/// told of it and may dispute it.
pub async fn operators_concerned(
    tx: &mut Tx,
    uscc: Option<&str>,
    domain: Option<&str>,
) -> Result<Vec<(i64, String)>, AppError> {
    Ok(on_tx!(tx, |c| sqlx::query_as(
        "SELECT DISTINCT a.id, a.email FROM sites s JOIN accounts a ON a.id = s.account_id \
         JOIN organizations o ON o.id = s.organization_id \
         WHERE o.uscc = $1 OR s.id IN (SELECT site_id FROM site_domains WHERE domain = $2) \
         ORDER BY a.id"
    )
    .bind(uscc.unwrap_or(""))
    .bind(domain.unwrap_or(""))
    .fetch_all(c)
    .await?))
}

/// Marks a record disputed (once): whether it was not disputed before.
pub async fn dispute(
    tx: &mut Tx,
    id: &str,
    account: i64,
    text: &str,
    now: i64,
) -> Result<bool, AppError> {
    let done = on_tx!(tx, |c| sqlx::query(
        "UPDATE shared_records SET disputed_at = $1, disputed_by = $2, dispute = $3 \
         WHERE id = $4 AND disputed_at IS NULL"
    )
    .bind(now)
    .bind(account)
    .bind(text)
    .bind(id)
    .execute(c)
    .await
    .map(|r| r.rows_affected())?);
    Ok(done == 1)
}

/// Staff keep a disputed record: whether it was disputed and not yet resolved.
pub async fn keep(
    tx: &mut Tx,
    id: &str,
    account: i64,
    text: &str,
    now: i64,
) -> Result<bool, AppError> {
    let done = on_tx!(tx, |c| sqlx::query(
        "UPDATE shared_records SET resolved_at = $1, resolved_by = $2, resolution = $3 \
         WHERE id = $4 AND disputed_at IS NOT NULL AND resolved_at IS NULL"
    )
    .bind(now)
    .bind(account)
    .bind(text)
    .bind(id)
    .execute(c)
    .await
    .map(|r| r.rows_affected())?);
    Ok(done == 1)
}

/// Deletes a record: whether there was one.
pub async fn delete(tx: &mut Tx, id: &str) -> Result<bool, AppError> {
    let done = on_tx!(tx, |c| sqlx::query(
        "DELETE FROM shared_records WHERE id = $1"
    )
    .bind(id)
    .execute(c)
    .await
    .map(|r| r.rows_affected())?);
    Ok(done == 1)
}

/// The ids of records past their retention at `now`, at most `limit`.
pub async fn expired(tx: &mut Tx, now: i64, limit: i64) -> Result<Vec<String>, AppError> {
    let rows: Vec<(String,)> = on_tx!(tx, |c| sqlx::query_as(
        "SELECT id FROM shared_records WHERE expires_at <= $1 ORDER BY expires_at LIMIT $2"
    )
    .bind(now)
    .bind(limit)
    .fetch_all(c)
    .await?);
    Ok(rows.into_iter().map(|r| r.0).collect())
}
