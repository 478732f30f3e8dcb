//! The impersonation watch (issue 17): members register brands; an application that
//! imitates one is held for staff with the reason, becomes a draft warning and the
//! member is mailed in the same transaction; a host copying a member's site seal
//! does the same; staff publish or dismiss the drafts. Both backends.

use axum::http::StatusCode;
use badge_server::domain::account::Role;
use serde_json::{Value, json};
use testkit::Backend;

use crate::accounts::TestApp;
use crate::events::{api, expect, token_for};
use crate::members::{SITE_USCC, add_member, member_token};
use crate::pages::{OPERATOR, STAFF, account_of};

const ICP: &str = "京ICP备2024018653号-1";

async fn mails_to(t: &TestApp, to: &str) -> Vec<Value> {
    let rows: Vec<(String,)> = ca::on_pool!(&t.state.db, |p| sqlx::query_as(
        "SELECT payload FROM jobs WHERE kind = 'mail' ORDER BY id"
    )
    .fetch_all(p)
    .await
    .unwrap());
    rows.into_iter()
        .map(|(p,)| serde_json::from_str::<Value>(&p).unwrap())
        .filter(|m| m["to"] == to)
        .collect()
}

async fn status_of(t: &TestApp, app: &str) -> Value {
    let a = badge_server::service::applications::get(&t.state.db, app)
        .await
        .unwrap()
        .unwrap();
    json!({ "status": a.status.as_str(), "reasons": a.reasons })
}

#[tokio::test]
async fn brands_hold_imitating_applications_as_drafts_that_staff_decide() {
    for backend in Backend::all() {
        let t = TestApp::new(backend).await;
        let admin = account_of(&t, Role::Admin, "admin@chengxin.test").await;
        let admin = token_for(&t, &admin).await;
        let staff = account_of(&t, Role::Staff, STAFF).await;
        let staff_token = token_for(&t, &staff).await;
        let op = account_of(&t, Role::Operator, OPERATOR).await;
        let op_token = token_for(&t, &op).await;
        let taobao = add_member(&t, &admin, "浙江淘宝网络有限公司", "91440300708461136T").await;
        let other = add_member(&t, &admin, "北京晨曦数智科技有限公司", SITE_USCC).await;
        let mine = member_token(&t, &taobao, "tns@taobao.example").await;
        let brands = format!("/api/v1/members/{taobao}/brands");
        let body = json!({ "name": "taobao", "domains": ["taobao.com"], "aliases": ["淘宝"] });

        // Only the member itself or an admin registers; bad fields are named.
        for token in [&op_token, &staff_token] {
            expect(
                &t,
                api("POST", &brands, token, Some(body.clone())),
                StatusCode::FORBIDDEN,
            )
            .await;
        }
        let theirs = member_token(&t, &other, "tns@chenxi.example").await;
        expect(
            &t,
            api("POST", &brands, &theirs, Some(body.clone())),
            StatusCode::FORBIDDEN,
        )
        .await;
        let bad = expect(
            &t,
            api(
                "POST",
                &brands,
                &mine,
                Some(json!({ "name": "", "domains": ["not a domain"] })),
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        for field in ["name", "domains"] {
            assert!(bad["fields"][field].is_string(), "{field}: {bad}");
        }
        assert_eq!(t.scalar("SELECT COUNT(*) FROM member_brands").await, 0);
        let b = expect(
            &t,
            api("POST", &brands, &mine, Some(body.clone())),
            StatusCode::CREATED,
        )
        .await;
        assert_eq!(b["domains"], json!(["taobao.com"]), "{b}");
        expect(
            &t,
            api("POST", &brands, &mine, Some(body.clone())),
            StatusCode::CONFLICT,
        )
        .await;
        let tmall = json!({ "name": "tmall", "domains": ["tmall.com"] });
        expect(
            &t,
            api("POST", &brands, &admin, Some(tmall)),
            StatusCode::CREATED,
        )
        .await;
        let listed = expect(&t, api("GET", &brands, &mine, None), StatusCode::OK).await;
        assert_eq!(listed.as_array().unwrap().len(), 2, "{listed}");
        expect(
            &t,
            api("GET", &brands, &op_token, None),
            StatusCode::FORBIDDEN,
        )
        .await;
        expect(&t, api("GET", &brands, &staff_token, None), StatusCode::OK).await;

        // An innocent application and one for the member's own host: not held.
        let plain = crate::apply_for(&t.state, &op, ICP, &["chenxi-shuzhi.cn"]).await;
        let own = crate::apply_for(&t.state, &op, ICP, &["shop.taobao.com"]).await;
        for app in [&plain, &own] {
            assert_eq!(status_of(&t, app).await["status"], "pending");
        }
        assert_eq!(t.scalar("SELECT COUNT(*) FROM warning_drafts").await, 0);
        assert!(mails_to(&t, "tns@example.com").await.is_empty());
        // A member applying for a new site of its own imitates nobody.
        let chenxi = json!({ "name": "chenxi", "domains": ["chenxi-shuzhi.cn"] });
        let theirs_path = format!("/api/v1/members/{other}/brands");
        expect(
            &t,
            api("POST", &theirs_path, &theirs, Some(chenxi)),
            StatusCode::CREATED,
        )
        .await;
        let own_new = crate::apply_for(&t.state, &op, ICP, &["chenxi-mall.cn"]).await;
        assert_eq!(status_of(&t, &own_new).await["status"], "pending");

        // An imitation: held for review with the reason, one draft, the member told.
        let fake = crate::apply_for(&t.state, &op, ICP, &["taobao-refund.cn"]).await;
        let held = status_of(&t, &fake).await;
        assert_eq!(held["status"], "review", "{held}");
        let reason = held["reasons"][0].as_str().unwrap();
        assert!(
            reason.contains("taobao") && reason.contains("brand_in_host"),
            "{held}"
        );
        let mails = mails_to(&t, "tns@example.com").await;
        assert_eq!(mails.len(), 1, "{mails:?}");
        assert!(
            mails[0]["subject"]
                .as_str()
                .unwrap()
                .contains("taobao-refund.cn")
        );
        // Staff see the reason in the console's review list.
        let mut console = crate::pages::signed_in(&t, STAFF).await;
        let page = console.get("/console").await;
        assert!(
            page.body.contains("Impersonation:") && page.body.contains("brand_in_host"),
            "{}",
            page.body
        );

        // Verifying again keeps the reason (a failed domain check fails it; a passed
        // one leaves it for a person, never auto-approved).
        let app = badge_server::service::applications::get(&t.state.db, &fake)
            .await
            .unwrap()
            .unwrap();
        let _ = crate::verify_json(&t.state, &app, &op, None).await;
        let after = status_of(&t, &fake).await;
        assert!(after["status"] != "validated", "{after}");
        assert!(
            after["reasons"].to_string().contains("Impersonation"),
            "{after}"
        );

        let typo = crate::apply_for(&t.state, &op, ICP, &["tao6ao.com"]).await;
        assert_eq!(status_of(&t, &typo).await["status"], "review");

        // Staff list, publish one and dismiss the other; nobody else may.
        let drafts = expect(
            &t,
            api("GET", "/api/v1/warning-drafts", &staff_token, None),
            StatusCode::OK,
        )
        .await;
        let drafts = drafts.as_array().unwrap().clone();
        assert_eq!(drafts.len(), 2, "{drafts:?}");
        assert!(
            drafts
                .iter()
                .all(|d| d["source"] == "application" && d["member_id"] == taobao.as_str())
        );
        for token in [&op_token, &mine] {
            expect(
                &t,
                api("GET", "/api/v1/warning-drafts", token, None),
                StatusCode::FORBIDDEN,
            )
            .await;
        }
        let id = |domain: &str| {
            drafts.iter().find(|d| d["domain"] == domain).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string()
        };
        let publish = format!("/api/v1/warning-drafts/{}/publish", id("taobao-refund.cn"));
        expect(
            &t,
            api("POST", &publish, &op_token, None),
            StatusCode::FORBIDDEN,
        )
        .await;
        let w = expect(
            &t,
            api("POST", &publish, &staff_token, None),
            StatusCode::CREATED,
        )
        .await;
        assert_eq!(w["domain"], "taobao-refund.cn", "{w}");
        assert_eq!(
            t.scalar("SELECT COUNT(*) FROM fraud_warnings WHERE domain = 'taobao-refund.cn'")
                .await,
            1
        );
        expect(
            &t,
            api("POST", &publish, &staff_token, None),
            StatusCode::CONFLICT,
        )
        .await;
        let dismiss = format!("/api/v1/warning-drafts/{}/dismiss", id("tao6ao.com"));
        expect(
            &t,
            api("POST", &dismiss, &staff_token, None),
            StatusCode::NO_CONTENT,
        )
        .await;
        expect(
            &t,
            api("POST", &dismiss, &staff_token, None),
            StatusCode::CONFLICT,
        )
        .await;
        let left = expect(
            &t,
            api("GET", "/api/v1/warning-drafts", &staff_token, None),
            StatusCode::OK,
        )
        .await;
        assert_eq!(left, json!([]));
        let done = expect(
            &t,
            api(
                "GET",
                "/api/v1/warning-drafts?state=published",
                &staff_token,
                None,
            ),
            StatusCode::OK,
        )
        .await;
        assert_eq!(done[0]["warning_id"], w["id"], "{done}");
        expect(
            &t,
            api(
                "GET",
                "/api/v1/warning-drafts?state=other",
                &staff_token,
                None,
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
}

#[tokio::test]
async fn a_host_copying_a_member_s_seal_becomes_one_draft_and_one_mail() {
    for backend in Backend::all() {
        let t = TestApp::new(backend).await;
        let admin = account_of(&t, Role::Admin, "admin@chengxin.test").await;
        let admin = token_for(&t, &admin).await;
        let staff = account_of(&t, Role::Staff, STAFF).await;
        let op = account_of(&t, Role::Operator, OPERATOR).await;
        let site = crate::certified_site(&t.state, &op, &staff, "chenxi-shuzhi.cn").await;
        let cache = &t.state.seal_cache;
        // Not a member's site yet: the copy is recorded, no draft.
        cache.saw_copy(&site, "early-copy.cn");
        cache.flush_copies(&t.state.db).await.unwrap();
        assert_eq!(t.scalar("SELECT COUNT(*) FROM seal_copies").await, 1);
        assert_eq!(t.scalar("SELECT COUNT(*) FROM warning_drafts").await, 0);

        add_member(&t, &admin, "北京晨曦数智科技有限公司", SITE_USCC).await;
        for _ in 0..2 {
            cache.saw_copy(&site, "chenxi-fake-shop.cn");
            cache.flush_copies(&t.state.db).await.unwrap();
        }
        assert_eq!(
            t.scalar("SELECT COUNT(*) FROM warning_drafts WHERE source = 'seal_copy' AND domain = 'chenxi-fake-shop.cn'").await,
            1
        );
        let mails = mails_to(&t, "tns@example.com").await;
        assert_eq!(mails.len(), 1, "{mails:?}");
        assert!(
            mails[0]["text"]
                .as_str()
                .unwrap()
                .contains("chenxi-shuzhi.cn"),
            "{mails:?}"
        );

        // Published from the console, naming the copied site.
        let staff_token = token_for(&t, &staff).await;
        let drafts = expect(
            &t,
            api("GET", "/api/v1/warning-drafts", &staff_token, None),
            StatusCode::OK,
        )
        .await;
        let id = drafts[0]["id"].as_str().unwrap().to_string();
        let mut console = crate::pages::signed_in(&t, STAFF).await;
        let page = console.get("/console").await;
        assert!(page.body.contains(&format!("draft-{id}")), "{}", page.body);
        let r = console
            .submit("/console", &format!("/console/drafts/{id}/publish"), &[])
            .await;
        let r = console.follow(r).await;
        assert!(
            r.body
                .contains("Published a warning about chenxi-fake-shop.cn"),
            "{}",
            r.body
        );
        assert!(!r.body.contains(&format!("draft-{id}")));
        assert_eq!(
            t.scalar(&format!("SELECT COUNT(*) FROM fraud_warnings WHERE domain = 'chenxi-fake-shop.cn' AND impersonates = '{site}'")).await,
            1
        );
    }
}
