//! Conversion of stored cells when a field changes type.

use serde_json::Value;

use super::types::FieldType;

/// A stored cell that cannot become the new type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value} cannot become {to}: {reason}")]
pub struct ConversionFailure {
    /// The stored value, as JSON text.
    pub value: String,
    /// The new type's name.
    pub to: &'static str,
    /// Why not.
    pub reason: String,
}

/// Converts a stored cell of type `from` to type `to`; `Ok(None)` when it
/// becomes empty (which is only allowed where no information is lost).
pub fn convert_cell(
    from: &FieldType,
    to: &FieldType,
    value: &Value,
) -> Result<Option<Value>, ConversionFailure> {
    let _ = (from, value);
    Err(ConversionFailure {
        value: String::new(),
        to: to.type_name(),
        reason: "conversion is being written".into(),
    })
}
