//! Computed fields in the schema (issue 12): a new or changed formula,
//! lookup, rollup or count field has its options resolved (references to
//! field ids, result type from the formula checker), its dependency graph
//! across the base's tables checked for cycles, and its cells filled;
//! deleting a field makes the derived fields that read it `is_valid:
//! false` (their cells kept), and retyping one does so for those that no
//! longer check against its new type.

use std::collections::{BTreeMap, HashMap};

use super::Pybase;
use super::authz::TableScope;
use crate::error::{Error, Result};
use crate::fields::{FieldType, Reference};
use crate::formula::{self, ResultType};
use crate::ids::{FieldId, TableId};
use crate::model::Field;
use crate::store::acting;

/// How many records one fill transaction recomputes.
pub(crate) const COMPUTE_CHUNK_RECORDS: usize = 1_000;

/// A field of `fields` named `key` (by id, or by name ignoring case).
fn find<'a>(fields: &'a [Field], key: &str) -> Option<&'a Field> {
    FieldId::parse(key)
        .ok()
        .and_then(|id| fields.iter().find(|f| f.id == id))
        .or_else(|| {
            let folded = key.to_lowercase();
            fields.iter().find(|f| f.name.to_lowercase() == folded)
        })
}

/// The `values` a rollup formula reads, typed as a list for the checker.
fn values_field(table: TableId) -> Field {
    Field {
        id: FieldId::new(),
        table_id: table,
        name: "values".into(),
        description: None,
        field_type: FieldType::from_parts("multi_select", &serde_json::Value::Null)
            .unwrap_or_else(|_| unreachable!("multi_select needs no options")),
        position: 0,
        indexed: false,
        index_origin: crate::model::IndexOrigin::Manual,
        status: crate::model::FieldStatus::Ready,
        created_at: chrono::DateTime::UNIX_EPOCH,
        updated_at: chrono::DateTime::UNIX_EPOCH,
    }
}

/// The field references of formula `source` as written (names or ids),
/// in order; none when it does not parse.
fn field_refs(source: &str) -> Vec<String> {
    fn walk(expr: &formula::Expr, out: &mut Vec<String>) {
        match &expr.kind {
            formula::ExprKind::Field(n) => out.push(n.clone()),
            formula::ExprKind::Call { args, .. } => args.iter().for_each(|a| walk(a, out)),
            formula::ExprKind::Unary { operand, .. } => walk(operand, out),
            formula::ExprKind::Binary { lhs, rhs, .. } => {
                walk(lhs, out);
                walk(rhs, out);
            }
            formula::ExprKind::Number(_)
            | formula::ExprKind::Text(_)
            | formula::ExprKind::Bool(_) => {}
        }
    }
    let mut out = Vec::new();
    if let Ok(expr) = formula::parse(source) {
        walk(&expr, &mut out);
    }
    out
}

/// Whether `source` (a formula of the field `id` named `name`) names that
/// field itself: by its id, or by its name where no sibling has that name
/// (siblings are found first, as the checker finds them). Such a formula
/// is a cycle of one field, refused naming it twice.
fn reads_itself(source: &str, id: FieldId, name: &str, siblings: &[Field]) -> bool {
    let refs = field_refs(source);
    let folded = name.to_lowercase();
    refs.iter().any(|r| {
        let by_id = FieldId::parse(r).is_ok_and(|r| r == id);
        let by_name = (r == name || r.to_lowercase() == folded) && find(siblings, r).is_none();
        by_id || by_name
    })
}

/// The path of names from `start` back to itself along "reads" among the
/// base's fields `all` (with `primaries`, each table's primary field: a
/// formula naming a link field reads the linked table's primary field),
/// if there is one.
fn cycle_through(
    all: &[Field],
    primaries: &HashMap<TableId, FieldId>,
    start: FieldId,
) -> Option<Vec<String>> {
    let by_id: HashMap<FieldId, &Field> = all.iter().map(|f| (f.id, f)).collect();
    let reads = |f: &Field| -> Vec<FieldId> {
        let direct = depends_on(f);
        let mut out = direct.clone();
        if matches!(f.field_type, FieldType::Formula(_)) {
            for id in &direct {
                let linked = by_id.get(id).and_then(|l| match l.field_type.references() {
                    Some(Reference::Records(t)) => Some(t),
                    _ => None,
                });
                if let Some(p) = linked.and_then(|t| primaries.get(&t)) {
                    out.push(*p);
                }
            }
        }
        out
    };
    // Depth-first from `start` along "reads"; reaching it again is a cycle.
    let mut stack: Vec<(FieldId, Vec<FieldId>)> = vec![(start, vec![start])];
    let mut seen: BTreeMap<FieldId, ()> = BTreeMap::new();
    while let Some((at, path)) = stack.pop() {
        let Some(f) = by_id.get(&at) else { continue };
        for next in reads(f) {
            if next == start {
                let mut names: Vec<String> = path
                    .iter()
                    .filter_map(|id| by_id.get(id).map(|f| f.name.clone()))
                    .collect();
                names.extend(by_id.get(&start).map(|f| f.name.clone()));
                return Some(names);
            }
            if seen.insert(next, ()).is_none() {
                let mut p = path.clone();
                p.push(next);
                stack.push((next, p));
            }
        }
    }
    None
}

/// Whether `a` and `b` name the same fields (in any order).
fn same_fields(a: &[FieldId], b: &[FieldId]) -> bool {
    let set = |x: &[FieldId]| x.iter().copied().collect::<std::collections::BTreeSet<_>>();
    set(a) == set(b)
}

/// The fields a derived field reads directly (same table or, for lookups
/// and rollups, the linked table's field).
fn depends_on(field: &Field) -> Vec<FieldId> {
    field
        .field_type
        .derived()
        .map(|d| d.referenced_field_ids.clone())
        .unwrap_or_default()
}

/// `fields` (one table's) as callers see them: a formula, stored with
/// field ids, shows the current names of the fields it reads, so a renamed
/// field shows its new name ([`formula::display`]; a deleted field's
/// references were written as its last known name when it was deleted).
/// Other fields are unchanged.
pub(crate) fn shown(fields: Vec<Field>) -> Vec<Field> {
    if !fields
        .iter()
        .any(|f| matches!(f.field_type, FieldType::Formula(_)))
    {
        return fields;
    }
    let named: Vec<Field> = fields.clone();
    fields.into_iter().map(|f| shown_with(f, &named)).collect()
}

/// `field` as callers see it ([`shown`]), its formula's references named
/// from `siblings` (its table's fields).
pub(crate) fn shown_with(mut field: Field, siblings: &[Field]) -> Field {
    if let FieldType::Formula(f) = &mut field.field_type
        && let Ok(text) = formula::display(&f.formula, siblings)
    {
        f.formula = text;
    }
    field
}

/// Refuses the `formula` option of a `formula` or `rollup` field that does
/// not parse with the error a formula that does not check gets
/// ([`Error::InvalidFormula`]: API.md's `details.formula` with the
/// position), before the options are read (which would name only the
/// field).
pub(crate) fn refuse_unparsable(type_name: &str, options: &serde_json::Value) -> Result<()> {
    if !matches!(type_name, "formula" | "rollup") {
        return Ok(());
    }
    match options.get("formula").and_then(serde_json::Value::as_str) {
        Some(text) => formula::parse_positioned(text)
            .map(|_| ())
            .map_err(Error::from),
        None => Ok(()),
    }
}

impl Pybase {
    /// `field` as callers see it ([`shown`]): a formula field's siblings
    /// are read for their names.
    pub(crate) async fn shown_field(&self, field: Field) -> Result<Field> {
        if !matches!(field.field_type, FieldType::Formula(_)) {
            return Ok(field);
        }
        let siblings = self.store.list_fields(field.table_id).await?;
        Ok(shown_with(field, &siblings))
    }

    /// Resolves a derived field's options against its table's `siblings`
    /// (the field itself left out): references become field ids, the
    /// result type is inferred, and a cycle through the base's derived
    /// fields is refused naming its path. Other types pass unchanged.
    pub(crate) async fn resolve_computed(
        &self,
        table: &TableScope,
        siblings: &[Field],
        field: &mut Field,
    ) -> Result<()> {
        self.resolve_computed_among(table, siblings, field, false)
            .await
    }

    /// Resolves the derived fields among `fields`, the fields of a table
    /// being created (not stored yet). A formula may read a field listed
    /// after it: each is resolved once the derived fields it names are,
    /// so result types follow chains written in any order; formulas that
    /// name each other in a ring are refused as a cycle with its path.
    pub(crate) async fn resolve_new_computed(
        &self,
        table: &TableScope,
        fields: &mut [Field],
    ) -> Result<()> {
        let mut pending: Vec<usize> = (0..fields.len())
            .filter(|&i| fields[i].field_type.derived().is_some())
            .collect();
        // The pending derived siblings a field's formula names.
        let waits_for = |fields: &[Field], pending: &[usize], i: usize| -> Vec<usize> {
            let FieldType::Formula(f) = &fields[i].field_type else {
                return Vec::new();
            };
            field_refs(&f.formula)
                .iter()
                .filter_map(|r| find(fields, r).map(|f| f.id))
                .filter_map(|id| pending.iter().copied().find(|&j| fields[j].id == id))
                .filter(|&j| j != i)
                .collect()
        };
        while !pending.is_empty() {
            let next = pending
                .iter()
                .position(|&i| waits_for(fields, &pending, i).is_empty());
            let Some(at) = next else {
                // Every pending formula waits for another: a ring.
                let mut path = vec![pending[0]];
                let mut at = pending[0];
                loop {
                    at = waits_for(fields, &pending, at)[0];
                    if let Some(p) = path.iter().position(|&j| j == at) {
                        path.drain(..p);
                        path.push(at);
                        break;
                    }
                    path.push(at);
                }
                let names: Vec<String> = path.iter().map(|&j| fields[j].name.clone()).collect();
                return Err(Error::FormulaCycle {
                    field: names[0].clone(),
                    path: names,
                });
            };
            let i = pending.remove(at);
            let siblings = fields.to_vec();
            let mut field = fields[i].clone();
            // Several formulas come in one request: the message names the
            // one refused (its position counts in its own formula).
            self.resolve_computed_among(table, &siblings, &mut field, true)
                .await
                .map_err(|e| match e {
                    Error::InvalidFormula {
                        message,
                        start,
                        end,
                    } => Error::InvalidFormula {
                        message: format!("fields[{i}] {:?}: {message}", fields[i].name),
                        start,
                        end,
                    },
                    other => other,
                })?;
            fields[i] = field;
        }
        Ok(())
    }

    /// [`Self::resolve_computed`]; `unsaved`: the siblings are not stored
    /// yet (a table being created), so the cycle search and a self-link's
    /// target fields read them rather than the store.
    async fn resolve_computed_among(
        &self,
        table: &TableScope,
        siblings: &[Field],
        field: &mut Field,
        unsaved: bool,
    ) -> Result<()> {
        let others: Vec<Field> = siblings
            .iter()
            .filter(|f| f.id != field.id)
            .cloned()
            .collect();
        let name = field.name.clone();
        let link_of = |key: &str| -> Result<(FieldId, TableId)> {
            let link = find(&others, key).ok_or_else(|| {
                Error::invalid(
                    name.clone(),
                    format!("link_field: a link field of this table, got {key:?}"),
                )
            })?;
            match link.field_type.references() {
                Some(Reference::Records(t)) => Ok((link.id, t)),
                _ => Err(Error::invalid(
                    name.clone(),
                    format!("link_field: a link field, {:?} is not one", link.name),
                )),
            }
        };
        match &mut field.field_type {
            FieldType::Formula(f) => {
                if reads_itself(&f.formula, field.id, &name, &others) {
                    return Err(Error::FormulaCycle {
                        field: name.clone(),
                        path: vec![name.clone(), name],
                    });
                }
                let checked = formula::check(&f.formula, &others)?;
                f.formula = checked.stored();
                f.derived.result_type = checked.result_type;
                f.derived.referenced_field_ids = checked.referenced_field_ids;
                f.derived.is_valid = true;
            }
            FieldType::Lookup(_) | FieldType::Rollup(_) => {
                let (link_key, target_key) = match &field.field_type {
                    FieldType::Lookup(l) => (l.link_field.clone(), l.field.clone()),
                    FieldType::Rollup(r) => (r.link_field.clone(), r.field.clone()),
                    _ => unreachable!("matched above"),
                };
                let (link, linked_table) = link_of(&link_key)?;
                let linked = if unsaved && linked_table == table.id() {
                    siblings.to_vec()
                } else {
                    self.store.list_fields(linked_table).await?
                };
                let target = find(&linked, &target_key).ok_or_else(|| {
                    Error::invalid(
                        name.clone(),
                        format!("field: a field of the linked table, got {target_key:?}"),
                    )
                })?;
                let target_id = target.id;
                match &mut field.field_type {
                    FieldType::Lookup(l) => {
                        l.link_field = link.to_string();
                        l.field = target_id.to_string();
                        l.item_type = Some(formula::field_result_type(&target.field_type));
                        l.derived.result_type = ResultType::List;
                        l.derived.referenced_field_ids = vec![link, target_id];
                        l.derived.is_valid = true;
                    }
                    FieldType::Rollup(r) => {
                        let item = formula::field_result_type(&target.field_type);
                        let checked = formula::check_rollup(
                            &r.formula,
                            &values_field(table.id()),
                            item,
                        )
                        .map_err(|e| Error::InvalidFormula {
                            message: if e.message.starts_with("Unknown field names") {
                                format!(
                                    "{} (a rollup's formula reads the linked values as {{values}})",
                                    e.message
                                )
                            } else {
                                e.message
                            },
                            start: e.start,
                            end: e.end,
                        })?;
                        r.link_field = link.to_string();
                        r.field = target_id.to_string();
                        r.derived.result_type = checked.result_type;
                        r.derived.referenced_field_ids = vec![link, target_id];
                        r.derived.is_valid = true;
                    }
                    _ => unreachable!("matched above"),
                }
            }
            FieldType::Count(c) => {
                let (link, _) = link_of(&c.link_field)?;
                c.link_field = link.to_string();
                c.derived.result_type = ResultType::Number;
                c.derived.referenced_field_ids = vec![link];
                c.derived.is_valid = true;
            }
            _ => return Ok(()),
        }
        let pending = if unsaved { siblings } else { &[] };
        self.refuse_cycle(table, field, pending).await
    }

    /// Every field of the tables of `table`'s base.
    async fn base_fields(&self, table: &TableScope) -> Result<Vec<Field>> {
        Ok(self.store.list_base_fields(table.table().base_id).await?)
    }

    /// Refuses `field` (new or changed) if the base's derived fields would
    /// then depend on themselves; the error names the path.
    async fn refuse_cycle(
        &self,
        table: &TableScope,
        field: &Field,
        pending: &[Field],
    ) -> Result<()> {
        let mut all = self.base_fields(table).await?;
        all.retain(|f| f.id != field.id && pending.iter().all(|p| p.id != f.id));
        all.extend(pending.iter().filter(|p| p.id != field.id).cloned());
        all.push(field.clone());
        let primaries = self.primaries(table).await?;
        match cycle_through(&all, &primaries, field.id) {
            Some(path) => Err(Error::FormulaCycle {
                field: field.name.clone(),
                path,
            }),
            None => Ok(()),
        }
    }

    /// The primary field of each table of `table`'s base.
    async fn primaries(&self, table: &TableScope) -> Result<HashMap<TableId, FieldId>> {
        Ok(self
            .store
            .list_tables(table.table().base_id)
            .await?
            .into_iter()
            .filter_map(|t| Some((t.id, t.primary_field_id?)))
            .collect())
    }

    /// Refuses making `primary` the primary field of `table` if a formula
    /// would then depend on itself: a formula reading a link to `table`
    /// reads its primary field, so a primary that reads such a formula back
    /// makes a cycle. Nothing is changed; the error names the path.
    pub(crate) async fn refuse_primary_cycle(
        &self,
        table: &TableScope,
        primary: &Field,
    ) -> Result<()> {
        let all = self.base_fields(table).await?;
        let mut primaries = self.primaries(table).await?;
        primaries.insert(table.id(), primary.id);
        // Any cycle now passes through the new primary (the graph had none).
        match cycle_through(&all, &primaries, primary.id) {
            Some(path) => Err(Error::FormulaCycle {
                field: primary.name.clone(),
                path,
            }),
            None => Ok(()),
        }
    }

    /// Recomputes the formulas that read a link field pointing at `table`
    /// (they read its primary field, which changed): each such formula's
    /// table is filled in the request, or in the background when large.
    pub(crate) async fn refill_link_formulas(&self, table: &TableScope) -> Result<()> {
        let fields = self.base_fields(table).await?;
        let links_here: Vec<FieldId> = fields
            .iter()
            .filter(|f| f.field_type.references() == Some(Reference::Records(table.id())))
            .map(|f| f.id)
            .collect();
        let mut readers: BTreeMap<TableId, Vec<FieldId>> = BTreeMap::new();
        for f in &fields {
            if let FieldType::Formula(x) = &f.field_type
                && x.derived.is_valid
                && x.derived
                    .referenced_field_ids
                    .iter()
                    .any(|id| links_here.contains(id))
            {
                readers.entry(f.table_id).or_default().push(f.id);
            }
        }
        self.fill_readers(table, readers).await
    }

    /// Fills each table of `readers` (its computed fields that must be
    /// computed again) beside `table`: in the request, or in the
    /// background when large.
    async fn fill_readers(
        &self,
        table: &TableScope,
        readers: BTreeMap<TableId, Vec<FieldId>>,
    ) -> Result<()> {
        for (reader, fields) in readers {
            let Some(scope) = table.sibling(self.store.get_table(reader).await?) else {
                continue;
            };
            if self.fills_in_background(&scope).await? {
                self.queue_fill(&scope, &fields).await?;
            } else {
                self.fill_computed(&scope).await?;
            }
        }
        Ok(())
    }

    /// Recomputes what reads `field` of `table` after its cells were
    /// rewritten by a change of its options (a lower precision, a renamed
    /// choice): each table holding a valid computed field that reads it
    /// (a formula of its table, a lookup or rollup through a link) is
    /// filled in the request, or in the background when large, which
    /// recomputes what depends on those in turn, as a write of the cells
    /// would have.
    pub(crate) async fn refill_readers_of(&self, table: &TableScope, field: FieldId) -> Result<()> {
        let mut readers: BTreeMap<TableId, Vec<FieldId>> = BTreeMap::new();
        for f in self.base_fields(table).await? {
            if f.field_type.derived().is_some_and(|d| d.is_valid) && depends_on(&f).contains(&field)
            {
                readers.entry(f.table_id).or_default().push(f.id);
            }
        }
        self.fill_readers(table, readers).await
    }

    /// Fills (recomputes) the derived cells of every live record of
    /// `table`, a chunk of [`COMPUTE_CHUNK_RECORDS`] per transaction.
    pub(crate) async fn fill_computed(&self, table: &TableScope) -> Result<()> {
        let mut after = None;
        loop {
            let next = acting(
                table.user(),
                self.store
                    .recompute_records(table.id(), after, COMPUTE_CHUNK_RECORDS),
            )
            .await?;
            match next {
                Some(last) => after = Some(last),
                None => return Ok(()),
            }
        }
    }

    /// Recomputes every table that has a valid formula reading the clock
    /// (`NOW()`, `TODAY()`, `FROMNOW`, `TONOW`), chunk by chunk; answers
    /// how many tables were refreshed. The server calls it on a timer
    /// (`TIME_FORMULAS_REFRESH_SECS`); embedders call it when they like.
    /// It acts for no user (the change log records no actor).
    pub async fn refresh_time_formulas(&self) -> Result<usize> {
        let mut tables: Vec<TableId> = self
            .store
            .fields_of_type("formula")
            .await?
            .iter()
            .filter(|f| f.field_type.derived().is_some_and(|d| d.is_valid))
            .filter(|f| crate::store::computed::is_volatile(f))
            .map(|f| f.table_id)
            .collect();
        tables.dedup();
        for &table in &tables {
            let mut after = None;
            while let Some(last) = self
                .store
                .recompute_records(table, after, COMPUTE_CHUNK_RECORDS)
                .await?
            {
                after = Some(last);
            }
        }
        Ok(tables.len())
    }

    /// Checks again, against the schema as it is now, the derived fields of
    /// the base that read `changed` (a field of `table` that took another
    /// type, a link moved to another table, or a formula whose result
    /// changed type). A valid one that still checks, reading the same
    /// fields, with the result type it had stays valid, as Airtable keeps a
    /// formula over a number field retyped to currency; any other (text
    /// multiplied, a lookup through what is no longer a link, a formula
    /// whose result would now be text) reads as `is_valid: false` and keeps
    /// its cells, as when the field is deleted. An invalid one that checks
    /// so again (the field retyped back) is valid again. Recomputes the
    /// readers made valid again, and, with `cells_changed`, every reader
    /// left valid.
    pub(crate) async fn recheck_dependents(
        &self,
        table: &TableScope,
        changed: FieldId,
        cells_changed: bool,
    ) -> Result<()> {
        let mut refill: BTreeMap<TableId, Vec<FieldId>> = BTreeMap::new();
        for f in self.base_fields(table).await? {
            let Some(was) = f.field_type.derived().cloned() else {
                continue;
            };
            if f.id == changed || !was.referenced_field_ids.contains(&changed) {
                continue;
            }
            let Some(scope) = table.sibling(self.store.get_table(f.table_id).await?) else {
                continue;
            };
            let siblings = self.store.list_fields(f.table_id).await?;
            let mut probe = f.clone();
            // It checks if it reads the same fields as before (a deleted
            // reference, kept as its name, may now resolve to another
            // field of that name: never revived that way) and gives the
            // same type.
            let checks = match self.resolve_computed(&scope, &siblings, &mut probe).await {
                Ok(()) => probe.field_type.derived().is_some_and(|d| {
                    d.result_type == was.result_type
                        && same_fields(&d.referenced_field_ids, &was.referenced_field_ids)
                }),
                Err(
                    Error::Validation { .. }
                    | Error::InvalidFormula { .. }
                    | Error::FormulaCycle { .. },
                ) => false,
                Err(e) => return Err(e),
            };
            let write = match (was.is_valid, checks) {
                (true, true) => {
                    if cells_changed {
                        refill.entry(f.table_id).or_default().push(f.id);
                    }
                    // What it knows of what it reads may have changed (a
                    // lookup's item type).
                    (probe.field_type != f.field_type).then_some(probe)
                }
                (false, false) => None,
                (true, false) => {
                    let mut f = f;
                    if let Some(d) = f.field_type.derived_mut() {
                        d.is_valid = false;
                    }
                    Some(f)
                }
                (false, true) => {
                    refill.entry(f.table_id).or_default().push(f.id);
                    Some(probe)
                }
            };
            if let Some(mut f) = write {
                f.updated_at = self.clock.now();
                acting(table.user(), self.store.update_field(&f)).await?;
            }
        }
        self.fill_readers(table, refill).await
    }

    /// Gives each lookup saved before lookups kept their `item_type` the
    /// type of the field it looks up (a lookup of numbers then sorts by
    /// its first number). Run once, with the first background-fill run
    /// ([`Pybase::run_compute_fills`]); a lookup whose field is gone keeps
    /// none.
    pub(crate) async fn settle_lookup_item_types(&self) -> Result<()> {
        for mut f in self.store.fields_of_type("lookup").await? {
            let FieldType::Lookup(l) = &mut f.field_type else {
                continue;
            };
            if l.item_type.is_some() {
                continue;
            }
            let Ok(target) = FieldId::parse(&l.field) else {
                continue;
            };
            let target = match self.store.get_field(target).await {
                Ok(t) => t,
                Err(crate::StoreError::NotFound { .. }) => continue,
                Err(e) => return Err(e.into()),
            };
            l.item_type = Some(formula::field_result_type(&target.field_type));
            self.store.update_field(&f).await?;
        }
        Ok(())
    }

    /// Marks the derived fields of the base that read `gone` (deleted, or a
    /// link turned into text as its table is deleted) `is_valid: false`;
    /// their cells keep their last values.
    /// When `gone` is deleted, `deleted_name` is its name: a formula's
    /// references to it are written as that name (its last known name,
    /// [`formula::name_deleted_reference`]), whether or not the formula was
    /// already invalid.
    pub(crate) async fn invalidate_dependents(
        &self,
        table: &TableScope,
        gone: FieldId,
        deleted_name: Option<&str>,
    ) -> Result<()> {
        for mut f in self.base_fields(table).await? {
            if f.id == gone || !depends_on(&f).contains(&gone) {
                continue;
            }
            let mut changed = false;
            if let (Some(name), FieldType::Formula(formula)) = (deleted_name, &mut f.field_type)
                && let Ok(text) = formula::name_deleted_reference(&formula.formula, gone, name)
                && text != formula.formula
            {
                formula.formula = text;
                changed = true;
            }
            if let Some(d) = f.field_type.derived_mut()
                && d.is_valid
            {
                d.is_valid = false;
                changed = true;
            }
            if changed {
                f.updated_at = self.clock.now();
                acting(table.user(), self.store.update_field(&f)).await?;
            }
        }
        Ok(())
    }
}
