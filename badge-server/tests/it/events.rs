//! Seminars and forums (issue 16): staff create, change and delete them over the API
//! and the console (audited in the same transaction); everyone reads `/events`,
//! `/events/{id}` and the iCalendar feed, which Python's `icalendar` (PyPI, in the
//! pkilint venv) parses; hostile texts are shown inert; nobody but staff publishes.
//! Both backends.

use std::process::Command;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use badge_server::domain::account::{Email, Role};
use serde_json::{Value, json};
use testkit::Backend;

use crate::accounts::TestApp;
use crate::pages::{OPERATOR, STAFF, USER, signed_in};

const XSS: &str = "<script>alert(1)</script>";

/// A bearer token of `account`.
pub(crate) async fn token_for(
    t: &TestApp,
    account: &badge_server::domain::account::Account,
) -> String {
    badge_server::store::accounts::create_token(&t.state.db, account, "t")
        .await
        .unwrap()
        .as_str()
        .to_string()
}

async fn token(t: &TestApp, role: Role, email: &str) -> String {
    t.account(role, email).await;
    let a = badge_server::store::accounts::ensure(&t.state.db, &Email::parse(email).unwrap(), role)
        .await
        .unwrap();
    token_for(t, &a).await
}

/// Signed in as an operator and as a plain user: the console page at `path` is 403,
/// and so is posting its form (with a valid CSRF token) `fields`.
pub(crate) async fn console_refuses_non_staff(t: &TestApp, path: &str, fields: &[(&str, &str)]) {
    for email in [OPERATOR, USER] {
        let mut b = signed_in(t, email).await;
        assert_eq!(b.get(path).await.status, StatusCode::FORBIDDEN, "{email}");
        let csrf = b.get("/account").await.csrf();
        let mut form = vec![("csrf", csrf.as_str())];
        form.extend_from_slice(fields);
        let r = b.post(path, &form).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{email}");
    }
}

/// Sends `req`, asserts the answer's status, and returns its JSON body (null when
/// it has none).
pub(crate) async fn expect(t: &TestApp, req: Request<Body>, status: StatusCode) -> Value {
    let (code, _, body) = t.call(req).await;
    let text = String::from_utf8_lossy(&body);
    assert_eq!(code, status, "{text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// A JSON API request with a bearer token.
pub(crate) fn api(method: &str, path: &str, token: &str, body: Option<Value>) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
        .unwrap()
}

/// Parses `ics` with Python's `icalendar` and returns, per VEVENT, its UID, SUMMARY,
/// LOCATION, DESCRIPTION and DTSTART (ISO 8601, UTC) as JSON.
fn parse_ics(ics: &str) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("events.ics");
    std::fs::write(&file, ics).unwrap();
    let python = testkit::pkilint_venv().join("bin").join("python");
    assert!(
        python.exists(),
        "{} not found: scripts/pkilint-venv installs icalendar beside pkilint",
        python.display()
    );
    let script = r#"
import sys, json, icalendar
cal = icalendar.Calendar.from_ical(open(sys.argv[1], 'rb').read())
assert cal['VERSION'] == '2.0', cal['VERSION']
out = []
for e in cal.walk('VEVENT'):
    for k in ('UID', 'DTSTAMP', 'DTSTART', 'SUMMARY'):
        assert k in e, k
    start = e.decoded('DTSTART')
    assert start.utcoffset().total_seconds() == 0, start
    out.append({k.lower(): str(e.get(k)) for k in ('UID', 'SUMMARY', 'LOCATION', 'DESCRIPTION', 'URL')}
               | {'dtstart': start.isoformat()})
print(json.dumps(out, ensure_ascii=False))
"#;
    let r = testkit::run(Command::new(python).arg("-c").arg(script).arg(&file)).ok();
    serde_json::from_str(&r.stdout).unwrap()
}

#[tokio::test]
async fn staff_publish_change_and_delete_events_and_everyone_reads_them_and_their_calendar() {
    for backend in Backend::all() {
        let t = TestApp::new(backend).await;
        let staff = token(&t, Role::Staff, STAFF).await;
        let long_title =
            format!("{XSS} 网络诚信建设研讨会，暨《反网络欺诈自律公约》; 签约仪式\\第二场");
        let created = expect(
            &t,
            api(
                "POST",
                "/api/v1/events",
                &staff,
                Some(json!({
                    "title": long_title,
                    "starts": "2099-12-20T14:30",
                    "place": "北京市海淀区, 中关村; 会议中心",
                    "description": format!("议程：\n1. {XSS}\n2. <img src=x onerror=alert(1)>"),
                    "registration_url": "https://reg.example.cn/e?x=1&y=2",
                })),
            ),
            StatusCode::CREATED,
        )
        .await;
        let id = created["id"].as_i64().unwrap();
        assert_eq!(created["starts"], "2099-12-20 14:30 (UTC+8)");
        assert_eq!(created["past"], false);
        // A past one, through the console form.
        let mut console = signed_in(&t, STAFF).await;
        let r = console
            .submit(
                "/console/events",
                "/console/events",
                &[
                    ("title", "专题论坛：识破网络欺诈"),
                    ("starts", "2020-03-10T10:00"),
                    ("place", "上海"),
                    ("description", "回顾"),
                    ("registration_url", ""),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        assert!(console.follow(r).await.body.contains("已发布活动"));

        // Each creation audited (in its transaction: the row and the entry commit together).
        assert_eq!(
            t.scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'event.create'")
                .await,
            2
        );

        // Public list, page, JSON: texts escaped, the link only http(s).
        let mut visitor = t.browser();
        let list = visitor.get("/events").await;
        assert_eq!(list.status, StatusCode::OK);
        let up = list.body.find("id=\"upcoming\"").unwrap();
        let past = list.body.find("id=\"past\"").unwrap();
        let at_rev = list.body.find("网络诚信建设研讨会").unwrap();
        let at_past = list.body.find("识破网络欺诈").unwrap();
        assert!(
            up < at_rev && at_rev < past && past < at_past,
            "upcoming, then past"
        );
        let page = visitor.get(&format!("/events/{id}")).await;
        assert_eq!(page.status, StatusCode::OK);
        for html in [&list.body, &page.body] {
            assert!(!html.contains("<script>alert"), "{html}");
            assert!(!html.contains("<img src=x"), "{html}");
        }
        // Shown as text (escaped), not dropped.
        assert!(page.body.contains("script&#62;alert(1)"), "{}", page.body);
        assert!(
            page.body
                .contains("href=\"https://reg.example.cn/e?x=1&#38;y=2\"")
        );
        assert_eq!(
            visitor.get("/events/999999").await.status,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            visitor.get("/events/abc").await.status,
            StatusCode::NOT_FOUND
        );

        // The calendar, parsed by a real parser.
        let (code, headers, ics) = t
            .call(Request::get("/events.ics").body(Body::empty()).unwrap())
            .await;
        assert_eq!(code, StatusCode::OK);
        assert!(
            headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/calendar")
        );
        let ics = String::from_utf8(ics.to_vec()).unwrap();
        assert!(ics.lines().all(|l| l.len() <= 76), "folded at 75 octets");
        let parsed = parse_ics(&ics);
        let events = parsed.as_array().unwrap();
        assert_eq!(events.len(), 2, "{parsed}");
        let e = events
            .iter()
            .find(|e| e["uid"] == format!("event-{id}@127.0.0.1"))
            .unwrap_or_else(|| panic!("{parsed}"));
        assert_eq!(e["summary"], long_title, "escaping and folding round-trip");
        assert_eq!(e["location"], "北京市海淀区, 中关村; 会议中心");
        assert_eq!(e["dtstart"], "2099-12-20T06:30:00+00:00");
        assert!(
            e["description"]
                .as_str()
                .unwrap()
                .contains("https://reg.example.cn/e?x=1&y=2")
        );

        // Changed, then deleted: audited, gone from the lists and the feed.
        let (code, _, body) = t
            .call(api(
                "PUT",
                &format!("/api/v1/events/{id}"),
                &staff,
                Some(
                    json!({"title": "改期", "starts": "2099-12-21T09:00:00+08:00", "place": "北京",
                    "description": "改期"}),
                ),
            ))
            .await;
        assert_eq!(code, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
        let (_, _, body) = t
            .call(
                Request::get(format!("/api/v1/events/{id}"))
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        let changed: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(changed["title"], "改期");
        assert_eq!(changed["registration_url"], Value::Null);
        let (code, _, _) = t
            .call(api("DELETE", &format!("/api/v1/events/{id}"), &staff, None))
            .await;
        assert_eq!(code, StatusCode::NO_CONTENT);
        let (code, _, _) = t
            .call(api("DELETE", &format!("/api/v1/events/{id}"), &staff, None))
            .await;
        assert_eq!(code, StatusCode::NOT_FOUND);
        let (_, _, body) = t
            .call(Request::get("/api/v1/events").body(Body::empty()).unwrap())
            .await;
        let lists: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(lists["upcoming"], json!([]));
        assert_eq!(lists["past"].as_array().unwrap().len(), 1);
        assert_eq!(
            t.scalar(
                "SELECT COUNT(*) FROM audit_log WHERE action IN ('event.update', 'event.delete')"
            )
            .await,
            2
        );
    }
}

#[tokio::test]
async fn bad_event_input_is_refused_and_only_staff_publish_events() {
    for backend in Backend::all() {
        let t = TestApp::new(backend).await;
        let staff = token(&t, Role::Staff, STAFF).await;
        let operator = token(&t, Role::Operator, OPERATOR).await;
        let user = token(&t, Role::User, USER).await;
        let good = json!({"title": "研讨会", "starts": "2099-01-01T10:00", "place": "北京",
            "description": "简介"});
        for (field, value) in [
            ("registration_url", "javascript:alert(1)"),
            ("registration_url", "data:text/html,x"),
            ("registration_url", "//evil.example/"),
            ("starts", "next Tuesday"),
            ("title", ""),
            ("place", "北京\u{7}"),
        ] {
            let mut b = good.clone();
            b[field] = json!(value);
            let (code, _, body) = t.call(api("POST", "/api/v1/events", &staff, Some(b))).await;
            assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{field}={value}");
            let body: Value = serde_json::from_slice(&body).unwrap();
            assert!(body["fields"][field].is_string(), "{field}: {body}");
        }
        for who in [&operator, &user] {
            let (code, _, _) = t
                .call(api("POST", "/api/v1/events", who, Some(good.clone())))
                .await;
            assert_eq!(code, StatusCode::FORBIDDEN);
        }
        console_refuses_non_staff(
            &t,
            "/console/events",
            &[
                ("title", "x"),
                ("starts", "2099-01-01T10:00"),
                ("place", "x"),
                ("description", "x"),
            ],
        )
        .await;
        // The console form refuses a javascript: link with the field named.
        let mut console = signed_in(&t, STAFF).await;
        let r = console
            .submit(
                "/console/events",
                "/console/events",
                &[
                    ("title", "研讨会"),
                    ("starts", "2099-01-01T10:00"),
                    ("place", "北京"),
                    ("description", "简介"),
                    ("registration_url", "javascript:alert(1)"),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(r.body.contains("报名链接 (registration_url)"), "{}", r.body);
        assert_eq!(t.scalar("SELECT COUNT(*) FROM events").await, 0);
        assert_eq!(
            t.scalar("SELECT COUNT(*) FROM audit_log WHERE action LIKE 'event.%'")
                .await,
            0
        );
    }
}
