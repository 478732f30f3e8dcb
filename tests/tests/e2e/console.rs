//! The staff console in headless Chromium (issue 18): staff sign in, read the queue
//! counts on the first screen, find a certified site in the sites list, open its
//! page, hold its certificate through the confirmation page and see it held.
//! Screenshots of the console, the list, the site page and the confirmation are kept
//! in `target/test-artifacts/console/` for people to look at.

use std::time::Instant;

use testkit::{Backend, free_port};

use crate::browser::{Browser, user_add};
use crate::{Deployment, chenxi_application, quick_queue};

/// Opens `path`, signs in on the login page it leads to, and waits to be back there.
fn sign_in(b: &Browser, d: &Deployment, path: &str, email: &str, password: &str) {
    b.goto(&d.url(path));
    b.wait_for("the login page", 10, |b| {
        b.current_url().contains("/login?next=").then_some(())
    });
    b.fill("#email", email);
    b.fill("#password", password);
    b.click("#submit");
    b.wait_for(path, 15, |b| b.current_url().ends_with(path).then_some(()));
}

#[test]
fn staff_find_a_site_in_the_console_and_hold_it_after_confirming_with_screenshots() {
    const STAFF: &str = "reviewer@chengxin.test";
    const PASSWORD: &str = "staff passphrase 2026";
    let started = Instant::now();
    let d = Deployment::new(Backend::Sqlite);
    d.ca(&["init"]).ok();
    let operator = user_add(
        &d,
        "operator",
        "op@chenxi-shuzhi.cn",
        "operator passphrase 2026",
    );
    let staff = user_add(&d, "staff", STAFF, PASSWORD);
    let dns_port = free_port();
    let miit = testkit::fixtures_dir().join("miit-rows.json");
    let _server = d.serve_with(&quick_queue(&[
        ("CHENGXIN_DNS_SERVERS", format!("127.0.0.1:{dns_port}")),
        ("CHENGXIN_DNS_TIMEOUT", "1".into()),
        ("CHENGXIN_HTTP_TIMEOUT", "2".into()),
        ("CHENGXIN_HTTP_CHALLENGE_PORT", free_port().to_string()),
        ("CHENGXIN_ICP_PROVIDER", format!("file:{}", miit.display())),
    ]));
    let (_, site) = d.certify(&operator, &staff, dns_port, chenxi_application());
    let site_id = site["site"].as_str().unwrap().to_string();
    let shots = testkit::browser::artifacts_dir("console");
    let b = Browser::start(&[], "zh-CN");

    sign_in(&b, &d, "/console", STAFF, PASSWORD);
    assert!(b.text("#q-grace").contains("0"), "{}", b.text("#q-grace"));
    b.save_page(&shots.join("console.png"));

    // The list, searched by domain; the row links to the site's page.
    b.click("#sites-link");
    b.fill("#f-q", "chenxi-shuzhi");
    b.click("#filter");
    b.wait_for("the filtered list", 15, |b| {
        b.current_url().contains("q=chenxi-shuzhi").then_some(())
    });
    assert_eq!(b.text(".site-link"), site_id);
    b.save_page(&shots.join("sites.png"));
    b.click(".site-link");
    b.wait_for("the site page", 15, |b| {
        b.current_url()
            .ends_with(&format!("/console/sites/{site_id}"))
            .then_some(())
    });
    assert_eq!(b.text("#state"), "certified");
    b.save_page(&shots.join("site.png"));

    // Hold: a confirmation page first, then the site shows as held.
    b.fill("#hold-reason", "备案信息待核实 <script>alert(1)</script>");
    b.click("#hold");
    b.wait_for("the confirmation page", 15, |b| {
        b.current_url().ends_with("/act/hold").then_some(())
    });
    assert!(
        b.text("#confirm-reason")
            .contains("<script>alert(1)</script>")
    );
    b.save_page(&shots.join("confirm-hold.png"));
    b.click("#confirm-action");
    b.wait_for("the site page again", 15, |b| {
        b.current_url()
            .ends_with(&format!("/console/sites/{site_id}"))
            .then_some(())
    });
    assert_eq!(b.text("#state"), "held");
    assert!(b.text("#history").contains("site.hold"));
    b.save_page(&shots.join("site-held.png"));
    eprintln!(
        "console in Chromium: {:.1} s; screenshots in {}",
        started.elapsed().as_secs_f64(),
        shots.display()
    );
}

/// The run page's script (`static/recheck-run.js`) in Chromium: while a run goes it
/// shows the progress in place, without reloading the page, and once the run has
/// ended it loads the page again, which then shows the summary. The run's row is
/// written directly so that the test, not a job's timing, decides when it moves.
#[test]
fn a_running_re_verification_shows_its_progress_in_place_and_its_summary_when_it_ends() {
    const STAFF: &str = "runner@chengxin.test";
    const PASSWORD: &str = "staff passphrase 2026";
    let d = Deployment::new(Backend::Sqlite);
    d.ca(&["init"]).ok();
    user_add(&d, "staff", STAFF, PASSWORD);
    let _server = d.serve_with(&quick_queue(&[]));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    d.sql(&format!(
        "INSERT INTO recheck_runs (id, state, started_by, started_at, total) \
         VALUES (7, 'running', '{STAFF}', {now}, 3)"
    ));
    let shots = testkit::browser::artifacts_dir("console");
    let b = Browser::start(&[], "zh-CN");
    sign_in(&b, &d, "/console/rechecks/7", STAFF, PASSWORD);
    assert_eq!(b.text("#run-done"), "0");
    // A mark on this page's window: a reload would drop it.
    b.js("window.chengxinMark = 'this page'; return true;");
    d.sql("UPDATE recheck_runs SET done = 2, passed = 1, errors = 1 WHERE id = 7");
    b.wait_for("the progress shown in place", 15, |b| {
        (b.text("#run-done") == "2").then_some(())
    });
    assert_eq!(b.text("#run-passed"), "1");
    assert_eq!(b.text("#run-errors"), "1");
    assert_eq!(
        b.js("return window.chengxinMark || null;"),
        serde_json::json!("this page"),
        "the page was reloaded to show the progress"
    );
    b.save_page(&shots.join("run-running.png"));

    d.sql(&format!(
        "UPDATE recheck_runs SET state = 'finished', done = 3, passed = 2, \
         finished_at = {now} WHERE id = 7"
    ));
    b.wait_for("the summary after the run ended", 15, |b| {
        b.js("return document.getElementById('run-summary') !== null;")
            .as_bool()
            .unwrap_or(false)
            .then_some(())
    });
    assert_eq!(
        b.js("return window.chengxinMark || null;"),
        serde_json::Value::Null
    );
    assert_eq!(b.text("#run-done"), "3");
    b.save_page(&shots.join("run-finished.png"));
}
