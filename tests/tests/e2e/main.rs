//! End-to-end: the real `ca` and `badge-server` binaries on both database backends,
//! checked from the outside with `openssl`, an HTTP client and headless Chromium.
//!
//! One test binary, one module per flow; what several flows share (a [`Deployment`],
//! the HTTP client, the job table, the seal's colours) is here.

#![allow(clippy::unwrap_used, missing_docs)]

mod accounts;
mod api;
mod applications;
mod board;
mod browser;
mod browser_log;
mod complaints;
mod console;
mod demo;
mod limits;
mod log;
mod mail_webhooks;
mod members;
mod metrics;
mod pki;
mod replicas;
mod reports;
mod seal;
mod settings;
mod site;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use testkit::{Backend, Child, Run, bin, free_port, openssl, run};

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
        self.spawn_server(self.port, "server.log", extra)
    }

    /// Starts another `badge-server serve` on the same database and CA directory, on
    /// a port of its own, as a replica behind the same public URL: it holds serial
    /// prefix `instance` (the first server holds 1) and logs to `server-{instance}.log`.
    /// Returns the server and its port.
    fn serve_replica(&self, instance: u8, extra: &[(&str, String)]) -> (Child, u16) {
        let port = free_port();
        let mut env = vec![
            ("CHENGXIN_LISTEN", format!("127.0.0.1:{port}")),
            ("CHENGXIN_CA_INSTANCE", instance.to_string()),
        ];
        env.extend(extra.iter().map(|(k, v)| (*k, v.clone())));
        let log = format!("server-{instance}.log");
        (self.spawn_server(port, &log, &env), port)
    }

    /// `badge-server serve` listening on `port`, its stderr in `log`: waits for the
    /// port, and panics with the log when the server exits first.
    fn spawn_server(&self, port: u16, log_name: &str, extra: &[(&str, String)]) -> Child {
        let mut cmd = Command::new(bin("badge-server"));
        self.env(&mut cmd);
        for (k, v) in extra {
            cmd.env(k, v);
        }
        let log = std::fs::File::create(self.path(log_name)).unwrap();
        let mut child = cmd
            .arg("serve")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        // A server that exits (a setting refused) says why at once.
        let addr = format!("127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(&addr).is_err() {
            if let Some(status) = child.try_wait().unwrap() {
                panic!(
                    "badge-server serve exited ({status}) with {extra:?}:\n{}",
                    std::fs::read_to_string(self.path(log_name)).unwrap_or_default()
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

    /// A new CA and a running server with the chenxi-shuzhi.cn application certified
    /// (operator and staff tokens made for it): the server and the approved site.
    fn certified_chenxi(&self) -> (Child, serde_json::Value) {
        self.ca(&["init"]).ok();
        let dns_port = free_port();
        let (op, staff) = (
            self.token("operator", "a@chenxi-shuzhi.cn"),
            self.token("staff", "staff@seal.test"),
        );
        let server = self.serve_for_applications(dns_port);
        let (_, site) = self.certify(&op, &staff, dns_port, chenxi_application());
        (server, site)
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

    /// As [`Deployment::crl_listing_for`], fetched again (for up to 5 s) until it
    /// lists `cert`: a revocation through the server is published by the
    /// `crl.publish` job at the end of its second, not in its own transaction.
    fn crl_listing_once_listed(&self, cert: &str) -> (String, String) {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let (serial, listing) = self.crl_listing_for(cert);
            if listing.contains(serial.trim()) || Instant::now() > deadline {
                return (serial, listing);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
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
        "icp": "京ICP备2024018653号-1", "province": "北京市", "city": "市辖区"
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

fn url_after(text: &str, marker: &str) -> String {
    let start = text
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} not in {text}"))
        + marker.len();
    text[start..].split_whitespace().next().unwrap().to_string()
}

/// The seal's colours (badge-server/src/seal.rs): certified, and "not certified for
/// this site".
const SEAL_GREEN: [u8; 3] = [0x1a, 0x7f, 0x37];
const SEAL_RED: [u8; 3] = [0xcf, 0x22, 0x2e];
/// The seal that asks to check the address bar (no Referer).
const SEAL_BLUE: [u8; 3] = [0x09, 0x69, 0xda];

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

/// Runs SQL on the deployment's database (psql or sqlite3, by its URL).
fn sql(d: &Deployment, statement: &str) -> String {
    if d.db_url.starts_with("postgres") {
        testkit::psql(&d.db_url, statement)
    } else {
        testkit::sqlite3(&d.db_url, statement)
    }
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
