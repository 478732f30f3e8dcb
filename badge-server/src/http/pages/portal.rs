//! The operator portal: one's applications and sites, the apply form (validated like
//! `POST /api/v1/applications`), an application with its challenges, the verify
//! button and each check's evidence, and a site with its certificate, every seal
//! snippet with a preview, re-verification, its complaints and its reputation.
//! An application or site is shown to its operator and to staff; the others get 403.

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;

use crate::domain::account::Role;
use crate::domain::application::{Application, ApplicationStatus};
use crate::domain::clock::now;
use crate::domain::complaint::{MIN_REPUTATION_COUNT, Reputation, Status};
use crate::domain::places::{Province, provinces};
use crate::domain::seal::SealVariant;
use crate::domain::site::SiteStatus;
use crate::error::AppError;
use crate::http::extract::session::{CsrfForm, SignedIn};
use crate::http::state::AppState;
use crate::http::web::{Nav, PageError, input_problems, render, see_other, when};
use crate::service::applications as apps;
use crate::service::complaints as complaint;
use crate::service::sites;

use crate::http::api::applications::{ApplyBody, public_view, run_recheck, site_access, validate};
use crate::http::pages::complaints::signed_in;

/// The portal's pages.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/portal", get(home))
        .route("/portal/apply", get(apply_page).post(apply))
        .route("/portal/applications/{id}", get(application_page))
        .route("/portal/applications/{id}/verify", post(verify))
        .route("/portal/sites/{site}", get(site_page))
        .route("/portal/sites/{site}/recheck", post(recheck))
}

/// Chinese label of an application status.
fn application_status_zh(status: ApplicationStatus) -> &'static str {
    match status {
        ApplicationStatus::Pending => "待验证",
        ApplicationStatus::Validated => "已通过验证，待审核",
        ApplicationStatus::Review => "待人工审核",
        ApplicationStatus::Failed => "验证未通过",
        ApplicationStatus::Certified => "已认证",
        ApplicationStatus::Rejected => "已拒绝",
    }
}

/// Chinese label of a site status.
fn site_status_zh(status: SiteStatus) -> &'static str {
    match status {
        SiteStatus::Pending => "待验证",
        SiteStatus::Validated => "已验证",
        SiteStatus::Certified => "有效",
        SiteStatus::Suspended => "已暂停",
        SiteStatus::Revoked => "已撤销",
        SiteStatus::Expired => "已过期",
    }
}

struct AppRow {
    id: String,
    status: String,
    status_zh: &'static str,
    domains: String,
    organization: String,
    created: String,
    site: Option<String>,
}

impl AppRow {
    fn of(a: &Application) -> Self {
        AppRow {
            id: a.id.clone(),
            status: a.status.as_str().into(),
            status_zh: application_status_zh(a.status),
            domains: a.domains.join(", "),
            organization: a.organization.clone(),
            created: when(a.created_at),
            site: a.site_id.clone(),
        }
    }
}

struct SiteRow {
    id: String,
    status: String,
    status_zh: &'static str,
    domain: String,
}

#[derive(Template)]
#[template(path = "portal.html")]
struct HomePage {
    nav: Nav,
    applications: Vec<AppRow>,
    sites: Vec<SiteRow>,
    /// Signatures a convention's new version has outdated: (organization, title,
    /// version signed, current version).
    resign: Vec<(String, String, i64, i64)>,
}

fn operator(user: &SignedIn) -> Result<(), PageError> {
    user.require(&[Role::Operator])
}

async fn home(State(state): State<AppState>, user: SignedIn) -> Result<Response, PageError> {
    operator(&user)?;
    let applications = apps::list_for(&state.db, user.account.id)
        .await?
        .iter()
        .map(AppRow::of)
        .collect();
    let mut rows = vec![];
    for id in sites::ids_of(&state.db, user.account.id).await? {
        let v = public_view(&state, &id).await?;
        rows.push(SiteRow {
            status: v.status.as_str().into(),
            status_zh: site_status_zh(v.status),
            domain: v.primary().unwrap_or_default().to_string(),
            id,
        });
    }
    let resign = crate::service::conventions::for_operator(&state, &user.account)
        .await?
        .into_iter()
        .flat_map(|(organization, _, signed)| {
            signed
                .into_iter()
                .filter(|s| s.outdated())
                .map(move |s| (organization.clone(), s.title, s.version, s.current_version))
        })
        .collect();
    let page = HomePage {
        nav: Nav::of(Some(&user.session)),
        applications,
        sites: rows,
        resign,
    };
    Ok(render(StatusCode::OK, &page, None))
}

// ---- apply ----

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ApplyForm {
    organization: String,
    uscc: String,
    icp: String,
    province: String,
    city: String,
    /// One per line (commas and spaces also separate).
    domains: String,
    /// Other registrable domains' filing numbers: `domain number` per line.
    filings: String,
    csr_pem: String,
}

#[derive(Template)]
#[template(path = "apply.html")]
struct ApplyPage {
    nav: Nav,
    csrf: String,
    f: ApplyForm,
    errors: Vec<String>,
    /// The official list the select boxes offer.
    provinces: &'static [Province],
}

impl ApplyPage {
    fn new(nav: Nav, csrf: String, f: ApplyForm, errors: Vec<String>) -> Self {
        ApplyPage {
            nav,
            csrf,
            f,
            errors,
            provinces: provinces(),
        }
    }

    /// Whether the form as sent chose `province` (shown selected again).
    fn province_chosen(&self, province: &str) -> bool {
        self.f.province.trim() == province
    }

    /// Whether the form as sent chose `city` of `province`.
    fn city_chosen(&self, province: &str, city: &str) -> bool {
        self.province_chosen(province) && self.f.city.trim() == city
    }
}

async fn apply_page(user: SignedIn) -> Result<Response, PageError> {
    operator(&user)?;
    let page = ApplyPage::new(
        Nav::of(Some(&user.session)),
        user.session.csrf.clone(),
        ApplyForm::default(),
        vec![],
    );
    Ok(render(StatusCode::OK, &page, None))
}

/// Cuts what a form shows back.
fn cut(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

async fn apply(
    State(state): State<AppState>,
    CsrfForm { session, form, .. }: CsrfForm<ApplyForm>,
) -> Result<Response, PageError> {
    let user = signed_in(session)?;
    operator(&user)?;
    let body = ApplyBody {
        domains: form
            .domains
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|d| !d.is_empty())
            .map(str::to_string)
            .collect(),
        organization: form.organization.clone(),
        uscc: form.uscc.clone(),
        icp: form.icp.clone(),
        province: form.province.clone(),
        city: form.city.clone(),
        csr_pem: Some(form.csr_pem.trim().to_string()).filter(|p| !p.is_empty()),
        filings: form
            .filings
            .lines()
            .filter_map(|l| {
                let mut parts = l.split_whitespace();
                Some((
                    parts.next()?.to_string(),
                    parts.collect::<Vec<_>>().join(""),
                ))
            })
            .collect(),
    };
    let result = match validate(&body) {
        Ok((identity, filings)) => {
            apps::create(
                &state.db,
                &user.account,
                &identity,
                &filings,
                body.csr_pem.as_deref(),
                now(),
            )
            .await
        }
        Err(e) => Err(e),
    };
    match result {
        // A generated key is shown on this answer, once: it is stored nowhere, so
        // there is no page to redirect to that could show it again.
        Ok(created) => match created.private_key_pem {
            Some(key) => {
                let page = KeyPage {
                    nav: Nav::of(Some(&user.session)),
                    application: created.application.id,
                    private_key_pem: key.as_str().to_string(),
                };
                Ok(render(StatusCode::CREATED, &page, None))
            }
            None => Ok(see_other(
                &format!("/portal/applications/{}", created.application.id),
                None,
            )),
        },
        Err(e) => {
            let errors = input_problems(e)?;
            let f = ApplyForm {
                organization: cut(&form.organization, 200),
                uscc: cut(&form.uscc, 40),
                icp: cut(&form.icp, 80),
                province: cut(&form.province, 60),
                city: cut(&form.city, 80),
                domains: cut(&form.domains, 30_000),
                filings: cut(&form.filings, 30_000),
                csr_pem: cut(&form.csr_pem, 20_000),
            };
            let page = ApplyPage::new(
                Nav::of(Some(&user.session)),
                user.session.csrf.clone(),
                f,
                errors,
            );
            Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page, None))
        }
    }
}

/// The key generated for an operator who sent no CSR, shown once.
#[derive(Template)]
#[template(path = "key.html")]
struct KeyPage {
    nav: Nav,
    application: String,
    private_key_pem: String,
}

// ---- one application ----

struct Challenge {
    domain: String,
    txt_name: String,
    txt_value: String,
    http_url: String,
    http_body: String,
    meta: String,
}

#[derive(Template)]
#[template(path = "application.html")]
struct ApplicationPage {
    nav: Nav,
    csrf: String,
    a: AppRow,
    icp: String,
    uscc: String,
    method: String,
    reasons: Vec<String>,
    challenges: Vec<Challenge>,
    evidence: Vec<String>,
    may_verify: bool,
    errors: Vec<String>,
}

/// The application if `user` may see it: 404 unknown, 403 another operator's.
async fn visible(state: &AppState, user: &SignedIn, id: &str) -> Result<Application, PageError> {
    let app = apps::get(&state.db, id).await?.ok_or(PageError::NotFound)?;
    if !app.visible_to(&user.account) || user.account.role == Role::User {
        return Err(PageError::Forbidden);
    }
    Ok(app)
}

/// The application's page: its challenges (one of the three per domain), the last
/// run's reasons and the evidence of every check.
pub(crate) async fn evidence_texts(state: &AppState, id: &str) -> Result<Vec<String>, AppError> {
    Ok(apps::evidence(&state.db, id)
        .await?
        .iter()
        .map(|e| serde_json::to_string_pretty(e).unwrap_or_default())
        .collect())
}

async fn application_view(
    state: &AppState,
    user: &SignedIn,
    app: &Application,
    errors: Vec<String>,
    status: StatusCode,
) -> Result<Response, PageError> {
    let token = verifier::Token::parse(&app.token).map_err(AppError::from)?;
    let mut challenges = vec![];
    for d in app.identity()?.domains {
        let mut c = Challenge {
            domain: d.to_string(),
            txt_name: String::new(),
            txt_value: String::new(),
            http_url: String::new(),
            http_body: String::new(),
            meta: String::new(),
        };
        for i in state.challenger.instructions(&d, &token) {
            match i {
                verifier::challenge::Instruction::DnsTxt { name, value } => {
                    (c.txt_name, c.txt_value) = (name, value);
                }
                verifier::challenge::Instruction::HttpFile { url, body } => {
                    (c.http_url, c.http_body) = (url, body);
                }
                verifier::challenge::Instruction::HtmlMeta { html } => c.meta = html,
            }
        }
        challenges.push(c);
    }
    let page = ApplicationPage {
        nav: Nav::of(Some(&user.session)),
        csrf: user.session.csrf.clone(),
        a: AppRow::of(app),
        icp: app.icp.clone(),
        uscc: app.uscc.clone(),
        method: app.method.clone().unwrap_or_default(),
        reasons: app.reasons.clone(),
        challenges,
        evidence: evidence_texts(state, &app.id).await?,
        may_verify: app.account_id == user.account.id && app.status.may_verify(),
        errors,
    };
    Ok(render(status, &page, None))
}

async fn application_page(
    State(state): State<AppState>,
    user: SignedIn,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let app = visible(&state, &user, &id).await?;
    application_view(&state, &user, &app, vec![], StatusCode::OK).await
}

#[derive(Debug, Default, Deserialize)]
struct NoFields {}

async fn verify(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm { session, .. }: CsrfForm<NoFields>,
) -> Result<Response, PageError> {
    let user = signed_in(session)?;
    let app = visible(&state, &user, &id).await?;
    if app.account_id != user.account.id {
        return Err(PageError::Forbidden);
    }
    match apps::verify(&state, &app, &user.account, None, now()).await {
        Ok(_) => Ok(see_other(&format!("/portal/applications/{id}"), None)),
        Err(e) => {
            let errors = input_problems(e)?;
            let app = visible(&state, &user, &id).await?;
            application_view(&state, &user, &app, errors, StatusCode::CONFLICT).await
        }
    }
}

// ---- one site ----

struct ComplaintRow {
    id: String,
    status: String,
    status_zh: &'static str,
    status_en: &'static str,
    created: String,
    deadline: String,
    text: String,
    open: bool,
}

#[derive(Template)]
#[template(path = "site.html")]
struct SitePage {
    nav: Nav,
    csrf: String,
    site: String,
    status: String,
    status_zh: &'static str,
    domains: Vec<String>,
    organization: String,
    serial: String,
    not_after: String,
    revocation: String,
    variants: Vec<SealVariant>,
    complaints: Vec<ComplaintRow>,
    reputation: Option<Reputation>,
    min_reputation: i64,
    notice: Option<String>,
    /// Seal requests without a Referer in the last seven days.
    no_referer: i64,
    /// What re-verification last did to the site, while it still holds.
    recheck: Option<RecheckNotice>,
}

/// Words in both languages.
struct Words {
    zh: String,
    en: String,
}

impl From<(String, String)> for Words {
    fn from((zh, en): (String, String)) -> Self {
        Words { zh, en }
    }
}

/// The notice re-verification sent the operator, as the site page shows it: the
/// same words as the mail.
struct RecheckNotice {
    kind: &'static str,
    headline: Words,
    at: String,
    reason: String,
    evidence: Vec<Words>,
    deadline: Option<Words>,
    todo: Words,
}

impl RecheckNotice {
    /// The site's latest notice when it still describes the site's state (a site in
    /// grace whose checks passed again is back to normal without a notice).
    async fn current(state: &AppState, site: &str) -> Result<Option<Self>, AppError> {
        let Some(n) = crate::service::notices::latest(&state.db, site).await? else {
            return Ok(None);
        };
        let now_state = verifier::recheck::state_of(&state.db, site)
            .await?
            .map(|(s, _)| s.as_str());
        if now_state != Some(n.kind.state()) {
            return Ok(None);
        }
        let (zh, en) = n.kind.headline();
        Ok(Some(RecheckNotice {
            kind: n.kind.as_str(),
            headline: Words {
                zh: zh.into(),
                en: en.into(),
            },
            at: when(n.at),
            reason: n.reason.clone(),
            evidence: n.evidence.iter().map(|e| e.plain().into()).collect(),
            deadline: n.deadline().map(Words::from),
            todo: n.what_to_do().into(),
        }))
    }
}

/// Fetches without a Referer in seven days from which the site page asks the operator
/// to replace the snippet (an old one, or a page policy that strips it).
const NO_REFERER_NOTICE: i64 = 20;

async fn site_view(
    state: &AppState,
    user: &SignedIn,
    site: &str,
    notice: Option<String>,
) -> Result<Response, PageError> {
    if user.account.role == Role::User {
        return Err(PageError::Forbidden);
    }
    site_access(state, &user.account, site)
        .await
        .map_err(|e| match e {
            AppError::Forbidden(_) => PageError::Forbidden,
            e => e.into(),
        })?;
    let v = crate::http::api::applications::site_view(state, site).await?;
    let mut complaints = vec![];
    for c in complaint::list(state, &user.account).await? {
        if c.site_id != site {
            continue;
        }
        let st = c.status;
        let (status_zh, status_en) = st.labels();
        complaints.push(ComplaintRow {
            open: matches!(st, Status::Submitted | Status::Forwarded | Status::Overdue),
            id: c.id.clone(),
            status: c.status.as_str().into(),
            status_zh,
            status_en,
            created: when(c.created_at),
            deadline: when(c.deadline_at),
            // What the operator may read: masked.
            text: crate::domain::privacy::mask(&c.text),
        });
    }
    let page = SitePage {
        nav: Nav::of(Some(&user.session)),
        csrf: user.session.csrf.clone(),
        site: site.to_string(),
        status_zh: site_status_zh(v.public.status),
        status: v.public.status.as_str().into(),
        organization: v.public.organization.unwrap_or_default(),
        serial: v.public.serial.unwrap_or_default(),
        not_after: v.public.not_after.map(when).unwrap_or_default(),
        revocation: v.public.revocation_reason.flatten().unwrap_or_default(),
        domains: v.public.domains.unwrap_or_default(),
        // The same variants the site view names (none before issuance).
        variants: v.seal_variants.unwrap_or_default(),
        complaints,
        reputation: complaint::reputation(state, site, now()).await?,
        min_reputation: MIN_REPUTATION_COUNT,
        notice,
        no_referer: crate::service::seals::no_referer_week(state, site, now()).await?,
        recheck: RecheckNotice::current(state, site).await?,
    };
    Ok(render(StatusCode::OK, &page, None))
}

async fn site_page(
    State(state): State<AppState>,
    user: SignedIn,
    Path(site): Path<String>,
) -> Result<Response, PageError> {
    site_view(&state, &user, &site, None).await
}

async fn recheck(
    State(state): State<AppState>,
    Path(site): Path<String>,
    CsrfForm { session, .. }: CsrfForm<NoFields>,
) -> Result<Response, PageError> {
    let user = signed_in(session)?;
    if user.account.role == Role::User {
        return Err(PageError::Forbidden);
    }
    site_access(&state, &user.account, &site)
        .await
        .map_err(|e| match e {
            AppError::Forbidden(_) => PageError::Forbidden,
            e => e.into(),
        })?;
    let s = run_recheck(&state, &user.account, &site).await?;
    let notice = crate::http::web::recheck_notice(&s);
    site_view(&state, &user, &site, Some(notice)).await
}
