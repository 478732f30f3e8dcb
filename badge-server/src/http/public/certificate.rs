//! `GET /cert/{site}`: the certificate page on our own domain, where a seal leads.
//! zh-CN by default; English by `?lang=en` or `Accept-Language`. A banner compares
//! the page that linked here (the `Referer` host) with the certified domains.
//!
//! Its transparency log section lists the site's events with the server's verdict on
//! each inclusion proof, and carries (as `data-` attributes, never inline script)
//! what the first-party checker script (`assets::LOG_VERIFY_JS`) needs to check the
//! proofs and the checkpoint's signature again in the visitor's browser. Without
//! scripts the page says that nothing was checked there.

use askama::Template;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ca::identity::Domain;
use serde::Deserialize;

use crate::domain::site::{SiteStatus, domain_filings};
use crate::error::AppError;
use crate::http::state::AppState;
use crate::http::views::log::{CheckpointView, LogEventView, SiteLogView};
use crate::http::views::text::domain_html;

/// Labels in one language.
struct Texts {
    html_lang: &'static str,
    title: &'static str,
    banner_match: &'static str,
    banner_mismatch_1: &'static str,
    banner_mismatch_2: &'static str,
    banner_unknown: &'static str,
    organization: &'static str,
    uscc: &'static str,
    member: &'static str,
    icp: &'static str,
    icp_query: &'static str,
    location: &'static str,
    domains: &'static str,
    validity: &'static str,
    last_check: &'static str,
    complaints: &'static str,
    complaints_hidden: &'static str,
    complaints_figures: [&'static str; 5],
    serial: &'static str,
    download: &'static str,
    report: &'static str,
    handbook: &'static str,
    other_lang: &'static str,
    other_lang_name: &'static str,
    freshness: &'static str,
    log: LogTexts,
}

/// Labels of the transparency log section.
struct LogTexts {
    intro: &'static str,
    checkpoint: &'static str,
    entries: &'static str,
    root: &'static str,
    none_published: &'static str,
    key: &'static str,
    signature_unchecked: &'static str,
    browser_unchecked: &'static str,
    no_events: &'static str,
    index: &'static str,
    event: &'static str,
    time: &'static str,
    server: &'static str,
    browser: &'static str,
    server_ok: &'static str,
    server_failed: &'static str,
    server_pending: &'static str,
    cell_unchecked: &'static str,
}

const ZH: Texts = Texts {
    html_lang: "zh-CN",
    title: "网站身份证书",
    banner_match: "此印章显示在本证书认证的网站上：",
    banner_mismatch_1: "警告：此印章显示在 ",
    banner_mismatch_2: " 上，本证书并不认证该网站。",
    banner_unknown: "无法判断此印章显示在哪个网站上；请核对浏览器地址栏中的域名是否在下列域名之中。",
    organization: "主办单位",
    uscc: "统一社会信用代码",
    member: "联盟成员",
    icp: "ICP备案号",
    icp_query: "在工信部备案系统查询",
    location: "所在地",
    domains: "认证域名",
    validity: "有效期",
    last_check: "最近核验",
    complaints: "投诉记录（近12个月，不含已撤回和不成立的投诉）",
    complaints_hidden: "投诉少于 5 件，不予公布（不含已撤回和经裁定不成立的投诉）",
    complaints_figures: [
        "收到",
        "按期答复",
        "答复时间中位数（小时）",
        "投诉成立",
        "满意",
    ],
    serial: "证书序列号",
    download: "下载证书 (PEM)",
    report: "举报此网站",
    handbook: "如何识破网络欺诈",
    other_lang: "en",
    other_lang_name: "English",
    freshness: "本页与印章实时反映证书状态：证书被暂停或撤销后，1 秒内所有印章即显示相应状态（浏览器每次显示印章前都会向我们核对）。",
    log: LogTexts {
        intro: "本网站证书的每次签发、暂停、恢复、撤销及每次投诉裁定，都记录在公开、只可追加的透明日志中。任何人都可以核对下列包含证明；本页的脚本也会在您的浏览器中独立核对，无需信任本站服务器。",
        checkpoint: "检查点",
        entries: "条记录",
        root: "根哈希",
        none_published: "尚未发布检查点：下一个检查点发布后即显示证明。",
        key: "日志公钥",
        signature_unchecked: "检查点签名：未在本浏览器核验（脚本未运行）",
        browser_unchecked: "本浏览器核验：未核验（脚本未运行）",
        no_events: "日志中尚无此网站的事件。",
        index: "日志序号",
        event: "事件",
        time: "时间",
        server: "服务器核验",
        browser: "本浏览器核验",
        server_ok: "✓ 服务器已核验",
        server_failed: "✗ 服务器核验未通过",
        server_pending: "尚未收入已发布的检查点",
        cell_unchecked: "未核验（脚本未运行）",
    },
};

const EN: Texts = Texts {
    html_lang: "en",
    title: "Website identity certificate",
    banner_match: "This seal was shown on a site this certificate covers:",
    banner_mismatch_1: "Warning: this seal was shown on ",
    banner_mismatch_2: ", which this certificate does not cover.",
    banner_unknown: "We could not tell where this seal was shown; check that the address bar shows one of the domains below.",
    organization: "Organization",
    uscc: "Unified social credit code",
    member: "Alliance",
    icp: "ICP filing number",
    icp_query: "look it up at MIIT",
    location: "Location",
    domains: "Certified domains",
    validity: "Valid",
    last_check: "Last verification",
    complaints: "Complaints (last 12 months; withdrawn and dismissed ones not counted)",
    complaints_hidden: "fewer than 5: not shown (withdrawn and dismissed complaints are not counted)",
    complaints_figures: [
        "received",
        "answered in time",
        "median hours to answer",
        "upheld",
        "satisfied",
    ],
    serial: "Serial number",
    download: "Download certificate (PEM)",
    report: "Report this site",
    handbook: "How to spot online fraud",
    other_lang: "zh",
    other_lang_name: "中文",
    freshness: "This page and the seal show the certificate's status as it is now: within one second of a hold or revocation every seal shows it (browsers check with us before showing a seal again).",
    log: LogTexts {
        intro: "Every issuance, hold, release and revocation of this site's certificate, and every complaint decision about it, is an entry of a public, append-only transparency log. Anyone can check the inclusion proofs below; this page's script checks them again in your browser, without trusting our server.",
        checkpoint: "Checkpoint",
        entries: "entries",
        root: "root hash",
        none_published: "No checkpoint has been published yet: the proofs appear with the next one.",
        key: "Log key",
        signature_unchecked: "Checkpoint signature: not checked in this browser (scripts off)",
        browser_unchecked: "Checked in this browser: not checked (scripts off)",
        no_events: "The log has no events of this site yet.",
        index: "Log index",
        event: "Event",
        time: "Time",
        server: "Checked by the server",
        browser: "Checked in this browser",
        server_ok: "✓ checked by the server",
        server_failed: "✗ the server's check failed",
        server_pending: "not in a published checkpoint yet",
        cell_unchecked: "not checked (scripts off)",
    },
};

/// What the page says about the Referer.
enum Banner {
    Match(String),
    Mismatch(String),
    Unknown,
}

/// One event of the log section, as the page shows it and its script reads it.
struct LogRow {
    event: LogEventView,
    /// The kind in Chinese and in English.
    label: (&'static str, &'static str),
    /// The time, UTC+8.
    when: String,
    /// The proof's hashes, space-separated base64 (`None` before publication).
    proof: Option<String>,
}

/// The transparency log section.
struct LogSection {
    checkpoint: Option<CheckpointView>,
    /// The note's bytes, base64: an attribute keeps them exactly (line ends and all).
    note_b64: String,
    verifier_key: String,
    rows: Vec<LogRow>,
    /// Where the page's checker script is.
    script: &'static str,
}

impl LogSection {
    fn new(log: SiteLogView) -> LogSection {
        let note_b64 = log
            .checkpoint
            .as_ref()
            .map(|c| STANDARD.encode(c.note.as_bytes()))
            .unwrap_or_default();
        LogSection {
            checkpoint: log.checkpoint,
            note_b64,
            verifier_key: log.verifier_key,
            rows: log
                .events
                .into_iter()
                .map(|event| LogRow {
                    label: event.kind.label(),
                    when: date_time(event.time),
                    proof: event.proof.as_ref().map(|p| p.join(" ")),
                    event,
                })
                .collect(),
            script: crate::http::public::assets::log_verify_path(),
        }
    }
}

#[derive(Template)]
#[template(path = "cert.html")]
struct CertPage {
    /// Header state.
    nav: crate::http::web::Nav,
    t: &'static Texts,
    banner: Banner,
    site: String,
    primary: String,
    /// The primary domain as HTML that wraps only after dots.
    primary_html: String,
    status: String,
    status_text: String,
    reason: Option<String>,
    /// When a revoked or suspended certificate was revoked (UTC+8 date).
    revoked: Option<String>,
    organization: String,
    uscc: String,
    /// Each filing number with the domains it covers (one entry: the number alone),
    /// the domains as HTML that wraps only after dots.
    filings: Vec<(String, Vec<String>)>,
    province: String,
    city: String,
    /// As HTML that wraps only after dots.
    domains: Vec<String>,
    not_before: String,
    not_after: String,
    last_check: String,
    reputation: Option<crate::domain::complaint::Reputation>,
    serial: String,
    fingerprint: String,
    log: LogSection,
    /// Demonstration data (`serve --demo`): the page says so first.
    demo: bool,
    /// The label of the conventions row, in the page's language.
    conventions_label: &'static str,
    /// The conventions the organization signed (its latest signature of each).
    conventions: Vec<SignedConvention>,
    /// When the organization is a member of the alliance: the row, in the page's
    /// language ("联盟成员单位（自 2026-12-03 起）").
    membership: Option<String>,
}

/// A convention on the certificate page: title, link, and the version signed.
struct SignedConvention {
    id: i64,
    title: String,
    /// `第 2 版` / `version 2`, and that a newer one is out.
    signed: String,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct PageQuery {
    lang: Option<String>,
}

fn date(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .map(|t| t.to_offset(time::macros::offset!(+8)).date().to_string())
        .unwrap_or_default()
}

/// A time as the page shows it: `2026-12-03 12:00:05 (UTC+8)`.
fn date_time(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .map(|t| {
            let t = t.to_offset(time::macros::offset!(+8));
            format!(
                "{} {:02}:{:02}:{:02} (UTC+8)",
                t.date(),
                t.hour(),
                t.minute(),
                t.second()
            )
        })
        .unwrap_or_default()
}

pub(crate) fn status_text(status: SiteStatus, en: bool) -> &'static str {
    match (status, en) {
        (SiteStatus::Certified, false) => "有效",
        (SiteStatus::Certified, true) => "valid",
        (SiteStatus::Suspended, false) => "已暂停",
        (SiteStatus::Suspended, true) => "suspended",
        (SiteStatus::Revoked, false) => "已撤销",
        (SiteStatus::Revoked, true) => "revoked",
        (SiteStatus::Expired, false) => "已过期",
        (SiteStatus::Expired, true) => "expired",
        (SiteStatus::Pending | SiteStatus::Validated, false) => "未认证",
        (SiteStatus::Pending | SiteStatus::Validated, true) => "not certified",
    }
}

/// The certificate's filing numbers, each with the domains it covers, in domain
/// order. With one number for every domain the page shows just the number.
fn filing_groups(record: &ca::store::CertificateRecord) -> Vec<(String, Vec<String>)> {
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    for (domain, icp) in domain_filings(record) {
        let shown = domain_html(&Domain::parse(&domain).map_or(domain, |d| d.to_unicode()));
        match groups.iter_mut().find(|(n, _)| *n == icp) {
            Some((_, ds)) => ds.push(shown),
            None => groups.push((icp, vec![shown])),
        }
    }
    if let [(_, domains)] = groups.as_mut_slice() {
        domains.clear();
    }
    groups
}

/// Renders the page for `site`.
pub(crate) async fn page(
    state: &AppState,
    site: &str,
    q: &PageQuery,
    headers: &HeaderMap,
    nav: crate::http::web::Nav,
) -> Result<Response, AppError> {
    let en = match q.lang.as_deref() {
        Some("en") => true,
        Some(_) => false,
        None => headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("en")),
    };
    let t = if en { &EN } else { &ZH };
    let site_cert = crate::service::sites::site_certificate(&state.db, site).await?;
    let record = site_cert.certificate.ok_or(AppError::NotFound)?;
    let domains: Vec<Domain> = serde_json::from_str::<Vec<String>>(&record.domains)
        .unwrap_or_default()
        .iter()
        .filter_map(|d| Domain::parse(d).ok())
        .collect();
    let banner = match crate::http::extract::referer::referer_host(headers).map(|h| {
        if state.demo {
            crate::demo::referer_site_host(&h).to_string()
        } else {
            h.into_owned()
        }
    }) {
        Some(h) if domains.iter().any(|d| d.covers(&h)) => Banner::Match(h),
        Some(h) => Banner::Mismatch(h),
        None => Banner::Unknown,
    };
    // The latest verification run: every check made within an hour of the newest
    // (domain control by its method, and the ICP filing), each with its verdict.
    let recent = match domains.first() {
        Some(d) => verifier::store::recent(&state.db, d.as_str(), 10).await?,
        None => Vec::new(),
    };
    let last_check = match recent.first() {
        None => "—".to_string(),
        Some(newest) => {
            let mut seen: Vec<String> = Vec::new();
            for e in recent.iter().filter(|e| newest.at - e.at < 3600) {
                let item = format!("{} {}", e.check, e.verdict.as_str());
                if !seen.iter().any(|s| s.starts_with(&format!("{} ", e.check))) {
                    seen.push(item);
                }
            }
            format!("{} ({})", date(newest.at), seen.join(", "))
        }
    };
    let reputation = crate::service::complaints::reputation(
        state,
        site,
        time::OffsetDateTime::now_utc().unix_timestamp(),
    )
    .await?;
    let status = site_cert.status;
    let filings = filing_groups(&record);
    let log = state.services.log.site_events(&state.db, site).await?;
    let conventions = crate::service::conventions::signed_by(state, &record.uscc)
        .await?
        .into_iter()
        .map(|s| SignedConvention {
            signed: match (en, s.outdated()) {
                (false, false) => format!("第 {} 版", s.version),
                (false, true) => format!(
                    "签署了第 {} 版，当前为第 {} 版",
                    s.version, s.current_version
                ),
                (true, false) => format!("version {}", s.version),
                (true, true) => format!(
                    "signed version {}; current: {}",
                    s.version, s.current_version
                ),
            },
            id: s.convention_id,
            title: s.title,
        })
        .collect();
    let membership = crate::service::members::of_organization(&state.db, &record.uscc)
        .await?
        .map(|m| {
            if en {
                format!("Member of the alliance since {}", date(m.created_at))
            } else {
                format!("联盟成员单位（自 {} 起）", date(m.created_at))
            }
        });
    // A signed-in visitor's page carries the logout form's token: kept out of
    // every cache.
    let private = nav.account.is_some();
    let page = CertPage {
        nav,
        t,
        banner,
        site: site.to_string(),
        primary: domains.first().map(Domain::to_unicode).unwrap_or_default(),
        primary_html: domain_html(&domains.first().map(Domain::to_unicode).unwrap_or_default()),
        status_text: status_text(status, en).to_string(),
        status: status.as_str().into(),
        revoked: record.revoked_at.map(date),
        reason: record
            .revocation_reason
            .and_then(ca::RevocationReason::from_code)
            .map(|r| r.name().to_string()),
        organization: record.organization,
        uscc: record.uscc,
        filings,
        province: record.province,
        city: record.city,
        domains: domains
            .iter()
            .map(|d| {
                let u = d.to_unicode();
                if u == d.as_str() {
                    domain_html(&u)
                } else {
                    format!("{} ({})", domain_html(&u), domain_html(d.as_str()))
                }
            })
            .collect(),
        not_before: date(record.not_before),
        not_after: date(record.not_after),
        last_check,
        reputation,
        serial: hex::encode(&record.serial),
        fingerprint: record
            .sha256
            .as_deref()
            .map(hex::encode)
            .unwrap_or_default(),
        log: LogSection::new(log.into()),
        demo: site_cert.demo,
        conventions_label: if en {
            "Conventions signed"
        } else {
            "已签署的自律公约"
        },
        conventions,
        membership,
    };
    let html = page
        .render()
        .map_err(|e| AppError::Internal(ca::Error::Encoding(e.to_string())))?;
    let mut r = (StatusCode::OK, Html(html)).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; img-src 'self'; frame-ancestors 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::VARY,
        HeaderValue::from_static("Referer, Accept-Language"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(if private { "no-store" } else { "no-cache" }),
    );
    Ok(r)
}
