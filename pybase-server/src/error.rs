//! The one error type of every handler, and its JSON shape.
//!
//! Every failure answers `{"error":{"code","message","details"}}` with the
//! status matching `code` (see API.md). Internal errors are logged with the
//! request's span and never shown to the client.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::multipart::MultipartRejection;
use axum::extract::rejection::{FormRejection, JsonRejection, PathRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use pybase_core::error::{MAX_EXPECTED_TEXT, MAX_FIELD_TEXT, bounded};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

/// The body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable snake_case code, e.g. `validation_failed`.
    #[schema(example = "validation_failed")]
    pub code: &'static str,
    /// Human-readable summary.
    #[schema(example = "Qty: expected a number, got \"abc\"")]
    pub message: String,
    /// Extra structure, e.g. `{"fields":{"Qty":"expected a number"}}`.
    #[schema(value_type = Object)]
    pub details: Value,
}

/// A failed request, as it is answered.
#[derive(Debug)]
pub enum ApiError {
    /// 400: the request is malformed.
    BadRequest(String),
    /// 400: a query-string parameter of the wrong type; `fields` names the
    /// parameter and what was expected.
    BadQuery {
        /// Summary.
        message: String,
        /// The parameter and what was expected.
        fields: BTreeMap<String, String>,
    },
    /// 401: not signed in, or bad credentials.
    Unauthorized(String),
    /// 403: a member whose role or key scope is too low.
    Forbidden(String),
    /// 404: missing or not visible.
    NotFound(String),
    /// 405: the path exists, the method does not.
    MethodNotAllowed,
    /// 409: would break a uniqueness or integrity rule.
    Conflict {
        /// Summary.
        message: String,
        /// The field or rule involved.
        field: Option<String>,
    },
    /// 410: what was asked for is no longer kept (a change-log cursor
    /// older than the retention period).
    Gone(String),
    /// 413: body larger than allowed.
    PayloadTooLarge(String),
    /// 415: wrong `Content-Type`.
    UnsupportedMediaType(String),
    /// 422: input failed validation; `fields` names each field and what was expected.
    Validation {
        /// Summary.
        message: String,
        /// Per-field explanations.
        fields: BTreeMap<String, String>,
    },
    /// 422: computed fields that would depend on themselves;
    /// `details.cycle` lists the field names along the cycle,
    /// `details.fields.<field>` says it in words.
    FormulaCycle {
        /// The field being saved.
        field: String,
        /// Field names from it back to it.
        path: Vec<String>,
    },
    /// 422: a formula that does not parse or check (or a formula filter
    /// over its scan budget); `details.formula` gives the message and the
    /// character range, `details.fields.formula` the message.
    InvalidFormula {
        /// What is wrong.
        message: String,
        /// First character of the culprit, from 0.
        start: usize,
        /// One past its last character.
        end: usize,
    },
    /// 429: too many attempts.
    RateLimited {
        /// Seconds before retrying may succeed (sent as `Retry-After`).
        retry_after_secs: u64,
    },
    /// 500: logged in full, answered without details.
    Internal(Box<dyn std::error::Error + Send + Sync>),
    /// 503: a dependency is down or the request timed out.
    Unavailable(String),
}

impl ApiError {
    /// The HTTP status of this error.
    pub fn status_code(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) | Self::BadQuery { .. } => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::Gone(_) => StatusCode::GONE,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Validation { .. } | Self::InvalidFormula { .. } | Self::FormulaCycle { .. } => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The stable code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest(_) | Self::BadQuery { .. } => "bad_request",
            Self::Unauthorized(_) => "unauthorized",
            Self::Forbidden(_) => "forbidden",
            Self::NotFound(_) => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::Conflict { .. } => "conflict",
            Self::Gone(_) => "gone",
            Self::PayloadTooLarge(_) => "payload_too_large",
            Self::UnsupportedMediaType(_) => "unsupported_media_type",
            Self::Validation { .. } | Self::InvalidFormula { .. } | Self::FormulaCycle { .. } => {
                "validation_failed"
            }
            Self::RateLimited { .. } => "rate_limited",
            Self::Internal(_) => "internal",
            Self::Unavailable(_) => "unavailable",
        }
    }

    /// A 401 with the one generic message clients see.
    pub fn unauthorized() -> Self {
        Self::Unauthorized("missing or invalid credentials".into())
    }

    /// A 404 for a kind of thing.
    pub fn not_found(what: &str) -> Self {
        Self::NotFound(format!("{what} not found"))
    }

    /// A 422 about one field.
    pub fn invalid(field: impl Into<String>, expected: impl Into<String>) -> Self {
        let field = field.into();
        let expected = expected.into();
        Self::Validation {
            message: format!("{field}: {expected}"),
            fields: BTreeMap::from([(field, expected)]),
        }
    }

    /// A 500 wrapping an internal failure.
    pub fn internal(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::Internal(e.into())
    }

    fn message(&self) -> String {
        match self {
            Self::BadRequest(m)
            | Self::Unauthorized(m)
            | Self::Forbidden(m)
            | Self::NotFound(m)
            | Self::Gone(m)
            | Self::PayloadTooLarge(m)
            | Self::UnsupportedMediaType(m)
            | Self::Unavailable(m) => m.clone(),
            Self::MethodNotAllowed => "method not allowed".into(),
            Self::Conflict { message, .. } => message.clone(),
            // Serde's and the core's texts may echo a client's value.
            Self::Validation { message, .. } | Self::BadQuery { message, .. } => bounded(
                message.clone(),
                MAX_FIELD_TEXT + ": ".len() + MAX_EXPECTED_TEXT,
            ),
            Self::InvalidFormula { message, .. } => format!("formula: {message}"),
            Self::FormulaCycle { field, path } => format!("{field}: {}", cycle_message(path)),
            Self::RateLimited { retry_after_secs } => {
                format!("too many attempts, retry in {retry_after_secs} s")
            }
            Self::Internal(_) => "internal server error".into(),
        }
    }

    fn details(&self) -> Value {
        match self {
            Self::Validation { fields, .. } | Self::BadQuery { fields, .. } => {
                let fields: BTreeMap<String, String> = fields
                    .iter()
                    .map(|(f, e)| {
                        (
                            bounded(f.clone(), MAX_FIELD_TEXT),
                            bounded(e.clone(), MAX_EXPECTED_TEXT),
                        )
                    })
                    .collect();
                serde_json::json!({ "fields": fields })
            }
            Self::InvalidFormula {
                message,
                start,
                end,
            } => serde_json::json!({
                "fields": { "formula": message },
                "formula": { "message": message, "start": start, "end": end },
            }),
            Self::FormulaCycle { field, path } => {
                let message = cycle_message(path);
                serde_json::json!({
                    "fields": { field: message },
                    "formula": { "message": message, "start": 0, "end": 0 },
                    "cycle": path,
                })
            }
            // `fields` as every other error names its field; `field` kept
            // for clients that read it.
            Self::Conflict {
                field: Some(field),
                message,
            } => serde_json::json!({ "field": field, "fields": { field: message } }),
            Self::RateLimited { retry_after_secs } => {
                serde_json::json!({ "retry_after": retry_after_secs })
            }
            _ => serde_json::json!({}),
        }
    }

    /// The body this error answers with.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: ErrorDetail {
                code: self.code(),
                message: self.message(),
                details: self.details(),
            },
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Internal(e) => write!(f, "internal: {e}"),
            other => f.write_str(&other.message()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status_code();
        match &self {
            // Logged inside the request span set up by the trace layer, so the
            // request id ties the log line to the client's report.
            Self::Internal(e) => {
                tracing::error!(error = %e, source = ?e.source(), "internal error")
            }
            Self::Unavailable(m) => tracing::warn!(reason = %m, "service unavailable"),
            other => tracing::debug!(status = status.as_u16(), error = %other, "request failed"),
        }
        let mut response = (status, Json(self.body())).into_response();
        if let Self::RateLimited { retry_after_secs } = self {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(retry_after_secs.max(1)),
            );
        }
        response
    }
}

/// What a client is told when its change lost to a concurrent one (a
/// deadlock or serialization failure) and the store's retries ran out.
const CONTENTION: &str =
    "a concurrent change conflicted with this request, which changed nothing; retry it";

/// A cycle's path in words.
fn cycle_message(path: &[String]) -> String {
    format!("options without a cycle, got one: {}", path.join(" → "))
}

impl From<pybase_core::Error> for ApiError {
    fn from(e: pybase_core::Error) -> Self {
        use pybase_core::Error as E;
        match e {
            E::Unauthorized(m) => Self::Unauthorized(m),
            E::Forbidden(m) => Self::Forbidden(m),
            E::NotFound { entity } => Self::not_found(entity),
            E::Conflict { field, message } => Self::Conflict {
                message,
                field: Some(field),
            },
            E::Validation { message, fields } => Self::Validation { message, fields },
            E::InvalidFormula {
                message,
                start,
                end,
            } => Self::InvalidFormula {
                message,
                start,
                end,
            },
            E::FormulaCycle { field, path } => Self::FormulaCycle { field, path },
            E::BadRequest(m) => Self::BadRequest(m),
            E::Gone(m) => Self::Gone(m),
            E::RateLimited { retry_after_secs } => Self::RateLimited { retry_after_secs },
            E::PayloadTooLarge { limit } => {
                Self::PayloadTooLarge(format!("payload larger than {limit} bytes"))
            }
            E::Internal(source) if is_object_store_outage(source.as_ref()) => {
                // The cause stays in the log; the client learns only that
                // the store is away and that a retry may succeed.
                tracing::warn!(error = %source, "object storage is unavailable");
                Self::Unavailable("object storage is unavailable; retry later".into())
            }
            E::Internal(source) => Self::Internal(source),
            E::Unavailable(source) => {
                // The cause stays in the log; the client learns only that a
                // retry may succeed.
                tracing::warn!(error = %source, "the database is unavailable");
                Self::Unavailable("the database is unavailable; retry later".into())
            }
            E::Contention(source) => {
                // A deadlock or serialization failure the store's retries
                // did not get past: the request changed nothing.
                tracing::warn!(error = %source, "a concurrent change conflicted");
                Self::Unavailable(CONTENTION.into())
            }
            // `Error` is non-exhaustive: anything new is treated as internal
            // until it gets its own status.
            other => Self::Internal(Box::new(other)),
        }
    }
}

/// Whether `e` (or an error it wraps) is object storage failing as a
/// service: unreachable, or still answering 5xx after the client's retries.
/// Those are `object_store`'s `Generic` errors; its other kinds (a missing
/// object, refused credentials, a bad path) are not outages.
fn is_object_store_outage(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(e);
    while let Some(e) = next {
        if let Some(store) = e.downcast_ref::<object_store::Error>() {
            return matches!(store, object_store::Error::Generic { .. });
        }
        next = e.source();
    }
    false
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        match r {
            JsonRejection::MissingJsonContentType(_) => Self::UnsupportedMediaType(
                "expected a body with content-type application/json".into(),
            ),
            JsonRejection::JsonSyntaxError(e) => {
                Self::BadRequest(format!("malformed json: {}", lower_first(&e.body_text())))
            }
            JsonRejection::JsonDataError(e) => json_data_error(&e.body_text()),
            JsonRejection::BytesRejection(e) => bytes_rejection(e.status(), &e.body_text()),
            other => Self::BadRequest(lower_first(&other.body_text())),
        }
    }
}

impl From<FormRejection> for ApiError {
    fn from(r: FormRejection) -> Self {
        match r {
            FormRejection::InvalidFormContentType(_) => {
                Self::UnsupportedMediaType("expected application/x-www-form-urlencoded".into())
            }
            FormRejection::FailedToDeserializeForm(e) => Self::Validation {
                message: lower_first(&e.body_text()),
                fields: BTreeMap::new(),
            },
            FormRejection::FailedToDeserializeFormBody(e) => Self::Validation {
                message: lower_first(&e.body_text()),
                fields: BTreeMap::new(),
            },
            FormRejection::BytesRejection(e) => bytes_rejection(e.status(), &e.body_text()),
            other => Self::BadRequest(lower_first(&other.body_text())),
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        let text = r.body_text();
        let detail = text
            .strip_prefix("Failed to deserialize query string: ")
            .unwrap_or(&text);
        // serde names the parameter first (`page_size: invalid digit ...`).
        match detail.split_once(": ") {
            Some((param, problem))
                if !param.is_empty()
                    && param
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.')) =>
            {
                let problem = if param == "page_size" {
                    page_size_expectation(&lower_first(problem))
                } else {
                    plain_expectation(&lower_first(problem))
                };
                Self::BadQuery {
                    message: format!("invalid query string: {param}: {problem}"),
                    fields: BTreeMap::from([(param.to_owned(), problem)]),
                }
            }
            _ => match duplicated_param(detail) {
                // `?cursor=a&cursor=b`: named like any bad parameter.
                Some(param) => Self::BadQuery {
                    message: format!("invalid query string: {param} is given more than once"),
                    fields: BTreeMap::from([(param.to_owned(), "given once".to_owned())]),
                },
                None => Self::BadRequest(format!("invalid query string: {}", lower_first(detail))),
            },
        }
    }
}

/// The parameter serde found twice (`duplicate field `cursor``).
fn duplicated_param(detail: &str) -> Option<&str> {
    let name = detail
        .strip_prefix("duplicate field `")?
        .strip_suffix('`')?;
    (!name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.')))
    .then_some(name)
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        match r {
            // A path segment that is not an id of the right kind names nothing.
            PathRejection::FailedToDeserializePathParams(_) => Self::NotFound("not found".into()),
            other => Self::internal(other.body_text()),
        }
    }
}

impl From<MultipartRejection> for ApiError {
    fn from(r: MultipartRejection) -> Self {
        match r {
            MultipartRejection::InvalidBoundary(_) => {
                Self::UnsupportedMediaType("expected multipart/form-data with a boundary".into())
            }
            other => Self::BadRequest(lower_first(&other.body_text())),
        }
    }
}

impl From<axum::extract::multipart::MultipartError> for ApiError {
    fn from(e: axum::extract::multipart::MultipartError) -> Self {
        bytes_rejection(e.status(), &e.body_text())
    }
}

/// A body that could not be read: too large (413) or broken (400).
fn bytes_rejection(status: StatusCode, text: &str) -> ApiError {
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge("request body is too large".into())
    } else {
        ApiError::BadRequest(lower_first(text))
    }
}

/// Well-formed JSON of the wrong shape: 422 naming the field serde points at.
fn json_data_error(text: &str) -> ApiError {
    // serde_path_to_error renders "Failed to deserialize the JSON body into
    // the target type: fields.name: missing field `x` at line 1 column 2".
    let detail = text
        .split_once(": ")
        .map_or(text, |(_, rest)| rest)
        .to_owned();
    let (field, expected) = match detail.split_once(": ") {
        Some((path, what)) if !path.contains(' ') => (path.to_owned(), what.to_owned()),
        _ => match missing_field(&detail) {
            Some(name) => (name, "is required".to_owned()),
            None => ("body".to_owned(), detail.clone()),
        },
    };
    let expected = plain_expectation(&strip_position(&expected));
    ApiError::Validation {
        message: format!("{field}: {expected}"),
        fields: BTreeMap::from([(field, expected)]),
    }
}

/// Rewrites serde's and chrono's wording into what a client can act on:
/// no Rust type names, and the expected time format.
fn plain_expectation(text: &str) -> String {
    // A struct was expected: serde names the Rust type ("expected struct
    // NewWorkspace"), and an array is read as a tuple ("invalid length 0").
    if let Some(i) = text.find("expected struct ") {
        if text.starts_with("invalid length") {
            return "expected a JSON object, got an array".to_owned();
        }
        return format!("{}expected a JSON object", &text[..i]);
    }
    // chrono's parse errors say what is wrong, not what is right.
    const CHRONO: &[&str] = &[
        "input contains invalid characters",
        "premature end of input",
        "trailing input",
        "input is out of range",
        "input is not enough for unique date and time",
        "no possible date and time matching input",
    ];
    if CHRONO.contains(&text) {
        return format!("{text}: expected an RFC 3339 time such as 2030-01-31T12:00:00Z");
    }
    // The standard library's number and boolean parse errors (query
    // strings are read with `FromStr`) name no expectation either.
    let expected = match text {
        "invalid digit found in string" | "cannot parse integer from empty string" => {
            "expected a whole number, 0 or more"
        }
        "number too large to fit in target type" => "expected a smaller whole number",
        "invalid float literal" | "cannot parse float from empty string" => "expected a number",
        "provided string was not `true` or `false`" => "expected true or false",
        _ => return text.to_owned(),
    };
    format!("{text}: {expected}")
}

/// [`plain_expectation`] for `page_size`, whose every use in `/api/v1`
/// takes 1 to [`crate::routes::MAX_PAGE_SIZE`]: a number that does not
/// parse (`-5`, `1e9`, a word) is told the range.
fn page_size_expectation(text: &str) -> String {
    match text {
        "invalid digit found in string"
        | "cannot parse integer from empty string"
        | "number too large to fit in target type" => format!(
            "{text}: expected a whole number from 1 to {}",
            crate::routes::MAX_PAGE_SIZE
        ),
        _ => plain_expectation(text),
    }
}

fn missing_field(detail: &str) -> Option<String> {
    let rest = detail.split_once("missing field `")?.1;
    Some(rest.split_once('`')?.0.to_owned())
}

fn strip_position(s: &str) -> String {
    match s.rfind(" at line ") {
        Some(i) => s[..i].to_owned(),
        None => s.to_owned(),
    }
}

fn lower_first(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_data_errors_name_the_field() {
        let e = json_data_error(
            "Failed to deserialize the JSON body into the target type: name: invalid type: integer `3`, expected a string at line 1 column 11",
        );
        match e {
            ApiError::Validation { fields, .. } => {
                assert_eq!(
                    fields.get("name").map(String::as_str),
                    Some("invalid type: integer `3`, expected a string")
                );
            }
            other => panic!("unexpected {other:?}"),
        }
        let e = json_data_error(
            "Failed to deserialize the JSON body into the target type: missing field `email` at line 1 column 2",
        );
        match e {
            ApiError::Validation { fields, .. } => assert!(fields.contains_key("email")),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn json_data_errors_name_no_rust_types() {
        let cases = [
            (
                "Failed to deserialize the JSON body into the target type: invalid type: string \"x\", expected struct NewWorkspace at line 1 column 3",
                "body",
                "invalid type: string \"x\", expected a JSON object",
            ),
            (
                "Failed to deserialize the JSON body into the target type: invalid length 0, expected struct CreateBody with 3 elements at line 1 column 2",
                "body",
                "expected a JSON object, got an array",
            ),
            (
                "Failed to deserialize the JSON body into the target type: expires_at: input contains invalid characters at line 1 column 40",
                "expires_at",
                "input contains invalid characters: expected an RFC 3339 time such as 2030-01-31T12:00:00Z",
            ),
        ];
        for (text, field, expected) in cases {
            match json_data_error(text) {
                ApiError::Validation { fields, message } => {
                    assert_eq!(fields.get(field).map(String::as_str), Some(expected));
                    assert!(!message.contains("struct"), "{message}");
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    #[test]
    fn query_parse_errors_say_what_was_expected() {
        for (problem, expected) in [
            (
                "invalid digit found in string",
                "invalid digit found in string: expected a whole number, 0 or more",
            ),
            (
                "number too large to fit in target type",
                "number too large to fit in target type: expected a smaller whole number",
            ),
            (
                "provided string was not `true` or `false`",
                "provided string was not `true` or `false`: expected true or false",
            ),
            (
                "invalid type: string \"x\", expected u32",
                "invalid type: string \"x\", expected u32",
            ),
        ] {
            assert_eq!(plain_expectation(problem), expected);
        }
    }

    /// A client's value that serde echoes into a 422 (a long string where
    /// a number was expected) leaves the server cut, in the message and in
    /// the field's entry alike.
    #[test]
    fn echoed_values_are_cut_in_the_answer() {
        let long = "x".repeat(100_000);
        let text = format!(
            "Failed to deserialize the JSON body into the target type: page_size: \
             invalid type: string \"{long}\", expected u32 at line 1 column 100020"
        );
        let body = serde_json::to_value(json_data_error(&text).body()).unwrap();
        let message = body["error"]["message"].as_str().unwrap();
        let expected = body["error"]["details"]["fields"]["page_size"]
            .as_str()
            .unwrap();
        assert!(
            message.len() <= MAX_FIELD_TEXT + 2 + MAX_EXPECTED_TEXT,
            "{}",
            message.len()
        );
        assert!(expected.len() <= MAX_EXPECTED_TEXT && expected.ends_with('…'));
        assert!(
            expected.starts_with("invalid type: string \"xxx"),
            "{expected}"
        );
    }

    #[test]
    fn internal_errors_hide_their_cause() {
        let e = ApiError::internal("database password is hunter2");
        let body = serde_json::to_string(&e.body()).unwrap();
        assert!(!body.contains("hunter2"));
        assert!(body.contains("\"internal\""));
    }

    #[test]
    fn object_store_outages_answer_503() {
        let outage = object_store::Error::Generic {
            store: "S3",
            source: "connection refused".into(),
        };
        let e = ApiError::from(pybase_core::Error::Internal(Box::new(outage)));
        assert_eq!(e.status_code(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(e.code(), "unavailable");
        let body = serde_json::to_string(&e.body()).unwrap();
        assert!(!body.contains("connection refused"), "{body}");

        // A missing object under existing metadata is not an outage.
        let missing = object_store::Error::NotFound {
            path: "attachments/x".into(),
            source: "404".into(),
        };
        let e = ApiError::from(pybase_core::Error::Internal(Box::new(missing)));
        assert_eq!(e.status_code(), StatusCode::INTERNAL_SERVER_ERROR);
        // Neither is anything else internal.
        let e = ApiError::from(pybase_core::Error::Internal("boom".into()));
        assert_eq!(e.status_code(), StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[test]
    fn lost_concurrent_changes_answer_503_asking_for_a_retry() {
        let lost = pybase_core::StoreError::Contention {
            backend: "postgres",
            source: "deadlock detected on relation 12345".into(),
        };
        let e = ApiError::from(pybase_core::Error::from(lost));
        assert_eq!(e.status_code(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(e.code(), "unavailable");
        let body = serde_json::to_value(e.body()).unwrap();
        assert_eq!(body["error"]["message"], CONTENTION);
        assert!(!body.to_string().contains("12345"), "{body}");
        // The database being away keeps its own words.
        let away = pybase_core::StoreError::Unavailable {
            backend: "postgres",
            source: "connection refused".into(),
        };
        let body = ApiError::from(pybase_core::Error::from(away)).body();
        assert_eq!(
            body.error.message,
            "the database is unavailable; retry later"
        );
    }

    #[test]
    fn core_errors_map_to_statuses() {
        let cases = [
            (pybase_core::Error::Unauthorized("x".into()), 401),
            (pybase_core::Error::forbidden("x"), 403),
            (pybase_core::Error::not_found("table"), 404),
            (pybase_core::Error::invalid("Qty", "a number"), 422),
            (pybase_core::Error::BadRequest("x".into()), 400),
            (
                pybase_core::Error::RateLimited {
                    retry_after_secs: 3,
                },
                429,
            ),
        ];
        for (e, status) in cases {
            assert_eq!(ApiError::from(e).status_code().as_u16(), status);
        }
    }
}
