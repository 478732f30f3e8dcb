//! The official place list an application's province and city must come from
//! (`GET /api/v1/places`): what the portal's select boxes offer and what a refusal
//! points API clients to.

use axum::Json;
use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::domain::places::{Province, provinces};
use crate::http::state::AppState;

/// Routes of this area.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list))
}

/// The official province and city list
///
/// Public. Every province (省/自治区/直辖市) with its GB/T 2260 code and its cities
/// (市/州/盟), from the alliance's seed document: an application's `province` and
/// `city` must be one of these pairs, written exactly so.
#[utoipa::path(
    get,
    path = "/api/v1/places",
    operation_id = "listPlaces",
    tag = "registry",
    responses((status = 200, description = "31 provinces, in the source's order", body = Vec<Province>))
)]
async fn list() -> impl IntoResponse {
    (
        // The list changes only with a release.
        [(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=86400"),
        )],
        Json(provinces()),
    )
}
