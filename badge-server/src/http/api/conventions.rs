//! Self-discipline conventions: the JSON API (`/api/v1/conventions`, documented):
//! staff publish conventions and their versions, operators sign them; and the public
//! pages `/conventions` and `/conventions/{id}` (the text and its signatories).

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

use crate::domain::account::{Account, Role};
use crate::domain::clock::now;
use crate::error::AppError;
use crate::http::extract::session::MaybeSession;
use crate::http::openapi::{ErrorBody, InvalidFields};
use crate::http::state::AppState;
use crate::http::views::convention::{ConventionDetail, ConventionView, SignatureView};
use crate::http::web::{Nav, PageError, render};
use crate::service::conventions as convention;

/// Routes of this area; the pages ride along undocumented.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, publish))
        .routes(routes!(show))
        .routes(routes!(new_version))
        .routes(routes!(sign))
        .route("/conventions", get(list_page))
        .route("/conventions/{id}", get(page))
}

/// Self-discipline conventions
///
/// Public: every convention at its current version.
#[utoipa::path(
    get,
    path = "/api/v1/conventions",
    operation_id = "listConventions",
    tag = "conventions",
    responses((status = 200, description = "At most 1000, oldest first", body = Vec<ConventionView>))
)]
async fn list(State(state): State<AppState>) -> Result<Json<Vec<ConventionView>>, AppError> {
    Ok(Json(
        convention::list(&state)
            .await?
            .into_iter()
            .map(ConventionView::from)
            .collect(),
    ))
}

async fn detail(state: &AppState, id: i64) -> Result<ConventionDetail, AppError> {
    let c = convention::get(state, id).await?;
    let signatories = convention::signatories(state, id)
        .await?
        .into_iter()
        .map(SignatureView::from)
        .collect();
    Ok(ConventionDetail {
        convention: c.into(),
        signatories,
    })
}

/// One convention and its signatories
///
/// Public. Signatories are organization names only.
#[utoipa::path(
    get,
    path = "/api/v1/conventions/{id}",
    operation_id = "getConvention",
    tag = "conventions",
    params(("id" = i64, Path, description = "Convention id")),
    responses(
        (status = 200, description = "The convention at its current version", body = ConventionDetail),
        (status = 400, description = "The id is not a number (plain text, from the framework)", content_type = "text/plain", body = String),
        (status = 404, description = "No such convention", body = ErrorBody),
    )
)]
async fn show(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<ConventionDetail>, AppError> {
    Ok(Json(detail(&state, id).await?))
}

/// A convention to publish.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ConventionBody {
    /// 1 to 100 characters; 《》 are dropped.
    #[schema(example = "网络诚信自律公约")]
    title: String,
    /// The text, Markdown (1 to 50000 characters). Raw HTML is shown as text; only
    /// http(s) and mailto links stay links.
    text: String,
}

/// Publish a convention
///
/// Staff. Version 1 of a new convention; audited.
#[utoipa::path(
    post,
    path = "/api/v1/conventions",
    operation_id = "publishConvention",
    tag = "conventions",
    security(("bearer" = [])),
    request_body = ConventionBody,
    responses(
        (status = 201, description = "Published", body = ConventionView),
        (status = 400, description = "The body is not JSON", body = ErrorBody),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "Not staff", body = ErrorBody),
        (status = 409, description = "A convention with this title exists", body = ErrorBody),
        (status = 422, description = "Invalid fields, or a body of the wrong shape", body = InvalidFields),
    )
)]
async fn publish(
    State(state): State<AppState>,
    account: Account,
    body: Result<Json<ConventionBody>, JsonRejection>,
) -> Result<(StatusCode, Json<ConventionView>), AppError> {
    account.require(&[Role::Staff, Role::Admin])?;
    let Json(b) = body?;
    let c = convention::publish(&state, &account, &b.title, &b.text, now()).await?;
    Ok((StatusCode::CREATED, Json(c.into())))
}

/// A convention's new text.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct VersionBody {
    /// The whole new text, Markdown (1 to 50000 characters).
    text: String,
}

/// Publish a new version
///
/// Staff. Signatories are asked to sign again; their signatures of older versions
/// stay. Audited.
#[utoipa::path(
    post,
    path = "/api/v1/conventions/{id}/versions",
    operation_id = "publishConventionVersion",
    tag = "conventions",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "Convention id")),
    request_body = VersionBody,
    responses(
        (status = 201, description = "Published", body = ConventionView),
        (status = 400, description = "The body is not JSON, or the id not a number", body = ErrorBody),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "Not staff", body = ErrorBody),
        (status = 404, description = "No such convention", body = ErrorBody),
        (status = 409, description = "The text is the current version's", body = ErrorBody),
        (status = 422, description = "Invalid fields, or a body of the wrong shape", body = InvalidFields),
    )
)]
async fn new_version(
    State(state): State<AppState>,
    account: Account,
    Path(id): Path<i64>,
    body: Result<Json<VersionBody>, JsonRejection>,
) -> Result<(StatusCode, Json<ConventionView>), AppError> {
    account.require(&[Role::Staff, Role::Admin])?;
    let Json(b) = body?;
    let c = convention::new_version(&state, &account, id, &b.text, now()).await?;
    Ok((StatusCode::CREATED, Json(c.into())))
}

/// Whom a signature is given for.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct SignBody {
    /// The USCC of an organization one of whose certified sites this account operates.
    #[schema(example = "91110108MA04T7K21H")]
    uscc: String,
}

/// Sign a convention
///
/// Operators. Signs the current version for the organization; audited with the
/// account, the organization and the version.
#[utoipa::path(
    post,
    path = "/api/v1/conventions/{id}/sign",
    operation_id = "signConvention",
    tag = "conventions",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "Convention id")),
    request_body = SignBody,
    responses(
        (status = 201, description = "Signed", body = SignatureView),
        (status = 400, description = "The body is not JSON, or the id not a number", body = ErrorBody),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "Not an operator", body = ErrorBody),
        (status = 404, description = "No such convention", body = ErrorBody),
        (status = 409, description = "The organization already signed this version", body = ErrorBody),
        (status = 422, description = "Not an organization of this account, or a body of the wrong shape", body = InvalidFields),
    )
)]
async fn sign(
    State(state): State<AppState>,
    account: Account,
    Path(id): Path<i64>,
    body: Result<Json<SignBody>, JsonRejection>,
) -> Result<(StatusCode, Json<SignatureView>), AppError> {
    account.require(&[Role::Operator])?;
    let Json(b) = body?;
    let s = convention::sign(&state, &account, id, &b.uscc, now()).await?;
    Ok((StatusCode::CREATED, Json(s.into())))
}

#[derive(Template)]
#[template(path = "conventions.html")]
struct ListPage {
    nav: Nav,
    conventions: Vec<ConventionView>,
}

async fn list_page(
    State(state): State<AppState>,
    MaybeSession(session): MaybeSession,
) -> Result<Response, PageError> {
    let conventions = convention::list(&state)
        .await?
        .into_iter()
        .map(ConventionView::from)
        .collect();
    let p = ListPage {
        nav: Nav::of(session.as_ref()),
        conventions,
    };
    Ok(render(StatusCode::OK, &p, None))
}

#[derive(Template)]
#[template(path = "convention.html")]
struct ConventionPage {
    nav: Nav,
    d: ConventionDetail,
}

async fn page(
    State(state): State<AppState>,
    MaybeSession(session): MaybeSession,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let id: i64 = id.parse().map_err(|_| PageError::NotFound)?;
    let p = ConventionPage {
        nav: Nav::of(session.as_ref()),
        d: detail(&state, id).await?,
    };
    Ok(render(StatusCode::OK, &p, None))
}
