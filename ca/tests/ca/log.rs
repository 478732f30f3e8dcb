//! The transparency log as the CA keeps it: one entry per issuance, hold, release and
//! revocation, checkpoints signed by `ca log checkpoint`, everything recomputed by
//! `ca log verify`, and the tiles checked by Go's `sumdb` (tlogcheck).

use super::*;

/// The entries' kinds, in index order.
async fn kinds(t: &TestCa) -> Vec<String> {
    let db = t.db().await;
    let rows: Vec<(String,)> = on_pool!(&db, |p| sqlx::query_as(
        "SELECT kind FROM log_entries ORDER BY idx"
    )
    .fetch_all(p)
    .await
    .unwrap());
    db.close().await;
    rows.into_iter().map(|r| r.0).collect()
}

/// A CA with three certificates: a held and released, b revoked, c good; two
/// checkpoints signed.
fn populated(backend: Backend) -> TestCa {
    let t = TestCa::new(backend);
    t.issue("a.pem", &[]).ok();
    t.issue("b.pem", &[]).ok();
    let a = t.serial_of("a.pem");
    let b = t.serial_of("b.pem");
    t.ca(&["revoke", "--serial", &a, "--reason", "certificateHold"])
        .ok();
    t.ca(&["log", "checkpoint"]).ok();
    t.ca(&["revoke", "--serial", &a, "--reason", "removeFromCRL"])
        .ok();
    t.ca(&["revoke", "--serial", &b, "--reason", "superseded"])
        .ok();
    t.issue("c.pem", &[]).ok();
    t.ca(&["log", "checkpoint"]).ok();
    t
}

#[tokio::test]
async fn every_issuance_hold_release_and_revocation_is_one_entry_that_ca_log_verify_recomputes() {
    for backend in Backend::all() {
        let t = populated(backend);
        assert_eq!(
            kinds(&t).await,
            ["issue", "issue", "hold", "release", "revoke", "issue"],
            "{backend:?}"
        );
        let key = t.ca(&["log", "key"]).ok().stdout;
        assert!(key.starts_with("seal.test/log+"), "{key}");
        let v = t.ca(&["log", "verify"]).ok();
        let report: serde_json::Value = serde_json::from_str(&v.stdout).unwrap();
        assert_eq!(report["entries"], 6, "{report}");
        assert_eq!(report["checkpoints"], 2, "{report}");
        assert_eq!(report["certificates"], 3, "{report}");
        // Nothing new: no new checkpoint.
        assert!(
            t.ca(&["log", "checkpoint"])
                .ok()
                .stdout
                .contains("no new entries")
        );
        // An entry holds what it says: the revocation of b, with its reason.
        let db = t.db().await;
        let (body,): (Vec<u8>,) = on_pool!(&db, |p| sqlx::query_as(
            "SELECT body FROM log_entries WHERE kind = 'revoke'"
        )
        .fetch_one(p)
        .await
        .unwrap());
        db.close().await;
        let e = tlog::Entry::parse(&body).unwrap();
        assert_eq!(
            e.serial.as_deref(),
            Some(t.serial_of("b.pem").to_lowercase().as_str())
        );
        assert_eq!(e.reason.as_deref(), Some("superseded"));
        assert_eq!(e.uscc.as_deref(), Some("91110108MA04T7K21H"));
        assert_eq!(e.domains, ["chenxi-shuzhi.cn", "www.chenxi-shuzhi.cn"]);
    }
}

#[tokio::test]
async fn ca_log_verify_finds_a_changed_entry_tile_revocation_or_checkpoint() {
    for backend in Backend::all() {
        let zero_tile = match backend {
            Backend::Sqlite => "UPDATE log_tiles SET data = zeroblob(length(data))",
            Backend::Postgres => {
                "UPDATE log_tiles SET data = decode(repeat('00', length(data)), 'hex')"
            }
        };
        let tamperings: [(&str, &str, &str); 5] = [
            (
                "an entry replaced by another",
                "UPDATE log_entries SET body = (SELECT body FROM log_entries WHERE idx = 0) WHERE idx = 1",
                "entry 1",
            ),
            (
                "a deleted entry",
                "DELETE FROM log_entries WHERE idx = 2",
                "entry 2 is missing",
            ),
            (
                "a stored tile changed",
                zero_tile,
                "stored tile tile/0/000.p/6",
            ),
            (
                "a revocation undone in the database only",
                "DELETE FROM revocations",
                "entries end in Some(\"superseded\")",
            ),
            (
                "a checkpoint re-signed over another root",
                "UPDATE log_checkpoints SET note = replace(note, 'seal.test/log', 'seal.test/lag') WHERE size = 6",
                "checkpoint 6",
            ),
        ];
        for (what, sql, expected) in tamperings {
            let t = populated(backend);
            let db = t.db().await;
            on_pool!(&db, |p| {
                sqlx::query(sql).execute(p).await.unwrap();
            });
            db.close().await;
            let r = t.ca(&["log", "verify"]);
            assert_eq!(r.code, 1, "{backend:?} {what}: {r:?}");
            assert!(
                r.stderr.contains(expected),
                "{backend:?} {what}: {}",
                r.stderr
            );
        }
    }
}

#[tokio::test]
async fn a_kept_checkpoint_is_checked_against_the_log() {
    let t = populated(Backend::Sqlite);
    let db = t.db().await;
    let first = ca::store::log::checkpoints(&mut db.snapshot().await.unwrap())
        .await
        .unwrap()[0]
        .note
        .clone();
    db.close().await;
    std::fs::write(t.path("kept.note"), &first).unwrap();
    t.ca(&["log", "verify", "--from", "kept.note"]).ok();
    // A checkpoint of the same size over another tree (as a rewritten log would
    // have) fails: its signature does not cover the edited root.
    let edited = first.replace(
        first.lines().nth(2).unwrap(),
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
    );
    std::fs::write(t.path("edited.note"), edited).unwrap();
    let r = t.ca(&["log", "verify", "--from", "edited.note"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("the checkpoint given"), "{}", r.stderr);
}

/// Writes the log as static files (checkpoint, hash tiles, entry bundles) the way
/// the server serves them.
async fn write_log_dir(db: &Database, dir: &Path) -> (u64, String) {
    let row = ca::store::log::latest_published(db).await.unwrap().unwrap();
    let note = row.published.unwrap();
    let size = row.size as u64;
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("checkpoint"), &note).unwrap();
    let mut paths = tlog::TilePath::hash_tiles(size);
    for n in 0..size.div_ceil(256) {
        let width = (size - n * 256).min(256) as u32;
        paths.push(tlog::TilePath::Entries { n, width });
    }
    for p in paths {
        let bytes = match p {
            tlog::TilePath::Hashes { level, n, width } => {
                ca::transparency::hash_tile(db, level, n, width)
                    .await
                    .unwrap()
                    .unwrap()
            }
            tlog::TilePath::Entries { n, width } => {
                ca::transparency::entry_bundle(db, n, width).await.unwrap()
            }
        };
        let file = dir.join(p.to_path());
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, bytes).unwrap();
    }
    (size, note)
}

#[tokio::test]
async fn go_sumdb_verifies_the_checkpoint_and_proves_every_entry_from_our_tiles() {
    let tlogcheck = testkit::tlogcheck();
    for backend in Backend::all() {
        let t = populated(backend);
        // Past one full tile, so that level-1 tiles and full bundles exist too.
        let ca = t.open().await;
        for _ in 0..300 {
            ca.issue(&f01_identity(), KeySource::Generate, "test")
                .await
                .unwrap();
        }
        drop(ca);
        let old = t.path("old.note");
        let db = t.db().await;
        let first = ca::store::log::checkpoints(&mut db.snapshot().await.unwrap())
            .await
            .unwrap()[1]
            .note
            .clone();
        std::fs::write(&old, first).unwrap();
        t.ca(&["log", "checkpoint"]).ok();
        let dir = t.path("log");
        let (size, _) = write_log_dir(&db, &dir).await;
        db.close().await;
        assert_eq!(size, 306);
        let vkey = t.ca(&["log", "key"]).ok().stdout.trim().to_string();
        let r = run(Command::new(&tlogcheck).args([
            "log",
            "-base",
            dir.to_str().unwrap(),
            "-vkey",
            &vkey,
            "-old",
            old.to_str().unwrap(),
            "-all",
        ]))
        .ok();
        let out: serde_json::Value = serde_json::from_str(r.stdout.trim()).unwrap();
        assert_eq!(out["size"], 306, "{out}");
        // The same check fails on a tile we corrupt.
        let tile = dir.join("tile/0/000");
        let mut bytes = std::fs::read(&tile).unwrap();
        bytes[40] ^= 1;
        std::fs::write(&tile, bytes).unwrap();
        let r = run(Command::new(&tlogcheck).args([
            "log",
            "-base",
            dir.to_str().unwrap(),
            "-vkey",
            &vkey,
            "-all",
        ]));
        assert_eq!(r.code, 1, "{backend:?}: {r:?}");
    }
}

#[tokio::test]
async fn a_crash_on_either_side_of_the_log_append_leaves_neither_the_event_nor_its_entry() {
    for backend in Backend::all() {
        let t = TestCa::new(backend);
        t.issue("a.pem", &[]).ok();
        let a = t.serial_of("a.pem");
        let before = counts(&t).await;
        assert_eq!(before, (1, 0, 1));
        for point in ["issue-before-log", "issue-after-log"] {
            let crashed = run(t
                .command()
                .env("CHENGXIN_CA_TEST_CRASH", point)
                .args(["issue"])
                .args(F01)
                .args(["--city", "海淀区", "--out", "b.pem"]));
            assert_ne!(
                crashed.code, 0,
                "{backend:?} {point}: the crash hook did not fire"
            );
            assert_eq!(counts(&t).await, before, "{backend:?} {point}");
        }
        for point in ["revoke-before-log", "revoke-after-log"] {
            let crashed = run(t.command().env("CHENGXIN_CA_TEST_CRASH", point).args([
                "revoke",
                "--serial",
                &a,
                "--reason",
                "superseded",
            ]));
            assert_ne!(
                crashed.code, 0,
                "{backend:?} {point}: the crash hook did not fire"
            );
            assert_eq!(counts(&t).await, before, "{backend:?} {point}");
        }
        // Killed just after the commit: the certificate and its entry are both there.
        let crashed = run(t
            .command()
            .env("CHENGXIN_CA_TEST_CRASH", "after-commit")
            .args(["issue"])
            .args(F01)
            .args(["--city", "海淀区", "--out", "c.pem"]));
        assert_ne!(crashed.code, 0);
        assert_eq!(counts(&t).await, (2, 0, 2), "{backend:?}");
        t.ca(&["revoke", "--serial", &a, "--reason", "superseded"])
            .ok();
        assert_eq!(counts(&t).await, (2, 1, 3), "{backend:?}");
        t.ca(&["log", "checkpoint"]).ok();
        t.ca(&["log", "verify"]).ok();
    }
}

async fn counts(t: &TestCa) -> (i64, i64, i64) {
    (
        t.count("certificates").await,
        t.count("revocations").await,
        t.count("log_entries").await,
    )
}

/// Hash tiles are read in batches (one query for all the tiles a proof needs, in
/// chunks of at most 64 keys): more keys than one chunk, some of them not stored,
/// come back exactly once each, with their own bytes, in and out of a transaction.
#[tokio::test]
async fn stored_tiles_are_read_in_batches_and_missing_ones_left_out() {
    for backend in Backend::all() {
        let t = TestCa::new(backend);
        let db = t.db().await;
        // 70 level-0 tiles and 3 level-1 ones, each of distinct bytes and widths.
        let mut stored: Vec<(u8, u64, Vec<u8>)> = (0..70u64)
            .map(|n| (0u8, n, vec![n as u8; 32 * (1 + n as usize % 8)]))
            .collect();
        stored.extend((0..3u64).map(|n| (1u8, n, vec![0xa0 + n as u8; 64])));
        let mut tx = db.begin().await.unwrap();
        ca::store::log::put_tiles(&mut tx, &stored).await.unwrap();
        tx.commit().await.unwrap();
        // Every stored key, a missing level-0 tile, a missing level-1 one, a level
        // never written, in an order unlike the table's.
        let mut keys: Vec<(u8, u64)> = stored.iter().rev().map(|(l, n, _)| (*l, *n)).collect();
        keys.extend([(0, 70), (1, 3), (2, 0)]);
        let want: std::collections::BTreeMap<(u8, u64), Vec<u8>> = stored
            .iter()
            .map(|(l, n, d)| ((*l, *n), d.clone()))
            .collect();
        let as_map = |rows: Vec<(i16, i64, Vec<u8>)>| {
            let n = rows.len();
            let map: std::collections::BTreeMap<(u8, u64), Vec<u8>> = rows
                .into_iter()
                .map(|(l, n, d)| ((l as u8, n as u64), d))
                .collect();
            assert_eq!(map.len(), n, "{backend:?}: a tile came back twice");
            map
        };
        let out = as_map(ca::store::log::tiles(&db, &keys).await.unwrap());
        assert_eq!(out, want, "{backend:?}");
        let mut tx = db.begin().await.unwrap();
        let out = as_map(ca::store::log::tiles_in(&mut tx, &keys).await.unwrap());
        drop(tx);
        assert_eq!(out, want, "{backend:?}");
        assert!(
            ca::store::log::tiles(&db, &[(3, 0)])
                .await
                .unwrap()
                .is_empty()
        );
        db.close().await;
    }
}

/// Proofs through the in-memory tile cache equal proofs read straight from the
/// database, and check against the signed root, as the tree grows past the
/// right-edge tiles cached for a smaller tree (each cached partial tile must be
/// noticed as too narrow and reloaded) and with a budget so small that the cache
/// keeps starting over.
/// RFC 6962 §2.1's Merkle tree hash of the leaf hashes `leaves`, by its definition.
fn mth(leaves: &[[u8; 32]]) -> [u8; 32] {
    if leaves.len() == 1 {
        return leaves[0];
    }
    let k = leaves.len().next_power_of_two() / 2;
    let mut node = ring::digest::Context::new(&ring::digest::SHA256);
    node.update(&[1]);
    node.update(&mth(&leaves[..k]));
    node.update(&mth(&leaves[k..]));
    node.finish().as_ref().try_into().unwrap()
}

#[tokio::test]
async fn proofs_through_the_tile_cache_equal_proofs_from_the_database_as_the_tree_grows() {
    use ca::transparency::{TileCache, with_cached_tiles};
    use tlog::tiles::{check_inclusion, leaf_hash};
    for backend in Backend::all() {
        let t = TestCa::new(backend);
        let db = t.db().await;
        let keys = tempfile::tempdir().unwrap();
        let signer =
            ca::transparency::LogSigner::open(keys.path(), b"passphrase", "cache.test/log")
                .unwrap();
        let caches = [TileCache::new(32 << 20), TileCache::new(3 * 8192)];
        let mut appended = 0u64;
        for grow in [300u64, 1, 255, 70_000 - 556] {
            let entries: Vec<(tlog::Entry, Option<i64>)> = (appended..appended + grow)
                .map(|i| {
                    let e = tlog::Entry {
                        audit_size: Some(i),
                        audit_head: Some([i as u8; 32]),
                        ..tlog::Entry::new(tlog::Kind::AuditAnchor, 1_700_000_000)
                    };
                    (e, None)
                })
                .collect();
            let mut tx = db.begin().await.unwrap();
            ca::transparency::append(&mut tx, &entries).await.unwrap();
            tx.commit().await.unwrap();
            appended += grow;
            let signed = signer.integrate(&db).await.unwrap().unwrap();
            assert_eq!(signed.size, appended);
            let size = signed.size;
            // Integration works chunk by chunk (the last grow spans fourteen): the
            // signed root is RFC 6962's tree hash of every entry, computed here
            // directly, not through tiles.
            let leaves: Vec<[u8; 32]> = ca::store::log::entries(&db, 0, size as i64)
                .await
                .unwrap()
                .iter()
                .map(|e| leaf_hash(&e.body).0)
                .collect();
            assert_eq!(signed.root.0, mth(&leaves), "{backend:?}: size {size}");
            // The edges and a spread of indexes, the newest included.
            let mut indexes: Vec<u64> = (0..size).step_by(997).collect();
            indexes.extend([0, size / 2, size.saturating_sub(257), size - 1]);
            let bodies = ca::store::log::entries(&db, 0, size as i64).await.unwrap();
            for &i in &indexes {
                let direct = ca::transparency::inclusion_proof(&db, size, i)
                    .await
                    .unwrap();
                for cache in &caches {
                    let cached = with_cached_tiles(&db, cache, |m| m.inclusion(size, i))
                        .await
                        .unwrap();
                    assert_eq!(cached, direct, "{backend:?}: size {size}, entry {i}");
                }
                check_inclusion(
                    &direct,
                    size,
                    signed.root,
                    i,
                    leaf_hash(&bodies[i as usize].body),
                )
                .unwrap();
            }
        }
        db.close().await;
    }
}

/// An auditor runs `ca log verify` against the live database: entries appended and
/// integrated while it reads must not look like discrepancies. It used to read the
/// count, the entries, the head, the tiles and the checkpoints in statements of
/// their own, so an append between two of them failed a sound log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verifying_while_entries_are_appended_and_integrated_sees_one_consistent_log() {
    use std::sync::Arc;
    for backend in Backend::all() {
        let t = TestCa::new(backend);
        t.issue("a.pem", &[]).ok();
        let db = t.db().await;
        let keys = tempfile::tempdir().unwrap();
        let signer = Arc::new(
            ca::transparency::LogSigner::open(keys.path(), b"passphrase", "live.test/log").unwrap(),
        );
        let vkey = signer.verifier_key();
        // Anchors of the audit chain's first entry: sound entries that need no
        // certificate.
        let mut tx = db.snapshot().await.unwrap();
        let first: [u8; 32] = ca::audit::hash_at(&mut tx, 1)
            .await
            .unwrap()
            .unwrap()
            .try_into()
            .unwrap();
        tx.rollback().await.unwrap();
        let append = {
            let db = db.clone();
            move |n: u32| {
                let (db, signer) = (db.clone(), signer.clone());
                async move {
                    let anchor = tlog::Entry {
                        audit_size: Some(1),
                        audit_head: Some(first),
                        ..tlog::Entry::new(tlog::Kind::AuditAnchor, 1_700_000_000)
                    };
                    let mut tx = db.begin().await.unwrap();
                    ca::transparency::append(&mut tx, &[(anchor, None)])
                        .await
                        .unwrap();
                    tx.commit().await.unwrap();
                    if n.is_multiple_of(3) {
                        signer.integrate(&db).await.unwrap();
                    }
                }
            }
        };
        let sizes = while_writing(60, 20, append, || async {
            ca::transparency::verify(&db, &vkey, None)
                .await
                .unwrap_or_else(|e| panic!("{backend:?}: {e}"))
                .entries
        })
        .await;
        assert!(sizes.first() < sizes.last(), "{backend:?}: {sizes:?}");
        db.close().await;
    }
}
