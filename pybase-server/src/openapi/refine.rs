//! What the annotations cannot say: the document is finished as JSON.
//!
//! utoipa writes the schemas of the types; the rules below are added to
//! that JSON so the document states every rule the server checks:
//! string formats of names, slugs, emails and ids (from core's limits),
//! the filter and sort languages, the options each field type takes, and
//! the rules that join members (`fields` or `records`, an id unless
//! upserting, one name of an aliased member).

use serde_json::{Value, json};

use pybase_core::auth::{
    COMMON_PASSWORDS, MAX_EMAIL_LEN, MAX_EMAIL_LOCAL_LEN, MAX_PASSWORD_CHARS, MAX_USER_NAME_CHARS,
    MIN_PASSWORD_CHARS,
};
use pybase_core::facade::{MAX_BATCH, MAX_DESCRIPTION_CHARS, MAX_NAME_CHARS};

/// Characters Rust's `char::is_whitespace` (Unicode White_Space) and
/// `str::trim` treat as whitespace, spelled out so every regex dialect
/// (ECMA, Python, Rust) reads the class alike (`\s` differs between them).
const WHITESPACE: &str =
    r"\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000";
/// Control characters (`char::is_control`, Unicode Cc).
const CONTROL: &str = r"\x00-\x1f\x7f-\x9f";
/// Whitespace and control characters, as one class body.
const BLANK_OR_CONTROL: &str =
    r"\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000";

/// Text PostgreSQL can store: no NUL (refused on every backend alike).
const NO_NUL: &str = r"^[^\x00]*$";

/// A name: no control character, at least one character that is neither
/// whitespace nor control.
pub(super) fn name_pattern() -> String {
    format!("^[^{CONTROL}]*[^{BLANK_OR_CONTROL}][^{CONTROL}]*$")
}

/// An email address as registration checks it.
pub(super) fn email_pattern() -> String {
    let local = format!("[^@{BLANK_OR_CONTROL}]");
    let label = format!("[^@.{BLANK_OR_CONTROL}]+");
    format!(
        "^[{WHITESPACE}]*{local}{{1,{MAX_EMAIL_LOCAL_LEN}}}@{label}(\\.{label})+[{WHITESPACE}]*$"
    )
}

/// An id of the kind with `prefix`.
pub(super) fn id_pattern(prefix: &str) -> String {
    format!("^{prefix}[0-9A-Za-z]{{14}}$")
}

/// The id prefix of a path parameter: `{id}` is named by the segment
/// before it, the others by their own name.
fn path_param_prefix(path: &str, name: &str) -> Option<&'static str> {
    match name {
        "user_id" => return Some("usr"),
        "record_id" => return Some("rec"),
        "id" => {}
        _ => return None,
    }
    let segments: Vec<&str> = path.split('/').collect();
    let at = segments.iter().position(|s| *s == "{id}")?;
    Some(match *segments.get(at.checked_sub(1)?)? {
        "workspaces" => "wsp",
        "bases" => "app",
        "tables" => "tbl",
        "fields" => "fld",
        "views" => "viw",
        "attachments" => "att",
        "api-keys" => "key",
        _ => return None,
    })
}

/// The filter language, recursive through `#/components/schemas/Filter`.
fn filter_schema() -> Value {
    let ops: Vec<&str> = pybase_core::query::Op::ALL
        .iter()
        .map(|op| op.as_str())
        .collect();
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

/// The sort language.
fn sort_schema() -> Value {
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

/// The options each field type takes (absent or `null` options are the
/// type's defaults; unknown members are refused).
fn options_by_type() -> Vec<(&'static str, Value)> {
    let none = json!({ "type": ["object", "null"], "additionalProperties": false });
    let precision = json!({ "type": ["integer", "null"], "minimum": 0, "maximum": 8 });
    let object = |props: Value| json!({ "type": ["object", "null"], "additionalProperties": false, "properties": props });
    let choice_name = json!({
        "type": "string",
        "pattern": format!("^[^\\x00]*[^\\x00{WHITESPACE}][^\\x00]*$"),
    });
    let text = json!({ "type": ["string", "null"], "pattern": NO_NUL });
    let choices = object(json!({
        "choices": {
            "type": ["array", "null"],
            "description": "Choice names, unique after trimming.",
            "uniqueItems": true,
            "items": {
                "oneOf": [
                    choice_name,
                    {
                        "type": "object",
                        "required": ["name"],
                        "additionalProperties": false,
                        "properties": {
                            "name": choice_name,
                            "id": { "type": ["string", "null"], "pattern": id_pattern("sel") },
                            "color": text,
                        },
                    },
                ],
            },
        },
    }));
    vec![
        (
            "text",
            object(json!({
                "max_length": { "type": ["integer", "null"], "minimum": 1, "maximum": 100_000 },
            })),
        ),
        ("long_text", none.clone()),
        ("email", none.clone()),
        ("url", none.clone()),
        ("phone", none.clone()),
        ("number", object(json!({ "precision": precision }))),
        (
            "currency",
            object(json!({
                "precision": precision,
                "symbol": text,
            })),
        ),
        ("percent", object(json!({ "precision": precision }))),
        (
            "rating",
            object(json!({ "max": { "type": ["integer", "null"], "minimum": 1, "maximum": 10 } })),
        ),
        (
            "duration",
            object(json!({
                "format": { "enum": ["h:mm", "h:mm:ss", "h:mm:ss.s", "h:mm:ss.ss", "h:mm:ss.sss", null] },
            })),
        ),
        ("checkbox", none.clone()),
        ("single_select", choices.clone()),
        ("multi_select", choices),
        ("date", none.clone()),
        (
            "datetime",
            object(json!({
                "timezone": { "type": ["string", "null"], "minLength": 1, "maxLength": 64, "pattern": NO_NUL },
            })),
        ),
        ("attachment", none.clone()),
        (
            "link",
            json!({
                "type": "object",
                "required": ["linked_table_id"],
                "additionalProperties": false,
                "properties": {
                    "linked_table_id": {
                        "type": "string",
                        "pattern": id_pattern("tbl"),
                        "description": "A table of the same base (404 otherwise).",
                    },
                    "allow_multiple": { "type": ["boolean", "null"] },
                },
            }),
        ),
        ("autonumber", none.clone()),
        ("created_time", none.clone()),
        ("updated_time", none.clone()),
        ("created_by", none.clone()),
        ("updated_by", none),
    ]
}

/// `oneOf` branches tying a body's `type` to the `options` it takes.
fn field_type_branches() -> Vec<Value> {
    options_by_type()
        .into_iter()
        .map(|(name, options)| {
            let mut branch = json!({
                "properties": { "type": { "const": name }, "options": options },
                "required": ["type"],
            });
            if name == "link" {
                branch["required"] = json!(["type", "options"]);
            }
            branch
        })
        .collect()
}

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

/// Adds the rules to `doc` (the JSON of the utoipa document).
pub(super) fn refine(doc: &mut Value) {
    let schemas = &mut doc["components"]["schemas"];
    let mut common: Vec<String> = COMMON_PASSWORDS
        .iter()
        .filter(|p| p.chars().count() >= MIN_PASSWORD_CHARS)
        .map(|p| p.to_lowercase())
        .collect();
    common.sort();
    common.dedup();
    let mut password = string(
        Some(MIN_PASSWORD_CHARS),
        MAX_PASSWORD_CHARS,
        None,
        "A new password: 8 to 256 characters, not one of the well-known common passwords \
         (listed in `not`, compared ignoring case), and not the account's email (422 otherwise).",
    );
    password["not"] = json!({ "enum": common });
    let defined = [
        (
            "Name",
            string(
                Some(1),
                MAX_NAME_CHARS,
                Some(name_pattern()),
                "A display name: 1 to 255 characters, not only whitespace, no control characters \
                 (U+0000 to U+001F, U+007F to U+009F); stored trimmed.",
            ),
        ),
        (
            "UserName",
            string(
                Some(1),
                MAX_USER_NAME_CHARS,
                Some(name_pattern()),
                "The name of a user or an API key: 1 to 100 characters, not only whitespace, no \
                 control characters; stored trimmed.",
            ),
        ),
        (
            "Slug",
            string(
                Some(1),
                64,
                Some("^[a-z0-9]+(-[a-z0-9]+)*$".to_owned()),
                "A workspace slug: lowercase ASCII letters and digits in groups joined by single \
                 dashes, 1 to 64 characters; unique (409 otherwise).",
            ),
        ),
        (
            "Description",
            string(
                None,
                MAX_DESCRIPTION_CHARS,
                Some(NO_NUL.to_owned()),
                "A description of at most 10000 characters, without NUL (U+0000); only \
                 whitespace means none.",
            ),
        ),
        ("NewPassword", password),
        (
            "WorkspaceId",
            json!({ "type": "string", "pattern": id_pattern("wsp"), "example": "wsp0AbCdEfGhIjKlM" }),
        ),
        ("Filter", filter_schema()),
        ("Sort", sort_schema()),
        (
            "FieldOptions",
            json!({
                "type": "object",
                "description": "The options of a field type; `NewField` states which members each type takes.",
            }),
        ),
    ];
    for (name, schema) in defined {
        schemas[name] = schema;
    }

    // Registration checks the email's form; the others only its length.
    schemas["Register"]["properties"]["email"] = string(
        None,
        MAX_EMAIL_LEN,
        Some(email_pattern()),
        "Email, unique ignoring case (stored lowercased and trimmed): at most 254 characters as \
         sent; trimmed, no whitespace or control characters, a local part of 1 to 64 characters, \
         `@`, then dot-separated non-empty labels (at least two).",
    );
    schemas["Register"]["properties"]["email"]["example"] = json!("ada@example.com");

    // A field's options depend on its type.
    schemas["NewField"]["oneOf"] = json!(field_type_branches());
    let mut patch_branches = vec![json!({
        "properties": { "type": { "type": "null" } },
        "description": "No new type: the options are those of the field's current type.",
    })];
    patch_branches.extend(field_type_branches());
    schemas["FieldPatch"]["oneOf"] = json!(patch_branches);

    // One member under two names: at most one of them.
    for (schema, a, b) in [
        ("NewTable", "primary_field", "primary_field_id"),
        ("TablePatch", "primary_field_id", "primary_field"),
    ] {
        schemas[schema]["not"] = json!({ "required": [a, b] });
    }
    let upsert = &mut schemas["UpsertSpec"];
    upsert["properties"]["fieldsToMergeOn"] = upsert["properties"]["merge_on"].clone();
    upsert["properties"]["fieldsToMergeOn"]["description"] = json!("Same as `merge_on`.");
    if let Some(o) = upsert.as_object_mut() {
        o.remove("required");
    }
    upsert["oneOf"] = json!([
        { "required": ["merge_on"], "not": { "required": ["fieldsToMergeOn"] } },
        { "required": ["fieldsToMergeOn"], "not": { "required": ["merge_on"] } },
    ]);

    // A record write takes `fields` or `records`, not both.
    schemas["CreateBody"]["oneOf"] = json!([
        {
            "required": ["fields"],
            "properties": { "fields": { "type": "object" }, "records": { "type": "null" } },
        },
        {
            "required": ["records"],
            "properties": { "records": { "type": "array" }, "fields": { "type": "null" } },
        },
    ]);
    // A batch update names each record; an upsert names none.
    let record_id = json!({ "type": "string", "pattern": id_pattern("rec") });
    schemas["BatchBody"]["oneOf"] = json!([
        {
            "properties": {
                "upsert": { "type": "null" },
                "records": { "items": { "required": ["id"], "properties": { "id": record_id } } },
            },
        },
        {
            "required": ["upsert"],
            "properties": {
                "upsert": { "type": "object" },
                "records": { "items": { "properties": { "id": { "type": "null" } } } },
            },
        },
    ]);
    // Batches hold 1 to 1000 records.
    for schema in ["CreateBody", "BatchBody"] {
        let records = &mut schemas[schema]["properties"]["records"];
        records["minItems"] = json!(1);
        records["maxItems"] = json!(MAX_BATCH);
    }

    // Multipart part names must fit a header (no control characters but
    // tab); parts other than `file` are read and ignored.
    schemas["Upload"]["propertyNames"] = json!({ "pattern": "^[^\\x00-\\x08\\x0a-\\x1f\\x7f]*$" });
    // A past expiry is refused (422); the example shows a future one.
    schemas["NewApiKey"]["properties"]["expires_at"]["examples"] = json!(["2030-01-31T12:00:00Z"]);

    // Path parameters: ids of the kind the path names.
    if let Some(paths) = doc["paths"].as_object_mut() {
        for (path, item) in paths.iter_mut() {
            let Some(item) = item.as_object_mut() else {
                continue;
            };
            for op in item.values_mut() {
                let Some(params) = op.get_mut("parameters").and_then(Value::as_array_mut) else {
                    continue;
                };
                for p in params {
                    if p["in"] != "path" {
                        continue;
                    }
                    let name = p["name"].as_str().unwrap_or_default().to_owned();
                    let prefix = path_param_prefix(path, &name)
                        .unwrap_or_else(|| panic!("no id kind for {{{name}}} of {path}"));
                    p["schema"] = json!({ "type": "string", "pattern": id_pattern(prefix) });
                }
            }
        }
    }
}
