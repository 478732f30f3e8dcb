//! The transparency log over HTTP, as C2SP tlog-tiles lays it out under `/log/`:
//! `checkpoint` (the newest published, cosigned checkpoint), `tile/<L>/<N>[.p/<W>]`
//! (hash tiles), `tile/entries/<N>[.p/<W>]` (entry bundles), and `verifier-key`.
//! Static-file semantics: strong ETags, 304 on `If-None-Match`, full tiles cached for
//! a year as immutable. A malformed path is 400; one the published tree does not
//! have (yet) is 404.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tlog::TilePath;

use crate::error::AppError;
use crate::http::state::AppState;

/// Routes of this area.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/log/checkpoint", get(checkpoint))
        .route("/log/verifier-key", get(verifier_key))
        .route("/log/tile/{*path}", get(tile))
}

fn text(body: String, cache: &'static str) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
        ],
        body,
    )
        .into_response()
}

async fn checkpoint(State(state): State<AppState>) -> Result<Response, AppError> {
    match state.services.log.published(&state.services.db).await? {
        // A checkpoint changes every period: caches must ask again.
        Some(p) => Ok(text(p.note.to_string(), "no-cache")),
        None => Ok((
            StatusCode::NOT_FOUND,
            "no checkpoint has been published yet\n",
        )
            .into_response()),
    }
}

async fn verifier_key(State(state): State<AppState>) -> Response {
    text(
        format!("{}\n", state.services.log.verifier_key()),
        "public, max-age=3600",
    )
}

async fn tile(
    State(state): State<AppState>,
    Path(path): Path<String>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let parsed = TilePath::parse(&format!("tile/{path}"))
        .map_err(|e| AppError::BadRequest(e.to_string()))?;
    let Some(t) = state.services.log.tile(&state.services.db, parsed).await? else {
        return Ok((
            StatusCode::NOT_FOUND,
            "no such tile in the published tree\n",
        )
            .into_response());
    };
    let cache = if parsed.is_full() {
        "public, max-age=31536000, immutable"
    } else {
        // A partial tile's bytes never change either, but it is replaced by a wider
        // one within a period: no point keeping it long.
        "public, max-age=60"
    };
    let etag = HeaderValue::from_str(&t.etag).map_err(|e| AppError::BadRequest(e.to_string()))?;
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|e| e.trim() == t.etag));
    let mut out = if matches {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            )],
            t.bytes,
        )
            .into_response()
    };
    out.headers_mut().insert(header::ETAG, etag);
    out.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    Ok(out)
}
