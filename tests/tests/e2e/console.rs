//! The staff console in headless Chromium (issue 18): staff sign in, read the queue
//! counts on the first screen, find a certified site in the sites list, open its
//! page, hold its certificate through the confirmation page and see it held.
//! Screenshots of the console, the list, the site page and the confirmation are kept
//! in `target/test-artifacts/console/` for people to look at.

use std::time::Instant;

use testkit::{Backend, free_port};

use crate::browser::{Browser, user_add};
use crate::{Deployment, chenxi_application, quick_queue};

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

    b.goto(&d.url("/console"));
    b.wait_for("the login page", 10, |b| {
        b.current_url().contains("/login?next=").then_some(())
    });
    b.fill("#email", STAFF);
    b.fill("#password", PASSWORD);
    b.click("#submit");
    b.wait_for("the console", 15, |b| {
        b.current_url().ends_with("/console").then_some(())
    });
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
