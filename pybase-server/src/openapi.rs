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

/// The API description, gathered from the handlers' annotations.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "PyBase API",
        description = "Self-hosted Airtable alternative. Every error answers \
            `{\"error\":{\"code\",\"message\",\"details\"}}` with the status of its code.",
        license(name = "MIT OR Apache-2.0", identifier = "MIT OR Apache-2.0"),
    ),
    paths(
        crate::health::handler,
        routes::auth::register, routes::auth::login, routes::auth::refresh, routes::auth::logout,
        routes::auth::me, routes::auth::update_me, routes::auth::change_password,
        routes::auth::reset_request, routes::auth::reset_confirm,
        routes::api_keys::create, routes::api_keys::list, routes::api_keys::remove,
        routes::workspaces::create, routes::workspaces::list, routes::workspaces::get_one,
        routes::workspaces::update, routes::workspaces::delete,
        routes::workspaces::list_members, routes::workspaces::add_member,
        routes::workspaces::update_member, routes::workspaces::remove_member,
        routes::bases::create, routes::bases::list, routes::bases::get_one,
        routes::bases::update, routes::bases::delete,
        routes::tables::create, routes::tables::list, routes::tables::get_one,
        routes::tables::update, routes::tables::delete,
        routes::fields::create, routes::fields::list, routes::fields::get_one,
        routes::fields::update, routes::fields::delete,
        routes::views::create, routes::views::list, routes::views::get_one,
        routes::views::update, routes::views::delete,
        routes::records::create, routes::records::list, routes::records::query,
        routes::records::get_one, routes::records::update, routes::records::replace,
        routes::records::batch_update, routes::records::delete, routes::records::batch_delete,
        routes::records::restore,
        routes::attachments::upload, routes::attachments::metadata, routes::attachments::content,
    ),
    components(schemas(crate::error::ErrorBody, crate::error::ErrorDetail)),
    modifiers(&Security, &CommonErrors),
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

/// The document: what the annotations say, finished by `refine::refine`
/// with the rules they cannot express.
pub fn document() -> serde_json::Value {
    let mut doc = ApiDoc::openapi();
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

/// Documentation-only schemas of the JSON that core types read and write.
///
/// Core's types stay free of OpenAPI derives; these mirror their JSON.
pub mod schemas {
    #![allow(dead_code)]

    use serde_json::Value;
    use utoipa::ToSchema;

    /// A workspace role, highest first: owner > admin > editor > viewer.
    #[derive(ToSchema)]
    #[schema(rename_all = "snake_case")]
    pub enum Role {
        /// Reads everything in the workspace.
        Viewer,
        /// Plus records and attachments.
        Editor,
        /// Plus schema and members below owner.
        Admin,
        /// Plus workspace settings, deletion and owners.
        Owner,
    }

    /// What an API key may do (intersected with its user's role).
    #[derive(ToSchema)]
    #[schema(rename_all = "snake_case")]
    pub enum Scope {
        /// Read workspaces, schema and records.
        Read,
        /// Create, update and delete records; upload attachments.
        Write,
        /// Change bases, tables, fields and views.
        Schema,
        /// Manage members and workspace settings.
        Admin,
    }

    /// A person who can sign in; never carries a password hash.
    #[derive(ToSchema)]
    pub struct User {
        /// `usr` id.
        #[schema(example = "usr0AbCdEfGhIjKlM")]
        id: String,
        /// Lowercased email.
        email: String,
        /// Display name.
        name: String,
        /// RFC 3339 UTC.
        created_at: String,
        /// RFC 3339 UTC.
        updated_at: String,
    }

    /// `POST /auth/register` body. Other members are ignored.
    #[derive(ToSchema)]
    pub struct Register {
        /// Email, unique ignoring case (stored lowercased): at most 254
        /// characters, no whitespace or control characters, one `@` after a
        /// local part of 1 to 64 characters, then dot-separated labels.
        #[schema(
            max_length = 254,
            pattern = r"^[^@\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]{1,64}@[^@.\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+(\.[^@.\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000])+$",
            example = "ada@example.com"
        )]
        email: String,
        /// A new password.
        password: NewPassword,
        /// Display name.
        name: UserName,
    }

    /// OAuth2 password form. Other members are ignored.
    #[derive(ToSchema)]
    pub struct LoginForm {
        /// The email (any case).
        #[schema(max_length = 254)]
        username: String,
        /// The password.
        #[schema(max_length = 256)]
        password: String,
    }

    /// A signed-in session.
    #[derive(ToSchema)]
    pub struct Session {
        /// The user.
        user: User,
        /// JWT access token.
        access_token: String,
        /// JWT refresh token (single use).
        refresh_token: String,
        /// Always `bearer`.
        #[schema(example = "bearer")]
        token_type: String,
        /// Seconds until the access token expires.
        expires_in: i64,
    }

    /// `POST /api-keys` body. Other members are ignored.
    #[derive(ToSchema)]
    pub struct NewApiKey {
        /// Display name.
        name: UserName,
        /// Scopes (duplicates count once); absent or `null` means all the
        /// caller has. A key acting here cannot grant scopes it lacks (403).
        #[schema(min_items = 1)]
        scopes: Option<Vec<Scope>>,
        /// Workspace ids the key is limited to (duplicates count once);
        /// absent or `null` means all the caller sees.
        #[schema(min_items = 1)]
        workspaces: Option<Vec<WorkspaceId>>,
        /// Optional expiry, an RFC 3339 time in the future; a key acting
        /// here cannot create a key that outlives it (403).
        #[schema(format = DateTime)]
        expires_at: Option<String>,
    }

    /// A workspace id: `wsp` and 14 letters or digits.
    #[derive(ToSchema)]
    pub struct WorkspaceId(String);

    /// A display name of a workspace, base, table, field or view: 1 to 255
    /// characters, not only whitespace, no control characters (U+0000 to
    /// U+001F, U+007F to U+009F); stored trimmed.
    #[derive(ToSchema)]
    pub struct Name(String);

    /// The display name of a user or the name of an API key: 1 to 100
    /// characters, not only whitespace, no control characters; stored
    /// trimmed.
    #[derive(ToSchema)]
    pub struct UserName(String);

    /// A workspace slug: lowercase ASCII letters and digits in groups
    /// joined by single dashes, 1 to 64 characters.
    #[derive(ToSchema)]
    pub struct Slug(String);

    /// A description: at most 10000 characters; only whitespace means none.
    #[derive(ToSchema)]
    pub struct Description(String);

    /// A new password: 8 to 256 characters, not one of the well-known
    /// common passwords (listed here in lowercase, compared ignoring case),
    /// and not the account's email.
    #[derive(ToSchema)]
    pub struct NewPassword(String);

    /// An API key without its secret.
    #[derive(ToSchema)]
    pub struct ApiKey {
        /// `key` id.
        id: String,
        /// Owner.
        user_id: String,
        /// Display name.
        name: String,
        /// Non-secret leading characters of the key.
        prefix: String,
        /// Scopes.
        scopes: Vec<Scope>,
        /// Workspaces it is limited to; `null` means all.
        workspaces: Option<Vec<String>>,
        /// RFC 3339.
        created_at: String,
        /// RFC 3339, or `null`.
        expires_at: Option<String>,
        /// RFC 3339, or `null`.
        last_used_at: Option<String>,
    }

    /// A new API key with its secret, shown only once.
    #[derive(ToSchema)]
    pub struct ApiKeyCreated {
        /// The metadata, at the top level beside `key`.
        #[serde(flatten)]
        meta: ApiKey,
        /// The secret, `pbk_...`.
        key: String,
    }

    /// A page of API keys.
    #[derive(ToSchema)]
    pub struct ApiKeyPage {
        /// Items.
        items: Vec<ApiKey>,
        /// Next page cursor or `null`.
        next_cursor: Option<String>,
    }

    /// A workspace, with the caller's role.
    #[derive(ToSchema)]
    pub struct Workspace {
        /// `wsp` id.
        id: String,
        /// Display name.
        name: String,
        /// Unique URL-friendly name.
        slug: String,
        /// Optional description.
        description: Option<String>,
        /// The caller's role.
        role: Role,
        /// RFC 3339.
        created_at: String,
        /// RFC 3339.
        updated_at: String,
    }

    /// `POST /workspaces` body.
    #[derive(ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct NewWorkspace {
        /// Display name.
        name: Name,
        /// Unique slug; derived from the name when absent or `null`.
        slug: Option<Slug>,
        /// Optional description.
        description: Option<Description>,
    }

    /// `PATCH /workspaces/{id}` body; absent (or `null`) members stay.
    #[derive(ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct WorkspacePatch {
        /// New name.
        name: Option<Name>,
        /// New slug (409 when taken).
        slug: Option<Slug>,
        /// New description; `null` clears it.
        description: Option<Description>,
    }

    /// A page of workspaces.
    #[derive(ToSchema)]
    pub struct WorkspacePage {
        /// Items.
        items: Vec<Workspace>,
        /// Next page cursor or `null`.
        next_cursor: Option<String>,
    }

    /// A member of a workspace.
    #[derive(ToSchema)]
    pub struct Member {
        /// The user.
        user: User,
        /// Their role.
        role: Role,
        /// When they joined.
        created_at: String,
    }

    /// `POST /workspaces/{id}/members` body.
    #[derive(ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct NewMember {
        /// Email of a registered user (any case); 404 when there is none.
        email: String,
        /// Role to grant (only owners grant `owner`).
        role: Role,
    }

    /// A page of members.
    #[derive(ToSchema)]
    pub struct MemberPage {
        /// Items.
        items: Vec<Member>,
        /// Next page cursor or `null`.
        next_cursor: Option<String>,
    }

    /// A base: a group of tables.
    #[derive(ToSchema)]
    pub struct Base {
        /// `app` id.
        id: String,
        /// Owning workspace.
        workspace_id: String,
        /// Display name.
        name: String,
        /// Optional description.
        description: Option<String>,
        /// RFC 3339.
        created_at: String,
        /// RFC 3339.
        updated_at: String,
    }

    /// `POST /workspaces/{id}/bases` body.
    #[derive(ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct NewBase {
        /// Display name.
        name: Name,
        /// Optional description.
        description: Option<Description>,
    }

    /// `PATCH /bases/{id}` body; absent (or `null`) members stay.
    #[derive(ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct BasePatch {
        /// New name.
        name: Option<Name>,
        /// New description; `null` clears it.
        description: Option<Description>,
    }

    /// A page of bases.
    #[derive(ToSchema)]
    pub struct BasePage {
        /// Items.
        items: Vec<Base>,
        /// Next page cursor or `null`.
        next_cursor: Option<String>,
    }

    /// A table.
    #[derive(ToSchema)]
    pub struct Table {
        /// `tbl` id.
        id: String,
        /// Owning base.
        base_id: String,
        /// Workspace of the base.
        workspace_id: String,
        /// Display name.
        name: String,
        /// Optional description.
        description: Option<String>,
        /// The field naming records.
        primary_field_id: Option<String>,
        /// Order among the base's tables.
        position: i64,
        /// RFC 3339.
        created_at: String,
        /// RFC 3339.
        updated_at: String,
    }

    /// A table with its fields and views.
    #[derive(ToSchema)]
    pub struct TableSchema {
        /// `tbl` id.
        id: String,
        /// Owning base.
        base_id: String,
        /// Workspace of the base.
        workspace_id: String,
        /// Display name.
        name: String,
        /// Optional description.
        description: Option<String>,
        /// The field naming records.
        primary_field_id: Option<String>,
        /// Order among the base's tables.
        position: i64,
        /// Fields by position.
        fields: Vec<Field>,
        /// Views by position.
        views: Vec<View>,
        /// RFC 3339.
        created_at: String,
        /// RFC 3339.
        updated_at: String,
    }

    /// `POST /bases/{id}/tables` body. `primary_field` and
    /// `primary_field_id` are one member under two names: give at most one.
    #[derive(ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct NewTable {
        /// Display name.
        name: Name,
        /// Optional description.
        description: Option<Description>,
        /// Initial fields, names unique ignoring case (409 otherwise); a
        /// table created without fields gets a text field "Name". The first
        /// is primary unless `primary_field` names another.
        #[serde(default)]
        fields: Vec<NewField>,
        /// Name of the primary field among `fields`.
        primary_field: Option<String>,
        /// Same as `primary_field`.
        primary_field_id: Option<String>,
    }

    /// `PATCH /tables/{id}` body; absent (or `null`) members stay.
    /// `primary_field_id` and `primary_field` are one member under two
    /// names: give at most one.
    #[derive(ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct TablePatch {
        /// New name.
        name: Option<Name>,
        /// New description; `null` clears it.
        description: Option<Description>,
        /// New primary field (id or name of one of the table's fields).
        primary_field_id: Option<String>,
        /// Same as `primary_field_id`.
        primary_field: Option<String>,
    }

    /// A page of tables.
    #[derive(ToSchema)]
    pub struct TablePage {
        /// Items.
        items: Vec<Table>,
        /// Next page cursor or `null`.
        next_cursor: Option<String>,
    }

    /// A typed column.
    #[derive(ToSchema)]
    pub struct Field {
        /// `fld` id.
        id: String,
        /// Owning table.
        table_id: String,
        /// Name, unique in the table ignoring case.
        name: String,
        /// Type: text, long_text, email, url, phone, number, currency,
        /// percent, rating, duration, checkbox, single_select, multi_select,
        /// date, datetime, attachment, link, autonumber, created_time,
        /// updated_time, created_by, updated_by.
        #[schema(rename = "type", example = "number")]
        field_type: String,
        /// Type options, e.g. `{"precision":2}`.
        options: Value,
        /// Optional description.
        description: Option<String>,
        /// Order among the table's fields.
        position: i64,
        /// Whether the backends index its cells.
        indexed: bool,
        /// RFC 3339.
        created_at: String,
        /// RFC 3339.
        updated_at: String,
    }

    /// `POST /tables/{id}/fields` body. The options a type takes are
    /// stated per type (see `FieldOptions`).
    #[derive(ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct NewField {
        /// Name, unique in the table ignoring case (409 otherwise).
        name: Name,
        /// Type name.
        #[schema(rename = "type", example = "number")]
        field_type: FieldTypeName,
        /// Type options; `null` or absent means the type's defaults.
        options: Option<FieldOptions>,
        /// Optional description.
        description: Option<Description>,
        /// Keep an index on the cells.
        #[serde(default)]
        indexed: bool,
    }

    /// `PATCH /fields/{id}` body; absent (or `null`) members stay. A new
    /// type takes the options stated for it (see `FieldOptions`).
    #[derive(ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct FieldPatch {
        /// New name (data is kept).
        name: Option<Name>,
        /// New type; every cell is converted, or the change fails with 422
        /// naming the cells that do not convert.
        #[schema(rename = "type")]
        field_type: Option<FieldTypeName>,
        /// New options (for the new type, if it changes; else for the
        /// field's current type).
        options: Option<FieldOptions>,
        /// New description; `null` clears it.
        description: Option<Description>,
        /// Keep an index on the cells.
        indexed: Option<bool>,
    }

    /// A field type.
    #[derive(ToSchema)]
    #[schema(rename_all = "snake_case")]
    pub enum FieldTypeName {
        /// Single-line text (`max_length`).
        Text,
        /// Multi-line text.
        LongText,
        /// An email address.
        Email,
        /// An http(s) URL.
        Url,
        /// A phone number.
        Phone,
        /// A number (`precision`).
        Number,
        /// Money (`symbol`, `precision`).
        Currency,
        /// A fraction shown as a percentage (`precision`).
        Percent,
        /// An integer from 1 to `max`.
        Rating,
        /// Seconds (`format`).
        Duration,
        /// A boolean.
        Checkbox,
        /// One of `choices`.
        SingleSelect,
        /// Some of `choices`.
        MultiSelect,
        /// A calendar date.
        Date,
        /// An instant (`timezone`).
        Datetime,
        /// Uploaded files.
        Attachment,
        /// Records of a table of the same base (`linked_table_id`, `allow_multiple`).
        Link,
        /// Computed: a sequence number.
        Autonumber,
        /// Computed: creation time.
        CreatedTime,
        /// Computed: last change time.
        UpdatedTime,
        /// Computed: creator.
        CreatedBy,
        /// Computed: last editor.
        UpdatedBy,
    }

    /// A page of fields.
    #[derive(ToSchema)]
    pub struct FieldPage {
        /// Items.
        items: Vec<Field>,
        /// Next page cursor or `null`.
        next_cursor: Option<String>,
    }

    /// A saved view of a table.
    #[derive(ToSchema)]
    pub struct View {
        /// `viw` id.
        id: String,
        /// Owning table.
        table_id: String,
        /// Name.
        name: String,
        /// Always `grid`.
        #[schema(rename = "type", example = "grid")]
        view_type: String,
        /// `{"filter","sort","hidden_fields","field_order"}`.
        config: Value,
        /// Order among the table's views.
        position: i64,
        /// RFC 3339.
        created_at: String,
        /// RFC 3339.
        updated_at: String,
    }

    /// `POST /tables/{id}/views` body.
    #[derive(ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct NewView {
        /// Name.
        name: Name,
        /// The only view type; absent or `null` means `grid`.
        #[schema(rename = "type")]
        view_type: Option<ViewType>,
        /// Filter, sort and layout; `null` or absent means none.
        config: Option<ViewConfig>,
    }

    /// `PATCH /views/{id}` body; absent (or `null`) members stay.
    #[derive(ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct ViewPatch {
        /// New name.
        name: Option<Name>,
        /// New configuration (replaces the old one).
        config: Option<ViewConfig>,
    }

    /// A filter: `{"and":[..]}`, `{"or":[..]}`, `{"not":{..}}` or a
    /// condition `{"field","op","value"}` (`value` unused by `is_empty` and
    /// `is_not_empty`). At most 16 levels of nesting and 200 conditions; the
    /// operator must apply to the field's type and `value` must read as a
    /// cell of the field. (The schema is written in `refine`.)
    #[derive(ToSchema)]
    pub struct Filter(Value);

    /// A sort: `"-Price,Name"` (comma separated, `-` for descending, `+`
    /// or nothing for ascending) or `[{"field","direction"}]`; at most 10
    /// keys. (The schema is written in `refine`.)
    #[derive(ToSchema)]
    pub struct Sort(Value);

    /// The options of a field type; which members a type takes is stated
    /// in `NewField` per type. (The schema is written in `refine`.)
    #[derive(ToSchema)]
    pub struct FieldOptions(Value);

    /// How a record's cells are keyed in answers.
    #[derive(ToSchema)]
    #[schema(rename_all = "snake_case")]
    pub enum FieldKeyName {
        /// By field name (the default).
        Name,
        /// By field id.
        Id,
    }

    /// A view type.
    #[derive(ToSchema)]
    #[schema(rename_all = "snake_case")]
    pub enum ViewType {
        /// Rows and columns.
        Grid,
    }

    /// A view's configuration. Field references are names or ids of the
    /// table's fields (422 naming the one that is not).
    #[derive(ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct ViewConfig {
        /// Records shown must match this.
        filter: Option<Filter>,
        /// Order of the records.
        sort: Option<Sort>,
        /// Fields not shown.
        hidden_fields: Option<Vec<String>>,
        /// Order of the shown fields.
        field_order: Option<Vec<String>>,
    }

    /// A page of views.
    #[derive(ToSchema)]
    pub struct ViewPage {
        /// Items.
        items: Vec<View>,
        /// Next page cursor or `null`.
        next_cursor: Option<String>,
    }

    /// A record.
    #[derive(ToSchema)]
    pub struct Record {
        /// `rec` id.
        id: String,
        /// RFC 3339.
        created_time: String,
        /// RFC 3339.
        updated_time: String,
        /// Creator's user id.
        created_by: Option<String>,
        /// Non-empty cells keyed by field name (or id with `field_key=id`).
        fields: Value,
        /// Set on soft-deleted records (with `include_deleted`).
        deleted_time: Option<String>,
    }

    /// Records of a batch.
    #[derive(ToSchema)]
    pub struct RecordList {
        /// The records, in input order.
        records: Vec<Record>,
    }

    /// One record (for `fields`) or a batch (for `records`).
    #[derive(ToSchema)]
    #[serde(untagged)]
    pub enum RecordOrRecords {
        /// One record.
        One(Record),
        /// A batch.
        Many(RecordList),
    }

    /// A page of records.
    #[derive(ToSchema)]
    pub struct RecordsPage {
        /// The records.
        records: Vec<Record>,
        /// Next page cursor or `null`.
        next_cursor: Option<String>,
    }

    /// `POST /tables/{id}/records/query` body. Field references are names
    /// or ids of the table's fields (422 naming the one that is not).
    #[derive(ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct QueryBody {
        /// Records returned must match this.
        filter: Option<Filter>,
        /// Order of the records (ties by record id).
        sort: Option<Sort>,
        /// Only these fields.
        fields: Option<Vec<String>>,
        /// 1 to 1000 (default 100).
        #[schema(minimum = 1, maximum = 1000)]
        page_size: Option<u32>,
        /// `next_cursor` of the previous page of this same query.
        #[schema(pattern = "^[A-Za-z0-9_-]+$")]
        cursor: Option<String>,
        /// View id or name: its filter (ANDed) and sort (unless `sort` is
        /// given) apply.
        view: Option<String>,
        /// Include soft-deleted records.
        #[serde(default)]
        include_deleted: bool,
    }

    /// What a batch update or upsert answers (`created_records` and
    /// `updated_records` only for upserts).
    #[derive(ToSchema)]
    pub struct UpsertResult {
        /// Every input record as stored, in input order.
        records: Vec<Record>,
        /// Ids created (upsert only).
        created_records: Option<Vec<String>>,
        /// Ids updated (upsert only).
        updated_records: Option<Vec<String>>,
    }

    /// One deleted record.
    #[derive(ToSchema)]
    pub struct DeletedRecord {
        /// Its id.
        id: String,
        /// Always `true`.
        deleted: bool,
    }

    /// What a batch delete answers.
    #[derive(ToSchema)]
    pub struct DeletedRecords {
        /// The records deleted.
        records: Vec<DeletedRecord>,
    }

    /// An uploaded file's metadata.
    #[derive(ToSchema)]
    pub struct Attachment {
        /// `att` id.
        id: String,
        /// Original file name.
        filename: String,
        /// MIME type.
        content_type: String,
        /// Bytes.
        size: u64,
        /// Lowercase hex SHA-256.
        sha256: String,
        /// Where the bytes are served.
        #[schema(example = "/api/v1/attachments/att0AbCdEfGhIjKlM/content")]
        url: String,
    }

    /// A multipart upload.
    #[derive(ToSchema)]
    pub struct Upload {
        /// The file.
        #[schema(format = Binary, content_media_type = "application/octet-stream")]
        file: String,
    }

    /// The bytes of a stored file, served with the content type it was
    /// uploaded with.
    #[derive(ToSchema)]
    #[schema(value_type = String, format = Binary)]
    pub struct FileBytes(Vec<u8>);
}
