//! Notifications: the job queue delivering mail over real SMTP and signed webhooks.

use std::process::Command;
use std::time::{Duration, Instant};

use testkit::{Backend, free_port, run};

use crate::{Deployment, http, quick_queue, sql, wait_for_job};

/// An SQL string literal.
fn sql_text(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Inserts a due job the way `queue::enqueue` does; returns its id.
pub(crate) fn insert_job(d: &Deployment, kind: &str, payload: &serde_json::Value) -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    sql(
        d,
        &format!(
            "INSERT INTO jobs (kind, payload, run_at, created_at) VALUES ({}, {}, {now}, {now}) \
             RETURNING id",
            sql_text(kind),
            sql_text(&payload.to_string())
        ),
    )
    .trim()
    .parse()
    .unwrap()
}

#[test]
fn a_mail_with_a_chinese_subject_and_body_reaches_a_real_smtp_server_intact() {
    for backend in Backend::all() {
        let started = Instant::now();
        let d = Deployment::new(backend);
        let sink = testkit::SmtpSink::start();
        d.ca(&["init"]).ok();
        let _server = d.serve_with(&quick_queue(&[
            ("CHENGXIN_SMTP_URL", sink.url()),
            (
                "CHENGXIN_MAIL_FROM",
                "诚信 Chengxin <noreply@chengxin.test>".into(),
            ),
        ]));
        let subject = "【诚信】您的网站 chenxi-shuzhi.cn 收到一条新的投诉（编号 C-0001）";
        let text = "您好：\n\n北京晨曦数智科技有限公司的网站收到投诉，请在 5 日内答复。\n\
                    Reply within 5 days. — 诚信网站认证\n";
        let id = insert_job(
            &d,
            "mail",
            &serde_json::json!({"to": "ops@chenxi-shuzhi.cn", "subject": subject, "text": text}),
        );
        let mails = sink.wait_for(1, 30);
        assert_eq!(mails.len(), 1, "{backend:?}");
        let m = &mails[0];
        assert_eq!(m.subject, subject, "{backend:?}: raw\n{}", m.raw);
        assert_eq!(m.text.replace("\r\n", "\n"), text, "{backend:?}");
        assert_eq!(m.rcpt_tos, vec!["ops@chenxi-shuzhi.cn".to_string()]);
        assert_eq!(m.mail_from, "noreply@chengxin.test");
        assert!(m.from.contains("诚信 Chengxin"), "{}", m.from);
        assert!(
            m.message_id.starts_with(&format!("<job-{id}.")),
            "{}",
            m.message_id
        );
        // The subject travelled as RFC 2047 words: 7-bit clean on the wire.
        let subject_line = m.raw.lines().find(|l| l.starts_with("Subject:")).unwrap();
        assert!(subject_line.is_ascii(), "{subject_line}");
        let (attempts, _, done) = wait_for_job(&d, id, 10, "done", |s| s.2);
        assert_eq!((attempts, done), (1, true));
        eprintln!("{backend:?}: {:?}", started.elapsed());
    }
}

#[test]
fn mail_queued_while_the_smtp_server_is_down_is_retried_with_backoff_and_delivered_when_it_is_up() {
    for backend in Backend::all() {
        let d = Deployment::new(backend);
        let smtp_port = free_port();
        d.ca(&["init"]).ok();
        let _server = d.serve_with(&quick_queue(&[(
            "CHENGXIN_SMTP_URL",
            format!("smtp://127.0.0.1:{smtp_port}"),
        )]));
        let id = insert_job(
            &d,
            "mail",
            &serde_json::json!({"to": "user@example.cn", "subject": "确认您的邮箱", "text": "点击链接确认。"}),
        );
        let (_, error, _) = wait_for_job(&d, id, 20, "two failed attempts", |s| {
            s.0 >= 2 && !s.1.is_empty()
        });
        assert!(error.contains("SMTP"), "{backend:?}: {error}");
        let sink = testkit::SmtpSink::start_on(smtp_port);
        let mails = sink.wait_for(1, 20);
        assert_eq!(mails[0].subject, "确认您的邮箱");
        let (attempts, _, done) = wait_for_job(&d, id, 10, "done", |s| s.2);
        assert!(done && attempts >= 3, "{backend:?}: {attempts}");
        std::thread::sleep(Duration::from_secs(2));
        assert_eq!(sink.messages().len(), 1, "{backend:?}: delivered once");
    }
}

/// One request a [`HookReceiver`] got.
#[derive(Debug, Clone)]
struct Received {
    headers: std::collections::HashMap<String, String>,
    body: Vec<u8>,
}

/// A webhook receiver on loopback: answers the given statuses in turn (then 200) and
/// keeps every request.
struct HookReceiver {
    port: u16,
    requests: std::sync::Arc<std::sync::Mutex<Vec<Received>>>,
}

impl HookReceiver {
    fn start(statuses: Vec<u16>) -> Self {
        use std::io::{BufRead, BufReader, Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = requests.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                let mut headers = std::collections::HashMap::new();
                reader.read_line(&mut line).unwrap();
                headers.insert(":request".to_string(), line.trim().to_string());
                loop {
                    line.clear();
                    if reader.read_line(&mut line).unwrap() == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some((k, v)) = line.split_once(':') {
                        headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
                    }
                }
                let len: usize = headers
                    .get("content-length")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                let mut body = vec![0; len];
                reader.read_exact(&mut body).unwrap();
                let n = {
                    let mut all = seen.lock().unwrap();
                    all.push(Received { headers, body });
                    all.len()
                };
                let status = statuses.get(n - 1).copied().unwrap_or(200);
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} Whatever\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                );
            }
        });
        HookReceiver { port, requests }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/chengxin/events", self.port)
    }

    fn wait_for(&self, n: usize, secs: u64) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let got = self.requests.lock().unwrap().clone();
            if got.len() >= n {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "the receiver got {} of {n} requests in {secs} s",
                got.len()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// What a receiver does: recompute the HMAC over `<id>.<timestamp>.<body>` with the
/// secret, compare in constant time, and refuse timestamps older than 5 minutes.
fn receiver_accepts(secret: &str, r: &Received, now: i64) -> Result<(), String> {
    let id = r.headers.get("chengxin-webhook-id").ok_or("no id")?;
    let ts = r
        .headers
        .get("chengxin-webhook-timestamp")
        .ok_or("no timestamp")?;
    let sig = r
        .headers
        .get("chengxin-webhook-signature")
        .ok_or("no signature")?;
    let ts_num: i64 = ts.parse().map_err(|_| "bad timestamp")?;
    if (now - ts_num).abs() > 300 {
        return Err(format!("timestamp {ts} is too old (replay?)"));
    }
    let hex = sig.strip_prefix("v1=").ok_or("not a v1 signature")?;
    let tag = ::hex::decode(hex).map_err(|_| "signature is not hex")?;
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    let mut signed = format!("{id}.{ts}.").into_bytes();
    signed.extend_from_slice(&r.body);
    ring::hmac::verify(&key, &signed, &tag).map_err(|_| "signature mismatch".to_string())
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[test]
fn webhooks_are_signed_and_a_receiver_answering_500_gets_retries_until_it_accepts() {
    for backend in Backend::all() {
        let d = Deployment::new(backend);
        let receiver = HookReceiver::start(vec![500, 503]);
        d.ca(&["init"]).ok();
        let _server = d.serve_with(&quick_queue(&[(
            "CHENGXIN_ALLOW_PRIVATE_TARGETS",
            "127.0.0.1/32".into(),
        )]));
        let operator = d.token("operator", "ops@chenxi-shuzhi.cn");
        let client = http();
        let put = |url: &str| {
            client
                .put(d.url("/api/v1/me/webhook"))
                .bearer_auth(&operator)
                .json(&serde_json::json!({"url": url}))
                .send()
                .unwrap()
        };
        for refused in [
            "http://10.0.0.7/hook",
            "http://[::1]:8080/hook",
            "http://169.254.169.254/latest/meta-data",
            "gopher://127.0.0.1/",
        ] {
            let r = put(refused);
            assert_eq!(r.status(), 422, "{backend:?}: {refused} accepted");
        }
        let set: serde_json::Value = put(&receiver.url()).json().unwrap();
        let secret = set["secret"].as_str().unwrap().to_string();
        assert!(secret.starts_with("whsec_"), "{set}");

        let account: i64 = sql(
            &d,
            "SELECT id FROM accounts WHERE email = 'ops@chenxi-shuzhi.cn'",
        )
        .trim()
        .parse()
        .unwrap();
        let data =
            serde_json::json!({"complaint": "C-0001", "site": "s_test", "summary": "假冒客服电话"});
        let id = insert_job(
            &d,
            "webhook",
            &serde_json::json!({"account_id": account, "event": "complaint.submitted", "data": data}),
        );
        let got = receiver.wait_for(3, 30);
        let now = unix_now();
        for (i, r) in got.iter().enumerate() {
            assert!(
                r.headers[":request"].starts_with("POST /chengxin/events "),
                "{r:?}"
            );
            assert_eq!(r.headers["content-type"], "application/json");
            assert_eq!(r.headers["chengxin-webhook-id"], id.to_string());
            receiver_accepts(&secret, r, now)
                .unwrap_or_else(|e| panic!("{backend:?} delivery {i}: {e}"));
            assert!(receiver_accepts("whsec_wrong", r, now).is_err());
            let mut forged = r.clone();
            forged.body = br#"{"id":1,"event":"site.revoked"}"#.to_vec();
            assert!(receiver_accepts(&secret, &forged, now).is_err());
            assert!(
                receiver_accepts(&secret, r, now + 301).is_err(),
                "a replay is refused"
            );
            let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
            assert_eq!(body["id"], id);
            assert_eq!(body["event"], "complaint.submitted");
            assert_eq!(body["data"], data);
            assert!(body["created_at"].as_i64().unwrap() <= now);
        }
        let (attempts, _, done) = wait_for_job(&d, id, 10, "done", |s| s.2);
        assert_eq!((attempts, done), (3, true), "{backend:?}");

        // Deleted: later events are not sent.
        let deleted = client
            .delete(d.url("/api/v1/me/webhook"))
            .bearer_auth(&operator)
            .send()
            .unwrap();
        assert_eq!(deleted.status(), 204);
        let later = insert_job(
            &d,
            "webhook",
            &serde_json::json!({"account_id": account, "event": "complaint.answered", "data": {}}),
        );
        wait_for_job(&d, later, 10, "done", |s| s.2);
        assert_eq!(receiver.requests.lock().unwrap().len(), 3, "{backend:?}");
    }
}

#[test]
fn two_servers_on_one_postgresql_deliver_each_of_300_mails_exactly_once() {
    let started = Instant::now();
    let d = Deployment::new(Backend::Postgres);
    let sink = testkit::SmtpSink::start();
    d.ca(&["init"]).ok();
    let env = quick_queue(&[("CHENGXIN_SMTP_URL", sink.url())]);
    let _a = d.serve_with(&env);
    let (_b, _) = d.serve_replica(2, &env);

    let now = unix_now();
    sql(
        &d,
        &format!(
            "INSERT INTO jobs (kind, payload, run_at, created_at) \
             SELECT 'mail', json_build_object('to', 'user' || g || '@example.cn', \
               'subject', '第 ' || g || ' 封信', 'text', '正文 ' || g)::text, {now}, {now} \
             FROM generate_series(1, 300) AS g"
        ),
    );
    let mails = sink.wait_for(300, 120);
    // Give a duplicate, if any, time to arrive.
    std::thread::sleep(Duration::from_secs(3));
    let mails = if sink.messages().len() > mails.len() {
        sink.messages()
    } else {
        mails
    };
    let mut by_recipient = std::collections::BTreeMap::<String, usize>::new();
    for m in &mails {
        *by_recipient.entry(m.rcpt_tos.join(",")).or_default() += 1;
    }
    let twice: Vec<_> = by_recipient.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "delivered more than once: {twice:?}");
    let expected: std::collections::BTreeSet<String> =
        (1..=300).map(|g| format!("user{g}@example.cn")).collect();
    let got: std::collections::BTreeSet<String> = by_recipient.keys().cloned().collect();
    assert_eq!(got, expected, "missing or unexpected recipients");
    assert_eq!(mails.len(), 300);
    for m in &mails {
        let g = m.rcpt_tos[0]
            .trim_start_matches("user")
            .trim_end_matches("@example.cn");
        assert_eq!(m.subject, format!("第 {g} 封信"));
    }
    let done = sql(
        &d,
        "SELECT COUNT(*) FROM jobs WHERE kind = 'mail' AND done_at IS NOT NULL AND attempts = 1",
    );
    assert_eq!(done.trim(), "300");
    let workers = sql(
        &d,
        "SELECT locked_by, COUNT(*) FROM jobs WHERE kind = 'mail' GROUP BY locked_by ORDER BY 1",
    );
    eprintln!("per worker:\n{workers}in {:?}", started.elapsed());
    assert_eq!(
        workers.trim().lines().count(),
        2,
        "both servers took jobs: {workers}"
    );
}

/// SIGTERM lets the worker hand back the jobs it claimed: they are claimable at once
/// instead of after the 300 s lease. Here a mail hangs on an SMTP server that never
/// answers; after SIGTERM its row has no lease, and a server started against a real
/// SMTP server sends it within seconds. Deliveries are at-least-once (a process
/// killed between sending and recording sends again): the resent mail carries the
/// same `Message-ID`, derived from the job, so receivers can drop the duplicate.
#[test]
fn sigterm_releases_claimed_jobs_and_a_mail_sent_twice_keeps_its_message_id() {
    for backend in Backend::all() {
        let d = Deployment::new(backend);
        d.ca(&["init"]).ok();
        // Accepts connections and never says a word.
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let silent_url = format!("smtp://{}", silent.local_addr().unwrap());
        let held = std::thread::spawn(move || {
            let mut open = Vec::new();
            for s in silent.incoming().take(1) {
                open.push(s);
                std::thread::sleep(Duration::from_secs(60));
            }
        });
        let mut server = d.serve_with(&quick_queue(&[("CHENGXIN_SMTP_URL", silent_url)]));
        let id = insert_job(
            &d,
            "mail",
            &serde_json::json!({"to": "user@example.cn", "subject": "重置密码", "text": "打开链接。"}),
        );
        wait_for_job(&d, id, 20, "claimed", |s| s.0 >= 1);
        let pid = server.0.id().to_string();
        run(Command::new("kill").args(["-TERM", &pid])).ok();
        let stopped = Instant::now();
        while server.0.try_wait().unwrap().is_none() {
            assert!(
                stopped.elapsed() < Duration::from_secs(20),
                "{backend:?}: still running 20 s after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let lease = sql(
            &d,
            &format!("SELECT COALESCE(locked_until, 0) FROM jobs WHERE id = {id}"),
        );
        assert_eq!(lease.trim(), "0", "{backend:?}: the claim outlived SIGTERM");
        drop(held);

        let sink = testkit::SmtpSink::start();
        let _server = d.serve_with(&quick_queue(&[("CHENGXIN_SMTP_URL", sink.url())]));
        let first = sink.wait_for(1, 10);
        wait_for_job(&d, id, 10, "done", |s| s.2);
        // As if the process had died after sending and before recording it.
        sql(
            &d,
            &format!("UPDATE jobs SET done_at = NULL, locked_until = NULL WHERE id = {id}"),
        );
        let both = sink.wait_for(2, 10);
        assert!(
            first[0].message_id.starts_with(&format!("<job-{id}.")),
            "{}",
            first[0].message_id
        );
        assert_eq!(both[1].message_id, both[0].message_id, "{backend:?}");
    }
}

/// Jobs of one kind do not wait behind another's: with 30 webhooks hanging on an
/// endpoint that never answers, a password-reset mail queued after them still goes
/// out within 2 s (the worker used to wait for a whole batch of 10, each webhook up
/// to its timeout: 0.14 s became 78 s).
#[test]
fn a_never_answering_webhook_delays_a_reset_mail_by_under_two_seconds() {
    for backend in Backend::all() {
        let d = Deployment::new(backend);
        d.ca(&["init"]).ok();
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let hook = format!("http://{}/hook", silent.local_addr().unwrap());
        std::thread::spawn(move || {
            let open: Vec<_> = silent.incoming().collect();
            drop(open);
        });
        let sink = testkit::SmtpSink::start();
        let _server = d.serve_with(&quick_queue(&[
            ("CHENGXIN_ALLOW_PRIVATE_TARGETS", "127.0.0.1/32".into()),
            ("CHENGXIN_SMTP_URL", sink.url()),
        ]));
        let operator = d.token("operator", "ops@chenxi-shuzhi.cn");
        let set = http()
            .put(d.url("/api/v1/me/webhook"))
            .bearer_auth(&operator)
            .json(&serde_json::json!({"url": hook}))
            .send()
            .unwrap();
        assert_eq!(set.status(), 200, "{backend:?}");
        let account = sql(
            &d,
            "SELECT id FROM accounts WHERE email = 'ops@chenxi-shuzhi.cn'",
        );
        let hooks: Vec<i64> = (0..30)
            .map(|_| {
                insert_job(
                    &d,
                    "webhook",
                    &serde_json::json!({"account_id": account.trim().parse::<i64>().unwrap(),
                                        "event": "complaint.submitted", "data": {}}),
                )
            })
            .collect();
        wait_for_job(&d, hooks[0], 10, "claimed", |s| s.0 >= 1);
        let queued = Instant::now();
        insert_job(
            &d,
            "mail",
            &serde_json::json!({"to": "user@example.cn", "subject": "重置密码 / Reset your password", "text": "打开链接。"}),
        );
        sink.wait_for(1, 30);
        let took = queued.elapsed();
        assert!(
            took < Duration::from_secs(2),
            "{backend:?}: the mail took {took:?}"
        );
        eprintln!("{backend:?}: the reset mail went out after {took:?}");
    }
}

/// Issue 18, tried from outside: a certified site's TXT record disappears and
/// `verifier recheck --all` runs on the command line while the server runs. The
/// transition's audit entry is the outbox: the server mails the operator (real SMTP)
/// with the reason, the failing check in plain words, what to do and the deadline,
/// and the JSON summary lists the site as changed.
#[test]
fn verifier_recheck_on_the_command_line_mails_the_operator_of_a_site_that_entered_grace() {
    for backend in Backend::all() {
        let d = Deployment::new(backend);
        d.ca(&["init"]).ok();
        let sink = testkit::SmtpSink::start();
        let dns_port = free_port();
        let operator = "a@chenxi-shuzhi.cn";
        let (op, staff) = (
            d.token("operator", operator),
            d.token("staff", "staff@seal.test"),
        );
        let miit = testkit::fixtures_dir().join("miit-rows.json");
        let _server = d.serve_with(&quick_queue(&[
            ("CHENGXIN_DNS_SERVERS", format!("127.0.0.1:{dns_port}")),
            ("CHENGXIN_DNS_TIMEOUT", "1".into()),
            ("CHENGXIN_HTTP_TIMEOUT", "2".into()),
            ("CHENGXIN_HTTP_CHALLENGE_PORT", free_port().to_string()),
            ("CHENGXIN_ICP_PROVIDER", format!("file:{}", miit.display())),
            ("CHENGXIN_SMTP_URL", sink.url()),
        ]));
        let (_, site) = d.certify(&op, &staff, dns_port, crate::chenxi_application());
        let site = site["site"].as_str().unwrap().to_string();
        // The record is gone: the DNS server answers, without it.
        let _dns = testkit::Zone::new().start_on(dns_port);
        let mut cmd = Command::new(testkit::bin("verifier"));
        d.env(&mut cmd);
        let out = run(cmd
            .env("CHENGXIN_DNS_SERVERS", format!("127.0.0.1:{dns_port}"))
            .env("CHENGXIN_DNS_TIMEOUT", "1")
            .env("CHENGXIN_ICP_PROVIDER", format!("file:{}", miit.display()))
            .args(["recheck", "--all"]))
        .ok();
        let summary: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        assert_eq!(summary["entered_grace"], 1, "{summary}");
        assert_eq!(summary["changes"][0]["site"], site.as_str(), "{summary}");
        assert_eq!(summary["changes"][0]["to"], "grace");
        let deadline = Instant::now() + Duration::from_secs(20);
        let mail = loop {
            let found = sink
                .messages()
                .into_iter()
                .find(|m| m.subject.contains("宽限期"));
            if let Some(m) = found {
                break m;
            }
            assert!(
                Instant::now() < deadline,
                "no grace mail: {:?}",
                sink.messages()
            );
            std::thread::sleep(Duration::from_millis(100));
        };
        assert_eq!(mail.rcpt_tos, vec![operator.to_string()]);
        for needle in [
            "_chengxin-challenge.chenxi-shuzhi.cn",
            "宽限期至",
            "Grace ends",
            &format!("/portal/sites/{site}"),
        ] {
            assert!(
                mail.text.contains(needle),
                "{needle:?} not in {}",
                mail.text
            );
        }
    }
}
