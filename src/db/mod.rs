//! The SQLite database: pragmas, the connection pool, and running blocking work off the async threads.

pub mod audit;
pub mod catalogue;
pub mod intel;
pub mod jobs;
pub mod migrations;
pub mod page;
pub mod tests;
pub mod users;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{Connection, Transaction, TransactionBehavior};

use crate::error::AppError;

pub type Pool = r2d2::Pool<SqliteConnectionManager>;

/// Pragmas every pooled connection gets. `journal_mode=WAL` is not here: it persists in the file
/// and is set once by [`Db::open`] before the pool exists, because setting it from several fresh
/// connections at once makes them race for the lock.
const CONNECTION_PRAGMAS: &str = "PRAGMA busy_timeout = 5000;
     PRAGMA foreign_keys = ON;
     PRAGMA synchronous = FULL;";

/// Enough connections for concurrent readers; SQLite has one writer at a time regardless.
const POOL_SIZE: u32 = 8;

/// Prepared statements kept per connection. rusqlite's default (16) is fewer than the statements one
/// page of the UI runs, so they were parsed again on most requests.
const STATEMENT_CACHE: usize = 256;

#[derive(Clone)]
pub struct Db {
    pool: Pool,
    /// Writers queue here rather than in SQLite's busy handler, which sleeps in steps of up to
    /// 100 ms while another transaction holds the lock: measured, that turned 1 ms commits into
    /// 300 ms tail latencies under concurrent writes.
    writer: Arc<Mutex<()>>,
}

impl Db {
    /// Opens (creating if needed) the database file, switches it to WAL, applies pending
    /// migrations, and builds the pool. Refuses a database written by a newer Aegis.
    pub fn open(path: &Path) -> anyhow::Result<Db> {
        let mut conn = Connection::open(path).with_context(|| format!("opening database {}", path.display()))?;
        conn.execute_batch(CONNECTION_PRAGMAS)?;
        let mode: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            anyhow::bail!("database {} could not be switched to WAL (got {mode})", path.display());
        }
        migrations::apply(&mut conn)?;
        drop(conn);

        let manager = SqliteConnectionManager::file(path).with_init(|c| {
            c.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
            c.execute_batch(CONNECTION_PRAGMAS)
        });
        let pool = r2d2::Pool::builder()
            .max_size(POOL_SIZE)
            // A SQLite connection to a local file does not go stale; checking each checkout costs a query.
            .test_on_check_out(false)
            .connection_timeout(Duration::from_secs(30))
            .build(manager)
            .context("building the database pool")?;
        Ok(Db { pool, writer: Arc::default() })
    }

    /// Runs read-only work on a pooled connection on the blocking thread pool.
    pub async fn read<T, F>(&self, work: F) -> Result<T, AppError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, AppError> + Send + 'static,
    {
        let pool = self.pool.clone();
        tokio::task::spawn_blocking(move || work(&*pool.get()?)).await?
    }

    /// Runs a short read — a lookup by key, a few index pages — on the calling thread when a pooled
    /// connection is free at once; otherwise as [`Db::read`]. For reads of a few microseconds, the hop to
    /// the blocking pool and back costs more than the read, and every authenticated request makes one.
    /// Never for scans or anything that may wait: a blocked async thread stalls other requests.
    pub async fn read_quick<T, F>(&self, work: F) -> Result<T, AppError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, AppError> + Send + 'static,
    {
        match self.pool.try_get() {
            Some(conn) => work(&conn),
            None => self.read(work).await,
        }
    }

    /// Runs `work` in one `BEGIN IMMEDIATE` transaction on the blocking thread pool; commits when
    /// it returns `Ok`, rolls back otherwise. Audit rows are written inside `work`, so they commit
    /// or vanish with the change they record.
    pub async fn write<T, F>(&self, work: F) -> Result<T, AppError>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction) -> Result<T, AppError> + Send + 'static,
    {
        let db = self.clone();
        tokio::task::spawn_blocking(move || db.write_blocking(work)).await?
    }

    /// [`Db::write`] for callers that are already off the async threads (the CLI).
    pub fn write_blocking<T, F>(&self, work: F) -> Result<T, AppError>
    where
        F: FnOnce(&Transaction) -> Result<T, AppError>,
    {
        let _turn = self.writer.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut conn = self.pool.get()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let value = work(&tx)?;
        tx.commit()?;
        Ok(value)
    }

    /// [`Db::read`] for callers that are already off the async threads.
    pub fn read_blocking<T, F>(&self, work: F) -> Result<T, AppError>
    where
        F: FnOnce(&Connection) -> Result<T, AppError>,
    {
        work(&*self.pool.get()?)
    }
}
