//! Who is acting: a signed-in user, or an API key acting for its user.

use crate::ids::{ApiKeyId, UserId, WorkspaceId};
use crate::model::Timestamp;
use crate::role::{Action, Role, Scope};

/// The acting party of every facade operation.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Principal {
    /// A user signed in with a password (JWT access token).
    User {
        /// The user.
        id: UserId,
    },
    /// An API key; it can never do more than its user.
    ApiKey {
        /// The key.
        id: ApiKeyId,
        /// Its owner.
        user_id: UserId,
        /// What it may do, intersected with the owner's role.
        scopes: Vec<Scope>,
        /// The workspaces it is limited to; `None` means all of the user's.
        workspaces: Option<Vec<WorkspaceId>>,
        /// When the key stops working; `None` for never. A key it creates
        /// cannot outlive it.
        expires_at: Option<Timestamp>,
    },
}

impl Principal {
    /// A principal for a signed-in user.
    pub fn user(id: UserId) -> Self {
        Self::User { id }
    }

    /// The user the principal acts for.
    pub fn user_id(&self) -> UserId {
        match self {
            Self::User { id } => *id,
            Self::ApiKey { user_id, .. } => *user_id,
        }
    }

    /// The key's scopes, or `None` for a user (no scope limit).
    pub fn scopes(&self) -> Option<&[Scope]> {
        match self {
            Self::User { .. } => None,
            Self::ApiKey { scopes, .. } => Some(scopes),
        }
    }

    /// Whether the principal may see `ws` at all (a key limited to other
    /// workspaces sees nothing of it). Membership is checked separately.
    pub fn can_see_workspace(&self, ws: WorkspaceId) -> bool {
        match self {
            Self::ApiKey {
                workspaces: Some(list),
                ..
            } => list.contains(&ws),
            _ => true,
        }
    }

    /// Whether a member with `role` acting through this principal may do `action`.
    pub fn allows(&self, role: Role, action: Action) -> bool {
        action.allowed(role, self.scopes())
    }

    /// Whether the principal may act on the account's keys: users always;
    /// keys only with the `admin` scope (a workspace-limited key only on
    /// keys limited to its own workspaces).
    pub fn can_manage_account(&self) -> bool {
        self.scopes().is_none_or(|s| s.contains(&Scope::Admin))
    }

    /// Whether the principal may change the account itself (profile,
    /// password): users always; keys only with the `admin` scope and no
    /// workspace limit, since a limited key must not act beyond its
    /// workspaces.
    pub fn can_change_account(&self) -> bool {
        match self {
            Self::User { .. } => true,
            Self::ApiKey {
                scopes, workspaces, ..
            } => workspaces.is_none() && scopes.contains(&Scope::Admin),
        }
    }

    /// The workspaces the principal is limited to (`None`: no limit).
    pub fn workspace_limit(&self) -> Option<&[WorkspaceId]> {
        match self {
            Self::User { .. } => None,
            Self::ApiKey { workspaces, .. } => workspaces.as_deref(),
        }
    }

    /// When the principal's own credential expires, for an API key with an
    /// expiry; `None` otherwise.
    pub fn key_expires_at(&self) -> Option<Timestamp> {
        match self {
            Self::User { .. } => None,
            Self::ApiKey { expires_at, .. } => *expires_at,
        }
    }
}
