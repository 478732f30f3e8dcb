//! All routes, merged from one router per area.

use std::sync::OnceLock;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::openapi;
use crate::http::state::AppState;
use crate::http::{api, pages, public};

/// Largest request body accepted by every route but the attachment uploads (an OCSP
/// request is a few hundred bytes). The uploads are merged in after this limit is
/// layered on, and read their bodies with the configured attachment size
/// ([`crate::domain::attachment::AttachmentLimits`]) instead: a tower layer cannot be
/// loosened further in, only tightened.
pub const MAX_BODY: usize = 64 * 1024;

/// Longest a request is worked on before it is answered 408.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// `Strict-Transport-Security` of every answer when the public URL is https: browsers
/// come back only over https for a year.
pub const HSTS: &str = "max-age=31536000";

/// The areas whose operations the OpenAPI document describes (the JSON API under
/// `/api/v1`, and `/cert/{site}.json`), with the document they add up to. Their other
/// routes (`/archive`, `/cert/{site}` pages) ride along undocumented.
pub(crate) fn documented() -> OpenApiRouter<AppState> {
    // JSON answers carry accounts, complaints and evidence: no cache keeps them
    // unless a handler says otherwise (`/cert/{site}.json` is public).
    let no_store = SetResponseHeaderLayer::if_not_present(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-store"),
    );
    OpenApiRouter::with_openapi(openapi::frame())
        .merge(api::me::router())
        .merge(api::webhook::router())
        .merge(api::applications::router())
        .merge(public::cert::router())
        .merge(public::archive::router())
        .merge(public::places::router())
        .merge(api::complaints::router())
        .merge(api::warnings::router())
        .merge(api::events::router())
        .merge(api::conventions::router())
        .merge(api::members::router())
        .merge(api::origins::router())
        .merge(api::watch::router())
        .merge(api::exchange::router())
        .merge(api::records::router())
        .merge(api::rechecks::router())
        .merge(api::staff_sites::router())
        .merge(api::settings::router())
        .routes(routes!(serve))
        .layer(RequestBodyLimitLayer::new(MAX_BODY))
        .merge(api::complaints::uploads())
        .merge(api::records::uploads())
        .layer(no_store)
}

/// Every route, without state or middleware other than the body limits and the
/// error pages.
///
/// The static-file-like answers (seal, PKI files, log tiles, health) are merged
/// outside [`negotiate`](crate::http::error::negotiate): no browser navigates to
/// them, their errors stay plain, and a per-request middleware there cost the seal
/// some 5 µs of CPU per request (`scripts/bench-seal`: its boxed future is large
/// enough to make glibc's malloc consolidate on every request).
pub fn routes() -> Router<AppState> {
    let (documented, _) = documented().split_for_parts();
    let files = Router::new()
        .merge(public::health::router())
        .merge(public::log::router())
        .merge(public::pki::router())
        .merge(public::seal::router())
        .layer(RequestBodyLimitLayer::new(MAX_BODY));
    let pages = Router::new()
        .merge(public::home::router())
        .merge(public::assets::router())
        .merge(public::reports::router())
        .merge(public::board::router())
        .merge(pages::accounts::router())
        .merge(pages::portal::router())
        .merge(pages::console::router())
        .merge(pages::rechecks::router())
        .merge(pages::staff_sites::router())
        .merge(pages::events::router())
        .merge(pages::conventions::router())
        .merge(pages::settings::router())
        .merge(pages::complaints::router())
        .layer(RequestBodyLimitLayer::new(MAX_BODY))
        // Limited as they should be already (see `documented`).
        .merge(documented)
        .merge(pages::complaints::uploads())
        .fallback(crate::http::error::no_route)
        // Errors as pages for browsers, as JSON for everyone else.
        .layer(axum::middleware::from_fn(crate::http::error::negotiate));
    files.merge(pages)
}

/// Builds the application.
pub fn build(state: AppState) -> Router {
    // The document is built now, not on the first request.
    json();
    let https = state.public_url.starts_with("https://");
    layered(routes().with_state(state), https)
}

/// `routes` inside the layers every routed request passes: its debug span, HSTS when
/// served over https, the metrics, and the [`REQUEST_TIMEOUT`].
fn layered(routes: Router, https: bool) -> Router {
    // Served over https, browsers are told to come back only over https (a year).
    let hsts = https.then(|| {
        SetResponseHeaderLayer::if_not_present(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(HSTS),
        )
    });
    // One stack, layered on the routes at once: axum wraps every route in each layer
    // given to `Router::layer` separately, and each wrapping costs a clone of the
    // boxed route and a boxed future per request; four layers given one by one cost
    // four of each on every request. (The listener answers seals before this router:
    // `http::edge`.)
    let stack = tower::ServiceBuilder::new()
        // The span names the method and the path, never the query: links carry their
        // one-time tokens there (`/password/reset?token=…`), which went to the log at
        // debug level.
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<_>| {
                tracing::debug_span!("request", method = %req.method(), path = %req.uri().path())
            }),
        )
        // Outside the timeout, so that its 408 carries HSTS and is counted, as the
        // edge's is.
        .layer(tower::util::option_layer(hsts))
        // Every route's requests counted and timed by its template.
        .layer(crate::http::metrics::HttpMetricsLayer)
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ));
    routes.layer(stack)
}

/// The document, built from the routers that serve the operations it describes.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = documented().into_openapi();
    doc.components.get_or_insert_default().add_security_scheme(
        openapi::BEARER,
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("cx_<base64url>")
                .description(Some(
                    "An API token from `badge-server token create`: `Authorization: Bearer cx_…`",
                ))
                .build(),
        ),
    );
    doc
}

/// The document as JSON, serialized once per process.
pub fn json() -> Bytes {
    static JSON: OnceLock<Bytes> = OnceLock::new();
    JSON.get_or_init(|| {
        Bytes::from(serde_json::to_vec(&document()).expect("the OpenAPI document serializes"))
    })
    .clone()
}

/// The OpenAPI document
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    operation_id = "getOpenApi",
    tag = "meta",
    responses((status = 200, description = "The OpenAPI 3.1 document of this API", body = Object))
)]
pub(crate) async fn serve() -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        json(),
    )
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::Request;
    use axum::routing::get;
    use tower::ServiceExt as _;

    use super::*;

    /// A request still worked on at [`REQUEST_TIMEOUT`] is answered 408 then, with
    /// HSTS over https, and counted under its route (the clock is tokio's paused one,
    /// which jumps to the next timer).
    #[tokio::test(start_paused = true)]
    async fn a_request_still_worked_on_at_the_timeout_is_answered_408() {
        const ROUTE: &str = "/test-only/slow";
        for https in [false, true] {
            let slow = Router::new().route(ROUTE, get(std::future::pending::<&str>));
            let started = tokio::time::Instant::now();
            let r = layered(slow, https)
                .oneshot(Request::get(ROUTE).body(Body::empty()).unwrap())
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::REQUEST_TIMEOUT);
            // Not before; the timer's millisecond may round up.
            let waited = started.elapsed();
            assert!(
                waited >= REQUEST_TIMEOUT && waited <= REQUEST_TIMEOUT + Duration::from_millis(1)
            );
            assert_eq!(
                r.headers().contains_key(header::STRICT_TRANSPORT_SECURITY),
                https
            );
        }
        let mut metrics = crate::http::metrics::Exposition::default();
        metrics.http();
        let counted =
            format!("chengxin_http_requests_total{{route=\"{ROUTE}\",status=\"4xx\"}} 2\n");
        assert!(metrics.into_text().contains(&counted), "{counted}");
    }
}
