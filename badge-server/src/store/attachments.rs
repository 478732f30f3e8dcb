//! The `complaint_attachments` and `record_attachments` tables: the checked bytes
//! of an upload ([`crate::domain::attachment::Attachment`]) and what is shown of
//! them ([`Stored`]). The two tables have one shape; [`Owner`] picks one.

use ca::db::{Database, Tx};
use ca::{on_pool, on_tx};

use crate::domain::attachment::{Attachment, Stored};
use crate::error::AppError;

/// What an attachment belongs to.
#[derive(Debug, Clone, Copy)]
pub enum Owner<'a> {
    /// A complaint (`c_…`).
    Complaint(&'a str),
    /// A shared record (`r_…`).
    Record(&'a str),
}

impl Owner<'_> {
    /// The table and its owner column.
    fn table(self) -> (&'static str, &'static str) {
        match self {
            Owner::Complaint(_) => ("complaint_attachments", "complaint_id"),
            Owner::Record(_) => ("record_attachments", "record_id"),
        }
    }

    fn id(self) -> String {
        match self {
            Owner::Complaint(id) | Owner::Record(id) => id.to_string(),
        }
    }

    /// The columns read, the owner's as `owner_id`.
    fn columns(self) -> String {
        let (_, owner) = self.table();
        format!(
            "id, {owner} AS owner_id, media_type, size, sha256, name, uploader_role, created_at"
        )
    }
}

/// An attachment row without its bytes.
#[derive(sqlx::FromRow)]
struct Row {
    id: String,
    owner_id: String,
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
            owner_id: r.owner_id,
            media_type: r.media_type,
            size: r.size,
            sha256: r.sha256,
            name: r.name,
            uploader_role: r.uploader_role,
            created_at: r.created_at,
        }
    }
}

/// Stores `a` for `owner` in the step's transaction; the caller has checked who may
/// and that there is room.
pub async fn insert(
    tx: &mut Tx,
    id: &str,
    owner: Owner<'_>,
    a: &Attachment,
    uploaded_by: i64,
    role: &str,
    now: i64,
) -> Result<Stored, AppError> {
    let size = a.content().len() as i64;
    let (table, column) = owner.table();
    let sql = format!(
        "INSERT INTO {table} (id, {column}, media_type, size, sha256, name, \
         uploaded_by, uploader_role, created_at, content) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
    );
    on_tx!(tx, |c| {
        sqlx::query(&sql)
            .bind(id)
            .bind(owner.id())
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
            .map(drop)?
    });
    Ok(Stored {
        id: id.into(),
        owner_id: owner.id(),
        media_type: a.media_type().as_str().into(),
        size,
        sha256: a.sha256().into(),
        name: a.name().into(),
        uploader_role: role.into(),
        created_at: now,
    })
}

/// How many attachments `owner` has, in the step's transaction.
pub async fn count_in(tx: &mut Tx, owner: Owner<'_>) -> Result<i64, AppError> {
    let (table, column) = owner.table();
    let sql = format!("SELECT COUNT(*) FROM {table} WHERE {column} = $1");
    let (n,): (i64,) = on_tx!(tx, |c| sqlx::query_as(&sql)
        .bind(owner.id())
        .fetch_one(c)
        .await?);
    Ok(n)
}

/// The attachments of `owner`, oldest first (without their bytes).
pub async fn list(db: &Database, owner: Owner<'_>) -> Result<Vec<Stored>, AppError> {
    let (table, column) = owner.table();
    let sql = format!(
        "SELECT {} FROM {table} WHERE {column} = $1 ORDER BY seq",
        owner.columns()
    );
    let rows: Vec<Row> = on_pool!(db, |p| sqlx::query_as(&sql)
        .bind(owner.id())
        .fetch_all(p)
        .await?);
    Ok(rows.into_iter().map(Stored::from).collect())
}

/// One attachment of `owner` with its bytes, or 404 (also for an attachment of
/// another owner).
pub async fn fetch(
    db: &Database,
    owner: Owner<'_>,
    id: &str,
) -> Result<(Stored, Vec<u8>), AppError> {
    #[derive(sqlx::FromRow)]
    struct WithContent {
        #[sqlx(flatten)]
        row: Row,
        content: Vec<u8>,
    }
    let (table, column) = owner.table();
    let sql = format!(
        "SELECT {}, content FROM {table} WHERE {column} = $1 AND id = $2",
        owner.columns()
    );
    let row: Option<WithContent> = on_pool!(db, |p| sqlx::query_as(&sql)
        .bind(owner.id())
        .bind(id)
        .fetch_optional(p)
        .await?);
    row.map(|r| (r.row.into(), r.content))
        .ok_or(AppError::NotFound)
}
