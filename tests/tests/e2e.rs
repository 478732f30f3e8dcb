//! End-to-end: the real `ca` and `badge-server` binaries on both database backends,
//! checked from the outside with `openssl` and an HTTP client.

#![allow(clippy::unwrap_used, missing_docs)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use testkit::{Backend, Child, Run, bin, free_port, openssl, run, wait_for_port};

const PASSPHRASE: &str = "correct-horse-battery-staple";

/// A data directory, a database and a port, shared by the CLI and the server.
struct Deployment {
    dir: tempfile::TempDir,
    db_url: String,
    port: u16,
}

impl Deployment {
    fn new(backend: Backend) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let db_url = backend.fresh_database(dir.path());
        Deployment {
            dir,
            db_url,
            port: free_port(),
        }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn env(&self, cmd: &mut Command) {
        cmd.current_dir(self.dir.path())
            .env("CHENGXIN_DATABASE_URL", &self.db_url)
            .env("CHENGXIN_CA_DIR", self.path("ca"))
            .env("CHENGXIN_CA_PASSPHRASE", PASSPHRASE)
            .env("CHENGXIN_PUBLIC_URL", self.url(""))
            .env("CHENGXIN_LISTEN", format!("127.0.0.1:{}", self.port));
    }

    fn ca(&self, args: &[&str]) -> Run {
        let mut cmd = Command::new(bin("ca"));
        self.env(&mut cmd);
        run(cmd.args(args))
    }

    fn serve(&self) -> Child {
        let mut cmd = Command::new(bin("badge-server"));
        self.env(&mut cmd);
        let log = std::fs::File::create(self.path("server.log")).unwrap();
        let child = cmd
            .arg("serve")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        wait_for_port(&format!("127.0.0.1:{}", self.port), 30);
        Child(child)
    }

    fn openssl(&self, args: &[&str]) -> Run {
        openssl(self.dir.path(), args)
    }

    fn ocsp_via_server(&self, cert: &str) -> Run {
        let url = self.url("/ocsp");
        self.openssl(&[
            "ocsp",
            "-issuer",
            "ca/issuing.pem",
            "-cert",
            cert,
            "-url",
            &url,
            "-CAfile",
            "ca/root.pem",
            "-verify_other",
            "ca/issuing.pem",
            "-no_nonce",
        ])
    }
}

fn http() -> reqwest::blocking::Client {
    // reqwest is built without a default TLS provider; the project uses ring.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

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
        let crl_url = url_after(&text, "URI:http");
        let crl_url = format!("http{crl_url}");
        let crl = client.get(&crl_url).send().unwrap();
        assert_eq!(crl.headers()["content-type"], "application/pkix-crl");
        std::fs::write(d.path("crl.der"), crl.bytes().unwrap()).unwrap();
        d.openssl(&[
            "crl",
            "-inform",
            "DER",
            "-in",
            "crl.der",
            "-CAfile",
            "ca/issuing.pem",
            "-noout",
        ])
        .ok();
        let listing = d
            .openssl(&["crl", "-inform", "DER", "-in", "crl.der", "-noout", "-text"])
            .ok()
            .stdout;
        assert!(listing.contains(&serial.to_uppercase()), "{listing}");
        assert!(listing.contains("Cessation Of Operation"), "{listing}");

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
        let huge = client
            .post(d.url("/ocsp"))
            .header("content-type", "application/ocsp-request")
            .body(vec![0u8; 1 << 20])
            .send()
            .unwrap();
        assert_eq!(huge.status(), 413);
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

fn url_after(text: &str, marker: &str) -> String {
    let start = text
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} not in {text}"))
        + marker.len();
    text[start..].split_whitespace().next().unwrap().to_string()
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

#[test]
fn a_token_created_on_the_command_line_identifies_its_account_and_nothing_else_does() {
    for backend in Backend::all() {
        let d = Deployment::new(backend);
        d.ca(&["init"]).ok();
        let token_create = |args: &[&str]| {
            let mut cmd = Command::new(bin("badge-server"));
            d.env(&mut cmd);
            run(cmd.args(["token", "create"]).args(args))
        };
        let created = token_create(&["--role", "operator", "--email", "Ops@Chenxi-Shuzhi.cn"]).ok();
        let token = created.stdout.lines().last().unwrap().to_string();
        assert!(token.starts_with("cx_") && token.len() == 46, "{token}");
        let second = token_create(&["--role", "operator", "--email", "ops@chenxi-shuzhi.cn"]).ok();
        assert_ne!(
            second.stdout.lines().last().unwrap(),
            token,
            "every call makes a new token"
        );

        let other_role = token_create(&["--role", "staff", "--email", "ops@chenxi-shuzhi.cn"]);
        assert_eq!(other_role.code, 1);
        assert!(
            other_role
                .stderr
                .contains("already exists with the operator role"),
            "{}",
            other_role.stderr
        );
        let bad_role = token_create(&["--role", "root", "--email", "x@chenxi-shuzhi.cn"]);
        assert_eq!(bad_role.code, 1);
        assert!(
            bad_role.stderr.contains("unknown role"),
            "{}",
            bad_role.stderr
        );
        let bad_email = token_create(&["--role", "user", "--email", "not-an-address"]);
        assert_eq!(bad_email.code, 1);
        assert!(
            bad_email.stderr.contains("invalid e-mail address"),
            "{}",
            bad_email.stderr
        );

        let _server = d.serve();
        let client = http();
        let me: serde_json::Value = client
            .get(d.url("/api/v1/me"))
            .bearer_auth(&token)
            .send()
            .unwrap()
            .json()
            .unwrap();
        assert_eq!(me["email"], "ops@chenxi-shuzhi.cn");
        assert_eq!(me["role"], "operator");
        let anonymous = client.get(d.url("/api/v1/me")).send().unwrap();
        assert_eq!(anonymous.status(), 401);
        assert_eq!(anonymous.headers()["www-authenticate"], "Bearer");
        let mut forged = token.clone();
        forged.replace_range(10..11, if &token[10..11] == "A" { "B" } else { "A" });
        assert_eq!(
            client
                .get(d.url("/api/v1/me"))
                .bearer_auth(&forged)
                .send()
                .unwrap()
                .status(),
            401
        );
        assert_eq!(
            client
                .get(d.url("/api/v1/me"))
                .header("authorization", "Basic Zm9vOmJhcg==")
                .send()
                .unwrap()
                .status(),
            401
        );
    }
}
