//! Conversions between SQLite rows and model types.
//!
//! Decoding failures become `FromSqlConversionFailure`, so row closures stay
//! plain `rusqlite::Result` and a corrupt value is a backend error naming
//! its column.

use std::str::FromStr;

use chrono::NaiveDateTime;
use pybase_core::ids::IdParseError;
use pybase_core::model::{Cells, Record, Timestamp};
use pybase_core::query::eval::TIME_FORMAT;
use rusqlite::Row;
use rusqlite::types::Type;

/// Formats a time as stored: UTC with milliseconds, byte order = time order.
pub(crate) fn fmt_time(t: &Timestamp) -> String {
    t.format(TIME_FORMAT).to_string()
}

/// Formats an optional time.
pub(crate) fn fmt_opt_time(t: Option<&Timestamp>) -> Option<String> {
    t.map(fmt_time)
}

fn conversion(
    idx: usize,
    ty: Type,
    e: impl std::error::Error + Send + Sync + 'static,
) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(idx, ty, Box::new(e))
}

fn parse_time(idx: usize, s: &str) -> rusqlite::Result<Timestamp> {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.fZ")
        .map(|t| t.and_utc())
        .map_err(|e| conversion(idx, Type::Text, e))
}

/// A time column.
pub(crate) fn time(row: &Row<'_>, idx: usize) -> rusqlite::Result<Timestamp> {
    let s: String = row.get(idx)?;
    parse_time(idx, &s)
}

/// A nullable time column.
pub(crate) fn opt_time(row: &Row<'_>, idx: usize) -> rusqlite::Result<Option<Timestamp>> {
    let s: Option<String> = row.get(idx)?;
    s.map(|s| parse_time(idx, &s)).transpose()
}

/// A typed id column.
pub(crate) fn id<T: FromStr<Err = IdParseError>>(row: &Row<'_>, idx: usize) -> rusqlite::Result<T> {
    let s: String = row.get(idx)?;
    s.parse().map_err(|e| conversion(idx, Type::Text, e))
}

/// A nullable typed id column.
pub(crate) fn opt_id<T: FromStr<Err = IdParseError>>(
    row: &Row<'_>,
    idx: usize,
) -> rusqlite::Result<Option<T>> {
    let s: Option<String> = row.get(idx)?;
    s.map(|s| s.parse().map_err(|e| conversion(idx, Type::Text, e)))
        .transpose()
}

/// A column holding JSON text, decoded with serde.
pub(crate) fn json<T: serde::de::DeserializeOwned>(
    row: &Row<'_>,
    idx: usize,
) -> rusqlite::Result<T> {
    let s: String = row.get(idx)?;
    serde_json::from_str(&s).map_err(|e| conversion(idx, Type::Text, e))
}

/// A parsed value of a text column (roles, scopes, ...).
pub(crate) fn parsed<T: FromStr<Err = String>>(row: &Row<'_>, idx: usize) -> rusqlite::Result<T> {
    let s: String = row.get(idx)?;
    s.parse()
        .map_err(|e: String| conversion(idx, Type::Text, std::io::Error::other(e)))
}

/// The columns [`record`] reads, in order, for a `records` row.
pub(crate) const RECORD_COLUMNS: &str = "records.id, records.table_id, json(records.data), \
     records.autonumber, records.created_by, records.updated_by, records.created_time, \
     records.updated_time, records.deleted_time";

/// A record from a row selected with [`RECORD_COLUMNS`].
pub(crate) fn record(row: &Row<'_>) -> rusqlite::Result<Record> {
    let cells: Cells = json(row, 2)?;
    Ok(Record {
        id: id(row, 0)?,
        table_id: id(row, 1)?,
        cells,
        autonumber: row.get(3)?,
        created_by: opt_id(row, 4)?,
        updated_by: opt_id(row, 5)?,
        created_time: time(row, 6)?,
        updated_time: time(row, 7)?,
        deleted_time: opt_time(row, 8)?,
    })
}

/// Binds a list of ids (or any strings) as one JSON array parameter, read
/// in SQL with `json_each(?)`.
pub(crate) fn id_list<I: AsRef<str>>(ids: &[I]) -> String {
    serde_json::Value::Array(
        ids.iter()
            .map(|i| serde_json::Value::String(i.as_ref().to_owned()))
            .collect(),
    )
    .to_string()
}
