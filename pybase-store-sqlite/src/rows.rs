//! Conversions between SQLite rows and model types.
//!
//! Decoding failures become `FromSqlConversionFailure`, so row closures stay
//! plain `rusqlite::Result` and a corrupt value is a backend error naming
//! its column.

use std::str::FromStr;

use chrono::{Datelike as _, NaiveDate, NaiveDateTime, Timelike as _};
use pybase_core::ids::IdParseError;
use pybase_core::model::{Cells, Record, Timestamp};
use pybase_core::query::RawRecord;
use pybase_core::query::eval::TIME_FORMAT;
use rusqlite::Row;
use rusqlite::types::Type;

/// Formats a time as stored: UTC with milliseconds, byte order = time order.
///
/// Every record write formats two times and every read parses several, so
/// the usual case (years 0 to 9999) is written by hand: chrono's format
/// strings are re-parsed on each call and cost more than the row itself.
pub(crate) fn fmt_time(t: &Timestamp) -> String {
    let (year, nanos) = (t.year(), t.nanosecond());
    let Ok(year) = u32::try_from(year) else {
        return t.format(TIME_FORMAT).to_string();
    };
    if year > 9999 || nanos >= 1_000_000_000 {
        return t.format(TIME_FORMAT).to_string();
    }
    // Digits written into a fixed buffer: `format!` with padding costs
    // about 3,000 instructions a call, more than the row's B-tree insert.
    let mut out = *b"0000-00-00T00:00:00.000Z";
    let mut put = |at: usize, width: usize, mut n: u32| {
        for i in (at..at + width).rev() {
            // A digit, 0 to 9.
            out[i] = b'0' + (n % 10) as u8;
            n /= 10;
        }
    };
    put(0, 4, year);
    put(5, 2, t.month());
    put(8, 2, t.day());
    put(11, 2, t.hour());
    put(14, 2, t.minute());
    put(17, 2, t.second());
    put(20, 3, nanos / 1_000_000);
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses `YYYY-MM-DDTHH:MM:SS.mmmZ` (what [`fmt_time`] writes) without
/// chrono's format machinery; `None` for any other shape.
fn parse_time_fast(s: &str) -> Option<Timestamp> {
    let b = s.as_bytes();
    if b.len() != 24
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
        || b[19] != b'.'
        || b[23] != b'Z'
    {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<u32> {
        b[from..to].iter().try_fold(0_u32, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    let year = i32::try_from(num(0, 4)?).ok()?;
    let date = NaiveDate::from_ymd_opt(year, num(5, 7)?, num(8, 10)?)?;
    let time = date.and_hms_milli_opt(num(11, 13)?, num(14, 16)?, num(17, 19)?, num(20, 23)?)?;
    Some(time.and_utc())
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
    if let Some(t) = parse_time_fast(s) {
        return Ok(t);
    }
    NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.fZ")
        .map(|t| t.and_utc())
        .map_err(|e| conversion(idx, Type::Text, e))
}

/// A text column borrowed from the row (no allocation).
fn text<'r>(row: &'r Row<'_>, idx: usize) -> rusqlite::Result<&'r str> {
    row.get_ref(idx)?
        .as_str()
        .map_err(|e| conversion(idx, Type::Text, e))
}

/// A time column.
pub(crate) fn time(row: &Row<'_>, idx: usize) -> rusqlite::Result<Timestamp> {
    parse_time(idx, text(row, idx)?)
}

/// A nullable time column.
pub(crate) fn opt_time(row: &Row<'_>, idx: usize) -> rusqlite::Result<Option<Timestamp>> {
    let s: Option<String> = row.get(idx)?;
    s.map(|s| parse_time(idx, &s)).transpose()
}

/// A typed id column.
pub(crate) fn id<T: FromStr<Err = IdParseError>>(row: &Row<'_>, idx: usize) -> rusqlite::Result<T> {
    text(row, idx)?
        .parse()
        .map_err(|e| conversion(idx, Type::Text, e))
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
    serde_json::from_str(text(row, idx)?).map_err(|e| conversion(idx, Type::Text, e))
}

/// A parsed value of a text column (roles, scopes, ...).
pub(crate) fn parsed<T: FromStr<Err = String>>(row: &Row<'_>, idx: usize) -> rusqlite::Result<T> {
    let s: String = row.get(idx)?;
    s.parse()
        .map_err(|e: String| conversion(idx, Type::Text, std::io::Error::other(e)))
}

/// A record from a row selected with [`crate::layout::RECORD_COLUMNS`].
pub(crate) fn record(row: &Row<'_>) -> rusqlite::Result<Record> {
    record_with(row, json(row, 2)?)
}

/// [`record`] with the cells left as the stored JSON text.
pub(crate) fn raw_record(row: &Row<'_>) -> rusqlite::Result<RawRecord> {
    Ok(RawRecord {
        cells: text(row, 2)?.to_owned(),
        record: record_with(row, Cells::new())?,
    })
}

/// [`record`] of a row whose [`crate::layout::RECORD_COLUMNS`] start at
/// column `at`.
pub(crate) fn record_at(row: &Row<'_>, at: usize) -> rusqlite::Result<Record> {
    record_from(row, at, json(row, at + 2)?)
}

/// The record of a [`crate::layout::RECORD_COLUMNS`] row, with `cells`.
fn record_with(row: &Row<'_>, cells: Cells) -> rusqlite::Result<Record> {
    record_from(row, 0, cells)
}

/// The record of a row whose [`crate::layout::RECORD_COLUMNS`] start at
/// column `at`, with `cells`.
fn record_from(row: &Row<'_>, at: usize, cells: Cells) -> rusqlite::Result<Record> {
    Ok(Record {
        id: id(row, at)?,
        table_id: id(row, at + 1)?,
        cells,
        autonumber: row.get(at + 3)?,
        created_by: opt_id(row, at + 4)?,
        updated_by: opt_id(row, at + 5)?,
        created_time: time(row, at + 6)?,
        updated_time: time(row, at + 7)?,
        deleted_time: opt_time(row, at + 8)?,
    })
}

/// A time as stored (see [`fmt_time`]), parsed.
pub(crate) fn parse_stored_time(s: &str) -> crate::error::Result<Timestamp> {
    Ok(parse_time(0, s)?)
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

#[cfg(test)]
mod time_tests {
    use chrono::{TimeZone as _, Utc};

    use super::*;

    #[test]
    fn fast_time_format_and_parse_match_chrono() {
        let times = [
            Utc.with_ymd_and_hms(2026, 11, 26, 1, 2, 3).unwrap(),
            Utc.timestamp_millis_opt(1_700_000_123_456).unwrap(),
            Utc.with_ymd_and_hms(1, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59).unwrap(),
            Utc.with_ymd_and_hms(0, 1, 1, 0, 0, 0).unwrap(),
            Utc.timestamp_millis_opt(1_709_164_799_999).unwrap(),
        ];
        for t in times {
            let text = fmt_time(&t);
            assert_eq!(text, t.format(TIME_FORMAT).to_string());
            assert_eq!(parse_time(0, &text).unwrap(), t);
            assert_eq!(parse_time_fast(&text), Some(t));
        }
        assert_eq!(parse_time_fast("2026-13-01T00:00:00.000Z"), None);
        assert_eq!(parse_time_fast("2026-01-01T00:00:00.00xZ"), None);
        assert_eq!(parse_time_fast("2026-01-01T00:00:00Z"), None);
        assert!(parse_time(0, "2026-01-01T00:00:00.5Z").is_ok());
    }
}
