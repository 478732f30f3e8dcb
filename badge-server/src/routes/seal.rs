//! `GET /seal/{site}.svg`: the embedded seal. Site facts are cached for one second
//! (so a revocation shows within a second on every replica without a database query
//! per request), the answer carries an ETag, and a `Referer` host that the
//! certificate does not cover gets the "not certified for this site" seal and is
//! recorded for staff.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use ca::identity::Domain;
use ca::on_pool;
use serde::Deserialize;

use crate::application;
use crate::error::AppError;
use crate::seal::{Lang, SealState, Size, render_svg};
use crate::state::AppState;

/// How long site facts are reused before the database is asked again.
pub const FRESHNESS: Duration = Duration::from_secs(1);

/// Routes of this area.
pub fn router() -> Router<AppState> {
    Router::new().route("/seal/{file}", get(seal))
}

/// What a seal needs to know about a site.
#[derive(Debug, Clone)]
struct SiteFacts {
    status: String,
    domains: Vec<Domain>,
}

/// Site facts by site id, each with the time it was read.
#[derive(Debug, Default)]
pub struct SealCache {
    entries: Mutex<HashMap<String, (Instant, Option<SiteFacts>)>>,
}

impl SealCache {
    fn get(&self, site: &str) -> Option<Option<SiteFacts>> {
        let map = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.get(site)
            .filter(|(at, _)| at.elapsed() < FRESHNESS)
            .map(|(_, f)| f.clone())
    }
    fn put(&self, site: &str, facts: Option<SiteFacts>) {
        let mut map = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.len() > 200_000 {
            map.retain(|_, (at, _)| at.elapsed() < FRESHNESS);
        }
        map.insert(site.to_string(), (Instant::now(), facts));
    }
}

#[derive(Debug, Default, Deserialize)]
struct SealQuery {
    lang: Option<String>,
    size: Option<String>,
}

async fn facts(state: &AppState, site: &str) -> Result<Option<SiteFacts>, AppError> {
    if let Some(f) = state.seal_cache.get(site) {
        return Ok(f);
    }
    let facts = match application::site_certificate(&state.db, site).await {
        Ok(sc) => Some(SiteFacts {
            domains: sc
                .certificate
                .map(|c| serde_json::from_str::<Vec<String>>(&c.domains).unwrap_or_default())
                .unwrap_or_default()
                .iter()
                .filter_map(|d| Domain::parse(d).ok())
                .collect(),
            status: sc.status,
        }),
        Err(AppError::NotFound) => None,
        Err(e) => return Err(e),
    };
    state.seal_cache.put(site, facts.clone());
    Ok(facts)
}

async fn seal(
    State(state): State<AppState>,
    Path(file): Path<String>,
    Query(q): Query<SealQuery>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let site = file.strip_suffix(".svg").ok_or(AppError::NotFound)?;
    let lang = match q.lang.as_deref() {
        None | Some("zh") => Lang::Zh,
        Some("en") => Lang::En,
        Some(other) => {
            return Err(AppError::BadRequest(format!(
                "lang must be zh or en, not {other:?}"
            )));
        }
    };
    let size = match q.size.as_deref() {
        None | Some("m") => Size::Medium,
        Some("s") => Size::Small,
        Some("l") => Size::Large,
        Some(other) => {
            return Err(AppError::BadRequest(format!(
                "size must be s, m or l, not {other:?}"
            )));
        }
    };
    let facts = facts(&state, site).await?;
    let referer_host = super::referer_host(&headers);
    let (seal_state, shown) = match &facts {
        None => (SealState::Unknown, String::from("—")),
        Some(f) => {
            let primary = f
                .domains
                .first()
                .map(Domain::to_unicode)
                .unwrap_or_default();
            let copied = match &referer_host {
                Some(host) => !f.domains.iter().any(|d| d.covers(host)),
                None => false,
            };
            if copied {
                if let Some(host) = referer_host.clone() {
                    record_copy(&state, site, &host);
                }
                (SealState::NotThisSite, primary)
            } else {
                (SealState::from_status(&f.status), primary)
            }
        }
    };
    let today = time::OffsetDateTime::now_utc()
        .to_offset(time::macros::offset!(+8))
        .date()
        .to_string();
    let svg = render_svg(seal_state, &shown, &today, lang, size);
    metrics::counter!("chengxin_seals_served_total", "state" => format!("{seal_state:?}"))
        .increment(1);
    let etag = format!(
        "\"{}\"",
        hex::encode(&ring::digest::digest(&ring::digest::SHA256, svg.as_bytes()).as_ref()[..12])
    );
    let mut h = HeaderMap::new();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("image/svg+xml; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(header::VARY, HeaderValue::from_static("Referer"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    let status = if facts.is_none() {
        StatusCode::NOT_FOUND
    } else {
        StatusCode::OK
    };
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        == Some(etag.as_str())
    {
        return Ok((StatusCode::NOT_MODIFIED, h).into_response());
    }
    Ok((status, h, svg).into_response())
}

/// Records a copied seal off the request path.
fn record_copy(state: &AppState, site: &str, host: &str) {
    let db = state.db.clone();
    let (site, host) = (site.to_string(), host.chars().take(253).collect::<String>());
    tokio::spawn(async move {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let r = on_pool!(&db, |p| {
            sqlx::query(
            "INSERT INTO seal_copies (site_id, host, first_seen, last_seen, hits) VALUES ($1, $2, $3, $3, 1) \
             ON CONFLICT (site_id, host) DO UPDATE SET last_seen = excluded.last_seen, hits = seal_copies.hits + 1"
        )
        .bind(&site)
        .bind(&host)
        .bind(now)
        .execute(p)
        .await
        .map(|_| ())
        });
        if let Err(e) = r {
            tracing::warn!(error = %e, %site, %host, "could not record a copied seal");
        }
    });
}
