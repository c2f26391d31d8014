//! The physical layout of records: a constant schema, whatever the number
//! of user tables and indexed fields.
//!
//! - `records` holds the records of every user table (a rowid table,
//!   unique on `(table_id, id)`, with a live-rows index on the same key
//!   `WHERE deleted_time IS NULL`); cells live in `data` as SQLite JSONB
//!   keyed by field id. Statements name their table by a bound parameter
//!   (`table_id = ?n`), never a literal, so one prepared statement serves
//!   every table: with the id in the text each table had statements of its
//!   own, and past a few hundred tables the connection's statement cache
//!   held none of them (every record read and write prepared its
//!   statements again; `benches/ANALYSIS.md`, "The log's cost at scale").
//! - `cell_index (rec, field_id, value)` is the side index of indexed
//!   fields' cells: one entry per record and indexed field, `rec` being the
//!   record's rowid and `value` exactly `json_extract(data, '$.<field>')`
//!   (NULL for an empty cell: empty cells are stored too, so a walk of
//!   `(field_id, value)` in order visits every record of the table, empty
//!   cells last when descending). Its key is `(rec, field_id)` (WITHOUT
//!   ROWID), so all entries of a record are one range, and the index
//!   `cell_index_value (field_id, value)` serves filters and sorted pages.
//! - `cell_indexes (field_id, table_id, ready, built_to)` lists the indexed
//!   fields. Three triggers on `records` (after insert, after an update of
//!   `data`, after delete) keep `cell_index` current from it, so every
//!   write path (creates, updates, upserts, computed cells, two-way link
//!   partners, conversions, restores, cascades) maintains the side index
//!   without knowing about it; deleting a `cell_indexes` row (unindexing,
//!   or a field or table going by cascade) deletes the field's entries.
//!
//! Creating a table or indexing a field therefore writes rows, never DDL:
//! SQLite re-reads the whole schema in every connection after any DDL,
//! which at 10,000 tables cost 0.1 to 3 s per connection (see
//! `benches/ANALYSIS.md`, "SQLite at 10,000 tables"). A new index is
//! filled [`BUILD_CHUNK`] records per transaction ([`build_step`]) and is
//! used by queries only once `ready`, so building it never holds the
//! single writer for long. Migration 0009 ([`move_to_shared_records`])
//! moves databases of the per-table layout ([`crate::legacy_layout`]).

use pybase_core::ids::{FieldId, ID_LEN, TableId};
use rusqlite::{Connection, OptionalExtension, params};

use crate::error::{Error, Result};

/// `id` once more checked to be a typed id (base62, [`ID_LEN`] characters),
/// which cannot carry quotes or SQL, before it is spliced into SQL text.
pub(crate) fn ddl_id(id: &str) -> Result<&str> {
    if id.len() == ID_LEN && id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Ok(id)
    } else {
        Err(Error::corrupt("id", id.to_owned()))
    }
}

/// The columns [`crate::rows::record`] reads, in order, from `records`: a
/// macro, so statements whose text is constant are literals (`concat!`)
/// that need no formatting at each call.
macro_rules! record_columns {
    () => {
        "id, table_id, json(data), autonumber, created_by, updated_by, created_time, \
         updated_time, deleted_time"
    };
}
pub(crate) use record_columns;

/// [`record_columns!`] for statements built at run time.
pub(crate) const RECORD_COLUMNS: &str = record_columns!();

/// The JSON path of a field's cell in `data`.
pub(crate) fn cell_path(field: &str) -> String {
    format!("$.{field}")
}

/// Writes one cell of one record of `table` in place: `value` (JSON text)
/// set at the field's path, or the cell removed when `None`. The record's
/// update time is left alone (derived, partner and converted cells).
pub(crate) fn write_cell(
    conn: &Connection,
    table: &str,
    record: &str,
    field: &str,
    value: Option<&str>,
) -> Result<()> {
    let path = cell_path(field);
    match value {
        Some(json) => conn
            .prepare_cached(
                "UPDATE records SET data = jsonb_set(data, ?2, jsonb(?3)) \
                 WHERE table_id = ?4 AND id = ?1",
            )?
            .execute(params![record, path, json, table])?,
        None => conn
            .prepare_cached(
                "UPDATE records SET data = jsonb_remove(data, ?2) WHERE table_id = ?3 AND id = ?1",
            )?
            .execute(params![record, path, table])?,
    };
    Ok(())
}

/// The layout's schema (migration 0009): the shared records table, the
/// side index of indexed cells, its list of indexed fields, the triggers
/// keeping the side index current, and the partial index of derived fields
/// that record writes consult (`crate::computed`).
const SCHEMA: &str = "
CREATE TABLE records (
    table_id     TEXT NOT NULL REFERENCES tables (id) ON DELETE CASCADE,
    id           TEXT NOT NULL,
    data         BLOB NOT NULL,
    autonumber   INTEGER NOT NULL,
    created_by   TEXT,
    updated_by   TEXT,
    created_time TEXT NOT NULL,
    updated_time TEXT NOT NULL,
    deleted_time TEXT,
    UNIQUE (table_id, id)
);
CREATE INDEX records_live ON records (table_id, id) WHERE deleted_time IS NULL;

CREATE TABLE cell_indexes (
    field_id TEXT PRIMARY KEY NOT NULL REFERENCES fields (id) ON DELETE CASCADE,
    table_id TEXT NOT NULL,
    ready    INTEGER NOT NULL DEFAULT 0,
    built_to TEXT NOT NULL DEFAULT ''
);
CREATE INDEX cell_indexes_table ON cell_indexes (table_id);
CREATE INDEX cell_indexes_building ON cell_indexes (field_id) WHERE NOT ready;

CREATE TABLE cell_index (
    rec      INTEGER NOT NULL,
    field_id TEXT NOT NULL,
    value,
    PRIMARY KEY (rec, field_id)
) WITHOUT ROWID;
CREATE INDEX cell_index_value ON cell_index (field_id, value);

-- Derived (computed) fields, so a record write learns whether its base
-- has any without reading every field of the base (crate::computed).
CREATE INDEX fields_derived ON fields (table_id)
    WHERE type IN ('formula', 'lookup', 'rollup', 'count');

CREATE TRIGGER records_index_insert AFTER INSERT ON records BEGIN
    INSERT OR REPLACE INTO cell_index (rec, field_id, value)
    SELECT new.rowid, c.field_id, json_extract(new.data, '$.' || c.field_id)
    FROM cell_indexes AS c WHERE c.table_id = new.table_id;
END;
CREATE TRIGGER records_index_update AFTER UPDATE OF data ON records BEGIN
    UPDATE cell_index SET value = json_extract(new.data, '$.' || field_id)
    WHERE rec = new.rowid AND value IS NOT json_extract(new.data, '$.' || field_id);
END;
CREATE TRIGGER records_index_delete AFTER DELETE ON records BEGIN
    DELETE FROM cell_index WHERE rec = old.rowid;
END;
CREATE TRIGGER cell_indexes_drop AFTER DELETE ON cell_indexes BEGIN
    DELETE FROM cell_index WHERE field_id = old.field_id;
END;
";

/// Records indexed per transaction while a new index is filled.
pub(crate) const BUILD_CHUNK: i64 = 1000;

/// Starts indexing `field`'s cells in `table` (nothing if it is already
/// indexed) and fills the first [`BUILD_CHUNK`] records in the caller's
/// transaction: a table of up to that many records is ready at once, a
/// larger one is finished by [`build_step`] after the caller commits.
pub(crate) fn index_cells(conn: &Connection, table: TableId, field: FieldId) -> Result<()> {
    let added = conn
        .prepare_cached(
            "INSERT INTO cell_indexes (field_id, table_id) VALUES (?1, ?2) \
             ON CONFLICT (field_id) DO NOTHING",
        )?
        .execute(params![field.as_str(), table.as_str()])?;
    if added == 1 {
        fill_chunk(conn, field.as_str(), table.as_str(), "")?;
    }
    Ok(())
}

/// Stops indexing `field` (its entries go with the `cell_indexes` row).
pub(crate) fn drop_cell_index(conn: &Connection, field: FieldId) -> Result<()> {
    conn.prepare_cached("DELETE FROM cell_indexes WHERE field_id = ?1")?
        .execute([field.as_str()])?;
    Ok(())
}

/// Indexes the next [`BUILD_CHUNK`] records of `table` (in id order) after
/// `after`, and marks the index ready once a chunk comes back short.
fn fill_chunk(conn: &Connection, field: &str, table: &str, after: &str) -> Result<()> {
    let last: Option<String> = conn
        .prepare_cached(
            "SELECT max(id) FROM (SELECT id FROM records WHERE table_id = ?1 AND id > ?2 \
             ORDER BY id LIMIT ?3)",
        )?
        .query_row(params![table, after, BUILD_CHUNK], |r| r.get(0))?;
    let Some(last) = last else {
        conn.prepare_cached("UPDATE cell_indexes SET ready = 1 WHERE field_id = ?1")?
            .execute([field])?;
        return Ok(());
    };
    // OR REPLACE: a record written since the build began already has its
    // entry from the triggers, with the same value.
    let n = conn
        .prepare_cached(
            "INSERT OR REPLACE INTO cell_index (rec, field_id, value) \
             SELECT rowid, ?1, json_extract(data, '$.' || ?1) FROM records \
             WHERE table_id = ?2 AND id > ?3 AND id <= ?4",
        )?
        .execute(params![field, table, after, last])?;
    let ready = i64::try_from(n).unwrap_or(i64::MAX) < BUILD_CHUNK;
    conn.prepare_cached("UPDATE cell_indexes SET built_to = ?2, ready = ?3 WHERE field_id = ?1")?
        .execute(params![field, last, ready])?;
    Ok(())
}

/// Whether some index is still being built.
pub(crate) fn building(conn: &Connection) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT count(*) > 0 FROM cell_indexes WHERE NOT ready")?
        .query_row([], |r| r.get(0))?)
}

/// One step of filling the indexes still being built: the next chunk of
/// the first one. Returns `false` when none is left.
pub(crate) fn build_step(conn: &Connection) -> Result<bool> {
    let pending: Option<(String, String, String)> = conn
        .prepare_cached(
            "SELECT field_id, table_id, built_to FROM cell_indexes WHERE NOT ready LIMIT 1",
        )?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    let Some((field, table, after)) = pending else {
        return Ok(false);
    };
    fill_chunk(conn, &field, &table, &after)?;
    Ok(true)
}

/// Migration 0009: creates [`SCHEMA`], moves every user table's records
/// out of its own `r_<table id>` table (schema versions 4 to 8) into
/// `records`, table by table, and drops the old tables with their indexes.
/// The indexed fields are listed (ready) before the records move, so the
/// insert trigger fills their side index as the rows arrive. Runs inside
/// the migration's transaction: a crash leaves either layout whole.
pub(crate) fn move_to_shared_records(conn: &Connection) -> Result<()> {
    conn.execute_batch(SCHEMA)?;
    conn.execute_batch(
        "INSERT INTO cell_indexes (field_id, table_id, ready) \
         SELECT id, table_id, 1 FROM fields WHERE indexed",
    )?;
    let tables: Vec<String> = conn
        .prepare("SELECT id FROM tables ORDER BY id")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for t in &tables {
        let old = crate::legacy_layout::rel(t)?;
        let exists: bool = conn.query_row(
            "SELECT count(*) > 0 FROM sqlite_schema WHERE type = 'table' AND name = ?1",
            [format!("r_{}", ddl_id(t)?)],
            |r| r.get(0),
        )?;
        if !exists {
            continue;
        }
        conn.execute(
            &format!(
                "INSERT INTO records (table_id, id, data, autonumber, created_by, updated_by, \
                 created_time, updated_time, deleted_time) \
                 SELECT ?1, id, data, autonumber, created_by, updated_by, created_time, \
                 updated_time, deleted_time FROM {old} ORDER BY id"
            ),
            [t],
        )?;
        conn.execute_batch(&format!("DROP TABLE {old}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
