//! [`SchemaStore`]: bases, tables, fields (with their cell indexes) and views.

use std::collections::HashSet;
use std::sync::Arc;

use async_trait::async_trait;
use pybase_core::fields::FieldType;
use pybase_core::ids::{BaseId, FieldId, RecordId, TableId, UserId, ViewId, WorkspaceId};
use pybase_core::model::{Base, Field, FieldStatus, IndexOrigin, Table, View, ViewType, name_key};
use pybase_core::store::{
    ChangeKind, FieldsCache, FieldsVersion, NewChange, SchemaStore, TableAccess, current_actor,
};
use pybase_core::{StoreError, StoreResult};
use rusqlite::types::Type;
use rusqlite::{Connection, OptionalExtension, Row, params};
use serde_json::Value;

use crate::SqliteStore;
use crate::changes::{self, Entry};
use crate::error::{Error, Result};
use crate::layout::{self, cell_path};
use crate::rows::{fmt_time, id, json, opt_id, time};
use crate::table_names;
use crate::workspaces::role_of;

const BASE_COLUMNS: &str = "id, workspace_id, name, description, created_at, updated_at";

fn base(row: &Row<'_>) -> rusqlite::Result<Base> {
    Ok(Base {
        id: id(row, 0)?,
        workspace_id: id(row, 1)?,
        name: row.get(2)?,
        description: row.get(3)?,
        created_at: time(row, 4)?,
        updated_at: time(row, 5)?,
    })
}

const TABLE_COLUMNS: &str = "id, base_id, workspace_id, name, description, primary_field_id, \
     position, created_at, updated_at";

fn table(row: &Row<'_>) -> rusqlite::Result<Table> {
    Ok(Table {
        id: id(row, 0)?,
        base_id: id(row, 1)?,
        workspace_id: id(row, 2)?,
        name: row.get(3)?,
        description: row.get(4)?,
        primary_field_id: opt_id(row, 5)?,
        position: row.get(6)?,
        created_at: time(row, 7)?,
        updated_at: time(row, 8)?,
    })
}

pub(crate) const FIELD_COLUMNS: &str = "id, table_id, name, description, type, options, position, indexed, \
     created_at, updated_at, index_origin, status";

pub(crate) fn field(row: &Row<'_>) -> rusqlite::Result<Field> {
    let type_name: String = row.get(4)?;
    let options: Value = json(row, 5)?;
    let field_type = FieldType::from_parts(&type_name, &options)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(4, Type::Text, Box::new(e)))?;
    Ok(Field {
        id: id(row, 0)?,
        table_id: id(row, 1)?,
        name: row.get(2)?,
        description: row.get(3)?,
        field_type,
        position: row.get(6)?,
        indexed: row.get(7)?,
        index_origin: IndexOrigin::parse(&row.get::<_, String>(10)?),
        status: FieldStatus::parse(&row.get::<_, String>(11)?),
        created_at: time(row, 8)?,
        updated_at: time(row, 9)?,
    })
}

const VIEW_COLUMNS: &str = "id, table_id, name, type, config, position, created_at, updated_at";

fn view(row: &Row<'_>) -> rusqlite::Result<View> {
    let type_name: String = row.get(3)?;
    let view_type: ViewType = serde_json::from_value(Value::String(type_name))
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(3, Type::Text, Box::new(e)))?;
    Ok(View {
        id: id(row, 0)?,
        table_id: id(row, 1)?,
        name: row.get(2)?,
        view_type,
        config: json(row, 4)?,
        position: row.get(5)?,
        created_at: time(row, 6)?,
        updated_at: time(row, 7)?,
    })
}

fn view_type_name(t: ViewType) -> Result<String> {
    match serde_json::to_value(t)? {
        Value::String(s) => Ok(s),
        other => Err(Error::corrupt("view type", other.to_string())),
    }
}

/// The version key of a table's fields: its `fields_version` (kept by
/// triggers, see migration 0002), read in the same transaction as what the
/// cached fields serve, so a change made by any connection or process is
/// never missed.
pub(crate) fn fields_version(version: i64) -> FieldsVersion {
    FieldsVersion::counter(version)
}

/// The fields of `table` (in `ws`) at `version`, from the cache or read
/// from `conn`.
fn cached_fields_in(
    conn: &Connection,
    cache: &FieldsCache,
    ws: WorkspaceId,
    table: TableId,
    version: i64,
) -> Result<Arc<[Field]>> {
    if let Some(fields) = cache.get_where(table, |v| v.is_counter(version)) {
        return Ok(fields);
    }
    let fields: Arc<[Field]> = conn
        .prepare_cached(&format!(
            "SELECT {FIELD_COLUMNS} FROM fields WHERE table_id = ?1 ORDER BY position, id"
        ))?
        .query_map([table.as_str()], field)?
        .collect::<rusqlite::Result<Vec<_>>>()?
        .into();
    cache.put(ws, table, fields_version(version), Arc::clone(&fields));
    Ok(fields)
}

/// [`SchemaStore::table_access`] inside a read transaction.
pub(crate) fn table_access_in(
    conn: &Connection,
    cache: &FieldsCache,
    table: TableId,
    user: UserId,
) -> Result<TableAccess> {
    let (found, version) = conn
        .prepare_cached(&format!(
            "SELECT {TABLE_COLUMNS}, fields_version FROM tables WHERE id = ?1"
        ))?
        .query_row([table.as_str()], |r| {
            Ok((self::table(r)?, r.get::<_, i64>(9)?))
        })
        .optional()?
        .ok_or_else(|| Error::not_found("table", table))?;
    let role = role_of(conn, found.workspace_id.as_str(), user.as_str())?;
    let fields = cached_fields_in(conn, cache, found.workspace_id, table, version)?;
    Ok(TableAccess {
        table: found,
        fields,
        role,
    })
}

/// The fields of `table` whose side index of cells is ready for queries
/// (see [`crate::layout`]; an index still being filled is not).
pub(crate) fn indexed_fields(conn: &Connection, table: &str) -> Result<HashSet<FieldId>> {
    Ok(conn
        .prepare_cached("SELECT field_id FROM cell_indexes WHERE table_id = ?1 AND ready")?
        .query_map([table], |r| id(r, 0))?
        .collect::<rusqlite::Result<_>>()?)
}

/// Starts or drops the side index of `field`'s cells to match its
/// `indexed` flag (a large table's index is finished after the commit by
/// [`SqliteStore::build_cell_indexes`]).
fn sync_cell_index(conn: &Connection, field: &Field) -> Result<()> {
    if field.indexed {
        layout::index_cells(conn, field.table_id, field.id)
    } else {
        layout::drop_cell_index(conn, field.id)
    }
}

fn require(conn: &Connection, sql: &str, entity: &'static str, key: &str) -> Result<()> {
    conn.prepare_cached(sql)?
        .query_row([key], |_| Ok(()))
        .optional()?
        .ok_or_else(|| Error::not_found(entity, key))
}

/// Field names are unique in a table ignoring case by Rust's lowercasing
/// (the store contract; PostgreSQL keeps that key in a column). The index
/// on `lower(name)` folds ASCII only, so the rest is checked here, inside
/// the write transaction (one writer: no race). `table` is the field's
/// table; the field itself (`f.id`) is not compared with itself.
fn check_field_name_free(conn: &Connection, table: &str, f: &Field) -> Result<()> {
    let key = f.name.to_lowercase();
    let mut names =
        conn.prepare_cached("SELECT name FROM fields WHERE table_id = ?1 AND id <> ?2")?;
    let mut rows = names.query(params![table, f.id.as_str()])?;
    while let Some(row) = rows.next()? {
        if row.get::<_, String>(0)?.to_lowercase() == key {
            return Err(Error::conflict("field", "name"));
        }
    }
    Ok(())
}

fn insert_field(conn: &Connection, f: &Field) -> Result<()> {
    check_field_name_free(conn, f.table_id.as_str(), f)?;
    conn.prepare_cached(&format!(
        "INSERT INTO fields ({FIELD_COLUMNS}) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
    ))?
    .execute(params![
        f.id.as_str(),
        f.table_id.as_str(),
        f.name,
        f.description,
        f.field_type.type_name(),
        f.field_type.options_json().to_string(),
        f.position,
        f.indexed,
        fmt_time(&f.created_at),
        fmt_time(&f.updated_at),
        f.index_origin.as_str(),
        f.status.as_str(),
    ])?;
    sync_cell_index(conn, f)
}

fn save_field(conn: &Connection, f: &Field) -> Result<Vec<Field>> {
    let table: Option<String> = conn
        .prepare_cached("SELECT table_id FROM fields WHERE id = ?1")?
        .query_row(params![f.id.as_str()], |r| r.get(0))
        .optional()?;
    let Some(table) = table else {
        return Err(Error::not_found("field", f.id));
    };
    check_field_name_free(conn, &table, f)?;
    let n = conn
        .prepare_cached(
            "UPDATE fields SET name = ?2, description = ?3, type = ?4, options = ?5, \
             position = ?6, indexed = ?7, updated_at = ?8, index_origin = ?9 WHERE id = ?1",
        )?
        .execute(params![
            f.id.as_str(),
            f.name,
            f.description,
            f.field_type.type_name(),
            f.field_type.options_json().to_string(),
            f.position,
            f.indexed,
            fmt_time(&f.updated_at),
            f.index_origin.as_str(),
        ])?;
    if n == 0 {
        return Err(Error::not_found("field", f.id));
    }
    let unpaired = crate::links::unpair(
        conn,
        f.id,
        f.field_type.inverse_field_id(),
        &fmt_time(&f.updated_at),
    )?;
    sync_cell_index(conn, f)?;
    Ok(unpaired)
}

/// `field.updated` of `f`, then of the partners it no longer pairs with.
fn field_updated(f: &Field, unpaired: &[Field]) -> Vec<Entry> {
    std::iter::once(f)
        .chain(unpaired)
        .map(|f| Entry::from(NewChange::field(ChangeKind::FieldUpdated, f)))
        .collect()
}

impl SqliteStore {
    /// [`SchemaStore::replace_field`], with `expected` the cells
    /// [`SchemaStore::replace_field_if`] compares first (`Ok(false)`,
    /// nothing written, when they differ).
    async fn replace_field_checked(
        &self,
        field: &Field,
        cells: &[(RecordId, Option<Value>)],
        expected: Option<Vec<(RecordId, Value)>>,
    ) -> StoreResult<bool> {
        let f = field.clone();
        let converted = cells.to_vec();
        let cells = cells
            .iter()
            .map(|(r, v)| (*r, v.as_ref().map(Value::to_string)))
            .collect::<Vec<_>>();
        let actor = current_actor();
        let out = self
            .write(move |tx| {
                // The single writer runs this whole: no write of the table
                // comes between the compare and the rewrite.
                if let Some(expected) = &expected
                    && stored_cells(tx, f.table_id, f.id)? != *expected
                {
                    return Ok(false);
                }
                let unpaired = save_field(tx, &f)?;
                // `field.updated` (and of the partners it left), then one
                // `record.updated` per converted cell.
                let mut log = field_updated(&f, &unpaired);
                log.extend(changes::converted(tx, &f, converted)?);
                changes::log(tx, Some(&f.updated_at), actor, &log)?;
                for (record, value) in &cells {
                    layout::write_cell(
                        tx,
                        f.table_id.as_str(),
                        record.as_str(),
                        f.id.as_str(),
                        value.as_deref(),
                    )?;
                }
                let is_link = matches!(f.field_type, FieldType::Link(_));
                crate::links::reindex_field(tx, f.table_id, f.id, is_link)?;
                Ok(true)
            })
            .await?;
        if out {
            self.build_cell_indexes().await?;
        }
        Ok(out)
    }
}

/// The stored cells of `field` in `table`, by record id, as
/// `RecordsStore::field_cells` reads them.
fn stored_cells(tx: &Connection, table: TableId, field: FieldId) -> Result<Vec<(RecordId, Value)>> {
    let path = cell_path(field.as_str());
    let mut stmt = tx.prepare_cached(
        "SELECT id, data -> ?1 FROM records WHERE table_id = ?2 \
         AND json_type(data, ?1) IS NOT NULL ORDER BY id",
    )?;
    let rows = stmt.query_map(params![path, table.as_str()], |r| {
        Ok((id(r, 0)?, json(r, 1)?))
    })?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

#[async_trait]
impl SchemaStore for SqliteStore {
    async fn create_base(&self, base: &Base) -> StoreResult<()> {
        let b = base.clone();
        self.write(move |tx| {
            require(
                tx,
                "SELECT 1 FROM workspaces WHERE id = ?1",
                "workspace",
                b.workspace_id.as_str(),
            )?;
            tx.prepare_cached(&format!(
                "INSERT INTO bases ({BASE_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
            ))?
            .execute(params![
                b.id.as_str(),
                b.workspace_id.as_str(),
                b.name,
                b.description,
                fmt_time(&b.created_at),
                fmt_time(&b.updated_at),
            ])?;
            Ok(())
        })
        .await
    }

    async fn get_base(&self, id: BaseId) -> StoreResult<Base> {
        self.read_small(move |conn| {
            conn.prepare_cached(&format!("SELECT {BASE_COLUMNS} FROM bases WHERE id = ?1"))?
                .query_row([id.as_str()], base)
                .optional()?
                .ok_or_else(|| Error::not_found("base", id))
        })
        .await
    }

    async fn list_bases(&self, ws: WorkspaceId) -> StoreResult<Vec<Base>> {
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {BASE_COLUMNS} FROM bases WHERE workspace_id = ?1 ORDER BY created_at, id"
            ))?;
            let rows = stmt.query_map([ws.as_str()], base)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    async fn update_base(&self, base: &Base) -> StoreResult<()> {
        let b = base.clone();
        self.write(move |tx| {
            let n = tx
                .prepare_cached(
                    "UPDATE bases SET name = ?2, description = ?3, updated_at = ?4 WHERE id = ?1",
                )?
                .execute(params![
                    b.id.as_str(),
                    b.name,
                    b.description,
                    fmt_time(&b.updated_at)
                ])?;
            if n == 0 {
                return Err(Error::not_found("base", b.id));
            }
            Ok(())
        })
        .await
    }

    async fn delete_base(&self, id: BaseId) -> StoreResult<()> {
        self.write(move |tx| {
            // Tables, fields and records go by ON DELETE CASCADE (and
            // their cell index entries with them, by trigger).
            let n = tx
                .prepare_cached("DELETE FROM bases WHERE id = ?1")?
                .execute([id.as_str()])?;
            if n == 0 {
                return Err(Error::not_found("base", id));
            }
            Ok(())
        })
        .await
    }

    async fn create_table(&self, table: &Table, fields: &[Field]) -> StoreResult<()> {
        let t = table.clone();
        let fields = fields.to_vec();
        let actor = current_actor();
        self.write(move |tx| {
            require(
                tx,
                "SELECT 1 FROM bases WHERE id = ?1",
                "base",
                t.base_id.as_str(),
            )?;
            let key = name_key(&t.name);
            table_names::check_free(tx, t.base_id.as_str(), &key, None)?;
            tx.prepare_cached(&format!(
                "INSERT INTO tables ({TABLE_COLUMNS}, name_key) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
            ))?
            .execute(params![
                t.id.as_str(),
                t.base_id.as_str(),
                t.workspace_id.as_str(),
                t.name,
                t.description,
                t.primary_field_id.as_ref().map(FieldId::as_str),
                t.position,
                fmt_time(&t.created_at),
                fmt_time(&t.updated_at),
                key,
            ])?;
            for f in &fields {
                insert_field(tx, f)?;
            }
            let mut log = vec![Entry::from(NewChange::table(ChangeKind::TableCreated, &t))];
            log.extend(
                fields
                    .iter()
                    .map(|f| Entry::from(NewChange::field(ChangeKind::FieldCreated, f))),
            );
            // A new table has no records: its indexes are ready at once.
            changes::log(tx, Some(&t.created_at), actor, &log)
        })
        .await
    }

    async fn get_table(&self, id: TableId) -> StoreResult<Table> {
        self.read_small(move |conn| {
            conn.prepare_cached(&format!("SELECT {TABLE_COLUMNS} FROM tables WHERE id = ?1"))?
                .query_row([id.as_str()], table)
                .optional()?
                .ok_or_else(|| Error::not_found("table", id))
        })
        .await
    }

    async fn list_tables(&self, base: BaseId) -> StoreResult<Vec<Table>> {
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {TABLE_COLUMNS} FROM tables WHERE base_id = ?1 ORDER BY position, id"
            ))?;
            let rows = stmt.query_map([base.as_str()], table)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    async fn table_name_taken(
        &self,
        base: BaseId,
        name: &str,
        except: Option<TableId>,
    ) -> StoreResult<bool> {
        let key = name_key(name);
        self.read_small(move |conn| {
            table_names::key_taken(
                conn,
                base.as_str(),
                &key,
                except.as_ref().map(TableId::as_str),
            )
        })
        .await
    }

    async fn next_table_position(&self, base: BaseId) -> StoreResult<i64> {
        self.read_small(move |conn| table_names::next_position(conn, base.as_str()))
            .await
    }

    async fn update_table(&self, table: &Table) -> StoreResult<()> {
        let t = table.clone();
        let actor = current_actor();
        self.write(move |tx| {
            let (base, stored): (String, String) = tx
                .prepare_cached("SELECT base_id, name FROM tables WHERE id = ?1")?
                .query_row([t.id.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?
                .ok_or_else(|| Error::not_found("table", t.id))?;
            // Only a new name is checked and keyed: two tables sharing a key
            // from before the rule stay editable under their names.
            let key = (stored != t.name).then(|| name_key(&t.name));
            if let Some(key) = &key {
                table_names::check_free(tx, &base, key, Some(t.id.as_str()))?;
            }
            let n = tx
                .prepare_cached(
                    "UPDATE tables SET name = ?2, description = ?3, primary_field_id = ?4, \
                     position = ?5, updated_at = ?6, name_key = coalesce(?7, name_key) \
                     WHERE id = ?1",
                )?
                .execute(params![
                    t.id.as_str(),
                    t.name,
                    t.description,
                    t.primary_field_id.as_ref().map(FieldId::as_str),
                    t.position,
                    fmt_time(&t.updated_at),
                    key,
                ])?;
            if n == 0 {
                return Err(Error::not_found("table", t.id));
            }
            let log = vec![Entry::from(NewChange::table(ChangeKind::TableUpdated, &t))];
            changes::log(tx, Some(&t.updated_at), actor, &log)
        })
        .await
    }

    async fn delete_table(&self, id: TableId) -> StoreResult<()> {
        let actor = current_actor();
        self.write(move |tx| {
            // Logged first: the log finds the base through the table.
            let log = vec![Entry::from(NewChange::table_deleted(id))];
            match changes::log(tx, None, actor, &log) {
                Err(Error::Store(StoreError::NotFound { .. })) => {
                    return Err(Error::not_found("table", id));
                }
                other => other?,
            }
            // Fields, views, attachments and records go by ON DELETE
            // CASCADE (and the records' cell index entries by trigger).
            let n = tx
                .prepare_cached("DELETE FROM tables WHERE id = ?1")?
                .execute([id.as_str()])?;
            if n == 0 {
                return Err(Error::not_found("table", id));
            }
            Ok(())
        })
        .await
    }

    async fn create_field(&self, field: &Field) -> StoreResult<()> {
        let f = field.clone();
        let actor = current_actor();
        let out = self
            .write(move |tx| {
                require(
                    tx,
                    "SELECT 1 FROM tables WHERE id = ?1",
                    "table",
                    f.table_id.as_str(),
                )?;
                insert_field(tx, &f)?;
                let log = vec![Entry::from(NewChange::field(ChangeKind::FieldCreated, &f))];
                changes::log(tx, Some(&f.created_at), actor, &log)
            })
            .await?;
        self.build_cell_indexes().await?;
        Ok(out)
    }

    async fn create_field_pair(&self, field: &Field, inverse: &Field) -> StoreResult<()> {
        let pair = [field.clone(), inverse.clone()];
        let actor = current_actor();
        self.write(move |tx| {
            for f in &pair {
                require(
                    tx,
                    "SELECT 1 FROM tables WHERE id = ?1",
                    "table",
                    f.table_id.as_str(),
                )?;
                insert_field(tx, f)?;
            }
            // Both tables are of one base (links stay inside their base).
            let log: Vec<Entry> = pair
                .iter()
                .map(|f| Entry::from(NewChange::field(ChangeKind::FieldCreated, f)))
                .collect();
            changes::log(tx, Some(&pair[0].created_at), actor, &log)
        })
        .await
    }

    async fn get_field(&self, id: FieldId) -> StoreResult<Field> {
        self.read_small(move |conn| {
            conn.prepare_cached(&format!("SELECT {FIELD_COLUMNS} FROM fields WHERE id = ?1"))?
                .query_row([id.as_str()], field)
                .optional()?
                .ok_or_else(|| Error::not_found("field", id))
        })
        .await
    }

    async fn table_access(&self, table: TableId, user: UserId) -> StoreResult<TableAccess> {
        let cache = self.fields_cache();
        self.read_small(move |conn| table_access_in(conn, &cache, table, user))
            .await
    }

    async fn list_fields(&self, table: TableId) -> StoreResult<Vec<Field>> {
        self.read_small(move |conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {FIELD_COLUMNS} FROM fields WHERE table_id = ?1 ORDER BY position, id"
            ))?;
            let rows = stmt.query_map([table.as_str()], field)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    async fn list_base_fields(&self, base: BaseId) -> StoreResult<Vec<Field>> {
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {FIELD_COLUMNS} FROM fields \
                 WHERE table_id IN (SELECT id FROM tables WHERE base_id = ?1) \
                 ORDER BY table_id, position, id"
            ))?;
            let rows = stmt.query_map([base.as_str()], field)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    async fn fields_of_type(&self, type_name: &str) -> StoreResult<Vec<Field>> {
        let type_name = type_name.to_owned();
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {FIELD_COLUMNS} FROM fields WHERE type = ?1 ORDER BY table_id, position, id"
            ))?;
            let rows = stmt.query_map([type_name], field)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    async fn update_field(&self, field: &Field) -> StoreResult<()> {
        let f = field.clone();
        let actor = current_actor();
        let out = self
            .write(move |tx| {
                let unpaired = save_field(tx, &f)?;
                let log = field_updated(&f, &unpaired);
                changes::log(tx, Some(&f.updated_at), actor, &log)
            })
            .await?;
        self.build_cell_indexes().await?;
        Ok(out)
    }

    async fn index_field_automatically(
        &self,
        field: FieldId,
        at: pybase_core::model::Timestamp,
    ) -> StoreResult<bool> {
        let at = fmt_time(&at);
        let out = self
            .write(move |tx| {
                let updated = tx
                .prepare_cached(&format!(
                    "UPDATE fields SET indexed = 1, index_origin = 'automatic', updated_at = ?2 \
                     WHERE id = ?1 AND NOT indexed AND index_origin <> 'declined' \
                     RETURNING {FIELD_COLUMNS}"
                ))?
                .query_row(params![field.as_str(), at], self::field)
                .optional()?;
                match updated {
                    Some(f) => {
                        sync_cell_index(tx, &f)?;
                        Ok(true)
                    }
                    None => Ok(false),
                }
            })
            .await?;
        self.build_cell_indexes().await?;
        Ok(out)
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
        self.replace_field_checked(field, cells, Some(expected.to_vec()))
            .await
    }

    async fn delete_field(&self, id: FieldId) -> StoreResult<()> {
        let actor = current_actor();
        self.write(move |tx| {
            let table: TableId = tx
                .prepare_cached("DELETE FROM fields WHERE id = ?1 RETURNING table_id")?
                .query_row([id.as_str()], |r| crate::rows::id(r, 0))
                .optional()?
                .ok_or_else(|| Error::not_found("field", id))?;
            let now = chrono::Utc::now();
            let unpaired = crate::links::unpair(tx, id, None, &fmt_time(&now))?;
            layout::drop_cell_index(tx, id)?;
            tx.prepare_cached(
                "UPDATE records SET data = jsonb_remove(data, ?1) \
                 WHERE table_id = ?2 AND json_type(data, ?1) IS NOT NULL",
            )?
            .execute(params![cell_path(id.as_str()), table.as_str()])?;
            let mut log = vec![Entry::from(NewChange::field_deleted(table, id))];
            log.extend(
                unpaired
                    .iter()
                    .map(|f| Entry::from(NewChange::field(ChangeKind::FieldUpdated, f))),
            );
            changes::log(tx, Some(&now), actor, &log)
        })
        .await
    }

    async fn create_view(&self, view: &View) -> StoreResult<()> {
        let v = view.clone();
        let config = serde_json::to_string(&v.config).map_err(Error::from)?;
        let type_name = view_type_name(v.view_type)?;
        let actor = current_actor();
        self.write(move |tx| {
            require(
                tx,
                "SELECT 1 FROM tables WHERE id = ?1",
                "table",
                v.table_id.as_str(),
            )?;
            tx.prepare_cached(&format!(
                "INSERT INTO views ({VIEW_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
            ))?
            .execute(params![
                v.id.as_str(),
                v.table_id.as_str(),
                v.name,
                type_name,
                config,
                v.position,
                fmt_time(&v.created_at),
                fmt_time(&v.updated_at),
            ])?;
            let log = vec![Entry::from(NewChange::view(ChangeKind::ViewCreated, &v))];
            changes::log(tx, Some(&v.created_at), actor, &log)
        })
        .await
    }

    async fn get_view(&self, id: ViewId) -> StoreResult<View> {
        self.read_small(move |conn| {
            conn.prepare_cached(&format!("SELECT {VIEW_COLUMNS} FROM views WHERE id = ?1"))?
                .query_row([id.as_str()], view)
                .optional()?
                .ok_or_else(|| Error::not_found("view", id))
        })
        .await
    }

    async fn list_views(&self, table: TableId) -> StoreResult<Vec<View>> {
        self.read_small(move |conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {VIEW_COLUMNS} FROM views WHERE table_id = ?1 ORDER BY position, id"
            ))?;
            let rows = stmt.query_map([table.as_str()], view)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    async fn update_view(&self, view: &View) -> StoreResult<()> {
        let v = view.clone();
        let config = serde_json::to_string(&v.config).map_err(Error::from)?;
        let actor = current_actor();
        self.write(move |tx| {
            let n = tx
                .prepare_cached(
                    "UPDATE views SET name = ?2, config = ?3, position = ?4, updated_at = ?5 \
                     WHERE id = ?1",
                )?
                .execute(params![
                    v.id.as_str(),
                    v.name,
                    config,
                    v.position,
                    fmt_time(&v.updated_at)
                ])?;
            if n == 0 {
                return Err(Error::not_found("view", v.id));
            }
            let log = vec![Entry::from(NewChange::view(ChangeKind::ViewUpdated, &v))];
            changes::log(tx, Some(&v.updated_at), actor, &log)
        })
        .await
    }

    async fn delete_view(&self, id: ViewId) -> StoreResult<()> {
        let actor = current_actor();
        self.write(move |tx| {
            let table: TableId = tx
                .prepare_cached("DELETE FROM views WHERE id = ?1 RETURNING table_id")?
                .query_row([id.as_str()], |r| crate::rows::id(r, 0))
                .optional()?
                .ok_or_else(|| Error::not_found("view", id))?;
            let log = vec![Entry::from(NewChange::view_deleted(table, id))];
            changes::log(tx, None, actor, &log)
        })
        .await
    }
}
