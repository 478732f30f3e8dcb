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
