//! Validation and normalisation of cells written by clients.
//!
//! Every type accepts the same empty values (`null`, `""`, `[]`), which are
//! stored as absent; everything else is checked and brought into one stored
//! shape per type, so that stores can compare cells as plain JSON. The rules
//! are the product decisions of DESIGN.md's field table.

mod list;
mod number;
mod select;
mod text;
mod time;

#[cfg(test)]
pub(super) mod tests;

use serde_json::Value;

use super::types::FieldType;

pub use number::normalize_number;
pub(crate) use number::number_text;

/// A cell value was not acceptable; `expected` says what would be.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{expected}")]
pub struct CellError {
    /// What was expected and what was given, e.g. `expected a number, got "abc"`.
    pub expected: String,
}

/// How many characters of a rejected value an error message shows.
const SHOWN_CHARS: usize = 60;

/// The JSON text of `value`, cut to [`SHOWN_CHARS`] characters, for errors.
pub(crate) fn shown(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() <= SHOWN_CHARS {
        text
    } else {
        let mut cut: String = text.chars().take(SHOWN_CHARS).collect();
        cut.push('…');
        cut
    }
}

/// `expected <what>, got <value>`.
pub(crate) fn expected(what: &str, got: &Value) -> CellError {
    CellError {
        expected: format!("expected {what}, got {}", shown(got)),
    }
}

/// Whether a client value means "empty" for every writable type.
pub(crate) fn is_empty_value(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

impl FieldType {
    /// Checks and normalises a cell a client writes.
    ///
    /// Returns `Ok(None)` for an empty cell (`null`, `""`, `[]`, `false` for a
    /// checkbox), which is stored as absent. With `typecast`, strings convert
    /// where it makes sense ("12.50" to 12.5; an unknown select name is
    /// accepted so the caller can add it as a choice). Computed types reject
    /// every write.
    ///
    /// The result is normalised: validating it again (with or without
    /// `typecast`) gives it back unchanged, except that an unknown choice name
    /// accepted by `typecast` is only valid once it has been added.
    pub fn validate_cell(&self, value: &Value, typecast: bool) -> Result<Option<Value>, CellError> {
        if self.is_computed() {
            return Err(CellError {
                expected: "a computed field cannot be written".into(),
            });
        }
        if is_empty_value(value) {
            return Ok(None);
        }
        match self {
            Self::Text { max_length } => text::single_line(value, typecast, *max_length),
            Self::LongText => text::long_text(value, typecast),
            Self::Email => text::email(value, typecast),
            Self::Url => text::url(value, typecast),
            Self::Phone => text::phone(value, typecast),
            Self::Number { precision } => number::number(value, typecast, *precision),
            Self::Currency { symbol, precision } => {
                number::currency(value, typecast, symbol, *precision)
            }
            Self::Percent { precision } => number::percent(value, typecast, *precision),
            Self::Rating { max } => number::rating(value, typecast, *max),
            Self::Duration { .. } => number::duration(value, typecast),
            Self::Checkbox => select::checkbox(value, typecast),
            Self::SingleSelect { choices } => select::single(value, typecast, choices),
            Self::MultiSelect { choices } => select::multi(value, typecast, choices),
            Self::Date => time::date(value, typecast),
            Self::DateTime { .. } => time::datetime(value, typecast),
            Self::Attachment => list::attachments(value),
            Self::Link { allow_multiple, .. } => list::links(value, typecast, *allow_multiple),
            // Computed types were rejected above; a type added later without
            // validation must not accept writes silently.
            _ => Err(CellError {
                expected: format!("a {} field cannot be written", self.type_name()),
            }),
        }
    }
}

/// The names in a normalised select cell that are not yet choices of `ft`,
/// in cell order.
///
/// With `typecast`, [`FieldType::validate_cell`] accepts unknown choice
/// names; the caller adds these as new choices before storing the cell. Any
/// other type, or a cell of the wrong shape, has none.
pub fn new_choice_names(ft: &FieldType, value: &Value) -> Vec<String> {
    let choices = ft.choices();
    let known = |name: &str| choices.iter().any(|c| c.name == name);
    match (ft, value) {
        (FieldType::SingleSelect { .. }, Value::String(s)) if !known(s) => vec![s.clone()],
        (FieldType::MultiSelect { .. }, Value::Array(items)) => {
            let mut out: Vec<String> = Vec::new();
            for name in items.iter().filter_map(Value::as_str) {
                if !known(name) && !out.iter().any(|n| n == name) {
                    out.push(name.to_owned());
                }
            }
            out
        }
        _ => Vec::new(),
    }
}
