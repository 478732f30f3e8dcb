//! The exchange feed (issue 17): audited actions projected into events in the audit
//! log's order; pages for member accounts only, each signed with a detached ES256
//! JWS that Python's `jwcrypto` (PyPI, in the pkilint venv) verifies against
//! `/.well-known/jwks.json`; cursors that were never issued refused; no event
//! skipped or repeated while concurrent writers add events and two replicas
//! project. Both backends.

use std::process::Command;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use badge_server::domain::account::{Account, Role};
use badge_server::domain::complaint::Decision;
use badge_server::domain::warning::NewWarning;
use badge_server::service::{complaints as complaint, exchange, warnings};
use serde_json::Value;
use testkit::Backend;

use crate::accounts::TestApp;
use crate::events::{api, token_for};
use crate::members::{SITE_USCC, add_member, member_token};
use crate::pages::{OPERATOR, STAFF, USER, account_of};

const TEXT: &str = "付款后不发货，客服电话13812345678不接，请处理。";

/// Projects everything audited so far (as the server's projector does every second).
async fn project(t: &TestApp) -> usize {
    let s = &t.state.services;
    exchange::project(&s.db, &s.exchange, badge_server::domain::clock::now())
        .await
        .unwrap()
}

/// One page as served: status, the JWS header and the body bytes.
async fn get_page(t: &TestApp, token: &str, query: &str) -> (StatusCode, Option<String>, Vec<u8>) {
    let (status, headers, body) = t
        .call(api(
            "GET",
            &format!("/api/v1/exchange/events{query}"),
            token,
            None,
        ))
        .await;
    let jws = headers
        .get("chengxin-jws")
        .map(|v| v.to_str().unwrap().to_string());
    (status, jws, body.to_vec())
}

/// Every event from the start, `limit` a page, each page's signature checked in
/// Rust against the published key: the events.
async fn read_all(
    t: &TestApp,
    token: &str,
    limit: i64,
    mut after: Option<String>,
) -> (Vec<Value>, String) {
    let jwk = jwks(t).await["keys"][0].clone();
    let mut events = Vec::new();
    loop {
        let query = match &after {
            Some(c) => format!("?limit={limit}&after={c}"),
            None => format!("?limit={limit}"),
        };
        let (status, jws, body) = get_page(t, token, &query).await;
        assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
        assert!(
            badge_server::domain::jws::verify_detached(&jwk, &jws.unwrap(), &body),
            "a page's signature does not verify"
        );
        let page: Value = serde_json::from_slice(&body).unwrap();
        let got = page["events"].as_array().unwrap().clone();
        let next = page["next"].as_str().unwrap().to_string();
        if got.is_empty() {
            return (events, next);
        }
        events.extend(got);
        after = Some(next);
    }
}

async fn jwks(t: &TestApp) -> Value {
    let (status, headers, body) = t
        .call(
            Request::get("/.well-known/jwks.json")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "application/jwk-set+json");
    serde_json::from_slice(&body).unwrap()
}

/// Verifies `jws` over `body` with Python's jwcrypto and the JWK Set: the payload
/// goes back between the dots (RFC 7515 appendix F) and the key is found by `kid`.
fn python_verifies(jwks: &Value, jws: &str, body: &[u8]) -> bool {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("jwks.json"), jwks.to_string()).unwrap();
    std::fs::write(dir.path().join("jws"), jws).unwrap();
    std::fs::write(dir.path().join("body"), body).unwrap();
    let python = testkit::pkilint_venv().join("bin").join("python");
    let script = r#"
import base64, json, sys
from jwcrypto import jwk, jws
d = sys.argv[1]
keys = jwk.JWKSet.from_json(open(d + "/jwks.json").read())
compact = open(d + "/jws").read()
body = open(d + "/body", "rb").read()
header, empty, sig = compact.split(".")
assert empty == "", "the payload is not detached"
kid = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"]
key = keys.get_key(kid)
token = jws.JWS()
token.deserialize(compact)
token.verify(key, alg="ES256", detached_payload=body)
print("verified")
"#;
    let out = testkit::run(Command::new(python).arg("-c").arg(script).arg(dir.path()));
    out.code == 0 && out.stdout.contains("verified")
}

struct Setup {
    t: TestApp,
    member: String,
    staff: Account,
    site: String,
}

async fn setup(backend: Backend) -> Setup {
    let t = TestApp::new(backend).await;
    let admin = account_of(&t, Role::Admin, "admin@chengxin.test").await;
    let admin = token_for(&t, &admin).await;
    let id = add_member(&t, &admin, "晨曦数智科技有限公司", SITE_USCC).await;
    let member = member_token(&t, &id, "tns@chenxi-shuzhi.cn").await;
    let op = account_of(&t, Role::Operator, OPERATOR).await;
    let staff = account_of(&t, Role::Staff, STAFF).await;
    let site = crate::certified_site(&t.state, &op, &staff, "chenxi-shuzhi.cn").await;
    Setup {
        t,
        member,
        staff,
        site,
    }
}

#[tokio::test]
async fn members_read_decisions_holds_and_warnings_in_signed_pages() {
    for backend in Backend::all() {
        let Setup {
            t,
            member,
            staff,
            site,
        } = setup(backend).await;
        let s = &t.state.services;
        let op = account_of(&t, Role::Operator, OPERATOR).await;
        let user = account_of(&t, Role::User, USER).await;
        let now = badge_server::domain::clock::now();
        let c = complaint::submit(s, &user, &site, "fraud", TEXT, now)
            .await
            .unwrap();
        complaint::answer(s, &op, &c.id, "已处理。", now)
            .await
            .unwrap();
        complaint::decide(
            s,
            &staff,
            &c.id,
            Decision::Upheld {
                revocation: ca::RevocationReason::CertificateHold,
            },
            "核实属实，电话13812345678",
            now,
        )
        .await
        .unwrap();
        let w = NewWarning {
            domain: "chenxi-shuzhi-kefu.cn",
            impersonates: Some(&site),
            description: "冒充晨曦数智的客服网站。",
            evidence: "seen 2026-12-01",
            confirm_certified: false,
        };
        let published = warnings::publish(s, &staff, &w, now).await.unwrap();
        warnings::set_prominent(s, &staff, published.id, true, now)
            .await
            .unwrap();
        // Nothing is in the feed before the projection, and then each once (the
        // projection again adds nothing).
        let (before, start) = read_all(&t, &member, 100, None).await;
        assert!(before.is_empty(), "{before:?}");
        assert_eq!(project(&t).await, 4);
        assert_eq!(project(&t).await, 0);
        // From the empty page's cursor on: the same events as from the start.
        let (from_start, _) = read_all(&t, &member, 1, None).await;
        let (events, _) = read_all(&t, &member, 1, Some(start)).await;
        assert_eq!(events, from_start);
        let kinds: Vec<&str> = events.iter().map(|e| e["kind"].as_str().unwrap()).collect();
        // In the audit log's order: the decision's transaction audits the hold first.
        assert_eq!(
            kinds,
            [
                "site.held",
                "complaint.decided",
                "warning.published",
                "case.prominent"
            ],
            "{events:?}"
        );
        let decided = &events[1]["data"];
        assert_eq!(decided["uscc"], SITE_USCC);
        assert_eq!(
            decided["organization"], "北京晨曦数智科技有限公司",
            "{decided}"
        );
        assert_eq!(decided["site"], site.as_str());
        assert_eq!(decided["complaint"]["decision"], "upheld");
        assert_eq!(decided["complaint"]["category"], "fraud");
        // Masked; and nothing of the complainant.
        let all = serde_json::to_string(&events).unwrap();
        assert!(!all.contains("13812345678"), "{all}");
        assert!(!all.contains(USER), "{all}");
        assert!(
            decided["complaint"]["text"]
                .as_str()
                .unwrap()
                .contains("付款后不发货")
        );
        assert_eq!(events[0]["data"]["reason"], "certificateHold");
        assert_eq!(events[0]["data"]["site"], site.as_str());
        assert_eq!(events[2]["data"]["domain"], "chenxi-shuzhi-kefu.cn");
        // A case marked prominent: members publish it on their own sites too.
        assert_eq!(events[3]["data"]["case"], "warning");
        assert_eq!(events[3]["data"]["id"], published.id.to_string());
        // Strictly increasing, and each event's cursor goes on after it.
        let seqs: Vec<i64> = events.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
        let (rest, _) = read_all(
            &t,
            &member,
            10,
            Some(events[0]["cursor"].as_str().unwrap().into()),
        )
        .await;
        assert_eq!(rest, events[1..]);

        // A JOSE library nobody here wrote verifies a page with the published key.
        let (_, jws, body) = get_page(&t, &member, "?limit=2").await;
        let keys = jwks(&t).await;
        assert!(python_verifies(&keys, jws.as_deref().unwrap(), &body));
        let mut tampered = body.clone();
        let at = tampered.iter().position(|b| *b == b'1').unwrap();
        tampered[at] = b'2';
        assert!(!python_verifies(&keys, jws.as_deref().unwrap(), &tampered));
    }
}

#[tokio::test]
async fn only_member_accounts_read_the_feed_and_bad_cursors_are_refused() {
    for backend in Backend::all() {
        let Setup {
            t, member, staff, ..
        } = setup(backend).await;
        let staff_token = token_for(&t, &staff).await;
        let op = account_of(&t, Role::Operator, OPERATOR).await;
        let op_token = token_for(&t, &op).await;
        let user = account_of(&t, Role::User, USER).await;
        let user_token = token_for(&t, &user).await;
        for token in [&staff_token, &op_token, &user_token] {
            assert_eq!(get_page(&t, token, "").await.0, StatusCode::FORBIDDEN);
        }
        let (status, _, _) = t
            .call(
                Request::get("/api/v1/exchange/events")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        for (query, says) in [
            ("?after=AAAAAAAAAAE", "not a cursor this feed issued"),
            ("?limit=0", "limit"),
            ("?limit=1001", "limit"),
        ] {
            let (status, jws, body) = get_page(&t, &member, query).await;
            let text = String::from_utf8_lossy(&body);
            assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {text}");
            assert!(text.contains(says), "{query}: {text}");
            assert!(jws.is_none());
        }
        // A cursor forged from a real one: refused.
        let (_, _, body) = get_page(&t, &member, "").await;
        let next = serde_json::from_slice::<Value>(&body).unwrap()["next"]
            .as_str()
            .unwrap()
            .to_string();
        let forged = format!(
            "{}{}",
            &next[..next.len() - 1],
            if next.ends_with('A') { "B" } else { "A" }
        );
        assert_eq!(
            get_page(&t, &member, &format!("?after={forged}")).await.0,
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            get_page(&t, &member, &format!("?after={next}")).await.0,
            StatusCode::OK
        );
    }
}

#[tokio::test]
async fn one_member_account_reads_at_most_pages_per_minute() {
    use badge_server::domain::exchange::PAGES_PER_MINUTE;
    for backend in Backend::all() {
        let Setup { t, member, .. } = setup(backend).await;
        for _ in 0..PAGES_PER_MINUTE {
            assert_eq!(get_page(&t, &member, "?limit=1").await.0, StatusCode::OK);
        }
        let (status, headers, body) = t
            .call(api("GET", "/api/v1/exchange/events", &member, None))
            .await;
        let text = String::from_utf8_lossy(&body);
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{text}");
        assert!(text.contains("pages a minute"), "{text}");
        let wait: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=60).contains(&wait), "{wait}");
        // Another member's account is not held back by this one.
        let other = member_token(&t, &other_member(&t).await, "other@member.test").await;
        assert_eq!(get_page(&t, &other, "").await.0, StatusCode::OK);
    }
}

/// A second member, for limits that are per account.
async fn other_member(t: &TestApp) -> String {
    let admin = account_of(t, Role::Admin, "admin2@chengxin.test").await;
    let admin = token_for(t, &admin).await;
    add_member(t, &admin, "深圳示例网络有限公司", "91440300708461136T").await
}

#[tokio::test]
async fn no_event_is_skipped_or_repeated_while_writers_and_two_projectors_run() {
    const WRITERS: usize = 4;
    const EACH: usize = 12;
    for backend in Backend::all() {
        let Setup {
            t, member, staff, ..
        } = setup(backend).await;
        let services = t.state.services.clone();
        let mut writers = Vec::new();
        for w in 0..WRITERS {
            let (s, staff) = (services.clone(), staff.clone());
            writers.push(tokio::spawn(async move {
                for i in 0..EACH {
                    let domain = format!("fake-{w}-{i}.example.cn");
                    let new = NewWarning {
                        domain: &domain,
                        impersonates: None,
                        description: "冒充网站。",
                        evidence: "seen",
                        confirm_certified: false,
                    };
                    warnings::publish(&s, &staff, &new, badge_server::domain::clock::now())
                        .await
                        .unwrap();
                    tokio::task::yield_now().await;
                }
            }));
        }
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut projectors = Vec::new();
        for _ in 0..2 {
            let (s, done) = (services.clone(), done.clone());
            projectors.push(tokio::spawn(async move {
                while !done.load(std::sync::atomic::Ordering::SeqCst) {
                    exchange::project(&s.db, &s.exchange, badge_server::domain::clock::now())
                        .await
                        .unwrap();
                    tokio::time::sleep(std::time::Duration::from_millis(3)).await;
                }
            }));
        }
        // The reader pages on (3 a page) while the writers write.
        let mut seen: Vec<i64> = Vec::new();
        let mut after: Option<String> = None;
        let mut idle_rounds = 0;
        while idle_rounds < 3 {
            let (events, next) = read_all(&t, &member, 3, after.clone()).await;
            after = Some(next);
            if events.is_empty() && writers.iter().all(|w| w.is_finished()) {
                // Once the writers are done, a last projection, then the rest.
                done.store(true, std::sync::atomic::Ordering::SeqCst);
                idle_rounds += 1;
                project(&t).await;
            }
            seen.extend(events.iter().map(|e| e["seq"].as_i64().unwrap()));
            // Paced as a client must be, to stay within PAGES_PER_MINUTE.
            tokio::time::sleep(std::time::Duration::from_millis(40)).await;
        }
        for p in projectors {
            p.await.unwrap();
        }
        assert!(
            seen.windows(2).all(|w| w[0] < w[1]),
            "{backend:?}: out of order or repeated: {seen:?}"
        );
        assert_eq!(seen.len(), WRITERS * EACH, "{backend:?}: {seen:?}");
        let stored = t.scalar("SELECT COUNT(*) FROM exchange_events").await;
        assert_eq!(stored, (WRITERS * EACH) as i64);
        let published = t
            .scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'warning.publish'")
            .await;
        assert_eq!(published, (WRITERS * EACH) as i64);
    }
}

#[tokio::test]
async fn member_webhooks_receive_each_new_event() {
    for backend in Backend::all() {
        let Setup {
            t,
            member: _,
            staff,
            ..
        } = setup(backend).await;
        let s = &t.state.services;
        // A member account with a webhook (stored directly: the URL check wants a
        // public address, which a test has not).
        t.exec("UPDATE accounts SET webhook_url = 'https://hooks.example.com/x', webhook_secret = 'whsec_x' WHERE role = 'member'")
            .await;
        let new = NewWarning {
            domain: "chenxi-fake.cn",
            impersonates: None,
            description: "冒充网站。",
            evidence: "seen",
            confirm_certified: false,
        };
        warnings::publish(s, &staff, &new, badge_server::domain::clock::now())
            .await
            .unwrap();
        assert_eq!(project(&t).await, 1);
        let jobs = t
            .scalar("SELECT COUNT(*) FROM jobs WHERE kind = 'webhook' AND payload LIKE '%exchange.event%'")
            .await;
        assert_eq!(jobs, 1, "{backend:?}");
    }
}
