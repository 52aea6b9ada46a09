//! The scale-out engine: a deadpool of tokio-postgres connections. Any number of classhub
//! processes may share one database: every rule that spans requests is enforced in SQL
//! (row locks and guarded `UPDATE`s), and transactions that collide (deadlocks, unique
//! races) are run again from the start a bounded number of times.

mod db;
mod tls;

use std::future::Future as _;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, PoolError, RecyclingMethod, Runtime};
use rand::Rng;

use crate::sql::Sql;
use crate::{ReadOp, Result, StoreError, StoreOptions, StoreStats, WriteOp};
use db::Pg;
pub(crate) use db::{AnyInt, error};

mod embedded {
    refinery::embed_migrations!("migrations/postgres");
}

/// Attempts of a transaction that keeps colliding with others before the caller gets 503.
const ATTEMPTS: u32 = 8;

pub(crate) struct PgEngine {
    pool: Pool,
}

impl PgEngine {
    /// Connects (waiting up to `opts.connect_wait` for the server) and migrates; also
    /// returns the migrations applied.
    pub(crate) async fn open(url: &str, opts: &StoreOptions) -> Result<(PgEngine, Vec<String>)> {
        let (mut config, tls) = tls::connect_config(url)?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(opts.busy_timeout);
        }
        config.keepalives(true);
        if config.get_application_name().is_none() {
            config.application_name("classhub");
        }
        let target = target(&config);
        let manager = Manager::from_config(config, tls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
        let limit = Some(opts.busy_timeout);
        let pool = Pool::builder(manager)
            .max_size(opts.pg_pool_size)
            .runtime(Runtime::Tokio1)
            .wait_timeout(limit)
            .create_timeout(limit)
            .recycle_timeout(limit)
            .build()
            .map_err(|e| StoreError::Internal(format!("building the connection pool: {e}")))?;
        let engine = PgEngine { pool };
        engine.wait_for_server(&target, opts.connect_wait).await?;
        let migrated = engine.migrate(opts.schema_version).await?;
        Ok((engine, migrated))
    }

    /// Tries to connect until it works, or `wait` has passed, backing off from 100 ms to 5 s:
    /// a server that is still starting (refused, starting up, not yet accepting) is waited
    /// for, refused credentials are not; the error names the server and the cause.
    async fn wait_for_server(&self, target: &str, wait: Duration) -> Result<()> {
        let started = tokio::time::Instant::now();
        let mut pause = Duration::from_millis(100);
        loop {
            let (e, credentials_refused) = match self.pool.get().await {
                Ok(_) => return Ok(()),
                Err(e) => {
                    // Refused credentials (SQLSTATE class 28) will not be accepted later.
                    let refused =
                        matches!(&e, PoolError::Backend(b) if b.code().is_some_and(|c| c.code().starts_with("28")));
                    (pool_error(e), refused)
                }
            };
            let left = if credentials_refused { Duration::ZERO } else { wait.saturating_sub(started.elapsed()) };
            let cause = match e {
                StoreError::Unavailable(cause) | StoreError::Retry(cause) if !left.is_zero() => cause,
                StoreError::Unavailable(cause) | StoreError::Retry(cause) | StoreError::Internal(cause) => {
                    return Err(StoreError::Unavailable(format!("cannot connect to PostgreSQL at {target}: {cause}")));
                }
                StoreError::Domain(d) => return Err(StoreError::Domain(d)),
            };
            tracing::warn!(server = target, error = %cause, retry_in_ms = pause.as_millis() as u64, "PostgreSQL is not reachable yet");
            tokio::time::sleep(pause.min(left)).await;
            pause = (pause * 2).min(Duration::from_secs(5));
        }
    }

    /// Runs pending migrations, one process at a time (an advisory lock per schema).
    async fn migrate(&self, up_to: Option<u32>) -> Result<Vec<String>> {
        let mut client = self.pool.get().await.map_err(pool_error)?;
        const LOCK: &str = "SELECT pg_advisory_lock(hashtext('classhub:' || current_schema()))";
        const UNLOCK: &str = "SELECT pg_advisory_unlock(hashtext('classhub:' || current_schema()))";
        client.batch_execute(LOCK).await.map_err(error)?;
        let client_mut: &mut tokio_postgres::Client = &mut client;
        let mut runner = embedded::migrations::runner();
        if let Some(v) = up_to {
            let v = v.try_into().map_err(|_| StoreError::Internal(format!("schema version {v} out of range")))?;
            runner = runner.set_target(refinery::Target::Version(v));
        }
        let result = runner.run_async(client_mut).await;
        client.batch_execute(UNLOCK).await.map_err(error)?;
        result
            .map(|report| report.applied_migrations().iter().map(ToString::to_string).collect())
            .map_err(|e| StoreError::Internal(format!("migrating PostgreSQL: {e}")))
    }

    pub(crate) async fn write<O: WriteOp>(&self, op: O) -> Result<O::Out> {
        let mut attempt = 1;
        loop {
            let err = match self.attempt(&op).await {
                Ok(out) => return Ok(out),
                Err(StoreError::Retry(why)) if attempt < ATTEMPTS => why,
                Err(StoreError::Retry(why)) => return Err(StoreError::Unavailable(format!("gave up retrying: {why}"))),
                Err(e) => return Err(e),
            };
            tracing::debug!(attempt, error = %err, "retrying a transaction");
            // Back off a little, with jitter, so that colliding transactions spread out.
            let micros = rand::rng().random_range(0..(500u64 << attempt.min(6)));
            tokio::time::sleep(Duration::from_micros(micros)).await;
            attempt += 1;
        }
    }

    async fn attempt<O: WriteOp>(&self, op: &O) -> Result<O::Out> {
        let client = self.pool.get().await.map_err(pool_error)?;
        let mut open = OpenTransaction { client: &client, open: true };
        // BEGIN goes out with the transaction's first statements: tokio-postgres sends a
        // request when its future is first polled, and `join!` polls BEGIN first. One round
        // trip fewer for every write.
        let pg = Pg::new(&client);
        let mut sql = Sql::writer(&pg);
        let (begun, out) = tokio::join!(client.batch_execute("BEGIN"), op.run(&mut sql));
        begun.map_err(error)?;
        // On an error the guard rolls back, without waiting: the connection answers the
        // ROLLBACK before whatever its next user sends.
        let out = out?;
        let committed = client.batch_execute("COMMIT").await;
        open.open = false;
        committed.map_err(error)?;
        Ok(out)
    }

    pub(crate) async fn read<O: ReadOp>(&self, op: O) -> Result<O::Out> {
        let client = self.pool.get().await.map_err(pool_error)?;
        op.run(&Sql::reader(&Pg::new(&client))).await
    }

    /// A connection of the pool, for work outside the transactions of [`WriteOp`]s.
    pub(crate) async fn client(&self) -> Result<deadpool_postgres::Object> {
        self.pool.get().await.map_err(pool_error)
    }

    pub(crate) async fn ping(&self) -> Result<()> {
        let client = self.pool.get().await.map_err(pool_error)?;
        client.simple_query("SELECT 1").await.map(drop).map_err(error)
    }

    pub(crate) fn stats(&self) -> StoreStats {
        let s = self.pool.status();
        StoreStats {
            queued_writes: s.waiting as i64,
            readers_busy: (s.size - s.available) as i64,
            readers_open: s.size as i64,
        }
    }

    pub(crate) fn close(&self) {
        self.pool.close();
    }
}

/// A transaction begun on a pooled connection, rolled back when it is dropped still open
/// (an error, or a caller that went away): a connection goes back to the pool idle.
struct OpenTransaction<'a> {
    client: &'a tokio_postgres::Client,
    open: bool,
}

impl Drop for OpenTransaction<'_> {
    fn drop(&mut self) {
        if self.open {
            // Polled once, the request is on its way; its answer is not waited for, as with
            // tokio-postgres's own `Transaction` when it is dropped.
            let mut rollback = std::pin::pin!(self.client.batch_execute("ROLLBACK"));
            let _ = rollback.as_mut().poll(&mut std::task::Context::from_waker(std::task::Waker::noop()));
        }
    }
}

/// `host:port/database` of a connection's configuration (never its password).
fn target(config: &tokio_postgres::Config) -> String {
    use tokio_postgres::config::Host;
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let host = match h {
                Host::Tcp(name) => name.clone(),
                Host::Unix(path) => path.display().to_string(),
            };
            let port = config.get_ports().get(i).or(config.get_ports().first()).copied().unwrap_or(5432);
            format!("{host}:{port}")
        })
        .collect();
    format!("{}/{}", hosts.join(","), config.get_dbname().unwrap_or(config.get_user().unwrap_or("postgres")))
}

fn pool_error(e: PoolError) -> StoreError {
    match e {
        PoolError::Backend(e) => error(e),
        other => StoreError::Unavailable(format!("no database connection: {other}")),
    }
}
