//! Retyping a field that computed fields read: each reader is checked
//! again against the new type. One that still checks with the result type
//! it had stays valid and follows the converted cells (a number retyped to
//! currency, a text read as text); the others read as `is_valid: false`
//! and keep their cells, as when the field is deleted, until a later
//! retype makes them check again.

use std::sync::Arc;

use serde_json::{Value, json};

use super::computed::{create, field, get, nf, table, update};
use super::fixture::Fixture;
use crate::facade::FieldPatch;
use crate::ids::{FieldId, TableId};
use crate::store::Store;

/// Retypes field `id` to `ty` with `options`.
async fn retype(fx: &Fixture, id: FieldId, ty: &str, options: Value) {
    fx.pb
        .update_field(
            &fx.owner,
            id,
            FieldPatch {
                field_type: Some(ty.into()),
                options: Some(options),
                ..FieldPatch::default()
            },
        )
        .await
        .unwrap_or_else(|e| panic!("retype to {ty}: {e:?}"));
}

/// `is_valid` of each named field of `table`, in the order named.
async fn validity(fx: &Fixture, table: TableId, names: &[&str]) -> Vec<bool> {
    let fields = fx.pb.get_table(&fx.owner, table).await.unwrap().fields;
    names
        .iter()
        .map(|n| {
            let f = fields.iter().find(|f| f.name == *n).unwrap();
            f.field_type.derived().is_some_and(|d| d.is_valid)
        })
        .collect()
}

/// A table "Orders" linking the fixture's table (link "Items") with a
/// lookup "Qtys", a rollup "Sum" (`SUM(values)`) of its `Qty` and a count
/// "N": the table and the link field.
async fn orders_reading_qty(fx: &Fixture) -> (TableId, crate::model::Field) {
    let orders = table(fx, "Orders").await;
    let link = field(
        fx,
        orders,
        nf(
            "Items",
            "link",
            json!({ "linked_table_id": fx.table.table.id }),
        ),
    )
    .await;
    for (name, ty, options) in [
        (
            "Qtys",
            "lookup",
            json!({ "link_field": "Items", "field": "Qty" }),
        ),
        (
            "Sum",
            "rollup",
            json!({ "link_field": "Items", "field": "Qty", "formula": "SUM(values)" }),
        ),
        ("N", "count", json!({ "link_field": "Items" })),
    ] {
        field(fx, orders, nf(name, ty, options)).await;
    }
    (orders, link)
}

/// A number retyped to currency keeps every reader valid; retyped again to
/// text, the readers that no longer check (arithmetic, a formula whose
/// result would be text) turn invalid with their cells kept, and those
/// that still do (a concatenation, a lookup, a count, a sum) follow the
/// new cells; retyped back to a number, the invalid ones check again and
/// are valid again.
pub async fn retyping_a_read_field_checks_its_readers_again(store: Arc<dyn Store>) {
    let fx = Fixture::new(store).await;
    let items = fx.table.table.id;
    for (name, formula) in [
        ("Twice", "{Qty} * 2"),
        ("Label", "{Qty} & \" pcs\""),
        ("Echo", "{Qty}"),
    ] {
        field(
            &fx,
            items,
            nf(name, "formula", json!({ "formula": formula })),
        )
        .await;
    }
    // A formula over a reader: valid as long as its reader is.
    field(
        &fx,
        items,
        nf(
            "Twice again",
            "formula",
            json!({ "formula": "{Twice} + 1" }),
        ),
    )
    .await;
    let (orders, _) = orders_reading_qty(&fx).await;
    let item = fx.create(&[("Qty", json!(3))]).await;
    let order = create(&fx, orders, &[("Items", json!([item.id]))]).await;
    assert_eq!(order.fields.get("Sum"), Some(&json!(3)));
    let item_readers = ["Twice", "Label", "Echo", "Twice again"];
    let order_readers = ["Qtys", "Sum", "N"];

    retype(
        &fx,
        fx.field("Qty"),
        "currency",
        json!({ "symbol": "€", "precision": 2 }),
    )
    .await;
    assert_eq!(validity(&fx, items, &item_readers).await, [true; 4]);
    assert_eq!(validity(&fx, orders, &order_readers).await, [true; 3]);
    // They still follow the field's cells.
    update(&fx, items, item.id, &[("Qty", json!(4.5))]).await;
    let r = get(&fx, items, item.id).await.fields;
    assert_eq!(
        (&r["Twice"], &r["Label"], &r["Echo"], &r["Twice again"]),
        (&json!(9), &json!("4.5 pcs"), &json!(4.5), &json!(10))
    );
    let o = get(&fx, orders, order.id).await.fields;
    assert_eq!((&o["Qtys"], &o["Sum"]), (&json!([4.5]), &json!(4.5)));

    retype(&fx, fx.field("Qty"), "text", Value::Null).await;
    assert_eq!(
        validity(&fx, items, &item_readers).await,
        [false, true, false, true],
        "arithmetic on text and a result now text are invalid; \
         a concatenation checks, and what reads an invalid field keeps its check"
    );
    assert_eq!(
        validity(&fx, orders, &order_readers).await,
        [true; 3],
        "a lookup, a count and a sum (of any list) still check"
    );
    // The readers left valid were computed from the converted cells; the
    // invalid ones keep their last values.
    let r = get(&fx, items, item.id).await.fields;
    assert_eq!(r["Qty"], json!("4.5"));
    assert_eq!(
        (&r["Twice"], &r["Label"], &r["Echo"]),
        (&json!(9), &json!("4.5 pcs"), &json!(4.5))
    );
    let o = get(&fx, orders, order.id).await.fields;
    // A sum of text items is 0, as Airtable's `SUM` skips text.
    assert_eq!((&o["Qtys"], &o["Sum"]), (&json!(["4.5"]), &json!(0)));
    update(&fx, items, item.id, &[("Qty", json!("7"))]).await;
    let r = get(&fx, items, item.id).await.fields;
    assert_eq!((&r["Twice"], &r["Label"]), (&json!(9), &json!("7 pcs")));
    let o = get(&fx, orders, order.id).await.fields;
    assert_eq!((&o["Qtys"], &o["Sum"]), (&json!(["7"]), &json!(0)));

    // Back to a number: the readers that check again are valid again and
    // computed from the converted cells.
    retype(&fx, fx.field("Qty"), "number", json!({ "precision": 0 })).await;
    assert_eq!(validity(&fx, items, &item_readers).await, [true; 4]);
    assert_eq!(validity(&fx, orders, &order_readers).await, [true; 3]);
    let r = get(&fx, items, item.id).await.fields;
    assert_eq!(
        (&r["Twice"], &r["Label"], &r["Echo"], &r["Twice again"]),
        (&json!(14), &json!("7 pcs"), &json!(7), &json!(15))
    );
    let o = get(&fx, orders, order.id).await.fields;
    assert_eq!((&o["Qtys"], &o["Sum"]), (&json!([7]), &json!(7)));
}

/// What a retype checks again keeps to the fields a reader named: a
/// formula made invalid by a deleted field is not revived by a retype of
/// another field it reads, even once a field takes the deleted one's name;
/// lookups and rollups through a link moved to another table read as
/// invalid (their field is not one of the new table's), a count stays.
pub async fn rechecks_keep_to_the_fields_a_reader_named(store: Arc<dyn Store>) {
    let fx = Fixture::new(store).await;
    let items = fx.table.table.id;
    let total = field(
        &fx,
        items,
        nf("Total", "formula", json!({ "formula": "{Qty} * {Stars}" })),
    )
    .await;
    let item = fx.create(&[("Qty", json!(2)), ("Stars", json!(3))]).await;
    fx.pb
        .delete_field(&fx.owner, fx.field("Stars"))
        .await
        .unwrap();
    field(&fx, items, nf("Stars", "number", json!({ "precision": 0 }))).await;
    update(&fx, items, item.id, &[("Stars", json!(1000))]).await;
    retype(
        &fx,
        fx.field("Qty"),
        "currency",
        json!({ "symbol": "$", "precision": 2 }),
    )
    .await;
    let got = fx.pb.get_field(&fx.owner, total.id).await.unwrap();
    assert_eq!(
        got.field_type.derived().map(|d| d.is_valid),
        Some(false),
        "not revived through another field named Stars"
    );
    assert_eq!(get(&fx, items, item.id).await.fields["Total"], json!(6));

    // A link moved to another table (allowed while its cells are empty).
    let (orders, link) = orders_reading_qty(&fx).await;
    let elsewhere = table(&fx, "Elsewhere").await;
    fx.pb
        .update_field(
            &fx.owner,
            link.id,
            FieldPatch {
                options: Some(json!({ "linked_table_id": elsewhere })),
                ..FieldPatch::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        validity(&fx, orders, &["Qtys", "Sum", "N"]).await,
        [false, false, true]
    );
}
