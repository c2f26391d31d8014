//! The change log's events as the SQLite store builds them ([`Entry`]):
//! from core's [`NewChange`], or written directly as JSON text for an
//! update ([`updated`]) and a conversion ([`converted`]), each with its
//! place in its record's chain.

use pybase_core::ids::{FieldId, RecordId, TableId, ViewId};
use pybase_core::model::Cells;
use pybase_core::store::{ChangeKind, NewChange};
use rusqlite::types::{ToSql, ToSqlOutput, ValueRef};
use rusqlite::{Connection, OptionalExtension, params};

use crate::error::Result;

/// Where an event stands in its record's chain.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Chain {
    /// Not a record event.
    Unlinked,
    /// A record event: [`super::log`] reads the record's newest seq and points
    /// the record at this event.
    Lookup,
    /// A record event whose row was written pointing at `seq` already
    /// (its seq from [`super::take_seqs`]; `prev`, the record's event before).
    Linked { seq: i64, prev: Option<i64> },
}

/// One side of an event (`before` or `after`) as JSON text, bound as
/// text without a check that it is UTF-8: it comes from serde_json's
/// writer and from field ids, so it is (checking two sides cost a logged
/// update about 450 instructions).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct JsonText(Vec<u8>);

impl JsonText {
    /// The text of `value`.
    fn of(value: &serde_json::Value) -> Self {
        Self(value.to_string().into_bytes())
    }

    /// The value it holds.
    pub(super) fn parse(&self) -> Result<serde_json::Value> {
        Ok(serde_json::from_slice(&self.0)?)
    }
}

impl ToSql for JsonText {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(ValueRef::Text(&self.0)))
    }
}

/// One event ready to insert, its JSON already serialised. A
/// `record.updated` keeps no list of its changed fields: they are the keys
/// of its two sides, which hold only the changed cells, and the reader
/// lists them (`pybase_core::store::changed_fields_of`); building, binding
/// and storing the list cost every logged update about 700 instructions.
pub(crate) struct Entry {
    pub(super) kind: ChangeKind,
    pub(super) table: TableId,
    pub(super) record: Option<RecordId>,
    pub(super) field: Option<FieldId>,
    pub(super) view: Option<ViewId>,
    pub(super) before: Option<JsonText>,
    pub(super) after: Option<JsonText>,
    pub(super) chain: Chain,
}

impl Entry {
    /// A `record.updated` that changed no cell (a write of the values the
    /// record already had: both sides empty): it is not logged.
    pub(super) fn changes_nothing(&self) -> bool {
        self.kind == ChangeKind::RecordUpdated
            && self.before.as_ref().is_some_and(|t| t.0 == b"{}")
            && self.after.as_ref().is_some_and(|t| t.0 == b"{}")
    }

    /// `record.created` from cells already serialised for the insert (the
    /// text itself: a bulk create hands over each record's once inserted).
    pub(crate) fn created(table: TableId, record: RecordId, cells: String) -> Self {
        Self {
            kind: ChangeKind::RecordCreated,
            table,
            record: Some(record),
            field: None,
            view: None,
            before: None,
            after: Some(JsonText(cells.into_bytes())),
            chain: Chain::Lookup,
        }
    }

    /// This record event, its record row written pointing at it: `link`
    /// is its seq from [`super::take_seqs`] and the record's newest seq before
    /// (`None`, as the log is measured out, leaves it as it is).
    pub(crate) fn linked(mut self, link: Option<(i64, Option<i64>)>) -> Self {
        if let Some((seq, prev)) = link {
            self.chain = Chain::Linked { seq, prev };
        }
        self
    }
}

impl Entry {
    /// The table and record of a record event that derived cells merge
    /// into (`record.created`, `record.updated`, `record.restored`).
    pub(crate) fn record_key(&self) -> Option<(TableId, RecordId)> {
        pybase_core::store::computed::takes_cells(self.kind)
            .then_some(())
            .and(self.record)
            .map(|r| (self.table, r))
    }

    /// Merges `derived` (a record's derived cells, a `record.updated` of
    /// the recompute) into this event of the same record
    /// (`pybase_core::store::computed::merge_event`), so the write logs one
    /// event per record.
    pub(crate) fn merge(&mut self, derived: NewChange) -> Result<()> {
        let parse = |text: &Option<JsonText>| text.as_ref().map(JsonText::parse).transpose();
        let kind = self.kind;
        let (before, after) = (parse(&self.before)?, parse(&self.after)?);
        let changed = (kind == ChangeKind::RecordUpdated)
            .then(|| pybase_core::store::changed_fields_of(before.as_ref(), after.as_ref()));
        let mut event = NewChange {
            kind,
            table_id: self.table,
            record_id: None,
            field_id: None,
            view_id: None,
            changed_fields: changed,
            before,
            after,
        };
        pybase_core::store::computed::merge_event(&mut event, derived);
        let merged = Self::from(event);
        self.before = merged.before;
        self.after = merged.after;
        Ok(())
    }
}

impl From<NewChange> for Entry {
    fn from(c: NewChange) -> Self {
        let json = |v: Option<serde_json::Value>| v.as_ref().map(JsonText::of);
        Self {
            kind: c.kind,
            table: c.table_id,
            record: c.record_id,
            field: c.field_id,
            view: c.view_id,
            chain: if c.record_id.is_some() {
                Chain::Lookup
            } else {
                Chain::Unlinked
            },
            before: json(c.before),
            after: json(c.after),
        }
    }
}

/// A record's cells before an update by a patch, read in the writing
/// transaction.
pub(crate) struct Before<'p> {
    cells: Cells,
    patch: &'p pybase_core::store::RecordPatch,
}

impl<'p> Before<'p> {
    /// A record's cells as read before its update by `patch`, `None` while
    /// the log is measured out: the event compares only the cells a merge
    /// names (the only ones it can change), every cell for a replace.
    pub(crate) fn of(cells: Cells, patch: &'p pybase_core::store::RecordPatch) -> Option<Self> {
        pybase_core::store::change_log_enabled().then_some(Self { cells, patch })
    }
}

/// Calls `each` with the cells the merging patch `p` names (set or
/// unset), in byte order and once each (the order the sides' maps would
/// give them). The set cells are a map's keys, in order and distinct
/// already: only a patch that also unsets needs a sorted list.
fn merged_keys(
    p: &pybase_core::store::RecordPatch,
    mut each: impl FnMut(&str) -> Result<()>,
) -> Result<()> {
    if p.unset.is_empty() {
        for k in p.set.keys() {
            each(k)?;
        }
        return Ok(());
    }
    let mut keys: Vec<&str> = p
        .set
        .keys()
        .map(String::as_str)
        .chain(p.unset.iter().map(pybase_core::ids::FieldId::as_str))
        .collect();
    keys.sort_unstable();
    keys.dedup();
    for k in keys {
        each(k)?;
    }
    Ok(())
}

/// The `record.updated` event of an update from its [`Before`] and the
/// record after: the cells that differ, on both sides (as
/// [`NewChange::record_updated`], among the cells read). A merge's event is
/// written as JSON text directly (keys in byte order, as the map would
/// give them), without building the two sides as maps first.
pub(crate) fn updated(before: &Before<'_>, after: &pybase_core::model::Record) -> Result<Entry> {
    if before.patch.replace {
        return Ok(Entry::from(NewChange::record_updated(&before.cells, after)));
    }
    let mut old = Vec::with_capacity(256);
    let mut new = Vec::with_capacity(256);
    old.push(b'{');
    new.push(b'{');
    merged_keys(before.patch, |k| {
        let (b, a) = (before.cells.get(k), after.cells.get(k));
        if b == a {
            return Ok(());
        }
        for (side, value) in [(&mut old, b), (&mut new, a)] {
            if let Some(v) = value {
                if side.len() > 1 {
                    side.push(b',');
                }
                push_key(side, k)?;
                side.push(b':');
                serde_json::to_writer(&mut *side, v)?;
            }
        }
        Ok(())
    })?;
    old.push(b'}');
    new.push(b'}');
    Ok(Entry {
        kind: ChangeKind::RecordUpdated,
        table: after.table_id,
        record: Some(after.id),
        field: None,
        view: None,
        before: Some(JsonText(old)),
        after: Some(JsonText(new)),
        chain: Chain::Lookup,
    })
}

/// Appends `key` as a JSON string: a field id (letters and digits) as it
/// is, anything else escaped by serde_json.
fn push_key(side: &mut Vec<u8>, key: &str) -> Result<()> {
    if key.bytes().all(|b| b.is_ascii_alphanumeric()) {
        side.push(b'"');
        side.extend_from_slice(key.as_bytes());
        side.push(b'"');
    } else {
        serde_json::to_writer(&mut *side, key)?;
    }
    Ok(())
}

/// The `record.updated` events of a field conversion: for each converted
/// cell (`cells`, new values in order, the last write of a record wins),
/// the cell before (read here, so call it before the cells are written) and
/// after, absent on a side where it is empty; records whose cell does not
/// change log nothing.
pub(crate) fn converted(
    conn: &Connection,
    field: &pybase_core::model::Field,
    cells: Vec<(RecordId, Option<serde_json::Value>)>,
) -> Result<Vec<Entry>> {
    if !pybase_core::store::change_log_enabled() || cells.is_empty() {
        return Ok(Vec::new());
    }
    let mut last = std::collections::HashMap::with_capacity(cells.len());
    for (i, (id, _)) in cells.iter().enumerate() {
        last.insert(*id, i);
    }
    let mut old =
        conn.prepare_cached("SELECT data -> ?2 FROM records WHERE table_id = ?3 AND id = ?1")?;
    let path = crate::layout::cell_path(field.id.as_str());
    let mut out = Vec::with_capacity(last.len());
    for (i, (record, after)) in cells.into_iter().enumerate() {
        if last.get(&record) != Some(&i) {
            continue;
        }
        let before: Option<String> = old
            .query_row(
                params![record.as_str(), path, field.table_id.as_str()],
                |r| r.get(0),
            )
            .optional()?
            .flatten();
        let before = before
            .map(|t| serde_json::from_str::<serde_json::Value>(&t))
            .transpose()?
            .filter(|v| !v.is_null());
        let after = after.filter(|v| !v.is_null());
        if before != after {
            out.push(Entry::from(NewChange::cell_converted(
                field.table_id,
                record,
                field.id,
                before,
                after,
            )));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn keys_are_json_strings() {
        for key in ["fld3q6YeXyMairofI", "a\"b\\c", "é ü", ""] {
            let mut side = Vec::new();
            super::push_key(&mut side, key).unwrap();
            let text = String::from_utf8(side).unwrap();
            assert_eq!(text, serde_json::to_string(key).unwrap(), "{key}");
        }
    }
}
