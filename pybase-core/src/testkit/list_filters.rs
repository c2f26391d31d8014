//! Filters on list cells whose items are not all strings: lookups of
//! numbers, checkboxes and text (a reviewer found `is_not_empty` false and
//! `has_any` empty on a lookup of numbers). An item counts for
//! `is_empty` / `is_not_empty` unless it is null, and `has_any` /
//! `has_all` match an item by its text form (`10`, `3.5`, `true`), with
//! operands written as strings, numbers or booleans. Every answer is also
//! checked against the reference evaluator; multi select and link filters
//! keep their meaning.

use std::sync::Arc;

use serde_json::{Value, json};

use super::computed::{create, field, nf};
use super::fixture::{Fixture, assert_invalid};
use crate::facade::{FieldKey, QueryInput};
use crate::ids::TableId;
use crate::model::Record;
use crate::query::{Cursor, FilterSpec, RecordQuery, eval, resolve_filter};
use crate::store::Store;

/// Every stored record of `table`, as the store keeps it.
async fn raw_records(fx: &Fixture, table: TableId) -> Vec<Record> {
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let q = RecordQuery {
            table_id: table,
            filter: None,
            sort: vec![],
            after: after.clone(),
            limit: 1000,
            include_deleted: false,
            log_seq: false,
        };
        let page = fx.store.query_records(&q).await.expect("raw page");
        let last = page.records.last().map(|r| r.id);
        out.extend(page.records);
        if !page.has_more {
            return out;
        }
        after = last.map(|id| Cursor {
            values: vec![],
            id,
            query: 0,
            snapshot: None,
        });
    }
}

/// The names (field "Name") of `table`'s records matching `filter`,
/// sorted, after checking that the reference evaluator picks the same
/// records from the stored cells.
async fn matching(fx: &Fixture, table: TableId, filter: Value) -> Vec<String> {
    let page = fx
        .pb
        .query_records(
            &fx.owner,
            table,
            QueryInput {
                filter: Some(filter.clone()),
                page_size: Some(1000),
                ..QueryInput::default()
            },
            FieldKey::Name,
        )
        .await
        .unwrap_or_else(|e| panic!("query {filter}: {e:?}"));
    let mut got: Vec<_> = page.records.iter().map(|r| r.id).collect();
    got.sort();
    let fields = fx.store.list_fields(table).await.expect("fields");
    let resolved =
        resolve_filter(&FilterSpec::from_json(&filter).expect("parse"), &fields).expect("resolve");
    let mut want: Vec<_> = raw_records(fx, table)
        .await
        .into_iter()
        .filter(|r| eval::matches(&resolved, r))
        .map(|r| r.id)
        .collect();
    want.sort();
    assert_eq!(got, want, "the store and the reference differ on {filter}");
    let mut names: Vec<String> = page
        .records
        .iter()
        .map(|r| {
            r.fields
                .get("Name")
                .and_then(Value::as_str)
                .unwrap_or("?")
                .to_owned()
        })
        .collect();
    names.sort();
    names
}

/// The error a filter is refused with.
async fn refused(fx: &Fixture, table: TableId, filter: Value) -> crate::Error {
    fx.pb
        .query_records(
            &fx.owner,
            table,
            QueryInput {
                filter: Some(filter.clone()),
                ..QueryInput::default()
            },
            FieldKey::Name,
        )
        .await
        .expect_err(&format!("{filter} should be refused"))
}

/// `{"field", "op", "value"}`, without `value` when it is null.
fn cond(field: &str, op: &str, value: Value) -> Value {
    let mut c = serde_json::Map::new();
    c.insert("field".into(), json!(field));
    c.insert("op".into(), json!(op));
    if !value.is_null() {
        c.insert("value".into(), value);
    }
    Value::Object(c)
}

/// Lookups of a number (currency), a checkbox, a text field and an error
/// formula: `is_empty` / `is_not_empty` count every item but null;
/// `has_any` / `has_all` find numbers and booleans by their text, with
/// string, number and boolean operands alike; a number operand finds a
/// text item spelling it; objects, arrays and null are refused as
/// operands naming the field. Multi select and link filters are as
/// before.
pub async fn lookups_of_numbers_and_checkboxes_filter_by_every_item(store: Arc<dyn Store>) {
    let fx = Fixture::new(store).await;
    let items = fx.table.table.id;
    field(
        &fx,
        items,
        nf(
            "Bad",
            "formula",
            json!({ "formula": "IF({Name} = \"bad\", ERROR(), BLANK())" }),
        ),
    )
    .await;
    let ten = fx
        .create(&[
            ("Name", json!("10")),
            ("Price", json!(10)),
            ("Done", json!(true)),
            ("Tags", json!(["a"])),
        ])
        .await;
    let half = fx
        .create(&[
            ("Name", json!("x")),
            ("Price", json!(3.5)),
            ("Done", json!(false)),
            ("Tags", json!(["a", "b"])),
        ])
        .await;
    let blank = fx.create(&[]).await;
    let truth = fx
        .create(&[
            ("Name", json!("true")),
            ("Price", json!(0.1)),
            ("Done", json!(true)),
        ])
        .await;
    let bad = fx.create(&[("Name", json!("bad"))]).await;

    let orders = fx.other_table().await.table.id;
    field(
        &fx,
        orders,
        nf("Items", "link", json!({ "linked_table_id": items })),
    )
    .await;
    for (name, of) in [
        ("Prices", "Price"),
        ("Dones", "Done"),
        ("Names", "Name"),
        ("Bads", "Bad"),
    ] {
        field(
            &fx,
            orders,
            nf(
                name,
                "lookup",
                json!({ "link_field": "Items", "field": of }),
            ),
        )
        .await;
    }
    for (name, linked) in [
        ("ten", vec![ten.id]),
        ("half", vec![half.id]),
        ("both", vec![ten.id, half.id]),
        ("blank", vec![blank.id]),
        ("truth", vec![truth.id]),
        ("bad", vec![bad.id]),
    ] {
        create(
            &fx,
            orders,
            &[("Name", json!(name)), ("Items", json!(linked))],
        )
        .await;
    }
    create(&fx, orders, &[("Name", json!("none"))]).await;

    let raw = raw_records(&fx, orders).await;
    let fields = fx.store.list_fields(orders).await.expect("fields");
    let id_of = |name: &str| {
        fields
            .iter()
            .find(|f| f.name == name)
            .map(|f| f.id.to_string())
            .unwrap_or_else(|| panic!("no field {name}"))
    };
    let cell = |order: &str, lookup: &str| -> Option<Value> {
        raw.iter()
            .find(|r| r.cells.get(&id_of("Name")) == Some(&json!(order)))
            .and_then(|r| r.cells.get(&id_of(lookup)).cloned())
    };
    // The cells the filters read: numbers, booleans, strings, an error
    // object.
    assert_eq!(cell("both", "Prices"), Some(json!([10, 3.5])));
    assert_eq!(cell("truth", "Prices"), Some(json!([0.1])));
    assert_eq!(cell("ten", "Dones"), Some(json!([true])));
    assert_eq!(cell("both", "Names"), Some(json!(["10", "x"])));
    assert_eq!(cell("bad", "Bads"), Some(json!([{ "error": "#ERROR!" }])));
    assert_eq!(cell("blank", "Prices"), None);
    assert_eq!(cell("none", "Prices"), None);

    let fxr = &fx;
    let q = move |field: &str, op: &str, value: Value| {
        let f = cond(field, op, value);
        async move { matching(fxr, orders, f).await }
    };

    // Numbers.
    assert_eq!(
        q("Prices", "is_not_empty", Value::Null).await,
        ["both", "half", "ten", "truth"]
    );
    assert_eq!(
        q("Prices", "is_empty", Value::Null).await,
        ["bad", "blank", "none"]
    );
    assert_eq!(q("Prices", "has_any", json!(["10"])).await, ["both", "ten"]);
    assert_eq!(q("Prices", "has_any", json!([10])).await, ["both", "ten"]);
    assert_eq!(q("Prices", "has_any", json!(10)).await, ["both", "ten"]);
    assert_eq!(q("Prices", "has_any", json!([10.0])).await, ["both", "ten"]);
    assert_eq!(
        q("Prices", "has_any", json!(["3.5"])).await,
        ["both", "half"]
    );
    assert_eq!(q("Prices", "has_any", json!([0.1])).await, ["truth"]);
    assert_eq!(
        q("Prices", "has_any", json!([3.5, "0.1"])).await,
        ["both", "half", "truth"]
    );
    // Only the canonical text spells a number.
    assert!(q("Prices", "has_any", json!(["10.0"])).await.is_empty());
    assert!(q("Prices", "has_any", json!(["1e1"])).await.is_empty());
    assert!(q("Prices", "has_any", json!([7])).await.is_empty());
    assert_eq!(q("Prices", "has_all", json!([10, "3.5"])).await, ["both"]);
    assert_eq!(
        q("Prices", "has_all", json!(["10", 10])).await,
        ["both", "ten"]
    );
    assert!(q("Prices", "has_all", json!([10, 7])).await.is_empty());
    assert_eq!(
        matching(
            &fx,
            orders,
            json!({ "not": cond("Prices", "has_any", json!([3.5])) })
        )
        .await,
        ["bad", "blank", "none", "ten", "truth"]
    );
    assert_eq!(
        matching(
            &fx,
            orders,
            json!({ "not": cond("Prices", "is_empty", Value::Null) })
        )
        .await,
        ["both", "half", "ten", "truth"]
    );

    // Checkboxes: an unchecked (or never set) box is looked up as false.
    assert_eq!(cell("both", "Dones"), Some(json!([true, false])));
    assert_eq!(cell("blank", "Dones"), Some(json!([false])));
    assert_eq!(
        q("Dones", "has_any", json!([true])).await,
        ["both", "ten", "truth"]
    );
    assert_eq!(
        q("Dones", "has_any", json!(["true"])).await,
        ["both", "ten", "truth"]
    );
    assert_eq!(
        q("Dones", "is_not_empty", Value::Null).await,
        ["bad", "blank", "both", "half", "ten", "truth"]
    );
    assert_eq!(q("Dones", "is_empty", Value::Null).await, ["none"]);
    assert_eq!(
        q("Dones", "has_any", json!([false])).await,
        ["bad", "blank", "both", "half"]
    );
    assert_eq!(
        q("Dones", "has_all", json!([true, "false"])).await,
        ["both"]
    );
    assert!(q("Dones", "has_any", json!(["1"])).await.is_empty());

    // Text: a number or boolean operand finds the text spelling it.
    assert_eq!(q("Names", "has_any", json!([10])).await, ["both", "ten"]);
    assert_eq!(q("Names", "has_any", json!(["10"])).await, ["both", "ten"]);
    assert_eq!(q("Names", "has_any", json!([true])).await, ["truth"]);
    assert_eq!(q("Names", "has_all", json!([10, "x"])).await, ["both"]);
    assert_eq!(
        q("Names", "is_not_empty", Value::Null).await,
        ["bad", "both", "half", "ten", "truth"]
    );

    // An error item is an item (not empty) that no text matches.
    assert_eq!(q("Bads", "is_not_empty", Value::Null).await, ["bad"]);
    assert!(q("Bads", "has_any", json!(["#ERROR!"])).await.is_empty());
    assert!(q("Bads", "has_any", json!(["error"])).await.is_empty());

    // Operands that are not strings, numbers or booleans are refused,
    // naming the field.
    for bad_operand in [
        json!([null]),
        json!([{ "a": 1 }]),
        json!([[1]]),
        json!({ "a": 1 }),
        json!([]),
    ] {
        let e = refused(&fx, orders, cond("Prices", "has_any", bad_operand)).await;
        assert_invalid(&e, "Prices");
    }
    let e = refused(&fx, orders, cond("Names", "has_all", json!([1, null]))).await;
    assert_invalid(&e, "Names");

    // Links: ids as before; a number is no record id.
    assert_eq!(
        q("Items", "has_any", json!([ten.id])).await,
        ["both", "ten"]
    );
    assert_eq!(
        q("Items", "has_all", json!([ten.id, half.id])).await,
        ["both"]
    );
    assert_eq!(q("Items", "is_empty", Value::Null).await, ["none"]);
    assert_eq!(
        q("Items", "is_not_empty", Value::Null).await,
        ["bad", "blank", "both", "half", "ten", "truth"]
    );
    let e = refused(&fx, orders, cond("Items", "has_any", json!([10]))).await;
    assert_invalid(&e, "Items");

    // Multi select: choices as before; a number operand must be a choice.
    let tags = move |op: &str, value: Value| {
        let f = cond("Tags", op, value);
        async move { matching(fxr, items, f).await }
    };
    assert_eq!(tags("has_any", json!(["a"])).await, ["10", "x"]);
    assert_eq!(tags("has_any", json!("b")).await, ["x"]);
    assert_eq!(tags("has_all", json!(["a", "b"])).await, ["x"]);
    assert_eq!(tags("is_not_empty", Value::Null).await, ["10", "x"]);
    assert_eq!(tags("is_empty", Value::Null).await, ["?", "bad", "true"]);
    let e = fx
        .pb
        .query_records(
            &fx.owner,
            items,
            QueryInput {
                filter: Some(cond("Tags", "has_any", json!([1]))),
                ..QueryInput::default()
            },
            FieldKey::Name,
        )
        .await
        .expect_err("1 is no choice");
    assert_invalid(&e, "Tags");
}

/// The names of `table`'s records in the order of `sort`, walked one
/// record a page (so every cursor is used), checked against the reference
/// evaluator's order of the stored records.
async fn sorted_names(fx: &Fixture, table: TableId, sort: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut cursor = None;
    loop {
        let page = fx
            .pb
            .query_records(
                &fx.owner,
                table,
                QueryInput {
                    sort: Some(json!(sort)),
                    page_size: Some(1),
                    cursor,
                    ..QueryInput::default()
                },
                FieldKey::Name,
            )
            .await
            .unwrap_or_else(|e| panic!("sort {sort}: {e:?}"));
        names.extend(page.records.iter().map(|r| {
            r.fields
                .get("Name")
                .and_then(Value::as_str)
                .unwrap_or("?")
                .to_owned()
        }));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    let fields = fx.store.list_fields(table).await.expect("fields");
    let keys = crate::query::resolve_sort(
        &crate::query::SortSpec::from_json(&json!(sort)).expect("parse"),
        &fields,
    )
    .expect("resolve");
    let mut records = raw_records(fx, table).await;
    records.sort_by(|a, b| eval::compare_records(&keys, a, b));
    let name_field = fields.iter().find(|f| f.name == "Name").expect("Name").id;
    let want: Vec<String> = records
        .iter()
        .map(|r| {
            r.cells
                .get(name_field.as_str())
                .and_then(Value::as_str)
                .unwrap_or("?")
                .to_owned()
        })
        .collect();
    assert_eq!(
        names, want,
        "the store and the reference order {sort} differently"
    );
    names
}

/// A multiple select and a lookup sort by their first item's text, empty
/// cells last either way, through cursors; a link or an attachment field
/// is refused as a sort with a hint.
pub async fn lists_sort_by_their_first_text_item(store: Arc<dyn Store>) {
    let fx = Fixture::new(store).await;
    let items = fx.table.table.id;
    fx.create(&[("Name", json!("ba")), ("Tags", json!(["b", "a"]))])
        .await;
    let a = fx
        .create(&[("Name", json!("a")), ("Tags", json!(["a"]))])
        .await;
    fx.create(&[("Name", json!("none"))]).await;
    let c = fx
        .create(&[("Name", json!("c")), ("Tags", json!(["c"]))])
        .await;
    assert_eq!(
        sorted_names(&fx, items, "Tags").await,
        ["a", "ba", "c", "none"]
    );
    assert_eq!(
        sorted_names(&fx, items, "-Tags").await,
        ["c", "ba", "a", "none"]
    );
    let orders = fx.other_table().await.table.id;
    field(
        &fx,
        orders,
        nf("Items", "link", json!({ "linked_table_id": items })),
    )
    .await;
    field(
        &fx,
        orders,
        nf(
            "Item names",
            "lookup",
            json!({"link_field": "Items", "field": "Name"}),
        ),
    )
    .await;
    create(
        &fx,
        orders,
        &[("Name", json!("o-c")), ("Items", json!([c.id]))],
    )
    .await;
    create(
        &fx,
        orders,
        &[("Name", json!("o-a")), ("Items", json!([a.id, c.id]))],
    )
    .await;
    create(&fx, orders, &[("Name", json!("o-none"))]).await;
    assert_eq!(
        sorted_names(&fx, orders, "Item names").await,
        ["o-a", "o-c", "o-none"]
    );
    assert_eq!(
        sorted_names(&fx, orders, "-Item names,Name").await,
        ["o-c", "o-a", "o-none"]
    );
    for refused_sort in ["Items"] {
        let e = fx
            .pb
            .query_records(
                &fx.owner,
                orders,
                QueryInput {
                    sort: Some(json!(refused_sort)),
                    ..QueryInput::default()
                },
                FieldKey::Name,
            )
            .await
            .expect_err("a link sort is refused");
        assert_invalid(&e, refused_sort);
    }
}

/// A lookup of a number field sorts by its first number (numerically,
/// empty last either way, through cursors), as the looked-up field's type
/// says (a lookup saved before item types were kept learns it at the first
/// background-fill run); once that field is retyped to text, by its first
/// text.
pub async fn a_lookup_of_numbers_sorts_by_its_first_number(store: Arc<dyn Store>) {
    let fx = Fixture::new(store).await;
    let items = fx.table.table.id;
    let item = |q: i64| {
        let fx = &fx;
        async move { fx.create(&[("Qty", json!(q))]).await.id }
    };
    let (nine, ten, hundred) = (item(9).await, item(10).await, item(100).await);
    let orders = fx.other_table().await.table.id;
    field(
        &fx,
        orders,
        nf("Items", "link", json!({ "linked_table_id": items })),
    )
    .await;
    let qtys = field(
        &fx,
        orders,
        nf(
            "Qtys",
            "lookup",
            json!({"link_field": "Items", "field": "Qty"}),
        ),
    )
    .await;
    assert_eq!(qtys.field_type.options_json()["item_type"], json!("number"));
    // A lookup saved before item types were kept learns its type at the
    // first background-fill run.
    let mut old = qtys.clone();
    if let crate::fields::FieldType::Lookup(l) = &mut old.field_type {
        l.item_type = None;
    }
    fx.store.update_field(&old).await.unwrap();
    fx.pb.run_compute_fills().await.unwrap();
    let qtys = fx.pb.get_field(&fx.owner, qtys.id).await.unwrap();
    assert_eq!(qtys.field_type.options_json()["item_type"], json!("number"));
    for (name, linked) in [
        ("o-10", vec![ten]),
        ("o-9", vec![nine, hundred]),
        ("o-none", vec![]),
        ("o-100", vec![hundred]),
    ] {
        create(
            &fx,
            orders,
            &[("Name", json!(name)), ("Items", json!(linked))],
        )
        .await;
    }
    assert_eq!(
        sorted_names(&fx, orders, "Qtys").await,
        ["o-9", "o-10", "o-100", "o-none"]
    );
    assert_eq!(
        sorted_names(&fx, orders, "-Qtys").await,
        ["o-100", "o-10", "o-9", "o-none"]
    );
    // Retyped to text: the lookup's items are text, sorted as text.
    fx.pb
        .update_field(
            &fx.owner,
            fx.field("Qty"),
            crate::facade::FieldPatch {
                field_type: Some("text".into()),
                ..crate::facade::FieldPatch::default()
            },
        )
        .await
        .unwrap();
    let qtys = fx.pb.get_field(&fx.owner, qtys.id).await.unwrap();
    assert_eq!(qtys.field_type.options_json()["item_type"], json!("text"));
    assert_eq!(
        sorted_names(&fx, orders, "Qtys").await,
        ["o-10", "o-100", "o-9", "o-none"]
    );
}
