//! Complaint deadlines and reminders on a controlled clock, run by the real job queue
//! (`run_due`) against a real site and CA, on both backends: reminders 48 h and 24 h
//! before the deadline, exactly once; an unanswered complaint turns overdue and goes
//! to staff; an answer in time silences what is left.

use badge_server::account::{self, Account, Email, Role};
use badge_server::queue::run_due;
use badge_server::{AppState, application, complaint};
use ca::on_pool;
use ca::profile::SiteIdentity;
use testkit::Backend;

use crate::queue::state;

const T0: i64 = 1_900_000_000;
const HOUR: i64 = 3600;
const DAY: i64 = 24 * HOUR;

struct People {
    visitor: Account,
    operator: Account,
}

/// A certified site through the real application store and approval (the
/// verification step is marked `review` directly: there is no DNS here).
async fn certified_site(s: &AppState) -> (String, People) {
    let email = |e: &str| Email::parse(e).unwrap();
    let operator = account::ensure(&s.db, &email("op@chenxi-shuzhi.cn"), Role::Operator)
        .await
        .unwrap();
    let staff = account::ensure(&s.db, &email("staff@chengxin.test"), Role::Staff)
        .await
        .unwrap();
    let visitor = account::ensure(&s.db, &email("visitor@example.com"), Role::User)
        .await
        .unwrap();
    let identity = SiteIdentity::parse(
        "北京晨曦数智科技有限公司",
        "91110108MA04T7K21H",
        "京ICP备2024018653号-1",
        "北京市",
        "海淀区",
        &["chenxi-shuzhi.cn"],
    )
    .unwrap();
    let app = application::insert(&s.db, &operator, &identity, None)
        .await
        .unwrap();
    on_pool!(&s.db, |p| sqlx::query(
        "UPDATE applications SET status = 'review' WHERE id = $1"
    )
    .bind(&app.id)
    .execute(p)
    .await
    .map(drop)
    .unwrap());
    let app = application::get(&s.db, &app.id).await.unwrap().unwrap();
    let site = application::approve(s, &app, &staff).await.unwrap();
    (
        site["site"].as_str().unwrap().to_string(),
        People { visitor, operator },
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
    complaint::get(&s.db, id).await.unwrap().status
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
        let events = complaint::events(&s.db, &c.id).await.unwrap();
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
        let who = account::ensure(
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
    assert_eq!(
        complaint::reputation(&s.db, &site, now).await.unwrap(),
        None
    );
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
    let r = complaint::reputation(&s.db, &site, T0 + 7 * DAY)
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
        complaint::reputation(&s.db, &site, T0 + 7 * DAY)
            .await
            .unwrap(),
        None
    );
}
