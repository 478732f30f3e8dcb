//! The public website's front door through the real router on both backends: the
//! navigation on every public page, the home page's live figures against a database
//! seeded with known counts, the check box (the API's answer as a page, garbage
//! refused with 422), HTML error pages for browsers and JSON for everyone else, and
//! the handbook with the latest warnings, escaped.

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Request, StatusCode, header};
use badge_server::domain::account::{Account, Role};
use badge_server::domain::warning::NewWarning;
use ca::on_pool;
use testkit::Backend;

use crate::accounts::TestApp;
use crate::pages::{OPERATOR, STAFF, USER, account_of, signed_in};

/// What a browser sends when it navigates.
const BROWSER_ACCEPT: &str =
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8";
const XSS: &str = "<script>alert('warned')</script>冒充晨曦数智的网站。";

/// Sends `GET path` with `accept` (none: no `Accept` header at all).
async fn fetch(t: &TestApp, path: &str, accept: Option<&str>) -> (StatusCode, HeaderMap, String) {
    let mut req = Request::builder().uri(path);
    if let Some(a) = accept {
        req = req.header(header::ACCEPT, a);
    }
    let mut req = req.body(Body::empty()).unwrap();
    req.extensions_mut()
        .insert(ConnectInfo::<std::net::SocketAddr>(
            "192.0.2.10:50000".parse().unwrap(),
        ));
    let (status, headers, body) = t.call(req).await;
    (status, headers, String::from_utf8(body.to_vec()).unwrap())
}

/// `html` as read: the tags taken out.
fn text(html: &str) -> String {
    html.split('<')
        .map(|p| p.split_once('>').map_or(p, |(_, t)| t))
        .collect()
}

/// The text of the element with `id`, up to its closing tag.
fn text_of(html: &str, id: &str) -> String {
    let marker = format!("id=\"{id}\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no #{id} in {html}"));
    let open_end = start + html[start..].find('>').unwrap() + 1;
    let close = open_end + html[open_end..].find('<').unwrap();
    html[open_end..close].to_string()
}

/// A published warning on `domain`, by `staff`.
async fn warn(t: &TestApp, staff: &Account, domain: &str, description: &str) {
    badge_server::service::warnings::publish(
        &t.state,
        staff,
        &NewWarning {
            domain,
            impersonates: None,
            description,
            evidence: "seen 2026-11-30",
            confirm_certified: false,
        },
        badge_server::domain::clock::now(),
    )
    .await
    .unwrap();
}

/// A fresh application with an operator, staff, a user and one site certified
/// through the real flow (chenxi-shuzhi.cn): the site's id and the accounts.
async fn front(backend: Backend) -> (TestApp, String, Account, Account) {
    let t = TestApp::new(backend).await;
    let user = account_of(&t, Role::User, USER).await;
    let op = account_of(&t, Role::Operator, OPERATOR).await;
    let staff = account_of(&t, Role::Staff, STAFF).await;
    let site = crate::certified_site(&t.state, &op, &staff, "chenxi-shuzhi.cn").await;
    (t, site, staff, user)
}

const NAV: [&str; 8] = [
    "href=\"/\" id=\"nav-home\"",
    "href=\"/archive\"",
    "href=\"/warnings\"",
    "href=\"/reports\"",
    "href=\"/handbook\"",
    "href=\"/conventions\"",
    "href=\"/events\"",
    "id=\"nav-login\"",
];

#[tokio::test]
async fn every_public_page_has_the_navigation_and_a_signed_in_visitor_keeps_theirs() {
    for backend in Backend::all() {
        let (t, site, _, _) = front(backend).await;
        for path in [
            "/".to_string(),
            "/archive".into(),
            "/warnings".into(),
            "/handbook".into(),
            "/events".into(),
            "/conventions".into(),
            "/check".into(),
            "/check?url=chenxi-shuzhi.cn".into(),
            format!("/cert/{site}"),
            format!("/cert/{site}?lang=en"),
            "/cert/s_nosuchsite".into(),
            "/no/such/page".into(),
        ] {
            let (_, headers, body) = fetch(&t, &path, Some(BROWSER_ACCEPT)).await;
            assert!(
                headers[header::CONTENT_TYPE]
                    .to_str()
                    .unwrap()
                    .starts_with("text/html"),
                "{path}"
            );
            for link in NAV {
                assert!(body.contains(link), "{path}: {link} missing from {body}");
            }
        }
        // Signed in: the account's own items (portal, logout with its token) on the
        // public pages too, and the certificate page is then kept out of caches.
        let mut op = signed_in(&t, OPERATOR).await;
        for path in ["/".to_string(), "/handbook".into(), format!("/cert/{site}")] {
            let r = op.get(&path).await.expect(200, "id=\"nav-portal\"");
            assert!(r.body.contains("id=\"logout\""), "{path}");
            assert!(!r.body.contains("id=\"nav-login\""), "{path}");
            assert_eq!(r.headers[header::CACHE_CONTROL], "no-store", "{path}");
        }
        let (_, headers, _) = fetch(&t, &format!("/cert/{site}"), None).await;
        assert_eq!(headers[header::CACHE_CONTROL], "no-cache");
        // The certificate page leads to the handbook.
        let (_, _, page) = fetch(&t, &format!("/cert/{site}"), None).await;
        assert!(page.contains("<a href=\"/handbook\" id=\"handbook\">如何识破网络欺诈</a>"));
    }
}

/// Inserts rows straight into the tables the figures count, around the real site:
/// each figure gets a different known count, and a row just outside each one's
/// definition (expired, on hold, revoked or upheld too long ago, dismissed,
/// withdrawn, never certified).
async fn seed(t: &TestApp, site: &str, staff: &Account, user: &Account) {
    let now = badge_server::domain::clock::now();
    let day = 86_400;
    let (cert_id,): (i64,) = on_pool!(&t.state.db, |p| sqlx::query_as(
        "SELECT certificate_id FROM sites WHERE id = $1"
    )
    .bind(site)
    .fetch_one(p)
    .await
    .unwrap());
    let (org,): (i64,) = on_pool!(&t.state.db, |p| sqlx::query_as(
        "SELECT organization_id FROM sites WHERE id = $1"
    )
    .bind(site)
    .fetch_one(p)
    .await
    .unwrap());
    // (sites, row status, not_after, revocation (at, reason))
    type Kind<'a> = (usize, &'a str, i64, Option<(i64, i64)>);
    let kinds: [Kind; 6] = [
        (5, "certified", now + 300 * day, None),
        (1, "certified", now - day, None),
        (1, "certified", now + 300 * day, Some((now - day, 6))),
        (7, "revoked", now + 300 * day, Some((now - 2 * day, 9))),
        (2, "revoked", now + 300 * day, Some((now - 40 * day, 1))),
        (1, "pending", 0, None),
    ];
    let mut n = 0u8;
    for (count, status, not_after, revocation) in kinds {
        for _ in 0..count {
            n += 1;
            let id = format!("s_figures{n:02}");
            let certificate = if status == "pending" {
                None
            } else {
                let (c,): (i64,) = on_pool!(&t.state.db, |p| {
                    sqlx::query_as(
                    "INSERT INTO certificates (issuer_id, serial, status, organization, uscc, icp, \
                     province, city, domains, not_before, not_after, der, sha256, created_at) \
                     SELECT issuer_id, $1, status, organization, uscc, icp, province, city, $2, \
                     not_before, $3, der, sha256, created_at FROM certificates WHERE id = $4 RETURNING id"
                )
                .bind(vec![0x7e, n])
                .bind(format!("[\"figures{n}.cn\"]"))
                .bind(not_after)
                .bind(cert_id)
                .fetch_one(p)
                .await
                .unwrap()
                });
                if let Some((at, reason)) = revocation {
                    on_pool!(&t.state.db, |p| sqlx::query(
                        "INSERT INTO revocations (certificate_id, revoked_at, reason, actor) \
                         VALUES ($1, $2, $3, 'seed')"
                    )
                    .bind(c)
                    .bind(at)
                    .bind(reason)
                    .execute(p)
                    .await
                    .map(|_| ())
                    .unwrap());
                }
                Some(c)
            };
            on_pool!(&t.state.db, |p| {
                sqlx::query(
                "INSERT INTO sites (id, organization_id, status, icp, certificate_id, created_at, updated_at) \
                 VALUES ($1, $2, $3, '京ICP备2024018653号-1', $4, $5, $5)"
            )
            .bind(&id)
            .bind(org)
            .bind(status)
            .bind(certificate)
            .bind(now)
            .execute(p)
            .await
            .map(|_| ())
            .unwrap()
            });
        }
    }
    // Complaints: 8 upheld in the window, 2 upheld before it, 3 dismissed in it.
    let complaints = [
        (8, "upheld", now - 3 * day),
        (2, "upheld", now - 31 * day),
        (3, "dismissed", now - day),
    ];
    let mut c = 0;
    for (count, status, decided) in complaints {
        for _ in 0..count {
            c += 1;
            on_pool!(&t.state.db, |p| sqlx::query(
                "INSERT INTO complaints (id, site_id, complainant_id, category, text, status, \
                 deadline_at, decided_at, created_at, updated_at) \
                 VALUES ($1, $2, $3, 'fraud', '付款后不发货，请处理。', $4, $5, $5, $6, $5)"
            )
            .bind(format!("c_figures{c:02}"))
            .bind(site)
            .bind(user.id)
            .bind(status)
            .bind(decided)
            .bind(decided - 10 * day)
            .execute(p)
            .await
            .map(|_| ())
            .unwrap());
        }
    }
    // Warnings: 9 published (the newest with markup in it), 2 withdrawn.
    for i in 0..11 {
        let description = if i == 10 {
            XSS.to_string()
        } else {
            format!("第 {i} 个仿冒网站。")
        };
        warn(t, staff, &format!("fake-shop-{i}.cn"), &description).await;
    }
    on_pool!(&t.state.db, |p| {
        sqlx::query(
        "UPDATE fraud_warnings SET withdrawn_at = $1 WHERE domain IN ('fake-shop-0.cn', 'fake-shop-1.cn')"
    )
    .bind(now)
    .execute(p)
    .await
    .map(|_| ())
    .unwrap()
    });
}

#[tokio::test]
async fn the_home_page_shows_each_live_figure_counted_from_the_database() {
    for backend in Backend::all() {
        let (t, site, staff, user) = front(backend).await;
        // One certified site, nothing else: every figure is below five.
        let (status, _, home) = fetch(&t, "/", Some(BROWSER_ACCEPT)).await;
        assert_eq!(status, StatusCode::OK);
        for id in [
            "fig-certified",
            "fig-revocations",
            "fig-upheld",
            "fig-warnings",
        ] {
            assert_eq!(text_of(&home, id), "&#60;5", "{id}");
        }
        assert!(home.contains("id=\"no-warnings\""), "{home}");

        seed(&t, &site, &staff, &user).await;
        let now = badge_server::domain::clock::now();
        let counted = badge_server::service::figures::count(&t.state.db, now)
            .await
            .unwrap();
        assert_eq!(
            counted,
            badge_server::service::figures::Figures {
                certified_sites: 6,
                revocations: 7,
                upheld_complaints: 8,
                warnings: 9,
            },
            "{backend:?}"
        );
        let (_, _, home) = fetch(&t, "/", Some(BROWSER_ACCEPT)).await;
        for (id, want) in [
            ("fig-certified", "6"),
            ("fig-revocations", "7"),
            ("fig-upheld", "8"),
            ("fig-warnings", "9"),
        ] {
            assert_eq!(text_of(&home, id), want, "{id} on {backend:?}");
        }
        // The latest three warnings, newest first, escaped; older ones only on /warnings.
        let read = text(&home);
        let shown: Vec<usize> = (2..11)
            .filter(|i| read.contains(&format!("fake-shop-{i}.cn")))
            .collect();
        assert_eq!(shown, vec![8, 9, 10], "{home}");
        assert!(!home.contains("<script>alert"), "{home}");
        assert!(home.contains("&#60;script&#62;alert(&#39;warned&#39;)&#60;/script&#62;"));
        assert!(!home.contains("id=\"latest-report\""));
        for link in [
            "href=\"/register\"",
            "href=\"/portal/apply\"",
            "action=\"/check\"",
        ] {
            assert!(home.contains(link), "{link}");
        }
    }
}

#[tokio::test]
async fn the_check_box_answers_as_the_api_does_and_refuses_garbage_with_422() {
    for backend in Backend::all() {
        let (t, _, staff, _) = front(backend).await;
        warn(&t, &staff, "chenxi-shuzhi-shop.cn", XSS).await;
        for (url, result) in [
            ("https://www.chenxi-shuzhi.cn/about?x=1", "certified"),
            ("chenxi-shuzhi.cn", "certified"),
            ("http://chenxi-shuzhi-shop.cn/pay", "warned"),
            ("unknown-shop.cn", "not_certified"),
        ] {
            let q: String = url::form_urlencoded::byte_serialize(url.as_bytes()).collect();
            let (status, _, api) = fetch(&t, &format!("/api/v1/check?url={q}"), None).await;
            assert_eq!(status, StatusCode::OK);
            let api: serde_json::Value = serde_json::from_str(&api).unwrap();
            assert_eq!(api["result"], result, "{api}");
            let (status, _, page) =
                fetch(&t, &format!("/check?url={q}"), Some(BROWSER_ACCEPT)).await;
            assert_eq!(status, StatusCode::OK, "{page}");
            assert!(
                page.contains(&format!("data-result=\"{result}\"")),
                "{url}: {page}"
            );
            match result {
                "certified" => {
                    assert!(page.contains("北京晨曦数智科技有限公司"));
                    let link = api["certificate_url"].as_str().unwrap();
                    assert!(page.contains(&format!("href=\"{link}\"")), "{page}");
                }
                "warned" => {
                    assert!(page.contains("&#60;script&#62;alert"), "{page}");
                    assert!(!page.contains("<script>alert"), "{page}");
                }
                _ => assert!(page.contains("未经本联盟认证"), "{page}"),
            }
        }
        // Garbage: 422 naming what is accepted, the input shown back escaped.
        for raw in [
            "not a url",
            "127.0.0.1",
            "localhost",
            "  ",
            "<script>",
            "http://",
        ] {
            let garbage: String = url::form_urlencoded::byte_serialize(raw.as_bytes()).collect();
            let (status, headers, page) =
                fetch(&t, &format!("/check?url={garbage}"), Some(BROWSER_ACCEPT)).await;
            assert_eq!(
                status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{garbage}: {page}"
            );
            assert!(
                headers[header::CONTENT_TYPE]
                    .to_str()
                    .unwrap()
                    .starts_with("text/html")
            );
            assert!(page.contains("id=\"problem\""), "{page}");
            assert!(
                page.contains("请输入网址（如 <code>https://www.example.cn/about</code>）或域名")
            );
            assert!(page.contains("Enter a web address (such as"), "{page}");
            assert!(!page.contains("<script>"), "{page}");
            // The API refuses the same input the same way.
            let (status, _, _) = fetch(&t, &format!("/api/v1/check?url={garbage}"), None).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{garbage}");
        }
        let long = "a".repeat(2100);
        let (status, _, page) = fetch(&t, &format!("/check?url={long}.cn"), None).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(page.contains("at most 2048 characters"), "{page}");
        // No input yet: the empty form.
        let (status, _, page) = fetch(&t, "/check", Some(BROWSER_ACCEPT)).await;
        assert_eq!(status, StatusCode::OK);
        assert!(!page.contains("id=\"answer\"") && !page.contains("id=\"problem\""));
    }
}

#[tokio::test]
async fn errors_are_pages_for_browsers_and_json_for_api_clients() {
    for backend in Backend::all() {
        let (t, _, _, _) = front(backend).await;
        // 404: the unknown certificate and a path no route serves.
        for path in [
            "/cert/s_nosuchsite",
            "/no/such/page",
            "/cert/s_nosuchsite.json",
            "/static/nothing.js",
        ] {
            let (status, headers, page) = fetch(&t, path, Some(BROWSER_ACCEPT)).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
            assert!(
                headers[header::CONTENT_TYPE]
                    .to_str()
                    .unwrap()
                    .starts_with("text/html"),
                "{path}"
            );
            assert!(page.contains("页面不存在 / Not found"), "{page}");
            assert!(page.contains("href=\"/\" id=\"next-link\""), "{page}");
            assert_eq!(headers[header::VARY], "Accept", "{path}");
            assert!(headers.contains_key(header::CONTENT_SECURITY_POLICY));
            for accept in [
                None,
                Some("application/json"),
                Some("application/json, text/html;q=0.1"),
                Some("*/*"),
            ] {
                let (status, headers, body) = fetch(&t, path, accept).await;
                assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
                assert_eq!(headers[header::CONTENT_TYPE], "application/json");
                let json: serde_json::Value = serde_json::from_str(&body).unwrap();
                assert_eq!(json["error"], "not found");
            }
        }
        // Under /api/ a browser gets JSON too.
        let (status, headers, _) = fetch(&t, "/api/v1/no-such", Some(BROWSER_ACCEPT)).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(headers[header::CONTENT_TYPE], "application/json");
        let (status, headers, _) = fetch(&t, "/api/v1/sites?page=0", Some(BROWSER_ACCEPT)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(headers[header::CONTENT_TYPE], "application/json");
        // A page's invalid input: the page says what was wrong.
        let (status, _, page) = fetch(&t, "/archive?page=0", Some(BROWSER_ACCEPT)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            page.contains("输入无效 / Invalid input") && page.contains("page: 1 to 10000"),
            "{page}"
        );

        // 500: the warnings table gone, the pages that read it fail; the page says
        // nothing of the cause, the JSON neither.
        t.exec("DROP TABLE fraud_warnings").await;
        for path in ["/", "/warnings", "/handbook"] {
            let (status, headers, page) = fetch(&t, path, Some(BROWSER_ACCEPT)).await;
            assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{path}");
            assert!(
                headers[header::CONTENT_TYPE]
                    .to_str()
                    .unwrap()
                    .starts_with("text/html")
            );
            assert!(page.contains("服务器错误 / Server error"), "{page}");
            assert!(!page.contains("fraud_warnings"), "{page}");
            assert!(page.contains("id=\"nav-home\""));
        }
        let (status, headers, body) = fetch(&t, "/api/v1/warnings", Some(BROWSER_ACCEPT)).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(headers[header::CONTENT_TYPE], "application/json");
        assert_eq!(body, r#"{"error":"internal error"}"#);
        let (status, headers, _) = fetch(&t, "/warnings", Some("application/json")).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(headers[header::CONTENT_TYPE], "application/json");
    }
}

#[tokio::test]
async fn the_handbook_explains_the_frauds_and_shows_the_latest_warnings_escaped() {
    for backend in Backend::all() {
        let (t, _, staff, _) = front(backend).await;
        let (_, _, empty) = fetch(&t, "/handbook", Some(BROWSER_ACCEPT)).await;
        assert!(empty.contains("id=\"no-examples\""));
        for i in 0..3 {
            warn(&t, &staff, &format!("old-fake-{i}.cn"), "较早的警示。").await;
        }
        warn(&t, &staff, "chenxi-shop-fake.cn", XSS).await;
        let (status, _, page) = fetch(&t, "/handbook", Some(BROWSER_ACCEPT)).await;
        assert_eq!(status, StatusCode::OK);
        for needle in [
            "如何识破网络欺诈",
            "How to spot online fraud",
            "id=\"fake-shops\"",
            "id=\"fake-refunds\"",
            "id=\"counterfeit-seals\"",
            "id=\"lookalike-domains\"",
            "id=\"seal\"",
            "id=\"checkbox\"",
            "id=\"complain\"",
            "action=\"/check\"",
            // The address bar must show this server's host.
            "<strong class=\"id\">127.0.0.1</strong>",
            // Printable: navigation hidden, URLs printed after links.
            "@media print",
            "data-url=\"http://127.0.0.1:8080/warnings\"",
        ] {
            assert!(page.contains(needle), "{needle} missing from {page}");
        }
        // The latest three, the newest with its markup escaped.
        assert!(
            page.contains("&#60;script&#62;alert(&#39;warned&#39;)&#60;/script&#62;"),
            "{page}"
        );
        assert!(!page.contains("<script>alert"));
        let read = text(&page);
        assert!(!read.contains("old-fake-0.cn"), "{page}");
        assert!(read.contains("old-fake-1.cn") && read.contains("old-fake-2.cn"));
    }
}

#[tokio::test]
async fn the_front_pages_read_as_reviewed() {
    for backend in Backend::all() {
        let (t, site, staff, _) = front(backend).await;
        warn(&t, &staff, "chenxi-shuzhi-shop.cn", XSS).await;
        warn(
            &t,
            &staff,
            "chenxi-shuzhl.cn",
            "把 i 换成 l 的仿冒域名，冒充晨曦数智收款。",
        )
        .await;
        let mut pages = vec![];
        for (name, path, status) in [
            ("home.html", "/", 200),
            ("handbook.html", "/handbook", 200),
            (
                "check-certified.html",
                "/check?url=https%3A%2F%2Fwww.chenxi-shuzhi.cn%2F",
                200,
            ),
            ("check-garbage.html", "/check?url=not+a+url", 422),
            ("not-found.html", "/cert/s_nosuchsite", 404),
        ] {
            let (s, _, body) = fetch(&t, path, Some(BROWSER_ACCEPT)).await;
            assert_eq!(s.as_u16(), status, "{path}");
            pages.push((name, body));
        }
        crate::snapshots::settings(&site, "c_none").bind(|| {
            for (name, body) in &pages {
                insta::assert_snapshot!(*name, body);
            }
        });
    }
}
