//! [`WorkspacesStore`]: workspaces and memberships, with the last-owner rule.

use async_trait::async_trait;
use pybase_core::ids::{UserId, WorkspaceId};
use pybase_core::model::{Member, Timestamp, Workspace};
use pybase_core::role::Role;
use pybase_core::store::WorkspacesStore;
use pybase_core::{StoreError, StoreResult};
use sqlx::Row;

use crate::PgStore;
use crate::error::{ResultExt, sqlstate};
use crate::rows;

/// What a membership change does to the owners of a workspace.
enum Change {
    SetRole(Role),
    Remove,
}

impl PgStore {
    /// Changes or removes a membership under the last-owner rule. The owner
    /// rows (and the target's) are locked first, so two concurrent demotions
    /// of the last two owners cannot both succeed.
    async fn change_member(
        &self,
        ws: WorkspaceId,
        user: UserId,
        change: Change,
    ) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.db()?;
        let locked = sqlx::query(
            "SELECT user_id, role FROM workspace_members \
             WHERE workspace_id = $1 AND (role = 'owner' OR user_id = $2) \
             ORDER BY user_id FOR UPDATE",
        )
        .bind(ws.as_str())
        .bind(user.as_str())
        .fetch_all(&mut *tx)
        .await
        .db()?;
        let mut owners = 0usize;
        let mut current = None;
        for row in &locked {
            let role = rows::role(row, "role").db()?;
            if role == Role::Owner {
                owners += 1;
            }
            let id: String = row.try_get("user_id").db()?;
            if id == user.as_str() {
                current = Some(role);
            }
        }
        let Some(current) = current else {
            return Err(StoreError::not_found("member", user));
        };
        let loses_owner = current == Role::Owner
            && match change {
                Change::SetRole(r) => r != Role::Owner,
                Change::Remove => true,
            };
        if loses_owner && owners <= 1 {
            return Err(StoreError::conflict("member", "last_owner"));
        }
        let query = match change {
            Change::SetRole(role) => sqlx::query(
                "UPDATE workspace_members SET role = $3 WHERE workspace_id = $1 AND user_id = $2",
            )
            .bind(ws.as_str())
            .bind(user.as_str())
            .bind(role.as_str()),
            Change::Remove => sqlx::query(
                "DELETE FROM workspace_members WHERE workspace_id = $1 AND user_id = $2",
            )
            .bind(ws.as_str())
            .bind(user.as_str()),
        };
        query.execute(&mut *tx).await.db()?;
        tx.commit().await.db()
    }
}

#[async_trait]
impl WorkspacesStore for PgStore {
    async fn create_workspace(&self, ws: &Workspace, owner: UserId) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.db()?;
        sqlx::query(
            "INSERT INTO workspaces (id, name, slug, description, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(ws.id.as_str())
        .bind(&ws.name)
        .bind(&ws.slug)
        .bind(&ws.description)
        .bind(ws.created_at)
        .bind(ws.updated_at)
        .execute(&mut *tx)
        .await
        .db()?;
        sqlx::query(
            "INSERT INTO workspace_members (workspace_id, user_id, role, created_at) \
             VALUES ($1, $2, 'owner', $3)",
        )
        .bind(ws.id.as_str())
        .bind(owner.as_str())
        .bind(ws.created_at)
        .execute(&mut *tx)
        .await
        .or_missing("user", owner.as_str())?;
        tx.commit().await.db()
    }

    async fn get_workspace(&self, id: WorkspaceId) -> StoreResult<Workspace> {
        let row = sqlx::query("SELECT * FROM workspaces WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await
            .db()?
            .ok_or_else(|| StoreError::not_found("workspace", id))?;
        rows::workspace(&row).db()
    }

    async fn list_workspaces(&self, user: UserId) -> StoreResult<Vec<(Workspace, Role)>> {
        let found = sqlx::query(
            "SELECT w.*, m.role AS member_role FROM workspaces w \
             JOIN workspace_members m ON m.workspace_id = w.id \
             WHERE m.user_id = $1 ORDER BY w.created_at, w.id",
        )
        .bind(user.as_str())
        .fetch_all(&self.pool)
        .await
        .db()?;
        found
            .iter()
            .map(|row| Ok((rows::workspace(row)?, rows::role(row, "member_role")?)))
            .collect::<Result<_, sqlx::Error>>()
            .db()
    }

    async fn update_workspace(&self, ws: &Workspace) -> StoreResult<()> {
        let done = sqlx::query(
            "UPDATE workspaces SET name = $2, slug = $3, description = $4, updated_at = $5 \
             WHERE id = $1",
        )
        .bind(ws.id.as_str())
        .bind(&ws.name)
        .bind(&ws.slug)
        .bind(&ws.description)
        .bind(ws.updated_at)
        .execute(&self.pool)
        .await
        .db()?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found("workspace", ws.id));
        }
        Ok(())
    }

    async fn delete_workspace(&self, id: WorkspaceId) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.db()?;
        crate::layout::drop_records_tables_where(&mut tx, "t.workspace_id = $1", id.as_str())
            .await?;
        let done = sqlx::query("DELETE FROM workspaces WHERE id = $1")
            .bind(id.as_str())
            .execute(&mut *tx)
            .await
            .db()?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found("workspace", id));
        }
        tx.commit().await.db()
    }

    async fn member_role(&self, ws: WorkspaceId, user: UserId) -> StoreResult<Option<Role>> {
        let row = sqlx::query(
            "SELECT role FROM workspace_members WHERE workspace_id = $1 AND user_id = $2",
        )
        .bind(ws.as_str())
        .bind(user.as_str())
        .fetch_optional(&self.pool)
        .await
        .db()?;
        row.map(|r| rows::role(&r, "role")).transpose().db()
    }

    async fn list_members(&self, ws: WorkspaceId) -> StoreResult<Vec<Member>> {
        let found = sqlx::query(
            "SELECT u.id, u.email, u.name, u.created_at, u.updated_at, m.role, \
             m.created_at AS joined_at FROM workspace_members m \
             JOIN users u ON u.id = m.user_id \
             WHERE m.workspace_id = $1 ORDER BY m.created_at, u.id",
        )
        .bind(ws.as_str())
        .fetch_all(&self.pool)
        .await
        .db()?;
        found
            .iter()
            .map(|row| {
                Ok(Member {
                    user: rows::user(row)?,
                    role: rows::role(row, "role")?,
                    created_at: row.try_get("joined_at")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .db()
    }

    async fn add_member(
        &self,
        ws: WorkspaceId,
        user: UserId,
        role: Role,
        at: Timestamp,
    ) -> StoreResult<()> {
        let result = sqlx::query(
            "INSERT INTO workspace_members (workspace_id, user_id, role, created_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(ws.as_str())
        .bind(user.as_str())
        .bind(role.as_str())
        .bind(at)
        .execute(&self.pool)
        .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if sqlstate(&e).as_deref() == Some("23503") => {
                let on_user = matches!(&e, sqlx::Error::Database(db)
                    if db.constraint().is_some_and(|c| c.contains("user_id")));
                Err(if on_user {
                    StoreError::not_found("user", user)
                } else {
                    StoreError::not_found("workspace", ws)
                })
            }
            Err(e) => Err(e).db(),
        }
    }

    async fn set_member_role(&self, ws: WorkspaceId, user: UserId, role: Role) -> StoreResult<()> {
        self.change_member(ws, user, Change::SetRole(role)).await
    }

    async fn remove_member(&self, ws: WorkspaceId, user: UserId) -> StoreResult<()> {
        self.change_member(ws, user, Change::Remove).await
    }
}
