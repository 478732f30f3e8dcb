//! End-to-end: the real `ca` and `badge-server` binaries on both database backends,
//! checked from the outside with `openssl`, an HTTP client and headless Chromium.

#![allow(clippy::unwrap_used, missing_docs)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use testkit::{Backend, Child, Run, bin, free_port, openssl, run, wait_for_port};

/// The bearer token every test server's `/metrics` requires.
const METRICS_TOKEN: &str = "metrics-scrape-token";
const PASSPHRASE: &str = "correct-horse-battery-staple";
/// The root key's own passphrase (`ca init` refuses the issuing key's).
const ROOT_PASSPHRASE: &str = "root-horse-battery-staple";

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
            .env("CHENGXIN_CA_ROOT_PASSPHRASE", ROOT_PASSPHRASE)
            .env("CHENGXIN_PUBLIC_URL", self.url(""))
            .env("CHENGXIN_LISTEN", format!("127.0.0.1:{}", self.port))
            .env("CHENGXIN_METRICS_TOKEN", METRICS_TOKEN);
    }

    fn ca(&self, args: &[&str]) -> Run {
        let mut cmd = Command::new(bin("ca"));
        self.env(&mut cmd);
        run(cmd.args(args))
    }

    fn serve(&self) -> Child {
        self.serve_with(&[])
    }

    /// Starts `badge-server serve` with extra environment and waits for its port.
    fn serve_with(&self, extra: &[(&str, String)]) -> Child {
        let mut cmd = Command::new(bin("badge-server"));
        self.env(&mut cmd);
        for (k, v) in extra {
            cmd.env(k, v);
        }
        let log = std::fs::File::create(self.path("server.log")).unwrap();
        let mut child = cmd
            .arg("serve")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        // A server that exits (a setting refused) says why at once.
        let addr = format!("127.0.0.1:{}", self.port);
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(&addr).is_err() {
            if let Some(status) = child.try_wait().unwrap() {
                panic!(
                    "badge-server serve exited ({status}) with {extra:?}:\n{}",
                    std::fs::read_to_string(self.path("server.log")).unwrap_or_default()
                );
            }
            assert!(
                Instant::now() < deadline,
                "{addr} did not start listening in 30 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Child(child)
    }

    /// Serves with a loopback DNS server at `dns_port` and the fixture rows as the
    /// ICP source: what the application flow needs.
    fn serve_for_applications(&self, dns_port: u16) -> Child {
        let miit = testkit::fixtures_dir().join("miit-rows.json");
        self.serve_with(&[
            ("CHENGXIN_DNS_SERVERS", format!("127.0.0.1:{dns_port}")),
            ("CHENGXIN_DNS_TIMEOUT", "1".into()),
            ("CHENGXIN_HTTP_TIMEOUT", "2".into()),
            ("CHENGXIN_HTTP_CHALLENGE_PORT", free_port().to_string()),
            ("CHENGXIN_ICP_PROVIDER", format!("file:{}", miit.display())),
        ])
    }

    /// `badge-server token create`: the token printed on the last line.
    fn token(&self, role: &str, email: &str) -> String {
        let mut cmd = Command::new(bin("badge-server"));
        self.env(&mut cmd);
        let out = run(cmd.args(["token", "create", "--role", role, "--email", email])).ok();
        out.stdout.lines().last().unwrap().to_string()
    }

    /// Takes `application` through the whole flow on a server started with
    /// [`Deployment::serve_for_applications`]`(dns_port)`: the operator applies, the
    /// DNS TXT challenge is published on a loopback DNS server at `dns_port`, the
    /// operator asks for verification and staff approve. Returns the verification
    /// verdict and the approval (site id, snippet, seal and certificate URLs).
    fn certify(
        &self,
        operator: &str,
        staff: &str,
        dns_port: u16,
        application: serde_json::Value,
    ) -> (serde_json::Value, serde_json::Value) {
        let client = http();
        let app: serde_json::Value = client
            .post(self.url("/api/v1/applications"))
            .bearer_auth(operator)
            .json(&application)
            .send()
            .unwrap()
            .json()
            .unwrap();
        let id = app["id"]
            .as_str()
            .unwrap_or_else(|| panic!("application refused: {app}"));
        let txt = app["challenges"]
            .as_array()
            .and_then(|cs| cs.iter().find(|c| c["method"] == "dns-txt"))
            .unwrap_or_else(|| panic!("no dns-txt challenge: {app}"));
        let _dns = testkit::Zone::new()
            .txt(
                txt["name"].as_str().unwrap(),
                txt["value"].as_str().unwrap(),
            )
            .start_on(dns_port);
        let verification: serde_json::Value = client
            .post(self.url(&format!("/api/v1/applications/{id}/verify")))
            .bearer_auth(operator)
            .json(&serde_json::json!({"method": "dns-txt"}))
            .send()
            .unwrap()
            .json()
            .unwrap();
        let approved = client
            .post(self.url(&format!("/api/v1/applications/{id}/approve")))
            .bearer_auth(staff)
            .send()
            .unwrap();
        assert_eq!(
            approved.status(),
            200,
            "approval refused after {verification}"
        );
        (verification, approved.json().unwrap())
    }

    fn openssl(&self, args: &[&str]) -> Run {
        openssl(self.dir.path(), args)
    }

    /// One query against the deployment's database, whichever backend it is.
    fn sql(&self, query: &str) -> String {
        if self.db_url.starts_with("sqlite:") {
            testkit::sqlite3(&self.db_url, query)
        } else {
            testkit::psql(&self.db_url, query)
        }
    }

    /// The text of the CRL that `cert` (a PEM file in the deployment's directory)
    /// names in its distribution point, fetched from the server, its content type
    /// checked and its signature verified against the issuing CA; and `cert`'s serial.
    fn crl_listing_for(&self, cert: &str) -> (String, String) {
        let text = self
            .openssl(&["x509", "-in", cert, "-noout", "-text", "-serial"])
            .ok()
            .stdout;
        let serial = url_after(&text, "serial=");
        let crl = http()
            .get(format!("http{}", url_after(&text, "URI:http")))
            .send()
            .unwrap();
        assert_eq!(crl.headers()["content-type"], "application/pkix-crl");
        std::fs::write(self.path("crl.der"), crl.bytes().unwrap()).unwrap();
        let listing = self
            .openssl(&[
                "crl",
                "-inform",
                "DER",
                "-in",
                "crl.der",
                "-CAfile",
                "ca/issuing.pem",
                "-noout",
                "-text",
            ])
            .ok()
            .stdout;
        (serial, listing)
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

/// The fixture organization's application: its ICP filing is in `miit-rows.json`.
fn chenxi_application() -> serde_json::Value {
    serde_json::json!({
        "domains": ["chenxi-shuzhi.cn"], "organization": "北京晨曦数智科技有限公司", "uscc": "91110108MA04T7K21H",
        "icp": "京ICP备2024018653号-1", "province": "北京市", "city": "海淀区"
    })
}

fn http() -> reqwest::blocking::Client {
    // reqwest is built without a default TLS provider; the project uses ring.
    let _ = rustls::crypto::ring::default_provider().install_default();
    // No pooled connections: a server that closed a connection after refusing a
    // request must not make the next request fail.
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .pool_max_idle_per_host(0)
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

#[test]
fn an_operator_applies_proves_control_and_staff_approve_while_everyone_else_is_kept_out() {
    for backend in Backend::all() {
        let d = Deployment::new(backend);
        d.ca(&["init"]).ok();
        let dns_port = free_port();
        let (a, b, staff, user) = (
            d.token("operator", "a@chenxi-shuzhi.cn"),
            d.token("operator", "b@pujiangyun.com"),
            d.token("staff", "staff@seal.test"),
            d.token("user", "visitor@seal.test"),
        );
        let _server = d.serve_for_applications(dns_port);
        let _empty_dns = testkit::Zone::new().start_on(dns_port);
        let client = http();
        let post = |path: &str, token: Option<&str>, body: serde_json::Value| {
            let mut r = client.post(d.url(path)).json(&body);
            if let Some(t) = token {
                r = r.bearer_auth(t);
            }
            r.send().unwrap()
        };
        let get =
            |path: &str, token: &str| client.get(d.url(path)).bearer_auth(token).send().unwrap();
        let f01 = chenxi_application();

        assert_eq!(
            post("/api/v1/applications", None, f01.clone()).status(),
            401
        );
        assert_eq!(
            post("/api/v1/applications", Some(&user), f01.clone()).status(),
            403
        );
        assert_eq!(
            post("/api/v1/applications", Some(&staff), f01.clone()).status(),
            403
        );
        let invalid = post(
            "/api/v1/applications",
            Some(&a),
            serde_json::json!({"domains": ["bad domain"], "organization": "<script>x</script>公司", "uscc": "91110108MA04T7K21J",
                "icp": "冀ICP备2022016663号-4A", "province": "北京市", "city": "海淀区"}),
        );
        assert_eq!(invalid.status(), 422);
        let fields: serde_json::Value = invalid.json().unwrap();
        for f in ["uscc", "icp", "domains[0]"] {
            assert!(
                fields["fields"][f].is_string(),
                "{f} not reported: {fields}"
            );
        }
        let mut unknown = f01.clone();
        unknown["admin"] = serde_json::json!(true);
        assert_eq!(
            post("/api/v1/applications", Some(&a), unknown).status(),
            422
        );
        let bad_json = client
            .post(d.url("/api/v1/applications"))
            .bearer_auth(&a)
            .header("content-type", "application/json")
            .body("{not json")
            .send()
            .unwrap();
        assert_eq!(bad_json.status(), 400);

        let created = post("/api/v1/applications", Some(&a), f01.clone());
        assert_eq!(created.status(), 201);
        let app: serde_json::Value = created.json().unwrap();
        let id = app["id"].as_str().unwrap().to_string();
        // No CSR: the operator's key is generated at application time, shown once.
        let operator_key = app["private_key_pem"].as_str().unwrap().to_string();
        let txt = app["challenges"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["method"] == "dns-txt")
            .unwrap()
            .clone();
        assert_eq!(txt["name"], "_chengxin-challenge.chenxi-shuzhi.cn");
        let token = txt["value"].as_str().unwrap().to_string();
        assert!(app["challenges"].as_array().unwrap().iter().any(|c| c["method"] == "html-meta"
            && c["html"].as_str().unwrap().contains(&token)));

        // Before the record exists: failed, with the reason.
        let first: serde_json::Value = post(
            &format!("/api/v1/applications/{id}/verify"),
            Some(&a),
            serde_json::json!({"method": "dns-txt"}),
        )
        .json()
        .unwrap();
        assert_eq!(first["status"], "failed", "{first}");
        assert!(
            first["reasons"].to_string().contains("no TXT record"),
            "{first}"
        );
        assert_eq!(
            post(
                &format!("/api/v1/applications/{id}/verify"),
                Some(&b),
                serde_json::json!({})
            )
            .status(),
            403
        );
        assert_eq!(
            post(
                &format!("/api/v1/applications/{id}/verify"),
                Some(&a),
                serde_json::json!({"method": "pigeon"})
            )
            .status(),
            422
        );

        // The operator publishes the record; verification passes.
        drop(_empty_dns);
        let _dns = testkit::Zone::new()
            .txt("_chengxin-challenge.chenxi-shuzhi.cn", &token)
            .start_on(dns_port);
        let second: serde_json::Value = post(
            &format!("/api/v1/applications/{id}/verify"),
            Some(&a),
            serde_json::json!({"method": "dns-txt"}),
        )
        .json()
        .unwrap();
        assert_eq!(second["status"], "validated", "{second}");

        assert_eq!(get(&format!("/api/v1/applications/{id}"), &b).status(), 403);
        let seen: serde_json::Value = get(&format!("/api/v1/applications/{id}"), &staff)
            .json()
            .unwrap();
        assert_eq!(seen["status"], "validated");
        let checks: Vec<&str> = seen["evidence"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["check"].as_str().unwrap())
            .collect();
        assert!(
            checks.contains(&"dns-txt") && checks.contains(&"icp"),
            "{checks:?}"
        );
        assert_eq!(
            get("/api/v1/applications/app_doesnotexist", &staff).status(),
            404
        );

        assert_eq!(
            post(
                &format!("/api/v1/applications/{id}/approve"),
                Some(&a),
                serde_json::json!({})
            )
            .status(),
            403
        );
        // Rejection needs staff and a reason; a refused attempt changes nothing.
        let reject = |token: &str, body: serde_json::Value| {
            post(
                &format!("/api/v1/applications/{id}/reject"),
                Some(token),
                body,
            )
            .status()
        };
        assert_eq!(reject(&a, serde_json::json!({"reason": "mine"})), 403);
        assert_eq!(reject(&staff, serde_json::json!({"reason": "   "})), 422);
        assert_eq!(reject(&staff, serde_json::json!({})), 422);
        assert_eq!(
            reject(&staff, serde_json::json!({"reason": "x".repeat(1001)})),
            422
        );
        let still: serde_json::Value = get(&format!("/api/v1/applications/{id}"), &staff)
            .json()
            .unwrap();
        assert_eq!(still["status"], "validated");

        let approved = post(
            &format!("/api/v1/applications/{id}/approve"),
            Some(&staff),
            serde_json::json!({}),
        );
        assert_eq!(approved.status(), 200);
        let site: serde_json::Value = approved.json().unwrap();
        assert_eq!(site["status"], "certified");
        assert_eq!(site["uscc"], "91110108MA04T7K21H");
        assert_eq!(site["serial"].as_str().unwrap().len(), 36);
        // The key went to the operator when they applied; whoever approves gets none.
        assert!(site.get("private_key_pem").is_none(), "{site}");
        assert!(site["snippet"].as_str().unwrap().contains("/seal/"));
        let site_id = site["site"].as_str().unwrap().to_string();
        // Every offered variant is served, in its format and at its size; the PNGs
        // are drawn in the certified green.
        let variants = site["seal_variants"].as_array().unwrap();
        assert_eq!(variants.len(), 12);
        assert_eq!(variants[0]["snippet"], site["snippet"]);
        for v in variants {
            let url = v["url"].as_str().unwrap();
            let r = client.get(url).send().unwrap();
            assert_eq!(r.status(), 200, "{url}");
            let ct = r.headers()["content-type"].to_str().unwrap().to_string();
            let body = r.bytes().unwrap();
            if v["format"] == "png" {
                assert_eq!(ct, "image/png", "{url}");
                let (w, h) = png_size(&body);
                assert_eq!(
                    (w, h),
                    (
                        v["width"].as_u64().unwrap() as u32,
                        v["height"].as_u64().unwrap() as u32
                    ),
                    "{url}"
                );
                let [green] = count_colours(&body, [SEAL_GREEN]);
                assert!(green > 200, "{url}: {green} green pixels");
                let x2 = url.replace(".png", "@2x.png");
                assert!(
                    v["snippet"]
                        .as_str()
                        .unwrap()
                        .contains(&format!("{} 2x", x2.replace('&', "&#38;"))),
                    "{v}"
                );
                let (w2, h2) = png_size(&client.get(&x2).send().unwrap().bytes().unwrap());
                assert_eq!((w2, h2), (2 * w, 2 * h), "{x2}");
            } else {
                assert_eq!(ct, "image/svg+xml; charset=utf-8", "{url}");
                assert!(
                    std::str::from_utf8(&body)
                        .unwrap()
                        .contains("网站身份已验证")
                );
            }
        }
        assert_eq!(
            post(
                &format!("/api/v1/applications/{id}/approve"),
                Some(&staff),
                serde_json::json!({})
            )
            .status(),
            409
        );

        // The certificate is public: PEM that openssl verifies against the served chain, and JSON.
        let pem = client
            .get(d.url(&format!("/cert/{site_id}.pem")))
            .send()
            .unwrap()
            .text()
            .unwrap();
        std::fs::write(d.path("site.pem"), &pem).unwrap();
        std::fs::write(
            d.path("chain.pem"),
            client
                .get(d.url("/ca/chain.pem"))
                .send()
                .unwrap()
                .text()
                .unwrap(),
        )
        .unwrap();
        d.openssl(&[
            "verify",
            "-CAfile",
            "ca/root.pem",
            "-untrusted",
            "chain.pem",
            "site.pem",
        ])
        .ok();
        // The certificate is for the key the operator was given when applying.
        std::fs::write(d.path("operator.key"), &operator_key).unwrap();
        let key_pub = d.openssl(&["pkey", "-in", "operator.key", "-pubout"]).ok();
        let cert_pub = d
            .openssl(&["x509", "-in", "site.pem", "-noout", "-pubkey"])
            .ok();
        assert_eq!(key_pub.stdout, cert_pub.stdout);
        let public: serde_json::Value = client
            .get(d.url(&format!("/cert/{site_id}.json")))
            .send()
            .unwrap()
            .json()
            .unwrap();
        assert_eq!(public["serial"], site["serial"]);
        assert_eq!(
            client
                .get(d.url("/cert/s_nothere.pem"))
                .send()
                .unwrap()
                .status(),
            404
        );
        let check = |u: &str| -> serde_json::Value {
            client
                .get(d.url("/api/v1/check"))
                .query(&[("url", u)])
                .send()
                .unwrap()
                .json()
                .unwrap()
        };
        assert_eq!(
            check("https://www.chenxi-shuzhi.cn/shop?x=1")["result"],
            "certified"
        );
        assert_eq!(check("chenxi-shuzhi.cn")["result"], "certified");
        assert_eq!(
            check("https://chenxi-shuzhi.cn.evil.example/")["result"],
            "not_certified"
        );
        assert_eq!(
            check("https://notchenxi-shuzhi.cn/")["result"],
            "not_certified"
        );
        assert_eq!(
            client
                .get(d.url("/api/v1/check"))
                .query(&[("url", "http://")])
                .send()
                .unwrap()
                .status(),
            422
        );

        // The seal: certified on the site itself, "not certified for this site" elsewhere.
        let seal = |referer: Option<&str>| {
            let mut r = client.get(d.url(&format!("/seal/{site_id}.svg")));
            if let Some(r2) = referer {
                r = r.header("referer", r2);
            }
            r.send().unwrap()
        };
        let own = seal(Some("https://www.chenxi-shuzhi.cn/"));
        assert_eq!(own.status(), 200);
        assert_eq!(
            own.headers()["content-type"],
            "image/svg+xml; charset=utf-8"
        );
        let etag = own.headers()["etag"].to_str().unwrap().to_string();
        let own_cache_control = own.headers()["cache-control"].to_str().unwrap().to_string();
        let own = own.text().unwrap();
        assert!(
            own.contains("网站身份已验证") && own.contains("chenxi-shuzhi.cn"),
            "{own}"
        );
        assert!(
            seal(None).text().unwrap().contains("网站身份已验证"),
            "no Referer proves nothing either way"
        );
        let copied = seal(Some("https://shop.evil-copy.cn/index.html"))
            .text()
            .unwrap();
        assert!(
            copied.contains("非本站认证") && copied.contains("chenxi-shuzhi.cn"),
            "{copied}"
        );
        let not_modified = client
            .get(d.url(&format!("/seal/{site_id}.svg")))
            .header("referer", "https://chenxi-shuzhi.cn/")
            .header("if-none-match", &etag)
            .send()
            .unwrap();
        assert_eq!(not_modified.status(), 304);
        assert_eq!(own_cache_control, "public, no-cache");
        let english = client
            .get(d.url(&format!("/seal/{site_id}.svg?lang=en&size=l")))
            .send()
            .unwrap()
            .text()
            .unwrap();
        assert!(english.find("Verified").unwrap() < english.find("网站身份已验证").unwrap());
        assert_eq!(
            client
                .get(d.url(&format!("/seal/{site_id}.svg?size=xxl")))
                .send()
                .unwrap()
                .status(),
            400
        );
        let unknown = client.get(d.url("/seal/s_nothere.svg")).send().unwrap();
        assert_eq!(unknown.status(), 404);
        assert!(unknown.text().unwrap().contains("未认证网站"));

        // The certificate page: zh-CN by default, English on request, a banner about the Referer.
        let page = |referer: Option<&str>, query: &str, lang: Option<&str>| {
            let mut r = client.get(d.url(&format!("/cert/{site_id}{query}")));
            if let Some(v) = referer {
                r = r.header("referer", v);
            }
            if let Some(l) = lang {
                r = r.header("accept-language", l);
            }
            let resp = r.send().unwrap();
            assert_eq!(resp.status(), 200);
            assert!(
                resp.headers()["content-security-policy"]
                    .to_str()
                    .unwrap()
                    .contains("default-src 'none'")
            );
            resp.text().unwrap()
        };
        let zh = page(Some("https://www.chenxi-shuzhi.cn/"), "", None);
        for needle in [
            "网站身份证书",
            "北京晨曦数智科技有限公司",
            "91110108MA04T7K21H",
            "京ICP备2024018653号-1",
            "北京市 海淀区",
            "class=\"banner ok\"",
            "有效",
        ] {
            assert!(zh.contains(needle), "{needle} missing from {zh}");
        }
        let warned = page(Some("https://shop.evil-copy.cn/"), "", None);
        assert!(
            warned.contains("class=\"banner warn\"") && warned.contains("shop.evil-copy.cn"),
            "{warned}"
        );
        assert!(page(None, "", None).contains("class=\"banner neutral\""));
        assert!(page(None, "?lang=en", None).contains("Website identity certificate"));
        assert!(
            page(None, "", Some("en-US,en;q=0.9"))
                .contains("We could not tell where this seal was shown")
        );
        assert!(page(None, "", Some("en-US,en;q=0.9")).contains("Certified domains"));
        assert_eq!(
            client
                .get(d.url("/cert/s_nothere"))
                .send()
                .unwrap()
                .status(),
            404
        );

        // The registry finds the site by Chinese substring, domain, USCC and ICP number.
        let search = |q: &str| -> serde_json::Value {
            client
                .get(d.url("/api/v1/sites"))
                .query(&[("q", q)])
                .send()
                .unwrap()
                .json()
                .unwrap()
        };
        for q in [
            "晨曦",
            "北京晨曦数智",
            "chenxi-shuzhi",
            "CHENXI",
            "91110108ma04t7k21h",
            "京ICP备2024018653号",
        ] {
            let found = search(q);
            assert_eq!(
                found["results"].as_array().unwrap().len(),
                1,
                "{q}: {found}"
            );
            assert_eq!(found["results"][0]["site"], site_id.as_str());
        }
        assert_eq!(search("浦江")["results"].as_array().unwrap().len(), 0);
        assert_eq!(
            search("%")["results"].as_array().unwrap().len(),
            0,
            "LIKE wildcards are literal"
        );
        let html = client
            .get(d.url("/archive"))
            .query(&[("q", "<script>alert('x')</script>晨曦")])
            .send()
            .unwrap()
            .text()
            .unwrap();
        assert!(
            !html.contains("<script>alert"),
            "the query is escaped: {html}"
        );
        let html = client
            .get(d.url("/archive"))
            .query(&[("q", "晨曦")])
            .send()
            .unwrap()
            .text()
            .unwrap();
        assert!(
            html.contains(&format!("/cert/{site_id}")) && html.contains("北京晨曦数智科技有限公司"),
            "{html}"
        );
        assert_eq!(
            client
                .get(d.url("/api/v1/sites"))
                .query(&[("q", "x".repeat(201))])
                .send()
                .unwrap()
                .status(),
            422
        );

        let mine: serde_json::Value = get(&format!("/api/v1/sites/{site_id}"), &a).json().unwrap();
        assert!(
            mine.get("private_key_pem").is_none(),
            "the key is shown once only"
        );
        assert_eq!(get(&format!("/api/v1/sites/{site_id}"), &b).status(), 403);
        assert_eq!(get("/api/v1/sites/s_nothere", &staff).status(), 404);
        assert_eq!(
            post(
                &format!("/api/v1/sites/{site_id}/revoke"),
                Some(&a),
                serde_json::json!({"reason": "keyCompromise"})
            )
            .status(),
            403
        );
        assert_eq!(
            post(
                &format!("/api/v1/sites/{site_id}/revoke"),
                Some(&staff),
                serde_json::json!({"reason": "nope"})
            )
            .status(),
            422
        );
        let revoked: serde_json::Value = post(
            &format!("/api/v1/sites/{site_id}/revoke"),
            Some(&staff),
            serde_json::json!({"reason": "privilegeWithdrawn"}),
        )
        .json()
        .unwrap();
        assert_eq!(revoked["status"], "revoked", "{revoked}");
        assert_eq!(revoked["revocation_reason"], "privilegeWithdrawn");
        assert_eq!(check("chenxi-shuzhi.cn")["result"], "revoked");
        // The seal follows within its one-second freshness window.
        std::thread::sleep(Duration::from_millis(1100));
        let after = seal(Some("https://chenxi-shuzhi.cn/")).text().unwrap();
        assert!(after.contains("认证已撤销"), "{after}");
        // A browser holding the certified seal must ask before showing it again
        // (no-cache), and asking with its ETag now brings the revoked seal.
        let held = client
            .get(d.url(&format!("/seal/{site_id}.svg")))
            .header("referer", "https://chenxi-shuzhi.cn/")
            .header("if-none-match", &etag)
            .send()
            .unwrap();
        assert_eq!(held.status(), 200);
        assert_eq!(held.headers()["cache-control"], "public, no-cache");
        assert_ne!(held.headers()["etag"].to_str().unwrap(), etag);
        assert!(held.text().unwrap().contains("认证已撤销"));
        let revoked_page = client
            .get(d.url(&format!("/cert/{site_id}")))
            .send()
            .unwrap()
            .text()
            .unwrap();
        assert!(
            revoked_page.contains("已撤销") && revoked_page.contains("privilegeWithdrawn"),
            "{revoked_page}"
        );
        let again = post(
            &format!("/api/v1/sites/{site_id}/revoke"),
            Some(&staff),
            serde_json::json!({"reason": "keyCompromise"}),
        );
        assert_eq!(again.status(), 409);
    }
}

#[test]
fn a_hostile_organization_name_is_escaped_on_every_page_that_shows_it() {
    let d = Deployment::new(Backend::Sqlite);
    d.ca(&["init"]).ok();
    let dns_port = free_port();
    let (op, staff) = (
        d.token("operator", "op@pujiangyun.com"),
        d.token("staff", "staff@seal.test"),
    );
    let _server = d.serve_for_applications(dns_port);
    let client = http();
    // Within the 64 characters X.520 allows an organization name.
    let hostile = "<script>alert('x')</script>\"><svg onload=alert(1)>上海浦江云服务有限公司";
    let (verified, site) = d.certify(
        &op,
        &staff,
        dns_port,
        serde_json::json!({"domains": ["pujiangyun.com"], "organization": hostile, "uscc": "91310115MA1H93QW9A",
            "icp": "沪ICP备17024538号-3", "province": "上海市", "city": "<b>浦东</b>"}),
    );
    // The filing names 上海浦江云服务有限公司 without the markup: a human must look.
    assert_eq!(verified["status"], "review", "{verified}");
    let site_id = site["site"].as_str().unwrap();
    let page = client
        .get(d.url(&format!("/cert/{site_id}")))
        .send()
        .unwrap()
        .text()
        .unwrap();
    let archive = client
        .get(d.url("/archive"))
        .query(&[("q", "浦江")])
        .send()
        .unwrap()
        .text()
        .unwrap();
    for (name, html) in [("certificate page", &page), ("archive", &archive)] {
        assert!(
            html.contains("上海浦江云服务有限公司"),
            "{name} lost the name: {html}"
        );
        for raw in ["<script>alert", "<svg onload", "<b>浦东"] {
            assert!(
                !html.contains(raw),
                "{name} shows {raw:?} unescaped: {html}"
            );
        }
    }
}

/// Headless Chromium (Debian's, through its chromedriver: `testkit::browser`) with a
/// blocking API over fantoccini. Dropping it closes the session, which ends Chromium,
/// and then chromedriver.
struct Browser {
    client: fantoccini::Client,
    rt: tokio::runtime::Runtime,
    driver: testkit::browser::Chromedriver,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// A new session in a fresh profile, resolving `loopback_hosts` to 127.0.0.1 and
    /// asking for pages in `accept_language`.
    fn start(loopback_hosts: &[&str], accept_language: &str) -> Self {
        let driver = testkit::browser::Chromedriver::start();
        let profile = tempfile::tempdir().unwrap();
        let mut caps = testkit::browser::capabilities(profile.path(), loopback_hosts);
        caps["goog:chromeOptions"]["prefs"] =
            serde_json::json!({ "intl.accept_languages": accept_language });
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = rt
            .block_on(
                fantoccini::ClientBuilder::new(connector)
                    .capabilities(caps)
                    .connect(driver.url()),
            )
            .unwrap_or_else(|e| {
                panic!(
                    "Chromium did not start: {e}\nchromedriver log:\n{}",
                    driver.log()
                )
            });
        let browser = Browser {
            client,
            rt,
            driver,
            _profile: profile,
        };
        browser.run(
            "set timeouts",
            browser
                .client
                .update_timeouts(fantoccini::wd::TimeoutConfiguration::new(
                    Some(Duration::from_secs(30)),
                    Some(Duration::from_secs(60)),
                    Some(Duration::ZERO),
                )),
        );
        browser
    }

    /// Runs one WebDriver command to completion.
    fn run<T>(
        &self,
        what: &str,
        f: impl std::future::Future<Output = Result<T, fantoccini::error::CmdError>>,
    ) -> T {
        self.rt.block_on(f).unwrap_or_else(|e| {
            panic!(
                "browser: {what}: {e}\nchromedriver log (tail):\n{}",
                tail(&self.driver.log(), 40)
            )
        })
    }

    fn goto(&self, url: &str) {
        self.run(&format!("open {url}"), self.client.goto(url));
    }

    fn js(&self, script: &str) -> serde_json::Value {
        self.run(script, self.client.execute(script, vec![]))
    }

    fn find(&self, css: &str) -> fantoccini::elements::Element {
        self.run(css, self.client.find(fantoccini::Locator::Css(css)))
    }

    /// Types `text` into the field `css` names.
    fn fill(&self, css: &str, text: &str) {
        let field = self.find(css);
        self.run(&format!("type into {css}"), field.send_keys(text));
    }

    /// Clicks the element `css` names.
    fn click(&self, css: &str) {
        let element = self.find(css);
        self.run(&format!("click {css}"), element.click());
    }

    /// The visible text of the element `css` names.
    fn text(&self, css: &str) -> String {
        let element = self.find(css);
        self.run(&format!("text of {css}"), element.text())
    }

    fn current_url(&self) -> String {
        self.run("current URL", self.client.current_url())
            .to_string()
    }

    /// Polls `probe` until it gives a value, for at most `secs` seconds.
    fn wait_for<T>(&self, what: &str, secs: u64, mut probe: impl FnMut(&Self) -> Option<T>) -> T {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(v) = probe(self) {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "browser: {what} did not happen in {secs} s (at {})",
                self.current_url()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Screenshot of the whole page (the window grown to the document's size), saved
    /// as `path`.
    fn save_page(&self, path: &Path) {
        let size =
            self.js("const e = document.documentElement; return [e.scrollWidth, e.scrollHeight];");
        let dim = |i: usize, min: u64| size[i].as_u64().unwrap_or(min).max(min) as u32;
        self.run(
            "resize",
            self.client.set_window_size(dim(0, 1024), dim(1, 768)),
        );
        let png = self.run("page screenshot", self.client.screenshot());
        std::fs::write(path, png).unwrap();
    }

    /// Screenshot of one element, saved as `path`; returns the PNG.
    fn save_element(&self, element: &fantoccini::elements::Element, path: &Path) -> Vec<u8> {
        let png = self.run("element screenshot", element.screenshot());
        std::fs::write(path, &png).unwrap();
        png
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.rt.block_on(self.client.clone().close());
    }
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// The seal's colours (badge-server/src/seal.rs): certified, and "not certified for
/// this site".
const SEAL_GREEN: [u8; 3] = [0x1a, 0x7f, 0x37];
const SEAL_RED: [u8; 3] = [0xcf, 0x22, 0x2e];

/// Width and height of a PNG.
fn png_size(png_bytes: &[u8]) -> (u32, u32) {
    let reader = png::Decoder::new(std::io::Cursor::new(png_bytes))
        .read_info()
        .unwrap();
    let info = reader.info();
    (info.width, info.height)
}

/// How many pixels of a PNG are within a small distance of each of `colours`
/// (anti-aliased edges blend into white and are not counted).
fn count_colours<const N: usize>(png_bytes: &[u8], colours: [[u8; 3]; N]) -> [usize; N] {
    let mut decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let frame = reader.next_frame(&mut buf).unwrap();
    let channels = match frame.color_type {
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        other => panic!("unexpected screenshot colour type {other:?}"),
    };
    let mut counts = [0; N];
    for px in buf[..frame.buffer_size()].chunks_exact(channels) {
        for (count, c) in counts.iter_mut().zip(colours) {
            if (0..3).all(|i| px[i].abs_diff(c[i]) <= 40) {
                *count += 1;
            }
        }
    }
    counts
}

#[test]
fn a_browser_shows_the_certified_seal_on_the_site_and_the_copy_warning_elsewhere() {
    const SITE_HOST: &str = "chenxi-shuzhi.cn";
    const COPY_HOST: &str = "www.copycat-example.com";
    let started = Instant::now();
    let d = Deployment::new(Backend::Sqlite);
    d.ca(&["init"]).ok();
    let dns_port = free_port();
    let (op, staff) = (
        d.token("operator", "a@chenxi-shuzhi.cn"),
        d.token("staff", "staff@seal.test"),
    );
    let _server = d.serve_for_applications(dns_port);
    let (_, site) = d.certify(&op, &staff, dns_port, chenxi_application());
    let site_id = site["site"].as_str().unwrap();
    let snippet = site["snippet"].as_str().unwrap();
    let seal_url = site["seal_url"].as_str().unwrap();
    let certificate_url = site["certificate_url"].as_str().unwrap();
    assert!(
        snippet.contains(seal_url) && snippet.contains(certificate_url),
        "{site}"
    );

    // One loopback web server plays both the certified site and the copycat: the
    // page embeds the snippet verbatim, and only the host name differs.
    let page = format!(
        "<!doctype html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\">\
         <title>晨曦数智 官方商城</title></head>\n<body><h1>晨曦数智 官方商城</h1>\n\
         <p>欢迎光临。</p>\n<footer>{snippet}</footer>\n</body></html>\n"
    );
    let shop = testkit::browser::StaticSite::serve(&[("/", &page)]);
    let shots = testkit::browser::artifacts_dir("browser");
    let browser = Browser::start(&[SITE_HOST, COPY_HOST], "zh-CN,zh");

    let cases = [
        (
            SITE_HOST,
            SEAL_GREEN,
            "banner ok",
            format!("此印章显示在本证书认证的网站上： {SITE_HOST}"),
        ),
        (
            COPY_HOST,
            SEAL_RED,
            "banner warn",
            format!("警告：此印章显示在 {COPY_HOST} 上，本证书并不认证该网站。"),
        ),
    ];
    for (host, colour, banner_class, banner_text) in cases {
        let shop_url = format!("http://{host}:{}/", shop.port());
        browser.goto(&shop_url);
        assert_eq!(browser.current_url(), shop_url);

        // The seal loaded and rendered.
        let natural_width = browser.wait_for(&format!("the seal on {host} loading"), 30, |b| {
            b.js("const i = document.querySelector('a > img'); \
                  return i && i.complete ? i.naturalWidth : null;")
                .as_u64()
        });
        assert!(natural_width > 0, "the seal on {host} did not render");
        assert_eq!(
            browser.js("return document.querySelector('a > img').currentSrc;"),
            seal_url
        );
        browser.save_page(&shots.join(format!("{host}-page.png")));
        let seal = browser.find("a > img");
        let png = browser.save_element(&seal, &shots.join(format!("{host}-seal.png")));

        // It says what it should: green certified on the site, red elsewhere.
        let [green, red] = count_colours(&png, [SEAL_GREEN, SEAL_RED]);
        let (want, other) = if colour == SEAL_GREEN {
            (green, red)
        } else {
            (red, green)
        };
        eprintln!("{host}: seal {natural_width} px wide, {green} green and {red} red pixels");
        assert!(
            want >= 100 && other * 20 <= want,
            "the seal on {host} is not {colour:?}: {green} green and {red} red pixels"
        );

        // Clicking it leads to the certificate page, with the banner for this host.
        browser.run("click the seal", browser.find("a:has(> img)").click());
        let banner = browser.wait_for(&format!("the certificate page from {host}"), 30, |b| {
            let url = b.current_url();
            let found =
                b.rt.block_on(b.client.find(fantoccini::Locator::Css("#banner")));
            found.ok().filter(|_| url == certificate_url)
        });
        let class = browser.run("banner class", banner.attr("class"));
        let text = browser.run("banner text", banner.text());
        browser.save_page(&shots.join(format!("{host}-certificate.png")));
        assert_eq!(class.as_deref(), Some(banner_class), "{host}: {text}");
        assert_eq!(text.trim(), banner_text, "{host}");
        assert_eq!(
            browser.run("status", browser.find("#status").text()),
            "有效"
        );
    }

    // The copy was recorded for staff (off the request path: poll for it), and the
    // certified site was not.
    let copies = || {
        testkit::sqlite3(
            &d.db_url,
            &format!("SELECT host FROM seal_copies WHERE site_id = '{site_id}' ORDER BY host"),
        )
    };
    let deadline = Instant::now() + Duration::from_secs(15);
    while copies().trim().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(copies().trim(), COPY_HOST);
    eprintln!(
        "browser test: screenshots in {}, {:.1} s",
        shots.display(),
        started.elapsed().as_secs_f64()
    );
}

/// The document does not depend on the database: SQLite only.
#[test]
fn the_server_publishes_an_openapi_document_of_its_json_api_to_anyone() {
    let d = Deployment::new(Backend::Sqlite);
    d.ca(&["init"]).ok();
    let _server = d.serve();
    let response = http().get(d.url("/api/v1/openapi.json")).send().unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let doc: serde_json::Value = response.json().unwrap();
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1."),
        "{}",
        doc["openapi"]
    );
    assert_eq!(doc["info"]["title"], "Chengxin JSON API");
    let bearer = &doc["components"]["securitySchemes"]["bearer"];
    assert_eq!(bearer["type"], "http");
    assert_eq!(bearer["scheme"], "bearer");

    let authenticated: &[(&str, &[&str])] = &[
        ("/api/v1/applications", &["post"]),
        ("/api/v1/applications/{id}", &["get"]),
        ("/api/v1/applications/{id}/verify", &["post"]),
        ("/api/v1/applications/{id}/approve", &["post"]),
        ("/api/v1/applications/{id}/reject", &["post"]),
        ("/api/v1/sites/{site}", &["get"]),
        ("/api/v1/sites/{site}/revoke", &["post"]),
        ("/api/v1/sites/{site}/recheck", &["post"]),
        ("/api/v1/me", &["get"]),
    ];
    let public: &[(&str, &[&str])] = &[
        ("/api/v1/sites", &["get"]),
        ("/api/v1/check", &["get"]),
        ("/api/v1/openapi.json", &["get"]),
        ("/cert/{site}.json", &["get"]),
    ];
    for (paths, wants_token) in [(authenticated, true), (public, false)] {
        for (path, methods) in paths {
            let item = doc["paths"][path]
                .as_object()
                .unwrap_or_else(|| panic!("{path} is not in the document"));
            let listed: Vec<&str> = item.keys().map(String::as_str).collect();
            assert_eq!(&listed, methods, "{path}");
            for method in *methods {
                let op = &item[*method];
                assert_eq!(
                    op["security"] == serde_json::json!([{"bearer": []}]),
                    wants_token,
                    "{method} {path}: {}",
                    op["security"]
                );
                assert!(op["responses"]["200"].is_object() || op["responses"]["201"].is_object());
            }
        }
    }
    let apply = &doc["paths"]["/api/v1/applications"]["post"];
    assert_eq!(
        apply["requestBody"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/ApplyBody"
    );
    assert_eq!(
        apply["responses"]["422"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/InvalidFields"
    );
}

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
        let (serial, listing) = d.crl_listing_for("site.pem");
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
/// The link to `{public}{path}` in the newest queued mail to `to` (the `jobs` table
/// holds mail until the worker delivers it).
fn mailed_link(d: &Deployment, to: &str, path: &str) -> String {
    let sql = format!(
        "SELECT payload FROM jobs WHERE kind = 'mail' AND payload LIKE '%\"to\":\"{to}\"%' \
         ORDER BY id DESC LIMIT 1"
    );
    let rows = if d.db_url.starts_with("sqlite://") {
        testkit::sqlite3(&d.db_url, &sql)
    } else {
        testkit::psql(&d.db_url, &sql)
    };
    let mail: serde_json::Value = serde_json::from_str(rows.trim())
        .unwrap_or_else(|e| panic!("no mail to {to} ({e}): {rows:?}"));
    let prefix = d.url(path);
    format!(
        "{prefix}{}",
        url_after(mail["text"].as_str().unwrap(), &prefix)
    )
}

/// `application/x-www-form-urlencoded` encoding of one value.
fn form_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Logs in through the login form over plain HTTP, as a browser without JavaScript
/// would: the session cookie of the login page, its CSRF token, our own Origin.
/// Returns the status, the Location and the new session cookie.
fn form_login(d: &Deployment, email: &str, password: &str) -> (u16, String, String) {
    let client = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let page = client.get(d.url("/login")).send().unwrap();
    let cookie = |r: &reqwest::blocking::Response| {
        r.headers()
            .get("set-cookie")
            .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_string())
            .unwrap_or_default()
    };
    let anonymous = cookie(&page);
    let html = page.text().unwrap();
    let csrf = url_after(&html, "name=\"csrf\" value=\"")
        .trim_end_matches('>')
        .trim_end_matches('"')
        .to_string();
    let r = client
        .post(d.url("/login"))
        .header("cookie", &anonymous)
        .header("origin", d.url(""))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "csrf={}&email={}&password={}",
            form_encode(&csrf),
            form_encode(email),
            form_encode(password)
        ))
        .send()
        .unwrap();
    let location = r
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (r.status().as_u16(), location, cookie(&r))
}

#[test]
fn user_add_prints_a_working_token_last_and_a_password_file_lets_the_account_log_in() {
    for backend in Backend::all() {
        let d = Deployment::new(backend);
        d.ca(&["init"]).ok();
        let user_add = |args: &[&str]| {
            let mut cmd = Command::new(bin("badge-server"));
            d.env(&mut cmd);
            run(cmd.args(["user", "add"]).args(args))
        };
        let password_file = d.path("staff-password");
        std::fs::write(&password_file, "a staff passphrase 2026\n").unwrap();
        let staff = user_add(&[
            "--role",
            "staff",
            "--email",
            "Reviewer@Seal.test",
            "--password-file",
            password_file.to_str().unwrap(),
        ])
        .ok();
        let staff_token = staff.stdout.lines().last().unwrap().to_string();
        assert!(staff_token.starts_with("cx_"), "{}", staff.stdout);
        // Without a password file: a mail with a link to set one.
        let operator = user_add(&["--role", "operator", "--email", "ops@chenxi-shuzhi.cn"]).ok();
        let operator_token = operator.stdout.lines().last().unwrap().to_string();
        // The same address again, with another role: the role changes.
        let promoted = user_add(&["--role", "admin", "--email", "ops@chenxi-shuzhi.cn"]).ok();
        let admin_token = promoted.stdout.lines().last().unwrap().to_string();
        let weak = user_add(&[
            "--role",
            "user",
            "--email",
            "weak@seal.test",
            "--password-file",
            password_file.with_file_name("missing").to_str().unwrap(),
        ]);
        assert_eq!(weak.code, 1);
        assert!(weak.stderr.contains("cannot read"), "{}", weak.stderr);
        let bad_role = user_add(&["--role", "root", "--email", "x@seal.test"]);
        assert_eq!(bad_role.code, 1);
        assert!(
            bad_role.stderr.contains("unknown role"),
            "{}",
            bad_role.stderr
        );

        let _server = d.serve();
        let client = http();
        let me = |token: &str| -> serde_json::Value {
            client
                .get(d.url("/api/v1/me"))
                .bearer_auth(token)
                .send()
                .unwrap()
                .json()
                .unwrap()
        };
        assert_eq!(me(&staff_token)["email"], "reviewer@seal.test");
        assert_eq!(me(&staff_token)["role"], "staff");
        assert_eq!(me(&operator_token)["role"], "admin");
        assert_eq!(me(&admin_token)["email"], "ops@chenxi-shuzhi.cn");

        let (status, location, cookie) =
            form_login(&d, "reviewer@seal.test", "a staff passphrase 2026");
        assert_eq!(
            (status, location.as_str()),
            (303, "/account"),
            "{backend:?}"
        );
        let console = client
            .get(d.url("/console"))
            .header("cookie", &cookie)
            .send()
            .unwrap();
        assert_eq!(console.status(), 200);
        assert!(console.text().unwrap().contains("reviewer@seal.test"));
        // The account without a password cannot log in until it follows its link.
        let (status, _, _) = form_login(&d, "ops@chenxi-shuzhi.cn", "a staff passphrase 2026");
        assert_eq!(status, 401);
        let link = mailed_link(&d, "ops@chenxi-shuzhi.cn", "/password/reset?token=");
        assert_eq!(client.get(&link).send().unwrap().status(), 200);
    }
}

#[test]
fn a_person_registers_confirms_the_mailed_link_logs_in_and_out_in_a_browser() {
    let started = Instant::now();
    let d = Deployment::new(Backend::Sqlite);
    d.ca(&["init"]).ok();
    let _server = d.serve();
    let shots = testkit::browser::artifacts_dir("accounts");
    let b = Browser::start(&[], "zh-CN");
    let fill = |css: &str, text: &str| b.fill(css, text);
    let click = |css: &str| b.click(css);
    let text = |css: &str| b.text(css);

    b.goto(&d.url("/register"));
    fill("#email", "Han.Meimei@example.cn");
    fill("#password", "晨曦 correct horse");
    fill("#password2", "晨曦 correct horse");
    click("#role-operator");
    b.save_page(&shots.join("register.png"));
    click("#submit");
    b.wait_for("the check-your-mail page", 10, |b| {
        b.current_url().ends_with("/register").then_some(())
    });
    assert!(text("#message").contains("han.meimei@example.cn"));

    let link = mailed_link(&d, "han.meimei@example.cn", "/confirm?token=");
    b.goto(&link);
    // The link shows a button; only pressing it confirms.
    click("#confirm");
    b.wait_for("the confirmation", 10, |b| {
        b.current_url().ends_with("/confirm").then_some(())
    });
    assert!(
        text("#message").contains("邮箱已确认"),
        "{}",
        text("#message")
    );
    click("#next-link");
    b.wait_for("the login page", 10, |b| {
        b.current_url().ends_with("/login").then_some(())
    });
    fill("#email", "han.meimei@example.cn");
    fill("#password", "晨曦 correct horse");
    click("#submit");
    b.wait_for("the account page", 10, |b| {
        b.current_url().ends_with("/account").then_some(())
    });
    assert_eq!(text("dd#email"), "han.meimei@example.cn");
    assert!(text("#role").contains("operator"));
    // The cookie is HttpOnly: the page's script cannot read it.
    assert_eq!(b.js("return document.cookie;"), "");
    b.save_page(&shots.join("account.png"));

    click("#logout");
    b.wait_for("the login page after logout", 10, |b| {
        b.current_url().ends_with("/login").then_some(())
    });
    assert!(text("#nav-login").contains("登录"));
    b.goto(&d.url("/account"));
    assert!(
        b.current_url().ends_with("/login?next=%2Faccount"),
        "{}",
        b.current_url()
    );
    assert_eq!(
        testkit::sqlite3(
            &d.db_url,
            "SELECT COUNT(*) FROM sessions WHERE account_id IS NOT NULL"
        )
        .trim(),
        "0"
    );
    eprintln!(
        "register → confirm → login → logout in Chromium: {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

// ---------------------------------------------------------------------------------
// Notifications: the job queue delivering mail over real SMTP and signed webhooks.

/// Runs SQL on the deployment's database (psql or sqlite3, by its URL).
fn sql(d: &Deployment, statement: &str) -> String {
    if d.db_url.starts_with("postgres") {
        testkit::psql(&d.db_url, statement)
    } else {
        testkit::sqlite3(&d.db_url, statement)
    }
}

/// An SQL string literal.
fn sql_text(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Inserts a due job the way `queue::enqueue` does; returns its id.
fn insert_job(d: &Deployment, kind: &str, payload: &serde_json::Value) -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    sql(
        d,
        &format!(
            "INSERT INTO jobs (kind, payload, run_at, created_at) VALUES ({}, {}, {now}, {now}) \
             RETURNING id",
            sql_text(kind),
            sql_text(&payload.to_string())
        ),
    )
    .trim()
    .parse()
    .unwrap()
}

/// `(attempts, last_error, done_at is set)` of a job.
fn job_state(d: &Deployment, id: i64) -> (i64, String, bool) {
    let out = sql(
        d,
        &format!(
            "SELECT attempts, COALESCE(last_error, ''), done_at IS NOT NULL FROM jobs WHERE id = {id}"
        ),
    );
    let parts: Vec<&str> = out.trim().splitn(3, '|').collect();
    let done = matches!(parts[2], "t" | "1");
    (parts[0].parse().unwrap(), parts[1].to_string(), done)
}

/// Waits until `check` holds for the job, or panics with the server log.
fn wait_for_job(
    d: &Deployment,
    id: i64,
    secs: u64,
    what: &str,
    check: impl Fn(&(i64, String, bool)) -> bool,
) -> (i64, String, bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let state = job_state(d, id);
        if check(&state) {
            return state;
        }
        assert!(
            Instant::now() < deadline,
            "job {id}: {what} did not happen in {secs} s; now {state:?}\nserver log:\n{}",
            std::fs::read_to_string(d.path("server.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Settings for a server that delivers quickly: polls every 100 ms, retries after 1 s.
fn quick_queue(extra: &[(&'static str, String)]) -> Vec<(&'static str, String)> {
    let mut env = vec![
        ("CHENGXIN_JOB_POLL_MS", "100".to_string()),
        ("CHENGXIN_JOB_BACKOFF_SECS", "1".to_string()),
        ("CHENGXIN_JOB_BACKOFF_MAX_SECS", "2".to_string()),
    ];
    env.extend_from_slice(extra);
    env
}

#[test]
fn a_mail_with_a_chinese_subject_and_body_reaches_a_real_smtp_server_intact() {
    for backend in Backend::all() {
        let started = Instant::now();
        let d = Deployment::new(backend);
        let sink = testkit::SmtpSink::start();
        d.ca(&["init"]).ok();
        let _server = d.serve_with(&quick_queue(&[
            ("CHENGXIN_SMTP_URL", sink.url()),
            (
                "CHENGXIN_MAIL_FROM",
                "诚信 Chengxin <noreply@chengxin.test>".into(),
            ),
        ]));
        let subject = "【诚信】您的网站 chenxi-shuzhi.cn 收到一条新的投诉（编号 C-0001）";
        let text = "您好：\n\n北京晨曦数智科技有限公司的网站收到投诉，请在 5 日内答复。\n\
                    Reply within 5 days. — 诚信网站认证\n";
        let id = insert_job(
            &d,
            "mail",
            &serde_json::json!({"to": "ops@chenxi-shuzhi.cn", "subject": subject, "text": text}),
        );
        let mails = sink.wait_for(1, 30);
        assert_eq!(mails.len(), 1, "{backend:?}");
        let m = &mails[0];
        assert_eq!(m.subject, subject, "{backend:?}: raw\n{}", m.raw);
        assert_eq!(m.text.replace("\r\n", "\n"), text, "{backend:?}");
        assert_eq!(m.rcpt_tos, vec!["ops@chenxi-shuzhi.cn".to_string()]);
        assert_eq!(m.mail_from, "noreply@chengxin.test");
        assert!(m.from.contains("诚信 Chengxin"), "{}", m.from);
        assert!(
            m.message_id.starts_with(&format!("<job-{id}.")),
            "{}",
            m.message_id
        );
        // The subject travelled as RFC 2047 words: 7-bit clean on the wire.
        let subject_line = m.raw.lines().find(|l| l.starts_with("Subject:")).unwrap();
        assert!(subject_line.is_ascii(), "{subject_line}");
        let (attempts, _, done) = wait_for_job(&d, id, 10, "done", |s| s.2);
        assert_eq!((attempts, done), (1, true));
        eprintln!("{backend:?}: {:?}", started.elapsed());
    }
}

#[test]
fn mail_queued_while_the_smtp_server_is_down_is_retried_with_backoff_and_delivered_when_it_is_up() {
    for backend in Backend::all() {
        let d = Deployment::new(backend);
        let smtp_port = free_port();
        d.ca(&["init"]).ok();
        let _server = d.serve_with(&quick_queue(&[(
            "CHENGXIN_SMTP_URL",
            format!("smtp://127.0.0.1:{smtp_port}"),
        )]));
        let id = insert_job(
            &d,
            "mail",
            &serde_json::json!({"to": "user@example.cn", "subject": "确认您的邮箱", "text": "点击链接确认。"}),
        );
        let (_, error, _) = wait_for_job(&d, id, 20, "two failed attempts", |s| {
            s.0 >= 2 && !s.1.is_empty()
        });
        assert!(error.contains("SMTP"), "{backend:?}: {error}");
        let sink = testkit::SmtpSink::start_on(smtp_port);
        let mails = sink.wait_for(1, 20);
        assert_eq!(mails[0].subject, "确认您的邮箱");
        let (attempts, _, done) = wait_for_job(&d, id, 10, "done", |s| s.2);
        assert!(done && attempts >= 3, "{backend:?}: {attempts}");
        std::thread::sleep(Duration::from_secs(2));
        assert_eq!(sink.messages().len(), 1, "{backend:?}: delivered once");
    }
}

/// One request a [`HookReceiver`] got.
#[derive(Debug, Clone)]
struct Received {
    headers: std::collections::HashMap<String, String>,
    body: Vec<u8>,
}

/// A webhook receiver on loopback: answers the given statuses in turn (then 200) and
/// keeps every request.
struct HookReceiver {
    port: u16,
    requests: std::sync::Arc<std::sync::Mutex<Vec<Received>>>,
}

impl HookReceiver {
    fn start(statuses: Vec<u16>) -> Self {
        use std::io::{BufRead, BufReader, Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = requests.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                let mut headers = std::collections::HashMap::new();
                reader.read_line(&mut line).unwrap();
                headers.insert(":request".to_string(), line.trim().to_string());
                loop {
                    line.clear();
                    if reader.read_line(&mut line).unwrap() == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some((k, v)) = line.split_once(':') {
                        headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
                    }
                }
                let len: usize = headers
                    .get("content-length")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                let mut body = vec![0; len];
                reader.read_exact(&mut body).unwrap();
                let n = {
                    let mut all = seen.lock().unwrap();
                    all.push(Received { headers, body });
                    all.len()
                };
                let status = statuses.get(n - 1).copied().unwrap_or(200);
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} Whatever\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                );
            }
        });
        HookReceiver { port, requests }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/chengxin/events", self.port)
    }

    fn wait_for(&self, n: usize, secs: u64) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let got = self.requests.lock().unwrap().clone();
            if got.len() >= n {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "the receiver got {} of {n} requests in {secs} s",
                got.len()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// What a receiver does: recompute the HMAC over `<id>.<timestamp>.<body>` with the
/// secret, compare in constant time, and refuse timestamps older than 5 minutes.
fn receiver_accepts(secret: &str, r: &Received, now: i64) -> Result<(), String> {
    let id = r.headers.get("chengxin-webhook-id").ok_or("no id")?;
    let ts = r
        .headers
        .get("chengxin-webhook-timestamp")
        .ok_or("no timestamp")?;
    let sig = r
        .headers
        .get("chengxin-webhook-signature")
        .ok_or("no signature")?;
    let ts_num: i64 = ts.parse().map_err(|_| "bad timestamp")?;
    if (now - ts_num).abs() > 300 {
        return Err(format!("timestamp {ts} is too old (replay?)"));
    }
    let hex = sig.strip_prefix("v1=").ok_or("not a v1 signature")?;
    let tag = ::hex::decode(hex).map_err(|_| "signature is not hex")?;
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    let mut signed = format!("{id}.{ts}.").into_bytes();
    signed.extend_from_slice(&r.body);
    ring::hmac::verify(&key, &signed, &tag).map_err(|_| "signature mismatch".to_string())
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[test]
fn webhooks_are_signed_and_a_receiver_answering_500_gets_retries_until_it_accepts() {
    for backend in Backend::all() {
        let d = Deployment::new(backend);
        let receiver = HookReceiver::start(vec![500, 503]);
        d.ca(&["init"]).ok();
        let _server = d.serve_with(&quick_queue(&[(
            "CHENGXIN_ALLOW_PRIVATE_TARGETS",
            "127.0.0.1/32".into(),
        )]));
        let operator = d.token("operator", "ops@chenxi-shuzhi.cn");
        let client = http();
        let put = |url: &str| {
            client
                .put(d.url("/api/v1/me/webhook"))
                .bearer_auth(&operator)
                .json(&serde_json::json!({"url": url}))
                .send()
                .unwrap()
        };
        for refused in [
            "http://10.0.0.7/hook",
            "http://[::1]:8080/hook",
            "http://169.254.169.254/latest/meta-data",
            "gopher://127.0.0.1/",
        ] {
            let r = put(refused);
            assert_eq!(r.status(), 422, "{backend:?}: {refused} accepted");
        }
        let set: serde_json::Value = put(&receiver.url()).json().unwrap();
        let secret = set["secret"].as_str().unwrap().to_string();
        assert!(secret.starts_with("whsec_"), "{set}");

        let account: i64 = sql(
            &d,
            "SELECT id FROM accounts WHERE email = 'ops@chenxi-shuzhi.cn'",
        )
        .trim()
        .parse()
        .unwrap();
        let data =
            serde_json::json!({"complaint": "C-0001", "site": "s_test", "summary": "假冒客服电话"});
        let id = insert_job(
            &d,
            "webhook",
            &serde_json::json!({"account_id": account, "event": "complaint.submitted", "data": data}),
        );
        let got = receiver.wait_for(3, 30);
        let now = unix_now();
        for (i, r) in got.iter().enumerate() {
            assert!(
                r.headers[":request"].starts_with("POST /chengxin/events "),
                "{r:?}"
            );
            assert_eq!(r.headers["content-type"], "application/json");
            assert_eq!(r.headers["chengxin-webhook-id"], id.to_string());
            receiver_accepts(&secret, r, now)
                .unwrap_or_else(|e| panic!("{backend:?} delivery {i}: {e}"));
            assert!(receiver_accepts("whsec_wrong", r, now).is_err());
            let mut forged = r.clone();
            forged.body = br#"{"id":1,"event":"site.revoked"}"#.to_vec();
            assert!(receiver_accepts(&secret, &forged, now).is_err());
            assert!(
                receiver_accepts(&secret, r, now + 301).is_err(),
                "a replay is refused"
            );
            let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
            assert_eq!(body["id"], id);
            assert_eq!(body["event"], "complaint.submitted");
            assert_eq!(body["data"], data);
            assert!(body["created_at"].as_i64().unwrap() <= now);
        }
        let (attempts, _, done) = wait_for_job(&d, id, 10, "done", |s| s.2);
        assert_eq!((attempts, done), (3, true), "{backend:?}");

        // Deleted: later events are not sent.
        let deleted = client
            .delete(d.url("/api/v1/me/webhook"))
            .bearer_auth(&operator)
            .send()
            .unwrap();
        assert_eq!(deleted.status(), 204);
        let later = insert_job(
            &d,
            "webhook",
            &serde_json::json!({"account_id": account, "event": "complaint.answered", "data": {}}),
        );
        wait_for_job(&d, later, 10, "done", |s| s.2);
        assert_eq!(receiver.requests.lock().unwrap().len(), 3, "{backend:?}");
    }
}

#[test]
fn two_servers_on_one_postgresql_deliver_each_of_300_mails_exactly_once() {
    let started = Instant::now();
    let d = Deployment::new(Backend::Postgres);
    let sink = testkit::SmtpSink::start();
    d.ca(&["init"]).ok();
    let env = quick_queue(&[("CHENGXIN_SMTP_URL", sink.url())]);
    let _a = d.serve_with(&env);
    let second_port = free_port();
    let mut cmd = Command::new(bin("badge-server"));
    d.env(&mut cmd);
    for (k, v) in &env {
        cmd.env(k, v);
    }
    // A replica has a serial prefix of its own: the first server holds 1.
    let _b = Child(
        cmd.env("CHENGXIN_LISTEN", format!("127.0.0.1:{second_port}"))
            .env("CHENGXIN_CA_INSTANCE", "2")
            .arg("serve")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(d.path("server-b.log")).unwrap())
            .spawn()
            .unwrap(),
    );
    wait_for_port(&format!("127.0.0.1:{second_port}"), 30);

    let now = unix_now();
    sql(
        &d,
        &format!(
            "INSERT INTO jobs (kind, payload, run_at, created_at) \
             SELECT 'mail', json_build_object('to', 'user' || g || '@example.cn', \
               'subject', '第 ' || g || ' 封信', 'text', '正文 ' || g)::text, {now}, {now} \
             FROM generate_series(1, 300) AS g"
        ),
    );
    let mails = sink.wait_for(300, 120);
    // Give a duplicate, if any, time to arrive.
    std::thread::sleep(Duration::from_secs(3));
    let mails = if sink.messages().len() > mails.len() {
        sink.messages()
    } else {
        mails
    };
    let mut by_recipient = std::collections::BTreeMap::<String, usize>::new();
    for m in &mails {
        *by_recipient.entry(m.rcpt_tos.join(",")).or_default() += 1;
    }
    let twice: Vec<_> = by_recipient.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "delivered more than once: {twice:?}");
    let expected: std::collections::BTreeSet<String> =
        (1..=300).map(|g| format!("user{g}@example.cn")).collect();
    let got: std::collections::BTreeSet<String> = by_recipient.keys().cloned().collect();
    assert_eq!(got, expected, "missing or unexpected recipients");
    assert_eq!(mails.len(), 300);
    for m in &mails {
        let g = m.rcpt_tos[0]
            .trim_start_matches("user")
            .trim_end_matches("@example.cn");
        assert_eq!(m.subject, format!("第 {g} 封信"));
    }
    let done = sql(
        &d,
        "SELECT COUNT(*) FROM jobs WHERE kind = 'mail' AND done_at IS NOT NULL AND attempts = 1",
    );
    assert_eq!(done.trim(), "300");
    let workers = sql(
        &d,
        "SELECT locked_by, COUNT(*) FROM jobs WHERE kind = 'mail' GROUP BY locked_by ORDER BY 1",
    );
    eprintln!("per worker:\n{workers}in {:?}", started.elapsed());
    assert_eq!(
        workers.trim().lines().count(),
        2,
        "both servers took jobs: {workers}"
    );
}

// ---------------------------------------------------------------------------------
// The complaint pages in a browser, from registration to a revoked seal.

/// `badge-server user add` with a password file: the account's bearer token.
fn user_add(d: &Deployment, role: &str, email: &str, password: &str) -> String {
    let file = d.path(&format!("{role}-password"));
    std::fs::write(&file, format!("{password}\n")).unwrap();
    let mut cmd = Command::new(bin("badge-server"));
    d.env(&mut cmd);
    let out = run(cmd.args([
        "user",
        "add",
        "--role",
        role,
        "--email",
        email,
        "--password-file",
        file.to_str().unwrap(),
    ]))
    .ok();
    out.stdout.lines().last().unwrap().to_string()
}

#[test]
fn a_complaint_filed_answered_and_upheld_through_the_pages_turns_the_seal_on_the_site_red() {
    const SITE_HOST: &str = "chenxi-shuzhi.cn";
    const USER: &str = "li.xiaoming@example.cn";
    const OPERATOR: &str = "op@chenxi-shuzhi.cn";
    const STAFF: &str = "reviewer@chengxin.test";
    const PASSWORD: &str = "晨曦 correct horse";
    for backend in Backend::all() {
        let started = Instant::now();
        let d = Deployment::new(backend);
        d.ca(&["init"]).ok();
        let operator = user_add(&d, "operator", OPERATOR, "operator passphrase 2026");
        let staff = user_add(&d, "staff", STAFF, "staff passphrase 2026");
        let sink = testkit::SmtpSink::start();
        let dns_port = free_port();
        let miit = testkit::fixtures_dir().join("miit-rows.json");
        let _server = d.serve_with(&quick_queue(&[
            ("CHENGXIN_SMTP_URL", sink.url()),
            ("CHENGXIN_DNS_SERVERS", format!("127.0.0.1:{dns_port}")),
            ("CHENGXIN_DNS_TIMEOUT", "1".into()),
            ("CHENGXIN_HTTP_TIMEOUT", "2".into()),
            ("CHENGXIN_HTTP_CHALLENGE_PORT", free_port().to_string()),
            ("CHENGXIN_ICP_PROVIDER", format!("file:{}", miit.display())),
        ]));
        let (_, site) = d.certify(&operator, &staff, dns_port, chenxi_application());
        let site_id = site["site"].as_str().unwrap().to_string();
        let snippet = site["snippet"].as_str().unwrap();
        let page = format!(
            "<!doctype html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\">\
             <title>晨曦数智</title></head>\n<body><h1>晨曦数智 官方商城</h1>\n\
             <footer>{snippet}</footer>\n</body></html>\n"
        );
        let shop = testkit::browser::StaticSite::serve(&[("/", &page)]);
        let shots = testkit::browser::artifacts_dir("complaint");
        let tag = format!("{backend:?}").to_lowercase();
        let shot = |b: &Browser, name: &str| b.save_page(&shots.join(format!("{tag}-{name}.png")));
        let b = Browser::start(&[SITE_HOST], "zh-CN");
        let fill = |css: &str, text: &str| b.fill(css, text);
        let click = |css: &str| b.click(css);
        let text = |css: &str| b.text(css);
        let wait_path = |what: &str, path: &str| {
            b.wait_for(what, 15, |b| {
                b.current_url()
                    .split_once(&format!(":{}", d.port))
                    .is_some_and(|(_, p)| p.starts_with(path))
                    .then_some(())
            });
        };
        // Polled while a form submission navigates: an element of the page being left
        // goes stale, which is "not yet", not a failure.
        let status = |b: &Browser| {
            b.rt.block_on(async {
                let element = b
                    .client
                    .find(fantoccini::Locator::Css("#status"))
                    .await
                    .ok()?;
                element.attr("data-status").await.ok().flatten()
            })
            .unwrap_or_default()
        };
        let login = |email: &str, password: &str| {
            fill("#email", email);
            fill("#password", password);
            click("#submit");
        };
        let logout = || {
            click("#logout");
            wait_path("the login page after logout", "/login");
        };

        // A visitor registers and confirms by the link the SMTP server received.
        b.goto(&d.url("/register"));
        fill("#email", USER);
        fill("#password", PASSWORD);
        fill("#password2", PASSWORD);
        click("#role-user");
        click("#submit");
        wait_path("the check-your-mail page", "/register");
        assert!(text("#message").contains(USER));
        let confirm = {
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let found = sink
                    .messages()
                    .into_iter()
                    .find(|m| m.rcpt_tos.iter().any(|t| t == USER))
                    .map(|m| url_after(&m.text, &d.url("/confirm?token=")));
                if let Some(token) = found {
                    break d.url(&format!("/confirm?token={token}"));
                }
                assert!(
                    Instant::now() < deadline,
                    "no confirmation mail reached the sink"
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        };
        b.goto(&confirm);
        click("#confirm");
        b.wait_for("the confirmation", 15, |b| {
            b.current_url().ends_with("/confirm").then_some(())
        });
        assert!(text("#message").contains("邮箱已确认"));

        // From the certificate page to the complaint form, through the login.
        b.goto(&d.url(&format!("/cert/{site_id}")));
        assert_eq!(text("#status"), "有效");
        click("#report");
        wait_path("the login page", "/login?next=");
        login(USER, PASSWORD);
        wait_path("the complaint form", "/complaints/new?site=");
        click("#category option[value='fraud']");
        fill(
            "#text",
            "付款后一直不发货，客服电话13812345678无人接听。<script>alert(1)</script>",
        );
        shot(&b, "1-complaint-form");
        click("#submit");
        let complaint = b.wait_for("the complaint page", 15, |b| {
            let url = b.current_url();
            url.rsplit_once("/complaints/c_")
                .map(|(_, id)| format!("c_{id}"))
        });
        b.wait_for("forwarded", 15, |b| {
            (status(b) == "forwarded").then_some(())
        });
        assert!(
            text("#text").contains("<script>alert(1)</script>"),
            "shown as text"
        );
        shot(&b, "2-filed");
        logout();

        // The operator answers in the portal: the complaint is masked there.
        b.goto(&d.url("/login"));
        login(OPERATOR, "operator passphrase 2026");
        wait_path("the account page", "/account");
        click("#nav-portal");
        wait_path("the portal", "/portal");
        click("a.site-link");
        wait_path("the site page", &format!("/portal/sites/{site_id}"));
        let listed = text(&format!("#complaint-{complaint}"));
        assert!(
            !listed.contains("13812345678") && !listed.contains(USER),
            "{listed}"
        );
        fill(
            &format!("#answer-{complaint}"),
            "已安排发货，并已联系您退款运费。",
        );
        shot(&b, "3-portal");
        click(&format!("#complaint-{complaint} .answer-submit"));
        wait_path(
            "the answered complaint",
            &format!("/complaints/{complaint}"),
        );
        b.wait_for("answered", 15, |b| (status(b) == "answered").then_some(()));
        logout();

        // The visitor is not satisfied.
        b.goto(&d.url(&format!("/complaints/{complaint}")));
        wait_path("the login page", "/login?next=");
        login(USER, PASSWORD);
        wait_path("the complaint", &format!("/complaints/{complaint}"));
        assert!(text("#answer").contains("已安排发货"));
        click("#satisfied-no");
        fill("#feedback-text", "至今没有收到货。");
        click("#feedback-submit");
        b.wait_for("under review", 15, |b| {
            (status(b) == "under_review").then_some(())
        });
        shot(&b, "4-feedback");
        logout();

        // Staff uphold it from the console's queue.
        b.goto(&d.url("/login"));
        login(STAFF, "staff passphrase 2026");
        wait_path("the account page", "/account");
        b.goto(&d.url("/console"));
        shot(&b, "5-console");
        click(&format!("a.complaint-link[href='/complaints/{complaint}']"));
        wait_path("the complaint", &format!("/complaints/{complaint}"));
        click("#decision-upheld");
        fill("#decide-reason", "经核实，经营者收款后未发货，投诉成立。");
        click("#decide-submit");
        b.wait_for("upheld", 15, |b| (status(b) == "upheld").then_some(()));
        shot(&b, "6-upheld");

        // The seal on the operator's site now says revoked, in red (the server keeps
        // a site's facts for a second).
        std::thread::sleep(Duration::from_millis(1500));
        let shop_url = format!("http://{SITE_HOST}:{}/", shop.port());
        b.goto(&shop_url);
        b.wait_for("the seal loading", 30, |b| {
            b.js("const i = document.querySelector('a > img'); \
                  return i && i.complete ? i.naturalWidth : null;")
                .as_u64()
                .filter(|w| *w > 0)
        });
        shot(&b, "7-site");
        let seal = b.find("a > img");
        let png = b.save_element(&seal, &shots.join(format!("{tag}-8-seal.png")));
        let [green, red] = count_colours(&png, [SEAL_GREEN, SEAL_RED]);
        assert!(
            red >= 100 && green * 20 <= red,
            "the seal is not red: {green} green and {red} red pixels"
        );
        b.goto(&d.url(&format!("/cert/{site_id}")));
        assert_ne!(text("#status"), "有效");
        assert_eq!(
            d.sql(&format!(
                "SELECT status FROM complaints WHERE id = '{complaint}'"
            ))
            .trim(),
            "upheld"
        );
        eprintln!(
            "{backend:?}: complaint through the pages in Chromium, {:.1} s; screenshots in {}",
            started.elapsed().as_secs_f64(),
            shots.display()
        );
    }
}

/// SIGTERM lets the worker hand back the jobs it claimed: they are claimable at once
/// instead of after the 300 s lease. Here a mail hangs on an SMTP server that never
/// answers; after SIGTERM its row has no lease, and a server started against a real
/// SMTP server sends it within seconds. Deliveries are at-least-once (a process
/// killed between sending and recording sends again): the resent mail carries the
/// same `Message-ID`, derived from the job, so receivers can drop the duplicate.
#[test]
fn sigterm_releases_claimed_jobs_and_a_mail_sent_twice_keeps_its_message_id() {
    for backend in Backend::all() {
        let d = Deployment::new(backend);
        d.ca(&["init"]).ok();
        // Accepts connections and never says a word.
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let silent_url = format!("smtp://{}", silent.local_addr().unwrap());
        let held = std::thread::spawn(move || {
            let mut open = Vec::new();
            for s in silent.incoming().take(1) {
                open.push(s);
                std::thread::sleep(Duration::from_secs(60));
            }
        });
        let mut server = d.serve_with(&quick_queue(&[("CHENGXIN_SMTP_URL", silent_url)]));
        let id = insert_job(
            &d,
            "mail",
            &serde_json::json!({"to": "user@example.cn", "subject": "重置密码", "text": "打开链接。"}),
        );
        wait_for_job(&d, id, 20, "claimed", |s| s.0 >= 1);
        let pid = server.0.id().to_string();
        run(Command::new("kill").args(["-TERM", &pid])).ok();
        let stopped = Instant::now();
        while server.0.try_wait().unwrap().is_none() {
            assert!(
                stopped.elapsed() < Duration::from_secs(20),
                "{backend:?}: still running 20 s after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let lease = sql(
            &d,
            &format!("SELECT COALESCE(locked_until, 0) FROM jobs WHERE id = {id}"),
        );
        assert_eq!(lease.trim(), "0", "{backend:?}: the claim outlived SIGTERM");
        drop(held);

        let sink = testkit::SmtpSink::start();
        let _server = d.serve_with(&quick_queue(&[("CHENGXIN_SMTP_URL", sink.url())]));
        let first = sink.wait_for(1, 10);
        wait_for_job(&d, id, 10, "done", |s| s.2);
        // As if the process had died after sending and before recording it.
        sql(
            &d,
            &format!("UPDATE jobs SET done_at = NULL, locked_until = NULL WHERE id = {id}"),
        );
        let both = sink.wait_for(2, 10);
        assert!(
            first[0].message_id.starts_with(&format!("<job-{id}.")),
            "{}",
            first[0].message_id
        );
        assert_eq!(both[1].message_id, both[0].message_id, "{backend:?}");
    }
}

/// Every setting the README shows with a value — `CHENGXIN_NAME=value`, and
/// `` `CHENGXIN_NAME` (default) `` where the default is a number or a list of numbers —
/// in the order shown, without repeats.
fn settings_shown(text: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("CHENGXIN_") {
        let after = &rest[i..];
        let len = after
            .find(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
            .unwrap_or(after.len());
        let (name, tail) = after.split_at(len);
        let value = if let Some(v) = tail.strip_prefix('=') {
            Some(match v.chars().next() {
                Some(q @ ('\'' | '"')) => v[1..].split(q).next().unwrap_or_default(),
                _ => v
                    .split(|c: char| c.is_whitespace() || c == '`')
                    .next()
                    .unwrap_or_default(),
            })
        } else {
            tail.strip_prefix('`')
                .map(str::trim_start)
                .and_then(|t| t.strip_prefix('('))
                .and_then(|t| t.split(')').next())
                .filter(|v| !v.is_empty() && v.chars().all(|c| c.is_ascii_digit() || c == ','))
        };
        if let Some(v) = value {
            let pair = (name.to_string(), v.to_string());
            if !out.contains(&pair) {
                out.push(pair);
            }
        }
        rest = tail;
    }
    out
}

/// The README says how to configure the server; every value it shows must be taken as
/// shown. `CHENGXIN_AUTO_APPROVE=1` made the server refuse to start (`invalid value
/// '1' for '--auto-approve'`). The server is started with each value in turn (over a
/// working base configuration) and must answer `/healthz`. Values that name things
/// outside this machine work as shown (nothing is contacted at start); placeholders get
/// a local stand-in of the same shape: the passphrase file, and a SoftHSM2 token for
/// the PKCS#11 key.
#[test]
fn every_setting_the_readme_shows_is_accepted_as_shown() {
    let readme = std::fs::read_to_string(testkit::workspace_root().join("README.md")).unwrap();
    let shown = settings_shown(&readme);
    assert!(
        shown.contains(&("CHENGXIN_AUTO_APPROVE".into(), "1".into())),
        "{shown:?}"
    );
    let d = Deployment::new(Backend::Sqlite);
    d.ca(&["init"]).ok();
    let hsm = Deployment::new(Backend::Sqlite);
    let (conf, module) = testkit::softhsm_token(hsm.dir.path());
    let pkcs11 = format!("module={module};token=chengxin;key=issuing");
    let hsm_env = [
        ("SOFTHSM2_CONF", conf.display().to_string()),
        ("CHENGXIN_CA_PKCS11", pkcs11),
        ("CHENGXIN_CA_PKCS11_PIN", "123456".to_string()),
    ];
    let mut init = Command::new(bin("ca"));
    hsm.env(&mut init);
    for (k, v) in &hsm_env {
        init.env(k, v);
    }
    run(init.arg("init")).ok();
    let passphrase = d.path("passphrase");
    std::fs::write(&passphrase, PASSPHRASE).unwrap();
    std::fs::set_permissions(
        &passphrase,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    for (name, value) in &shown {
        let (deployment, env): (&Deployment, Vec<(&str, String)>) = match name.as_str() {
            "CHENGXIN_CA_PASSPHRASE_FILE" => (&d, vec![(name, passphrase.display().to_string())]),
            "CHENGXIN_CA_PKCS11" => (&hsm, hsm_env.to_vec()),
            _ => {
                assert!(
                    !value.contains('…'),
                    "{name}={value} is a placeholder: give it a local stand-in here"
                );
                (&d, vec![(name, value.clone())])
            }
        };
        let _server = deployment.serve_with(&env);
        let health = http().get(deployment.url("/healthz")).send().unwrap();
        assert_eq!(health.status(), 200, "{name}={value}");
    }
}

/// Sockets that never send a request are closed after the header timeout, and the
/// connection limit leaves descriptors for the database: 100 idle sockets against a
/// server limited to 96 open files and 20 connections, and `/healthz` still answers.
/// Before, idle sockets stayed open for ever, and 260 of them on a 256-descriptor
/// limit stopped `/healthz`.
#[test]
fn idle_sockets_are_closed_and_healthz_keeps_answering_under_a_descriptor_limit() {
    let d = Deployment::new(Backend::Sqlite);
    d.ca(&["init"]).ok();
    let mut cmd = Command::new("prlimit");
    cmd.args(["--nofile=96:96", "--"]).arg(bin("badge-server"));
    d.env(&mut cmd);
    let log = std::fs::File::create(d.path("server.log")).unwrap();
    let _server = Child(
        cmd.arg("serve")
            .env("CHENGXIN_HEADER_TIMEOUT_SECS", "1")
            .env("CHENGXIN_MAX_CONNECTIONS", "20")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    let addr = format!("127.0.0.1:{}", d.port);
    wait_for_port(&addr, 30);
    let idle: Vec<std::net::TcpStream> = (0..100)
        .map(|_| std::net::TcpStream::connect(&addr).unwrap())
        .collect();
    let asked = Instant::now();
    let health = http().get(d.url("/healthz")).send();
    let health = health.unwrap_or_else(|e| {
        panic!(
            "/healthz did not answer: {e}\n{}",
            std::fs::read_to_string(d.path("server.log")).unwrap_or_default()
        )
    });
    assert_eq!(health.status(), 200);
    eprintln!("/healthz answered after {:?}", asked.elapsed());
    for mut s in idle {
        use std::io::Read;
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut buf = [0u8; 16];
        match s.read(&mut buf) {
            Ok(0) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            other => panic!("an idle socket is still open: {other:?}"),
        }
    }
}

/// Jobs of one kind do not wait behind another's: with 30 webhooks hanging on an
/// endpoint that never answers, a password-reset mail queued after them still goes
/// out within 2 s (the worker used to wait for a whole batch of 10, each webhook up
/// to its timeout: 0.14 s became 78 s).
#[test]
fn a_never_answering_webhook_delays_a_reset_mail_by_under_two_seconds() {
    for backend in Backend::all() {
        let d = Deployment::new(backend);
        d.ca(&["init"]).ok();
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let hook = format!("http://{}/hook", silent.local_addr().unwrap());
        std::thread::spawn(move || {
            let open: Vec<_> = silent.incoming().collect();
            drop(open);
        });
        let sink = testkit::SmtpSink::start();
        let _server = d.serve_with(&quick_queue(&[
            ("CHENGXIN_ALLOW_PRIVATE_TARGETS", "127.0.0.1/32".into()),
            ("CHENGXIN_SMTP_URL", sink.url()),
        ]));
        let operator = d.token("operator", "ops@chenxi-shuzhi.cn");
        let set = http()
            .put(d.url("/api/v1/me/webhook"))
            .bearer_auth(&operator)
            .json(&serde_json::json!({"url": hook}))
            .send()
            .unwrap();
        assert_eq!(set.status(), 200, "{backend:?}");
        let account = sql(
            &d,
            "SELECT id FROM accounts WHERE email = 'ops@chenxi-shuzhi.cn'",
        );
        let hooks: Vec<i64> = (0..30)
            .map(|_| {
                insert_job(
                    &d,
                    "webhook",
                    &serde_json::json!({"account_id": account.trim().parse::<i64>().unwrap(),
                                        "event": "complaint.submitted", "data": {}}),
                )
            })
            .collect();
        wait_for_job(&d, hooks[0], 10, "claimed", |s| s.0 >= 1);
        let queued = Instant::now();
        insert_job(
            &d,
            "mail",
            &serde_json::json!({"to": "user@example.cn", "subject": "重置密码 / Reset your password", "text": "打开链接。"}),
        );
        sink.wait_for(1, 30);
        let took = queued.elapsed();
        assert!(
            took < Duration::from_secs(2),
            "{backend:?}: the mail took {took:?}"
        );
        eprintln!("{backend:?}: the reset mail went out after {took:?}");
    }
}

/// Secrets stay where they are: `--help` shows no environment value (it printed the
/// SMTP URL with its password and the database URL); the SQLite file, which holds
/// webhook secrets, is readable by its owner only (it was 0644); a passphrase file
/// others can read is refused; and no reset link or token reaches the log, even at
/// debug level and without SMTP (development).
#[test]
fn secrets_stay_out_of_help_text_other_users_reach_and_the_log() {
    let secret_env = [
        (
            "CHENGXIN_SMTP_URL",
            "smtps://mailer:smtp-s3cret@smtp.example.cn",
        ),
        (
            "CHENGXIN_DATABASE_URL",
            "postgres://chengxin:db-s3cret@db.example.cn/chengxin",
        ),
        (
            "CHENGXIN_ICP_PROVIDER",
            "miit:https://key:icp-s3cret@icp.example.cn",
        ),
    ];
    for (binary, args) in [
        ("badge-server", vec!["serve", "--help"]),
        ("badge-server", vec!["--help"]),
        ("ca", vec!["--help"]),
        ("verifier", vec!["check", "--help"]),
    ] {
        let mut cmd = Command::new(bin(binary));
        cmd.args(&args).envs(secret_env);
        let out = run(&mut cmd).ok().stdout;
        assert!(!out.contains("s3cret"), "{binary} {args:?}:\n{out}");
    }

    let d = Deployment::new(Backend::Sqlite);
    d.ca(&["init"]).ok();
    let open = d.path("open-passphrase");
    std::fs::write(&open, PASSPHRASE).unwrap();
    std::fs::set_permissions(&open, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let mut cmd = Command::new(bin("badge-server"));
    d.env(&mut cmd);
    let mut refused = Child(
        cmd.arg("serve")
            .env("CHENGXIN_CA_PASSPHRASE_FILE", &open)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let started = Instant::now();
    let status = loop {
        if let Some(status) = refused.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the server started with a passphrase file others can read"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(!status.success());
    let mut said = String::new();
    std::io::Read::read_to_string(&mut refused.0.stderr.take().unwrap(), &mut said).unwrap();
    assert!(said.contains("readable by other users"), "{said}");

    let _server = d.serve_with(&quick_queue(&[("RUST_LOG", "debug".into())]));
    let db = d.db_url.strip_prefix("sqlite://").unwrap();
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(db).unwrap().permissions());
    assert_eq!(mode & 0o077, 0, "the database file is {mode:o}");
    // A reset mail queued (without SMTP it is logged), and a reset page opened with a token.
    let mut add = Command::new(bin("badge-server"));
    d.env(&mut add);
    run(add.args([
        "user",
        "add",
        "--role",
        "staff",
        "--email",
        "staff@chengxin.test",
    ]))
    .ok();
    let id: i64 = sql(&d, "SELECT MAX(id) FROM jobs WHERE kind = 'mail'")
        .trim()
        .parse()
        .unwrap();
    wait_for_job(&d, id, 10, "done", |s| s.2);
    http()
        .get(d.url("/password/reset?token=t0ken-in-the-url-s3cret"))
        .send()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let log = std::fs::read_to_string(d.path("server.log")).unwrap();
    assert!(
        log.contains("staff@chengxin.test"),
        "the mail is logged:\n{log}"
    );
    assert!(
        log.contains("token=[redacted]"),
        "the link is logged redacted:\n{log}"
    );
    assert_eq!(
        log.matches("token=").count(),
        log.matches("token=[redacted]").count(),
        "a link with its token in the log:\n{log}"
    );
    assert!(
        !log.contains("s3cret"),
        "a token from a URL in the log:\n{log}"
    );
}
