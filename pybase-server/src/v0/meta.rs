//! Metadata under `/v0/meta` (AIRTABLE.md §7): who am I, bases, a base's
//! schema with Airtable's type names and options, and table and field
//! creation and update.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use pybase_core::Principal;
use pybase_core::facade::{
    FieldPatch, NewBase, NewField, NewTable, NewView, TablePatch, TableSchema,
};
use std::collections::HashMap;

use pybase_core::ids::{BaseId, FieldId, WorkspaceId};
use pybase_core::model::Field;
use pybase_core::role::{Role, Scope};
use serde_json::{Map, Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::cells::find_field;
use super::error::V0Error;
use super::openapi::V0Errors;
use super::records::V0Path;
use super::types::{field_json, lookup_result, pybase_type};
use super::wire::{QueryPairs, object_body};
use super::{Caller, base_id, core, find_table};
use crate::extract::Json;
use crate::state::AppState;

/// Bases per page of `GET /v0/meta/bases`.
const BASES_PER_PAGE: usize = 1000;

/// Metadata routes.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(whoami))
        .routes(routes!(bases, create_base))
        .routes(routes!(schema, create_table))
        .routes(routes!(update_table))
        .routes(routes!(create_field))
        .routes(routes!(update_field))
}

/// Airtable's scope names for what the credential may do.
fn scope_names(p: &Principal) -> Vec<&'static str> {
    let all = [Scope::Read, Scope::Write, Scope::Schema, Scope::Admin];
    let granted: Vec<Scope> = match p.scopes() {
        None => all.to_vec(),
        Some(s) => s.to_vec(),
    };
    let mut out = Vec::new();
    for s in granted {
        out.extend_from_slice(match s {
            Scope::Read => &["data.records:read", "schema.bases:read"][..],
            Scope::Write => &["data.records:write"][..],
            Scope::Schema => &["schema.bases:write"][..],
            Scope::Admin => &["webhook:manage"][..],
        });
    }
    out
}

#[utoipa::path(get, path = "/v0/meta/whoami", tag = "meta", operation_id = "v0_whoami",
    responses(
        (status = 200, description = "`{\"id\",\"email\"?,\"scopes\"}`; `email` needs a session or a key with the admin scope", body = Object),
        V0Errors,
    ),
    security(("bearer" = [])))]
pub(crate) async fn whoami(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Value>, V0Error> {
    caller.spend(&state, "meta").await?;
    let p = &caller.principal;
    let mut out = json!({ "id": p.user_id(), "scopes": scope_names(p) });
    // Reading the account needs the admin scope on a key; without it the
    // answer has the id only, as pyairtable needs no more.
    if let (Ok(user), Value::Object(m)) = (state.auth.me(p).await, &mut out) {
        m.insert("email".into(), json!(user.email));
    }
    Ok(Json(out))
}

fn permission_level(role: Role) -> &'static str {
    match role {
        Role::Owner | Role::Admin => "create",
        Role::Editor => "edit",
        Role::Viewer => "read",
    }
}

#[utoipa::path(get, path = "/v0/meta/bases", tag = "meta", operation_id = "v0_list_bases",
    params(("offset" = Option<String>, Query, description = "the previous page's offset")),
    responses(
        (status = 200, description = "`{\"bases\":[{\"id\",\"name\",\"permissionLevel\"}],\"offset\"?}`, 1000 a page", body = Object),
        V0Errors,
    ),
    security(("bearer" = [])))]
pub(crate) async fn bases(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, V0Error> {
    caller.spend(&state, "meta").await?;
    let pairs = QueryPairs::parse(query.as_deref());
    let start = match pairs.get("offset").filter(|o| !o.is_empty()) {
        None => 0,
        Some(o) => o.parse::<usize>().map_err(|_| {
            V0Error::new(
                axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                "LIST_RECORDS_ITERATOR_NOT_AVAILABLE",
                "the offset is not valid",
            )
        })?,
    };
    let p = &caller.principal;
    let mut all = Vec::new();
    for (ws, role) in state.pybase.list_workspaces(p).await.map_err(core)? {
        if !p.can_see_workspace(ws.id) {
            continue;
        }
        for b in state.pybase.list_bases(p, ws.id).await.map_err(core)? {
            all.push(
                json!({"id": b.id, "name": b.name, "permissionLevel": permission_level(role)}),
            );
        }
    }
    let end = start.saturating_add(BASES_PER_PAGE).min(all.len());
    let page: Vec<Value> = all
        .get(start..end)
        .map(<[Value]>::to_vec)
        .unwrap_or_default();
    let mut out = json!({ "bases": page });
    if end < all.len()
        && let Value::Object(m) = &mut out
    {
        m.insert("offset".into(), json!(end.to_string()));
    }
    Ok(Json(out))
}

/// A table of the base schema (AIRTABLE.md §7.3).
fn table_json(s: &TableSchema, visible_field_ids: bool) -> Value {
    table_json_in(s, visible_field_ids, &HashMap::new())
}

/// [`table_json`] with the base's fields by id, so a lookup's `result` is
/// its looked-up field's schema.
fn table_json_in(
    s: &TableSchema,
    visible_field_ids: bool,
    base_fields: &HashMap<FieldId, &Field>,
) -> Value {
    let mut out = Map::new();
    out.insert("id".into(), json!(s.table.id));
    out.insert("name".into(), json!(s.table.name));
    if let Some(d) = s.table.description.as_deref().filter(|d| !d.is_empty()) {
        out.insert("description".into(), json!(d));
    }
    let primary = s
        .table
        .primary_field_id
        .or_else(|| s.fields.first().map(|f| f.id));
    out.insert("primaryFieldId".into(), json!(primary));
    out.insert(
        "fields".into(),
        Value::Array(
            s.fields
                .iter()
                .map(|f| {
                    let mut json = field_json(f, None, &s.fields);
                    if let Some(result) = lookup_result(f, base_fields)
                        && let Some(Value::Object(o)) = json.get_mut("options")
                    {
                        o.insert("result".into(), result);
                    }
                    json
                })
                .collect(),
        ),
    );
    let views = s
        .views
        .iter()
        .map(|v| {
            let mut view = json!({"id": v.id, "name": v.name, "type": "grid"});
            if visible_field_ids && let Value::Object(m) = &mut view {
                let mut order: Vec<_> = v.config.field_order.clone();
                for f in &s.fields {
                    if !order.contains(&f.id) {
                        order.push(f.id);
                    }
                }
                order.retain(|id| {
                    !v.config.hidden_fields.contains(id) && s.fields.iter().any(|f| f.id == *id)
                });
                m.insert("visibleFieldIds".into(), json!(order));
            }
            view
        })
        .collect();
    out.insert("views".into(), Value::Array(views));
    Value::Object(out)
}

/// Resolves a base for a metadata call after spending a rate-limit token.
async fn base_of(state: &AppState, caller: &Caller, raw: &str) -> Result<BaseId, V0Error> {
    let id = base_id(raw)?;
    caller.spend(state, id.as_str()).await?;
    Ok(id)
}

#[utoipa::path(get, path = "/v0/meta/bases/{baseId}/tables", tag = "meta", operation_id = "v0_base_schema",
    params(
        ("baseId" = String, Path, description = "base id"),
        ("include" = Option<String>, Query, description = "`visibleFieldIds` adds them to views"),
    ),
    responses(
        (status = 200, description = "`{\"tables\":[{\"id\",\"name\",\"primaryFieldId\",\"fields\",\"views\"}]}`", body = Object),
        V0Errors,
    ),
    security(("bearer" = [])))]
pub(crate) async fn schema(
    State(state): State<AppState>,
    caller: Caller,
    V0Path(base): V0Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, V0Error> {
    let base = base_of(&state, &caller, &base).await?;
    let pairs = QueryPairs::parse(query.as_deref());
    let visible = pairs
        .list("include")
        .is_some_and(|l| l.iter().any(|i| i == "visibleFieldIds"));
    let p = &caller.principal;
    let mut schemas = Vec::new();
    for t in state.pybase.list_tables(p, base).await.map_err(core)? {
        schemas.push(state.pybase.get_table(p, t.id).await.map_err(core)?);
    }
    let base_fields: HashMap<FieldId, &Field> = schemas
        .iter()
        .flat_map(|s| s.fields.iter().map(|f| (f.id, f)))
        .collect();
    let tables: Vec<Value> = schemas
        .iter()
        .map(|s| table_json_in(s, visible, &base_fields))
        .collect();
    Ok(Json(json!({ "tables": tables })))
}

/// A field of a create body, in PyBase's terms.
fn new_field(v: &Value, at: &str) -> Result<NewField, V0Error> {
    let Value::Object(m) = v else {
        return Err(V0Error::invalid_request(format!(
            "{at}: expected an object"
        )));
    };
    let name = match m.get("name") {
        Some(Value::String(s)) => s.clone(),
        _ => return Err(V0Error::missing(&format!("{at}name"))),
    };
    let Some(airtable_type) = m.get("type").and_then(Value::as_str) else {
        return Err(V0Error::missing(&format!("{at}type")));
    };
    let (field_type, options) = pybase_type(airtable_type, m.get("options")).map_err(|mut e| {
        // Name the field when it is one of a list.
        if !at.is_empty() {
            e.message = format!("{at}{}", e.message);
        }
        e
    })?;
    Ok(NewField {
        name,
        field_type: field_type.to_owned(),
        options,
        description: m
            .get("description")
            .and_then(Value::as_str)
            .map(str::to_owned),
        indexed: false,
    })
}

/// `description` of a patch: absent stays, `null` or `""` clears.
fn description_patch(m: &Map<String, Value>) -> Result<Option<Option<String>>, V0Error> {
    match m.get("description") {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::String(s)) if s.is_empty() => Ok(Some(None)),
        Some(Value::String(s)) => Ok(Some(Some(s.clone()))),
        Some(other) => Err(V0Error::invalid_request(format!(
            "description: expected a string, got {other}"
        ))),
    }
}

fn name_patch(m: &Map<String, Value>) -> Result<Option<String>, V0Error> {
    match m.get("name") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(V0Error::invalid_request(format!(
            "name: expected a string, got {other}"
        ))),
    }
}

/// A table of a create body (`at` prefixes the names of its problems),
/// in PyBase's terms.
fn new_table(body: &Map<String, Value>, at: &str) -> Result<NewTable, V0Error> {
    let name = match body.get("name") {
        Some(Value::String(s)) => s.clone(),
        _ => return Err(V0Error::missing(&format!("{at}name"))),
    };
    let fields = match body.get("fields") {
        Some(Value::Array(f)) if !f.is_empty() => f,
        _ => return Err(V0Error::missing(&format!("{at}fields"))),
    };
    let fields = fields
        .iter()
        .enumerate()
        .map(|(i, f)| new_field(f, &format!("{at}fields[{i}].")))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(NewTable {
        name,
        description: body
            .get("description")
            .and_then(Value::as_str)
            .map(str::to_owned),
        fields,
        primary_field: None,
    })
}

/// Creates `input` in `base` with its grid view "Grid view".
async fn make_table(
    state: &AppState,
    p: &Principal,
    base: BaseId,
    input: NewTable,
) -> Result<TableSchema, V0Error> {
    let mut schema = state
        .pybase
        .create_table(p, base, input)
        .await
        .map_err(core)?;
    if schema.views.is_empty() {
        let view = NewView {
            name: "Grid view".into(),
            view_type: None,
            config: Value::Null,
        };
        schema.views.push(
            state
                .pybase
                .create_view(p, schema.table.id, view)
                .await
                .map_err(core)?,
        );
    }
    Ok(schema)
}

#[utoipa::path(post, path = "/v0/meta/bases/{baseId}/tables", tag = "meta", operation_id = "v0_create_table",
    params(("baseId" = String, Path, description = "base id")),
    request_body(content = Object, description = "`{\"name\",\"description\"?,\"fields\":[{\"name\",\"type\",\"options\"?,\"description\"?}]}`; the first field is primary"),
    responses(
        (status = 200, description = "the table as the schema shows it, with a grid view \"Grid view\"", body = Object),
        V0Errors,
    ),
    security(("bearer" = [])))]
pub(crate) async fn create_table(
    State(state): State<AppState>,
    caller: Caller,
    V0Path(base): V0Path<String>,
    body: Bytes,
) -> Result<Json<Value>, V0Error> {
    let body = object_body(&body)?;
    let base = base_of(&state, &caller, &base).await?;
    let input = new_table(&body, "")?;
    let schema = make_table(&state, &caller.principal, base, input).await?;
    Ok(Json(table_json(&schema, false)))
}

#[utoipa::path(post, path = "/v0/meta/bases", tag = "meta", operation_id = "v0_create_base",
    request_body(content = Object, description = "`{\"name\",\"workspaceId\",\"tables\":[{\"name\",\"description\"?,\"fields\":[…]}]}`: one table or more, as `POST /v0/meta/bases/{baseId}/tables` takes them"),
    responses(
        (status = 200, description = "`{\"id\",\"tables\"}`, the tables as the schema shows them; if a table cannot be made the base is removed again", body = Object),
        V0Errors,
    ),
    security(("bearer" = [])))]
pub(crate) async fn create_base(
    State(state): State<AppState>,
    caller: Caller,
    body: Bytes,
) -> Result<Json<Value>, V0Error> {
    let body = object_body(&body)?;
    caller.spend(&state, "meta").await?;
    let name = match body.get("name") {
        Some(Value::String(s)) => s.clone(),
        _ => return Err(V0Error::missing("name")),
    };
    let ws = match body.get("workspaceId") {
        Some(Value::String(s)) => WorkspaceId::parse(s).map_err(|_| V0Error::model_not_found())?,
        _ => return Err(V0Error::missing("workspaceId")),
    };
    let tables = match body.get("tables") {
        Some(Value::Array(t)) if !t.is_empty() => t,
        _ => return Err(V0Error::missing("tables")),
    };
    // Every table is read before anything is made.
    let tables = tables
        .iter()
        .enumerate()
        .map(|(i, t)| match t {
            Value::Object(m) => new_table(m, &format!("tables[{i}].")),
            _ => Err(V0Error::invalid_request(format!(
                "tables[{i}]: expected an object"
            ))),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let p = &caller.principal;
    let input = NewBase {
        name,
        description: None,
    };
    let base = state.pybase.create_base(p, ws, input).await.map_err(core)?;
    let mut made = Vec::with_capacity(tables.len());
    for t in tables {
        match make_table(&state, p, base.id, t).await {
            Ok(schema) => made.push(table_json(&schema, false)),
            Err(e) => {
                // The base is one request: a table that cannot be made
                // (a clash of names, a field the checks refuse) takes the
                // base away again.
                if let Err(undo) = state.pybase.delete_base(p, base.id).await {
                    tracing::error!(error = %undo, base = %base.id, "could not remove a half-made base");
                }
                return Err(e);
            }
        }
    }
    Ok(Json(json!({ "id": base.id, "tables": made })))
}

/// The table `key` of `base` (id or name).
async fn table_of(
    state: &AppState,
    caller: &Caller,
    base: BaseId,
    key: &str,
) -> Result<TableSchema, V0Error> {
    let p = &caller.principal;
    let tables = state.pybase.list_tables(p, base).await.map_err(core)?;
    let t = find_table(&tables, key).ok_or_else(V0Error::model_not_found)?;
    state.pybase.get_table(p, t.id).await.map_err(core)
}

#[utoipa::path(patch, path = "/v0/meta/bases/{baseId}/tables/{tableIdOrName}", tag = "meta", operation_id = "v0_update_table",
    params(
        ("baseId" = String, Path, description = "base id"),
        ("tableIdOrName" = String, Path, description = "table id or name"),
    ),
    request_body(content = Object, description = "`{\"name\"?,\"description\"?}`"),
    responses(
        (status = 200, description = "the table as the schema shows it", body = Object),
        V0Errors,
    ),
    security(("bearer" = [])))]
pub(crate) async fn update_table(
    State(state): State<AppState>,
    caller: Caller,
    V0Path((base, table)): V0Path<(String, String)>,
    body: Bytes,
) -> Result<Json<Value>, V0Error> {
    let body = object_body(&body)?;
    let base = base_of(&state, &caller, &base).await?;
    let schema = table_of(&state, &caller, base, &table).await?;
    let patch = TablePatch {
        name: name_patch(&body)?,
        description: description_patch(&body)?,
        primary_field_id: None,
    };
    let p = &caller.principal;
    state
        .pybase
        .update_table(p, schema.table.id, patch)
        .await
        .map_err(core)?;
    let schema = state
        .pybase
        .get_table(p, schema.table.id)
        .await
        .map_err(core)?;
    Ok(Json(table_json(&schema, false)))
}

#[utoipa::path(post, path = "/v0/meta/bases/{baseId}/tables/{tableIdOrName}/fields", tag = "meta", operation_id = "v0_create_field",
    params(
        ("baseId" = String, Path, description = "base id"),
        ("tableIdOrName" = String, Path, description = "table id or name"),
    ),
    request_body(content = Object, description = "`{\"name\",\"type\",\"options\"?,\"description\"?}` with Airtable's type names"),
    responses(
        (status = 200, description = "the field as the schema shows it", body = Object),
        V0Errors,
    ),
    security(("bearer" = [])))]
pub(crate) async fn create_field(
    State(state): State<AppState>,
    caller: Caller,
    V0Path((base, table)): V0Path<(String, String)>,
    body: Bytes,
) -> Result<Json<Value>, V0Error> {
    let body = object_body(&body)?;
    let base = base_of(&state, &caller, &base).await?;
    let schema = table_of(&state, &caller, base, &table).await?;
    let input = new_field(&Value::Object(body), "")?;
    let field = state
        .pybase
        .create_field(&caller.principal, schema.table.id, input)
        .await
        .map_err(field_name_error)?;
    Ok(Json(field_json(&field, None, &schema.fields)))
}

#[utoipa::path(patch, path = "/v0/meta/bases/{baseId}/tables/{tableIdOrName}/fields/{fieldIdOrName}", tag = "meta", operation_id = "v0_update_field",
    params(
        ("baseId" = String, Path, description = "base id"),
        ("tableIdOrName" = String, Path, description = "table id or name"),
        ("fieldIdOrName" = String, Path, description = "field id or name"),
    ),
    request_body(content = Object, description = "`{\"name\"?,\"description\"?}`, at least one; type and options are not changed here"),
    responses(
        (status = 200, description = "the field as the schema shows it", body = Object),
        V0Errors,
    ),
    security(("bearer" = [])))]
pub(crate) async fn update_field(
    State(state): State<AppState>,
    caller: Caller,
    V0Path((base, table, field)): V0Path<(String, String, String)>,
    body: Bytes,
) -> Result<Json<Value>, V0Error> {
    let body = object_body(&body)?;
    let base = base_of(&state, &caller, &base).await?;
    let schema = table_of(&state, &caller, base, &table).await?;
    let target = find_field(&schema.fields, &field).ok_or_else(V0Error::model_not_found)?;
    let patch = FieldPatch {
        name: name_patch(&body)?,
        description: description_patch(&body)?,
        ..FieldPatch::default()
    };
    if patch.name.is_none() && patch.description.is_none() {
        return Err(V0Error::invalid_request(
            "give name or description (type and options are not changed here)",
        ));
    }
    let field = state
        .pybase
        .update_field(&caller.principal, target.id, patch)
        .await
        .map_err(field_name_error)?;
    Ok(Json(field_json(&field, None, &schema.fields)))
}

/// A field route's core error, with a refused field name (empty, blank, too
/// long) as Airtable's `DUPLICATE_OR_EMPTY_FIELD_NAME` (AIRTABLE.md §3) and
/// any other refused input as `INVALID_REQUEST_UNKNOWN` (§7.4).
fn field_name_error(e: pybase_core::Error) -> V0Error {
    match &e {
        pybase_core::Error::Validation { fields, .. } if fields.contains_key("name") => {
            V0Error::new(
                axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                "DUPLICATE_OR_EMPTY_FIELD_NAME",
                format!("name: {}", fields.get("name").map_or("", String::as_str)),
            )
        }
        // No cell is written here: whatever else is refused is the
        // request's (a link to an unknown table, bad options).
        pybase_core::Error::Validation { fields, message } => {
            V0Error::invalid_request(match fields.iter().next() {
                Some((key, what)) => format!("{key}: {what}"),
                None => message.clone(),
            })
        }
        _ => core(e),
    }
}
