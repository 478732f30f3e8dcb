//! The transparency log, as the CA keeps it: entries appended inside the event's own
//! transaction, the integrator that hashes them into stored tiles and signs a
//! checkpoint at most once per period, proofs read from stored tiles, and the audit
//! that recomputes all of it (`ca log verify`).
//!
//! The formats are the `tlog` crate's (C2SP tlog-tiles, tlog-checkpoint,
//! signed-note; RFC 6962 hashing). Design §4 "Transparency log".

use std::path::Path;

use ring::rand::SecureRandom;
use time::OffsetDateTime;
use tlog::tiles::{self, Hash, TileMap};
use tlog::{Checkpoint, Entry, Kind, LogKey};

use crate::db::{Database, Tx};
use crate::revocation::RevocationReason;
use crate::store::{self, CertificateRecord, log as db};
use crate::{Error, Result};

/// The log key's file in the CA directory: Ed25519 PKCS#8, encrypted with the issuing
/// key's passphrase.
pub const LOG_KEY: &str = "log.key.pem";

/// Most entries one integration hashes: a backlog is worked off over several periods
/// rather than in one long transaction.
pub const MAX_INTEGRATE: i64 = 100_000;

/// Entries read from the database at a time while integrating or verifying.
const READ_CHUNK: i64 = 5_000;

/// Rounds of "load the tiles it asks for, try again" before a computation gives up.
const TILE_ROUNDS: usize = 6;

fn log_err(e: tlog::Error) -> Error {
    Error::Log(e.to_string())
}

impl From<tlog::Error> for Error {
    fn from(e: tlog::Error) -> Self {
        log_err(e)
    }
}

/// The default origin: the public URL's host (and port, when it has one) and `/log`.
pub fn default_origin(public_url: &str) -> Result<String> {
    let url = url::Url::parse(public_url)
        .map_err(|e| Error::Config(format!("CHENGXIN_PUBLIC_URL {public_url:?}: {e}")))?;
    let host = url
        .host_str()
        .ok_or_else(|| Error::Config(format!("CHENGXIN_PUBLIC_URL {public_url:?} has no host")))?;
    Ok(match url.port() {
        Some(p) => format!("{host}:{p}/log"),
        None => format!("{host}/log"),
    })
}

/// Creates the head row (with a fresh complaint salt) unless it exists. Every process
/// that opens the CA calls it, so the log is ready before the first append.
pub async fn ensure_head(db: &Database) -> Result<()> {
    let mut salt = [0u8; 32];
    ring::rand::SystemRandom::new()
        .fill(&mut salt)
        .map_err(|_| Error::Signer("system random generator failed".into()))?;
    db::ensure_head(db, &tlog_tiles_empty(), &salt).await
}

fn tlog_tiles_empty() -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, b"");
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// Appends entries inside the caller's transaction: the event and its entry commit
/// together or not at all. Returns the first entry's index.
///
/// Lock order: the audit head, then the log counter. Every event is audited too, in
/// either order within its transaction; taking the audit head here first means no
/// two transactions ever hold one of the two while waiting for the other (PostgreSQL
/// found exactly that deadlock between an issuance and a revocation).
pub async fn append(tx: &mut Tx, entries: &[(Entry, Option<i64>)]) -> Result<i64> {
    store::audit::lock_head(tx).await?;
    let mut rows = Vec::with_capacity(entries.len());
    for (e, certificate_id) in entries {
        rows.push(db::NewLogEntry {
            kind: e.kind().name(),
            certificate_id: *certificate_id,
            site_id: e.site.clone(),
            body: e.encode()?,
        });
    }
    db::append(tx, &rows).await
}

/// The entry of an event about a stored certificate: hold, release or revoke.
pub async fn certificate_event_in(
    tx: &mut Tx,
    rec: &CertificateRecord,
    issuer_slug: &str,
    reason: RevocationReason,
    now: i64,
) -> Result<Entry> {
    let kind = match reason {
        RevocationReason::CertificateHold => Kind::Hold,
        RevocationReason::RemoveFromCrl => Kind::Release,
        _ => Kind::Revoke,
    };
    let domains: Vec<String> = serde_json::from_str(&rec.domains)
        .map_err(|e| Error::Encoding(format!("certificate {} domains: {e}", rec.id)))?;
    let sha256 = match (&rec.sha256, &rec.der) {
        (Some(h), _) if h.len() == 32 => {
            let mut out = [0u8; 32];
            out.copy_from_slice(h);
            out
        }
        (_, Some(der)) => Entry::certificate_sha256(der),
        _ => {
            return Err(Error::Encoding(format!(
                "certificate {} has no DER",
                rec.id
            )));
        }
    };
    Ok(Entry {
        issuer: Some(issuer_slug.to_owned()),
        serial: Some(hex::encode(&rec.serial)),
        sha256: Some(sha256),
        site: db::site_of_certificate_in(tx, rec.id).await?,
        uscc: Some(rec.uscc.clone()),
        domains,
        reason: (kind != Kind::Release).then(|| reason.name().to_owned()),
        ..Entry::new(kind, now)
    })
}

/// The salted hash of a complaint id, with the log's secret salt.
pub async fn complaint_hash_in(tx: &mut Tx, complaint_id: &str) -> Result<[u8; 32]> {
    let salt = db::salt_in(tx).await?;
    Ok(Entry::complaint_hash(&salt, complaint_id))
}

/// Runs a tree computation over stored tiles, loading the tiles it names until it
/// has what it needs.
pub async fn with_tiles<T>(
    db: &Database,
    map: &mut TileMap,
    f: impl Fn(&TileMap) -> tlog::Result<T>,
) -> Result<T> {
    load_and_run(db, map, None, f).await
}

/// As [`with_tiles`], taking tiles from `cache` before the database and keeping
/// those read in it: a proof then reads at most its one bottom tile from the
/// database, since the upper and right-edge tiles every proof shares are in memory.
pub async fn with_cached_tiles<T>(
    db: &Database,
    cache: &TileCache,
    f: impl Fn(&TileMap) -> tlog::Result<T>,
) -> Result<T> {
    load_and_run(db, &mut TileMap::new(), Some(cache), f).await
}

async fn load_and_run<T>(
    db: &Database,
    map: &mut TileMap,
    cache: Option<&TileCache>,
    f: impl Fn(&TileMap) -> tlog::Result<T>,
) -> Result<T> {
    // Tiles taken from the cache in this call: asked for again, the cached copy was
    // narrower than this tree needs, and the database has the wider one.
    let mut from_cache = std::collections::HashSet::new();
    for _ in 0..TILE_ROUNDS {
        match f(map) {
            Ok(v) => return Ok(v),
            Err(tlog::Error::Missing(want)) => {
                let mut fetch = Vec::with_capacity(want.len());
                for key in want {
                    match cache.and_then(|c| c.get(key)) {
                        Some(data) if from_cache.insert(key) => {
                            map.insert(key.0, key.1, data.to_vec())?;
                        }
                        _ => fetch.push(key),
                    }
                }
                if fetch.is_empty() {
                    continue;
                }
                let found = db::tiles(db, &fetch).await?;
                if found.is_empty() {
                    return Err(Error::Log(format!("stored tiles missing: {fetch:?}")));
                }
                for (level, n, data) in found {
                    let key = (level as u8, n as u64);
                    if let Some(c) = cache {
                        c.put(key, &data);
                    }
                    map.insert(key.0, key.1, data)?;
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::Log(
        "a tree computation kept asking for tiles".into(),
    ))
}

/// Stored hash tiles kept in memory for proofs, up to a byte budget.
///
/// Safe to share across checkpoints because a stored tile only ever grows by
/// appending hashes (a narrower copy is a prefix of the wider one); a cached copy too
/// narrow for a newer tree is reloaded by [`with_cached_tiles`].
#[derive(Debug)]
pub struct TileCache {
    max_bytes: usize,
    inner: std::sync::Mutex<TileCacheInner>,
}

#[derive(Debug, Default)]
struct TileCacheInner {
    tiles: std::collections::HashMap<(u8, u64), std::sync::Arc<[u8]>>,
    bytes: usize,
}

impl TileCache {
    /// A cache holding at most `max_bytes` of tile data.
    pub fn new(max_bytes: usize) -> TileCache {
        TileCache {
            max_bytes,
            inner: std::sync::Mutex::default(),
        }
    }

    fn get(&self, key: (u8, u64)) -> Option<std::sync::Arc<[u8]>> {
        self.inner.lock().ok()?.tiles.get(&key).cloned()
    }

    fn put(&self, key: (u8, u64), data: &[u8]) {
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        if data.len() > self.max_bytes {
            return;
        }
        let old = inner.tiles.get(&key).map_or(0, |d| d.len());
        if inner.bytes - old + data.len() > self.max_bytes {
            // Over budget: start again rather than track recency. Level-0 tiles, the
            // only ones numerous enough to fill it, are each read by few proofs; the
            // few upper tiles are back after the next proof.
            inner.tiles.clear();
            inner.bytes = 0;
        } else {
            inner.bytes -= old;
        }
        inner.bytes += data.len();
        inner.tiles.insert(key, data.into());
    }
}

/// The inclusion proof of entry `index` in the tree of `size` entries, from stored
/// tiles.
pub async fn inclusion_proof(db: &Database, size: u64, index: u64) -> Result<Vec<Hash>> {
    with_tiles(db, &mut TileMap::new(), |m| m.inclusion(size, index)).await
}

/// The consistency proof from the tree of `old` entries to that of `new`.
pub async fn consistency_proof(db: &Database, new: u64, old: u64) -> Result<Vec<Hash>> {
    with_tiles(db, &mut TileMap::new(), |m| m.consistency(new, old)).await
}

/// A hash tile's bytes at `width`, if the stored tile is at least that wide.
pub async fn hash_tile(db: &Database, level: u8, n: u64, width: u32) -> Result<Option<Vec<u8>>> {
    let want = width as usize * tiles::HASH_BYTES;
    Ok(db::tiles(db, &[(level, n)])
        .await?
        .into_iter()
        .next()
        .and_then(|(_, _, mut data)| {
            (data.len() >= want).then(|| {
                data.truncate(want);
                data
            })
        }))
}

/// An entry bundle: entries `256n .. 256n + width`.
pub async fn entry_bundle(db: &Database, n: u64, width: u32) -> Result<Vec<u8>> {
    let from = i64::try_from(n.saturating_mul(u64::from(tiles::WIDTH)))
        .map_err(|_| Error::Log("bundle out of range".into()))?;
    let rows = db::entries(db, from, from + i64::from(width)).await?;
    if rows.len() != width as usize {
        return Err(Error::Log(format!(
            "bundle {n} has {} of {width} entries",
            rows.len()
        )));
    }
    Ok(tiles::bundle(rows.iter().map(|r| r.body.as_slice()))?)
}

/// The log's signer: the checkpoint key and its origin.
#[derive(Debug)]
pub struct LogSigner {
    key: LogKey,
}

/// A checkpoint the integrator signed.
#[derive(Debug, Clone)]
pub struct Signed {
    /// Entries in the tree.
    pub size: u64,
    /// The tree's root.
    pub root: Hash,
    /// The signed note.
    pub note: String,
}

impl LogSigner {
    /// Opens the log key in the CA directory, creating it (encrypted with
    /// `passphrase`) when the directory has none: a CA made before the log existed
    /// gets its key on the first start that needs it.
    pub fn open(ca_dir: &Path, passphrase: &[u8], origin: &str) -> Result<LogSigner> {
        let path = ca_dir.join(LOG_KEY);
        if !path.exists() {
            let pkcs8 = zeroize::Zeroizing::new(LogKey::generate()?);
            crate::signer::write_encrypted_key(&path, &pkcs8, passphrase)?;
            tracing::warn!(path = %path.display(), "created the transparency log key");
        }
        let pkcs8 = crate::signer::read_encrypted_pkcs8(&path, passphrase)?;
        Ok(LogSigner {
            key: LogKey::from_pkcs8(origin, &pkcs8)?,
        })
    }

    /// The log's origin.
    pub fn origin(&self) -> &str {
        self.key.name()
    }

    /// The verifier key, in signed-note form.
    pub fn verifier_key(&self) -> String {
        self.key.verifier_key()
    }

    /// Hashes the entries appended since the last checkpoint into the stored tiles
    /// and signs a checkpoint, in one transaction under the head's lock, so two
    /// replicas integrating at once queue and never fork the tree. Nothing new:
    /// nothing signed (`None`).
    pub async fn integrate(&self, db: &Database) -> Result<Option<Signed>> {
        let mut tx = db.begin().await?;
        let (size, _) = db::head_for_update(&mut tx).await?;
        let mut next = size;
        let mut root = None;
        // Chunk by chunk, each appended to a map of just the edge tiles it starts
        // from, its changed tiles written before the next is read: the memory used is
        // that of one chunk whatever the backlog. Holding a whole backlog's hashes
        // (100,000 entries after a bulk load: ~20 MB of maps and tiles) left the
        // server's resident memory that much higher for good (issue 14).
        while (next - size) < MAX_INTEGRATE {
            let take = READ_CHUNK.min(MAX_INTEGRATE - (next - size));
            let rows = db::entries_in(&mut tx, next, take).await?;
            if rows.is_empty() {
                break;
            }
            let mut leaves = Vec::with_capacity(rows.len());
            for r in &rows {
                let expected = next + leaves.len() as i64;
                if r.idx != expected {
                    return Err(Error::Log(format!(
                        "entry {expected} is missing (found {} after it)",
                        r.idx
                    )));
                }
                leaves.push(tiles::leaf_hash(&r.body));
            }
            drop(rows);
            let old = next as u64;
            let mut map = TileMap::new();
            for (level, n, data) in db::tiles_in(&mut tx, &TileMap::edge(old)).await? {
                map.insert(level as u8, n as u64, data)?;
            }
            let (chunk_root, changed) = map.append(old, &leaves)?;
            let changed: Vec<(u8, u64, Vec<u8>)> = changed
                .into_iter()
                .filter_map(|(p, data)| match p {
                    tlog::TilePath::Hashes { level, n, .. } => Some((level, n, data)),
                    tlog::TilePath::Entries { .. } => None,
                })
                .collect();
            db::put_tiles(&mut tx, &changed).await?;
            root = Some(chunk_root);
            next += leaves.len() as i64;
            if (leaves.len() as i64) < take {
                break;
            }
        }
        let Some(root) = root else {
            return Ok(None);
        };
        let new = next as u64;
        let new_i = i64::try_from(new).map_err(|_| Error::Log("log too large".into()))?;
        db::set_head(&mut tx, new_i, &root.0).await?;
        let note = self.key.sign(&Checkpoint {
            origin: self.origin().to_owned(),
            size: new,
            root,
        })?;
        let note = String::from_utf8(note).map_err(|e| Error::Log(e.to_string()))?;
        let now = OffsetDateTime::now_utc().unix_timestamp();
        db::insert_checkpoint(&mut tx, new_i, &root.0, &note, now).await?;
        tx.commit().await?;
        Ok(Some(Signed {
            size: new,
            root,
            note,
        }))
    }
}

/// What `ca log verify` found.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Verified {
    /// Entries checked.
    pub entries: u64,
    /// Checkpoints whose signature, root and consistency were checked.
    pub checkpoints: usize,
    /// Hash tiles compared with the ones recomputed.
    pub tiles: usize,
    /// Certificates checked to have exactly one issue entry and matching events.
    pub certificates: usize,
    /// Audit anchors checked against the audit chain.
    pub audit_anchors: usize,
    /// The root of the whole log.
    pub root: String,
}

/// Recomputes the whole log from its entries: every entry canonical and in sequence;
/// every stored tile and the head equal to the recomputed ones; every checkpoint
/// signed by `vkey`, with the recomputed root at its size and consistent with the one
/// before; `from` (a checkpoint someone kept) likewise; every issued certificate with
/// exactly one issue entry and its revocation state the one its entries end in;
/// every audit anchor matching the audit chain. The first discrepancy is the error.
///
/// Everything is read in one snapshot ([`Database::snapshot`]): an auditor runs this
/// against the live database, and an entry, checkpoint or revocation committed
/// between two reads would otherwise look like a discrepancy.
pub async fn verify(db: &Database, vkey: &str, from: Option<&[u8]>) -> Result<Verified> {
    let mut tx = db.snapshot().await?;
    let verified = verify_in(&mut tx, vkey, from).await;
    tx.rollback().await?;
    verified
}

async fn verify_in(tx: &mut Tx, vkey: &str, from: Option<&[u8]>) -> Result<Verified> {
    let bad = |m: String| Error::Log(m);
    let mut map = TileMap::new();
    let mut size: u64 = 0;
    // Per certificate: (issue entries, sha256 of the issued certificate, state).
    let mut certs: std::collections::HashMap<i64, (u32, [u8; 32], Option<String>)> =
        std::collections::HashMap::new();
    let mut anchors = Vec::new();
    let total = db::appended(tx).await?;
    let hashes: std::collections::HashMap<i64, Vec<u8>> =
        db::certificate_hashes(tx).await?.into_iter().collect();
    loop {
        let rows = db::entries_in(tx, size as i64, READ_CHUNK * 10).await?;
        if rows.is_empty() {
            break;
        }
        let mut leaves = Vec::with_capacity(rows.len());
        for r in &rows {
            if r.idx as u64 != size + leaves.len() as u64 {
                return Err(bad(format!(
                    "entry {} is missing",
                    size + leaves.len() as u64
                )));
            }
            let e = Entry::parse(&r.body).map_err(|e| bad(format!("entry {}: {e}", r.idx)))?;
            if e.kind().name() != r.kind {
                return Err(bad(format!(
                    "entry {}: stored as {} but is {}",
                    r.idx,
                    r.kind,
                    e.kind().name()
                )));
            }
            if let Some(id) = r.certificate_id {
                let sha = e.sha256.unwrap_or_default();
                if hashes.get(&id).map(Vec::as_slice) != Some(sha.as_slice()) {
                    return Err(bad(format!(
                        "entry {}: does not carry the hash of certificate {id}, which it names",
                        r.idx
                    )));
                }
                let c = certs.entry(id).or_insert((0, sha, None));
                if c.1 != sha {
                    return Err(bad(format!(
                        "entry {}: certificate hash differs from its issue entry",
                        r.idx
                    )));
                }
                match e.kind() {
                    Kind::Issue => c.0 += 1,
                    Kind::Hold => c.2 = Some("certificateHold".into()),
                    Kind::Release => c.2 = None,
                    Kind::Revoke => c.2 = e.reason.clone(),
                    _ => {}
                }
            }
            if e.kind() == Kind::AuditAnchor {
                anchors.push((
                    r.idx,
                    e.audit_size.unwrap_or(0),
                    e.audit_head.unwrap_or_default(),
                ));
            }
            leaves.push(tiles::leaf_hash(&r.body));
        }
        map.append(size, &leaves)?;
        size += leaves.len() as u64;
    }
    if (size as i64) != total {
        return Err(bad(format!(
            "{total} entries were appended but {size} are stored"
        )));
    }
    // The stored tiles and head.
    let (head_size, head_root) = db::head(tx).await?;
    let head_size = head_size as u64;
    if head_size > size {
        return Err(bad(format!(
            "the head says {head_size} entries, {size} are stored"
        )));
    }
    let root = map.root(head_size)?;
    if head_root != root.0 {
        return Err(bad(format!(
            "the head's root at size {head_size} is not the entries' root"
        )));
    }
    let mut tiles_checked = 0;
    let paths: Vec<(u8, u64, u32)> = tlog::TilePath::hash_tiles(head_size)
        .into_iter()
        .filter_map(|path| match path {
            tlog::TilePath::Hashes { level, n, width } => Some((level, n, width)),
            _ => None,
        })
        .collect();
    let keys: Vec<(u8, u64)> = paths.iter().map(|&(level, n, _)| (level, n)).collect();
    let stored: std::collections::HashMap<(i16, i64), Vec<u8>> = db::tiles_in(tx, &keys)
        .await?
        .into_iter()
        .map(|(level, n, data)| ((level, n), data))
        .collect();
    for (level, n, width) in paths {
        let path = tlog::TilePath::Hashes { level, n, width };
        let bytes = width as usize * tiles::HASH_BYTES;
        let stored = stored
            .get(&(i16::from(level), n as i64))
            .and_then(|d| d.get(..bytes));
        let want = map.get(level, n).map(|d| &d[..bytes.min(d.len())]);
        if stored != want {
            return Err(bad(format!(
                "stored tile {} differs from the entries",
                path.to_path()
            )));
        }
        tiles_checked += 1;
    }
    // Checkpoints.
    let checkpoints = db::checkpoints(tx).await?;
    let mut prev: Option<Checkpoint> = None;
    let check = |note: &[u8], what: &str| -> Result<Checkpoint> {
        let c = Checkpoint::open(note, vkey).map_err(|e| bad(format!("{what}: {e}")))?;
        if c.size > head_size {
            return Err(bad(format!(
                "{what}: size {} beyond the log's {head_size}",
                c.size
            )));
        }
        if map.root(c.size)? != c.root {
            return Err(bad(format!(
                "{what}: its root is not the root of the first {} entries",
                c.size
            )));
        }
        Ok(c)
    };
    for row in &checkpoints {
        let what = format!("checkpoint {}", row.size);
        let c = check(row.note.as_bytes(), &what)?;
        if let Some(published) = &row.published {
            let p = check(published.as_bytes(), &format!("published {what}"))?;
            if p != c {
                return Err(bad(format!("published {what} is not the one signed")));
            }
        }
        if let Some(p) = &prev {
            let proof = map.consistency(c.size, p.size)?;
            tiles::check_consistency(&proof, c.size, c.root, p.size, p.root)
                .map_err(|e| bad(format!("{what} is not consistent with {}: {e}", p.size)))?;
        }
        prev = Some(c);
    }
    if let Some(note) = from {
        check(note, "the checkpoint given")?;
    }
    // Certificates and revocations.
    if let Some((id, n)) = db::certificates_not_logged_once(tx).await?.first() {
        return Err(bad(format!(
            "certificate {id} has {n} issue entries, not one"
        )));
    }
    let revoked: std::collections::HashMap<i64, i64> =
        db::revocation_reasons(tx).await?.into_iter().collect();
    for (id, (_, _, state)) in &certs {
        let want = revoked
            .get(id)
            .and_then(|code| RevocationReason::from_code(*code))
            .map(|r| r.name().to_owned());
        if *state != want {
            return Err(bad(format!(
                "certificate {id}: its entries end in {:?} but the database has {:?}",
                state, want
            )));
        }
    }
    for id in revoked.keys() {
        if !certs.contains_key(id) {
            return Err(bad(format!(
                "certificate {id} is revoked but has no entries"
            )));
        }
    }
    // Audit anchors.
    for (idx, audit_size, audit_head) in &anchors {
        if crate::audit::hash_at(tx, *audit_size as i64)
            .await?
            .is_none_or(|h| h != audit_head)
        {
            return Err(bad(format!(
                "entry {idx}: the audit chain's entry {audit_size} is not the one anchored"
            )));
        }
    }
    Ok(Verified {
        entries: size,
        checkpoints: checkpoints.len() + usize::from(from.is_some()),
        tiles: tiles_checked,
        certificates: certs.len(),
        audit_anchors: anchors.len(),
        root: hex::encode(root.0),
    })
}

/// Appends one entry for every issued certificate that has none (and one for its
/// hold or revocation), for databases made before the log: `ca log verify` then
/// finds every certificate logged once. Returns how many certificates were logged.
pub async fn backfill(db: &Database) -> Result<usize> {
    let mut done = 0;
    loop {
        let batch = db::unlogged_certificates(db, 500).await?;
        if batch.is_empty() {
            return Ok(done);
        }
        let mut tx = db.begin().await?;
        let now = OffsetDateTime::now_utc().unix_timestamp();
        for (id, slug, _) in &batch {
            let Some(rec) = store::certificate_by_id_in(&mut tx, *id).await? else {
                continue;
            };
            let der = rec.der.clone().unwrap_or_default();
            let mut issue =
                certificate_event_in(&mut tx, &rec, slug, RevocationReason::KeyCompromise, now)
                    .await?;
            issue.kind = Some(Kind::Issue);
            issue.reason = None;
            issue.time = rec.not_before;
            issue.certificate = Some(der);
            let mut entries = vec![(issue, Some(*id))];
            if let Some(r) = rec.revocation().and_then(|r| r.reason()) {
                entries.push((
                    certificate_event_in(&mut tx, &rec, slug, r, now).await?,
                    Some(*id),
                ));
            }
            append(&mut tx, &entries).await?;
            done += 1;
        }
        tx.commit().await?;
    }
}
