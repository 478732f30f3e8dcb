//! `badge-server serve --demo`, the README's first command: on a fresh machine (no
//! database, no CA) it certifies two demo sites through the real flow and prints
//! where to look; those URLs are fetched as a browser would. On a database with a
//! real site it refuses and writes nothing.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use testkit::{Backend, Child, bin};

use crate::accounts::form_login;
use crate::{Deployment, http, url_after};

/// Seconds the demo may take to print its last line (a dev CA, two issuances).
const PRINTED_WITHIN: u64 = 90;

/// The value printed after `label` (`label: value`), the first such line.
fn printed<'a>(lines: &'a [String], label: &str) -> Vec<&'a str> {
    lines
        .iter()
        .filter_map(|l| l.trim_start().strip_prefix(label))
        .map(|v| v.trim_start_matches(':').trim())
        .map(|v| v.split_whitespace().next().unwrap_or_default())
        .collect()
}

/// The seal's `<title>`: what it says, e.g. "诚信 · 网站身份已验证 / …".
fn seal_title(client: &reqwest::blocking::Client, url: &str, referer: &str) -> String {
    let svg = client
        .get(url)
        .header("referer", referer)
        .send()
        .unwrap()
        .text()
        .unwrap();
    let start = svg.find("<title>").unwrap_or_else(|| panic!("{svg}")) + "<title>".len();
    svg[start..start + svg[start..].find("</title>").unwrap()].to_string()
}

/// `scheme://host:port/` of a URL: what a page with `strict-origin` sends as Referer.
fn origin(url: &str) -> String {
    let rest = url.split_once("://").unwrap().1;
    format!("http://{}/", rest.split('/').next().unwrap())
}

#[test]
fn serve_demo_on_a_fresh_machine_prints_pages_whose_seals_and_login_work() {
    for backend in Backend::all() {
        demo_on_a_fresh_database(backend);
    }
}

/// On SQLite, the README's command in an empty directory: the embedded defaults,
/// nothing else. On PostgreSQL, the same with a fresh database named.
fn demo_on_a_fresh_database(backend: Backend) {
    let d = Deployment::new(backend);
    let db_url = match backend {
        Backend::Sqlite => format!("sqlite://{}", d.path("data/chengxin.db").display()),
        Backend::Postgres => d.db_url.clone(),
    };
    let command = || {
        let mut cmd = Command::new(bin("badge-server"));
        for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("CHENGXIN_")) {
            cmd.env_remove(k);
        }
        if backend == Backend::Postgres {
            cmd.env("CHENGXIN_DATABASE_URL", &d.db_url);
        }
        cmd.current_dir(d.dir.path())
            .env("CHENGXIN_LISTEN", format!("127.0.0.1:{}", d.port))
            .env("CHENGXIN_PUBLIC_URL", d.url(""));
        cmd
    };
    let mut cmd = command();
    let log = std::fs::File::create(d.path("server.log")).unwrap();
    let child = cmd
        .args(["serve", "--demo"])
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .unwrap();
    let mut child = Child(child);
    let stdout = child.0.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if tx.send(line.unwrap_or_default()).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    while !lines
        .iter()
        .any(|l: &String| l.trim_start().starts_with("password:"))
    {
        match rx.recv_timeout(Duration::from_secs(PRINTED_WITHIN)) {
            Ok(line) => lines.push(line),
            Err(_) => panic!(
                "serve --demo printed only {lines:?}\n{}",
                std::fs::read_to_string(d.path("server.log")).unwrap_or_default()
            ),
        }
    }
    let pages = printed(&lines, "demo page:");
    let certs = printed(&lines, "certificate page:");
    let copycat = printed(&lines, "copycat page:");
    let (email, password) = (printed(&lines, "email:"), printed(&lines, "password:"));
    assert_eq!(
        (pages.len(), certs.len(), copycat.len()),
        (2, 2, 1),
        "{lines:?}"
    );
    assert!(password[0].len() >= 12, "{lines:?}");
    // Nothing but the demo sites, and they are marked.
    let marked = "SELECT count(*), count(*) FILTER (WHERE demo) FROM sites";
    let census = match backend {
        Backend::Sqlite => testkit::sqlite3(&db_url, marked),
        Backend::Postgres => testkit::psql(&db_url, marked),
    };
    assert_eq!(census.trim(), "2|2", "{backend:?}");

    // The visitor's browser resolves *.localhost to loopback itself (RFC 6761); the
    // client here is told so, as reqwest does not.
    let demo_port: u16 = url_after(pages[0], "localhost:")
        .trim_end_matches('/')
        .parse()
        .unwrap();
    let loopback = std::net::SocketAddr::from(([127, 0, 0, 1], demo_port));
    let host = |url: &str| {
        url.split_once("://")
            .unwrap()
            .1
            .split(':')
            .next()
            .unwrap()
            .to_string()
    };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::blocking::Client::builder()
        .pool_max_idle_per_host(0)
        .resolve(&host(pages[0]), loopback)
        .resolve(&host(pages[1]), loopback)
        .resolve(&host(copycat[0]), loopback)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let img_src = |html: &str| {
        url_after(html, "<img src=\"")
            .split('"')
            .next()
            .unwrap()
            .to_string()
    };
    for (page, cert) in pages.iter().zip(&certs) {
        let html = client.get(*page).send().unwrap().text().unwrap();
        assert!(
            html.contains("id=\"demo-banner\"") && html.contains("演示 Demo"),
            "{html}"
        );
        assert!(html.contains(&format!("href=\"{cert}\"")), "{html}");
        let title = seal_title(&client, &img_src(&html), &origin(page));
        assert!(
            title.contains("网站身份已验证") && !title.contains("非本站"),
            "{page}: {title}"
        );
        // The certificate page says it is demo data, first.
        let cert_html = http().get(*cert).send().unwrap().text().unwrap();
        let banner = cert_html
            .find("id=\"demo-banner\"")
            .unwrap_or_else(|| panic!("{cert_html}"));
        assert!(banner < cert_html.find("id=\"status\"").unwrap());
        assert!(cert_html[banner..].contains("演示 Demo"));
    }

    // Every page of the demo server says it shows demonstration data.
    for path in ["/", "/archive", "/login"] {
        let html = http().get(d.url(path)).send().unwrap().text().unwrap();
        assert!(html.contains("id=\"demo-mode\""), "{path}: {html}");
    }

    // The copycat page embeds the first site's seal; shown there it is refused.
    let html = client.get(copycat[0]).send().unwrap().text().unwrap();
    assert!(html.contains("id=\"demo-banner\""), "{html}");
    let title = seal_title(&client, &img_src(&html), &origin(copycat[0]));
    assert!(title.contains("非本站认证"), "{title}");
    // The same seal on the demo site's own page is not (the first fetch was no fluke).
    assert!(seal_title(&client, &img_src(&html), &origin(pages[0])).contains("网站身份已验证"));

    // The printed staff account logs in with the printed password, and no other.
    let (status, location, cookie) = form_login(&d, email[0], password[0]);
    assert_eq!((status, location.as_str()), (303, "/account"), "{lines:?}");
    let console = http()
        .get(d.url("/console"))
        .header("cookie", &cookie)
        .send()
        .unwrap();
    assert_eq!(console.status(), 200);
    let (status, _, _) = form_login(&d, email[0], "not-the-printed-password");
    assert_eq!(status, 401);

    // The demo database is not served as a real one.
    drop(child);
    let out = exit_within(&d, command().arg("serve"), REFUSED_WITHIN);
    assert_ne!(out.code, 0, "{backend:?}: {out:?}");
    assert!(
        out.stderr.contains("2 demonstration site(s)"),
        "{backend:?}: {}",
        out.stderr
    );
}

/// Seconds a refused `serve --demo` may take to exit.
const REFUSED_WITHIN: u64 = 30;

/// Runs `cmd` to its end, its output in files; a process still running after
/// `secs` seconds (a server that was not refused) is killed and the test fails.
fn exit_within(d: &Deployment, cmd: &mut Command, secs: u64) -> testkit::Run {
    let (out, err) = (d.path("refused.out"), d.path("refused.err"));
    let mut child = Child(
        cmd.stdout(std::fs::File::create(&out).unwrap())
            .stderr(std::fs::File::create(&err).unwrap())
            .spawn()
            .unwrap(),
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    let status = loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still running after {secs} s:\n{}",
            std::fs::read_to_string(&out).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    testkit::Run {
        code: status.code().unwrap_or(-1),
        stdout: std::fs::read_to_string(&out).unwrap(),
        stderr: std::fs::read_to_string(&err).unwrap(),
    }
}

/// Rows of the tables a demo run would write, and the audit chain's length.
fn census(d: &Deployment) -> String {
    d.sql(
        "SELECT (SELECT count(*) FROM sites), (SELECT count(*) FROM accounts), \
         (SELECT count(*) FROM applications), (SELECT count(*) FROM certificates), \
         (SELECT count(*) FROM audit_log), (SELECT count(*) FROM jobs)",
    )
}

#[test]
fn serve_demo_on_a_database_with_a_real_site_is_refused_and_changes_nothing() {
    for backend in Backend::all() {
        let d = Deployment::new(backend);
        let (server, _site) = d.certified_chenxi();
        drop(server);
        let before = census(&d);
        let mut cmd = Command::new(bin("badge-server"));
        d.env(&mut cmd);
        let out = exit_within(&d, cmd.args(["serve", "--demo"]), REFUSED_WITHIN);
        assert_ne!(out.code, 0, "{backend:?}: {out:?}");
        assert!(
            out.stderr.contains("--demo refused") && out.stderr.contains("1 real site"),
            "{backend:?}: {}",
            out.stderr
        );
        assert!(!out.stdout.contains("demo page"), "{}", out.stdout);
        assert_eq!(census(&d), before, "{backend:?}");
        assert!(!d.path("demo-icp.jsonl").exists());
    }
}
