//! Complaints in the browser: the form a signed-in visitor files one with, and the
//! page each party follows it on, with the steps that party may take. The page shows
//! what the JSON view shows (`routes::complaints::view`): the operator reads the text
//! masked and never learns who complained. Every step goes through the same
//! `complaint` function as the API; a refused step re-renders the page with the
//! reason and changes nothing.

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;

use crate::domain::account::Role;
use crate::domain::attachment::size_label;
use crate::domain::complaint::{self as rules, Category, Party, Status};
use crate::error::AppError;
use crate::http::extract::session::{CsrfForm, CsrfUpload, SignedIn};
use crate::http::session::Session;
use crate::http::state::AppState;
use crate::http::web::{Nav, PageError, input_problems, render, see_other, when};
use crate::service::attachments;
use crate::service::complaints as complaint;

use crate::http::api::complaints::{AttachmentView, ComplaintView, decision, view};

/// The complaint pages.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/complaints/new", get(new_page))
        .route("/complaints", post(file))
        .route("/complaints/{id}", get(show))
        .route("/complaints/{id}/answer", post(answer))
        .route("/complaints/{id}/feedback", post(feedback))
        .route("/complaints/{id}/decide", post(decide))
        .route("/complaints/{id}/withdraw", post(withdraw))
        .route("/complaints/{id}/attachments/{attachment}", get(download))
}

/// The upload form's route, kept out of the 64 KiB body limit of the others
/// ([`crate::http::router`]): [`CsrfUpload`] reads up to the attachment limit.
pub fn uploads() -> Router<AppState> {
    Router::new().route("/complaints/{id}/attachments", post(attach))
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Longest text a form shows back (the limit is checked by the step itself).
fn keep(text: &str) -> String {
    text.chars().take(rules::MAX_TEXT + 100).collect()
}

/// A category for the select: (value, Chinese, English, `selected` or nothing).
pub(crate) fn categories(
    selected: &str,
) -> Vec<(&'static str, &'static str, &'static str, &'static str)> {
    Category::ALL
        .into_iter()
        .map(|c| {
            let (zh, en) = c.labels();
            let mark = if c.as_str() == selected {
                "selected"
            } else {
                ""
            };
            (c.as_str(), zh, en, mark)
        })
        .collect()
}

// ---- filing ----

#[derive(Template)]
#[template(path = "complaint-new.html")]
struct NewPage {
    nav: Nav,
    csrf: String,
    site: String,
    /// The site's first domain and organization, when the id is known.
    about: Option<(String, String)>,
    categories: Vec<(&'static str, &'static str, &'static str, &'static str)>,
    text: String,
    errors: Vec<String>,
    min: usize,
    max: usize,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct SiteQuery {
    site: String,
}

async fn about(state: &AppState, site: &str) -> Option<(String, String)> {
    let v = crate::http::api::applications::public_view(state, site)
        .await
        .ok()?;
    Some((
        v.primary().unwrap_or_default().to_string(),
        v.organization.unwrap_or_default(),
    ))
}

/// Staff do not file complaints (they decide them).
fn may_file(user: &SignedIn) -> Result<(), PageError> {
    user.require(&[Role::User, Role::Operator])
}

async fn new_page(
    State(state): State<AppState>,
    user: SignedIn,
    Query(q): Query<SiteQuery>,
) -> Result<Response, PageError> {
    may_file(&user)?;
    let site: String = q.site.trim().chars().take(64).collect();
    let page = NewPage {
        nav: Nav::of(Some(&user.session)),
        csrf: user.session.csrf.clone(),
        about: about(&state, &site).await,
        site,
        categories: categories(""),
        text: String::new(),
        errors: vec![],
        min: rules::MIN_TEXT,
        max: rules::MAX_TEXT,
    };
    Ok(render(StatusCode::OK, &page, None))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct FileForm {
    site: String,
    category: String,
    text: String,
}

async fn file(
    State(state): State<AppState>,
    CsrfForm { session, form, .. }: CsrfForm<FileForm>,
) -> Result<Response, PageError> {
    let user = signed_in(session)?;
    may_file(&user)?;
    let site = form.site.trim();
    match complaint::submit(
        &state,
        &user.account,
        site,
        &form.category,
        &form.text,
        now(),
    )
    .await
    {
        Ok(c) => Ok(see_other(&format!("/complaints/{}", c.id), None)),
        Err(e) => {
            let errors = input_problems(e)?;
            let site: String = site.chars().take(64).collect();
            let page = NewPage {
                nav: Nav::of(Some(&user.session)),
                csrf: user.session.csrf.clone(),
                about: about(&state, &site).await,
                site,
                categories: categories(&form.category),
                text: keep(&form.text),
                errors,
                min: rules::MIN_TEXT,
                max: rules::MAX_TEXT,
            };
            Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page, None))
        }
    }
}

/// The signed-in account of a form's session; a form posted from a session that is
/// not signed in (logged out in another tab) goes to the login page.
pub(crate) fn signed_in(session: Session) -> Result<SignedIn, PageError> {
    match session.account.clone() {
        Some(account) => Ok(SignedIn { account, session }),
        None => Err(PageError::Login(None)),
    }
}

// ---- following one ----

struct Step {
    at: String,
    actor: &'static str,
    to_zh: &'static str,
    to_en: &'static str,
    note: Option<String>,
}

/// An attachment on the complaint page.
struct File {
    href: String,
    a: AttachmentView,
    size: String,
    at: String,
    by: &'static str,
}

/// Who did something, in the page's words.
fn actor(role: &str) -> &'static str {
    match role {
        "complainant" => "投诉人 complainant",
        "operator" => "经营者 operator",
        "staff" => "工作人员 staff",
        _ => "系统 system",
    }
}

#[derive(Template)]
#[template(path = "complaint.html")]
struct ComplaintPage {
    nav: Nav,
    csrf: String,
    c: ComplaintView,
    status_zh: &'static str,
    status_en: &'static str,
    category_zh: &'static str,
    category_en: &'static str,
    domain: String,
    created: String,
    deadline: String,
    answered: String,
    decided: String,
    steps: Vec<Step>,
    /// The complainant's verdict on the answer, in words.
    verdict: Option<(&'static str, &'static str)>,
    may_answer: bool,
    may_feedback: bool,
    may_withdraw: bool,
    may_decide: bool,
    /// The upload form is shown: a party, the complaint open, room for one more.
    may_attach: bool,
    /// The files, with their page download links and sizes in words.
    files: Vec<File>,
    /// "5 MiB" and 5: the limits, for the upload form.
    max_size: String,
    per_complaint: i64,
    errors: Vec<String>,
    /// What was typed into the form that failed, to show it back.
    draft: String,
}

async fn page(
    state: &AppState,
    user: &SignedIn,
    id: &str,
    errors: Vec<String>,
    draft: String,
    status: StatusCode,
) -> Result<Response, PageError> {
    let c = complaint::get(state, id).await?;
    let party = complaint::party(state, &user.account, &c)
        .await
        .map_err(|e| match e {
            AppError::Forbidden(_) => PageError::Forbidden,
            e => e.into(),
        })?;
    let (current, category) = (c.status, c.category);
    let domain = about(state, &c.site_id)
        .await
        .map(|(d, _)| d)
        .unwrap_or_else(|| c.site_id.clone());
    let v = view(state, c, party).await?;
    let (status_zh, status_en) = current.labels();
    let (category_zh, category_en) = category.labels();
    let steps = v
        .events
        .iter()
        .map(|e| {
            let (to_zh, to_en) = e.to_status.labels();
            Step {
                at: when(e.at),
                actor: actor(&e.actor_role),
                to_zh,
                to_en,
                note: e.note.clone(),
            }
        })
        .collect();
    let per_complaint = state.attachments.per_complaint;
    let may_attach = !current.is_final() && (v.attachments.len() as i64) < per_complaint;
    let page = ComplaintPage {
        nav: Nav::of(Some(&user.session)),
        csrf: user.session.csrf.clone(),
        may_attach,
        files: v
            .attachments
            .iter()
            .map(|a| File {
                href: format!("/complaints/{}/attachments/{}", v.id, a.id),
                size: size_label(a.size),
                at: when(a.created_at),
                by: actor(&a.uploaded_by),
                a: a.clone(),
            })
            .collect(),
        max_size: size_label(state.attachments.max_bytes as i64),
        per_complaint,
        status_zh,
        status_en,
        category_zh,
        category_en,
        domain,
        created: when(v.created_at),
        deadline: when(v.deadline_at),
        answered: v.answered_at.map(when).unwrap_or_default(),
        decided: v.decided_at.map(when).unwrap_or_default(),
        steps,
        verdict: v.satisfied.map(|s| {
            if s {
                ("满意", "Satisfied")
            } else {
                ("不满意", "Not satisfied")
            }
        }),
        may_answer: party == Party::Operator
            && matches!(
                current,
                Status::Submitted | Status::Forwarded | Status::Overdue
            ),
        may_feedback: party == Party::Complainant && current == Status::Answered,
        may_withdraw: party == Party::Complainant && !current.is_final(),
        may_decide: party == Party::Staff
            && matches!(
                current,
                Status::Answered | Status::Feedback | Status::UnderReview | Status::Overdue
            ),
        c: v,
        errors,
        draft,
    };
    Ok(render(status, &page, None))
}

async fn show(
    State(state): State<AppState>,
    user: SignedIn,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    page(&state, &user, &id, vec![], String::new(), StatusCode::OK).await
}

/// After a step: back to the complaint (303), or the page again with why it failed.
async fn after<T>(
    state: &AppState,
    user: &SignedIn,
    id: &str,
    result: Result<T, AppError>,
    draft: &str,
) -> Result<Response, PageError> {
    match result {
        Ok(_) => Ok(see_other(&format!("/complaints/{id}"), None)),
        Err(AppError::NotFound) => Err(PageError::NotFound),
        Err(e) => {
            let status = match &e {
                AppError::Conflict(_) => StatusCode::CONFLICT,
                AppError::Upload(r) => crate::http::attachments::status(r),
                _ => StatusCode::UNPROCESSABLE_ENTITY,
            };
            let errors = input_problems(e)?;
            page(state, user, id, errors, keep(draft), status).await
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct TextForm {
    text: String,
}

async fn answer(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm { session, form, .. }: CsrfForm<TextForm>,
) -> Result<Response, PageError> {
    let user = signed_in(session)?;
    let r = complaint::answer(&state, &user.account, &id, &form.text, now()).await;
    after(&state, &user, &id, r, &form.text).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct FeedbackForm {
    satisfied: String,
    text: String,
}

async fn feedback(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm { session, form, .. }: CsrfForm<FeedbackForm>,
) -> Result<Response, PageError> {
    let user = signed_in(session)?;
    let r = match form.satisfied.as_str() {
        "yes" => Some(true),
        "no" => Some(false),
        _ => None,
    };
    let r = match r {
        Some(satisfied) => {
            complaint::feedback(
                &state,
                &user.account,
                &id,
                satisfied,
                Some(&form.text),
                now(),
            )
            .await
        }
        None => {
            // Still only for the complainant: anyone else gets the 403 page.
            let c = complaint::get(&state, &id).await?;
            if complaint::party(&state, &user.account, &c).await? != Party::Complainant {
                return Err(PageError::Forbidden);
            }
            Err(AppError::Invalid(vec![(
                "satisfied".into(),
                "choose satisfied or not satisfied".into(),
            )]))
        }
    };
    after(&state, &user, &id, r, &form.text).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct DecideForm {
    decision: String,
    reason: String,
    revocation: String,
}

async fn decide(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm { session, form, .. }: CsrfForm<DecideForm>,
) -> Result<Response, PageError> {
    let user = signed_in(session)?;
    user.require(&[Role::Staff, Role::Admin])?;
    // The form always sends the select: it only counts for an upheld complaint.
    let revocation = (form.decision == "upheld" && !form.revocation.is_empty())
        .then_some(form.revocation.as_str());
    let r = match decision(&form.decision, revocation) {
        Ok(d) => complaint::decide(&state, &user.account, &id, d, &form.reason, now()).await,
        Err(e) => Err(e),
    };
    after(&state, &user, &id, r, &form.reason).await
}

#[derive(Debug, Default, Deserialize)]
struct NoFields {}

async fn withdraw(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm { session, .. }: CsrfForm<NoFields>,
) -> Result<Response, PageError> {
    let user = signed_in(session)?;
    let r = complaint::withdraw(&state, &user.account, &id, now()).await;
    after(&state, &user, &id, r, "").await
}

/// A file from the upload form: stored, then back to the complaint (303); refused,
/// the complaint page again with why (413, 415, 422 or 409) and nothing stored.
async fn attach(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfUpload {
        session,
        file_name,
        file,
        ..
    }: CsrfUpload,
) -> Result<Response, PageError> {
    let user = signed_in(session)?;
    let r = attachments::attach(&state, &user.account, &id, file.into(), file_name, now()).await;
    after(&state, &user, &id, r, "").await
}

/// A file of the complaint, for its parties (403 page for others, as the complaint).
async fn download(
    State(state): State<AppState>,
    user: SignedIn,
    Path((id, attachment_id)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let (stored, name, content) =
        attachments::attachment_for(&state, &user.account, &id, &attachment_id)
            .await
            .map_err(|e| match e {
                AppError::Forbidden(_) => PageError::Forbidden,
                e => e.into(),
            })?;
    Ok(crate::http::attachments::download(&stored, &name, content))
}
