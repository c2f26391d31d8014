//! The caller's API keys.

use axum::extract::State;
use axum::http::StatusCode;
use pybase_core::auth::NewApiKey;
use pybase_core::ids::ApiKeyId;
use pybase_core::model::ApiKey;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiError;
use crate::extract::{Authenticated, Created, Json, Path, Query};
use crate::openapi::responses::{DeleteErrors, Forbidden, Invalid, NotFound, Unauthorized};
use crate::routes::{Page, PageParams};
use crate::state::AppState;

/// API key routes.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(remove))
}

/// A new key: its metadata and the secret, shown only once.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedKey {
    /// The metadata, at the top level beside `key`.
    #[serde(flatten)]
    meta: ApiKey,
    /// The secret, `pbk_...`.
    key: String,
}

#[utoipa::path(post, path = "/api/v1/api-keys", tag = "api-keys", operation_id = "create_api_key",
    request_body = pybase_core::auth::NewApiKey,
    responses(
        (status = 201, description = "created; `key` is shown only here", body = CreatedKey),
        Unauthorized, Forbidden, NotFound, Invalid,
    ),
    security(("bearer" = []), ("api_key" = [])))]
pub(crate) async fn create(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    Json(new): Json<NewApiKey>,
) -> Result<Created<CreatedKey>, ApiError> {
    // Auth refuses keys that may not manage the account first; a key
    // limited to workspaces must name ones its user belongs to.
    if p.can_manage_account()
        && let Some(list) = &new.workspaces
    {
        state.pybase.check_member_of_all(&p, list).await?;
    }
    let (meta, key) = state.auth.create_api_key(&p, new).await?;
    Ok(Created(CreatedKey { meta, key }))
}

#[utoipa::path(get, path = "/api/v1/api-keys", tag = "api-keys", operation_id = "list_api_keys",
    params(PageParams),
    responses(
        (status = 200, description = "the caller's keys without secrets", body = Page<ApiKey>),
        Unauthorized, Forbidden,
    ),
    security(("bearer" = []), ("api_key" = [])))]
pub(crate) async fn list(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    Query(page): Query<PageParams>,
) -> Result<Json<Page<ApiKey>>, ApiError> {
    Ok(Json(page.page(state.auth.list_api_keys(&p).await?)?))
}

#[utoipa::path(delete, path = "/api/v1/api-keys/{id}", tag = "api-keys", operation_id = "delete_api_key",
    params(("id" = pybase_core::ids::ApiKeyId, Path, description = "API key id")),
    responses(
        (status = 204, description = "deleted; the key stops working at once"),
        DeleteErrors,
    ),
    security(("bearer" = []), ("api_key" = [])))]
pub(crate) async fn remove(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    Path(id): Path<ApiKeyId>,
) -> Result<StatusCode, ApiError> {
    state.auth.delete_api_key(&p, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
