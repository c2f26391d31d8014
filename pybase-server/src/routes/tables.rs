//! Tables of a base.

use axum::extract::State;
use axum::http::StatusCode;
use pybase_core::facade::{NewTable, TablePatch, TableSchema};
use pybase_core::ids::{BaseId, TableId};
use pybase_core::model::Table;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiError;
use crate::extract::{Authenticated, Created, Json, Path, Query};
use crate::openapi::responses::{ConflictWriteErrors, DeleteErrors, ReadErrors};
use crate::routes::{Page, PageParams};
use crate::state::AppState;

/// Table routes.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(get_one, update, delete))
}

#[utoipa::path(post, path = "/api/v1/bases/{id}/tables", tag = "tables", operation_id = "create_table",
    params(("id" = pybase_core::ids::BaseId, Path, description = "base id")),
    request_body = NewTable,
    responses(
        (status = 201, description = "created with its fields and default view (admin and above)", body = TableSchema),
        ConflictWriteErrors,
    ),
    security(("bearer" = []), ("api_key" = [])))]
pub(crate) async fn create(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    Path(base): Path<BaseId>,
    Json(input): Json<NewTable>,
) -> Result<Created<TableSchema>, ApiError> {
    Ok(Created(state.pybase.create_table(&p, base, input).await?))
}

#[utoipa::path(get, path = "/api/v1/bases/{id}/tables", tag = "tables", operation_id = "list_tables",
    params(("id" = pybase_core::ids::BaseId, Path, description = "base id"), PageParams),
    responses(
        (status = 200, description = "the base's tables", body = Page<Table>),
        ReadErrors,
    ),
    security(("bearer" = []), ("api_key" = [])))]
pub(crate) async fn list(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    Path(base): Path<BaseId>,
    Query(page): Query<PageParams>,
) -> Result<Json<Page<Table>>, ApiError> {
    Ok(Json(page.page(state.pybase.list_tables(&p, base).await?)?))
}

#[utoipa::path(get, path = "/api/v1/tables/{id}", tag = "tables", operation_id = "get_table",
    params(("id" = pybase_core::ids::TableId, Path, description = "table id")),
    responses(
        (status = 200, description = "the table with its fields and views", body = TableSchema),
        ReadErrors,
    ),
    security(("bearer" = []), ("api_key" = [])))]
pub(crate) async fn get_one(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    Path(id): Path<TableId>,
) -> Result<Json<TableSchema>, ApiError> {
    Ok(Json(state.pybase.get_table(&p, id).await?))
}

#[utoipa::path(patch, path = "/api/v1/tables/{id}", tag = "tables", operation_id = "update_table",
    params(("id" = pybase_core::ids::TableId, Path, description = "table id")),
    request_body = TablePatch,
    responses(
        (status = 200, description = "updated (admin and above); a name another table of the base has is 409", body = Table),
        ConflictWriteErrors,
    ),
    security(("bearer" = []), ("api_key" = [])))]
pub(crate) async fn update(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    Path(id): Path<TableId>,
    Json(patch): Json<TablePatch>,
) -> Result<Json<Table>, ApiError> {
    Ok(Json(state.pybase.update_table(&p, id, patch).await?))
}

#[utoipa::path(delete, path = "/api/v1/tables/{id}", tag = "tables", operation_id = "delete_table",
    params(("id" = pybase_core::ids::TableId, Path, description = "table id")),
    responses(
        (status = 204, description = "deleted with its fields, views and records (admin and above)"),
        DeleteErrors,
    ),
    security(("bearer" = []), ("api_key" = [])))]
pub(crate) async fn delete(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    Path(id): Path<TableId>,
) -> Result<StatusCode, ApiError> {
    state.pybase.delete_table(&p, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
