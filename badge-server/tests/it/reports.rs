//! The anti-fraud work report: every figure against a database seeded with known
//! events inside and just outside a quarter; a rebuild gives the same bytes and a
//! changed closed period is refused; the page, JSON, CSV and the PDF (read back by
//! poppler's `pdftotext`); periods not over and bad names.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use badge_server::domain::account::{Email, Role};
use badge_server::domain::report::Period;
use badge_server::service::reports::{self, Outcome};
use testkit::Backend;

use crate::accounts::TestApp;

async fn get(t: &TestApp, path: &str) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let (s, h, b) = t
        .call(Request::get(path).body(Body::empty()).unwrap())
        .await;
    (s, h, b.to_vec())
}

/// A complaint seeded: category, filed, answered, decided, deadline.
type SeededComplaint = (&'static str, i64, Option<i64>, Option<i64>, i64);

/// Seeds 2026-Q3 (and its edges) with known events; returns the quarter.
async fn seed(t: &TestApp) -> Period {
    let q = Period::parse("2026-Q3").unwrap();
    let (s, e) = (q.start(), q.end());
    let day = |k: i64| s + 86_400 * k;
    let db = &t.state.db;
    let staff = badge_server::store::accounts::ensure(
        db,
        &Email::parse("staff@seal.test").unwrap(),
        Role::Staff,
    )
    .await
    .unwrap();
    let user = badge_server::store::accounts::ensure(
        db,
        &Email::parse("user@example.cn").unwrap(),
        Role::User,
    )
    .await
    .unwrap();
    // Applications: 6 inside, one a second before and one at the end (outside).
    for (i, at) in [day(0), day(1), day(2), day(3), day(4), e - 1, s - 1, e]
        .into_iter()
        .enumerate()
    {
        t.exec(&format!(
            "INSERT INTO applications (id, account_id, status, organization, uscc, icp, province, city, \
             domains, token, created_at, updated_at) VALUES ('app_r{i}', {}, 'pending', 'Org', \
             '91110108MA04T7K21H', '京ICP备2024018653号-1', '北京市', '市辖区', '[]', 'tok', {at}, {at})",
            user.id
        ))
        .await;
    }
    // The audit chain: 7 issuances, 2 holds, 5 keyCompromise, 1 superseded inside; one of
    // each outside. (Rows of their own: the chain's hashes are not what is counted.)
    let mut seq = 1_000_000;
    let mut audit = |action: &str, details: &str, at: i64| {
        seq += 1;
        format!(
            "INSERT INTO audit_log (seq, at, actor, action, subject, details, prev_hash, hash) \
             VALUES ({seq}, {at}, 'test', '{action}', 'x', '{details}', X'00', X'00')"
        )
    };
    let mut rows = Vec::new();
    for k in 0..7 {
        rows.push(audit("certificate.issue", "{}", day(k)));
    }
    rows.push(audit("certificate.issue", "{}", s - 10));
    for k in 0..2 {
        rows.push(audit(
            "certificate.revoke",
            r#"{"reason":"certificateHold"}"#,
            day(k),
        ));
    }
    for k in 0..5 {
        rows.push(audit(
            "certificate.revoke",
            r#"{"reason":"keyCompromise"}"#,
            day(k),
        ));
    }
    rows.push(audit(
        "certificate.revoke",
        r#"{"reason":"superseded"}"#,
        day(9),
    ));
    rows.push(audit(
        "certificate.revoke",
        r#"{"reason":"keyCompromise"}"#,
        e,
    ));
    rows.push(audit(
        "certificate.release",
        r#"{"reason":"removeFromCRL"}"#,
        day(3),
    ));
    for sql in rows {
        let sql = match t.state.db.backend() {
            "postgres" => sql.replace("X'00'", "'\\x00'::bytea"),
            _ => sql,
        };
        t.exec(&sql).await;
    }
    // A site to complain about.
    t.exec(&format!(
        "INSERT INTO organizations (name, uscc, province, city, created_at) VALUES \
         ('Org', '91110108MA04T7K21H', '北京市', '市辖区', {s})"
    ))
    .await;
    t.exec(&format!(
        "INSERT INTO sites (id, organization_id, status, icp, created_at, updated_at) \
         SELECT 's_report', id, 'certified', '京ICP备2024018653号-1', {s}, {s} FROM organizations"
    ))
    .await;
    // Complaints: (category, created, answered, decided, deadline).
    let h = 3_600;
    let complaints: [SeededComplaint; 10] = [
        (
            "fraud",
            day(1),
            Some(day(1) + h),
            Some(day(1) + 10 * h),
            day(6),
        ),
        (
            "fraud",
            day(2),
            Some(day(2) + 2 * h),
            Some(day(2) + 20 * h),
            day(7),
        ),
        (
            "fraud",
            day(3),
            Some(day(3) + 3 * h),
            Some(day(3) + 30 * h),
            day(8),
        ),
        (
            "fraud",
            day(4),
            Some(day(4) + 4 * h),
            Some(day(4) + 40 * h),
            day(9),
        ),
        (
            "fraud",
            day(5),
            Some(day(5) + 5 * h),
            Some(day(5) + 50 * h),
            day(10),
        ),
        ("fraud", day(6), Some(day(20)), None, day(11)),
        ("privacy", day(7), None, None, day(12)),
        ("privacy", day(8), None, None, day(13)),
        // Filed before the quarter, answered and decided inside: counted in the times.
        ("service", s - 2 * h, Some(s + h), None, s - h + 5 * 86_400),
        // Filed after.
        ("fraud", e + 1, None, None, e + 5 * 86_400),
    ];
    for (i, (cat, created, answered, decided, deadline)) in complaints.into_iter().enumerate() {
        let opt = |v: Option<i64>| v.map_or("NULL".to_string(), |v| v.to_string());
        t.exec(&format!(
            "INSERT INTO complaints (id, site_id, complainant_id, category, text, status, deadline_at, \
             answered_at, decided_at, created_at, updated_at) VALUES ('c_r{i}', 's_report', {}, '{cat}', \
             'text', 'submitted', {deadline}, {}, {}, {created}, {created})",
            user.id,
            opt(answered),
            opt(decided)
        ))
        .await;
    }
    // Closing events: 5 upheld, 2 dismissed, 1 withdrawn inside; 1 upheld after.
    for (i, (to, at)) in [
        ("upheld", day(1)),
        ("upheld", day(2)),
        ("upheld", day(3)),
        ("upheld", day(4)),
        ("upheld", day(5)),
        ("dismissed", day(6)),
        ("dismissed", day(7)),
        ("withdrawn", day(8)),
        ("upheld", e),
        ("answered", day(9)),
    ]
    .into_iter()
    .enumerate()
    {
        t.exec(&format!(
            "INSERT INTO complaint_events (complaint_id, at, actor_role, from_status, to_status) \
             VALUES ('c_r{}', {at}, 'staff', 'under_review', '{to}')",
            i % 8
        ))
        .await;
    }
    // Warnings: 5 inside, 1 before.
    for (i, at) in [day(1), day(2), day(3), day(4), day(5), s - 5]
        .into_iter()
        .enumerate()
    {
        t.exec(&format!(
            "INSERT INTO fraud_warnings (domain, description, evidence, created_by, published_at) \
             VALUES ('fake{i}.example', 'd', 'e', {}, {at})",
            staff.id
        ))
        .await;
    }
    // Copied seals: 6 hosts first seen inside (one host copying two sites), 1 before.
    for (site, host, at) in [
        ("s_a", "h1.example", day(1)),
        ("s_b", "h1.example", day(2)),
        ("s_a", "h2.example", day(2)),
        ("s_a", "h3.example", day(3)),
        ("s_a", "h4.example", day(4)),
        ("s_a", "h5.example", day(5)),
        ("s_a", "h6.example", day(6)),
        ("s_a", "h0.example", s - 1),
    ] {
        t.exec(&format!(
            "INSERT INTO seal_copies (site_id, host, first_seen, last_seen, hits) \
             VALUES ('{site}', '{host}', {at}, {at}, 1)"
        ))
        .await;
    }
    // Re-verification: 5 sites with failed checks inside (one twice); an application's
    // failure, a pass and a failure after are not counted.
    for (site, app, verdict, at) in [
        ("'s_1'", "NULL", "fail", day(1)),
        ("'s_1'", "NULL", "fail", day(2)),
        ("'s_2'", "NULL", "fail", day(2)),
        ("'s_3'", "NULL", "fail", day(3)),
        ("'s_4'", "NULL", "fail", day(4)),
        ("'s_5'", "NULL", "fail", day(5)),
        ("NULL", "'app_r1'", "fail", day(5)),
        ("'s_6'", "NULL", "pass", day(5)),
        ("'s_7'", "NULL", "fail", e),
    ] {
        t.exec(&format!(
            "INSERT INTO verification_checks (subject, check_kind, verdict, application_id, site_id, evidence, at) \
             VALUES ('x', 'dns', '{verdict}', {app}, {site}, '{{}}', {at})"
        ))
        .await;
    }
    // Certificates by province: 上海市 6, 北京市 5, 广东省 2 inside; 浙江省 7 after.
    let mut n = 0;
    for (province, count, at) in [
        ("上海市", 6, day(3)),
        ("北京市", 5, day(4)),
        ("广东省", 2, day(5)),
        ("浙江省", 7, e),
    ] {
        for _ in 0..count {
            n += 1;
            let serial = match t.state.db.backend() {
                "postgres" => format!("'\\x7e{n:04x}'::bytea"),
                _ => format!("X'7e{n:04x}'"),
            };
            t.exec(&format!(
                "INSERT INTO certificates (issuer_id, serial, status, organization, uscc, icp, province, city, \
                 domains, not_before, not_after, created_at) SELECT id, {serial}, 'issued', 'Org', \
                 '91110108MA04T7K21H', 'icp', '{province}', 'c', '[]', {at}, {at}, {at} FROM issuers LIMIT 1"
            ))
            .await;
        }
    }
    q
}

/// The figures the seed above must give, every one of them.
const EXPECTED: &str = r#"{
  "period": "2026-Q3",
  "from": "2026-07-01",
  "to": "2026-09-30",
  "applications": 6,
  "certificates_issued": 7,
  "certificates_held": "<5",
  "certificates_revoked": {
    "keyCompromise": 5,
    "superseded": "<5"
  },
  "complaints_by_category": {
    "fraud": 6,
    "privacy": "<5"
  },
  "complaints_by_outcome": {
    "dismissed": "<5",
    "upheld": 5,
    "withdrawn": "<5"
  },
  "median_hours_to_answer": {
    "value": 3.0,
    "cases": 7
  },
  "median_hours_to_decision": {
    "value": 30.0,
    "cases": 5
  },
  "answered_within_deadline": {
    "value": 66.7,
    "cases": 9
  },
  "warnings_published": 5,
  "copied_seal_hosts": 6,
  "reverification_failures": 5,
  "top_provinces": [
    [
      "上海市",
      6
    ],
    [
      "北京市",
      5
    ],
    [
      "广东省",
      "<5"
    ]
  ]
}
"#;

#[tokio::test]
async fn a_quarter_s_report_counts_every_figure_is_immutable_and_is_served_as_page_json_csv_and_pdf()
 {
    for backend in Backend::all() {
        let t = TestApp::new(backend).await;
        let db = &t.state.db;
        let q = seed(&t).await;
        let chromium = t.state.services.chromium.clone();
        assert!(
            chromium.is_some(),
            "Chromium is installed for the tests (.ci/run)"
        );

        // Not over yet: refused, nothing stored.
        let err = reports::build(db, chromium.as_deref(), q, q.end() - 1, "test")
            .await
            .unwrap_err();
        assert!(err.to_string().contains("is not over"), "{err}");
        assert_eq!(
            get(&t, "/reports/2026-Q3.json").await.0,
            StatusCode::NOT_FOUND
        );

        let built = reports::build(db, chromium.as_deref(), q, q.end() + 60, "test")
            .await
            .unwrap();
        assert_eq!(built.outcome, Outcome::Published);
        assert!(built.has_pdf, "{:?}", built.pdf_problem);
        let json = String::from_utf8(built.figures.to_bytes()).unwrap();
        assert_eq!(json, EXPECTED, "{backend:?}");
        assert_eq!(
            t.scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'report.publish' AND subject = '2026-Q3'")
                .await,
            1
        );

        // Rebuilt later: the same bytes, nothing new stored.
        let again = reports::build(db, chromium.as_deref(), q, q.end() + 86_400 * 40, "test")
            .await
            .unwrap();
        assert_eq!(again.outcome, Outcome::Unchanged);
        assert_eq!(again.figures.to_bytes(), built.figures.to_bytes());

        // Served: JSON byte for byte, CSV, page, PDF.
        let (status, headers, body) = get(&t, "/reports/2026-Q3.json").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers[header::CONTENT_TYPE], "application/json");
        assert_eq!(String::from_utf8(body).unwrap(), EXPECTED);
        let (status, _, csv) = get(&t, "/reports/2026-Q3.csv").await;
        assert_eq!(status, StatusCode::OK);
        let csv = String::from_utf8(csv).unwrap();
        for line in [
            "section,key,value",
            "applications,,6",
            "certificates_held,,<5",
            "certificates_revoked,keyCompromise,5",
            "answered_within_deadline_percent,,66.7",
            "top_provinces,上海市,6",
        ] {
            assert!(csv.contains(&format!("{line}\r\n")), "{line}\n{csv}");
        }
        // Read by Python's csv and json modules: every CSV row is one figure of the
        // JSON, the same value.
        assert_eq!(python_cross_check(&csv, EXPECTED), "22 rows agree");
        let (status, _, page) = get(&t, "/reports/2026-Q3").await;
        assert_eq!(status, StatusCode::OK);
        let page = String::from_utf8(page).unwrap();
        for needle in [
            "反网络欺诈工作报告 2026-Q3",
            "<td id=\"f-applications\">6</td>",
            "<td id=\"f-held\">&#60;5</td>",
            "<svg",
            "href=\"/reports/2026-Q3.pdf\"",
        ] {
            assert!(page.contains(needle), "{needle}\n{page}");
        }
        assert!(!page.contains("<script"), "no script on a report page");
        let (status, _, list) = get(&t, "/reports").await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            String::from_utf8(list)
                .unwrap()
                .contains("href=\"/reports/2026-Q3\"")
        );
        let (_, _, home) = get(&t, "/").await;
        assert!(
            String::from_utf8(home)
                .unwrap()
                .contains("href=\"/reports/2026-Q3\"")
        );

        let (status, headers, pdf) = get(&t, "/reports/2026-Q3.pdf").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers[header::CONTENT_TYPE], "application/pdf");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.pdf");
        std::fs::write(&path, &pdf).unwrap();
        let out = std::process::Command::new("pdftotext")
            .arg(&path)
            .arg("-")
            .output()
            .expect("pdftotext (poppler-utils) is installed for the tests (.ci/run)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // Words as read, however the lines were broken.
        let text = String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        for needle in [
            "2026-Q3",
            "Anti-fraud work report",
            "Applications",
            "Certificates issued",
            "66.7%",
            "keyCompromise",
        ] {
            assert!(
                text.contains(needle),
                "{needle:?} not in the PDF's text:\n{text}"
            );
        }

        // Not published, not canonical, not a period: 404.
        for path in [
            "/reports/2026-Q2",
            "/reports/2026-q3",
            "/reports/2026-Q3.exe",
            "/reports/..%2Fetc",
            "/reports/2026-Q3.pdf.json",
        ] {
            assert_eq!(get(&t, path).await.0, StatusCode::NOT_FOUND, "{path}");
        }

        // A closed period's data changed: the rebuild is refused, the report stays.
        t.exec(&format!(
            "DELETE FROM fraud_warnings WHERE published_at >= {} AND published_at < {} AND domain = 'fake0.example'",
            q.start(),
            q.end()
        ))
        .await;
        let err = reports::build(db, chromium.as_deref(), q, q.end() + 86_400 * 50, "test")
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("published with other figures"),
            "{err}"
        );
        assert_eq!(
            get(&t, "/reports/2026-Q3.json").await.2,
            EXPECTED.as_bytes()
        );
    }
}

/// The scheduled job's work publishes the month and the quarter that last ended,
/// once: the second run the same day finds both and does nothing.
#[tokio::test]
async fn the_scheduled_build_publishes_the_last_month_and_quarter_once() {
    let t = TestApp::new(Backend::Sqlite).await;
    let now = Period::parse("2026-10").unwrap().start() + 3_600;
    let built = reports::build_due(&t.state.db, None, now).await.unwrap();
    let periods: Vec<&str> = built.iter().map(|b| b.figures.period.as_str()).collect();
    assert_eq!(periods, ["2026-09", "2026-Q3"]);
    assert!(built.iter().all(|b| !b.has_pdf && b.pdf_problem.is_some()));
    assert!(
        reports::build_due(&t.state.db, None, now + 60)
            .await
            .unwrap()
            .is_empty()
    );
    // Without Chromium the page says why there is no PDF.
    let (_, _, page) = get(&t, "/reports/2026-09").await;
    assert!(String::from_utf8(page).unwrap().contains("id=\"no-pdf\""));
    assert_eq!(
        get(&t, "/reports/2026-09.pdf").await.0,
        StatusCode::NOT_FOUND
    );
}

/// The CSV and the JSON of a report as Python's `csv` and `json` modules read them:
/// "N rows agree", or what disagrees.
fn python_cross_check(csv: &str, json: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("r.csv"), csv).unwrap();
    std::fs::write(dir.path().join("r.json"), json).unwrap();
    let script = r#"
import csv, json, sys
d = sys.argv[1]
rows = list(csv.reader(open(d + "/r.csv", newline="", encoding="utf-8"), strict=True))
j = json.load(open(d + "/r.json", encoding="utf-8"))
assert rows[0] == ["section", "key", "value"], rows[0]
bad = []
def text(v):
    return "" if v is None else str(v)
for section, key, value in rows[1:]:
    if section == "period":
        want = j["period"] if key == "" else j[key]
    elif section == "answered_within_deadline_percent":
        want = j["answered_within_deadline"]["value"]
    elif section.startswith("median_hours"):
        want = (j[section] or {}).get("value")
    elif section == "top_provinces":
        want = dict(j[section]).get(key)
    elif key:
        want = j[section].get(key)
    else:
        want = j[section]
    # Numbers as numbers: the CSV writes 3 where the JSON has 3.0.
    same = float(value) == want if isinstance(want, float) else text(want) == value
    if not same:
        bad.append((section, key, value, want))
print("%d rows agree" % (len(rows) - 1) if not bad else bad)
"#;
    let out = std::process::Command::new("/usr/bin/python3")
        .arg("-c")
        .arg(script)
        .arg(dir.path())
        .output()
        .expect("Debian's python3 is installed (.ci/run)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}
