//! Table names, unique in a base ignoring case (issue 11): each table row
//! keeps its name's key (`tables.name_key`, [`pybase_core::model::name_key`]),
//! indexed with its base, so checking a name and finding the next position
//! are index lookups however many tables a base holds.

use rusqlite::{Connection, OptionalExtension, params};

use crate::error::{Error, Result};

/// Migration 0011: adds `name_key` and its unique index (the script) and
/// keys the existing tables with Rust's lowercasing, which SQL's `lower()`
/// cannot give. Tables of one base already sharing a key (written before
/// the rule) keep their names: the first by position and id gets the key,
/// the others [`legacy_key`]s.
pub(crate) fn add_name_keys(conn: &Connection) -> Result<()> {
    conn.execute_batch(include_str!("../migrations/0011_table_name_key.sql"))?;
    let named: Vec<(String, String, String)> = conn
        .prepare("SELECT id, base_id, name FROM tables ORDER BY base_id, position, id")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut set = conn.prepare("UPDATE tables SET name_key = ?2 WHERE id = ?1")?;
    for (id, base, name) in named {
        let key = pybase_core::model::name_key(&name);
        let key = if key_taken(conn, &base, &key, Some(&id))? {
            legacy_key(&key, &id)
        } else {
            key
        };
        set.execute(params![id, key])?;
    }
    Ok(())
}

/// The key of a table whose name's key another table of its base already
/// had before names were unique: the key, U+001F and the table's id. No
/// name folds to it (names have no control characters), so the table keeps
/// its name without taking another's.
pub(crate) fn legacy_key(key: &str, id: &str) -> String {
    format!("{key}\u{1f}{id}")
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
/// transaction, which serialises writers (the unique index on `(base_id,
/// name_key)` is the backstop).
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
