//! The staff console: applications awaiting review with their evidence (approve,
//! reject with a reason), revocation with an RFC 5280 reason, re-verification of one
//! site or of every site due, the complaint queue by deadline, the fraud-warning
//! editor, the copied-seal report with a one-click warning per row, and the audit log.
//! Staff and admins only; every action is a CSRF-checked form that calls the same
//! function as the JSON API, and a refused one shows why and changes nothing.

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use ca::RevocationReason;
use ca::identity::subject_text;
use serde::Deserialize;

use crate::domain::warning::{MAX_TEXT, NewWarning};
use crate::domain::watch::DraftState;
use crate::error::AppError;
use crate::http::extract::session::{CsrfForm, SignedIn, StaffSignedIn};
use crate::http::state::AppState;
use crate::http::web::{Nav, PageError, after_step, render, when};
use crate::service::applications as apps;
use crate::service::complaints as complaint;
use crate::service::sites;
use crate::service::warnings as warning;
use crate::service::watch;

use super::portal::evidence_texts;
use crate::http::api::applications::run_recheck;
use crate::http::pages::complaints::signed_in;

/// The console's pages.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console", get(home))
        .route("/console/applications/{id}/approve", post(approve))
        .route("/console/applications/{id}/reject", post(reject))
        .route("/console/sites/revoke", post(revoke))
        .route("/console/sites/recheck", post(recheck_site))
        .route("/console/recheck-due", post(recheck_due))
        .route("/console/warnings", post(publish))
        .route("/console/warnings/{id}/withdraw", post(withdraw))
        .route("/console/warnings/{id}/prominent", post(warning_prominent))
        .route(
            "/console/complaints/{id}/prominent",
            post(complaint_prominent),
        )
        .route("/console/copies/warn", post(warn_copy))
        .route("/console/drafts/{id}/publish", post(publish_draft))
        .route("/console/drafts/{id}/dismiss", post(dismiss_draft))
        .route("/console/audit", get(audit))
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// The revocation reasons staff choose from (RFC 5280 names; `removeFromCRL` is
/// not a revocation).
const REASONS: [(&str, &str); 7] = [
    ("unspecified", "未说明"),
    ("keyCompromise", "密钥泄露"),
    ("affiliationChanged", "隶属关系变更"),
    ("superseded", "已被取代"),
    ("cessationOfOperation", "停止运营"),
    ("certificateHold", "暂停"),
    ("privilegeWithdrawn", "撤销资格"),
];

struct Review {
    id: String,
    status: String,
    organization: String,
    uscc: String,
    icp: String,
    domains: String,
    reasons: Vec<String>,
    evidence: Vec<String>,
    updated: String,
}

struct QueueRow {
    id: String,
    site: String,
    status: String,
    status_zh: &'static str,
    status_en: &'static str,
    deadline: String,
    open: bool,
    /// Upheld: a public case staff may mark prominent.
    upheld: bool,
    /// Marked prominent (issue 17).
    prominent: bool,
}

struct WarningRow {
    id: i64,
    domain: String,
    impersonates: Option<String>,
    description: String,
    evidence: String,
    published: String,
    on_certified: bool,
    prominent: bool,
}

struct CopyRow {
    site: String,
    host: String,
    hits: i64,
    first: String,
    last: String,
    warned: bool,
}

/// What was typed into the warning form, to show back when it is refused.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct WarningForm {
    domain: String,
    impersonates: String,
    description: String,
    evidence: String,
    /// The checkbox: present (any value) when ticked.
    confirm_certified: Option<String>,
}

/// A draft warning of the impersonation watch, as the console lists it.
struct DraftRow {
    id: String,
    domain: String,
    member_id: String,
    brand: String,
    source: &'static str,
    application_id: Option<String>,
    site_id: Option<String>,
    reason: String,
}

#[derive(Template)]
#[template(path = "console.html")]
struct ConsolePage {
    nav: Nav,
    csrf: String,
    email: String,
    notice: Option<String>,
    errors: Vec<String>,
    reviews: Vec<Review>,
    queue: Vec<QueueRow>,
    warnings: Vec<WarningRow>,
    copies: Vec<CopyRow>,
    drafts: Vec<DraftRow>,
    w: WarningForm,
    /// The queue counts (issue 18), each linking to its filtered list.
    queues: crate::http::views::staff_site::StaffQueues,
    /// The complaint queue shows only those past their deadline.
    overdue_only: bool,
}

fn cut(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

async fn page(
    state: &AppState,
    user: &SignedIn,
    notice: Option<String>,
    errors: Vec<String>,
    w: WarningForm,
    status: StatusCode,
) -> Result<Response, PageError> {
    page_of(state, user, notice, errors, w, status, false).await
}

/// The console's first screen; `overdue_only` keeps the complaints past their
/// deadline in the complaint queue (the queue count's list).
async fn page_of(
    state: &AppState,
    user: &SignedIn,
    notice: Option<String>,
    errors: Vec<String>,
    w: WarningForm,
    status: StatusCode,
    overdue_only: bool,
) -> Result<Response, PageError> {
    let at = now();
    let mut reviews = vec![];
    for a in apps::awaiting_review(&state.db).await? {
        reviews.push(Review {
            evidence: evidence_texts(state, &a.id).await?,
            reasons: a.reasons,
            domains: a.domains.join(", "),
            updated: when(a.updated_at),
            id: a.id,
            status: a.status.as_str().into(),
            organization: a.organization,
            uscc: a.uscc,
            icp: a.icp,
        });
    }
    let prominent: Vec<String> = warning::prominent_complaints(state)
        .await?
        .into_iter()
        .map(|c| c.id)
        .collect();
    let queue = complaint::list(state, &user.account)
        .await?
        .into_iter()
        .filter(|c| {
            !overdue_only
                || crate::domain::site_list::complaint_past_deadline(c.status, c.deadline_at, at)
        })
        .map(|c| {
            let (status_zh, status_en) = c.status.labels();
            QueueRow {
                open: !c.status.is_final(),
                upheld: c.status == crate::domain::complaint::Status::Upheld,
                prominent: prominent.contains(&c.id),
                id: c.id,
                site: c.site_id,
                status: c.status.as_str().into(),
                status_zh,
                status_en,
                deadline: when(c.deadline_at),
            }
        })
        .collect();
    let listed = warning::list(state).await?;
    let copies = warning::copies(state, &user.account)
        .await?
        .into_iter()
        .map(|c| CopyRow {
            warned: listed.iter().any(|w| w.domain == c.host),
            site: c.site_id,
            host: c.host,
            hits: c.hits,
            first: when(c.first_seen),
            last: when(c.last_seen),
        })
        .collect();
    let warnings = listed
        .into_iter()
        .map(|w| WarningRow {
            id: w.id,
            domain: w.domain,
            impersonates: w.impersonates,
            description: w.description,
            evidence: w.evidence,
            published: when(w.published_at),
            on_certified: w.on_certified,
            prominent: w.prominent_at.is_some(),
        })
        .collect();
    let drafts = watch::drafts(&state.db, &user.account, DraftState::Draft)
        .await?
        .into_iter()
        .map(|d| DraftRow {
            domain: ca::identity::Domain::parse(&d.domain)
                .map_or_else(|_| d.domain.clone(), |x| x.to_unicode()),
            source: d.source.as_str(),
            id: d.id,
            member_id: d.member_id,
            brand: d.brand,
            application_id: d.application_id,
            site_id: d.site_id,
            reason: d.reason,
        })
        .collect();
    let page = ConsolePage {
        nav: Nav::of(Some(&user.session)),
        csrf: user.session.csrf.clone(),
        email: user.account.email.clone(),
        notice,
        errors,
        reviews,
        queue,
        warnings,
        copies,
        drafts,
        w,
        queues: crate::service::site_list::queues(&state.services, &user.account, at)
            .await?
            .into(),
        overdue_only,
    };
    Ok(render(status, &page, None))
}

/// The console home's query: `complaints=overdue` narrows the complaint queue.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct HomeQuery {
    complaints: Option<String>,
}

async fn home(
    State(state): State<AppState>,
    StaffSignedIn(user): StaffSignedIn,
    Query(q): Query<HomeQuery>,
) -> Result<Response, PageError> {
    let notice = user.session.take_flash(&state.db).await?;
    page_of(
        &state,
        &user,
        notice,
        vec![],
        WarningForm::default(),
        StatusCode::OK,
        q.complaints.as_deref() == Some("overdue"),
    )
    .await
}

/// The signed-in staff member of a form's session, or the login / 403 page.
pub(crate) fn staff(session: crate::http::session::Session) -> Result<SignedIn, PageError> {
    let user = signed_in(session)?;
    user.require(&[
        crate::domain::account::Role::Staff,
        crate::domain::account::Role::Admin,
    ])?;
    Ok(user)
}

/// After a step: back to the console with its notice, or the console with the
/// reasons and the warning form as filled ([`after_step`]).
async fn after(
    state: &AppState,
    user: &SignedIn,
    result: Result<String, AppError>,
    w: WarningForm,
) -> Result<Response, PageError> {
    after_step(
        &state.db,
        &user.session,
        "/console",
        result,
        |errors, status| page(state, user, None, errors, w, status),
    )
    .await
}

#[derive(Debug, Default, Deserialize)]
struct NoFields {}

async fn approve(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm { session, .. }: CsrfForm<NoFields>,
) -> Result<Response, PageError> {
    let user = staff(session)?;
    let app = apps::get(&state.db, &id)
        .await?
        .ok_or(PageError::NotFound)?;
    let r = apps::approve(&state, &app, &user.account, now())
        .await
        .map(|site| {
            format!(
                "已批准 {id}，证书已签发：网站 {s}。 / Approved {id}; certificate issued for site {s}.",
                s = site.id
            )
        });
    after(&state, &user, r, WarningForm::default()).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ReasonForm {
    reason: String,
}

async fn reject(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm { session, form, .. }: CsrfForm<ReasonForm>,
) -> Result<Response, PageError> {
    let user = staff(session)?;
    let app = apps::get(&state.db, &id)
        .await?
        .ok_or(PageError::NotFound)?;
    let r = match subject_text("reason", &form.reason, 1000) {
        Ok(reason) => apps::reject(&state, &app, &user.account, &reason, now())
            .await
            .map(|()| format!("已拒绝 {id}。 / Rejected {id}.")),
        Err(e) => Err(AppError::Invalid(vec![("reason".into(), e.to_string())])),
    };
    after(&state, &user, r, WarningForm::default()).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RevokeForm {
    site: String,
    reason: String,
}

/// A site id typed into a form: 422 (not 404) when there is no such site.
async fn known_site(state: &AppState, site: &str) -> Result<String, AppError> {
    let site = site.trim();
    match sites::site_certificate(&state.db, site).await {
        Ok(s) => Ok(s.id),
        Err(AppError::NotFound) => Err(AppError::Invalid(vec![(
            "site".into(),
            format!("no site {:?}", cut(site, 64)),
        )])),
        Err(e) => Err(e),
    }
}

async fn revoke(
    State(state): State<AppState>,
    CsrfForm { session, form, .. }: CsrfForm<RevokeForm>,
) -> Result<Response, PageError> {
    let user = staff(session)?;
    let r: Result<String, AppError> = async {
        let reason: RevocationReason = form
            .reason
            .parse()
            .ok()
            .filter(|r| *r != RevocationReason::RemoveFromCrl)
            .ok_or_else(|| {
                AppError::Invalid(vec![(
                    "reason".into(),
                    format!("choose one of {}", REASONS.map(|r| r.0).join(", ")),
                )])
            })?;
        let site = known_site(&state, &form.site).await?;
        sites::revoke(&state, &user.account, &site, reason, now()).await?;
        Ok(format!(
            "已撤销网站 {site} 的证书（{r}）。 / Revoked the certificate of {site} ({r}).",
            r = reason.name()
        ))
    }
    .await;
    after(&state, &user, r, WarningForm::default()).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct SiteForm {
    site: String,
}

async fn recheck_site(
    State(state): State<AppState>,
    CsrfForm { session, form, .. }: CsrfForm<SiteForm>,
) -> Result<Response, PageError> {
    let user = staff(session)?;
    let r: Result<String, AppError> = async {
        let site = known_site(&state, &form.site).await?;
        let s = run_recheck(&state, &user.account, &site).await?;
        Ok(crate::http::web::recheck_notice(&s))
    }
    .await;
    after(&state, &user, r, WarningForm::default()).await
}

/// The old "re-verify every site due" button: starts a durable run and shows its
/// page, as `POST /console/rechecks` does.
async fn recheck_due(
    State(state): State<AppState>,
    CsrfForm { session, .. }: CsrfForm<NoFields>,
) -> Result<Response, PageError> {
    let user = staff(session)?;
    super::rechecks::start_as(&state, &user).await
}

async fn publish(
    State(state): State<AppState>,
    CsrfForm { session, form, .. }: CsrfForm<WarningForm>,
) -> Result<Response, PageError> {
    let user = staff(session)?;
    let impersonates = form.impersonates.trim();
    let r = warning::publish(
        &state,
        &user.account,
        &NewWarning {
            domain: &form.domain,
            impersonates: (!impersonates.is_empty()).then_some(impersonates),
            description: &form.description,
            evidence: &form.evidence,
            confirm_certified: form.confirm_certified.is_some(),
        },
        now(),
    )
    .await
    .map(|w| {
        format!(
            "已发布关于 {d} 的警示。 / Published a warning about {d}.",
            d = w.domain
        )
    });
    let w = WarningForm {
        domain: cut(&form.domain, 300),
        impersonates: cut(&form.impersonates, 64),
        description: cut(&form.description, MAX_TEXT + 100),
        evidence: cut(&form.evidence, MAX_TEXT + 100),
        confirm_certified: None,
    };
    after(&state, &user, r, w).await
}

async fn withdraw(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    CsrfForm { session, .. }: CsrfForm<NoFields>,
) -> Result<Response, PageError> {
    let user = staff(session)?;
    let r = warning::withdraw(&state, &user.account, id, now())
        .await
        .map(|()| format!("已撤回警示 #{id}。 / Withdrew warning #{id}."));
    after(&state, &user, r, WarningForm::default()).await
}

/// The mark-prominent buttons: `prominent=1` marks, `prominent=0` unmarks.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ProminentForm {
    prominent: String,
}

impl ProminentForm {
    fn mark(&self) -> Result<bool, AppError> {
        match self.prominent.as_str() {
            "1" => Ok(true),
            "0" => Ok(false),
            _ => Err(AppError::Invalid(vec![(
                "prominent".into(),
                "1 to mark, 0 to unmark".into(),
            )])),
        }
    }
}

/// The notice after (un)marking case `what`.
fn prominent_notice(what: &str, mark: bool) -> String {
    if mark {
        format!("已将{what}标为重点案例。 / Marked {what} as a prominent case.")
    } else {
        format!("已取消{what}的重点标记。 / {what} is no longer a prominent case.")
    }
}

async fn warning_prominent(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    CsrfForm { session, form, .. }: CsrfForm<ProminentForm>,
) -> Result<Response, PageError> {
    let user = staff(session)?;
    let r: Result<String, AppError> = async {
        let mark = form.mark()?;
        warning::set_prominent(&state, &user.account, id, mark, now()).await?;
        Ok(prominent_notice(&format!(" #{id} "), mark))
    }
    .await;
    after(&state, &user, r, WarningForm::default()).await
}

async fn complaint_prominent(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm { session, form, .. }: CsrfForm<ProminentForm>,
) -> Result<Response, PageError> {
    let user = staff(session)?;
    let r: Result<String, AppError> = async {
        let mark = form.mark()?;
        complaint::set_prominent(&state, &user.account, &id, mark, now()).await?;
        Ok(prominent_notice(&format!(" {} ", cut(&id, 64)), mark))
    }
    .await;
    after(&state, &user, r, WarningForm::default()).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct CopyForm {
    site: String,
    host: String,
}

async fn warn_copy(
    State(state): State<AppState>,
    CsrfForm { session, form, .. }: CsrfForm<CopyForm>,
) -> Result<Response, PageError> {
    let user = staff(session)?;
    let r = warning::from_copy(&state, &user.account, &form.site, &form.host, now())
        .await
        .map(|w| {
            format!(
                "已发布关于 {d} 的警示。 / Published a warning about {d}.",
                d = w.domain
            )
        });
    after(&state, &user, r, WarningForm::default()).await
}

async fn publish_draft(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm { session, .. }: CsrfForm<NoFields>,
) -> Result<Response, PageError> {
    let user = staff(session)?;
    let r = warning::publish_draft(&state, &user.account, &id, now())
        .await
        .map(|w| {
            format!(
                "已发布关于 {d} 的警示。 / Published a warning about {d}.",
                d = w.domain
            )
        });
    after(&state, &user, r, WarningForm::default()).await
}

async fn dismiss_draft(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm { session, .. }: CsrfForm<NoFields>,
) -> Result<Response, PageError> {
    let user = staff(session)?;
    let r = watch::dismiss_draft(&state.db, &user.account, &id, now())
        .await
        .map(|()| format!("已驳回草稿 {id}。 / Dismissed draft {id}."));
    after(&state, &user, r, WarningForm::default()).await
}

// ---- audit log ----

/// Entries per audit page, over the latest [`AUDIT_LATEST`].
const AUDIT_PAGE: usize = 50;
const AUDIT_LATEST: i64 = 200;

struct AuditRow {
    seq: i64,
    at: String,
    actor: String,
    action: String,
    subject: String,
    details: String,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    nav: Nav,
    rows: Vec<AuditRow>,
    page: usize,
    pages: usize,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct PageQuery {
    page: Option<String>,
}

async fn audit(
    State(state): State<AppState>,
    StaffSignedIn(user): StaffSignedIn,
    Query(q): Query<PageQuery>,
) -> Result<Response, PageError> {
    let entries = ca::audit::recent(&state.db, AUDIT_LATEST).await?;
    let pages = entries.len().div_ceil(AUDIT_PAGE).max(1);
    let page = q
        .page
        .and_then(|p| p.parse::<usize>().ok())
        .unwrap_or(1)
        .clamp(1, pages);
    let rows = entries
        .into_iter()
        .skip((page - 1) * AUDIT_PAGE)
        .take(AUDIT_PAGE)
        .map(|e| AuditRow {
            seq: e.seq,
            at: when(e.at),
            actor: e.actor,
            action: e.action,
            subject: e.subject,
            details: e.details,
        })
        .collect();
    let p = AuditPage {
        nav: Nav::of(Some(&user.session)),
        rows,
        page,
        pages,
    };
    Ok(render(StatusCode::OK, &p, None))
}
