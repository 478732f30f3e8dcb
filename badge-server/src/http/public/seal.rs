//! `GET /seal/{site}.svg`, `.png` and `@2x.png`: the embedded seal.
//!
//! The hot path touches no database: site facts are reused for one second (so a
//! revocation shows within a second on every replica), rendered bytes come from the
//! renderer's cache, and a `Referer` host that the certificate does not cover gets the
//! "not certified for this site" seal and is counted in memory, written to
//! `seal_copies` for staff by a background flush.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use ca::db::Database;
use ca::identity::Domain;
use ca::on_pool;
use serde::Deserialize;

use crate::domain::seal::{Format, Lang, Seal, SealState, Size};
use crate::error::AppError;
use crate::http::state::AppState;

/// How long site facts are reused before the database is asked again.
pub const FRESHNESS: Duration = Duration::from_secs(1);

/// Site facts held at once. Facts live for [`FRESHNESS`], so this only needs to
/// cover the distinct sites asked for within one second; it bounds memory when a
/// load is spread over every site.
const MAX_FACTS: usize = 20_000;

/// Copied-seal hosts kept on record per site. Anyone can send a seal request with
/// a made-up `Referer`; without a cap each one would be a new row for ever. A
/// thousand hosts are more than staff read, and a host already on record keeps
/// being counted. At the cap a new host takes the place of the weakest candidate
/// (seen in one hour only, fewest sightings, oldest), never of a confirmed host.
pub const MAX_COPIES_PER_SITE: i64 = 1_000;

/// Distinct hours a host must be seen in before staff see it (a burst of forged
/// Referers, however large, is one hour).
pub const CONFIRM_HOURS: i64 = 2;

/// Distinct (site, host) copies held in memory between flushes; beyond this new
/// hosts are dropped (and logged) rather than letting forged `Referer`s grow memory.
const MAX_PENDING_COPIES: usize = 10_000;

/// Routes of this area.
pub fn router() -> Router<AppState> {
    Router::new().route("/seal/{file}", get(seal))
}

/// What a seal needs to know about a site.
#[derive(Debug)]
struct SiteFacts {
    status: String,
    domains: Vec<Domain>,
    /// The first domain as the seal shows it.
    shown: Arc<str>,
}

/// Facts (or their absence: an unknown site) and when they were read.
type Fresh = (Instant, Option<Arc<SiteFacts>>);

#[derive(Debug, Clone, Copy)]
struct CopySeen {
    first: i64,
    last: i64,
    hits: i64,
}

/// Site facts by site id, each with the time it was read, and the copies seen
/// since the last flush.
#[derive(Debug)]
pub struct SealCache {
    facts: Mutex<HashMap<String, Fresh>>,
    copies: Mutex<HashMap<(String, String), CopySeen>>,
    /// Seals being drawn at once: two per core (one draws while the other waits on
    /// its blocking thread to be scheduled).
    renders: tokio::sync::Semaphore,
}

impl Default for SealCache {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
        SealCache {
            facts: Mutex::default(),
            copies: Mutex::default(),
            renders: tokio::sync::Semaphore::new(2 * cores),
        }
    }
}

impl SealCache {
    fn get(&self, site: &str) -> Option<Option<Arc<SiteFacts>>> {
        let map = self.facts.lock().unwrap_or_else(PoisonError::into_inner);
        map.get(site)
            .filter(|(at, _)| at.elapsed() < FRESHNESS)
            .map(|(_, f)| f.clone())
    }

    fn put(&self, site: &str, facts: Option<Arc<SiteFacts>>) {
        let mut map = self.facts.lock().unwrap_or_else(PoisonError::into_inner);
        if map.len() >= MAX_FACTS {
            // Entries older than FRESHNESS are never used again; only a load of more
            // than MAX_FACTS distinct sites a second starts over.
            map.retain(|_, (at, _)| at.elapsed() < FRESHNESS);
            if map.len() >= MAX_FACTS {
                map.clear();
            }
        }
        map.insert(site.to_string(), (Instant::now(), facts));
    }

    fn saw_copy(&self, site: &str, host: &str) {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let mut map = self.copies.lock().unwrap_or_else(PoisonError::into_inner);
        let key = (site.to_string(), host.chars().take(253).collect::<String>());
        if let Some(seen) = map.get_mut(&key) {
            seen.last = now;
            seen.hits += 1;
        } else if map.len() < MAX_PENDING_COPIES {
            map.insert(
                key,
                CopySeen {
                    first: now,
                    last: now,
                    hits: 1,
                },
            );
        } else {
            tracing::warn!(%site, %host, "too many copied-seal hosts pending; dropped one");
        }
    }

    /// Writes the copies seen since the last call to `seal_copies`; how many were
    /// recorded. A host on record is counted (and one more hour of sightings noted
    /// when the clock hour changed); a new one is inserted while the site has fewer
    /// than [`MAX_COPIES_PER_SITE`], else in place of the weakest unconfirmed host
    /// with no more sightings than it, else not at all.
    pub async fn flush_copies(&self, db: &Database) -> Result<usize, AppError> {
        let pending =
            std::mem::take(&mut *self.copies.lock().unwrap_or_else(PoisonError::into_inner));
        let mut recorded = 0;
        for ((site, host), seen) in pending {
            let counted = on_pool!(db, |p| {
                sqlx::query(
                "UPDATE seal_copies SET hits = hits + $3, last_seen = $4, \
                 hours_seen = hours_seen + CASE WHEN $4 / 3600 > last_seen / 3600 THEN 1 ELSE 0 END \
                 WHERE site_id = $1 AND host = $2"
            )
            .bind(&site)
            .bind(&host)
            .bind(seen.hits)
            .bind(seen.last)
            .execute(p)
            .await
            .map(|r| r.rows_affected())
            ?
            });
            if counted == 1 {
                recorded += 1;
                continue;
            }
            let insert = || async {
                on_pool!(db, |p| {
                    sqlx::query(
                    "INSERT INTO seal_copies (site_id, host, first_seen, last_seen, hits, hours_seen) \
                     SELECT $1, $2, $3, $4, $5, 1 \
                     WHERE (SELECT COUNT(*) FROM seal_copies WHERE site_id = $1) < $6 \
                     ON CONFLICT (site_id, host) DO NOTHING"
                )
                .bind(&site)
                .bind(&host)
                .bind(seen.first)
                .bind(seen.last)
                .bind(seen.hits)
                .bind(MAX_COPIES_PER_SITE)
                .execute(p)
                .await
                .map(|r| r.rows_affected())
                .map_err(ca::Error::from)
                })
            };
            let mut inserted = insert().await?;
            if inserted == 0 {
                let evicted = on_pool!(db, |p| {
                    sqlx::query(
                    "DELETE FROM seal_copies WHERE site_id = $1 AND host = (SELECT host FROM seal_copies \
                     WHERE site_id = $1 AND hours_seen < $2 AND hits <= $3 \
                     ORDER BY hits, last_seen LIMIT 1)"
                )
                .bind(&site)
                .bind(CONFIRM_HOURS)
                .bind(seen.hits)
                .execute(p)
                .await
                .map(|r| r.rows_affected())
                ?
                });
                if evicted == 1 {
                    inserted = insert().await?;
                }
            }
            if inserted == 0 {
                tracing::warn!(%site, %host, "site has {MAX_COPIES_PER_SITE} stronger copied-seal hosts on record; not recording another");
            } else {
                recorded += 1;
            }
        }
        Ok(recorded)
    }

    /// Flushes copies every `every` until the process ends.
    pub async fn run_flusher(self: Arc<Self>, db: Database, every: Duration) {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            if let Err(e) = self.flush_copies(&db).await {
                tracing::warn!(error = %e, "could not record copied seals");
            }
        }
    }
}

#[derive(Debug, Default, Deserialize)]
struct SealQuery {
    lang: Option<String>,
    size: Option<String>,
}

async fn facts(state: &AppState, site: &str) -> Result<Option<Arc<SiteFacts>>, AppError> {
    if let Some(f) = state.seal_cache.get(site) {
        return Ok(f);
    }
    let facts = match crate::service::sites::site_certificate(&state.db, site).await {
        Ok(sc) => {
            let domains: Vec<Domain> = sc
                .certificate
                .map(|c| serde_json::from_str::<Vec<String>>(&c.domains).unwrap_or_default())
                .unwrap_or_default()
                .iter()
                .filter_map(|d| Domain::parse(d).ok())
                .collect();
            let shown = domains
                .first()
                .map(|d| state.seals.display_domain(d))
                .unwrap_or_default();
            Some(Arc::new(SiteFacts {
                status: sc.status.as_str().into(),
                domains,
                shown: shown.into(),
            }))
        }
        Err(AppError::NotFound) => None,
        Err(e) => return Err(e),
    };
    state.seal_cache.put(site, facts.clone());
    Ok(facts)
}

/// `{site}.svg`, `{site}.png` or `{site}@2x.png`.
fn parse_file(file: &str) -> Option<(&str, Format)> {
    if let Some(site) = file.strip_suffix(".svg") {
        Some((site, Format::Svg))
    } else if let Some(site) = file.strip_suffix("@2x.png") {
        Some((site, Format::Png { scale: 2 }))
    } else {
        file.strip_suffix(".png")
            .map(|site| (site, Format::Png { scale: 1 }))
    }
}

/// Reads the path and query from the URI itself: the path segment is borrowed rather
/// than copied, and the query is only parsed when there is one (an embedded default
/// seal has none).
async fn seal(
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let file = uri
        .path()
        .strip_prefix("/seal/")
        .ok_or(AppError::NotFound)?;
    let (site, format) = parse_file(file).ok_or(AppError::NotFound)?;
    let q: SealQuery = match uri.query() {
        Some(query) => serde_urlencoded::from_str(query)
            .map_err(|e| AppError::BadRequest(format!("query: {e}")))?,
        None => SealQuery::default(),
    };
    let lang = Lang::parse(q.lang.as_deref()).map_err(AppError::BadRequest)?;
    let size = Size::parse(q.size.as_deref()).map_err(AppError::BadRequest)?;
    let facts = facts(&state, site).await?;
    let referer_host = crate::http::extract::referer::referer_host(&headers);
    let (seal_state, domain) = match &facts {
        None => (SealState::Unknown, Arc::from("—")),
        // Shown on a host the certificate does not cover: a copy, whatever the state.
        Some(f) => match referer_host.as_deref() {
            Some(host) if !f.domains.iter().any(|d| d.covers(host)) => {
                state.seal_cache.saw_copy(site, host);
                (SealState::NotThisSite, f.shown.clone())
            }
            _ => (SealState::from_status(&f.status), f.shown.clone()),
        },
    };
    let key = Seal {
        state: seal_state,
        domain,
        date: time::OffsetDateTime::now_utc()
            .to_offset(time::macros::offset!(+8))
            .date(),
        lang,
        size,
        format,
    };
    let rendered = match state.seals.cached(&key) {
        Some(r) => r,
        None => {
            // Drawing is CPU-bound: more draws at once than cores only adds blocking
            // threads (and their allocator arenas, which is where a load spread over
            // every site used to push resident memory towards 100 MiB).
            let _permit = state
                .seal_cache
                .renders
                .acquire()
                .await
                .map_err(|e| ca::Error::Config(format!("seal renderer: {e}")))?;
            let seals = state.seals.clone();
            tokio::task::spawn_blocking(move || seals.get(&key))
                .await
                .map_err(|e| ca::Error::Config(format!("seal renderer: {e}")))?
                .map_err(|e| ca::Error::Config(e.to_string()))?
        }
    };
    served_counter(seal_state).increment(1);
    let mut h = HeaderMap::with_capacity(6);
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    // Browsers and shared caches may keep the bytes but must ask again before each
    // use (a 304 when the ETag still matches, which costs us as little as a hit): a
    // hold or revocation then reaches every visitor within FRESHNESS (1 s), as the
    // certificate page says. `max-age=60` let a revoked seal stay green for a minute.
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, no-cache"),
    );
    h.insert(header::VARY, HeaderValue::from_static("Referer"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::ETAG, rendered.etag.clone());
    if headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| matches_etag(v, &rendered.etag))
    {
        return Ok((StatusCode::NOT_MODIFIED, h).into_response());
    }
    let status = if facts.is_none() {
        StatusCode::NOT_FOUND
    } else {
        StatusCode::OK
    };
    Ok((status, h, rendered.bytes.clone()).into_response())
}

/// Whether `If-None-Match` names `etag` (a list, weak or strong, or `*`).
fn matches_etag(if_none_match: &HeaderValue, etag: &HeaderValue) -> bool {
    let etag = etag.as_bytes();
    if_none_match.as_bytes().split(|b| *b == b',').any(|tag| {
        let tag = tag.trim_ascii();
        let tag = tag.strip_prefix(b"W/").unwrap_or(tag);
        tag == etag || tag == b"*"
    })
}

/// The served-seals counter of `state`, registered once: building a labelled key and
/// looking it up in the recorder on every request costs more than the rest of a
/// cached seal.
fn served_counter(state: SealState) -> &'static metrics::Counter {
    static COUNTERS: std::sync::OnceLock<Vec<metrics::Counter>> = std::sync::OnceLock::new();
    let counters = COUNTERS.get_or_init(|| {
        SealState::ALL
            .iter()
            .map(|s| metrics::counter!("chengxin_seals_served_total", "state" => seal_state_name(*s)))
            .collect()
    });
    let i = SealState::ALL.iter().position(|s| *s == state).unwrap_or(0);
    &counters[i]
}

fn seal_state_name(s: SealState) -> &'static str {
    match s {
        SealState::Certified => "certified",
        SealState::Suspended => "suspended",
        SealState::Revoked => "revoked",
        SealState::Expired => "expired",
        SealState::Unknown => "unknown",
        SealState::NotThisSite => "not_this_site",
    }
}
