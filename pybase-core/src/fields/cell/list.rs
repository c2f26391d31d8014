//! Attachment and link cells: lists of ids.
//!
//! Only the shape and the id syntax are checked here; whether the attachments
//! and records exist is the facade's business.

use std::collections::HashSet;

use serde_json::Value;

use super::{CellError, expected};
use crate::ids::{AttachmentId, IdParseError, RecordId};

/// The id text of one list item: a string, or an object with a string `id`
/// (what a client read back from a record, other keys ignored).
fn item_id(item: &Value) -> Option<&str> {
    match item {
        Value::String(s) => Some(s),
        Value::Object(o) => o.get("id").and_then(Value::as_str),
        _ => None,
    }
}

/// Parses every item of `items` with `parse`, deduplicating in first-seen
/// order. `what` names the expected list in errors.
fn id_list(
    items: &[Value],
    given: &Value,
    what: &str,
    parse: impl Fn(&str) -> Result<String, IdParseError>,
) -> Result<Vec<String>, CellError> {
    let mut out: Vec<String> = Vec::with_capacity(items.len());
    let mut seen: HashSet<String> = HashSet::with_capacity(items.len());
    for item in items {
        let id = item_id(item)
            .ok_or_else(|| expected(what, given))
            .and_then(|s| {
                parse(s).map_err(|e| {
                    let article = if e.kind.starts_with(['a', 'e', 'i', 'o', 'u']) {
                        "an"
                    } else {
                        "a"
                    };
                    let what = format!(
                        "{article} {} id ({} followed by 14 letters or digits)",
                        e.kind, e.prefix
                    );
                    expected(&what, item)
                })
            })?;
        if seen.insert(id.clone()) {
            out.push(id);
        }
    }
    Ok(out)
}

fn stored(ids: Vec<String>) -> Option<Value> {
    (!ids.is_empty()).then(|| Value::Array(ids.into_iter().map(Value::String).collect()))
}

pub(super) fn attachments(value: &Value) -> Result<Option<Value>, CellError> {
    const WHAT: &str = "a list of attachments ({\"id\": \"att...\"} or \"att...\")";
    let Value::Array(items) = value else {
        return Err(expected(WHAT, value));
    };
    let ids = id_list(items, value, WHAT, |s| {
        AttachmentId::parse(s).map(|id| id.to_string())
    })?;
    Ok(stored(ids))
}

pub(super) fn links(
    value: &Value,
    typecast: bool,
    allow_multiple: bool,
) -> Result<Option<Value>, CellError> {
    const WHAT: &str = "a list of record ids";
    let single;
    let items: &[Value] = match value {
        Value::Array(items) => items,
        Value::String(_) if typecast => {
            single = [value.clone()];
            &single
        }
        _ => return Err(expected(WHAT, value)),
    };
    let ids = id_list(items, value, WHAT, |s| {
        RecordId::parse(s).map(|id| id.to_string())
    })?;
    if !allow_multiple && ids.len() > 1 {
        return Err(expected("at most one linked record", value));
    }
    Ok(stored(ids))
}
