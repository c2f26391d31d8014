//! The checker: every error kind with its position, result types,
//! references stored by id and shown by name.

use serde_json::{Value as Json, json};

use super::*;

use crate::formula::test_field as field;

fn fields() -> Vec<Field> {
    vec![
        field("Name", "text", &Json::Null),
        field("Qty", "number", &Json::Null),
        field("Done", "checkbox", &Json::Null),
        field("Due", "date", &Json::Null),
        field("At", "datetime", &Json::Null),
        field(
            "Tags",
            "multi_select",
            &json!({"choices": [{"name": "a"}, {"name": "b"}]}),
        ),
        field("Unit Price", "currency", &Json::Null),
        field("Created", "created_time", &Json::Null),
    ]
}

fn err(source: &str) -> CheckError {
    check(source, &fields()).expect_err(source)
}

fn ty(source: &str) -> ResultType {
    check(source, &fields()).expect(source).result_type
}

/// The text an error's positions cut out of `source`.
fn culprit(source: &str, e: &CheckError) -> String {
    source.chars().skip(e.start).take(e.end - e.start).collect()
}

#[test]
fn unknown_fields_are_listed_with_the_first_position() {
    let src = "{Qty} * {qtty} + {nope} + {qtty}";
    let e = err(src);
    assert_eq!(e.message, "Unknown field names: qtty, nope");
    assert_eq!((e.start, e.end), (8, 14));
    assert_eq!(culprit(src, &e), "{qtty}");
    // A bare identifier that is no field is unknown too.
    let e = err("Price > 3");
    assert_eq!(e.message, "Unknown field names: Price");
    assert_eq!((e.start, e.end), (0, 5));
}

#[test]
fn positions_count_characters_not_bytes() {
    let src = "'héhé' & {żółw}";
    let e = err(src);
    assert_eq!(e.message, "Unknown field names: żółw");
    assert_eq!((e.start, e.end), (9, 15));
    assert_eq!(culprit(src, &e), "{żółw}");
}

#[test]
fn parse_errors_are_invalid_formula_with_a_position() {
    let src = "AND({Qty} > 1,";
    let e = err(src);
    assert!(e.message.starts_with("Invalid formula: "), "{e}");
    assert_eq!(e.start, 14);
    assert_eq!(e.end, 14);
    let e = err("{Qty} % 2");
    assert!(e.message.starts_with("Invalid formula: "), "{e}");
    assert_eq!((e.start, e.end), (6, 7));
    let e = err("'open");
    assert!(e.message.starts_with("Invalid formula: "), "{e}");
    assert_eq!(e.start, 0);
}

#[test]
fn unknown_functions_name_themselves() {
    let src = "1 + FOO({Qty})";
    let e = err(src);
    assert_eq!(e.message, "Unknown function names: FOO");
    assert_eq!(culprit(src, &e), "FOO");
}

#[test]
fn argument_counts_are_checked() {
    let src = "IF({Done})";
    let e = err(src);
    assert_eq!(e.message, "IF takes 2 to 3 arguments, got 1");
    assert_eq!(culprit(src, &e), src);
    assert_eq!(err("LEN()").message, "LEN takes 1 argument, got 0");
    assert_eq!(err("AND()").message, "AND takes at least 1 argument, got 0");
    assert_eq!(err("TODAY(1)").message, "TODAY takes 0 arguments, got 1");
    let src = "NOT(MID('abc', 1))";
    let e = err(src);
    assert_eq!(e.message, "MID takes 3 arguments, got 2");
    assert_eq!(culprit(src, &e), "MID('abc', 1)");
}

#[test]
fn types_the_evaluator_refuses_are_refused() {
    let src = "{Qty} + {Name}";
    let e = err(src);
    assert_eq!(e.message, "'+' needs a number, got a text");
    assert_eq!(culprit(src, &e), "{Name}");
    let src = "-{Due}";
    assert_eq!(err(src).message, "A sign needs a number, got a date");
    let src = "ROUND({Qty}, 'two')";
    let e = err(src);
    assert_eq!(e.message, "Argument 2 of ROUND needs a number, got a text");
    assert_eq!(culprit(src, &e), "'two'");
    assert_eq!(err("{Tags} * 2").message, "'*' needs a number, got a list");
    // Blank and booleans are numbers (A.4).
    assert_eq!(ty("{Done} + BLANK() * 2"), ResultType::Number);
}

#[test]
fn literal_units_and_patterns_are_checked() {
    let src = "DATEADD({Due}, 1, 'fortnight')";
    let e = err(src);
    assert!(e.message.starts_with("Unknown unit \"fortnight\""), "{e}");
    assert_eq!(culprit(src, &e), "'fortnight'");
    let src = "REGEX_MATCH({Name}, '(')";
    let e = err(src);
    assert!(e.message.starts_with("Invalid regular expression"), "{e}");
    assert_eq!(culprit(src, &e), "'('");
    // A unit that is not a literal is checked when evaluated.
    assert_eq!(ty("DATEADD({Due}, 1, {Name})"), ResultType::DateTime);
}

#[test]
fn set_timezone_is_checked_with_literal_zones() {
    assert_eq!(
        ty("set_timezone({At}, 'Europe/Paris')"),
        ResultType::DateTime
    );
    assert_eq!(ty("SET_TIMEZONE({Due}, 'UTC')"), ResultType::DateTime);
    // A zone that is not a literal is checked when evaluated (#ERROR!).
    assert_eq!(ty("SET_TIMEZONE({At}, {Name})"), ResultType::DateTime);
    assert_eq!(
        ty("DATETIME_FORMAT(SET_TIMEZONE({At}, 'Asia/Kolkata'), 'HH:mm Z')"),
        ResultType::Text
    );
    let src = "HOUR(SET_TIMEZONE({At}, 'Europe/Pariss'))";
    let e = err(src);
    assert!(
        e.message.starts_with("Unknown time zone \"Europe/Pariss\""),
        "{e}"
    );
    assert!(e.message.contains("IANA"), "{e}");
    assert_eq!(culprit(src, &e), "'Europe/Pariss'");
    // Zone names are spelt exactly, as the field option's.
    let e = err("SET_TIMEZONE({At}, 'europe/paris')");
    assert!(e.message.starts_with("Unknown time zone"), "{e}");
    assert_eq!(
        err("SET_TIMEZONE({At})").message,
        "SET_TIMEZONE takes 2 arguments, got 1"
    );
}

#[test]
fn result_types_are_inferred() {
    assert_eq!(ty("{Qty} * {Unit Price}"), ResultType::Number);
    assert_eq!(ty("{Name} & {Qty}"), ResultType::Text);
    assert_eq!(ty("AND({Qty} > 1, {Done})"), ResultType::Bool);
    assert_eq!(ty("{Due}"), ResultType::Date);
    assert_eq!(ty("DATETIME_PARSE('2024-01-02')"), ResultType::DateTime);
    assert_eq!(ty("DATEADD({Due}, 1, 'months')"), ResultType::Date);
    assert_eq!(ty("DATEADD({Due}, 1, 'hours')"), ResultType::DateTime);
    assert_eq!(ty("{Tags}"), ResultType::List);
    assert_eq!(ty("ARRAYJOIN({Tags})"), ResultType::Text);
    assert_eq!(ty("IF({Done}, 1, 'x')"), ResultType::Text);
    assert_eq!(ty("IF({Done}, 1)"), ResultType::Number);
    assert_eq!(ty("IF({Done}, {Due}, {At})"), ResultType::DateTime);
    assert_eq!(ty("SWITCH({Qty}, 1, 'one', 2, 'two')"), ResultType::Text);
    assert_eq!(ty("SWITCH({Qty}, 1, 10, 20)"), ResultType::Number);
    assert_eq!(ty("MAX({Due}, {At})"), ResultType::DateTime);
    assert_eq!(ty("MAX({Qty}, 3)"), ResultType::Number);
    assert_eq!(ty("BLANK()"), ResultType::Text);
    assert_eq!(ty("TODAY()"), ResultType::Date);
    assert_eq!(ty("{Created}"), ResultType::DateTime);
}

#[test]
fn references_are_stored_by_id_and_shown_by_name() {
    let fs = fields();
    let checked = check("{Qty}*qty + {Unit Price} - {unit price}", &fs).unwrap();
    let qty = fs[1].id;
    let price = fs[6].id;
    assert_eq!(checked.referenced_field_ids, vec![qty, price]);
    let stored = checked.stored();
    assert_eq!(
        stored,
        format!("{{{qty}}} * {{{qty}}} + {{{price}}} - {{{price}}}")
    );
    // Stored text re-checks to the same tree, and shows current names.
    let again = check(&stored, &fs).unwrap();
    assert_eq!(again.expr, checked.expr);
    let mut renamed = fs.clone();
    renamed[1].name = "Quantity }".into();
    assert_eq!(
        display(&stored, &renamed).unwrap(),
        "{Quantity \\}} * {Quantity \\}} + {Unit Price} - {Unit Price}"
    );
    // A vanished field keeps its id.
    assert_eq!(
        display(&stored, &fs[..1]).unwrap(),
        format!("{{{qty}}} * {{{qty}}} + {{{price}}} - {{{price}}}")
    );
}

#[test]
fn exact_names_win_over_ids_and_folded_names() {
    let mut fs = fields();
    let qty = fs[1].id;
    fs.push(field("qty", "text", &Json::Null));
    let lower = fs.last().unwrap().id;
    let checked = check("{qty} & {QTY} & {Qty}", &fs).unwrap();
    assert_eq!(checked.referenced_field_ids, vec![lower, qty]);
    let by_id = check(&format!("{{{qty}}} > 1"), &fs).unwrap();
    assert_eq!(by_id.referenced_field_ids, vec![qty]);
}

#[test]
fn clock_readers_are_volatile() {
    assert!(
        check("IS_BEFORE({Due}, TODAY())", &fields())
            .unwrap()
            .volatile
    );
    assert!(!check("{Qty} > 1", &fields()).unwrap().volatile);
}

#[test]
fn pyairtable_formulas_check() {
    for src in [
        "AND({Name}='doing', {Qty}>=21)",
        "AND({Qty}>5, {Done})",
        "{Due} = DATETIME_PARSE('2024-01-02')",
        "{Done} = TRUE()",
        "OR(RECORD_ID()='recA', RECORD_ID()='recB')",
        "{Name}='Jane\\'s'",
        "NOT({Qty}<>1e-05)",
    ] {
        assert_eq!(ty(src), ResultType::Bool, "{src}");
    }
}

#[test]
fn rollup_values_are_typed_by_the_linked_field() {
    let values = field("values", "multi_select", &Json::Null);
    let rollup = |source: &str, item: ResultType| {
        check_rollup(source, &values, item)
            .expect(source)
            .result_type
    };
    assert_eq!(rollup("MAX(values)", ResultType::Date), ResultType::Date);
    assert_eq!(
        rollup("MIN(ARRAYUNIQUE(values))", ResultType::DateTime),
        ResultType::DateTime
    );
    assert_eq!(
        rollup("MAX(values)", ResultType::Number),
        ResultType::Number
    );
    assert_eq!(rollup("MAX(values)", ResultType::Text), ResultType::Number);
    assert_eq!(rollup("SUM(values)", ResultType::Date), ResultType::Number);
    assert_eq!(
        rollup("ARRAYJOIN(values)", ResultType::Date),
        ResultType::Text
    );
    assert_eq!(rollup("values", ResultType::Date), ResultType::List);
}

#[test]
fn numbers_are_refused_where_dates_are_needed() {
    for source in [
        "DATEADD({Qty}, 1, 'days')",
        "YEAR({Qty})",
        "DATETIME_FORMAT({Qty})",
        "IS_AFTER({Qty}, 3)",
        "DATETIME_DIFF({Due}, {Done})",
        "WEEKDAY(1 + 2)",
    ] {
        let e = err(source);
        assert!(e.message.contains("needs a date"), "{source}: {e}");
    }
    // Dates, date-times, text (which may parse) and blanks pass.
    for source in [
        "YEAR({Due})",
        "DATEADD({At}, 1, 'days')",
        "IS_AFTER({Due}, '2026-01-01')",
        "DATETIME_DIFF({Due}, {Name})",
        "YEAR(BLANK())",
    ] {
        check(source, &fields()).expect(source);
    }
}
