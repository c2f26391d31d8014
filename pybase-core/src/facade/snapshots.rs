//! Records cursors that walk a snapshot of the order.
//!
//! A keyset cursor names a position in the order; read as it is on each
//! page, a record whose sort or filter value changes between pages comes
//! again or is skipped, and a client that edits the field it sorts by while
//! it pages (`for page in iterate(sort=N): N += 100`) meets the records it
//! edited again on every later page, without end. So a walk reads the order
//! as it was when it began, from the change log:
//!
//! - the first page's cursor carries its instant ([`Snapshot::At`]); the
//!   second page turns it into the seq of the log's last event logged by
//!   then (at the same millisecond included: a record made just before the
//!   first page is never left out)
//!   ([`crate::store::ChangesStore::seq_at`]), which the later cursors
//!   carry ([`Snapshot::Seq`]);
//! - each later page reads the base's events since that seq: the records of
//!   the table they changed are placed, filtered and ordered by their cells
//!   then (every event since undone), and every other record is read by the
//!   store as usual (it is as it was then). A record made since is left
//!   out, as is one deleted since; a record is shown as it is now. Its
//!   last-modified time then is not in the log: a walk ordered by it places
//!   a record changed since just before its first change since.
//!
//! A page whose table changed nothing since takes the usual path, and the
//! log is read again after it: a record that changed while the page was
//! read sends the page through the snapshot's path. Pages
//! with deleted records, and `formula=` filters evaluated outside the
//! database, read the order as it is (the cursor keeps its snapshot). A walk
//! whose base logged more than [`MAX_CHANGES`] events since it began, or
//! whose events were pruned, must start again (422 on `cursor`).

use std::collections::BTreeMap;

use super::Pybase;
use super::revert::undo;
use crate::StoreError;
use crate::error::{Error, Result};
use crate::ids::{BaseId, FieldId, RecordId, TableId};
use crate::model::Record;
use crate::query::plan::QueryPlan;
use crate::query::{Cursor, Filter, MAX_PAGE_SIZE, RecordPage, Snapshot, Target, eval};
use crate::store::{ChangeEvent, ChangeKind};

/// The most events a page after the first reads from the log: a walk
/// whose base logged more since it began starts again.
pub(crate) const MAX_CHANGES: usize = 20_000;

/// The records of a page's table that changed since its walk's snapshot,
/// each with its events since then, oldest first, as far as the log has
/// been read (`upto`).
pub(crate) struct Changed {
    base: BaseId,
    table: TableId,
    /// The newest seq read from the log.
    upto: i64,
    /// Events read since the snapshot, of every table (at most
    /// [`MAX_CHANGES`]).
    read: usize,
    events: BTreeMap<RecordId, Vec<ChangeEvent>>,
}

/// The error of a walk that must start again.
fn start_again(why: &str) -> Error {
    Error::invalid(
        "cursor",
        format!(
            "a cursor of a walk the log can still place ({why}): start again from the first page"
        ),
    )
}

impl Pybase {
    /// Settles `plan`'s snapshot for a page after the first (its instant
    /// becomes a seq of `base`'s log) and answers the records of its table
    /// changed since (none, often); `None` when the page reads the order
    /// as it is (a first page, a cursor without a snapshot).
    pub(crate) async fn changed_since_snapshot(
        &self,
        base: BaseId,
        plan: &mut QueryPlan,
    ) -> Result<Option<Changed>> {
        if plan.query.after.is_none() {
            return Ok(None);
        }
        let seq = match plan.snapshot {
            None => return Ok(None),
            Some(Snapshot::Seq(seq)) => seq,
            Some(Snapshot::At(ms)) => {
                let at = chrono::DateTime::from_timestamp_millis(ms)
                    .ok_or_else(|| start_again("its instant is out of range"))?;
                self.store.seq_at(base, at).await?
            }
        };
        plan.snapshot = Some(Snapshot::Seq(seq));
        let mut changed = Changed {
            base,
            table: plan.query.table_id,
            upto: seq,
            read: 0,
            events: BTreeMap::new(),
        };
        self.catch_up(&mut changed).await?;
        Ok(Some(changed))
    }

    /// Reads the log after `changed.upto` into it: the records of its table
    /// with new events.
    async fn catch_up(&self, changed: &mut Changed) -> Result<Vec<RecordId>> {
        let room = MAX_CHANGES - changed.read.min(MAX_CHANGES);
        let page = match self
            .store
            .changes_since(changed.base, changed.upto, room + 1)
            .await
        {
            Ok(page) => page,
            Err(StoreError::Gone { .. }) => {
                return Err(start_again("the events since it began were pruned"));
            }
            Err(e) => return Err(e.into()),
        };
        if page.events.len() > room {
            return Err(start_again(&format!(
                "the base logged over {MAX_CHANGES} changes since it began"
            )));
        }
        changed.read += page.events.len();
        let mut fresh = Vec::new();
        for e in page.events {
            changed.upto = changed.upto.max(e.seq);
            if e.table_id == Some(changed.table)
                && let Some(record) = e.record_id
            {
                if !fresh.contains(&record) {
                    fresh.push(record);
                }
                changed.events.entry(record).or_default().push(e);
            }
        }
        Ok(fresh)
    }

    /// Whether a page read from the store after `changed` was read stands:
    /// no record of its table changed meanwhile (a write that landed
    /// between the log's read and the store's would otherwise be placed by
    /// its new cells). The log is read again up to now.
    pub(crate) async fn page_stands(&self, changed: &mut Changed) -> Result<bool> {
        Ok(self.catch_up(changed).await?.is_empty())
    }

    /// The page `plan` describes, its records placed as they were at the
    /// walk's snapshot (`changed`: the table's records changed since), and
    /// its next cursor.
    ///
    /// Every record read here (the store's page, the changed records read
    /// as they are) is read before the log is read again, so the events
    /// known then include every change that record shows: undoing them all
    /// gives it as it was (undoing a later event it does not show yet
    /// leaves it as it is). A row of the store's page whose record changed
    /// meanwhile joins the changed records; a changed record read meanwhile
    /// is read again, a few times at most.
    pub(crate) async fn snapshot_page(
        &self,
        plan: &QueryPlan,
        changed: &mut Changed,
    ) -> Result<(RecordPage, Option<String>)> {
        /// Rounds of reading records that changed while they were read.
        const ROUNDS: usize = 3;
        let limit = plan.query.limit;
        let sort = &plan.query.sort;
        let table = plan.query.table_id;
        // The store's records, less the changed ones (as they were then).
        let mut query = plan.query.clone();
        let mut unchanged: Vec<Record> = Vec::with_capacity(limit);
        let mut store_more;
        loop {
            query.limit = (limit - unchanged.len().min(limit) + changed.events.len().min(limit))
                .clamp(1, MAX_PAGE_SIZE);
            let page = self.store.query_records(&query).await?;
            store_more = page.has_more;
            query.after = page
                .records
                .last()
                .map(|last| Cursor::at(sort, last, plan.shape, None));
            unchanged.extend(
                page.records
                    .into_iter()
                    .filter(|r| !changed.events.contains_key(&r.id)),
            );
            if unchanged.len() >= limit || !store_more {
                break;
            }
        }
        // The changed records as they were then: from their events alone
        // when those hold every cell the query reads, else from the record
        // read as it is.
        let reads = Reads::of(plan);
        let mut states: BTreeMap<RecordId, Record> = BTreeMap::new();
        let mut by_events: BTreeMap<RecordId, Record> = BTreeMap::new();
        let ids: Vec<RecordId> = changed.events.keys().copied().collect();
        let mut read = reads.place(table, changed, ids, &states, &mut by_events);
        for _ in 0..ROUNDS {
            for r in self.store.get_records(table, &read, false).await? {
                states.insert(r.id, r);
            }
            let fresh = self.catch_up(changed).await?;
            // Store rows whose record changed meanwhile: their row is the
            // record as read.
            unchanged.retain(|r| {
                let moved = fresh.contains(&r.id);
                if moved {
                    states.insert(r.id, r.clone());
                }
                !moved
            });
            read = reads.place(table, changed, fresh, &states, &mut by_events);
            if read.is_empty() {
                break;
            }
        }
        let mut rows: Vec<(Record, Option<Record>)> =
            Vec::with_capacity(unchanged.len() + changed.events.len());
        for (id, events) in &changed.events {
            if !live_then_and_now(events) {
                continue;
            }
            let state = states.get(id);
            let then = match state {
                Some(now) => Some(as_it_was(now, events)),
                None => by_events.remove(id),
            };
            // A record that changed in every round it was read is left to
            // the next page's read of the log.
            let Some(then) = then else { continue };
            let kept = plan
                .query
                .filter
                .as_ref()
                .is_none_or(|f| eval::matches(f, &then))
                && plan
                    .query
                    .after
                    .as_ref()
                    .is_none_or(|c| eval::is_after(sort, &c.values, &c.id, &then));
            if kept {
                rows.push((then, state.cloned()));
            }
        }
        rows.extend(unchanged.into_iter().map(|r| (r.clone(), Some(r))));
        rows.sort_by(|a, b| eval::compare_records(sort, &a.0, &b.0));
        let has_more = store_more || rows.len() > limit;
        rows.truncate(limit);
        let next = rows
            .last()
            .filter(|_| has_more)
            .map(|(then, _)| Cursor::at(sort, then, plan.shape, plan.snapshot).encode());
        // The page's changed records placed from their events, as they are
        // now (one deleted in the meantime drops out of the page).
        let missing: Vec<RecordId> = rows
            .iter()
            .filter(|(_, now)| now.is_none())
            .map(|(then, _)| then.id)
            .collect();
        let mut found: BTreeMap<RecordId, Record> = self
            .store
            .get_records(table, &missing, false)
            .await?
            .into_iter()
            .map(|r| (r.id, r))
            .collect();
        let records = rows
            .into_iter()
            .filter_map(|(then, now)| now.or_else(|| found.remove(&then.id)))
            .collect();
        Ok((RecordPage { records, has_more }, next))
    }
}

/// `now` (a read of a record that changed since the snapshot, its events
/// since in `events`, every change it shows among them) as it was at the
/// snapshot: its cells with every event undone.
fn as_it_was(now: &Record, events: &[ChangeEvent]) -> Record {
    let mut then = now.clone();
    for e in events.iter().rev() {
        undo(&mut then.cells, e, &[]);
    }
    // Its last-modified time then is not logged: at latest just before its
    // first change since (the same on every page of the walk).
    if let Some(first) = events.first() {
        let before_first = first.at - chrono::TimeDelta::milliseconds(1);
        then.updated_time = then.updated_time.min(before_first);
    }
    then
}

impl Changed {
    /// Whether no record of the table changed since the snapshot (as far as
    /// the log was read).
    pub(crate) fn is_empty(&self) -> bool {
        self.events.is_empty()
    }
}

/// Whether a record was live at the snapshot and is now, from its events
/// since: not made or restored first, not deleted last.
fn live_then_and_now(events: &[ChangeEvent]) -> bool {
    let born = events.first().is_some_and(|e| {
        matches!(
            e.kind,
            ChangeKind::RecordCreated | ChangeKind::RecordRestored
        )
    });
    let gone = events
        .iter()
        .rev()
        .find(|e| {
            matches!(
                e.kind,
                ChangeKind::RecordDeleted | ChangeKind::RecordRestored
            )
        })
        .is_some_and(|e| e.kind == ChangeKind::RecordDeleted);
    !born && !gone
}

/// What a page's filter and order read of a record.
struct Reads {
    /// The fields whose cells they read.
    fields: Vec<FieldId>,
    /// Whether they read a column of the record itself (its times, users,
    /// autonumber), which events do not hold.
    meta: bool,
}

impl Reads {
    fn of(plan: &QueryPlan) -> Self {
        let mut reads = Self {
            fields: Vec::new(),
            meta: false,
        };
        for key in &plan.query.sort {
            reads.add(key.target);
        }
        if let Some(f) = &plan.query.filter {
            reads.add_filter(f);
        }
        reads
    }

    fn add(&mut self, target: Target) {
        match target {
            Target::Cell { field, .. } | Target::FirstNumber(field) => {
                if !self.fields.contains(&field) {
                    self.fields.push(field);
                }
            }
            Target::Meta(_) => self.meta = true,
        }
    }

    fn add_filter(&mut self, filter: &Filter) {
        match filter {
            Filter::And(parts) | Filter::Or(parts) => {
                parts.iter().for_each(|p| self.add_filter(p));
            }
            Filter::Not(inner) => self.add_filter(inner),
            Filter::Cond(c) => self.add(c.target),
        }
    }

    /// Places the changed records `ids` from their events alone into
    /// `by_events` where it can (those without a read in `states` that were
    /// live then and are now, placed afresh: their events may have grown),
    /// and answers the others, which must be read.
    fn place(
        &self,
        table: TableId,
        changed: &Changed,
        ids: Vec<RecordId>,
        states: &BTreeMap<RecordId, Record>,
        by_events: &mut BTreeMap<RecordId, Record>,
    ) -> Vec<RecordId> {
        let mut read = Vec::new();
        for id in ids {
            by_events.remove(&id);
            let Some(events) = changed.events.get(&id) else {
                continue;
            };
            if states.contains_key(&id) || !live_then_and_now(events) {
                continue;
            }
            match self.then_by_events(table, id, events) {
                Some(then) => {
                    by_events.insert(id, then);
                }
                None => read.push(id),
            }
        }
        read
    }

    /// Record `id` of `table` as the query sees it at the snapshot, from
    /// its events since alone: each cell read is the one the first event
    /// changing it had before; `None` when one of them changed in none
    /// (or a column of the record is read), so the record as it is now is
    /// needed.
    fn then_by_events(
        &self,
        table: TableId,
        id: RecordId,
        events: &[ChangeEvent],
    ) -> Option<Record> {
        if self.meta {
            return None;
        }
        let mut cells = crate::model::Cells::new();
        for f in &self.fields {
            let first = events.iter().find(|e| {
                e.kind == ChangeKind::RecordUpdated
                    && e.changed_fields.as_ref().is_some_and(|c| c.contains(f))
            })?;
            if let Some(v) = first.before.as_ref().and_then(|b| b.get(f.as_str())) {
                cells.insert(f.to_string(), v.clone());
            }
        }
        Some(Record::bare(table, id, cells))
    }
}
