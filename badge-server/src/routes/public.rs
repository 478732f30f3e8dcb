//! Public, unauthenticated views of certified sites: the certificate as PEM and
//! JSON, and the URL check visitors paste a link into.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use ca::on_pool;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::application;
use crate::error::AppError;
use crate::state::AppState;

/// Routes of this area.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/cert/{file}", get(certificate))
        .route("/api/v1/check", get(check))
}

/// `/cert/{site}.pem`, `/cert/{site}.json`, and the HTML page at `/cert/{site}`.
async fn certificate(
    State(state): State<AppState>,
    Path(file): Path<String>,
    Query(page): Query<crate::routes::certificate::PageQuery>,
    headers: axum::http::HeaderMap,
) -> Result<Response, AppError> {
    if let Some(site) = file.strip_suffix(".json") {
        let mut view = application::site_view(&state, site).await?;
        if let Some(o) = view.as_object_mut() {
            o.remove("snippet");
        }
        return Ok(Json(view).into_response());
    }
    if let Some(site) = file.strip_suffix(".pem") {
        let der = application::site_certificate(&state.db, site)
            .await?
            .certificate
            .and_then(|c| c.der)
            .ok_or(AppError::NotFound)?;
        let pem = der::pem::encode_string("CERTIFICATE", der::pem::LineEnding::LF, &der)
            .map_err(|e| AppError::Internal(ca::Error::Encoding(e.to_string())))?;
        let mut r = pem.into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-pem-file"),
        );
        return Ok(r);
    }
    crate::routes::certificate::page(&state, &file, &page, &headers).await
}

#[derive(Debug, Deserialize)]
struct CheckQuery {
    url: String,
}

/// `certified`, the site's state, or `not_certified`, for any URL a visitor pastes.
/// A host is covered by a site that certifies it or one of its parent domains.
async fn check(
    State(state): State<AppState>,
    Query(q): Query<CheckQuery>,
) -> Result<Json<Value>, AppError> {
    let raw = q.url.trim();
    if raw.is_empty() || raw.len() > 2048 {
        return Err(AppError::Invalid(vec![(
            "url".into(),
            "give a URL of at most 2048 characters".into(),
        )]));
    }
    let with_scheme = if raw.contains("://") {
        raw.to_string()
    } else {
        format!("http://{raw}")
    };
    let host = url::Url::parse(&with_scheme)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .ok_or_else(|| AppError::Invalid(vec![("url".into(), format!("{raw:?} is not a URL"))]))?;
    let host = ca::identity::Domain::parse(&host)
        .map_err(|e| AppError::Invalid(vec![("url".into(), e.to_string())]))?;
    let labels: Vec<&str> = host.as_str().split('.').collect();
    for i in 0..labels.len().saturating_sub(1) {
        let candidate = labels[i..].join(".");
        let site: Option<(String,)> = on_pool!(&state.db, |p| sqlx::query_as(
            "SELECT site_id FROM site_domains WHERE domain = $1"
        )
        .bind(&candidate)
        .fetch_optional(p)
        .await
        .map_err(ca::Error::from)?);
        if let Some((site,)) = site {
            let view = application::site_view(&state, &site).await?;
            return Ok(Json(json!({
                "url": raw,
                "host": host.as_str(),
                "result": view["status"],
                "site": site,
                "organization": view["organization"],
                "certificate_url": view["certificate_url"],
            })));
        }
    }
    Ok(Json(
        json!({ "url": raw, "host": host.as_str(), "result": "not_certified" }),
    ))
}
