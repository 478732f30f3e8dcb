//! Re-verification runs for staff (issue 18): start one over every due site, poll
//! it, list the recent ones.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::domain::account::Account;
use crate::domain::recheck_run::Run;
use crate::error::AppError;
use crate::http::openapi::ErrorBody;
use crate::http::state::AppState;
use crate::service::rechecks;

/// Routes of this area.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, start))
        .routes(routes!(get_run))
}

/// Start a re-verification run
///
/// Staff. Re-verifies every site due now, in batches, as a durable job: poll
/// `GET /api/v1/staff/rechecks/{id}` for its progress. One run at a time.
#[utoipa::path(
    post,
    path = "/api/v1/staff/rechecks",
    operation_id = "startRecheckRun",
    tag = "sites",
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Started", body = Run),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "Not staff", body = ErrorBody),
        (status = 409, description = "A run is already going", body = ErrorBody),
    )
)]
async fn start(
    State(state): State<AppState>,
    account: Account,
) -> Result<(StatusCode, Json<Run>), AppError> {
    let run = rechecks::start(&state, &account, crate::domain::clock::now()).await?;
    Ok((StatusCode::CREATED, Json(run)))
}

/// Recent re-verification runs
///
/// Staff. The 20 most recent, newest first, without their changes.
#[utoipa::path(
    get,
    path = "/api/v1/staff/rechecks",
    operation_id = "listRecheckRuns",
    tag = "sites",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Runs", body = Vec<Run>),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "Not staff", body = ErrorBody),
    )
)]
async fn list(State(state): State<AppState>, account: Account) -> Result<Json<Vec<Run>>, AppError> {
    Ok(Json(rechecks::recent(&state.db, &account).await?))
}

/// A re-verification run
///
/// Staff. Its progress (done, passed, failed, errors of the sites due when it
/// started) and every site it moved to another state, with the reason.
#[utoipa::path(
    get,
    path = "/api/v1/staff/rechecks/{id}",
    operation_id = "getRecheckRun",
    tag = "sites",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "Run id")),
    responses(
        (status = 200, description = "The run", body = Run),
        (status = 400, description = "The id is not a number (plain text, from the framework)", content_type = "text/plain", body = String),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "Not staff", body = ErrorBody),
        (status = 404, description = "No such run", body = ErrorBody),
    )
)]
async fn get_run(
    State(state): State<AppState>,
    account: Account,
    Path(id): Path<i64>,
) -> Result<Json<Run>, AppError> {
    Ok(Json(rechecks::get(&state.db, &account, id).await?))
}
