//! `verifier log-monitor`: watches a Chengxin transparency log from the outside, as
//! anyone can, with nothing but the log's public files and its verifier key.
//!
//! Each run fetches the log's checkpoint (`URL/checkpoint`), checks the log's
//! signature with the key trusted on the first run, proves from the log's hash tiles
//! (`URL/tile/<L>/<N>[.p/<W>]`) that the new tree extends the one verified last time,
//! downloads the new entry bundles (`URL/tile/entries/<N>[.p/<W>]`), recomputes their
//! leaf hashes into the signed root, and prints the events that touch a watched
//! domain or USCC. This is how a company learns that somebody obtained a seal in its
//! name: the log cannot show the company one tree and a browser another without a
//! monitor holding an old checkpoint finding out.
//!
//! Nothing the server says is believed unless it hashes into a root the log signed:
//! the tiles that start an append are checked against the root stored in the state
//! file, the entries against the new checkpoint. The state file moves forward only
//! after a run that checked everything; a run that finds a problem leaves it as it
//! was, so the next run finds the same problem.
//!
//! Exit codes (the CLI's): 0 consistent, 1 the log misbehaved ([`Error::LogAlert`]:
//! a bad signature, a shrunk or forked tree, entries or tiles that do not hash to the
//! signed root, a non-canonical entry), 2 the run could not check (usage, network,
//! state file).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tlog::tiles::{self, Hash, TileMap, TilePath};
use tlog::{Checkpoint, Entry};

use crate::identity::{Domain, Uscc};
use crate::{Error, Result};

/// Most bytes of a checkpoint: the note, with room for many witnesses' cosignatures.
pub const MAX_CHECKPOINT_BYTES: usize = 16 * 1024;
/// Most bytes of a hash tile: 256 hashes.
pub const MAX_TILE_BYTES: usize = tiles::WIDTH as usize * tiles::HASH_BYTES;
/// Most bytes of an entry bundle: 256 entries of the largest size the format allows.
pub const MAX_BUNDLE_BYTES: usize = tiles::WIDTH as usize * (2 + tlog::entry::MAX_ENTRY_BYTES);
/// Most bytes of the state file read back.
pub const MAX_STATE_BYTES: u64 = 1024 * 1024;
/// Most entries one run downloads and checks; a longer backlog is worked off over
/// the next runs (the state file records how far this one got).
pub const MAX_ENTRIES_PER_RUN: u64 = 100_000;
/// Most items in a watch list.
pub const MAX_WATCH: usize = 10_000;
/// How long connecting to the log may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one request may take, body included (a full bundle is up to 16 MiB).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Most redirects followed for one request, and only on the same host.
pub const MAX_REDIRECTS: usize = 3;
/// Tiles or bundles fetched at once.
const FETCH_CONCURRENCY: usize = 4;
/// Rounds of "fetch the tiles it asks for, try again" before a computation gives up
/// (the tiles a computation needs do not depend on hashes: two rounds suffice).
const TILE_ROUNDS: usize = 6;
/// The state file's format version.
const STATE_VERSION: u32 = 1;

/// What to watch and where: the CLI's arguments.
#[derive(Debug, Clone)]
pub struct Options {
    /// The log's base URL (`https://seal.example.cn/log`).
    pub url: String,
    /// The state file.
    pub state: PathBuf,
    /// Domains and USCCs to watch; `None` keeps the state file's list.
    pub watch: Option<Vec<String>>,
    /// The log's verifier key; needed when the state file does not exist yet.
    pub vkey: Option<String>,
    /// Most entries this run checks (at most [`MAX_ENTRIES_PER_RUN`]).
    pub max_entries: u64,
}

/// What the monitor remembers between runs (JSON, written atomically).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct State {
    /// The format version.
    pub version: u32,
    /// The log's verifier key, trusted on the first run.
    pub vkey: String,
    /// The log's origin (the key's name).
    pub origin: String,
    /// The last checkpoint verified: consistency is checked from it.
    pub checkpoint: Option<Verified>,
    /// How far the entries have been downloaded and checked (at most the
    /// checkpoint's size; less when a run stopped at [`MAX_ENTRIES_PER_RUN`]).
    pub processed: Processed,
    /// Domains (A-labels) and USCCs watched.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub watch: Vec<String>,
}

/// A checkpoint verified by an earlier run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Verified {
    /// Its tree size.
    pub size: u64,
    /// Its root hash, base64 as in the checkpoint.
    pub root: String,
    /// The signed note as the log served it.
    pub note: String,
}

/// The prefix of the log whose entries have been checked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Processed {
    /// Entries checked.
    pub size: u64,
    /// The root of the tree of those entries, base64.
    pub root: String,
}

/// One event touching a watched domain or USCC, printed as a JSON line.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    /// The entry's index in the log.
    pub index: u64,
    /// `issue`, `hold`, `release`, `revoke`, `complaint_decision`.
    pub kind: &'static str,
    /// When, RFC 3339 UTC.
    pub time: String,
    /// The certificate's domains, or the site's.
    pub domains: Vec<String>,
    /// The organization's USCC.
    pub uscc: Option<String>,
    /// The certificate serial.
    pub serial: Option<String>,
    /// The site id.
    pub site: Option<String>,
    /// The revocation or hold reason.
    pub reason: Option<String>,
    /// The issuing CA.
    pub issuer: Option<String>,
    /// A complaint decision: `upheld` or `dismissed`.
    pub decision: Option<String>,
}

/// What a run checked.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// The log's origin.
    pub origin: String,
    /// The size of the checkpoint verified last time (0 on the first run).
    pub previous_size: u64,
    /// The size of the checkpoint verified now.
    pub size: u64,
    /// Its root, base64.
    pub root: String,
    /// The first entry checked by this run.
    pub entries_from: u64,
    /// One past the last entry checked by this run.
    pub entries_to: u64,
    /// Entries of the checkpoint left for the next runs.
    pub pending: u64,
    /// Entries checked, by kind.
    pub kinds: BTreeMap<&'static str, u64>,
    /// Events printed for the watch list.
    pub watched_events: usize,
}

/// The domains and USCCs a run looks for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WatchList {
    domains: Vec<String>,
    usccs: Vec<String>,
}

impl WatchList {
    /// Reads items as typed: a USCC (18 characters, checked), or a domain (Unicode
    /// or A-labels, any case) which also matches its subdomains.
    pub fn parse(items: &[String]) -> Result<WatchList> {
        let mut out = WatchList::default();
        for item in items.iter().map(|i| i.trim()).filter(|i| !i.is_empty()) {
            let looks_like_uscc = item.chars().count() == 18
                && item.chars().all(|c| c.is_ascii_alphanumeric())
                && item.chars().any(|c| c.is_ascii_digit());
            if looks_like_uscc {
                out.usccs.push(Uscc::parse(item)?.as_str().to_owned());
            } else {
                out.domains.push(Domain::parse(item)?.as_str().to_owned());
            }
        }
        if out.domains.len() + out.usccs.len() > MAX_WATCH {
            return Err(Error::Config(format!(
                "more than {MAX_WATCH} items to watch"
            )));
        }
        out.domains.sort();
        out.domains.dedup();
        out.usccs.sort();
        out.usccs.dedup();
        Ok(out)
    }

    /// The items in their canonical spelling, as the state file keeps them.
    pub fn items(&self) -> Vec<String> {
        self.domains.iter().chain(&self.usccs).cloned().collect()
    }

    /// Whether nothing is watched.
    pub fn is_empty(&self) -> bool {
        self.domains.is_empty() && self.usccs.is_empty()
    }

    /// Whether the entry names a watched USCC, or a watched domain or a subdomain of one.
    pub fn matches(&self, e: &Entry) -> bool {
        if let Some(u) = &e.uscc
            && self.usccs.iter().any(|w| w == u)
        {
            return true;
        }
        e.domains.iter().any(|d| {
            self.domains.iter().any(|w| {
                d == w
                    || d.strip_suffix(w.as_str())
                        .is_some_and(|head| head.ends_with('.'))
            })
        })
    }
}

fn b64(h: &Hash) -> String {
    STANDARD.encode(h.0)
}

fn unb64(field: &str, s: &str) -> Result<Hash> {
    let bytes = STANDARD
        .decode(s)
        .map_err(|_| Error::LogState(format!("{field} is not base64")))?;
    let arr: [u8; 32] = bytes
        .try_into()
        .map_err(|_| Error::LogState(format!("{field} is not a SHA-256 hash")))?;
    Ok(Hash(arr))
}

/// The root of the empty tree: SHA-256 of nothing (RFC 6962).
fn empty_root() -> Hash {
    let d = ring::digest::digest(&ring::digest::SHA256, b"");
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    Hash(out)
}

fn alert(msg: impl Into<String>) -> Error {
    Error::LogAlert(msg.into())
}

fn fetch_err(msg: impl Into<String>) -> Error {
    Error::LogFetch(msg.into())
}

impl State {
    /// A fresh state trusting `vkey` (checked to be a signed-note Ed25519 key).
    fn new(vkey: &str) -> Result<State> {
        let origin = vkey
            .split('+')
            .next()
            .filter(|n| !n.is_empty())
            .ok_or_else(|| Error::Config(format!("--vkey {vkey:?} is not a verifier key")))?;
        tlog::witness::check_log_key(origin, vkey)
            .map_err(|e| Error::Config(format!("--vkey: {e}")))?;
        Ok(State {
            version: STATE_VERSION,
            vkey: vkey.to_owned(),
            origin: origin.to_owned(),
            checkpoint: None,
            processed: Processed {
                size: 0,
                root: b64(&empty_root()),
            },
            watch: Vec::new(),
        })
    }

    /// Reads the state file; `None` when it does not exist. Its checkpoint is checked
    /// again with its key, so a damaged file is noticed rather than trusted.
    pub fn load(path: &Path) -> Result<Option<State>> {
        use std::io::Read;
        let file = match std::fs::File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::LogState(format!("{}: {e}", path.display()))),
        };
        let mut text = String::new();
        file.take(MAX_STATE_BYTES + 1)
            .read_to_string(&mut text)
            .map_err(|e| Error::LogState(format!("{}: {e}", path.display())))?;
        if text.len() as u64 > MAX_STATE_BYTES {
            return Err(Error::LogState(format!(
                "{} is larger than {MAX_STATE_BYTES} bytes",
                path.display()
            )));
        }
        let state: State = serde_json::from_str(&text)
            .map_err(|e| Error::LogState(format!("{}: {e}", path.display())))?;
        if state.version != STATE_VERSION {
            return Err(Error::LogState(format!(
                "{}: version {} (this monitor reads {STATE_VERSION})",
                path.display(),
                state.version
            )));
        }
        unb64("processed.root", &state.processed.root)?;
        if let Some(v) = &state.checkpoint {
            let c = Checkpoint::open(v.note.as_bytes(), &state.vkey).map_err(|e| {
                Error::LogState(format!("{}: the stored checkpoint: {e}", path.display()))
            })?;
            if c.size != v.size || b64(&c.root) != v.root || c.origin != state.origin {
                return Err(Error::LogState(format!(
                    "{}: the stored size or root is not the stored checkpoint's",
                    path.display()
                )));
            }
        }
        let checked = state.checkpoint.as_ref().map_or(0, |v| v.size);
        if state.processed.size > checked {
            return Err(Error::LogState(format!(
                "{}: more entries processed than verified",
                path.display()
            )));
        }
        Ok(Some(state))
    }

    /// Writes the state file whole or not at all (temporary file, fsync, rename).
    pub fn save(&self, path: &Path) -> Result<()> {
        let mut text = serde_json::to_vec_pretty(self)
            .map_err(|e| Error::LogState(format!("encoding the state: {e}")))?;
        text.push(b'\n');
        ca::signer::write_file_atomically(path, &text, 0o644, true)
            .map_err(|e| Error::LogState(e.to_string()))
    }
}

/// The number of hashes tile (`level`, `n`) holds in a tree of `size` entries, if
/// the tree has that tile.
fn width_at(size: u64, level: u8, n: u64) -> Option<u32> {
    let at_level = size >> (u32::from(tiles::HEIGHT) * u32::from(level));
    let start = n.checked_mul(u64::from(tiles::WIDTH))?;
    (at_level > start).then(|| (at_level - start).min(u64::from(tiles::WIDTH)) as u32)
}

/// The log as seen over HTTP.
struct Log {
    client: reqwest::Client,
    base: url::Url,
}

impl Log {
    fn new(url: &str) -> Result<Log> {
        let mut base =
            url::Url::parse(url).map_err(|e| Error::Config(format!("log URL {url:?}: {e}")))?;
        if !matches!(base.scheme(), "http" | "https") || base.host_str().is_none() {
            return Err(Error::Config(format!(
                "log URL {url:?}: an http or https URL with a host"
            )));
        }
        if base.query().is_some() || base.fragment().is_some() {
            return Err(Error::Config(format!(
                "log URL {url:?}: no query or fragment"
            )));
        }
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        crate::icp::install_crypto_provider();
        let client = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .redirect(reqwest::redirect::Policy::custom(same_host_redirects))
            .user_agent(concat!("chengxin-log-monitor/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| fetch_err(format!("HTTP client: {e}")))?;
        Ok(Log { client, base })
    }

    /// GETs `path` under the log's URL: the body (at most `max` bytes), or `None` on 404.
    async fn get(&self, path: &str, max: usize) -> Result<Option<Vec<u8>>> {
        let url = self
            .base
            .join(path)
            .map_err(|e| fetch_err(format!("{path}: {e}")))?;
        let response = self
            .client
            .get(url.clone())
            .send()
            .await
            .map_err(|e| fetch_err(format!("{url}: {}", crate::http::describe(&e))))?;
        let status = response.status();
        if status == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if status.is_redirection() {
            let to = response
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("?");
            return Err(fetch_err(format!(
                "{url} redirects to {to:?}: not followed (another host, or too many)"
            )));
        }
        if !status.is_success() {
            return Err(fetch_err(format!("{url}: HTTP {status}")));
        }
        if response.content_length().is_some_and(|n| n > max as u64) {
            return Err(fetch_err(format!("{url}: more than {max} bytes")));
        }
        let (body, over) = crate::http::read_capped(response, max + 1)
            .await
            .map_err(|e| fetch_err(format!("{url}: {e}")))?;
        if over {
            return Err(fetch_err(format!("{url}: more than {max} bytes")));
        }
        Ok(Some(body))
    }

    async fn checkpoint(&self) -> Result<Vec<u8>> {
        self.get("checkpoint", MAX_CHECKPOINT_BYTES)
            .await?
            .ok_or_else(|| fetch_err(format!("{}checkpoint: not found (404)", self.base)))
    }

    /// Hash tile (`level`, `n`) as a tree of `size` entries has it, when the log is at
    /// `latest` entries. A static log serves partial tiles only at the width of its
    /// latest checkpoint, so a narrower one is cut from the wider tile or the full one
    /// (hashes never change once written).
    async fn hash_tile(&self, level: u8, n: u64, size: u64, latest: u64) -> Result<Vec<u8>> {
        let width = width_at(size, level, n)
            .ok_or_else(|| alert(format!("a tree of {size} has no tile {level}/{n}")))?;
        let mut widths = vec![width];
        for w in [width_at(latest, level, n), Some(tiles::WIDTH)]
            .into_iter()
            .flatten()
        {
            if w > width && !widths.contains(&w) {
                widths.push(w);
            }
        }
        for w in widths {
            let path = TilePath::Hashes { level, n, width: w }.to_path();
            if let Some(mut data) = self.get(&path, MAX_TILE_BYTES).await? {
                if data.len() != w as usize * tiles::HASH_BYTES {
                    return Err(alert(format!(
                        "{path} has {} bytes, not {} hashes",
                        data.len(),
                        w
                    )));
                }
                data.truncate(width as usize * tiles::HASH_BYTES);
                return Ok(data);
            }
        }
        Err(fetch_err(format!(
            "{}: the log does not serve tile {level}/{n} of its tree of {latest}",
            self.base
        )))
    }

    /// Entry bundle `n` as the log of `latest` entries has it (or the full bundle, if
    /// the log grew meanwhile), split into entries.
    async fn bundle(&self, n: u64, latest: u64) -> Result<Vec<Vec<u8>>> {
        let width = width_at(latest, 0, n)
            .ok_or_else(|| alert(format!("a tree of {latest} has no bundle {n}")))?;
        let mut widths = vec![width];
        if width != tiles::WIDTH {
            widths.push(tiles::WIDTH);
        }
        for w in widths {
            let path = TilePath::Entries { n, width: w }.to_path();
            if let Some(bytes) = self.get(&path, MAX_BUNDLE_BYTES).await? {
                let entries = tiles::unbundle(&bytes).map_err(|e| alert(format!("{path}: {e}")))?;
                if entries.len() != w as usize {
                    return Err(alert(format!(
                        "{path} holds {} entries, not {w}",
                        entries.len()
                    )));
                }
                return Ok(entries.into_iter().map(<[u8]>::to_vec).collect());
            }
        }
        Err(fetch_err(format!(
            "{}: the log does not serve entry bundle {n} of its tree of {latest}",
            self.base
        )))
    }

    /// Runs a tree computation over the tiles of the tree of `size` entries, fetching
    /// the tiles it names until it has what it needs.
    async fn with_tiles<T>(
        &self,
        map: &mut TileMap,
        size: u64,
        latest: u64,
        mut f: impl FnMut(&mut TileMap) -> tlog::Result<T>,
    ) -> Result<T> {
        for _ in 0..TILE_ROUNDS {
            match f(map) {
                Ok(v) => return Ok(v),
                Err(tlog::Error::Missing(want)) => {
                    let mut fetched = futures_util::stream::iter(want)
                        .map(|(level, n)| async move {
                            (level, n, self.hash_tile(level, n, size, latest).await)
                        })
                        .buffer_unordered(FETCH_CONCURRENCY);
                    while let Some((level, n, data)) = fetched.next().await {
                        map.insert(level, n, data?)
                            .map_err(|e| alert(e.to_string()))?;
                    }
                }
                Err(e) => return Err(alert(format!("tree of {size}: {e}"))),
            }
        }
        Err(alert(format!(
            "tree of {size}: a computation kept asking for tiles"
        )))
    }
}

/// Follows a redirect only on the same host, never from https to http, and at most
/// [`MAX_REDIRECTS`] times; otherwise the redirect itself is the answer (an error).
fn same_host_redirects(attempt: reqwest::redirect::Attempt<'_>) -> reqwest::redirect::Action {
    let Some(first) = attempt.previous().first() else {
        return attempt.stop();
    };
    let to = attempt.url();
    let ok = attempt.previous().len() <= MAX_REDIRECTS
        && to.host_str() == first.host_str()
        && matches!(to.scheme(), "http" | "https")
        && !(first.scheme() == "https" && to.scheme() == "http");
    if ok { attempt.follow() } else { attempt.stop() }
}

/// Everything a run found, before anything is printed or saved.
struct Outcome {
    report: Report,
    events: Vec<Event>,
    state: State,
}

/// Runs the monitor once: checks, prints the watched events as JSON lines to `out`
/// (or the report, as one JSON line, when nothing is watched), then saves the state.
pub async fn run(opts: &Options, out: &mut dyn Write) -> Result<Report> {
    let state = match (State::load(&opts.state)?, &opts.vkey) {
        (Some(s), Some(k)) if s.vkey != k.trim() => {
            return Err(Error::Config(format!(
                "{} trusts the key {}, not the --vkey given; use another state file for \
                 another log or key",
                opts.state.display(),
                s.vkey
            )));
        }
        (Some(s), _) => s,
        (None, Some(k)) => State::new(k.trim())?,
        (None, None) => {
            return Err(Error::Config(format!(
                "{} does not exist: the first run needs --vkey (the log's verifier key, \
                 from its operator or `ca log key`), which the state file then keeps; \
                 the key the server publishes is not trusted on its own",
                opts.state.display()
            )));
        }
    };
    let watch = match &opts.watch {
        Some(items) => WatchList::parse(items)?,
        None => WatchList::parse(&state.watch)?,
    };
    let log = Log::new(&opts.url)?;
    let max = opts.max_entries.clamp(1, MAX_ENTRIES_PER_RUN);
    let outcome = check(&log, state, &watch, max).await?;
    let mut printed = Ok(());
    if watch.is_empty() {
        printed = writeln!(
            out,
            "{}",
            serde_json::to_string(&outcome.report).unwrap_or_default()
        );
    } else {
        for e in &outcome.events {
            printed = printed
                .and_then(|()| writeln!(out, "{}", serde_json::to_string(e).unwrap_or_default()));
        }
    }
    printed
        .and_then(|()| out.flush())
        .map_err(|e| Error::LogState(format!("writing the events: {e}")))?;
    // Saved only after the events are out: a crash in between prints them again next
    // time rather than never.
    outcome.state.save(&opts.state)?;
    Ok(outcome.report)
}

/// Checks the log against the state, and what a successful run would save.
async fn check(log: &Log, mut state: State, watch: &WatchList, max: u64) -> Result<Outcome> {
    let note = log.checkpoint().await?;
    let new = Checkpoint::open(&note, &state.vkey).map_err(|e| {
        alert(format!(
            "the checkpoint at {}checkpoint does not verify with the key {}: {e}",
            log.base, state.vkey
        ))
    })?;
    let note_text = String::from_utf8(note)
        .map_err(|_| alert("the checkpoint is not UTF-8 (yet it verified)"))?;
    let (old_size, old_root) = match &state.checkpoint {
        Some(v) => (v.size, unb64("checkpoint.root", &v.root)?),
        None => (0, empty_root()),
    };
    let (n, root) = (new.size, new.root);
    if n < old_size {
        return Err(alert(format!(
            "the log shrank: its checkpoint has {n} entries (root {}), but it signed {old_size} \
             (root {}) before",
            b64(&root),
            b64(&old_root)
        )));
    }
    if n == old_size && root != old_root {
        return Err(alert(format!(
            "the log forked: two checkpoints of size {n} signed by its key, root {} (kept in \
             the state file) and root {} (served now)",
            b64(&old_root),
            b64(&root)
        )));
    }
    // One map of the new tree's tiles as the log serves them: proofs are computed from
    // it and checked against signed roots, so a wrong tile can only make a check fail.
    let mut served = TileMap::new();
    if old_size > 0 && n > old_size {
        let proof = log
            .with_tiles(&mut served, n, n, |m| m.consistency(n, old_size))
            .await?;
        if tiles::check_consistency(&proof, n, root, old_size, old_root).is_err() {
            return Err(diagnose_fork(log, &mut served, n, root, old_size, old_root).await);
        }
    }

    // The entries not yet checked, up to the run's limit.
    let from = state.processed.size;
    let from_root = unb64("processed.root", &state.processed.root)?;
    let to = n.min(from.saturating_add(max));
    let mut edge = TileMap::new();
    if from > 0 && to > from {
        let have = log.with_tiles(&mut edge, from, n, |m| m.root(from)).await?;
        if have != from_root {
            return Err(alert(format!(
                "the log's tiles give root {} for its first {from} entries, not the root {} \
                 checked before",
                b64(&have),
                b64(&from_root)
            )));
        }
    }
    let mut leaves = Vec::with_capacity((to - from) as usize);
    let mut kinds: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut events = Vec::new();
    let mut bad_entry: Option<String> = None;
    let first_bundle = from / u64::from(tiles::WIDTH);
    let last_bundle = to.div_ceil(u64::from(tiles::WIDTH));
    let mut bundles = futures_util::stream::iter(first_bundle..last_bundle)
        .map(|k| async move { (k, log.bundle(k, n).await) })
        .buffered(FETCH_CONCURRENCY);
    while let Some((k, entries)) = bundles.next().await {
        let start = k * u64::from(tiles::WIDTH);
        for (i, bytes) in entries?.iter().enumerate() {
            let index = start + i as u64;
            if index < from || index >= to {
                continue;
            }
            leaves.push(tiles::leaf_hash(bytes));
            match Entry::parse(bytes) {
                Ok(e) => {
                    *kinds.entry(e.kind().name()).or_default() += 1;
                    if watch.matches(&e) {
                        events.push(event(index, &e));
                    }
                }
                Err(e) => {
                    bad_entry.get_or_insert_with(|| format!("entry {index}: {e}"));
                }
            }
        }
    }
    drop(bundles);
    if leaves.len() as u64 != to - from {
        return Err(alert(format!(
            "the log served {} of entries {from}..{to}",
            leaves.len()
        )));
    }
    let to_root = if to == from {
        from_root
    } else {
        let (r, _) = log
            .with_tiles(&mut edge, from, n, |m| m.append(from, &leaves))
            .await?;
        r
    };
    let entries_ok = if to == n {
        to_root == root
    } else {
        let proof = log
            .with_tiles(&mut served, n, n, |m| m.consistency(n, to))
            .await?;
        tiles::check_consistency(&proof, n, root, to, to_root).is_ok()
    };
    if !entries_ok {
        return Err(alert(format!(
            "entries {from}..{to} as the log serves them do not hash to its checkpoint of \
             size {n} (root {}): a changed entry bundle",
            b64(&root)
        )));
    }
    // Hashed into the signed root, so the log itself holds a non-canonical entry.
    if let Some(bad) = bad_entry {
        return Err(alert(format!(
            "the log signed an entry that is not in the canonical encoding: {bad}"
        )));
    }

    let report = Report {
        origin: state.origin.clone(),
        previous_size: old_size,
        size: n,
        root: b64(&root),
        entries_from: from,
        entries_to: to,
        pending: n - to,
        kinds,
        watched_events: events.len(),
    };
    state.checkpoint = Some(Verified {
        size: n,
        root: b64(&root),
        note: note_text,
    });
    state.processed = Processed {
        size: to,
        root: b64(&to_root),
    };
    state.watch = watch.items();
    Ok(Outcome {
        report,
        events,
        state,
    })
}

/// A checkpoint that does not extend the old one: the log forked if its own tiles
/// hash to its new root (then they give another root at the old size), else it
/// serves tiles that do not match its checkpoint.
async fn diagnose_fork(
    log: &Log,
    served: &mut TileMap,
    n: u64,
    root: Hash,
    old_size: u64,
    old_root: Hash,
) -> Error {
    let roots = async {
        let new = log.with_tiles(served, n, n, |m| m.root(n)).await?;
        let old = log.with_tiles(served, n, n, |m| m.root(old_size)).await?;
        Ok::<_, Error>((new, old))
    };
    match roots.await {
        Ok((tiles_root, tiles_old)) if tiles_root == root => alert(format!(
            "the log forked: its checkpoint of size {n} (root {}) does not extend the \
             checkpoint of size {old_size} (root {}) it signed before; its tree has root {} \
             at size {old_size}",
            b64(&root),
            b64(&old_root),
            b64(&tiles_old)
        )),
        Ok((tiles_root, _)) => alert(format!(
            "no consistency proof from size {old_size} (root {}) to size {n} (root {}): the \
             log's tiles give root {} for size {n}, not its checkpoint's",
            b64(&old_root),
            b64(&root),
            b64(&tiles_root)
        )),
        Err(e) => alert(format!(
            "no consistency proof from size {old_size} (root {}) to size {n} (root {}): {e}",
            b64(&old_root),
            b64(&root)
        )),
    }
}

fn event(index: u64, e: &Entry) -> Event {
    Event {
        index,
        kind: e.kind().name(),
        time: OffsetDateTime::from_unix_timestamp(e.time)
            .ok()
            .and_then(|t| t.format(&Rfc3339).ok())
            .unwrap_or_default(),
        domains: e.domains.clone(),
        uscc: e.uscc.clone(),
        serial: e.serial.clone(),
        site: e.site.clone(),
        reason: e.reason.clone(),
        issuer: e.issuer.clone(),
        decision: e.decision.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(domains: &[&str], uscc: Option<&str>) -> Entry {
        Entry {
            domains: domains.iter().map(|d| d.to_string()).collect(),
            uscc: uscc.map(str::to_owned),
            ..Entry::new(tlog::Kind::Issue, 0)
        }
    }

    #[test]
    fn a_watched_domain_matches_itself_and_its_subdomains_only() {
        let w = WatchList::parse(&[
            "Chenxi-Shuzhi.CN".into(),
            " 91110108MA04T7K21H ".into(),
            "".into(),
        ])
        .unwrap();
        assert_eq!(w.items(), ["chenxi-shuzhi.cn", "91110108MA04T7K21H"]);
        assert!(w.matches(&entry(&["chenxi-shuzhi.cn"], None)));
        assert!(w.matches(&entry(&["a.www.chenxi-shuzhi.cn"], None)));
        assert!(!w.matches(&entry(&["xchenxi-shuzhi.cn"], None)));
        assert!(!w.matches(&entry(&["chenxi-shuzhi.cn.evil.com"], None)));
        assert!(w.matches(&entry(&["other.cn"], Some("91110108MA04T7K21H"))));
        assert!(!w.matches(&entry(&["other.cn"], Some("91110000100000000Q"))));
        // IDNs are watched in their A-label form, as entries carry them.
        let idn = WatchList::parse(&["晨曦.中国".into()]).unwrap();
        assert!(idn.items()[0].starts_with("xn--"), "{:?}", idn.items());
        assert!(WatchList::parse(&["91110108MA04T7K21X".into()]).is_err());
        assert!(WatchList::parse(&["not a domain".into()]).is_err());
    }

    #[test]
    fn widths_follow_the_tree_size() {
        assert_eq!(width_at(300, 0, 0), Some(256));
        assert_eq!(width_at(300, 0, 1), Some(44));
        assert_eq!(width_at(300, 0, 2), None);
        assert_eq!(width_at(300, 1, 0), Some(1));
        assert_eq!(width_at(255, 1, 0), None);
    }
}
