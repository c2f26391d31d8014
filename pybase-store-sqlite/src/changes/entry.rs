//! The change log's events as the SQLite store builds them ([`Entry`]):
//! from core's [`NewChange`], or written directly as JSON text for an
//! update ([`updated`]) and a conversion ([`converted`]), each with its
//! place in its record's chain.

use pybase_core::ids::{FieldId, RecordId, TableId, ViewId};
use pybase_core::model::Cells;
use pybase_core::store::{ChangeKind, NewChange};
use rusqlite::{Connection, OptionalExtension, params};

use crate::error::{Error, Result};
use crate::layout::scope;

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
    pub(super) before: Option<String>,
    pub(super) after: Option<String>,
    pub(super) chain: Chain,
}

impl Entry {
    /// A `record.updated` that changed no cell (a write of the values the
    /// record already had: both sides empty): it is not logged.
    pub(super) fn changes_nothing(&self) -> bool {
        self.kind == ChangeKind::RecordUpdated
            && self.before.as_deref() == Some("{}")
            && self.after.as_deref() == Some("{}")
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
            after: Some(cells),
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
        let parse = |text: &Option<String>| -> Result<Option<serde_json::Value>> {
            Ok(text.as_deref().map(serde_json::from_str).transpose()?)
        };
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
        let json = |v: Option<serde_json::Value>| v.map(|v| v.to_string());
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

/// A record's cells before an update, read in the writing transaction:
/// all of them, or only those the update may change.
pub(crate) struct Before {
    cells: Cells,
    /// The cells read (field ids, sorted, distinct); `None`: all.
    only: Option<Vec<String>>,
}

impl Before {
    /// A record's cells as read before its update by `patch`, `None` while
    /// the log is measured out: the event compares only the cells a merge
    /// names (the only ones it can change), every cell for a replace.
    pub(crate) fn of(cells: Cells, patch: &pybase_core::store::RecordPatch) -> Option<Self> {
        if !pybase_core::store::change_log_enabled() {
            return None;
        }
        let only = merged(patch).map(|keys| {
            let mut keys: Vec<String> = keys.map(str::to_owned).collect();
            keys.sort_unstable();
            keys.dedup();
            keys
        });
        Some(Self { cells, only })
    }
}

/// The cells `p` names if it merges (set or unset), `None` if it replaces.
fn merged(p: &pybase_core::store::RecordPatch) -> Option<impl Iterator<Item = &str>> {
    (!p.replace).then(|| {
        p.set
            .keys()
            .map(String::as_str)
            .chain(p.unset.iter().map(pybase_core::ids::FieldId::as_str))
    })
}

/// The `record.updated` event of an update from its [`Before`] and the
/// record after: the cells that differ, on both sides (as
/// [`NewChange::record_updated`], among the cells read). A merge's event is
/// written as JSON text directly (keys in byte order, as the map would
/// give them), without building the two sides as maps first.
pub(crate) fn updated(before: &Before, after: &pybase_core::model::Record) -> Result<Entry> {
    let Some(keys) = &before.only else {
        return Ok(Entry::from(NewChange::record_updated(&before.cells, after)));
    };
    let mut old = Vec::with_capacity(256);
    let mut new = Vec::with_capacity(256);
    old.push(b'{');
    new.push(b'{');
    for k in keys {
        let (b, a) = (before.cells.get(k), after.cells.get(k));
        if b == a {
            continue;
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
    }
    old.push(b'}');
    new.push(b'}');
    let text = |bytes: Vec<u8>| {
        String::from_utf8(bytes).map_err(|e| Error::corrupt("change event", e.to_string()))
    };
    Ok(Entry {
        kind: ChangeKind::RecordUpdated,
        table: after.table_id,
        record: Some(after.id),
        field: None,
        view: None,
        before: Some(text(old)?),
        after: Some(text(new)?),
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
    let mut old = conn.prepare_cached(&format!(
        "SELECT data -> ?2 FROM records WHERE {} AND id = ?1",
        scope("", field.table_id.as_str())?
    ))?;
    let path = crate::layout::cell_path(field.id.as_str());
    let mut out = Vec::with_capacity(last.len());
    for (i, (record, after)) in cells.into_iter().enumerate() {
        if last.get(&record) != Some(&i) {
            continue;
        }
        let before: Option<String> = old
            .query_row(params![record.as_str(), path], |r| r.get(0))
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
