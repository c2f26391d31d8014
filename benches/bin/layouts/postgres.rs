//! The PostgreSQL candidates, with sqlx directly: today's shared `records`
//! table with partial expression indexes per (table, field) (ascending and
//! descending, plus expression statistics, as the store makes them), one
//! table per user table, `records` LIST-partitioned by table id with the
//! indexes on each partition, and the shared table with side index tables
//! `cell_num` / `cell_text (table_id, field_id, value, record_id)`.

use anyhow::Context as _;
use serde_json::json;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::{AssertSqlSafe, Row as _};

use crate::shape::{INDEXED, KINDS, Kind, LATE, Rng, UserTable, cells, record_id, typed_cells};

/// A storage layout under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Layout {
    /// Today's: one `records` table, partial expression indexes per field.
    Shared,
    /// One physical table per user table, with its own expression indexes.
    PerTable,
    /// `records` partitioned by `LIST (table_id)`, indexes per partition.
    Partitioned,
    /// One `records` table and side index tables for every field.
    SideIndex,
}

impl Layout {
    /// The layout's name in the results.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Shared => "shared + partial indexes",
            Self::PerTable => "table per user table",
            Self::Partitioned => "LIST partition per user table",
            Self::SideIndex => "shared + side index",
        }
    }
}

const COLUMNS: &str = "
    id           TEXT COLLATE \"C\" NOT NULL,
    table_id     TEXT COLLATE \"C\" NOT NULL,
    autonumber   BIGINT NOT NULL,
    data         JSONB NOT NULL,
    created_by   TEXT COLLATE \"C\",
    updated_by   TEXT COLLATE \"C\",
    created_time TIMESTAMPTZ NOT NULL,
    updated_time TIMESTAMPTZ NOT NULL,
    deleted_time TIMESTAMPTZ,
    PRIMARY KEY (table_id, id)";

const SIDE: &str = "
CREATE TABLE cell_num (
    table_id TEXT COLLATE \"C\" NOT NULL, field_id TEXT COLLATE \"C\" NOT NULL,
    value float8 NOT NULL, record_id TEXT COLLATE \"C\" NOT NULL,
    PRIMARY KEY (table_id, field_id, value, record_id));
CREATE TABLE cell_text (
    table_id TEXT COLLATE \"C\" NOT NULL, field_id TEXT COLLATE \"C\" NOT NULL,
    value TEXT COLLATE \"C\" NOT NULL, record_id TEXT COLLATE \"C\" NOT NULL,
    PRIMARY KEY (table_id, field_id, value, record_id));";

/// The typed number of a cell, as the store's queries and indexes write it
/// (`f` is a quoted literal or a parameter).
fn number(f: &str) -> String {
    format!("(CASE WHEN jsonb_typeof(data -> {f}) = 'number' THEN (data ->> {f})::float8 END)")
}

fn text(f: &str) -> String {
    format!("((data ->> {f}) COLLATE \"C\")")
}

fn per_table(t: &UserTable) -> String {
    format!("\"r_{}\"", t.id)
}

fn partition(t: &UserTable) -> String {
    format!("\"records_{}\"", t.id)
}

/// A pool on one scratch database of one layout.
#[derive(Debug, Clone)]
pub(crate) struct Postgres {
    pool: PgPool,
    layout: Layout,
}

async fn exec(pool: &PgPool, sql: String) -> anyhow::Result<()> {
    sqlx::raw_sql(AssertSqlSafe(sql)).execute(pool).await?;
    Ok(())
}

impl Postgres {
    /// Connects to the (fresh) database at `url` and creates the layout's
    /// base tables.
    pub(crate) async fn open(url: &str, layout: Layout) -> anyhow::Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(4)
            .connect(url)
            .await
            .with_context(|| format!("connecting to {url}"))?;
        let base = match layout {
            Layout::PerTable => String::new(),
            Layout::Partitioned => format!(
                "CREATE TABLE records ({COLUMNS}) PARTITION BY LIST (table_id);
                 CREATE INDEX records_live_idx ON records (table_id, id) WHERE deleted_time IS NULL;
                 CREATE INDEX records_data_idx ON records USING GIN (data jsonb_path_ops);"
            ),
            Layout::Shared | Layout::SideIndex => format!(
                "CREATE TABLE records ({COLUMNS});
                 CREATE INDEX records_live_idx ON records (table_id, id) WHERE deleted_time IS NULL;
                 CREATE INDEX records_data_idx ON records USING GIN (data jsonb_path_ops);"
            ),
        };
        if !base.is_empty() {
            exec(&pool, base).await?;
        }
        if layout == Layout::SideIndex {
            exec(&pool, SIDE.to_owned()).await?;
        }
        Ok(Self { pool, layout })
    }

    /// Closes the pool.
    pub(crate) async fn close(self) {
        self.pool.close().await;
    }

    /// The DDL of field `k`'s indexes (ascending, descending; on the shared
    /// table also its expression statistics), `concurrently` or not.
    fn field_index_ddl(&self, t: &UserTable, k: usize, concurrently: bool) -> Vec<String> {
        let f = &t.fields[k];
        let lit = format!("'{f}'");
        let expr = match KINDS[k] {
            Kind::Number => number(&lit),
            Kind::Text => text(&lit),
        };
        let cc = if concurrently { "CONCURRENTLY " } else { "" };
        let (on, pred) = match self.layout {
            Layout::Shared => (
                "records".to_owned(),
                format!("table_id = '{}' AND deleted_time IS NULL", t.id),
            ),
            Layout::PerTable => (per_table(t), "deleted_time IS NULL".to_owned()),
            Layout::Partitioned => (partition(t), "deleted_time IS NULL".to_owned()),
            Layout::SideIndex => return Vec::new(),
        };
        let mut ddl = vec![
            format!("CREATE INDEX {cc}\"a_{f}\" ON {on} ({expr}) WHERE {pred}"),
            format!("CREATE INDEX {cc}\"d_{f}\" ON {on} ({expr} DESC NULLS LAST) WHERE {pred}"),
        ];
        if self.layout == Layout::Shared {
            ddl.push(format!(
                "CREATE STATISTICS \"s_{f}\" ON {expr} FROM records"
            ));
        }
        ddl
    }

    /// Creates user table `t` with its five indexed fields, in one
    /// transaction (for the side index, no DDL at all).
    pub(crate) async fn create_table(&self, t: &UserTable) -> anyhow::Result<()> {
        let mut ddl = Vec::new();
        match self.layout {
            Layout::PerTable => {
                let name = per_table(t);
                ddl.push(format!(
                    "CREATE TABLE {name} ({})",
                    COLUMNS
                        .replace("table_id     TEXT COLLATE \"C\" NOT NULL,", "")
                        .replace("PRIMARY KEY (table_id, id)", "PRIMARY KEY (id)")
                ));
                ddl.push(format!(
                    "CREATE INDEX \"live_{}\" ON {name} (id) WHERE deleted_time IS NULL",
                    t.id
                ));
                ddl.push(format!(
                    "CREATE INDEX \"gin_{}\" ON {name} USING GIN (data jsonb_path_ops)",
                    t.id
                ));
            }
            Layout::Partitioned => ddl.push(format!(
                "CREATE TABLE {} PARTITION OF records FOR VALUES IN ('{}')",
                partition(t),
                t.id
            )),
            Layout::Shared | Layout::SideIndex => {}
        }
        for k in 0..INDEXED {
            ddl.extend(self.field_index_ddl(t, k, false));
        }
        if !ddl.is_empty() {
            exec(&self.pool, format!("BEGIN;{};COMMIT;", ddl.join(";"))).await?;
        }
        Ok(())
    }

    fn target(&self, t: &UserTable) -> String {
        match self.layout {
            Layout::PerTable => per_table(t),
            _ => "records".to_owned(),
        }
    }

    /// Fills `t` with `n` records, 1000 per statement; returns their ids.
    pub(crate) async fn fill(
        &self,
        t: &UserTable,
        first: u64,
        n: usize,
        rng: &mut Rng,
    ) -> anyhow::Result<Vec<String>> {
        let per = self.layout == Layout::PerTable;
        let sql = if per {
            format!(
                "INSERT INTO {} (id, autonumber, data, created_time, updated_time) \
                 SELECT u.id, u.n, u.data::jsonb, now(), now() \
                 FROM UNNEST($1::text[], $3::int8[], $4::text[]) AS u(id, n, data) \
                 WHERE $2::text IS NOT NULL",
                self.target(t)
            )
        } else {
            "INSERT INTO records (id, table_id, autonumber, data, created_time, updated_time) \
             SELECT u.id, $2, u.n, u.data::jsonb, now(), now() \
             FROM UNNEST($1::text[], $3::int8[], $4::text[]) AS u(id, n, data)"
                .to_owned()
        };
        let mut all = Vec::with_capacity(n);
        let mut next = first;
        while all.len() < n {
            let batch = (n - all.len()).min(1000);
            let mut ids = Vec::with_capacity(batch);
            let mut nums = Vec::with_capacity(batch);
            let mut rows = Vec::with_capacity(batch);
            let mut side: (Vec<String>, Vec<String>, Vec<f64>) = Default::default();
            let mut side_text: (Vec<String>, Vec<String>, Vec<String>) = Default::default();
            for _ in 0..batch {
                let id = record_id(next);
                nums.push(i64::try_from(next)?);
                next += 1;
                let c = cells(t, rng);
                if self.layout == Layout::SideIndex {
                    let (ns, ts) = typed_cells(t, &c, INDEXED);
                    for (f, v) in ns {
                        side.0.push(f);
                        side.1.push(id.clone());
                        side.2.push(v);
                    }
                    for (f, v) in ts {
                        side_text.0.push(f);
                        side_text.1.push(id.clone());
                        side_text.2.push(v);
                    }
                }
                rows.push(serde_json::to_string(&c)?);
                ids.push(id);
            }
            let mut tx = self.pool.begin().await?;
            sqlx::query(AssertSqlSafe(sql.clone()))
                .bind(&ids)
                .bind(&t.id)
                .bind(&nums)
                .bind(&rows)
                .execute(&mut *tx)
                .await?;
            if self.layout == Layout::SideIndex {
                sqlx::query(
                    "INSERT INTO cell_num (table_id, field_id, record_id, value) \
                     SELECT $1, u.f, u.r, u.v FROM UNNEST($2::text[], $3::text[], $4::float8[]) \
                     AS u(f, r, v)",
                )
                .bind(&t.id)
                .bind(&side.0)
                .bind(&side.1)
                .bind(&side.2)
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "INSERT INTO cell_text (table_id, field_id, record_id, value) \
                     SELECT $1, u.f, u.r, u.v FROM UNNEST($2::text[], $3::text[], $4::text[]) \
                     AS u(f, r, v)",
                )
                .bind(&t.id)
                .bind(&side_text.0)
                .bind(&side_text.1)
                .bind(&side_text.2)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            all.extend(ids);
        }
        Ok(all)
    }

    /// One record inserted in one statement (its own transaction).
    pub(crate) async fn insert_one(
        &self,
        t: &UserTable,
        num: u64,
        rng: &mut Rng,
    ) -> anyhow::Result<()> {
        let id = record_id(num);
        let c = cells(t, rng);
        let n = i64::try_from(num)?;
        match self.layout {
            Layout::PerTable => {
                sqlx::query(AssertSqlSafe(format!(
                    "INSERT INTO {} (id, autonumber, data, created_time, updated_time) \
                     VALUES ($1, $2, $3, now(), now())",
                    per_table(t)
                )))
                .bind(&id)
                .bind(n)
                .bind(sqlx::types::Json(&c))
                .execute(&self.pool)
                .await?;
            }
            Layout::Shared | Layout::Partitioned => {
                sqlx::query(
                    "INSERT INTO records (id, table_id, autonumber, data, created_time, \
                     updated_time) VALUES ($1, $2, $3, $4, now(), now())",
                )
                .bind(&id)
                .bind(&t.id)
                .bind(n)
                .bind(sqlx::types::Json(&c))
                .execute(&self.pool)
                .await?;
            }
            Layout::SideIndex => {
                let (ns, ts) = typed_cells(t, &c, INDEXED);
                let (nf, nv): (Vec<String>, Vec<f64>) = ns.into_iter().unzip();
                let (tf, tv): (Vec<String>, Vec<String>) = ts.into_iter().unzip();
                sqlx::query(
                    "WITH r AS (INSERT INTO records (id, table_id, autonumber, data, \
                     created_time, updated_time) VALUES ($1, $2, $3, $4, now(), now())), \
                     n AS (INSERT INTO cell_num (table_id, field_id, record_id, value) \
                     SELECT $2, u.f, $1, u.v FROM UNNEST($5::text[], $6::float8[]) AS u(f, v)) \
                     INSERT INTO cell_text (table_id, field_id, record_id, value) \
                     SELECT $2, u.f, $1, u.v FROM UNNEST($7::text[], $8::text[]) AS u(f, v)",
                )
                .bind(&id)
                .bind(&t.id)
                .bind(n)
                .bind(sqlx::types::Json(&c))
                .bind(&nf)
                .bind(&nv)
                .bind(&tf)
                .bind(&tv)
                .execute(&self.pool)
                .await?;
            }
        }
        Ok(())
    }

    /// Reads one live record by id (its cells as JSON text).
    pub(crate) async fn get(&self, t: &UserTable, id: &str) -> anyhow::Result<bool> {
        let row = if self.layout == Layout::PerTable {
            sqlx::query(AssertSqlSafe(format!(
                "SELECT id, data::text FROM {} WHERE id = $1 AND deleted_time IS NULL",
                per_table(t)
            )))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
        } else {
            sqlx::query(
                "SELECT id, data::text FROM records \
                 WHERE table_id = $1 AND id = $2 AND deleted_time IS NULL",
            )
            .bind(&t.id)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
        };
        Ok(row
            .map(|r| r.try_get::<String, _>(1))
            .transpose()?
            .is_some())
    }

    /// Sets the qty cell of one record to `value` (one statement).
    pub(crate) async fn update(&self, t: &UserTable, id: &str, value: i64) -> anyhow::Result<()> {
        let patch = sqlx::types::Json(json!({ t.qty(): value }));
        match self.layout {
            Layout::PerTable => {
                sqlx::query(AssertSqlSafe(format!(
                    "UPDATE {} SET data = data || $2, updated_time = now() \
                     WHERE id = $1 AND deleted_time IS NULL",
                    per_table(t)
                )))
                .bind(id)
                .bind(patch)
                .execute(&self.pool)
                .await?;
            }
            Layout::Shared | Layout::Partitioned => {
                sqlx::query(
                    "UPDATE records SET data = data || $3, updated_time = now() \
                     WHERE table_id = $1 AND id = $2 AND deleted_time IS NULL",
                )
                .bind(&t.id)
                .bind(id)
                .bind(patch)
                .execute(&self.pool)
                .await?;
            }
            Layout::SideIndex => {
                #[allow(clippy::cast_precision_loss)]
                let new = value as f64;
                sqlx::query(
                    "WITH o AS (SELECT id, (data ->> $4)::float8 AS v FROM records \
                       WHERE table_id = $1 AND id = $2 AND deleted_time IS NULL FOR UPDATE), \
                     u AS (UPDATE records r SET data = r.data || $3, updated_time = now() \
                       FROM o WHERE r.table_id = $1 AND r.id = o.id) \
                     UPDATE cell_num c SET value = $5 FROM o \
                     WHERE c.table_id = $1 AND c.field_id = $4 AND c.value = o.v \
                     AND c.record_id = o.id",
                )
                .bind(&t.id)
                .bind(id)
                .bind(patch)
                .bind(t.qty())
                .bind(new)
                .execute(&self.pool)
                .await?;
            }
        }
        Ok(())
    }

    fn page_sql(&self, t: &UserTable) -> String {
        let (qty, price) = (number("$2"), number("$3"));
        match self.layout {
            Layout::Shared | Layout::Partitioned => format!(
                "SELECT id, data::text FROM records WHERE table_id = $1 \
                 AND deleted_time IS NULL AND {qty} > 500 \
                 ORDER BY {price} DESC NULLS LAST, id LIMIT 50"
            ),
            Layout::PerTable => format!(
                "SELECT id, data::text FROM {} WHERE $1::text IS NOT NULL \
                 AND deleted_time IS NULL AND {qty} > 500 \
                 ORDER BY {price} DESC NULLS LAST, id LIMIT 50",
                per_table(t)
            ),
            Layout::SideIndex => format!(
                "SELECT r.id, r.data::text FROM cell_num c \
                 JOIN records r ON r.table_id = c.table_id AND r.id = c.record_id \
                 WHERE c.table_id = $1 AND c.field_id = $3 AND r.deleted_time IS NULL \
                 AND {} > 500 ORDER BY c.value DESC, c.record_id LIMIT 50",
                qty.replace("data", "r.data")
            ),
        }
    }

    /// A's page: `qty > 500`, sorted by price descending then id, 50 rows,
    /// field ids bound as PyBase binds them.
    pub(crate) async fn page(&self, t: &UserTable) -> anyhow::Result<usize> {
        let rows = sqlx::query(AssertSqlSafe(self.page_sql(t)))
            .bind(&t.id)
            .bind(t.qty())
            .bind(t.price())
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.len())
    }

    /// `EXPLAIN` of A's page with its parameters substituted.
    pub(crate) async fn plan(&self, t: &UserTable) -> anyhow::Result<String> {
        let sql = self
            .page_sql(t)
            .replace("$1", &format!("'{}'", t.id))
            .replace("$2", &format!("'{}'", t.qty()))
            .replace("$3", &format!("'{}'", t.price()));
        let rows = sqlx::query(AssertSqlSafe(format!(
            "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON) {sql}"
        )))
        .fetch_all(&self.pool)
        .await?;
        let lines = rows
            .iter()
            .map(|r| r.try_get::<String, _>(0))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(lines.join("\n"))
    }

    /// Indexes the late field of `t`. DDL layouts: `CREATE INDEX` (and
    /// `ANALYZE` of the table, as the store does) in one transaction, or
    /// `CONCURRENTLY` outside one; side index: rows copied 1000 records per
    /// transaction.
    pub(crate) async fn index_late(&self, t: &UserTable, concurrently: bool) -> anyhow::Result<()> {
        if self.layout == Layout::SideIndex {
            let f = &t.fields[LATE];
            let mut after = String::new();
            loop {
                let ids: Vec<String> = sqlx::query_scalar(
                    "INSERT INTO cell_num (table_id, field_id, value, record_id) \
                     SELECT table_id, $2, (data ->> $2)::float8, id FROM records \
                     WHERE table_id = $1 AND id > $3 AND deleted_time IS NULL \
                     ORDER BY id LIMIT 1000 RETURNING record_id",
                )
                .bind(&t.id)
                .bind(f)
                .bind(&after)
                .fetch_all(&self.pool)
                .await?;
                match ids.into_iter().max() {
                    Some(last) => after = last,
                    None => return Ok(()),
                }
            }
        }
        let ddl = self.field_index_ddl(t, LATE, concurrently);
        if concurrently {
            for d in ddl {
                exec(&self.pool, d).await?;
            }
        } else {
            let analyze = match self.layout {
                Layout::PerTable => per_table(t),
                Layout::Partitioned => partition(t),
                _ => "records".to_owned(),
            };
            exec(
                &self.pool,
                format!("BEGIN;{};ANALYZE {analyze};COMMIT;", ddl.join(";")),
            )
            .await?;
        }
        Ok(())
    }

    /// Drops the late field's indexes and statistics (to build them again).
    pub(crate) async fn drop_late(&self, t: &UserTable) -> anyhow::Result<()> {
        let f = &t.fields[LATE];
        exec(
            &self.pool,
            format!(
                "DROP INDEX IF EXISTS \"a_{f}\"; DROP INDEX IF EXISTS \"d_{f}\"; \
                 DROP STATISTICS IF EXISTS \"s_{f}\";"
            ),
        )
        .await
    }

    /// A database-wide `ANALYZE`.
    pub(crate) async fn analyze(&self) -> anyhow::Result<()> {
        exec(&self.pool, "ANALYZE".to_owned()).await
    }
}
