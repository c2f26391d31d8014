//! Differential property test: SQLite and PostgreSQL must be the same PyBase.
//!
//! Each generated case builds, on both backends through the same `Pybase`
//! facade calls, a table with every field type (random options), random
//! records (empty cells, unicode, extreme numbers, long text, wrong types,
//! typecast), random upserts (creating, updating, ambiguous, bad merge
//! fields; one record per call in the queried table, batches in a twin),
//! random partial updates, soft deletes and restores, saved views (filter,
//! sort, hidden fields, bad configs), field renames and type or option
//! changes (every cell converted, or a refusal listing the cells), then
//! random filters, `formula=` filters (fields of every type against values
//! of their type, partly run as SQL, partly in Rust) and sorts walked page
//! by page, optionally through a view,
//! with the `fields` output option and cells keyed by name or id. Every
//! result and every error must be the same on both sides. Each case also
//! adds random computed fields (formulas generated from a small grammar
//! over the number and text fields, and lookups, rollups and counts over
//! the link field) before writing records: their cells are part of every
//! compared output, and after the writes every stored computed cell must
//! equal what the evaluator gives for the record as stored.
//!
//! Fairness: ids are random per backend, so outputs are compared after
//! replacing every id the test knows (workspace, base, tables, fields,
//! records, attachments) by a label given in creation order. Both facades
//! run on a clock that starts at the same instant and moves 1 ms per reading,
//! so every timestamp is the same on both sides and records created by
//! separate calls get ids in creation order (the final tie-break of every
//! sort). The raw stores are then compared without any normalising: the
//! records are copied with the *same* ids into both stores and the same
//! resolved `RecordQuery` must return equal pages, which must also equal
//! `pybase_core::query::eval`.
//!
//! Run with `PYBASE_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test
//! cargo test -p pybase-testsuite differential::`;
//! `PROPTEST_CASES=500` runs more cases than the default 24.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::{Config, FileFailurePersistence, TestCaseError, TestRunner};
use pybase_core::clock::Clock;
use pybase_core::facade::{
    FieldKey, FieldPatch, NewBase, NewField, NewTable, NewView, NewWorkspace, QueryInput,
    WriteOptions,
};
use pybase_core::fields::{FieldType, MetaColumn, Reference, Storage, ValueKind};
use pybase_core::formula::{LinkTitles, check, keeps, plan_filter};
use pybase_core::ids::{BaseId, FieldId, RecordId, TableId, UserId, WorkspaceId};
use pybase_core::model::{Base, Cells, Field, Record, Table, User, Workspace};
use pybase_core::query::{
    Cursor, FilterSpec, RecordQuery, SortSpec, eval, resolve_filter, resolve_sort,
};
use pybase_core::store::{NewRecord, Store};
use pybase_core::{Limits, Principal, Pybase};
use pybase_store_postgres::testkit::TestDb;
use pybase_store_sqlite::SqliteStore;
use serde_json::{Map, Value, json};

// ---------------------------------------------------------------------------
// The schema: every field type, in a fixed order, with generated options.

/// The field types, one field each, in registry order: the table, the
/// generators and the option sets all come from the registry, so a new
/// type is covered without editing this file.
///
/// Derived types (formula, lookup, rollup, count) are left out here: their
/// options name other fields; each case adds random ones of its own
/// ([`Computed`]) after the table is made.
fn types() -> &'static [&'static str] {
    static TYPES: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
    TYPES.get_or_init(|| {
        FieldType::examples(example_table())
            .into_iter()
            .filter(|t| !matches!(t.storage(), Storage::Derived(_)))
            .map(|t| t.type_name())
            .fold(Vec::new(), |mut out, name| {
                if !out.contains(&name) {
                    out.push(name);
                }
                out
            })
    })
}

/// Number of fields; as a field index it stands for an unknown field.
fn n() -> usize {
    types().len()
}

/// The index of the field of type `name`.
fn idx(name: &str) -> usize {
    types().iter().position(|t| *t == name).unwrap()
}

/// The field name of field `i`: its type's name ("Nope" past the end).
fn field_name(i: usize) -> &'static str {
    types().get(i).copied().unwrap_or("Nope")
}

/// The table id example link options point at; `@OTHER` replaces it.
fn example_table() -> TableId {
    static TABLE: std::sync::OnceLock<TableId> = std::sync::OnceLock::new();
    *TABLE.get_or_init(TableId::new)
}

/// The registry's example option sets of field `i`'s type, narrowest last.
fn examples(i: usize) -> Vec<FieldType> {
    FieldType::examples(example_table())
        .into_iter()
        .filter(|t| t.type_name() == types()[i])
        .collect()
}

/// How field `i`'s values compare.
fn kind(i: usize) -> ValueKind {
    examples(i)[0].value_kind()
}

/// Field indexes of types clients write.
fn writable() -> Vec<usize> {
    (0..n())
        .filter(|i| !examples(*i)[0].is_computed())
        .collect()
}

/// Field indexes of store-kept types.
fn computed() -> Vec<usize> {
    (0..n()).filter(|i| examples(*i)[0].is_computed()).collect()
}

/// The options of `example` as a client gives them: the example table as
/// `@OTHER`, choices by name (each backend makes its own ids).
fn options_of(example: &FieldType) -> Value {
    fn strip(v: Value, table: &str) -> Value {
        match v {
            Value::String(s) if s == table => json!("@OTHER"),
            Value::Object(m) => Value::Object(
                m.into_iter()
                    .map(|(k, v)| {
                        if k == "choices" {
                            let names: Vec<Value> = v
                                .as_array()
                                .into_iter()
                                .flatten()
                                .filter_map(|c| c.get("name").cloned())
                                .collect();
                            (k, Value::Array(names))
                        } else {
                            (k, strip(v, table))
                        }
                    })
                    .collect(),
            ),
            other => other,
        }
    }
    strip(example.options_json(), example_table().as_ref())
}

/// The option set of every field: an index into its type's examples, or
/// options a regression test fixes.
#[derive(Debug, Clone)]
struct Options {
    pick: Vec<usize>,
    fixed: HashMap<usize, Value>,
}

fn options() -> impl Strategy<Value = Options> {
    let picks: Vec<BoxedStrategy<usize>> =
        (0..n()).map(|i| (0..examples(i).len()).boxed()).collect();
    picks.prop_map(|pick| Options {
        pick,
        fixed: HashMap::new(),
    })
}

impl Options {
    /// Options JSON of field `i`; `@OTHER` stands for the linked table.
    fn json(&self, i: usize) -> Value {
        if let Some(v) = self.fixed.get(&i) {
            return v.clone();
        }
        let all = examples(i);
        options_of(&all[self.pick[i].min(all.len() - 1)])
    }

    /// The narrowest options of field `i`'s type.
    fn narrow(i: usize) -> Value {
        options_of(examples(i).last().unwrap())
    }
}

// ---------------------------------------------------------------------------
// Values. Strings starting with `@` are placeholders each side replaces by
// its own ids: `@L0`..`@L2` linked records, `@A0`/`@A1` attachments, `@U0`
// the acting user, `@R3` the fourth record created.

fn long_text() -> String {
    let mut s = "long é ".repeat(700);
    s.push('😀');
    s
}

fn strings() -> Vec<String> {
    [
        "",
        " ",
        "a",
        "A",
        "apple",
        "Apple pie",
        "  padded  ",
        "ü",
        "é x",
        "日本語テキスト",
        "😀",
        "%",
        "_",
        "a\\b",
        "'; DROP TABLE records; --",
        "nul\u{0}inside",
        "line\nbreak",
        "2024-02-29",
        "2024-13-01",
        "2024-02-29T12:30:00Z",
        "2024-02-29T12:30:00+02:00",
        "bob@example.com",
        "Bob@Example.COM",
        "not an email",
        "https://example.com/a?b=c",
        "example.com",
        "+1 (555) 010-9999",
        "12",
        "-3.5",
        "1e308",
        "true",
        "1:30",
        "01:02:03.5",
        "Zeta",
        "10",
        "zz",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .chain([long_text()])
    .collect()
}

/// Numbers a number field takes (at most 15 significant digits), extreme
/// ones included.
fn numbers() -> Vec<Value> {
    vec![
        json!(0),
        json!(-0.0),
        json!(1),
        json!(-1),
        json!(3),
        json!(5),
        json!(10),
        json!(11),
        json!(0.1),
        json!(1.5),
        json!(2.675),
        json!(-2.5),
        json!(123_456_789.123_456),
        json!(999_999_999_999_999_i64),
        json!(-999_999_999_999_999_i64),
        json!(1e15),
        json!(1e20),
        json!(1e308),
        json!(-1e308),
        json!(5e-324),
        json!(1e-7),
        json!(86_399.999),
    ]
}

/// Numbers no number field takes (more than 15 significant digits).
fn bad_numbers() -> Vec<Value> {
    vec![
        json!(0.1 + 0.2),
        json!(9_007_199_254_740_993_i64),
        json!(i64::MAX),
        json!(i64::MIN),
        json!(u64::MAX),
    ]
}

fn string_value() -> impl Strategy<Value = Value> {
    select(strings()).prop_map(Value::String)
}

fn number_value() -> impl Strategy<Value = Value> {
    prop_oneof![12 => select(numbers()), 1 => select(bad_numbers())]
}

fn choice_value() -> impl Strategy<Value = Value> {
    select(vec!["a", "B", "b", "ü", "é x", "Zeta", "10", "zz", ""]).prop_map(|s| json!(s))
}

fn time_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        (0i64..60).prop_map(|ms| json!(
            (t0() + TimeDelta::milliseconds(ms))
                .format(eval::TIME_FORMAT)
                .to_string()
        )),
        select(vec![
            "2024-03-10",
            "2024-03-10T12:00:00Z",
            "2024-03-10T12:00:00.010Z",
            "2024-03-10T13:00:00+01:00",
            "2030-01-01T00:00:00.000Z",
            "T",
            "yesterday",
        ])
        .prop_map(|s| json!(s)),
    ]
}

/// Any value at all, to exercise validation errors.
fn any_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        string_value(),
        number_value(),
        any::<bool>().prop_map(Value::Bool),
        Just(Value::Null),
        Just(json!([])),
        Just(json!({ "x": 1 })),
        proptest::collection::vec(choice_value(), 1..3).prop_map(Value::Array),
        Just(json!([1, 2])),
        Just(json!(["@L0"])),
        Just(json!([{ "id": "@A0" }])),
    ]
}

/// A value meant for field `i` (usually valid, sometimes not): the type's
/// own sample inputs, generic values of its storage kind, and placeholders
/// for ids of other rows.
fn typed_value(i: usize) -> BoxedStrategy<Value> {
    let example = examples(i).remove(0);
    let samples = example.kind().sample_inputs();
    let own = move |w: u32, generic: BoxedStrategy<Value>| -> BoxedStrategy<Value> {
        if samples.is_empty() {
            generic
        } else {
            prop_oneof![w => select(samples.clone()), 1 => generic].boxed()
        }
    };
    match example.storage() {
        Storage::Column(MetaColumn::Autonumber) => {
            prop_oneof![(0i64..40).prop_map(|n| json!(n)), number_value()].boxed()
        }
        Storage::Column(MetaColumn::CreatedTime | MetaColumn::UpdatedTime) => time_value().boxed(),
        Storage::Column(MetaColumn::CreatedBy | MetaColumn::UpdatedBy) => prop_oneof![
            Just(json!("@U0")),
            Just(json!("usrAAAAAAAAAAAAAA")),
            string_value()
        ]
        .boxed(),
        Storage::Derived(_) => unreachable!("derived types are left out of types()"),
        Storage::Cell(kind) => match (example.references(), kind) {
            (Some(Reference::Attachments), _) => select(vec![
                json!([{ "id": "@A0" }]),
                json!([{ "id": "@A0" }, { "id": "@A1" }]),
                json!([{ "id": "@A1" }, { "id": "@A0" }]),
                json!(["@A0"]),
                json!([{ "id": "attAAAAAAAAAAAAAA" }]),
                json!([]),
            ])
            .boxed(),
            (Some(Reference::Records(_)), _) => select(vec![
                json!(["@L0"]),
                json!(["@L0", "@L1"]),
                json!(["@L2", "@L0"]),
                json!("@L1"),
                json!(["recAAAAAAAAAAAAAA"]),
                json!([]),
            ])
            .boxed(),
            (None, ValueKind::Text) => own(6, string_value().boxed()),
            (None, ValueKind::Number) => own(4, number_value().boxed()),
            (None, ValueKind::Bool) => own(1, any::<bool>().prop_map(Value::Bool).boxed()),
            (None, ValueKind::List) => own(
                2,
                proptest::collection::vec(choice_value(), 0..4)
                    .prop_map(Value::Array)
                    .boxed(),
            ),
        },
    }
}

/// A field index: mostly writable fields, sometimes computed ones.
fn field_index() -> impl Strategy<Value = usize> {
    prop_oneof![40 => select(writable()), 1 => select(computed())]
}

fn cell() -> impl Strategy<Value = (usize, Value)> {
    field_index().prop_flat_map(|i| (Just(i), prop_oneof![12 => typed_value(i), 1 => any_value()]))
}

/// Cells of one write by field index (a later duplicate wins).
type CellList = Vec<(usize, Value)>;

/// Cells of one write, by field index (a later duplicate wins).
fn cells() -> impl Strategy<Value = Vec<(usize, Value)>> {
    proptest::collection::vec(cell(), 0..6)
}

// ---------------------------------------------------------------------------
// Queries.

const OPS: [&str; 14] = [
    "eq",
    "neq",
    "lt",
    "lte",
    "gt",
    "gte",
    "contains",
    "not_contains",
    "starts_with",
    "is_empty",
    "is_not_empty",
    "in",
    "has_any",
    "has_all",
];

fn ops_for(k: ValueKind) -> Vec<&'static str> {
    match k {
        ValueKind::Text => OPS[..12].to_vec(),
        ValueKind::Number => [&OPS[..6], &OPS[9..12]].concat(),
        ValueKind::Bool => vec!["eq", "neq"],
        ValueKind::List => vec!["has_any", "has_all", "is_empty", "is_not_empty"],
    }
}

/// One condition: field index (`n()` = an unknown field), operator, value.
#[derive(Debug, Clone)]
struct Cond {
    field: usize,
    op: &'static str,
    value: Value,
}

fn cond() -> impl Strategy<Value = Cond> {
    prop_oneof![40 => 0..n(), 1 => Just(n())].prop_flat_map(|i| {
        let last = i.min(n() - 1);
        let k = kind(last);
        let op = prop_oneof![9 => select(ops_for(k)), 1 => select(OPS.to_vec())];
        let one = prop_oneof![6 => typed_value(last), 1 => any_value()];
        let many = proptest::collection::vec(typed_value(last), 1..4).prop_map(Value::Array);
        (Just(i), op, one, many).prop_map(|(field, op, one, many)| {
            let value = match op {
                "is_empty" | "is_not_empty" => Value::Null,
                "in" => many,
                "has_any" | "has_all" => match one {
                    Value::Array(_) => one,
                    other => json!([other]),
                },
                _ => one,
            };
            Cond { field, op, value }
        })
    })
}

#[derive(Debug, Clone)]
enum Tree {
    Cond(Cond),
    And(Vec<Self>),
    Or(Vec<Self>),
    Not(Box<Self>),
}

fn tree() -> impl Strategy<Value = Tree> {
    cond()
        .prop_map(Tree::Cond)
        .prop_recursive(3, 10, 3, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..3).prop_map(Tree::And),
                proptest::collection::vec(inner.clone(), 0..3).prop_map(Tree::Or),
                inner.prop_map(|t| Tree::Not(Box::new(t))),
            ]
        })
}

impl Tree {
    /// The API's filter JSON (with placeholders).
    fn json(&self) -> Value {
        match self {
            Self::Cond(c) => {
                if c.value.is_null() {
                    json!({ "field": field_name(c.field), "op": c.op })
                } else {
                    json!({ "field": field_name(c.field), "op": c.op, "value": c.value })
                }
            }
            Self::And(p) => json!({ "and": p.iter().map(Self::json).collect::<Vec<_>>() }),
            Self::Or(p) => json!({ "or": p.iter().map(Self::json).collect::<Vec<_>>() }),
            Self::Not(t) => json!({ "not": t.json() }),
        }
    }
}

#[derive(Debug, Clone)]
struct Query {
    filter: Option<Tree>,
    /// A `formula=` filter over the table's fields (issue 12).
    formula: Option<String>,
    sort: Vec<(usize, bool)>,
    page_size: usize,
    include_deleted: bool,
    /// Through a view: (view number, 0 = the table's default view; past
    /// the last = an unknown name) and whether by name (else by id).
    view: Option<(usize, bool)>,
    /// The `fields` output option, by field index (`n()` = an unknown field).
    fields: Option<Vec<usize>>,
    /// Cells keyed by field id rather than name.
    by_id: bool,
}

fn sort_keys() -> impl Strategy<Value = Vec<(usize, bool)>> {
    proptest::collection::vec(
        (prop_oneof![30 => 0..n(), 1 => Just(n())], any::<bool>()),
        0..3,
    )
}

/// Field indexes of a `fields` or `hidden_fields` list (`n()` = unknown).
fn field_list() -> impl Strategy<Value = Vec<usize>> {
    proptest::collection::vec(prop_oneof![30 => 0..n(), 1 => Just(n())], 0..4)
}

/// A constant of the formula language standing for `v`.
fn literal(v: &Value) -> String {
    match v {
        Value::String(s) => format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'")),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => if *b { "TRUE()" } else { "FALSE()" }.to_string(),
        Value::Array(items) => items.first().map_or("''".to_string(), literal),
        _ => "BLANK()".to_string(),
    }
}

/// A random `formula=` filter: fields (of every type, and an unknown one)
/// compared with values of their type, alone, searched, combined.
fn formula_text() -> impl Strategy<Value = String> {
    let op = select(vec!["=", "!=", "<", ">", "<=", ">="]);
    let field = prop_oneof![30 => 0..n(), 1 => Just(n())];
    let leaf = prop_oneof![
        4 => (field.clone(), op.clone())
            .prop_flat_map(|(i, o)| (Just(i), Just(o), typed_value(i.min(n() - 1))))
            .prop_map(|(i, o, v)| format!("{{{}}} {o} {}", field_name(i), literal(&v))),
        1 => (field.clone(), op, field.clone())
            .prop_map(|(a, o, b)| format!("{{{}}} {o} {{{}}}", field_name(a), field_name(b))),
        1 => field.clone().prop_map(|i| format!("{{{}}}", field_name(i))),
        1 => (field, string_value())
            .prop_map(|(i, v)| format!("FIND({}, {{{}}})", literal(&v), field_name(i))),
        1 => select(vec!["TRUE()", "BLANK()", "1/0", "{number} +", "NOW() > 0"]).prop_map(str::to_owned),
    ];
    leaf.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 1..3)
                .prop_map(|v| format!("AND({})", v.join(", "))),
            proptest::collection::vec(inner.clone(), 1..3)
                .prop_map(|v| format!("OR({})", v.join(", "))),
            inner.prop_map(|v| format!("NOT({v})")),
        ]
    })
}

fn query() -> impl Strategy<Value = Query> {
    (
        proptest::option::weighted(0.8, tree()),
        proptest::option::weighted(0.4, formula_text()),
        sort_keys(),
        1usize..9,
        proptest::bool::weighted(0.25),
        proptest::option::weighted(0.4, (0usize..5, proptest::bool::weighted(0.3))),
        proptest::option::weighted(0.3, field_list()),
        proptest::bool::weighted(0.2),
    )
        .prop_map(
            |(filter, formula, sort, page_size, include_deleted, view, fields, by_id)| Query {
                filter,
                formula,
                sort,
                page_size,
                include_deleted,
                view,
                fields,
                by_id,
            },
        )
}

/// A saved view: name, filter, sort, hidden fields; or a bad config.
#[derive(Debug, Clone)]
struct ViewSpec {
    name: &'static str,
    filter: Option<Tree>,
    sort: Vec<(usize, bool)>,
    hidden: Vec<usize>,
    /// Replace the config by a malformed one.
    bad_config: bool,
}

fn view_spec() -> impl Strategy<Value = ViewSpec> {
    (
        prop_oneof![12 => select(vec!["V", "Grid view", "ü view"]), 1 => Just("")],
        proptest::option::weighted(0.7, tree()),
        sort_keys(),
        field_list(),
        proptest::bool::weighted(0.05),
    )
        .prop_map(|(name, filter, sort, hidden, bad_config)| ViewSpec {
            name,
            filter,
            sort,
            hidden,
            bad_config,
        })
}

impl ViewSpec {
    fn config(&self) -> Value {
        if self.bad_config {
            return json!({ "filter": {}, "colour": "red" });
        }
        let mut c = Map::new();
        if let Some(f) = &self.filter {
            c.insert("filter".into(), f.json());
        }
        if let Some(s) = sort_json(&self.sort) {
            c.insert("sort".into(), s);
        }
        if !self.hidden.is_empty() {
            let names: Vec<&str> = self.hidden.iter().map(|i| field_name(*i)).collect();
            c.insert("hidden_fields".into(), json!(names));
        }
        Value::Object(c)
    }
}

/// Options given with a field change.
#[derive(Debug, Clone)]
enum NewOptions {
    /// None: keep (same type) or defaults (new type).
    Keep,
    /// The case's options of the new type.
    OfType,
    /// Explicitly `null`.
    Null,
    /// Options no type takes.
    Bad,
}

/// A field rename and/or type change.
#[derive(Debug, Clone)]
struct FieldChange {
    field: usize,
    name: Option<&'static str>,
    /// New type, by index into [`TYPES`].
    to: Option<usize>,
    options: NewOptions,
    /// The case's options of the new type with this precision / rating
    /// maximum / max length / choices instead (to narrow them).
    narrow: bool,
}

fn field_change() -> impl Strategy<Value = FieldChange> {
    (
        0..n(),
        proptest::option::weighted(
            0.3,
            select(vec![
                "Renamed",
                "TEXT",
                "Number",
                "Ünïcode",
                " ",
                "long_text2",
            ]),
        ),
        proptest::option::weighted(
            0.85,
            prop_oneof![3 => select(writable()), 1 => select(computed())],
        ),
        prop_oneof![
            4 => Just(NewOptions::OfType),
            3 => Just(NewOptions::Keep),
            1 => Just(NewOptions::Null),
            1 => Just(NewOptions::Bad)
        ],
        proptest::bool::weighted(0.3),
    )
        .prop_map(|(field, name, to, options, narrow)| FieldChange {
            field,
            name,
            to,
            options,
            narrow,
        })
}

impl FieldChange {
    /// Options JSON of the change (with placeholders), if any.
    fn options_json(&self, base: &Options) -> Option<Value> {
        let ty = self.to.unwrap_or(self.field);
        match self.options {
            NewOptions::Keep => None,
            NewOptions::Null => Some(Value::Null),
            NewOptions::Bad => Some(json!({ "precision": "high", "nope": true })),
            NewOptions::OfType if self.narrow => Some(Options::narrow(ty)),
            NewOptions::OfType => Some(base.json(ty)),
        }
    }
}

/// An upsert call: merge fields (`n()` = unknown), records, typecast, and
/// whether it goes to the batch twin table (all records; the main table
/// takes only the first, so created records get ordered ids).
#[derive(Debug, Clone)]
struct Upsert {
    merge_on: Vec<usize>,
    records: Vec<CellList>,
    typecast: bool,
    twin: bool,
}

/// Fields holding one value (good merge keys), some others, an unknown one.
fn merge_field() -> impl Strategy<Value = usize> {
    let single: Vec<usize> = writable()
        .into_iter()
        .filter(|i| kind(*i) != ValueKind::List)
        .collect();
    let others: Vec<usize> = (0..=n()).filter(|i| !single.contains(i)).collect();
    prop_oneof![12 => select(single), 1 => select(others)]
}

/// Cells of an upserted record: mostly the merge fields, sometimes others.
fn upsert() -> impl Strategy<Value = Upsert> {
    (
        prop_oneof![
            12 => proptest::collection::vec(merge_field(), 1..3),
            1 => proptest::collection::vec(merge_field(), 0..5)
        ],
        any::<bool>(),
        proptest::bool::weighted(0.3),
    )
        .prop_flat_map(|(merge_on, typecast, twin)| {
            // Key fields to give values to (any field when there are none).
            let keyed = if merge_on.is_empty() {
                vec![0]
            } else {
                merge_on.clone()
            };
            let record = (
                proptest::collection::vec((select(keyed), proptest::bool::weighted(0.9)), 0..3),
                cells(),
            )
                .prop_flat_map(|(keys, extra)| {
                    let values: Vec<BoxedStrategy<(usize, Value)>> = keys
                        .into_iter()
                        .map(|(i, typed)| {
                            let i = i.min(n() - 1);
                            let v = if typed {
                                typed_value(i)
                            } else {
                                any_value().boxed()
                            };
                            v.prop_map(move |v| (i, v)).boxed()
                        })
                        .collect();
                    (values, Just(extra)).prop_map(|(mut keyed, extra)| {
                        keyed.extend(extra.into_iter().take(2));
                        keyed
                    })
                });
            (
                Just(merge_on),
                prop_oneof![12 => proptest::collection::vec(record, 1..4), 1 => Just(Vec::new())],
                Just(typecast),
                Just(twin),
            )
        })
        .prop_map(|(merge_on, records, typecast, twin)| Upsert {
            merge_on,
            records,
            typecast,
            twin,
        })
}

fn sort_json(sort: &[(usize, bool)]) -> Option<Value> {
    (!sort.is_empty()).then(|| {
        Value::Array(
            sort.iter()
                .map(|(i, desc)| {
                    json!({ "field": field_name(*i), "direction": if *desc { "desc" } else { "asc" } })
                })
                .collect(),
        )
    })
}

impl Query {
    fn sort_json(&self) -> Option<Value> {
        sort_json(&self.sort)
    }
}

// ---------------------------------------------------------------------------
// Computed fields: formulas from a small grammar over the table's number and
// text fields, and lookups, rollups and counts over its link field (to the
// `Other` table's primary field).

/// A computed field of a case, created after the table and before the
/// records (so every write keeps it current).
#[derive(Debug, Clone)]
enum Computed {
    /// `{"formula": text}`.
    Formula(String),
    /// The linked records' `Name`.
    Lookup,
    /// A formula over the linked records' `Name`s.
    Rollup(&'static str),
    /// How many live records are linked.
    Count,
}

impl Computed {
    /// `(type, options)` as a client gives them.
    fn spec(&self) -> (&'static str, Value) {
        match self {
            Self::Formula(f) => ("formula", json!({ "formula": f })),
            Self::Lookup => ("lookup", json!({ "link_field": "link", "field": "Name" })),
            Self::Rollup(f) => (
                "rollup",
                json!({ "link_field": "link", "field": "Name", "formula": f }),
            ),
            Self::Count => ("count", json!({ "link_field": "link" })),
        }
    }
}

/// A number-valued formula over `{number}` and `{text}`.
fn number_formula() -> BoxedStrategy<String> {
    let leaf = prop_oneof![
        3 => Just("{number}".to_owned()),
        2 => (-50i32..50).prop_map(|n| n.to_string()),
        1 => Just("0.5".to_owned()),
        1 => Just("LEN({text})".to_owned()),
    ];
    leaf.prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            (
                inner.clone(),
                select(vec!["+", "-", "*", "/"]),
                inner.clone()
            )
                .prop_map(|(a, op, b)| format!("({a} {op} {b})")),
            (inner.clone(), 0u8..3).prop_map(|(a, k)| format!("ROUND({a}, {k})")),
            inner.clone().prop_map(|a| format!("ABS({a})")),
            (inner.clone(), inner.clone(), inner.clone())
                .prop_map(|(a, b, c)| format!("IF({a} > {b}, {a}, {c})")),
            (inner.clone(), inner).prop_map(|(a, b)| format!("MAX({a}, {b})")),
        ]
    })
    .boxed()
}

/// A text-valued formula over `{text}` and `{number}`.
fn text_formula() -> BoxedStrategy<String> {
    let leaf = prop_oneof![
        3 => Just("{text}".to_owned()),
        1 => Just("'x'".to_owned()),
        1 => Just("\"é \"".to_owned()),
    ];
    leaf.prop_recursive(2, 8, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} & {b}")),
            inner.clone().prop_map(|a| format!("UPPER({a})")),
            (inner.clone(), 0u8..4).prop_map(|(a, k)| format!("LEFT({a}, {k})")),
            (inner.clone(), number_formula()).prop_map(|(a, n)| format!("CONCATENATE({a}, {n})")),
            (inner.clone(), inner).prop_map(|(a, b)| format!("IF(ISBLANK({{text}}), {a}, {b})")),
        ]
    })
    .boxed()
}

/// A formula of any result type.
fn formula_field() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => number_formula(),
        2 => text_formula(),
        1 => (number_formula(), number_formula()).prop_map(|(a, b)| format!("{a} >= {b}")),
        1 => (text_formula(), number_formula())
            .prop_map(|(t, n)| format!("AND({t} = 'x', {n} < 3)")),
    ]
}

fn computed_field() -> impl Strategy<Value = Computed> {
    prop_oneof![
        4 => formula_field().prop_map(Computed::Formula),
        1 => Just(Computed::Lookup),
        1 => select(vec![
            "COUNTA(values)",
            "ARRAYJOIN(values, '|')",
            "ARRAYJOIN(ARRAYUNIQUE(values))",
        ])
        .prop_map(Computed::Rollup),
        1 => Just(Computed::Count),
    ]
}

// ---------------------------------------------------------------------------
// One case.

#[derive(Debug, Clone)]
struct Case {
    options: Options,
    /// Records to create, one call each; `true` = typecast.
    creates: Vec<(Vec<(usize, Value)>, bool)>,
    /// The same records once more in one batch call (all or nothing).
    batch_typecast: bool,
    /// Partial updates: (record number, cells, typecast, replace).
    updates: Vec<(usize, CellList, bool, bool)>,
    /// Soft deletes by record number.
    deletes: Vec<usize>,
    /// Upserts (after the creates, before the updates).
    upserts: Vec<Upsert>,
    /// Restores by record number (after the deletes).
    restores: Vec<usize>,
    /// Saved views (after the record writes).
    views: Vec<ViewSpec>,
    /// Field renames and type changes (after the views, before the queries).
    changes: Vec<FieldChange>,
    /// Computed fields (after the table, before the records).
    computed: Vec<Computed>,
    queries: Vec<Query>,
}

fn case() -> impl Strategy<Value = Case> {
    (
        options(),
        proptest::collection::vec((cells(), proptest::bool::weighted(0.3)), 0..14),
        any::<bool>(),
        proptest::collection::vec(
            (
                0usize..14,
                cells(),
                any::<bool>(),
                proptest::bool::weighted(0.15),
            ),
            0..4,
        ),
        proptest::collection::vec(0usize..14, 0..3),
        (
            proptest::collection::vec(upsert(), 0..3),
            proptest::collection::vec(0usize..14, 0..3),
            proptest::collection::vec(view_spec(), 0..3),
            proptest::collection::vec(field_change(), 0..3),
        ),
        (
            proptest::collection::vec(query(), 1..4),
            proptest::collection::vec(computed_field(), 0..4),
        ),
    )
        .prop_map(
            |(
                options,
                creates,
                batch_typecast,
                updates,
                deletes,
                (upserts, restores, views, changes),
                (queries, computed),
            )| Case {
                options,
                creates,
                batch_typecast,
                updates,
                deletes,
                upserts,
                restores,
                views,
                changes,
                computed,
                queries,
            },
        )
}

/// The instant both clocks start at.
fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 3, 10, 12, 0, 0)
        .single()
        .unwrap()
}

/// A clock that moves 1 ms every time it is read, so both backends see the
/// same timestamps and separately created records get ordered ids.
#[derive(Debug)]
struct TickClock(Mutex<DateTime<Utc>>);

impl TickClock {
    fn reset(&self) {
        *self.0.lock().unwrap() = t0();
    }
}

impl Clock for TickClock {
    fn now(&self) -> DateTime<Utc> {
        let mut t = self.0.lock().unwrap();
        *t += TimeDelta::milliseconds(1);
        *t
    }
}

/// One backend under test.
struct Side {
    name: &'static str,
    pb: Pybase,
    store: Arc<dyn Store>,
    clock: Arc<TickClock>,
    owner: Principal,
}

/// What a side built for a case: its ids and their labels.
#[derive(Default)]
struct Built {
    labels: Vec<(String, String)>,
    placeholders: HashMap<String, String>,
    table: Option<TableId>,
    records: Vec<RecordId>,
    /// Views of the table that exist: (id, name), the default one first.
    views: Vec<(String, String)>,
    /// The case's workspace, deleted after the case.
    ws: Option<WorkspaceId>,
}

impl Built {
    fn label(&mut self, id: impl std::fmt::Display, label: String) {
        self.labels.push((id.to_string(), label));
    }

    /// Labels the select choice ids of field `i` that have none yet
    /// (choices added by typecast or a type change), by choice name.
    fn label_choices(&mut self, i: usize, field: &Field) {
        let options = field.field_type.options_json();
        let choices = options.get("choices").and_then(Value::as_array);
        for c in choices.into_iter().flatten() {
            if let (Some(id), Some(name)) = (
                c.get("id").and_then(Value::as_str),
                c.get("name").and_then(Value::as_str),
            ) && !self.labels.iter().any(|(known, _)| known == id)
            {
                self.label(id, format!("sel#{i}:{name}"));
            }
        }
    }

    /// Replaces placeholders by this side's ids.
    fn materialise(&self, v: &Value) -> Value {
        match v {
            Value::String(s) => match self.placeholders.get(s) {
                Some(id) => Value::String(id.clone()),
                None => v.clone(),
            },
            Value::Array(a) => Value::Array(a.iter().map(|x| self.materialise(x)).collect()),
            Value::Object(m) => Value::Object(
                m.iter()
                    .map(|(k, x)| (k.clone(), self.materialise(x)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    fn cells(&self, cells: &[(usize, Value)]) -> Map<String, Value> {
        cells
            .iter()
            .map(|(i, v)| (field_name(*i).to_owned(), self.materialise(v)))
            .collect()
    }

    /// Replaces every known id by its label.
    fn normalise_str(&self, s: &str) -> String {
        let mut out = s.to_owned();
        for (id, label) in &self.labels {
            if out.contains(id.as_str()) {
                out = out.replace(id.as_str(), label);
            }
        }
        out
    }

    fn normalise(&self, v: &Value) -> Value {
        match v {
            Value::String(s) => Value::String(self.normalise_str(s)),
            Value::Array(a) => Value::Array(a.iter().map(|x| self.normalise(x)).collect()),
            Value::Object(m) => Value::Object(
                m.iter()
                    .map(|(k, x)| (self.normalise_str(k), self.normalise(x)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    /// Labels the record and attachment ids in `v` that have no label yet,
    /// in the order they appear: a write makes records and attachments of
    /// its own (a typecast link naming a new value, an attachment of another
    /// table copied), whose ids are fresh on each side.
    fn label_new_ids(&mut self, v: &Value) {
        match v {
            Value::String(id) => {
                let fresh = id.len() == 17
                    && (id.starts_with("rec") || id.starts_with("att"))
                    && id[3..].bytes().all(|b| b.is_ascii_alphanumeric());
                if fresh && !self.labels.iter().any(|(known, _)| known == id) {
                    let n = self.labels.len();
                    self.label(id, format!("new#{n}"));
                }
            }
            Value::Object(m) => m.values().for_each(|x| self.label_new_ids(x)),
            Value::Array(a) => a.iter().for_each(|x| self.label_new_ids(x)),
            _ => {}
        }
    }

    /// A facade result as comparable text: the JSON of a value, or the
    /// error's debug form, with ids replaced by labels (ids of records and
    /// attachments it shows for the first time are labelled first).
    fn outcome<T: serde::Serialize>(&mut self, r: &pybase_core::Result<T>) -> String {
        match r {
            Ok(v) => {
                let v = serde_json::to_value(v).unwrap();
                self.label_new_ids(&v);
                self.normalise(&v).to_string()
            }
            Err(e) => format!("error: {}", self.normalise_str(&format!("{e:?}"))),
        }
    }
}

impl Side {
    /// Runs the facade part of a case; returns a transcript of every outcome.
    async fn run(&self, case: &Case, owner: &User) -> (Vec<String>, Built) {
        self.clock.reset();
        let mut b = Built::default();
        b.placeholders.insert("@U0".into(), owner.id.to_string());
        let mut log = Vec::new();
        let p = &self.owner;
        let ws = self
            .pb
            .create_workspace(
                p,
                NewWorkspace {
                    name: "Differential".into(),
                    slug: Some(format!(
                        "diff-{}",
                        RecordId::new().as_str()[8..].to_ascii_lowercase()
                    )),
                    description: None,
                },
            )
            .await
            .unwrap();
        b.label(ws.id, "ws#0".into());
        b.ws = Some(ws.id);
        let slug = ws.slug.clone();
        b.label(slug, "slug#0".into());
        let base = self
            .pb
            .create_base(
                p,
                ws.id,
                NewBase {
                    name: "B".into(),
                    description: None,
                },
            )
            .await
            .unwrap();
        b.label(base.id, "bas#0".into());
        let other = self
            .pb
            .create_table(
                p,
                base.id,
                NewTable {
                    name: "Other".into(),
                    ..NewTable::default()
                },
            )
            .await
            .unwrap();
        b.label(other.table.id, "tbl#other".into());
        for (i, f) in other.fields.iter().enumerate() {
            b.label(f.id, format!("fld#other{i}"));
        }
        b.placeholders
            .insert("@OTHER".into(), other.table.id.to_string());
        for i in 0..3 {
            let r = self
                .pb
                .create_record(
                    p,
                    other.table.id,
                    [("Name".to_owned(), json!(format!("linked {i}")))]
                        .into_iter()
                        .collect(),
                    WriteOptions::default(),
                )
                .await
                .unwrap();
            b.label(r.id, format!("lnk#{i}"));
            b.placeholders.insert(format!("@L{i}"), r.id.to_string());
        }
        let fields = || -> Vec<NewField> {
            (0..n())
                .map(|i| NewField {
                    name: field_name(i).into(),
                    field_type: types()[i].into(),
                    options: b.materialise(&case.options.json(i)),
                    description: None,
                    indexed: i % 4 == 0,
                })
                .collect()
        };
        let new_table = |name: &str| NewTable {
            name: name.into(),
            description: None,
            fields: fields(),
            primary_field: None,
        };
        let table = self.pb.create_table(p, base.id, new_table("Items")).await;
        let table = match table {
            Ok(t) => t,
            Err(e) => {
                log.push(format!("create table: error {e:?}"));
                return (log, b);
            }
        };
        // Records created by one batch call share a millisecond, so their
        // order (ties are broken by the random ids) differs between the
        // backends: batches go to a twin table that is never queried.
        let twin = self
            .pb
            .create_table(p, base.id, new_table("Batch"))
            .await
            .unwrap();
        b.label(twin.table.id, "tbl#batch".into());
        for (i, f) in twin.fields.iter().enumerate() {
            b.label(f.id, format!("fld#batch{i}"));
            // A two-way link's inverse, made in the linked table.
            if let Some(inverse) = f.field_type.inverse_field_id() {
                b.label(inverse, format!("fld#batchinv{i}"));
            }
        }
        b.label(table.table.id, "tbl#items".into());
        for (i, f) in table.fields.iter().enumerate() {
            b.label(f.id, format!("fld#{i}"));
            if let Some(inverse) = f.field_type.inverse_field_id() {
                b.label(inverse, format!("fld#inv{i}"));
            }
            let options = f.field_type.options_json();
            let choices = options.get("choices").and_then(Value::as_array);
            for (k, c) in choices.into_iter().flatten().enumerate() {
                if let Some(id) = c.get("id").and_then(Value::as_str) {
                    b.label(id, format!("sel#{i}.{k}"));
                }
            }
        }
        for v in &table.views {
            b.label(v.id, "viw#0".into());
            b.views.push((v.id.to_string(), v.name.clone()));
        }
        log.push(format!(
            "create table: {}",
            b.normalise(&serde_json::to_value(&table).unwrap())
        ));
        let tid = table.table.id;
        b.table = Some(tid);
        for (k, c) in case.computed.iter().enumerate() {
            let (ty, options) = c.spec();
            let r = self
                .pb
                .create_field(
                    p,
                    tid,
                    NewField {
                        name: format!("cf{k}"),
                        field_type: ty.into(),
                        options,
                        description: None,
                        indexed: k == 0,
                    },
                )
                .await;
            if let Ok(f) = &r {
                b.label(f.id, format!("fld#cf{k}"));
            }
            log.push(format!("computed {k}: {}", b.outcome(&r)));
        }
        let mut twin_placeholders = HashMap::new();
        for (t, table_id) in [(0, tid), (1, twin.table.id)] {
            for k in 0..2 {
                let body = futures::stream::iter(vec![Ok::<_, std::io::Error>(
                    bytes::Bytes::from(format!("file {k}")),
                )]);
                let a = self
                    .pb
                    .upload_attachment(
                        p,
                        table_id,
                        &format!("f{k}.txt"),
                        Some("text/plain"),
                        body,
                        1024,
                    )
                    .await
                    .unwrap();
                b.label(a.id, format!("att#{t}.{k}"));
                b.label(&a.storage_key, format!("key#{t}.{k}"));
                let to = if t == 0 {
                    &mut b.placeholders
                } else {
                    &mut twin_placeholders
                };
                to.insert(format!("@A{k}"), a.id.to_string());
            }
        }
        // The whole list as one batch call (into the twin): all or nothing.
        if !case.creates.is_empty() {
            let mut for_twin = Built {
                placeholders: b.placeholders.clone(),
                ..Built::default()
            };
            for_twin.placeholders.extend(twin_placeholders);
            let batch: Vec<_> = case
                .creates
                .iter()
                .map(|(c, _)| for_twin.cells(c))
                .collect();
            let r = self
                .pb
                .create_records(
                    p,
                    twin.table.id,
                    batch,
                    WriteOptions {
                        typecast: case.batch_typecast,
                        field_key: FieldKey::Name,
                    },
                )
                .await;
            if let Ok(out) = &r {
                for (i, rec) in out.iter().enumerate() {
                    b.label(rec.id, format!("batch#{i}"));
                }
            }
            log.push(format!("create batch: {}", b.outcome(&r)));
        }
        for (n, (cells, typecast)) in case.creates.iter().enumerate() {
            let r = self
                .pb
                .create_record(
                    p,
                    tid,
                    b.cells(cells),
                    WriteOptions {
                        typecast: *typecast,
                        field_key: FieldKey::Name,
                    },
                )
                .await;
            if let Ok(out) = &r {
                b.label(out.id, format!("rec#{}", b.records.len()));
                b.placeholders
                    .insert(format!("@R{}", b.records.len()), out.id.to_string());
                b.records.push(out.id);
            }
            log.push(format!("create {n}: {}", b.outcome(&r)));
        }
        for (n, u) in case.upserts.iter().enumerate() {
            let merge_on: Vec<String> = u
                .merge_on
                .iter()
                .map(|i| field_name(*i).to_owned())
                .collect();
            let (table_id, records) = if u.twin {
                (twin.table.id, &u.records[..])
            } else {
                (tid, &u.records[..u.records.len().min(1)])
            };
            let inputs: Vec<_> = records.iter().map(|c| b.cells(c)).collect();
            let r = self
                .pb
                .upsert_records(
                    p,
                    table_id,
                    &merge_on,
                    inputs,
                    WriteOptions {
                        typecast: u.typecast,
                        field_key: FieldKey::Name,
                    },
                )
                .await;
            if let Ok(out) = &r {
                for (i, id) in out.created_records.iter().enumerate() {
                    if u.twin {
                        b.label(id, format!("ups#{n}.{i}"));
                    } else {
                        b.label(id, format!("rec#{}", b.records.len()));
                        b.placeholders
                            .insert(format!("@R{}", b.records.len()), id.to_string());
                        b.records.push(*id);
                    }
                }
            }
            log.push(format!("upsert {n}: {}", b.outcome(&r)));
        }
        if !b.records.is_empty() {
            for (n, (which, cells, typecast, replace)) in case.updates.iter().enumerate() {
                let id = b.records[which % b.records.len()];
                let r = self
                    .pb
                    .update_record(
                        p,
                        tid,
                        id,
                        b.cells(cells),
                        WriteOptions {
                            typecast: *typecast,
                            field_key: FieldKey::Name,
                        },
                        *replace,
                    )
                    .await;
                log.push(format!("update {n}: {}", b.outcome(&r)));
            }
            let ids: Vec<RecordId> = case
                .deletes
                .iter()
                .map(|d| b.records[d % b.records.len()])
                .collect();
            if !ids.is_empty() {
                let r = self.pb.delete_records(p, tid, &ids).await;
                log.push(format!("delete: {}", b.outcome(&r)));
            }
        }
        if !b.records.is_empty() {
            for (n, which) in case.restores.iter().enumerate() {
                let id = b.records[which % b.records.len()];
                let r = self.pb.restore_record(p, tid, id, FieldKey::Name).await;
                log.push(format!("restore {n}: {}", b.outcome(&r)));
            }
        }
        for (n, v) in case.views.iter().enumerate() {
            let r = self
                .pb
                .create_view(
                    p,
                    tid,
                    NewView {
                        name: v.name.into(),
                        view_type: None,
                        config: b.materialise(&v.config()),
                    },
                )
                .await;
            if let Ok(view) = &r {
                b.label(view.id, format!("viw#{}", n + 1));
                b.views.push((view.id.to_string(), view.name.clone()));
            }
            log.push(format!("view {n}: {}", b.outcome(&r)));
        }
        for (n, c) in case.changes.iter().enumerate() {
            let Some(field) = table.fields.get(c.field) else {
                continue;
            };
            let patch = FieldPatch {
                name: c.name.map(str::to_owned),
                field_type: c.to.map(|t| types()[t].to_owned()),
                options: c.options_json(&case.options).map(|o| b.materialise(&o)),
                description: None,
                indexed: None,
            };
            let r = self.pb.update_field(p, field.id, patch).await;
            if let Ok(f) = &r {
                b.label_choices(c.field, f);
            }
            log.push(format!("change {n}: {}", b.outcome(&r)));
        }
        for (n, q) in case.queries.iter().enumerate() {
            let view = q.view.map(|(k, by_name)| match b.views.get(k) {
                Some((id, name)) => {
                    if by_name {
                        name.clone()
                    } else {
                        id.clone()
                    }
                }
                None => "Nope view".to_owned(),
            });
            let fields = q.fields.as_ref().map(|list| {
                list.iter()
                    .map(|i| field_name(*i).to_owned())
                    .collect::<Vec<_>>()
            });
            let key = if q.by_id {
                FieldKey::Id
            } else {
                FieldKey::Name
            };
            let mut cursor = None;
            for page_no in 0.. {
                let input = QueryInput {
                    filter: q.filter.as_ref().map(|t| b.materialise(&t.json())),
                    sort: q.sort_json(),
                    fields: fields.clone(),
                    page_size: Some(q.page_size),
                    cursor: cursor.take(),
                    view: view.clone(),
                    include_deleted: q.include_deleted,
                    formula: q.formula.clone(),
                };
                let r = self.pb.query_records(p, tid, input, key).await;
                let more = match &r {
                    Ok(page) => page.next_cursor.clone(),
                    Err(_) => None,
                };
                // Cursors are opaque and hold ids: compare only whether one came.
                let shown = r.map(|page| (page.records, page.next_cursor.is_some()));
                log.push(format!("query {n} page {page_no}: {}", b.outcome(&shown)));
                match more {
                    Some(c) if page_no < 200 => cursor = Some(c),
                    _ => break,
                }
            }
        }
        (log, b)
    }
}

/// Both backends, set up once per test run.
struct Harness {
    sqlite: Side,
    pg: Side,
    /// A second SQLite store for the raw copies: record ids are unique per
    /// database, and the copies keep the ids of the first store's records.
    raw_sqlite: Arc<dyn Store>,
    owner: User,
}

impl Harness {
    async fn new(pg_store: Arc<dyn Store>) -> Self {
        let sqlite_store: Arc<dyn Store> = Arc::new(SqliteStore::open_in_memory().unwrap());
        let t = t0();
        let owner = User {
            id: UserId::new(),
            email: "differential@example.com".into(),
            name: "Differential".into(),
            created_at: t,
            updated_at: t,
        };
        let side = |name, store: Arc<dyn Store>| {
            let clock = Arc::new(TickClock(Mutex::new(t0())));
            Side {
                name,
                pb: Pybase::new(store.clone()).with_clock(clock.clone()),
                store,
                clock,
                owner: Principal::user(owner.id),
            }
        };
        let sqlite = side("sqlite", sqlite_store);
        let pg = side("postgres", pg_store);
        let raw_sqlite: Arc<dyn Store> = Arc::new(SqliteStore::open_in_memory().unwrap());
        for s in [&sqlite.store, &pg.store, &raw_sqlite] {
            s.create_user(&owner, "x").await.unwrap();
        }
        Self {
            sqlite,
            pg,
            raw_sqlite,
            owner,
        }
    }

    async fn check(&self, case: &Case) -> Result<(), TestCaseError> {
        let (a, built_a) = self.sqlite.run(case, &self.owner).await;
        let (b, built_b) = self.pg.run(case, &self.owner).await;
        let mut outcome = self.compare(case, &a, &b, &built_a).await;
        for (side, built) in [(&self.sqlite, &built_a), (&self.pg, &built_b)] {
            if outcome.is_ok() {
                outcome = computed_cells_match_evaluation(side, built).await;
            }
        }
        for (side, built) in [(&self.sqlite, &built_a), (&self.pg, &built_b)] {
            if let Some(ws) = built.ws {
                side.store.delete_workspace(ws).await.unwrap();
            }
        }
        outcome
    }

    async fn compare(
        &self,
        case: &Case,
        a: &[String],
        b: &[String],
        built_a: &Built,
    ) -> Result<(), TestCaseError> {
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            prop_assert_eq!(
                x,
                y,
                "step {} differs: {} (left) vs {} (right)",
                i,
                self.sqlite.name,
                self.pg.name
            );
        }
        prop_assert_eq!(a.len(), b.len(), "different number of steps");
        if let Some(table) = built_a.table {
            self.raw(case, built_a, table).await?;
        }
        Ok(())
    }

    /// Copies SQLite's records, ids and all, into a fresh table in both
    /// stores, and compares the stores' pages for the same `RecordQuery`
    /// with each other and with the reference evaluator.
    async fn raw(&self, case: &Case, built: &Built, table: TableId) -> Result<(), TestCaseError> {
        let src = &self.sqlite.store;
        // Computed fields stay out of the copy: their options name fields
        // of the source table (their cells are checked against the
        // evaluator by `computed_cells_match_evaluation`).
        let mut fields = src.list_fields(table).await.unwrap();
        fields.retain(|f| f.field_type.derived().is_none());
        let all = src
            .query_records(&RecordQuery {
                table_id: table,
                filter: None,
                sort: Vec::new(),
                after: None,
                limit: 1000,
                include_deleted: true,
                log_seq: false,
            })
            .await
            .unwrap()
            .records;
        let t = t0();
        let ws = Workspace {
            id: WorkspaceId::new(),
            name: "Raw".into(),
            slug: format!("raw-{}", RecordId::new().as_str()[8..].to_ascii_lowercase()),
            description: None,
            created_at: t,
            updated_at: t,
        };
        let base = Base {
            id: BaseId::new(),
            workspace_id: ws.id,
            name: "B".into(),
            description: None,
            created_at: t,
            updated_at: t,
        };
        let raw = Table {
            id: TableId::new(),
            base_id: base.id,
            workspace_id: ws.id,
            name: "Raw".into(),
            description: None,
            primary_field_id: None,
            position: 0,
            created_at: t,
            updated_at: t,
        };
        let ids: HashMap<FieldId, FieldId> =
            fields.iter().map(|f| (f.id, FieldId::new())).collect();
        let raw_fields: Vec<Field> = fields
            .iter()
            .map(|f| Field {
                id: ids[&f.id],
                table_id: raw.id,
                ..f.clone()
            })
            .collect();
        let remap = |c: &Cells| -> Cells {
            c.iter()
                .map(|(k, v)| {
                    let k = FieldId::parse(k)
                        .ok()
                        .and_then(|id| ids.get(&id))
                        .map_or_else(|| k.clone(), ToString::to_string);
                    (k, v.clone())
                })
                .collect()
        };
        let new: Vec<NewRecord> = all
            .iter()
            .map(|r| NewRecord {
                id: r.id,
                cells: remap(&r.cells),
                created_by: r.created_by,
                created_time: r.created_time,
            })
            .collect();
        let deleted: Vec<RecordId> = all
            .iter()
            .filter(|r| r.deleted_time.is_some())
            .map(|r| r.id)
            .collect();
        for s in [&self.raw_sqlite, &self.pg.store] {
            s.create_workspace(&ws, self.owner.id).await.unwrap();
            s.create_base(&base).await.unwrap();
            s.create_table(&raw, &raw_fields).await.unwrap();
            if !new.is_empty() {
                s.create_records(raw.id, &new).await.unwrap();
            }
            if !deleted.is_empty() {
                s.delete_records(raw.id, &deleted, t + TimeDelta::hours(1))
                    .await
                    .unwrap();
            }
        }
        let reference: Vec<Record> = self
            .pg
            .store
            .query_records(&RecordQuery {
                table_id: raw.id,
                filter: None,
                sort: Vec::new(),
                after: None,
                limit: 1000,
                include_deleted: true,
                log_seq: false,
            })
            .await
            .unwrap()
            .records;
        // Dropped whatever the outcome: a growing database (PostgreSQL
        // analyses `records` after each new cell index) slows later cases.
        let outcome = async {
            for q in &case.queries {
                let filter = match q.filter.as_ref().map(|t| built.materialise(&t.json())) {
                    None => None,
                    Some(json) => match FilterSpec::from_json(&json)
                        .and_then(|spec| resolve_filter(&spec, &raw_fields))
                    {
                        Ok(f) => Some(f),
                        Err(_) => continue,
                    },
                };
                let sort = match SortSpec::from_json(&q.sort_json().unwrap_or(Value::Null))
                    .and_then(|s| resolve_sort(&s, &raw_fields))
                {
                    Ok(s) => s,
                    Err(_) => continue,
                };
                let mut want: Vec<&Record> = reference
                    .iter()
                    .filter(|r| q.include_deleted || r.deleted_time.is_none())
                    .filter(|r| filter.as_ref().is_none_or(|f| eval::matches(f, r)))
                    .collect();
                want.sort_by(|a, b| eval::compare_records(&sort, a, b));
                let want: Vec<RecordId> = want.iter().map(|r| r.id).collect();
                let mut got = Vec::new();
                let mut after = None;
                loop {
                    let rq = RecordQuery {
                        table_id: raw.id,
                        filter: filter.clone(),
                        sort: sort.clone(),
                        after: after.take(),
                        limit: q.page_size,
                        include_deleted: q.include_deleted,
                        log_seq: false,
                    };
                    let a = self.raw_sqlite.query_records(&rq).await;
                    let b = self.pg.store.query_records(&rq).await;
                    let (a, b) = match (a, b) {
                        (Ok(a), Ok(b)) => (a, b),
                        (a, b) => {
                            prop_assert!(
                                false,
                                "raw query {:?}: sqlite {:?} postgres {:?}",
                                rq,
                                a.err(),
                                b.err()
                            );
                            unreachable!()
                        }
                    };
                    prop_assert_eq!(&a, &b, "raw page of {:?}", rq);
                    got.extend(a.records.iter().map(|r| r.id));
                    match a.records.last() {
                        Some(last) if a.has_more && got.len() <= want.len() => {
                            after = Some(Cursor {
                                values: sort
                                    .iter()
                                    .map(|k| eval::target_value(k.target, last))
                                    .collect(),
                                id: last.id,
                                query: 0,
                                snapshot: None,
                            });
                        }
                        _ => break,
                    }
                }
                prop_assert_eq!(
                    got,
                    want,
                    "stores vs eval for filter {:?} sort {:?}",
                    filter,
                    sort
                );
                if let Some(text) = &q.formula {
                    formula_parts_equal_pure_evaluation(
                        [&self.raw_sqlite, &self.pg.store],
                        &raw,
                        &raw_fields,
                        &reference,
                        text,
                        &sort,
                        q.include_deleted,
                    )
                    .await?;
                }
            }
            Ok(())
        }
        .await;
        for s in [&self.raw_sqlite, &self.pg.store] {
            s.delete_workspace(ws.id).await.unwrap();
        }
        outcome
    }
}

/// The issue-12 property for computed fields: every stored cell of every
/// valid computed field of the queried table, after all the case's writes,
/// equals what the evaluator gives for the record as stored now (formulas
/// over the record's cells; lookups, rollups and counts over the live
/// linked records of `Other`).
async fn computed_cells_match_evaluation(side: &Side, built: &Built) -> Result<(), TestCaseError> {
    use pybase_core::formula::{EvalContext, Value as F, evaluate, parse, record_value, to_cell};

    let Some(table) = built.table else {
        return Ok(());
    };
    let all = |table: TableId| RecordQuery {
        table_id: table,
        filter: None,
        sort: Vec::new(),
        after: None,
        limit: 1000,
        include_deleted: false,
        log_seq: false,
    };
    let fields = side.store.list_fields(table).await.unwrap();
    let records = side.store.query_records(&all(table)).await.unwrap().records;
    let titles = LinkTitles::new();
    for f in &fields {
        let Some(derived) = f.field_type.derived().filter(|d| d.is_valid) else {
            continue;
        };
        // Linked records for lookups, rollups and counts.
        let (link, target) = match &f.field_type {
            FieldType::Lookup(l) => (l.link_field.clone(), Some(l.field.clone())),
            FieldType::Rollup(r) => (r.link_field.clone(), Some(r.field.clone())),
            FieldType::Count(c) => (c.link_field.clone(), None),
            _ => (String::new(), None),
        };
        let link_field = fields.iter().find(|l| l.id.as_str() == link);
        let mut linked: HashMap<RecordId, Record> = HashMap::new();
        let mut target_field = None;
        if let Some(Reference::Records(other)) = link_field.and_then(|l| l.field_type.references())
        {
            let other_fields = side.store.list_fields(other).await.unwrap();
            target_field =
                target.and_then(|t| other_fields.into_iter().find(|o| o.id.as_str() == t));
            for r in side.store.query_records(&all(other)).await.unwrap().records {
                linked.insert(r.id, r);
            }
        }
        for r in &records {
            let ids: Vec<RecordId> =
                pybase_core::store::links::link_ids(r.cells.get(link.as_str()))
                    .into_iter()
                    .filter(|id| linked.contains_key(id))
                    .collect();
            let values = || -> Vec<F> {
                target_field.as_ref().map_or_else(Vec::new, |t| {
                    ids.iter()
                        .map(|id| record_value(t, &linked[id], &titles))
                        .collect()
                })
            };
            let value = match &f.field_type {
                FieldType::Formula(x) => {
                    let expr = parse(&x.formula).unwrap();
                    let source = |key: &str| -> Option<F> {
                        let field = fields.iter().find(|g| g.id.as_str() == key)?;
                        Some(record_value(field, r, &titles))
                    };
                    let id = r.id.to_string();
                    let mut ctx = EvalContext::new(&source);
                    ctx.record_id = Some(&id);
                    ctx.created_time = Some(r.created_time);
                    ctx.updated_time = Some(r.updated_time);
                    evaluate(&expr, &ctx)
                }
                FieldType::Lookup(_) => {
                    let mut flat = Vec::new();
                    for v in values() {
                        match v {
                            F::Array(items) => flat.extend(items),
                            F::Blank => {}
                            v => flat.push(v),
                        }
                    }
                    F::Array(flat)
                }
                FieldType::Rollup(x) => {
                    let expr = parse(&x.formula).unwrap();
                    let list = F::Array(values());
                    let source = |key: &str| -> Option<F> {
                        key.eq_ignore_ascii_case("values").then(|| list.clone())
                    };
                    evaluate(&expr, &EvalContext::new(&source))
                }
                FieldType::Count(_) => F::number(ids.len() as f64),
                _ => continue,
            };
            let want = to_cell(&value, derived.result_type);
            prop_assert_eq!(
                r.cells.get(f.id.as_str()),
                want.as_ref(),
                "{}: stored {} of record {} vs the evaluator",
                side.name,
                f.name,
                r.id
            );
        }
    }
    Ok(())
}

/// The issue-12 property on both stores: the part of a formula the
/// planner runs as SQL (the same page from both stores), then its record
/// ids and residual, keep exactly the records pure evaluation keeps.
async fn formula_parts_equal_pure_evaluation(
    stores: [&Arc<dyn Store>; 2],
    table: &Table,
    fields: &[Field],
    reference: &[Record],
    text: &str,
    sort: &[pybase_core::query::SortKey],
    include_deleted: bool,
) -> Result<(), TestCaseError> {
    let Ok(checked) = check(text, fields) else {
        return Ok(());
    };
    let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let titles = LinkTitles::new();
    let planned = plan_filter(checked.clone(), fields, now, &Limits::default());
    let mut pure: Vec<&Record> = reference
        .iter()
        .filter(|r| include_deleted || r.deleted_time.is_none())
        .filter(|r| keeps(&checked.expr, r, fields, &titles, now))
        .collect();
    pure.sort_by(|a, b| eval::compare_records(sort, a, b));
    let pure: Vec<RecordId> = pure.iter().map(|r| r.id).collect();
    let rq = RecordQuery {
        table_id: table.id,
        filter: planned.sql.clone(),
        sort: sort.to_vec(),
        after: None,
        limit: 1000,
        include_deleted,
        log_seq: false,
    };
    let a = stores[0].query_records(&rq).await;
    let b = stores[1].query_records(&rq).await;
    let (a, b) = match (a, b) {
        (Ok(a), Ok(b)) => (a, b),
        (a, b) => {
            return Err(TestCaseError::fail(format!(
                "formula {text}: sqlite {:?} postgres {:?}",
                a.err(),
                b.err()
            )));
        }
    };
    prop_assert_eq!(&a, &b, "the SQL part of {} on both stores", text);
    let planned_ids: Vec<RecordId> = a
        .records
        .iter()
        .filter(|r| planned.ids.as_ref().is_none_or(|ids| ids.contains(&r.id)))
        .filter(|r| {
            planned
                .residual
                .iter()
                .all(|e| keeps(e, r, fields, &titles, now))
        })
        .map(|r| r.id)
        .collect();
    prop_assert_eq!(
        planned_ids,
        pure,
        "formula {} planned as {:?}",
        text,
        planned
    );
    Ok(())
}

/// Cases to run: `PROPTEST_CASES`, 24 by default, never fewer than 8 (the
/// test must not pass with zero cases).
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(24)
        .max(8)
}

/// A store on `db` whose sessions commit without waiting for the disk:
/// durability is not under test, and each case commits hundreds of times.
async fn fast_store(db: &TestDb) -> Arc<dyn Store> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "ALTER DATABASE {} SET synchronous_commit = off",
        db.name
    )))
    .execute(db.store.pool())
    .await
    .unwrap();
    Arc::new(db.second_store().await)
}

/// A case with nothing in it, for the regression tests to fill in.
fn empty_case() -> Case {
    Case {
        options: Options {
            pick: vec![0; n()],
            fixed: [
                (idx("single_select"), json!({ "choices": ["10"] })),
                (idx("multi_select"), json!({ "choices": ["Zeta"] })),
            ]
            .into_iter()
            .collect(),
        },
        creates: Vec::new(),
        batch_typecast: false,
        updates: Vec::new(),
        deletes: Vec::new(),
        upserts: Vec::new(),
        restores: Vec::new(),
        views: Vec::new(),
        changes: Vec::new(),
        computed: Vec::new(),
        queries: vec![Query {
            filter: None,
            formula: Some("AND({number} < 5, NOT({checkbox}), FIND('a', {text} & 'a'))".into()),
            sort: Vec::new(),
            page_size: 4,
            include_deleted: false,
            view: None,
            fields: None,
            by_id: false,
        }],
    }
}

/// Runs one fixed case on both backends.
fn check_case(case: &Case) {
    let url = pybase_core::require_service!(pybase_core::testkit::services::POSTGRES_URL);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt.block_on(TestDb::new(&url));
    let h = rt.block_on(async { Harness::new(fast_store(&db).await).await });
    let result = rt.block_on(h.check(case));
    drop(h);
    if let Err(e) = result {
        panic!("{e}");
    }
    rt.block_on(async { drop(db) });
}

/// Found by the proptest: an upsert whose merge key matches two records
/// failed with different conflict messages ("several records match the
/// merge fields" on SQLite).
#[test]
fn ambiguous_upsert_fails_alike() {
    let mut case = empty_case();
    case.creates = vec![(Vec::new(), false), (Vec::new(), false)];
    case.upserts = vec![Upsert {
        merge_on: vec![idx("text")],
        records: vec![vec![(idx("single_select"), json!("10"))]],
        typecast: true,
        twin: false,
    }];
    check_case(&case);
}

/// Found by the proptest: after a typecast update added a select choice,
/// PostgreSQL's one-round-trip update of the next update_record read the
/// clock, found the fields changed and fell back to the two-step path,
/// which read the clock again: its updated_time was 1 ms later.
#[test]
fn update_after_new_choice_has_the_same_time() {
    let mut case = empty_case();
    case.options
        .fixed
        .insert(idx("single_select"), json!({ "choices": ["é x"] }));
    case.creates = vec![(Vec::new(), false)];
    case.updates = vec![
        (0, vec![(idx("single_select"), json!("a"))], true, false),
        (0, Vec::new(), false, false),
    ];
    check_case(&case);
}

/// Found by the proptest once text samples came from the registry: a view
/// whose filter compares text with a NUL character was saved on SQLite and
/// refused on PostgreSQL (view configs were not NUL-escaped like cells).
#[test]
fn view_filter_with_nul_is_saved_alike() {
    let mut case = empty_case();
    case.views = vec![ViewSpec {
        name: "V",
        filter: Some(Tree::Cond(Cond {
            field: idx("text"),
            op: "eq",
            value: json!("nul\u{0}inside"),
        })),
        sort: Vec::new(),
        hidden: Vec::new(),
        bad_config: false,
    }];
    check_case(&case);
}

/// Found by CI's proptest: an upsert into the twin naming an attachment of
/// the main table copies it (as Airtable re-hosts it), and each side gave
/// the copy a fresh id that no label covered.
#[test]
fn attachment_copied_into_the_twin_compares_alike() {
    let mut case = empty_case();
    case.upserts = vec![Upsert {
        merge_on: vec![idx("text")],
        records: vec![vec![
            (idx("attachment"), json!([{ "id": "@A0" }])),
            (idx("datetime"), json!("2024-02-29T12:30:00Z")),
        ]],
        typecast: true,
        twin: true,
    }];
    check_case(&case);
}

/// Found by the proptest: a typecast update naming a link value no record
/// has makes that record, whose id is fresh on each side.
#[test]
fn link_name_made_by_typecast_compares_alike() {
    let mut case = empty_case();
    case.creates = vec![(Vec::new(), false)];
    case.updates = vec![(0, vec![(idx("link"), json!(["a"]))], true, false)];
    check_case(&case);
}

#[test]
fn sqlite_and_postgres_agree() {
    let url = pybase_core::require_service!(pybase_core::testkit::services::POSTGRES_URL);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt.block_on(TestDb::new(&url));
    let h = rt.block_on(async { Harness::new(fast_store(&db).await).await });
    let mut runner = TestRunner::new(Config {
        cases: cases(),
        source_file: Some(file!()),
        // Relative to the crate (cargo runs tests there); committed.
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "proptest-regressions/differential.txt",
        ))),
        ..Config::default()
    });
    let result = runner.run(&case(), |c| rt.block_on(h.check(&c)));
    drop(h);
    if let Err(e) = result {
        panic!("{e}");
    }
    rt.block_on(async { drop(db) });
}
