//! SQLite's side of [`Db`]: statements on a rusqlite connection. Instants are integer
//! microseconds since the Unix epoch, booleans 0/1, lists and JSON text. Every method
//! completes without waiting, so its futures are ready on their first poll.

use jiff::Timestamp;
use rusqlite::types::Value;
use rusqlite::{Connection, Statement};

use crate::db::{Arg, Db, Query, Row, column};
use crate::{Result, StoreError};

pub(crate) fn error(e: rusqlite::Error) -> StoreError {
    use rusqlite::ErrorCode::*;
    // A row a write refers to is gone (a user deleted while their request ran): the facts
    // the transaction was decided on changed, as PostgreSQL's 23503 says there.
    if e.sqlite_error().is_some_and(|f| f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY) {
        return StoreError::Retry(format!("a row it refers to is gone: {e}"));
    }
    match e.sqlite_error_code() {
        Some(DatabaseBusy | DatabaseLocked) => StoreError::Unavailable(format!("database is busy: {e}")),
        Some(DiskFull | CannotOpen | SystemIoFailure | ReadOnly | DatabaseCorrupt | NotADatabase) => {
            StoreError::Unavailable(e.to_string())
        }
        _ => StoreError::Internal(e.to_string()),
    }
}

fn bind(stmt: &mut Statement<'_>, q: &Query, args: &[Arg<'_>]) -> Result<()> {
    if stmt.parameter_count() != args.len() {
        return Err(StoreError::Internal(format!(
            "{} arguments for {} parameters: {}",
            args.len(),
            stmt.parameter_count(),
            q.text()
        )));
    }
    for (i, a) in args.iter().enumerate() {
        let at = i + 1;
        let bound = match *a {
            Arg::Null => stmt.raw_bind_parameter(at, Value::Null),
            Arg::Int(n) => stmt.raw_bind_parameter(at, n),
            Arg::Text(s) | Arg::Json(s) => stmt.raw_bind_parameter(at, s),
            Arg::Bytes(b) => stmt.raw_bind_parameter(at, b),
            Arg::Bool(b) => stmt.raw_bind_parameter(at, b),
            Arg::Time(t) => stmt.raw_bind_parameter(at, t.as_microsecond()),
            Arg::Ints(list) => stmt.raw_bind_parameter(at, serde_json::Value::from(list.to_vec()).to_string()),
        };
        bound.map_err(error)?;
    }
    Ok(())
}

impl Db for Connection {
    async fn rows<T>(&self, q: &Query, args: &[Arg<'_>], mut f: impl FnMut(&dyn Row) -> Result<T>) -> Result<Vec<T>> {
        let mut stmt = self.prepare_cached(q.sqlite()).map_err(error)?;
        bind(&mut stmt, q, args)?;
        // Names are read once per statement: rusqlite's lookup by name asks SQLite for every
        // column's name on every call, a quarter of a list page's time.
        let names: Vec<String> = stmt.column_names().map(str::to_string).collect();
        let mut rows = stmt.raw_query();
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(error)? {
            out.push(f(&Lite { row, names: &names, next: std::cell::Cell::new(0) })?);
        }
        Ok(out)
    }

    async fn exec(&self, q: &Query, args: &[Arg<'_>]) -> Result<u64> {
        let mut stmt = self.prepare_cached(q.sqlite()).map_err(error)?;
        bind(&mut stmt, q, args)?;
        stmt.raw_execute().map(|n| n as u64).map_err(error)
    }
}

struct Lite<'a, 'b> {
    row: &'a rusqlite::Row<'b>,
    names: &'a [String],
    /// Where the next column is likely to be: mappers read columns in the order selected.
    next: std::cell::Cell<usize>,
}

impl Lite<'_, '_> {
    fn index(&self, col: &str) -> Option<usize> {
        let guess = self.next.get();
        if self.names.get(guess).is_some_and(|n| n == col) {
            return Some(guess);
        }
        self.names.iter().position(|n| n == col).or_else(|| self.names.iter().position(|n| n.eq_ignore_ascii_case(col)))
    }

    fn get<T: rusqlite::types::FromSql>(&self, col: &str) -> Result<T> {
        let index = self.index(col).ok_or_else(|| column(col, "no such column"))?;
        self.next.set(index + 1);
        self.row.get(index).map_err(|e| column(col, e))
    }
}

fn micros(col: &str, m: i64) -> Result<Timestamp> {
    Timestamp::from_microsecond(m).map_err(|e| column(col, e))
}

impl Row for Lite<'_, '_> {
    fn int(&self, col: &str) -> Result<i64> {
        self.get(col)
    }

    fn opt_int(&self, col: &str) -> Result<Option<i64>> {
        self.get(col)
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
        micros(col, self.get(col)?)
    }

    fn opt_time(&self, col: &str) -> Result<Option<Timestamp>> {
        self.get::<Option<i64>>(col)?.map(|m| micros(col, m)).transpose()
    }

    fn bytes(&self, col: &str) -> Result<Vec<u8>> {
        self.get(col)
    }

    fn ints(&self, col: &str) -> Result<Vec<i64>> {
        serde_json::from_str(&self.get::<String>(col)?).map_err(|e| column(col, e))
    }

    fn json(&self, col: &str) -> Result<Option<serde_json::Value>> {
        self.get::<Option<String>>(col)?.map(|s| serde_json::from_str(&s).map_err(|e| column(col, e))).transpose()
    }
}
