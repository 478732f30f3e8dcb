//! Complaints and fraud warnings (design.md §6) over the JSON API: a complaint from the
//! visitor to the operator to staff, and a copied seal turned into a published warning.
//! The same complaint through the pages, in Chromium, is in [`crate::browser`].

use std::time::{Duration, Instant};

use testkit::{Backend, free_port};

use crate::{Deployment, chenxi_application, http};

#[test]
fn a_complaint_goes_from_the_visitor_to_the_operator_to_staff_and_an_upheld_one_revokes_the_seal() {
    for backend in Backend::all() {
        let d = Deployment::new(backend);
        d.ca(&["init"]).ok();
        let dns_port = free_port();
        let (operator, staff, visitor, other) = (
            d.token("operator", "op@chenxi-shuzhi.cn"),
            d.token("staff", "staff@chengxin.test"),
            d.token("user", "visitor@example.com"),
            d.token("user", "someone-else@example.com"),
        );
        let _server = d.serve_for_applications(dns_port);
        let (_, site) = d.certify(&operator, &staff, dns_port, chenxi_application());
        let site_id = site["site"].as_str().unwrap().to_string();
        let client = http();
        let post = |path: &str, token: &str, body: serde_json::Value| {
            client
                .post(d.url(path))
                .bearer_auth(token)
                .json(&body)
                .send()
                .unwrap()
        };
        let get =
            |path: &str, token: &str| client.get(d.url(path)).bearer_auth(token).send().unwrap();
        let count = || d.sql("SELECT count(*) FROM complaints").trim().to_string();
        let text = "<script>alert(1)</script> 付款后不发货，客服电话13812345678不接，身份证11010519491231002X已提交。";

        // Bad input: a clear error each, nothing stored.
        for (body, field) in [
            (
                serde_json::json!({"site": site_id, "category": "pigeon", "text": text}),
                "category",
            ),
            (
                serde_json::json!({"site": site_id, "category": "fraud", "text": "short"}),
                "text",
            ),
            (
                serde_json::json!({"site": site_id, "category": "fraud", "text": "长".repeat(5001)}),
                "text",
            ),
            (
                serde_json::json!({"site": "s_nosuchsite", "category": "fraud", "text": text}),
                "site",
            ),
            (
                serde_json::json!({"site": site_id, "category": "fraud", "text": text, "admin": true}),
                "body",
            ),
        ] {
            let r = post("/api/v1/complaints", &visitor, body);
            assert_eq!(r.status(), 422);
            let err: serde_json::Value = r.json().unwrap();
            assert!(err["fields"][field].is_string(), "{field}: {err}");
        }
        let bad_json = client
            .post(d.url("/api/v1/complaints"))
            .bearer_auth(&visitor)
            .header("content-type", "application/json")
            .body("{\"site\":")
            .send()
            .unwrap();
        assert_eq!(bad_json.status(), 400);
        assert_eq!(
            client
                .post(d.url("/api/v1/complaints"))
                .json(&serde_json::json!({}))
                .send()
                .unwrap()
                .status(),
            401
        );
        let own = post(
            "/api/v1/complaints",
            &operator,
            serde_json::json!({"site": site_id, "category": "fraud", "text": text}),
        );
        assert_eq!(
            own.status(),
            403,
            "an operator complained about its own site"
        );
        assert_eq!(count(), "0");

        // Filed: forwarded with a deadline, the operator's mail and webhook queued.
        let filed = post(
            "/api/v1/complaints",
            &visitor,
            serde_json::json!({"site": site_id, "category": "fraud", "text": text}),
        );
        assert_eq!(filed.status(), 201);
        let filed: serde_json::Value = filed.json().unwrap();
        let id = filed["id"].as_str().unwrap().to_string();
        assert_eq!(filed["status"], "forwarded");
        assert_eq!(filed["text"], text, "the complainant sees their own words");
        let deadline = filed["deadline_at"].as_i64().unwrap();
        assert_eq!(deadline - filed["created_at"].as_i64().unwrap(), 5 * 86_400);
        let mails = d.sql("SELECT payload FROM jobs WHERE kind = 'mail' ORDER BY id");
        let to_operator = mails
            .lines()
            .find(|l| l.contains("op@chenxi-shuzhi.cn"))
            .unwrap_or_else(|| panic!("no mail to the operator: {mails}"));
        assert!(
            to_operator.contains("138****5678") && !to_operator.contains("13812345678"),
            "{to_operator}"
        );
        assert!(
            !to_operator.contains("visitor@example.com"),
            "the complainant was named: {to_operator}"
        );
        let timers = d.sql(&format!("SELECT kind || ' ' || (run_at - {deadline}) FROM jobs WHERE kind LIKE 'complaint.%' ORDER BY run_at"));
        assert_eq!(
            timers.lines().collect::<Vec<_>>(),
            [
                "complaint.reminder -172800",
                "complaint.reminder -86400",
                "complaint.deadline 0"
            ]
        );

        // Who sees what.
        let as_operator: serde_json::Value = get(&format!("/api/v1/complaints/{id}"), &operator)
            .json()
            .unwrap();
        assert_eq!(as_operator["you_are"], "operator");
        assert!(
            as_operator["text"]
                .as_str()
                .unwrap()
                .contains("138****5678")
        );
        assert!(
            as_operator["text"]
                .as_str()
                .unwrap()
                .contains("110*************2X")
        );
        assert!(as_operator["complainant_id"].is_null());
        let as_staff: serde_json::Value = get(&format!("/api/v1/complaints/{id}"), &staff)
            .json()
            .unwrap();
        assert_eq!(as_staff["text"], text);
        assert!(as_staff["complainant_id"].is_i64());
        assert_eq!(
            get(&format!("/api/v1/complaints/{id}"), &other).status(),
            403
        );
        assert_eq!(get("/api/v1/complaints/c_nosuch", &staff).status(), 404);
        let queue: Vec<serde_json::Value> = get("/api/v1/complaints", &staff).json().unwrap();
        assert_eq!(queue.len(), 1);
        assert!(
            get("/api/v1/complaints", &other)
                .json::<Vec<serde_json::Value>>()
                .unwrap()
                .is_empty()
        );

        // Evidence: the complainant attaches a screenshot (a PNG with a text chunk
        // naming a place); the operator downloads the re-encoded image, whose pixels
        // are the screenshot's to the byte and whose metadata is gone.
        let (w, h) = (24u32, 16u32);
        let pixels: Vec<u8> = (0..w * h * 3).map(|i| (i * 7 % 251) as u8).collect();
        let mut shot = Vec::new();
        {
            let mut e = png::Encoder::new(&mut shot, w, h);
            e.set_color(png::ColorType::Rgb);
            e.add_text_chunk("Location".into(), "39.9087N 116.3975E".into())
                .unwrap();
            let mut writer = e.write_header().unwrap();
            writer.write_image_data(&pixels).unwrap();
        }
        let added = client
            .post(d.url(&format!("/api/v1/complaints/{id}/attachments")))
            .query(&[("name", "聊天记录.png")])
            .bearer_auth(&visitor)
            .header("content-type", "application/octet-stream")
            .body(shot.clone())
            .send()
            .unwrap();
        assert_eq!(added.status(), 201);
        let added: serde_json::Value = added.json().unwrap();
        assert_eq!(added["media_type"], "image/png");
        let download = added["download_url"].as_str().unwrap();
        assert_eq!(
            client
                .post(d.url(&format!("/api/v1/complaints/{id}/attachments")))
                .bearer_auth(&visitor)
                .header("content-type", "image/png")
                .body("<html><script>alert(1)</script></html>")
                .send()
                .unwrap()
                .status(),
            415
        );
        let got = client.get(download).bearer_auth(&operator).send().unwrap();
        assert_eq!(got.status(), 200);
        assert_eq!(got.headers()["content-type"], "image/png");
        assert!(
            got.headers()["content-disposition"]
                .to_str()
                .unwrap()
                .starts_with("attachment; ")
        );
        assert_eq!(got.headers()["x-content-type-options"], "nosniff");
        let got = got.bytes().unwrap();
        assert_eq!(
            hex::encode(ring::digest::digest(&ring::digest::SHA256, &got)),
            added["sha256"].as_str().unwrap()
        );
        assert!(!got.windows(8).any(|x| x == b"Location"), "metadata kept");
        let mut reader = png::Decoder::new(std::io::Cursor::new(&got[..]))
            .read_info()
            .unwrap();
        let mut decoded = vec![0; reader.output_buffer_size().unwrap()];
        let frame = reader.next_frame(&mut decoded).unwrap();
        assert_eq!((frame.width, frame.height), (w, h));
        assert_eq!(frame.color_type, png::ColorType::Rgb);
        assert_eq!(&decoded[..frame.buffer_size()], &pixels[..]);
        assert_eq!(
            client
                .get(download)
                .bearer_auth(&other)
                .send()
                .unwrap()
                .status(),
            403
        );

        // Steps out of order or by the wrong party change nothing.
        let path = |step: &str| format!("/api/v1/complaints/{id}/{step}");
        assert_eq!(
            post(
                &path("feedback"),
                &visitor,
                serde_json::json!({"satisfied": false})
            )
            .status(),
            409
        );
        assert_eq!(
            post(&path("answer"), &visitor, serde_json::json!({"text": "me"})).status(),
            403
        );
        assert_eq!(
            post(&path("answer"), &staff, serde_json::json!({"text": "me"})).status(),
            403
        );
        assert_eq!(
            post(
                &path("decide"),
                &operator,
                serde_json::json!({"decision": "dismissed", "reason": "no"})
            )
            .status(),
            403
        );
        assert_eq!(
            post(
                &path("decide"),
                &staff,
                serde_json::json!({"decision": "upheld", "reason": "early"})
            )
            .status(),
            409
        );
        assert_eq!(
            post(&path("withdraw"), &other, serde_json::json!({})).status(),
            403
        );
        assert_eq!(
            post(
                &path("answer"),
                &operator,
                serde_json::json!({"text": "  "})
            )
            .status(),
            422
        );

        // The operator answers; the complainant is told and is not satisfied.
        let answered = post(
            &path("answer"),
            &operator,
            serde_json::json!({"text": "已发货，单号 SF1234567890。"}),
        );
        assert_eq!(answered.status(), 200);
        assert_eq!(
            answered.json::<serde_json::Value>().unwrap()["status"],
            "answered"
        );
        assert_eq!(
            post(
                &path("answer"),
                &operator,
                serde_json::json!({"text": "again"})
            )
            .status(),
            409
        );
        assert!(
            d.sql("SELECT payload FROM jobs WHERE kind = 'mail'")
                .lines()
                .any(|l| l.contains("visitor@example.com") && l.contains("SF1234567890"))
        );
        let unhappy: serde_json::Value = post(
            &path("feedback"),
            &visitor,
            serde_json::json!({"satisfied": false, "text": "没有收到"}),
        )
        .json()
        .unwrap();
        assert_eq!(unhappy["status"], "under_review");

        // Staff uphold: the certificate is revoked in the same step.
        assert_eq!(post(&path("decide"), &staff, serde_json::json!({"decision": "upheld", "reason": "x", "revocation": "keyCompromise"})).status(), 422);
        let upheld = post(
            &path("decide"),
            &staff,
            serde_json::json!({"decision": "upheld", "reason": "经核实未发货 / not delivered"}),
        );
        assert_eq!(upheld.status(), 200);
        let upheld: serde_json::Value = upheld.json().unwrap();
        assert_eq!(upheld["status"], "upheld");
        let steps: Vec<&str> = upheld["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["to_status"].as_str().unwrap())
            .collect();
        assert_eq!(
            steps,
            [
                "submitted",
                "forwarded",
                "forwarded",
                "answered",
                "under_review",
                "upheld"
            ]
        );
        assert_eq!(
            post(
                &path("decide"),
                &staff,
                serde_json::json!({"decision": "dismissed", "reason": "again"})
            )
            .status(),
            409
        );
        assert_eq!(
            post(&path("withdraw"), &visitor, serde_json::json!({})).status(),
            409
        );
        let now_site: serde_json::Value = get(&format!("/api/v1/sites/{site_id}"), &staff)
            .json()
            .unwrap();
        assert_eq!(now_site["status"], "revoked");
        assert_eq!(now_site["revocation_reason"], "privilegeWithdrawn");
        std::thread::sleep(Duration::from_millis(1100));
        let seal = client
            .get(d.url(&format!("/seal/{site_id}.svg")))
            .send()
            .unwrap()
            .text()
            .unwrap();
        assert!(seal.contains("认证已撤销"), "the seal still says {seal}");
        std::fs::write(
            d.path("site.pem"),
            client
                .get(d.url(&format!("/cert/{site_id}.pem")))
                .send()
                .unwrap()
                .text()
                .unwrap(),
        )
        .unwrap();
        let ocsp = d.ocsp_via_server("site.pem");
        assert!(ocsp.stdout.contains("revoked"), "{}", ocsp.stdout);
        // The CRL the certificate names lists it too, signed by the issuing CA.
        let (serial, listing) = d.crl_listing_once_listed("site.pem");
        assert!(listing.contains(serial.trim()), "{serial} not in {listing}");
        assert!(listing.contains("Privilege Withdrawn"), "{listing}");
        let audit =
            d.sql("SELECT action FROM audit_log WHERE action LIKE 'complaint.%' ORDER BY seq");
        assert_eq!(
            audit.lines().collect::<Vec<_>>(),
            [
                "complaint.submit",
                "complaint.attach",
                "complaint.answer",
                "complaint.feedback",
                "complaint.decide"
            ]
        );
        d.ca(&["audit", "verify"]).ok();

        // A second complaint is withdrawn by its complainant, and stays withdrawn.
        let second: serde_json::Value = post("/api/v1/complaints", &other, serde_json::json!({"site": site_id, "category": "service", "text": "客服一直不回复消息，已经三天了。"})).json().unwrap();
        let second_id = second["id"].as_str().unwrap();
        let withdrawn: serde_json::Value = post(
            &format!("/api/v1/complaints/{second_id}/withdraw"),
            &other,
            serde_json::json!({}),
        )
        .json()
        .unwrap();
        assert_eq!(withdrawn["status"], "withdrawn");
        assert_eq!(
            post(
                &format!("/api/v1/complaints/{second_id}/answer"),
                &operator,
                serde_json::json!({"text": "late"})
            )
            .status(),
            409
        );
    }
}

#[test]
fn a_copied_seal_becomes_a_published_fraud_warning_that_the_url_check_reports() {
    for backend in Backend::all() {
        let d = Deployment::new(backend);
        d.ca(&["init"]).ok();
        let dns_port = free_port();
        let (operator, staff, visitor) = (
            d.token("operator", "op@chenxi-shuzhi.cn"),
            d.token("staff", "staff@chengxin.test"),
            d.token("user", "visitor@example.com"),
        );
        let _server = d.serve_for_applications(dns_port);
        let (_, site) = d.certify(&operator, &staff, dns_port, chenxi_application());
        let site_id = site["site"].as_str().unwrap().to_string();
        let client = http();
        let check = |url: &str| -> serde_json::Value {
            client
                .get(d.url("/api/v1/check"))
                .query(&[("url", url)])
                .send()
                .unwrap()
                .json()
                .unwrap()
        };

        // A look-alike shop embeds the seal; seen in two different hours, the copy
        // reaches the staff report (a burst of forged Referers would not).
        let shown_on_copy = || {
            client
                .get(d.url(&format!("/seal/{site_id}.svg")))
                .header("referer", "https://pay.chenxi-shuzhi-shop.com/checkout")
                .send()
                .unwrap()
                .text()
                .unwrap()
        };
        let seal = shown_on_copy();
        assert!(seal.contains("非本站认证"), "{seal}");
        let started = Instant::now();
        while d.sql("SELECT COUNT(*) FROM seal_copies").trim() != "1" {
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "the copy was not recorded"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        // An hour passes (the first sighting moved back), and the copy is seen again.
        d.sql(
            "UPDATE seal_copies SET first_seen = first_seen - 3600, last_seen = last_seen - 3600",
        );
        shown_on_copy();
        assert_eq!(
            client
                .get(d.url("/api/v1/seal-copies"))
                .bearer_auth(&visitor)
                .send()
                .unwrap()
                .status(),
            403
        );
        let started = Instant::now();
        let report = loop {
            let r: Vec<serde_json::Value> = client
                .get(d.url("/api/v1/seal-copies"))
                .bearer_auth(&staff)
                .send()
                .unwrap()
                .json()
                .unwrap();
            if !r.is_empty() || started.elapsed() > Duration::from_secs(15) {
                break r;
            }
            std::thread::sleep(Duration::from_millis(200));
        };
        assert_eq!(report.len(), 1, "{report:?}");
        assert_eq!(report[0]["host"], "pay.chenxi-shuzhi-shop.com");
        assert_eq!(report[0]["site_id"], site_id.as_str());

        // One step from the report to a published warning.
        let warn = |token: &str, host: &str| {
            client
                .post(d.url("/api/v1/seal-copies/warn"))
                .bearer_auth(token)
                .json(&serde_json::json!({"site": site_id, "host": host}))
                .send()
                .unwrap()
        };
        assert_eq!(warn(&operator, "pay.chenxi-shuzhi-shop.com").status(), 403);
        assert_eq!(warn(&staff, "never-seen.example.com").status(), 404);
        let published = warn(&staff, "pay.chenxi-shuzhi-shop.com");
        assert_eq!(published.status(), 201);
        let published: serde_json::Value = published.json().unwrap();
        assert_eq!(published["impersonates"], site_id.as_str());
        assert!(
            published["evidence"].as_str().unwrap().contains("1"),
            "{published}"
        );
        assert_eq!(warn(&staff, "pay.chenxi-shuzhi-shop.com").status(), 409);

        let warned = check("https://pay.chenxi-shuzhi-shop.com/checkout?id=1");
        assert_eq!(warned["result"], "warned", "{warned}");
        assert_eq!(warned["warning"]["impersonates"], site_id.as_str());
        assert_eq!(check("www.pay.chenxi-shuzhi-shop.com")["result"], "warned");
        assert_eq!(check("https://chenxi-shuzhi.cn/")["result"], "certified");
        assert_eq!(
            check("https://chenxi-shuzhi-shop.com/")["result"],
            "not_certified"
        );

        // A hand-written warning: validated, escaped on the public page, withdrawable.
        let publish = |body: serde_json::Value| {
            client
                .post(d.url("/api/v1/warnings"))
                .bearer_auth(&staff)
                .json(&body)
                .send()
                .unwrap()
        };
        let invalid = publish(
            serde_json::json!({"domain": "not a domain", "description": "", "evidence": "x"}),
        );
        assert_eq!(invalid.status(), 422);
        let fields: serde_json::Value = invalid.json().unwrap();
        assert!(
            fields["fields"]["domain"].is_string() && fields["fields"]["description"].is_string(),
            "{fields}"
        );
        let hostile = publish(
            serde_json::json!({"domain": "chenxi-shuzhi.cn.refund-help.com",
            "description": "<script>alert('x')</script>冒充客服退款", "evidence": "<img src=x onerror=alert(1)>"}),
        );
        assert_eq!(hostile.status(), 201);
        let hostile_id = hostile.json::<serde_json::Value>().unwrap()["id"]
            .as_i64()
            .unwrap();
        let page = client.get(d.url("/warnings")).send().unwrap();
        assert!(
            page.headers()["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("default-src 'none'")
        );
        let page = page.text().unwrap();
        assert!(
            page.contains("pay.chenxi-shuzhi-shop.com") && page.contains("冒充客服退款"),
            "{page}"
        );
        assert!(
            !page.contains("<script>alert") && !page.contains("<img src=x"),
            "unescaped: {page}"
        );
        let feed: Vec<serde_json::Value> = client
            .get(d.url("/api/v1/warnings"))
            .send()
            .unwrap()
            .json()
            .unwrap();
        assert_eq!(feed.len(), 2);
        let withdraw = |id: i64| {
            client
                .post(d.url(&format!("/api/v1/warnings/{id}/withdraw")))
                .bearer_auth(&staff)
                .send()
                .unwrap()
                .status()
        };
        assert_eq!(withdraw(hostile_id), 204);
        assert_eq!(withdraw(hostile_id), 404);
        assert_eq!(
            check("chenxi-shuzhi.cn.refund-help.com")["result"],
            "not_certified"
        );
        let audit =
            d.sql("SELECT action FROM audit_log WHERE action LIKE 'warning.%' ORDER BY seq");
        assert_eq!(
            audit.lines().collect::<Vec<_>>(),
            ["warning.publish", "warning.publish", "warning.withdraw"]
        );
    }
}
