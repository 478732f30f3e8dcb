//! Self-discipline conventions (issue 16): staff publish them (Markdown rendered with
//! nothing in it able to run), an operator signs the current version for their
//! organization from the portal (audited: who, which organization, which version),
//! the certificate page and `/conventions/{id}` list the signature, a new version asks
//! for a new signature while the old one stays shown as "signed version N", and
//! nobody but staff publishes. Both backends.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use badge_server::domain::account::{Email, Role};
use serde_json::{Value, json};
use testkit::Backend;

use crate::accounts::TestApp;
use crate::events::{expect, token_for};
use crate::pages::{OPERATOR, STAFF, USER, signed_in};

const ORG: &str = "北京晨曦数智科技有限公司";
const USCC: &str = "91110108MA04T7K21H";

const HOSTILE: &str = "# 第一条\n\n会员单位应**诚信经营**，见[联盟网站](https://example.cn/)。\n\n\
    <script>alert('md')</script>\n\n<img src=x onerror=alert(2)>\n\n\
    [点此](javascript:alert(3)) <a href=\"javascript:alert(4)\">这里</a> <javascript:alert(5)>\n";

fn api(path: &str, token: &str, body: Value) -> Request<Body> {
    crate::events::api("POST", path, token, Some(body))
}

#[tokio::test]
async fn an_operator_signs_a_convention_for_their_organization_and_signs_again_after_a_new_version()
{
    for backend in Backend::all() {
        let t = TestApp::new(backend).await;
        let operator = crate::pages::account_of(&t, Role::Operator, OPERATOR).await;
        t.account(Role::Staff, STAFF).await;
        let staff = badge_server::store::accounts::ensure(
            &t.state.db,
            &Email::parse(STAFF).unwrap(),
            Role::Staff,
        )
        .await
        .unwrap();
        let site = crate::certified_site(&t.state, &operator, &staff, "chenxi-shuzhi.cn").await;
        let staff_token = token_for(&t, &staff).await;
        let op_token = token_for(&t, &operator).await;

        // Published over the API (hostile Markdown) and from the console.
        let c = expect(
            &t,
            api(
                "/api/v1/conventions",
                &staff_token,
                json!({"title": "《网络诚信自律公约》", "text": HOSTILE}),
            ),
            StatusCode::CREATED,
        )
        .await;
        let id = c["id"].as_i64().unwrap();
        assert_eq!(c["title"], "网络诚信自律公约");
        assert_eq!(c["version"], 1);
        let mut console = signed_in(&t, STAFF).await;
        let r = console
            .submit(
                "/console/conventions",
                "/console/conventions",
                &[
                    ("title", "反网络欺诈自律公约"),
                    ("text", "第一条 不得欺诈。"),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        let (code, _, _) = t
            .call(api(
                "/api/v1/conventions",
                &staff_token,
                json!({"title": "网络诚信自律公约", "text": "again"}),
            ))
            .await;
        assert_eq!(code, StatusCode::CONFLICT, "one convention per title");

        // Public pages: the Markdown rendered, nothing in it able to run.
        let mut visitor = t.browser();
        let list = visitor.get("/conventions").await;
        assert!(
            list.body.contains("《网络诚信自律公约》")
                && list.body.contains("《反网络欺诈自律公约》")
        );
        let page = visitor.get(&format!("/conventions/{id}")).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.body.contains("<h1>第一条</h1>"), "{}", page.body);
        assert!(page.body.contains("<strong>诚信经营</strong>"));
        assert!(
            page.body
                .contains("<a href=\"https://example.cn/\">联盟网站</a>")
        );
        for bad in [
            "<script",
            "<img",
            "<a href=\"javascript",
            "onerror=alert(2)>",
        ] {
            assert!(!page.body.contains(bad), "{bad} in {}", page.body);
        }
        assert!(
            page.body.contains("&lt;script&gt;alert("),
            "raw HTML shown as text"
        );
        assert!(page.body.contains("暂无签署单位"));

        // The operator signs from the portal, for the organization of their site.
        let mut op = signed_in(&t, OPERATOR).await;
        let portal = op.get("/portal/conventions").await;
        assert_eq!(portal.status, StatusCode::OK);
        assert!(portal.body.contains("尚未签署"), "{}", portal.body);
        let r = op
            .submit(
                "/portal/conventions",
                &format!("/portal/conventions/{id}/sign"),
                &[("organization", USCC)],
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        assert!(
            op.follow(r)
                .await
                .body
                .contains("已签署《网络诚信自律公约》第 1 版")
        );
        let audit = t
            .scalar(&format!(
                "SELECT COUNT(*) FROM audit_log WHERE action = 'convention.sign' \
                 AND actor = '{OPERATOR}' AND subject = 'convention-{id}' \
                 AND details LIKE '%{USCC}%' AND details LIKE '%\"version\":1%'"
            ))
            .await;
        assert_eq!(audit, 1, "who, for which organization, which version");
        // Once per version.
        let r = op
            .submit(
                "/portal/conventions",
                &format!("/portal/conventions/{id}/sign"),
                &[("organization", USCC)],
            )
            .await;
        assert_eq!(r.status, StatusCode::CONFLICT);
        // Not for an organization the operator has no site of.
        let refused = expect(
            &t,
            api(
                &format!("/api/v1/conventions/{id}/sign"),
                &op_token,
                json!({"uscc": "91310115MA1H93QW9A"}),
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert!(refused["fields"]["organization"].is_string(), "{refused}");

        // Signatories (organization names, nobody's address) and the certificate page.
        let page = visitor.get(&format!("/conventions/{id}")).await;
        assert!(
            page.body.contains(ORG) && page.body.contains("第 1 版"),
            "{}",
            page.body
        );
        assert!(!page.body.contains(OPERATOR), "no personal data");
        let cert = visitor.get(&format!("/cert/{site}")).await;
        assert!(
            cert.body.contains(&format!(
                "<a href=\"/conventions/{id}\">《网络诚信自律公约》</a> (第 1 版)"
            )),
            "{}",
            cert.body
        );
        assert!(
            !cert.body.contains("反网络欺诈自律公约"),
            "only what was signed"
        );

        // A new version: the portal asks for a new signature; the old one shows as
        // version 1 everywhere until then.
        expect(
            &t,
            api(
                &format!("/api/v1/conventions/{id}/versions"),
                &staff_token,
                json!({"text": "# 第一条（修订）\n\n诚信经营。"}),
            ),
            StatusCode::CREATED,
        )
        .await;
        let home = op.get("/portal").await;
        assert!(
            home.body.contains("id=\"resign\"") && home.body.contains("第 2 版已发布"),
            "{}",
            home.body
        );
        assert!(
            op.get("/portal/conventions")
                .await
                .body
                .contains("请重新签署")
        );
        let page = visitor.get(&format!("/conventions/{id}")).await;
        assert!(
            page.body.contains("签署了第 1 版（当前为第 2 版）"),
            "{}",
            page.body
        );
        let cert = visitor.get(&format!("/cert/{site}")).await;
        assert!(
            cert.body.contains("签署了第 1 版，当前为第 2 版"),
            "{}",
            cert.body
        );
        let en = visitor.get(&format!("/cert/{site}?lang=en")).await;
        assert!(
            en.body.contains("signed version 1; current: 2"),
            "{}",
            en.body
        );

        // Signed again (over the API this time): version 2, the version-1 row kept.
        let signed = expect(
            &t,
            api(
                &format!("/api/v1/conventions/{id}/sign"),
                &op_token,
                json!({"uscc": USCC}),
            ),
            StatusCode::CREATED,
        )
        .await;
        assert_eq!(signed["version"], 2);
        assert_eq!(signed["outdated"], false);
        assert_eq!(
            t.scalar("SELECT COUNT(*) FROM convention_signatures").await,
            2
        );
        assert!(!op.get("/portal").await.body.contains("id=\"resign\""));
        let (_, _, body) = t
            .call(
                Request::get(format!("/api/v1/conventions/{id}"))
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        let detail: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(detail["convention"]["version"], 2);
        assert_eq!(
            detail["signatories"],
            json!([{"convention_id": id, "title": "网络诚信自律公约", "organization": ORG,
                "version": 2, "current_version": 2, "outdated": false,
                "signed_at": signed["signed_at"], "signed": signed["signed"]}])
        );
        assert_eq!(
            t.scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'convention.sign'")
                .await,
            2
        );
    }
}

#[tokio::test]
async fn only_staff_publish_conventions_and_only_operators_sign() {
    for backend in Backend::all() {
        let t = TestApp::new(backend).await;
        let operator = crate::pages::account_of(&t, Role::Operator, OPERATOR).await;
        let user = crate::pages::account_of(&t, Role::User, USER).await;
        let staff = crate::pages::account_of(&t, Role::Staff, STAFF).await;
        let (op_token, user_token, staff_token) = (
            token_for(&t, &operator).await,
            token_for(&t, &user).await,
            token_for(&t, &staff).await,
        );
        let body = json!({"title": "互联网企业公平竞争自律公约", "text": "第一条"});
        for token in [&op_token, &user_token] {
            let (code, _, _) = t
                .call(api("/api/v1/conventions", token, body.clone()))
                .await;
            assert_eq!(code, StatusCode::FORBIDDEN);
        }
        crate::events::console_refuses_non_staff(
            &t,
            "/console/conventions",
            &[("title", "x"), ("text", "y")],
        )
        .await;
        assert_eq!(t.scalar("SELECT COUNT(*) FROM conventions").await, 0);

        // Published by staff; a new version and signing refused to the wrong roles.
        let (code, _, created) = t.call(api("/api/v1/conventions", &staff_token, body)).await;
        assert_eq!(code, StatusCode::CREATED);
        let id = serde_json::from_slice::<Value>(&created).unwrap()["id"]
            .as_i64()
            .unwrap();
        let (code, _, _) = t
            .call(api(
                &format!("/api/v1/conventions/{id}/versions"),
                &op_token,
                json!({"text": "第二版"}),
            ))
            .await;
        assert_eq!(code, StatusCode::FORBIDDEN);
        for token in [&user_token, &staff_token] {
            let (code, _, _) = t
                .call(api(
                    &format!("/api/v1/conventions/{id}/sign"),
                    token,
                    json!({"uscc": USCC}),
                ))
                .await;
            assert_eq!(code, StatusCode::FORBIDDEN);
        }
        let mut u = signed_in(&t, USER).await;
        assert_eq!(
            u.get("/portal/conventions").await.status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            t.scalar("SELECT COUNT(*) FROM convention_versions").await,
            1
        );
        assert_eq!(
            t.scalar("SELECT COUNT(*) FROM audit_log WHERE action LIKE 'convention.%'")
                .await,
            1
        );
    }
}
