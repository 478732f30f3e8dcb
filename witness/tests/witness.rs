//! The real `chengxin-witness` binary on loopback, fed by a log built with tlog's
//! `TileMap`: a chain of growing checkpoints across a restart, every refusal of C2SP
//! tlog-witness, the limits, and a split view shown to one witness and to two.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tlog::tiles::leaf_hash;
use tlog::witness::{
    AddCheckpoint, MAX_REQUEST_BYTES, SIZE_CONTENT_TYPE, WitnessVerifier, add_cosignatures,
    cosigners, find_fork, parse_response, parse_size_body,
};
use tlog::{Checkpoint, Hash, LogKey, TileMap};

const BIN: &str = env!("CARGO_BIN_EXE_chengxin-witness");
const ORIGIN: &str = "chengxin.test/log";

/// A log: its key and its tree, whose entries are named by `tag`.
struct Log {
    key: LogKey,
    map: TileMap,
    size: u64,
    tag: String,
}

impl Log {
    fn new(key: LogKey, tag: &str) -> Log {
        Log {
            key,
            map: TileMap::new(),
            size: 0,
            tag: tag.into(),
        }
    }

    fn grow(&mut self, n: u64) {
        let leaves: Vec<Hash> = (self.size..self.size + n)
            .map(|i| leaf_hash(format!("{} {i}", self.tag).as_bytes()))
            .collect();
        self.map.append(self.size, &leaves).unwrap();
        self.size += n;
    }

    fn note(&self) -> Vec<u8> {
        self.key
            .sign(&Checkpoint {
                origin: ORIGIN.into(),
                size: self.size,
                root: self.map.root(self.size).unwrap(),
            })
            .unwrap()
    }

    /// The request from `old` to the current size.
    fn request(&self, old: u64) -> Vec<u8> {
        AddCheckpoint {
            old_size: old,
            proof: if old == 0 {
                Vec::new()
            } else {
                self.map.consistency(self.size, old).unwrap()
            },
            note: self.note(),
        }
        .to_bytes()
        .unwrap()
    }
}

fn log_key() -> LogKey {
    LogKey::from_pkcs8(ORIGIN, &LogKey::generate().unwrap()).unwrap()
}

/// `chengxin-witness keygen`: the verifier key it prints.
fn keygen(dir: &Path, name: &str) -> (PathBuf, WitnessVerifier) {
    let key_file = dir.join(format!("{}.key", name.replace('/', "_")));
    let out = Command::new(BIN)
        .args(["keygen", "--name", name, "--key-file"])
        .arg(&key_file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let vkey = String::from_utf8(out.stdout).unwrap();
    (key_file, WitnessVerifier::parse(vkey.trim_end()).unwrap())
}

/// A running witness, killed (SIGKILL: no chance to tidy up) when dropped.
struct Witness {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Witness {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve_command(key_file: &Path, state: &Path, logs: &[String], extra: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.args(["serve", "--listen", "127.0.0.1:0", "--state"])
        .arg(state)
        .arg("--key-file")
        .arg(key_file);
    for l in logs {
        c.args(["--log", l]);
    }
    c.args(extra);
    c
}

fn start(key_file: &Path, state: &Path, logs: &[String], extra: &[&str]) -> Witness {
    let mut child = serve_command(key_file, state, logs, extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim_end()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("{line:?}"))
        .parse()
        .unwrap();
    Witness { child, addr }
}

struct Answer {
    status: u16,
    content_type: String,
    body: Vec<u8>,
}

/// One HTTP/1.1 request over a fresh connection.
fn http(addr: SocketAddr, method: &str, path: &str, body: &[u8]) -> Answer {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: witness\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    // A body refused early (too large) may close the connection before it is all sent.
    let _ = s.write_all(body);
    read_answer(&mut s)
}

fn read_answer(s: &mut TcpStream) -> Answer {
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let at = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8(raw[..at].to_vec()).unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let content_type = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-type: ")
                .map(str::to_owned)
        })
        .unwrap_or_default();
    Answer {
        status,
        content_type,
        body: raw[at + 4..].to_vec(),
    }
}

fn add(addr: SocketAddr, body: &[u8]) -> Answer {
    http(addr, "POST", "/add-checkpoint", body)
}

/// Asks for a cosignature and checks it: one line, of `witness`, on this note, now.
fn cosign(addr: SocketAddr, log: &Log, old: u64, witness: &WitnessVerifier) -> Vec<u8> {
    let a = add(addr, &log.request(old));
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    let lines = parse_response(&a.body).unwrap();
    assert_eq!(lines.len(), 1);
    let note = log.note();
    let ts = witness.verify(&note, &lines[0]).unwrap();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(ts <= now && ts + 60 > now, "timestamp {ts}, now {now}");
    add_cosignatures(&note, &lines).unwrap()
}

fn conflict_size(a: &Answer) -> u64 {
    assert_eq!(a.status, 409, "{}", String::from_utf8_lossy(&a.body));
    assert_eq!(a.content_type, SIZE_CONTENT_TYPE);
    parse_size_body(&a.body).unwrap()
}

/// A new witness (`witness.test/w1`, in its own directory, with `extra` flags)
/// following a new log, which is returned empty.
fn fresh_witness(extra: &[&str]) -> (tempfile::TempDir, Witness, WitnessVerifier, Log) {
    let dir = tempfile::tempdir().unwrap();
    let (key_file, wv) = keygen(dir.path(), "witness.test/w1");
    let log = Log::new(log_key(), "a");
    let flags = [&["--new-state"], extra].concat();
    let w = start(
        &key_file,
        &dir.path().join("state"),
        &[log_flag(&log.key)],
        &flags,
    );
    (dir, w, wv, log)
}

fn log_flag(key: &LogKey) -> String {
    format!("{ORIGIN}={}", key.verifier_key())
}

#[test]
fn a_chain_of_growing_checkpoints_is_cosigned_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (key_file, wv) = keygen(dir.path(), "witness.test/w1");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let state = dir.path().join("state");
    let mut log = Log::new(log_key(), "a");
    let logs = [log_flag(&log.key)];

    // No state file and no --new-state: the witness does not start from nothing.
    let out = serve_command(&key_file, &state, &logs, &[])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(!state.exists());

    let w = start(&key_file, &state, &logs, &["--new-state"]);
    let mut last = 0;
    for grow in [5, 0, 250, 1, 744] {
        log.grow(grow);
        let cosigned = cosign(w.addr, &log, last, &wv);
        assert_eq!(
            cosigners(&cosigned, std::slice::from_ref(&wv))
                .unwrap()
                .len(),
            1
        );
        assert!(Checkpoint::open(&cosigned, &log.key.verifier_key()).is_ok());
        last = log.size;
    }
    assert_eq!(last, 1000);
    // A client that does not know where the witness is learns it from the 409.
    assert_eq!(conflict_size(&add(w.addr, &log.request(0))), 1000);
    assert_eq!(conflict_size(&add(w.addr, &log.request(999))), 1000);
    let text = std::fs::read_to_string(&state).unwrap();
    assert!(text.contains(&format!("\n{ORIGIN} 1000 ")), "{text}");

    // Killed and started again: it continues from its state file.
    drop(w);
    let out = serve_command(&key_file, &state, &logs, &["--new-state"])
        .output()
        .unwrap();
    assert!(!out.status.success(), "--new-state never replaces a state");
    let w = start(&key_file, &state, &logs, &[]);
    assert_eq!(conflict_size(&add(w.addr, &log.request(0))), 1000);
    log.grow(300);
    cosign(w.addr, &log, 1000, &wv);
    assert_eq!(conflict_size(&add(w.addr, &log.request(1000))), 1300);
}

#[test]
fn every_refusal_has_the_spec_s_status() {
    let (_dir, w, wv, mut log) = fresh_witness(&[]);
    log.grow(10);
    cosign(w.addr, &log, 0, &wv);
    log.grow(10);

    // Garbage, and requests that are almost right: 400.
    let good = String::from_utf8(log.request(10)).unwrap();
    for bad in [
        "garbage".to_string(),
        String::new(),
        good.replacen("old 10", "old 010", 1),
        good.replacen("old 10", "old 21", 1),
        good.replacen("\n\n", "\n", 1),
        good.replace('—', "--"),
    ] {
        let a = add(w.addr, bad.as_bytes());
        assert_eq!(
            a.status,
            400,
            "{bad:?}: {}",
            String::from_utf8_lossy(&a.body)
        );
    }
    assert_eq!(add(w.addr, &[0xff; 100]).status, 400);
    // The right origin signed by another key: 403.
    let mut forged = Log::new(log_key(), "a");
    forged.grow(20);
    assert_eq!(add(w.addr, &forged.request(10)).status, 403);
    // A wrong proof, or a short one: 422; the witness stays at 10.
    let mut tampered = AddCheckpoint::parse(good.as_bytes()).unwrap();
    tampered.proof[0].0[0] ^= 1;
    assert_eq!(add(w.addr, &tampered.to_bytes().unwrap()).status, 422);
    tampered.proof.pop();
    assert_eq!(add(w.addr, &tampered.to_bytes().unwrap()).status, 422);
    assert_eq!(conflict_size(&add(w.addr, &log.request(0))), 10);
    // Not POST: 405. Another path: 404.
    assert_eq!(http(w.addr, "GET", "/add-checkpoint", b"").status, 405);
    assert_eq!(add_path(w.addr, "/add-checkpoints").status, 404);
    // The right request goes through, even carrying another witness's cosignature
    // (a line of a key the witness does not know is ignored).
    let other =
        tlog::WitnessKey::from_pkcs8("witness.test/w9", &tlog::WitnessKey::generate().unwrap())
            .unwrap();
    let mut req = AddCheckpoint::parse(good.as_bytes()).unwrap();
    req.note = add_cosignatures(&req.note, &[other.cosign(&req.note, 7).unwrap()]).unwrap();
    let a = add(w.addr, &req.to_bytes().unwrap());
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    let lines = parse_response(&a.body).unwrap();
    let both = add_cosignatures(&req.note, &lines).unwrap();
    assert_eq!(
        cosigners(&both, &[wv.clone(), other.verifier()])
            .unwrap()
            .len(),
        2
    );
}

fn add_path(addr: SocketAddr, path: &str) -> Answer {
    http(addr, "POST", path, b"old 0\n\n")
}

#[test]
fn an_unknown_origin_is_not_found() {
    let (_dir, w, _, _) = fresh_witness(&[]);
    let mut elsewhere = Log::new(
        LogKey::from_pkcs8("elsewhere.test/log", &LogKey::generate().unwrap()).unwrap(),
        "a",
    );
    elsewhere.grow(3);
    // Log::note signs under ORIGIN; sign this one under its own name instead.
    let note = elsewhere
        .key
        .sign(&Checkpoint {
            origin: "elsewhere.test/log".into(),
            size: 3,
            root: elsewhere.map.root(3).unwrap(),
        })
        .unwrap();
    let body = AddCheckpoint {
        old_size: 0,
        proof: Vec::new(),
        note,
    }
    .to_bytes()
    .unwrap();
    assert_eq!(add(w.addr, &body).status, 404);
}

#[test]
fn the_body_limit_and_the_request_deadline_hold() {
    let (_dir, w, wv, mut log) = fresh_witness(&["--request-timeout", "1"]);
    assert_eq!(add(w.addr, &vec![b'x'; MAX_REQUEST_BYTES + 1]).status, 413);

    // A client that sends its headers and part of its body, then stalls.
    let mut s = TcpStream::connect(w.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let began = Instant::now();
    write!(
        s,
        "POST /add-checkpoint HTTP/1.1\r\nHost: witness\r\nContent-Length: 1000\r\n\r\nold 0\n"
    )
    .unwrap();
    let a = read_answer(&mut s);
    assert_eq!(a.status, 408);
    assert!(began.elapsed() < Duration::from_secs(5));
    // The witness still serves.
    log.grow(2);
    cosign(w.addr, &log, 0, &wv);
}

/// Sockets that never send a request (or send half a request line) are closed after
/// `--header-timeout`, and past `--max-connections` further clients wait rather than
/// take descriptors: the witness keeps cosigning. Before, `axum::serve` kept such
/// sockets open for ever.
#[test]
fn idle_and_slow_header_sockets_are_closed_and_the_witness_keeps_cosigning() {
    let (_dir, w, wv, mut log) =
        fresh_witness(&["--header-timeout", "1", "--max-connections", "8"]);
    let began = Instant::now();
    let mut idle: Vec<TcpStream> = (0..20)
        .map(|_| TcpStream::connect(w.addr).unwrap())
        .collect();
    // Half a request line, never finished.
    write!(idle[0], "POST /add-checkp").unwrap();
    for s in &mut idle {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut buf = [0u8; 64];
        match s.read(&mut buf) {
            // Closed, or closed after a 408 for the half-sent request line.
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            Err(e) => panic!(
                "an idle socket is still open after {:?}: {e}",
                began.elapsed()
            ),
        }
    }
    assert!(
        began.elapsed() < Duration::from_secs(8),
        "idle sockets took {:?} to close",
        began.elapsed()
    );
    log.grow(3);
    cosign(w.addr, &log, 0, &wv);
}

#[test]
fn a_split_view_is_refused_by_one_witness_and_proven_by_two() {
    let dir = tempfile::tempdir().unwrap();
    let (k1, w1) = keygen(dir.path(), "witness.test/w1");
    let (k2, w2) = keygen(dir.path(), "witness.test/w2");
    let key = LogKey::generate().unwrap();
    let mut a = Log::new(LogKey::from_pkcs8(ORIGIN, &key).unwrap(), "a");
    let mut b = Log::new(LogKey::from_pkcs8(ORIGIN, &key).unwrap(), "a");
    let logs = [log_flag(&a.key)];
    let s1 = start(&k1, &dir.path().join("s1"), &logs, &["--new-state"]);
    let s2 = start(&k2, &dir.path().join("s2"), &logs, &["--new-state"]);

    // Both trees share their first 8 entries, then part.
    a.grow(8);
    b.grow(8);
    cosign(s1.addr, &a, 0, &w1);
    cosign(s2.addr, &b, 0, &w2);
    a.grow(12);
    b.tag = "b".into();
    b.grow(12);
    assert_ne!(a.note(), b.note());

    // One witness: it cosigns tree a at 20, and refuses tree b at 20 whichever way
    // it is asked.
    let ca = cosign(s1.addr, &a, 8, &w1);
    let refused = add(s1.addr, &b.request(20));
    assert_eq!(refused.status, 409);
    assert_ne!(refused.content_type, SIZE_CONTENT_TYPE);
    assert_eq!(add(s1.addr, &b.request(8)).status, 409);
    assert_eq!(conflict_size(&add(s1.addr, &b.request(0))), 20);
    // And stays on tree a.
    a.grow(5);
    cosign(s1.addr, &a, 20, &w1);

    // Two witnesses, each shown one tree: each cosigns its own, and the two cosigned
    // checkpoints are the proof of the fork.
    let cb = cosign(s2.addr, &b, 8, &w2);
    let witnesses = [w1.clone(), w2.clone()];
    let fork = find_fork(&a.key.verifier_key(), &witnesses, &ca, &cb)
        .unwrap()
        .expect("a fork");
    assert_eq!(fork.origin, ORIGIN);
    assert_eq!(fork.size, 20);
    assert_eq!(
        fork.cosigners,
        [
            vec!["witness.test/w1".to_string()],
            vec!["witness.test/w2".to_string()]
        ]
    );
    assert_ne!(fork.roots[0], fork.roots[1]);
    // Neither side reaches a quorum of two.
    assert_eq!(cosigners(&ca, &witnesses).unwrap().len(), 1);
    assert_eq!(cosigners(&cb, &witnesses).unwrap().len(), 1);
}

#[test]
fn concurrent_requests_from_one_size_are_cosigned_once() {
    let (_dir, w, wv, mut log) = fresh_witness(&[]);
    log.grow(10);
    cosign(w.addr, &log, 0, &wv);
    // Eight checkpoints of the same tree, sizes 11..=18, all from 10: the witness
    // checks and records under one lock, so exactly one is cosigned and it never
    // goes back to a smaller size.
    let bodies: Vec<Vec<u8>> = (0..8)
        .map(|_| {
            log.grow(1);
            log.request(10)
        })
        .collect();
    let addr = w.addr;
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let handles: Vec<_> = bodies
            .iter()
            .map(|b| s.spawn(move || add(addr, b).status))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(
        statuses.iter().filter(|&&s| s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|&s| s == 200 || s == 409),
        "{statuses:?}"
    );
    let won = 11 + statuses.iter().position(|&s| s == 200).unwrap() as u64;
    assert_eq!(conflict_size(&add(w.addr, &log.request(0))), won);
}
