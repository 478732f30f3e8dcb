//! The origins a member registers to frame the warnings board
//! (`/api/v1/members/{id}/origins`, issue 17): the member's own accounts and admins.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::domain::account::Account;
use crate::domain::board::MemberOrigin;
use crate::domain::clock::now;
use crate::error::AppError;
use crate::http::openapi::{ErrorBody, InvalidFields};
use crate::http::state::AppState;
use crate::service::origins as service;

/// Routes of this area.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list, add, remove))
}

/// An origin to register.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct OriginBody {
    /// `https://host` or `https://host:port`; nothing else (no path, query, user or
    /// wildcard).
    #[schema(example = "https://www.example.com")]
    origin: String,
}

/// Register an origin that frames the board
///
/// The member's own accounts and admins. The board (`/embed/warnings`) names every
/// registered origin in its `Content-Security-Policy: frame-ancestors` from the next
/// request on. At most 20 per member. Audited.
#[utoipa::path(
    post,
    path = "/api/v1/members/{id}/origins",
    operation_id = "addMemberOrigin",
    tag = "members",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Member id (m_…)")),
    request_body = OriginBody,
    responses(
        (status = 201, description = "Registered", body = MemberOrigin),
        (status = 400, description = "The body is not JSON", body = ErrorBody),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "Neither an admin nor this member", body = ErrorBody),
        (status = 404, description = "No such member", body = ErrorBody),
        (status = 409, description = "The origin is registered already", body = ErrorBody),
        (status = 422, description = "Not an origin, a 21st origin, or a body of the wrong shape", body = InvalidFields),
    )
)]
async fn add(
    State(state): State<AppState>,
    account: Account,
    Path(id): Path<String>,
    body: Result<Json<OriginBody>, JsonRejection>,
) -> Result<(StatusCode, Json<MemberOrigin>), AppError> {
    let Json(b) = body?;
    let o = service::add(&state, &account, &id, &b.origin, now()).await?;
    Ok((StatusCode::CREATED, Json(o)))
}

/// A member's origins
///
/// The member's own accounts and admins.
#[utoipa::path(
    get,
    path = "/api/v1/members/{id}/origins",
    operation_id = "listMemberOrigins",
    tag = "members",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Member id (m_…)")),
    responses(
        (status = 200, description = "Oldest first", body = [MemberOrigin]),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "Neither an admin nor this member", body = ErrorBody),
        (status = 404, description = "No such member", body = ErrorBody),
    )
)]
async fn list(
    State(state): State<AppState>,
    account: Account,
    Path(id): Path<String>,
) -> Result<Json<Vec<MemberOrigin>>, AppError> {
    Ok(Json(service::list(&state, &account, &id).await?))
}

/// Which origin to remove.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct OriginQuery {
    /// The origin as registered.
    origin: String,
}

/// Remove an origin
///
/// The member's own accounts and admins. The board stops naming it from the next
/// request on. Audited.
#[utoipa::path(
    delete,
    path = "/api/v1/members/{id}/origins",
    operation_id = "removeMemberOrigin",
    tag = "members",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Member id (m_…)"), OriginQuery),
    responses(
        (status = 204, description = "Removed"),
        (status = 400, description = "No `origin` in the query (plain text, from the framework)", content_type = "text/plain", body = String),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "Neither an admin nor this member", body = ErrorBody),
        (status = 404, description = "The member has no such origin", body = ErrorBody),
    )
)]
async fn remove(
    State(state): State<AppState>,
    account: Account,
    Path(id): Path<String>,
    Query(q): Query<OriginQuery>,
) -> Result<StatusCode, AppError> {
    service::remove(&state, &account, &id, &q.origin).await?;
    Ok(StatusCode::NO_CONTENT)
}
