//! `chengxin-db`: the one database every Chengxin component shares.
//!
//! SQLite by default, PostgreSQL for replicas. The migrations of every table live
//! here (`migrations/{sqlite,postgres}`), whichever component writes it.
//!
//! sqlx has no usable "any" driver for our needs, so [`Database`] and [`Tx`] are enums
//! over the two concrete backends and the [`on_pool!`] and [`on_tx!`] macros run one query text on whichever is in use. Every
//! query is written once, with `$1`-style placeholders that both backends accept.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, Postgres, Sqlite, SqlitePool, Transaction, TransactionManager as _};

/// Why the database could not be opened or used.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The database failed (connection, query, constraint, disk full, …).
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// A migration failed.
    #[error("database migration: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// The SQLite file or its directory could not be created or protected.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: std::path::PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The URL names no backend we speak, or a task died.
    #[error("configuration: {0}")]
    Config(String),
}

impl Error {
    fn io(path: &Path, source: std::io::Error) -> Self {
        Error::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// This crate's result.
pub type Result<T> = std::result::Result<T, Error>;

/// A connection pool to the one shared database.
#[derive(Clone, Debug)]
pub enum Database {
    /// Embedded SQLite in WAL mode (single machine).
    Sqlite(SqlitePool),
    /// PostgreSQL (several replicas).
    Postgres(PgPool),
}

/// How many of the pool's connections are in use and idle ([`Database::connections`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolConnections {
    /// Lent out: a query or transaction runs on each.
    pub in_use: u32,
    /// Open and waiting in the pool.
    pub idle: u32,
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
            $crate::Database::Sqlite($c) => $body,
            $crate::Database::Postgres($c) => $body,
        }
    };
}

/// Runs `$body` with `$c` bound to the connection of the transaction `$tx`.
#[macro_export]
macro_rules! on_tx {
    ($tx:expr, |$c:ident| $body:expr) => {
        match $tx {
            $crate::Tx::Sqlite(t) => {
                let $c = &mut **t;
                $body
            }
            $crate::Tx::Postgres(t) => {
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
                .after_release(|c, _| Box::pin(outside_transaction(c)))
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
            if path != ":memory:" {
                owner_only(Path::new(path))?;
            }
            let opts = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10));
            let pool = SqlitePoolOptions::new()
                .max_connections(8)
                .after_release(|c, _| Box::pin(outside_transaction(c)))
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
            Database::Sqlite(p) => sqlx::migrate!("./migrations/sqlite").run(p).await?,
            Database::Postgres(p) => sqlx::migrate!("./migrations/postgres").run(p).await?,
        }
        Ok(())
    }

    /// Starts a transaction. On SQLite it is `BEGIN IMMEDIATE`: the write lock is
    /// taken at the start, so concurrent writers queue on the busy timeout. A deferred
    /// transaction that reads before it writes fails at once with "database is
    /// locked" when another writer holds the lock (SQLite cannot upgrade it), which
    /// the bench-seal seeding hit with four concurrent approvals.
    ///
    /// `BEGIN` runs on a task of its own, so that it finishes whatever happens to the
    /// caller. sqlx 0.8.6 cannot be cancelled safely there: a future dropped after
    /// `BEGIN` ran but before the `Transaction` was built (SQLite: `begin_with`'s
    /// check that a transaction started; PostgreSQL: the wait for `BEGIN`'s answer,
    /// launchbadge/sqlx#4385) hands the connection back to the pool inside a
    /// transaction nobody tracks. A request cut off there (a client hanging up, the
    /// request timeout) left every later write on that connection failing or never
    /// committed and, on SQLite, the write lock held. On the task the `Transaction`
    /// is always built; when nobody waits for it any more it is dropped there, which
    /// rolls it back.
    ///
    /// The wait (a pooled connection, then the write lock on SQLite) is recorded in
    /// `chengxin_db_begin_seconds`.
    pub async fn begin(&self) -> Result<Tx> {
        self.begin_on_task("BEGIN IMMEDIATE", "BEGIN").await
    }

    /// Starts a read-only transaction whose every statement sees one snapshot of the
    /// database: what a check that reads several tables of a live database needs.
    /// `ca audit verify` read the audit entries and then, in a statement of its own,
    /// the head row; an append committed between the two made a sound chain look
    /// broken ("the log ends at entry 23 but the head records entry 24").
    ///
    /// SQLite: a deferred `BEGIN`, whose first read fixes the snapshot (WAL mode) and
    /// which takes no write lock. PostgreSQL: `REPEATABLE READ`, whose snapshot is
    /// taken at the first statement (the default, `READ COMMITTED`, takes one per
    /// statement). Roll it back or drop it when done; it writes nothing.
    pub async fn snapshot(&self) -> Result<Tx> {
        self.begin_on_task("BEGIN", "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .await
    }

    /// Runs `BEGIN` (`sqlite` or `postgres`, by backend) on a task of its own; see
    /// [`Database::begin`] for why.
    async fn begin_on_task(&self, sqlite: &'static str, postgres: &'static str) -> Result<Tx> {
        let db = self.clone();
        let started = std::time::Instant::now();
        let tx = tokio::spawn(async move {
            Ok(match db {
                Database::Sqlite(p) => Tx::Sqlite(p.begin_with(sqlite).await?),
                Database::Postgres(p) => Tx::Postgres(p.begin_with(postgres).await?),
            })
        })
        .await
        .map_err(|e| Error::Config(format!("the task beginning a transaction died: {e}")))?;
        metrics::histogram!("chengxin_db_begin_seconds").record(started.elapsed().as_secs_f64());
        tx
    }

    /// Connections the pool holds now: in use and idle.
    pub fn connections(&self) -> PoolConnections {
        let (size, idle) = on_pool!(self, |p| (p.size(), p.num_idle()));
        let idle = u32::try_from(idle).unwrap_or(u32::MAX).min(size);
        PoolConnections {
            in_use: size - idle,
            idle,
        }
    }

    /// Proves the database takes writes: one committed write transaction (a no-op
    /// update of the health probe row). `ca init` runs it before it creates any key,
    /// so that a database that is down, read-only or full stops it while there is
    /// still nothing to undo.
    pub async fn check_writable(&self) -> Result<()> {
        let mut tx = self.begin().await?;
        let updated = on_tx!(&mut tx, |c| sqlx::query(
            "UPDATE health_probe SET written_at = written_at WHERE id = 1"
        )
        .execute(c)
        .await?
        .rows_affected());
        if updated != 1 {
            return Err(Error::Config(
                "the database has no health_probe row: is it Chengxin's?".into(),
            ));
        }
        tx.commit().await
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

/// Makes the SQLite file readable and writable by its owner only, creating it so when
/// missing (SQLite gives its `-wal` and `-shm` files the database file's mode). It
/// holds webhook secrets, session hashes and personal data; it used to be created
/// 0644. An existing file others can read is tightened, with a warning.
fn owner_only(path: &Path) -> Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    match std::fs::metadata(path) {
        Ok(meta) if meta.permissions().mode() & 0o077 != 0 => {
            tracing::warn!(
                path = %path.display(),
                mode = format!("{:o}", meta.permissions().mode() & 0o777),
                "the database file was readable by other users; now 0600"
            );
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
                .map_err(|e| Error::io(path, e))
        }
        Ok(_) => Ok(()),
        Err(_) => std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)
            .map(drop)
            .map_err(|e| Error::io(path, e)),
    }
}

/// The pool's check of a connection handed back: it goes back to the pool only
/// outside any transaction. A dropped `Transaction` queues its `ROLLBACK`; the ping
/// runs it first. A connection still inside a transaction after that is one whose
/// `ROLLBACK` failed — SQLite rolls a transaction back by itself on some errors
/// (`SQLITE_FULL`, I/O errors), and sqlx 0.8.6 then keeps counting it as open, so
/// every later `begin` on the connection failed with "non-zero transaction depth"
/// even after the disk had room again. Such a connection is closed (which ends any
/// transaction) and the pool opens a fresh one when it needs it.
async fn outside_transaction<C: sqlx::Connection>(conn: &mut C) -> sqlx::Result<bool> {
    conn.ping().await?;
    let depth = <C::Database as sqlx::Database>::TransactionManager::get_transaction_depth(conn);
    if depth > 0 {
        tracing::warn!(
            depth,
            "a database connection came back inside a transaction; closing it"
        );
    }
    Ok(depth == 0)
}

impl Tx {
    /// Commits the transaction.
    ///
    /// How long the commit takes (the write to disk) is recorded in
    /// `chengxin_db_commit_seconds`.
    pub async fn commit(self) -> Result<()> {
        let started = std::time::Instant::now();
        match self {
            Tx::Sqlite(t) => t.commit().await?,
            Tx::Postgres(t) => t.commit().await?,
        }
        metrics::histogram!("chengxin_db_commit_seconds").record(started.elapsed().as_secs_f64());
        Ok(())
    }

    /// Rolls the transaction back: how a [`Database::snapshot`] ends. (Dropping a
    /// transaction rolls it back too, but only when its connection is next used.)
    pub async fn rollback(self) -> Result<()> {
        match self {
            Tx::Sqlite(t) => t.rollback().await?,
            Tx::Postgres(t) => t.rollback().await?,
        }
        Ok(())
    }
}
