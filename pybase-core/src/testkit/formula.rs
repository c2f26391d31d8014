//! `formula=` filters through the facade: the records a query returns,
//! page by page, equal pure evaluation of the formula on every record
//! (whatever part the planner ran as SQL, read by id or left to the
//! residual); errors with positions; the scan budget; the check call.

use std::sync::Arc;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Value, json};

use super::fixture::{Fixture, cells};
use super::query::{raw_records, seed, sort};
use crate::Error;
use crate::facade::{FieldKey, NewField, QueryInput, WriteOptions};
use crate::formula::{LinkTitles, ResultType, check, keeps};
use crate::ids::RecordId;
use crate::limits::Limits;
use crate::model::Record;
use crate::query::{SortSpec, eval, resolve_sort};
use crate::store::Store;

/// The ids pure evaluation keeps, in the order of `sort`.
async fn expected(
    fx: &Fixture,
    formula: &str,
    sort: &Value,
    titles: &LinkTitles,
    include_deleted: bool,
) -> Vec<RecordId> {
    let fields = fx.store.list_fields(fx.table.table.id).await.unwrap();
    let checked = check(formula, &fields).unwrap_or_else(|e| panic!("{formula}: {e}"));
    let keys = resolve_sort(&SortSpec::from_json(sort).unwrap(), &fields).unwrap();
    let mut recs: Vec<Record> = if include_deleted {
        all_records(fx).await
    } else {
        raw_records(fx).await
    };
    let now = chrono::Utc::now();
    recs.retain(|r| keeps(&checked.expr, r, &fields, titles, now));
    recs.sort_by(|a, b| eval::compare_records(&keys, a, b));
    recs.into_iter().map(|r| r.id).collect()
}

/// Every record of the fixture table, soft-deleted ones included.
async fn all_records(fx: &Fixture) -> Vec<Record> {
    let q = QueryInput {
        include_deleted: true,
        page_size: Some(1000),
        ..QueryInput::default()
    };
    let page = fx
        .pb
        .query_records(&fx.owner, fx.table.table.id, q, FieldKey::Id)
        .await
        .unwrap();
    assert!(page.next_cursor.is_none(), "the fixture fits one page");
    let ids: Vec<RecordId> = page.records.iter().map(|r| r.id).collect();
    fx.store
        .get_records(fx.table.table.id, &ids, true)
        .await
        .unwrap()
}

/// The ids the facade returns for `formula`, walking pages of `size`.
async fn walk(
    fx: &Fixture,
    formula: &str,
    sort: &Value,
    size: usize,
    include_deleted: bool,
) -> Result<Vec<RecordId>, Error> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let q = QueryInput {
            formula: Some(formula.to_string()),
            sort: (!sort.is_null()).then(|| sort.clone()),
            page_size: Some(size),
            cursor: cursor.take(),
            include_deleted,
            ..QueryInput::default()
        };
        let page = fx
            .pb
            .query_records(&fx.viewer, fx.table.table.id, q, FieldKey::Name)
            .await?;
        assert!(page.records.len() <= size);
        out.extend(page.records.iter().map(|r| r.id));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => return Ok(out),
        }
    }
}

async fn assert_formula(fx: &Fixture, formula: &str, sort: Value, size: usize) {
    let want = expected(fx, formula, &sort, &LinkTitles::new(), false).await;
    let got = walk(fx, formula, &sort, size, false)
        .await
        .unwrap_or_else(|e| panic!("{formula} failed: {e:?}"));
    assert_eq!(got, want, "formula {formula} sort {sort} size {size}");
}

/// Fixed formulas: pyairtable's, blanks against every kind of field, and
/// parts that only the residual can run.
pub async fn formula_filters_match_pure_evaluation(store: Arc<dyn Store>) {
    let fx = Fixture::new(store).await;
    seed(&fx, 150, 41).await;
    for formula in [
        "AND({Status}='Open', {Qty}>=5)",
        "AND({Qty}>5, {Done})",
        "{Done} = TRUE()",
        "NOT({Done})",
        "{Qty} < 5",
        "{Qty} = 0",
        "{Qty} != 0",
        "{Qty}",
        "{Qty} = ''",
        "{Qty} = '7'",
        "{Name} = ''",
        "{Name} != BLANK()",
        "{Name} < 'b'",
        "{Name} >= 'apple'",
        "OR({Name}='apple', {Name}='zed', {Name}='banana')",
        "{Due} = DATETIME_PARSE('2026-03-15')",
        "{Due} < DATETIME_PARSE('2026-03-15T10:00:00Z')",
        "{Due} >= '2026-05-10'",
        "{Due} < 1",
        "IS_BEFORE({Due}, '2026-04-01')",
        "{Created} <= NOW()",
        "{No} > 100",
        "{Tags}",
        "{Tags} = 'a, b'",
        "FIND('an', {Name})",
        "SEARCH('APPLE', {Name}) > 0",
        "LEN({Name}) > 4",
        "{Qty} > {Price}",
        "AND({Status} = 'Closed', LEN({Name}) > 4)",
        "OR({Qty} > 15, FIND('pie', {Name}))",
        "XOR({Done}, {Qty} > 10)",
        "IF({Done}, {Qty}, {Price}) > 3",
        "{Price} * 2 >= 10",
        "TRUE()",
        "FALSE()",
        "1/0",
        "{Stars} & {Email}",
    ] {
        for (sort, size) in [(Value::Null, 7), (json!("-Qty,Name"), 13)] {
            assert_formula(&fx, formula, sort, size).await;
        }
    }
}

/// Property: random formulas over random records select, page by page and
/// in order, exactly the records pure evaluation keeps.
pub async fn random_formulas_match_pure_evaluation(store: Arc<dyn Store>) {
    let fx = Fixture::new(store).await;
    seed(&fx, 120, 43).await;
    let mut runner = TestRunner::new(Config {
        cases: 48,
        failure_persistence: None,
        ..Config::default()
    });
    let handle = tokio::runtime::Handle::current();
    let result = runner.run(&(formula(), sort(), 1usize..40), |(f, s, size)| {
        tokio::task::block_in_place(|| {
            handle.block_on(async {
                let want = expected(&fx, &f, &s, &LinkTitles::new(), false).await;
                let got = walk(&fx, &f, &s, size, false)
                    .await
                    .map_err(|e| TestCaseError::fail(format!("{f} failed: {e:?}")))?;
                prop_assert_eq!(got, want, "formula {} sort {} size {}", f, s, size);
                Ok(())
            })
        })
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// A random filter formula over the fixture's fields.
pub fn formula() -> impl Strategy<Value = String> {
    let field = prop::sample::select(vec![
        "{Name}",
        "{Qty}",
        "{Price}",
        "{Done}",
        "{Status}",
        "{Tags}",
        "{Due}",
        "{Notes}",
        "{Stars}",
        "{No}",
        "{Created}",
        "Qty",
    ]);
    let constant = prop::sample::select(vec![
        "0",
        "1",
        "-3",
        "7",
        "12.5",
        "''",
        "'apple'",
        "'Apple pie'",
        "'banana'",
        "'zed'",
        "'Open'",
        "'7'",
        "'a'",
        "TRUE()",
        "FALSE()",
        "BLANK()",
        "DATETIME_PARSE('2026-03-15')",
        "DATETIME_PARSE('2026-05-10T12:00:00Z')",
        "'2026-04-13'",
        "NOW()",
    ]);
    let op = prop::sample::select(vec!["=", "!=", "<", ">", "<=", ">=", "<>"]);
    let leaf = prop_oneof![
        (field.clone(), op.clone(), constant.clone()).prop_map(|(f, o, c)| format!("{f} {o} {c}")),
        (constant.clone(), op.clone(), field.clone()).prop_map(|(c, o, f)| format!("{c}{o}{f}")),
        (field.clone(), op.clone(), field.clone()).prop_map(|(a, o, b)| format!("{a} {o} {b}")),
        field.clone().prop_map(str::to_owned),
        constant.clone().prop_map(str::to_owned),
        (constant.clone(), field.clone()).prop_map(|(c, f)| format!("FIND({c}, {f})")),
        (field.clone(), 0..8).prop_map(|(f, n)| format!("LEN({f} & '') > {n}")),
        (0..150, any::<bool>()).prop_map(|(n, eq)| {
            let op = if eq { "=" } else { "!=" };
            format!("{{No}} {op} {n}")
        }),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 1..4)
                .prop_map(|v| format!("AND({})", v.join(", "))),
            prop::collection::vec(inner.clone(), 1..4)
                .prop_map(|v| format!("OR({})", v.join(", "))),
            inner.clone().prop_map(|v| format!("NOT({v})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("IF({a}, {b}, 0)")),
        ]
    })
}

/// `OR(RECORD_ID()='rec…', …)` as pyairtable writes it: read by id, with
/// the rest of the formula, the order, pages and `include_deleted`.
pub async fn formula_record_ids_are_read_by_id(store: Arc<dyn Store>) {
    let fx = Fixture::new(store).await;
    seed(&fx, 150, 47).await;
    let recs = raw_records(&fx).await;
    let mut ids: Vec<String> = recs.iter().step_by(2).map(|r| r.id.to_string()).collect();
    ids.push(RecordId::new().to_string());
    ids.push("not an id".into());
    let deleted: Vec<RecordId> = recs.iter().take(6).map(|r| r.id).collect();
    fx.pb
        .delete_records(&fx.owner, fx.table.table.id, &deleted)
        .await
        .unwrap();
    let terms: Vec<String> = ids.iter().map(|i| format!("RECORD_ID()='{i}'")).collect();
    let or = format!("OR({})", terms.join(", "));
    let fields = fx.store.list_fields(fx.table.table.id).await.unwrap();
    let planned = crate::formula::plan_filter(
        check(&or, &fields).unwrap(),
        &fields,
        chrono::Utc::now(),
        &Limits::default(),
    );
    assert_eq!(planned.ids.as_ref().map(Vec::len), Some(76));
    assert!(planned.residual.is_empty() && planned.sql.is_none());
    for formula in [
        or.clone(),
        format!("AND({or}, {{Qty}} > 3)"),
        format!("AND({{Qty}} > 3, {or}, LEN({{Name}}) > 4)"),
        format!("AND({or}, RECORD_ID() = '{}')", ids[3]),
    ] {
        for (sort, size) in [(Value::Null, 9), (json!("Name,-Price"), 50)] {
            for include_deleted in [false, true] {
                let want =
                    expected(&fx, &formula, &sort, &LinkTitles::new(), include_deleted).await;
                let got = walk(&fx, &formula, &sort, size, include_deleted)
                    .await
                    .unwrap();
                assert_eq!(got, want, "{formula} {sort} {include_deleted}");
            }
        }
    }
}

/// A link reads as its linked records' primary values.
pub async fn formula_links_read_primary_values(store: Arc<dyn Store>) {
    let fx = Fixture::new(store).await;
    let other = fx.other_table().await;
    let people = fx
        .pb
        .create_records(
            &fx.owner,
            other.table.id,
            ["Alice", "Bob", "Carol"]
                .iter()
                .map(|n| cells(&[("Name", json!(n))]))
                .collect(),
            WriteOptions::default(),
        )
        .await
        .unwrap();
    fx.pb
        .create_field(
            &fx.owner,
            fx.table.table.id,
            NewField {
                name: "People".into(),
                field_type: "link".into(),
                options: json!({ "linked_table_id": other.table.id }),
                description: None,
                indexed: false,
            },
        )
        .await
        .unwrap();
    let link = |i: &[usize]| json!(i.iter().map(|&i| people[i].id).collect::<Vec<_>>());
    let a = fx
        .create(&[("Name", json!("a")), ("People", link(&[0]))])
        .await;
    let ab = fx
        .create(&[("Name", json!("ab")), ("People", link(&[0, 1]))])
        .await;
    let none = fx.create(&[("Name", json!("none"))]).await;
    for (formula, want) in [
        ("{People} = 'Alice'", vec![a.id]),
        ("{People} = 'Alice, Bob'", vec![ab.id]),
        ("FIND('Bob', {People})", vec![ab.id]),
        ("{People}", vec![a.id, ab.id]),
        ("NOT({People})", vec![none.id]),
        ("{People} = ''", vec![none.id]),
    ] {
        let mut want = want;
        want.sort();
        let got = walk(&fx, formula, &Value::Null, 2, false).await.unwrap();
        assert_eq!(got, want, "{formula}");
    }
    // Each linked record read is a read: a tenth of the scan budget.
    fx.create(&[("Name", json!("abc")), ("People", link(&[0, 1, 2]))])
        .await;
    let small = fx.pb.clone().with_limits(Limits {
        formula_scan: 20,
        ..Limits::default()
    });
    let q = QueryInput {
        formula: Some("FIND('Bob', {People})".into()),
        ..QueryInput::default()
    };
    let err = small
        .query_records(&fx.viewer, fx.table.table.id, q, FieldKey::Name)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidFormula { message, .. } if message.contains("linked records")),
        "{err:?}"
    );
}

/// Bad formulas are 422 with the position; a page that would evaluate more
/// records than the budget is 422; the check call answers types and
/// references to viewers and nothing to non-members.
pub async fn formula_errors_budget_and_check(store: Arc<dyn Store>) {
    let fx = Fixture::new(store).await;
    seed(&fx, 120, 53).await;
    let t = fx.table.table.id;
    let query = |formula: &str| QueryInput {
        formula: Some(formula.into()),
        ..QueryInput::default()
    };
    let err = fx
        .pb
        .query_records(&fx.viewer, t, query("{Qty} > 1 + {qtty}"), FieldKey::Name)
        .await
        .unwrap_err();
    match err {
        Error::InvalidFormula {
            message,
            start,
            end,
        } => {
            assert_eq!(message, "Unknown field names: qtty");
            assert_eq!((start, end), (12, 18));
        }
        other => panic!("expected a formula error, got {other:?}"),
    }
    let err = fx
        .pb
        .query_records(&fx.viewer, t, query("AND({Qty} > 1"), FieldKey::Name)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidFormula { message, start: 13, .. } if message.starts_with("Invalid formula")),
        "{err:?}"
    );
    // Empty formulas are no filter.
    let all = fx
        .pb
        .query_records(&fx.viewer, t, query("  "), FieldKey::Name)
        .await
        .unwrap();
    assert_eq!(all.records.len(), 100);

    let small = fx.pb.clone().with_limits(Limits {
        formula_scan: 50,
        ..Limits::default()
    });
    // Nothing matches: the scan passes the budget.
    let err = small
        .query_records(&fx.viewer, t, query("LEN({Name}) > 100"), FieldKey::Name)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidFormula { message, start: 0, end: 17 } if message.contains("examined")),
        "{err:?}"
    );
    // The same formula is fine when the SQL part selects few records.
    let narrow = "AND({No} <= 20, LEN({Name}) > 100)";
    let page = small
        .query_records(&fx.viewer, t, query(narrow), FieldKey::Name)
        .await
        .unwrap();
    assert!(page.records.is_empty() && page.next_cursor.is_none());
    // A full page within the budget says more may follow.
    let q = QueryInput {
        formula: Some("LEN({Name} & 'x') > 0".into()),
        page_size: Some(10),
        ..QueryInput::default()
    };
    let page = small
        .query_records(&fx.viewer, t, q, FieldKey::Name)
        .await
        .unwrap();
    assert_eq!(page.records.len(), 10);
    assert!(page.next_cursor.is_some());

    let checked = fx
        .pb
        .check_formula(&fx.viewer, t, "{Qty} * {price}")
        .await
        .unwrap();
    assert_eq!(checked.result_type, ResultType::Number);
    assert_eq!(
        checked.referenced_field_ids,
        vec![fx.field("Qty"), fx.field("Price")]
    );
    let err = fx
        .pb
        .check_formula(&fx.viewer, t, "{Qty} + {Name}")
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            Error::InvalidFormula {
                start: 8,
                end: 14,
                ..
            }
        ),
        "{err:?}"
    );
    let err = fx.pb.check_formula(&fx.outsider, t, "1").await.unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
}
