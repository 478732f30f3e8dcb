//! Shared records (issue 17): members submit them masked (a personal number left
//! after masking is refused, naming the field); who sees what (the matrix); the
//! organization concerned is told, disputes once, staff keep or delete; records
//! shared with members reach the exchange feed; expired records are deleted by
//! housekeeping. Both backends.

use axum::http::{Method, StatusCode};
use badge_server::domain::account::Role;
use badge_server::domain::record::NewRecord;
use serde_json::{Value, json};
use testkit::Backend;

use crate::accounts::TestApp;
use crate::events::{api, expect, token_for};
use crate::members::{SITE_USCC, add_member, member_token};
use crate::pages::{OPERATOR, STAFF, USER, account_of};

const OTHER_OPERATOR: &str = "ops@other.cn";

async fn submit(t: &TestApp, token: &str, body: Value, status: StatusCode) -> Value {
    expect(t, api("POST", "/api/v1/records", token, Some(body)), status).await
}

#[tokio::test]
async fn members_share_records_the_organization_disputes_and_staff_resolve() {
    for backend in Backend::all() {
        let t = TestApp::new(backend).await;
        let admin = account_of(&t, Role::Admin, "admin@chengxin.test").await;
        let admin = token_for(&t, &admin).await;
        let a = add_member(&t, &admin, "甲网络有限公司", "91440300708461136T").await;
        let b = add_member(&t, &admin, "乙科技有限公司", "91520102MAAJ3P7YXW").await;
        let member_a = member_token(&t, &a, "tns@a.cn").await;
        let member_b = member_token(&t, &b, "tns@b.cn").await;
        let op = account_of(&t, Role::Operator, OPERATOR).await;
        let op_token = token_for(&t, &op).await;
        let other = account_of(&t, Role::Operator, OTHER_OPERATOR).await;
        let other_token = token_for(&t, &other).await;
        let staff = account_of(&t, Role::Staff, STAFF).await;
        let staff_token = token_for(&t, &staff).await;
        let user = account_of(&t, Role::User, USER).await;
        let user_token = token_for(&t, &user).await;
        crate::certified_site(&t.state, &op, &staff, "chenxi-shuzhi.cn").await;

        // Bad input: each field named, nothing stored.
        let mails = t.mails().await.len();
        for (body, field) in [
            (
                json!({ "uscc": "91110108MA04T7K21J", "category": "fraud", "summary": "x", "scope": "members" }),
                "uscc",
            ),
            (
                json!({ "uscc": SITE_USCC, "category": "gossip", "summary": "x", "scope": "members" }),
                "category",
            ),
            (
                json!({ "uscc": SITE_USCC, "category": "fraud", "summary": "字".repeat(4001), "scope": "members" }),
                "summary",
            ),
            (
                json!({ "uscc": SITE_USCC, "category": "fraud", "summary": "客服 138.1234.5678", "scope": "members" }),
                "summary",
            ),
            (
                json!({ "uscc": SITE_USCC, "category": "fraud", "summary": "卡 6222 0202 0000 0000 014", "scope": "members" }),
                "summary",
            ),
            (
                json!({ "category": "fraud", "summary": "x", "scope": "members" }),
                "uscc",
            ),
            (
                json!({ "uscc": SITE_USCC, "category": "fraud", "summary": "x", "scope": "everyone" }),
                "scope",
            ),
        ] {
            let e = submit(&t, &member_a, body, StatusCode::UNPROCESSABLE_ENTITY).await;
            assert!(e["fields"][field].is_string(), "{field}: {e}");
        }
        assert_eq!(t.scalar("SELECT COUNT(*) FROM shared_records").await, 0);
        assert_eq!(t.mails().await.len(), mails);
        // Only member accounts submit.
        let ok =
            json!({ "uscc": SITE_USCC, "category": "fraud", "summary": "x", "scope": "members" });
        for token in [&staff_token, &op_token, &user_token] {
            submit(&t, token, ok.clone(), StatusCode::FORBIDDEN).await;
        }

        let shared = submit(
            &t,
            &member_a,
            json!({ "uscc": SITE_USCC, "category": "fraud",
                    "summary": "收款后不发货，客服 13812345678", "scope": "members" }),
            StatusCode::CREATED,
        )
        .await;
        assert_eq!(shared["summary"], "收款后不发货，客服 138****5678");
        let staff_only = submit(
            &t,
            &member_a,
            json!({ "domain": "chenxi-shuzhi.cn", "category": "counterfeit",
                    "summary": "售卖假冒商品。", "scope": "staff" }),
            StatusCode::CREATED,
        )
        .await;
        let (shared_id, staff_id) = (
            shared["id"].as_str().unwrap(),
            staff_only["id"].as_str().unwrap(),
        );
        // The organization concerned is told (twice: once a record).
        let told = t
            .mails()
            .await
            .iter()
            .filter(|m| m["to"] == OPERATOR)
            .count();
        assert_eq!(told, 2);

        // Who sees what: (token, ids listed, shared GET, staff-only GET).
        let ok_or_404 = |seen: bool| {
            if seen {
                StatusCode::OK
            } else {
                StatusCode::NOT_FOUND
            }
        };
        for (who, token, listed, sees_shared, sees_staff_only) in [
            ("member a", &member_a, 2, true, true),
            ("member b", &member_b, 1, true, false),
            ("staff", &staff_token, 2, true, true),
            ("operator concerned", &op_token, 2, true, true),
            ("other operator", &other_token, 0, false, false),
        ] {
            let list = expect(
                &t,
                api("GET", "/api/v1/records", token, None),
                StatusCode::OK,
            )
            .await;
            assert_eq!(list.as_array().unwrap().len(), listed, "{who}: {list}");
            expect(
                &t,
                api("GET", &format!("/api/v1/records/{shared_id}"), token, None),
                ok_or_404(sees_shared),
            )
            .await;
            expect(
                &t,
                api("GET", &format!("/api/v1/records/{staff_id}"), token, None),
                ok_or_404(sees_staff_only),
            )
            .await;
        }
        expect(
            &t,
            api("GET", "/api/v1/records", &user_token, None),
            StatusCode::FORBIDDEN,
        )
        .await;
        expect(
            &t,
            api(
                "GET",
                &format!("/api/v1/records/{shared_id}"),
                &user_token,
                None,
            ),
            StatusCode::NOT_FOUND,
        )
        .await;
        // The organization does not learn which member shared the record.
        let seen = expect(
            &t,
            api(
                "GET",
                &format!("/api/v1/records/{shared_id}"),
                &op_token,
                None,
            ),
            StatusCode::OK,
        )
        .await;
        assert_eq!(seen["member"], "", "{seen}");
        let filtered = expect(
            &t,
            api(
                "GET",
                "/api/v1/records?domain=chenxi-shuzhi.cn",
                &staff_token,
                None,
            ),
            StatusCode::OK,
        )
        .await;
        assert_eq!(filtered.as_array().unwrap().len(), 1);

        // Disputes: only the organization concerned, once.
        let path = format!("/api/v1/records/{shared_id}/dispute");
        let body = json!({ "text": "已全额退款，记录不实。" });
        expect(
            &t,
            api("POST", &path, &other_token, Some(body.clone())),
            StatusCode::NOT_FOUND,
        )
        .await;
        expect(
            &t,
            api("POST", &path, &member_b, Some(body.clone())),
            StatusCode::FORBIDDEN,
        )
        .await;
        let disputed = expect(
            &t,
            api("POST", &path, &op_token, Some(body.clone())),
            StatusCode::OK,
        )
        .await;
        assert!(disputed["disputed_at"].is_i64(), "{disputed}");
        expect(
            &t,
            api("POST", &path, &op_token, Some(body)),
            StatusCode::CONFLICT,
        )
        .await;
        assert!(
            t.mails()
                .await
                .iter()
                .any(|m| m["to"] == STAFF && m["subject"].as_str().unwrap().contains("有异议"))
        );
        let as_b = expect(
            &t,
            api(
                "GET",
                &format!("/api/v1/records/{shared_id}"),
                &member_b,
                None,
            ),
            StatusCode::OK,
        )
        .await;
        assert_eq!(as_b["dispute"], "已全额退款，记录不实。");

        // Staff resolve: keep the disputed one; a record not disputed cannot be "kept".
        let resolve = |id: &str| format!("/api/v1/records/{id}/resolve");
        let keep = json!({ "outcome": "keep", "reason": "证据充分。" });
        expect(
            &t,
            api("POST", &resolve(shared_id), &member_a, Some(keep.clone())),
            StatusCode::FORBIDDEN,
        )
        .await;
        expect(
            &t,
            api("POST", &resolve(staff_id), &staff_token, Some(keep.clone())),
            StatusCode::CONFLICT,
        )
        .await;
        let kept = expect(
            &t,
            api("POST", &resolve(shared_id), &staff_token, Some(keep)),
            StatusCode::OK,
        )
        .await;
        assert!(kept["resolved_at"].is_i64());
        // Evidence: the member that shared a record adds files, its readers get them.
        let (png, _) = crate::complaints::noisy_png(24, 24);
        let upload = |id: &str| format!("/api/v1/records/{id}/attachments?name=evidence.png");
        let post = |token: &str, id: &str, body: Vec<u8>| {
            let (path, token) = (upload(id), token.to_string());
            let t = &t;
            async move { crate::complaints::api(t, Method::POST, &path, Some(&token), body, true).await }
        };
        assert_eq!(
            post(&member_b, shared_id, png.clone()).await.0,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            post(&other_token, shared_id, png.clone()).await.0,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            post(&member_a, shared_id, b"<html>".to_vec()).await.0,
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        );
        assert_eq!(t.scalar("SELECT COUNT(*) FROM record_attachments").await, 0);
        let (status, _, body) = post(&member_a, shared_id, png.clone()).await;
        assert_eq!(
            status,
            StatusCode::CREATED,
            "{}",
            String::from_utf8_lossy(&body)
        );
        assert_eq!(
            post(&member_a, staff_id, png.clone()).await.0,
            StatusCode::CREATED
        );
        let files = expect(
            &t,
            api(
                "GET",
                &format!("/api/v1/records/{shared_id}/attachments"),
                &member_b,
                None,
            ),
            StatusCode::OK,
        )
        .await;
        let url = files[0]["url"]
            .as_str()
            .unwrap()
            .split("/api/")
            .nth(1)
            .unwrap()
            .to_string();
        let (status, headers, _) = t
            .call(api("GET", &format!("/api/{url}"), &member_b, None))
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers["content-type"], "image/png");
        let (status, _, _) = t
            .call(api("GET", &format!("/api/{url}"), &other_token, None))
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        expect(
            &t,
            api(
                "GET",
                &format!("/api/v1/records/{staff_id}/attachments"),
                &member_b,
                None,
            ),
            StatusCode::NOT_FOUND,
        )
        .await;

        let gone = json!({ "outcome": "delete", "reason": "重复提交。" });
        expect(
            &t,
            api("POST", &resolve(staff_id), &staff_token, Some(gone)),
            StatusCode::NO_CONTENT,
        )
        .await;
        expect(
            &t,
            api(
                "GET",
                &format!("/api/v1/records/{staff_id}"),
                &staff_token,
                None,
            ),
            StatusCode::NOT_FOUND,
        )
        .await;
        // Its files went with it; the shared record's stay.
        assert_eq!(t.scalar("SELECT COUNT(*) FROM record_attachments").await, 1);

        // On the feed: the shared record, its dispute and staff's decision; nothing of
        // the staff-only one.
        let s = &t.state.services;
        badge_server::service::exchange::project(
            &s.db,
            &s.exchange,
            badge_server::domain::clock::now(),
        )
        .await
        .unwrap();
        let page: Value = expect(
            &t,
            api("GET", "/api/v1/exchange/events?limit=1000", &member_b, None),
            StatusCode::OK,
        )
        .await;
        let records: Vec<(&str, &str)> = page["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"].as_str().unwrap().starts_with("record."))
            .map(|e| {
                (
                    e["kind"].as_str().unwrap(),
                    e["data"]["id"]
                        .as_str()
                        .or(e["data"]["record"].as_str())
                        .unwrap(),
                )
            })
            .collect();
        assert_eq!(
            records,
            [
                ("record.shared", shared_id),
                ("record.disputed", shared_id),
                ("record.kept", shared_id)
            ]
        );
        assert!(!page.to_string().contains(staff_id));
        assert!(!page.to_string().contains("tns@a.cn"));
    }
}

#[tokio::test]
async fn records_past_their_retention_are_deleted_by_housekeeping() {
    for backend in Backend::all() {
        let t = TestApp::new(backend).await;
        let admin = account_of(&t, Role::Admin, "admin@chengxin.test").await;
        let admin = token_for(&t, &admin).await;
        let a = add_member(&t, &admin, "甲网络有限公司", "91440300708461136T").await;
        member_token(&t, &a, "tns@a.cn").await;
        let account = badge_server::store::accounts::credentials(
            &t.state.db,
            &badge_server::domain::account::Email::parse("tns@a.cn").unwrap(),
        )
        .await
        .unwrap()
        .unwrap()
        .account;
        let s = &t.state.services;
        let now = badge_server::domain::clock::now();
        let days = s.record_retention_days;
        assert_eq!(days, 730);
        let new = NewRecord {
            uscc: Some(SITE_USCC),
            domain: None,
            category: "fraud",
            summary: "旧记录。",
            scope: "members",
        };
        let old =
            badge_server::service::records::submit(s, &account, &new, now - days * 86_400 - 1)
                .await
                .unwrap();
        let young =
            badge_server::service::records::submit(s, &account, &new, now - days * 86_400 + 3_600)
                .await
                .unwrap();
        let purged = badge_server::jobs::handlers::purge(&t.state.db, now)
            .await
            .unwrap();
        assert_eq!(purged.records, 1);
        assert!(
            badge_server::store::records::get(&t.state.db, &old.id)
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            badge_server::store::records::get(&t.state.db, &young.id)
                .await
                .unwrap()
                .is_some()
        );
    }
}

#[tokio::test]
async fn one_member_account_submits_at_most_its_daily_records() {
    for backend in Backend::all() {
        let t = TestApp::new(backend).await;
        let admin = account_of(&t, Role::Admin, "admin@chengxin.test").await;
        let admin = token_for(&t, &admin).await;
        let a = add_member(&t, &admin, "甲网络有限公司", "91440300708461136T").await;
        let member = member_token(&t, &a, "tns@a.cn").await;
        let other = member_token(&t, &a, "tns2@a.cn").await;
        let body = json!({ "uscc": SITE_USCC, "category": "fraud", "summary": "收款后不发货。", "scope": "staff" });
        let limit = badge_server::domain::record::PER_ACCOUNT_PER_DAY as i64;
        for _ in 0..limit {
            submit(&t, &member, body.clone(), StatusCode::CREATED).await;
        }
        let (status, headers, text) = t
            .call(api("POST", "/api/v1/records", &member, Some(body.clone())))
            .await;
        assert_eq!(
            status,
            StatusCode::TOO_MANY_REQUESTS,
            "{}",
            String::from_utf8_lossy(&text)
        );
        assert!(headers.contains_key("retry-after"));
        assert_eq!(t.scalar("SELECT COUNT(*) FROM shared_records").await, limit);
        // Another account is counted apart.
        submit(&t, &other, body, StatusCode::CREATED).await;
    }
}
