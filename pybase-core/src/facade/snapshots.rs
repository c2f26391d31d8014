//! Records cursors that walk a snapshot of the order.
//!
//! A keyset cursor names a position in the order; read as it is on each
//! page, a record whose sort or filter value changes between pages comes
//! again or is skipped, and a client that edits the field it sorts by while
//! it pages (`for page in iterate(sort=N): N += 100`) meets the records it
//! edited again on every later page, without end. So a walk reads the order
//! as it was when it began, from the change log:
//!
//! - the first page reads the log's newest seq in the same snapshot as its
//!   records ([`crate::query::RecordQuery::log_seq`]), and every cursor of
//!   the walk carries it ([`Snapshot::Seq`]): the records it showed are
//!   exactly as they were at that seq. A first page whose `formula=`
//!   residual reads the store in several rounds reads the seq first and is
//!   placed as later pages are. (Cursors minted before carry the first
//!   page's instant, [`Snapshot::At`]: their second page turns it into
//!   the seq of the log's last event logged by then,
//!   [`crate::store::ChangesStore::seq_at`].)
//! - each later page reads the base's events since that seq: the records of
//!   the table they changed are placed, filtered and ordered by their cells
//!   then (every event since undone), and every other record is read by the
//!   store as usual (it is as it was then). A record made since is left
//!   out, as is one deleted since; a record is shown as it is now. When
//!   and by whom it last changed then come from its last event before its
//!   first since (read only for a page that reads either).
//!
//! Only a record's events that may move it in the walk count: its making,
//! deleting and restoring, and updates of the cells the walk reads (any
//! update, when it reads when or by whom a record last changed). A record
//! whose updates since touched nothing the walk reads is read as it is.
//!
//! What a walk learnt from the log is kept between its pages ([`walks`]):
//! a later page reads only the events logged since the page before it, and
//! places only the records that changed since then.
//!
//! A page whose table changed nothing since takes the usual path, and the
//! log is read again after it: a record that changed while the page was
//! read sends the page through the snapshot's path. A `formula=` filter
//! evaluated outside the database keeps or drops the records as they were
//! too (`formula.rs`). Pages with deleted records read the order as it is
//! (their cursors carry no snapshot). A walk
//! whose base logged more than [`crate::Limits::walk_changes`] events
//! since it began, or more than [`crate::Limits::walk_moved`] changed
//! records of its table in what it reads, or
//! whose events were pruned, must start again (422 on `cursor`).

mod walks;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::Pybase;
use super::formula::Residual;
use crate::StoreError;
use crate::error::{Error, Result};
use crate::fields::MetaColumn;
use crate::ids::{BaseId, FieldId, RecordId, TableId, UserId};
use crate::model::{Record, Timestamp};
use crate::query::plan::QueryPlan;
use crate::query::{Cursor, Filter, MAX_PAGE_SIZE, RecordPage, Snapshot, Target, eval};
use crate::store::{ChangeEvent, ChangeKind};
pub(crate) use walks::Walks;
use walks::{WalkKey, WalkState};

/// Events read from the log a statement.
const READ_CHUNK: usize = 10_000;

/// The records of a page's table that changed since its walk's snapshot,
/// as far as the log has been read; given back to the walks kept when
/// dropped (whatever it holds is true of the log up to `state.upto`).
pub(crate) struct Changed {
    base: BaseId,
    /// What the page reads of a record.
    reads: Reads,
    /// The walk.
    key: WalkKey,
    /// The log read up to `state.upto`, the events read since the
    /// snapshot (of every table, at most [`crate::Limits::walk_changes`]),
    /// and the changed records (those whose changes touched what the page
    /// reads, at most [`crate::Limits::walk_moved`]).
    state: WalkState,
    /// Where to give the state back.
    home: Walks,
}

impl Drop for Changed {
    fn drop(&mut self) {
        self.home
            .keep(self.key.clone(), std::mem::take(&mut self.state));
    }
}

/// A changed record's events since the snapshot, summarised: all a page
/// needs of them.
#[derive(Debug, Clone, Default)]
pub(crate) struct Trail {
    /// Made or restored by its first event since: not live then.
    born: bool,
    /// Deleted by the last of its deletes and restores since.
    gone: bool,
    /// Its first event since (a seq of the log; 0 before any).
    first_seq: i64,
    /// Each cell its updates since changed, as it was before the first of
    /// them (`None`: empty): undoing every update gives these.
    cells_then: BTreeMap<FieldId, Option<Value>>,
    /// The record as the page reads it at the snapshot, once known (it
    /// never changes: see [`Trail::then_from_read`]).
    then: Option<Record>,
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
    /// as it is (a cursor without a snapshot) or its store read settles it
    /// (a first page without a formula's residual).
    pub(crate) async fn changed_since_snapshot(
        &self,
        base: BaseId,
        plan: &mut QueryPlan,
    ) -> Result<Option<Changed>> {
        let first = plan.query.after.is_none();
        let seq = match plan.snapshot {
            None => return Ok(None),
            // A first page reads where it stands in the log with its
            // records (`QueryPlan::settle`), except where a formula's
            // residual reads the store in several rounds: its walk then
            // begins at the log's newest seq read before them, and the
            // page is read as a later one is (a record that changed while
            // it was read is placed as it was).
            Some(Snapshot::At(_))
                if first && plan.formula.as_ref().is_some_and(|f| !f.is_pure_sql()) =>
            {
                self.store.changes_since(base, i64::MAX, 0).await?.last_seq
            }
            _ if first => return Ok(None),
            Some(Snapshot::Seq(seq)) => seq,
            Some(Snapshot::At(ms)) => {
                let at = chrono::DateTime::from_timestamp_millis(ms)
                    .ok_or_else(|| start_again("its instant is out of range"))?;
                self.store.seq_at(base, at).await?
            }
        };
        plan.snapshot = Some(Snapshot::Seq(seq));
        plan.query.log_seq = false;
        let reads = Reads::of(plan);
        let key = WalkKey {
            table: plan.query.table_id,
            snapshot: seq,
            fields: reads.fields.clone(),
            meta: reads.meta,
            last_change: reads.last_change,
        };
        let state = self.walks.take(&key).unwrap_or_else(|| WalkState {
            upto: seq,
            ..WalkState::default()
        });
        let mut changed = Changed {
            base,
            reads,
            key,
            state,
            home: self.walks.clone(),
        };
        self.catch_up(&mut changed).await?;
        Ok(Some(changed))
    }

    /// Reads the log after `changed`'s state into it: answers the records
    /// of its table with new events that touch what the page reads (an
    /// update of cells it does not read leaves a record where it was, in
    /// and out of the page's filter: such a record is read as it is).
    async fn catch_up(&self, changed: &mut Changed) -> Result<BTreeSet<RecordId>> {
        let state = &mut changed.state;
        let mut fresh = BTreeSet::new();
        loop {
            let max = self.limits.walk_changes;
            let room = max - state.read.min(max);
            let ask = room.min(READ_CHUNK);
            // One more than asked: whether the log goes on.
            let page = match self
                .store
                .changes_since(changed.base, state.upto, ask + 1)
                .await
            {
                Ok(page) => page,
                Err(StoreError::Gone { .. }) => {
                    return Err(start_again("the events since it began were pruned"));
                }
                Err(e) => return Err(e.into()),
            };
            let more = page.events.len() > ask;
            if more && ask == room {
                return Err(start_again(&format!(
                    "the base logged over {max} changes since it began"
                )));
            }
            for e in page.events.into_iter().take(ask) {
                state.read += 1;
                state.upto = state.upto.max(e.seq);
                if e.table_id == Some(changed.key.table)
                    && let Some(record) = e.record_id
                    && changed.reads.moved_by(&e)
                {
                    fresh.insert(record);
                    state.trails.entry(record).or_default().absorb(&e);
                }
            }
            let moved = self.limits.walk_moved;
            if state.trails.len() > moved {
                return Err(start_again(&format!(
                    "over {moved} of its records changed since it began in what it \
                     filters or sorts by"
                )));
            }
            if !more {
                return Ok(fresh);
            }
        }
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
    /// meanwhile joins the changed records; changed records are read in a
    /// few rounds at most, each followed by a read of the log.
    ///
    /// A `formula=` filter's `residual` (what runs outside the database)
    /// keeps or drops the store's rows, and the changed records as they
    /// were, within its budget of rows examined.
    pub(super) async fn snapshot_page(
        &self,
        plan: &QueryPlan,
        changed: &mut Changed,
        mut residual: Option<&mut Residual<'_>>,
    ) -> Result<(RecordPage, Option<String>)> {
        let limit = plan.query.limit;
        let sort = &plan.query.sort;
        let table = plan.query.table_id;
        let mut from = plan.query.after.clone();
        let (mut rows, has_more) = loop {
            let (rows, reached) = self
                .snapshot_rows(plan, changed, residual.as_deref_mut(), from.as_ref())
                .await?;
            // Every record of the store's rows changed while they were
            // read: nothing known up to where they reached, read on.
            match reached {
                Some(position) if rows.is_empty() => from = Some(position),
                reached => {
                    let has_more = reached.is_some() || rows.len() > limit;
                    break (rows, has_more);
                }
            }
        };
        rows.truncate(limit);
        let next = rows
            .last()
            .filter(|_| has_more)
            .map(|(then, _)| Cursor::at(sort, then, plan.shape, plan.snapshot).encode());
        // The page's changed records not read here, as they are now (one
        // deleted in the meantime drops out of the page).
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
        Ok((
            RecordPage {
                records,
                has_more,
                log_seq: None,
            },
            next,
        ))
    }

    /// The rows of [`Self::snapshot_page`] after `from`, in order, each as
    /// it was then and as read now (`None`: not read here), at least a
    /// page of them where the store has more; and, when the store has
    /// more, the position its rows reached (the rows stop there: past it,
    /// an unchanged record the store did not read yet may come first).
    async fn snapshot_rows(
        &self,
        plan: &QueryPlan,
        changed: &mut Changed,
        mut residual: Option<&mut Residual<'_>>,
        from: Option<&Cursor>,
    ) -> Result<(Vec<(Record, Option<Record>)>, Option<Cursor>)> {
        /// Rounds of reading records that changed while they were read.
        const ROUNDS: usize = 3;
        let limit = plan.query.limit;
        let sort = &plan.query.sort;
        let table = plan.query.table_id;
        // The store's records, less the changed ones (as they were then).
        let mut query = plan.query.clone();
        query.after = from.cloned();
        let mut unchanged: Vec<Record> = Vec::with_capacity(limit);
        let mut store_more;
        // Beyond what the page needs, the store's rows may hold changed
        // records (left out here): as many as the page at first, twice as
        // many each round after, never more than there are. A walk that
        // moved every record it edited past its end reads them all on its
        // last page, in a few reads rather than one a page's worth.
        // A residual may drop most rows: its chunks also grow as the
        // formula's own pages do, to [`MAX_PAGE_SIZE`].
        let trails = changed.state.trails.len();
        let mut extra = trails.min(limit.max(1));
        let mut chunk = 0;
        // Where a page's worth of the changed records placed so far ends
        // (one more than the page): the store's rows past it cannot be on
        // the page, so a walk that moved most records of its table does
        // not read the rest of the table on each page.
        let bound: Option<Record> = match residual {
            Some(_) => None,
            None => {
                let first = placed_after(&changed.state, plan, from, Some(limit + 1));
                (first.len() == limit + 1)
                    .then(|| {
                        first
                            .into_iter()
                            .max_by(|a, b| eval::compare_records(sort, a.1, b.1))
                    })
                    .flatten()
                    .map(|(_, then)| then.clone())
            }
        };
        loop {
            // One row more than the page: whether more follow is known then.
            let need = limit + 1 - unchanged.len().min(limit + 1) + extra;
            chunk = match residual {
                Some(_) => need.max((chunk * 2).min(MAX_PAGE_SIZE)),
                None => need,
            };
            query.limit = chunk.max(1);
            extra = (extra * 2).min(trails);
            let page = self.store.query_records(&query).await?;
            store_more = page.has_more;
            query.after = page
                .records
                .last()
                .map(|last| Cursor::at(sort, last, plan.shape, None));
            let examined = page.records.len();
            let rows: Vec<Record> = page
                .records
                .into_iter()
                .filter(|r| !changed.state.trails.contains_key(&r.id))
                .collect();
            match residual.as_deref_mut() {
                Some(residual) => {
                    unchanged.extend(self.residual_keeps(residual, rows).await?);
                    residual.examined(examined, unchanged.len() >= limit)?;
                    if residual.spent() {
                        break;
                    }
                }
                None => unchanged.extend(rows),
            }
            if unchanged.len() > limit || !store_more {
                break;
            }
            if let (Some(bound), Some(p)) = (&bound, &query.after)
                && !eval::is_after(sort, &p.values, &p.id, bound)
            {
                break;
            }
        }
        // The changed records not placed yet, as they were then: from
        // their events alone when those hold every cell the page reads,
        // else from the record read as it is.
        let mut states: BTreeMap<RecordId, Record> = BTreeMap::new();
        let mut read = changed.place(table, &states);
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
            read = changed.place(table, &states);
            if read.is_empty() {
                break;
            }
        }
        self.place_reads(table, changed, states.iter()).await?;
        // Without a residual, only the first of them in order can be on the
        // page (one more than it, to know whether more follow): a walk that
        // moved every record of a large table copies a page's worth, not
        // them all.
        let first = residual.is_none().then_some(limit + 1);
        let placed = placed_after(&changed.state, plan, from, first);
        let mut rows: Vec<(Record, Option<Record>)> = placed
            .into_iter()
            .map(|(id, then)| (then.clone(), states.remove(id)))
            .collect();
        if let Some(residual) = residual {
            // In order, until more than a page is kept.
            rows.sort_by(|a, b| eval::compare_records(sort, &a.0, &b.0));
            let mut kept = Vec::with_capacity(limit + 1);
            let mut rest = rows.into_iter();
            while kept.len() <= limit {
                let chunk: Vec<(Record, Option<Record>)> = rest.by_ref().take(limit + 1).collect();
                if chunk.is_empty() {
                    break;
                }
                let thens = chunk.iter().map(|(then, _)| then.clone()).collect();
                let keeps: Vec<RecordId> = self
                    .residual_keeps(residual, thens)
                    .await?
                    .iter()
                    .map(|r| r.id)
                    .collect();
                kept.extend(
                    chunk
                        .into_iter()
                        .filter(|(then, _)| keeps.contains(&then.id)),
                );
            }
            rows = kept;
        }
        rows.extend(unchanged.into_iter().map(|r| (r.clone(), Some(r))));
        rows.sort_by(|a, b| eval::compare_records(sort, &a.0, &b.0));
        // Up to where the store's rows reached: its unchanged records past
        // there are not read (rows it read and then found changed may
        // have left fewer than a page before it).
        let reached = query.after.filter(|_| store_more);
        if let Some(p) = &reached {
            rows.retain(|(then, _)| !eval::is_after(sort, &p.values, &p.id, then));
        }
        Ok((rows, reached))
    }
}

impl Pybase {
    /// `records` (read just now) each with where it stood at the walk's
    /// snapshot (`changed`): as it is when it did not change since, as it
    /// was otherwise; a record made or deleted since is left out.
    pub(super) async fn as_they_were(
        &self,
        changed: &mut Changed,
        records: Vec<Record>,
    ) -> Result<Vec<(Record, Record)>> {
        // After the reads: every change they show is known.
        self.catch_up(changed).await?;
        let table = changed.key.table;
        self.place_reads(table, changed, records.iter().map(|r| (&r.id, r)))
            .await?;
        let mut out = Vec::with_capacity(records.len());
        for now in records {
            match changed.state.trails.get(&now.id) {
                None => out.push((now.clone(), now)),
                Some(trail) => {
                    if let Some(then) = trail.then.as_ref().filter(|_| trail.live_then_and_now()) {
                        out.push((then.clone(), now));
                    }
                }
            }
        }
        Ok(out)
    }

    /// Places the changed records among `reads` (records read before the
    /// log was last read) that are not placed yet, from their reads. A page
    /// that reads when a record last changed, or who changed it, takes
    /// both from the record's last logged change before its first since
    /// (the log keeps no other trace of them); with none kept, from when
    /// and by whom the record was made.
    async fn place_reads<'r>(
        &self,
        table: TableId,
        changed: &mut Changed,
        reads: impl Iterator<Item = (&'r RecordId, &'r Record)>,
    ) -> Result<()> {
        for (id, now) in reads {
            let Some(first_seq) = changed
                .state
                .trails
                .get(id)
                .filter(|t| t.then.is_none() && t.live_then_and_now())
                .map(|t| t.first_seq)
            else {
                continue;
            };
            let last = if changed.reads.last_change {
                match self
                    .store
                    .record_changes(table, *id, Some(first_seq), 1)
                    .await
                {
                    Ok(events) => events.into_iter().next().map(|e| (e.at, e.actor)),
                    Err(StoreError::Gone { .. }) => None,
                    Err(e) => return Err(e.into()),
                }
            } else {
                None
            };
            if let Some(trail) = changed.state.trails.get_mut(id) {
                trail.then = Some(trail.then_from_read(now, &changed.reads, last));
            }
        }
        Ok(())
    }
}

/// The changed records of `state` placed so far that the page of `plan`
/// after `from` keeps (live then and now, in its filter then), each with
/// where it stood; with `first`, only the `first` of them in order (in no
/// order).
fn placed_after<'s>(
    state: &'s WalkState,
    plan: &QueryPlan,
    from: Option<&Cursor>,
    first: Option<usize>,
) -> Vec<(&'s RecordId, &'s Record)> {
    let sort = &plan.query.sort;
    let mut placed: Vec<(&RecordId, &Record)> = Vec::new();
    for (id, trail) in &state.trails {
        // A record that changed in every round it was read is left to the
        // next page's read of the log.
        let Some(then) = trail.then.as_ref().filter(|_| trail.live_then_and_now()) else {
            continue;
        };
        let kept = plan
            .query
            .filter
            .as_ref()
            .is_none_or(|f| eval::matches(f, then))
            && from.is_none_or(|c| eval::is_after(sort, &c.values, &c.id, then));
        if kept {
            placed.push((id, then));
        }
    }
    if let Some(n) = first.filter(|n| *n > 0 && placed.len() > *n) {
        placed.select_nth_unstable_by(n - 1, |a, b| eval::compare_records(sort, a.1, b.1));
        placed.truncate(n);
    }
    placed
}

impl Changed {
    /// Whether no record of the table changed since the snapshot (as far as
    /// the log was read).
    pub(crate) fn is_empty(&self) -> bool {
        self.state.trails.is_empty()
    }

    /// Places the changed records of `table` not placed yet from their
    /// events alone where it can (those live then and now, not read in
    /// `states`), and answers the others, which must be read.
    fn place(&mut self, table: TableId, states: &BTreeMap<RecordId, Record>) -> Vec<RecordId> {
        let mut read = Vec::new();
        for (id, trail) in &mut self.state.trails {
            if trail.then.is_some() || !trail.live_then_and_now() || states.contains_key(id) {
                continue;
            }
            match trail.then_by_events(table, *id, &self.reads) {
                Some(then) => trail.then = Some(then),
                None => read.push(*id),
            }
        }
        read
    }
}

impl Trail {
    /// Adds the record's next event since the snapshot.
    fn absorb(&mut self, e: &ChangeEvent) {
        if self.first_seq == 0 {
            self.first_seq = e.seq;
            self.born = matches!(
                e.kind,
                ChangeKind::RecordCreated | ChangeKind::RecordRestored
            );
        }
        match e.kind {
            ChangeKind::RecordDeleted => self.gone = true,
            ChangeKind::RecordRestored => self.gone = false,
            ChangeKind::RecordUpdated => {
                let before = e.before.as_ref().and_then(Value::as_object);
                for f in e.changed_fields.iter().flatten() {
                    self.cells_then
                        .entry(*f)
                        .or_insert_with(|| before.and_then(|b| b.get(f.as_str())).cloned());
                }
            }
            _ => {}
        }
    }

    /// Whether the record was live at the snapshot and is now: not made
    /// or restored first, not deleted last.
    fn live_then_and_now(&self) -> bool {
        !self.born && !self.gone
    }

    /// The record as the page reads it at the snapshot, from its events
    /// since alone: each cell read is the one the first update changing
    /// it had before; `None` when one of them changed in none (or a
    /// column of the record is read), so the record as it is is needed.
    fn then_by_events(&self, table: TableId, id: RecordId, reads: &Reads) -> Option<Record> {
        if reads.meta {
            return None;
        }
        let mut cells = crate::model::Cells::new();
        for f in &reads.fields {
            if let Some(v) = self.cells_then.get(f)? {
                cells.insert(f.to_string(), v.clone());
            }
        }
        Some(Record::bare(table, id, cells))
    }

    /// `now` (a read of the record, every change it shows among the
    /// events absorbed) as the page reads it at the snapshot: the cells
    /// the page reads, with every update undone. It stays true as events
    /// come: a cell a later event changes first was, when read, as it was
    /// then.
    ///
    /// When and by whom it last changed then are `last` (see
    /// [`Pybase::place_reads`]), read when the page reads either.
    fn then_from_read(
        &self,
        now: &Record,
        reads: &Reads,
        last: Option<(Timestamp, Option<UserId>)>,
    ) -> Record {
        let mut then = Record {
            cells: crate::model::Cells::new(),
            ..now.clone()
        };
        for f in &reads.fields {
            let cell = match self.cells_then.get(f) {
                Some(v) => v.as_ref(),
                None => now.cells.get(f.as_str()),
            };
            if let Some(v) = cell {
                then.cells.insert(f.to_string(), v.clone());
            }
        }
        if reads.last_change {
            (then.updated_time, then.updated_by) =
                last.unwrap_or((now.created_time, now.created_by));
        }
        then
    }
}

/// What a page's filter and order read of a record.
struct Reads {
    /// The fields whose cells they read.
    fields: Vec<FieldId>,
    /// Whether they read a column of the record itself (its times, users,
    /// autonumber), which events do not hold.
    meta: bool,
    /// Whether they read when it last changed or who changed it.
    last_change: bool,
}

impl Reads {
    fn of(plan: &QueryPlan) -> Self {
        let mut reads = Self {
            fields: Vec::new(),
            meta: false,
            last_change: false,
        };
        for key in &plan.query.sort {
            reads.add(key.target);
        }
        if let Some(f) = &plan.query.filter {
            reads.add_filter(f);
        }
        // A formula's residual reads its fields, and may read a record's
        // own columns (`CREATED_TIME()`, `RECORD_ID()`, ...).
        if let Some(formula) = plan.formula.as_ref().filter(|f| !f.is_pure_sql()) {
            for field in &formula.checked.referenced_field_ids {
                if !reads.fields.contains(field) {
                    reads.fields.push(*field);
                }
            }
            reads.meta = true;
            reads.last_change = true;
        }
        reads
    }

    /// Whether the record event `e` may move its record in a page that
    /// reads this: any but an update, and an update of a cell read (of
    /// any cell, when the page reads when a record last changed or who
    /// changed it; an update naming no cells, to be safe).
    fn moved_by(&self, e: &ChangeEvent) -> bool {
        match e.kind {
            ChangeKind::RecordUpdated if !self.last_change => e
                .changed_fields
                .as_ref()
                .is_none_or(|changed| changed.iter().any(|f| self.fields.contains(f))),
            _ => true,
        }
    }

    fn add(&mut self, target: Target) {
        match target {
            Target::Cell { field, .. } | Target::FirstNumber(field) => {
                if !self.fields.contains(&field) {
                    self.fields.push(field);
                }
            }
            Target::Meta(column) => {
                self.meta = true;
                self.last_change |=
                    matches!(column, MetaColumn::UpdatedTime | MetaColumn::UpdatedBy);
            }
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
}
