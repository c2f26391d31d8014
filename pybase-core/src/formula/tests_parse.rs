//! Parser, printer and limit tests, with the print/parse round-trip
//! property.

use proptest::prelude::*;

use super::ast::{BinaryOp, Expr, ExprKind, UnaryOp};
use super::{MAX_ARGUMENTS, MAX_DEPTH, MAX_SOURCE_BYTES, parse, print};

fn err_at(src: &str) -> (usize, String) {
    match parse(src) {
        Ok(e) => panic!("{src:?} parsed as {e:?}"),
        Err(e) => (e.position, e.message),
    }
}

#[test]
fn precedence_and_associativity_print_canonically() {
    let cases = [
        ("1+2*3", "1 + 2 * 3"),
        ("(1+2)*3", "(1 + 2) * 3"),
        ("1-2-3", "1 - 2 - 3"),
        ("1-(2-3)", "1 - (2 - 3)"),
        ("8/4/2", "8 / 4 / 2"),
        ("8/(4/2)", "8 / (4 / 2)"),
        ("'a'&1+2", "\"a\" & 1 + 2"),
        ("('a'&1)+2", "(\"a\" & 1) + 2"),
        ("1=2=3", "1 = 2 = 3"),
        ("1<>2", "1 != 2"),
        ("-2*3", "-2 * 3"),
        ("-(2*3)", "-(2 * 3)"),
        ("--3", "--3"),
        ("+3", "+3"),
        ("{A} & {B}", "{A} & {B}"),
        ("Price*2", "{Price} * 2"),
        ("true", "TRUE()"),
        ("FALSE()", "FALSE()"),
        ("sum(1, 2)", "SUM(1, 2)"),
        ("BLANK()", "BLANK()"),
        (".5", "0.5"),
        ("1e3", "1000"),
        ("2.5E-3", "0.0025"),
        ("'Jane\\'s'", "\"Jane's\""),
        ("\"a\\nb\"", "\"a\\nb\""),
        ("{a\\}b}", "{a\\}b}"),
        ("{a\\\\b}", "{a\\\\b}"),
        ("1 <= 2", "1 <= 2"),
        ("1 >= 2", "1 >= 2"),
        ("1 > 2 & 3", "1 > 2 & 3"),
    ];
    for (src, want) in cases {
        let expr = parse(src).unwrap_or_else(|e| panic!("{src}: {e}"));
        assert_eq!(print(&expr), want, "{src}");
        assert_eq!(parse(want).ok(), Some(expr), "{src}");
    }
}

#[test]
fn tree_shape_follows_the_grammar() {
    let expr = parse("1 + 2 * 3 & 4 = 5").expect("parses");
    let ExprKind::Binary { op, lhs, .. } = &expr.kind else {
        panic!("not binary: {expr:?}")
    };
    assert_eq!(*op, BinaryOp::Eq);
    let ExprKind::Binary { op, lhs, .. } = &lhs.kind else {
        panic!("not binary")
    };
    assert_eq!(*op, BinaryOp::Concat);
    let ExprKind::Binary { op, .. } = &lhs.kind else {
        panic!("not binary")
    };
    assert_eq!(*op, BinaryOp::Add);
    let neg = parse("-{A}").expect("parses");
    assert!(matches!(
        neg.kind,
        ExprKind::Unary {
            op: UnaryOp::Neg,
            ..
        }
    ));
}

#[test]
fn spans_are_byte_offsets() {
    let expr = parse("  {é} + SUM(1, 2)").expect("parses");
    assert_eq!((expr.span.start, expr.span.end), (2, 18));
    let ExprKind::Binary { lhs, rhs, .. } = &expr.kind else {
        panic!("not binary")
    };
    assert_eq!((lhs.span.start, lhs.span.end), (2, 6));
    assert_eq!((rhs.span.start, rhs.span.end), (9, 18));
    let paren = parse("(1)").expect("parses");
    assert_eq!((paren.span.start, paren.span.end), (0, 3));
}

#[test]
fn errors_name_the_position_and_what_was_expected() {
    let cases: [(&str, usize, &str); 16] = [
        ("1 +", 3, "expected a number"),
        ("(1 + 2", 6, "expected ')'"),
        ("SUM(1 2)", 6, "expected ',' or ')'"),
        ("1 2", 2, "expected an operator"),
        ("'abc", 0, "closing '"),
        ("{abc", 0, "closing }"),
        ("{}", 0, "empty field reference"),
        ("1 % 2", 2, "not an operator"),
        ("1 && 2", 2, "AND("),
        ("1 || 2", 2, "not an operator"),
        ("2 ^ 3", 2, "not an operator"),
        ("1 ! 2", 2, "'!='"),
        ("1e", 2, "exponent"),
        ("1e999", 0, "out of range"),
        ("#", 0, "unexpected character"),
        (")", 0, "expected a number"),
    ];
    for (src, pos, fragment) in cases {
        let (at, message) = err_at(src);
        assert_eq!(at, pos, "{src}: {message}");
        assert!(message.contains(fragment), "{src}: {message}");
    }
}

#[test]
fn limits_are_refused_with_a_position() {
    let long = format!("'{}'", "a".repeat(MAX_SOURCE_BYTES));
    assert!(err_at(&long).1.contains("longer than"));

    let deep_ok = format!("{}1{}", "(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
    assert!(parse(&deep_ok).is_ok());
    let deep = format!(
        "{}1{}",
        "(".repeat(MAX_DEPTH + 1),
        ")".repeat(MAX_DEPTH + 1)
    );
    let (at, message) = err_at(&deep);
    assert_eq!(at, MAX_DEPTH);
    assert!(message.contains("nests more than"));

    let signs = format!("{}1", "-".repeat(MAX_DEPTH + 1));
    assert!(err_at(&signs).1.contains("nests more than"));

    let calls = format!(
        "{}1{}",
        "ABS(".repeat(MAX_DEPTH + 1),
        ")".repeat(MAX_DEPTH + 1)
    );
    assert!(err_at(&calls).1.contains("nests more than"));

    let chain = vec!["1"; 1000].join("+");
    assert!(err_at(&chain).1.contains("too deeply nested"));

    let many_ok = format!("OR({})", vec!["1"; MAX_ARGUMENTS].join(","));
    assert!(parse(&many_ok).is_ok());
    let many = format!("OR({})", vec!["1"; MAX_ARGUMENTS + 1].join(","));
    let (_, message) = err_at(&many);
    assert!(message.contains("more than 10000 arguments"), "{message}");
}

fn leaf() -> impl Strategy<Value = Expr> {
    prop_oneof![
        (0u32..100_000, 0u32..4).prop_map(|(m, e)| f64::from(m) / 10f64.powi(e as i32)),
        any::<f64>().prop_filter("finite, non-negative", |n| n.is_finite()
            && n.is_sign_positive()),
    ]
    .prop_map(|n| Expr::new(ExprKind::Number(n), Default::default()))
    .boxed()
    .prop_union(
        "[ -~\\n\\té\"'\\\\]{0,8}"
            .prop_map(|t| Expr::new(ExprKind::Text(t), Default::default()))
            .boxed(),
    )
    .or(any::<bool>()
        .prop_map(|b| Expr::new(ExprKind::Bool(b), Default::default()))
        .boxed())
    .or("[ -~é]{1,8}"
        .prop_map(|f| Expr::new(ExprKind::Field(f), Default::default()))
        .boxed())
}

fn expr_strategy() -> impl Strategy<Value = Expr> {
    let ops = [
        BinaryOp::Mul,
        BinaryOp::Div,
        BinaryOp::Add,
        BinaryOp::Sub,
        BinaryOp::Concat,
        BinaryOp::Eq,
        BinaryOp::Ne,
        BinaryOp::Lt,
        BinaryOp::Gt,
        BinaryOp::Le,
        BinaryOp::Ge,
    ];
    leaf().prop_recursive(6, 48, 4, move |inner| {
        prop_oneof![
            (
                proptest::sample::select(ops.to_vec()),
                inner.clone(),
                inner.clone()
            )
                .prop_map(|(op, l, r)| Expr::new(
                    ExprKind::Binary {
                        op,
                        lhs: Box::new(l),
                        rhs: Box::new(r)
                    },
                    Default::default()
                )),
            (any::<bool>(), inner.clone()).prop_map(|(neg, e)| Expr::new(
                ExprKind::Unary {
                    op: if neg { UnaryOp::Neg } else { UnaryOp::Plus },
                    operand: Box::new(e)
                },
                Default::default()
            )),
            (
                "[A-Z][A-Z_0-9]{0,6}",
                proptest::collection::vec(inner, 0..4)
            )
                .prop_filter("TRUE()/FALSE() are booleans", |(name, args)| {
                    !(args.is_empty() && (name == "TRUE" || name == "FALSE"))
                })
                .prop_map(|(name, args)| Expr::new(
                    ExprKind::Call { name, args },
                    Default::default()
                )),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn parse_of_print_is_the_identity(expr in expr_strategy()) {
        let text = print(&expr);
        let back = parse(&text);
        prop_assert_eq!(back.as_ref().ok(), Some(&expr), "printed: {} / {:?}", text, back);
    }

    #[test]
    fn arbitrary_input_never_panics(src in "[ -~é]{0,64}") {
        let _ = parse(&src);
    }
}

const FUNCTIONS: [&str; 75] = [
    "IF",
    "SWITCH",
    "AND",
    "OR",
    "XOR",
    "NOT",
    "BLANK",
    "ERROR",
    "ISERROR",
    "SUM",
    "AVERAGE",
    "MAX",
    "MIN",
    "COUNT",
    "COUNTA",
    "COUNTALL",
    "ABS",
    "SQRT",
    "EXP",
    "POWER",
    "LOG",
    "MOD",
    "INT",
    "ROUND",
    "ROUNDUP",
    "ROUNDDOWN",
    "CEILING",
    "FLOOR",
    "EVEN",
    "ODD",
    "CONCATENATE",
    "LEFT",
    "RIGHT",
    "MID",
    "LEN",
    "LOWER",
    "UPPER",
    "TRIM",
    "FIND",
    "SEARCH",
    "SUBSTITUTE",
    "REPLACE",
    "REPT",
    "T",
    "VALUE",
    "ENCODE_URL_COMPONENT",
    "ARRAYCOMPACT",
    "ARRAYFLATTEN",
    "ARRAYJOIN",
    "ARRAYUNIQUE",
    "ARRAYSLICE",
    "REGEX_MATCH",
    "REGEX_EXTRACT",
    "REGEX_REPLACE",
    "YEAR",
    "MONTH",
    "HOUR",
    "WEEKDAY",
    "WEEKNUM",
    "DATESTR",
    "TIMESTR",
    "DATETIME_PARSE",
    "DATEADD",
    "DATETIME_DIFF",
    "DATETIME_FORMAT",
    "IS_SAME",
    "IS_BEFORE",
    "FROMNOW",
    "TONOW",
    "WORKDAY",
    "WORKDAY_DIFF",
    "NOW",
    "TODAY",
    "RECORD_ID",
    "CREATED_TIME",
];

fn known_calls() -> impl Strategy<Value = Expr> {
    let leaves = prop_oneof![
        leaf(),
        proptest::sample::select(vec!["N", "T", "D", "E", "L", "X"])
            .prop_map(|f| Expr::new(ExprKind::Field(f.to_string()), Default::default())),
        proptest::sample::select(vec![
            "2024-02-29",
            "d",
            "M",
            "years",
            "Monday",
            "YYYY [x] Do",
            "(a)+",
            "$1",
            "",
        ])
        .prop_map(|t| Expr::new(ExprKind::Text(t.to_string()), Default::default())),
    ];
    leaves.prop_recursive(5, 40, 4, |inner| {
        prop_oneof![
            (
                proptest::sample::select(FUNCTIONS.to_vec()),
                proptest::collection::vec(inner.clone(), 0..4)
            )
                .prop_map(|(name, args)| Expr::new(
                    ExprKind::Call {
                        name: name.to_string(),
                        args
                    },
                    Default::default()
                )),
            (inner.clone(), inner).prop_map(|(l, r)| Expr::new(
                ExprKind::Binary {
                    op: BinaryOp::Sub,
                    lhs: Box::new(l),
                    rhs: Box::new(r)
                },
                Default::default()
            )),
        ]
    })
}

fn sample_field(name: &str) -> Option<super::Value> {
    use super::Value;
    Some(match name {
        "N" => Value::Number(-2.5),
        "T" => Value::text("Hello, World"),
        "D" => Value::Date(chrono::NaiveDate::from_ymd_opt(2024, 2, 29)?),
        "E" => Value::Blank,
        "L" => Value::Array(vec![Value::Number(1.0), Value::text("a"), Value::Blank]),
        _ => return None,
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]
    #[test]
    fn evaluation_never_panics_and_numbers_stay_finite(expr in known_calls()) {
        let ctx = super::EvalContext {
            fields: &sample_field,
            record_id: Some("rec1"),
            now: chrono::DateTime::from_timestamp(1_700_000_000, 0),
            created_time: None,
            updated_time: None,
            zone: chrono_tz::Tz::UTC,
        };
        if let super::Value::Number(n) = super::evaluate(&expr, &ctx) {
            prop_assert!(n.is_finite());
        }
    }
}
