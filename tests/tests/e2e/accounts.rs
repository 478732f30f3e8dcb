//! Accounts from the command line (`token create`, `user add`) and the API's bearer tokens
//! and the login form over plain HTTP. Registration in a browser is in [`crate::browser`].

use std::process::Command;

use testkit::{Backend, bin, run};

use crate::{Deployment, http, mailed_link, url_after};

#[test]
fn a_token_created_on_the_command_line_identifies_its_account_and_nothing_else_does() {
    for backend in Backend::all() {
        let d = Deployment::new(backend);
        d.ca(&["init"]).ok();
        let token_create = |args: &[&str]| {
            let mut cmd = Command::new(bin("badge-server"));
            d.env(&mut cmd);
            run(cmd.args(["token", "create"]).args(args))
        };
        let created = token_create(&["--role", "operator", "--email", "Ops@Chenxi-Shuzhi.cn"]).ok();
        let token = created.stdout.lines().last().unwrap().to_string();
        assert!(token.starts_with("cx_") && token.len() == 46, "{token}");
        let second = token_create(&["--role", "operator", "--email", "ops@chenxi-shuzhi.cn"]).ok();
        assert_ne!(
            second.stdout.lines().last().unwrap(),
            token,
            "every call makes a new token"
        );

        let other_role = token_create(&["--role", "staff", "--email", "ops@chenxi-shuzhi.cn"]);
        assert_eq!(other_role.code, 1);
        assert!(
            other_role
                .stderr
                .contains("already exists with the operator role"),
            "{}",
            other_role.stderr
        );
        let bad_role = token_create(&["--role", "root", "--email", "x@chenxi-shuzhi.cn"]);
        assert_eq!(bad_role.code, 1);
        assert!(
            bad_role.stderr.contains("unknown role"),
            "{}",
            bad_role.stderr
        );
        let bad_email = token_create(&["--role", "user", "--email", "not-an-address"]);
        assert_eq!(bad_email.code, 1);
        assert!(
            bad_email.stderr.contains("invalid e-mail address"),
            "{}",
            bad_email.stderr
        );

        let _server = d.serve();
        let client = http();
        let me: serde_json::Value = client
            .get(d.url("/api/v1/me"))
            .bearer_auth(&token)
            .send()
            .unwrap()
            .json()
            .unwrap();
        assert_eq!(me["email"], "ops@chenxi-shuzhi.cn");
        assert_eq!(me["role"], "operator");
        let anonymous = client.get(d.url("/api/v1/me")).send().unwrap();
        assert_eq!(anonymous.status(), 401);
        assert_eq!(anonymous.headers()["www-authenticate"], "Bearer");
        let mut forged = token.clone();
        forged.replace_range(10..11, if &token[10..11] == "A" { "B" } else { "A" });
        assert_eq!(
            client
                .get(d.url("/api/v1/me"))
                .bearer_auth(&forged)
                .send()
                .unwrap()
                .status(),
            401
        );
        assert_eq!(
            client
                .get(d.url("/api/v1/me"))
                .header("authorization", "Basic Zm9vOmJhcg==")
                .send()
                .unwrap()
                .status(),
            401
        );
    }
}

/// `application/x-www-form-urlencoded` encoding of one value.
fn form_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Logs in through the login form over plain HTTP, as a browser without JavaScript
/// would: the session cookie of the login page, its CSRF token, our own Origin.
/// Returns the status, the Location and the new session cookie.
pub(crate) fn form_login(d: &Deployment, email: &str, password: &str) -> (u16, String, String) {
    let client = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let page = client.get(d.url("/login")).send().unwrap();
    let cookie = |r: &reqwest::blocking::Response| {
        r.headers()
            .get("set-cookie")
            .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_string())
            .unwrap_or_default()
    };
    let anonymous = cookie(&page);
    let html = page.text().unwrap();
    let csrf = url_after(&html, "name=\"csrf\" value=\"")
        .trim_end_matches('>')
        .trim_end_matches('"')
        .to_string();
    let r = client
        .post(d.url("/login"))
        .header("cookie", &anonymous)
        .header("origin", d.url(""))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "csrf={}&email={}&password={}",
            form_encode(&csrf),
            form_encode(email),
            form_encode(password)
        ))
        .send()
        .unwrap();
    let location = r
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (r.status().as_u16(), location, cookie(&r))
}

#[test]
fn user_add_prints_a_working_token_last_and_a_password_file_lets_the_account_log_in() {
    for backend in Backend::all() {
        let d = Deployment::new(backend);
        d.ca(&["init"]).ok();
        let user_add = |args: &[&str]| {
            let mut cmd = Command::new(bin("badge-server"));
            d.env(&mut cmd);
            run(cmd.args(["user", "add"]).args(args))
        };
        let password_file = d.path("staff-password");
        std::fs::write(&password_file, "a staff passphrase 2026\n").unwrap();
        let staff = user_add(&[
            "--role",
            "staff",
            "--email",
            "Reviewer@Seal.test",
            "--password-file",
            password_file.to_str().unwrap(),
        ])
        .ok();
        let staff_token = staff.stdout.lines().last().unwrap().to_string();
        assert!(staff_token.starts_with("cx_"), "{}", staff.stdout);
        // Without a password file: a mail with a link to set one.
        let operator = user_add(&["--role", "operator", "--email", "ops@chenxi-shuzhi.cn"]).ok();
        let operator_token = operator.stdout.lines().last().unwrap().to_string();
        // The same address again, with another role: the role changes.
        let promoted = user_add(&["--role", "admin", "--email", "ops@chenxi-shuzhi.cn"]).ok();
        let admin_token = promoted.stdout.lines().last().unwrap().to_string();
        let weak = user_add(&[
            "--role",
            "user",
            "--email",
            "weak@seal.test",
            "--password-file",
            password_file.with_file_name("missing").to_str().unwrap(),
        ]);
        assert_eq!(weak.code, 1);
        assert!(weak.stderr.contains("cannot read"), "{}", weak.stderr);
        let bad_role = user_add(&["--role", "root", "--email", "x@seal.test"]);
        assert_eq!(bad_role.code, 1);
        assert!(
            bad_role.stderr.contains("unknown role"),
            "{}",
            bad_role.stderr
        );

        let _server = d.serve();
        let client = http();
        let me = |token: &str| -> serde_json::Value {
            client
                .get(d.url("/api/v1/me"))
                .bearer_auth(token)
                .send()
                .unwrap()
                .json()
                .unwrap()
        };
        assert_eq!(me(&staff_token)["email"], "reviewer@seal.test");
        assert_eq!(me(&staff_token)["role"], "staff");
        assert_eq!(me(&operator_token)["role"], "admin");
        assert_eq!(me(&admin_token)["email"], "ops@chenxi-shuzhi.cn");

        let (status, location, cookie) =
            form_login(&d, "reviewer@seal.test", "a staff passphrase 2026");
        assert_eq!(
            (status, location.as_str()),
            (303, "/account"),
            "{backend:?}"
        );
        let console = client
            .get(d.url("/console"))
            .header("cookie", &cookie)
            .send()
            .unwrap();
        assert_eq!(console.status(), 200);
        assert!(console.text().unwrap().contains("reviewer@seal.test"));
        // The account without a password cannot log in until it follows its link.
        let (status, _, _) = form_login(&d, "ops@chenxi-shuzhi.cn", "a staff passphrase 2026");
        assert_eq!(status, 401);
        let link = mailed_link(&d, "ops@chenxi-shuzhi.cn", "/password/reset?token=");
        assert_eq!(client.get(&link).send().unwrap().status(), 200);
    }
}
