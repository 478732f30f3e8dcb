//! `ca rotate-issuing`: a new issuing CA, the old one still answering for its
//! certificates.

use super::*;

/// `ca rotate-issuing` (issue 11, item 5): with the root key online a new issuing CA
/// takes over issuance, and the old one is kept for its certificates: both chain to
/// the root through their own issuing certificate, both revoke, each issuer's CRL is
/// valid (openssl, pkilint) and lists its own, and OCSP still answers for the old
/// serial, signed by the old issuer. The rotation is audited.
#[tokio::test]
async fn a_rotated_issuing_ca_issues_anew_and_the_old_one_still_answers_for_its_certificates() {
    use testkit::{Artefact, pkilint};
    for backend in Backend::all() {
        let t = TestCa::new(backend);
        t.issue("old.pem", &[]).ok();
        let old_issuer = std::fs::read(t.path("ca/issuing.pem")).unwrap();
        let old_slug = t.open().await.slug().to_string();
        let rotated = t.ca(&["rotate-issuing"]).ok();
        assert!(rotated.stdout.contains(&old_slug), "{rotated:?}");
        std::fs::write(t.path("old-issuing.pem"), &old_issuer).unwrap();
        assert_eq!(
            std::fs::read(t.path(&format!("ca/retired/{old_slug}.pem"))).unwrap(),
            old_issuer
        );
        t.issue("new.pem", &[]).ok();

        let verify = |cert: &str, issuing: &str| {
            t.openssl(&[
                "verify",
                "-CAfile",
                "ca/root.pem",
                "-untrusted",
                issuing,
                cert,
            ])
        };
        verify("old.pem", "old-issuing.pem").ok();
        verify("new.pem", "ca/issuing.pem").ok();
        assert_ne!(verify("old.pem", "ca/issuing.pem").code, 0);
        assert_ne!(verify("new.pem", "old-issuing.pem").code, 0);
        let issuer_of = |cert: &str| {
            t.openssl(&["x509", "-in", cert, "-noout", "-issuer"])
                .ok()
                .stdout
        };
        assert_ne!(issuer_of("old.pem"), issuer_of("new.pem"));
        assert!(issuer_of("new.pem").contains("Chengxin Site Identity CA 2"));
        // `ca verify` knows both: each is checked against its own issuer's key.
        for cert in ["old.pem", "new.pem"] {
            let report = t.ca(&["verify", "--cert", cert]).ok();
            assert!(report.stdout.contains("\"status\": \"good\""), "{report:?}");
        }

        let (old_serial, new_serial) = (t.serial_of("old.pem"), t.serial_of("new.pem"));
        t.ca(&["revoke", "--serial", &old_serial, "--reason", "superseded"])
            .ok();
        t.ca(&[
            "revoke",
            "--serial",
            &new_serial,
            "--reason",
            "keyCompromise",
        ])
        .ok();
        let ca = t.open().await;
        let new_slug = ca.slug().to_string();
        assert_ne!(new_slug, old_slug);
        for (slug, issuing, listed, other) in [
            (&old_slug, "old-issuing.pem", &old_serial, &new_serial),
            (&new_slug, "ca/issuing.pem", &new_serial, &old_serial),
        ] {
            let out = format!("{slug}.crl");
            t.ca(&["crl", "--issuer", slug, "--out", &out]).ok();
            let text = t
                .openssl(&[
                    "crl", "-inform", "DER", "-in", &out, "-CAfile", issuing, "-noout", "-text",
                ])
                .ok();
            assert!(text.stderr.contains("verify OK"), "{text:?}");
            let text = text.stdout.to_uppercase();
            assert!(text.contains(listed.as_str()), "{slug}: {text}");
            assert!(!text.contains(other.as_str()), "{slug}: {text}");
            let findings = pkilint(Artefact::Crl, &std::fs::read(t.path(&out)).unwrap());
            assert!(findings.is_empty(), "{slug}: {findings:?}");
        }

        // OCSP for the old serial: the old issuer's CertID, answered and signed by it.
        t.openssl(&[
            "ocsp",
            "-issuer",
            "old-issuing.pem",
            "-cert",
            "old.pem",
            "-no_nonce",
            "-reqout",
            "old.req",
        ])
        .ok();
        let answer = ca
            .answer_ocsp(&std::fs::read(t.path("old.req")).unwrap())
            .await;
        assert!(answer.successful, "{backend:?}");
        std::fs::write(t.path("old.resp"), &answer.der).unwrap();
        let status = t
            .openssl(&[
                "ocsp",
                "-issuer",
                "old-issuing.pem",
                "-cert",
                "old.pem",
                "-CAfile",
                "ca/root.pem",
                "-verify_other",
                "old-issuing.pem",
                "-respin",
                "old.resp",
            ])
            .ok();
        assert!(status.stderr.contains("Response verify OK"), "{status:?}");
        assert!(status.stdout.contains("old.pem: revoked"), "{status:?}");
        assert_eq!(ca.refresh_ocsp(10).await.unwrap(), 0, "nothing due yet");
        make_ocsp_due(&ca).await;
        assert_eq!(
            ca.refresh_ocsp(10).await.unwrap(),
            2,
            "both issuers refresh"
        );

        let audited: (i64,) = on_pool!(ca.db(), |p| sqlx::query_as(
            "SELECT COUNT(*) FROM audit_log WHERE action = 'ca.rotate-issuing'"
        )
        .fetch_one(p)
        .await
        .unwrap());
        assert_eq!(audited.0, 1);
        t.ca(&["audit", "verify"]).ok();
        ca.db().close().await;
    }
}
