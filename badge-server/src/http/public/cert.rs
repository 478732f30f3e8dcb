//! Public, unauthenticated views of certified sites: the certificate as PEM and
//! JSON, and the URL check visitors paste a link into.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use utoipa::{IntoParams, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::AppError;
use crate::http::api::applications::public_view;
use crate::http::extract::session::MaybeSession;
use crate::http::openapi::{ErrorBody, InvalidFields};
use crate::http::state::AppState;
use crate::http::views::site::{CertificateView, Checked};
use crate::http::web::Nav;
use crate::service::sites;

/// Routes of this area. Of `/cert/{file}`, the document describes the JSON face only.
pub fn router() -> OpenApiRouter<AppState> {
    let mut router = OpenApiRouter::new()
        .routes(routes!(check))
        .route("/cert/{file}", get(certificate));
    router.get_openapi_mut().merge(CertificateJson::openapi());
    router
}

#[derive(OpenApi)]
#[openapi(paths(certificate))]
struct CertificateJson;

/// A certified site, as JSON
///
/// Public. The same facts as the certificate page at `/cert/{site}`, with the site's
/// events in the transparency log: each entry, its inclusion proof against the newest
/// published checkpoint and whether the server found that proof good, the checkpoint
/// (a signed note) and the log's verifier key, so that anyone can check both again.
/// `/cert/{site}.pem` is the certificate itself.
#[utoipa::path(
    get,
    path = "/cert/{site}.json",
    operation_id = "getCertificateJson",
    tag = "registry",
    params(("site" = String, Path, description = "Site id (`s_…`)")),
    responses(
        (status = 200, description = "The site and its log events", body = CertificateView),
        (status = 404, description = "No such site", body = ErrorBody),
    )
)]
// One handler serves `/cert/{site}.pem`, `/cert/{site}.json` and the HTML page at
// `/cert/{site}`; the document describes the JSON.
async fn certificate(
    State(state): State<AppState>,
    Path(file): Path<String>,
    Query(page): Query<crate::http::public::certificate::PageQuery>,
    headers: axum::http::HeaderMap,
    session: MaybeSession,
) -> Result<Response, AppError> {
    if let Some(site) = file.strip_suffix(".json") {
        let public = public_view(&state, site).await?;
        let log = state.services.log.site_events(&state.db, site).await?;
        return Ok(Json(CertificateView {
            public,
            transparency_log: log.into(),
        })
        .into_response());
    }
    if let Some(site) = file.strip_suffix(".pem") {
        let der = sites::site_certificate(&state.db, site)
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
    let nav = Nav::of(session.0.as_ref());
    crate::http::public::certificate::page(&state, &file, &page, &headers, nav).await
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct CheckQuery {
    /// Any URL or bare host name, at most 2048 characters.
    #[param(example = "https://www.chenxi-shuzhi.cn/about")]
    url: String,
}

/// Check a URL
///
/// Public. `warned` (a published fraud warning), `certified` (or the covering site's other state), or `not_certified`, for
/// any URL a visitor pastes. A host is covered by a site that certifies it or one of its
/// parent domains.
#[utoipa::path(
    get,
    path = "/api/v1/check",
    operation_id = "checkUrl",
    tag = "registry",
    params(CheckQuery),
    responses(
        (status = 200, description = "The verdict for the URL's host", body = Checked),
        (status = 400, description = "No `url` parameter (plain text, from the framework)", content_type = "text/plain", body = String),
        (status = 422, description = "Not a URL, too long, or a host that cannot be certified", body = InvalidFields),
    )
)]
async fn check(
    State(state): State<AppState>,
    Query(q): Query<CheckQuery>,
) -> Result<Json<Checked>, AppError> {
    let checked = crate::service::check::check(&state, &q.url).await?;
    Ok(Json(Checked::new(checked, &state.public_base())))
}
