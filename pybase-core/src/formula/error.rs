//! The parse error type.

use std::fmt;

/// A formula that could not be parsed: where, and what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormulaError {
    /// Byte offset in the formula source where the problem starts.
    pub position: usize,
    /// What was found and what was expected instead.
    pub message: String,
}

impl FormulaError {
    /// An error at `position` with `message`.
    pub fn new(position: usize, message: impl Into<String>) -> Self {
        Self {
            position,
            message: message.into(),
        }
    }
}

impl fmt::Display for FormulaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at position {}: {}", self.position, self.message)
    }
}

impl std::error::Error for FormulaError {}
