//! `verifier log-monitor` against a log served over real HTTP on loopback: the log is
//! built here with tlog's own types (entries, TileMap, LogKey) and written as the
//! static files the server publishes under `/log/` (checkpoint, hash tiles, entry
//! bundles), partial tiles only at the latest checkpoint's width.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::Value;
use tlog::tiles::{self, TileMap, TilePath};
use tlog::{Checkpoint, Entry, Kind, LogKey};

const ORIGIN: &str = "seal.test/log";
const USCC: &str = "91110108MA04T7K21H";
const OTHER_USCC: &str = "91310000MA1K4XYZ8B";

/// A static file server for one directory, on its own runtime, answering `/log/…`;
/// `redirect` makes it answer every request with a redirect there instead.
struct Server {
    addr: SocketAddr,
    redirect: Arc<Mutex<Option<String>>>,
    _rt: tokio::runtime::Runtime,
}

type Shared = (PathBuf, Arc<Mutex<Option<String>>>);

async fn file(State((root, redirect)): State<Shared>, UrlPath(path): UrlPath<String>) -> Response {
    if let Some(to) = redirect.lock().unwrap().clone() {
        return (StatusCode::FOUND, [(header::LOCATION, to)]).into_response();
    }
    if path.split('/').any(|p| p == ".." || p.is_empty()) {
        return StatusCode::BAD_REQUEST.into_response();
    }
    match std::fs::read(root.join(&path)) {
        Ok(bytes) => bytes.into_response(),
        Err(_) => StatusCode::NOT_FOUND.into_response(),
    }
}

impl Server {
    fn start(root: &Path) -> Server {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let redirect = Arc::new(Mutex::new(None));
        let state: Shared = (root.to_path_buf(), redirect.clone());
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new()
            .route("/log/{*path}", get(file))
            .with_state(state);
        rt.spawn(async move { axum::serve(listener, app).await.unwrap() });
        Server {
            addr,
            redirect,
            _rt: rt,
        }
    }

    fn url(&self) -> String {
        format!("http://{}/log", self.addr)
    }
}

/// A log kept in memory: its entries and key; [`TestLog::publish`] writes a prefix
/// of it as the static files a server serves.
struct TestLog {
    key: LogKey,
    entries: Vec<Vec<u8>>,
}

fn issue(i: usize, domains: &[&str], uscc: &str) -> Vec<u8> {
    Entry {
        issuer: Some("chengxin-issuing-1".into()),
        serial: Some(format!("{:04x}", i + 1)),
        sha256: Some([i as u8; 32]),
        site: Some(format!("s_{i}")),
        uscc: Some(uscc.into()),
        domains: domains.iter().map(|d| d.to_string()).collect(),
        certificate: Some(vec![0x30, 0x03, 0x02, 0x01, i as u8]),
        ..Entry::new(Kind::Issue, 1_796_000_000 + i as i64)
    }
    .encode()
    .unwrap()
}

fn revoke(i: usize, domains: &[&str], uscc: &str, reason: &str) -> Vec<u8> {
    Entry {
        issuer: Some("chengxin-issuing-1".into()),
        serial: Some(format!("{:04x}", i + 1)),
        sha256: Some([i as u8; 32]),
        uscc: Some(uscc.into()),
        domains: domains.iter().map(|d| d.to_string()).collect(),
        reason: Some(reason.into()),
        ..Entry::new(Kind::Revoke, 1_796_000_000 + i as i64)
    }
    .encode()
    .unwrap()
}

fn anchor(i: usize) -> Vec<u8> {
    Entry {
        audit_size: Some(i as u64),
        audit_head: Some([1; 32]),
        ..Entry::new(Kind::AuditAnchor, 1_796_000_000 + i as i64)
    }
    .encode()
    .unwrap()
}

/// Entry `i` of the test log: mostly other sites, with the watched company's events
/// at 5 (issue), 290 (revoke, keyCompromise), 450 (issue of a subdomain) and 599
/// (issue under its USCC for a domain of its own).
fn nth(i: usize) -> Vec<u8> {
    match i {
        5 => issue(i, &["chenxi-shuzhi.cn", "www.chenxi-shuzhi.cn"], USCC),
        290 => revoke(i, &["www.chenxi-shuzhi.cn"], USCC, "keyCompromise"),
        450 => issue(i, &["shop.chenxi-shuzhi.cn"], OTHER_USCC),
        599 => issue(i, &["chenxi-other.cn"], USCC),
        // Near misses: a longer name ending the same, and the name inside another.
        7 => issue(i, &["xchenxi-shuzhi.cn"], OTHER_USCC),
        8 => issue(i, &["chenxi-shuzhi.cn.example.com"], OTHER_USCC),
        i if i % 50 == 49 => anchor(i),
        i => issue(i, &[&format!("site{i}.example.cn")], OTHER_USCC),
    }
}

impl TestLog {
    fn new(n: usize) -> TestLog {
        TestLog {
            key: LogKey::from_pkcs8(ORIGIN, &LogKey::generate().unwrap()).unwrap(),
            entries: (0..n).map(nth).collect(),
        }
    }

    fn grow(&mut self, n: usize) {
        let have = self.entries.len();
        self.entries.extend((have..n).map(nth));
    }

    fn root(&self, size: usize) -> tiles::Hash {
        let leaves: Vec<_> = self.entries[..size]
            .iter()
            .map(|e| tiles::leaf_hash(e))
            .collect();
        TileMap::new().append(0, &leaves).unwrap().0
    }

    /// Replaces `dir`'s contents with the log's first `size` entries, signed by `key`
    /// (the log's own unless given); returns the checkpoint's note.
    fn publish_with(&self, dir: &Path, size: usize, key: &LogKey) -> Vec<u8> {
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir).unwrap();
        let leaves: Vec<_> = self.entries[..size]
            .iter()
            .map(|e| tiles::leaf_hash(e))
            .collect();
        let (root, hash_tiles) = TileMap::new().append(0, &leaves).unwrap();
        let note = key
            .sign(&Checkpoint {
                origin: ORIGIN.into(),
                size: size as u64,
                root,
            })
            .unwrap();
        std::fs::write(dir.join("checkpoint"), &note).unwrap();
        let mut files: Vec<(TilePath, Vec<u8>)> = hash_tiles;
        for n in 0..size.div_ceil(256) {
            let end = ((n + 1) * 256).min(size);
            let bundle =
                tiles::bundle(self.entries[n * 256..end].iter().map(Vec::as_slice)).unwrap();
            files.push((
                TilePath::Entries {
                    n: n as u64,
                    width: (end - n * 256) as u32,
                },
                bundle,
            ));
        }
        for (path, bytes) in files {
            let file = dir.join(path.to_path());
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(file, bytes).unwrap();
        }
        note
    }

    fn publish(&self, dir: &Path, size: usize) -> Vec<u8> {
        self.publish_with(dir, size, &self.key)
    }
}

struct Monitor {
    dir: tempfile::TempDir,
    server: Server,
}

impl Monitor {
    fn new() -> Monitor {
        let dir = tempfile::tempdir().unwrap();
        let server = Server::start(&dir.path().join("www"));
        Monitor { dir, server }
    }

    fn www(&self) -> PathBuf {
        self.dir.path().join("www")
    }

    fn state(&self) -> PathBuf {
        self.dir.path().join("monitor.json")
    }

    fn run(&self, extra: &[&str]) -> testkit::Run {
        let state = self.state();
        let url = self.server.url();
        let mut args = vec![
            "log-monitor",
            url.as_str(),
            "--state",
            state.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        testkit::run(std::process::Command::new(env!("CARGO_BIN_EXE_verifier")).args(&args))
    }

    fn state_bytes(&self) -> Vec<u8> {
        std::fs::read(self.state()).unwrap()
    }
}

fn events(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn indexes(stdout: &str) -> Vec<u64> {
    events(stdout)
        .iter()
        .map(|e| e["index"].as_u64().unwrap())
        .collect()
}

const WATCH: &str = "chenxi-shuzhi.cn,91110108MA04T7K21H";

#[test]
fn the_first_run_needs_the_key_and_prints_only_watched_events_then_only_new_ones() {
    let m = Monitor::new();
    let log = TestLog::new(600);
    log.publish(&m.www(), 300);
    let vkey = log.key.verifier_key();

    let r = m.run(&["--watch", WATCH]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("--vkey"), "{}", r.stderr);
    assert!(!m.state().exists(), "a refused first run writes no state");

    let r = m.run(&["--watch", WATCH, "--vkey", &vkey]).ok();
    assert_eq!(indexes(&r.stdout), [5, 290], "{}", r.stdout);
    let ev = events(&r.stdout);
    assert_eq!(ev[0]["kind"], "issue");
    assert_eq!(ev[0]["domains"][0], "chenxi-shuzhi.cn");
    assert_eq!(ev[0]["uscc"], USCC);
    assert_eq!(ev[0]["serial"], "0006");
    assert_eq!(ev[0]["site"], "s_5");
    assert_eq!(ev[0]["time"], "2026-11-30T00:53:25Z");
    assert_eq!(ev[1]["kind"], "revoke");
    assert_eq!(ev[1]["reason"], "keyCompromise");
    let state: Value = serde_json::from_slice(&m.state_bytes()).unwrap();
    assert_eq!(state["checkpoint"]["size"], 300);
    assert_eq!(state["vkey"], vkey.as_str());
    assert_eq!(state["origin"], ORIGIN);
    assert_eq!(
        state["watch"],
        serde_json::json!(["chenxi-shuzhi.cn", USCC])
    );

    // A state file trusts one key: another one given later is refused.
    let other = LogKey::from_pkcs8(ORIGIN, &LogKey::generate().unwrap()).unwrap();
    let before = m.state_bytes();
    let r = m.run(&["--vkey", &other.verifier_key()]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("trusts the key"), "{}", r.stderr);
    assert_eq!(m.state_bytes(), before);

    // Nothing new: nothing printed, exit 0; the watch list comes from the state.
    let r = m.run(&[]).ok();
    assert_eq!(r.stdout, "");

    // The log grows to 600 (partial tiles at the old width are gone) and a witness
    // cosigned the checkpoint: only the new events, the subdomain's and the USCC's.
    let note = log.publish(&m.www(), 600);
    let witness =
        tlog::WitnessKey::from_pkcs8("witness.test", &tlog::WitnessKey::generate().unwrap())
            .unwrap();
    let line = witness.cosign(&note, 1_796_000_000).unwrap();
    let cosigned = tlog::witness::add_cosignatures(&note, &[line]).unwrap();
    std::fs::write(m.www().join("checkpoint"), cosigned).unwrap();
    let r = m.run(&[]).ok();
    assert_eq!(indexes(&r.stdout), [450, 599], "{}", r.stdout);
    let state: Value = serde_json::from_slice(&m.state_bytes()).unwrap();
    assert_eq!(state["checkpoint"]["size"], 600);
    assert_eq!(state["processed"]["size"], 600);

    // A monitor that watches nothing prints one summary line.
    let summary_state = m.dir.path().join("summary.json");
    let r = testkit::run(
        std::process::Command::new(env!("CARGO_BIN_EXE_verifier")).args([
            "log-monitor",
            &m.server.url(),
            "--state",
            summary_state.to_str().unwrap(),
            "--vkey",
            &vkey,
        ]),
    )
    .ok();
    let summary = events(&r.stdout);
    assert_eq!(summary.len(), 1, "{}", r.stdout);
    assert_eq!(summary[0]["size"], 600);
    assert_eq!(summary[0]["kinds"]["audit_anchor"], 11);
    assert_eq!(summary[0]["kinds"]["revoke"], 1);
    assert_eq!(summary[0]["kinds"]["issue"], 588);
    assert_eq!(summary[0]["root"], base64_root(&log, 600));
}

fn base64_root(log: &TestLog, size: usize) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(log.root(size).0)
}

#[test]
fn a_long_backlog_is_worked_off_over_several_runs_each_checked_against_the_checkpoint() {
    let m = Monitor::new();
    let log = TestLog::new(600);
    log.publish(&m.www(), 600);
    let vkey = log.key.verifier_key();
    let mut seen = Vec::new();
    for (to, pending) in [(250, 350), (500, 100), (600, 0)] {
        let r = m
            .run(&["--watch", WATCH, "--vkey", &vkey, "--max-entries", "250"])
            .ok();
        seen.extend(indexes(&r.stdout));
        let state: Value = serde_json::from_slice(&m.state_bytes()).unwrap();
        assert_eq!(state["processed"]["size"], to);
        assert_eq!(state["checkpoint"]["size"], 600);
        assert!(
            r.stderr.contains(&format!("({pending} left)")),
            "{}",
            r.stderr
        );
    }
    assert_eq!(seen, [5, 290, 450, 599]);
}

/// A monitor that has verified the log at 300 entries, watching the company.
fn verified_at_300() -> (Monitor, TestLog) {
    let m = Monitor::new();
    let log = TestLog::new(600);
    log.publish(&m.www(), 300);
    m.run(&["--watch", WATCH, "--vkey", &log.key.verifier_key()])
        .ok();
    (m, log)
}

/// Runs the monitor, expecting exit 1 with `expected` in the message and the state
/// file untouched.
#[track_caller]
fn alerts(m: &Monitor, expected: &[&str]) -> testkit::Run {
    let before = m.state_bytes();
    let r = m.run(&[]);
    assert_eq!(r.code, 1, "{r:?}");
    for e in expected {
        assert!(r.stderr.contains(e), "{e:?} not in {}", r.stderr);
    }
    assert_eq!(r.stdout, "", "no events from a log that failed a check");
    assert_eq!(
        m.state_bytes(),
        before,
        "the state file moved after a failure"
    );
    r
}

#[test]
fn a_log_that_rewrote_an_old_entry_is_a_fork_naming_both_roots() {
    // Same size, another root, the same key.
    let (m, mut log) = verified_at_300();
    let honest = base64_root(&log, 300);
    log.entries[5] = issue(5, &["chenxi-shuzhi.cn"], OTHER_USCC);
    log.publish(&m.www(), 300);
    let forked = base64_root(&log, 300);
    alerts(&m, &["forked", &honest, &forked]);
    // Grown as well: the consistency proof fails, and the log's own tiles show that
    // its new tree holds another tree at the old size.
    log.publish(&m.www(), 400);
    alerts(&m, &["forked", &honest, &forked, &base64_root(&log, 400)]);
}

#[test]
fn a_shrunk_log_a_foreign_signature_and_tampered_files_alert_and_keep_the_state() {
    let (m, mut log) = verified_at_300();
    log.publish(&m.www(), 299);
    alerts(&m, &["shrank", "299"]);

    let other = LogKey::from_pkcs8(ORIGIN, &LogKey::generate().unwrap()).unwrap();
    log.publish_with(&m.www(), 400, &other);
    alerts(&m, &["does not verify"]);

    // A new entry changed in its bundle (same length, so the bundle still parses).
    log.publish(&m.www(), 400);
    let bundle = m.www().join("tile/entries/001.p/144");
    let mut bytes = std::fs::read(&bundle).unwrap();
    let at = bytes.windows(9).position(|w| w == b"site398.e").unwrap();
    bytes[at + 4] = b'9';
    std::fs::write(&bundle, &bytes).unwrap();
    alerts(&m, &["entries 300..400", "do not hash"]);

    // A bundle cut short.
    std::fs::write(&bundle, &bytes[..bytes.len() - 1]).unwrap();
    alerts(&m, &["tile/entries/001.p/144"]);

    // A hash tile changed: the new tree does not extend the old one on these tiles.
    log.publish(&m.www(), 400);
    let tile = m.www().join("tile/0/001.p/144");
    let mut t = std::fs::read(&tile).unwrap();
    t[0] ^= 1;
    std::fs::write(&tile, t).unwrap();
    alerts(&m, &["tiles"]);

    // An entry that is not canonical, signed into the log all the same.
    log.entries[350] = b"chengxin-log-entry/v1\nkind  issue\n".to_vec();
    log.publish(&m.www(), 400);
    alerts(&m, &["canonical", "entry 350"]);

    // Honest again: the monitor carries on from 300.
    log.grow(600);
    log.entries[350] = nth(350);
    log.publish(&m.www(), 600);
    let r = m.run(&[]).ok();
    assert_eq!(indexes(&r.stdout), [450, 599], "{}", r.stdout);
}

#[test]
fn redirects_to_another_host_are_not_followed() {
    let (m, log) = verified_at_300();
    log.publish(&m.www(), 400);
    let before = m.state_bytes();
    *m.server.redirect.lock().unwrap() = Some(format!(
        "http://localhost:{}/log/checkpoint",
        m.server.addr.port()
    ));
    let r = m.run(&[]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("not followed"), "{}", r.stderr);
    assert_eq!(m.state_bytes(), before);
    *m.server.redirect.lock().unwrap() = None;
    let r = m.run(&[]).ok();
    assert_eq!(r.stdout, "", "{}", r.stdout);
}

/// A figure, not a check: one run over 100,000 entries of about 1.8 KB (a
/// certificate's DER each) served from loopback. `cargo test -p chengxin-verifier
/// --test it monitor::one_run_over -- --ignored --nocapture`
#[test]
#[ignore = "benchmark"]
fn one_run_over_100k_entries() {
    let m = Monitor::new();
    let n = 100_000;
    let log = TestLog {
        key: LogKey::from_pkcs8(ORIGIN, &LogKey::generate().unwrap()).unwrap(),
        entries: (0..n)
            .map(|i| {
                let mut e = Entry::parse(&nth(i % 600)).unwrap();
                if e.certificate.is_some() {
                    e.certificate = Some(vec![i as u8; 1200]);
                }
                e.encode().unwrap()
            })
            .collect(),
    };
    log.publish(&m.www(), n);
    let bytes: u64 = walk(&m.www());
    let t = std::time::Instant::now();
    let r = m
        .run(&["--watch", WATCH, "--vkey", &log.key.verifier_key()])
        .ok();
    eprintln!(
        "{} entries, {} bytes served, run {:?}, {} events; {}",
        n,
        bytes,
        t.elapsed(),
        r.stdout.lines().count(),
        r.stderr
    );
}

fn walk(p: &Path) -> u64 {
    std::fs::read_dir(p)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                walk(&e.path())
            } else {
                e.metadata().unwrap().len()
            }
        })
        .sum()
}
