//! The alliance's front door: the home page `/` (what the seal means, the URL check
//! box, live figures, the latest fraud warnings and report, how to apply and how to
//! complain), the check box's answer `/check` (the answer of `/api/v1/check`, the
//! same service call and view, as a page), and the citizens' handbook `/handbook`
//! 《如何识破网络欺诈》 with the latest published warnings as examples. None of them
//! needs a script; the handbook prints cleanly (`base.html`'s print style).

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use serde::Deserialize;

use crate::domain::site::{MAX_CHECK_URL, SiteStatus};
use crate::error::AppError;
use crate::http::extract::session::MaybeSession;
use crate::http::public::certificate::status_text;
use crate::http::public::reports::ReportLink;
use crate::http::state::AppState;
use crate::http::views::site::Checked;
use crate::http::views::warning::WarningRow;
use crate::http::web::{Nav, render};
use crate::service::{check, figures, warnings};

/// Warnings the home page and the handbook show (the rest are on `/warnings`).
pub const LATEST_WARNINGS: i64 = 3;
/// Characters of a warning's description the home page shows.
const SUMMARY_CHARS: usize = 80;

/// Routes of this area.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/check", get(check))
        .route("/handbook", get(handbook))
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    nav: Nav,
    /// Certified sites, revocations, upheld complaints, warnings: `<5` below five.
    figures: [String; 4],
    window_days: i64,
    warnings: Vec<(WarningRow, String)>,
    /// The newest report (none yet: the section is left out).
    latest_report: Option<ReportLink>,
    /// The check box's contents (empty).
    url: &'static str,
    max_url: usize,
}

/// What the check box found, as the page says it.
struct Answer {
    /// `ok`, `error` or `neutral`: the colour.
    class: &'static str,
    /// `certified`, `suspended`, `revoked`, `expired`, `warned` or `not_certified`.
    result: String,
    zh: String,
    en: String,
    organization: Option<String>,
    /// The certificate page of the covering site.
    certificate: Option<String>,
    warning: Option<WarningRow>,
}

#[derive(Template)]
#[template(path = "check.html")]
struct CheckPage {
    nav: Nav,
    url: String,
    answer: Option<Answer>,
    /// Why the input was refused (the 422 page).
    problem: Option<String>,
    max_url: usize,
}

#[derive(Template)]
#[template(path = "handbook.html")]
struct HandbookPage {
    nav: Nav,
    /// The public base URL: printed after links.
    base: String,
    /// The host certificate pages are on: what the address bar must show.
    host: String,
    warnings: Vec<WarningRow>,
    /// The check box's contents (empty).
    url: &'static str,
    max_url: usize,
}

fn now() -> i64 {
    crate::domain::clock::now()
}

async fn home(State(state): State<AppState>, session: MaybeSession) -> Result<Response, AppError> {
    let counted = figures::count(&state.db, now()).await?;
    let warnings = warnings::latest(&state, LATEST_WARNINGS)
        .await?
        .into_iter()
        .map(|w| {
            let row = WarningRow::from(w);
            let summary = row.summary(SUMMARY_CHARS);
            (row, summary)
        })
        .collect();
    let page = HomePage {
        nav: Nav::of(session.0.as_ref()),
        figures: counted.shown(),
        window_days: figures::WINDOW_DAYS,
        warnings,
        latest_report: crate::http::public::reports::latest(&state).await?,
        url: "",
        max_url: MAX_CHECK_URL,
    };
    Ok(render(StatusCode::OK, &page, None))
}

#[derive(Debug, Default, Deserialize)]
struct CheckQuery {
    url: Option<String>,
}

/// The answer of the check box as the page says it, from the API's own view.
fn answer(checked: Checked) -> Answer {
    let unicode = |h: &str| {
        ca::identity::Domain::parse(h)
            .map(|d| d.to_unicode())
            .unwrap_or_else(|_| h.to_string())
    };
    match checked {
        Checked::Covered {
            certificate_url,
            host,
            organization,
            result,
            ..
        } => {
            let host = unicode(&host);
            let (class, zh, en) = if result == SiteStatus::Certified {
                (
                    "ok",
                    format!("已认证：{host} 属于经本联盟认证的网站。"),
                    format!("Certified: {host} belongs to a site the alliance certified."),
                )
            } else {
                (
                    "error",
                    format!(
                        "注意：{host} 所属网站的证书{}，其印章已不再代表认证。",
                        status_text(result, false)
                    ),
                    format!(
                        "Caution: the certificate of the site {host} belongs to is {}: its seal no longer stands for a certification.",
                        status_text(result, true)
                    ),
                )
            };
            Answer {
                class,
                result: result.as_str().to_string(),
                zh,
                en,
                organization,
                certificate: certificate_url,
                warning: None,
            }
        }
        Checked::Warned { host, warning, .. } => {
            let host = unicode(&host);
            Answer {
                class: "error",
                result: "warned".into(),
                zh: format!("警告：{host} 已列入仿冒网站警示。请勿在该网站付款或填写个人信息。"),
                en: format!(
                    "Warning: {host} is on the fraud-warning list. Do not pay or enter personal data there."
                ),
                organization: None,
                certificate: None,
                warning: Some(warning.into()),
            }
        }
        Checked::NotCertified { host, .. } => {
            let host = unicode(&host);
            Answer {
                class: "neutral",
                result: "not_certified".into(),
                zh: format!(
                    "{host} 未经本联盟认证。这并不说明它一定是欺诈网站，但它页面上的任何“诚信认证”印章都不是真的。"
                ),
                en: format!(
                    "{host} is not certified by the alliance. That does not prove it is a fraud, but any Chengxin seal it shows is not genuine."
                ),
                organization: None,
                certificate: None,
                warning: None,
            }
        }
    }
}

/// The check box's answer: 200 with the verdict, 422 naming what is accepted when the
/// input is no URL or domain; without `url`, the empty form.
async fn check(
    State(state): State<AppState>,
    Query(q): Query<CheckQuery>,
    session: MaybeSession,
) -> Result<Response, AppError> {
    let nav = Nav::of(session.0.as_ref());
    let Some(url) = q.url else {
        let page = CheckPage {
            nav,
            url: String::new(),
            answer: None,
            problem: None,
            max_url: MAX_CHECK_URL,
        };
        return Ok(render(StatusCode::OK, &page, None));
    };
    let (status, answer, problem) = match check::check(&state, &url).await {
        Ok(c) => (
            StatusCode::OK,
            Some(answer(Checked::new(c, &state.public_base()))),
            None,
        ),
        Err(AppError::Invalid(fields)) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
            Some(
                fields
                    .into_iter()
                    .map(|(_, m)| m)
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
        ),
        Err(e) => return Err(e),
    };
    let page = CheckPage {
        nav,
        // Shown again in the box, cut to what the box takes.
        url: url.chars().take(MAX_CHECK_URL).collect(),
        answer,
        problem,
        max_url: MAX_CHECK_URL,
    };
    Ok(render(status, &page, None))
}

async fn handbook(
    State(state): State<AppState>,
    session: MaybeSession,
) -> Result<Response, AppError> {
    let base = state.public_base();
    let host = url::Url::parse(&base)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_else(|| base.clone());
    let warnings = warnings::latest(&state, LATEST_WARNINGS)
        .await?
        .into_iter()
        .map(WarningRow::from)
        .collect();
    let page = HandbookPage {
        nav: Nav::of(session.0.as_ref()),
        base,
        host,
        warnings,
        url: "",
        max_url: MAX_CHECK_URL,
    };
    Ok(render(StatusCode::OK, &page, None))
}
