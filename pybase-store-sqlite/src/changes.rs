//! [`ChangesStore`]: the per-base change log, appended inside the writing
//! transaction by [`log`], and announced after the commit.
//!
//! Writes are serialised (one writer connection, immediate transactions),
//! so the next seq of a base is one more than its newest: the largest of
//! its newest event's seq (the log's primary key finds it at once), of
//! `change_counters.pruned_seq` (pruning may have removed every event) and
//! of `change_counters.last_seq` (the counter the log bumped on every write
//! until 2026-11-28, no longer written: a write to the counter's page cost
//! every logged write one more page in the WAL). Numbers are gap-free and
//! become visible in order. [`log`] queues an announcement in a
//! thread-local list; the store's write wrapper takes it after the commit
//! (and drops it after a rollback): see [`finish`].

use std::cell::RefCell;

use async_trait::async_trait;
use pybase_core::ids::{BaseId, RecordId, TableId, UserId};
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
}

/// One event ready to insert, its JSON already serialised.
pub(crate) struct Entry {
    kind_name: &'static str,
    table: TableId,
    table_name: String,
    record: Option<String>,
    field: Option<String>,
    view: Option<String>,
    changed: Option<String>,
    before: Option<String>,
    after: Option<String>,
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
            table_name: table.to_string(),
            record: Some(record.to_string()),
            field: None,
            view: None,
            changed: None,
            before: None,
            after: Some(cells),
        }
    }
}

impl Entry {
    /// The table and record of a record event that derived cells merge
    /// into (`record.created`, `record.updated`, `record.restored`).
    pub(crate) fn record_key(&self) -> Option<(TableId, &str)> {
        let kind = ChangeKind::parse(self.kind_name)?;
        pybase_core::store::computed::takes_cells(kind)
            .then_some(())
            .and(self.record.as_deref())
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
            table_name: c.table_id.to_string(),
            record: c.record_id.map(|r| r.to_string()),
            field: c.field_id.map(|f| f.to_string()),
            view: c.view_id.map(|v| v.to_string()),
            changed: c.changed_fields.map(|f| {
                serde_json::Value::Array(f.iter().map(|f| f.as_str().into()).collect()).to_string()
            }),
            before: json(c.before),
            after: json(c.after),
        }
    }
}

/// Events inserted by one statement of a batch (8 parameters each after
/// the 4 the rows share, far below SQLite's limit of 32,766).
const ROWS_PER_INSERT: usize = 64;

/// Parameters of one row of [`insert_sql`]: kind, table, record, field,
/// view, changed fields, before, after.
const ROW_PARAMS: usize = 8;

/// `INSERT INTO changes ... VALUES (...), ...` of `rows` rows (1 to
/// [`ROWS_PER_INSERT`]), built once per size. The rows share `?1` (base),
/// `?2` (time), `?3` (actor) and `?4` (the first row's seq; row `k` takes
/// `?4 + k`), bound once a statement: each bound value costs about 400
/// instructions.
fn insert_sql(rows: usize) -> &'static str {
    static SQL: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    crate::sql::by_count(&SQL, ROWS_PER_INSERT, rows, build_insert_sql)
}

/// [`insert_sql`] of `rows` rows, built.
fn build_insert_sql(rows: usize) -> String {
    let mut sql = String::from(
        "INSERT INTO changes (base_id, seq, at, actor, kind, table_id, record_id, field_id, \
         view_id, changed_fields, before, after) VALUES ",
    );
    for k in 0..rows {
        if k > 0 {
            sql.push_str(", ");
        }
        let p = 4 + k * ROW_PARAMS;
        sql.push_str(&format!("(?1, ?4 + {k}, ?2, ?3"));
        for i in 1..=ROW_PARAMS {
            sql.push_str(&format!(", ?{}", p + i));
        }
        sql.push(')');
    }
    sql
}

/// The newest seq of the base `base` (an SQL expression naming it):
/// see the module's documentation. Reads, never writes. While the base
/// has events, the newest is the answer (pruning removes the oldest first,
/// and the retired counter never ran ahead of the events it numbered), so
/// `change_counters` is read only for a base without any (`coalesce`
/// evaluates its arguments in order, as far as the first non-null).
macro_rules! last_seq_of {
    ($base:literal) => {
        concat!(
            "coalesce((SELECT max(seq) FROM changes WHERE base_id = ",
            $base,
            "), (SELECT max(last_seq, pruned_seq) FROM change_counters \
             WHERE base_id = ",
            $base,
            "), 0)"
        )
    };
}
pub(crate) use last_seq_of;

/// Appends `entries` (all of tables of one base, the base of the first's
/// table) to the log, in the caller's write transaction. `at` defaults to
/// now. Nothing to log is a no-op, and so is a `record.updated` that
/// changed no cell.
///
/// One statement finds the base and its newest seq, then the events go in
/// by [`ROWS_PER_INSERT`] a statement (see `insert_all`).
pub(crate) fn log(
    conn: &Connection,
    at: Option<&Timestamp>,
    actor: Option<UserId>,
    entries: &[Entry],
) -> Result<()> {
    if !pybase_core::store::change_log_enabled() {
        return Ok(());
    }
    let entries: Vec<&Entry> = entries.iter().filter(|e| !e.changes_nothing()).collect();
    if entries.is_empty() {
        return Ok(());
    }
    let at = fmt_time(&at.copied().unwrap_or_else(chrono::Utc::now));
    let actor = actor.map(|a| a.to_string());
    // The base and its newest seq by one read (index seeks), then a plain
    // insert: an `INSERT ... SELECT` reading `changes` itself would make
    // SQLite materialise the select first, and `RETURNING` buffers its rows
    // in an ephemeral table (both cost more than the row they write).
    let (base, last) = insert_all(conn, &entries, &at, actor.as_deref())?;
    // The announcement is only a wake-up: a base id written by hand that
    // does not parse (old test databases) just goes unannounced.
    if let Ok(base) = base.parse::<BaseId>() {
        PENDING.with(|p| {
            p.borrow_mut().push(Committed {
                base,
                last_seq: last,
            });
        });
    }
    Ok(())
}

/// Inserts `entries` (two or more, of one base: the first's table's) by
/// [`ROWS_PER_INSERT`] a statement after one statement finding the base and
/// its newest seq; the base and the last seq given out.
fn insert_all(
    conn: &Connection,
    entries: &[&Entry],
    at: &str,
    actor: Option<&str>,
) -> Result<(String, i64)> {
    let Some(first) = entries.first() else {
        return Err(Error::corrupt("change count", "0"));
    };
    let n = i64::try_from(entries.len())
        .map_err(|_| Error::corrupt("change count", entries.len().to_string()))?;
    let (base, newest): (String, i64) = conn
        .prepare_cached(concat!(
            "SELECT t.base_id, ",
            last_seq_of!("t.base_id"),
            " FROM tables t WHERE t.id = ?1"
        ))?
        .query_row([first.table.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?
        .ok_or_else(|| Error::not_found("table", first.table))?;
    let mut seq = newest + 1;
    for chunk in entries.chunks(ROWS_PER_INSERT) {
        let mut insert = conn.prepare_cached(insert_sql(chunk.len()))?;
        let mut values: Vec<&dyn rusqlite::ToSql> =
            Vec::with_capacity(4 + chunk.len() * ROW_PARAMS);
        values.extend_from_slice(&[&base as &dyn rusqlite::ToSql, &at, &actor, &seq]);
        for e in chunk {
            values.extend_from_slice(&[
                &e.kind_name as &dyn rusqlite::ToSql,
                &e.table_name,
                &e.record,
                &e.field,
                &e.view,
                &e.changed,
                &e.before,
                &e.after,
            ]);
        }
        insert.execute(values.as_slice())?;
        seq += i64::try_from(chunk.len()).unwrap_or(0);
    }
    Ok((base, newest + n))
}

/// Ends a write made on this thread: announces what it logged if it
/// committed (`ok`), forgets it otherwise. Called by the write wrappers
/// right after the transaction, on the same thread.
pub(crate) fn finish(feed: &ChangeFeed, ok: bool) {
    let pending = PENDING.with(|p| std::mem::take(&mut *p.borrow_mut()));
    if ok {
        for c in pending {
            feed.announce(c);
        }
    }
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
/// [`NewChange::record_updated`], among the cells read).
pub(crate) fn updated(before: &Before, after: &pybase_core::model::Record) -> Entry {
    let Some(keys) = &before.only else {
        return Entry::from(NewChange::record_updated(&before.cells, after));
    };
    let mut changed = Vec::new();
    let mut old = serde_json::Map::new();
    let mut new = serde_json::Map::new();
    for k in keys {
        let (b, a) = (before.cells.get(k), after.cells.get(k));
        if b == a {
            continue;
        }
        if let Some(b) = b {
            old.insert(k.clone(), b.clone());
        }
        if let Some(a) = a {
            new.insert(k.clone(), a.clone());
        }
        changed.push(k);
    }
    Entry::from(NewChange {
        kind: ChangeKind::RecordUpdated,
        table_id: after.table_id,
        record_id: Some(after.id),
        field_id: None,
        view_id: None,
        changed_fields: Some(changed.iter().filter_map(|k| k.parse().ok()).collect()),
        before: Some(serde_json::Value::Object(old)),
        after: Some(serde_json::Value::Object(new)),
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

const EVENT_COLUMNS: &str =
    "seq, at, actor, kind, table_id, record_id, field_id, view_id, changed_fields, before, after";

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
            let (last, pruned): (i64, i64) = conn
                .prepare_cached(concat!(
                    "SELECT ",
                    last_seq_of!("?1"),
                    ", coalesce((SELECT pruned_seq FROM change_counters WHERE base_id = ?1), 0)"
                ))?
                .query_row([base.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))?;
            if after < pruned {
                return Err(Error::Store(StoreError::Gone {
                    after,
                    oldest: pruned + 1,
                }));
            }
            let events = conn
                .prepare_cached(&format!(
                    "SELECT {EVENT_COLUMNS} FROM changes WHERE base_id = ?1 AND seq > ?2 \
                     ORDER BY seq LIMIT ?3"
                ))?
                .query_map(params![base.as_str(), after, limit_param(limit)], event)?
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
            Ok(conn
                .prepare_cached(&format!(
                    "SELECT {EVENT_COLUMNS} FROM changes \
                     WHERE table_id = ?1 AND record_id = ?2 AND (?3 IS NULL OR seq < ?3) \
                     ORDER BY seq DESC LIMIT ?4"
                ))?
                .query_map(
                    params![table.as_str(), record.as_str(), before, limit_param(limit)],
                    event,
                )?
                .collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    async fn prune_changes(&self, cutoff: Timestamp) -> StoreResult<u64> {
        let cutoff = fmt_time(&cutoff);
        self.write(move |tx| {
            // Pruning keeps a suffix of each base's log: everything up to
            // the newest event older than the cutoff goes.
            // The counter row is made here when missing (the log no longer
            // writes one); `WHERE` keeps SQLite from reading `ON CONFLICT`
            // as a join's `ON`.
            tx.prepare_cached(
                "INSERT INTO change_counters (base_id, last_seq, pruned_seq) \
                 SELECT base_id, 0, max(seq) FROM changes WHERE at < ?1 GROUP BY base_id \
                 ON CONFLICT (base_id) DO UPDATE \
                 SET pruned_seq = max(pruned_seq, excluded.pruned_seq)",
            )?
            .execute([&cutoff])?;
            let n = tx
                .prepare_cached(
                    "DELETE FROM changes WHERE seq <= \
                     (SELECT pruned_seq FROM change_counters cc WHERE cc.base_id = changes.base_id)",
                )?
                .execute([])?;
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
mod tests;
