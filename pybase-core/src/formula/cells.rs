//! Derived cells (formula, lookup, rollup, count) as stored JSON and back
//! (API.md "Two-way links and computed fields"): a result follows the rules
//! of its result type (empty text, an empty list, `false` and Blank are
//! absent; dates `YYYY-MM-DD`, instants RFC 3339 UTC with milliseconds);
//! errors are `{"error": "#ERROR!"}`, non-finite numbers
//! `{"special_value": "NaN"}` (or `Infinity`, `-Infinity`).

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use serde_json::{Value as Json, json};

use super::check::ResultType;
use super::coerce::{instant, to_number, to_text};
use super::value::{ErrorKind, Value};
use crate::query::eval::TIME_FORMAT;

/// The stored form of an error value.
fn error_cell(e: ErrorKind) -> Json {
    match e {
        ErrorKind::Error => json!({ "error": e.as_str() }),
        _ => json!({ "special_value": e.as_str() }),
    }
}

/// The largest magnitude below which every integral f64 is exact (2^53).
const EXACT_INTEGERS: f64 = 9_007_199_254_740_992.0;

/// A finite number in canonical JSON form (FORMULA.md C.8): an integral
/// value below 2^53 as a JSON integer (`3`, never `3.0`, which jsonb would
/// keep), `-0` as `0`, any other as its shortest round-tripping form.
/// Non-finite numbers have no JSON form: callers store them as
/// `special_value` cells.
pub fn number_json(n: f64) -> Json {
    if n.fract() == 0.0 && n.abs() < EXACT_INTEGERS {
        // Integral and below 2^53: the conversion is exact.
        #[allow(clippy::cast_possible_truncation)]
        return Json::from(n as i64);
    }
    serde_json::Number::from_f64(n).map_or(Json::Null, Json::Number)
}

/// A stored derived cell with its numbers in canonical form
/// ([`number_json`]): cells written before numbers were canonical held
/// `30.0` where they now hold `30`.
pub fn canonical_cell(cell: &Json) -> Json {
    match cell {
        Json::Number(n) => match (n.is_f64(), n.as_f64()) {
            (true, Some(f)) => number_json(f),
            _ => cell.clone(),
        },
        Json::Array(items) => Json::Array(items.iter().map(canonical_cell).collect()),
        other => other.clone(),
    }
}

/// Whether two stored derived cells hold the same value: as `==`, but a
/// number equals the same number written in another form (`30.0` and `30`,
/// so that cells stored before numbers were canonical are not rewritten).
pub fn same_cell(a: Option<&Json>, b: Option<&Json>) -> bool {
    fn same(a: &Json, b: &Json) -> bool {
        match (a, b) {
            (Json::Number(x), Json::Number(y)) => x == y || x.as_f64() == y.as_f64(),
            (Json::Array(x), Json::Array(y)) => {
                x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y))
            }
            _ => a == b,
        }
    }
    match (a, b) {
        (Some(a), Some(b)) => same(a, b),
        (None, None) => true,
        _ => false,
    }
}

/// A number as stored: canonical when finite, a `special_value` cell when
/// not.
fn number_cell(n: f64) -> Json {
    match Value::number(n) {
        Value::Error(e) => error_cell(e),
        _ => number_json(n),
    }
}

/// One list item as stored: its natural JSON form, nested lists flattened.
fn item(v: &Value, out: &mut Vec<Json>) {
    match v {
        Value::Blank => {}
        Value::Number(n) => out.push(number_cell(*n)),
        Value::Text(t) => out.push(json!(t)),
        Value::Bool(b) => out.push(json!(b)),
        Value::Date(d) => out.push(json!(d.format("%Y-%m-%d").to_string())),
        Value::DateTime(t, _) => out.push(json!(t.format(TIME_FORMAT).to_string())),
        Value::Array(items) => items.iter().for_each(|i| item(i, out)),
        Value::Error(e) => out.push(error_cell(*e)),
    }
}

/// The stored cell of a derived field of `result` type holding `v`
/// (`None`: absent), for a field evaluating in UTC ([`to_cell_in`]).
pub fn to_cell(v: &Value, result: ResultType) -> Option<Json> {
    to_cell_in(v, result, Tz::UTC)
}

/// The stored cell of a derived field of `result` type holding `v`
/// (`None`: absent) for a field evaluating in `zone`: a date result of an
/// instant is its local date there (in its own `SET_TIMEZONE` zone if it
/// has one), an instant result of a date its local midnight.
pub fn to_cell_in(v: &Value, result: ResultType, zone: Tz) -> Option<Json> {
    if let Value::Error(e) = v {
        return Some(error_cell(*e));
    }
    if v.is_blank() {
        return None;
    }
    match result {
        ResultType::Number => match to_number(v) {
            Ok(n) => Some(number_cell(n)),
            Err(e) => Some(error_cell(e)),
        },
        ResultType::Bool => match super::coerce::to_bool(v) {
            Ok(true) => Some(Json::Bool(true)),
            Ok(false) => None,
            Err(e) => Some(error_cell(e)),
        },
        ResultType::Text => match to_text(v) {
            Ok(t) if t.is_empty() => None,
            Ok(t) => Some(Json::String(t)),
            Err(e) => Some(error_cell(e)),
        },
        ResultType::Date => match v {
            Value::Date(d) => Some(json!(d.format("%Y-%m-%d").to_string())),
            other => {
                let zone = match other {
                    Value::DateTime(_, Some(own)) => *own,
                    _ => zone,
                };
                instant(other, zone).map(|t| {
                    let day = t.with_timezone(&zone).date_naive();
                    json!(day.format("%Y-%m-%d").to_string())
                })
            }
        },
        ResultType::DateTime => instant(v, zone).map(|t| json!(t.format(TIME_FORMAT).to_string())),
        ResultType::List => {
            let mut out = Vec::new();
            item(v, &mut out);
            (!out.is_empty()).then_some(Json::Array(out))
        }
    }
}

/// A stored derived cell as a formula value (absent is Blank, `false` for
/// a boolean result).
pub fn from_cell(cell: Option<&Json>, result: ResultType) -> Value {
    let Some(cell) = cell else {
        return if result == ResultType::Bool {
            Value::Bool(false)
        } else {
            Value::Blank
        };
    };
    match cell {
        Json::String(s) => match result {
            ResultType::Date => {
                NaiveDate::parse_from_str(s, "%Y-%m-%d").map_or(Value::Blank, Value::Date)
            }
            ResultType::DateTime => DateTime::parse_from_rfc3339(s)
                .map_or(Value::Blank, |t| Value::instant(t.with_timezone(&Utc))),
            _ => Value::Text(s.clone()),
        },
        Json::Array(items) => Value::Array(
            items
                .iter()
                .map(|i| from_cell(Some(i), ResultType::Text))
                .collect(),
        ),
        other => json_value(other),
    }
}

/// A JSON cell item as a value: numbers, booleans, texts and error objects.
fn json_value(cell: &Json) -> Value {
    match cell {
        Json::Null => Value::Blank,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => n.as_f64().map_or(Value::error(), Value::number),
        Json::String(s) => Value::Text(s.clone()),
        Json::Array(_) => from_cell(Some(cell), ResultType::List),
        Json::Object(m) => match m.get("special_value").and_then(Json::as_str) {
            Some("NaN") => Value::Error(ErrorKind::NaN),
            Some("Infinity") => Value::Error(ErrorKind::Infinity),
            Some("-Infinity") => Value::Error(ErrorKind::NegInfinity),
            _ => Value::error(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_follow_their_type_and_read_back() {
        let cases = [
            (Value::Number(2.5), ResultType::Number, Some(json!(2.5))),
            (Value::Bool(false), ResultType::Bool, None),
            (Value::Bool(true), ResultType::Bool, Some(json!(true))),
            (Value::text(""), ResultType::Text, None),
            (Value::Blank, ResultType::Number, None),
            (
                Value::error(),
                ResultType::Number,
                Some(json!({"error": "#ERROR!"})),
            ),
            (
                Value::Error(ErrorKind::NaN),
                ResultType::Number,
                Some(json!({"special_value": "NaN"})),
            ),
            (
                Value::Array(vec![
                    Value::Number(1.0),
                    Value::Array(vec![Value::text("a")]),
                ]),
                ResultType::List,
                Some(json!([1, "a"])),
            ),
            (Value::Array(vec![]), ResultType::List, None),
        ];
        for (v, ty, want) in cases {
            let cell = to_cell(&v, ty);
            assert_eq!(cell, want, "{v:?} as {ty:?}");
            if let Some(c) = &cell
                && !matches!(v, Value::Array(_))
            {
                assert_eq!(from_cell(Some(c), ty), v, "{c}");
            }
        }
        assert_eq!(from_cell(None, ResultType::Bool), Value::Bool(false));
        // Whole numbers are JSON integers (C.8), -0 is 0, large ones stay
        // floats; a cell stored before as `30.0` reads and compares as 30.
        assert_eq!(
            to_cell(&Value::Number(30.0), ResultType::Number),
            Some(json!(30))
        );
        assert_eq!(
            to_cell(&Value::number(-0.0), ResultType::Number),
            Some(json!(0))
        );
        assert_eq!(number_json(1e300), json!(1e300));
        assert_eq!(number_json(-7.0).to_string(), "-7");
        assert_eq!(
            canonical_cell(&json!([30.0, "a", 2.5])),
            json!([30, "a", 2.5])
        );
        assert!(same_cell(Some(&json!(30.0)), Some(&json!(30))));
        assert!(same_cell(Some(&json!([1.0])), Some(&json!([1]))));
        assert!(!same_cell(Some(&json!(30.5)), Some(&json!(30))));
        assert!(!same_cell(None, Some(&json!(0))));
        let d = NaiveDate::from_ymd_opt(2024, 2, 29).unwrap();
        let cell = to_cell(&Value::Date(d), ResultType::Date);
        assert_eq!(cell, Some(json!("2024-02-29")));
        assert_eq!(from_cell(cell.as_ref(), ResultType::Date), Value::Date(d));
    }
}
