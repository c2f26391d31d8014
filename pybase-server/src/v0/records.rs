//! Records under `/v0/{baseId}/{tableIdOrName}` (AIRTABLE.md §5).

use std::collections::HashMap;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, RawQuery, State};
use axum::http::request::Parts;
use axum::routing::post;
use pybase_core::facade::{CellsInput, FieldKey, QueryInput, RecordOut, WriteOptions};
use pybase_core::ids::{RecordId, TableId};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::cells::{
    AirtableRecord, RecordShape, Renderer, Signer, find_field, replace_cells, write_cells,
};
use super::error::{RecordsIn, V0Error};
use super::openapi::V0Errors;
use super::wire::{Offset, QueryPairs, flag, object_body, params_hash, whole};
use super::{Caller, TableCtx, core, table_ctx, table_ctx_spent};
use crate::extract::Json;
use crate::state::AppState;
use serde::Serialize;

/// Largest `pageSize`.
const MAX_PAGE_SIZE: u64 = 100;

/// Record routes.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(
            list,
            create,
            update_many,
            replace_many,
            delete_many
        ))
        .routes(routes!(list_by_post))
        .routes(routes!(get_one, update_one, replace_one, delete_one))
}

/// `/v0/{base}/{table}/` (airtable.js adds the slash to creates and batch
/// updates) behaves as without it.
pub(crate) fn slash_routes() -> Router<AppState> {
    Router::new().route(
        "/v0/{baseId}/{tableIdOrName}/",
        post(create)
            .get(list)
            .patch(update_many)
            .put(replace_many)
            .delete(delete_many),
    )
}

/// Path parameters; a malformed path names nothing (404 `NOT_FOUND`).
#[derive(Debug, Clone)]
pub struct V0Path<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for V0Path<T> {
    type Rejection = V0Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, V0Error> {
        let axum::extract::Path(v) = axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map_err(|_| super::error::not_found())?;
        Ok(Self(v))
    }
}

/// A record id in the path: anything else is 404 `MODEL_ID_NOT_FOUND`.
fn path_record(raw: &str) -> Result<RecordId, V0Error> {
    RecordId::parse(raw).map_err(|_| V0Error::record_not_found())
}

/// A record id in a body or the query: anything else is 422 `ROW_DOES_NOT_EXIST`.
fn body_record(raw: &str) -> Result<RecordId, V0Error> {
    RecordId::parse(raw).map_err(|_| {
        V0Error::new(
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            "ROW_DOES_NOT_EXIST",
            format!("Record {raw:?} does not exist"),
        )
    })
}

/// The parameters of a list, from the query string (GET) or the body (POST).
#[derive(Debug, Default)]
struct ListRequest {
    fields: Option<Vec<String>>,
    formula: Option<String>,
    max_records: Option<u64>,
    page_size: u64,
    sort: Option<Value>,
    view: Option<String>,
    offset: Option<String>,
    shape: RecordShape,
}

/// A string parameter; empty means absent.
fn text(params: &Map<String, Value>, key: &str) -> Result<Option<String>, V0Error> {
    match params.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(V0Error::invalid_request(format!(
            "{key}: expected a string, got {other}"
        ))),
    }
}

fn strings(key: &str, v: &Value) -> Result<Vec<String>, V0Error> {
    let bad = || V0Error::invalid_request(format!("{key}: expected a list of field names"));
    match v {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) => items
            .iter()
            .map(|i| i.as_str().map(str::to_owned).ok_or_else(bad))
            .collect(),
        _ => Err(bad()),
    }
}

/// A `timeZone` parameter: an IANA zone name (`America/New_York`), or
/// `utc` / `client` (UTC) as Airtable's options spell them.
fn zone_named(name: &str) -> Result<chrono_tz::Tz, V0Error> {
    if name.eq_ignore_ascii_case("utc") || name == "client" {
        return Ok(chrono_tz::UTC);
    }
    name.parse().map_err(|_| {
        V0Error::invalid_request(format!(
            "timeZone: an IANA time zone name such as America/New_York, got {name:?}"
        ))
    })
}

/// Reads the record shape: `returnFieldsByFieldId`, `cellFormat` (with
/// its `timeZone` and `userLocale`) and `recordMetadata`.
fn record_shape(params: &Map<String, Value>) -> Result<RecordShape, V0Error> {
    let mut time_zone = None;
    let as_text = match text(params, "cellFormat")?.as_deref() {
        None | Some("json") => false,
        Some("string") => {
            let (Some(zone), Some(_)) = (text(params, "timeZone")?, text(params, "userLocale")?)
            else {
                return Err(V0Error::invalid_request(
                    "cellFormat=string needs timeZone and userLocale",
                ));
            };
            time_zone = Some(zone_named(&zone)?);
            true
        }
        Some(other) => {
            return Err(V0Error::invalid_request(format!(
                "cellFormat: expected json or string, got {other:?}"
            )));
        }
    };
    let comment_count = match params.get("recordMetadata") {
        None | Some(Value::Null) => false,
        Some(v) => {
            let items = strings("recordMetadata", v)?;
            if let Some(bad) = items.iter().find(|i| *i != "commentCount") {
                return Err(V0Error::invalid_request(format!(
                    "recordMetadata: only commentCount is known, got {bad:?}"
                )));
            }
            !items.is_empty()
        }
    };
    Ok(RecordShape {
        by_id: flag("returnFieldsByFieldId", params.get("returnFieldsByFieldId"))?,
        as_text,
        time_zone,
        comment_count,
    })
}

impl ListRequest {
    fn from_params(params: &Map<String, Value>) -> Result<Self, V0Error> {
        let page_size = match whole("pageSize", params.get("pageSize"))? {
            Some(n) => Some(n),
            None => whole("limit", params.get("limit"))?,
        };
        let page_size = page_size.unwrap_or(MAX_PAGE_SIZE);
        if !(1..=MAX_PAGE_SIZE).contains(&page_size) {
            return Err(V0Error::invalid_request(format!(
                "pageSize: expected 1 to {MAX_PAGE_SIZE}, got {page_size}"
            )));
        }
        let sort = match params.get("sort") {
            None | Some(Value::Null) => None,
            Some(Value::Array(keys)) => {
                for (i, k) in keys.iter().enumerate() {
                    if !k.get("field").is_some_and(Value::is_string) {
                        return Err(V0Error::invalid_request(format!(
                            "sort[{i}]: expected {{\"field\", \"direction\"}} with a field name"
                        )));
                    }
                    match k.get("direction").and_then(Value::as_str) {
                        None | Some("asc" | "desc") => {}
                        Some(d) => {
                            return Err(V0Error::invalid_request(format!(
                                "sort[{i}][direction]: expected asc or desc, got {d:?}"
                            )));
                        }
                    }
                }
                (!keys.is_empty()).then(|| Value::Array(keys.clone()))
            }
            Some(other) => {
                return Err(V0Error::invalid_request(format!(
                    "sort: expected a list of {{\"field\", \"direction\"}}, got {other}"
                )));
            }
        };
        let fields = match params.get("fields") {
            None | Some(Value::Null) => None,
            Some(v) => Some(strings("fields", v)?),
        };
        Ok(Self {
            fields,
            formula: text(params, "filterByFormula")?,
            max_records: whole("maxRecords", params.get("maxRecords"))?,
            page_size,
            sort,
            view: text(params, "view")?,
            offset: text(params, "offset")?,
            shape: record_shape(params)?,
        })
    }

    /// The hash binding an offset to these parameters.
    fn params_hash(&self) -> String {
        params_hash(&[
            &json!(self.fields),
            &json!(self.formula),
            &json!(self.max_records),
            &json!(self.sort),
            &json!(self.view),
        ])
    }
}

/// A query string as parameters, list and sort keys gathered.
fn query_params(pairs: &QueryPairs) -> Map<String, Value> {
    let mut out = Map::new();
    for (k, v) in &pairs.0 {
        if !k.contains('[') {
            out.insert(k.clone(), Value::String(v.clone()));
        }
    }
    for list in ["fields", "recordMetadata", "records"] {
        if let Some(items) = pairs.list(list) {
            out.insert(list.into(), json!(items));
        }
    }
    if let Some(sort) = pairs.sort() {
        out.insert("sort".into(), sort);
    }
    out
}

/// The Airtable renderer of a table's records, with the users that
/// collaborator cells name loaded when the table has such fields.
pub(super) async fn renderer<'a>(
    state: &'a AppState,
    caller: &Caller,
    ctx: &'a TableCtx,
    shape: RecordShape,
) -> Result<Renderer<'a>, V0Error> {
    let mut users = HashMap::new();
    if Renderer::needs_users(&ctx.fields) {
        let members = state
            .pybase
            .list_members(&caller.principal, ctx.table.workspace_id)
            .await
            .map_err(core)?;
        for m in members {
            users.insert(m.user.id.to_string(), m.user);
        }
    }
    Ok(Renderer {
        fields: &ctx.fields,
        shape,
        users,
        link_text: HashMap::new(),
        signer: Some(Signer {
            pybase: &state.pybase,
            public_url: &state.public_url,
        }),
    })
}

/// Most record ids one read of a linked table asks for.
const LINKS_PER_READ: usize = 100;

/// For `cellFormat=string`: the primary field's text of every record the
/// link cells of `records` name, by record id (AIRTABLE.md §6). Records
/// the caller cannot read or that are gone are left out (their ids print).
async fn link_text(
    state: &AppState,
    caller: &Caller,
    render: &Renderer<'_>,
    records: &[RecordOut],
) -> Result<HashMap<String, String>, V0Error> {
    let mut out = HashMap::new();
    if !render.shape.as_text {
        return Ok(out);
    }
    // Linked table -> the ids its records are named by.
    let mut wanted: HashMap<TableId, Vec<String>> = HashMap::new();
    for f in render
        .fields
        .iter()
        .filter(|f| f.field_type.type_name() == "link")
    {
        let Some(linked) = f.field_type.options_json()["linked_table_id"]
            .as_str()
            .and_then(|t| TableId::parse(t).ok())
        else {
            continue;
        };
        let key = match render.shape.key() {
            FieldKey::Id => f.id.as_str(),
            FieldKey::Name => f.name.as_str(),
        };
        let ids = wanted.entry(linked).or_default();
        for r in records {
            if let Some(Value::Array(items)) = r.fields.get(key) {
                ids.extend(items.iter().filter_map(Value::as_str).map(str::to_owned));
            }
        }
    }
    let p = &caller.principal;
    for (table, mut ids) in wanted {
        ids.sort_unstable();
        ids.dedup();
        if ids.is_empty() {
            continue;
        }
        // A linked table the caller cannot read leaves its ids as they are.
        let (t, fields) = match state.pybase.table_with_fields(p, table).await {
            Ok(found) => found,
            Err(pybase_core::Error::NotFound { .. } | pybase_core::Error::Forbidden(_)) => {
                continue;
            }
            Err(e) => return Err(core(e)),
        };
        let Some(primary) = t
            .primary_field_id
            .and_then(|id| fields.iter().find(|f| f.id == id))
            .or_else(|| fields.first())
        else {
            continue;
        };
        for chunk in ids.chunks(LINKS_PER_READ) {
            // Ids were checked by core when written; quote them anyway.
            let terms: Vec<String> = chunk
                .iter()
                .filter(|id| RecordId::parse(id).is_ok())
                .map(|id| format!("RECORD_ID()='{id}'"))
                .collect();
            if terms.is_empty() {
                continue;
            }
            let q = QueryInput {
                fields: Some(vec![primary.id.to_string()]),
                page_size: Some(LINKS_PER_READ),
                formula: Some(format!("OR({})", terms.join(","))),
                ..QueryInput::default()
            };
            let page = state
                .pybase
                .query_records(p, table, q, FieldKey::Id)
                .await
                .map_err(core)?;
            for r in page.records {
                let v = r
                    .fields
                    .get(primary.id.as_str())
                    .cloned()
                    .unwrap_or(Value::Null);
                let text = match v {
                    Value::Null => String::new(),
                    v => super::cells::text(primary, &v, render.shape.time_zone),
                };
                out.insert(r.id.to_string(), text);
            }
        }
    }
    Ok(out)
}

async fn run_list(
    state: &AppState,
    caller: &Caller,
    (base, table): (String, String),
    params: &Map<String, Value>,
) -> Result<Json<ListOut>, V0Error> {
    let req = ListRequest::from_params(params)?;
    let base_id = super::base_id(&base)?;
    caller.spend(state, base_id.as_str()).await?;
    let hash = req.params_hash();
    let offset = req
        .offset
        .as_deref()
        .map(|o| Offset::decode(&state.pybase, o, &hash))
        .transpose()?;
    let served = offset.as_ref().map_or(0, |o| o.served);
    let want = match req.max_records {
        Some(max) => req.page_size.min(max.saturating_sub(served)),
        None => req.page_size,
    };
    // A view's hidden fields are still returned (as Airtable does): with a
    // view and no `fields`, every field is asked for by id.
    let mut fields = req.fields.clone();
    let mut hint = super::known_table(state, base_id, &table);
    if req.view.is_some() && fields.is_none() {
        let ctx = table_ctx_spent(state, caller, base_id, &table).await?;
        fields = Some(ctx.fields.iter().map(|f| f.id.to_string()).collect());
        hint = Some(ctx.table.id);
    }
    let query = QueryInput {
        filter: None,
        sort: req.sort.clone(),
        fields,
        // A spent `maxRecords` still checks the table: one record, dropped.
        page_size: usize::try_from(want.max(1)).ok(),
        cursor: offset.map(|o| o.cursor),
        view: req.view.clone(),
        include_deleted: false,
        formula: req.formula.clone(),
    };
    let key = req.shape.key();
    // The page is read straight away when the segment names a known table
    // (an id, or a name resolved before), and checked after: the table
    // must be of this base (and still bear that name). Otherwise, or when
    // the check fails, the segment is looked up among the base's tables.
    let (page, t, fields) = loop {
        let (id, looked_up) = match hint.take() {
            Some(id) => (id, false),
            None => (
                super::look_up_table(state, caller, base_id, &table).await?,
                true,
            ),
        };
        match state
            .pybase
            .query_page(&caller.principal, id, query.clone(), key)
            .await
        {
            Ok((page, t, fields))
                if t.base_id == base_id
                    && (looked_up || t.id.as_str() == table || t.name == table) =>
            {
                break (page, t, fields);
            }
            Ok(_) | Err(pybase_core::Error::NotFound { entity: "table" }) if !looked_up => {}
            Ok(_) => return Err(V0Error::model_not_found()),
            // A cursor core cannot read was minted by another table or
            // query: the offset is not available.
            Err(pybase_core::Error::BadRequest(_)) => {
                return Err(V0Error::new(
                    axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                    "LIST_RECORDS_ITERATOR_NOT_AVAILABLE",
                    "the offset is not valid for these list parameters",
                ));
            }
            Err(e) => return Err(V0Error::from_core(e, RecordsIn::Body)),
        }
    };
    let ctx = TableCtx { table: t, fields };
    let mut render = renderer(state, caller, &ctx, req.shape.clone()).await?;
    render.link_text = link_text(state, caller, &render, &page.records).await?;
    if want == 0 {
        return Ok(Json(ListOut {
            records: Vec::new(),
            offset: None,
        }));
    }
    let served = served.saturating_add(page.records.len() as u64);
    let offset = page
        .next_cursor
        .filter(|_| req.max_records.is_none_or(|max| served < max))
        .map(|cursor| {
            Offset {
                cursor,
                served,
                params: hash,
            }
            .encode(&state.pybase)
        });
    Ok(Json(ListOut {
        records: render.records(page.records),
        offset,
    }))
}

/// A page of a list: `offset` only while more records remain.
/// (Public to the handlers' signatures only.)
#[derive(Debug, Serialize)]
pub(crate) struct ListOut {
    records: Vec<AirtableRecord>,
    #[serde(skip_serializing_if = "Option::is_none")]
    offset: Option<String>,
}

#[utoipa::path(get, path = "/v0/{baseId}/{tableIdOrName}", tag = "records", operation_id = "v0_list_records",
    params(
        ("baseId" = String, Path, description = "base id"),
        ("tableIdOrName" = String, Path, description = "table id or name (percent-encoded)"),
        ("fields[]" = Option<Vec<String>>, Query, description = "only these fields (also `fields[0]=`, `fields=`)"),
        ("filterByFormula" = Option<String>, Query, description = "a formula (docs/FORMULA.md): records for which it is 0, false, empty, blank or an error are left out; 422 INVALID_FILTER_BY_FORMULA when it does not parse or names an unknown field or function"),
        ("maxRecords" = Option<u64>, Query, description = "total cap across pages"),
        ("pageSize" = Option<u64>, Query, description = "1 to 100 (default 100); `limit` is an alias"),
        ("sort[0][field]" = Option<String>, Query, description = "sort keys `sort[i][field]`, `sort[i][direction]` (asc or desc)"),
        ("view" = Option<String>, Query, description = "a view's name or id: its filter and order"),
        ("cellFormat" = Option<String>, Query, description = "json (default) or string (needs timeZone and userLocale)"),
        ("timeZone" = Option<String>, Query, description = "for cellFormat=string"),
        ("userLocale" = Option<String>, Query, description = "for cellFormat=string"),
        ("returnFieldsByFieldId" = Option<bool>, Query, description = "key cells by field id"),
        ("recordMetadata[]" = Option<Vec<String>>, Query, description = "commentCount"),
        ("offset" = Option<String>, Query, description = "the previous page's offset"),
    ),
    responses(
        (status = 200, description = "`{\"records\":[…],\"offset\"?}`: `offset` only while more records remain", body = Object),
        V0Errors,
    ),
    security(("bearer" = [])))]
pub(crate) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    V0Path(path): V0Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Result<Json<ListOut>, V0Error> {
    let params = query_params(&QueryPairs::parse(query.as_deref()));
    run_list(&state, &caller, path, &params).await
}

#[utoipa::path(post, path = "/v0/{baseId}/{tableIdOrName}/listRecords", tag = "records", operation_id = "v0_list_records_by_post",
    params(
        ("baseId" = String, Path, description = "base id"),
        ("tableIdOrName" = String, Path, description = "table id or name (percent-encoded)"),
    ),
    request_body(content = Object, description = "the list parameters as JSON (`fields`, `sort` as `[{\"field\",\"direction\"}]`, `offset`, …); `timeZone` and `userLocale` may be in the query"),
    responses(
        (status = 200, description = "as `GET`", body = Object),
        V0Errors,
    ),
    security(("bearer" = [])))]
pub(crate) async fn list_by_post(
    State(state): State<AppState>,
    caller: Caller,
    V0Path(path): V0Path<(String, String)>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Result<Json<ListOut>, V0Error> {
    let mut params = object_body(&body)?;
    for (k, v) in query_params(&QueryPairs::parse(query.as_deref())) {
        params.entry(k).or_insert(v);
    }
    run_list(&state, &caller, path, &params).await
}

#[utoipa::path(get, path = "/v0/{baseId}/{tableIdOrName}/{recordId}", tag = "records", operation_id = "v0_get_record",
    params(
        ("baseId" = String, Path, description = "base id"),
        ("tableIdOrName" = String, Path, description = "table id or name"),
        ("recordId" = String, Path, description = "record id"),
        ("cellFormat" = Option<String>, Query, description = "json or string"),
        ("returnFieldsByFieldId" = Option<bool>, Query, description = "key cells by field id"),
    ),
    responses(
        (status = 200, description = "the record `{\"id\",\"createdTime\",\"fields\"}`", body = Object),
        V0Errors,
    ),
    security(("bearer" = [])))]
pub(crate) async fn get_one(
    State(state): State<AppState>,
    caller: Caller,
    V0Path((base, table, record)): V0Path<(String, String, String)>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, V0Error> {
    let params = query_params(&QueryPairs::parse(query.as_deref()));
    let shape = record_shape(&params)?;
    let ctx = table_ctx(&state, &caller, &base, &table).await?;
    let id = path_record(&record)?;
    let out = state
        .pybase
        .get_record(&caller.principal, ctx.table.id, id, shape.key())
        .await
        .map_err(core)?;
    let mut render = renderer(&state, &caller, &ctx, shape).await?;
    render.link_text = link_text(&state, &caller, &render, std::slice::from_ref(&out)).await?;
    Ok(Json(json!(render.record(out))))
}

/// `typecast` and `returnFieldsByFieldId` of a write body.
fn write_options(body: &Map<String, Value>) -> Result<(WriteOptions, RecordShape), V0Error> {
    let shape = RecordShape {
        by_id: flag("returnFieldsByFieldId", body.get("returnFieldsByFieldId"))?,
        ..RecordShape::default()
    };
    let opts = WriteOptions {
        typecast: flag("typecast", body.get("typecast"))?,
        field_key: shape.key(),
    };
    Ok((opts, shape))
}

/// The `fields` object of one record of a body.
fn cells_of(v: Option<&Value>, at: &str) -> Result<CellsInput, V0Error> {
    match v {
        Some(Value::Object(m)) => Ok(m.clone()),
        None | Some(Value::Null) => Err(V0Error::missing(&format!("{at}fields"))),
        Some(other) => Err(V0Error::invalid_request(format!(
            "{at}fields: expected an object, got {other}"
        ))),
    }
}

/// The `records` list of a body, within the batch limit.
fn records_of<'a>(
    state: &AppState,
    body: &'a Map<String, Value>,
    verb: &str,
) -> Result<&'a Vec<Value>, V0Error> {
    let records = match body.get("records") {
        Some(Value::Array(r)) => r,
        None | Some(Value::Null) => return Err(V0Error::missing("records")),
        Some(other) => {
            return Err(V0Error::invalid_request(format!(
                "records: expected a list, got {other}"
            )));
        }
    };
    let max = state.v0.max_records;
    if records.is_empty() {
        return Err(V0Error::invalid_records(
            "records: expected at least one record",
        ));
    }
    if records.len() > max {
        return Err(V0Error::invalid_records(format!(
            "A maximum of {max} records can be {verb} per request but you have provided {}.",
            records.len()
        )));
    }
    Ok(records)
}

#[utoipa::path(post, path = "/v0/{baseId}/{tableIdOrName}", tag = "records", operation_id = "v0_create_records",
    params(
        ("baseId" = String, Path, description = "base id"),
        ("tableIdOrName" = String, Path, description = "table id or name"),
    ),
    request_body(content = Object, description = "`{\"fields\":{…}}` for one record or `{\"records\":[{\"fields\":{…}},…]}` (up to AIRTABLE_MAX_RECORDS_PER_REQUEST), with `typecast` and `returnFieldsByFieldId`"),
    responses(
        (status = 200, description = "the record, or `{\"records\":[…]}` in input order", body = Object),
        V0Errors,
    ),
    security(("bearer" = [])))]
pub(crate) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    V0Path((base, table)): V0Path<(String, String)>,
    body: Bytes,
) -> Result<Json<Value>, V0Error> {
    let body = object_body(&body)?;
    let (opts, shape) = write_options(&body)?;
    let ctx = table_ctx(&state, &caller, &base, &table).await?;
    let render = renderer(&state, &caller, &ctx, shape).await?;
    let p = &caller.principal;
    let out = match (body.get("fields"), body.contains_key("records")) {
        (Some(_), true) => {
            return Err(V0Error::invalid_request(
                "give either fields (one record) or records, not both",
            ));
        }
        (Some(fields), false) => {
            let cells = write_cells(&ctx.fields, cells_of(Some(fields), "")?)?;
            let r = state
                .pybase
                .create_record(p, ctx.table.id, cells, opts)
                .await
                .map_err(|e| V0Error::from_core(e, RecordsIn::Body))?;
            json!(render.record(r))
        }
        (None, _) => {
            let records = records_of(&state, &body, "created")?;
            let mut all = Vec::with_capacity(records.len());
            for (i, r) in records.iter().enumerate() {
                let cells = cells_of(r.get("fields"), &format!("records[{i}]."))?;
                all.push(write_cells(&ctx.fields, cells)?);
            }
            let rs = state
                .pybase
                .create_records(p, ctx.table.id, all, opts)
                .await
                .map_err(|e| V0Error::from_core(e, RecordsIn::Body))?;
            json!({ "records": render.records(rs) })
        }
    };
    Ok(Json(out))
}

async fn write_many(
    state: &AppState,
    caller: &Caller,
    (base, table): (String, String),
    body: &[u8],
    replace: bool,
) -> Result<Json<Value>, V0Error> {
    let body = object_body(body)?;
    let (opts, shape) = write_options(&body)?;
    let ctx = table_ctx(state, caller, &base, &table).await?;
    let render = renderer(state, caller, &ctx, shape).await?;
    let records = records_of(state, &body, "updated")?;
    let merge_on = match body.get("performUpsert") {
        None | Some(Value::Null) => None,
        Some(spec) => {
            let names = spec
                .get("fieldsToMergeOn")
                .map(|v| strings("performUpsert.fieldsToMergeOn", v))
                .transpose()?
                .unwrap_or_default();
            if names.is_empty() || names.len() > 3 {
                return Err(V0Error::invalid_request(
                    "performUpsert.fieldsToMergeOn: expected 1 to 3 field names",
                ));
            }
            Some(names)
        }
    };
    let mut with_id = Vec::new();
    let mut without_id = Vec::new();
    for (i, r) in records.iter().enumerate() {
        let at = format!("records[{i}].");
        let mut cells = write_cells(&ctx.fields, cells_of(r.get("fields"), &at)?)?;
        if replace {
            cells = replace_cells(&ctx.fields, cells);
        }
        match r.get("id").and_then(Value::as_str) {
            Some(id) => with_id.push((i, body_record(id)?, cells)),
            None if merge_on.is_some() => without_id.push((i, cells)),
            None => return Err(V0Error::missing(&format!("{at}id"))),
        }
    }
    if let Some(names) = &merge_on {
        // A merge field that is not one of the table's is named as such,
        // before any record is said to lack it.
        if let Some(name) = names.iter().find(|n| find_field(&ctx.fields, n).is_none()) {
            return Err(V0Error::new(
                axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                "UNKNOWN_FIELD_NAME",
                format!("Unknown field name: \"{name}\" (performUpsert.fieldsToMergeOn)"),
            ));
        }
        for (i, cells) in &without_id {
            for name in names {
                let given = cells.keys().any(|k| {
                    find_field(&ctx.fields, k).is_some_and(|f| {
                        find_field(&ctx.fields, name).is_some_and(|m| m.id == f.id)
                    })
                });
                if !given {
                    return Err(V0Error::missing(&format!("records[{i}].fields.{name}")));
                }
            }
        }
    }
    let p = &caller.principal;
    let table_id = ctx.table.id;
    let mut out: Vec<(usize, RecordOut)> = Vec::with_capacity(records.len());
    let mut updated_ids = Vec::new();
    let mut created_ids = Vec::new();
    if !with_id.is_empty() {
        let order: Vec<usize> = with_id.iter().map(|(i, _, _)| *i).collect();
        let batch = with_id.into_iter().map(|(_, id, c)| (id, c)).collect();
        let rs = state
            .pybase
            .update_records(p, table_id, batch, opts)
            .await
            .map_err(|e| V0Error::from_core(e, RecordsIn::Body))?;
        updated_ids.extend(rs.iter().map(|r| r.id));
        out.extend(order.into_iter().zip(rs));
    }
    if let Some(names) = &merge_on
        && !without_id.is_empty()
    {
        let order: Vec<usize> = without_id.iter().map(|(i, _)| *i).collect();
        let cells = without_id.into_iter().map(|(_, c)| c).collect();
        // A PUT replaces a match's cells, a PATCH merges into them.
        let result = if replace {
            state
                .pybase
                .upsert_records_replacing(p, table_id, names, cells, opts)
                .await
        } else {
            state
                .pybase
                .upsert_records(p, table_id, names, cells, opts)
                .await
        }
        .map_err(|e| V0Error::from_core(e, RecordsIn::Body))?;
        created_ids.extend(result.created_records);
        updated_ids.extend(result.updated_records);
        out.extend(order.into_iter().zip(result.records));
    }
    out.sort_by_key(|(i, _)| *i);
    let rs: Vec<RecordOut> = out.into_iter().map(|(_, r)| r).collect();
    let mut answer = json!({ "records": render.records(rs) });
    if merge_on.is_some()
        && let Value::Object(m) = &mut answer
    {
        m.insert("createdRecords".into(), json!(created_ids));
        m.insert("updatedRecords".into(), json!(updated_ids));
    }
    Ok(Json(answer))
}

#[utoipa::path(patch, path = "/v0/{baseId}/{tableIdOrName}", tag = "records", operation_id = "v0_update_records",
    params(
        ("baseId" = String, Path, description = "base id"),
        ("tableIdOrName" = String, Path, description = "table id or name"),
    ),
    request_body(content = Object, description = "`{\"records\":[{\"id\",\"fields\"}],\"typecast\"?,\"performUpsert\"?:{\"fieldsToMergeOn\":[…]}}`: merges the named cells"),
    responses(
        (status = 200, description = "`{\"records\":[…]}` in input order; with performUpsert also `createdRecords` and `updatedRecords`", body = Object),
        V0Errors,
    ),
    security(("bearer" = [])))]
pub(crate) async fn update_many(
    State(state): State<AppState>,
    caller: Caller,
    V0Path(path): V0Path<(String, String)>,
    body: Bytes,
) -> Result<Json<Value>, V0Error> {
    write_many(&state, &caller, path, &body, false).await
}

#[utoipa::path(put, path = "/v0/{baseId}/{tableIdOrName}", tag = "records", operation_id = "v0_replace_records",
    params(
        ("baseId" = String, Path, description = "base id"),
        ("tableIdOrName" = String, Path, description = "table id or name"),
    ),
    request_body(content = Object, description = "as PATCH; fields not named are cleared"),
    responses(
        (status = 200, description = "as PATCH", body = Object),
        V0Errors,
    ),
    security(("bearer" = [])))]
pub(crate) async fn replace_many(
    State(state): State<AppState>,
    caller: Caller,
    V0Path(path): V0Path<(String, String)>,
    body: Bytes,
) -> Result<Json<Value>, V0Error> {
    write_many(&state, &caller, path, &body, true).await
}

async fn write_one(
    state: &AppState,
    caller: &Caller,
    (base, table, record): (String, String, String),
    body: &[u8],
    replace: bool,
) -> Result<Json<Value>, V0Error> {
    let body = object_body(body)?;
    let (opts, shape) = write_options(&body)?;
    let ctx = table_ctx(state, caller, &base, &table).await?;
    let id = path_record(&record)?;
    let cells = write_cells(&ctx.fields, cells_of(body.get("fields"), "")?)?;
    let r = state
        .pybase
        .update_record(&caller.principal, ctx.table.id, id, cells, opts, replace)
        .await
        .map_err(core)?;
    let render = renderer(state, caller, &ctx, shape).await?;
    Ok(Json(json!(render.record(r))))
}

#[utoipa::path(patch, path = "/v0/{baseId}/{tableIdOrName}/{recordId}", tag = "records", operation_id = "v0_update_record",
    params(
        ("baseId" = String, Path, description = "base id"),
        ("tableIdOrName" = String, Path, description = "table id or name"),
        ("recordId" = String, Path, description = "record id"),
    ),
    request_body(content = Object, description = "`{\"fields\":{…},\"typecast\"?,\"returnFieldsByFieldId\"?}`: merges"),
    responses(
        (status = 200, description = "the whole record after the write", body = Object),
        V0Errors,
    ),
    security(("bearer" = [])))]
pub(crate) async fn update_one(
    State(state): State<AppState>,
    caller: Caller,
    V0Path(path): V0Path<(String, String, String)>,
    body: Bytes,
) -> Result<Json<Value>, V0Error> {
    write_one(&state, &caller, path, &body, false).await
}

#[utoipa::path(put, path = "/v0/{baseId}/{tableIdOrName}/{recordId}", tag = "records", operation_id = "v0_replace_record",
    params(
        ("baseId" = String, Path, description = "base id"),
        ("tableIdOrName" = String, Path, description = "table id or name"),
        ("recordId" = String, Path, description = "record id"),
    ),
    request_body(content = Object, description = "as PATCH; writable fields not named are cleared"),
    responses(
        (status = 200, description = "the whole record after the write", body = Object),
        V0Errors,
    ),
    security(("bearer" = [])))]
pub(crate) async fn replace_one(
    State(state): State<AppState>,
    caller: Caller,
    V0Path(path): V0Path<(String, String, String)>,
    body: Bytes,
) -> Result<Json<Value>, V0Error> {
    write_one(&state, &caller, path, &body, true).await
}

#[utoipa::path(delete, path = "/v0/{baseId}/{tableIdOrName}/{recordId}", tag = "records", operation_id = "v0_delete_record",
    params(
        ("baseId" = String, Path, description = "base id"),
        ("tableIdOrName" = String, Path, description = "table id or name"),
        ("recordId" = String, Path, description = "record id"),
    ),
    responses(
        (status = 200, description = "`{\"id\",\"deleted\":true}` (soft delete, restorable through /api/v1)", body = Object),
        V0Errors,
    ),
    security(("bearer" = [])))]
pub(crate) async fn delete_one(
    State(state): State<AppState>,
    caller: Caller,
    V0Path((base, table, record)): V0Path<(String, String, String)>,
) -> Result<Json<Value>, V0Error> {
    let ctx = table_ctx(&state, &caller, &base, &table).await?;
    let id = path_record(&record)?;
    state
        .pybase
        .delete_records(&caller.principal, ctx.table.id, &[id])
        .await
        .map_err(core)?;
    Ok(Json(json!({ "id": id, "deleted": true })))
}

#[utoipa::path(delete, path = "/v0/{baseId}/{tableIdOrName}", tag = "records", operation_id = "v0_delete_records",
    params(
        ("baseId" = String, Path, description = "base id"),
        ("tableIdOrName" = String, Path, description = "table id or name"),
        ("records[]" = Vec<String>, Query, description = "record ids (also `records[0]=`, `records=`), up to the batch limit"),
    ),
    responses(
        (status = 200, description = "`{\"records\":[{\"id\",\"deleted\":true}]}`; all or nothing", body = Object),
        V0Errors,
    ),
    security(("bearer" = [])))]
pub(crate) async fn delete_many(
    State(state): State<AppState>,
    caller: Caller,
    V0Path((base, table)): V0Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, V0Error> {
    let ids = QueryPairs::parse(query.as_deref())
        .list("records")
        .unwrap_or_default();
    let ctx = table_ctx(&state, &caller, &base, &table).await?;
    if ids.is_empty() {
        return Err(V0Error::missing("records"));
    }
    let max = state.v0.max_records;
    if ids.len() > max {
        return Err(V0Error::invalid_records(format!(
            "A maximum of {max} records can be deleted per request but you have provided {}.",
            ids.len()
        )));
    }
    let ids = ids
        .iter()
        .map(|s| body_record(s))
        .collect::<Result<Vec<_>, _>>()?;
    state
        .pybase
        .delete_records(&caller.principal, ctx.table.id, &ids)
        .await
        .map_err(|e| V0Error::from_core(e, RecordsIn::Body))?;
    let out: Vec<Value> = ids
        .iter()
        .map(|id| json!({"id": id, "deleted": true}))
        .collect();
    Ok(Json(json!({ "records": out })))
}
