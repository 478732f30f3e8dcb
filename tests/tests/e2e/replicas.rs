//! Replicas on one PostgreSQL database: a hold, its release and a revocation made
//! through one replica show on every replica's seal (each format, scale and content
//! coding, each with a new validator) and certificate within a second, as design §1
//! and issue 14 promise.
//!
//! Each replica keeps its own caches (site facts, rendered seals and their coded
//! bytes), so this is the test that fails when invalidation stops at the replica that
//! made the change, or when a rendered variant outlives the facts it was drawn from.

use std::io::Read;
use std::time::{Duration, Instant};

use testkit::Backend;

use crate::{Deployment, SEAL_GREEN, SEAL_RED, count_colours, http};

/// How soon a state change must show on every replica, from the answer to the staff
/// request that made it.
const VISIBLE_WITHIN: Duration = Duration::from_secs(1);
/// How long the test keeps polling before it gives up: longer than
/// [`VISIBLE_WITHIN`], so a slow replica is reported with its measured time.
const GIVE_UP_AFTER: Duration = Duration::from_secs(4);
/// Pause between two rounds of requests (the brief: every 20–50 ms).
const POLL_EVERY: Duration = Duration::from_millis(25);
/// The suspended seal's colour (`SealState::Suspended` in the renderer).
const SEAL_AMBER: [u8; 3] = [0x9a, 0x67, 0x00];
/// Pixels of its state colour a seal PNG has at least (its frame and mark); fewer
/// means the PNG shows none of the three states.
const MIN_STATE_PIXELS: usize = 50;
/// The page the seal is embedded on: the certified site itself.
const REFERER: &str = "https://chenxi-shuzhi.cn/";

/// What a seal or certificate says about the site.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shown {
    Certified,
    Suspended,
    Revoked,
}

/// What a page view can fetch: the SVG plain, brotli- and gzip-coded, the PNG at 1×
/// and 2×, and the certificate's JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Variant {
    Svg(Option<&'static str>),
    Png1x,
    Png2x,
    CertJson,
}

const VARIANTS: [Variant; 6] = [
    Variant::Svg(None),
    Variant::Svg(Some("br")),
    Variant::Svg(Some("gzip")),
    Variant::Png1x,
    Variant::Png2x,
    Variant::CertJson,
];

impl Variant {
    fn path(self, site: &str) -> String {
        match self {
            Variant::Svg(_) => format!("/seal/{site}.svg"),
            Variant::Png1x => format!("/seal/{site}.png"),
            Variant::Png2x => format!("/seal/{site}@2x.png"),
            Variant::CertJson => format!("/cert/{site}.json"),
        }
    }
}

/// One replica: its name for messages and its base URL.
struct Replica {
    name: &'static str,
    base: String,
}

/// Fetches `variant` from `replica` as a browser on the site's own page would:
/// what it shows, and its ETag (seals only).
fn look(
    client: &reqwest::blocking::Client,
    replica: &Replica,
    site: &str,
    variant: Variant,
) -> (Shown, Option<String>) {
    let url = format!("{}{}", replica.base, variant.path(site));
    let mut request = client.get(&url).header("referer", REFERER);
    if let Variant::Svg(Some(coding)) = variant {
        request = request.header("accept-encoding", coding);
    }
    let r = request.send().unwrap();
    assert_eq!(r.status(), 200, "{} {url}", replica.name);
    let header = |name: &str| {
        r.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
    };
    let (etag, encoding) = (header("etag"), header("content-encoding"));
    let body = r.bytes().unwrap().to_vec();
    let shown = match variant {
        Variant::Svg(coding) => {
            assert_eq!(encoding.as_deref(), coding, "{} {url}", replica.name);
            let mut text = String::new();
            match coding {
                None => text = String::from_utf8(body).unwrap(),
                Some("br") => {
                    brotli::Decompressor::new(&body[..], 4096)
                        .read_to_string(&mut text)
                        .unwrap();
                }
                Some(_) => {
                    flate2::read::GzDecoder::new(&body[..])
                        .read_to_string(&mut text)
                        .unwrap();
                }
            }
            // The title names the state (the text itself is drawn as outlines).
            [
                ("网站身份已验证", Shown::Certified),
                ("认证已暂停", Shown::Suspended),
                ("认证已撤销", Shown::Revoked),
            ]
            .into_iter()
            .find(|(words, _)| text.contains(words))
            .unwrap_or_else(|| panic!("{} {url} shows no known state: {text}", replica.name))
            .1
        }
        Variant::Png1x | Variant::Png2x => {
            assert!(body.starts_with(b"\x89PNG"), "{} {url}", replica.name);
            let counts = count_colours(&body, [SEAL_GREEN, SEAL_AMBER, SEAL_RED]);
            let (most, &pixels) = counts.iter().enumerate().max_by_key(|(_, n)| **n).unwrap();
            assert!(
                pixels >= MIN_STATE_PIXELS,
                "{} {url}: no state colour ({counts:?})",
                replica.name
            );
            [Shown::Certified, Shown::Suspended, Shown::Revoked][most]
        }
        Variant::CertJson => {
            let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
            match json["status"].as_str() {
                Some("certified") => Shown::Certified,
                Some("suspended") => Shown::Suspended,
                Some("revoked") => Shown::Revoked,
                other => panic!("{} {url}: status {other:?}", replica.name),
            }
        }
    };
    (shown, etag)
}

/// Every variant from every replica, in order: what each shows and its ETag.
fn look_everywhere(
    client: &reqwest::blocking::Client,
    replicas: &[Replica],
    site: &str,
) -> Vec<(Shown, Option<String>)> {
    replicas
        .iter()
        .flat_map(|r| VARIANTS.map(|v| look(client, r, site, v)))
        .collect()
}

/// Asks `replicas` for every variant every [`POLL_EVERY`] from `since` (the answer
/// to the change) until all show `want`, and returns the ETag each had when it first
/// did, after checking that each did so within [`VISIBLE_WITHIN`] and never went
/// back.
///
/// Each (replica, variant) has a poller of its own, and a sighting is timed when its
/// request was sent: a request sent at `t` that gets the new state proves the replica
/// showed it at `t`. Asked one after another, the first sighting of a variant waited
/// for the others' first draws of the new state (brotli and two PNGs per replica, in
/// a debug build on two loaded cores), which measured the test's round, not the
/// replica.
fn wait_until_shown(
    client: &reqwest::blocking::Client,
    replicas: &[Replica],
    site: &str,
    want: Shown,
    since: Instant,
) -> Vec<Option<String>> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let asks: Vec<(&Replica, Variant)> = replicas
        .iter()
        .flat_map(|r| VARIANTS.map(|v| (r, v)))
        .collect();
    let (seen, rounds, total) = (AtomicUsize::new(0), AtomicUsize::new(0), asks.len());
    let first: Vec<Option<(Duration, Option<String>)>> = std::thread::scope(|scope| {
        let pollers: Vec<_> = asks
            .iter()
            .map(|(replica, variant)| {
                let (seen, rounds) = (&seen, &rounds);
                scope.spawn(move || {
                    let mut first: Option<(Duration, Option<String>)> = None;
                    // Until every poller has seen the change: one that saw it goes on
                    // asking, so that a replica going back is caught.
                    while seen.load(Ordering::SeqCst) < total && since.elapsed() < GIVE_UP_AFTER {
                        rounds.fetch_add(1, Ordering::Relaxed);
                        let sent = since.elapsed();
                        let (shown, etag) = look(client, replica, site, *variant);
                        match (&first, shown == want) {
                            (None, true) => {
                                first = Some((sent, etag));
                                seen.fetch_add(1, Ordering::SeqCst);
                            }
                            (Some((when, _)), false) => panic!(
                                "replica {} {variant:?} showed {want:?} when asked after \
                                 {when:.3?}, then {shown:?} again when asked after {sent:.3?}",
                                replica.name
                            ),
                            _ => {}
                        }
                        std::thread::sleep(POLL_EVERY);
                    }
                    first
                })
            })
            .collect();
        pollers
            .into_iter()
            .map(|p| p.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    });
    let rounds = rounds.into_inner();
    let mut late = Vec::new();
    for replica in replicas {
        let times: Vec<String> = asks
            .iter()
            .zip(&first)
            .filter(|((r, _), _)| r.name == replica.name)
            .map(|((_, variant), f)| {
                let at = f.as_ref().map(|(at, _)| *at);
                if at.is_none_or(|at| at > VISIBLE_WITHIN) {
                    late.push(format!(
                        "replica {} {variant:?} after {at:.3?}",
                        replica.name
                    ));
                }
                format!("{variant:?} {at:.3?}")
            })
            .collect();
        eprintln!(
            "  {want:?} on replica {}: {}",
            replica.name,
            times.join(", ")
        );
    }
    let slowest = first.iter().flatten().map(|(at, _)| *at).max();
    eprintln!(
        "{want:?} everywhere after {slowest:.3?} ({rounds} requests by {} pollers)",
        asks.len()
    );
    assert!(
        late.is_empty(),
        "{want:?} did not show within {VISIBLE_WITHIN:?} of the answer: {}",
        late.join("; ")
    );
    first.into_iter().map(|f| f.unwrap().1).collect()
}

/// Asks replica `a` to revoke the site's certificate for `reason` (staff); returns
/// when its answer came.
fn revoke(
    client: &reqwest::blocking::Client,
    a: &Replica,
    site: &str,
    staff: &str,
    reason: &str,
    expected_status: &str,
) -> Instant {
    let asked = Instant::now();
    let r = client
        .post(format!("{}/api/v1/sites/{site}/revoke", a.base))
        .bearer_auth(staff)
        .json(&serde_json::json!({ "reason": reason }))
        .send()
        .unwrap();
    let answered = Instant::now();
    assert_eq!(r.status(), 200, "{reason}");
    let view: serde_json::Value = r.json().unwrap();
    assert_eq!(view["status"], expected_status, "{reason}: {view}");
    eprintln!(
        "{reason}: replica {} answered in {:.3?}",
        a.name,
        answered - asked
    );
    answered
}

/// Checks that each seal's ETag after a change differs from the one before (the
/// certificate JSON has none).
fn assert_new_etags(before: &[Option<String>], after: &[Option<String>]) {
    for (i, (old, new)) in before.iter().zip(after).enumerate() {
        let variant = VARIANTS[i % VARIANTS.len()];
        if variant != Variant::CertJson {
            assert!(
                old.is_some() && old != new,
                "{variant:?}: ETag {old:?} kept"
            );
        }
    }
}

/// The ETags of what [`look_everywhere`] saw.
fn etags(seen: &[(Shown, Option<String>)]) -> Vec<Option<String>> {
    seen.iter().map(|(_, tag)| tag.clone()).collect()
}

#[test]
fn a_hold_its_release_and_a_revocation_through_one_replica_show_on_every_replica_within_1_s() {
    let d = Deployment::new(Backend::Postgres);
    let (_a, site) = d.certified_chenxi();
    let (_b, b_port) = d.serve_replica(2, &[]);
    let staff = d.token("staff", "staff@seal.test");
    let site = site["site"].as_str().unwrap().to_string();
    let b = Replica {
        name: "B",
        base: format!("http://127.0.0.1:{b_port}"),
    };
    let a = Replica {
        name: "A",
        base: d.url(""),
    };
    // B first: the replica that did not make the change is the one that matters.
    let replicas = [b, a];
    let client = http();

    // Primed: every replica has drawn, coded and cached each variant, certified.
    let certified = look_everywhere(&client, &replicas, &site);
    for (i, (shown, _)) in certified.iter().enumerate() {
        assert_eq!(
            *shown,
            Shown::Certified,
            "{:?}",
            VARIANTS[i % VARIANTS.len()]
        );
    }
    // A second look is answered from the caches: the same state and validators.
    assert_eq!(look_everywhere(&client, &replicas, &site), certified);

    // Through replica A: suspended (certificateHold), released (removeFromCRL), then
    // revoked for good; each shown everywhere, each from caches as fresh as they can be.
    for (reason, status, want) in [
        ("certificateHold", "suspended", Shown::Suspended),
        ("removeFromCRL", "certified", Shown::Certified),
        ("privilegeWithdrawn", "revoked", Shown::Revoked),
    ] {
        let before = etags(&look_everywhere(&client, &replicas, &site));
        let answered = revoke(&client, &replicas[1], &site, &staff, reason, status);
        let after = wait_until_shown(&client, &replicas, &site, want, answered);
        assert_new_etags(&before, &after);
    }
}
