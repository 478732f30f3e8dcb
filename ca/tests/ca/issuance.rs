//! Issuance: the certificate openssl sees, exact validity periods, CSRs, the output
//! files of `ca issue`, and concurrent issuance.

use super::*;

#[test]
fn an_issued_certificate_verifies_with_openssl_and_shows_the_whole_profile() {
    for backend in Backend::all() {
        let t = TestCa::new(backend);
        let out = t.issue("site.pem", &[]).ok();
        assert!(
            out.stdout.contains("generated; not stored"),
            "{}",
            out.stdout
        );
        let key_mode = std::fs::metadata(t.path("site.key.pem")).unwrap();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&key_mode.permissions()) & 0o777,
            0o600
        );
        for key in ["ca/root.key.pem", "ca/issuing.key.pem"] {
            let m = std::fs::metadata(t.path(key)).unwrap();
            assert_eq!(
                std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o777,
                0o600,
                "{key}"
            );
            let text = std::fs::read_to_string(t.path(key)).unwrap();
            assert!(
                text.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"),
                "{key} is not encrypted"
            );
        }

        t.openssl(&[
            "verify",
            "-CAfile",
            "ca/root.pem",
            "-untrusted",
            "ca/issuing.pem",
            "site.pem",
        ])
        .ok();
        let text = t
            .openssl(&[
                "x509",
                "-in",
                "site.pem",
                "-noout",
                "-text",
                "-nameopt",
                "utf8,sep_comma_plus_space",
            ])
            .ok()
            .stdout;
        for needle in [
            "Subject: C=CN, ST=北京市, L=海淀区, O=北京晨曦数智科技有限公司, serialNumber=91110108MA04T7K21H, CN=chenxi-shuzhi.cn",
            "DNS:chenxi-shuzhi.cn, DNS:www.chenxi-shuzhi.cn",
            "X509v3 Basic Constraints: critical\n                CA:FALSE",
            "X509v3 Key Usage: critical\n                Digital Signature\n",
            "X509v3 Extended Key Usage: \n                1.3.6.1.4.1.32473.2.1",
            "Policy: 1.3.6.1.4.1.32473.1.1",
            "X509v3 Authority Key Identifier",
            "X509v3 Subject Key Identifier",
            "URI:http://seal.test/crl/",
            "OCSP - URI:http://seal.test/ocsp",
            "CA Issuers - URI:http://seal.test/ca/",
            "1.3.6.1.4.1.32473.3.1:",
            "1.3.6.1.4.1.32473.3.2:",
            "ASN1 OID: prime256v1",
        ] {
            assert!(
                text.contains(needle),
                "{backend:?}: {needle:?} missing from\n{text}"
            );
        }
        // The ICP number extension is a UTF8String holding the filing number.
        let der = t
            .openssl(&[
                "x509", "-in", "site.pem", "-outform", "DER", "-out", "site.der",
            ])
            .ok();
        drop(der);
        let bytes = std::fs::read(t.path("site.der")).unwrap();
        assert!(
            bytes
                .windows("京ICP备2024018653号-1".len())
                .any(|w| w == "京ICP备2024018653号-1".as_bytes()),
            "ICP number not in the certificate"
        );
        // One year exactly: 365 days between notBefore and notAfter.
        let dates = t
            .openssl(&[
                "x509",
                "-in",
                "site.pem",
                "-noout",
                "-startdate",
                "-enddate",
            ])
            .ok()
            .stdout;
        let start = dates
            .lines()
            .next()
            .unwrap()
            .trim_start_matches("notBefore=")
            .to_string();
        t.openssl(&[
            "x509",
            "-in",
            "site.pem",
            "-noout",
            "-checkend",
            &(364 * 86400).to_string(),
        ])
        .ok();
        let expired_after_a_year = t.openssl(&[
            "x509",
            "-in",
            "site.pem",
            "-noout",
            "-checkend",
            &(366 * 86400).to_string(),
        ]);
        assert_ne!(
            expired_after_a_year.code, 0,
            "valid for more than a year (from {start})"
        );
        // The serial: instance prefix 01 and 18 bytes.
        let serial = t.serial_of("site.pem");
        assert_eq!(serial.len(), 36, "{serial}");
        assert!(serial.starts_with("01"), "{serial}");
    }
}

/// RFC 5280 counts notAfter in the validity period, so a period of N days ends one
/// second before notBefore + N days: 365 days for a site, 20 years and 5 years (as
/// days) for the root and issuing CA.
#[test]
fn validity_periods_are_exact_with_not_after_inclusive() {
    use x509_parser::prelude::FromDer;
    let t = TestCa::new(Backend::Sqlite);
    t.issue("a.pem", &[]).ok();
    for (cert, days) in [
        ("a.pem", 365),
        ("ca/issuing.pem", 5 * 365 + 1),
        ("ca/root.pem", 20 * 365 + 5),
    ] {
        let der = pem_body(&std::fs::read_to_string(t.path(cert)).unwrap());
        let (_, parsed) = x509_parser::certificate::X509Certificate::from_der(&der).unwrap();
        let v = parsed.validity();
        assert_eq!(
            v.not_after.timestamp() - v.not_before.timestamp() + 1,
            days * 86_400,
            "{cert}: the period including notAfter is not {days} days"
        );
    }
}

/// Replaces the issuing CA certificate with one for the same key and name that the
/// root signed for `days` days from now (openssl: `-x509toreq`, then `-req -CA`).
fn shorten_issuing_ca(t: &TestCa, days: &str) {
    let pass = format!("pass:{PASSPHRASE}");
    let root_pass = format!("pass:{ROOT_PASSPHRASE}");
    t.openssl(&[
        "x509",
        "-x509toreq",
        "-in",
        "ca/issuing.pem",
        "-signkey",
        "ca/issuing.key.pem",
        "-passin",
        &pass,
        "-copy_extensions",
        "copyall",
        "-out",
        "issuing.csr",
    ])
    .ok();
    t.openssl(&[
        "x509",
        "-req",
        "-in",
        "issuing.csr",
        "-CA",
        "ca/root.pem",
        "-CAkey",
        "ca/root.key.pem",
        "-passin",
        &root_pass,
        "-days",
        days,
        "-set_serial",
        "0x0123",
        "-copy_extensions",
        "copyall",
        "-out",
        "ca/issuing.pem",
    ])
    .ok();
    let chain = format!(
        "{}{}",
        std::fs::read_to_string(t.path("ca/issuing.pem")).unwrap(),
        std::fs::read_to_string(t.path("ca/root.pem")).unwrap()
    );
    std::fs::write(t.path("ca/chain.pem"), chain).unwrap();
}

#[tokio::test]
async fn a_certificate_never_outlives_its_issuing_ca() {
    for days in ["30", "0"] {
        let t = TestCa::new(Backend::Sqlite);
        shorten_issuing_ca(&t, days);
        let refused = t.issue("a.pem", &[]);
        assert_eq!(refused.code, 2, "{days} days: {refused:?}");
        assert!(
            refused.stderr.contains("the issuing CA expires"),
            "{days} days: {}",
            refused.stderr
        );
        assert!(!t.path("a.key.pem").exists(), "a key was generated");
        let ca = t.open().await;
        let identity = f01_identity();
        let err = ca
            .issue(&identity, KeySource::Generate, "test")
            .await
            .unwrap_err();
        assert!(err.to_string().contains("the issuing CA expires"), "{err}");
        assert_eq!(t.count("certificates").await, 0);
        ca.db().close().await;
    }
}

#[test]
fn a_csr_keeps_the_operators_own_key_and_no_key_file_is_written() {
    for backend in Backend::all() {
        let t = TestCa::new(backend);
        t.p256_csr("op.key", "op.csr");
        t.issue("site.pem", &["--csr", "op.csr"]).ok();
        assert!(
            !t.path("site.key.pem").exists(),
            "a key was generated despite the CSR"
        );
        let from_cert = t
            .openssl(&["x509", "-in", "site.pem", "-noout", "-pubkey"])
            .ok()
            .stdout;
        let from_key = t.openssl(&["pkey", "-in", "op.key", "-pubout"]).ok().stdout;
        assert_eq!(from_cert, from_key);
        // The CSR's subject is ignored: ours comes from the verified identity.
        let subject = t
            .openssl(&["x509", "-in", "site.pem", "-noout", "-subject"])
            .ok()
            .stdout;
        assert!(
            subject.contains("chenxi-shuzhi.cn") && !subject.contains("ignored"),
            "{subject}"
        );
    }
}

#[tokio::test]
async fn ca_issue_replaces_its_output_whole_and_a_crash_never_loses_the_generated_key() {
    for backend in Backend::all() {
        let t = TestCa::new(backend);
        // A file already at --out is replaced by a rename, never truncated and
        // rewritten: another name for the old file still shows the old contents.
        std::fs::write(t.path("a.pem"), "old contents\n").unwrap();
        std::fs::hard_link(t.path("a.pem"), t.path("a-before.pem")).unwrap();
        t.issue("a.pem", &[]).ok();
        assert_eq!(
            std::fs::read_to_string(t.path("a-before.pem")).unwrap(),
            "old contents\n",
            "{backend:?}: --out was rewritten in place"
        );
        assert!(
            std::fs::read_to_string(t.path("a.pem"))
                .unwrap()
                .starts_with("-----BEGIN CERTIFICATE-----")
        );

        // Killed right after the commit: the certificate is on record, so its
        // generated key must already be in its file (0600), and --out is untouched.
        std::fs::write(t.path("b.pem"), "old contents\n").unwrap();
        let crashed = run(t
            .command()
            .env("CHENGXIN_CA_TEST_CRASH", "after-commit")
            .args(["issue"])
            .args(F01)
            .args(["--city", "海淀区", "--out", "b.pem"]));
        assert_ne!(crashed.code, 0, "{backend:?}: the crash hook did not fire");
        assert_eq!(t.count("certificates").await, 2);
        assert_eq!(
            std::fs::read_to_string(t.path("b.pem")).unwrap(),
            "old contents\n",
            "{backend:?}: --out damaged by a crash"
        );
        let key = t.path("b.key.pem");
        assert!(key.exists(), "{backend:?}: the generated key was lost");
        let mode = std::fs::metadata(&key).unwrap();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777,
            0o600
        );
        let db = t.db().await;
        let (der,): (Vec<u8>,) = on_pool!(&db, |p| sqlx::query_as(
            "SELECT der FROM certificates ORDER BY id DESC LIMIT 1"
        )
        .fetch_one(p)
        .await
        .unwrap());
        db.close().await;
        std::fs::write(t.path("b-on-record.der"), der).unwrap();
        let from_cert = t
            .openssl(&[
                "x509",
                "-inform",
                "DER",
                "-in",
                "b-on-record.der",
                "-noout",
                "-pubkey",
            ])
            .ok()
            .stdout;
        let from_key = t
            .openssl(&["pkey", "-in", "b.key.pem", "-pubout"])
            .ok()
            .stdout;
        assert_eq!(
            from_cert, from_key,
            "{backend:?}: the key file is not the certificate's"
        );
        // Killed after the key is written, before issuing: a whole key, nothing on record.
        let crashed = run(t
            .command()
            .env("CHENGXIN_CA_TEST_CRASH", "after-key")
            .args(["issue"])
            .args(F01)
            .args(["--city", "海淀区", "--out", "c.pem"]));
        assert_ne!(crashed.code, 0, "{backend:?}: the crash hook did not fire");
        assert_eq!(t.count("certificates").await, 2);
        assert!(!t.path("c.pem").exists());
        t.openssl(&["pkey", "-in", "c.key.pem", "-noout"]).ok();
        let leftovers: Vec<_> = std::fs::read_dir(t.dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }
}

#[tokio::test]
async fn two_hundred_certificates_issued_concurrently_have_two_hundred_distinct_serials_and_one_audit_chain()
 {
    for backend in Backend::all() {
        let t = TestCa::new(backend);
        let ca = std::sync::Arc::new(t.open().await);
        let identity = f01_identity();
        // Eight tasks at once: the group commit shares transactions between them.
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let ca = ca.clone();
                let identity = identity.clone();
                tokio::spawn(async move {
                    let mut serials = Vec::new();
                    for _ in 0..25 {
                        let issued = ca
                            .issue(&identity, KeySource::Generate, "test")
                            .await
                            .unwrap();
                        assert_eq!(issued.serial.as_bytes().len(), 18);
                        serials.push((issued.serial.to_hex(), issued.certificate_id));
                    }
                    serials
                })
            })
            .collect();
        let mut serials = HashSet::new();
        let mut ids = HashSet::new();
        for task in tasks {
            for (serial, id) in task.await.unwrap() {
                serials.insert(serial);
                ids.insert(id);
            }
        }
        assert_eq!(serials.len(), 200);
        assert_eq!(ids.len(), 200, "each caller got its own row id back");
        assert_eq!(t.count("certificates").await, 200);
        assert_eq!(t.count("ocsp_responses").await, 200);
        let db = t.db().await;
        let distinct: (i64,) = on_pool!(&db, |p| sqlx::query_as(
            "SELECT COUNT(DISTINCT serial) FROM certificates"
        )
        .fetch_one(p)
        .await
        .unwrap());
        assert_eq!(distinct.0, 200);
        assert_eq!(
            ca::audit::verify(&db).await.unwrap(),
            200 + 3,
            "one audit entry per issuance plus two key generations and ca.init"
        );
    }
}
