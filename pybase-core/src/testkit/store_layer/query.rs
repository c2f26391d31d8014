//! `query_records` against the reference evaluator (`crate::query::eval`):
//! random records (empties, ties, case, unicode, soft deletes, times a
//! millisecond apart, list cells mixing strings, numbers, booleans, objects
//! and nulls) and random filters, sorts and page sizes, walked page
//! by page; and cursors holding values of the wrong type.

use crate::fields::kinds::{Checkbox, Number};
use std::sync::{Arc, LazyLock};

use chrono::{DateTime, TimeDelta, Utc};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Value, json};

use super::build::{field, table, text};
use crate::StoreError;
use crate::fields::{FieldType, MetaColumn, ValueKind};
use crate::ids::{FieldId, RecordId, TableId, UserId};
use crate::model::{Base, Cells, Record, User};
use crate::query::eval::{TIME_FORMAT, compare_records, matches, target_value};
use crate::query::{
    Condition, Cursor, Filter, Op, Operand, RecordQuery, SortKey, SortValue, Target,
};
use crate::store::{NewRecord, Store};

const TEXTS: &[&str] = &[
    "", "a", "A", "ab", "aB", "Ab", "abc", "b", "ba", "é", "É", "éa", "Éa", "zz", "a b", "B",
    "a_b%c", "10", "9", "APPLE",
];
const NUMBERS: &[f64] = &[
    -2.5,
    -1.0,
    0.0,
    0.1,
    0.300_000_000_000_000_04,
    1.0,
    1.5,
    2.0,
    10.0,
    100.0,
    1e16,
];
const TAGS: &[&str] = &["a", "b", "c", "ü"];
/// Texts `has_any` / `has_all` look for in list cells besides the tags:
/// the canonical texts of [`LIST_ITEMS`]' numbers and booleans, and
/// others that spell no item (`10.0`, `-0`, `1`).
const LIST_TEXTS: &[&str] = &[
    "10",
    "1.5",
    "0.1",
    "0",
    "-0",
    "1e16",
    "0.30000000000000004",
    "true",
    "false",
    "10.0",
    "1",
];
/// Items of list cells: the tags, and what a lookup's cells hold besides
/// (numbers, some written as floats; booleans; texts spelling a number or
/// a boolean; an error object), and a nested list and a null, which only
/// raw writes store.
static LIST_ITEMS: LazyLock<Vec<Value>> = LazyLock::new(|| {
    let mut items: Vec<Value> = TAGS.iter().map(|t| json!(t)).collect();
    items.extend([
        json!(10),
        json!(10.0),
        json!(1.5),
        json!(0.1),
        json!(-0.0),
        json!(1e16),
        json!(0.300_000_000_000_000_04),
        json!(true),
        json!(false),
        json!("10"),
        json!("true"),
        json!({ "error": "#ERROR!" }),
        json!([1]),
        Value::Null,
    ]);
    items
});
const OFFSETS_MS: &[i64] = &[0, 1, 2, 999, 1000];

/// The users records are created by (inserted into each store with these
/// ids by [`users`]).
static USERS: LazyLock<[UserId; 2]> = LazyLock::new(|| [UserId::new(), UserId::new()]);
static BASE_TIME: LazyLock<DateTime<Utc>> = LazyLock::new(|| {
    DateTime::parse_from_rfc3339("2024-05-01T12:00:00Z")
        .expect("a valid time")
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
        proptest::option::of(proptest::collection::vec(0..LIST_ITEMS.len(), 0..4)),
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
            Self::Tags => TAGS
                .iter()
                .chain(LIST_TEXTS)
                .map(|s| (*s).to_owned())
                .collect(),
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
    // Every slot sorts, the list one by its first text item.
    let sortable: Vec<Slot> = SLOTS.to_vec();
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
            Value::Array(tags.iter().map(|i| LIST_ITEMS[*i].clone()).collect()),
        );
    }
    c
}

/// Inserts the users of [`USERS`] (already there from an earlier case on
/// this store is fine).
async fn users(store: &dyn Store) {
    for id in USERS.iter() {
        let u = User {
            id: *id,
            email: format!("{}@example.com", id.as_str().to_ascii_lowercase()),
            name: "Q".into(),
            created_at: *BASE_TIME,
            updated_at: *BASE_TIME,
        };
        match store.create_user(&u, "hash").await {
            Ok(()) | Err(StoreError::Conflict { .. }) => {}
            Err(e) => panic!("{e:?}"),
        }
    }
}

/// A fresh table of `base` with fields text (indexed), number, checkbox
/// and multi select; its id and the field ids in that order.
async fn query_table(store: &dyn Store, base: &Base) -> (TableId, [FieldId; 4]) {
    // Table names are unique in a base: one per call.
    let t = table(base, &format!("Q {}", crate::testkit::fixture::tag()), 0);
    let tags =
        FieldType::from_parts("multi_select", &json!({ "choices": TAGS })).expect("valid options");
    let mut fields = vec![
        field(t.id, "Text", text(), 0),
        field(
            t.id,
            "Number",
            FieldType::Number(Number { precision: 2 }),
            1,
        ),
        field(t.id, "Flag", FieldType::Checkbox(Checkbox), 2),
        field(t.id, "Tags", tags, 3),
    ];
    fields[0].indexed = true;
    store.create_table(&t, &fields).await.unwrap();
    (
        t.id,
        [fields[0].id, fields[1].id, fields[2].id, fields[3].id],
    )
}

/// Every record of `table`, soft-deleted ones included, in id order.
async fn all_records(store: &dyn Store, table: TableId) -> Vec<Record> {
    let q = RecordQuery {
        table_id: table,
        filter: None,
        sort: vec![],
        after: None,
        limit: 1000,
        include_deleted: true,
        log_seq: false,
    };
    store.query_records(&q).await.unwrap().records
}

/// Stores `rows` in a fresh table and checks each query, page by page.
async fn check(store: &dyn Store, base: &Base, rows: Vec<Row>, queries: Vec<Q>) {
    let (table, ids) = query_table(store, base).await;
    let inputs: Vec<NewRecord> = rows
        .iter()
        .map(|r| NewRecord {
            id: RecordId::new(),
            cells: cells_of(r, &ids),
            created_by: r.by.map(|i| USERS[i]),
            created_time: *BASE_TIME + TimeDelta::milliseconds(OFFSETS_MS[r.offset]),
        })
        .collect();
    let created = store.create_records(table, &inputs).await.unwrap();
    let deleted: Vec<RecordId> = created
        .iter()
        .zip(&rows)
        .filter(|(_, r)| r.deleted)
        .map(|(c, _)| c.id)
        .collect();
    if !deleted.is_empty() {
        store
            .delete_records(table, &deleted, *BASE_TIME)
            .await
            .unwrap();
    }
    let all = all_records(store, table).await;
    assert_eq!(all.len(), rows.len());

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
                    table_id: table,
                    filter: filter.clone(),
                    sort: sort.clone(),
                    after: after.clone(),
                    limit: q.page,
                    include_deleted: q.include_deleted,
                    log_seq: false,
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
                        snapshot: None,
                    });
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

/// Property: for random records and random filters (every operator, on
/// every kind of cell and meta column, with fitting and ill-fitting
/// operands), sorts and page sizes, walking the pages of `query_records`
/// gives exactly the reference evaluator's records, in its order, with
/// `has_more` set on full pages only. Each case uses a fresh table.
/// `PROPTEST_CASES` sets the number of cases (128 by default, never fewer
/// than 8, so it cannot pass with none).
pub async fn queries_and_pages_match_the_reference_evaluator(store: Arc<dyn Store>) {
    let owner = super::build::user(&*store, "q").await;
    let (_, base, _, _) = super::build::table_with(&*store, owner.id, &[]).await;
    users(&*store).await;
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse::<u32>().ok())
        .unwrap_or(128)
        .max(8);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = (
        proptest::collection::vec(row(), 0..30),
        proptest::collection::vec(query(), 1..8),
    );
    let handle = tokio::runtime::Handle::current();
    let result = runner.run(&strategy, |(rows, queries)| {
        tokio::task::block_in_place(|| handle.block_on(check(&*store, &base, rows, queries)));
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// A cursor value of the wrong type (or a Null in a bool key) behaves as in
/// eval: it ties with every non-empty value, and empties come after it.
pub async fn cursors_with_null_and_mistyped_values_follow_eval(store: Arc<dyn Store>) {
    let owner = super::build::user(&*store, "q").await;
    let (_, base, _, _) = super::build::table_with(&*store, owner.id, &[]).await;
    let (table, ids) = query_table(&*store, &base).await;
    let rows = [Some("b"), None, Some("a"), None, Some("c")];
    let inputs: Vec<NewRecord> = rows
        .iter()
        .map(|t| NewRecord {
            id: RecordId::new(),
            cells: t
                .map(|t| Cells::from_iter([(ids[0].to_string(), json!(t))]))
                .unwrap_or_default(),
            created_by: None,
            created_time: *BASE_TIME,
        })
        .collect();
    let created = store.create_records(table, &inputs).await.unwrap();
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
                snapshot: None,
            };
            let page = store
                .query_records(&RecordQuery {
                    table_id: table,
                    filter: None,
                    sort: sort.clone(),
                    after: Some(cursor.clone()),
                    limit: 100,
                    include_deleted: false,
                    log_seq: false,
                })
                .await
                .unwrap();
            let mut expected: Vec<&Record> = created
                .iter()
                .filter(|r| crate::query::eval::is_after(&sort, &cursor.values, &cursor.id, r))
                .collect();
            expected.sort_by(|a, b| compare_records(&sort, a, b));
            let want: Vec<RecordId> = expected.iter().map(|r| r.id).collect();
            let got: Vec<RecordId> = page.records.iter().map(|r| r.id).collect();
            assert_eq!(got, want, "{key:?} {value:?} desc={desc}");
        }
    }
}
