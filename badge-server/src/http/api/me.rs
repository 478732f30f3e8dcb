//! `/api/v1/me`: who the token belongs to, and the account's API tokens.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::domain::account::{Account, TokenInfo};
use crate::error::AppError;
use crate::http::openapi::ErrorBody;
use crate::http::state::AppState;

/// Routes of this area, each documented by its handler.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(me))
        .routes(routes!(list_tokens))
        .routes(routes!(revoke_token))
}

/// The token's account
#[utoipa::path(
    get,
    path = "/api/v1/me",
    operation_id = "getMe",
    tag = "account",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The account", body = Account),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
    )
)]
async fn me(account: Account) -> Json<Account> {
    Json(account)
}

/// The account's API tokens
///
/// Newest first, at most 100, live, expired and revoked alike; never their secrets.
/// A token expires 90 days after it was made unless made for another period.
#[utoipa::path(
    get,
    path = "/api/v1/me/tokens",
    operation_id = "listTokens",
    tag = "account",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The tokens", body = Vec<TokenInfo>),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
    )
)]
async fn list_tokens(
    State(state): State<AppState>,
    account: Account,
) -> Result<Json<Vec<TokenInfo>>, AppError> {
    Ok(Json(
        crate::store::accounts::tokens(&state.db, &account).await?,
    ))
}

/// Revoke one of the account's API tokens
///
/// It is refused from the next request on (the one making this call included).
#[utoipa::path(
    delete,
    path = "/api/v1/me/tokens/{id}",
    operation_id = "revokeToken",
    tag = "account",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "The token's id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 404, description = "No such live token of this account", body = ErrorBody),
    )
)]
async fn revoke_token(
    State(state): State<AppState>,
    account: Account,
    Path(id): Path<i64>,
) -> Result<StatusCode, AppError> {
    crate::store::accounts::revoke_token(&state.db, &account.email, &account, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
