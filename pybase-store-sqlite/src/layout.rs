//! The physical layout of records: one SQLite table per user table.
//!
//! Each user table `tbl…` keeps its records in its own table `r_tbl…`
//! with its own primary key, live-rows index and one expression index per
//! indexed field. An operation on one table therefore opens, checks and
//! plans over that table's indexes only, whatever the number of tables in
//! the database (see `benches/ANALYSIS.md`, "Choosing the storage layout":
//! with one shared `records` table every insert paid for every indexed
//! field of every table).
//!
//! DDL takes no parameters, so table and field ids are spliced into it;
//! [`ddl_id`] checks each one again (17 base62 characters) before it is.

use pybase_core::ids::{FieldId, ID_LEN, TableId};
use rusqlite::{Connection, OptionalExtension};

use crate::error::{Error, Result};

/// `id` once more checked to be a typed id (base62, [`ID_LEN`] characters),
/// which cannot carry quotes or SQL.
pub(crate) fn ddl_id(id: &str) -> Result<&str> {
    if id.len() == ID_LEN && id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Ok(id)
    } else {
        Err(Error::corrupt("id", id.to_owned()))
    }
}

/// The quoted name of the table holding `table`'s records.
pub(crate) fn rel(table: &str) -> Result<String> {
    Ok(format!("\"r_{}\"", ddl_id(table)?))
}

/// The columns [`crate::rows::record`] reads, in order, from `table`'s
/// records (the table id is not stored per row: it is the relation's).
pub(crate) fn record_columns(table: &str) -> Result<String> {
    Ok(format!(
        "id, '{}', json(data), autonumber, created_by, updated_by, created_time, \
         updated_time, deleted_time",
        ddl_id(table)?
    ))
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

/// Drops the records table of `table` (and with it its indexes).
pub(crate) fn drop_records_table(conn: &Connection, table: &str) -> Result<()> {
    conn.execute_batch(&format!("DROP TABLE IF EXISTS {}", rel(table)?))?;
    Ok(())
}

/// Drops the records tables of the user tables `select` returns (one
/// column of table ids, one parameter `key`): before deleting a base or a
/// workspace, whose `tables` rows go by cascade.
pub(crate) fn drop_records_tables(conn: &Connection, select: &str, key: &str) -> Result<()> {
    let tables: Vec<String> = conn
        .prepare_cached(select)?
        .query_map([key], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for t in tables {
        drop_records_table(conn, &t)?;
    }
    Ok(())
}

/// The JSON path of a field's cell in `data`.
pub(crate) fn cell_path(field: &str) -> String {
    format!("$.{field}")
}

/// The name (unquoted) of the expression index on a field's cells.
fn cell_index_name(field: &str) -> Result<String> {
    Ok(format!("cell_{}", ddl_id(field)?))
}

/// Creates the expression index on `field`'s cells in `table`'s records
/// (if missing) and refreshes that table's statistics. Queries repeat the
/// indexed expression literally (see [`crate::sql::Sql::path`]).
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
        "CREATE INDEX \"{name}\" ON {rel} (json_extract(data, '{}'))",
        cell_path(field.as_str())
    ))?;
    analyze(conn, table)
}

/// Drops the index on `field`'s cells, if there is one.
pub(crate) fn drop_cell_index(conn: &Connection, field: FieldId) -> Result<()> {
    conn.execute_batch(&format!(
        "DROP INDEX IF EXISTS \"{}\"",
        cell_index_name(field.as_str())?
    ))?;
    Ok(())
}

/// Rows sampled per index by [`analyze`]: bounds its cost on a large table
/// (SQLite's `analysis_limit`), so it can run on the request path.
const ANALYSIS_LIMIT: i64 = 1000;

/// Fresh planner statistics for `table`'s records only (sampled), so the
/// planner knows how selective its cell indexes are: with them it walks
/// the sort key's index for a sorted page instead of sorting half the
/// table. Other tables' statistics are untouched.
pub(crate) fn analyze(conn: &Connection, table: TableId) -> Result<()> {
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

#[cfg(test)]
mod tests {
    use pybase_core::fields::ValueKind;
    use pybase_core::ids::{FieldId, RecordId, TableId};
    use pybase_core::query::{Condition, Filter, Op, Operand, RecordQuery, Target};
    use pybase_core::store::{NewRecord, RecordsStore as _};
    use rusqlite::Connection;
    use serde_json::json;

    use crate::SqliteStore;
    use crate::migrate::{MIGRATIONS, migrate, version};

    const T: &str = "2026-01-01T00:00:00.000Z";

    /// A database written by the shared-`records` layout (schema version
    /// 3), with an indexed field, live and soft-deleted records in two
    /// tables and the old partial cell index: opening it moves every
    /// record to its table's own records table, keeps ids, cells,
    /// autonumbers and deletions, rebuilds the cell index there and drops
    /// `records`.
    #[tokio::test]
    async fn a_shared_records_database_is_moved_to_one_table_per_user_table() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        let (t1, t2) = (TableId::new(), TableId::new());
        let (code, note) = (FieldId::new(), FieldId::new());
        let ids: Vec<RecordId> = (0..5).map(|_| RecordId::new()).collect();
        {
            let mut conn = Connection::open(&path).unwrap();
            migrate(&mut conn, &MIGRATIONS[..3]).unwrap();
            assert_eq!(version(&conn).unwrap(), 3);
            conn.execute_batch(&format!(
                "INSERT INTO workspaces VALUES ('wspAAAAAAAAAAAAAA', 'W', 'w', NULL, '{T}', '{T}');
                 INSERT INTO bases VALUES ('basAAAAAAAAAAAAAA', 'wspAAAAAAAAAAAAAA', 'B', NULL, '{T}', '{T}');
                 INSERT INTO tables (id, base_id, workspace_id, name, position, last_autonumber,
                    created_at, updated_at)
                 VALUES ('{t1}', 'basAAAAAAAAAAAAAA', 'wspAAAAAAAAAAAAAA', 'One', 0, 4, '{T}', '{T}'),
                        ('{t2}', 'basAAAAAAAAAAAAAA', 'wspAAAAAAAAAAAAAA', 'Two', 1, 1, '{T}', '{T}');
                 INSERT INTO fields (id, table_id, name, type, options, position, indexed,
                    created_at, updated_at)
                 VALUES ('{code}', '{t1}', 'Code', 'text', '{{}}', 0, 1, '{T}', '{T}'),
                        ('{note}', '{t2}', 'Note', 'text', '{{}}', 0, 0, '{T}', '{T}');
                 CREATE INDEX \"cell_{code}\" ON records (json_extract(data, '$.{code}'))
                    WHERE table_id = '{t1}';"
            ))
            .unwrap();
            for (i, id) in ids.iter().enumerate() {
                let (table, field) = if i < 4 { (t1, code) } else { (t2, note) };
                let deleted = (i == 2).then_some(T);
                conn.execute(
                    "INSERT INTO records (id, table_id, data, autonumber, created_by, updated_by,
                        created_time, updated_time, deleted_time)
                     VALUES (?1, ?2, jsonb(?3), ?4, NULL, NULL, ?5, ?5, ?6)",
                    rusqlite::params![
                        id.as_str(),
                        table.as_str(),
                        json!({ field.as_str(): format!("v{i}") }).to_string(),
                        i as i64 % 4 + 1,
                        T,
                        deleted
                    ],
                )
                .unwrap();
            }
        }

        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(store.schema_version().await.unwrap(), 6);
        let r = store.get_record(t1, ids[1], false).await.unwrap();
        assert_eq!(r.cells[code.as_str()], json!("v1"));
        assert_eq!((r.table_id, r.autonumber), (t1, 2));
        assert!(store.get_record(t1, ids[2], false).await.is_err());
        let deleted = store.get_record(t1, ids[2], true).await.unwrap();
        assert!(deleted.deleted_time.is_some());
        // Records stay in their own table.
        assert!(store.get_record(t2, ids[1], true).await.is_err());
        assert_eq!(
            store.get_record(t2, ids[4], false).await.unwrap().cells[note.as_str()],
            json!("v4")
        );
        let query = RecordQuery {
            table_id: t1,
            filter: Some(Filter::Cond(Condition {
                target: Target::Cell {
                    field: code,
                    kind: ValueKind::Text,
                },
                op: Op::Eq,
                operand: Operand::Text("v3".into()),
            })),
            sort: Vec::new(),
            after: None,
            limit: 10,
            include_deleted: false,
        };
        let page = store.query_records(&query).await.unwrap();
        assert_eq!(
            page.records.iter().map(|r| r.id).collect::<Vec<_>>(),
            [ids[3]]
        );
        let plan = store.explain(&query).await.unwrap().join("; ");
        assert!(plan.contains(&format!("cell_{code}")), "{plan}");
        // New records continue the table's numbering.
        let created = store
            .create_records(
                t1,
                &[NewRecord {
                    id: RecordId::new(),
                    cells: Default::default(),
                    created_by: None,
                    created_time: chrono::Utc::now(),
                }],
            )
            .await
            .unwrap();
        assert_eq!(created[0].autonumber, 5);
        drop(store);

        let conn = Connection::open(&path).unwrap();
        let shared: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_schema WHERE tbl_name = 'records'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(shared, 0, "records and its indexes are gone");
        let integrity: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(integrity, "ok");
    }
}
