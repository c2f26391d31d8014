//! [`ChangesStore`]: the per-base change log, appended inside the writing
//! transaction by [`log`], and announced after the commit.
//!
//! An event is one row of `changes`, keyed by its base's number
//! (`change_counters.no`) times [`SPAN`] plus its seq (migration 0014):
//! a base's log is one range of rowids, so an event costs one B-tree and
//! one page of the WAL. A record's history is a chain: the record row
//! holds the seq of its newest event (`records.last_seq`), each record
//! event the seq of the one before it (`prev_seq`).
//!
//! Writes are serialised (one writer connection, immediate transactions),
//! so the next seq of a base is one more than its newest: the largest of
//! its newest event's seq (the last key of its range), of
//! `change_counters.pruned_seq` (pruning may have removed every event) and
//! of `change_counters.last_seq` (a counter the log bumped on every write
//! until 2026-11-28, no longer written). Numbers are gap-free and become
//! visible in order.
//!
//! A write that updates or creates record rows takes their events' seqs
//! first ([`take_seqs`]), so the row it writes anyway points at its event;
//! [`log`] numbers the other events after those and links each to its
//! record's chain itself. Both keep their state for the transaction in a
//! thread-local [`Slot`], opened from the writer's [`Numbers`] (each
//! base's next seq, kept between transactions while no other connection
//! writes). [`log`] also queues an announcement in a
//! thread-local list; the store's write wrapper takes it after the commit
//! (and drops it after a rollback): see [`finish`].

use std::cell::RefCell;
use std::collections::HashMap;

use async_trait::async_trait;
use pybase_core::ids::{BaseId, FieldId, RecordId, TableId, UserId, ViewId};
use pybase_core::model::{Cells, Timestamp};
use pybase_core::store::{
    ChangeEvent, ChangeFeed, ChangeKind, ChangesPage, ChangesStore, Committed, NewChange,
};
use pybase_core::{StoreError, StoreResult};
use rusqlite::types::Type;
use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::SqliteStore;
use crate::error::{Error, Result};
use crate::layout::scope;
use crate::rows::{fmt_time, id, opt_id, time};

thread_local! {
    /// Commits to announce once the current write transaction commits.
    static PENDING: RefCell<Vec<Committed>> = const { RefCell::new(Vec::new()) };
    /// The seqs the current write transaction has taken ([`take_seqs`]).
    static SLOT: RefCell<Option<Slot>> = const { RefCell::new(None) };
    /// The writer's [`Numbers`], lent for the current write transaction.
    static NUMBERS: RefCell<Numbers> = RefCell::new(Numbers::default());
}

/// What the writer connection knows of the log between its transactions:
/// each table's base, and each base's first key and next seq. Valid while
/// no other connection has committed (`PRAGMA data_version` unchanged;
/// the writer's own commits leave it as it is), updated by each logged
/// write, forgotten after a rollback. Saves a transaction the statement
/// that finds them (about 9,000 instructions, a quarter of what the log
/// cost a single update).
#[derive(Default)]
pub(crate) struct Numbers {
    /// `PRAGMA data_version` when the rest was read.
    version: Option<i64>,
    /// Each table's base.
    tables: HashMap<TableId, String>,
    /// Each base's first key and next seq.
    bases: HashMap<String, (i64, i64)>,
}

/// Lends the writer's `numbers` to this thread for one write transaction
/// (given back by [`finish`]).
pub(crate) fn begin(numbers: Numbers) {
    reset();
    NUMBERS.with(|cell| *cell.borrow_mut() = numbers);
}

/// The keys of one base's events: `no * SPAN + seq` (a seq stays below
/// 2^40, about a trillion events a base; a base number below 2^23).
pub(crate) const SPAN: i64 = 1 << 40;

/// [`SPAN`] in SQL text (a test checks they agree).
macro_rules! span {
    () => {
        "1099511627776"
    };
}
pub(crate) use span;

/// The newest seq of a base from its counter row `cc` (an SQL expression):
/// the last key of its range, else its counters.
macro_rules! newest_of_counter {
    () => {
        concat!(
            "coalesce((SELECT k FROM changes WHERE k BETWEEN cc.no * ",
            $crate::changes::span!(),
            " AND cc.no * ",
            $crate::changes::span!(),
            " + ",
            $crate::changes::span!(),
            " - 1 ORDER BY k DESC LIMIT 1) - cc.no * ",
            $crate::changes::span!(),
            ", max(cc.last_seq, cc.pruned_seq), 0)"
        )
    };
}
pub(crate) use newest_of_counter;

/// The seqs a write transaction has given out so far, of one base.
struct Slot {
    /// The table the slot was opened for (its base is the slot's).
    table: TableId,
    /// The base's id.
    base: String,
    /// The base's first key (`no * SPAN`).
    lo: i64,
    /// The seq after the base's newest when the transaction began.
    first: i64,
    /// Seqs handed out by [`take_seqs`] (from `first` on).
    taken: i64,
}

impl Slot {
    /// The base of `table`, its number and its next seq. A base without a
    /// number (none written since it was made) gets one here.
    fn open(conn: &Connection, table: TableId) -> Result<Self> {
        let version: i64 = conn
            .prepare_cached("PRAGMA data_version")?
            .query_row([], |r| r.get(0))?;
        let known = NUMBERS.with(|cell| {
            let mut numbers = cell.borrow_mut();
            if numbers.version != Some(version) {
                numbers.tables.clear();
                numbers.bases.clear();
                numbers.version = Some(version);
            }
            let base = numbers.tables.get(&table)?;
            let &(lo, first) = numbers.bases.get(base)?;
            Some(Self {
                table,
                base: base.clone(),
                lo,
                first,
                taken: 0,
            })
        });
        if let Some(slot) = known {
            return Ok(slot);
        }
        let slot = Self::read(conn, table)?;
        NUMBERS.with(|cell| {
            let mut numbers = cell.borrow_mut();
            numbers.tables.insert(table, slot.base.clone());
            numbers
                .bases
                .insert(slot.base.clone(), (slot.lo, slot.first));
        });
        Ok(slot)
    }

    /// [`Self::open`] from the database.
    fn read(conn: &Connection, table: TableId) -> Result<Self> {
        let (base, no, newest): (String, Option<i64>, i64) = conn
            .prepare_cached(concat!(
                "SELECT t.base_id, cc.no, ",
                newest_of_counter!(),
                " FROM tables t LEFT JOIN change_counters cc ON cc.base_id = t.base_id \
                 WHERE t.id = ?1"
            ))?
            .query_row([table.as_str()], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()?
            .ok_or_else(|| Error::not_found("table", table))?;
        let no = match no {
            Some(no) => no,
            None => conn
                .prepare_cached(
                    "INSERT INTO change_counters (base_id, last_seq, pruned_seq) \
                     VALUES (?1, 0, 0) RETURNING no",
                )?
                .query_row([&base], |r| r.get(0))?,
        };
        Ok(Self {
            table,
            base,
            lo: no
                .checked_mul(SPAN)
                .ok_or_else(|| Error::corrupt("base number", no.to_string()))?,
            first: newest + 1,
            taken: 0,
        })
    }

    /// Checks that `table` belongs to this slot's base.
    fn check(&self, conn: &Connection, table: TableId) -> Result<()> {
        if table == self.table {
            return Ok(());
        }
        let base: Option<String> = conn
            .prepare_cached("SELECT base_id FROM tables WHERE id = ?1")?
            .query_row([table.as_str()], |r| r.get(0))
            .optional()?;
        if base.as_deref() == Some(self.base.as_str()) {
            Ok(())
        } else {
            Err(Error::corrupt("change log base", table.to_string()))
        }
    }
}

/// Gives the next `n` seqs of `table`'s base to record rows this
/// transaction is about to write (a create's new rows, an update's row),
/// `None` while the log is measured out. Each must get an event
/// [`Entry::linked`] to its seq in this transaction's [`log`], which checks
/// that every seq taken is logged.
pub(crate) fn take_seqs(conn: &Connection, table: TableId, n: usize) -> Result<Option<i64>> {
    if n == 0 || !pybase_core::store::change_log_enabled() {
        return Ok(None);
    }
    let n = i64::try_from(n).map_err(|_| Error::corrupt("change count", n.to_string()))?;
    SLOT.with(|cell| {
        let mut slot = cell.borrow_mut();
        let slot = match slot.as_mut() {
            Some(s) => {
                s.check(conn, table)?;
                s
            }
            None => slot.insert(Slot::open(conn, table)?),
        };
        let seq = slot.first + slot.taken;
        slot.taken += n;
        Ok(Some(seq))
    })
}

/// Forgets the transaction's seqs (at its start, and after it ended).
pub(crate) fn reset() {
    SLOT.with(|cell| cell.borrow_mut().take());
}

/// Whether the transaction logged every seq it took: called before its
/// commit, so a write that took seqs and did not log them rolls back.
pub(crate) fn settled() -> Result<()> {
    SLOT.with(|cell| match cell.borrow().as_ref() {
        Some(s) if s.taken > 0 => Err(Error::corrupt(
            "change log",
            format!("{} seqs taken and not logged", s.taken),
        )),
        _ => Ok(()),
    })
}

/// Where an event stands in its record's chain.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Chain {
    /// Not a record event.
    Unlinked,
    /// A record event: [`log`] reads the record's newest seq and points
    /// the record at this event.
    Lookup,
    /// A record event whose row was written pointing at `seq` already
    /// (its seq from [`take_seqs`]; `prev`, the record's event before).
    Linked { seq: i64, prev: Option<i64> },
}

/// One event ready to insert, its JSON already serialised.
pub(crate) struct Entry {
    kind_name: &'static str,
    table: TableId,
    record: Option<RecordId>,
    field: Option<FieldId>,
    view: Option<ViewId>,
    changed: Option<String>,
    before: Option<String>,
    after: Option<String>,
    chain: Chain,
}

impl Entry {
    /// A `record.updated` that changed no cell (a write of the values the
    /// record already had): it is not logged.
    fn changes_nothing(&self) -> bool {
        self.kind_name == ChangeKind::RecordUpdated.as_str()
            && self.changed.as_deref() == Some("[]")
    }

    /// `record.created` from cells already serialised for the insert (the
    /// text itself: a bulk create hands over each record's once inserted).
    pub(crate) fn created(table: TableId, record: RecordId, cells: String) -> Self {
        Self {
            kind_name: ChangeKind::RecordCreated.as_str(),
            table,
            record: Some(record),
            field: None,
            view: None,
            changed: None,
            before: None,
            after: Some(cells),
            chain: Chain::Lookup,
        }
    }

    /// This record event, its record row written pointing at it: `link`
    /// is its seq from [`take_seqs`] and the record's newest seq before
    /// (`None`, as the log is measured out, leaves it as it is).
    pub(crate) fn linked(mut self, link: Option<(i64, Option<i64>)>) -> Self {
        if let Some((seq, prev)) = link {
            self.chain = Chain::Linked { seq, prev };
        }
        self
    }
}

impl Entry {
    /// The table and record of a record event that derived cells merge
    /// into (`record.created`, `record.updated`, `record.restored`).
    pub(crate) fn record_key(&self) -> Option<(TableId, RecordId)> {
        let kind = ChangeKind::parse(self.kind_name)?;
        pybase_core::store::computed::takes_cells(kind)
            .then_some(())
            .and(self.record)
            .map(|r| (self.table, r))
    }

    /// Merges `derived` (a record's derived cells, a `record.updated` of
    /// the recompute) into this event of the same record
    /// (`pybase_core::store::computed::merge_event`), so the write logs one
    /// event per record.
    pub(crate) fn merge(&mut self, derived: NewChange) -> Result<()> {
        let parse = |text: &Option<String>| -> Result<Option<serde_json::Value>> {
            Ok(text.as_deref().map(serde_json::from_str).transpose()?)
        };
        let kind = ChangeKind::parse(self.kind_name)
            .ok_or_else(|| Error::corrupt("change kind", self.kind_name.to_owned()))?;
        let changed = parse(&self.changed)?
            .map(|v| {
                serde_json::from_value::<Vec<pybase_core::ids::FieldId>>(v)
                    .map_err(|e| Error::corrupt("changed_fields", e.to_string()))
            })
            .transpose()?;
        let mut event = NewChange {
            kind,
            table_id: self.table,
            record_id: None,
            field_id: None,
            view_id: None,
            changed_fields: changed,
            before: parse(&self.before)?,
            after: parse(&self.after)?,
        };
        pybase_core::store::computed::merge_event(&mut event, derived);
        let merged = Self::from(event);
        self.changed = merged.changed;
        self.before = merged.before;
        self.after = merged.after;
        Ok(())
    }
}

impl From<NewChange> for Entry {
    fn from(c: NewChange) -> Self {
        let json = |v: Option<serde_json::Value>| v.map(|v| v.to_string());
        Self {
            kind_name: c.kind.as_str(),
            table: c.table_id,
            record: c.record_id,
            field: c.field_id,
            view: c.view_id,
            changed: c.changed_fields.map(|f| {
                serde_json::Value::Array(f.iter().map(|f| f.as_str().into()).collect()).to_string()
            }),
            chain: if c.record_id.is_some() {
                Chain::Lookup
            } else {
                Chain::Unlinked
            },
            before: json(c.before),
            after: json(c.after),
        }
    }
}

/// Events inserted by one statement of a batch (9 parameters each after
/// the 3 the rows share, far below SQLite's limit of 32,766).
const ROWS_PER_INSERT: usize = 64;

/// Parameters of one row of [`insert_sql`]: the record's seq before, kind,
/// table, record, field, view, changed fields, before, after.
const ROW_PARAMS: usize = 9;

/// `INSERT INTO changes ... VALUES (...), ...` of `rows` rows (1 to
/// [`ROWS_PER_INSERT`]), built once per size. The rows share `?1` (the
/// first row's key; row `k` takes `?1 + k`), `?2` (time) and `?3`
/// (actor), bound once a statement: each bound value costs about 400
/// instructions.
fn insert_sql(rows: usize) -> &'static str {
    static SQL: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    crate::sql::by_count(&SQL, ROWS_PER_INSERT, rows, build_insert_sql)
}

/// [`insert_sql`] of `rows` rows, built.
fn build_insert_sql(rows: usize) -> String {
    let mut sql = String::from(
        "INSERT INTO changes (k, prev_seq, at, actor, kind, table_id, record_id, field_id, \
         view_id, changed_fields, before, after) VALUES ",
    );
    for k in 0..rows {
        if k > 0 {
            sql.push_str(", ");
        }
        let p = 3 + k * ROW_PARAMS;
        sql.push_str(&format!("(?1 + {k}, ?{}, ?2, ?3", p + 1));
        for i in 2..=ROW_PARAMS {
            sql.push_str(&format!(", ?{}", p + i));
        }
        sql.push(')');
    }
    sql
}

/// The newest seq of the base `base` (an SQL expression naming it):
/// see the module's documentation. Reads, never writes: the last key of
/// the base's range while it has events (pruning removes the oldest first,
/// and the retired counter never ran ahead of the events it numbered),
/// its counters otherwise.
macro_rules! last_seq_of {
    ($base:literal) => {
        concat!(
            "coalesce((SELECT ",
            $crate::changes::newest_of_counter!(),
            " FROM change_counters cc WHERE cc.base_id = ",
            $base,
            "), 0)"
        )
    };
}
pub(crate) use last_seq_of;

/// Appends `entries` (all of tables of one base, the base of the first's
/// table) to the log, in the caller's write transaction. `at` defaults to
/// now. Nothing to log is a no-op, and so is a `record.updated` that
/// changed no cell (unless its row was written pointing at it).
///
/// The events linked by [`take_seqs`] keep their seqs (the first of the
/// transaction); the others are numbered after them in order, each record
/// event linked to its record's chain here. Then the events go in by
/// [`ROWS_PER_INSERT`] a statement, in seq order.
pub(crate) fn log(
    conn: &Connection,
    at: Option<&Timestamp>,
    actor: Option<UserId>,
    entries: &[Entry],
) -> Result<()> {
    if !pybase_core::store::change_log_enabled() {
        return Ok(());
    }
    let slot = SLOT.with(|cell| cell.borrow_mut().take());
    let entries: Vec<&Entry> = entries
        .iter()
        .filter(|e| matches!(e.chain, Chain::Linked { .. }) || !e.changes_nothing())
        .collect();
    let Some(first) = entries.first() else {
        return match slot {
            Some(s) if s.taken > 0 => Err(Error::corrupt(
                "change log",
                format!("{} seqs taken and not logged", s.taken),
            )),
            _ => Ok(()),
        };
    };
    let slot = match slot {
        Some(s) => {
            s.check(conn, first.table)?;
            s
        }
        None => Slot::open(conn, first.table)?,
    };
    let rows = number(conn, &slot, &entries)?;
    let at = fmt_time(&at.copied().unwrap_or_else(chrono::Utc::now));
    let actor = actor.map(|a| a.to_string());
    insert_all(conn, &slot, &rows, &at, actor.as_deref())?;
    let last = slot.first + i64::try_from(rows.len()).unwrap_or(i64::MAX) - 1;
    NUMBERS.with(|cell| {
        if let Some(entry) = cell.borrow_mut().bases.get_mut(&slot.base) {
            entry.1 = last + 1;
        }
    });
    // The announcement is only a wake-up: a base id written by hand that
    // does not parse (old test databases) just goes unannounced.
    if let Ok(base) = slot.base.parse::<BaseId>() {
        PENDING.with(|p| {
            p.borrow_mut().push(Committed {
                base,
                last_seq: last,
            });
        });
    }
    Ok(())
}

/// One event to insert: its seq, its record's event before, the event.
type Numbered<'a> = (i64, Option<i64>, &'a Entry);

/// `entries` numbered and linked (see [`log`]), in seq order, after
/// checking that the linked ones hold exactly the seqs the slot gave out.
fn number<'a>(conn: &Connection, slot: &Slot, entries: &[&'a Entry]) -> Result<Vec<Numbered<'a>>> {
    let mut next = slot.first + slot.taken;
    let mut rows: Vec<Numbered<'a>> = Vec::with_capacity(entries.len());
    let mut lookups = Vec::new();
    for e in entries {
        match e.chain {
            Chain::Linked { seq, prev } => rows.push((seq, prev, e)),
            Chain::Lookup => {
                lookups.push(rows.len());
                rows.push((next, None, e));
                next += 1;
            }
            Chain::Unlinked => {
                rows.push((next, None, e));
                next += 1;
            }
        }
    }
    // Lookups in seq order, so two events of one record chain in order.
    for i in lookups {
        let (seq, _, e) = rows[i];
        if let Some(record) = e.record {
            rows[i].1 = relink(conn, e.table, record, seq)?;
        }
    }
    rows.sort_unstable_by_key(|r| r.0);
    if next >= SPAN {
        return Err(Error::corrupt(
            "change log",
            format!("base {} reached the largest seq", slot.base),
        ));
    }
    let gapless = rows
        .iter()
        .zip(slot.first..)
        .all(|(r, expected)| r.0 == expected);
    if !gapless || rows.len() as i64 != next - slot.first {
        return Err(Error::corrupt(
            "change log",
            format!(
                "seqs taken ({}) and events logged ({}) differ",
                slot.taken,
                rows.len()
            ),
        ));
    }
    Ok(rows)
}

/// Points the record row `record` of `table` at its event `seq`; the
/// seq it pointed at before (`None` if it had none, or has no row).
fn relink(conn: &Connection, table: TableId, record: RecordId, seq: i64) -> Result<Option<i64>> {
    let found: Option<(i64, Option<i64>)> = conn
        .prepare_cached("SELECT rowid, last_seq FROM records WHERE table_id = ?1 AND id = ?2")?
        .query_row([table.as_str(), record.as_str()], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()?;
    let Some((rowid, prev)) = found else {
        return Ok(None);
    };
    conn.prepare_cached("UPDATE records SET last_seq = ?2 WHERE rowid = ?1")?
        .execute([rowid, seq])?;
    Ok(prev)
}

/// Inserts `rows` (numbered from the slot's first seq on, in order) by
/// [`ROWS_PER_INSERT`] a statement.
fn insert_all(
    conn: &Connection,
    slot: &Slot,
    rows: &[Numbered<'_>],
    at: &str,
    actor: Option<&str>,
) -> Result<()> {
    let mut key = slot.lo + slot.first;
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        let mut insert = conn.prepare_cached(insert_sql(chunk.len()))?;
        let mut values: Vec<&dyn rusqlite::ToSql> =
            Vec::with_capacity(3 + chunk.len() * ROW_PARAMS);
        values.extend_from_slice(&[&key as &dyn rusqlite::ToSql, &at, &actor]);
        let ids: Vec<[Option<&str>; 4]> = chunk
            .iter()
            .map(|(_, _, e)| {
                [
                    Some(e.table.as_str()),
                    e.record.as_ref().map(RecordId::as_str),
                    e.field.as_ref().map(FieldId::as_str),
                    e.view.as_ref().map(ViewId::as_str),
                ]
            })
            .collect();
        for ((_, prev, e), [table, record, field, view]) in chunk.iter().zip(&ids) {
            values.extend_from_slice(&[
                prev as &dyn rusqlite::ToSql,
                &e.kind_name,
                table,
                record,
                field,
                view,
                &e.changed,
                &e.before,
                &e.after,
            ]);
        }
        insert.execute(values.as_slice())?;
        key += i64::try_from(chunk.len()).unwrap_or(0);
    }
    Ok(())
}

/// Ends a write made on this thread: announces what it logged if it
/// committed (`ok`), forgets it otherwise, and gives back the writer's
/// [`Numbers`] lent by [`begin`] (emptied after a rollback). Called by the
/// write wrappers right after the transaction, on the same thread.
pub(crate) fn finish(feed: &ChangeFeed, ok: bool) -> Numbers {
    reset();
    let mut numbers = NUMBERS.with(|cell| std::mem::take(&mut *cell.borrow_mut()));
    let pending = PENDING.with(|p| std::mem::take(&mut *p.borrow_mut()));
    if ok {
        for c in pending {
            feed.announce(c);
        }
    } else {
        // What the rolled-back transaction numbered (or made) is undone.
        numbers = Numbers::default();
    }
    numbers
}

/// A record's cells before an update, read in the writing transaction:
/// all of them, or only those the update may change.
pub(crate) struct Before {
    cells: Cells,
    /// The cells read (field ids, sorted, distinct); `None`: all.
    only: Option<Vec<String>>,
}

impl Before {
    /// A record's cells as read before its update by `patch`, `None` while
    /// the log is measured out: the event compares only the cells a merge
    /// names (the only ones it can change), every cell for a replace.
    pub(crate) fn of(cells: Cells, patch: &pybase_core::store::RecordPatch) -> Option<Self> {
        if !pybase_core::store::change_log_enabled() {
            return None;
        }
        let only = merged(patch).map(|keys| {
            let mut keys: Vec<String> = keys.map(str::to_owned).collect();
            keys.sort_unstable();
            keys.dedup();
            keys
        });
        Some(Self { cells, only })
    }
}

/// The cells `p` names if it merges (set or unset), `None` if it replaces.
pub(crate) fn merged(p: &pybase_core::store::RecordPatch) -> Option<impl Iterator<Item = &str>> {
    (!p.replace).then(|| {
        p.set
            .keys()
            .map(String::as_str)
            .chain(p.unset.iter().map(pybase_core::ids::FieldId::as_str))
    })
}

/// The `record.updated` event of an update from its [`Before`] and the
/// record after: the cells that differ, on both sides (as
/// [`NewChange::record_updated`], among the cells read). A merge's event is
/// written as JSON text directly (keys in byte order, as the map would
/// give them), without building the two sides as maps first.
pub(crate) fn updated(before: &Before, after: &pybase_core::model::Record) -> Result<Entry> {
    let Some(keys) = &before.only else {
        return Ok(Entry::from(NewChange::record_updated(&before.cells, after)));
    };
    let mut changed = Vec::with_capacity(64);
    let mut old = Vec::with_capacity(256);
    let mut new = Vec::with_capacity(256);
    changed.push(b'[');
    old.push(b'{');
    new.push(b'{');
    for k in keys {
        let (b, a) = (before.cells.get(k), after.cells.get(k));
        if b == a {
            continue;
        }
        for (side, value) in [(&mut old, b), (&mut new, a)] {
            if let Some(v) = value {
                if side.len() > 1 {
                    side.push(b',');
                }
                serde_json::to_writer(&mut *side, k)?;
                side.push(b':');
                serde_json::to_writer(&mut *side, v)?;
            }
        }
        if k.parse::<pybase_core::ids::FieldId>().is_ok() {
            if changed.len() > 1 {
                changed.push(b',');
            }
            serde_json::to_writer(&mut changed, k)?;
        }
    }
    changed.push(b']');
    old.push(b'}');
    new.push(b'}');
    let text = |bytes: Vec<u8>| {
        String::from_utf8(bytes).map_err(|e| Error::corrupt("change event", e.to_string()))
    };
    Ok(Entry {
        kind_name: ChangeKind::RecordUpdated.as_str(),
        table: after.table_id,
        record: Some(after.id),
        field: None,
        view: None,
        changed: Some(text(changed)?),
        before: Some(text(old)?),
        after: Some(text(new)?),
        chain: Chain::Lookup,
    })
}

/// The `record.updated` events of a field conversion: for each converted
/// cell (`cells`, new values in order, the last write of a record wins),
/// the cell before (read here, so call it before the cells are written) and
/// after, absent on a side where it is empty; records whose cell does not
/// change log nothing.
pub(crate) fn converted(
    conn: &Connection,
    field: &pybase_core::model::Field,
    cells: Vec<(RecordId, Option<serde_json::Value>)>,
) -> Result<Vec<Entry>> {
    if !pybase_core::store::change_log_enabled() || cells.is_empty() {
        return Ok(Vec::new());
    }
    let mut last = std::collections::HashMap::with_capacity(cells.len());
    for (i, (id, _)) in cells.iter().enumerate() {
        last.insert(*id, i);
    }
    let mut old = conn.prepare_cached(&format!(
        "SELECT data -> ?2 FROM records WHERE {} AND id = ?1",
        scope("", field.table_id.as_str())?
    ))?;
    let path = crate::layout::cell_path(field.id.as_str());
    let mut out = Vec::with_capacity(last.len());
    for (i, (record, after)) in cells.into_iter().enumerate() {
        if last.get(&record) != Some(&i) {
            continue;
        }
        let before: Option<String> = old
            .query_row(params![record.as_str(), path], |r| r.get(0))
            .optional()?
            .flatten();
        let before = before
            .map(|t| serde_json::from_str::<serde_json::Value>(&t))
            .transpose()?
            .filter(|v| !v.is_null());
        let after = after.filter(|v| !v.is_null());
        if before != after {
            out.push(Entry::from(NewChange::cell_updated(
                field.table_id,
                record,
                field.id,
                before,
                after,
            )));
        }
    }
    Ok(out)
}

/// An event's columns as [`event`] reads them, its seq first (`?1` is its
/// base's first key); `prev_seq` after them.
const EVENT_COLUMNS: &str = "k - ?1, at, actor, kind, table_id, record_id, field_id, view_id, \
     changed_fields, before, after, prev_seq";

fn opt_json(row: &Row<'_>, idx: usize) -> rusqlite::Result<Option<serde_json::Value>> {
    let text: Option<String> = row.get(idx)?;
    text.map(|t| {
        serde_json::from_str(&t)
            .map_err(|e| rusqlite::Error::FromSqlConversionFailure(idx, Type::Text, Box::new(e)))
    })
    .transpose()
}

fn event(row: &Row<'_>) -> rusqlite::Result<ChangeEvent> {
    let kind: String = row.get(3)?;
    let kind = ChangeKind::parse(&kind).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            3,
            Type::Text,
            Box::new(std::io::Error::other(format!("unknown change kind {kind}"))),
        )
    })?;
    let changed: Option<Vec<String>> = opt_json(row, 8)?
        .map(serde_json::from_value)
        .transpose()
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(8, Type::Text, Box::new(e)))?;
    let changed = changed
        .map(|list| {
            list.iter()
                .map(|f| f.parse())
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(8, Type::Text, Box::new(e)))?;
    Ok(ChangeEvent {
        seq: row.get(0)?,
        at: time(row, 1)?,
        actor: opt_id(row, 2)?,
        kind,
        table_id: Some(id(row, 4)?),
        record_id: opt_id(row, 5)?,
        field_id: opt_id(row, 6)?,
        view_id: opt_id(row, 7)?,
        changed_fields: changed,
        before: opt_json(row, 9)?,
        after: opt_json(row, 10)?,
    })
}

fn limit_param(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

#[async_trait]
impl ChangesStore for SqliteStore {
    async fn changes_since(
        &self,
        base: BaseId,
        after: i64,
        limit: usize,
    ) -> StoreResult<ChangesPage> {
        self.read(move |conn| {
            let found: Option<(i64, i64, i64)> = conn
                .prepare_cached(concat!(
                    "SELECT cc.no * ",
                    span!(),
                    ", ",
                    newest_of_counter!(),
                    ", cc.pruned_seq FROM change_counters cc WHERE cc.base_id = ?1"
                ))?
                .query_row([base.as_str()], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .optional()?;
            // A base without a number has no event yet.
            let Some((lo, last, pruned)) = found else {
                return Ok(ChangesPage {
                    events: Vec::new(),
                    last_seq: 0,
                });
            };
            if after < pruned {
                return Err(Error::Store(StoreError::Gone {
                    after,
                    oldest: pruned + 1,
                }));
            }
            let from = lo.saturating_add(after.clamp(0, SPAN - 1));
            let events = conn
                .prepare_cached(&format!(
                    "SELECT {EVENT_COLUMNS} FROM changes WHERE k > ?2 AND k < ?1 + {SPAN} \
                     ORDER BY k LIMIT ?3"
                ))?
                .query_map(params![lo, from, limit_param(limit)], event)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(ChangesPage {
                events,
                last_seq: last,
            })
        })
        .await
    }

    async fn record_changes(
        &self,
        table: TableId,
        record: RecordId,
        before: Option<i64>,
        limit: usize,
    ) -> StoreResult<Vec<ChangeEvent>> {
        self.read(move |conn| {
            // The record's newest event, then each event's `prev_seq`, by
            // key (see the module's documentation).
            let found: Option<(i64, Option<i64>)> = conn
                .prepare_cached(concat!(
                    "SELECT cc.no * ",
                    span!(),
                    ", r.last_seq FROM records r JOIN tables t ON t.id = r.table_id \
                     JOIN change_counters cc ON cc.base_id = t.base_id \
                     WHERE r.table_id = ?1 AND r.id = ?2"
                ))?
                .query_row([table.as_str(), record.as_str()], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()?;
            let Some((lo, mut next)) = found else {
                return Ok(Vec::new());
            };
            let mut read = conn.prepare_cached(&format!(
                "SELECT {EVENT_COLUMNS} FROM changes WHERE k = ?1 + ?2"
            ))?;
            let mut out = Vec::new();
            while let Some(seq) = next {
                if out.len() >= limit {
                    break;
                }
                let Some((event, prev)) = read
                    .query_row(params![lo, seq], |r| {
                        Ok((event(r)?, r.get::<_, Option<i64>>(11)?))
                    })
                    .optional()?
                else {
                    // Pruned: the chain ends here.
                    break;
                };
                if before.is_none_or(|b| seq < b) {
                    out.push(event);
                }
                next = prev;
            }
            Ok(out)
        })
        .await
    }

    async fn prune_changes(&self, cutoff: Timestamp) -> StoreResult<u64> {
        let cutoff = fmt_time(&cutoff);
        self.write(move |tx| {
            // Pruning keeps a suffix of each base's log: everything up to
            // the newest event older than the cutoff goes (by key range,
            // each base's newest old event found by one scan of the log).
            let old: Vec<(i64, i64)> = tx
                .prepare_cached(concat!(
                    "SELECT k / ",
                    span!(),
                    ", max(k) % ",
                    span!(),
                    " FROM changes WHERE at < ?1 GROUP BY 1"
                ))?
                .query_map([&cutoff], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?;
            let mut n = 0;
            for (no, seq) in old {
                tx.prepare_cached(
                    "UPDATE change_counters SET pruned_seq = max(pruned_seq, ?2) WHERE no = ?1",
                )?
                .execute([no, seq])?;
                let lo = no.saturating_mul(SPAN);
                n += tx
                    .prepare_cached("DELETE FROM changes WHERE k BETWEEN ?1 AND ?1 + ?2")?
                    .execute([lo, seq])?;
            }
            Ok(u64::try_from(n).unwrap_or(0))
        })
        .await
    }

    async fn table_base(&self, table: TableId) -> StoreResult<BaseId> {
        self.read_small(move |conn| {
            conn.prepare_cached("SELECT base_id FROM tables WHERE id = ?1")?
                .query_row([table.as_str()], |r| id(r, 0))
                .optional()?
                .ok_or_else(|| Error::not_found("table", table))
        })
        .await
    }

    fn change_feed(&self) -> &ChangeFeed {
        &self.inner.feed
    }
}

#[cfg(test)]
pub(crate) mod tests;
