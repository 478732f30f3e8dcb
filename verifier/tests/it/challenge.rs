//! Domain control against real DNS and HTTP servers on loopback, SSRF included.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ca::identity::Domain;
use testkit::{DnsServer, Zone};
use verifier::config::VerifierSettings;
use verifier::{Challenger, Method, Token, Verdict};

/// What the loopback web server answers for (host, path).
#[derive(Clone)]
enum Page {
    Body(&'static str, String),
    Redirect(u16, String),
    Huge,
    Slow(Duration),
}

#[derive(Clone, Default)]
struct Site {
    pages: Arc<HashMap<(String, String), Page>>,
}

async fn serve_page(
    State(site): State<Site>,
    headers: HeaderMap,
    Path(path): Path<String>,
) -> Response {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("")
        .split(':')
        .next()
        .unwrap_or("")
        .to_string();
    match site.pages.get(&(host, format!("/{path}"))) {
        Some(Page::Body(ct, body)) => ([(header::CONTENT_TYPE, *ct)], body.clone()).into_response(),
        Some(Page::Redirect(code, to)) => (
            StatusCode::from_u16(*code).unwrap(),
            [(header::LOCATION, to.clone())],
        )
            .into_response(),
        Some(Page::Huge) => "x".repeat(4 * 1024 * 1024).into_response(),
        Some(Page::Slow(d)) => {
            tokio::time::sleep(*d).await;
            "late".into_response()
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

pub(crate) fn settings(
    dns: &[&DnsServer],
    quorum: Option<usize>,
    http_port: u16,
    allow: Option<&str>,
) -> VerifierSettings {
    VerifierSettings {
        dns_servers: Some(
            dns.iter()
                .map(|d| d.addr.to_string())
                .collect::<Vec<_>>()
                .join(","),
        ),
        dns_quorum: quorum,
        http_challenge_port: http_port,
        allow_private_targets: allow.map(str::to_string),
        icp_provider: None,
        dns_timeout_secs: 2,
        http_timeout_secs: 3,
        recheck_icp_days: 7,
        recheck_domain_days: 30,
        grace_hours: 72,
        recheck_concurrency: 8,
        validation_reuse_days: 30,
    }
}

fn token() -> Token {
    Token::generate().unwrap()
}

fn domain(s: &str) -> Domain {
    Domain::parse(s).unwrap()
}

#[tokio::test]
async fn a_txt_record_seen_by_every_perspective_proves_control() {
    let t = token();
    let zone = Zone::new().txt("_chengxin-challenge.shop.test", t.as_str());
    let (a, b) = (zone.clone().start(), zone.start());
    let c = Challenger::from_settings(&settings(&[&a, &b], Some(2), 80, None)).unwrap();
    let out = c.check(Method::DnsTxt, &domain("shop.test"), &t).await;
    assert_eq!(out.verdict, Verdict::Pass, "{out:?}");
    assert_eq!(out.evidence[0].check, "dns-txt");
    assert!(
        out.evidence[0]
            .resolver
            .as_deref()
            .unwrap()
            .contains(&a.addr.to_string())
    );

    let wrong = c
        .check(Method::DnsTxt, &domain("shop.test"), &token())
        .await;
    assert_eq!(wrong.verdict, Verdict::Fail, "{wrong:?}");
    let missing = c.check(Method::DnsTxt, &domain("other.test"), &t).await;
    assert_eq!(missing.verdict, Verdict::Fail);
    assert!(
        missing.reasons[0].contains("no TXT record"),
        "{:?}",
        missing.reasons
    );
}

#[tokio::test]
async fn a_quorum_of_perspectives_must_agree() {
    let t = token();
    let with = || {
        Zone::new()
            .txt("_chengxin-challenge.shop.test", t.as_str())
            .start()
    };
    let without = || Zone::new().start();
    let (a, b, c) = (with(), with(), without());
    let two_of_three =
        Challenger::from_settings(&settings(&[&a, &b, &c], Some(2), 80, None)).unwrap();
    assert_eq!(
        two_of_three
            .check(Method::DnsTxt, &domain("shop.test"), &t)
            .await
            .verdict,
        Verdict::Pass
    );
    let all_three = Challenger::from_settings(&settings(&[&a, &b, &c], Some(3), 80, None)).unwrap();
    let out = all_three
        .check(Method::DnsTxt, &domain("shop.test"), &t)
        .await;
    assert_eq!(out.verdict, Verdict::Fail, "{out:?}");
    assert!(out.reasons[0].contains("only 2 of 3"), "{:?}", out.reasons);
    let (d, e) = (without(), without());
    let minority = Challenger::from_settings(&settings(&[&a, &d, &e], None, 80, None)).unwrap();
    assert_eq!(
        minority
            .check(Method::DnsTxt, &domain("shop.test"), &t)
            .await
            .verdict,
        Verdict::Fail
    );
}

#[tokio::test]
async fn resolvers_that_do_not_answer_give_a_retryable_error_never_a_pass() {
    let silent: SocketAddr = format!("127.0.0.1:{}", testkit::free_port())
        .parse()
        .unwrap();
    let s = VerifierSettings {
        dns_servers: Some(silent.to_string()),
        dns_timeout_secs: 1,
        ..settings(&[], None, 80, None)
    };
    let c = Challenger::from_settings(&s).unwrap();
    let out = c
        .check(Method::DnsTxt, &domain("shop.test"), &token())
        .await;
    assert_eq!(out.verdict, Verdict::Error, "{out:?}");
}

#[tokio::test]
async fn a_file_under_well_known_proves_control_even_behind_a_redirect() {
    let t = token();
    let path = format!("/.well-known/chengxin/{t}");
    let dns = Zone::new()
        .addr("shop.test", "127.0.0.1")
        .addr("www.shop.test", "127.0.0.1")
        .start();
    let web = web(vec![
        (
            "shop.test",
            path.clone(),
            Page::Redirect(301, format!("http://www.shop.test:{{port}}{path}")),
        ),
        (
            "www.shop.test",
            path.clone(),
            Page::Body("text/plain", format!("{t}\n")),
        ),
    ])
    .await;
    let c = Challenger::from_settings(&settings(&[&dns], None, web.port(), Some("127.0.0.1/32")))
        .unwrap();
    let out = c.check(Method::HttpFile, &domain("shop.test"), &t).await;
    assert_eq!(out.verdict, Verdict::Pass, "{out:?}");
    let hops = out.evidence[0].answered["hops"].as_array().unwrap();
    assert_eq!(hops.len(), 2, "{hops:?}");
    assert_eq!(hops[0]["status"], 301);
    assert_eq!(hops[1]["address"], format!("127.0.0.1:{}", web.port()));

    let other = token();
    let out = c
        .check(Method::HttpFile, &domain("shop.test"), &other)
        .await;
    assert_eq!(out.verdict, Verdict::Fail);
    assert!(out.reasons[0].contains("HTTP 404"), "{:?}", out.reasons);
}

/// A real HTTP server on 127.0.0.1 answering by Host header and path; redirect
/// targets may name the server's own port as `{port}`.
async fn web(pages: Vec<(&str, String, Page)>) -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let pages: Vec<(String, String, Page)> = pages
        .into_iter()
        .map(|(h, p, page)| {
            let page = match page {
                Page::Redirect(c, to) => Page::Redirect(c, to.replace("{port}", &port.to_string())),
                other => other,
            };
            (h.to_string(), p, page)
        })
        .collect();
    let map = pages
        .into_iter()
        .map(|(h, p, page)| ((h, p), page))
        .collect();
    let app = Router::new()
        .route("/{*path}", axum::routing::get(serve_page))
        .route(
            "/",
            axum::routing::get(|s: State<Site>, h: HeaderMap| {
                serve_page(s, h, Path(String::new()))
            }),
        )
        .with_state(Site {
            pages: Arc::new(map),
        });
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

#[tokio::test]
async fn redirect_loops_huge_bodies_slow_servers_and_303s_never_pass() {
    let t = token();
    let path = format!("/.well-known/chengxin/{t}");
    let dns = Zone::new()
        .addr("loop.test", "127.0.0.1")
        .addr("huge.test", "127.0.0.1")
        .addr("slow.test", "127.0.0.1")
        .addr("see-other.test", "127.0.0.1")
        .addr("ftp.test", "127.0.0.1")
        .addr("ssh.test", "127.0.0.1")
        .start();
    let web = web(vec![
        ("loop.test", path.clone(), Page::Redirect(302, path.clone())),
        ("huge.test", path.clone(), Page::Huge),
        (
            "slow.test",
            path.clone(),
            Page::Slow(Duration::from_secs(30)),
        ),
        (
            "see-other.test",
            path.clone(),
            Page::Redirect(303, "/elsewhere".into()),
        ),
        (
            "ftp.test",
            path.clone(),
            Page::Redirect(301, "ftp://ftp.test/token".into()),
        ),
        (
            "ssh.test",
            path.clone(),
            Page::Redirect(301, "http://ssh.test:22/token".into()),
        ),
    ])
    .await;
    let c = Challenger::from_settings(&settings(&[&dns], None, web.port(), Some("127.0.0.1/32")))
        .unwrap();
    let check = |d: &'static str| {
        let c = c.clone();
        let t = t.clone();
        async move { c.check(Method::HttpFile, &domain(d), &t).await }
    };

    let looped = check("loop.test").await;
    assert_eq!(looped.verdict, Verdict::Fail, "{looped:?}");
    assert!(
        looped.reasons[0].contains("more than 5 redirects"),
        "{:?}",
        looped.reasons
    );
    assert_eq!(
        looped.evidence[0].answered["hops"]
            .as_array()
            .unwrap()
            .len(),
        6
    );

    let huge = check("huge.test").await;
    assert_eq!(huge.verdict, Verdict::Fail, "{huge:?}");
    assert_eq!(huge.evidence[0].answered["truncated"], true);

    let started = std::time::Instant::now();
    let slow = check("slow.test").await;
    assert_eq!(slow.verdict, Verdict::Error, "{slow:?}");
    assert!(
        started.elapsed() < Duration::from_secs(25),
        "the time cap did not hold"
    );

    let see_other = check("see-other.test").await;
    assert_eq!(see_other.verdict, Verdict::Fail);
    assert!(
        see_other.reasons[0].contains("HTTP 303"),
        "{:?}",
        see_other.reasons
    );

    let ftp = check("ftp.test").await;
    assert_eq!(ftp.verdict, Verdict::Fail);
    assert!(
        ftp.reasons[0].contains("only http and https"),
        "{:?}",
        ftp.reasons
    );

    let ssh = check("ssh.test").await;
    assert_eq!(ssh.verdict, Verdict::Fail);
    assert!(
        ssh.reasons[0].contains("port 22 is not allowed"),
        "{:?}",
        ssh.reasons
    );
}

#[tokio::test]
async fn a_meta_tag_proves_control_only_inside_the_homepage_head() {
    let t = token();
    let dns = Zone::new()
        .addr("head.test", "127.0.0.1")
        .addr("body.test", "127.0.0.1")
        .start();
    let head = format!(
        "<!doctype html><html><head><meta charset=utf-8><meta name=\"chengxin-site-verification\" content=\"{t}\"></head><body>ok</body></html>"
    );
    let body = format!(
        "<!doctype html><html><head></head><body><div><meta name=\"chengxin-site-verification\" content=\"{t}\"></div></body></html>"
    );
    let web = web(vec![
        ("head.test", "/".into(), Page::Body("text/html", head)),
        ("body.test", "/".into(), Page::Body("text/html", body)),
    ])
    .await;
    let c = Challenger::from_settings(&settings(&[&dns], None, web.port(), Some("127.0.0.1/32")))
        .unwrap();
    let ok = c.check(Method::HtmlMeta, &domain("head.test"), &t).await;
    assert_eq!(ok.verdict, Verdict::Pass, "{ok:?}");
    let no = c.check(Method::HtmlMeta, &domain("body.test"), &t).await;
    assert_eq!(no.verdict, Verdict::Fail, "{no:?}");

    // Trying every method: the DNS one fails, then the meta tag passes; both are kept.
    let any = c.check_any(&Method::ALL, &domain("head.test"), &t).await;
    assert_eq!(any.verdict, Verdict::Pass);
    assert_eq!(
        any.evidence
            .iter()
            .map(|e| e.check.as_str())
            .collect::<Vec<_>>(),
        ["dns-txt", "http-file", "html-meta"]
    );
}

#[tokio::test]
async fn challenge_domains_resolving_to_internal_addresses_are_refused() {
    let t = token();
    let dns = Zone::new()
        .addr("loopback.test", "127.0.0.1")
        .addr("rfc1918.test", "10.0.0.1")
        .addr("metadata.test", "169.254.169.254")
        .addr("v6-loopback.test", "::1")
        .addr("v4-mapped.test", "::ffff:127.0.0.1")
        .start();
    let web = web(vec![]).await;
    let c = Challenger::from_settings(&settings(&[&dns], None, web.port(), None)).unwrap();
    for d in [
        "loopback.test",
        "rfc1918.test",
        "metadata.test",
        "v6-loopback.test",
        "v4-mapped.test",
    ] {
        for m in [Method::HttpFile, Method::HtmlMeta] {
            let out = c.check(m, &domain(d), &t).await;
            assert_eq!(out.verdict, Verdict::Fail, "{d} {m}: {out:?}");
            assert!(
                out.reasons[0].contains("internal address"),
                "{d} {m}: {:?}",
                out.reasons
            );
            let hops = out.evidence[0].answered["hops"].as_array().unwrap();
            assert!(
                hops.iter().all(|h| h["status"].is_null()),
                "{d}: a request reached a server: {hops:?}"
            );
            // The applicant learns that the name is internal, not which address it
            // has (that would map our network for them).
            let told = format!("{:?} {}", out.reasons, out.evidence[0].answered);
            for address in ["127.0.0.1", "10.0.0.1", "169.254.169.254", "::1"] {
                assert!(
                    !told.contains(address),
                    "{d} {m}: {address} shown in {told}"
                );
            }
        }
    }
}

#[tokio::test]
async fn redirects_to_internal_addresses_are_refused() {
    let t = token();
    let path = format!("/.well-known/chengxin/{t}");
    let dns = Zone::new()
        .addr("start.test", "127.0.0.1")
        .addr("inside.test", "10.0.0.1")
        .addr("six.test", "::1")
        .start();
    let targets = [
        (
            "literal-metadata",
            "http://169.254.169.254/latest/meta-data/",
        ),
        ("literal-v6", "http://[::1]:{port}/x"),
        ("literal-mapped", "http://[::ffff:127.0.0.1]:{port}/x"),
        ("other-loopback", "http://127.0.0.2:{port}/x"),
        ("name-rfc1918", "http://inside.test:{port}/x"),
        ("name-v6", "http://six.test:{port}/x"),
    ];
    for (label, target) in targets {
        let web = web(vec![(
            "start.test",
            path.clone(),
            Page::Redirect(302, target.to_string()),
        )])
        .await;
        let c =
            Challenger::from_settings(&settings(&[&dns], None, web.port(), Some("127.0.0.1/32")))
                .unwrap();
        let out = c.check(Method::HttpFile, &domain("start.test"), &t).await;
        assert_eq!(out.verdict, Verdict::Fail, "{label}: {out:?}");
        assert!(
            out.reasons[0].contains("internal address"),
            "{label}: {:?}",
            out.reasons
        );
        let hops = out.evidence[0].answered["hops"].as_array().unwrap();
        assert_eq!(hops[0]["status"], 302, "{label}");
        let said = out.reasons.join(" ");
        for address in ["10.0.0.1", "::1]"] {
            if !target.contains(address) {
                assert!(
                    !said.contains(address),
                    "{label}: {address} shown in {said}"
                );
            }
        }
        assert!(
            hops[1..].iter().all(|h| h["status"].is_null()),
            "{label}: followed into {hops:?}"
        );
    }
}

#[test]
fn the_cli_prints_a_json_verdict_and_exits_by_it() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let t = token();
    let dns = Zone::new()
        .txt("_chengxin-challenge.cli.test", t.as_str())
        .start();
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/v.db", dir.path().display());
    let verifier = |args: &[&str]| {
        testkit::run(
            std::process::Command::new(env!("CARGO_BIN_EXE_verifier"))
                .env("CHENGXIN_DNS_SERVERS", dns.addr.to_string())
                .env("CHENGXIN_DATABASE_URL", &db)
                .env("CHENGXIN_DNS_TIMEOUT", "1")
                .args(args),
        )
    };
    let pass = verifier(&[
        "check",
        "cli.test",
        "--method",
        "dns-txt",
        "--token",
        t.as_str(),
    ]);
    assert_eq!(pass.code, 0, "{pass:?}");
    let json: serde_json::Value = serde_json::from_str(&pass.stdout).unwrap();
    assert_eq!(json["verdict"], "pass");
    assert_eq!(
        json["evidence"][0]["asked"]["name"],
        "_chengxin-challenge.cli.test"
    );
    let fail = verifier(&[
        "check",
        "cli.test",
        "--method",
        "dns-txt",
        "--token",
        token().as_str(),
    ]);
    assert_eq!(fail.code, 1, "{fail:?}");
    // One generated token in 64 begins with `-`; it is still a token, not a flag.
    let lead = if t.as_str().starts_with("-S") {
        "-T"
    } else {
        "-S"
    };
    let dashed = format!("{lead}{}", &t.as_str()[2..]);
    let dashed_fail = verifier(&[
        "check", "cli.test", "--method", "dns-txt", "--token", &dashed,
    ]);
    assert_eq!(dashed_fail.code, 1, "{dashed_fail:?}");
    let bad = verifier(&["check", "not a domain", "--token", t.as_str()]);
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("invalid domain"), "{}", bad.stderr);
    let bad_method = verifier(&[
        "check",
        "cli.test",
        "--method",
        "carrier-pigeon",
        "--token",
        t.as_str(),
    ]);
    assert_eq!(bad_method.code, 2);
    assert!(
        bad_method.stderr.contains("unknown method"),
        "{}",
        bad_method.stderr
    );
    // Every check that ran (pass, fail, the dashed token) left evidence in the database.
    let stored = rt.block_on(async {
        let db = ca::db::Database::connect(&db).await.unwrap();
        verifier::store::recent(&db, "cli.test", 10).await.unwrap()
    });
    assert_eq!(stored.len(), 3);
}
