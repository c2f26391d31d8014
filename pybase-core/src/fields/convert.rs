//! Conversion of stored cells when a field changes type.
//!
//! A stored cell is first rendered into a portable JSON value (lists joined
//! into text for text targets, a single choice wrapped for a multiple
//! select, ...) and then validated as the new type with `typecast`, so a
//! conversion accepts exactly what a client could have typed. A change that
//! keeps the type re-validates the cell under the new options without
//! `typecast`. A conversion that would silently drop a value fails instead.

use serde_json::Value;

use super::cell::{is_empty_value, number_text, shown};
use super::types::FieldType;

#[cfg(test)]
mod tests;

/// A stored cell that cannot become the new type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value} cannot become {to}: {reason}")]
pub struct ConversionFailure {
    /// The stored value, as JSON text (cut to about 60 characters).
    pub value: String,
    /// The new type's name.
    pub to: &'static str,
    /// Why not.
    pub reason: String,
}

/// Whether `ft` stores plain text that anything can be rendered into.
fn is_text(ft: &FieldType) -> bool {
    matches!(ft, FieldType::Text { .. } | FieldType::LongText)
}

/// Whether `ft` stores a list of ids checked against other tables.
fn is_id_list(ft: &FieldType) -> bool {
    matches!(ft, FieldType::Link { .. } | FieldType::Attachment)
}

/// A stored value as text: strings as they are, numbers as their shortest
/// decimal text, `true` as "true", lists joined with ", ".
fn render_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => number_text(n),
        Value::Bool(b) => b.to_string(),
        Value::Array(items) => items
            .iter()
            .map(render_text)
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(", "),
        Value::Null => String::new(),
        Value::Object(_) => value.to_string(),
    }
}

/// The value to validate as `to` (with `typecast`) for a stored cell of
/// another type.
fn portable(from: &FieldType, to: &FieldType, value: &Value) -> Result<Value, String> {
    Ok(match (to, value) {
        (FieldType::MultiSelect { .. }, Value::String(s))
            if matches!(from, FieldType::SingleSelect { .. }) =>
        {
            // A choice name may contain commas: wrap it instead of splitting.
            Value::Array(vec![Value::String(s.clone())])
        }
        (FieldType::MultiSelect { .. }, _) => value.clone(),
        (_, Value::Array(_)) if is_text(to) => Value::String(render_text(value)),
        (_, Value::Array(items)) => match items.as_slice() {
            [one] => one.clone(),
            _ => return Err("it holds several values".into()),
        },
        (
            FieldType::Number { .. }
            | FieldType::Currency { .. }
            | FieldType::Percent { .. }
            | FieldType::Rating { .. }
            | FieldType::Duration { .. },
            Value::Bool(b),
        ) => Value::from(u8::from(*b)),
        _ => value.clone(),
    })
}

/// Converts a stored cell of type `from` to type `to`; `Ok(None)` when it
/// becomes empty (which is only allowed where no information is lost).
///
/// Anything becomes text; text becomes numbers, dates, checkboxes and
/// choices when it reads as one (unknown choice names are accepted: the
/// caller adds them as choices, see [`crate::fields::new_choice_names`]);
/// number types convert among themselves; a single choice becomes a
/// one-item multiple select and back. Links and attachments only come from
/// their own type (links to the same table), and computed types would discard
/// every value, so non-empty cells fail there.
pub fn convert_cell(
    from: &FieldType,
    to: &FieldType,
    value: &Value,
) -> Result<Option<Value>, ConversionFailure> {
    let fail = |reason: String| ConversionFailure {
        value: shown(value),
        to: to.type_name(),
        reason,
    };
    if is_empty_value(value) {
        return Ok(None);
    }
    if to.is_computed() {
        return Err(fail(
            "the value would be discarded: the field is computed".into(),
        ));
    }
    if from.type_name() == to.type_name() {
        if let (
            FieldType::Link {
                linked_table_id: old,
                ..
            },
            FieldType::Link {
                linked_table_id: new,
                ..
            },
        ) = (from, to)
            && old != new
        {
            return Err(fail("the linked records belong to another table".into()));
        }
        // Same type, new options: removed choices, a shorter max length or a
        // lower rating maximum fail rather than being recreated or cut.
        let out = to
            .validate_cell(value, false)
            .map_err(|e| fail(e.expected))?;
        return match out {
            None if !matches!(to, FieldType::Checkbox) => {
                Err(fail("the value would be lost".into()))
            }
            out => Ok(out),
        };
    }
    if is_id_list(to) {
        return Err(fail(format!(
            "only {0} cells convert to {0}",
            to.type_name()
        )));
    }
    if is_id_list(from) && !is_text(to) {
        return Err(fail(format!(
            "{} ids only convert to text",
            from.type_name()
        )));
    }
    let input = portable(from, to, value).map_err(fail)?;
    let out = to
        .validate_cell(&input, true)
        .map_err(|e| fail(e.expected))?;
    let blank = matches!(&input, Value::String(s) if s.trim().is_empty());
    match out {
        // An unchecked box is a value; blank text carried nothing.
        None if !matches!(to, FieldType::Checkbox) && !blank => {
            Err(fail("the value would be lost".into()))
        }
        out => Ok(out),
    }
}
