//! Workspace roles, API-key scopes and the actions they allow.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A member's role in a workspace, highest first: owner > admin > editor > viewer.
///
/// `Ord` follows the hierarchy, so `role >= Role::Editor` reads as "editor or above".
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "openapi",
    schema(description = "A workspace role, highest first: owner > admin > editor > viewer.")
)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads everything in the workspace.
    Viewer,
    /// Viewer, plus creating, updating and deleting records and uploading attachments.
    Editor,
    /// Editor, plus schema (bases, tables, fields, views) and members below owner.
    Admin,
    /// Admin, plus workspace settings, deletion and owners.
    Owner,
}

impl Role {
    /// All roles, lowest first.
    pub const ALL: [Self; 4] = [Self::Viewer, Self::Editor, Self::Admin, Self::Owner];

    /// The lowercase name used in the API and in storage.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Editor => "editor",
            Self::Admin => "admin",
            Self::Owner => "owner",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "viewer" => Ok(Self::Viewer),
            "editor" => Ok(Self::Editor),
            "admin" => Ok(Self::Admin),
            "owner" => Ok(Self::Owner),
            other => Err(format!(
                "expected one of owner, admin, editor, viewer, got {other:?}"
            )),
        }
    }
}

/// What an API key may do; intersected with its user's role.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Read workspaces, schema and records.
    Read,
    /// Create, update and delete records; upload attachments.
    Write,
    /// Change bases, tables, fields and views.
    Schema,
    /// Manage members and workspace settings.
    Admin,
}

impl Scope {
    /// All scopes.
    pub const ALL: [Self; 4] = [Self::Read, Self::Write, Self::Schema, Self::Admin];

    /// The lowercase name used in the API and in storage.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Write => "write",
            Self::Schema => "schema",
            Self::Admin => "admin",
        }
    }
}

impl FromStr for Scope {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "read" => Ok(Self::Read),
            "write" => Ok(Self::Write),
            "schema" => Ok(Self::Schema),
            "admin" => Ok(Self::Admin),
            other => Err(format!(
                "expected one of read, write, schema, admin, got {other:?}"
            )),
        }
    }
}

/// A kind of operation, each needing a minimum role and an API-key scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Read the workspace, its members, schema and records.
    Read,
    /// Create, update, delete or restore records; upload attachments.
    WriteRecords,
    /// Create, change or delete bases, tables, fields and views.
    ChangeSchema,
    /// Add, change or remove members below owner.
    ManageMembers,
    /// Rename or describe the workspace.
    UpdateWorkspace,
    /// Delete the workspace, or grant, change or remove the owner role.
    OwnWorkspace,
    /// Leave a workspace (remove one's own membership): any member, but an
    /// API key needs the `admin` scope, since it changes the account.
    LeaveWorkspace,
    /// Create, read, change or delete webhooks (they carry every change of a
    /// base to another server, and their secrets).
    ManageWebhooks,
}

impl Action {
    /// The lowest role allowed to perform this action.
    pub fn min_role(self) -> Role {
        match self {
            Self::Read | Self::LeaveWorkspace => Role::Viewer,
            Self::WriteRecords => Role::Editor,
            Self::ChangeSchema
            | Self::ManageMembers
            | Self::UpdateWorkspace
            | Self::ManageWebhooks => Role::Admin,
            Self::OwnWorkspace => Role::Owner,
        }
    }

    /// The API-key scope this action needs.
    pub fn scope(self) -> Scope {
        match self {
            Self::Read => Scope::Read,
            Self::WriteRecords => Scope::Write,
            Self::ChangeSchema => Scope::Schema,
            Self::ManageMembers
            | Self::UpdateWorkspace
            | Self::OwnWorkspace
            | Self::LeaveWorkspace
            | Self::ManageWebhooks => Scope::Admin,
        }
    }

    /// Every API-key scope this action needs: its own [`Action::scope`],
    /// and `read` as well for record writes, since their answers carry the
    /// records' cells (an update, upsert, restore or revert would otherwise
    /// read records a key without `read` may not), and for webhooks, since
    /// they deliver every change's cells to the URL the key chooses.
    pub fn scopes(self) -> &'static [Scope] {
        match self {
            Self::Read => &[Scope::Read],
            Self::WriteRecords => &[Scope::Write, Scope::Read],
            Self::ChangeSchema => &[Scope::Schema],
            Self::ManageWebhooks => &[Scope::Admin, Scope::Read],
            Self::ManageMembers
            | Self::UpdateWorkspace
            | Self::OwnWorkspace
            | Self::LeaveWorkspace => &[Scope::Admin],
        }
    }

    /// The first scope of [`Action::scopes`] missing from `scopes`.
    pub fn missing_scope(self, scopes: Option<&[Scope]>) -> Option<Scope> {
        let held = scopes?;
        self.scopes().iter().copied().find(|s| !held.contains(s))
    }

    /// Whether `role` (and, for API keys, `scopes`) allows this action.
    pub fn allowed(self, role: Role, scopes: Option<&[Scope]>) -> bool {
        role >= self.min_role() && self.missing_scope(scopes).is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_order_and_parse() {
        assert!(Role::Owner > Role::Admin && Role::Admin > Role::Editor);
        assert!(Role::Editor > Role::Viewer);
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>(), Ok(r));
        }
        assert!("root".parse::<Role>().is_err());
    }

    #[test]
    fn scopes_intersect_with_roles() {
        assert!(Action::WriteRecords.allowed(Role::Editor, None));
        assert!(!Action::WriteRecords.allowed(Role::Viewer, None));
        assert!(!Action::WriteRecords.allowed(Role::Owner, Some(&[Scope::Read])));
        assert!(!Action::ChangeSchema.allowed(Role::Editor, Some(&Scope::ALL)));
        assert!(Action::ChangeSchema.allowed(Role::Admin, Some(&[Scope::Schema])));
        // Leaving: any member, but never with a read-only key.
        assert!(Action::LeaveWorkspace.allowed(Role::Viewer, None));
        assert!(!Action::LeaveWorkspace.allowed(Role::Owner, Some(&[Scope::Read])));
        assert!(Action::LeaveWorkspace.allowed(Role::Viewer, Some(&[Scope::Admin])));
        // Record writes answer records: a key needs read as well as write.
        assert!(!Action::WriteRecords.allowed(Role::Editor, Some(&[Scope::Write])));
        assert_eq!(
            Action::WriteRecords.missing_scope(Some(&[Scope::Write])),
            Some(Scope::Read)
        );
        assert!(Action::WriteRecords.allowed(Role::Editor, Some(&[Scope::Write, Scope::Read])));
        // A webhook reads every change: `admin` alone does not make one.
        assert!(!Action::ManageWebhooks.allowed(Role::Owner, Some(&[Scope::Admin])));
        assert!(Action::ManageWebhooks.allowed(Role::Admin, Some(&[Scope::Admin, Scope::Read])));
        assert_eq!(Action::Read.missing_scope(None), None);
    }
}
