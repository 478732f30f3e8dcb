//! `/healthz`: the process is up and the database answers — reads and writes.
//!
//! Reading alone said "ok" while every write failed (a wedged SQLite transaction, a
//! full disk), so an orchestrator kept sending traffic to a replica that could not
//! save anything. The check also makes a small write transaction, at most once per
//! [`WriteProbe`] interval per process (the answer is kept in between, so a busy
//! health checker costs one write per interval), and answers 503 `degraded` with a
//! reason when either fails.

use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use ca::db::Database;
use ca::on_tx;
use serde_json::json;

use crate::error::AppError;
use crate::http::state::AppState;

/// Longest a write probe may take before the database counts as unable to write.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// Routes of this area.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
}

/// The last write probe of this process and when it ran.
#[derive(Debug)]
pub struct WriteProbe {
    every: Duration,
    last: tokio::sync::Mutex<Option<(Instant, Result<(), String>)>>,
}

impl WriteProbe {
    /// Probes at most once per `every` (zero: on every check).
    pub fn new(every: Duration) -> Self {
        WriteProbe {
            every,
            last: tokio::sync::Mutex::new(None),
        }
    }

    /// Whether the database could write at the last probe, probing again when the
    /// last one is older than the interval. Concurrent checks wait for one probe.
    async fn check(&self, db: &Database) -> Result<(), String> {
        let mut last = self.last.lock().await;
        if let Some((at, result)) = last.as_ref()
            && at.elapsed() < self.every
        {
            return result.clone();
        }
        let result = match tokio::time::timeout(PROBE_TIMEOUT, write(db)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => {
                tracing::error!(error = %e, "health check: the database cannot write");
                Err(if e.is_disk_full() {
                    "the database cannot write: the server's disk is full".to_string()
                } else {
                    "the database cannot write".to_string()
                })
            }
            Err(_) => {
                tracing::error!("health check: a write did not finish within 5 s");
                Err("the database cannot write: a write did not finish within 5 s".to_string())
            }
        };
        *last = Some((Instant::now(), result.clone()));
        result
    }
}

/// One small write transaction.
async fn write(db: &Database) -> ca::Result<()> {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut tx = db.begin().await?;
    on_tx!(&mut tx, |c| sqlx::query(
        "UPDATE health_probe SET probes = probes + 1, written_at = $1 WHERE id = 1"
    )
    .bind(now)
    .execute(c)
    .await
    .map(drop))?;
    Ok(tx.commit().await?)
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
