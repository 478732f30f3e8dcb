//! Seminars and forums: the staff JSON API (`/api/v1/events`, documented), the public
//! pages (`/events`, `/events/{id}`) and the iCalendar feed (`/events.ics`).

use askama::Template;
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::domain::account::Account;
use crate::domain::clock::now;
use crate::domain::event::{EventInput, ics};
use crate::error::AppError;
use crate::http::extract::session::MaybeSession;
use crate::http::openapi::{ErrorBody, InvalidFields};
use crate::http::state::AppState;
use crate::http::views::event::EventView;
use crate::http::web::{Nav, PageError, render};
use crate::service::events as event;

/// Routes of this area; the pages and the feed ride along undocumented.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(show, update, delete))
        .route("/events", get(page))
        .route("/events.ics", get(feed))
        .route("/events/{id}", get(event_page))
}

/// Upcoming and past events.
#[derive(Debug, Serialize, ToSchema)]
struct Lists {
    /// Events not yet started, soonest first (at most 500).
    upcoming: Vec<EventView>,
    /// Events already started, latest first (at most 500).
    past: Vec<EventView>,
}

async fn lists(state: &AppState) -> Result<Lists, AppError> {
    let t = now();
    let (upcoming, past) = event::lists(state, t).await?;
    Ok(Lists {
        upcoming: upcoming.into_iter().map(|e| EventView::new(e, t)).collect(),
        past: past.into_iter().map(|e| EventView::new(e, t)).collect(),
    })
}

/// Seminars and forums
///
/// Public: upcoming events soonest first, past ones latest first.
#[utoipa::path(
    get,
    path = "/api/v1/events",
    operation_id = "listEvents",
    tag = "events",
    responses((status = 200, description = "Upcoming and past events", body = Lists))
)]
async fn list(State(state): State<AppState>) -> Result<Json<Lists>, AppError> {
    Ok(Json(lists(&state).await?))
}

/// One event
///
/// Public.
#[utoipa::path(
    get,
    path = "/api/v1/events/{id}",
    operation_id = "getEvent",
    tag = "events",
    params(("id" = i64, Path, description = "Event id")),
    responses(
        (status = 200, description = "The event", body = EventView),
        (status = 400, description = "The id is not a number (plain text, from the framework)", content_type = "text/plain", body = String),
        (status = 404, description = "No such event", body = ErrorBody),
    )
)]
async fn show(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<EventView>, AppError> {
    Ok(Json(EventView::new(event::get(&state, id).await?, now())))
}

/// An event to publish, or its new fields.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct EventBody {
    /// 1 to 200 characters.
    #[schema(example = "网络诚信建设研讨会")]
    title: String,
    /// Start: `YYYY-MM-DDTHH:MM` in Beijing time (Asia/Shanghai, UTC+8), or RFC 3339
    /// with an offset.
    #[schema(example = "2026-12-20T14:30")]
    starts: String,
    /// Where (1 to 200 characters).
    #[schema(example = "北京市海淀区中关村会议中心")]
    place: String,
    /// What it is about: plain text, 1 to 5000 characters.
    description: String,
    /// Where to register: an http:// or https:// link.
    #[serde(default)]
    registration_url: Option<String>,
}

impl EventBody {
    fn input(&self) -> EventInput<'_> {
        EventInput {
            title: &self.title,
            starts: &self.starts,
            place: &self.place,
            description: &self.description,
            registration_url: self.registration_url.as_deref().unwrap_or(""),
        }
    }
}

/// Publish an event
///
/// Staff. Audited.
#[utoipa::path(
    post,
    path = "/api/v1/events",
    operation_id = "createEvent",
    tag = "events",
    security(("bearer" = [])),
    request_body = EventBody,
    responses(
        (status = 201, description = "Published", body = EventView),
        (status = 400, description = "The body is not JSON", body = ErrorBody),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "Not staff", body = ErrorBody),
        (status = 422, description = "Invalid fields, or a body of the wrong shape", body = InvalidFields),
    )
)]
async fn create(
    State(state): State<AppState>,
    account: Account,
    body: Result<Json<EventBody>, JsonRejection>,
) -> Result<(StatusCode, Json<EventView>), AppError> {
    account.require(&[
        crate::domain::account::Role::Staff,
        crate::domain::account::Role::Admin,
    ])?;
    let Json(b) = body?;
    let t = now();
    let e = event::create(&state, &account, &b.input(), t).await?;
    Ok((StatusCode::CREATED, Json(EventView::new(e, t))))
}

/// Change an event
///
/// Staff. Every field is replaced. Audited.
#[utoipa::path(
    put,
    path = "/api/v1/events/{id}",
    operation_id = "updateEvent",
    tag = "events",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "Event id")),
    request_body = EventBody,
    responses(
        (status = 200, description = "Changed", body = EventView),
        (status = 400, description = "The body is not JSON, or the id not a number", body = ErrorBody),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "Not staff", body = ErrorBody),
        (status = 404, description = "No such event", body = ErrorBody),
        (status = 422, description = "Invalid fields, or a body of the wrong shape", body = InvalidFields),
    )
)]
async fn update(
    State(state): State<AppState>,
    account: Account,
    Path(id): Path<i64>,
    body: Result<Json<EventBody>, JsonRejection>,
) -> Result<Json<EventView>, AppError> {
    account.require(&[
        crate::domain::account::Role::Staff,
        crate::domain::account::Role::Admin,
    ])?;
    let Json(b) = body?;
    let t = now();
    let e = event::update(&state, &account, id, &b.input(), t).await?;
    Ok(Json(EventView::new(e, t)))
}

/// Delete an event
///
/// Staff. Audited.
#[utoipa::path(
    delete,
    path = "/api/v1/events/{id}",
    operation_id = "deleteEvent",
    tag = "events",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "Event id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "The id is not a number (plain text, from the framework)", content_type = "text/plain", body = String),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "Not staff", body = ErrorBody),
        (status = 404, description = "No such event", body = ErrorBody),
    )
)]
async fn delete(
    State(state): State<AppState>,
    account: Account,
    Path(id): Path<i64>,
) -> Result<StatusCode, AppError> {
    event::delete(&state, &account, id, now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Template)]
#[template(path = "events.html")]
struct EventsPage {
    nav: Nav,
    upcoming: Vec<EventView>,
    past: Vec<EventView>,
}

async fn page(
    State(state): State<AppState>,
    MaybeSession(session): MaybeSession,
) -> Result<Response, PageError> {
    let l = lists(&state).await?;
    let p = EventsPage {
        nav: Nav::of(session.as_ref()),
        upcoming: l.upcoming,
        past: l.past,
    };
    Ok(render(StatusCode::OK, &p, None))
}

#[derive(Template)]
#[template(path = "event.html")]
struct EventPage {
    nav: Nav,
    e: EventView,
}

async fn event_page(
    State(state): State<AppState>,
    MaybeSession(session): MaybeSession,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let id: i64 = id.parse().map_err(|_| PageError::NotFound)?;
    let e = EventView::new(event::get(&state, id).await?, now());
    let p = EventPage {
        nav: Nav::of(session.as_ref()),
        e,
    };
    Ok(render(StatusCode::OK, &p, None))
}

/// `/events.ics`: every live event (upcoming and past), RFC 5545.
async fn feed(State(state): State<AppState>) -> Result<Response, AppError> {
    let (mut events, past) = event::lists(&state, now()).await?;
    events.extend(past);
    let base = state.public_base();
    let host = url::Url::parse(&base)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_else(|| "chengxin".into());
    let body = ics(&events, &base, &host);
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/calendar; charset=utf-8"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=300"),
            ),
        ],
        body,
    )
        .into_response())
}
