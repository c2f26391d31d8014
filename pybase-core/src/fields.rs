//! Field types, their options, and the validation and conversion of cells.
//!
//! A field's type is a [`FieldType`]: one variant per type, each holding its
//! options struct from [`kinds`]. Every type's behaviour (options, storage,
//! validation and typecast, conversion input, filter operands, references,
//! rendering) is its [`Kind`] implementation in one module under `kinds/`;
//! `registry.rs` lists the types once and generates the enum, the name list
//! and the exhaustive dispatch. Cells are JSON values:
//! [`FieldType::validate_cell`] checks and normalises what a client writes
//! (with optional `typecast`), and [`convert_cell`] moves stored cells from
//! one type to another when a field's type changes.

mod cell;
mod convert;
mod decimal;
mod kind;
pub mod kinds;
mod name_list;
mod options_schema;
mod registry;

pub use cell::{CellError, new_choice_names};
pub(crate) use cell::{is_empty_value, shown};
pub(crate) use convert::render_text;
pub use convert::{ConversionFailure, convert_cell};
pub use decimal::normalize_number;
pub use kind::{
    Kind, KindInfo, MetaColumn, Options, OptionsError, Reference, RenderContext, Storage, ValueKind,
};
pub use kinds::Choice;
pub(crate) use kinds::item_id;
pub(crate) use name_list::{join_names, split_names};
pub use registry::FieldType;
