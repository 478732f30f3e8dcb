//! The impersonation watch (issue 17): members register brands
//! (`/api/v1/members/{id}/brands`); staff work through the draft warnings it makes
//! (`/api/v1/warning-drafts`).

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::domain::account::Account;
use crate::domain::clock::now;
use crate::domain::warning::Warning;
use crate::domain::watch::{DraftState, MemberBrand, WarningDraft};
use crate::error::AppError;
use crate::http::openapi::{ErrorBody, InvalidFields};
use crate::http::state::AppState;
use crate::service::watch as service;

/// Routes of this area.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_brands, add_brand))
        .routes(routes!(list_drafts))
        .routes(routes!(publish_draft))
        .routes(routes!(dismiss_draft))
}

/// A brand to register.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct BrandBody {
    /// The brand as written in domains (1 to 63 characters, no spaces).
    #[schema(example = "taobao")]
    name: String,
    /// The brand's own domains (1 to 50): they and their hosts are never flagged.
    #[schema(example = json!(["taobao.com"]))]
    domains: Vec<String>,
    /// Other names (at most 20), e.g. the Chinese name.
    #[serde(default)]
    #[schema(example = json!(["淘宝"]))]
    aliases: Vec<String>,
}

/// Register a brand
///
/// The member's own accounts, or an admin. New applications and copied seals are
/// screened against it.
#[utoipa::path(
    post,
    path = "/api/v1/members/{id}/brands",
    operation_id = "addMemberBrand",
    tag = "members",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Member id (m_…)")),
    request_body = BrandBody,
    responses(
        (status = 201, description = "Registered", body = MemberBrand),
        (status = 400, description = "The body is not JSON", body = ErrorBody),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "Neither this member nor an admin", body = ErrorBody),
        (status = 404, description = "No such member", body = ErrorBody),
        (status = 409, description = "The member has a brand by that name", body = ErrorBody),
        (status = 422, description = "Invalid fields, or a body of the wrong shape", body = InvalidFields),
    )
)]
async fn add_brand(
    State(state): State<AppState>,
    account: Account,
    Path(id): Path<String>,
    body: Result<Json<BrandBody>, JsonRejection>,
) -> Result<(StatusCode, Json<MemberBrand>), AppError> {
    let Json(b) = body?;
    let brand = service::add_brand(
        &state.db,
        &account,
        &id,
        &b.name,
        &b.domains,
        &b.aliases,
        now(),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(brand)))
}

/// A member's brands
///
/// Staff, and the member's own accounts.
#[utoipa::path(
    get,
    path = "/api/v1/members/{id}/brands",
    operation_id = "listMemberBrands",
    tag = "members",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Member id (m_…)")),
    responses(
        (status = 200, description = "The brands, by name", body = [MemberBrand]),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "Neither staff nor this member", body = ErrorBody),
    )
)]
async fn list_brands(
    State(state): State<AppState>,
    account: Account,
    Path(id): Path<String>,
) -> Result<Json<Vec<MemberBrand>>, AppError> {
    Ok(Json(service::brands(&state.db, &account, &id).await?))
}

/// Which drafts to list.
#[derive(Debug, Deserialize, IntoParams)]
struct DraftQuery {
    /// `draft` (default), `published` or `dismissed`.
    state: Option<String>,
}

/// Draft warnings
///
/// Staff. Oldest first, at most 500.
#[utoipa::path(
    get,
    path = "/api/v1/warning-drafts",
    operation_id = "listWarningDrafts",
    tag = "warnings",
    security(("bearer" = [])),
    params(DraftQuery),
    responses(
        (status = 200, description = "The drafts", body = [WarningDraft]),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "Not staff", body = ErrorBody),
        (status = 422, description = "Unknown state", body = InvalidFields),
    )
)]
async fn list_drafts(
    State(state): State<AppState>,
    account: Account,
    Query(q): Query<DraftQuery>,
) -> Result<Json<Vec<WarningDraft>>, AppError> {
    let wanted = match q.state.as_deref() {
        None => DraftState::Draft,
        Some(s) => DraftState::parse(s).ok_or_else(|| {
            AppError::Invalid(vec![(
                "state".into(),
                "draft, published or dismissed".into(),
            )])
        })?,
    };
    Ok(Json(service::drafts(&state.db, &account, wanted).await?))
}

/// Publish a draft warning
///
/// Staff. Published through the warnings' own checks.
#[utoipa::path(
    post,
    path = "/api/v1/warning-drafts/{id}/publish",
    operation_id = "publishWarningDraft",
    tag = "warnings",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Draft id (wd_…)")),
    responses(
        (status = 201, description = "The published warning", body = Warning),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "Not staff", body = ErrorBody),
        (status = 404, description = "No such draft", body = ErrorBody),
        (status = 409, description = "Decided already, or the domain is certified", body = ErrorBody),
    )
)]
async fn publish_draft(
    State(state): State<AppState>,
    account: Account,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Warning>), AppError> {
    let warning =
        crate::service::warnings::publish_draft(&state.services, &account, &id, now()).await?;
    Ok((StatusCode::CREATED, Json(warning)))
}

/// Dismiss a draft warning
///
/// Staff: not an impersonation.
#[utoipa::path(
    post,
    path = "/api/v1/warning-drafts/{id}/dismiss",
    operation_id = "dismissWarningDraft",
    tag = "warnings",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Draft id (wd_…)")),
    responses(
        (status = 204, description = "Dismissed"),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "Not staff", body = ErrorBody),
        (status = 404, description = "No such draft", body = ErrorBody),
        (status = 409, description = "Decided already", body = ErrorBody),
    )
)]
async fn dismiss_draft(
    State(state): State<AppState>,
    account: Account,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    service::dismiss_draft(&state.db, &account, &id, now()).await?;
    Ok(StatusCode::NO_CONTENT)
}
