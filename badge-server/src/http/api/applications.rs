//! The application flow over JSON: apply, verify, approve or reject; sites.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use ca::identity::{Domain, IcpNumber, Uscc, subject_text};
use ca::profile::{SiteIdentity, SubjectPublicKey};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;
use utoipa::openapi::{RefOr, Required};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use verifier::Method;
use verifier::icp::Filings;

use crate::domain::account::{Account, Role};
use crate::domain::application::{Application, ApplicationStatus};
use crate::domain::clock::now;
use crate::error::AppError;
use crate::http::openapi::{ErrorBody, InvalidFields, RecheckSummary};
use crate::http::state::AppState;
use crate::http::views::application::{ApplicationView, VerifyOutcome};
use crate::http::views::site::{PublicSiteView, SiteView};
use crate::service::applications as apps;
use crate::service::sites;

/// Routes of this area, each documented by its handler.
pub fn router() -> OpenApiRouter<AppState> {
    let mut router = OpenApiRouter::new()
        .routes(routes!(apply))
        .routes(routes!(show))
        .routes(routes!(verify))
        .routes(routes!(approve))
        .routes(routes!(reject))
        .routes(routes!(site))
        .routes(routes!(revoke))
        .routes(routes!(recheck));
    // verify's body is optional. utoipa marks a body optional only when its type is an
    // `Option`, which would also document `null` as a body (refused by the handler).
    if let Some(RefOr::T(body)) = router
        .get_openapi_mut()
        .paths
        .paths
        .get_mut("/api/v1/applications/{id}/verify")
        .and_then(|item| item.post.as_mut())
        .and_then(|op| op.request_body.as_mut())
    {
        body.required = Some(Required::False);
    }
    router
}

/// An application for a seal: the organization and the domains it runs.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ApplyBody {
    /// 1 to 100 domains, Unicode or A-labels; the first is the primary.
    #[schema(example = json!(["chenxi-shuzhi.cn"]))]
    pub(crate) domains: Vec<String>,
    /// The organization's registered name.
    #[schema(example = "北京晨曦数智科技有限公司")]
    pub(crate) organization: String,
    /// Its Unified Social Credit Code (18 characters, check digit verified).
    #[schema(example = "91110108MA04T7K21H")]
    pub(crate) uscc: String,
    /// The site's ICP filing number.
    #[schema(example = "京ICP备2024018653号-1")]
    pub(crate) icp: String,
    /// Province (省/自治区/直辖市), exactly as on the official list
    /// (`GET /api/v1/places`).
    #[schema(example = "北京市")]
    pub(crate) province: String,
    /// City (市/州/盟) of that province, exactly as on the official list; a
    /// municipality's own districts are `市辖区`.
    #[schema(example = "市辖区")]
    pub(crate) city: String,
    /// PEM CSR for the operator's own key; without one the server generates a P-256
    /// key and returns it once, in this call's answer (never stored, never shown to
    /// staff).
    pub(crate) csr_pem: Option<String>,
    /// The website filing number of each other registrable domain among `domains`
    /// (each is filed on its own; `icp` is the primary domain's). Where a filing
    /// source is configured, MIIT's numbers are found and checked anyway.
    #[serde(default)]
    #[schema(example = json!({"chenxi-shuzhi.com": "京ICP备2024018653号-2"}))]
    pub(crate) filings: std::collections::BTreeMap<String, String>,
}

/// A new application and what to publish to prove control of each domain.
// Fields in alphabetical order: the same bytes as the `json!` object it replaced.
#[derive(Debug, Serialize, ToSchema)]
struct Applied {
    /// For each domain, one entry per method; any one method per domain suffices.
    #[schema(value_type = Vec<crate::http::openapi::Challenge>)]
    challenges: Vec<Value>,
    /// The domains, normalized to A-labels.
    #[schema(value_type = Vec<String>)]
    domains: Vec<Domain>,
    /// Application id (`app_…`).
    id: String,
    /// The private key generated for the operator (PKCS#8 PEM) when no CSR was
    /// sent: shown this once and never stored; install it with the certificate.
    #[serde(skip_serializing_if = "Option::is_none")]
    private_key_pem: Option<String>,
    /// `pending`.
    status: ApplicationStatus,
}

/// Validates every field and reports each failure by name (422): the identity and
/// the filing number of each registrable domain.
pub(crate) fn validate(b: &ApplyBody) -> Result<(SiteIdentity, Filings), AppError> {
    let mut errors: Vec<(String, String)> = Vec::new();
    let mut note = |field: &str, r: Result<(), ca::Error>| {
        if let Err(e) = r {
            errors.push((field.to_string(), e.to_string()));
        }
    };
    note(
        "organization",
        subject_text(
            "organization",
            &b.organization,
            ca::identity::x520::ORGANIZATION_NAME,
        )
        .map(drop),
    );
    note("uscc", Uscc::parse(&b.uscc).map(drop));
    note("icp", IcpNumber::parse_website(&b.icp).map(drop));
    // Both from the official list (issue 16); anything else is refused naming it.
    if let Err(e) = crate::domain::places::check(&b.province, &b.city) {
        errors.extend(e);
    }
    if b.domains.is_empty() || b.domains.len() > ca::profile::MAX_DOMAINS {
        errors.push((
            "domains".into(),
            format!("give 1 to {} domains", ca::profile::MAX_DOMAINS),
        ));
    }
    for (i, d) in b.domains.iter().enumerate() {
        if let Err(e) = Domain::parse_certifiable(d) {
            errors.push((format!("domains[{i}]"), e.to_string()));
        }
    }
    if let Some(pem) = &b.csr_pem
        && let Err(e) = SubjectPublicKey::from_csr_pem(pem)
    {
        errors.push(("csr_pem".into(), e.to_string()));
    }
    if !errors.is_empty() {
        return Err(AppError::Invalid(errors));
    }
    let identity = SiteIdentity::parse(
        &b.organization,
        &b.uscc,
        &b.icp,
        &b.province,
        &b.city,
        &b.domains,
    )?;
    let extra: Vec<(String, String)> = b
        .filings
        .iter()
        .map(|(d, n)| (d.clone(), n.clone()))
        .collect();
    let filings =
        crate::domain::application::claims(&identity, &extra).map_err(AppError::Invalid)?;
    Ok((identity, filings))
}

/// Apply for a seal
///
/// Operators only. Every field is validated and each failure reported by name.
#[utoipa::path(
    post,
    path = "/api/v1/applications",
    operation_id = "createApplication",
    tag = "applications",
    security(("bearer" = [])),
    request_body = ApplyBody,
    responses(
        (status = 201, description = "Created; publish one challenge per domain, then verify", body = Applied),
        (status = 400, description = "The body is not JSON", body = ErrorBody),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "The account is not an operator", body = ErrorBody),
        (status = 422, description = "Invalid fields, or a body of the wrong shape (`fields.body`)", body = InvalidFields),
    )
)]
async fn apply(
    State(state): State<AppState>,
    account: Account,
    body: Result<Json<ApplyBody>, JsonRejection>,
) -> Result<(StatusCode, Json<Applied>), AppError> {
    account.require(&[Role::Operator])?;
    let Json(body) = body?;
    let (identity, filings) = validate(&body)?;
    let created = apps::create(
        &state.db,
        &account,
        &identity,
        &filings,
        body.csr_pem.as_deref(),
        now(),
    )
    .await?;
    let app = created.application;
    let token = verifier::Token::parse(&app.token)?;
    let challenges: Vec<Value> = identity
        .domains
        .iter()
        .flat_map(|d| {
            state
                .challenger
                .instructions(d, &token)
                .into_iter()
                .map(move |i| {
                    let mut v = json!(i);
                    v["domain"] = json!(d);
                    v
                })
        })
        .collect();
    Ok((
        StatusCode::CREATED,
        Json(Applied {
            challenges,
            domains: identity.domains,
            id: app.id,
            private_key_pem: created.private_key_pem.map(|k| k.as_str().to_string()),
            status: app.status,
        }),
    ))
}

/// The application, if `account` may see it: 404 when it does not exist, 403 when
/// it belongs to someone else.
async fn visible(state: &AppState, account: &Account, id: &str) -> Result<Application, AppError> {
    let app = apps::get(&state.db, id).await?.ok_or(AppError::NotFound)?;
    if !app.visible_to(account) {
        return Err(AppError::Forbidden(
            "this application belongs to another operator".into(),
        ));
    }
    Ok(app)
}

/// One application
///
/// Its owner or staff.
#[utoipa::path(
    get,
    path = "/api/v1/applications/{id}",
    operation_id = "getApplication",
    tag = "applications",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Application id (`app_…`)")),
    responses(
        (status = 200, description = "The application", body = ApplicationView),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "It belongs to another operator", body = ErrorBody),
        (status = 404, description = "No such application", body = ErrorBody),
    )
)]
async fn show(
    State(state): State<AppState>,
    account: Account,
    Path(id): Path<String>,
) -> Result<Json<ApplicationView>, AppError> {
    let app = visible(&state, &account, &id).await?;
    let evidence = apps::evidence(&state.db, &app.id).await?;
    Ok(Json(ApplicationView::new(app, evidence)))
}

/// Which domain-control method to try.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct VerifyBody {
    /// `dns-txt`, `http-file` or `html-meta`; absent: each in turn until one proves
    /// control.
    #[schema(example = "dns-txt")]
    method: Option<String>,
}

/// Verify an application
///
/// The applicant only (staff may look, not verify). Runs domain control for every
/// domain and the ICP filing check, and moves the application to `validated`, `review`
/// or `failed` (`pending` after a transient error). The body is optional; without a
/// `Content-Type` it is ignored. With automatic approval, a passing application is
/// issued at once and the issued site is returned instead.
#[utoipa::path(
    post,
    path = "/api/v1/applications/{id}/verify",
    operation_id = "verifyApplication",
    tag = "applications",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Application id (`app_…`)")),
    request_body(content = VerifyBody, description = "Optional: without it every method is tried"),
    responses(
        (status = 200, description = "The verification run, or the issued site", body = VerifyOutcome),
        (status = 400, description = "The body is not JSON (plain text, from the framework)", content_type = "text/plain", body = String),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "It belongs to another operator, or the caller is not the applicant", body = ErrorBody),
        (status = 404, description = "No such application", body = ErrorBody),
        (status = 409, description = "The application is certified or rejected; or, issuing at once, a domain is already certified", body = ErrorBody),
        (status = 415, description = "A `Content-Type` other than JSON (plain text, from the framework)", content_type = "text/plain", body = String),
        (status = 422, description = "Unknown `method` (JSON), or a body of the wrong shape (plain text, from the framework)", content(
            (InvalidFields = "application/json"),
            (String = "text/plain"),
        )),
    )
)]
async fn verify(
    State(state): State<AppState>,
    account: Account,
    Path(id): Path<String>,
    body: Option<Json<VerifyBody>>,
) -> Result<Json<VerifyOutcome>, AppError> {
    let app = visible(&state, &account, &id).await?;
    if app.account_id != account.id {
        return Err(AppError::Forbidden(
            "only the applicant runs verification".into(),
        ));
    }
    let method = match body.and_then(|Json(b)| b.method) {
        Some(m) => Some(
            m.parse::<Method>()
                .map_err(|e| AppError::Invalid(vec![("method".into(), e.to_string())]))?,
        ),
        None => None,
    };
    let verified = apps::verify(&state, &app, &account, method, now()).await?;
    Ok(Json(VerifyOutcome::new(verified, &state.public_base())))
}

/// Approve an application
///
/// Staff or admin. Issues the certificate for a `validated` or `review` application and
/// enrolls the site for re-verification.
#[utoipa::path(
    post,
    path = "/api/v1/applications/{id}/approve",
    operation_id = "approveApplication",
    tag = "applications",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Application id (`app_…`)")),
    responses(
        (status = 200, description = "The issued site", body = SiteView),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "The account is not staff", body = ErrorBody),
        (status = 404, description = "No such application", body = ErrorBody),
        (status = 409, description = "The application is not `validated` or `review`, or a domain is already certified", body = ErrorBody),
    )
)]
async fn approve(
    State(state): State<AppState>,
    account: Account,
    Path(id): Path<String>,
) -> Result<Json<SiteView>, AppError> {
    account.require(&[Role::Staff, Role::Admin])?;
    let app = apps::get(&state.db, &id).await?.ok_or(AppError::NotFound)?;
    let site = apps::approve(&state, &app, &account, now()).await?;
    Ok(Json(SiteView::new(site, &state.public_base())))
}

/// Why: free text for a rejection, an RFC 5280 reason name for a revocation.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ReasonBody {
    /// Rejection: up to 1000 characters, shown to the applicant. Revocation:
    /// `unspecified`, `keyCompromise`, `affiliationChanged`, `superseded`,
    /// `cessationOfOperation`, `certificateHold`, `removeFromCRL` or
    /// `privilegeWithdrawn` (case-insensitive).
    reason: String,
}

/// A rejected application.
// Fields in alphabetical order: the same bytes as the `json!` object it replaced.
#[derive(Debug, Serialize, ToSchema)]
struct Rejected {
    /// Application id.
    id: String,
    /// The reason, as stored.
    reason: String,
    /// `rejected`.
    status: ApplicationStatus,
}

/// Reject an application
///
/// Staff or admin, with a reason. Certified and rejected applications stay as they are.
#[utoipa::path(
    post,
    path = "/api/v1/applications/{id}/reject",
    operation_id = "rejectApplication",
    tag = "applications",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Application id (`app_…`)")),
    request_body = ReasonBody,
    responses(
        (status = 200, description = "Rejected", body = Rejected),
        (status = 400, description = "The body is not JSON", body = ErrorBody),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "The account is not staff", body = ErrorBody),
        (status = 404, description = "No such application", body = ErrorBody),
        (status = 409, description = "The application is already certified or rejected", body = ErrorBody),
        (status = 422, description = "Missing or unacceptable reason", body = InvalidFields),
    )
)]
async fn reject(
    State(state): State<AppState>,
    account: Account,
    Path(id): Path<String>,
    body: Result<Json<ReasonBody>, JsonRejection>,
) -> Result<Json<Rejected>, AppError> {
    account.require(&[Role::Staff, Role::Admin])?;
    let Json(body) = body?;
    let reason = subject_text("reason", &body.reason, 1000)
        .map_err(|e| AppError::Invalid(vec![("reason".into(), e.to_string())]))?;
    let app = apps::get(&state.db, &id).await?.ok_or(AppError::NotFound)?;
    apps::reject(&state, &app, &account, &reason, now()).await?;
    Ok(Json(Rejected {
        id,
        reason,
        status: ApplicationStatus::Rejected,
    }))
}

/// 404 for unknown sites, 403 for an operator's look at another operator's site.
pub(crate) async fn site_access(
    state: &AppState,
    account: &Account,
    site: &str,
) -> Result<(), AppError> {
    let owner = sites::owner(&state.db, site).await?;
    if account.role.is_staff() || owner == Some(account.id) {
        Ok(())
    } else {
        Err(AppError::Forbidden(
            "this site belongs to another operator".into(),
        ))
    }
}

/// One site
///
/// Its operator or staff.
#[utoipa::path(
    get,
    path = "/api/v1/sites/{site}",
    operation_id = "getSite",
    tag = "sites",
    security(("bearer" = [])),
    params(("site" = String, Path, description = "Site id (`s_…`)")),
    responses(
        (status = 200, description = "The site", body = SiteView),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "It belongs to another operator", body = ErrorBody),
        (status = 404, description = "No such site", body = ErrorBody),
    )
)]
async fn site(
    State(state): State<AppState>,
    account: Account,
    Path(site): Path<String>,
) -> Result<Json<SiteView>, AppError> {
    site_access(&state, &account, &site).await?;
    Ok(Json(site_view(&state, &site).await?))
}

/// The view of `site` for its operator and staff; 404 for an unknown site.
pub(crate) async fn site_view(state: &AppState, site: &str) -> Result<SiteView, AppError> {
    let site = sites::site_certificate(&state.db, site).await?;
    Ok(SiteView::new(site, &state.public_base()))
}

/// The view of `site` for anyone (no embedding snippets); 404 for an unknown site.
pub(crate) async fn public_view(state: &AppState, site: &str) -> Result<PublicSiteView, AppError> {
    Ok(site_view(state, site).await?.into())
}

/// Revoke a site's certificate
///
/// Staff or admin. `certificateHold` suspends (the site shows as `suspended`).
#[utoipa::path(
    post,
    path = "/api/v1/sites/{site}/revoke",
    operation_id = "revokeSite",
    tag = "sites",
    security(("bearer" = [])),
    params(("site" = String, Path, description = "Site id (`s_…`)")),
    request_body = ReasonBody,
    responses(
        (status = 200, description = "The site after revocation", body = SiteView),
        (status = 400, description = "The body is not JSON", body = ErrorBody),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "The account is not staff", body = ErrorBody),
        (status = 404, description = "No such site", body = ErrorBody),
        (status = 409, description = "The site has no certificate, or the CA refused (e.g. already revoked)", body = ErrorBody),
        (status = 422, description = "Unknown reason name", body = InvalidFields),
    )
)]
async fn revoke(
    State(state): State<AppState>,
    account: Account,
    Path(site): Path<String>,
    body: Result<Json<ReasonBody>, JsonRejection>,
) -> Result<Json<SiteView>, AppError> {
    account.require(&[Role::Staff, Role::Admin])?;
    let Json(body) = body?;
    let reason: ca::RevocationReason = body
        .reason
        .parse()
        .map_err(|e: ca::Error| AppError::Invalid(vec![("reason".into(), e.to_string())]))?;
    sites::revoke(&state, &account, &site, reason, now()).await?;
    Ok(Json(site_view(&state, &site).await?))
}

/// A re-verification run and the site after it.
// Fields in alphabetical order: the same bytes as the `json!` object it replaced.
#[derive(Debug, Serialize, ToSchema)]
struct Rechecked {
    /// The site after the run.
    site: SiteView,
    /// What the run did.
    // A JSON value, not the `Summary`, so its keys stay sorted as they were.
    #[schema(value_type = RecheckSummary)]
    summary: Value,
}

/// Re-verify a site now
///
/// Its operator or staff. Runs every check the periodic re-verification runs, with the
/// same consequences (grace, suspension, revocation, release).
#[utoipa::path(
    post,
    path = "/api/v1/sites/{site}/recheck",
    operation_id = "recheckSite",
    tag = "sites",
    security(("bearer" = [])),
    params(("site" = String, Path, description = "Site id (`s_…`)")),
    responses(
        (status = 200, description = "The run and the site after it", body = Rechecked),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "It belongs to another operator", body = ErrorBody),
        (status = 404, description = "No such site", body = ErrorBody),
    )
)]
async fn recheck(
    State(state): State<AppState>,
    account: Account,
    Path(site): Path<String>,
) -> Result<Json<Rechecked>, AppError> {
    site_access(&state, &account, &site).await?;
    let summary = run_recheck(&state, &account, &site).await?;
    Ok(Json(Rechecked {
        site: site_view(&state, &site).await?,
        summary: json!(summary),
    }))
}

/// Re-verifies `site` now, on `account`'s request, with the periodic run's
/// consequences. Every such request, an operator's or staff's, is charged to the
/// account's hourly quota of domain-control checks first: each one asks resolvers,
/// web servers and the ICP provider again.
pub(crate) async fn run_recheck(
    state: &AppState,
    account: &Account,
    site: &str,
) -> Result<verifier::recheck::Summary, AppError> {
    let now = verifier::verdict::now();
    apps::charge_recheck(state, account, site, now).await?;
    let rechecker = crate::service::rechecks::rechecker(state, 1);
    let scope = verifier::recheck::Scope::Site(site.to_string());
    let summary = rechecker.run(scope, now, &|_, _| {}).await?;
    // The verifier marked the shards of what it held, released or revoked; their CRLs
    // are published like any revocation's.
    if summary.suspended + summary.revoked + summary.released > 0 {
        let mut tx = state.db.begin().await?;
        state.publish_crls_after(&mut tx, now).await?;
        tx.commit().await?;
    }
    Ok(summary)
}
