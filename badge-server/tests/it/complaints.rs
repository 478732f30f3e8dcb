//! Complaint deadlines and reminders on a controlled clock, run by the real job queue
//! (`run_due`) against a real site and CA, on both backends: reminders 48 h and 24 h
//! before the deadline, exactly once; an unanswered complaint turns overdue and goes
//! to staff; an answer in time silences what is left. Attachments through the real
//! router (API and pages): who may add and download them, what the view, timeline and
//! audit log say, the download's headers, and refusals that leave nothing behind.

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use badge_server::domain::account::{Account, Email, Role};
use badge_server::domain::complaint::Decision;
use badge_server::jobs::queue::run_due;
use badge_server::{http::AppState, service::complaints as complaint};
use ca::on_pool;
use futures_util::StreamExt as _;
use testkit::Backend;

use crate::accounts::{PASSWORD, TestApp};
use crate::queue::state;

const T0: i64 = 1_900_000_000;
const HOUR: i64 = 3600;
const DAY: i64 = 24 * HOUR;

struct People {
    visitor: Account,
    operator: Account,
    staff: Account,
}

/// The fixture site, certified, with its operator and a visitor who will complain.
async fn certified_site(s: &AppState) -> (String, People) {
    let email = |e: &str| Email::parse(e).unwrap();
    let operator =
        badge_server::store::accounts::ensure(&s.db, &email("op@chenxi-shuzhi.cn"), Role::Operator)
            .await
            .unwrap();
    let staff =
        badge_server::store::accounts::ensure(&s.db, &email("staff@chengxin.test"), Role::Staff)
            .await
            .unwrap();
    let visitor =
        badge_server::store::accounts::ensure(&s.db, &email("visitor@example.com"), Role::User)
            .await
            .unwrap();
    let site = crate::certified_site(s, &operator, &staff, "chenxi-shuzhi.cn").await;
    (
        site,
        People {
            visitor,
            operator,
            staff,
        },
    )
}

/// Subjects of the mails queued to `to`, in order.
async fn mails_to(s: &AppState, to: &str) -> Vec<String> {
    let rows: Vec<(String,)> = on_pool!(&s.db, |p| sqlx::query_as(
        "SELECT payload FROM jobs WHERE kind = 'mail' ORDER BY id"
    )
    .fetch_all(p)
    .await
    .unwrap());
    rows.into_iter()
        .map(|(p,)| serde_json::from_str::<serde_json::Value>(&p).unwrap())
        .filter(|p| p["to"] == to)
        .map(|p| p["subject"].as_str().unwrap().to_string())
        .collect()
}

async fn status(s: &AppState, id: &str) -> String {
    complaint::get(s, id)
        .await
        .unwrap()
        .status
        .as_str()
        .to_string()
}

/// Runs the queue at `now` until nothing more is due (a job may queue mail due now).
async fn settle(s: &AppState, now: i64) {
    while run_due(s, now).await.unwrap() > 0 {}
}

#[tokio::test]
async fn an_unanswered_complaint_is_reminded_twice_then_goes_overdue_to_staff_exactly_once() {
    for backend in Backend::all() {
        let dir = tempfile::tempdir().unwrap();
        let s = state(dir.path(), backend).await;
        let (site, people) = certified_site(&s).await;
        let c = complaint::submit(
            &s,
            &people.visitor,
            &site,
            "fraud",
            "付款后一直不发货，客服不回复。",
            T0,
        )
        .await
        .unwrap();
        assert_eq!(c.deadline_at, T0 + 5 * DAY);
        settle(&s, T0).await;
        let to_operator = || mails_to(&s, "op@chenxi-shuzhi.cn");
        let reminders =
            |subjects: Vec<String>| subjects.iter().filter(|m| m.contains("提醒")).count();
        assert_eq!(to_operator().await.len(), 1, "{backend:?}: the notice");

        // 48 h before the deadline, not a second earlier.
        settle(&s, T0 + 3 * DAY - 1).await;
        assert_eq!(reminders(to_operator().await), 0, "{backend:?}");
        settle(&s, T0 + 3 * DAY).await;
        assert_eq!(reminders(to_operator().await), 1, "{backend:?}");
        // 24 h before; running again at the same time sends nothing more.
        settle(&s, T0 + 4 * DAY).await;
        settle(&s, T0 + 4 * DAY).await;
        assert_eq!(reminders(to_operator().await), 2, "{backend:?}");

        settle(&s, T0 + 5 * DAY - 1).await;
        assert_eq!(status(&s, &c.id).await, "forwarded");
        settle(&s, T0 + 5 * DAY).await;
        assert_eq!(status(&s, &c.id).await, "overdue", "{backend:?}");
        let to_staff = mails_to(&s, "staff@chengxin.test").await;
        assert_eq!(to_staff.len(), 1, "{backend:?}: {to_staff:?}");
        assert!(to_staff[0].contains("逾期"), "{to_staff:?}");
        settle(&s, T0 + 30 * DAY).await;
        assert_eq!(mails_to(&s, "staff@chengxin.test").await.len(), 1);
        assert_eq!(reminders(to_operator().await), 2);

        // A late answer is still taken, and recorded as late.
        complaint::answer(&s, &people.operator, &c.id, "已补发。", T0 + 5 * DAY + HOUR)
            .await
            .unwrap();
        let events = complaint::events(&s, &c.id).await.unwrap();
        let steps: Vec<&str> = events.iter().map(|e| e.to_status.as_str()).collect();
        assert_eq!(steps, ["submitted", "forwarded", "overdue", "answered"]);
        assert_eq!(
            events[3].note.as_deref(),
            Some("answered after the deadline")
        );
        ca::audit::verify(&s.db).await.unwrap();
    }
}

#[tokio::test]
async fn an_answer_in_time_silences_the_reminders_and_the_deadline() {
    for backend in Backend::all() {
        let dir = tempfile::tempdir().unwrap();
        let s = state(dir.path(), backend).await;
        let (site, people) = certified_site(&s).await;
        let c = complaint::submit(
            &s,
            &people.visitor,
            &site,
            "service",
            "客服三天没有回复消息。",
            T0,
        )
        .await
        .unwrap();
        complaint::answer(&s, &people.operator, &c.id, "已回复，抱歉。", T0 + DAY)
            .await
            .unwrap();
        for t in [T0 + 3 * DAY, T0 + 4 * DAY, T0 + 5 * DAY, T0 + 6 * DAY] {
            settle(&s, t).await;
        }
        assert_eq!(status(&s, &c.id).await, "answered", "{backend:?}");
        let subjects = mails_to(&s, "op@chenxi-shuzhi.cn").await;
        assert_eq!(
            subjects.len(),
            1,
            "{backend:?}: only the notice: {subjects:?}"
        );
        assert!(mails_to(&s, "staff@chengxin.test").await.is_empty());
        let open: Vec<(i64,)> = on_pool!(&s.db, |p| sqlx::query_as(
            "SELECT id FROM jobs WHERE kind LIKE 'complaint.%' AND done_at IS NULL"
        )
        .fetch_all(p)
        .await
        .unwrap());
        assert!(open.is_empty(), "{backend:?}: timers left: {open:?}");
    }
}

#[tokio::test]
async fn reputation_counts_the_last_twelve_months_and_stays_hidden_below_five_complaints() {
    let dir = tempfile::tempdir().unwrap();
    let s = state(dir.path(), Backend::Sqlite).await;
    let (site, people) = certified_site(&s).await;
    let mut ids = Vec::new();
    // One complaint 13 months ago (outside the window), then four recent ones.
    for (i, at) in [T0 - 400 * DAY, T0, T0 + HOUR, T0 + 2 * HOUR, T0 + 3 * HOUR]
        .into_iter()
        .enumerate()
    {
        let who = badge_server::store::accounts::ensure(
            &s.db,
            &Email::parse(&format!("visitor{i}@example.com")).unwrap(),
            Role::User,
        )
        .await
        .unwrap();
        let c = complaint::submit(&s, &who, &site, "service", "商品与描述不符，要求退货。", at)
            .await
            .unwrap();
        ids.push((c.id, who));
    }
    let now = T0 + DAY;
    assert_eq!(complaint::reputation(&s, &site, now).await.unwrap(), None);
    let fifth = complaint::submit(
        &s,
        &people.visitor,
        &site,
        "fraud",
        "收款后不发货也不退款。",
        T0 + 4 * HOUR,
    )
    .await
    .unwrap();
    // Answers after 2 h and 6 h (in time), and one after 6 days (late).
    complaint::answer(&s, &people.operator, &ids[1].0, "已处理。", T0 + 2 * HOUR)
        .await
        .unwrap();
    complaint::answer(&s, &people.operator, &ids[2].0, "已处理。", T0 + 7 * HOUR)
        .await
        .unwrap();
    complaint::answer(&s, &people.operator, &fifth.id, "已处理。", T0 + 6 * DAY)
        .await
        .unwrap();
    complaint::feedback(&s, &ids[1].1, &ids[1].0, true, None, T0 + 3 * HOUR)
        .await
        .unwrap();
    complaint::feedback(
        &s,
        &ids[2].1,
        &ids[2].0,
        false,
        Some("没解决"),
        T0 + 8 * HOUR,
    )
    .await
    .unwrap();
    let r = complaint::reputation(&s, &site, T0 + 7 * DAY)
        .await
        .unwrap()
        .expect("five complaints in the window are shown");
    assert_eq!(r.received, 5);
    assert_eq!(r.answered_in_time, 2);
    // Answer times 2 h, 6 h and 140 h: the median is 6 h.
    assert_eq!(r.median_answer_hours, Some(6.0));
    assert_eq!((r.satisfied, r.with_feedback, r.upheld), (1, 2, 0));
    // A withdrawn complaint no longer counts: back under the threshold.
    complaint::withdraw(&s, &ids[3].1, &ids[3].0, T0 + 7 * DAY)
        .await
        .unwrap();
    assert_eq!(
        complaint::reputation(&s, &site, T0 + 7 * DAY)
            .await
            .unwrap(),
        None
    );
}

// ---- attachments ----

/// Everyone around one complaint, with API tokens and page passwords: the visitor
/// who filed it, the site's operator, staff, another operator and another user.
struct Attaching {
    t: TestApp,
    complaint: String,
    visitor: String,
    operator: String,
    staff: String,
    other_operator: String,
    other_user: String,
}

const VISITOR: &str = "visitor@example.com";
const OPERATOR: &str = "op@chenxi-shuzhi.cn";
const STAFF: &str = "staff@chengxin.test";
const OTHER_OPERATOR: &str = "op@other-shop.cn";
const OTHER_USER: &str = "someone@example.com";

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

async fn attaching(backend: Backend) -> Attaching {
    let t = TestApp::new(backend).await;
    let (site, people) = certified_site(&t.state).await;
    let mut tokens = vec![];
    for (role, email) in [
        (Role::User, VISITOR),
        (Role::Operator, OPERATOR),
        (Role::Staff, STAFF),
        (Role::Operator, OTHER_OPERATOR),
        (Role::User, OTHER_USER),
    ] {
        t.account(role, email).await;
        let a =
            badge_server::store::accounts::ensure(&t.state.db, &Email::parse(email).unwrap(), role)
                .await
                .unwrap();
        tokens.push(
            badge_server::store::accounts::create_token(&t.state.db, &a, "test")
                .await
                .unwrap(),
        );
    }
    let c = complaint::submit(
        &t.state,
        &people.visitor,
        &site,
        "fraud",
        "付款后不发货，客服电话13812345678不接。",
        now(),
    )
    .await
    .unwrap();
    let [visitor, operator, staff, other_operator, other_user] = tokens.try_into().unwrap();
    Attaching {
        t,
        complaint: c.id,
        visitor,
        operator,
        staff,
        other_operator,
        other_user,
    }
}

/// A `w` × `h` PNG of noise (which does not compress: about 3·w·h bytes) and its pixels.
pub(crate) fn noisy_png(w: u32, h: u32) -> (Vec<u8>, image::RgbImage) {
    let mut seed = 0x2545_f491_u32;
    let pixels = image::RgbImage::from_fn(w, h, |_, _| {
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed as u8
        };
        image::Rgb([next(), next(), next()])
    });
    let mut png = Vec::new();
    image::DynamicImage::ImageRgb8(pixels.clone())
        .write_with_encoder(image::codecs::png::PngEncoder::new(&mut png))
        .unwrap();
    (png, pixels)
}

const PDF: &str = "%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n\
    2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n";

/// Sends `body` to the real router with a bearer token; `declared` adds the
/// `Content-Length` a real client would send.
pub(crate) async fn api(
    t: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Vec<u8>,
    declared: bool,
) -> (StatusCode, HeaderMap, axum::body::Bytes) {
    let mut req = Request::builder().method(method).uri(path);
    if let Some(t) = token {
        req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    if declared {
        req = req.header(header::CONTENT_LENGTH, body.len());
    }
    // The declared type is ignored: the bytes decide.
    let req = req
        .header(header::CONTENT_TYPE, "text/html")
        .body(Body::from(body))
        .unwrap();
    t.call(req).await
}

async fn upload(
    w: &Attaching,
    token: &str,
    name: &str,
    body: &[u8],
) -> (StatusCode, serde_json::Value) {
    let name: String = url::form_urlencoded::byte_serialize(name.as_bytes()).collect();
    let path = format!("/api/v1/complaints/{}/attachments?name={name}", w.complaint);
    let (status, _, bytes) = api(&w.t, Method::POST, &path, Some(token), body.to_vec(), true).await;
    (status, serde_json::from_slice(&bytes).unwrap())
}

async fn view(w: &Attaching, token: &str) -> serde_json::Value {
    let path = format!("/api/v1/complaints/{}", w.complaint);
    let (status, _, bytes) = api(&w.t, Method::GET, &path, Some(token), vec![], false).await;
    assert_eq!(status, StatusCode::OK);
    serde_json::from_slice(&bytes).unwrap()
}

/// What an upload leaves behind: attachments, timeline events, audit entries, jobs,
/// and the complaints' last change.
async fn traces(t: &TestApp) -> Vec<i64> {
    let mut out = vec![];
    for sql in [
        "SELECT COUNT(*) FROM complaint_attachments",
        "SELECT COUNT(*) FROM complaint_events",
        "SELECT COUNT(*) FROM audit_log",
        "SELECT COUNT(*) FROM jobs",
        "SELECT COALESCE(MAX(updated_at), 0) FROM complaints",
    ] {
        out.push(t.scalar(sql).await);
    }
    out
}

/// Checks `value` against a schema of the served OpenAPI document.
fn documented_as(schema: &str, value: &serde_json::Value) {
    let doc = crate::openapi::document();
    let schema = serde_json::json!({ "$ref": format!("#/components/schemas/{schema}") });
    if let Err(e) = crate::openapi::conforms(&doc, &schema, value, "body") {
        panic!("{e}\n{value:#}");
    }
}

fn header_of<'h>(h: &'h HeaderMap, name: &str) -> &'h str {
    h.get(name).unwrap().to_str().unwrap()
}

#[tokio::test]
async fn each_party_attaches_a_file_that_the_view_the_timeline_and_the_audit_log_show_and_that_downloads_as_an_attachment()
 {
    for backend in Backend::all() {
        let w = attaching(backend).await;
        let t = &w.t;
        // Over 64 KiB, the limit of every other route.
        let (png, pixels) = noisy_png(200, 150);
        assert!(png.len() > 64 * 1024);
        let (status, by_visitor) = upload(&w, &w.visitor, "截图 1.png", &png).await;
        assert_eq!(status, StatusCode::CREATED, "{backend:?}: {by_visitor}");
        documented_as("AttachmentView", &by_visitor);
        assert_eq!(by_visitor["name"], "截图 1.png");
        assert_eq!(by_visitor["media_type"], "image/png");
        assert_eq!(by_visitor["uploaded_by"], "complainant");
        let mut jpeg = Vec::new();
        image::DynamicImage::ImageRgb8(pixels.clone())
            .write_with_encoder(image::codecs::jpeg::JpegEncoder::new(&mut jpeg))
            .unwrap();
        let (status, by_operator) = upload(&w, &w.operator, "回执 13812345678.jpg", &jpeg).await;
        assert_eq!(status, StatusCode::CREATED, "{by_operator}");
        assert_eq!(by_operator["uploaded_by"], "operator");
        assert_eq!(
            by_operator["name"], "回执 138****5678.jpg",
            "masked for the operator"
        );
        let (status, by_staff) = upload(&w, &w.staff, "核查记录", PDF.as_bytes()).await;
        assert_eq!(status, StatusCode::CREATED, "{by_staff}");
        assert_eq!(by_staff["name"], "核查记录.pdf");
        assert_eq!(by_staff["media_type"], "application/pdf");
        // The other parties are told of each file (the operator also by webhook).
        let told = |to: &'static str| {
            let s = t.state.clone();
            async move {
                mails_to(&s, to)
                    .await
                    .into_iter()
                    .filter(|subject| subject.contains("New file on the complaint"))
                    .count()
            }
        };
        assert_eq!(
            told(VISITOR).await,
            2,
            "of the operator's and staff's files"
        );
        assert_eq!(
            told(OPERATOR).await,
            2,
            "of the complainant's and staff's files"
        );
        assert_eq!(
            t.scalar("SELECT COUNT(*) FROM jobs WHERE kind = 'webhook' AND payload LIKE '%complaint.attachment%'")
                .await,
            2
        );

        // In every party's view, oldest first; the operator reads names masked.
        for (token, role) in [
            (&w.visitor, "complainant"),
            (&w.operator, "operator"),
            (&w.staff, "staff"),
        ] {
            let v = view(&w, token).await;
            documented_as("ComplaintView", &v);
            let files = v["attachments"].as_array().unwrap();
            let by: Vec<&str> = files
                .iter()
                .map(|f| f["uploaded_by"].as_str().unwrap())
                .collect();
            assert_eq!(by, ["complainant", "operator", "staff"], "{role}");
            let receipt = files[1]["name"].as_str().unwrap();
            assert_eq!(
                receipt.contains("13812345678"),
                role != "operator",
                "{role}: {receipt}"
            );
            let notes: Vec<&str> = v["events"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|e| e["note"].as_str())
                .filter(|n| n.starts_with("attachment added"))
                .collect();
            assert_eq!(notes.len(), 3, "{role}: {notes:?}");
            assert!(notes[0].contains("截图 1.png (image/png"), "{notes:?}");
            assert!(!notes[1].contains("13812345678"), "{notes:?}");
        }
        let v = view(&w, &w.staff).await;
        let events = v["events"].as_array().unwrap();
        let last = &events[events.len() - 1];
        assert_eq!(last["actor_role"], "staff");
        assert_eq!(last["from_status"], "forwarded");
        assert_eq!(last["to_status"], "forwarded", "the status is left alone");
        assert_eq!(
            t.scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'complaint.attach'")
                .await,
            3
        );
        ca::audit::verify(&t.state.db).await.unwrap();

        // The download: the re-encoded pixels, as an attachment that cannot act as a page.
        let url = by_visitor["download_url"].as_str().unwrap();
        let path = url
            .strip_prefix(crate::accounts::PUBLIC)
            .unwrap()
            .to_string();
        for token in [&w.visitor, &w.operator, &w.staff] {
            let (status, h, bytes) = api(t, Method::GET, &path, Some(token), vec![], false).await;
            assert_eq!(status, StatusCode::OK);
            assert_eq!(header_of(&h, "content-type"), "image/png");
            assert_eq!(
                header_of(&h, "content-disposition"),
                "attachment; filename=\"__ 1.png\"; filename*=UTF-8''%E6%88%AA%E5%9B%BE%201.png"
            );
            assert_eq!(header_of(&h, "x-content-type-options"), "nosniff");
            assert_eq!(
                header_of(&h, "content-security-policy"),
                "sandbox; default-src 'none'"
            );
            assert_eq!(header_of(&h, "cache-control"), "private, no-store");
            assert_eq!(
                hex::encode(ring::digest::digest(&ring::digest::SHA256, &bytes)),
                by_visitor["sha256"].as_str().unwrap()
            );
            assert_eq!(bytes.len() as i64, by_visitor["size"].as_i64().unwrap());
            assert_eq!(image::load_from_memory(&bytes).unwrap().to_rgb8(), pixels);
        }
        // Nobody else: 403 as for the complaint itself, 401 without a token, 404 for
        // a file that is not the complaint's.
        for (token, expect) in [
            (Some(&w.other_operator), StatusCode::FORBIDDEN),
            (Some(&w.other_user), StatusCode::FORBIDDEN),
            (None, StatusCode::UNAUTHORIZED),
        ] {
            let (status, h, bytes) = api(
                t,
                Method::GET,
                &path,
                token.map(String::as_str),
                vec![],
                false,
            )
            .await;
            assert_eq!(status, expect, "{token:?}");
            assert_eq!(header_of(&h, "content-type"), "application/json");
            assert!(!bytes.starts_with(b"\x89PNG"));
        }
        let elsewhere = path.replace(&w.complaint, "c_nosuchthing");
        let missing = format!(
            "/api/v1/complaints/{}/attachments/att_nosuchthing",
            w.complaint
        );
        for p in [elsewhere, missing] {
            let (status, ..) = api(t, Method::GET, &p, Some(&w.staff), vec![], false).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{p}");
        }

        // The page links each file to a download through the session, with the same rules.
        let page_path = format!("/complaints/{}", w.complaint);
        let link = format!(
            "{page_path}/attachments/{}",
            by_visitor["id"].as_str().unwrap()
        );
        let mut b = t.browser();
        b.login(VISITOR, PASSWORD).await;
        let page = b.get(&page_path).await.expect(200, "id=\"attachments\"");
        assert!(
            page.body.contains(&format!("href=\"{link}\"")),
            "{}",
            page.body
        );
        let (status, h, bytes) = b.send_bytes(Method::GET, &link, None, vec![]).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            header_of(&h, "content-security-policy"),
            "sandbox; default-src 'none'"
        );
        assert_eq!(image::load_from_memory(&bytes).unwrap().to_rgb8(), pixels);
        let mut other = t.browser();
        other.login(OTHER_OPERATOR, PASSWORD).await;
        let (status, ..) = other.send_bytes(Method::GET, &link, None, vec![]).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, h, _) = t
            .browser()
            .send_bytes(Method::GET, &link, None, vec![])
            .await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        assert!(header_of(&h, "location").starts_with("/login?next="));
    }
}

#[tokio::test]
async fn oversized_wrongly_typed_broken_or_one_too_many_files_change_nothing() {
    for backend in Backend::all() {
        let w = attaching(backend).await;
        let t = &w.t;
        let max = t.state.attachments.max_bytes;
        let path = format!("/api/v1/complaints/{}/attachments", w.complaint);
        let before = traces(t).await;
        // Too large, whether the length is declared or the stream just runs long.
        for declared in [true, false] {
            let (status, _, body) = api(
                t,
                Method::POST,
                &path,
                Some(&w.visitor),
                vec![0; max + 1],
                declared,
            )
            .await;
            assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "declared {declared}");
            let e: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert!(e["error"].as_str().unwrap().contains("larger than"), "{e}");
        }
        let (png, _) = noisy_png(8, 8);
        let svg = br#"<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>"#;
        let js_pdf = PDF.replace(
            "/Type /Catalog",
            "/Type /Catalog /OpenAction << /S /JavaScript /JS (x) >>",
        );
        let refused: [(&str, &[u8], StatusCode); 6] = [
            (
                "page.png",
                b"<html><script>alert(1)</script></html>",
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ),
            ("seal.svg", svg, StatusCode::UNSUPPORTED_MEDIA_TYPE),
            (
                "x.pdf",
                js_pdf.as_bytes(),
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ),
            (
                "cut.png",
                &png[..png.len() / 2],
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            ("empty.png", b"", StatusCode::UNPROCESSABLE_ENTITY),
            (
                "gif.gif",
                b"GIF89a\x01\x00\x01\x00\x00\x00\x00;",
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ),
        ];
        for (name, body, expect) in refused {
            let (status, e) = upload(&w, &w.visitor, name, body).await;
            assert_eq!(status, expect, "{backend:?} {name}: {e}");
            assert!(e["error"].is_string());
        }
        // Nobody but the parties; an unknown complaint is 404.
        for token in [&w.other_operator, &w.other_user] {
            assert_eq!(
                upload(&w, token, "x.png", &png).await.0,
                StatusCode::FORBIDDEN
            );
        }
        let (status, ..) = api(t, Method::POST, &path, None, png.clone(), true).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let (status, ..) = api(
            t,
            Method::POST,
            "/api/v1/complaints/c_nosuchthing/attachments",
            Some(&w.staff),
            png.clone(),
            true,
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(traces(t).await, before, "{backend:?}: refusals left traces");

        // Five are taken, the sixth is not.
        for i in 0..5 {
            let who = [&w.visitor, &w.operator, &w.staff][i % 3];
            let (status, e) = upload(&w, who, &format!("{i}.png"), &png).await;
            assert_eq!(status, StatusCode::CREATED, "{i}: {e}");
        }
        let five = traces(t).await;
        let (status, e) = upload(&w, &w.visitor, "6.png", &png).await;
        assert_eq!(status, StatusCode::CONFLICT, "{e}");
        assert!(e["error"].as_str().unwrap().contains("at most 5"), "{e}");
        assert_eq!(traces(t).await, five);
        let page = format!("/complaints/{}", w.complaint);
        let mut b = t.browser();
        b.login(VISITOR, PASSWORD).await;
        let full = b.get(&page).await.expect(200, "id=\"attachments\"");
        assert!(
            !full.body.contains("id=\"attach-section\""),
            "no form when full"
        );
    }
}

#[tokio::test]
async fn two_uploads_racing_for_the_last_place_do_not_both_get_it() {
    for backend in Backend::all() {
        let w = attaching(backend).await;
        let (png, _) = noisy_png(64, 64);
        for i in 0..4 {
            assert_eq!(
                upload(&w, &w.visitor, &format!("{i}.png"), &png).await.0,
                StatusCode::CREATED
            );
        }
        // Both pass the checks before the transaction; only one gets the row.
        let (a, b) = tokio::join!(
            upload(&w, &w.visitor, "a.png", &png),
            upload(&w, &w.operator, "b.png", &png)
        );
        let mut statuses = [a.0, b.0];
        statuses.sort();
        assert_eq!(
            statuses,
            [StatusCode::CREATED, StatusCode::CONFLICT],
            "{backend:?}: {a:?} {b:?}"
        );
        assert_eq!(
            w.t.scalar("SELECT COUNT(*) FROM complaint_attachments")
                .await,
            5
        );
        assert_eq!(
            w.t.scalar("SELECT COUNT(*) FROM complaint_events WHERE note LIKE 'attachment added%'")
                .await,
            5
        );
    }
}

#[tokio::test]
async fn nothing_is_added_to_a_closed_complaint() {
    for backend in Backend::all() {
        let w = attaching(backend).await;
        let t = &w.t;
        let (png, _) = noisy_png(8, 8);
        let visitor = badge_server::store::accounts::ensure(
            &t.state.db,
            &Email::parse(VISITOR).unwrap(),
            Role::User,
        )
        .await
        .unwrap();
        complaint::withdraw(&t.state, &visitor, &w.complaint, now())
            .await
            .unwrap();
        let before = traces(t).await;
        for token in [&w.visitor, &w.operator, &w.staff] {
            let (status, e) = upload(&w, token, "late.png", &png).await;
            assert_eq!(status, StatusCode::CONFLICT, "{backend:?}: {e}");
            assert!(e["error"].as_str().unwrap().contains("withdrawn"), "{e}");
        }
        let mut b = t.browser();
        b.login(VISITOR, PASSWORD).await;
        let page = b
            .get(&format!("/complaints/{}", w.complaint))
            .await
            .expect(200, "id=\"no-attachments\"");
        assert!(!page.body.contains("id=\"attach-section\""));
        assert_eq!(traces(t).await, before);
    }
}

/// A `multipart/form-data` body of `(name, file name, bytes)` parts, and its type.
fn multipart(parts: &[(&str, Option<&str>, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "----chengxin-test-boundary";
    let mut body = Vec::new();
    for (name, file_name, bytes) in parts {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        match file_name {
            Some(f) => body.extend_from_slice(
                format!(
                    "Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\n\
                     Content-Type: image/png\r\n\r\n"
                )
                .as_bytes(),
            ),
            None => body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
            ),
        }
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

#[tokio::test]
async fn the_upload_form_is_refused_without_its_csrf_token_or_from_another_origin_and_stores_nothing()
 {
    for backend in Backend::all() {
        let w = attaching(backend).await;
        let t = &w.t;
        let page = format!("/complaints/{}", w.complaint);
        let action = format!("{page}/attachments");
        let (png, pixels) = noisy_png(120, 90);
        let mut b = t.browser();
        b.login(VISITOR, PASSWORD).await;
        let form = b.get(&page).await.expect(200, "id=\"attach-section\"");
        assert!(form.body.contains("enctype=\"multipart/form-data\""));
        let csrf = form.csrf();
        let before = traces(t).await;
        let file: (&str, Option<&str>, &[u8]) = ("file", Some("截图.png"), &png);
        for (parts, origin, expect) in [
            (vec![file], crate::accounts::PUBLIC, "The form has expired"),
            (
                vec![("csrf", None, &b"wrong"[..]), file],
                crate::accounts::PUBLIC,
                "The form has expired",
            ),
            (
                vec![
                    ("csrf", None, csrf.as_bytes()),
                    ("csrf", None, csrf.as_bytes()),
                    file,
                ],
                crate::accounts::PUBLIC,
                "The form has expired",
            ),
            // The right token, but after the file: the file would be read before it.
            (
                vec![file, ("csrf", None, csrf.as_bytes())],
                crate::accounts::PUBLIC,
                "The form has expired",
            ),
            (
                vec![("csrf", None, csrf.as_bytes()), file],
                "https://evil.example",
                "Wrong origin",
            ),
        ] {
            b.origin = Some(origin.into());
            let (ct, body) = multipart(&parts);
            let (status, _, html) = b.send_bytes(Method::POST, &action, Some(&ct), body).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{backend:?} {origin}");
            assert!(String::from_utf8_lossy(&html).contains(expect));
        }
        b.origin = Some(crate::accounts::PUBLIC.into());
        // A wrong token followed by a file that never ends: refused on the token, without
        // waiting for (or holding) the file.
        let (ct, head) = multipart(&[("csrf", None, &b"wrong"[..])]);
        let head = head[..head.len() - b"--\r\n".len()].to_vec();
        let opening =
            b"\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\n\r\n";
        let endless = futures_util::stream::iter([
            Ok::<_, std::io::Error>(axum::body::Bytes::from(head)),
            Ok(axum::body::Bytes::from_static(opening)),
        ])
        .chain(futures_util::stream::pending());
        let refused = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            b.send_bytes(Method::POST, &action, Some(&ct), Body::from_stream(endless)),
        )
        .await
        .expect("a forged upload must be refused before its file is read");
        assert_eq!(refused.0, StatusCode::FORBIDDEN, "{backend:?}");
        // Over the limit and its multipart overhead: the 413 page.
        let big = vec![0u8; t.state.attachments.max_bytes + 20 * 1024];
        let (ct, body) = multipart(&[
            ("csrf", None, csrf.as_bytes()),
            ("file", Some("big.png"), &big[..]),
        ]);
        let (status, _, html) = b.send_bytes(Method::POST, &action, Some(&ct), body).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert!(String::from_utf8_lossy(&html).contains("文件过大"));
        // A type we do not take: the complaint page again, saying why in both languages.
        let (ct, body) = multipart(&[
            ("csrf", None, csrf.as_bytes()),
            ("file", Some("a.png"), &b"<svg/>"[..]),
        ]);
        let (status, _, html) = b.send_bytes(Method::POST, &action, Some(&ct), body).await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        let html = String::from_utf8_lossy(&html);
        assert!(
            html.contains("仅接受 PNG") && html.contains("only PNG, JPEG"),
            "{html}"
        );
        assert_eq!(
            traces(t).await,
            before,
            "{backend:?}: refused forms left traces"
        );

        // With its token: stored, and back to the complaint.
        let (ct, body) = multipart(&[("csrf", None, csrf.as_bytes()), file]);
        let (status, h, _) = b.send_bytes(Method::POST, &action, Some(&ct), body).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        assert_eq!(header_of(&h, "location"), page);
        let shown = b.get(&page).await.expect(200, "截图.png");
        assert!(shown.body.contains("投诉人 complainant"));
        let v = view(&w, &w.visitor).await;
        let link = format!(
            "{page}/attachments/{}",
            v["attachments"][0]["id"].as_str().unwrap()
        );
        let (status, _, stored) = b.send_bytes(Method::GET, &link, None, vec![]).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(image::load_from_memory(&stored).unwrap().to_rgb8(), pixels);
        assert_eq!(
            t.scalar("SELECT COUNT(*) FROM complaint_attachments").await,
            1
        );
    }
}

#[tokio::test]
async fn filing_is_limited_per_account_and_per_site_and_only_standing_complaints_are_counted() {
    for backend in Backend::all() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = state(dir.path(), backend).await;
        s.complaints.per_user_per_day = 2;
        s.complaints.per_site_per_hour = 4;
        let (site, people) = certified_site(&s).await;
        let text = "付款后不发货，客服不回复。";
        let file = |who: Account, at: i64| {
            let (s, site) = (s.clone(), site.clone());
            async move { complaint::submit(&s, &who, &site, "fraud", text, at).await }
        };
        let count = || async {
            let (n,): (i64,) =
                on_pool!(&s.db, |p| sqlx::query_as("SELECT COUNT(*) FROM complaints")
                    .fetch_one(p)
                    .await
                    .unwrap());
            n
        };

        // One open complaint per account and site.
        let first = file(people.visitor.clone(), T0).await.unwrap();
        let again = file(people.visitor.clone(), T0 + 60).await;
        assert!(
            matches!(again, Err(badge_server::AppError::Conflict(_))),
            "{again:?}"
        );
        // Per account: at most two a day (withdrawn ones count: each mailed the operator).
        complaint::withdraw(&s, &people.visitor, &first.id, T0 + 120)
            .await
            .unwrap();
        let second = file(people.visitor.clone(), T0 + 180).await.unwrap();
        complaint::withdraw(&s, &people.visitor, &second.id, T0 + 240)
            .await
            .unwrap();
        match file(people.visitor.clone(), T0 + 300).await {
            Err(badge_server::AppError::TooMany { message, .. }) => {
                assert!(message.contains("2 complaints a day"), "{message}")
            }
            other => panic!("{backend:?}: a third complaint in a day: {other:?}"),
        }
        assert_eq!(count().await, 2, "{backend:?}: the refusal stored nothing");
        // A day later the account may file again.
        let third = file(people.visitor.clone(), T0 + DAY + 1).await.unwrap();

        // Per site: four an hour from everyone together.
        let mut others = Vec::new();
        for i in 0..4 {
            let who = badge_server::store::accounts::ensure(
                &s.db,
                &Email::parse(&format!("neighbour{i}@example.com")).unwrap(),
                Role::User,
            )
            .await
            .unwrap();
            others.push(who);
        }
        for who in &others[..3] {
            file(who.clone(), T0 + DAY + 10).await.unwrap();
        }
        let flood = file(others[3].clone(), T0 + DAY + 20).await;
        assert!(
            matches!(flood, Err(badge_server::AppError::TooMany { .. })),
            "{flood:?}"
        );
        file(others[3].clone(), T0 + DAY + HOUR + 20).await.unwrap();

        // Public figures count standing complaints only: five filed, one dismissed
        // and four withdrawn or open → hidden; the dismissed one never counts.
        let staff = badge_server::store::accounts::ensure(
            &s.db,
            &Email::parse("staff@chengxin.test").unwrap(),
            Role::Staff,
        )
        .await
        .unwrap();
        let now = T0 + DAY + 2 * HOUR;
        let r = complaint::reputation(&s, &site, now)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(r.received, 5, "{backend:?}: {r:?}");
        complaint::answer(&s, &people.operator, &third.id, "已处理。", now)
            .await
            .unwrap();
        complaint::decide(
            &s,
            &staff,
            &third.id,
            Decision::Dismissed,
            "证据不足",
            now + 60,
        )
        .await
        .unwrap();
        assert_eq!(
            complaint::reputation(&s, &site, now + 120).await.unwrap(),
            None,
            "{backend:?}: a dismissed complaint is not counted"
        );
    }
}

#[tokio::test]
async fn uploads_count_against_the_uploader_refusals_included_and_decodes_wait_for_a_slot() {
    let mut w = attaching(Backend::Sqlite).await;
    w.t.state.uploads = std::sync::Arc::new(badge_server::service::attachments::UploadGate::new(
        &badge_server::domain::attachment::AttachmentLimits {
            uploads_per_hour: 3,
            decode_wait: std::time::Duration::from_millis(200),
            ..Default::default()
        },
    ));
    w.t.rebuild();
    let (png, _) = noisy_png(32, 32);
    // Three refused uploads (not a type we take) use up the visitor's hour.
    for i in 0..3 {
        let (status, e) = upload(&w, &w.visitor, &format!("{i}.svg"), b"<svg/>").await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{e}");
    }
    let (status, e) = upload(&w, &w.visitor, "ok.png", &png).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{e}");
    assert!(
        e["error"].as_str().unwrap().contains("too many uploads"),
        "{e}"
    );
    // Another party has its own quota.
    assert_eq!(
        upload(&w, &w.operator, "a.png", &png).await.0,
        StatusCode::CREATED
    );

    // Every decoding slot taken: an upload waits, then is told to come back.
    let held = w.t.state.uploads.enter(-1, 0).await.unwrap();
    let (status, e) = upload(&w, &w.operator, "b.png", &png).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{e}");
    assert!(
        e["error"]
            .as_str()
            .unwrap()
            .contains("checking other uploads"),
        "{e}"
    );
    drop(held);
    assert_eq!(
        upload(&w, &w.operator, "c.png", &png).await.0,
        StatusCode::CREATED
    );
    let stored: i64 =
        w.t.scalar("SELECT COUNT(*) FROM complaint_attachments")
            .await;
    assert_eq!(stored, 2);
}

/// Four times the SQLite pool's eight connections decide at once, every decision
/// upholding a complaint about the same site. Each holds its transaction while it
/// looks up the site's certificate; that look-up went through the pool, so with every
/// connection held by a waiting decision none could finish (10 concurrent: 7 failed
/// after 10 s; 30: none succeeded, yet some committed while staff saw an error). On
/// PostgreSQL all but the first failed with "already revoked": each had read the
/// certificate as live before the first committed. Now every decision succeeds, and
/// what each reported is what the database holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_times_the_pool_of_concurrent_decisions_all_finish_and_each_reports_what_it_committed()
{
    for backend in Backend::all() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = state(dir.path(), backend).await;
        // 32 complaints about one site in an hour, from 32 people.
        s.complaints.per_site_per_hour = 100;
        let (site, people) = certified_site(&s).await;
        let staff = badge_server::store::accounts::ensure(
            &s.db,
            &Email::parse("staff@chengxin.test").unwrap(),
            Role::Staff,
        )
        .await
        .unwrap();
        let mut ids = Vec::new();
        for i in 0..32 {
            let visitor = badge_server::store::accounts::ensure(
                &s.db,
                &Email::parse(&format!("visitor{i}@example.com")).unwrap(),
                Role::User,
            )
            .await
            .unwrap();
            let c = complaint::submit(
                &s,
                &visitor,
                &site,
                "fraud",
                "付款后一直不发货，客服不回复。",
                T0,
            )
            .await
            .unwrap();
            complaint::answer(&s, &people.operator, &c.id, "已处理。", T0 + HOUR)
                .await
                .unwrap();
            ids.push(c.id);
        }
        let mut decisions = tokio::task::JoinSet::new();
        for id in ids {
            let (s, staff) = (s.clone(), staff.clone());
            decisions.spawn(async move {
                let decided = tokio::time::timeout(
                    std::time::Duration::from_secs(60),
                    complaint::decide(
                        &s,
                        &staff,
                        &id,
                        Decision::Upheld {
                            revocation: ca::RevocationReason::PrivilegeWithdrawn,
                        },
                        "证据充分。",
                        T0 + 2 * HOUR,
                    ),
                )
                .await;
                (
                    id,
                    decided
                        .map_err(|_| "timed out".to_string())
                        .and_then(|r| r.map(drop).map_err(|e| e.to_string())),
                )
            });
        }
        let results = decisions.join_all().await;
        for (id, result) in &results {
            let committed = status(&s, id).await == "upheld";
            assert_eq!(
                result.is_ok(),
                committed,
                "{backend:?}: {id} reported {result:?} but committed: {committed}"
            );
        }
        let failed: Vec<_> = results.iter().filter(|(_, r)| r.is_err()).collect();
        assert!(failed.is_empty(), "{backend:?}: {failed:?}");
        // The first decision revoked the certificate; the others found it revoked.
        assert_eq!(
            application_status(&s, &site).await,
            "revoked",
            "{backend:?}"
        );
        // Each decision is one log entry, written in its transaction, next to the one
        // revocation: the site and its domains, the decision, and the complaint only
        // as a salted hash (no text, no person).
        let rows: Vec<(String, Vec<u8>)> = on_pool!(&s.db, |p| sqlx::query_as(
            "SELECT kind, body FROM log_entries WHERE site_id = $1 ORDER BY idx"
        )
        .bind(&site)
        .fetch_all(p)
        .await
        .unwrap());
        let kinds: Vec<&str> = rows.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            kinds.iter().filter(|k| **k == "revoke").count(),
            1,
            "{kinds:?}"
        );
        assert_eq!(
            kinds.iter().filter(|k| **k == "complaint_decision").count(),
            32,
            "{backend:?}"
        );
        let (salt,): (Vec<u8>,) = on_pool!(&s.db, |p| sqlx::query_as("SELECT salt FROM log_head")
            .fetch_one(p)
            .await
            .unwrap());
        let hashes: Vec<[u8; 32]> = results
            .iter()
            .map(|(id, _)| tlog::Entry::complaint_hash(&salt, id))
            .collect();
        for (kind, body) in &rows {
            let text = String::from_utf8(body.clone()).unwrap();
            let e = tlog::Entry::parse(body).unwrap();
            if *kind == "complaint_decision" {
                assert_eq!(e.decision.as_deref(), Some("upheld"));
                assert_eq!(e.domains, ["chenxi-shuzhi.cn"]);
                assert!(hashes.contains(&e.complaint.unwrap()), "{text}");
                assert!(!text.contains("c_") && !text.contains("visitor"), "{text}");
            }
        }
    }
}

async fn application_status(s: &AppState, site: &str) -> String {
    badge_server::service::sites::site_certificate(&s.db, site)
        .await
        .unwrap()
        .status
        .to_string()
}

/// An upheld complaint that revokes for keyCompromise revokes every other certificate
/// with that key too, another operator's included (issue 11, item 1): that operator is
/// mailed in the decision's transaction, and its site shows as revoked.
#[tokio::test]
async fn an_upheld_key_compromise_complaint_mails_the_holder_of_another_certificate_with_that_key()
{
    for backend in Backend::all() {
        let dir = tempfile::tempdir().unwrap();
        let s = state(dir.path(), backend).await;
        let (site, people) = certified_site(&s).await;
        let staff = &people.staff;
        let other = badge_server::store::accounts::ensure(
            &s.db,
            &Email::parse("b@pujiangyun.com").unwrap(),
            Role::Operator,
        )
        .await
        .unwrap();
        let csr = crate::csr_of(&s, &people.operator).await;
        let same_key =
            crate::certified_site_with_csr(&s, &other, staff, "shop.chenxi-shuzhi.cn", Some(&csr))
                .await;
        let c = complaint::submit(
            &s,
            &people.visitor,
            &site,
            "fraud",
            "付款后一直不发货，客服不回复。",
            T0,
        )
        .await
        .unwrap();
        complaint::answer(&s, &people.operator, &c.id, "已处理。", T0 + HOUR)
            .await
            .unwrap();
        assert!(mails_to(&s, "b@pujiangyun.com").await.is_empty());
        complaint::decide(
            &s,
            staff,
            &c.id,
            Decision::Upheld {
                revocation: ca::RevocationReason::KeyCompromise,
            },
            "私钥已公开。",
            T0 + 2 * HOUR,
        )
        .await
        .unwrap();
        let mails = mails_to(&s, "b@pujiangyun.com").await;
        assert_eq!(mails.len(), 1, "{backend:?}: {mails:?}");
        assert!(mails[0].contains("shop.chenxi-shuzhi.cn"), "{mails:?}");
        let b = badge_server::service::sites::site_certificate(&s.db, &same_key)
            .await
            .unwrap();
        assert_eq!(b.status.as_str(), "revoked", "{backend:?}");
    }
}
