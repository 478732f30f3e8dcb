//! CA benchmark: end-to-end issuances per second on SQLite (lint + sign + store +
//! audit), raw ring P-256 signatures per second, and the time to build and sign a
//! CRL with 100,000 entries.
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
const PASSPHRASE: &[u8] = b"bench-ca passphrase 0123456789";
const ACTOR: &str = "bench";

/// Chengxin CA benchmark.
#[derive(Parser, Debug)]
#[command(about = "Chengxin CA benchmark: issuance, raw P-256 signing, CRL")]
struct Args {
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
/// also sign a certificate, an OCSP response and a CRL per revocation).
async fn bulk_revocations(ca: &Ca, n: usize) -> BoxResult<()> {
    let pool = sqlite_pool(ca.db()).ok_or("SQLite expected")?;
    let issuer_id = issuer_id(ca).await?;
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let mut tx = pool.begin().await?;
    sqlx::query(
        "INSERT INTO certificates (issuer_id, serial, status, organization, uscc, icp, province, city, \
         domains, not_before, not_after, created_at) \
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $1) \
         SELECT $2, CAST(x'01' || randomblob(17) AS BLOB), 'issued', 'bench-bulk', '', '', '', '', '[]', $3, $4, $3 FROM n",
    )
    .bind(n as i64)
    .bind(issuer_id)
    .bind(now)
    .bind(now + 365 * 86_400)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO revocations (certificate_id, revoked_at, reason, actor) \
         SELECT id, $1, 9, 'bench-bulk' FROM certificates WHERE organization = 'bench-bulk'",
    )
    .bind(now)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

async fn best_publish(ca: &Ca, tries: usize) -> BoxResult<(Duration, i64, usize)> {
    let mut best = Duration::MAX;
    let (mut entries, mut size) = (0, 0);
    for _ in 0..tries {
        let t = Instant::now();
        let crl = ca.publish_crl(ACTOR).await?;
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

/// Times the query `Ca::publish_crl` starts with (best of 3, rolled back).
async fn time_revoked_select(ca: &Ca) -> BoxResult<(Duration, usize)> {
    let issuer_id = issuer_id(ca).await?;
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let mut best = Duration::MAX;
    let mut rows = 0;
    for _ in 0..3 {
        let mut tx = ca.db().begin().await?;
        let t = Instant::now();
        rows = ca::store::revoked_entries(&mut tx, issuer_id, now)
            .await?
            .len();
        best = best.min(t.elapsed());
        drop(tx);
    }
    Ok((best, rows))
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
            "  Ca::revoke x {revoke_n} (each re-signs OCSP and publishes a CRL) in {:.3} s = {:.0} /s, last CRL {} entries",
            revoke_el.as_secs_f64(),
            revoke_n as f64 / revoke_el.as_secs_f64(),
            revoke_n
        );
    }
    let (pub_small, pub_small_entries, pub_small_size) = best_publish(&ca, 3).await?;
    println!(
        "  Ca::publish_crl, {pub_small_entries} entries from the DB ({} certificates stored): {:.2} ms (best of 3), DER {} bytes",
        certificate_count(&ca).await?,
        ms(pub_small),
        pub_small_size
    );
    let (sel, n) = time_revoked_select(&ca).await?;
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
        let der = ca.build_crl(1_000_000 + number, OffsetDateTime::now_utc(), &entries)?;
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
        bulk_revocations(&ca, args.db_crl_entries).await?;
        println!(
            "  bulk SQL insert of {} revoked certificates: {:.0} ms (setup, not a target)",
            args.db_crl_entries,
            ms(t.elapsed())
        );
        let (el, n, size) = best_publish(&ca, 3).await?;
        println!(
            "  Ca::publish_crl, {n} entries from the DB (select + build + sign + check + insert + audit): {:.1} ms best of 3, DER {size} bytes",
            ms(el)
        );
        let (sel, rows) = time_revoked_select(&ca).await?;
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
    Ok(())
}
