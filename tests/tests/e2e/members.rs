//! Members from the command line (`member add`, `user add --role member`), and the
//! running server's exchange feed: a warning staff publish reaches a member's signed
//! page within seconds (the server projects the audit log every second), signed with
//! the key `/.well-known/jwks.json` publishes.

use std::process::Command;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use std::time::{Duration, Instant};

use testkit::{Backend, bin, run};

use crate::{Deployment, http};

#[test]
fn members_added_on_the_command_line_read_the_running_server_s_signed_feed() {
    for backend in Backend::all() {
        let d = Deployment::new(backend);
        d.ca(&["init"]).ok();
        let cli = |args: &[&str]| {
            let mut cmd = Command::new(bin("badge-server"));
            d.env(&mut cmd);
            run(cmd.args(args))
        };
        let added = cli(&[
            "member",
            "add",
            "--name",
            "晨曦数智科技有限公司",
            "--uscc",
            "91110108MA04T7K21H",
        ])
        .ok();
        let member = added.stdout.lines().last().unwrap().to_string();
        assert!(
            member.starts_with("m_") && member.len() == 14,
            "{}",
            added.stdout
        );
        let again = cli(&[
            "member",
            "add",
            "--name",
            "又一个",
            "--uscc",
            "91110108MA04T7K21H",
        ]);
        assert_eq!(again.code, 1);
        assert!(
            again.stderr.contains("is a member already"),
            "{}",
            again.stderr
        );
        let bad = cli(&[
            "member",
            "add",
            "--name",
            "坏",
            "--uscc",
            "91110108MA04T7K21J",
        ]);
        assert_eq!(bad.code, 1);
        assert!(bad.stderr.contains("uscc"), "{}", bad.stderr);
        let tns = cli(&[
            "user",
            "add",
            "--role",
            "member",
            "--member",
            &member,
            "--email",
            "tns@chenxi-shuzhi.cn",
        ])
        .ok();
        let token = tns.stdout.lines().last().unwrap().to_string();
        assert!(token.starts_with("cx_"), "{}", tns.stdout);
        let no_member = cli(&[
            "user",
            "add",
            "--role",
            "member",
            "--email",
            "x@chenxi-shuzhi.cn",
        ]);
        assert_eq!(no_member.code, 1);
        assert!(
            no_member.stderr.contains("--member"),
            "{}",
            no_member.stderr
        );
        let unknown = cli(&[
            "user",
            "add",
            "--role",
            "member",
            "--member",
            "m_nosuchmember",
            "--email",
            "y@chenxi-shuzhi.cn",
        ]);
        assert_eq!(unknown.code, 1);
        assert!(unknown.stderr.contains("no member"), "{}", unknown.stderr);
        let staff = cli(&[
            "user",
            "add",
            "--role",
            "staff",
            "--email",
            "staff@chengxin.test",
        ])
        .ok();
        let staff_token = staff.stdout.lines().last().unwrap().to_string();

        let _server = d.serve();
        let client = http();
        let warned = client
            .post(d.url("/api/v1/warnings"))
            .bearer_auth(&staff_token)
            .json(&serde_json::json!({ "domain": "chenxi-fake.cn", "description": "冒充网站。", "evidence": "seen" }))
            .send()
            .unwrap();
        assert_eq!(warned.status(), 201, "{}", warned.text().unwrap());
        let keys: serde_json::Value = client
            .get(d.url("/.well-known/jwks.json"))
            .send()
            .unwrap()
            .json()
            .unwrap();
        let jwk = keys["keys"][0].clone();
        assert_eq!(jwk["kty"], "EC");
        // The projector runs every second: the warning is on the feed within a few.
        let start = Instant::now();
        let events = loop {
            let r = client
                .get(d.url("/api/v1/exchange/events"))
                .bearer_auth(&token)
                .send()
                .unwrap();
            assert_eq!(r.status(), 200);
            let jws = r.headers()["chengxin-jws"].to_str().unwrap().to_string();
            let body = r.bytes().unwrap();
            assert!(verifies(&jwk, &jws, &body), "{jws}");
            let page: serde_json::Value = serde_json::from_slice(&body).unwrap();
            let events = page["events"].as_array().unwrap().clone();
            if !events.is_empty() || start.elapsed() > Duration::from_secs(10) {
                break events;
            }
            std::thread::sleep(Duration::from_millis(200));
        };
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(events[0]["kind"], "warning.published");
        assert_eq!(events[0]["data"]["domain"], "chenxi-fake.cn");
        // Staff do not read the feed.
        let r = client
            .get(d.url("/api/v1/exchange/events"))
            .bearer_auth(&staff_token)
            .send()
            .unwrap();
        assert_eq!(r.status(), 403);
    }
}

/// A member's check of a page: the body goes back between the JWS's dots (RFC 7515
/// appendix F) and the ES256 signature is checked with the JWK's point.
fn verifies(jwk: &serde_json::Value, jws: &str, body: &[u8]) -> bool {
    let parts: Vec<&str> = jws.split('.').collect();
    let point = |k: &str| B64.decode(jwk[k].as_str().unwrap()).unwrap();
    let key = [vec![4u8], point("x"), point("y")].concat();
    let input = format!("{}.{}", parts[0], B64.encode(body));
    parts.len() == 3
        && parts[1].is_empty()
        && ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_FIXED, key)
            .verify(input.as_bytes(), &B64.decode(parts[2]).unwrap())
            .is_ok()
}
