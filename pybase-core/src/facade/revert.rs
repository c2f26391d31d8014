//! Reverting a record to the state after one of its events: the cells
//! then, rebuilt from the cells now by undoing each later event of the
//! record's history, written back as one update of the cells that differ.
//!
//! A later event may be a conversion: a change of a field rewrote the
//! cell (a new type, a renamed choice, a lower precision), logged with the
//! field's id. Undoing it gives the value the cell had, which may no
//! longer fit the field (a choice that was renamed, a number in a field
//! that is text now); keeping it gives the value as the conversion left
//! it (undoing only the edits after the field's last conversion: older
//! ones are in the field's old form, such as a link's record ids before
//! the link became text). Each cell takes the first of these that the
//! field accepts as it is now: the value undone (so a precision lowered
//! and raised again gets its digits back), the value with conversions
//! kept if no edit since came before a conversion (a renamed choice keeps
//! its new name), the value undone as a typecast would write it (`5` into
//! what is a text field now is `"5"`), provided that adds no select
//! choice, and the value with conversions kept even so (a link turned
//! into text keeps the text it became). A cell whose value then fits none
//! keeps its value now: the field changed since in a way the log holds no
//! cell event for (text made a select of the choices its cells held, which
//! rewrote no cell), so the rest of the record is still put back.
//!
//! A link cell goes back to its linked records that are still live: a
//! write cannot link to a deleted record, and reads leave deleted records
//! out of link cells anyway, so the cell reads as it did then (less what
//! is deleted); restoring such a record later does not bring its link
//! back. With none left the cell is cleared.

use serde_json::Value;

use super::Pybase;
use super::inputs::{CellsInput, WriteOptions};
use super::render::{FieldKey, RecordOut};
use crate::error::{Error, Result};
use crate::fields::Reference;
use crate::ids::{FieldId, RecordId, TableId};
use crate::model::{Cells, Field};
use crate::principal::Principal;
use crate::role::Action;
use crate::store::links::link_ids;
use crate::store::{ChangeEvent, ChangeKind};

/// Events read per page while walking back.
const WALK_PAGE: usize = 256;

impl Pybase {
    /// Puts a record's cells back as they were right after its event `seq`,
    /// clearing cells set later, as a new update (editor and above) that
    /// writes only the cells that differ from now (a cell already as it
    /// was is not validated again). Cells of fields deleted since, or
    /// computed, are left out; cells that conversions rewrote since are
    /// set as the module's documentation says. `NotFound` if `seq` is not
    /// an event of that record; `Gone` if it was pruned.
    pub async fn revert_record(
        &self,
        principal: &Principal,
        table: TableId,
        record: RecordId,
        seq: i64,
        key: FieldKey,
    ) -> Result<RecordOut> {
        let seq = super::changes::cursor("seq", seq)?;
        let (scope, fields, current) = self
            .record_for(principal, table, record, Action::WriteRecords)
            .await?;
        // Walks back from the current cells, undoing each later event,
        // conversions too (`undone`) and not (`kept`).
        let mut undone = current.cells.clone();
        let mut kept = current.cells.clone();
        let mut converted: Vec<FieldId> = Vec::new();
        let mut stale: Vec<FieldId> = Vec::new();
        let mut before = None;
        let mut found = false;
        'pages: loop {
            let events = self
                .store
                .record_changes(scope.id(), record, before, WALK_PAGE)
                .await?;
            let Some(last) = events.last() else {
                break;
            };
            before = Some(last.seq);
            for e in &events {
                if e.seq <= seq {
                    found = e.seq == seq;
                    break 'pages;
                }
                undo(&mut undone, e, &[]);
                match e.field_id {
                    // Older edits of a converted cell are in the field's
                    // old form: `kept` stays as the conversion left it,
                    // which then holds an edit made since `seq` (`stale`).
                    Some(f) => converted.push(f),
                    None => {
                        undo(&mut kept, e, &converted);
                        stale.extend(
                            e.changed_fields
                                .iter()
                                .flatten()
                                .filter(|f| converted.contains(f)),
                        );
                    }
                }
            }
        }
        if !found {
            // Pruned (`Gone`: the base's log starts after it), or never
            // this record's.
            if seq > 0 {
                let base = self.store.table_base(scope.id()).await?;
                self.store.changes_since(base, seq - 1, 1).await?;
            }
            return Err(Error::NotFound {
                entity: "event of this record",
            });
        }
        // Only the cells that differ: set back, or cleared (null).
        let mut input = CellsInput::new();
        for f in fields.iter().filter(|f| !f.field_type.is_computed()) {
            let id = f.id.as_str();
            let now = current.cells.get(id);
            // A link's value then names records of the table it linked
            // then: re-pointed since, they are no records of its table now,
            // so the value does not fit (the conversion's is kept).
            let foreign = match (f.field_type.references(), undone.get(id)) {
                (Some(Reference::Records(linked)), Some(v)) => {
                    self.names_other_records(linked, v).await?
                }
                _ => false,
            };
            let Some(mut then) = reverted(
                f,
                undone.get(id).filter(|_| !foreign),
                kept.get(id),
                stale.contains(&f.id),
                foreign,
            ) else {
                continue;
            };
            if then.as_ref() == now {
                continue;
            }
            if let Some(Reference::Records(linked)) = f.field_type.references() {
                then = self.live_links(linked, then).await?;
            }
            if then.as_ref() != now {
                input.insert(f.id.to_string(), then.unwrap_or(Value::Null));
            }
        }
        self.update_record(
            principal,
            scope.id(),
            record,
            input,
            WriteOptions {
                typecast: false,
                field_key: key,
            },
            false,
        )
        .await
    }
}

impl Pybase {
    /// Whether the link cell `value` names a record that is no record of
    /// `linked`, live or deleted (the link pointed at another table then).
    async fn names_other_records(&self, linked: TableId, value: &Value) -> Result<bool> {
        let ids = link_ids(Some(value));
        if ids.is_empty() {
            return Ok(false);
        }
        let found = self.store.get_records(linked, &ids, true).await?;
        Ok(found.len() < ids.len())
    }

    /// A link cell going back to `then`, without the records of `linked`
    /// deleted since (a write cannot link to them; reads leave them out of
    /// the cell as it was too): `None` if none is left.
    async fn live_links(&self, linked: TableId, then: Option<Value>) -> Result<Option<Value>> {
        let ids = link_ids(then.as_ref());
        if ids.is_empty() {
            return Ok(then);
        }
        let live = self.live_set(linked, &ids).await?;
        if live.len() == ids.len() {
            return Ok(then);
        }
        let kept: Vec<Value> = ids
            .iter()
            .filter(|id| live.contains(id))
            .map(|id| Value::String(id.to_string()))
            .collect();
        Ok((!kept.is_empty()).then_some(Value::Array(kept)))
    }
}

/// The value `field`'s cell goes back to, from the value with every later
/// event undone and the value with conversions kept (`stale` when that
/// holds an edit made since, before a conversion): see the module's
/// documentation. `None`: none fits, the cell keeps its value now.
fn reverted(
    field: &Field,
    undone: Option<&Value>,
    kept: Option<&Value>,
    stale: bool,
    foreign: bool,
) -> Option<Option<Value>> {
    let ft = &field.field_type;
    let fits = |v: Option<&Value>| v.is_none_or(|v| ft.validate_cell(v, false).is_ok());
    if foreign {
        // `undone` (left out) named another table's records.
        return (!stale && fits(kept)).then(|| kept.cloned());
    }
    if fits(undone) {
        return Some(undone.cloned());
    }
    if !stale && fits(kept) {
        return Some(kept.cloned());
    }
    let cast = undone.and_then(|v| match ft.validate_cell(v, true) {
        Ok(Some(cast)) if crate::fields::new_choice_names(ft, &cast).is_empty() => Some(cast),
        _ => None,
    });
    match cast {
        Some(cast) => Some(Some(cast)),
        None if fits(kept) => Some(kept.cloned()),
        None => None,
    }
}

/// Undoes one logged update on `cells` (other kinds change no cell),
/// except on the cells of `except`.
fn undo(cells: &mut Cells, e: &ChangeEvent, except: &[FieldId]) {
    if e.kind != ChangeKind::RecordUpdated {
        return;
    }
    let before = e.before.as_ref().and_then(Value::as_object);
    for f in e
        .changed_fields
        .iter()
        .flatten()
        .filter(|f| !except.contains(f))
    {
        match before.and_then(|b| b.get(f.as_str())) {
            Some(v) => {
                cells.insert(f.to_string(), v.clone());
            }
            None => {
                cells.remove(f.as_str());
            }
        }
    }
}
