//! The staff sites list, a site's staff page and the console's queues (issue 18),
//! through the real router on both backends: each filter and sort against a seeded
//! database with known counts per state, the bounded page size, a site's history of
//! every kind in time order, hold / release / revoke / note each leaving its audit
//! entry after a confirmation step, script in notes and reasons shown as text, and
//! who may open or post to every console page and staff API route.

use std::collections::BTreeSet;

use axum::http::StatusCode;
use badge_server::domain::account::{Account, Email, Role};
use badge_server::domain::site_list::{GRACE_ENDING_WITHIN, PAGE_LIMIT};
use serde_json::{Value, json};
use testkit::Backend;

use crate::accounts::{Client, TestApp};
use crate::events::{api, expect, token_for};
use crate::pages::{OPERATOR, STAFF, USER, account_of, signed_in};

const XSS: [&str; 2] = [
    "<script>alert(1)</script>",
    "\"><img src=x onerror=alert(1)>",
];

fn now() -> i64 {
    badge_server::domain::clock::now()
}

/// The ids of the sites an API list answer names, in order.
fn ids(v: &Value) -> Vec<String> {
    v["sites"]
        .as_array()
        .unwrap_or_else(|| panic!("{v}"))
        .iter()
        .map(|s| s["site"].as_str().unwrap().to_string())
        .collect()
}

async fn listed(t: &TestApp, token: &str, query: &str) -> Value {
    expect(
        t,
        api("GET", &format!("/api/v1/staff/sites{query}"), token, None),
        StatusCode::OK,
    )
    .await
}

/// The set of sites the list answers for `query` (one page of the most rows).
async fn set(t: &TestApp, token: &str, query: &str) -> BTreeSet<String> {
    let sep = if query.is_empty() { "?" } else { "&" };
    ids(&listed(t, token, &format!("{query}{sep}limit={PAGE_LIMIT}")).await)
        .into_iter()
        .collect()
}

fn of(sites: &[&String]) -> BTreeSet<String> {
    sites.iter().map(|s| s.to_string()).collect()
}

/// Seven certified sites through the real approval path, then put in every state
/// the list tells apart: `[certified, certified+due(retry), grace ending, grace,
/// held, revoked, expired (another province)]`.
async fn seeded(t: &TestApp, staff: &Account) -> Vec<String> {
    let op = account_of(t, Role::Operator, OPERATOR).await;
    let mut sites = vec![];
    for i in 1..=7 {
        let domain = format!("site{i}.chenxi-shuzhi.cn");
        sites.push(crate::certified_site(&t.state, &op, staff, &domain).await);
    }
    let now = now();
    let grace = t.state.policy.grace;
    // s2: a transient error, retry due now.
    t.exec(&format!(
        "UPDATE recheck_subjects SET retry_at = {}, retries = 1 WHERE site_id = '{}'",
        now - 60,
        sites[1]
    ))
    .await;
    // s3: in grace, ending within the hour; s4: in grace since now.
    t.exec(&format!(
        "UPDATE recheck_subjects SET state = 'grace', failing_since = {}, last_reason = 'TXT gone' \
         WHERE site_id = '{}'",
        now - grace + 3600,
        sites[2]
    ))
    .await;
    t.exec(&format!(
        "UPDATE recheck_subjects SET state = 'grace', failing_since = {now}, last_reason = 'TXT gone' \
         WHERE site_id = '{}'",
        sites[3]
    ))
    .await;
    // s5 held, s6 revoked: through the staff actions.
    let s = &t.state.services;
    badge_server::service::site_list::act(
        s,
        staff,
        &sites[4],
        badge_server::domain::site_list::SiteAction::Hold,
        None,
        "held for the test",
        now,
    )
    .await
    .unwrap();
    badge_server::service::site_list::act(
        s,
        staff,
        &sites[5],
        badge_server::domain::site_list::SiteAction::Revoke,
        Some(ca::RevocationReason::PrivilegeWithdrawn),
        "revoked for the test",
        now,
    )
    .await
    .unwrap();
    // s7: expired, and of an organization in another province.
    t.exec(&format!(
        "UPDATE certificates SET not_after = {} WHERE id = (SELECT certificate_id FROM sites WHERE id = '{}')",
        now - 10,
        sites[6]
    ))
    .await;
    t.exec(
        "INSERT INTO organizations (name, uscc, province, city, created_at) \
         VALUES ('上海测试有限公司', '91310000MA1FL0000X', '上海市', '市辖区', 1)",
    )
    .await;
    t.exec(&format!(
        "UPDATE sites SET organization_id = (SELECT id FROM organizations WHERE uscc = '91310000MA1FL0000X') \
         WHERE id = '{}'",
        sites[6]
    ))
    .await;
    // s1: an open complaint past its deadline; s2: a copy of its seal seen in 3 hours,
    // s1 one seen once (not reported).
    let user = account_of(t, Role::User, USER).await;
    t.exec(&format!(
        "INSERT INTO complaints (id, site_id, complainant_id, category, text, status, deadline_at, \
         created_at, updated_at) VALUES ('c_seeded', '{}', {}, 'fraud', '不发货', 'forwarded', {}, {}, {})",
        sites[0],
        user.id,
        now - 10,
        now - 100,
        now - 100
    ))
    .await;
    t.exec(&format!(
        "INSERT INTO seal_copies (site_id, host, first_seen, last_seen, hits, hours_seen) VALUES \
         ('{}', 'copy.example.net', {}, {now}, 40, 3), ('{}', 'once.example.net', {now}, {now}, 1, 1)",
        sites[1],
        now - 7200,
        sites[0]
    ))
    .await;
    sites
}

#[tokio::test]
async fn the_sites_list_filters_and_sorts_a_seeded_database_by_every_filter() {
    for backend in Backend::all() {
        let t = TestApp::new(backend).await;
        let staff = account_of(&t, Role::Staff, STAFF).await;
        let token = token_for(&t, &staff).await;
        let s = seeded(&t, &staff).await;
        let all = of(&s.iter().collect::<Vec<_>>());
        assert_eq!(set(&t, &token, "").await, all);
        // Known counts per state.
        for (query, want) in [
            ("?state=certified", of(&[&s[0], &s[1]])),
            ("?state=grace", of(&[&s[2], &s[3]])),
            ("?state=held", of(&[&s[4]])),
            ("?state=revoked", of(&[&s[5]])),
            ("?state=expired", of(&[&s[6]])),
            ("?due=1", of(&[&s[1]])),
            ("?failing=1", of(&[&s[2], &s[3]])),
            ("?grace_ending=1", of(&[&s[2]])),
            ("?state=grace&grace_ending=1", of(&[&s[2]])),
            ("?last=fail", of(&[&s[2], &s[3]])),
            ("?last=error", of(&[&s[1]])),
            ("?last=pass", of(&[&s[0], &s[4], &s[5], &s[6]])),
            ("?province=%E4%B8%8A%E6%B5%B7%E5%B8%82", of(&[&s[6]])),
            (
                "?province=%E5%8C%97%E4%BA%AC%E5%B8%82&state=certified",
                of(&[&s[0], &s[1]]),
            ),
            ("?complaints=1", of(&[&s[0]])),
            ("?copies=1", of(&[&s[1]])),
            (&format!("?q={}", s[3]) as &str, of(&[&s[3]])),
            ("?q=site3.chenxi", of(&[&s[2]])),
            ("?q=91110108MA04T7K21H&state=grace", of(&[&s[2], &s[3]])),
            ("?state=held&failing=1", BTreeSet::new()),
        ] {
            assert_eq!(set(&t, &token, query).await, want, "{backend:?} {query}");
        }
        // Each row says what it is.
        let grace = listed(&t, &token, &format!("?q={}", s[2])).await;
        let row = &grace["sites"][0];
        assert_eq!(row["state"], "grace");
        assert_eq!(row["last_result"], "fail");
        assert_eq!(row["url"], format!("/console/sites/{}", s[2]));
        assert!(row["grace_ends"].as_i64().unwrap() <= now() + GRACE_ENDING_WITHIN);
        assert_eq!(
            listed(&t, &token, "?complaints=1").await["sites"][0]["open_complaints"],
            1
        );
        assert_eq!(
            listed(&t, &token, "?copies=1").await["sites"][0]["copies"],
            1
        );

        // Sorts: due first is the retry due now; the latest failure first is s4.
        let due = ids(&listed(&t, &token, "?sort=due").await);
        assert_eq!(due[0], s[1], "{due:?}");
        assert_eq!(due.len(), 7);
        let failing = ids(&listed(&t, &token, "?sort=failure").await);
        assert_eq!(&failing[..2], &[s[3].clone(), s[2].clone()], "{failing:?}");
        let newest = ids(&listed(&t, &token, "").await);
        assert_eq!(newest.len(), 7);

        // Pages: bounded size, a next link while rows remain, no repeats.
        let mut seen = vec![];
        let mut query = "?limit=3&sort=due".to_string();
        loop {
            let page = listed(&t, &token, &query).await;
            assert!(ids(&page).len() <= 3);
            seen.extend(ids(&page));
            match page["next"].as_str() {
                Some(n) => query = n.to_string(),
                None => break,
            }
        }
        assert_eq!(seen, due, "pages in order, each site once");
        let most = format!("?limit={PAGE_LIMIT}");
        listed(&t, &token, &most).await;
        for bad in [
            format!("?limit={}", PAGE_LIMIT + 1),
            "?limit=0".into(),
            "?page=0".into(),
            "?page=100000".into(),
            "?state=pending".into(),
            "?last=maybe".into(),
            "?sort=name".into(),
            "?due=perhaps".into(),
        ] {
            let r = expect(
                &t,
                api("GET", &format!("/api/v1/staff/sites{bad}"), &token, None),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
            assert!(r["fields"].is_object(), "{bad}: {r}");
        }

        // The page shows the same rows, each linking to the site.
        let mut b = signed_in(&t, STAFF).await;
        let page = b.get("/console/sites?state=grace").await.expect(200, &s[2]);
        assert_eq!(page.body.matches("class=\"site-row\"").count(), 2);
        assert!(
            page.body
                .contains(&format!("href=\"/console/sites/{}\"", s[3]))
        );
        b.get("/console/sites?limit=999").await.expect(422, "limit");

        // The queues: one grace ending, one complaint past its deadline.
        let q = expect(
            &t,
            api("GET", "/api/v1/staff/queues", &token, None),
            StatusCode::OK,
        )
        .await;
        assert_eq!(q["grace_ending"]["count"], 1, "{q}");
        assert_eq!(q["complaints_overdue"]["count"], 1, "{q}");
        assert_eq!(q["warning_drafts"]["count"], 0, "{q}");
        assert_eq!(q["applications"]["count"], 0, "{q}");
        let home = b.get("/console").await.expect(200, "id=\"q-grace\"");
        assert!(
            home.body
                .contains("href=\"/console/sites?state=grace&#38;grace_ending=1\" id=\"q-grace\""),
            "the count links to its list"
        );
        assert!(home.body.contains("href=\"/console/sites\""));
        assert!(!home.body.contains("id=\"revoke-site\""), "no site-id box");
        // The grace queue's link lists exactly that site; the complaints' link the one.
        let link = q["grace_ending"]["url"].as_str().unwrap();
        let listed_page = b.get(link).await.expect(200, &s[2]);
        assert_eq!(listed_page.body.matches("class=\"site-row\"").count(), 1);
        let overdue = b
            .get(q["complaints_overdue"]["url"].as_str().unwrap())
            .await
            .expect(200, "c_seeded");
        assert!(overdue.body.contains("id=\"overdue-only\""));
    }
}

/// Opens `page`, posts `fields` with its CSRF token to `action`, returns the answer.
async fn post_from(
    b: &mut Client<'_>,
    page: &str,
    action: &str,
    fields: &[(&str, &str)],
) -> crate::accounts::Resp {
    b.submit(page, action, fields).await
}

#[tokio::test]
async fn a_site_page_shows_its_whole_history_in_time_order_and_each_action_is_audited() {
    for backend in Backend::all() {
        let w = crate::pages::world(backend).await;
        let t = &w.t;
        let site = w.site.clone();
        let page = format!("/console/sites/{site}");
        let now = now();
        t.exec(&format!(
            "INSERT INTO seal_copies (site_id, host, first_seen, last_seen, hits, hours_seen) VALUES \
             ('{site}', 'copy.example.net', {}, {now}, 40, 3)",
            now - 7200
        ))
        .await;
        let staff = account_of(t, Role::Staff, STAFF).await;
        let token = token_for(t, &staff).await;
        let mut b = signed_in(t, STAFF).await;

        // Re-verify now: the result is shown, the checks join the history.
        let r = post_from(&mut b, &page, &format!("{page}/recheck"), &[]).await;
        b.follow(r).await.expect(200, "Re-verified");
        // Staff re-verifications are charged to the account's hourly quota of
        // domain-control checks, like an operator's: past it, 429 and nothing runs.
        let checks = t.scalar("SELECT COUNT(*) FROM verification_checks").await;
        let quota = t.state.services.domain_checks.clone();
        while quota.allow(staff.id, now) {}
        let (status, _, body) = t
            .call(api(
                "POST",
                &format!("/api/v1/staff/sites/{site}/recheck"),
                &token,
                None,
            ))
            .await;
        assert_eq!(
            status,
            StatusCode::TOO_MANY_REQUESTS,
            "{}",
            String::from_utf8_lossy(&body)
        );
        assert_eq!(
            t.scalar("SELECT COUNT(*) FROM verification_checks").await,
            checks
        );

        // A note with script in it.
        let note = format!("operator called {} {}", XSS[0], XSS[1]);
        let r = post_from(&mut b, &page, &format!("{page}/note"), &[("note", &note)]).await;
        b.follow(r).await.expect(200, "Note kept");
        // An empty note is refused on the page, nothing kept.
        let before = t.scalar("SELECT COUNT(*) FROM audit_log").await;
        post_from(&mut b, &page, &format!("{page}/note"), &[("note", "  ")])
            .await
            .expect(422, "note");
        assert_eq!(t.scalar("SELECT COUNT(*) FROM audit_log").await, before);

        // Hold: the first post only asks for confirmation (nothing done).
        let reason = format!("hold {}", XSS[1]);
        let ask = post_from(
            &mut b,
            &page,
            &format!("{page}/act/hold"),
            &[("reason", &reason)],
        )
        .await
        .expect(200, "id=\"confirm-action\"");
        assert!(
            !ask.body.contains(XSS[1]),
            "escaped on the confirmation page"
        );
        assert_eq!(t.scalar("SELECT COUNT(*) FROM revocations").await, 0);
        assert_eq!(t.scalar("SELECT COUNT(*) FROM audit_log").await, before);
        let confirm = [("reason", reason.as_str()), ("confirm", "yes")];
        let r = post_from(&mut b, &page, &format!("{page}/act/hold"), &confirm).await;
        b.follow(r).await.expect(200, "data-state=\"held\"");
        // Release, then revoke for good.
        let r = post_from(
            &mut b,
            &page,
            &format!("{page}/act/release"),
            &[("reason", "checked with MIIT"), ("confirm", "yes")],
        )
        .await;
        b.follow(r).await.expect(200, "data-state=\"certified\"");
        // A revocation without a valid RFC reason is refused with nothing done.
        post_from(
            &mut b,
            &page,
            &format!("{page}/act/revoke"),
            &[("reason", "x"), ("rfc_reason", "bogus"), ("confirm", "yes")],
        )
        .await
        .expect(422, "rfc_reason");
        let revoke_reason = format!("fraud confirmed {}", XSS[0]);
        let r = post_from(
            &mut b,
            &page,
            &format!("{page}/act/revoke"),
            &[
                ("reason", &revoke_reason),
                ("rfc_reason", "privilegeWithdrawn"),
                ("confirm", "yes"),
            ],
        )
        .await;
        let shown = b.follow(r).await.expect(200, "data-state=\"revoked\"");
        for x in XSS {
            assert!(!shown.body.contains(x), "{x} shown as markup");
        }
        assert!(
            shown.body.contains("&#60;script&#62;alert(1)"),
            "shown as text"
        );
        // Revoking again: 409 on the page.
        post_from(
            &mut b,
            &page,
            &format!("{page}/act/revoke"),
            &[
                ("reason", "again"),
                ("rfc_reason", "privilegeWithdrawn"),
                ("confirm", "yes"),
            ],
        )
        .await
        .expect(409, "already revoked");

        // Each action left its audit entry, by the staff member, about the site.
        for (action, text) in [
            ("site.note", note.as_str()),
            ("site.hold", reason.as_str()),
            ("site.release", "checked with MIIT"),
            ("site.revoke", revoke_reason.as_str()),
        ] {
            let (actor, details): (String, String) = ca::on_pool!(&t.state.db, |p| sqlx::query_as(
                "SELECT actor, details FROM audit_log WHERE action = $1 AND subject = $2"
            )
            .bind(action)
            .bind(&site)
            .fetch_one(p)
            .await
            .unwrap());
            assert_eq!(actor, STAFF, "{action}");
            let d: Value = serde_json::from_str(&details).unwrap();
            assert_eq!(d["note"], text, "{action}");
        }
        ca::audit::verify(&t.state.db).await.unwrap();

        // The history over the API: every kind, newest first.
        let d = expect(
            t,
            api("GET", &format!("/api/v1/staff/sites/{site}"), &token, None),
            StatusCode::OK,
        )
        .await;
        assert_eq!(d["state"], "revoked");
        assert_eq!(
            d["certificates"][0]["revocation_reason"],
            "privilegeWithdrawn"
        );
        assert_eq!(d["domains"][0]["domain"], "chenxi-shuzhi.cn");
        assert_eq!(d["domains"][0]["icp"], "京ICP备2024018653号-1");
        let history = d["history"].as_array().unwrap();
        let kinds: BTreeSet<&str> = history
            .iter()
            .map(|h| h["kind"].as_str().unwrap())
            .collect();
        for kind in [
            "certificate",
            "check",
            "complaint",
            "copy",
            "warning",
            "audit",
        ] {
            assert!(kinds.contains(kind), "{kind} missing from {kinds:?}");
        }
        let times: Vec<i64> = history.iter().map(|h| h["at"].as_i64().unwrap()).collect();
        assert!(
            times.windows(2).all(|p| p[0] >= p[1]),
            "newest first: {times:?}"
        );
        let check = history.iter().find(|h| h["kind"] == "check").unwrap();
        let detail = check["detail"].as_str().unwrap();
        assert!(
            detail.contains("asked:") && detail.contains("resolver:"),
            "{detail}"
        );
        assert!(
            history
                .iter()
                .any(|h| h["title"].as_str().unwrap().starts_with("site.note"))
        );
        // The page shows the same history in the same order.
        let html = b.get(&page).await.expect(200, "data-kind=\"copy\"");
        let at: Vec<i64> = html
            .body
            .split("data-at=\"")
            .skip(1)
            .map(|s| s[..s.find('"').unwrap()].parse().unwrap())
            .collect();
        assert_eq!(at, times);

        // The API actions: a note, a hold of a revoked certificate refused.
        let n = expect(
            t,
            api(
                "POST",
                &format!("/api/v1/staff/sites/{site}/notes"),
                &token,
                Some(json!({ "note": XSS[1] })),
            ),
            StatusCode::CREATED,
        )
        .await;
        assert!(n["seq"].as_i64().unwrap() > 0);
        expect(
            t,
            api(
                "POST",
                &format!("/api/v1/staff/sites/{site}/hold"),
                &token,
                Some(json!({ "reason": "x" })),
            ),
            StatusCode::CONFLICT,
        )
        .await;
        expect(
            t,
            api(
                "POST",
                &format!("/api/v1/staff/sites/{site}/explode"),
                &token,
                Some(json!({ "reason": "x" })),
            ),
            StatusCode::NOT_FOUND,
        )
        .await;
        expect(
            t,
            api("GET", "/api/v1/staff/sites/s_nosuchsite", &token, None),
            StatusCode::NOT_FOUND,
        )
        .await;
        b.get("/console/sites/s_nosuchsite").await.expect(404, "");
    }
}

/// A `member` account with a password, signed in.
async fn member_account(t: &TestApp, email: &str) -> Account {
    let admin = account_of(t, Role::Admin, "admin@chengxin.test").await;
    let admin = token_for(t, &admin).await;
    let member = crate::members::add_member(t, &admin, "成员", "91110108MA04T7K21H").await;
    let a = badge_server::store::accounts::upsert_member(
        &t.state.db,
        &Email::parse(email).unwrap(),
        &member,
    )
    .await
    .unwrap();
    let hash = badge_server::domain::password::hash(crate::accounts::PASSWORD).unwrap();
    let mut tx = t.state.db.begin().await.unwrap();
    badge_server::store::accounts::set_password(&mut tx, a.id, &hash)
        .await
        .unwrap();
    badge_server::store::accounts::confirm_email(&mut tx, a.id, 1)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    a
}

/// Every `/console…` route the page routers name (`.route("/console…"`), read from
/// the sources so that a new console page cannot be left out of the matrix below.
fn console_routes() -> BTreeSet<String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/http/pages");
    let mut out = BTreeSet::new();
    for f in std::fs::read_dir(dir).unwrap() {
        let text = std::fs::read_to_string(f.unwrap().path()).unwrap();
        for part in text.split(".route(").skip(1) {
            let part = part.trim_start();
            if let Some(rest) = part.strip_prefix("\"/console") {
                out.insert(format!("/console{}", &rest[..rest.find('"').unwrap()]));
            }
        }
    }
    out
}

#[tokio::test]
async fn only_staff_open_or_post_to_any_console_page_or_staff_api_route() {
    for backend in Backend::all() {
        let w = crate::pages::world(backend).await;
        let t = &w.t;
        let site = w.site.clone();
        let c = w.complaint.clone();
        let warning = w.warning.to_string();
        // (method, route template, concrete path)
        let sub = |p: &str| {
            p.replace("{id}/act/{action}", &format!("{site}/act/hold"))
                .replace("/sites/{id}", &format!("/sites/{site}"))
                .replace("/complaints/{id}", &format!("/complaints/{c}"))
                .replace("/warnings/{id}", &format!("/warnings/{warning}"))
                .replace("{id}", "1")
        };
        let pages: Vec<(&str, &str)> = vec![
            ("GET", "/console"),
            ("GET", "/console/audit"),
            ("GET", "/console/sites"),
            ("GET", "/console/sites/{id}"),
            ("GET", "/console/events"),
            ("GET", "/console/conventions"),
            ("POST", "/console/applications/{id}/approve"),
            ("POST", "/console/applications/{id}/reject"),
            ("POST", "/console/sites/revoke"),
            ("POST", "/console/sites/recheck"),
            ("POST", "/console/recheck-due"),
            ("POST", "/console/warnings"),
            ("POST", "/console/warnings/{id}/withdraw"),
            ("POST", "/console/warnings/{id}/prominent"),
            ("POST", "/console/complaints/{id}/prominent"),
            ("POST", "/console/copies/warn"),
            ("POST", "/console/drafts/{id}/publish"),
            ("POST", "/console/drafts/{id}/dismiss"),
            ("POST", "/console/events"),
            ("POST", "/console/events/{id}/delete"),
            ("POST", "/console/conventions"),
            ("POST", "/console/conventions/{id}/versions"),
            ("POST", "/console/sites/{id}/recheck"),
            ("POST", "/console/sites/{id}/note"),
            ("POST", "/console/sites/{id}/act/{action}"),
            ("POST", "/console/rechecks"),
            ("GET", "/console/rechecks/{id}"),
            ("GET", "/console/rechecks/{id}/progress"),
            ("GET", "/console/settings"),
            ("POST", "/console/settings"),
        ];
        let covered: BTreeSet<String> = pages.iter().map(|(_, p)| p.to_string()).collect();
        let named = console_routes();
        let missing: Vec<&String> = named.difference(&covered).collect();
        assert!(
            missing.is_empty(),
            "console routes missing from the matrix: {missing:?}"
        );
        let api_routes: Vec<(&str, String, Option<Value>)> = vec![
            ("GET", "/api/v1/staff/sites".into(), None),
            ("GET", format!("/api/v1/staff/sites/{site}"), None),
            ("POST", format!("/api/v1/staff/sites/{site}/recheck"), None),
            (
                "POST",
                format!("/api/v1/staff/sites/{site}/hold"),
                Some(json!({ "reason": "x" })),
            ),
            (
                "POST",
                format!("/api/v1/staff/sites/{site}/release"),
                Some(json!({ "reason": "x" })),
            ),
            (
                "POST",
                format!("/api/v1/staff/sites/{site}/revoke"),
                Some(json!({ "reason": "x", "rfc_reason": "privilegeWithdrawn" })),
            ),
            (
                "POST",
                format!("/api/v1/staff/sites/{site}/notes"),
                Some(json!({ "note": "x" })),
            ),
            ("GET", "/api/v1/staff/queues".into(), None),
            ("GET", "/api/v1/staff/rechecks".into(), None),
            ("POST", "/api/v1/staff/rechecks".into(), None),
            ("GET", "/api/v1/staff/rechecks/1".into(), None),
            ("GET", "/api/v1/staff/settings".into(), None),
            (
                "PUT",
                "/api/v1/staff/settings".into(),
                Some(json!({ "grace_hours": 1 })),
            ),
            ("GET", "/api/v1/warning-drafts".into(), None),
            (
                "POST",
                format!("/api/v1/sites/{site}/revoke"),
                Some(json!({ "reason": "keyCompromise" })),
            ),
        ];
        let member = member_account(t, "tns@member.test").await;
        let operator = account_of(t, Role::Operator, OPERATOR).await;
        let user = account_of(t, Role::User, USER).await;
        let mut tokens = vec![];
        for a in [&operator, &member, &user] {
            tokens.push((a.email.clone(), token_for(t, a).await));
        }
        let audited = t.scalar("SELECT COUNT(*) FROM audit_log").await;
        let revoked = t.scalar("SELECT COUNT(*) FROM revocations").await;
        for email in [None, Some(OPERATOR), Some("tns@member.test"), Some(USER)] {
            let mut b = match email {
                Some(e) => signed_in(t, e).await,
                None => t.browser(),
            };
            let csrf = b
                .get(if email.is_some() {
                    "/account"
                } else {
                    "/login"
                })
                .await
                .csrf();
            for (method, template) in &pages {
                let path = sub(template);
                let r = if *method == "GET" {
                    b.get(&path).await
                } else {
                    b.post(
                        &path,
                        &[("csrf", &csrf), ("reason", "x"), ("confirm", "yes")],
                    )
                    .await
                };
                match email {
                    // Signed out: to the login page.
                    None => {
                        assert_eq!(r.status, StatusCode::SEE_OTHER, "anonymous {method} {path}");
                        assert!(r.location().starts_with("/login"), "{method} {path}");
                    }
                    Some(e) => {
                        assert_eq!(
                            r.status,
                            StatusCode::FORBIDDEN,
                            "{e} {method} {path}: {r:?}"
                        );
                        assert!(r.body.contains("Forbidden"), "{e} {method} {path}");
                    }
                }
            }
        }
        for (method, path, body) in &api_routes {
            let (status, _, _) = t
                .call(
                    axum::http::Request::builder()
                        .method(*method)
                        .uri(path)
                        .header("content-type", "application/json")
                        .body(axum::body::Body::from(
                            body.as_ref().map_or_else(String::new, Value::to_string),
                        ))
                        .unwrap(),
                )
                .await;
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "anonymous {method} {path}"
            );
            for (email, token) in &tokens {
                let (status, _, _) = t.call(api(method, path, token, body.clone())).await;
                assert_eq!(status, StatusCode::FORBIDDEN, "{email} {method} {path}");
            }
        }
        assert_eq!(
            t.scalar("SELECT COUNT(*) FROM audit_log").await,
            audited,
            "nothing audited"
        );
        assert_eq!(t.scalar("SELECT COUNT(*) FROM revocations").await, revoked);
        assert_eq!(t.scalar("SELECT COUNT(*) FROM recheck_runs").await, 0);
        assert_eq!(t.scalar("SELECT COUNT(*) FROM staff_settings").await, 0);
    }
}
