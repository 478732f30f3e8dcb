//! The impersonation watch's tables (migration 0034): `member_brands` and
//! `warning_drafts`, and who at a member is told.

use ca::db::{Database, Tx};
use ca::{on_pool, on_tx};

use crate::domain::impersonation::Brand;
use crate::domain::watch::{
    CheckedBrand, DraftSource, DraftState, MemberBrand, NewDraft, WarningDraft,
};
use crate::error::AppError;

/// Most drafts one listing returns (staff work through the oldest first).
pub const DRAFT_LIST_LIMIT: i64 = 500;

const BRAND_COLUMNS: &str = "id, member_id, name, aliases, domains, created_at";
const DRAFT_COLUMNS: &str = "id, domain, member_id, brand, reason, source, application_id, \
                             site_id, state, warning_id, created_at";

#[derive(sqlx::FromRow)]
struct BrandRow {
    id: String,
    member_id: String,
    name: String,
    aliases: String,
    domains: String,
    created_at: i64,
}

fn list(json: &str) -> Vec<String> {
    serde_json::from_str(json).unwrap_or_default()
}

impl From<BrandRow> for MemberBrand {
    fn from(r: BrandRow) -> MemberBrand {
        MemberBrand {
            id: r.id,
            member_id: r.member_id,
            name: r.name,
            aliases: list(&r.aliases),
            domains: list(&r.domains),
            created_at: r.created_at,
        }
    }
}

#[derive(sqlx::FromRow)]
struct DraftRow {
    id: String,
    domain: String,
    member_id: String,
    brand: String,
    reason: String,
    source: String,
    application_id: Option<String>,
    site_id: Option<String>,
    state: String,
    warning_id: Option<i64>,
    created_at: i64,
}

impl TryFrom<DraftRow> for WarningDraft {
    type Error = AppError;
    fn try_from(r: DraftRow) -> Result<WarningDraft, AppError> {
        let bad = |what: &str, v: &str| {
            AppError::Internal(ca::Error::Config(format!("warning_drafts.{what} {v:?}")))
        };
        Ok(WarningDraft {
            source: DraftSource::parse(&r.source).ok_or_else(|| bad("source", &r.source))?,
            state: DraftState::parse(&r.state).ok_or_else(|| bad("state", &r.state))?,
            id: r.id,
            domain: r.domain,
            member_id: r.member_id,
            brand: r.brand,
            reason: r.reason,
            application_id: r.application_id,
            site_id: r.site_id,
            warning_id: r.warning_id,
            created_at: r.created_at,
        })
    }
}

/// Registers a brand; `None` when the member has one by that name already.
pub async fn insert_brand(
    tx: &mut Tx,
    id: &str,
    member_id: &str,
    b: &CheckedBrand,
    now: i64,
) -> Result<Option<MemberBrand>, AppError> {
    let sql = format!(
        "INSERT INTO member_brands ({BRAND_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (member_id, name) DO NOTHING RETURNING {BRAND_COLUMNS}"
    );
    let aliases = serde_json::to_string(&b.aliases).unwrap_or_else(|_| "[]".into());
    let domains = serde_json::to_string(&b.domains).unwrap_or_else(|_| "[]".into());
    let row: Option<BrandRow> = on_tx!(tx, |c| sqlx::query_as(&sql)
        .bind(id)
        .bind(member_id)
        .bind(&b.name)
        .bind(&aliases)
        .bind(&domains)
        .bind(now)
        .fetch_optional(c)
        .await?);
    Ok(row.map(MemberBrand::from))
}

/// A member's brands, by name.
pub async fn brands_of(db: &Database, member_id: &str) -> Result<Vec<MemberBrand>, AppError> {
    let sql =
        format!("SELECT {BRAND_COLUMNS} FROM member_brands WHERE member_id = $1 ORDER BY name");
    let rows: Vec<BrandRow> = on_pool!(db, |p| sqlx::query_as(&sql)
        .bind(member_id)
        .fetch_all(p)
        .await?);
    Ok(rows.into_iter().map(MemberBrand::from).collect())
}

#[derive(sqlx::FromRow)]
struct ScreenRow {
    member_id: String,
    member_name: String,
    member_uscc: String,
    name: String,
    aliases: String,
    domains: String,
}

impl From<ScreenRow> for Brand {
    fn from(r: ScreenRow) -> Brand {
        Brand {
            member_id: r.member_id,
            member_name: r.member_name,
            member_uscc: r.member_uscc,
            name: r.name,
            domains: list(&r.domains),
            aliases: list(&r.aliases),
        }
    }
}

const SCREEN_SQL: &str = "SELECT b.member_id, m.name AS member_name, m.uscc AS member_uscc, \
                          b.name, b.aliases, b.domains \
                          FROM member_brands b JOIN members m ON m.id = b.member_id \
                          ORDER BY b.member_id, b.name";

/// Every brand with its member's name, as screening takes them, in a transaction.
pub async fn screening_brands_tx(tx: &mut Tx) -> Result<Vec<Brand>, AppError> {
    let rows: Vec<ScreenRow> = on_tx!(tx, |c| sqlx::query_as(SCREEN_SQL).fetch_all(c).await?);
    Ok(rows.into_iter().map(Brand::from).collect())
}

/// Every brand with its member's name, as screening takes them.
pub async fn screening_brands(db: &Database) -> Result<Vec<Brand>, AppError> {
    let rows: Vec<ScreenRow> = on_pool!(db, |p| sqlx::query_as(SCREEN_SQL).fetch_all(p).await?);
    Ok(rows.into_iter().map(Brand::from).collect())
}

/// Stores a draft; false when one for the same domain, member and source exists.
pub async fn insert_draft(
    tx: &mut Tx,
    id: &str,
    d: &NewDraft<'_>,
    now: i64,
) -> Result<bool, AppError> {
    let done = on_tx!(tx, |c| sqlx::query(
        "INSERT INTO warning_drafts (id, domain, member_id, brand, reason, source, \
         application_id, site_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
         ON CONFLICT (domain, member_id, source) DO NOTHING"
    )
    .bind(id)
    .bind(d.domain)
    .bind(d.member_id)
    .bind(d.brand)
    .bind(d.reason)
    .bind(d.source.as_str())
    .bind(d.application_id)
    .bind(d.site_id)
    .bind(now)
    .execute(c)
    .await?
    .rows_affected());
    Ok(done == 1)
}

/// Drafts in `state`, oldest first (at most [`DRAFT_LIST_LIMIT`]).
pub async fn drafts(db: &Database, state: DraftState) -> Result<Vec<WarningDraft>, AppError> {
    let sql = format!(
        "SELECT {DRAFT_COLUMNS} FROM warning_drafts WHERE state = $1 \
         ORDER BY created_at, id LIMIT $2"
    );
    let rows: Vec<DraftRow> = on_pool!(db, |p| sqlx::query_as(&sql)
        .bind(state.as_str())
        .bind(DRAFT_LIST_LIMIT)
        .fetch_all(p)
        .await?);
    rows.into_iter().map(WarningDraft::try_from).collect()
}

/// The drafts made for one application.
pub async fn drafts_of_application(
    db: &Database,
    application_id: &str,
) -> Result<Vec<WarningDraft>, AppError> {
    let sql = format!(
        "SELECT {DRAFT_COLUMNS} FROM warning_drafts WHERE application_id = $1 ORDER BY created_at, id"
    );
    let rows: Vec<DraftRow> = on_pool!(db, |p| sqlx::query_as(&sql)
        .bind(application_id)
        .fetch_all(p)
        .await?);
    rows.into_iter().map(WarningDraft::try_from).collect()
}

/// One draft.
pub async fn draft(db: &Database, id: &str) -> Result<Option<WarningDraft>, AppError> {
    let sql = format!("SELECT {DRAFT_COLUMNS} FROM warning_drafts WHERE id = $1");
    let row: Option<DraftRow> = on_pool!(db, |p| sqlx::query_as(&sql)
        .bind(id)
        .fetch_optional(p)
        .await?);
    row.map(WarningDraft::try_from).transpose()
}

/// Moves a draft still in `draft` to `state`; false when it was decided already.
pub async fn decide(
    tx: &mut Tx,
    id: &str,
    state: DraftState,
    warning_id: Option<i64>,
    by: &str,
    now: i64,
) -> Result<bool, AppError> {
    let done = on_tx!(tx, |c| {
        sqlx::query(
        "UPDATE warning_drafts SET state = $1, warning_id = $2, decided_by = $3, decided_at = $4 \
         WHERE id = $5 AND state = 'draft'"
    )
    .bind(state.as_str())
    .bind(warning_id)
    .bind(by)
    .bind(now)
    .bind(id)
    .execute(c)
    .await?
    .rows_affected()
    });
    Ok(done == 1)
}

/// Where to write to a member: its contact address, else its `member` accounts.
pub async fn recipients_tx(tx: &mut Tx, member_id: &str) -> Result<Vec<String>, AppError> {
    let rows: Vec<(String,)> = on_tx!(tx, |c| sqlx::query_as(
        "SELECT contact FROM members WHERE id = $1 AND contact IS NOT NULL \
         UNION ALL SELECT email FROM accounts WHERE member_id = $1 \
         AND NOT EXISTS (SELECT 1 FROM members WHERE id = $1 AND contact IS NOT NULL)"
    )
    .bind(member_id)
    .fetch_all(c)
    .await?);
    Ok(rows.into_iter().map(|(e,)| e).collect())
}

/// The member whose organization holds site `site_id`, if any.
pub async fn member_of_site(db: &Database, site_id: &str) -> Result<Option<String>, AppError> {
    let row: Option<(String,)> = on_pool!(db, |p| sqlx::query_as(
        "SELECT m.id FROM sites s JOIN organizations o ON o.id = s.organization_id \
         JOIN members m ON m.uscc = o.uscc WHERE s.id = $1"
    )
    .bind(site_id)
    .fetch_optional(p)
    .await?);
    Ok(row.map(|(id,)| id))
}
