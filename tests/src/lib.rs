//! The test harness every crate's integration tests share: both database backends
//! (SQLite files and databases on a real PostgreSQL server), `openssl` and the
//! workspace's binaries run as real processes, the shared fixtures, and headless
//! Chromium for browser tests ([`browser`]).
//!
//! PostgreSQL comes from `CHENGXIN_TEST_DATABASE_URL` (an admin URL on a running
//! server; `scripts/test` starts one). A test that needs it and does not find it fails
//! loudly: it never skips.

#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

pub mod browser;

/// The two database backends every storage test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// An SQLite file in the test's temporary directory.
    Sqlite,
    /// A fresh database on the PostgreSQL server of `CHENGXIN_TEST_DATABASE_URL`.
    Postgres,
}

impl Backend {
    /// Both backends, SQLite first.
    pub fn all() -> [Backend; 2] {
        [Backend::Sqlite, Backend::Postgres]
    }

    /// A URL to a new, empty database for one test.
    pub fn fresh_database(self, dir: &Path) -> String {
        match self {
            Backend::Sqlite => format!("sqlite://{}", dir.join("chengxin.db").display()),
            Backend::Postgres => fresh_postgres_database(),
        }
    }
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Creates a database on the test PostgreSQL server and returns its URL.
pub fn fresh_postgres_database() -> String {
    let admin = std::env::var("CHENGXIN_TEST_DATABASE_URL").unwrap_or_else(|_| {
        panic!(
            "CHENGXIN_TEST_DATABASE_URL is not set: these tests need a real PostgreSQL server. \
             Run scripts/test, which starts one, or point the variable at a server."
        )
    });
    let name = format!(
        "t_{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
    );
    let out = Command::new("psql")
        .arg(&admin)
        .args([
            "-v",
            "ON_ERROR_STOP=1",
            "-qc",
            &format!("CREATE DATABASE {name}"),
        ])
        .output()
        .expect("psql must be installed (apt-get install postgresql-client)");
    assert!(
        out.status.success(),
        "CREATE DATABASE failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (base, _) = admin
        .rsplit_once('/')
        .expect("database URL ends in /dbname");
    format!("{base}/{name}")
}

/// Runs an SQL statement with psql against a PostgreSQL URL (for SQLite see
/// [`sqlite3`]).
pub fn psql(url: &str, sql: &str) -> String {
    let out = Command::new("psql")
        .arg(url)
        .args(["-v", "ON_ERROR_STOP=1", "-qAtc", sql])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "psql {sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs an SQL statement with the `sqlite3` shell (Debian `sqlite3`) against an
/// SQLite URL (`sqlite://PATH`) or file, waiting up to 5 s for a writer's lock; the
/// rows come back one a line, columns separated by `|`.
pub fn sqlite3(url: &str, sql: &str) -> String {
    let path = url.strip_prefix("sqlite://").unwrap_or(url);
    let out = Command::new("sqlite3")
        .args(["-batch", "-noheader", "-cmd", ".timeout 5000", path, sql])
        .output()
        .expect("sqlite3 must be installed (apt-get install sqlite3)");
    assert!(
        out.status.success(),
        "sqlite3 {sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A SoftHSM2 token labelled `chengxin` (user PIN `123456`, SO PIN `654321`) with its
/// token directory in `dir`: the `SOFTHSM2_CONF` file to point the process at, and
/// the module's path for `CHENGXIN_CA_PKCS11=module=…`.
pub fn softhsm_token(dir: &Path) -> (PathBuf, String) {
    let module = [
        "/usr/lib/softhsm/libsofthsm2.so",
        "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    ]
    .into_iter()
    .find(|p| Path::new(p).exists())
    .expect("SoftHSM2 is required (apt-get install softhsm2)");
    let tokens = dir.join("tokens");
    std::fs::create_dir_all(&tokens).unwrap();
    let conf = dir.join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\n",
            tokens.display()
        ),
    )
    .unwrap();
    run(Command::new("softhsm2-util")
        .env("SOFTHSM2_CONF", &conf)
        .args([
            "--init-token",
            "--free",
            "--label",
            "chengxin",
            "--pin",
            "123456",
            "--so-pin",
            "654321",
        ]))
    .ok();
    (conf, module.to_string())
}

/// The workspace root (the directory holding the top-level Cargo.toml).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// `shared/fixtures`, laid beside the repository.
pub fn fixtures_dir() -> PathBuf {
    let dir = workspace_root()
        .parent()
        .unwrap()
        .join("shared")
        .join("fixtures");
    assert!(dir.is_dir(), "fixtures not found at {}", dir.display());
    dir
}

/// A workspace binary (`ca`, `verifier`, `badge-server`) built by `cargo build --bins`.
pub fn bin(name: &str) -> PathBuf {
    if let Ok(dir) = std::env::var("CHENGXIN_BIN_DIR") {
        return Path::new(&dir).join(name);
    }
    // target/<profile>/deps/<test-binary> → target/<profile>/<name>
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(Path::parent).unwrap();
    let path = profile_dir.join(name);
    assert!(
        path.exists(),
        "{} not built: run `cargo build --workspace --bins` first (scripts/test does)",
        path.display()
    );
    path
}

/// `tlogcheck` (tests/go/tlogcheck), the independent Go checker of the transparency
/// log on Debian's `golang.org/x/mod/sumdb`, built once per test process with
/// `scripts/tlogcheck-build` (a build lock keeps parallel test binaries from racing).
pub fn tlogcheck() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let root = workspace_root();
            let out = root.join("target").join("tlogcheck").join("tlogcheck");
            let r = run(Command::new("flock")
                .arg(root.join("target").join("tlogcheck.lock"))
                .arg(root.join("scripts").join("tlogcheck-build"))
                .arg(&out)
                .current_dir(&root));
            assert_eq!(r.code, 0, "scripts/tlogcheck-build failed: {r:?}");
            out
        })
        .clone()
}

/// A finished process, with its output as text.
#[derive(Debug)]
pub struct Run {
    /// Exit code (-1 when killed by a signal).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Run {
    /// Asserts exit code 0 and returns self.
    #[track_caller]
    pub fn ok(self) -> Self {
        assert_eq!(
            self.code, 0,
            "command failed\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

impl From<Output> for Run {
    fn from(o: Output) -> Self {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

/// Runs a command to completion.
pub fn run(cmd: &mut Command) -> Run {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
        .into()
}

/// Runs `openssl` with arguments in `dir`.
pub fn openssl(dir: &Path, args: &[&str]) -> Run {
    run(Command::new("openssl").current_dir(dir).args(args))
}

/// A TCP port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child process that is killed when dropped.
#[derive(Debug)]
pub struct Child(pub std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits until `addr` accepts TCP connections, or panics after `secs` seconds.
pub fn wait_for_port(addr: &str, secs: u64) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "{addr} did not start listening in {secs} s"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// A real DNS server (dnsmasq) on a loopback port, serving only the records given.
/// Names under `.test`, `.cn` and `.com` it does not hold get NXDOMAIN.
#[derive(Debug)]
pub struct DnsServer {
    _child: Child,
    /// Where it listens (UDP and TCP).
    pub addr: std::net::SocketAddr,
    _dir: tempfile::TempDir,
}

/// The records a [`DnsServer`] serves.
#[derive(Debug, Default, Clone)]
pub struct Zone {
    lines: Vec<String>,
}

impl Zone {
    /// No records.
    pub fn new() -> Self {
        Zone::default()
    }
    /// An A or AAAA record.
    pub fn addr(mut self, name: &str, ip: &str) -> Self {
        self.lines.push(format!("host-record={name},{ip}"));
        self
    }
    /// A TXT record.
    pub fn txt(mut self, name: &str, value: &str) -> Self {
        self.lines.push(format!("txt-record={name},\"{value}\""));
        self
    }
    /// A CNAME record.
    pub fn cname(mut self, alias: &str, target: &str) -> Self {
        self.lines.push(format!("cname={alias},{target}"));
        self
    }
    /// Starts dnsmasq with these records on a free port.
    pub fn start(self) -> DnsServer {
        self.start_on(free_port())
    }

    /// Starts dnsmasq with these records on `port` (to replace a server whose address
    /// is already configured somewhere).
    pub fn start_on(self, port: u16) -> DnsServer {
        let dir = tempfile::tempdir().unwrap();
        let mut conf = format!(
            "port={port}\nlisten-address=127.0.0.1\nbind-interfaces\nno-resolv\nno-hosts\nno-poll\n\
             local=/test/\nlocal=/cn/\nlocal=/com/\nlocal-ttl=0\n"
        );
        for l in &self.lines {
            conf.push_str(l);
            conf.push('\n');
        }
        let conf_path = dir.path().join("dnsmasq.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let dnsmasq = ["/usr/sbin/dnsmasq", "/usr/bin/dnsmasq"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .expect("dnsmasq is required for DNS tests (apt-get install dnsmasq-base)");
        let mut cmd = Command::new(dnsmasq);
        cmd.arg("--keep-in-foreground")
            .arg(format!("--conf-file={}", conf_path.display()))
            .arg(format!("--pid-file={}", dir.path().join("pid").display()))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        if is_root() {
            cmd.arg("--user=root");
        }
        let child = Child(cmd.spawn().unwrap());
        let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        wait_for_port(&addr.to_string(), 10);
        DnsServer {
            _child: child,
            addr,
            _dir: dir,
        }
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.starts_with(b"0\n"))
        .unwrap_or(false)
}

/// The aiosmtpd handler an [`SmtpSink`] runs: each message is decoded with Python's
/// `email` package and saved as one JSON file (written aside, then renamed, so a
/// reader never sees half a file).
const SMTP_SINK_HANDLER: &str = r#"
import email, email.policy, json, os

class JsonSink:
    def __init__(self, directory):
        self.dir = directory
        self.n = 0

    @classmethod
    def from_cli(cls, parser, *args):
        return cls(args[0])

    async def handle_DATA(self, server, session, envelope):
        raw = envelope.original_content or envelope.content
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        body = msg.get_body(preferencelist=("plain",))
        self.n += 1
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "from": str(msg["From"]),
            "to": str(msg["To"]),
            "subject": str(msg["Subject"]),
            "message_id": str(msg["Message-ID"]),
            "content_type": msg.get_content_type(),
            "charset": msg.get_content_charset(),
            "text": body.get_content() if body is not None else "",
            "raw": raw.decode("utf-8", "replace"),
        }
        name = os.path.join(self.dir, "%06d-%d.json" % (self.n, os.getpid()))
        with open(name + ".tmp", "w", encoding="utf-8") as f:
            json.dump(record, f, ensure_ascii=False)
        os.rename(name + ".tmp", name)
        return "250 OK"
"#;

/// One message an [`SmtpSink`] received, decoded.
#[derive(Debug, Clone)]
pub struct Mail {
    /// Envelope sender.
    pub mail_from: String,
    /// Envelope recipients.
    pub rcpt_tos: Vec<String>,
    /// `From:` as decoded (RFC 2047 words turned back into text).
    pub from: String,
    /// `To:` as decoded.
    pub to: String,
    /// `Subject:` as decoded.
    pub subject: String,
    /// `Message-ID:`.
    pub message_id: String,
    /// The text/plain body as decoded (transfer encoding and charset undone).
    pub text: String,
    /// The message as it came over the wire.
    pub raw: String,
}

/// A real SMTP server on a loopback port (Debian `python3-aiosmtpd`, run as
/// `/usr/bin/python3 -m aiosmtpd`) that keeps every message it receives.
#[derive(Debug)]
pub struct SmtpSink {
    _child: Child,
    /// The port it listens on.
    pub port: u16,
    dir: tempfile::TempDir,
}

impl SmtpSink {
    /// Starts a sink on a free port.
    pub fn start() -> Self {
        SmtpSink::start_on(free_port())
    }

    /// Starts a sink on `port` (to bring up a server a configuration already names).
    pub fn start_on(port: u16) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let code = dir.path().join("code");
        let mail = dir.path().join("mail");
        std::fs::create_dir_all(&code).unwrap();
        std::fs::create_dir_all(&mail).unwrap();
        std::fs::write(code.join("chengxin_sink.py"), SMTP_SINK_HANDLER).unwrap();
        let python = "/usr/bin/python3";
        let child = Command::new(python)
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "chengxin_sink.JsonSink"])
            .arg(&mail)
            .env("PYTHONPATH", &code)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("python3 must be installed with aiosmtpd (apt-get install python3-aiosmtpd)");
        let child = Child(child);
        wait_for_port(&format!("127.0.0.1:{port}"), 15);
        SmtpSink {
            _child: child,
            port,
            dir,
        }
    }

    /// `smtp://127.0.0.1:PORT`, for `CHENGXIN_SMTP_URL`.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Every message received so far, in order of arrival.
    pub fn messages(&self) -> Vec<Mail> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(self.dir.path().join("mail"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        names.sort();
        names
            .iter()
            .map(|p| {
                let v: serde_json::Value =
                    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
                let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
                Mail {
                    mail_from: s("mail_from"),
                    rcpt_tos: v["rcpt_tos"]
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .filter_map(|x| x.as_str().map(str::to_string))
                                .collect()
                        })
                        .unwrap_or_default(),
                    from: s("from"),
                    to: s("to"),
                    subject: s("subject"),
                    message_id: s("message_id"),
                    text: s("text"),
                    raw: s("raw"),
                }
            })
            .collect()
    }

    /// Waits until at least `n` messages arrived (panics after `secs` seconds) and
    /// returns them all.
    pub fn wait_for(&self, n: usize, secs: u64) -> Vec<Mail> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        loop {
            let got = self.messages();
            if got.len() >= n {
                return got;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the SMTP sink received {} of {n} messages in {secs} s",
                got.len()
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}

/// What [`pkilint`] lints, and so which of its command-line linters runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Artefact {
    /// An X.509 certificate, against RFC 5280 (`lint_pkix_cert`). Ours are not TLS
    /// server certificates, so the CA/B Forum linters do not apply.
    Certificate,
    /// A CRL, against RFC 5280 (`lint_crl -t CRL -p PKIX`).
    Crl,
    /// An OCSP response, against RFC 6960 (`lint_ocsp_response`).
    OcspResponse,
}

/// One pkilint finding below ERROR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// `WARNING` or `NOTICE`.
    pub severity: String,
    /// pkilint's code, such as `pkix.subject_key_identifier_method_1_identified`.
    pub code: String,
    /// Where in the document (`certificate.tbsCertificate.extensions.3`).
    pub node_path: String,
    /// pkilint's message, when it gives one.
    pub message: Option<String>,
}

/// The pkilint venv: `CHENGXIN_PKILINT_VENV`, by default `target/pkilint-venv` in the
/// workspace, which `scripts/pkilint-venv` (run by `.ci/run`) creates.
pub fn pkilint_venv() -> PathBuf {
    std::env::var_os("CHENGXIN_PKILINT_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target").join("pkilint-venv"))
}

/// Lints a DER artefact with pkilint (PyPI), a linter nobody here wrote. Panics,
/// naming every finding, on any ERROR or FATAL finding, when pkilint cannot read the
/// document, or when pkilint is not installed (it never skips); returns the WARNING
/// and NOTICE findings so that a test can say which it expects.
#[track_caller]
pub fn pkilint(kind: Artefact, der: &[u8]) -> Vec<Finding> {
    let venv = pkilint_venv();
    let (cli, extra): (&str, &[&str]) = match kind {
        Artefact::Certificate => ("lint_pkix_cert", &[]),
        Artefact::Crl => ("lint_crl", &["-t", "CRL", "-p", "PKIX"]),
        Artefact::OcspResponse => ("lint_ocsp_response", &[]),
    };
    let exe = venv.join("bin").join(cli);
    assert!(
        exe.exists(),
        "{} not found: these tests lint every artefact with pkilint. Run scripts/pkilint-venv \
         (which .ci/run does) or point CHENGXIN_PKILINT_VENV at a venv with pkilint installed.",
        exe.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("artefact.der");
    std::fs::write(&file, der).unwrap();
    let out = run(Command::new(&exe)
        .arg("lint")
        .args(extra)
        .args(["-s", "NOTICE", "-f", "JSON", "--document-format", "DER"])
        .arg(&file));
    let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap_or_else(|_| {
        panic!(
            "{cli} could not lint the {kind:?} (exit {}):\n{}{}",
            out.code, out.stdout, out.stderr
        )
    });
    let mut findings = Vec::new();
    let mut errors = Vec::new();
    for result in report["results"].as_array().into_iter().flatten() {
        for f in result["finding_descriptions"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let finding = Finding {
                severity: f["severity"].as_str().unwrap_or_default().to_string(),
                code: f["code"].as_str().unwrap_or_default().to_string(),
                node_path: result["node_path"].as_str().unwrap_or_default().to_string(),
                message: f["message"].as_str().map(str::to_string),
            };
            match finding.severity.as_str() {
                "WARNING" | "NOTICE" => findings.push(finding),
                _ => errors.push(finding),
            }
        }
    }
    assert!(
        errors.is_empty(),
        "pkilint ({cli}) found errors in the {kind:?}: {errors:#?}\nand below ERROR: {findings:#?}"
    );
    findings
}
