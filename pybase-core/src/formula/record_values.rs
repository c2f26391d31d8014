//! A stored record's cells as formula values (A.3, AIRTABLE.md §8): a
//! single select is its name, a multi select its names, a link the linked
//! records' primary field values, a checkbox `true`/`false` (absent is
//! false), dates and datetimes instants; every other empty cell is Blank.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value as Json;

use super::check::field_result_type;
use super::eval::{EvalContext, evaluate};
use super::value::Value;
use super::{Expr, ResultType};
use crate::fields::{MetaColumn, Reference, Storage};
use crate::ids::{FieldId, RecordId};
use crate::model::{Field, Record, Timestamp};

/// The primary field values of linked records, as a link cell shows them
/// in a formula; a linked record missing here (soft-deleted) is left out
/// of the list, as reads leave it out of the link cell.
pub type LinkTitles = HashMap<RecordId, Value>;

/// A timestamp as the stores compare it: whole milliseconds.
fn millis(t: Timestamp) -> Option<Timestamp> {
    DateTime::<Utc>::from_timestamp_millis(t.timestamp_millis())
}

fn to_millis(t: Timestamp) -> Value {
    millis(t).map_or(Value::Blank, Value::instant)
}

/// The value `field` has in `record`.
pub fn record_value(field: &Field, record: &Record, links: &LinkTitles) -> Value {
    if let Storage::Column(column) = field.field_type.storage() {
        return match column {
            MetaColumn::Autonumber => Value::number(record.autonumber as f64),
            MetaColumn::CreatedTime => to_millis(record.created_time),
            MetaColumn::UpdatedTime => to_millis(record.updated_time),
            MetaColumn::CreatedBy => record
                .created_by
                .map_or(Value::Blank, |u| Value::Text(u.to_string())),
            MetaColumn::UpdatedBy => record
                .updated_by
                .map_or(Value::Blank, |u| Value::Text(u.to_string())),
        };
    }
    let cell = record.cells.get(field.id.as_str());
    if let Storage::Derived(_) = field.field_type.storage() {
        return super::cells::from_cell(cell, field_result_type(&field.field_type));
    }
    match field_result_type(&field.field_type) {
        ResultType::Bool => Value::Bool(matches!(cell, Some(Json::Bool(true)))),
        ResultType::Number => match cell.and_then(Json::as_f64) {
            Some(n) if n.is_finite() => Value::number(n),
            _ => Value::Blank,
        },
        ResultType::Text => match cell {
            Some(Json::String(s)) if !s.is_empty() => Value::Text(s.clone()),
            _ => Value::Blank,
        },
        ResultType::Date => match cell.and_then(Json::as_str) {
            Some(s) => NaiveDate::parse_from_str(s, "%Y-%m-%d").map_or(Value::Blank, Value::Date),
            None => Value::Blank,
        },
        ResultType::DateTime => match cell.and_then(Json::as_str) {
            Some(s) => DateTime::parse_from_rfc3339(s)
                .map_or(Value::Blank, |t| Value::instant(t.with_timezone(&Utc))),
            None => Value::Blank,
        },
        ResultType::List => {
            let Some(Json::Array(items)) = cell else {
                return Value::Blank;
            };
            if items.is_empty() {
                return Value::Blank;
            }
            let is_link = matches!(field.field_type.references(), Some(Reference::Records(_)));
            // A linked record missing from `links` (soft-deleted) drops
            // out, as it does from the link cell's reads.
            Value::Array(
                items
                    .iter()
                    .filter_map(|item| match item.as_str() {
                        Some(s) if is_link => RecordId::parse(s)
                            .ok()
                            .and_then(|id| links.get(&id).cloned()),
                        Some(s) => Some(Value::Text(s.to_string())),
                        None => Some(Value::Blank),
                    })
                    .collect(),
            )
        }
    }
}

/// Whether a filter formula keeps `record`: its value is neither 0, false,
/// `""`, an empty list, Blank nor an error (NaN included). `expr` names
/// fields by id (a [`super::Checked`] tree); `now` is the request's instant.
pub fn keeps(
    expr: &Expr,
    record: &Record,
    fields: &[Field],
    links: &LinkTitles,
    now: Timestamp,
) -> bool {
    let by_id: HashMap<FieldId, &Field> = fields.iter().map(|f| (f.id, f)).collect();
    keeps_indexed(expr, record, &by_id, links, now)
}

/// [`keeps`] with the fields already indexed by id.
pub(crate) fn keeps_indexed(
    expr: &Expr,
    record: &Record,
    by_id: &HashMap<FieldId, &Field>,
    links: &LinkTitles,
    now: Timestamp,
) -> bool {
    let source = |key: &str| -> Option<Value> {
        let id = FieldId::parse(key).ok()?;
        let field = by_id.get(&id)?;
        Some(record_value(field, record, links))
    };
    let id = record.id.to_string();
    let ctx = EvalContext {
        fields: &source,
        record_id: Some(&id),
        now: Some(now),
        created_time: millis(record.created_time),
        updated_time: millis(record.updated_time),
        // Filters evaluate in UTC, as Airtable's filterByFormula does.
        zone: chrono_tz::Tz::UTC,
    };
    matches!(super::coerce::to_bool(&evaluate(expr, &ctx)), Ok(true))
}
