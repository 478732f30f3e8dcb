//! The demo's web pages (`serve --demo` only), on a loopback listener of their own:
//! `http://<demo-domain>.localhost:<port>/` is that demo site's home page with its
//! seal snippet, any other host the copycat page that shows the first demo site's
//! seal where it does not belong. Every page carries the "演示 Demo" banner.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};

use crate::demo::{COPYCAT_HOST, LOCALHOST};

/// One certified demo site, as its page shows it.
#[derive(Debug, Clone)]
pub struct DemoPage {
    /// Its certified domain.
    pub domain: String,
    /// The page title.
    pub title: String,
    /// Its site id.
    pub site: String,
}

#[derive(Debug)]
struct Pages {
    sites: Vec<DemoPage>,
    base: String,
}

/// The router of the demo listener: every path of a host gets that host's page.
pub fn router(sites: Vec<DemoPage>, base: &str) -> Router {
    let pages = Arc::new(Pages {
        sites,
        base: base.trim_end_matches('/').to_string(),
    });
    Router::new().fallback(page).with_state(pages)
}

/// Where a demo page is: `http://<host>.localhost:<port>/`.
pub fn page_url(host: &str, port: u16) -> String {
    format!("http://{host}{LOCALHOST}:{port}/")
}

/// The copycat page's URL.
pub fn copycat_url(port: u16) -> String {
    page_url(COPYCAT_HOST, port)
}

const BANNER: &str = "<p class=\"demo\" id=\"demo-banner\">演示 Demo — 本页是诚信 Chengxin 的演示网站，不是真实的网站或商家。This is a demonstration page of Chengxin, not a real website or business.</p>";

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:40rem;margin:1rem auto;padding:0 1rem;line-height:1.5}\
.demo{background:#fff8c5;color:#6f4e00;border:1px solid #d4a72c;padding:.6rem .8rem;border-radius:6px;font-weight:600}";

async fn page(State(pages): State<Arc<Pages>>, headers: HeaderMap) -> Response {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(|h| h.rsplit_once(':').map_or(h, |(name, _)| name))
        .unwrap_or_default()
        .to_ascii_lowercase();
    let named = crate::demo::referer_site_host(&host);
    let own = pages.sites.iter().find(|s| s.domain == named);
    let body = match (own, pages.sites.first()) {
        (Some(site), _) => {
            let snippet = snippet(&pages.base, site);
            format!(
                "<h1>{title}</h1>\n<p>这是 {domain} 的主页（演示）。下面的印章由诚信服务器提供：本页地址是 {domain}{LOCALHOST}，演示服务器把它当作 {domain}，所以印章显示“网站身份已验证”。点击印章查看证书。</p>\n\
                 <p>The home page of {domain} (demo). The seal below comes from the Chengxin server: this page's address is {domain}{LOCALHOST}, which the demo server reads as {domain}, so the seal says “Verified”. Click it for the certificate.</p>\n<p id=\"seal\">{snippet}</p>",
                title = site.title,
                domain = site.domain,
            )
        }
        (None, Some(victim)) => {
            let snippet = snippet(&pages.base, victim);
            format!(
                "<h1>仿冒页面 Copycat page</h1>\n<p>本页复制了 {domain} 的印章代码。印章服务器看到它显示在别的网站上，因此显示“非本站认证”。</p>\n\
                 <p>This page copied the seal snippet of {domain}. The seal server sees it shown on another site, so it says “Not certified for this site”.</p>\n<p id=\"seal\">{snippet}</p>",
                domain = victim.domain,
            )
        }
        (None, None) => String::from("<p>No demo site.</p>"),
    };
    let html = format!(
        "<!doctype html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>演示 Demo</title><style>{STYLE}</style></head>\n<body>\n{BANNER}\n{body}\n</body></html>\n"
    );
    let mut r = Html(html).into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// The site's default snippet (SVG, Chinese, medium), as the portal hands it out.
fn snippet(base: &str, site: &DemoPage) -> String {
    crate::domain::seal::variants(base, &site.site, &site.domain)
        .into_iter()
        .next()
        .map(|v| v.snippet)
        .unwrap_or_default()
}
