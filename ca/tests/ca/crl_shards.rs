//! Sharded CRLs and revocation in bulk (issue 14): each certificate's distribution
//! point names its shard, a shard's CRL names the same URL and lists only its own
//! certificates, revocations mark shards dirty instead of signing a CRL, and
//! `ca revoke --serials-file` revokes many at once.

use super::*;
use testkit::{Artefact, pkilint};

/// Moves the issuer's issuance sequence counter to `value`: the next certificate a
/// fresh `ca issue` process signs gets `value + 1`.
async fn set_sequence(t: &TestCa, value: i64) {
    let db = t.db().await;
    on_pool!(&db, |p| {
        let (id,): (i64,) = sqlx::query_as("SELECT MAX(id) FROM issuers")
            .fetch_one(p)
            .await
            .unwrap();
        sqlx::query(
            "INSERT INTO counters (name, value) VALUES ($1, $2) \
             ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        )
        .bind(format!("crl_seq:{id}"))
        .bind(value)
        .execute(p)
        .await
        .unwrap();
    });
    db.close().await;
}

/// The stored newest CRL of `shard`, written to `out` (DER and `out`.pem).
async fn stored_crl(t: &TestCa, slug: &str, shard: i64, out: &str) -> ca::store::CrlRecord {
    let db = t.db().await;
    let crl = ca::store::latest_shard_crl(&db, slug, shard)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("no CRL for shard {shard}"));
    db.close().await;
    std::fs::write(t.path(out), &crl.der).unwrap();
    t.openssl(&[
        "crl",
        "-inform",
        "DER",
        "-in",
        out,
        "-out",
        &format!("{out}.pem"),
    ])
    .ok();
    crl
}

/// `openssl crl -text` of a DER CRL, its signature checked against the issuing CA.
fn crl_text(t: &TestCa, der: &str) -> Run {
    t.openssl(&[
        "crl",
        "-inform",
        "DER",
        "-in",
        der,
        "-CAfile",
        "ca/issuing.pem",
        "-noout",
        "-text",
    ])
    .ok()
}

async fn dirty_shards(t: &TestCa) -> i64 {
    t.count("crl_shards WHERE dirty_since IS NOT NULL").await
}

#[tokio::test]
async fn bulk_revocation_lists_each_certificate_in_its_own_shard_crl_as_openssl_and_pkilint_check()
{
    for backend in Backend::all() {
        let t = TestCa::new(backend);
        t.issue("a.pem", &[]).ok();
        // The next certificates are the 10,000th (the last of shard 0), then the
        // 10,001st and 10,002nd (shard 1).
        set_sequence(&t, 9_999).await;
        for cert in ["b.pem", "c.pem", "d.pem"] {
            t.issue(cert, &[]).ok();
        }
        let ca = t.open().await;
        let slug = ca.slug().to_string();
        ca.db().close().await;
        let url = |shard: i64| format!("{PUBLIC_URL}/crl/{slug}/{shard}.crl");
        for (cert, shard) in [("a.pem", 0), ("b.pem", 0), ("c.pem", 1), ("d.pem", 1)] {
            let dp = t
                .openssl(&[
                    "x509",
                    "-in",
                    cert,
                    "-noout",
                    "-ext",
                    "crlDistributionPoints",
                ])
                .ok()
                .stdout;
            assert!(
                dp.contains(&format!("URI:{}\n", url(shard))),
                "{backend:?}: {cert} should name shard {shard}: {dp}"
            );
        }
        let (a, c) = (t.serial_of("a.pem"), t.serial_of("c.pem"));
        let revoke_file = |file: &str| {
            t.ca(&[
                "revoke",
                "--serials-file",
                file,
                "--reason",
                "keyCompromise",
            ])
        };

        // A bad line refuses the whole file, naming the line; nothing is revoked.
        std::fs::write(t.path("bad.txt"), format!("{a}\n\n{c}zz\n")).unwrap();
        let bad = revoke_file("bad.txt");
        assert_eq!(bad.code, 1, "{backend:?}: {bad:?}");
        assert!(bad.stderr.contains("line 3"), "{}", bad.stderr);
        std::fs::write(t.path("unknown.txt"), format!("{a}\n01ff\n")).unwrap();
        let unknown = revoke_file("unknown.txt");
        assert_eq!(unknown.code, 1, "{backend:?}: {unknown:?}");
        assert!(
            unknown
                .stderr
                .contains("line 2: no certificate with serial"),
            "{}",
            unknown.stderr
        );
        assert_eq!(t.count("revocations").await, 0, "{backend:?}");

        std::fs::write(
            t.path("serials.txt"),
            format!(
                "# incident 42\n{a}\n\n  {}  # the second\n",
                c.to_lowercase()
            ),
        )
        .unwrap();
        let out = revoke_file("serials.txt").ok();
        assert!(
            out.stdout
                .contains("2 certificates revoked (keyCompromise), 0 already revoked"),
            "{}",
            out.stdout
        );
        // The command published the two shards it changed, once each, at its end.
        for shard in [0, 1] {
            assert!(
                out.stdout
                    .contains(&format!("of {} with 1 entries", url(shard))),
                "{backend:?}: {}",
                out.stdout
            );
        }
        assert_eq!(dirty_shards(&t).await, 0, "{backend:?}");

        for shard in [0i64, 1] {
            let file = format!("shard{shard}.der");
            let crl = stored_crl(&t, &slug, shard, &file).await;
            assert_eq!(crl.entries, 1, "{backend:?}");
            let text = crl_text(&t, &file);
            assert!(text.stderr.contains("verify OK"), "{backend:?}: {text:?}");
            // The issuing distribution point is the URL its certificates name.
            assert!(
                text.stdout
                    .contains("X509v3 Issuing Distribution Point: critical")
                    && text.stdout.contains(&format!("URI:{} ", url(shard))),
                "{backend:?}: {}",
                text.stdout
            );
            let findings = pkilint(Artefact::Crl, &crl.der);
            assert!(findings.is_empty(), "{backend:?}: {findings:?}");
        }
        let verify = |cert: &str, crl: &str| t.verify_with_crl(cert, crl);
        for (cert, crl) in [("a.pem", "shard0.der.pem"), ("c.pem", "shard1.der.pem")] {
            let r = verify(cert, crl);
            assert_ne!(r.code, 0, "{backend:?}: openssl accepted revoked {cert}");
            assert!(
                format!("{}{}", r.stdout, r.stderr).contains("certificate revoked"),
                "{backend:?}: {r:?}"
            );
        }
        verify("b.pem", "shard0.der.pem").ok();
        verify("d.pem", "shard1.der.pem").ok();
        // Shard 0's CRL says nothing about a certificate of shard 1: openssl refuses
        // it (its issuing distribution point is not the certificate's), so a
        // partition cannot stand in for another.
        let wrong = verify("d.pem", "shard0.der.pem");
        assert_ne!(wrong.code, 0, "{backend:?}: {wrong:?}");
        assert!(
            format!("{}{}", wrong.stdout, wrong.stderr).contains("different CRL scope"),
            "{backend:?}: {wrong:?}"
        );

        // Run again (after an interruption, say): nothing new, nothing refused.
        let again = revoke_file("serials.txt").ok();
        assert!(
            again
                .stdout
                .contains("0 certificates revoked (keyCompromise), 2 already revoked"),
            "{}",
            again.stdout
        );
        let audited = t
            .count(
                "audit_log WHERE action = 'certificate.revoke' \
                 AND details LIKE '%\"crl_shard\":1%'",
            )
            .await;
        assert_eq!(audited, 1, "{backend:?}: the audit entry names the shard");
    }
}

/// A revocation signs no CRL: it marks its shard dirty in its own transaction (a
/// rolled-back one leaves no mark), and the publisher lists it. The timer publishes
/// every live shard when due, and the legacy CRL keeps its URL.
#[tokio::test]
async fn a_revocation_marks_its_shard_and_the_publisher_lists_it() {
    for backend in Backend::all() {
        let t = TestCa::new(backend);
        t.issue("a.pem", &[]).ok();
        t.issue("b.pem", &[]).ok();
        let ca = t.open().await;
        let a = ca::Serial::parse_hex(&t.serial_of("a.pem")).unwrap();
        let b = ca::Serial::parse_hex(&t.serial_of("b.pem")).unwrap();
        let listed = |crl: &ca::store::CrlRecord, s: &ca::Serial| {
            use x509_parser::prelude::FromDer;
            let (_, parsed) =
                x509_parser::revocation_list::CertificateRevocationList::from_der(&crl.der)
                    .unwrap();
            parsed
                .iter_revoked_certificates()
                .any(|r| r.raw_serial() == s.as_bytes())
        };
        let shard0 = || async {
            ca::store::latest_shard_crl(ca.db(), ca.slug(), 0)
                .await
                .unwrap()
        };

        let mut tx = ca.db().begin().await.unwrap();
        ca.revoke_in(&mut tx, &a, RevocationReason::Superseded, "test")
            .await
            .unwrap();
        drop(tx);
        assert_eq!(dirty_shards(&t).await, 0, "{backend:?}: rolled back");
        assert!(ca.publish_dirty_crls("test").await.unwrap().is_empty());

        let before = shard0().await.expect("ca init publishes shard 0");
        let r = ca
            .revoke(&a, RevocationReason::Superseded, "test")
            .await
            .unwrap();
        assert_eq!(r.crl_shard, 0);
        assert_eq!(dirty_shards(&t).await, 1, "{backend:?}");
        let unchanged = shard0().await.unwrap();
        assert_eq!(
            unchanged.number, before.number,
            "{backend:?}: no CRL signed"
        );
        assert!(!listed(&unchanged, &a));

        let published = ca.publish_dirty_crls("test").await.unwrap();
        assert_eq!(published.len(), 1, "{backend:?}");
        assert_eq!((published[0].shard, published[0].crl.entries), (0, 1));
        let now = shard0().await.unwrap();
        assert!(now.number > before.number && listed(&now, &a) && !listed(&now, &b));
        assert_eq!(dirty_shards(&t).await, 0, "{backend:?}");
        assert!(ca.publish_dirty_crls("test").await.unwrap().is_empty());

        // The timer: nothing is due right after a publication; with a margin past
        // the CRLs' lifetime, every shard with an unexpired certificate is.
        assert!(
            ca.publish_due_crls(3 * 86_400, "test")
                .await
                .unwrap()
                .is_empty()
        );
        let due = ca.publish_due_crls(8 * 86_400, "test").await.unwrap();
        assert_eq!(
            due.iter().map(|p| p.shard).collect::<Vec<_>>(),
            vec![0],
            "{backend:?}"
        );

        // A certificate from before sharding: the legacy CRL lists it, under the
        // issuer's one URL, and the timer keeps that CRL while the certificate lives.
        on_pool!(ca.db(), |p| {
            sqlx::query("UPDATE certificates SET crl_shard = -1 WHERE serial = $1")
                .bind(b.as_bytes())
                .execute(p)
                .await
                .unwrap();
        });
        let r = ca
            .revoke(&b, RevocationReason::CessationOfOperation, "test")
            .await
            .unwrap();
        assert_eq!(r.crl_shard, ca::crl::LEGACY_SHARD);
        let published = ca.publish_dirty_crls("test").await.unwrap();
        assert_eq!(published.len(), 1, "{backend:?}");
        let legacy = ca::store::latest_shard_crl(ca.db(), ca.slug(), -1)
            .await
            .unwrap()
            .unwrap();
        assert!(listed(&legacy, &b) && !listed(&legacy, &a), "{backend:?}");
        std::fs::write(t.path("legacy.der"), &legacy.der).unwrap();
        let text = crl_text(&t, "legacy.der").stdout;
        assert!(
            text.contains(&format!("URI:{PUBLIC_URL}/crl/{}.crl ", ca.slug())),
            "{text}"
        );
        let due = ca.publish_due_crls(8 * 86_400, "test").await.unwrap();
        let mut shards: Vec<i64> = due.iter().map(|p| p.shard).collect();
        shards.sort_unstable();
        assert_eq!(shards, vec![-1, 0], "{backend:?}");
        ca.db().close().await;
    }
}

#[test]
fn the_shard_of_a_sequence_number_holds_at_most_the_shard_size() {
    use ca::crl::{CRL_SHARD_SIZE, shard_of_sequence};
    assert_eq!(shard_of_sequence(1), 0);
    assert_eq!(shard_of_sequence(CRL_SHARD_SIZE), 0);
    assert_eq!(shard_of_sequence(CRL_SHARD_SIZE + 1), 1);
    assert_eq!(shard_of_sequence(3 * CRL_SHARD_SIZE), 2);
}

/// A CRL publication and its `crl.publish` audit entry commit together: when the
/// audit entry cannot be written, no CRL is published and the shard stays dirty
/// (they used to commit in separate transactions, so a crash between them left CRLs
/// with no audit record). Revocations and publications running at once queue on
/// the audit head and finish (the order that keeps PostgreSQL from deadlocking).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publication_commits_with_its_audit_entry_or_not_at_all() {
    let (refuse, allow) = (
        [
            "CREATE FUNCTION refuse_crl_audit() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RAISE EXCEPTION 'crl.publish refused'; END $$",
            "CREATE TRIGGER refuse BEFORE INSERT ON audit_log FOR EACH ROW \
             WHEN (NEW.action = 'crl.publish') EXECUTE FUNCTION refuse_crl_audit()",
        ],
        "DROP TRIGGER refuse ON audit_log",
    );
    for backend in Backend::all() {
        let t = TestCa::new(backend);
        let ca = std::sync::Arc::new(t.open().await);
        let serials = issue_through(&ca, 8).await;
        let latest = || async {
            ca::store::latest_shard_crl(ca.db(), ca.slug(), 0)
                .await
                .unwrap()
                .unwrap()
                .number
        };
        ca.revoke(&serials[0], RevocationReason::Superseded, "test")
            .await
            .unwrap();
        let before = latest().await;
        let statements: Vec<&str> = match backend {
            Backend::Sqlite => vec![
                "CREATE TRIGGER refuse BEFORE INSERT ON audit_log \
                 WHEN NEW.action = 'crl.publish' BEGIN SELECT RAISE(ABORT, 'crl.publish refused'); END",
            ],
            Backend::Postgres => refuse.to_vec(),
        };
        for sql in statements {
            on_pool!(ca.db(), |p| {
                sqlx::query(sql).execute(p).await.unwrap();
            });
        }
        let err = ca.publish_dirty_crls("test").await.unwrap_err();
        assert!(err.to_string().contains("refused"), "{backend:?}: {err}");
        assert_eq!(
            latest().await,
            before,
            "{backend:?}: a CRL without its audit entry"
        );
        assert_eq!(dirty_shards(&t).await, 1, "{backend:?}");
        let drop_trigger = match backend {
            Backend::Sqlite => "DROP TRIGGER refuse",
            Backend::Postgres => allow,
        };
        on_pool!(ca.db(), |p| {
            sqlx::query(drop_trigger).execute(p).await.unwrap();
        });
        let published = ca.publish_dirty_crls("test").await.unwrap();
        assert_eq!(published.len(), 1, "{backend:?}");
        let number = published[0].crl.number;
        assert!(number > before);

        // The other seven revoked one by one while a publisher runs flat out.
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let publisher = tokio::spawn({
            let (ca, stop) = (ca.clone(), stop.clone());
            async move {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    ca.publish_dirty_crls("test").await.unwrap();
                }
            }
        });
        let revocations = serials[1..].iter().map(|s| {
            let ca = ca.clone();
            let s = s.clone();
            tokio::spawn(async move {
                ca.revoke(&s, RevocationReason::KeyCompromise, "test")
                    .await
                    .unwrap();
            })
        });
        let revocations: Vec<_> = revocations.collect();
        tokio::time::timeout(std::time::Duration::from_secs(60), async {
            for r in revocations {
                r.await.unwrap();
            }
        })
        .await
        .unwrap_or_else(|_| panic!("{backend:?}: revocations stuck"));
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        tokio::time::timeout(std::time::Duration::from_secs(60), publisher)
            .await
            .unwrap_or_else(|_| panic!("{backend:?}: publisher stuck"))
            .unwrap();
        ca.publish_dirty_crls("test").await.unwrap();
        assert_eq!(latest_entries(&ca).await, 8, "{backend:?}");
        assert_eq!(dirty_shards(&t).await, 0, "{backend:?}");
        // Every CRL signed since has its audit entry, naming its number: the numbers
        // come from one counter per issuer, each publication takes the next, and
        // only the newest CRL is kept, so the audited numbers from the first one
        // must run without a gap to the newest.
        let details: Vec<(String,)> = on_pool!(ca.db(), |p| sqlx::query_as(
            "SELECT details FROM audit_log WHERE action = 'crl.publish'"
        )
        .fetch_all(p)
        .await
        .unwrap());
        let mut audited: Vec<i64> = details
            .iter()
            .flat_map(|(d,)| {
                let d: serde_json::Value = serde_json::from_str(d).unwrap();
                d["crls"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| c["number"].as_i64().unwrap())
                    .collect::<Vec<_>>()
            })
            .filter(|&n| n >= number)
            .collect();
        audited.sort_unstable();
        let newest = ca::store::latest_shard_crl(ca.db(), ca.slug(), 0)
            .await
            .unwrap()
            .unwrap()
            .number;
        assert_eq!(
            audited,
            (number..=newest).collect::<Vec<_>>(),
            "{backend:?}"
        );
        assert!(newest > number, "{backend:?}: nothing published meanwhile");
        ca.db().close().await;
    }
}

/// `n` certificates for F01 issued through the library: their serials.
async fn issue_through(ca: &Ca, n: usize) -> Vec<ca::Serial> {
    let mut serials = Vec::with_capacity(n);
    for _ in 0..n {
        let issued = ca
            .issue(&f01_identity(), KeySource::Generate, "test")
            .await
            .unwrap();
        serials.push(issued.serial);
    }
    serials
}

async fn latest_entries(ca: &Ca) -> i64 {
    ca::store::latest_shard_crl(ca.db(), ca.slug(), 0)
        .await
        .unwrap()
        .unwrap()
        .entries
}

/// A bulk revocation publishes the dirty shards itself, between batches, once a
/// shard has waited [`ca::crl::STARVED_CRL_SECS`] (on SQLite the publisher can miss
/// the lock between batches for over a second), and leaves fresh marks to the
/// publisher.
#[tokio::test]
async fn a_bulk_revocation_publishes_a_shard_the_publisher_left_waiting() {
    for backend in Backend::all() {
        let t = TestCa::new(backend);
        let ca = t.open().await;
        let serials = issue_through(&ca, 3).await;
        // A fresh mark is the publisher's. (Marks are whole seconds: start just
        // after a second begins, so that marking and checking fall in the same one.)
        let into_second = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_millis();
        tokio::time::sleep(std::time::Duration::from_millis(u64::from(
            1010 - into_second,
        )))
        .await;
        let done = ca
            .revoke_many(&serials[..1], RevocationReason::Superseded, "test")
            .await
            .unwrap();
        assert!(done.published.is_empty(), "{backend:?}");
        assert_eq!(dirty_shards(&t).await, 1, "{backend:?}");
        // A mark the publisher has left for longer is published by the next batch.
        on_pool!(ca.db(), |p| {
            sqlx::query("UPDATE crl_shards SET dirty_since = dirty_since - $1")
                .bind(ca::crl::STARVED_CRL_SECS + 1)
                .execute(p)
                .await
                .unwrap();
        });
        let done = ca
            .revoke_many(&serials[1..], RevocationReason::Superseded, "test")
            .await
            .unwrap();
        assert_eq!(done.published.len(), 1, "{backend:?}");
        assert_eq!(done.published[0].crl.entries, 3, "{backend:?}");
        assert_eq!(dirty_shards(&t).await, 0, "{backend:?}");
        ca.db().close().await;
    }
}
