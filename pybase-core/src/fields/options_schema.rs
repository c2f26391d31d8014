//! JSON Schema builders for field options: each type's
//! [`KindInfo::options_schema`](super::KindInfo::options_schema) describes
//! the options object it accepts (absent or `null` means the defaults;
//! unknown members are refused), and the API document takes them from the
//! registry.

use serde_json::{Value, json};

use crate::patterns::{NO_NUL, WHITESPACE, id_pattern};

/// No options: `null` or an empty object.
pub(crate) fn none() -> Value {
    json!({ "type": ["object", "null"], "additionalProperties": false })
}

/// An options object with these optional members.
pub(crate) fn object(properties: Value) -> Value {
    let mut schema = json!({ "type": ["object", "null"], "additionalProperties": false });
    schema["properties"] = properties;
    schema
}

/// An options object with these members, `required` among them.
pub(crate) fn object_requiring(properties: Value, required: &[&str]) -> Value {
    let mut schema = json!({
        "type": "object",
        "required": required,
        "additionalProperties": false,
    });
    schema["properties"] = properties;
    schema
}

/// An optional whole number from `min` to `max`.
pub(crate) fn integer(min: u64, max: u64) -> Value {
    json!({ "type": ["integer", "null"], "minimum": min, "maximum": max })
}

/// Decimal places, 0 to 8.
pub(crate) fn precision() -> Value {
    integer(0, 8)
}

/// Optional text without NUL.
pub(crate) fn text() -> Value {
    json!({ "type": ["string", "null"], "pattern": NO_NUL })
}

/// An optional id of the kind with `prefix`.
pub(crate) fn id(prefix: &str) -> Value {
    json!({ "type": ["string", "null"], "pattern": id_pattern(prefix) })
}

/// The `choices` option of the select types.
pub(crate) fn choices() -> Value {
    let name = json!({
        "type": "string",
        "pattern": format!("^[^\\x00]*[^\\x00{WHITESPACE}][^\\x00]*$"),
    });
    object(json!({
        "choices": {
            "type": ["array", "null"],
            "description": "Choice names, unique after trimming.",
            "uniqueItems": true,
            "items": {
                "oneOf": [
                    name,
                    {
                        "type": "object",
                        "required": ["name"],
                        "additionalProperties": false,
                        "properties": { "name": name, "id": id("sel"), "color": text() },
                    },
                ],
            },
        },
    }))
}
