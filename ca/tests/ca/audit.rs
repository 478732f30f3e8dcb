//! The audit chain detects tampering.

use super::*;

#[tokio::test]
async fn tampering_with_the_audit_log_is_detected() {
    let tamperings: [(&str, &str, &str); 4] = [
        (
            "a modified row",
            "UPDATE audit_log SET details = '{}' WHERE seq = 2",
            "modified",
        ),
        (
            "renumbered rows",
            "UPDATE audit_log SET seq = seq + 1000 WHERE seq >= 2",
            "missing",
        ),
        (
            "a deleted row",
            "DELETE FROM audit_log WHERE seq = 2",
            "missing",
        ),
        (
            "a deleted tail",
            "DELETE FROM audit_log WHERE seq = (SELECT MAX(seq) FROM audit_log)",
            "head records",
        ),
    ];
    for backend in Backend::all() {
        for (what, sql, expected) in tamperings {
            let t = TestCa::new(backend);
            t.issue("a.pem", &[]).ok();
            t.issue("b.pem", &[]).ok();
            t.ca(&["audit", "verify"]).ok();
            let db = t.db().await;
            on_pool!(&db, |p| {
                sqlx::query(sql).execute(p).await.unwrap();
            });
            db.close().await;
            let r = t.ca(&["audit", "verify"]);
            assert_ne!(r.code, 0, "{backend:?}: {what} went unnoticed");
            assert!(r.stderr.contains(expected), "{what}: {}", r.stderr);
        }
    }
}

#[tokio::test]
async fn a_row_inserted_into_the_middle_breaks_the_chain_even_with_a_plausible_prev_hash() {
    let t = TestCa::new(Backend::Sqlite);
    t.issue("a.pem", &[]).ok();
    t.issue("b.pem", &[]).ok();
    let db = t.db().await;
    // Insert a plausible row between 1 and 2 by shifting later rows: chain breaks at the next.
    on_pool!(&db, |p| {
        // Make room at 2 (two steps: SQLite checks uniqueness row by row).
        sqlx::query("UPDATE audit_log SET seq = seq + 1000 WHERE seq >= 2")
            .execute(p)
            .await
            .unwrap();
        sqlx::query("UPDATE audit_log SET seq = seq - 999 WHERE seq >= 1000")
            .execute(p)
            .await
            .unwrap();
        sqlx::query(
            "INSERT INTO audit_log (seq, at, actor, action, subject, details, prev_hash, hash) \
             SELECT 2, at, 'intruder', 'certificate.issue', 'ff', '{}', hash, hash FROM audit_log WHERE seq = 1",
        )
        .execute(p)
        .await
        .unwrap();
    });
    let err = ca::audit::verify(&db).await.unwrap_err();
    assert!(matches!(err, ca::Error::AuditChain { seq: 2, .. }), "{err}");
}

/// `ca audit verify` is run against the live database: appends that commit while it
/// reads must not make a sound chain look broken. It used to read the entries and
/// then the head in two statements, and an append between them failed it (CI, the
/// complaint flow: "the log ends at entry 23 but the head records entry 24").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verifying_while_entries_are_appended_sees_one_consistent_chain() {
    for backend in Backend::all() {
        let t = TestCa::new(backend);
        let db = t.db().await;
        let append = {
            let db = db.clone();
            move |n: u32| {
                let db = db.clone();
                async move {
                    let mut tx = db.begin().await.unwrap();
                    let details = serde_json::json!({ "n": n });
                    ca::audit::append(&mut tx, "test", "test.append", "x", &details)
                        .await
                        .unwrap();
                    tx.commit().await.unwrap();
                }
            }
        };
        let seen = while_writing(100, 50, append, || async {
            ca::audit::verify(&db)
                .await
                .unwrap_or_else(|e| panic!("{backend:?}: {e}"))
        })
        .await;
        assert!(seen.first() < seen.last(), "{backend:?}: {seen:?}");
        db.close().await;
    }
}
