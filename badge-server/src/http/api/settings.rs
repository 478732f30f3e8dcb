//! Settings staff change without a restart (`/api/v1/staff/settings`, documented):
//! staff and admins read them, admins change them ([`crate::service::settings`]).

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::domain::account::Account;
use crate::domain::clock::now;
use crate::error::AppError;
use crate::http::openapi::{ErrorBody, InvalidFields};
use crate::http::state::AppState;
use crate::http::views::settings::{SettingsUpdate, SettingsView};
use crate::service::settings;

/// Routes of this area.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(show, update))
}

/// The settings staff change
///
/// Staff and admins: the values in force, the configured defaults, and who changed
/// which setting last.
#[utoipa::path(
    get,
    path = "/api/v1/staff/settings",
    operation_id = "getSettings",
    tag = "settings",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The settings", body = SettingsView),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "Not staff", body = ErrorBody),
    )
)]
async fn show(
    State(state): State<AppState>,
    account: Account,
) -> Result<Json<SettingsView>, AppError> {
    Ok(Json(settings::current(&state, &account).await?.into()))
}

/// Change settings
///
/// Admins only. The fields given replace the values in force from the next
/// complaint and the next re-verification on, without a restart; one audit entry
/// (`settings.change`) names each changed setting with its old and new value. A
/// value out of bounds refuses the whole change (422, naming the field).
#[utoipa::path(
    put,
    path = "/api/v1/staff/settings",
    operation_id = "updateSettings",
    tag = "settings",
    security(("bearer" = [])),
    request_body = SettingsUpdate,
    responses(
        (status = 200, description = "Changed; the settings now", body = SettingsView),
        (status = 400, description = "The body is not JSON", body = ErrorBody),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 422, description = "A value out of bounds, or a body of the wrong shape", body = InvalidFields),
    )
)]
async fn update(
    State(state): State<AppState>,
    account: Account,
    body: Result<Json<SettingsUpdate>, JsonRejection>,
) -> Result<Json<SettingsView>, AppError> {
    let Json(change) = body?;
    Ok(Json(
        settings::update(&state, &account, &change.into(), now())
            .await?
            .into(),
    ))
}
