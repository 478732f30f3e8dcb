//! Fraud warnings cannot be aimed at everyone (issue 12): a public suffix is refused,
//! and a warning that would mark a certified site as warned needs staff's explicit
//! confirmation, shown as such on the console. Both backends.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use badge_server::domain::account::{Email, Role};
use serde_json::{Value, json};
use testkit::Backend;

use crate::accounts::TestApp;

#[tokio::test]
async fn a_warning_on_a_public_suffix_is_refused_and_one_on_a_certified_domain_needs_confirmation()
{
    for backend in Backend::all() {
        let t = TestApp::new(backend).await;
        t.account(Role::Staff, "staff@chengxin.test").await;
        let operator = badge_server::store::accounts::ensure(
            &t.state.db,
            &Email::parse("op@chenxi-shuzhi.cn").unwrap(),
            Role::Operator,
        )
        .await
        .unwrap();
        let staff = badge_server::store::accounts::ensure(
            &t.state.db,
            &Email::parse("staff@chengxin.test").unwrap(),
            Role::Staff,
        )
        .await
        .unwrap();
        let token = badge_server::store::accounts::create_token(&t.state.db, &staff, "warnings")
            .await
            .unwrap();
        let site = crate::certified_site(&t.state, &operator, &staff, "chenxi-shuzhi.cn").await;
        let publish = |body: Value| {
            Request::post("/api/v1/warnings")
                .header("authorization", format!("Bearer {}", token.as_str()))
                .header("content-type", "application/json")
                .body(Body::from(body.to_string()))
                .unwrap()
        };
        let warning = |domain: &str| json!({"domain": domain, "description": "仿冒网站。", "evidence": "seen"});
        let check = |host: &str| {
            Request::get(format!("/api/v1/check?url={host}"))
                .body(Body::empty())
                .unwrap()
        };

        for suffix in ["com.cn", "gov.cn", "edu.cn"] {
            let (code, _, body) = t.call(publish(warning(suffix))).await;
            assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{suffix}");
            let body: Value = serde_json::from_slice(&body).unwrap();
            assert!(
                body["fields"]["domain"]
                    .as_str()
                    .unwrap()
                    .contains("public suffix"),
                "{suffix}: {body}"
            );
        }
        // The certified domain, a host under it: refused without confirmation.
        for domain in ["chenxi-shuzhi.cn", "shop.chenxi-shuzhi.cn"] {
            let (code, _, body) = t.call(publish(warning(domain))).await;
            assert_eq!(code, StatusCode::CONFLICT, "{domain}");
            assert!(
                String::from_utf8_lossy(&body).contains(&site),
                "the refusal names the certified site"
            );
        }
        assert_eq!(t.scalar("SELECT COUNT(*) FROM fraud_warnings").await, 0);
        let (_, _, checked) = t.call(check("chenxi-shuzhi.cn")).await;
        let checked: Value = serde_json::from_slice(&checked).unwrap();
        assert_eq!(checked["result"], "certified", "{checked}");

        // An unrelated look-alike: published, not marked.
        let (code, _, body) = t.call(publish(warning("chenxi-shuzhi-shop.cn"))).await;
        assert_eq!(code, StatusCode::CREATED);
        let plain: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(plain["on_certified"], false);

        // Confirmed: published, and marked as a warning on a certified site.
        let mut confirmed = warning("shop.chenxi-shuzhi.cn");
        confirmed["confirm_certified"] = json!(true);
        let (code, _, body) = t.call(publish(confirmed)).await;
        assert_eq!(
            code,
            StatusCode::CREATED,
            "{}",
            String::from_utf8_lossy(&body)
        );
        let marked: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(marked["on_certified"], true);
        let audit = t
            .scalar(&format!(
                "SELECT COUNT(*) FROM audit_log WHERE action = 'warning.publish' \
                 AND details LIKE '%{site}%'"
            ))
            .await;
        assert_eq!(audit, 1, "the audit entry names the certified site");
        let mut s = t.browser();
        s.login("staff@chengxin.test", crate::accounts::PASSWORD)
            .await;
        let console = s.get("/console").await;
        assert!(
            console
                .body
                .contains("names a certified site (published on confirmation)"),
            "{}",
            console.body
        );
    }
}
