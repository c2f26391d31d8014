//! The property of issue 13: for random filters that `/api/v1`'s native
//! filter language can express, `filterByFormula` with the equivalent
//! formula over `/v0` keeps exactly the records the native filter keeps,
//! on SQLite and (when `PYBASE_TEST_SERVER_DATABASE_URL` or
//! `PYBASE_TEST_POSTGRES_URL` is set) on PostgreSQL.
//!
//! "Equivalent" follows the two languages' documented blank rules: in a
//! formula an empty number is 0 and an empty text is `''` (FORMULA.md A.4),
//! while a native condition on an empty cell holds only for `neq`,
//! `not_contains` and `is_empty`. Where the two differ the translation
//! guards the comparison with an emptiness test, so both sides say the same
//! thing and any difference is a bug in one of the two paths (the formula
//! filter's SQL lowering, its Rust residual, or the native filter).

use std::cell::Cell;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{SendExpect, TestServer, settings_in};

/// Random filters per backend: enough to mix every operator of every
/// field kind with AND/OR/NOT, small enough to run in seconds.
const CASES: u32 = 256;

const NAMES: &[Option<&str>] = &[
    None,
    Some("ann"),
    Some("Ann"),
    Some("bob"),
    Some("anna b"),
    Some("b"),
    Some("Zed"),
    Some("ann"),
];
const QTYS: &[Option<f64>] = &[
    None,
    Some(0.0),
    Some(1.0),
    Some(2.5),
    Some(-3.0),
    Some(5.0),
    Some(10.0),
];
const DONE: &[Option<bool>] = &[None, Some(true), Some(false)];
const STATUSES: &[Option<&str>] = &[None, Some("todo"), Some("doing"), Some("done")];
const TAGS: &[&[&str]] = &[
    &[],
    &["red"],
    &["blue", "red"],
    &["green"],
    &["red", "green", "blue"],
];
const DUES: &[Option<&str>] = &[
    None,
    Some("2024-01-01"),
    Some("2024-05-01"),
    Some("2024-05-02"),
    Some("2023-12-31"),
];
const RECORDS: usize = 48;

/// One condition of the native filter language.
#[derive(Debug, Clone)]
enum Leaf {
    /// `Name` (text) with a comparison or text operator and a value.
    Name(&'static str, &'static str),
    /// `Name` `in` a list.
    NameIn(Vec<&'static str>),
    /// `Qty` (number) with a comparison and a value.
    Qty(&'static str, f64),
    /// `Qty` `in` a list.
    QtyIn(Vec<f64>),
    /// `Status` (single select) `eq`/`neq` a choice.
    Status(&'static str, &'static str),
    /// `Status` `in` a list of choices.
    StatusIn(Vec<&'static str>),
    /// `Done` (checkbox) `eq`/`neq` a boolean.
    Done(&'static str, bool),
    /// `Tags` (multi select) `has_any`/`has_all` of choices.
    Tags(&'static str, Vec<&'static str>),
    /// `Due` (date) with a comparison and a day.
    Due(&'static str, &'static str),
    /// A field `is_empty` (true) or `is_not_empty` (false).
    Empty(&'static str, bool),
    /// `Qty` compared, or empty: the formula leans on blank being 0.
    QtyOrEmpty(&'static str, f64),
    /// `Name` compared, or empty: the formula leans on blank being `''`.
    NameOrEmpty(&'static str, &'static str),
}

/// A native filter tree.
#[derive(Debug, Clone)]
enum Node {
    Leaf(Leaf),
    And(Vec<Self>),
    Or(Vec<Self>),
    Not(Box<Self>),
}

fn leaf() -> impl Strategy<Value = Leaf> {
    let text_ops = prop::sample::select(vec![
        "eq",
        "neq",
        "lt",
        "lte",
        "gt",
        "gte",
        "contains",
        "not_contains",
        "starts_with",
    ]);
    let text_values = prop::sample::select(vec!["ann", "Ann", "b", "bob", "an", "AN", "nn b", "z"]);
    let cmp_ops = prop::sample::select(vec!["eq", "neq", "lt", "lte", "gt", "gte"]);
    let numbers = prop::sample::select(vec![0.0, 1.0, 2.5, -3.0, 5.0, 7.0, -0.5]);
    let names = prop::sample::select(vec!["ann", "Ann", "bob", "b", "zz"]);
    let statuses = prop::sample::select(vec!["todo", "doing", "done"]);
    let colours = prop::sample::subsequence(vec!["red", "blue", "green"], 1..=3);
    prop_oneof![
        (text_ops, text_values.clone()).prop_map(|(o, v)| Leaf::Name(o, v)),
        prop::collection::vec(names, 1..=3).prop_map(Leaf::NameIn),
        (cmp_ops.clone(), numbers.clone()).prop_map(|(o, v)| Leaf::Qty(o, v)),
        prop::collection::vec(numbers.clone(), 1..=3).prop_map(Leaf::QtyIn),
        (prop::sample::select(vec!["eq", "neq"]), statuses.clone())
            .prop_map(|(o, v)| Leaf::Status(o, v)),
        prop::collection::vec(statuses, 1..=2).prop_map(Leaf::StatusIn),
        (prop::sample::select(vec!["eq", "neq"]), any::<bool>())
            .prop_map(|(o, v)| Leaf::Done(o, v)),
        (prop::sample::select(vec!["has_any", "has_all"]), colours)
            .prop_map(|(o, v)| Leaf::Tags(o, v)),
        (
            cmp_ops.clone(),
            prop::sample::select(vec!["2024-05-01", "2024-01-01", "2023-12-31", "2024-06-30"])
        )
            .prop_map(|(o, v)| Leaf::Due(o, v)),
        (
            prop::sample::select(vec!["Name", "Qty", "Status", "Tags", "Due"]),
            any::<bool>()
        )
            .prop_map(|(f, e)| Leaf::Empty(f, e)),
        (cmp_ops.clone(), numbers.clone()).prop_map(|(o, v)| Leaf::QtyOrEmpty(o, v)),
        (cmp_ops.clone(), text_values.clone()).prop_map(|(o, v)| Leaf::NameOrEmpty(o, v)),
    ]
}

fn node() -> impl Strategy<Value = Node> {
    leaf()
        .prop_map(Node::Leaf)
        .prop_recursive(3, 16, 3, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 1..=3).prop_map(Node::And),
                prop::collection::vec(inner.clone(), 1..=3).prop_map(Node::Or),
                inner.prop_map(|n| Node::Not(Box::new(n))),
            ]
        })
}

/// The native filter JSON of `n`.
fn native(n: &Node) -> Value {
    match n {
        Node::And(p) => json!({"and": p.iter().map(native).collect::<Vec<_>>()}),
        Node::Or(p) => json!({"or": p.iter().map(native).collect::<Vec<_>>()}),
        Node::Not(i) => json!({"not": native(i)}),
        Node::Leaf(l) => match l {
            Leaf::Name(op, v) => json!({"field": "Name", "op": op, "value": v}),
            Leaf::NameIn(l) => json!({"field": "Name", "op": "in", "value": l}),
            Leaf::Qty(op, v) => json!({"field": "Qty", "op": op, "value": v}),
            Leaf::QtyIn(l) => json!({"field": "Qty", "op": "in", "value": l}),
            Leaf::Status(op, v) => json!({"field": "Status", "op": op, "value": v}),
            Leaf::StatusIn(l) => json!({"field": "Status", "op": "in", "value": l}),
            Leaf::Done(op, v) => json!({"field": "Done", "op": op, "value": v}),
            Leaf::Tags(op, l) => json!({"field": "Tags", "op": op, "value": l}),
            Leaf::Due(op, v) => json!({"field": "Due", "op": op, "value": v}),
            Leaf::Empty(f, true) => json!({"field": f, "op": "is_empty"}),
            Leaf::Empty(f, false) => json!({"field": f, "op": "is_not_empty"}),
            Leaf::QtyOrEmpty(op, v) => json!({"or": [
                {"field": "Qty", "op": op, "value": v},
                {"field": "Qty", "op": "is_empty"},
            ]}),
            Leaf::NameOrEmpty(op, v) => json!({"or": [
                {"field": "Name", "op": op, "value": v},
                {"field": "Name", "op": "is_empty"},
            ]}),
        },
    }
}

/// The formula operator of a native comparison.
fn formula_op(op: &str) -> &'static str {
    match op {
        "eq" => "=",
        "neq" => "!=",
        "lt" => "<",
        "lte" => "<=",
        "gt" => ">",
        _ => ">=",
    }
}

/// Whether `op` holds between `a` and `b`.
fn holds<T: PartialOrd + ?Sized>(op: &str, a: &T, b: &T) -> bool {
    match op {
        "eq" => a == b,
        "neq" => a != b,
        "lt" => a < b,
        "lte" => a <= b,
        "gt" => a > b,
        _ => a >= b,
    }
}

/// A formula test that a number field is empty (`{Qty} = BLANK()` would
/// also keep 0, blank being 0 in a formula).
const QTY_EMPTY: &str = "{Qty}&''=''";
const QTY_SET: &str = "{Qty}&''!=''";

/// The formula equivalent to `n`.
fn formula(n: &Node) -> String {
    let join = |name: &str, p: &[Node]| {
        let parts: Vec<String> = p.iter().map(formula).collect();
        format!("{name}({})", parts.join(", "))
    };
    match n {
        Node::And(p) => join("AND", p),
        Node::Or(p) => join("OR", p),
        Node::Not(i) => format!("NOT({})", formula(i)),
        Node::Leaf(l) => leaf_formula(l),
    }
}

fn leaf_formula(l: &Leaf) -> String {
    match l {
        Leaf::Name(op @ ("contains" | "not_contains" | "starts_with"), v) => {
            // Native text matching is ASCII case-insensitive, as SEARCH.
            let found = format!("SEARCH('{v}', {{Name}})");
            match *op {
                "contains" => found,
                "not_contains" => format!("NOT({found})"),
                _ => format!("{found}=1"),
            }
        }
        Leaf::Name(op, v) => {
            let f = format!("{{Name}}{}'{v}'", formula_op(op));
            // An empty text is '' in a formula, which sorts before any
            // value: guard where that would keep it and native would not.
            if *op != "neq" && holds(op, "", *v) {
                format!("AND({{Name}}!='', {f})")
            } else {
                f
            }
        }
        Leaf::NameIn(l) => {
            let parts: Vec<String> = l.iter().map(|v| format!("{{Name}}='{v}'")).collect();
            format!("OR({})", parts.join(", "))
        }
        Leaf::Qty(op, v) => {
            let f = format!("{{Qty}}{}{v}", formula_op(op));
            match (*op, holds(op, &0.0, v)) {
                // Native `neq` keeps empty cells; the formula's blank is 0.
                ("neq", false) => format!("OR({QTY_EMPTY}, {f})"),
                ("neq", true) => f,
                (_, true) => format!("AND({QTY_SET}, {f})"),
                (_, false) => f,
            }
        }
        Leaf::QtyIn(l) => {
            let parts: Vec<String> = l.iter().map(|v| format!("{{Qty}}={v}")).collect();
            let f = format!("OR({})", parts.join(", "));
            if l.contains(&0.0) {
                format!("AND({QTY_SET}, {f})")
            } else {
                f
            }
        }
        Leaf::Status(op, v) => format!("{{Status}}{}'{v}'", formula_op(op)),
        Leaf::StatusIn(l) => {
            let parts: Vec<String> = l.iter().map(|v| format!("{{Status}}='{v}'")).collect();
            format!("OR({})", parts.join(", "))
        }
        Leaf::Done(op, v) => {
            let b = if *v { "TRUE()" } else { "FALSE()" };
            format!("{{Done}}{}{b}", formula_op(op))
        }
        Leaf::Tags(op, l) => {
            let parts: Vec<String> = l
                .iter()
                .map(|v| format!("FIND('{v}', ARRAYJOIN({{Tags}}, ','))"))
                .collect();
            let f = if *op == "has_any" { "OR" } else { "AND" };
            format!("{f}({})", parts.join(", "))
        }
        // Where the formula's blank (0, or '') already passes the
        // comparison, the comparison alone is the whole filter: this is
        // what exercises the blank rules of the SQL lowering.
        Leaf::QtyOrEmpty(op, v) => {
            let f = format!("{{Qty}}{}{v}", formula_op(op));
            if holds(op, &0.0, v) {
                f
            } else {
                format!("OR({f}, {QTY_EMPTY})")
            }
        }
        Leaf::NameOrEmpty(op, v) => {
            let f = format!("{{Name}}{}'{v}'", formula_op(op));
            if holds(op, "", *v) {
                f
            } else {
                format!("OR({f}, {{Name}}='')")
            }
        }
        // A blank date compares with no instant: only `!=` holds, as in
        // the native filter, so no guard is needed.
        Leaf::Due(op, v) => format!("{{Due}}{}DATETIME_PARSE('{v}')", formula_op(op)),
        Leaf::Empty("Qty", true) => QTY_EMPTY.to_owned(),
        Leaf::Empty("Qty", false) => QTY_SET.to_owned(),
        Leaf::Empty("Tags", e) => format!("{{Tags}}{}BLANK()", if *e { "=" } else { "!=" }),
        Leaf::Empty(f, e) => format!("{{{f}}}{}''", if *e { "=" } else { "!=" }),
    }
}

/// A server with the table of the property, seeded.
struct World {
    s: TestServer,
    token: String,
    base: String,
    table: String,
    /// Every record id, in creation order.
    all: Vec<String>,
    _dir: tempfile::TempDir,
}

impl World {
    async fn start(database_url: Option<String>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut settings = settings_in(dir.path());
        settings.database_url = database_url
            .unwrap_or_else(|| format!("sqlite://{}", dir.path().join("pybase.db").display()));
        settings.airtable_rate_limit_per_base = 0;
        let s = TestServer::start_with(settings).await;
        let (token, _) = s.register().await;
        let ws = s.workspace(&token).await;
        let base = s
            .req(
                &token,
                Method::POST,
                &format!("/api/v1/workspaces/{ws}/bases"),
            )
            .json(&json!({"name": "Property"}))
            .send_created_id()
            .await;
        let table = s
            .req(
                &token,
                Method::POST,
                &format!("/v0/meta/bases/{base}/tables"),
            )
            .json(&json!({"name": "Items", "fields": [
                {"name": "Name", "type": "singleLineText"},
                {"name": "Qty", "type": "number", "options": {"precision": 2}},
                {"name": "Done", "type": "checkbox"},
                {"name": "Status", "type": "singleSelect", "options": {"choices": [
                    {"name": "todo"}, {"name": "doing"}, {"name": "done"}]}},
                {"name": "Tags", "type": "multipleSelects", "options": {"choices": [
                    {"name": "red"}, {"name": "blue"}, {"name": "green"}]}},
                {"name": "Due", "type": "date", "options": {"dateFormat": {"name": "iso"}}},
            ]}))
            .send_expect(StatusCode::OK)
            .await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let records: Vec<Value> = (0..RECORDS)
            .map(|i| {
                let mut fields = serde_json::Map::new();
                if let Some(n) = NAMES[i % NAMES.len()] {
                    fields.insert("Name".into(), json!(n));
                }
                if let Some(q) = QTYS[(i / 2) % QTYS.len()] {
                    fields.insert("Qty".into(), json!(q));
                }
                if let Some(d) = DONE[i % DONE.len()] {
                    fields.insert("Done".into(), json!(d));
                }
                if let Some(st) = STATUSES[(i / 3) % STATUSES.len()] {
                    fields.insert("Status".into(), json!(st));
                }
                if let Some(d) = DUES[(i / 4) % DUES.len()] {
                    fields.insert("Due".into(), json!(d));
                }
                let tags = TAGS[(i / 5) % TAGS.len()];
                if !tags.is_empty() {
                    fields.insert("Tags".into(), json!(tags));
                }
                json!({ "fields": fields })
            })
            .collect();
        let made = s
            .req(
                &token,
                Method::POST,
                &format!("/api/v1/tables/{table}/records"),
            )
            .json(&json!({ "records": records }))
            .send_expect(StatusCode::CREATED)
            .await;
        let all = made["records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_owned())
            .collect();
        Self {
            s,
            token,
            base,
            table,
            all,
            _dir: dir,
        }
    }

    /// The ids `/api/v1` keeps for the native `filter`, sorted.
    async fn native_ids(&self, filter: &Value) -> Result<Vec<String>, String> {
        let r = self
            .s
            .req(
                &self.token,
                Method::POST,
                &format!("/api/v1/tables/{}/records/query", self.table),
            )
            .json(&json!({"filter": filter, "page_size": 1000}))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = r.status();
        let v: Value = r.json().await.map_err(|e| e.to_string())?;
        if status != StatusCode::OK {
            return Err(format!("/api/v1 answered {status}: {v}"));
        }
        if !v["next_cursor"].is_null() {
            return Err(format!("/api/v1 answered more than one page: {v}"));
        }
        Ok(sorted_ids(&v["records"]))
    }

    /// The ids `/v0` keeps for `filterByFormula`, over every page, sorted.
    async fn formula_ids(&self, formula: &str) -> Result<Vec<String>, String> {
        let mut ids = Vec::new();
        let mut offset: Option<String> = None;
        loop {
            let mut body = json!({"filterByFormula": formula, "pageSize": 100});
            if let Some(o) = &offset {
                body["offset"] = json!(o);
            }
            let r = self
                .s
                .req(
                    &self.token,
                    Method::POST,
                    &format!("/v0/{}/{}/listRecords", self.base, self.table),
                )
                .json(&body)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            let status = r.status();
            let v: Value = r.json().await.map_err(|e| e.to_string())?;
            if status != StatusCode::OK {
                return Err(format!("/v0 answered {status}: {v}"));
            }
            ids.extend(sorted_ids(&v["records"]));
            match v["offset"].as_str() {
                Some(o) => offset = Some(o.to_owned()),
                None => break,
            }
        }
        ids.sort();
        Ok(ids)
    }
}

fn sorted_ids(records: &Value) -> Vec<String> {
    let mut ids: Vec<String> = records
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|r| r["id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    ids
}

/// Runs the property against one backend; answers how many cases kept
/// some but not all records (so the test is known to discriminate).
fn run_property(w: &World, backend: &str) -> u32 {
    let handle = tokio::runtime::Handle::current();
    let config = Config {
        cases: CASES,
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let partial = Cell::new(0u32);
    let result = tokio::task::block_in_place(|| {
        runner.run(&node(), |n| {
            let filter = native(&n);
            let formula = formula(&n);
            let (want, got) = handle
                .block_on(async { (w.native_ids(&filter).await, w.formula_ids(&formula).await) });
            let want = want.map_err(TestCaseError::fail)?;
            let got = got.map_err(TestCaseError::fail)?;
            if !want.is_empty() && want.len() < w.all.len() {
                partial.set(partial.get() + 1);
            }
            prop_assert_eq!(
                &want,
                &got,
                "on {}: native filter {} and filterByFormula {} keep different records",
                backend,
                filter,
                formula
            );
            Ok(())
        })
    });
    if let Err(e) = result {
        panic!("{backend}: {e}");
    }
    eprintln!(
        "{backend}: {CASES} random filters agree ({} kept some but not all records)",
        partial.get()
    );
    partial.get()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filter_by_formula_keeps_what_the_native_filter_keeps() {
    let sqlite = World::start(None).await;
    assert_eq!(sqlite.all.len(), RECORDS);
    let partial = run_property(&sqlite, "SQLite");
    assert!(
        partial >= CASES / 3,
        "only {partial} of {CASES} filters kept some but not all records"
    );
    drop(sqlite);
    let pg = [
        "PYBASE_TEST_SERVER_DATABASE_URL",
        "PYBASE_TEST_POSTGRES_URL",
    ]
    .iter()
    .find_map(|v| std::env::var(v).ok().filter(|u| !u.is_empty()));
    match pg {
        Some(url) => {
            let w = World::start(Some(url)).await;
            run_property(&w, "PostgreSQL");
        }
        None => eprintln!(
            "filter_by_formula_keeps_what_the_native_filter_keeps: PostgreSQL not configured, SQLite only"
        ),
    }
}
