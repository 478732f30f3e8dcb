//! The console's events page (staff): the list with a delete button per event and
//! the form that publishes one, calling the same use cases as `/api/v1/events`.

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;

use crate::domain::clock::now;
use crate::domain::event::{EventInput, MAX_DESCRIPTION, MAX_LINE, MAX_URL};
use crate::error::AppError;
use crate::http::extract::session::{CsrfForm, SignedIn, StaffSignedIn};
use crate::http::pages::console::staff;
use crate::http::state::AppState;
use crate::http::views::event::EventView;
use crate::http::web::{Nav, PageError, after_step, render};
use crate::service::events as event;

/// The console's event pages.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/events", get(home).post(create))
        .route("/console/events/{id}/delete", post(delete))
}

/// What was typed into the event form, shown back when it is refused.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct EventForm {
    title: String,
    starts: String,
    place: String,
    description: String,
    registration_url: String,
}

#[derive(Template)]
#[template(path = "console-events.html")]
struct EventsConsole {
    nav: Nav,
    csrf: String,
    notice: Option<String>,
    errors: Vec<String>,
    events: Vec<EventView>,
    f: EventForm,
}

async fn page(
    state: &AppState,
    user: &SignedIn,
    notice: Option<String>,
    errors: Vec<String>,
    f: EventForm,
    status: StatusCode,
) -> Result<Response, PageError> {
    let t = now();
    let (mut events, past) = event::lists(state, t).await?;
    events.extend(past);
    let p = EventsConsole {
        nav: Nav::of(Some(&user.session)),
        csrf: user.session.csrf.clone(),
        notice,
        errors,
        events: events.into_iter().map(|e| EventView::new(e, t)).collect(),
        f,
    };
    Ok(render(status, &p, None))
}

async fn home(
    State(state): State<AppState>,
    StaffSignedIn(user): StaffSignedIn,
) -> Result<Response, PageError> {
    let notice = user.session.take_flash(&state.db).await?;
    page(
        &state,
        &user,
        notice,
        vec![],
        EventForm::default(),
        StatusCode::OK,
    )
    .await
}

/// After a step: back to the events page with its notice, or the page with the
/// reasons and the form as filled ([`after_step`]).
async fn after(
    state: &AppState,
    user: &SignedIn,
    result: Result<String, AppError>,
    f: EventForm,
) -> Result<Response, PageError> {
    after_step(
        &state.db,
        &user.session,
        "/console/events",
        result,
        |errors, status| page(state, user, None, errors, f, status),
    )
    .await
}

fn cut(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

async fn create(
    State(state): State<AppState>,
    CsrfForm { session, form, .. }: CsrfForm<EventForm>,
) -> Result<Response, PageError> {
    let user = staff(session)?;
    let r = event::create(
        &state,
        &user.account,
        &EventInput {
            title: &form.title,
            starts: &form.starts,
            place: &form.place,
            description: &form.description,
            registration_url: &form.registration_url,
        },
        now(),
    )
    .await
    .map(|e| format!("已发布活动 #{}。 / Published event #{}.", e.id, e.id));
    let f = EventForm {
        title: cut(&form.title, MAX_LINE + 20),
        starts: cut(&form.starts, 40),
        place: cut(&form.place, MAX_LINE + 20),
        description: cut(&form.description, MAX_DESCRIPTION + 100),
        registration_url: cut(&form.registration_url, MAX_URL + 20),
    };
    after(&state, &user, r, f).await
}

#[derive(Debug, Default, Deserialize)]
struct NoFields {}

async fn delete(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    CsrfForm { session, .. }: CsrfForm<NoFields>,
) -> Result<Response, PageError> {
    let user = staff(session)?;
    let r = event::delete(&state, &user.account, id, now())
        .await
        .map(|()| format!("已删除活动 #{id}。 / Deleted event #{id}."));
    after(&state, &user, r, EventForm::default()).await
}
