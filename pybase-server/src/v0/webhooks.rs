//! Webhooks under `/v0/bases/{baseId}/webhooks` (AIRTABLE.md §11):
//! create (the MAC secret shown once, base64), list, delete, refresh,
//! notifications on or off, and payload pages built from the base's change
//! log in Airtable's shape. Pings are sent by the delivery worker
//! (`crate::webhooks`); the rules are core's (`facade::airtable_webhooks`).

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use base64::Engine as _;
use pybase_core::facade::{AirtableSpec, AirtableWebhookOut};
use pybase_core::fields::FieldType;
use pybase_core::ids::{BaseId, TableId, WebhookId};
use pybase_core::model::{Field, User};
use pybase_core::role::Role;
use pybase_core::store::{ChangeEvent, ChangeKind, Delivery};
use serde_json::{Map, Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::cells::{RecordShape, Renderer, time};
use super::error::V0Error;
use super::openapi::V0Errors;
use super::records::V0Path;
use super::types::airtable_type;
use super::wire::{QueryPairs, object_body, whole};
use super::{Caller, base_id, core};
use crate::extract::Json;
use crate::state::AppState;

/// Webhook routes.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_webhooks, create_webhook))
        .routes(routes!(delete_webhook))
        .routes(routes!(refresh_webhook))
        .routes(routes!(enable_notifications))
        .routes(routes!(list_payloads))
}

/// A core error of a webhook call: bad input is 422
/// `INVALID_REQUEST_UNKNOWN` naming the key, an unknown webhook 404.
fn hook_error(e: pybase_core::Error) -> V0Error {
    use pybase_core::Error as E;
    match e {
        E::Validation { message, .. } => V0Error::invalid_request(message),
        E::NotFound { entity: "webhook" } => V0Error::new(
            StatusCode::NOT_FOUND,
            "MODEL_ID_NOT_FOUND",
            "Webhook not found",
        ),
        E::Gone(why) => V0Error::invalid_request(format!(
            "cursor: the payloads from this cursor were pruned from the change log ({why})"
        )),
        other => core(other),
    }
}

/// The base of a webhook call, after spending a rate-limit token.
async fn base_of(state: &AppState, caller: &Caller, raw: &str) -> Result<BaseId, V0Error> {
    let id = base_id(raw)?;
    caller.spend(state, id.as_str()).await?;
    Ok(id)
}

/// A webhook id in the path: anything else names no webhook.
fn hook_id(raw: &str) -> Result<WebhookId, V0Error> {
    WebhookId::parse(raw).map_err(|_| hook_error(pybase_core::Error::not_found("webhook")))
}

#[utoipa::path(post, path = "/v0/bases/{baseId}/webhooks", tag = "webhooks", operation_id = "v0_create_webhook",
    params(("baseId" = String, Path, description = "base id")),
    request_body(content = Object, description = "`{\"notificationUrl\"?,\"specification\":{\"options\":{\"filters\":{\"dataTypes\":[\"tableData\"|\"tableFields\"|\"tableMetadata\"],\"recordChangeScope\"?,\"changeTypes\"?,\"watchDataInFieldIds\"?},\"includes\"?:{\"includePreviousCellValues\"?}}}}`"),
    responses(
        (status = 200, description = "`{\"id\",\"macSecretBase64\",\"expirationTime\"}`: the secret is shown only here", body = Object),
        V0Errors,
    ),
    security(("bearer" = [])))]
pub(crate) async fn create_webhook(
    State(state): State<AppState>,
    caller: Caller,
    V0Path(base): V0Path<String>,
    body: Bytes,
) -> Result<Json<Value>, V0Error> {
    let body = object_body(&body)?;
    let base = base_of(&state, &caller, &base).await?;
    let url = match body.get("notificationUrl") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => {
            return Err(V0Error::invalid_request(format!(
                "notificationUrl: expected a URL string, got {other}"
            )));
        }
    };
    if let Some(k) = body
        .keys()
        .find(|k| !matches!(k.as_str(), "notificationUrl" | "specification"))
    {
        return Err(V0Error::invalid_request(format!(
            "{k}: no such key (supported: notificationUrl, specification)"
        )));
    }
    let spec = body
        .get("specification")
        .cloned()
        .ok_or_else(|| V0Error::missing("specification"))?;
    let made = state
        .pybase
        .create_airtable_webhook(&caller.principal, base, url, spec)
        .await
        .map_err(hook_error)?;
    let expires = made.webhook.airtable.as_ref().map(|h| time(&h.expires_at));
    Ok(Json(json!({
        "id": made.webhook.id,
        "macSecretBase64": base64::engine::general_purpose::STANDARD.encode(&made.mac_secret),
        "expirationTime": expires,
    })))
}

/// A notification attempt as Airtable's `lastNotificationResult` shows
/// it: `success`, `error` (`{"message"}` or null), `completionTimestamp`,
/// `durationMs`, `retryNumber` (0 for a first attempt) and, for a failure,
/// `willBeRetried`.
fn notification_result(d: &Delivery) -> Value {
    let success = d.succeeded();
    let message = d.error.clone().or_else(|| {
        d.status_code
            .filter(|_| !success)
            .map(|c| format!("the notification URL answered {c}"))
    });
    let done = d.at + chrono::TimeDelta::milliseconds(d.duration_ms);
    let mut out = json!({
        "success": success,
        "error": message.map(|m| json!({ "message": m })),
        "completionTimestamp": time(&done),
        "durationMs": d.duration_ms,
        "retryNumber": (d.attempt - 1).max(0),
    });
    if !success && let Value::Object(m) = &mut out {
        m.insert("willBeRetried".into(), json!(d.next_retry_at.is_some()));
    }
    out
}

/// A webhook as listing shows it.
fn webhook_json(w: &AirtableWebhookOut) -> Value {
    let url = (!w.webhook.url.is_empty()).then(|| w.webhook.url.clone());
    json!({
        "id": w.webhook.id,
        "areNotificationsEnabled": w.notifications_enabled,
        "cursorForNextPayload": w.cursor_for_next_payload,
        "isHookEnabled": w.hook_enabled,
        "lastSuccessfulNotificationTime": w.last_success_at.as_ref().map(time),
        "notificationUrl": url,
        "lastNotificationResult": w.last_notification.as_ref().map(notification_result),
        "expirationTime": time(&w.expires_at),
        "specification": w.specification,
    })
}

#[utoipa::path(get, path = "/v0/bases/{baseId}/webhooks", tag = "webhooks", operation_id = "v0_list_webhooks",
    params(("baseId" = String, Path, description = "base id")),
    responses(
        (status = 200, description = "`{\"webhooks\":[{\"id\",\"areNotificationsEnabled\",\"cursorForNextPayload\",\"isHookEnabled\",\"notificationUrl\",\"expirationTime\",\"specification\"}]}`", body = Object),
        V0Errors,
    ),
    security(("bearer" = [])))]
pub(crate) async fn list_webhooks(
    State(state): State<AppState>,
    caller: Caller,
    V0Path(base): V0Path<String>,
) -> Result<Json<Value>, V0Error> {
    let base = base_of(&state, &caller, &base).await?;
    let hooks = state
        .pybase
        .list_airtable_webhooks(&caller.principal, base)
        .await
        .map_err(hook_error)?;
    Ok(Json(
        json!({ "webhooks": hooks.iter().map(webhook_json).collect::<Vec<_>>() }),
    ))
}

#[utoipa::path(delete, path = "/v0/bases/{baseId}/webhooks/{webhookId}", tag = "webhooks", operation_id = "v0_delete_webhook",
    params(
        ("baseId" = String, Path, description = "base id"),
        ("webhookId" = String, Path, description = "webhook id (`ach…`)"),
    ),
    responses((status = 200, description = "`{}`", body = Object), V0Errors),
    security(("bearer" = [])))]
pub(crate) async fn delete_webhook(
    State(state): State<AppState>,
    caller: Caller,
    V0Path((base, hook)): V0Path<(String, String)>,
) -> Result<Json<Value>, V0Error> {
    let base = base_of(&state, &caller, &base).await?;
    let hook = hook_id(&hook)?;
    state
        .pybase
        .delete_airtable_webhook(&caller.principal, base, hook)
        .await
        .map_err(hook_error)?;
    Ok(Json(json!({})))
}

#[utoipa::path(post, path = "/v0/bases/{baseId}/webhooks/{webhookId}/refresh", tag = "webhooks", operation_id = "v0_refresh_webhook",
    params(
        ("baseId" = String, Path, description = "base id"),
        ("webhookId" = String, Path, description = "webhook id (`ach…`)"),
    ),
    responses((status = 200, description = "`{\"expirationTime\"}`: now plus seven days", body = Object), V0Errors),
    security(("bearer" = [])))]
pub(crate) async fn refresh_webhook(
    State(state): State<AppState>,
    caller: Caller,
    V0Path((base, hook)): V0Path<(String, String)>,
) -> Result<Json<Value>, V0Error> {
    let base = base_of(&state, &caller, &base).await?;
    let hook = hook_id(&hook)?;
    let expires = state
        .pybase
        .refresh_airtable_webhook(&caller.principal, base, hook)
        .await
        .map_err(hook_error)?;
    Ok(Json(json!({ "expirationTime": time(&expires) })))
}

#[utoipa::path(post, path = "/v0/bases/{baseId}/webhooks/{webhookId}/enableNotifications", tag = "webhooks", operation_id = "v0_enable_webhook_notifications",
    params(
        ("baseId" = String, Path, description = "base id"),
        ("webhookId" = String, Path, description = "webhook id (`ach…`)"),
    ),
    request_body(content = Object, description = "`{\"enable\":true|false}`; on needs a notificationUrl"),
    responses((status = 200, description = "`{}`", body = Object), V0Errors),
    security(("bearer" = [])))]
pub(crate) async fn enable_notifications(
    State(state): State<AppState>,
    caller: Caller,
    V0Path((base, hook)): V0Path<(String, String)>,
    body: Bytes,
) -> Result<Json<Value>, V0Error> {
    let body = object_body(&body)?;
    let base = base_of(&state, &caller, &base).await?;
    let hook = hook_id(&hook)?;
    let enable = match body.get("enable") {
        Some(Value::Bool(b)) => *b,
        None => return Err(V0Error::missing("enable")),
        Some(other) => {
            return Err(V0Error::invalid_request(format!(
                "enable: expected true or false, got {other}"
            )));
        }
    };
    state
        .pybase
        .enable_airtable_notifications(&caller.principal, base, hook, enable)
        .await
        .map_err(hook_error)?;
    Ok(Json(json!({})))
}

#[utoipa::path(get, path = "/v0/bases/{baseId}/webhooks/{webhookId}/payloads", tag = "webhooks", operation_id = "v0_list_webhook_payloads",
    params(
        ("baseId" = String, Path, description = "base id"),
        ("webhookId" = String, Path, description = "webhook id (`ach…`)"),
        ("cursor" = Option<String>, Query, description = "the first payload's number (from 1; default 1)"),
        ("limit" = Option<String>, Query, description = "at most this many payloads (1 to 50; default 50)"),
    ),
    responses(
        (status = 200, description = "`{\"payloads\":[{\"timestamp\",\"baseTransactionNumber\",\"payloadFormat\":\"v0\",\"actionMetadata\",\"changedTablesById\"?,\"createdTablesById\"?,\"destroyedTableIds\"?}],\"cursor\",\"mightHaveMore\"}`; listing extends the webhook's life", body = Object),
        V0Errors,
    ),
    security(("bearer" = [])))]
pub(crate) async fn list_payloads(
    State(state): State<AppState>,
    caller: Caller,
    V0Path((base, hook)): V0Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, V0Error> {
    let base = base_of(&state, &caller, &base).await?;
    let hook = hook_id(&hook)?;
    let pairs = QueryPairs::parse(query.as_deref());
    let number = |name: &str| -> Result<Option<u64>, V0Error> {
        whole(
            name,
            pairs
                .get(name)
                .map(|v| Value::String(v.to_owned()))
                .as_ref(),
        )
    };
    let cursor = number("cursor")?
        .map(|c| i64::try_from(c).unwrap_or(i64::MAX))
        .filter(|c| *c > 0);
    if number("cursor")? == Some(0) {
        return Err(V0Error::invalid_request(
            "cursor: expected a whole number of 1 or more, got 0",
        ));
    }
    let limit = number("limit")?.map(|l| usize::try_from(l).unwrap_or(usize::MAX));
    let page = state
        .pybase
        .airtable_webhook_payloads(&caller.principal, base, hook, cursor, limit)
        .await
        .map_err(hook_error)?;
    let mut builder = PayloadBuilder::new(&state, &caller, base, &page.spec).await?;
    let mut payloads = Vec::with_capacity(page.events.len());
    for event in &page.events {
        payloads.push(builder.payload(event).await?);
    }
    Ok(Json(json!({
        "payloads": payloads,
        "cursor": page.cursor,
        "mightHaveMore": page.might_have_more,
    })))
}

/// Builds Airtable payloads from change events, reading each table's
/// fields (to shape cells) and the base's members (for `actionMetadata`)
/// once.
struct PayloadBuilder<'a> {
    state: &'a AppState,
    caller: &'a Caller,
    spec: &'a AirtableSpec,
    /// Fields by table; `None` for a table deleted since.
    fields: HashMap<TableId, Option<Arc<[Field]>>>,
    /// The members of the base's workspace, with their roles.
    members: HashMap<String, (User, Role)>,
}

impl<'a> PayloadBuilder<'a> {
    async fn new(
        state: &'a AppState,
        caller: &'a Caller,
        base: BaseId,
        spec: &'a AirtableSpec,
    ) -> Result<Self, V0Error> {
        let p = &caller.principal;
        let base = state.pybase.get_base(p, base).await.map_err(core)?;
        let members = state
            .pybase
            .list_members(p, base.workspace_id)
            .await
            .map_err(core)?
            .into_iter()
            .map(|m| (m.user.id.to_string(), (m.user, m.role)))
            .collect();
        Ok(Self {
            state,
            caller,
            spec,
            fields: HashMap::new(),
            members,
        })
    }

    /// The fields of `table` (read once; `None` once the table is gone).
    async fn fields_of(&mut self, table: TableId) -> Result<Option<Arc<[Field]>>, V0Error> {
        if let Some(f) = self.fields.get(&table) {
            return Ok(f.clone());
        }
        let found = match self
            .state
            .pybase
            .table_with_fields(&self.caller.principal, table)
            .await
        {
            Ok((_, fields)) => Some(fields),
            Err(pybase_core::Error::NotFound { .. }) => None,
            Err(e) => return Err(core(e)),
        };
        self.fields.insert(table, found.clone());
        Ok(found)
    }

    /// `actionMetadata`: who made the change.
    fn action_metadata(&self, event: &ChangeEvent) -> Value {
        let Some(actor) = event.actor else {
            return json!({"source": "system", "sourceMetadata": {}});
        };
        let user = match self.members.get(actor.as_str()) {
            Some((u, role)) => json!({
                "id": u.id,
                "email": u.email,
                "name": u.name,
                "permissionLevel": match role {
                    Role::Owner | Role::Admin => "create",
                    Role::Editor => "edit",
                    Role::Viewer => "read",
                },
            }),
            None => json!({"id": actor}),
        };
        json!({"source": "client", "sourceMetadata": {"user": user}})
    }

    /// Cells of a logged side, keyed by field id, in Airtable's shapes.
    fn cells(&self, fields: Option<&Arc<[Field]>>, side: Option<&Value>) -> Map<String, Value> {
        let Some(Value::Object(cells)) = side else {
            return Map::new();
        };
        match fields {
            Some(fields) => Renderer {
                fields,
                shape: RecordShape {
                    by_id: true,
                    ..RecordShape::default()
                },
                users: HashMap::new(),
                link_text: HashMap::new(),
                signer: Some(super::cells::Signer {
                    pybase: &self.state.pybase,
                    public_url: &self.state.public_url,
                }),
            }
            .logged_cells(cells),
            None => cells.clone(),
        }
    }

    /// A field's `{"name","type"}` from a logged field object (`type` by
    /// Airtable's name, left out if the logged type cannot be read).
    fn field_info(fields: Option<&Arc<[Field]>>, side: Option<&Value>) -> Value {
        let Some(v) = side else { return json!({}) };
        let mut out = json!({"name": v.get("name")});
        let parsed = v
            .get("type")
            .and_then(Value::as_str)
            .and_then(|t| FieldType::from_parts(t, v.get("options").unwrap_or(&Value::Null)).ok());
        // Airtable's type of a field is read from a whole field: the
        // logged type on any field of the table serves.
        if let (Some(field_type), Some(template), Value::Object(m)) =
            (parsed, fields.and_then(|f| f.first()), &mut out)
        {
            let field = Field {
                field_type,
                ..template.clone()
            };
            m.insert("type".into(), json!(airtable_type(&field, None).0));
        }
        out
    }

    /// A table's `{"name","description"}` from a logged table object.
    fn table_info(side: Option<&Value>) -> Value {
        let get = |k: &str| side.and_then(|v| v.get(k)).cloned().unwrap_or(Value::Null);
        let mut out = json!({"name": get("name")});
        if let (Value::String(d), Value::Object(m)) = (get("description"), &mut out) {
            m.insert("description".into(), json!(d));
        }
        out
    }

    /// One payload: the event as Airtable describes a transaction.
    async fn payload(&mut self, event: &ChangeEvent) -> Result<Value, V0Error> {
        use ChangeKind as K;
        let mut out = json!({
            "timestamp": time(&event.at),
            "baseTransactionNumber": event.seq,
            "payloadFormat": "v0",
            "actionMetadata": self.action_metadata(event),
        });
        let Value::Object(m) = &mut out else {
            return Ok(out);
        };
        let Some(table) = event.table_id else {
            return Ok(out);
        };
        let record = event.record_id.map(|r| r.to_string()).unwrap_or_default();
        let field = event.field_id.map(|f| f.to_string()).unwrap_or_default();
        let mut changed = Map::new();
        match event.kind {
            K::RecordCreated | K::RecordRestored => {
                let fields = self.fields_of(table).await?;
                let cells = self.cells(fields.as_ref(), event.after.as_ref());
                changed.insert(
                    "createdRecordsById".into(),
                    json!({ record: {"createdTime": time(&event.at), "cellValuesByFieldId": cells} }),
                );
            }
            K::RecordUpdated => {
                let fields = self.fields_of(table).await?;
                let current = self.cells(fields.as_ref(), event.after.as_ref());
                let mut change = json!({"current": {"cellValuesByFieldId": current}});
                if self.spec.include_previous_cells
                    && let Value::Object(c) = &mut change
                {
                    let previous = self.cells(fields.as_ref(), event.before.as_ref());
                    c.insert(
                        "previous".into(),
                        json!({ "cellValuesByFieldId": previous }),
                    );
                }
                changed.insert("changedRecordsById".into(), json!({ record: change }));
            }
            K::RecordDeleted => {
                changed.insert("destroyedRecordIds".into(), json!([record]));
            }
            K::FieldCreated => {
                let fields = self.fields_of(table).await?;
                changed.insert(
                    "createdFieldsById".into(),
                    json!({ field: Self::field_info(fields.as_ref(), event.after.as_ref()) }),
                );
            }
            K::FieldUpdated => {
                let fields = self.fields_of(table).await?;
                let current = Self::field_info(fields.as_ref(), event.after.as_ref());
                changed.insert(
                    "changedFieldsById".into(),
                    json!({ field: {"current": current} }),
                );
            }
            K::FieldDeleted => {
                changed.insert("destroyedFieldIds".into(), json!([field]));
            }
            K::TableCreated => {
                m.insert(
                    "createdTablesById".into(),
                    json!({ table.to_string(): {
                        "metadata": Self::table_info(event.after.as_ref()),
                        "fieldsById": {},
                        "recordsById": {},
                    }}),
                );
            }
            K::TableUpdated => {
                // The log keeps the table after only: `previous` is empty
                // (pyairtable requires the key).
                changed.insert(
                    "changedMetadata".into(),
                    json!({"current": Self::table_info(event.after.as_ref()), "previous": {}}),
                );
            }
            K::TableDeleted => {
                m.insert("destroyedTableIds".into(), json!([table]));
            }
            K::ViewCreated | K::ViewUpdated | K::ViewDeleted => {}
        }
        if !changed.is_empty() {
            m.insert(
                "changedTablesById".into(),
                json!({ table.to_string(): changed }),
            );
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery(status: Option<u16>, error: Option<&str>, retry: bool) -> Delivery {
        Delivery {
            id: 7,
            event_seq: 3,
            attempt: 2,
            at: chrono::DateTime::UNIX_EPOCH,
            status_code: status,
            error: error.map(str::to_owned),
            duration_ms: 1500,
            next_retry_at: retry.then_some(chrono::DateTime::UNIX_EPOCH),
        }
    }

    #[test]
    fn a_notification_result_says_how_it_went() {
        let ok = notification_result(&delivery(Some(204), None, false));
        assert_eq!(
            ok,
            json!({"success": true, "error": null, "completionTimestamp": "1970-01-01T00:00:01.500Z",
                   "durationMs": 1500, "retryNumber": 1})
        );
        let refused = notification_result(&delivery(Some(500), None, true));
        assert_eq!(refused["success"], json!(false));
        assert_eq!(
            refused["error"]["message"],
            json!("the notification URL answered 500")
        );
        assert_eq!(refused["willBeRetried"], json!(true));
        let down = notification_result(&delivery(None, Some("connection refused"), false));
        assert_eq!(down["error"]["message"], json!("connection refused"));
        assert_eq!(down["willBeRetried"], json!(false));
    }
}
