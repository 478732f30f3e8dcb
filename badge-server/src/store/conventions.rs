//! The `conventions`, `convention_versions` and `convention_signatures` tables, and
//! what signing reads of `organizations` and `sites`: rows converted into
//! [`crate::domain::convention`] types here.

use ca::db::{Database, Tx};
use ca::{on_pool, on_tx};

use crate::domain::convention::{Convention, Signature};
use crate::error::AppError;

/// Most conventions or signatures one list returns.
pub const MAX_LIST: i64 = 1000;

/// The current version of each convention: its row joined with its latest version.
const CURRENT: &str = "SELECT c.id, c.title, v.version, v.body, v.published_at \
     FROM conventions c JOIN convention_versions v ON v.convention_id = c.id \
     WHERE v.version = (SELECT MAX(version) FROM convention_versions WHERE convention_id = c.id)";

/// Latest signature per (convention, organization), with the convention's current
/// version.
const LATEST_SIGNATURES: &str = "SELECT s.convention_id, c.title, \
     (SELECT MAX(version) FROM convention_versions WHERE convention_id = c.id) AS current_version, \
     o.name AS organization, o.uscc, s.version, s.signed_at \
     FROM convention_signatures s JOIN conventions c ON c.id = s.convention_id \
     JOIN organizations o ON o.id = s.organization_id \
     WHERE s.version = (SELECT MAX(version) FROM convention_signatures \
                        WHERE convention_id = s.convention_id AND organization_id = s.organization_id)";

#[derive(sqlx::FromRow)]
struct ConventionRow {
    id: i64,
    title: String,
    version: i64,
    body: String,
    published_at: i64,
}

impl From<ConventionRow> for Convention {
    fn from(r: ConventionRow) -> Convention {
        Convention {
            id: r.id,
            title: r.title,
            version: r.version,
            text: r.body,
            published_at: r.published_at,
        }
    }
}

#[derive(sqlx::FromRow)]
struct SignatureRow {
    convention_id: i64,
    title: String,
    current_version: i64,
    organization: String,
    uscc: String,
    version: i64,
    signed_at: i64,
}

impl From<SignatureRow> for Signature {
    fn from(r: SignatureRow) -> Signature {
        Signature {
            convention_id: r.convention_id,
            title: r.title,
            current_version: r.current_version,
            organization: r.organization,
            uscc: r.uscc,
            version: r.version,
            signed_at: r.signed_at,
        }
    }
}

/// Whether `e` is a unique index refusing a row (also used by [`super::rechecks`]).
pub(crate) fn unique_violation(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .is_some_and(|d| d.is_unique_violation())
}

/// Inserts a convention with its first version in the step's transaction: its id,
/// or `None` when the title is taken.
pub async fn insert(
    tx: &mut Tx,
    title: &str,
    text: &str,
    account_id: i64,
    now: i64,
) -> Result<Option<i64>, AppError> {
    let row: Result<(i64,), sqlx::Error> = on_tx!(tx, |c| {
        sqlx::query_as(
        "INSERT INTO conventions (title, created_by, created_at) VALUES ($1, $2, $3) RETURNING id"
    )
    .bind(title)
    .bind(account_id)
    .bind(now)
    .fetch_one(c)
    .await
    });
    let id = match row {
        Ok((id,)) => id,
        Err(e) if unique_violation(&e) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    insert_version(tx, id, 1, text, account_id, now).await?;
    Ok(Some(id))
}

/// Inserts version `version` of convention `id` in the step's transaction.
pub async fn insert_version(
    tx: &mut Tx,
    id: i64,
    version: i64,
    text: &str,
    account_id: i64,
    now: i64,
) -> Result<(), AppError> {
    on_tx!(tx, |c| {
        sqlx::query(
        "INSERT INTO convention_versions (convention_id, version, body, published_by, published_at) \
         VALUES ($1, $2, $3, $4, $5)"
    )
    .bind(id)
    .bind(version)
    .bind(text)
    .bind(account_id)
    .bind(now)
    .execute(c)
    .await
    .map(|_| ())?
    });
    Ok(())
}

/// The current version of convention `id`, read in the step's transaction (so a
/// signature names the version current when it commits).
pub async fn current_in(tx: &mut Tx, id: i64) -> Result<Option<Convention>, AppError> {
    let sql = format!("{CURRENT} AND c.id = $1");
    let row: Option<ConventionRow> = on_tx!(tx, |c| sqlx::query_as(&sql)
        .bind(id)
        .fetch_optional(c)
        .await?);
    Ok(row.map(Convention::from))
}

/// The current version of convention `id`.
pub async fn get(db: &Database, id: i64) -> Result<Option<Convention>, AppError> {
    let sql = format!("{CURRENT} AND c.id = $1");
    let row: Option<ConventionRow> = on_pool!(db, |p| sqlx::query_as(&sql)
        .bind(id)
        .fetch_optional(p)
        .await?);
    Ok(row.map(Convention::from))
}

/// Every convention at its current version, oldest first.
pub async fn list(db: &Database) -> Result<Vec<Convention>, AppError> {
    let sql = format!("{CURRENT} ORDER BY c.id LIMIT {MAX_LIST}");
    let rows: Vec<ConventionRow> = on_pool!(db, |p| sqlx::query_as(&sql).fetch_all(p).await?);
    Ok(rows.into_iter().map(Convention::from).collect())
}

/// Records a signature in the step's transaction; `false` when the organization
/// already signed this version.
pub async fn sign(
    tx: &mut Tx,
    convention_id: i64,
    version: i64,
    organization_id: i64,
    account_id: i64,
    now: i64,
) -> Result<bool, AppError> {
    let r = on_tx!(tx, |c| {
        sqlx::query(
        "INSERT INTO convention_signatures (convention_id, version, organization_id, account_id, signed_at) \
         VALUES ($1, $2, $3, $4, $5)"
    )
    .bind(convention_id)
    .bind(version)
    .bind(organization_id)
    .bind(account_id)
    .bind(now)
    .execute(c)
    .await
    .map(|_| ())
    });
    match r {
        Ok(_) => Ok(true),
        Err(e) if unique_violation(&e) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// The latest signature of each organization on convention `id`, by organization name.
pub async fn signatories(db: &Database, id: i64) -> Result<Vec<Signature>, AppError> {
    let sql = format!(
        "{LATEST_SIGNATURES} AND s.convention_id = $1 ORDER BY o.name, o.uscc LIMIT {MAX_LIST}"
    );
    let rows: Vec<SignatureRow> =
        on_pool!(db, |p| sqlx::query_as(&sql).bind(id).fetch_all(p).await?);
    Ok(rows.into_iter().map(Signature::from).collect())
}

/// The latest signature of the organization with `uscc` on each convention it
/// signed, by convention.
pub async fn signed_by(db: &Database, uscc: &str) -> Result<Vec<Signature>, AppError> {
    let sql = format!("{LATEST_SIGNATURES} AND o.uscc = $1 ORDER BY c.id LIMIT {MAX_LIST}");
    let rows: Vec<SignatureRow> =
        on_pool!(db, |p| sqlx::query_as(&sql).bind(uscc).fetch_all(p).await?);
    Ok(rows.into_iter().map(Signature::from).collect())
}

/// The organizations whose sites `account_id` operates: (id, name, USCC), by name.
pub async fn organizations_of(
    db: &Database,
    account_id: i64,
) -> Result<Vec<(i64, String, String)>, AppError> {
    let rows: Vec<(i64, String, String)> = on_pool!(db, |p| sqlx::query_as(
        "SELECT DISTINCT o.id, o.name, o.uscc FROM organizations o \
         JOIN sites s ON s.organization_id = o.id WHERE s.account_id = $1 ORDER BY o.name, o.uscc"
    )
    .bind(account_id)
    .fetch_all(p)
    .await?);
    Ok(rows)
}
