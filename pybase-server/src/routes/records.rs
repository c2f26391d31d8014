//! Records of a table.

use axum::extract::State;
use axum::http::StatusCode;
use pybase_core::facade::{
    CellsInput, FieldKey, QueryInput, RecordOut, RecordsPage, UpsertResult, WriteOptions,
};
use pybase_core::ids::{RecordId, TableId};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiError;
use crate::extract::{Authenticated, Created, Json, JsonText, Path, Query};
use crate::openapi::responses::{DeleteErrors, Invalid, Malformed, ReadErrors, WriteErrors};
use crate::state::AppState;

/// Record routes.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create, list, batch_update, batch_delete))
        .routes(routes!(query))
        .routes(routes!(get_one, update, replace, delete))
        .routes(routes!(restore))
}

/// `?field_key=name|id`: how output cells are keyed.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct KeyParams {
    /// `name` (default) or `id`.
    #[param(inline, value_type = Option<FieldKey>)]
    pub field_key: Option<String>,
}

impl KeyParams {
    pub(crate) fn key(&self) -> Result<FieldKey, ApiError> {
        match self.field_key.as_deref() {
            None | Some("name") => Ok(FieldKey::Name),
            Some("id") => Ok(FieldKey::Id),
            Some(other) => Err(ApiError::invalid(
                "field_key",
                format!("name or id, got {other:?}"),
            )),
        }
    }
}

/// Query string of `GET /tables/{id}/records`.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Filter as JSON, e.g. `{"field":"Qty","op":"gt","value":10}`
    /// (see `Filter`); empty means none.
    pub filter: Option<String>,
    /// Sort spec, e.g. `-Price,Name` (`-` for descending, at most 10 keys);
    /// empty means none.
    pub sort: Option<String>,
    /// Only these fields, comma separated (names or ids).
    pub fields: Option<String>,
    /// Records per page, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub page_size: Option<usize>,
    /// `next_cursor` of the previous page of this same query; empty for
    /// the first page.
    #[param(pattern = "^[A-Za-z0-9_-]*$")]
    pub cursor: Option<String>,
    /// A view (id or name) whose filter and sort apply.
    pub view: Option<String>,
    /// Include soft-deleted records.
    pub include_deleted: Option<bool>,
    /// `name` (default) or `id`.
    #[param(inline, value_type = Option<FieldKey>)]
    pub field_key: Option<String>,
    /// A filter in the formula language, e.g. `AND({Status}='doing',
    /// {Qty}>=21)`, ANDed with `filter` and the view's filter; empty means
    /// none.
    pub formula: Option<String>,
}

impl ListParams {
    fn into_query(self) -> Result<(QueryInput, FieldKey), ApiError> {
        let key = KeyParams {
            field_key: self.field_key,
        }
        .key()?;
        let filter = match self.filter.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(text) => Some(
                serde_json::from_str::<Value>(text)
                    .map_err(|e| ApiError::invalid("filter", format!("a JSON filter: {e}")))?,
            ),
        };
        let fields = self.fields.map(|s| {
            s.split(',')
                .map(str::trim)
                .filter(|f| !f.is_empty())
                .map(str::to_owned)
                .collect()
        });
        Ok((
            QueryInput {
                filter,
                sort: self
                    .sort
                    .filter(|s| !s.trim().is_empty())
                    .map(Value::String),
                fields,
                page_size: self.page_size,
                // `?cursor=` (empty) asks for the first page.
                cursor: self.cursor.filter(|c| !c.is_empty()),
                // `?view=` (empty) means no view, as for filter and sort.
                view: self.view.filter(|v| !v.is_empty()),
                include_deleted: self.include_deleted.unwrap_or(false),
                formula: self.formula.filter(|f| !f.trim().is_empty()),
            },
            key,
        ))
    }
}

/// Cells of one record in a request.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordFields {
    /// Cells keyed by field name or id.
    #[schema(value_type = Object)]
    pub fields: CellsInput,
}

/// `POST /tables/{id}/records`: one record (`fields`) or a batch (`records`).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    /// One record's cells.
    #[schema(value_type = Option<Object>)]
    pub fields: Option<CellsInput>,
    /// Up to 1000 records, all or nothing.
    pub records: Option<Vec<RecordFields>>,
    /// Convert strings ("12" to 12; select names create choices).
    #[serde(default)]
    pub typecast: bool,
}

/// A batch of records as answered.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordsOut {
    /// The records in input order.
    pub records: Vec<RecordOut>,
}

/// What `POST /tables/{id}/records` answers: a record or a batch.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(untagged)]
pub enum Created1OrMany {
    /// For `{"fields":...}`.
    One(RecordOut),
    /// For `{"records":[...]}`.
    Many(RecordsOut),
}

#[utoipa::path(post, path = "/api/v1/tables/{id}/records", tag = "records", operation_id = "create_records",
    params(("id" = pybase_core::ids::TableId, Path, description = "table id"), KeyParams),
    request_body = CreateBody,
    responses(
        (status = 201, description = "created (editor and above): a record for `fields`, `{\"records\":[...]}` for `records`", body = Created1OrMany),
        WriteErrors,
    ),
    security(("bearer" = []), ("api_key" = [])))]
pub(crate) async fn create(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    Path(table): Path<TableId>,
    Query(k): Query<KeyParams>,
    Json(body): Json<CreateBody>,
) -> Result<Created<Created1OrMany>, ApiError> {
    let opts = WriteOptions {
        typecast: body.typecast,
        field_key: k.key()?,
    };
    let out = match (body.fields, body.records) {
        (Some(fields), None) => {
            Created1OrMany::One(state.pybase.create_record(&p, table, fields, opts).await?)
        }
        (None, Some(records)) => {
            let cells = records.into_iter().map(|r| r.fields).collect();
            Created1OrMany::Many(RecordsOut {
                records: state.pybase.create_records(&p, table, cells, opts).await?,
            })
        }
        _ => {
            return Err(ApiError::invalid(
                "body",
                "exactly one of \"fields\" or \"records\"",
            ));
        }
    };
    Ok(Created(out))
}

#[utoipa::path(get, path = "/api/v1/tables/{id}/records", tag = "records", operation_id = "list_records",
    params(("id" = pybase_core::ids::TableId, Path, description = "table id"), ListParams),
    responses(
        (status = 200, description = "a page of records, stable order (ties by id)", body = RecordsPage),
        ReadErrors, Malformed, Invalid,
    ),
    security(("bearer" = []), ("api_key" = [])))]
pub(crate) async fn list(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    Path(table): Path<TableId>,
    Query(params): Query<ListParams>,
) -> Result<JsonText, ApiError> {
    let (q, key) = params.into_query()?;
    Ok(JsonText(
        state.pybase.query_records_json(&p, table, q, key).await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/tables/{id}/records/query", tag = "records", operation_id = "query_records",
    params(("id" = pybase_core::ids::TableId, Path, description = "table id"), KeyParams),
    request_body = QueryInput,
    responses(
        (status = 200, description = "a page of records", body = RecordsPage),
        ReadErrors, Malformed, Invalid,
    ),
    security(("bearer" = []), ("api_key" = [])))]
pub(crate) async fn query(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    Path(table): Path<TableId>,
    Query(k): Query<KeyParams>,
    Json(q): Json<QueryInput>,
) -> Result<JsonText, ApiError> {
    let key = k.key()?;
    Ok(JsonText(
        state.pybase.query_records_json(&p, table, q, key).await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/tables/{id}/records/{record_id}", tag = "records", operation_id = "get_record",
    params(("id" = pybase_core::ids::TableId, Path, description = "table id"), ("record_id" = pybase_core::ids::RecordId, Path, description = "record id"), KeyParams),
    responses(
        (status = 200, description = "the record", body = RecordOut),
        ReadErrors,
    ),
    security(("bearer" = []), ("api_key" = [])))]
pub(crate) async fn get_one(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    Path((table, id)): Path<(TableId, RecordId)>,
    Query(k): Query<KeyParams>,
) -> Result<Json<RecordOut>, ApiError> {
    let key = k.key()?;
    Ok(Json(state.pybase.get_record(&p, table, id, key).await?))
}

/// `PATCH`/`PUT /tables/{id}/records/{record_id}` body.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateBody {
    /// Cells keyed by field name or id.
    #[schema(value_type = Object)]
    pub fields: CellsInput,
    /// Convert strings where it makes sense.
    #[serde(default)]
    pub typecast: bool,
}

async fn write_one(
    state: &AppState,
    p: &pybase_core::Principal,
    (table, id): (TableId, RecordId),
    body: UpdateBody,
    replace: bool,
    key: FieldKey,
) -> Result<RecordOut, ApiError> {
    let opts = WriteOptions {
        typecast: body.typecast,
        field_key: key,
    };
    Ok(state
        .pybase
        .update_record(p, table, id, body.fields, opts, replace)
        .await?)
}

#[utoipa::path(patch, path = "/api/v1/tables/{id}/records/{record_id}", tag = "records", operation_id = "update_record",
    params(("id" = pybase_core::ids::TableId, Path, description = "table id"), ("record_id" = pybase_core::ids::RecordId, Path, description = "record id"), KeyParams),
    request_body = UpdateBody,
    responses(
        (status = 200, description = "merged: only the named fields change, atomically", body = RecordOut),
        WriteErrors,
    ),
    security(("bearer" = []), ("api_key" = [])))]
pub(crate) async fn update(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    Path(ids): Path<(TableId, RecordId)>,
    Query(k): Query<KeyParams>,
    Json(body): Json<UpdateBody>,
) -> Result<Json<RecordOut>, ApiError> {
    Ok(Json(
        write_one(&state, &p, ids, body, false, k.key()?).await?,
    ))
}

#[utoipa::path(put, path = "/api/v1/tables/{id}/records/{record_id}", tag = "records", operation_id = "replace_record",
    params(("id" = pybase_core::ids::TableId, Path, description = "table id"), ("record_id" = pybase_core::ids::RecordId, Path, description = "record id"), KeyParams),
    request_body = UpdateBody,
    responses(
        (status = 200, description = "replaced: fields not named are cleared", body = RecordOut),
        WriteErrors,
    ),
    security(("bearer" = []), ("api_key" = [])))]
pub(crate) async fn replace(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    Path(ids): Path<(TableId, RecordId)>,
    Query(k): Query<KeyParams>,
    Json(body): Json<UpdateBody>,
) -> Result<Json<RecordOut>, ApiError> {
    Ok(Json(
        write_one(&state, &p, ids, body, true, k.key()?).await?,
    ))
}

/// One record of a batch update; `id` is required unless upserting.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchRecord {
    /// The record to update.
    pub id: Option<String>,
    /// Cells keyed by field name or id.
    #[schema(value_type = Object)]
    pub fields: CellsInput,
}

/// Upsert options.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpsertSpec {
    /// 1 to 3 fields (names or ids) whose values identify a record.
    #[serde(rename = "merge_on", alias = "fieldsToMergeOn")]
    #[schema(min_items = 1, max_items = 3)]
    pub merge_on: Vec<String>,
}

/// `PATCH /tables/{id}/records` body.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchBody {
    /// Up to 1000 records, all or nothing.
    pub records: Vec<BatchRecord>,
    /// Update records matching on these fields, create the others.
    pub upsert: Option<UpsertSpec>,
    /// Convert strings where it makes sense.
    #[serde(default)]
    pub typecast: bool,
}

/// What a batch `PATCH` answers.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(untagged)]
pub enum BatchOut {
    /// A plain batch update.
    Updated(RecordsOut),
    /// An upsert.
    Upserted(UpsertResult),
}

#[utoipa::path(patch, path = "/api/v1/tables/{id}/records", tag = "records", operation_id = "update_records",
    params(("id" = pybase_core::ids::TableId, Path, description = "table id"), KeyParams),
    request_body = BatchBody,
    responses(
        (status = 200, description = "updated (`{\"records\"}`) or upserted (`{\"records\",\"created_records\",\"updated_records\"}`)", body = BatchOut),
        (status = 409, description = "an upsert whose merge fields match more than one record", body = crate::error::ErrorBody),
        WriteErrors,
    ),
    security(("bearer" = []), ("api_key" = [])))]
pub(crate) async fn batch_update(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    Path(table): Path<TableId>,
    Query(k): Query<KeyParams>,
    Json(body): Json<BatchBody>,
) -> Result<Json<BatchOut>, ApiError> {
    let opts = WriteOptions {
        typecast: body.typecast,
        field_key: k.key()?,
    };
    if let Some(upsert) = body.upsert {
        if let Some(i) = body.records.iter().position(|r| r.id.is_some()) {
            return Err(ApiError::invalid(
                format!("records[{i}].id"),
                "no id in an upsert: records are matched on merge_on",
            ));
        }
        let cells = body.records.into_iter().map(|r| r.fields).collect();
        let out = state
            .pybase
            .upsert_records(&p, table, &upsert.merge_on, cells, opts)
            .await?;
        return Ok(Json(BatchOut::Upserted(out)));
    }
    let mut records = Vec::with_capacity(body.records.len());
    for (i, r) in body.records.into_iter().enumerate() {
        let field = format!("records[{i}].id");
        let id =
            r.id.ok_or_else(|| ApiError::invalid(&field, "a record id"))?;
        let id = RecordId::parse(&id).map_err(|e| ApiError::invalid(&field, e.to_string()))?;
        records.push((id, r.fields));
    }
    let out = state
        .pybase
        .update_records(&p, table, records, opts)
        .await?;
    Ok(Json(BatchOut::Updated(RecordsOut { records: out })))
}

#[utoipa::path(delete, path = "/api/v1/tables/{id}/records/{record_id}", tag = "records", operation_id = "delete_record",
    params(("id" = pybase_core::ids::TableId, Path, description = "table id"), ("record_id" = pybase_core::ids::RecordId, Path, description = "record id")),
    responses(
        (status = 204, description = "soft-deleted (editor and above)"),
        DeleteErrors,
    ),
    security(("bearer" = []), ("api_key" = [])))]
pub(crate) async fn delete(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    Path((table, id)): Path<(TableId, RecordId)>,
) -> Result<StatusCode, ApiError> {
    state.pybase.delete_records(&p, table, &[id]).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `?ids=a,b,c` of a batch delete.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeleteParams {
    /// 1 to 1000 record ids, comma separated, no spaces.
    #[param(required = true, value_type = String, pattern = "^rec[0-9A-Za-z]{14}(,rec[0-9A-Za-z]{14}){0,999}$")]
    pub ids: Option<String>,
}

/// A deleted record in a batch delete's answer.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Deleted {
    /// The record.
    pub id: RecordId,
    /// Always `true`.
    pub deleted: bool,
}

/// What a batch delete answers.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeletedOut {
    /// The records deleted.
    pub records: Vec<Deleted>,
}

#[utoipa::path(delete, path = "/api/v1/tables/{id}/records", tag = "records", operation_id = "delete_records",
    params(("id" = pybase_core::ids::TableId, Path, description = "table id"), DeleteParams),
    responses(
        (status = 200, description = "soft-deleted, all or nothing (editor and above)", body = DeletedOut),
        WriteErrors,
    ),
    security(("bearer" = []), ("api_key" = [])))]
pub(crate) async fn batch_delete(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    Path(table): Path<TableId>,
    Query(params): Query<DeleteParams>,
) -> Result<Json<DeletedOut>, ApiError> {
    let text = params.ids.unwrap_or_default();
    let mut ids = Vec::new();
    for (i, s) in text.split(',').enumerate().filter(|_| !text.is_empty()) {
        let id = RecordId::parse(s)
            .map_err(|e| ApiError::invalid(format!("ids[{i}]"), e.to_string()))?;
        ids.push(id);
    }
    if ids.is_empty() {
        // The usual slip is a missing `?ids=`: name the parameter.
        return Err(ApiError::invalid(
            "ids",
            "record ids to delete, comma separated: ?ids=rec...,rec...",
        ));
    }
    state.pybase.delete_records(&p, table, &ids).await?;
    Ok(Json(DeletedOut {
        records: ids
            .into_iter()
            .map(|id| Deleted { id, deleted: true })
            .collect(),
    }))
}

#[utoipa::path(post, path = "/api/v1/tables/{id}/records/{record_id}/restore", tag = "records", operation_id = "restore_record",
    params(("id" = pybase_core::ids::TableId, Path, description = "table id"), ("record_id" = pybase_core::ids::RecordId, Path, description = "record id"), KeyParams),
    responses(
        (status = 200, description = "restored (editor and above)", body = RecordOut),
        DeleteErrors,
    ),
    security(("bearer" = []), ("api_key" = [])))]
pub(crate) async fn restore(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    Path((table, id)): Path<(TableId, RecordId)>,
    Query(k): Query<KeyParams>,
) -> Result<Json<RecordOut>, ApiError> {
    let key = k.key()?;
    Ok(Json(state.pybase.restore_record(&p, table, id, key).await?))
}
