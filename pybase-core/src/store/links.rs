//! Two-way links: the pure part both stores share.
//!
//! A link field with an `inverse_field_id` is one side of a pair; every
//! record write that changes its cells changes the partner's cells in the
//! linked records, in the same transaction. Each store finds the pairs of
//! the written table ([`LinkPair`]), reads the written records' link cells
//! before the write, and after it turns the differences into edits of the
//! partner cells ([`inverse_edits`]), which it applies to the rows it reads
//! and locks ([`apply_edits`]). Inverse cells list records in the order the
//! links were made (an added source goes to the end).

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

use crate::error::StoreError;
use crate::ids::{FieldId, RecordId, TableId};
use crate::model::{Field, Record};

/// One link field of a table that has a partner (inverse) field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkPair {
    /// The link field of the written table.
    pub field: FieldId,
    /// Its partner in the linked table.
    pub partner: FieldId,
    /// The linked table (the partner's table).
    pub partner_table: TableId,
    /// The partner's name, for errors.
    pub partner_name: String,
    /// Whether the partner allows only one linked record.
    pub partner_single: bool,
}

/// What happens to one linked record's partner cell.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InverseEdit {
    /// The linked record whose partner cell changes.
    pub target: RecordId,
    /// Sources no longer linking to it.
    pub remove: Vec<RecordId>,
    /// Sources now linking to it, in write order.
    pub add: Vec<RecordId>,
}

/// Whether a write of the cells `written` (every cell, with `all`) may
/// change a paired link's cells, judged from a possibly older copy of the
/// table's fields. A field is paired only from its creation, so a copy
/// that knows every written field and shows none of them paired is enough
/// to skip reading the pairs; no copy, or a written field it does not know,
/// answers `true`.
pub fn may_touch_pairs<'a>(
    fields: Option<&[Field]>,
    mut written: impl Iterator<Item = &'a str>,
    all: bool,
) -> bool {
    let Some(fields) = fields else {
        return true;
    };
    if all {
        return fields
            .iter()
            .any(|f| f.field_type.inverse_field_id().is_some());
    }
    // The fields known and unpaired, looked up once per written cell: a
    // bulk write names each of them once per record (a search of the
    // fields for each cell cost about 3,400 instructions a record).
    let unpaired: std::collections::HashSet<&str> = fields
        .iter()
        .filter(|f| f.field_type.inverse_field_id().is_none())
        .map(|f| f.id.as_str())
        .collect();
    written.any(|w| !unpaired.contains(w))
}

/// The record ids of a stored link cell (empty for an absent or malformed
/// one).
pub fn link_ids(cell: Option<&Value>) -> Vec<RecordId> {
    cell.and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(Value::as_str)
                .filter_map(|s| RecordId::parse(s).ok())
                .collect()
        })
        .unwrap_or_default()
}

/// The edits of the partner cells that follow from link cells changing
/// from `before` to `after` (`(source, before, after)` per written record,
/// in write order). Sorted by target id, the order stores lock rows in.
pub fn inverse_edits(changes: &[(RecordId, Vec<RecordId>, Vec<RecordId>)]) -> Vec<InverseEdit> {
    let mut by_target: BTreeMap<RecordId, InverseEdit> = BTreeMap::new();
    for (source, before, after) in changes {
        for gone in before.iter().filter(|t| !after.contains(t)) {
            let e = by_target.entry(*gone).or_insert_with(|| InverseEdit {
                target: *gone,
                ..InverseEdit::default()
            });
            e.add.retain(|s| s != source);
            if !e.remove.contains(source) {
                e.remove.push(*source);
            }
        }
        for new in after.iter().filter(|t| !before.contains(t)) {
            let e = by_target.entry(*new).or_insert_with(|| InverseEdit {
                target: *new,
                ..InverseEdit::default()
            });
            e.remove.retain(|s| s != source);
            if !e.add.contains(source) {
                e.add.push(*source);
            }
        }
    }
    by_target.into_values().collect()
}

/// The edits of `pair`'s partner cells after a write: `before` holds the
/// written records' link cells before it (by field and record; absent is
/// empty), `after` the written records as stored. Empty when no link cell
/// of the pair changed.
pub fn pair_edits(
    pair: &LinkPair,
    before: &HashMap<(FieldId, RecordId), Vec<RecordId>>,
    after: &[Record],
) -> Vec<InverseEdit> {
    let changes: Vec<(RecordId, Vec<RecordId>, Vec<RecordId>)> = after
        .iter()
        .map(|r| {
            let old = before.get(&(pair.field, r.id)).cloned().unwrap_or_default();
            (r.id, old, link_ids(r.cells.get(pair.field.as_str())))
        })
        .filter(|(_, old, new)| old != new)
        .collect();
    inverse_edits(&changes)
}

/// A partner cell after an edit ([`apply_edits`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Applied {
    /// The cell; `None` when it ends empty.
    pub cell: Option<Value>,
    /// Soft-deleted sources that let go of the target (see
    /// [`apply_edits`]): the store removes the target from their own link
    /// cells, so restoring them does not bring a second link back.
    pub let_go: Vec<RecordId>,
}

/// The sources a single-record partner cell would hold after `edit`
/// besides the added ones, when it would hold more than one: the store
/// answers which of them are soft-deleted for [`apply_edits`]. Empty (no
/// read needed) otherwise.
pub fn holders_to_check(
    pair: &LinkPair,
    current: Option<&Value>,
    edit: &InverseEdit,
) -> Vec<RecordId> {
    if !pair.partner_single || edit.add.is_empty() {
        return Vec::new();
    }
    link_ids(current)
        .into_iter()
        .filter(|id| !edit.remove.contains(id) && !edit.add.contains(id))
        .collect()
}

/// The partner cell after `edit`: removed sources dropped, added ones
/// appended unless present. A single-record partner taken by an added
/// source lets go of the soft-deleted sources it holds (`dead`, among
/// [`holders_to_check`]): links to soft-deleted records read as absent, so
/// the cell reads as empty and may be taken (they are answered in
/// [`Applied::let_go`]). Refused with `Invalid` naming the partner when it
/// would still hold more than one.
pub fn apply_edits(
    pair: &LinkPair,
    current: Option<&Value>,
    edit: &InverseEdit,
    dead: &[RecordId],
) -> Result<Applied, StoreError> {
    let mut ids = link_ids(current);
    ids.retain(|id| !edit.remove.contains(id));
    for add in &edit.add {
        if !ids.contains(add) {
            ids.push(*add);
        }
    }
    let mut let_go = Vec::new();
    if pair.partner_single && ids.len() > 1 {
        let_go = ids
            .iter()
            .filter(|id| dead.contains(id) && !edit.add.contains(id))
            .copied()
            .collect();
        ids.retain(|id| !let_go.contains(id));
    }
    if pair.partner_single && ids.len() > 1 {
        return Err(StoreError::Invalid {
            field: pair.partner_name.clone(),
            expected: format!(
                "at most one linked record: record {} of the linked table would link {} \
                 records through {:?}, the inverse of this link",
                edit.target,
                ids.len(),
                pair.partner_name
            ),
        });
    }
    Ok(Applied {
        cell: (!ids.is_empty())
            .then(|| Value::Array(ids.iter().map(|id| Value::String(id.to_string())).collect())),
        let_go,
    })
}

/// A soft-deleted source's own link cell once it let go of `target`
/// ([`Applied::let_go`]): `None` when it ends empty.
pub fn without_target(cell: Option<&Value>, target: RecordId) -> Option<Value> {
    let ids: Vec<Value> = link_ids(cell)
        .into_iter()
        .filter(|id| *id != target)
        .map(|id| Value::String(id.to_string()))
        .collect();
    (!ids.is_empty()).then_some(Value::Array(ids))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn pair(single: bool) -> LinkPair {
        LinkPair {
            field: FieldId::new(),
            partner: FieldId::new(),
            partner_table: TableId::new(),
            partner_name: "Tasks".into(),
            partner_single: single,
        }
    }

    #[test]
    fn writes_may_touch_pairs_only_through_paired_or_unknown_fields() {
        let text = crate::formula::test_field("Name", "text", &json!({}));
        let one_way = crate::formula::test_field(
            "Tags",
            "link",
            &json!({"linked_table_id": TableId::new().to_string()}),
        );
        let mut two_way = one_way.clone();
        two_way.id = FieldId::new();
        if let crate::fields::FieldType::Link(l) = &mut two_way.field_type {
            l.inverse_field_id = Some(FieldId::new());
        }
        let fields = [text.clone(), one_way.clone(), two_way.clone()];
        let unknown = FieldId::new().to_string();
        let may = |written: &[&str], all: bool| {
            may_touch_pairs(Some(&fields), written.iter().copied(), all)
        };
        // Many records naming the same unpaired cells: no pair touched.
        let many: Vec<&str> = std::iter::repeat_n([text.id.as_str(), one_way.id.as_str()], 1_000)
            .flatten()
            .collect();
        assert!(!may(&many, false));
        assert!(may(&[text.id.as_str(), two_way.id.as_str()], false));
        // A cell of a field the copy does not know: it may be paired.
        assert!(may(&[text.id.as_str(), &unknown], false));
        assert!(may(&[], true), "every cell is written, and one is paired");
        assert!(!may_touch_pairs(
            Some(&fields[..2]),
            std::iter::empty(),
            true
        ));
        assert!(may_touch_pairs(None, std::iter::empty(), false));
    }

    #[test]
    fn added_and_removed_links_become_edits_of_each_target() {
        let (a1, a2, b1, b2) = (
            RecordId::new(),
            RecordId::new(),
            RecordId::new(),
            RecordId::new(),
        );
        let edits = inverse_edits(&[(a1, vec![b1], vec![b2]), (a2, vec![], vec![b1, b2])]);
        let of = |t: RecordId| edits.iter().find(|e| e.target == t).unwrap().clone();
        assert_eq!(of(b1).remove, vec![a1]);
        assert_eq!(of(b1).add, vec![a2]);
        assert_eq!(of(b2).add, vec![a1, a2]);
        assert!(of(b2).remove.is_empty());
        let mut sorted: Vec<RecordId> = edits.iter().map(|e| e.target).collect();
        sorted.sort();
        assert_eq!(sorted, edits.iter().map(|e| e.target).collect::<Vec<_>>());
    }

    #[test]
    fn pair_edits_compare_each_written_record_with_its_cell_before() {
        let p = pair(false);
        let (a1, a2, a3, b1, b2) = (
            RecordId::new(),
            RecordId::new(),
            RecordId::new(),
            RecordId::new(),
            RecordId::new(),
        );
        let record = |id: RecordId, links: &[RecordId]| {
            let mut cells = crate::model::Cells::new();
            if !links.is_empty() {
                let ids: Vec<&str> = links.iter().map(RecordId::as_str).collect();
                cells.insert(p.field.to_string(), json!(ids));
            }
            Record {
                id,
                table_id: TableId::new(),
                cells,
                autonumber: 1,
                created_by: None,
                updated_by: None,
                created_time: chrono::Utc::now(),
                updated_time: chrono::Utc::now(),
                deleted_time: None,
            }
        };
        // a1: b1 -> b2; a2: unchanged b1; a3: nothing before -> b1.
        let before = HashMap::from([((p.field, a1), vec![b1]), ((p.field, a2), vec![b1])]);
        let after = [record(a1, &[b2]), record(a2, &[b1]), record(a3, &[b1])];
        let edits = pair_edits(&p, &before, &after);
        let of = |t: RecordId| edits.iter().find(|e| e.target == t).unwrap().clone();
        assert_eq!(edits.len(), 2);
        assert_eq!(of(b1).remove, vec![a1]);
        assert_eq!(of(b1).add, vec![a3]);
        assert_eq!(of(b2).add, vec![a1]);
        // Nothing changed: no edit at all.
        let same = [record(a2, &[b1])];
        assert!(pair_edits(&p, &before, &same).is_empty());
    }

    #[test]
    fn the_last_change_of_a_source_wins() {
        let (a1, b1) = (RecordId::new(), RecordId::new());
        let edits = inverse_edits(&[(a1, vec![], vec![b1]), (a1, vec![b1], vec![])]);
        assert_eq!(edits.len(), 1);
        assert!(edits[0].add.is_empty());
        assert_eq!(edits[0].remove, vec![a1]);
    }

    #[test]
    fn edits_keep_link_order_and_empty_cells_are_absent() {
        let (a1, a2, a3) = (RecordId::new(), RecordId::new(), RecordId::new());
        let cell = json!([a2.to_string(), a1.to_string()]);
        let edit = InverseEdit {
            target: RecordId::new(),
            remove: vec![a2],
            add: vec![a3, a1],
        };
        let out = apply_edits(&pair(false), Some(&cell), &edit, &[]).unwrap();
        assert_eq!(out.cell, Some(json!([a1.to_string(), a3.to_string()])));
        let clear = InverseEdit {
            target: RecordId::new(),
            remove: vec![a1, a2],
            add: vec![],
        };
        assert_eq!(
            apply_edits(&pair(false), Some(&cell), &clear, &[])
                .unwrap()
                .cell,
            None
        );
    }

    #[test]
    fn a_single_record_partner_refuses_a_second_link() {
        let (a1, a2) = (RecordId::new(), RecordId::new());
        let cell = json!([a1.to_string()]);
        let edit = InverseEdit {
            target: RecordId::new(),
            remove: vec![],
            add: vec![a2],
        };
        assert_eq!(holders_to_check(&pair(true), Some(&cell), &edit), vec![a1]);
        assert!(holders_to_check(&pair(false), Some(&cell), &edit).is_empty());
        let e = apply_edits(&pair(true), Some(&cell), &edit, &[]).unwrap_err();
        assert!(e.to_string().contains("at most one linked record"), "{e}");
        let swap = InverseEdit {
            target: RecordId::new(),
            remove: vec![a1],
            add: vec![a2],
        };
        assert!(holders_to_check(&pair(true), Some(&cell), &swap).is_empty());
        assert!(apply_edits(&pair(true), Some(&cell), &swap, &[]).is_ok());
        // A soft-deleted holder lets go; the added source takes the cell.
        let taken = apply_edits(&pair(true), Some(&cell), &edit, &[a1]).unwrap();
        assert_eq!(taken.cell, Some(json!([a2.to_string()])));
        assert_eq!(taken.let_go, vec![a1]);
        let target = edit.target;
        let own = json!([target.to_string(), a2.to_string()]);
        assert_eq!(
            without_target(Some(&own), target),
            Some(json!([a2.to_string()]))
        );
        assert_eq!(
            without_target(Some(&json!([target.to_string()])), target),
            None
        );
    }
}
