//! The transparency log across processes: two replicas on one PostgreSQL and four
//! `ca` processes appending at once make one log (never a fork: every checkpoint any
//! replica served is consistent with every other), which Go's sumdb and `ca log
//! verify` accept; witnesses cosign, and a dead witness does not stop the log.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use testkit::{Backend, Child, bin, free_port, run};

use crate::{Deployment, METRICS_TOKEN, http};

/// `ca issue` arguments for one fixture site (the output file is added).
const F01_ARGS: [&str; 12] = [
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
];

/// Each `ca` writer's issuances (each held and released once, every third revoked).
const PER_WRITER: usize = 8;
const WRITERS: u8 = 4;

fn fetch_checkpoint(client: &reqwest::blocking::Client, base: &str) -> Option<String> {
    let r = client.get(format!("{base}/log/checkpoint")).send().ok()?;
    (r.status() == 200).then(|| r.text().ok()).flatten()
}

#[test]
fn two_replicas_and_four_ca_writers_make_one_log_that_go_and_ca_log_verify_accept() {
    let d = Deployment::new(Backend::Postgres);
    d.ca(&["init"]).ok();
    let fast = [("CHENGXIN_LOG_CHECKPOINT_SECS", "1".to_string())];
    let _a = d.serve_with(&fast);
    let (_b, b_port) = d.serve_replica(2, &fast);
    let bases = [d.url(""), format!("http://127.0.0.1:{b_port}")];
    let vkey = d.ca(&["log", "key"]).ok().stdout.trim().to_string();

    // Every checkpoint either replica serves, by size: one root per size, or a fork.
    let seen: Arc<Mutex<BTreeMap<u64, (tlog::tiles::Hash, String)>>> = Arc::default();
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = {
        let (seen, done, bases, vkey) = (seen.clone(), done.clone(), bases.clone(), vkey.clone());
        std::thread::spawn(move || {
            let client = http();
            let mut last = [0u64; 2];
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                for (i, base) in bases.iter().enumerate() {
                    let Some(note) = fetch_checkpoint(&client, base) else {
                        continue;
                    };
                    let c = tlog::Checkpoint::open(note.as_bytes(), &vkey).unwrap_or_else(|e| {
                        panic!("replica {i} served a bad checkpoint: {e}\n{note}")
                    });
                    assert!(
                        c.size >= last[i],
                        "replica {i} went back from {} to {}",
                        last[i],
                        c.size
                    );
                    last[i] = c.size;
                    let mut seen = seen.lock().unwrap();
                    let (root, _) = seen.entry(c.size).or_insert((c.root, note.clone()));
                    assert_eq!(*root, c.root, "a fork: two roots for size {}", c.size);
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };

    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let mut base = Command::new(bin("ca"));
            d.env(&mut base);
            let dir = d.path("");
            std::thread::spawn(move || {
                let ca = |args: &[&str]| {
                    let mut cmd = Command::new(bin("ca"));
                    for (k, v) in base.get_envs() {
                        if let (k, Some(v)) = (k, v) {
                            cmd.env(k, v);
                        }
                    }
                    cmd.current_dir(&dir)
                        .env("CHENGXIN_CA_INSTANCE", (10 + w).to_string())
                        .args(args);
                    run(&mut cmd).ok()
                };
                for i in 0..PER_WRITER {
                    let out = format!("w{w}-{i}.pem");
                    let mut args = vec!["issue"];
                    args.extend_from_slice(&F01_ARGS);
                    args.extend_from_slice(&["--out", &out]);
                    ca(&args);
                    let serial = run(Command::new("openssl")
                        .current_dir(&dir)
                        .args(["x509", "-in", &out, "-noout", "-serial"]))
                    .ok()
                    .stdout
                    .trim()
                    .trim_start_matches("serial=")
                    .to_string();
                    ca(&["revoke", "--serial", &serial, "--reason", "certificateHold"]);
                    ca(&["revoke", "--serial", &serial, "--reason", "removeFromCRL"]);
                    if i % 3 == 0 {
                        ca(&["revoke", "--serial", &serial, "--reason", "superseded"]);
                    }
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    let per_writer = PER_WRITER * 3 + PER_WRITER.div_ceil(3);
    assert_eq!(
        d.sql("SELECT COUNT(*) FROM log_entries WHERE kind <> 'audit_anchor'")
            .trim(),
        (per_writer * usize::from(WRITERS)).to_string()
    );
    // With the audit anchor the servers' first housekeeping appended.
    let total: u64 = d
        .sql("SELECT COUNT(*) FROM log_entries")
        .trim()
        .parse()
        .unwrap();
    // Both replicas reach the whole log within a few periods.
    let client = http();
    let deadline = Instant::now() + Duration::from_secs(10);
    for base in &bases {
        loop {
            let size = fetch_checkpoint(&client, base)
                .and_then(|n| tlog::Checkpoint::open(n.as_bytes(), &vkey).ok())
                .map_or(0, |c| c.size);
            if size == total {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{base} stuck at {size} of {total}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    watcher.join().unwrap();
    let seen = seen.lock().unwrap();
    assert!(seen.len() >= 2, "only {} checkpoints seen", seen.len());
    // Go's sumdb: every entry proven from each replica's tiles, and the smallest
    // checkpoint seen consistent with the final one.
    let (_, (_, first)) = seen.iter().next().unwrap();
    std::fs::write(d.path("first.note"), first).unwrap();
    let tlogcheck = testkit::tlogcheck();
    for base in &bases {
        let r = run(Command::new(&tlogcheck).args([
            "log",
            "-base",
            &format!("{base}/log"),
            "-vkey",
            &vkey,
            "-old",
            d.path("first.note").to_str().unwrap(),
            "-all",
        ]))
        .ok();
        assert!(
            r.stdout.contains(&format!("\"size\":{total}")),
            "{}",
            r.stdout
        );
    }
    let v = d.ca(&["log", "verify"]).ok();
    assert!(
        v.stdout.contains(&format!("\"entries\": {total}")),
        "{}",
        v.stdout
    );
}

/// A `chengxin-witness` on a port of its own, with a new key: the process and its
/// verifier key.
fn witness(d: &Deployment, name: &str, log_vkey: &str) -> (Child, u16, String) {
    let key = d.path(&format!("{name}.key"));
    let made = run(Command::new(bin("chengxin-witness")).args([
        "keygen",
        "--name",
        name,
        "--key-file",
        key.to_str().unwrap(),
    ]))
    .ok();
    let vkey = made.stdout.trim().lines().last().unwrap().to_string();
    let port = free_port();
    let log = std::fs::File::create(d.path(&format!("{name}.log"))).unwrap();
    let origin = log_vkey.split('+').next().unwrap();
    let child = Command::new(bin("chengxin-witness"))
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--state",
            d.path(&format!("{name}.state")).to_str().unwrap(),
            "--new-state",
            "--key-file",
            key.to_str().unwrap(),
            "--log",
            &format!("{origin}={log_vkey}"),
        ])
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    testkit::wait_for_port(&format!("127.0.0.1:{port}"), 10);
    (Child(child), port, vkey)
}

#[test]
fn witnesses_cosign_each_checkpoint_and_a_dead_one_does_not_stop_the_log() {
    let d = Deployment::new(Backend::Sqlite);
    d.ca(&["init"]).ok();
    let log_vkey = d.ca(&["log", "key"]).ok().stdout.trim().to_string();
    let (_w1, p1, k1) = witness(&d, "w1.test", &log_vkey);
    let (w2, p2, k2) = witness(&d, "w2.test", &log_vkey);
    let dead = free_port();
    let spec = format!(
        "http://127.0.0.1:{p1} {k1}, http://127.0.0.1:{p2} {k2}, http://127.0.0.1:{dead} {k2}"
    );
    let _server = d.serve_with(&[
        ("CHENGXIN_LOG_CHECKPOINT_SECS", "1".to_string()),
        ("CHENGXIN_LOG_WITNESSES", spec),
        ("CHENGXIN_LOG_WITNESS_QUORUM", "2".to_string()),
        ("CHENGXIN_LOG_WITNESS_TIMEOUT_SECS", "2".to_string()),
    ]);
    let verifiers = [
        tlog::witness::WitnessVerifier::parse(&k1).unwrap(),
        tlog::witness::WitnessVerifier::parse(&k2).unwrap(),
    ];
    let client = http();
    // Waits for the checkpoint covering every entry appended so far (the server's
    // housekeeping appends an audit anchor too).
    let wait_for = || {
        let size: u64 = d
            .sql("SELECT COUNT(*) FROM log_entries")
            .trim()
            .parse()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(note) = fetch_checkpoint(&client, &d.url(""))
                && tlog::Checkpoint::open(note.as_bytes(), &log_vkey)
                    .unwrap()
                    .size
                    == size
            {
                return note;
            }
            assert!(Instant::now() < deadline, "no checkpoint of size {size}");
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    // The server holds serial prefix 1; the CLI takes another.
    let issue = |i: usize| {
        let out = format!("c{i}.pem");
        let mut cmd = Command::new(bin("ca"));
        d.env(&mut cmd);
        cmd.env("CHENGXIN_CA_INSTANCE", "9")
            .arg("issue")
            .args(F01_ARGS)
            .args(["--out", &out]);
        run(&mut cmd).ok();
    };
    issue(0);
    let note = wait_for();
    let cosigned = tlog::witness::cosigners(note.as_bytes(), &verifiers).unwrap();
    assert_eq!(cosigned.len(), 2, "both live witnesses cosign:\n{note}");
    issue(1);
    issue(2);
    let note = wait_for();
    assert_eq!(
        tlog::witness::cosigners(note.as_bytes(), &verifiers)
            .unwrap()
            .len(),
        2
    );
    // The dead witness was counted.
    let metrics = client
        .get(d.url("/metrics"))
        .bearer_auth(METRICS_TOKEN)
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("chengxin_log_witness_failures_total") && !l.ends_with(" 0")),
        "{metrics}"
    );
    // One live witness stops: the log goes on, short of its quorum.
    drop(w2);
    issue(3);
    let note = wait_for();
    assert_eq!(
        tlog::witness::cosigners(note.as_bytes(), &verifiers)
            .unwrap()
            .len(),
        1,
        "{note}"
    );
}

#[test]
fn the_monitor_sees_a_watched_domain_s_issuance_and_revocation_through_the_server() {
    let d = Deployment::new(Backend::Sqlite);
    d.ca(&["init"]).ok();
    let vkey = d.ca(&["log", "key"]).ok().stdout.trim().to_string();
    let _server = d.serve_with(&[("CHENGXIN_LOG_CHECKPOINT_SECS", "1".to_string())]);
    let ca = |args: &[&str]| {
        let mut cmd = Command::new(bin("ca"));
        d.env(&mut cmd);
        run(cmd.env("CHENGXIN_CA_INSTANCE", "9").args(args)).ok()
    };
    let published = || {
        let size: u64 = d
            .sql("SELECT COUNT(*) FROM log_entries")
            .trim()
            .parse()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while fetch_checkpoint(&http(), &d.url(""))
            .and_then(|n| tlog::Checkpoint::open(n.as_bytes(), &vkey).ok())
            .is_none_or(|c| c.size < size)
        {
            assert!(Instant::now() < deadline, "size {size} not published");
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let monitor = |extra: &[&str]| {
        let mut cmd = Command::new(bin("verifier"));
        cmd.current_dir(d.path(""))
            .args(["log-monitor", &d.url("/log"), "--state", "monitor.json"])
            .args(extra);
        run(&mut cmd)
    };
    let issue = |out: &str| {
        let mut args = vec!["issue"];
        args.extend_from_slice(&F01_ARGS);
        args.extend_from_slice(&["--out", out]);
        ca(&args);
    };
    issue("a.pem");
    published();
    // Trust on first use must be explicit.
    assert_eq!(monitor(&["--watch", "pujiangyun.com"]).code, 2);
    let first = monitor(&[
        "--vkey",
        &vkey,
        "--watch",
        "pujiangyun.com,91310115MA1H93QW9A",
    ])
    .ok();
    let events: Vec<serde_json::Value> = first
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len(), 1, "{}", first.stdout);
    assert_eq!(events[0]["kind"], "issue");
    let serial = d
        .openssl(&["x509", "-in", "a.pem", "-noout", "-serial"])
        .ok()
        .stdout
        .trim()
        .trim_start_matches("serial=")
        .to_lowercase();
    ca(&["revoke", "--serial", &serial, "--reason", "keyCompromise"]);
    published();
    let second = monitor(&[]).ok();
    let events: Vec<serde_json::Value> = second
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len(), 1, "only what is new: {}", second.stdout);
    assert_eq!(events[0]["kind"], "revoke");
    assert_eq!(events[0]["serial"], serial.as_str());
    assert_eq!(events[0]["reason"], "keyCompromise");
}
