//! `/healthz`: the process is up and the database answers — reads and writes.
//!
//! Reading alone said "ok" while every write failed (a wedged SQLite transaction, a
//! full disk), so an orchestrator kept sending traffic to a replica that could not
//! save anything. The check also makes a small write transaction, at most once per
//! [`WriteProbe`](crate::service::health::WriteProbe) interval per process (the answer is kept in between, so a busy
//! health checker costs one write per interval), and answers 503 `degraded` with a
//! reason when either fails.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::error::AppError;
use crate::http::state::AppState;

/// Routes of this area.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
}

async fn healthz(State(state): State<AppState>) -> Response {
    let read = ca::store::latest_crl(&state.db, state.ca.slug()).await;
    let (database, issuer) = (state.db.backend(), state.ca.slug());
    let problem = match read {
        Err(e) => {
            tracing::error!(error = %e, "health check: the database cannot be read");
            Some("the database cannot be read".to_string())
        }
        Ok(_) => state.health.check(&state.db).await.err(),
    };
    match problem {
        None => {
            Json(json!({ "status": "ok", "database": database, "issuer": issuer, "write": "ok" }))
                .into_response()
        }
        Some(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(
                json!({ "status": "degraded", "reason": reason, "database": database,
                         "issuer": issuer }),
            ),
        )
            .into_response(),
    }
}

/// Prometheus text format.
/// The Prometheus metrics, for a scraper holding `CHENGXIN_METRICS_TOKEN` (compared
/// in constant time); 404 when no token is configured, 401 without the right one.
async fn metrics(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
) -> Result<String, AppError> {
    let (Some(token), Some(handle)) = (&state.metrics_token, &state.metrics) else {
        return Err(AppError::NotFound);
    };
    let given = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if !bool::from(subtle::ConstantTimeEq::ct_eq(
        given.as_bytes(),
        token.as_bytes(),
    )) {
        return Err(AppError::Unauthorized);
    }
    Ok(handle.render())
}
