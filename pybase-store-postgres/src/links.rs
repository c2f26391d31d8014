//! Two-way links in PostgreSQL: the partner cells kept in step inside the
//! writing transaction (the rules are `pybase_core::store::links`). Partner
//! rows are locked in id order before they are read and rewritten.

use std::collections::HashMap;

use pybase_core::ids::{FieldId, RecordId, TableId};
use pybase_core::model::Record;
use pybase_core::store::links::{
    LinkPair, apply_edits, holders_to_check, link_ids, pair_edits, without_target,
};
use pybase_core::store::{NewChange, RecordPatch};
use pybase_core::{StoreError, StoreResult};
use serde_json::Value;
use sqlx::{AssertSqlSafe, PgConnection, Row as _};

use crate::error::ResultExt;

use crate::layout::on;
pub(crate) use pybase_core::store::links::may_touch_pairs;

fn parse<T: std::str::FromStr<Err = pybase_core::ids::IdParseError>>(s: &str) -> StoreResult<T> {
    s.parse()
        .map_err(|e| StoreError::backend(crate::error::BACKEND, e))
}

/// The link fields of `table` that have a partner field.
pub(crate) async fn pairs(conn: &mut PgConnection, table: TableId) -> StoreResult<Vec<LinkPair>> {
    let rows = sqlx::query(
        "SELECT f.id AS field, p.id AS partner, p.table_id AS partner_table, p.name AS name, \
         COALESCE((p.options ->> 'allow_multiple')::bool, true) AS multiple \
         FROM fields f JOIN fields p ON p.id = f.options ->> 'inverse_field_id' \
         WHERE f.table_id = $1 AND f.type = 'link'",
    )
    .bind(table.as_str())
    .fetch_all(&mut *conn)
    .await
    .db()?;
    rows.iter()
        .map(|r| {
            Ok(LinkPair {
                field: parse(r.try_get::<&str, _>("field").db()?)?,
                partner: parse(r.try_get::<&str, _>("partner").db()?)?,
                partner_table: parse(r.try_get::<&str, _>("partner_table").db()?)?,
                partner_name: r.try_get("name").db()?,
                partner_single: !r.try_get::<bool, _>("multiple").db()?,
            })
        })
        .collect()
}

/// Serialises the writes of `table`'s base that keep pairs in step, until
/// the transaction ends. Such a write locks rows of two tables (the written
/// records, then the linked ones), so two of them going opposite ways
/// through a pair would deadlock; taken before any record row is locked,
/// this lock orders them instead. Writes that touch no pair never take it.
pub(crate) async fn lock_base(conn: &mut PgConnection, table: TableId) -> StoreResult<()> {
    sqlx::query(
        "SELECT pg_advisory_xact_lock(hashtextextended('pybase-links:' || base_id, 0)) \
         FROM tables WHERE id = $1",
    )
    .bind(table.as_str())
    .execute(&mut *conn)
    .await
    .db()?;
    Ok(())
}

/// The pairs whose cells `patches` may change.
pub(crate) fn touched<'a>(pairs: &'a [LinkPair], patches: &[RecordPatch]) -> Vec<&'a LinkPair> {
    pairs
        .iter()
        .filter(|p| {
            patches.iter().any(|r| {
                r.replace || r.set.contains_key(p.field.as_str()) || r.unset.contains(&p.field)
            })
        })
        .collect()
}

/// The link cells of `pairs` in the records `ids` of `table` before a
/// write, locking those records (in id order).
pub(crate) async fn before(
    conn: &mut PgConnection,
    table: TableId,
    pairs: &[&LinkPair],
    ids: &[RecordId],
) -> StoreResult<HashMap<(FieldId, RecordId), Vec<RecordId>>> {
    let mut out = HashMap::new();
    if pairs.is_empty() || ids.is_empty() {
        return Ok(out);
    }
    let ids: Vec<&str> = ids.iter().map(RecordId::as_str).collect();
    let fields: Vec<&str> = pairs.iter().map(|p| p.field.as_str()).collect();
    let rows = sqlx::query(on(
        table,
        "SELECT id, (SELECT jsonb_agg(COALESCE(data -> x.f, 'null'::jsonb) ORDER BY x.n) \
         FROM UNNEST($2::text[]) WITH ORDINALITY AS x(f, n)) AS cells \
         FROM {records} WHERE id = ANY($1) ORDER BY id FOR UPDATE",
    )?)
    .bind(&ids)
    .bind(&fields)
    .fetch_all(&mut *conn)
    .await
    .db()?;
    for row in rows {
        let record: RecordId = parse(row.try_get::<&str, _>("id").db()?)?;
        let cells: Value = row.try_get("cells").db()?;
        let cells = cells.as_array().cloned().unwrap_or_default();
        for (pair, cell) in pairs.iter().zip(cells) {
            out.insert((pair.field, record), link_ids(Some(&cell)));
        }
    }
    Ok(out)
}

/// Brings the partner cells in step with `after` (the written records as
/// stored), given the link cells `before` the write.
pub(crate) async fn sync(
    conn: &mut PgConnection,
    pairs: &[&LinkPair],
    before: &HashMap<(FieldId, RecordId), Vec<RecordId>>,
    after: &[Record],
) -> StoreResult<Vec<NewChange>> {
    let mut changed = Vec::new();
    for pair in pairs {
        let edits = pair_edits(pair, before, after);
        if edits.is_empty() {
            continue;
        }
        let targets: Vec<&str> = edits.iter().map(|e| e.target.as_str()).collect();
        let rows = sqlx::query(on(
            pair.partner_table,
            "SELECT id, data -> $2 AS cell FROM {records} WHERE id = ANY($1) \
             ORDER BY id FOR UPDATE",
        )?)
        .bind(&targets)
        .bind(pair.partner.as_str())
        .fetch_all(&mut *conn)
        .await
        .db()?;
        let mut current: HashMap<RecordId, Option<Value>> = HashMap::with_capacity(rows.len());
        for row in rows {
            let id: RecordId = parse(row.try_get::<&str, _>("id").db()?)?;
            current.insert(id, row.try_get("cell").db()?);
        }
        let mut ids = Vec::with_capacity(edits.len());
        let mut values: Vec<Option<Value>> = Vec::with_capacity(edits.len());
        for edit in &edits {
            // A linked record that is gone entirely has no cell to keep.
            let Some(cell) = current.get(&edit.target) else {
                continue;
            };
            let check = holders_to_check(pair, cell.as_ref(), edit);
            let dead = match (check.is_empty(), after.first()) {
                (false, Some(r)) => soft_deleted(conn, r.table_id, &check).await?,
                _ => Vec::new(),
            };
            let applied = apply_edits(pair, cell.as_ref(), edit, &dead)?;
            if let Some(r) = after.first() {
                for holder in &applied.let_go {
                    changed.push(let_go(conn, r.table_id, pair, *holder, edit.target).await?);
                }
            }
            let new = applied.cell;
            if new != *cell {
                ids.push(edit.target.as_str());
                changed.push(NewChange::cell_updated(
                    pair.partner_table,
                    edit.target,
                    pair.partner,
                    cell.clone(),
                    new.clone(),
                ));
                values.push(new);
            }
        }
        if ids.is_empty() {
            continue;
        }
        // `r.id = ANY(..)`: the rows by key, never a hash of the table.
        sqlx::query(on(
            pair.partner_table,
            "UPDATE {records} r SET data = CASE WHEN u.v IS NULL THEN r.data - $1 \
             ELSE r.data || jsonb_build_object($1::text, u.v) END \
             FROM UNNEST($2::text[], $3::jsonb[]) AS u(id, v) \
             WHERE r.id = u.id AND r.id = ANY($2::text[])",
        )?)
        .bind(pair.partner.as_str())
        .bind(ids)
        .bind(values)
        .execute(&mut *conn)
        .await
        .db()?;
    }
    Ok(changed)
}

/// Which of `ids` are soft-deleted records of `table`.
async fn soft_deleted(
    conn: &mut PgConnection,
    table: TableId,
    ids: &[RecordId],
) -> StoreResult<Vec<RecordId>> {
    let ids: Vec<&str> = ids.iter().map(RecordId::as_str).collect();
    let rows = sqlx::query(on(
        table,
        "SELECT id FROM {records} WHERE id = ANY($1) AND deleted_time IS NOT NULL",
    )?)
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await
    .db()?;
    rows.iter()
        .map(|r| parse(r.try_get::<&str, _>("id").db()?))
        .collect()
}

/// Removes `target` from the link cell of `holder`, a soft-deleted record
/// of `table` that let go of it (`pybase_core::store::links::Applied`);
/// answers the change for the log.
async fn let_go(
    conn: &mut PgConnection,
    table: TableId,
    pair: &LinkPair,
    holder: RecordId,
    target: RecordId,
) -> StoreResult<NewChange> {
    let row = sqlx::query(on(
        table,
        "SELECT data -> $2 AS cell FROM {records} WHERE id = $1 FOR UPDATE",
    )?)
    .bind(holder.as_str())
    .bind(pair.field.as_str())
    .fetch_optional(&mut *conn)
    .await
    .db()?;
    let cell: Option<Value> = match row {
        Some(row) => row.try_get("cell").db()?,
        None => None,
    };
    let new = without_target(cell.as_ref(), target);
    sqlx::query(on(
        table,
        "UPDATE {records} SET data = CASE WHEN $3::jsonb IS NULL THEN data - $2 \
         ELSE data || jsonb_build_object($2::text, $3::jsonb) END WHERE id = $1",
    )?)
    .bind(holder.as_str())
    .bind(pair.field.as_str())
    .bind(new.as_ref())
    .execute(&mut *conn)
    .await
    .db()?;
    Ok(NewChange::cell_updated(
        table, holder, pair.field, cell, new,
    ))
}

/// Clears `inverse_field_id` on every field that names `field` as its
/// partner, except `keep` (the partner `field` still names back), stamping
/// them changed `at`; the fields changed, as they are now (each a
/// `field.updated` event of the caller's).
pub(crate) async fn unpair(
    conn: &mut PgConnection,
    field: FieldId,
    keep: Option<FieldId>,
    at: pybase_core::model::Timestamp,
) -> StoreResult<Vec<pybase_core::model::Field>> {
    let rows = sqlx::query(AssertSqlSafe(format!(
        "UPDATE fields SET options = options - 'inverse_field_id', updated_at = $3 \
         WHERE options ->> 'inverse_field_id' = $1 AND id IS DISTINCT FROM $2 \
         RETURNING {}",
        crate::rows::FIELD_COLUMNS
    )))
    .bind(field.as_str())
    .bind(keep.as_ref().map(FieldId::as_str))
    .bind(at)
    .fetch_all(&mut *conn)
    .await
    .db()?;
    rows.iter().map(|r| crate::rows::field(r).db()).collect()
}
