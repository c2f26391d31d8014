//! The OpenAPI 3.1 document (`/openapi.json`), Swagger UI (`/docs`, served
//! from the binary) and a ReDoc page (`/redoc`).

use axum::Router;
use axum::response::Html;
use axum::routing::get;
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, Flow, HttpAuthScheme, HttpBuilder, OAuth2, Password, Scopes,
    SecurityScheme,
};
use utoipa::{Modify, OpenApi};
use utoipa_swagger_ui::SwaggerUi;

use crate::routes;
use crate::state::AppState;

mod refine;
pub mod responses;

/// The API's description (title, security schemes' names, tags); the paths
/// and the schemas they use come from the route table
/// (`routes::declared`) in [`document`].
#[derive(OpenApi)]
#[openapi(
    info(
        title = "PyBase API",
        description = "Self-hosted Airtable alternative. Every error answers \
            `{\"error\":{\"code\",\"message\",\"details\"}}` with the status of its code.",
        license(name = "MIT OR Apache-2.0", identifier = "MIT OR Apache-2.0"),
    ),
    components(schemas(crate::error::ErrorBody, crate::error::ErrorDetail)),
    tags(
        (name = "health", description = "liveness of the server and its dependencies"),
        (name = "auth", description = "accounts, sessions and password resets"),
        (name = "api-keys", description = "the caller's API keys"),
        (name = "workspaces", description = "workspaces: the unit of membership"),
        (name = "members", description = "who may do what in a workspace"),
        (name = "bases", description = "groups of tables"),
        (name = "tables", description = "tables with fields and views"),
        (name = "fields", description = "typed columns"),
        (name = "views", description = "saved filters, sorts and field layouts"),
        (name = "records", description = "rows: create, query, update, upsert, delete"),
        (name = "attachments", description = "files in object storage"),
    )
)]
pub struct ApiDoc;

/// Adds the security schemes: bearer JWT or API key, `X-API-Key`, and the
/// OAuth2 password flow that Swagger UI's Authorize button uses.
struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("a JWT access token, or an API key (pbk_...)"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-API-Key",
                "an API key (pbk_...)",
            ))),
        );
        components.add_security_scheme(
            "oauth2",
            SecurityScheme::OAuth2(OAuth2::new([Flow::Password(Password::new(
                "/api/v1/auth/login",
                Scopes::new(),
            ))])),
        );
    }
}

/// Documents the errors every operation of a kind can answer, so clients
/// (and fuzzers checking conformance) see every status the server sends:
/// an operation with a JSON body can answer 400 (malformed JSON), 413 (too
/// large), 415 (wrong or missing content type) and 422 (wrong shape); one
/// with query parameters 400 (malformed query string) and 422 (a value out
/// of range, such as `page_size=0` or a foreign cursor).
struct CommonErrors;

impl CommonErrors {
    const BODY: &[(&str, &str)] = &[
        ("400", "malformed request: the body is not JSON"),
        ("413", "the body is larger than allowed"),
        (
            "415",
            "the body is missing or not of a supported content type",
        ),
        (
            "422",
            "validation failed; `details.fields` names each field",
        ),
    ];
    const QUERY: &[(&str, &str)] = &[
        ("400", "malformed query string"),
        (
            "422",
            "a query parameter is out of range; `details.fields` names it",
        ),
    ];

    fn add(op: &mut utoipa::openapi::path::Operation) {
        use utoipa::openapi::RefOr;
        use utoipa::openapi::path::ParameterIn;
        let has_query = op.parameters.iter().flatten().any(|p| match p {
            RefOr::T(p) => p.parameter_in == ParameterIn::Query,
            RefOr::Ref(_) => false,
        });
        let mut wanted: Vec<(&str, &str)> = Vec::new();
        if op.request_body.is_some() {
            wanted.extend_from_slice(Self::BODY);
        }
        if has_query {
            wanted.extend_from_slice(Self::QUERY);
        }
        for (status, description) in wanted {
            op.responses
                .responses
                .entry(status.to_owned())
                .or_insert_with(|| RefOr::T(responses::error_response(description)));
        }
    }
}

impl Modify for CommonErrors {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            for op in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ]
            .into_iter()
            .flatten()
            {
                Self::add(op);
            }
        }
    }
}

/// The document: the description, the operations of the route table with
/// the schemas they use, the security schemes and common errors, finished
/// by `refine::refine` with the rules the annotations cannot express.
pub fn document() -> serde_json::Value {
    let mut doc = ApiDoc::openapi();
    doc.merge(routes::declared(0).into_openapi());
    Security.modify(&mut doc);
    CommonErrors.modify(&mut doc);
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    let mut json = serde_json::to_value(&doc).unwrap_or_default();
    refine::refine(&mut json);
    json
}

/// The document as pretty JSON (`pybase-server openapi`).
pub fn document_json() -> serde_json::Result<String> {
    serde_json::to_string_pretty(&document())
}

/// `/openapi.json`, `/docs` and `/redoc`.
pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .merge(SwaggerUi::new("/docs").external_url_unchecked("/openapi.json", document()))
        .route("/redoc", get(redoc))
        .route("/redoc/redoc.standalone.js", get(redoc_script))
}

/// ReDoc's bundle (2.5.4, MIT), vendored so `/redoc` works offline.
const REDOC_JS: &[u8] = include_bytes!("../assets/redoc.standalone.js");

/// Serves the vendored ReDoc script, cacheable for a day.
async fn redoc_script() -> impl axum::response::IntoResponse {
    (
        [
            (
                axum::http::header::CONTENT_TYPE,
                "text/javascript; charset=utf-8",
            ),
            (axum::http::header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        REDOC_JS,
    )
}

/// A ReDoc page reading `/openapi.json`, with ReDoc served from the binary.
async fn redoc() -> Html<&'static str> {
    Html(
        r#"<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <title>PyBase API reference</title>
    <meta name="viewport" content="width=device-width, initial-scale=1">
  </head>
  <body>
    <redoc spec-url="/openapi.json"></redoc>
    <noscript>Enable JavaScript, or use the offline Swagger UI at <a href="/docs/">/docs</a>.</noscript>
    <script src="/redoc/redoc.standalone.js"></script>
  </body>
</html>
"#,
    )
}
