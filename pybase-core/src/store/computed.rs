//! Computed fields kept current inside the writing transaction: the one
//! algorithm both stores run (issue 12).
//!
//! A store calls [`recompute`] after a write, inside its transaction, with
//! the records it wrote (created, updated, deleted, restored, and the
//! partner records whose inverse link cells it changed). [`ComputeTx`] is
//! the small interface each store implements over its open transaction:
//! read the base's fields, read (and on PostgreSQL lock, in id order) live
//! records, follow the link reverse index, write derived cells.
//!
//! The work goes in rounds. A round takes, per table, the records to
//! recompute; computes every valid derived field of the table in
//! dependency order (a formula reading another derived field of the same
//! record comes after it), reading the linked records lookups, rollups and
//! counts need in one read per linked table; writes the cells that
//! changed, in one batch per table; and hands the next round the records of
//! other tables (or of the same table, through a self-link) that link to a
//! record whose cells changed, found through the reverse index. A record
//! whose derived cells came out unchanged stops the walk there (the
//! records the write itself changed always go on). Cycles are refused when
//! fields are saved, so the walk ends; [`MAX_ROUNDS`] bounds it anyway.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::Value as Json;

use crate::error::StoreError;
use crate::fields::{FieldType, Storage};
use crate::formula::{self, EvalContext, Expr, ResultType, Value};
use crate::ids::{FieldId, RecordId, TableId};
use crate::model::{Field, Record, Timestamp};
use crate::store::NewChange;

/// What one step of a background fill did
/// ([`crate::store::RecordsStore::fill_chunk`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FillStep {
    /// A chunk was recomputed; records are left.
    More,
    /// No record was left in this pass, but another pass was asked for
    /// while it ran ([`FillQueue::Again`]): the resume point went back to
    /// the first record (and the request was cleared) in the same
    /// transaction; the fill goes on and its fields stay `computing`.
    Pass,
    /// No record was left and no further pass was asked for: the fill
    /// ended and its fields are `ready`.
    Done,
    /// The fill is gone (ended, or its table deleted) or another owner
    /// holds its lease: nothing was done.
    Lost,
}

/// How queuing a table's background fill treats a fill of it already
/// queued ([`crate::store::RecordsStore::queue_fill`]). A fill goes in
/// passes over the table's records in id order, its resume point (the
/// last record done) in the database; what a re-queue does to a pass
/// under way depends on what changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FillQueue {
    /// A definition changed (a computed field created or changed, or the
    /// primary field its formula reads through a link): every cell must
    /// be computed again under the new definition, so the fill starts
    /// over from the first record, and a further pass already asked for
    /// is dropped (this one covers it).
    Restart,
    /// Data changed (the part of a write's fan-out past the limit, handed
    /// to the fill): a pass under way keeps its resume point and goes on
    /// to the last record, and another pass from the first record is asked
    /// for (records behind the resume point may have changed); one that
    /// has not started yet (no resume point) needs none. Throwing the
    /// progress away instead would, under a steady stream of such writes,
    /// never let a pass complete.
    Again,
    /// Queued again as it was (the sweep of fields found `computing` by a
    /// new runner, after a stop): the resume point and any further pass
    /// asked for are kept.
    Keep,
}

/// The most rounds one write's recompute runs (a chain of derived fields
/// across this many tables); past it the write fails rather than loop.
pub const MAX_ROUNDS: usize = 64;

/// What [`recompute`] needs from a store's open write transaction.
pub trait ComputeTx {
    /// Every field of every table of `table`'s base.
    fn base_fields(
        &mut self,
        table: TableId,
    ) -> impl Future<Output = Result<Vec<Field>, StoreError>>;

    /// The live records among `ids` of `table` (locked for update in id
    /// order where the backend locks rows).
    fn read(
        &mut self,
        table: TableId,
        ids: &[RecordId],
    ) -> impl Future<Output = Result<Vec<Record>, StoreError>>;

    /// The records of `table` whose link field `field` holds any of
    /// `targets` (the reverse index).
    fn linking_to(
        &mut self,
        table: TableId,
        field: FieldId,
        targets: &[RecordId],
    ) -> impl Future<Output = Result<Vec<RecordId>, StoreError>>;

    /// Writes derived cells of `table` (`None` removes the cell), without
    /// touching the records' update time.
    fn write(
        &mut self,
        table: TableId,
        cells: &[(RecordId, FieldId, Option<Json>)],
    ) -> impl Future<Output = Result<(), StoreError>>;

    /// The primary field of every table of `table`'s base that has one
    /// (a formula reads a link field as the linked records' primary field
    /// values).
    fn primary_fields(
        &mut self,
        table: TableId,
    ) -> impl Future<Output = Result<HashMap<TableId, FieldId>, StoreError>>;

    /// Queues, in this transaction, the background fill of `table`,
    /// `fields` reading `computing` until it is done (the part of a
    /// write's fan-out past the limit, see [`FanOut`]): from the first
    /// record when none is queued, else as [`FillQueue::Again`] (a pass
    /// under way keeps its resume point and another pass is asked for).
    fn queue_fill(
        &mut self,
        table: TableId,
        fields: &[FieldId],
    ) -> impl Future<Output = Result<(), StoreError>>;
}

/// The fan-out limit of the writes run inside [`with_fan_out`]: once the
/// records a write's recompute touched would pass `limit`, the rest of the
/// walk is handed to the background fill (the write's own records and
/// their direct dependents are always recomputed in its transaction).
/// Outside it (a store called directly, a background fill) a recompute
/// has no limit.
#[derive(Debug, Clone)]
pub struct FanOut {
    limit: usize,
    handed_off: Arc<AtomicBool>,
}

tokio::task_local! {
    static FAN_OUT: FanOut;
}

thread_local! {
    static FAN_OUT_HERE: RefCell<Option<FanOut>> = const { RefCell::new(None) };
}

/// The default fan-out limit (`COMPUTE_FANOUT_MAX_RECORDS`).
pub const DEFAULT_FAN_OUT: usize = 50_000;

/// Runs `work` (store writes) with a fan-out limit of `limit` records;
/// answers its output and whether some recompute handed work to the
/// background fill (the caller then starts the fills).
pub async fn with_fan_out<F: Future>(limit: usize, work: F) -> (F::Output, bool) {
    let fan = FanOut {
        limit,
        handed_off: Arc::new(AtomicBool::new(false)),
    };
    let flag = Arc::clone(&fan.handed_off);
    let out = FAN_OUT.scope(fan, work).await;
    (out, flag.load(Ordering::SeqCst))
}

/// The fan-out limit of the current task or thread (see [`FanOut`]).
pub fn current_fan_out() -> Option<FanOut> {
    FAN_OUT
        .try_with(Clone::clone)
        .ok()
        .or_else(|| FAN_OUT_HERE.with(|f| f.borrow().clone()))
}

/// Runs `work` on this thread with `fan` as the fan-out limit: for stores
/// that run a write off the calling task (SQLite's blocking pool), with
/// the value [`current_fan_out`] gave on the task.
pub fn with_fan_out_here<R>(fan: Option<FanOut>, work: impl FnOnce() -> R) -> R {
    let before = FAN_OUT_HERE.with(|f| f.replace(fan));
    let out = work();
    FAN_OUT_HERE.with(|f| f.replace(before));
    out
}

/// What a recompute changed.
#[derive(Debug, Default)]
pub struct Recomputed {
    /// One change log event per record whose derived cells changed: a
    /// `record.updated` holding all of that record's changed derived cells
    /// (before and after), whatever the number of rounds that changed them.
    /// Stores merge an event into the event of the same record the write
    /// logs itself ([`Recomputed::merge_into`]), so a write logs one event
    /// per record (issue 14).
    pub changes: Vec<NewChange>,
    /// The changed cells per record (`None`: now absent).
    pub cells: HashMap<RecordId, Vec<(FieldId, Option<Json>)>>,
    /// Where each record's event is in `changes`.
    event_of: HashMap<RecordId, usize>,
}

impl Recomputed {
    /// Brings records read or built before the recompute up to date.
    pub fn apply_to(&self, records: &mut [Record]) {
        for r in records {
            if let Some(cells) = self.cells.get(&r.id) {
                for (field, cell) in cells {
                    match cell {
                        Some(v) => {
                            r.cells.insert(field.to_string(), v.clone());
                        }
                        None => {
                            r.cells.remove(field.as_str());
                        }
                    }
                }
            }
        }
    }

    /// Notes that the derived cells `changed` (field, before, after) of
    /// `record` in `table` changed: into its one event and its cells.
    fn note(
        &mut self,
        table: TableId,
        record: RecordId,
        changed: Vec<(FieldId, Option<Json>, Option<Json>)>,
    ) {
        let cells = self.cells.entry(record).or_default();
        cells.extend(changed.iter().map(|(f, _, after)| (*f, after.clone())));
        match self.event_of.get(&record) {
            Some(&at) => {
                for (field, before, after) in changed {
                    merge_cell(&mut self.changes[at], field, before, after);
                }
            }
            None => {
                let mut event = NewChange {
                    kind: crate::store::ChangeKind::RecordUpdated,
                    table_id: table,
                    record_id: Some(record),
                    field_id: None,
                    view_id: None,
                    changed_fields: Some(Vec::new()),
                    before: Some(Json::Object(serde_json::Map::new())),
                    after: Some(Json::Object(serde_json::Map::new())),
                };
                for (field, before, after) in changed {
                    merge_cell(&mut event, field, before, after);
                }
                self.event_of.insert(record, self.changes.len());
                self.changes.push(event);
            }
        }
    }

    /// Hands the events to `log` ([`merge_events`]).
    pub fn merge_into(&mut self, log: &mut Vec<NewChange>) {
        self.event_of.clear();
        merge_events(log, std::mem::take(&mut self.changes));
    }
}

/// Hands `derived` (one event per record, [`Recomputed::changes`]) to
/// `log`, the events a write logs itself: an event of a record `log`
/// already holds (`record.created`, `record.updated` or `record.restored`
/// of the same record) gets the derived cells merged into it
/// ([`merge_event`]); the others are appended, one per record.
pub fn merge_events(log: &mut Vec<NewChange>, derived: Vec<NewChange>) {
    if derived.is_empty() {
        return;
    }
    let mut own: HashMap<(TableId, RecordId), usize> = HashMap::new();
    for (i, e) in log.iter().enumerate() {
        if let Some(r) = e.record_id
            && takes_cells(e.kind)
        {
            own.entry((e.table_id, r)).or_insert(i);
        }
    }
    for event in derived {
        let Some(record) = event.record_id else {
            continue;
        };
        match own.get(&(event.table_id, record)) {
            Some(&at) => merge_event(&mut log[at], event),
            None => {
                own.insert((event.table_id, record), log.len());
                log.push(event);
            }
        }
    }
}

/// Whether an event of `kind` carries a record's cells that derived cells
/// can be merged into.
pub fn takes_cells(kind: crate::store::ChangeKind) -> bool {
    use crate::store::ChangeKind as K;
    matches!(
        kind,
        K::RecordCreated | K::RecordUpdated | K::RecordRestored
    )
}

/// Merges the cells of `derived` (a `record.updated` of derived cells)
/// into `into`, an event of the same record.
pub fn merge_event(into: &mut NewChange, derived: NewChange) {
    let side = |v: Option<Json>| match v {
        Some(Json::Object(m)) => m,
        _ => serde_json::Map::new(),
    };
    let mut before = side(derived.before);
    let mut after = side(derived.after);
    for field in derived.changed_fields.unwrap_or_default() {
        let key = field.as_str();
        merge_cell(into, field, before.remove(key), after.remove(key));
    }
}

/// Merges the change of one cell (`before` to `after`, `None`: absent)
/// into `event`, an event of its record. A `record.updated` lists the
/// field among `changed_fields` (sorted) with the cell on both sides (the
/// earliest `before` kept when the field was already listed; a field back
/// to its value before is dropped); a `record.created` or
/// `record.restored` shows the record's cells, so `after` is set there.
/// Other kinds are left alone.
pub fn merge_cell(
    event: &mut NewChange,
    field: FieldId,
    before: Option<Json>,
    after: Option<Json>,
) {
    use crate::store::ChangeKind as K;
    let key = field.to_string();
    let set = |side: &mut Option<Json>, value: Option<Json>| {
        let map = match side {
            Some(Json::Object(m)) => m,
            other => {
                *other = Some(Json::Object(serde_json::Map::new()));
                match other {
                    Some(Json::Object(m)) => m,
                    _ => return,
                }
            }
        };
        match value {
            Some(v) => {
                map.insert(key.clone(), v);
            }
            None => {
                map.remove(&key);
            }
        }
    };
    match event.kind {
        K::RecordCreated | K::RecordRestored => set(&mut event.after, after),
        K::RecordUpdated => {
            let changed = event.changed_fields.get_or_insert_with(Vec::new);
            match changed.binary_search(&field) {
                Ok(at) => {
                    let first = event.before.as_ref().and_then(|b| b.get(&key)).cloned();
                    if first == after {
                        changed.remove(at);
                        set(&mut event.before, None);
                        set(&mut event.after, None);
                    } else {
                        set(&mut event.after, after);
                    }
                }
                Err(at) => {
                    if before == after {
                        return;
                    }
                    changed.insert(at, field);
                    set(&mut event.before, before);
                    set(&mut event.after, after);
                }
            }
        }
        _ => {}
    }
}

/// Whether any field of `fields` is a valid derived field (a base without
/// one needs no recompute).
pub fn any_derived(fields: &[Field]) -> bool {
    fields
        .iter()
        .any(|f| f.field_type.derived().is_some_and(|d| d.is_valid))
}

/// A derived field ready to compute.
enum Compute {
    /// A formula over the record's fields.
    Formula(Expr),
    /// The linked records' values of `field`.
    Lookup { link: FieldId, field: FieldId },
    /// A formula over the linked records' values of `field`.
    Rollup {
        link: FieldId,
        field: FieldId,
        expr: Expr,
    },
    /// How many live records are linked.
    Count { link: FieldId },
}

impl Compute {
    fn link(&self) -> Option<FieldId> {
        match self {
            Self::Formula(_) => None,
            Self::Lookup { link, .. } | Self::Rollup { link, .. } | Self::Count { link } => {
                Some(*link)
            }
        }
    }
}

struct Derived<'a> {
    field: &'a Field,
    result: ResultType,
    compute: Compute,
    /// The link fields whose linked records it reads: a lookup's, rollup's
    /// or count's link, the link fields a formula names.
    links: Vec<FieldId>,
    /// The evaluation zone of a formula or rollup (its `time_zone`).
    zone: chrono_tz::Tz,
}

/// The evaluation zone of a derived field: a formula's or rollup's
/// `time_zone`, UTC otherwise.
fn zone_of(field: &Field) -> chrono_tz::Tz {
    match &field.field_type {
        FieldType::Formula(f) => f.zone(),
        FieldType::Rollup(r) => r.zone(),
        _ => chrono_tz::Tz::UTC,
    }
}

/// The base's fields, planned: derived fields per table in dependency
/// order, and who depends on whom across tables.
pub struct Plan<'a> {
    by_id: HashMap<FieldId, &'a Field>,
    order: HashMap<TableId, Vec<Derived<'a>>>,
    /// Per table U: (V, link field of V pointing at U) for every derived
    /// field of V that reads records of U.
    dependents: HashMap<TableId, BTreeSet<(TableId, FieldId)>>,
}

fn id_of(text: &str) -> Option<FieldId> {
    FieldId::parse(text).ok()
}

fn prepare(field: &Field) -> Option<Compute> {
    match &field.field_type {
        FieldType::Formula(f) => formula::parse(&f.formula).ok().map(Compute::Formula),
        FieldType::Lookup(l) => Some(Compute::Lookup {
            link: id_of(&l.link_field)?,
            field: id_of(&l.field)?,
        }),
        FieldType::Rollup(r) => Some(Compute::Rollup {
            link: id_of(&r.link_field)?,
            field: id_of(&r.field)?,
            expr: formula::parse(&r.formula).ok()?,
        }),
        FieldType::Count(c) => Some(Compute::Count {
            link: id_of(&c.link_field)?,
        }),
        _ => None,
    }
}

impl<'a> Plan<'a> {
    /// Plans `fields` (every field of a base).
    pub fn new(fields: &'a [Field]) -> Self {
        let by_id: HashMap<FieldId, &Field> = fields.iter().map(|f| (f.id, f)).collect();
        let mut per_table: BTreeMap<TableId, Vec<Derived<'a>>> = BTreeMap::new();
        let mut dependents: HashMap<TableId, BTreeSet<(TableId, FieldId)>> = HashMap::new();
        for field in fields {
            let Some(d) = field.field_type.derived().filter(|d| d.is_valid) else {
                continue;
            };
            let Some(compute) = prepare(field) else {
                continue;
            };
            let links: Vec<FieldId> = match compute.link() {
                Some(link) => vec![link],
                None => d
                    .referenced_field_ids
                    .iter()
                    .copied()
                    .filter(|id| {
                        by_id.get(id).is_some_and(|f| {
                            f.table_id == field.table_id && linked_table(f).is_some()
                        })
                    })
                    .collect(),
            };
            for &link in &links {
                if let Some(target) = by_id.get(&link).and_then(|l| linked_table(l)) {
                    dependents
                        .entry(target)
                        .or_default()
                        .insert((field.table_id, link));
                }
            }
            per_table.entry(field.table_id).or_default().push(Derived {
                field,
                result: d.result_type,
                compute,
                links,
                zone: zone_of(field),
            });
        }
        let order = per_table
            .into_iter()
            .map(|(t, list)| (t, topological(list)))
            .collect();
        Self {
            by_id,
            order,
            dependents,
        }
    }
}

impl Plan<'_> {
    /// The derived fields of `table` that read other records through a
    /// link (lookups, rollups, counts, formulas reading a link field), and
    /// the derived fields of `table` reading those: what a change of
    /// linked records makes stale.
    fn link_dependent_fields(&self, table: TableId) -> Vec<FieldId> {
        let Some(order) = self.order.get(&table) else {
            return Vec::new();
        };
        let mut stale: BTreeSet<FieldId> = BTreeSet::new();
        // `order` is topological: a field comes after those it reads.
        for d in order {
            let reads = d
                .field
                .field_type
                .derived()
                .map(|x| x.referenced_field_ids.as_slice())
                .unwrap_or_default();
            let through_link = !d.links.is_empty();
            if through_link || reads.iter().any(|id| stale.contains(id)) {
                stale.insert(d.field.id);
            }
        }
        order
            .iter()
            .map(|d| d.field.id)
            .filter(|id| stale.contains(id))
            .collect()
    }
}

fn linked_table(link: &Field) -> Option<TableId> {
    match link.field_type.references() {
        Some(crate::fields::Reference::Records(t)) => Some(t),
        _ => None,
    }
}

/// Derived fields of one table ordered so that a formula comes after the
/// derived fields it reads (fields in a cycle, refused on save, go last).
fn topological(list: Vec<Derived<'_>>) -> Vec<Derived<'_>> {
    let ids: BTreeSet<FieldId> = list.iter().map(|d| d.field.id).collect();
    let deps = |d: &Derived<'_>| -> Vec<FieldId> {
        d.field
            .field_type
            .derived()
            .map(|x| {
                x.referenced_field_ids
                    .iter()
                    .copied()
                    .filter(|id| ids.contains(id) && *id != d.field.id)
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut pending: Vec<Derived<'_>> = list;
    let mut done: BTreeSet<FieldId> = BTreeSet::new();
    let mut out = Vec::with_capacity(pending.len());
    while !pending.is_empty() {
        let before = pending.len();
        let mut rest = Vec::new();
        for d in pending {
            if deps(&d).iter().all(|id| done.contains(id)) {
                done.insert(d.field.id);
                out.push(d);
            } else {
                rest.push(d);
            }
        }
        if rest.len() == before {
            out.extend(rest);
            break;
        }
        pending = rest;
    }
    out
}

/// The linked record ids in a link cell.
fn linked_ids(cell: Option<&Json>) -> Vec<RecordId> {
    crate::store::links::link_ids(cell)
}

/// The primary field values of the records `record` links to through the
/// link fields formula `d` names. A linked record not among `linked`
/// (soft-deleted) is left out, so it drops out of the link's value; the
/// links of a table without a primary field read no values.
fn link_titles(
    plan: &Plan<'_>,
    d: &Derived<'_>,
    record: &Record,
    linked: &HashMap<RecordId, Record>,
    primaries: &HashMap<TableId, FieldId>,
) -> formula::LinkTitles {
    let mut titles = formula::LinkTitles::new();
    for link in &d.links {
        let primary = plan
            .by_id
            .get(link)
            .and_then(|l| linked_table(l))
            .and_then(|t| primaries.get(&t))
            .and_then(|p| plan.by_id.get(p));
        let Some(primary) = primary else { continue };
        for id in linked_ids(record.cells.get(link.as_str())) {
            if let Some(r) = linked.get(&id) {
                // A primary field that is itself a link reads as blank
                // here (no second level of titles).
                let value = formula::record_value(primary, r, &formula::LinkTitles::new());
                titles.insert(id, value);
            }
        }
    }
    titles
}

/// Computes one derived field of `record`.
fn compute(
    plan: &Plan<'_>,
    d: &Derived<'_>,
    record: &Record,
    linked: &HashMap<RecordId, Record>,
    primaries: &HashMap<TableId, FieldId>,
    now: Timestamp,
) -> Value {
    let titles = formula::LinkTitles::new();
    match &d.compute {
        Compute::Formula(expr) => {
            let titles = link_titles(plan, d, record, linked, primaries);
            let source = |key: &str| -> Option<Value> {
                let field = plan.by_id.get(&id_of(key)?)?;
                Some(formula::record_value(field, record, &titles))
            };
            let id = record.id.to_string();
            let ctx = EvalContext {
                fields: &source,
                record_id: Some(&id),
                now: Some(now),
                created_time: Some(record.created_time),
                updated_time: Some(record.updated_time),
                zone: d.zone,
            };
            formula::evaluate(expr, &ctx)
        }
        Compute::Count { link } => {
            let n = linked_ids(record.cells.get(link.as_str()))
                .iter()
                .filter(|id| linked.contains_key(id))
                .count();
            Value::number(n as f64)
        }
        Compute::Lookup { link, field } | Compute::Rollup { link, field, .. } => {
            // A lookup of a link field holds the ids it links (as
            // Airtable's API answers such a lookup); a rollup reads links
            // as formulas do.
            let ids_of_link = matches!(d.compute, Compute::Lookup { .. });
            let values = match plan.by_id.get(field) {
                Some(target) => linked_ids(record.cells.get(link.as_str()))
                    .iter()
                    .filter_map(|id| linked.get(id))
                    .map(|r| match linked_table(target) {
                        Some(_) if ids_of_link => Value::Array(
                            linked_ids(r.cells.get(target.id.as_str()))
                                .iter()
                                .map(|id| Value::Text(id.to_string()))
                                .collect(),
                        ),
                        _ => formula::record_value(target, r, &titles),
                    })
                    .collect(),
                None => Vec::new(),
            };
            match &d.compute {
                Compute::Rollup { expr, .. } => {
                    let list = Value::Array(values);
                    let source = |key: &str| -> Option<Value> {
                        key.eq_ignore_ascii_case("values").then(|| list.clone())
                    };
                    let mut ctx = EvalContext::new(&source).in_zone(d.zone);
                    ctx.now = Some(now);
                    formula::evaluate(expr, &ctx)
                }
                _ => {
                    // Lists are flattened one level (API.md).
                    let mut flat = Vec::new();
                    for v in values {
                        match v {
                            Value::Array(items) => flat.extend(items),
                            Value::Blank => {}
                            v => flat.push(v),
                        }
                    }
                    Value::Array(flat)
                }
            }
        }
    }
}

/// Recomputes the derived fields of the records `seeds` (per table: the
/// records a write created, changed, deleted or restored) and of every
/// record that depends on them, inside the caller's transaction; `now` is
/// the write's instant (for `NOW()`/`TODAY()`). Answers the cells it
/// changed.
pub async fn recompute<T: ComputeTx>(
    tx: &mut T,
    seeds: &[(TableId, Vec<RecordId>)],
    now: Timestamp,
) -> Result<Recomputed, StoreError> {
    let mut out = Recomputed::default();
    let Some((first, _)) = seeds.first() else {
        return Ok(out);
    };
    let fields = tx.base_fields(*first).await?;
    if !any_derived(&fields) {
        return Ok(out);
    }
    let plan = Plan::new(&fields);
    let mut pending: BTreeMap<TableId, BTreeSet<RecordId>> = BTreeMap::new();
    for (table, ids) in seeds {
        pending
            .entry(*table)
            .or_default()
            .extend(ids.iter().copied());
    }
    let fan = current_fan_out();
    let limit = fan.as_ref().map_or(usize::MAX, |f| f.limit);
    let mut touched = 0usize;
    let mut seed_round = true;
    for depth in 0..MAX_ROUNDS {
        if pending.is_empty() {
            return Ok(out);
        }
        let mut next: BTreeMap<TableId, BTreeSet<RecordId>> = BTreeMap::new();
        for (table, ids) in std::mem::take(&mut pending) {
            let ids: Vec<RecordId> = ids.into_iter().collect();
            // Past the direct dependents, a table whose records would take
            // the write past its fan-out limit is left to the background
            // fill (which goes on to everything depending on it).
            if depth >= 2 && touched.saturating_add(ids.len()) > limit {
                let fields = plan.link_dependent_fields(table);
                if !fields.is_empty() {
                    tx.queue_fill(table, &fields).await?;
                    if let Some(f) = &fan {
                        f.handed_off.store(true, Ordering::SeqCst);
                    }
                    continue;
                }
            }
            touched = touched.saturating_add(ids.len());
            let changed = round(tx, &plan, table, &ids, now, &mut out).await?;
            // The write's own records go on whatever their derived cells
            // did: their written cells may be what others read.
            let moved: Vec<RecordId> = if seed_round { ids } else { changed };
            if moved.is_empty() {
                continue;
            }
            for (dependent, link) in plan.dependents.get(&table).into_iter().flatten() {
                let found = tx.linking_to(*dependent, *link, &moved).await?;
                next.entry(*dependent).or_default().extend(found);
            }
        }
        seed_round = false;
        pending = next;
    }
    if pending.is_empty() {
        Ok(out)
    } else {
        Err(StoreError::Invalid {
            field: "computed fields".into(),
            expected: format!("a chain of dependencies through at most {MAX_ROUNDS} tables"),
        })
    }
}

/// One table's part of a round: answers the records whose derived cells
/// changed.
async fn round<T: ComputeTx>(
    tx: &mut T,
    plan: &Plan<'_>,
    table: TableId,
    ids: &[RecordId],
    now: Timestamp,
    out: &mut Recomputed,
) -> Result<Vec<RecordId>, StoreError> {
    let Some(order) = plan.order.get(&table).filter(|o| !o.is_empty()) else {
        return Ok(Vec::new());
    };
    let mut records = tx.read(table, ids).await?;
    // The linked records every lookup, rollup and count of the table reads.
    let mut wanted: BTreeMap<TableId, BTreeSet<RecordId>> = BTreeMap::new();
    for d in order {
        for link in &d.links {
            let Some(target) = plan.by_id.get(link).and_then(|l| linked_table(l)) else {
                continue;
            };
            for r in &records {
                wanted
                    .entry(target)
                    .or_default()
                    .extend(linked_ids(r.cells.get(link.as_str())));
            }
        }
    }
    // A formula reading a link field reads the linked records' primary
    // field values.
    let primaries = if order
        .iter()
        .any(|d| matches!(d.compute, Compute::Formula(_)) && !d.links.is_empty())
    {
        tx.primary_fields(table).await?
    } else {
        HashMap::new()
    };
    let mut linked: HashMap<RecordId, Record> = HashMap::new();
    for (target, ids) in wanted {
        let ids: Vec<RecordId> = ids.into_iter().collect();
        if target == table {
            // A self-link reads the table's own rows, already locked.
            let own: BTreeSet<RecordId> = records.iter().map(|r| r.id).collect();
            let others: Vec<RecordId> = ids.iter().copied().filter(|i| !own.contains(i)).collect();
            for r in records.iter().filter(|r| ids.contains(&r.id)) {
                linked.insert(r.id, r.clone());
            }
            for r in tx.read(target, &others).await? {
                linked.insert(r.id, r);
            }
        } else {
            for r in tx.read(target, &ids).await? {
                linked.insert(r.id, r);
            }
        }
    }
    let mut writes: Vec<(RecordId, FieldId, Option<Json>)> = Vec::new();
    let mut changed = Vec::new();
    for record in &mut records {
        let mut cells = Vec::new();
        for d in order {
            let value = compute(plan, d, record, &linked, &primaries, now);
            let cell = formula::to_cell_in(&value, d.result, d.zone);
            let key = d.field.id.as_str();
            if formula::same_cell(record.cells.get(key), cell.as_ref()) {
                continue;
            }
            let before = match &cell {
                Some(v) => record.cells.insert(key.to_owned(), v.clone()),
                None => record.cells.remove(key),
            };
            writes.push((record.id, d.field.id, cell.clone()));
            cells.push((d.field.id, before, cell));
        }
        if !cells.is_empty() {
            out.note(table, record.id, cells);
            changed.push(record.id);
            // A self-linked record reads its fresh values.
            if let Some(l) = linked.get_mut(&record.id) {
                l.cells = record.cells.clone();
            }
        }
    }
    if !writes.is_empty() {
        tx.write(table, &writes).await?;
    }
    Ok(changed)
}

/// Whether the derived cells of `field` read the clock (`NOW()`,
/// `TODAY()`, ...), so a timer must refresh them.
pub fn is_volatile(field: &Field) -> bool {
    match &field.field_type {
        FieldType::Formula(f) => formula::parse(&f.formula).is_ok_and(|e| reads_clock(&e)),
        _ => false,
    }
}

fn reads_clock(expr: &Expr) -> bool {
    use crate::formula::ExprKind;
    match &expr.kind {
        ExprKind::Call { name, args } => {
            matches!(
                name.to_ascii_uppercase().as_str(),
                "NOW" | "TODAY" | "FROMNOW" | "TONOW"
            ) || args.iter().any(reads_clock)
        }
        ExprKind::Unary { operand, .. } => reads_clock(operand),
        ExprKind::Binary { lhs, rhs, .. } => reads_clock(lhs) || reads_clock(rhs),
        _ => false,
    }
}

/// Whether a field's storage is derived.
pub fn is_derived(field: &Field) -> bool {
    matches!(field.field_type.storage(), Storage::Derived(_))
}
