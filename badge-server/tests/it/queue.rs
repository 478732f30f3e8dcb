//! The job queue in process, on SQLite and PostgreSQL, driven by a controlled clock:
//! claims and leases, backoff, max_attempts and the audit entry of a failed job,
//! dedupe keys, unknown kinds, and mail without an SMTP server.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::Path;
use std::sync::Arc;

use badge_server::AppError;
use badge_server::http::AppState;
use badge_server::jobs::queue::{self, Job, JobError, Queue, QueueSettings, run_due};
use badge_server::service::Services;
use ca::db::Database;
use ca::on_pool;
use serde_json::json;
use testkit::Backend;

const T0: i64 = 1_900_000_000;

async fn ok(_: &Services, _: &Job) -> Result<(), JobError> {
    Ok(())
}

async fn boom(_: &Services, _: &Job) -> Result<(), JobError> {
    Err(JobError::Retry("boom".into()))
}

async fn hopeless(_: &Services, _: &Job) -> Result<(), JobError> {
    Err(JobError::Fail("cannot ever work".into()))
}

/// A use case that refuses: the caller may not do this, ever.
async fn forbidden(_: &Services, _: &Job) -> Result<(), JobError> {
    Err(AppError::Forbidden("staff only".into()))?
}

/// A use case that hit an internal error (the database, the network).
async fn internal(_: &Services, _: &Job) -> Result<(), JobError> {
    Err(AppError::Internal(ca::Error::Config(
        "database down".into(),
    )))?
}

/// A real state on `backend` with a new CA, the built-in handlers plus `test.ok`,
/// `test.boom` (always retryable failure) and `test.hopeless` (permanent failure),
/// a 30 s backoff base, a one-hour cap and a 300 s lease.
pub(crate) async fn state(dir: &Path, backend: Backend) -> AppState {
    let mut state = crate::app_state(dir, &backend.fresh_database(dir), &[]).await;
    let mut registry = badge_server::app::job_registry();
    registry
        .register("test.ok", ok)
        .register("test.boom", boom)
        .register("test.hopeless", hopeless)
        .register("test.forbidden", forbidden)
        .register("test.internal", internal);
    state.queue = Arc::new(Queue::with_registry(registry, QueueSettings::default()));
    state
}

async fn enqueue(db: &Database, kind: &str, run_at: i64, dedupe: Option<&str>) -> Option<i64> {
    let mut tx = db.begin().await.unwrap();
    let id = queue::enqueue(&mut tx, kind, &json!({"n": 1}), run_at, dedupe)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    id
}

#[derive(Debug, sqlx::FromRow)]
#[allow(dead_code)]
struct Row {
    run_at: i64,
    attempts: i32,
    max_attempts: i32,
    locked_until: Option<i64>,
    locked_by: Option<String>,
    last_error: Option<String>,
    done_at: Option<i64>,
    failed_at: Option<i64>,
}

async fn row(db: &Database, id: i64) -> Row {
    on_pool!(db, |p| sqlx::query_as(
        "SELECT run_at, attempts, max_attempts, locked_until, locked_by, last_error, done_at, \
         failed_at FROM jobs WHERE id = $1"
    )
    .bind(id)
    .fetch_one(p)
    .await
    .unwrap())
}

async fn exec(db: &Database, sql: &str) {
    on_pool!(db, |p| {
        sqlx::query(sql).execute(p).await.unwrap();
    });
}

/// `(action, subject, details)` of the audit entries with `action`.
async fn audit(db: &Database, action: &str) -> Vec<(String, String, String)> {
    on_pool!(db, |p| sqlx::query_as(
        "SELECT action, subject, details FROM audit_log WHERE action = $1 ORDER BY seq"
    )
    .bind(action)
    .fetch_all(p)
    .await
    .unwrap())
}

#[tokio::test]
async fn a_due_job_runs_once_and_is_marked_done_while_a_later_one_waits() {
    for backend in Backend::all() {
        let dir = tempfile::tempdir().unwrap();
        let s = state(dir.path(), backend).await;
        let now_job = enqueue(&s.db, "test.ok", T0, None).await.unwrap();
        let later = enqueue(&s.db, "test.ok", T0 + 60, None).await.unwrap();

        assert_eq!(run_due(&s, T0).await.unwrap(), 1, "{backend:?}");
        let r = row(&s.db, now_job).await;
        assert_eq!(r.done_at, Some(T0));
        assert_eq!(r.attempts, 1);
        assert_eq!(r.locked_by.as_deref(), Some(s.queue.worker_id.as_str()));
        assert_eq!(r.locked_until, None);
        assert_eq!(row(&s.db, later).await.attempts, 0);

        assert_eq!(run_due(&s, T0 + 59).await.unwrap(), 0, "{backend:?}");
        assert_eq!(run_due(&s, T0 + 60).await.unwrap(), 1, "{backend:?}");
        assert_eq!(row(&s.db, later).await.done_at, Some(T0 + 60));
        assert_eq!(
            run_due(&s, T0 + 3600).await.unwrap(),
            0,
            "done jobs never run again"
        );
    }
}

#[tokio::test]
async fn a_claimed_job_is_not_claimed_again_until_its_lease_runs_out() {
    for backend in Backend::all() {
        let dir = tempfile::tempdir().unwrap();
        let s = state(dir.path(), backend).await;
        let id = enqueue(&s.db, "test.ok", T0, None).await.unwrap();

        let first = queue::worker::claim(&s.db, "worker-a", T0, 300, 10)
            .await
            .unwrap();
        assert_eq!(first.len(), 1);
        assert_eq!((first[0].id, first[0].attempts), (id, 1));
        let r = row(&s.db, id).await;
        assert_eq!(r.locked_until, Some(T0 + 300));
        assert_eq!(r.locked_by.as_deref(), Some("worker-a"));

        // Within the lease nobody else gets it, nor does the holder twice.
        for (who, at) in [
            ("worker-b", T0 + 1),
            ("worker-a", T0 + 299),
            ("worker-b", T0 + 300),
        ] {
            let again = queue::worker::claim(&s.db, who, at, 300, 10).await.unwrap();
            assert!(again.is_empty(), "{backend:?}: {who} claimed it at {at}");
        }
        // worker-a died: after the lease the job is taken over, the attempt counted.
        let taken = queue::worker::claim(&s.db, "worker-b", T0 + 301, 300, 10)
            .await
            .unwrap();
        assert_eq!(taken.len(), 1, "{backend:?}");
        assert_eq!(taken[0].attempts, 2);
        assert_eq!(row(&s.db, id).await.locked_by.as_deref(), Some("worker-b"));
    }
}

#[tokio::test]
async fn a_batch_claims_at_most_its_size_in_run_at_order() {
    for backend in Backend::all() {
        let dir = tempfile::tempdir().unwrap();
        let s = state(dir.path(), backend).await;
        let mut ids = Vec::new();
        for i in 0..5 {
            ids.push(enqueue(&s.db, "test.ok", T0 - i, None).await.unwrap());
        }
        let batch = queue::worker::claim(&s.db, "w", T0, 300, 3).await.unwrap();
        let got: Vec<i64> = batch.iter().map(|j| j.id).collect();
        assert_eq!(got, vec![ids[4], ids[3], ids[2]], "{backend:?}");
        let rest = queue::worker::claim(&s.db, "w2", T0, 300, 3).await.unwrap();
        assert_eq!(rest.len(), 2, "{backend:?}");
    }
}

#[tokio::test]
async fn a_failing_job_is_retried_with_exponential_backoff_then_failed_with_an_audit_entry() {
    for backend in Backend::all() {
        let dir = tempfile::tempdir().unwrap();
        let s = state(dir.path(), backend).await;
        let id = enqueue(&s.db, "test.boom", T0, None).await.unwrap();
        exec(
            &s.db,
            &format!("UPDATE jobs SET max_attempts = 4 WHERE id = {id}"),
        )
        .await;

        let mut now = T0;
        for attempt in 1..=3 {
            assert_eq!(
                run_due(&s, now).await.unwrap(),
                1,
                "{backend:?} attempt {attempt}"
            );
            let r = row(&s.db, id).await;
            assert_eq!(r.attempts, attempt);
            assert_eq!(r.last_error.as_deref(), Some("boom"));
            assert_eq!((r.done_at, r.failed_at, r.locked_until), (None, None, None));
            // 30 s, 60 s, 120 s, plus up to a fifth of jitter.
            let delay = 30 * (1 << (attempt - 1));
            assert!(
                (now + delay..=now + delay + delay / 5).contains(&r.run_at),
                "{backend:?} attempt {attempt}: retry at +{} s, expected +{delay} s",
                r.run_at - now
            );
            assert_eq!(
                run_due(&s, r.run_at - 1).await.unwrap(),
                0,
                "not before its time"
            );
            now = r.run_at;
        }
        assert!(audit(&s.db, "job.failed").await.is_empty());

        assert_eq!(run_due(&s, now).await.unwrap(), 1);
        let r = row(&s.db, id).await;
        assert_eq!(r.attempts, 4);
        assert_eq!(r.failed_at, Some(now));
        assert_eq!(r.done_at, None);
        assert_eq!(r.last_error.as_deref(), Some("boom"));
        let entries = audit(&s.db, "job.failed").await;
        assert_eq!(entries.len(), 1, "{backend:?}");
        assert_eq!(entries[0].1, format!("job:{id}"));
        let details: serde_json::Value = serde_json::from_str(&entries[0].2).unwrap();
        assert_eq!(details["kind"], "test.boom");
        assert_eq!(details["attempts"], 4);
        assert_eq!(details["error"], "boom");
        ca::audit::verify(&s.db).await.unwrap();

        assert_eq!(
            run_due(&s, now + 86_400).await.unwrap(),
            0,
            "failed jobs stay failed"
        );
    }
}

#[test]
fn backoff_doubles_from_the_base_and_stops_at_the_cap() {
    let q = QueueSettings::default();
    let delays: Vec<i64> = (1..=9).map(|a| q.backoff_secs(a)).collect();
    assert_eq!(delays, vec![30, 60, 120, 240, 480, 960, 1920, 3600, 3600]);
    assert_eq!(q.backoff_secs(1000), 3600);
    for attempt in 1..=9 {
        let d = q.backoff_secs(attempt);
        for _ in 0..50 {
            let j = q.backoff_with_jitter(attempt);
            assert!((d..=d + d / 5).contains(&j), "{attempt}: {j}");
        }
    }
}

#[tokio::test]
async fn a_job_that_cannot_succeed_fails_at_once_with_an_audit_entry() {
    for backend in Backend::all() {
        let dir = tempfile::tempdir().unwrap();
        let s = state(dir.path(), backend).await;
        let id = enqueue(&s.db, "test.hopeless", T0, None).await.unwrap();
        assert_eq!(run_due(&s, T0).await.unwrap(), 1);
        let r = row(&s.db, id).await;
        assert_eq!((r.attempts, r.failed_at), (1, Some(T0)), "{backend:?}");
        assert_eq!(r.last_error.as_deref(), Some("cannot ever work"));
        assert_eq!(audit(&s.db, "job.failed").await.len(), 1);
    }
}

#[tokio::test]
async fn a_use_case_refusal_fails_the_job_at_once_and_an_internal_error_is_retried() {
    for backend in Backend::all() {
        let dir = tempfile::tempdir().unwrap();
        let s = state(dir.path(), backend).await;
        let refused = enqueue(&s.db, "test.forbidden", T0, None).await.unwrap();
        let broken = enqueue(&s.db, "test.internal", T0, None).await.unwrap();
        assert_eq!(run_due(&s, T0).await.unwrap(), 2);
        let r = row(&s.db, refused).await;
        assert_eq!((r.attempts, r.failed_at), (1, Some(T0)), "{backend:?}");
        assert_eq!(r.last_error.as_deref(), Some("staff only"));
        let r = row(&s.db, broken).await;
        assert_eq!((r.attempts, r.failed_at), (1, None), "{backend:?}");
        assert!(
            r.run_at >= T0 + 30,
            "retried after the backoff: {}",
            r.run_at
        );
        assert!(r.last_error.unwrap().contains("database down"));
        assert_eq!(audit(&s.db, "job.failed").await.len(), 1);
    }
}

#[tokio::test]
async fn enqueueing_twice_with_one_dedupe_key_makes_one_job() {
    for backend in Backend::all() {
        let dir = tempfile::tempdir().unwrap();
        let s = state(dir.path(), backend).await;
        let first = enqueue(&s.db, "test.ok", T0, Some("reminder:c_1:48h")).await;
        let second = enqueue(&s.db, "test.ok", T0 + 5, Some("reminder:c_1:48h")).await;
        assert!(first.is_some(), "{backend:?}");
        assert_eq!(second, None, "{backend:?}");
        // Also after the first one ran.
        assert_eq!(run_due(&s, T0).await.unwrap(), 1);
        assert_eq!(
            enqueue(&s.db, "test.ok", T0, Some("reminder:c_1:48h")).await,
            None
        );
        // Jobs without a key never collide.
        assert!(enqueue(&s.db, "test.ok", T0, None).await.is_some());
        assert!(enqueue(&s.db, "test.ok", T0, None).await.is_some());
        let n: (i64,) = on_pool!(&s.db, |p| sqlx::query_as(
            "SELECT COUNT(*) FROM jobs WHERE kind = 'test.ok'"
        )
        .fetch_one(p)
        .await
        .unwrap());
        assert_eq!(n.0, 3, "{backend:?}");
    }
}

#[tokio::test]
async fn a_job_of_an_unknown_kind_is_retried_then_fails_without_stopping_the_others() {
    for backend in Backend::all() {
        let dir = tempfile::tempdir().unwrap();
        let s = state(dir.path(), backend).await;
        let unknown = enqueue(&s.db, "complaint.from-the-future", T0, None)
            .await
            .unwrap();
        let fine = enqueue(&s.db, "test.ok", T0, None).await.unwrap();
        exec(
            &s.db,
            &format!("UPDATE jobs SET max_attempts = 2 WHERE id = {unknown}"),
        )
        .await;

        assert_eq!(run_due(&s, T0).await.unwrap(), 2, "{backend:?}");
        assert_eq!(row(&s.db, fine).await.done_at, Some(T0));
        let r = row(&s.db, unknown).await;
        assert_eq!((r.attempts, r.done_at, r.failed_at), (1, None, None));
        assert!(
            r.last_error
                .as_deref()
                .unwrap()
                .contains("no handler for job kind"),
            "{r:?}"
        );
        assert_eq!(run_due(&s, r.run_at).await.unwrap(), 1);
        let r = row(&s.db, unknown).await;
        assert!(r.failed_at.is_some(), "{backend:?}: {r:?}");
        assert_eq!(audit(&s.db, "job.failed").await.len(), 1);
    }
}

#[tokio::test]
async fn a_malformed_payload_fails_the_job_without_running_it() {
    for backend in Backend::all() {
        let dir = tempfile::tempdir().unwrap();
        let s = state(dir.path(), backend).await;
        exec(
            &s.db,
            &format!(
                "INSERT INTO jobs (kind, payload, run_at, created_at) VALUES \
                 ('mail', 'not json', {T0}, {T0}), ('mail', '{{\"to\": 1}}', {T0}, {T0})"
            ),
        )
        .await;
        assert_eq!(run_due(&s, T0).await.unwrap(), 2);
        let failed: Vec<(Option<i64>, String)> = on_pool!(&s.db, |p| sqlx::query_as(
            "SELECT failed_at, last_error FROM jobs ORDER BY id"
        )
        .fetch_all(p)
        .await
        .unwrap());
        assert!(
            failed.iter().all(|(f, _)| *f == Some(T0)),
            "{backend:?}: {failed:?}"
        );
        assert!(failed[0].1.contains("not a JSON object"), "{failed:?}");
        assert!(failed[1].1.contains("mail payload"), "{failed:?}");
    }
}

#[tokio::test]
async fn without_an_smtp_server_a_mail_is_logged_and_marked_done() {
    for backend in Backend::all() {
        let dir = tempfile::tempdir().unwrap();
        let s = state(dir.path(), backend).await;
        let mut tx = s.db.begin().await.unwrap();
        let id = queue::enqueue(
            &mut tx,
            badge_server::jobs::kind::MAIL,
            &json!({"to": "ops@chenxi-shuzhi.cn", "subject": "投诉通知", "text": "您好"}),
            T0,
            None,
        )
        .await
        .unwrap()
        .unwrap();
        tx.commit().await.unwrap();
        assert_eq!(run_due(&s, T0).await.unwrap(), 1);
        let r = row(&s.db, id).await;
        assert_eq!(r.done_at, Some(T0), "{backend:?}: {r:?}");
    }
}

#[tokio::test]
async fn the_pki_refresh_job_refreshes_and_schedules_exactly_one_run_for_the_next_hour() {
    for backend in Backend::all() {
        let dir = tempfile::tempdir().unwrap();
        let s = state(dir.path(), backend).await;
        let hour = T0 - T0 % 3600;
        badge_server::jobs::handlers::schedule(&s.db, T0)
            .await
            .unwrap();
        badge_server::jobs::handlers::schedule(&s.db, T0 + 10)
            .await
            .unwrap();
        assert_eq!(run_due(&s, T0).await.unwrap(), 1, "{backend:?}");
        // The job ran: a CRL exists, and the next hour's run is queued once.
        assert!(
            ca::store::latest_crl(&s.db, s.ca.slug())
                .await
                .unwrap()
                .is_some()
        );
        let next: Vec<(i64, String)> = on_pool!(&s.db, |p| sqlx::query_as(
            "SELECT run_at, dedupe_key FROM jobs WHERE kind = 'pki.refresh' AND done_at IS NULL"
        )
        .fetch_all(p)
        .await
        .unwrap());
        assert_eq!(
            next,
            vec![(hour + 3600, format!("pki.refresh:{}", hour + 3600))],
            "{backend:?}"
        );
        assert_eq!(run_due(&s, hour + 3600).await.unwrap(), 1);
    }
}

#[tokio::test]
async fn housekeeping_deletes_old_finished_jobs_expired_sessions_and_old_links_and_keeps_the_rest()
{
    const DAY: i64 = 86_400;
    for backend in Backend::all() {
        let dir = tempfile::tempdir().unwrap();
        let s = state(dir.path(), backend).await;
        // Jobs: done 31 days ago (goes), done 29 days ago (stays), failed 91 days
        // ago (goes), failed 89 days ago (stays), pending since long ago (stays).
        for (kind, done, failed) in [
            ("old.done", Some(T0 - 31 * DAY), None),
            ("new.done", Some(T0 - 29 * DAY), None),
            ("old.failed", None, Some(T0 - 91 * DAY)),
            ("new.failed", None, Some(T0 - 89 * DAY)),
            ("pending", None, None),
        ] {
            let id = enqueue(&s.db, kind, T0 - 200 * DAY, None).await.unwrap();
            on_pool!(&s.db, |p| sqlx::query(
                "UPDATE jobs SET done_at = $2, failed_at = $3 WHERE id = $1"
            )
            .bind(id)
            .bind(done)
            .bind(failed)
            .execute(p)
            .await
            .map(drop)
            .unwrap());
        }
        let account = badge_server::store::accounts::ensure(
            &s.db,
            &badge_server::domain::account::Email::parse("li.lei@example.cn").unwrap(),
            badge_server::domain::account::Role::User,
        )
        .await
        .unwrap();
        for (hash, expires) in [("expired", T0 - 1), ("live", T0 + 3600)] {
            on_pool!(&s.db, |p| {
                sqlx::query(
                "INSERT INTO sessions (id_hash, account_id, csrf_token, created_at, last_seen_at, expires_at) \
                 VALUES ($1, $2, 'csrf', $3, $3, $4)"
            )
            .bind(hash.as_bytes())
            .bind(account.id)
            .bind(T0 - DAY)
            .bind(expires)
            .execute(p)
            .await
            .map(drop)
            .unwrap()
            });
        }
        for (hash, expires, used) in [
            ("expired-8-days-ago", T0 - 8 * DAY, None),
            ("used-8-days-ago", T0 + DAY, Some(T0 - 8 * DAY)),
            ("expired-yesterday", T0 - DAY, None),
            ("used-yesterday", T0 + DAY, Some(T0 - DAY)),
            ("unused", T0 + DAY, None),
        ] {
            on_pool!(&s.db, |p| {
                sqlx::query(
                "INSERT INTO email_tokens (token_hash, account_id, purpose, created_at, expires_at, used_at) \
                 VALUES ($1, $2, 'confirm', $3, $4, $5)"
            )
            .bind(hash.as_bytes())
            .bind(account.id)
            .bind(T0 - 10 * DAY)
            .bind(expires)
            .bind(used)
            .execute(p)
            .await
            .map(drop)
            .unwrap()
            });
        }

        badge_server::jobs::handlers::schedule_housekeeping(&s.db, T0)
            .await
            .unwrap();
        badge_server::jobs::handlers::schedule_housekeeping(&s.db, T0 + 60)
            .await
            .unwrap();
        // The housekeeping run and the old pending job (an unknown kind, retried).
        assert_eq!(run_due(&s, T0).await.unwrap(), 2, "{backend:?}");

        let strings = |sql: &'static str| {
            let db = s.db.clone();
            async move {
                let rows: Vec<(String,)> =
                    on_pool!(&db, |p| sqlx::query_as(sql).fetch_all(p).await.unwrap());
                rows.into_iter().map(|r| r.0).collect::<Vec<_>>()
            }
        };
        assert_eq!(
            strings("SELECT kind FROM jobs WHERE kind <> 'housekeeping' ORDER BY id").await,
            ["new.done", "new.failed", "pending"],
            "{backend:?}"
        );
        let day = T0 - T0 % 86_400;
        let next: Vec<(i64, String)> = on_pool!(&s.db, |p| {
            sqlx::query_as(
            "SELECT run_at, dedupe_key FROM jobs WHERE kind = 'housekeeping' AND done_at IS NULL"
        )
        .fetch_all(p)
        .await
        .unwrap()
        });
        assert_eq!(
            next,
            vec![(day + 86_400, format!("housekeeping:{}", day + 86_400))],
            "{backend:?}: one run tomorrow"
        );
        let sessions: Vec<(Vec<u8>,)> = on_pool!(&s.db, |p| sqlx::query_as(
            "SELECT id_hash FROM sessions ORDER BY id_hash"
        )
        .fetch_all(p)
        .await
        .unwrap());
        assert_eq!(sessions, vec![(b"live".to_vec(),)], "{backend:?}");
        let tokens: Vec<(Vec<u8>,)> = on_pool!(&s.db, |p| sqlx::query_as(
            "SELECT token_hash FROM email_tokens ORDER BY id"
        )
        .fetch_all(p)
        .await
        .unwrap());
        assert_eq!(
            tokens,
            vec![
                (b"expired-yesterday".to_vec(),),
                (b"used-yesterday".to_vec(),),
                (b"unused".to_vec(),)
            ],
            "{backend:?}"
        );
    }
}
