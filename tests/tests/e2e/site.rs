//! The public website in headless Chromium at a phone's width (360×800) and a
//! desktop's (1280×800): the home page, the archive, the warnings, the check
//! box's answer, the certificate page in each state the
//! server can put a site in here (certified, suspended, revoked) and the handbook.
//! No page scrolls sideways; screenshots are kept in
//! `target/test-artifacts/site/` for people to look at. A warning whose text
//! carries a script shows it as text and runs nothing. The handbook prints (PDF,
//! read back with poppler's `pdftotext`) without navigation and with its links'
//! addresses.

use std::process::Command;

use testkit::{Backend, run};

use crate::browser::Browser;
use crate::{Deployment, http};

/// The viewports every page is shown in: a small phone and a desktop.
const VIEWPORTS: [(u32, u32); 2] = [(360, 800), (1280, 800)];

#[test]
fn the_public_pages_fit_a_phone_and_a_desktop_and_show_warnings_as_text() {
    let d = Deployment::new(Backend::Sqlite);
    let (_server, site) = d.certified_chenxi();
    let site_id = site["site"].as_str().unwrap().to_string();
    let staff = d.token("staff", "staff@seal.test");
    let client = http();
    let published = client
        .post(d.url("/api/v1/warnings"))
        .bearer_auth(&staff)
        .json(&serde_json::json!({
            "domain": "chenxi-shuzhi-shop.cn",
            "impersonates": site_id,
            "description": "<script>document.title='pwned'</script>冒充晨曦数智科技的网店：低价诱导扫码付款，收款后不发货。",
            "evidence": "2026-11-30 用户举报的付款截图",
        }))
        .send()
        .unwrap();
    assert_eq!(published.status(), 201, "{:?}", published.text());
    // A long look-alike domain, as fraudsters register them: it wraps only after its
    // dots on a phone.
    let long = client
        .post(d.url("/api/v1/warnings"))
        .bearer_auth(&staff)
        .json(&serde_json::json!({
            "domain": "www.beijing-chenxi-shuzhi-keji-youxian-gongsi-kefu.com.cn",
            "description": "冒充晨曦数智“客服”的网站，以退款为名诱导转账。",
            "evidence": "2026-12-01 用户来电",
        }))
        .send()
        .unwrap();
    assert_eq!(long.status(), 201, "{:?}", long.text());

    let shots = testkit::browser::artifacts_dir("site");
    let b = Browser::start(&[], "zh-CN,zh;q=0.9");
    let shoot = |name: &str| {
        for (w, h) in VIEWPORTS {
            b.save_fitting(w, h, &shots.join(format!("{name}-{w}x{h}.png")));
            // Everything made to be tapped is at least 44 px tall (links inside
            // running text excepted, as WCAG 2.5.8 allows).
            let small = b.js(
                "return [...document.querySelectorAll('header a, header button, main button, \
                   .actions a, input, select')] \
                   .filter(e => e.offsetParent !== null && e.type !== 'hidden' \
                     && e.getBoundingClientRect().height < 44) \
                   .map(e => e.outerHTML.slice(0, 80));",
            );
            assert_eq!(
                small,
                serde_json::json!([]),
                "{name} at {w} px: tap targets under 44 px"
            );
        }
    };

    b.goto(&d.url("/"));
    assert!(b.text("#fig-certified").contains("<5"));
    let xss = b.text("#warnings");
    assert!(
        xss.contains("<script>document.title='pwned'</script>"),
        "{xss}"
    );
    assert_eq!(b.js("return document.scripts.length;"), 0);
    assert!(
        !b.js("return document.title;")
            .as_str()
            .unwrap()
            .contains("pwned")
    );
    shoot("home");

    // The archive and the warnings list, in the same layout.
    b.goto(&d.url("/archive?q=%E6%99%A8%E6%9B%A6"));
    assert!(b.text("#results").contains("北京晨曦数智科技有限公司"));
    shoot("archive");
    b.goto(&d.url("/warnings"));
    assert!(
        b.text("main")
            .contains("<script>document.title='pwned'</script>")
    );
    assert_eq!(b.js("return document.scripts.length;"), 0);
    shoot("warnings");

    // The check box, without scripts: a GET form.
    b.goto(&d.url("/check?url=https%3A%2F%2Fwww.chenxi-shuzhi.cn%2Fabout"));
    assert!(b.text("#answer").contains("已认证"));
    shoot("check-certified");

    b.goto(&d.url("/handbook"));
    assert!(
        b.text("#examples")
            .contains("<script>document.title='pwned'</script>")
    );
    assert_eq!(b.js("return document.scripts.length;"), 0);
    shoot("handbook");
    // Printed: no navigation, no forms, each link followed by its full address.
    let pdf = shots.join("handbook.pdf");
    std::fs::write(&pdf, b.print_pdf()).unwrap();
    let printed = run(Command::new("pdftotext").arg("-layout").arg(&pdf).arg("-"))
        .ok()
        .stdout;
    let warnings_url = format!("({})", d.url("/warnings"));
    let cert_url = format!("({})", d.url(&format!("/cert/{site_id}")));
    for needle in [
        "如何识破网络欺诈",
        "How to spot online fraud",
        warnings_url.as_str(),
        cert_url.as_str(),
        "document.title='pwned'",
    ] {
        assert!(
            printed.contains(needle),
            "{needle} not in the printed handbook:\n{printed}"
        );
    }
    for absent in ["Conventions", "Log in", "Paste a web address"] {
        assert!(!printed.contains(absent), "{absent} printed:\n{printed}");
    }

    // The certificate page in each state: certified, suspended (certificateHold),
    // revoked.
    let cert = d.url(&format!("/cert/{site_id}"));
    b.goto(&cert);
    assert_eq!(b.text("#status"), "有效");
    shoot("cert-certified");
    for (reason, shown, name) in [
        ("certificateHold", "已暂停", "cert-suspended"),
        ("privilegeWithdrawn", "已撤销", "cert-revoked"),
    ] {
        let r = client
            .post(d.url(&format!("/api/v1/sites/{site_id}/revoke")))
            .bearer_auth(&staff)
            .json(&serde_json::json!({ "reason": reason }))
            .send()
            .unwrap();
        assert_eq!(r.status(), 200, "{reason}: {:?}", r.text());
        b.goto(&cert);
        assert!(
            b.text("#status").starts_with(shown),
            "{}",
            b.text("#status")
        );
        shoot(name);
    }
    // The English page too, revoked.
    b.goto(&format!("{cert}?lang=en"));
    assert!(b.text("#status").starts_with("revoked"));
    shoot("cert-revoked-en");
    // A browser's 404 is a page in the site's layout.
    // A month's report with charts: certificates and revocations seeded in 2026-10
    // (Beijing time), published by the operator's command. (Not last month, which the
    // server's report.build job published when it started.)
    let oct = 1_790_784_000 + 5 * 86_400; // 2026-10-06 00:00 +08:00
    for (i, province) in ["上海市"; 6].iter().chain(["北京市"; 5].iter()).enumerate() {
        d.sql(&format!(
            "INSERT INTO certificates (issuer_id, serial, status, organization, uscc, icp, province, city, \
             domains, not_before, not_after, created_at) SELECT id, X'7f{i:04x}', 'issued', 'Org', \
             '91110108MA04T7K21H', 'icp', '{province}', 'c', '[]', {oct}, {oct}, {oct} FROM issuers LIMIT 1"
        ));
    }
    for i in 0..5 {
        d.sql(&format!(
            "INSERT INTO audit_log (seq, at, actor, action, subject, details, prev_hash, hash) VALUES \
             ({}, {oct}, 'test', 'certificate.revoke', 'x', '{{\"reason\":\"keyCompromise\"}}', X'00', X'00')",
            2_000_000 + i
        ));
    }
    let mut cmd = Command::new(testkit::bin("badge-server"));
    d.env(&mut cmd);
    let built = run(cmd.args(["report", "build", "--period", "2026-10"])).ok();
    assert!(
        built
            .stdout
            .ends_with("published 2026-10 (HTML, PDF, JSON, CSV)\n"),
        "{}",
        built.stdout
    );
    b.goto(&d.url("/reports/2026-10"));
    assert!(b.text("#provinces").contains("上海市"));
    assert_eq!(
        b.js("return document.querySelectorAll('figure.chart svg').length;"),
        2
    );
    assert_eq!(b.js("return document.scripts.length;"), 0);
    shoot("report");

    b.goto(&d.url("/cert/s_nosuchsite"));
    assert!(b.text("h1").contains("Not found"));
    shoot("not-found");
}
