//! The shared database's transactions against real databases (SQLite and PostgreSQL):
//! however a caller's future ends, a transaction ends with it.

#![allow(clippy::unwrap_used, missing_docs)]

use std::time::Duration;

use chengxin_db::{Database, on_pool, on_tx};
use testkit::Backend;

/// Rows written by the writes that are expected to commit start here, above anything
/// a cancelled attempt wrote.
const CHECK: i64 = 1_000_000;

/// A write transaction: begin, insert `n`, commit.
async fn write(db: &Database, n: i64) -> chengxin_db::Result<()> {
    let mut tx = db.begin().await?;
    on_tx!(&mut tx, |c| sqlx::query(
        "INSERT INTO scratch (n) VALUES ($1)"
    )
    .bind(n)
    .execute(c)
    .await
    .map(drop))?;
    tx.commit().await
}

/// Rows at or above [`CHECK`], counted by another client (the `sqlite3` shell or
/// psql), so only what was really committed counts.
fn committed(backend: Backend, url: &str) -> i64 {
    let sql = format!("SELECT count(*) FROM scratch WHERE n >= {CHECK}");
    let out = match backend {
        Backend::Sqlite => testkit::sqlite3(url, &sql),
        Backend::Postgres => testkit::psql(url, &sql),
    };
    out.trim().parse().unwrap()
}

/// Requests cut off at every moment of their transaction (a client hanging up, the
/// server's request timeout) leave no connection inside a transaction: afterwards,
/// writes on every connection of the pool still commit, and another client sees them.
/// sqlx 0.8.6 returned a connection whose `BEGIN` had run but whose `Transaction` was
/// never built to the pool still inside that transaction: its later `begin`s failed
/// with "non-zero transaction depth", what it wrote was never committed, and on
/// SQLite it held the write lock, so every other writer failed too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_ends_however_its_caller_is_cancelled() {
    for backend in Backend::all() {
        let dir = tempfile::tempdir().unwrap();
        let url = backend.fresh_database(dir.path());
        let db = Database::connect(&url).await.unwrap();
        on_pool!(&db, |p| sqlx::query(
            "CREATE TABLE scratch (n BIGINT NOT NULL)"
        )
        .execute(p)
        .await
        .map(drop))
        .unwrap();
        // Cut-offs from 0 to 2 ms in 10 µs steps, with some of them in flight at once
        // so that every connection of the pool gets its share.
        for round in 0..10i64 {
            let mut attempts = tokio::task::JoinSet::new();
            for k in 0..20i64 {
                let db = db.clone();
                attempts.spawn(async move {
                    let n = round * 20 + k;
                    let cut = Duration::from_micros(u64::try_from(n * 10).unwrap());
                    let _ = tokio::time::timeout(cut, write(&db, n)).await;
                });
            }
            attempts.join_all().await;
        }
        // Four times the pool: each write must commit within the test's patience (a
        // connection stuck in a transaction holds SQLite's write lock; the others
        // wait out the 10 s busy timeout and fail).
        let mut writes = tokio::task::JoinSet::new();
        for k in 0..32i64 {
            let db = db.clone();
            writes.spawn(async move {
                tokio::time::timeout(Duration::from_secs(30), write(&db, CHECK + k))
                    .await
                    .map_err(|_| "timed out".to_string())
                    .and_then(|r| r.map_err(|e| e.to_string()))
            });
        }
        let results = writes.join_all().await;
        let failed: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
        assert!(failed.is_empty(), "{backend:?}: writes failed: {failed:?}");
        db.close().await;
        assert_eq!(committed(backend, &url), 32, "{backend:?}");
    }
}

/// A SQLite database in a temporary directory with the `scratch` table, rows in
/// insertion order.
async fn sqlite_scratch(dir: &std::path::Path) -> Database {
    let db = Database::connect(&Backend::Sqlite.fresh_database(dir))
        .await
        .unwrap();
    on_pool!(&db, |p| sqlx::query(
        "CREATE TABLE scratch (id INTEGER PRIMARY KEY, n BIGINT NOT NULL)"
    )
    .execute(p)
    .await
    .map(drop))
    .unwrap();
    db
}

/// SQLite writers of one process take turns in the order they asked: a writer that
/// commits and begins again at once goes after the one already waiting. SQLite's
/// own busy handler polls (up to 100 ms between tries), so the writer beginning
/// again took the lock back before the waiting one woke: the CRL publisher waited
/// out a bulk revocation's batches that way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_writers_take_turns_in_the_order_they_asked() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_scratch(dir.path()).await;
    for round in 0..5 {
        let n = round * 10;
        let mut first = db.begin().await.unwrap();
        on_tx!(&mut first, |c| sqlx::query(
            "INSERT INTO scratch (n) VALUES ($1)"
        )
        .bind(n + 1)
        .execute(c)
        .await
        .map(drop))
        .unwrap();
        let waiting = tokio::spawn({
            let db = db.clone();
            async move { write(&db, n + 2).await }
        });
        // Long enough for the other writer to be waiting.
        tokio::time::sleep(Duration::from_millis(100)).await;
        first.commit().await.unwrap();
        write(&db, n + 3).await.unwrap();
        waiting.await.unwrap().unwrap();
    }
    let order: Vec<(i64,)> = on_pool!(&db, |p| sqlx::query_as("SELECT n FROM scratch ORDER BY id")
        .fetch_all(p)
        .await)
    .unwrap();
    let order: Vec<i64> = order.into_iter().map(|r| r.0).collect();
    let asked: Vec<i64> = (0..5)
        .flat_map(|r| [r * 10 + 1, r * 10 + 2, r * 10 + 3])
        .collect();
    assert_eq!(order, asked);
}

/// A SQLite writer that gets no turn within `WRITE_QUEUE_TIMEOUT` fails with
/// `Error::Busy`, not before (tokio's paused clock, once the first writer holds the
/// turn), and the turn it did not get is not lost: the next writer gets it once the
/// first commits.
#[tokio::test]
async fn a_sqlite_writer_without_a_turn_fails_busy_at_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_scratch(dir.path()).await;
    let first = db.begin().await.unwrap();
    tokio::time::pause();
    let started = tokio::time::Instant::now();
    let refused = db.begin().await.unwrap_err();
    // The timer's millisecond rounds up.
    let waited = started.elapsed();
    assert!(
        waited >= chengxin_db::WRITE_QUEUE_TIMEOUT
            && waited <= chengxin_db::WRITE_QUEUE_TIMEOUT + Duration::from_millis(10),
        "{waited:?}"
    );
    assert!(
        matches!(refused, chengxin_db::Error::Busy(t) if t == chengxin_db::WRITE_QUEUE_TIMEOUT),
        "{refused}"
    );
    tokio::time::resume();
    first.commit().await.unwrap();
    write(&db, CHECK).await.unwrap();
}
