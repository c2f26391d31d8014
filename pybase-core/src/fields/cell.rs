//! Validation and normalisation of cells written by clients.
//!
//! Every type accepts the same empty values (`null`, `""`, `[]`), which are
//! stored as absent; everything else is checked by the type's module under
//! `kinds/` and brought into one stored shape per type, so that stores can
//! compare cells as plain JSON. The rules are the product decisions of
//! DESIGN.md's field table.

#[cfg(test)]
pub(super) mod tests;

use serde_json::Value;

use super::registry::FieldType;

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
        self.kind().validate(value, typecast)
    }
}

/// The names in a normalised select cell that are not yet choices of `ft`,
/// in cell order.
///
/// With `typecast`, [`FieldType::validate_cell`] accepts unknown choice
/// names; the caller adds these as new choices before storing the cell. Any
/// other type, or a cell of the wrong shape, has none.
pub fn new_choice_names(ft: &FieldType, value: &Value) -> Vec<String> {
    ft.kind().new_choice_names(value)
}
