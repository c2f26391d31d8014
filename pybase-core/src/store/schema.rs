//! Bases, tables, fields and views.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;

use super::WorkspacesStore;
use crate::error::StoreResult;
use crate::ids::{BaseId, FieldId, RecordId, TableId, UserId, ViewId, WorkspaceId};
use crate::model::{Base, Field, Table, View};
use crate::role::Role;

/// What every record operation reads first: the table, its fields and the
/// acting user's role in the table's workspace.
#[derive(Debug, Clone, PartialEq)]
pub struct TableAccess {
    /// The table.
    pub table: Table,
    /// Its fields by position (shared: backends may cache them).
    pub fields: Arc<[Field]>,
    /// The user's role in the table's workspace; `None` for a non-member.
    pub role: Option<Role>,
}

/// The schema of workspaces: bases, tables, fields and views.
///
/// Lists are ordered by `position`, then id. Field names are unique in a
/// table ignoring case: `Conflict { entity: "field", field: "name" }`.
/// Table names are unique in a base ignoring case (both by
/// [`crate::model::name_key`]): `create_table`, and an `update_table` that
/// changes the name, answer `Conflict { entity: "table", field: "name" }`
/// when another table of the base has the new name's key, checked inside
/// the write so two concurrent creates of one name never both succeed.
/// (A database written before that rule may hold tables whose names fold
/// alike: its migration keys the later ones apart, so each keeps its name,
/// and an update that keeps a table's name keeps its key.)
/// A field with `indexed` set has an index on its cells, created or dropped
/// by `create_field`, `update_field` and `replace_field` as the flag changes.
#[async_trait]
pub trait SchemaStore: WorkspacesStore + Send + Sync {
    /// Inserts a base; `NotFound` if the workspace is absent.
    async fn create_base(&self, base: &Base) -> StoreResult<()>;
    /// A base by id; `NotFound` if absent.
    async fn get_base(&self, id: BaseId) -> StoreResult<Base>;
    /// The bases of a workspace, oldest first.
    async fn list_bases(&self, ws: WorkspaceId) -> StoreResult<Vec<Base>>;
    /// Saves name, description and `updated_at`; `NotFound` if absent.
    async fn update_base(&self, base: &Base) -> StoreResult<()>;
    /// Deletes a base and all its tables; `NotFound` if absent.
    async fn delete_base(&self, id: BaseId) -> StoreResult<()>;

    /// Inserts a table with its initial fields, atomically; `NotFound` if
    /// the base is absent; name conflict (see the trait).
    async fn create_table(&self, table: &Table, fields: &[Field]) -> StoreResult<()>;
    /// A table by id; `NotFound` if absent.
    async fn get_table(&self, id: TableId) -> StoreResult<Table>;
    /// The tables of a base by position.
    async fn list_tables(&self, base: BaseId) -> StoreResult<Vec<Table>>;
    /// Whether a table of `base` other than `except` has `name`'s key
    /// ([`crate::model::name_key`]): the check before a create or a rename,
    /// so the caller can refuse early (the write checks again).
    ///
    /// The default reads every table of the base; the stores look the key
    /// up in an index, so the cost does not grow with the base.
    async fn table_name_taken(
        &self,
        base: BaseId,
        name: &str,
        except: Option<TableId>,
    ) -> StoreResult<bool> {
        let key = crate::model::name_key(name);
        Ok(self
            .list_tables(base)
            .await?
            .iter()
            .any(|t| Some(t.id) != except && crate::model::name_key(&t.name) == key))
    }
    /// The position after the last table of `base`: one more than the
    /// highest, 0 for a base without tables.
    ///
    /// The default reads every table of the base; the stores read the
    /// last entry of their `(base, position)` index.
    async fn next_table_position(&self, base: BaseId) -> StoreResult<i64> {
        Ok(self
            .list_tables(base)
            .await?
            .iter()
            .map(|t| t.position + 1)
            .max()
            .unwrap_or(0))
    }
    /// Saves name, description, primary field, position and `updated_at`;
    /// `NotFound` if absent; name conflict when the name changes (see the
    /// trait).
    async fn update_table(&self, table: &Table) -> StoreResult<()>;
    /// Deletes a table with its fields, views, records and attachment rows.
    async fn delete_table(&self, id: TableId) -> StoreResult<()>;

    /// The table, its fields and `user`'s role in its workspace, as one
    /// consistent read; `NotFound` if the table is absent.
    ///
    /// The default makes three calls ([`SchemaStore::get_table`],
    /// [`WorkspacesStore::member_role`], [`SchemaStore::list_fields`]);
    /// backends override it with one round trip, since every record read
    /// and write starts with it.
    async fn table_access(&self, table: TableId, user: UserId) -> StoreResult<TableAccess> {
        let table = self.get_table(table).await?;
        let role = self.member_role(table.workspace_id, user).await?;
        let fields = self.list_fields(table.id).await?.into();
        Ok(TableAccess {
            table,
            fields,
            role,
        })
    }

    /// Inserts a field; `NotFound` if the table is absent; name conflict.
    async fn create_field(&self, field: &Field) -> StoreResult<()>;
    /// Inserts a two-way link and its inverse (in another table) together,
    /// all or nothing; errors as [`SchemaStore::create_field`].
    ///
    /// The default creates them one after the other and removes the first
    /// if the second fails; both backends override it with one transaction.
    async fn create_field_pair(&self, field: &Field, inverse: &Field) -> StoreResult<()> {
        self.create_field(field).await?;
        if let Err(e) = self.create_field(inverse).await {
            // Best effort: the first is removed so no half pair is left.
            let _ = self.delete_field(field.id).await;
            return Err(e);
        }
        Ok(())
    }
    /// A field by id; `NotFound` if absent.
    async fn get_field(&self, id: FieldId) -> StoreResult<Field>;
    /// The fields of a table by position.
    async fn list_fields(&self, table: TableId) -> StoreResult<Vec<Field>>;
    /// Every field of every table of a base, grouped by table, each
    /// table's by position (the dependency graph of computed fields and
    /// the link fields pointing at a table read it). The default reads
    /// table by table; the stores answer in one statement.
    async fn list_base_fields(&self, base: BaseId) -> StoreResult<Vec<Field>> {
        let mut out = Vec::new();
        for t in self.list_tables(base).await? {
            out.extend(self.list_fields(t.id).await?);
        }
        Ok(out)
    }
    /// Every field of type `type_name` (API name) in every table, by
    /// table, position and id (the time-formula refresh looks for
    /// `formula` fields reading the clock).
    async fn fields_of_type(&self, type_name: &str) -> StoreResult<Vec<Field>>;
    /// Saves everything about a field except its table; cells are untouched.
    async fn update_field(&self, field: &Field) -> StoreResult<()>;
    /// Sets `indexed` (origin [`crate::model::IndexOrigin::Automatic`], updated at `at`)
    /// on a field that is not indexed and whose index was not declined,
    /// changing nothing else about it (one conditional update, so a
    /// concurrent change of another attribute is not lost), and builds its
    /// index. Returns whether it did; `false` when the field is gone,
    /// indexed or declined. Not logged: the field's cells and type do not
    /// change (API.md, "Not logged").
    async fn index_field_automatically(
        &self,
        field: FieldId,
        at: crate::model::Timestamp,
    ) -> StoreResult<bool>;
    /// Saves a field and rewrites its cells in one transaction: for each
    /// `(record, value)`, `Some` sets the cell and `None` removes it. Used for
    /// type changes and choice renames, so nothing is ever half-converted.
    /// Applies to soft-deleted records too.
    async fn replace_field(
        &self,
        field: &Field,
        cells: &[(RecordId, Option<Value>)],
    ) -> StoreResult<()>;
    /// [`Self::replace_field`], only while the field's stored cells are still
    /// `expected` (as [`super::RecordsStore::field_cells`] answered them:
    /// every record holding a cell of the field, soft-deleted ones too, by
    /// id), compared in the same transaction with the table's writers kept
    /// out: `Ok(false)`, nothing written, when a write changed them since
    /// (a conversion computed from them would undo it, or leave a cell of
    /// the old type behind).
    async fn replace_field_if(
        &self,
        field: &Field,
        cells: &[(RecordId, Option<Value>)],
        expected: &[(RecordId, Value)],
    ) -> StoreResult<bool>;
    /// Deletes a field and removes its cells from every record, atomically.
    async fn delete_field(&self, id: FieldId) -> StoreResult<()>;

    /// Inserts a view; `NotFound` if the table is absent.
    async fn create_view(&self, view: &View) -> StoreResult<()>;
    /// A view by id; `NotFound` if absent.
    async fn get_view(&self, id: ViewId) -> StoreResult<View>;
    /// The views of a table by position.
    async fn list_views(&self, table: TableId) -> StoreResult<Vec<View>>;
    /// Saves name, config, position and `updated_at`; `NotFound` if absent.
    async fn update_view(&self, view: &View) -> StoreResult<()>;
    /// Deletes a view; `NotFound` if absent.
    async fn delete_view(&self, id: ViewId) -> StoreResult<()>;
}
