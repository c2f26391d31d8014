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
use pybase_core::fields::FieldType;
use pybase_core::openapi::id_pattern;

/// `oneOf` branches tying a body's `type` to the `options` it takes.
fn field_type_branches() -> Vec<Value> {
    FieldType::options_schemas()
        .into_iter()
        .map(|(name, options)| {
            // Options with required members must be given.
            let required = if options.get("required").is_some() {
                json!(["type", "options"])
            } else {
                json!(["type"])
            };
            json!({
                "properties": { "type": { "const": name }, "options": options },
                "required": required,
            })
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
    fn every_field_type_of_the_registry_has_a_branch() {
        let branches = field_type_branches();
        let names: Vec<&str> = branches
            .iter()
            .filter_map(|b| b["properties"]["type"]["const"].as_str())
            .collect();
        assert_eq!(names, FieldType::NAMES);
        let link = branches
            .iter()
            .find(|b| b["properties"]["type"]["const"] == "link")
            .unwrap();
        assert_eq!(link["required"], json!(["type", "options"]));
    }
}
