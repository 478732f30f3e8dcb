//! The `events` table: seminars and forums, rows converted into
//! [`crate::domain::event::Event`] here.

use ca::db::{Database, Tx};
use ca::{on_pool, on_tx};

use crate::domain::event::{CheckedEvent, Event};
use crate::error::AppError;

const COLUMNS: &str =
    "id, title, starts_at, place, description, registration_url, created_at, updated_at";

/// Most events one list returns.
pub const MAX_LIST: i64 = 500;

/// An `events` row as read.
#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    title: String,
    starts_at: i64,
    place: String,
    description: String,
    registration_url: Option<String>,
    created_at: i64,
    updated_at: i64,
}

impl From<Row> for Event {
    fn from(r: Row) -> Event {
        Event {
            id: r.id,
            title: r.title,
            starts_at: r.starts_at,
            place: r.place,
            description: r.description,
            registration_url: r.registration_url,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// Inserts an event in the step's transaction: its id.
pub async fn insert(
    tx: &mut Tx,
    e: &CheckedEvent,
    created_by: i64,
    now: i64,
) -> Result<i64, AppError> {
    let (id,): (i64,) = on_tx!(tx, |c| {
        sqlx::query_as(
        "INSERT INTO events (title, starts_at, place, description, registration_url, created_by, \
         created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING id"
    )
    .bind(&e.title)
    .bind(e.starts_at)
    .bind(&e.place)
    .bind(&e.description)
    .bind(&e.registration_url)
    .bind(created_by)
    .bind(now)
    .fetch_one(c)
    .await?
    });
    Ok(id)
}

/// Replaces event `id`'s fields in the step's transaction; whether it exists.
pub async fn update(tx: &mut Tx, id: i64, e: &CheckedEvent, now: i64) -> Result<bool, AppError> {
    let n = on_tx!(tx, |c| sqlx::query(
        "UPDATE events SET title = $1, starts_at = $2, place = $3, description = $4, \
         registration_url = $5, updated_at = $6 WHERE id = $7 AND deleted_at IS NULL"
    )
    .bind(&e.title)
    .bind(e.starts_at)
    .bind(&e.place)
    .bind(&e.description)
    .bind(&e.registration_url)
    .bind(now)
    .bind(id)
    .execute(c)
    .await?
    .rows_affected());
    Ok(n == 1)
}

/// Marks event `id` deleted in the step's transaction; whether a live one was.
pub async fn delete(tx: &mut Tx, id: i64, now: i64) -> Result<bool, AppError> {
    let n = on_tx!(tx, |c| sqlx::query(
        "UPDATE events SET deleted_at = $1 WHERE id = $2 AND deleted_at IS NULL"
    )
    .bind(now)
    .bind(id)
    .execute(c)
    .await?
    .rows_affected());
    Ok(n == 1)
}

/// A live event.
pub async fn get(db: &Database, id: i64) -> Result<Option<Event>, AppError> {
    let sql = format!("SELECT {COLUMNS} FROM events WHERE id = $1 AND deleted_at IS NULL");
    let row: Option<Row> = on_pool!(db, |p| sqlx::query_as(&sql)
        .bind(id)
        .fetch_optional(p)
        .await?);
    Ok(row.map(Event::from))
}

/// Live events starting at or after `since`, soonest first.
pub async fn upcoming(db: &Database, since: i64) -> Result<Vec<Event>, AppError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM events WHERE deleted_at IS NULL AND starts_at >= $1 \
         ORDER BY starts_at, id LIMIT {MAX_LIST}"
    );
    let rows: Vec<Row> = on_pool!(db, |p| sqlx::query_as(&sql)
        .bind(since)
        .fetch_all(p)
        .await?);
    Ok(rows.into_iter().map(Event::from).collect())
}

/// Live events that started before `before`, latest first.
pub async fn past(db: &Database, before: i64) -> Result<Vec<Event>, AppError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM events WHERE deleted_at IS NULL AND starts_at < $1 \
         ORDER BY starts_at DESC, id DESC LIMIT {MAX_LIST}"
    );
    let rows: Vec<Row> = on_pool!(db, |p| sqlx::query_as(&sql)
        .bind(before)
        .fetch_all(p)
        .await?);
    Ok(rows.into_iter().map(Event::from).collect())
}
