//! Resolution of client filters and sorts against a table's fields.

use std::collections::HashMap;

use serde_json::Value;

use super::filter::{Condition, Filter, FilterSpec, Op, Operand, Target};
use super::sort::{SortKey, SortSpec};
use crate::fields::{FieldType, Reference, ValueKind};
use crate::formula::ResultType;
use crate::ids::FieldId;
use crate::limits::Limits;
use crate::model::Field;

/// A filter or sort that does not fit the table; `field` names the culprit
/// (`filter`, `sort` or a field name) and `expected` what would fit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {expected}")]
pub struct QueryError {
    /// Where the problem is.
    pub field: String,
    /// What was expected.
    pub expected: String,
}

impl From<QueryError> for crate::Error {
    fn from(e: QueryError) -> Self {
        Self::invalid(e.field, e.expected)
    }
}

fn qerr(field: impl Into<String>, expected: impl Into<String>) -> QueryError {
    QueryError {
        field: field.into(),
        expected: expected.into(),
    }
}

/// What a filter has used of its [`Limits`] while it is parsed.
struct Budget<'a> {
    limits: &'a Limits,
    /// Conditions and groups so far.
    nodes: usize,
    /// List values so far.
    values: usize,
}

impl Budget<'_> {
    /// Counts one node (a condition or a group, empty ones included).
    fn node(&mut self) -> Result<(), QueryError> {
        self.nodes += 1;
        if self.nodes > self.limits.filter_nodes {
            return Err(qerr(
                "filter",
                format!("at most {} conditions and groups", self.limits.filter_nodes),
            ));
        }
        Ok(())
    }

    /// Counts the values of a list operand.
    fn values(&mut self, value: &Value) -> Result<(), QueryError> {
        if let Value::Array(items) = value {
            self.values += items.len();
            if self.values > self.limits.filter_values {
                return Err(qerr(
                    "filter",
                    format!(
                        "at most {} list values in one filter",
                        self.limits.filter_values
                    ),
                ));
            }
        }
        Ok(())
    }
}

impl FilterSpec {
    /// Parses the API's filter JSON: `{"and":[..]}`, `{"or":[..]}`,
    /// `{"not":{..}}` or `{"field","op","value"}`, within the default
    /// [`Limits`].
    pub fn from_json(value: &Value) -> Result<Self, QueryError> {
        Self::from_json_within(value, &Limits::default())
    }

    /// [`FilterSpec::from_json`] within `limits`: nesting, conditions and
    /// groups (empty ones count too), and list values, each checked as the
    /// JSON is walked, before the filter is resolved or compiled.
    pub fn from_json_within(value: &Value, limits: &Limits) -> Result<Self, QueryError> {
        let mut budget = Budget {
            limits,
            nodes: 0,
            values: 0,
        };
        parse_spec(value, 0, &mut budget)
    }

    /// The API's JSON shape of this filter.
    pub fn to_json(&self) -> Value {
        match self {
            Self::And(parts) => {
                serde_json::json!({ "and": parts.iter().map(Self::to_json).collect::<Vec<_>>() })
            }
            Self::Or(parts) => {
                serde_json::json!({ "or": parts.iter().map(Self::to_json).collect::<Vec<_>>() })
            }
            Self::Not(inner) => serde_json::json!({ "not": inner.to_json() }),
            Self::Cond { field, op, value } => {
                if value.is_null() {
                    serde_json::json!({ "field": field, "op": op })
                } else {
                    serde_json::json!({ "field": field, "op": op, "value": value })
                }
            }
        }
    }

    /// The same filter with every field reference rewritten by `f`
    /// (names to ids when a view is saved, ids to names when shown).
    pub fn map_fields(&self, f: &impl Fn(&str) -> String) -> Self {
        match self {
            Self::And(p) => Self::And(p.iter().map(|x| x.map_fields(f)).collect()),
            Self::Or(p) => Self::Or(p.iter().map(|x| x.map_fields(f)).collect()),
            Self::Not(i) => Self::Not(Box::new(i.map_fields(f))),
            Self::Cond { field, op, value } => Self::Cond {
                field: f(field),
                op: op.clone(),
                value: value.clone(),
            },
        }
    }
}

fn parse_spec(
    value: &Value,
    depth: usize,
    count: &mut Budget<'_>,
) -> Result<FilterSpec, QueryError> {
    if depth > count.limits.filter_depth {
        return Err(qerr(
            "filter",
            format!("at most {} levels of nesting", count.limits.filter_depth),
        ));
    }
    let Value::Object(m) = value else {
        return Err(qerr(
            "filter",
            format!("an object with and, or, not or field/op/value, got {value}"),
        ));
    };
    let list =
        |v: &Value, key: &str, count: &mut Budget<'_>| -> Result<Vec<FilterSpec>, QueryError> {
            match v {
                Value::Array(items) => items
                    .iter()
                    .map(|i| parse_spec(i, depth + 1, count))
                    .collect(),
                other => Err(qerr(
                    "filter",
                    format!("{key} takes a list of filters, got {other}"),
                )),
            }
        };
    if m.len() == 1 && ["and", "or", "not"].iter().any(|k| m.contains_key(*k)) {
        count.node()?;
    }
    if m.len() == 1 {
        if let Some(v) = m.get("and") {
            return Ok(FilterSpec::And(list(v, "and", count)?));
        }
        if let Some(v) = m.get("or") {
            return Ok(FilterSpec::Or(list(v, "or", count)?));
        }
        if let Some(v) = m.get("not") {
            return Ok(FilterSpec::Not(Box::new(parse_spec(v, depth + 1, count)?)));
        }
    }
    for k in m.keys() {
        if !["field", "op", "value"].contains(&k.as_str()) {
            return Err(qerr(
                "filter",
                format!("unknown key {k:?} (expected and, or, not, or field, op and value)"),
            ));
        }
    }
    let field = match m.get("field") {
        Some(Value::String(s)) => s.clone(),
        _ => {
            return Err(qerr(
                "filter",
                "a condition needs \"field\" (a field name or id)",
            ));
        }
    };
    let op = match m.get("op") {
        Some(Value::String(s)) => s.clone(),
        _ => return Err(qerr("filter", "a condition needs \"op\"")),
    };
    count.node()?;
    let value = m.get("value").cloned().unwrap_or(Value::Null);
    count.values(&value)?;
    Ok(FilterSpec::Cond { field, op, value })
}

/// A table's fields indexed by id, exact name and case-folded name, so a
/// write with many keys finds each in constant time ([`find_field`] scans).
#[derive(Debug)]
pub struct FieldIndex<'a> {
    by_id: HashMap<FieldId, &'a Field>,
    by_name: HashMap<&'a str, &'a Field>,
    by_folded: HashMap<String, &'a Field>,
}

impl<'a> FieldIndex<'a> {
    /// Indexes `fields` (the first of equal folded names wins, as in
    /// [`find_field`]).
    pub fn new(fields: &'a [Field]) -> Self {
        let mut index = Self {
            by_id: HashMap::with_capacity(fields.len()),
            by_name: HashMap::with_capacity(fields.len()),
            by_folded: HashMap::with_capacity(fields.len()),
        };
        for f in fields {
            index.by_id.entry(f.id).or_insert(f);
            index.by_name.entry(f.name.as_str()).or_insert(f);
            index.by_folded.entry(f.name.to_lowercase()).or_insert(f);
        }
        index
    }

    /// The field `key` names, as [`find_field`] would find it.
    pub fn find(&self, key: &str) -> Option<&'a Field> {
        if let Ok(id) = FieldId::parse(key)
            && let Some(f) = self.by_id.get(&id)
        {
            return Some(f);
        }
        self.by_name
            .get(key)
            .or_else(|| self.by_folded.get(&key.to_lowercase()))
            .copied()
    }
}

/// Finds a field by id, exact name, or name ignoring case.
pub fn find_field<'a>(fields: &'a [Field], key: &str) -> Option<&'a Field> {
    if let Ok(id) = FieldId::parse(key)
        && let Some(f) = fields.iter().find(|f| f.id == id)
    {
        return Some(f);
    }
    fields.iter().find(|f| f.name == key).or_else(|| {
        fields
            .iter()
            .find(|f| f.name.to_lowercase() == key.to_lowercase())
    })
}

/// Where a field's values are read from.
pub fn target_of(field: &Field) -> Target {
    match field.field_type.meta_column() {
        Some(m) => Target::Meta(m),
        None => Target::Cell {
            field: field.id,
            kind: field.field_type.value_kind(),
        },
    }
}

/// What a sort by `field` orders by: its target ([`target_of`]), except
/// that a lookup of numbers orders by its first number.
fn sort_target_of(field: &Field) -> Target {
    match &field.field_type {
        FieldType::Lookup(l) if l.item_type == Some(ResultType::Number) => {
            Target::FirstNumber(field.id)
        }
        _ => target_of(field),
    }
}

fn number_operand(name: &str, v: &Value) -> Result<f64, QueryError> {
    match v {
        Value::Number(n) => n.as_f64().ok_or_else(|| qerr(name, "a number")),
        Value::String(s) => s
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|n| n.is_finite())
            .ok_or_else(|| qerr(name, format!("a number, got {v}"))),
        _ => Err(qerr(name, format!("a number, got {v}"))),
    }
}

fn text_operand(field: &Field, op: Op, v: &Value) -> Result<String, QueryError> {
    let name = &field.name;
    let Value::String(s) = v else {
        return Err(qerr(name, format!("a string, got {v}")));
    };
    if !field.field_type.is_computed() && s.is_empty() {
        return Err(qerr(
            name,
            "a non-empty value (use is_empty to find empty cells)",
        ));
    }
    let partial = matches!(op, Op::Contains | Op::NotContains | Op::StartsWith);
    field
        .field_type
        .kind()
        .text_operand(s, v, partial)
        .map_err(|e| qerr(name, e))
}

fn list_operand(field: &Field, v: &Value) -> Result<Vec<String>, QueryError> {
    let name = &field.name;
    let items: Vec<&Value> = match v {
        Value::Array(a) => a.iter().collect(),
        Value::String(_) | Value::Number(_) | Value::Bool(_) => vec![v],
        _ => return Err(qerr(name, format!("a value or a list of values, got {v}"))),
    };
    if items.is_empty() {
        return Err(qerr(name, "a non-empty list"));
    }
    items
        .into_iter()
        .map(|item| {
            // A number or boolean operand stands for its text form, as a
            // number or boolean item of a list cell reads (`10`, `3.5`,
            // `true`); null, objects and arrays are refused.
            let Some(text) = super::eval::list_item_text(item) else {
                return Err(qerr(
                    name,
                    format!("strings, numbers or booleans, got {item}"),
                ));
            };
            field
                .field_type
                .kind()
                .list_operand(text.as_ref(), item)
                .map_err(|e| qerr(name, e))
        })
        .collect()
}

fn resolve_condition(field: &Field, op_name: &str, value: &Value) -> Result<Condition, QueryError> {
    let name = &field.name;
    let target = target_of(field);
    let kind = target.kind();
    let allowed = Op::allowed_for(kind);
    let op = Op::parse(op_name)
        .filter(|op| allowed.contains(op))
        .ok_or_else(|| {
            let names: Vec<&str> = allowed.iter().map(|o| o.as_str()).collect();
            qerr(
                name,
                format!(
                    "an operator for a {} field ({}), got {op_name:?}",
                    field.field_type.type_name(),
                    names.join(", ")
                ),
            )
        })?;
    let operand = match (op, kind) {
        (Op::IsEmpty | Op::IsNotEmpty, _) => Operand::None,
        (Op::HasAny | Op::HasAll, _) => Operand::TextList(list_operand(field, value)?),
        (_, ValueKind::Bool) => match value {
            Value::Bool(b) => Operand::Bool(*b),
            Value::String(s) if s == "true" || s == "false" => Operand::Bool(s == "true"),
            _ => return Err(qerr(name, format!("true or false, got {value}"))),
        },
        (Op::In, ValueKind::Number) => {
            let Value::Array(items) = value else {
                return Err(qerr(name, format!("a list of numbers, got {value}")));
            };
            if items.is_empty() {
                return Err(qerr(name, "a non-empty list"));
            }
            Operand::NumberList(
                items
                    .iter()
                    .map(|i| number_operand(name, i))
                    .collect::<Result<_, _>>()?,
            )
        }
        (Op::In, _) => {
            let Value::Array(items) = value else {
                return Err(qerr(name, format!("a list of values, got {value}")));
            };
            if items.is_empty() {
                return Err(qerr(name, "a non-empty list"));
            }
            Operand::TextList(
                items
                    .iter()
                    .map(|i| text_operand(field, Op::Eq, i))
                    .collect::<Result<_, _>>()?,
            )
        }
        (_, ValueKind::Number) => Operand::Number(number_operand(name, value)?),
        (_, _) => Operand::Text(text_operand(field, op, value)?),
    };
    Ok(Condition {
        target,
        op,
        operand,
    })
}

/// Resolves a client filter against `fields`, checking every operator
/// against its field's type and normalising every operand.
pub fn resolve_filter(spec: &FilterSpec, fields: &[Field]) -> Result<Filter, QueryError> {
    Ok(match spec {
        FilterSpec::And(parts) => Filter::And(
            parts
                .iter()
                .map(|p| resolve_filter(p, fields))
                .collect::<Result<_, _>>()?,
        ),
        FilterSpec::Or(parts) => Filter::Or(
            parts
                .iter()
                .map(|p| resolve_filter(p, fields))
                .collect::<Result<_, _>>()?,
        ),
        FilterSpec::Not(inner) => Filter::Not(Box::new(resolve_filter(inner, fields)?)),
        FilterSpec::Cond { field, op, value } => {
            let f = find_field(fields, field)
                .ok_or_else(|| qerr(field, "an existing field of the table"))?;
            Filter::Cond(resolve_condition(f, op, value)?)
        }
    })
}

impl SortSpec {
    /// Parses `-Price,Name` (a leading `-` means descending).
    pub fn parse_list(s: &str) -> Result<Vec<Self>, QueryError> {
        s.split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| match p.strip_prefix('-') {
                Some(name) if !name.is_empty() => Ok(Self {
                    field: name.to_owned(),
                    desc: true,
                }),
                Some(_) => Err(qerr("sort", "a field name after '-'")),
                None => Ok(Self {
                    field: p.strip_prefix('+').unwrap_or(p).to_owned(),
                    desc: false,
                }),
            })
            .collect()
    }

    /// Parses the JSON form: the string form, or
    /// `[{"field":"Price","direction":"desc"}]`.
    pub fn from_json(value: &Value) -> Result<Vec<Self>, QueryError> {
        match value {
            Value::Null => Ok(Vec::new()),
            Value::String(s) => Self::parse_list(s),
            Value::Array(items) => items
                .iter()
                .map(|item| {
                    let field = item.get("field").and_then(Value::as_str).ok_or_else(|| {
                        qerr(
                            "sort",
                            format!("{{\"field\", \"direction\"}} objects, got {item}"),
                        )
                    })?;
                    let desc = match item.get("direction").and_then(Value::as_str) {
                        None | Some("asc") => false,
                        Some("desc") => true,
                        Some(d) => {
                            return Err(qerr("sort", format!("direction asc or desc, got {d:?}")));
                        }
                    };
                    Ok(Self {
                        field: field.to_owned(),
                        desc,
                    })
                })
                .collect(),
            other => Err(qerr(
                "sort",
                format!("a string like \"-Price,Name\" or a list, got {other}"),
            )),
        }
    }
}

/// Most sort keys a query may have.
const MAX_SORT_KEYS: usize = 10;

/// Resolves client sort keys against `fields`.
pub fn resolve_sort(specs: &[SortSpec], fields: &[Field]) -> Result<Vec<SortKey>, QueryError> {
    if specs.len() > MAX_SORT_KEYS {
        return Err(qerr("sort", format!("at most {MAX_SORT_KEYS} sort keys")));
    }
    specs
        .iter()
        .map(|s| {
            let f = find_field(fields, &s.field)
                .ok_or_else(|| qerr(&s.field, "an existing field of the table"))?;
            let target = sort_target_of(f);
            // Lists sort by their first item's text (a lookup of numbers by
            // its first number); ids are no order to show (a link sorts
            // through a lookup of the linked records' primary field).
            match f.field_type.references() {
                Some(Reference::Records(_)) => {
                    return Err(qerr(
                        &f.name,
                        "a sortable field (a link field cannot be sorted: sort by a lookup of \
                         the linked table's primary field)",
                    ));
                }
                Some(Reference::Attachments) => {
                    return Err(qerr(
                        &f.name,
                        "a sortable field (an attachment field cannot be sorted)",
                    ));
                }
                None => {}
            }
            Ok(SortKey {
                target,
                desc: s.desc,
            })
        })
        .collect()
}

/// A stable fingerprint of a query's shape, kept in its cursors so a cursor
/// is never applied to a different query.
pub fn fingerprint(table: &str, filter: Option<&Filter>, sort: &[SortKey]) -> u64 {
    let text = format!("{table}|{filter:?}|{sort:?}");
    // FNV-1a: stable across builds, unlike std's hasher.
    text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}
