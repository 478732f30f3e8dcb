//! The registry ("enterprise integrity archive"): search certified sites by domain,
//! organization (Chinese substrings included), USCC or ICP number.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::application::{self, PAGE_SIZE};
use crate::error::AppError;
use crate::state::AppState;

/// Routes of this area.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/archive", get(archive))
        .route("/api/v1/sites", get(sites))
}

#[derive(Debug, Default, Deserialize)]
struct SearchQuery {
    q: Option<String>,
    page: Option<i64>,
}

#[derive(Debug, Serialize)]
struct Row {
    site: String,
    organization: String,
    domains: String,
    status: String,
}

async fn find(state: &AppState, q: &SearchQuery) -> Result<(String, i64, Vec<Value>), AppError> {
    let text = q.q.clone().unwrap_or_default();
    if text.chars().count() > 200 {
        return Err(AppError::Invalid(vec![(
            "q".into(),
            "at most 200 characters".into(),
        )]));
    }
    let page = q.page.unwrap_or(1);
    if !(1..=10_000).contains(&page) {
        return Err(AppError::Invalid(vec![(
            "page".into(),
            "1 to 10000".into(),
        )]));
    }
    let ids = application::search(&state.db, &text, page).await?;
    let mut views = Vec::with_capacity(ids.len());
    for id in ids {
        let mut v = application::site_view(state, &id).await?;
        if let Some(o) = v.as_object_mut() {
            o.remove("snippet");
        }
        views.push(v);
    }
    Ok((text, page, views))
}

async fn sites(
    State(state): State<AppState>,
    Query(q): Query<SearchQuery>,
) -> Result<Json<Value>, AppError> {
    let (text, page, views) = find(&state, &q).await?;
    Ok(Json(
        json!({ "q": text, "page": page, "per_page": PAGE_SIZE, "results": views }),
    ))
}

#[derive(Template)]
#[template(path = "archive.html")]
struct ArchivePage {
    q: String,
    q_url: String,
    page: i64,
    has_next: bool,
    results: Vec<Row>,
}

async fn archive(
    State(state): State<AppState>,
    Query(q): Query<SearchQuery>,
) -> Result<Response, AppError> {
    let (text, page, views) = find(&state, &q).await?;
    let results: Vec<Row> = views
        .iter()
        .map(|v| Row {
            site: v["site"].as_str().unwrap_or("").to_string(),
            organization: v["organization"].as_str().unwrap_or("").to_string(),
            domains: v["domains"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default(),
            status: v["status"].as_str().unwrap_or("").to_string(),
        })
        .collect();
    let page_html = ArchivePage {
        q_url: url::form_urlencoded::byte_serialize(text.as_bytes()).collect(),
        q: text,
        page,
        has_next: results.len() as i64 == PAGE_SIZE,
        results,
    }
    .render()
    .map_err(|e| AppError::Internal(ca::Error::Encoding(e.to_string())))?;
    let mut r = Html(page_html).into_response();
    r.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
        ),
    );
    Ok(r)
}
