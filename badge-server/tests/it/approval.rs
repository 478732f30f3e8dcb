//! Domain control is never waived (design §4, issue 10): every combination of the
//! domain-control verdict (real DNS on loopback: a TXT record, no record, no server)
//! and the ICP verdict (a real dataset that matches, names another organization,
//! lacks the domain; a filing source that is down; none configured), through every
//! approval path (the JSON API, the staff console, auto-approval), on both backends.
//! Only a proven domain is ever certified; staff decide only filing questions.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use badge_server::domain::account::{self, Email, Role};
use badge_server::domain::application::ApplicationStatus;
use badge_server::service::applications;
use serde_json::Value;
use testkit::{Backend, Zone};
use verifier::Verdict;
use verifier::icp::IcpProvider;

use crate::accounts::{PASSWORD, TestApp};

const OPERATOR: &str = "op@chenxi-shuzhi.cn";
const STAFF: &str = "staff@chengxin.test";

/// A row of the shared MIIT fixtures (`F01`, `F02`, …).
pub(crate) fn fixture_row(name: &str) -> Value {
    let all: Vec<Value> = serde_json::from_str(
        &std::fs::read_to_string(testkit::fixtures_dir().join("miit-rows.json")).unwrap(),
    )
    .unwrap();
    all.into_iter()
        .find(|f| f["fixture"] == name)
        .unwrap_or_else(|| panic!("no fixture {name}"))["row"]
        .clone()
}

/// An offline ICP dataset of `rows`, loaded by the real file provider.
pub(crate) fn dataset(dir: &std::path::Path, name: &str, rows: &[Value]) -> Arc<dyn IcpProvider> {
    let path = dir.join(name);
    let text: String = rows.iter().map(|r| format!("{r}\n")).collect();
    std::fs::write(&path, text).unwrap();
    Arc::from(verifier::icp::provider_from_spec(&format!("file:{}", path.display())).unwrap())
}

/// The operator (with a password, for pages) and the staff member of these tests.
pub(crate) async fn people(t: &TestApp) -> (account::Account, account::Account) {
    let operator = crate::pages::account_of(t, Role::Operator, OPERATOR).await;
    let staff = badge_server::store::accounts::upsert_role(
        &t.state.db,
        &Email::parse(STAFF).unwrap(),
        Role::Staff,
    )
    .await
    .unwrap();
    (operator, staff)
}

/// The ICP situations an application can meet, and the verdict each gives.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Filing {
    Matches,
    OtherOrganization,
    NotFiled,
    SourceDown,
    NoSource,
}

impl Filing {
    const ALL: [Filing; 5] = [
        Filing::Matches,
        Filing::OtherOrganization,
        Filing::NotFiled,
        Filing::SourceDown,
        Filing::NoSource,
    ];

    fn verdict(self) -> Verdict {
        match self {
            Filing::Matches => Verdict::Pass,
            Filing::OtherOrganization | Filing::NoSource => Verdict::Review,
            Filing::NotFiled => Verdict::Fail,
            Filing::SourceDown => Verdict::Error,
        }
    }

    fn provider(self, dir: &std::path::Path) -> Option<Arc<dyn IcpProvider>> {
        let f01 = fixture_row("F01");
        match self {
            Filing::Matches => Some(dataset(dir, "match.jsonl", &[f01])),
            Filing::OtherOrganization => {
                let mut other = f01;
                other["unitName"] = "北京晨曦数智信息技术有限公司".into();
                Some(dataset(dir, "other.jsonl", &[other]))
            }
            // The dataset holds only another company's filing.
            Filing::NotFiled => Some(dataset(dir, "none.jsonl", &[fixture_row("F03")])),
            Filing::SourceDown => Some(Arc::from(
                verifier::icp::provider_from_spec("miit:http://127.0.0.1:1").unwrap(),
            )),
            Filing::NoSource => None,
        }
    }
}

/// Domain control as DNS answers it.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Control {
    /// The TXT record holds the token.
    Proven,
    /// The DNS server answers, without the record.
    Absent,
    /// No DNS server answers.
    Unreachable,
}

const CONTROLS: [Control; 3] = [Control::Proven, Control::Absent, Control::Unreachable];

/// How staff (or the server itself) approve.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Path {
    Api,
    Console,
    Auto,
}

const PATHS: [Path; 3] = [Path::Api, Path::Console, Path::Auto];

#[tokio::test]
async fn only_proven_domains_are_certified_whatever_the_filing_says_and_whoever_approves() {
    for backend in Backend::all() {
        let mut t = TestApp::new(backend).await;
        t.account(Role::Staff, STAFF).await;
        let (operator, staff) = people(&t).await;
        let staff_token =
            badge_server::store::accounts::create_token(&t.state.db, &staff, "approval test")
                .await
                .unwrap();
        let dir = tempfile::tempdir().unwrap();
        // No DNS server listens there; a one-second timeout keeps the test short.
        let unreachable = Arc::new(
            verifier::Challenger::from_settings(
                &crate::settings_from(&["--dns-servers", "127.0.0.1:1", "--dns-timeout-secs", "1"])
                    .verifier,
            )
            .unwrap(),
        );

        // One application per combination, each for its own host under the filed
        // registrable domain chenxi-shuzhi.cn.
        let mut cases = Vec::new();
        for filing in Filing::ALL {
            for control in CONTROLS {
                for path in PATHS {
                    let host = format!("c{}.chenxi-shuzhi.cn", cases.len());
                    let id = crate::pending_application(&t.state, &operator, &host).await;
                    let token = applications::get(&t.state.db, &id)
                        .await
                        .unwrap()
                        .unwrap()
                        .token;
                    cases.push((filing, control, path, host, id, token));
                }
            }
        }
        let zone = cases
            .iter()
            .filter(|c| c.1 == Control::Proven)
            .fold(Zone::new(), |z, (_, _, _, host, _, token)| {
                z.txt(&format!("_chengxin-challenge.{host}"), token)
            });
        let dns = zone.start();
        let answering = Arc::new(crate::challenger_for(&dns));

        for filing in Filing::ALL {
            for path in PATHS {
                t.state.icp = filing.provider(dir.path());
                t.state.auto_approve = matches!(path, Path::Auto);
                t.rebuild();
                let mut console = t.browser();
                let r = console.login(STAFF, PASSWORD).await;
                assert_eq!(r.status, StatusCode::SEE_OTHER, "{r:?}");
                for (_, control, _, host, id, _) in
                    cases.iter().filter(|c| c.0 == filing && c.2 == path)
                {
                    let mut state = t.state.clone();
                    state.challenger = match control {
                        Control::Unreachable => unreachable.clone(),
                        _ => answering.clone(),
                    };
                    let app = applications::get(&t.state.db, id).await.unwrap().unwrap();
                    let out =
                        crate::verify_json(&state, &app, &operator, Some(verifier::Method::DnsTxt))
                            .await
                            .unwrap();
                    let label = format!("{backend:?} {filing:?} {control:?} {path:?} {host}");
                    let control_verdict = match control {
                        Control::Proven => Verdict::Pass,
                        Control::Absent => Verdict::Fail,
                        Control::Unreachable => Verdict::Error,
                    };
                    let (_, status) = badge_server::domain::application::application_status(
                        control_verdict,
                        filing.verdict(),
                    );
                    let approvable = *control == Control::Proven
                        && matches!(filing.verdict(), Verdict::Pass | Verdict::Review);
                    let certified = match path {
                        Path::Auto => {
                            let issued = out.get("serial").is_some();
                            assert_eq!(
                                issued,
                                *control == Control::Proven && filing.verdict() == Verdict::Pass,
                                "{label}: {out}"
                            );
                            if !issued {
                                assert_eq!(out["status"], status.as_str(), "{label}: {out}");
                            }
                            issued
                        }
                        Path::Api => {
                            assert_eq!(out["status"], status.as_str(), "{label}: {out}");
                            let req = Request::post(format!("/api/v1/applications/{id}/approve"))
                                .header("authorization", format!("Bearer {}", staff_token.as_str()))
                                .body(Body::empty())
                                .unwrap();
                            let (code, _, body) = t.call(req).await;
                            let expected = if approvable {
                                StatusCode::OK
                            } else {
                                StatusCode::CONFLICT
                            };
                            assert_eq!(
                                code,
                                expected,
                                "{label}: {}",
                                String::from_utf8_lossy(&body)
                            );
                            code == StatusCode::OK
                        }
                        Path::Console => {
                            assert_eq!(out["status"], status.as_str(), "{label}: {out}");
                            let r = console
                                .submit(
                                    "/console",
                                    &format!("/console/applications/{id}/approve"),
                                    &[],
                                )
                                .await;
                            let ok = r.status == StatusCode::SEE_OTHER;
                            assert_eq!(ok, approvable, "{label}: {r:?}");
                            ok
                        }
                    };
                    let after = applications::get(&t.state.db, id).await.unwrap().unwrap();
                    assert_eq!(
                        after.status == ApplicationStatus::Certified,
                        certified,
                        "{label}: {}",
                        after.status
                    );
                    // Whatever was certified has a passing domain-control check on record.
                    if certified {
                        let proven = t
                            .scalar(&format!(
                                "SELECT COUNT(*) FROM verification_checks WHERE application_id = '{id}' \
                                 AND check_kind = 'dns-txt' AND verdict = 'pass'"
                            ))
                            .await;
                        assert!(proven > 0, "{label}");
                    }
                }
            }
        }
        let sites = t.scalar("SELECT COUNT(*) FROM sites").await;
        // Proven control: API and console approve a matching filing and the two that
        // staff must judge (another organization's name, no filing source): 2 × 3;
        // auto-approval issues only a full pass: 1.
        assert_eq!(sites, 7, "{backend:?}");
    }
}

#[tokio::test]
async fn every_registrable_domain_needs_its_own_filing_and_the_certificate_names_each() {
    for backend in Backend::all() {
        let mut t = TestApp::new(backend).await;
        let (operator, staff) = people(&t).await;
        let dir = tempfile::tempdir().unwrap();
        let id = crate::apply_for(
            &t.state,
            &operator,
            "京ICP备2024018653号-1",
            &[
                "chenxi-shuzhi.cn",
                "www.chenxi-shuzhi.cn",
                "chenxi-ai.com.cn",
            ],
        )
        .await;
        let app = applications::get(&t.state.db, &id).await.unwrap().unwrap();
        let dns = app
            .domains
            .iter()
            .fold(Zone::new(), |z, d| {
                z.txt(&format!("_chengxin-challenge.{d}"), &app.token)
            })
            .start();
        t.state.challenger = Arc::new(crate::challenger_for(&dns));

        // Only the primary's registrable domain is filed: the other is refused, and
        // staff cannot approve it (the old check asked MIIT about the first only).
        t.state.icp = Some(dataset(dir.path(), "one.jsonl", &[fixture_row("F01")]));
        let app = applications::get(&t.state.db, &id).await.unwrap().unwrap();
        let out = crate::verify_json(&t.state, &app, &operator, None)
            .await
            .unwrap();
        assert_eq!(out["status"], "failed", "{out}");
        assert!(
            out["reasons"]
                .to_string()
                .contains("no filing found for chenxi-ai.com.cn"),
            "{out}"
        );
        let app = applications::get(&t.state.db, &id).await.unwrap().unwrap();
        assert!(matches!(
            crate::approve_json(&t.state, &app, &staff).await,
            Err(badge_server::AppError::Conflict(_))
        ));

        // Both filed under the same subject: validated, each with MIIT's own number.
        t.state.icp = Some(dataset(
            dir.path(),
            "both.jsonl",
            &[fixture_row("F01"), fixture_row("F02")],
        ));
        let app = applications::get(&t.state.db, &id).await.unwrap().unwrap();
        let out = crate::verify_json(&t.state, &app, &operator, None)
            .await
            .unwrap();
        assert_eq!(out["status"], "validated", "{out}");
        let app = applications::get(&t.state.db, &id).await.unwrap().unwrap();
        let site = crate::approve_json(&t.state, &app, &staff).await.unwrap();
        let expect = serde_json::json!([
            {"domain": "chenxi-shuzhi.cn", "icp": "京ICP备2024018653号-1"},
            {"domain": "www.chenxi-shuzhi.cn", "icp": "京ICP备2024018653号-1"},
            {"domain": "chenxi-ai.com.cn", "icp": "京ICP备2024018653号-2"},
        ]);
        assert_eq!(site["filings"], expect, "{site}");

        // The certificate itself says it (read back by openssl as well).
        let site_id = site["site"].as_str().unwrap();
        let cert = badge_server::service::sites::site_certificate(&t.state.db, site_id)
            .await
            .unwrap()
            .certificate
            .unwrap();
        let der = cert.der.clone().unwrap();
        std::fs::write(dir.path().join("site.der"), &der).unwrap();
        let text = testkit::openssl(
            dir.path(),
            &[
                "x509", "-inform", "DER", "-in", "site.der", "-noout", "-text",
            ],
        )
        .ok()
        .stdout;
        assert!(text.contains("1.3.6.1.4.1.32473.3.2:"), "{text}");
        assert_eq!(
            ca::profile::filings_of(&der),
            vec![
                (
                    "chenxi-shuzhi.cn".to_string(),
                    "京ICP备2024018653号-1".to_string()
                ),
                (
                    "www.chenxi-shuzhi.cn".to_string(),
                    "京ICP备2024018653号-1".to_string()
                ),
                (
                    "chenxi-ai.com.cn".to_string(),
                    "京ICP备2024018653号-2".to_string()
                ),
            ]
        );
        // And the certificate page names which number covers which domain.
        let mut b = t.browser();
        let page = b
            .get(&format!("/cert/{site_id}"))
            .await
            .expect(200, "id=\"filings\"");
        // As read: the markup that keeps identifiers whole taken out.
        let text = page
            .body
            .split('<')
            .map(|p| p.split_once('>').map_or(p, |(_, t)| t))
            .collect::<String>();
        assert!(
            text.contains(
                "京ICP备2024018653号-1 (chenxi-shuzhi.cn, www.chenxi-shuzhi.cn); 京ICP备2024018653号-2 (chenxi-ai.com.cn)"
            ),
            "{}",
            page.body
        );
        // Re-verification is enrolled in the approval's own transaction, with every
        // registrable domain's filing.
        let filings = t
            .scalar(&format!(
                "SELECT COUNT(*) FROM recheck_subjects WHERE site_id = '{site_id}' \
                 AND filings LIKE '%chenxi-ai.com.cn%'"
            ))
            .await;
        assert_eq!(filings, 1);
    }
}

#[tokio::test]
async fn approval_relies_on_domain_control_evidence_no_older_than_the_reuse_period() {
    for backend in Backend::all() {
        let t = TestApp::new(backend).await;
        let (operator, staff) = people(&t).await;
        let id = crate::pending_application(&t.state, &operator, "chenxi-shuzhi.cn").await;
        let proven = crate::prove_control(&t.state, &operator, &id).await;
        assert_eq!(proven["status"], "review", "{proven}");
        // The proof ages past 30 days while the application waits for staff.
        t.exec(&format!(
            "UPDATE verification_checks SET at = at - {} WHERE application_id = '{id}'",
            31 * 86_400
        ))
        .await;
        let app = applications::get(&t.state.db, &id).await.unwrap().unwrap();
        let refused = crate::approve_json(&t.state, &app, &staff).await;
        match refused {
            Err(badge_server::AppError::Conflict(why)) => {
                assert!(
                    why.contains("domain control is not proven for chenxi-shuzhi.cn"),
                    "{why}"
                )
            }
            other => panic!("approved on stale evidence: {other:?}"),
        }
        let app = applications::get(&t.state.db, &id).await.unwrap().unwrap();
        assert_eq!(
            app.status,
            ApplicationStatus::Review,
            "the refused approval changed nothing"
        );
        assert_eq!(
            t.scalar("SELECT COUNT(*) FROM certificates WHERE status = 'issued'")
                .await,
            0
        );
        // Proven again: approved.
        crate::prove_control(&t.state, &operator, &id).await;
        let app = applications::get(&t.state.db, &id).await.unwrap().unwrap();
        let site = crate::approve_json(&t.state, &app, &staff).await.unwrap();
        assert_eq!(site["status"], "certified");
    }
}

#[tokio::test]
async fn an_approval_whose_enrolment_fails_issues_nothing() {
    for backend in Backend::all() {
        let t = TestApp::new(backend).await;
        let (operator, staff) = people(&t).await;
        let id = crate::pending_application(&t.state, &operator, "chenxi-shuzhi.cn").await;
        crate::prove_control(&t.state, &operator, &id).await;
        // Re-verification enrolment fails (a trigger refuses the row).
        match backend {
            Backend::Sqlite => {
                t.exec(
                    "CREATE TRIGGER refuse_enrolment BEFORE INSERT ON recheck_subjects \
                     BEGIN SELECT RAISE(ABORT, 'enrolment refused'); END",
                )
                .await
            }
            Backend::Postgres => {
                t.exec(
                    "CREATE FUNCTION refuse_enrolment() RETURNS trigger LANGUAGE plpgsql AS \
                     $$ BEGIN RAISE EXCEPTION 'enrolment refused'; END $$",
                )
                .await;
                t.exec(
                    "CREATE TRIGGER refuse_enrolment BEFORE INSERT ON recheck_subjects \
                     FOR EACH ROW EXECUTE FUNCTION refuse_enrolment()",
                )
                .await
            }
        }
        let app = applications::get(&t.state.db, &id).await.unwrap().unwrap();
        assert!(crate::approve_json(&t.state, &app, &staff).await.is_err());
        // Nothing of the approval stands: no certificate, no site, the application
        // still waits, no audit entry claims an approval.
        for (sql, want) in [
            ("SELECT COUNT(*) FROM certificates", 0),
            ("SELECT COUNT(*) FROM sites", 0),
            (
                "SELECT COUNT(*) FROM applications WHERE status = 'review'",
                1,
            ),
            (
                "SELECT COUNT(*) FROM audit_log WHERE action = 'application.approve'",
                0,
            ),
        ] {
            assert_eq!(t.scalar(sql).await, want, "{backend:?}: {sql}");
        }
    }
}

#[tokio::test]
async fn a_claimed_number_that_miit_does_not_file_stays_a_review_however_often_verified() {
    let mut t = TestApp::new(Backend::Sqlite).await;
    let (operator, _) = people(&t).await;
    let dir = tempfile::tempdir().unwrap();
    t.state.icp = Some(dataset(dir.path(), "f01.jsonl", &[fixture_row("F01")]));
    let id = crate::apply_for(
        &t.state,
        &operator,
        "京ICP备2024018653号-3",
        &["chenxi-shuzhi.cn"],
    )
    .await;
    for round in 0..2 {
        let out = crate::prove_control(&t.state, &operator, &id).await;
        assert_eq!(out["status"], "review", "round {round}: {out}");
        assert!(
            out["reasons"]
                .to_string()
                .contains("claims ICP number 京ICP备2024018653号-3"),
            "round {round}: {out}"
        );
    }
}

#[tokio::test]
async fn domain_control_checks_are_limited_per_account_and_hour() {
    let mut t = TestApp::new(Backend::Sqlite).await;
    let (operator, _) = people(&t).await;
    t.state.domain_checks = Arc::new(badge_server::service::limiter::Limiter::new(3, 3_600));
    t.rebuild();
    let token = badge_server::store::accounts::create_token(&t.state.db, &operator, "limits")
        .await
        .unwrap();
    let id = crate::apply_for(
        &t.state,
        &operator,
        "京ICP备2024018653号-1",
        &["chenxi-shuzhi.cn", "www.chenxi-shuzhi.cn"],
    )
    .await;
    let verify = || {
        Request::post(format!("/api/v1/applications/{id}/verify"))
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "application/json")
            .body(Body::from(r#"{"method": "dns-txt"}"#))
            .unwrap()
    };
    // Two domains: the first run takes 2 of 3 checks, the second would need 2 more.
    assert_eq!(t.call(verify()).await.0, StatusCode::OK);
    let (code, headers, body) = t.call(verify()).await;
    assert_eq!(
        code,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        String::from_utf8_lossy(&body)
    );
    assert_eq!(headers["retry-after"], "3600");
    let runs = t
        .scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'application.verify'")
        .await;
    assert_eq!(runs, 1, "the refused run checked nothing");
}
