//! Test helpers shared by the store's conformance suite and the HTTP suites.
//!
//! PostgreSQL tests run when `CLASSHUB_TEST_POSTGRES_URL` names a database the tests may
//! create schemas in; each test gets its own schema, so tests run in parallel. Test crates
//! mark PostgreSQL tests `#[cfg_attr(not(classhub_pg), ignore = …)]`, their build scripts
//! setting `classhub_pg` when the variable is set, so that a run without it says which
//! tests it skipped and why.
#![allow(clippy::expect_used)]

use rand::Rng;
use tokio_postgres::NoTls;

pub const PG_ENV: &str = "CLASSHUB_TEST_POSTGRES_URL";

/// A fresh schema in the test database, dropped with this value.
pub struct PgSchema {
    /// Connection URL whose `search_path` is the schema.
    pub url: String,
    base: String,
    name: String,
}

impl PgSchema {
    pub async fn create() -> PgSchema {
        let base = std::env::var(PG_ENV).unwrap_or_else(|_| panic!("{PG_ENV} is not set"));
        let name = format!("ch_test_{:016x}", rand::rng().random::<u64>());
        let (client, conn) = tokio_postgres::connect(&base, NoTls).await.expect("connecting to the test database");
        let conn = tokio::spawn(conn);
        client.batch_execute(&format!("CREATE SCHEMA {name}")).await.expect("creating a test schema");
        drop(client);
        let _ = conn.await;
        // Percent-encoded by hand: libpq-style URLs do not read `+` as a space.
        let separator = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{separator}options=-c%20search_path%3D{name}");
        PgSchema { url, base, name }
    }
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        let (base, name) = (self.base.clone(), self.name.clone());
        // Drop may run inside a runtime; a thread of its own can block on a fresh one.
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            rt.block_on(async {
                let (client, conn) = tokio_postgres::connect(&base, NoTls).await.ok()?;
                tokio::spawn(conn);
                client.batch_execute(&format!("DROP SCHEMA IF EXISTS {name} CASCADE")).await.ok()
            })
        });
        let _ = dropped.join();
    }
}

/// A database of its own in the test server (not a schema), for tests that refuse its
/// connections or drop it; dropped (forcibly) with this value.
pub struct PgDatabase {
    /// Connection URL of the database.
    pub url: String,
    base: String,
    pub name: String,
}

impl PgDatabase {
    pub async fn create() -> PgDatabase {
        let base = std::env::var(PG_ENV).unwrap_or_else(|_| panic!("{PG_ENV} is not set"));
        let name = format!("ch_test_{:016x}", rand::rng().random::<u64>());
        admin(&base, &format!("CREATE DATABASE {name}")).await;
        // The base URL's path is its database; the new one takes its place.
        let (prefix, query) = base.split_once('?').map_or((base.as_str(), None), |(p, q)| (p, Some(q)));
        let root = prefix.rsplit_once('/').map_or(prefix, |(r, _)| r);
        let url = match query {
            Some(q) => format!("{root}/{name}?{q}"),
            None => format!("{root}/{name}"),
        };
        PgDatabase { url, base, name }
    }

    /// Refuses new connections to the database and ends the open ones: a database that is
    /// there but will not serve.
    pub async fn refuse_connections(&self) {
        let name = &self.name;
        admin(&self.base, &format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false")).await;
        admin(
            &self.base,
            &format!("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}' AND pid <> pg_backend_pid()"),
        )
        .await;
    }

    /// Drops the database under its clients.
    pub async fn drop_now(&self) {
        admin(&self.base, &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name)).await;
    }
}

/// Runs one statement on the test server's base database.
async fn admin(base: &str, sql: &str) {
    let (client, conn) = tokio_postgres::connect(base, NoTls).await.expect("connecting to the test database");
    let conn = tokio::spawn(conn);
    client.batch_execute(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    drop(client);
    let _ = conn.await;
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let (base, name) = (self.base.clone(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            rt.block_on(async {
                let (client, conn) = tokio_postgres::connect(&base, NoTls).await.ok()?;
                tokio::spawn(conn);
                client.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await.ok()
            })
        });
        let _ = dropped.join();
    }
}
