//! The Airtable-compatible API under `/v0` (AIRTABLE.md; docs/AIRTABLE.md).
//!
//! Airtable's own clients (pyairtable, airtable.js) pointed at this server
//! work unchanged. Every handler translates shapes and calls the same core
//! facade as `/api/v1`: no business rule lives here.
//! - [`error`]: Airtable's error shape and the translation of core errors;
//! - [`wire`]: query strings, bodies and list offsets as the clients send them;
//! - [`types`] and [`cells`]: field types and cell values, both ways;
//! - [`rate_limit`]: the per (credential, base) token bucket;
//! - [`records`], [`meta`], [`webhooks`] and [`uploads`]: the routes; [`openapi`]: their
//!   document.

pub mod cells;
pub mod error;
pub mod meta;
pub mod openapi;
pub mod rate_limit;
pub mod records;
pub mod types;
pub mod uploads;
pub mod webhooks;
pub mod wire;

use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use pybase_core::Principal;
use std::collections::HashMap;
use std::sync::Arc;

use pybase_core::ids::{BaseId, TableId};
use pybase_core::model::{Field, Table};
use utoipa_axum::router::OpenApiRouter;

use crate::cache::SharedCache;
use crate::settings::Settings;
use crate::state::AppState;
use error::{RecordsIn, V0Error};
use rate_limit::V0RateLimiter;

/// Settings of the `/v0` API held in the server state.
#[derive(Debug, Clone)]
pub struct V0Config {
    /// Most records per create, update or delete request.
    pub max_records: usize,
    /// The per (credential, base) limiter.
    pub limiter: V0RateLimiter,
    /// Table names resolved before.
    pub table_names: TableNames,
}

impl V0Config {
    /// From `AIRTABLE_*` settings, sharing buckets through `cache`.
    pub fn from_settings(settings: &Settings, cache: &SharedCache) -> Self {
        Self {
            max_records: usize::from(settings.airtable_max_records_per_request.max(1)),
            limiter: V0RateLimiter::new(settings.airtable_rate_limit_per_base, cache),
            table_names: TableNames::default(),
        }
    }
}

/// Every `/v0` route with its OpenAPI annotation (the document at
/// `/openapi/v0.json` comes from it).
pub(crate) fn declared() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(meta::routes())
        .merge(records::routes())
        .merge(webhooks::routes())
        .merge(uploads::routes())
}

/// The `/v0` router: the declared routes, the same with a trailing slash
/// where airtable.js sends one, and the document.
pub(crate) fn router() -> Router<AppState> {
    Router::from(declared())
        .merge(records::slash_routes())
        .merge(openapi::router())
}

/// The caller of a `/v0` request: who, and the credential's rate-limit
/// identity (an API key by its id, a signed-in user by their id).
#[derive(Debug, Clone)]
pub struct Caller {
    /// Who is acting.
    pub principal: Principal,
    /// `key:<id>` or `usr:<id>`.
    pub credential: String,
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = V0Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, V0Error> {
        let token = crate::extract::presented_credential(&parts.headers)
            .map_err(|_| V0Error::unauthenticated())?
            .ok_or_else(V0Error::unauthenticated)?;
        let principal = state.auth.authenticate(&token).await.map_err(|e| match e {
            pybase_core::Error::Unauthorized(reason) => {
                tracing::debug!(%reason, "/v0 credentials rejected");
                V0Error::unauthenticated()
            }
            other => V0Error::from_core(other, RecordsIn::Path),
        })?;
        let credential = match &principal {
            Principal::ApiKey { id, .. } => format!("key:{id}"),
            Principal::User { id } => format!("usr:{id}"),
        };
        Ok(Self {
            principal,
            credential,
        })
    }
}

impl Caller {
    /// Spends a token of this caller's bucket for `base`.
    pub async fn spend(&self, state: &AppState, base: &str) -> Result<(), V0Error> {
        state
            .v0
            .limiter
            .take(&self.credential, base)
            .await
            .map_err(V0Error::rate_limited)
    }
}

/// A core error about things named in the path.
pub(crate) fn core(e: pybase_core::Error) -> V0Error {
    V0Error::from_core(e, RecordsIn::Path)
}

/// A base id from the path; anything else names no visible base.
pub(crate) fn base_id(raw: &str) -> Result<BaseId, V0Error> {
    if raw == "meta" {
        // `/v0/meta/<something unknown>`, taken by the record routes: an
        // unknown route, as Airtable answers it.
        return Err(V0Error::new(
            axum::http::StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "no such route",
        ));
    }
    BaseId::parse(raw).map_err(|_| V0Error::model_not_found())
}

/// A table of a base as a request names it, with its fields.
#[derive(Debug, Clone)]
pub struct TableCtx {
    /// The table.
    pub table: Table,
    /// Its fields in order.
    pub fields: Arc<[Field]>,
}

/// Finds a table among `tables` by id, exact name, then unique
/// case-insensitive name.
pub(crate) fn find_table<'a>(tables: &'a [Table], key: &str) -> Option<&'a Table> {
    if let Some(t) = tables
        .iter()
        .find(|t| t.id.as_str() == key || t.name == key)
    {
        return Some(t);
    }
    let lower = key.to_lowercase();
    let mut matches = tables.iter().filter(|t| t.name.to_lowercase() == lower);
    match (matches.next(), matches.next()) {
        (Some(t), None) => Some(t),
        _ => None,
    }
}

/// Resolves `/{base}/{table}` for `caller` after spending a rate-limit
/// token: an unknown or invisible base or table is 403
/// `INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND`, the same answer for both.
///
/// A table id, or a name this process has resolved before (the cache maps
/// exact names to ids and every hit is checked against the table read, so
/// a rename or a new table of that name is never missed), is read directly;
/// other names are looked up among the base's tables.
pub(crate) async fn table_ctx(
    state: &AppState,
    caller: &Caller,
    base: &str,
    table: &str,
) -> Result<TableCtx, V0Error> {
    let base_id = base_id(base)?;
    caller.spend(state, base_id.as_str()).await?;
    table_ctx_spent(state, caller, base_id, table).await
}

/// [`table_ctx`] once the request's rate-limit token is spent.
pub(crate) async fn table_ctx_spent(
    state: &AppState,
    caller: &Caller,
    base_id: BaseId,
    table: &str,
) -> Result<TableCtx, V0Error> {
    let p = &caller.principal;
    if let Some(id) = known_table(state, base_id, table) {
        match state.pybase.table_with_fields(p, id).await {
            Ok((t, fields))
                if t.base_id == base_id && (t.id.as_str() == table || t.name == table) =>
            {
                return Ok(TableCtx { table: t, fields });
            }
            // Another base's table, or a cached name that moved on: look
            // the segment up by name.
            Ok(_) | Err(pybase_core::Error::NotFound { .. }) => {}
            Err(e) => return Err(core(e)),
        }
    }
    let found = look_up_table(state, caller, base_id, table).await?;
    let (table, fields) = state
        .pybase
        .table_with_fields(p, found)
        .await
        .map_err(core)?;
    Ok(TableCtx { table, fields })
}

/// The table a segment names without reading anything: a table id, or a
/// name resolved before. Only a hint: the caller checks the table it reads.
pub(crate) fn known_table(state: &AppState, base: BaseId, segment: &str) -> Option<TableId> {
    TableId::parse(segment)
        .ok()
        .or_else(|| state.v0.table_names.get(base, segment))
}

/// Finds the table a segment names among the base's tables (by id, exact
/// name, then unique case-insensitive name), remembering exact names.
pub(crate) async fn look_up_table(
    state: &AppState,
    caller: &Caller,
    base: BaseId,
    segment: &str,
) -> Result<TableId, V0Error> {
    let tables = state
        .pybase
        .list_tables(&caller.principal, base)
        .await
        .map_err(core)?;
    let found = find_table(&tables, segment).ok_or_else(V0Error::model_not_found)?;
    if found.name == segment {
        state.v0.table_names.put(base, segment, found.id);
    }
    Ok(found.id)
}

/// Exact table names to ids, per base, as resolved before; bounded (it is
/// cleared when full). Only a hint: every use is checked against the table.
#[derive(Debug, Clone, Default)]
pub struct TableNames(std::sync::Arc<std::sync::Mutex<HashMap<(BaseId, String), TableId>>>);

/// Most names [`TableNames`] keeps.
const MAX_TABLE_NAMES: usize = 10_000;

impl TableNames {
    fn get(&self, base: BaseId, name: &str) -> Option<TableId> {
        let map = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.get(&(base, name.to_owned())).copied()
    }

    fn put(&self, base: BaseId, name: &str, id: TableId) {
        let mut map = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.len() >= MAX_TABLE_NAMES {
            map.clear();
        }
        map.insert((base, name.to_owned()), id);
    }
}
