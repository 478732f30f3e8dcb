//! Fraud warnings: the public list (`/warnings`, `/api/v1/warnings`), staff
//! publishing and withdrawing them, and the copied-seal report they often come from.

use askama::Template;
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::domain::account::Account;
use crate::domain::board::Lang;
use crate::domain::warning::{NewWarning, SealCopy, Warning};
use crate::error::AppError;
use crate::http::extract::session::MaybeSession;
use crate::http::openapi::{ErrorBody, InvalidFields};
use crate::http::state::AppState;
use crate::http::views::board::CaseView;
use crate::http::views::warning::WarningRow;
use crate::http::web::{Nav, render};
use crate::service::warnings as warning;

/// Routes of this area; the HTML list rides along undocumented.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, publish))
        .routes(routes!(withdraw))
        .routes(routes!(mark_prominent, unmark_prominent))
        .routes(routes!(copies))
        .routes(routes!(warn_copy))
        .route("/warnings", get(page))
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

#[derive(Template)]
#[template(path = "warnings.html")]
struct WarningsPage {
    nav: Nav,
    /// Prominent upheld complaints (issue 17), newest first.
    cases: Vec<CaseView>,
    /// Published warnings, prominent ones first, then newest first.
    warnings: Vec<WarningRow>,
}

async fn page(State(state): State<AppState>, session: MaybeSession) -> Result<Response, AppError> {
    let mut listed = warning::list(&state).await?;
    // Stable: newest first within each group, as everything shows them.
    listed.sort_by_key(|w| w.prominent_at.is_none());
    let public = state.public_base();
    let cases = warning::prominent_complaints(&state)
        .await?
        .iter()
        .map(|c| CaseView::new(c, Lang::Zh, &public))
        .collect();
    let page = WarningsPage {
        nav: Nav::of(session.0.as_ref()),
        cases,
        warnings: listed.into_iter().map(WarningRow::from).collect(),
    };
    Ok(render(StatusCode::OK, &page, None))
}

/// Published fraud warnings
///
/// Public, newest first: the feed other services subscribe to.
#[utoipa::path(
    get,
    path = "/api/v1/warnings",
    operation_id = "listWarnings",
    tag = "warnings",
    responses((status = 200, description = "At most 500 warnings", body = Vec<Warning>))
)]
async fn list(State(state): State<AppState>) -> Result<Json<Vec<Warning>>, AppError> {
    Ok(Json(warning::list(&state).await?))
}

/// A warning to publish.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct WarningBody {
    /// The impersonating domain.
    #[schema(example = "chenxi-shuzhi.cn.example-pay.com")]
    domain: String,
    /// The certified site it impersonates (`s_…`).
    impersonates: Option<String>,
    /// What visitors should know (1 to 2000 characters).
    description: String,
    /// What staff saw (1 to 2000 characters).
    evidence: String,
    /// Set to publish a warning on a domain that is certified (or a parent or a child
    /// of a certified one): without it such a warning is refused with 409.
    #[serde(default)]
    confirm_certified: bool,
}

/// Publish a fraud warning
///
/// Staff. `/api/v1/check` answers `warned` for the domain and its subdomains at once.
#[utoipa::path(
    post,
    path = "/api/v1/warnings",
    operation_id = "publishWarning",
    tag = "warnings",
    security(("bearer" = [])),
    request_body = WarningBody,
    responses(
        (status = 201, description = "Published", body = Warning),
        (status = 400, description = "The body is not JSON", body = ErrorBody),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "Not staff", body = ErrorBody),
        (status = 409, description = "The domain already has a warning, or it is certified and `confirm_certified` was not set", body = ErrorBody),
        (status = 422, description = "Invalid fields, or a body of the wrong shape", body = InvalidFields),
    )
)]
async fn publish(
    State(state): State<AppState>,
    account: Account,
    body: Result<Json<WarningBody>, JsonRejection>,
) -> Result<(StatusCode, Json<Warning>), AppError> {
    account.require(&[
        crate::domain::account::Role::Staff,
        crate::domain::account::Role::Admin,
    ])?;
    let Json(b) = body?;
    let w = warning::publish(
        &state,
        &account,
        &NewWarning {
            domain: &b.domain,
            impersonates: b.impersonates.as_deref(),
            description: &b.description,
            evidence: &b.evidence,
            confirm_certified: b.confirm_certified,
        },
        now(),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(w)))
}

/// Withdraw a fraud warning
///
/// Staff.
#[utoipa::path(
    post,
    path = "/api/v1/warnings/{id}/withdraw",
    operation_id = "withdrawWarning",
    tag = "warnings",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "Warning id")),
    responses(
        (status = 204, description = "Withdrawn"),
        (status = 400, description = "The id is not a number (plain text, from the framework)", content_type = "text/plain", body = String),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "Not staff", body = ErrorBody),
        (status = 404, description = "No such published warning", body = ErrorBody),
    )
)]
async fn withdraw(
    State(state): State<AppState>,
    account: Account,
    Path(id): Path<i64>,
) -> Result<StatusCode, AppError> {
    warning::withdraw(&state, &account, id, now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Mark a warning prominent
///
/// Staff. A prominent case (重点案例) leads the board members embed
/// (`/embed/warnings`), the Atom feed (`/warnings.atom`) and `/warnings`, within a
/// minute on every one of them. Audited.
#[utoipa::path(
    post,
    path = "/api/v1/warnings/{id}/prominent",
    operation_id = "markWarningProminent",
    tag = "warnings",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "Warning id")),
    responses(
        (status = 204, description = "Marked"),
        (status = 400, description = "The id is not a number (plain text, from the framework)", content_type = "text/plain", body = String),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "Not staff", body = ErrorBody),
        (status = 404, description = "No such published warning", body = ErrorBody),
    )
)]
async fn mark_prominent(
    State(state): State<AppState>,
    account: Account,
    Path(id): Path<i64>,
) -> Result<StatusCode, AppError> {
    warning::set_prominent(&state, &account, id, true, now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Unmark a prominent warning
///
/// Staff. The warning stays published, in its place by date. Audited.
#[utoipa::path(
    delete,
    path = "/api/v1/warnings/{id}/prominent",
    operation_id = "unmarkWarningProminent",
    tag = "warnings",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "Warning id")),
    responses(
        (status = 204, description = "Unmarked"),
        (status = 400, description = "The id is not a number (plain text, from the framework)", content_type = "text/plain", body = String),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "Not staff", body = ErrorBody),
        (status = 404, description = "No such published warning", body = ErrorBody),
    )
)]
async fn unmark_prominent(
    State(state): State<AppState>,
    account: Account,
    Path(id): Path<i64>,
) -> Result<StatusCode, AppError> {
    warning::set_prominent(&state, &account, id, false, now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The copied-seal report
///
/// Staff. Hosts that showed a site's seal without being one of its domains.
#[utoipa::path(
    get,
    path = "/api/v1/seal-copies",
    operation_id = "listSealCopies",
    tag = "warnings",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "At most 500, most requests first", body = Vec<SealCopy>),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "Not staff", body = ErrorBody),
    )
)]
async fn copies(
    State(state): State<AppState>,
    account: Account,
) -> Result<Json<Vec<SealCopy>>, AppError> {
    Ok(Json(warning::copies(&state, &account).await?))
}

/// A copied-seal record to turn into a warning.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CopyBody {
    /// The site whose seal was shown.
    site: String,
    /// The host that showed it, as in the report.
    host: String,
}

/// Warn about a copied seal
///
/// Staff. Publishes a warning for the host, with the report's figures as evidence.
#[utoipa::path(
    post,
    path = "/api/v1/seal-copies/warn",
    operation_id = "warnSealCopy",
    tag = "warnings",
    security(("bearer" = [])),
    request_body = CopyBody,
    responses(
        (status = 201, description = "Published", body = Warning),
        (status = 400, description = "The body is not JSON", body = ErrorBody),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "Not staff", body = ErrorBody),
        (status = 404, description = "No such copy in the report", body = ErrorBody),
        (status = 409, description = "The host already has a warning", body = ErrorBody),
        (status = 422, description = "A body of the wrong shape, or a host that is not a domain", body = InvalidFields),
    )
)]
async fn warn_copy(
    State(state): State<AppState>,
    account: Account,
    body: Result<Json<CopyBody>, JsonRejection>,
) -> Result<(StatusCode, Json<Warning>), AppError> {
    account.require(&[
        crate::domain::account::Role::Staff,
        crate::domain::account::Role::Admin,
    ])?;
    let Json(b) = body?;
    let w = warning::from_copy(&state, &account, &b.site, &b.host, now()).await?;
    Ok((StatusCode::CREATED, Json(w)))
}
