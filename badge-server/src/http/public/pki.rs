//! What relying parties fetch: the chain, the issuing certificate (AIA), CRLs and OCSP.
//!
//! CRLs are sharded: `/crl/{issuer}/{shard}.crl` is the CRL a certificate's
//! distribution point names; `/crl/{issuer}.crl` the legacy one, of the certificates
//! issued before sharding.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;

use crate::error::AppError;
use crate::http::state::AppState;

/// Routes of this area.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/ca/chain.pem", get(chain))
        .route("/ca/{file}", get(issuer_cert))
        .route("/crl/{file}", get(legacy_crl))
        .route("/crl/{issuer}/{file}", get(shard_crl))
        .route("/ocsp", post(ocsp_post))
        .route("/ocsp/{*request}", get(ocsp_get))
}

fn with_type(
    content_type: &'static str,
    cache: &'static str,
    body: impl Into<axum::body::Body>,
) -> Response {
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    (headers, body.into()).into_response()
}

async fn chain(State(state): State<AppState>) -> Response {
    with_type(
        "application/pem-certificate-chain",
        "public, max-age=3600",
        state.ca.chain_pem().to_string(),
    )
}

async fn issuer_cert(
    State(state): State<AppState>,
    Path(file): Path<String>,
) -> Result<Response, AppError> {
    // The current issuing CA, or a retired one its certificates' AIA still names.
    match file
        .strip_suffix(".der")
        .and_then(|slug| state.ca.issuer_by_slug(slug))
    {
        Some(issuer) => Ok(with_type(
            "application/pkix-cert",
            "public, max-age=86400",
            issuer.issuing_der().to_vec(),
        )),
        None => Err(AppError::NotFound),
    }
}

async fn legacy_crl(
    State(state): State<AppState>,
    Path(file): Path<String>,
) -> Result<Response, AppError> {
    let slug = file.strip_suffix(".crl").ok_or(AppError::NotFound)?;
    crl(&state, slug, ca::crl::LEGACY_SHARD).await
}

async fn shard_crl(
    State(state): State<AppState>,
    Path((issuer, file)): Path<(String, String)>,
) -> Result<Response, AppError> {
    let shard = file
        .strip_suffix(".crl")
        .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|n| n.parse::<i64>().ok())
        .ok_or(AppError::NotFound)?;
    crl(&state, &issuer, shard).await
}

async fn crl(state: &AppState, slug: &str, shard: i64) -> Result<Response, AppError> {
    let crl = ca::store::latest_shard_crl(&state.db, slug, shard)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(with_type(
        "application/pkix-crl",
        "public, max-age=60",
        crl.der,
    ))
}

fn ocsp_response(der: Vec<u8>) -> Response {
    metrics::counter!("chengxin_ocsp_answers_total").increment(1);
    with_type("application/ocsp-response", "public, max-age=60", der)
}

/// A client within its OCSP quota ([`crate::config::ServerSettings::ocsp_per_minute`]
/// per IPv4 address or IPv6 /64): a client over it gets 429 with `Retry-After`
/// before anything is read, so a flood from one client neither reaches the database
/// nor crowds out the others.
struct WithinOcspQuota;

impl FromRequestParts<AppState> for WithinOcspQuota {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let ip = crate::http::session::client_ip(parts, state.trust_forwarded_for);
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        if state.ocsp_limiter.allow_from(ip, now) {
            return Ok(WithinOcspQuota);
        }
        metrics::counter!("chengxin_ocsp_limited_total").increment(1);
        Err(AppError::TooMany {
            message: "too many OCSP requests from this client; answers are valid for days: \
                      cache them"
                .into(),
            retry_after: state.ocsp_limiter.retry_after_from(ip, now),
        })
    }
}

async fn ocsp_post(
    State(state): State<AppState>,
    _quota: WithinOcspQuota,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !content_type.starts_with("application/ocsp-request") {
        return Err(AppError::BadRequest(
            "Content-Type must be application/ocsp-request".into(),
        ));
    }
    Ok(ocsp_response(state.ca.answer_ocsp(&body).await.der))
}

/// RFC 6960 appendix A.1: `GET {url}/{url-encoding of base-64 encoding of the DER request}`.
async fn ocsp_get(
    State(state): State<AppState>,
    _quota: WithinOcspQuota,
    Path(request): Path<String>,
) -> Result<Response, AppError> {
    let cleaned: String = request.chars().filter(|c| !c.is_whitespace()).collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(cleaned.as_bytes())
        .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(cleaned.as_bytes()))
        .map_err(|_| AppError::BadRequest("the OCSP request is not base64".into()))?;
    Ok(ocsp_response(state.ca.answer_ocsp(&der).await.der))
}
