//! Field types between PyBase and Airtable, both ways (AIRTABLE.md §9).
//!
//! Reading turns a PyBase field into Airtable's `{"id","name","type",
//! "options"}` with the full option shape pyairtable's models expect;
//! writing turns Airtable's type and options into PyBase's, dropping
//! display-only options (they read back as the defaults).

use std::collections::HashMap;

use pybase_core::ids::FieldId;
use pybase_core::model::Field;
use serde_json::{Map, Value, json};

use super::error::V0Error;

fn date_format() -> Value {
    json!({"name": "iso", "format": "YYYY-MM-DD"})
}

fn time_format() -> Value {
    json!({"name": "24hour", "format": "HH:mm"})
}

fn utc_datetime_result() -> Value {
    json!({"type": "dateTime", "options": {
        "timeZone": "utc", "dateFormat": date_format(), "timeFormat": time_format()
    }})
}

/// PyBase's duration formats use lower-case fraction digits; Airtable's
/// upper case.
fn duration_to_airtable(format: &str) -> String {
    match format.split_once('.') {
        Some((whole, fraction)) => format!("{whole}.{}", fraction.to_uppercase()),
        None => format.to_owned(),
    }
}

fn duration_from_airtable(format: &str) -> String {
    match format.split_once('.') {
        Some((whole, fraction)) => format!("{whole}.{}", fraction.to_lowercase()),
        None => format.to_owned(),
    }
}

/// The Airtable type name and options of a PyBase field.
pub fn airtable_type(field: &Field, inverse_of: Option<&str>) -> (&'static str, Option<Value>) {
    let name = field.field_type.type_name();
    let o = field.field_type.options_json();
    let get = |k: &str| o.get(k).cloned().unwrap_or(Value::Null);
    match name {
        "text" => ("singleLineText", None),
        "long_text" => ("multilineText", None),
        "email" => ("email", None),
        "url" => ("url", None),
        "phone" => ("phoneNumber", None),
        "number" => ("number", Some(json!({"precision": get("precision")}))),
        "currency" => (
            "currency",
            Some(json!({"precision": get("precision"), "symbol": get("symbol")})),
        ),
        "percent" => ("percent", Some(json!({"precision": get("precision")}))),
        "rating" => (
            "rating",
            Some(json!({"max": get("max"), "icon": "star", "color": "yellowBright"})),
        ),
        "duration" => (
            "duration",
            Some(
                json!({"durationFormat": duration_to_airtable(o.get("format").and_then(Value::as_str).unwrap_or("h:mm"))}),
            ),
        ),
        "checkbox" => (
            "checkbox",
            Some(json!({"icon": "check", "color": "greenBright"})),
        ),
        "single_select" | "multi_select" => {
            let choices: Vec<Value> = o
                .get("choices")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|c| {
                    let mut out = json!({"id": c.get("id"), "name": c.get("name")});
                    if let (Some(color), Value::Object(m)) = (c.get("color"), &mut out) {
                        m.insert("color".into(), color.clone());
                    }
                    out
                })
                .collect();
            let t = if name == "single_select" {
                "singleSelect"
            } else {
                "multipleSelects"
            };
            (t, Some(json!({"choices": choices})))
        }
        "date" => ("date", Some(json!({"dateFormat": date_format()}))),
        "datetime" => {
            let tz = o.get("timezone").and_then(Value::as_str).unwrap_or("UTC");
            let tz = if tz == "UTC" { "utc" } else { tz };
            (
                "dateTime",
                Some(
                    json!({"timeZone": tz, "dateFormat": date_format(), "timeFormat": time_format()}),
                ),
            )
        }
        "attachment" => ("multipleAttachments", Some(json!({"isReversed": false}))),
        "link" => {
            let allow_multiple = o
                .get("allow_multiple")
                .and_then(Value::as_bool)
                .unwrap_or(true);
            let mut options = json!({
                "linkedTableId": get("linked_table_id"),
                "isReversed": false,
                "prefersSingleRecordLink": !allow_multiple,
            });
            let inverse = inverse_of
                .map(str::to_owned)
                .or_else(|| field.field_type.inverse_field_id().map(|id| id.to_string()));
            if let (Some(inverse), Value::Object(m)) = (inverse, &mut options) {
                m.insert("inverseLinkFieldId".into(), Value::String(inverse));
            }
            ("multipleRecordLinks", Some(options))
        }
        "autonumber" => ("autoNumber", None),
        "created_time" => (
            "createdTime",
            Some(json!({"result": utc_datetime_result()})),
        ),
        "updated_time" => (
            "lastModifiedTime",
            Some(
                json!({"isValid": true, "referencedFieldIds": [], "result": utc_datetime_result()}),
            ),
        ),
        "created_by" => ("createdBy", None),
        "updated_by" => ("lastModifiedBy", None),
        "formula" | "lookup" | "rollup" | "count" => computed_type(name, &o),
        // A type added to PyBase before this table learns it still shows.
        _ => ("singleLineText", None),
    }
}

/// Airtable's schema of a computed field's result (`options.result`).
fn result_schema(result_type: &str) -> Value {
    match result_type {
        // Airtable's number results carry a display precision; 8 (its
        // largest) hides no digit of the stored value.
        "number" => json!({"type": "number", "options": {"precision": 8}}),
        "bool" => json!({"type": "checkbox", "options": {"icon": "check", "color": "greenBright"}}),
        "date" => json!({"type": "date", "options": {"dateFormat": date_format()}}),
        "datetime" => utc_datetime_result(),
        _ => json!({"type": "singleLineText"}),
    }
}

/// Airtable's type and options of a computed field: `formula`,
/// `multipleLookupValues`, `rollup`, `count` with `isValid`,
/// `referencedFieldIds`, the link and looked-up fields by id and the
/// result's schema (what pyairtable's field schemas read).
fn computed_type(name: &str, o: &Value) -> (&'static str, Option<Value>) {
    let get = |k: &str| o.get(k).cloned().unwrap_or(Value::Null);
    let is_valid = o.get("is_valid").and_then(Value::as_bool).unwrap_or(true);
    let referenced = o
        .get("referenced_field_ids")
        .cloned()
        .unwrap_or_else(|| json!([]));
    let result = result_schema(
        o.get("result_type")
            .and_then(Value::as_str)
            .unwrap_or("text"),
    );
    match name {
        "formula" => (
            "formula",
            Some(json!({
                "formula": get("formula"),
                "isValid": is_valid,
                "referencedFieldIds": referenced,
                "result": result,
            })),
        ),
        "lookup" => (
            "multipleLookupValues",
            Some(json!({
                "isValid": is_valid,
                "recordLinkFieldId": get("link_field"),
                "fieldIdInLinkedTable": get("field"),
                "result": result,
            })),
        ),
        "rollup" => (
            "rollup",
            Some(json!({
                "isValid": is_valid,
                "recordLinkFieldId": get("link_field"),
                "fieldIdInLinkedTable": get("field"),
                "referencedFieldIds": referenced,
                "result": result,
            })),
        ),
        _ => (
            "count",
            Some(json!({"isValid": is_valid, "recordLinkFieldId": get("link_field")})),
        ),
    }
}

/// Airtable's `options.result` of a lookup whose looked-up field is among
/// `fields` (the base's): that field's own type and options, as Airtable
/// shows a lookup's result (a lookup of attachments is
/// `multipleAttachments`); through lookups of lookups, the last one's.
/// `None` when the field is not found (the generic result stays).
pub fn lookup_result(lookup: &Field, fields: &HashMap<FieldId, &Field>) -> Option<Value> {
    if lookup.field_type.type_name() != "lookup" {
        return None;
    }
    let mut target = lookup;
    // A chain of lookups is acyclic (refused at definition); the bound
    // only guards against a corrupt schema.
    for _ in 0..16 {
        if target.field_type.type_name() != "lookup" {
            break;
        }
        let next = target.field_type.options_json()["field"]
            .as_str()
            .and_then(|id| FieldId::parse(id).ok())
            .and_then(|id| fields.get(&id))?;
        target = next;
    }
    if target.field_type.type_name() == "lookup" {
        return None;
    }
    let (t, options) = airtable_type(target, None);
    if let (Some(result), true) = (
        options.as_ref().and_then(|o| o.get("result")),
        target.field_type.is_computed(),
    ) {
        // A formula's or rollup's result is what its lookup shows.
        return Some(result.clone());
    }
    let mut out = Map::new();
    out.insert("type".into(), json!(t));
    if let Some(o) = options {
        out.insert("options".into(), o);
    }
    Some(Value::Object(out))
}

/// The field object of the base schema (AIRTABLE.md §7.3); a formula
/// (shown by field names) is written by the ids of `siblings`, its table's
/// fields, as Airtable's API shows it.
pub fn field_json(field: &Field, inverse_of: Option<&str>, siblings: &[Field]) -> Value {
    let (t, mut options) = airtable_type(field, inverse_of);
    if let Some(Value::Object(o)) = options.as_mut()
        && let pybase_core::fields::FieldType::Formula(f) = &field.field_type
        && let Ok(text) = pybase_core::formula::by_ids(&f.formula, siblings)
    {
        o.insert("formula".into(), Value::String(text));
    }
    let mut out = Map::new();
    out.insert("id".into(), json!(field.id));
    out.insert("name".into(), json!(field.name));
    out.insert("type".into(), json!(t));
    if let Some(o) = options {
        out.insert("options".into(), o);
    }
    if let Some(d) = field.description.as_deref().filter(|d| !d.is_empty()) {
        out.insert("description".into(), json!(d));
    }
    Value::Object(out)
}

/// PyBase's type name and options for Airtable's `type` and `options`.
pub fn pybase_type(
    airtable: &str,
    options: Option<&Value>,
) -> Result<(&'static str, Value), V0Error> {
    let empty = Map::new();
    let o = match options {
        None | Some(Value::Null) => &empty,
        Some(Value::Object(m)) => m,
        Some(other) => {
            return Err(V0Error::invalid_request(format!(
                "options: expected an object, got {other}"
            )));
        }
    };
    let take = |keys: &[&str]| -> Value {
        let mut m = Map::new();
        for k in keys {
            if let Some(v) = o.get(*k) {
                m.insert((*k).to_owned(), v.clone());
            }
        }
        Value::Object(m)
    };
    Ok(match airtable {
        "singleLineText" => ("text", json!({})),
        "multilineText" | "richText" => ("long_text", json!({})),
        "email" => ("email", json!({})),
        "url" => ("url", json!({})),
        "phoneNumber" => ("phone", json!({})),
        "number" => ("number", take(&["precision"])),
        "percent" => ("percent", take(&["precision"])),
        "currency" => ("currency", take(&["precision", "symbol"])),
        "rating" => ("rating", take(&["max"])),
        "checkbox" => ("checkbox", json!({})),
        "duration" => {
            let mut m = Map::new();
            if let Some(f) = o.get("durationFormat").and_then(Value::as_str) {
                m.insert("format".into(), json!(duration_from_airtable(f)));
            }
            ("duration", Value::Object(m))
        }
        "singleSelect" | "multipleSelects" => {
            let choices: Vec<Value> = o
                .get("choices")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|c| {
                    let mut m = Map::new();
                    for k in ["id", "name", "color"] {
                        if let Some(v) = c.get(k).filter(|v| !v.is_null()) {
                            m.insert(k.into(), v.clone());
                        }
                    }
                    Value::Object(m)
                })
                .collect();
            let t = if airtable == "singleSelect" {
                "single_select"
            } else {
                "multi_select"
            };
            (t, json!({"choices": choices}))
        }
        "date" => ("date", json!({})),
        "dateTime" => {
            let tz = o.get("timeZone").and_then(Value::as_str).unwrap_or("utc");
            let tz = if tz == "utc" || tz == "client" {
                "UTC"
            } else {
                tz
            };
            ("datetime", json!({"timezone": tz}))
        }
        "multipleAttachments" => ("attachment", json!({})),
        "multipleRecordLinks" => {
            let linked = o.get("linkedTableId").cloned().ok_or_else(|| {
                V0Error::invalid_request("options.linkedTableId: required for multipleRecordLinks")
            })?;
            let single = o
                .get("prefersSingleRecordLink")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            (
                "link",
                json!({"linked_table_id": linked, "allow_multiple": !single}),
            )
        }
        "autoNumber" => ("autonumber", json!({})),
        "createdTime" => ("created_time", json!({})),
        "lastModifiedTime" => ("updated_time", json!({})),
        "createdBy" => ("created_by", json!({})),
        "lastModifiedBy" => ("updated_by", json!({})),
        other => {
            return Err(V0Error::invalid_request(format!(
                "type: {other:?} is not supported by this server (supported: singleLineText, \
                 multilineText, richText, email, url, phoneNumber, number, percent, currency, \
                 rating, checkbox, duration, singleSelect, multipleSelects, date, dateTime, \
                 multipleAttachments, multipleRecordLinks, autoNumber, createdTime, \
                 lastModifiedTime, createdBy, lastModifiedBy)"
            )));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duration_formats_change_case_of_the_fraction_only() {
        assert_eq!(duration_to_airtable("h:mm"), "h:mm");
        assert_eq!(duration_to_airtable("h:mm:ss"), "h:mm:ss");
        assert_eq!(duration_to_airtable("h:mm:ss.s"), "h:mm:ss.S");
        assert_eq!(duration_to_airtable("h:mm:ss.ss"), "h:mm:ss.SS");
        assert_eq!(duration_to_airtable("h:mm:ss.sss"), "h:mm:ss.SSS");
        assert_eq!(duration_from_airtable("h:mm:ss.SSS"), "h:mm:ss.sss");
        assert_eq!(duration_from_airtable("h:mm"), "h:mm");
    }

    #[test]
    fn airtable_types_map_to_pybase_types() {
        assert_eq!(pybase_type("singleLineText", None).unwrap().0, "text");
        let (t, o) = pybase_type(
            "multipleRecordLinks",
            Some(&json!({"linkedTableId": "tblX", "prefersSingleRecordLink": true})),
        )
        .unwrap();
        assert_eq!(t, "link");
        assert_eq!(
            o,
            json!({"linked_table_id": "tblX", "allow_multiple": false})
        );
        let (t, o) = pybase_type(
            "checkbox",
            Some(&json!({"icon": "check", "color": "greenBright"})),
        )
        .unwrap();
        assert_eq!((t, o), ("checkbox", json!({})));
        let (_, o) = pybase_type("dateTime", Some(&json!({"timeZone": "client"}))).unwrap();
        assert_eq!(o, json!({"timezone": "UTC"}));
        let e = pybase_type("formula", None).unwrap_err();
        assert_eq!(e.kind, "INVALID_REQUEST_UNKNOWN");
        assert!(pybase_type("number", Some(&json!([1]))).is_err());
    }
}
