//! Computed fields through the facade (issue 12): formula cells on the
//! same record, lookups, rollups and counts across links, a chain across
//! three tables, self-links, link changes, deletes and restores, cycles
//! refused with their path, invalidation, filters and sorts on a computed
//! field, and writes refused.

use std::sync::Arc;

use serde_json::{Value, json};

use super::fixture::{Fixture, assert_invalid, cells};
use crate::Error;
use crate::facade::{
    FieldKey, FieldPatch, NewField, NewTable, QueryInput, RecordOut, WriteOptions,
};
use crate::ids::{RecordId, TableId};
use crate::model::Field;
use crate::store::Store;

/// A field spec (shared by the computed-field case files).
pub(super) fn nf(name: &str, ty: &str, options: Value) -> NewField {
    NewField {
        name: name.into(),
        field_type: ty.into(),
        options,
        description: None,
        indexed: false,
    }
}

/// Creates `spec` in `table` as the owner.
pub(super) async fn field(fx: &Fixture, table: TableId, spec: NewField) -> Field {
    fx.pb
        .create_field(&fx.owner, table, spec)
        .await
        .unwrap_or_else(|e| panic!("create field: {e:?}"))
}

/// Creates a table named `name` (made unique) in the fixture's base.
pub(super) async fn table(fx: &Fixture, name: &str) -> TableId {
    fx.pb
        .create_table(
            &fx.owner,
            fx.base.id,
            NewTable {
                name: format!("{name} {}", super::fixture::tag()),
                ..NewTable::default()
            },
        )
        .await
        .expect("create table")
        .table
        .id
}

/// Creates one record of `table` as the owner.
pub(super) async fn create(fx: &Fixture, table: TableId, pairs: &[(&str, Value)]) -> RecordOut {
    fx.pb
        .create_record(&fx.owner, table, cells(pairs), WriteOptions::default())
        .await
        .unwrap_or_else(|e| panic!("create record: {e:?}"))
}

/// Updates record `id` of `table` as the owner.
pub(super) async fn update(
    fx: &Fixture,
    table: TableId,
    id: RecordId,
    pairs: &[(&str, Value)],
) -> RecordOut {
    fx.pb
        .update_record(
            &fx.owner,
            table,
            id,
            cells(pairs),
            WriteOptions::default(),
            false,
        )
        .await
        .unwrap_or_else(|e| panic!("update record: {e:?}"))
}

/// Reads record `id` of `table` as the owner (fields by name).
pub(super) async fn get(fx: &Fixture, table: TableId, id: RecordId) -> RecordOut {
    fx.pb
        .get_record(&fx.owner, table, id, FieldKey::Name)
        .await
        .expect("get record")
}

/// A formula over the same record is computed on create and update, read
/// back, and refuses writes naming the field.
pub async fn formula_on_the_same_record(store: Arc<dyn Store>) {
    let fx = Fixture::new(store).await;
    let t = fx.table.table.id;
    let total = field(
        &fx,
        t,
        nf("Total", "formula", json!({ "formula": "{Qty} * {Price}" })),
    )
    .await;
    assert_eq!(
        total.field_type.options_json()["result_type"],
        json!("number")
    );
    let opts = total.field_type.options_json();
    let refs = opts["referenced_field_ids"].as_array().unwrap();
    assert_eq!(refs.len(), 2, "{opts}");
    let r = fx.create(&[("Qty", json!(3)), ("Price", json!(2.5))]).await;
    assert_eq!(r.fields.get("Total"), Some(&json!(7.5)));
    let r = update(&fx, t, r.id, &[("Qty", json!(4))]).await;
    assert_eq!(r.fields.get("Total"), Some(&json!(10)));
    assert_eq!(
        get(&fx, t, r.id).await.fields.get("Total"),
        Some(&json!(10))
    );
    // A formula reading another formula comes after it.
    field(
        &fx,
        t,
        nf("Double", "formula", json!({ "formula": "{Total} * 2" })),
    )
    .await;
    let r = update(&fx, t, r.id, &[("Price", json!(1))]).await;
    assert_eq!(r.fields.get("Total"), Some(&json!(4)));
    assert_eq!(r.fields.get("Double"), Some(&json!(8)));
    // Writes are refused naming the field.
    let e = fx.create_err(&[("Total", json!(1))], false).await;
    assert_invalid(&e, "Total");
    // An unknown field is refused with its position.
    let e = fx
        .pb
        .create_field(
            &fx.owner,
            t,
            nf("Bad", "formula", json!({ "formula": "{Nope} + 1" })),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, Error::InvalidFormula { start: 0, .. }), "{e:?}");
}

/// A new formula field fills the records that exist.
pub async fn new_formula_fills_existing_records(store: Arc<dyn Store>) {
    let fx = Fixture::new(store).await;
    let t = fx.table.table.id;
    let a = fx.create(&[("Qty", json!(2)), ("Name", json!("x"))]).await;
    let b = fx.create(&[("Qty", json!(5))]).await;
    field(
        &fx,
        t,
        nf(
            "Big",
            "formula",
            json!({ "formula": "IF({Qty} > 3, \"big\", \"small\")" }),
        ),
    )
    .await;
    assert_eq!(
        get(&fx, t, a.id).await.fields.get("Big"),
        Some(&json!("small"))
    );
    assert_eq!(
        get(&fx, t, b.id).await.fields.get("Big"),
        Some(&json!("big"))
    );
}

/// Lookup, rollup and count through a link: kept current when the linked
/// record changes, when links change, and on delete and restore.
pub async fn lookup_rollup_count_follow_links(store: Arc<dyn Store>) {
    let fx = Fixture::new(store).await;
    let items = fx.table.table.id;
    let orders = table(&fx, "Orders").await;
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
            "Qtys",
            "lookup",
            json!({ "link_field": "Items", "field": "Qty" }),
        ),
    )
    .await;
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
    let i1 = fx.create(&[("Qty", json!(2))]).await;
    let i2 = fx.create(&[("Qty", json!(5))]).await;
    let o = create(&fx, orders, &[("Items", json!([i1.id, i2.id]))]).await;
    assert_eq!(o.fields.get("Qtys"), Some(&json!([2, 5])));
    assert_eq!(o.fields.get("Sum"), Some(&json!(7)));
    assert_eq!(o.fields.get("N"), Some(&json!(2)));
    // The linked record changes: the order follows, in the same write.
    update(&fx, items, i1.id, &[("Qty", json!(10))]).await;
    let o2 = get(&fx, orders, o.id).await;
    assert_eq!(o2.fields.get("Sum"), Some(&json!(15)));
    assert_eq!(o2.fields.get("Qtys"), Some(&json!([10, 5])));
    // A link change.
    let o3 = update(&fx, orders, o.id, &[("Items", json!([i2.id]))]).await;
    assert_eq!(o3.fields.get("Sum"), Some(&json!(5)));
    assert_eq!(o3.fields.get("N"), Some(&json!(1)));
    // Delete and restore of a linked record.
    fx.pb
        .delete_records(&fx.owner, items, &[i2.id])
        .await
        .unwrap();
    let o4 = get(&fx, orders, o.id).await;
    assert_eq!(o4.fields.get("N"), Some(&json!(0)));
    assert_eq!(o4.fields.get("Sum"), Some(&json!(0)));
    assert_eq!(o4.fields.get("Qtys"), None);
    fx.pb
        .restore_record(&fx.owner, items, i2.id, FieldKey::Name)
        .await
        .unwrap();
    let o5 = get(&fx, orders, o.id).await;
    assert_eq!(o5.fields.get("N"), Some(&json!(1)));
    assert_eq!(o5.fields.get("Sum"), Some(&json!(5)));
}

/// A rollup of a lookup of a formula across three tables stays current
/// when the first table's input changes.
pub async fn chain_across_three_tables(store: Arc<dyn Store>) {
    let fx = Fixture::new(store).await;
    let items = fx.table.table.id;
    field(
        &fx,
        items,
        nf("Total", "formula", json!({ "formula": "{Qty} * {Price}" })),
    )
    .await;
    let lines = table(&fx, "Lines").await;
    field(
        &fx,
        lines,
        nf("Item", "link", json!({ "linked_table_id": items })),
    )
    .await;
    field(
        &fx,
        lines,
        nf(
            "Totals",
            "lookup",
            json!({ "link_field": "Item", "field": "Total" }),
        ),
    )
    .await;
    let orders = table(&fx, "Orders").await;
    field(
        &fx,
        orders,
        nf("Lines", "link", json!({ "linked_table_id": lines })),
    )
    .await;
    field(
        &fx,
        orders,
        nf(
            "Amount",
            "rollup",
            json!({ "link_field": "Lines", "field": "Totals", "formula": "SUM(values)" }),
        ),
    )
    .await;
    let i = fx.create(&[("Qty", json!(2)), ("Price", json!(3))]).await;
    let l1 = create(&fx, lines, &[("Item", json!([i.id]))]).await;
    let l2 = create(&fx, lines, &[("Item", json!([i.id]))]).await;
    let o = create(&fx, orders, &[("Lines", json!([l1.id, l2.id]))]).await;
    assert_eq!(o.fields.get("Amount"), Some(&json!(12)));
    update(&fx, items, i.id, &[("Qty", json!(5))]).await;
    assert_eq!(
        get(&fx, orders, o.id).await.fields.get("Amount"),
        Some(&json!(30))
    );
}

/// A self-link: a count of the records a record links to in its own
/// table, kept current when they are deleted.
pub async fn self_links(store: Arc<dyn Store>) {
    let fx = Fixture::new(store).await;
    let t = fx.table.table.id;
    field(&fx, t, nf("Parts", "link", json!({ "linked_table_id": t }))).await;
    field(
        &fx,
        t,
        nf(
            "PartQty",
            "rollup",
            json!({ "link_field": "Parts", "field": "Qty", "formula": "SUM(values)" }),
        ),
    )
    .await;
    let a = fx.create(&[("Qty", json!(4))]).await;
    let b = fx.create(&[("Qty", json!(6))]).await;
    let top = fx.create(&[("Parts", json!([a.id, b.id]))]).await;
    assert_eq!(top.fields.get("PartQty"), Some(&json!(10)));
    update(&fx, t, a.id, &[("Qty", json!(1))]).await;
    assert_eq!(
        get(&fx, t, top.id).await.fields.get("PartQty"),
        Some(&json!(7))
    );
    fx.pb.delete_records(&fx.owner, t, &[b.id]).await.unwrap();
    assert_eq!(
        get(&fx, t, top.id).await.fields.get("PartQty"),
        Some(&json!(1))
    );
}

/// A field that would make a cycle is refused naming the path.
pub async fn cycles_are_refused_with_their_path(store: Arc<dyn Store>) {
    let fx = Fixture::new(store).await;
    let t = fx.table.table.id;
    let a = field(
        &fx,
        t,
        nf("A", "formula", json!({ "formula": "{Qty} + 1" })),
    )
    .await;
    field(&fx, t, nf("B", "formula", json!({ "formula": "{A} + 1" }))).await;
    let e = fx
        .pb
        .update_field(
            &fx.owner,
            a.id,
            FieldPatch {
                options: Some(json!({ "formula": "{B} + 1" })),
                ..FieldPatch::default()
            },
        )
        .await
        .unwrap_err();
    match &e {
        Error::FormulaCycle { field, path } => {
            assert_eq!(field, "A");
            assert_eq!(path, &["A", "B", "A"]);
            assert!(e.to_string().contains("A → B → A"), "{e}");
        }
        other => panic!("expected a cycle, got {other:?}"),
    }
}

/// Deleting a referenced field makes dependents `is_valid: false` and
/// keeps their cells.
pub async fn deleting_a_reference_invalidates_dependents(store: Arc<dyn Store>) {
    let fx = Fixture::new(store).await;
    let t = fx.table.table.id;
    let f = field(
        &fx,
        t,
        nf("Twice", "formula", json!({ "formula": "{Stars} * 2" })),
    )
    .await;
    let r = fx.create(&[("Stars", json!(2))]).await;
    assert_eq!(r.fields.get("Twice"), Some(&json!(4)));
    fx.pb
        .delete_field(&fx.owner, fx.field("Stars"))
        .await
        .unwrap();
    let after = fx.pb.get_field(&fx.owner, f.id).await.unwrap();
    assert_eq!(after.field_type.options_json()["is_valid"], json!(false));
    assert_eq!(get(&fx, t, r.id).await.fields.get("Twice"), Some(&json!(4)));
    // Writes to the record still work; the invalid field is left alone.
    let r = update(&fx, t, r.id, &[("Qty", json!(1))]).await;
    assert_eq!(r.fields.get("Twice"), Some(&json!(4)));
}

/// Filters and sorts read a computed field like a stored one.
pub async fn filter_and_sort_on_a_computed_field(store: Arc<dyn Store>) {
    let fx = Fixture::new(store).await;
    let t = fx.table.table.id;
    field(
        &fx,
        t,
        nf("Total", "formula", json!({ "formula": "{Qty} * 2" })),
    )
    .await;
    for q in [3, 1, 2] {
        fx.create(&[("Qty", json!(q))]).await;
    }
    let page = fx
        .pb
        .query_records(
            &fx.owner,
            t,
            QueryInput {
                filter: Some(json!({ "field": "Total", "op": "gt", "value": 2 })),
                sort: Some(json!("-Total")),
                ..QueryInput::default()
            },
            FieldKey::Name,
        )
        .await
        .unwrap();
    let totals: Vec<Value> = page
        .records
        .iter()
        .map(|r| r.fields.get("Total").cloned().unwrap_or(Value::Null))
        .collect();
    assert_eq!(totals, vec![json!(6), json!(4)]);
    let page = fx
        .pb
        .query_records(
            &fx.owner,
            t,
            QueryInput {
                formula: Some("{Total} = 2".into()),
                ..QueryInput::default()
            },
            FieldKey::Name,
        )
        .await
        .unwrap();
    assert_eq!(page.records.len(), 1);
}

/// Two concurrent writers of two inputs of one formula on one record
/// leave the value both writes make.
pub async fn concurrent_writers_of_two_inputs(store: Arc<dyn Store>) {
    let fx = Arc::new(Fixture::new(store).await);
    let t = fx.table.table.id;
    field(
        &fx,
        t,
        nf("Total", "formula", json!({ "formula": "{Qty} * {Price}" })),
    )
    .await;
    for round in 0..5 {
        let r = fx.create(&[("Qty", json!(1)), ("Price", json!(1))]).await;
        let (a, b) = (fx.clone(), fx.clone());
        let qty = round + 2;
        let w1 = tokio::spawn(async move { update(&a, t, r.id, &[("Qty", json!(qty))]).await });
        let w2 = tokio::spawn(async move { update(&b, t, r.id, &[("Price", json!(3))]).await });
        w1.await.unwrap();
        w2.await.unwrap();
        let out = get(&fx, t, r.id).await;
        assert_eq!(
            out.fields.get("Total"),
            Some(&json!(qty * 3)),
            "round {round}"
        );
    }
}

/// A formula reading the clock is refreshed by the explicit call (the
/// server's timer makes the same call); others are left alone.
pub async fn time_formulas_refresh_on_call(store: Arc<dyn Store>) {
    let fx = Fixture::new(store.clone()).await;
    let t = fx.table.table.id;
    let now = field(&fx, t, nf("At", "formula", json!({ "formula": "NOW()" }))).await;
    assert_eq!(
        now.field_type.options_json()["result_type"],
        json!("datetime")
    );
    let r = fx.create(&[("Qty", json!(1))]).await;
    let first = r.fields.get("At").cloned().expect("a time");
    let listed = store.fields_of_type("formula").await.unwrap();
    assert!(listed.iter().any(|f| f.id == now.id));
    assert!(listed.iter().all(|f| f.field_type.type_name() == "formula"));
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    assert!(fx.pb.refresh_time_formulas().await.unwrap() >= 1);
    let again = get(&fx, t, r.id)
        .await
        .fields
        .get("At")
        .cloned()
        .expect("a time");
    assert!(
        again.as_str().unwrap() > first.as_str().unwrap(),
        "{first} then {again}"
    );
}

/// Every live record's stored `Total` is `Qty * Price` (absent inputs
/// read as 0, a 0 product stored as 0).
async fn totals_are_right(fx: &Fixture, t: TableId, total: crate::ids::FieldId) -> usize {
    let qty: std::collections::HashMap<RecordId, Value> = fx
        .store
        .field_cells(t, fx.field("Qty"))
        .await
        .unwrap()
        .into_iter()
        .collect();
    let price: std::collections::HashMap<RecordId, Value> = fx
        .store
        .field_cells(t, fx.field("Price"))
        .await
        .unwrap()
        .into_iter()
        .collect();
    let totals: std::collections::HashMap<RecordId, Value> = fx
        .store
        .field_cells(t, total)
        .await
        .unwrap()
        .into_iter()
        .collect();
    let num = |m: &std::collections::HashMap<RecordId, Value>, id: &RecordId| {
        m.get(id).and_then(Value::as_f64).unwrap_or(0.0)
    };
    for id in qty.keys() {
        let want = num(&qty, id) * num(&price, id);
        assert_eq!(
            totals.get(id).and_then(Value::as_f64),
            Some(want),
            "record {id}"
        );
    }
    totals.len()
}

/// A computed field on a table larger than the inline limit is filled in
/// the background: it reads `computing` (cells empty) until the job is
/// done, then `ready` with every cell right; a write during the fill keeps
/// its own recompute's value; the job's state is in the database (a new
/// facade, as after a restart, takes over once the lease ran out); a field
/// saved `computing` without a queued fill is queued again; changing the
/// formula restarts the fill; deleting a computing field ends it.
pub async fn large_table_fills_in_background(store: Arc<dyn Store>) {
    use crate::Limits;
    use crate::model::FieldStatus;
    use crate::store::computed::FillStep;

    let mut fx = Fixture::new(store.clone()).await;
    fx.pb = fx
        .pb
        .clone()
        .with_limits(Limits {
            compute_inline_records: 5,
            ..Limits::default()
        })
        .with_background_fills(false);
    let t = fx.table.table.id;
    // 2,050 records: three chunks of the fill.
    let mut ids = Vec::new();
    for batch in 0..3 {
        let n = if batch == 2 { 50 } else { 1000 };
        let records = (0..n)
            .map(|i| cells(&[("Qty", json!(batch * 1000 + i)), ("Price", json!(2))]))
            .collect();
        let made = fx
            .pb
            .create_records(&fx.owner, t, records, WriteOptions::default())
            .await
            .expect("create records");
        ids.extend(made.into_iter().map(|r| r.id));
    }
    ids.sort();
    let total = field(
        &fx,
        t,
        nf("Total", "formula", json!({ "formula": "{Qty} * {Price}" })),
    )
    .await;
    assert_eq!(total.status, FieldStatus::Computing);
    let read = fx.pb.get_field(&fx.owner, total.id).await.unwrap();
    assert_eq!(read.status, FieldStatus::Computing);
    assert_eq!(
        serde_json::to_value(&read).unwrap()["status"],
        json!("computing")
    );
    // Cells read as empty meanwhile, even one a write computed.
    assert!(get(&fx, t, ids[5]).await.fields.get("Total").is_none());
    // A filter on the computing field (a filter tree, a formula, or one
    // reading it among others) is refused naming it, rather than answer
    // from the cells filled so far; a sort on it, or a filter on other
    // fields, still answers.
    for q in [
        QueryInput {
            filter: Some(json!({ "field": "Total", "op": "gt", "value": 1 })),
            ..QueryInput::default()
        },
        QueryInput {
            formula: Some("{Total} > 1".into()),
            ..QueryInput::default()
        },
        QueryInput {
            filter: Some(json!({ "or": [
                { "field": "Qty", "op": "gt", "value": 1 },
                { "field": "Total", "op": "is_empty" }
            ] })),
            ..QueryInput::default()
        },
    ] {
        match fx.pb.query_records(&fx.owner, t, q, FieldKey::Name).await {
            Err(Error::Conflict { field, message }) => {
                assert_eq!(field, "Total");
                assert!(message.contains("computing"), "{message}");
            }
            other => panic!("expected a conflict naming Total, got {other:?}"),
        }
    }
    for q in [
        QueryInput {
            sort: Some(json!("Total")),
            page_size: Some(3),
            ..QueryInput::default()
        },
        QueryInput {
            filter: Some(json!({ "field": "Qty", "op": "lt", "value": 3 })),
            ..QueryInput::default()
        },
    ] {
        let page = fx
            .pb
            .query_records(&fx.owner, t, q, FieldKey::Name)
            .await
            .expect("a sort on a computing field, a filter on others");
        assert!(!page.records.is_empty());
    }

    // One chunk by a worker that then stops (its lease already over).
    let now = chrono::Utc::now();
    let past = now - chrono::Duration::seconds(1);
    assert_eq!(store.claim_fill("gone", now, past).await.unwrap(), Some(t));
    assert_eq!(
        store.fill_chunk(t, "gone", 1000, past).await.unwrap(),
        FillStep::More
    );
    // Another owner's step is refused while it holds the lease.
    let later = now + chrono::Duration::seconds(60);
    assert_eq!(store.claim_fill("held", now, later).await.unwrap(), Some(t));
    assert_eq!(
        store.fill_chunk(t, "gone", 1000, later).await.unwrap(),
        FillStep::Lost
    );
    assert_eq!(
        store.claim_fill("third", now, later).await.unwrap(),
        None,
        "leased"
    );
    // Free the lease for the facades below.
    assert_eq!(
        store.fill_chunk(t, "held", 1000, past).await.unwrap(),
        FillStep::More
    );

    // Writes during the fill: one record already filled, one not yet,
    // one new; each gets its value from its own write.
    update(&fx, t, ids[3], &[("Qty", json!(500))]).await;
    update(&fx, t, ids[2040], &[("Qty", json!(7)), ("Price", json!(3))]).await;
    let fresh = create(&fx, t, &[("Qty", json!(4)), ("Price", json!(5))]).await;
    assert_eq!(
        fx.store
            .field_cells(t, total.id)
            .await
            .unwrap()
            .into_iter()
            .find(|(id, _)| *id == ids[2040])
            .map(|(_, v)| v),
        Some(json!(21))
    );
    assert_eq!(
        fx.pb.get_field(&fx.owner, total.id).await.unwrap().status,
        FieldStatus::Computing
    );

    // A new facade over the same database (a restart) finishes the job.
    let restarted = crate::Pybase::new(store.clone()).with_background_fills(false);
    assert_eq!(restarted.run_compute_fills().await.unwrap(), 1);
    assert_eq!(
        fx.pb.get_field(&fx.owner, total.id).await.unwrap().status,
        FieldStatus::Ready
    );
    assert_eq!(totals_are_right(&fx, t, total.id).await, 2051);
    assert_eq!(
        get(&fx, t, ids[3]).await.fields.get("Total"),
        Some(&json!(1000))
    );
    assert_eq!(
        get(&fx, t, fresh.id).await.fields.get("Total"),
        Some(&json!(20))
    );
    assert_eq!(
        restarted.run_compute_fills().await.unwrap(),
        0,
        "no fill left"
    );

    // Changing the formula restarts the fill.
    let changed = fx
        .pb
        .update_field(
            &fx.owner,
            total.id,
            FieldPatch {
                options: Some(json!({ "formula": "{Qty} * {Price} + 1" })),
                ..FieldPatch::default()
            },
        )
        .await
        .expect("change formula");
    assert_eq!(changed.status, FieldStatus::Computing);
    assert_eq!(fx.pb.run_compute_fills().await.unwrap(), 1);
    let cells_now = fx.store.field_cells(t, total.id).await.unwrap();
    assert_eq!(cells_now.len(), 2051);
    let one = get(&fx, t, ids[3]).await;
    assert_eq!(one.fields.get("Total"), Some(&json!(1001)));

    // Deleting a computing field ends its fill.
    let doomed = field(
        &fx,
        t,
        nf("Double", "formula", json!({ "formula": "{Qty} * 2" })),
    )
    .await;
    assert_eq!(doomed.status, FieldStatus::Computing);
    fx.pb.delete_field(&fx.owner, doomed.id).await.unwrap();
    let now = chrono::Utc::now();
    assert_eq!(
        store
            .claim_fill("any", now, now + chrono::Duration::seconds(1))
            .await
            .unwrap(),
        None
    );

    // A field saved `computing` whose fill was never queued (a stop in
    // between) is queued again by the next runner.
    let mut orphan = doomed.clone();
    orphan.id = crate::ids::FieldId::new();
    orphan.name = "Orphan".into();
    orphan.status = FieldStatus::Computing;
    store.create_field(&orphan).await.unwrap();
    let another = crate::Pybase::new(store.clone()).with_background_fills(false);
    assert_eq!(another.run_compute_fills().await.unwrap(), 1);
    assert_eq!(
        fx.pb.get_field(&fx.owner, orphan.id).await.unwrap().status,
        FieldStatus::Ready
    );
    assert_eq!(
        fx.store.field_cells(t, orphan.id).await.unwrap().len(),
        2051
    );
}

/// A write whose recompute would touch more records than
/// `compute_fanout_records` recomputes its own records and their direct
/// dependents in its transaction and hands the rest to the background
/// fill: the fields concerned read `computing` (cells empty) until the
/// fill is done, then hold the values the write makes.
pub async fn fan_out_past_the_limit_goes_to_the_background(store: Arc<dyn Store>) {
    use crate::Limits;
    use crate::model::FieldStatus;

    let mut fx = Fixture::new(store.clone()).await;
    fx.pb = fx
        .pb
        .clone()
        .with_limits(Limits {
            compute_fanout_records: 3,
            ..Limits::default()
        })
        .with_background_fills(false);
    let items = fx.table.table.id;
    field(
        &fx,
        items,
        nf("Total", "formula", json!({ "formula": "{Qty} * {Price}" })),
    )
    .await;
    let lines = table(&fx, "Lines").await;
    field(
        &fx,
        lines,
        nf("Item", "link", json!({ "linked_table_id": items })),
    )
    .await;
    let totals = field(
        &fx,
        lines,
        nf(
            "Totals",
            "lookup",
            json!({ "link_field": "Item", "field": "Total" }),
        ),
    )
    .await;
    field(&fx, lines, nf("Note", "text", json!({}))).await;
    let orders = table(&fx, "Orders").await;
    field(
        &fx,
        orders,
        nf("Lines", "link", json!({ "linked_table_id": lines })),
    )
    .await;
    let amount = field(
        &fx,
        orders,
        nf(
            "Amount",
            "rollup",
            json!({ "link_field": "Lines", "field": "Totals", "formula": "SUM(values)" }),
        ),
    )
    .await;
    let doubled = field(
        &fx,
        orders,
        nf("Doubled", "formula", json!({ "formula": "{Amount} * 2" })),
    )
    .await;
    let plain = field(
        &fx,
        orders,
        nf("Label", "formula", json!({ "formula": "'order'" })),
    )
    .await;
    let i = fx.create(&[("Qty", json!(2)), ("Price", json!(3))]).await;
    let l1 = create(&fx, lines, &[("Item", json!([i.id]))]).await;
    let l2 = create(&fx, lines, &[("Item", json!([i.id]))]).await;
    let o = create(&fx, orders, &[("Lines", json!([l1.id, l2.id]))]).await;
    assert_eq!(o.fields.get("Amount"), Some(&json!(12)));

    // Within the limit (one record and its two direct dependents) nothing
    // goes to the background.
    update(&fx, lines, l1.id, &[("Note", json!("x"))]).await;
    assert_eq!(
        fx.pb.get_field(&fx.owner, amount.id).await.unwrap().status,
        FieldStatus::Ready
    );

    // 1 item + 2 lines + 1 order passes 3: the order goes to the fill.
    update(&fx, items, i.id, &[("Qty", json!(5))]).await;
    assert_eq!(
        get(&fx, lines, l1.id).await.fields.get("Totals"),
        Some(&json!([15])),
        "direct dependents are recomputed in the write"
    );
    let status = |id| {
        let pb = fx.pb.clone();
        let owner = fx.owner.clone();
        async move { pb.get_field(&owner, id).await.unwrap().status }
    };
    // A hand-off leaves the fields ready and their last values readable
    // until the fill brings them up to date.
    for f in [&totals, &amount, &doubled, &plain] {
        assert_eq!(status(f.id).await, FieldStatus::Ready, "{}", f.name);
    }
    let read = get(&fx, orders, o.id).await;
    assert_eq!(read.fields.get("Amount"), Some(&json!(12)), "{read:?}");
    assert_eq!(read.fields.get("Label"), Some(&json!("order")));

    assert_eq!(fx.pb.run_compute_fills().await.unwrap(), 1);
    assert_eq!(status(amount.id).await, FieldStatus::Ready);
    assert_eq!(status(doubled.id).await, FieldStatus::Ready);
    let read = get(&fx, orders, o.id).await;
    assert_eq!(read.fields.get("Amount"), Some(&json!(30)));
    assert_eq!(read.fields.get("Doubled"), Some(&json!(60)));
}

/// The events of the fixture's base after `after` (one page).
pub(super) async fn events_after(fx: &Fixture, after: i64) -> Vec<crate::store::ChangeEvent> {
    fx.pb
        .changes_since(&fx.viewer, fx.base.id, after, Some(1000))
        .await
        .expect("changes")
        .items
}

/// The newest seq of the fixture's base.
pub(super) async fn last_seq(fx: &Fixture) -> i64 {
    fx.pb
        .changes_since(&fx.viewer, fx.base.id, 0, Some(1))
        .await
        .expect("changes")
        .last_seq
}

/// Each event's record, checked to appear once: a write logs one event
/// per record (issue 14).
fn one_event_per_record(events: &[crate::store::ChangeEvent]) -> Vec<RecordId> {
    let mut seen: Vec<RecordId> = Vec::new();
    for e in events {
        let r = e.record_id.expect("a record event");
        assert!(!seen.contains(&r), "two events of {r}: {events:#?}");
        seen.push(r);
    }
    seen
}

/// A write that recomputes derived cells logs one event per record: the
/// derived cells of a record the write itself wrote are in that record's
/// event (created: its cells; updated: among `changed_fields`, before and
/// after), those of a two-way link's partner in the partner's event, and
/// each other dependent record gets one `record.updated` holding all of
/// its changed derived cells. The same on a batch, a delete and a restore.
pub async fn derived_cells_log_one_event_per_record(store: Arc<dyn Store>) {
    use crate::store::ChangeKind;
    let fx = Fixture::new(store).await;
    let items = fx.table.table.id;
    let total = field(
        &fx,
        items,
        nf("Total", "formula", json!({ "formula": "{Qty} * {Price}" })),
    )
    .await;
    let double = field(
        &fx,
        items,
        nf("Double", "formula", json!({ "formula": "{Total} * 2" })),
    )
    .await;
    let orders = table(&fx, "Orders").await;
    let link = field(
        &fx,
        orders,
        nf("Items", "link", json!({ "linked_table_id": items })),
    )
    .await;
    let totals = field(
        &fx,
        orders,
        nf(
            "Totals",
            "lookup",
            json!({ "link_field": "Items", "field": "Total" }),
        ),
    )
    .await;
    let sum = field(
        &fx,
        orders,
        nf(
            "Sum",
            "rollup",
            json!({ "link_field": "Items", "field": "Double", "formula": "SUM(values)" }),
        ),
    )
    .await;
    let inverse = link.field_type.options_json()["inverse_field_id"]
        .as_str()
        .expect("a two-way link")
        .to_owned();
    let n_orders = field(
        &fx,
        items,
        nf("NOrders", "count", json!({ "link_field": inverse })),
    )
    .await;
    let key = |f: &Field| f.id.to_string();

    // A create: the record's own event carries its derived cells.
    let at = last_seq(&fx).await;
    let i = fx.create(&[("Qty", json!(2)), ("Price", json!(3))]).await;
    let events = events_after(&fx, at).await;
    assert_eq!(one_event_per_record(&events), vec![i.id]);
    let after = events[0].after.clone().unwrap();
    assert_eq!(events[0].kind, ChangeKind::RecordCreated);
    assert_eq!(after[key(&total)], json!(6), "{after}");
    assert_eq!(after[key(&double)], json!(12), "{after}");
    assert_eq!(after[key(&n_orders)], json!(0), "{after}");

    // An update: its derived cells among the changed fields, both sides.
    let at = last_seq(&fx).await;
    update(&fx, items, i.id, &[("Qty", json!(4))]).await;
    let events = events_after(&fx, at).await;
    assert_eq!(one_event_per_record(&events), vec![i.id]);
    let e = &events[0];
    assert_eq!(e.kind, ChangeKind::RecordUpdated);
    let mut want = vec![fx.field("Qty"), total.id, double.id];
    want.sort();
    assert_eq!(e.changed_fields.clone().unwrap(), want);
    assert_eq!(e.before.clone().unwrap()[key(&total)], json!(6));
    assert_eq!(e.after.clone().unwrap()[key(&total)], json!(12));
    assert_eq!(e.before.clone().unwrap()[key(&double)], json!(12));
    assert_eq!(e.after.clone().unwrap()[key(&double)], json!(24));

    // An order linking the item: the order's event has its lookup and
    // rollup; the item's partner event (its inverse link cell) has its
    // count.
    let at = last_seq(&fx).await;
    let o = create(&fx, orders, &[("Items", json!([i.id]))]).await;
    let events = events_after(&fx, at).await;
    let records = one_event_per_record(&events);
    assert_eq!(records.len(), 2, "{events:#?}");
    let order_event = events.iter().find(|e| e.record_id == Some(o.id)).unwrap();
    let order_cells = order_event.after.clone().unwrap();
    assert_eq!(order_cells[key(&totals)], json!([12]), "{order_cells}");
    assert_eq!(order_cells[key(&sum)], json!(24), "{order_cells}");
    let item_event = events.iter().find(|e| e.record_id == Some(i.id)).unwrap();
    assert_eq!(item_event.kind, ChangeKind::RecordUpdated);
    let mut want: Vec<crate::ids::FieldId> =
        vec![crate::ids::FieldId::parse(&inverse).unwrap(), n_orders.id];
    want.sort();
    assert_eq!(item_event.changed_fields.clone().unwrap(), want);
    assert_eq!(item_event.after.clone().unwrap()[key(&n_orders)], json!(1));

    // A change of the item: one event for it, one for the order holding
    // both its changed derived cells.
    let at = last_seq(&fx).await;
    update(&fx, items, i.id, &[("Price", json!(1))]).await;
    let events = events_after(&fx, at).await;
    assert_eq!(one_event_per_record(&events), vec![i.id, o.id]);
    let e = &events[1];
    assert_eq!(e.kind, ChangeKind::RecordUpdated);
    let mut want = vec![totals.id, sum.id];
    want.sort();
    assert_eq!(e.changed_fields.clone().unwrap(), want);
    assert_eq!(e.before.clone().unwrap()[key(&totals)], json!([12]));
    assert_eq!(e.after.clone().unwrap()[key(&totals)], json!([4]));
    assert_eq!(e.after.clone().unwrap()[key(&sum)], json!(8));

    // A batch of two items both linked from the order: one event each,
    // and one for the order.
    let j = fx.create(&[("Qty", json!(1)), ("Price", json!(1))]).await;
    update(&fx, orders, o.id, &[("Items", json!([i.id, j.id]))]).await;
    let at = last_seq(&fx).await;
    fx.pb
        .update_records(
            &fx.owner,
            items,
            vec![
                (i.id, cells(&[("Qty", json!(10))])),
                (j.id, cells(&[("Qty", json!(20))])),
            ],
            WriteOptions::default(),
        )
        .await
        .expect("batch update");
    let events = events_after(&fx, at).await;
    let mut records = one_event_per_record(&events);
    records.sort();
    let mut want = vec![i.id, j.id, o.id];
    want.sort();
    assert_eq!(records, want);

    // A batch patching one item twice: each patch as a write of its own,
    // its derived cells (and the order's) in its events and its answer,
    // so each record's events chain (one's after is the next's before).
    let at = last_seq(&fx).await;
    let out = fx
        .pb
        .update_records(
            &fx.owner,
            items,
            vec![
                (i.id, cells(&[("Qty", json!(3))])),
                (j.id, cells(&[("Qty", json!(7))])),
                (i.id, cells(&[("Qty", json!(5))])),
            ],
            WriteOptions::default(),
        )
        .await
        .expect("batch update");
    let totals_of: Vec<Value> = out.iter().map(|r| r.fields["Total"].clone()).collect();
    assert_eq!(totals_of, vec![json!(3), json!(7), json!(5)]);
    let events = events_after(&fx, at).await;
    let of = |r: RecordId| -> Vec<&crate::store::ChangeEvent> {
        events.iter().filter(|e| e.record_id == Some(r)).collect()
    };
    let (of_i, of_o) = (of(i.id), of(o.id));
    assert_eq!(of_i.len(), 2, "{events:#?}");
    assert_eq!(of(j.id).len(), 1, "{events:#?}");
    assert_eq!(of_o.len(), 2, "{events:#?}");
    let cell = |e: &crate::store::ChangeEvent, after: bool, f: &Field| {
        let side = if after { &e.after } else { &e.before };
        side.clone().unwrap()[key(f)].clone()
    };
    assert_eq!(
        [cell(of_i[0], true, &total), cell(of_i[1], false, &total)],
        [json!(3), json!(3)]
    );
    assert_eq!(cell(of_i[1], true, &total), json!(5));
    assert_eq!(cell(of_i[1], true, &double), json!(10));
    assert_eq!(cell(of_o[0], true, &totals), cell(of_o[1], false, &totals));
    assert_eq!(cell(of_o[1], true, &sum), json!(24));

    // A delete: the deleted record's event, one for the order.
    let at = last_seq(&fx).await;
    fx.pb
        .delete_records(&fx.owner, items, &[j.id])
        .await
        .unwrap();
    let events = events_after(&fx, at).await;
    assert_eq!(one_event_per_record(&events), vec![j.id, o.id]);
    assert_eq!(events[0].kind, ChangeKind::RecordDeleted);
    // A restore: the restored record's event, one for the order.
    let at = last_seq(&fx).await;
    fx.pb
        .restore_record(&fx.owner, items, j.id, FieldKey::Name)
        .await
        .unwrap();
    let events = events_after(&fx, at).await;
    assert_eq!(one_event_per_record(&events), vec![j.id, o.id]);
    assert_eq!(events[0].kind, ChangeKind::RecordRestored);
}

/// A formula is stored with field ids and shown with the current names:
/// renaming a field it reads changes the text every read shows (the field,
/// the table's fields, the table schema), the cells keep being computed,
/// and the shown text saved back is the same formula.
pub async fn formula_text_shows_current_names(store: Arc<dyn Store>) {
    let fx = Fixture::new(store).await;
    let t = fx.table.table.id;
    let total = field(
        &fx,
        t,
        nf(
            "Total",
            "formula",
            json!({ "formula": "{Qty} * {Price} + 1" }),
        ),
    )
    .await;
    let text = |f: &Field| f.field_type.options_json()["formula"].clone();
    assert_eq!(text(&total), json!("{Qty} * {Price} + 1"));
    let stored = fx.store.get_field(total.id).await.unwrap();
    assert!(
        text(&stored)
            .as_str()
            .unwrap()
            .contains(fx.field("Qty").as_str()),
        "stored by id: {}",
        text(&stored)
    );
    fx.pb
        .update_field(
            &fx.owner,
            fx.field("Qty"),
            FieldPatch {
                name: Some("Quantity".into()),
                ..FieldPatch::default()
            },
        )
        .await
        .expect("rename");
    let want = json!("{Quantity} * {Price} + 1");
    assert_eq!(
        text(&fx.pb.get_field(&fx.owner, total.id).await.unwrap()),
        want
    );
    let listed = fx.pb.list_fields(&fx.owner, t).await.unwrap();
    let listed = listed.iter().find(|f| f.id == total.id).unwrap();
    assert_eq!(text(listed), want);
    let schema = fx.pb.get_table(&fx.owner, t).await.unwrap();
    let in_schema = schema.fields.iter().find(|f| f.id == total.id).unwrap();
    assert_eq!(text(in_schema), want);
    let r = create(&fx, t, &[("Quantity", json!(2)), ("Price", json!(5))]).await;
    assert_eq!(r.fields.get("Total"), Some(&json!(11)));
    // The shown text saved back is the same formula, shown the same.
    let saved = fx
        .pb
        .update_field(
            &fx.owner,
            total.id,
            FieldPatch {
                options: Some(json!({ "formula": want })),
                ..FieldPatch::default()
            },
        )
        .await
        .expect("save the shown text");
    assert_eq!(text(&saved), want);
    assert_eq!(
        text(&fx.store.get_field(total.id).await.unwrap()),
        text(&stored)
    );
    // A new field reading it is shown with names from the start.
    let more = field(
        &fx,
        t,
        nf(
            "More",
            "formula",
            json!({ "formula": "{Total} - {Quantity}" }),
        ),
    )
    .await;
    assert_eq!(text(&more), json!("{Total} - {Quantity}"));
}
