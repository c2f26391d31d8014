//! OpenAPI schemas of what the API reads and writes (feature `openapi`).
//!
//! The core types derive `utoipa::ToSchema` under this feature. This
//! module holds what a derive cannot state: the ids as patterned strings,
//! the string formats the facade and auth check (names, slugs,
//! descriptions, passwords, emails, from the same limits), the field-type
//! names from [`FieldType::NAMES`], and the JSON languages that inputs
//! carry as raw JSON (filters, sorts, field options, a view's
//! configuration). The types here are schemas only: core types name them
//! in `#[schema(value_type = ...)]` where a field is a plain `String` or
//! `Value` that the facade checks by hand.

use std::borrow::Cow;

use serde_json::{Value, json};
use utoipa::openapi::schema::{AdditionalProperties, Array, Object, OneOf, Schema, SchemaType};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{PartialSchema, ToSchema};

use crate::auth::{
    MAX_EMAIL_LEN, MAX_EMAIL_LOCAL_LEN, MAX_PASSWORD_CHARS, MAX_USER_NAME_CHARS, MIN_PASSWORD_CHARS,
};
use crate::facade::{MAX_DESCRIPTION_CHARS, MAX_NAME_CHARS};
use crate::fields::FieldType;
use crate::ids::{
    ApiKeyId, AttachmentId, BaseId, ChoiceId, FieldId, RecordId, TableId, UserId, ViewId,
    WebhookId, WorkspaceId,
};
use crate::model::{Field, Timestamp};
use crate::query::Op;

pub use crate::patterns::{BLANK_OR_CONTROL, CONTROL, NO_NUL, WHITESPACE, id_pattern};

/// The longest workspace slug.
const MAX_SLUG_CHARS: usize = 64;

/// A name: no control character, at least one character that is neither
/// whitespace nor control.
pub fn name_pattern() -> String {
    format!("^[^{CONTROL}]*[^{BLANK_OR_CONTROL}][^{CONTROL}]*$")
}

/// An email address as registration checks it.
pub fn email_pattern() -> String {
    let local = format!("[^@{BLANK_OR_CONTROL}]");
    let label = format!("[^@.{BLANK_OR_CONTROL}]+");
    format!(
        "^[{WHITESPACE}]*{local}{{1,{MAX_EMAIL_LOCAL_LEN}}}@{label}(\\.{label})+[{WHITESPACE}]*$"
    )
}

/// `schema` (OpenAPI JSON) as utoipa's model. The model's `Schema` is an
/// untagged enum that reads any JSON object as `Object`, dropping what an
/// object cannot hold, so arrays, `oneOf` and nested members are built
/// here by hand. Every schema of this module survives the trip whole (a
/// test checks each), so nothing is lost.
fn from_json(schema: Value) -> RefOr<Schema> {
    let Value::Object(mut m) = schema else {
        return RefOr::T(Schema::default());
    };
    if let Some(Value::String(location)) = m.get("$ref") {
        return RefOr::Ref(Ref::new(location.clone()));
    }
    if let Some(Value::Array(items)) = m.insert("oneOf".to_owned(), json!([])) {
        let mut one: OneOf = serde_json::from_value(Value::Object(m)).unwrap_or_default();
        one.items = items.into_iter().map(from_json).collect();
        return RefOr::T(Schema::OneOf(one));
    }
    if m.get("type") == Some(&json!("array")) {
        let items = m.remove("items").unwrap_or_else(|| json!({}));
        let mut array = Array::new(from_json(items));
        array.description = m
            .get("description")
            .and_then(Value::as_str)
            .map(str::to_owned);
        array.max_items = m.get("maxItems").and_then(Value::as_u64).map(to_usize);
        array.min_items = m.get("minItems").and_then(Value::as_u64).map(to_usize);
        return RefOr::T(Schema::Array(array));
    }
    // A schema without `type` allows any type; utoipa's `Object` needs one
    // to be read.
    let typed = m.contains_key("type");
    if !typed {
        m.insert("type".to_owned(), json!("object"));
    }
    let properties = m.remove("properties");
    let additional = m.remove("additionalProperties");
    let mut object: Object = serde_json::from_value(Value::Object(m)).unwrap_or_default();
    if !typed {
        object.schema_type = SchemaType::AnyValue;
    }
    if let Some(Value::Object(properties)) = properties {
        for (name, property) in properties {
            object.properties.insert(name, from_json(property));
        }
    }
    object.additional_properties = match additional {
        None => None,
        Some(Value::Bool(allowed)) => Some(Box::new(AdditionalProperties::FreeForm(allowed))),
        Some(other) => Some(Box::new(AdditionalProperties::RefOr(from_json(other)))),
    };
    RefOr::T(Schema::Object(object))
}

/// A JSON count as a `usize` (saturating on 32-bit targets).
fn to_usize(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

/// A string schema with a length range, a pattern and a description.
fn string(min: Option<usize>, max: usize, pattern: Option<String>, description: &str) -> Value {
    let mut s = json!({ "type": "string", "maxLength": max, "description": description });
    if let Some(min) = min {
        s["minLength"] = json!(min);
    }
    if let Some(p) = pattern {
        s["pattern"] = json!(p);
    }
    s
}

/// Implements the schema of each id type: a string with its pattern and an
/// example.
macro_rules! id_schemas {
    ($($id:ty),+ $(,)?) => {$(
        impl PartialSchema for $id {
            fn schema() -> RefOr<Schema> {
                from_json(id_json(<$id>::PREFIX, <$id>::KIND))
            }
        }

        impl ToSchema for $id {}
    )+};
}

/// "a" or "an", as `word` starts.
fn article(word: &str) -> &'static str {
    if word.starts_with(['a', 'e', 'i', 'o', 'u', 'A', 'E', 'I', 'O', 'U']) {
        "an"
    } else {
        "a"
    }
}

/// The JSON schema of an id with `prefix`, of the kind named `kind`.
fn id_json(prefix: &str, kind: &str) -> Value {
    json!({
        "type": "string",
        "description": format!("The id of {} {kind}: `{prefix}` and 14 letters or digits.", article(kind)),
        "pattern": id_pattern(prefix),
        "example": format!("{prefix}0AbCdEfGhIjKlM"),
    })
}

id_schemas!(
    UserId,
    WorkspaceId,
    BaseId,
    TableId,
    FieldId,
    ViewId,
    RecordId,
    AttachmentId,
    ApiKeyId,
    ChoiceId,
    WebhookId,
);

/// Declares schema-only types, each with its JSON schema.
macro_rules! schema_types {
    ($($(#[$doc:meta])* $name:ident => $schema:expr;)+) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct $name;

        impl $name {
            /// The schema as OpenAPI JSON.
            pub fn schema_json() -> Value {
                $schema
            }
        }

        impl PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                from_json(Self::schema_json())
            }
        }

        impl ToSchema for $name {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed(stringify!($name))
            }
        }
    )+};
}

schema_types! {
    /// A display name of a workspace, base, table, field or view.
    Name => string(
        Some(1),
        MAX_NAME_CHARS,
        Some(name_pattern()),
        "A display name: 1 to 255 characters, not only whitespace, no control characters \
         (U+0000 to U+001F, U+007F to U+009F); stored trimmed.",
    );
    /// The display name of a user or the name of an API key.
    UserName => string(
        Some(1),
        MAX_USER_NAME_CHARS,
        Some(name_pattern()),
        "The name of a user or an API key: 1 to 100 characters, not only whitespace, no \
         control characters; stored trimmed.",
    );
    /// A workspace slug.
    Slug => string(
        Some(1),
        MAX_SLUG_CHARS,
        Some("^[a-z0-9]+(-[a-z0-9]+)*$".to_owned()),
        "A workspace slug: lowercase ASCII letters and digits in groups joined by single \
         dashes, 1 to 64 characters; unique (409 otherwise).",
    );
    /// A description of a workspace, base, table or field.
    Description => string(
        None,
        MAX_DESCRIPTION_CHARS,
        Some(NO_NUL.to_owned()),
        "A description of at most 10000 characters, without NUL (U+0000); only \
         whitespace means none.",
    );
    /// A new password. (The server's document adds the common passwords
    /// it refuses as a `not` clause, which utoipa's model cannot hold.)
    NewPassword => string(
        Some(MIN_PASSWORD_CHARS),
        MAX_PASSWORD_CHARS,
        None,
        "A new password: 8 to 256 characters, not one of the well-known common passwords \
         (listed in `not`, compared ignoring case), and not the account's email (422 otherwise).",
    );
    /// An email address as registration checks it.
    NewEmail => {
        let mut s = string(
            None,
            MAX_EMAIL_LEN,
            Some(email_pattern()),
            "Email, unique ignoring case (stored lowercased and trimmed): at most 254 characters \
             as sent; trimmed, no whitespace or control characters, a local part of 1 to 64 \
             characters, `@`, then dot-separated non-empty labels (at least two).",
        );
        s["example"] = json!("ada@example.com");
        s
    };
    /// A field type's name, from the registry ([`FieldType::NAMES`]).
    FieldTypeName => json!({
        "type": "string",
        "description": "A field type.",
        "enum": FieldType::NAMES,
    });
    /// The filter language, recursive through `#/components/schemas/Filter`.
    Filter => filter_json();
    /// The sort language.
    Sort => sort_json();
    /// The options of a field type (the server's document states which
    /// members each type takes).
    FieldOptions => json!({
        "type": "object",
        "description": "The options of a field type; `NewField` states which members each type takes.",
    });
}

/// The filter language's schema.
fn filter_json() -> Value {
    let ops: Vec<&str> = Op::ALL.iter().map(|op| op.as_str()).collect();
    let group = |key: &str, inner: Value| {
        json!({
            "type": "object",
            "required": [key],
            "additionalProperties": false,
            "properties": { key: inner },
        })
    };
    let reference = json!({ "$ref": "#/components/schemas/Filter" });
    json!({
        "description": "A filter: `{\"and\":[..]}`, `{\"or\":[..]}`, `{\"not\":{..}}` or a condition \
            `{\"field\",\"op\",\"value\"}` (`value` is unused by `is_empty` and `is_not_empty`). At most \
            16 levels of nesting and 200 conditions. `field` is a name or id of one of the table's \
            fields, the operator must apply to its type and `value` must read as one of its cells \
            (422 otherwise).",
        "oneOf": [
            group("and", json!({ "type": "array", "items": reference })),
            group("or", json!({ "type": "array", "items": reference })),
            group("not", reference),
            {
                "type": "object",
                "required": ["field", "op"],
                "additionalProperties": false,
                "properties": {
                    "field": { "type": "string" },
                    "op": { "type": "string", "enum": ops },
                    "value": {},
                },
            },
        ],
    })
}

/// The sort language's schema.
fn sort_json() -> Value {
    json!({
        "description": "A sort: `\"-Price,Name\"` (comma-separated field names or ids, `-` before a \
            name for descending, `+` or nothing for ascending) or `[{\"field\",\"direction\"}]`; at \
            most 10 keys, each a field of the table (422 otherwise).",
        "oneOf": [
            { "type": "string" },
            {
                "type": "array",
                "maxItems": 10,
                "items": {
                    "type": "object",
                    "required": ["field"],
                    "properties": {
                        "field": { "type": "string" },
                        "direction": { "enum": ["asc", "desc", null] },
                    },
                },
            },
        ],
    })
}

/// A view's configuration as a client writes it (the facade reads it from
/// raw JSON). Field references are names or ids of the table's fields
/// (422 naming the one that is not).
#[derive(Debug, Clone, utoipa::ToSchema)]
#[schema(
    as = ViewConfig,
    description = "A view's configuration. Field references are names or ids of the table's \
                   fields (422 naming the one that is not)."
)]
#[serde(deny_unknown_fields)]
pub struct ViewConfigInput {
    /// Records shown must match this.
    pub filter: Option<Filter>,
    /// Order of the records.
    pub sort: Option<Sort>,
    /// Fields not shown.
    pub hidden_fields: Option<Vec<String>>,
    /// Order of the shown fields.
    pub field_order: Option<Vec<String>>,
}

/// How a [`Field`] serialises (by hand, with its type's name and options
/// as members): the schema behind `Field`'s `ToSchema`.
#[derive(utoipa::ToSchema)]
#[schema(as = Field, description = "A typed column of a table.")]
#[allow(dead_code)]
struct FieldJson {
    /// Id.
    id: FieldId,
    /// Owning table.
    table_id: TableId,
    /// Name, unique in the table ignoring case.
    name: String,
    /// Type name.
    #[schema(rename = "type", example = "number")]
    field_type: FieldTypeName,
    /// Type options, e.g. `{"precision":2}`.
    #[schema(value_type = Object)]
    options: Value,
    /// Optional description.
    description: Option<String>,
    /// Order among the table's fields.
    position: i64,
    /// Whether the backends keep an index on this field's cells.
    indexed: bool,
    /// Who decided `indexed`: `manual` (as declared), `automatic` (PyBase
    /// indexed it because views or repeated queries filter or sort by it)
    /// or `declined` (turned off by hand; PyBase leaves it off).
    index_origin: crate::model::IndexOrigin,
    /// `ready`, or `computing` while a computed field of a large table is
    /// filled in the background (its cells read as empty until then).
    status: crate::model::FieldStatus,
    /// Creation time.
    #[schema(value_type = String, format = DateTime)]
    created_at: Timestamp,
    /// Last change time.
    #[schema(value_type = String, format = DateTime)]
    updated_at: Timestamp,
}

impl PartialSchema for Field {
    fn schema() -> RefOr<Schema> {
        FieldJson::schema()
    }
}

impl ToSchema for Field {
    fn name() -> Cow<'static, str> {
        FieldJson::name()
    }

    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        FieldJson::schemas(schemas);
    }
}

/// An uploaded file as the API shows it ([`attachment_json`](crate::facade::attachment_json)): the
/// metadata without the storage key, and where the bytes are served.
#[derive(Debug, Clone, utoipa::ToSchema)]
#[schema(as = Attachment, description = "An uploaded file's metadata.")]
pub struct AttachmentJson {
    /// Id.
    pub id: AttachmentId,
    /// Original file name.
    pub filename: String,
    /// MIME type.
    pub content_type: String,
    /// Size in bytes.
    pub size: u64,
    /// Lowercase hex SHA-256 of the bytes.
    pub sha256: String,
    /// Where the bytes are served.
    #[schema(example = "/api/v1/attachments/att0AbCdEfGhIjKlM/content")]
    pub url: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The JSON of `T`'s schema as utoipa writes it.
    fn written<T: PartialSchema>() -> Value {
        serde_json::to_value(T::schema()).unwrap()
    }

    #[test]
    fn every_schema_survives_utoipa_whole() {
        for (name, wanted, got) in [
            ("Name", Name::schema_json(), written::<Name>()),
            ("UserName", UserName::schema_json(), written::<UserName>()),
            ("Slug", Slug::schema_json(), written::<Slug>()),
            (
                "Description",
                Description::schema_json(),
                written::<Description>(),
            ),
            (
                "NewPassword",
                NewPassword::schema_json(),
                written::<NewPassword>(),
            ),
            ("NewEmail", NewEmail::schema_json(), written::<NewEmail>()),
            (
                "FieldTypeName",
                FieldTypeName::schema_json(),
                written::<FieldTypeName>(),
            ),
            ("Filter", Filter::schema_json(), written::<Filter>()),
            ("Sort", Sort::schema_json(), written::<Sort>()),
            (
                "FieldOptions",
                FieldOptions::schema_json(),
                written::<FieldOptions>(),
            ),
            ("RecordId", id_json("rec", "record"), written::<RecordId>()),
        ] {
            assert_eq!(got, wanted, "{name} lost something in utoipa's model");
        }
    }

    /// Whether a string parses as an id of one kind.
    type Parses = fn(&str) -> bool;

    /// Checks the schema of the id type `T`: named after the type, its
    /// pattern names its prefix, and its example parses as `T` and as no
    /// other kind.
    fn check_id<T: ToSchema>(prefix: &str, parse: Parses, others: &[Parses]) {
        let schema = written::<T>();
        assert!(T::name().ends_with("Id"), "{}", T::name());
        assert_eq!(schema["pattern"], json!(id_pattern(prefix)));
        let example = schema["example"].as_str().unwrap();
        assert!(parse(example), "{example}");
        assert_eq!(
            others.iter().filter(|other| other(example)).count(),
            0,
            "{example}"
        );
    }

    #[test]
    fn id_examples_parse_as_their_kind_only() {
        let parsers: [(&str, Parses); 11] = [
            (UserId::PREFIX, |s| UserId::parse(s).is_ok()),
            (WorkspaceId::PREFIX, |s| WorkspaceId::parse(s).is_ok()),
            (BaseId::PREFIX, |s| BaseId::parse(s).is_ok()),
            (TableId::PREFIX, |s| TableId::parse(s).is_ok()),
            (FieldId::PREFIX, |s| FieldId::parse(s).is_ok()),
            (ViewId::PREFIX, |s| ViewId::parse(s).is_ok()),
            (RecordId::PREFIX, |s| RecordId::parse(s).is_ok()),
            (AttachmentId::PREFIX, |s| AttachmentId::parse(s).is_ok()),
            (ApiKeyId::PREFIX, |s| ApiKeyId::parse(s).is_ok()),
            (ChoiceId::PREFIX, |s| ChoiceId::parse(s).is_ok()),
            (WebhookId::PREFIX, |s| WebhookId::parse(s).is_ok()),
        ];
        let others = |prefix: &str| -> Vec<Parses> {
            parsers
                .iter()
                .filter(|(p, _)| *p != prefix)
                .map(|(_, f)| *f)
                .collect()
        };
        let parse = |prefix: &str| parsers.iter().find(|(p, _)| *p == prefix).unwrap().1;
        check_id::<UserId>("usr", parse("usr"), &others("usr"));
        check_id::<WorkspaceId>("wsp", parse("wsp"), &others("wsp"));
        check_id::<BaseId>("app", parse("app"), &others("app"));
        check_id::<TableId>("tbl", parse("tbl"), &others("tbl"));
        check_id::<FieldId>("fld", parse("fld"), &others("fld"));
        check_id::<ViewId>("viw", parse("viw"), &others("viw"));
        check_id::<RecordId>("rec", parse("rec"), &others("rec"));
        check_id::<AttachmentId>("att", parse("att"), &others("att"));
        check_id::<ApiKeyId>("key", parse("key"), &others("key"));
        check_id::<ChoiceId>("sel", parse("sel"), &others("sel"));
        check_id::<WebhookId>("ach", parse("ach"), &others("ach"));
    }

    #[test]
    fn field_type_names_come_from_the_registry() {
        let names = written::<FieldTypeName>()["enum"].clone();
        assert_eq!(names, json!(FieldType::NAMES));
    }
}
