//! Places from the official list (issue 16): an application's province and city must
//! be a pair of the shipped list, refused with 422 naming the list on the API and the
//! portal, and a USCC registered in another province makes the application wait for a
//! person (`review`) instead of passing. Both backends.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use badge_server::service::applications;
use serde_json::{Value, json};
use testkit::{Backend, Zone};

use crate::accounts::{PASSWORD, TestApp};
use crate::approval::{dataset, fixture_row, people};
use crate::pages::OPERATOR;

fn body(province: &str, city: &str) -> Value {
    json!({"domains": ["chenxi-shuzhi.cn"], "organization": "北京晨曦数智科技有限公司",
        "uscc": "91110108MA04T7K21H", "icp": "京ICP备2024018653号-1",
        "province": province, "city": city})
}

#[tokio::test]
async fn a_place_off_the_official_list_is_refused_with_422_naming_the_list() {
    for backend in Backend::all() {
        let t = TestApp::new(backend).await;
        let (operator, _) = people(&t).await;
        let token = badge_server::store::accounts::create_token(&t.state.db, &operator, "t")
            .await
            .unwrap();
        let apply = |b: Value| {
            Request::post("/api/v1/applications")
                .header("authorization", format!("Bearer {}", token.as_str()))
                .header("content-type", "application/json")
                .body(Body::from(b.to_string()))
                .unwrap()
        };
        for (province, city, field) in [
            ("北京", "市辖区", "province"),
            ("Beijing", "市辖区", "province"),
            ("北京市", "海淀区", "city"),
            ("广东省", "成都市", "city"),
            ("<script>x</script>", "市辖区", "province"),
        ] {
            let (code, _, out) = t.call(apply(body(province, city))).await;
            assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{province} {city}");
            let out: Value = serde_json::from_slice(&out).unwrap();
            let msg = out["fields"][field].as_str().unwrap_or_default();
            assert!(
                msg.contains("official province and prefecture list")
                    && msg.contains("/api/v1/places"),
                "{province} {city}: {out}"
            );
        }
        assert_eq!(t.scalar("SELECT COUNT(*) FROM applications").await, 0);
        let (code, _, _) = t.call(apply(body("北京市", "市辖区"))).await;
        assert_eq!(code, StatusCode::CREATED);

        // The list the message points to.
        let (code, _, list) = t
            .call(Request::get("/api/v1/places").body(Body::empty()).unwrap())
            .await;
        assert_eq!(code, StatusCode::OK);
        let list: Value = serde_json::from_slice(&list).unwrap();
        assert_eq!(list.as_array().unwrap().len(), 31);
        let gd = list
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "广东省")
            .unwrap();
        assert_eq!(gd["code"], "44");
        assert!(gd["cities"].as_array().unwrap().contains(&json!("深圳市")));

        // The portal offers select boxes and refuses the same way.
        let mut s = t.browser();
        s.login(OPERATOR, PASSWORD).await;
        let form = s.get("/portal/apply").await;
        assert_eq!(form.status, StatusCode::OK);
        for needle in [
            "<select id=\"province\" name=\"province\" required>",
            "<option value=\"内蒙古自治区\">内蒙古自治区</option>",
            "<optgroup label=\"内蒙古自治区\">",
            "<option value=\"锡林郭勒盟\">锡林郭勒盟</option>",
        ] {
            assert!(form.body.contains(needle), "{needle} missing");
        }
        let r = s
            .submit(
                "/portal/apply",
                "/portal/apply",
                &[
                    ("organization", "北京晨曦数智科技有限公司"),
                    ("uscc", "91110108MA04T7K21H"),
                    ("icp", "京ICP备2024018653号-1"),
                    ("province", "广东省"),
                    ("city", "成都市"),
                    ("domains", "www.chenxi-shuzhi.cn"),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            r.body.contains("城市 (city)") && r.body.contains("official province and prefecture"),
            "{}",
            r.body
        );
        // The province chosen stays chosen.
        assert!(r.body.contains("<option value=\"广东省\" selected>"));
        assert_eq!(t.scalar("SELECT COUNT(*) FROM applications").await, 1);
    }
}

#[tokio::test]
async fn a_uscc_registered_in_another_province_is_a_review_reason_not_a_refusal() {
    for backend in Backend::all() {
        let mut t = TestApp::new(backend).await;
        let (operator, _) = people(&t).await;
        let dir = tempfile::tempdir().unwrap();
        let mut ids = vec![];
        // F01's USCC (91110108…) was registered in Beijing (11).
        for (province, domain) in [
            ("北京市", "chenxi-shuzhi.cn"),
            ("上海市", "www.chenxi-shuzhi.cn"),
        ] {
            let identity = ca::profile::SiteIdentity::parse(
                "北京晨曦数智科技有限公司",
                "91110108MA04T7K21H",
                "京ICP备2024018653号-1",
                province,
                "市辖区",
                &[domain],
            )
            .unwrap();
            let filings = badge_server::domain::application::claims(&identity, &[]).unwrap();
            let created = applications::create(
                &t.state.db,
                &operator,
                &identity,
                &filings,
                None,
                badge_server::domain::clock::now(),
            )
            .await
            .unwrap();
            ids.push(created.application.id);
        }
        t.state.icp = Some(dataset(dir.path(), "f01.jsonl", &[fixture_row("F01")]));
        let mut outcomes = vec![];
        for id in &ids {
            let app = applications::get(&t.state.db, id).await.unwrap().unwrap();
            let dns = Zone::new()
                .txt(
                    &format!("_chengxin-challenge.{}", app.domains[0]),
                    &app.token,
                )
                .start();
            t.state.challenger = Arc::new(crate::challenger_for(&dns));
            let out = crate::verify_json(&t.state, &app, &operator, None)
                .await
                .unwrap();
            outcomes.push(out);
        }
        // Same organization, filing and proof: only the province differs.
        assert_eq!(outcomes[0]["status"], "validated", "{}", outcomes[0]);
        assert_eq!(outcomes[1]["status"], "review", "{}", outcomes[1]);
        let reasons = outcomes[1]["reasons"].to_string();
        assert!(
            reasons.contains("USCC") && reasons.contains("北京市") && reasons.contains("上海市"),
            "{reasons}"
        );
        // Recorded on the application, as staff see it.
        let stored = applications::get(&t.state.db, &ids[1])
            .await
            .unwrap()
            .unwrap();
        assert!(
            stored.reasons.iter().any(|r| r.starts_with("USCC:")),
            "{:?}",
            stored.reasons
        );
    }
}
