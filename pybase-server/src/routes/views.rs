//! Views of a table.

use axum::extract::State;
use axum::http::StatusCode;
use pybase_core::facade::{NewView, ViewPatch};
use pybase_core::ids::{TableId, ViewId};
use pybase_core::model::View;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiError;
use crate::extract::{Authenticated, Created, Json, Path, Query};
use crate::openapi::responses::{ConflictDeleteErrors, ConflictWriteErrors, ReadErrors};
use crate::routes::{Page, PageParams};
use crate::state::AppState;

/// View routes.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(get_one, update, delete))
}

#[utoipa::path(post, path = "/api/v1/tables/{id}/views", tag = "views", operation_id = "create_view",
    params(("id" = pybase_core::ids::TableId, Path, description = "table id")),
    request_body = NewView,
    responses(
        (status = 201, description = "created (admin and above)", body = View),
        ConflictWriteErrors,
    ),
    security(("bearer" = []), ("api_key" = [])))]
pub(crate) async fn create(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    Path(table): Path<TableId>,
    Json(input): Json<NewView>,
) -> Result<Created<View>, ApiError> {
    Ok(Created(state.pybase.create_view(&p, table, input).await?))
}

#[utoipa::path(get, path = "/api/v1/tables/{id}/views", tag = "views", operation_id = "list_views",
    params(("id" = pybase_core::ids::TableId, Path, description = "table id"), PageParams),
    responses(
        (status = 200, description = "the table's views in order", body = Page<View>),
        ReadErrors,
    ),
    security(("bearer" = []), ("api_key" = [])))]
pub(crate) async fn list(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    Path(table): Path<TableId>,
    Query(page): Query<PageParams>,
) -> Result<Json<Page<View>>, ApiError> {
    Ok(Json(page.page(state.pybase.list_views(&p, table).await?)?))
}

#[utoipa::path(get, path = "/api/v1/views/{id}", tag = "views", operation_id = "get_view",
    params(("id" = pybase_core::ids::ViewId, Path, description = "view id")),
    responses(
        (status = 200, description = "the view", body = View),
        ReadErrors,
    ),
    security(("bearer" = []), ("api_key" = [])))]
pub(crate) async fn get_one(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    Path(id): Path<ViewId>,
) -> Result<Json<View>, ApiError> {
    Ok(Json(state.pybase.get_view(&p, id).await?))
}

#[utoipa::path(patch, path = "/api/v1/views/{id}", tag = "views", operation_id = "update_view",
    params(("id" = pybase_core::ids::ViewId, Path, description = "view id")),
    request_body = ViewPatch,
    responses(
        (status = 200, description = "updated (admin and above)", body = View),
        ConflictWriteErrors,
    ),
    security(("bearer" = []), ("api_key" = [])))]
pub(crate) async fn update(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    Path(id): Path<ViewId>,
    Json(patch): Json<ViewPatch>,
) -> Result<Json<View>, ApiError> {
    Ok(Json(state.pybase.update_view(&p, id, patch).await?))
}

#[utoipa::path(delete, path = "/api/v1/views/{id}", tag = "views", operation_id = "delete_view",
    params(("id" = pybase_core::ids::ViewId, Path, description = "view id")),
    responses(
        (status = 204, description = "deleted (admin and above)"),
        ConflictDeleteErrors,
    ),
    security(("bearer" = []), ("api_key" = [])))]
pub(crate) async fn delete(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    Path(id): Path<ViewId>,
) -> Result<StatusCode, ApiError> {
    state.pybase.delete_view(&p, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
