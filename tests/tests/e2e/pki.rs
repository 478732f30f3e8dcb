//! The CA seen from outside: what `ca init`/`issue`/`revoke` make, served by the server as
//! a chain, AIA, CRL and OCSP that `openssl` checks; the development CA of a first start.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use testkit::{Backend, Child, bin, free_port, wait_for_port};

use crate::{Deployment, METRICS_TOKEN, http, url_after};

#[test]
fn the_server_answers_ocsp_and_serves_the_crl_for_certificates_the_cli_issues_and_revokes() {
    for backend in Backend::all() {
        let d = Deployment::new(backend);
        d.ca(&["init"]).ok();
        let issue = |out: &str| {
            d.ca(&[
                "issue",
                "--domain",
                "pujiangyun.com",
                "--org",
                "上海浦江云服务有限公司",
                "--uscc",
                "91310115MA1H93QW9A",
                "--icp",
                "沪ICP备17024538号-3",
                "--province",
                "上海市",
                "--city",
                "浦东新区",
                "--out",
                out,
            ])
            .ok()
        };
        issue("site.pem");
        let _server = d.serve();
        let client = http();

        let health: serde_json::Value = client
            .get(d.url("/healthz"))
            .send()
            .unwrap()
            .json()
            .unwrap();
        assert_eq!(health["status"], "ok");
        assert_eq!(
            health["database"],
            if backend == Backend::Sqlite {
                "sqlite"
            } else {
                "postgres"
            }
        );
        let chain = client
            .get(d.url("/ca/chain.pem"))
            .send()
            .unwrap()
            .text()
            .unwrap();
        assert_eq!(
            chain,
            std::fs::read_to_string(d.path("ca/chain.pem")).unwrap()
        );

        // The AIA and CRL URLs inside the certificate resolve on the server.
        let text = d
            .openssl(&["x509", "-in", "site.pem", "-noout", "-text"])
            .ok()
            .stdout;
        let aia = url_after(&text, "CA Issuers - URI:");
        let issuer_der = client.get(&aia).send().unwrap();
        assert_eq!(
            issuer_der.headers()["content-type"],
            "application/pkix-cert"
        );
        std::fs::write(d.path("issuer.der"), issuer_der.bytes().unwrap()).unwrap();
        let from_aia = d
            .openssl(&[
                "x509",
                "-inform",
                "DER",
                "-in",
                "issuer.der",
                "-noout",
                "-fingerprint",
            ])
            .ok()
            .stdout;
        let from_file = d
            .openssl(&["x509", "-in", "ca/issuing.pem", "-noout", "-fingerprint"])
            .ok()
            .stdout;
        assert_eq!(from_aia, from_file);

        let good = d.ocsp_via_server("site.pem").ok();
        assert!(
            good.stdout.contains("site.pem: good"),
            "{backend:?}: {good:?}"
        );
        assert!(good.stderr.contains("Response verify OK"), "{good:?}");

        // RFC 6960 GET form: base64 of the DER request in the path.
        d.openssl(&[
            "ocsp",
            "-issuer",
            "ca/issuing.pem",
            "-cert",
            "site.pem",
            "-no_nonce",
            "-reqout",
            "req.der",
        ])
        .ok();
        let b64 = base64::engine::general_purpose::STANDARD
            .encode(std::fs::read(d.path("req.der")).unwrap());
        let got = client
            .get(d.url(&format!(
                "/ocsp/{}",
                b64.replace('/', "%2F").replace('+', "%2B")
            )))
            .send()
            .unwrap();
        assert_eq!(got.headers()["content-type"], "application/ocsp-response");
        std::fs::write(d.path("get.der"), got.bytes().unwrap()).unwrap();
        let via_get = d
            .openssl(&[
                "ocsp",
                "-issuer",
                "ca/issuing.pem",
                "-cert",
                "site.pem",
                "-respin",
                "get.der",
                "-CAfile",
                "ca/root.pem",
                "-verify_other",
                "ca/issuing.pem",
            ])
            .ok();
        assert!(via_get.stdout.contains("site.pem: good"), "{via_get:?}");

        let serial = d
            .openssl(&["x509", "-in", "site.pem", "-noout", "-serial"])
            .ok()
            .stdout;
        let serial = serial.trim().trim_start_matches("serial=").to_string();
        d.ca(&[
            "revoke",
            "--serial",
            &serial,
            "--reason",
            "cessationOfOperation",
        ])
        .ok();

        // The revocation is visible through the server at once: OCSP and CRL.
        let revoked = d.ocsp_via_server("site.pem").ok();
        assert!(
            revoked.stdout.contains("site.pem: revoked"),
            "{backend:?}: {revoked:?}"
        );
        assert!(
            revoked.stdout.contains("cessationOfOperation"),
            "{revoked:?}"
        );
        let (_, listing) = d.crl_listing_for("site.pem");
        assert!(listing.contains(&serial.to_uppercase()), "{listing}");
        assert!(listing.contains("Cessation Of Operation"), "{listing}");

        assert_eq!(
            client.get(d.url("/metrics")).send().unwrap().status(),
            401,
            "/metrics without its token"
        );
        let metrics = client
            .get(d.url("/metrics"))
            .bearer_auth(METRICS_TOKEN)
            .send()
            .unwrap()
            .text()
            .unwrap();
        assert!(metrics.contains("chengxin_ocsp_answers_total"), "{metrics}");

        // Bad requests get clear answers, not crashes.
        let wrong_type = client
            .post(d.url("/ocsp"))
            .header("content-type", "text/plain")
            .body("x")
            .send()
            .unwrap();
        assert_eq!(wrong_type.status(), 400);
        let garbage = client
            .post(d.url("/ocsp"))
            .header("content-type", "application/ocsp-request")
            .body(vec![0x30, 0x03, 1, 2, 3])
            .send()
            .unwrap();
        assert_eq!(garbage.status(), 200);
        assert_eq!(
            garbage.bytes().unwrap().as_ref(),
            [0x30, 0x03, 0x0a, 0x01, 0x01],
            "malformedRequest"
        );
        // An oversized body is refused: 413, or the connection closed by the server
        // before the client finished writing (both are refusals; which one depends on timing).
        let huge = client
            .post(d.url("/ocsp"))
            .header("content-type", "application/ocsp-request")
            .body(vec![0u8; 1 << 20])
            .send();
        match huge {
            Ok(r) => assert_eq!(r.status(), 413),
            Err(e) => assert!(e.is_request() || e.is_body(), "{e}"),
        }
        assert_eq!(
            client
                .get(d.url("/crl/0000000000000000.crl"))
                .send()
                .unwrap()
                .status(),
            404
        );
        assert_eq!(
            client
                .get(d.url("/ocsp/@@@not-base64@@@"))
                .send()
                .unwrap()
                .status(),
            400
        );
    }
}

#[test]
fn the_first_start_creates_a_development_ca_says_so_loudly_and_reuses_it_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let start = |log: &str| {
        let mut cmd = Command::new(bin("badge-server"));
        for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("CHENGXIN_")) {
            cmd.env_remove(k);
        }
        let log = std::fs::File::create(dir.path().join(log)).unwrap();
        let child = cmd
            .current_dir(dir.path())
            .env("CHENGXIN_LISTEN", format!("127.0.0.1:{port}"))
            .arg("serve")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        wait_for_port(&format!("127.0.0.1:{port}"), 30);
        Child(child)
    };
    let server = start("first.log");
    let health = http()
        .get(format!("http://127.0.0.1:{port}/healthz"))
        .send()
        .unwrap();
    assert_eq!(health.status(), 200);
    drop(server);
    let log = std::fs::read_to_string(dir.path().join("first.log")).unwrap();
    assert!(log.contains("DEVELOPMENT CA CREATED"), "{log}");
    let data = dir.path().join("data");
    for f in [
        "chengxin.db",
        "ca/issuing.pem",
        "ca/issuing.key.pem",
        "ca-passphrase",
        "ca-root-passphrase",
    ] {
        assert!(data.join(f).exists(), "{f} missing");
    }
    let mode = std::fs::metadata(data.join("ca-passphrase")).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777,
        0o600
    );
    let before = std::fs::read(data.join("ca/issuing.pem")).unwrap();

    let _again = start("second.log");
    let deadline = Instant::now() + Duration::from_secs(10);
    while http()
        .get(format!("http://127.0.0.1:{port}/healthz"))
        .send()
        .map(|r| r.status() != 200)
        .unwrap_or(true)
    {
        assert!(Instant::now() < deadline, "restart did not become healthy");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        std::fs::read(data.join("ca/issuing.pem")).unwrap(),
        before,
        "the CA was replaced on restart"
    );
    assert!(Path::new(&data.join("ca/root.pem")).exists());
}
