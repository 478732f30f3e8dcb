//! `scripts/bench-icp`: lookups per second and resident memory of the on-disk ICP
//! index over ROWS generated filings, against the in-memory provider over a tenth of
//! them (the reference, in the same run).

#![allow(missing_docs, clippy::unwrap_used)]

use std::io::Write;
use std::time::Instant;

use verifier::icp::{FileProvider, IcpProvider, IndexedProvider, index};

/// Resident memory of this process in KiB, from /proc/self/status.
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn row(i: usize) -> String {
    format!(
        r#"{{"contentTypeName":"","domain":"site{i}.cn","domainId":{d},"homeUrl":"www.site{i}.cn","leaderName":"","limitAccess":"否","mainId":{m},"mainLicence":"京ICP备20{i:08}号","natureName":"企业","serviceId":{s},"serviceLicence":"京ICP备20{i:08}号-1","serviceName":"站点{i}","unitName":"北京站点{i}科技有限公司","updateRecordTime":"2024-06-12 10:21:33"}}"#,
        d = 10_000_000_000u64 + i as u64,
        m = 7_000_000 + i,
        s = 20_000_000_000u64 + i as u64,
    )
}

/// Asks `provider` for `lookups` pseudo-random domains among `rows`; lookups/s.
async fn lookups_per_sec(provider: &dyn IcpProvider, rows: usize, lookups: usize) -> f64 {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let started = Instant::now();
    for _ in 0..lookups {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let i = (x % rows as u64) as usize;
        let answer = provider.query(&format!("site{i}.cn")).await.unwrap();
        assert_eq!(answer.rows.len(), 1, "site{i}.cn");
    }
    lookups as f64 / started.elapsed().as_secs_f64()
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let rows = args.first().copied().unwrap_or(1_000_000);
    let lookups = args.get(1).copied().unwrap_or(100_000);
    let reference_rows = (rows / 10).max(1);
    let dir = std::path::Path::new("target/bench-icp");
    std::fs::create_dir_all(dir).unwrap();
    let input = dir.join(format!("rows-{rows}.jsonl"));
    let small = dir.join(format!("rows-{reference_rows}.jsonl"));
    let idx = dir.join(format!("rows-{rows}.idx"));
    if !idx.exists() {
        let started = Instant::now();
        for (path, n) in [(&input, rows), (&small, reference_rows)] {
            let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
            for i in 0..n {
                writeln!(out, "{}", row(i)).unwrap();
            }
        }
        let n = index::build(&input, &idx).unwrap();
        println!(
            "indexed {n} rows in {:.1} s ({} MiB on disk)",
            started.elapsed().as_secs_f64(),
            std::fs::metadata(&idx).unwrap().len() >> 20
        );
    }

    let before = rss_kib();
    let started = Instant::now();
    let indexed = IndexedProvider::open(&idx).unwrap();
    let opened = started.elapsed().as_secs_f64();
    let index_rss = rss_kib().saturating_sub(before);
    let index_rate = lookups_per_sec(&indexed, rows, lookups).await;
    println!(
        "on-disk index, {rows} rows: opened in {opened:.2} s, +{} MiB resident, {index_rate:.0} lookups/s",
        index_rss >> 10
    );
    drop(indexed);

    let before = rss_kib();
    let memory = FileProvider::load(&small).unwrap();
    let memory_rss = rss_kib().saturating_sub(before);
    let memory_rate = lookups_per_sec(&memory, reference_rows, lookups).await;
    println!(
        "in memory (reference), {reference_rows} rows: +{} MiB resident ({:.1} KiB a row), {memory_rate:.0} lookups/s",
        memory_rss >> 10,
        memory_rss as f64 / reference_rows as f64
    );
    println!(
        "ratio: index/in-memory lookups {:.2}; resident memory per row {:.4}",
        index_rate / memory_rate,
        (index_rss as f64 / rows as f64) / (memory_rss as f64 / reference_rows as f64)
    );
}
