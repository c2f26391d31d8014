//! Conversion of stored cells when a field changes type.
//!
//! A stored cell is first rendered into a portable JSON value (lists joined
//! into text for text targets, a single choice wrapped for a multiple
//! select, ...) and then validated as the new type with `typecast`, so a
//! conversion accepts exactly what a client could have typed. A change that
//! keeps the type re-validates the cell under the new options without
//! `typecast`. A conversion that would silently drop a value fails instead.

use serde_json::Value;

use super::cell::{is_empty_value, shown};
use super::decimal::number_text;
use super::registry::FieldType;

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

/// A stored value as text: strings as they are, numbers as their shortest
/// decimal text, `true` as "true", lists as their items' texts joined with
/// ", " (an item holding a comma or a quote between quotes, so the text
/// splits back into the same items: [`super::split_names`]).
pub(crate) fn render_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => number_text(n),
        Value::Bool(b) => b.to_string(),
        Value::Array(items) => {
            let texts: Vec<String> = items
                .iter()
                .map(render_text)
                .filter(|s| !s.is_empty())
                .collect();
            super::join_names(texts.iter().map(String::as_str))
        }
        Value::Null => String::new(),
        Value::Object(_) => value.to_string(),
    }
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
        // Same type, new options: removed choices, a shorter max length or a
        // lower rating maximum fail rather than being recreated or cut.
        to.kind().keeps_cells_of(from).map_err(fail)?;
        let out = to
            .validate_cell(value, false)
            .map_err(|e| fail(e.expected))?;
        return match out {
            None if !to.kind().absent_is_a_value() => Err(fail("the value would be lost".into())),
            out => Ok(out),
        };
    }
    if !to.kind().accepts_other_types() {
        return Err(fail(format!(
            "only {0} cells convert to {0}",
            to.type_name()
        )));
    }
    if from.kind().converts_only_to_text() && !to.kind().is_free_text() {
        return Err(fail(format!(
            "{} ids only convert to text",
            from.type_name()
        )));
    }
    let input = to.kind().conversion_input(from, value).map_err(fail)?;
    let out = to
        .validate_cell(&input, true)
        .map_err(|e| fail(e.expected))?;
    let blank = matches!(&input, Value::String(s) if s.trim().is_empty());
    match out {
        // An unchecked box is a value; blank text carried nothing.
        None if !to.kind().absent_is_a_value() && !blank => {
            Err(fail("the value would be lost".into()))
        }
        out => Ok(out),
    }
}
