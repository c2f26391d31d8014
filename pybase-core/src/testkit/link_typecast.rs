//! Typecast of link cells by primary value (Airtable's): a name links the
//! oldest live record of the linked table with that primary value, or a
//! new record holding it; without typecast a name is refused; a write that
//! fails on another cell creates nothing.

use std::sync::Arc;

use serde_json::{Value, json};

use super::fixture::{Fixture, assert_invalid, cells};
use crate::facade::{FieldKey, NewField, QueryInput, WriteOptions};
use crate::ids::TableId;
use crate::store::Store;

fn nf(name: &str, ty: &str, options: Value) -> NewField {
    NewField {
        name: name.into(),
        field_type: ty.into(),
        options,
        description: None,
        indexed: false,
    }
}

const TYPECAST: WriteOptions = WriteOptions {
    typecast: true,
    field_key: FieldKey::Name,
};

/// The ids of the fixture table's live records named `name`, oldest first.
async fn named(fx: &Fixture, name: &str) -> Vec<Value> {
    fx.pb
        .query_records(
            &fx.owner,
            fx.table.table.id,
            QueryInput {
                filter: Some(json!({"field": "Name", "op": "eq", "value": name})),
                ..QueryInput::default()
            },
            FieldKey::Name,
        )
        .await
        .unwrap()
        .records
        .iter()
        .map(|r| json!(r.id))
        .collect()
}

/// Links by primary value on create, update and upsert, on both stores.
pub async fn typecast_links_by_primary_value(store: Arc<dyn Store>) {
    let fx = Fixture::new(store).await;
    let o = &fx.owner;
    let orders: TableId = fx.other_table().await.table.id;
    fx.pb
        .create_field(
            o,
            orders,
            nf(
                "Items",
                "link",
                json!({"linked_table_id": fx.table.table.id}),
            ),
        )
        .await
        .unwrap();
    fx.pb
        .create_field(o, orders, nf("Count", "number", Value::Null))
        .await
        .unwrap();
    let bolt = fx.create(&[("Name", json!("Bolt"))]).await;
    let _younger_bolt = fx.create(&[("Name", json!("Bolt"))]).await;
    let nut = fx.create(&[("Name", json!("Nut"))]).await;
    // Without typecast a name is not a record id.
    let e = fx
        .pb
        .create_record(
            o,
            orders,
            cells(&[("Items", json!(["Bolt"]))]),
            WriteOptions::default(),
        )
        .await
        .unwrap_err();
    assert_invalid(&e, "Items");
    // With it: existing names link the oldest match, ids stay ids, a new
    // name is a new record of the linked table.
    let order = fx
        .pb
        .create_record(
            o,
            orders,
            cells(&[("Items", json!(["Bolt", nut.id, "Washer"]))]),
            TYPECAST,
        )
        .await
        .unwrap();
    let washer = named(&fx, "Washer").await;
    assert_eq!(washer.len(), 1, "one new record");
    assert_eq!(order.fields["Items"], json!([bolt.id, nut.id, washer[0]]));
    // A single name, on update: matches the record made above.
    let updated = fx
        .pb
        .update_records(
            o,
            orders,
            vec![(order.id, cells(&[("Items", json!("Washer"))]))],
            TYPECAST,
        )
        .await
        .unwrap();
    assert_eq!(updated[0].fields["Items"], json!([washer[0]]));
    assert_eq!(
        named(&fx, "Washer").await.len(),
        1,
        "matched, not made again"
    );
    // A write failing on another cell creates no linked record.
    let e = fx
        .pb
        .create_records(
            o,
            orders,
            vec![
                cells(&[("Items", json!(["Gadget"]))]),
                cells(&[("Count", json!("many"))]),
            ],
            TYPECAST,
        )
        .await
        .unwrap_err();
    assert_invalid(&e, "records[1].Count");
    assert!(named(&fx, "Gadget").await.is_empty());
    // Upsert takes names too.
    let up = fx
        .pb
        .upsert_records(
            o,
            orders,
            &["Name".to_owned()],
            vec![cells(&[
                ("Name", json!("o2")),
                ("Items", json!(["Gear", "Bolt"])),
            ])],
            TYPECAST,
        )
        .await
        .unwrap();
    let gear = named(&fx, "Gear").await;
    assert_eq!(gear.len(), 1);
    assert_eq!(up.records[0].fields["Items"], json!([gear[0], bolt.id]));
}
