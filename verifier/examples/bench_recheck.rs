//! Re-verification benchmark: enrolls N sites (default 10,000), then re-verifies all
//! of them against real loopback servers (dnsmasq for DNS, an axum web server for
//! `http-file` and `html-meta`, a MIIT-shaped ICP server) and prints sites/second,
//! peak resident memory and open file descriptors.
//!
//! Run with `scripts/bench-verifier` (release build).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ca::db::Database;
use ca::identity::{Domain, IcpNumber, Uscc};
use serde_json::{Value, json};
use verifier::config::VerifierSettings;
use verifier::icp::MiitProvider;
use verifier::recheck::{Enrollment, Policy, Rechecker, Scope, enroll};
use verifier::{Challenger, Method, Token};

type BoxResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

struct Web {
    tokens: HashMap<String, String>,
}

fn host_of(headers: &HeaderMap) -> String {
    headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("")
        .split(':')
        .next()
        .unwrap_or("")
        .to_string()
}

async fn well_known(
    State(w): State<Arc<Web>>,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> Response {
    match w.tokens.get(&host_of(&headers)) {
        Some(t) if *t == token => t.clone().into_response(),
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn home(State(w): State<Arc<Web>>, headers: HeaderMap) -> Response {
    match w.tokens.get(&host_of(&headers)) {
        Some(t) => (
            [(header::CONTENT_TYPE, "text/html")],
            format!("<!doctype html><html><head><meta name=\"chengxin-site-verification\" content=\"{t}\"><title>x</title></head><body>hi</body></html>"),
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn miit(State(rows): State<Arc<HashMap<String, Value>>>, body: Bytes) -> Response {
    let q: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let name = q["unitName"].as_str().unwrap_or("");
    let list: Vec<Value> = rows.get(name).cloned().into_iter().collect();
    let total = list.len();
    axum::Json(json!({"code": 200, "msg": "操作成功", "success": true, "params": {
        "endRow": total, "firstPage": 1, "hasNextPage": false, "hasPreviousPage": false, "isFirstPage": true,
        "isLastPage": true, "lastPage": 1, "list": list, "navigatePages": 8, "navigatepageNums": [1], "nextPage": 1,
        "pageNum": 1, "pageSize": 10, "pages": 1, "prePage": 1, "size": total, "startRow": 1, "total": total}}))
    .into_response()
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(|l| l.to_string())
        })
        .and_then(|l| {
            l.split_whitespace()
                .nth(1)
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}

#[tokio::main]
async fn main() -> BoxResult<()> {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    let concurrency: usize = std::env::args()
        .nth(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(64);
    let dir = tempfile::tempdir()?;
    let db = Database::connect(&format!("sqlite://{}/bench.db", dir.path().display())).await?;
    let uscc = Uscc::parse("91110108MA04T7K21H")?;

    let mut zone = testkit::Zone::new();
    let mut tokens = HashMap::new();
    let mut rows = HashMap::new();
    let mut subjects = Vec::with_capacity(n);
    for i in 0..n {
        let domain = format!("bench{i}.cn");
        let token = Token::generate()?;
        let method = Method::ALL[i % 3];
        zone = zone.addr(&domain, "127.0.0.1");
        if method == Method::DnsTxt {
            zone = zone.txt(&format!("_chengxin-challenge.{domain}"), token.as_str());
        }
        tokens.insert(domain.clone(), token.to_string());
        let icp = format!("京ICP备{:08}号-1", 10_000_000 + i);
        rows.insert(domain.clone(), json!({"contentTypeName":"","domain":domain,"domainId":i,"homeUrl":format!("www.{domain}"),
            "leaderName":"","limitAccess":"否","mainId":i,"mainLicence":icp.trim_end_matches("-1"),"natureName":"企业",
            "serviceId":i,"serviceLicence":icp,"serviceName":"基准","unitName":"北京晨曦数智科技有限公司",
            "updateRecordTime":"2019-06-12 10:21:33"}));
        subjects.push((domain, token, method, icp));
    }
    let dns_a = zone.clone().start();
    let dns_b = zone.start();

    let web = Router::new()
        .route(
            "/.well-known/chengxin/{token}",
            axum::routing::get(well_known),
        )
        .route("/", axum::routing::get(home))
        .with_state(Arc::new(Web { tokens }));
    let web_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let web_port = web_listener.local_addr()?.port();
    tokio::spawn(async move { axum::serve(web_listener, web).await });
    let icp_app = Router::new()
        .route(
            "/icpAbbreviateInfo/queryByCondition",
            axum::routing::post(miit),
        )
        .with_state(Arc::new(rows));
    let icp_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let icp_url = format!("http://{}", icp_listener.local_addr()?);
    tokio::spawn(async move { axum::serve(icp_listener, icp_app).await });

    let now = verifier::verdict::now();
    let policy = Policy::default();
    let started = Instant::now();
    for (domain, token, method, icp) in &subjects {
        let e = Enrollment {
            site_id: domain.clone(),
            organization: "北京晨曦数智科技有限公司".into(),
            uscc: Some(uscc.clone()),
            filings: [(domain.clone(), IcpNumber::parse_website(icp)?)].into(),
            domains: vec![Domain::parse(domain)?],
            method: *method,
            token: token.clone(),
            certificate_serial: None,
        };
        let mut tx = db.begin().await?;
        enroll(&mut tx, &e, &policy, now).await?;
        tx.commit().await?;
    }
    println!(
        "enrolled {n} sites in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let settings = VerifierSettings {
        dns_servers: Some(format!("{},{}", dns_a.addr, dns_b.addr)),
        dns_quorum: Some(2),
        http_challenge_port: web_port,
        allow_private_targets: Some("127.0.0.1/32".into()),
        icp_provider: None,
        dns_timeout_secs: 3,
        http_timeout_secs: 10,
        recheck_icp_days: 7,
        recheck_domain_days: 30,
        grace_hours: 72,
        recheck_concurrency: concurrency,
        validation_reuse_days: 30,
    };
    let rechecker = Rechecker {
        db: db.clone(),
        challenger: Challenger::from_settings(&settings)?,
        icp: Some(Arc::new(MiitProvider::new(
            &icp_url,
            None,
            std::time::Duration::from_secs(10),
        )?)),
        ca: None,
        policy,
        concurrency,
    };
    let max_fds = std::sync::atomic::AtomicUsize::new(0);
    let started = Instant::now();
    let summary = rechecker
        .run(Scope::All, now, &|_, _| {
            max_fds.fetch_max(open_fds(), std::sync::atomic::Ordering::Relaxed);
        })
        .await?;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "re-verified {} sites ({} passed, {} retried, {} failing) in {secs:.1} s",
        summary.checked, summary.passed, summary.retried, summary.entered_grace
    );
    if !summary.failures.is_empty() {
        println!(
            "first failures: {:?}",
            &summary.failures[..summary.failures.len().min(3)]
        );
    }
    println!("==== SUMMARY ====");
    println!(
        "  sites/second                 {:>10.0}",
        summary.checked as f64 / secs
    );
    println!(
        "  10,000 sites would take      {:>10.1} s   target < 60 s  {}",
        10_000.0 * secs / summary.checked.max(1) as f64,
        if 10_000.0 * secs / (summary.checked.max(1) as f64) < 60.0 {
            "PASS"
        } else {
            "FAIL"
        }
    );
    println!(
        "  peak resident memory         {:>10.0} MiB",
        peak_rss_mib()
    );
    println!(
        "  most open file descriptors   {:>10}",
        max_fds.load(std::sync::atomic::Ordering::Relaxed)
    );
    println!("  concurrency                  {concurrency:>10}");
    Ok(())
}
