//! Computed fields in PostgreSQL: [`ComputeTx`] over the open write
//! transaction, so `pybase_core::store::computed::recompute` runs inside
//! each record write (the algorithm is core's; this is its storage).
//!
//! A write to a base that has derived fields first takes the per-base
//! advisory lock of two-way links ([`prepare`], before any row lock), so
//! two writers of two inputs of one formula are ordered; the records a
//! recompute reads are locked `FOR UPDATE` in id order.

use pybase_core::ids::{FieldId, RecordId, TableId};
use pybase_core::model::{Field, Record, Timestamp};
use pybase_core::store::NewChange;
use pybase_core::store::computed::{ComputeTx, Recomputed, any_derived, merge_events, recompute};
use pybase_core::{StoreError, StoreResult};
use serde_json::Value;
use sqlx::PgConnection;

use crate::error::ResultExt;
use crate::layout::on;
use crate::nul::encoded;
use crate::rows::{self, FIELD_COLUMNS};

/// The open transaction seen as a [`ComputeTx`].
struct Tx<'a>(&'a mut PgConnection);

/// Every field of the tables of `table`'s base.
async fn base_fields(conn: &mut PgConnection, table: TableId) -> StoreResult<Vec<Field>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {FIELD_COLUMNS} FROM fields WHERE table_id IN \
         (SELECT id FROM tables WHERE base_id = (SELECT base_id FROM tables WHERE id = $1)) \
         ORDER BY table_id, position, id"
    )))
    .bind(table.as_str())
    .fetch_all(&mut *conn)
    .await
    .db()?;
    rows.iter().map(rows::field).collect::<Result<_, _>>().db()
}

impl ComputeTx for Tx<'_> {
    async fn base_fields(&mut self, table: TableId) -> StoreResult<Vec<Field>> {
        base_fields(self.0, table).await
    }

    async fn read(&mut self, table: TableId, ids: &[RecordId]) -> StoreResult<Vec<Record>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let texts: Vec<&str> = ids.iter().map(RecordId::as_str).collect();
        let found = sqlx::query(on(
            table,
            "SELECT {} FROM {records} WHERE id = ANY($1) AND deleted_time IS NULL \
             ORDER BY id COLLATE \"C\" FOR UPDATE",
        )?)
        .bind(texts)
        .fetch_all(&mut *self.0)
        .await
        .db()?;
        found
            .iter()
            .map(rows::record)
            .collect::<Result<_, _>>()
            .db()
    }

    async fn linking_to(
        &mut self,
        table: TableId,
        field: FieldId,
        targets: &[RecordId],
    ) -> StoreResult<Vec<RecordId>> {
        let targets: Vec<&str> = targets.iter().map(RecordId::as_str).collect();
        let rows: Vec<(String,)> = sqlx::query_as(on(
            table,
            "SELECT DISTINCT r.id FROM UNNEST($2::text[]) AS t(id) \
             JOIN LATERAL (SELECT id FROM {records} \
             WHERE data @> jsonb_build_object($1::text, jsonb_build_array(t.id))) r ON true",
        )?)
        .bind(field.as_str())
        .bind(&targets)
        .fetch_all(&mut *self.0)
        .await
        .db()?;
        rows.into_iter()
            .map(|(s,)| {
                RecordId::parse(&s).map_err(|e| StoreError::backend(crate::error::BACKEND, e))
            })
            .collect()
    }

    async fn write(
        &mut self,
        table: TableId,
        cells: &[(RecordId, FieldId, Option<Value>)],
    ) -> StoreResult<()> {
        // One statement per table: per record, the cells to set and to drop.
        let mut set: std::collections::BTreeMap<&str, serde_json::Map<String, Value>> =
            Default::default();
        let mut unset: std::collections::BTreeMap<&str, Vec<String>> = Default::default();
        for (record, field, cell) in cells {
            set.entry(record.as_str()).or_default();
            unset.entry(record.as_str()).or_default();
            match cell {
                Some(v) => {
                    set.entry(record.as_str())
                        .or_default()
                        .insert(field.to_string(), encoded(v));
                }
                None => unset
                    .entry(record.as_str())
                    .or_default()
                    .push(field.to_string()),
            }
        }
        let ids: Vec<&str> = set.keys().copied().collect();
        let sets: Vec<Value> = set.into_values().map(Value::Object).collect();
        let unsets: Vec<Value> = unset
            .into_values()
            .map(|v| Value::Array(v.into_iter().map(Value::String).collect()))
            .collect();
        // `r.id = ANY(..)` beside the join lets the planner find the rows by
        // key rather than hash the whole records table (see `changes.rs`).
        sqlx::query(on(
            table,
            "UPDATE {records} r SET data = (r.data || c.s) - \
             ARRAY(SELECT jsonb_array_elements_text(c.u)) \
             FROM UNNEST($1::text[], $2::jsonb[], $3::jsonb[]) AS c(id, s, u) \
             WHERE r.id = c.id AND r.id = ANY($1::text[])",
        )?)
        .bind(ids)
        .bind(sets)
        .bind(unsets)
        .execute(&mut *self.0)
        .await
        .db()?;
        Ok(())
    }

    async fn primary_fields(
        &mut self,
        table: TableId,
    ) -> StoreResult<std::collections::HashMap<TableId, FieldId>> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT id, primary_field_id FROM tables WHERE primary_field_id IS NOT NULL \
             AND base_id = (SELECT base_id FROM tables WHERE id = $1)",
        )
        .bind(table.as_str())
        .fetch_all(&mut *self.0)
        .await
        .db()?;
        Ok(rows
            .iter()
            .filter_map(|(t, f)| Some((TableId::parse(t).ok()?, FieldId::parse(f).ok()?)))
            .collect())
    }

    async fn queue_fill(&mut self, table: TableId, fields: &[FieldId]) -> StoreResult<()> {
        crate::fills::queue(
            self.0,
            table,
            fields,
            pybase_core::store::computed::FillQueue::Again,
            chrono::Utc::now(),
        )
        .await
    }
}

/// Hands the derived events `derived` ([`after_write`]'s) to `log`, the
/// write's own events and its partner cells' (one event per record).
pub(crate) fn merged(mut log: Vec<NewChange>, derived: Vec<NewChange>) -> Vec<NewChange> {
    merge_events(&mut log, derived);
    log
}

/// Before a write to `table`: whether its base has derived fields; if so,
/// takes the base's advisory lock (before any row lock of the write).
/// Reads only the base's derived fields: the derived fields are read once
/// (a materialised CTE, through the partial index `fields_derived` when
/// the planner has statistics) and only then matched to the base's
/// tables, so a write's cost does not grow with the number of tables in
/// its base. (A plain join let a planner without statistics on `fields`
/// scan all fields once per table of the base: 230 ms per insert at 500
/// tables, seen with `auto_explain`.)
pub(crate) async fn prepare(conn: &mut PgConnection, table: TableId) -> StoreResult<bool> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "WITH d AS MATERIALIZED (SELECT * FROM fields \
         WHERE type IN ('formula', 'lookup', 'rollup', 'count')), \
         b AS MATERIALIZED (SELECT id FROM tables \
         WHERE base_id = (SELECT base_id FROM tables WHERE id = $1)) \
         SELECT {FIELD_COLUMNS} FROM d WHERE d.table_id IN (SELECT id FROM b)"
    )))
    .bind(table.as_str())
    .fetch_all(&mut *conn)
    .await
    .db()?;
    let derived = rows
        .iter()
        .map(rows::field)
        .collect::<Result<Vec<_>, _>>()
        .db()?;
    let any = any_derived(&derived);
    if any {
        crate::links::lock_base(conn, table).await?;
    }
    Ok(any)
}

/// After a write (when [`prepare`] answered true): recomputes what the
/// write of `ids` in `table` and the partner cells `partners` changed, and
/// hands the changed cells to `log`, one event per record: merged into the
/// event `log` already holds for that record, else appended
/// ([`merge_events`]; callers merge a separate `log` into theirs the same
/// way, so a write logs one event per record).
pub(crate) async fn after_write(
    conn: &mut PgConnection,
    table: TableId,
    ids: Vec<RecordId>,
    partners: &[NewChange],
    now: Timestamp,
    log: &mut Vec<NewChange>,
) -> StoreResult<Recomputed> {
    let mut seeds = vec![(table, ids)];
    for p in partners {
        if let Some(r) = p.record_id {
            seeds.push((p.table_id, vec![r]));
        }
    }
    let mut done = recompute(&mut Tx(conn), &seeds, now).await?;
    done.merge_into(log);
    Ok(done)
}

/// Recomputes a chunk of `table`'s live records (the first `limit` after
/// `after` in id order); answers the last id, `None` when none was left.
pub(crate) async fn chunk(
    conn: &mut PgConnection,
    table: TableId,
    after: Option<RecordId>,
    limit: usize,
    now: Timestamp,
    log: &mut Vec<NewChange>,
) -> StoreResult<Option<RecordId>> {
    let rows: Vec<(String,)> = sqlx::query_as(on(
        table,
        "SELECT id FROM {records} WHERE deleted_time IS NULL AND id COLLATE \"C\" > $1 \
         ORDER BY id COLLATE \"C\" LIMIT $2",
    )?)
    .bind(after.as_ref().map_or("", RecordId::as_str))
    .bind(i64::try_from(limit).unwrap_or(i64::MAX))
    .fetch_all(&mut *conn)
    .await
    .db()?;
    let ids: Vec<RecordId> = rows
        .into_iter()
        .map(|(s,)| RecordId::parse(&s).map_err(|e| StoreError::backend(crate::error::BACKEND, e)))
        .collect::<Result<_, _>>()?;
    let Some(last) = ids.last().copied() else {
        return Ok(None);
    };
    if prepare(conn, table).await? {
        after_write(conn, table, ids, &[], now, log).await?;
    }
    Ok(Some(last))
}
