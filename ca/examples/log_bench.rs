//! Transparency log benchmark (issue 15, "Performance"), the parts that run inside
//! the CA library; `scripts/bench-log` drives it and adds `ca log verify` and tile
//! serving against nginx.
//!
//! * `append`: events appended in transactions the size of group-committed
//!   issuances (`ca::transparency::append`, which takes the audit head and the log
//!   counter as an issuance does) by concurrent writers, while a task runs
//!   `LogSigner::integrate` every period and publishes what it signed.
//! * `grow`: the log grown to a size in large transactions, integrated and
//!   published (the 1,000,000-entry log of the proof and verify figures).
//! * `proofs`: inclusion proofs from stored tiles for random entries of the
//!   published tree, each read straight from the database
//!   (`ca::transparency::inclusion_proof`) and as badge-server computes them, through
//!   its tile cache (`with_cached_tiles`); each proof checked against the root.
//!
//! Entries are synthetic but canonical `issue` entries carrying a 1,000-byte
//! certificate field (random bytes, as incompressible as DER) and no certificates
//! row, so `ca log verify` recomputes the tree over realistic entry sizes while
//! its certificate-parity check has no rows to compare.
//!
//! Each command prints its figures and one `RESULT key=value …` line for the script.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ca::db::Database;
use ca::transparency::LogSigner;
use clap::Parser;
use ring::rand::{SecureRandom, SystemRandom};
use tlog::tiles::{self, Hash};
use tlog::{Entry, Kind};

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type BoxResult<T> = std::result::Result<T, BoxError>;

/// Bytes of the synthetic certificate in each `issue` entry (a typical DV-style
/// certificate with two SANs is 900–1,300 bytes of DER).
const CERT_BYTES: usize = 1_000;

/// Target (issue 15): an inclusion proof from stored tiles in under this.
const TARGET_PROOF_MS: f64 = 1.0;

#[derive(Parser, Debug)]
#[command(about = "Chengxin transparency log benchmark (run through scripts/bench-log)")]
struct Args {
    /// The database (`sqlite://…`).
    #[arg(long, env = "CHENGXIN_DATABASE_URL")]
    database: String,
    /// The CA directory (its log key signs the checkpoints).
    #[arg(long, env = "CHENGXIN_CA_DIR")]
    ca_dir: PathBuf,
    /// The issuing key's passphrase, which also encrypts the log key.
    #[arg(long, env = "CHENGXIN_CA_PASSPHRASE")]
    passphrase: String,
    /// The log's origin.
    #[arg(long, env = "CHENGXIN_LOG_ORIGIN")]
    origin: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand, Debug)]
enum Command {
    /// Appends events while integrating every period.
    Append {
        /// Events appended.
        #[arg(long, default_value_t = 100_000)]
        events: u64,
        /// Entries per transaction (a group commit of that many issuances).
        #[arg(long, default_value_t = 16)]
        batch: u64,
        /// Concurrent writer tasks.
        #[arg(long, default_value_t = 4)]
        writers: u64,
        /// Milliseconds between integrations (the server's checkpoint period).
        #[arg(long, default_value_t = 1000)]
        period_ms: u64,
    },
    /// Grows the log to `size` entries, integrating and publishing as it goes.
    Grow {
        /// The size to reach.
        #[arg(long, default_value_t = 1_000_000)]
        size: u64,
        /// Entries per transaction.
        #[arg(long, default_value_t = 10_000)]
        chunk: u64,
    },
    /// Times inclusion proofs for random entries of the published tree.
    Proofs {
        /// Proofs computed.
        #[arg(long, default_value_t = 1000)]
        count: usize,
        /// Proofs computed first and not counted (the server's page cache is warm).
        #[arg(long, default_value_t = 100)]
        warmup: usize,
    },
}

/// The `p`-quantile of sorted durations, in milliseconds.
fn quantile_ms(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)].as_secs_f64() * 1e3
}

/// A canonical issue entry for event `i`, with a certificate field of
/// [`CERT_BYTES`] random bytes.
fn synthetic_entry(i: u64, now: i64, rng: &SystemRandom) -> BoxResult<Entry> {
    let mut der = vec![0u8; CERT_BYTES];
    rng.fill(&mut der).map_err(|_| "random generator failed")?;
    Ok(Entry {
        issuer: Some("bench-issuing".into()),
        serial: Some(format!("{:016x}{i:016x}", 0x0c4e_9d1a_u64)),
        sha256: Some(Entry::certificate_sha256(&der)),
        site: Some(format!("s_bench{i:08}")),
        uscc: Some("91350100M000100Y43".into()),
        domains: vec![
            format!("bench{i}.example.cn"),
            format!("www.bench{i}.example.cn"),
        ],
        certificate: Some(der),
        ..Entry::new(Kind::Issue, now)
    })
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Appends entries `from .. from + n` in one transaction.
async fn append_batch(db: &Database, from: u64, n: u64, rng: &SystemRandom) -> BoxResult<()> {
    let t = now();
    let mut entries = Vec::with_capacity(n as usize);
    for i in from..from + n {
        entries.push((synthetic_entry(i, t, rng)?, None));
    }
    let mut tx = db.begin().await?;
    ca::transparency::append(&mut tx, &entries).await?;
    tx.commit().await?;
    Ok(())
}

/// Integrates and publishes what was signed (the server's checkpointer without
/// witnesses). Returns the size signed, if any.
async fn integrate_and_publish(signer: &LogSigner, db: &Database) -> BoxResult<Option<u64>> {
    let Some(signed) = signer.integrate(db).await? else {
        return Ok(None);
    };
    ca::store::log::publish_checkpoint(db, signed.size as i64, &signed.note, now()).await?;
    Ok(Some(signed.size))
}

async fn append_section(
    db: Database,
    signer: LogSigner,
    events: u64,
    batch: u64,
    writers: u64,
    period: Duration,
) -> BoxResult<()> {
    let start_size = ca::store::log::appended(&mut db.snapshot().await?).await? as u64;
    println!(
        "[1] append {events} events: {writers} writers, {batch} entries per transaction \
         (ca::transparency::append), integrate + publish every {} ms; log starts at {start_size}",
        period.as_millis()
    );
    let signer = Arc::new(signer);
    let done = Arc::new(AtomicBool::new(false));
    let integrator = {
        let (db, signer, done) = (db.clone(), signer.clone(), done.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut times = Vec::new();
            loop {
                tick.tick().await;
                let last = done.load(Ordering::SeqCst);
                let t = Instant::now();
                let signed = integrate_and_publish(&signer, &db).await?;
                if signed.is_some() {
                    times.push(t.elapsed());
                }
                if last && signed.is_none() {
                    return Ok::<_, BoxError>(times);
                }
            }
        })
    };
    let next = Arc::new(AtomicU64::new(0));
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..writers {
        let (db, next) = (db.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let rng = SystemRandom::new();
            loop {
                let from = next.fetch_add(batch, Ordering::SeqCst);
                if from >= events {
                    return Ok::<_, BoxError>(());
                }
                append_batch(&db, start_size + from, batch.min(events - from), &rng).await?;
            }
        }));
    }
    for t in tasks {
        t.await??;
    }
    let appended = t0.elapsed();
    done.store(true, Ordering::SeqCst);
    let mut times = integrator.await??;
    let all_in = t0.elapsed();
    times.sort_unstable();
    let rate = events as f64 / appended.as_secs_f64();
    let (size, _) = ca::store::log::head(&mut db.snapshot().await?).await?;
    println!(
        "  appended {events} in {:.2} s = {rate:.0} events/s; all integrated {:.2} s after the start (head {size})",
        appended.as_secs_f64(),
        all_in.as_secs_f64()
    );
    println!(
        "  checkpoints signed {}: integrate p50 {:.1} ms, max {:.1} ms",
        times.len(),
        quantile_ms(&times, 0.5),
        quantile_ms(&times, 1.0)
    );
    println!(
        "RESULT events={events} seconds={:.2} rate={rate:.0} checkpoints={} integrate_p50_ms={:.1} integrate_max_ms={:.1}",
        appended.as_secs_f64(),
        times.len(),
        quantile_ms(&times, 0.5),
        quantile_ms(&times, 1.0)
    );
    Ok(())
}

async fn grow_section(db: Database, signer: LogSigner, size: u64, chunk: u64) -> BoxResult<()> {
    let have = ca::store::log::appended(&mut db.snapshot().await?).await? as u64;
    println!("[grow] log from {have} to {size} entries, {chunk} per transaction");
    let rng = SystemRandom::new();
    let t0 = Instant::now();
    let mut at = have;
    let mut integrate_time = Duration::ZERO;
    while at < size {
        let n = chunk.min(size - at);
        append_batch(&db, at, n, &rng).await?;
        at += n;
        if at.is_multiple_of(u64::try_from(ca::transparency::MAX_INTEGRATE)?) || at == size {
            let t = Instant::now();
            while integrate_and_publish(&signer, &db).await?.is_some() {}
            integrate_time += t.elapsed();
        }
    }
    let (head, _) = ca::store::log::head(&mut db.snapshot().await?).await?;
    println!(
        "  grown in {:.1} s (of which integrating {:.1} s); head {head}",
        t0.elapsed().as_secs_f64(),
        integrate_time.as_secs_f64()
    );
    println!(
        "RESULT size={head} seconds={:.1}",
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}

async fn proofs_section(db: Database, count: usize, warmup: usize) -> BoxResult<()> {
    let row = ca::store::log::latest_published(&db)
        .await?
        .ok_or("no published checkpoint: run grow first")?;
    let size = row.size as u64;
    let mut root = Hash([0; 32]);
    root.0.copy_from_slice(&row.root);
    println!(
        "[3] inclusion proofs from stored tiles: {count} random entries of {size} (after {warmup} not counted), \
         each read straight from the database and through the server's tile cache"
    );
    let rng = SystemRandom::new();
    let mut indexes = Vec::with_capacity(warmup + count);
    for _ in 0..warmup + count {
        let mut b = [0u8; 8];
        rng.fill(&mut b).map_err(|_| "random generator failed")?;
        indexes.push(u64::from_le_bytes(b) % size);
    }
    // The budget badge-server gives its proof cache (PROOF_TILE_CACHE_BYTES).
    let cache = ca::transparency::TileCache::new(8 * 1024 * 1024);
    let (mut direct, mut cached) = (Vec::with_capacity(count), Vec::with_capacity(count));
    for (k, &index) in indexes.iter().enumerate() {
        let t = Instant::now();
        let proof = ca::transparency::inclusion_proof(&db, size, index).await?;
        let d = t.elapsed();
        let t = Instant::now();
        let through_cache =
            ca::transparency::with_cached_tiles(&db, &cache, |m| m.inclusion(size, index)).await?;
        let c = t.elapsed();
        if k >= warmup {
            direct.push(d);
            cached.push(c);
        }
        if through_cache != proof {
            return Err(format!("entry {index}: the cached proof differs").into());
        }
        let i = i64::try_from(index)?;
        let entry = ca::store::log::entries(&db, i, i + 1).await?;
        let body = &entry.first().ok_or("entry missing")?.body;
        tiles::check_inclusion(&proof, size, root, index, tiles::leaf_hash(body))?;
    }
    let figures = |times: &mut Vec<Duration>| {
        times.sort_unstable();
        (
            quantile_ms(times, 0.5),
            quantile_ms(times, 0.99),
            quantile_ms(times, 1.0),
        )
    };
    let (p50, p99, max) = figures(&mut cached);
    let (d50, d99, dmax) = figures(&mut direct);
    println!(
        "  server path (tile cache): p50 {p50:.3} ms, p99 {p99:.3} ms, max {max:.3} ms (target < {TARGET_PROOF_MS} ms)"
    );
    println!(
        "  every tile from the database: p50 {d50:.3} ms, p99 {d99:.3} ms, max {dmax:.3} ms; every proof checked against the root"
    );
    println!(
        "RESULT size={size} count={count} p50_ms={p50:.3} p99_ms={p99:.3} max_ms={max:.3} direct_p50_ms={d50:.3} direct_p99_ms={d99:.3} direct_max_ms={dmax:.3}"
    );
    Ok(())
}

#[tokio::main]
async fn main() -> BoxResult<()> {
    let args = Args::parse();
    if cfg!(debug_assertions) {
        println!("  WARNING: debug build; use --release (scripts/bench-log) for real figures");
    }
    let db = Database::connect(&args.database).await?;
    ca::transparency::ensure_head(&db).await?;
    let signer = || LogSigner::open(&args.ca_dir, args.passphrase.as_bytes(), &args.origin);
    match args.command {
        Command::Append {
            events,
            batch,
            writers,
            period_ms,
        } => {
            append_section(
                db,
                signer()?,
                events,
                batch.max(1),
                writers.max(1),
                Duration::from_millis(period_ms.max(1)),
            )
            .await
        }
        Command::Grow { size, chunk } => grow_section(db, signer()?, size, chunk.max(1)).await,
        Command::Proofs { count, warmup } => proofs_section(db, count.max(1), warmup).await,
    }
}
