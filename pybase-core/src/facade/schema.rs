//! Bases, tables, fields and views.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Value, json};

use super::access_epochs::AccessChange;
use super::authz::TableScope;
use super::inputs::{
    BasePatch, FieldPatch, NewBase, NewField, NewTable, NewView, TablePatch, ViewPatch,
};
use super::render::TableSchema;
use super::workspaces::{check_description, check_name};
use super::{Pybase, not_found_as};
use crate::error::{Error, FieldErrors, Result};
use crate::fields::kinds::LongText;
use crate::fields::{Choice, FieldType, Reference, ValueKind, convert_cell};
use crate::ids::{BaseId, FieldId, TableId, ViewId, WorkspaceId};
use crate::model::{Base, Field, FieldStatus, IndexOrigin, Table, View, ViewType};
use crate::principal::Principal;
use crate::query::{
    Filter, FilterSpec, SortDirection, SortSpec, StoredSort, Target, ViewConfig, find_field,
    resolve_filter, resolve_sort,
};
use crate::role::Action;
use crate::store::acting;

/// Most failed cells a refused type change lists (in its field's message).
const MAX_REPORTED_FAILURES: usize = 5;

impl Pybase {
    // ---- bases ----

    /// Creates a base in a workspace (admin and above).
    pub async fn create_base(
        &self,
        principal: &Principal,
        ws: WorkspaceId,
        input: NewBase,
    ) -> Result<Base> {
        let ws = self
            .authorize(principal, ws, Action::ChangeSchema, "workspace")
            .await?;
        let now = self.clock.now();
        let base = Base {
            id: BaseId::new(),
            workspace_id: ws.id(),
            name: check_name("name", &input.name)?,
            description: check_description(input.description)?,
            created_at: now,
            updated_at: now,
        };
        self.store.create_base(&base).await?;
        Ok(base)
    }

    /// The bases of a workspace.
    pub async fn list_bases(&self, principal: &Principal, ws: WorkspaceId) -> Result<Vec<Base>> {
        let ws = self
            .authorize(principal, ws, Action::Read, "workspace")
            .await?;
        Ok(self.store.list_bases(ws.id()).await?)
    }

    /// A base.
    pub async fn get_base(&self, principal: &Principal, id: BaseId) -> Result<Base> {
        Ok(self
            .base_for(principal, id, Action::Read)
            .await?
            .into_base())
    }

    /// Renames or describes a base (admin and above).
    pub async fn update_base(
        &self,
        principal: &Principal,
        id: BaseId,
        patch: BasePatch,
    ) -> Result<Base> {
        let mut base = self
            .base_for(principal, id, Action::ChangeSchema)
            .await?
            .into_base();
        if let Some(name) = patch.name {
            base.name = check_name("name", &name)?;
        }
        if let Some(d) = patch.description {
            base.description = check_description(d)?;
        }
        base.updated_at = self.clock.now();
        self.store.update_base(&base).await?;
        Ok(base)
    }

    /// Deletes a base and its tables (admin and above).
    pub async fn delete_base(&self, principal: &Principal, id: BaseId) -> Result<()> {
        let base = self.base_for(principal, id, Action::ChangeSchema).await?;
        let tables: Vec<TableId> = self
            .store
            .list_tables(base.base().id)
            .await?
            .into_iter()
            .map(|t| t.id)
            .collect();
        let bump = self
            .access_epochs
            .bump_when_done(AccessChange::Workspace(base.base().workspace_id));
        self.store
            .delete_base(base.base().id)
            .await
            .map_err(|e| not_found_as(e, "base"))?;
        drop(bump);
        self.purge_attachment_bytes(&tables).await;
        Ok(())
    }

    // ---- tables ----

    /// Creates a table with its fields (admin and above). The first field is
    /// the primary field unless `primary_field` names another; a table
    /// created without fields gets a text field "Name".
    pub async fn create_table(
        &self,
        principal: &Principal,
        base: BaseId,
        input: NewTable,
    ) -> Result<TableSchema> {
        let base = self.base_for(principal, base, Action::ChangeSchema).await?;
        let now = self.clock.now();
        let name = check_name("name", &input.name)?;
        // Index lookups, not a read of the base's tables (a base may hold
        // thousands); the store checks the name again inside its write.
        check_table_name_free(&*self.store, base.base().id, &name, None).await?;
        let position = self.store.next_table_position(base.base().id).await?;
        let table = Table {
            id: TableId::new(),
            base_id: base.base().id,
            workspace_id: base.base().workspace_id,
            name,
            description: check_description(input.description)?,
            primary_field_id: None,
            position,
            created_at: now,
            updated_at: now,
        };
        let scope = base.new_table(table);
        let mut specs = input.fields;
        self.limits.check_field_count("fields", specs.len())?;
        if specs.is_empty() {
            specs.push(NewField {
                name: "Name".into(),
                field_type: "text".into(),
                ..NewField::default()
            });
        }
        let mut fields: Vec<Field> = Vec::with_capacity(specs.len());
        let mut errors = FieldErrors::new();
        for (i, spec) in specs.into_iter().enumerate() {
            match self.build_field(&scope, &fields, spec, i as i64).await {
                Ok(f) => fields.push(f),
                Err(Error::Validation { fields: errs, .. }) => {
                    for (k, v) in errs {
                        errors.insert(format!("fields[{i}].{k}"), v);
                    }
                }
                Err(e) => return Err(e),
            }
        }
        if !errors.is_empty() {
            return Err(validation("invalid fields", errors));
        }
        // Formulas, lookups, rollups and counts among them: references to
        // ids, result types, cycles (the table has no records to fill).
        self.resolve_new_computed(&scope, &mut fields).await?;
        self.limits
            .check_indexed_count("fields", fields.iter().filter(|f| f.indexed).count())?;
        let primary = match &input.primary_field {
            // Naming a field the table will not have names nothing.
            Some(key) => find_field(&fields, key).ok_or_else(|| {
                Error::invalid(
                    "primary_field_id",
                    "one of the table's fields, by name or id",
                )
            })?,
            None => &fields[0],
        };
        let primary_id = primary.id;
        // Two-way links: their inverses are planned (and checked) first,
        // the links stored one-way with the table, then paired.
        let inverses = self.plan_inverses(&scope, &mut fields).await?;
        let user = scope.user();
        let mut table = scope.into_table();
        table.primary_field_id = Some(primary_id);
        let one_way: Vec<Field> = fields.iter().map(super::links::one_way).collect();
        acting(user, self.store.create_table(&table, &one_way)).await?;
        acting(user, self.store_inverses(&fields, &inverses)).await?;
        Ok(TableSchema {
            table,
            fields: super::computed::shown(fields),
            views: Vec::new(),
        })
    }

    /// The tables of a base.
    pub async fn list_tables(&self, principal: &Principal, base: BaseId) -> Result<Vec<Table>> {
        let base = self.base_for(principal, base, Action::Read).await?;
        Ok(self.store.list_tables(base.base().id).await?)
    }

    /// A table and its fields, for reading (viewer and above): one store
    /// read, the fields from the fields cache. For callers that render
    /// records in a shape of their own (the server's Airtable-compatible
    /// API), where [`Self::get_table`] would also read the views.
    pub async fn table_with_fields(
        &self,
        principal: &Principal,
        id: TableId,
    ) -> Result<(Table, Arc<[Field]>)> {
        let (scope, fields) = self.table_fields_for(principal, id, Action::Read).await?;
        Ok((scope.into_table(), fields))
    }

    /// A table with its fields and views.
    pub async fn get_table(&self, principal: &Principal, id: TableId) -> Result<TableSchema> {
        let scope = self.table_for(principal, id, Action::Read).await?;
        let fields = super::computed::shown(self.store.list_fields(scope.id()).await?);
        let views = self.store.list_views(scope.id()).await?;
        Ok(TableSchema {
            table: scope.into_table(),
            fields,
            views,
        })
    }

    /// Renames, describes or changes the primary field of a table (admin and above).
    pub async fn update_table(
        &self,
        principal: &Principal,
        id: TableId,
        patch: TablePatch,
    ) -> Result<Table> {
        let scope = self.table_for(principal, id, Action::ChangeSchema).await?;
        let mut table = scope.table().clone();
        let primary_before = table.primary_field_id;
        if let Some(name) = patch.name {
            let name = check_name("name", &name)?;
            check_table_name_free(&*self.store, table.base_id, &name, Some(table.id)).await?;
            table.name = name;
        }
        if let Some(d) = patch.description {
            table.description = check_description(d)?;
        }
        if let Some(key) = patch.primary_field_id {
            let fields = self.store.list_fields(table.id).await?;
            let f = find_field(&fields, &key).ok_or_else(|| {
                Error::invalid("primary_field_id", "a field of this table, by name or id")
            })?;
            if Some(f.id) != table.primary_field_id {
                self.refuse_primary_cycle(&scope, f).await?;
            }
            table.primary_field_id = Some(f.id);
        }
        if table == *scope.table() {
            // Nothing to change: nothing written, nothing logged.
            return Ok(table);
        }
        table.updated_at = self.clock.now();
        acting(principal.user_id(), self.store.update_table(&table)).await?;
        if table.primary_field_id != primary_before {
            self.refill_link_formulas(&scope).await?;
        }
        Ok(table)
    }

    /// Deletes a table with its records (admin and above).
    ///
    /// Link fields of other tables that pointed to it become text fields
    /// holding the primary values of the records they linked (a record's
    /// id where that value is empty), so no cell is lost and no field
    /// points at a table that no longer exists.
    pub async fn delete_table(&self, principal: &Principal, id: TableId) -> Result<()> {
        let table = self.table_for(principal, id, Action::ChangeSchema).await?;
        let pointing: Vec<Field> = self
            .store
            .list_base_fields(table.table().base_id)
            .await?
            .into_iter()
            .filter(|f| {
                f.table_id != table.id()
                    && f.field_type.references() == Some(Reference::Records(table.id()))
            })
            .collect();
        for old in pointing {
            let Some(other) = table.sibling(self.store.get_table(old.table_id).await?) else {
                continue;
            };
            let mut field = old.clone();
            field.field_type = FieldType::LongText(LongText);
            field.updated_at = self.clock.now();
            let cells = self.store.field_cells(other.id(), old.id).await?;
            let changes = self.convert_cells(&old, &mut field, cells).await?;
            acting(other.user(), self.store.replace_field(&field, &changes)).await?;
            // Lookups, rollups and counts through the link keep their
            // cells and read as invalid, as when the link is retyped.
            self.invalidate_dependents(&other, field.id, None).await?;
        }
        acting(table.user(), self.store.delete_table(table.id()))
            .await
            .map_err(|e| not_found_as(e, "table"))?;
        self.purge_attachment_bytes(&[table.id()]).await;
        Ok(())
    }

    // ---- fields ----

    /// Validates a new field of `table` against the fields it will sit beside.
    async fn build_field(
        &self,
        table: &TableScope,
        siblings: &[Field],
        spec: NewField,
        position: i64,
    ) -> Result<Field> {
        let name = check_name("name", &spec.name)?;
        let folded = name.to_lowercase();
        if siblings.iter().any(|f| f.name.to_lowercase() == folded) {
            return Err(Error::Conflict {
                field: "name".into(),
                message: format!("a field named {name:?} already exists in this table"),
            });
        }
        self.limits.check_options(&name, &spec.options)?;
        super::computed::refuse_unparsable(&spec.field_type, &spec.options)?;
        let field_type = FieldType::from_parts(&spec.field_type, &spec.options)
            .map_err(|e| Error::invalid(name.clone(), e.message))?;
        check_zone(&field_type).map_err(|e| Error::invalid(name.clone(), e))?;
        check_choice_ids(&field_type).map_err(|e| Error::invalid(name.clone(), e))?;
        self.check_link_target(table, &field_type, &name).await?;
        let now = self.clock.now();
        Ok(Field {
            id: FieldId::new(),
            table_id: table.id(),
            name,
            description: check_description(spec.description)?,
            field_type,
            position,
            indexed: spec.indexed,
            index_origin: IndexOrigin::Manual,
            status: crate::model::FieldStatus::Ready,
            created_at: now,
            updated_at: now,
        })
    }

    /// A link must point to a table of the same base.
    async fn check_link_target(
        &self,
        table: &TableScope,
        ft: &FieldType,
        name: &str,
    ) -> Result<()> {
        if let Some(Reference::Records(linked_table_id)) = ft.references()
            && linked_table_id != table.id()
        {
            let ok = match self.store.get_table(linked_table_id).await {
                Ok(t) => t.base_id == table.table().base_id,
                Err(crate::StoreError::NotFound { .. }) => false,
                Err(e) => return Err(e.into()),
            };
            if !ok {
                // A table of another base reads as none: the same answer
                // (a body's id, so 422 naming the field, as link cells and
                // webhook tables are refused).
                return Err(Error::invalid(
                    name,
                    format!("a linked_table_id naming a table of this base, got {linked_table_id}"),
                ));
            }
        }
        Ok(())
    }

    /// Adds a field to a table (admin and above).
    pub async fn create_field(
        &self,
        principal: &Principal,
        table: TableId,
        spec: NewField,
    ) -> Result<Field> {
        let table = self
            .table_for(principal, table, Action::ChangeSchema)
            .await?;
        let fields = self.store.list_fields(table.id()).await?;
        self.limits.check_field_count("fields", fields.len() + 1)?;
        let position = fields.iter().map(|f| f.position + 1).max().unwrap_or(0);
        let mut field = self.build_field(&table, &fields, spec, position).await?;
        self.resolve_computed(&table, &fields, &mut field).await?;
        if field.indexed {
            let indexed = fields.iter().filter(|f| f.indexed).count();
            self.limits.check_indexed_count("indexed", indexed + 1)?;
        }
        let user = table.user();
        // A computed field on a large table is saved `computing` (so a
        // crash before its fill is queued leaves it visibly unfinished, and
        // the next runner queues it again) and filled in the background.
        let background =
            field.field_type.derived().is_some() && self.fills_in_background(&table).await?;
        if background {
            field.status = FieldStatus::Computing;
        }
        match self.inverse_for(&table, &mut field).await? {
            Some(inverse) => acting(user, self.store.create_field_pair(&field, &inverse)).await?,
            None => acting(user, self.store.create_field(&field)).await?,
        }
        if background {
            self.queue_fill(&table, &[field.id]).await?;
        } else if field.field_type.derived().is_some() {
            self.fill_computed(&table).await?;
        }
        let mut named = fields;
        named.push(field.clone());
        Ok(super::computed::shown_with(field, &named))
    }

    /// The fields of a table.
    pub async fn list_fields(&self, principal: &Principal, table: TableId) -> Result<Vec<Field>> {
        let scope = self.table_for(principal, table, Action::Read).await?;
        Ok(super::computed::shown(
            self.store.list_fields(scope.id()).await?,
        ))
    }

    /// A field.
    pub async fn get_field(&self, principal: &Principal, id: FieldId) -> Result<Field> {
        let field = self.field_for(principal, id, Action::Read).await?.1;
        self.shown_field(field).await
    }

    /// Renames, describes, re-options or re-types a field (admin and above).
    ///
    /// Renaming changes nothing stored. A new type (or options that change
    /// how cells normalise, like precision or select choices) converts every
    /// cell in one transaction; if any cell cannot convert, nothing changes
    /// and the error lists the cells that could not.
    ///
    /// Once begun, a change runs to its end in a task of its own: a caller
    /// that stops waiting (a client that hangs up) does not cut a
    /// conversion off between its steps (records made in a linked table,
    /// cells converted, readers computed again).
    pub async fn update_field(
        &self,
        principal: &Principal,
        id: FieldId,
        patch: FieldPatch,
    ) -> Result<Field> {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return self.change_field(principal, id, patch).await;
        };
        let (pb, principal) = (self.clone(), principal.clone());
        runtime
            .spawn(async move { pb.change_field(&principal, id, patch).await })
            .await
            .map_err(|e| Error::Internal(format!("the field change stopped: {e}").into()))?
    }

    /// [`Self::update_field`], in the caller's task.
    async fn change_field(
        &self,
        principal: &Principal,
        id: FieldId,
        patch: FieldPatch,
    ) -> Result<Field> {
        let (table, old) = self.field_for(principal, id, Action::ChangeSchema).await?;
        let mut field = old.clone();
        if let Some(name) = patch.name {
            let name = check_name("name", &name)?;
            let siblings = self.store.list_fields(table.id()).await?;
            if siblings
                .iter()
                .any(|f| f.id != id && f.name.to_lowercase() == name.to_lowercase())
            {
                return Err(Error::Conflict {
                    field: "name".into(),
                    message: format!("a field named {name:?} already exists in this table"),
                });
            }
            field.name = name;
        }
        if let Some(d) = patch.description {
            field.description = check_description(d)?;
        }
        if let Some(indexed) = patch.indexed {
            if indexed && !old.indexed {
                let siblings = self.store.list_fields(table.id()).await?;
                let count = siblings.iter().filter(|f| f.indexed).count();
                self.limits.check_indexed_count("indexed", count + 1)?;
            }
            field.indexed = indexed;
            // Said by hand: an index asked for is the author's, one turned
            // off stays off (PyBase does not add it back on its own).
            field.index_origin = if indexed {
                IndexOrigin::Manual
            } else {
                IndexOrigin::Declined
            };
        }
        let type_name = patch
            .field_type
            .as_deref()
            .unwrap_or(old.field_type.type_name());
        let retyped = patch.field_type.is_some() || patch.options.is_some();
        let choices_given = patch
            .options
            .as_ref()
            .is_some_and(|o| o.get("choices").is_some());
        if retyped {
            let options = match patch.options {
                // Options of the same type merge over the current ones.
                Some(o) if type_name == old.field_type.type_name() => {
                    merge_options(old.field_type.options_json(), o)
                }
                Some(o) => o,
                // A type change without options starts from defaults, except
                // select choices which carry over.
                None if type_name == old.field_type.type_name() => old.field_type.options_json(),
                None if !old.field_type.choices().is_empty() && type_name.ends_with("select") => {
                    json!({ "choices": old.field_type.choices() })
                }
                None => Value::Null,
            };
            self.limits.check_options(&field.name, &options)?;
            super::computed::refuse_unparsable(type_name, &options)?;
            let mut new_type = FieldType::from_parts(type_name, &options)
                .map_err(|e| Error::invalid(field.name.clone(), e.message))?;
            check_zone(&new_type).map_err(|e| Error::invalid(field.name.clone(), e))?;
            if choices_given {
                check_choice_ids(&new_type).map_err(|e| Error::invalid(field.name.clone(), e))?;
            }
            keep_choice_ids(&old.field_type, &mut new_type);
            {
                let mut probe = old.clone();
                probe.field_type = new_type;
                Self::keep_pairing(&old, &mut probe);
                new_type = probe.field_type;
            }
            self.check_link_target(&table, &new_type, &field.name)
                .await?;
            if Some(field.id) == table.table().primary_field_id
                && new_type.is_computed()
                && !old.field_type.is_computed()
            {
                return Err(Error::invalid(
                    field.name.clone(),
                    "a primary field type that can be written",
                ));
            }
            field.field_type = new_type;
            let siblings = self.store.list_fields(table.id()).await?;
            self.resolve_computed(&table, &siblings, &mut field).await?;
        }
        field.updated_at = self.clock.now();
        if retyped && field.field_type != old.field_type {
            let changes = self
                .convert_field(principal, &table, &old, &mut field)
                .await?;
            let seen_as = crate::formula::field_result_type;
            if field.field_type.type_name() != old.field_type.type_name()
                || seen_as(&field.field_type) != seen_as(&old.field_type)
                || field.field_type.references() != old.field_type.references()
            {
                // What reads the field is checked again: what no longer
                // checks reads as invalid, the rest follows the new cells.
                self.recheck_dependents(&table, field.id, !changes.is_empty())
                    .await?;
            } else if !changes.is_empty() {
                // Cells rewritten (a conversion, a precision, a choice's
                // name): what reads them is computed again.
                self.refill_readers_of(&table, field.id).await?;
            }
            let renames = choice_renames(&old.field_type, &field.field_type);
            self.fit_views_to(&table, &field, &renames).await?;
            if field.field_type.derived().is_some() {
                if self.fills_in_background(&table).await? {
                    // Changed again while filling: the fill restarts.
                    self.queue_fill(&table, &[field.id]).await?;
                    field.status = FieldStatus::Computing;
                } else {
                    self.fill_computed(&table).await?;
                    if old.status == FieldStatus::Computing {
                        self.settle_fill(&table, &[field.id]).await?;
                        field.status = FieldStatus::Ready;
                    }
                }
            } else if old.status == FieldStatus::Computing {
                self.settle_fill(&table, &[field.id]).await?;
                field.status = FieldStatus::Ready;
            }
        } else if field
            == (Field {
                updated_at: field.updated_at,
                ..old.clone()
            })
        {
            // Nothing to change: nothing written, nothing logged.
            return self.shown_field(old).await;
        } else {
            acting(table.user(), self.store.update_field(&field)).await?;
        }
        self.shown_field(field).await
    }

    /// The cells of `old`, about to become a derived field, that the
    /// recompute following the change does not reach: those of
    /// soft-deleted records (a recompute reads live records), cleared.
    /// The cells of live records are left for the recompute to write over
    /// (inline, or chunk by chunk in the background fill), so each record
    /// whose value changes logs one `record.updated` from the old value to
    /// the new (no clearing pass with an event of its own, issue 12); while
    /// a fill runs the field reads empty and refuses filters anyway.
    pub(super) async fn cells_a_recompute_misses(
        &self,
        table: &TableScope,
        cells: Vec<(crate::ids::RecordId, Value)>,
    ) -> Result<Vec<(crate::ids::RecordId, Option<Value>)>> {
        if cells.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<crate::ids::RecordId> = cells.iter().map(|(r, _)| *r).collect();
        let live = self.live_set(table.id(), &ids).await?;
        Ok(ids
            .into_iter()
            .filter(|r| !live.contains(r))
            .map(|r| (r, None))
            .collect())
    }

    /// Converts the stored `cells` of `old` to `field`'s type (adding select
    /// choices that converted cells need); refuses with the failures.
    pub(super) async fn convert_cells(
        &self,
        old: &Field,
        field: &mut Field,
        mut cells: Vec<(crate::ids::RecordId, Value)>,
    ) -> Result<Vec<(crate::ids::RecordId, Option<Value>)>> {
        let renamed_choices = choice_renames(&old.field_type, &field.field_type);
        if let Some(Reference::Records(linked)) = old.field_type.references()
            && old.field_type.type_name() != field.field_type.type_name()
            && field.field_type.kind().is_free_text()
        {
            // Linked records become their primary values, not their ids.
            cells = self.link_cells_as_titles(linked, cells).await?;
        }
        let mut changes = Vec::with_capacity(cells.len());
        let mut failures: Vec<String> = Vec::new();
        let mut failed = 0usize;
        let mut new_choices: Vec<String> = Vec::new();
        for (record, value) in cells {
            let source = rename_in_cell(&value, &renamed_choices);
            let converted =
                if source != value && old.field_type.type_name() == field.field_type.type_name() {
                    // Same type, only choice names changed: the renamed value is the result.
                    Ok(Some(source))
                } else {
                    convert_cell(&old.field_type, &field.field_type, &source)
                };
            // New choices become options, which hold no NUL.
            let converted = converted.and_then(|v| match &v {
                Some(c)
                    if crate::fields::new_choice_names(&field.field_type, c)
                        .iter()
                        .any(|n| n.contains('\0')) =>
                {
                    Err(crate::fields::ConversionFailure {
                        value: crate::fields::shown(&value),
                        to: field.field_type.type_name(),
                        reason: "choice names hold no NUL characters".into(),
                    })
                }
                _ => Ok(v),
            });
            match converted {
                Ok(v) => {
                    if let Some(v) = &v {
                        for name in crate::fields::new_choice_names(&field.field_type, v) {
                            if !new_choices.contains(&name) {
                                new_choices.push(name);
                            }
                        }
                    }
                    if v.as_ref() != Some(&value) {
                        changes.push((record, v));
                    }
                }
                Err(e) => {
                    failed += 1;
                    if failures.len() < MAX_REPORTED_FAILURES {
                        failures.push(format!("record {record}: {e}"));
                    }
                }
            }
        }
        if failed > 0 {
            return Err(conversion_refused(old, field, failed, &failures));
        }
        add_choices(&mut field.field_type, &new_choices);
        Ok(changes)
    }

    /// Deletes a field and its cells (admin and above). The primary field
    /// cannot be deleted. Views forget the field.
    pub async fn delete_field(&self, principal: &Principal, id: FieldId) -> Result<()> {
        let (table, field) = self.field_for(principal, id, Action::ChangeSchema).await?;
        if table.table().primary_field_id == Some(id) {
            return Err(Error::Conflict {
                field: "primary_field_id".into(),
                message: "the primary field cannot be deleted; make another field primary first"
                    .into(),
            });
        }
        acting(table.user(), self.store.delete_field(field.id))
            .await
            .map_err(|e| not_found_as(e, "field"))?;
        if field.status == FieldStatus::Computing {
            self.settle_fill(&table, &[]).await?;
        }
        self.invalidate_dependents(&table, id, Some(&field.name))
            .await?;
        for mut view in self.store.list_views(table.id()).await? {
            if forget_field(&mut view.config, id) {
                view.updated_at = self.clock.now();
                acting(table.user(), self.store.update_view(&view)).await?;
            }
        }
        Ok(())
    }

    /// Fits every view of the table to `field`'s new type or options
    /// (see [`fit_to_retyped`]).
    async fn fit_views_to(
        &self,
        table: &TableScope,
        field: &Field,
        renames: &BTreeMap<String, String>,
    ) -> Result<()> {
        let fields = self.store.list_fields(table.id()).await?;
        for mut view in self.store.list_views(table.id()).await? {
            let renamed = rename_choices_in_filter(&mut view.config, field.id, renames);
            if fit_to_retyped(&mut view.config, field.id, &fields) || renamed {
                view.updated_at = self.clock.now();
                acting(table.user(), self.store.update_view(&view)).await?;
            }
        }
        Ok(())
    }

    // ---- views ----

    /// Checks a view configuration in the API's shape against `fields` and
    /// stores field references by id.
    pub(crate) fn parse_view_config(&self, config: &Value, fields: &[Field]) -> Result<ViewConfig> {
        let obj = match config {
            Value::Null => return Ok(ViewConfig::default()),
            Value::Object(o) => o,
            other => return Err(Error::invalid("config", format!("an object, got {other}"))),
        };
        for k in obj.keys() {
            if !["filter", "sort", "hidden_fields", "field_order"].contains(&k.as_str()) {
                return Err(Error::invalid(
                    "config",
                    format!(
                        "unknown key {k:?} (expected filter, sort, hidden_fields, field_order)"
                    ),
                ));
            }
        }
        let mut out = ViewConfig::default();
        if let Some(f) = obj.get("filter").filter(|f| !f.is_null()) {
            let spec = FilterSpec::from_json_within(f, &self.limits)?;
            resolve_filter(&spec, fields)?;
            let to_id = |key: &str| {
                find_field(fields, key).map_or_else(|| key.to_owned(), |f| f.id.to_string())
            };
            out.filter = Some(spec.map_fields(&to_id).to_json());
        }
        if let Some(s) = obj.get("sort") {
            let specs = SortSpec::from_json(s)?;
            resolve_sort(&specs, fields)?;
            out.sort = specs
                .iter()
                .filter_map(|s| find_field(fields, &s.field).map(|f| (f.id, s.desc)))
                .map(|(field, desc)| StoredSort {
                    field,
                    direction: if desc {
                        SortDirection::Desc
                    } else {
                        SortDirection::Asc
                    },
                })
                .collect();
        }
        for (key, target) in [
            ("hidden_fields", &mut out.hidden_fields),
            ("field_order", &mut out.field_order),
        ] {
            match obj.get(key) {
                None | Some(Value::Null) => {}
                Some(Value::Array(items)) => {
                    for item in items {
                        let f = item
                            .as_str()
                            .and_then(|k| find_field(fields, k))
                            .ok_or_else(|| {
                                Error::invalid(
                                    key,
                                    format!("names or ids of the table's fields, got {item}"),
                                )
                            })?;
                        if !target.contains(&f.id) {
                            target.push(f.id);
                        }
                    }
                }
                Some(other) => {
                    return Err(Error::invalid(
                        key,
                        format!("a list of field names, got {other}"),
                    ));
                }
            }
        }
        Ok(out)
    }

    /// Creates a view (admin and above).
    pub async fn create_view(
        &self,
        principal: &Principal,
        table: TableId,
        input: NewView,
    ) -> Result<View> {
        let table = self
            .table_for(principal, table, Action::ChangeSchema)
            .await?;
        match input.view_type.as_deref() {
            None | Some("grid") => {}
            Some(other) => return Err(Error::invalid("type", format!("grid, got {other:?}"))),
        }
        let fields = self.store.list_fields(table.id()).await?;
        let views = self.store.list_views(table.id()).await?;
        let now = self.clock.now();
        let name = check_name("name", &input.name)?;
        unique_name(
            &name,
            views.iter().map(|v| v.name.as_str()),
            "view",
            "table",
        )?;
        let view = View {
            id: ViewId::new(),
            table_id: table.id(),
            name,
            view_type: ViewType::Grid,
            config: self.parse_view_config(&input.config, &fields)?,
            position: views.iter().map(|v| v.position + 1).max().unwrap_or(0),
            created_at: now,
            updated_at: now,
        };
        self.index_view_fields(&table, &fields, &view.config)
            .await?;
        acting(table.user(), self.store.create_view(&view)).await?;
        Ok(view)
    }

    /// Sets the `indexed` flag (so the store builds its cell index) on every
    /// field `config` filters or sorts by whose cells an index can serve:
    /// stored text and number fields (single selects included). Views are
    /// how a table is browsed, so their pages should not scan the table.
    /// Indexes stay when the view changes or goes; the field's `indexed`
    /// flag drops them.
    async fn index_view_fields(
        &self,
        table: &TableScope,
        fields: &[Field],
        config: &ViewConfig,
    ) -> Result<()> {
        let mut wanted: Vec<FieldId> = config.sort.iter().map(|s| s.field).collect();
        if let Some(f) = &config.filter {
            let filter = resolve_filter(&FilterSpec::from_json(f)?, fields)?;
            filter_fields(&filter, &mut wanted);
        }
        let mut indexed = fields
            .iter()
            .filter(|f| f.indexed && f.table_id == table.id())
            .count();
        for id in wanted {
            let Some(field) = fields
                .iter()
                .find(|f| f.id == id && f.table_id == table.id())
            else {
                continue;
            };
            if field.index_origin != IndexOrigin::Declined && auto_indexable(field) {
                if indexed >= self.limits.indexed_fields_per_table {
                    // At the cap a view still works, unindexed.
                    tracing::debug!(table = %table.id(), "indexed-field cap reached");
                    continue;
                }
                // As an index the queries asked for: its cells and type do
                // not change, so it is not logged (API.md, "Not logged").
                if self
                    .store
                    .index_field_automatically(field.id, self.clock.now())
                    .await?
                {
                    indexed += 1;
                }
            }
        }
        Ok(())
    }

    /// The views of a table.
    pub async fn list_views(&self, principal: &Principal, table: TableId) -> Result<Vec<View>> {
        let scope = self.table_for(principal, table, Action::Read).await?;
        Ok(self.store.list_views(scope.id()).await?)
    }

    /// A view.
    pub async fn get_view(&self, principal: &Principal, id: ViewId) -> Result<View> {
        Ok(self.view_for(principal, id, Action::Read).await?.1)
    }

    /// Renames or reconfigures a view (admin and above).
    pub async fn update_view(
        &self,
        principal: &Principal,
        id: ViewId,
        patch: ViewPatch,
    ) -> Result<View> {
        let (table, mut view) = self.view_for(principal, id, Action::ChangeSchema).await?;
        let before = view.clone();
        if let Some(name) = patch.name {
            let name = check_name("name", &name)?;
            let others = self.store.list_views(table.id()).await?;
            unique_name(
                &name,
                others
                    .iter()
                    .filter(|v| v.id != view.id)
                    .map(|v| v.name.as_str()),
                "view",
                "table",
            )?;
            view.name = name;
        }
        if let Some(config) = patch.config {
            let fields = self.store.list_fields(table.id()).await?;
            view.config = self.parse_view_config(&config, &fields)?;
            self.index_view_fields(&table, &fields, &view.config)
                .await?;
        }
        if view == before {
            // Nothing to change: nothing written, nothing logged.
            return Ok(view);
        }
        view.updated_at = self.clock.now();
        acting(table.user(), self.store.update_view(&view)).await?;
        Ok(view)
    }

    /// Deletes a view (admin and above).
    pub async fn delete_view(&self, principal: &Principal, id: ViewId) -> Result<()> {
        let (table, view) = self.view_for(principal, id, Action::ChangeSchema).await?;
        acting(table.user(), self.store.delete_view(view.id))
            .await
            .map_err(|e| not_found_as(e, "view"))
    }
}

/// [`conversion_refused`] for all of `failures`, listing the first few.
pub(super) fn conversion_refused_with(old: &Field, field: &Field, failures: &[String]) -> Error {
    let failed = failures.len();
    conversion_refused(
        old,
        field,
        failed,
        &failures[..failed.min(MAX_REPORTED_FAILURES)],
    )
}

/// A conversion refused: `failed` cells cannot become `field`'s type, the
/// first few named in `failures`. Keyed by the field, as every validation
/// error; nothing was changed.
fn conversion_refused(old: &Field, field: &Field, failed: usize, failures: &[String]) -> Error {
    let more = if failed > failures.len() { "; ..." } else { "" };
    let mut fields = FieldErrors::new();
    fields.insert(
        field.name.clone(),
        format!(
            "{failed} cell(s) cannot become {}: {}{more}",
            field.field_type.type_name(),
            failures.join("; ")
        ),
    );
    validation(
        format!(
            "{failed} cell(s) of {} cannot convert to {}; nothing was changed",
            old.name,
            field.field_type.type_name()
        ),
        fields,
    )
}

/// `patch` (a PATCH's options of a field keeping its type) merged over
/// `current` (its options as read): each key given replaces the current
/// value, a `null` removes the option, keys not given stay. Options that
/// are not an object are taken as given (and refused by the type).
fn merge_options(current: Value, patch: Value) -> Value {
    match (current, patch) {
        (Value::Object(mut merged), Value::Object(given)) => {
            for (key, value) in given {
                if value.is_null() {
                    merged.remove(&key);
                } else {
                    merged.insert(key, value);
                }
            }
            Value::Object(merged)
        }
        (_, patch) => patch,
    }
}

/// A datetime field's `timezone` must name an IANA zone when written
/// (stored fields are read as they are).
/// Refuses choices given with one id twice (stored choices are read as
/// they are: only a client's list is checked).
fn check_choice_ids(field_type: &FieldType) -> std::result::Result<(), String> {
    let mut seen = std::collections::BTreeSet::new();
    match field_type.choices().iter().find(|c| !seen.insert(c.id)) {
        Some(c) => Err(format!("choice id {} is listed twice", c.id)),
        None => Ok(()),
    }
}

fn check_zone(field_type: &FieldType) -> std::result::Result<(), String> {
    match field_type {
        FieldType::DateTime(dt) => dt.check_zone(),
        _ => Ok(()),
    }
}

/// Refuses `name` when one of `taken` equals it ignoring case, as field
/// names are refused (API.md: 409 `conflict` on `name`): table names are
/// unique within a base, view names within a table. Checked by the facade
/// against the names it reads (no database constraint: two concurrent
/// creations of one name can both pass).
/// Refuses `name` for a table of `base` (other than `except`) when another
/// table of the base has it ignoring case: the same `Conflict` the store
/// answers when two creates race ([`crate::error::conflict_message`]).
async fn check_table_name_free(
    store: &dyn crate::store::Store,
    base: BaseId,
    name: &str,
    except: Option<TableId>,
) -> Result<()> {
    if store.table_name_taken(base, name, except).await? {
        return Err(crate::StoreError::conflict("table", "name").into());
    }
    Ok(())
}

fn unique_name<'a>(
    name: &str,
    taken: impl IntoIterator<Item = &'a str>,
    what: &str,
    within: &str,
) -> Result<()> {
    let lower = name.to_lowercase();
    if taken.into_iter().any(|n| n.to_lowercase() == lower) {
        return Err(Error::Conflict {
            field: "name".into(),
            message: format!("a {what} with this name already exists in the {within}"),
        });
    }
    Ok(())
}

/// Appends the fields whose cells `filter` reads to `out` (once each).
pub(crate) fn filter_fields(filter: &Filter, out: &mut Vec<FieldId>) {
    match filter {
        Filter::And(parts) | Filter::Or(parts) => {
            for p in parts {
                filter_fields(p, out);
            }
        }
        Filter::Not(inner) => filter_fields(inner, out),
        Filter::Cond(c) => {
            if let Target::Cell { field, .. } = c.target
                && !out.contains(&field)
            {
                out.push(field);
            }
        }
    }
}

/// A validation error with a summary and per-field details.
pub(crate) fn validation(message: impl Into<String>, fields: FieldErrors) -> Error {
    Error::Validation {
        message: message.into(),
        fields,
    }
}

/// Choices given by name only keep the id of the old choice of that name,
/// unless another choice of the list names that id (a choice renamed by
/// its id, and a new choice taking its old name, are two choices).
fn keep_choice_ids(old: &FieldType, new: &mut FieldType) {
    let old_choices = old.choices();
    if let Some(choices) = new.choices_mut() {
        let mut claimed: std::collections::BTreeSet<_> = choices
            .iter()
            .filter(|c| old_choices.iter().any(|o| o.id == c.id))
            .map(|c| c.id)
            .collect();
        for c in choices.iter_mut() {
            if old_choices.iter().any(|o| o.id == c.id) {
                continue;
            }
            if let Some(o) = old_choices
                .iter()
                .find(|o| o.name == c.name && !claimed.contains(&o.id))
            {
                c.id = o.id;
                claimed.insert(o.id);
            }
        }
    }
}

/// Old name to new name for choices whose id stayed and name changed.
fn choice_renames(old: &FieldType, new: &FieldType) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for o in old.choices() {
        if let Some(n) = new.choices().iter().find(|n| n.id == o.id)
            && n.name != o.name
        {
            out.insert(o.name.clone(), n.name.clone());
        }
    }
    out
}

fn rename_in_cell(value: &Value, renames: &BTreeMap<String, String>) -> Value {
    if renames.is_empty() {
        return value.clone();
    }
    match value {
        Value::String(s) => Value::String(renames.get(s).cloned().unwrap_or_else(|| s.clone())),
        Value::Array(items) => {
            Value::Array(items.iter().map(|i| rename_in_cell(i, renames)).collect())
        }
        other => other.clone(),
    }
}

/// Appends choices named `names` to a select type.
pub(crate) fn add_choices(ft: &mut FieldType, names: &[String]) {
    if let Some(choices) = ft.choices_mut() {
        for name in names {
            if !choices.iter().any(|c| &c.name == name) {
                choices.push(Choice {
                    id: Default::default(),
                    name: name.clone(),
                    color: None,
                });
            }
        }
    }
}

/// Removes every reference to `field` from a view configuration; `true` if
/// anything changed.
fn forget_field(config: &mut ViewConfig, field: FieldId) -> bool {
    let before = config.clone();
    config.sort.retain(|s| s.field != field);
    config.hidden_fields.retain(|f| *f != field);
    config.field_order.retain(|f| *f != field);
    prune_filter(config, &|cond| cond_field(cond) == Some(field.as_str()));
    *config != before
}

/// Removes from a view configuration what no longer fits `field` after
/// its type changed (as Baserow and Airtable do): filter conditions on it
/// that its new type cannot answer (`contains` on a number, a choice a
/// checkbox lacks) and its sort if the new type cannot be sorted. What
/// still fits stays. `true` if anything changed.
fn fit_to_retyped(config: &mut ViewConfig, field: FieldId, fields: &[Field]) -> bool {
    let before = config.clone();
    config.sort.retain(|s| {
        s.field != field
            || resolve_sort(
                &[SortSpec {
                    field: field.to_string(),
                    desc: s.direction == SortDirection::Desc,
                }],
                fields,
            )
            .is_ok()
    });
    prune_filter(config, &|cond| {
        cond_field(cond) == Some(field.as_str()) && resolve_filter(cond, fields).is_err()
    });
    *config != before
}

/// Rewrites the choice names `renames` maps in the view filter's
/// conditions on `field` (a renamed choice keeps its id, so a condition
/// naming it goes on selecting it); whether anything changed.
fn rename_choices_in_filter(
    config: &mut ViewConfig,
    field: FieldId,
    renames: &BTreeMap<String, String>,
) -> bool {
    fn walk(spec: FilterSpec, field: &str, renames: &BTreeMap<String, String>) -> FilterSpec {
        match spec {
            FilterSpec::And(parts) => {
                FilterSpec::And(parts.into_iter().map(|p| walk(p, field, renames)).collect())
            }
            FilterSpec::Or(parts) => {
                FilterSpec::Or(parts.into_iter().map(|p| walk(p, field, renames)).collect())
            }
            FilterSpec::Not(inner) => FilterSpec::Not(Box::new(walk(*inner, field, renames))),
            FilterSpec::Cond {
                field: f,
                op,
                value,
            } if f == field => FilterSpec::Cond {
                value: rename_in_cell(&value, renames),
                field: f,
                op,
            },
            other => other,
        }
    }
    if renames.is_empty() {
        return false;
    }
    let Some(filter) = &config.filter else {
        return false;
    };
    let Ok(spec) = FilterSpec::from_json(filter) else {
        return false;
    };
    let renamed = walk(spec, field.as_str(), renames).to_json();
    if &renamed == filter {
        return false;
    }
    config.filter = Some(renamed);
    true
}

/// The field a condition names (`None` for a group).
fn cond_field(spec: &FilterSpec) -> Option<&str> {
    match spec {
        FilterSpec::Cond { field, .. } => Some(field),
        _ => None,
    }
}

/// Drops the view filter's conditions that `drop` selects (a filter left
/// empty is removed).
fn prune_filter(config: &mut ViewConfig, drop: &dyn Fn(&FilterSpec) -> bool) {
    if let Some(filter) = &config.filter {
        config.filter = FilterSpec::from_json(filter)
            .ok()
            .and_then(|spec| prune(spec, drop))
            .map(|s| s.to_json());
    }
}

/// The filter without the conditions `drop` selects (`None` if nothing is
/// left).
fn prune(spec: FilterSpec, drop: &dyn Fn(&FilterSpec) -> bool) -> Option<FilterSpec> {
    match spec {
        FilterSpec::And(parts) => {
            let kept: Vec<_> = parts.into_iter().filter_map(|p| prune(p, drop)).collect();
            (!kept.is_empty()).then_some(FilterSpec::And(kept))
        }
        FilterSpec::Or(parts) => {
            let kept: Vec<_> = parts.into_iter().filter_map(|p| prune(p, drop)).collect();
            (!kept.is_empty()).then_some(FilterSpec::Or(kept))
        }
        FilterSpec::Not(inner) => prune(*inner, drop).map(|i| FilterSpec::Not(Box::new(i))),
        cond if drop(&cond) => None,
        cond => Some(cond),
    }
}

/// Whether PyBase may index `field` on its own (for a view or for the
/// queries run): a stored text or number field (single selects included)
/// that is not indexed yet.
pub(crate) fn auto_indexable(field: &Field) -> bool {
    !field.indexed
        && !field.field_type.is_computed()
        && matches!(
            field.field_type.value_kind(),
            ValueKind::Text | ValueKind::Number
        )
}
