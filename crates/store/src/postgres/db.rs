//! PostgreSQL's side of [`Db`]: statements on a pooled client or a transaction, with
//! arguments converted to each parameter's type, and errors classified by SQLSTATE.

use std::error::Error as _;

use bytes::{BufMut, BytesMut};
use deadpool_postgres::GenericClient;
use jiff::Timestamp;
use postgres_types::{FromSql, IsNull, ToSql, Type, to_sql_checked};

use crate::db::{Arg, Db, Query, Row, column};
use crate::{Result, StoreError};

/// What an error means for the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Meaning {
    /// Another transaction got there first (a deadlock, a serialization failure, a unique
    /// or foreign key that a concurrent commit now holds): run the transaction again; it
    /// will see the other's work and decide accordingly.
    Retry,
    /// The database cannot serve now (down, starting, shutting down, out of connections or
    /// disk, not accepting connections, read-only after a failover, dropped): 503.
    Unavailable,
    /// A fault in classhub or its schema.
    Internal,
}

/// The meaning of each SQLSTATE class or code classhub treats specially; everything else
/// is `Internal`. Longest prefix wins.
pub(crate) const SQLSTATES: &[(&str, Meaning)] = &[
    ("40001", Meaning::Retry),       // serialization_failure
    ("40P01", Meaning::Retry),       // deadlock_detected
    ("23505", Meaning::Retry),       // unique_violation
    ("23503", Meaning::Retry),       // foreign_key_violation
    ("55P03", Meaning::Retry),       // lock_not_available
    ("08", Meaning::Unavailable),    // connection_exception
    ("53", Meaning::Unavailable),    // insufficient_resources (disk, memory, connections)
    ("57P", Meaning::Unavailable),   // admin/crash shutdown, cannot_connect_now, database_dropped
    ("57014", Meaning::Unavailable), // query_canceled (statement timeout)
    ("55000", Meaning::Unavailable), // object_not_in_prerequisite_state (not accepting connections)
    ("3D000", Meaning::Unavailable), // invalid_catalog_name (the database does not exist)
    ("28", Meaning::Unavailable),    // invalid_authorization_specification (credentials refused)
    ("25006", Meaning::Unavailable), // read_only_sql_transaction (a standby after failover)
    ("58", Meaning::Unavailable),    // system_error, io_error
];

/// The meaning of a SQLSTATE.
pub(crate) fn meaning(code: &str) -> Meaning {
    SQLSTATES
        .iter()
        .filter(|(prefix, _)| code.starts_with(prefix))
        .max_by_key(|(prefix, _)| prefix.len())
        .map_or(Meaning::Internal, |(_, m)| *m)
}

pub(crate) fn error(e: tokio_postgres::Error) -> StoreError {
    let Some(db) = e.as_db_error() else {
        // Errors of the client itself: its own conversions are faults of classhub; anything
        // else (I/O, a closed or refused connection, a timeout) is the database not being
        // there.
        let text = e.to_string();
        // The cause says which: a refused certificate, a reset connection, a timeout.
        let cause = e.source().map(|s| format!(": {s}")).unwrap_or_default();
        let ours =
            ["error serializing", "error deserializing", "query returned an unexpected", "invalid configuration"];
        if ours.iter().any(|p| text.starts_with(p)) {
            return StoreError::Internal(format!("{text}{cause}"));
        }
        return StoreError::Unavailable(format!("database connection: {text}{cause}"));
    };
    let code = db.code();
    let message = format!("{}: {}", code.code(), db.message());
    match meaning(code.code()) {
        Meaning::Retry => StoreError::Retry(message),
        Meaning::Unavailable => StoreError::Unavailable(message),
        Meaning::Internal => StoreError::Internal(message),
    }
}

impl ToSql for Arg<'_> {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> std::result::Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match *self {
            Arg::Null => Ok(IsNull::Yes),
            Arg::Int(n) => match *ty {
                Type::INT2 => i16::try_from(n)?.to_sql(ty, out),
                Type::INT4 => i32::try_from(n)?.to_sql(ty, out),
                _ => n.to_sql(ty, out),
            },
            Arg::Text(s) => s.to_sql(ty, out),
            Arg::Json(s) => {
                if *ty == Type::JSONB {
                    out.put_u8(1);
                }
                out.put_slice(s.as_bytes());
                Ok(IsNull::No)
            }
            Arg::Bytes(b) => b.to_sql(ty, out),
            Arg::Bool(b) => b.to_sql(ty, out),
            Arg::Time(t) => t.to_sql(ty, out),
            Arg::Ints(list) => list.to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// A connection or transaction of the pool.
pub(crate) struct Pg<'a, C> {
    client: &'a C,
    /// Statements sent together run in the order they were issued, which scripts rely on
    /// (a read after the lock it waits for). A statement prepared on first use would
    /// otherwise go out after its successors: each takes its turn until it is on the wire.
    sending: tokio::sync::Mutex<()>,
}

impl<'a, C> Pg<'a, C> {
    pub(crate) fn new(client: &'a C) -> Pg<'a, C> {
        Pg { client, sending: tokio::sync::Mutex::new(()) }
    }
}

/// Sends `$call` (a request on the statement `$stmt`) in its turn and awaits its reply: the
/// turn (a fair, first-come lock) is kept while the statement is prepared and until the
/// request's first poll has sent it, then passed on before the reply is awaited.
macro_rules! in_turn {
    ($pg:expr, $q:expr, |$stmt:ident| $call:expr) => {{
        let turn = $pg.sending.lock().await;
        let $stmt = $pg.client.prepare_cached($q.postgres()).await.map_err(error)?;
        let mut reply = std::pin::pin!($call);
        let first = std::future::poll_fn(|cx| std::task::Poll::Ready(reply.as_mut().poll(cx))).await;
        drop(turn);
        match first {
            std::task::Poll::Ready(done) => done,
            std::task::Poll::Pending => reply.await,
        }
        .map_err(error)
    }};
}

impl<C: GenericClient + Sync> Db for Pg<'_, C> {
    async fn rows<T>(&self, q: &Query, args: &[Arg<'_>], mut f: impl FnMut(&dyn Row) -> Result<T>) -> Result<Vec<T>> {
        let params: Vec<&(dyn ToSql + Sync)> = args.iter().map(|a| a as &(dyn ToSql + Sync)).collect();
        let rows = in_turn!(self, q, |stmt| self.client.query(&stmt, &params))?;
        rows.iter().map(|r| f(&PgRow(r))).collect()
    }

    async fn exec(&self, q: &Query, args: &[Arg<'_>]) -> Result<u64> {
        let params: Vec<&(dyn ToSql + Sync)> = args.iter().map(|a| a as &(dyn ToSql + Sync)).collect();
        in_turn!(self, q, |stmt| self.client.execute(&stmt, &params))
    }
}

/// An integer of any width.
pub(crate) struct AnyInt(pub(crate) i64);

impl<'a> FromSql<'a> for AnyInt {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> std::result::Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(AnyInt(match *ty {
            Type::INT2 => i64::from(i16::from_sql(ty, raw)?),
            Type::INT4 => i64::from(i32::from_sql(ty, raw)?),
            _ => i64::from_sql(ty, raw)?,
        }))
    }

    fn accepts(ty: &Type) -> bool {
        matches!(*ty, Type::INT2 | Type::INT4 | Type::INT8)
    }
}

struct PgRow<'a>(&'a tokio_postgres::Row);

impl PgRow<'_> {
    fn get<'r, T: FromSql<'r>>(&'r self, col: &str) -> Result<T> {
        self.0.try_get(col).map_err(|e| column(col, e))
    }
}

impl Row for PgRow<'_> {
    fn int(&self, col: &str) -> Result<i64> {
        Ok(self.get::<AnyInt>(col)?.0)
    }

    fn opt_int(&self, col: &str) -> Result<Option<i64>> {
        Ok(self.get::<Option<AnyInt>>(col)?.map(|n| n.0))
    }

    fn text(&self, col: &str) -> Result<String> {
        self.get(col)
    }

    fn opt_text(&self, col: &str) -> Result<Option<String>> {
        self.get(col)
    }

    fn bool(&self, col: &str) -> Result<bool> {
        self.get(col)
    }

    fn opt_bool(&self, col: &str) -> Result<Option<bool>> {
        self.get(col)
    }

    fn time(&self, col: &str) -> Result<Timestamp> {
        self.get(col)
    }

    fn opt_time(&self, col: &str) -> Result<Option<Timestamp>> {
        self.get(col)
    }

    fn bytes(&self, col: &str) -> Result<Vec<u8>> {
        self.get(col)
    }

    fn ints(&self, col: &str) -> Result<Vec<i64>> {
        self.get(col)
    }

    fn json(&self, col: &str) -> Result<Option<serde_json::Value>> {
        self.get(col)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every SQLSTATE that means "cannot serve now" answers 503; races are retried; the
    /// rest are faults.
    #[test]
    fn sqlstates_map_to_meanings() {
        for (code, expected) in [
            ("08000", Meaning::Unavailable),
            ("08006", Meaning::Unavailable), // connection_failure
            ("08001", Meaning::Unavailable), // sqlclient_unable_to_establish_sqlconnection
            ("53300", Meaning::Unavailable), // too_many_connections
            ("53100", Meaning::Unavailable), // disk_full
            ("57P01", Meaning::Unavailable), // admin_shutdown
            ("57P02", Meaning::Unavailable), // crash_shutdown
            ("57P03", Meaning::Unavailable), // cannot_connect_now
            ("57P04", Meaning::Unavailable), // database_dropped
            ("57014", Meaning::Unavailable), // query_canceled
            ("55000", Meaning::Unavailable), // database not accepting connections
            ("3D000", Meaning::Unavailable), // database does not exist
            ("28P01", Meaning::Unavailable), // invalid_password
            ("25006", Meaning::Unavailable), // read_only_sql_transaction
            ("58030", Meaning::Unavailable), // io_error
            ("40001", Meaning::Retry),
            ("40P01", Meaning::Retry),
            ("23505", Meaning::Retry),
            ("23503", Meaning::Retry),
            ("55P03", Meaning::Retry),
            ("23514", Meaning::Internal), // check_violation: a guard classhub failed to apply
            ("22021", Meaning::Internal), // NUL in text: the core refuses it first
            ("42601", Meaning::Internal), // syntax_error
            ("57000", Meaning::Internal), // operator_intervention without a P
        ] {
            assert_eq!(meaning(code), expected, "{code}");
        }
    }
}
