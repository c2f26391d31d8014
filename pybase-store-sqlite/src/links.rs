//! Two-way links in SQLite: the partner cells kept in step inside the
//! writing transaction (the rules are `pybase_core::store::links`).

use std::collections::HashMap;

use pybase_core::ids::{FieldId, RecordId, TableId};
use pybase_core::model::{Cells, Record};
use pybase_core::store::links::{
    LinkPair, apply_edits, holders_to_check, link_ids, pair_edits, without_target,
};
use pybase_core::store::{NewChange, RecordPatch};
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::layout::{cell_path, write_cell};
use crate::rows::{id, id_list};

/// One link field of a table, with its partner if it has one.
pub(crate) struct LinkField {
    /// The field.
    pub(crate) field: FieldId,
    /// Its pairing, for two-way links.
    pub(crate) pair: Option<LinkPair>,
}

/// The link fields of `table` with their partners (none for most tables:
/// one indexed read).
pub(crate) fn link_fields(conn: &Connection, table: TableId) -> Result<Vec<LinkField>> {
    let mut stmt = conn.prepare_cached(
        "SELECT f.id, p.id, p.table_id, p.name, \
         coalesce(json_extract(p.options, '$.allow_multiple'), 1) \
         FROM fields f LEFT JOIN fields p ON p.id = json_extract(f.options, '$.inverse_field_id') \
         WHERE f.table_id = ?1 AND f.type = 'link'",
    )?;
    let rows = stmt.query_map([table.as_str()], |r| {
        let field: FieldId = id(r, 0)?;
        let pair = match r.get::<_, Option<String>>(1)? {
            None => None,
            Some(_) => Some(LinkPair {
                field,
                partner: id(r, 1)?,
                partner_table: id(r, 2)?,
                partner_name: r.get(3)?,
                partner_single: r.get::<_, i64>(4)? == 0,
            }),
        };
        Ok(LinkField { field, pair })
    })?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

/// The pairs among `fields`.
pub(crate) fn pairs(fields: &[LinkField]) -> Vec<&LinkPair> {
    fields.iter().filter_map(|f| f.pair.as_ref()).collect()
}

/// The link fields among `fields` whose cells `patches` may change.
pub(crate) fn written<'a>(fields: &'a [LinkField], patches: &[RecordPatch]) -> Vec<&'a LinkField> {
    fields
        .iter()
        .filter(|f| {
            patches.iter().any(|r| {
                r.replace || r.set.contains_key(f.field.as_str()) || r.unset.contains(&f.field)
            })
        })
        .collect()
}

/// Re-reads the link cells of `field` in the records `ids` of `table` into
/// the reverse index (`record_links`: who links to whom).
pub(crate) fn reindex(
    conn: &Connection,
    table: TableId,
    field: FieldId,
    ids: &[RecordId],
) -> Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let list = id_list(ids);
    conn.prepare_cached(
        "DELETE FROM record_links WHERE field_id = ?1 \
         AND source_id IN (SELECT value FROM json_each(?2))",
    )?
    .execute(params![field.as_str(), list])?;
    conn.prepare_cached(
        "INSERT OR IGNORE INTO record_links (field_id, target_id, source_id) \
         SELECT ?1, j.value, r.id FROM records r, json_each(r.data, ?3) j \
         WHERE r.table_id = ?4 AND r.id IN (SELECT value FROM json_each(?2)) \
         AND j.type = 'text'",
    )?
    .execute(params![
        field.as_str(),
        list,
        cell_path(field.as_str()),
        table.as_str()
    ])?;
    Ok(())
}

/// Rebuilds the reverse index of one field from all its cells (after a
/// type change; empty unless it is a link).
pub(crate) fn reindex_field(
    conn: &Connection,
    table: TableId,
    field: FieldId,
    is_link: bool,
) -> Result<()> {
    conn.prepare_cached("DELETE FROM record_links WHERE field_id = ?1")?
        .execute([field.as_str()])?;
    if is_link {
        conn.prepare_cached(
            "INSERT OR IGNORE INTO record_links (field_id, target_id, source_id) \
             SELECT ?1, j.value, r.id FROM records r, json_each(r.data, ?2) j \
             WHERE r.table_id = ?3 AND j.type = 'text'",
        )?
        .execute(params![
            field.as_str(),
            cell_path(field.as_str()),
            table.as_str()
        ])?;
    }
    Ok(())
}

/// Updates the reverse index for the records `ids` of `table` just
/// written, for the link fields `fields`.
pub(crate) fn reindex_written(
    conn: &Connection,
    table: TableId,
    fields: &[&LinkField],
    ids: &[RecordId],
) -> Result<()> {
    for f in fields {
        reindex(conn, table, f.field, ids)?;
    }
    Ok(())
}

/// The pairs among `fields` that `patches` may change.
pub(crate) fn touched<'a>(fields: &'a [LinkField], patches: &[RecordPatch]) -> Vec<&'a LinkPair> {
    written(fields, patches)
        .into_iter()
        .filter_map(|f| f.pair.as_ref())
        .collect()
}

/// The link cells of `pairs` in the records `ids` of `table` before a write.
pub(crate) fn before(
    conn: &Connection,
    table: TableId,
    pairs: &[&LinkPair],
    ids: &[RecordId],
) -> Result<HashMap<(FieldId, RecordId), Vec<RecordId>>> {
    let mut out = HashMap::new();
    if pairs.is_empty() || ids.is_empty() {
        return Ok(out);
    }
    let list = id_list(ids);
    let mut stmt = conn.prepare_cached(
        "SELECT id, data -> ?2 FROM records WHERE table_id = ?3 \
         AND id IN (SELECT value FROM json_each(?1))",
    )?;
    for pair in pairs {
        let path = cell_path(pair.field.as_str());
        let rows = stmt.query_map(params![list, path, table.as_str()], |r| {
            let cell: Option<String> = r.get(1)?;
            Ok((id(r, 0)?, cell))
        })?;
        for row in rows {
            let (record, cell) = row?;
            let cell: Option<Value> = cell.map(|c| serde_json::from_str(&c)).transpose()?;
            out.insert((pair.field, record), link_ids(cell.as_ref()));
        }
    }
    Ok(out)
}

/// Brings the partner cells in step with `after` (the written records as
/// stored), given the link cells `before` the write; answers the partner
/// cells it changed, for the change log.
pub(crate) fn sync(
    conn: &Connection,
    pairs: &[&LinkPair],
    before: &HashMap<(FieldId, RecordId), Vec<RecordId>>,
    after: &[Record],
) -> Result<Vec<NewChange>> {
    let mut changed = Vec::new();
    for pair in pairs {
        let edits = pair_edits(pair, before, after);
        if edits.is_empty() {
            continue;
        }
        let path = cell_path(pair.partner.as_str());
        let mut read =
            conn.prepare_cached("SELECT data -> ?2 FROM records WHERE table_id = ?3 AND id = ?1")?;
        // The partner's index rows change by the edit only (a long inverse
        // cell is not re-indexed whole).
        let mut unindex = conn.prepare_cached(
            "DELETE FROM record_links WHERE field_id = ?1 AND target_id = ?2 AND source_id = ?3",
        )?;
        let mut index = conn.prepare_cached(
            "INSERT OR IGNORE INTO record_links (field_id, target_id, source_id) \
             VALUES (?1, ?2, ?3)",
        )?;
        for edit in edits {
            let target = edit.target.as_str();
            // A linked record that is gone entirely (never a live link:
            // links are checked before writes) has no cell to keep.
            let Some(cell) = read
                .query_row(params![target, path, pair.partner_table.as_str()], |r| {
                    r.get::<_, Option<String>>(0)
                })
                .optional()?
            else {
                continue;
            };
            let cell: Option<Value> = cell.map(|c| serde_json::from_str(&c)).transpose()?;
            let check = holders_to_check(pair, cell.as_ref(), &edit);
            let dead = match (check.is_empty(), after.first()) {
                (false, Some(r)) => soft_deleted(conn, r.table_id, &check)?,
                _ => Vec::new(),
            };
            let applied = apply_edits(pair, cell.as_ref(), &edit, &dead).map_err(Error::Store)?;
            if let Some(r) = after.first() {
                for holder in &applied.let_go {
                    changed.push(let_go(conn, r.table_id, pair, *holder, edit.target)?);
                    unindex.execute(params![pair.partner.as_str(), holder.as_str(), target])?;
                }
            }
            let new = applied.cell;
            if new == cell {
                continue;
            }
            let json = new.as_ref().map(Value::to_string);
            write_cell(
                conn,
                pair.partner_table.as_str(),
                target,
                pair.partner.as_str(),
                json.as_deref(),
            )?;
            changed.push(NewChange::cell_updated(
                pair.partner_table,
                edit.target,
                pair.partner,
                cell,
                new,
            ));
            let partner = pair.partner.as_str();
            for gone in &edit.remove {
                unindex.execute(params![partner, gone.as_str(), target])?;
            }
            for added in &edit.add {
                index.execute(params![partner, added.as_str(), target])?;
            }
        }
    }
    Ok(changed)
}

/// Which of `ids` are soft-deleted records of `table`.
fn soft_deleted(conn: &Connection, table: TableId, ids: &[RecordId]) -> Result<Vec<RecordId>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id FROM records WHERE table_id = ?1 AND deleted_time IS NOT NULL \
         AND id IN (SELECT value FROM json_each(?2))",
    )?;
    let rows = stmt.query_map(params![table.as_str(), id_list(ids)], |r| id(r, 0))?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

/// Removes `target` from the link cell of `holder`, a soft-deleted record
/// of `table` that let go of it (`pybase_core::store::links::Applied`), and
/// from the link index; answers the change for the log.
fn let_go(
    conn: &Connection,
    table: TableId,
    pair: &LinkPair,
    holder: RecordId,
    target: RecordId,
) -> Result<NewChange> {
    let path = cell_path(pair.field.as_str());
    let cell: Option<String> = conn
        .prepare_cached("SELECT data -> ?2 FROM records WHERE table_id = ?3 AND id = ?1")?
        .query_row(params![holder.as_str(), path, table.as_str()], |r| r.get(0))
        .optional()?
        .flatten();
    let cell: Option<Value> = cell.map(|c| serde_json::from_str(&c)).transpose()?;
    let new = without_target(cell.as_ref(), target);
    let json = new.as_ref().map(Value::to_string);
    write_cell(
        conn,
        table.as_str(),
        holder.as_str(),
        pair.field.as_str(),
        json.as_deref(),
    )?;
    conn.prepare_cached(
        "DELETE FROM record_links WHERE field_id = ?1 AND target_id = ?2 AND source_id = ?3",
    )?
    .execute(params![
        pair.field.as_str(),
        target.as_str(),
        holder.as_str()
    ])?;
    Ok(NewChange::cell_updated(
        table, holder, pair.field, cell, new,
    ))
}

/// Clears `inverse_field_id` on every field that names `field` as its
/// partner, except `keep` (the partner `field` still names back), stamping
/// them changed `at` (as stored); the fields changed, as they are now (each
/// a `field.updated` event of the caller's).
pub(crate) fn unpair(
    conn: &Connection,
    field: FieldId,
    keep: Option<FieldId>,
    at: &str,
) -> Result<Vec<pybase_core::model::Field>> {
    let mut stmt = conn.prepare_cached(&format!(
        "UPDATE fields SET options = json_remove(options, '$.inverse_field_id'), updated_at = ?3 \
         WHERE json_extract(options, '$.inverse_field_id') = ?1 AND id IS NOT ?2 \
         RETURNING {}",
        crate::schema::FIELD_COLUMNS
    ))?;
    let rows = stmt.query_map(
        params![field.as_str(), keep.as_ref().map(FieldId::as_str), at],
        crate::schema::field,
    )?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

/// The cells a new record starts with, for [`sync`]'s `after`.
pub(crate) fn created(table: TableId, id: RecordId, cells: &Cells) -> Record {
    Record::bare(table, id, cells.clone())
}
