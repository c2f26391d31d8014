//! Computed fields as a reviewer used them (issue 12): whole numbers are
//! stored and shown as integers, a rollup's `MAX(values)` over dates is a
//! date, a formula naming its own field is a cycle of one, a formula
//! reading a link field sees the linked records' primary values (and
//! follows them), and a filter on a number formula never matches its
//! error cells.

use std::sync::Arc;

use serde_json::{Value, json};

use super::computed::{field, nf};
use super::fixture::{Fixture, cells};
use crate::Error;
use crate::facade::{FieldKey, QueryInput, TablePatch, WriteOptions};
use crate::ids::{RecordId, TableId};
use crate::store::Store;

async fn read(fx: &Fixture, table: TableId, id: RecordId) -> serde_json::Map<String, Value> {
    fx.pb
        .get_record(&fx.owner, table, id, FieldKey::Name)
        .await
        .expect("get record")
        .fields
}

/// The names of the fixture table's records matching `filter`, sorted.
async fn matching(fx: &Fixture, filter: Value) -> Vec<String> {
    fx.sorted_names(
        fx.table.table.id,
        QueryInput {
            filter: Some(filter),
            ..QueryInput::default()
        },
    )
    .await
}

/// A second table of the fixture's base with a link field "Items" to the
/// fixture's table.
async fn linked_orders(fx: &Fixture) -> TableId {
    let orders = fx.other_table().await.table.id;
    field(
        fx,
        orders,
        nf(
            "Items",
            "link",
            json!({ "linked_table_id": fx.table.table.id }),
        ),
    )
    .await;
    orders
}

/// Creates a record of `orders` linking to `items`.
async fn order(fx: &Fixture, orders: TableId, items: Value) -> crate::facade::RecordOut {
    fx.pb
        .create_record(
            &fx.owner,
            orders,
            cells(&[("Items", items)]),
            WriteOptions::default(),
        )
        .await
        .expect("create order")
}

/// A whole-number result is a JSON integer (FORMULA.md C.8: `30`, never
/// `30.0`), in a formula, a rollup, a count and a lookup's list; fractions
/// stay fractions.
pub async fn whole_numbers_are_integers(store: Arc<dyn Store>) {
    let fx = Fixture::new(store).await;
    let t = fx.table.table.id;
    field(
        &fx,
        t,
        nf("Total", "formula", json!({ "formula": "{Qty} * {Price}" })),
    )
    .await;
    field(
        &fx,
        t,
        nf("Half", "formula", json!({ "formula": "{Qty} / 4" })),
    )
    .await;
    let r = fx.create(&[("Qty", json!(15)), ("Price", json!(2))]).await;
    assert_eq!(r.fields.get("Total"), Some(&json!(30)));
    assert!(r.fields["Total"].is_i64(), "{:?}", r.fields["Total"]);
    assert_eq!(r.fields.get("Half"), Some(&json!(3.75)));
    let stored = read(&fx, t, r.id).await;
    assert!(stored["Total"].is_i64(), "{:?}", stored["Total"]);
    assert_eq!(serde_json::to_string(&stored["Total"]).unwrap(), "30");

    let orders = linked_orders(&fx).await;
    field(
        &fx,
        orders,
        nf(
            "Sum",
            "rollup",
            json!({ "link_field": "Items", "field": "Qty", "formula": "SUM(values)" }),
        ),
    )
    .await;
    field(
        &fx,
        orders,
        nf("N", "count", json!({ "link_field": "Items" })),
    )
    .await;
    field(
        &fx,
        orders,
        nf(
            "Totals",
            "lookup",
            json!({ "link_field": "Items", "field": "Total" }),
        ),
    )
    .await;
    let o = order(&fx, orders, json!([r.id])).await;
    let text = serde_json::to_string(&o.fields).unwrap();
    assert_eq!(o.fields.get("Sum"), Some(&json!(15)), "{text}");
    assert_eq!(o.fields.get("N"), Some(&json!(1)), "{text}");
    assert_eq!(o.fields.get("Totals"), Some(&json!([30])), "{text}");
    assert!(
        !text.contains(".0"),
        "no number written with a zero fraction: {text}"
    );
}

/// `MAX(values)` and `MIN(values)` of a rollup over a date field are dates
/// (the checker types `values` by the linked field), not `#ERROR!`; `SUM`
/// of a checkbox rollup counts the checked boxes.
pub async fn date_rollups_are_dates(store: Arc<dyn Store>) {
    let fx = Fixture::new(store).await;
    let orders = linked_orders(&fx).await;
    let latest = field(
        &fx,
        orders,
        nf(
            "Latest",
            "rollup",
            json!({ "link_field": "Items", "field": "Due", "formula": "MAX(values)" }),
        ),
    )
    .await;
    assert_eq!(
        latest.field_type.options_json()["result_type"],
        json!("date")
    );
    field(
        &fx,
        orders,
        nf(
            "Earliest",
            "rollup",
            json!({ "link_field": "Items", "field": "Due", "formula": "MIN(ARRAYUNIQUE(values))" }),
        ),
    )
    .await;
    field(
        &fx,
        orders,
        nf(
            "Checked",
            "rollup",
            json!({ "link_field": "Items", "field": "Done", "formula": "SUM(values)" }),
        ),
    )
    .await;
    let a = fx
        .create(&[("Due", json!("2026-03-01")), ("Done", json!(true))])
        .await;
    let b = fx.create(&[("Due", json!("2026-11-29"))]).await;
    let o = order(&fx, orders, json!([a.id, b.id])).await;
    assert_eq!(o.fields.get("Latest"), Some(&json!("2026-11-29")));
    assert_eq!(o.fields.get("Earliest"), Some(&json!("2026-03-01")));
    // A checkbox rollup's SUM counts the checked boxes.
    assert_eq!(o.fields.get("Checked"), Some(&json!(1)));
}

/// A formula naming its own field is refused as a cycle of one field,
/// whether the field is new or changed.
pub async fn a_formula_reading_itself_is_a_cycle(store: Arc<dyn Store>) {
    let fx = Fixture::new(store).await;
    let t = fx.table.table.id;
    let e = fx
        .pb
        .create_field(
            &fx.owner,
            t,
            nf("A", "formula", json!({ "formula": "{A} + 1" })),
        )
        .await
        .unwrap_err();
    match &e {
        Error::FormulaCycle { field, path } => {
            assert_eq!(field, "A");
            assert_eq!(path, &["A", "A"]);
        }
        other => panic!("expected a cycle, got {other:?}"),
    }
    let a = field(
        &fx,
        t,
        nf("A", "formula", json!({ "formula": "{Qty} + 1" })),
    )
    .await;
    let e = fx
        .pb
        .update_field(
            &fx.owner,
            a.id,
            crate::facade::FieldPatch {
                options: Some(json!({ "formula": "{a} * 2" })),
                ..crate::facade::FieldPatch::default()
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&e, Error::FormulaCycle { path, .. } if path == &["A", "A"]),
        "{e:?}"
    );
}

/// A formula reading a link field sees the linked records' primary field
/// values, follows edits of them, and follows a change of the linked
/// table's primary field.
pub async fn formulas_read_links_as_primary_values(store: Arc<dyn Store>) {
    let fx = Fixture::new(store).await;
    let t = fx.table.table.id;
    let orders = linked_orders(&fx).await;
    field(
        &fx,
        orders,
        nf(
            "Summary",
            "formula",
            json!({ "formula": "ARRAYJOIN({Items}, '+') & ' (' & COUNTA({Items}) & ')'" }),
        ),
    )
    .await;
    let a = fx
        .create(&[("Name", json!("apple")), ("Qty", json!(3))])
        .await;
    let b = fx
        .create(&[("Name", json!("pear")), ("Qty", json!(4))])
        .await;
    let o = order(&fx, orders, json!([a.id, b.id])).await;
    assert_eq!(o.fields.get("Summary"), Some(&json!("apple+pear (2)")));
    // An edit of a linked record's primary value reaches the formula.
    fx.pb
        .update_record(
            &fx.owner,
            t,
            a.id,
            cells(&[("Name", json!("fig"))]),
            WriteOptions::default(),
            false,
        )
        .await
        .expect("rename item");
    assert_eq!(
        read(&fx, orders, o.id).await.get("Summary"),
        Some(&json!("fig+pear (2)"))
    );
    // Another primary field: the formula is recomputed.
    fx.pb
        .update_table(
            &fx.owner,
            t,
            TablePatch {
                primary_field_id: Some("Qty".into()),
                ..TablePatch::default()
            },
        )
        .await
        .expect("change primary field");
    assert_eq!(
        read(&fx, orders, o.id).await.get("Summary"),
        Some(&json!("3+4 (2)"))
    );
    // A soft-deleted linked record drops out of the link's value (as from
    // the link cell's reads) and comes back on restore.
    fx.pb
        .delete_records(&fx.owner, t, &[b.id])
        .await
        .expect("delete item");
    assert_eq!(
        read(&fx, orders, o.id).await.get("Summary"),
        Some(&json!("3 (1)"))
    );
    fx.pb
        .restore_record(&fx.owner, t, b.id, FieldKey::Name)
        .await
        .expect("restore item");
    assert_eq!(
        read(&fx, orders, o.id).await.get("Summary"),
        Some(&json!("3+4 (2)"))
    );
}

/// A filter on a number formula compares only its numbers: an error cell
/// (`1/0`, `#ERROR!`) is not greater than anything, not equal to anything,
/// and not empty; the `formula=` filter agrees.
pub async fn filters_skip_error_cells(store: Arc<dyn Store>) {
    let fx = Fixture::new(store).await;
    let t = fx.table.table.id;
    field(
        &fx,
        t,
        nf(
            "Ratio",
            "formula",
            json!({ "formula": "IF({Qty} = 0, 1 / 0, IF({Qty} < 0, ERROR(), 100 / {Qty}))" }),
        ),
    )
    .await;
    for (name, qty) in [("two", 2), ("zero", 0), ("neg", -1), ("fifty", 50)] {
        fx.create(&[("Name", json!(name)), ("Qty", json!(qty))])
            .await;
    }
    fx.create(&[("Name", json!("none"))]).await;
    // none: Qty blank reads as 0 → 1/0 too.
    let gt = matching(&fx, json!({"field": "Ratio", "op": "gt", "value": 10})).await;
    assert_eq!(gt, ["two"]);
    let gte = matching(&fx, json!({"field": "Ratio", "op": "gte", "value": 2})).await;
    assert_eq!(gte, ["fifty", "two"]);
    let lt = matching(&fx, json!({"field": "Ratio", "op": "lt", "value": 1e300})).await;
    assert_eq!(lt, ["fifty", "two"]);
    let eq = matching(&fx, json!({"field": "Ratio", "op": "eq", "value": 50})).await;
    assert_eq!(eq, ["two"]);
    let empty = matching(&fx, json!({"field": "Ratio", "op": "is_empty"})).await;
    assert!(empty.is_empty(), "error cells are not empty: {empty:?}");
    let neq = matching(&fx, json!({"field": "Ratio", "op": "neq", "value": 50})).await;
    assert_eq!(neq, ["fifty", "neg", "none", "zero"]);
    let not_gt = matching(
        &fx,
        json!({"not": {"field": "Ratio", "op": "gt", "value": 10}}),
    )
    .await;
    assert_eq!(not_gt, ["fifty", "neg", "none", "zero"]);
    let page = fx
        .pb
        .query_records(
            &fx.owner,
            t,
            QueryInput {
                formula: Some("{Ratio} > 10".into()),
                ..QueryInput::default()
            },
            FieldKey::Name,
        )
        .await
        .expect("formula filter");
    let names: Vec<&str> = page
        .records
        .iter()
        .filter_map(|r| r.fields.get("Name").and_then(Value::as_str))
        .collect();
    assert_eq!(names, ["two"]);
}

/// A table created with computed fields in its field list resolves them as
/// adding them one by one would: references by id, result types along a
/// chain written in any order, a self-link's lookup, cycles refused.
pub async fn computed_fields_in_a_new_table(store: Arc<dyn Store>) {
    let fx = Fixture::new(store).await;
    let spec = |name: &str, ty: &str, options: Value| crate::facade::NewField {
        name: name.into(),
        field_type: ty.into(),
        options,
        description: None,
        indexed: false,
    };
    let made = fx
        .pb
        .create_table(
            &fx.owner,
            fx.base.id,
            crate::facade::NewTable {
                name: format!("Made {}", super::fixture::tag()),
                fields: vec![
                    spec("Name", "text", Value::Null),
                    spec("Plus", "formula", json!({ "formula": "{Double} + 1" })),
                    spec("Double", "formula", json!({ "formula": "{Qty} * 2" })),
                    spec("Qty", "number", json!({ "precision": 0 })),
                    spec(
                        "Label",
                        "formula",
                        json!({ "formula": "{Name} & ': ' & {Plus}" }),
                    ),
                ],
                ..crate::facade::NewTable::default()
            },
        )
        .await
        .expect("create table with formulas");
    let opts = |name: &str| {
        made.fields
            .iter()
            .find(|f| f.name == name)
            .map(|f| f.field_type.options_json())
            .unwrap_or_else(|| panic!("no field {name}"))
    };
    assert_eq!(opts("Plus")["result_type"], json!("number"));
    assert_eq!(opts("Double")["result_type"], json!("number"));
    assert_eq!(opts("Label")["result_type"], json!("text"));
    assert_eq!(opts("Plus")["is_valid"], json!(true));
    assert_eq!(opts("Plus")["formula"], json!("{Double} + 1"));
    let r = fx
        .pb
        .create_record(
            &fx.owner,
            made.table.id,
            cells(&[("Name", json!("x")), ("Qty", json!(4))]),
            WriteOptions::default(),
        )
        .await
        .expect("create record");
    assert_eq!(r.fields.get("Double"), Some(&json!(8)));
    assert_eq!(r.fields.get("Plus"), Some(&json!(9)));
    assert_eq!(r.fields.get("Label"), Some(&json!("x: 9")));

    let e = fx
        .pb
        .create_table(
            &fx.owner,
            fx.base.id,
            crate::facade::NewTable {
                name: format!("Loop {}", super::fixture::tag()),
                fields: vec![
                    spec("Name", "text", Value::Null),
                    spec("A", "formula", json!({ "formula": "{B} + 1" })),
                    spec("B", "formula", json!({ "formula": "{A} + 1" })),
                ],
                ..crate::facade::NewTable::default()
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(&e, Error::FormulaCycle { .. }), "{e:?}");
    let e = fx
        .pb
        .create_table(
            &fx.owner,
            fx.base.id,
            crate::facade::NewTable {
                name: format!("Bad {}", super::fixture::tag()),
                fields: vec![
                    spec("Name", "text", Value::Null),
                    spec("A", "formula", json!({ "formula": "{Nope} + 1" })),
                ],
                ..crate::facade::NewTable::default()
            },
        )
        .await
        .unwrap_err();
    match &e {
        Error::InvalidFormula { message, .. } => {
            assert!(message.starts_with("fields[1] \"A\": "), "{message}");
        }
        other => panic!("expected an invalid formula, got {other:?}"),
    }
}

/// Paging a sort on a number formula whose cells include errors (`1/0`,
/// `0/0`, `ERROR()`) returns every record once, in both directions and at
/// every page size: error cells order with the empty ones, and a cursor
/// taken on one continues where the order does.
pub async fn paging_a_sort_over_error_cells_loses_nothing(store: Arc<dyn Store>) {
    let fx = Fixture::new(store).await;
    let t = fx.table.table.id;
    let r = field(
        &fx,
        t,
        nf(
            "R",
            "formula",
            json!({ "formula": "IF({Stars} = 1, ERROR(), {Qty} / {Price})" }),
        ),
    )
    .await;
    let rows = [
        ("n1", json!(1), json!(2), json!(3)),
        ("inf", json!(1), json!(0), json!(3)),
        ("nan", json!(0), json!(0), json!(3)),
        ("n2", json!(3), json!(1), json!(3)),
        ("inf2", json!(5), json!(0), json!(3)),
        ("err", json!(5), json!(1), json!(1)),
        ("err2", json!(6), json!(1), json!(1)),
    ];
    let all = rows.len() + 1;
    for (name, qty, price, stars) in rows {
        fx.create(&[
            ("Name", json!(name)),
            ("Qty", qty),
            ("Price", price),
            ("Stars", stars),
        ])
        .await;
    }
    fx.create(&[("Name", json!("blank")), ("Qty", json!(1))])
        .await;
    let mut orders = Vec::new();
    for indexed in [false, true] {
        if indexed {
            // Indexed, a descending page may walk the field's index.
            fx.pb
                .update_field(
                    &fx.owner,
                    r.id,
                    crate::facade::FieldPatch {
                        indexed: Some(true),
                        ..crate::facade::FieldPatch::default()
                    },
                )
                .await
                .expect("index R");
        }
        for sort in ["R", "-R"] {
            let whole = page_names(&fx, sort, 100).await;
            assert_eq!(whole.len(), all, "{sort}: {whole:?}");
            for size in [1, 2, 3] {
                let paged = page_names(&fx, sort, size).await;
                assert_eq!(paged, whole, "{sort} in pages of {size}, indexed {indexed}");
            }
            orders.push(whole);
        }
    }
    // The index changes no order.
    assert_eq!(orders[0], orders[2]);
    assert_eq!(orders[1], orders[3]);
}

/// The names of the fixture table's records sorted by `sort`, read page by
/// page (`size` records a page) through the cursors.
async fn page_names(fx: &Fixture, sort: &str, size: usize) -> Vec<String> {
    let mut names = Vec::new();
    let mut cursor = None;
    for _ in 0..100 {
        let page = fx
            .pb
            .query_records(
                &fx.owner,
                fx.table.table.id,
                QueryInput {
                    sort: Some(json!(sort)),
                    page_size: Some(size),
                    cursor: cursor.take(),
                    ..QueryInput::default()
                },
                FieldKey::Name,
            )
            .await
            .expect("page");
        names.extend(page.records.iter().filter_map(|r| {
            r.fields
                .get("Name")
                .and_then(Value::as_str)
                .map(String::from)
        }));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => return names,
        }
    }
    panic!("more than 100 pages: {names:?}");
}

/// A primary field that would make a formula read itself (a formula
/// reading a link reads the linked table's primary field) is refused as a
/// cycle with its path, and nothing changes: the old primary stays and
/// the records can still be written.
pub async fn a_primary_field_closing_a_cycle_is_refused(store: Arc<dyn Store>) {
    let fx = Fixture::new(store).await;
    let a = fx.table.table.id;
    let b = linked_orders(&fx).await;
    let b_schema = fx.pb.get_table(&fx.owner, b).await.expect("table b");
    let b_primary = b_schema.table.primary_field_id;
    // A.F reads A's link to B (so B's primary field); B.G reads B's link
    // to A (so A's primary field).
    let link_to_b = field(&fx, a, nf("ToB", "link", json!({ "linked_table_id": b }))).await;
    let f = field(
        &fx,
        a,
        nf(
            "F",
            "formula",
            json!({ "formula": "ARRAYJOIN({ToB}) & '!'" }),
        ),
    )
    .await;
    let g = field(
        &fx,
        b,
        nf(
            "G",
            "formula",
            json!({ "formula": "ARRAYJOIN({Items}) & '?'" }),
        ),
    )
    .await;
    let item = fx.create(&[("Name", json!("a1"))]).await;
    let o = order(&fx, b, json!([item.id])).await;
    let _ = link_to_b;
    // F as A's primary: fine (B's primary is still its text field).
    fx.pb
        .update_table(
            &fx.owner,
            a,
            TablePatch {
                primary_field_id: Some(f.id.to_string()),
                ..TablePatch::default()
            },
        )
        .await
        .expect("F as primary");
    // G as B's primary would close F -> G -> F.
    let e = fx
        .pb
        .update_table(
            &fx.owner,
            b,
            TablePatch {
                primary_field_id: Some(g.id.to_string()),
                ..TablePatch::default()
            },
        )
        .await
        .unwrap_err();
    match &e {
        Error::FormulaCycle { path, .. } => {
            assert_eq!(path.first(), path.last(), "{path:?}");
            assert!(path.contains(&"F".to_string()), "{path:?}");
            assert!(path.contains(&"G".to_string()), "{path:?}");
        }
        other => panic!("expected a cycle, got {other:?}"),
    }
    let after = fx.pb.get_table(&fx.owner, b).await.expect("table b");
    assert_eq!(after.table.primary_field_id, b_primary, "nothing changed");
    // Both tables' records are still writable.
    fx.pb
        .update_record(
            &fx.owner,
            b,
            o.id,
            cells(&[("Name", json!("zz"))]),
            WriteOptions::default(),
            false,
        )
        .await
        .expect("write b");
    fx.pb
        .update_record(
            &fx.owner,
            a,
            item.id,
            cells(&[("Name", json!("a2"))]),
            WriteOptions::default(),
            false,
        )
        .await
        .expect("write a");
}

/// A field whose options change rewrites its cells (a lower precision, a
/// renamed choice): the formulas of its table and the lookups and rollups
/// through a link that read it are computed again, as after a write of
/// those cells. Deleting the table a link points at leaves the lookups,
/// rollups and counts through that link invalid, their cells kept, also
/// after a later edit of the record.
pub async fn option_changes_recompute_readers(store: Arc<dyn Store>) {
    use super::computed::{create, table, update};
    use crate::facade::FieldPatch;
    let fx = Fixture::new(store).await;
    let o = &fx.owner;
    let items = fx.table.table.id;
    field(
        &fx,
        items,
        nf("Twice", "formula", json!({ "formula": "{Price} * 2" })),
    )
    .await;
    field(
        &fx,
        items,
        nf("Said", "formula", json!({ "formula": "{Status} & '!'" })),
    )
    .await;
    let orders = table(&fx, "Orders").await;
    field(
        &fx,
        orders,
        nf("Item", "link", json!({ "linked_table_id": items })),
    )
    .await;
    for (name, ty, options) in [
        (
            "Prices",
            "lookup",
            json!({ "link_field": "Item", "field": "Price" }),
        ),
        (
            "Total",
            "rollup",
            json!({ "link_field": "Item", "field": "Price", "formula": "SUM(values)" }),
        ),
        ("Lines", "count", json!({ "link_field": "Item" })),
    ] {
        field(&fx, orders, nf(name, ty, options)).await;
    }
    let item = create(
        &fx,
        items,
        &[
            ("Name", json!("i")),
            ("Price", json!(1.26)),
            ("Status", json!("Open")),
        ],
    )
    .await;
    let order = create(
        &fx,
        orders,
        &[("Name", json!("o")), ("Item", json!([item.id]))],
    )
    .await;
    assert_eq!(read(&fx, items, item.id).await["Twice"], json!(2.52));
    assert_eq!(read(&fx, orders, order.id).await["Total"], json!(1.26));
    let options = |options: Value| FieldPatch {
        options: Some(options),
        ..Default::default()
    };
    // Price loses a digit: 1.26 is stored as 1.3.
    fx.pb
        .update_field(o, fx.field("Price"), options(json!({ "precision": 1 })))
        .await
        .unwrap();
    let i = read(&fx, items, item.id).await;
    assert_eq!(
        (i["Price"].clone(), i["Twice"].clone()),
        (json!(1.3), json!(2.6))
    );
    let r = read(&fx, orders, order.id).await;
    assert_eq!(r["Prices"], json!([1.3]));
    assert_eq!(r["Total"], json!(1.3));
    // "Open" is renamed "Opened": the cell, then the formula reading it,
    // and a view's condition naming it.
    let view = fx
        .pb
        .create_view(
            o,
            items,
            crate::facade::NewView {
                name: "Open ones".into(),
                view_type: None,
                config: json!({ "filter": { "and": [
                    { "field": "Status", "op": "eq", "value": "Open" },
                    { "field": "Name", "op": "eq", "value": "i" },
                ] } }),
            },
        )
        .await
        .unwrap();
    let status = fx.field("Status");
    let choices = fx
        .pb
        .get_field(o, status)
        .await
        .unwrap()
        .field_type
        .choices()
        .iter()
        .map(|c| {
            let mut c = serde_json::to_value(c).unwrap();
            if c["name"] == json!("Open") {
                c["name"] = json!("Opened");
            }
            c
        })
        .collect::<Vec<_>>();
    fx.pb
        .update_field(o, status, options(json!({ "choices": choices })))
        .await
        .unwrap();
    assert_eq!(read(&fx, items, item.id).await["Said"], json!("Opened!"));
    let in_view = fx
        .pb
        .query_records(
            o,
            items,
            QueryInput {
                view: Some(view.id.to_string()),
                ..QueryInput::default()
            },
            FieldKey::Name,
        )
        .await
        .unwrap();
    assert_eq!(
        in_view.records.len(),
        1,
        "the view still selects the choice"
    );
    let filter = fx.pb.get_view(o, view.id).await.unwrap().config.filter;
    assert!(
        filter
            .as_ref()
            .is_some_and(|f| f.to_string().contains("\"Opened\"")),
        "{filter:?}"
    );
    // The items table goes: Orders' link becomes text, and what read
    // through it keeps its cells as invalid, also after an edit.
    fx.pb.delete_table(o, items).await.unwrap();
    let fields = fx.pb.get_table(o, orders).await.unwrap().fields;
    for name in ["Prices", "Total", "Lines"] {
        let f = fields.iter().find(|f| f.name == name).unwrap();
        let valid = f.field_type.derived().map(|d| d.is_valid);
        assert_eq!(valid, Some(false), "{name} reads through a deleted table");
    }
    update(&fx, orders, order.id, &[("Name", json!("o2"))]).await;
    let r = read(&fx, orders, order.id).await;
    assert_eq!(r["Item"], json!("i"));
    assert_eq!(
        (r["Total"].clone(), r["Lines"].clone()),
        (json!(1.3), json!(1))
    );
    assert_eq!(r["Prices"], json!([1.3]));
}

/// A lookup of a link field holds the ids that field links (as Airtable's
/// API answers it), here the records linking back through the inverse
/// (a reviewer found it empty: the linked records' titles were read).
pub async fn a_lookup_of_a_link_holds_its_ids(store: Arc<dyn Store>) {
    let fx = Fixture::new(store).await;
    let o = &fx.owner;
    let other = fx.other_table().await.table.id;
    let link = field(
        &fx,
        fx.table.table.id,
        nf("Link", "link", json!({"linked_table_id": other})),
    )
    .await;
    let inverse = link.field_type.inverse_field_id().expect("two-way");
    field(
        &fx,
        fx.table.table.id,
        nf(
            "Back",
            "lookup",
            json!({"link_field": "Link", "field": inverse.to_string()}),
        ),
    )
    .await;
    let o1 = fx
        .pb
        .create_record(
            o,
            other,
            cells(&[("Name", json!("o1"))]),
            WriteOptions::default(),
        )
        .await
        .unwrap();
    let i1 = fx
        .create(&[("Name", json!("i1")), ("Link", json!([o1.id]))])
        .await;
    let i2 = fx
        .create(&[("Name", json!("i2")), ("Link", json!([o1.id]))])
        .await;
    assert_eq!(
        read(&fx, fx.table.table.id, i1.id).await["Back"],
        json!([i1.id, i2.id])
    );
    assert_eq!(
        read(&fx, fx.table.table.id, i2.id).await["Back"],
        json!([i1.id, i2.id])
    );
}
