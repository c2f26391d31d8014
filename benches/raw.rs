//! The raw ceilings: the same rows written and read with the driver
//! directly, on a table shaped like PyBase's `records` (same columns, same
//! keys, the same cell indexes where PyBase has them), with none of PyBase's
//! work (permissions, validation, rendering).

use std::path::Path;
use std::sync::Mutex;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use pybase_core::ids::{FieldId, RecordId, TableId};

use crate::data::row;
use crate::fixture::BenchTable;
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::{Map, Value};
use sqlx::Row as _;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::types::Json;

/// A record as the raw ceilings read it: its columns, cells decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct RawRecord {
    /// Record id.
    pub id: String,
    /// Cells keyed by field id.
    pub data: Value,
    /// Autonumber.
    pub autonumber: i64,
}

/// The cursor of a raw keyset page: the last id seen.
pub type RawCursor = Option<String>;

/// Which page query to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RawPage {
    /// `Qty > 500`, sorted by `Price` descending then id.
    FilterSort {
        /// The number field filtered on.
        qty: FieldId,
        /// The currency field sorted by.
        price: FieldId,
    },
    /// `Kind = 'Bolt'` in id order.
    SelectEq {
        /// The single-select field.
        kind: FieldId,
    },
    /// Every record in id order, after a cursor.
    Walk,
}

// ---------------------------------------------------------------- SQLite --

/// SQLite through rusqlite: prepared statements, one transaction per batch.
#[derive(Debug)]
pub struct RawSqlite {
    conn: Connection,
}

const SQLITE_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS raw_records (
    id           TEXT PRIMARY KEY NOT NULL,
    table_id     TEXT NOT NULL,
    data         BLOB NOT NULL,
    autonumber   INTEGER NOT NULL,
    created_by   TEXT,
    updated_by   TEXT,
    created_time TEXT NOT NULL,
    updated_time TEXT NOT NULL,
    deleted_time TEXT
);
CREATE INDEX IF NOT EXISTS raw_records_table ON raw_records (table_id, id);
CREATE INDEX IF NOT EXISTS raw_records_live ON raw_records (table_id, id) WHERE deleted_time IS NULL;
";

fn now_text() -> String {
    Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

fn sqlite_record(r: &rusqlite::Row<'_>) -> rusqlite::Result<(String, String, i64)> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
}

fn decode((id, data, autonumber): (String, String, i64)) -> anyhow::Result<RawRecord> {
    Ok(RawRecord {
        id,
        data: serde_json::from_str(&data)?,
        autonumber,
    })
}

impl RawSqlite {
    /// Opens (creating) a database file with PyBase's settings (WAL,
    /// `synchronous=NORMAL`) and the mirrored table.
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        let conn = Connection::open(path).with_context(|| format!("opening {}", path.display()))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.set_prepared_statement_cache_capacity(64);
        conn.execute_batch(SQLITE_SCHEMA)?;
        Ok(Self { conn })
    }

    /// Inserts one batch of rows in one transaction with one prepared
    /// statement; ids are made here, as PyBase makes them.
    pub fn insert_batch(
        &mut self,
        table: TableId,
        rows: &[Map<String, Value>],
        first_autonumber: i64,
    ) -> anyhow::Result<Vec<String>> {
        let now = now_text();
        let ms = Utc::now().timestamp_millis();
        let tx = self.conn.transaction()?;
        let mut ids = Vec::with_capacity(rows.len());
        {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO raw_records (id, table_id, data, autonumber, created_time, \
                 updated_time) VALUES (?1, ?2, jsonb(?3), ?4, ?5, ?5)",
            )?;
            for (row, n) in rows.iter().zip(first_autonumber..) {
                let id = RecordId::at(ms).to_string();
                let data = serde_json::to_string(row)?;
                stmt.execute(params![id, table.as_str(), data, n, now])?;
                ids.push(id);
            }
        }
        tx.commit()?;
        Ok(ids)
    }

    /// One record by id, cells decoded.
    pub fn get(&self, id: &str) -> anyhow::Result<Option<RawRecord>> {
        let found = self
            .conn
            .prepare_cached(
                "SELECT id, json(data), autonumber FROM raw_records \
                 WHERE id = ?1 AND deleted_time IS NULL",
            )?
            .query_row([id], sqlite_record)
            .optional()?;
        found.map(decode).transpose()
    }

    /// Sets one number cell (one statement, its own transaction).
    pub fn update_cell(&self, id: &str, field: FieldId, value: i64) -> anyhow::Result<bool> {
        let path = format!("$.{field}");
        let n = self
            .conn
            .prepare_cached(
                "UPDATE raw_records SET data = jsonb_set(data, ?2, ?3), updated_time = ?4 \
                 WHERE id = ?1 AND deleted_time IS NULL",
            )?
            .execute(params![id, path, value, now_text()])?;
        Ok(n == 1)
    }

    /// Creates the expression index PyBase creates for an indexed field.
    pub fn index(&self, table: TableId, field: FieldId) -> anyhow::Result<()> {
        self.conn.execute_batch(&format!(
            "CREATE INDEX IF NOT EXISTS \"raw_cell_{field}\" ON raw_records \
             (json_extract(data, '$.{field}')) WHERE table_id = '{table}'; ANALYZE raw_records;"
        ))?;
        Ok(())
    }

    fn page_sql(table: TableId, page: RawPage, after: bool) -> String {
        let cols = "SELECT id, json(data), autonumber FROM raw_records";
        let live = format!("table_id = '{table}' AND deleted_time IS NULL");
        match page {
            RawPage::FilterSort { qty, price } => format!(
                "{cols} WHERE {live} AND json_extract(data, '$.{qty}') > 500 \
                 ORDER BY json_extract(data, '$.{price}') DESC, id LIMIT ?1"
            ),
            RawPage::SelectEq { kind } => format!(
                "{cols} WHERE {live} AND json_extract(data, '$.{kind}') = 'Bolt' \
                 ORDER BY id LIMIT ?1"
            ),
            RawPage::Walk if after => {
                format!("{cols} WHERE {live} AND id > ?2 ORDER BY id LIMIT ?1")
            }
            RawPage::Walk => format!("{cols} WHERE {live} ORDER BY id LIMIT ?1"),
        }
    }

    /// One page of `limit` records (one more is fetched to tell whether
    /// another page follows, as PyBase does).
    pub fn page(
        &self,
        table: TableId,
        page: RawPage,
        after: &RawCursor,
        limit: usize,
    ) -> anyhow::Result<Vec<RawRecord>> {
        let sql = Self::page_sql(table, page, after.is_some());
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let fetch = i64::try_from(limit + 1)?;
        let rows = match after {
            Some(a) => stmt
                .query_map(params![fetch, a], sqlite_record)?
                .collect::<rusqlite::Result<Vec<_>>>()?,
            None => stmt
                .query_map(params![fetch], sqlite_record)?
                .collect::<rusqlite::Result<Vec<_>>>()?,
        };
        let mut out = rows
            .into_iter()
            .map(decode)
            .collect::<anyhow::Result<Vec<_>>>()?;
        out.truncate(limit);
        Ok(out)
    }

    /// SQLite's plan for a page query.
    pub fn explain(&self, table: TableId, page: RawPage) -> anyhow::Result<String> {
        let sql = Self::page_sql(table, page, false);
        let mut stmt = self.conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
        let lines = stmt
            .query_map([101], |r| r.get::<_, String>(3))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(lines.join("\n"))
    }
}

// ------------------------------------------------------------ PostgreSQL --

/// PostgreSQL through sqlx: multi-row `INSERT ... SELECT FROM UNNEST`, one
/// transaction per batch.
#[derive(Debug, Clone)]
pub struct RawPg {
    pool: PgPool,
}

/// The expression PyBase's PostgreSQL store indexes and queries for a
/// number cell.
fn pg_number(field: FieldId) -> String {
    format!(
        "(CASE WHEN jsonb_typeof(data -> '{field}') = 'number' \
         THEN (data ->> '{field}')::float8 END)"
    )
}

impl RawPg {
    /// Connects and creates the mirrored tables: `raw_records` with PyBase's
    /// indexes (primary key, live rows, GIN on cells) and `raw_records_nogin`
    /// without the GIN index.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .connect(url)
            .await
            .context("connecting to PostgreSQL")?;
        for (name, gin) in [("raw_records", true), ("raw_records_nogin", false)] {
            let mut ddl = format!(
                "CREATE TABLE IF NOT EXISTS {name} (
                    id           TEXT COLLATE \"C\" NOT NULL,
                    table_id     TEXT COLLATE \"C\" NOT NULL,
                    autonumber   BIGINT NOT NULL,
                    data         JSONB NOT NULL,
                    created_by   TEXT COLLATE \"C\",
                    updated_by   TEXT COLLATE \"C\",
                    created_time TIMESTAMPTZ NOT NULL,
                    updated_time TIMESTAMPTZ NOT NULL,
                    deleted_time TIMESTAMPTZ,
                    PRIMARY KEY (table_id, id));
                 CREATE INDEX IF NOT EXISTS {name}_live ON {name} (table_id, id)
                    WHERE deleted_time IS NULL;"
            );
            if gin {
                ddl.push_str(&format!(
                    "CREATE INDEX IF NOT EXISTS {name}_data ON {name} USING GIN (data jsonb_path_ops);"
                ));
            }
            sqlx::raw_sql(sqlx::AssertSqlSafe(ddl))
                .execute(&pool)
                .await?;
        }
        Ok(Self { pool })
    }

    /// Inserts one batch with one multi-row statement in one transaction;
    /// `gin` picks the table with the GIN index.
    pub async fn insert_batch(
        &self,
        table: TableId,
        rows: &[Map<String, Value>],
        first_autonumber: i64,
        gin: bool,
    ) -> anyhow::Result<Vec<String>> {
        let ms = Utc::now().timestamp_millis();
        let ids: Vec<String> = rows.iter().map(|_| RecordId::at(ms).to_string()).collect();
        let numbers: Vec<i64> = (first_autonumber..).take(rows.len()).collect();
        let data = rows
            .iter()
            .map(serde_json::to_string)
            .collect::<Result<Vec<_>, _>>()?;
        let name = if gin {
            "raw_records"
        } else {
            "raw_records_nogin"
        };
        let sql = format!(
            "INSERT INTO {name} (id, table_id, autonumber, data, created_time, updated_time) \
             SELECT u.id, $2, u.n, u.data::jsonb, $5, $5 \
             FROM UNNEST($1::text[], $3::int8[], $4::text[]) AS u(id, n, data)"
        );
        let mut tx = self.pool.begin().await?;
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&ids)
            .bind(table.as_str())
            .bind(&numbers)
            .bind(&data)
            .bind(Utc::now())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(ids)
    }

    /// One record by id, cells decoded.
    pub async fn get(&self, table: TableId, id: &str) -> anyhow::Result<Option<RawRecord>> {
        let row = sqlx::query(
            "SELECT id, data, autonumber, created_time FROM raw_records \
             WHERE table_id = $1 AND id = $2 AND deleted_time IS NULL",
        )
        .bind(table.as_str())
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| pg_record(&r)).transpose()
    }

    /// Merges one number cell into a record (one statement).
    pub async fn update_cell(
        &self,
        table: TableId,
        id: &str,
        field: FieldId,
        value: i64,
    ) -> anyhow::Result<bool> {
        let patch = serde_json::json!({ field.as_str(): value });
        let done = sqlx::query(
            "UPDATE raw_records SET data = data || $3, updated_time = $4 \
             WHERE table_id = $1 AND id = $2 AND deleted_time IS NULL",
        )
        .bind(table.as_str())
        .bind(id)
        .bind(Json(patch))
        .bind(Utc::now())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Creates the expression index PyBase's PostgreSQL store creates for an
    /// indexed number field, and refreshes statistics.
    pub async fn index_number(&self, table: TableId, field: FieldId) -> anyhow::Result<()> {
        let ddl = format!(
            "CREATE INDEX IF NOT EXISTS \"raw_num_{field}\" ON raw_records ({}) \
             WHERE table_id = '{table}' AND deleted_time IS NULL",
            pg_number(field)
        );
        sqlx::raw_sql(sqlx::AssertSqlSafe(ddl))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// `ANALYZE` of the mirrored table.
    pub async fn analyze(&self) -> anyhow::Result<()> {
        sqlx::raw_sql("ANALYZE raw_records")
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    fn page_sql(table: TableId, page: RawPage, after: bool) -> String {
        let cols = "SELECT id, data, autonumber, created_time FROM raw_records";
        let live = format!("table_id = '{table}' AND deleted_time IS NULL");
        match page {
            RawPage::FilterSort { qty, price } => format!(
                "{cols} WHERE {live} AND {} > 500 ORDER BY {} DESC, id LIMIT $1",
                pg_number(qty),
                pg_number(price)
            ),
            RawPage::SelectEq { kind } => format!(
                "{cols} WHERE {live} AND data @> '{{\"{kind}\": \"Bolt\"}}'::jsonb \
                 ORDER BY id LIMIT $1"
            ),
            RawPage::Walk if after => {
                format!("{cols} WHERE {live} AND id > $2 ORDER BY id LIMIT $1")
            }
            RawPage::Walk => format!("{cols} WHERE {live} ORDER BY id LIMIT $1"),
        }
    }

    /// One page of `limit` records (fetching one more, as PyBase does).
    pub async fn page(
        &self,
        table: TableId,
        page: RawPage,
        after: &RawCursor,
        limit: usize,
    ) -> anyhow::Result<Vec<RawRecord>> {
        let sql = Self::page_sql(table, page, after.is_some());
        let fetch = i64::try_from(limit + 1)?;
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(fetch);
        if let Some(a) = after {
            q = q.bind(a.clone());
        }
        let rows = q.fetch_all(&self.pool).await?;
        let mut out = rows
            .iter()
            .map(pg_record)
            .collect::<anyhow::Result<Vec<_>>>()?;
        out.truncate(limit);
        Ok(out)
    }

    /// PostgreSQL's plan for a page query, with `EXPLAIN ANALYZE`.
    pub async fn explain(&self, table: TableId, page: RawPage) -> anyhow::Result<String> {
        let sql = format!(
            "EXPLAIN (ANALYZE, COSTS OFF) {}",
            Self::page_sql(table, page, false)
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(101_i64)
            .fetch_all(&self.pool)
            .await?;
        let lines = rows
            .iter()
            .map(|r| r.try_get::<String, _>(0))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(lines.join("\n"))
    }
}

fn pg_record(r: &sqlx::postgres::PgRow) -> anyhow::Result<RawRecord> {
    let Json(data): Json<Value> = r.try_get(1)?;
    let _created: DateTime<Utc> = r.try_get(3)?;
    Ok(RawRecord {
        id: r.try_get(0)?,
        data,
        autonumber: r.try_get(2)?,
    })
}

// ---------------------------------------------------- either backend --

/// The raw ceiling of one backend.
pub enum Raw {
    /// rusqlite on its own file.
    Sqlite(Mutex<RawSqlite>),
    /// sqlx on its own database.
    Pg(RawPg),
}

impl Raw {
    /// Inserts one batch; answers the new ids.
    pub async fn insert(
        &self,
        table: TableId,
        rows: &[Map<String, Value>],
        first: i64,
    ) -> Vec<String> {
        match self {
            Self::Sqlite(r) => r
                .lock()
                .expect("raw sqlite lock")
                .insert_batch(table, rows, first)
                .expect("raw insert"),
            Self::Pg(r) => r
                .insert_batch(table, rows, first, true)
                .await
                .expect("raw insert"),
        }
    }

    /// Reads one record; panics if it is missing (a bench invariant).
    pub async fn get(&self, table: TableId, id: &str) {
        let found = match self {
            Self::Sqlite(r) => r.lock().expect("raw sqlite lock").get(id),
            Self::Pg(r) => r.get(table, id).await,
        };
        assert!(found.expect("raw get").is_some(), "raw record {id} missing");
    }

    /// Sets one number cell; panics if the record is missing.
    pub async fn update(&self, table: TableId, id: &str, field: FieldId, v: i64) {
        let done = match self {
            Self::Sqlite(r) => r.lock().expect("raw sqlite lock").update_cell(id, field, v),
            Self::Pg(r) => r.update_cell(table, id, field, v).await,
        };
        assert!(done.expect("raw update"), "raw record {id} missing");
    }

    /// One page of ids.
    pub async fn page(
        &self,
        table: TableId,
        page: RawPage,
        after: &RawCursor,
        limit: usize,
    ) -> Vec<String> {
        let rows = match self {
            Self::Sqlite(r) => r
                .lock()
                .expect("raw sqlite lock")
                .page(table, page, after, limit),
            Self::Pg(r) => r.page(table, page, after, limit).await,
        };
        rows.expect("raw page").into_iter().map(|r| r.id).collect()
    }

    /// The plan of a page query, as text.
    pub async fn explain(&self, table: TableId, page: RawPage) -> String {
        match self {
            Self::Sqlite(r) => r.lock().expect("raw sqlite lock").explain(table, page),
            Self::Pg(r) => r.explain(table, page).await,
        }
        .unwrap_or_else(|e| format!("(no plan: {e})"))
    }
}

/// Rows `0..n` keyed by `table`'s field ids, as batches for the raw driver.
pub fn raw_batches(
    table: &BenchTable,
    from: usize,
    to: usize,
    batch: usize,
) -> Vec<Vec<Map<String, Value>>> {
    let keys: Vec<String> = table.fields.iter().map(ToString::to_string).collect();
    let rows: Vec<Map<String, Value>> = (from..to).map(|i| row(i as u64).keyed(&keys)).collect();
    rows.chunks(batch).map(<[_]>::to_vec).collect()
}

/// Inserts `batches` through `raw`, autonumbers from 1; answers the ids.
pub async fn raw_fill(
    raw: &Raw,
    table: TableId,
    batches: &[Vec<Map<String, Value>>],
) -> Vec<String> {
    let mut ids = Vec::new();
    let mut n = 1;
    for b in batches {
        ids.extend(raw.insert(table, b, n).await);
        n += i64::try_from(b.len()).unwrap_or(0);
    }
    ids
}
