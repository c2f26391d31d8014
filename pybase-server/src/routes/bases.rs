//! Bases of a workspace.

use axum::extract::State;
use axum::http::StatusCode;
use pybase_core::facade::{BasePatch, NewBase};
use pybase_core::ids::{BaseId, WorkspaceId};
use pybase_core::model::Base;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiError;
use crate::extract::{Authenticated, Created, Json, Path, Query};
use crate::openapi::responses::{DeleteErrors, ReadErrors, WriteErrors};
use crate::routes::{Page, PageParams};
use crate::state::AppState;

/// Base routes.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(get_one, update, delete))
}

#[utoipa::path(post, path = "/api/v1/workspaces/{id}/bases", tag = "bases", operation_id = "create_base",
    params(("id" = pybase_core::ids::WorkspaceId, Path, description = "workspace id")),
    request_body = NewBase,
    responses(
        (status = 201, description = "created (admin and above)", body = Base),
        WriteErrors,
    ),
    security(("bearer" = []), ("api_key" = [])))]
pub(crate) async fn create(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    Path(ws): Path<WorkspaceId>,
    Json(input): Json<NewBase>,
) -> Result<Created<Base>, ApiError> {
    Ok(Created(state.pybase.create_base(&p, ws, input).await?))
}

#[utoipa::path(get, path = "/api/v1/workspaces/{id}/bases", tag = "bases", operation_id = "list_bases",
    params(("id" = pybase_core::ids::WorkspaceId, Path, description = "workspace id"), PageParams),
    responses(
        (status = 200, description = "the workspace's bases", body = Page<Base>),
        ReadErrors,
    ),
    security(("bearer" = []), ("api_key" = [])))]
pub(crate) async fn list(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    Path(ws): Path<WorkspaceId>,
    Query(page): Query<PageParams>,
) -> Result<Json<Page<Base>>, ApiError> {
    Ok(Json(page.page(state.pybase.list_bases(&p, ws).await?)?))
}

#[utoipa::path(get, path = "/api/v1/bases/{id}", tag = "bases", operation_id = "get_base",
    params(("id" = pybase_core::ids::BaseId, Path, description = "base id")),
    responses(
        (status = 200, description = "the base", body = Base),
        ReadErrors,
    ),
    security(("bearer" = []), ("api_key" = [])))]
pub(crate) async fn get_one(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    Path(id): Path<BaseId>,
) -> Result<Json<Base>, ApiError> {
    Ok(Json(state.pybase.get_base(&p, id).await?))
}

#[utoipa::path(patch, path = "/api/v1/bases/{id}", tag = "bases", operation_id = "update_base",
    params(("id" = pybase_core::ids::BaseId, Path, description = "base id")),
    request_body = BasePatch,
    responses(
        (status = 200, description = "updated (admin and above)", body = Base),
        WriteErrors,
    ),
    security(("bearer" = []), ("api_key" = [])))]
pub(crate) async fn update(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    Path(id): Path<BaseId>,
    Json(patch): Json<BasePatch>,
) -> Result<Json<Base>, ApiError> {
    Ok(Json(state.pybase.update_base(&p, id, patch).await?))
}

#[utoipa::path(delete, path = "/api/v1/bases/{id}", tag = "bases", operation_id = "delete_base",
    params(("id" = pybase_core::ids::BaseId, Path, description = "base id")),
    responses(
        (status = 204, description = "deleted with its tables (admin and above)"),
        DeleteErrors,
    ),
    security(("bearer" = []), ("api_key" = [])))]
pub(crate) async fn delete(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    Path(id): Path<BaseId>,
) -> Result<StatusCode, ApiError> {
    state.pybase.delete_base(&p, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
