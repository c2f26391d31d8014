//! Typecast of link cells by primary value, as Airtable's: with `typecast`,
//! a link cell may name linked records by their primary field's value
//! (`"Acme"`, or `["Acme", "rec…"]`) instead of by id.
//!
//! A name is read as the linked table's primary field would take it with
//! typecast (`"12.00"` for a number field is 12, `"May 1, 2024"` for a date
//! field is `2024-05-01`) and matched against the primary values of the
//! table's live records: it links the oldest match. A name no record has
//! becomes a new record of the linked table holding that value. The write
//! is planned first ([`Pybase::plan_link_names`]: new names get placeholder
//! ids, so the whole write can be validated before anything is created);
//! the records are made only once it validated ([`Pybase::create_named`]),
//! one writer at a time per linked table in this process, looking the
//! names up again first, so two writes naming the same new value at once
//! make one record.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{Hash as _, Hasher as _};
use std::pin::Pin;
use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::Pybase;
use super::inputs::{CellsInput, QueryInput, WriteOptions};
use super::records::MAX_BATCH;
use super::render::FieldKey;
use super::write_checks::batch_prefix;
use crate::error::{Error, FieldErrors, Result};
use crate::fields::{FieldType, Reference};
use crate::ids::{RecordId, TableId, UserId};
use crate::model::Field;
use crate::principal::Principal;
use crate::query::FieldIndex;
use crate::store::acting;

tokio::task_local! {
    /// Where [`Pybase::create_named`] notes the records it makes, while a
    /// write runs under [`collecting_made`].
    static MADE: Arc<std::sync::Mutex<Vec<(TableId, RecordId)>>>;
}

/// Runs `work`, a write, noting the records the link names of its inputs
/// made ([`Pybase::create_named`]): answers its output and those records.
pub(super) async fn collecting_made<F: Future>(work: F) -> (F::Output, Vec<(TableId, RecordId)>) {
    let made = Arc::new(std::sync::Mutex::new(Vec::new()));
    let out = MADE.scope(Arc::clone(&made), work).await;
    let made = std::mem::take(
        &mut *made
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    );
    (out, made)
}

/// What [`Pybase::create_named`] did.
pub(super) struct Named {
    /// Each placeholder's record: one found by its name, or one made.
    pub(super) ids: HashMap<RecordId, RecordId>,
    /// The records made, each with its table.
    pub(super) made: Vec<(TableId, RecordId)>,
}

/// Stripes of the per-table lock of [`Pybase::create_named`].
pub(super) const NAME_LOCK_STRIPES: usize = 64;

/// The names one link cell gives: strings that are not record ids (a
/// string alone, as typecast takes it, or the items of a list).
fn names_in(value: &Value) -> Vec<&str> {
    let is_name = |s: &&str| RecordId::parse(s).is_err();
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

/// With typecast, a link cell given as one text names its records as a
/// list (as pasting into Airtable's link cell, and as a text field
/// converting into a link): the text is split at commas outside double
/// quotes (`"Beta, Inc", Acme` names two records), each part a name or a
/// record id; an empty text clears the cell.
fn split_link_texts(index: &FieldIndex<'_>, inputs: &mut [&mut CellsInput]) {
    for input in inputs.iter_mut() {
        for (key, value) in input.iter_mut() {
            let is_link = index
                .find(key)
                .and_then(|f| f.field_type.references())
                .is_some_and(|r| matches!(r, Reference::Records(_)));
            if let (true, Value::String(text)) = (is_link, &*value) {
                let parts = crate::fields::split_names(text);
                *value = Value::Array(parts.into_iter().map(Value::String).collect());
            }
        }
    }
}

/// The text a primary value is matched by: a string as it is, a number or
/// a boolean as JSON writes it.
pub(super) fn cell_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// "a" or "an" before `word`.
fn article(word: &str) -> &'static str {
    if word.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

/// A record a write will create for a name no record has.
pub(super) struct NewNamed {
    /// The linked table.
    table: TableId,
    /// Its primary field.
    primary: Field,
    /// The primary value, as the field stores it.
    value: Value,
    /// The id the write's cells name it by until it exists.
    pub(super) placeholder: RecordId,
}

impl NewNamed {
    /// The primary value the record will hold, as the field stores it.
    pub(super) fn value(&self) -> &Value {
        &self.value
    }
}

/// Most distinct names one write may give (each is looked up).
const MAX_LINK_NAMES: usize = 10 * MAX_BATCH;

/// One linked table's names as a write gives them: each once, with the
/// error key and link field of its first cell.
#[derive(Default)]
struct Given<'f> {
    names: Vec<(String, String, &'f Field)>,
    seen: HashSet<String>,
}

/// One linked table's names in a write: each distinct value once, with
/// the names that read as it and where the first was given.
struct Wanted<'f> {
    /// `(matching text, stored value)` in first-seen order.
    values: Vec<(String, Value)>,
    /// The matching text of every name given.
    by_name: HashMap<String, String>,
    /// The first error key and link field naming this table.
    key: String,
    field: &'f Field,
}

impl Pybase {
    /// Sends the records a failed conversion or write made (for link names)
    /// to the trash, those still live, as done by `user`; a failure here is
    /// logged, the conversion's or write's error is the one answered.
    pub(super) async fn trash_made(&self, user: UserId, made: &[(TableId, RecordId)]) {
        let mut by_table: HashMap<TableId, Vec<RecordId>> = HashMap::new();
        for (t, r) in made {
            by_table.entry(*t).or_default().push(*r);
        }
        for (t, ids) in by_table {
            let trashed = async {
                let live = self.live_set(t, &ids).await?;
                let ids: Vec<RecordId> = ids.into_iter().filter(|r| live.contains(r)).collect();
                if ids.is_empty() {
                    return Ok(());
                }
                let at = self.clock.now();
                self.writing_any(t, acting(user, self.store.delete_records(t, &ids, at)))
                    .await?;
                Ok::<(), Error>(())
            };
            if let Err(e) = trashed.await {
                tracing::warn!(table = %t, error = %e,
                    "a failed conversion or write could not trash the records it made for link names");
            }
        }
    }

    /// With `opts.typecast`, rewrites the names in the link cells of
    /// `inputs` (see the module doc) into the ids of the records they
    /// match, or into placeholder ids of records to create, which it
    /// answers; a write without names is left as it is and costs nothing.
    /// A name the primary field cannot take, or one that would need a
    /// record where none can be created, is a 422 naming its cell.
    pub(super) async fn plan_link_names(
        &self,
        principal: &Principal,
        fields: &[Field],
        inputs: &mut [&mut CellsInput],
        opts: WriteOptions,
        batch_mode: bool,
    ) -> Result<Vec<NewNamed>> {
        if !opts.typecast {
            return Ok(Vec::new());
        }
        let index = FieldIndex::new(fields);
        split_link_texts(&index, inputs);
        let mut given: BTreeMap<TableId, Given<'_>> = BTreeMap::new();
        let mut count = 0_usize;
        let mut errors = FieldErrors::new();
        for (i, input) in inputs.iter().enumerate() {
            for (key, value) in input.iter() {
                let Some(field) = index.find(key) else {
                    continue;
                };
                let Some(Reference::Records(linked)) = field.field_type.references() else {
                    continue;
                };
                let names = names_in(value);
                if names.is_empty() {
                    continue;
                }
                let ekey = || format!("{}{}", batch_prefix(batch_mode, i), field.name);
                // Said before the names are looked up (and become ids,
                // which the caller never saw): too many items, or two on
                // a link that takes one.
                if let Err(e) = self.limits.check_cell(&field.field_type, value) {
                    errors.insert(ekey(), e);
                    continue;
                }
                if let (FieldType::Link(link), Value::Array(items)) = (&field.field_type, value)
                    && !link.allow_multiple
                    && items.len() > 1
                {
                    errors.insert(ekey(), format!("at most one linked record, got {value}"));
                    continue;
                }
                let table = given.entry(linked).or_default();
                for name in names {
                    if table.seen.insert(name.to_owned()) {
                        table.names.push((name.to_owned(), ekey(), field));
                        count += 1;
                    }
                }
            }
        }
        if count > MAX_LINK_NAMES {
            errors.insert(
                "records".into(),
                format!(
                    "at most {MAX_LINK_NAMES} distinct link names in one write (typecast looks \
                     each up), got {count}"
                ),
            );
            return Err(super::write_checks::errors_as_validation(errors));
        }
        if given.is_empty() && errors.is_empty() {
            return Ok(Vec::new());
        }
        // (linked table, name given) -> the id it becomes.
        let mut ids: HashMap<(TableId, String), RecordId> = HashMap::new();
        let mut new = Vec::new();
        for (linked, table) in given {
            // Matching text -> id, for this table.
            let mut by_text: HashMap<String, RecordId> = HashMap::new();
            let Some(primary) = self.linked_primary(linked).await? else {
                for (_, key, _) in table.names {
                    errors.insert(
                        key,
                        "record ids (the linked table has no primary field)".into(),
                    );
                }
                continue;
            };
            let Some(wanted) = read_names(&primary, table.names, &mut errors) else {
                continue;
            };
            let found = self
                .records_named(principal, linked, &primary, &wanted)
                .await?;
            for (text, value) in &wanted.values {
                let id = match found.get(text) {
                    Some(id) => *id,
                    None if primary.field_type.is_computed() => {
                        errors.insert(
                            wanted.key.clone(),
                            format!(
                                "record ids, or names of existing records: no record has {text:?}, \
                                 and the linked table's primary field {:?} is computed, so none \
                                 can be created",
                                primary.name
                            ),
                        );
                        continue;
                    }
                    None => {
                        let placeholder = RecordId::new();
                        new.push(NewNamed {
                            table: linked,
                            primary: primary.clone(),
                            value: value.clone(),
                            placeholder,
                        });
                        placeholder
                    }
                };
                by_text.insert(text.clone(), id);
            }
            for (name, text) in &wanted.by_name {
                if let Some(id) = by_text.get(text) {
                    ids.insert((linked, name.clone()), *id);
                }
            }
        }
        if new.len() > MAX_BATCH {
            errors.insert(
                "records".into(),
                format!(
                    "at most {MAX_BATCH} new linked records in one write (typecast creates one per \
                     name no record has), got {}",
                    new.len()
                ),
            );
        }
        if !errors.is_empty() {
            return Err(super::write_checks::errors_as_validation(errors));
        }
        rewrite_links(&index, inputs, |linked, name| {
            ids.get(&(linked, name.to_owned())).copied()
        });
        Ok(new)
    }

    /// Creates the records of `new` (see the module doc) and answers the
    /// real id of each placeholder, with the records it made.
    pub(super) async fn create_named(
        &self,
        principal: &Principal,
        new: &[NewNamed],
    ) -> Result<Named> {
        let mut out = HashMap::new();
        let mut made = Vec::new();
        let mut by_table: BTreeMap<TableId, Vec<&NewNamed>> = BTreeMap::new();
        for n in new {
            by_table.entry(n.table).or_default().push(n);
        }
        for (table, named) in by_table {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            table.hash(&mut h);
            // The stripe count is small: the remainder fits any usize.
            #[allow(clippy::cast_possible_truncation)]
            let stripe = (h.finish() % NAME_LOCK_STRIPES as u64) as usize;
            let _one_at_a_time = self.name_locks[stripe].lock().await;
            let primary = &named[0].primary;
            let wanted = Wanted {
                values: named
                    .iter()
                    .filter_map(|n| Some((cell_text(&n.value)?, n.value.clone())))
                    .collect(),
                by_name: HashMap::new(),
                key: primary.name.clone(),
                field: primary,
            };
            // Made by another write since the plan: linked, not made again.
            // A lookup refused here means the primary field changed type
            // since the plan: the write is checked again from the start
            // (`write_gates.rs`, `Pybase::rechecked`).
            let found = self
                .records_named(principal, table, primary, &wanted)
                .await
                .map_err(|e| match e {
                    Error::Validation { .. } => Error::Conflict {
                        field: super::write_gates::STALE_FIELDS.into(),
                        message: format!(
                            "the primary field {:?} of a linked table changed type while this \
                             write named records by it; nothing was written, try again",
                            primary.name
                        ),
                    },
                    other => other,
                })?;
            let mut to_make = Vec::new();
            for n in named {
                match cell_text(&n.value).and_then(|t| found.get(&t)) {
                    Some(id) => {
                        out.insert(n.placeholder, *id);
                    }
                    None => to_make.push(n),
                }
            }
            if to_make.is_empty() {
                continue;
            }
            let inputs: Vec<CellsInput> = to_make
                .iter()
                .map(|n| {
                    let mut m = Map::new();
                    m.insert(n.primary.id.to_string(), n.value.clone());
                    m
                })
                .collect();
            let created = self.create_boxed(principal, table, inputs).await?;
            for (n, r) in to_make.iter().zip(created) {
                out.insert(n.placeholder, r.id);
                made.push((table, r.id));
            }
        }
        let _ = MADE.try_with(|noted| {
            noted
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .extend(made.iter().copied());
        });
        Ok(Named { ids: out, made })
    }

    /// [`Self::create_records`] boxed with its type named: a create plans
    /// link names, which may create records, so the futures would
    /// otherwise contain each other.
    fn create_boxed<'a>(
        &'a self,
        principal: &'a Principal,
        table: TableId,
        inputs: Vec<CellsInput>,
    ) -> Pin<Box<dyn Future<Output = Result<Vec<super::RecordOut>>> + Send + 'a>> {
        Box::pin(self.create_records(
            principal,
            table,
            inputs,
            // Typecast adds a select choice a select primary field lacks.
            WriteOptions {
                typecast: true,
                field_key: FieldKey::Id,
            },
        ))
    }

    /// The oldest live record of `table` for each value of `wanted` whose
    /// primary value reads as its text.
    async fn records_named(
        &self,
        principal: &Principal,
        table: TableId,
        primary: &Field,
        wanted: &Wanted<'_>,
    ) -> Result<HashMap<String, RecordId>> {
        let mut out = HashMap::new();
        // A select's filter takes only its choices: a value that is not
        // one yet is no record's (its record will add it).
        let choices: Vec<&str> = primary
            .field_type
            .choices()
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        let askable: Vec<&(String, Value)> = wanted
            .values
            .iter()
            .filter(|(text, _)| {
                primary.field_type.type_name() != "single_select"
                    || choices.contains(&text.as_str())
            })
            .collect();
        for chunk in askable.chunks(self.limits.filter_values.max(1)) {
            let values: Vec<&Value> = chunk.iter().map(|(_, v)| v).collect();
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
                            wanted.key.clone(),
                            format!(
                                "record ids (the primary field {:?} of the table {:?} links \
                                 to, {} {} field, cannot be matched by name)",
                                primary.name,
                                wanted.field.name,
                                article(primary.field_type.type_name()),
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
}

/// Reads `names` as `primary` takes them with typecast (a computed primary
/// field: as they are), or records the error under `key`.
fn read_names<'f>(
    primary: &Field,
    names: Vec<(String, String, &'f Field)>,
    errors: &mut FieldErrors,
) -> Option<Wanted<'f>> {
    let (key, field) = names.first().map(|(_, k, f)| (k.clone(), *f))?;
    let mut wanted = Wanted {
        values: Vec::new(),
        by_name: HashMap::new(),
        key,
        field,
    };
    let mut seen: HashSet<String> = HashSet::new();
    let mut failed = false;
    for (name, key, _) in names {
        let value = if primary.field_type.is_computed() {
            Some(Value::String(name.clone()))
        } else {
            match primary.field_type.validate_cell(&json!(name), true) {
                Ok(v) => v,
                Err(e) => {
                    errors.insert(
                        key,
                        format!(
                            "record ids, or values of the linked table's primary field {:?} \
                             ({} {} field): {name:?} is not one ({})",
                            primary.name,
                            article(primary.field_type.type_name()),
                            primary.field_type.type_name(),
                            e.expected
                        ),
                    );
                    failed = true;
                    continue;
                }
            }
        };
        let Some((text, value)) = value.and_then(|v| Some((cell_text(&v)?, v))) else {
            errors.insert(
                key,
                format!(
                    "record ids, or names of linked records that the primary field {:?} holds \
                     as one value, got {name:?}",
                    primary.name
                ),
            );
            failed = true;
            continue;
        };
        if seen.insert(text.clone()) {
            wanted.values.push((text.clone(), value));
        }
        wanted.by_name.insert(name, text);
    }
    (!failed).then_some(wanted)
}

/// Replaces each name in the link cells of `inputs` by the id `id_of`
/// gives for (linked table, name), if any (a lone name becomes a list).
pub(super) fn rewrite_links(
    index: &FieldIndex<'_>,
    inputs: &mut [&mut CellsInput],
    id_of: impl Fn(TableId, &str) -> Option<RecordId>,
) {
    for input in inputs.iter_mut() {
        for (key, value) in input.iter_mut() {
            let Some(Reference::Records(linked)) =
                index.find(key).and_then(|f| f.field_type.references())
            else {
                continue;
            };
            match value {
                Value::String(s) => {
                    if let Some(id) = id_of(linked, s) {
                        *value = Value::Array(vec![json!(id)]);
                    }
                }
                Value::Array(items) => {
                    for item in items.iter_mut() {
                        if let Some(id) = item.as_str().and_then(|s| id_of(linked, s)) {
                            *item = json!(id);
                        }
                    }
                }
                _ => {}
            }
        }
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
            vec!["Acme", "", "Beta"]
        );
        assert!(names_in(&json!(null)).is_empty());
        assert_eq!(cell_text(&json!(12)), Some("12".into()));
        assert_eq!(cell_text(&json!(["x"])), None);
        assert_eq!(article("email"), "an");
        assert_eq!(article("number"), "a");
    }
}
