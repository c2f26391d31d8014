//! The previous layout, one SQLite table `r_<table id>` per user table
//! with an expression index per indexed field (schema versions 4 to 8),
//! kept only for the migrations that built it and moved out of it:
//! migrations run in order on old databases, so the steps of 0004 and
//! 0006 must still find what they wrote. Current code reads and writes
//! [`crate::layout`]'s shared tables.
//!
//! DDL takes no parameters, so table and field ids are spliced into it;
//! [`ddl_id`] checks each one again (17 base62 characters) before it is.

use pybase_core::ids::{FieldId, TableId};
use rusqlite::{Connection, OptionalExtension};

use crate::error::Result;
use crate::layout::ddl_id;

/// The quoted name of the table holding `table`'s records.
pub(crate) fn rel(table: &str) -> Result<String> {
    Ok(format!("\"r_{}\"", ddl_id(table)?))
}

/// Creates the records table of `table` (empty) with its live-rows index.
pub(crate) fn create_records_table(conn: &Connection, table: &str) -> Result<()> {
    let t = ddl_id(table)?;
    conn.execute_batch(&format!(
        "CREATE TABLE \"r_{t}\" (
            id           TEXT PRIMARY KEY NOT NULL,
            data         BLOB NOT NULL,
            autonumber   INTEGER NOT NULL,
            created_by   TEXT,
            updated_by   TEXT,
            created_time TEXT NOT NULL,
            updated_time TEXT NOT NULL,
            deleted_time TEXT
        );
        CREATE INDEX \"r_{t}_live\" ON \"r_{t}\" (id) WHERE deleted_time IS NULL;"
    ))?;
    Ok(())
}

/// The name (unquoted) of the expression index on a field's cells.
fn cell_index_name(field: &str) -> Result<String> {
    Ok(format!("cell_{}", ddl_id(field)?))
}

/// Creates the expression index on `field`'s cells in `table`'s records
/// (if missing) and refreshes that table's statistics.
pub(crate) fn create_cell_index(conn: &Connection, table: TableId, field: FieldId) -> Result<()> {
    let name = cell_index_name(field.as_str())?;
    let exists: bool = conn
        .prepare_cached(
            "SELECT count(*) > 0 FROM sqlite_schema WHERE type = 'index' AND name = ?1",
        )?
        .query_row([&name], |r| r.get(0))?;
    if exists {
        return Ok(());
    }
    let rel = rel(table.as_str())?;
    conn.execute_batch(&format!(
        "CREATE INDEX \"{name}\" ON {rel} (json_extract(data, '$.{field}'))"
    ))?;
    analyze(conn, table)
}

/// Rows sampled per index by [`analyze`]: bounds its cost on a large table
/// (SQLite's `analysis_limit`), so it can run on the request path.
const ANALYSIS_LIMIT: i64 = 1000;

/// Fresh planner statistics for `table`'s records only (sampled), so the
/// planner knows how selective its cell indexes are: with them it walks
/// the sort key's index for a sorted page instead of sorting half the
/// table. Other tables' statistics are untouched.
fn analyze(conn: &Connection, table: TableId) -> Result<()> {
    conn.pragma_update(None, "analysis_limit", ANALYSIS_LIMIT)?;
    conn.execute_batch(&format!("ANALYZE {}", rel(table.as_str())?))?;
    Ok(())
}

/// Migration step: moves every record out of the shared `records` table
/// of schema versions 1 to 3 into its table's own records table, creates
/// the cell indexes of indexed fields there, then drops `records` and its
/// partial indexes. Runs inside the migration's transaction, so a crash
/// leaves either layout whole.
pub(crate) fn split_shared_records(conn: &Connection) -> Result<()> {
    let shared: Option<String> = conn
        .query_row(
            "SELECT name FROM sqlite_schema WHERE type = 'table' AND name = 'records'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    let tables: Vec<String> = conn
        .prepare("SELECT id FROM tables ORDER BY id")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for t in &tables {
        create_records_table(conn, t)?;
        if shared.is_some() {
            conn.execute(
                &format!(
                    "INSERT INTO {} (id, data, autonumber, created_by, updated_by, \
                     created_time, updated_time, deleted_time) \
                     SELECT id, data, autonumber, created_by, updated_by, created_time, \
                     updated_time, deleted_time FROM records WHERE table_id = ?1",
                    rel(t)?
                ),
                [t],
            )?;
        }
    }
    if shared.is_some() {
        let old_indexes: Vec<String> = conn
            .prepare(
                "SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'records' \
                 AND sql IS NOT NULL",
            )?
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        for index in old_indexes {
            conn.execute_batch(&format!("DROP INDEX \"{}\"", index.replace('"', "\"\"")))?;
        }
        conn.execute_batch("DROP TABLE records")?;
    }
    let indexed: Vec<(TableId, FieldId)> = conn
        .prepare("SELECT table_id, id FROM fields WHERE indexed ORDER BY table_id, id")?
        .query_map([], |r| Ok((crate::rows::id(r, 0)?, crate::rows::id(r, 1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (table, field) in indexed {
        create_cell_index(conn, table, field)?;
    }
    Ok(())
}

/// Migration 0006: the reverse index of every link field's cells, read
/// from the per-table records tables of that schema version.
pub(crate) fn create_reverse_index(conn: &Connection) -> Result<()> {
    conn.execute_batch(
        "CREATE TABLE record_links (
            field_id  TEXT NOT NULL REFERENCES fields (id) ON DELETE CASCADE,
            target_id TEXT NOT NULL,
            source_id TEXT NOT NULL,
            PRIMARY KEY (field_id, target_id, source_id)
        ) WITHOUT ROWID;",
    )?;
    let fields: Vec<(String, String)> = conn
        .prepare("SELECT id, table_id FROM fields WHERE type = 'link'")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (field, table) in fields {
        conn.execute(
            &format!(
                "INSERT OR IGNORE INTO record_links (field_id, target_id, source_id) \
                 SELECT ?1, j.value, r.id FROM {} r, json_each(r.data, ?2) j \
                 WHERE j.type = 'text'",
                rel(&table)?
            ),
            rusqlite::params![field, format!("$.{}", ddl_id(&field)?)],
        )?;
    }
    Ok(())
}
