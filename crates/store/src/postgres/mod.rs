//! The scale-out engine: a deadpool of tokio-postgres connections. Any number of classhub
//! processes may share one database: every rule that spans requests is enforced in SQL
//! (row locks and guarded `UPDATE`s), and transactions that collide (deadlocks, unique
//! races) are run again from the start a bounded number of times.

mod db;
mod tls;

use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, PoolError, RecyclingMethod, Runtime};
use rand::Rng;

use crate::sql::Sql;
use crate::{ReadOp, Result, StoreError, StoreOptions, StoreStats, WriteOp};
use db::{Pg, error};

mod embedded {
    refinery::embed_migrations!("migrations/postgres");
}

/// Attempts of a transaction that keeps colliding with others before the caller gets 503.
const ATTEMPTS: u32 = 8;

pub(crate) struct PgEngine {
    pool: Pool,
}

impl PgEngine {
    pub(crate) async fn open(url: &str, opts: &StoreOptions) -> Result<PgEngine> {
        let (mut config, tls) = tls::connect_config(url)?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(opts.busy_timeout);
        }
        config.keepalives(true);
        if config.get_application_name().is_none() {
            config.application_name("classhub");
        }
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
        engine.migrate(opts.schema_version).await?;
        Ok(engine)
    }

    /// Runs pending migrations, one process at a time (an advisory lock per schema).
    async fn migrate(&self, up_to: Option<u32>) -> Result<()> {
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
        result.map(drop).map_err(|e| StoreError::Internal(format!("migrating PostgreSQL: {e}")))
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
        let mut client = self.pool.get().await.map_err(pool_error)?;
        let tx = client.transaction().await.map_err(error)?;
        let out = op.run(&mut Sql::writer(&Pg(&tx))).await;
        match out {
            Ok(v) => {
                tx.commit().await.map_err(error)?;
                Ok(v)
            }
            Err(e) => {
                // Dropping the transaction rolls it back; a broken connection is discarded
                // by the pool when it is next checked out.
                let _ = tx.rollback().await;
                Err(e)
            }
        }
    }

    pub(crate) async fn read<O: ReadOp>(&self, op: O) -> Result<O::Out> {
        let client = self.pool.get().await.map_err(pool_error)?;
        op.run(&mut Sql::reader(&Pg(&client))).await
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

fn pool_error(e: PoolError) -> StoreError {
    match e {
        PoolError::Backend(e) => error(e),
        other => StoreError::Unavailable(format!("no database connection: {other}")),
    }
}
