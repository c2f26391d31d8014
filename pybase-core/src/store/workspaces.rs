//! Workspaces and their members.

use async_trait::async_trait;

use crate::error::StoreResult;
use crate::ids::{UserId, WorkspaceId};
use crate::model::{Member, Timestamp, Workspace};
use crate::role::Role;

/// Workspaces and memberships.
///
/// The last owner rule is enforced here, atomically: demoting or removing the
/// only owner answers `Conflict { entity: "member", field: "last_owner" }`.
#[async_trait]
pub trait WorkspacesStore: Send + Sync {
    /// Inserts a workspace and makes `owner` its owner, atomically.
    /// `Conflict { field: "slug" }` if the slug is taken.
    async fn create_workspace(&self, ws: &Workspace, owner: UserId) -> StoreResult<()>;
    /// A workspace by id; `NotFound` if absent.
    async fn get_workspace(&self, id: WorkspaceId) -> StoreResult<Workspace>;
    /// The workspaces `user` belongs to with their role, oldest first.
    async fn list_workspaces(&self, user: UserId) -> StoreResult<Vec<(Workspace, Role)>>;
    /// Saves name, slug, description and `updated_at`; `NotFound`, or
    /// `Conflict { field: "slug" }`.
    async fn update_workspace(&self, ws: &Workspace) -> StoreResult<()>;
    /// Deletes a workspace and everything in it; `NotFound` if absent.
    async fn delete_workspace(&self, id: WorkspaceId) -> StoreResult<()>;

    /// `user`'s role in `ws`, or `None` if not a member (or no such workspace).
    async fn member_role(&self, ws: WorkspaceId, user: UserId) -> StoreResult<Option<Role>>;
    /// The members of `ws`, oldest first.
    async fn list_members(&self, ws: WorkspaceId) -> StoreResult<Vec<Member>>;
    /// Adds a member; `Conflict { field: "user" }` if already a member,
    /// `NotFound` if the workspace or user is absent.
    async fn add_member(
        &self,
        ws: WorkspaceId,
        user: UserId,
        role: Role,
        at: Timestamp,
    ) -> StoreResult<()>;
    /// Changes a member's role; `NotFound` if not a member; last-owner rule.
    async fn set_member_role(&self, ws: WorkspaceId, user: UserId, role: Role) -> StoreResult<()>;
    /// Removes a member; `NotFound` if not a member; last-owner rule.
    async fn remove_member(&self, ws: WorkspaceId, user: UserId) -> StoreResult<()>;
}
