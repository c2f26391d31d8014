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

mod data_version;
mod entry;
mod numbers;

use std::cell::RefCell;

use async_trait::async_trait;
use pybase_core::ids::{BaseId, FieldId, RecordId, TableId, UserId, ViewId};
use pybase_core::model::Timestamp;
use pybase_core::store::{
    ChangeEvent, ChangeFeed, ChangeKind, ChangesPage, ChangesStore, Committed,
};
use pybase_core::{StoreError, StoreResult};
use rusqlite::types::Type;
use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::SqliteStore;
use crate::error::{Error, Result};
use crate::rows::{fmt_time, id, opt_id, time};
use entry::Chain;
pub(crate) use entry::{Before, Entry, converted, updated};
use numbers::Slot;
pub(crate) use numbers::{Numbers, SPAN, newest_of_counter, reset, settled, span, take_seqs};

thread_local! {
    /// Commits to announce once the current write transaction commits.
    static PENDING: RefCell<Vec<Committed>> = const { RefCell::new(Vec::new()) };
}

/// Events inserted by one statement of a batch (9 parameters each after
/// the 3 the rows share, far below SQLite's limit of 32,766).
const ROWS_PER_INSERT: usize = 64;

/// Parameters of one row of [`insert_sql`]: the record's seq before, kind,
/// table, record, field, view, before, after (`changed_fields` is left
/// NULL: see [`Entry`]).
const ROW_PARAMS: usize = 8;

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
         view_id, before, after) VALUES ",
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
    let at = fmt_time(&at.copied().unwrap_or_else(chrono::Utc::now));
    log_stored(conn, &at, actor, entries)
}

/// [`log`] at `at` written as stored ([`fmt_time`]): for a write that has
/// that text already (a record write's `updated_time`).
pub(crate) fn log_stored(
    conn: &Connection,
    at: &str,
    actor: Option<UserId>,
    entries: &[Entry],
) -> Result<()> {
    if !pybase_core::store::change_log_enabled() {
        return Ok(());
    }
    let mut slot = numbers::take_slot();
    let logged = |e: &&Entry| matches!(e.chain, Chain::Linked { .. }) || !e.changes_nothing();
    let Some(first) = entries.iter().find(logged) else {
        return slot.as_ref().map_or(Ok(()), Slot::all_logged);
    };
    let slot = Slot::of(&mut slot, conn, first.table)?;
    let rows = number(conn, slot, entries.len(), entries.iter().filter(logged))?;
    insert_all(conn, slot, &rows, at, actor.as_ref().map(UserId::as_str))?;
    let last = slot.first + i64::try_from(rows.len()).unwrap_or(i64::MAX) - 1;
    numbers::numbered(slot, last + 1);
    // The announcement is only a wake-up: a base id written by hand that
    // does not parse (old test databases) just goes unannounced.
    if let Some(base) = slot.base_id {
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

/// `entries` (at most `count`) numbered and linked (see [`log`]), in seq
/// order, after checking that the linked ones hold exactly the seqs the
/// slot gave out.
fn number<'a>(
    conn: &Connection,
    slot: &Slot,
    count: usize,
    entries: impl Iterator<Item = &'a Entry>,
) -> Result<Vec<Numbered<'a>>> {
    let mut next = slot.first + slot.taken;
    let mut rows: Vec<Numbered<'a>> = Vec::with_capacity(count);
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

/// The base of `table` as `read` reads it from `base_id`, `None` if there
/// is no such table.
pub(super) fn base_of<T>(
    conn: &Connection,
    table: TableId,
    read: impl FnOnce(&Row<'_>) -> rusqlite::Result<T>,
) -> Result<Option<T>> {
    Ok(conn
        .prepare_cached("SELECT base_id FROM tables WHERE id = ?1")?
        .query_row([table.as_str()], read)
        .optional()?)
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

/// The insert of one record event of `kind` (no field, no view), the
/// commonest append (a single-record write): its kind is in the text and
/// the absent columns are left out, so it binds 8 values instead of 11,
/// from an array rather than vectors (each bound value costs about 200
/// instructions, each vector an allocation).
fn insert_record_sql(kind: ChangeKind) -> Option<&'static str> {
    macro_rules! record_insert {
        ($kind:literal) => {
            concat!(
                "INSERT INTO changes (k, prev_seq, at, actor, kind, table_id, record_id, before, \
                 after) VALUES (?1, ?2, ?3, ?4, '",
                $kind,
                "', ?5, ?6, ?7, ?8)"
            )
        };
    }
    Some(match kind {
        ChangeKind::RecordCreated => record_insert!("record.created"),
        ChangeKind::RecordUpdated => record_insert!("record.updated"),
        ChangeKind::RecordDeleted => record_insert!("record.deleted"),
        ChangeKind::RecordRestored => record_insert!("record.restored"),
        _ => return None,
    })
}

/// Inserts `rows` (numbered from the slot's first seq on, in order) by
/// [`ROWS_PER_INSERT`] a statement; one record event by
/// [`insert_record_sql`].
fn insert_all(
    conn: &Connection,
    slot: &Slot,
    rows: &[Numbered<'_>],
    at: &str,
    actor: Option<&str>,
) -> Result<()> {
    let mut key = slot.lo + slot.first;
    if let [(_, prev, e)] = rows
        && e.field.is_none()
        && e.view.is_none()
        && let Some(record) = e.record
        && let Some(sql) = insert_record_sql(e.kind)
    {
        conn.prepare_cached(sql)?.execute(rusqlite::params![
            key,
            prev,
            at,
            actor,
            e.table.as_str(),
            record.as_str(),
            e.before,
            e.after
        ])?;
        return Ok(());
    }
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        let mut insert = conn.prepare_cached(insert_sql(chunk.len()))?;
        let mut values: Vec<&dyn rusqlite::ToSql> =
            Vec::with_capacity(3 + chunk.len() * ROW_PARAMS);
        values.extend_from_slice(&[&key as &dyn rusqlite::ToSql, &at, &actor]);
        let texts: Vec<[Option<&str>; 5]> = chunk
            .iter()
            .map(|(_, _, e)| {
                [
                    Some(e.kind.as_str()),
                    Some(e.table.as_str()),
                    e.record.as_ref().map(RecordId::as_str),
                    e.field.as_ref().map(FieldId::as_str),
                    e.view.as_ref().map(ViewId::as_str),
                ]
            })
            .collect();
        for ((_, prev, e), [kind, table, record, field, view]) in chunk.iter().zip(&texts) {
            values.extend_from_slice(&[
                prev as &dyn rusqlite::ToSql,
                kind,
                table,
                record,
                field,
                view,
                &e.before,
                &e.after,
            ]);
        }
        insert.execute(values.as_slice())?;
        key += i64::try_from(chunk.len()).unwrap_or(0);
    }
    Ok(())
}

/// Starts a write on this thread: lends it the writer's `numbers` (given
/// back by [`finish`]) and drops announcements a panicking write left
/// behind.
pub(crate) fn begin(numbers: Numbers) {
    PENDING.with(|p| p.borrow_mut().clear());
    numbers::begin(numbers);
}

/// Ends a write made on this thread: announces what it logged if it
/// committed (`ok`), forgets it otherwise, and gives back the writer's
/// [`Numbers`] lent by [`begin`] (emptied after a rollback). Called by the
/// write wrappers right after the transaction, on the same thread.
pub(crate) fn finish(conn: &Connection, feed: &ChangeFeed, ok: bool) -> Numbers {
    // Drained in place: the list keeps its capacity for the next write.
    PENDING.with(|p| {
        let mut pending = p.borrow_mut();
        if ok {
            for c in pending.drain(..) {
                feed.announce(c);
            }
        } else {
            pending.clear();
        }
    });
    numbers::give_back(conn, ok)
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
    let (before, after) = (opt_json(row, 9)?, opt_json(row, 10)?);
    let changed =
        pybase_core::store::changed_fields_or_sides(kind, changed, before.as_ref(), after.as_ref());
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
        before,
        after,
    })
}

fn limit_param(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

#[async_trait]
impl ChangesStore for SqliteStore {
    async fn seq_at(&self, base: BaseId, at: Timestamp) -> StoreResult<i64> {
        let at = fmt_time(&at);
        self.read(move |conn| {
            let found: Option<(i64, i64)> = conn
                .prepare_cached(concat!(
                    "SELECT cc.no * ",
                    span!(),
                    ", cc.pruned_seq FROM change_counters cc WHERE cc.base_id = ?1"
                ))?
                .query_row([base.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            let Some((lo, pruned)) = found else {
                return Ok(0);
            };
            // Back from the base's newest key: the first event logged at or before `at`.
            let seq: Option<i64> = conn
                .prepare_cached(&format!(
                    "SELECT k - ?1 FROM changes WHERE k > ?1 AND k < ?1 + {SPAN} AND at <= ?2 \
                     ORDER BY k DESC LIMIT 1"
                ))?
                .query_row(params![lo, at], |r| r.get(0))
                .optional()?;
            Ok(seq.unwrap_or(0).max(pruned))
        })
        .await
    }

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
            let mut step = |seq: i64| -> Result<Option<(ChangeEvent, Option<i64>)>> {
                Ok(read
                    .query_row(params![lo, seq], |r| {
                        Ok((event(r)?, r.get::<_, Option<i64>>(11)?))
                    })
                    .optional()?)
            };
            // A page after another starts from the event before the
            // cursor's when the cursor is this record's event (a history's
            // own `next_cursor`), not from the newest again.
            if let Some(b) = before
                && let Some((e, prev)) = step(b)?
                && e.table_id == Some(table)
                && e.record_id == Some(record)
            {
                next = prev;
            }
            let mut out = Vec::new();
            while let Some(seq) = next {
                if out.len() >= limit {
                    break;
                }
                // Pruned: the chain ends here.
                let Some((event, prev)) = step(seq)? else {
                    break;
                };
                if before.is_none_or(|b| seq < b) {
                    out.push(event);
                }
                // Each event points at an older one; anything else would
                // be a damaged chain, read no further.
                next = prev.filter(|p| *p < seq);
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
            base_of(conn, table, |r| id(r, 0))?.ok_or_else(|| Error::not_found("table", table))
        })
        .await
    }

    fn change_feed(&self) -> &ChangeFeed {
        &self.inner.feed
    }
}

#[cfg(test)]
pub(crate) mod tests;
