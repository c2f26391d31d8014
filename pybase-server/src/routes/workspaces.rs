//! Workspaces and their members.

use axum::extract::State;
use axum::http::StatusCode;
use pybase_core::facade::{NewMember, NewWorkspace, WorkspacePatch};
use pybase_core::ids::{UserId, WorkspaceId};
use pybase_core::model::{Member, Workspace};
use pybase_core::query::Listed;
use pybase_core::role::Role;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiError;
use crate::extract::{Authenticated, Created, Json, Path, Query};
use crate::openapi::responses::{
    Conflict, ConflictDeleteErrors, ConflictWriteErrors, DeleteErrors, Forbidden, Invalid,
    ReadErrors, Unauthorized,
};
use crate::routes::{Page, PageParams};
use crate::state::AppState;

/// Workspace routes.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(get_one, update, delete))
        .routes(routes!(list_members, add_member))
        .routes(routes!(update_member, remove_member))
}

/// A workspace with the caller's role in it.
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkspaceOut {
    /// The workspace, at the top level beside `role`.
    #[serde(flatten)]
    workspace: Workspace,
    /// The caller's role.
    role: Role,
}

impl Listed for WorkspaceOut {
    fn list_id(&self) -> &str {
        self.workspace.list_id()
    }
    fn list_key(&self) -> i64 {
        self.workspace.list_key()
    }
}

/// `PATCH /workspaces/{id}/members/{user_id}` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemberPatch {
    /// The new role.
    pub role: Role,
}

#[utoipa::path(post, path = "/api/v1/workspaces", tag = "workspaces", operation_id = "create_workspace",
    request_body = NewWorkspace,
    responses(
        (status = 201, description = "created; the caller is its owner", body = WorkspaceOut),
        Unauthorized, Forbidden, Conflict, Invalid,
    ),
    security(("bearer" = []), ("api_key" = [])))]
pub(crate) async fn create(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    Json(input): Json<NewWorkspace>,
) -> Result<Created<WorkspaceOut>, ApiError> {
    let workspace = state.pybase.create_workspace(&p, input).await?;
    Ok(Created(WorkspaceOut {
        workspace,
        role: Role::Owner,
    }))
}

#[utoipa::path(get, path = "/api/v1/workspaces", tag = "workspaces", operation_id = "list_workspaces",
    params(PageParams),
    responses(
        (status = 200, description = "the workspaces the caller is a member of", body = Page<WorkspaceOut>),
        Unauthorized,
    ),
    security(("bearer" = []), ("api_key" = [])))]
pub(crate) async fn list(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    Query(page): Query<PageParams>,
) -> Result<Json<Page<WorkspaceOut>>, ApiError> {
    let all = state.pybase.list_workspaces(&p).await?;
    let items = all
        .into_iter()
        .map(|(workspace, role)| WorkspaceOut { workspace, role })
        .collect();
    Ok(Json(page.page(items)?))
}

#[utoipa::path(get, path = "/api/v1/workspaces/{id}", tag = "workspaces", operation_id = "get_workspace",
    params(("id" = pybase_core::ids::WorkspaceId, Path, description = "workspace id")),
    responses(
        (status = 200, description = "the workspace and the caller's role", body = WorkspaceOut),
        ReadErrors,
    ),
    security(("bearer" = []), ("api_key" = [])))]
pub(crate) async fn get_one(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    Path(id): Path<WorkspaceId>,
) -> Result<Json<WorkspaceOut>, ApiError> {
    let (workspace, role) = state.pybase.get_workspace(&p, id).await?;
    Ok(Json(WorkspaceOut { workspace, role }))
}

#[utoipa::path(patch, path = "/api/v1/workspaces/{id}", tag = "workspaces", operation_id = "update_workspace",
    params(("id" = pybase_core::ids::WorkspaceId, Path, description = "workspace id")),
    request_body = WorkspacePatch,
    responses(
        (status = 200, description = "updated (admin and above)", body = WorkspaceOut),
        ConflictWriteErrors,
    ),
    security(("bearer" = []), ("api_key" = [])))]
pub(crate) async fn update(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    Path(id): Path<WorkspaceId>,
    Json(patch): Json<WorkspacePatch>,
) -> Result<Json<WorkspaceOut>, ApiError> {
    // The role comes from the update's own check: a key with `admin` but not
    // `read` must not see a 403 after its change has committed.
    let (workspace, role) = state.pybase.update_workspace(&p, id, patch).await?;
    Ok(Json(WorkspaceOut { workspace, role }))
}

#[utoipa::path(delete, path = "/api/v1/workspaces/{id}", tag = "workspaces", operation_id = "delete_workspace",
    params(("id" = pybase_core::ids::WorkspaceId, Path, description = "workspace id")),
    responses(
        (status = 204, description = "deleted with everything in it (owner only)"),
        DeleteErrors,
    ),
    security(("bearer" = []), ("api_key" = [])))]
pub(crate) async fn delete(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    Path(id): Path<WorkspaceId>,
) -> Result<StatusCode, ApiError> {
    state.pybase.delete_workspace(&p, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/workspaces/{id}/members", tag = "members", operation_id = "list_members",
    params(("id" = pybase_core::ids::WorkspaceId, Path, description = "workspace id"), PageParams),
    responses(
        (status = 200, description = "the members", body = Page<Member>),
        ReadErrors,
    ),
    security(("bearer" = []), ("api_key" = [])))]
pub(crate) async fn list_members(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    Path(id): Path<WorkspaceId>,
    Query(page): Query<PageParams>,
) -> Result<Json<Page<Member>>, ApiError> {
    let members = state.pybase.list_members(&p, id).await?;
    Ok(Json(page.page(members)?))
}

#[utoipa::path(post, path = "/api/v1/workspaces/{id}/members", tag = "members", operation_id = "add_member",
    params(("id" = pybase_core::ids::WorkspaceId, Path, description = "workspace id")),
    request_body = NewMember,
    responses(
        (status = 201, description = "added (admin and above; only owners grant owner); 404 also when no user has the email", body = Member),
        ConflictWriteErrors,
    ),
    security(("bearer" = []), ("api_key" = [])))]
pub(crate) async fn add_member(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    Path(id): Path<WorkspaceId>,
    Json(input): Json<NewMember>,
) -> Result<Created<Member>, ApiError> {
    Ok(Created(state.pybase.add_member(&p, id, input).await?))
}

#[utoipa::path(patch, path = "/api/v1/workspaces/{id}/members/{user_id}", tag = "members", operation_id = "update_member",
    params(("id" = pybase_core::ids::WorkspaceId, Path, description = "workspace id"), ("user_id" = pybase_core::ids::UserId, Path, description = "user id")),
    request_body = MemberPatch,
    responses(
        (status = 200, description = "role changed", body = Member),
        ConflictWriteErrors,
    ),
    security(("bearer" = []), ("api_key" = [])))]
pub(crate) async fn update_member(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    Path((id, user)): Path<(WorkspaceId, UserId)>,
    Json(body): Json<MemberPatch>,
) -> Result<Json<Member>, ApiError> {
    Ok(Json(
        state.pybase.update_member(&p, id, user, body.role).await?,
    ))
}

#[utoipa::path(delete, path = "/api/v1/workspaces/{id}/members/{user_id}", tag = "members", operation_id = "remove_member",
    params(("id" = pybase_core::ids::WorkspaceId, Path, description = "workspace id"), ("user_id" = pybase_core::ids::UserId, Path, description = "user id")),
    responses(
        (status = 204, description = "removed"),
        ConflictDeleteErrors,
    ),
    security(("bearer" = []), ("api_key" = [])))]
pub(crate) async fn remove_member(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    Path((id, user)): Path<(WorkspaceId, UserId)>,
) -> Result<StatusCode, ApiError> {
    state.pybase.remove_member(&p, id, user).await?;
    Ok(StatusCode::NO_CONTENT)
}
