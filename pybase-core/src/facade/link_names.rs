//! Typecast of link cells by primary value, as Airtable's: with `typecast`,
//! a link cell may name linked records by their primary field's value
//! (`"Acme"`, or `["Acme", "rec…"]`) instead of by id. Each name becomes the
//! id of the first live record of the linked table (oldest first) whose
//! primary value is that text; a name no record has becomes a new record
//! of the linked table holding it, created before the write (as Airtable
//! does) and only once the rest of the write has validated.

use std::collections::{BTreeMap, HashMap};
use std::pin::Pin;

use serde_json::{Map, Value, json};

use super::Pybase;
use super::inputs::{CellsInput, QueryInput, WriteOptions};
use super::records::{Batch, MAX_BATCH};
use super::render::FieldKey;
use super::schema::validation;
use crate::error::{Error, FieldErrors, Result};
use crate::fields::Reference;
use crate::ids::{RecordId, TableId};
use crate::model::Field;
use crate::principal::Principal;
use crate::query::FieldIndex;

/// The names one link cell gives: strings that are not record ids (a
/// string alone, as typecast takes it, or the items of a list).
fn names_in(value: &Value) -> Vec<&str> {
    let is_name = |s: &&str| RecordId::parse(s).is_err() && !s.trim().is_empty();
    match value {
        Value::String(s) => Some(s.as_str()).filter(is_name).into_iter().collect(),
        Value::Array(items) => items
            .iter()
            .filter_map(Value::as_str)
            .filter(is_name)
            .collect(),
        _ => Vec::new(),
    }
}

/// The text a primary cell is matched by: a string as it is, a number or
/// a boolean as JSON writes it.
fn cell_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The link cells of one write that name records, by linked table, each
/// name once in first-seen order, with the link field each came from (for
/// errors).
type Wanted<'f> = BTreeMap<TableId, Vec<(String, &'f Field)>>;

/// Records made for names, each with its name.
type Named = Vec<(String, RecordId)>;

impl Pybase {
    /// With `opts.typecast`, rewrites the link cells of `inputs` that name
    /// records by primary value into record ids (see the module doc); a
    /// write without such names is left as it is and costs nothing more.
    /// `batch_mode` keys errors of the write's other cells as its batch
    /// would (`records[i].`).
    pub(super) async fn resolve_link_names(
        &self,
        principal: &Principal,
        fields: &[Field],
        inputs: &mut [&mut CellsInput],
        opts: WriteOptions,
        batch_mode: bool,
    ) -> Result<()> {
        if !opts.typecast {
            return Ok(());
        }
        let index = FieldIndex::new(fields);
        let mut wanted: Wanted<'_> = BTreeMap::new();
        for input in inputs.iter() {
            for (key, value) in input.iter() {
                let Some(field) = index.find(key) else {
                    continue;
                };
                let Some(Reference::Records(linked)) = field.field_type.references() else {
                    continue;
                };
                for name in names_in(value) {
                    let names = wanted.entry(linked).or_default();
                    if names.iter().all(|(n, _)| n != name) {
                        names.push((name.to_owned(), field));
                    }
                }
            }
        }
        if wanted.is_empty() {
            return Ok(());
        }
        let mut ids: HashMap<(TableId, String), RecordId> = HashMap::new();
        let mut missing: BTreeMap<TableId, Vec<(String, &Field)>> = BTreeMap::new();
        for (linked, names) in &wanted {
            let found = self.records_named(principal, *linked, names).await?;
            for (name, field) in names {
                match found.get(name) {
                    Some(id) => {
                        ids.insert((*linked, name.clone()), *id);
                    }
                    None => missing
                        .entry(*linked)
                        .or_default()
                        .push((name.clone(), field)),
                }
            }
        }
        if !missing.is_empty() {
            self.refuse_invalid_rest(fields, inputs, batch_mode)?;
            for (linked, names) in missing {
                for (name, id) in self.create_named(principal, linked, &names).await? {
                    ids.insert((linked, name), id);
                }
            }
        }
        for input in inputs.iter_mut() {
            for (key, value) in input.iter_mut() {
                let Some(Reference::Records(linked)) =
                    index.find(key).and_then(|f| f.field_type.references())
                else {
                    continue;
                };
                let id_of = |s: &str| ids.get(&(linked, s.to_owned())).map(|id| json!(id));
                match value {
                    Value::String(s) => {
                        if let Some(id) = id_of(s) {
                            *value = Value::Array(vec![id]);
                        }
                    }
                    Value::Array(items) => {
                        for item in items.iter_mut() {
                            if let Some(id) = item.as_str().and_then(id_of) {
                                *item = id;
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    }

    /// The oldest live record of `table` for each of `names` that its
    /// primary field holds exactly.
    async fn records_named(
        &self,
        principal: &Principal,
        table: TableId,
        names: &[(String, &Field)],
    ) -> Result<HashMap<String, RecordId>> {
        let mut out = HashMap::new();
        let primary = self.linked_primary(table).await?;
        let Some(primary) = primary else {
            return Ok(out);
        };
        for chunk in names.chunks(self.limits.filter_values.max(1)) {
            let values: Vec<&str> = chunk.iter().map(|(n, _)| n.as_str()).collect();
            let mut cursor = None;
            loop {
                let page = self
                    .query_records(
                        principal,
                        table,
                        QueryInput {
                            filter: Some(json!({
                                "field": primary.id, "op": "in", "value": values,
                            })),
                            fields: Some(vec![primary.id.to_string()]),
                            page_size: Some(1000),
                            cursor,
                            ..QueryInput::default()
                        },
                        FieldKey::Id,
                    )
                    .await
                    .map_err(|e| match e {
                        Error::Validation { .. } => Error::invalid(
                            chunk[0].1.name.clone(),
                            format!(
                                "record ids (the linked table's primary field {:?}, a {} field, \
                                 cannot match names)",
                                primary.name,
                                primary.field_type.type_name()
                            ),
                        ),
                        other => other,
                    })?;
                for r in &page.records {
                    if let Some(text) = r.fields.get(primary.id.as_str()).and_then(cell_text) {
                        out.entry(text).or_insert(r.id);
                    }
                }
                match page.next_cursor {
                    Some(c) => cursor = Some(c),
                    None => break,
                }
            }
        }
        Ok(out)
    }

    /// The primary field of `table`, if it has one.
    async fn linked_primary(&self, table: TableId) -> Result<Option<Field>> {
        let t = self.store.get_table(table).await?;
        let Some(id) = t.primary_field_id else {
            return Ok(None);
        };
        Ok(self
            .store
            .list_fields(table)
            .await?
            .into_iter()
            .find(|f| f.id == id))
    }

    /// Creates one record of `table` per name, holding it as its primary
    /// value; the ids by name. More than [`MAX_BATCH`] new records in one
    /// write, or a primary field that cannot be written, is a 422 naming
    /// the link field.
    ///
    /// Boxed with its type named: a create resolves link names, which may
    /// create records, so the futures would otherwise contain each other.
    fn create_named<'a>(
        &'a self,
        principal: &'a Principal,
        table: TableId,
        names: &'a [(String, &'a Field)],
    ) -> Pin<Box<dyn Future<Output = Result<Named>> + Send + 'a>> {
        Box::pin(self.create_named_now(principal, table, names))
    }

    async fn create_named_now(
        &self,
        principal: &Principal,
        table: TableId,
        names: &[(String, &Field)],
    ) -> Result<Vec<(String, RecordId)>> {
        let field = names
            .first()
            .map(|(_, f)| f.name.clone())
            .unwrap_or_default();
        if names.len() > MAX_BATCH {
            return Err(Error::invalid(
                field,
                format!(
                    "at most {MAX_BATCH} new linked records in one write (typecast creates one \
                     per name no record has), got {}",
                    names.len()
                ),
            ));
        }
        let Some(primary) = self.linked_primary(table).await? else {
            return Err(Error::invalid(
                field,
                "record ids (the linked table has no primary field)",
            ));
        };
        if primary.field_type.is_computed() {
            return Err(Error::invalid(
                field,
                format!(
                    "record ids, or names of existing records: no record has {:?}, and the \
                     linked table's primary field {:?} is computed, so none can be created",
                    names[0].0, primary.name
                ),
            ));
        }
        let inputs: Vec<CellsInput> = names
            .iter()
            .map(|(name, _)| {
                let mut m = Map::new();
                m.insert(primary.id.to_string(), json!(name));
                m
            })
            .collect();
        let created = self
            .create_records(
                principal,
                table,
                inputs,
                WriteOptions {
                    typecast: true,
                    field_key: FieldKey::Id,
                },
            )
            .await
            .map_err(|e| match e {
                Error::Validation { message, .. } => Error::invalid(
                    field.clone(),
                    format!("names the linked table's primary field takes: {message}"),
                ),
                other => other,
            })?;
        Ok(names
            .iter()
            .zip(created)
            .map(|((name, _), r)| (name.clone(), r.id))
            .collect())
    }

    /// Validates `inputs` with their link cells left out and fails with
    /// what is wrong, so that no linked record is created for a write that
    /// would fail anyway.
    fn refuse_invalid_rest(
        &self,
        fields: &[Field],
        inputs: &[&mut CellsInput],
        batch_mode: bool,
    ) -> Result<()> {
        let index = FieldIndex::new(fields);
        let mut batch = Batch::new(fields, &self.limits, true);
        for (i, input) in inputs.iter().enumerate() {
            let rest: CellsInput = input
                .iter()
                .filter(|(k, _)| {
                    !matches!(
                        index.find(k).and_then(|f| f.field_type.references()),
                        Some(Reference::Records(_))
                    )
                })
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            let prefix = if batch_mode {
                format!("records[{i}].")
            } else {
                String::new()
            };
            batch.prepare(&rest, &prefix);
        }
        let errors: FieldErrors = batch.take_errors();
        if errors.is_empty() {
            return Ok(());
        }
        let first = errors
            .iter()
            .next()
            .map(|(k, v)| format!("{k}: {v}"))
            .unwrap_or_default();
        Err(validation(first, errors))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_strings_that_are_not_record_ids() {
        let id = RecordId::new().to_string();
        assert_eq!(names_in(&json!("Acme")), vec!["Acme"]);
        assert!(names_in(&json!(id)).is_empty());
        assert_eq!(
            names_in(&json!(["Acme", id, "", 3, "Beta"])),
            vec!["Acme", "Beta"]
        );
        assert!(names_in(&json!(null)).is_empty());
        assert_eq!(cell_text(&json!(12)), Some("12".into()));
        assert_eq!(cell_text(&json!(["x"])), None);
    }
}
