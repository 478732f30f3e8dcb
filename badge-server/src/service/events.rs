//! Events as use cases: staff create, change and delete seminars and forums (each one
//! transaction with its audit entry); everyone reads the lists and the iCalendar feed.
//! The rules are [`crate::domain::event`], the table [`crate::store::events`].

use serde_json::json;

use crate::domain::account::{Account, Role};
use crate::domain::event::{Event, EventInput, check};
use crate::error::AppError;
use crate::service::Services;
use crate::store::events as store;

/// Who may publish events.
const STAFF: [Role; 2] = [Role::Staff, Role::Admin];

/// Creates an event (staff): the row and its audit entry in one transaction.
pub async fn create(
    s: &Services,
    account: &Account,
    input: &EventInput<'_>,
    now: i64,
) -> Result<Event, AppError> {
    save(s, account, None, input, now).await
}

/// Changes an event (staff), audited in the same transaction.
pub async fn update(
    s: &Services,
    account: &Account,
    id: i64,
    input: &EventInput<'_>,
    now: i64,
) -> Result<Event, AppError> {
    save(s, account, Some(id), input, now).await
}

/// Stores a new event (`id` none) or new fields for event `id`, with its audit entry.
async fn save(
    s: &Services,
    account: &Account,
    id: Option<i64>,
    input: &EventInput<'_>,
    now: i64,
) -> Result<Event, AppError> {
    account.require(&STAFF)?;
    let e = check(input).map_err(AppError::Invalid)?;
    let mut tx = s.db.begin().await?;
    let (id, action) = match id {
        None => (
            store::insert(&mut tx, &e, account.id, now).await?,
            "event.create",
        ),
        Some(id) => {
            if !store::update(&mut tx, id, &e, now).await? {
                return Err(AppError::NotFound);
            }
            (id, "event.update")
        }
    };
    ca::audit::append(
        &mut tx,
        &account.email,
        action,
        &format!("event-{id}"),
        &json!({
            "id": id,
            "title": e.title,
            "starts_at": e.starts_at,
            "place": e.place,
            "registration_url": e.registration_url,
        }),
    )
    .await?;
    tx.commit().await?;
    store::get(&s.db, id).await?.ok_or(AppError::NotFound)
}

/// Deletes an event (staff), audited in the same transaction.
pub async fn delete(s: &Services, account: &Account, id: i64, now: i64) -> Result<(), AppError> {
    account.require(&STAFF)?;
    let mut tx = s.db.begin().await?;
    if !store::delete(&mut tx, id, now).await? {
        return Err(AppError::NotFound);
    }
    ca::audit::append(
        &mut tx,
        &account.email,
        "event.delete",
        &format!("event-{id}"),
        &json!({ "id": id }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// One event.
pub async fn get(s: &Services, id: i64) -> Result<Event, AppError> {
    store::get(&s.db, id).await?.ok_or(AppError::NotFound)
}

/// Upcoming events (soonest first) and past ones (latest first) at `now`.
pub async fn lists(s: &Services, now: i64) -> Result<(Vec<Event>, Vec<Event>), AppError> {
    Ok((
        store::upcoming(&s.db, now).await?,
        store::past(&s.db, now).await?,
    ))
}
