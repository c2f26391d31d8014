//! The SQLite candidates, with rusqlite directly: today's shared `records`
//! table with a partial expression index per (table, field), one table per
//! user table with its own expression indexes, and the shared table with
//! one side index table `cells (table_id, field_id, value, record_id)`
//! maintained on writes.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use rusqlite::{Connection, OptionalExtension as _, ToSql, params};
use serde_json::{Map, Value};

use crate::shape::{INDEXED, LATE, Rng, UserTable, record_id, typed_cells};

/// A storage layout under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Layout {
    /// Today's: one `records` table, a partial expression index per field.
    Shared,
    /// One physical table per user table, with its own expression indexes.
    PerTable,
    /// One `records` table and one side index table for every field.
    SideIndex,
}

impl Layout {
    /// The layout's name in the results.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Shared => "shared + partial indexes",
            Self::PerTable => "table per user table",
            Self::SideIndex => "shared + side index",
        }
    }
}

const RECORDS: &str = "
CREATE TABLE IF NOT EXISTS records (
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
CREATE INDEX IF NOT EXISTS records_table ON records (table_id, id);
CREATE INDEX IF NOT EXISTS records_live ON records (table_id, id) WHERE deleted_time IS NULL;
";

const CELLS: &str = "
CREATE TABLE IF NOT EXISTS cells (
    table_id  TEXT NOT NULL,
    field_id  TEXT NOT NULL,
    value     ANY,
    record_id TEXT NOT NULL,
    PRIMARY KEY (table_id, field_id, value, record_id)
) WITHOUT ROWID;
";

const NOW: &str = "2026-11-28T12:00:00.000Z";

/// One connection to a database of one layout.
#[derive(Debug)]
pub(crate) struct Sqlite {
    conn: Connection,
    layout: Layout,
    path: PathBuf,
    next: u64,
}

fn per_table(t: &UserTable) -> String {
    format!("\"r_{}\"", t.id)
}

fn path_of(field: &str) -> String {
    format!("'$.{field}'")
}

impl Sqlite {
    /// Opens (creating) the database at `path` with PyBase's settings; new
    /// record ids start at `first_id`.
    pub(crate) fn open(path: &Path, layout: Layout, first_id: u64) -> anyhow::Result<Self> {
        let conn = Connection::open(path).with_context(|| format!("opening {}", path.display()))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.busy_timeout(Duration::from_secs(60))?;
        conn.set_prepared_statement_cache_capacity(64);
        match layout {
            Layout::Shared => conn.execute_batch(RECORDS)?,
            Layout::PerTable => {}
            Layout::SideIndex => {
                conn.execute_batch(RECORDS)?;
                conn.execute_batch(CELLS)?;
            }
        }
        Ok(Self {
            conn,
            layout,
            path: path.to_owned(),
            next: first_id,
        })
    }

    /// Another connection to the same database (for a concurrent writer).
    pub(crate) fn reopen(&self, first_id: u64) -> anyhow::Result<Self> {
        Self::open(&self.path, self.layout, first_id)
    }

    /// Opens a new connection and runs a first statement on A, which makes
    /// SQLite read and parse the whole schema.
    pub(crate) fn time_open(&self, a: &UserTable) -> anyhow::Result<()> {
        let conn = Connection::open(&self.path)?;
        let from = match self.layout {
            Layout::PerTable => per_table(a),
            _ => "records".to_owned(),
        };
        let _: Option<String> = conn
            .query_row(&format!("SELECT id FROM {from} LIMIT 1"), [], |r| r.get(0))
            .optional()?;
        Ok(())
    }

    fn field_index_ddl(&self, t: &UserTable, k: usize) -> String {
        let f = &t.fields[k];
        let expr = format!("json_extract(data, {})", path_of(f));
        match self.layout {
            Layout::Shared => format!(
                "CREATE INDEX \"cell_{f}\" ON records ({expr}) WHERE table_id = '{}';",
                t.id
            ),
            Layout::PerTable => {
                format!("CREATE INDEX \"cell_{f}\" ON {} ({expr});", per_table(t))
            }
            Layout::SideIndex => String::new(),
        }
    }

    /// Creates user table `t` with its five indexed fields (for the side
    /// index, a table needs no DDL at all).
    pub(crate) fn create_table(&self, t: &UserTable) -> anyhow::Result<()> {
        let mut ddl = String::new();
        if self.layout == Layout::PerTable {
            let name = per_table(t);
            ddl.push_str(&format!(
                "CREATE TABLE {name} (
                    id TEXT PRIMARY KEY NOT NULL, data BLOB NOT NULL,
                    autonumber INTEGER NOT NULL, created_by TEXT, updated_by TEXT,
                    created_time TEXT NOT NULL, updated_time TEXT NOT NULL,
                    deleted_time TEXT);
                 CREATE INDEX \"live_{}\" ON {name} (id) WHERE deleted_time IS NULL;",
                t.id
            ));
        }
        for k in 0..INDEXED {
            ddl.push_str(&self.field_index_ddl(t, k));
        }
        if !ddl.is_empty() {
            self.conn.execute_batch(&format!("BEGIN;{ddl}COMMIT;"))?;
        }
        Ok(())
    }

    fn insert_sql(&self, t: &UserTable) -> String {
        match self.layout {
            Layout::PerTable => format!(
                "INSERT INTO {} (id, data, autonumber, created_time, updated_time) \
                 VALUES (?1, jsonb(?3), ?4, ?5, ?5)",
                per_table(t)
            ),
            _ => "INSERT INTO records (id, table_id, data, autonumber, created_time, \
                  updated_time) VALUES (?1, ?2, jsonb(?3), ?4, ?5, ?5)"
                .to_owned(),
        }
    }

    /// Inserts one record inside the caller's transaction (side-index rows
    /// too); returns its id.
    fn insert_in(
        conn: &Connection,
        layout: Layout,
        sql: &str,
        t: &UserTable,
        num: u64,
        cells: &Map<String, Value>,
    ) -> anyhow::Result<String> {
        let id = record_id(num);
        let data = serde_json::to_string(cells)?;
        let n = i64::try_from(num)?;
        conn.prepare_cached(sql)?
            .execute(params![id, t.id, data, n, NOW])?;
        if layout == Layout::SideIndex {
            let (nums, texts) = typed_cells(t, cells, INDEXED);
            let mut side = conn.prepare_cached(
                "INSERT INTO cells (table_id, field_id, value, record_id) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for (f, v) in nums {
                side.execute(params![t.id, f, v, id])?;
            }
            for (f, v) in texts {
                side.execute(params![t.id, f, v, id])?;
            }
        }
        Ok(id)
    }

    /// Fills `t` with `n` records, 1000 per transaction; returns their ids.
    pub(crate) fn fill(
        &mut self,
        t: &UserTable,
        n: usize,
        rng: &mut Rng,
    ) -> anyhow::Result<Vec<String>> {
        let sql = self.insert_sql(t);
        let mut ids = Vec::with_capacity(n);
        let mut left = n;
        while left > 0 {
            let batch = left.min(1000);
            let tx = self.conn.transaction()?;
            for _ in 0..batch {
                let num = self.next;
                self.next += 1;
                ids.push(Self::insert_in(
                    &tx,
                    self.layout,
                    &sql,
                    t,
                    num,
                    &crate::shape::cells(t, rng),
                )?);
            }
            tx.commit()?;
            left -= batch;
        }
        Ok(ids)
    }

    /// One record inserted in its own transaction.
    pub(crate) fn insert_one(&mut self, t: &UserTable, rng: &mut Rng) -> anyhow::Result<String> {
        let sql = self.insert_sql(t);
        let num = self.next;
        self.next += 1;
        let cells = crate::shape::cells(t, rng);
        if self.layout == Layout::SideIndex {
            let tx = self.conn.transaction()?;
            let id = Self::insert_in(&tx, self.layout, &sql, t, num, &cells)?;
            tx.commit()?;
            Ok(id)
        } else {
            Self::insert_in(&self.conn, self.layout, &sql, t, num, &cells)
        }
    }

    /// Reads one live record by id (its cells as JSON text).
    pub(crate) fn get(&self, t: &UserTable, id: &str) -> anyhow::Result<bool> {
        let (sql, args): (String, Vec<&dyn ToSql>) = match self.layout {
            Layout::PerTable => (
                format!(
                    "SELECT id, json(data), autonumber FROM {} \
                     WHERE id = ?1 AND deleted_time IS NULL",
                    per_table(t)
                ),
                vec![&id],
            ),
            _ => (
                "SELECT id, json(data), autonumber FROM records \
                 WHERE id = ?2 AND table_id = ?1 AND deleted_time IS NULL"
                    .to_owned(),
                vec![&t.id, &id],
            ),
        };
        let found: Option<String> = self
            .conn
            .prepare_cached(&sql)?
            .query_row(args.as_slice(), |r| r.get(1))
            .optional()?;
        Ok(found.is_some())
    }

    /// Sets the qty cell of one record to `value`.
    pub(crate) fn update(&mut self, t: &UserTable, id: &str, value: i64) -> anyhow::Result<()> {
        let qty = path_of(t.qty());
        match self.layout {
            Layout::PerTable => {
                let sql = format!(
                    "UPDATE {} SET data = jsonb_set(data, {qty}, ?2), updated_time = ?3 \
                     WHERE id = ?1 AND deleted_time IS NULL",
                    per_table(t)
                );
                self.conn
                    .prepare_cached(&sql)?
                    .execute(params![id, value, NOW])?;
            }
            Layout::Shared => {
                let sql = format!(
                    "UPDATE records SET data = jsonb_set(data, {qty}, ?3), updated_time = ?4 \
                     WHERE id = ?2 AND table_id = ?1 AND deleted_time IS NULL"
                );
                self.conn
                    .prepare_cached(&sql)?
                    .execute(params![t.id, id, value, NOW])?;
            }
            Layout::SideIndex => {
                let tx = self.conn.transaction()?;
                let old: Option<f64> = tx
                    .prepare_cached(&format!(
                        "SELECT json_extract(data, {qty}) FROM records \
                         WHERE id = ?2 AND table_id = ?1 AND deleted_time IS NULL"
                    ))?
                    .query_row(params![t.id, id], |r| r.get(0))
                    .optional()?
                    .flatten();
                tx.prepare_cached(&format!(
                    "UPDATE records SET data = jsonb_set(data, {qty}, ?3), updated_time = ?4 \
                     WHERE id = ?2 AND table_id = ?1 AND deleted_time IS NULL"
                ))?
                .execute(params![t.id, id, value, NOW])?;
                #[allow(clippy::cast_precision_loss)]
                let new = value as f64;
                tx.prepare_cached(
                    "UPDATE cells SET value = ?4 WHERE table_id = ?1 AND field_id = ?2 \
                     AND value = ?5 AND record_id = ?3",
                )?
                .execute(params![t.id, t.qty(), id, new, old])?;
                tx.commit()?;
            }
        }
        Ok(())
    }

    fn page_sql(&self, t: &UserTable) -> (String, bool) {
        let (qty, price) = (path_of(t.qty()), path_of(t.price()));
        match self.layout {
            Layout::Shared => (
                format!(
                    "SELECT id, json(data) FROM records WHERE table_id = ?1 \
                     AND deleted_time IS NULL AND json_extract(data, {qty}) > 500 \
                     ORDER BY json_extract(data, {price}) DESC, id LIMIT 50"
                ),
                true,
            ),
            Layout::PerTable => (
                format!(
                    "SELECT id, json(data) FROM {} WHERE deleted_time IS NULL \
                     AND json_extract(data, {qty}) > 500 \
                     ORDER BY json_extract(data, {price}) DESC, id LIMIT 50",
                    per_table(t)
                ),
                false,
            ),
            Layout::SideIndex => (
                format!(
                    "SELECT r.id, json(r.data) FROM cells AS c CROSS JOIN records AS r \
                     ON r.id = c.record_id \
                     WHERE c.table_id = ?1 AND c.field_id = '{}' AND r.table_id = ?1 \
                     AND r.deleted_time IS NULL AND json_extract(r.data, {qty}) > 500 \
                     ORDER BY c.value DESC, c.record_id LIMIT 50",
                    t.price()
                ),
                true,
            ),
        }
    }

    /// A's page: `qty > 500`, sorted by price descending then id, 50 rows.
    pub(crate) fn page(&self, t: &UserTable) -> anyhow::Result<usize> {
        let (sql, bound) = self.page_sql(t);
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let mut rows = if bound {
            stmt.query([&t.id])?
        } else {
            stmt.query([])?
        };
        let mut n = 0;
        while let Some(r) = rows.next()? {
            let _: String = r.get(1)?;
            n += 1;
        }
        Ok(n)
    }

    /// `EXPLAIN QUERY PLAN` of A's page.
    pub(crate) fn plan(&self, t: &UserTable) -> anyhow::Result<String> {
        let (sql, bound) = self.page_sql(t);
        let mut stmt = self.conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
        let args: Vec<&dyn ToSql> = if bound { vec![&t.id] } else { Vec::new() };
        let rows = stmt
            .query_map(args.as_slice(), |r| r.get::<_, String>(3))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows.join("\n"))
    }

    /// Indexes the late field of `t`: one `CREATE INDEX` for the DDL
    /// layouts; for the side index, its rows copied 1000 records per
    /// transaction.
    pub(crate) fn index_late(&mut self, t: &UserTable) -> anyhow::Result<()> {
        if self.layout != Layout::SideIndex {
            self.conn.execute_batch(&self.field_index_ddl(t, LATE))?;
            return Ok(());
        }
        let f = &t.fields[LATE];
        let sql = format!(
            "INSERT INTO cells (table_id, field_id, value, record_id) \
             SELECT table_id, '{f}', json_extract(data, {}), id FROM records \
             WHERE table_id = ?1 AND id > ?2 AND deleted_time IS NULL ORDER BY id LIMIT 1000 \
             RETURNING record_id",
            path_of(f)
        );
        let mut after = String::new();
        loop {
            let tx = self.conn.transaction()?;
            let ids = tx
                .prepare_cached(&sql)?
                .query_map(params![t.id, after], |r| r.get::<_, String>(0))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            tx.commit()?;
            match ids.into_iter().max() {
                Some(last) => after = last,
                None => return Ok(()),
            }
        }
    }

    /// A database-wide `ANALYZE`.
    pub(crate) fn analyze(&self) -> anyhow::Result<()> {
        self.conn.execute_batch("ANALYZE")?;
        Ok(())
    }
}
