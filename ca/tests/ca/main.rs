//! The `ca` crate and CLI against real databases (SQLite and PostgreSQL), checked
//! with `openssl` and, for the HSM signer, SoftHSM2.

#![allow(clippy::unwrap_used, missing_docs)]

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use ca::db::Database;
use ca::{Ca, CaConfig, KeySource, RevocationReason, SiteIdentity, on_pool};
use testkit::{Backend, Run, openssl, run};

mod audit;
mod crl_shards;
mod init_keys;
mod issuance;
mod log;
mod names_lint;
mod pkcs11;
mod revocation_crl_ocsp;
mod rotation;

const PASSPHRASE: &str = "correct-horse-battery-staple";
/// The root key's own passphrase (`ca init` refuses the issuing key's).
const ROOT_PASSPHRASE: &str = "root-horse-battery-staple";
/// The OCSPResponse with status unauthorized (6), unsigned.
const UNAUTHORIZED: [u8; 5] = [0x30, 0x03, 0x0a, 0x01, 0x06];
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

/// F01 as the library takes it, with its primary domain only.
fn f01_identity() -> SiteIdentity {
    SiteIdentity::parse(
        "北京晨曦数智科技有限公司",
        "91110108MA04T7K21H",
        "京ICP备2024018653号-1",
        "北京市",
        "海淀区",
        &["chenxi-shuzhi.cn"],
    )
    .unwrap()
}

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
            .env("CHENGXIN_CA_ROOT_PASSPHRASE", ROOT_PASSPHRASE)
            .env("CHENGXIN_PUBLIC_URL", PUBLIC_URL)
            .env_remove("CHENGXIN_CA_PKCS11")
            .env_remove("CHENGXIN_CA_PASSPHRASE_FILE")
            .env_remove("CHENGXIN_CA_ROOT_PASSPHRASE_FILE");
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

    /// A new P-256 key in `key` and a PKCS#10 request for it in `csr` (openssl).
    fn p256_csr(&self, key: &str, csr: &str) {
        self.openssl(&[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            key,
            "-subj",
            "/CN=ignored",
            "-out",
            csr,
        ])
        .ok();
    }

    fn openssl(&self, args: &[&str]) -> Run {
        openssl(self.dir.path(), args)
    }

    /// `openssl verify -crl_check` of `cert` up to the root, with the CRL `crl` (PEM).
    fn verify_with_crl(&self, cert: &str, crl: &str) -> Run {
        self.openssl(&[
            "verify",
            "-crl_check",
            "-CAfile",
            "ca/root.pem",
            "-untrusted",
            "ca/issuing.pem",
            "-CRLfile",
            crl,
            cert,
        ])
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
        self.open_instance(1).await
    }

    /// Opens the CA with serial instance prefix `instance`.
    async fn open_instance(&self, instance: u8) -> Ca {
        let config = CaConfig {
            dir: self.ca_dir(),
            public_url: PUBLIC_URL.into(),
            instance,
        };
        Ca::open(&config, Some(PASSPHRASE.as_bytes()), self.db().await)
            .await
            .unwrap()
    }

    /// A DER OCSP request for `cert`, as `openssl ocsp` makes it (SHA-1 CertID, no nonce).
    fn ocsp_request(&self, cert: &str) -> Vec<u8> {
        let req = format!("{cert}.req");
        self.openssl(&[
            "ocsp",
            "-issuer",
            "ca/issuing.pem",
            "-cert",
            cert,
            "-no_nonce",
            "-reqout",
            &req,
        ])
        .ok();
        std::fs::read(self.path(&req)).unwrap()
    }

    /// What `openssl ocsp` makes of the answer `ca` serves for `cert` (checked against
    /// the chain): `"{cert}: good"`, `"{cert}: revoked"`, …
    async fn served_ocsp(&self, ca: &Ca, cert: &str) -> String {
        let answer = ca.answer_ocsp(&self.ocsp_request(cert)).await;
        let file = format!("{cert}.resp");
        std::fs::write(self.path(&file), answer.der).unwrap();
        let out = self.ocsp_status(cert, None, Some(&file)).ok();
        assert!(out.stderr.contains("Response verify OK"), "{out:?}");
        out.stdout
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

/// Marks every stored OCSP answer as expiring now, so the next refresh re-signs it.
async fn make_ocsp_due(ca: &Ca) {
    on_pool!(ca.db(), |p| {
        sqlx::query("UPDATE ocsp_responses SET next_update = 0")
            .execute(p)
            .await
            .unwrap();
    });
}

fn pem_body(pem: &str) -> Vec<u8> {
    use base64::Engine;
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap()
}

/// Runs `check` again and again while `write(n)` runs for n = 0, 1, … on another
/// task, until `write` has completed `writes` times and `check` `checks` times (two
/// minutes at most, however loaded the machine): for what must hold against a live
/// database. Returns what each `check` returned, in order.
async fn while_writing<W, WF, C, CF, T>(
    writes: u32,
    checks: usize,
    mut write: W,
    mut check: C,
) -> Vec<T>
where
    W: FnMut(u32) -> WF + Send + 'static,
    WF: std::future::Future<Output = ()> + Send,
    C: FnMut() -> CF,
    CF: std::future::Future<Output = T>,
{
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
    let (stop, written) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicU32::new(0)),
    );
    let writer = tokio::spawn({
        let (stop, written) = (stop.clone(), written.clone());
        async move {
            while !stop.load(Ordering::Relaxed) {
                write(written.load(Ordering::Relaxed)).await;
                written.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let mut seen = Vec::new();
    while written.load(Ordering::Relaxed) < writes || seen.len() < checks {
        assert!(std::time::Instant::now() < deadline, "too slow");
        seen.push(check().await);
    }
    stop.store(true, Ordering::Relaxed);
    writer.await.unwrap();
    seen
}
