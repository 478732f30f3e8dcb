//! The warnings board in a member's page (issue 17): headless Chromium opens a page
//! on a registered origin (a loopback web site) that frames `/embed/warnings` and
//! reads the board in the frame, prominent case first and styled (the style is
//! allowed by its hash, not by `'unsafe-inline'`); the same page on an origin no
//! member registered gets the frame refused by `frame-ancestors`.

use testkit::Backend;
use testkit::browser::StaticSite;

use crate::browser::Browser;
use crate::{Deployment, http};

/// A member's page framing the board of the server at `board`.
fn member_page(board: &str) -> String {
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>member</title></head>\
         <body><h1>Member shop</h1>\
         <iframe id=\"board\" src=\"{board}\" width=\"420\" height=\"320\"></iframe></body></html>"
    )
}

/// The text of the first frame's body once it has one, or what the frame shows
/// after `secs` seconds.
fn frame_text(b: &Browser, url: &str) -> String {
    b.goto(url);
    // Give the frame time to load (or to be refused).
    let mut text = String::new();
    for _ in 0..50 {
        b.enter_frame(0);
        text = b
            .js("return document.body ? document.body.innerText : '';")
            .as_str()
            .unwrap_or_default()
            .to_string();
        let done = b
            .js("return document.readyState === 'complete';")
            .as_bool()
            .unwrap_or(false);
        b.leave_frame();
        if done && !text.trim().is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    text
}

#[test]
fn a_registered_member_origin_frames_the_board_and_any_other_origin_is_refused() {
    for backend in Backend::all() {
        let d = Deployment::new(backend);
        d.ca(&["init"]).ok();
        let _server = d.serve();
        let staff = d.token("staff", "staff@board.test");
        let admin = d.token("admin", "admin@board.test");
        let client = http();
        let post = |path: &str, token: &str, body: serde_json::Value| {
            let r = client
                .post(d.url(path))
                .bearer_auth(token)
                .json(&body)
                .send()
                .unwrap();
            let status = r.status();
            let text = r.text().unwrap();
            assert!(status.is_success(), "{path}: {status} {text}");
            serde_json::from_str::<serde_json::Value>(&text).unwrap_or_default()
        };
        for domain in ["chenxi-board-old.cn", "chenxi-board-new.cn"] {
            post(
                "/api/v1/warnings",
                &staff,
                serde_json::json!({"domain": domain, "description": "冒充晨曦数智的网站。", "evidence": "seen"}),
            );
        }
        let old = d.sql("SELECT id FROM fraud_warnings WHERE domain = 'chenxi-board-old.cn'");
        post(
            &format!("/api/v1/warnings/{}/prominent", old.trim()),
            &staff,
            serde_json::json!({}),
        );

        let page = member_page(&d.url("/embed/warnings?lang=en&limit=5"));
        let registered = StaticSite::serve(&[("/", &page)]);
        let unregistered = StaticSite::serve(&[("/", &page)]);
        let member = post(
            "/api/v1/members",
            &admin,
            serde_json::json!({"name": "示例网络科技有限公司", "uscc": "91110108MA04T7K21H"}),
        );
        let member = member["id"].as_str().unwrap();
        post(
            &format!("/api/v1/members/{member}/origins"),
            &admin,
            serde_json::json!({"origin": format!("http://127.0.0.1:{}", registered.port())}),
        );

        let b = Browser::start(&[], "en");
        let shots = testkit::browser::artifacts_dir("board");
        let tag = format!("{backend:?}").to_lowercase();
        let framed = frame_text(&b, &format!("http://127.0.0.1:{}/", registered.port()));
        b.save_page(&shots.join(format!("{tag}-registered.png")));
        let old_at = framed.find("chenxi-board-old.cn");
        let new_at = framed.find("chenxi-board-new.cn");
        assert!(
            matches!((old_at, new_at), (Some(o), Some(n)) if o < n),
            "the prominent case first, in the frame: {framed:?}"
        );
        assert!(framed.contains("Prominent"), "{framed:?}");
        // The hashed style applies: the title is the board's red.
        b.enter_frame(0);
        assert_eq!(b.css_value("h1", "color"), "rgba(176, 0, 32, 1)");
        b.leave_frame();

        let refused = frame_text(&b, &format!("http://127.0.0.1:{}/", unregistered.port()));
        b.save_page(&shots.join(format!("{tag}-unregistered.png")));
        assert!(
            !refused.contains("chenxi-board-old.cn") && !refused.contains("Prominent"),
            "an origin no member registered must not show the board: {refused:?}"
        );
        drop(b);
        eprintln!("{backend:?}: screenshots in {}", shots.display());
    }
}
