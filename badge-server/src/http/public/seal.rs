//! `GET /seal/{site}.svg`, `.png` and `@2x.png`: the embedded seal.
//!
//! The hot path touches no database: site facts are kept until a change to the site
//! shows up in `seal_changes` (so a revocation shows within a fraction of a second on
//! every replica, see [`crate::service::seals`]), rendered bytes come from the
//! renderer's cache, and a `Referer` host that the certificate does not cover gets the
//! "not certified for this site" seal and is counted in memory, written to
//! `seal_copies` for staff by a background flush.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Response, StatusCode, Uri, header};
use axum::response::IntoResponse;
use axum::routing::get;
use http_body_util::{BodyExt, Full};
use serde::Deserialize;

use crate::domain::seal::{Coding, Format, Lang, Rendered, Seal, SealState, Size};
use crate::error::AppError;
use crate::http::state::AppState;
use crate::service::seals::SiteFacts;

/// Routes of this area.
pub fn router() -> Router<AppState> {
    Router::new().route("/seal/{file}", get(seal))
}

#[derive(Debug, Default, Deserialize)]
struct SealQuery {
    lang: Option<String>,
    size: Option<String>,
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

/// The route: the request is borrowed whole (axum's `HeaderMap` extractor copies
/// every header). The listener answers most seal requests before routing them
/// ([`crate::http::edge`]), with [`answer`] too.
async fn seal(State(state): State<AppState>, req: Request) -> Response<Full<Bytes>> {
    answer(&state, req.uri(), req.headers()).await
}

/// The seal for a `GET` (or `HEAD`) of `uri` with `headers`, errors included (plain,
/// as for every static-file-like answer). Reads the path and query from the URI
/// itself: the path segment is borrowed rather than copied, and the query is only
/// parsed when there is one (an embedded default seal has none).
pub async fn answer(state: &AppState, uri: &Uri, headers: &HeaderMap) -> Response<Full<Bytes>> {
    match drawn(state, uri, headers).await {
        Ok(response) => response,
        Err(e) => {
            let (parts, body) = e.into_response().into_parts();
            // An error page is a few hundred bytes, made at once.
            let bytes = body
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            Response::from_parts(parts, Full::new(bytes))
        }
    }
}

/// The seal when the caches hold all it needs — the site's facts, the drawing (an
/// SVG is drawn here, in microseconds) and the coding asked for — else `None`: then
/// [`answer`] waits for what is missing (and answers errors). This is what a page
/// view of a certified site costs: nothing awaited, no future boxed, no timer set.
pub fn answer_now(
    state: &AppState,
    uri: &Uri,
    headers: &HeaderMap,
) -> Option<Response<Full<Bytes>>> {
    respond(state, uri, headers, &Known::default()).ok()?.ok()
}

/// What [`respond`] was given beyond the caches (each once waited for).
#[derive(Default)]
struct Known {
    /// The site's facts, read from the database.
    facts: Option<Option<Arc<SiteFacts>>>,
    /// The drawing, made off the workers.
    rendered: Option<Arc<Rendered>>,
}

/// What answering a seal waits for.
enum Pending<'u> {
    /// The facts of this site are not cached.
    Facts(&'u str),
    /// A PNG not drawn yet.
    Draw(Seal),
    /// The drawing, not yet in the coding the client takes.
    Encode(Arc<Rendered>, Coding),
}

/// Most rounds of waiting a seal needs: its facts, its drawing, its coding.
const MAX_WAITS: usize = 3;

async fn drawn(
    state: &AppState,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<Response<Full<Bytes>>, AppError> {
    let mut known = Known::default();
    // Each round gives what the last one waited for, so the last round answers.
    for _ in 0..=MAX_WAITS {
        match respond(state, uri, headers, &known)? {
            Ok(response) => return Ok(response),
            Err(Pending::Facts(site)) => {
                known.facts = Some(state.seal_cache.facts(state, site).await?);
            }
            Err(Pending::Draw(key)) => {
                let seals = state.seals.clone();
                known.rendered = Some(off_workers(state, move || seals.get(&key)).await?);
            }
            Err(Pending::Encode(rendered, coding)) => {
                // The first client of the day to take this coding: compress once.
                let r = rendered.clone();
                off_workers(state, move || r.encode(coding)).await?;
                known.rendered = Some(rendered);
            }
        }
    }
    Err(ca::Error::Config("the seal was not ready after its waits".into()).into())
}

/// The site and format a seal's path names.
fn site_of(uri: &Uri) -> Option<(&str, Format)> {
    parse_file(uri.path().strip_prefix("/seal/")?)
}

/// The seal from the caches and `known`, or what it waits for. Counts the seal (its
/// state, a copy's host, a fetch without a `Referer`) only when it answers.
fn respond<'u>(
    state: &AppState,
    uri: &'u Uri,
    headers: &HeaderMap,
    known: &Known,
) -> Result<Result<Response<Full<Bytes>>, Pending<'u>>, AppError> {
    let (site, format) = site_of(uri).ok_or(AppError::NotFound)?;
    let q: SealQuery = match uri.query() {
        Some(query) => serde_urlencoded::from_str(query)
            .map_err(|e| AppError::BadRequest(format!("query: {e}")))?,
        None => SealQuery::default(),
    };
    let lang = Lang::parse(q.lang.as_deref()).map_err(AppError::BadRequest)?;
    let size = Size::parse(q.size.as_deref()).map_err(AppError::BadRequest)?;
    let Some(facts) = known
        .facts
        .clone()
        .or_else(|| state.seal_cache.cached(site))
    else {
        return Ok(Err(Pending::Facts(site)));
    };
    let now = time::OffsetDateTime::now_utc();
    let referer_host = crate::http::extract::referer::referer_host(headers);
    // `serve --demo` only: a demo page at `<domain>.localhost` stands for `<domain>`.
    let referer_host = referer_host.as_deref().map(|h| {
        if state.demo {
            crate::demo::referer_site_host(h)
        } else {
            h
        }
    });
    // What this fetch is counted as, once answered.
    enum Seen<'h> {
        Copy(&'h str),
        WithoutReferer,
        Plain,
    }
    let (seal_state, domain, seen) = match &facts {
        None => (SealState::Unknown, Arc::from("—"), Seen::Plain),
        // Shown on a host the certificate does not cover: a copy, whatever the state.
        Some(f) => match referer_host {
            Some(host) if !f.domains.iter().any(|d| d.covers(host)) => {
                if is_own_host(state, host) {
                    // The operator portal's preview: our own pages show the seal as
                    // it stands (a browser cannot send our origin from elsewhere).
                    (
                        SealState::from_status(f.status(now.unix_timestamp())),
                        f.shown(),
                        Seen::Plain,
                    )
                } else {
                    (SealState::NotThisSite, f.shown(), Seen::Copy(host))
                }
            }
            Some(_) => (
                SealState::from_status(f.status(now.unix_timestamp())),
                f.shown(),
                Seen::Plain,
            ),
            // No page named: a certified seal does not vouch, it asks the visitor to
            // compare the domain with the address bar; bad news is shown as ever.
            None => match SealState::from_status(f.status(now.unix_timestamp())) {
                SealState::Certified => (SealState::CheckAddress, f.shown(), Seen::WithoutReferer),
                other => (other, f.shown(), Seen::Plain),
            },
        },
    };
    let key = Seal {
        state: seal_state,
        domain,
        date: now.to_offset(time::macros::offset!(+8)).date(),
        lang,
        size,
        format,
    };
    // An SVG is put together from cached glyph paths in microseconds: here, as a load
    // spread over every site needs (`get` looks in the cache first; drawing it off the
    // connection's thread cost 40% more CPU per request and more memory). A PNG is
    // rasterised: off the workers.
    let rendered = match &known.rendered {
        Some(r) => r.clone(),
        None if format == Format::Svg => state
            .seals
            .get(&key)
            .map_err(|e| ca::Error::Config(e.to_string()))?,
        None => match state.seals.cached(&key) {
            Some(r) => r,
            None => return Ok(Err(Pending::Draw(key))),
        },
    };
    let coding = crate::http::encoding::negotiate(
        headers.get_all(header::ACCEPT_ENCODING),
        rendered.codings(),
    );
    if let Some(c) = coding
        && rendered.encoded(c).is_none()
    {
        return Ok(Err(Pending::Encode(rendered, c)));
    }
    match seen {
        Seen::Copy(host) => state.seal_cache.saw_copy(site, host),
        Seen::WithoutReferer => state.seal_cache.saw_without_referer(site),
        Seen::Plain => {}
    }
    served_counter(seal_state).increment(1);
    let (coding, body, etag) = rendered.body(coding);
    let not_modified = headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| matches_etag(v, etag));
    let (status, body) = if not_modified {
        (StatusCode::NOT_MODIFIED, Bytes::new())
    } else if facts.is_none() {
        (StatusCode::NOT_FOUND, body.clone())
    } else {
        (StatusCode::OK, body.clone())
    };
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    // Written into the response's own map, sized once: a map built beside it and
    // merged in cost four allocations per seal instead of two.
    let h = response.headers_mut();
    h.reserve(7);
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    // Browsers and shared caches may keep the bytes but must ask again before each
    // use (a 304 when the ETag still matches, which costs us as little as a hit): a
    // hold or revocation then reaches every visitor within CHANGE_POLL and a read, as the
    // certificate page says. `max-age=60` let a revoked seal stay green for a minute.
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, no-cache"),
    );
    // The bytes depend on the Referer (a copy) and, for SVG, on the coding.
    h.insert(
        header::VARY,
        HeaderValue::from_static("Accept-Encoding, Referer"),
    );
    if let Some(c) = coding {
        h.insert(
            header::CONTENT_ENCODING,
            HeaderValue::from_static(c.token()),
        );
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::ETAG, etag.clone());
    Ok(Ok(response))
}

/// Runs CPU-bound seal work (drawing, compressing) on a blocking thread within the
/// drawing permits: more at once than cores only adds blocking threads (and their
/// allocator arenas, which is where a load spread over every site used to push
/// resident memory towards 100 MiB).
async fn off_workers<T: Send + 'static>(
    state: &AppState,
    work: impl FnOnce() -> Result<T, crate::domain::seal::SealError> + Send + 'static,
) -> Result<T, AppError> {
    let _permit = state
        .seal_cache
        .renders()
        .acquire()
        .await
        .map_err(|e| ca::Error::Config(format!("seal renderer: {e}")))?;
    Ok(tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ca::Error::Config(format!("seal renderer: {e}")))?
        .map_err(|e| ca::Error::Config(e.to_string()))?)
}

/// Whether `host` is this server's own public host (parsed only on the copy path).
fn is_own_host(state: &AppState, host: &str) -> bool {
    url::Url::parse(&state.public_url)
        .ok()
        .and_then(|u| u.host_str().map(|h| h.eq_ignore_ascii_case(host)))
        .unwrap_or(false)
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
        SealState::CheckAddress => "check_address",
    }
}
