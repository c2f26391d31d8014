//! Filters, sorts and keyset pages against the reference evaluator.

use std::sync::LazyLock;

use chrono::{DateTime, TimeDelta, Utc};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use pybase_core::fields::{MetaColumn, ValueKind};
use pybase_core::ids::{FieldId, RecordId, UserId};
use pybase_core::model::{Cells, Record};
use pybase_core::query::eval::{TIME_FORMAT, compare_records, matches, target_value};
use pybase_core::query::{
    Condition, Cursor, Filter, Op, Operand, RecordQuery, SortKey, SortValue, Target,
};
use pybase_core::store::{NewRecord, RecordsStore};
use pybase_store_sqlite::SqliteStore;
use serde_json::{Value, json};

use crate::common::fixture;

const TEXTS: &[&str] = &[
    "", "a", "A", "ab", "aB", "Ab", "abc", "b", "ba", "é", "É", "éa", "Éa", "zz", "a b", "B",
];
const NUMBERS: &[f64] = &[-2.5, -1.0, 0.0, 1.0, 1.5, 2.0, 10.0, 100.0];
const TAGS: &[&str] = &["a", "b", "c", "d"];
const OFFSETS_MS: &[i64] = &[0, 1, 2, 999, 1000];

static USERS: LazyLock<[UserId; 2]> = LazyLock::new(|| [UserId::new(), UserId::new()]);
static BASE_TIME: LazyLock<DateTime<Utc>> = LazyLock::new(|| {
    DateTime::parse_from_rfc3339("2024-05-01T12:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
});

fn time_text(offset: i64) -> String {
    (*BASE_TIME + TimeDelta::milliseconds(offset))
        .format(TIME_FORMAT)
        .to_string()
}

/// One generated record: an index into each value list, or none.
#[derive(Debug, Clone)]
struct Row {
    text: Option<usize>,
    /// Index into NUMBERS, and whether to store it as an integer if it is one.
    number: Option<(usize, bool)>,
    flag: Option<bool>,
    tags: Option<Vec<usize>>,
    by: Option<usize>,
    offset: usize,
    deleted: bool,
}

fn row() -> impl Strategy<Value = Row> {
    (
        proptest::option::of(0..TEXTS.len()),
        proptest::option::of((0..NUMBERS.len(), any::<bool>())),
        proptest::option::of(any::<bool>()),
        proptest::option::of(proptest::collection::vec(0..TAGS.len(), 0..3)),
        proptest::option::of(0..2usize),
        0..OFFSETS_MS.len(),
        proptest::bool::weighted(0.15),
    )
        .prop_map(|(text, number, flag, tags, by, offset, deleted)| Row {
            text,
            number,
            flag,
            tags,
            by,
            offset,
            deleted,
        })
}

/// Field ids of the fixture table, known only once the store exists; the
/// strategies pick targets by slot and are mapped to ids afterwards.
#[derive(Debug, Clone, Copy)]
enum Slot {
    Text,
    Number,
    Flag,
    Tags,
    Meta(MetaColumn),
}

const SLOTS: &[Slot] = &[
    Slot::Text,
    Slot::Number,
    Slot::Flag,
    Slot::Tags,
    Slot::Meta(MetaColumn::Autonumber),
    Slot::Meta(MetaColumn::CreatedTime),
    Slot::Meta(MetaColumn::UpdatedTime),
    Slot::Meta(MetaColumn::CreatedBy),
    Slot::Meta(MetaColumn::UpdatedBy),
];

impl Slot {
    fn kind(self) -> ValueKind {
        match self {
            Self::Text => ValueKind::Text,
            Self::Number => ValueKind::Number,
            Self::Flag => ValueKind::Bool,
            Self::Tags => ValueKind::List,
            Self::Meta(m) => m.kind(),
        }
    }

    fn target(self, ids: &[FieldId; 4]) -> Target {
        let cell = |field, kind| Target::Cell { field, kind };
        match self {
            Self::Text => cell(ids[0], ValueKind::Text),
            Self::Number => cell(ids[1], ValueKind::Number),
            Self::Flag => cell(ids[2], ValueKind::Bool),
            Self::Tags => cell(ids[3], ValueKind::List),
            Self::Meta(m) => Target::Meta(m),
        }
    }

    /// Text values this slot holds (for fitting operands).
    fn texts(self) -> Vec<String> {
        match self {
            Self::Meta(MetaColumn::CreatedTime | MetaColumn::UpdatedTime) => {
                OFFSETS_MS.iter().map(|o| time_text(*o)).collect()
            }
            Self::Meta(MetaColumn::CreatedBy | MetaColumn::UpdatedBy) => {
                USERS.iter().map(ToString::to_string).collect()
            }
            Self::Tags => TAGS.iter().map(|s| (*s).to_owned()).collect(),
            _ => TEXTS.iter().map(|s| (*s).to_owned()).collect(),
        }
    }
}

fn text_of(slot: Slot) -> BoxedStrategy<String> {
    proptest::sample::select(slot.texts()).boxed()
}

fn number() -> BoxedStrategy<f64> {
    prop_oneof![
        proptest::sample::select(NUMBERS.to_vec()),
        Just(5.0),
        Just(-0.0)
    ]
    .boxed()
}

fn fitting_operand(slot: Slot, op: Op) -> BoxedStrategy<Operand> {
    let kind = slot.kind();
    match (op, kind) {
        (Op::IsEmpty | Op::IsNotEmpty, _) => Just(Operand::None).boxed(),
        (Op::HasAny | Op::HasAll, _) | (Op::In, ValueKind::Text | ValueKind::List) => {
            proptest::collection::vec(text_of(slot), 1..4)
                .prop_map(Operand::TextList)
                .boxed()
        }
        (Op::In, _) => proptest::collection::vec(number(), 1..4)
            .prop_map(Operand::NumberList)
            .boxed(),
        (_, ValueKind::Number) => number().prop_map(Operand::Number).boxed(),
        (_, ValueKind::Bool) => any::<bool>().prop_map(Operand::Bool).boxed(),
        (_, _) => text_of(slot).prop_map(Operand::Text).boxed(),
    }
}

fn any_operand() -> BoxedStrategy<Operand> {
    prop_oneof![
        Just(Operand::None),
        text_of(Slot::Text).prop_map(Operand::Text),
        number().prop_map(Operand::Number),
        any::<bool>().prop_map(Operand::Bool),
        proptest::collection::vec(text_of(Slot::Tags), 0..3).prop_map(Operand::TextList),
        proptest::collection::vec(number(), 0..3).prop_map(Operand::NumberList),
    ]
    .boxed()
}

/// A condition before field ids are known.
#[derive(Debug, Clone)]
struct Cond {
    slot: Slot,
    op: Op,
    operand: Operand,
}

#[derive(Debug, Clone)]
enum F {
    And(Vec<Self>),
    Or(Vec<Self>),
    Not(Box<Self>),
    Cond(Cond),
}

fn cond() -> impl Strategy<Value = Cond> {
    (
        proptest::sample::select(SLOTS),
        proptest::sample::select(Op::ALL.to_vec()),
    )
        .prop_flat_map(|(slot, op)| {
            // Mostly operands core would produce; sometimes anything, since
            // eval defines a result for every combination.
            let operand = prop_oneof![4 => fitting_operand(slot, op), 1 => any_operand()];
            operand.prop_map(move |operand| Cond { slot, op, operand })
        })
}

fn filter() -> impl Strategy<Value = F> {
    let tree = cond().prop_map(F::Cond).prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..3).prop_map(F::And),
            proptest::collection::vec(inner.clone(), 0..4).prop_map(F::Or),
            inner.prop_map(|f| F::Not(Box::new(f))),
        ]
    });
    // Single conditions select a fair share of the rows; deep trees mostly
    // select none or all, so they are the minority.
    prop_oneof![3 => cond().prop_map(F::Cond), 2 => tree]
}

fn resolve(f: &F, ids: &[FieldId; 4]) -> Filter {
    match f {
        F::And(p) => Filter::And(p.iter().map(|x| resolve(x, ids)).collect()),
        F::Or(p) => Filter::Or(p.iter().map(|x| resolve(x, ids)).collect()),
        F::Not(x) => Filter::Not(Box::new(resolve(x, ids))),
        F::Cond(c) => Filter::Cond(Condition {
            target: c.slot.target(ids),
            op: c.op,
            operand: c.operand.clone(),
        }),
    }
}

#[derive(Debug, Clone)]
struct Q {
    filter: Option<F>,
    sort: Vec<(Slot, bool)>,
    page: usize,
    include_deleted: bool,
}

fn query() -> impl Strategy<Value = Q> {
    let sortable: Vec<Slot> = SLOTS
        .iter()
        .copied()
        .filter(|s| s.kind() != ValueKind::List)
        .collect();
    (
        proptest::option::weighted(0.8, filter()),
        proptest::collection::vec((proptest::sample::select(sortable), any::<bool>()), 0..4),
        1..7usize,
        proptest::bool::weighted(0.2),
    )
        .prop_map(|(filter, sort, page, include_deleted)| Q {
            filter,
            sort,
            page,
            include_deleted,
        })
}

fn cells_of(r: &Row, ids: &[FieldId; 4]) -> Cells {
    let mut c = Cells::new();
    if let Some(t) = r.text {
        c.insert(ids[0].to_string(), json!(TEXTS[t]));
    }
    if let Some((n, as_int)) = r.number {
        let x = NUMBERS[n];
        let v = if as_int && x.fract() == 0.0 {
            json!(x as i64)
        } else {
            json!(x)
        };
        c.insert(ids[1].to_string(), v);
    }
    if let Some(b) = r.flag {
        c.insert(ids[2].to_string(), Value::Bool(b));
    }
    if let Some(tags) = &r.tags {
        c.insert(
            ids[3].to_string(),
            json!(tags.iter().map(|i| TAGS[*i]).collect::<Vec<_>>()),
        );
    }
    c
}

async fn check(rows: Vec<Row>, queries: Vec<Q>) {
    let store = SqliteStore::open_in_memory().unwrap();
    let fx = fixture(&store).await;
    let ids = [fx.text, fx.number, fx.flag, fx.tags];
    let inputs: Vec<NewRecord> = rows
        .iter()
        .map(|r| NewRecord {
            id: RecordId::new(),
            cells: cells_of(r, &ids),
            created_by: r.by.map(|i| USERS[i]),
            created_time: *BASE_TIME + TimeDelta::milliseconds(OFFSETS_MS[r.offset]),
        })
        .collect();
    let created = store.create_records(fx.table.id, &inputs).await.unwrap();
    let deleted: Vec<RecordId> = created
        .iter()
        .zip(&rows)
        .filter(|(_, r)| r.deleted)
        .map(|(c, _)| c.id)
        .collect();
    if !deleted.is_empty() {
        store
            .delete_records(fx.table.id, &deleted, *BASE_TIME)
            .await
            .unwrap();
    }
    let mut all = Vec::new();
    for c in &created {
        all.push(store.get_record(fx.table.id, c.id, true).await.unwrap());
    }

    for q in queries {
        let filter = q.filter.as_ref().map(|f| resolve(f, &ids));
        let sort: Vec<SortKey> = q
            .sort
            .iter()
            .map(|(s, desc)| SortKey {
                target: s.target(&ids),
                desc: *desc,
            })
            .collect();
        let mut expected: Vec<&Record> = all
            .iter()
            .filter(|r| q.include_deleted || r.deleted_time.is_none())
            .filter(|r| filter.as_ref().is_none_or(|f| matches(f, r)))
            .collect();
        expected.sort_by(|a, b| compare_records(&sort, a, b));

        let mut got: Vec<Record> = Vec::new();
        let mut after: Option<Cursor> = None;
        for _ in 0..=all.len() + 1 {
            let page = store
                .query_records(&RecordQuery {
                    table_id: fx.table.id,
                    filter: filter.clone(),
                    sort: sort.clone(),
                    after: after.clone(),
                    limit: q.page,
                    include_deleted: q.include_deleted,
                })
                .await
                .unwrap();
            assert!(page.records.len() <= q.page);
            if page.has_more {
                assert_eq!(
                    page.records.len(),
                    q.page,
                    "a page with more after it is full"
                );
            }
            let last = page.records.last().cloned();
            got.extend(page.records);
            match (page.has_more, last) {
                (true, Some(last)) => {
                    after = Some(Cursor {
                        values: sort.iter().map(|k| target_value(k.target, &last)).collect(),
                        id: last.id,
                        query: 0,
                    })
                }
                _ => break,
            }
        }
        let got_ids: Vec<RecordId> = got.iter().map(|r| r.id).collect();
        let want_ids: Vec<RecordId> = expected.iter().map(|r| r.id).collect();
        assert_eq!(got_ids, want_ids, "query {q:?}\nfilter {filter:?}");
        for (g, e) in got.iter().zip(&expected) {
            assert_eq!(g, *e);
        }
    }
}

#[test]
fn random_queries_walk_the_same_pages_as_the_reference() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse::<u32>().ok())
        .unwrap_or(128)
        // PROPTEST_CASES=0 must not pass vacuously.
        .max(8);
    let mut runner = TestRunner::new(Config {
        cases,
        ..Config::default()
    });
    let strategy = (
        proptest::collection::vec(row(), 0..30),
        proptest::collection::vec(query(), 1..8),
    );
    runner
        .run(&strategy, |(rows, queries)| {
            rt.block_on(check(rows, queries));
            Ok(())
        })
        .unwrap();
}

/// A cursor value of the wrong type (or a Null in a bool key) behaves as in
/// eval: it ties with every non-empty value, and empties come after it.
#[tokio::test]
async fn cursors_with_null_and_mistyped_values_follow_eval() {
    let store = SqliteStore::open_in_memory().unwrap();
    let fx = fixture(&store).await;
    let ids = [fx.text, fx.number, fx.flag, fx.tags];
    let rows = [Some("b"), None, Some("a"), None, Some("c")];
    let inputs: Vec<NewRecord> = rows
        .iter()
        .map(|t| NewRecord {
            id: RecordId::new(),
            cells: t
                .map(|t| Cells::from_iter([(fx.text.to_string(), json!(t))]))
                .unwrap_or_default(),
            created_by: None,
            created_time: *BASE_TIME,
        })
        .collect();
    let created = store.create_records(fx.table.id, &inputs).await.unwrap();
    let middle = created[2].id;
    for (key, value) in [
        (Slot::Text, SortValue::Null),
        (Slot::Text, SortValue::Number(3.0)),
        (Slot::Text, SortValue::Text("b".into())),
        (Slot::Flag, SortValue::Null),
        (Slot::Number, SortValue::Text("x".into())),
    ] {
        for desc in [false, true] {
            let sort = vec![SortKey {
                target: key.target(&ids),
                desc,
            }];
            let cursor = Cursor {
                values: vec![value.clone()],
                id: middle,
                query: 0,
            };
            let page = store
                .query_records(&RecordQuery {
                    table_id: fx.table.id,
                    filter: None,
                    sort: sort.clone(),
                    after: Some(cursor.clone()),
                    limit: 100,
                    include_deleted: false,
                })
                .await
                .unwrap();
            let mut expected: Vec<&Record> = created
                .iter()
                .filter(|r| {
                    pybase_core::query::eval::is_after(&sort, &cursor.values, &cursor.id, r)
                })
                .collect();
            expected.sort_by(|a, b| compare_records(&sort, a, b));
            let want: Vec<RecordId> = expected.iter().map(|r| r.id).collect();
            let got: Vec<RecordId> = page.records.iter().map(|r| r.id).collect();
            assert_eq!(got, want, "{key:?} {value:?} desc={desc}");
        }
    }
}
