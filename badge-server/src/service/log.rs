//! The transparency log as the server runs it (design §4, issue 15): the
//! checkpointer, which once per period hashes new entries into the tiles, signs one
//! checkpoint, has the witnesses cosign it and publishes it; the reads the public
//! endpoints serve (checkpoint, tiles, a site's events with their proofs); and the
//! entries the server itself appends (complaint decisions, the daily audit anchor).
//!
//! Entries are appended by whoever makes the event, in its transaction (the CA for
//! certificates, the complaint service for decisions); every replica runs the
//! checkpointer, and the log head's lock makes them take turns, so the tree never
//! forks and a burst of events costs one signature per period.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use ca::db::{Database, Tx};
use ca::store::log as db;
use ca::transparency::LogSigner;
use tlog::tiles::{self, Hash};
use tlog::witness::{AddCheckpoint, WitnessVerifier};
use tlog::{Entry, Kind, TilePath};

use crate::config::LogSettings;
use crate::error::AppError;

/// How long a replica trusts the newest published checkpoint it read before asking
/// the database again (another replica may have published).
pub const PUBLISHED_FRESH: Duration = Duration::from_millis(500);

/// Bytes of full tiles and bundles kept in memory (they never change).
pub const TILE_CACHE_BYTES: usize = 32 * 1024 * 1024;

/// Bytes of stored hash tiles kept for proofs: the upper and right-edge tiles of a
/// 1,000,000-entry log are under 200 KiB; the rest holds recently used bottom tiles.
pub const PROOF_TILE_CACHE_BYTES: usize = 8 * 1024 * 1024;

/// An unpublished checkpoint older than this is published by whichever replica
/// sees it (its signer died between signing and publishing).
const ORPHAN_AFTER: i64 = 30;

/// Seconds between two audit anchors.
pub const ANCHOR_EVERY: i64 = 86_400;

/// A witness: where it listens and the key its cosignatures are checked with.
#[derive(Debug, Clone)]
pub struct Witness {
    /// Base URL; requests go to `{url}/add-checkpoint`.
    pub url: String,
    /// Its cosignature/v1 verifier key.
    pub verifier: WitnessVerifier,
}

/// The newest published checkpoint.
#[derive(Debug, Clone)]
pub struct Published {
    /// Entries in its tree.
    pub size: u64,
    /// Its root.
    pub root: Hash,
    /// The note as served (with the witnesses' cosignatures).
    pub note: Arc<str>,
}

/// Bytes served for a tile path, with their ETag.
#[derive(Debug, Clone)]
pub struct TileBytes {
    /// The tile or bundle.
    pub bytes: bytes::Bytes,
    /// Quoted strong ETag (a hash of the bytes).
    pub etag: String,
}

#[derive(Default)]
struct TileCache {
    map: HashMap<TilePath, TileBytes>,
    bytes: usize,
}

/// The log's server side.
pub struct TransparencyLog {
    signer: LogSigner,
    every: Duration,
    witnesses: Vec<Witness>,
    quorum: usize,
    timeout: Duration,
    http: reqwest::Client,
    published: RwLock<Option<(Instant, Option<Published>)>>,
    tiles: Mutex<TileCache>,
    /// Stored tiles for the proofs on certificate pages: the upper and right-edge
    /// tiles every proof shares stay in memory, so a proof reads one tile at most.
    proof_tiles: ca::transparency::TileCache,
}

impl std::fmt::Debug for TransparencyLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransparencyLog")
            .field("origin", &self.signer.origin())
            .field("witnesses", &self.witnesses.len())
            .field("quorum", &self.quorum)
            .finish_non_exhaustive()
    }
}

/// Reads `CHENGXIN_LOG_WITNESSES`: `URL VERIFIER-KEY` pairs, comma-separated.
pub fn parse_witnesses(spec: &str) -> Result<Vec<Witness>, String> {
    let mut out = Vec::new();
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let mut words = part.split_whitespace();
        let (Some(url), Some(vkey), None) = (words.next(), words.next(), words.next()) else {
            return Err(format!(
                "CHENGXIN_LOG_WITNESSES: {part:?} is not `URL VERIFIER-KEY`"
            ));
        };
        let parsed =
            url::Url::parse(url).map_err(|e| format!("CHENGXIN_LOG_WITNESSES: {url:?}: {e}"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(format!("CHENGXIN_LOG_WITNESSES: {url:?} is not http(s)"));
        }
        let verifier = WitnessVerifier::parse(vkey)
            .map_err(|e| format!("CHENGXIN_LOG_WITNESSES: {vkey:?}: {e}"))?;
        out.push(Witness {
            url: url.trim_end_matches('/').to_owned(),
            verifier,
        });
    }
    Ok(out)
}

impl TransparencyLog {
    /// The log with `signer` and the settings' period and witnesses.
    pub fn new(settings: &LogSettings, signer: LogSigner) -> Result<TransparencyLog, String> {
        let witnesses = match settings.log_witnesses.as_deref() {
            Some(spec) => parse_witnesses(spec)?,
            None => Vec::new(),
        };
        let quorum = settings.log_witness_quorum.unwrap_or(witnesses.len());
        if quorum > witnesses.len() {
            // Not fatal: the log is never held up by its witnesses, so a quorum that
            // cannot be met only means every checkpoint goes out short of it.
            tracing::warn!(
                quorum,
                witnesses = witnesses.len(),
                "CHENGXIN_LOG_WITNESS_QUORUM is more than the witnesses: every checkpoint \
                 will be published short of its quorum"
            );
        }
        let timeout = Duration::from_secs(settings.log_witness_timeout_secs.max(1));
        verifier::icp::install_crypto_provider();
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(timeout)
            .timeout(timeout)
            .user_agent(concat!("chengxin-log/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("witness HTTP client: {e}"))?;
        Ok(TransparencyLog {
            signer,
            every: Duration::from_secs(settings.log_checkpoint_secs.max(1)),
            witnesses,
            quorum,
            timeout,
            http,
            published: RwLock::new(None),
            tiles: Mutex::new(TileCache::default()),
            proof_tiles: ca::transparency::TileCache::new(PROOF_TILE_CACHE_BYTES),
        })
    }

    /// The log's origin (first line of its checkpoints).
    pub fn origin(&self) -> &str {
        self.signer.origin()
    }

    /// The log's verifier key, in signed-note form.
    pub fn verifier_key(&self) -> String {
        self.signer.verifier_key()
    }

    /// The newest published checkpoint (read again after [`PUBLISHED_FRESH`]).
    pub async fn published(&self, db: &Database) -> Result<Option<Published>, AppError> {
        if let Ok(guard) = self.published.read()
            && let Some((at, p)) = guard.as_ref()
            && at.elapsed() < PUBLISHED_FRESH
        {
            return Ok(p.clone());
        }
        let fresh = db::latest_published(db).await?.and_then(|row| {
            let mut root = [0u8; 32];
            (row.root.len() == 32).then(|| root.copy_from_slice(&row.root))?;
            Some(Published {
                size: u64::try_from(row.size).ok()?,
                root: Hash(root),
                note: Arc::from(row.published?.as_str()),
            })
        });
        if let Ok(mut guard) = self.published.write() {
            *guard = Some((Instant::now(), fresh.clone()));
        }
        Ok(fresh)
    }

    fn forget_published(&self) {
        if let Ok(mut guard) = self.published.write() {
            *guard = None;
        }
    }

    /// A tile or bundle of the published tree, `None` when the tree does not have it.
    pub async fn tile(&self, db: &Database, path: TilePath) -> Result<Option<TileBytes>, AppError> {
        if let Ok(cache) = self.tiles.lock()
            && let Some(t) = cache.map.get(&path)
        {
            return Ok(Some(t.clone()));
        }
        let Some(published) = self.published(db).await? else {
            return Ok(None);
        };
        if !path.within(published.size) {
            return Ok(None);
        }
        let bytes = match path {
            TilePath::Hashes { level, n, width } => {
                match ca::transparency::hash_tile(db, level, n, width).await? {
                    Some(b) => b,
                    None => return Ok(None),
                }
            }
            TilePath::Entries { n, width } => ca::transparency::entry_bundle(db, n, width).await?,
        };
        let digest = ring::digest::digest(&ring::digest::SHA256, &bytes);
        let tile = TileBytes {
            etag: format!("\"{}\"", hex::encode(&digest.as_ref()[..16])),
            bytes: bytes::Bytes::from(bytes),
        };
        // Full tiles never change; partial ones do not either, but a client asks for
        // each width once, so only full ones are worth keeping.
        if path.is_full()
            && let Ok(mut cache) = self.tiles.lock()
        {
            if cache.bytes + tile.bytes.len() > TILE_CACHE_BYTES {
                cache.map.clear();
                cache.bytes = 0;
            }
            cache.bytes += tile.bytes.len();
            cache.map.insert(path, tile.clone());
        }
        Ok(Some(tile))
    }

    /// Runs the checkpointer until the process ends.
    pub async fn run(self: Arc<Self>, db: Database) {
        let mut tick = tokio::time::interval(self.every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = self.checkpoint(&db).await {
                tracing::warn!(error = %e, "transparency log checkpoint failed");
            }
        }
    }

    /// One period: integrate new entries and sign a checkpoint (if any), then publish
    /// the newest unpublished checkpoint this replica signed, or one left over by a
    /// replica that stopped. Returns the size published, if any.
    pub async fn checkpoint(&self, db: &Database) -> Result<Option<u64>, AppError> {
        let signed = self.signer.integrate(db).await?;
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let Some(row) = db::unpublished(db).await?.pop() else {
            return Ok(None);
        };
        let ours = signed.as_ref().is_some_and(|s| s.size as i64 == row.size);
        if !ours && now - row.signed_at < ORPHAN_AFTER {
            return Ok(None);
        }
        if let Some(p) = self.published(db).await?
            && p.size as i64 >= row.size
        {
            return Ok(None);
        }
        let note = self.cosigned(db, &row).await?;
        db::publish_checkpoint(db, row.size, &note, now).await?;
        self.forget_published();
        Ok(Some(row.size as u64))
    }

    /// The checkpoint with as many cosignatures as the witnesses gave within the
    /// timeout. Short of the quorum it goes out with what it has (uncosigned at
    /// worst): a witness that is down must not stop the log.
    async fn cosigned(&self, db: &Database, row: &db::CheckpointRow) -> Result<String, AppError> {
        if self.witnesses.is_empty() {
            return Ok(row.note.clone());
        }
        let asks = self.witnesses.iter().map(|w| async move {
            match tokio::time::timeout(self.timeout, self.ask(db, w, row)).await {
                Ok(Ok(line)) => Some(line),
                Ok(Err(e)) => {
                    tracing::warn!(witness = %w.url, error = %e, "witness refused or failed");
                    None
                }
                Err(_) => {
                    tracing::warn!(witness = %w.url, "witness did not answer in time");
                    None
                }
            }
        });
        let answers = futures_util::future::join_all(asks).await;
        let lines: Vec<String> = answers.iter().flatten().cloned().collect();
        let failures = answers.len() - lines.len();
        if failures > 0 {
            metrics::counter!("chengxin_log_witness_failures_total").increment(failures as u64);
        }
        if lines.len() < self.quorum {
            metrics::counter!("chengxin_log_checkpoints_short_of_quorum_total").increment(1);
            tracing::warn!(
                size = row.size,
                cosigned = lines.len(),
                quorum = self.quorum,
                "publishing a checkpoint short of its witness quorum"
            );
        }
        let note = tlog::witness::add_cosignatures(row.note.as_bytes(), &lines)
            .map_err(|e| AppError::Internal(e.into()))?;
        String::from_utf8(note).map_err(|e| AppError::Internal(ca::Error::Log(e.to_string())))
    }

    /// Asks one witness to cosign (C2SP tlog-witness `add-checkpoint`), from the size
    /// it last cosigned; a 409 tells its real size, and the request is made again once.
    async fn ask(
        &self,
        db: &Database,
        w: &Witness,
        row: &db::CheckpointRow,
    ) -> Result<String, String> {
        let name = w.verifier.name().to_owned();
        let size = row.size as u64;
        let mut old = db::witness_size(db, &name)
            .await
            .map_err(|e| e.to_string())? as u64;
        for _ in 0..2 {
            if old > size {
                return Err(format!(
                    "the witness has cosigned size {old}, beyond {size}"
                ));
            }
            let proof = if old == 0 || old == size {
                Vec::new()
            } else {
                ca::transparency::consistency_proof(db, size, old)
                    .await
                    .map_err(|e| e.to_string())?
            };
            let body = AddCheckpoint {
                old_size: old,
                proof,
                note: row.note.as_bytes().to_vec(),
            }
            .to_bytes()
            .map_err(|e| e.to_string())?;
            let response = self
                .http
                .post(format!("{}/add-checkpoint", w.url))
                .body(body)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            let status = response.status().as_u16();
            let bytes = read_capped(response, tlog::witness::MAX_RESPONSE_BYTES).await?;
            match status {
                200 => {
                    let lines = tlog::witness::parse_response(&bytes).map_err(|e| e.to_string())?;
                    let mine = lines
                        .into_iter()
                        .find(|l| w.verifier.verify(row.note.as_bytes(), l).is_ok())
                        .ok_or("no valid cosignature of its key in the answer")?;
                    db::set_witness_size(db, &name, row.size)
                        .await
                        .map_err(|e| e.to_string())?;
                    return Ok(mine);
                }
                409 => match tlog::witness::parse_size_body(&bytes) {
                    // A size beyond the log's is a fork or a lie: not recorded, so the
                    // witness is asked again from its last good size next time.
                    Ok(latest) if latest > size => {
                        return Err(format!("409: claims size {latest}, beyond {size}"));
                    }
                    Ok(latest) => {
                        db::set_witness_size(db, &name, latest as i64)
                            .await
                            .map_err(|e| e.to_string())?;
                        old = latest;
                    }
                    Err(_) => return Err("409 without a size: it saw another tree".into()),
                },
                other => return Err(format!("answered {other}")),
            }
        }
        Err("the witness's size kept changing".into())
    }

    /// A site's events in the log, each with its inclusion proof against the newest
    /// published checkpoint (an event not yet in it has none).
    pub async fn site_events(&self, db: &Database, site: &str) -> Result<SiteLog, AppError> {
        let published = self.published(db).await?;
        let rows = db::entries_of_site(db, site).await?;
        let mut events = Vec::with_capacity(rows.len());
        for r in rows {
            let index = r.idx as u64;
            let entry = Entry::parse(&r.body).map_err(|e| AppError::Internal(e.into()))?;
            let proof = match &published {
                Some(p) if index < p.size => Some(
                    ca::transparency::with_cached_tiles(db, &self.proof_tiles, |m| {
                        m.inclusion(p.size, index)
                    })
                    .await?,
                ),
                _ => None,
            };
            let verified = match (&published, &proof) {
                (Some(p), Some(proof)) => {
                    tiles::check_inclusion(proof, p.size, p.root, index, tiles::leaf_hash(&r.body))
                        .is_ok()
                }
                _ => false,
            };
            events.push(SiteEvent {
                index,
                kind: entry.kind(),
                time: entry.time,
                serial: entry.serial.clone(),
                reason: entry.reason.clone().or(entry.decision.clone()),
                body: r.body,
                proof,
                verified,
            });
        }
        Ok(SiteLog {
            published,
            verifier_key: self.verifier_key(),
            events,
        })
    }
}

async fn read_capped(mut response: reqwest::Response, max: usize) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
        if out.len() + chunk.len() > max {
            return Err(format!("answer larger than {max} bytes"));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// A site's events and the checkpoint their proofs lead to.
#[derive(Debug, Clone)]
pub struct SiteLog {
    /// The newest published checkpoint, if any.
    pub published: Option<Published>,
    /// The log's verifier key.
    pub verifier_key: String,
    /// The events, oldest first.
    pub events: Vec<SiteEvent>,
}

/// One event of a site in the log.
#[derive(Debug, Clone)]
pub struct SiteEvent {
    /// Its index.
    pub index: u64,
    /// What happened.
    pub kind: Kind,
    /// When, Unix seconds.
    pub time: i64,
    /// The certificate serial, for certificate events.
    pub serial: Option<String>,
    /// The revocation reason or the complaint decision.
    pub reason: Option<String>,
    /// The entry's bytes.
    pub body: Vec<u8>,
    /// The audit path to the published root, once published.
    pub proof: Option<Vec<Hash>>,
    /// Whether the server checked the proof against the signed root.
    pub verified: bool,
}

/// Appends, in the decision's transaction, the entry of a complaint decision: the
/// site, its domains, the decision and the salted hash of the complaint id.
pub async fn log_decision_in(
    tx: &mut Tx,
    site: &str,
    domains: Vec<String>,
    upheld: bool,
    complaint_id: &str,
    now: i64,
) -> Result<(), AppError> {
    let entry = Entry {
        site: Some(site.to_owned()),
        domains,
        decision: Some(if upheld { "upheld" } else { "dismissed" }.to_owned()),
        complaint: Some(ca::transparency::complaint_hash_in(tx, complaint_id).await?),
        ..Entry::new(Kind::ComplaintDecision, now)
    };
    ca::transparency::append(tx, &[(entry, None)]).await?;
    Ok(())
}

/// Appends the audit chain's head as an `audit_anchor` entry when the last one is
/// older than [`ANCHOR_EVERY`] (housekeeping runs it): whoever rewrites the audit
/// log and its head afterwards contradicts a signed checkpoint. Whether it appended.
pub async fn anchor_audit(db: &Database, now: i64) -> Result<bool, AppError> {
    let mut tx = db.begin().await?;
    let last = db::last_of_kind_in(&mut tx, Kind::AuditAnchor.name()).await?;
    if let Some(body) = last
        && Entry::parse(&body).is_ok_and(|e| now - e.time < ANCHOR_EVERY)
    {
        return Ok(false);
    }
    let (size, head) = ca::audit::head(db).await?;
    if size == 0 || head.len() != 32 {
        return Ok(false);
    }
    let mut h = [0u8; 32];
    h.copy_from_slice(&head);
    let entry = Entry {
        audit_size: Some(size as u64),
        audit_head: Some(h),
        ..Entry::new(Kind::AuditAnchor, now)
    };
    ca::transparency::append(&mut tx, &[(entry, None)]).await?;
    tx.commit().await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    const W1: &str = "w1.example.org+1003d5b1+BKHu/ycsMi1H5G4ByDIQOUFxMqt7H+Ny+Fp+8fNdLMhU";

    #[test]
    fn witnesses_are_read_as_url_and_key_pairs_and_anything_else_is_refused_by_name() {
        let ws = parse_witnesses(&format!("https://w1.example.org/ {W1},  ,")).unwrap();
        assert_eq!(ws.len(), 1);
        assert_eq!(ws[0].url, "https://w1.example.org");
        assert_eq!(ws[0].verifier.name(), "w1.example.org");
        for bad in [
            "https://w1.example.org".to_string(),
            format!("https://w1.example.org {W1} extra"),
            format!("ftp://w1.example.org {W1}"),
            format!("not a url {W1}"),
            "https://w1.example.org w1.example.org+00000000+AAAA".to_string(),
        ] {
            let err = parse_witnesses(&bad).unwrap_err();
            assert!(err.starts_with("CHENGXIN_LOG_WITNESSES"), "{bad}: {err}");
        }
    }
}
