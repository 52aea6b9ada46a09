//! What an engine gives the SQL written once in [`crate::sql`]: running a statement with
//! engine-neutral arguments, and reading the rows it returns by column name.
//!
//! Statements are written in one dialect that both engines understand after a small,
//! cached translation:
//! - parameters are `$1`, `$2`, … (PostgreSQL's spelling; SQLite gets `?1`, `?2`, …);
//! - `{for update}` ends a `SELECT` that locks its rows (PostgreSQL `FOR UPDATE`; SQLite's one
//!   writer already excludes every other writer, so there it is nothing);
//! - `{skip locked}` likewise (`FOR UPDATE SKIP LOCKED`, for queues several processes share);
//! - `{for share}` likewise (`FOR SHARE`: the rows must not change or go until the end);
//! - `{xact lock $n}` takes a lock named by the integer `$n` until the transaction ends
//!   (PostgreSQL `pg_advisory_xact_lock`, which writes nothing; on SQLite just `$n`): for a
//!   row that may not exist yet, so its first writers take turns without making it first;
//! - `{in $n}` tests membership in a list argument (`= ANY($n)`, or SQLite's
//!   `IN (SELECT value FROM json_each(?n))`), and `{has list $n}` the other way round;
//! - `{lower x}` lower-cases ASCII letters only, as SQLite's `lower` does (PostgreSQL's
//!   `lower` under the `C` collation), so that text matches alike on both engines.
//!
//! Values differ per engine only in how they are bound and read: instants are
//! `TIMESTAMPTZ` or integer microseconds, booleans `BOOLEAN` or 0/1, lists `BIGINT[]` or
//! JSON text. [`Arg`] and [`Row`] hide that.
#![allow(async_fn_in_trait)]

use std::sync::OnceLock;

use jiff::Timestamp;

use crate::{Result, StoreError};

/// A statement in the neutral dialect, translated once per engine on first use.
pub(crate) struct Query {
    text: &'static str,
    postgres: OnceLock<String>,
    sqlite: OnceLock<String>,
}

/// A `&'static Query` for a statement literal (which may be built with `concat!`).
macro_rules! query {
    ($($part:expr),+ $(,)?) => {{
        static Q: $crate::db::Query = $crate::db::Query::new(concat!($($part),+));
        &Q
    }};
}
pub(crate) use query;

impl Query {
    pub(crate) const fn new(text: &'static str) -> Query {
        Query { text, postgres: OnceLock::new(), sqlite: OnceLock::new() }
    }

    pub(crate) fn text(&self) -> &'static str {
        self.text
    }

    pub(crate) fn postgres(&self) -> &str {
        self.postgres.get_or_init(|| translate(self.text, Engine::Postgres))
    }

    pub(crate) fn sqlite(&self) -> &str {
        self.sqlite.get_or_init(|| translate(self.text, Engine::Sqlite))
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Engine {
    Postgres,
    Sqlite,
}

/// The statement for one engine: placeholders and the `{…}` forms above.
fn translate(text: &str, engine: Engine) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let close = rest[open..].find('}').map_or(rest.len(), |c| open + c);
        let form = &rest[open + 1..close];
        match (form, engine) {
            ("for update", Engine::Postgres) => out.push_str("FOR UPDATE"),
            ("skip locked", Engine::Postgres) => out.push_str("FOR UPDATE SKIP LOCKED"),
            ("for share", Engine::Postgres) => out.push_str("FOR SHARE"),
            ("for update" | "skip locked" | "for share", Engine::Sqlite) => {}
            (f, Engine::Postgres) if f.starts_with("in ") => {
                out.push_str("= ANY(");
                out.push_str(f[3..].trim());
                out.push(')');
            }
            (f, Engine::Sqlite) if f.starts_with("in ") => {
                out.push_str("IN (SELECT value FROM json_each(");
                out.push_str(f[3..].trim());
                out.push_str("))");
            }
            (f, engine) if f.starts_with("xact lock ") => {
                let n = f["xact lock ".len()..].trim();
                match engine {
                    Engine::Postgres => out.push_str(&format!("pg_advisory_xact_lock({n})")),
                    Engine::Sqlite => out.push_str(n),
                }
            }
            (f, engine) if f.starts_with("has ") => {
                // `{has list $n}`: the list column holds the value `$n`.
                let (list, value) = f[4..].trim().split_once(' ').unwrap_or((f, ""));
                match engine {
                    Engine::Postgres => out.push_str(&format!("{value} = ANY({list})")),
                    Engine::Sqlite => out.push_str(&format!("{value} IN (SELECT value FROM json_each({list}))")),
                }
            }
            (f, engine) if f.starts_with("lower ") => {
                out.push_str("lower(");
                out.push_str(f[6..].trim());
                out.push_str(if engine == Engine::Postgres { " COLLATE \"C\")" } else { ")" });
            }
            _ => panic!("unknown form {{{form}}} in a statement"),
        }
        rest = rest.get(close + 1..).unwrap_or("");
    }
    out.push_str(rest);
    match engine {
        Engine::Postgres => out,
        // `$7` → `?7`: SQLite's numbered parameters bind by number as PostgreSQL's do.
        Engine::Sqlite => out.replace('$', "?"),
    }
}

/// A statement argument. Optional values are `Null` when absent.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Arg<'a> {
    Null,
    Int(i64),
    Text(&'a str),
    Bytes(&'a [u8]),
    Bool(bool),
    Time(Timestamp),
    /// A list of integers: a `BIGINT[]` column or a `{in $n}` list.
    Ints(&'a [i64]),
    /// JSON text, for a JSON column.
    Json(&'a str),
}

/// Values a statement takes as an argument.
pub(crate) trait ToArg {
    fn arg(&self) -> Arg<'_>;
}

impl ToArg for i64 {
    fn arg(&self) -> Arg<'_> {
        Arg::Int(*self)
    }
}

impl ToArg for i32 {
    fn arg(&self) -> Arg<'_> {
        Arg::Int(i64::from(*self))
    }
}

impl ToArg for u32 {
    fn arg(&self) -> Arg<'_> {
        Arg::Int(i64::from(*self))
    }
}

impl ToArg for u8 {
    fn arg(&self) -> Arg<'_> {
        Arg::Int(i64::from(*self))
    }
}

impl ToArg for bool {
    fn arg(&self) -> Arg<'_> {
        Arg::Bool(*self)
    }
}

impl ToArg for str {
    fn arg(&self) -> Arg<'_> {
        Arg::Text(self)
    }
}

impl ToArg for String {
    fn arg(&self) -> Arg<'_> {
        Arg::Text(self)
    }
}

impl ToArg for [u8] {
    fn arg(&self) -> Arg<'_> {
        Arg::Bytes(self)
    }
}

impl ToArg for [u8; 32] {
    fn arg(&self) -> Arg<'_> {
        Arg::Bytes(self)
    }
}

impl ToArg for Vec<u8> {
    fn arg(&self) -> Arg<'_> {
        Arg::Bytes(self)
    }
}

impl ToArg for [i64] {
    fn arg(&self) -> Arg<'_> {
        Arg::Ints(self)
    }
}

impl ToArg for Vec<i64> {
    fn arg(&self) -> Arg<'_> {
        Arg::Ints(self)
    }
}

impl ToArg for Timestamp {
    fn arg(&self) -> Arg<'_> {
        Arg::Time(*self)
    }
}

impl<T: ToArg + ?Sized> ToArg for &T {
    fn arg(&self) -> Arg<'_> {
        (**self).arg()
    }
}

impl<T: ToArg> ToArg for Option<T> {
    fn arg(&self) -> Arg<'_> {
        match self {
            Some(v) => v.arg(),
            None => Arg::Null,
        }
    }
}

/// JSON text bound to a JSON column.
pub(crate) struct JsonText(pub String);

impl ToArg for JsonText {
    fn arg(&self) -> Arg<'_> {
        Arg::Json(&self.0)
    }
}

/// `[Arg; N]` of the values given, in order.
macro_rules! args {
    ($($v:expr),* $(,)?) => { [$($crate::db::ToArg::arg(&$v)),*] };
}
pub(crate) use args;

/// One row of a result, read by column name. A column of the wrong type is a fault of
/// classhub or a damaged database (`Internal`).
pub(crate) trait Row {
    fn int(&self, col: &str) -> Result<i64>;
    fn opt_int(&self, col: &str) -> Result<Option<i64>>;
    fn text(&self, col: &str) -> Result<String>;
    fn opt_text(&self, col: &str) -> Result<Option<String>>;
    fn bool(&self, col: &str) -> Result<bool>;
    fn opt_bool(&self, col: &str) -> Result<Option<bool>>;
    fn time(&self, col: &str) -> Result<Timestamp>;
    fn opt_time(&self, col: &str) -> Result<Option<Timestamp>>;
    fn bytes(&self, col: &str) -> Result<Vec<u8>>;
    fn ints(&self, col: &str) -> Result<Vec<i64>>;
    fn json(&self, col: &str) -> Result<Option<serde_json::Value>>;
}

/// A connection or transaction of an engine.
///
/// SQLite's implementation never waits (its futures complete on their first poll), which
/// is what lets its writer thread run whole transactions synchronously; see
/// [`crate::WriteOp`].
pub(crate) trait Db {
    /// Runs a statement and maps each row it returns.
    async fn rows<T>(&self, q: &Query, args: &[Arg<'_>], f: impl FnMut(&dyn Row) -> Result<T>) -> Result<Vec<T>>;
    /// Runs a statement; returns how many rows it changed.
    async fn exec(&self, q: &Query, args: &[Arg<'_>]) -> Result<u64>;
}

/// A column's value could not be read.
pub(crate) fn column(col: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(format!("reading column {col}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_translate_per_engine() {
        let q = Query::new("SELECT a FROM t WHERE id {in $1} AND b = $2 {for update}");
        assert_eq!(q.postgres(), "SELECT a FROM t WHERE id = ANY($1) AND b = $2 FOR UPDATE");
        assert_eq!(q.sqlite(), "SELECT a FROM t WHERE id IN (SELECT value FROM json_each(?1)) AND b = ?2 ");
        let q = Query::new("SELECT id FROM outbox LIMIT $3 {skip locked}");
        assert_eq!(q.postgres(), "SELECT id FROM outbox LIMIT $3 FOR UPDATE SKIP LOCKED");
        assert_eq!(q.sqlite(), "SELECT id FROM outbox LIMIT ?3 ");
        let q = Query::new("SELECT a FROM t WHERE {lower t.name} LIKE $1");
        assert_eq!(q.postgres(), "SELECT a FROM t WHERE lower(t.name COLLATE \"C\") LIKE $1");
        assert_eq!(q.sqlite(), "SELECT a FROM t WHERE lower(t.name) LIKE ?1");
        let q = Query::new("SELECT a FROM t WHERE {has t.list $2} {for share}");
        assert_eq!(q.postgres(), "SELECT a FROM t WHERE $2 = ANY(t.list) FOR SHARE");
        assert_eq!(q.sqlite(), "SELECT a FROM t WHERE ?2 IN (SELECT value FROM json_each(t.list)) ");
    }
}
