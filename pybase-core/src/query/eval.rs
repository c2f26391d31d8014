//! The in-memory reference semantics of filters and sorts.
//!
//! Stores compile queries to SQL; the conformance suite and property tests
//! check them against these functions, which are written for clarity, not
//! speed.

use std::borrow::Cow;
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
        Target::FirstNumber(field) => match record.cells.get(field.as_str()) {
            Some(Value::Array(items)) => items
                .first()
                .and_then(Value::as_f64)
                .map_or(SortValue::Null, SortValue::Number),
            _ => SortValue::Null,
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
                // A list sorts by its first item when that is text (a
                // multiple select's first choice, a lookup's first text);
                // otherwise as empty.
                (ValueKind::List, Some(v)) => match v.get(0) {
                    Some(Value::String(s)) => SortValue::Text(s.clone()),
                    _ => SortValue::Null,
                },
                (_, Some(v)) => SortValue::Text(v.to_string()),
            }
        }
    }
}

/// The items of a list target's cell (none for anything but an array).
fn list_cell(target: Target, record: &Record) -> &[Value] {
    match target {
        Target::Cell { field, .. } => match record.cells.get(field.as_str()) {
            Some(Value::Array(items)) => items,
            _ => &[],
        },
        Target::Meta(_) | Target::FirstNumber(_) => &[],
    }
}

/// The text form a list item is matched by in `has_any` / `has_all`: a
/// string as is, a number in its canonical JSON text
/// ([`crate::formula::number_json`]: `10`, `3.5`, `1e16`; `10.0` reads as
/// `10`), a boolean as `true` / `false`; `None` for anything else (null,
/// objects such as a formula's error cell, nested arrays), which matches
/// nothing.
pub fn list_item_text(item: &Value) -> Option<Cow<'_, str>> {
    match item {
        Value::String(s) => Some(Cow::Borrowed(s)),
        Value::Number(n) => n.as_f64().map(|x| Cow::Owned(number_text(x))),
        Value::Bool(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
        _ => None,
    }
}

/// A finite number's canonical JSON text ([`crate::formula::number_json`]:
/// `10` for `10.0`, `0` for `-0`, `3.5`, `1e16`).
pub fn number_text(x: f64) -> String {
    crate::formula::number_json(x).to_string()
}

/// Whether a list item counts towards a list cell being non-empty: any
/// item but `null`.
pub fn list_item_present(item: &Value) -> bool {
    !item.is_null()
}

/// The list items a wanted text of `has_any` / `has_all` matches, beside
/// the string equal to it: the number whose canonical text it is, and the
/// boolean `true` / `false` it spells. Stores compare numbers numerically,
/// which is the same as comparing [`list_item_text`]: a number's canonical
/// text reads back as the same number, and equal numbers (`0` and `-0`
/// too) have one canonical text.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ListWanted {
    /// The number `wanted` is the canonical text of (`"10"`, `"3.5"`; not
    /// `"10.0"` or `"-0"`).
    pub number: Option<f64>,
    /// `Some(true)` for `"true"`, `Some(false)` for `"false"`.
    pub boolean: Option<bool>,
}

impl ListWanted {
    /// What `wanted` matches besides the string equal to it.
    pub fn of(wanted: &str) -> Self {
        let number = wanted
            .parse::<f64>()
            .ok()
            .filter(|x| x.is_finite())
            .filter(|x| number_text(*x) == wanted);
        let boolean = match wanted {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        };
        Self { number, boolean }
    }

    /// Whether only a string item can match (no number or boolean spells it).
    pub fn text_only(self) -> bool {
        self.number.is_none() && self.boolean.is_none()
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
        let items = list_cell(cond.target, record);
        let texts: Vec<Cow<'_, str>> = items.iter().filter_map(list_item_text).collect();
        let held = |w: &String| texts.iter().any(|t| t.as_ref() == w.as_str());
        let wanted: &[String] = match &cond.operand {
            Operand::TextList(l) => l,
            _ => &[],
        };
        let present = items.iter().any(list_item_present);
        return match cond.op {
            Op::IsEmpty => !present,
            Op::IsNotEmpty => present,
            Op::HasAny => wanted.iter().any(held),
            Op::HasAll => !wanted.is_empty() && wanted.iter().all(held),
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
