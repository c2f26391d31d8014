//! Filter trees, by name (as clients write them) and resolved (as stores read them).

use serde_json::Value;

use crate::fields::{MetaColumn, ValueKind};
use crate::ids::FieldId;

/// A comparison operator of a filter condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// Equal (text: exact bytes; bool: absent counts as false).
    Eq,
    /// Not equal; true for empty cells.
    Neq,
    /// Less than.
    Lt,
    /// Less than or equal.
    Lte,
    /// Greater than.
    Gt,
    /// Greater than or equal.
    Gte,
    /// Text contains the operand, ignoring ASCII case.
    Contains,
    /// Text does not contain the operand, ignoring ASCII case; true for empty cells.
    NotContains,
    /// Text starts with the operand, ignoring ASCII case.
    StartsWith,
    /// The cell is empty.
    IsEmpty,
    /// The cell is not empty.
    IsNotEmpty,
    /// The cell equals one of the operand's values.
    In,
    /// The list cell holds at least one of the operand's values.
    HasAny,
    /// The list cell holds every one of the operand's values.
    HasAll,
}

impl Op {
    /// Every operator.
    pub const ALL: [Self; 14] = [
        Self::Eq,
        Self::Neq,
        Self::Lt,
        Self::Lte,
        Self::Gt,
        Self::Gte,
        Self::Contains,
        Self::NotContains,
        Self::StartsWith,
        Self::IsEmpty,
        Self::IsNotEmpty,
        Self::In,
        Self::HasAny,
        Self::HasAll,
    ];

    /// The API name of the operator.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Eq => "eq",
            Self::Neq => "neq",
            Self::Lt => "lt",
            Self::Lte => "lte",
            Self::Gt => "gt",
            Self::Gte => "gte",
            Self::Contains => "contains",
            Self::NotContains => "not_contains",
            Self::StartsWith => "starts_with",
            Self::IsEmpty => "is_empty",
            Self::IsNotEmpty => "is_not_empty",
            Self::In => "in",
            Self::HasAny => "has_any",
            Self::HasAll => "has_all",
        }
    }

    /// Parses an API operator name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|op| op.as_str() == s)
    }

    /// The operators that apply to cells of `kind`.
    pub fn allowed_for(kind: ValueKind) -> &'static [Self] {
        match kind {
            ValueKind::Text => &[
                Self::Eq,
                Self::Neq,
                Self::Lt,
                Self::Lte,
                Self::Gt,
                Self::Gte,
                Self::Contains,
                Self::NotContains,
                Self::StartsWith,
                Self::IsEmpty,
                Self::IsNotEmpty,
                Self::In,
            ],
            ValueKind::Number => &[
                Self::Eq,
                Self::Neq,
                Self::Lt,
                Self::Lte,
                Self::Gt,
                Self::Gte,
                Self::IsEmpty,
                Self::IsNotEmpty,
                Self::In,
            ],
            ValueKind::Bool => &[Self::Eq, Self::Neq],
            ValueKind::List => &[Self::HasAny, Self::HasAll, Self::IsEmpty, Self::IsNotEmpty],
        }
    }
}

/// A filter as a client writes it: fields named by name or id.
#[derive(Debug, Clone, PartialEq)]
pub enum FilterSpec {
    /// All must match (an empty list matches everything).
    And(Vec<Self>),
    /// At least one must match (an empty list matches nothing).
    Or(Vec<Self>),
    /// Must not match.
    Not(Box<Self>),
    /// A condition on one field.
    Cond {
        /// Field name or id.
        field: String,
        /// Operator name as written.
        op: String,
        /// Operand as written (`null` when absent).
        value: Value,
    },
}

/// What a resolved condition reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Target {
    /// A stored cell.
    Cell {
        /// The field whose cell is read.
        field: FieldId,
        /// How it is stored and compared.
        kind: ValueKind,
    },
    /// A column of the record computed by the store.
    Meta(MetaColumn),
    /// The first item of a list cell read as a number, anything else
    /// there empty: what a lookup of numbers sorts by. Sort keys only
    /// (filters on a list read every item).
    FirstNumber(FieldId),
}

impl Target {
    /// How the target compares.
    pub fn kind(self) -> ValueKind {
        match self {
            Self::Cell { kind, .. } => kind,
            Self::Meta(m) => m.kind(),
            Self::FirstNumber(_) => ValueKind::Number,
        }
    }
}

/// A normalised operand.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    /// No operand (`is_empty`, `is_not_empty`).
    None,
    /// A text value.
    Text(String),
    /// A number.
    Number(f64),
    /// A boolean.
    Bool(bool),
    /// Text values (`in` on text, `has_any`, `has_all`); never empty.
    TextList(Vec<String>),
    /// Numbers (`in` on numbers); never empty.
    NumberList(Vec<f64>),
}

/// One resolved condition; the operator always fits the target's kind and
/// the operand always fits the operator.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    /// What is read.
    pub target: Target,
    /// How it is compared.
    pub op: Op,
    /// What it is compared with.
    pub operand: Operand,
}

/// A resolved filter tree.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// All must match (empty: true).
    And(Vec<Self>),
    /// At least one must match (empty: false).
    Or(Vec<Self>),
    /// Must not match.
    Not(Box<Self>),
    /// A condition.
    Cond(Condition),
}
