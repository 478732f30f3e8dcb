//! `scripts/bench-impersonation`: microseconds per screening of one application (two
//! domains and an organization name) against an index of BRANDS synthetic member
//! brands (default 10,000), against the same screenings with 100 brands (the
//! reference, in the same run). Issue 17's target: under 5 ms with 10,000 brands.

#![allow(missing_docs, clippy::unwrap_used)]

use std::time::Instant;

use badge_server::domain::impersonation::{Brand, Candidate, Index};

const SYLLABLES: &[&str] = &[
    "tao", "bao", "mei", "tuan", "jing", "dong", "bai", "du", "wei", "xin", "zhi", "fu", "tian",
    "mao", "hua", "long", "shan", "hai", "yun", "feng", "le", "kang", "an", "xing", "ming", "da",
    "qi", "che", "lv", "you", "gou", "wu",
];
const HAN: &[char] = &[
    '淘', '宝', '美', '团', '京', '东', '百', '度', '微', '信', '天', '猫', '华', '龙', '山', '海',
    '云', '风', '乐', '康', '安', '星', '明', '大', '汽', '车', '旅', '游', '购', '物',
];

/// xorshift64: the same pseudo-random sequence in every run.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 as usize
    }
    fn pick<'a, T>(&mut self, from: &'a [T]) -> &'a T {
        &from[self.next() % from.len()]
    }
}

fn brands(n: usize, rng: &mut Rng) -> Vec<Brand> {
    (0..n)
        .map(|i| {
            let words = 2 + rng.next() % 2;
            let name: String = (0..words).map(|_| *rng.pick(SYLLABLES)).collect::<String>()
                + &(i % 97).to_string();
            let alias: String = (0..2 + rng.next() % 2).map(|_| *rng.pick(HAN)).collect();
            Brand {
                member_id: format!("m_{i:05}"),
                member_name: format!("{alias}网络科技有限公司{i}"),
                member_uscc: String::new(),
                domains: vec![format!("{name}.com"), format!("{name}.cn")],
                aliases: vec![alias],
                name,
            }
        })
        .collect()
}

/// Applications: an innocent name, a typo of a brand, a brand with a lure word, a
/// Chinese label, in turn.
fn candidates(brands: &[Brand], n: usize, rng: &mut Rng) -> Vec<(Vec<String>, String)> {
    (0..n)
        .map(|i| {
            let b = rng.pick(brands);
            let word: String = (0..3).map(|_| *rng.pick(SYLLABLES)).collect();
            let domain = match i % 4 {
                0 => format!("{word}.cn"),
                1 => {
                    let mut s: Vec<char> = b.name.chars().collect();
                    s.swap(1, 2);
                    format!("{}.com", s.into_iter().collect::<String>())
                }
                2 => format!("{}-kefu.cn", b.name),
                _ => format!("{}客服.cn", b.aliases[0]),
            };
            let org: String = (0..4).map(|_| *rng.pick(HAN)).collect::<String>() + "有限公司";
            (vec![domain, format!("www.{word}.com.cn")], org)
        })
        .collect()
}

/// Median and 99th percentile in µs, and the number of matches found, of screening each candidate.
fn time(index: &Index, candidates: &[(Vec<String>, String)]) -> (f64, f64, usize) {
    let mut micros = Vec::with_capacity(candidates.len());
    let mut found = 0;
    for (domains, org) in candidates {
        let started = Instant::now();
        let matches = index.screen(Candidate {
            domains,
            organization: org,
        });
        micros.push(started.elapsed().as_secs_f64() * 1e6);
        found += matches.len();
    }
    micros.sort_by(f64::total_cmp);
    let at = |q: f64| micros[((micros.len() - 1) as f64 * q) as usize];
    (at(0.5), at(0.99), found)
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let n_brands = args.first().copied().unwrap_or(10_000);
    let n_candidates = args.get(1).copied().unwrap_or(2_000);
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let all = brands(n_brands, &mut rng);
    let started = Instant::now();
    let big = Index::new(all.clone());
    let build = started.elapsed();
    let small = Index::new(all[..100.min(n_brands)].to_vec());
    let apps = candidates(&all, n_candidates, &mut rng);
    let small_apps = candidates(&all[..100.min(n_brands)], n_candidates, &mut rng);
    // Warm-up: first touches of the tables.
    time(&big, &apps[..apps.len().min(100)]);
    let (median, p99, flagged) = time(&big, &apps);
    let (ref_median, ref_p99, ref_flagged) = time(&small, &small_apps);
    println!(
        "index of {n_brands} brands built in {:.1} ms",
        build.as_secs_f64() * 1e3
    );
    println!(
        "{n_brands} brands: {n_candidates} screenings, median {median:.1} µs, p99 {p99:.1} µs ({flagged} matches)"
    );
    println!(
        "100 brands (reference): median {ref_median:.1} µs, p99 {ref_p99:.1} µs ({ref_flagged} matches)"
    );
    println!(
        "ratio {n_brands}/100 brands: median {:.2}x, p99 {:.2}x; target p99 < 5000 µs: {}",
        median / ref_median,
        p99 / ref_p99,
        if p99 < 5000.0 { "met" } else { "NOT met" }
    );
}
