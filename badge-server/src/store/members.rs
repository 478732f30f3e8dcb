//! The `members` table (migration 0033) and the member each `member` account acts
//! for.

use ca::db::{Database, Tx};
use ca::{on_pool, on_tx};

use crate::domain::member::{CheckedMember, Member};
use crate::error::AppError;

const COLUMNS: &str = "id, name, uscc, contact, created_at";

#[derive(sqlx::FromRow)]
struct Row {
    id: String,
    name: String,
    uscc: String,
    contact: Option<String>,
    created_at: i64,
}

impl From<Row> for Member {
    fn from(r: Row) -> Member {
        Member {
            id: r.id,
            name: r.name,
            uscc: r.uscc,
            contact: r.contact,
            created_at: r.created_at,
        }
    }
}

/// Inserts a member in the step's transaction; `None` when a member with this USCC
/// exists already.
pub async fn insert(
    tx: &mut Tx,
    id: &str,
    m: &CheckedMember,
    now: i64,
) -> Result<Option<Member>, AppError> {
    let sql = format!(
        "INSERT INTO members ({COLUMNS}) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (uscc) DO NOTHING RETURNING {COLUMNS}"
    );
    let row: Option<Row> = on_tx!(tx, |c| sqlx::query_as(&sql)
        .bind(id)
        .bind(&m.name)
        .bind(m.uscc.as_str())
        .bind(m.contact.as_ref().map(|c| c.as_str()))
        .bind(now)
        .fetch_optional(c)
        .await?);
    Ok(row.map(Member::from))
}

/// One member, read in a transaction.
pub async fn get_tx(tx: &mut Tx, id: &str) -> Result<Option<Member>, AppError> {
    let sql = format!("SELECT {COLUMNS} FROM members WHERE id = $1");
    let row: Option<Row> = on_tx!(tx, |c| sqlx::query_as(&sql)
        .bind(id)
        .fetch_optional(c)
        .await?);
    Ok(row.map(Member::from))
}

/// One member.
pub async fn get(db: &Database, id: &str) -> Result<Option<Member>, AppError> {
    let sql = format!("SELECT {COLUMNS} FROM members WHERE id = $1");
    let row: Option<Row> = on_pool!(db, |p| sqlx::query_as(&sql)
        .bind(id)
        .fetch_optional(p)
        .await?);
    Ok(row.map(Member::from))
}

/// The member that is the organization with this USCC, if any: what a certificate
/// page shows of its site's owner.
pub async fn by_uscc(db: &Database, uscc: &str) -> Result<Option<Member>, AppError> {
    let sql = format!("SELECT {COLUMNS} FROM members WHERE uscc = $1");
    let row: Option<Row> = on_pool!(db, |p| sqlx::query_as(&sql)
        .bind(uscc)
        .fetch_optional(p)
        .await?);
    Ok(row.map(Member::from))
}

/// Every member, by name. Members are tens, not thousands: no paging.
pub async fn list(db: &Database) -> Result<Vec<Member>, AppError> {
    let sql = format!("SELECT {COLUMNS} FROM members ORDER BY name, id");
    let rows: Vec<Row> = on_pool!(db, |p| sqlx::query_as(&sql).fetch_all(p).await?);
    Ok(rows.into_iter().map(Member::from).collect())
}
