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
use crate::http::metrics::Exposition;
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

/// The Prometheus metrics, for a scraper holding `CHENGXIN_METRICS_TOKEN` (compared
/// in constant time); 404 when no token is configured, 401 without the right one.
/// The text format: what the `metrics` recorder holds (counters counted where things
/// happen, database histograms), then the HTTP families
/// ([`crate::http::metrics`]), the seal render cache's counts, and gauges read now
/// ([`crate::service::health::gauges`]); the README lists every family.
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
    let mut text = handle.render();
    text.push_str(&exposition(&state).await?.into_text());
    Ok(text)
}

/// The families `/metrics` renders itself.
async fn exposition(state: &AppState) -> Result<Exposition, AppError> {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut e = Exposition::default();
    e.http();
    let (hits, misses) = state.seals.cache_counts();
    for (name, value, help) in [
        (
            "chengxin_seal_render_cache_hits_total",
            hits,
            "Seals found in the render cache.",
        ),
        (
            "chengxin_seal_render_cache_misses_total",
            misses,
            "Seals drawn because the render cache did not hold them.",
        ),
    ] {
        e.family(name, "counter", help);
        e.sample(name, &[], value as f64);
    }
    let g = crate::service::health::gauges(&state.db, now).await?;
    e.family(
        "chengxin_jobs_queued",
        "gauge",
        "Unfinished jobs (scheduled ones included), by kind.",
    );
    for j in &g.jobs {
        e.sample(
            "chengxin_jobs_queued",
            &[("kind", &j.kind)],
            j.queued as f64,
        );
    }
    e.family(
        "chengxin_jobs_due",
        "gauge",
        "Jobs due now that wait for a worker (none holds them), by kind.",
    );
    for j in &g.jobs {
        e.sample("chengxin_jobs_due", &[("kind", &j.kind)], j.due as f64);
    }
    let oldest = g.jobs.iter().filter_map(|j| j.oldest_due).min();
    e.family(
        "chengxin_jobs_oldest_due_age_seconds",
        "gauge",
        "How long the oldest job waiting for a worker has been due (0: none waits).",
    );
    e.sample(
        "chengxin_jobs_oldest_due_age_seconds",
        &[],
        oldest.map_or(0, |t| (now - t).max(0)) as f64,
    );
    e.family(
        "chengxin_db_connections",
        "gauge",
        "Connections of this process's database pool, in use and idle.",
    );
    e.sample(
        "chengxin_db_connections",
        &[("state", "in_use")],
        f64::from(g.pool.in_use),
    );
    e.sample(
        "chengxin_db_connections",
        &[("state", "idle")],
        f64::from(g.pool.idle),
    );
    e.family(
        "chengxin_crl_age_seconds",
        "gauge",
        "Age of the newest CRL of each issuer and shard that holds an unexpired certificate (now minus its thisUpdate).",
    );
    for (issuer, shard, this_update, _) in &g.crls {
        let shard = shard.to_string();
        let labels = [("issuer", issuer.as_str()), ("shard", shard.as_str())];
        e.sample(
            "chengxin_crl_age_seconds",
            &labels,
            (now - this_update) as f64,
        );
    }
    e.family(
        "chengxin_crl_next_update_timestamp_seconds",
        "gauge",
        "nextUpdate of the newest CRL of each issuer and shard (Unix time).",
    );
    for (issuer, shard, _, next_update) in &g.crls {
        let shard = shard.to_string();
        let labels = [("issuer", issuer.as_str()), ("shard", shard.as_str())];
        e.sample(
            "chengxin_crl_next_update_timestamp_seconds",
            &labels,
            *next_update as f64,
        );
    }
    if let Some(t) = g.ocsp_earliest_next_update {
        e.family(
            "chengxin_ocsp_earliest_next_update_timestamp_seconds",
            "gauge",
            "The earliest nextUpdate among stored OCSP responses of unexpired certificates (Unix time).",
        );
        e.sample(
            "chengxin_ocsp_earliest_next_update_timestamp_seconds",
            &[],
            t as f64,
        );
    }
    Ok(e)
}
