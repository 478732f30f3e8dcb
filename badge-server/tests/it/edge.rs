//! The listener's seal fast path (`http::edge`) answers exactly as the router does:
//! the same requests, sent as raw bytes to a server of each kind, get the same status,
//! headers and body, whatever the state, coding, validator, method or body.

use std::net::SocketAddr;
use std::time::Duration;

use badge_server::domain::account::Role;
use testkit::Backend;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::accounts::TestApp;
use crate::pages::{OPERATOR, STAFF, account_of};

/// Serves `t`'s application on a loopback port through the edge (`edge`: on two
/// connection threads of their own, as `serve` does) or the router alone (on the
/// test's runtime).
async fn listen(t: &TestApp, edge: bool) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = badge_server::http::router::build(t.state.clone());
    let limits = httpd::Limits {
        header_timeout: Duration::from_secs(5),
        max_connections: 16,
        threads: edge.then_some(std::num::NonZeroUsize::new(2).unwrap()),
    };
    let never = std::future::pending::<()>();
    if edge {
        let make = badge_server::http::edge::per_connection(app, t.state.clone());
        tokio::spawn(httpd::serve_with(listener, make, limits, never));
    } else {
        tokio::spawn(httpd::serve(listener, app, limits, never));
    }
    addr
}

/// The answer to `request` (raw bytes, `Connection: close`): the status line, the
/// headers but `date` in sorted order (axum writes `content-length` before hyper's
/// `connection`, hyper after), and the body.
async fn exchange(addr: SocketAddr, request: &[u8]) -> (String, Vec<String>, Vec<u8>) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(request).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut raw))
        .await
        .unwrap()
        .unwrap();
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8(raw[..end].to_vec()).unwrap();
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap().to_string();
    let mut headers: Vec<String> = lines
        .filter(|l| !l.to_ascii_lowercase().starts_with("date:"))
        .map(str::to_string)
        .collect();
    headers.sort();
    (status, headers, raw[end + 4..].to_vec())
}

#[tokio::test]
async fn the_edge_answers_every_seal_request_as_the_router_does() {
    let t = TestApp::with_public_url(Backend::Sqlite, "https://chengxin.example").await;
    let op = account_of(&t, Role::Operator, OPERATOR).await;
    let staff = account_of(&t, Role::Staff, STAFF).await;
    let site = crate::certified_site(&t.state, &op, &staff, "chenxi-shuzhi.cn").await;
    let (edge, router) = (listen(&t, true).await, listen(&t, false).await);

    // The certified seal's validator, for the conditional requests.
    let get = |path: &str, headers: &str| {
        format!(
            "GET {path} HTTP/1.1\r\nHost: chengxin.example\r\nConnection: close\r\n{headers}\r\n"
        )
    };
    let on_site = "Referer: https://chenxi-shuzhi.cn/page\r\n";
    let (_, headers, _) =
        exchange(edge, get(&format!("/seal/{site}.svg"), on_site).as_bytes()).await;
    let etag = headers
        .iter()
        .find_map(|h| h.strip_prefix("etag: "))
        .unwrap()
        .to_string();

    let svg = format!("/seal/{site}.svg");
    let big = "x".repeat(100 * 1024);
    let requests: Vec<(&str, String)> = vec![
        ("certified, plain", get(&svg, on_site)),
        (
            "gzip",
            get(&svg, &format!("{on_site}Accept-Encoding: gzip\r\n")),
        ),
        (
            "brotli by q-value",
            get(
                &svg,
                &format!("{on_site}Accept-Encoding: gzip;q=0.5, br\r\n"),
            ),
        ),
        (
            "unreadable Accept-Encoding",
            get(&svg, &format!("{on_site}Accept-Encoding: ;q=2, *;q=x\r\n")),
        ),
        (
            "identity only",
            get(
                &svg,
                &format!("{on_site}Accept-Encoding: identity, *;q=0\r\n"),
            ),
        ),
        (
            "not modified",
            get(&svg, &format!("{on_site}If-None-Match: {etag}\r\n")),
        ),
        (
            "stale validator",
            get(&svg, &format!("{on_site}If-None-Match: \"other\"\r\n")),
        ),
        ("no Referer", get(&svg, "")),
        ("a copy", get(&svg, "Referer: https://copycat.example/\r\n")),
        (
            "our own page",
            get(&svg, "Referer: https://chengxin.example/portal\r\n"),
        ),
        (
            "English, large",
            get(&format!("{svg}?lang=en&size=l"), on_site),
        ),
        ("bad size", get(&format!("{svg}?size=huge"), on_site)),
        ("bad query", get(&format!("{svg}?lang=%FF%FE"), on_site)),
        ("png", get(&format!("/seal/{site}.png"), on_site)),
        ("png at 2x", get(&format!("/seal/{site}@2x.png"), on_site)),
        ("unknown site", get("/seal/s_nosuchsite00.svg", on_site)),
        (
            "not a seal file",
            get(&format!("/seal/{site}.gif"), on_site),
        ),
        (
            "head",
            format!(
                "HEAD {svg} HTTP/1.1\r\nHost: chengxin.example\r\nConnection: close\r\n{on_site}\r\n"
            ),
        ),
        (
            "post: the router's 405",
            format!(
                "POST {svg} HTTP/1.1\r\nHost: chengxin.example\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
            ),
        ),
        (
            "a body over the limit: the router's 413",
            format!(
                "GET {svg} HTTP/1.1\r\nHost: chengxin.example\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{big}",
                big.len()
            ),
        ),
        ("not a seal: routed", get("/healthz", "")),
    ];
    for (case, request) in &requests {
        // The first time, a seal may wait (a drawing, a first compression) and be
        // answered on the test's runtime; the second, it is answered from memory on
        // its connection's thread.
        for round in ["first", "again"] {
            let via_edge = exchange(edge, request.as_bytes()).await;
            let via_router = exchange(router, request.as_bytes()).await;
            assert_eq!(via_edge.0, via_router.0, "{case} ({round}): status");
            assert_eq!(via_edge.1, via_router.1, "{case} ({round}): headers");
            assert!(
                via_edge.2 == via_router.2,
                "{case} ({round}): the bodies differ"
            );
        }
    }
    // The cases are what they say (the comparison above would pass for two servers
    // that both failed).
    let status = |i: usize| {
        let request = &requests[i].1;
        async move { exchange(edge, request.as_bytes()).await }
    };
    assert!(status(0).await.0.ends_with("200 OK"));
    let (_, gzip, _) = status(1).await;
    assert!(
        gzip.contains(&"content-encoding: gzip".to_string()),
        "{gzip:?}"
    );
    assert!(gzip.contains(&"strict-transport-security: max-age=31536000".to_string()));
    assert!(
        status(2)
            .await
            .1
            .contains(&"content-encoding: br".to_string())
    );
    assert!(status(5).await.0.ends_with("304 Not Modified"));
    assert!(status(10).await.0.ends_with("200 OK"));
    assert!(status(11).await.0.ends_with("400 Bad Request"));
    assert!(status(15).await.0.ends_with("404 Not Found"));
    let (head, _, body) = status(17).await;
    assert!(head.ends_with("200 OK") && body.is_empty());
    assert!(status(18).await.0.ends_with("405 Method Not Allowed"));
    assert!(status(19).await.0.ends_with("413 Payload Too Large"));

    // A seal that waited is counted once, as one that did not: a copy's PNG in a
    // variant not drawn yet (answered after the drawing) and then from memory.
    t.state.seal_cache.flush_copies(&t.state.db).await.unwrap();
    let png = get(
        &format!("/seal/{site}.png?lang=en&size=l"),
        "Referer: https://png-copy.example/\r\n",
    );
    for _ in 0..2 {
        assert!(exchange(edge, png.as_bytes()).await.0.ends_with("200 OK"));
    }
    t.state.seal_cache.flush_copies(&t.state.db).await.unwrap();
    assert_eq!(
        t.scalar(&format!(
            "SELECT hits FROM seal_copies WHERE site_id = '{site}' AND host = 'png-copy.example'"
        ))
        .await,
        2
    );
}
