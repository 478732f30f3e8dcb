//! `/healthz`: the process is up and the database answers.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::error::AppError;
use crate::state::AppState;

/// Routes of this area.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
}

async fn healthz(State(state): State<AppState>) -> Result<Json<Value>, AppError> {
    ca::store::latest_crl(&state.db, state.ca.slug()).await?;
    Ok(Json(
        json!({ "status": "ok", "database": state.db.backend(), "issuer": state.ca.slug() }),
    ))
}

/// Prometheus text format.
async fn metrics(State(state): State<AppState>) -> Result<String, AppError> {
    state
        .metrics
        .as_ref()
        .map(|m| m.render())
        .ok_or(AppError::NotFound)
}
