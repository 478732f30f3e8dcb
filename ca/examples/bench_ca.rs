//! CA benchmark: end-to-end issuances per second on SQLite (lint + sign + store +
//! audit), raw ring P-256 signatures per second, the time to build and sign a CRL
//! with 100,000 entries, and bulk revocation (`--mode bulk-revoke`): revocations per
//! second with 100,000 already revoked, with the CRL publisher running once a second,
//! and the time from a revocation's commit until its shard's CRL lists it.
//!
//! Run with `scripts/bench-ca` (release build) or
//! `cargo run --release -p chengxin-ca --example bench_ca -- --help`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ca::db::Database;
use ca::profile::{Expected, IssuerInfo, SubjectPublicKey};
use ca::store::RevokedEntry;
use ca::{Ca, CaConfig, KeySource, RevocationReason, Serial, SiteIdentity};
use clap::Parser;
use rcgen::SigningKey as _;
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{self, EcdsaKeyPair, KeyPair as _};
use time::OffsetDateTime;
use x509_parser::prelude::{FromDer, X509Certificate};

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type BoxResult<T> = std::result::Result<T, BoxError>;

/// Target: end-to-end issuances per second on this 2-core machine.
const TARGET_ISSUANCES_PER_SEC: f64 = 1_500.0;
/// Target: a 100,000-entry CRL built and signed in under this many milliseconds.
const TARGET_CRL_MS: f64 = 200.0;
/// Target: revocations per second sustained with 100,000 already revoked (issue 14).
const TARGET_REVOCATIONS_PER_SEC: f64 = 1_000.0;
/// Target: seconds from a revocation's commit until its shard's CRL lists it.
const TARGET_CRL_LAG_SECS: f64 = 2.0;
/// Before sharding (issue 14, measured on main): revocations per second with 1,000
/// revoked, each publishing the whole CRL in its transaction.
const BEFORE_REVOCATIONS_PER_SEC: f64 = 199.0;
const PASSPHRASE: &[u8] = b"bench-ca passphrase 0123456789";
const ACTOR: &str = "bench";

/// Which sections run.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// Every section.
    All,
    /// Only bulk revocation ([4]).
    BulkRevoke,
}

/// Chengxin CA benchmark.
#[derive(Parser, Debug)]
#[command(about = "Chengxin CA benchmark: issuance, raw P-256 signing, CRL, bulk revocation")]
struct Args {
    /// Which sections run.
    #[arg(long, value_enum, env = "BENCH_MODE", default_value = "all")]
    mode: Mode,
    /// Bulk revocation: certificates issued and then revoked, measured (0 to skip).
    #[arg(long, env = "BENCH_BULK_REVOKE", default_value_t = 10_000)]
    bulk_revoke: usize,
    /// Bulk revocation: certificates already revoked beforehand (inserted with SQL,
    /// spread over shards of 10,000 as issuance would).
    #[arg(long, env = "BENCH_ALREADY_REVOKED", default_value_t = 100_000)]
    already_revoked: usize,
    /// Bulk revocation: milliseconds between CRL publications (the server's
    /// `CHENGXIN_CRL_PUBLISH_SECS`).
    #[arg(long, env = "BENCH_PUBLISH_MS", default_value_t = 1000)]
    publish_ms: u64,
    /// Issuances per measured run.
    #[arg(short = 'n', long, env = "BENCH_ISSUANCES", default_value_t = 3000)]
    issuances: usize,
    /// Concurrency levels for the concurrent runs (tokio tasks sharing one Arc<Ca>).
    #[arg(
        long,
        env = "BENCH_CONCURRENCY",
        value_delimiter = ',',
        default_value = "2,4"
    )]
    concurrency: Vec<usize>,
    /// Issuances before measuring (not counted).
    #[arg(long, env = "BENCH_WARMUP", default_value_t = 200)]
    warmup: usize,
    /// Seconds of raw ring P-256 signing.
    #[arg(long, env = "BENCH_SIGN_SECONDS", default_value_t = 2.0)]
    sign_seconds: f64,
    /// Entries in the in-memory CRL.
    #[arg(long, env = "BENCH_CRL_ENTRIES", default_value_t = 100_000)]
    crl_entries: usize,
    /// Certificates revoked through `Ca::revoke` before timing `Ca::publish_crl`.
    #[arg(long, env = "BENCH_REVOCATIONS", default_value_t = 1000)]
    revocations: usize,
    /// Revocations bulk-inserted with SQL afterwards to time `Ca::publish_crl` over a
    /// large CRL from the database (0 to skip).
    #[arg(long, env = "BENCH_DB_CRL_ENTRIES", default_value_t = 100_000)]
    db_crl_entries: usize,
    /// Iterations of the per-stage breakdown (crypto-only and DB-only paths; 0 to skip).
    #[arg(long, env = "BENCH_BREAKDOWN", default_value_t = 2000)]
    breakdown: usize,
}

/// Latency figures of one run.
struct Run {
    label: String,
    count: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Run {
    fn new(label: String, elapsed: Duration, mut latencies: Vec<Duration>) -> Self {
        latencies.sort_unstable();
        Run {
            label,
            count: latencies.len(),
            elapsed,
            latencies,
        }
    }

    fn rate(&self) -> f64 {
        self.count as f64 / self.elapsed.as_secs_f64()
    }

    fn percentile(&self, p: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let idx = ((self.latencies.len() - 1) as f64 * p).round() as usize;
        self.latencies[idx.min(self.latencies.len() - 1)]
    }

    fn print(&self) {
        println!(
            "  {:<40} {:>6} in {:>7.3} s = {:>8.0} /s   p50 {:>7.3} ms  p99 {:>7.3} ms  max {:>7.3} ms",
            self.label,
            self.count,
            self.elapsed.as_secs_f64(),
            self.rate(),
            ms(self.percentile(0.50)),
            ms(self.percentile(0.99)),
            ms(self.percentile(1.0)),
        );
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn us_per(d: Duration, n: usize) -> f64 {
    d.as_secs_f64() * 1e6 / n.max(1) as f64
}

/// Runs `op` repeatedly for about `seconds`; returns (operations, elapsed).
fn run_for(seconds: f64, mut op: impl FnMut() -> BoxResult<()>) -> BoxResult<(usize, Duration)> {
    let budget = Duration::from_secs_f64(seconds);
    let start = Instant::now();
    let mut n = 0usize;
    loop {
        for _ in 0..64 {
            op()?;
        }
        n += 64;
        let elapsed = start.elapsed();
        if elapsed >= budget {
            return Ok((n, elapsed));
        }
    }
}

fn identity() -> BoxResult<SiteIdentity> {
    Ok(SiteIdentity::parse(
        "北京晨曦数智科技有限公司",
        "91110108MA04T7K21H",
        "京ICP备2024018653号-1",
        "北京市",
        "海淀区",
        &["chenxi-shuzhi.cn"],
    )?)
}

fn key_source(csr_key: Option<&SubjectPublicKey>) -> KeySource {
    match csr_key {
        Some(k) => KeySource::Csr(k.clone()),
        None => KeySource::Generate,
    }
}

async fn issue_sequential(
    ca: &Ca,
    id: &SiteIdentity,
    csr_key: Option<&SubjectPublicKey>,
    n: usize,
    label: &str,
    serials: &mut Vec<Serial>,
) -> BoxResult<Run> {
    let mut latencies = Vec::with_capacity(n);
    let start = Instant::now();
    for _ in 0..n {
        let t = Instant::now();
        let issued = ca.issue(id, key_source(csr_key), ACTOR).await?;
        latencies.push(t.elapsed());
        serials.push(issued.serial);
    }
    Ok(Run::new(label.to_string(), start.elapsed(), latencies))
}

async fn issue_concurrent(
    ca: &Arc<Ca>,
    id: &Arc<SiteIdentity>,
    csr_key: Option<&SubjectPublicKey>,
    n: usize,
    concurrency: usize,
    label: &str,
) -> BoxResult<Run> {
    let next = Arc::new(AtomicUsize::new(0));
    let mut set = tokio::task::JoinSet::new();
    let start = Instant::now();
    for _ in 0..concurrency.max(1) {
        let (ca, id, next) = (Arc::clone(ca), Arc::clone(id), Arc::clone(&next));
        let key = csr_key.cloned();
        set.spawn(async move {
            let mut latencies = Vec::new();
            while next.fetch_add(1, Ordering::Relaxed) < n {
                let t = Instant::now();
                ca.issue(&id, key_source(key.as_ref()), ACTOR).await?;
                latencies.push(t.elapsed());
            }
            Ok::<_, BoxError>(latencies)
        });
    }
    let mut latencies = Vec::with_capacity(n);
    while let Some(joined) = set.join_next().await {
        latencies.extend(joined??);
    }
    Ok(Run::new(label.to_string(), start.elapsed(), latencies))
}

fn sqlite_pool(db: &Database) -> Option<&sqlx::SqlitePool> {
    match db {
        Database::Sqlite(p) => Some(p),
        Database::Postgres(_) => None,
    }
}

async fn issuer_id(ca: &Ca) -> BoxResult<i64> {
    let pool = sqlite_pool(ca.db()).ok_or("SQLite expected")?;
    let row: (i64,) = sqlx::query_as("SELECT id FROM issuers WHERE slug = $1")
        .bind(ca.slug())
        .fetch_one(pool)
        .await?;
    Ok(row.0)
}

/// What `Ca::issue_in` does apart from the database, on the same inputs: subject
/// key (optional), serial, params, lint copy signed and linted, real signature,
/// parse-and-verify check, OCSP-sized sign + verify. Returns the elapsed time.
fn crypto_only_path(
    ca: &Ca,
    id: &SiteIdentity,
    csr_key: Option<&SubjectPublicKey>,
    n: usize,
) -> BoxResult<Duration> {
    let rng = SystemRandom::new();
    let issuer = IssuerInfo::from_cert_der(ca.issuing_der())?;
    let lint_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    // Stands in for the issuing key (not reachable from outside the crate).
    let real_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let verify_key = signature::UnparsedPublicKey::new(
        &signature::ECDSA_P256_SHA256_ASN1,
        real_key.public_key_raw(),
    );
    let ocsp_tbs = [0x5au8; 220];
    let start = Instant::now();
    for _ in 0..n {
        let subject_key = match csr_key {
            Some(k) => k.clone(),
            None => {
                let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
                let _pem = kp.serialize_pem();
                SubjectPublicKey::from_key_pair(&kp)
            }
        };
        let serial = Serial::generate(1, &rng)?;
        let now = OffsetDateTime::now_utc();
        let expected = Expected {
            identity: id,
            serial: &serial,
            not_before: now.replace_nanosecond(0).unwrap_or(now),
            issuer: &issuer,
            urls: ca.urls(),
            crl_shard: 0,
            subject_key: &subject_key,
        };
        let params = expected.params()?;
        let mirror = rcgen::Issuer::from_ca_cert_der(&issuer.cert_der.clone().into(), &lint_key)?;
        let lint_cert = params.signed_by(&subject_key, &mirror)?;
        expected.lint(lint_cert.der())?;
        let real = rcgen::Issuer::from_ca_cert_der(&issuer.cert_der.clone().into(), &real_key)?;
        let cert = params.signed_by(&subject_key, &real)?;
        let (_, parsed) = X509Certificate::from_der(cert.der()).map_err(|e| e.to_string())?;
        let (_, linted) = X509Certificate::from_der(lint_cert.der()).map_err(|e| e.to_string())?;
        let (_, _issuer) =
            X509Certificate::from_der(&issuer.cert_der).map_err(|e| e.to_string())?;
        verify_key
            .verify(
                parsed.tbs_certificate.as_ref(),
                parsed.signature_value.as_ref(),
            )
            .map_err(|_| "certificate signature check failed")?;
        if parsed.tbs_certificate.as_ref() != linted.tbs_certificate.as_ref() {
            return Err("lint copy differs".into());
        }
        let _sha = ring::digest::digest(&ring::digest::SHA256, cert.der());
        let sig = real_key.sign(&ocsp_tbs)?;
        verify_key
            .verify(&ocsp_tbs, &sig)
            .map_err(|_| "OCSP-sized signature check failed")?;
    }
    Ok(start.elapsed())
}

/// What `Ca::issue` does in the database, with dummy bytes in place of the
/// certificate and OCSP response, one issuance per transaction: begin, insert,
/// OCSP upsert, audit append (3 statements), commit. Returns the elapsed time.
async fn db_only_path(ca: &Ca, id: &SiteIdentity, n: usize) -> BoxResult<Duration> {
    let issuer_id = issuer_id(ca).await?;
    let rng = SystemRandom::new();
    let cert_der = vec![0x30u8; 900];
    let ocsp_der = vec![0x30u8; 320];
    let sha = vec![0xabu8; 32];
    let start = Instant::now();
    for _ in 0..n {
        let serial = Serial::generate(1, &rng)?;
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let mut tx = ca.db().begin().await?;
        let (cid,): (i64,) = ca::on_tx!(&mut tx, |c| {
            sqlx::query_as(
            "INSERT INTO certificates (issuer_id, serial, status, organization, uscc, icp, province, city, \
             domains, not_before, not_after, der, sha256, created_at) \
             VALUES ($1, $2, 'issued', $3, $4, $5, $6, $7, '[]', $8, $9, $10, $11, $12) RETURNING id"
        )
        .bind(issuer_id)
        .bind(serial.as_bytes())
        .bind(&id.organization)
        .bind(id.uscc.as_str())
        .bind(id.icp.as_str())
        .bind(&id.province)
        .bind(&id.city)
        .bind(now)
        .bind(now + 365 * 86_400)
        .bind(&cert_der)
        .bind(&sha)
        .bind(now)
        .fetch_one(c)
        .await?
        });
        let answers = ca::store::OcspAnswers {
            this_update: now,
            next_update: now + 4 * 86_400,
            sha1: ocsp_der.clone(),
            sha256: ocsp_der.clone(),
        };
        ca::store::upsert_ocsp(&mut tx, cid, &answers).await?;
        ca::audit::append(
            &mut tx,
            ACTOR,
            "bench.db-only",
            &serial.to_hex(),
            &serde_json::json!({ "organization": id.organization, "sha256": hex::encode(&sha) }),
        )
        .await?;
        tx.commit().await?;
    }
    Ok(start.elapsed())
}

fn random_entries(n: usize, rng: &SystemRandom) -> BoxResult<Vec<RevokedEntry>> {
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let mut entries = Vec::with_capacity(n);
    for _ in 0..n {
        let mut serial = vec![0u8; 18];
        rng.fill(&mut serial[1..]).map_err(|_| "rng failed")?;
        serial[0] = 0x01;
        entries.push(RevokedEntry {
            serial,
            revoked_at: now,
            reason: 9,
        });
    }
    Ok(entries)
}

/// Inserts `n` issued-and-revoked certificate rows directly with SQL (the API would
/// also sign a certificate and an OCSP response per revocation). With `sharded`
/// they get sequence numbers 1..=n and their shards as issuance would assign them
/// (and the issuer's sequence counter moves past them); without, they are the
/// legacy shard, as certificates issued before sharding are.
async fn bulk_revocations(ca: &Ca, n: usize, sharded: bool) -> BoxResult<()> {
    let pool = sqlite_pool(ca.db()).ok_or("SQLite expected")?;
    let issuer_id = issuer_id(ca).await?;
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let mut tx = pool.begin().await?;
    sqlx::query(
        "INSERT INTO certificates (issuer_id, serial, status, organization, uscc, icp, province, city, \
         domains, not_before, not_after, created_at, crl_shard) \
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $1) \
         SELECT $2, CAST(x'01' || randomblob(17) AS BLOB), 'issued', 'bench-bulk', '', '', '', '', '[]', \
         $3, $4, $3, CASE WHEN $6 THEN (i - 1) / $5 ELSE -1 END FROM n",
    )
    .bind(n as i64)
    .bind(issuer_id)
    .bind(now)
    .bind(now + 365 * 86_400)
    .bind(ca::crl::CRL_SHARD_SIZE)
    .bind(sharded)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO revocations (certificate_id, revoked_at, reason, actor) \
         SELECT id, $1, 9, 'bench-bulk' FROM certificates WHERE organization = 'bench-bulk'",
    )
    .bind(now)
    .execute(&mut *tx)
    .await?;
    if sharded {
        sqlx::query("INSERT INTO counters (name, value) VALUES ($1, $2)")
            .bind(format!("crl_seq:{issuer_id}"))
            .bind(n as i64)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// `Ca::publish_crl` of `shard`, best of `tries`.
async fn best_publish(ca: &Ca, shard: i64, tries: usize) -> BoxResult<(Duration, i64, usize)> {
    let mut best = Duration::MAX;
    let (mut entries, mut size) = (0, 0);
    for _ in 0..tries {
        let t = Instant::now();
        let crl = ca.publish_crl(shard, ACTOR).await?;
        best = best.min(t.elapsed());
        entries = crl.entries;
        size = crl.der.len();
    }
    Ok((best, entries, size))
}

async fn certificate_count(ca: &Ca) -> BoxResult<i64> {
    let pool = sqlite_pool(ca.db()).ok_or("SQLite expected")?;
    let row: (i64,) = sqlx::query_as("SELECT count(*) FROM certificates")
        .fetch_one(pool)
        .await?;
    Ok(row.0)
}

/// Times the query `Ca::publish_crl` of `shard` starts with (best of 3, rolled back).
async fn time_revoked_select(ca: &Ca, shard: i64) -> BoxResult<(Duration, usize)> {
    let issuer_id = issuer_id(ca).await?;
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let mut best = Duration::MAX;
    let mut rows = 0;
    for _ in 0..3 {
        let mut tx = ca.db().begin().await?;
        let t = Instant::now();
        rows = ca::store::revoked_entries(&mut tx, issuer_id, shard, now)
            .await?
            .len();
        best = best.min(t.elapsed());
        drop(tx);
    }
    Ok((best, rows))
}

/// Whether the stored OCSP answer (SHA-256 CertID) for `serial` says revoked.
async fn ocsp_says_revoked(ca: &Ca, issuer_id: i64, serial: &Serial) -> BoxResult<bool> {
    use der::Decode;
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let der = ca::store::ocsp_response(ca.db(), issuer_id, serial.as_bytes(), true, now)
        .await?
        .ok_or("no stored OCSP answer")?;
    let response = x509_ocsp::OcspResponse::from_der(&der)?;
    let bytes = response.response_bytes.ok_or("OCSP answer has no body")?;
    let basic = x509_ocsp::BasicOcspResponse::from_der(bytes.response.as_bytes())?;
    Ok(basic
        .tbs_response_data
        .responses
        .first()
        .is_some_and(|r| matches!(r.cert_status, x509_ocsp::CertStatus::Revoked(_))))
}

/// The serials a stored CRL lists, and how many.
fn crl_serials(der: &[u8]) -> BoxResult<std::collections::HashSet<Vec<u8>>> {
    let (_, crl) = x509_parser::revocation_list::CertificateRevocationList::from_der(der)
        .map_err(|e| e.to_string())?;
    Ok(crl
        .iter_revoked_certificates()
        .map(|r| r.raw_serial().to_vec())
        .collect())
}

/// Figures of the bulk revocation run.
struct BulkFigures {
    revoked: usize,
    already: usize,
    elapsed: Duration,
    lag_p50: Duration,
    lag_max: Duration,
    publications: usize,
    /// CRLs the revoker published itself, the publisher lagging.
    by_revoker: usize,
    publish_max: Duration,
    ocsp_checked: usize,
    ocsp_revoked: usize,
    listed: usize,
    largest_shard: i64,
}

/// [4] Revokes `n` certificates, `BULK_REVOCATION_BATCH` to a transaction (`Ca::revoke_many`), with
/// `already` revoked beforehand, while a publisher task signs the dirty shards'
/// CRLs every `publish_ms` (and the revoker publishes when it lags,
/// `ca::crl::STARVED_CRL_SECS`). A batch's lag is from the start of its
/// `revoke_many` call until a CRL listing its last serial is seen (polled every
/// 5 ms), an upper bound on commit to CRL. After each batch one of its certificates' stored
/// OCSP answers is read back; at the end every revoked serial is looked up in its
/// shard's newest CRL.
async fn bulk_revoke(args: &Args) -> BoxResult<BulkFigures> {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("ca");
    let passphrases = ca::authority::KeyPassphrases {
        root: b"bench-root-passphrase",
        issuing: Some(PASSPHRASE),
    };
    ca::authority::init(&dir, &passphrases, None)?;
    let db_path = tmp.path().join("bulk.db");
    let db = Database::connect(&format!("sqlite://{}", db_path.display())).await?;
    let config = CaConfig {
        dir,
        public_url: "http://127.0.0.1:8080".into(),
        instance: 1,
    };
    let ca = Arc::new(Ca::open(&config, Some(PASSPHRASE), db).await?);
    let id = identity()?;
    let (n, already) = (args.bulk_revoke, args.already_revoked);
    let t = Instant::now();
    bulk_revocations(&ca, already, true).await?;
    ca.publish_due_crls(0, ACTOR).await?;
    println!(
        "  setup: {already} revoked certificates inserted with SQL and their shards' CRLs published in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    let mut issued = Vec::with_capacity(n);
    for _ in 0..n {
        issued.push(ca.issue(&id, KeySource::Generate, ACTOR).await?.serial);
    }
    println!(
        "  setup: {n} certificates issued through Ca::issue in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let issuer = issuer_id(&ca).await?;

    // The publisher: what the server's crl.publish job does, on a fixed tick.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let publisher = {
        let (ca, stop) = (Arc::clone(&ca), Arc::clone(&stop));
        let every = Duration::from_millis(args.publish_ms.max(1));
        tokio::spawn(async move {
            let mut runs: Vec<(Instant, Instant, usize)> = Vec::new();
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let done = stop.load(Ordering::SeqCst);
                let start = Instant::now();
                let published = ca.publish_dirty_crls(ACTOR).await?;
                runs.push((start, Instant::now(), published.len()));
                if done {
                    return Ok::<_, BoxError>(runs);
                }
            }
        })
    };

    // The watcher: when a shard's newest CRL changes (polled every 5 ms), the
    // batches whose last serial it lists are done. Whoever published it (the
    // publisher above, or the revoker itself when the publisher lags) does not
    // matter; what is timed is from the start of the batch's call, so each lag
    // overstates by the batch's own time (about 0.1 s).
    let pending: Arc<std::sync::Mutex<Vec<(Serial, Instant)>>> = Arc::default();
    let watcher = {
        let (ca, stop, pending) = (Arc::clone(&ca), Arc::clone(&stop), Arc::clone(&pending));
        tokio::spawn(async move {
            let pool = sqlite_pool(ca.db()).ok_or("SQLite expected")?.clone();
            let mut seen: std::collections::HashMap<i64, i64> = std::collections::HashMap::new();
            let mut lags = Vec::new();
            loop {
                let done =
                    stop.load(Ordering::SeqCst) && pending.lock().map_or(0, |p| p.len()) == 0;
                if done {
                    return Ok::<_, BoxError>(lags);
                }
                let numbers: Vec<(i64, i64)> = sqlx::query_as(
                    "SELECT shard, MAX(number) FROM crls WHERE issuer_id = $1 GROUP BY shard",
                )
                .bind(issuer)
                .fetch_all(&pool)
                .await?;
                for (shard, number) in numbers {
                    if seen.insert(shard, number) == Some(number) {
                        continue;
                    }
                    let at = Instant::now();
                    let crl = ca::store::latest_shard_crl(ca.db(), ca.slug(), shard)
                        .await?
                        .ok_or("shard without a CRL")?;
                    let listed = crl_serials(&crl.der)?;
                    let mut pending = pending.lock().map_err(|_| "poisoned")?;
                    pending.retain(|(serial, started)| {
                        let hit = listed.contains(serial.as_bytes());
                        if hit {
                            lags.push(at - *started);
                        }
                        !hit
                    });
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };

    let (mut ocsp_checked, mut ocsp_revoked, mut by_revoker) = (0, 0, 0);
    let start = Instant::now();
    for batch in issued.chunks(ca::crl::BULK_REVOCATION_BATCH) {
        let last = batch.last().ok_or("empty batch")?;
        pending
            .lock()
            .map_err(|_| "poisoned")?
            .push((last.clone(), Instant::now()));
        let done = ca
            .revoke_many(batch, RevocationReason::PrivilegeWithdrawn, ACTOR)
            .await?;
        by_revoker += done.published.len();
        if done.revoked.len() != batch.len() {
            return Err("a certificate was not revoked".into());
        }
        ocsp_checked += 1;
        ocsp_revoked += usize::from(ocsp_says_revoked(&ca, issuer, last).await?);
    }
    let elapsed = start.elapsed();
    stop.store(true, Ordering::SeqCst);
    let runs = publisher.await??;
    let mut lags = tokio::time::timeout(Duration::from_secs(30), watcher)
        .await
        .map_err(|_| "a revocation batch never listed in a CRL")???;
    lags.sort_unstable();
    let publish_max = runs
        .iter()
        .filter(|r| r.2 > 0)
        .map(|r| r.1 - r.0)
        .max()
        .unwrap_or_default();

    // Every revoked certificate is in its shard's newest CRL; no shard is too big.
    let mut listed = 0;
    let mut largest_shard = 0;
    let mut shards = std::collections::HashMap::new();
    for serial in &issued {
        let rec = ca::store::certificate_by_serial(ca.db(), issuer, serial)
            .await?
            .ok_or("revoked certificate not found")?;
        if let std::collections::hash_map::Entry::Vacant(slot) = shards.entry(rec.crl_shard) {
            let crl = ca::store::latest_shard_crl(ca.db(), ca.slug(), rec.crl_shard)
                .await?
                .ok_or("shard without a CRL")?;
            largest_shard = largest_shard.max(crl.entries);
            slot.insert(crl_serials(&crl.der)?);
        }
        listed += usize::from(shards[&rec.crl_shard].contains(serial.as_bytes()));
    }
    for shard in 0..=(already as i64 / ca::crl::CRL_SHARD_SIZE) {
        if let Some(crl) = ca::store::latest_shard_crl(ca.db(), ca.slug(), shard).await? {
            largest_shard = largest_shard.max(crl.entries);
        }
    }
    Ok(BulkFigures {
        revoked: n,
        already,
        elapsed,
        lag_p50: lags.get(lags.len() / 2).copied().unwrap_or_default(),
        lag_max: lags.last().copied().unwrap_or_default(),
        publications: runs.iter().filter(|r| r.2 > 0).count(),
        by_revoker,
        publish_max,
        ocsp_checked,
        ocsp_revoked,
        listed,
        largest_shard,
    })
}

/// Runs [4] and prints its figures and summary lines.
async fn bulk_section(args: &Args) -> BoxResult<()> {
    println!();
    println!(
        "[4] bulk revocation on SQLite: Ca::revoke_many, {} to a transaction, {} already revoked, CRL publisher every {} ms",
        ca::crl::BULK_REVOCATION_BATCH,
        args.already_revoked,
        args.publish_ms
    );
    let f = bulk_revoke(args).await?;
    let rate = f.revoked as f64 / f.elapsed.as_secs_f64();
    println!(
        "  revoked {} in {:.3} s = {rate:.0} /s ({:.0} us each, OCSP signed and audit entry written in the transaction)",
        f.revoked,
        f.elapsed.as_secs_f64(),
        1e6 / rate
    );
    println!(
        "  batch start -> listed in its shard's CRL: p50 {:.0} ms, max {:.0} ms over {} batches; {} publications by the publisher (slowest {:.1} ms), {} CRLs by the revoker",
        ms(f.lag_p50),
        ms(f.lag_max),
        f.revoked.div_ceil(ca::crl::BULK_REVOCATION_BATCH),
        f.publications,
        ms(f.publish_max),
        f.by_revoker
    );
    println!(
        "  OCSP answered revoked right after the commit: {}/{} batches checked",
        f.ocsp_revoked, f.ocsp_checked
    );
    println!(
        "  listed in their shard's newest CRL: {}/{}; largest shard CRL {} entries (limit {})",
        f.listed,
        f.revoked,
        f.largest_shard,
        ca::crl::CRL_SHARD_SIZE
    );
    println!("  ---- bulk revocation summary ----");
    println!(
        "  revocations/s with {} already revoked        {rate:>10.0}   target >= {TARGET_REVOCATIONS_PER_SEC:.0}  {}  ({:.2}x target; {:.1}x the {BEFORE_REVOCATIONS_PER_SEC:.0}/s before sharding, measured with 1,000 revoked)",
        f.already,
        verdict(rate >= TARGET_REVOCATIONS_PER_SEC),
        rate / TARGET_REVOCATIONS_PER_SEC,
        rate / BEFORE_REVOCATIONS_PER_SEC
    );
    println!(
        "  commit -> CRL, worst batch                    {:>10.2} s  target <= {TARGET_CRL_LAG_SECS:.0}  {}  ({:.2}x target)",
        f.lag_max.as_secs_f64(),
        verdict(f.lag_max.as_secs_f64() <= TARGET_CRL_LAG_SECS),
        f.lag_max.as_secs_f64() / TARGET_CRL_LAG_SECS
    );
    println!(
        "  OCSP revoked at once                          {:>7}/{:<3}        {}",
        f.ocsp_revoked,
        f.ocsp_checked,
        verdict(f.ocsp_revoked == f.ocsp_checked)
    );
    println!(
        "  every revocation listed, shards <= {}     {:>7}/{:<6}     {}",
        ca::crl::CRL_SHARD_SIZE,
        f.listed,
        f.revoked,
        verdict(f.listed == f.revoked && f.largest_shard <= ca::crl::CRL_SHARD_SIZE)
    );
    Ok(())
}

fn verdict(ok: bool) -> &'static str {
    if ok { "PASS" } else { "FAIL" }
}

#[tokio::main]
async fn main() -> BoxResult<()> {
    let args = Args::parse();
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    println!("Chengxin CA benchmark");
    println!(
        "  cores {cores}, issuances/run {}, warmup {}, concurrency {:?}, CRL entries {}, revocations {}, DB CRL entries {}",
        args.issuances,
        args.warmup,
        args.concurrency,
        args.crl_entries,
        args.revocations,
        args.db_crl_entries
    );
    if cfg!(debug_assertions) {
        println!("  WARNING: debug build; use --release (scripts/bench-ca) for real figures");
    }
    if args.mode == Mode::BulkRevoke {
        return bulk_section(&args).await;
    }

    // Setup.
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("ca");
    let t = Instant::now();
    let passphrases = ca::authority::KeyPassphrases {
        root: b"bench-root-passphrase",
        issuing: Some(PASSPHRASE),
    };
    ca::authority::init(&dir, &passphrases, None)?;
    let init_time = t.elapsed();
    let db_path = tmp.path().join("bench.db");
    let db = Database::connect(&format!("sqlite://{}", db_path.display())).await?;
    let config = CaConfig {
        dir: dir.clone(),
        public_url: "http://127.0.0.1:8080".into(),
        instance: 1,
    };
    let t = Instant::now();
    let ca = Arc::new(Ca::open(&config, Some(PASSPHRASE), db).await?);
    let open_time = t.elapsed();
    println!(
        "  setup: ca init {:.0} ms, Ca::open {:.0} ms (PBKDF2 600k, once), database {}",
        ms(init_time),
        ms(open_time),
        db_path.display()
    );
    let id = Arc::new(identity()?);
    let csr_kp = rcgen::KeyPair::generate()?;
    let csr = rcgen::CertificateParams::default().serialize_request(&csr_kp)?;
    let csr_key = SubjectPublicKey::from_csr_der(csr.der())?;

    // 1. Raw ring P-256.
    println!();
    println!("[1] raw ring ECDSA P-256 (single thread)");
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_ASN1_SIGNING, &rng)
        .map_err(|_| "P-256 key generation failed")?;
    let raw_key = EcdsaKeyPair::from_pkcs8(
        &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
        pkcs8.as_ref(),
        &rng,
    )
    .map_err(|_| "P-256 key load failed")?;
    let message = [0x42u8; 512];
    let (n, el) = run_for(args.sign_seconds, || {
        raw_key.sign(&rng, &message).map_err(|_| "sign failed")?;
        Ok(())
    })?;
    let raw_sign_rate = n as f64 / el.as_secs_f64();
    println!(
        "  sign   {n:>8} in {:.3} s = {raw_sign_rate:>8.0} signatures/s ({:.1} us each)",
        el.as_secs_f64(),
        us_per(el, n)
    );
    let sig = raw_key.sign(&rng, &message).map_err(|_| "sign failed")?;
    let public = signature::UnparsedPublicKey::new(
        &signature::ECDSA_P256_SHA256_ASN1,
        raw_key.public_key().as_ref(),
    );
    let (n, el) = run_for(args.sign_seconds / 2.0, || {
        public
            .verify(&message, sig.as_ref())
            .map_err(|_| "verify failed")?;
        Ok(())
    })?;
    let raw_verify_rate = n as f64 / el.as_secs_f64();
    println!(
        "  verify {n:>8} in {:.3} s = {raw_verify_rate:>8.0} verifications/s ({:.1} us each)",
        el.as_secs_f64(),
        us_per(el, n)
    );
    let (n, el) = run_for(args.sign_seconds / 2.0, || {
        let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let _pem = kp.serialize_pem();
        Ok(())
    })?;
    let keygen_rate = n as f64 / el.as_secs_f64();
    println!(
        "  keygen {n:>8} in {:.3} s = {keygen_rate:>8.0} rcgen P-256 key pairs/s incl. PEM ({:.1} us each)",
        el.as_secs_f64(),
        us_per(el, n)
    );

    // 2. End-to-end issuance.
    println!();
    println!(
        "[2] end-to-end issuance on SQLite: Ca::issue = lint + sign + store + OCSP + audit, one transaction each"
    );
    let mut serials = Vec::new();
    let mut scratch = Vec::new();
    issue_sequential(
        &ca,
        &id,
        Some(&csr_key),
        args.warmup,
        "warmup",
        &mut scratch,
    )
    .await?;
    let mut runs = Vec::new();
    let seq_gen = issue_sequential(
        &ca,
        &id,
        None,
        args.issuances,
        "sequential, KeySource::Generate",
        &mut serials,
    )
    .await?;
    seq_gen.print();
    let seq_csr = issue_sequential(
        &ca,
        &id,
        Some(&csr_key),
        args.issuances,
        "sequential, KeySource::Csr (reused key)",
        &mut serials,
    )
    .await?;
    seq_csr.print();
    for &c in &args.concurrency {
        for csr in [None, Some(&csr_key)] {
            let label = format!(
                "concurrency {c}, {}",
                if csr.is_some() {
                    "KeySource::Csr"
                } else {
                    "KeySource::Generate"
                }
            );
            let run = issue_concurrent(&ca, &id, csr, args.issuances, c, &label).await?;
            run.print();
            runs.push(run);
        }
    }

    // Breakdown: where the time of one issuance goes.
    let mut crypto_gen_us = None;
    let mut crypto_csr_us = None;
    let mut db_us = None;
    if args.breakdown > 0 {
        println!();
        println!(
            "[2b] breakdown, sequential, {} iterations each",
            args.breakdown
        );
        // Two interleaved rounds, best of each, so neither variant pays for warm-up.
        let mut gen_best = Duration::MAX;
        let mut csr_best = Duration::MAX;
        for _ in 0..2 {
            gen_best = gen_best.min(crypto_only_path(&ca, &id, None, args.breakdown)?);
            csr_best = csr_best.min(crypto_only_path(&ca, &id, Some(&csr_key), args.breakdown)?);
        }
        crypto_gen_us = Some(us_per(gen_best, args.breakdown));
        println!(
            "  crypto+encoding only, Generate (no DB)       {:>8.1} us/issuance = {:>8.0} /s",
            us_per(gen_best, args.breakdown),
            args.breakdown as f64 / gen_best.as_secs_f64()
        );
        crypto_csr_us = Some(us_per(csr_best, args.breakdown));
        println!(
            "  crypto+encoding only, Csr (no DB)            {:>8.1} us/issuance = {:>8.0} /s",
            us_per(csr_best, args.breakdown),
            args.breakdown as f64 / csr_best.as_secs_f64()
        );
        let el = db_only_path(&ca, &id, args.breakdown).await?;
        db_us = Some(us_per(el, args.breakdown));
        println!(
            "  DB only (6 statements + BEGIN/COMMIT, 1 tx)  {:>8.1} us/issuance = {:>8.0} /s",
            us_per(el, args.breakdown),
            args.breakdown as f64 / el.as_secs_f64()
        );
        println!(
            "  measured end-to-end: Generate {:.1} us, Csr {:.1} us per issuance",
            1e6 / seq_gen.rate(),
            1e6 / seq_csr.rate()
        );
    }

    // 3. Revocation and CRLs.
    println!();
    println!("[3] revocation and CRL");
    let revoke_n = args.revocations.min(serials.len());
    let t = Instant::now();
    for serial in serials.iter().take(revoke_n) {
        ca.revoke(serial, RevocationReason::PrivilegeWithdrawn, ACTOR)
            .await?;
    }
    let revoke_el = t.elapsed();
    if revoke_n > 0 {
        println!(
            "  Ca::revoke x {revoke_n} (each re-signs OCSP and marks its CRL shard) in {:.3} s = {:.0} /s",
            revoke_el.as_secs_f64(),
            revoke_n as f64 / revoke_el.as_secs_f64(),
        );
    }
    let (pub_small, pub_small_entries, pub_small_size) = best_publish(&ca, 0, 3).await?;
    println!(
        "  Ca::publish_crl, {pub_small_entries} entries from the DB ({} certificates stored): {:.2} ms (best of 3), DER {} bytes",
        certificate_count(&ca).await?,
        ms(pub_small),
        pub_small_size
    );
    let (sel, n) = time_revoked_select(&ca, 0).await?;
    println!(
        "    of which store::revoked_entries (the SELECT alone): {:.2} ms for {n} rows",
        ms(sel)
    );

    let entries = random_entries(args.crl_entries, &rng)?;
    let mut crl_best = Duration::MAX;
    let mut crl_size = 0;
    let mut crl_times = Vec::new();
    for number in 1..=3 {
        let t = Instant::now();
        let der = ca.build_crl(0, 1_000_000 + number, OffsetDateTime::now_utc(), &entries)?;
        let el = t.elapsed();
        crl_times.push(format!("{:.1}", ms(el)));
        crl_best = crl_best.min(el);
        crl_size = der.len();
    }
    println!(
        "  Ca::build_crl, {} in-memory entries (build + sign + signature check): {:.1} ms best of 3 [{} ms], DER {} bytes",
        args.crl_entries,
        ms(crl_best),
        crl_times.join(", "),
        crl_size
    );

    let mut db_crl = None;
    if args.db_crl_entries > 0 {
        let t = Instant::now();
        bulk_revocations(&ca, args.db_crl_entries, false).await?;
        println!(
            "  bulk SQL insert of {} revoked certificates: {:.0} ms (setup, not a target)",
            args.db_crl_entries,
            ms(t.elapsed())
        );
        let (el, n, size) = best_publish(&ca, ca::crl::LEGACY_SHARD, 3).await?;
        println!(
            "  Ca::publish_crl of the legacy (unsharded) CRL, {n} entries from the DB (select + build + sign + check + insert + audit): {:.1} ms best of 3, DER {size} bytes",
            ms(el)
        );
        let (sel, rows) = time_revoked_select(&ca, ca::crl::LEGACY_SHARD).await?;
        println!(
            "    of which store::revoked_entries (the SELECT alone): {:.1} ms for {rows} rows ({} certificates stored)",
            ms(sel),
            certificate_count(&ca).await?
        );
        db_crl = Some((el, n));
    }

    // Summary.
    let best_conc = runs.iter().max_by(|a, b| a.rate().total_cmp(&b.rate()));
    let best_issue = std::iter::once(&seq_gen)
        .chain(std::iter::once(&seq_csr))
        .chain(runs.iter())
        .max_by(|a, b| a.rate().total_cmp(&b.rate()))
        .ok_or("no issuance runs")?;
    println!();
    println!("================================ SUMMARY ================================");
    println!("  raw ring P-256 signatures/s (1 thread)        {raw_sign_rate:>10.0}");
    println!("  raw ring P-256 verifications/s (1 thread)     {raw_verify_rate:>10.0}");
    println!(
        "  issuances/s, sequential, Generate             {:>10.0}   target >= {TARGET_ISSUANCES_PER_SEC:.0}  {}",
        seq_gen.rate(),
        verdict(seq_gen.rate() >= TARGET_ISSUANCES_PER_SEC)
    );
    println!(
        "  issuances/s, sequential, Csr                  {:>10.0}   target >= {TARGET_ISSUANCES_PER_SEC:.0}  {}",
        seq_csr.rate(),
        verdict(seq_csr.rate() >= TARGET_ISSUANCES_PER_SEC)
    );
    if let Some(r) = best_conc {
        println!(
            "  issuances/s, best concurrent ({:<22}) {:>8.0}   target >= {TARGET_ISSUANCES_PER_SEC:.0}  {}",
            r.label.replace("concurrency ", "c="),
            r.rate(),
            verdict(r.rate() >= TARGET_ISSUANCES_PER_SEC)
        );
    }
    println!(
        "  CRL, {} entries, in memory                {:>10.1} ms target <  {TARGET_CRL_MS:.0}  {}",
        args.crl_entries,
        ms(crl_best),
        verdict(args.crl_entries < 100_000 || ms(crl_best) < TARGET_CRL_MS)
    );
    if let Some((el, n)) = db_crl {
        println!(
            "  CRL, {n} entries, Ca::publish_crl (DB)    {:>10.1} ms (informational)",
            ms(el)
        );
    }
    println!(
        "  issuance/raw-sign ratio, sequential Generate  {:>10.4}  ({:.1} raw signatures' worth of time per issuance)",
        seq_gen.rate() / raw_sign_rate,
        raw_sign_rate / seq_gen.rate()
    );
    println!(
        "  issuance/raw-sign ratio, sequential Csr       {:>10.4}  ({:.1} raw signatures' worth of time per issuance)",
        seq_csr.rate() / raw_sign_rate,
        raw_sign_rate / seq_csr.rate()
    );
    println!(
        "  issuance/raw-sign ratio, best run             {:>10.4}  ({})",
        best_issue.rate() / raw_sign_rate,
        best_issue.label
    );
    if let (Some(cg), Some(cc), Some(d)) = (crypto_gen_us, crypto_csr_us, db_us) {
        let e2e_gen = 1e6 / seq_gen.rate();
        let e2e_csr = 1e6 / seq_csr.rate();
        println!(
            "  per issuance (Generate): crypto+encoding {cg:.0} us + DB {d:.0} us = {:.0} us; measured {e2e_gen:.0} us",
            cg + d
        );
        println!(
            "  per issuance (Csr):      crypto+encoding {cc:.0} us + DB {d:.0} us = {:.0} us; measured {e2e_csr:.0} us",
            cc + d
        );
        println!(
            "  DB share of a Csr issuance                    {:>10.0} %",
            100.0 * d / e2e_csr
        );
    }
    println!("=========================================================================");

    drop(ca);
    drop(tmp);
    if args.bulk_revoke > 0 {
        bulk_section(&args).await?;
    }
    Ok(())
}
