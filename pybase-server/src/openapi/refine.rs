//! What utoipa's model cannot say: the document is finished as JSON.
//!
//! utoipa writes the schemas of the types (core's derive them under its
//! `openapi` feature, with the string formats and the filter and sort
//! languages of `pybase_core::openapi`); the rules below are added to that
//! JSON because utoipa's model has no place for them: the common passwords
//! a new password may not be (`not`), the options each field type takes
//! (`const` branches), and the rules that join members (`fields` or `records`,
//! an id unless upserting, one name of an aliased member).

use serde_json::{Value, json};

use pybase_core::auth::{COMMON_PASSWORDS, MIN_PASSWORD_CHARS};
use pybase_core::facade::MAX_BATCH;
use pybase_core::openapi::{NO_NUL, WHITESPACE, id_pattern};

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
    // utoipa's model has no `not`: the refused common passwords go here.
    schemas["NewPassword"]["not"] = json!({ "enum": common });

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
        let properties = &mut schemas[schema]["properties"];
        properties[b] = properties[a].clone();
        properties[b]["description"] = json!(format!("Same as `{a}`."));
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_type_of_the_registry_has_its_options() {
        let names: Vec<&str> = options_by_type().iter().map(|(name, _)| *name).collect();
        assert_eq!(names, pybase_core::fields::FieldType::NAMES);
    }
}
