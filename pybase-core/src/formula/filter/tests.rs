//! The planner: what lowers to which filter, and the property that the
//! lowered filter (read by the reference evaluator every store agrees
//! with), the record ids and the residual together keep exactly the
//! records pure evaluation keeps, over every kind of field.

use chrono::{TimeZone, Utc};
use proptest::prelude::*;
use serde_json::{Value as Json, json};

use super::*;
use crate::formula::{LinkTitles, check, keeps};
use crate::ids::{TableId, UserId};
use crate::model::{Cells, Record};
use crate::query::eval;

use crate::formula::test_field as field;

fn fields() -> Vec<Field> {
    vec![
        field("Name", "text", &Json::Null),
        field("Qty", "number", &Json::Null),
        field("Done", "checkbox", &Json::Null),
        field("Due", "date", &Json::Null),
        field("At", "datetime", &Json::Null),
        field(
            "Status",
            "single_select",
            &json!({"choices": ["doing", "done"]}),
        ),
        field("Tags", "multi_select", &json!({"choices": ["a", "b"]})),
        field("No", "autonumber", &Json::Null),
        field("Created", "created_time", &Json::Null),
        field("By", "created_by", &Json::Null),
        field(
            "Link",
            "link",
            &json!({"linked_table_id": TableId::new().to_string()}),
        ),
    ]
}

/// Two linked records: one titled, one with a blank primary value.
static LINKED: std::sync::LazyLock<[RecordId; 2]> =
    std::sync::LazyLock::new(|| [RecordId::new(), RecordId::new()]);

fn titles() -> LinkTitles {
    let mut t = LinkTitles::new();
    t.insert(LINKED[0], crate::formula::Value::Text("doing".into()));
    t.insert(LINKED[1], crate::formula::Value::Blank);
    t
}

/// One set of fields for the generators and the property.
static FIELDS: std::sync::LazyLock<Vec<Field>> = std::sync::LazyLock::new(fields);

fn now() -> Timestamp {
    Utc.with_ymd_and_hms(2024, 1, 2, 12, 0, 0).unwrap()
}

fn planned(source: &str, fs: &[Field]) -> FormulaFilter {
    plan_filter(check(source, fs).unwrap(), fs, now(), &Limits::default())
}

fn target(fs: &[Field], name: &str) -> Target {
    target_of(fs.iter().find(|f| f.name == name).unwrap())
}

#[test]
fn pyairtable_formulas_lower_entirely() {
    let fs = fields();
    let p = planned("AND({Status}='doing', {Qty}>=21)", &fs);
    assert!(p.is_pure_sql(), "{p:?}");
    assert_eq!(
        p.sql,
        Some(Filter::And(vec![
            cond(target(&fs, "Status"), Op::Eq, Operand::Text("doing".into())),
            cond(target(&fs, "Qty"), Op::Gte, Operand::Number(21.0)),
        ]))
    );
    let p = planned("AND({Qty}>5, {Done})", &fs);
    assert!(p.is_pure_sql());
    let p = planned("{Due} = DATETIME_PARSE('2024-01-02')", &fs);
    assert_eq!(
        p.sql,
        Some(cond(
            target(&fs, "Due"),
            Op::Eq,
            Operand::Text("2024-01-02".into())
        ))
    );
    let p = planned("{Done} = TRUE()", &fs);
    assert_eq!(
        p.sql,
        Some(cond(target(&fs, "Done"), Op::Eq, Operand::Bool(true)))
    );
    assert_eq!(planned("TRUE()", &fs).sql, Some(Filter::And(vec![])));
}

#[test]
fn blanks_keep_their_formula_meaning() {
    let fs = fields();
    let qty = target(&fs, "Qty");
    assert_eq!(
        planned("{Qty} < 5", &fs).sql,
        Some(Filter::Or(vec![
            cond(qty, Op::Lt, Operand::Number(5.0)),
            is_empty(qty)
        ]))
    );
    assert_eq!(
        planned("{Qty} = 0", &fs).sql,
        Some(Filter::Or(vec![
            cond(qty, Op::Eq, Operand::Number(0.0)),
            is_empty(qty)
        ]))
    );
    assert_eq!(
        planned("{Qty} != 0", &fs).sql,
        Some(Filter::And(vec![
            cond(qty, Op::Neq, Operand::Number(0.0)),
            is_not_empty(qty)
        ]))
    );
    assert_eq!(
        planned("{Qty} > 5", &fs).sql,
        Some(cond(qty, Op::Gt, Operand::Number(5.0)))
    );
    let name = target(&fs, "Name");
    assert_eq!(planned("{Name} = ''", &fs).sql, Some(is_empty(name)));
    assert_eq!(
        planned("{Name} != BLANK()", &fs).sql,
        Some(is_not_empty(name))
    );
    assert_eq!(planned("{Qty}", &fs).sql, planned("{Qty} != 0", &fs).sql);
}

#[test]
fn record_ids_are_a_list_and_ors_of_equalities_an_in() {
    let fs = fields();
    let ids: Vec<RecordId> = (0..500).map(|_| RecordId::new()).collect();
    let terms: Vec<String> = ids.iter().map(|i| format!("RECORD_ID()='{i}'")).collect();
    let p = planned(&format!("OR({})", terms.join(",")), &fs);
    assert_eq!(p.ids.as_deref(), Some(ids.as_slice()));
    assert!(p.sql.is_none() && p.residual.is_empty());
    let p = planned(
        &format!(
            "AND({{Qty}} > 1, OR({}), '{}' = RECORD_ID())",
            terms[..3].join(","),
            ids[1]
        ),
        &fs,
    );
    assert_eq!(p.ids, Some(vec![ids[1]]));
    assert!(p.sql.is_some() && p.residual.is_empty());
    assert_eq!(
        planned("OR({Name}='a', {Name}='b', {Name}='c')", &fs).sql,
        Some(cond(
            target(&fs, "Name"),
            Op::In,
            Operand::TextList(vec!["a".into(), "b".into(), "c".into()])
        ))
    );
}

#[test]
fn what_cannot_lower_stays_in_the_residual() {
    let fs = FIELDS.clone();
    for src in [
        "{Qty} > {No}",
        "FIND('x', {Name})",
        "{Tags} = 'a'",
        "IF({Done}, 1, 0)",
        "{Name} = 3",
        "1/0 = {Qty}",
        "AND({Tags}, {Qty} > 1)",
    ] {
        let p = planned(src, &fs);
        assert!(p.sql.is_none(), "{src}: {p:?}");
        assert_eq!(p.residual.len(), 1, "{src}");
    }
    let tags = target(&fs, "Tags");
    assert_eq!(planned("{Tags} = ''", &fs).sql, Some(is_empty(tags)));
    assert_eq!(
        planned("BLANK() != {Tags}", &fs).sql,
        Some(is_not_empty(tags))
    );
    assert_eq!(
        planned("IS_BEFORE({Due}, DATETIME_PARSE('2024-01-02'))", &fs).sql,
        Some(cond(
            target(&fs, "Due"),
            Op::Lt,
            Operand::Text("2024-01-02".into())
        ))
    );
    assert!(planned("IS_BEFORE({Due}, '2024-01-02')", &fs).sql.is_none());
    // A link to a record whose primary value is blank reads as "".
    let p = planned("{Link} = ''", &fs);
    assert!(p.sql.is_none() && p.residual.len() == 1);
    let link = fs.iter().find(|f| f.name == "Link").unwrap();
    let r = Record {
        id: RecordId::new(),
        table_id: link.table_id,
        cells: Cells::from_iter([(link.id.to_string(), json!([LINKED[1].to_string()]))]),
        autonumber: 1,
        created_by: None,
        updated_by: None,
        created_time: now(),
        updated_time: now(),
        deleted_time: None,
    };
    assert!(keeps(&p.checked.expr, &r, &fs, &titles(), now()));
    let p = planned("AND({Qty} > 1, FIND('x', {Name}))", &fs);
    assert!(p.sql.is_some());
    assert_eq!(p.residual.len(), 1);
    // Larger than a client filter may be: the residual runs it.
    let terms: Vec<String> = (0..300).map(|i| format!("{{Qty}} = {i}.5")).collect();
    let p = plan_filter(
        check(&format!("OR({})", terms.join(",")), &fs).unwrap(),
        &fs,
        now(),
        &Limits {
            filter_values: 100,
            ..Limits::default()
        },
    );
    assert!(p.sql.is_none() && p.residual.len() == 1);
    // The limits hold for all lowered conjuncts together.
    let terms: Vec<String> = (0..150).map(|i| format!("{{Qty}} < {i}.5")).collect();
    let p = planned(&format!("AND({})", terms.join(",")), &fs);
    let lowered = match &p.sql {
        Some(Filter::And(parts)) => parts.len(),
        other => panic!("{other:?}"),
    };
    assert!(
        lowered < 150 && lowered + p.residual.len() == 150,
        "{lowered}"
    );
}

/// A random cell of `field`, or none.
fn cell(field: &Field) -> BoxedStrategy<Option<Json>> {
    let value: BoxedStrategy<Json> = match field.field_type.type_name() {
        "text" => prop::sample::select(vec!["", "a", "b", "doing", "7", "x y", "2024-01-02"])
            .prop_map(Json::from)
            .boxed(),
        "number" => prop::sample::select(vec![-2.0, 0.0, 0.5, 1.0, 5.0, 21.0, 7.0])
            .prop_map(Json::from)
            .boxed(),
        "checkbox" => any::<bool>().prop_map(Json::from).boxed(),
        "date" => prop::sample::select(vec!["2024-01-01", "2024-01-02", "2024-01-03"])
            .prop_map(Json::from)
            .boxed(),
        "datetime" => prop::sample::select(vec![
            "2024-01-02T00:00:00.000Z",
            "2024-01-02T10:00:00.000Z",
            "2024-01-02T10:00:00.001Z",
            "2024-01-03T00:00:00.000Z",
        ])
        .prop_map(Json::from)
        .boxed(),
        "single_select" => prop::sample::select(vec!["doing", "done"])
            .prop_map(Json::from)
            .boxed(),
        "multi_select" => prop::sample::subsequence(vec!["a", "b"], 0..=2)
            .prop_map(|v| json!(v))
            .boxed(),
        "link" => prop::sample::subsequence(LINKED.to_vec(), 0..=2)
            .prop_map(|v| json!(v.iter().map(ToString::to_string).collect::<Vec<_>>()))
            .boxed(),
        _ => Just(Json::Null).boxed(),
    };
    prop::option::weighted(0.7, value).boxed()
}

fn records(fs: Vec<Field>) -> impl Strategy<Value = Vec<Record>> {
    let cells: Vec<BoxedStrategy<Option<Json>>> = fs.iter().map(cell).collect();
    let one = (cells, 1i64..40, 0i64..3, any::<bool>()).prop_map(move |(vals, no, hours, by)| {
        let mut c = Cells::new();
        for (f, v) in fs.iter().zip(vals) {
            if let Some(v) =
                v.filter(|v| !v.is_null() && v != "" && *v != json!([]) && *v != json!(false))
            {
                c.insert(f.id.to_string(), v);
            }
        }
        let t = Utc.with_ymd_and_hms(2024, 1, 2, 0, 0, 0).unwrap()
            + chrono::TimeDelta::hours(hours * 5);
        Record {
            id: RecordId::new(),
            table_id: TableId::new(),
            cells: c,
            autonumber: no,
            created_by: by.then(UserId::new),
            updated_by: None,
            created_time: t,
            updated_time: t,
            deleted_time: None,
        }
    });
    prop::collection::vec(one, 1..25)
}

fn formula() -> impl Strategy<Value = String> {
    let field = prop::sample::select(vec![
        "{Name}",
        "{Qty}",
        "{Done}",
        "{Due}",
        "{At}",
        "{Status}",
        "{Tags}",
        "{No}",
        "{Created}",
        "{By}",
        "{Link}",
    ]);
    let constant = prop::sample::select(vec![
        "0",
        "1",
        "0.5",
        "21",
        "''",
        "'a'",
        "'doing'",
        "'7'",
        "'2024-01-02'",
        "'2024-01-02T10:00:00Z'",
        "'nonsense'",
        "TRUE()",
        "FALSE()",
        "BLANK()",
        "DATETIME_PARSE('2024-01-02')",
        "DATETIME_PARSE('2024-01-02T10:00:00Z')",
        "DATETIME_PARSE('2024-01-02T10:00:00.0005Z')",
        "DATEADD(TODAY(), 1, 'days')",
        "NOW()",
        "1/0",
        "ARRAYCOMPACT('a')",
    ]);
    let op = prop::sample::select(vec!["=", "!=", "<", ">", "<=", ">="]);
    let leaf = prop_oneof![
        4 => (field.clone(), op.clone(), constant.clone()).prop_map(|(f, o, c)| format!("{f} {o} {c}")),
        2 => (constant.clone(), op.clone(), field.clone()).prop_map(|(c, o, f)| format!("{c} {o} {f}")),
        1 => (field.clone(), op.clone(), field.clone()).prop_map(|(a, o, b)| format!("{a} {o} {b}")),
        2 => field.clone().prop_map(str::to_owned),
        1 => constant.clone().prop_map(str::to_owned),
        1 => (constant.clone(), field.clone()).prop_map(|(c, f)| format!("FIND({c}, {f})")),
        1 => Just("RECORD_ID() = 'recNOTAREALID01'".to_string()),
        1 => (field.clone(), constant.clone(), any::<bool>()).prop_map(|(f, c, before)| {
            let name = if before { "IS_BEFORE" } else { "IS_AFTER" };
            format!("{name}({f}, {c})")
        }),
        1 => (constant.clone(), field.clone()).prop_map(|(c, f)| format!("IS_AFTER({c}, {f})")),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 1..4)
                .prop_map(|v| format!("AND({})", v.join(", "))),
            prop::collection::vec(inner.clone(), 1..4)
                .prop_map(|v| format!("OR({})", v.join(", "))),
            inner.clone().prop_map(|v| format!("NOT({v})")),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    /// Planned (filter by the reference evaluator, ids, residual) equals
    /// pure evaluation, record by record.
    #[test]
    fn planned_equals_pure_evaluation(recs in records(FIELDS.clone()), src in formula()) {
        let fs: &[Field] = &FIELDS;
        let checked = match check(&src, fs) {
            Ok(c) => c,
            Err(e) => return Err(TestCaseError::reject(format!("{src}: {e}"))),
        };
        let p = plan_filter(checked.clone(), fs, now(), &Limits::default());
        let titles = titles();
        for r in &recs {
            let pure = keeps(&checked.expr, r, fs, &titles, now());
            let by_sql = p.sql.as_ref().is_none_or(|f| eval::matches(f, r));
            let by_id = p.ids.as_ref().is_none_or(|ids| ids.contains(&r.id));
            let by_rest = p.residual.iter().all(|e| keeps(e, r, fs, &titles, now()));
            prop_assert_eq!(pure, by_sql && by_id && by_rest, "{} on {:?}\nplan {:?}", src, r.cells, p);
        }
    }
}
