//! The `/v0` OpenAPI document, its own (the main one's path parameters are
//! all ids, while `/v0` takes table and field names): served at
//! `/openapi/v0.json`, generated from the `/v0` route declarations.

use std::collections::BTreeMap;

use axum::Router;
use axum::routing::get;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response, ResponseBuilder};
use utoipa::{IntoResponses, Modify, OpenApi, ToSchema};

use crate::extract::Json;
use crate::state::AppState;

/// Airtable's error body: `{"error":{"type","message"}}` (an unknown route
/// answers `{"error":"NOT_FOUND"}`).
#[derive(Debug, ToSchema)]
#[allow(dead_code)] // documents the shape `V0Error::body` writes
pub struct V0ErrorBody {
    /// The error.
    error: V0ErrorDetail,
}

/// What went wrong.
#[derive(Debug, ToSchema)]
#[allow(dead_code)] // documents the shape `V0Error::body` writes
pub struct V0ErrorDetail {
    /// Airtable's error type, e.g. `UNKNOWN_FIELD_NAME`.
    #[schema(example = "UNKNOWN_FIELD_NAME")]
    r#type: String,
    /// For people.
    message: String,
}

/// The errors every `/v0` operation can answer.
pub(crate) struct V0Errors;

impl IntoResponses for V0Errors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        [
            ("400", "INVALID_REQUEST_BODY: the body is not a JSON object"),
            ("401", "AUTHENTICATION_REQUIRED"),
            (
                "403",
                "INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND (unknown or invisible base or table) or \
                 INVALID_PERMISSIONS (role or key scope too low)",
            ),
            ("404", "MODEL_ID_NOT_FOUND (record) or NOT_FOUND (route)"),
            ("413", "REQUEST_TOO_LARGE"),
            (
                "422",
                "INVALID_REQUEST_UNKNOWN, INVALID_REQUEST_MISSING_FIELDS, INVALID_RECORDS, \
                 UNKNOWN_FIELD_NAME, INVALID_VALUE_FOR_COLUMN, INVALID_MULTIPLE_CHOICE_OPTIONS, \
                 ROW_DOES_NOT_EXIST, INVALID_FILTER_BY_FORMULA, VIEW_NAME_NOT_FOUND, \
                 LIST_RECORDS_ITERATOR_NOT_AVAILABLE, DUPLICATE_OR_EMPTY_FIELD_NAME",
            ),
            ("429", "RATE_LIMIT_REACHED, with Retry-After"),
            ("500", "SERVER_ERROR"),
            ("503", "RETRIABLE_ERROR"),
        ]
        .into_iter()
        .map(|(status, description)| {
            let response = ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("V0ErrorBody")))
                        .build(),
                )
                .build();
            (status.to_owned(), RefOr::T(response))
        })
        .collect()
    }
}

/// The document's description; the paths come from [`super::declared`].
#[derive(OpenApi)]
#[openapi(
    info(
        title = "PyBase Airtable-compatible API (/v0)",
        description = "Airtable's Web API shape, so that pyairtable and airtable.js work \
            unchanged (`Api(key, endpoint_url=ROOT)`, `new Airtable({apiKey, endpointUrl: ROOT})`). \
            Authenticate with a PyBase API key or access token as a bearer token. Every error \
            answers `{\"error\":{\"type\",\"message\"}}`. See docs/AIRTABLE.md.",
        license(name = "MIT OR Apache-2.0", identifier = "MIT OR Apache-2.0"),
    ),
    components(schemas(V0ErrorBody, V0ErrorDetail)),
    tags(
        (name = "records", description = "list, get, create, update, upsert and delete records"),
        (name = "meta", description = "whoami, bases, base schema, tables and fields"),
        (name = "webhooks", description = "webhooks on a base's changes: payloads and signed pings"),
    )
)]
struct V0Doc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("a PyBase API key (pbk_...) or JWT access token"))
                    .build(),
            ),
        );
    }
}

/// The `/v0` document.
pub fn document() -> serde_json::Value {
    let mut doc = V0Doc::openapi();
    doc.merge(super::declared().into_openapi());
    Security.modify(&mut doc);
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    serde_json::to_value(&doc).unwrap_or_default()
}

/// `/openapi/v0.json`.
pub(crate) fn router() -> Router<AppState> {
    Router::new().route("/openapi/v0.json", get(|| async { Json(document()) }))
}
