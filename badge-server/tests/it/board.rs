//! Synchronized publication (issue 17): staff mark a published warning or an upheld
//! complaint as prominent (API and console, audited), and it leads the board members
//! frame (`/embed/warnings`), the Atom feed (`/warnings.atom`, read by Python's
//! `feedparser` from the pkilint venv) and `/warnings` at once; only staff mark; bad
//! queries are refused; hostile texts come out escaped and personal data masked.
//! Both backends.

use std::process::Command;

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use badge_server::domain::account::Role;
use badge_server::domain::complaint::Decision;
use serde_json::{Value, json};
use testkit::Backend;

use crate::accounts::TestApp;
use crate::events::{api, expect, token_for};
use crate::members::{add_member, member_token};
use crate::pages::{OPERATOR, STAFF, USER, account_of, signed_in, world};

const XSS: &str = "<script>alert(1)</script>";

async fn get(t: &TestApp, path: &str) -> (StatusCode, HeaderMap, String) {
    let (status, headers, body) = t
        .call(Request::get(path).body(Body::empty()).unwrap())
        .await;
    (status, headers, String::from_utf8(body.to_vec()).unwrap())
}

/// A staff step that answers 204 (marking, unmarking).
async fn staff_step(t: &TestApp, method: &str, path: &str, token: &str) {
    expect(t, api(method, path, token, None), StatusCode::NO_CONTENT).await;
}

/// Registers `origin` at `path` (`/api/v1/members/{id}/origins`), expecting 422: the
/// message for the field.
async fn refused_origin(t: &TestApp, path: &str, token: &str, origin: &str) -> String {
    let body = json!({ "origin": origin });
    let r = expect(
        t,
        api("POST", path, token, Some(body)),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    r["fields"]["origin"].as_str().unwrap().to_string()
}

/// Where `needle` first is in `hay`, or a failure naming both.
#[track_caller]
fn at(hay: &str, needle: &str) -> usize {
    hay.find(needle)
        .unwrap_or_else(|| panic!("{needle:?} not in:\n{hay}"))
}

/// Parses `atom` with Python's `feedparser`: its version, whether it found the
/// document malformed (`bozo`), and per entry its id, title, link, summary,
/// updated time and categories, as JSON.
fn parse_atom(atom: &str) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("warnings.atom");
    std::fs::write(&file, atom).unwrap();
    let python = testkit::pkilint_venv().join("bin").join("python");
    assert!(
        python.exists(),
        "{} not found: scripts/pkilint-venv installs feedparser beside pkilint",
        python.display()
    );
    let script = r#"
import sys, json, feedparser
f = feedparser.parse(open(sys.argv[1], 'rb').read())
print(json.dumps({
    'version': f.version,
    'bozo': bool(f.bozo),
    'bozo_exception': str(f.get('bozo_exception', '')),
    'id': f.feed.get('id'),
    'updated': f.feed.get('updated'),
    'alternate': [l['href'] for l in f.feed.get('links', []) if l.get('rel') == 'alternate'],
    'entries': [{
        'id': e.get('id'),
        'title': e.get('title'),
        'link': e.get('link'),
        'summary': e.get('summary'),
        'summary_type': e.get('summary_detail', {}).get('type'),
        'updated': e.get('updated'),
        'published': e.get('published'),
        'tags': [t['term'] for t in e.get('tags', [])],
    } for e in f.entries],
}, ensure_ascii=False))
"#;
    let r = testkit::run(Command::new(python).arg("-c").arg(script).arg(&file)).ok();
    serde_json::from_str(&r.stdout).unwrap()
}

#[tokio::test]
async fn a_case_marked_prominent_leads_the_board_the_feed_and_the_warnings_page_at_once() {
    for backend in Backend::all() {
        let w = world(backend).await;
        let t = &w.t;
        let staff = account_of(t, Role::Staff, STAFF).await;
        let operator = account_of(t, Role::Operator, OPERATOR).await;
        let staff_token = token_for(t, &staff).await;
        let operator_token = token_for(t, &operator).await;
        let user_token = token_for(t, &account_of(t, Role::User, USER).await).await;
        let admin_token =
            token_for(t, &account_of(t, Role::Admin, "admin@chengxin.test").await).await;
        let member = add_member(
            t,
            &admin_token,
            "示例网络科技有限公司",
            "91440300708461136T",
        )
        .await;
        let member_token = member_token(t, &member, "tns@example-member.cn").await;

        // A second, newer warning whose text is hostile and carries a phone number.
        let hostile = expect(
            t,
            api(
                "POST",
                "/api/v1/warnings",
                &staff_token,
                Some(json!({
                    "domain": "xss-fake-shop.cn",
                    "description": format!("{XSS} 冒充客服，电话 13912345678。 & \"quotes\" \u{1}"),
                    "evidence": "seen",
                })),
            ),
            StatusCode::CREATED,
        )
        .await;
        let hostile_id = hostile["id"].as_i64().unwrap();
        // The world's complaint, answered and upheld with a reason naming an e-mail.
        let now = badge_server::domain::clock::now();
        badge_server::service::complaints::answer(
            &t.state,
            &operator,
            &w.complaint,
            "已处理。",
            now,
        )
        .await
        .unwrap();
        badge_server::service::complaints::decide(
            &t.state,
            &staff,
            &w.complaint,
            Decision::Upheld {
                revocation: ca::RevocationReason::PrivilegeWithdrawn,
            },
            &format!("收款后不发货 {XSS}，联系 fraud@example.com。"),
            now,
        )
        .await
        .unwrap();

        // Before: the board is newest first, and the upheld complaint is not on it.
        let (status, headers, board) = get(t, "/embed/warnings?lang=en&limit=5").await;
        assert_eq!(status, StatusCode::OK, "{board}");
        assert!(at(&board, "xss-fake-shop.cn") < at(&board, "chenxi-shuzhi-shop.cn"));
        assert!(!board.contains(&w.complaint), "{board}");

        // Only staff mark: 403 for an operator, a user and a member, 401 without a
        // token.
        let warning_path = format!("/api/v1/warnings/{}/prominent", w.warning);
        let complaint_path = format!("/api/v1/complaints/{}/prominent", w.complaint);
        for token in [&operator_token, &user_token, &member_token] {
            for path in [&warning_path, &complaint_path] {
                expect(t, api("POST", path, token, None), StatusCode::FORBIDDEN).await;
            }
        }
        let anonymous = Request::post(&warning_path).body(Body::empty()).unwrap();
        assert_eq!(t.call(anonymous).await.0, StatusCode::UNAUTHORIZED);
        let marked = "SELECT (SELECT COUNT(*) FROM fraud_warnings WHERE prominent_at IS NOT NULL) \
                      + (SELECT COUNT(*) FROM complaints WHERE prominent_at IS NOT NULL)";
        assert_eq!(t.scalar(marked).await, 0);
        // A warning that does not exist, a complaint that is not upheld.
        expect(
            t,
            api(
                "POST",
                "/api/v1/warnings/999999/prominent",
                &staff_token,
                None,
            ),
            StatusCode::NOT_FOUND,
        )
        .await;

        // Staff mark the older warning and the complaint.
        staff_step(t, "POST", &warning_path, &staff_token).await;
        staff_step(t, "POST", &complaint_path, &staff_token).await;
        assert_eq!(t.scalar(marked).await, 2);
        assert_eq!(
            t.scalar(
                "SELECT COUNT(*) FROM audit_log WHERE action IN ('warning.prominent', 'complaint.prominent')"
            )
            .await,
            2
        );

        // The board: prominent first, the hostile text escaped, personal data masked,
        // no script, every link to a new tab on our site.
        let (status, headers2, board) = get(t, "/embed/warnings?lang=en&limit=5").await;
        assert_eq!(status, StatusCode::OK);
        let _ = headers;
        let csp = headers2[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'self'"), "{csp}");
        assert!(
            !csp.contains("unsafe-inline") && !csp.contains("script-src"),
            "{csp}"
        );
        assert!(headers2.get("x-frame-options").is_none());
        assert_eq!(headers2[header::CACHE_CONTROL], "public, max-age=60");
        assert!(
            headers2[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        let prominent_warning = at(&board, "chenxi-shuzhi-shop.cn");
        let hostile_at = at(&board, "xss-fake-shop.cn");
        let complaint_at = at(&board, &w.complaint);
        assert!(
            prominent_warning < hostile_at && complaint_at < hostile_at,
            "{board}"
        );
        assert!(board.contains("Complaint upheld: Fraud"), "{board}");
        assert!(!board.contains("<script"), "{board}");
        assert!(
            board.contains("&#60;script&#62;alert(1)&#60;/script&#62;")
                || board.contains("&lt;script&gt;"),
            "{board}"
        );
        assert!(
            !board.contains("13912345678") && board.contains("139****5678"),
            "{board}"
        );
        assert!(!board.contains("fraud@example.com"), "{board}");
        for link in board.split("<a ").skip(1) {
            assert!(
                link.contains(r#"target="_blank" rel="noopener""#)
                    && link.contains("href=\"http://127.0.0.1:8080/warnings"),
                "{link}"
            );
        }
        let (_, _, zh) = get(t, "/embed/warnings?lang=zh&limit=1").await;
        assert_eq!(zh.matches("<li ").count(), 1, "{zh}");
        assert!(zh.contains("lang=\"zh-CN\"") && zh.contains("重点"), "{zh}");

        // The feed, read by a real Atom parser.
        let (status, headers, atom) = get(t, "/warnings.atom").await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            headers[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("application/atom+xml")
        );
        assert_eq!(headers[header::CACHE_CONTROL], "public, max-age=60");
        assert!(!atom.contains("<script"), "{atom}");
        let feed = parse_atom(&atom);
        assert_eq!(feed["version"], "atom10", "{feed}");
        assert_eq!(feed["bozo"], false, "{feed}");
        assert_eq!(
            feed["alternate"][0], "http://127.0.0.1:8080/warnings",
            "{feed}"
        );
        let entries = feed["entries"].as_array().unwrap();
        assert_eq!(entries.len(), 3, "{feed}");
        for e in &entries[..2] {
            assert_eq!(e["tags"], json!(["prominent"]), "{feed}");
            assert!(
                e["id"].as_str().unwrap().starts_with("tag:127.0.0.1,2026:"),
                "{e}"
            );
        }
        let last = &entries[2];
        assert_eq!(
            last["id"],
            format!("tag:127.0.0.1,2026:warning/{hostile_id}")
        );
        assert_eq!(
            last["link"],
            format!("http://127.0.0.1:8080/warnings#w{hostile_id}")
        );
        assert_eq!(last["summary_type"], "text/plain", "{last}");
        let summary = last["summary"].as_str().unwrap();
        assert!(
            summary.contains("alert(1)") && summary.contains("139****5678"),
            "{summary}"
        );
        assert!(!summary.contains("13912345678"), "{summary}");
        assert!(last["updated"].as_str().unwrap().ends_with('Z'), "{last}");

        // `/warnings`: the prominent complaint, the warnings prominent first, the feed
        // linked.
        let (_, _, page) = get(t, "/warnings").await;
        assert!(
            page.contains(r#"<link rel="alternate" type="application/atom+xml""#),
            "{page}"
        );
        assert!(page.contains(&format!("id=\"{}\"", w.complaint)), "{page}");
        assert!(
            at(&page, &format!("id=\"w{}\"", w.warning))
                < at(&page, &format!("id=\"w{hostile_id}\""))
        );

        // Unmarking: the complaint leaves everything, the warning falls back to its date.
        staff_step(t, "DELETE", &complaint_path, &staff_token).await;
        staff_step(t, "DELETE", &warning_path, &staff_token).await;
        let (_, _, board) = get(t, "/embed/warnings").await;
        assert!(!board.contains(&w.complaint), "{board}");
        assert!(at(&board, "xss-fake-shop.cn") < at(&board, "chenxi-shuzhi-shop.cn"));
        assert_eq!(t.scalar(marked).await, 0);
        assert_eq!(
            t.scalar("SELECT COUNT(*) FROM audit_log WHERE action LIKE '%.unprominent'")
                .await,
            2
        );
    }
}

#[tokio::test]
async fn a_complaint_that_is_not_upheld_is_no_public_case() {
    for backend in Backend::all() {
        let w = world(backend).await;
        let t = &w.t;
        let staff_token = token_for(t, &account_of(t, Role::Staff, STAFF).await).await;
        let path = format!("/api/v1/complaints/{}/prominent", w.complaint);
        let refused = expect(
            t,
            api("POST", &path, &staff_token, None),
            StatusCode::CONFLICT,
        )
        .await;
        assert!(refused.to_string().contains("upheld"), "{refused}");
        assert_eq!(
            t.scalar("SELECT COUNT(*) FROM complaints WHERE prominent_at IS NOT NULL")
                .await,
            0
        );
        expect(
            t,
            api(
                "POST",
                "/api/v1/complaints/c_nope/prominent",
                &staff_token,
                None,
            ),
            StatusCode::NOT_FOUND,
        )
        .await;
    }
}

#[tokio::test]
async fn the_board_refuses_a_language_or_a_limit_it_does_not_offer() {
    let t = TestApp::new(Backend::Sqlite).await;
    for (query, word) in [
        ("limit=0", "limit"),
        ("limit=999", "limit"),
        ("limit=21", "limit"),
        ("limit=five", "limit"),
        ("lang=fr", "lang"),
        ("lang=%3Cb%3E", "lang"),
    ] {
        let (status, _, body) = get(&t, &format!("/embed/warnings?{query}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert!(body.contains(word), "{query}: {body}");
    }
    // A browser (the member's frame) gets the message as plain text under the
    // board's own policy, so that it shows in the frame: never as markup.
    let req = Request::get("/embed/warnings?lang=%3Cb%3E")
        .header(header::ACCEPT, "text/html")
        .body(Body::empty())
        .unwrap();
    let (status, headers, body) = t.call(req).await;
    let body = String::from_utf8(body.to_vec()).unwrap();
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.starts_with("lang must be zh or en"), "{body}");
    assert_eq!(headers[header::CONTENT_TYPE], "text/plain; charset=utf-8");
    assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(csp.ends_with("frame-ancestors 'self'"), "{csp}");
    for query in ["", "?lang=zh", "?lang=en&limit=1", "?limit=20"] {
        let (status, _, _) = get(&t, &format!("/embed/warnings{query}")).await;
        assert_eq!(status, StatusCode::OK, "{query}");
    }
}

#[tokio::test]
async fn staff_mark_and_unmark_on_the_console_with_its_csrf_token_and_nobody_else_can() {
    for backend in Backend::all() {
        let w = world(backend).await;
        let t = &w.t;
        let action = format!("/console/warnings/{}/prominent", w.warning);
        for email in [OPERATOR, USER] {
            let mut b = signed_in(t, email).await;
            let csrf = b.get("/account").await.csrf();
            let r = b
                .post(&action, &[("csrf", &csrf), ("prominent", "1")])
                .await;
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{email}");
        }
        let mut s = signed_in(t, STAFF).await;
        // Without the token: refused, nothing marked.
        let r = s.post(&action, &[("prominent", "1")]).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{r:?}");
        let marked = "SELECT COUNT(*) FROM fraud_warnings WHERE prominent_at IS NOT NULL";
        assert_eq!(t.scalar(marked).await, 0);
        let r = s.submit("/console", &action, &[("prominent", "1")]).await;
        let page = s.follow(r).await.expect(200, "prominent case");
        assert!(
            page.body.contains("class=\"unmark-prominent\""),
            "{}",
            page.body
        );
        assert_eq!(t.scalar(marked).await, 1);
        let (_, _, board) = get(t, "/embed/warnings").await;
        assert!(board.contains("class=\"case prominent\""), "{board}");
        let r = s.submit("/console", &action, &[("prominent", "0")]).await;
        s.follow(r).await.expect(200, "no longer a prominent case");
        assert_eq!(t.scalar(marked).await, 0);
        // A value that is neither: 422, nothing changes.
        let r = s.submit("/console", &action, &[("prominent", "yes")]).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{r:?}");
        assert_eq!(t.scalar(marked).await, 0);
    }
}

#[tokio::test]
async fn the_board_reads_as_reviewed() {
    for backend in Backend::all() {
        let w = world(backend).await;
        let t = &w.t;
        let staff_token = token_for(t, &account_of(t, Role::Staff, STAFF).await).await;
        expect(
            t,
            api(
                "POST",
                "/api/v1/warnings",
                &staff_token,
                Some(json!({
                    "domain": "chenxi-shuzhi-refund.cn",
                    "description": "冒充晨曦数智的“退款客服”网站，索要银行卡号和验证码。",
                    "evidence": "seen",
                })),
            ),
            StatusCode::CREATED,
        )
        .await;
        let path = format!("/api/v1/warnings/{}/prominent", w.warning);
        staff_step(t, "POST", &path, &staff_token).await;
        let (_, headers, zh) = get(t, "/embed/warnings?lang=zh&limit=5").await;
        let (_, _, en) = get(t, "/embed/warnings?lang=en&limit=5").await;
        let csp = headers[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .to_string();
        crate::snapshots::settings(&w.site, &w.complaint).bind(|| {
            insta::assert_snapshot!("board-zh.html", zh);
            insta::assert_snapshot!("board-en.html", en);
            insta::assert_snapshot!("board-csp", csp);
        });
    }
}

#[tokio::test]
async fn a_member_registers_the_origins_that_may_frame_the_board_and_nobody_else_can() {
    for backend in Backend::all() {
        let t = TestApp::new(backend).await;
        let admin = token_for(
            &t,
            &account_of(&t, Role::Admin, "admin@chengxin.test").await,
        )
        .await;
        let staff = token_for(&t, &account_of(&t, Role::Staff, STAFF).await).await;
        let operator = token_for(&t, &account_of(&t, Role::Operator, OPERATOR).await).await;
        let m = add_member(&t, &admin, "示例网络科技有限公司", "91110108MA04T7K21H").await;
        let other = add_member(&t, &admin, "深圳示例科技有限公司", "91440300708461136T").await;
        let own = member_token(&t, &m, "tns@example-member.cn").await;
        let foreign = member_token(&t, &other, "tns@other-member.cn").await;
        let path = format!("/api/v1/members/{m}/origins");
        let body = |o: &str| Some(json!({ "origin": o }));
        let stored = "SELECT COUNT(*) FROM member_origins";

        // Only the member itself or an admin: staff, an operator, another member 403.
        for token in [&staff, &operator, &foreign] {
            expect(
                &t,
                api("POST", &path, token, body("https://www.example.com")),
                StatusCode::FORBIDDEN,
            )
            .await;
            expect(&t, api("GET", &path, token, None), StatusCode::FORBIDDEN).await;
        }
        assert_eq!(t.scalar(stored).await, 0);
        // Bad origins: 422 naming the field, nothing stored.
        for bad in [
            "www.example.com",
            "http://www.example.com",
            "https://www.example.com/embed",
            "https://*.example.com",
            "https://www.example.com; script-src *",
            "https://user@www.example.com",
            "javascript:alert(1)",
        ] {
            let refused = refused_origin(&t, &path, &own, bad).await;
            assert!(refused.starts_with("an origin is"), "{bad}: {refused}");
        }
        expect(
            &t,
            api(
                "POST",
                "/api/v1/members/m_AAAAAAAAAAAA/origins",
                &admin,
                body("https://a.example.com"),
            ),
            StatusCode::NOT_FOUND,
        )
        .await;
        assert_eq!(t.scalar(stored).await, 0);

        // The member registers one, normalized; twice is a conflict.
        let o = expect(
            &t,
            api("POST", &path, &own, body("https://WWW.Example.com:443/")),
            StatusCode::CREATED,
        )
        .await;
        assert_eq!(o["origin"], "https://www.example.com");
        expect(
            &t,
            api("POST", &path, &own, body("https://www.example.com")),
            StatusCode::CONFLICT,
        )
        .await;
        // An admin adds one for it; the member lists both.
        expect(
            &t,
            api("POST", &path, &admin, body("http://127.0.0.1:41234")),
            StatusCode::CREATED,
        )
        .await;
        let listed = expect(&t, api("GET", &path, &own, None), StatusCode::OK).await;
        let origins: Vec<&str> = listed
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["origin"].as_str().unwrap())
            .collect();
        assert_eq!(origins.len(), 2, "{listed}");
        assert!(
            origins.contains(&"https://www.example.com")
                && origins.contains(&"http://127.0.0.1:41234")
        );
        // The board names them as ancestors.
        let (_, headers, _) = get(&t, "/embed/warnings").await;
        let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(
            csp.ends_with("frame-ancestors 'self' http://127.0.0.1:41234 https://www.example.com"),
            "{csp}"
        );

        // Up to 20; the 21st is refused and not stored.
        for i in 3..=20 {
            expect(
                &t,
                api(
                    "POST",
                    &path,
                    &own,
                    body(&format!("https://s{i}.example.com")),
                ),
                StatusCode::CREATED,
            )
            .await;
        }
        let refused = refused_origin(&t, &path, &own, "https://s21.example.com").await;
        assert!(refused.contains("at most 20"), "{refused}");
        assert_eq!(t.scalar(stored).await, 20);

        // Removing: another member cannot; the member can, and the board forgets it.
        let delete = format!("{path}?origin=https%3A%2F%2Fwww.example.com");
        expect(
            &t,
            api("DELETE", &delete, &foreign, None),
            StatusCode::FORBIDDEN,
        )
        .await;
        expect(
            &t,
            api("DELETE", &delete, &own, None),
            StatusCode::NO_CONTENT,
        )
        .await;
        expect(
            &t,
            api("DELETE", &delete, &own, None),
            StatusCode::NOT_FOUND,
        )
        .await;
        let (_, headers, _) = get(&t, "/embed/warnings").await;
        let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(!csp.contains("https://www.example.com"), "{csp}");
        assert_eq!(t.scalar(stored).await, 19);
        assert_eq!(
            t.scalar("SELECT COUNT(*) FROM audit_log WHERE action LIKE 'member.origin.%'")
                .await,
            21
        );
    }
}
