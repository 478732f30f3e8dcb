//! Re-verification runs in the console (issue 18): start one over every due site,
//! and its page with live progress (a first-party script polls the run; without
//! scripts the page refreshes itself), the summary when it ends and every site it
//! moved to another state.

use askama::Template;
use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use crate::domain::account::Role;
use crate::domain::recheck_run::{Run, RunState};
use crate::error::AppError;
use crate::http::extract::session::{CsrfForm, SignedIn, StaffSignedIn};
use crate::http::state::AppState;
use crate::http::web::{MessagePage, Nav, PageError, render, see_other, when};
use crate::service::rechecks;

/// Routes of this area.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/rechecks", post(start))
        .route("/console/rechecks/{id}", get(page))
        .route("/console/rechecks/{id}/progress", get(progress))
}

/// Seconds between refreshes of a running run's page without scripts.
const REFRESH_SECS: u32 = 3;

/// The pages' policy ([`crate::http::web::CSP`]) with our own scripts and their
/// requests to our origin allowed: nothing inline, nothing from elsewhere.
const RUN_CSP: &str = "default-src 'none'; script-src 'self'; connect-src 'self'; \
                       style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; \
                       base-uri 'none'; frame-ancestors 'none'";

#[derive(Debug, Default, Deserialize)]
struct NoFields {}

/// Starts a run as `user` and shows its page, or says that one is already going
/// (409, with a link to it). Also what the console's old "re-verify every site due"
/// button does.
pub(crate) async fn start_as(state: &AppState, user: &SignedIn) -> Result<Response, PageError> {
    match rechecks::start(state, &user.account, crate::domain::clock::now()).await {
        Ok(run) => Ok(see_other(&format!("/console/rechecks/{}", run.id), None)),
        Err(AppError::Conflict(why)) => {
            let mut page = MessagePage::new(
                Nav::of(Some(&user.session)),
                "error",
                "已有重新验证在进行 / A run is already going",
                &[
                    "同一时间只能进行一次重新验证。",
                    "Only one re-verification run at a time.",
                    &why,
                ],
            );
            if let Some(r) = crate::store::rechecks::running(&state.db).await? {
                page = page.link(
                    &format!("/console/rechecks/{}", r.id),
                    "查看进行中的运行 / See the run under way",
                );
            }
            Ok(render(StatusCode::CONFLICT, &page, None))
        }
        Err(e) => Err(e.into()),
    }
}

async fn start(
    State(state): State<AppState>,
    CsrfForm { session, .. }: CsrfForm<NoFields>,
) -> Result<Response, PageError> {
    let user = crate::http::pages::complaints::signed_in(session)?;
    user.require(&[Role::Staff, Role::Admin])?;
    start_as(&state, &user).await
}

/// One changed site as the page lists it.
struct ChangeRow {
    site: String,
    from: String,
    to: String,
    reason: String,
    label_zh: &'static str,
    label_en: &'static str,
}

#[derive(Template)]
#[template(path = "console-recheck.html")]
struct RunPage {
    nav: Nav,
    run: Run,
    state: &'static str,
    state_zh: &'static str,
    running: bool,
    started: String,
    finished: String,
    bar_max: i64,
    changes: Vec<ChangeRow>,
    script: &'static str,
}

async fn page(
    State(state): State<AppState>,
    StaffSignedIn(user): StaffSignedIn,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    let run = rechecks::get(&state.db, &user.account, id).await?;
    let changes = run
        .changes
        .iter()
        .map(|c| {
            let (label_zh, label_en) = c.label();
            ChangeRow {
                site: c.site.clone(),
                from: c.from.clone(),
                to: c.to.clone(),
                reason: c.reason.clone(),
                label_zh,
                label_en,
            }
        })
        .collect();
    let page = RunPage {
        nav: Nav::of(Some(&user.session)),
        state: run.state.as_str(),
        state_zh: match run.state {
            RunState::Running => "进行中",
            RunState::Finished => "已完成",
            RunState::Failed => "已中断",
        },
        running: run.state == RunState::Running,
        started: when(run.started_at),
        finished: run.finished_at.map(when).unwrap_or_default(),
        bar_max: run.total.max(run.done).max(1),
        changes,
        script: crate::http::public::assets::recheck_run_path(),
        run,
    };
    let mut r = render(StatusCode::OK, &page, None);
    r.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(RUN_CSP),
    );
    Ok(r)
}

/// The run as JSON for the page's script (the session's, not a bearer token's: the
/// API's `GET /api/v1/staff/rechecks/{id}` answers the same).
async fn progress(
    State(state): State<AppState>,
    StaffSignedIn(user): StaffSignedIn,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    let run = rechecks::get(&state.db, &user.account, id).await?;
    let mut r = Json(run).into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(r)
}
