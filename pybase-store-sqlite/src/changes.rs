//! [`ChangesStore`]: the per-base change log, appended inside the writing
//! transaction by [`log`], and announced after the commit.
//!
//! The writer thread is the only one that appends, so the counter row
//! (`change_counters.last_seq`) bumped inside the write transaction gives
//! gap-free numbers that become visible in order. [`log`] queues an
//! announcement in a thread-local list; the store's write wrapper takes it
//! after the commit (and drops it after a rollback): see [`finish`].

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
use crate::layout::rel;
use crate::rows::{fmt_time, id, opt_id, time};

thread_local! {
    /// Commits to announce once the current write transaction commits.
    static PENDING: RefCell<Vec<Committed>> = const { RefCell::new(Vec::new()) };
}

/// One event ready to insert, its JSON already serialised.
pub(crate) struct Entry {
    kind: ChangeKind,
    table: TableId,
    record: Option<String>,
    field: Option<String>,
    view: Option<String>,
    changed: Option<String>,
    before: Option<String>,
    after: Option<String>,
}

impl Entry {
    /// `record.created` from cells already serialised for the insert.
    pub(crate) fn created(table: TableId, record: RecordId, cells: &str) -> Self {
        Self {
            kind: ChangeKind::RecordCreated,
            table,
            record: Some(record.to_string()),
            field: None,
            view: None,
            changed: None,
            before: None,
            after: Some(cells.to_owned()),
        }
    }
}

impl From<NewChange> for Entry {
    fn from(c: NewChange) -> Self {
        let json = |v: Option<serde_json::Value>| v.map(|v| v.to_string());
        Self {
            kind: c.kind,
            table: c.table_id,
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

/// Appends `entries` (all of tables of one base, the base of the first's
/// table) to the log, in the caller's write transaction. `at` defaults to
/// now. Nothing to log is a no-op.
pub(crate) fn log(
    conn: &Connection,
    at: Option<&Timestamp>,
    actor: Option<UserId>,
    entries: &[Entry],
) -> Result<()> {
    let Some(first) = entries.first() else {
        return Ok(());
    };
    if !pybase_core::store::change_log_enabled() {
        return Ok(());
    }
    let base: String = conn
        .prepare_cached("SELECT base_id FROM tables WHERE id = ?1")?
        .query_row([first.table.as_str()], |r| r.get(0))
        .optional()?
        .ok_or_else(|| Error::not_found("table", first.table))?;
    let n = i64::try_from(entries.len())
        .map_err(|_| Error::corrupt("change count", entries.len().to_string()))?;
    let last: i64 = conn
        .prepare_cached(
            "INSERT INTO change_counters (base_id, last_seq) VALUES (?1, ?2) \
             ON CONFLICT (base_id) DO UPDATE SET last_seq = last_seq + excluded.last_seq \
             RETURNING last_seq",
        )?
        .query_row(params![base, n], |r| r.get(0))?;
    let at = fmt_time(&at.copied().unwrap_or_else(chrono::Utc::now));
    let actor = actor.map(|a| a.to_string());
    let mut insert = conn.prepare_cached(
        "INSERT INTO changes (base_id, seq, at, actor, kind, table_id, record_id, field_id, \
         view_id, changed_fields, before, after) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?;
    for (e, seq) in entries.iter().zip(last - n + 1..) {
        insert.execute(params![
            base,
            seq,
            at,
            actor,
            e.kind.as_str(),
            e.table.as_str(),
            e.record,
            e.field,
            e.view,
            e.changed,
            e.before,
            e.after,
        ])?;
    }
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

/// The live cells of a record (`None` if there is no live record): the
/// "before" of an update, read in the writing transaction.
pub(crate) fn live_cells(conn: &Connection, table: TableId, record: &str) -> Result<Option<Cells>> {
    if !pybase_core::store::change_log_enabled() {
        return Ok(None);
    }
    let text: Option<String> = conn
        .prepare_cached(&format!(
            "SELECT json(data) FROM {} WHERE id = ?1 AND deleted_time IS NULL",
            rel(table.as_str())?
        ))?
        .query_row([record], |r| r.get(0))
        .optional()?;
    text.map(|t| serde_json::from_str(&t).map_err(Error::from))
        .transpose()
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
                .prepare_cached(
                    "SELECT last_seq, pruned_seq FROM change_counters WHERE base_id = ?1",
                )?
                .query_row([base.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?
                .unwrap_or((0, 0));
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
            tx.prepare_cached(
                "UPDATE change_counters SET pruned_seq = max(pruned_seq, \
                 (SELECT max(seq) FROM changes c WHERE c.base_id = change_counters.base_id \
                  AND c.at < ?1)) \
                 WHERE EXISTS (SELECT 1 FROM changes c WHERE c.base_id = change_counters.base_id \
                  AND c.at < ?1)",
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
