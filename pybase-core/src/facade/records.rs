//! Records: validated writes, reads and queries.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use serde_json::Value;

use super::authz::TableScope;
use super::inputs::{CellsInput, QueryInput, WriteOptions};
use super::render::{FieldKey, RecordOut, RecordsPage, Renderer, UpsertResult};
use super::schema::add_choices;
use super::write_checks::{Pending, WriteKind, batch_prefix, errors_as_validation};
use super::{Pybase, not_found_as, raw_page};
use crate::error::{Error, FieldErrors, Result, StoreError};
use crate::fields::{FieldType, Reference, ValueKind, new_choice_names};
use crate::ids::{AttachmentId, FieldId, RecordId, TableId};
use crate::limits::Limits;
use crate::model::{Cells, Field, Record, Table, Timestamp};
use crate::principal::Principal;
use crate::query::plan::{self, PageRequest};
use crate::query::{FieldIndex, find_field};
use crate::role::{Action, Role};
use crate::store::acting;
use crate::store::{CachedFields, NewRecord, RecordPatch, UpdateGuard};

/// Most steps from a lookup to the field it finally shows (lookups of
/// lookups); past it the lookup shows its items as they are.
const MAX_LOOKUP_CHAIN: usize = 16;

/// What a write with a precondition did.
enum Written<T> {
    /// The precondition held and the write happened.
    Applied(T),
    /// Nothing was written: the precondition no longer held (or could not
    /// be checked); the caller re-reads and writes on the checked path.
    Stale,
}

/// Most records one write may carry.
pub const MAX_BATCH: usize = 1000;

/// Cells of one input record after validation.
pub(super) struct Prepared {
    pub(super) set: Cells,
    unset: Vec<FieldId>,
}

impl Prepared {
    /// The store's patch of record `id`. A replace (`PUT`) clears every
    /// writable field of `fields` it does not set, by unsetting it: the
    /// cells of computed fields (formula, lookup, rollup, count) are not
    /// the caller's to replace, so they stay, recomputed by the write, and
    /// those of an `is_valid: false` field keep their last values (API.md).
    /// The store's own `replace` (every cell, derived ones included) is
    /// not used.
    fn into_patch(self, id: RecordId, replace: bool, fields: &[Field]) -> RecordPatch {
        let mut unset = self.unset;
        if replace {
            for f in fields {
                if !f.field_type.is_computed()
                    && !self.set.contains_key(f.id.as_str())
                    && !unset.contains(&f.id)
                {
                    unset.push(f.id);
                }
            }
        }
        RecordPatch {
            id,
            set: self.set,
            unset,
            replace: false,
        }
    }
}

/// Validation state shared by the records of one write.
pub(super) struct Batch<'a> {
    pub(super) fields: &'a [Field],
    /// The fields by id and by name, built once per write.
    pub(super) index: FieldIndex<'a>,
    pub(super) limits: &'a Limits,
    pub(super) typecast: bool,
    pub(super) errors: FieldErrors,
    /// Names typecast adds, per field, in first-seen order (and as a set).
    pub(super) new_choices: BTreeMap<FieldId, (Vec<String>, HashSet<String>)>,
    /// (error key, linked table, record id)
    pub(super) links: Vec<(String, TableId, RecordId)>,
    /// (error key, attachment id)
    pub(super) attachments: Vec<(String, AttachmentId)>,
}

impl<'a> Batch<'a> {
    /// Whether every input validated with nothing left to settle beyond
    /// the write itself (no errors, new select choices, links or
    /// attachments): what the one-transaction writes can take alone.
    fn is_simple(&self) -> bool {
        self.errors.is_empty()
            && self.new_choices.is_empty()
            && self.links.is_empty()
            && self.attachments.is_empty()
    }

    pub(super) fn new(fields: &'a [Field], limits: &'a Limits, typecast: bool) -> Self {
        Self {
            fields,
            index: FieldIndex::new(fields),
            limits,
            typecast,
            errors: FieldErrors::new(),
            new_choices: BTreeMap::new(),
            links: Vec::new(),
            attachments: Vec::new(),
        }
    }

    /// Validates one input record; `prefix` is `""` for single writes and
    /// `records[3].` in batches so errors name the index.
    pub(super) fn prepare(&mut self, input: &CellsInput, prefix: &str) -> Prepared {
        let mut out = Prepared {
            set: Cells::new(),
            unset: Vec::new(),
        };
        let mut seen: HashSet<FieldId> = HashSet::new();
        for (key, value) in input {
            let Some(field) = self.index.find(key) else {
                self.errors.insert(
                    format!("{prefix}{key}"),
                    "unknown field: expected a field of this table".into(),
                );
                continue;
            };
            // Built only when needed: valid cells of plain fields never use it.
            let ekey = || format!("{prefix}{}", field.name);
            if !seen.insert(field.id) {
                self.errors
                    .insert(ekey(), "the field is given twice".into());
                continue;
            }
            if let Err(e) = self.limits.check_cell(&field.field_type, value) {
                self.errors.insert(ekey(), e);
                continue;
            }
            match field.field_type.validate_cell(value, self.typecast) {
                Err(e) => {
                    self.errors.insert(ekey(), e.expected);
                }
                Ok(None) => out.unset.push(field.id),
                Ok(Some(v)) => {
                    let fresh = new_choice_names(&field.field_type, &v);
                    // A new choice becomes part of the field's options, which
                    // hold no NUL (PostgreSQL text cannot): refused here, on
                    // every backend alike, naming the cell.
                    if fresh.iter().any(|n| n.contains('\0')) {
                        self.errors.insert(
                            ekey(),
                            "choice names without NUL characters (typecast would add a choice)"
                                .into(),
                        );
                        continue;
                    }
                    if !fresh.is_empty() {
                        let (list, set) = self.new_choices.entry(field.id).or_default();
                        for n in fresh {
                            if set.insert(n.clone()) {
                                list.push(n);
                            }
                        }
                    }
                    match field.field_type.references() {
                        Some(Reference::Records(linked_table_id)) => {
                            for id in ids_in(&v).filter_map(|s| RecordId::parse(s).ok()) {
                                self.links.push((ekey(), linked_table_id, id));
                            }
                        }
                        Some(Reference::Attachments) => {
                            for id in ids_in(&v).filter_map(|s| AttachmentId::parse(s).ok()) {
                                self.attachments.push((ekey(), id));
                            }
                        }
                        None => {}
                    }
                    out.set.insert(field.id.to_string(), v);
                }
            }
        }
        out
    }
}

fn ids_in(v: &Value) -> impl Iterator<Item = &str> {
    v.as_array().into_iter().flatten().filter_map(Value::as_str)
}

fn check_batch_size(n: usize) -> Result<()> {
    if n == 0 || n > MAX_BATCH {
        return Err(Error::invalid(
            "records",
            format!("1 to {MAX_BATCH} records, got {n}"),
        ));
    }
    Ok(())
}

impl Pybase {
    /// Which of `ids` are live records of `table`, as a set.
    pub(super) async fn live_set(
        &self,
        table: TableId,
        ids: &[RecordId],
    ) -> Result<HashSet<RecordId>> {
        Ok(self
            .store
            .live_record_ids(table, ids)
            .await?
            .into_iter()
            .collect())
    }

    /// The fields to render a write with: `fields` as validated, or re-read
    /// when [`Self::finish_batch`] added select choices to them.
    async fn fields_after_batch(
        &self,
        table: &TableScope,
        choices_added: bool,
        fields: Arc<[Field]>,
    ) -> Result<Arc<[Field]>> {
        if choices_added {
            Ok(self.store.list_fields(table.id()).await?.into())
        } else {
            Ok(fields)
        }
    }

    /// Finishes validation that needs storage (links, attachments), adds
    /// select choices that typecast created, and fails with every error found.
    /// Returns `true` if it changed fields (so callers read them again).
    async fn finish_batch(&self, table: &TableScope, batch: Batch<'_>) -> Result<bool> {
        let errors = self
            .batch_errors(table, &batch, &Pending::default())
            .await?;
        if !errors.is_empty() {
            return Err(errors_as_validation(errors));
        }
        let Batch {
            new_choices,
            fields,
            ..
        } = batch;
        let mut changed = false;
        for (id, (names, _)) in new_choices {
            if let Some(field) = fields.iter().find(|f| f.id == id) {
                let mut field = field.clone();
                add_choices(&mut field.field_type, &names);
                field.updated_at = self.clock.now();
                acting(table.user(), self.store.update_field(&field)).await?;
                changed = true;
            }
        }
        Ok(changed)
    }

    async fn renderer<'a>(
        &'a self,
        fields: &'a [Field],
        key: FieldKey,
        records: &[Record],
    ) -> Result<Renderer<'a>> {
        let attachment_lookups = self.attachment_lookups(fields, records).await?;
        let ids = Renderer::attachment_ids(fields, &attachment_lookups, records);
        let attachments = if ids.is_empty() {
            HashMap::new()
        } else {
            self.store
                .get_attachments(&ids)
                .await?
                .into_iter()
                .map(|a| (a.id, a))
                .collect()
        };
        let mut gone = HashSet::new();
        for (linked, ids) in Renderer::linked_ids(fields, records) {
            let live = self.live_set(linked, &ids).await?;
            gone.extend(ids.into_iter().filter(|id| !live.contains(id)));
        }
        Ok(Renderer {
            fields,
            key,
            only: None,
            attachments,
            attachment_url: self.attachment_url(),
            gone,
            attachment_lookups,
        })
    }

    /// The lookups of `fields` whose values are attachments: those whose
    /// cells in `records` hold attachment ids and whose source, followed
    /// through lookups of lookups, is an attachment field (only these read
    /// the linked tables' fields).
    async fn attachment_lookups(
        &self,
        fields: &[Field],
        records: &[Record],
    ) -> Result<HashSet<FieldId>> {
        let mut out = HashSet::new();
        let mut linked: HashMap<TableId, Arc<[Field]>> = HashMap::new();
        for lookup in Renderer::lookups_with_attachment_ids(fields, records) {
            let mut here: Arc<[Field]> = fields.into();
            let mut field = lookup.clone();
            // A chain of lookups is acyclic (refused at definition) and
            // short; the bound only guards against a corrupt schema.
            for _ in 0..MAX_LOOKUP_CHAIN {
                let FieldType::Lookup(l) = &field.field_type else {
                    if field.field_type.references() == Some(Reference::Attachments) {
                        out.insert(lookup.id);
                    }
                    break;
                };
                let Some(Reference::Records(table)) = here
                    .iter()
                    .find(|f| f.id.as_str() == l.link_field)
                    .and_then(|f| f.field_type.references())
                else {
                    break;
                };
                let fs = match linked.entry(table) {
                    std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                    std::collections::hash_map::Entry::Vacant(e) => {
                        match self.store.list_fields(table).await {
                            Ok(fs) => e.insert(fs.into()),
                            Err(StoreError::NotFound { .. }) => break,
                            Err(e) => return Err(e.into()),
                        }
                    }
                };
                let Some(next) = fs.iter().find(|f| f.id.as_str() == l.field).cloned() else {
                    break;
                };
                here = Arc::clone(fs);
                field = next;
            }
        }
        Ok(out)
    }

    pub(super) async fn render_all(
        &self,
        fields: &[Field],
        key: FieldKey,
        records: &[Record],
    ) -> Result<Vec<RecordOut>> {
        let r = self.renderer(fields, key, records).await?;
        Ok(records.iter().map(|rec| r.render(rec)).collect())
    }

    /// Creates one record (editor and above); errors name the field.
    pub async fn create_record(
        &self,
        principal: &Principal,
        table: TableId,
        cells: CellsInput,
        opts: WriteOptions,
    ) -> Result<RecordOut> {
        let mut out = self
            .create_inner(principal, table, vec![cells], opts, false)
            .await?;
        out.pop()
            .ok_or_else(|| Error::Internal("store returned no record".into()))
    }

    /// Creates up to 1000 records, all or nothing (editor and above); an
    /// error names the failing record's index (`records[3].Qty`).
    pub async fn create_records(
        &self,
        principal: &Principal,
        table: TableId,
        records: Vec<CellsInput>,
        opts: WriteOptions,
    ) -> Result<Vec<RecordOut>> {
        self.create_inner(principal, table, records, opts, true)
            .await
    }

    async fn create_inner(
        &self,
        principal: &Principal,
        table: TableId,
        inputs: Vec<CellsInput>,
        opts: WriteOptions,
        batch_mode: bool,
    ) -> Result<Vec<RecordOut>> {
        if let Written::Applied(out) = self
            .create_if_current(principal, table, &inputs, opts, batch_mode)
            .await?
        {
            return Ok(out);
        }
        self.rechecked(principal, || {
            self.create_checked(principal, table, inputs.clone(), opts, batch_mode)
        })
        .await
    }

    /// The checked create: reads the table's fields, settles and checks
    /// the inputs against them, then writes.
    async fn create_checked(
        &self,
        principal: &Principal,
        table: TableId,
        inputs: Vec<CellsInput>,
        opts: WriteOptions,
        batch_mode: bool,
    ) -> Result<Vec<RecordOut>> {
        // Taken before the fields are read: after a conversion the write
        // is checked again (`write_gates.rs`).
        let ticket = self.write_ticket(table);
        let (table, fields) = self
            .table_fields_for(principal, table, Action::WriteRecords)
            .await?;
        check_batch_size(inputs.len())?;
        let mut inputs = inputs;
        self.settle_inputs(
            principal,
            &table,
            &fields,
            &mut inputs.iter_mut().collect::<Vec<_>>(),
            opts,
            batch_mode,
            WriteKind::Create,
        )
        .await?;
        let mut batch = Batch::new(&fields, &self.limits, opts.typecast);
        let new = self.new_records(&mut batch, principal, inputs.iter(), batch_mode);
        let changed = self.finish_batch(&table, batch).await?;
        let fields = self.fields_after_batch(&table, changed, fields).await?;
        let records = self
            .writing(&ticket, self.store.create_records(table.id(), &new))
            .await?;
        self.render_all(&fields, opts.field_key, &records).await
    }

    /// For the one-transaction writes: the table's fields as the store
    /// holds them in memory and the roles with which `principal` may write
    /// records, or `None` when that cannot be decided without a read (no
    /// cached fields, a workspace the principal may not reach, no role that
    /// writes records).
    fn cached_write_scope(
        &self,
        principal: &Principal,
        table: TableId,
    ) -> Option<(CachedFields, Vec<Role>)> {
        let cached = self.store.cached_fields(table)?;
        if !principal.can_see_workspace(cached.workspace_id) {
            return None;
        }
        let roles: Vec<Role> = Role::ALL
            .into_iter()
            .filter(|r| principal.allows(*r, Action::WriteRecords))
            .collect();
        (!roles.is_empty()).then_some((cached, roles))
    }

    /// Validates each input into `batch` (errors collected there, keyed
    /// `records[i].` in batch mode) and makes its new record, stamped now
    /// and by `principal`.
    fn new_records<'a>(
        &self,
        batch: &mut Batch<'_>,
        principal: &Principal,
        inputs: impl ExactSizeIterator<Item = &'a CellsInput>,
        batch_mode: bool,
    ) -> Vec<NewRecord> {
        let now = self.clock.now();
        let user = Some(principal.user_id());
        let mut new = Vec::with_capacity(inputs.len());
        for (i, input) in inputs.enumerate() {
            let p = batch.prepare(input, &batch_prefix(batch_mode, i));
            new.push(NewRecord {
                id: RecordId::at(now.timestamp_millis()),
                cells: p.set,
                created_by: user,
                created_time: now,
            });
        }
        new
    }

    /// The one-transaction create: validates against the fields the store
    /// holds in memory and lets the store check the caller's role and the
    /// fields' version in the write transaction itself (no read
    /// transaction before it). `Stale` (nothing written) whenever that
    /// cannot decide alone, as for [`Self::update_if_current`]: no cached
    /// fields, a workspace or role the principal may not write with, a
    /// batch size out of range, cells needing more validation (links,
    /// attachments, new select choices) or failing it, a changed schema or
    /// role. The caller then takes the checked path, which reports why.
    async fn create_if_current(
        &self,
        principal: &Principal,
        table: TableId,
        inputs: &[CellsInput],
        opts: WriteOptions,
        batch_mode: bool,
    ) -> Result<Written<Vec<RecordOut>>> {
        if inputs.is_empty() || inputs.len() > MAX_BATCH {
            return Ok(Written::Stale);
        }
        let Some((cached, roles)) = self.cached_write_scope(principal, table) else {
            return Ok(Written::Stale);
        };
        let fields = Arc::clone(&cached.fields);
        let mut batch = Batch::new(&fields, &self.limits, opts.typecast);
        let new = self.new_records(&mut batch, principal, inputs.iter(), batch_mode);
        if !batch.is_simple() {
            return Ok(Written::Stale);
        }
        let guard = UpdateGuard {
            user: principal.user_id(),
            roles,
            fields: cached,
            cells: Cells::new(),
        };
        let Some(records) = self
            .writing_any(
                table,
                self.store.create_records_guarded(table, &new, &guard),
            )
            .await?
        else {
            return Ok(Written::Stale);
        };
        // The write happened: never fall back (and write twice) from here.
        self.render_all(&fields, opts.field_key, &records)
            .await
            .map(Written::Applied)
    }

    /// A live record of a table.
    pub async fn get_record(
        &self,
        principal: &Principal,
        table: TableId,
        id: RecordId,
        key: FieldKey,
    ) -> Result<RecordOut> {
        let (_, fields, record) = self.record_for(principal, table, id, Action::Read).await?;
        let mut out = self
            .render_all(&fields, key, std::slice::from_ref(&record))
            .await?;
        out.pop()
            .ok_or_else(|| Error::Internal("render returned no record".into()))
    }

    /// Changes one record: only the named cells change (`replace` clears
    /// the others), merged inside the store so concurrent edits of
    /// different cells both survive.
    ///
    /// One path and one fallback: the write is first validated against the
    /// fields the store holds in memory and sent with a precondition (the
    /// roles that may write and the fields' version), which the store checks
    /// as it writes; when it answers stale (or cannot be tried), the write
    /// takes the checked path: re-read the table under the permission check,
    /// validate, write.
    pub async fn update_record(
        &self,
        principal: &Principal,
        table: TableId,
        id: RecordId,
        cells: CellsInput,
        opts: WriteOptions,
        replace: bool,
    ) -> Result<RecordOut> {
        // The time the first attempt wrote with, reused by the fallback so
        // both read the clock alike.
        let mut at = None;
        match self
            .update_if_current(principal, table, id, &cells, opts, replace, &mut at)
            .await?
        {
            Written::Applied(out) => return Ok(out),
            Written::Stale => {}
        }
        let mut out = self
            .update_inner(
                principal,
                table,
                vec![(id, cells)],
                opts,
                replace,
                false,
                at,
            )
            .await?;
        out.pop()
            .ok_or_else(|| Error::Internal("store returned no record".into()))
    }

    /// The one-round-trip update: validates against the fields the store
    /// holds in memory and lets the store check the precondition (the
    /// caller's role and the fields' version) as it writes. `Stale`
    /// (nothing changed) whenever that cannot decide alone: no cached
    /// fields, a workspace or role the principal may not write with, a cell
    /// needing more validation or failing it (errors must come after the
    /// access check), a changed schema or role, or a missing record. The
    /// caller then takes the checked path, which reports exactly why.
    #[allow(clippy::too_many_arguments)] // private steps of update_record
    async fn update_if_current(
        &self,
        principal: &Principal,
        table: TableId,
        id: RecordId,
        cells: &CellsInput,
        opts: WriteOptions,
        replace: bool,
        at: &mut Option<Timestamp>,
    ) -> Result<Written<RecordOut>> {
        let Some((cached, roles)) = self.cached_write_scope(principal, table) else {
            return Ok(Written::Stale);
        };
        let fields = Arc::clone(&cached.fields);
        let mut batch = Batch::new(&fields, &self.limits, opts.typecast);
        let p = batch.prepare(cells, "");
        if !batch.is_simple() {
            return Ok(Written::Stale);
        }
        let patch = p.into_patch(id, replace, &fields);
        let precondition = UpdateGuard {
            user: principal.user_id(),
            roles,
            fields: cached,
            cells: Cells::new(),
        };
        let Some(record) = self
            .writing_any(
                table,
                self.store.update_record_guarded(
                    table,
                    &patch,
                    &precondition,
                    *at.insert(self.clock.now()),
                    Some(principal.user_id()),
                ),
            )
            .await?
        else {
            return Ok(Written::Stale);
        };
        let mut out = self
            .render_all(&fields, opts.field_key, std::slice::from_ref(&record))
            .await?;
        // The write happened: never fall back (and write twice) from here.
        out.pop()
            .map(Written::Applied)
            .ok_or_else(|| Error::Internal("render returned no record".into()))
    }

    /// Changes up to 1000 records, all or nothing; a missing id or a bad
    /// cell names its index.
    pub async fn update_records(
        &self,
        principal: &Principal,
        table: TableId,
        records: Vec<(RecordId, CellsInput)>,
        opts: WriteOptions,
    ) -> Result<Vec<RecordOut>> {
        self.update_inner(principal, table, records, opts, false, true, None)
            .await
    }

    /// The checked update ([`Self::update_checked`]), checked again when a
    /// field of the table converted meanwhile.
    #[allow(clippy::too_many_arguments)] // private steps of update_record
    async fn update_inner(
        &self,
        principal: &Principal,
        table: TableId,
        inputs: Vec<(RecordId, CellsInput)>,
        opts: WriteOptions,
        replace: bool,
        batch_mode: bool,
        at: Option<Timestamp>,
    ) -> Result<Vec<RecordOut>> {
        self.rechecked(principal, || {
            self.update_checked(
                principal,
                table,
                inputs.clone(),
                opts,
                replace,
                batch_mode,
                at,
            )
        })
        .await
    }

    /// The checked update: reads the table's fields, settles and checks
    /// the inputs against them, then writes.
    #[allow(clippy::too_many_arguments)] // private steps of update_record
    async fn update_checked(
        &self,
        principal: &Principal,
        table: TableId,
        inputs: Vec<(RecordId, CellsInput)>,
        opts: WriteOptions,
        replace: bool,
        batch_mode: bool,
        at: Option<Timestamp>,
    ) -> Result<Vec<RecordOut>> {
        // Taken before the fields are read: after a conversion the write
        // is checked again (`write_gates.rs`).
        let ticket = self.write_ticket(table);
        let (table, fields) = self
            .table_fields_for(principal, table, Action::WriteRecords)
            .await?;
        check_batch_size(inputs.len())?;
        let mut inputs = inputs;
        let ids: Vec<RecordId> = inputs.iter().map(|(id, _)| *id).collect();
        self.settle_inputs(
            principal,
            &table,
            &fields,
            &mut inputs.iter_mut().map(|(_, c)| c).collect::<Vec<_>>(),
            opts,
            batch_mode,
            WriteKind::Update(&ids),
        )
        .await?;
        let mut batch = Batch::new(&fields, &self.limits, opts.typecast);
        let mut patches = Vec::with_capacity(inputs.len());
        for (i, (id, input)) in inputs.iter().enumerate() {
            let p = batch.prepare(input, &batch_prefix(batch_mode, i));
            patches.push(p.into_patch(*id, replace, &fields));
        }
        if batch_mode {
            let ids: Vec<RecordId> = patches.iter().map(|p| p.id).collect();
            let live = self.store.live_record_ids(table.id(), &ids).await?;
            for (i, id) in ids.iter().enumerate() {
                if !live.contains(id) {
                    batch.errors.insert(
                        format!("records[{i}].id"),
                        format!("a live record of this table, {id} is not one"),
                    );
                }
            }
        }
        let changed = self.finish_batch(&table, batch).await?;
        let fields = self.fields_after_batch(&table, changed, fields).await?;
        let records = self
            .writing(
                &ticket,
                self.store.update_records(
                    table.id(),
                    &patches,
                    at.unwrap_or_else(|| self.clock.now()),
                    Some(principal.user_id()),
                ),
            )
            .await
            .map_err(|e| not_found_as(e, "record"))?;
        self.render_all(&fields, opts.field_key, &records).await
    }

    /// Creates or updates up to 1000 records matched on 1 to 3 fields, in
    /// one transaction; says which it did for each. A match is merged with
    /// the input's cells.
    pub async fn upsert_records(
        &self,
        principal: &Principal,
        table: TableId,
        merge_on: &[String],
        inputs: Vec<CellsInput>,
        opts: WriteOptions,
    ) -> Result<UpsertResult> {
        self.upsert(principal, table, merge_on, inputs, opts, false)
            .await
    }

    /// [`Self::upsert_records`], a match's cells replaced by the input's
    /// (cells it does not name are cleared), as a `PUT` upsert of
    /// Airtable's API does.
    pub async fn upsert_records_replacing(
        &self,
        principal: &Principal,
        table: TableId,
        merge_on: &[String],
        inputs: Vec<CellsInput>,
        opts: WriteOptions,
    ) -> Result<UpsertResult> {
        self.upsert(principal, table, merge_on, inputs, opts, true)
            .await
    }

    /// The checked upsert ([`Self::upsert_checked`]), checked again when a
    /// field of the table converted meanwhile.
    async fn upsert(
        &self,
        principal: &Principal,
        table: TableId,
        merge_on: &[String],
        inputs: Vec<CellsInput>,
        opts: WriteOptions,
        replace: bool,
    ) -> Result<UpsertResult> {
        self.rechecked(principal, || {
            self.upsert_checked(principal, table, merge_on, inputs.clone(), opts, replace)
        })
        .await
    }

    /// The upsert: reads the table's fields, settles and checks the inputs
    /// against them, matches and writes.
    async fn upsert_checked(
        &self,
        principal: &Principal,
        table: TableId,
        merge_on: &[String],
        inputs: Vec<CellsInput>,
        opts: WriteOptions,
        replace: bool,
    ) -> Result<UpsertResult> {
        // Taken before the fields are read: after a conversion the write
        // is checked again (`write_gates.rs`).
        let ticket = self.write_ticket(table);
        let (table, fields) = self
            .table_fields_for(principal, table, Action::WriteRecords)
            .await?;
        check_batch_size(inputs.len())?;
        if merge_on.is_empty() || merge_on.len() > 3 {
            return Err(Error::invalid(
                "merge_on",
                format!("1 to 3 field names, got {}", merge_on.len()),
            ));
        }
        let mut merge_ids = Vec::with_capacity(merge_on.len());
        for name in merge_on {
            let f = find_field(&fields, name).ok_or_else(|| {
                Error::invalid(
                    "merge_on",
                    format!("fields of this table, {name:?} is not one"),
                )
            })?;
            if f.field_type.is_computed() || f.field_type.value_kind() == ValueKind::List {
                return Err(Error::invalid(
                    "merge_on",
                    format!(
                        "fields holding a single value, {:?} is a {} field",
                        f.name,
                        f.field_type.type_name()
                    ),
                ));
            }
            merge_ids.push(f.id);
        }
        let mut inputs = inputs;
        self.settle_inputs(
            principal,
            &table,
            &fields,
            &mut inputs.iter_mut().collect::<Vec<_>>(),
            opts,
            true,
            WriteKind::Upsert(&merge_ids),
        )
        .await?;
        let mut batch = Batch::new(&fields, &self.limits, opts.typecast);
        let now = self.clock.now();
        let mut new = Vec::with_capacity(inputs.len());
        let mut keys: Vec<Vec<Option<Value>>> = Vec::new();
        for (i, input) in inputs.iter().enumerate() {
            let p = batch.prepare(input, &format!("records[{i}]."));
            let key: Vec<Option<Value>> = merge_ids
                .iter()
                .map(|f| p.set.get(f.as_str()).cloned())
                .collect();
            if keys.contains(&key) {
                batch.errors.insert(
                    format!("records[{i}]"),
                    "a merge key not repeated in the batch".into(),
                );
            }
            keys.push(key);
            new.push(NewRecord {
                id: RecordId::at(now.timestamp_millis()),
                cells: p.set,
                created_by: Some(principal.user_id()),
                created_time: now,
            });
        }
        let changed = self.finish_batch(&table, batch).await?;
        let fields = self.fields_after_batch(&table, changed, fields).await?;
        let outcomes = self
            .writing(
                &ticket,
                self.store.upsert_records(
                    table.id(),
                    &merge_ids,
                    &new,
                    replace,
                    now,
                    Some(principal.user_id()),
                ),
            )
            .await
            .map_err(|e| match e {
                // A key matching several records is the merge fields'
                // error; any other conflict (the fields changed while this
                // write was checked, which `rechecked` checks again) is
                // its own.
                StoreError::Conflict { entity, field } if field == "merge_on" => Error::Conflict {
                    message: crate::error::conflict_message(entity, &field),
                    field: "merge_on".into(),
                },
                other => other.into(),
            })?;
        let records: Vec<Record> = outcomes.iter().map(|o| o.record.clone()).collect();
        Ok(UpsertResult {
            records: self.render_all(&fields, opts.field_key, &records).await?,
            created_records: outcomes
                .iter()
                .filter(|o| o.created)
                .map(|o| o.record.id)
                .collect(),
            updated_records: outcomes
                .iter()
                .filter(|o| !o.created)
                .map(|o| o.record.id)
                .collect(),
        })
    }

    /// Soft-deletes records, all or nothing (editor and above).
    pub async fn delete_records(
        &self,
        principal: &Principal,
        table: TableId,
        ids: &[RecordId],
    ) -> Result<()> {
        let table = self
            .table_for(principal, table, Action::WriteRecords)
            .await?;
        check_batch_size(ids.len())?;
        // An id given twice is one record to delete (the store would find
        // it deleted already the second time and refuse the batch).
        let mut seen = std::collections::HashSet::with_capacity(ids.len());
        let ids: Vec<RecordId> = ids.iter().copied().filter(|id| seen.insert(*id)).collect();
        let at = self.clock.now();
        self.writing_any(
            table.id(),
            acting(
                table.user(),
                self.store.delete_records(table.id(), &ids, at),
            ),
        )
        .await
        .map_err(|e| not_found_as(e, "record"))
    }

    /// Undoes a soft delete (editor and above).
    pub async fn restore_record(
        &self,
        principal: &Principal,
        table: TableId,
        id: RecordId,
        key: FieldKey,
    ) -> Result<RecordOut> {
        let table = self
            .table_for(principal, table, Action::WriteRecords)
            .await?;
        let record = self
            .writing_any(
                table.id(),
                acting(table.user(), self.store.restore_record(table.id(), id)),
            )
            .await
            .map_err(|e| not_found_as(e, "record"))?;
        let fields = self.store.list_fields(table.id()).await?;
        let mut out = self
            .render_all(&fields, key, std::slice::from_ref(&record))
            .await?;
        out.pop()
            .ok_or_else(|| Error::Internal("render returned no record".into()))
    }

    /// A page of records: the view's filter (ANDed with the query's) and
    /// sort (unless the query sorts), keyset-paginated by an opaque cursor.
    pub async fn query_records(
        &self,
        principal: &Principal,
        table: TableId,
        q: QueryInput,
        key: FieldKey,
    ) -> Result<RecordsPage> {
        // One instant for the page, whichever path reads it.
        let now = self.clock.now();
        if let Some(page) = self
            .query_if_current(principal, table, &q, key, now)
            .await?
        {
            return Ok(page);
        }
        Ok(self.query_page_at(principal, table, q, key, now).await?.0)
    }

    /// What `q` asks of one page, at the instant `now`.
    /// `cursor` is the position `q.cursor` carries
    /// ([`Pybase::open_cursor`]).
    fn page_request<'q>(
        q: &'q QueryInput,
        cursor: Option<&'q str>,
        now: Timestamp,
    ) -> PageRequest<'q> {
        PageRequest {
            filter: q.filter.as_ref(),
            sort: q.sort.as_ref(),
            fields: q.fields.as_deref(),
            page_size: q.page_size,
            cursor,
            include_deleted: q.include_deleted,
            formula: q.formula.as_deref(),
            now,
        }
    }

    /// The page of `q` in one store round trip, planned with the fields the
    /// store holds in memory and read only if they and the caller's role are
    /// still current ([`crate::store::RecordsStore::query_records_guarded`]).
    /// `None` whenever that does not apply (no cached fields, a view, a
    /// formula evaluated in Rust, a query that does not plan, a stale check):
    /// the caller then takes the checked path, which reports errors only
    /// after the access check, exactly as before.
    async fn query_if_current(
        &self,
        principal: &Principal,
        table: TableId,
        q: &QueryInput,
        key: FieldKey,
        now: Timestamp,
    ) -> Result<Option<RecordsPage>> {
        if q.view.is_some() {
            return Ok(None);
        }
        let Some(cached) = self.store.cached_fields(table) else {
            return Ok(None);
        };
        if !principal.can_see_workspace(cached.workspace_id) {
            return Ok(None);
        }
        let roles: Vec<Role> = Role::ALL
            .into_iter()
            .filter(|r| principal.allows(*r, Action::Read))
            .collect();
        if roles.is_empty() {
            return Ok(None);
        }
        let fields = Arc::clone(&cached.fields);
        // A cursor this server did not seal is refused on the checked path
        // (after the access check).
        let Ok(cursor) = self.open_cursor(q.cursor.as_deref()) else {
            return Ok(None);
        };
        let request = Self::page_request(q, cursor, now);
        let Ok(mut plan) = plan::plan(table, &fields, None, &request, &self.limits) else {
            return Ok(None);
        };
        if plan.formula.as_ref().is_some_and(|f| !f.is_pure_sql()) {
            return Ok(None);
        }
        // A page after the first of a walk reads the log first
        // (`snapshots`): the checked path.
        if plan
            .query
            .after
            .as_ref()
            .is_some_and(|c| c.snapshot.is_some())
        {
            return Ok(None);
        }
        let guard = UpdateGuard {
            user: principal.user_id(),
            roles,
            fields: cached,
            cells: Cells::new(),
        };
        let Some(page) = self
            .store
            .query_records_guarded(&plan.query, &guard)
            .await?
        else {
            return Ok(None);
        };
        self.note_query(&fields, &plan.query);
        plan.settle(page.log_seq);
        let next_cursor = plan.next_cursor(&page).map(|c| self.seal_cursor(c));
        let mut renderer = self.renderer(&fields, key, &page.records).await?;
        renderer.only = plan.projection;
        Ok(Some(RecordsPage {
            records: page
                .records
                .into_iter()
                .map(|r| renderer.render_owned(r))
                .collect(),
            next_cursor,
        }))
    }

    /// [`Self::query_records`], also answering the table and the fields the
    /// page was rendered with, for callers that reshape records (the
    /// server's Airtable-compatible API) without reading them again.
    pub async fn query_page(
        &self,
        principal: &Principal,
        table: TableId,
        q: QueryInput,
        key: FieldKey,
    ) -> Result<(RecordsPage, Table, Arc<[Field]>)> {
        let now = self.clock.now();
        self.query_page_at(principal, table, q, key, now).await
    }

    /// [`Self::query_page`] at the instant `now`.
    async fn query_page_at(
        &self,
        principal: &Principal,
        table: TableId,
        q: QueryInput,
        key: FieldKey,
        now: Timestamp,
    ) -> Result<(RecordsPage, Table, Arc<[Field]>)> {
        let (table, fields, mut plan) = self.checked_plan(principal, table, &q, now).await?;
        let changed = self.snapshot_changes(&table, &mut plan).await?;
        let out = self.planned_page(&fields, plan, &q, key, changed).await?;
        Ok((out, table.into_table(), fields))
    }

    /// [`Self::query_records`] as the API's JSON text (what serialising
    /// its [`RecordsPage`] gives). A page whose fields all show their
    /// cells as stored is written straight from the stored text when the
    /// store offers it ([`crate::store::RecordsStore::query_records_raw`]),
    /// without building its cells as values.
    pub async fn query_records_json(
        &self,
        principal: &Principal,
        table: TableId,
        q: QueryInput,
        key: FieldKey,
    ) -> Result<Vec<u8>> {
        let now = self.clock.now();
        if let Some(page) = self
            .query_if_current(principal, table, &q, key, now)
            .await?
        {
            return serde_json::to_vec(&page).map_err(|e| Error::Internal(Box::new(e)));
        }
        let (table, fields, mut plan) = self.checked_plan(principal, table, &q, now).await?;
        let mut changed = self.snapshot_changes(&table, &mut plan).await?;
        if changed
            .as_ref()
            .is_none_or(super::snapshots::Changed::is_empty)
            && plan.formula.as_ref().is_none_or(|f| f.is_pure_sql())
            && raw_page::renders_raw(&fields, plan.projection.as_deref())
            && let Some(page) = self.store.query_records_raw(&plan.query).await?
        {
            // A walk's page stands unless a record of the table changed
            // while it was read (then it is placed as it was, below).
            let stands = match changed.as_mut() {
                Some(changed) => self.page_stands(changed).await?,
                None => true,
            };
            if stands {
                self.note_query(&fields, &plan.query);
                plan.settle(page.log_seq);
                let seal = |position| self.seal_cursor(position);
                return raw_page::write_page(&fields, key, &plan, &page, &seal);
            }
        }
        let out = self.planned_page(&fields, plan, &q, key, changed).await?;
        serde_json::to_vec(&out).map_err(|e| Error::Internal(Box::new(e)))
    }

    /// The records of `plan`'s table changed since its walk's snapshot, for
    /// a page after the first: see `snapshots`.
    async fn snapshot_changes(
        &self,
        table: &TableScope,
        plan: &mut plan::QueryPlan,
    ) -> Result<Option<super::snapshots::Changed>> {
        self.changed_since_snapshot(table.table().base_id, plan)
            .await
    }

    /// The table, its fields and the plan of `q` for `principal`, after the
    /// access check (the checked path of [`Self::query_records`]).
    async fn checked_plan(
        &self,
        principal: &Principal,
        table: TableId,
        q: &QueryInput,
        now: Timestamp,
    ) -> Result<(TableScope, Arc<[Field]>, plan::QueryPlan)> {
        let (table, fields) = self
            .table_fields_for(principal, table, Action::Read)
            .await?;
        let view = match &q.view {
            None => None,
            Some(v) => {
                let views = self.store.list_views(table.id()).await?;
                Some(plan::find_view(&views, v)?.config.clone())
            }
        };
        let cursor = self.open_cursor(q.cursor.as_deref())?;
        let request = Self::page_request(q, cursor, now);
        let plan = plan::plan(table.id(), &fields, view.as_ref(), &request, &self.limits)?;
        Ok((table, fields, plan))
    }

    /// Reads and renders the page `plan` describes.
    async fn planned_page(
        &self,
        fields: &[Field],
        mut plan: plan::QueryPlan,
        q: &QueryInput,
        key: FieldKey,
        changed: Option<super::snapshots::Changed>,
    ) -> Result<RecordsPage> {
        let (page, next_cursor) = match (&plan.formula, changed) {
            (Some(formula), mut changed) if !formula.is_pure_sql() => {
                let chars = q.formula.as_deref().map_or(0, |f| f.chars().count());
                self.formula_page(fields, &plan, formula, chars, changed.as_mut())
                    .await?
            }
            (_, Some(mut changed)) if !changed.is_empty() => {
                self.snapshot_page(&plan, &mut changed, None).await?
            }
            (_, Some(mut changed)) => {
                // Nothing of the table changed since the walk began: the
                // store's page, unless something did while it was read.
                let page = self.store.query_records(&plan.query).await?;
                if self.page_stands(&mut changed).await? {
                    let next = plan.next_cursor(&page);
                    (page, next)
                } else {
                    self.snapshot_page(&plan, &mut changed, None).await?
                }
            }
            (_, None) => {
                let page = self.store.query_records(&plan.query).await?;
                plan.settle(page.log_seq);
                let next = plan.next_cursor(&page);
                (page, next)
            }
        };
        self.note_query(fields, &plan.query);
        let mut renderer = self.renderer(fields, key, &page.records).await?;
        renderer.only = plan.projection;
        Ok(RecordsPage {
            records: page
                .records
                .into_iter()
                .map(|r| renderer.render_owned(r))
                .collect(),
            next_cursor: next_cursor.map(|c| self.seal_cursor(c)),
        })
    }
}
