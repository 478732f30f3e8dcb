//! Synchronized publication (issue 17): the warnings board members frame on their own
//! sites (`/embed/warnings?lang=zh&limit=5`) and the Atom feed (`/warnings.atom`).
//! Both read the cases fresh ([`crate::service::warnings::board`]) and may be kept
//! by caches for [`MAX_AGE_SECONDS`] at most, so a case staff mark prominent is on
//! both, and on `/warnings`, within a minute.
//!
//! The board is the one page of ours that may be framed, and only by members: its
//! `Content-Security-Policy` names `frame-ancestors 'self'` and every member's
//! registered origin instead of the `'none'` every other page sends
//! ([`crate::http::web::CSP`]). It runs no script, and its one style element is
//! allowed by its hash, not by `'unsafe-inline'`.

use std::sync::LazyLock;

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use serde::Deserialize;

use crate::domain::board::{FEED_ENTRIES, Lang, MAX_AGE_SECONDS, MAX_LIMIT, board_query};
use crate::error::AppError;
use crate::http::state::AppState;
use crate::http::views::board::{CaseView, rfc3339};
use crate::service::warnings as warning;

/// The board and the feed.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/embed/warnings", get(embed))
        .route("/warnings.atom", get(feed))
}

/// The board's whole style sheet, sent in one `<style>` element that the CSP allows
/// by its SHA-256 (see [`board_csp`]). Small, and fluid: the frame's width is the
/// member's.
pub const STYLE: &str = "body{margin:0;padding:8px;font:14px/1.5 system-ui,\"PingFang SC\",\"Microsoft YaHei\",sans-serif;color:#222;background:#fff}\
h1{font-size:15px;margin:0 0 6px;color:#b00020}h1 a{color:inherit;text-decoration:none}\
ul{list-style:none;margin:0;padding:0}li{border-top:1px solid #eee;padding:6px 0}\
li.prominent{background:#fff4f4}.flag{display:inline-block;font-size:12px;color:#fff;background:#b00020;border-radius:3px;padding:0 4px;margin-right:4px}\
a{color:#0645ad}.domain{font-weight:bold;word-break:break-all}.kind,.date{font-size:12px;color:#666}\
p{margin:2px 0}.more{margin-top:6px;font-size:12px}";

/// `'sha256-…'` of [`STYLE`], for `style-src`.
static STYLE_SRC: LazyLock<String> = LazyLock::new(|| {
    let digest = ring::digest::digest(&ring::digest::SHA256, STYLE.as_bytes());
    format!(
        "'sha256-{}'",
        base64::engine::general_purpose::STANDARD.encode(digest.as_ref())
    )
});

/// The board's policy: nothing loads, nothing runs, links only; framed by our own
/// pages and by the `origins` members registered.
pub fn board_csp(origins: &[String]) -> String {
    let mut ancestors = String::from("'self'");
    for o in origins {
        ancestors.push(' ');
        ancestors.push_str(o);
    }
    format!(
        "default-src 'none'; style-src {}; base-uri 'none'; form-action 'none'; frame-ancestors {ancestors}",
        *STYLE_SRC
    )
}

fn max_age() -> HeaderValue {
    HeaderValue::from_str(&format!("public, max-age={MAX_AGE_SECONDS}"))
        .unwrap_or_else(|_| HeaderValue::from_static("no-store"))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct BoardParams {
    lang: Option<String>,
    limit: Option<String>,
}

#[derive(Template)]
#[template(path = "embed-warnings.html")]
struct BoardPage {
    lang: &'static str,
    style: &'static str,
    title: &'static str,
    more: &'static str,
    none: &'static str,
    prominent: &'static str,
    public: String,
    cases: Vec<CaseView>,
}

async fn embed(
    State(state): State<AppState>,
    Query(q): Query<BoardParams>,
) -> Result<Response, AppError> {
    let origins = crate::service::origins::frame_origins(&state).await?;
    let csp = HeaderValue::from_str(&board_csp(&origins))
        .map_err(|e| AppError::Internal(ca::Error::Encoding(e.to_string())))?;
    let q = match board_query(q.lang.as_deref(), q.limit.as_deref()) {
        Ok(q) => q,
        // Said in the member's frame itself (plain text under the board's own policy,
        // not an error page that refuses every frame), so that whoever wrote the
        // `src` sees what to fix.
        Err(message) => {
            return Ok((
                StatusCode::BAD_REQUEST,
                [
                    (
                        CONTENT_TYPE,
                        HeaderValue::from_static("text/plain; charset=utf-8"),
                    ),
                    (CONTENT_SECURITY_POLICY, csp),
                    (X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
                    (CACHE_CONTROL, max_age()),
                ],
                format!("{message} / 参数有误：lang 为 zh 或 en，limit 为 1 到 {MAX_LIMIT}\n"),
            )
                .into_response());
        }
    };
    let public = state.public_base();
    let cases = warning::board(&state, q.limit)
        .await?
        .iter()
        .map(|c| CaseView::new(c, q.lang, &public))
        .collect();
    let l = q.lang;
    let page = BoardPage {
        lang: l.as_str(),
        style: STYLE,
        title: l.pick(
            "诚信联盟 · 仿冒网站警示与重点案例",
            "Chengxin · fraud warnings and prominent cases",
        ),
        more: l.pick("查看全部警示 →", "All warnings →"),
        none: l.pick("暂无警示。", "No warnings."),
        prominent: l.pick("重点", "Prominent"),
        public,
        cases,
    };
    let html = page
        .render()
        .map_err(|e| AppError::Internal(ca::Error::Encoding(e.to_string())))?;
    Ok((
        StatusCode::OK,
        [
            (
                CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (CONTENT_SECURITY_POLICY, csp),
            (X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
            (CACHE_CONTROL, max_age()),
            // The links leave for our site from someone else's page: they say only
            // that they come from us.
            (REFERRER_POLICY, HeaderValue::from_static("strict-origin")),
        ],
        html,
    )
        .into_response())
}

#[derive(Template)]
#[template(path = "warnings.atom", escape = "html")]
struct Feed {
    /// The `tag:` URI's authority: our public host.
    authority: String,
    public: String,
    updated: String,
    entries: Vec<CaseView>,
}

/// The date in every `tag:` URI of the feed (RFC 4151): when the name was ours.
const TAG_DATE: &str = "2026";

async fn feed(State(state): State<AppState>) -> Result<Response, AppError> {
    let public = state.public_base();
    let cases = warning::board(&state, FEED_ENTRIES).await?;
    let updated = cases
        .iter()
        .map(crate::domain::board::Case::updated)
        .max()
        .unwrap_or_else(crate::domain::clock::now);
    let authority = url::Url::parse(&public)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_else(|| "chengxin".into());
    let feed = Feed {
        authority: format!("{authority},{TAG_DATE}"),
        updated: rfc3339(updated),
        entries: cases
            .iter()
            .map(|c| CaseView::new(c, Lang::Zh, &public))
            .collect(),
        public,
    };
    let xml = feed
        .render()
        .map_err(|e| AppError::Internal(ca::Error::Encoding(e.to_string())))?;
    Ok((
        StatusCode::OK,
        [
            (
                CONTENT_TYPE,
                HeaderValue::from_static("application/atom+xml; charset=utf-8"),
            ),
            (X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
            (CACHE_CONTROL, max_age()),
        ],
        xml,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_allows_the_style_by_its_hash_and_the_member_origins_as_ancestors() {
        let csp = board_csp(&[
            "https://www.example.com".into(),
            "http://127.0.0.1:4000".into(),
        ]);
        assert!(csp.contains("style-src 'sha256-"), "{csp}");
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        assert!(!csp.contains("script-src"), "{csp}");
        assert!(
            csp.ends_with("frame-ancestors 'self' https://www.example.com http://127.0.0.1:4000"),
            "{csp}"
        );
    }
}
