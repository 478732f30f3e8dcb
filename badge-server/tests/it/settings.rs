//! Settings staff change (issue 18): admins change the complaint deadline and
//! reminders, the re-verification intervals and the grace period over the API and in
//! the console; impossible values are refused naming their field; a change is one
//! audit entry with the old and new values; the next complaint and the next
//! re-verification use the new values without a restart; staff only read them, and
//! operators, users and members get 403. Both backends.

use axum::http::StatusCode;
use badge_server::domain::account::Role;
use badge_server::service::complaints as complaint;
use serde_json::{Value, json};
use testkit::{Backend, Zone};
use verifier::recheck::{Rechecker, Scope};

use crate::accounts::TestApp;
use crate::events::{api, expect, token_for};
use crate::members::{add_member, member_token};
use crate::pages::{OPERATOR, STAFF, USER, account_of, signed_in};

const ADMIN: &str = "admin@chengxin.test";
const PATH: &str = "/api/v1/staff/settings";
const HOUR: i64 = 3_600;

fn put(token: &str, body: Value) -> axum::http::Request<axum::body::Body> {
    api("PUT", PATH, token, Some(body))
}

/// The fields a 422 answer names.
fn fields(answer: &Value) -> Vec<String> {
    let mut names: Vec<String> = answer["fields"]
        .as_object()
        .map(|f| f.keys().cloned().collect())
        .unwrap_or_default();
    names.sort();
    names
}

#[tokio::test]
async fn admins_change_settings_that_apply_to_the_next_complaint_and_re_verification() {
    for backend in Backend::all() {
        let t = TestApp::new(backend).await;
        let admin = account_of(&t, Role::Admin, ADMIN).await;
        let staff = account_of(&t, Role::Staff, STAFF).await;
        let operator = account_of(&t, Role::Operator, OPERATOR).await;
        let visitor = account_of(&t, Role::User, USER).await;
        let admin_token = token_for(&t, &admin).await;
        let staff_token = token_for(&t, &staff).await;
        let operator_token = token_for(&t, &operator).await;
        let user_token = token_for(&t, &visitor).await;
        let member = add_member(
            &t,
            &admin_token,
            "示例网络科技有限公司",
            "91440300708461136T",
        )
        .await;
        let member_token = member_token(&t, &member, "tns@example-member.cn").await;

        // Staff read the configured values; nothing was changed yet.
        let shown = expect(&t, api("GET", PATH, &staff_token, None), StatusCode::OK).await;
        let defaults = json!({"complaint_deadline_hours": 120, "complaint_reminder_hours": [48, 24],
            "recheck_icp_days": 7, "recheck_domain_days": 30, "grace_hours": 72});
        assert_eq!(shown["current"], defaults, "{backend:?}");
        assert_eq!(shown["defaults"], defaults);
        assert_eq!(shown["changes"], json!([]));

        // Nobody but admins changes them; operators, users and members do not read them.
        let change = json!({"complaint_deadline_hours": 48});
        expect(&t, put(&staff_token, change.clone()), StatusCode::FORBIDDEN).await;
        for token in [&operator_token, &user_token, &member_token] {
            expect(&t, api("GET", PATH, token, None), StatusCode::FORBIDDEN).await;
            expect(&t, put(token, change.clone()), StatusCode::FORBIDDEN).await;
        }
        let anonymous = axum::http::Request::get(PATH)
            .body(axum::body::Body::empty())
            .unwrap();
        assert_eq!(t.call(anonymous).await.0, StatusCode::UNAUTHORIZED);

        // Impossible values are refused whole, naming their field.
        for (body, named) in [
            (
                json!({"complaint_deadline_hours": 0}),
                vec!["complaint_deadline_hours", "complaint_reminder_hours"],
            ),
            (
                json!({"complaint_reminder_hours": [24, 0]}),
                vec!["complaint_reminder_hours"],
            ),
            (
                json!({"complaint_deadline_hours": 24, "complaint_reminder_hours": [24]}),
                vec!["complaint_reminder_hours"],
            ),
            (
                json!({"recheck_icp_days": 0, "recheck_domain_days": 100_000}),
                vec!["recheck_domain_days", "recheck_icp_days"],
            ),
            (json!({"grace_hours": -1}), vec!["grace_hours"]),
        ] {
            let refused = expect(
                &t,
                put(&admin_token, body.clone()),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
            assert_eq!(fields(&refused), named, "{backend:?} {body}: {refused}");
        }
        assert_eq!(
            t.scalar("SELECT COUNT(*) FROM staff_settings").await,
            0,
            "nothing stored"
        );
        assert_eq!(
            t.scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'settings.change'")
                .await,
            0
        );

        // A valid change: in force at once, with who changed it.
        let changed = expect(
            &t,
            put(
                &admin_token,
                json!({"complaint_deadline_hours": 48, "complaint_reminder_hours": [6],
                       "grace_hours": 1, "recheck_domain_days": 30}),
            ),
            StatusCode::OK,
        )
        .await;
        assert_eq!(changed["current"]["complaint_deadline_hours"], 48);
        assert_eq!(changed["current"]["complaint_reminder_hours"], json!([6]));
        assert_eq!(changed["current"]["grace_hours"], 1);
        assert_eq!(changed["defaults"], defaults);
        let changes = changed["changes"].as_array().unwrap();
        assert_eq!(
            changes.len(),
            3,
            "the unchanged interval is not stored: {changed}"
        );
        assert!(changes.iter().all(|c| c["changed_by"] == ADMIN));

        // One audit entry: who changed what from what to what.
        let entries = ca::audit::recent(&t.state.db, 50).await.unwrap();
        let audited: Vec<_> = entries
            .iter()
            .filter(|e| e.action == "settings.change")
            .collect();
        assert_eq!(audited.len(), 1, "{backend:?}");
        assert_eq!(audited[0].actor, ADMIN);
        let details: Value = serde_json::from_str(&audited[0].details).unwrap();
        assert_eq!(
            details,
            json!({
                "complaint_deadline_hours": {"from": "120", "to": "48"},
                "complaint_reminder_hours": {"from": "48,24", "to": "6"},
                "grace_hours": {"from": "72", "to": "1"},
            })
        );
        ca::audit::verify(&t.state.db).await.unwrap();

        // The next complaint: a 48-hour deadline and one reminder 6 hours before it.
        let site = crate::certified_site(&t.state, &operator, &staff, "chenxi-shuzhi.cn").await;
        let now = badge_server::domain::clock::now();
        let c = complaint::submit(
            &t.state,
            &visitor,
            &site,
            "fraud",
            "付款后一直不发货，客服不回复。",
            now,
        )
        .await
        .unwrap();
        assert_eq!(c.deadline_at, now + 48 * HOUR, "{backend:?}");
        let reminders = t
            .scalar("SELECT COUNT(*) FROM jobs WHERE kind = 'complaint.reminder'")
            .await;
        assert_eq!(reminders, 1);
        assert_eq!(
            t.scalar("SELECT MIN(run_at) FROM jobs WHERE kind = 'complaint.reminder'")
                .await,
            now + 42 * HOUR
        );

        // The next re-verification: the record is gone, and one hour of grace (not 72)
        // later the certificate is on hold — with the same, unrestarted state.
        let gone = Zone::new().start();
        let rechecker = Rechecker {
            db: t.state.db.clone(),
            challenger: crate::challenger_for(&gone),
            icp: None,
            ca: Some(t.state.ca.clone()),
            policy: t.state.policy.clone(),
            concurrency: 1,
        };
        let first = rechecker.run(Scope::All, now, &|_, _| {}).await.unwrap();
        assert_eq!(first.entered_grace, 1, "{backend:?} {first:?}");
        let later = rechecker
            .run(Scope::Due, now + HOUR + 1, &|_, _| {})
            .await
            .unwrap();
        assert_eq!(
            later.suspended, 1,
            "{backend:?}: grace of 1 hour: {later:?}"
        );
    }
}

#[tokio::test]
async fn the_console_page_shows_the_settings_and_its_form_changes_them_for_admins_only() {
    for backend in Backend::all() {
        let t = TestApp::new(backend).await;
        t.account(Role::Admin, ADMIN).await;
        t.account(Role::Staff, STAFF).await;
        t.account(Role::Operator, OPERATOR).await;
        t.account(Role::User, USER).await;
        crate::events::console_refuses_non_staff(
            &t,
            "/console/settings",
            &[("complaint_deadline_hours", "48")],
        )
        .await;
        let anonymous = t.browser().get("/console/settings").await;
        assert_ne!(anonymous.status, StatusCode::OK);

        // Staff see the values, read-only; their post is refused.
        let mut staff = signed_in(&t, STAFF).await;
        let page = staff.get("/console/settings").await;
        assert_eq!(page.status, StatusCode::OK, "{backend:?}");
        assert!(page.body.contains("value=\"48,24\""), "{}", page.body);
        assert!(page.body.contains("readonly") && !page.body.contains("save-settings"));
        let form = [
            ("complaint_deadline_hours", "48"),
            ("complaint_reminder_hours", "6"),
            ("recheck_icp_days", "7"),
            ("recheck_domain_days", "30"),
            ("grace_hours", "72"),
        ];
        let r = staff
            .submit("/console/settings", "/console/settings", &form)
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);

        // An admin's refused form names the field and keeps what was typed.
        let mut admin = signed_in(&t, ADMIN).await;
        let mut bad = form;
        bad[0].1 = "0";
        bad[2].1 = "七";
        let r = admin
            .submit("/console/settings", "/console/settings", &bad)
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
        assert!(r.body.contains("recheck_icp_days"), "{}", r.body);
        bad[2].1 = "7";
        let r = admin
            .submit("/console/settings", "/console/settings", &bad)
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
        assert!(
            r.body.contains("投诉答复期限 (complaint_deadline_hours)"),
            "{}",
            r.body
        );
        assert!(r.body.contains("value=\"0\""));
        assert_eq!(t.scalar("SELECT COUNT(*) FROM staff_settings").await, 0);

        let r = admin
            .submit("/console/settings", "/console/settings", &form)
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        let page = admin.get("/console/settings").await;
        assert!(page.body.contains("id=\"notice\""), "{}", page.body);
        assert!(page.body.contains("value=\"6\"") && page.body.contains(ADMIN));
        assert_eq!(
            t.scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'settings.change'")
                .await,
            1
        );
    }
}
