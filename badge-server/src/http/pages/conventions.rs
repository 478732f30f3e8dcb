//! Conventions in the console and the portal: staff publish conventions and new
//! versions (`/console/conventions`), an operator signs them for their organizations
//! and sees which signatures a new version has outdated (`/portal/conventions`). Each
//! form calls the same use case as `/api/v1/conventions`.

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;

use crate::domain::account::Role;
use crate::domain::clock::now;
use crate::domain::convention::{MAX_TEXT, MAX_TITLE};
use crate::http::extract::session::{CsrfForm, SignedIn, StaffSignedIn};
use crate::http::pages::complaints::signed_in;
use crate::http::pages::console::staff;
use crate::http::state::AppState;
use crate::http::views::convention::{ConventionView, SignatureView};
use crate::http::web::{Nav, PageError, after_step, render};
use crate::service::conventions as convention;

/// The console's and the portal's convention pages.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/conventions", get(console).post(publish))
        .route("/console/conventions/{id}/versions", post(new_version))
        .route("/portal/conventions", get(portal))
        .route("/portal/conventions/{id}/sign", post(sign))
}

fn cut(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

// ---- console ----

/// What was typed into the publish form.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct PublishForm {
    title: String,
    text: String,
}

#[derive(Template)]
#[template(path = "console-conventions.html")]
struct ConsolePage {
    nav: Nav,
    csrf: String,
    notice: Option<String>,
    errors: Vec<String>,
    conventions: Vec<ConventionView>,
    f: PublishForm,
}

async fn console_page(
    state: &AppState,
    user: &SignedIn,
    notice: Option<String>,
    errors: Vec<String>,
    f: PublishForm,
    status: StatusCode,
) -> Result<Response, PageError> {
    let conventions = convention::list(state)
        .await?
        .into_iter()
        .map(ConventionView::from)
        .collect();
    let p = ConsolePage {
        nav: Nav::of(Some(&user.session)),
        csrf: user.session.csrf.clone(),
        notice,
        errors,
        conventions,
        f,
    };
    Ok(render(status, &p, None))
}

async fn console(
    State(state): State<AppState>,
    StaffSignedIn(user): StaffSignedIn,
) -> Result<Response, PageError> {
    let notice = user.session.take_flash(&state.db).await?;
    console_page(
        &state,
        &user,
        notice,
        vec![],
        PublishForm::default(),
        StatusCode::OK,
    )
    .await
}

async fn publish(
    State(state): State<AppState>,
    CsrfForm { session, form, .. }: CsrfForm<PublishForm>,
) -> Result<Response, PageError> {
    let user = staff(session)?;
    let r = convention::publish(&state, &user.account, &form.title, &form.text, now())
        .await
        .map(|c| {
            format!(
                "已发布《{t}》第 1 版。 / Published “{t}”, version 1.",
                t = c.title
            )
        });
    let f = PublishForm {
        title: cut(&form.title, MAX_TITLE + 20),
        text: cut(&form.text, MAX_TEXT + 100),
    };
    after_step(
        &state.db,
        &user.session,
        "/console/conventions",
        r,
        |errors, status| console_page(&state, &user, None, errors, f, status),
    )
    .await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct VersionForm {
    text: String,
}

async fn new_version(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    CsrfForm { session, form, .. }: CsrfForm<VersionForm>,
) -> Result<Response, PageError> {
    let user = staff(session)?;
    let r = convention::new_version(&state, &user.account, id, &form.text, now())
        .await
        .map(|c| {
            format!(
                "已发布《{t}》第 {v} 版；签署单位将被请求重新签署。 / Published “{t}”, version {v}; signatories are asked to sign again.",
                t = c.title,
                v = c.version
            )
        });
    after_step(
        &state.db,
        &user.session,
        "/console/conventions",
        r,
        |errors, status| console_page(&state, &user, None, errors, PublishForm::default(), status),
    )
    .await
}

// ---- portal ----

/// One convention as an operator's organization stands with it.
struct Standing {
    organization: String,
    uscc: String,
    /// The latest signature, if any.
    signed: Option<SignatureView>,
}

impl Standing {
    /// Whether the current version waits for this organization's signature.
    fn may_sign(&self) -> bool {
        self.signed.as_ref().is_none_or(|s| s.outdated)
    }
}

struct PortalRow {
    c: ConventionView,
    standings: Vec<Standing>,
}

#[derive(Template)]
#[template(path = "portal-conventions.html")]
struct PortalPage {
    nav: Nav,
    csrf: String,
    notice: Option<String>,
    errors: Vec<String>,
    rows: Vec<PortalRow>,
    has_organizations: bool,
}

async fn portal_page(
    state: &AppState,
    user: &SignedIn,
    notice: Option<String>,
    errors: Vec<String>,
    status: StatusCode,
) -> Result<Response, PageError> {
    let organizations = convention::for_operator(state, &user.account).await?;
    let rows = convention::list(state)
        .await?
        .into_iter()
        .map(|c| PortalRow {
            standings: organizations
                .iter()
                .map(|(name, uscc, signed)| Standing {
                    organization: name.clone(),
                    uscc: uscc.clone(),
                    signed: signed
                        .iter()
                        .find(|s| s.convention_id == c.id)
                        .cloned()
                        .map(SignatureView::from),
                })
                .collect(),
            c: c.into(),
        })
        .collect();
    let p = PortalPage {
        nav: Nav::of(Some(&user.session)),
        csrf: user.session.csrf.clone(),
        notice,
        errors,
        rows,
        has_organizations: !organizations.is_empty(),
    };
    Ok(render(status, &p, None))
}

async fn portal(State(state): State<AppState>, user: SignedIn) -> Result<Response, PageError> {
    user.require(&[Role::Operator])?;
    let notice = user.session.take_flash(&state.db).await?;
    portal_page(&state, &user, notice, vec![], StatusCode::OK).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct SignForm {
    /// The organization's USCC.
    organization: String,
}

async fn sign(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    CsrfForm { session, form, .. }: CsrfForm<SignForm>,
) -> Result<Response, PageError> {
    let user = signed_in(session)?;
    user.require(&[Role::Operator])?;
    let r = convention::sign(&state, &user.account, id, &form.organization, now())
        .await
        .map(|s| {
            format!(
                "{o} 已签署《{t}》第 {v} 版。 / {o} signed “{t}”, version {v}.",
                o = s.organization,
                t = s.title,
                v = s.version
            )
        });
    after_step(
        &state.db,
        &user.session,
        "/portal/conventions",
        r,
        |errors, status| portal_page(&state, &user, None, errors, status),
    )
    .await
}
