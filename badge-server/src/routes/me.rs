//! `/api/v1/me`: who the token belongs to.

use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::account::Account;
use crate::openapi::ErrorBody;
use crate::state::AppState;

/// Routes of this area, each documented by its handler.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(me))
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
