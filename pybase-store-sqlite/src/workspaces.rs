//! [`WorkspacesStore`]: workspaces and memberships, with the last-owner rule.

use async_trait::async_trait;
use pybase_core::StoreResult;
use pybase_core::ids::{UserId, WorkspaceId};
use pybase_core::model::{Member, Timestamp, User, Workspace};
use pybase_core::role::Role;
use pybase_core::store::WorkspacesStore;
use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::SqliteStore;
use crate::error::{Error, Result};
use crate::rows::{fmt_time, id, parsed, time};

const WS_COLUMNS: &str = "w.id, w.name, w.slug, w.description, w.created_at, w.updated_at";

fn workspace(row: &Row<'_>) -> rusqlite::Result<Workspace> {
    Ok(Workspace {
        id: id(row, 0)?,
        name: row.get(1)?,
        slug: row.get(2)?,
        description: row.get(3)?,
        created_at: time(row, 4)?,
        updated_at: time(row, 5)?,
    })
}

fn exists(conn: &Connection, sql: &str, key: &str) -> Result<bool> {
    Ok(conn
        .prepare_cached(sql)?
        .query_row([key], |_| Ok(()))
        .optional()?
        .is_some())
}

pub(crate) fn role_of(conn: &Connection, ws: &str, user: &str) -> Result<Option<Role>> {
    Ok(conn
        .prepare_cached("SELECT role FROM members WHERE workspace_id = ?1 AND user_id = ?2")?
        .query_row([ws, user], |r| parsed::<Role>(r, 0))
        .optional()?)
}

/// Refuses to take the owner role away from `user` if they are the only owner.
fn check_last_owner(conn: &Connection, ws: &str, current: Role, new: Option<Role>) -> Result<()> {
    if current != Role::Owner || new == Some(Role::Owner) {
        return Ok(());
    }
    let owners: i64 = conn
        .prepare_cached("SELECT count(*) FROM members WHERE workspace_id = ?1 AND role = 'owner'")?
        .query_row([ws], |r| r.get(0))?;
    if owners <= 1 {
        return Err(Error::conflict("member", "last_owner"));
    }
    Ok(())
}

#[async_trait]
impl WorkspacesStore for SqliteStore {
    async fn create_workspace(&self, ws: &Workspace, owner: UserId) -> StoreResult<()> {
        let w = ws.clone();
        self.write(move |tx| {
            if !exists(tx, "SELECT 1 FROM users WHERE id = ?1", owner.as_str())? {
                return Err(Error::not_found("user", owner));
            }
            tx.prepare_cached(
                "INSERT INTO workspaces (id, name, slug, description, created_at, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                w.id.as_str(),
                w.name,
                w.slug,
                w.description,
                fmt_time(&w.created_at),
                fmt_time(&w.updated_at)
            ])?;
            tx.prepare_cached(
                "INSERT INTO members (workspace_id, user_id, role, created_at) \
                 VALUES (?1, ?2, 'owner', ?3)",
            )?
            .execute(params![
                w.id.as_str(),
                owner.as_str(),
                fmt_time(&w.created_at)
            ])?;
            Ok(())
        })
        .await
    }

    async fn get_workspace(&self, id: WorkspaceId) -> StoreResult<Workspace> {
        self.read_small(move |conn| {
            conn.prepare_cached(&format!(
                "SELECT {WS_COLUMNS} FROM workspaces w WHERE w.id = ?1"
            ))?
            .query_row([id.as_str()], workspace)
            .optional()?
            .ok_or_else(|| Error::not_found("workspace", id))
        })
        .await
    }

    async fn list_workspaces(&self, user: UserId) -> StoreResult<Vec<(Workspace, Role)>> {
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {WS_COLUMNS}, m.role FROM workspaces w \
                 JOIN members m ON m.workspace_id = w.id \
                 WHERE m.user_id = ?1 ORDER BY w.created_at, w.id"
            ))?;
            let rows = stmt.query_map([user.as_str()], |r| Ok((workspace(r)?, parsed(r, 6)?)))?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    async fn update_workspace(&self, ws: &Workspace) -> StoreResult<()> {
        let w = ws.clone();
        self.write(move |tx| {
            let n = tx
                .prepare_cached(
                    "UPDATE workspaces SET name = ?2, slug = ?3, description = ?4, updated_at = ?5 \
                     WHERE id = ?1",
                )?
                .execute(params![
                    w.id.as_str(),
                    w.name,
                    w.slug,
                    w.description,
                    fmt_time(&w.updated_at)
                ])?;
            if n == 0 {
                return Err(Error::not_found("workspace", w.id));
            }
            Ok(())
        })
        .await
    }

    async fn delete_workspace(&self, id: WorkspaceId) -> StoreResult<()> {
        self.write(move |tx| {
            // Bases, tables, fields, views, records, attachments and
            // memberships go by ON DELETE CASCADE (cell index entries by
            // trigger).
            let n = tx
                .prepare_cached("DELETE FROM workspaces WHERE id = ?1")?
                .execute([id.as_str()])?;
            if n == 0 {
                return Err(Error::not_found("workspace", id));
            }
            Ok(())
        })
        .await
    }

    async fn member_role(&self, ws: WorkspaceId, user: UserId) -> StoreResult<Option<Role>> {
        self.read_small(move |conn| role_of(conn, ws.as_str(), user.as_str()))
            .await
    }

    async fn list_members(&self, ws: WorkspaceId) -> StoreResult<Vec<Member>> {
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT u.id, u.email, u.name, u.created_at, u.updated_at, m.role, m.created_at \
                 FROM members m JOIN users u ON u.id = m.user_id \
                 WHERE m.workspace_id = ?1 ORDER BY m.created_at, u.id",
            )?;
            let rows = stmt.query_map([ws.as_str()], |r| {
                Ok(Member {
                    user: User {
                        id: id(r, 0)?,
                        email: r.get(1)?,
                        name: r.get(2)?,
                        created_at: time(r, 3)?,
                        updated_at: time(r, 4)?,
                    },
                    role: parsed(r, 5)?,
                    created_at: time(r, 6)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    async fn add_member(
        &self,
        ws: WorkspaceId,
        user: UserId,
        role: Role,
        at: Timestamp,
    ) -> StoreResult<()> {
        self.write(move |tx| {
            if !exists(tx, "SELECT 1 FROM workspaces WHERE id = ?1", ws.as_str())? {
                return Err(Error::not_found("workspace", ws));
            }
            if !exists(tx, "SELECT 1 FROM users WHERE id = ?1", user.as_str())? {
                return Err(Error::not_found("user", user));
            }
            tx.prepare_cached(
                "INSERT INTO members (workspace_id, user_id, role, created_at) \
                 VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![
                ws.as_str(),
                user.as_str(),
                role.as_str(),
                fmt_time(&at)
            ])?;
            Ok(())
        })
        .await
    }

    async fn set_member_role(&self, ws: WorkspaceId, user: UserId, role: Role) -> StoreResult<()> {
        self.write(move |tx| {
            let current = role_of(tx, ws.as_str(), user.as_str())?
                .ok_or_else(|| Error::not_found("member", user))?;
            check_last_owner(tx, ws.as_str(), current, Some(role))?;
            tx.prepare_cached(
                "UPDATE members SET role = ?3 WHERE workspace_id = ?1 AND user_id = ?2",
            )?
            .execute(params![ws.as_str(), user.as_str(), role.as_str()])?;
            Ok(())
        })
        .await
    }

    async fn remove_member(&self, ws: WorkspaceId, user: UserId) -> StoreResult<()> {
        self.write(move |tx| {
            let current = role_of(tx, ws.as_str(), user.as_str())?
                .ok_or_else(|| Error::not_found("member", user))?;
            check_last_owner(tx, ws.as_str(), current, None)?;
            tx.prepare_cached("DELETE FROM members WHERE workspace_id = ?1 AND user_id = ?2")?
                .execute(params![ws.as_str(), user.as_str()])?;
            Ok(())
        })
        .await
    }
}
