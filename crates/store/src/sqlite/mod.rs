//! The embedded engine. One writer thread owns the only writing connection: it takes every
//! queued write transaction it can (up to `MAX_GROUP`), runs each inside its own savepoint
//! of one `BEGIN IMMEDIATE` transaction, commits once, and only then answers each caller.
//! Reads run on pooled reader connections in WAL mode, never blocked by the writer.

mod db;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use crossbeam_queue::ArrayQueue;
use futures::FutureExt;
use rusqlite::{Connection, OpenFlags};
use tokio::sync::{mpsc, oneshot};

use crate::sql::Sql;
use crate::{ReadOp, Result, StoreError, StoreOptions, StoreStats, WriteOp};
pub(crate) use db::error;

mod embedded {
    refinery::embed_migrations!("migrations/sqlite");
}

/// Most write transactions committed together.
const MAX_GROUP: usize = 256;
/// Write transactions that may wait for the writer before callers wait to enqueue.
const QUEUE_LEN: usize = 8192;
/// Idle reader connections kept open.
const READERS_KEPT: usize = 16;

pub(crate) struct SqliteEngine {
    jobs: mpsc::Sender<Msg>,
    readers: Readers,
    queued: Arc<AtomicI64>,
}

enum Msg {
    Job(Box<dyn Job>),
    /// Finish what is queued, then stop.
    Stop(oneshot::Sender<()>),
}

impl SqliteEngine {
    /// Opens and migrates the database; also returns the migrations applied.
    pub(crate) fn open(path: &str, opts: &StoreOptions) -> Result<(SqliteEngine, Vec<String>)> {
        if path.is_empty() {
            return Err(StoreError::Internal("sqlite:// needs a file path, e.g. sqlite://classhub.db".into()));
        }
        let path = PathBuf::from(path);
        let mut writer = open_connection(&path, opts, false)?;
        let synchronous = if opts.sqlite_sync_full { "FULL" } else { "NORMAL" };
        writer.pragma_update(None, "synchronous", synchronous).map_err(error)?;
        let migrated = migrate(&mut writer, &path, opts.schema_version)?;

        let (jobs, rx) = mpsc::channel(QUEUE_LEN);
        let queued = Arc::new(AtomicI64::new(0));
        let depth = queued.clone();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || writer_loop(writer, rx, depth))
            .map_err(|e| StoreError::Internal(format!("starting the writer thread: {e}")))?;
        let readers = Readers {
            idle: ArrayQueue::new(READERS_KEPT),
            path,
            opts: opts.clone(),
            open: AtomicI64::new(0),
            busy: AtomicI64::new(0),
        };
        Ok((SqliteEngine { jobs, readers, queued }, migrated))
    }

    pub(crate) async fn write<O: WriteOp>(&self, op: O) -> Result<O::Out> {
        let (reply, answer) = oneshot::channel();
        let job = Box::new(OpJob { op, result: None, reply });
        self.queued.fetch_add(1, Ordering::Relaxed);
        if self.jobs.send(Msg::Job(job)).await.is_err() {
            self.queued.fetch_sub(1, Ordering::Relaxed);
            return Err(StoreError::Unavailable("the store is shutting down".into()));
        }
        answer.await.map_err(|_| StoreError::Unavailable("the writer stopped".into()))?
    }

    pub(crate) fn read<O: ReadOp>(&self, op: O) -> Result<O::Out> {
        self.readers.with(|conn| {
            conn.prepare_cached("BEGIN").and_then(|mut s| s.execute([])).map_err(error)?;
            let out = run_now(op.run(&Sql::reader(conn)));
            let end = if out.is_ok() { "COMMIT" } else { "ROLLBACK" };
            conn.prepare_cached(end).and_then(|mut s| s.execute([])).map_err(error)?;
            out
        })
    }

    pub(crate) fn ping(&self) -> Result<()> {
        self.readers.with(|conn| conn.query_row("SELECT 1", [], |_| Ok(())).map_err(error))
    }

    pub(crate) fn stats(&self) -> StoreStats {
        StoreStats {
            queued_writes: self.queued.load(Ordering::Relaxed),
            readers_busy: self.readers.busy.load(Ordering::Relaxed),
            readers_open: self.readers.open.load(Ordering::Relaxed),
        }
    }

    pub(crate) async fn close(&self) {
        let (done, stopped) = oneshot::channel();
        if self.jobs.send(Msg::Stop(done)).await.is_ok() {
            let _ = stopped.await;
        }
        while let Some(conn) = self.readers.idle.pop() {
            drop(conn);
        }
    }
}

/// Runs the migrations with foreign keys off, as SQLite's procedure for rebuilding tables
/// requires (a table dropped with them on would take its referencing rows with it), then
/// checks every foreign key and turns them back on.
fn migrate(conn: &mut Connection, path: &Path, up_to: Option<u32>) -> Result<Vec<String>> {
    conn.pragma_update(None, "foreign_keys", "OFF").map_err(error)?;
    let mut runner = embedded::migrations::runner();
    if let Some(v) = up_to {
        let v = v.try_into().map_err(|_| StoreError::Internal(format!("schema version {v} out of range")))?;
        runner = runner.set_target(refinery::Target::Version(v));
    }
    let migrated = runner
        .run(conn)
        .map(|report| report.applied_migrations().iter().map(ToString::to_string).collect())
        .map_err(|e| StoreError::Internal(format!("migrating {}: {e}", path.display())));
    let broken: Vec<String> = conn
        .prepare("PRAGMA foreign_key_check")
        .and_then(|mut s| {
            s.query_map([], |r| Ok(format!("{} row {:?}", r.get::<_, String>(0)?, r.get::<_, Option<i64>>(1)?)))?
                .collect()
        })
        .map_err(error)?;
    conn.pragma_update(None, "foreign_keys", "ON").map_err(error)?;
    let migrated = migrated?;
    if !broken.is_empty() {
        return Err(StoreError::Internal(format!("{}: broken foreign keys: {}", path.display(), broken.join(", "))));
    }
    Ok(migrated)
}

/// "unable to open database file" says neither which file nor why: the operating system's
/// answer for the file (and for a file beside it, as the WAL needs) says both.
fn cannot_open(path: &Path, e: &rusqlite::Error) -> StoreError {
    let cause = if e.sqlite_error_code() == Some(rusqlite::ErrorCode::CannotOpen) {
        let wal = PathBuf::from(format!("{}-wal", path.display()));
        let probe = |p: &Path| std::fs::OpenOptions::new().read(true).append(true).create(true).open(p).err();
        match (probe(path), probe(&wal)) {
            (Some(io), _) => format!("{io}"),
            (None, Some(io)) => format!("{io} (for {}, which SQLite needs beside it)", wal.display()),
            (None, None) => e.to_string(),
        }
    } else {
        e.to_string()
    };
    StoreError::Unavailable(format!("cannot open the SQLite database {}: {cause}", path.display()))
}

/// Polls a script on an engine whose primitives never wait: it completes in one poll.
fn run_now<T>(fut: impl Future<Output = Result<T>>) -> Result<T> {
    fut.now_or_never().unwrap_or_else(|| Err(StoreError::Internal("a SQLite script waited on something".into())))
}

pub(crate) fn open_connection(path: &Path, opts: &StoreOptions, read_only: bool) -> Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(|e| cannot_open(path, &e))?;
    conn.busy_timeout(opts.busy_timeout).map_err(error)?;
    conn.set_prepared_statement_cache_capacity(128);
    // Plans that do not depend on bound values. Without this, SQLite marks a statement
    // whose plan looked at a parameter (partial indexes, LIMIT, LIKE) as expired whenever
    // its bindings are cleared, so every cached statement was parsed again on every use.
    conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true).map_err(error)?;

    let mode: String =
        conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0)).map_err(|e| cannot_open(path, &e))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Internal(format!("{} cannot use WAL (journal_mode = {mode})", path.display())));
    }
    conn.pragma_update(None, "foreign_keys", "ON").map_err(error)?;
    conn.pragma_update(None, "mmap_size", 268_435_456).map_err(error)?;
    if read_only {
        conn.pragma_update(None, "query_only", "ON").map_err(error)?;
    }
    Ok(conn)
}

struct Readers {
    idle: ArrayQueue<Connection>,
    path: PathBuf,
    opts: StoreOptions,
    open: AtomicI64,
    busy: AtomicI64,
}

impl Readers {
    fn with<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let conn = match self.idle.pop() {
            Some(c) => c,
            None => {
                let c = open_connection(&self.path, &self.opts, true)?;
                self.open.fetch_add(1, Ordering::Relaxed);
                c
            }
        };
        self.busy.fetch_add(1, Ordering::Relaxed);
        let out = f(&conn);
        self.busy.fetch_sub(1, Ordering::Relaxed);
        if self.idle.push(conn).is_err() {
            self.open.fetch_sub(1, Ordering::Relaxed);
        }
        out
    }
}

/// A queued write transaction, type-erased for the writer thread.
trait Job: Send {
    /// Runs the script; false if it failed and its savepoint must be rolled back.
    fn run(&mut self, conn: &Connection) -> bool;
    /// Answers the caller once the group's fate is known.
    fn finish(self: Box<Self>, commit: std::result::Result<(), StoreError>);
}

struct OpJob<O: WriteOp> {
    op: O,
    result: Option<Result<O::Out>>,
    reply: oneshot::Sender<Result<O::Out>>,
}

impl<O: WriteOp> Job for OpJob<O> {
    fn run(&mut self, conn: &Connection) -> bool {
        let out = run_now(self.op.run(&mut Sql::writer(conn)));
        let ok = out.is_ok();
        self.result = Some(out);
        ok
    }

    fn finish(self: Box<Self>, commit: std::result::Result<(), StoreError>) {
        let answer = match (commit, self.result) {
            // A script's own refusal stands whatever happened to the group.
            (_, Some(Err(e))) => Err(e),
            (Ok(()), Some(ok)) => ok,
            (Err(e), _) => Err(e),
            (Ok(()), None) => Err(StoreError::Internal("write transaction was not run".into())),
        };
        // The caller may have gone (timeout, disconnect); the write stands regardless.
        let _ = self.reply.send(answer);
    }
}

fn writer_loop(conn: Connection, mut rx: mpsc::Receiver<Msg>, queued: Arc<AtomicI64>) {
    let mut group: Vec<Box<dyn Job>> = Vec::with_capacity(MAX_GROUP);
    let mut stop = None;
    while stop.is_none() {
        match rx.blocking_recv() {
            Some(Msg::Job(j)) => group.push(j),
            Some(Msg::Stop(done)) => stop = Some(done),
            None => break,
        }
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(Msg::Job(j)) => group.push(j),
                Ok(Msg::Stop(done)) => stop = Some(done),
                Err(_) => break,
            }
        }
        if group.is_empty() {
            continue;
        }
        queued.fetch_sub(group.len() as i64, Ordering::Relaxed);
        metrics::histogram!("classhub_store_group_commit_size").record(group.len() as f64);
        let outcome = commit_group(&conn, &mut group);
        if let Err(e) = &outcome {
            tracing::error!(error = %e, transactions = group.len(), "group commit failed");
        }
        for job in group.drain(..) {
            job.finish(outcome.clone());
        }
    }
    rx.close();
    drop(conn);
    if let Some(done) = stop {
        let _ = done.send(());
    }
}

fn commit_group(conn: &Connection, group: &mut [Box<dyn Job>]) -> std::result::Result<(), StoreError> {
    let exec = |sql: &str| conn.prepare_cached(sql).and_then(|mut s| s.execute([])).map(|_| ()).map_err(error);
    exec("BEGIN IMMEDIATE")?;
    let result = (|| {
        for job in group.iter_mut() {
            exec("SAVEPOINT job")?;
            if !job.run(conn) {
                exec("ROLLBACK TO job")?;
            }
            exec("RELEASE job")?;
        }
        exec("COMMIT")
    })();
    if result.is_err() && !conn.is_autocommit() {
        let _ = exec("ROLLBACK");
    }
    result
}

/// Every page in one backup step (-1), retried while the source is locked for a moment.
fn copy_all(src: &Connection, dst: &mut Connection) -> rusqlite::Result<()> {
    use rusqlite::backup::{Backup, StepResult};
    let backup = Backup::new(src, dst)?;
    let started = std::time::Instant::now();
    loop {
        match backup.step(-1)? {
            StepResult::Done => return Ok(()),
            StepResult::More => {}
            _ if started.elapsed() > std::time::Duration::from_secs(30) => {
                return Err(rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
                    None,
                ));
            }
            _ => std::thread::sleep(std::time::Duration::from_millis(10)),
        }
    }
}

/// Copies the SQLite database at `from` into a new file `to` with SQLite's online backup
/// API, in one step: a read transaction sees one consistent state while the serving
/// process goes on writing (WAL readers do not block writers), so the copy never restarts.
pub fn backup(from: &Path, to: &Path) -> Result<()> {
    if to.exists() {
        return Err(StoreError::Internal(format!("{} exists: a backup never overwrites a file", to.display())));
    }
    if !from.exists() {
        return Err(StoreError::Internal(format!("{}: no such database", from.display())));
    }
    let src = Connection::open_with_flags(from, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(|e| cannot_open(from, &e))?;
    src.busy_timeout(std::time::Duration::from_secs(30)).map_err(error)?;
    let mut dst = Connection::open(to).map_err(|e| cannot_open(to, &e))?;
    let copied = copy_all(&src, &mut dst)
        .map_err(|e| StoreError::Internal(format!("copying {} to {}: {e}", from.display(), to.display())));
    let checked = copied.and_then(|()| {
        let check: String = dst.query_row("PRAGMA quick_check", [], |r| r.get(0)).map_err(error)?;
        match check.as_str() {
            "ok" => Ok(()),
            _ => Err(StoreError::Internal(format!("{}: the copy fails its integrity check: {check}", to.display()))),
        }
    });
    if checked.is_err() {
        drop(dst);
        let _ = std::fs::remove_file(to);
    }
    checked
}
