//! Webhooks of a base and their deliveries (admin and above).

use axum::extract::State;
use axum::http::StatusCode;
use pybase_core::facade::{NewWebhook, WebhookPatch};
use pybase_core::ids::{BaseId, WebhookId};
use pybase_core::store::{Delivery, Webhook};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiError;
use crate::extract::{Authenticated, Created, Json, Path, Query};
use crate::openapi::responses::{DeleteErrors, ReadErrors, WriteErrors};
use crate::routes::{Page, PageParams};
use crate::state::AppState;

/// Webhook routes.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(get_one, update, delete))
        .routes(routes!(deliveries))
}

/// A webhook as creation answers it: with its signing secret, shown only
/// here.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CreatedWebhook {
    /// The webhook.
    #[serde(flatten)]
    pub webhook: Webhook,
    /// `whsec_...`: the key of the `PyBase-Signature` HMAC.
    pub secret: String,
}

/// `?cursor=&page_size=` of the deliveries list.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveriesParams {
    /// A previous page's `next_cursor`: deliveries older than this id.
    #[param(minimum = 0)]
    #[serde(default, deserialize_with = "crate::extract::blank_as_none")]
    pub cursor: Option<i64>,
    /// Deliveries per page, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub page_size: Option<usize>,
}

/// A page of deliveries, newest first.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeliveriesPage {
    /// The attempts, newest first.
    pub items: Vec<Delivery>,
    /// Pass as `cursor` for older ones; `null` on the last page.
    pub next_cursor: Option<i64>,
}

#[utoipa::path(post, path = "/api/v1/bases/{id}/webhooks", tag = "webhooks", operation_id = "create_webhook",
    params(("id" = pybase_core::ids::BaseId, Path, description = "base id")),
    request_body = NewWebhook,
    responses(
        (status = 201, description = "created (admin and above); the answer holds the `secret`, shown only here", body = CreatedWebhook),
        WriteErrors,
    ),
    security(("bearer" = []), ("api_key" = [])))]
pub(crate) async fn create(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    Path(base): Path<BaseId>,
    Json(input): Json<NewWebhook>,
) -> Result<Created<CreatedWebhook>, ApiError> {
    let made = state.pybase.create_webhook(&p, base, input).await?;
    Ok(Created(CreatedWebhook {
        webhook: made.webhook,
        secret: made.secret,
    }))
}

#[utoipa::path(get, path = "/api/v1/bases/{id}/webhooks", tag = "webhooks", operation_id = "list_webhooks",
    params(("id" = pybase_core::ids::BaseId, Path, description = "base id"), PageParams),
    responses(
        (status = 200, description = "the base's webhooks, oldest first (admin and above)", body = Page<Webhook>),
        DeleteErrors,
    ),
    security(("bearer" = []), ("api_key" = [])))]
pub(crate) async fn list(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    Path(base): Path<BaseId>,
    Query(page): Query<PageParams>,
) -> Result<Json<Page<Webhook>>, ApiError> {
    Ok(Json(
        page.page(state.pybase.list_webhooks(&p, base).await?)?,
    ))
}

#[utoipa::path(get, path = "/api/v1/webhooks/{id}", tag = "webhooks", operation_id = "get_webhook",
    params(("id" = pybase_core::ids::WebhookId, Path, description = "webhook id")),
    responses(
        (status = 200, description = "the webhook (admin and above)", body = Webhook),
        DeleteErrors,
    ),
    security(("bearer" = []), ("api_key" = [])))]
pub(crate) async fn get_one(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    Path(id): Path<WebhookId>,
) -> Result<Json<Webhook>, ApiError> {
    Ok(Json(state.pybase.get_webhook(&p, id).await?))
}

#[utoipa::path(patch, path = "/api/v1/webhooks/{id}", tag = "webhooks", operation_id = "update_webhook",
    params(("id" = pybase_core::ids::WebhookId, Path, description = "webhook id")),
    request_body = WebhookPatch,
    responses(
        (status = 200, description = "updated (admin and above)", body = Webhook),
        WriteErrors,
    ),
    security(("bearer" = []), ("api_key" = [])))]
pub(crate) async fn update(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    Path(id): Path<WebhookId>,
    Json(patch): Json<WebhookPatch>,
) -> Result<Json<Webhook>, ApiError> {
    Ok(Json(state.pybase.update_webhook(&p, id, patch).await?))
}

#[utoipa::path(delete, path = "/api/v1/webhooks/{id}", tag = "webhooks", operation_id = "delete_webhook",
    params(("id" = pybase_core::ids::WebhookId, Path, description = "webhook id")),
    responses(
        (status = 204, description = "deleted with its deliveries (admin and above)"),
        DeleteErrors,
    ),
    security(("bearer" = []), ("api_key" = [])))]
pub(crate) async fn delete(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    Path(id): Path<WebhookId>,
) -> Result<StatusCode, ApiError> {
    state.pybase.delete_webhook(&p, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/webhooks/{id}/deliveries", tag = "webhooks", operation_id = "list_webhook_deliveries",
    params(("id" = pybase_core::ids::WebhookId, Path, description = "webhook id"), DeliveriesParams),
    responses(
        (status = 200, description = "delivery attempts, newest first (admin and above)", body = DeliveriesPage),
        ReadErrors,
        WriteErrors,
    ),
    security(("bearer" = []), ("api_key" = [])))]
pub(crate) async fn deliveries(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    Path(id): Path<WebhookId>,
    Query(q): Query<DeliveriesParams>,
) -> Result<Json<DeliveriesPage>, ApiError> {
    let size = q.page_size.unwrap_or(100);
    let items = state
        .pybase
        .webhook_deliveries(&p, id, q.cursor, Some(size))
        .await?;
    let next_cursor = if items.len() == size {
        items.last().map(|d| d.id)
    } else {
        None
    };
    Ok(Json(DeliveriesPage { items, next_cursor }))
}
