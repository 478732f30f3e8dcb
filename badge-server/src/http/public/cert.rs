//! Public, unauthenticated views of certified sites: the certificate as PEM and
//! JSON, and the URL check visitors paste a link into.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::domain::site::SiteStatus;
use crate::error::AppError;
use crate::http::api::applications::{public_view, site_view};
use crate::http::openapi::{ErrorBody, InvalidFields};
use crate::http::state::AppState;
use crate::http::views::site::CertificateView;
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
    crate::http::public::certificate::page(&state, &file, &page, &headers).await
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct CheckQuery {
    /// Any URL or bare host name, at most 2048 characters.
    #[param(example = "https://www.chenxi-shuzhi.cn/about")]
    url: String,
}

/// Whether a URL's host is covered by a certified site.
// Fields in alphabetical order: the same bytes as the `json!` objects they replaced.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
enum Checked {
    /// A site covers the host.
    Covered {
        /// The site's certificate page.
        #[schema(required = true)]
        certificate_url: Option<String>,
        /// The host, normalized to A-labels.
        host: String,
        /// The certified organization.
        #[schema(required = true)]
        organization: Option<String>,
        /// The site's state: `certified`, `suspended`, `revoked` or `expired`.
        result: SiteStatus,
        /// Site id.
        site: String,
        /// The URL as given, trimmed.
        url: String,
    },
    /// The host is on the fraud-warning list.
    Warned {
        /// The host, normalized to A-labels.
        host: String,
        /// `warned`.
        #[schema(value_type = String, example = "warned")]
        result: &'static str,
        /// The URL as given, trimmed.
        url: String,
        /// The warning.
        warning: crate::domain::warning::Warning,
    },
    /// No site covers the host.
    NotCertified {
        /// The host, normalized to A-labels.
        host: String,
        /// `not_certified`.
        #[schema(value_type = String, example = "not_certified")]
        result: &'static str,
        /// The URL as given, trimmed.
        url: String,
    },
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
    // An impersonator is named as such even under a certified parent domain.
    if let Some(warning) = crate::service::warnings::for_host(&state, &host).await? {
        return Ok(Json(Checked::Warned {
            host: host.as_str().to_string(),
            result: "warned",
            url: raw.to_string(),
            warning,
        }));
    }
    let labels: Vec<&str> = host.as_str().split('.').collect();
    for i in 0..labels.len().saturating_sub(1) {
        let candidate = labels[i..].join(".");
        if let Some(site) = sites::for_domain(&state.db, &candidate).await? {
            let view = site_view(&state, &site).await?;
            return Ok(Json(Checked::Covered {
                certificate_url: view.public.certificate_url,
                host: host.as_str().to_string(),
                organization: view.public.organization,
                result: view.public.status,
                site,
                url: raw.to_string(),
            }));
        }
    }
    Ok(Json(Checked::NotCertified {
        host: host.as_str().to_string(),
        result: "not_certified",
        url: raw.to_string(),
    }))
}
