//! The shared database: SQLite by default, PostgreSQL for replicas.
//!
//! sqlx has no usable "any" driver for our needs, so [`Database`] and [`Tx`] are enums
//! over the two concrete backends and the [`on_pool!`](crate::on_pool) and
//! [`on_tx!`](crate::on_tx) macros run one query text on whichever is in use. Every
//! query is written once, with `$1`-style placeholders that both backends accept.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, Postgres, Sqlite, SqlitePool, Transaction};

use crate::{Error, Result};

/// A connection pool to the one shared database.
#[derive(Clone, Debug)]
pub enum Database {
    /// Embedded SQLite in WAL mode (single machine).
    Sqlite(SqlitePool),
    /// PostgreSQL (several replicas).
    Postgres(PgPool),
}

/// A transaction on the shared database.
#[derive(Debug)]
pub enum Tx {
    /// SQLite transaction.
    Sqlite(Transaction<'static, Sqlite>),
    /// PostgreSQL transaction.
    Postgres(Transaction<'static, Postgres>),
}

/// Runs `$body` with `$c` bound to the pool of whichever backend `$db` uses.
#[macro_export]
macro_rules! on_pool {
    ($db:expr, |$c:ident| $body:expr) => {
        match $db {
            $crate::db::Database::Sqlite($c) => $body,
            $crate::db::Database::Postgres($c) => $body,
        }
    };
}

/// Runs `$body` with `$c` bound to the connection of the transaction `$tx`.
#[macro_export]
macro_rules! on_tx {
    ($tx:expr, |$c:ident| $body:expr) => {
        match $tx {
            $crate::db::Tx::Sqlite(t) => {
                let $c = &mut **t;
                $body
            }
            $crate::db::Tx::Postgres(t) => {
                let $c = &mut **t;
                $body
            }
        }
    };
}

impl Database {
    /// Connects to `url` (`sqlite://path` or `postgres://…`) and applies the migrations.
    /// A SQLite file and its directory are created when missing.
    pub async fn connect(url: &str) -> Result<Self> {
        let db = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let opts = PgConnectOptions::from_str(url)?;
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(opts)
                .await?;
            Database::Postgres(pool)
        } else if let Some(path) = url.strip_prefix("sqlite://") {
            let path = path.split('?').next().unwrap_or(path);
            if path != ":memory:"
                && let Some(parent) = Path::new(path)
                    .parent()
                    .filter(|p| !p.as_os_str().is_empty())
            {
                std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
            }
            let opts = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10));
            let pool = SqlitePoolOptions::new()
                .max_connections(8)
                .connect_with(opts)
                .await?;
            Database::Sqlite(pool)
        } else {
            return Err(Error::Config(format!(
                "database URL must start with sqlite:// or postgres://, got {url:?}"
            )));
        };
        db.migrate().await?;
        Ok(db)
    }

    async fn migrate(&self) -> Result<()> {
        match self {
            Database::Sqlite(p) => sqlx::migrate!("../migrations/sqlite").run(p).await?,
            Database::Postgres(p) => sqlx::migrate!("../migrations/postgres").run(p).await?,
        }
        Ok(())
    }

    /// Starts a transaction. On SQLite it is `BEGIN IMMEDIATE`: the write lock is
    /// taken at the start, so concurrent writers queue on the busy timeout. A deferred
    /// transaction that reads before it writes fails at once with "database is
    /// locked" when another writer holds the lock (SQLite cannot upgrade it), which
    /// the bench-seal seeding hit with four concurrent approvals.
    pub async fn begin(&self) -> Result<Tx> {
        Ok(match self {
            Database::Sqlite(p) => Tx::Sqlite(p.begin_with("BEGIN IMMEDIATE").await?),
            Database::Postgres(p) => Tx::Postgres(p.begin().await?),
        })
    }

    /// Which backend, for logs and metrics.
    pub fn backend(&self) -> &'static str {
        match self {
            Database::Sqlite(_) => "sqlite",
            Database::Postgres(_) => "postgres",
        }
    }

    /// Closes the pool, waiting for connections to be returned.
    pub async fn close(&self) {
        on_pool!(self, |p| p.close().await)
    }
}

impl Tx {
    /// Commits the transaction.
    pub async fn commit(self) -> Result<()> {
        match self {
            Tx::Sqlite(t) => t.commit().await?,
            Tx::Postgres(t) => t.commit().await?,
        }
        Ok(())
    }
}
