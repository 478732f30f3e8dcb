//! Headless Chromium for browser tests: Debian's `chromium`, driven through Debian's
//! `chromedriver` (never a downloaded driver), with the flags this machine needs and
//! a fresh profile per session; loopback "site" servers reachable under real host
//! names; and the folder where tests leave screenshots.
//!
//! The WebDriver client itself (fantoccini) belongs to the tests that drive it: this
//! module only starts processes and says how Chromium must be launched.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::{Child, free_port, wait_for_port, workspace_root};

/// Debian's Chromium launcher (`apt-get install chromium`).
pub const CHROMIUM: &str = "/usr/bin/chromium";
/// Debian's chromedriver, the same version as [`CHROMIUM`] (`apt-get install chromium-driver`).
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// The flags every Chromium started by a test gets, besides its profile folder and
/// host mapping: headless, no sandbox (tests run as root), no GPU, no QUIC and no
/// background traffic to anywhere but the pages under test.
pub const CHROMIUM_FLAGS: [&str; 8] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
];

fn require(path: &str) -> PathBuf {
    let p = Path::new(path);
    assert!(
        p.exists(),
        "{path} not found: browser tests need Debian's Chromium and its driver \
         (apt-get install chromium chromium-driver; .ci/run installs them)",
    );
    p.to_path_buf()
}

/// A running chromedriver on a free loopback port; killed when dropped (after the
/// test has closed its sessions, which ends their Chromium processes).
#[derive(Debug)]
pub struct Chromedriver {
    _child: Child,
    url: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Chromedriver {
    /// Starts chromedriver and waits until it listens. Panics with an explanation when
    /// Chromium or chromedriver is not installed: a browser test never skips.
    pub fn start() -> Self {
        require(CHROMIUM);
        let driver = require(CHROMEDRIVER);
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("chromedriver.log");
        let port = free_port();
        let child = Command::new(driver)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {CHROMEDRIVER}: {e}"));
        let child = Child(child);
        wait_for_port(&format!("127.0.0.1:{port}"), 30);
        Chromedriver {
            _child: child,
            url: format!("http://127.0.0.1:{port}"),
            log,
            _dir: dir,
        }
    }

    /// The WebDriver endpoint, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// chromedriver's log so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// The `goog:chromeOptions` launch arguments: [`CHROMIUM_FLAGS`], the profile folder
/// `user_data_dir` (use a fresh temporary one per session), and host resolver rules
/// that send every name in `loopback_hosts` to 127.0.0.1, so pages served on
/// loopback ports load under real host names (`http://shop.example.cn:PORT/`).
pub fn chromium_args(user_data_dir: &Path, loopback_hosts: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = CHROMIUM_FLAGS.iter().map(|f| f.to_string()).collect();
    args.push(format!("--user-data-dir={}", user_data_dir.display()));
    if !loopback_hosts.is_empty() {
        let rules: Vec<String> = loopback_hosts
            .iter()
            .map(|h| format!("MAP {h} 127.0.0.1"))
            .collect();
        args.push(format!("--host-resolver-rules={}", rules.join(", ")));
    }
    args
}

/// WebDriver capabilities for a new session of Debian's Chromium with
/// [`chromium_args`]. Tests may add to `goog:chromeOptions` (for example `prefs`).
pub fn capabilities(
    user_data_dir: &Path,
    loopback_hosts: &[&str],
) -> serde_json::Map<String, serde_json::Value> {
    let caps = serde_json::json!({
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": CHROMIUM,
            "args": chromium_args(user_data_dir, loopback_hosts),
        },
    });
    match caps {
        serde_json::Value::Object(m) => m,
        _ => unreachable!(),
    }
}

/// `<workspace>/target/test-artifacts/<name>`, created: where tests leave
/// screenshots and other evidence for people to look at.
pub fn artifacts_dir(name: &str) -> PathBuf {
    let dir = workspace_root()
        .join("target")
        .join("test-artifacts")
        .join(name);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A tiny HTTP/1.1 server on a loopback port answering `GET` with fixed pages, the
/// same for every `Host`: the "web site" a browser test embeds a seal in. Each
/// connection gets its own thread (browsers open speculative connections that never
/// send a request) and is closed after one answer. Stops when dropped.
#[derive(Debug)]
pub struct StaticSite {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl StaticSite {
    /// Serves `pages` as (path, HTML) pairs; any other path is 404.
    pub fn serve(pages: &[(&str, &str)]) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let pages: Arc<Vec<(String, String)>> = Arc::new(
            pages
                .iter()
                .map(|(p, h)| (p.to_string(), h.to_string()))
                .collect(),
        );
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if flag.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(conn) = conn {
                    let pages = pages.clone();
                    std::thread::spawn(move || answer(conn, &pages));
                }
            }
        });
        StaticSite {
            port,
            stop,
            thread: Some(thread),
        }
    }

    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }
}

fn answer(conn: TcpStream, pages: &[(String, String)]) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
    let mut reader = BufReader::new(&conn);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
        return;
    }
    loop {
        let mut header = String::new();
        match reader.read_line(&mut header) {
            Ok(0) | Err(_) => return,
            Ok(_) if header == "\r\n" || header == "\n" => break,
            Ok(_) => {}
        }
    }
    let mut parts = request_line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    let found = pages.iter().find(|(p, _)| p == path);
    let (status, body) = match (method, found) {
        ("GET" | "HEAD", Some((_, html))) => ("200 OK", html.as_str()),
        ("GET" | "HEAD", None) => ("404 Not Found", "not found"),
        _ => ("405 Method Not Allowed", "GET only"),
    };
    let mut out = format!(
        "HTTP/1.1 {status}\r\ncontent-type: text/html; charset=utf-8\r\n\
         content-length: {}\r\ncache-control: no-store\r\nconnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if method != "HEAD" {
        out.extend_from_slice(body.as_bytes());
    }
    let mut conn = conn;
    let _ = conn.write_all(&out);
}

impl Drop for StaticSite {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
