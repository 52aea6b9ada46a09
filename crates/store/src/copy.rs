//! `classhub copy`: a SQLite database into an empty PostgreSQL database, every table, ids
//! and sealed secrets as they are, in one PostgreSQL transaction. A copy that fails or is
//! interrupted leaves the target as it was (empty), so it is simply run again.
//!
//! Both databases are first migrated to this build's schema; the tables, their columns'
//! types, keys and foreign keys are then read from PostgreSQL's catalog, so a new migration
//! needs nothing here. SQLite keeps instants as integer microseconds, booleans as 0/1 and
//! lists as JSON text; each value is converted by its PostgreSQL column's type.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use jiff::Timestamp;
use postgres_types::{FromSql, ToSql, Type};
use rusqlite::types::ValueRef;
use tokio_postgres::binary_copy::BinaryCopyInWriter;

use crate::db::Arg;
use crate::postgres::{AnyInt, PgEngine, error as pg_error};
use crate::sqlite::{SqliteEngine, error as lite_error, open_connection};
use crate::{Result, StoreError, StoreOptions};

/// Rows sent from the SQLite reader to the PostgreSQL writer at a time.
const CHUNK: usize = 2_000;
/// Rows per table read back from PostgreSQL and compared with the source's.
const SAMPLES: u64 = 16;

/// What the copy is doing, for a progress bar.
pub enum CopyProgress<'a> {
    /// Rows to copy in all.
    Started { rows: u64 },
    /// `rows` more rows of `table` are in the target.
    Copied { table: &'a str, rows: u64 },
    /// All rows are in; counts and sample rows are being compared.
    Verifying,
}

/// What was copied, table by table, and how much of it was compared after.
#[derive(Debug, serde::Serialize)]
pub struct CopyReport {
    /// Rows per table, in the order they were copied.
    pub tables: BTreeMap<String, u64>,
    pub rows: u64,
    /// Rows read back from PostgreSQL and found equal to the source's, value by value.
    pub rows_compared: u64,
}

/// A value of any column, owned, as PostgreSQL's column type reads it.
#[derive(Debug, Clone, PartialEq)]
enum Cell {
    Null,
    Int(i64),
    Text(String),
    Bytes(Vec<u8>),
    Bool(bool),
    Time(Timestamp),
    Ints(Vec<i64>),
    Json(String),
}

impl Cell {
    fn arg(&self) -> Arg<'_> {
        match self {
            Cell::Null => Arg::Null,
            Cell::Int(n) => Arg::Int(*n),
            Cell::Text(s) => Arg::Text(s),
            Cell::Bytes(b) => Arg::Bytes(b),
            Cell::Bool(b) => Arg::Bool(*b),
            Cell::Time(t) => Arg::Time(*t),
            Cell::Ints(list) => Arg::Ints(list),
            Cell::Json(s) => Arg::Json(s),
        }
    }

    /// A SQLite value as the PostgreSQL column `ty` holds it.
    fn from_sqlite(ty: &Type, v: ValueRef<'_>) -> std::result::Result<Cell, String> {
        let unexpected = || format!("a SQLite {:?} value for a PostgreSQL {ty} column", v.data_type());
        Ok(match (ty, v) {
            (_, ValueRef::Null) => Cell::Null,
            (&Type::INT2 | &Type::INT4 | &Type::INT8, ValueRef::Integer(n)) => Cell::Int(n),
            (&Type::BOOL, ValueRef::Integer(n)) => Cell::Bool(n != 0),
            (&Type::TIMESTAMPTZ, ValueRef::Integer(n)) => {
                Cell::Time(Timestamp::from_microsecond(n).map_err(|e| e.to_string())?)
            }
            (&Type::TEXT | &Type::VARCHAR, ValueRef::Text(s)) => Cell::Text(utf8(s)?),
            (&Type::JSON | &Type::JSONB, ValueRef::Text(s)) => Cell::Json(utf8(s)?),
            (&Type::BYTEA, ValueRef::Blob(b)) => Cell::Bytes(b.to_vec()),
            (&Type::INT8_ARRAY, ValueRef::Text(s)) => Cell::Ints(serde_json::from_slice(s).map_err(|e| e.to_string())?),
            _ => return Err(unexpected()),
        })
    }
}

fn utf8(s: &[u8]) -> std::result::Result<String, String> {
    String::from_utf8(s.to_vec()).map_err(|e| e.to_string())
}

impl<'a> FromSql<'a> for Cell {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> std::result::Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(match *ty {
            Type::INT2 | Type::INT4 | Type::INT8 => Cell::Int(AnyInt::from_sql(ty, raw)?.0),
            Type::BOOL => Cell::Bool(bool::from_sql(ty, raw)?),
            Type::TIMESTAMPTZ => Cell::Time(Timestamp::from_sql(ty, raw)?),
            Type::TEXT | Type::VARCHAR => Cell::Text(String::from_sql(ty, raw)?),
            // The binary form of JSON is its text; JSONB's has a version byte first.
            Type::JSON => Cell::Json(std::str::from_utf8(raw)?.to_string()),
            Type::JSONB => Cell::Json(std::str::from_utf8(raw.get(1..).unwrap_or_default())?.to_string()),
            Type::BYTEA => Cell::Bytes(Vec::from_sql(ty, raw)?),
            Type::INT8_ARRAY => Cell::Ints(Vec::from_sql(ty, raw)?),
            _ => return Err(format!("classhub copy does not know PostgreSQL's {ty}").into()),
        })
    }

    fn from_sql_null(_: &Type) -> std::result::Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Cell::Null)
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// A table of the target, as its catalog describes it.
struct Table {
    name: String,
    columns: Vec<(String, Type)>,
    /// Positions of the primary key's columns in `columns`.
    key: Vec<usize>,
    /// The identity column, whose sequence must continue after the copied ids.
    identity: Option<String>,
}

impl Table {
    fn column_list(&self) -> String {
        self.columns.iter().map(|(c, _)| quoted(c)).collect::<Vec<_>>().join(", ")
    }
}

fn quoted(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

/// Rows of one table, from the reader thread.
struct Chunk {
    table: usize,
    rows: Vec<Vec<Cell>>,
    last: bool,
}

/// Copies the SQLite database `from` into the PostgreSQL database `to`, which must hold no
/// rows; verifies row counts and sample rows before committing.
pub async fn sqlite_to_postgres(
    from: &StoreOptions,
    to: &StoreOptions,
    progress: &mut (dyn FnMut(CopyProgress<'_>) + Send),
) -> Result<CopyReport> {
    let path = match from.url.strip_prefix("sqlite://") {
        Some(p) if !p.is_empty() => Path::new(p),
        _ => return Err(StoreError::Internal(format!("--from must be sqlite://PATH, not {:?}", from.url))),
    };
    if !(to.url.starts_with("postgres://") || to.url.starts_with("postgresql://")) {
        return Err(StoreError::Internal("--to must be a postgres:// URL".into()));
    }
    if !path.exists() {
        return Err(StoreError::Internal(format!("{}: no such database", path.display())));
    }
    // Both at this build's schema, so that their tables agree.
    let (source, _) = SqliteEngine::open(&from.url["sqlite://".len()..], from)?;
    source.close().await;
    drop(source);
    let (target, _) = PgEngine::open(&to.url, to).await?;
    let mut client = target.client().await?;
    let tx = client.transaction().await.map_err(pg_error)?;
    let tables = target_tables(&tx).await?;

    let names: Vec<&str> = tables.iter().map(|t| t.name.as_str()).collect();
    // Other writers (a classhub already started on the target) wait until the copy commits.
    let list = names.iter().map(|n| quoted(n)).collect::<Vec<_>>().join(", ");
    tx.batch_execute(&format!("LOCK TABLE {list} IN EXCLUSIVE MODE")).await.map_err(pg_error)?;
    let mut occupied = Vec::new();
    for t in &tables {
        let q = format!("SELECT EXISTS (SELECT 1 FROM {})", quoted(&t.name));
        if tx.query_one(&q, &[]).await.map_err(pg_error)?.try_get::<_, bool>(0).map_err(pg_error)? {
            occupied.push(t.name.as_str());
        }
    }
    if !occupied.is_empty() {
        return Err(StoreError::Internal(format!(
            "the target database is not empty (rows in {}): classhub copy only fills an empty database",
            occupied.join(", ")
        )));
    }

    // One read transaction on the source: one consistent state, even while it serves.
    let src = open_connection(path, from, true)?;
    src.execute_batch("BEGIN").map_err(lite_error)?;
    check_source_tables(&src, &tables)?;
    let mut counts = Vec::with_capacity(tables.len());
    for t in &tables {
        let n: i64 = src
            .query_row(&format!("SELECT count(*) FROM {}", quoted(&t.name)), [], |r| r.get(0))
            .map_err(lite_error)?;
        counts.push(n as u64);
    }
    progress(CopyProgress::Started { rows: counts.iter().sum() });

    let plans: Vec<(String, String, Vec<Type>)> = tables
        .iter()
        .map(|t| {
            let order = t.key.iter().map(|&i| quoted(&t.columns[i].0)).collect::<Vec<_>>().join(", ");
            let sql = format!("SELECT {} FROM {} ORDER BY {order}", t.column_list(), quoted(&t.name));
            (t.name.clone(), sql, t.columns.iter().map(|(_, ty)| ty.clone()).collect())
        })
        .collect();
    let (send, mut chunks) = tokio::sync::mpsc::channel::<Result<Chunk>>(4);
    let reader = std::thread::Builder::new()
        .name("copy-reader".into())
        .spawn(move || read_source(&src, &plans, &send))
        .map_err(|e| StoreError::Internal(format!("starting the reader thread: {e}")))?;

    let mut samples: Vec<Vec<Vec<Cell>>> = Vec::with_capacity(tables.len());
    for (i, t) in tables.iter().enumerate() {
        let sink = tx
            .copy_in(&format!("COPY {} ({}) FROM STDIN (FORMAT binary)", quoted(&t.name), t.column_list()))
            .await
            .map_err(pg_error)?;
        let types: Vec<Type> = t.columns.iter().map(|(_, ty)| ty.clone()).collect();
        let writer = BinaryCopyInWriter::new(sink, &types);
        let mut writer = std::pin::pin!(writer);
        let step = (counts[i] / SAMPLES).max(1);
        let (mut seen, mut kept) = (0u64, Vec::new());
        loop {
            let chunk =
                chunks.recv().await.ok_or_else(|| StoreError::Internal("the SQLite reader stopped early".into()))??;
            debug_assert_eq!(chunk.table, i);
            let added = chunk.rows.len() as u64;
            for row in chunk.rows {
                let args: Vec<Arg<'_>> = row.iter().map(Cell::arg).collect();
                let refs: Vec<&(dyn ToSql + Sync)> = args.iter().map(|a| a as &(dyn ToSql + Sync)).collect();
                writer.as_mut().write(&refs).await.map_err(|e| in_table(&t.name, pg_error(e)))?;
                if seen % step == 0 || seen + 1 == counts[i] {
                    kept.push(row);
                }
                seen += 1;
            }
            progress(CopyProgress::Copied { table: &t.name, rows: added });
            if chunk.last {
                break;
            }
        }
        writer.finish().await.map_err(|e| in_table(&t.name, pg_error(e)))?;
        samples.push(kept);
    }
    reader.join().map_err(|_| StoreError::Internal("the SQLite reader panicked".into()))?;

    progress(CopyProgress::Verifying);
    let mut report = CopyReport { tables: BTreeMap::new(), rows: 0, rows_compared: 0 };
    for ((t, &expected), kept) in tables.iter().zip(&counts).zip(&samples) {
        let q = format!("SELECT count(*) FROM {}", quoted(&t.name));
        let copied = tx.query_one(&q, &[]).await.map_err(pg_error)?.try_get::<_, i64>(0).map_err(pg_error)? as u64;
        if copied != expected {
            return Err(StoreError::Internal(format!("{}: {expected} rows in SQLite, {copied} copied", t.name)));
        }
        report.rows_compared += compare_samples(&tx, t, kept).await?;
        report.tables.insert(t.name.clone(), copied);
        report.rows += copied;
        if let Some(id) = &t.identity {
            // The next id the target hands out follows the largest copied one.
            let q = format!(
                "SELECT setval(pg_get_serial_sequence($1, $2), COALESCE((SELECT max({c}) FROM {t}), 0) + 1, false)",
                c = quoted(id),
                t = quoted(&t.name)
            );
            tx.query_one(&q, &[&quoted(&t.name), id]).await.map_err(pg_error)?;
        }
    }
    tx.commit().await.map_err(pg_error)?;
    target.close();
    Ok(report)
}

fn in_table(table: &str, e: StoreError) -> StoreError {
    StoreError::Internal(format!("copying {table}: {e}"))
}

/// Reads each table in turn, in key order, and sends its rows in chunks; every table ends
/// with a chunk marked last (an empty table sends only that).
fn read_source(
    src: &rusqlite::Connection,
    plans: &[(String, String, Vec<Type>)],
    send: &tokio::sync::mpsc::Sender<Result<Chunk>>,
) {
    let result = (|| -> Result<()> {
        for (i, (name, sql, types)) in plans.iter().enumerate() {
            let mut stmt = src.prepare(sql).map_err(lite_error)?;
            let mut rows = stmt.query([]).map_err(lite_error)?;
            let mut chunk = Vec::with_capacity(CHUNK);
            while let Some(row) = rows.next().map_err(lite_error)? {
                let mut cells = Vec::with_capacity(types.len());
                for (c, ty) in types.iter().enumerate() {
                    let v = row.get_ref(c).map_err(lite_error)?;
                    cells.push(Cell::from_sqlite(ty, v).map_err(|e| StoreError::Internal(format!("{name}: {e}")))?);
                }
                chunk.push(cells);
                if chunk.len() == CHUNK {
                    let rows = std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK));
                    if send.blocking_send(Ok(Chunk { table: i, rows, last: false })).is_err() {
                        return Ok(());
                    }
                }
            }
            if send.blocking_send(Ok(Chunk { table: i, rows: chunk, last: true })).is_err() {
                return Ok(());
            }
        }
        Ok(())
    })();
    if let Err(e) = result {
        let _ = send.blocking_send(Err(e));
    }
}

/// Reads the kept source rows back from the target by primary key and compares them value
/// by value; returns how many were compared.
async fn compare_samples(tx: &tokio_postgres::Transaction<'_>, t: &Table, kept: &[Vec<Cell>]) -> Result<u64> {
    let filter = t.key.iter().enumerate().map(|(n, &i)| format!("{} = ${}", quoted(&t.columns[i].0), n + 1));
    let q = format!(
        "SELECT {} FROM {} WHERE {}",
        t.column_list(),
        quoted(&t.name),
        filter.collect::<Vec<_>>().join(" AND ")
    );
    let stmt = tx.prepare(&q).await.map_err(pg_error)?;
    for row in kept {
        let args: Vec<Arg<'_>> = t.key.iter().map(|&i| row[i].arg()).collect();
        let refs: Vec<&(dyn ToSql + Sync)> = args.iter().map(|a| a as &(dyn ToSql + Sync)).collect();
        let found = tx.query_opt(&stmt, &refs).await.map_err(pg_error)?;
        let found: Vec<Cell> = match found {
            Some(r) => (0..t.columns.len())
                .map(|c| r.try_get::<_, Cell>(c))
                .collect::<std::result::Result<_, _>>()
                .map_err(pg_error)?,
            None => Vec::new(),
        };
        if &found != row {
            return Err(StoreError::Internal(format!(
                "{}: a copied row differs from the source: {row:?} became {found:?}",
                t.name
            )));
        }
    }
    Ok(kept.len() as u64)
}

/// The target's tables (but the migration history), parents before the tables whose
/// foreign keys refer to them.
async fn target_tables(tx: &tokio_postgres::Transaction<'_>) -> Result<Vec<Table>> {
    let q = "SELECT c.relname, a.attname, a.atttypid, a.attidentity <> '' AS identity,
                    COALESCE(a.attnum = ANY (i.indkey::int2[]), false) AS key
               FROM pg_class c
               JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
               LEFT JOIN pg_index i ON i.indrelid = c.oid AND i.indisprimary
              WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r'
                AND c.relname <> 'refinery_schema_history'
              ORDER BY c.relname, a.attnum";
    let mut tables: BTreeMap<String, Table> = BTreeMap::new();
    for r in tx.query(q, &[]).await.map_err(pg_error)? {
        let name: String = r.try_get(0).map_err(pg_error)?;
        let column: String = r.try_get(1).map_err(pg_error)?;
        let oid: u32 = r.try_get(2).map_err(pg_error)?;
        let ty = Type::from_oid(oid)
            .ok_or_else(|| StoreError::Internal(format!("{name}.{column}: a type classhub copy does not know")))?;
        let t = tables.entry(name.clone()).or_insert_with(|| Table {
            name,
            columns: Vec::new(),
            key: Vec::new(),
            identity: None,
        });
        if r.try_get::<_, bool>(4).map_err(pg_error)? {
            t.key.push(t.columns.len());
        }
        if r.try_get::<_, bool>(3).map_err(pg_error)? {
            t.identity = Some(column.clone());
        }
        t.columns.push((column, ty));
    }
    if let Some(t) = tables.values().find(|t| t.key.is_empty()) {
        return Err(StoreError::Internal(format!("{} has no primary key to compare rows by", t.name)));
    }
    let q = "SELECT child.relname, parent.relname FROM pg_constraint f
               JOIN pg_class child ON child.oid = f.conrelid
               JOIN pg_class parent ON parent.oid = f.confrelid
              WHERE f.contype = 'f' AND f.connamespace = current_schema()::regnamespace";
    let mut parents: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for r in tx.query(q, &[]).await.map_err(pg_error)? {
        let (child, parent): (String, String) = (r.try_get(0).map_err(pg_error)?, r.try_get(1).map_err(pg_error)?);
        // A table that refers to itself is copied in one statement, checked at its end.
        if child != parent {
            parents.entry(child).or_default().insert(parent);
        }
    }
    let mut ordered = Vec::with_capacity(tables.len());
    while !tables.is_empty() {
        let ready: Vec<String> = tables
            .keys()
            .filter(|n| parents.get(*n).is_none_or(|ps| ps.iter().all(|p| !tables.contains_key(p))))
            .cloned()
            .collect();
        if ready.is_empty() {
            return Err(StoreError::Internal("the tables' foreign keys form a cycle".into()));
        }
        for n in ready {
            ordered.extend(tables.remove(&n));
        }
    }
    Ok(ordered)
}

/// The source must have the same tables and columns (both were just migrated by this build).
fn check_source_tables(src: &rusqlite::Connection, tables: &[Table]) -> Result<()> {
    let mut stmt = src
        .prepare(
            "SELECT m.name, p.name FROM sqlite_schema m, pragma_table_info(m.name) p
              WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name <> 'refinery_schema_history'",
        )
        .map_err(lite_error)?;
    let source: BTreeSet<(String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .map_err(lite_error)?
        .collect::<rusqlite::Result<_>>()
        .map_err(lite_error)?;
    let target: BTreeSet<(String, String)> =
        tables.iter().flat_map(|t| t.columns.iter().map(|(c, _)| (t.name.clone(), c.clone()))).collect();
    let differ: Vec<String> = source.symmetric_difference(&target).map(|(t, c)| format!("{t}.{c}")).collect();
    if differ.is_empty() {
        Ok(())
    } else {
        Err(StoreError::Internal(format!("the two schemas differ in {}", differ.join(", "))))
    }
}
