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
