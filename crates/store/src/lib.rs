//! classhub's store.
//!
//! - [`engine`]: the one trait pair (`Read`, `Tx`) an engine implements with its SQL;
//! - [`ops`]: every transaction, written once over that trait and calling the core's rules;
//! - `sqlite`: the embedded engine: one writer thread committing queued transactions in
//!   groups, plus reader connections;
//! - [`Store`]: opens an engine from a URL and runs operations on it.
//!
//! Seats and code uses are enforced by guarded `UPDATE`s inside the transaction, never by
//! locks in this process, so several processes on one database stay correct.
#![allow(async_fn_in_trait)]

pub mod copy;
mod db;
pub mod engine;
pub mod ops;
mod postgres;
mod sql;
mod sqlite;

use std::time::Duration;

use classhub_core::DomainError;

pub use engine::{CatalogEntry, Read, Tx};

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The rules refused the operation; nothing was written.
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// The database cannot be reached or is overloaded; the operation may be retried.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A transient conflict between concurrent transactions; the operation is retried
    /// whole a bounded number of times before this reaches a caller as `Unavailable`.
    #[error("concurrent update conflict: {0}")]
    Retry(String),
    /// A fault in classhub or a corrupt database.
    #[error("store failure: {0}")]
    Internal(String),
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// A transaction: runs whole inside one database transaction, and may be run again from
/// the start when the engine reports a transient conflict.
///
/// `run` must await nothing but the engine's primitives (`Read`/`Tx`): SQLite's writer
/// thread polls a script once and relies on it completing then, because its primitives
/// never wait. A script that awaited a timer, a channel or another task would be refused
/// there ("a SQLite script waited on something").
pub trait WriteOp: Send + 'static {
    type Out: Send + 'static;
    async fn run<T: Tx>(&self, tx: &mut T) -> Result<Self::Out>;

    /// Whether a committed outcome is the change a request's `Idempotency-Key` must not
    /// make twice (a refusal that only counts a guess is not).
    fn made_change(_out: &Self::Out) -> bool {
        true
    }
}

/// A read, run against one consistent snapshot.
pub trait ReadOp {
    type Out;
    async fn run<R: Read>(&self, r: &R) -> Result<Self::Out>;
}

/// How to open a store.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// `sqlite://PATH` or `postgres://…`.
    pub url: String,
    /// SQLite: `synchronous=FULL` (the default: a write acknowledged survives power loss;
    /// group commit makes its fsync per group nearly free) or `NORMAL` (survives a crash of
    /// the process only).
    pub sqlite_sync_full: bool,
    /// How long to wait for a lock held by another process (SQLite) or for a connection
    /// (PostgreSQL) before answering "unavailable".
    pub busy_timeout: Duration,
    /// PostgreSQL: connections in the pool.
    pub pg_pool_size: usize,
    /// Migrate only up to this schema version (upgrade tests); `None`: every migration.
    pub schema_version: Option<u32>,
    /// PostgreSQL: how long to keep trying to reach the server at start (with back-off)
    /// before giving up: containers start before their database.
    pub connect_wait: Duration,
}

impl StoreOptions {
    pub fn new(url: impl Into<String>) -> StoreOptions {
        StoreOptions {
            url: url.into(),
            sqlite_sync_full: true,
            busy_timeout: Duration::from_secs(5),
            pg_pool_size: 16,
            schema_version: None,
            connect_wait: Duration::ZERO,
        }
    }
}

/// Gauges for metrics.
#[derive(Debug, Clone, Copy, Default)]
pub struct StoreStats {
    /// Write transactions waiting for the writer.
    pub queued_writes: i64,
    /// Connections serving reads right now.
    pub readers_busy: i64,
    /// Connections open for reads.
    pub readers_open: i64,
}

pub struct Store {
    engine: Engine,
    migrated: Vec<String>,
}

enum Engine {
    // Boxed: the SQLite engine's reader queue is cache-padded and large.
    Sqlite(Box<sqlite::SqliteEngine>),
    Postgres(postgres::PgEngine),
}

/// Copies a SQLite database (`sqlite://PATH`) to a new file while it may be serving. A
/// PostgreSQL database is backed up with PostgreSQL's own tools (`pg_dump`).
pub fn backup_sqlite(url: &str, to: &std::path::Path) -> Result<()> {
    match url.strip_prefix("sqlite://") {
        Some(path) if !path.is_empty() => sqlite::backup(std::path::Path::new(path), to),
        _ => Err(StoreError::Internal(
            "backup copies a SQLite database (sqlite://PATH); back up PostgreSQL with pg_dump".into(),
        )),
    }
}

impl Store {
    /// Opens the database named by `opts.url`, creating and migrating it as needed.
    pub async fn open(opts: &StoreOptions) -> Result<Store> {
        let (engine, migrated) = if let Some(path) = opts.url.strip_prefix("sqlite://") {
            let (engine, migrated) = sqlite::SqliteEngine::open(path, opts)?;
            (Engine::Sqlite(Box::new(engine)), migrated)
        } else if opts.url.starts_with("postgres://") || opts.url.starts_with("postgresql://") {
            let (engine, migrated) = postgres::PgEngine::open(&opts.url, opts).await?;
            (Engine::Postgres(engine), migrated)
        } else {
            return Err(StoreError::Internal(format!(
                "unsupported database URL {:?}: expected sqlite://PATH or postgres://…",
                redact_url(&opts.url)
            )));
        };
        if !migrated.is_empty() {
            tracing::info!(migrations = %migrated.join(", "), "migrated the database");
        }
        Ok(Store { engine, migrated })
    }

    /// The migrations this open applied (`V10__session_expiry`…), oldest first.
    pub fn migrated(&self) -> &[String] {
        &self.migrated
    }

    /// Runs a transaction; a success means it is committed. Made for a request holding an
    /// `Idempotency-Key` (see [`ops::idempotency::holding`]), it also marks the key applied.
    pub async fn write<O: WriteOp>(&self, op: O) -> Result<O::Out> {
        match ops::idempotency::held() {
            Some(key) => self.run_write(ops::idempotency::Held { op, key }).await,
            None => self.run_write(op).await,
        }
    }

    async fn run_write<O: WriteOp>(&self, op: O) -> Result<O::Out> {
        match &self.engine {
            Engine::Sqlite(e) => e.write(op).await,
            Engine::Postgres(e) => e.write(op).await,
        }
    }

    pub async fn read<O: ReadOp>(&self, op: O) -> Result<O::Out> {
        match &self.engine {
            Engine::Sqlite(e) => e.read(op),
            Engine::Postgres(e) => e.read(op).await,
        }
    }

    /// Checks that the database answers (for `/readyz`).
    pub async fn ping(&self) -> Result<()> {
        match &self.engine {
            Engine::Sqlite(e) => e.ping(),
            Engine::Postgres(e) => e.ping().await,
        }
    }

    pub fn stats(&self) -> StoreStats {
        match &self.engine {
            Engine::Sqlite(e) => e.stats(),
            Engine::Postgres(e) => e.stats(),
        }
    }

    pub fn engine_name(&self) -> &'static str {
        match &self.engine {
            Engine::Sqlite(_) => "sqlite",
            Engine::Postgres(_) => "postgres",
        }
    }

    /// Finishes queued writes and closes connections.
    pub async fn close(&self) {
        match &self.engine {
            Engine::Sqlite(e) => e.close().await,
            Engine::Postgres(e) => e.close(),
        }
    }
}

/// A database URL fit for logs: without its password.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn urls_lose_their_passwords() {
        assert_eq!(super::redact_url("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(super::redact_url("sqlite://x.db"), "sqlite://x.db");
    }
}
