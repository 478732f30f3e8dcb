//! Revocation and what relying parties fetch: the OCSP responder's per-client
//! limit, and the holders told when a compromised key revokes their certificates.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode, header};
use badge_server::domain::account::{Email, Role};
use testkit::Backend;

use crate::accounts::{PUBLIC, TestApp};

/// An OCSP request from `peer`, by GET or POST; the status and `Retry-After`.
async fn ask(app: &TestApp, peer: &str, post: bool) -> (StatusCode, Option<u64>) {
    // Not a valid request: the responder answers it (malformedRequest) all the same,
    // which is what counts against the quota.
    let req = if post {
        Request::post("/ocsp")
            .header(header::CONTENT_TYPE, "application/ocsp-request")
            .body(Body::from(&b"\x30\x03garbage"[..]))
    } else {
        Request::get("/ocsp/MAMCAQA=").body(Body::empty())
    };
    let mut req = req.unwrap();
    req.extensions_mut()
        .insert(ConnectInfo(peer.parse::<SocketAddr>().unwrap()));
    let (status, headers, body) = app.call(req).await;
    if status == StatusCode::OK {
        assert_eq!(headers[header::CONTENT_TYPE], "application/ocsp-response");
        assert!(!body.is_empty());
    }
    let retry = headers
        .get(header::RETRY_AFTER)
        .map(|v| v.to_str().unwrap().parse().unwrap());
    (status, retry)
}

/// One client flooding `/ocsp` (2,830 requests a second were measured) gets 429
/// with `Retry-After` once over `CHENGXIN_OCSP_PER_MINUTE`, counted for its whole
/// IPv6 /64 and for GET and POST together; other clients are still answered.
#[tokio::test]
async fn a_client_over_its_ocsp_quota_gets_429_with_retry_after_and_others_are_answered() {
    let dir = tempfile::tempdir().unwrap();
    let db_url = Backend::Sqlite.fresh_database(dir.path());
    let app = TestApp::with_database(
        dir,
        &db_url,
        &["--public-url", PUBLIC, "--ocsp-per-minute", "3"],
    )
    .await;
    assert_eq!(
        ask(&app, "[2001:db8:1:2::1]:4000", false).await.0,
        StatusCode::OK
    );
    assert_eq!(
        ask(&app, "[2001:db8:1:2::2]:4000", true).await.0,
        StatusCode::OK
    );
    assert_eq!(
        ask(&app, "[2001:db8:1:2::3]:4000", false).await.0,
        StatusCode::OK
    );
    for post in [false, true] {
        let (status, retry) = ask(&app, "[2001:db8:1:2::ffff]:4000", post).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "post: {post}");
        assert!(
            retry.is_some_and(|s| (1..=60).contains(&s)),
            "Retry-After {retry:?}"
        );
    }
    assert_eq!(
        ask(&app, "[2001:db8:1:3::1]:4000", false).await.0,
        StatusCode::OK
    );
    assert_eq!(ask(&app, "192.0.2.7:4000", true).await.0, StatusCode::OK);
}

/// The default quota is the one the README shows, and a relying party checking a
/// few certificates is far from it.
#[tokio::test]
async fn the_default_ocsp_quota_answers_an_ordinary_client() {
    let app = TestApp::new(Backend::Sqlite).await;
    for _ in 0..50 {
        assert_eq!(ask(&app, "192.0.2.8:4000", false).await.0, StatusCode::OK);
    }
    let readme = include_str!("../../../README.md");
    assert!(readme.contains("`CHENGXIN_OCSP_PER_MINUTE` (1200)"));
    let settings = <crate::Args as clap::Parser>::parse_from(["badge-server"]).settings;
    assert_eq!(settings.ocsp_per_minute, 1200);
}

/// A keyCompromise revocation revokes every other certificate with the same key,
/// another operator's too (issue 11, item 1). The holders of those learn it by
/// mail, queued with the revocation, and their sites show as revoked at once.
#[tokio::test]
async fn a_key_compromise_revocation_mails_the_holders_of_the_other_certificates_with_that_key() {
    for backend in Backend::all() {
        let t = TestApp::new(backend).await;
        let db = &t.state.db;
        let role = |email: &'static str, role| async move {
            badge_server::store::accounts::ensure(db, &Email::parse(email).unwrap(), role)
                .await
                .unwrap()
        };
        let a = role("a@chenxi-shuzhi.cn", Role::Operator).await;
        let b = role("b@pujiangyun.com", Role::Operator).await;
        let staff = role("staff@seal.test", Role::Staff).await;
        let site_a = crate::certified_site(&t.state, &a, &staff, "chenxi-shuzhi.cn").await;
        // B's hoster used the key of A's request for B's site as well.
        let csr = crate::csr_of(&t.state, &a).await;
        let site_b = crate::certified_site_with_csr(
            &t.state,
            &b,
            &staff,
            "shop.chenxi-shuzhi.cn",
            Some(&csr),
        )
        .await;
        let c = crate::certified_site(&t.state, &b, &staff, "www.chenxi-shuzhi.cn").await;
        let before = t.mails().await.len();

        let bearer = badge_server::store::accounts::create_token(db, &staff, "test")
            .await
            .unwrap();
        let req = Request::post(format!("/api/v1/sites/{site_a}/revoke"))
            .header(header::AUTHORIZATION, format!("Bearer {bearer}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(r#"{"reason":"keyCompromise"}"#))
            .unwrap();
        let (status, _, body) = t.call(req).await;
        assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));

        let view = |site: String| {
            let state = t.state.clone();
            async move { crate::site_json(&state, &site).await }
        };
        let b_view = view(site_b.clone()).await;
        assert_eq!(b_view["status"], "revoked", "{backend:?}");
        assert_eq!(b_view["revocation_reason"], "keyCompromise");
        assert_eq!(view(c).await["status"], "certified", "another key of B's");
        let mails = t.mails().await;
        let new: Vec<_> = mails[before..].iter().collect();
        let to_b: Vec<_> = new
            .iter()
            .filter(|m| m["to"] == "b@pujiangyun.com")
            .collect();
        assert_eq!(to_b.len(), 1, "{backend:?}: {new:?}");
        let text = to_b[0]["text"].as_str().unwrap();
        assert!(
            text.contains("shop.chenxi-shuzhi.cn")
                && text.contains("keyCompromise")
                && text.contains(&format!("/cert/{site_b}"))
                && text.contains(b_view["serial"].as_str().unwrap()),
            "{text}"
        );
    }
}

/// After `ca rotate-issuing` the server keeps the old issuing CA for the certificates
/// it issued: the hourly refresh publishes a CRL for each issuer (shard 0, where the
/// old issuer's certificate is and the new one's first go), and the old issuer's
/// certificate (what their AIA names) and CRL are still served.
#[tokio::test]
async fn after_a_rotation_the_old_issuer_s_crl_and_certificate_are_still_published() {
    let dir = tempfile::tempdir().unwrap();
    let db_url = Backend::Sqlite.fresh_database(dir.path());
    let ca_dir = dir.path().join("ca");
    let mut app = TestApp::with_database(dir, &db_url, &["--public-url", PUBLIC]).await;
    let identity = crate::fixture_identity("京ICP备2024018653号-1", &["chenxi-shuzhi.cn"]);
    app.state
        .ca
        .issue(&identity, ca::KeySource::Generate, "test")
        .await
        .unwrap();
    let old = app.state.ca.slug().to_string();
    let pass = b"correct-horse-battery-staple";
    // The root key opens with its own passphrase (crate::app_state's).
    let root_pass = b"root-horse-battery-staple";
    ca::authority::rotate_issuing(&ca_dir, &ca_dir.join("root.key.pem"), root_pass, pass).unwrap();
    let config = ca::CaConfig {
        dir: ca_dir,
        public_url: PUBLIC.into(),
        instance: 1,
    };
    let rotated = ca::Ca::open(&config, Some(pass), app.state.db.clone())
        .await
        .unwrap();
    let new = rotated.slug().to_string();
    assert_ne!(new, old);
    app.state.ca = std::sync::Arc::new(rotated);
    app.rebuild();

    badge_server::jobs::handlers::refresh_once(&app.state.ca)
        .await
        .unwrap();
    for slug in [&old, &new] {
        for path in [format!("/crl/{slug}/0.crl"), format!("/ca/{slug}.der")] {
            let (status, _, body) = app
                .call(Request::get(&path).body(Body::empty()).unwrap())
                .await;
            assert_eq!(status, StatusCode::OK, "{path}");
            assert!(!body.is_empty(), "{path}");
        }
    }
}

/// A revocation marks its shard and queues the `crl.publish` job of its period (one
/// per period, however many revocations); the job lists it in the shard's CRL, which
/// `/crl/{issuer}/{shard}.crl` serves. No CRL is signed in the revocation itself.
#[tokio::test]
async fn a_revocation_queues_the_crl_publication_of_its_period_which_lists_it() {
    for backend in Backend::all() {
        let t = TestApp::new(backend).await;
        let db = &t.state.db;
        let a = badge_server::store::accounts::ensure(
            db,
            &Email::parse("a@chenxi-shuzhi.cn").unwrap(),
            Role::Operator,
        )
        .await
        .unwrap();
        let staff = badge_server::store::accounts::ensure(
            db,
            &Email::parse("staff@seal.test").unwrap(),
            Role::Staff,
        )
        .await
        .unwrap();
        let site = crate::certified_site(&t.state, &a, &staff, "chenxi-shuzhi.cn").await;
        let serial = crate::site_json(&t.state, &site).await["serial"]
            .as_str()
            .unwrap()
            .to_string();
        let slug = t.state.ca.slug().to_string();
        let listed = || async {
            let Some(crl) = ca::store::latest_shard_crl(db, &slug, 0).await.unwrap() else {
                return false;
            };
            use x509_parser::prelude::FromDer;
            let (_, parsed) =
                x509_parser::revocation_list::CertificateRevocationList::from_der(&crl.der)
                    .unwrap();
            let serials: Vec<String> = parsed
                .iter_revoked_certificates()
                .map(|r| hex::encode(r.raw_serial()))
                .collect();
            serials.contains(&serial.to_lowercase())
        };
        let bearer = badge_server::store::accounts::create_token(db, &staff, "test")
            .await
            .unwrap();
        let req = Request::post(format!("/api/v1/sites/{site}/revoke"))
            .header(header::AUTHORIZATION, format!("Bearer {bearer}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(r#"{"reason":"privilegeWithdrawn"}"#))
            .unwrap();
        let (status, _, body) = t.call(req).await;
        assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
        assert!(!listed().await, "{backend:?}: signed in the revocation");

        let jobs: Vec<(i64, String)> = ca::on_pool!(db, |p| sqlx::query_as(
            "SELECT run_at, dedupe_key FROM jobs WHERE kind = 'crl.publish' AND done_at IS NULL"
        )
        .fetch_all(p)
        .await
        .unwrap());
        assert_eq!(jobs.len(), 1, "{backend:?}");
        let run_at = jobs[0].0;
        assert_eq!(jobs[0].1, format!("crl.publish:{run_at}"));
        // More revocations in the same period add no job; the next period's do.
        for now in [run_at - 1, run_at - 1, run_at] {
            let mut tx = db.begin().await.unwrap();
            badge_server::service::sites::enqueue_crl_publish(&mut tx, now, 1)
                .await
                .unwrap();
            tx.commit().await.unwrap();
        }
        let (queued,): (i64,) = ca::on_pool!(db, |p| sqlx::query_as(
            "SELECT COUNT(*) FROM jobs WHERE kind = 'crl.publish'"
        )
        .fetch_one(p)
        .await
        .unwrap());
        assert_eq!(queued, 2, "{backend:?}");

        badge_server::jobs::queue::run_due(&t.state, run_at)
            .await
            .unwrap();
        assert!(listed().await, "{backend:?}");
        let (status, headers, body) = t
            .call(
                Request::get(format!("/crl/{slug}/0.crl"))
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{backend:?}");
        assert_eq!(headers[header::CONTENT_TYPE], "application/pkix-crl");
        let stored = ca::store::latest_shard_crl(db, &slug, 0)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(body.as_ref(), stored.der.as_slice());
        for missing in [
            format!("/crl/{slug}/1.crl"),
            format!("/crl/{slug}/-1.crl"),
            format!("/crl/{slug}/x.crl"),
            // No certificate predates sharding here: no legacy CRL.
            format!("/crl/{slug}.crl"),
        ] {
            let (status, _, _) = t
                .call(Request::get(&missing).body(Body::empty()).unwrap())
                .await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{missing}");
        }
    }
}

/// The publication period's default is the one the README shows.
#[test]
fn the_default_crl_publication_period_is_the_readme_s() {
    let readme = include_str!("../../../README.md");
    assert!(readme.contains("`CHENGXIN_CRL_PUBLISH_SECS` (1)"));
    let settings = <crate::Args as clap::Parser>::parse_from(["badge-server"]).settings;
    assert_eq!(settings.jobs.crl_publish_secs, 1);
    let settings =
        <crate::Args as clap::Parser>::parse_from(["badge-server", "--crl-publish-secs", "5"])
            .settings;
    assert_eq!(settings.jobs.crl_publish_secs, 5);
}
