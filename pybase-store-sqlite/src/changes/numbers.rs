//! The numbers of the change log's events on SQLite: each base's number
//! and next seq, kept by the writer between its transactions
//! ([`Numbers`]), and the seqs a write transaction gives out ([`Slot`],
//! [`take_seqs`]) before [`super::log`] writes the events.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use pybase_core::ids::{BaseId, TableId};
use rusqlite::{Connection, OptionalExtension};

use super::data_version::data_version;
use crate::error::{Error, Result};

thread_local! {
    /// The seqs the current write transaction has taken ([`take_seqs`]).
    static SLOT: RefCell<Option<Slot>> = const { RefCell::new(None) };
    /// The writer's [`Numbers`], lent for the current write transaction.
    static NUMBERS: RefCell<Numbers> = RefCell::new(Numbers::default());
}

/// What the writer connection knows of the log between its transactions:
/// each table's base, and each base's first key and next seq. Valid while
/// the connection's [`data_version`] is the one it had after the last
/// commit that used them (so no other connection has committed since),
/// updated by each logged write, forgotten after a rollback. Saves a
/// transaction the statement that finds them (about 9,000 instructions, a
/// quarter of what the log cost a single update).
#[derive(Default)]
pub(crate) struct Numbers {
    /// The writer's [`data_version`] after the last commit of a
    /// transaction that checked (or read) the rest.
    version: Option<u32>,
    /// Whether the current transaction checked (or read) the rest: only
    /// then does its commit make them valid at the version after it.
    checked: bool,
    /// Each table's base (its place in `bases`).
    tables: HashMap<TableId, usize>,
    /// Each base's place in `bases`, by its id.
    places: HashMap<Arc<str>, usize>,
    /// The bases known, each with its first key and next seq.
    bases: Vec<BaseNumbers>,
}

impl Numbers {
    /// Forgets every table and base.
    fn clear(&mut self) {
        self.tables.clear();
        self.places.clear();
        self.bases.clear();
    }
}

/// A base's numbers in [`Numbers`].
struct BaseNumbers {
    /// Its id as stored.
    id: Arc<str>,
    /// Its id parsed (`None` for an id written by hand that does not
    /// parse, in old test databases).
    parsed: Option<BaseId>,
    /// Its first key (`no * SPAN`).
    lo: i64,
    /// Its next seq.
    next: i64,
}

/// The most tables [`Numbers`] keeps (about 100 bytes each) before it
/// forgets them all and reads each again on its next write.
const KEPT_TABLES: usize = 16_384;

/// Lends the writer's `numbers` to this thread for one write transaction
/// (given back by [`super::finish`]).
pub(crate) fn begin(numbers: Numbers) {
    reset();
    NUMBERS.with(|cell| *cell.borrow_mut() = numbers);
}

/// The keys of one base's events: `no * SPAN + seq` (a seq stays below
/// 2^40, about a trillion events a base; a base number at most
/// [`LAST_NO`]).
pub(crate) const SPAN: i64 = 1 << 40;

/// The largest base number whose keys fit an `i64` (2^23 - 1).
const LAST_NO: i64 = i64::MAX / SPAN;

/// Gives `base` its number: one more than the largest given, or, once the
/// largest is [`LAST_NO`], the smallest free one (a deleted base's number
/// is free: its events and counter went with it), so numbering runs out
/// only with [`LAST_NO`] bases at once, not after that many over the
/// database's life.
fn number_base(conn: &Connection, base: &str) -> Result<i64> {
    let no: Option<i64> = conn
        .prepare_cached(
            "INSERT INTO change_counters (no, base_id, last_seq, pruned_seq) \
             SELECT CASE WHEN coalesce((SELECT max(no) FROM change_counters), 0) < ?2 THEN NULL \
             ELSE (SELECT min(free) FROM (\
             SELECT 1 AS free WHERE NOT EXISTS (SELECT 1 FROM change_counters WHERE no = 1) \
             UNION ALL SELECT c.no + 1 FROM change_counters c WHERE c.no < ?2 \
             AND NOT EXISTS (SELECT 1 FROM change_counters d WHERE d.no = c.no + 1))) END, \
             ?1, 0, 0 RETURNING no",
        )?
        .query_row(rusqlite::params![base, LAST_NO], |r| r.get(0))?;
    no.filter(|no| (1..=LAST_NO).contains(no)).ok_or_else(|| {
        Error::corrupt(
            "base number",
            format!("none is free: {LAST_NO} bases have one already"),
        )
    })
}

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
pub(crate) struct Slot {
    /// The table the slot was opened for (its base is the slot's).
    table: TableId,
    /// The base's id.
    pub(super) base: Arc<str>,
    /// The base's id parsed, if it parses.
    pub(super) base_id: Option<BaseId>,
    /// The base's place in the writer's [`Numbers`] (for [`numbered`]).
    place: usize,
    /// The base's first key (`no * SPAN`).
    pub(super) lo: i64,
    /// The seq after the base's newest when the transaction began.
    pub(super) first: i64,
    /// Seqs handed out by [`take_seqs`] (from `first` on).
    pub(super) taken: i64,
}

impl Slot {
    /// The base of `table`, its number and its next seq. A base without a
    /// number (none written since it was made) gets one here.
    fn open(conn: &Connection, table: TableId) -> Result<Self> {
        // Inside the write transaction: a commit of another connection
        // since the writer's last one has changed the version by now.
        let version = data_version(conn)?;
        let known = NUMBERS.with(|cell| {
            let mut numbers = cell.borrow_mut();
            if numbers.version != Some(version) {
                numbers.clear();
                numbers.version = None;
            }
            numbers.checked = true;
            let place = *numbers.tables.get(&table)?;
            let base = numbers.bases.get(place)?;
            Some(Self {
                table,
                base: Arc::clone(&base.id),
                base_id: base.parsed,
                place,
                lo: base.lo,
                first: base.next,
                taken: 0,
            })
        });
        if let Some(slot) = known {
            return Ok(slot);
        }
        let mut slot = Self::read(conn, table)?;
        NUMBERS.with(|cell| {
            let mut numbers = cell.borrow_mut();
            if numbers.tables.len() >= KEPT_TABLES {
                // Tables deleted since stay until forgotten: start afresh.
                numbers.clear();
            }
            let place = match numbers.places.get(&slot.base) {
                Some(&place) => place,
                None => {
                    let place = numbers.bases.len();
                    numbers.bases.push(BaseNumbers {
                        id: Arc::clone(&slot.base),
                        parsed: slot.base_id,
                        lo: slot.lo,
                        next: slot.first,
                    });
                    numbers.places.insert(Arc::clone(&slot.base), place);
                    place
                }
            };
            // Read inside this transaction: newer than what was kept.
            if let Some(base) = numbers.bases.get_mut(place) {
                base.lo = slot.lo;
                base.next = slot.first;
            }
            numbers.tables.insert(table, place);
            slot.place = place;
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
            None => number_base(conn, &base)?,
        };
        Ok(Self {
            table,
            base_id: base.parse().ok(),
            base: Arc::from(base),
            place: usize::MAX,
            lo: no
                .checked_mul(SPAN)
                .ok_or_else(|| Error::corrupt("base number", no.to_string()))?,
            first: newest + 1,
            taken: 0,
        })
    }

    /// An error if the slot gave out seqs: called where none may be left
    /// unlogged (before a commit, and by a log with nothing to log).
    pub(super) fn all_logged(&self) -> Result<()> {
        if self.taken > 0 {
            Err(Error::corrupt(
                "change log",
                format!("{} seqs taken and not logged", self.taken),
            ))
        } else {
            Ok(())
        }
    }

    /// The transaction's slot `slot` after checking that `table` belongs
    /// to its base, or a slot opened for `table` if there is none yet.
    pub(super) fn of<'s>(
        slot: &'s mut Option<Self>,
        conn: &Connection,
        table: TableId,
    ) -> Result<&'s mut Self> {
        match slot {
            Some(s) => {
                s.check(conn, table)?;
                Ok(s)
            }
            None => Ok(slot.insert(Self::open(conn, table)?)),
        }
    }

    /// Checks that `table` belongs to this slot's base.
    fn check(&self, conn: &Connection, table: TableId) -> Result<()> {
        if table == self.table {
            return Ok(());
        }
        let base: Option<String> = super::base_of(conn, table, |r| r.get(0))?;
        if base.as_deref() == Some(&*self.base) {
            Ok(())
        } else {
            Err(Error::corrupt("change log base", table.to_string()))
        }
    }
}

/// Gives the next `n` seqs of `table`'s base to record rows this
/// transaction is about to write (a create's new rows, an update's row),
/// `None` while the log is measured out. Each must get an event
/// [`super::Entry::linked`] to its seq in this transaction's [`super::log`], which checks
/// that every seq taken is logged.
pub(crate) fn take_seqs(conn: &Connection, table: TableId, n: usize) -> Result<Option<i64>> {
    if n == 0 || !pybase_core::store::change_log_enabled() {
        return Ok(None);
    }
    let n = i64::try_from(n).map_err(|_| Error::corrupt("change count", n.to_string()))?;
    SLOT.with(|cell| {
        let mut slot = cell.borrow_mut();
        let slot = Slot::of(&mut slot, conn, table)?;
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
    SLOT.with(|cell| cell.borrow().as_ref().map_or(Ok(()), Slot::all_logged))
}

/// The slot of the current transaction, taken by [`super::log`].
pub(super) fn take_slot() -> Option<Slot> {
    SLOT.with(|cell| cell.borrow_mut().take())
}

/// Records that the transaction numbered the events of `slot`'s base up
/// to `next - 1`, for the writer's [`Numbers`].
pub(super) fn numbered(slot: &Slot, next: i64) {
    NUMBERS.with(|cell| {
        if let Some(base) = cell.borrow_mut().bases.get_mut(slot.place)
            && base.id == slot.base
        {
            base.next = next;
        }
    });
}

/// The writer's [`Numbers`] back from this thread after a transaction on
/// `conn` (emptied after a rollback: what it numbered, or made, is undone).
/// A committed transaction that checked them makes them valid at the
/// connection's version after its commit (the commit changed it); one that
/// did not leaves them at an older version, so the next check reads them
/// again.
pub(super) fn give_back(conn: &Connection, committed: bool) -> Numbers {
    reset();
    let mut numbers = NUMBERS.with(|cell| std::mem::take(&mut *cell.borrow_mut()));
    if !committed {
        return Numbers::default();
    }
    if std::mem::take(&mut numbers.checked) {
        numbers.version = data_version(conn).ok();
    }
    numbers
}
