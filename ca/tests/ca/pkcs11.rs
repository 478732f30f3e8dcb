//! The issuing key inside SoftHSM2 (PKCS#11).

use super::*;

/// SoftHSM2's token `chengxin` (PIN 123456) in `dir`, and the `ca` CLI against it.
struct HsmToken {
    dir: tempfile::TempDir,
    conf: PathBuf,
    module: String,
    db_url: String,
}

impl HsmToken {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (conf, module) = testkit::softhsm_token(dir.path());
        let db_url = Backend::Sqlite.fresh_database(dir.path());
        HsmToken {
            dir,
            conf,
            module,
            db_url,
        }
    }

    /// `ca` with its CA directory `ca_dir`, its issuing key labelled `key` in the
    /// token, and `db_url` as its database.
    fn ca_with(&self, ca_dir: &str, key: &str, db_url: &str, args: &[&str]) -> Run {
        run(Command::new(env!("CARGO_BIN_EXE_ca"))
            .current_dir(self.dir.path())
            .env("SOFTHSM2_CONF", &self.conf)
            .env("CHENGXIN_DATABASE_URL", db_url)
            .env("CHENGXIN_CA_DIR", self.dir.path().join(ca_dir))
            .env("CHENGXIN_CA_PASSPHRASE", PASSPHRASE)
            .env("CHENGXIN_CA_ROOT_PASSPHRASE", ROOT_PASSPHRASE)
            .env(
                "CHENGXIN_CA_PKCS11",
                format!("module={};token=chengxin;key={key}", self.module),
            )
            .env("CHENGXIN_CA_PKCS11_PIN", "123456")
            .args(args))
    }

    /// `ca` on the CA in `ca/` whose key is labelled `issuing`.
    fn ca(&self, args: &[&str]) -> Run {
        self.ca_with("ca", "issuing", &self.db_url, args)
    }

    /// `ca issue` of F01 to `out`.
    fn issue(&self, out: &str) -> Run {
        let mut args = vec!["issue"];
        args.extend_from_slice(&F01);
        args.extend_from_slice(&["--city", "海淀区", "--out", out]);
        self.ca(&args)
    }

    /// `openssl verify` of `cert` up to the root of the CA in `ca/`.
    fn verify(&self, cert: &str) -> Run {
        openssl(
            self.dir.path(),
            &[
                "verify",
                "-CAfile",
                "ca/root.pem",
                "-untrusted",
                "ca/issuing.pem",
                cert,
            ],
        )
    }
}

#[test]
fn an_issuing_key_inside_softhsm_signs_certificates_openssl_accepts() {
    let hsm = HsmToken::new();
    let dir = &hsm.dir;
    let ca = |args: &[&str]| hsm.ca(args);
    ca(&["init"]).ok();
    assert!(
        !dir.path().join("ca/issuing.key.pem").exists(),
        "the issuing key left the token"
    );
    hsm.issue("site.pem").ok();
    ca(&["ocsp-refresh"]).ok();
    hsm.verify("site.pem").ok();
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

/// A second `ca init` on the same token with the same key label made a second key
/// pair under it; the first CA then opened a private key of one pair and a public
/// key of the other, and neither CA could start. Now the second init is refused
/// before anything is created, and the first CA goes on issuing.
#[test]
fn a_second_init_on_the_same_token_and_label_is_refused_and_the_first_ca_still_works() {
    let hsm = HsmToken::new();
    hsm.ca(&["init"]).ok();
    let other_db = hsm.dir.path().join("other.db");
    let other_url = format!("sqlite://{}", other_db.display());
    let second = hsm.ca_with("ca2", "issuing", &other_url, &["init"]);
    assert_ne!(second.code, 0, "{second:?}");
    assert!(
        second.stderr.contains("already holds") && second.stderr.contains("\"issuing\""),
        "{second:?}"
    );
    assert!(
        !hsm.dir.path().join("ca2/issuing.pem").exists(),
        "the refused init left a CA behind"
    );
    hsm.issue("site.pem").ok();
    hsm.verify("site.pem").ok();
    // Another label on the same token is a CA of its own.
    hsm.ca_with("ca2", "issuing-2", &other_url, &["init"]).ok();
}

/// Two key pairs under one label (a key imported by hand, say): the CA cannot tell
/// which is its own, so it refuses to start and says why, rather than pair a private
/// key with another key's public half.
#[test]
fn a_token_with_two_keys_under_the_ca_label_is_refused_at_open() {
    let hsm = HsmToken::new();
    hsm.ca(&["init"]).ok();
    openssl(
        hsm.dir.path(),
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            "stray.pem",
        ],
    )
    .ok();
    run(Command::new("softhsm2-util")
        .current_dir(hsm.dir.path())
        .env("SOFTHSM2_CONF", &hsm.conf)
        .args([
            "--import",
            "stray.pem",
            "--token",
            "chengxin",
            "--label",
            "issuing",
            "--id",
            "0102",
            "--pin",
            "123456",
        ]))
    .ok();
    let refused = hsm.issue("site.pem");
    assert_ne!(refused.code, 0, "{refused:?}");
    assert!(
        refused
            .stderr
            .contains("2 private keys labelled \"issuing\""),
        "{refused:?}"
    );
    assert!(!hsm.dir.path().join("site.pem").exists());
}

/// Set in the child process that runs a SoftHSM test body with `SOFTHSM2_CONF`
/// set (the library reads it at initialization, and a test may not set the
/// environment of its own process): the token's directory.
const HSM_CHILD: &str = "CHENGXIN_TEST_HSM_CHILD";

/// The OCSP refresh signs on an HSM session of its own: while a refresh holds its
/// session, issuance (certificate and first OCSP answers, on the issuance
/// session) completes, and the refresh waits for its own session only.
#[test]
fn the_ocsp_refresh_signs_on_its_own_hsm_session_and_never_holds_up_issuance() {
    let Ok(dir) = std::env::var(HSM_CHILD) else {
        let hsm = HsmToken::new();
        hsm.ca(&["init"]).ok();
        hsm.issue("first.pem").ok();
        let child = run(Command::new(std::env::current_exe().unwrap())
            .env("SOFTHSM2_CONF", &hsm.conf)
            .env(HSM_CHILD, hsm.dir.path())
            .env("CHENGXIN_TEST_HSM_MODULE", &hsm.module)
            .env("CHENGXIN_TEST_HSM_DB", &hsm.db_url)
            .args([
                "--exact",
                "pkcs11::the_ocsp_refresh_signs_on_its_own_hsm_session_and_never_holds_up_issuance",
                "--nocapture",
            ]));
        assert!(
            child.code == 0 && child.stdout.contains("1 passed"),
            "{child:?}"
        );
        return;
    };
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap()
        .block_on(refresh_beside_issuance(PathBuf::from(dir)));
}

// Holding the refresh's session across the issuance is the point of the test.
#[allow(clippy::await_holding_lock)]
async fn refresh_beside_issuance(dir: PathBuf) {
    use ca::pkcs11::{Pkcs11Config, Pkcs11Signer};
    use std::sync::Arc;
    use std::time::Duration;
    let config = Pkcs11Config {
        module: std::env::var("CHENGXIN_TEST_HSM_MODULE").unwrap().into(),
        token_label: "chengxin".into(),
        pin: "123456".into(),
        key_label: "issuing".into(),
    };
    let issuing = Arc::new(Pkcs11Signer::open(&config).unwrap());
    let refresh = Arc::new(issuing.with_own_session().unwrap());
    let db = Database::connect(&std::env::var("CHENGXIN_TEST_HSM_DB").unwrap())
        .await
        .unwrap();
    let ca_config = CaConfig {
        dir: dir.join("ca"),
        public_url: PUBLIC_URL.into(),
        instance: 1,
    };
    let ca = Arc::new(
        Ca::open_with_signer(&ca_config, issuing, db)
            .await
            .unwrap()
            .with_refresh_signer(refresh.clone())
            .unwrap(),
    );
    make_ocsp_due(&ca).await;
    let held = refresh.hold_session().unwrap();
    let issued = tokio::time::timeout(
        Duration::from_secs(20),
        ca.issue(&f01_identity(), KeySource::Generate, "test"),
    )
    .await
    .expect("issuance waited for the refresh's session")
    .unwrap();
    let refreshing = tokio::spawn({
        let ca = ca.clone();
        async move { ca.refresh_ocsp(10).await }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !refreshing.is_finished(),
        "the refresh signed without its own session"
    );
    drop(held);
    let refreshed = tokio::time::timeout(Duration::from_secs(20), refreshing)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(refreshed >= 1, "refreshed {refreshed}");
    let rec = ca::store::certificate_by_id(ca.db(), issued.certificate_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rec.status, ca::store::CertificateStatus::Issued);
}
