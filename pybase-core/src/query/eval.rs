//! The in-memory reference semantics of filters and sorts.
//!
//! Stores compile queries to SQL; the conformance suite and property tests
//! check them against these functions, which are written for clarity, not
//! speed.

use std::cmp::Ordering;

use serde_json::Value;

use super::cursor::SortValue;
use super::filter::{Condition, Filter, Op, Operand, Target};
use super::sort::SortKey;
use crate::fields::{MetaColumn, ValueKind};
use crate::model::Record;

/// The time format of meta columns: RFC 3339 UTC with milliseconds, so byte
/// order is time order.
pub const TIME_FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.3fZ";

/// The value a target reads from a record, as a sort value. Absent cells are
/// `Null`, except booleans which are `false`.
pub fn target_value(target: Target, record: &Record) -> SortValue {
    match target {
        Target::Meta(m) => match m {
            MetaColumn::Autonumber => SortValue::Number(record.autonumber as f64),
            MetaColumn::CreatedTime => {
                SortValue::Text(record.created_time.format(TIME_FORMAT).to_string())
            }
            MetaColumn::UpdatedTime => {
                SortValue::Text(record.updated_time.format(TIME_FORMAT).to_string())
            }
            MetaColumn::CreatedBy => record
                .created_by
                .map_or(SortValue::Null, |u| SortValue::Text(u.to_string())),
            MetaColumn::UpdatedBy => record
                .updated_by
                .map_or(SortValue::Null, |u| SortValue::Text(u.to_string())),
        },
        Target::Cell { field, kind } => {
            let cell = record.cells.get(field.as_str());
            match (kind, cell) {
                (ValueKind::Bool, c) => SortValue::Bool(matches!(c, Some(Value::Bool(true)))),
                (_, None | Some(Value::Null)) => SortValue::Null,
                (ValueKind::Number, Some(v)) => {
                    v.as_f64().map_or(SortValue::Null, SortValue::Number)
                }
                (ValueKind::Text, Some(Value::String(s))) => SortValue::Text(s.clone()),
                // Lists are not sortable; report them as their JSON text.
                (_, Some(v)) => SortValue::Text(v.to_string()),
            }
        }
    }
}

fn list_cell(target: Target, record: &Record) -> Vec<&str> {
    match target {
        Target::Cell { field, .. } => match record.cells.get(field.as_str()) {
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        },
        Target::Meta(_) => Vec::new(),
    }
}

fn cmp_values(a: &SortValue, b: &SortValue) -> Option<Ordering> {
    match (a, b) {
        (SortValue::Number(x), SortValue::Number(y)) => x.partial_cmp(y),
        (SortValue::Text(x), SortValue::Text(y)) => Some(x.as_bytes().cmp(y.as_bytes())),
        (SortValue::Bool(x), SortValue::Bool(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

fn operand_value(operand: &Operand) -> Option<SortValue> {
    match operand {
        Operand::Text(s) => Some(SortValue::Text(s.clone())),
        Operand::Number(n) => Some(SortValue::Number(*n)),
        Operand::Bool(b) => Some(SortValue::Bool(*b)),
        _ => None,
    }
}

fn ascii_contains(hay: &str, needle: &str) -> bool {
    hay.to_ascii_lowercase()
        .contains(&needle.to_ascii_lowercase())
}

/// Whether `record` satisfies one condition.
pub fn condition_matches(cond: &Condition, record: &Record) -> bool {
    if cond.target.kind() == ValueKind::List {
        let cell = list_cell(cond.target, record);
        let wanted: &[String] = match &cond.operand {
            Operand::TextList(l) => l,
            _ => &[],
        };
        return match cond.op {
            Op::IsEmpty => cell.is_empty(),
            Op::IsNotEmpty => !cell.is_empty(),
            Op::HasAny => wanted.iter().any(|w| cell.contains(&w.as_str())),
            Op::HasAll => !wanted.is_empty() && wanted.iter().all(|w| cell.contains(&w.as_str())),
            _ => false,
        };
    }
    let value = target_value(cond.target, record);
    // A number field's error cell (an object) compares with nothing but is
    // not empty (as the stores read it).
    let empty = match cond.target {
        Target::Cell {
            field,
            kind: ValueKind::Number,
        } => matches!(record.cells.get(field.as_str()), None | Some(Value::Null)),
        _ => value == SortValue::Null,
    };
    match cond.op {
        Op::IsEmpty => empty,
        Op::IsNotEmpty => !empty,
        Op::Eq | Op::Neq | Op::Lt | Op::Lte | Op::Gt | Op::Gte => {
            let ord = operand_value(&cond.operand).and_then(|o| cmp_values(&value, &o));
            let hit = match (cond.op, ord) {
                (_, None) => false,
                (Op::Eq | Op::Neq, Some(o)) => o == Ordering::Equal,
                (Op::Lt, Some(o)) => o == Ordering::Less,
                (Op::Lte, Some(o)) => o != Ordering::Greater,
                (Op::Gt, Some(o)) => o == Ordering::Greater,
                (Op::Gte, Some(o)) => o != Ordering::Less,
                _ => false,
            };
            if cond.op == Op::Neq { !hit } else { hit }
        }
        Op::Contains | Op::NotContains | Op::StartsWith => {
            let hit = match (&value, &cond.operand) {
                (SortValue::Text(s), Operand::Text(n)) => match cond.op {
                    Op::StartsWith => s.to_ascii_lowercase().starts_with(&n.to_ascii_lowercase()),
                    _ => ascii_contains(s, n),
                },
                _ => false,
            };
            if cond.op == Op::NotContains {
                !hit
            } else {
                hit
            }
        }
        Op::In => match (&value, &cond.operand) {
            (SortValue::Text(s), Operand::TextList(l)) => l.iter().any(|x| x == s),
            (SortValue::Number(n), Operand::NumberList(l)) => l.iter().any(|x| x == n),
            _ => false,
        },
        Op::HasAny | Op::HasAll => false,
    }
}

/// Whether `record` satisfies `filter`.
pub fn matches(filter: &Filter, record: &Record) -> bool {
    match filter {
        Filter::And(parts) => parts.iter().all(|f| matches(f, record)),
        Filter::Or(parts) => parts.iter().any(|f| matches(f, record)),
        Filter::Not(inner) => !matches(inner, record),
        Filter::Cond(c) => condition_matches(c, record),
    }
}

/// Compares two sort values of one key: empty last in either direction.
pub fn compare_key(a: &SortValue, b: &SortValue, desc: bool) -> Ordering {
    match (a == &SortValue::Null, b == &SortValue::Null) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        (false, false) => {
            let o = cmp_values(a, b).unwrap_or(Ordering::Equal);
            if desc { o.reverse() } else { o }
        }
    }
}

/// The total order of a query: each key in turn, then record id ascending.
pub fn compare_records(sort: &[SortKey], a: &Record, b: &Record) -> Ordering {
    for key in sort {
        let o = compare_key(
            &target_value(key.target, a),
            &target_value(key.target, b),
            key.desc,
        );
        if o != Ordering::Equal {
            return o;
        }
    }
    a.id.cmp(&b.id)
}

/// Whether `record` comes strictly after the position `(values, id)`.
pub fn is_after(
    sort: &[SortKey],
    values: &[SortValue],
    id: &crate::ids::RecordId,
    record: &Record,
) -> bool {
    for (key, at) in sort.iter().zip(values) {
        let o = compare_key(&target_value(key.target, record), at, key.desc);
        if o != Ordering::Equal {
            return o == Ordering::Greater;
        }
    }
    record.id > *id
}
