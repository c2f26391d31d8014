//! [`RecordsStore`]: records (JSONB cells, updates merged by
//! [`crate::read_first`] in the write transaction, keyset pages) and
//! attachment metadata.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

use async_trait::async_trait;
use chrono::SubsecRound as _;
use pybase_core::ids::{AttachmentId, FieldId, RecordId, TableId, UserId};
use pybase_core::model::{Attachment, Cells, Record, Timestamp};
use pybase_core::query::{RawRecordPage, RecordPage, RecordQuery};
use pybase_core::store::{
    CachedFields, NewChange, NewRecord, RecordPatch, RecordsStore, TableAccess, UpdateGuard,
    UpsertOutcome,
};
use pybase_core::{StoreError, StoreResult};
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension, Row, params, params_from_iter};
use serde_json::Value;

use crate::SqliteStore;
use crate::changes::{self, Entry};
use crate::computed;
use crate::error::{Error, Result};
use crate::layout::{RECORD_COLUMNS, cell_path, record_columns};
use crate::links;
use crate::read_first::{self, EventSeq};
use crate::rows::{fmt_time, id, id_list, opt_id, raw_record, record, time};
use crate::schema::{indexed_fields, table_access_in};
use crate::sql::Sql;
use crate::workspaces::role_of;

/// A record to insert, with its cells already serialised.
struct Insert {
    id: RecordId,
    cells: String,
    created_by: Option<UserId>,
    created_time: String,
}

impl Insert {
    fn new(r: &NewRecord) -> Result<Self> {
        Ok(Self {
            id: r.id,
            cells: serde_json::to_string(&r.cells)?,
            created_by: r.created_by,
            created_time: fmt_time(&r.created_time),
        })
    }
}

/// The statement reading one record by id (`?1`) of the table `?3`,
/// including a soft-deleted one when `?2` is true.
const SELECT_ONE: &str = concat!(
    "SELECT ",
    record_columns!(),
    " FROM records WHERE table_id = ?3 AND id = ?1 AND (?2 OR deleted_time IS NULL)"
);

/// `NotFound` unless `table` exists.
fn require_table(conn: &Connection, table: &str) -> Result<()> {
    conn.prepare_cached("SELECT 1 FROM tables WHERE id = ?1")?
        .query_row([table], |_| Ok(()))
        .optional()?
        .ok_or_else(|| Error::not_found("table", table))
}

/// Takes the next `n` autonumbers of `table`; returns the first one.
fn take_autonumbers(conn: &Connection, table: &str, n: usize) -> Result<i64> {
    let n = i64::try_from(n).map_err(|_| Error::corrupt("batch size", n.to_string()))?;
    let last: i64 = conn
        .prepare_cached(
            "UPDATE tables SET last_autonumber = last_autonumber + ?2 WHERE id = ?1 \
             RETURNING last_autonumber",
        )?
        .query_row(params![table, n], |r| r.get(0))
        .optional()?
        .ok_or_else(|| Error::not_found("table", table))?;
    Ok(last - n + 1)
}

/// Inserts one new record with `autonumber` and reads it back. Its row
/// points at no event: [`changes::log`] links its created event.
fn insert(conn: &Connection, table: &str, r: &Insert, autonumber: i64) -> Result<Record> {
    let by = r.created_by.as_ref().map(UserId::as_str);
    Ok(conn
        .prepare_cached(concat!(
            "INSERT INTO records (table_id, id, data, autonumber, created_by, updated_by, \
             created_time, updated_time) VALUES (?6, ?1, jsonb(?2), ?3, ?4, ?4, ?5, ?5) \
             RETURNING ",
            record_columns!()
        ))?
        .query_row(
            params![
                r.id.as_str(),
                r.cells,
                autonumber,
                by,
                r.created_time,
                table
            ],
            record,
        )?)
}

/// Records inserted by one statement of [`insert_new`].
const INSERTS_PER_STATEMENT: usize = 64;

/// Inserts new records without reading them back (see `create_records`),
/// with consecutive autonumbers from `first` and pointing at consecutive
/// created events from `seq` (`None` while the log is measured out), by
/// [`INSERTS_PER_STATEMENT`] a statement. The side index's trigger and `jsonb()` make SQLite keep a
/// statement journal: every page a statement first touches is copied to
/// it, so a statement per record copied the same leaf pages once per
/// record (about a fifth of a bulk insert's instructions).
fn insert_new(
    conn: &Connection,
    table: &str,
    records: &[Insert],
    first: i64,
    seq: Option<i64>,
) -> Result<()> {
    let mut autonumber = first;
    let mut seq = seq;
    for chunk in records.chunks(INSERTS_PER_STATEMENT) {
        let mut insert = conn.prepare_cached(insert_new_sql(chunk.len()))?;
        let keys: Vec<(&str, i64, Option<&str>)> = chunk
            .iter()
            .zip(autonumber..)
            .map(|(r, n)| (r.id.as_str(), n, r.created_by.as_ref().map(UserId::as_str)))
            .collect();
        let mut values: Vec<&dyn rusqlite::ToSql> = Vec::with_capacity(2 + chunk.len() * 5);
        values.push(&table);
        values.push(&seq);
        for (r, (id, n, by)) in chunk.iter().zip(&keys) {
            values.extend_from_slice(&[
                id as &dyn rusqlite::ToSql,
                &r.cells,
                n,
                by,
                &r.created_time,
            ]);
        }
        insert.execute(values.as_slice())?;
        let n = i64::try_from(chunk.len()).unwrap_or(0);
        autonumber += n;
        seq = seq.map(|s| s + n);
    }
    Ok(())
}

/// The insert of [`insert_new`] for `rows` records of table `?1`, the
/// `k`-th pointing at the event `?2 + k`, each taking five values (id,
/// cells, autonumber, creator, time), built once per row count.
fn insert_new_sql(rows: usize) -> &'static str {
    static SQL: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    crate::sql::by_count(&SQL, INSERTS_PER_STATEMENT, rows, |rows| {
        let values: Vec<String> = (0..rows)
            .map(|i| {
                let p = 2 + i * 5;
                format!(
                    "(?1, ?{}, jsonb(?{}), ?{}, ?{}, ?{}, ?{}, ?{}, ?2 + {i})",
                    p + 1,
                    p + 2,
                    p + 3,
                    p + 4,
                    p + 4,
                    p + 5,
                    p + 5
                )
            })
            .collect();
        format!(
            "INSERT INTO records (table_id, id, data, autonumber, created_by, updated_by, \
             created_time, updated_time, last_seq) VALUES {}",
            values.join(", ")
        )
    })
}

/// The condition "this record's cell of `field` equals `value`" for
/// upserts (absent equals absent; bools compare as absent-is-false). On a
/// field with a ready side index, text, number and empty cells are looked
/// up there first (the type check still runs on the rows it finds).
fn cell_equals(sql: &mut Sql, field: FieldId, value: Option<&Value>) -> String {
    let path = sql.path(field);
    let ty = format!("json_type(data, {path})");
    let val = format!("json_extract(data, {path})");
    let (test, lookup) = match value {
        None | Some(Value::Null) => (format!("{val} IS NULL"), Some("IS NULL".to_owned())),
        Some(Value::Bool(b)) => {
            let p = sql.bind(i64::from(*b));
            (format!("({ty} IS 'true') = {p}"), None)
        }
        Some(Value::String(s)) => {
            let p = sql.bind(s.clone());
            (
                format!("({ty} IS 'text' AND {val} = {p})"),
                Some(format!("= {p}")),
            )
        }
        Some(Value::Number(n)) => {
            let p = match (n.as_i64(), n.as_f64()) {
                (Some(i), _) => sql.bind(i),
                (None, Some(f)) => sql.bind(f),
                (None, None) => sql.bind(SqlValue::Null),
            };
            (
                format!("({ty} IN ('integer', 'real') AND {val} = {p})"),
                Some(format!("= {p}")),
            )
        }
        Some(v) => {
            let p = sql.bind(v.to_string());
            (
                format!("({ty} IN ('array', 'object') AND {val} = json({p}))"),
                None,
            )
        }
    };
    match lookup.and_then(|l| sql.lookup(field, &l)) {
        Some(found) => format!("{found} AND {test}"),
        None => test,
    }
}

/// The query finding the live records of `table` whose `merge_on` cells
/// equal those of `cells` (at most two: more than one is a conflict).
fn match_sql(
    table: TableId,
    merge_on: &[FieldId],
    cells: &Cells,
    indexed: HashSet<FieldId>,
) -> Result<(String, Vec<SqlValue>)> {
    let mut sql = Sql::with_indexed(indexed);
    let t = sql.bind(table.as_str().to_owned());
    let mut text =
        format!("SELECT id FROM records WHERE records.table_id = {t} AND deleted_time IS NULL");
    for f in merge_on {
        text.push_str(" AND ");
        text.push_str(&cell_equals(&mut sql, *f, cells.get(f.as_str())));
    }
    text.push_str(" LIMIT 2");
    Ok((text, sql.params))
}

fn attachment(row: &Row<'_>) -> rusqlite::Result<Attachment> {
    let size: i64 = row.get(4)?;
    Ok(Attachment {
        id: id(row, 0)?,
        table_id: id(row, 1)?,
        filename: row.get(2)?,
        content_type: row.get(3)?,
        size: u64::try_from(size).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(
                4,
                rusqlite::types::Type::Integer,
                Box::new(e),
            )
        })?,
        sha256: row.get(5)?,
        storage_key: row.get(6)?,
        created_by: opt_id(row, 7)?,
        created_at: time(row, 8)?,
    })
}

const ATTACHMENT_COLUMNS: &str =
    "id, table_id, filename, content_type, size, sha256, storage_key, created_by, created_at";

/// The indexed number fields `query` would walk (its first key sorts one
/// descending) whose side index holds anything but numbers: a formula's
/// error objects or text written before the field was a number. Their
/// walk would put those first, where a page's order puts them with the
/// empty cells (see `Sql::key_target`), so such a page sorts instead. One
/// index seek: text orders above every number in the index.
fn unwalkable(
    conn: &Connection,
    query: &RecordQuery,
    indexed: &HashSet<FieldId>,
) -> Result<HashSet<FieldId>> {
    let mut out = HashSet::new();
    if let Some(pybase_core::query::SortKey {
        target:
            pybase_core::query::Target::Cell {
                field,
                kind: pybase_core::fields::ValueKind::Number,
            },
        desc: true,
    }) = query.sort.first()
        && indexed.contains(field)
    {
        let mixed: bool = conn
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM cell_index WHERE field_id = ?1 AND value > 9e999)",
            )?
            .query_row([field.as_str()], |r| r.get(0))?;
        if mixed {
            out.insert(*field);
        }
    }
    Ok(out)
}

/// The SQL of one page of `query`: `limit + 1` rows, so the caller can
/// tell whether another page follows.
fn page_sql(
    query: &RecordQuery,
    indexed: HashSet<FieldId>,
    unwalkable: &HashSet<FieldId>,
) -> Result<(String, Vec<SqlValue>)> {
    let mut sql = Sql::with_indexed(indexed);
    sql.never_walk(unwalkable);
    let t = sql.bind(query.table_id.as_str().to_owned());
    let scope = format!("records.table_id = {t}");
    // A sorted page selects in two steps: the page's rowids with their sort
    // keys first, then the rows themselves. SQLite's sorter carries every
    // result column of every matching row, so selecting the cells directly
    // would turn each match's cells into JSON text only to keep 101 of them.
    let sorted = !query.sort.is_empty();
    // A page sorted first by a descending indexed cell walks that field's
    // side index in value order and stops after `limit` matches, instead
    // of sorting every match (CROSS JOIN keeps the walk outermost).
    let walked = query.sort.first().and_then(|k| sql.walkable(k));
    let mut text = if sorted {
        let from = match walked {
            Some(field) => {
                sql.walk(field);
                let f = sql.bind(field.as_str().to_owned());
                format!(
                    "FROM cell_index AS ci CROSS JOIN records \
                     WHERE ci.field_id = {f} AND records.rowid = ci.rec AND {scope} AND "
                )
            }
            None => format!("FROM records WHERE {scope} AND "),
        };
        let mut cols = String::from("SELECT records.rowid AS rid, records.id AS kid");
        for (i, key) in query.sort.iter().enumerate() {
            let _ = write!(cols, ", {} AS k{i}", sql.sort_target(key));
        }
        format!("{cols} {from}")
    } else {
        format!("SELECT {RECORD_COLUMNS} FROM records WHERE {scope} AND ")
    };
    text.push_str(if query.include_deleted {
        "1"
    } else {
        "records.deleted_time IS NULL"
    });
    if let Some(filter) = &query.filter {
        text.push_str(" AND ");
        text.push_str(&sql.filter(filter));
    }
    if let Some(cursor) = &query.after {
        text.push_str(" AND ");
        text.push_str(&sql.after(&query.sort, cursor));
    }
    text.push(' ');
    text.push_str(&if sorted {
        Sql::order_by_columns(&query.sort, "")
    } else {
        sql.order_by(&query.sort)
    });
    // The limit is written into the SQL, not bound: SQLite plans with a
    // bound LIMIT's value and so re-prepares the statement each time it is
    // bound again (`sqlite3ExprIsInteger` marks the parameter), which cost
    // a page as much as its parsing; a literal keeps the cached statement
    // (one per page size) and the planner's knowledge of the limit.
    let fetch = query.limit.saturating_add(1);
    let _ = write!(text, " LIMIT {fetch}");
    if sorted {
        text = format!(
            "SELECT {RECORD_COLUMNS} FROM ({text}) AS page JOIN records \
             ON records.rowid = page.rid {}",
            Sql::order_by_columns(&query.sort, "page.")
        );
    }
    Ok((text, sql.params))
}

impl SqliteStore {
    /// The rows of one page of `query`, each read by `row`, whether more
    /// follow, and the log's newest seq when the query asks for it (read
    /// in the same transaction).
    async fn page_rows<T: Send + 'static>(
        &self,
        query: &RecordQuery,
        row: fn(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> StoreResult<(Vec<T>, bool, Option<i64>)> {
        let query = query.clone();
        let limit = query.limit;
        self.read(move |conn| {
            let indexed = indexed_fields(conn, query.table_id.as_str())?;
            let blocked = unwalkable(conn, &query, &indexed)?;
            let (text, params) = page_sql(&query, indexed, &blocked)?;
            let mut rows: Vec<T> = conn
                .prepare_cached(&text)?
                .query_map(params_from_iter(params), row)?
                .collect::<rusqlite::Result<_>>()?;
            let has_more = rows.len() > limit;
            rows.truncate(limit);
            // In the same read transaction: the log as the rows were read.
            let log_seq = if query.log_seq {
                Some(
                    conn.prepare_cached(concat!(
                        "SELECT ",
                        crate::changes::last_seq_of!("(SELECT base_id FROM tables WHERE id = ?1)")
                    ))?
                    .query_row([query.table_id.as_str()], |r| r.get::<_, i64>(0))?,
                )
            } else {
                None
            };
            Ok((rows, has_more, log_seq))
        })
        .await
    }
}

/// Whether `guard` holds in `tx`: the table exists in the guard's
/// workspace at the guard's fields version, and the user's role there is
/// one of the guard's roles.
fn guard_holds(tx: &Connection, table: TableId, guard: &UpdateGuard) -> Result<bool> {
    let found: Option<(String, i64)> = tx
        .prepare_cached("SELECT workspace_id, fields_version FROM tables WHERE id = ?1")?
        .query_row([table.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let Some((table_ws, current)) = found else {
        return Ok(false);
    };
    if table_ws != guard.fields.workspace_id.as_str() || !guard.fields.version.is_counter(current) {
        return Ok(false);
    }
    let role = role_of(tx, &table_ws, guard.user.as_str())?;
    Ok(role.is_some_and(|r| guard.roles.contains(&r)))
}

impl SqliteStore {
    /// [`RecordsStore::create_records`], and with `guard` its check (the
    /// user's role, the table's workspace and fields' version) in the same
    /// write transaction first: `None`, nothing written, when it fails.
    async fn create_checked(
        &self,
        table: TableId,
        records: &[NewRecord],
        guard: Option<UpdateGuard>,
    ) -> StoreResult<Option<Vec<Record>>> {
        let inserts = records
            .iter()
            .map(Insert::new)
            .collect::<Result<Vec<_>>>()
            .map_err(StoreError::from)?;
        let single = inserts.len() == 1;
        let cells: Vec<(RecordId, Cells)> =
            records.iter().map(|r| (r.id, r.cells.clone())).collect();
        let actor = records
            .first()
            .and_then(|r| r.created_by)
            .or_else(pybase_core::store::current_actor);
        let at = records.first().map(|r| r.created_time);
        let work = move |tx: &Connection| {
            if let Some(guard) = &guard
                && !guard_holds(tx, table, guard)?
            {
                return Ok(None);
            }
            let first = take_autonumbers(tx, table.as_str(), inserts.len())?;
            let seq = changes::take_seqs(tx, table, inserts.len())?;
            insert_new(tx, table.as_str(), &inserts, first, seq)?;
            let fields = links::link_fields(tx, table)?;
            let mut partners = Vec::new();
            if !fields.is_empty() {
                let after: Vec<Record> = cells
                    .iter()
                    .map(|(id, c)| links::created(table, *id, c))
                    .collect();
                let ids: Vec<RecordId> = cells.iter().map(|(id, _)| *id).collect();
                let all: Vec<&_> = fields.iter().collect();
                links::reindex_written(tx, table, &all, &ids)?;
                partners = links::sync(tx, &links::pairs(&fields), &HashMap::new(), &after)?;
            }
            let ids = inserts.iter().map(|r| r.id).collect();
            // Built only for a log that is written (benchmarks measure the
            // log out, these events included).
            let mut log: Vec<Entry> = if pybase_core::store::change_log_enabled() {
                inserts
                    .into_iter()
                    .zip(0..)
                    .map(|(r, i)| {
                        Entry::created(table, r.id, r.cells).linked(seq.map(|s| (s + i, None)))
                    })
                    .collect()
            } else {
                Vec::new()
            };
            let now = at.unwrap_or_else(chrono::Utc::now);
            let mut done = computed::after_write(tx, table, ids, &partners, now)?;
            log.extend(partners.into_iter().map(Entry::from));
            computed::to_log(&mut log, &mut done)?;
            changes::log(tx, at.as_ref(), actor, &log)?;
            Ok(Some((first, done)))
        };
        let written = if single {
            self.write_small(work).await?
        } else {
            self.write(work).await?
        };
        let Some((first, done)) = written else {
            return Ok(None);
        };
        // The stored rows are exactly the input (cells are kept as given,
        // times to the millisecond), so they are built here rather than
        // read back and parsed again, which cost a third of a bulk insert.
        let mut out: Vec<Record> = records
            .iter()
            .zip(first..)
            .map(|(r, autonumber)| {
                let at = r.created_time.trunc_subsecs(3);
                Record {
                    id: r.id,
                    table_id: table,
                    cells: r.cells.clone(),
                    autonumber,
                    created_by: r.created_by,
                    updated_by: r.created_by,
                    created_time: at,
                    updated_time: at,
                    deleted_time: None,
                }
            })
            .collect();
        done.apply_to(&mut out);
        Ok(Some(out))
    }
}

/// Updates records in `tx`, none named twice (a round of
/// [`pybase_core::store::patch_rounds`]): `patches.0` the patches,
/// `patches.1` the same naming only their cells (for the link fields);
/// `when` the stored time text and the time. Each record is read, merged in
/// Rust and written whole (`read_first`), then the links' partners are
/// synchronised, derived cells recomputed and the events logged.
fn update_round(
    tx: &Connection,
    table: TableId,
    fields: &[links::LinkField],
    (changes, patches): (&[RecordPatch], &[RecordPatch]),
    (at, logged_at): (&str, Timestamp),
    by: Option<UserId>,
    actor: Option<UserId>,
) -> Result<Vec<Record>> {
    let touched = links::touched(fields, patches);
    let ids: Vec<RecordId> = changes.iter().map(|p| p.id).collect();
    let before = links::before(tx, table, &touched, &ids)?;
    let mut log = Vec::with_capacity(changes.len());
    let out: Vec<Record> = changes
        .iter()
        .map(|patch| {
            let current = read_first::read(tx, table, patch.id)?
                .ok_or_else(|| Error::not_found("record", patch.id))?;
            let updated = read_first::write(tx, current, patch, at, by, EventSeq::Taken)?;
            let link = updated.link;
            if let Some(before) = changes::Before::of(updated.before.cells, patch) {
                log.push(changes::updated(&before, &updated.after)?.linked(link));
            }
            Ok(updated.after)
        })
        .collect::<Result<_>>()?;
    links::reindex_written(tx, table, &links::written(fields, patches), &ids)?;
    let partners = links::sync(tx, &touched, &before, &out)?;
    let mut out = out;
    let mut done = computed::after_write(tx, table, ids, &partners, logged_at)?;
    done.apply_to(&mut out);
    log.extend(partners.into_iter().map(Entry::from));
    computed::to_log(&mut log, &mut done)?;
    changes::log_stored(tx, at, actor, &log)?;
    Ok(out)
}

#[async_trait]
impl RecordsStore for SqliteStore {
    async fn create_records(
        &self,
        table: TableId,
        records: &[NewRecord],
    ) -> StoreResult<Vec<Record>> {
        // Without a guard nothing is refused.
        let created = self.create_checked(table, records, None).await?;
        Ok(created.unwrap_or_default())
    }

    async fn create_records_guarded(
        &self,
        table: TableId,
        records: &[NewRecord],
        guard: &UpdateGuard,
    ) -> StoreResult<Option<Vec<Record>>> {
        self.create_checked(table, records, Some(guard.clone()))
            .await
    }

    async fn record_access(
        &self,
        table: TableId,
        id: RecordId,
        user: UserId,
    ) -> StoreResult<(TableAccess, Option<Record>)> {
        let cache = self.fields_cache();
        self.read_small(move |conn| {
            let access = table_access_in(conn, &cache, table, user)?;
            let found = conn
                .prepare_cached(SELECT_ONE)?
                .query_row(params![id.as_str(), false, table.as_str()], record)
                .optional()?;
            Ok((access, found))
        })
        .await
    }

    async fn get_record(
        &self,
        table: TableId,
        id: RecordId,
        include_deleted: bool,
    ) -> StoreResult<Record> {
        self.read_small(move |conn| {
            conn.prepare_cached(SELECT_ONE)?
                .query_row(
                    params![id.as_str(), include_deleted, table.as_str()],
                    record,
                )
                .optional()?
                .ok_or_else(|| Error::not_found("record", id))
        })
        .await
    }

    async fn get_records(
        &self,
        table: TableId,
        ids: &[RecordId],
        include_deleted: bool,
    ) -> StoreResult<Vec<Record>> {
        let list = id_list(ids);
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(concat!(
                "SELECT ",
                record_columns!(),
                " FROM records WHERE table_id = ?3 AND id IN (SELECT value FROM json_each(?1)) \
                 AND (?2 OR deleted_time IS NULL)"
            ))?;
            let rows = stmt.query_map(params![list, include_deleted, table.as_str()], record)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    async fn update_records(
        &self,
        table: TableId,
        patches: &[RecordPatch],
        at: Timestamp,
        by: Option<UserId>,
    ) -> StoreResult<Vec<Record>> {
        let changes: Vec<RecordPatch> = patches.to_vec();
        let logged_at = at;
        let at = fmt_time(&at);
        let single = changes.len() == 1;
        // What each patch writes (cell names only), for the link fields.
        let patches: Vec<RecordPatch> = patches
            .iter()
            .map(|p| RecordPatch {
                id: p.id,
                set: p.set.keys().map(|k| (k.clone(), Value::Null)).collect(),
                unset: p.unset.clone(),
                replace: p.replace,
            })
            .collect();
        let actor = by.or_else(pybase_core::store::current_actor);
        let work = move |tx: &Connection| {
            let fields = links::link_fields(tx, table)?;
            let when = (at.as_str(), logged_at);
            // Rounds only when a record is patched twice (none looked for
            // in a single update).
            let rounds = (!single)
                .then(|| pybase_core::store::patch_rounds(&changes))
                .filter(|rounds| rounds.len() > 1);
            let Some(rounds) = rounds else {
                return update_round(tx, table, &fields, (&changes, &patches), when, by, actor);
            };
            // A record patched twice: round by round, each with its
            // recompute and its events (as consecutive writes would).
            let mut out: Vec<Option<Record>> = vec![None; changes.len()];
            for round in rounds {
                let pick = |all: &[RecordPatch]| -> Vec<RecordPatch> {
                    round.iter().map(|&i| all[i].clone()).collect()
                };
                let (c, p) = (pick(&changes), pick(&patches));
                let written = update_round(tx, table, &fields, (&c, &p), when, by, actor)?;
                for (&i, r) in round.iter().zip(written) {
                    out[i] = Some(r);
                }
            }
            Ok(out.into_iter().flatten().collect())
        };
        if single {
            self.write_small(work).await
        } else {
            self.write(work).await
        }
    }

    fn cached_fields(&self, table: TableId) -> Option<CachedFields> {
        self.fields_cache().cached(table)
    }

    async fn update_record_guarded(
        &self,
        table: TableId,
        patch: &RecordPatch,
        guard: &UpdateGuard,
        at: Timestamp,
        by: Option<UserId>,
    ) -> StoreResult<Option<Record>> {
        // One write transaction checks the fields' version and the role,
        // then writes: no read transaction before it.
        let id = patch.id;
        let patch = patch.clone();
        let logged_at = at;
        let actor = by.or_else(pybase_core::store::current_actor);
        let at = fmt_time(&at);
        let guard = guard.clone();
        self.write_small(move |tx| {
            if !guard_holds(tx, table, &guard)? {
                return Ok(None);
            }
            let fields = links::link_fields(tx, table)?;
            let patches = std::slice::from_ref(&patch);
            let touched = links::touched(&fields, patches);
            let before_links = links::before(tx, table, &touched, &[id])?;
            // Read, merged in Rust, written whole (`read_first`): the
            // record as it was serves the compare of a compare-and-set and
            // is the log's "before".
            let Some(current) = read_first::read(tx, table, id)? else {
                return Ok(None);
            };
            if !guard.cells_hold(&current.record.cells) {
                return Ok(None);
            }
            let updated = read_first::write(tx, current, &patch, &at, by, EventSeq::Taken)?;
            let link = updated.link;
            let before = changes::Before::of(updated.before.cells, &patch);
            let mut record = updated.after;
            links::reindex_written(tx, table, &links::written(&fields, patches), &[id])?;
            let partners = links::sync(tx, &touched, &before_links, std::slice::from_ref(&record))?;
            let mut done = computed::after_write(tx, table, vec![id], &partners, logged_at)?;
            done.apply_to(std::slice::from_mut(&mut record));
            if let Some(before) = before {
                let mut log = vec![changes::updated(&before, &record)?.linked(link)];
                log.extend(partners.into_iter().map(Entry::from));
                computed::to_log(&mut log, &mut done)?;
                changes::log_stored(tx, &at, actor, &log)?;
            }
            Ok(Some(record))
        })
        .await
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
        let merge_on = merge_on.to_vec();
        let work: Vec<(Cells, Insert)> = records
            .iter()
            .map(|r| Ok((r.cells.clone(), Insert::new(r)?)))
            .collect::<Result<_>>()
            .map_err(StoreError::from)?;
        let logged_at = at;
        let actor = by.or_else(pybase_core::store::current_actor);
        let at = fmt_time(&at);
        self.write(move |tx| {
            require_table(tx, table.as_str())?;
            let mut log = Vec::with_capacity(work.len());
            let indexed = indexed_fields(tx, table.as_str())?;
            let fields = links::link_fields(tx, table)?;
            let all: Vec<&_> = fields.iter().collect();
            let touched = links::pairs(&fields);
            let mut out = Vec::with_capacity(work.len());
            let mut derived = pybase_core::store::computed::Recomputed::default();
            // The partner cells each row changed: one event per partner
            // record for the whole upsert, as a batch logs it.
            let mut partner_log = Vec::new();
            for (cells, new) in &work {
                let (text, params) = match_sql(table, &merge_on, cells, indexed.clone())?;
                let matches: Vec<String> = tx
                    .prepare_cached(&text)?
                    .query_map(params_from_iter(params), |r| r.get(0))?
                    .collect::<rusqlite::Result<_>>()?;
                match matches.as_slice() {
                    [] => {
                        let n = take_autonumbers(tx, table.as_str(), 1)?;
                        // An upsert's events keep the order they are built
                        // in (its rows' partner cells, merged per record,
                        // follow them): none is linked ahead,
                        // `changes::log` links them all.
                        let mut record = insert(tx, table.as_str(), new, n)?;
                        links::reindex_written(tx, table, &all, &[record.id])?;
                        let partners = links::sync(
                            tx,
                            &touched,
                            &HashMap::new(),
                            std::slice::from_ref(&record),
                        )?;
                        log.push(Entry::created(table, new.id, new.cells.clone()));
                        let done = computed::after_write(
                            tx,
                            table,
                            vec![record.id],
                            &partners,
                            logged_at,
                        )?;
                        done.apply_to(std::slice::from_mut(&mut record));
                        derived.changes.extend(done.changes);
                        partner_log.extend(partners);
                        out.push(UpsertOutcome {
                            record,
                            created: true,
                        });
                    }
                    [existing] => {
                        let existing_id: RecordId = existing
                            .parse()
                            .map_err(|e| Error::corrupt("record id", format!("{e}")))?;
                        let before_links = links::before(tx, table, &touched, &[existing_id])?;
                        // Merged into the match as read (`read_first`).
                        let patch = RecordPatch {
                            id: existing_id,
                            set: cells.clone(),
                            unset: Vec::new(),
                            replace,
                        };
                        let current = read_first::read(tx, table, existing_id)?
                            .ok_or_else(|| Error::not_found("record", existing))?;
                        let updated =
                            read_first::write(tx, current, &patch, &at, by, EventSeq::AtLog)?;
                        let before = changes::Before::of(updated.before.cells, &patch);
                        let mut record = updated.after;
                        links::reindex_written(tx, table, &all, &[existing_id])?;
                        let partners = links::sync(
                            tx,
                            &touched,
                            &before_links,
                            std::slice::from_ref(&record),
                        )?;
                        let done = computed::after_write(
                            tx,
                            table,
                            vec![existing_id],
                            &partners,
                            logged_at,
                        )?;
                        done.apply_to(std::slice::from_mut(&mut record));
                        derived.changes.extend(done.changes);
                        if let Some(before) = &before {
                            log.push(changes::updated(before, &record)?);
                        }
                        partner_log.extend(partners);
                        out.push(UpsertOutcome {
                            record,
                            created: false,
                        });
                    }
                    _ => {
                        return Err(Error::conflict("record", "merge_on"));
                    }
                }
            }
            partner_log.append(&mut derived.changes);
            derived.changes = partner_log;
            computed::to_log(&mut log, &mut derived)?;
            changes::log_stored(tx, &at, actor, &log)?;
            Ok(out)
        })
        .await
    }

    async fn upsert_matches(
        &self,
        table: TableId,
        merge_on: &[FieldId],
        keys: &[Cells],
    ) -> StoreResult<Vec<Vec<RecordId>>> {
        let merge_on = merge_on.to_vec();
        let keys = keys.to_vec();
        self.read(move |conn| {
            require_table(conn, table.as_str())?;
            let indexed = indexed_fields(conn, table.as_str())?;
            keys.iter()
                .map(|cells| {
                    let (text, params) = match_sql(table, &merge_on, cells, indexed.clone())?;
                    let found = conn
                        .prepare_cached(&text)?
                        .query_map(params_from_iter(params), |r| id(r, 0))?
                        .collect::<rusqlite::Result<Vec<_>>>()?;
                    Ok(found)
                })
                .collect()
        })
        .await
    }

    async fn delete_records(
        &self,
        table: TableId,
        ids: &[RecordId],
        at: Timestamp,
    ) -> StoreResult<()> {
        let ids = ids.to_vec();
        let logged_at = at;
        let actor = pybase_core::store::current_actor();
        let at = fmt_time(&at);
        let single = ids.len() == 1;
        let work = move |tx: &Connection| {
            let mut stmt = tx.prepare_cached(
                "UPDATE records SET deleted_time = ?2 WHERE table_id = ?3 AND id = ?1 \
                 AND deleted_time IS NULL RETURNING json(data)",
            )?;
            let mut log = Vec::with_capacity(ids.len());
            for id in &ids {
                let Some(cells) = stmt
                    .query_row(params![id.as_str(), at, table.as_str()], |r| {
                        r.get::<_, String>(0)
                    })
                    .optional()?
                else {
                    return Err(Error::not_found("record", id));
                };
                let cells: Cells = serde_json::from_str(&cells)?;
                log.push(Entry::from(NewChange::record_deleted(table, *id, cells)));
            }
            drop(stmt);
            let mut done = computed::after_write(tx, table, ids.clone(), &[], logged_at)?;
            computed::to_log(&mut log, &mut done)?;
            changes::log_stored(tx, &at, actor, &log)
        };
        if single {
            self.write_small(work).await
        } else {
            self.write(work).await
        }
    }

    async fn restore_record(&self, table: TableId, id: RecordId) -> StoreResult<Record> {
        let actor = pybase_core::store::current_actor();
        self.write_small(move |tx| {
            let restored = tx
                .prepare_cached(concat!(
                    "UPDATE records SET deleted_time = NULL \
                     WHERE table_id = ?2 AND id = ?1 AND deleted_time IS NOT NULL RETURNING ",
                    record_columns!()
                ))?
                .query_row(params![id.as_str(), table.as_str()], record)
                .optional()?;
            if let Some(mut r) = restored {
                let mut log = vec![Entry::from(NewChange::record_restored(&r))];
                let mut done = computed::after_write(tx, table, vec![id], &[], chrono::Utc::now())?;
                done.apply_to(std::slice::from_mut(&mut r));
                computed::to_log(&mut log, &mut done)?;
                changes::log(tx, None, actor, &log)?;
                return Ok(r);
            }
            tx.prepare_cached(SELECT_ONE)?
                .query_row(params![id.as_str(), false, table.as_str()], record)
                .optional()?
                .ok_or_else(|| Error::not_found("record", id))
        })
        .await
    }

    async fn query_records(&self, query: &RecordQuery) -> StoreResult<RecordPage> {
        let (records, has_more, log_seq) = self.page_rows(query, record).await?;
        Ok(RecordPage {
            records,
            has_more,
            log_seq,
        })
    }

    async fn query_records_raw(&self, query: &RecordQuery) -> StoreResult<Option<RawRecordPage>> {
        let (records, has_more, log_seq) = self.page_rows(query, raw_record).await?;
        Ok(Some(RawRecordPage {
            records,
            has_more,
            log_seq,
        }))
    }

    async fn live_record_ids(
        &self,
        table: TableId,
        ids: &[RecordId],
    ) -> StoreResult<Vec<RecordId>> {
        let list = id_list(ids);
        self.read_small(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT id FROM records WHERE table_id = ?2 AND deleted_time IS NULL \
                 AND id IN (SELECT value FROM json_each(?1))",
            )?;
            let rows = stmt.query_map(params![list, table.as_str()], |r| id(r, 0))?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    async fn field_cells(
        &self,
        table: TableId,
        field: FieldId,
    ) -> StoreResult<Vec<(RecordId, Value)>> {
        let path = cell_path(field.as_str());
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT id, data -> ?1 FROM records WHERE table_id = ?2 \
                 AND json_type(data, ?1) IS NOT NULL ORDER BY id",
            )?;
            let rows = stmt.query_map(params![path, table.as_str()], |r| {
                Ok((id(r, 0)?, crate::rows::json(r, 1)?))
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    async fn records_linking_to(
        &self,
        _table: TableId,
        field: FieldId,
        targets: &[RecordId],
    ) -> StoreResult<Vec<(RecordId, RecordId)>> {
        let list = id_list(targets);
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT target_id, source_id FROM record_links WHERE field_id = ?1 \
                 AND target_id IN (SELECT value FROM json_each(?2)) \
                 ORDER BY target_id, source_id",
            )?;
            let rows = stmt.query_map(params![field.as_str(), list], |r| {
                Ok((id(r, 0)?, id(r, 1)?))
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    async fn recompute_records(
        &self,
        table: TableId,
        after: Option<RecordId>,
        limit: usize,
    ) -> StoreResult<Option<RecordId>> {
        let actor = pybase_core::store::current_actor();
        self.write(move |tx| {
            require_table(tx, table.as_str())?;
            let now = chrono::Utc::now();
            let (last, mut done) = computed::chunk(tx, table, after, limit, now)?;
            let log: Vec<Entry> = std::mem::take(&mut done.changes)
                .into_iter()
                .map(Entry::from)
                .collect();
            changes::log(tx, Some(&now), actor, &log)?;
            Ok(last)
        })
        .await
    }

    async fn live_records_exceed(&self, table: TableId, n: usize) -> StoreResult<bool> {
        self.read_small(move |conn| {
            require_table(conn, table.as_str())?;
            crate::fills::exceed(conn, table, n)
        })
        .await
    }

    async fn queue_fill(
        &self,
        table: TableId,
        fields: &[FieldId],
        how: pybase_core::store::computed::FillQueue,
        now: Timestamp,
    ) -> StoreResult<()> {
        let fields = fields.to_vec();
        self.write(move |tx| crate::fills::queue(tx, table, &fields, how, &now))
            .await
    }

    async fn claim_fill(
        &self,
        owner: &str,
        now: Timestamp,
        until: Timestamp,
    ) -> StoreResult<Option<TableId>> {
        let owner = owner.to_owned();
        let o = owner.clone();
        if !self
            .read_small(move |conn| crate::fills::claimable(conn, &o, &now))
            .await?
        {
            return Ok(None);
        }
        self.write(move |tx| crate::fills::claim(tx, &owner, &now, &until))
            .await
    }

    async fn fill_chunk(
        &self,
        table: TableId,
        owner: &str,
        limit: usize,
        until: Timestamp,
    ) -> StoreResult<pybase_core::store::computed::FillStep> {
        let owner = owner.to_owned();
        let actor = pybase_core::store::current_actor();
        self.write(move |tx| crate::fills::chunk(tx, table, &owner, limit, &until, actor))
            .await
    }

    async fn settle_fill(&self, table: TableId, fields: &[FieldId]) -> StoreResult<bool> {
        let fields = fields.to_vec();
        self.write(move |tx| crate::fills::settle(tx, table, &fields))
            .await
    }

    async fn create_attachment(&self, attachment: &Attachment) -> StoreResult<()> {
        let a = attachment.clone();
        let size = i64::try_from(a.size).map_err(|_| StoreError::Invalid {
            field: "size".to_owned(),
            expected: format!("at most {} bytes", i64::MAX),
        })?;
        self.write(move |tx| {
            require_table(tx, a.table_id.as_str())?;
            tx.prepare_cached(&format!(
                "INSERT INTO attachments ({ATTACHMENT_COLUMNS}) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
            ))?
            .execute(params![
                a.id.as_str(),
                a.table_id.as_str(),
                a.filename,
                a.content_type,
                size,
                a.sha256,
                a.storage_key,
                a.created_by.as_ref().map(UserId::as_str),
                fmt_time(&a.created_at),
            ])?;
            Ok(())
        })
        .await
    }

    async fn get_attachment(&self, id: AttachmentId) -> StoreResult<Attachment> {
        self.read_small(move |conn| {
            conn.prepare_cached(&format!(
                "SELECT {ATTACHMENT_COLUMNS} FROM attachments WHERE id = ?1"
            ))?
            .query_row([id.as_str()], attachment)
            .optional()?
            .ok_or_else(|| Error::not_found("attachment", id))
        })
        .await
    }

    async fn get_attachments(&self, ids: &[AttachmentId]) -> StoreResult<Vec<Attachment>> {
        let list = id_list(ids);
        self.read_small(move |conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {ATTACHMENT_COLUMNS} FROM attachments \
                 WHERE id IN (SELECT value FROM json_each(?1))"
            ))?;
            let rows = stmt.query_map([list], attachment)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }
}

impl SqliteStore {
    /// SQLite's plan for a page of `query` (`EXPLAIN QUERY PLAN`), one line
    /// per step. For checking that filters and sorts use the cell indexes.
    pub async fn explain(&self, query: &RecordQuery) -> StoreResult<Vec<String>> {
        let query = query.clone();
        self.read(move |conn| {
            let indexed = indexed_fields(conn, query.table_id.as_str())?;
            let blocked = unwalkable(conn, &query, &indexed)?;
            let (text, params) = page_sql(&query, indexed, &blocked)?;
            let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {text}"))?;
            let rows = stmt.query_map(params_from_iter(params), |r| r.get::<_, String>(3))?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use pybase_core::fields::ValueKind;
    use pybase_core::query::{Condition, Filter, Op, Operand, Target};
    use serde_json::json;

    use super::*;

    fn plan(conn: &Connection, text: &str, params: &[SqlValue]) -> String {
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {text}")).unwrap();
        let rows = stmt
            .query_map(params_from_iter(params), |r| r.get::<_, String>(3))
            .unwrap();
        rows.map(Result::unwrap).collect::<Vec<_>>().join("; ")
    }

    #[test]
    fn pages_use_the_live_index_and_merge_lookups_use_the_side_index() {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::migrate::migrate(&mut conn, crate::migrate::MIGRATIONS).unwrap();
        // Records and index rows without their table and field rows.
        conn.pragma_update(None, "foreign_keys", false).unwrap();
        let table = TableId::new();
        let (indexed, plain) = (FieldId::new(), FieldId::new());
        let query = RecordQuery {
            table_id: table,
            filter: Some(Filter::Cond(Condition {
                target: Target::Cell {
                    field: plain,
                    kind: ValueKind::Text,
                },
                op: Op::Eq,
                operand: Operand::Text("x' OR 1 --".into()),
            })),
            sort: Vec::new(),
            after: None,
            limit: 10,
            include_deleted: false,
            log_seq: false,
        };
        let (text, params) = page_sql(&query, HashSet::new(), &HashSet::new()).unwrap();
        // Paths and operands of plain fields are bound, never spliced; so
        // is the table, so one cached statement serves every table.
        assert!(
            !text.contains(plain.as_str()) && !text.contains("OR 1"),
            "{text}"
        );
        assert!(!text.contains(table.as_str()), "{text}");
        let other = RecordQuery {
            table_id: TableId::new(),
            ..query.clone()
        };
        let (other_text, _) = page_sql(&other, HashSet::new(), &HashSet::new()).unwrap();
        assert_eq!(text, other_text);
        assert!(params.contains(&SqlValue::Text(format!("$.{plain}"))));
        let p = plan(&conn, &text, &params);
        assert!(p.contains("records_live"), "{p}");

        crate::layout::index_cells(&conn, table, indexed).unwrap();
        let set = HashSet::from([indexed]);
        let cells = Cells::from_iter([(indexed.to_string(), json!("a@b.c"))]);
        let (text, params) = match_sql(table, &[indexed], &cells, set.clone()).unwrap();
        let p = plan(&conn, &text, &params);
        assert!(p.contains("cell_index_value"), "{text}\n{p}");
        // A field without a ready side index is read from the rows.
        let (text, params) = match_sql(table, &[indexed], &cells, HashSet::new()).unwrap();
        let p = plan(&conn, &text, &params);
        assert!(!p.contains("cell_index"), "{text}\n{p}");
        // A filter on the indexed field reads the side index, not the rows.
        let mut q = query.clone();
        q.filter = Some(Filter::Cond(Condition {
            target: Target::Cell {
                field: indexed,
                kind: ValueKind::Text,
            },
            op: Op::Gte,
            operand: Operand::Text("a".into()),
        }));
        let (text, params) = page_sql(&q, set, &HashSet::new()).unwrap();
        assert!(!text.contains("json_extract"), "{text}");
        let p = plan(&conn, &text, &params);
        assert!(
            p.contains("cell_index_value (field_id=? AND value>?)"),
            "{p}"
        );
    }

    #[test]
    fn sorted_pages_read_cells_of_the_page_only_and_keep_index_order() {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::migrate::migrate(&mut conn, crate::migrate::MIGRATIONS).unwrap();
        // Records and index rows without their table and field rows.
        conn.pragma_update(None, "foreign_keys", false).unwrap();
        let table = TableId::new();
        let (price, qty) = (FieldId::new(), FieldId::new());
        for i in 0..2000 {
            let cells = json!({ price.as_str(): i % 97, qty.as_str(): i % 1000 });
            conn.execute(
                &format!(
                    "INSERT INTO records (table_id, id, data, autonumber, created_time, \
                     updated_time) VALUES ('{table}', ?1, jsonb(?2), ?3, '2026-01-01T00:00:00.000Z', \
                     '2026-01-01T00:00:00.000Z')"
                ),
                params![RecordId::new().as_str(), cells.to_string(), i],
            )
            .unwrap();
        }
        // 2,000 records: the first chunk in the indexing transaction, the
        // rest step by step.
        crate::layout::index_cells(&conn, table, price).unwrap();
        assert!(crate::layout::building(&conn).unwrap());
        while crate::layout::build_step(&conn).unwrap() {}
        assert!(!crate::layout::building(&conn).unwrap());
        let entries: i64 = conn
            .query_row("SELECT count(*) FROM cell_index", [], |r| r.get(0))
            .unwrap();
        assert_eq!(entries, 2000);
        let number = |field| Target::Cell {
            field,
            kind: ValueKind::Number,
        };
        let query = RecordQuery {
            table_id: table,
            filter: Some(Filter::Cond(Condition {
                target: number(qty),
                op: Op::Gt,
                operand: Operand::Number(500.0),
            })),
            sort: vec![pybase_core::query::SortKey {
                target: number(price),
                desc: true,
            }],
            after: None,
            limit: 100,
            include_deleted: false,
            log_seq: false,
        };
        let (text, params) = page_sql(&query, HashSet::from([price]), &HashSet::new()).unwrap();
        // The cells become JSON text in the outer query only, after LIMIT.
        let inner = text.split_once("FROM (").unwrap().1;
        let inner = inner.split_once(") AS page ").unwrap().0;
        assert!(!inner.contains("json(data)"), "{text}");
        // The filter reads its cell once per row; the sort key is read
        // from the side index it walks.
        assert_eq!(inner.matches("json_extract").count(), 1, "{text}");
        assert!(inner.contains("ci.value AS k0"), "{text}");
        let p = plan(&conn, &text, &params);
        // The indexed sort key walks its side index (rows of equal price
        // are ordered by id as they come): the table is never sorted whole.
        assert!(p.contains("USING COVERING INDEX cell_index_value"), "{p}");
        assert!(!p.contains("TEMP B-TREE FOR ORDER BY"), "{p}");
    }

    /// Pages answer the same with and without the side index, on cells of
    /// mixed types (numbers, numeric text, other text, arrays, empty),
    /// soft-deleted rows, `NOT`, `in`, and sorts both ways.
    #[test]
    fn the_side_index_answers_exactly_like_the_rows() {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::migrate::migrate(&mut conn, crate::migrate::MIGRATIONS).unwrap();
        conn.pragma_update(None, "foreign_keys", false).unwrap();
        let (table, other) = (TableId::new(), TableId::new());
        let qty = FieldId::new();
        crate::layout::index_cells(&conn, table, qty).unwrap();
        let values = [
            json!(5),
            json!(1),
            json!(9.5),
            Value::Null,
            json!("12"),
            json!("abc"),
            json!([1]),
            json!(5.0),
            json!(7),
            json!(-3),
        ];
        for i in 0..60_usize {
            let v = &values[i % values.len()];
            let cells = if v.is_null() {
                json!({})
            } else {
                json!({ qty.as_str(): v })
            };
            let t = if i % 13 == 12 { other } else { table };
            let deleted = (i % 7 == 3).then_some("2026-01-02T00:00:00.000Z");
            conn.execute(
                "INSERT INTO records (table_id, id, data, autonumber, created_time, \
                 updated_time, deleted_time) VALUES (?1, ?2, jsonb(?3), ?4, \
                 '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z', ?5)",
                params![
                    t.as_str(),
                    RecordId::new().as_str(),
                    cells.to_string(),
                    i as i64,
                    deleted
                ],
            )
            .unwrap();
        }
        let number = Target::Cell {
            field: qty,
            kind: ValueKind::Number,
        };
        let cond = |op, operand| {
            Filter::Cond(Condition {
                target: number,
                op,
                operand,
            })
        };
        let filters = vec![
            None,
            Some(cond(Op::Gt, Operand::Number(4.0))),
            Some(cond(Op::Lte, Operand::Number(7.0))),
            Some(cond(Op::Eq, Operand::Number(5.0))),
            Some(cond(Op::Gte, Operand::Text("x".into()))),
            Some(cond(Op::In, Operand::NumberList(vec![1.0, 5.0, 9.5]))),
            Some(cond(Op::In, Operand::NumberList(Vec::new()))),
            Some(Filter::Not(Box::new(cond(Op::Gt, Operand::Number(4.0))))),
            Some(Filter::And(vec![
                cond(Op::Gt, Operand::Number(0.0)),
                cond(Op::Lt, Operand::Number(8.0)),
            ])),
            Some(Filter::Or(vec![
                cond(Op::Eq, Operand::Number(-3.0)),
                cond(Op::IsEmpty, Operand::None),
            ])),
        ];
        let sorts = [
            Vec::new(),
            vec![pybase_core::query::SortKey {
                target: number,
                desc: true,
            }],
            vec![pybase_core::query::SortKey {
                target: number,
                desc: false,
            }],
        ];
        let run = |q: &RecordQuery, indexed: HashSet<FieldId>| -> Vec<String> {
            let blocked = unwalkable(&conn, q, &indexed).unwrap();
            let (text, params) = page_sql(q, indexed, &blocked).unwrap();
            let mut stmt = conn.prepare(&text).unwrap();
            stmt.query_map(params_from_iter(params), |r| r.get::<_, String>(0))
                .unwrap()
                .map(Result::unwrap)
                .collect()
        };
        let mut checked = 0;
        for filter in &filters {
            for sort in &sorts {
                for include_deleted in [false, true] {
                    let q = RecordQuery {
                        table_id: table,
                        filter: filter.clone(),
                        sort: sort.clone(),
                        after: None,
                        limit: 100,
                        include_deleted,
                        log_seq: false,
                    };
                    let plain = run(&q, HashSet::new());
                    let indexed = run(&q, HashSet::from([qty]));
                    assert_eq!(indexed, plain, "{filter:?} {sort:?} {include_deleted}");
                    checked += usize::from(!plain.is_empty());
                }
            }
        }
        assert!(checked > 40, "{checked} non-empty answers compared");
    }
}
