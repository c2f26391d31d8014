//! Field types, their options, and the validation and conversion of cells.
//!
//! A field's type is a [`FieldType`] carrying its typed options. Cells are JSON
//! values: [`FieldType::validate_cell`] checks and normalises what a client
//! writes (with optional `typecast`), and `convert` moves stored cells from
//! one type to another when a field's type changes.

mod cell;
mod convert;
mod types;

pub use cell::{CellError, new_choice_names, normalize_number};
pub use convert::{ConversionFailure, convert_cell};
pub use types::{Choice, FieldType, MetaColumn, OptionsError, ValueKind};
