//! Members of the alliance: admins add them (`POST /api/v1/members`); staff list them;
//! a member's own accounts read their member. What members do (the exchange feed,
//! shared records, brands) lives in its own modules.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::domain::account::{Account, Role};
use crate::domain::clock::now;
use crate::domain::member::{Member, NewMember};
use crate::error::AppError;
use crate::http::openapi::{ErrorBody, InvalidFields};
use crate::http::state::AppState;
use crate::service::members as service;

/// Routes of this area.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(show))
}

/// A member to add.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct MemberBody {
    /// The organization's registered name (1 to 100 characters).
    #[schema(example = "示例网络科技有限公司")]
    name: String,
    /// Its unified social credit code (GB 32100-2015, check character verified).
    #[schema(example = "91110108MA04T7K21H")]
    uscc: String,
    /// Address of its trust-and-safety team.
    #[serde(default)]
    contact: Option<String>,
}

/// Add a member
///
/// Admin. Audited. Give the member's staff accounts with
/// `badge-server user add --role member --member ID`.
#[utoipa::path(
    post,
    path = "/api/v1/members",
    operation_id = "createMember",
    tag = "members",
    security(("bearer" = [])),
    request_body = MemberBody,
    responses(
        (status = 201, description = "Added", body = Member),
        (status = 400, description = "The body is not JSON", body = ErrorBody),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 409, description = "The organization is a member already", body = ErrorBody),
        (status = 422, description = "Invalid fields, or a body of the wrong shape", body = InvalidFields),
    )
)]
async fn create(
    State(state): State<AppState>,
    account: Account,
    body: Result<Json<MemberBody>, JsonRejection>,
) -> Result<(StatusCode, Json<Member>), AppError> {
    let Json(b) = body?;
    let new = NewMember {
        name: &b.name,
        uscc: &b.uscc,
        contact: b.contact.as_deref(),
    };
    let member = service::add_as(&state.db, &account, &new, now()).await?;
    Ok((StatusCode::CREATED, Json(member)))
}

/// Every member
///
/// Staff.
#[utoipa::path(
    get,
    path = "/api/v1/members",
    operation_id = "listMembers",
    tag = "members",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The members, by name", body = [Member]),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "Not staff", body = ErrorBody),
    )
)]
async fn list(
    State(state): State<AppState>,
    account: Account,
) -> Result<Json<Vec<Member>>, AppError> {
    account.require(&[Role::Staff, Role::Admin])?;
    Ok(Json(crate::store::members::list(&state.db).await?))
}

/// One member
///
/// Staff, and the member's own accounts.
#[utoipa::path(
    get,
    path = "/api/v1/members/{id}",
    operation_id = "getMember",
    tag = "members",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Member id (m_…)")),
    responses(
        (status = 200, description = "The member", body = Member),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "Neither staff nor this member", body = ErrorBody),
        (status = 404, description = "No such member", body = ErrorBody),
    )
)]
async fn show(
    State(state): State<AppState>,
    account: Account,
    Path(id): Path<String>,
) -> Result<Json<Member>, AppError> {
    Ok(Json(service::get(&state.db, &account, &id).await?))
}
