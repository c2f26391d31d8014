//! [`ChangesStore`]: the per-base change log, appended by [`log`] as the
//! last statement of each writing transaction and announced after the
//! commit by [`PgStore::announce`].
//!
//! The counter row of the base (`change_counters`) is bumped by that last
//! statement, so concurrent writers to one base serialise only from there
//! to their commit: a failed transaction uses no number, and a writer gets
//! its numbers only after the previous holder committed, so numbers become
//! visible in order.

use async_trait::async_trait;
use chrono::SubsecRound as _;
use pybase_core::ids::{BaseId, RecordId, TableId, UserId};
use pybase_core::model::Timestamp;
use pybase_core::store::{
    ChangeEvent, ChangeFeed, ChangeKind, ChangesPage, ChangesStore, Committed, NewChange,
};
use pybase_core::{StoreError, StoreResult};
use serde_json::Value;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};

use crate::PgStore;
use crate::error::{ResultExt, decode_error};
use crate::nul::{decode_value, encode_value};
use crate::rows::{normalize_numbers, parsed, parsed_opt};

/// A value as stored in the log: NUL-escaped like cells.
fn stored(value: Option<Value>) -> Option<Value> {
    value.map(|mut v| {
        encode_value(&mut v);
        v
    })
}

/// The base of `table` (read without locking), `None` if it is absent.
pub(crate) async fn base_of(conn: &mut PgConnection, table: TableId) -> StoreResult<BaseId> {
    let base: Option<String> = sqlx::query_scalar("SELECT base_id FROM tables WHERE id = $1")
        .bind(table.as_str())
        .fetch_optional(&mut *conn)
        .await
        .db()?;
    let base = base.ok_or_else(|| StoreError::not_found("table", table))?;
    base.parse()
        .map_err(|e| StoreError::backend(crate::error::BACKEND, e))
}

/// Appends `changes` to the log of the base of their first table; see
/// [`append`]. `NotFound` if that table is absent.
pub(crate) async fn log(
    conn: &mut PgConnection,
    at: Option<Timestamp>,
    actor: Option<UserId>,
    changes: Vec<NewChange>,
) -> StoreResult<Option<Committed>> {
    let Some(first) = changes.first() else {
        return Ok(None);
    };
    if !pybase_core::store::change_log_enabled() {
        return Ok(None);
    }
    let base = base_of(conn, first.table_id).await?;
    append(conn, base, at, actor, changes).await
}

/// Appends `changes` to `base`'s log in one statement that also bumps the
/// base's counter: call it last in the transaction. `at` defaults to now.
/// Returns what to announce after the commit (`None` for no changes).
pub(crate) async fn append(
    conn: &mut PgConnection,
    base: BaseId,
    at: Option<Timestamp>,
    actor: Option<UserId>,
    changes: Vec<NewChange>,
) -> StoreResult<Option<Committed>> {
    if changes.is_empty() || !pybase_core::store::change_log_enabled() {
        return Ok(None);
    }
    let n =
        i64::try_from(changes.len()).map_err(|e| StoreError::backend(crate::error::BACKEND, e))?;
    let mut kinds = Vec::with_capacity(changes.len());
    let mut tables = Vec::with_capacity(changes.len());
    let mut records = Vec::with_capacity(changes.len());
    let mut fields = Vec::with_capacity(changes.len());
    let mut views = Vec::with_capacity(changes.len());
    let mut changed = Vec::with_capacity(changes.len());
    let mut befores = Vec::with_capacity(changes.len());
    let mut afters = Vec::with_capacity(changes.len());
    for c in changes {
        kinds.push(c.kind.as_str());
        tables.push(c.table_id.to_string());
        records.push(c.record_id.map(|r| r.to_string()));
        fields.push(c.field_id.map(|f| f.to_string()));
        views.push(c.view_id.map(|v| v.to_string()));
        changed.push(
            c.changed_fields
                .map(|f| Value::Array(f.iter().map(|f| f.as_str().into()).collect())),
        );
        befores.push(stored(c.before));
        afters.push(stored(c.after));
    }
    let at = at.unwrap_or_else(chrono::Utc::now).trunc_subsecs(3);
    let last: i64 = sqlx::query_scalar(
        "WITH c AS (INSERT INTO change_counters (base_id, last_seq) VALUES ($1, $2) \
         ON CONFLICT (base_id) DO UPDATE SET last_seq = change_counters.last_seq + EXCLUDED.last_seq \
         RETURNING last_seq), \
         e AS (INSERT INTO changes (base_id, seq, at, actor, kind, table_id, record_id, field_id, \
         view_id, changed_fields, before, after) \
         SELECT $1, c.last_seq - $2 + e.ord, $3, $4, e.kind, e.table_id, e.record_id, e.field_id, \
         e.view_id, e.changed, e.before, e.after FROM c, UNNEST($5::text[], $6::text[], \
         $7::text[], $8::text[], $9::text[], $10::jsonb[], $11::jsonb[], $12::jsonb[]) \
         WITH ORDINALITY AS e(kind, table_id, record_id, field_id, view_id, changed, before, \
         after, ord)) \
         SELECT last_seq FROM c",
    )
    .bind(base.as_str())
    .bind(n)
    .bind(at)
    .bind(actor.as_ref().map(UserId::as_str))
    .bind(kinds)
    .bind(tables)
    .bind(records)
    .bind(fields)
    .bind(views)
    .bind(changed)
    .bind(befores)
    .bind(afters)
    .fetch_one(&mut *conn)
    .await
    .db()?;
    Ok(Some(Committed {
        base,
        last_seq: last,
    }))
}

const EVENT_COLUMNS: &str =
    "seq, at, actor, kind, table_id, record_id, field_id, view_id, changed_fields, before, after";

fn loaded(row: &PgRow, column: &str) -> Result<Option<Value>, sqlx::Error> {
    let v: Option<Value> = row.try_get(column)?;
    Ok(v.map(|mut v| {
        normalize_numbers(&mut v);
        decode_value(&mut v);
        v
    }))
}

fn event(row: &PgRow) -> Result<ChangeEvent, sqlx::Error> {
    let kind: String = row.try_get("kind")?;
    let kind = ChangeKind::parse(&kind)
        .ok_or_else(|| decode_error("kind", format!("unknown change kind {kind}")))?;
    let changed: Option<Value> = row.try_get("changed_fields")?;
    let changed = changed
        .map(|v| {
            let names: Vec<String> =
                serde_json::from_value(v).map_err(|e| decode_error("changed_fields", e))?;
            names
                .iter()
                .map(|f| f.parse().map_err(|e| decode_error("changed_fields", e)))
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?;
    Ok(ChangeEvent {
        seq: row.try_get("seq")?,
        at: row.try_get("at")?,
        actor: parsed_opt(row, "actor")?,
        kind,
        table_id: Some(parsed(row, "table_id")?),
        record_id: parsed_opt(row, "record_id")?,
        field_id: parsed_opt(row, "field_id")?,
        view_id: parsed_opt(row, "view_id")?,
        changed_fields: changed,
        before: loaded(row, "before")?,
        after: loaded(row, "after")?,
    })
}

fn limit_param(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

impl PgStore {
    /// Announces a committed append (see [`append`]) to this store's feed.
    pub(crate) fn announce(&self, committed: Option<Committed>) {
        if let Some(c) = committed {
            self.feed.announce(c);
        }
    }
}

#[async_trait]
impl ChangesStore for PgStore {
    async fn changes_since(
        &self,
        base: BaseId,
        after: i64,
        limit: usize,
    ) -> StoreResult<ChangesPage> {
        // One snapshot for the counter and the events. The isolation level
        // is part of BEGIN: a separate SET TRANSACTION was refused now and
        // then ("must be called before any query") when the connection had
        // run something inside the transaction first.
        let mut tx = self
            .pool
            .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .await
            .db()?;
        let counter: Option<(i64, i64)> =
            sqlx::query_as("SELECT last_seq, pruned_seq FROM change_counters WHERE base_id = $1")
                .bind(base.as_str())
                .fetch_optional(&mut *tx)
                .await
                .db()?;
        let (last, pruned) = counter.unwrap_or((0, 0));
        if after < pruned {
            return Err(StoreError::Gone {
                after,
                oldest: pruned + 1,
            });
        }
        let rows = sqlx::query(crate::sql::cols(
            EVENT_COLUMNS,
            "SELECT {} FROM changes WHERE base_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        ))
        .bind(base.as_str())
        .bind(after)
        .bind(limit_param(limit))
        .fetch_all(&mut *tx)
        .await
        .db()?;
        tx.commit().await.db()?;
        let events = rows.iter().map(event).collect::<Result<_, _>>().db()?;
        Ok(ChangesPage {
            events,
            last_seq: last,
        })
    }

    async fn record_changes(
        &self,
        table: TableId,
        record: RecordId,
        before: Option<i64>,
        limit: usize,
    ) -> StoreResult<Vec<ChangeEvent>> {
        let rows = sqlx::query(crate::sql::cols(
            EVENT_COLUMNS,
            "SELECT {} FROM changes WHERE table_id = $1 AND record_id = $2 \
             AND ($3::int8 IS NULL OR seq < $3) ORDER BY seq DESC LIMIT $4",
        ))
        .bind(table.as_str())
        .bind(record.as_str())
        .bind(before)
        .bind(limit_param(limit))
        .fetch_all(&self.pool)
        .await
        .db()?;
        rows.iter().map(event).collect::<Result<_, _>>().db()
    }

    async fn prune_changes(&self, cutoff: Timestamp) -> StoreResult<u64> {
        let mut tx = self.pool.begin().await.db()?;
        // Keeps a suffix of each base's log: everything up to the newest
        // event older than the cutoff goes. The counter row is locked as a
        // writer would, in base order.
        sqlx::query(
            "UPDATE change_counters cc SET pruned_seq = GREATEST(cc.pruned_seq, old.seq) \
             FROM (SELECT base_id, max(seq) AS seq FROM changes WHERE at < $1 GROUP BY base_id) old \
             WHERE cc.base_id = old.base_id",
        )
        .bind(cutoff)
        .execute(&mut *tx)
        .await
        .db()?;
        let done = sqlx::query(
            "DELETE FROM changes c USING change_counters cc \
             WHERE cc.base_id = c.base_id AND c.seq <= cc.pruned_seq",
        )
        .execute(&mut *tx)
        .await
        .db()?;
        tx.commit().await.db()?;
        Ok(done.rows_affected())
    }

    async fn table_base(&self, table: TableId) -> StoreResult<BaseId> {
        let mut conn = self.pool.acquire().await.db()?;
        base_of(&mut conn, table).await
    }

    fn change_feed(&self) -> &ChangeFeed {
        &self.feed
    }
}
