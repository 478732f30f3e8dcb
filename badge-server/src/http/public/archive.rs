//! The registry ("enterprise integrity archive"): search certified sites by domain,
//! organization (Chinese substrings included), USCC or ICP number.

use askama::Template;
use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::domain::site::PAGE_SIZE;
use crate::error::AppError;
use crate::http::api::applications::public_view;
use crate::http::extract::session::MaybeSession;
use crate::http::openapi::InvalidFields;
use crate::http::state::AppState;
use crate::http::views::site::PublicSiteView;
use crate::http::web::{Nav, render};
use crate::service::sites;

/// Routes of this area; the document describes `/api/v1/sites`, not the HTML page.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(sites))
        .route("/archive", get(archive))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct SearchQuery {
    /// Substring of a domain, the organization (Chinese included), USCC or ICP number;
    /// case-insensitive, at most 200 characters. Absent or empty: every site.
    q: Option<String>,
    /// 1 to 10000; default 1.
    #[param(minimum = 1, maximum = 10000)]
    page: Option<i64>,
}

/// One page of registry results.
// Fields in alphabetical order: the same bytes as the `json!` object it replaced.
#[derive(Debug, Serialize, ToSchema)]
struct SearchPage {
    /// The page number.
    page: i64,
    /// Results per page; fewer means the last page.
    per_page: i64,
    /// The query as given.
    q: String,
    /// Matching sites, newest first.
    results: Vec<PublicSiteView>,
}

#[derive(Debug, Serialize)]
struct Row {
    site: String,
    organization: String,
    domains: String,
    status: String,
}

async fn find(
    state: &AppState,
    q: &SearchQuery,
) -> Result<(String, i64, Vec<PublicSiteView>), AppError> {
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
    let ids = sites::search(&state.db, &text, page).await?;
    let mut views = Vec::with_capacity(ids.len());
    for id in ids {
        views.push(public_view(state, &id).await?);
    }
    Ok((text, page, views))
}

/// Search the registry
///
/// Public. Certified sites by domain, organization, USCC or ICP number.
#[utoipa::path(
    get,
    path = "/api/v1/sites",
    operation_id = "searchSites",
    tag = "registry",
    params(SearchQuery),
    responses(
        (status = 200, description = "One page of results", body = SearchPage),
        (status = 400, description = "`page` is not an integer (plain text, from the framework)", content_type = "text/plain", body = String),
        (status = 422, description = "`q` too long or `page` out of range", body = InvalidFields),
    )
)]
async fn sites(
    State(state): State<AppState>,
    Query(q): Query<SearchQuery>,
) -> Result<Json<SearchPage>, AppError> {
    let (text, page, views) = find(&state, &q).await?;
    Ok(Json(SearchPage {
        page,
        per_page: PAGE_SIZE,
        q: text,
        results: views,
    }))
}

#[derive(Template)]
#[template(path = "archive.html")]
struct ArchivePage {
    nav: Nav,
    q: String,
    q_url: String,
    page: i64,
    has_next: bool,
    results: Vec<Row>,
}

async fn archive(
    State(state): State<AppState>,
    Query(q): Query<SearchQuery>,
    session: MaybeSession,
) -> Result<Response, AppError> {
    let (text, page, views) = find(&state, &q).await?;
    let results: Vec<Row> = views
        .into_iter()
        .map(|v| Row {
            domains: v.domains.unwrap_or_default().join(", "),
            organization: v.organization.unwrap_or_default(),
            status: v.status.as_str().into(),
            site: v.site,
        })
        .collect();
    let page = ArchivePage {
        nav: Nav::of(session.0.as_ref()),
        q_url: url::form_urlencoded::byte_serialize(text.as_bytes()).collect(),
        q: text,
        page,
        has_next: results.len() as i64 == PAGE_SIZE,
        results,
    };
    Ok(render(StatusCode::OK, &page, None))
}
