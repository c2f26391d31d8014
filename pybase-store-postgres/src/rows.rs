//! Mapping of PostgreSQL rows to core types (domain types carry no driver derives).

use std::str::FromStr;

use pybase_core::fields::FieldType;
use pybase_core::model::{
    ApiKey, Attachment, Base, Cells, Field, FieldStatus, IndexOrigin, Record, Table, Timestamp,
    User, View, ViewType, Workspace,
};
use pybase_core::query::ViewConfig;
use pybase_core::role::{Role, Scope};
use pybase_core::store::{PasswordReset, RefreshToken};
use serde_json::{Number, Value};
use sqlx::Row;
use sqlx::postgres::PgRow;

use crate::error::decode_error;
use crate::nul::decode_value;

/// Columns of `users` read by [`user`] (plus the hash for credentials).
pub(crate) const USER_COLUMNS: &str = "id, email, name, created_at, updated_at, password_hash";

/// Columns of `fields` read by [`field`].
pub(crate) const FIELD_COLUMNS: &str = "id, table_id, name, description, type, options, position, indexed, created_at, updated_at, \
     index_origin, status";

/// Columns of `tables` read by [`table`].
pub(crate) const TABLE_COLUMNS: &str = "id, base_id, workspace_id, name, description, \
     primary_field_id, position, created_at, updated_at";

/// Columns of `views` read by [`view`].
pub(crate) const VIEW_COLUMNS: &str =
    "id, table_id, name, type, config, position, created_at, updated_at";

/// Columns of `api_keys` read by [`api_key`] (plus the secret hash).
pub(crate) const API_KEY_COLUMNS: &str = "id, user_id, name, prefix, scopes, workspaces, \
     created_at, expires_at, last_used_at, secret_hash";

/// Columns of `sessions` read by [`refresh_token`].
pub(crate) const SESSION_COLUMNS: &str =
    "id, family_id, user_id, token_hash, created_at, expires_at, spent_at, revoked_at";

/// Columns of `attachments` read by [`attachment`].
pub(crate) const ATTACHMENT_COLUMNS: &str =
    "id, table_id, filename, content_type, size, sha256, storage_key, created_by, created_at";

/// A column parsed with `FromStr` (ids, roles, scopes).
pub(crate) fn parsed<T>(row: &PgRow, column: &str) -> Result<T, sqlx::Error>
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    let s: String = row.try_get(column)?;
    s.parse().map_err(|e| decode_error(column, e))
}

/// A nullable column parsed with `FromStr`.
pub(crate) fn parsed_opt<T>(row: &PgRow, column: &str) -> Result<Option<T>, sqlx::Error>
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    let s: Option<String> = row.try_get(column)?;
    s.map(|s| s.parse().map_err(|e| decode_error(column, e)))
        .transpose()
}

fn time(row: &PgRow, column: &str) -> Result<Timestamp, sqlx::Error> {
    row.try_get(column)
}

fn time_opt(row: &PgRow, column: &str) -> Result<Option<Timestamp>, sqlx::Error> {
    row.try_get(column)
}

/// Largest integer every f64 represents exactly (2^53).
const EXACT_F64_INT: u64 = 1 << 53;

/// PostgreSQL prints a JSONB number written as `1e16` as `10000000000000000`,
/// which would come back as an integer although core wrote an `f64`. Integers
/// beyond 2^53 that an `f64` holds exactly are turned back into `f64`s, so a
/// cell reads back as it was written; other integers are kept.
pub(crate) fn normalize_numbers(value: &mut Value) {
    match value {
        Value::Number(n) => {
            let as_float = if let Some(u) = n.as_u64() {
                (u > EXACT_F64_INT && (u as f64) as u64 == u).then_some(u as f64)
            } else if let Some(i) = n.as_i64() {
                (i.unsigned_abs() > EXACT_F64_INT && (i as f64) as i64 == i).then_some(i as f64)
            } else {
                None
            };
            if let Some(f) = as_float.and_then(Number::from_f64) {
                *n = f;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(normalize_numbers),
        Value::Object(map) => map.values_mut().for_each(normalize_numbers),
        _ => {}
    }
}

/// Cells from a JSONB object.
pub(crate) fn cells(value: Value, column: &str) -> Result<Cells, sqlx::Error> {
    match value {
        Value::Object(mut map) => {
            for v in map.values_mut() {
                normalize_numbers(v);
                decode_value(v);
            }
            Ok(map)
        }
        other => Err(decode_error(
            column,
            format!("expected an object, got {other}"),
        )),
    }
}

/// A record from [`crate::layout::record_columns`].
pub(crate) fn record(row: &PgRow) -> Result<Record, sqlx::Error> {
    Ok(Record {
        id: parsed(row, "id")?,
        table_id: parsed(row, "table_id")?,
        cells: cells(row.try_get("data")?, "data")?,
        autonumber: row.try_get("autonumber")?,
        created_by: parsed_opt(row, "created_by")?,
        updated_by: parsed_opt(row, "updated_by")?,
        created_time: time(row, "created_time")?,
        updated_time: time(row, "updated_time")?,
        deleted_time: time_opt(row, "deleted_time")?,
    })
}

/// A record selected with [`crate::layout::record_columns`] renamed to `{prefix}{column}`
/// (beside other tables' columns); `None` when no record was joined.
pub(crate) fn record_prefixed(row: &PgRow, prefix: &str) -> Result<Option<Record>, sqlx::Error> {
    let c = |name: &str| format!("{prefix}{name}");
    let id: Option<String> = row.try_get(c("id").as_str())?;
    if id.is_none() {
        return Ok(None);
    }
    Ok(Some(Record {
        id: parsed(row, &c("id"))?,
        table_id: parsed(row, &c("table_id"))?,
        cells: cells(row.try_get(c("data").as_str())?, &c("data"))?,
        autonumber: row.try_get(c("autonumber").as_str())?,
        created_by: parsed_opt(row, &c("created_by"))?,
        updated_by: parsed_opt(row, &c("updated_by"))?,
        created_time: time(row, &c("created_time"))?,
        updated_time: time(row, &c("updated_time"))?,
        deleted_time: time_opt(row, &c("deleted_time"))?,
    }))
}

/// A user from [`USER_COLUMNS`].
pub(crate) fn user(row: &PgRow) -> Result<User, sqlx::Error> {
    Ok(User {
        id: parsed(row, "id")?,
        email: row.try_get("email")?,
        name: row.try_get("name")?,
        created_at: time(row, "created_at")?,
        updated_at: time(row, "updated_at")?,
    })
}

/// A workspace from `workspaces.*`.
pub(crate) fn workspace(row: &PgRow) -> Result<Workspace, sqlx::Error> {
    Ok(Workspace {
        id: parsed(row, "id")?,
        name: row.try_get("name")?,
        slug: row.try_get("slug")?,
        description: row.try_get("description")?,
        created_at: time(row, "created_at")?,
        updated_at: time(row, "updated_at")?,
    })
}

/// A role column.
pub(crate) fn role(row: &PgRow, column: &str) -> Result<Role, sqlx::Error> {
    parsed(row, column)
}

/// A base from `bases.*`.
pub(crate) fn base(row: &PgRow) -> Result<Base, sqlx::Error> {
    Ok(Base {
        id: parsed(row, "id")?,
        workspace_id: parsed(row, "workspace_id")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        created_at: time(row, "created_at")?,
        updated_at: time(row, "updated_at")?,
    })
}

/// A table from [`TABLE_COLUMNS`].
pub(crate) fn table(row: &PgRow) -> Result<Table, sqlx::Error> {
    Ok(Table {
        id: parsed(row, "id")?,
        base_id: parsed(row, "base_id")?,
        workspace_id: parsed(row, "workspace_id")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        primary_field_id: parsed_opt(row, "primary_field_id")?,
        position: row.try_get("position")?,
        created_at: time(row, "created_at")?,
        updated_at: time(row, "updated_at")?,
    })
}

/// A field from [`FIELD_COLUMNS`].
pub(crate) fn field(row: &PgRow) -> Result<Field, sqlx::Error> {
    let type_name: String = row.try_get("type")?;
    let options: Value = row.try_get("options")?;
    let field_type =
        FieldType::from_parts(&type_name, &options).map_err(|e| decode_error("type", e))?;
    Ok(Field {
        id: parsed(row, "id")?,
        table_id: parsed(row, "table_id")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        field_type,
        position: row.try_get("position")?,
        indexed: row.try_get("indexed")?,
        index_origin: IndexOrigin::parse(row.try_get("index_origin")?),
        status: FieldStatus::parse(row.try_get("status")?),
        created_at: time(row, "created_at")?,
        updated_at: time(row, "updated_at")?,
    })
}

/// The stored name of a view type.
pub(crate) fn view_type_name(t: ViewType) -> &'static str {
    match t {
        ViewType::Grid => "grid",
    }
}

/// A view from [`VIEW_COLUMNS`].
pub(crate) fn view(row: &PgRow) -> Result<View, sqlx::Error> {
    let type_name: String = row.try_get("type")?;
    let view_type = match type_name.as_str() {
        "grid" => ViewType::Grid,
        other => return Err(decode_error("type", format!("unknown view type {other:?}"))),
    };
    let mut config: Value = row.try_get("config")?;
    decode_value(&mut config);
    let config: ViewConfig =
        serde_json::from_value(config).map_err(|e| decode_error("config", e))?;
    Ok(View {
        id: parsed(row, "id")?,
        table_id: parsed(row, "table_id")?,
        name: row.try_get("name")?,
        view_type,
        config,
        position: row.try_get("position")?,
        created_at: time(row, "created_at")?,
        updated_at: time(row, "updated_at")?,
    })
}

/// An API key from [`API_KEY_COLUMNS`].
pub(crate) fn api_key(row: &PgRow) -> Result<ApiKey, sqlx::Error> {
    let scopes: Vec<String> = row.try_get("scopes")?;
    let scopes = scopes
        .iter()
        .map(|s| Scope::from_str(s).map_err(|e| decode_error("scopes", e)))
        .collect::<Result<_, _>>()?;
    let workspaces: Option<Vec<String>> = row.try_get("workspaces")?;
    let workspaces = workspaces
        .map(|list| {
            list.iter()
                .map(|s| s.parse().map_err(|e| decode_error("workspaces", e)))
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?;
    Ok(ApiKey {
        id: parsed(row, "id")?,
        user_id: parsed(row, "user_id")?,
        name: row.try_get("name")?,
        prefix: row.try_get("prefix")?,
        scopes,
        workspaces,
        created_at: time(row, "created_at")?,
        expires_at: time_opt(row, "expires_at")?,
        last_used_at: time_opt(row, "last_used_at")?,
    })
}

/// A refresh token from [`SESSION_COLUMNS`].
pub(crate) fn refresh_token(row: &PgRow) -> Result<RefreshToken, sqlx::Error> {
    Ok(RefreshToken {
        id: row.try_get("id")?,
        family_id: row.try_get("family_id")?,
        user_id: parsed(row, "user_id")?,
        token_hash: row.try_get("token_hash")?,
        created_at: time(row, "created_at")?,
        expires_at: time(row, "expires_at")?,
        spent_at: time_opt(row, "spent_at")?,
        revoked_at: time_opt(row, "revoked_at")?,
    })
}

/// A password reset from `password_resets.*`.
pub(crate) fn password_reset(row: &PgRow) -> Result<PasswordReset, sqlx::Error> {
    Ok(PasswordReset {
        token_hash: row.try_get("token_hash")?,
        user_id: parsed(row, "user_id")?,
        created_at: time(row, "created_at")?,
        expires_at: time(row, "expires_at")?,
        used_at: time_opt(row, "used_at")?,
    })
}

/// An attachment from [`ATTACHMENT_COLUMNS`].
pub(crate) fn attachment(row: &PgRow) -> Result<Attachment, sqlx::Error> {
    let size: i64 = row.try_get("size")?;
    Ok(Attachment {
        id: parsed(row, "id")?,
        table_id: parsed(row, "table_id")?,
        filename: row.try_get("filename")?,
        content_type: row.try_get("content_type")?,
        size: u64::try_from(size).map_err(|e| decode_error("size", e))?,
        sha256: row.try_get("sha256")?,
        storage_key: row.try_get("storage_key")?,
        created_by: parsed_opt(row, "created_by")?,
        created_at: time(row, "created_at")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn large_integers_that_came_from_floats_become_floats_again() {
        let mut v: Value = serde_json::from_str("10000000000000000").unwrap();
        normalize_numbers(&mut v);
        assert_eq!(v, json!(1e16));
        let mut small = json!(12);
        normalize_numbers(&mut small);
        assert!(small.is_u64());
        // Not exactly representable as f64: must have been written as an integer.
        let mut odd = json!(9_007_199_254_740_993_u64);
        normalize_numbers(&mut odd);
        assert!(odd.is_u64());
        let mut neg: Value = serde_json::from_str("[-10000000000000000]").unwrap();
        normalize_numbers(&mut neg);
        assert_eq!(neg, json!([-1e16]));
    }
}
