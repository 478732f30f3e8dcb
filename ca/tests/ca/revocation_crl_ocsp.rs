//! Revocation, CRLs and OCSP: reasons, holds, compromised keys, the responder and
//! the refresh.

use super::*;

#[test]
fn a_revoked_certificate_is_listed_in_the_crl_with_its_reason_and_openssl_rejects_it() {
    for backend in Backend::all() {
        let t = TestCa::new(backend);
        t.issue("a.pem", &[]).ok();
        t.issue("b.pem", &[]).ok();
        let a = t.serial_of("a.pem");
        t.ca(&["revoke", "--serial", &a, "--reason", "keyCompromise"])
            .ok();
        t.ca(&["crl", "--out", "crl.der"]).ok();

        t.openssl(&[
            "crl",
            "-inform",
            "DER",
            "-in",
            "crl.der",
            "-CAfile",
            "ca/issuing.pem",
            "-noout",
        ])
        .ok();
        let text = t
            .openssl(&["crl", "-inform", "DER", "-in", "crl.der", "-noout", "-text"])
            .ok()
            .stdout;
        assert!(
            text.contains(&format!("Serial Number: {}", a.to_uppercase())),
            "{text}"
        );
        assert!(text.contains("Key Compromise"), "{text}");
        assert!(text.contains("X509v3 CRL Number"), "{text}");
        assert!(text.contains("Next Update"), "{text}");
        assert!(text.contains("X509v3 Authority Key Identifier"), "{text}");
        assert!(
            !text.contains(&t.serial_of("b.pem").to_uppercase()),
            "an unrevoked certificate is listed"
        );

        t.openssl(&["crl", "-inform", "DER", "-in", "crl.der", "-out", "crl.pem"])
            .ok();
        let chain_crl = |cert: &str| t.verify_with_crl(cert, "crl.pem");
        let rejected = chain_crl("a.pem");
        assert_ne!(rejected.code, 0, "openssl accepted a revoked certificate");
        assert!(
            rejected.stdout.contains("revoked") || rejected.stderr.contains("revoked"),
            "{rejected:?}"
        );
        chain_crl("b.pem").ok();

        // CRL numbers only grow.
        t.ca(&["crl", "--out", "crl2.der"]).ok();
        let number = |f: &str| {
            let out = t
                .openssl(&["crl", "-inform", "DER", "-in", f, "-noout", "-crlnumber"])
                .ok()
                .stdout;
            i64::from_str_radix(out.trim().trim_start_matches("crlNumber=0x"), 16).unwrap()
        };
        assert!(number("crl2.der") > number("crl.der"));

        let twice = t.ca(&["revoke", "--serial", &a, "--reason", "superseded"]);
        assert_eq!(twice.code, 1);
        assert!(
            twice.stderr.contains("already revoked (keyCompromise)"),
            "{}",
            twice.stderr
        );
        let unknown = t.ca(&["revoke", "--serial", "01ff", "--reason", "keyCompromise"]);
        assert_eq!(unknown.code, 1);
        assert!(
            unknown.stderr.contains("no certificate with serial"),
            "{}",
            unknown.stderr
        );
        let bad_reason = t.ca(&["revoke", "--serial", &a, "--reason", "becauseISaidSo"]);
        assert_eq!(bad_reason.code, 1);
        assert!(
            bad_reason.stderr.contains("unknown revocation reason"),
            "{}",
            bad_reason.stderr
        );
    }
}

/// A keyCompromise revocation is about the key, not one certificate: every live
/// certificate with that key is revoked with it (another operator's too, and one on
/// hold), each with its own audit entry, and the key is never certified again.
#[tokio::test]
async fn a_compromised_key_revokes_every_certificate_with_it_and_is_never_certified_again() {
    for backend in Backend::all() {
        let t = TestCa::new(backend);
        t.p256_csr("shared.key", "shared.csr");
        t.issue("a.pem", &["--csr", "shared.csr"]).ok();
        // Another operator, the same key.
        t.ca(&[
            "issue",
            "--domain",
            "other.cn",
            "--org",
            "另一家公司",
            "--uscc",
            "91110108MA04T7K21H",
            "--icp",
            "京ICP备2024018653号-1",
            "--province",
            "北京市",
            "--city",
            "海淀区",
            "--csr",
            "shared.csr",
            "--out",
            "b.pem",
        ])
        .ok();
        t.issue("c.pem", &["--csr", "shared.csr"]).ok();
        t.issue("d.pem", &[]).ok();
        let c = t.serial_of("c.pem");
        t.ca(&["revoke", "--serial", &c, "--reason", "certificateHold"])
            .ok();
        // Rows written before the key hash was stored are found as well.
        let db = t.db().await;
        on_pool!(&db, |p| {
            sqlx::query("UPDATE certificates SET spki_sha256 = NULL")
                .execute(p)
                .await
                .unwrap();
        });
        db.close().await;

        let a = t.serial_of("a.pem");
        let out = t
            .ca(&["revoke", "--serial", &a, "--reason", "keyCompromise"])
            .ok();
        let listed = out.stdout.to_uppercase();
        for cert in ["b.pem", "c.pem"] {
            assert!(
                listed.contains(&format!("{} KEYCOMPROMISE (SAME KEY)", t.serial_of(cert))),
                "{backend:?}: {}",
                out.stdout
            );
        }
        let ca = t.open().await;
        for cert in ["a.pem", "b.pem", "c.pem"] {
            let served = t.served_ocsp(&ca, cert).await;
            assert!(
                served.contains(&format!("{cert}: revoked"))
                    && served.contains("Reason: keyCompromise"),
                "{backend:?}: {served}"
            );
        }
        let d = t.served_ocsp(&ca, "d.pem").await;
        assert!(d.contains("d.pem: good"), "{backend:?}: {d}");
        t.ca(&["crl", "--out", "crl.der"]).ok();
        let crl = t
            .openssl(&["crl", "-inform", "DER", "-in", "crl.der", "-noout", "-text"])
            .ok()
            .stdout;
        for cert in ["a.pem", "b.pem", "c.pem"] {
            assert!(
                crl.contains(&t.serial_of(cert).to_uppercase()),
                "{backend:?}: {cert} not in the CRL"
            );
        }
        let db = t.db().await;
        let (revocations,): (i64,) = on_pool!(&db, |p| sqlx::query_as(
            "SELECT COUNT(*) FROM audit_log WHERE action = 'certificate.revoke' \
             AND details LIKE '%keyCompromise%'"
        )
        .fetch_one(p)
        .await
        .unwrap());
        assert_eq!(
            revocations, 3,
            "{backend:?}: one audit entry per certificate"
        );
        db.close().await;

        let again = t.issue("e.pem", &["--csr", "shared.csr"]);
        assert_eq!(again.code, 1, "{backend:?}: {again:?}");
        assert!(again.stderr.contains("compromised"), "{}", again.stderr);
        // Inside a caller's transaction (approval) too.
        let key = ca::profile::SubjectPublicKey::from_csr_pem(
            &std::fs::read_to_string(t.path("shared.csr")).unwrap(),
        )
        .unwrap();
        let identity = SiteIdentity::parse(
            "另一家公司",
            "91110108MA04T7K21H",
            "京ICP备2024018653号-1",
            "北京市",
            "海淀区",
            &["other.cn"],
        )
        .unwrap();
        let mut tx = ca.db().begin().await.unwrap();
        let err = ca
            .issue_in(&mut tx, &identity, KeySource::Csr(key), None, "test")
            .await
            .unwrap_err();
        assert!(matches!(err, ca::Error::KeyCompromised), "{err}");
        drop(tx);
        t.issue("f.pem", &[]).ok();
        ca.db().close().await;
    }
}

/// Whoever holds a private key can prove it compromised by handing it over
/// (`ca revoke-key`): the key is blocked and every live certificate with it revoked.
#[test]
fn a_key_handed_over_as_proof_is_blocked_and_its_certificates_revoked() {
    for backend in Backend::all() {
        let t = TestCa::new(backend);
        t.p256_csr("leaked.key", "leaked.csr");
        t.issue("a.pem", &["--csr", "leaked.csr"]).ok();
        t.issue("b.pem", &["--csr", "leaked.csr"]).ok();
        t.issue("c.pem", &[]).ok();
        let out = t.ca(&["revoke-key", "--key", "leaked.key"]).ok();
        assert!(
            out.stdout.contains("2 certificates revoked"),
            "{}",
            out.stdout
        );
        let status = |cert: &str| t.ca(&["verify", "--cert", cert]).stdout;
        assert!(status("a.pem").contains("keyCompromise"), "{backend:?}");
        assert!(status("b.pem").contains("keyCompromise"), "{backend:?}");
        assert!(status("c.pem").contains("\"good\""), "{backend:?}");
        let again = t.issue("d.pem", &["--csr", "leaked.csr"]);
        assert_eq!(again.code, 1, "{backend:?}: {again:?}");
        assert!(again.stderr.contains("compromised"), "{}", again.stderr);
        // A generated key's file is proof as well; and not a key is refused.
        t.ca(&["revoke-key", "--key", "c.key.pem"]).ok();
        assert!(status("c.pem").contains("keyCompromise"), "{backend:?}");
        let garbage = t.ca(&["revoke-key", "--key", "c.pem"]);
        assert_eq!(garbage.code, 1, "{backend:?}: {garbage:?}");
    }
}

#[test]
fn a_hold_can_be_released_or_made_final_but_not_repeated() {
    let t = TestCa::new(Backend::Sqlite);
    t.issue("a.pem", &[]).ok();
    let a = t.serial_of("a.pem");
    t.ca(&["revoke", "--serial", &a, "--reason", "certificateHold"])
        .ok();
    let held_again = t.ca(&["revoke", "--serial", &a, "--reason", "certificateHold"]);
    assert_eq!(held_again.code, 1, "{}", held_again.stderr);
    t.ca(&["revoke", "--serial", &a, "--reason", "removeFromCRL"])
        .ok();
    t.ca(&["crl", "--out", "released.der"]).ok();
    let text = t
        .openssl(&[
            "crl",
            "-inform",
            "DER",
            "-in",
            "released.der",
            "-noout",
            "-text",
        ])
        .ok()
        .stdout;
    assert!(text.contains("No Revoked Certificates"), "{text}");
    let not_held = t.ca(&["revoke", "--serial", &a, "--reason", "removeFromCRL"]);
    assert_eq!(not_held.code, 1);
    assert!(
        not_held.stderr.contains("not on hold"),
        "{}",
        not_held.stderr
    );
    t.ca(&["revoke", "--serial", &a, "--reason", "certificateHold"])
        .ok();
    t.ca(&["revoke", "--serial", &a, "--reason", "privilegeWithdrawn"])
        .ok();
    t.ca(&["crl", "--out", "final.der"]).ok();
    let text = t
        .openssl(&[
            "crl",
            "-inform",
            "DER",
            "-in",
            "final.der",
            "-noout",
            "-text",
        ])
        .ok()
        .stdout;
    assert!(text.contains("Privilege Withdrawn"), "{text}");
    t.ca(&["verify", "--cert", "a.pem"])
        .stdout
        .contains("\"revoked\"")
        .then_some(())
        .unwrap();
}

#[tokio::test]
async fn a_hold_made_final_keeps_the_date_the_hold_began() {
    for backend in Backend::all() {
        let t = TestCa::new(backend);
        t.issue("a.pem", &[]).ok();
        let a = t.serial_of("a.pem");
        t.ca(&["revoke", "--serial", &a, "--reason", "certificateHold"])
            .ok();
        // The hold began an hour ago.
        let db = t.db().await;
        let (held_at,): (i64,) = on_pool!(&db, |p| sqlx::query_as(
            "UPDATE revocations SET revoked_at = revoked_at - 3600 RETURNING revoked_at"
        )
        .fetch_one(p)
        .await
        .unwrap());
        db.close().await;
        t.ca(&["revoke", "--serial", &a, "--reason", "keyCompromise"])
            .ok();
        let held_at = time::OffsetDateTime::from_unix_timestamp(held_at)
            .unwrap()
            .format(time::macros::format_description!(
                "[month repr:short] [day padding:space] [hour]:[minute]:[second] [year] GMT"
            ))
            .unwrap();

        t.ca(&["crl", "--out", "crl.der"]).ok();
        let crl = t
            .openssl(&["crl", "-inform", "DER", "-in", "crl.der", "-noout", "-text"])
            .ok()
            .stdout;
        assert!(
            crl.contains(&format!("Revocation Date: {held_at}")) && crl.contains("Key Compromise"),
            "{backend:?}: expected {held_at} in\n{crl}"
        );
        let ca = t.open().await;
        let ocsp = t.served_ocsp(&ca, "a.pem").await;
        assert!(
            ocsp.contains(&format!("Revocation Time: {held_at}"))
                && ocsp.contains("Reason: keyCompromise"),
            "{backend:?}: expected {held_at} in\n{ocsp}"
        );
        ca.db().close().await;
    }
}

#[tokio::test]
async fn ocsp_never_serves_an_answer_past_its_next_update() {
    for backend in Backend::all() {
        let t = TestCa::new(backend);
        t.issue("a.pem", &[]).ok();
        t.issue("b.pem", &[]).ok();
        let ca = t.open().await;
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        // Both stored answers are past their nextUpdate; what is stored is junk, so
        // serving it would show. b's certificate has expired as well.
        let b = ca::Serial::parse_hex(&t.serial_of("b.pem")).unwrap();
        on_pool!(ca.db(), |p| {
            sqlx::query("UPDATE ocsp_responses SET next_update = $1, der = $2")
                .bind(now - 1)
                .bind(vec![0x30u8, 0x00])
                .execute(p)
                .await
                .unwrap();
            sqlx::query("UPDATE certificates SET not_after = $1 WHERE serial = $2")
                .bind(now - 10)
                .bind(b.as_bytes())
                .execute(p)
                .await
                .unwrap();
        });
        // Unexpired: the refresh is behind, and the responder never signs itself
        // (it would be an easy way to keep the signer busy): tryLater.
        let answer = ca.answer_ocsp(&t.ocsp_request("a.pem")).await;
        assert_eq!(answer.der, [0x30, 0x03, 0x0a, 0x01, 0x03], "{backend:?}");
        // Expired, and nothing current stored: the responder no longer answers for
        // it, as the CRL no longer lists it.
        let answer = ca.answer_ocsp(&t.ocsp_request("b.pem")).await;
        assert_eq!(answer.der, UNAUTHORIZED, "{backend:?}");
        t.openssl(&[
            "ocsp",
            "-issuer",
            "ca/issuing.pem",
            "-sha256",
            "-cert",
            "b.pem",
            "-no_nonce",
            "-reqout",
            "b256.req",
        ])
        .ok();
        let answer = ca
            .answer_ocsp(&std::fs::read(t.path("b256.req")).unwrap())
            .await;
        assert_eq!(answer.der, UNAUTHORIZED, "{backend:?} SHA-256");
        // The refresh covers what the responder serves: the unexpired one only.
        let signed = ca.sign_ocsp_refresh(10).await.unwrap();
        assert_eq!(signed.len(), 1, "{backend:?}");
        ca.db().close().await;
    }
}

#[tokio::test]
async fn ocsp_answers_good_then_revoked_and_unauthorized_for_serials_we_never_issued() {
    for backend in Backend::all() {
        let t = TestCa::new(backend);
        t.issue("a.pem", &[]).ok();
        let ca = t.open().await;
        let ask = |name: &str| {
            t.openssl(&[
                "ocsp",
                "-issuer",
                "ca/issuing.pem",
                "-cert",
                "a.pem",
                "-no_nonce",
                "-reqout",
                name,
            ])
            .ok();
            std::fs::read(t.path(name)).unwrap()
        };
        let req = ask("req.der");
        std::fs::write(t.path("good.der"), ca.answer_ocsp(&req).await.der).unwrap();
        let good = t.ocsp_status("a.pem", None, Some("good.der")).ok();
        assert!(good.stdout.contains("a.pem: good"), "{good:?}");
        assert!(good.stderr.contains("Response verify OK"), "{good:?}");

        let serial = ca::Serial::parse_hex(&t.serial_of("a.pem")).unwrap();
        ca.revoke(&serial, RevocationReason::CessationOfOperation, "test")
            .await
            .unwrap();
        std::fs::write(t.path("revoked.der"), ca.answer_ocsp(&req).await.der).unwrap();
        let revoked = t.ocsp_status("a.pem", None, Some("revoked.der")).ok();
        assert!(revoked.stdout.contains("a.pem: revoked"), "{revoked:?}");
        assert!(
            revoked.stdout.contains("Reason: cessationOfOperation"),
            "{revoked:?}"
        );

        // A certificate this CA never issued (same issuer name and key, other serial):
        // "unauthorized", unsigned (RFC 5019 2.2.3), as Boulder answers.
        t.openssl(&[
            "ocsp",
            "-issuer",
            "ca/issuing.pem",
            "-serial",
            "0x01abcdef",
            "-no_nonce",
            "-reqout",
            "unknown-req.der",
        ])
        .ok();
        let unknown_req = std::fs::read(t.path("unknown-req.der")).unwrap();
        let unknown = ca.answer_ocsp(&unknown_req).await;
        assert!(!unknown.successful);
        assert_eq!(unknown.der, UNAUTHORIZED, "{backend:?}");

        let garbage = ca.answer_ocsp(b"\x30\x03garbage").await;
        assert!(!garbage.successful);
        assert_eq!(
            garbage.der,
            [0x30, 0x03, 0x0a, 0x01, 0x01],
            "malformedRequest"
        );
        ca.db().close().await;
    }
}

/// The issuing key, counting its signatures.
#[derive(Debug)]
struct CountingSigner(ca::signer::FileSigner, std::sync::atomic::AtomicUsize);

impl ca::signer::Signer for CountingSigner {
    fn algorithm(&self) -> ca::signer::KeyAlgorithm {
        self.0.algorithm()
    }
    fn public_key(&self) -> &[u8] {
        self.0.public_key()
    }
    fn sign(&self, message: &[u8]) -> ca::Result<Vec<u8>> {
        self.1.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.0.sign(message)
    }
}

/// The responder only reads: answers for SHA-1 and SHA-256 CertIDs are signed at
/// issuance, revocation and refresh, and a serial we never issued gets an unsigned
/// "unauthorized". So no flood of requests reaches the signer (an HSM session that
/// issuance and revocation share).
#[tokio::test]
async fn the_responder_signs_nothing_and_answers_sha256_requests_from_stored_answers() {
    for backend in Backend::all() {
        let t = TestCa::new(backend);
        t.issue("a.pem", &[]).ok();
        let signer = std::sync::Arc::new(CountingSigner(
            ca::signer::FileSigner::load_encrypted(
                &t.path("ca/issuing.key.pem"),
                ca::signer::KeyAlgorithm::EcdsaP256,
                PASSPHRASE.as_bytes(),
            )
            .unwrap(),
            Default::default(),
        ));
        let config = CaConfig {
            dir: t.ca_dir(),
            public_url: PUBLIC_URL.into(),
            instance: 1,
        };
        let ca = Ca::open_with_signer(&config, signer.clone(), t.db().await)
            .await
            .unwrap();
        let request = |digest: &str, what: &str, out: &str| {
            t.openssl(&[
                "ocsp",
                "-issuer",
                "ca/issuing.pem",
                digest,
                what.split(' ').next().unwrap(),
                what.split(' ').nth(1).unwrap(),
                "-no_nonce",
                "-reqout",
                out,
            ])
            .ok();
            std::fs::read(t.path(out)).unwrap()
        };
        let sha1 = request("-sha1", "-cert a.pem", "a1.req");
        let sha256 = request("-sha256", "-cert a.pem", "a256.req");
        let never1 = request("-sha1", "-serial 0x01abcdef", "n1.req");
        let never256 = request("-sha256", "-serial 0x01abcdef", "n256.req");
        let first = ca.answer_ocsp(&sha256).await;
        assert!(first.successful, "{backend:?}");
        for _ in 0..20 {
            assert_eq!(ca.answer_ocsp(&sha256).await.der, first.der, "{backend:?}");
            assert!(ca.answer_ocsp(&sha1).await.successful);
            assert_eq!(ca.answer_ocsp(&never1).await.der, UNAUTHORIZED);
            assert_eq!(ca.answer_ocsp(&never256).await.der, UNAUTHORIZED);
        }
        let signatures = signer.1.load(std::sync::atomic::Ordering::SeqCst);
        assert_eq!(
            signatures, 0,
            "{backend:?}: the responder signed {signatures} answers"
        );

        // The stored SHA-256 answer is one openssl accepts, and follows revocation.
        let check = |resp: &str| {
            t.openssl(&[
                "ocsp",
                "-issuer",
                "ca/issuing.pem",
                "-sha256",
                "-cert",
                "a.pem",
                "-respin",
                resp,
                "-CAfile",
                "ca/root.pem",
                "-verify_other",
                "ca/issuing.pem",
            ])
            .ok()
            .stdout
        };
        std::fs::write(t.path("a256.resp"), &first.der).unwrap();
        assert!(check("a256.resp").contains("a.pem: good"), "{backend:?}");
        let serial = ca::Serial::parse_hex(&t.serial_of("a.pem")).unwrap();
        ca.revoke(&serial, RevocationReason::KeyCompromise, "test")
            .await
            .unwrap();
        std::fs::write(t.path("a256r.resp"), ca.answer_ocsp(&sha256).await.der).unwrap();
        assert!(
            check("a256r.resp").contains("a.pem: revoked"),
            "{backend:?}"
        );
        make_ocsp_due(&ca).await;
        ca.refresh_ocsp(10).await.unwrap();
        let refreshed = ca.answer_ocsp(&sha256).await;
        std::fs::write(t.path("a256f.resp"), &refreshed.der).unwrap();
        assert!(
            check("a256f.resp").contains("a.pem: revoked"),
            "{backend:?}"
        );
        ca.db().close().await;
    }
}

#[tokio::test]
async fn a_refresh_never_overwrites_a_status_change_that_committed_while_it_signed() {
    for backend in Backend::all() {
        let t = TestCa::new(backend);
        for cert in ["a.pem", "b.pem", "c.pem"] {
            t.issue(cert, &[]).ok();
        }
        let ca = t.open().await;
        let serial = |cert: &str| ca::Serial::parse_hex(&t.serial_of(cert)).unwrap();

        // The refresh reads "good" and signs; a revocation commits; the refresh stores.
        make_ocsp_due(&ca).await;
        let signed = ca.sign_ocsp_refresh(10).await.unwrap();
        assert_eq!(signed.len(), 3);
        ca.revoke(&serial("a.pem"), RevocationReason::KeyCompromise, "test")
            .await
            .unwrap();
        ca.store_ocsp_refresh(&signed).await.unwrap();
        let a = t.served_ocsp(&ca, "a.pem").await;
        assert!(a.contains("a.pem: revoked"), "{backend:?}: {a}");
        let b = t.served_ocsp(&ca, "b.pem").await;
        assert!(b.contains("b.pem: good"), "{backend:?}: {b}");

        // A status change is under way (its transaction holds the certificate) when the
        // refresh stores: the refresh waits for it and then must not overwrite it. A
        // revocation inserts a revocations row, whose foreign key alone makes PostgreSQL
        // lock the certificate; the release of a hold deletes it and takes no such lock.
        ca.revoke(&serial("c.pem"), RevocationReason::CertificateHold, "test")
            .await
            .unwrap();
        for (cert, change, expected) in [
            ("b.pem", RevocationReason::Superseded, "b.pem: revoked"),
            ("c.pem", RevocationReason::RemoveFromCrl, "c.pem: good"),
        ] {
            make_ocsp_due(&ca).await;
            let signed = ca.sign_ocsp_refresh(10).await.unwrap();
            let mut tx = ca.db().begin().await.unwrap();
            ca.revoke_in(&mut tx, &serial(cert), change, "test")
                .await
                .unwrap();
            let mut store = std::pin::pin!(ca.store_ocsp_refresh(&signed));
            assert!(
                tokio::time::timeout(std::time::Duration::from_millis(500), &mut store)
                    .await
                    .is_err(),
                "{backend:?} {change}: the refresh did not wait for the other transaction"
            );
            tx.commit().await.unwrap();
            store.await.unwrap();
            let served = t.served_ocsp(&ca, cert).await;
            assert!(served.contains(expected), "{backend:?} {change}: {served}");
        }
        ca.db().close().await;
    }
}

/// Nothing that holds a transaction waits for a second pool connection: with four
/// times as many concurrent refreshes and revocations as the larger pool has
/// connections (PostgreSQL 16, SQLite 8), every one succeeds. Before, a refresh read
/// each certificate through the pool while holding its transaction, and they starved.
#[tokio::test]
async fn refreshes_and_revocations_beyond_the_pool_size_all_succeed() {
    const TASKS: usize = 64;
    for backend in Backend::all() {
        let t = TestCa::new(backend);
        let ca = std::sync::Arc::new(t.open().await);
        let identity = f01_identity();
        let mut serials = Vec::new();
        for _ in 0..TASKS / 2 {
            let issued = ca
                .issue(&identity, KeySource::Generate, "test")
                .await
                .unwrap();
            serials.push(issued.serial);
        }
        make_ocsp_due(&ca).await;
        let started = std::time::Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for serial in serials {
            let (a, b) = (ca.clone(), ca.clone());
            tasks.spawn(async move {
                a.revoke(&serial, RevocationReason::Superseded, "test")
                    .await
                    .map(|_| ())
            });
            tasks.spawn(async move { b.refresh_ocsp(1000).await.map(|_| ()) });
        }
        let results = tokio::time::timeout(std::time::Duration::from_secs(120), tasks.join_all())
            .await
            .expect("refreshes and revocations still running after 120 s");
        let failed: Vec<String> = results
            .into_iter()
            .filter_map(|r| r.err().map(|e| e.to_string()))
            .collect();
        assert!(
            failed.is_empty(),
            "{backend:?}: {} of {TASKS} failed after {:?}: {:?}",
            failed.len(),
            started.elapsed(),
            failed.first()
        );
        println!("{backend:?}: {TASKS} in {:?}", started.elapsed());
        ca.db().close().await;
    }
}
