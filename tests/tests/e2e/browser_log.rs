//! Headless Chromium checks the transparency log on the certificate page (issue 15):
//! the page's first-party script recomputes every event's inclusion proof with
//! WebCrypto and checks the checkpoint's Ed25519 signature; a tampered tile (the
//! server's proof is then wrong) and a tampered signature are caught in the browser
//! on their own; without scripts the page says nothing was checked there.

use std::time::{Duration, Instant};

use testkit::Backend;

use crate::browser::Browser;
use crate::{Deployment, http};

/// What the log section of the page shows: the summary line, the signature line,
/// and per event the server's verdict and the browser's, as `(data-state, text)`.
#[derive(Debug)]
struct Shown {
    summary: (String, String),
    signature: (String, String),
    events: Vec<((String, String), (String, String))>,
}

/// Reads the section once the script has run (its summary no longer `unchecked`).
fn checked_page(b: &Browser, url: &str) -> Shown {
    b.goto(url);
    b.wait_for("the in-browser check", 30, |b| {
        b.js("const e = document.getElementById('log-browser'); \
              return e && e.dataset.state !== 'unchecked' ? true : null;")
            .as_bool()
    });
    shown(b)
}

fn shown(b: &Browser) -> Shown {
    let v = b.js(
        "const s = (e) => e ? [e.dataset.state, e.textContent.trim()] : null; \
         return { summary: s(document.getElementById('log-browser')), \
                  signature: s(document.getElementById('log-signature')), \
                  events: Array.from(document.querySelectorAll('tr.log-event'), \
                    (r) => [s(r.querySelector('.server')), s(r.querySelector('.browser'))]) };",
    );
    let pair = |p: &serde_json::Value| {
        (
            p[0].as_str().unwrap_or_default().to_string(),
            p[1].as_str().unwrap_or_default().to_string(),
        )
    };
    Shown {
        summary: pair(&v["summary"]),
        signature: pair(&v["signature"]),
        events: v["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (pair(&e[0]), pair(&e[1])))
            .collect(),
    }
}

/// Waits until `/log/checkpoint` holds every entry of the log, and returns it.
fn settled_checkpoint(d: &Deployment) -> String {
    let client = http();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let entries = d.sql("SELECT COUNT(*) FROM log_entries").trim().to_string();
        let r = client.get(d.url("/log/checkpoint")).send().unwrap();
        if r.status() == 200 {
            let note = r.text().unwrap();
            if note.lines().nth(1) == Some(entries.as_str()) {
                return note;
            }
        }
        assert!(
            Instant::now() < deadline,
            "no checkpoint of all {entries} entries in 30 s"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn the_browser_checks_the_log_proofs_and_signature_and_catches_a_tampered_proof_or_signature() {
    for backend in Backend::all() {
        let started = Instant::now();
        let d = Deployment::new(backend);
        let (server, site) = d.certified_chenxi();
        let site = site["site"].as_str().unwrap().to_string();
        // A hold and its release: three events of the site, so proofs are not empty.
        let staff = d.token("staff", "staff@seal.test");
        let client = http();
        for reason in ["certificateHold", "removeFromCRL"] {
            let r = client
                .post(d.url(&format!("/api/v1/sites/{site}/revoke")))
                .bearer_auth(&staff)
                .json(&serde_json::json!({ "reason": reason }))
                .send()
                .unwrap();
            assert_eq!(r.status(), 200, "{reason}: {}", r.text().unwrap());
        }
        let note = settled_checkpoint(&d);
        let tag = format!("{backend:?}").to_lowercase();
        let shots = testkit::browser::artifacts_dir("log");
        let page = d.url(&format!("/cert/{site}?lang=en"));
        let b = Browser::start(&[], "en");

        // 1. Everything checks, in the browser too (Chromium has WebCrypto Ed25519).
        let good = checked_page(&b, &page);
        b.save_page(&shots.join(format!("{tag}-1-checked.png")));
        assert_eq!(good.events.len(), 3, "{good:?}");
        for (server, browser) in &good.events {
            assert_eq!(server, &("ok".into(), "✓ checked by the server".into()));
            assert_eq!(browser, &("ok".into(), "✓ checked in this browser".into()));
        }
        assert_eq!(
            good.summary,
            (
                "ok".into(),
                "Checked in this browser: 3 of 3 proofs match the checkpoint".into()
            )
        );
        assert_eq!(
            good.signature,
            (
                "ok".into(),
                "Checkpoint signature: signature checked".into()
            )
        );
        // In Chinese too.
        let zh = checked_page(&b, &d.url(&format!("/cert/{site}?lang=zh")));
        assert_eq!(zh.events[0].1, ("ok".into(), "✓ 已在本浏览器核验".into()));
        assert_eq!(zh.signature.1, "检查点签名：签名已核验");

        // 2. A tampered leaf tile: the server's proofs are wrong. It says so, and the
        // browser, recomputing them itself, says so too; the signature still checks.
        let (hex_of, from_hex, zeros) = match backend {
            Backend::Sqlite => ("hex(data)", "X'{}'", "zeroblob(length(data))"),
            Backend::Postgres => (
                "encode(data, 'hex')",
                "decode('{}', 'hex')",
                "decode(repeat('00', length(data)), 'hex')",
            ),
        };
        let tile = d
            .sql(&format!(
                "SELECT {hex_of} FROM log_tiles WHERE level = 0 AND n = 0"
            ))
            .trim()
            .to_string();
        d.sql(&format!(
            "UPDATE log_tiles SET data = {zeros} WHERE level = 0 AND n = 0"
        ));
        // The server keeps the tiles it read in memory (stored tiles only grow): a
        // restarted one reads the tampered tile.
        drop(server);
        let server = d.serve();
        let tampered = checked_page(&b, &page);
        b.save_page(&shots.join(format!("{tag}-2-tampered-tile.png")));
        assert_eq!(tampered.events.len(), 3);
        for (server, browser) in &tampered.events {
            assert_eq!(
                server,
                &("mismatch".into(), "✗ the server's check failed".into())
            );
            assert_eq!(
                browser,
                &("mismatch".into(), "✗ the proof does not match".into())
            );
        }
        assert_eq!(tampered.summary.0, "mismatch", "{tampered:?}");
        assert_eq!(tampered.signature.0, "ok", "{tampered:?}");

        // 3. The tile put back and the checkpoint's signature altered instead (one
        // base64 digit of the signature, the key id kept): the proofs match the root
        // the note names, but the note is not the log's.
        d.sql(&format!(
            "UPDATE log_tiles SET data = {} WHERE level = 0 AND n = 0",
            from_hex.replace("{}", &tile.to_lowercase())
        ));
        drop(server);
        let _server = d.serve();
        let sig_line = note
            .lines()
            .find(|l| l.starts_with("— "))
            .unwrap()
            .to_string();
        let (name_part, sig) = sig_line.rsplit_once(' ').unwrap();
        let mut chars: Vec<char> = sig.chars().collect();
        chars[20] = if chars[20] == 'A' { 'B' } else { 'A' };
        let forged_line = format!("{name_part} {}", chars.iter().collect::<String>());
        let forged = note.replace(&sig_line, &forged_line);
        let size = note.lines().nth(1).unwrap();
        d.sql(&format!(
            "UPDATE log_checkpoints SET published = '{}' WHERE size = {size}",
            forged.replace('\'', "''")
        ));
        // The server re-reads the published checkpoint within half a second.
        std::thread::sleep(Duration::from_millis(700));
        let forged_shown = checked_page(&b, &page);
        b.save_page(&shots.join(format!("{tag}-3-forged-signature.png")));
        for (server, browser) in &forged_shown.events {
            assert_eq!(server.0, "ok");
            assert_eq!(browser.0, "ok");
        }
        assert_eq!(
            forged_shown.signature,
            (
                "invalid".into(),
                "Checkpoint signature: signature invalid".into()
            )
        );
        drop(b);

        // 4. Scripts off: the page still shows the log, and says it was not checked.
        let no_js = Browser::start_with(
            &[],
            serde_json::json!({
                "intl.accept_languages": "en",
                "profile.managed_default_content_settings.javascript": 2,
            }),
        );
        no_js.goto(&page);
        let summary = no_js.find("#log-browser");
        assert_eq!(
            no_js.run("summary", summary.text()),
            "Checked in this browser: not checked (scripts off)"
        );
        let cell = no_js.find("tr.log-event .browser");
        assert_eq!(no_js.run("cell", cell.text()), "not checked (scripts off)");
        no_js.save_page(&shots.join(format!("{tag}-4-scripts-off.png")));
        eprintln!(
            "{backend:?}: the log checked in Chromium, {:.1} s; screenshots in {}",
            started.elapsed().as_secs_f64(),
            shots.display()
        );
    }
}
