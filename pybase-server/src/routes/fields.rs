//! Fields of a table.

use axum::extract::State;
use axum::http::StatusCode;
use pybase_core::facade::{FieldPatch, NewField};
use pybase_core::ids::{FieldId, TableId};
use pybase_core::model::Field;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiError;
use crate::extract::{Authenticated, Created, Json, Path, Query};
use crate::openapi::responses::{ConflictDeleteErrors, ConflictWriteErrors, ReadErrors};
use crate::routes::{Page, PageParams};
use crate::state::AppState;

/// Field routes.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(get_one, update, delete))
}

#[utoipa::path(post, path = "/api/v1/tables/{id}/fields", tag = "fields", operation_id = "create_field",
    params(("id" = pybase_core::ids::TableId, Path, description = "table id")),
    request_body = NewField,
    responses(
        (status = 201, description = "created (admin and above)", body = Field),
        ConflictWriteErrors,
    ),
    security(("bearer" = []), ("api_key" = [])))]
pub(crate) async fn create(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    Path(table): Path<TableId>,
    Json(input): Json<NewField>,
) -> Result<Created<Field>, ApiError> {
    Ok(Created(state.pybase.create_field(&p, table, input).await?))
}

#[utoipa::path(get, path = "/api/v1/tables/{id}/fields", tag = "fields", operation_id = "list_fields",
    params(("id" = pybase_core::ids::TableId, Path, description = "table id"), PageParams),
    responses(
        (status = 200, description = "the table's fields in order", body = Page<Field>),
        ReadErrors,
    ),
    security(("bearer" = []), ("api_key" = [])))]
pub(crate) async fn list(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    Path(table): Path<TableId>,
    Query(page): Query<PageParams>,
) -> Result<Json<Page<Field>>, ApiError> {
    Ok(Json(page.page(state.pybase.list_fields(&p, table).await?)?))
}

#[utoipa::path(get, path = "/api/v1/fields/{id}", tag = "fields", operation_id = "get_field",
    params(("id" = pybase_core::ids::FieldId, Path, description = "field id")),
    responses(
        (status = 200, description = "the field", body = Field),
        ReadErrors,
    ),
    security(("bearer" = []), ("api_key" = [])))]
pub(crate) async fn get_one(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    Path(id): Path<FieldId>,
) -> Result<Json<Field>, ApiError> {
    Ok(Json(state.pybase.get_field(&p, id).await?))
}

#[utoipa::path(patch, path = "/api/v1/fields/{id}", tag = "fields", operation_id = "update_field",
    params(("id" = pybase_core::ids::FieldId, Path, description = "field id")),
    request_body = FieldPatch,
    responses(
        (status = 200, description = "renamed, retyped (cells converted) or re-optioned (admin and above); 422 lists cells that cannot convert", body = Field),
        ConflictWriteErrors,
    ),
    security(("bearer" = []), ("api_key" = [])))]
pub(crate) async fn update(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    Path(id): Path<FieldId>,
    Json(patch): Json<FieldPatch>,
) -> Result<Json<Field>, ApiError> {
    Ok(Json(state.pybase.update_field(&p, id, patch).await?))
}

#[utoipa::path(delete, path = "/api/v1/fields/{id}", tag = "fields", operation_id = "delete_field",
    params(("id" = pybase_core::ids::FieldId, Path, description = "field id")),
    responses(
        (status = 204, description = "deleted with its cells (admin and above); the primary field cannot be deleted (409)"),
        ConflictDeleteErrors,
    ),
    security(("bearer" = []), ("api_key" = [])))]
pub(crate) async fn delete(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    Path(id): Path<FieldId>,
) -> Result<StatusCode, ApiError> {
    state.pybase.delete_field(&p, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
