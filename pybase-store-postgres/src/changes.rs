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
use pybase_core::ids::{BaseId, FieldId, RecordId, TableId, UserId};
use pybase_core::model::Timestamp;
use pybase_core::store::{
    ChangeEvent, ChangeFeed, ChangeKind, ChangesPage, ChangesStore, Committed, NewChange,
    RecordPatch,
};
use pybase_core::{StoreError, StoreResult};
use serde_json::Value;
use sqlx::postgres::PgRow;
use sqlx::{AssertSqlSafe, PgConnection, Row};

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

/// Appends `changes` to the log of the base of their first table, in one
/// statement that finds the base, bumps its counter and inserts the events
/// (no separate read of the base): call it last in the transaction. `at`
/// defaults to now. `NotFound` if that table is absent. Returns what to
/// announce after the commit (`None` for no changes).
pub(crate) async fn log(
    conn: &mut PgConnection,
    at: Option<Timestamp>,
    actor: Option<UserId>,
    changes: Vec<NewChange>,
) -> StoreResult<Option<Committed>> {
    let Some(first) = changes.iter().find(|c| !changes_nothing(c)) else {
        return Ok(None);
    };
    if !pybase_core::store::change_log_enabled() {
        return Ok(None);
    }
    let table = first.table_id;
    match insert(conn, Of::Table(table), at, actor, changes).await? {
        Some(done) => Ok(Some(done)),
        None => Err(StoreError::not_found("table", table)),
    }
}

/// [`log`] for a create: first a `record.created` event for each record of
/// `created` (ids of `table`, in this order), then `changes`. The created
/// records' events take their cells from the records as they are now in
/// the transaction (computed cells included), inside the statement: the
/// cells are not sent a second time, nor serialised and parsed again.
pub(crate) async fn log_created(
    conn: &mut PgConnection,
    table: TableId,
    created: &[RecordId],
    at: Option<Timestamp>,
    actor: Option<UserId>,
    changes: Vec<NewChange>,
) -> StoreResult<Option<Committed>> {
    if created.is_empty() {
        return log(conn, at, actor, changes).await;
    }
    if !pybase_core::store::change_log_enabled() {
        return Ok(None);
    }
    let ids: Vec<&str> = created.iter().map(RecordId::as_str).collect();
    match insert_with(
        conn,
        Of::Table(table),
        at,
        actor,
        changes,
        Some((table, &ids)),
    )
    .await?
    {
        Some(done) => Ok(Some(done)),
        None => Err(StoreError::not_found("table", table)),
    }
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
    insert(conn, Of::Base(base), at, actor, changes).await
}

/// A `record.updated` that changed no cell: not logged.
fn changes_nothing(c: &NewChange) -> bool {
    c.kind == ChangeKind::RecordUpdated && c.changed_fields.as_ref().is_some_and(Vec::is_empty)
}

/// Whose log: a base's, or that of a table's base.
enum Of {
    Base(BaseId),
    Table(TableId),
}

/// The statement of [`log`] and [`append`]: `None` when there is nothing
/// to log (no changes, the log measured out, or no such table).
async fn insert(
    conn: &mut PgConnection,
    of: Of,
    at: Option<Timestamp>,
    actor: Option<UserId>,
    changes: Vec<NewChange>,
) -> StoreResult<Option<Committed>> {
    insert_with(conn, of, at, actor, changes, None).await
}

/// [`insert`], with `created` (a table and ids of its records): their
/// `record.created` events first, read from the records in the statement.
async fn insert_with(
    conn: &mut PgConnection,
    of: Of,
    at: Option<Timestamp>,
    actor: Option<UserId>,
    changes: Vec<NewChange>,
    created: Option<(TableId, &[&str])>,
) -> StoreResult<Option<Committed>> {
    if !pybase_core::store::change_log_enabled() {
        return Ok(None);
    }
    // A write of the values a record already had changes nothing to log.
    let changes: Vec<NewChange> = changes
        .into_iter()
        .filter(|c| !changes_nothing(c))
        .collect();
    let created_n = created.map_or(0, |(_, ids)| ids.len());
    if changes.is_empty() && created_n == 0 {
        return Ok(None);
    }
    let n = i64::try_from(changes.len() + created_n)
        .map_err(|e| StoreError::backend(crate::error::BACKEND, e))?;
    let first_other =
        i64::try_from(created_n).map_err(|e| StoreError::backend(crate::error::BACKEND, e))?;
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
    // `$1` is the base, or the table whose base it is.
    let (base_sql, key) = match &of {
        Of::Base(b) => ("SELECT $1::text, $2::bigint", b.to_string()),
        Of::Table(t) => (
            "SELECT base_id, $2::bigint FROM tables WHERE id = $1",
            t.to_string(),
        ),
    };
    // `$13`, `$14`, `$15`: the created records' table, their ids, the
    // kind; the other events follow them (`$16`: how many they are). Each
    // record is read by its key (`LATERAL`): a plain join let the planner
    // hash the whole records table, a scan of every record of the table
    // per batch (9-11 ms at 17,000 records, seen with `auto_explain`,
    // growing with the table). `LIMIT 1` keeps the subquery a subquery:
    // without it the planner pulls a simple `LATERAL` up into that same
    // join (`auto_explain` showed the hash join over a sequential scan
    // again).
    let created_sql =
        match created {
            Some((table, _)) => crate::layout::on(
                table,
                "k AS (INSERT INTO changes (base_id, seq, at, actor, kind, table_id, record_id, \
             after) SELECT c.base_id, c.last_seq - $2 + x.ord, $3, $4, $15, $13, x.id, r.data \
             FROM c CROSS JOIN UNNEST($14::text[]) WITH ORDINALITY AS x(id, ord) \
             CROSS JOIN LATERAL (SELECT data FROM {records} WHERE id = x.id LIMIT 1) r), ",
            )?
            .0,
            None => String::new(),
        };
    let offset = if created.is_some() {
        "$16::bigint"
    } else {
        "0"
    };
    let sql = format!(
        "WITH c AS (INSERT INTO change_counters (base_id, last_seq) {base_sql} \
         ON CONFLICT (base_id) DO UPDATE SET last_seq = change_counters.last_seq + EXCLUDED.last_seq \
         RETURNING base_id, last_seq), {created_sql}\
         e AS (INSERT INTO changes (base_id, seq, at, actor, kind, table_id, record_id, field_id, \
         view_id, changed_fields, before, after) \
         SELECT c.base_id, c.last_seq - $2 + {offset} + e.ord, $3, $4, e.kind, e.table_id, e.record_id, \
         e.field_id, e.view_id, e.changed, e.before, e.after FROM c, UNNEST($5::text[], $6::text[], \
         $7::text[], $8::text[], $9::text[], $10::jsonb[], $11::jsonb[], $12::jsonb[]) \
         WITH ORDINALITY AS e(kind, table_id, record_id, field_id, view_id, changed, before, \
         after, ord)) \
         SELECT base_id, last_seq FROM c"
    );
    let query = sqlx::query_as(AssertSqlSafe(sql))
        .bind(key)
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
        .bind(afters);
    let query = match created {
        Some((table, ids)) => query
            .bind(table.to_string())
            .bind(ids)
            .bind(ChangeKind::RecordCreated.as_str())
            .bind(first_other),
        None => query,
    };
    let found: Option<(String, i64)> = query.fetch_optional(&mut *conn).await.db()?;
    found
        .map(|(base, last_seq)| {
            Ok(Committed {
                base: base
                    .parse()
                    .map_err(|e| StoreError::backend(crate::error::BACKEND, e))?,
                last_seq,
            })
        })
        .transpose()
}

/// What a one-statement logged update binds after the update's own
/// parameters (see [`logged_update`]).
pub(crate) struct LogBinds {
    /// The updated record's table.
    pub(crate) table: TableId,
    /// When the change happened (the log keeps milliseconds).
    pub(crate) at: Timestamp,
    /// Who made it.
    pub(crate) actor: Option<UserId>,
}

/// The log's binds of a one-statement update by `by` (or the task's actor)
/// at `at`; `None` while the log is measured out.
pub(crate) fn log_binds(table: TableId, at: Timestamp, by: Option<UserId>) -> Option<LogBinds> {
    pybase_core::store::change_log_enabled().then(|| LogBinds {
        table,
        at,
        actor: by.or_else(pybase_core::store::current_actor),
    })
}

/// A statement's query with its parameters bound so far.
type Query<'q> = sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>;

impl LogBinds {
    /// Binds the table, time, actor and `kind`: the parameters both
    /// [`logged_update`] and [`logged_insert`] number first.
    fn bind_kind(self, query: Query<'_>, kind: ChangeKind) -> Query<'_> {
        query
            .bind(self.table.to_string())
            .bind(self.at.trunc_subsecs(3))
            .bind(self.actor.map(|a| a.to_string()))
            .bind(kind.as_str())
    }

    /// Binds the parameters of a [`logged_insert`] of `count` records, in
    /// the order it numbers them, after the insert's own.
    pub(crate) fn bind_created(self, query: Query<'_>, count: i64) -> Query<'_> {
        self.bind_kind(query, ChangeKind::RecordCreated).bind(count)
    }

    /// Binds the log's parameters, in the order [`logged_update`] numbers
    /// them, after the update's own: with them the field ids `patch` sets
    /// or unsets (the only cells a merge can change), or NULL for a
    /// replace, which may change any.
    pub(crate) fn bind<'q>(self, query: Query<'q>, patch: &RecordPatch) -> Query<'q> {
        let keys: Option<Vec<String>> = (!patch.replace).then(|| {
            patch
                .set
                .keys()
                .cloned()
                .chain(patch.unset.iter().map(FieldId::to_string))
                .collect()
        });
        self.bind_kind(query, ChangeKind::RecordUpdated).bind(keys)
    }
}

/// `update` (one record's `UPDATE ... RETURNING old.old_data, <record
/// columns>`, whose parameters end at `$<first - 1>`, the record's id at
/// `$<id>`) extended so the same statement logs its `record.updated`
/// event: its `RETURNING` list calls `pybase_log_cells` (migration
/// `20261130100000_log_update_in_returning.sql`) with the updated row's
/// cells before and after, which lists the changed cells on both sides (a
/// merge compares only the cells the patch names, the only ones it can
/// change, a replace every cell of both), bumps the base's counter and
/// inserts the event. The answer adds `log` (see [`committed_update`]).
/// Binds: [`LogBinds::bind`].
///
/// - The function runs once for the updated row, after the update locked
///   it, so the counter's row is the last lock the statement takes (one
///   lock order for every writer); an update that finds nothing calls it
///   not at all, one that changes no cell logs nothing. The event names
///   the record by the update's id parameter.
/// - The log's statements are the function's, planned once a connection
///   (PL/pgSQL keeps their plans), not with `update`, which is a table's
///   own statement and with many tables mostly planned cold (at 1,000
///   tables the log's part as common table expressions of `update` cost
///   1.29-1.44× the update measured out, against 1.15-1.19× as a
///   function: benches/ANALYSIS.md, "The log's cost at scale, eighth
///   look"). Called in `RETURNING` rather than from a lateral join around
///   the update, with a merge's cells compared by a loop of simple
///   expressions, it costs less again ("tenth look").
///
/// This makes a single-record update one round trip with its log, as it
/// was before the log: no `BEGIN`/`COMMIT`, no separate append.
pub(crate) fn logged_update(update: &str, first: usize, id: usize) -> String {
    let (t, at, actor, kind, keys) = (first, first + 1, first + 2, first + 3, first + 4);
    format!(
        "{update}, pybase_log_cells(${t}, ${id}, old.old_data, data, ${keys}::text[], \
         ${at}, ${actor}, ${kind}) AS log"
    )
}

/// The insert of new records into `rel` (a records table, its record
/// columns `columns`) that logs their `record.created` events in the same
/// statement: `$1` to `$5` are the records' ids, autonumbers, cells,
/// creators and times (arrays, in the records' order), then the log's
/// parameters from `$<first>` ([`LogBinds::bind_created`]). Only for a
/// create that logs nothing else (no derived cells, no link partners).
///
/// The statement bumps the base's counter first and numbers the events in
/// the order of `$1`; each new row keeps its event's seq (`created_seq`)
/// and the event is marked `in_row`, so the history index leaves it out
/// (the record's history finds it through its row: see
/// [`ChangesStore::record_changes`]). The counter's row is locked before
/// the records are inserted, which other writers cannot be waiting on
/// (they are new), and it is the last lock the transaction takes. The
/// answer is the records (with `created_seq`) plus `log_base` and
/// `log_seq` (see [`committed`]).
pub(crate) fn logged_insert(rel: &str, columns: &str, first: usize) -> String {
    let (t, at, actor, kind, n) = (first, first + 1, first + 2, first + 3, first + 4);
    format!(
        "WITH c AS (INSERT INTO change_counters (base_id, last_seq) \
         SELECT base_id, ${n}::bigint FROM tables WHERE id = ${t} \
         ON CONFLICT (base_id) DO UPDATE SET last_seq = change_counters.last_seq + EXCLUDED.last_seq \
         RETURNING base_id, last_seq), \
         i AS (INSERT INTO {rel} (id, autonumber, data, created_by, updated_by, created_time, \
         updated_time, created_seq) \
         SELECT r.id, r.autonumber, r.data, r.created_by, r.created_by, r.created_time, \
         r.created_time, c.last_seq - ${n}::bigint + r.ord FROM c, \
         UNNEST($1::text[], $2::int8[], $3::jsonb[], $4::text[], $5::timestamptz[]) \
         WITH ORDINALITY AS r(id, autonumber, data, created_by, created_time, ord) \
         RETURNING {columns}, created_seq), \
         e AS (INSERT INTO changes (base_id, seq, at, actor, kind, table_id, record_id, after, \
         in_row) SELECT c.base_id, i.created_seq, ${at}, ${actor}, ${kind}, ${t}, i.id, i.data, \
         true FROM c, i) \
         SELECT i.*, c.base_id AS log_base, c.last_seq AS log_seq FROM i LEFT JOIN c ON true"
    )
}

/// What a [`logged_update`] answer logged (its `log`, `<base>:<seq>`), to
/// announce after it.
pub(crate) fn committed_update(row: &PgRow) -> StoreResult<Option<Committed>> {
    let log: Option<String> = row.try_get("log").db()?;
    let Some(log) = log else {
        return Ok(None);
    };
    let bad = |e: String| StoreError::backend(crate::error::BACKEND, e);
    let (base, seq) = log
        .split_once(':')
        .ok_or_else(|| bad(format!("the log's answer {log:?} is not <base>:<seq>")))?;
    Ok(Some(Committed {
        base: base.parse().map_err(|e| bad(format!("{e}")))?,
        last_seq: seq.parse().map_err(|e| bad(format!("{e}")))?,
    }))
}

/// What a [`logged_insert`] answer logged, to announce after it.
pub(crate) fn committed(row: &PgRow) -> StoreResult<Option<Committed>> {
    let base: Option<String> = row.try_get("log_base").db()?;
    let seq: Option<i64> = row.try_get("log_seq").db()?;
    match (base, seq) {
        (Some(base), Some(last_seq)) => Ok(Some(Committed {
            base: base
                .parse()
                .map_err(|e| StoreError::backend(crate::error::BACKEND, e))?,
            last_seq,
        })),
        _ => Ok(None),
    }
}

/// The `record.updated` events of a field conversion: for each record of
/// `ids` (distinct), its cell before (read and locked here, so call it
/// before the cells are written) and after (`cells[last[id]]`), absent on a
/// side where it is empty; records whose cell does not change log nothing.
pub(crate) async fn converted(
    conn: &mut PgConnection,
    field: &pybase_core::model::Field,
    ids: &[&str],
    cells: &[(RecordId, Option<Value>)],
    last: &std::collections::HashMap<RecordId, usize>,
) -> StoreResult<Vec<NewChange>> {
    if !pybase_core::store::change_log_enabled() || ids.is_empty() {
        return Ok(Vec::new());
    }
    let found: Vec<(String, Option<Value>)> = sqlx::query_as(crate::layout::on(
        field.table_id,
        "SELECT id, data -> $1 FROM {records} WHERE id = ANY($2) ORDER BY id FOR UPDATE",
    )?)
    .bind(field.id.as_str())
    .bind(ids)
    .fetch_all(&mut *conn)
    .await
    .db()?;
    let mut before: std::collections::HashMap<String, Value> = found
        .into_iter()
        .filter_map(|(id, v)| v.map(|v| (id, v)))
        .collect();
    let mut out = Vec::with_capacity(ids.len());
    for (i, (record, after)) in cells.iter().enumerate() {
        if last.get(record) != Some(&i) {
            continue;
        }
        let old = before.remove(record.as_str()).map(|mut v| {
            normalize_numbers(&mut v);
            decode_value(&mut v);
            v
        });
        let old = old.filter(|v| !v.is_null());
        let new = after.clone().filter(|v| !v.is_null());
        if old != new {
            out.push(NewChange::cell_converted(
                field.table_id,
                *record,
                field.id,
                old,
                new,
            ));
        }
    }
    Ok(out)
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
    let before = loaded(row, "before")?;
    let after = loaded(row, "after")?;
    let changed =
        pybase_core::store::changed_fields_or_sides(kind, changed, before.as_ref(), after.as_ref());
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
        before,
        after,
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
    async fn seq_at(&self, base: BaseId, at: Timestamp) -> StoreResult<i64> {
        // Back along the base's key from its newest event: the first one
        // logged at or before `at`; no kept event from then is the oldest kept one's
        // predecessor.
        let seq: i64 = sqlx::query_scalar(
            "SELECT greatest(coalesce((SELECT seq FROM changes WHERE base_id = $1 AND at <= $2 \
             ORDER BY seq DESC LIMIT 1), 0), coalesce((SELECT pruned_seq FROM change_counters \
             WHERE base_id = $1), 0))",
        )
        .bind(base.as_str())
        .bind(at)
        .fetch_one(&self.pool)
        .await
        .db()?;
        Ok(seq)
    }

    async fn changes_since(
        &self,
        base: BaseId,
        after: i64,
        limit: usize,
    ) -> StoreResult<ChangesPage> {
        // One statement, so one snapshot for the counter and the events,
        // and one round trip (a live subscription's read, shared by all of
        // a base's subscribers, sits on the path from a commit to every
        // subscriber). Events are read only when the cursor is not gone.
        let rows = sqlx::query(crate::sql::cols(
            EVENT_COLUMNS,
            "SELECT c.last_seq AS counter_last, c.pruned_seq AS counter_pruned, e.* \
             FROM (SELECT coalesce(max(last_seq), 0) AS last_seq, \
             coalesce(max(pruned_seq), 0) AS pruned_seq \
             FROM change_counters WHERE base_id = $1) c \
             LEFT JOIN LATERAL (SELECT {} FROM changes WHERE base_id = $1 AND seq > $2 \
             AND $2 >= c.pruned_seq ORDER BY seq LIMIT $3) e ON true ORDER BY e.seq",
        ))
        .bind(base.as_str())
        .bind(after)
        .bind(limit_param(limit))
        .fetch_all(&self.pool)
        .await
        .db()?;
        let (last, pruned): (i64, i64) = match rows.first() {
            Some(row) => (
                row.try_get("counter_last").db()?,
                row.try_get("counter_pruned").db()?,
            ),
            None => (0, 0),
        };
        if after < pruned {
            return Err(StoreError::Gone {
                after,
                oldest: pruned + 1,
            });
        }
        let mut events = Vec::with_capacity(rows.len());
        for row in &rows {
            // No event: the one row of the counter with empty event columns.
            let seq: Option<i64> = row.try_get("seq").db()?;
            if seq.is_some() {
                events.push(event(row).db()?);
            }
        }
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
        // The events in the history index, newest first, and the created
        // event a create kept in the record's row (`logged_insert`): the
        // record's first, so the last of its history.
        let rel = crate::layout::rel(table)?;
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {EVENT_COLUMNS} FROM (\
             (SELECT {EVENT_COLUMNS} FROM changes WHERE table_id = $1 AND record_id = $2 \
             AND NOT in_row AND ($3::int8 IS NULL OR seq < $3) ORDER BY seq DESC LIMIT $4) \
             UNION ALL \
             (SELECT {EVENT_COLUMNS} FROM changes \
             WHERE base_id = (SELECT base_id FROM tables WHERE id = $1) \
             AND seq = (SELECT created_seq FROM {rel} WHERE id = $2) \
             AND in_row AND record_id = $2 AND ($3::int8 IS NULL OR seq < $3))\
             ) h ORDER BY seq DESC LIMIT $4"
        )))
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
