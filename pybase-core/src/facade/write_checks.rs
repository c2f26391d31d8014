//! The checks of a write that need the store, and what a checked write
//! settles in its inputs before them: links named by primary value and
//! attachments of other tables, planned, checked with the whole write,
//! and made only once it passed (`link_names.rs`, `attachment_copies.rs`).

use std::collections::{HashMap, HashSet};

use super::Pybase;
use super::authz::TableScope;
use super::inputs::{CellsInput, WriteOptions};
use super::records::Batch;
use super::schema::validation;
use crate::error::{Error, FieldErrors, Result};
use crate::ids::{AttachmentId, RecordId, TableId};
use crate::model::Field;
use crate::principal::Principal;
use crate::query::FieldIndex;
use crate::store::links::link_ids;

/// Ids a write is about to create (records for link names, copies of
/// attachments): the checks of [`Pybase::batch_errors`] take them as live
/// records and as attachments of the written table.
#[derive(Default)]
pub(super) struct Pending {
    /// Records to be created.
    pub(super) records: HashSet<RecordId>,
    /// Attachments to be copied into the written table.
    pub(super) attachments: HashSet<AttachmentId>,
}

/// A validation error of every error in `errors`, its message the first.
pub(super) fn errors_as_validation(errors: FieldErrors) -> Error {
    let first = errors
        .iter()
        .next()
        .map(|(k, v)| format!("{k}: {v}"))
        .unwrap_or_default();
    validation(first, errors)
}

/// The error key prefix of input `i`: `records[i].` in batch mode.
pub(super) fn batch_prefix(batch_mode: bool, i: usize) -> String {
    if batch_mode {
        format!("records[{i}].")
    } else {
        String::new()
    }
}

/// Which write [`Pybase::settle_inputs`] settles, for the checks only it
/// makes.
#[derive(Clone, Copy)]
pub(super) enum WriteKind<'a> {
    /// New records.
    Create,
    /// Updates of these records (in input order), which must be live.
    Update(&'a [RecordId]),
    /// An upsert on these merge fields, whose keys must not repeat.
    Upsert(&'a [crate::ids::FieldId]),
}

impl Pybase {
    /// What a checked write settles in its inputs before validating them:
    /// with typecast, links named by primary value (records made for new
    /// names); attachments of other tables, copied into this one. Both are
    /// planned first, the write's cells naming what is to be made by the
    /// ids it will have; the whole write is then checked as its own
    /// validation will check it (with what only `kind` knows: the records
    /// an update names live, an upsert's keys not repeated and each
    /// matching at most one record, whose match then counts as the record
    /// it writes), and only a write that passes makes them: a write that
    /// fails those checks leaves nothing behind (a concurrent write may
    /// still change an upsert's matches before its own write: docs/API.md).
    #[allow(clippy::too_many_arguments)] // one step of three write paths
    pub(super) async fn settle_inputs(
        &self,
        principal: &Principal,
        table: &TableScope,
        fields: &[Field],
        inputs: &mut [&mut CellsInput],
        opts: WriteOptions,
        batch_mode: bool,
        kind: WriteKind<'_>,
    ) -> Result<()> {
        let named = self
            .plan_link_names(principal, fields, inputs, opts, batch_mode)
            .await?;
        let copies = self
            .plan_attachment_copies(principal, table, fields, inputs)
            .await?;
        if named.is_empty() && copies.is_empty() {
            return Ok(());
        }
        let mut batch = Batch::new(fields, &self.limits, opts.typecast);
        let mut keys: HashSet<Vec<Option<&serde_json::Value>>> = HashSet::new();
        let prepared: Vec<_> = inputs
            .iter()
            .enumerate()
            .map(|(i, input)| batch.prepare(input, &batch_prefix(batch_mode, i)))
            .collect();
        if let WriteKind::Upsert(merge_on) = kind {
            // As the upsert checks it after this (merge fields hold no
            // links or attachments, so what is settled leaves them alone).
            for (i, p) in prepared.iter().enumerate() {
                let key = merge_on.iter().map(|f| p.set.get(f.as_str())).collect();
                if !keys.insert(key) {
                    batch.errors.insert(
                        format!("records[{i}]"),
                        "a merge key not repeated in the batch".into(),
                    );
                }
            }
        }
        let pending = Pending {
            records: named.iter().map(|n| n.placeholder).collect(),
            attachments: copies.iter().map(|c| c.id).collect(),
        };
        let mut errors = self.batch_errors(table, &batch, &pending).await?;
        // An upsert key matching several records, which its write refuses.
        let mut ambiguous = false;
        let written: Vec<RecordId> = match kind {
            WriteKind::Update(ids) => ids.to_vec(),
            // New records: ids of their own, which nothing links yet.
            WriteKind::Create => prepared.iter().map(|_| RecordId::new()).collect(),
            // Each row updates the record its key matches now, or is new
            // (a write between this read and the upsert's may still
            // change that: docs/API.md).
            WriteKind::Upsert(merge_on) => {
                let keys: Vec<crate::model::Cells> = prepared
                    .iter()
                    .map(|p| {
                        merge_on
                            .iter()
                            .filter_map(|f| Some((f.to_string(), p.set.get(f.as_str())?.clone())))
                            .collect()
                    })
                    .collect();
                let matches = self
                    .store
                    .upsert_matches(table.id(), merge_on, &keys)
                    .await?;
                matches
                    .iter()
                    .map(|m| match m.as_slice() {
                        [one] => *one,
                        [] => RecordId::new(),
                        _ => {
                            ambiguous = true;
                            RecordId::new()
                        }
                    })
                    .collect()
            }
        };
        if !written.is_empty() {
            let sets: Vec<&crate::model::Cells> = prepared.iter().map(|p| &p.set).collect();
            self.single_inverse_errors(fields, &sets, &written, &pending.records, &mut errors)
                .await?;
        }
        if let WriteKind::Update(ids) = kind {
            let live = self.store.live_record_ids(table.id(), ids).await?;
            for (i, id) in ids.iter().enumerate() {
                if live.contains(id) {
                    continue;
                }
                if !batch_mode {
                    return Err(Error::NotFound { entity: "record" });
                }
                errors.insert(
                    format!("records[{i}].id"),
                    format!("a live record of this table, {id} is not one"),
                );
            }
        }
        if !errors.is_empty() {
            return Err(errors_as_validation(errors));
        }
        if ambiguous {
            return Err(Error::Conflict {
                message: crate::error::conflict_message("record", "merge_on"),
                field: "merge_on".into(),
            });
        }
        // Copies first: a copy that fails (the object store) leaves no
        // record or event behind.
        self.copy_attachments(principal, table, &copies).await?;
        let made = self.create_named(principal, &named).await?.ids;
        let index = FieldIndex::new(fields);
        super::link_names::rewrite_links(&index, inputs, |_, s| {
            RecordId::parse(s)
                .ok()
                .and_then(|id| made.get(&id).copied())
        });
        Ok(())
    }

    /// The links the store's write would refuse because their inverse
    /// takes one record: a linked record that would then be linked by
    /// more than one record (its current one, other than the written
    /// record, or two records of this write). `sets` are the written cells
    /// and `written` the records they go to, in input order; `new` are the
    /// placeholders of records the write is to make (a name typecast makes
    /// a record of), which two records of the write may not both link.
    async fn single_inverse_errors(
        &self,
        fields: &[Field],
        sets: &[&crate::model::Cells],
        written: &[RecordId],
        new: &HashSet<RecordId>,
        errors: &mut FieldErrors,
    ) -> Result<()> {
        for f in fields {
            let crate::fields::FieldType::Link(link) = &f.field_type else {
                continue;
            };
            let Some(partner_id) = link.inverse_field_id else {
                continue;
            };
            // Target -> the inputs linking it.
            let mut linking: HashMap<RecordId, Vec<usize>> = HashMap::new();
            for (i, set) in sets.iter().enumerate() {
                for id in link_ids(set.get(f.id.as_str())) {
                    linking.entry(id).or_default().push(i);
                }
            }
            if linking.is_empty() {
                continue;
            }
            let partner = self
                .store
                .list_fields(link.linked_table_id)
                .await?
                .into_iter()
                .find(|p| p.id == partner_id);
            let Some(crate::fields::FieldType::Link(partner_link)) =
                partner.as_ref().map(|p| &p.field_type)
            else {
                continue;
            };
            if partner_link.allow_multiple {
                continue;
            }
            let partner_name = partner.as_ref().map(|p| p.name.clone()).unwrap_or_default();
            let targets: Vec<RecordId> = linking.keys().copied().collect();
            let current = self
                .store
                .get_records(link.linked_table_id, &targets, false)
                .await?;
            // Soft-deleted holders let go of a record another takes (the
            // store's write does the same): only live ones hold it.
            let mut held: Vec<RecordId> = current
                .iter()
                .flat_map(|r| link_ids(r.cells.get(partner_id.as_str())))
                .collect();
            held.sort_unstable();
            held.dedup();
            let live = if held.is_empty() {
                HashSet::new()
            } else {
                self.live_set(f.table_id, &held).await?
            };
            // Each linked record with the records linking it now; a record
            // the write makes for a name has none yet.
            let linked = current
                .iter()
                .map(|r| {
                    (
                        format!("record {} of the linked table", r.id),
                        r.id,
                        link_ids(r.cells.get(partner_id.as_str()))
                            .into_iter()
                            .filter(|h| live.contains(h))
                            .collect::<Vec<_>>(),
                    )
                })
                .chain(linking.keys().filter(|t| new.contains(t)).map(|t| {
                    (
                        "the record this write makes for a name".to_owned(),
                        *t,
                        Vec::new(),
                    )
                }));
            for (named, target, held) in linked {
                let Some(inputs) = linking.get(&target) else {
                    continue;
                };
                let mut holders: HashSet<RecordId> = held
                    .into_iter()
                    // A written record whose new cell leaves it out lets
                    // go (one that does not write the cell keeps it).
                    .filter(|h| {
                        written.iter().position(|w| w == h).is_none_or(|i| {
                            inputs.contains(&i) || !sets[i].contains_key(f.id.as_str())
                        })
                    })
                    .collect();
                holders.extend(inputs.iter().map(|&i| written[i]));
                if holders.len() > 1 {
                    // Keyed and worded as the store's write refuses it.
                    errors.insert(
                        partner_name.clone(),
                        format!(
                            "at most one linked record: {named} would link {} records through \
                             {partner_name:?}, the inverse of this link",
                            holders.len()
                        ),
                    );
                }
            }
        }
        Ok(())
    }

    /// Every error of `batch`, with the checks that need storage: linked
    /// records live, attachments of this table (`pending` ids are taken as
    /// both: what a write is about to create), typecast's new choices
    /// within the limit. Changes nothing.
    pub(super) async fn batch_errors(
        &self,
        table: &TableScope,
        batch: &Batch<'_>,
        pending: &Pending,
    ) -> Result<FieldErrors> {
        let mut errors = batch.errors.clone();
        for (id, (names, _)) in &batch.new_choices {
            if let Some(field) = batch.fields.iter().find(|f| f.id == *id) {
                let total = field.field_type.choices().len() + names.len();
                if total > batch.limits.choices {
                    errors.insert(
                        field.name.clone(),
                        format!(
                            "at most {} choices; typecast would make {total}",
                            batch.limits.choices
                        ),
                    );
                }
            }
        }
        let links: Vec<&(String, TableId, RecordId)> = batch
            .links
            .iter()
            .filter(|(_, _, id)| !pending.records.contains(id))
            .collect();
        let mut by_table: HashMap<TableId, Vec<RecordId>> = HashMap::new();
        for (_, t, id) in &links {
            by_table.entry(*t).or_default().push(*id);
        }
        for (t, ids) in by_table {
            let live = self.live_set(t, &ids).await?;
            for (key, lt, id) in links.iter().filter(|(_, lt, _)| *lt == t) {
                if !live.contains(id) {
                    errors.insert(
                        key.clone(),
                        format!("ids of live records of table {lt}, {id} is not one"),
                    );
                }
            }
        }
        let attachments: Vec<&(String, AttachmentId)> = batch
            .attachments
            .iter()
            .filter(|(_, id)| !pending.attachments.contains(id))
            .collect();
        if !attachments.is_empty() {
            let ids: Vec<AttachmentId> = attachments.iter().map(|(_, id)| *id).collect();
            let found: HashMap<AttachmentId, TableId> = self
                .store
                .get_attachments(&ids)
                .await?
                .into_iter()
                .map(|a| (a.id, a.table_id))
                .collect();
            for (key, id) in attachments {
                if found.get(id) != Some(&table.id()) {
                    errors.insert(
                        key.clone(),
                        format!(
                            "ids of attachments uploaded to this table or to a table you can \
                             read, {id} is not one"
                        ),
                    );
                }
            }
        }
        Ok(errors)
    }
}
