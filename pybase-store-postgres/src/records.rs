//! [`RecordsStore`]: records (JSONB cells, merged in the database) and
//! attachment metadata.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use pybase_core::ids::{AttachmentId, FieldId, RecordId, TableId, UserId};
use pybase_core::model::{Attachment, Cells, Record, Timestamp};
use pybase_core::query::{RecordPage, RecordQuery};
use pybase_core::store::{
    CachedFields, Committed, NewChange, NewRecord, RecordPatch, RecordsStore, TableAccess,
    UpdateGuard, UpsertOutcome,
};
use pybase_core::{StoreError, StoreResult};
use serde_json::Value;
use sqlx::postgres::PgRow;
use sqlx::{AssertSqlSafe, PgConnection, Row};

use crate::PgStore;
use crate::changes;
use crate::computed;
use crate::error::ResultExt;
use crate::layout::{on, record_columns, rel};
use crate::links;
use crate::nul::{decode_value, encode_value, encoded};
use crate::query::Compiler;
use crate::retry;
use crate::rows::{self, ATTACHMENT_COLUMNS};
use crate::sql::{Sql, cols};

/// Cells as stored: a JSON object with NUL-escaped strings.
fn stored(cells: &serde_json::Map<String, Value>) -> Value {
    let mut v = Value::Object(cells.clone());
    encode_value(&mut v);
    v
}

fn records_of(found: &[PgRow]) -> StoreResult<Vec<Record>> {
    found
        .iter()
        .map(rows::record)
        .collect::<Result<_, _>>()
        .db()
}

/// Puts records back in the order of `ids` (RETURNING order is unspecified).
fn in_order(ids: &[RecordId], records: Vec<Record>) -> StoreResult<Vec<Record>> {
    let mut by_id: HashMap<RecordId, Record> = records.into_iter().map(|r| (r.id, r)).collect();
    ids.iter()
        .map(|id| {
            by_id
                .remove(id)
                .ok_or_else(|| StoreError::not_found("record", id))
        })
        .collect()
}

/// Reserves `count` autonumbers of `table`, returning the first. The row
/// lock taken here serialises inserts into one table until commit.
async fn reserve_autonumbers(
    conn: &mut PgConnection,
    table: TableId,
    count: usize,
) -> StoreResult<i64> {
    let count = i64::try_from(count).map_err(|e| StoreError::backend(crate::error::BACKEND, e))?;
    let last: Option<i64> = sqlx::query_scalar(
        "UPDATE tables SET next_autonumber = next_autonumber + $2 WHERE id = $1 \
         RETURNING next_autonumber",
    )
    .bind(table.as_str())
    .bind(count)
    .fetch_optional(&mut *conn)
    .await
    .db()?;
    let last = last.ok_or_else(|| StoreError::not_found("table", table))?;
    Ok(last - count + 1)
}

/// Inserts records with consecutive autonumbers from `first`, in one
/// statement; with `log`, the same statement logs their `record.created`
/// events ([`changes::logged_insert`]), and what it logged comes back.
async fn insert_records(
    conn: &mut PgConnection,
    table: TableId,
    records: &[NewRecord],
    first: i64,
    log: Option<changes::LogBinds>,
) -> StoreResult<(Vec<Record>, Option<Committed>)> {
    let ids: Vec<&str> = records.iter().map(|r| r.id.as_str()).collect();
    let autonumbers: Vec<i64> = (first..).take(records.len()).collect();
    let data: Vec<Value> = records.iter().map(|r| stored(&r.cells)).collect();
    let created_by: Vec<Option<&str>> = records
        .iter()
        .map(|r| r.created_by.as_ref().map(UserId::as_str))
        .collect();
    let times: Vec<Timestamp> = records.iter().map(|r| r.created_time).collect();
    let sql = on(
        table,
        "INSERT INTO {records} (id, autonumber, data, created_by, updated_by, \
         created_time, updated_time) \
         SELECT r.id, r.autonumber, r.data, r.created_by, r.created_by, r.created_time, \
         r.created_time FROM UNNEST($1::text[], $2::int8[], $3::jsonb[], $4::text[], \
         $5::timestamptz[]) AS r(id, autonumber, data, created_by, created_time) \
         RETURNING {}",
    )?;
    let logged_here = log.is_some();
    let sql = match log {
        Some(_) => AssertSqlSafe(changes::logged_insert(
            &crate::layout::rel(table)?,
            &crate::layout::record_columns(table, None)?,
            6,
        )),
        None => sql,
    };
    let count =
        i64::try_from(records.len()).map_err(|e| StoreError::backend(crate::error::BACKEND, e))?;
    let query = sqlx::query(sql)
        .bind(ids)
        .bind(autonumbers)
        .bind(data)
        .bind(created_by)
        .bind(times);
    let query = match log {
        Some(log) => log.bind_created(query, count),
        None => query,
    };
    let found = query.fetch_all(&mut *conn).await.db()?;
    let logged = match found.first() {
        Some(row) if logged_here => changes::committed(row)?,
        _ => None,
    };
    let ids: Vec<RecordId> = records.iter().map(|r| r.id).collect();
    Ok((in_order(&ids, records_of(&found)?)?, logged))
}

/// A record as updated and the cells it had before (from the locking
/// sub-select of the update, so both come from one statement).
fn updated_row(row: &PgRow) -> StoreResult<(Cells, Record)> {
    let before = rows::cells(row.try_get("old_data").db()?, "old_data").db()?;
    Ok((before, rows::record(row).db()?))
}

/// Applies one patch, merging inside the database; `None` if the record is
/// missing or soft-deleted. Answers the cells before with the record.
async fn apply_patch(
    conn: &mut PgConnection,
    table: TableId,
    patch: &RecordPatch,
    at: Timestamp,
    by: Option<UserId>,
) -> StoreResult<Option<(Cells, Record)>> {
    Ok(apply_patch_logged(conn, table, patch, at, by, None, false)
        .await?
        .map(|(found, _)| found))
}

/// An update's record (with its cells before) and what it logged, if it
/// logged.
type Logged = ((Cells, Record), Option<Committed>);

/// The SQL of [`apply_patch`].
const PATCH_UPDATE: &str = "UPDATE {records} SET \
     data = (CASE WHEN $2 THEN $3::jsonb ELSE data || $3::jsonb END) - $4::text[], \
     updated_time = CASE WHEN ((CASE WHEN $2 THEN $3::jsonb ELSE data || $3::jsonb END) \
     - $4::text[]) = data THEN updated_time ELSE $5 END, \
     updated_by = CASE WHEN ((CASE WHEN $2 THEN $3::jsonb ELSE data || $3::jsonb END) \
     - $4::text[]) = data THEN updated_by ELSE $6 END \
     FROM (SELECT id AS old_id, data AS old_data FROM {records} \
     WHERE id = $1 AND deleted_time IS NULL FOR UPDATE) old \
     WHERE id = old.old_id RETURNING old.old_data, {}";

/// [`apply_patch`], and with `log` its `record.updated` event written by the
/// same statement ([`changes::logged_update`]): what to announce comes with
/// the answer.
///
/// With `plain_base` the statement writes only if the table's base has no
/// computed field (`None` otherwise, as for a missing record): a write there
/// needs the recompute of a transaction.
async fn apply_patch_logged(
    conn: &mut PgConnection,
    table: TableId,
    patch: &RecordPatch,
    at: Timestamp,
    by: Option<UserId>,
    log: Option<changes::LogBinds>,
    plain_base: bool,
) -> StoreResult<Option<Logged>> {
    let unset: Vec<&str> = patch.unset.iter().map(FieldId::as_str).collect();
    let sql = AssertSqlSafe(only_in_plain_base(
        &on(table, PATCH_UPDATE)?.0,
        table,
        plain_base,
    ));
    let sql = match log {
        Some(_) => AssertSqlSafe(changes::logged_update(&sql.0, 7, 1)),
        None => sql,
    };
    let query = sqlx::query(sql)
        .bind(patch.id.as_str())
        .bind(patch.replace)
        .bind(stored(&patch.set))
        .bind(unset)
        .bind(at)
        .bind(by.as_ref().map(UserId::as_str));
    let query = match log {
        Some(log) => log.bind(query, patch),
        None => query,
    };
    let row = query.fetch_optional(&mut *conn).await.db()?;
    logged_row(row.as_ref())
}

/// The record of an update's answer with what it logged, if it logged.
fn logged_row(row: Option<&PgRow>) -> StoreResult<Option<Logged>> {
    let Some(row) = row else {
        return Ok(None);
    };
    let logged = if row.try_column("log").is_ok() {
        changes::committed_update(row)?
    } else {
        None
    };
    Ok(Some((updated_row(row)?, logged)))
}

/// The SQL of [`apply_patch_guarded`].
const GUARDED_UPDATE: &str = concat!(
    "UPDATE {records} SET ",
    "data = (CASE WHEN $3 THEN $4::jsonb ELSE data || $4::jsonb END) - $5::text[], ",
    "updated_time = CASE WHEN ((CASE WHEN $3 THEN $4::jsonb ELSE data || $4::jsonb END) ",
    "- $5::text[]) = data THEN updated_time ELSE $6 END, ",
    "updated_by = CASE WHEN ((CASE WHEN $3 THEN $4::jsonb ELSE data || $4::jsonb END) ",
    "- $5::text[]) = data THEN updated_by ELSE $7 END ",
    "FROM (SELECT id AS old_id, data AS old_data FROM {records} ",
    "WHERE id = $2 AND deleted_time IS NULL FOR UPDATE) old ",
    "WHERE id = old.old_id AND NOT EXISTS (",
    // The compare of a compare-and-set (`guard.cells`; `{}` when none): a
    // cell that differs from the value expected (JSON null: empty) stops
    // the write, checked under the row lock taken above.
    "SELECT 1 FROM jsonb_each($12::jsonb) e WHERE (old.old_data -> e.key) ",
    "IS DISTINCT FROM NULLIF(e.value, 'null'::jsonb)) AND EXISTS (",
    "SELECT 1 FROM tables t JOIN workspace_members m ",
    "ON m.workspace_id = t.workspace_id AND m.user_id = $8 ",
    "WHERE t.id = $1 AND t.workspace_id = $9 AND m.role = ANY($10::text[]) AND ",
    crate::schema::fields_key_sql!(),
    " = $11::text[]) RETURNING old.old_data, {}"
);

/// `update` (one of the single-record updates, whose row lock is taken by
/// `deleted_time IS NULL FOR UPDATE`) that, with `plain_base`, also requires
/// the table's base to have no computed field: the one-statement fast paths
/// must not skip a recompute. The table id is a checked base62 id. The
/// check starts from the derived fields (the partial index
/// `fields_derived`; `OFFSET 0` keeps the planner from starting at the
/// base's tables instead), so its cost does not grow with the number of
/// tables in the base.
fn only_in_plain_base(update: &str, table: TableId, plain_base: bool) -> String {
    const LOCK: &str = "deleted_time IS NULL FOR UPDATE";
    if !plain_base {
        return update.to_owned();
    }
    let tbl = table.as_str();
    update.replacen(
        LOCK,
        &format!(
            "deleted_time IS NULL AND NOT EXISTS (SELECT 1 FROM (SELECT f.table_id \
             FROM fields f WHERE f.type IN ('formula', 'lookup', 'rollup', 'count') \
             OFFSET 0) d JOIN tables t ON t.id = d.table_id WHERE t.base_id = \
             (SELECT base_id FROM tables WHERE id = '{tbl}')) FOR UPDATE"
        ),
        1,
    )
}

/// [`apply_patch`] in the same statement as the checks of `guard` (role,
/// workspace and fields' version key); `None` if the record is missing or a
/// check fails, with nothing changed.
async fn apply_patch_guarded(
    conn: &mut PgConnection,
    table: TableId,
    patch: &RecordPatch,
    guard: &UpdateGuard,
    at: Timestamp,
    by: Option<UserId>,
) -> StoreResult<Option<(Cells, Record)>> {
    Ok(
        apply_patch_guarded_logged(conn, table, patch, guard, at, by, None, false)
            .await?
            .map(|(found, _)| found),
    )
}

/// [`apply_patch_guarded`], and with `log` its event written by the same
/// statement, like [`apply_patch_logged`].
#[allow(clippy::too_many_arguments)]
async fn apply_patch_guarded_logged(
    conn: &mut PgConnection,
    table: TableId,
    patch: &RecordPatch,
    guard: &UpdateGuard,
    at: Timestamp,
    by: Option<UserId>,
    log: Option<changes::LogBinds>,
    plain_base: bool,
) -> StoreResult<Option<Logged>> {
    let unset: Vec<&str> = patch.unset.iter().map(FieldId::as_str).collect();
    let roles: Vec<&str> = guard.roles.iter().map(|r| r.as_str()).collect();
    let key: Vec<&str> = guard.fields.version.0.iter().map(String::as_str).collect();
    let sql = AssertSqlSafe(only_in_plain_base(
        &on(table, GUARDED_UPDATE)?.0,
        table,
        plain_base,
    ));
    let sql = match log {
        Some(_) => AssertSqlSafe(changes::logged_update(&sql.0, 13, 2)),
        None => sql,
    };
    let query = sqlx::query(sql)
        .bind(table.as_str())
        .bind(patch.id.as_str())
        .bind(patch.replace)
        .bind(stored(&patch.set))
        .bind(unset)
        .bind(at)
        .bind(by.as_ref().map(UserId::as_str))
        .bind(guard.user.as_str())
        .bind(guard.fields.workspace_id.as_str())
        .bind(roles)
        .bind(key)
        .bind(stored(&guard.cells));
    let query = match log {
        Some(log) => log.bind(query, patch),
        None => query,
    };
    let row = query.fetch_optional(&mut *conn).await.db()?;
    logged_row(row.as_ref())
}

/// Applies patches of distinct records in one statement, after locking them
/// in id order (so concurrent batches cannot deadlock). `NotFound` names the
/// first missing or soft-deleted id in input order.
async fn apply_patches(
    conn: &mut PgConnection,
    table: TableId,
    patches: &[RecordPatch],
    at: Timestamp,
    by: Option<UserId>,
) -> StoreResult<Vec<(Cells, Record)>> {
    let ids: Vec<&str> = patches.iter().map(|p| p.id.as_str()).collect();
    let live: Vec<(String, Value)> = sqlx::query_as(on(
        table,
        "SELECT id, data FROM {records} WHERE id = ANY($1) AND deleted_time IS NULL \
         ORDER BY id FOR UPDATE",
    )?)
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await
    .db()?;
    let mut live: HashMap<String, Value> = live.into_iter().collect();
    if let Some(missing) = patches.iter().find(|p| !live.contains_key(p.id.as_str())) {
        return Err(StoreError::not_found("record", missing.id));
    }
    let replace: Vec<bool> = patches.iter().map(|p| p.replace).collect();
    let sets: Vec<Value> = patches.iter().map(|p| stored(&p.set)).collect();
    let unsets: Vec<Value> = patches
        .iter()
        .map(|p| Value::Array(p.unset.iter().map(|f| Value::from(f.as_str())).collect()))
        .collect();
    // `r.id = ANY($1)` beside the join: the rows are found by key, where a
    // join alone lets the planner hash the whole records table (a scan of
    // every record per batch, growing with the table).
    let sql = format!(
        "UPDATE {} r SET \
         data = (CASE WHEN p.replace THEN p.set ELSE r.data || p.set END) \
         - ARRAY(SELECT jsonb_array_elements_text(p.unset)), \
         updated_time = CASE WHEN ((CASE WHEN p.replace THEN p.set ELSE r.data || p.set END) \
         - ARRAY(SELECT jsonb_array_elements_text(p.unset))) = r.data \
         THEN r.updated_time ELSE $5 END, \
         updated_by = CASE WHEN ((CASE WHEN p.replace THEN p.set ELSE r.data || p.set END) \
         - ARRAY(SELECT jsonb_array_elements_text(p.unset))) = r.data \
         THEN r.updated_by ELSE $6 END \
         FROM UNNEST($1::text[], $2::bool[], $3::jsonb[], $4::jsonb[]) AS p(id, replace, set, unset) \
         WHERE r.id = p.id AND r.id = ANY($1::text[]) AND r.deleted_time IS NULL RETURNING {}",
        rel(table)?,
        record_columns(table, Some("r"))?
    );
    let found = sqlx::query(AssertSqlSafe(sql))
        .bind(&ids)
        .bind(replace)
        .bind(sets)
        .bind(unsets)
        .bind(at)
        .bind(by.as_ref().map(UserId::as_str))
        .fetch_all(&mut *conn)
        .await
        .db()?;
    let ids: Vec<RecordId> = patches.iter().map(|p| p.id).collect();
    in_order(&ids, records_of(&found)?)?
        .into_iter()
        .map(|r| {
            let before = live.remove(r.id.as_str()).unwrap_or_default();
            Ok((rows::cells(before, "data").db()?, r))
        })
        .collect()
}

/// The live record of `table` whose `merge_on` cells equal those of `cells`
/// (absent equals absent): `None`, one id, or `Conflict` for several.
async fn find_merge_target(
    conn: &mut PgConnection,
    table: TableId,
    merge_on: &[FieldId],
    cells: &serde_json::Map<String, Value>,
) -> StoreResult<Option<RecordId>> {
    match merge_matches(conn, table, merge_on, cells)
        .await?
        .as_slice()
    {
        [] => Ok(None),
        [one] => Ok(Some(*one)),
        _ => Err(StoreError::conflict("record", "merge_on")),
    }
}

/// An upsert key as `merge_matches` compares it: the key's non-empty
/// cells (NUL-encoded, as stored) for a containment test, and the ids of
/// the key fields it leaves empty, which a match must not hold.
fn merge_key(
    merge_on: &[FieldId],
    cells: &serde_json::Map<String, Value>,
) -> (serde_json::Map<String, Value>, Vec<String>) {
    let mut present = serde_json::Map::new();
    let mut absent = Vec::new();
    for f in merge_on {
        match cells.get(f.as_str()) {
            Some(v) if !v.is_null() => {
                present.insert(f.as_str().to_owned(), encoded(v));
            }
            _ => absent.push(f.as_str().to_owned()),
        }
    }
    (present, absent)
}

/// The live records of `table` whose `merge_on` cells equal those of
/// `cells` (absent equals absent), at most two.
async fn merge_matches(
    conn: &mut PgConnection,
    table: TableId,
    merge_on: &[FieldId],
    cells: &serde_json::Map<String, Value>,
) -> StoreResult<Vec<RecordId>> {
    let (present, absent) = merge_key(merge_on, cells);
    let found: Vec<String> = sqlx::query_scalar(on(
        table,
        "SELECT id FROM {records} WHERE deleted_time IS NULL \
         AND data @> $1 AND NOT (data ?| $2::text[]) ORDER BY id LIMIT 2",
    )?)
    .bind(Value::Object(present))
    .bind(absent)
    .fetch_all(&mut *conn)
    .await
    .db()?;
    found
        .iter()
        .map(|s| RecordId::parse(s).map_err(|e| StoreError::backend(crate::error::BACKEND, e)))
        .collect()
}

/// Updates records in `tx`, none named twice (a round of
/// [`pybase_core::store::patch_rounds`]), with the links' partners
/// synchronised and, if `derived` (the table has derived fields), their
/// cells recomputed: the records as written and their events (derived
/// cells merged into the records' own), to log.
async fn update_round(
    tx: &mut PgConnection,
    table: TableId,
    pairs: &[pybase_core::store::links::LinkPair],
    derived: bool,
    patches: &[RecordPatch],
    at: Timestamp,
    by: Option<UserId>,
) -> StoreResult<(Vec<Record>, Vec<NewChange>)> {
    let touched = links::touched(pairs, patches);
    let ids: Vec<RecordId> = patches.iter().map(|p| p.id).collect();
    let before = links::before(&mut *tx, table, &touched, &ids).await?;
    let mut updated = apply_patches(&mut *tx, table, patches, at, by).await?;
    let mut partners = Vec::new();
    if !touched.is_empty() {
        let written: Vec<Record> = updated.iter().map(|(_, r)| r.clone()).collect();
        partners = links::sync(&mut *tx, &touched, &before, &written).await?;
    }
    let mut derived_log = Vec::new();
    if derived {
        let done =
            computed::after_write(&mut *tx, table, ids, &partners, at, &mut derived_log).await?;
        for (_, r) in &mut updated {
            done.apply_to(std::slice::from_mut(r));
        }
    }
    let log = updated
        .iter()
        .map(|(before, r)| NewChange::record_updated(before, r))
        .chain(partners)
        .collect();
    let log = computed::merged(log, derived_log);
    Ok((updated.into_iter().map(|(_, r)| r).collect(), log))
}

#[async_trait]
impl RecordsStore for PgStore {
    async fn create_records(
        &self,
        table: TableId,
        records: &[NewRecord],
    ) -> StoreResult<Vec<Record>> {
        let mut tx = self.pool.begin().await.db()?;
        let first = reserve_autonumbers(&mut tx, table, records.len()).await?;
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let derived = computed::prepare(&mut tx, table).await?;
        let cached = self.fields.cached(table);
        let may_link = links::may_touch_pairs(
            cached.as_ref().map(|c| &*c.fields),
            records
                .iter()
                .flat_map(|r| r.cells.keys().map(String::as_str)),
            false,
        );
        let actor = records
            .first()
            .and_then(|r| r.created_by)
            .or_else(pybase_core::store::current_actor);
        // A create that logs nothing but its records' events logs them in
        // its insert (`None` too while the log is measured out).
        let log_in_insert = (!derived && !may_link)
            .then(|| records.first())
            .flatten()
            .and_then(|r| changes::log_binds(table, r.created_time, actor));
        let folded = log_in_insert.is_some();
        let (mut created, mut done) =
            insert_records(&mut tx, table, records, first, log_in_insert).await?;
        let mut partners = Vec::new();
        if may_link {
            let pairs = links::pairs(&mut tx, table).await?;
            if !pairs.is_empty() {
                links::lock_base(&mut tx, table).await?;
            }
            let pairs: Vec<&_> = pairs.iter().collect();
            partners = links::sync(&mut tx, &pairs, &HashMap::new(), &created).await?;
        }
        let mut derived_log = Vec::new();
        if derived {
            let ids = created.iter().map(|r| r.id).collect();
            let now = records
                .first()
                .map_or_else(chrono::Utc::now, |r| r.created_time);
            computed::after_write(&mut tx, table, ids, &partners, now, &mut derived_log)
                .await?
                .apply_to(&mut created);
        }
        // The created records' events are read from their rows, derived
        // cells included: only other records' derived events are handed on.
        let made: HashSet<RecordId> = created.iter().map(|r| r.id).collect();
        derived_log.retain(|e| e.record_id.is_none_or(|r| !made.contains(&r)));
        let log = computed::merged(partners, derived_log);
        let at = records.first().map(|r| r.created_time);
        if !folded {
            let ids: Vec<RecordId> = created.iter().map(|r| r.id).collect();
            done = changes::log_created(&mut tx, table, &ids, at, actor, log).await?;
        }
        tx.commit().await.db()?;
        self.announce(done);
        self.stats.wrote(&self.pool, table, created.len());
        Ok(created)
    }

    async fn record_access(
        &self,
        table: TableId,
        id: RecordId,
        user: UserId,
    ) -> StoreResult<(TableAccess, Option<Record>)> {
        let row = self
            .access_row(table, user, Some(id))
            .await?
            .ok_or_else(|| StoreError::not_found("table", table))?;
        let record = rows::record_prefixed(&row, "r_").db()?;
        Ok((self.access_from(&row).await?, record))
    }

    async fn get_record(
        &self,
        table: TableId,
        id: RecordId,
        include_deleted: bool,
    ) -> StoreResult<Record> {
        let row = sqlx::query(on(
            table,
            "SELECT {} FROM {records} WHERE id = $1 AND ($2 OR deleted_time IS NULL)",
        )?)
        .bind(id.as_str())
        .bind(include_deleted)
        .fetch_optional(&self.pool)
        .await
        .db()?
        .ok_or_else(|| StoreError::not_found("record", id))?;
        rows::record(&row).db()
    }

    async fn get_records(
        &self,
        table: TableId,
        ids: &[RecordId],
        include_deleted: bool,
    ) -> StoreResult<Vec<Record>> {
        let texts: Vec<&str> = ids.iter().map(RecordId::as_str).collect();
        let found = sqlx::query(on(
            table,
            "SELECT {} FROM {records} WHERE id = ANY($1) AND ($2 OR deleted_time IS NULL)",
        )?)
        .bind(texts)
        .bind(include_deleted)
        .fetch_all(&self.pool)
        .await
        .db()?;
        records_of(&found)
    }

    async fn update_records(
        &self,
        table: TableId,
        patches: &[RecordPatch],
        at: Timestamp,
        by: Option<UserId>,
    ) -> StoreResult<Vec<Record>> {
        if patches.is_empty() {
            return Ok(Vec::new());
        }
        let cached = self.fields.cached(table);
        let linked = patches.iter().any(|p| {
            links::may_touch_pairs(
                cached.as_ref().map(|c| &*c.fields),
                p.set
                    .keys()
                    .map(String::as_str)
                    .chain(p.unset.iter().map(FieldId::as_str)),
                p.replace,
            )
        });
        if let [patch] = patches
            && !linked
        {
            // One statement, atomic on its own, writes the record and its
            // event (none when the log is measured out).
            // Nothing written (a missing record, or a base with computed
            // fields): the transaction below decides.
            let mut conn = self.pool.acquire().await.db()?;
            if let Some(((_, record), logged)) = apply_patch_logged(
                &mut conn,
                table,
                patch,
                at,
                by,
                changes::log_binds(table, at, by),
                true,
            )
            .await?
            {
                self.announce(logged);
                self.stats.wrote(&self.pool, table, 1);
                return Ok(vec![record]);
            }
        }
        let mut tx = self.pool.begin().await.db()?;
        let derived = computed::prepare(&mut tx, table).await?;
        let pairs = if linked {
            links::pairs(&mut tx, table).await?
        } else {
            Vec::new()
        };
        if !links::touched(&pairs, patches).is_empty() {
            links::lock_base(&mut tx, table).await?;
        }
        // A record patched twice: round by round, each with its recompute
        // and its events (as consecutive writes would).
        let rounds = pybase_core::store::patch_rounds(patches);
        let mut out: Vec<Option<Record>> = vec![None; patches.len()];
        let mut log = Vec::with_capacity(patches.len());
        for round in &rounds {
            let picked: Vec<RecordPatch>;
            let round_patches = if rounds.len() == 1 {
                patches
            } else {
                picked = round.iter().map(|&i| patches[i].clone()).collect();
                &picked
            };
            let (written, events) =
                update_round(&mut tx, table, &pairs, derived, round_patches, at, by).await?;
            for (&i, r) in round.iter().zip(written) {
                out[i] = Some(r);
            }
            log.extend(events);
        }
        let updated: Vec<Record> = out.into_iter().flatten().collect();
        let actor = by.or_else(pybase_core::store::current_actor);
        let done = changes::log(&mut tx, Some(at), actor, log).await?;
        tx.commit().await.db()?;
        self.announce(done);
        self.stats.wrote(&self.pool, table, updated.len());
        Ok(updated)
    }

    fn cached_fields(&self, table: TableId) -> Option<CachedFields> {
        self.fields.cached(table)
    }

    async fn update_record_guarded(
        &self,
        table: TableId,
        patch: &RecordPatch,
        guard: &UpdateGuard,
        at: Timestamp,
        by: Option<UserId>,
    ) -> StoreResult<Option<Record>> {
        let linked = links::may_touch_pairs(
            Some(&*guard.fields.fields),
            patch
                .set
                .keys()
                .map(String::as_str)
                .chain(patch.unset.iter().map(FieldId::as_str)),
            patch.replace,
        );
        if !linked {
            // One statement checks, writes and logs (no log when it is
            // measured out): one round trip.
            // Nothing written (a failed check, a missing record, or a base
            // with computed fields): the transaction below decides.
            let mut conn = self.pool.acquire().await.db()?;
            let log = changes::log_binds(table, at, by);
            match apply_patch_guarded_logged(&mut conn, table, patch, guard, at, by, log, true)
                .await
            {
                Err(StoreError::NotFound {
                    entity: "table", ..
                }) => return Ok(None),
                Err(e) => return Err(e),
                Ok(None) => {}
                Ok(Some(((_, record), logged))) => {
                    self.announce(logged);
                    self.stats.wrote(&self.pool, table, 1);
                    return Ok(Some(record));
                }
            }
        }
        // One statement checks and writes; a paired link's partner cells and
        // the log are written in the same transaction.
        let mut tx = self.pool.begin().await.db()?;
        let derived = computed::prepare(&mut tx, table).await?;
        let pairs = if linked {
            match links::pairs(&mut tx, table).await {
                Ok(p) => p,
                Err(StoreError::NotFound { .. }) => return Ok(None),
                Err(e) => return Err(e),
            }
        } else {
            Vec::new()
        };
        let touched = links::touched(&pairs, std::slice::from_ref(patch));
        if !touched.is_empty() {
            links::lock_base(&mut tx, table).await?;
        }
        let linked_before = links::before(&mut tx, table, &touched, &[patch.id]).await?;
        let (before, record) = match apply_patch_guarded(&mut tx, table, patch, guard, at, by).await
        {
            // No records table: the table is absent, which is "stale" here.
            Err(StoreError::NotFound {
                entity: "table", ..
            }) => return Ok(None),
            Err(e) => return Err(e),
            Ok(None) => return Ok(None),
            Ok(Some(found)) => found,
        };
        let mut record = record;
        let mut partners = Vec::new();
        if !touched.is_empty() {
            partners = links::sync(
                &mut tx,
                &touched,
                &linked_before,
                std::slice::from_ref(&record),
            )
            .await?;
        }
        let mut derived_log = Vec::new();
        if derived {
            computed::after_write(
                &mut tx,
                table,
                vec![patch.id],
                &partners,
                at,
                &mut derived_log,
            )
            .await?
            .apply_to(std::slice::from_mut(&mut record));
        }
        let mut log = vec![NewChange::record_updated(&before, &record)];
        log.extend(partners);
        let log = computed::merged(log, derived_log);
        let actor = by.or_else(pybase_core::store::current_actor);
        let done = changes::log(&mut tx, Some(at), actor, log).await?;
        tx.commit().await.db()?;
        self.announce(done);
        self.stats.wrote(&self.pool, table, 1);
        Ok(Some(record))
    }

    async fn upsert_records(
        &self,
        table: TableId,
        merge_on: &[FieldId],
        records: &[NewRecord],
        replace: bool,
        at: Timestamp,
        by: Option<UserId>,
    ) -> StoreResult<Vec<UpsertOutcome>> {
        let mut tx = self.pool.begin().await.db()?;
        // Locking the table row serialises upserts (and inserts) into one
        // table, so two concurrent upserts cannot both create a match.
        let next: Option<i64> =
            sqlx::query_scalar("SELECT next_autonumber FROM tables WHERE id = $1 FOR UPDATE")
                .bind(table.as_str())
                .fetch_optional(&mut *tx)
                .await
                .db()?;
        let mut last = next.ok_or_else(|| StoreError::not_found("table", table))?;
        let derived = computed::prepare(&mut tx, table).await?;
        let pairs = links::pairs(&mut tx, table).await?;
        if !pairs.is_empty() {
            links::lock_base(&mut tx, table).await?;
        }
        let touched: Vec<&_> = pairs.iter().collect();
        let mut out = Vec::with_capacity(records.len());
        let mut log = Vec::with_capacity(records.len());
        let mut derived_all = Vec::new();
        // The partner cells each row changed: one event per partner record
        // for the whole upsert, as a batch logs it.
        let mut partner_log = Vec::new();
        for input in records {
            match find_merge_target(&mut tx, table, merge_on, &input.cells).await? {
                Some(id) => {
                    let patch = RecordPatch {
                        id,
                        set: input.cells.clone(),
                        unset: Vec::new(),
                        replace,
                    };
                    let linked_before = links::before(&mut tx, table, &touched, &[id]).await?;
                    let (before, mut record) =
                        apply_patch(&mut tx, table, &patch, at, by)
                            .await?
                            .ok_or_else(|| StoreError::not_found("record", id))?;
                    let partners = links::sync(
                        &mut tx,
                        &touched,
                        &linked_before,
                        std::slice::from_ref(&record),
                    )
                    .await?;
                    let mut derived_log = Vec::new();
                    if derived {
                        computed::after_write(
                            &mut tx,
                            table,
                            vec![id],
                            &partners,
                            at,
                            &mut derived_log,
                        )
                        .await?
                        .apply_to(std::slice::from_mut(&mut record));
                    }
                    log.push(NewChange::record_updated(&before, &record));
                    partner_log.extend(partners);
                    derived_all.extend(derived_log);
                    out.push(UpsertOutcome {
                        record,
                        created: false,
                    });
                }
                None => {
                    last += 1;
                    let (mut created, _) =
                        insert_records(&mut tx, table, std::slice::from_ref(input), last, None)
                            .await?;
                    let mut record = created
                        .pop()
                        .ok_or_else(|| StoreError::not_found("record", input.id))?;
                    let partners = links::sync(
                        &mut tx,
                        &touched,
                        &HashMap::new(),
                        std::slice::from_ref(&record),
                    )
                    .await?;
                    let mut derived_log = Vec::new();
                    if derived {
                        let id = record.id;
                        computed::after_write(
                            &mut tx,
                            table,
                            vec![id],
                            &partners,
                            at,
                            &mut derived_log,
                        )
                        .await?
                        .apply_to(std::slice::from_mut(&mut record));
                    }
                    log.push(NewChange::record_created(&record));
                    partner_log.extend(partners);
                    derived_all.extend(derived_log);
                    out.push(UpsertOutcome {
                        record,
                        created: true,
                    });
                }
            }
        }
        sqlx::query("UPDATE tables SET next_autonumber = $2 WHERE id = $1")
            .bind(table.as_str())
            .bind(last)
            .execute(&mut *tx)
            .await
            .db()?;
        let log = computed::merged(computed::merged(log, partner_log), derived_all);
        let actor = by.or_else(pybase_core::store::current_actor);
        let done = changes::log(&mut tx, Some(at), actor, log).await?;
        tx.commit().await.db()?;
        self.announce(done);
        self.stats.wrote(&self.pool, table, out.len());
        Ok(out)
    }

    async fn delete_records(
        &self,
        table: TableId,
        ids: &[RecordId],
        at: Timestamp,
    ) -> StoreResult<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await.db()?;
        let derived = computed::prepare(&mut tx, table).await?;
        let texts: Vec<&str> = ids.iter().map(RecordId::as_str).collect();
        let deleted: Vec<(String, Value)> = sqlx::query_as(on(
            table,
            "UPDATE {records} SET deleted_time = $2 \
             WHERE id = ANY($1) AND deleted_time IS NULL RETURNING id, data",
        )?)
        .bind(texts)
        .bind(at)
        .fetch_all(&mut *tx)
        .await
        .db()?;
        let mut deleted: HashMap<String, Value> = deleted.into_iter().collect();
        // In input order, each id must be deleted now, and only once (a
        // repeated id is already deleted when its turn comes).
        let mut log = Vec::with_capacity(ids.len());
        for id in ids {
            let Some(cells) = deleted.remove(id.as_str()) else {
                return Err(StoreError::not_found("record", id));
            };
            let cells = rows::cells(cells, "data").db()?;
            log.push(NewChange::record_deleted(table, *id, cells));
        }
        if derived {
            computed::after_write(&mut tx, table, ids.to_vec(), &[], at, &mut log).await?;
        }
        let actor = pybase_core::store::current_actor();
        let done = changes::log(&mut tx, Some(at), actor, log).await?;
        tx.commit().await.db()?;
        self.announce(done);
        Ok(())
    }

    async fn restore_record(&self, table: TableId, id: RecordId) -> StoreResult<Record> {
        let mut tx = self.pool.begin().await.db()?;
        let derived = computed::prepare(&mut tx, table).await?;
        let row = sqlx::query(on(
            table,
            "UPDATE {records} SET deleted_time = NULL \
             WHERE id = $1 AND deleted_time IS NOT NULL RETURNING {}",
        )?)
        .bind(id.as_str())
        .fetch_optional(&mut *tx)
        .await
        .db()?;
        let Some(row) = row else {
            // Live already (returned unchanged, nothing logged) or absent.
            tx.commit().await.db()?;
            return self.get_record(table, id, false).await;
        };
        let mut record = rows::record(&row).db()?;
        let mut log = vec![NewChange::record_restored(&record)];
        if derived {
            let now = chrono::Utc::now();
            computed::after_write(&mut tx, table, vec![id], &[], now, &mut log)
                .await?
                .apply_to(std::slice::from_mut(&mut record));
        }
        let actor = pybase_core::store::current_actor();
        let done = changes::log(&mut tx, None, actor, log).await?;
        tx.commit().await.db()?;
        self.announce(done);
        Ok(record)
    }

    async fn query_records(&self, query: &RecordQuery) -> StoreResult<RecordPage> {
        let limit = query.limit.max(1);
        let sql = compile_query(query, limit)?;
        let found = sql.build()?.fetch_all(&self.pool).await.db()?;
        let mut records = records_of(&found)?;
        let has_more = records.len() > limit;
        records.truncate(limit);
        Ok(RecordPage {
            records,
            has_more,
            log_seq: log_seq_of(query, found.first())?,
        })
    }

    async fn query_records_guarded(
        &self,
        query: &RecordQuery,
        guard: &UpdateGuard,
    ) -> StoreResult<Option<RecordPage>> {
        let limit = query.limit.max(1);
        let mut sql = Sql::new("");
        let table = sql.arg(query.table_id.as_str().to_owned());
        let user = sql.arg(guard.user.as_str().to_owned());
        let ws = sql.arg(guard.fields.workspace_id.as_str().to_owned());
        let roles: Vec<String> = guard.roles.iter().map(|r| r.as_str().to_owned()).collect();
        let roles = sql.arg(roles);
        let key = sql.arg(guard.fields.version.0.to_vec());
        // One row for the guard even when the page is empty; the page's rows
        // numbered in its order (the join keeps them, the outer ORDER BY
        // says so).
        sql.push(&format!(
            "SELECT g.ok AS guard_ok, p.* FROM (SELECT EXISTS (SELECT 1 FROM tables t \
             JOIN workspace_members m ON m.workspace_id = t.workspace_id AND m.user_id = {user} \
             WHERE t.id = {table} AND t.workspace_id = {ws} AND m.role = ANY({roles}::text[]) \
             AND {} = {key}::text[]) AS ok) g \
             LEFT JOIN LATERAL (SELECT q.*, row_number() OVER () AS page_position FROM (",
            crate::schema::fields_key_sql!()
        ));
        compile_query_into(&mut sql, query, limit)?;
        sql.push(") q) p ON g.ok ORDER BY p.page_position");
        let found = match sql.build()?.fetch_all(&self.pool).await.db() {
            // The records table is gone: the table was deleted meanwhile.
            Err(StoreError::NotFound {
                entity: "table", ..
            }) => return Ok(None),
            other => other?,
        };
        let ok = match found.first() {
            Some(row) => row.try_get::<bool, _>("guard_ok").db()?,
            None => false,
        };
        if !ok {
            return Ok(None);
        }
        let mut records = Vec::with_capacity(found.len());
        for row in &found {
            if row.try_get::<Option<&str>, _>("id").db()?.is_some() {
                records.push(rows::record(row).db()?);
            }
        }
        let has_more = records.len() > limit;
        records.truncate(limit);
        // An empty page's one row is the guard's alone.
        let log_seq = if records.is_empty() {
            None
        } else {
            log_seq_of(query, found.first())?
        };
        Ok(Some(RecordPage {
            records,
            has_more,
            log_seq,
        }))
    }

    async fn upsert_matches(
        &self,
        table: TableId,
        merge_on: &[FieldId],
        keys: &[serde_json::Map<String, Value>],
    ) -> StoreResult<Vec<Vec<RecordId>>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let (present, absent): (Vec<Value>, Vec<Value>) = keys
            .iter()
            .map(|cells| {
                let (present, absent) = merge_key(merge_on, cells);
                (Value::Object(present), Value::from(absent))
            })
            .unzip();
        // One statement for every key: each key's matches as
        // `merge_matches` finds them (at most two, by id), tagged with the
        // key's position.
        let rows: Vec<(i64, String)> = sqlx::query_as(on(
            table,
            "SELECT k.ord, m.id FROM UNNEST($1::jsonb[], $2::jsonb[]) WITH ORDINALITY              AS k(present, absent, ord) CROSS JOIN LATERAL (SELECT id FROM {records}              WHERE deleted_time IS NULL AND data @> k.present AND NOT (data ?|              ARRAY(SELECT jsonb_array_elements_text(k.absent))) ORDER BY id LIMIT 2) AS m              ORDER BY k.ord, m.id",
        )?)
        .bind(present)
        .bind(absent)
        .fetch_all(&self.pool)
        .await
        .db()?;
        let mut out = vec![Vec::new(); keys.len()];
        for (ord, id) in rows {
            let slot = usize::try_from(ord - 1)
                .ok()
                .and_then(|i| out.get_mut(i))
                .ok_or_else(|| {
                    StoreError::backend(crate::error::BACKEND, format!("no key at {ord}"))
                })?;
            slot.push(
                RecordId::parse(&id).map_err(|e| StoreError::backend(crate::error::BACKEND, e))?,
            );
        }
        Ok(out)
    }

    async fn live_record_ids(
        &self,
        table: TableId,
        ids: &[RecordId],
    ) -> StoreResult<Vec<RecordId>> {
        let texts: Vec<&str> = ids.iter().map(RecordId::as_str).collect();
        let found: Vec<String> = sqlx::query_scalar(on(
            table,
            "SELECT id FROM {records} WHERE id = ANY($1) AND deleted_time IS NULL ORDER BY id",
        )?)
        .bind(texts)
        .fetch_all(&self.pool)
        .await
        .db()?;
        found
            .iter()
            .map(|s| RecordId::parse(s).map_err(|e| StoreError::backend(crate::error::BACKEND, e)))
            .collect()
    }

    async fn field_cells(
        &self,
        table: TableId,
        field: FieldId,
    ) -> StoreResult<Vec<(RecordId, Value)>> {
        field_cells_with(&self.pool, table, field).await
    }

    async fn records_linking_to(
        &self,
        table: TableId,
        field: FieldId,
        targets: &[RecordId],
    ) -> StoreResult<Vec<(RecordId, RecordId)>> {
        let targets: Vec<&str> = targets.iter().map(RecordId::as_str).collect();
        // One containment probe of the GIN index per target.
        let rows: Vec<(String, String)> = sqlx::query_as(on(
            table,
            "SELECT t.id, r.id FROM UNNEST($2::text[]) AS t(id) \
             JOIN LATERAL (SELECT id FROM {records} \
             WHERE data @> jsonb_build_object($1::text, jsonb_build_array(t.id))) r ON true \
             ORDER BY t.id COLLATE \"C\", r.id",
        )?)
        .bind(field.as_str())
        .bind(&targets)
        .fetch_all(&self.pool)
        .await
        .db()?;
        let mut out = Vec::with_capacity(rows.len());
        for (target, source) in rows {
            let parse = |s: &str| {
                RecordId::parse(s).map_err(|e| StoreError::backend(crate::error::BACKEND, e))
            };
            out.push((parse(&target)?, parse(&source)?));
        }
        out.dedup();
        Ok(out)
    }

    async fn recompute_records(
        &self,
        table: TableId,
        after: Option<RecordId>,
        limit: usize,
    ) -> StoreResult<Option<RecordId>> {
        // One whole transaction: run again if it lost to a concurrent one.
        retry::whole(|| async move {
            let mut tx = self.pool.begin().await.db()?;
            let now = chrono::Utc::now();
            let mut log = Vec::new();
            let last = computed::chunk(&mut tx, table, after, limit, now, &mut log).await?;
            let actor = pybase_core::store::current_actor();
            let done = changes::log(&mut tx, Some(now), actor, log).await?;
            tx.commit().await.db()?;
            self.announce(done);
            Ok(last)
        })
        .await
    }

    async fn live_records_exceed(&self, table: TableId, n: usize) -> StoreResult<bool> {
        crate::fills::exceed(&self.pool, table, n).await
    }

    async fn queue_fill(
        &self,
        table: TableId,
        fields: &[FieldId],
        how: pybase_core::store::computed::FillQueue,
        now: Timestamp,
    ) -> StoreResult<()> {
        // One whole transaction: run again if it lost to a concurrent one.
        retry::whole(|| async move {
            let mut tx = self.pool.begin().await.db()?;
            crate::fills::queue(&mut tx, table, fields, how, now).await?;
            tx.commit().await.db()
        })
        .await
    }

    async fn claim_fill(
        &self,
        owner: &str,
        now: Timestamp,
        until: Timestamp,
    ) -> StoreResult<Option<TableId>> {
        crate::fills::claim(&self.pool, owner, now, until).await
    }

    async fn fill_chunk(
        &self,
        table: TableId,
        owner: &str,
        limit: usize,
        until: Timestamp,
    ) -> StoreResult<pybase_core::store::computed::FillStep> {
        // One whole transaction: run again if it lost to a concurrent one.
        retry::whole(|| async move {
            let mut tx = self.pool.begin().await.db()?;
            let (step, log) = crate::fills::chunk(&mut tx, table, owner, limit, until).await?;
            let actor = pybase_core::store::current_actor();
            let done = changes::log(&mut tx, Some(chrono::Utc::now()), actor, log).await?;
            tx.commit().await.db()?;
            self.announce(done);
            Ok(step)
        })
        .await
    }

    async fn settle_fill(&self, table: TableId, fields: &[FieldId]) -> StoreResult<bool> {
        // One whole transaction: run again if it lost to a concurrent one.
        retry::whole(|| async move {
            let mut tx = self.pool.begin().await.db()?;
            let ended = crate::fills::settle(&mut tx, table, fields).await?;
            tx.commit().await.db()?;
            Ok(ended)
        })
        .await
    }

    async fn create_attachment(&self, attachment: &Attachment) -> StoreResult<()> {
        let size = i64::try_from(attachment.size).map_err(|_| StoreError::Invalid {
            field: "size".to_owned(),
            expected: "a size below 2^63 bytes".to_owned(),
        })?;
        sqlx::query(
            "INSERT INTO attachments (id, table_id, filename, content_type, size, sha256, \
             storage_key, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(attachment.id.as_str())
        .bind(attachment.table_id.as_str())
        .bind(&attachment.filename)
        .bind(&attachment.content_type)
        .bind(size)
        .bind(&attachment.sha256)
        .bind(&attachment.storage_key)
        .bind(attachment.created_by.as_ref().map(UserId::as_str))
        .bind(attachment.created_at)
        .execute(&self.pool)
        .await
        .or_missing("table", attachment.table_id.as_str())?;
        Ok(())
    }

    async fn get_attachment(&self, id: AttachmentId) -> StoreResult<Attachment> {
        let row = sqlx::query(cols(
            ATTACHMENT_COLUMNS,
            "SELECT {} FROM attachments WHERE id = $1",
        ))
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await
        .db()?
        .ok_or_else(|| StoreError::not_found("attachment", id))?;
        rows::attachment(&row).db()
    }

    async fn get_attachments(&self, ids: &[AttachmentId]) -> StoreResult<Vec<Attachment>> {
        let texts: Vec<&str> = ids.iter().map(AttachmentId::as_str).collect();
        let found = sqlx::query(cols(
            ATTACHMENT_COLUMNS,
            "SELECT {} FROM attachments WHERE id = ANY($1) ORDER BY id",
        ))
        .bind(texts)
        .fetch_all(&self.pool)
        .await
        .db()?;
        found
            .iter()
            .map(rows::attachment)
            .collect::<Result<_, _>>()
            .db()
    }
}

impl PgStore {
    /// PostgreSQL's plan for a query, one line per row of `EXPLAIN`
    /// (`analyze` runs it, as `EXPLAIN (ANALYZE, BUFFERS)` does). For checking
    /// that filters and pages use the indexes.
    pub async fn explain(&self, query: &RecordQuery, analyze: bool) -> StoreResult<Vec<String>> {
        let limit = query.limit.max(1);
        let mut sql = Sql::new(if analyze {
            "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) "
        } else {
            "EXPLAIN (COSTS OFF) "
        });
        compile_query_into(&mut sql, query, limit)?;
        let found = sql.build()?.fetch_all(&self.pool).await.db()?;
        found
            .iter()
            .map(|row| row.try_get::<String, _>(0))
            .collect::<Result<_, _>>()
            .db()
    }
}

/// The SQL of a page: filter, keyset condition, order, and `limit + 1` rows
/// (the extra one tells whether more follow).
/// The log's newest seq a page's `first` row read, when `query` asked
/// for it ([`RecordQuery::log_seq`]) and the page has a row.
fn log_seq_of(query: &RecordQuery, first: Option<&PgRow>) -> StoreResult<Option<i64>> {
    match first {
        Some(row) if query.log_seq => Ok(Some(row.try_get("log_seq").db()?)),
        _ => Ok(None),
    }
}

fn compile_query(query: &RecordQuery, limit: usize) -> StoreResult<Sql> {
    let mut sql = Sql::new("");
    compile_query_into(&mut sql, query, limit)?;
    Ok(sql)
}

/// Appends the SQL of a page to `sql`.
fn compile_query_into(sql: &mut Sql, query: &RecordQuery, limit: usize) -> StoreResult<()> {
    let mut wheres = Vec::new();
    if !query.include_deleted {
        wheres.push("deleted_time IS NULL".to_owned());
    }
    let mut compiler = Compiler::new(sql);
    if let Some(filter) = &query.filter {
        wheres.push(compiler.filter(filter));
    }
    let (order, after) = compiler.order(&query.sort, query.after.as_ref())?;
    wheres.extend(after);
    let fetch = i64::try_from(limit.saturating_add(1)).unwrap_or(i64::MAX);
    let limit_param = sql.arg(fetch);
    // The log's newest seq in the statement's snapshot (an init plan, read
    // once): where a walk's first page stands.
    let log_seq = if query.log_seq {
        let table = sql.arg(query.table_id.as_str().to_owned());
        format!(
            ", (SELECT coalesce(max(c.last_seq), 0) FROM change_counters c \
             WHERE c.base_id = (SELECT t.base_id FROM tables t WHERE t.id = {table})) AS log_seq"
        )
    } else {
        String::new()
    };
    let text = format!(
        "SELECT {}{log_seq} FROM {} WHERE {} ORDER BY {order} LIMIT {limit_param}",
        record_columns(query.table_id, None)?,
        rel(query.table_id)?,
        if wheres.is_empty() {
            "TRUE".to_owned()
        } else {
            wheres.join(" AND ")
        }
    );
    sql.push(&text);
    Ok(())
}

/// The stored cells of `field` of `table`, by record id, read through
/// `conn` (the pool, or a transaction that locked the table first).
pub(crate) async fn field_cells_with<'e, E: sqlx::PgExecutor<'e>>(
    conn: E,
    table: TableId,
    field: FieldId,
) -> StoreResult<Vec<(RecordId, Value)>> {
    let found = sqlx::query(on(
        table,
        "SELECT id, data -> $1 AS cell FROM {records} WHERE data ? $1 ORDER BY id",
    )?)
    .bind(field.as_str())
    .fetch_all(conn)
    .await
    .db()?;
    found
        .iter()
        .map(|row| {
            let mut cell: Value = row.try_get("cell")?;
            rows::normalize_numbers(&mut cell);
            decode_value(&mut cell);
            Ok((rows::parsed(row, "id")?, cell))
        })
        .collect::<Result<_, sqlx::Error>>()
        .db()
}
