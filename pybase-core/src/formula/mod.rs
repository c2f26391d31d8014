//! The formula language (FORMULA.md part A): lexer, parser, printer and
//! evaluator, pure and without store access.
//!
//! - [`parse`] turns formula text into an [`Expr`] with byte spans, or a
//!   [`FormulaError`] naming the position and what was expected.
//! - [`print()`] renders an [`Expr`] back to canonical text;
//!   `parse(print(e)) == e` (spans are not compared).
//! - [`check`] resolves a formula against a table's fields (stored by
//!   field id, shown by name with [`display`]) and infers its type.
//! - [`plan_filter`] splits a checked filter formula into SQL-able
//!   [`crate::query::Filter`], record ids and a residual run by [`keeps`].
//! - [`evaluate`] computes a [`Value`] from an [`Expr`], reading fields
//!   through a caller-supplied [`FieldSource`].

mod ast;
mod cells;
mod check;
mod coerce;
mod date_format;
mod dates;
mod error;
mod eval;
mod filter;
mod functions;
mod lexer;
mod limits;
mod numeric;
mod parser;
mod printer;
mod record_values;
mod regex_fns;
mod value;

#[cfg(test)]
mod tests_docs;
#[cfg(test)]
mod tests_golden;
#[cfg(test)]
mod tests_parse;
#[cfg(test)]
mod tests_zones;

pub use ast::{BinaryOp, Expr, ExprKind, Span, UnaryOp};
pub use cells::{canonical_cell, from_cell, number_json, same_cell, to_cell, to_cell_in};
pub use check::{
    CheckError, Checked, ResultType, by_ids, check, check_rollup, display, field_result_type,
    name_deleted_reference, parse_positioned,
};
pub(crate) use dates::zone_named;
pub use error::FormulaError;
pub use eval::{EvalContext, FieldSource, evaluate};
pub use filter::{FormulaFilter, plan_filter};
pub use limits::{MAX_ARGUMENTS, MAX_DEPTH, MAX_HEIGHT, MAX_SOURCE_BYTES, MAX_TEXT_BYTES};
pub use parser::parse;
pub use printer::print;
pub(crate) use record_values::keeps_indexed;
pub use record_values::{LinkTitles, keeps, record_value};
pub use value::{ErrorKind, Value};

/// A field of `ty` with `options` in a fresh table, for the module's tests.
#[cfg(test)]
pub(crate) fn test_field(name: &str, ty: &str, options: &serde_json::Value) -> crate::model::Field {
    crate::model::Field {
        id: crate::ids::FieldId::new(),
        table_id: crate::ids::TableId::new(),
        name: name.into(),
        description: None,
        field_type: crate::fields::FieldType::from_parts(ty, options).expect("a valid type"),
        position: 0,
        indexed: false,
        index_origin: crate::model::IndexOrigin::Manual,
        status: crate::model::FieldStatus::Ready,
        created_at: chrono::DateTime::UNIX_EPOCH,
        updated_at: chrono::DateTime::UNIX_EPOCH,
    }
}
