//! [`SchemaStore`]: bases, tables, fields (with their cell indexes) and views.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use pybase_core::fields::ValueKind;
use pybase_core::ids::{BaseId, FieldId, RecordId, TableId, UserId, ViewId, WorkspaceId};
use pybase_core::model::{Base, Field, Table, View, name_key};
use pybase_core::store::{
    ChangeKind, FieldsVersion, NewChange, SchemaStore, TableAccess, current_actor,
};
use pybase_core::{StoreError, StoreResult};
use serde_json::Value;
use sqlx::postgres::PgRow;
use sqlx::{AssertSqlSafe, PgConnection, Row as _};

use crate::PgStore;
use crate::changes;
use crate::error::ResultExt;
use crate::layout::{self, ddl_id, lock_table_ddl, rel};
use crate::nul::{encode_value, encoded};
use crate::retry;
use crate::rows::{self, FIELD_COLUMNS, TABLE_COLUMNS, VIEW_COLUMNS};
use crate::sql::cols;
use crate::table_names;

/// The two shapes of a cell index: text (byte order) or number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IndexKind {
    Text,
    Number,
}

impl IndexKind {
    const ALL: [Self; 2] = [Self::Text, Self::Number];

    fn of(field: &Field) -> Option<Self> {
        if !field.indexed || field.field_type.is_computed() {
            return None;
        }
        Some(match field.field_type.value_kind() {
            ValueKind::Number => Self::Number,
            _ => Self::Text,
        })
    }

    fn name(self, field: &str) -> String {
        match self {
            Self::Text => format!("\"records_txt_{field}\""),
            Self::Number => format!("\"records_num_{field}\""),
        }
    }

    /// The index in descending order (empty last) beside the ascending one.
    /// A B-tree read backwards gives the opposite order with nulls *first*,
    /// so one index cannot serve both `ASC NULLS LAST` and `DESC NULLS
    /// LAST`; with both, a sorted page in either direction reads the first
    /// rows of an index instead of sorting every matching row.
    fn desc_name(self, field: &str) -> String {
        match self {
            Self::Text => format!("\"records_txt_{field}_desc\""),
            Self::Number => format!("\"records_num_{field}_desc\""),
        }
    }
}

// The fields cache (`pybase_core::store::FieldsCache`) is keyed here by the
// `id:xmin` of every field row of the table. Any insert, update or delete of
// a field row changes that list (an update writes a new row version with a
// new `xmin`), and the list is read in the same statement as the table (or
// as the guarded update that relies on it), so a stale entry is never used,
// whichever server instance made the change.

/// SQL of the version key of the fields of table `t` (see above).
macro_rules! fields_key_sql {
    () => {
        "ARRAY(SELECT f.id || ':' || f.xmin::text FROM fields f WHERE f.table_id = t.id \
         ORDER BY f.position, f.id)"
    };
}
pub(crate) use fields_key_sql;

/// The columns of [`PgStore::access_row`]: the table `t`, the role of user
/// `$2` and the fields' version key.
macro_rules! access_columns {
    () => {
        concat!(
            "SELECT t.id, t.base_id, t.workspace_id, t.name, t.description, ",
            "t.primary_field_id, t.position, t.created_at, t.updated_at, ",
            "(SELECT m.role FROM workspace_members m ",
            "WHERE m.workspace_id = t.workspace_id AND m.user_id = $2) AS member_role, ",
            fields_key_sql!(),
            " AS fields_key"
        )
    };
}

impl PgStore {
    /// The table, the user's role and the fields' version key, and with
    /// `record` that live record (columns prefixed `r_`), in one statement;
    /// `None` if the table is absent.
    pub(crate) async fn access_row(
        &self,
        table: TableId,
        user: UserId,
        record: Option<RecordId>,
    ) -> StoreResult<Option<PgRow>> {
        match record {
            None => sqlx::query(concat!(access_columns!(), " FROM tables t WHERE t.id = $1"))
                .bind(table.as_str())
                .bind(user.as_str())
                .fetch_optional(&self.pool)
                .await
                .db(),
            Some(id) => sqlx::query(AssertSqlSafe(access_sql_with_record(table)?))
                .bind(table.as_str())
                .bind(user.as_str())
                .bind(id.as_str())
                .fetch_optional(&self.pool)
                .await
                .db(),
        }
    }

    /// [`TableAccess`] from a row of [`PgStore::access_row`], reading the
    /// fields only when the cache does not hold their current version.
    pub(crate) async fn access_from(&self, row: &PgRow) -> StoreResult<TableAccess> {
        let table = rows::table(row).db()?;
        let role = rows::parsed_opt(row, "member_role").db()?;
        let key: Vec<String> = row.try_get("fields_key").db()?;
        let version = FieldsVersion(key.into());
        let fields = match self.fields.get(table.id, &version) {
            Some(f) => f,
            None => {
                let fields: Arc<[Field]> = self.list_fields(table.id).await?.into();
                self.fields
                    .put(table.workspace_id, table.id, version, Arc::clone(&fields));
                fields
            }
        };
        Ok(TableAccess {
            table,
            fields,
            role,
        })
    }
}

/// The SQL of [`PgStore::access_row`] with the live record `$3` of `table`
/// joined (columns prefixed `r_`).
fn access_sql_with_record(table: TableId) -> StoreResult<String> {
    let t = ddl_id(table.as_str())?;
    Ok(format!(
        "{}, r.id AS r_id, '{t}'::text AS r_table_id, r.autonumber AS r_autonumber, \
         r.data AS r_data, r.created_by AS r_created_by, r.updated_by AS r_updated_by, \
         r.created_time AS r_created_time, r.updated_time AS r_updated_time, \
         r.deleted_time AS r_deleted_time \
         FROM tables t LEFT JOIN {} r ON r.id = $3 AND r.deleted_time IS NULL \
         WHERE t.id = $1",
        access_columns!(),
        rel(table)?
    ))
}

/// The SQL expression an index of `kind` keeps for field `fld` (a checked id).
/// The query compiler produces the same expressions with the field id bound,
/// so the planner can use these indexes.
fn index_expression(kind: IndexKind, fld: &str) -> String {
    match kind {
        IndexKind::Text => format!("((data ->> '{fld}') COLLATE \"C\")"),
        IndexKind::Number => format!(
            "((CASE WHEN jsonb_typeof(data -> '{fld}') = 'number' \
             THEN (data ->> '{fld}')::float8 END))"
        ),
    }
}

/// Creates or drops the cell indexes of `field` (in `table`) to match its
/// flag and type. Returns whether an index was built (the caller then has
/// the table analysed, after commit). Callers hold [`lock_table_ddl`].
///
/// The indexes are on the table's own records table and not partial, so
/// PostgreSQL keeps statistics of their expressions when it analyses the
/// table (it ignores those of partial indexes).
pub(crate) async fn sync_index(
    conn: &mut PgConnection,
    table: TableId,
    field: &Field,
) -> StoreResult<bool> {
    let fld = ddl_id(field.id.as_str())?;
    let rel = rel(table)?;
    let want = IndexKind::of(field);
    let mut built = false;
    for kind in IndexKind::ALL {
        if want == Some(kind) {
            if layout::relation_exists(conn, &kind.desc_name(fld)).await? {
                continue;
            }
            let expr = index_expression(kind, fld);
            for ddl in [
                format!(
                    "CREATE INDEX IF NOT EXISTS {} ON {rel} {expr}",
                    kind.name(fld)
                ),
                format!(
                    "CREATE INDEX IF NOT EXISTS {} ON {rel} ({expr} DESC NULLS LAST)",
                    kind.desc_name(fld)
                ),
            ] {
                sqlx::query(AssertSqlSafe(ddl))
                    .execute(&mut *conn)
                    .await
                    .db()?;
            }
            built = true;
        } else {
            drop_index(conn, kind, fld).await?;
        }
    }
    Ok(built)
}

async fn drop_index(conn: &mut PgConnection, kind: IndexKind, fld: &str) -> StoreResult<()> {
    // Looking the name up first avoids taking a lock on the table for nothing.
    if layout::relation_exists(conn, &kind.name(fld)).await? {
        for name in [kind.name(fld), kind.desc_name(fld)] {
            let ddl = format!("DROP INDEX IF EXISTS {name}");
            sqlx::query(AssertSqlSafe(ddl))
                .execute(&mut *conn)
                .await
                .db()?;
        }
    }
    Ok(())
}

async fn drop_field_indexes(conn: &mut PgConnection, field: FieldId) -> StoreResult<()> {
    let fld = ddl_id(field.as_str())?;
    for kind in IndexKind::ALL {
        drop_index(conn, kind, fld).await?;
    }
    Ok(())
}

async fn insert_field(conn: &mut PgConnection, field: &Field) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO fields (id, table_id, name, name_key, description, type, options, position, \
         indexed, created_at, updated_at, index_origin, status) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(field.id.as_str())
    .bind(field.table_id.as_str())
    .bind(&field.name)
    .bind(field.name.to_lowercase())
    .bind(&field.description)
    .bind(field.field_type.type_name())
    .bind(field.field_type.options_json())
    .bind(field.position)
    .bind(field.indexed)
    .bind(field.created_at)
    .bind(field.updated_at)
    .bind(field.index_origin.as_str())
    .bind(field.status.as_str())
    .execute(&mut *conn)
    .await
    .or_missing("table", field.table_id.as_str())?;
    Ok(())
}

/// Saves a field (not its table) and returns the table it belongs to and
/// the partners it no longer pairs with ([`crate::links::unpair`]).
async fn save_field(conn: &mut PgConnection, field: &Field) -> StoreResult<(TableId, Vec<Field>)> {
    let table: Option<String> = sqlx::query_scalar(
        "UPDATE fields SET name = $2, name_key = $3, description = $4, type = $5, options = $6, \
         position = $7, indexed = $8, updated_at = $9, index_origin = $10 WHERE id = $1 \
         RETURNING table_id",
    )
    .bind(field.id.as_str())
    .bind(&field.name)
    .bind(field.name.to_lowercase())
    .bind(&field.description)
    .bind(field.field_type.type_name())
    .bind(field.field_type.options_json())
    .bind(field.position)
    .bind(field.indexed)
    .bind(field.updated_at)
    .bind(field.index_origin.as_str())
    .fetch_optional(&mut *conn)
    .await
    .db()?;
    let table = table.ok_or_else(|| StoreError::not_found("field", field.id))?;
    let unpaired = crate::links::unpair(
        conn,
        field.id,
        field.field_type.inverse_field_id(),
        field.updated_at,
    )
    .await?;
    let table =
        TableId::parse(&table).map_err(|e| StoreError::backend(crate::error::BACKEND, e))?;
    Ok((table, unpaired))
}

/// `field.updated` of `field`, then of the partners it no longer pairs with.
fn field_updated(field: &Field, unpaired: &[Field]) -> Vec<NewChange> {
    std::iter::once(field)
        .chain(unpaired)
        .map(|f| NewChange::field(ChangeKind::FieldUpdated, f))
        .collect()
}

impl PgStore {
    /// [`SchemaStore::replace_field`], with `expected` the cells
    /// [`SchemaStore::replace_field_if`] compares first (`Ok(false)`,
    /// nothing written, when they differ).
    async fn replace_field_checked(
        &self,
        field: &Field,
        cells: &[(RecordId, Option<Value>)],
        expected: Option<&[(RecordId, Value)]>,
    ) -> StoreResult<bool> {
        // One whole transaction: run again if it lost to a concurrent one.
        retry::whole(|| async move {
            // The last write of a record wins, as if the pairs were applied in order.
            let mut last: HashMap<RecordId, usize> = HashMap::with_capacity(cells.len());
            for (i, (id, _)) in cells.iter().enumerate() {
                last.insert(*id, i);
            }
            let mut ids = Vec::with_capacity(last.len());
            let mut values = Vec::with_capacity(last.len());
            for (i, (id, value)) in cells.iter().enumerate() {
                if last.get(id) == Some(&i) {
                    ids.push(id.as_str());
                    values.push(value.as_ref().filter(|v| !v.is_null()).map(encoded));
                }
            }
            let mut tx = self.pool.begin().await.db()?;
            lock_table_ddl(&mut tx, field.table_id).await?;
            if let Some(expected) = expected
                && stored_cells_of(&mut tx, field).await? != expected
            {
                return Ok(false);
            }
            let (table, unpaired) = save_field(&mut tx, field).await?;
            let mut log = field_updated(field, &unpaired);
            if !ids.is_empty() {
                log.extend(changes::converted(&mut tx, field, &ids, cells, &last).await?);
                sqlx::query(layout::on(
                    table,
                    "UPDATE {records} r SET data = CASE WHEN u.v IS NULL THEN r.data - $1 \
                     ELSE r.data || jsonb_build_object($1::text, u.v) END \
                     FROM UNNEST($2::text[], $3::jsonb[]) AS u(id, v) \
                     WHERE r.id = u.id",
                )?)
                .bind(field.id.as_str())
                .bind(ids)
                .bind(values)
                .execute(&mut *tx)
                .await
                .db()?;
            }
            let built = sync_index(&mut tx, table, field).await?;
            let done = changes::log(&mut tx, Some(field.updated_at), current_actor(), log).await?;
            tx.commit().await.db()?;
            self.announce(done);
            if built {
                self.stats.analyse_later(&self.pool, table);
            }
            Ok(true)
        })
        .await
    }
}

/// The stored cells of `field`, by record id, as
/// `RecordsStore::field_cells` reads them, with the table's writers kept
/// out until the transaction ends (`SHARE ROW EXCLUSIVE` conflicts with
/// every row write and with itself, not with reads).
async fn stored_cells_of(
    conn: &mut PgConnection,
    field: &Field,
) -> StoreResult<Vec<(RecordId, Value)>> {
    sqlx::query(layout::on(
        field.table_id,
        "LOCK TABLE {records} IN SHARE ROW EXCLUSIVE MODE",
    )?)
    .execute(&mut *conn)
    .await
    .db()?;
    crate::records::field_cells_with(&mut *conn, field.table_id, field.id).await
}

#[async_trait]
impl SchemaStore for PgStore {
    async fn table_access(&self, table: TableId, user: UserId) -> StoreResult<TableAccess> {
        let row = self
            .access_row(table, user, None)
            .await?
            .ok_or_else(|| StoreError::not_found("table", table))?;
        self.access_from(&row).await
    }

    async fn create_base(&self, base: &Base) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO bases (id, workspace_id, name, description, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(base.id.as_str())
        .bind(base.workspace_id.as_str())
        .bind(&base.name)
        .bind(&base.description)
        .bind(base.created_at)
        .bind(base.updated_at)
        .execute(&self.pool)
        .await
        .or_missing("workspace", base.workspace_id.as_str())?;
        Ok(())
    }

    async fn get_base(&self, id: BaseId) -> StoreResult<Base> {
        let row = sqlx::query("SELECT * FROM bases WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await
            .db()?
            .ok_or_else(|| StoreError::not_found("base", id))?;
        rows::base(&row).db()
    }

    async fn list_bases(&self, ws: WorkspaceId) -> StoreResult<Vec<Base>> {
        let found =
            sqlx::query("SELECT * FROM bases WHERE workspace_id = $1 ORDER BY created_at, id")
                .bind(ws.as_str())
                .fetch_all(&self.pool)
                .await
                .db()?;
        found.iter().map(rows::base).collect::<Result<_, _>>().db()
    }

    async fn update_base(&self, base: &Base) -> StoreResult<()> {
        let done = sqlx::query(
            "UPDATE bases SET name = $2, description = $3, updated_at = $4 WHERE id = $1",
        )
        .bind(base.id.as_str())
        .bind(&base.name)
        .bind(&base.description)
        .bind(base.updated_at)
        .execute(&self.pool)
        .await
        .db()?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found("base", base.id));
        }
        Ok(())
    }

    async fn delete_base(&self, id: BaseId) -> StoreResult<()> {
        // One whole transaction: run again if it lost to a concurrent one.
        retry::whole(|| async move {
            let mut tx = self.pool.begin().await.db()?;
            layout::drop_records_tables_where(&mut tx, "t.base_id = $1", id.as_str()).await?;
            let done = sqlx::query("DELETE FROM bases WHERE id = $1")
                .bind(id.as_str())
                .execute(&mut *tx)
                .await
                .db()?;
            if done.rows_affected() == 0 {
                return Err(StoreError::not_found("base", id));
            }
            tx.commit().await.db()
        })
        .await
    }

    async fn create_table(&self, table: &Table, fields: &[Field]) -> StoreResult<()> {
        // One whole transaction: run again if it lost to a concurrent one.
        retry::whole(|| async move {
            let mut tx = self.pool.begin().await.db()?;
            // The unique index on (base_id, name_key) refuses a taken name, and
            // makes a concurrent create of the same name wait for this one.
            sqlx::query(
                "INSERT INTO tables (id, base_id, workspace_id, name, description, primary_field_id, \
                 position, created_at, updated_at, name_key) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(table.id.as_str())
            .bind(table.base_id.as_str())
            .bind(table.workspace_id.as_str())
            .bind(&table.name)
            .bind(&table.description)
            .bind(table.primary_field_id.as_ref().map(FieldId::as_str))
            .bind(table.position)
            .bind(table.created_at)
            .bind(table.updated_at)
            .bind(name_key(&table.name))
            .execute(&mut *tx)
            .await
            .or_missing("base", table.base_id.as_str())?;
            layout::create_records_table(&mut tx, table.id).await?;
            for field in fields {
                insert_field(&mut tx, field).await?;
                // An empty table: building its indexes is instant.
                sync_index(&mut tx, table.id, field).await?;
            }
            let mut log = vec![NewChange::table(ChangeKind::TableCreated, table)];
            log.extend(
                fields
                    .iter()
                    .map(|f| NewChange::field(ChangeKind::FieldCreated, f)),
            );
            let done = changes::append(
                &mut tx,
                table.base_id,
                Some(table.created_at),
                current_actor(),
                log,
            )
            .await?;
            tx.commit().await.db()?;
            self.announce(done);
            Ok(())
        })
        .await
    }

    async fn get_table(&self, id: TableId) -> StoreResult<Table> {
        let row = sqlx::query(cols(TABLE_COLUMNS, "SELECT {} FROM tables WHERE id = $1"))
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await
            .db()?
            .ok_or_else(|| StoreError::not_found("table", id))?;
        rows::table(&row).db()
    }

    async fn list_tables(&self, base: BaseId) -> StoreResult<Vec<Table>> {
        let found = sqlx::query(cols(
            TABLE_COLUMNS,
            "SELECT {} FROM tables WHERE base_id = $1 ORDER BY position, id",
        ))
        .bind(base.as_str())
        .fetch_all(&self.pool)
        .await
        .db()?;
        found.iter().map(rows::table).collect::<Result<_, _>>().db()
    }

    async fn table_name_taken(
        &self,
        base: BaseId,
        name: &str,
        except: Option<TableId>,
    ) -> StoreResult<bool> {
        table_names::taken(&self.pool, base, name, except).await
    }

    async fn next_table_position(&self, base: BaseId) -> StoreResult<i64> {
        table_names::next_position(&self.pool, base).await
    }

    async fn update_table(&self, table: &Table) -> StoreResult<()> {
        // One whole transaction: run again if it lost to a concurrent one.
        retry::whole(|| async move {
            let mut tx = self.pool.begin().await.db()?;
            // Only a new name gets a new key (checked by the unique index): two
            // tables sharing a key from before the rule stay editable.
            let done = sqlx::query(
                "UPDATE tables SET name = $2, description = $3, primary_field_id = $4, position = $5, \
                 updated_at = $6, \
                 name_key = CASE WHEN name = $2 AND name_key IS NOT NULL THEN name_key ELSE $7 END \
                 WHERE id = $1",
            )
            .bind(table.id.as_str())
            .bind(&table.name)
            .bind(&table.description)
            .bind(table.primary_field_id.as_ref().map(FieldId::as_str))
            .bind(table.position)
            .bind(table.updated_at)
            .bind(name_key(&table.name))
            .execute(&mut *tx)
            .await
            .db()?;
            if done.rows_affected() == 0 {
                return Err(StoreError::not_found("table", table.id));
            }
            let log = vec![NewChange::table(ChangeKind::TableUpdated, table)];
            let done = changes::log(&mut tx, Some(table.updated_at), current_actor(), log).await?;
            tx.commit().await.db()?;
            self.announce(done);
            Ok(())
        })
        .await
    }

    async fn delete_table(&self, id: TableId) -> StoreResult<()> {
        // One whole transaction: run again if it lost to a concurrent one.
        retry::whole(|| async move {
            let mut tx = self.pool.begin().await.db()?;
            let base = changes::base_of(&mut tx, id).await?;
            layout::drop_records_tables_where(&mut tx, "t.id = $1", id.as_str()).await?;
            let done = sqlx::query("DELETE FROM tables WHERE id = $1")
                .bind(id.as_str())
                .execute(&mut *tx)
                .await
                .db()?;
            if done.rows_affected() == 0 {
                return Err(StoreError::not_found("table", id));
            }
            let log = vec![NewChange::table_deleted(id)];
            let done = changes::append(&mut tx, base, None, current_actor(), log).await?;
            tx.commit().await.db()?;
            self.stats.forget(id);
            self.announce(done);
            Ok(())
        })
        .await
    }

    async fn create_field(&self, field: &Field) -> StoreResult<()> {
        // One whole transaction: run again if it lost to a concurrent one.
        retry::whole(|| async move {
            let mut tx = self.pool.begin().await.db()?;
            lock_table_ddl(&mut tx, field.table_id).await?;
            insert_field(&mut tx, field).await?;
            let built = sync_index(&mut tx, field.table_id, field).await?;
            let log = vec![NewChange::field(ChangeKind::FieldCreated, field)];
            let done = changes::log(&mut tx, Some(field.created_at), current_actor(), log).await?;
            tx.commit().await.db()?;
            self.announce(done);
            if built {
                self.stats.analyse_later(&self.pool, field.table_id);
            }
            Ok(())
        })
        .await
    }

    async fn create_field_pair(&self, field: &Field, inverse: &Field) -> StoreResult<()> {
        // One whole transaction: run again if it lost to a concurrent one.
        retry::whole(|| async move {
            let mut tx = self.pool.begin().await.db()?;
            // Both tables' DDL locks, in id order (as every pair takes them).
            let (first, second) = if field.table_id <= inverse.table_id {
                (field, inverse)
            } else {
                (inverse, field)
            };
            lock_table_ddl(&mut tx, first.table_id).await?;
            if second.table_id != first.table_id {
                lock_table_ddl(&mut tx, second.table_id).await?;
            }
            let mut built = Vec::new();
            for f in [field, inverse] {
                insert_field(&mut tx, f).await?;
                if sync_index(&mut tx, f.table_id, f).await? {
                    built.push(f.table_id);
                }
            }
            // Both tables are of one base (links stay inside their base).
            let log = [field, inverse]
                .into_iter()
                .map(|f| NewChange::field(ChangeKind::FieldCreated, f))
                .collect();
            let done = changes::log(&mut tx, Some(field.created_at), current_actor(), log).await?;
            tx.commit().await.db()?;
            self.announce(done);
            for table in built {
                self.stats.analyse_later(&self.pool, table);
            }
            Ok(())
        })
        .await
    }

    async fn get_field(&self, id: FieldId) -> StoreResult<Field> {
        let row = sqlx::query(cols(FIELD_COLUMNS, "SELECT {} FROM fields WHERE id = $1"))
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await
            .db()?
            .ok_or_else(|| StoreError::not_found("field", id))?;
        rows::field(&row).db()
    }

    async fn list_fields(&self, table: TableId) -> StoreResult<Vec<Field>> {
        let found = sqlx::query(cols(
            FIELD_COLUMNS,
            "SELECT {} FROM fields WHERE table_id = $1 ORDER BY position, id",
        ))
        .bind(table.as_str())
        .fetch_all(&self.pool)
        .await
        .db()?;
        found.iter().map(rows::field).collect::<Result<_, _>>().db()
    }

    async fn list_base_fields(&self, base: BaseId) -> StoreResult<Vec<Field>> {
        let found = sqlx::query(cols(
            FIELD_COLUMNS,
            "SELECT {} FROM fields WHERE table_id IN (SELECT id FROM tables WHERE base_id = $1) \
             ORDER BY table_id COLLATE \"C\", position, id",
        ))
        .bind(base.as_str())
        .fetch_all(&self.pool)
        .await
        .db()?;
        found.iter().map(rows::field).collect::<Result<_, _>>().db()
    }

    async fn fields_of_type(&self, type_name: &str) -> StoreResult<Vec<Field>> {
        let found = sqlx::query(cols(
            FIELD_COLUMNS,
            "SELECT {} FROM fields WHERE type = $1 ORDER BY table_id COLLATE \"C\", position, id",
        ))
        .bind(type_name)
        .fetch_all(&self.pool)
        .await
        .db()?;
        found.iter().map(rows::field).collect::<Result<_, _>>().db()
    }

    async fn update_field(&self, field: &Field) -> StoreResult<()> {
        // One whole transaction: run again if it lost to a concurrent one.
        retry::whole(|| async move {
            let mut tx = self.pool.begin().await.db()?;
            lock_table_ddl(&mut tx, field.table_id).await?;
            let (table, unpaired) = save_field(&mut tx, field).await?;
            let built = sync_index(&mut tx, table, field).await?;
            let log = field_updated(field, &unpaired);
            let done = changes::log(&mut tx, Some(field.updated_at), current_actor(), log).await?;
            tx.commit().await.db()?;
            self.announce(done);
            if built {
                self.stats.analyse_later(&self.pool, table);
            }
            Ok(())
        })
        .await
    }

    async fn index_field_automatically(
        &self,
        field: FieldId,
        at: pybase_core::model::Timestamp,
    ) -> StoreResult<bool> {
        // One whole transaction: run again if it lost to a concurrent one.
        retry::whole(|| async move {
            let mut tx = self.pool.begin().await.db()?;
            let table: Option<String> =
                sqlx::query_scalar("SELECT table_id FROM fields WHERE id = $1")
                    .bind(field.as_str())
                    .fetch_optional(&mut *tx)
                    .await
                    .db()?;
            let Some(table) = table else {
                return Ok(false);
            };
            let table = TableId::parse(&table)
                .map_err(|e| StoreError::backend(crate::error::BACKEND, e))?;
            lock_table_ddl(&mut tx, table).await?;
            let row = sqlx::query(cols(
                FIELD_COLUMNS,
                "UPDATE fields SET indexed = TRUE, index_origin = 'automatic', updated_at = $2 \
                 WHERE id = $1 AND NOT indexed AND index_origin <> 'declined' RETURNING {}",
            ))
            .bind(field.as_str())
            .bind(at)
            .fetch_optional(&mut *tx)
            .await
            .db()?;
            let Some(row) = row else {
                return Ok(false);
            };
            let f = rows::field(&row).db()?;
            let built = sync_index(&mut tx, table, &f).await?;
            tx.commit().await.db()?;
            if built {
                self.stats.analyse_later(&self.pool, table);
            }
            Ok(true)
        })
        .await
    }

    async fn replace_field(
        &self,
        field: &Field,
        cells: &[(RecordId, Option<Value>)],
    ) -> StoreResult<()> {
        self.replace_field_checked(field, cells, None)
            .await
            .map(|_| ())
    }

    async fn replace_field_if(
        &self,
        field: &Field,
        cells: &[(RecordId, Option<Value>)],
        expected: &[(RecordId, Value)],
    ) -> StoreResult<bool> {
        self.replace_field_checked(field, cells, Some(expected))
            .await
    }

    async fn delete_field(&self, id: FieldId) -> StoreResult<()> {
        // One whole transaction: run again if it lost to a concurrent one.
        retry::whole(|| async move {
            let mut tx = self.pool.begin().await.db()?;
            let table: Option<String> =
                sqlx::query_scalar("SELECT table_id FROM fields WHERE id = $1")
                    .bind(id.as_str())
                    .fetch_optional(&mut *tx)
                    .await
                    .db()?;
            let table = table.ok_or_else(|| StoreError::not_found("field", id))?;
            let table = TableId::parse(&table)
                .map_err(|e| StoreError::backend(crate::error::BACKEND, e))?;
            lock_table_ddl(&mut tx, table).await?;
            let deleted = sqlx::query("DELETE FROM fields WHERE id = $1")
                .bind(id.as_str())
                .execute(&mut *tx)
                .await
                .db()?;
            if deleted.rows_affected() == 0 {
                return Err(StoreError::not_found("field", id));
            }
            let now = chrono::Utc::now();
            let unpaired = crate::links::unpair(&mut tx, id, None, now).await?;
            sqlx::query(layout::on(
                table,
                "UPDATE {records} SET data = data - $1 WHERE data ? $1",
            )?)
            .bind(id.as_str())
            .execute(&mut *tx)
            .await
            .db()?;
            drop_field_indexes(&mut tx, id).await?;
            let mut log = vec![NewChange::field_deleted(table, id)];
            log.extend(
                unpaired
                    .iter()
                    .map(|f| NewChange::field(ChangeKind::FieldUpdated, f)),
            );
            let done = changes::log(&mut tx, Some(now), current_actor(), log).await?;
            tx.commit().await.db()?;
            self.announce(done);
            Ok(())
        })
        .await
    }

    async fn create_view(&self, view: &View) -> StoreResult<()> {
        // One whole transaction: run again if it lost to a concurrent one.
        retry::whole(|| async move {
            let mut config = serde_json::to_value(&view.config)
                .map_err(|e| StoreError::backend(crate::error::BACKEND, e))?;
            // Filter operands may hold NUL, which JSONB cannot.
            encode_value(&mut config);
            let mut tx = self.pool.begin().await.db()?;
            sqlx::query(
                "INSERT INTO views (id, table_id, name, type, config, position, created_at, \
                 updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(view.id.as_str())
            .bind(view.table_id.as_str())
            .bind(&view.name)
            .bind(rows::view_type_name(view.view_type))
            .bind(config)
            .bind(view.position)
            .bind(view.created_at)
            .bind(view.updated_at)
            .execute(&mut *tx)
            .await
            .or_missing("table", view.table_id.as_str())?;
            let log = vec![NewChange::view(ChangeKind::ViewCreated, view)];
            let done = changes::log(&mut tx, Some(view.created_at), current_actor(), log).await?;
            tx.commit().await.db()?;
            self.announce(done);
            Ok(())
        })
        .await
    }

    async fn get_view(&self, id: ViewId) -> StoreResult<View> {
        let row = sqlx::query(cols(VIEW_COLUMNS, "SELECT {} FROM views WHERE id = $1"))
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await
            .db()?
            .ok_or_else(|| StoreError::not_found("view", id))?;
        rows::view(&row).db()
    }

    async fn list_views(&self, table: TableId) -> StoreResult<Vec<View>> {
        let found = sqlx::query(cols(
            VIEW_COLUMNS,
            "SELECT {} FROM views WHERE table_id = $1 ORDER BY position, id",
        ))
        .bind(table.as_str())
        .fetch_all(&self.pool)
        .await
        .db()?;
        found.iter().map(rows::view).collect::<Result<_, _>>().db()
    }

    async fn update_view(&self, view: &View) -> StoreResult<()> {
        // One whole transaction: run again if it lost to a concurrent one.
        retry::whole(|| async move {
            let mut config = serde_json::to_value(&view.config)
                .map_err(|e| StoreError::backend(crate::error::BACKEND, e))?;
            // Filter operands may hold NUL, which JSONB cannot.
            encode_value(&mut config);
            let mut tx = self.pool.begin().await.db()?;
            let done = sqlx::query(
                "UPDATE views SET name = $2, config = $3, position = $4, updated_at = $5 WHERE id = $1",
            )
            .bind(view.id.as_str())
            .bind(&view.name)
            .bind(config)
            .bind(view.position)
            .bind(view.updated_at)
            .execute(&mut *tx)
            .await
            .db()?;
            if done.rows_affected() == 0 {
                return Err(StoreError::not_found("view", view.id));
            }
            let log = vec![NewChange::view(ChangeKind::ViewUpdated, view)];
            let done = changes::log(&mut tx, Some(view.updated_at), current_actor(), log).await?;
            tx.commit().await.db()?;
            self.announce(done);
            Ok(())
        })
        .await
    }

    async fn delete_view(&self, id: ViewId) -> StoreResult<()> {
        // One whole transaction: run again if it lost to a concurrent one.
        retry::whole(|| async move {
            let mut tx = self.pool.begin().await.db()?;
            let table: Option<String> =
                sqlx::query_scalar("DELETE FROM views WHERE id = $1 RETURNING table_id")
                    .bind(id.as_str())
                    .fetch_optional(&mut *tx)
                    .await
                    .db()?;
            let table = table.ok_or_else(|| StoreError::not_found("view", id))?;
            let table = TableId::parse(&table)
                .map_err(|e| StoreError::backend(crate::error::BACKEND, e))?;
            let log = vec![NewChange::view_deleted(table, id)];
            let done = changes::log(&mut tx, None, current_actor(), log).await?;
            tx.commit().await.db()?;
            self.announce(done);
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_base62_ids_reach_ddl() {
        assert!(ddl_id("fldAAAAAAAAAAAAAA").is_ok());
        assert!(ddl_id("fld'; DROP TABLE x").is_err());
        assert!(ddl_id("fldAAAAAAAAAAAAA'").is_err());
    }

    #[test]
    fn index_expressions_match_the_query_compiler() {
        let f = "fldAAAAAAAAAAAAAA";
        assert_eq!(
            index_expression(IndexKind::Text, f),
            "((data ->> 'fldAAAAAAAAAAAAAA') COLLATE \"C\")"
        );
        assert!(index_expression(IndexKind::Number, f).contains("::float8"));
    }
}
