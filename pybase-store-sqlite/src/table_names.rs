//! Table names, unique in a base ignoring case (issue 11): each table row
//! keeps its name's key (`tables.name_key`, [`pybase_core::model::name_key`]),
//! indexed with its base, so checking a name and finding the next position
//! are index lookups however many tables a base holds.

use rusqlite::{Connection, OptionalExtension, params};

use crate::error::{Error, Result};

/// Migration 0011: adds `name_key` (the script) and fills it for the
/// existing tables with Rust's lowercasing, which SQL's `lower()` cannot
/// give. Tables already sharing a key (written before the rule) keep it:
/// the store checks names in its write transaction, not by a unique index.
pub(crate) fn add_name_keys(conn: &Connection) -> Result<()> {
    conn.execute_batch(include_str!("../migrations/0011_table_name_key.sql"))?;
    let named: Vec<(String, String)> = conn
        .prepare("SELECT id, name FROM tables")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut set = conn.prepare("UPDATE tables SET name_key = ?2 WHERE id = ?1")?;
    for (id, name) in named {
        set.execute(params![id, pybase_core::model::name_key(&name)])?;
    }
    Ok(())
}

/// Whether a table of `base` other than `except` has the name key `key`.
pub(crate) fn key_taken(
    conn: &Connection,
    base: &str,
    key: &str,
    except: Option<&str>,
) -> Result<bool> {
    Ok(conn
        .prepare_cached(
            "SELECT 1 FROM tables WHERE base_id = ?1 AND name_key = ?2 AND id <> ?3 LIMIT 1",
        )?
        .query_row(params![base, key, except.unwrap_or("")], |_| Ok(()))
        .optional()?
        .is_some())
}

/// Refuses `key` for a table of `base` other than `except` when taken:
/// `Conflict { entity: "table", field: "name" }`. Called inside the write
/// transaction, which serialises writers.
pub(crate) fn check_free(
    conn: &Connection,
    base: &str,
    key: &str,
    except: Option<&str>,
) -> Result<()> {
    if key_taken(conn, base, key, except)? {
        return Err(Error::conflict("table", "name"));
    }
    Ok(())
}

/// One more than the highest position of `base`'s tables, 0 for none: the
/// last entry of the `(base_id, position, id)` index.
pub(crate) fn next_position(conn: &Connection, base: &str) -> Result<i64> {
    let last: Option<i64> = conn
        .prepare_cached(
            "SELECT position FROM tables WHERE base_id = ?1 ORDER BY position DESC LIMIT 1",
        )?
        .query_row([base], |r| r.get(0))
        .optional()?;
    Ok(last.map_or(0, |p| p.saturating_add(1)))
}

#[cfg(test)]
mod tests;
