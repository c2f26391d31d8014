//! Workspaces and members.

use std::collections::HashSet;

use super::access_epochs::AccessChange;
use super::authz::WorkspaceScope;
use super::inputs::{NewMember, NewWorkspace, WorkspacePatch};
use super::{Pybase, not_found_as};
use crate::error::{Error, Result, StoreError};
use crate::ids::{UserId, WorkspaceId};
use crate::model::{Member, Workspace};
use crate::principal::Principal;
use crate::role::{Action, Role};

/// Longest display name of a workspace, base, table, field or view, in
/// characters as sent (before trimming).
pub const MAX_NAME_CHARS: usize = 255;
/// Longest description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 10_000;

/// Checks a display name of a workspace, base, table, field or view: see
/// [`check_name_within`], with [`MAX_NAME_CHARS`].
pub(crate) fn check_name(field: &str, name: &str) -> Result<String> {
    check_name_within(field, name, MAX_NAME_CHARS)
}

/// Checks a name: at most `max` characters as sent, no control characters,
/// not only whitespace; answers it trimmed.
pub(crate) fn check_name_within(field: &str, name: &str, max: usize) -> Result<String> {
    if name.chars().count() > max || name.chars().any(char::is_control) || name.trim().is_empty() {
        return Err(Error::invalid(
            field,
            format!(
                "a name of 1 to {max} characters, not only whitespace, without control characters"
            ),
        ));
    }
    Ok(name.trim().to_owned())
}

/// Checks an optional description (up to 10,000 characters).
pub(crate) fn check_description(d: Option<String>) -> Result<Option<String>> {
    match d {
        Some(s) if s.chars().count() > MAX_DESCRIPTION_CHARS => Err(Error::invalid(
            "description",
            format!("at most {MAX_DESCRIPTION_CHARS} characters"),
        )),
        // PostgreSQL text cannot hold NUL; refused on every backend alike.
        Some(s) if s.contains('\0') => {
            Err(Error::invalid("description", "text without NUL characters"))
        }
        Some(s) if s.trim().is_empty() => Ok(None),
        other => Ok(other),
    }
}

fn check_slug(slug: &str) -> Result<String> {
    let ok = !slug.is_empty()
        && slug.len() <= 64
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !slug.starts_with('-')
        && !slug.ends_with('-')
        && !slug.contains("--");
    if ok {
        Ok(slug.to_owned())
    } else {
        Err(Error::invalid(
            "slug",
            format!(
                "lowercase letters, digits and single dashes, 1 to 64 characters, got {slug:?}"
            ),
        ))
    }
}

fn slugify(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let out: String = out.trim_end_matches('-').chars().take(48).collect();
    if out.is_empty() {
        "workspace".to_owned()
    } else {
        out
    }
}

impl Pybase {
    /// Refuses `workspaces` unless the caller is a member of each (an API
    /// key limited to a workspace its user cannot see would see nothing):
    /// `NotFound`, as for any workspace a non-member names, so an unknown
    /// workspace and one of others read alike.
    pub async fn check_member_of_all(
        &self,
        principal: &Principal,
        workspaces: &[WorkspaceId],
    ) -> Result<()> {
        // One read of the user's memberships, however long the list is.
        let mine: HashSet<WorkspaceId> = self
            .store
            .list_workspaces(principal.user_id())
            .await?
            .into_iter()
            .map(|(ws, _)| ws.id)
            .collect();
        if workspaces.iter().all(|ws| mine.contains(ws)) {
            Ok(())
        } else {
            Err(Error::NotFound {
                entity: "workspace (one you are a member of)",
            })
        }
    }

    /// Creates a workspace whose owner is the caller. API keys need the
    /// `admin` scope and no workspace limit.
    pub async fn create_workspace(
        &self,
        principal: &Principal,
        input: NewWorkspace,
    ) -> Result<Workspace> {
        if !principal.can_change_account() {
            return Err(Error::forbidden(
                "creating a workspace needs a user or an unrestricted admin API key",
            ));
        }
        let name = check_name("name", &input.name)?;
        let now = self.clock.now();
        let explicit = input.slug.is_some();
        let base_slug = match input.slug {
            Some(s) => check_slug(&s)?,
            None => slugify(&name),
        };
        let mut ws = Workspace {
            id: WorkspaceId::new(),
            name,
            slug: base_slug.clone(),
            description: check_description(input.description)?,
            created_at: now,
            updated_at: now,
        };
        // A derived slug that is taken gets a short random suffix; an explicit one is a conflict.
        for attempt in 0..5 {
            match self.store.create_workspace(&ws, principal.user_id()).await {
                Ok(()) => return Ok(ws),
                Err(StoreError::Conflict { field, .. })
                    if field == "slug" && !explicit && attempt < 4 =>
                {
                    let suffix: String = ws.id.as_str()[11..].to_ascii_lowercase();
                    ws.slug = format!("{base_slug}-{suffix}");
                    ws.id = WorkspaceId::new();
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::Conflict {
            field: "slug".into(),
            message: "slug already taken".into(),
        })
    }

    /// The workspaces the caller belongs to (and its key may see), with roles.
    pub async fn list_workspaces(&self, principal: &Principal) -> Result<Vec<(Workspace, Role)>> {
        let all = self.store.list_workspaces(principal.user_id()).await?;
        Ok(all
            .into_iter()
            .filter(|(w, _)| principal.can_see_workspace(w.id))
            .collect())
    }

    /// A workspace and the caller's role in it.
    pub async fn get_workspace(
        &self,
        principal: &Principal,
        id: WorkspaceId,
    ) -> Result<(Workspace, Role)> {
        let scope = self
            .authorize(principal, id, Action::Read, "workspace")
            .await?;
        let ws = self
            .store
            .get_workspace(scope.id())
            .await
            .map_err(|e| not_found_as(e, "workspace"))?;
        Ok((ws, scope.role()))
    }

    /// Renames or describes a workspace (admin and above); answers it with
    /// the caller's role.
    pub async fn update_workspace(
        &self,
        principal: &Principal,
        id: WorkspaceId,
        patch: WorkspacePatch,
    ) -> Result<(Workspace, Role)> {
        let scope = self
            .authorize(principal, id, Action::UpdateWorkspace, "workspace")
            .await?;
        let mut ws = self
            .store
            .get_workspace(scope.id())
            .await
            .map_err(|e| not_found_as(e, "workspace"))?;
        if let Some(name) = patch.name {
            ws.name = check_name("name", &name)?;
        }
        if let Some(slug) = patch.slug {
            ws.slug = check_slug(&slug)?;
        }
        if let Some(d) = patch.description {
            ws.description = check_description(d)?;
        }
        ws.updated_at = self.clock.now();
        self.store.update_workspace(&ws).await?;
        Ok((ws, scope.role()))
    }

    /// Deletes a workspace and everything in it (owner only).
    pub async fn delete_workspace(&self, principal: &Principal, id: WorkspaceId) -> Result<()> {
        let scope = self
            .authorize(principal, id, Action::OwnWorkspace, "workspace")
            .await?;
        let mut tables = Vec::new();
        for base in self.store.list_bases(scope.id()).await? {
            tables.extend(
                self.store
                    .list_tables(base.id)
                    .await?
                    .into_iter()
                    .map(|t| t.id),
            );
        }
        let bump = self
            .access_epochs
            .bump_when_done(AccessChange::Workspace(scope.id()));
        self.store
            .delete_workspace(scope.id())
            .await
            .map_err(|e| not_found_as(e, "workspace"))?;
        drop(bump);
        self.purge_attachment_bytes(&tables).await;
        Ok(())
    }

    /// The members of a workspace.
    pub async fn list_members(
        &self,
        principal: &Principal,
        ws: WorkspaceId,
    ) -> Result<Vec<Member>> {
        let scope = self
            .authorize(principal, ws, Action::Read, "workspace")
            .await?;
        Ok(self.store.list_members(scope.id()).await?)
    }

    /// Adds a registered user by email (admin and above; only owners grant `owner`).
    pub async fn add_member(
        &self,
        principal: &Principal,
        ws: WorkspaceId,
        input: NewMember,
    ) -> Result<Member> {
        let action = if input.role == Role::Owner {
            Action::OwnWorkspace
        } else {
            Action::ManageMembers
        };
        let scope = self.authorize(principal, ws, action, "workspace").await?;
        let email = input.email.trim().to_lowercase();
        // No registered email holds a control character.
        if email.chars().any(char::is_control) {
            return Err(Error::NotFound {
                entity: "user with this email",
            });
        }
        let user = self
            .store
            .find_credentials(&email)
            .await?
            .ok_or(Error::NotFound {
                entity: "user with this email",
            })?
            .user;
        let now = self.clock.now();
        self.store
            .add_member(scope.id(), user.id, input.role, now)
            .await
            .map_err(|e| match e {
                StoreError::Conflict { entity, field } => Error::Conflict {
                    message: crate::error::conflict_message(entity, &field),
                    field: "email".into(),
                },
                other => other.into(),
            })?;
        Ok(Member {
            user,
            role: input.role,
            created_at: now,
        })
    }

    async fn member_of(&self, ws: &WorkspaceScope, user: UserId) -> Result<Member> {
        self.store
            .list_members(ws.id())
            .await?
            .into_iter()
            .find(|m| m.user.id == user)
            .ok_or(Error::NotFound { entity: "member" })
    }

    /// Changes a member's role. Admins manage roles below owner; anything
    /// touching the owner role needs an owner. The last owner cannot be demoted.
    pub async fn update_member(
        &self,
        principal: &Principal,
        ws: WorkspaceId,
        user: UserId,
        role: Role,
    ) -> Result<Member> {
        let scope = self
            .authorize(principal, ws, Action::ManageMembers, "workspace")
            .await?;
        let mut member = self.member_of(&scope, user).await?;
        if member.role == Role::Owner || role == Role::Owner {
            self.authorize(principal, ws, Action::OwnWorkspace, "workspace")
                .await?;
        }
        let _bump = self
            .access_epochs
            .bump_when_done(AccessChange::Workspace(scope.id()));
        self.store
            .set_member_role(scope.id(), user, role)
            .await
            .map_err(last_owner_error)?;
        member.role = role;
        Ok(member)
    }

    /// Removes a member (admin and above; anyone may remove themselves, an
    /// API key only with the `admin` scope). Removing an owner needs an
    /// owner; the last owner cannot be removed.
    pub async fn remove_member(
        &self,
        principal: &Principal,
        ws: WorkspaceId,
        user: UserId,
    ) -> Result<()> {
        let own = user == principal.user_id();
        let action = if own {
            Action::LeaveWorkspace
        } else {
            Action::ManageMembers
        };
        let scope = self.authorize(principal, ws, action, "workspace").await?;
        let member = self.member_of(&scope, user).await?;
        if member.role == Role::Owner && !own {
            self.authorize(principal, ws, Action::OwnWorkspace, "workspace")
                .await?;
        }
        let _bump = self
            .access_epochs
            .bump_when_done(AccessChange::Workspace(scope.id()));
        self.store
            .remove_member(scope.id(), user)
            .await
            .map_err(last_owner_error)
    }
}

fn last_owner_error(e: StoreError) -> Error {
    match e {
        StoreError::Conflict { entity, field } if field == "last_owner" => Error::Conflict {
            message: crate::error::conflict_message(entity, &field),
            field: "role".into(),
        },
        StoreError::NotFound { .. } => Error::NotFound { entity: "member" },
        other => other.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_derived_and_checked() {
        assert_eq!(slugify("Acme Engineering!"), "acme-engineering");
        assert_eq!(slugify("***"), "workspace");
        assert!(check_slug("acme-eng").is_ok());
        assert!(check_slug("Acme").is_err());
        assert!(check_slug("-a").is_err());
        assert!(check_slug("a--b").is_err());
    }
}
