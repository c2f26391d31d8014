//! `POST /v0/{baseId}/{recordId}/{fieldIdOrName}/uploadAttachment`
//! (AIRTABLE.md §5.6): a base64 file of up to 5 MB, stored through the
//! server's attachment storage and appended to an attachment cell; answers
//! the record keyed by field id.
//!
//! The append is core's [`pybase_core::Pybase::append_attachment`]: a
//! compare-and-set of the cell, retried, so concurrent uploads to one cell
//! all end up in it, whichever server instances take them.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use base64::Engine as _;
use pybase_core::facade::FieldKey;
use pybase_core::ids::{FieldId, RecordId};
use serde_json::{Map, Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::cells::{RecordShape, find_field};
use super::error::V0Error;
use super::openapi::V0Errors;
use super::records::{V0Path, renderer};
use super::wire::object_body;
use super::{Caller, TableCtx, base_id, core};
use crate::extract::Json;
use crate::state::AppState;

/// The largest file accepted, decoded.
pub const MAX_UPLOAD_BYTES: usize = 5 * 1024 * 1024;
/// Upload routes.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(upload_attachment))
}

/// A required string of the body.
fn string<'a>(body: &'a Map<String, Value>, key: &str) -> Result<&'a str, V0Error> {
    match body.get(key) {
        Some(Value::String(s)) => Ok(s),
        None | Some(Value::Null) => Err(V0Error::missing(key)),
        Some(other) => Err(V0Error::invalid_request(format!(
            "{key}: expected a string, got {other}"
        ))),
    }
}

/// The table of the base holding `record`, with its fields. A field id
/// names the table directly (one lookup); a field name leaves only the
/// record to find it by, table after table.
async fn table_of(
    state: &AppState,
    caller: &Caller,
    base: pybase_core::ids::BaseId,
    record: RecordId,
    field: &str,
) -> Result<TableCtx, V0Error> {
    let p = &caller.principal;
    if let Ok(id) = FieldId::parse(field) {
        match state.pybase.get_field(p, id).await {
            Ok(f) => {
                let (table, fields) = state
                    .pybase
                    .table_with_fields(p, f.table_id)
                    .await
                    .map_err(core)?;
                if table.base_id == base {
                    return match state
                        .pybase
                        .get_record(p, table.id, record, FieldKey::Id)
                        .await
                    {
                        Ok(_) => Ok(TableCtx { table, fields }),
                        Err(pybase_core::Error::NotFound { .. }) => {
                            Err(V0Error::record_not_found())
                        }
                        Err(e) => Err(core(e)),
                    };
                }
            }
            // Not a field the caller can see: answered below like a name.
            Err(pybase_core::Error::NotFound { .. }) => {}
            Err(e) => return Err(core(e)),
        }
    }
    for t in state.pybase.list_tables(p, base).await.map_err(core)? {
        match state.pybase.get_record(p, t.id, record, FieldKey::Id).await {
            Ok(_) => {
                let (table, fields) = state
                    .pybase
                    .table_with_fields(p, t.id)
                    .await
                    .map_err(core)?;
                return Ok(TableCtx { table, fields });
            }
            Err(pybase_core::Error::NotFound { .. }) => {}
            Err(e) => return Err(core(e)),
        }
    }
    Err(V0Error::record_not_found())
}

#[utoipa::path(post, path = "/v0/{baseId}/{recordId}/{fieldIdOrName}/uploadAttachment", tag = "records", operation_id = "v0_upload_attachment",
    params(
        ("baseId" = String, Path, description = "base id"),
        ("recordId" = String, Path, description = "record id"),
        ("fieldIdOrName" = String, Path, description = "an attachment field's id or name"),
    ),
    request_body(content = Object, description = "`{\"contentType\",\"filename\",\"file\"}`: `file` is the content in base64, at most 5 MB decoded"),
    responses(
        (status = 200, description = "the record `{\"id\",\"createdTime\",\"fields\"}`, cells keyed by field id, the new attachment last in its cell", body = Object),
        V0Errors,
    ),
    security(("bearer" = [])))]
pub(crate) async fn upload_attachment(
    State(state): State<AppState>,
    caller: Caller,
    V0Path((base, record, field)): V0Path<(String, String, String)>,
    body: Bytes,
) -> Result<Json<Value>, V0Error> {
    let body = object_body(&body)?;
    let base = base_id(&base)?;
    caller.spend(&state, base.as_str()).await?;
    let record = RecordId::parse(&record).map_err(|_| V0Error::record_not_found())?;
    let content_type = string(&body, "contentType")?;
    let filename = string(&body, "filename")?;
    let file = string(&body, "file")?;
    // Base64 of 5 MB is under 7 MB: refuse larger text before decoding.
    if file.len() > MAX_UPLOAD_BYTES / 3 * 4 + 8 {
        return Err(too_large());
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(file.trim())
        .map_err(|e| V0Error::invalid_request(format!("file: expected base64 content ({e})")))?;
    if bytes.len() > MAX_UPLOAD_BYTES {
        return Err(too_large());
    }
    let ctx = table_of(&state, &caller, base, record, &field).await?;
    let field = find_field(&ctx.fields, &field).cloned().ok_or_else(|| {
        V0Error::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "UNKNOWN_FIELD_NAME",
            format!("Unknown field name: \"{field}\""),
        )
    })?;
    if field.field_type.type_name() != "attachment" {
        return Err(V0Error::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "INVALID_VALUE_FOR_COLUMN",
            format!(
                "Field \"{}\" cannot accept an upload: it is not an attachment field",
                field.name
            ),
        ));
    }
    let chunk: Result<Bytes, std::convert::Infallible> = Ok(Bytes::from(bytes));
    let stored = state
        .pybase
        .upload_attachment(
            &caller.principal,
            ctx.table.id,
            filename,
            Some(content_type),
            futures::stream::iter([chunk]),
            MAX_UPLOAD_BYTES as u64,
        )
        .await
        .map_err(core)?;
    let out = state
        .pybase
        .append_attachment(
            &caller.principal,
            ctx.table.id,
            record,
            field.id,
            stored.id,
            FieldKey::Id,
        )
        .await
        .map_err(core)?;
    let shape = RecordShape {
        by_id: true,
        ..RecordShape::default()
    };
    let render = renderer(&state, &caller, &ctx, shape).await?;
    Ok(Json(json!(render.record(out))))
}

fn too_large() -> V0Error {
    V0Error::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "REQUEST_TOO_LARGE",
        format!("file: at most {MAX_UPLOAD_BYTES} bytes of content"),
    )
}
