//! `badge-server report build` as an operator runs it: a seeded quarter published
//! with its PDF, the same command again says `unchanged`, and a period not over or
//! misspelt is refused with a message (exit 1) and stores nothing.

use std::process::Command;

use testkit::{Backend, bin, run};

use crate::Deployment;

fn report(d: &Deployment, period: &str) -> testkit::Run {
    let mut cmd = Command::new(bin("badge-server"));
    d.env(&mut cmd);
    run(cmd.args(["report", "build", "--period", period]))
}

#[test]
fn the_report_command_publishes_a_quarter_once_and_refuses_what_is_not_a_closed_period() {
    let d = Deployment::new(Backend::Sqlite);
    d.ca(&["init"]).ok();
    // Seven fraud warnings published in 2026-Q3 (2026-08-01 Beijing time), by staff.
    d.token("staff", "staff@seal.test");
    for i in 0..7 {
        d.sql(&format!(
            "INSERT INTO fraud_warnings (domain, description, evidence, created_by, published_at) \
             SELECT 'fake{i}.example', 'd', 'e', id, 1785513600 FROM accounts LIMIT 1"
        ));
    }
    let first = report(&d, "2026-Q3").ok();
    eprintln!("{}{}", first.stdout, first.stderr);
    let last = first.stdout.lines().last().unwrap();
    assert_eq!(last, "published 2026-Q3 (HTML, PDF, JSON, CSV)");
    let json_text: String = first
        .stdout
        .lines()
        .take_while(|l| !l.starts_with("published"))
        .collect::<Vec<_>>()
        .join("\n");
    let figures: serde_json::Value = serde_json::from_str(&json_text).unwrap();
    assert_eq!(figures["warnings_published"], 7);
    assert_eq!(figures["applications"], "<5");

    let again = report(&d, "2026-Q3").ok();
    assert_eq!(
        again.stdout.lines().last().unwrap(),
        "unchanged 2026-Q3 (HTML, PDF, JSON, CSV)"
    );

    for (period, says) in [
        ("2099-Q1", "2099-Q1 is not over"),
        ("2026-Q5", "YYYY-Qn"),
        ("Q3", "YYYY-MM"),
    ] {
        let r = report(&d, period);
        assert_eq!(r.code, 1, "{period}: {}{}", r.stdout, r.stderr);
        assert!(r.stderr.contains(says), "{period}: {}", r.stderr);
    }
    assert_eq!(d.sql("SELECT COUNT(*) FROM reports").trim(), "1");
}
