//! A field re-typed into a link of another table (from text, a number, a
//! select, a date, ... or a link of a different table) keeps what its
//! cells said, as Airtable's conversion does: each cell names linked
//! records by primary value, as a typecast write names them
//! ([`super::link_names`]). A text cell is split at commas (`"Acme,
//! Beta"` names two records, a part between double quotes is one name); a
//! multiple select's choices name one record each, and any other value (a
//! choice, a number, a date) one record; a link of another table names its
//! linked records' primary values, one name each. A name links the oldest live
//! record of the linked table with that primary value, and a name no
//! record has becomes a new record holding it. A text that is a record id
//! links that record if it is a live record of the linked table.
//!
//! Everything is planned and checked before any record is made: a name
//! the primary field cannot take, two names in a link that takes one, or
//! more than [`MAX_NEW_RECORDS`] new records fail the conversion, which
//! then changes nothing. The new records are made before the cells are
//! rewritten in the conversion's transaction; should the conversion fail
//! after all (its cells kept changing, or changed into cells that cannot
//! convert), the records it made go to the trash (`conversion.rs`).

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value};

use super::Pybase;
use super::inputs::{CellsInput, WriteOptions};
use super::link_names::{NewNamed, cell_text};
use super::records::MAX_BATCH;
use super::render::FieldKey;
use crate::error::{Error, FieldErrors, Result};
use crate::fields::{FieldType, Reference, convert_cell};
use crate::ids::{RecordId, TableId};
use crate::model::Field;
use crate::principal::Principal;
use crate::store::links::link_ids;

/// Most records one conversion into a link may create in the linked table.
pub(super) const MAX_NEW_RECORDS: usize = 10 * MAX_BATCH;

/// Cells planned per call of the names' planner (each call looks its names
/// up, and may plan at most [`MAX_BATCH`] new records).
const PLAN_CHUNK: usize = 100;

/// A conversion's outcome: the cells to write, or what failed.
pub(super) type LinkCells = std::result::Result<Vec<(RecordId, Option<Value>)>, Vec<String>>;

/// Whether changing `old` into `new` converts cells into links of another
/// table (and so needs [`Pybase::cells_into_links`]).
pub(super) fn links_another_table(old: &FieldType, new: &FieldType) -> bool {
    match new.references() {
        Some(Reference::Records(to)) => old.references() != Some(Reference::Records(to)),
        _ => false,
    }
}

/// The names a cell's text gives: its parts between commas (a quoted part
/// whole, `crate::fields::split_names`), trimmed, each once, in order.
fn names_in_text(text: &str) -> Vec<String> {
    let mut seen = HashSet::new();
    crate::fields::split_names(text)
        .into_iter()
        .filter(|s| seen.insert(s.clone()))
        .collect()
}

impl Pybase {
    /// The stored `cells` of `old` as links of `field` (its new type),
    /// making the records names need (see the module doc) and adding them
    /// to `made`; `Err` lists the cells that cannot convert (nothing was
    /// made then).
    pub(super) async fn cells_into_links(
        &self,
        principal: &Principal,
        old: &Field,
        field: &Field,
        mut cells: Vec<(RecordId, Value)>,
        made: &mut Vec<(TableId, RecordId)>,
    ) -> Result<LinkCells> {
        let Some(Reference::Records(linked)) = field.field_type.references() else {
            return Ok(Ok(Vec::new()));
        };
        if let Some(Reference::Records(from)) = old.field_type.references() {
            cells = self.link_cells_as_titles(from, cells).await?;
        }
        let text = FieldType::from_parts("long_text", &Value::Null)
            .map_err(|e| Error::Internal(format!("the long_text type: {}", e.message).into()))?;
        let mut failures = Vec::new();
        // Each cell's names (a list), keyed by the new field's id.
        let mut named: Vec<(RecordId, CellsInput)> = Vec::with_capacity(cells.len());
        for (record, value) in cells {
            let names: Vec<String> = match (&value, old.field_type.references()) {
                (_, Some(Reference::Attachments)) if !crate::fields::is_empty_value(&value) => {
                    failures.push(format!(
                        "record {record}: attachments do not convert to links"
                    ));
                    continue;
                }
                // A link's titles: one name each, commas and all. A linked
                // record with an empty primary value has none (its title is
                // its id): it cannot be named in the new table.
                (Value::Array(items), Some(Reference::Records(_))) => {
                    let titles: Vec<&str> = items.iter().filter_map(Value::as_str).collect();
                    if let Some(unnamed) = titles.iter().find(|t| RecordId::parse(t).is_ok()) {
                        failures.push(format!(
                            "record {record}: it links {unnamed}, whose primary value is empty, \
                             so no record of the new linked table can be named by it (give it \
                             a name, or unlink it, first)"
                        ));
                        continue;
                    }
                    titles
                        .into_iter()
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect()
                }
                // A multiple select's choices: one name each, commas and all.
                (Value::Array(items), _) if items.iter().all(Value::is_string) => items
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect(),
                // Text is read as a list of names; any other value (a
                // choice, a number, a date, ...) is one name.
                _ => match convert_cell(&old.field_type, &text, &value) {
                    Ok(Some(Value::String(s))) if old.field_type.kind().is_free_text() => {
                        names_in_text(&s)
                    }
                    Ok(Some(Value::String(s))) => {
                        let name = s.trim();
                        if name.is_empty() {
                            Vec::new()
                        } else {
                            vec![name.to_owned()]
                        }
                    }
                    Ok(_) => Vec::new(),
                    Err(e) => {
                        failures.push(format!("record {record}: {e}"));
                        continue;
                    }
                },
            };
            let mut input = Map::new();
            input.insert(
                field.id.to_string(),
                Value::Array(names.into_iter().map(Value::String).collect()),
            );
            named.push((record, input));
        }
        // Plan every cell before anything is made.
        let fields = std::slice::from_ref(field);
        let opts = WriteOptions {
            typecast: true,
            field_key: FieldKey::Id,
        };
        let mut new: Vec<NewNamed> = Vec::new();
        for chunk in named.chunks_mut(PLAN_CHUNK) {
            let records: Vec<RecordId> = chunk.iter().map(|(r, _)| *r).collect();
            let mut inputs: Vec<&mut CellsInput> = chunk.iter_mut().map(|(_, i)| i).collect();
            match self
                .plan_link_names(principal, fields, &mut inputs, opts, true)
                .await
            {
                Ok(planned) => new.extend(planned),
                Err(Error::Validation { fields: errors, .. }) => {
                    failures.extend(failures_of(&records, errors));
                }
                Err(e) => return Err(e),
            }
        }
        // A name new to several chunks is one record.
        let mut first_of: HashMap<String, RecordId> = HashMap::new();
        let mut same_as: HashMap<RecordId, RecordId> = HashMap::new();
        new.retain(|n| match cell_text(n.value()) {
            Some(t) => match first_of.get(&t) {
                Some(first) => {
                    same_as.insert(n.placeholder, *first);
                    false
                }
                None => {
                    first_of.insert(t, n.placeholder);
                    true
                }
            },
            None => true,
        });
        if new.len() > MAX_NEW_RECORDS && failures.is_empty() {
            return Err(Error::invalid(
                field.name.clone(),
                format!(
                    "cells naming at most {MAX_NEW_RECORDS} values no record of the linked table \
                     has (a conversion makes a record for each), got {} (create them first, or \
                     convert in steps); nothing was changed",
                    new.len()
                ),
            ));
        }
        let placeholders: HashSet<RecordId> = new.iter().map(|n| n.placeholder).collect();
        if let Some(bad) = self
            .foreign_ids(linked, &named, &placeholders, &same_as)
            .await?
        {
            failures.extend(bad);
        }
        if !failures.is_empty() {
            return Ok(Err(failures));
        }
        let mut named_ids: HashMap<RecordId, RecordId> = HashMap::new();
        for chunk in new.chunks(MAX_BATCH) {
            let named = self.create_named(principal, chunk).await?;
            named_ids.extend(named.ids);
            made.extend(named.made);
        }
        let id_of = |id: RecordId| {
            let id = same_as.get(&id).copied().unwrap_or(id);
            named_ids.get(&id).copied().unwrap_or(id)
        };
        Ok(Ok(named
            .into_iter()
            .map(|(record, input)| {
                let ids: Vec<Value> = link_ids(input.get(field.id.as_str()))
                    .into_iter()
                    .map(|id| Value::String(id_of(id).to_string()))
                    .collect();
                (record, (!ids.is_empty()).then_some(Value::Array(ids)))
            })
            .collect()))
    }

    /// The cells of `named` that give a record id (a text that is one)
    /// which is not a live record of `linked`, as failures; `None` if all
    /// do. Placeholders of records to make are not ids to check.
    async fn foreign_ids(
        &self,
        linked: TableId,
        named: &[(RecordId, CellsInput)],
        placeholders: &HashSet<RecordId>,
        same_as: &HashMap<RecordId, RecordId>,
    ) -> Result<Option<Vec<String>>> {
        let given = |input: &CellsInput| {
            link_ids(input.values().next())
                .into_iter()
                .filter(|id| !placeholders.contains(id) && !same_as.contains_key(id))
                .collect::<Vec<_>>()
        };
        let mut ids: Vec<RecordId> = named.iter().flat_map(|(_, i)| given(i)).collect();
        if ids.is_empty() {
            return Ok(None);
        }
        ids.sort_unstable();
        ids.dedup();
        let mut live = HashSet::new();
        for chunk in ids.chunks(1000) {
            live.extend(self.live_set(linked, chunk).await?);
        }
        let bad: Vec<String> = named
            .iter()
            .filter_map(|(record, input)| {
                let missing: Vec<String> = given(input)
                    .into_iter()
                    .filter(|id| !live.contains(id))
                    .map(|id| id.to_string())
                    .collect();
                (!missing.is_empty()).then(|| {
                    format!(
                        "record {record}: {} is not a live record of the linked table",
                        missing.join(", ")
                    )
                })
            })
            .collect();
        Ok((!bad.is_empty()).then_some(bad))
    }
}

/// The planner's errors (keyed `records[i].<field>` by a chunk's index, or
/// `records` for the whole chunk) as failures naming the records.
fn failures_of(records: &[RecordId], errors: FieldErrors) -> Vec<String> {
    errors
        .into_iter()
        .map(|(key, message)| {
            let record = key
                .strip_prefix("records[")
                .and_then(|rest| rest.split_once(']'))
                .and_then(|(i, _)| i.parse::<usize>().ok())
                .and_then(|i| records.get(i));
            match record {
                Some(r) => format!("record {r}: {message}"),
                None => message,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_text_names_its_parts_between_commas_once_each() {
        assert_eq!(names_in_text("Acme, Beta,,Acme , "), vec!["Acme", "Beta"]);
        assert!(names_in_text(" , ").is_empty());
        assert_eq!(names_in_text("one"), vec!["one"]);
    }

    #[test]
    fn planner_errors_name_the_records_of_their_chunk() {
        let records = [RecordId::new(), RecordId::new()];
        let mut errors = FieldErrors::new();
        errors.insert("records[1].Vendor".into(), "at most one".into());
        errors.insert("records".into(), "too many names".into());
        let out = failures_of(&records, errors);
        assert!(out.contains(&format!("record {}: at most one", records[1])));
        assert!(out.contains(&"too many names".to_owned()));
    }
}
