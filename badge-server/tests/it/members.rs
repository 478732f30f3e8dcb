//! Members of the alliance (issue 17): admins add them over the API (audited), their
//! staff accounts have the `member` role tied to one member, and the certificate page
//! of a member's own site shows the membership. Both backends.

use axum::http::StatusCode;
use badge_server::domain::account::{Email, Role};
use serde_json::{Value, json};
use testkit::Backend;

use crate::accounts::TestApp;
use crate::events::{api, expect, token_for};
use crate::pages::{OPERATOR, STAFF, account_of};

/// The USCC of the organization behind `crate::certified_site`'s sites.
pub(crate) const SITE_USCC: &str = "91110108MA04T7K21H";

/// A member for the organization with `uscc`, added by an admin over the API: its id.
pub(crate) async fn add_member(t: &TestApp, admin_token: &str, name: &str, uscc: &str) -> String {
    let m = expect(
        t,
        api(
            "POST",
            "/api/v1/members",
            admin_token,
            Some(json!({ "name": name, "uscc": uscc, "contact": "tns@example.com" })),
        ),
        StatusCode::CREATED,
    )
    .await;
    m["id"].as_str().unwrap().to_string()
}

/// A `member` account of `member` and a bearer token of it.
pub(crate) async fn member_token(t: &TestApp, member: &str, email: &str) -> String {
    let a = badge_server::store::accounts::upsert_member(
        &t.state.db,
        &Email::parse(email).unwrap(),
        member,
    )
    .await
    .unwrap();
    assert_eq!(a.role, Role::Member);
    token_for(t, &a).await
}

#[tokio::test]
async fn admins_add_members_whose_accounts_see_only_their_own_member() {
    for backend in Backend::all() {
        let t = TestApp::new(backend).await;
        let admin = account_of(&t, Role::Admin, "admin@chengxin.test").await;
        let admin = token_for(&t, &admin).await;
        let staff = account_of(&t, Role::Staff, STAFF).await;
        let staff_token = token_for(&t, &staff).await;
        let op = account_of(&t, Role::Operator, OPERATOR).await;
        let op_token = token_for(&t, &op).await;

        // Bad input: every bad field named, nothing stored, nothing audited.
        let audited = t.scalar("SELECT COUNT(*) FROM audit_log").await;
        let bad = expect(
            &t,
            api(
                "POST",
                "/api/v1/members",
                &admin,
                Some(json!({ "name": "", "uscc": "91110108MA04T7K21J", "contact": "nobody" })),
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        for field in ["name", "uscc", "contact"] {
            assert!(bad["fields"][field].is_string(), "{field}: {bad}");
        }
        assert!(
            bad["fields"]["uscc"].as_str().unwrap().contains("check"),
            "{bad}"
        );
        // Only admins add members.
        for token in [&staff_token, &op_token] {
            let body = json!({ "name": "示例", "uscc": SITE_USCC });
            expect(
                &t,
                api("POST", "/api/v1/members", token, Some(body)),
                StatusCode::FORBIDDEN,
            )
            .await;
        }
        assert_eq!(t.scalar("SELECT COUNT(*) FROM members").await, 0);
        assert_eq!(t.scalar("SELECT COUNT(*) FROM audit_log").await, audited);

        let id = add_member(&t, &admin, "晨曦数智科技有限公司", SITE_USCC).await;
        assert_eq!(
            t.scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'member.add'")
                .await,
            1
        );
        // One organization, one member.
        let again = json!({ "name": "又一个", "uscc": SITE_USCC });
        expect(
            &t,
            api("POST", "/api/v1/members", &admin, Some(again)),
            StatusCode::CONFLICT,
        )
        .await;
        let other = add_member(&t, &admin, "深圳示例网络有限公司", "91440300708461136T").await;

        let mine = member_token(&t, &id, "tns@chenxi-shuzhi.cn").await;
        let me = expect(&t, api("GET", "/api/v1/me", &mine, None), StatusCode::OK).await;
        assert_eq!(me["role"], "member", "{me}");
        assert_eq!(me["member"], id.as_str(), "{me}");
        let got = expect(
            &t,
            api("GET", &format!("/api/v1/members/{id}"), &mine, None),
            StatusCode::OK,
        )
        .await;
        assert_eq!(got["uscc"], SITE_USCC);
        // Another member, an operator: 403; staff read any; the list is staff's.
        for (token, path, status) in [
            (
                &mine,
                format!("/api/v1/members/{other}"),
                StatusCode::FORBIDDEN,
            ),
            (
                &op_token,
                format!("/api/v1/members/{id}"),
                StatusCode::FORBIDDEN,
            ),
            (
                &staff_token,
                format!("/api/v1/members/{other}"),
                StatusCode::OK,
            ),
            (
                &staff_token,
                "/api/v1/members/m_nosuchmember".to_string(),
                StatusCode::NOT_FOUND,
            ),
            (&mine, "/api/v1/members".to_string(), StatusCode::FORBIDDEN),
        ] {
            expect(&t, api("GET", &path, token, None), status).await;
        }
        let all: Value = expect(
            &t,
            api("GET", "/api/v1/members", &staff_token, None),
            StatusCode::OK,
        )
        .await;
        assert_eq!(all.as_array().unwrap().len(), 2, "{all}");
        // The member role needs a member that exists, and no other role has one.
        let e = badge_server::store::accounts::upsert_member(
            &t.state.db,
            &Email::parse("x@example.com").unwrap(),
            "m_nosuchmember",
        )
        .await
        .unwrap_err();
        assert!(e.to_string().contains("no member"), "{e}");
        let e = badge_server::store::accounts::ensure(
            &t.state.db,
            &Email::parse("y@example.com").unwrap(),
            Role::Member,
        )
        .await
        .unwrap_err();
        assert!(e.to_string().contains("--member"), "{e}");
        // Made an operator again, the account acts for no member.
        let back = badge_server::store::accounts::upsert_role(
            &t.state.db,
            &Email::parse("tns@chenxi-shuzhi.cn").unwrap(),
            Role::Operator,
        )
        .await
        .unwrap();
        assert_eq!(back.member, None);
        assert_eq!(
            t.scalar("SELECT COUNT(*) FROM accounts WHERE member_id IS NOT NULL")
                .await,
            0
        );
    }
}

#[tokio::test]
async fn the_certificate_page_of_a_member_s_site_shows_the_membership() {
    for backend in Backend::all() {
        let t = TestApp::new(backend).await;
        let op = account_of(&t, Role::Operator, OPERATOR).await;
        let staff = account_of(&t, Role::Staff, STAFF).await;
        let site = crate::certified_site(&t.state, &op, &staff, "chenxi-shuzhi.cn").await;
        let page = t.browser().get(&format!("/cert/{site}")).await;
        assert!(!page.body.contains("id=\"membership\""), "{}", page.body);
        let admin = account_of(&t, Role::Admin, "admin@chengxin.test").await;
        let admin = token_for(&t, &admin).await;
        add_member(&t, &admin, "晨曦数智科技有限公司", SITE_USCC).await;
        let page = t
            .browser()
            .get(&format!("/cert/{site}"))
            .await
            .expect(200, "联盟成员单位（自 ");
        assert!(page.body.contains("<dt>联盟成员</dt>"), "{}", page.body);
        t.browser()
            .get(&format!("/cert/{site}?lang=en"))
            .await
            .expect(200, "Member of the alliance since ");
    }
}
