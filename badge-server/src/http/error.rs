//! [`AppError`] as an HTTP answer, in one place: the status code and a JSON body,
//! or, for a browser ([`wants_html`]), the same answer as an HTML page in the site's
//! layout ([`negotiate`], the layer every route passes through).

use axum::Json;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::error::{AppError, DISK_FULL};

impl From<axum::extract::rejection::JsonRejection> for AppError {
    fn from(e: axum::extract::rejection::JsonRejection) -> Self {
        // Well-formed JSON of the wrong shape (unknown or missing fields, wrong types)
        // is 422 like other validation failures; unparsable JSON is 400.
        if e.status() == StatusCode::UNPROCESSABLE_ENTITY {
            AppError::Invalid(vec![("body".into(), e.body_text())])
        } else {
            AppError::BadRequest(format!("request body: {}", e.body_text()))
        }
    }
}

/// What an [`AppError`] answer said, kept on the response so that [`negotiate`] can
/// say it again as a page.
#[derive(Debug, Clone)]
struct Failed(String);

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let said = match &self {
            AppError::Invalid(fields) => fields
                .iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect::<Vec<_>>()
                .join("; "),
            // Never shown: the log has it.
            AppError::Internal(_) => String::new(),
            other => other.to_string(),
        };
        let mut r = json_answer(self);
        r.extensions_mut().insert(Failed(said));
        r
    }
}

/// The JSON answer of an error.
fn json_answer(e: AppError) -> Response {
    let (status, message) = match &e {
        AppError::NotFound => (StatusCode::NOT_FOUND, "not found".to_string()),
        AppError::BadRequest(m) => (StatusCode::BAD_REQUEST, m.clone()),
        AppError::Unauthorized => {
            let mut r = (
                    StatusCode::UNAUTHORIZED,
                    Json(json!({ "error": "authentication required: send Authorization: Bearer <token>" })),
                )
                    .into_response();
            r.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
            return r;
        }
        AppError::Forbidden(m) => (StatusCode::FORBIDDEN, m.clone()),
        AppError::Conflict(m) => (StatusCode::CONFLICT, m.clone()),
        AppError::TooMany {
            message,
            retry_after,
        } => {
            let mut r = (
                StatusCode::TOO_MANY_REQUESTS,
                Json(json!({ "error": message })),
            )
                .into_response();
            if let Ok(v) = axum::http::HeaderValue::from_str(&retry_after.to_string()) {
                r.headers_mut().insert(axum::http::header::RETRY_AFTER, v);
            }
            return r;
        }
        AppError::Upload(r) => (crate::http::attachments::status(r), r.to_string()),
        AppError::Invalid(fields) => {
            let map: serde_json::Map<String, serde_json::Value> = fields
                .iter()
                .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                .collect();
            return (
                StatusCode::UNPROCESSABLE_ENTITY,
                Json(json!({ "error": "invalid fields", "fields": map })),
            )
                .into_response();
        }
        AppError::Internal(e) if e.is_disk_full() => {
            tracing::error!(error = %e, "request failed: the database's disk is full");
            (StatusCode::SERVICE_UNAVAILABLE, DISK_FULL.to_string())
        }
        AppError::Internal(e) => {
            tracing::error!(error = %e, "request failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error".to_string(),
            )
        }
    };
    (status, Json(json!({ "error": message }))).into_response()
}

/// Whether a request is a browser's asking for a page: it accepts `text/html`
/// (browsers say so when they navigate; `<img>`, `fetch` and API clients do not),
/// does not name `application/json` (a client that takes both gets JSON), and is not
/// under `/api/`, which always answers JSON.
pub fn wants_html(path: &str, headers: &HeaderMap) -> bool {
    let accept: String = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(",")
        .to_ascii_lowercase();
    !path.starts_with("/api/")
        && accept.contains("text/html")
        && !accept.contains("application/json")
}

/// The edge's error mapping for browsers: an [`AppError`] answer to a request that
/// [`wants_html`] becomes the error page of its status (404, 500, …) in the site's
/// layout, its `Retry-After` kept; everyone else keeps the JSON. Error answers
/// outside `/api/` say that they vary by `Accept`.
pub async fn negotiate(req: Request, next: Next) -> Response {
    let api = req.uri().path().starts_with("/api/");
    let html = wants_html(req.uri().path(), req.headers());
    let mut r = next.run(req).await;
    let Some(Failed(said)) = r.extensions_mut().remove::<Failed>() else {
        return r;
    };
    if html {
        let mut page = crate::http::web::error_page(r.status(), &said);
        if let Some(v) = r.headers().get(header::RETRY_AFTER) {
            page.headers_mut().insert(header::RETRY_AFTER, v.clone());
        }
        r = page;
    }
    if !api {
        r.headers_mut()
            .append(header::VARY, HeaderValue::from_static("Accept"));
    }
    r
}

/// The answer to a path no route serves: 404, as JSON or as a page ([`negotiate`]).
pub async fn no_route() -> AppError {
    AppError::NotFound
}
