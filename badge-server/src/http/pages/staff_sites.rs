//! The console's sites (issue 18): the filtered list (`/console/sites`), a site's
//! page with its whole history (`/console/sites/{id}`), and its actions: re-verify
//! now, hold / release / revoke with a reason (each shown on a confirmation page
//! before it is taken, no script needed), and notes kept in the audit chain. Staff
//! and admins only; every form CSRF-checked, calling the same service as the API.

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;

use crate::domain::site_list::{LastResult, SiteAction, StaffState};
use crate::error::AppError;
use crate::http::api::staff_sites::{ListQuery, parse_reason};
use crate::http::extract::session::{CsrfForm, SignedIn, StaffSignedIn};
use crate::http::state::AppState;
use crate::http::views::staff_site::{StaffSiteDetail, StaffSiteList};
use crate::http::web::{Nav, PageError, after_step, render, when};
use crate::service::site_list as service;

use super::console::staff;

/// The pages of this area.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/sites", get(list))
        .route("/console/sites/{id}", get(show))
        .route("/console/sites/{id}/recheck", post(recheck))
        .route("/console/sites/{id}/note", post(note))
        .route("/console/sites/{id}/act/{action}", post(act))
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// A date, or a dash.
fn maybe(t: Option<i64>) -> String {
    t.map_or_else(|| "—".into(), when)
}

/// A row of the list as the page shows it.
struct Row {
    site: String,
    url: String,
    state: String,
    state_zh: &'static str,
    organization: String,
    uscc: String,
    province: String,
    domains: String,
    last: String,
    due: String,
    failing: String,
    complaints: i64,
    copies: i64,
}

#[derive(Template)]
#[template(path = "console-sites.html")]
struct ListPage {
    nav: Nav,
    rows: Vec<Row>,
    errors: Vec<String>,
    q: ListQuery,
    states: Vec<(&'static str, &'static str, bool)>,
    lasts: Vec<(&'static str, bool)>,
    sorts: Vec<(&'static str, &'static str, bool)>,
    page: i64,
    prev: Option<String>,
    next: Option<String>,
}

impl ListPage {
    /// Whether a checkbox filter was ticked.
    fn checked(&self, v: &Option<String>) -> bool {
        matches!(v.as_deref(), Some("1" | "true" | "on" | "yes"))
    }
}

async fn list(
    State(state): State<AppState>,
    StaffSignedIn(user): StaffSignedIn,
    Query(q): Query<ListQuery>,
) -> Result<Response, PageError> {
    let now = now();
    let (view, errors, status) = match q.filter() {
        Ok(f) => {
            let page = service::list(&state.services, &user.account, f.clone(), now).await?;
            let prev = (f.page > 1).then(|| format!("?{}", f.query(f.page - 1)));
            (
                Some((StaffSiteList::new(page, now), prev)),
                vec![],
                StatusCode::OK,
            )
        }
        Err(AppError::Invalid(fields)) => (
            None,
            fields
                .into_iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        Err(e) => return Err(e.into()),
    };
    let state_now = q.state.clone().unwrap_or_default();
    let last_now = q.last.clone().unwrap_or_default();
    let sort_now = q.sort.clone().unwrap_or_else(|| "newest".into());
    let (rows, page, prev, next) = match view {
        Some((v, prev)) => (
            v.sites
                .into_iter()
                .map(|r| Row {
                    state_zh: r.state.parse::<StaffState>().map_or("", |s| s.labels().0),
                    domains: r.domains.join(", "),
                    last: r.last_result.unwrap_or_default(),
                    due: maybe(r.next_due),
                    failing: maybe(r.failing_since),
                    site: r.site,
                    url: r.url,
                    state: r.state,
                    organization: r.organization,
                    uscc: r.uscc,
                    province: r.province,
                    complaints: r.open_complaints,
                    copies: r.copies,
                })
                .collect(),
            v.page,
            prev,
            v.next,
        ),
        None => (vec![], 1, None, None),
    };
    let page = ListPage {
        nav: Nav::of(Some(&user.session)),
        rows,
        errors,
        states: StaffState::ALL
            .iter()
            .map(|s| (s.as_str(), s.labels().0, s.as_str() == state_now))
            .collect(),
        lasts: LastResult::ALL
            .iter()
            .map(|l| (l.as_str(), l.as_str() == last_now))
            .collect(),
        sorts: vec![
            ("newest", "最新", sort_now == "newest"),
            ("due", "到期时间", sort_now == "due"),
            ("failure", "最近失败", sort_now == "failure"),
        ],
        q,
        page,
        prev,
        next,
    };
    Ok(render(status, &page, None))
}

/// The fields of the confirmation step, kept as typed.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ActForm {
    reason: String,
    rfc_reason: String,
    /// `yes` once confirmed on the confirmation page.
    confirm: String,
}

#[derive(Template)]
#[template(path = "console-site.html")]
struct SitePage {
    nav: Nav,
    csrf: String,
    notice: Option<String>,
    errors: Vec<String>,
    d: StaffSiteDetail,
    grace_ends: String,
    reasons: [(&'static str, &'static str); 5],
    note: String,
}

/// What the history and the certificates show, with times as dates.
impl SitePage {
    fn date(&self, t: &i64) -> String {
        when(*t)
    }
}

/// The RFC 5280 reasons staff revoke for (hold and release have their own buttons).
const REVOKE_REASONS: [(&str, &str); 5] = [
    ("privilegeWithdrawn", "撤销资格"),
    ("cessationOfOperation", "停止运营"),
    ("keyCompromise", "密钥泄露"),
    ("affiliationChanged", "隶属关系变更"),
    ("superseded", "已被取代"),
];

async fn site_page(
    state: &AppState,
    user: &SignedIn,
    id: &str,
    notice: Option<String>,
    errors: Vec<String>,
    note: String,
    status: StatusCode,
) -> Result<Response, PageError> {
    let d: StaffSiteDetail = service::detail(&state.services, &user.account, id, now())
        .await?
        .into();
    let page = SitePage {
        nav: Nav::of(Some(&user.session)),
        csrf: user.session.csrf.clone(),
        notice,
        errors,
        grace_ends: maybe(d.recheck.as_ref().and_then(|r| r.grace_ends)),
        d,
        reasons: REVOKE_REASONS,
        note,
    };
    Ok(render(status, &page, None))
}

async fn show(
    State(state): State<AppState>,
    StaffSignedIn(user): StaffSignedIn,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let notice = user.session.take_flash(&state.db).await?;
    site_page(
        &state,
        &user,
        &id,
        notice,
        vec![],
        String::new(),
        StatusCode::OK,
    )
    .await
}

/// Back to the site's page with the step's notice, or the page with its reasons.
async fn after(
    state: &AppState,
    user: &SignedIn,
    id: &str,
    result: Result<String, AppError>,
    note: String,
) -> Result<Response, PageError> {
    let back = format!("/console/sites/{id}");
    after_step(&state.db, &user.session, &back, result, |errors, status| {
        site_page(state, user, id, None, errors, note, status)
    })
    .await
}

#[derive(Debug, Default, Deserialize)]
struct NoFields {}

async fn recheck(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm { session, .. }: CsrfForm<NoFields>,
) -> Result<Response, PageError> {
    let user = staff(session)?;
    // 404 for an unknown site before anything runs.
    service::detail(&state.services, &user.account, &id, now()).await?;
    let r = crate::http::api::applications::run_recheck(&state, &user.account, &id)
        .await
        .map(|s| crate::http::web::recheck_notice(&s));
    after(&state, &user, &id, r, String::new()).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct NoteForm {
    note: String,
}

async fn note(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm { session, form, .. }: CsrfForm<NoteForm>,
) -> Result<Response, PageError> {
    let user = staff(session)?;
    let r = service::note(&state.services, &user.account, &id, &form.note)
        .await
        .map(|_| "已记录备注。 / Note kept.".to_string());
    let typed: String = form.note.chars().take(2_100).collect();
    after(&state, &user, &id, r, typed).await
}

#[derive(Template)]
#[template(path = "console-site-confirm.html")]
struct ConfirmPage {
    nav: Nav,
    csrf: String,
    site: String,
    action: &'static str,
    label_zh: &'static str,
    label_en: &'static str,
    reason: String,
    rfc_reason: String,
}

async fn act(
    State(state): State<AppState>,
    Path((id, action)): Path<(String, String)>,
    CsrfForm { session, form, .. }: CsrfForm<ActForm>,
) -> Result<Response, PageError> {
    let user = staff(session)?;
    let action = SiteAction::parse(&action).ok_or(PageError::NotFound)?;
    // The reason in words, and for a revocation its RFC 5280 reason, are checked
    // before the confirmation page is shown.
    let checked: Result<Option<ca::RevocationReason>, AppError> =
        crate::domain::site_list::note_text("reason", &form.reason).and_then(|_| match action {
            SiteAction::Revoke => parse_reason(&form.rfc_reason).map(Some),
            _ => Ok(None),
        });
    if form.confirm != "yes" {
        // The confirmation step: what will happen, the reason as typed, one button.
        return match checked {
            Ok(_) => {
                // 404 for an unknown site on the first step too.
                service::detail(&state.services, &user.account, &id, now()).await?;
                let (label_zh, label_en) = action.labels();
                let page = ConfirmPage {
                    nav: Nav::of(Some(&user.session)),
                    csrf: user.session.csrf.clone(),
                    site: id,
                    action: action.as_str(),
                    label_zh,
                    label_en,
                    reason: form.reason.trim().to_string(),
                    rfc_reason: form.rfc_reason,
                };
                Ok(render(StatusCode::OK, &page, None))
            }
            Err(e) => after(&state, &user, &id, Err(e), String::new()).await,
        };
    }
    let r = match checked {
        Ok(rfc) => service::act(
            &state.services,
            &user.account,
            &id,
            action,
            rfc,
            &form.reason,
            now(),
        )
        .await
        .map(|()| {
            let (zh, en) = action.labels();
            format!("已{zh}。 / Done: {en}.")
        }),
        Err(e) => Err(e),
    };
    after(&state, &user, &id, r, String::new()).await
}
