//! PostgreSQL over TLS, against the test server, which serves TLS (`.ci/run` turns it on
//! with a throwaway certificate for `localhost` when it lacks one): each `sslmode` as libpq
//! reads it, and `sslrootcert`. What the server saw is read from `pg_stat_ssl`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use classhub_store::{Store, StoreOptions};
use classhub_testkit::{PG_ENV, PgSchema};
use rand::Rng;
use tokio_postgres::NoTls;

/// A connection of the test's own, without TLS, to look at the server's view.
async fn observer() -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(&std::env::var(PG_ENV).unwrap(), NoTls).await.unwrap();
    tokio::spawn(conn);
    client
}

/// The server's certificate: self-signed, so it is its own root.
async fn server_certificate(client: &tokio_postgres::Client) -> String {
    let ssl: String = client.query_one("SHOW ssl", &[]).await.unwrap().get(0);
    assert_eq!(ssl, "on", "the test server must serve TLS (.ci/run turns it on)");
    let file: String = client.query_one("SHOW ssl_cert_file", &[]).await.unwrap().get(0);
    if file.starts_with('/') {
        return file;
    }
    let dir: String = client.query_one("SHOW data_directory", &[]).await.unwrap().get(0);
    format!("{dir}/{file}")
}

/// Opens a store on `schema` with `params` added to its URL (and `host` for 127.0.0.1);
/// whether the server saw its connections over TLS, or the error.
async fn open(schema: &PgSchema, host: &str, params: &str) -> Result<bool, String> {
    let name = format!("tls_{:08x}", rand::rng().random::<u32>());
    let url = format!("{}&application_name={name}{params}", schema.url);
    assert!(url.contains("@127.0.0.1"), "{PG_ENV} names 127.0.0.1");
    let url = url.replacen("@127.0.0.1", &format!("@{host}"), 1);
    let store = Store::open(&StoreOptions::new(&url)).await.map_err(|e| e.to_string())?;
    let rows = observer()
        .await
        .query(
            "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.application_name = $1",
            &[&name],
        )
        .await
        .unwrap();
    store.close().await;
    assert!(!rows.is_empty(), "no connection of {name} seen");
    Ok(rows.iter().all(|r| r.get::<_, bool>(0)))
}

#[tokio::test]
#[cfg_attr(not(classhub_pg), ignore = "set CLASSHUB_TEST_POSTGRES_URL to run on PostgreSQL")]
async fn every_sslmode_does_what_libpq_does() {
    let root = server_certificate(&observer().await).await;
    let schema = PgSchema::create().await;
    let root = format!("&sslrootcert={root}");

    assert_eq!(open(&schema, "127.0.0.1", "&sslmode=disable").await, Ok(false));
    assert_eq!(open(&schema, "127.0.0.1", "").await, Ok(true), "prefer, the default, takes TLS when offered");
    assert_eq!(open(&schema, "127.0.0.1", "&sslmode=prefer").await, Ok(true));
    assert_eq!(open(&schema, "127.0.0.1", "&sslmode=require").await, Ok(true));
    // verify-ca checks the chain, not the name; verify-full checks both.
    assert_eq!(open(&schema, "127.0.0.1", &format!("&sslmode=verify-ca{root}")).await, Ok(true));
    assert_eq!(open(&schema, "localhost", &format!("&sslmode=verify-full{root}")).await, Ok(true));
    let wrong_name = open(&schema, "127.0.0.1", &format!("&sslmode=verify-full{root}")).await;
    assert!(wrong_name.as_ref().is_err_and(|e| e.contains("certificate")), "{wrong_name:?}");
    // libpq: require with a root certificate file verifies the chain.
    assert_eq!(open(&schema, "127.0.0.1", &format!("&sslmode=require{root}")).await, Ok(true));

    // Another CA: the chain is refused, whatever the mode that checks it.
    let dir = tempfile::tempdir().unwrap();
    let other = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let other_ca = dir.path().join("other-ca.pem");
    std::fs::write(&other_ca, other.cert.pem()).unwrap();
    let other_root = format!("&sslrootcert={}", other_ca.display());
    for mode in ["require", "verify-ca", "verify-full"] {
        let refused = open(&schema, "localhost", &format!("&sslmode={mode}{other_root}")).await;
        assert!(refused.as_ref().is_err_and(|e| e.contains("certificate")), "{mode}: {refused:?}");
    }
    // No file: said so, not a handshake failure.
    let missing = open(&schema, "localhost", "&sslmode=verify-full&sslrootcert=/nonexistent/root.pem").await;
    assert!(missing.as_ref().is_err_and(|e| e.contains("/nonexistent/root.pem")), "{missing:?}");
}
