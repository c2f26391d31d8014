//! The facade every embedding program and the server use: [`Pybase`].
//!
//! Each operation takes the acting [`Principal`] and checks its role in the
//! workspace involved before touching storage, so an embedding application
//! gets exactly the permission rules of the HTTP API:
//! - a non-member (or an API key limited to other workspaces) gets
//!   [`Error::NotFound`], never a hint that the resource exists;
//! - a member whose role or key scope is too low gets [`Error::Forbidden`].

mod attachments;
mod inputs;
mod records;
mod render;
mod schema;
mod workspaces;

pub use inputs::{
    BasePatch, CellsInput, FieldPatch, NewBase, NewField, NewMember, NewTable, NewView,
    NewWorkspace, QueryInput, TablePatch, ViewPatch, WorkspacePatch, WriteOptions,
};
pub use records::MAX_BATCH;
pub use render::{FieldKey, RecordOut, RecordsPage, TableSchema, UpsertResult, attachment_json};
pub(crate) use workspaces::check_name_within;
pub use workspaces::{MAX_DESCRIPTION_CHARS, MAX_NAME_CHARS};

use std::sync::Arc;

use object_store::ObjectStore;
use object_store::memory::InMemory;

use crate::clock::{Clock, SystemClock};
use crate::error::{Error, Result, StoreError};
use crate::ids::{TableId, WorkspaceId};
use crate::limits::Limits;
use crate::model::{Field, Table};
use crate::principal::Principal;
use crate::role::{Action, Role};
use crate::store::Store;

/// PyBase as a library: storage, object storage and a clock behind the
/// permission rules.
#[derive(Debug, Clone)]
pub struct Pybase {
    store: Arc<dyn Store>,
    objects: Arc<dyn ObjectStore>,
    clock: Arc<dyn Clock>,
    limits: Limits,
}

impl Pybase {
    /// A facade over `store`, keeping attachment bytes in memory until
    /// [`Pybase::with_object_store`] says otherwise.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self {
            store,
            objects: Arc::new(InMemory::new()),
            clock: Arc::new(SystemClock),
            limits: Limits::default(),
        }
    }

    /// Keeps attachment bytes in `objects` (a local folder, S3, ...).
    pub fn with_object_store(mut self, objects: Arc<dyn ObjectStore>) -> Self {
        self.objects = objects;
        self
    }

    /// Uses `clock` for every timestamp.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Bounds every input with `limits` instead of [`Limits::default`].
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The input limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The storage backend.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The object store holding attachment bytes.
    pub fn object_store(&self) -> &Arc<dyn ObjectStore> {
        &self.objects
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Checks that `principal` may do `action` in `ws` and returns its role.
    /// Non-members get `NotFound { entity }` so nothing leaks.
    pub async fn authorize(
        &self,
        principal: &Principal,
        ws: WorkspaceId,
        action: Action,
        entity: &'static str,
    ) -> Result<Role> {
        if !principal.can_see_workspace(ws) {
            return Err(Error::not_found(entity));
        }
        let role = self.store.member_role(ws, principal.user_id()).await?;
        check_role(principal, ws, role, action, entity)
    }

    /// Loads a table and its fields in one store read and checks `action`
    /// on its workspace: the start of every record operation.
    pub(crate) async fn table_fields_for(
        &self,
        principal: &Principal,
        id: TableId,
        action: Action,
    ) -> Result<(Table, Arc<[Field]>)> {
        let access = self
            .store
            .table_access(id, principal.user_id())
            .await
            .map_err(|e| not_found_as(e, "table"))?;
        check_role(
            principal,
            access.table.workspace_id,
            access.role,
            action,
            "table",
        )?;
        Ok((access.table, access.fields))
    }

    /// Loads a table and checks `action` on its workspace.
    pub(crate) async fn table_for(
        &self,
        principal: &Principal,
        id: TableId,
        action: Action,
    ) -> Result<Table> {
        let table = self
            .store
            .get_table(id)
            .await
            .map_err(|e| not_found_as(e, "table"))?;
        self.authorize(principal, table.workspace_id, action, "table")
            .await?;
        Ok(table)
    }
}

/// Maps a store `NotFound` to the facade's, naming `entity`.
pub(crate) fn not_found_as(e: StoreError, entity: &'static str) -> Error {
    match e {
        StoreError::NotFound { .. } => Error::NotFound { entity },
        other => other.into(),
    }
}

/// The permission rule: `role` is the principal's role in `ws` (`None` for
/// a non-member). Non-members and keys limited to other workspaces get
/// `NotFound { entity }`; too low a role or scope gets `Forbidden`.
fn check_role(
    principal: &Principal,
    ws: WorkspaceId,
    role: Option<Role>,
    action: Action,
    entity: &'static str,
) -> Result<Role> {
    if !principal.can_see_workspace(ws) {
        return Err(Error::not_found(entity));
    }
    let role = role.ok_or(Error::NotFound { entity })?;
    if !principal.allows(role, action) {
        return Err(Error::forbidden(forbidden_message(role, action, principal)));
    }
    Ok(role)
}

fn forbidden_message(role: Role, action: Action, principal: &Principal) -> String {
    if role < action.min_role() {
        format!(
            "this needs the {} role or higher; you are {role}",
            action.min_role()
        )
    } else {
        let _ = principal;
        format!("this API key lacks the {} scope", action.scope().as_str())
    }
}
