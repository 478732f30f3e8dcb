//! The transparency log over HTTP: checkpoint, tiles and bundles with static-file
//! semantics, bad and out-of-range paths, and Go's sumdb (tlogcheck) checking what
//! the server serves over a real socket.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use badge_server::domain::account::{Email, Role};
use testkit::{Backend, run};

use crate::accounts::TestApp;

async fn get(
    t: &TestApp,
    path: &str,
    etag: Option<&str>,
) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let mut req = Request::get(path);
    if let Some(e) = etag {
        req = req.header(header::IF_NONE_MATCH, e);
    }
    let (status, headers, body) = t.call(req.body(Body::empty()).unwrap()).await;
    (status, headers, body.to_vec())
}

#[tokio::test]
async fn the_log_serves_its_checkpoint_tiles_and_bundles_as_static_files() {
    for backend in Backend::all() {
        let t = TestApp::new(backend).await;
        let db = &t.state.db;
        // Nothing published yet.
        assert_eq!(
            get(&t, "/log/checkpoint", None).await.0,
            StatusCode::NOT_FOUND
        );
        let role = |email: &'static str, role| async move {
            badge_server::store::accounts::ensure(db, &Email::parse(email).unwrap(), role)
                .await
                .unwrap()
        };
        let a = role("a@chenxi-shuzhi.cn", Role::Operator).await;
        let staff = role("staff@seal.test", Role::Staff).await;
        let site = crate::certified_site(&t.state, &a, &staff, "chenxi-shuzhi.cn").await;
        assert_eq!(t.state.services.log.checkpoint(db).await.unwrap(), Some(1));
        // Published once: a second period with nothing new signs nothing.
        assert_eq!(t.state.services.log.checkpoint(db).await.unwrap(), None);

        let (status, headers, vkey) = get(&t, "/log/verifier-key", None).await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            headers[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/plain")
        );
        let vkey = String::from_utf8(vkey).unwrap().trim().to_string();
        assert!(vkey.starts_with("127.0.0.1:8080/log+"), "{vkey}");
        let (status, headers, note) = get(&t, "/log/checkpoint", None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers[header::CACHE_CONTROL], "no-cache");
        let cp = tlog::Checkpoint::open(&note, &vkey).unwrap();
        assert_eq!(cp.size, 1);

        // The one leaf, and the bundle it hashes.
        let (status, headers, leaf) = get(&t, "/log/tile/0/000.p/1", None).await;
        assert_eq!(status, StatusCode::OK, "{backend:?}");
        assert_eq!(headers[header::CACHE_CONTROL], "public, max-age=60");
        let etag = headers[header::ETAG].to_str().unwrap().to_string();
        let (status, _, bundle) = get(&t, "/log/tile/entries/000.p/1", None).await;
        assert_eq!(status, StatusCode::OK);
        let entries = tlog::tiles::unbundle(&bundle).unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(leaf, tlog::tiles::leaf_hash(entries[0]).0);
        assert_eq!(
            cp.root.0.as_slice(),
            leaf.as_slice(),
            "a one-leaf tree's root is its leaf"
        );
        let e = tlog::Entry::parse(entries[0]).unwrap();
        assert_eq!(e.kind(), tlog::Kind::Issue);
        assert_eq!(e.site.as_deref(), Some(site.as_str()));
        assert_eq!(e.domains, ["chenxi-shuzhi.cn"]);
        // Revalidation.
        let (status, headers, body) = get(&t, "/log/tile/0/000.p/1", Some(&etag)).await;
        assert_eq!(status, StatusCode::NOT_MODIFIED);
        assert_eq!(headers[header::ETAG], etag.as_str());
        assert!(body.is_empty());
        // Out of the published tree: 404; not a C2SP path: 400.
        for path in [
            "/log/tile/0/000",
            "/log/tile/0/000.p/2",
            "/log/tile/1/000.p/1",
            "/log/tile/entries/001",
        ] {
            assert_eq!(get(&t, path, None).await.0, StatusCode::NOT_FOUND, "{path}");
        }
        for path in [
            "/log/tile/0/0",
            "/log/tile/0/000.p/0",
            "/log/tile/0/000.p/256",
            "/log/tile/9/000",
            "/log/tile/8/0/000",
            "/log/tile/entries/x000/001",
        ] {
            assert_eq!(
                get(&t, path, None).await.0,
                StatusCode::BAD_REQUEST,
                "{path}"
            );
        }
    }
}

#[tokio::test]
async fn go_sumdb_checks_the_log_the_server_serves_and_full_tiles_are_immutable() {
    let tlogcheck = testkit::tlogcheck();
    let t = TestApp::new(Backend::Postgres).await;
    let db = &t.state.db;
    // A burst of 1,000 issuances at once straight through the CA (group commits):
    // one checkpoint, one signature, full tiles and bundles and a level-1 tile.
    let mut burst = tokio::task::JoinSet::new();
    for _ in 0..1_000 {
        let ca = t.state.ca.clone();
        burst.spawn(async move {
            ca.issue(
                &crate::fixture_identity("京ICP备2024018653号-1", &["chenxi-shuzhi.cn"]),
                ca::KeySource::Generate,
                "test",
            )
            .await
            .unwrap();
        });
    }
    burst.join_all().await;
    assert_eq!(
        t.state.services.log.checkpoint(db).await.unwrap(),
        Some(1_000)
    );
    assert_eq!(t.scalar("SELECT COUNT(*) FROM log_checkpoints").await, 1);
    let (status, headers, _) = get(&t, "/log/tile/0/000", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        headers[header::CACHE_CONTROL],
        "public, max-age=31536000, immutable"
    );
    let (status, _, full) = get(&t, "/log/tile/entries/000", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(tlog::tiles::unbundle(&full).unwrap().len(), 256);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = badge_server::http::router::build(t.state.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let vkey = t.state.services.log.verifier_key();
    let old = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        old.path(),
        &*t.state
            .services
            .log
            .published(db)
            .await
            .unwrap()
            .unwrap()
            .note,
    )
    .unwrap();
    issue_directly(&t, 20).await;
    assert_eq!(
        t.state.services.log.checkpoint(db).await.unwrap(),
        Some(1_020)
    );
    tokio::time::sleep(badge_server::service::log::PUBLISHED_FRESH).await;
    let base = format!("http://{addr}/log");
    let check = tokio::task::spawn_blocking(move || {
        run(std::process::Command::new(&tlogcheck).args([
            "log",
            "-base",
            &base,
            "-vkey",
            &vkey,
            "-old",
            old.path().to_str().unwrap(),
            "-all",
        ]))
    })
    .await
    .unwrap()
    .ok();
    let out: serde_json::Value = serde_json::from_str(check.stdout.trim()).unwrap();
    assert_eq!(out["size"], 1_020, "{out}");
}

#[tokio::test]
async fn the_audit_chain_s_head_is_anchored_daily_and_a_rewritten_audit_log_contradicts_it() {
    for backend in Backend::all() {
        let t = TestApp::new(backend).await;
        let db = &t.state.db;
        let now = badge_server::domain::clock::now();
        // Nothing audited yet: nothing to anchor.
        assert!(
            !badge_server::service::log::anchor_audit(db, now)
                .await
                .unwrap()
        );
        for email in ["a@chenxi-shuzhi.cn", "b@chenxi-shuzhi.cn"] {
            badge_server::store::accounts::ensure(
                db,
                &Email::parse(email).unwrap(),
                Role::Operator,
            )
            .await
            .unwrap();
        }
        assert!(
            badge_server::service::log::anchor_audit(db, now)
                .await
                .unwrap()
        );
        // Once a day.
        assert!(
            !badge_server::service::log::anchor_audit(db, now + 3_600)
                .await
                .unwrap()
        );
        assert!(
            badge_server::service::log::anchor_audit(db, now + 86_400)
                .await
                .unwrap()
        );
        t.state.services.log.checkpoint(db).await.unwrap();
        let vkey = t.state.services.log.verifier_key();
        let report = ca::transparency::verify(db, &vkey, None).await.unwrap();
        assert_eq!(report.audit_anchors, 2, "{report:?}");
        // Someone with write access rewrites the first anchored audit entry's hash.
        let (seq,): (i64,) = ca::on_pool!(db, |p| sqlx::query_as("SELECT MIN(seq) FROM audit_log")
            .fetch_one(p)
            .await
            .unwrap());
        let anchored = {
            let (body,): (Vec<u8>,) = ca::on_pool!(db, |p| sqlx::query_as(
                "SELECT body FROM log_entries WHERE kind = 'audit_anchor' ORDER BY idx LIMIT 1"
            )
            .fetch_one(p)
            .await
            .unwrap());
            tlog::Entry::parse(&body).unwrap().audit_size.unwrap() as i64
        };
        assert!(anchored >= seq);
        t.exec(&format!(
            "UPDATE audit_log SET hash = prev_hash WHERE seq = {anchored}"
        ))
        .await;
        let err = ca::transparency::verify(db, &vkey, None).await.unwrap_err();
        assert!(err.to_string().contains("audit chain's entry"), "{err}");
    }
}

/// `/cert/{site}.json` and the certificate page: the site's events with their entries
/// and inclusion proofs against the published checkpoint, the checkpoint as served
/// and the log's key; the page's checker script served first-party under CSP
/// `script-src 'self'`; and a proof made wrong by a tampered tile reported as such.
#[tokio::test]
async fn the_certificate_json_and_page_carry_the_sites_log_events_with_their_proofs() {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    for backend in Backend::all() {
        let mut t = TestApp::new(backend).await;
        let db = &t.state.db;
        let role = |email: &'static str, role| async move {
            badge_server::store::accounts::ensure(db, &Email::parse(email).unwrap(), role)
                .await
                .unwrap()
        };
        let a = role("a@chenxi-shuzhi.cn", Role::Operator).await;
        let staff = role("staff@seal.test", Role::Staff).await;
        let site = crate::certified_site(&t.state, &a, &staff, "chenxi-shuzhi.cn").await;

        // Before any checkpoint: the event, without a proof.
        let before = cert_json(&t, &site).await;
        let log = &before["transparency_log"];
        assert_eq!(log["checkpoint"], serde_json::Value::Null, "{before}");
        assert_eq!(log["events"][0]["kind"], "issue");
        assert_eq!(log["events"][0]["proof"], serde_json::Value::Null);
        assert_eq!(log["events"][0]["verified"], false);

        // Two more entries (not the site's), so that the proof is not empty.
        issue_directly(&t, 2).await;
        assert_eq!(t.state.services.log.checkpoint(db).await.unwrap(), Some(3));
        let v = cert_json(&t, &site).await;
        assert_eq!(v["site"], site.as_str(), "the site's own fields stay: {v}");
        assert_eq!(v["serial"], v["transparency_log"]["events"][0]["serial"]);
        let log = &v["transparency_log"];
        let (_, _, vkey) = get(&t, "/log/verifier-key", None).await;
        let vkey = String::from_utf8(vkey).unwrap().trim().to_string();
        assert_eq!(log["verifier_key"], vkey.as_str());
        let (_, _, note) = get(&t, "/log/checkpoint", None).await;
        assert_eq!(
            log["checkpoint"]["note"],
            std::str::from_utf8(&note).unwrap()
        );
        let cp = tlog::Checkpoint::open(&note, &vkey).unwrap();
        assert_eq!(log["checkpoint"]["size"], 3);
        assert_eq!(log["checkpoint"]["root"], STANDARD.encode(cp.root.0));

        let events = log["events"].as_array().unwrap();
        assert_eq!(events.len(), 1, "only the site's events: {log}");
        let e = &events[0];
        assert_eq!(e["index"], 0);
        assert_eq!(e["kind"], "issue");
        assert_eq!(e["verified"], true);
        let entry = STANDARD.decode(e["entry"].as_str().unwrap()).unwrap();
        let parsed = tlog::Entry::parse(&entry).unwrap();
        assert_eq!(parsed.site.as_deref(), Some(site.as_str()));
        assert_eq!(e["time"], parsed.time);
        let proof: Vec<tlog::tiles::Hash> = e["proof"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| {
                let bytes = STANDARD.decode(h.as_str().unwrap()).unwrap();
                tlog::tiles::Hash(bytes.try_into().unwrap())
            })
            .collect();
        assert_eq!(proof.len(), 2, "{e}");
        tlog::tiles::check_inclusion(&proof, 3, cp.root, 0, tlog::tiles::leaf_hash(&entry))
            .unwrap();

        // The page: the section with the data the script reads, the server's verdict,
        // "not checked" until a script says otherwise, and only a first-party script.
        let (status, headers, page) = get(&t, &format!("/cert/{site}?lang=en"), None).await;
        assert_eq!(status, StatusCode::OK);
        let page = String::from_utf8(page).unwrap();
        let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(csp.contains("script-src 'self';"), "{csp}");
        assert!(csp.starts_with("default-src 'none';"), "{csp}");
        assert!(
            page.contains("<h2>透明日志 / Transparency log</h2>"),
            "{page}"
        );
        assert!(
            page.contains(
                r#"<p id="log-browser" data-state="unchecked">Checked in this browser: not checked (scripts off)</p>"#
            ),
            "{page}"
        );
        assert!(
            page.contains(r#"<td class="server" data-state="ok">✓ checked by the server</td>"#)
        );
        let entry_attr = format!(r#"data-entry="{}""#, e["entry"].as_str().unwrap());
        assert!(page.contains(&entry_attr));
        assert!(page.contains(&format!(r#"data-root="{}""#, STANDARD.encode(cp.root.0))));
        assert!(page.contains(&format!(r#"data-note="{}""#, STANDARD.encode(&note))));
        assert_eq!(
            page.matches("<script").count(),
            1,
            "one script, no inline one"
        );
        let script = badge_server::http::public::assets::log_verify_path();
        assert!(script.starts_with("/static/log-verify.") && script.ends_with(".js"));
        assert!(page.contains(&format!(r#"<script src="{script}" defer></script>"#)));
        let (status, headers, js) = get(&t, script, None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            headers[header::CONTENT_TYPE],
            "text/javascript; charset=utf-8"
        );
        assert_eq!(
            headers[header::CACHE_CONTROL],
            "public, max-age=31536000, immutable"
        );
        assert_eq!(
            js,
            badge_server::http::public::assets::LOG_VERIFY_JS.as_bytes()
        );
        for other in [
            "/static/log-verify.js",
            "/static/log-verify.0000000000000000.js",
        ] {
            assert_eq!(
                get(&t, other, None).await.0,
                StatusCode::NOT_FOUND,
                "{other}"
            );
        }

        // A tampered leaf tile: the proof the server hands out is wrong, and it says so.
        let zeros = match backend {
            Backend::Sqlite => "zeroblob(96)",
            Backend::Postgres => "decode(repeat('00', 96), 'hex')",
        };
        t.exec(&format!(
            "UPDATE log_tiles SET data = {zeros} WHERE level = 0 AND n = 0"
        ))
        .await;
        // The tiles the first proofs read are kept in memory (stored tiles only grow,
        // so a copy read once stays true); a restarted server reads the tampered one.
        assert_eq!(
            cert_json(&t, &site).await["transparency_log"]["events"][0]["verified"],
            true,
            "the proof comes from the tiles read before the tampering"
        );
        t.restart().await;
        let tampered = cert_json(&t, &site).await;
        let e = &tampered["transparency_log"]["events"][0];
        assert_eq!(e["verified"], false, "{tampered}");
        assert_ne!(e["proof"], v["transparency_log"]["events"][0]["proof"]);
        let (_, _, page) = get(&t, &format!("/cert/{site}?lang=en"), None).await;
        assert!(String::from_utf8(page).unwrap().contains(
            r#"<td class="server" data-state="mismatch">✗ the server&#39;s check failed</td>"#
        ));
    }
}

async fn cert_json(t: &TestApp, site: &str) -> serde_json::Value {
    let (status, _, body) = get(t, &format!("/cert/{site}.json"), None).await;
    assert_eq!(status, StatusCode::OK);
    serde_json::from_slice(&body).unwrap()
}

/// `n` certificates issued straight through the CA (no site): entries of the log.
async fn issue_directly(t: &TestApp, n: usize) {
    for _ in 0..n {
        t.state
            .ca
            .issue(
                &crate::fixture_identity("京ICP备2024018653号-1", &["chenxi-shuzhi.cn"]),
                ca::KeySource::Generate,
                "test",
            )
            .await
            .unwrap();
    }
}

/// How a test witness answers `POST /add-checkpoint`.
#[derive(Clone, Copy, Debug)]
enum Answer {
    /// Cosigns the note it was sent with its own key: the one good witness.
    Good,
    /// 200 with text that is no cosignature at all.
    Garbage,
    /// 200 with a well-formed cosignature by another key under the same name.
    WrongKey,
    /// 200 with its own key's cosignature over a different tree.
    OtherTree,
    /// 200 with 8 MiB of cosignature-like lines: more than any answer may be.
    Huge,
    /// 409 whose body is not a size.
    ConflictGarbage,
    /// 409 claiming it has cosigned a tree far beyond the log's.
    ConflictBeyond,
    /// Accepts the connection and never answers.
    Silent,
}

/// A witness on loopback that answers as `answer` says; its base URL and the
/// verifier key the log is configured with.
async fn test_witness(answer: Answer) -> (String, String) {
    use tlog::witness::{AddCheckpoint, WitnessKey};
    let name = format!("{answer:?}.witness.test").to_lowercase();
    let key = WitnessKey::from_pkcs8(&name, &WitnessKey::generate().unwrap()).unwrap();
    let other = WitnessKey::from_pkcs8(&name, &WitnessKey::generate().unwrap()).unwrap();
    let vkey = key.verifier_key();
    let keys = std::sync::Arc::new((key, other, name));
    let handler = move |body: axum::body::Bytes| {
        let keys = keys.clone();
        async move {
            let (key, other, name) = &*keys;
            use axum::response::IntoResponse;
            let req = AddCheckpoint::parse(&body).expect("the log sent a well-formed request");
            let note = String::from_utf8(req.note.clone()).unwrap();
            match answer {
                Answer::Good => key
                    .cosign(&req.note, 1_700_000_000)
                    .unwrap()
                    .into_response(),
                Answer::Garbage => "hello, log\n".into_response(),
                Answer::WrongKey => other
                    .cosign(&req.note, 1_700_000_000)
                    .unwrap()
                    .into_response(),
                Answer::OtherTree => {
                    // The same note with its root's first base64 character changed.
                    let mut lines: Vec<String> = note.lines().map(str::to_owned).collect();
                    let root = &mut lines[2];
                    let flipped = if root.starts_with('A') { "B" } else { "A" };
                    root.replace_range(0..1, flipped);
                    let forged = format!("{}\n", lines.join("\n"));
                    // Re-signing needs a log signature line; reuse the one sent.
                    key.cosign(forged.as_bytes(), 1_700_000_000)
                        .unwrap_or_else(|_| "not even parsable\n".into())
                        .into_response()
                }
                Answer::Huge => {
                    let line = key.cosign(&req.note, 1).unwrap();
                    let line = line.replace(name.as_str(), &"x".repeat(200));
                    line.repeat(8 * 1024 * 1024 / line.len()).into_response()
                }
                Answer::ConflictGarbage => (StatusCode::CONFLICT, "no\n").into_response(),
                Answer::ConflictBeyond => (
                    StatusCode::CONFLICT,
                    [(header::CONTENT_TYPE, "text/x.tlog.size")],
                    tlog::witness::size_body(1 << 40),
                )
                    .into_response(),
                Answer::Silent => {
                    tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
                    "late\n".into_response()
                }
            }
        }
    };
    let app = axum::Router::new().route("/add-checkpoint", axum::routing::post(handler));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), vkey)
}

/// Witnesses that answer garbage, sign with the wrong key or over another tree,
/// flood, claim a bigger tree or never answer: the checkpoint still goes out on
/// time, carrying only the one good witness's cosignature, and no lie is recorded
/// as a witness's size (which would stop the log asking it again).
#[tokio::test]
async fn witnesses_that_lie_flood_or_hang_cost_their_cosignature_and_nothing_else() {
    use tlog::witness::{WitnessVerifier, cosigners};
    let answers = [
        Answer::Good,
        Answer::Garbage,
        Answer::WrongKey,
        Answer::OtherTree,
        Answer::Huge,
        Answer::ConflictGarbage,
        Answer::ConflictBeyond,
        Answer::Silent,
    ];
    let mut spec = Vec::new();
    let mut verifiers = Vec::new();
    for a in answers {
        let (url, vkey) = test_witness(a).await;
        verifiers.push(WitnessVerifier::parse(&vkey).unwrap());
        spec.push(format!("{url} {vkey}"));
    }
    let spec = spec.join(",");
    for backend in Backend::all() {
        let dir = tempfile::tempdir().unwrap();
        let db_url = backend.fresh_database(dir.path());
        let t = TestApp::with_database(
            dir,
            &db_url,
            &[
                "--log-witnesses",
                &spec,
                "--log-witness-quorum",
                "1",
                "--log-witness-timeout-secs",
                "2",
            ],
        )
        .await;
        let db = &t.state.db;
        for round in 1..=2u64 {
            issue_directly(&t, 1).await;
            let started = std::time::Instant::now();
            assert_eq!(
                t.state.services.log.checkpoint(db).await.unwrap(),
                Some(round)
            );
            let took = started.elapsed();
            assert!(
                took < std::time::Duration::from_secs(4),
                "{backend:?}: the silent witness held the checkpoint {took:?}"
            );
            let (status, _, note) = get(&t, "/log/checkpoint", None).await;
            assert_eq!(status, StatusCode::OK);
            let signed: Vec<usize> = cosigners(&note, &verifiers)
                .unwrap()
                .iter()
                .map(|c| c.witness)
                .collect();
            assert_eq!(
                signed,
                [0],
                "{backend:?} round {round}:\n{}",
                String::from_utf8_lossy(&note)
            );
            // The note carries the log's signature and one cosignature, nothing else.
            let sig_lines = String::from_utf8_lossy(&note)
                .lines()
                .filter(|l| l.starts_with("— "))
                .count();
            assert_eq!(sig_lines, 2, "{}", String::from_utf8_lossy(&note));
        }
        // Only the good witness's size was recorded; the one that claimed 2^40 was not
        // believed, so it is asked again from scratch next time.
        assert_eq!(
            ca::store::log::witness_size(db, "good.witness.test")
                .await
                .unwrap(),
            2
        );
        assert_eq!(
            ca::store::log::witness_size(db, "conflictbeyond.witness.test")
                .await
                .unwrap(),
            0
        );
    }
}
