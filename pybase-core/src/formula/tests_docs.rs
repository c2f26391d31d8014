//! The examples of `docs/formulas.md` (the user's formula reference): each
//! row's formula, evaluated against the record the page describes, gives
//! the result the page shows. A row the evaluator disagrees with fails here,
//! so the reference cannot drift from the language.

use chrono::{NaiveDate, TimeZone, Utc};

use super::coerce::number_text;
use super::{EvalContext, Value, evaluate, parse};

const PAGE: &str = include_str!("../../../docs/formulas.md");

/// The record of the page's first table.
fn field(name: &str) -> Option<Value> {
    let text = |s: &str| Value::text(s);
    Some(match name {
        "Name" => text("Ada Lovelace"),
        "Qty" => Value::Number(12.0),
        "Price" => Value::Number(2.5),
        "Status" => text("Doing"),
        "Done" => Value::Bool(true),
        "Discount" => Value::Blank,
        "Tags" => Value::Array(vec![text("urgent"), text(""), text("blue"), text("urgent")]),
        "Due" => Value::Date(NaiveDate::from_ymd_opt(2024, 5, 31)?),
        "Start" => Value::instant(Utc.with_ymd_and_hms(2024, 3, 9, 15, 30, 0).single()?),
        "Email" => text("ada@example.com"),
        _ => return None,
    })
}

/// The page's table as fields of the types it names.
fn page_fields() -> Vec<crate::model::Field> {
    use serde_json::json;
    [
        ("Name", "text", json!({})),
        ("Qty", "number", json!({})),
        ("Price", "currency", json!({})),
        (
            "Status",
            "single_select",
            json!({"choices": ["Doing", "Done"]}),
        ),
        ("Done", "checkbox", json!({})),
        ("Discount", "number", json!({})),
        (
            "Tags",
            "multi_select",
            json!({"choices": ["urgent", "blue"]}),
        ),
        ("Due", "date", json!({})),
        ("Start", "datetime", json!({})),
        ("Email", "email", json!({})),
    ]
    .iter()
    .map(|(name, ty, options)| super::test_field(name, ty, options))
    .collect()
}

/// A value as the page writes results.
fn shown(v: &Value) -> String {
    match v {
        Value::Blank => "(blank)".into(),
        Value::Number(n) => number_text(*n),
        Value::Text(t) => format!("\"{t}\""),
        Value::Bool(b) => b.to_string(),
        Value::Date(d) => d.format("%Y-%m-%d").to_string(),
        Value::DateTime(t, _) => t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(shown).collect();
            format!("[{}]", items.join(", "))
        }
        Value::Error(e) => e.as_str().into(),
    }
}

/// The code spans of a table row, in order.
fn code_spans(row: &str) -> Vec<&str> {
    row.split('`').skip(1).step_by(2).collect()
}

/// Every `(formula, result)` of the page's example tables (those after the
/// "Operators" heading): a row's last two code spans.
fn examples() -> Vec<(&'static str, &'static str)> {
    let start = PAGE
        .find("\n## Operators")
        .expect("the page has an Operators section");
    PAGE[start..]
        .lines()
        .filter(|l| l.starts_with('|'))
        .map(code_spans)
        .filter(|spans| !spans.is_empty())
        .map(|spans| {
            assert!(
                spans.len() >= 2,
                "a row without example and result: {spans:?}"
            );
            (spans[spans.len() - 2], spans[spans.len() - 1])
        })
        .collect()
}

#[test]
fn every_example_of_the_formula_reference_gives_its_result() {
    let ctx = EvalContext {
        fields: &field,
        record_id: Some("recABC"),
        now: Utc.with_ymd_and_hms(2024, 5, 6, 7, 8, 9).single(),
        created_time: Utc.with_ymd_and_hms(2024, 1, 2, 3, 4, 5).single(),
        updated_time: Utc.with_ymd_and_hms(2024, 5, 1, 0, 0, 0).single(),
        zone: chrono_tz::Tz::UTC,
    };
    let examples = examples();
    let fields = page_fields();
    let mut failures = Vec::new();
    for (formula, want) in &examples {
        // Each example can be saved as a formula field of the page's table
        // (a reviewer copied `{Qty} + {Notes}` onto a text field: 422).
        if let Err(e) = super::check(formula, &fields) {
            failures.push(format!(
                "{formula}: does not check against the page's fields: {}",
                e.message
            ));
        }
        match parse(formula) {
            Ok(expr) => {
                let got = shown(&evaluate(&expr, &ctx));
                if got != *want {
                    failures.push(format!("{formula}: the page says {want}, evaluated {got}"));
                }
            }
            Err(e) => failures.push(format!("{formula}: does not parse: {e}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(examples.len() >= 90, "only {} examples", examples.len());
}

/// The functions the checker knows: the names in `check.rs`'s arity table.
fn known_functions() -> Vec<&'static str> {
    let source = include_str!("check.rs");
    let start = source
        .find("fn arity(")
        .expect("check.rs has an arity table");
    let end = start + source[start..].find("_ => return None").expect("its end");
    source[start..end]
        .split('"')
        .skip(1)
        .step_by(2)
        .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_uppercase() || b == b'_'))
        .collect()
}

#[test]
fn every_function_of_the_language_has_an_example() {
    let examples = examples();
    let known = known_functions();
    assert!(
        known.len() >= 80,
        "only {} functions found in check.rs",
        known.len()
    );
    let missing: Vec<&str> = known
        .into_iter()
        .filter(|name| {
            !examples
                .iter()
                .any(|(f, _)| f.to_ascii_uppercase().contains(&format!("{name}(")))
        })
        .collect();
    assert!(
        missing.is_empty(),
        "functions without an example: {missing:?}"
    );
}
