//! Re-verification as operators and staff meet it (issue 18), on both backends: a
//! certified site whose TXT record disappears enters grace, is held, released,
//! and revoked, and each step mails its operator (through a real SMTP server),
//! POSTs the signed `site.*` webhook (to a real receiver on loopback) and shows on
//! the site's page in the portal; staff runs over every due site walk them in
//! batches with their progress readable mid-way, survive a restart, list what
//! changed, and are one at a time.

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use badge_server::domain::account::{Account, Role};
use badge_server::service::{notices, rechecks};
use serde_json::Value;
use testkit::{Backend, SmtpSink, Zone};
use verifier::recheck::{Scope, State};

use crate::accounts::{PUBLIC, TestApp};
use crate::pages::{OPERATOR, STAFF, account_of, signed_in};

/// A webhook delivery as the receiver got it: headers and body.
type Delivery = (axum::http::HeaderMap, Vec<u8>);

/// A webhook receiver on loopback that answers 200 and keeps every delivery.
async fn receiver() -> (String, Arc<Mutex<Vec<Delivery>>>) {
    let got: Arc<Mutex<Vec<Delivery>>> = Arc::default();
    let keep = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let keep = keep.clone();
                async move {
                    keep.lock().unwrap().push((headers, body.to_vec()));
                    StatusCode::OK
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/hook"), got)
}

struct Setup {
    t: TestApp,
    sink: SmtpSink,
    hooks: Arc<Mutex<Vec<Delivery>>>,
    op: Account,
    staff: Account,
    site: String,
}

const SECRET: &str = "whsec_rechecks";

async fn setup(backend: Backend, batch: &str) -> Setup {
    let sink = SmtpSink::start();
    let dir = tempfile::tempdir().unwrap();
    let db_url = backend.fresh_database(dir.path());
    let smtp = sink.url();
    let t = TestApp::with_database(
        dir,
        &db_url,
        &[
            "--public-url",
            PUBLIC,
            "--smtp-url",
            &smtp,
            "--allow-private-targets",
            "127.0.0.1/32",
            "--recheck-run-batch",
            batch,
        ],
    )
    .await;
    let op = account_of(&t, Role::Operator, OPERATOR).await;
    let staff = account_of(&t, Role::Staff, STAFF).await;
    let site = crate::certified_site(&t.state, &op, &staff, "chenxi-shuzhi.cn").await;
    let (url, hooks) = receiver().await;
    t.exec(&format!(
        "UPDATE accounts SET webhook_url = '{url}', webhook_secret = '{SECRET}' WHERE id = {}",
        op.id
    ))
    .await;
    Setup {
        t,
        sink,
        hooks,
        op,
        staff,
        site,
    }
}

/// Points the application's domain checks at `dns`.
fn ask(t: &mut TestApp, dns: &testkit::DnsServer) {
    t.state.challenger = Arc::new(crate::challenger_for(dns));
    t.rebuild();
}

/// Re-verifies `site` as of `now` (every check), asking `dns`, then projects the
/// notices and runs the jobs due: what the re-verification summary said.
async fn recheck_at(
    t: &TestApp,
    dns: &testkit::DnsServer,
    site: &str,
    now: i64,
) -> verifier::recheck::Summary {
    let mut rechecker = rechecks::rechecker(&t.state, 1);
    rechecker.challenger = crate::challenger_for(dns);
    let summary = rechecker
        .run(Scope::Site(site.into()), now, &|_, _| {})
        .await
        .unwrap();
    // The notices are queued by the real clock, whatever the re-verification's.
    let real = badge_server::domain::clock::now();
    notices::project(&t.state, real).await.unwrap();
    badge_server::jobs::queue::run_due(&t.state, real)
        .await
        .unwrap();
    summary
}

/// The `n`th webhook delivery (waiting for it), checked as a receiver would: the
/// signature over id, timestamp and body with the operator's secret.
fn delivery(hooks: &Mutex<Vec<Delivery>>, n: usize) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        if let Some((h, body)) = hooks.lock().unwrap().get(n).cloned() {
            let get = |k: &str| h.get(k).unwrap().to_str().unwrap().to_string();
            let id: i64 = get("chengxin-webhook-id").parse().unwrap();
            let ts: i64 = get("chengxin-webhook-timestamp").parse().unwrap();
            assert_eq!(
                get("chengxin-webhook-signature"),
                badge_server::notify::webhook::signature(SECRET, id, ts, &body)
            );
            return serde_json::from_slice(&body).unwrap();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "webhook {n} did not come"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[tokio::test]
async fn grace_hold_release_and_revocation_by_re_verification_each_tell_the_operator() {
    for backend in Backend::all() {
        let Setup {
            t,
            sink,
            hooks,
            site,
            ..
        } = setup(backend, "100").await;
        let policy = t.state.policy.clone();
        let now = badge_server::domain::clock::now();
        let domain = "chenxi-shuzhi.cn";
        let page = format!("/portal/sites/{site}");
        let (txt_token,): (String,) = ca::on_pool!(&t.state.db, |p| sqlx::query_as(
            "SELECT token FROM recheck_subjects WHERE site_id = $1"
        )
        .bind(&site)
        .fetch_one(p)
        .await
        .unwrap());
        let without = Zone::new().start();
        let with = Zone::new()
            .txt(&format!("_chengxin-challenge.{domain}"), &txt_token)
            .start();

        // The TXT record disappears: grace.
        let s = recheck_at(&t, &without, &site, now).await;
        assert_eq!(s.entered_grace, 1, "{backend:?} {s:?}");
        assert_eq!(s.changes.len(), 1);
        assert_eq!(
            (s.changes[0].from, s.changes[0].to),
            (State::Ok, State::Grace)
        );
        assert!(
            s.changes[0].reason.contains("no TXT record"),
            "{:?}",
            s.changes[0]
        );
        let notice = badge_server::http::web::recheck_notice(&s);
        assert!(
            notice.contains(&site) && notice.contains("grace"),
            "{notice}"
        );
        let mails = sink.wait_for(1, 15);
        assert_eq!(mails[0].rcpt_tos, vec![OPERATOR.to_string()]);
        assert!(mails[0].subject.contains("宽限期"), "{}", mails[0].subject);
        let text = &mails[0].text;
        for needle in [
            "_chengxin-challenge.chenxi-shuzhi.cn",
            "宽限期至",
            "Grace ends",
            "重新验证",
            &format!("{PUBLIC}/portal/sites/{site}"),
            &badge_server::domain::clock::date_time(now + policy.grace),
        ] {
            assert!(text.contains(needle), "{needle:?} missing from {text}");
        }
        let hook = delivery(&hooks, 0);
        assert_eq!(hook["event"], "site.grace");
        assert_eq!(hook["data"]["site"], site.as_str());
        assert_eq!(hook["data"]["deadline_at"], now + policy.grace);
        assert_eq!(hook["data"]["evidence"][0]["check"], "dns-txt");
        let mut op = signed_in(&t, OPERATOR).await;
        let p = op.get(&page).await.expect(200, "data-kind=\"grace\"");
        assert!(p.body.contains("宽限期至"), "{}", p.body);
        // Projected once: a second projection queues nothing more.
        assert_eq!(notices::project(&t.state, now).await.unwrap(), 0);

        // Still failing at the end of grace: held.
        let held_at = now + policy.grace;
        let s = recheck_at(&t, &without, &site, held_at).await;
        assert_eq!(s.suspended, 1, "{s:?}");
        assert_eq!(s.changes[0].to, State::Suspended);
        let mails = sink.wait_for(2, 15);
        assert!(mails[1].subject.contains("暂停"), "{}", mails[1].subject);
        assert!(
            mails[1]
                .text
                .contains(&badge_server::domain::clock::date_time(
                    held_at + policy.suspension
                ))
        );
        let hook = delivery(&hooks, 1);
        assert_eq!(hook["event"], "site.held");
        assert_eq!(hook["data"]["deadline_at"], held_at + policy.suspension);
        op.get(&page).await.expect(200, "data-kind=\"held\"");

        // The record is back: released.
        let s = recheck_at(&t, &with, &site, held_at + 60).await;
        assert_eq!(s.released, 1, "{s:?}");
        assert_eq!(
            (s.changes[0].from, s.changes[0].to),
            (State::Suspended, State::Ok)
        );
        let mails = sink.wait_for(3, 15);
        assert!(mails[2].subject.contains("恢复"), "{}", mails[2].subject);
        assert_eq!(delivery(&hooks, 2)["event"], "site.released");
        op.get(&page).await.expect(200, "data-kind=\"released\"");

        // Gone again, for good: grace, hold, revocation.
        let start = held_at + 120;
        recheck_at(&t, &without, &site, start).await;
        recheck_at(&t, &without, &site, start + policy.grace).await;
        let s = recheck_at(
            &t,
            &without,
            &site,
            start + policy.grace + policy.suspension,
        )
        .await;
        assert_eq!(s.revoked, 1, "{s:?}");
        assert_eq!(s.changes[0].to, State::Revoked);
        let mails = sink.wait_for(6, 15);
        assert_eq!(mails.len(), 6, "{backend:?}");
        assert!(mails[5].subject.contains("撤销"), "{}", mails[5].subject);
        assert!(mails[5].text.contains("apply again"));
        let events: Vec<String> = (0..6)
            .map(|i| delivery(&hooks, i)["event"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(
            events,
            [
                "site.grace",
                "site.held",
                "site.released",
                "site.grace",
                "site.held",
                "site.revoked"
            ]
        );
        let p = op.get(&page).await.expect(200, "data-kind=\"revoked\"");
        assert!(!p.body.contains("recheck-deadline"), "{}", p.body);
    }
}

/// GET `path` with a bearer token: status and JSON.
async fn api(t: &TestApp, method: &str, path: &str, token: &str) -> (StatusCode, Value) {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    let (status, _, body) = t.call(req).await;
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

/// Claims and runs one job of a run (one batch), as the worker does.
async fn one_batch(t: &TestApp) -> bool {
    let now = badge_server::domain::clock::now();
    let jobs = badge_server::jobs::queue::worker::claim(&t.state.db, "test", now, 300, 1)
        .await
        .unwrap();
    let Some(job) = jobs.into_iter().find(|j| j.kind == rechecks::JOB_RUN) else {
        return false;
    };
    rechecks::run_job(&t.state, &job).await.unwrap();
    badge_server::store::jobs::mark_done(&t.state.db, job.id, "test", now)
        .await
        .unwrap();
    true
}

#[tokio::test]
async fn a_run_walks_the_due_sites_in_batches_survives_a_restart_and_lists_what_changed() {
    for backend in Backend::all() {
        let Setup {
            mut t,
            op,
            staff,
            site,
            ..
        } = setup(backend, "1").await;
        let second = crate::certified_site(&t.state, &op, &staff, "shop.chenxi-shuzhi.cn").await;
        let third = crate::certified_site(&t.state, &op, &staff, "news.chenxi-shuzhi.cn").await;
        t.exec("UPDATE recheck_subjects SET domain_due_at = 0")
            .await;
        let without = Zone::new().start();
        ask(&mut t, &without);
        let staff_token = badge_server::store::accounts::create_token(&t.state.db, &staff, "t")
            .await
            .unwrap();
        let op_token = badge_server::store::accounts::create_token(&t.state.db, &op, "t")
            .await
            .unwrap();

        // Operators may neither start nor read runs.
        for (m, p) in [
            ("POST", "/api/v1/staff/rechecks"),
            ("GET", "/api/v1/staff/rechecks"),
            ("GET", "/api/v1/staff/rechecks/1"),
        ] {
            assert_eq!(
                api(&t, m, p, &op_token).await.0,
                StatusCode::FORBIDDEN,
                "{m} {p}"
            );
        }
        let mut o = signed_in(&t, OPERATOR).await;
        o.get("/console/rechecks/1").await.expect(403, "");
        o.get("/console/rechecks/1/progress").await.expect(403, "");
        let r = o.post("/console/rechecks", &[]).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{r:?}");
        assert_eq!(t.scalar("SELECT COUNT(*) FROM recheck_runs").await, 0);

        // Staff start one from the console: its page.
        let mut s = signed_in(&t, STAFF).await;
        let r = s.submit("/console", "/console/rechecks", &[]).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{r:?}");
        let run_page = r.location().to_string();
        let id: i64 = run_page
            .strip_prefix("/console/rechecks/")
            .unwrap()
            .parse()
            .unwrap();
        let p = s.get(&run_page).await.expect(200, "data-state=\"running\"");
        assert!(
            p.body
                .contains("<noscript><meta http-equiv=\"refresh\" content=\"3\"></noscript>"),
            "{}",
            p.body
        );
        assert!(p.body.contains("/static/recheck-run."), "{}", p.body);
        let csp = p.headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline'; script"));
        let script = p
            .body
            .split("src=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .to_string();
        s.get(&script).await.expect(200, "/progress");

        // A second start is refused, on the page and in the API, while it runs.
        let again = s.submit("/console", "/console/rechecks", &[]).await;
        assert_eq!(again.status, StatusCode::CONFLICT, "{again:?}");
        assert!(again.body.contains(&run_page), "{}", again.body);
        let old = s.submit("/console", "/console/recheck-due", &[]).await;
        assert_eq!(old.status, StatusCode::CONFLICT);
        let (st, body) = api(&t, "POST", "/api/v1/staff/rechecks", &staff_token).await;
        assert_eq!(st, StatusCode::CONFLICT, "{body}");
        assert_eq!(t.scalar("SELECT COUNT(*) FROM recheck_runs").await, 1);

        // One batch (one site): the counts move, the run goes on.
        assert!(one_batch(&t).await);
        let (st, run) = api(
            &t,
            "GET",
            &format!("/api/v1/staff/rechecks/{id}"),
            &staff_token,
        )
        .await;
        assert_eq!(st, StatusCode::OK);
        assert_eq!(
            (
                run["state"].as_str(),
                run["total"].as_i64(),
                run["done"].as_i64()
            ),
            (Some("running"), Some(3), Some(1)),
            "{run}"
        );
        assert_eq!(run["failed"], 1);
        let progress = s.get(&format!("{run_page}/progress")).await.expect(200, "");
        let progress: Value = serde_json::from_str(&progress.body).unwrap();
        assert_eq!(progress["done"], 1);

        // The server restarts: the next job picks the run up where it was.
        t.restart().await;
        ask(&mut t, &without);
        assert!(one_batch(&t).await);
        assert!(one_batch(&t).await);
        // The last job finds nothing left and ends the run.
        assert!(one_batch(&t).await);
        assert!(!one_batch(&t).await);
        let (_, run) = api(
            &t,
            "GET",
            &format!("/api/v1/staff/rechecks/{id}"),
            &staff_token,
        )
        .await;
        assert_eq!(run["state"], "finished", "{run}");
        assert_eq!(
            (run["done"].as_i64(), run["failed"].as_i64()),
            (Some(3), Some(3))
        );
        let changed: Vec<&str> = run["changes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["site"].as_str().unwrap())
            .collect();
        let mut expected = vec![site.as_str(), second.as_str(), third.as_str()];
        expected.sort();
        assert_eq!(changed, expected, "{run}");
        assert!(
            run["changes"][0]["reason"]
                .as_str()
                .unwrap()
                .contains("no TXT record")
        );
        assert_eq!(run["changes"][0]["to"], "grace");

        let mut s = signed_in(&t, STAFF).await;
        let p = s.get(&run_page).await.expect(200, "id=\"run-summary\"");
        assert_eq!(
            p.body.matches("class=\"change\" data-to=\"grace\"").count(),
            3
        );
        assert!(p.body.contains("进入宽限期"), "{}", p.body);
        assert!(!p.body.contains("http-equiv=\"refresh\""));
        let (_, list) = api(&t, "GET", "/api/v1/staff/rechecks", &staff_token).await;
        assert_eq!(list[0]["id"], id, "{list}");

        // Over: a new run may start (nothing is due any more).
        let (st, run) = api(&t, "POST", "/api/v1/staff/rechecks", &staff_token).await;
        assert_eq!(st, StatusCode::CREATED, "{run}");
        assert_eq!(run["total"], 0);
    }
}

#[tokio::test]
async fn the_database_allows_one_running_run_and_a_run_whose_job_died_does_not_block_the_next() {
    for backend in Backend::all() {
        let Setup { t, staff, .. } = setup(backend, "10").await;
        let now = badge_server::domain::clock::now();
        // Four starts at once (each past the look for a running run before any
        // inserts): the unique index lets one through.
        let (a, b, c, d) = tokio::join!(
            rechecks::start(&t.state, &staff, now),
            rechecks::start(&t.state, &staff, now),
            rechecks::start(&t.state, &staff, now),
            rechecks::start(&t.state, &staff, now),
        );
        let started: Vec<_> = [a, b, c, d].into_iter().filter_map(Result::ok).collect();
        assert_eq!(started.len(), 1, "{backend:?}");
        assert_eq!(
            t.scalar("SELECT COUNT(*) FROM recheck_runs WHERE state = 'running'")
                .await,
            1
        );
        // Even written by hand, a second running row is refused.
        let second = ca::on_pool!(&t.state.db, |p| sqlx::query(
            "INSERT INTO recheck_runs (state, started_by, started_at, total) \
             VALUES ('running', 'x', 0, 0)"
        )
        .execute(p)
        .await
        .is_err());
        assert!(second, "{backend:?}");
        // Its job fails for good: the run no longer blocks the next one.
        t.exec(&format!(
            "UPDATE jobs SET failed_at = {now} WHERE kind = '{}'",
            rechecks::JOB_RUN
        ))
        .await;
        let next = rechecks::start(&t.state, &staff, now).await.unwrap();
        let first = rechecks::get(&t.state.db, &staff, started[0].id)
            .await
            .unwrap();
        assert_eq!(
            first.state,
            badge_server::domain::recheck_run::RunState::Failed
        );
        assert!(first.problem.is_some());
        assert_ne!(next.id, first.id);
    }
}
