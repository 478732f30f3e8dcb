//! Configuration and the command line: every setting the README shows, and secrets kept
//! out of `--help`, other users' reach and the log.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use testkit::{Backend, Child, bin, run};

use crate::{Deployment, PASSPHRASE, http, quick_queue, sql, wait_for_job};

/// Every setting the README shows with a value — `CHENGXIN_NAME=value`, and
/// `` `CHENGXIN_NAME` (default) `` where the default is a number or a list of numbers —
/// in the order shown, without repeats.
fn settings_shown(text: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("CHENGXIN_") {
        let after = &rest[i..];
        let len = after
            .find(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
            .unwrap_or(after.len());
        let (name, tail) = after.split_at(len);
        let value = if let Some(v) = tail.strip_prefix('=') {
            Some(match v.chars().next() {
                Some(q @ ('\'' | '"')) => v[1..].split(q).next().unwrap_or_default(),
                _ => v
                    .split(|c: char| c.is_whitespace() || c == '`')
                    .next()
                    .unwrap_or_default(),
            })
        } else {
            tail.strip_prefix('`')
                .map(str::trim_start)
                .and_then(|t| t.strip_prefix('('))
                .and_then(|t| t.split(')').next())
                .filter(|v| !v.is_empty() && v.chars().all(|c| c.is_ascii_digit() || c == ','))
        };
        if let Some(v) = value {
            let pair = (name.to_string(), v.to_string());
            if !out.contains(&pair) {
                out.push(pair);
            }
        }
        rest = tail;
    }
    out
}

/// The README says how to configure the server; every value it shows must be taken as
/// shown. `CHENGXIN_AUTO_APPROVE=1` made the server refuse to start (`invalid value
/// '1' for '--auto-approve'`). The server is started with each value in turn (over a
/// working base configuration) and must answer `/healthz`. Values that name things
/// outside this machine work as shown (nothing is contacted at start); placeholders get
/// a local stand-in of the same shape: the passphrase file, and a SoftHSM2 token for
/// the PKCS#11 key.
#[test]
fn every_setting_the_readme_shows_is_accepted_as_shown() {
    let readme = std::fs::read_to_string(testkit::workspace_root().join("README.md")).unwrap();
    let shown = settings_shown(&readme);
    assert!(
        shown.contains(&("CHENGXIN_AUTO_APPROVE".into(), "1".into())),
        "{shown:?}"
    );
    let d = Deployment::new(Backend::Sqlite);
    d.ca(&["init"]).ok();
    let hsm = Deployment::new(Backend::Sqlite);
    let (conf, module) = testkit::softhsm_token(hsm.dir.path());
    let pkcs11 = format!("module={module};token=chengxin;key=issuing");
    let hsm_env = [
        ("SOFTHSM2_CONF", conf.display().to_string()),
        ("CHENGXIN_CA_PKCS11", pkcs11),
        ("CHENGXIN_CA_PKCS11_PIN", "123456".to_string()),
    ];
    let mut init = Command::new(bin("ca"));
    hsm.env(&mut init);
    for (k, v) in &hsm_env {
        init.env(k, v);
    }
    run(init.arg("init")).ok();
    let passphrase = d.path("passphrase");
    std::fs::write(&passphrase, PASSPHRASE).unwrap();
    std::fs::set_permissions(
        &passphrase,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    for (name, value) in &shown {
        let (deployment, env): (&Deployment, Vec<(&str, String)>) = match name.as_str() {
            "CHENGXIN_CA_PASSPHRASE_FILE" => (&d, vec![(name, passphrase.display().to_string())]),
            "CHENGXIN_CA_PKCS11" => (&hsm, hsm_env.to_vec()),
            _ => {
                assert!(
                    !value.contains('…'),
                    "{name}={value} is a placeholder: give it a local stand-in here"
                );
                (&d, vec![(name, value.clone())])
            }
        };
        let _server = deployment.serve_with(&env);
        let health = http().get(deployment.url("/healthz")).send().unwrap();
        assert_eq!(health.status(), 200, "{name}={value}");
    }
}

/// Secrets stay where they are: `--help` shows no environment value (it printed the
/// SMTP URL with its password and the database URL); the SQLite file, which holds
/// webhook secrets, is readable by its owner only (it was 0644); a passphrase file
/// others can read is refused; and no reset link or token reaches the log, even at
/// debug level and without SMTP (development).
#[test]
fn secrets_stay_out_of_help_text_other_users_reach_and_the_log() {
    let secret_env = [
        (
            "CHENGXIN_SMTP_URL",
            "smtps://mailer:smtp-s3cret@smtp.example.cn",
        ),
        (
            "CHENGXIN_DATABASE_URL",
            "postgres://chengxin:db-s3cret@db.example.cn/chengxin",
        ),
        (
            "CHENGXIN_ICP_PROVIDER",
            "miit:https://key:icp-s3cret@icp.example.cn",
        ),
    ];
    for (binary, args) in [
        ("badge-server", vec!["serve", "--help"]),
        ("badge-server", vec!["--help"]),
        ("ca", vec!["--help"]),
        ("verifier", vec!["check", "--help"]),
    ] {
        let mut cmd = Command::new(bin(binary));
        cmd.args(&args).envs(secret_env);
        let out = run(&mut cmd).ok().stdout;
        assert!(!out.contains("s3cret"), "{binary} {args:?}:\n{out}");
    }

    let d = Deployment::new(Backend::Sqlite);
    d.ca(&["init"]).ok();
    let open = d.path("open-passphrase");
    std::fs::write(&open, PASSPHRASE).unwrap();
    std::fs::set_permissions(&open, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let mut cmd = Command::new(bin("badge-server"));
    d.env(&mut cmd);
    let mut refused = Child(
        cmd.arg("serve")
            .env("CHENGXIN_CA_PASSPHRASE_FILE", &open)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let started = Instant::now();
    let status = loop {
        if let Some(status) = refused.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the server started with a passphrase file others can read"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(!status.success());
    let mut said = String::new();
    std::io::Read::read_to_string(&mut refused.0.stderr.take().unwrap(), &mut said).unwrap();
    assert!(said.contains("readable by other users"), "{said}");

    let _server = d.serve_with(&quick_queue(&[("RUST_LOG", "debug".into())]));
    let db = d.db_url.strip_prefix("sqlite://").unwrap();
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(db).unwrap().permissions());
    assert_eq!(mode & 0o077, 0, "the database file is {mode:o}");
    // A reset mail queued (without SMTP it is logged), and a reset page opened with a token.
    let mut add = Command::new(bin("badge-server"));
    d.env(&mut add);
    run(add.args([
        "user",
        "add",
        "--role",
        "staff",
        "--email",
        "staff@chengxin.test",
    ]))
    .ok();
    let id: i64 = sql(&d, "SELECT MAX(id) FROM jobs WHERE kind = 'mail'")
        .trim()
        .parse()
        .unwrap();
    wait_for_job(&d, id, 10, "done", |s| s.2);
    http()
        .get(d.url("/password/reset?token=t0ken-in-the-url-s3cret"))
        .send()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let log = std::fs::read_to_string(d.path("server.log")).unwrap();
    assert!(
        log.contains("staff@chengxin.test"),
        "the mail is logged:\n{log}"
    );
    assert!(
        log.contains("token=[redacted]"),
        "the link is logged redacted:\n{log}"
    );
    assert_eq!(
        log.matches("token=").count(),
        log.matches("token=[redacted]").count(),
        "a link with its token in the log:\n{log}"
    );
    assert!(
        !log.contains("s3cret"),
        "a token from a URL in the log:\n{log}"
    );
}
