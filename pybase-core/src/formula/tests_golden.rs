//! Golden tests: formula text, the record's fields, the expected value.

use chrono::{NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;

use super::{ErrorKind, EvalContext, Value, evaluate, parse};

pub(super) fn n(x: f64) -> Value {
    Value::Number(x)
}

pub(super) fn t(s: &str) -> Value {
    Value::text(s)
}

pub(super) fn b(v: bool) -> Value {
    Value::Bool(v)
}

pub(super) const BL: Value = Value::Blank;
pub(super) const ERR: Value = Value::Error(ErrorKind::Error);
const NAN: Value = Value::Error(ErrorKind::NaN);
const INF: Value = Value::Error(ErrorKind::Infinity);
const NINF: Value = Value::Error(ErrorKind::NegInfinity);

fn arr(items: Vec<Value>) -> Value {
    Value::Array(items)
}

fn field(name: &str) -> Option<Value> {
    Some(match name {
        "A" | "fldA0000000000000" => n(5.0),
        "B" => n(2.0),
        "Zero" => n(0.0),
        "Neg" => n(-3.5),
        "Name" => t("Jane Doe"),
        "Empty" => BL,
        "Flag" => b(true),
        "Off" => b(false),
        "Tags" => arr(vec![t("a"), t("b"), BL, t(""), t("a")]),
        "Nums" => arr(vec![n(1.0), n(2.0), n(3.0)]),
        "Nested" => arr(vec![n(1.0), arr(vec![n(2.0), arr(vec![n(3.0)])])]),
        "Err" => ERR,
        "Raw NaN" => n(f64::NAN),
        "Raw Inf" => n(f64::INFINITY),
        "Day" => Value::Date(NaiveDate::from_ymd_opt(2024, 2, 29)?),
        "Later" => Value::Date(NaiveDate::from_ymd_opt(2024, 3, 1)?),
        "Qty Ordered" => n(7.0),
        "a}b" => t("brace"),
        _ => return None,
    })
}

fn check(cases: &[(&str, Value)]) {
    check_in(Tz::UTC, cases);
}

/// [`check`] evaluating in `zone` (a formula field's `time_zone`).
pub(super) fn check_in(zone: Tz, cases: &[(&str, Value)]) {
    let now = Utc.with_ymd_and_hms(2024, 5, 6, 7, 8, 9).single();
    let ctx = EvalContext {
        fields: &field,
        record_id: Some("rec123"),
        now,
        created_time: Utc.with_ymd_and_hms(2024, 1, 2, 3, 4, 5).single(),
        updated_time: None,
        zone,
    };
    let mut failures = Vec::new();
    for (src, want) in cases {
        match parse(src) {
            Ok(expr) => {
                let got = evaluate(&expr, &ctx);
                if got != *want {
                    failures.push(format!("{src} in {zone}: got {got:?}, want {want:?}"));
                }
            }
            Err(e) => failures.push(format!("{src}: parse error {e}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn literals_fields_and_operators() {
    check(&[
        ("12", n(12.0)),
        ("3.5", n(3.5)),
        (".5", n(0.5)),
        ("1e6", n(1e6)),
        ("2.5E-3", n(0.0025)),
        ("'it\\'s'", t("it's")),
        ("\"a\\tb\"", t("a\tb")),
        ("TRUE", b(true)),
        ("false()", b(false)),
        ("{A}", n(5.0)),
        ("A", n(5.0)),
        ("{fldA0000000000000}", n(5.0)),
        ("{Qty Ordered}", n(7.0)),
        ("{a\\}b}", t("brace")),
        ("{Missing}", ERR),
        ("1 + 2", n(3.0)),
        ("{A} - {B}", n(3.0)),
        ("{A} * {B}", n(10.0)),
        ("{A} / {B}", n(2.5)),
        ("0.1 + 0.2", n(0.1 + 0.2)),
        ("-{A}", n(-5.0)),
        ("+{A}", n(5.0)),
        ("--{A}", n(5.0)),
        ("-0", n(0.0)),
        ("1 / 0", INF),
        ("-1 / 0", NINF),
        ("0 / 0", NAN),
        ("1e308 * 10", INF),
        ("{A} & {B}", t("52")),
        ("'x' & 1.5", t("x1.5")),
        ("'x' & TRUE", t("x1")),
        ("'x' & {Empty}", t("x")),
        ("{Tags} & '!'", t("a, b, , , a!")),
        ("{Day} & ''", t("2024-02-29")),
        ("1 = 1", b(true)),
        ("1 != 1", b(false)),
        ("1 <> 2", b(true)),
        ("1 < 2", b(true)),
        ("2 > 1", b(true)),
        ("2 <= 2", b(true)),
        ("2 >= 3", b(false)),
        ("'a' < 'b'", b(true)),
        ("'a' = 'A'", b(false)),
        ("'B' < 'a'", b(true)),
        ("'10' = 10", b(true)),
        ("10 > '9'", b(true)),
        ("'abc' = 1", b(false)),
        ("'abc' != 1", b(true)),
        ("'abc' < 1", b(false)),
        ("'abc' > 1", b(false)),
        ("TRUE = 1", b(true)),
        ("FALSE = 0", b(true)),
        ("BLANK() = 0", b(true)),
        ("BLANK() = ''", b(true)),
        ("{Empty} = 0", b(true)),
        ("{Empty} < 1", b(true)),
        ("'' = {Empty}", b(true)),
        ("'x' > {Empty}", b(true)),
        ("{Day} < {Later}", b(true)),
        ("{Day} = '2024-02-29'", b(true)),
        ("{Day} = 5", b(false)),
    ]);
}

#[test]
fn precedence_and_associativity() {
    check(&[
        ("1 + 2 * 3", n(7.0)),
        ("(1 + 2) * 3", n(9.0)),
        ("10 - 4 - 3", n(3.0)),
        ("10 - (4 - 3)", n(9.0)),
        ("16 / 4 / 2", n(2.0)),
        ("16 / (4 / 2)", n(8.0)),
        ("2 * 3 / 4", n(1.5)),
        ("-2 * 3", n(-6.0)),
        ("-(2 + 3)", n(-5.0)),
        ("-2 + 3", n(1.0)),
        ("1 + 2 & 3", t("33")),
        ("1 & 2 + 3", t("15")),
        ("1 & 2 * 3", t("16")),
        ("'a' & 'b' & 'c'", t("abc")),
        ("1 + 1 = 2", b(true)),
        ("1 & 1 = 11", b(true)),
        ("2 = 1 + 1", b(true)),
        ("1 < 2 = TRUE", b(true)),
        ("(1 = 1) = (2 = 2)", b(true)),
        ("3 > 2 > 1", b(false)),
        ("1 - -1", n(2.0)),
        ("2 * -{A}", n(-10.0)),
    ]);
}

#[test]
fn blank_and_error_propagation() {
    check(&[
        ("{Empty} + {Empty}", n(0.0)),
        ("{Empty} * 3", n(0.0)),
        ("{Empty} & {Empty}", t("")),
        ("-{Empty}", n(0.0)),
        ("{Flag} + 1", n(2.0)),
        ("{Off} * 5", n(0.0)),
        ("{Name} + 1", ERR),
        ("{Name} * 2", ERR),
        ("-{Name}", ERR),
        ("{Err} + 1", ERR),
        ("{Err} & 'x'", ERR),
        ("{Err} = 1", ERR),
        ("1 < {Err}", ERR),
        ("(1/0) + 1", INF),
        ("(0/0) * 0", NAN),
        ("(1/0) & 'x'", INF),
        ("UPPER({Err})", ERR),
        ("SUM(1, {Err})", ERR),
        ("IF({Err}, 1, 2)", ERR),
        ("IF(TRUE, 1, {Err})", n(1.0)),
        ("IF(FALSE, {Err}, 2)", n(2.0)),
        ("ISERROR({Err})", b(true)),
        ("ISERROR(1/0)", b(true)),
        ("ISERROR(0/0)", b(true)),
        ("IS_ERROR(1)", b(false)),
        ("ISERROR({Empty})", b(false)),
        ("COUNTALL(1, {Err})", n(2.0)),
        ("COUNTA({Err}, {Empty})", n(1.0)),
        ("NOSUCHFUNCTION(1)", ERR),
        ("{Raw NaN}", NAN),
        ("{Raw Inf} - 1", INF),
        ("ISERROR({Raw NaN})", b(true)),
        ("SWITCH({Err}, 1, 2)", ERR),
        ("SWITCH(1, {Err}, 2)", ERR),
        ("NOT({Err})", ERR),
        ("LEN({Err})", ERR),
        ("CONCATENATE('a', {Err})", ERR),
        ("ROUND({Err}, 1)", ERR),
        ("ARRAYJOIN({Err})", ERR),
        ("DATEADD({Err}, 1, 'd')", ERR),
        ("REGEX_REPLACE('a', 'a', {Err})", ERR),
        ("ABS(1, 2)", ERR),
    ]);
}

#[test]
fn logical_functions() {
    check(&[
        ("IF(1 > 0, 'yes', 'no')", t("yes")),
        ("IF(1 < 0, 'yes', 'no')", t("no")),
        ("IF(0, 'yes')", BL),
        ("IF('', 1, 2)", n(2.0)),
        ("IF('0', 1, 2)", n(1.0)),
        ("IF({Empty}, 1, 2)", n(2.0)),
        ("IF({Tags}, 1, 2)", n(1.0)),
        ("IF(ARRAYCOMPACT(''), 1, 2)", n(2.0)),
        ("IF({Day}, 1, 2)", n(1.0)),
        ("IF(1)", ERR),
        ("SWITCH(2, 1, 'one', 2, 'two')", t("two")),
        ("SWITCH(3, 1, 'one', 2, 'two')", BL),
        ("SWITCH(3, 1, 'one', 2, 'two', 'other')", t("other")),
        ("SWITCH({Empty}, 0, 'zero', 'other')", t("zero")),
        ("SWITCH('b', 'a', 1, 'b', 2)", n(2.0)),
        ("SWITCH(1, 1, 'one', {Err})", t("one")),
        ("SWITCH(1, 2)", ERR),
        ("AND(1, 'x', TRUE)", b(true)),
        ("AND(1, 0)", b(false)),
        ("AND({Nums})", b(true)),
        ("AND()", ERR),
        ("OR(0, '', {Empty})", b(false)),
        ("OR(0, 2)", b(true)),
        ("OR()", ERR),
        ("XOR(1, 1)", b(false)),
        ("XOR(1, 0)", b(true)),
        ("XOR(1, 1, 1)", b(true)),
        ("AND(1, {Err})", ERR),
        ("NOT(0)", b(true)),
        ("NOT('x')", b(false)),
        ("NOT({Empty})", b(true)),
        ("TRUE()", b(true)),
        ("FALSE()", b(false)),
        ("BLANK()", BL),
        ("ERROR()", ERR),
    ]);
}

#[test]
fn numeric_functions() {
    check(&[
        ("SUM(1, 2, 3)", n(6.0)),
        ("SUM({Nums}, 4)", n(10.0)),
        ("SUM({Nested})", n(6.0)),
        ("SUM()", n(0.0)),
        ("SUM('a', {Empty}, 1)", n(1.0)),
        ("AVERAGE(1, 2, 3, 4)", n(2.5)),
        ("AVERAGE('a')", BL),
        // Booleans count as 1 and 0 (a checkbox rollup's SUM counts the
        // checked boxes).
        ("SUM(TRUE(), 1, FALSE())", n(2.0)),
        // Text longer than 400 KB is an error, however it is built.
        (
            "LEN(REPT('abcd', 25000) & REPT('abcd', 25000) & REPT('abcd', 25000) & REPT('abcd', 25000))",
            n(400_000.0),
        ),
        (
            "LEN(REPT('abcd', 25000) & REPT('abcd', 25000) & REPT('abcd', 25000) & REPT('abcd', 25000) & 'x')",
            ERR,
        ),
        (
            "LEN(CONCATENATE(REPT('abcd', 25000), REPT('abcd', 25000), REPT('abcd', 25000), REPT('abcd', 25000), 'x'))",
            ERR,
        ),
        ("AVERAGE(TRUE(), FALSE())", n(0.5)),
        ("MAX(TRUE(), 0)", n(1.0)),
        ("MIN(FALSE(), 3)", n(0.0)),
        ("MAX(1, 5, 3)", n(5.0)),
        ("MAX({Nums})", n(3.0)),
        ("MAX()", BL),
        ("MIN(4, -1, 3)", n(-1.0)),
        (
            "MAX({Day}, {Later})",
            Value::Date(NaiveDate::from_ymd_opt(2024, 3, 1).unwrap_or_default()),
        ),
        (
            "MIN({Day}, {Later})",
            Value::Date(NaiveDate::from_ymd_opt(2024, 2, 29).unwrap_or_default()),
        ),
        ("COUNT(1, 'a', {Empty}, 2)", n(2.0)),
        ("COUNT({Nums})", n(3.0)),
        ("COUNTA(1, 'a', {Empty}, 2)", n(3.0)),
        ("COUNTA(1, 'a', '', {Empty}, 2)", n(3.0)),
        // The empty text among the tags is blank too.
        ("COUNTA({Tags})", n(3.0)),
        ("COUNTALL({Tags})", n(5.0)),
        ("ABS(-3)", n(3.0)),
        ("ABS({Neg})", n(3.5)),
        ("ABS({Empty})", BL),
        ("SQRT(16)", n(4.0)),
        ("SQRT(-1)", NAN),
        ("EXP(0)", n(1.0)),
        ("POWER(2, 10)", n(1024.0)),
        ("POWER(2, -1)", n(0.5)),
        ("POWER(0, -1)", INF),
        ("LOG(100)", n(2.0)),
        ("LOG(8, 2)", n(3.0)),
        ("LOG(1000)", n(3.0)),
        ("LOG(1e15)", n(15.0)),
        ("LOG(125, 5)", n(3.0)),
        ("LOG(243, 3)", n(5.0)),
        ("LOG(10, 100)", n(0.5)),
        ("LOG(0)", NINF),
        ("LOG(-1)", NAN),
        ("MOD(7, 3)", n(1.0)),
        ("MOD(-7, 3)", n(-1.0)),
        ("MOD(7, -3)", n(1.0)),
        ("MOD(7, 0)", NAN),
        ("MOD(7.5, 2)", n(1.5)),
        ("INT(3.7)", n(3.0)),
        ("INT(-3.2)", n(-4.0)),
        ("ROUND(2.5)", n(3.0)),
        ("ROUND(-2.5)", n(-2.0)),
        ("ROUND(1.005, 2)", n(1.01)),
        ("ROUND(1.2345, 3)", n(1.235)),
        ("ROUND(-1.2345, 3)", n(-1.234)),
        ("ROUND(1234.5, -2)", n(1200.0)),
        ("ROUND(1250, -2)", n(1300.0)),
        ("ROUND(0.1 + 0.2, 10)", n(0.3)),
        ("ROUND({Empty}, 2)", BL),
        ("ROUND(1e300, 2)", n(1e300)),
        ("ROUND(0.5)", n(1.0)),
        ("ROUND(-0.5)", n(0.0)),
        ("ROUND(-0.4)", n(0.0)),
        ("ROUND(2.675, 2)", n(2.68)),
        ("ROUND(1.45, 1)", n(1.5)),
        ("ROUND(-1.45, 1)", n(-1.4)),
        ("ROUND(123.456, -1)", n(120.0)),
        ("ROUND(5.55, 1.9)", n(5.6)),
        ("ROUND(1e-30, 2)", n(0.0)),
        (
            "ROUND(12345678901234567890, 2)",
            n(12_345_678_901_234_567_000.0),
        ),
        ("ROUND(1.5, 1e9)", n(1.5)),
        ("ROUNDUP(0.1 + 0.2, 1)", n(0.4)),
        ("ROUNDDOWN(-0.5)", n(0.0)),
        ("ROUNDUP(1.21, 1)", n(1.3)),
        ("ROUNDUP(-1.21, 1)", n(-1.3)),
        ("ROUNDUP(1234, -2)", n(1300.0)),
        ("ROUNDDOWN(1.29, 1)", n(1.2)),
        ("ROUNDDOWN(-1.29, 1)", n(-1.2)),
        ("ROUNDDOWN(1299, -2)", n(1200.0)),
        ("CEILING(4.2)", n(5.0)),
        ("CEILING(4.2, 2)", n(6.0)),
        ("CEILING(-4.2)", n(-4.0)),
        ("FLOOR(4.8)", n(4.0)),
        ("FLOOR(7, 5)", n(5.0)),
        ("FLOOR(-4.2)", n(-5.0)),
        ("FLOOR(7, 0)", n(0.0)),
        ("EVEN(1.5)", n(2.0)),
        ("EVEN(3)", n(4.0)),
        ("EVEN(2)", n(2.0)),
        ("EVEN(-1)", n(-2.0)),
        ("EVEN(0)", n(0.0)),
        ("ODD(1.5)", n(3.0)),
        ("ODD(2)", n(3.0)),
        ("ODD(3)", n(3.0)),
        ("ODD(-2)", n(-3.0)),
        ("ODD(0)", n(1.0)),
    ]);
}

#[test]
fn text_functions() {
    check(&[
        ("CONCATENATE('a', 1, TRUE, {Empty}, 'b')", t("a11b")),
        ("CONCATENATE()", t("")),
        ("LEFT('hello', 2)", t("he")),
        ("LEFT('hello')", t("h")),
        ("LEFT('héllo', 2)", t("hé")),
        ("LEFT('hi', 5)", t("hi")),
        ("LEFT('hi', -1)", ERR),
        ("LEFT({Empty}, 1)", BL),
        ("RIGHT('hello', 3)", t("llo")),
        ("RIGHT('hello', 0)", t("")),
        ("RIGHT(12345, 2)", t("45")),
        ("MID('hello', 2, 3)", t("ell")),
        ("MID('hello', 4, 10)", t("lo")),
        ("MID('hello', 9, 2)", t("")),
        ("MID('hello', 0, 2)", ERR),
        ("LEN('héllo')", n(5.0)),
        ("LEN({Empty})", n(0.0)),
        ("LEN(123)", n(3.0)),
        ("LOWER('ÀBC')", t("àbc")),
        ("UPPER('straße')", t("STRASSE")),
        ("UPPER({Empty})", BL),
        ("TRIM('  a  b  ')", t("a  b")),
        ("FIND('o', 'hello world')", n(5.0)),
        ("FIND('o', 'hello world', 6)", n(8.0)),
        ("FIND('O', 'hello')", n(0.0)),
        ("FIND('z', 'hello')", n(0.0)),
        ("FIND('l', 'héllo')", n(3.0)),
        ("SEARCH('O', 'hello')", n(5.0)),
        ("SEARCH('z', 'hello')", BL),
        ("SEARCH('L', 'hello', 4)", n(4.0)),
        ("SUBSTITUTE('a-b-c', '-', '+')", t("a+b+c")),
        ("SUBSTITUTE('a-b-c', '-', '+', 2)", t("a-b+c")),
        ("SUBSTITUTE('a-b-c', '-', '+', 5)", t("a-b-c")),
        ("SUBSTITUTE('abc', '', 'x')", t("abc")),
        ("REPLACE('hello', 2, 3, 'ipp')", t("hippo")),
        ("REPLACE('hello', 1, 0, '> ')", t("> hello")),
        ("REPLACE('hi', 9, 1, '!')", t("hi!")),
        ("REPT('ab', 3)", t("ababab")),
        ("REPT('ab', 0)", t("")),
        ("REPT('ab', -1)", ERR),
        ("REPT('x', 100001)", ERR),
        ("LEN(REPT('x', 100000))", n(100_000.0)),
        ("T('a')", t("a")),
        ("T(1)", BL),
        ("T({Err})", ERR),
        ("VALUE('12')", n(12.0)),
        ("VALUE(' 1,234.5 ')", n(1234.5)),
        ("VALUE('$10')", n(10.0)),
        ("VALUE('-$10')", n(-10.0)),
        ("VALUE('50%')", n(0.5)),
        ("VALUE('abc')", ERR),
        ("VALUE({Empty})", BL),
        ("ENCODE_URL_COMPONENT('a b&c/é')", t("a%20b%26c%2F%C3%A9")),
        ("ENCODE_URL_COMPONENT('A-z_0.9~')", t("A-z_0.9~")),
        ("{Name} & ' ' & LEN({Name})", t("Jane Doe 8")),
    ]);
}

#[test]
fn array_record_and_clock_functions() {
    check(&[
        ("ARRAYCOMPACT({Tags})", arr(vec![t("a"), t("b"), t("a")])),
        (
            "ARRAYCOMPACT(0, FALSE, ' ')",
            arr(vec![n(0.0), b(false), t(" ")]),
        ),
        ("ARRAYFLATTEN({Nested})", arr(vec![n(1.0), n(2.0), n(3.0)])),
        ("ARRAYJOIN({Nums})", t("1, 2, 3")),
        ("ARRAYJOIN({Nums}, '-')", t("1-2-3")),
        ("ARRAYJOIN({Nested}, '')", t("123")),
        ("ARRAYUNIQUE({Tags})", arr(vec![t("a"), t("b"), BL, t("")])),
        (
            "ARRAYUNIQUE(1, 1, '1', 2)",
            arr(vec![n(1.0), t("1"), n(2.0)]),
        ),
        ("ARRAYSLICE({Nums}, 2)", arr(vec![n(2.0), n(3.0)])),
        ("ARRAYSLICE({Nums}, 1, 2)", arr(vec![n(1.0), n(2.0)])),
        ("ARRAYSLICE({Nums}, -2)", arr(vec![n(2.0), n(3.0)])),
        ("ARRAYSLICE({Nums}, 1, -2)", arr(vec![n(1.0), n(2.0)])),
        ("ARRAYSLICE({Nums}, 3, 1)", arr(vec![])),
        ("ARRAYSLICE({Nums}, 2, 9)", arr(vec![n(2.0), n(3.0)])),
        ("RECORD_ID()", t("rec123")),
        ("REGEX_MATCH('abc123', '[0-9]+')", b(true)),
        ("REGEX_MATCH('abc', '^[0-9]+$')", b(false)),
        ("REGEX_MATCH({Empty}, '^$')", b(true)),
        ("REGEX_MATCH('ABC', '(?i)abc')", b(true)),
        ("REGEX_MATCH('x', '(')", ERR),
        ("REGEX_MATCH('x', '(a)\\\\1')", ERR),
        ("REGEX_MATCH({Err}, 'a')", ERR),
        ("REGEX_EXTRACT('order 66 and 67', '[0-9]+')", t("66")),
        ("REGEX_EXTRACT('none', '[0-9]+')", BL),
        ("REGEX_EXTRACT({Empty}, 'a')", BL),
        ("REGEX_REPLACE('a1b22', '[0-9]+', '#')", t("a#b#")),
        (
            "REGEX_REPLACE('Doe, Jane', '(\\\\w+), (\\\\w+)', '$2 $1')",
            t("Jane Doe"),
        ),
        ("REGEX_REPLACE('abc', 'z', 'y')", t("abc")),
        ("REGEX_REPLACE({Empty}, 'a', 'b')", BL),
        ("REGEX_MATCH('a', 'a', 'b')", ERR),
        ("'id: ' & RECORD_ID()", t("id: rec123")),
        (
            "TODAY()",
            Value::Date(NaiveDate::from_ymd_opt(2024, 5, 6).unwrap_or_default()),
        ),
        ("NOW() & ''", t("2024-05-06T07:08:09.000Z")),
        ("NOW() > {Day}", b(true)),
    ]);
}

#[test]
fn missing_clock_and_record_read_as_blank() {
    let ctx = EvalContext::new(&field);
    for src in ["NOW()", "TODAY()", "RECORD_ID()"] {
        let expr = parse(src).expect("parses");
        assert_eq!(evaluate(&expr, &ctx), BL, "{src}");
    }
}

pub(super) fn date(y: i32, m: u32, d: u32) -> Value {
    NaiveDate::from_ymd_opt(y, m, d).map_or(ERR, Value::Date)
}

#[test]
fn date_functions_in_utc() {
    check(&[
        ("YEAR({Day})", n(2024.0)),
        ("MONTH({Day})", n(2.0)),
        ("DAY({Day})", n(29.0)),
        ("HOUR('2024-01-02T03:04:05Z')", n(3.0)),
        ("MINUTE('2024-01-02T03:04:05Z')", n(4.0)),
        ("SECOND('2024-01-02T03:04:05Z')", n(5.0)),
        ("HOUR('2024-01-02T03:04:05+02:00')", n(1.0)),
        ("YEAR({Empty})", BL),
        ("YEAR('nope')", ERR),
        ("YEAR(5)", ERR),
        ("YEAR({Err})", ERR),
        ("WEEKDAY({Day})", n(4.0)),
        ("WEEKDAY({Day}, 'Monday')", n(3.0)),
        ("WEEKDAY('2024-05-05')", n(0.0)),
        ("WEEKDAY({Day}, 'Friday')", ERR),
        ("WEEKNUM('2024-01-01')", n(1.0)),
        ("WEEKNUM('2024-01-07')", n(2.0)),
        ("WEEKNUM('2024-01-07', 'Monday')", n(1.0)),
        ("WEEKNUM('2024-01-08', 'Monday')", n(2.0)),
        ("DATESTR({Day})", t("2024-02-29")),
        ("DATESTR({Empty})", BL),
        ("TIMESTR('2024-01-02T03:04:05Z')", t("03:04:05")),
        (
            "DATETIME_PARSE('2024-01-02') & ''",
            t("2024-01-02T00:00:00.000Z"),
        ),
        (
            "DATETIME_PARSE('2024-01-02 03:04') & ''",
            t("2024-01-02T03:04:00.000Z"),
        ),
        ("DATETIME_PARSE('x')", ERR),
        (
            "DATETIME_PARSE('29/02/2024', 'DD/MM/YYYY') & ''",
            t("2024-02-29T00:00:00.000Z"),
        ),
        (
            "DATETIME_PARSE('3/1/2024 2:05 PM', 'M/D/YYYY h:mm A') & ''",
            t("2024-03-01T14:05:00.000Z"),
        ),
        (
            "DATETIME_PARSE('2024-03-01 10:00 +02:00', 'YYYY-MM-DD HH:mm Z') & ''",
            t("2024-03-01T08:00:00.000Z"),
        ),
        (
            "DATETIME_PARSE('March 5 2024', 'MMMM D YYYY') & ''",
            t("2024-03-05T00:00:00.000Z"),
        ),
        (
            "DATETIME_PARSE('1704067200', 'X') & ''",
            t("2024-01-01T00:00:00.000Z"),
        ),
        ("DATETIME_PARSE('at 2024', '[at] YYYY')", ERR),
        ("DATETIME_PARSE('31/02/2024', 'DD/MM/YYYY')", ERR),
        ("DATETIME_PARSE({Empty}, 'YYYY')", BL),
        // Past year 9999 (or before year 1) a date is an error: cells
        // are RFC 3339, with four-digit years.
        ("DATEADD('9999-12-31T23:59:59Z', 1, 'days')", ERR),
        ("DATEADD('9999-12-31', 1, 'd')", ERR),
        ("DATEADD('0001-01-01', -1, 'd')", ERR),
        ("DATEADD('9999-12-30', 1, 'd')", date(9999, 12, 31)),
        ("DATEADD('2024-01-31', 1, 'month')", date(2024, 2, 29)),
        ("DATEADD('2023-01-31', 1, 'months')", date(2023, 2, 28)),
        ("DATEADD({Day}, 1, 'years')", date(2025, 2, 28)),
        ("DATEADD({Day}, 1, 'd')", date(2024, 3, 1)),
        ("DATEADD({Day}, 1, 'w')", date(2024, 3, 7)),
        ("DATEADD({Day}, 1, 'Q')", date(2024, 5, 29)),
        ("DATEADD({Day}, -1, 'M')", date(2024, 1, 29)),
        (
            "DATEADD({Day}, 90, 'm') & ''",
            t("2024-02-29T01:30:00.000Z"),
        ),
        (
            "DATEADD({Day}, 2, 'Hours') & ''",
            t("2024-02-29T02:00:00.000Z"),
        ),
        (
            "DATEADD({Day}, 1500, 'ms') & ''",
            t("2024-02-29T00:00:01.500Z"),
        ),
        ("DATEADD({Day}, 1, 'fortnight')", ERR),
        ("DATEADD({Day}, 1, 'D')", ERR),
        ("DATEADD({Empty}, 1, 'd')", BL),
        ("DATETIME_DIFF({Later}, {Day}, 'days')", n(1.0)),
        ("DATETIME_DIFF({Day}, {Later}, 'd')", n(-1.0)),
        ("DATETIME_DIFF({Later}, {Day})", n(86_400.0)),
        ("DATETIME_DIFF('2024-03-31', '2024-01-31', 'M')", n(2.0)),
        (
            "DATETIME_DIFF('2024-03-30', '2024-01-31', 'months')",
            n(1.0),
        ),
        (
            "DATETIME_DIFF('2024-01-31', '2024-03-30', 'months')",
            n(-1.0),
        ),
        ("DATETIME_DIFF('2025-02-28', '2024-02-29', 'y')", n(1.0)),
        (
            "DATETIME_DIFF('2024-12-31', '2024-01-01', 'quarters')",
            n(3.0),
        ),
        (
            "DATETIME_DIFF('2024-01-01T10:00:00Z', '2024-01-01T09:59:59Z', 'h')",
            n(0.0),
        ),
        (
            "DATETIME_DIFF('2024-01-01T00:00:00Z', '2024-01-01T01:30:00Z', 'h')",
            n(-1.0),
        ),
        ("DATETIME_DIFF({Empty}, {Day})", BL),
        ("IS_BEFORE({Day}, {Later})", b(true)),
        ("IS_AFTER({Day}, {Later})", b(false)),
        ("IS_AFTER({Later}, {Day})", b(true)),
        ("IS_BEFORE({Empty}, {Day})", b(false)),
        ("IS_SAME({Day}, '2024-02-29')", b(true)),
        ("IS_SAME({Day}, {Later})", b(false)),
        ("IS_SAME({Day}, {Later}, 'month')", b(false)),
        ("IS_SAME({Day}, '2024-02-01', 'month')", b(true)),
        ("IS_SAME({Day}, {Later}, 'week')", b(true)),
        ("IS_SAME('2024-05-04', '2024-05-05', 'week')", b(false)),
        ("IS_SAME({Day}, {Later}, 'year')", b(true)),
        ("IS_SAME({Day}, '2024-04-01', 'Q')", b(false)),
        ("IS_SAME('2024-01-01', '2024-03-31', 'quarter')", b(true)),
        (
            "IS_SAME('2024-01-01T10:00:00Z', '2024-01-01T23:00:00Z', 'day')",
            b(true),
        ),
        ("TONOW({Day})", n(67.0)),
        (
            "DATETIME_FORMAT('2024-03-05T14:07:09.25Z')",
            t("2024-03-05T14:07:09.250Z"),
        ),
        ("DATETIME_FORMAT({Day}, 'DD/MM/YYYY')", t("29/02/2024")),
        (
            "DATETIME_FORMAT({Day}, 'dddd, MMMM Do YY')",
            t("Thursday, February 29th 24"),
        ),
        ("DATETIME_FORMAT({Day}, 'ddd MMM D, d')", t("Thu Feb 29, 4")),
        (
            "DATETIME_FORMAT('2024-03-01T14:07:09Z', 'h:mm A')",
            t("2:07 PM"),
        ),
        (
            "DATETIME_FORMAT('2024-03-01T00:05:09Z', 'hh:mm a [at] H, HH, m, s, ss')",
            t("12:05 am at 0, 00, 5, 9, 09"),
        ),
        ("DATETIME_FORMAT('2024-03-02', 'Do M MM')", t("2nd 3 03")),
        ("DATETIME_FORMAT('2024-03-03', 'Do')", t("3rd")),
        ("DATETIME_FORMAT('2024-03-11', 'Do')", t("11th")),
        ("DATETIME_FORMAT('2024-03-21', 'Do')", t("21st")),
        (
            "DATETIME_FORMAT('2024-01-01', 'X x Z ZZ')",
            t("1704067200 1704067200000 +00:00 +0000"),
        ),
        ("DATETIME_FORMAT({Empty}, 'YYYY')", BL),
        ("WORKDAY({Day}, 1)", date(2024, 3, 1)),
        ("WORKDAY({Later}, 1)", date(2024, 3, 4)),
        ("WORKDAY({Later}, -1)", date(2024, 2, 29)),
        ("WORKDAY({Later}, 1, '2024-03-04')", date(2024, 3, 5)),
        ("WORKDAY({Day}, 0)", date(2024, 2, 29)),
        ("WORKDAY({Day}, 1, 'not a date')", ERR),
        ("WORKDAY({Day}, 1e12)", ERR),
        ("WORKDAY_DIFF('2024-03-01', '2024-03-08')", n(6.0)),
        ("WORKDAY_DIFF('2024-03-08', '2024-03-01')", n(-6.0)),
        ("WORKDAY_DIFF('2024-03-02', '2024-03-03')", n(0.0)),
        (
            "WORKDAY_DIFF('2024-03-01', '2024-03-08', '2024-03-04, 2024-03-05')",
            n(4.0),
        ),
        ("CREATED_TIME() & ''", t("2024-01-02T03:04:05.000Z")),
        ("LAST_MODIFIED_TIME()", BL),
        ("FROMNOW({Day})", n(-67.0)),
        ("DATETIME_DIFF(NOW(), TODAY(), 'minutes')", n(428.0)),
    ]);
}
