//! Airtable's error shape for everything under `/v0` (AIRTABLE.md §3).
//!
//! Handlers answer [`V0Error`]; core errors are translated by
//! [`V0Error::from_core`] with the context of the request (a record named
//! in the path is a 404, one named in a body a 422). Errors made outside the
//! handlers (an unknown route, 405, 413, a timeout, a caught panic) are
//! reshaped by [`shape_errors`], which wraps the whole application.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// A failed `/v0` request: a status, Airtable's error `type` and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V0Error {
    /// The HTTP status.
    pub status: StatusCode,
    /// Airtable's error type, e.g. `UNKNOWN_FIELD_NAME`.
    pub kind: &'static str,
    /// What went wrong, for people.
    pub message: String,
    /// Seconds to wait, for 429.
    pub retry_after_secs: Option<u64>,
}

/// Marks a response whose body already has Airtable's error shape.
#[derive(Debug, Clone, Copy)]
struct Shaped;

/// Where a record id came from, which decides how a missing record answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordsIn {
    /// In the URL path: 404 `MODEL_ID_NOT_FOUND`.
    Path,
    /// In a body or the query: 422 `ROW_DOES_NOT_EXIST`.
    Body,
}

impl V0Error {
    /// An error of `kind` with `status`.
    pub fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            kind,
            message: message.into(),
            retry_after_secs: None,
        }
    }

    /// 422 `INVALID_REQUEST_UNKNOWN`: a malformed parameter.
    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "INVALID_REQUEST_UNKNOWN",
            message,
        )
    }

    /// 400 `INVALID_REQUEST_BODY`: the body is not a JSON object.
    pub fn bad_body(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "INVALID_REQUEST_BODY", message)
    }

    /// 401 `AUTHENTICATION_REQUIRED`.
    pub fn unauthenticated() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "AUTHENTICATION_REQUIRED",
            "Authentication required",
        )
    }

    /// 403 `INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND`: unknown or invisible
    /// base or table, indistinguishably.
    pub fn model_not_found() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND",
            "Invalid permissions, or the requested model was not found. Check that both your \
             user and your token have the required permissions, and that the model names and/or \
             ids are correct.",
        )
    }

    /// 404 `MODEL_ID_NOT_FOUND` for a record named in the path.
    pub fn record_not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "MODEL_ID_NOT_FOUND",
            "Record not found",
        )
    }

    /// 422 `INVALID_REQUEST_MISSING_FIELDS`.
    pub fn missing(what: &str) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "INVALID_REQUEST_MISSING_FIELDS",
            format!("Could not find field \"{what}\" in the request body"),
        )
    }

    /// 422 `INVALID_RECORDS`.
    pub fn invalid_records(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "INVALID_RECORDS", message)
    }

    /// 422 `INVALID_FILTER_BY_FORMULA`.
    pub fn invalid_formula(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "INVALID_FILTER_BY_FORMULA",
            message,
        )
    }

    /// 429 `RATE_LIMIT_REACHED` with `Retry-After`.
    pub fn rate_limited(retry_after_secs: u64) -> Self {
        Self {
            retry_after_secs: Some(retry_after_secs.max(1)),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "RATE_LIMIT_REACHED",
                "rate limit exceeded",
            )
        }
    }

    /// The error a bare status stands for, for answers made outside the
    /// handlers.
    pub fn from_status(status: StatusCode) -> Self {
        match status {
            StatusCode::UNAUTHORIZED => Self::unauthenticated(),
            StatusCode::FORBIDDEN => Self::model_not_found(),
            StatusCode::METHOD_NOT_ALLOWED => Self::new(
                status,
                "METHOD_NOT_ALLOWED",
                "this method is not allowed on this route",
            ),
            StatusCode::PAYLOAD_TOO_LARGE => {
                Self::new(status, "REQUEST_TOO_LARGE", "request body is too large")
            }
            StatusCode::UNSUPPORTED_MEDIA_TYPE | StatusCode::BAD_REQUEST => {
                Self::bad_body("the request body is not a JSON object")
            }
            StatusCode::UNPROCESSABLE_ENTITY => Self::invalid_request("invalid request"),
            StatusCode::TOO_MANY_REQUESTS => Self::rate_limited(1),
            StatusCode::SERVICE_UNAVAILABLE | StatusCode::GATEWAY_TIMEOUT => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "RETRIABLE_ERROR",
                "the server is unavailable; retry later",
            ),
            s if s.is_server_error() => Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "SERVER_ERROR",
                "internal server error",
            ),
            s => Self::new(
                s,
                "INVALID_REQUEST_UNKNOWN",
                s.canonical_reason().unwrap_or("invalid request"),
            ),
        }
    }

    /// Translates a core error. `records` says where record ids came from.
    pub fn from_core(e: pybase_core::Error, records: RecordsIn) -> Self {
        use pybase_core::Error as E;
        match e {
            E::Unauthorized(_) => Self::unauthenticated(),
            E::Forbidden(m) => Self::new(
                StatusCode::FORBIDDEN,
                "INVALID_PERMISSIONS",
                format!("You are not permitted to perform this operation: {m}"),
            ),
            E::NotFound { entity: "record" } => match records {
                RecordsIn::Path => Self::record_not_found(),
                RecordsIn::Body => Self::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "ROW_DOES_NOT_EXIST",
                    "a record named in the request does not exist",
                ),
            },
            E::NotFound { entity: "view" } => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "VIEW_NAME_NOT_FOUND",
                "Could not find a view with that name or id",
            ),
            E::NotFound { entity: "field" } => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "UNKNOWN_FIELD_NAME",
                "Unknown field name",
            ),
            E::NotFound { .. } => Self::model_not_found(),
            E::Conflict { field, message } if field == "merge_on" => Self::invalid_records(
                format!("performUpsert: {message} (the merge fields match several records)"),
            ),
            // Field names (tables and views have no Airtable code of their
            // own: INVALID_REQUEST_UNKNOWN below, with the message).
            E::Conflict { field, message } if field == "name" && message.starts_with("a field") => {
                Self::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "DUPLICATE_OR_EMPTY_FIELD_NAME",
                    message,
                )
            }
            E::Conflict { message, .. } => Self::invalid_request(message),
            E::InvalidFormula { message, .. } => Self::invalid_formula(message),
            e @ E::FormulaCycle { .. } => Self::invalid_request(e.to_string()),
            E::Validation { message, fields } => Self::from_validation(&message, &fields),
            E::BadRequest(m) => Self::invalid_request(m),
            E::PayloadTooLarge { limit } => Self::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "REQUEST_TOO_LARGE",
                format!("payload larger than {limit} bytes"),
            ),
            E::RateLimited { retry_after_secs } => Self::rate_limited(retry_after_secs),
            E::Unavailable(source) => {
                tracing::warn!(error = %source, "the database is unavailable");
                Self::from_status(StatusCode::SERVICE_UNAVAILABLE)
            }
            // Airtable's retriable 503, as for an unavailable database.
            E::Contention(source) => {
                tracing::warn!(error = %source, "a concurrent change conflicted");
                Self::from_status(StatusCode::SERVICE_UNAVAILABLE)
            }
            other => {
                tracing::error!(error = %other, "internal error under /v0");
                Self::from_status(StatusCode::INTERNAL_SERVER_ERROR)
            }
        }
    }

    /// A core validation failure, typed by what its first problem is about.
    fn from_validation(message: &str, fields: &BTreeMap<String, String>) -> Self {
        let Some((key, what)) = fields.iter().next() else {
            return Self::invalid_request(message.to_owned());
        };
        // `records[3].Qty` names the field after the batch index.
        let field = key
            .strip_prefix("records[")
            .and_then(|rest| rest.split_once("].").map(|(_, f)| f))
            .unwrap_or(key);
        let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
        if what.starts_with("unknown field") || what.starts_with("an existing field") {
            return Self::new(
                unprocessable,
                "UNKNOWN_FIELD_NAME",
                format!("Unknown field name: \"{field}\""),
            );
        }
        // Select fields say "one of the field's choices" or list them.
        if what.contains("of the field's choices")
            || what.starts_with("expected one of ")
            || what.contains("the field has no choices")
        {
            return Self::new(
                unprocessable,
                "INVALID_MULTIPLE_CHOICE_OPTIONS",
                format!("Insufficient permissions to create new select option for {field}: {what}"),
            );
        }
        // A link or attachment field named in `sort`: a parameter the
        // request got wrong, not a cell's value.
        if what.starts_with("a sortable field") {
            return Self::invalid_request(format!("sort: field \"{field}\" is not {what}"));
        }
        if what.starts_with("ids of live records") || what.starts_with("a live record of") {
            return Self::new(
                unprocessable,
                "ROW_DOES_NOT_EXIST",
                format!("{field}: {what}"),
            );
        }
        // A problem of a whole record of the batch (`records[1]`, no field
        // after it: a merge key given twice).
        if key.starts_with("records[") && key.ends_with(']') {
            return Self::invalid_records(format!("{key}: {what}"));
        }
        match key.as_str() {
            "records" => Self::invalid_records(format!("records: {what}")),
            // Core says why (the walk's log was pruned, its base changed
            // too much since): as the offset's reason.
            "cursor" => Self::new(
                unprocessable,
                "LIST_RECORDS_ITERATOR_NOT_AVAILABLE",
                format!("the offset is not valid for this request: {what}"),
            ),
            "view" => Self::new(
                unprocessable,
                "VIEW_NAME_NOT_FOUND",
                format!("view: {what}"),
            ),
            // A key field that exists but holds a list or is computed: the
            // parameter is wrong, the field is there.
            "merge_on" if what.starts_with("fields holding a single value") => {
                Self::invalid_request(format!("performUpsert.fieldsToMergeOn: {what}"))
            }
            "sort" | "fields" | "merge_on" if what.contains("field") => Self::new(
                unprocessable,
                "UNKNOWN_FIELD_NAME",
                format!("{key}: {what}"),
            ),
            "formula" => Self::invalid_formula(format!("filterByFormula: {what}")),
            "sort" | "fields" | "merge_on" | "page_size" | "filter" | "name" | "type"
            | "options" | "description" => Self::invalid_request(format!("{key}: {what}")),
            _ => Self::new(
                unprocessable,
                "INVALID_VALUE_FOR_COLUMN",
                format!("Field \"{field}\" cannot accept the provided value: {what}"),
            ),
        }
    }

    /// The JSON body: `{"error":{"type","message"}}`, or `{"error":"NOT_FOUND"}`
    /// for an unknown route.
    pub fn body(&self) -> Value {
        if self.status == StatusCode::NOT_FOUND && self.kind == "NOT_FOUND" {
            return json!({ "error": "NOT_FOUND" });
        }
        json!({ "error": { "type": self.kind, "message": self.message } })
    }
}

impl std::fmt::Display for V0Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.kind,
            self.message
        )
    }
}

impl IntoResponse for V0Error {
    fn into_response(self) -> Response {
        tracing::debug!(status = self.status.as_u16(), error = %self, "/v0 request failed");
        let mut response = (self.status, axum::Json(self.body())).into_response();
        if let Some(secs) = self.retry_after_secs {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response.extensions_mut().insert(Shaped);
        response
    }
}

/// Whether `path` is under `/v0`.
pub fn is_v0(path: &str) -> bool {
    path == "/v0" || path.starts_with("/v0/")
}

/// The answer to an unknown route under `/v0`: 404 `{"error":"NOT_FOUND"}`.
pub fn not_found() -> V0Error {
    V0Error::new(StatusCode::NOT_FOUND, "NOT_FOUND", "not found")
}

/// Middleware around the whole application: an error answered under `/v0`
/// that a handler did not shape (405 from the router, 413 from the body
/// limit, a timeout, a caught panic, the API's generic 404) gets
/// Airtable's shape, keeping its status and headers.
pub async fn shape_errors(request: Request, next: Next) -> Response {
    let v0 = is_v0(request.uri().path());
    let response = next.run(request).await;
    let status = response.status();
    if !v0
        || !(status.is_client_error() || status.is_server_error())
        || response.extensions().get::<Shaped>().is_some()
    {
        return response;
    }
    let error = if status == StatusCode::NOT_FOUND {
        not_found()
    } else {
        V0Error::from_status(status)
    };
    let (mut parts, _) = response.into_parts();
    let shaped = error.into_response();
    let (shaped_parts, body) = shaped.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.remove(header::CONTENT_ENCODING);
    for (name, value) in &shaped_parts.headers {
        parts.headers.insert(name, value.clone());
    }
    parts.status = shaped_parts.status;
    Response::from_parts(parts, Body::new(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_errors_get_airtable_types() {
        let e = |key: &str, what: &str| {
            V0Error::from_core(pybase_core::Error::invalid(key, what), RecordsIn::Body)
        };
        let unknown = e(
            "records[0].Qtty",
            "unknown field: expected a field of this table",
        );
        assert_eq!(unknown.kind, "UNKNOWN_FIELD_NAME");
        assert_eq!(unknown.message, "Unknown field name: \"Qtty\"");
        assert_eq!(
            e("Status", "one of the field's choices, got \"x\"").kind,
            "INVALID_MULTIPLE_CHOICE_OPTIONS"
        );
        assert_eq!(e("Qty", "a number").kind, "INVALID_VALUE_FOR_COLUMN");
        let sort = e(
            "Customer",
            "a sortable field (a link field cannot be sorted: sort by a lookup of the \
             linked table's primary field)",
        );
        assert_eq!(sort.kind, "INVALID_REQUEST_UNKNOWN");
        assert!(
            sort.message
                .starts_with("sort: field \"Customer\" is not a sortable field")
        );
        assert_eq!(
            e("records", "1 to 10 records, got 11").kind,
            "INVALID_RECORDS"
        );
        // A key field that is there but holds a list: the parameter is
        // wrong; one that is not there is an unknown name.
        let list_key = e(
            "merge_on",
            "fields holding a single value, \"Tags\" is a multi_select field",
        );
        assert_eq!(list_key.kind, "INVALID_REQUEST_UNKNOWN");
        assert_eq!(
            e("merge_on", "fields of this table, \"Nope\" is not one").kind,
            "UNKNOWN_FIELD_NAME"
        );
        assert_eq!(
            e("cursor", "a cursor").kind,
            "LIST_RECORDS_ITERATOR_NOT_AVAILABLE"
        );
        assert_eq!(
            e("Link", "ids of live records of table tbl, rec is not one").kind,
            "ROW_DOES_NOT_EXIST"
        );
    }

    #[test]
    fn missing_things_hide_or_name_themselves_by_where_they_were_named() {
        let table = V0Error::from_core(pybase_core::Error::not_found("table"), RecordsIn::Path);
        assert_eq!(table.status, StatusCode::FORBIDDEN);
        assert_eq!(table.kind, "INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND");
        let rec = V0Error::from_core(pybase_core::Error::not_found("record"), RecordsIn::Path);
        assert_eq!(
            (rec.status, rec.kind),
            (StatusCode::NOT_FOUND, "MODEL_ID_NOT_FOUND")
        );
        let rec = V0Error::from_core(pybase_core::Error::not_found("record"), RecordsIn::Body);
        assert_eq!(rec.kind, "ROW_DOES_NOT_EXIST");
        assert_eq!(not_found().body(), json!({"error": "NOT_FOUND"}));
        let formula = V0Error::from_core(
            pybase_core::Error::InvalidFormula {
                message: "Unknown field names: qtty".into(),
                start: 0,
                end: 6,
            },
            RecordsIn::Body,
        );
        assert_eq!(formula.kind, "INVALID_FILTER_BY_FORMULA");
        assert_eq!(formula.message, "Unknown field names: qtty");
    }
}
