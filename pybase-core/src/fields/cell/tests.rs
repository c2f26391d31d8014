//! Unit tests and properties of cell validation.

#![allow(
    clippy::needless_pass_by_value,
    reason = "helpers take json! values by value to keep the cases short"
)]

use std::str::FromStr;

use proptest::prelude::*;
use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::fields::normalize_number;
use crate::fields::{FieldType, new_choice_names};
use crate::ids::{AttachmentId, RecordId, TableId};

pub(crate) fn ft(name: &str, options: Value) -> FieldType {
    FieldType::from_parts(name, &options).unwrap()
}

fn ok(t: &FieldType, v: Value, typecast: bool) -> Option<Value> {
    match t.validate_cell(&v, typecast) {
        Ok(out) => out,
        Err(e) => panic!("{} rejected {v} (typecast {typecast}): {e}", t.type_name()),
    }
}

fn err(t: &FieldType, v: Value, typecast: bool) -> String {
    match t.validate_cell(&v, typecast) {
        Ok(out) => panic!(
            "{} accepted {v} (typecast {typecast}) as {out:?}",
            t.type_name()
        ),
        Err(e) => e.expected,
    }
}

/// The JSON text of a validated number cell.
fn num_text(t: &FieldType, text: &str, typecast: bool) -> String {
    let v: Value = serde_json::from_str(text).unwrap();
    ok(t, v, typecast).unwrap().to_string()
}

/// Every type with each of its example option sets (from the registry).
pub(crate) fn all_types() -> Vec<FieldType> {
    FieldType::examples(TableId::new())
}

#[test]
fn every_type_has_examples_and_its_samples_validate_to_normal_cells() {
    let types = all_types();
    for &name in FieldType::NAMES {
        assert!(
            types.iter().any(|t| t.type_name() == name),
            "{name} has no example"
        );
    }
    for t in &types {
        for v in t.kind().sample_inputs() {
            for typecast in [false, true] {
                if let Ok(Some(cell)) = t.validate_cell(&v, typecast)
                    && crate::fields::new_choice_names(t, &cell).is_empty()
                {
                    assert_eq!(
                        t.validate_cell(&cell, false),
                        Ok(Some(cell.clone())),
                        "{t:?}: {v} gave {cell}, which is not normal"
                    );
                }
            }
        }
    }
}

/// Strings that look like what clients send to the various types.
fn arb_text() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,12}",
        "[ ]?[+-]?[0-9]{0,6}([.][0-9]{0,6})?([eE][+-]?[0-9]{1,3})?[%]?[ ]?",
        "[$€£]?[0-9]{1,3}(,[0-9]{3}){0,3}([.][0-9]{1,3})?",
        "[0-9]{1,3}:[0-9]{2}(:[0-9]{2}([.][0-9]{1,4})?)?",
        "[a-z.]{1,8}@[A-Za-z.]{1,10}",
        "(https?://)?[a-z]{1,6}[.][a-z]{2,3}(/[a-z]{0,4})?",
        "[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}([.][0-9]{1,6})?)?(Z|[+-][0-9]{2}:[0-9]{2})?)?",
        "(true|false|yes|no|on|off|checked|TRUE|Yes)",
        "(a|b|c, d|new)(, ?(a|b|x))?",
        "(rec|att)[A-Za-z0-9]{12,15}",
        Just(RecordId::new().to_string()),
        Just(AttachmentId::new().to_string()),
        "[a-z ]{0,5}[\n\r][a-z ]{0,5}",
    ]
}

fn arb_number() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        (-1_000_000i64..1_000_000, 0u32..10).prop_map(|(m, d)| {
            let f = m as f64 / 10f64.powi(d as i32);
            serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)
        }),
    ]
}

/// Arbitrary JSON, biased towards values the field types care about.
pub(crate) fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        arb_number(),
        arb_text().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("(id|name|x)", inner, 0..3)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

// ---- empties and computed types ----

#[test]
fn empty_values_are_absent_for_every_writable_type() {
    for t in all_types().iter().filter(|t| !t.is_computed()) {
        for v in [Value::Null, json!(""), json!([])] {
            for typecast in [false, true] {
                assert_eq!(t.validate_cell(&v, typecast), Ok(None), "{t:?} {v}");
            }
        }
    }
}

#[test]
fn computed_types_reject_every_write() {
    for t in all_types().iter().filter(|t| t.is_computed()) {
        for v in [Value::Null, json!(1), json!("x"), json!([])] {
            let e = err(t, v, true);
            assert_eq!(e, "a computed field cannot be written");
        }
    }
}

#[test]
fn errors_show_the_value_cut_short() {
    let t = ft("number", Value::Null);
    assert_eq!(
        err(&t, json!("abc"), false),
        r#"expected a number, got "abc""#
    );
    let long = "x".repeat(200);
    let e = err(&t, json!(long), true);
    assert!(e.starts_with("expected a number, got \"xxx"), "{e}");
    assert!(e.chars().count() < 100, "{e}");
    assert!(e.ends_with('…'), "{e}");
}

// ---- text types ----

#[test]
fn text_is_kept_as_given_on_one_line() {
    let t = ft("text", Value::Null);
    assert_eq!(ok(&t, json!("  hi  "), false), Some(json!("  hi  ")));
    assert_eq!(ok(&t, json!("   "), false), Some(json!("   ")));
    assert!(err(&t, json!("a\nb"), false).contains("single line"));
    assert!(err(&t, json!(12), false).starts_with("expected text, got 12"));
    assert!(err(&t, json!({"a": 1}), true).starts_with("expected text"));
    assert_eq!(ok(&t, json!("a\r\nb\nc\rd"), true), Some(json!("a b c d")));
    assert_eq!(ok(&t, json!(12), true), Some(json!("12")));
    assert_eq!(ok(&t, json!(2.5), true), Some(json!("2.5")));
    assert_eq!(
        ok(&t, json!(1e20), true),
        Some(json!("100000000000000000000"))
    );
    assert_eq!(ok(&t, json!(true), true), Some(json!("true")));
}

#[test]
fn text_max_length_counts_characters() {
    let t = ft("text", json!({ "max_length": 3 }));
    assert_eq!(ok(&t, json!("äöü"), false), Some(json!("äöü")));
    let e = err(&t, json!("abcd"), false);
    assert_eq!(e, r#"expected text of at most 3 characters, got "abcd""#);
}

#[test]
fn long_text_keeps_line_breaks_up_to_its_limit() {
    let t = ft("long_text", Value::Null);
    assert_eq!(ok(&t, json!("a\nb"), false), Some(json!("a\nb")));
    assert_eq!(ok(&t, json!(3), true), Some(json!("3")));
    assert!(err(&t, json!(3), false).starts_with("expected text"));
    let max = "x".repeat(100_000);
    assert_eq!(ok(&t, json!(max), false), Some(json!(max)));
    assert!(err(&t, json!(format!("{max}x")), false).contains("at most 100000"));
}

#[test]
fn emails_are_trimmed_and_their_domain_lowercased() {
    let t = ft("email", Value::Null);
    assert_eq!(
        ok(&t, json!("  Ann.Lee@Example.COM "), false),
        Some(json!("Ann.Lee@example.com"))
    );
    assert_eq!(ok(&t, json!("   "), false), None);
    for bad in [
        "ann",
        "@example.com",
        "ann@example",
        "ann@@example.com",
        "a@b@example.com",
        "ann lee@example.com",
        "ann@.com",
        "ann@example.",
        "ann@example..com",
    ] {
        let e = err(&t, json!(bad), true);
        assert!(e.starts_with("expected an email address"), "{bad}: {e}");
    }
    let long = format!("{}@example.com", "a".repeat(250));
    assert!(err(&t, json!(long), false).starts_with("expected an email"));
    assert!(err(&t, json!(5), true).starts_with("expected an email"));
}

#[test]
fn urls_need_http_and_a_host() {
    let t = ft("url", Value::Null);
    assert_eq!(
        ok(&t, json!(" https://example.com/a?b#c "), false),
        Some(json!("https://example.com/a?b#c"))
    );
    assert_eq!(
        ok(&t, json!("HTTP://example.com"), false),
        Some(json!("http://example.com"))
    );
    assert_eq!(
        ok(&t, json!("http://user@[::1]:8080/x"), false),
        Some(json!("http://user@[::1]:8080/x"))
    );
    for bad in [
        "example.com",
        "ftp://example.com",
        "https://",
        "https:///path",
        "https://exa mple.com",
        "javascript:alert(1)",
    ] {
        assert!(
            err(&t, json!(bad), false).starts_with("expected an http"),
            "{bad}"
        );
    }
    assert_eq!(
        ok(&t, json!("example.com/x"), true),
        Some(json!("https://example.com/x"))
    );
    assert_eq!(
        ok(&t, json!("10.0.0.1/x"), true),
        Some(json!("https://10.0.0.1/x"))
    );
    for bad in [
        "ftp://example.com",
        "localhost",
        "mailto:a@b.com",
        "just words",
        "3.142",
        "1.0.5",
    ] {
        assert!(
            err(&t, json!(bad), true).starts_with("expected an http"),
            "{bad}"
        );
    }
    // A decimal number is no host name (a reviewer's case: number cells
    // converted to url became "https://3.142").
    assert!(err(&t, json!(4.125), true).starts_with("expected an http"));
    let number = ft("number", json!({"precision": 3}));
    assert!(crate::fields::convert_cell(&number, &t, &json!(4.125)).is_err());
}

#[test]
fn phones_allow_digits_and_punctuation() {
    let t = ft("phone", Value::Null);
    assert_eq!(
        ok(&t, json!(" +1 (555) 123-45.67 "), false),
        Some(json!("+1 (555) 123-45.67"))
    );
    assert_eq!(ok(&t, json!(5551234), true), Some(json!("5551234")));
    for bad in ["12", "555-CALL", "+1 555 123 4567 ext 2", &"1".repeat(33)] {
        assert!(
            err(&t, json!(bad), false).starts_with("expected a phone"),
            "{bad}"
        );
    }
    assert!(err(&t, json!(5551234), false).starts_with("expected a phone"));
}

// ---- number types ----

#[test]
fn numbers_round_half_away_from_zero_on_their_decimal_digits() {
    let p2 = ft("number", json!({ "precision": 2 }));
    assert_eq!(num_text(&p2, "2.675", false), "2.68");
    assert_eq!(num_text(&p2, "-2.675", false), "-2.68");
    assert_eq!(num_text(&p2, "1.005", false), "1.01");
    assert_eq!(num_text(&p2, "0.125", false), "0.13");
    assert_eq!(num_text(&p2, "1.10", false), "1.1");
    assert_eq!(num_text(&p2, "12.0", false), "12");
    assert_eq!(num_text(&p2, "-0.001", false), "0");
    assert_eq!(num_text(&p2, "0.30000000000000004", false), "0.3");
    assert_eq!(num_text(&p2, "1e-30", false), "0");
    assert_eq!(num_text(&p2, "0.005", false), "0.01");
    assert_eq!(num_text(&p2, "0.0049", false), "0");
    let p0 = ft("number", Value::Null);
    assert_eq!(num_text(&p0, "2.5", false), "3");
    assert_eq!(num_text(&p0, "-2.5", false), "-3");
    assert_eq!(num_text(&p0, "99.5", false), "100");
    assert_eq!(num_text(&p0, "12", false), "12");
    assert_eq!(num_text(&p0, "1e20", false), "1e+20");
    assert_eq!(num_text(&p0, "123456789012345", false), "123456789012345");
    let p8 = ft("number", json!({ "precision": 8 }));
    assert_eq!(num_text(&p8, "0.123456785", false), "0.12345679");
    assert_eq!(num_text(&p8, "1234567.12345678", false), "1234567.12345678");
}

#[test]
fn numbers_beyond_fifteen_significant_digits_are_refused() {
    let p8 = ft("number", json!({ "precision": 8 }));
    let e = err(
        &p8,
        serde_json::from_str("12345678.123456789").unwrap(),
        false,
    );
    assert!(
        e.starts_with("expected a number with at most 15 significant digits"),
        "{e}"
    );
    let p0 = ft("number", Value::Null);
    assert!(err(&p0, json!(1234567890123456u64), false).contains("15 significant"));
    assert!(err(&p0, json!(10000000000000000001u64), false).contains("15 significant"));
    assert!(err(&p0, json!(-1234567890123456i64), false).contains("15 significant"));
    // Rounding can bring a value within the limit.
    assert_eq!(num_text(&p0, "123456789012344.6", false), "123456789012345");
    assert_eq!(num_text(&p0, "1000000000000000000000", false), "1e+21");
}

#[test]
fn number_typecast_reads_numeric_strings_only() {
    let p2 = ft("number", json!({ "precision": 2 }));
    assert_eq!(num_text(&p2, r#"" 12.50 ""#, true), "12.5");
    assert_eq!(num_text(&p2, r#""-1e3""#, true), "-1000");
    assert_eq!(num_text(&p2, r#""+.5""#, true), "0.5");
    // Thousands commas every three digits, as Airtable's typecast reads.
    assert_eq!(num_text(&p2, r#""1,234.5""#, true), "1234.5");
    assert_eq!(num_text(&p2, r#""-12,345,678""#, true), "-12345678");
    for bad in [
        "abc", "1,23", "1,2345", ",123", "1,234,5", "1.234,5", "0,123", "00,001", "inf", "NaN",
        "0x10", "1.2.3", "12 34", "e5", "$5", ".", "-",
    ] {
        assert!(
            err(&p2, json!(bad), true).starts_with("expected a number"),
            "{bad}"
        );
    }
    assert!(err(&p2, json!("1e999"), true).starts_with("expected a finite number"));
    assert!(err(&p2, json!("12"), false).starts_with("expected a number"));
    assert!(err(&p2, json!(true), true).starts_with("expected a number"));
}

#[test]
fn numeric_strings_are_read_exactly() {
    let p2 = ft("number", json!({ "precision": 2 }));
    let p0 = ft("number", Value::Null);
    // An f64 would hold this as 1e17, losing the final 1.
    assert!(err(&p0, json!("100000000000000001"), true).contains("15 significant"));
    assert_eq!(num_text(&p0, r#""100000000000000000000""#, true), "1e+20");
    // Text is rounded on its own digits, not on a binary approximation.
    assert_eq!(num_text(&p2, r#""2.6749999999999999""#, true), "2.67");
    assert_eq!(num_text(&p2, r#""0.30000000000000004""#, true), "0.3");
    assert_eq!(
        num_text(&p2, r#""1.00000000000000000000000000000000001""#, true),
        "1"
    );
    assert_eq!(num_text(&p0, r#""99999999999999999999.5""#, true), "1e+20");
    assert_eq!(num_text(&p2, r#""00012.3400e-2""#, true), "0.12");
    assert_eq!(num_text(&p2, r#""-0.000""#, true), "0");
    assert_eq!(num_text(&p2, r#""1e-100000000""#, true), "0");
}

#[test]
fn currency_typecast_strips_symbols_and_thousands() {
    let t = ft("currency", json!({ "symbol": "CHF", "precision": 2 }));
    assert_eq!(num_text(&t, r#""$1,234.50""#, true), "1234.5");
    assert_eq!(num_text(&t, r#""CHF 1,234,567""#, true), "1234567");
    assert_eq!(num_text(&t, r#""-€5.005""#, true), "-5.01");
    assert_eq!(num_text(&t, r#""- £ 5""#, true), "-5");
    assert_eq!(num_text(&t, r#""12 CHF""#, true), "12");
    assert_eq!(num_text(&t, "19.999", false), "20");
    for bad in ["1,23", "12,345,67", "1,234,5.0", "$", "¥5", "1.234,50"] {
        assert!(
            err(&t, json!(bad), true).starts_with("expected a number"),
            "{bad}"
        );
    }
    assert!(err(&t, json!("$5"), false).starts_with("expected a number"));
}

#[test]
fn percent_keeps_two_more_places_and_reads_percent_signs() {
    let t = ft("percent", json!({ "precision": 1 }));
    assert_eq!(num_text(&t, "0.5", false), "0.5");
    assert_eq!(num_text(&t, "0.12345", false), "0.123");
    assert_eq!(num_text(&t, "0.12355", false), "0.124");
    assert_eq!(num_text(&t, r#""50%""#, true), "0.5");
    assert_eq!(num_text(&t, r#""12.35 %""#, true), "0.124");
    assert_eq!(num_text(&t, r#""-250%""#, true), "-2.5");
    assert_eq!(num_text(&t, r#""0.25""#, true), "0.25");
    assert!(err(&t, json!("50%"), false).starts_with("expected a number"));
    assert!(err(&t, json!("%"), true).starts_with("expected a number"));
    let p0 = ft("percent", json!({ "precision": 0 }));
    assert_eq!(num_text(&p0, r#""33.5%""#, true), "0.34");
}

#[test]
fn ratings_are_whole_numbers_up_to_max() {
    let t = ft("rating", json!({ "max": 5 }));
    assert_eq!(ok(&t, json!(3), false), Some(json!(3)));
    assert_eq!(ok(&t, json!(5.0), false), Some(json!(5)));
    assert_eq!(ok(&t, json!(0), false), None);
    assert_eq!(ok(&t, json!("3"), true), Some(json!(3)));
    assert_eq!(ok(&t, json!("0"), true), None);
    for bad in [json!(6), json!(-1), json!(2.5), json!("x"), json!(1e300)] {
        let e = err(&t, bad.clone(), true);
        assert!(
            e.starts_with("expected a whole number from 1 to 5"),
            "{bad}: {e}"
        );
    }
    assert!(err(&t, json!("3"), false).starts_with("expected a whole number"));
}

#[test]
fn durations_are_seconds_with_milliseconds() {
    let t = ft("duration", Value::Null);
    assert_eq!(num_text(&t, "90", false), "90");
    assert_eq!(num_text(&t, "-1.23456", false), "-1.235");
    assert_eq!(num_text(&t, r#""1:30""#, true), "5400");
    assert_eq!(num_text(&t, r#""0:01:05""#, true), "65");
    assert_eq!(num_text(&t, r#""1:00:00.5""#, true), "3600.5");
    assert_eq!(num_text(&t, r#""1:00:00.1235""#, true), "3600.124");
    assert_eq!(num_text(&t, r#""-0:30""#, true), "-1800");
    assert_eq!(num_text(&t, r#""12.5""#, true), "12.5");
    assert_eq!(num_text(&t, r#""100:00""#, true), "360000");
    for bad in [
        "1:60",
        "1:5",
        "1:00:60",
        "1:00:5",
        ":30",
        "1:00:00.",
        "a:bc",
        "1:00:00:00",
    ] {
        assert!(
            err(&t, json!(bad), true).starts_with("expected a number of seconds"),
            "{bad}"
        );
    }
    assert_eq!(
        err(&t, json!("1:30"), false),
        r#"expected a number of seconds, got "1:30""#
    );
}

#[test]
fn normalize_number_rounds_like_cells_do() {
    assert_eq!(normalize_number(2.675, 2), Ok(2.68));
    assert_eq!(normalize_number(-0.5, 0), Ok(-1.0));
    assert_eq!(normalize_number(1e21, 0), Ok(1e21));
    assert!(normalize_number(f64::NAN, 2).is_err());
    assert!(normalize_number(f64::INFINITY, 2).is_err());
    assert!(normalize_number(0.1 + 0.2, 8).is_ok());
    assert!(normalize_number(1234567890.123456, 8).is_err());
}

// ---- checkbox and selects ----

#[test]
fn checkboxes_store_only_true() {
    let t = ft("checkbox", Value::Null);
    assert_eq!(ok(&t, json!(true), false), Some(json!(true)));
    assert_eq!(ok(&t, json!(false), false), None);
    for yes in ["true", "YES", " on ", "1", "Checked"] {
        assert_eq!(ok(&t, json!(yes), true), Some(json!(true)), "{yes}");
    }
    for no in ["false", "No", "OFF", "0", " "] {
        assert_eq!(ok(&t, json!(no), true), None, "{no}");
    }
    assert_eq!(ok(&t, json!(1), true), Some(json!(true)));
    assert_eq!(ok(&t, json!(0), true), None);
    assert!(err(&t, json!(2), true).starts_with("expected true or false"));
    assert!(err(&t, json!("maybe"), true).starts_with("expected true or false"));
    assert_eq!(
        err(&t, json!("true"), false),
        r#"expected true or false, got "true""#
    );
    assert!(err(&t, json!(1), false).starts_with("expected true or false"));
}

#[test]
fn single_select_needs_an_existing_choice_unless_typecast() {
    let t = ft("single_select", json!({ "choices": ["Red", "Green"] }));
    assert_eq!(ok(&t, json!(" Red "), false), Some(json!("Red")));
    assert_eq!(ok(&t, json!("  "), false), None);
    assert_eq!(
        err(&t, json!("red"), false),
        r#"expected one of "Red", "Green", got "red""#
    );
    assert_eq!(ok(&t, json!(" Blue"), true), Some(json!("Blue")));
    assert_eq!(ok(&t, json!(7), true), Some(json!("7")));
    assert!(err(&t, json!(7), false).starts_with("expected a choice name"));
    assert!(err(&t, json!(["Red"]), true).starts_with("expected a choice name"));
    assert_eq!(
        new_choice_names(&t, &json!("Blue")),
        vec!["Blue".to_owned()]
    );
    assert!(new_choice_names(&t, &json!("Red")).is_empty());
    // A quoted name (a one-choice list as text) is the name inside.
    let quoted = ft("single_select", json!({ "choices": ["y, z", "\"q\""] }));
    assert_eq!(ok(&quoted, json!("\"y, z\""), true), Some(json!("y, z")));
    assert_eq!(ok(&quoted, json!("\"q\""), true), Some(json!("\"q\"")));
    assert_eq!(
        ok(&t, json!(" \"a \"\"b\"\"\" "), true),
        Some(json!("a \"b\""))
    );
    let cell = ok(&t, json!("\"Blue, ish\""), true).expect("a choice");
    assert_eq!(new_choice_names(&t, &cell), vec!["Blue, ish".to_owned()]);

    let empty = ft("single_select", Value::Null);
    assert!(err(&empty, json!("x"), false).contains("no choices"));
    let many: Vec<String> = (0..15).map(|i| format!("c{i}")).collect();
    let t = ft("single_select", json!({ "choices": many }));
    let e = err(&t, json!("x"), false);
    assert!(e.contains("\"c9\", and 5 more"), "{e}");
    assert!(!e.contains("c10"), "{e}");
}

#[test]
fn multi_select_trims_deduplicates_and_splits_on_typecast() {
    let t = ft("multi_select", json!({ "choices": ["a", "b", "c, d"] }));
    assert_eq!(
        ok(&t, json!([" b", "a", "b ", "c, d"]), false),
        Some(json!(["b", "a", "c, d"]))
    );
    assert!(
        err(&t, json!(["a", "z"]), false)
            .starts_with(r#"expected one of "a", "b", "c, d", got "z""#)
    );
    assert!(err(&t, json!(["a", " "]), false).contains("non-empty"));
    assert!(err(&t, json!("a"), false).starts_with("expected a list of choice names"));
    assert!(err(&t, json!(["a", 1]), false).starts_with("expected a list of choice names"));
    assert_eq!(
        ok(&t, json!("b, a, z, ,b"), true),
        Some(json!(["b", "a", "z"]))
    );
    assert_eq!(ok(&t, json!(" c, d "), true), Some(json!(["c, d"])));
    assert_eq!(ok(&t, json!([" ", ""]), true), None);
    assert_eq!(ok(&t, json!(" , "), true), None);
    assert_eq!(ok(&t, json!([1, true]), true), Some(json!(["1", "true"])));
    assert_eq!(
        new_choice_names(&t, &json!(["z", "a", "y", "z"])),
        vec!["z".to_owned(), "y".to_owned()]
    );
    assert!(new_choice_names(&ft("text", Value::Null), &json!("z")).is_empty());
}

// ---- dates ----

#[test]
fn dates_are_real_calendar_days() {
    let t = ft("date", Value::Null);
    assert_eq!(
        ok(&t, json!("2024-02-29"), false),
        Some(json!("2024-02-29"))
    );
    assert_eq!(
        ok(&t, json!(" 2024-02-29 "), false),
        Some(json!("2024-02-29"))
    );
    for bad in ["2023-02-29", "2024-13-01", "24-01-05", "+2024-01-05"] {
        assert!(
            err(&t, json!(bad), true).starts_with("expected a date"),
            "{bad}"
        );
    }
    assert!(err(&t, json!("2024-01-05T10:00:00Z"), false).starts_with("expected a date"));
    assert_eq!(
        ok(&t, json!("2024-01-05T23:30:00-02:00"), true),
        Some(json!("2024-01-06"))
    );
    assert_eq!(
        ok(&t, json!("2024-01-05 10:00"), true),
        Some(json!("2024-01-05"))
    );
    assert!(err(&t, json!(20240105), true).starts_with("expected a date"));
    // Day and month that could be swapped: the error says so.
    let said = err(&t, json!("05/01/2024"), true);
    assert!(said.contains("2024-01-05 or 2024-05-01"), "{said}");
    // Written forms, with typecast only.
    for written in ["May 1, 2024", "1 May 2024", "2024/05/01", "2024-5-1"] {
        assert_eq!(
            ok(&t, json!(written), true),
            Some(json!("2024-05-01")),
            "{written}"
        );
        assert!(err(&t, json!(written), false).starts_with("expected a date"));
    }
}

/// Typecast reads a date and time without offset in the field's zone,
/// across both changes of a daylight-saving year (Europe/Berlin, 2026:
/// forward at 02:00 on 29 March, back at 03:00 on 25 October); an offset
/// given wins; a zone that is not IANA's is refused when the option is
/// written.
#[test]
fn typecast_reads_local_times_in_the_fields_zone_across_dst() {
    let t = ft("datetime", json!({ "timezone": "Europe/Berlin" }));
    for (local, utc) in [
        // Winter (+01:00) and summer (+02:00).
        ("2026-01-02 10:00", "2026-01-02T09:00:00.000Z"),
        ("2026-07-02 10:00", "2026-07-02T08:00:00.000Z"),
        // Either side of the spring-forward gap, and inside it (read with
        // the offset before: 02:30 is 03:30 summer time).
        ("2026-03-29 01:59", "2026-03-29T00:59:00.000Z"),
        ("2026-03-29 02:30", "2026-03-29T01:30:00.000Z"),
        ("2026-03-29 03:00", "2026-03-29T01:00:00.000Z"),
        // The hour that happens twice in autumn: the first one.
        ("2026-10-25 02:30", "2026-10-25T00:30:00.000Z"),
        ("2026-10-25 03:30", "2026-10-25T02:30:00.000Z"),
        // A date alone is local midnight, also as written.
        ("2026-07-02", "2026-07-01T22:00:00.000Z"),
        ("July 2, 2026", "2026-07-01T22:00:00.000Z"),
        // An offset given is kept.
        ("2026-07-02T10:00:00Z", "2026-07-02T10:00:00.000Z"),
    ] {
        assert_eq!(ok(&t, json!(local), true), Some(json!(utc)), "{local}");
    }
    // Without typecast an offset is still required.
    assert!(err(&t, json!("2026-07-02 10:00"), false).starts_with("expected an RFC 3339"));
    let said = err(&t, json!("soon"), true);
    assert!(said.contains("Europe/Berlin"), "{said}");
    // The zone option: IANA names only, checked on write.
    let FieldType::DateTime(berlin) = &t else {
        panic!("not a datetime")
    };
    assert!(berlin.check_zone().is_ok());
    let mars = ft("datetime", json!({ "timezone": "Mars/Olympus_Mons" }));
    let FieldType::DateTime(mars) = &mars else {
        panic!("not a datetime")
    };
    let e = mars.check_zone().unwrap_err();
    assert!(e.starts_with("option timezone"), "{e}");
    // A stored field with such a zone still reads, as UTC.
    let legacy = FieldType::DateTime(mars.clone());
    assert_eq!(
        ok(&legacy, json!("2026-07-02 10:00"), true),
        Some(json!("2026-07-02T10:00:00.000Z"))
    );
}

#[test]
fn datetimes_are_normalised_to_utc_milliseconds() {
    let t = ft("datetime", Value::Null);
    assert_eq!(
        ok(&t, json!("2024-01-05T10:00:00+02:00"), false),
        Some(json!("2024-01-05T08:00:00.000Z"))
    );
    assert_eq!(
        ok(&t, json!("2024-01-05T10:00:00.123456Z"), false),
        Some(json!("2024-01-05T10:00:00.123Z"))
    );
    assert_eq!(
        ok(&t, json!("2024-01-05t10:00:00.5z"), false),
        Some(json!("2024-01-05T10:00:00.500Z"))
    );
    for bad in [
        "2024-01-05",
        "2024-01-05 10:00",
        "2024-01-05T10:00:00",
        "yesterday",
    ] {
        assert!(
            err(&t, json!(bad), false).starts_with("expected an RFC 3339"),
            "{bad}"
        );
    }
    assert_eq!(
        ok(&t, json!("2024-01-05"), true),
        Some(json!("2024-01-05T00:00:00.000Z"))
    );
    assert_eq!(
        ok(&t, json!("2024-01-05 10:07"), true),
        Some(json!("2024-01-05T10:07:00.000Z"))
    );
    assert_eq!(
        ok(&t, json!("2024-01-05T10:07:09.25"), true),
        Some(json!("2024-01-05T10:07:09.250Z"))
    );
    for bad in [
        "2024-01-05 25:00",
        "2024-01-05 10:7",
        "2024-01-05 10",
        "2024-02-30",
    ] {
        assert!(
            err(&t, json!(bad), true).starts_with("expected a date and time"),
            "{bad}"
        );
    }
    // Years that would not sort as text are refused.
    assert!(err(&t, json!("0000-01-01T00:00:00+01:00"), false).starts_with("expected"));
}

// ---- attachments and links ----

#[test]
fn attachments_are_lists_of_attachment_ids() {
    let t = ft("attachment", Value::Null);
    let a = AttachmentId::new().to_string();
    let b = AttachmentId::new().to_string();
    assert_eq!(
        ok(&t, json!([{ "id": a, "filename": "x.png" }, b, a]), false),
        Some(json!([a, b]))
    );
    let e = err(&t, json!([RecordId::new().to_string()]), false);
    assert!(
        e.starts_with("expected an attachment id (att followed by 14"),
        "{e}"
    );
    assert!(err(&t, json!(a), true).starts_with("expected a list of attachments"));
    assert!(err(&t, json!([{ "name": "x" }]), false).starts_with("expected a list of attachments"));
    assert!(err(&t, json!([1]), false).starts_with("expected a list of attachments"));
}

#[test]
fn links_are_lists_of_record_ids() {
    let many = ft("link", json!({ "linked_table_id": TableId::new() }));
    let one = ft(
        "link",
        json!({ "linked_table_id": TableId::new(), "allow_multiple": false }),
    );
    let a = RecordId::new().to_string();
    let b = RecordId::new().to_string();
    assert_eq!(
        ok(&many, json!([a, { "id": b }, a]), false),
        Some(json!([a, b]))
    );
    assert_eq!(ok(&many, json!(a), true), Some(json!([a])));
    assert!(err(&many, json!(a), false).starts_with("expected a list of record ids"));
    assert!(err(&many, json!(["recX"]), false).starts_with("expected a record id"));
    assert_eq!(ok(&one, json!([a, a]), false), Some(json!([a])));
    assert!(err(&one, json!([a, b]), false).starts_with("expected at most one linked record"));
}

// ---- properties ----

/// The canonical decimal value of a JSON number's text.
fn decimal_of(text: &str) -> Decimal {
    let text = &text.replace("e+", "e");
    if text.contains(['e', 'E']) {
        Decimal::from_scientific(text).unwrap()
    } else {
        Decimal::from_str(text).unwrap()
    }
    .normalize()
}

fn number_types() -> Vec<FieldType> {
    let mut out = Vec::new();
    for p in 0..=8u8 {
        out.push(ft("number", json!({ "precision": p })));
        out.push(ft("currency", json!({ "precision": p })));
        out.push(ft("percent", json!({ "precision": p })));
    }
    out.push(ft("duration", Value::Null));
    out.push(ft("rating", json!({ "max": 10 })));
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn validation_never_panics(v in arb_json(), typecast in any::<bool>()) {
        for t in all_types() {
            let _ = t.validate_cell(&v, typecast);
        }
    }

    #[test]
    fn normalisation_is_idempotent(v in arb_json(), typecast in any::<bool>()) {
        for t in all_types() {
            if let Ok(Some(out)) = t.validate_cell(&v, typecast) {
                prop_assert_eq!(t.validate_cell(&out, true), Ok(Some(out.clone())), "{:?} {}", t, v);
                if new_choice_names(&t, &out).is_empty() {
                    prop_assert_eq!(t.validate_cell(&out, false), Ok(Some(out.clone())), "{:?} {}", t, v);
                }
            }
        }
    }

    #[test]
    fn numbers_within_precision_round_trip_exactly(
        mantissa in -999_999_999_999_999i64..=999_999_999_999_999,
        precision in 0u8..=8,
        places in 0u8..=10,
        zeros in 0usize..3,
        big in 0i32..=4,
    ) {
        // A decimal with `places` (<= allowed) decimals, up to 15 significant
        // digits, written with trailing zeros sometimes.
        for (t, allowed) in [
            (ft("number", json!({ "precision": precision })), precision),
            (ft("currency", json!({ "precision": precision })), precision),
            (ft("percent", json!({ "precision": precision })), precision + 2),
        ] {
            let places = u32::from(places.min(allowed));
            let d = Decimal::new(mantissa, places);
            let mut text = d.to_string();
            if places > 0 {
                text.push_str(&"0".repeat(zeros));
            }
            let v: Value = serde_json::from_str(&text).unwrap();
            let out = t.validate_cell(&v, false).unwrap().unwrap();
            prop_assert_eq!(decimal_of(&out.to_string()), d.normalize(), "{} -> {}", text, out);
            if places == 0 && big > 0 {
                // Large integers with few significant digits keep them too.
                let text = format!("{mantissa}e{}", big * 3);
                let v: Value = serde_json::from_str(&text).unwrap();
                let out = t.validate_cell(&v, false).unwrap().unwrap();
                prop_assert_eq!(decimal_of(&out.to_string()), decimal_of(&text), "{}", text);
            }
        }
    }

    #[test]
    fn number_typecast_of_text_equals_the_number(v in arb_number()) {
        for t in number_types() {
            let direct = t.validate_cell(&v, false);
            let Value::Number(n) = &v else { continue };
            for text in [v.to_string(), crate::fields::decimal::number_text(n)] {
                let cast = t.validate_cell(&Value::String(text.clone()), true);
                match (&direct, &cast) {
                    (Ok(a), Ok(b)) => prop_assert_eq!(a, b, "{:?} {}", t, text),
                    (Err(_), Err(_)) => {}
                    _ => prop_assert!(false, "{:?}: {} gave {:?}, {:?} gave {:?}", t, v, direct, text, cast),
                }
            }
        }
    }
}
