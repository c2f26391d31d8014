//! The physical layout of records: one PostgreSQL table per user table.
//!
//! Each user table `tbl…` keeps its records in its own table `r_tbl…` with
//! its own primary key, live-rows index, GIN index and the cell indexes of
//! its indexed fields. An insert opens and checks only that table's
//! indexes, the planner looks at only those, statistics (and autovacuum's
//! `ANALYZE`) are per table, and index DDL locks only that table: the cost
//! of an operation does not grow with the rest of the database (see
//! `benches/ANALYSIS.md`, "Choosing the storage layout").
//!
//! DDL takes no parameters, so ids are spliced into it; [`ddl_id`] checks
//! each one again (17 base62 characters) before it is.

use pybase_core::ids::TableId;
use pybase_core::{StoreError, StoreResult};
use sqlx::{AssertSqlSafe, PgConnection, PgPool};

use crate::error::ResultExt;

/// An id checked once more before it is written into SQL text: only the
/// 17 base62 characters core's id types allow.
pub(crate) fn ddl_id(id: &str) -> StoreResult<&str> {
    if id.len() == pybase_core::ids::ID_LEN && id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Ok(id)
    } else {
        Err(StoreError::Invalid {
            field: "id".to_owned(),
            expected: "a base62 id".to_owned(),
        })
    }
}

/// The quoted name of the table holding `table`'s records.
pub(crate) fn rel(table: TableId) -> StoreResult<String> {
    Ok(format!("\"r_{}\"", ddl_id(table.as_str())?))
}

/// The columns [`crate::rows::record`] reads, from `table`'s records
/// (prefixed with `alias.` when given). The table id is the relation's, not
/// a column.
pub(crate) fn record_columns(table: TableId, alias: Option<&str>) -> StoreResult<String> {
    let t = ddl_id(table.as_str())?;
    let a = alias.map(|a| format!("{a}.")).unwrap_or_default();
    Ok(format!(
        "{a}id, '{t}'::text AS table_id, {a}autonumber, {a}data, {a}created_by, \
         {a}updated_by, {a}created_time, {a}updated_time, {a}deleted_time"
    ))
}

/// `template` with `{records}` replaced by `table`'s relation and `{}` by
/// its record columns: fixed SQL of this crate plus checked ids.
pub(crate) fn on(table: TableId, template: &'static str) -> StoreResult<AssertSqlSafe<String>> {
    Ok(AssertSqlSafe(
        template.replace("{records}", &rel(table)?).replacen(
            "{}",
            &record_columns(table, None)?,
            1,
        ),
    ))
}

/// Runs one DDL statement.
async fn ddl(conn: &mut PgConnection, sql: String) -> StoreResult<()> {
    sqlx::query(AssertSqlSafe(sql))
        .execute(&mut *conn)
        .await
        .db()?;
    Ok(())
}

/// Creates the (empty) records table of `table` with its indexes.
/// `created_seq` is the seq of the record's `record.created` event when
/// its create logged it in its insert (`changes::logged_insert`).
///
/// Autovacuum analyses it once 2% of its rows (plus 200) changed, rather
/// than the default 10%, so the planner's estimates for its cell indexes
/// keep up as a table grows from empty.
pub(crate) async fn create_records_table(
    conn: &mut PgConnection,
    table: TableId,
) -> StoreResult<()> {
    let t = ddl_id(table.as_str())?;
    ddl(
        conn,
        format!(
            "CREATE TABLE \"r_{t}\" (
                id           TEXT COLLATE \"C\" NOT NULL,
                autonumber   BIGINT NOT NULL,
                data         JSONB NOT NULL,
                created_by   TEXT COLLATE \"C\",
                updated_by   TEXT COLLATE \"C\",
                created_time TIMESTAMPTZ NOT NULL,
                updated_time TIMESTAMPTZ NOT NULL,
                deleted_time TIMESTAMPTZ,
                created_seq  BIGINT,
                CONSTRAINT \"r_{t}_pkey\" PRIMARY KEY (id)
            ) WITH (autovacuum_analyze_scale_factor = 0.02, autovacuum_analyze_threshold = 200)"
        ),
    )
    .await?;
    ddl(
        conn,
        format!("CREATE INDEX \"r_{t}_live\" ON \"r_{t}\" (id) WHERE deleted_time IS NULL"),
    )
    .await?;
    ddl(
        conn,
        format!("CREATE INDEX \"r_{t}_data\" ON \"r_{t}\" USING GIN (data jsonb_path_ops)"),
    )
    .await
}

/// Drops the records tables of the user tables matching `condition` (fixed
/// SQL on `tables t` with one parameter, `$1`): before a table, base or
/// workspace is deleted. Their indexes and statistics go with them.
pub(crate) async fn drop_records_tables_where(
    conn: &mut PgConnection,
    condition: &'static str,
    id: &str,
) -> StoreResult<()> {
    // Locking the rows first (in id order) makes a writer that already
    // holds one (inserts bump `next_autonumber`) finish before the DROP,
    // instead of deadlocking against it.
    let sql = format!("SELECT t.id FROM tables t WHERE {condition} ORDER BY t.id FOR UPDATE");
    let ids: Vec<String> = sqlx::query_scalar(AssertSqlSafe(sql))
        .bind(id)
        .fetch_all(&mut *conn)
        .await
        .db()?;
    for t in ids {
        ddl(conn, format!("DROP TABLE IF EXISTS \"r_{}\"", ddl_id(&t)?)).await?;
    }
    Ok(())
}

/// Key of the transaction-level advisory lock that every transaction which
/// may run DDL on `table`'s records takes first. `CREATE INDEX` (a share
/// lock) and `CREATE STATISTICS` (share update exclusive) taken in one
/// transaction deadlock against another such transaction on the same
/// table; one at a time, per table, they cannot. Transactions on other
/// tables do not wait.
pub(crate) async fn lock_table_ddl(conn: &mut PgConnection, table: TableId) -> StoreResult<()> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('pybase-ddl:' || $1, 0))")
        .bind(table.as_str())
        .execute(&mut *conn)
        .await
        .db()?;
    Ok(())
}

/// Whether a relation (table or index) of this name exists.
pub(crate) async fn relation_exists(conn: &mut PgConnection, name: &str) -> StoreResult<bool> {
    let found: Option<String> = sqlx::query_scalar("SELECT to_regclass($1)::text")
        .bind(name)
        .fetch_one(&mut *conn)
        .await
        .db()?;
    Ok(found.is_some())
}

/// Migration step after the SQL migrations: moves every record out of the
/// shared `records` table of the first layout into its table's own records
/// table, builds the cell indexes of indexed fields there, then drops
/// `records` (with its partial indexes) and the extended statistics kept
/// for them. One transaction, so a crash leaves either layout whole; an
/// advisory lock makes concurrent starts of several servers wait for the
/// first. A database without `records` is left alone.
pub(crate) async fn split_shared_records(pool: &PgPool) -> StoreResult<()> {
    let mut tx = pool.begin().await.db()?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('pybase-split-records', 0))")
        .execute(&mut *tx)
        .await
        .db()?;
    if !relation_exists(&mut tx, "public.records").await? {
        return tx.commit().await.db();
    }
    let tables: Vec<String> = sqlx::query_scalar("SELECT id FROM tables ORDER BY id")
        .fetch_all(&mut *tx)
        .await
        .db()?;
    for t in &tables {
        let table = TableId::parse(t).map_err(|e| StoreError::backend(crate::error::BACKEND, e))?;
        create_records_table(&mut tx, table).await?;
        sqlx::query(on(
            table,
            "INSERT INTO {records} (id, autonumber, data, created_by, updated_by, \
             created_time, updated_time, deleted_time) \
             SELECT id, autonumber, data, created_by, updated_by, created_time, \
             updated_time, deleted_time FROM records WHERE table_id = $1",
        )?)
        .bind(t)
        .execute(&mut *tx)
        .await
        .db()?;
    }
    let statistics: Vec<String> = sqlx::query_scalar(
        "SELECT s.stxname FROM pg_statistic_ext s WHERE s.stxrelid = 'public.records'::regclass",
    )
    .fetch_all(&mut *tx)
    .await
    .db()?;
    for name in statistics {
        ddl(
            &mut tx,
            format!(
                "DROP STATISTICS IF EXISTS \"{}\"",
                name.replace('"', "\"\"")
            ),
        )
        .await?;
    }
    ddl(&mut tx, "DROP TABLE records".to_owned()).await?;
    let fields = sqlx::query(crate::sql::cols(
        crate::rows::FIELD_COLUMNS,
        "SELECT {} FROM fields WHERE indexed ORDER BY table_id, id",
    ))
    .fetch_all(&mut *tx)
    .await
    .db()?;
    for row in &fields {
        let field = crate::rows::field(row).db()?;
        crate::schema::sync_index(&mut tx, field.table_id, &field).await?;
    }
    tx.commit().await.db()?;
    // Once, after the move: statistics for each moved table, one at a time
    // (only those: a database-wide ANALYZE would also reach tables created
    // after this start, behind their own statistics' back).
    if !tables.is_empty() {
        let pool = pool.clone();
        let moved = tables.clone();
        tokio::spawn(async move {
            for t in moved {
                let Ok(rel) = TableId::parse(&t)
                    .map_err(drop)
                    .and_then(|t| rel(t).map_err(drop))
                else {
                    continue;
                };
                if let Err(e) = sqlx::query(AssertSqlSafe(format!("ANALYZE {rel}")))
                    .execute(&pool)
                    .await
                {
                    tracing::debug!(error = %e, table = %t, "ANALYZE after the layout migration failed");
                }
            }
        });
    }
    tracing::info!(
        tables = tables.len(),
        "moved records to one table per user table"
    );
    Ok(())
}
