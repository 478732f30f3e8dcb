//! The `ca` crate and CLI against real databases (SQLite and PostgreSQL), checked
//! with `openssl` and, for the HSM signer, SoftHSM2.

#![allow(clippy::unwrap_used, missing_docs)]

use std::collections::HashSet;
use std::path::PathBuf;
use std::process::Command;

use ca::db::Database;
use ca::{Ca, CaConfig, KeySource, RevocationReason, SiteIdentity, on_pool};
use testkit::{Backend, Run, openssl, run};

const PASSPHRASE: &str = "correct-horse-battery-staple";
const PUBLIC_URL: &str = "http://seal.test";

/// A CA created by `ca init` in a temporary directory on one backend.
struct TestCa {
    dir: tempfile::TempDir,
    db_url: String,
}

/// F01 of shared/fixtures: 北京晨曦数智科技有限公司.
const F01: [&str; 12] = [
    "--domain",
    "chenxi-shuzhi.cn",
    "--domain",
    "www.chenxi-shuzhi.cn",
    "--org",
    "北京晨曦数智科技有限公司",
    "--uscc",
    "91110108MA04T7K21H",
    "--icp",
    "京ICP备2024018653号-1",
    "--province",
    "北京市",
];

impl TestCa {
    fn new(backend: Backend) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let db_url = backend.fresh_database(dir.path());
        let t = TestCa { dir, db_url };
        t.ca(&["init"]).ok();
        t
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn ca_dir(&self) -> PathBuf {
        self.path("ca")
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ca"));
        cmd.current_dir(self.dir.path())
            .env("CHENGXIN_DATABASE_URL", &self.db_url)
            .env("CHENGXIN_CA_DIR", self.ca_dir())
            .env("CHENGXIN_CA_PASSPHRASE", PASSPHRASE)
            .env("CHENGXIN_PUBLIC_URL", PUBLIC_URL)
            .env_remove("CHENGXIN_CA_PKCS11")
            .env_remove("CHENGXIN_CA_PASSPHRASE_FILE");
        cmd
    }

    fn ca(&self, args: &[&str]) -> Run {
        run(self.command().args(args))
    }

    /// Issues F01 with extra arguments (city and output are added).
    fn issue(&self, out: &str, extra: &[&str]) -> Run {
        let mut args = vec!["issue"];
        args.extend_from_slice(&F01);
        args.extend_from_slice(&["--city", "海淀区", "--out", out]);
        args.extend_from_slice(extra);
        self.ca(&args)
    }

    fn openssl(&self, args: &[&str]) -> Run {
        openssl(self.dir.path(), args)
    }

    fn serial_of(&self, cert: &str) -> String {
        let out = self
            .openssl(&["x509", "-in", cert, "-noout", "-serial"])
            .ok();
        out.stdout.trim().trim_start_matches("serial=").to_string()
    }

    async fn db(&self) -> Database {
        Database::connect(&self.db_url).await.unwrap()
    }

    async fn count(&self, table: &str) -> i64 {
        let db = self.db().await;
        let sql = format!("SELECT COUNT(*) FROM {table}");
        let n: (i64,) = on_pool!(&db, |p| sqlx::query_as(&sql).fetch_one(p).await.unwrap());
        db.close().await;
        n.0
    }

    async fn open(&self) -> Ca {
        let config = CaConfig {
            dir: self.ca_dir(),
            public_url: PUBLIC_URL.into(),
            instance: 1,
        };
        Ca::open(&config, Some(PASSPHRASE.as_bytes()), self.db().await)
            .await
            .unwrap()
    }

    fn ocsp_status(&self, cert: &str, url: Option<&str>, respin: Option<&str>) -> Run {
        let mut args = vec![
            "ocsp",
            "-issuer",
            "ca/issuing.pem",
            "-cert",
            cert,
            "-CAfile",
            "ca/root.pem",
            "-verify_other",
            "ca/issuing.pem",
        ];
        if let Some(u) = url {
            args.extend_from_slice(&["-url", u]);
        }
        if let Some(r) = respin {
            args.extend_from_slice(&["-respin", r]);
        }
        self.openssl(&args)
    }
}

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

#[test]
fn a_csr_keeps_the_operators_own_key_and_no_key_file_is_written() {
    for backend in Backend::all() {
        let t = TestCa::new(backend);
        t.openssl(&[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "op.key",
            "-subj",
            "/CN=ignored",
            "-out",
            "op.csr",
        ])
        .ok();
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
async fn bad_input_is_refused_with_a_clear_message_and_nothing_is_signed_or_stored() {
    for backend in Backend::all() {
        let t = TestCa::new(backend);
        std::fs::write(t.path("garbage.csr"), b"this is not a certificate request").unwrap();
        t.openssl(&[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "k",
            "-subj",
            "/CN=x",
            "-outform",
            "DER",
            "-out",
            "good.csr",
        ])
        .ok();
        let good = std::fs::read(t.path("good.csr")).unwrap();
        std::fs::write(t.path("truncated.csr"), &good[..good.len() / 2]).unwrap();
        let mut forged = good.clone();
        let last = forged.len() - 3;
        forged[last] ^= 0x55;
        std::fs::write(t.path("forged.csr"), &forged).unwrap();
        t.openssl(&[
            "req",
            "-new",
            "-newkey",
            "rsa:1024",
            "-nodes",
            "-keyout",
            "r",
            "-subj",
            "/CN=x",
            "-out",
            "rsa1024.csr",
        ])
        .ok();

        let cases: Vec<(Vec<&str>, &str)> = vec![
            (
                vec!["--csr", "garbage.csr"],
                "invalid certificate signing request",
            ),
            (vec!["--csr", "truncated.csr"], "not a PKCS#10 request"),
            (vec!["--csr", "forged.csr"], "signature does not verify"),
            (vec!["--csr", "rsa1024.csr"], "RSA key of 1024 bits"),
        ];
        for (extra, expected) in &cases {
            let r = t.issue("bad.pem", extra);
            assert_eq!(r.code, 1, "{backend:?} {extra:?}: {}", r.stderr);
            assert!(
                r.stderr.contains(expected),
                "{extra:?}: expected {expected:?} in {:?}",
                r.stderr
            );
        }

        // Every invalid USCC of the shared fixtures.
        let vectors =
            std::fs::read_to_string(testkit::fixtures_dir().join("uscc-vectors.txt")).unwrap();
        for line in vectors
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        {
            let cols: Vec<&str> = line.split('\t').collect();
            if cols[1] != "invalid" {
                continue;
            }
            let mut args = vec![
                "issue",
                "--domain",
                "chenxi-shuzhi.cn",
                "--org",
                "某公司",
                "--uscc",
                cols[0],
            ];
            args.extend_from_slice(&[
                "--icp",
                "京ICP备2024018653号-1",
                "--province",
                "北京市",
                "--city",
                "海淀区",
                "--out",
                "bad.pem",
            ]);
            let r = t.ca(&args);
            assert_eq!(r.code, 1, "{}: {}", cols[0], r.stderr);
            assert!(
                r.stderr.contains("invalid unified social credit code"),
                "{}: {}",
                cols[0],
                r.stderr
            );
        }

        let field_cases: Vec<(&str, &str, &str)> = vec![
            ("--icp", "京ICP备14016851-1号", "invalid ICP filing number"),
            ("--icp", "冀ICP备2022016663号-4A", "app or mini-program"),
            ("--icp", "京ICP备2024018653号", "subject number"),
            ("--domain", "not a domain", "invalid domain"),
            ("--domain", "*.chenxi-shuzhi.cn", "wildcards"),
            ("--domain", "10.0.0.1", "IP address"),
        ];
        for (flag, value, expected) in field_cases {
            let mut args = vec!["issue", flag, value];
            for (f, v) in [
                ("--domain", "chenxi-shuzhi.cn"),
                ("--org", "北京晨曦数智科技有限公司"),
                ("--uscc", "91110108MA04T7K21H"),
                ("--icp", "京ICP备2024018653号-1"),
                ("--province", "北京市"),
                ("--city", "海淀区"),
            ] {
                if f != flag {
                    args.extend_from_slice(&[f, v]);
                }
            }
            args.extend_from_slice(&["--out", "bad.pem"]);
            let r = t.ca(&args);
            assert_eq!(r.code, 1, "{flag} {value}: {}", r.stderr);
            assert!(
                r.stderr.contains(expected),
                "{flag} {value}: expected {expected:?} in {:?}",
                r.stderr
            );
        }

        assert!(!t.path("bad.pem").exists());
        assert!(!t.path("bad.key.pem").exists());
        assert_eq!(
            t.count("certificates").await,
            0,
            "{backend:?}: a refused request left a certificate row"
        );

        let again = t.ca(&["init"]);
        assert_ne!(again.code, 0);
        assert!(
            again.stderr.contains("refusing to overwrite"),
            "{}",
            again.stderr
        );

        let wrong = run(t
            .command()
            .env("CHENGXIN_CA_PASSPHRASE", "not-the-passphrase")
            .args(["crl", "--out", "x.crl"]));
        assert_ne!(wrong.code, 0);
        assert!(
            wrong.stderr.contains("wrong passphrase"),
            "{}",
            wrong.stderr
        );
        assert_eq!(t.count("certificates").await, 0);
    }
}

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
        let chain_crl = |cert: &str| {
            t.openssl(&[
                "verify",
                "-crl_check",
                "-CAfile",
                "ca/root.pem",
                "-untrusted",
                "ca/issuing.pem",
                "-CRLfile",
                "crl.pem",
                cert,
            ])
        };
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
async fn ocsp_answers_good_then_revoked_and_unknown_for_serials_we_never_issued() {
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

        // A certificate this CA never issued (same issuer name and key, other serial).
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
        std::fs::write(
            t.path("unknown.der"),
            ca.answer_ocsp(&unknown_req).await.der,
        )
        .unwrap();
        let unknown = t.openssl(&[
            "ocsp",
            "-issuer",
            "ca/issuing.pem",
            "-serial",
            "0x01abcdef",
            "-respin",
            "unknown.der",
            "-CAfile",
            "ca/root.pem",
            "-verify_other",
            "ca/issuing.pem",
        ]);
        assert!(unknown.stdout.contains("unknown"), "{unknown:?}");

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

#[tokio::test]
async fn two_hundred_certificates_issued_concurrently_have_two_hundred_distinct_serials_and_one_audit_chain()
 {
    for backend in Backend::all() {
        let t = TestCa::new(backend);
        let ca = std::sync::Arc::new(t.open().await);
        let identity = SiteIdentity::parse(
            "北京晨曦数智科技有限公司",
            "91110108MA04T7K21H",
            "京ICP备2024018653号-1",
            "北京市",
            "海淀区",
            &["chenxi-shuzhi.cn"],
        )
        .unwrap();
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
            200 + 1,
            "one audit entry per issuance plus ca.init"
        );
    }
}

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

#[tokio::test]
async fn the_lint_refuses_a_certificate_that_strays_from_the_profile() {
    use ca::profile::{Expected, IssuerInfo, SubjectPublicKey, Urls};
    let t = TestCa::new(Backend::Sqlite);
    let issuing_pem = std::fs::read_to_string(t.path("ca/issuing.pem")).unwrap();
    let issuing_der = pem_body(&issuing_pem);
    let issuer = IssuerInfo::from_cert_der(&issuing_der).unwrap();
    let urls = Urls::new(PUBLIC_URL, &issuer.slug);
    let identity = SiteIdentity::parse(
        "北京晨曦数智科技有限公司",
        "91110108MA04T7K21H",
        "京ICP备2024018653号-1",
        "北京市",
        "海淀区",
        &["chenxi-shuzhi.cn"],
    )
    .unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let subject_key = SubjectPublicKey::from_key_pair(&key);
    let serial = ca::Serial::generate(1, &ring::rand::SystemRandom::new()).unwrap();
    let now = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap();
    let expected = Expected {
        identity: &identity,
        serial: &serial,
        not_before: now,
        issuer: &issuer,
        urls: &urls,
        subject_key: &subject_key,
    };
    let throwaway = rcgen::KeyPair::generate().unwrap();
    let mirror = rcgen::Issuer::from_ca_cert_der(&issuing_der.clone().into(), &throwaway).unwrap();
    let sign =
        |p: &rcgen::CertificateParams| p.signed_by(&subject_key, &mirror).unwrap().der().to_vec();

    let params = expected.params().unwrap();
    expected
        .lint(&sign(&params))
        .expect("the profile's own parameters pass");

    let mut longer = params.clone();
    longer.not_after += time::Duration::days(1);
    let mut extra_san = params.clone();
    extra_san
        .subject_alt_names
        .push(rcgen::SanType::DnsName("evil.example".try_into().unwrap()));
    let mut ca_true = params.clone();
    ca_true.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let mut no_policy = params.clone();
    no_policy.custom_extensions.remove(0);
    let mut server_auth = params.clone();
    server_auth
        .extended_key_usages
        .push(rcgen::ExtendedKeyUsagePurpose::ServerAuth);
    let mut other_icp = params.clone();
    other_icp.custom_extensions[2] = rcgen::CustomExtension::from_oid_content(
        &ca::oid::EXT_ICP_NUMBER,
        vec![0x0c, 0x03, b'a', b'b', b'c'],
    );
    let mut other_serial = params.clone();
    other_serial.serial_number = Some(rcgen::SerialNumber::from_slice(&[0x01, 0x02]));
    for (what, p, expected_msg) in [
        ("a longer validity", longer, "validity"),
        ("an extra SAN", extra_san, "SAN"),
        ("CA:TRUE", ca_true, "basicConstraints"),
        ("a missing policy", no_policy, "extensions"),
        ("serverAuth", server_auth, "extendedKeyUsage"),
        ("another ICP number", other_icp, "ICP extension"),
        ("another serial", other_serial, "serial"),
    ] {
        let err = expected.lint(&sign(&p)).expect_err(what);
        assert!(err.to_string().contains(expected_msg), "{what}: {err}");
    }
}

fn pem_body(pem: &str) -> Vec<u8> {
    use base64::Engine;
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap()
}

#[test]
fn an_issuing_key_inside_softhsm_signs_certificates_openssl_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let (conf, module) = testkit::softhsm_token(dir.path());
    let db_url = Backend::Sqlite.fresh_database(dir.path());
    let ca = |args: &[&str]| {
        run(Command::new(env!("CARGO_BIN_EXE_ca"))
            .current_dir(dir.path())
            .env("SOFTHSM2_CONF", &conf)
            .env("CHENGXIN_DATABASE_URL", &db_url)
            .env("CHENGXIN_CA_DIR", dir.path().join("ca"))
            .env("CHENGXIN_CA_PASSPHRASE", PASSPHRASE)
            .env(
                "CHENGXIN_CA_PKCS11",
                format!("module={module};token=chengxin;key=issuing"),
            )
            .env("CHENGXIN_CA_PKCS11_PIN", "123456")
            .args(args))
    };
    ca(&["init"]).ok();
    assert!(
        !dir.path().join("ca/issuing.key.pem").exists(),
        "the issuing key left the token"
    );
    let mut args = vec!["issue"];
    args.extend_from_slice(&F01);
    args.extend_from_slice(&["--city", "海淀区", "--out", "site.pem"]);
    ca(&args).ok();
    openssl(
        dir.path(),
        &[
            "verify",
            "-CAfile",
            "ca/root.pem",
            "-untrusted",
            "ca/issuing.pem",
            "site.pem",
        ],
    )
    .ok();
    let serial = openssl(
        dir.path(),
        &["x509", "-in", "site.pem", "-noout", "-serial"],
    )
    .ok()
    .stdout;
    ca(&[
        "revoke",
        "--serial",
        serial.trim().trim_start_matches("serial="),
        "--reason",
        "superseded",
    ])
    .ok();
    ca(&["crl", "--out", "crl.der"]).ok();
    openssl(
        dir.path(),
        &[
            "crl",
            "-inform",
            "DER",
            "-in",
            "crl.der",
            "-CAfile",
            "ca/issuing.pem",
            "-noout",
        ],
    )
    .ok();
}
