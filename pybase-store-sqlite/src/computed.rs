//! Computed fields in SQLite: [`ComputeTx`] over the writer's open
//! transaction, so `pybase_core::store::computed::recompute` runs inside
//! each record write (the algorithm is core's; this is its storage).

use pybase_core::error::StoreError;
use pybase_core::ids::{FieldId, RecordId, TableId};
use pybase_core::model::{Field, Record, Timestamp};
use pybase_core::store::computed::{ComputeTx, Recomputed, recompute};
use std::collections::HashMap;
use std::future::Future;

use rusqlite::{Connection, params};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::layout::{record_columns, write_cell};
use crate::rows::{id, id_list, record};
use crate::schema::{FIELD_COLUMNS, field};

/// One record's derived cells to write (`None`: remove the cell).
type RecordCells<'a> = Vec<(FieldId, Option<&'a Value>)>;

/// The writer's transaction seen as a [`ComputeTx`].
struct Tx<'a>(&'a Connection);

fn store(e: Error) -> StoreError {
    StoreError::from(e)
}

impl Tx<'_> {
    fn base_fields_now(&self, table: TableId) -> Result<Vec<Field>> {
        let mut stmt = self.0.prepare_cached(&format!(
            "SELECT {FIELD_COLUMNS} FROM fields WHERE table_id IN \
             (SELECT id FROM tables WHERE base_id = (SELECT base_id FROM tables WHERE id = ?1)) \
             ORDER BY table_id, position, id"
        ))?;
        let rows = stmt.query_map([table.as_str()], field)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    fn read_now(&self, table: TableId, ids: &[RecordId]) -> Result<Vec<Record>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut stmt = self.0.prepare_cached(concat!(
            "SELECT ",
            record_columns!(),
            " FROM records WHERE table_id = ?2 AND id IN (SELECT value FROM json_each(?1)) \
             AND deleted_time IS NULL ORDER BY id"
        ))?;
        let rows = stmt.query_map(params![id_list(ids), table.as_str()], record)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    fn primary_fields_now(&self, table: TableId) -> Result<HashMap<TableId, FieldId>> {
        let mut stmt = self.0.prepare_cached(
            "SELECT id, primary_field_id FROM tables WHERE primary_field_id IS NOT NULL \
             AND base_id = (SELECT base_id FROM tables WHERE id = ?1)",
        )?;
        let rows = stmt.query_map([table.as_str()], |r| Ok((id(r, 0)?, id(r, 1)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn linking_now(&self, field: FieldId, targets: &[RecordId]) -> Result<Vec<RecordId>> {
        let mut stmt = self.0.prepare_cached(
            "SELECT DISTINCT source_id FROM record_links WHERE field_id = ?1 \
             AND target_id IN (SELECT value FROM json_each(?2)) ORDER BY source_id",
        )?;
        let rows = stmt.query_map(params![field.as_str(), id_list(targets)], |r| id(r, 0))?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// Writes derived cells: per record, a merge patch of its changed
    /// cells (`null` removing one); records with the same patch (a lookup
    /// of one record by many: they all get the same value) are written by
    /// one statement over the list of their ids (`id IN (SELECT value FROM
    /// json_each(?1))`, each id one seek of the table's unique key), the
    /// others one statement each. A cell whose value is an object is
    /// written in place, one statement per cell (a merge patch would merge
    /// into it rather than replace it). A single statement for all records
    /// with their own patches (`UPDATE ... FROM json_each`) was measured
    /// and refused: SQLite scans the table's records as the outer loop and
    /// the list for each, quadratic in the records touched.
    fn write_now(
        &self,
        table: TableId,
        cells: &[(RecordId, FieldId, Option<Value>)],
    ) -> Result<()> {
        if cells.is_empty() {
            return Ok(());
        }
        // Per record (in order of first appearance), its cells.
        let mut at: HashMap<RecordId, usize> = HashMap::new();
        let mut records: Vec<(RecordId, RecordCells<'_>)> = Vec::new();
        for (record, field, cell) in cells {
            let i = *at.entry(*record).or_insert_with(|| {
                records.push((*record, Vec::new()));
                records.len() - 1
            });
            records[i].1.push((*field, cell.as_ref()));
        }
        // Per distinct patch (in order of first appearance), its records.
        let mut patch_at: HashMap<String, usize> = HashMap::new();
        let mut patches: Vec<(String, Vec<RecordId>)> = Vec::new();
        for (record, record_cells) in &records {
            if record_cells
                .iter()
                .any(|(_, c)| matches!(c, Some(Value::Object(_))))
            {
                for (field, cell) in record_cells {
                    let json = cell.map(Value::to_string);
                    write_cell(
                        self.0,
                        table.as_str(),
                        record.as_str(),
                        field.as_str(),
                        json.as_deref(),
                    )?;
                }
                continue;
            }
            let patch: serde_json::Map<String, Value> = record_cells
                .iter()
                .map(|(f, c)| (f.to_string(), c.cloned().unwrap_or(Value::Null)))
                .collect();
            let text = Value::Object(patch).to_string();
            match patch_at.get(&text) {
                Some(&i) => patches[i].1.push(*record),
                None => {
                    patch_at.insert(text.clone(), patches.len());
                    patches.push((text, vec![*record]));
                }
            }
        }
        for (patch, ids) in patches {
            if let [one] = ids.as_slice() {
                self.0
                    .prepare_cached(
                        "UPDATE records SET data = jsonb_patch(data, ?2) \
                         WHERE table_id = ?3 AND id = ?1",
                    )?
                    .execute(params![one.as_str(), patch, table.as_str()])?;
            } else {
                self.0
                    .prepare_cached(
                        "UPDATE records SET data = jsonb_patch(data, ?2) WHERE table_id = ?3 \
                         AND id IN (SELECT value FROM json_each(?1))",
                    )?
                    .execute(params![id_list(&ids), patch, table.as_str()])?;
            }
        }
        Ok(())
    }
}

impl ComputeTx for Tx<'_> {
    async fn base_fields(&mut self, table: TableId) -> std::result::Result<Vec<Field>, StoreError> {
        self.base_fields_now(table).map_err(store)
    }

    async fn read(
        &mut self,
        table: TableId,
        ids: &[RecordId],
    ) -> std::result::Result<Vec<Record>, StoreError> {
        self.read_now(table, ids).map_err(store)
    }

    async fn linking_to(
        &mut self,
        _table: TableId,
        field: FieldId,
        targets: &[RecordId],
    ) -> std::result::Result<Vec<RecordId>, StoreError> {
        self.linking_now(field, targets).map_err(store)
    }

    async fn write(
        &mut self,
        table: TableId,
        cells: &[(RecordId, FieldId, Option<Value>)],
    ) -> std::result::Result<(), StoreError> {
        self.write_now(table, cells).map_err(store)
    }

    async fn primary_fields(
        &mut self,
        table: TableId,
    ) -> std::result::Result<HashMap<TableId, FieldId>, StoreError> {
        self.primary_fields_now(table).map_err(store)
    }

    async fn queue_fill(
        &mut self,
        table: TableId,
        fields: &[FieldId],
    ) -> std::result::Result<(), StoreError> {
        crate::fills::queue(
            self.0,
            table,
            fields,
            pybase_core::store::computed::FillQueue::Again,
            &chrono::Utc::now(),
        )
        .map_err(store)
    }
}

/// The derived field types' names (core's `FieldType::derived`), as the
/// partial index `fields_derived` (crate::layout) lists them.
const DERIVED_TYPES: &str = "('formula', 'lookup', 'rollup', 'count')";

/// Whether `table`'s base has any derived field. Read from the partial
/// index of derived fields (every base's, usually few) rather than all
/// fields of the base: without it each record write read and parsed every
/// field of its base, which grows with the number of tables (a base of
/// 10,000 tables has 60,000 fields). `recompute` has nothing to do
/// without one.
fn base_has_derived(conn: &Connection, table: TableId) -> Result<bool> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT EXISTS (SELECT 1 FROM fields AS f CROSS JOIN tables AS t \
             WHERE f.type IN {DERIVED_TYPES} AND t.id = f.table_id \
             AND t.base_id = (SELECT base_id FROM tables WHERE id = ?1))"
        ))?
        .query_row([table.as_str()], |r| r.get(0))?)
}

/// Recomputes, inside the open write transaction `conn`, the derived
/// cells of the records `seeds` and of everything that depends on them
/// (every [`ComputeTx`] call above completes at once, so the future is
/// driven to its end on this thread).
pub(crate) fn run(
    conn: &Connection,
    seeds: &[(TableId, Vec<RecordId>)],
    now: Timestamp,
) -> Result<Recomputed> {
    let Some((first, _)) = seeds.first() else {
        return Ok(Recomputed::default());
    };
    if !base_has_derived(conn, *first)? {
        return Ok(Recomputed::default());
    }
    let mut tx = Tx(conn);
    let work = std::pin::pin!(recompute(&mut tx, seeds, now));
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match work.poll(&mut cx) {
        std::task::Poll::Ready(out) => out.map_err(Error::Store),
        // Every call above answers at once; a pending future is a bug.
        std::task::Poll::Pending => Err(Error::Store(StoreError::Invalid {
            field: "computed fields".into(),
            expected: "a recompute that completes without waiting".into(),
        })),
    }
}

/// The seeds of a write of `ids` in `table` plus the partner records whose
/// inverse cells `partners` changed.
pub(crate) fn seeds(
    table: TableId,
    ids: Vec<RecordId>,
    partners: &[pybase_core::store::NewChange],
) -> Vec<(TableId, Vec<RecordId>)> {
    let mut out = vec![(table, ids)];
    for p in partners {
        if let Some(r) = p.record_id {
            out.push((p.table_id, vec![r]));
        }
    }
    out
}

/// Recomputes one chunk of `table`'s live records, the first `limit` after
/// `after` in id order; answers the last id of the chunk (`None`: no
/// records left).
pub(crate) fn chunk(
    conn: &Connection,
    table: TableId,
    after: Option<RecordId>,
    limit: usize,
    now: Timestamp,
) -> Result<(Option<RecordId>, Recomputed)> {
    let mut stmt = conn.prepare_cached(
        "SELECT id FROM records WHERE table_id = ?3 AND deleted_time IS NULL AND id > ?1 \
         ORDER BY id LIMIT ?2",
    )?;
    let ids: Vec<RecordId> = stmt
        .query_map(
            params![
                after.as_ref().map_or("", RecordId::as_str),
                limit as i64,
                table.as_str()
            ],
            |r| id(r, 0),
        )?
        .collect::<rusqlite::Result<_>>()?;
    let last = ids.last().copied();
    if ids.is_empty() {
        return Ok((None, Recomputed::default()));
    }
    let done = run(conn, &[(table, ids)], now)?;
    Ok((last, done))
}

/// The hook every record write calls before logging: recomputes what the
/// write of `ids` in `table` (and the partner cells in `partners`) changed.
/// Its events (one per record, in [`Recomputed::changes`]) go to the log
/// through [`to_log`], once the write's own events are all in it.
pub(crate) fn after_write(
    conn: &Connection,
    table: TableId,
    ids: Vec<RecordId>,
    partners: &[pybase_core::store::NewChange],
    now: Timestamp,
) -> Result<Recomputed> {
    run(conn, &seeds(table, ids, partners), now)
}

/// Hands the derived events of `done` to `log`, the write's own events
/// (its records' and its partner cells'): an event of a record `log`
/// already holds gets the derived cells merged into it, the others are
/// appended, so a write logs one event per record (issue 14).
pub(crate) fn to_log(log: &mut Vec<crate::changes::Entry>, done: &mut Recomputed) -> Result<()> {
    let derived = std::mem::take(&mut done.changes);
    if derived.is_empty() {
        return Ok(());
    }
    let mut own: std::collections::HashMap<(TableId, RecordId), usize> =
        std::collections::HashMap::new();
    for (i, e) in log.iter().enumerate() {
        if let Some(key) = e.record_key() {
            own.entry(key).or_insert(i);
        }
    }
    for event in derived {
        let Some(record) = event.record_id else {
            continue;
        };
        match own.get(&(event.table_id, record)) {
            Some(&at) => log[at].merge(event)?,
            None => {
                own.insert((event.table_id, record), log.len());
                log.push(crate::changes::Entry::from(event));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records sharing a patch are written by one statement that seeks
    /// each listed id in the table's unique key (not a scan of the table
    /// per id, nor of the list per record).
    #[test]
    fn a_shared_patch_is_one_indexed_statement() {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::migrate::migrate(&mut conn, crate::migrate::MIGRATIONS).unwrap();
        let plan: Vec<String> = conn
            .prepare(
                "EXPLAIN QUERY PLAN UPDATE records SET data = jsonb_patch(data, ?2) \
                 WHERE table_id = ?3 AND id IN (SELECT value FROM json_each(?1))",
            )
            .unwrap()
            .query_map(["[]", "{}", "tblAAAAAAAAAAAAAA"], |r| r.get(3))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let plan = plan.join("; ");
        assert!(
            plan.contains("SEARCH records USING") && plan.contains("(table_id=? AND id=?)"),
            "{plan}"
        );
        assert!(!plan.contains("SCAN records"), "{plan}");
    }

    /// The check reads the partial index of derived fields, never the
    /// fields of the base; its type list matches the index's exactly.
    #[test]
    fn the_derived_fields_check_reads_the_partial_index() {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::migrate::migrate(&mut conn, crate::migrate::MIGRATIONS).unwrap();
        let index: String = conn
            .query_row(
                "SELECT sql FROM sqlite_schema WHERE name = 'fields_derived'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert!(
            index.ends_with(&format!("WHERE type IN {DERIVED_TYPES}")),
            "{index}"
        );
        for name in ["formula", "lookup", "rollup", "count"] {
            assert!(DERIVED_TYPES.contains(&format!("'{name}'")));
        }
        let plan: Vec<String> = conn
            .prepare(&format!(
                "EXPLAIN QUERY PLAN SELECT EXISTS (SELECT 1 FROM fields AS f CROSS JOIN \
                 tables AS t WHERE f.type IN {DERIVED_TYPES} AND t.id = f.table_id \
                 AND t.base_id = (SELECT base_id FROM tables WHERE id = ?1))"
            ))
            .unwrap()
            .query_map(["tblAAAAAAAAAAAAAA"], |r| r.get(3))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let plan = plan.join("; ");
        assert!(plan.contains("SCAN f USING INDEX fields_derived"), "{plan}");
        assert!(!base_has_derived(&conn, TableId::new()).unwrap());
    }
}
