//! The anti-fraud work reports: `/reports` (the list), `/reports/{period}` (the
//! page), and the same report as `.pdf`, `.json` (the published figures, byte for
//! byte) and `.csv`. Published reports never change, so each is served with a
//! strong ETag and may be cached for a day.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use utoipa_axum::router::OpenApiRouter;

use crate::domain::report::{Chart, Figures, Period};
use crate::error::AppError;
use crate::http::extract::session::MaybeSession;
use crate::http::state::AppState;
use crate::http::web::{Nav, render, when};
use crate::service::reports;

/// Routes of this area (HTML and files, not in the API document).
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .route("/reports", get(list))
        .route("/reports/{file}", get(report))
}

/// The newest published report, as the home page links it (until a report is
/// published the home page has no such section).
#[derive(Debug, Clone)]
pub struct ReportLink {
    /// Where the report is (`/reports/2026-Q4`).
    pub href: String,
    /// Its title, zh-CN.
    pub title: String,
    /// Its title, English.
    pub title_en: String,
}

struct Row {
    period: String,
    from: String,
    to: String,
    has_pdf: bool,
}

#[derive(Template)]
#[template(path = "reports.html")]
struct ListPage {
    nav: Nav,
    reports: Vec<Row>,
}

#[derive(Template)]
#[template(path = "report.html")]
struct ReportPage {
    nav: Nav,
    f: Figures,
    charts: Vec<Chart>,
    has_pdf: bool,
    built: String,
}

async fn list(State(state): State<AppState>, session: MaybeSession) -> Result<Response, AppError> {
    let reports = reports::list(&state.db)
        .await?
        .into_iter()
        .filter_map(|r| {
            let (from, to) = Period::parse(&r.period).ok()?.days();
            Some(Row {
                period: r.period,
                from,
                to,
                has_pdf: r.has_pdf,
            })
        })
        .collect();
    let page = ListPage {
        nav: Nav::of(session.0.as_ref()),
        reports,
    };
    Ok(render(StatusCode::OK, &page, None))
}

/// The newest published report, for the home page.
pub async fn latest(state: &AppState) -> Result<Option<ReportLink>, AppError> {
    Ok(reports::list(&state.db).await?.into_iter().next().map(|r| {
        let (title, title_en) = match Period::parse(&r.period) {
            Ok(p) if p.is_quarter() => (
                format!("{} 季度报告", r.period),
                format!("Quarterly report {}", r.period),
            ),
            _ => (
                format!("{} 月度报告", r.period),
                format!("Monthly report {}", r.period),
            ),
        };
        ReportLink {
            href: format!("/reports/{}", r.period),
            title,
            title_en,
        }
    }))
}

/// A published report's file: `2026-Q4` (page), `2026-Q4.pdf`, `.json` or `.csv`.
async fn report(
    State(state): State<AppState>,
    Path(file): Path<String>,
    session: MaybeSession,
) -> Result<Response, AppError> {
    let (name, ext) = match file.rsplit_once('.') {
        Some((n, e)) => (n, Some(e)),
        None => (file.as_str(), None),
    };
    let period = Period::parse(name).map_err(|_| AppError::NotFound)?;
    // The canonical spelling only: one URL per report.
    if period.to_string() != name {
        return Err(AppError::NotFound);
    }
    let Some((figures, stored)) = reports::get(&state.db, period).await? else {
        return Err(AppError::NotFound);
    };
    let etag = |kind: &str| {
        let d = ring::digest::digest(&ring::digest::SHA256, stored.figures.as_bytes());
        format!("\"{kind}-{}\"", hex::encode(&d.as_ref()[..12]))
    };
    let file = |content_type: &'static str, body: Vec<u8>, tag: String| {
        let mut r = (StatusCode::OK, body).into_response();
        let h = r.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        h.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=86400"),
        );
        h.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        if let Ok(v) = HeaderValue::from_str(&tag) {
            h.insert(header::ETAG, v);
        }
        r
    };
    match ext {
        None => {
            let page = ReportPage {
                nav: Nav::of(session.0.as_ref()),
                charts: figures.charts(),
                f: figures,
                has_pdf: stored.has_pdf,
                built: when(stored.built_at),
            };
            Ok(render(StatusCode::OK, &page, None))
        }
        Some("json") => Ok(file(
            "application/json",
            stored.figures.clone().into_bytes(),
            etag("json"),
        )),
        Some("csv") => Ok(file(
            "text/csv; charset=utf-8",
            figures.to_csv().into_bytes(),
            etag("csv"),
        )),
        Some("pdf") => match reports::pdf(&state.db, period).await? {
            Some(pdf) => Ok(file("application/pdf", pdf, etag("pdf"))),
            None => Err(AppError::NotFound),
        },
        Some(_) => Err(AppError::NotFound),
    }
}
