//! The permission check, and the scopes only it can produce.
//!
//! Every operation of the facade starts here: [`Pybase::authorize`] and the
//! `*_for` loaders below check the caller's role (and API-key scope) in the
//! workspace involved and answer a scope value ([`WorkspaceScope`],
//! [`BaseScope`], [`TableScope`]) carrying the entity and the role. The
//! scopes have private fields and no constructor outside this module, and
//! the facade's helpers that touch the store take a scope, so an operation
//! cannot reach them without having passed the check.
//!
//! The rule: a non-member (or an API key limited to other workspaces) gets
//! [`Error::NotFound`] naming the entity asked for, never a hint that it
//! exists; a member whose role or key scope is too low gets
//! [`Error::Forbidden`].

use std::sync::Arc;

use super::{Pybase, not_found_as};
use crate::error::{Error, Result};
use crate::ids::{BaseId, FieldId, RecordId, TableId, UserId, ViewId, WorkspaceId};
use crate::model::{Base, Field, Record, Table, View};
use crate::principal::Principal;
use crate::role::{Action, Role, Scope};

/// Proof that the caller may do one action in a workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkspaceScope {
    id: WorkspaceId,
    role: Role,
    action: Action,
}

impl WorkspaceScope {
    /// The workspace.
    pub fn id(&self) -> WorkspaceId {
        self.id
    }

    /// The caller's role in it.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The action the check allowed.
    pub fn action(&self) -> Action {
        self.action
    }
}

/// Proof that the caller may do one action on a base.
#[derive(Debug, Clone, PartialEq)]
pub struct BaseScope {
    base: Base,
    role: Role,
    action: Action,
    user: UserId,
}

impl BaseScope {
    /// The base as read by the check.
    pub fn base(&self) -> &Base {
        &self.base
    }

    /// The caller's role in the base's workspace.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The action the check allowed.
    pub fn action(&self) -> Action {
        self.action
    }

    /// The acting user (the actor of the changes logged under this scope).
    pub fn user(&self) -> UserId {
        self.user
    }

    /// The base, for changing and saving it.
    pub(crate) fn into_base(self) -> Base {
        self.base
    }

    /// The scope of a table being created in this base, placed into it
    /// (its base and workspace are this base's whatever `table` said).
    pub(crate) fn new_table(&self, mut table: Table) -> TableScope {
        table.base_id = self.base.id;
        table.workspace_id = self.base.workspace_id;
        TableScope {
            table,
            role: self.role,
            action: self.action,
            user: self.user,
        }
    }
}

/// Proof that the caller may do one action on a table.
#[derive(Debug, Clone, PartialEq)]
pub struct TableScope {
    table: Table,
    role: Role,
    action: Action,
    user: UserId,
}

impl TableScope {
    /// The table as read by the check.
    pub fn table(&self) -> &Table {
        &self.table
    }

    /// The table's id.
    pub fn id(&self) -> TableId {
        self.table.id
    }

    /// The caller's role in the table's workspace.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The action the check allowed.
    pub fn action(&self) -> Action {
        self.action
    }

    /// The acting user (the actor of the changes logged under this scope).
    pub fn user(&self) -> UserId {
        self.user
    }

    /// The table, for changing and saving it.
    pub(crate) fn into_table(self) -> Table {
        self.table
    }

    /// The scope of another table of the same workspace, for the same
    /// caller and action (deleting a table converts links to it in its
    /// sibling tables). `None` if `other` lies in another workspace.
    pub(crate) fn sibling(&self, other: Table) -> Option<Self> {
        (other.workspace_id == self.table.workspace_id).then_some(Self {
            table: other,
            role: self.role,
            action: self.action,
            user: self.user,
        })
    }
}

impl Pybase {
    /// Checks that `principal` may do `action` in `ws`. Non-members get
    /// `NotFound { entity }` so nothing leaks.
    pub async fn authorize(
        &self,
        principal: &Principal,
        ws: WorkspaceId,
        action: Action,
        entity: &'static str,
    ) -> Result<WorkspaceScope> {
        if !principal.can_see_workspace(ws) {
            return Err(Error::not_found(entity));
        }
        let role = self.store.member_role(ws, principal.user_id()).await?;
        let role = check_role(principal, ws, role, action, entity)?;
        Ok(WorkspaceScope {
            id: ws,
            role,
            action,
        })
    }

    /// Loads a base and checks `action` on its workspace.
    pub(crate) async fn base_for(
        &self,
        principal: &Principal,
        id: BaseId,
        action: Action,
    ) -> Result<BaseScope> {
        let base = self
            .store
            .get_base(id)
            .await
            .map_err(|e| not_found_as(e, "base"))?;
        let ws = self
            .authorize(principal, base.workspace_id, action, "base")
            .await?;
        Ok(BaseScope {
            base,
            role: ws.role,
            action,
            user: principal.user_id(),
        })
    }

    /// Loads a table and its fields in one store read and checks `action`
    /// on its workspace: the start of every record operation.
    pub(crate) async fn table_fields_for(
        &self,
        principal: &Principal,
        id: TableId,
        action: Action,
    ) -> Result<(TableScope, Arc<[Field]>)> {
        let access = self
            .store
            .table_access(id, principal.user_id())
            .await
            .map_err(|e| not_found_as(e, "table"))?;
        let role = check_role(
            principal,
            access.table.workspace_id,
            access.role,
            action,
            "table",
        )?;
        Ok((
            TableScope {
                table: access.table,
                role,
                action,
                user: principal.user_id(),
            },
            access.fields,
        ))
    }

    /// Loads a table, its fields and its live record `id` in one store read
    /// and checks `action`; a missing record is `NotFound` only after the
    /// check passed.
    pub(crate) async fn record_for(
        &self,
        principal: &Principal,
        table: TableId,
        id: RecordId,
        action: Action,
    ) -> Result<(TableScope, Arc<[Field]>, Record)> {
        let (access, record) = self
            .store
            .record_access(table, id, principal.user_id())
            .await
            .map_err(|e| not_found_as(e, "table"))?;
        let role = check_role(
            principal,
            access.table.workspace_id,
            access.role,
            action,
            "table",
        )?;
        let record = record.ok_or(Error::NotFound { entity: "record" })?;
        Ok((
            TableScope {
                table: access.table,
                role,
                action,
                user: principal.user_id(),
            },
            access.fields,
            record,
        ))
    }

    /// Loads a table and checks `action` on its workspace.
    pub(crate) async fn table_for(
        &self,
        principal: &Principal,
        id: TableId,
        action: Action,
    ) -> Result<TableScope> {
        let table = self
            .store
            .get_table(id)
            .await
            .map_err(|e| not_found_as(e, "table"))?;
        self.table_scope(principal, table, action, "table").await
    }

    /// Checks `action` on the workspace of `table`, already read, naming
    /// `entity` (the thing asked for) when the caller may not see it.
    async fn table_scope(
        &self,
        principal: &Principal,
        table: Table,
        action: Action,
        entity: &'static str,
    ) -> Result<TableScope> {
        let ws = self
            .authorize(principal, table.workspace_id, action, entity)
            .await?;
        Ok(TableScope {
            table,
            role: ws.role,
            action,
            user: principal.user_id(),
        })
    }

    /// Loads a field and its table and checks `action`.
    pub(crate) async fn field_for(
        &self,
        principal: &Principal,
        id: FieldId,
        action: Action,
    ) -> Result<(TableScope, Field)> {
        let field = self
            .store
            .get_field(id)
            .await
            .map_err(|e| not_found_as(e, "field"))?;
        let scope = self
            .scope_of_table(principal, field.table_id, action, "field")
            .await?;
        Ok((scope, field))
    }

    /// Loads a view and its table and checks `action`.
    pub(crate) async fn view_for(
        &self,
        principal: &Principal,
        id: ViewId,
        action: Action,
    ) -> Result<(TableScope, View)> {
        let view = self
            .store
            .get_view(id)
            .await
            .map_err(|e| not_found_as(e, "view"))?;
        let scope = self
            .scope_of_table(principal, view.table_id, action, "view")
            .await?;
        Ok((scope, view))
    }

    /// Loads the table an attachment belongs to and checks `action`,
    /// naming the attachment when the caller may not see it.
    pub(crate) async fn attachment_table_for(
        &self,
        principal: &Principal,
        table: TableId,
        action: Action,
    ) -> Result<TableScope> {
        self.scope_of_table(principal, table, action, "attachment")
            .await
    }

    /// Loads `table` and checks `action`, naming `entity` when the caller
    /// may not see it.
    async fn scope_of_table(
        &self,
        principal: &Principal,
        table: TableId,
        action: Action,
        entity: &'static str,
    ) -> Result<TableScope> {
        let table = self
            .store
            .get_table(table)
            .await
            .map_err(|e| not_found_as(e, entity))?;
        self.table_scope(principal, table, action, entity).await
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
        return Err(Error::forbidden(forbidden_message(
            role,
            action,
            principal.scopes(),
        )));
    }
    Ok(role)
}

fn forbidden_message(role: Role, action: Action, scopes: Option<&[Scope]>) -> String {
    if role < action.min_role() {
        format!(
            "this needs the {} role or higher; you are {role}",
            action.min_role()
        )
    } else {
        let missing = action.missing_scope(scopes).unwrap_or(action.scope());
        format!("this API key lacks the {} scope", missing.as_str())
    }
}
