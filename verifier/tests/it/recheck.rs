//! Re-verification over a simulated year: real DNS (dnsmasq), a real CA, the
//! offline ICP dataset provider, and a clock the test controls.

use std::sync::Arc;

use ca::db::Database;
use ca::identity::{Domain, IcpNumber, Uscc};
use ca::{Ca, CaConfig, KeySource, RevocationReason, SiteIdentity};
use testkit::{DnsServer, Zone};
use verifier::icp::{FileProvider, IcpProvider};
use verifier::recheck::{Enrollment, Policy, Rechecker, Scope, State, enroll, state_of};
use verifier::{Challenger, Method, Token};

use crate::challenge::settings;

const DAY: i64 = 86_400;
const HOUR: i64 = 3_600;
const PASSPHRASE: &[u8] = b"recheck-test-passphrase";

const F01_ROW: &str = r#"{"contentTypeName":"","domain":"chenxi-shuzhi.cn","domainId":10009000000,"homeUrl":"www.chenxi-shuzhi.cn","leaderName":"","limitAccess":"否","mainId":7100001,"mainLicence":"京ICP备2024018653号","natureName":"企业","serviceId":10008000000,"serviceLicence":"京ICP备2024018653号-1","serviceName":"北京晨曦数智","unitName":"北京晨曦数智科技有限公司","updateRecordTime":"2024-06-12 10:21:33"}"#;

/// A CA, a database, one certified site and what re-verification needs.
struct World {
    dir: tempfile::TempDir,
    db: Database,
    ca: Arc<Ca>,
    token: Token,
    serial: ca::Serial,
}

impl World {
    async fn new(backend: testkit::Backend) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = backend.fresh_database(dir.path());
        let db = Database::connect(&url).await.unwrap();
        let passphrases = ca::authority::KeyPassphrases {
            root: b"recheck-root-passphrase",
            issuing: Some(PASSPHRASE),
        };
        ca::authority::init(&dir.path().join("ca"), &passphrases, None).unwrap();
        let config = CaConfig {
            dir: dir.path().join("ca"),
            public_url: "http://seal.test".into(),
            instance: 1,
        };
        let ca = Arc::new(
            Ca::open(&config, Some(PASSPHRASE), db.clone())
                .await
                .unwrap(),
        );
        let identity = SiteIdentity::parse(
            "北京晨曦数智科技有限公司",
            "91110108MA04T7K21H",
            "京ICP备2024018653号-1",
            "北京市",
            "市辖区",
            &["chenxi-shuzhi.cn"],
        )
        .unwrap();
        let issued = ca
            .issue(&identity, KeySource::Generate, "test")
            .await
            .unwrap();
        World {
            dir,
            db,
            ca,
            token: Token::generate().unwrap(),
            serial: issued.serial,
        }
    }

    fn dataset(&self, name: &str, row: &str) -> Arc<dyn IcpProvider> {
        let path = self.dir.path().join(name);
        std::fs::write(&path, format!("{row}\n")).unwrap();
        Arc::new(FileProvider::load(&path).unwrap())
    }

    fn dns_with_token(&self) -> DnsServer {
        Zone::new()
            .txt("_chengxin-challenge.chenxi-shuzhi.cn", self.token.as_str())
            .start()
    }

    fn rechecker(&self, dns: &DnsServer, icp: Arc<dyn IcpProvider>) -> Rechecker {
        Rechecker {
            db: self.db.clone(),
            challenger: Challenger::from_settings(&settings(&[dns], None, 80, None)).unwrap(),
            icp: Some(icp),
            ca: Some(self.ca.clone()),
            policy: Policy::default(),
            concurrency: 4,
        }
    }

    async fn enroll(&self, now: i64) {
        let e = Enrollment {
            site_id: "s1".into(),
            organization: "北京晨曦数智科技有限公司".into(),
            uscc: Some(Uscc::parse("91110108MA04T7K21H").unwrap()),
            filings: [(
                "chenxi-shuzhi.cn".to_string(),
                IcpNumber::parse_website("京ICP备2024018653号-1").unwrap(),
            )]
            .into(),
            domains: vec![Domain::parse("chenxi-shuzhi.cn").unwrap()],
            method: Method::DnsTxt,
            token: self.token.clone(),
            certificate_serial: Some(self.serial.clone()),
        };
        let mut tx = self.db.begin().await.unwrap();
        enroll(&mut tx, &e, &Policy::default(), now).await.unwrap();
        tx.commit().await.unwrap();
    }

    async fn state(&self) -> State {
        state_of(&self.db, "s1").await.unwrap().unwrap().0
    }

    /// The certificate's revocation reason, if revoked or held.
    async fn revocation(&self) -> Option<RevocationReason> {
        let rec = ca::store::certificate_by_serial(&self.db, self.issuer_id().await, &self.serial)
            .await
            .unwrap()
            .unwrap();
        rec.revocation()
            .map(|r| r.reason().expect("a reason this CA writes"))
    }

    async fn issuer_id(&self) -> i64 {
        let (id,): (i64,) = ca::on_pool!(&self.db, |p| sqlx::query_as("SELECT id FROM issuers")
            .fetch_one(p)
            .await
            .unwrap());
        id
    }
}

#[tokio::test]
async fn a_site_whose_proof_stays_in_place_passes_and_its_due_dates_move() {
    for backend in testkit::Backend::all() {
        let w = World::new(backend).await;
        let t0 = 1_800_000_000;
        w.enroll(t0).await;
        let dns = w.dns_with_token();
        let r = w.rechecker(&dns, w.dataset("icp.jsonl", F01_ROW));
        let nothing_due = r.run(Scope::Due, t0 + DAY, &|_, _| {}).await.unwrap();
        assert_eq!(nothing_due.checked, 0, "nothing is due after a day");
        let week = r.run(Scope::Due, t0 + 8 * DAY, &|_, _| {}).await.unwrap();
        assert_eq!((week.checked, week.passed), (1, 1), "{week:?}");
        assert_eq!(
            r.run(Scope::Due, t0 + 9 * DAY, &|_, _| {})
                .await
                .unwrap()
                .checked,
            0,
            "the ICP due date moved"
        );
        let month = r.run(Scope::Due, t0 + 31 * DAY, &|_, _| {}).await.unwrap();
        assert_eq!(month.passed, 1);
        assert_eq!(w.state().await, State::Ok);
        assert_eq!(w.revocation().await, None);
        let evidence = verifier::store::recent(&w.db, "chenxi-shuzhi.cn", 10)
            .await
            .unwrap();
        assert!(
            evidence.iter().any(|e| e.check == "dns-txt")
                && evidence.iter().any(|e| e.check == "icp")
        );
    }
}

#[tokio::test]
async fn a_removed_record_leads_to_grace_then_suspension_then_revocation_and_a_return_releases_the_hold()
 {
    for backend in testkit::Backend::all() {
        let w = World::new(backend).await;
        let t0 = 1_800_000_000;
        w.enroll(t0).await;
        let icp = w.dataset("icp.jsonl", F01_ROW);
        let gone = Zone::new().start();
        let r = w.rechecker(&gone, icp.clone());

        let first = r.run(Scope::All, t0 + DAY, &|_, _| {}).await.unwrap();
        assert_eq!(first.entered_grace, 1, "{first:?}");
        assert_eq!(w.state().await, State::Grace);
        assert_eq!(w.revocation().await, None, "no hold during grace");

        let during = r
            .run(Scope::Due, t0 + DAY + 2 * HOUR, &|_, _| {})
            .await
            .unwrap();
        assert_eq!(
            during.still_failing, 1,
            "failing sites are looked at hourly: {during:?}"
        );
        let after_grace = r
            .run(Scope::Due, t0 + DAY + 73 * HOUR, &|_, _| {})
            .await
            .unwrap();
        assert_eq!(after_grace.suspended, 1, "{after_grace:?}");
        assert_eq!(w.state().await, State::Suspended);
        assert_eq!(
            w.revocation().await,
            Some(RevocationReason::CertificateHold),
            "certificateHold"
        );

        // The record comes back: the hold is released.
        let back = w.dns_with_token();
        let r2 = w.rechecker(&back, icp.clone());
        let released = r2
            .run(Scope::Site("s1".into()), t0 + DAY + 80 * HOUR, &|_, _| {})
            .await
            .unwrap();
        assert_eq!(released.released, 1, "{released:?}");
        assert_eq!(w.state().await, State::Ok);
        assert_eq!(w.revocation().await, None);

        // Gone again, for good: grace, hold, then revocation.
        let t1 = t0 + 10 * DAY;
        r.run(Scope::All, t1, &|_, _| {}).await.unwrap();
        r.run(Scope::Due, t1 + 73 * HOUR, &|_, _| {}).await.unwrap();
        assert_eq!(
            w.revocation().await,
            Some(RevocationReason::CertificateHold)
        );
        let end = r
            .run(Scope::Due, t1 + 147 * HOUR, &|_, _| {})
            .await
            .unwrap();
        assert_eq!(end.revoked, 1, "{end:?}");
        assert_eq!(w.state().await, State::Revoked);
        assert_eq!(
            w.revocation().await,
            Some(RevocationReason::CessationOfOperation)
        );
        let later = r.run(Scope::All, t1 + 30 * DAY, &|_, _| {}).await.unwrap();
        assert_eq!(later.checked, 0, "revoked sites are not rechecked");
        ca::audit::verify(&w.db).await.unwrap();
    }
}

#[tokio::test]
async fn a_change_of_the_filings_subject_suspends_at_once() {
    let w = World::new(testkit::Backend::Sqlite).await;
    let t0 = 1_800_000_000;
    w.enroll(t0).await;
    let dns = w.dns_with_token();
    let r = w.rechecker(&dns, w.dataset("before.jsonl", F01_ROW));
    assert_eq!(
        r.run(Scope::All, t0 + DAY, &|_, _| {})
            .await
            .unwrap()
            .passed,
        1
    );
    let renamed = F01_ROW.replace("北京晨曦数智科技有限公司", "北京另一家科技有限公司");
    let r2 = w.rechecker(&dns, w.dataset("after.jsonl", &renamed));
    let out = r2.run(Scope::All, t0 + 2 * DAY, &|_, _| {}).await.unwrap();
    assert_eq!(out.suspended, 1, "{out:?}");
    assert_eq!(w.state().await, State::Suspended);
    assert_eq!(
        w.revocation().await,
        Some(RevocationReason::CertificateHold)
    );
    let reason = state_of(&w.db, "s1").await.unwrap().unwrap().1.unwrap();
    assert!(reason.contains("subject changed"), "{reason}");
}

#[tokio::test]
async fn a_resolver_outage_is_retried_with_backoff_and_changes_nothing() {
    let w = World::new(testkit::Backend::Sqlite).await;
    let t0 = 1_800_000_000;
    w.enroll(t0).await;
    let silent: std::net::SocketAddr = format!("127.0.0.1:{}", testkit::free_port())
        .parse()
        .unwrap();
    let mut s = settings(&[], None, 80, None);
    s.dns_servers = Some(silent.to_string());
    s.dns_timeout_secs = 1;
    let r = Rechecker {
        db: w.db.clone(),
        challenger: Challenger::from_settings(&s).unwrap(),
        icp: Some(w.dataset("icp.jsonl", F01_ROW)),
        ca: Some(w.ca.clone()),
        policy: Policy::default(),
        concurrency: 1,
    };
    let out = r.run(Scope::All, t0 + DAY, &|_, _| {}).await.unwrap();
    assert_eq!(out.retried, 1, "{out:?}");
    assert_eq!(w.state().await, State::Ok);
    assert_eq!(w.revocation().await, None);
    assert_eq!(
        r.run(Scope::Due, t0 + DAY + 60, &|_, _| {})
            .await
            .unwrap()
            .checked,
        0,
        "not before the backoff"
    );
    assert_eq!(
        r.run(Scope::Due, t0 + DAY + 301, &|_, _| {})
            .await
            .unwrap()
            .retried,
        1,
        "retried after 5 minutes"
    );
    assert_eq!(
        r.run(Scope::Due, t0 + DAY + 301 + 400, &|_, _| {})
            .await
            .unwrap()
            .checked,
        0,
        "then after 10"
    );
}

#[tokio::test]
async fn an_unknown_site_is_a_clear_error() {
    let w = World::new(testkit::Backend::Sqlite).await;
    let dns = w.dns_with_token();
    let r = w.rechecker(&dns, w.dataset("icp.jsonl", F01_ROW));
    let err = r
        .run(Scope::Site("nope".into()), 0, &|_, _| {})
        .await
        .err()
        .unwrap();
    assert!(err.to_string().contains("no site \"nope\""), "{err}");
}

const F02_ROW: &str = r#"{"contentTypeName":"","domain":"chenxi-ai.com.cn","domainId":10009000001,"homeUrl":"www.chenxi-ai.com.cn","leaderName":"","limitAccess":"否","mainId":7100001,"mainLicence":"京ICP备2024018653号","natureName":"企业","serviceId":10008000001,"serviceLicence":"京ICP备2024018653号-2","serviceName":"北京晨曦数智","unitName":"北京晨曦数智科技有限公司","updateRecordTime":"2024-06-12 10:21:33"}"#;

#[tokio::test]
async fn every_registrable_domain_s_filing_is_checked_again_not_only_the_primary_s() {
    for backend in testkit::Backend::all() {
        let w = World::new(backend).await;
        let t0 = 1_800_000_000;
        let e = Enrollment {
            site_id: "s2".into(),
            organization: "北京晨曦数智科技有限公司".into(),
            uscc: Some(Uscc::parse("91110108MA04T7K21H").unwrap()),
            filings: [
                (
                    "chenxi-shuzhi.cn".to_string(),
                    IcpNumber::parse_website("京ICP备2024018653号-1").unwrap(),
                ),
                (
                    "chenxi-ai.com.cn".to_string(),
                    IcpNumber::parse_website("京ICP备2024018653号-2").unwrap(),
                ),
            ]
            .into(),
            domains: vec![
                Domain::parse("chenxi-shuzhi.cn").unwrap(),
                Domain::parse("chenxi-ai.com.cn").unwrap(),
            ],
            method: Method::DnsTxt,
            token: w.token.clone(),
            certificate_serial: None,
        };
        let mut tx = w.db.begin().await.unwrap();
        enroll(&mut tx, &e, &Policy::default(), t0).await.unwrap();
        tx.commit().await.unwrap();
        let dns = Zone::new()
            .txt("_chengxin-challenge.chenxi-shuzhi.cn", w.token.as_str())
            .txt("_chengxin-challenge.chenxi-ai.com.cn", w.token.as_str())
            .start();
        let both = format!("{F01_ROW}\n{F02_ROW}");
        let r = w.rechecker(&dns, w.dataset("both.jsonl", &both));
        let ok = r
            .run(Scope::Site("s2".into()), t0 + DAY, &|_, _| {})
            .await
            .unwrap();
        assert_eq!(ok.passed, 1, "{ok:?}");
        // The second domain's filing disappears: the site enters grace, and why.
        let r = w.rechecker(&dns, w.dataset("primary-only.jsonl", F01_ROW));
        let gone = r
            .run(Scope::Site("s2".into()), t0 + 2 * DAY, &|_, _| {})
            .await
            .unwrap();
        assert_eq!(gone.entered_grace, 1, "{gone:?}");
        let (state, reason) = state_of(&w.db, "s2").await.unwrap().unwrap();
        assert_eq!(state, State::Grace);
        assert!(
            reason
                .unwrap_or_default()
                .contains("no filing found for chenxi-ai.com.cn"),
            "the reason names the unfiled domain"
        );
    }
}
