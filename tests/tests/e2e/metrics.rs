//! `/metrics` read by a parser nobody here wrote (Python's `prometheus_client`) after
//! real traffic on the real binary: an issuance (with its verification), a
//! re-verification, a hold and a revocation, a seal drawn and then served from the
//! cache, mail that cannot be delivered (SMTP down) and the jobs it leaves queued.
//! Every family the README lists is there, with its type and sensible values.

use std::collections::BTreeMap;
use std::process::Command;

use serde_json::{Value, json};
use testkit::{Backend, free_port};

use crate::{Deployment, METRICS_TOKEN, chenxi_application, http, quick_queue};

/// Parses the exposition with `prometheus_client.parser` and returns each family as
/// `{name: {"type": …, "samples": [[sample name, {labels}, value], …]}}`.
fn parse(text: &str) -> BTreeMap<String, Value> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("metrics.txt");
    std::fs::write(&file, text).unwrap();
    let python = testkit::pkilint_venv().join("bin").join("python");
    assert!(
        python.exists(),
        "{} not found: scripts/pkilint-venv installs prometheus-client beside pkilint",
        python.display()
    );
    let script = r#"
import sys, json
from prometheus_client.parser import text_string_to_metric_families
out = {}
for f in text_string_to_metric_families(open(sys.argv[1]).read()):
    assert f.name not in out, 'family twice: ' + f.name
    out[f.name] = {'type': f.type, 'samples': [[s.name, s.labels, s.value] for s in f.samples]}
print(json.dumps(out))
"#;
    let r = testkit::run(Command::new(python).arg("-c").arg(script).arg(&file)).ok();
    serde_json::from_str(&r.stdout).unwrap()
}

/// The samples named `sample` whose labels include `labels`: their values.
fn values(
    families: &BTreeMap<String, Value>,
    family: &str,
    sample: &str,
    labels: Value,
) -> Vec<f64> {
    let f = families
        .get(family)
        .unwrap_or_else(|| panic!("no family {family} in {:?}", families.keys()));
    f["samples"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s[0] == sample)
        .filter(|s| {
            labels
                .as_object()
                .unwrap()
                .iter()
                .all(|(k, v)| s[1][k] == *v)
        })
        .map(|s| s[2].as_f64().unwrap())
        .collect()
}

fn scrape(d: &Deployment) -> String {
    http()
        .get(d.url("/metrics"))
        .bearer_auth(METRICS_TOKEN)
        .send()
        .unwrap()
        .text()
        .unwrap()
}

#[test]
fn metrics_parse_as_prometheus_text_with_every_family_after_real_traffic() {
    for backend in Backend::all() {
        let d = Deployment::new(backend);
        d.ca(&["init"]).ok();
        let (op, staff) = (
            d.token("operator", "a@chenxi-shuzhi.cn"),
            d.token("staff", "staff@seal.test"),
        );
        let dns_port = free_port();
        let miit = testkit::fixtures_dir().join("miit-rows.json");
        // Mail cannot be delivered: nothing listens on the SMTP port.
        let _server = d.serve_with(&quick_queue(&[
            ("CHENGXIN_DNS_SERVERS", format!("127.0.0.1:{dns_port}")),
            ("CHENGXIN_DNS_TIMEOUT", "1".into()),
            ("CHENGXIN_HTTP_TIMEOUT", "2".into()),
            ("CHENGXIN_HTTP_CHALLENGE_PORT", free_port().to_string()),
            ("CHENGXIN_ICP_PROVIDER", format!("file:{}", miit.display())),
            (
                "CHENGXIN_SMTP_URL",
                format!("smtp://127.0.0.1:{}", free_port()),
            ),
        ]));
        let client = http();
        // A verification and an issuance.
        let (_, site) = d.certify(&op, &staff, dns_port, chenxi_application());
        let id = site["site"].as_str().unwrap();
        // The seal: drawn once (a miss), then from the cache (a hit).
        let seal = site["seal_url"].as_str().unwrap();
        for _ in 0..2 {
            assert_eq!(client.get(seal).send().unwrap().status(), 200);
        }
        // A re-verification (the challenge's DNS server is gone), a hold, a revocation.
        let recheck = client
            .post(d.url(&format!("/api/v1/sites/{id}/recheck")))
            .bearer_auth(&staff)
            .send()
            .unwrap();
        assert_eq!(recheck.status(), 200, "{:?}", recheck.text());
        for reason in ["certificateHold", "cessationOfOperation"] {
            let r = client
                .post(d.url(&format!("/api/v1/sites/{id}/revoke")))
                .bearer_auth(&staff)
                .json(&json!({ "reason": reason }))
                .send()
                .unwrap();
            assert_eq!(r.status(), 200, "{reason}: {:?}", r.text());
        }
        // A 4xx: /metrics without its token.
        assert_eq!(client.get(d.url("/metrics")).send().unwrap().status(), 401);
        // A queued mail, which fails (and stays queued for its retry).
        crate::mail_webhooks::insert_job(
            &d,
            "mail",
            &json!({"to": "user@example.cn", "subject": "确认您的邮箱", "text": "点击链接确认。"}),
        );
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let families = loop {
            let families = parse(&scrape(&d));
            if families.contains_key("chengxin_job_failures")
                || std::time::Instant::now() > deadline
            {
                break families;
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        };

        for (family, kind) in [
            ("chengxin_http_requests", "counter"),
            ("chengxin_http_request_duration_seconds", "histogram"),
            ("chengxin_certificates_issued", "counter"),
            ("chengxin_revocations", "counter"),
            ("chengxin_certificate_holds", "counter"),
            ("chengxin_certificate_releases", "counter"),
            ("chengxin_verifications", "counter"),
            ("chengxin_reverifications", "counter"),
            ("chengxin_jobs_queued", "gauge"),
            ("chengxin_jobs_due", "gauge"),
            ("chengxin_jobs_oldest_due_age_seconds", "gauge"),
            ("chengxin_job_failures", "counter"),
            ("chengxin_db_connections", "gauge"),
            ("chengxin_db_begin_seconds", "histogram"),
            ("chengxin_db_commit_seconds", "histogram"),
            ("chengxin_crl_age_seconds", "gauge"),
            ("chengxin_crl_next_update_timestamp_seconds", "gauge"),
            (
                "chengxin_ocsp_earliest_next_update_timestamp_seconds",
                "gauge",
            ),
            ("chengxin_seal_render_cache_hits", "counter"),
            ("chengxin_seal_render_cache_misses", "counter"),
            ("chengxin_seals_served", "counter"),
        ] {
            let f = families
                .get(family)
                .unwrap_or_else(|| panic!("{backend:?}: no {family} in {:?}", families.keys()));
            assert_eq!(f["type"], kind, "{family}");
        }

        let one = |family: &str, sample: &str, labels: Value| -> f64 {
            let v = values(&families, family, sample, labels.clone());
            assert_eq!(v.len(), 1, "{backend:?} {sample} {labels}: {v:?}");
            v[0]
        };
        let seal_ok = json!({"route": "/seal/{file}", "status": "2xx"});
        assert!(
            one(
                "chengxin_http_requests",
                "chengxin_http_requests_total",
                seal_ok.clone()
            ) >= 2.0
        );
        assert!(
            one(
                "chengxin_http_requests",
                "chengxin_http_requests_total",
                json!({"route": "/metrics", "status": "4xx"})
            ) >= 1.0
        );
        // No raw path is a label: the site id appears in no route.
        let text = scrape(&d);
        assert!(!text.contains(&format!("route=\"/seal/{id}")), "{text}");
        // A histogram's buckets only grow and end with its count.
        let buckets = values(
            &families,
            "chengxin_http_request_duration_seconds",
            "chengxin_http_request_duration_seconds_bucket",
            seal_ok.clone(),
        );
        assert!(buckets.windows(2).all(|w| w[0] <= w[1]), "{buckets:?}");
        let count = one(
            "chengxin_http_request_duration_seconds",
            "chengxin_http_request_duration_seconds_count",
            seal_ok,
        );
        assert_eq!(buckets.last(), Some(&count));

        assert_eq!(
            one(
                "chengxin_certificates_issued",
                "chengxin_certificates_issued_total",
                json!({})
            ),
            1.0,
            "{backend:?}"
        );
        assert_eq!(
            one(
                "chengxin_revocations",
                "chengxin_revocations_total",
                json!({"reason": "cessationOfOperation"})
            ),
            1.0
        );
        assert_eq!(
            one(
                "chengxin_certificate_holds",
                "chengxin_certificate_holds_total",
                json!({})
            ),
            1.0
        );
        assert!(
            one(
                "chengxin_verifications",
                "chengxin_verifications_total",
                json!({"method": "dns-txt", "verdict": "pass"})
            ) >= 1.0
        );
        assert_eq!(
            values(
                &families,
                "chengxin_reverifications",
                "chengxin_reverifications_total",
                json!({"method": "dns-txt"})
            )
            .iter()
            .sum::<f64>(),
            1.0
        );
        assert!(
            one(
                "chengxin_seal_render_cache_hits",
                "chengxin_seal_render_cache_hits_total",
                json!({})
            ) >= 1.0
        );
        assert!(
            one(
                "chengxin_seal_render_cache_misses",
                "chengxin_seal_render_cache_misses_total",
                json!({})
            ) >= 1.0
        );
        for kind in ["pki.refresh", "mail"] {
            let queued = one(
                "chengxin_jobs_queued",
                "chengxin_jobs_queued",
                json!({ "kind": kind }),
            );
            assert!(queued >= 1.0, "{backend:?} {kind}");
        }
        assert!(
            values(
                &families,
                "chengxin_job_failures",
                "chengxin_job_failures_total",
                json!({"kind": "mail"})
            )
            .iter()
            .sum::<f64>()
                >= 1.0,
            "{backend:?}"
        );
        let age = one(
            "chengxin_jobs_oldest_due_age_seconds",
            "chengxin_jobs_oldest_due_age_seconds",
            json!({}),
        );
        assert!((0.0..3600.0).contains(&age), "{age} {:?} {}", families["chengxin_jobs_due"], d.sql("SELECT id, kind, run_at, attempts, locked_until, last_error FROM jobs WHERE done_at IS NULL"));
        let in_use = one(
            "chengxin_db_connections",
            "chengxin_db_connections",
            json!({"state": "in_use"}),
        );
        let idle = one(
            "chengxin_db_connections",
            "chengxin_db_connections",
            json!({"state": "idle"}),
        );
        assert!(
            in_use + idle >= 1.0 && in_use + idle <= 16.0,
            "{in_use} {idle}"
        );
        assert!(
            one(
                "chengxin_db_commit_seconds",
                "chengxin_db_commit_seconds_count",
                json!({})
            ) >= 1.0
        );
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        let crl_ages = values(
            &families,
            "chengxin_crl_age_seconds",
            "chengxin_crl_age_seconds",
            json!({}),
        );
        assert!(!crl_ages.is_empty());
        assert!(
            crl_ages.iter().all(|a| (0.0..8.0 * 86_400.0).contains(a)),
            "{crl_ages:?}"
        );
        let ocsp = one(
            "chengxin_ocsp_earliest_next_update_timestamp_seconds",
            "chengxin_ocsp_earliest_next_update_timestamp_seconds",
            json!({}),
        );
        assert!(ocsp > now && ocsp < now + 8.0 * 86_400.0, "{ocsp} vs {now}");
    }
}
