//! The `complaint_attachments` table: the checked bytes of an upload
//! ([`crate::domain::attachment::Attachment`]) and what is shown of them
//! ([`Stored`]).

use ca::db::{Database, Tx};
use ca::{on_pool, on_tx};

use crate::domain::attachment::{Attachment, Stored};
use crate::error::AppError;

const COLUMNS: &str = "id, complaint_id, media_type, size, sha256, name, uploader_role, created_at";

/// A `complaint_attachments` row without its bytes.
#[derive(sqlx::FromRow)]
struct Row {
    id: String,
    complaint_id: String,
    media_type: String,
    size: i64,
    sha256: String,
    name: String,
    uploader_role: String,
    created_at: i64,
}

impl From<Row> for Stored {
    fn from(r: Row) -> Stored {
        Stored {
            id: r.id,
            complaint_id: r.complaint_id,
            media_type: r.media_type,
            size: r.size,
            sha256: r.sha256,
            name: r.name,
            uploader_role: r.uploader_role,
            created_at: r.created_at,
        }
    }
}

/// Stores `a` for complaint `complaint` in the step's transaction; the caller has
/// checked who may and that there is room.
pub async fn insert(
    tx: &mut Tx,
    id: &str,
    complaint: &str,
    a: &Attachment,
    uploaded_by: i64,
    role: &str,
    now: i64,
) -> Result<Stored, AppError> {
    let size = a.content().len() as i64;
    on_tx!(tx, |c| {
        sqlx::query(
        "INSERT INTO complaint_attachments (id, complaint_id, media_type, size, sha256, name, \
         uploaded_by, uploader_role, created_at, content) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
    )
    .bind(id)
    .bind(complaint)
    .bind(a.media_type().as_str())
    .bind(size)
    .bind(a.sha256())
    .bind(a.name())
    .bind(uploaded_by)
    .bind(role)
    .bind(now)
    .bind(a.content())
    .execute(c)
    .await
    .map(drop)
    ?
    });
    Ok(Stored {
        id: id.into(),
        complaint_id: complaint.into(),
        media_type: a.media_type().as_str().into(),
        size,
        sha256: a.sha256().into(),
        name: a.name().into(),
        uploader_role: role.into(),
        created_at: now,
    })
}

/// How many attachments `complaint` has, in the step's transaction.
pub async fn count_in(tx: &mut Tx, complaint: &str) -> Result<i64, AppError> {
    let (n,): (i64,) = on_tx!(tx, |c| sqlx::query_as(
        "SELECT COUNT(*) FROM complaint_attachments WHERE complaint_id = $1"
    )
    .bind(complaint)
    .fetch_one(c)
    .await?);
    Ok(n)
}

/// The attachments of a complaint, oldest first (without their bytes).
pub async fn list(db: &Database, complaint: &str) -> Result<Vec<Stored>, AppError> {
    let sql =
        format!("SELECT {COLUMNS} FROM complaint_attachments WHERE complaint_id = $1 ORDER BY seq");
    let rows: Vec<Row> = on_pool!(db, |p| sqlx::query_as(&sql)
        .bind(complaint)
        .fetch_all(p)
        .await?);
    Ok(rows.into_iter().map(Stored::from).collect())
}

/// One attachment of `complaint` with its bytes, or 404 (also for an attachment of
/// another complaint).
pub async fn fetch(
    db: &Database,
    complaint: &str,
    id: &str,
) -> Result<(Stored, Vec<u8>), AppError> {
    #[derive(sqlx::FromRow)]
    struct WithContent {
        #[sqlx(flatten)]
        row: Row,
        content: Vec<u8>,
    }
    let sql = format!(
        "SELECT {COLUMNS}, content FROM complaint_attachments WHERE complaint_id = $1 AND id = $2"
    );
    let row: Option<WithContent> = on_pool!(db, |p| sqlx::query_as(&sql)
        .bind(complaint)
        .bind(id)
        .fetch_optional(p)
        .await?);
    row.map(|r| (r.row.into(), r.content))
        .ok_or(AppError::NotFound)
}
