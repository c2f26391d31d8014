//! Typecast of link cells by primary value (Airtable's): a name links the
//! oldest live record of the linked table with that primary value, or a
//! new record holding it; without typecast a name is refused; a write that
//! fails on another cell creates nothing.

use std::sync::Arc;

use serde_json::{Value, json};

use super::computed::nf;
use super::fixture::{Fixture, assert_invalid, cells};
use crate::facade::{FieldKey, QueryInput, WriteOptions};
use crate::ids::TableId;
use crate::store::Store;

const TYPECAST: WriteOptions = WriteOptions {
    typecast: true,
    field_key: FieldKey::Name,
};

/// The ids of the fixture table's live records named `name`, oldest first.
async fn named(fx: &Fixture, name: &str) -> Vec<Value> {
    ids_named(fx, fx.table.table.id, name).await
}

/// A new table of the fixture's base whose primary field is `ty` (named
/// `name`, with `options`), and a link field `link` to it in the fixture's
/// table: the linked table's id.
async fn linked_by(fx: &Fixture, name: &str, ty: &str, options: Value, link: &str) -> TableId {
    let o = &fx.owner;
    let table = fx.other_table().await.table.id;
    let primary = fx
        .pb
        .create_field(o, table, nf(name, ty, options))
        .await
        .unwrap();
    fx.pb
        .update_table(
            o,
            table,
            crate::facade::TablePatch {
                primary_field_id: Some(primary.id.to_string()),
                ..crate::facade::TablePatch::default()
            },
        )
        .await
        .unwrap();
    fx.pb
        .create_field(
            o,
            fx.table.table.id,
            nf(link, "link", json!({"linked_table_id": table})),
        )
        .await
        .unwrap();
    table
}

/// The inverse of the fixture table's link to `parts`, made to take one
/// record.
async fn single_record_inverse(fx: &Fixture, parts: TableId) -> crate::model::Field {
    let inverse = fx
        .pb
        .list_fields(&fx.owner, parts)
        .await
        .unwrap()
        .into_iter()
        .find(|f| f.field_type.type_name() == "link")
        .expect("the inverse link");
    fx.pb
        .update_field(
            &fx.owner,
            inverse.id,
            crate::facade::FieldPatch {
                options: Some(
                    json!({"linked_table_id": fx.table.table.id, "allow_multiple": false}),
                ),
                ..crate::facade::FieldPatch::default()
            },
        )
        .await
        .unwrap();
    inverse
}

/// Writes a record of the fixture's table whose cell `link` names `name`,
/// answering the cell as stored.
async fn link_named(fx: &Fixture, link: &str, name: &str) -> Value {
    fx.pb
        .create_record(
            &fx.owner,
            fx.table.table.id,
            cells(&[(link, json!([name]))]),
            TYPECAST,
        )
        .await
        .unwrap()
        .fields[link]
        .clone()
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
    // The order's Items after an update with typecast setting them to `v`.
    let set_items = |v: Value| {
        let pb = fx.pb.clone();
        async move {
            pb.update_records(
                o,
                orders,
                vec![(order.id, cells(&[("Items", v)]))],
                TYPECAST,
            )
            .await
            .unwrap()
            .remove(0)
            .fields
            .get("Items")
            .cloned()
        }
    };
    // A single name, on update: matches the record made above.
    assert_eq!(set_items(json!("Washer")).await, Some(json!([washer[0]])));
    assert_eq!(
        named(&fx, "Washer").await.len(),
        1,
        "matched, not made again"
    );
    // One text names a list, split at commas outside double quotes (as
    // a text field converting into a link): ids, names and new names.
    let items = set_items(json!(format!("Nut, {}, \"Lock, washer\"", bolt.id))).await;
    let lock = named(&fx, "Lock, washer").await;
    assert_eq!(lock.len(), 1, "a quoted name is one name, commas and all");
    assert_eq!(items, Some(json!([nut.id, bolt.id, lock[0]])));
    // An empty text clears the cell.
    let items = set_items(json!("")).await;
    assert!(items.as_ref().is_none_or(|v| v == &json!([])), "{items:?}");
    assert_eq!(set_items(json!("Washer")).await, Some(json!([washer[0]])));
    // A write failing on another cell creates no linked record: a cell
    // that does not validate, a link to a record that is not there (found
    // by the checks that need the store), an update of a missing record.
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
    let ghost = crate::ids::RecordId::new();
    let e = fx
        .pb
        .create_records(
            o,
            orders,
            vec![
                cells(&[("Items", json!(["Gadget"]))]),
                cells(&[("Items", json!([ghost]))]),
            ],
            TYPECAST,
        )
        .await
        .unwrap_err();
    assert_invalid(&e, "records[1].Items");
    let e = fx
        .pb
        .update_records(
            o,
            orders,
            vec![(ghost, cells(&[("Items", json!(["Gadget"]))]))],
            TYPECAST,
        )
        .await
        .unwrap_err();
    assert_invalid(&e, "records[0].id");
    let e = fx
        .pb
        .update_record(
            o,
            orders,
            ghost,
            cells(&[("Items", json!(["Gadget"]))]),
            TYPECAST,
            true,
        )
        .await
        .unwrap_err();
    assert!(matches!(e, crate::Error::NotFound { .. }), "{e:?}");
    // An upsert repeating its merge key; a cell past the items limit.
    let e = fx
        .pb
        .upsert_records(
            o,
            orders,
            &["Name".to_owned()],
            vec![
                cells(&[("Name", json!("o9")), ("Items", json!(["Gadget"]))]),
                cells(&[("Name", json!("o9"))]),
            ],
            TYPECAST,
        )
        .await
        .unwrap_err();
    assert_invalid(&e, "records[1]");
    let many: Vec<String> = (0..=fx.pb.limits().cell_items)
        .map(|i| format!("Gadget {i}"))
        .collect();
    let e = fx
        .pb
        .create_record(o, orders, cells(&[("Items", json!(many))]), TYPECAST)
        .await
        .unwrap_err();
    assert_invalid(&e, "Items");
    assert!(named(&fx, "Gadget").await.is_empty());
    assert!(named(&fx, "Gadget 0").await.is_empty());
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

/// Names are read as the primary field takes them (a number field's
/// `"12.00"` is 12), and writes naming the same new value at once make
/// one record.
pub async fn typecast_link_names_are_values_made_once(store: Arc<dyn Store>) {
    let fx = Fixture::new(store).await;
    let o = &fx.owner;
    let parts = linked_by(&fx, "No", "number", json!({"precision": 2}), "Part").await;
    let twelve = fx
        .pb
        .create_record(
            o,
            parts,
            cells(&[("No", json!(12))]),
            WriteOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(link_named(&fx, "Part", "12.00").await, json!([twelve.id]));
    // A name the primary field cannot take: refused naming the cell.
    let e = fx
        .pb
        .create_record(
            o,
            fx.table.table.id,
            cells(&[("Part", json!(["twelve"]))]),
            TYPECAST,
        )
        .await
        .unwrap_err();
    assert_invalid(&e, "Part");
    // Eight writes naming one new value at once: one record, linked by all.
    let linked = futures::future::join_all((0..8).map(|_| link_named(&fx, "Part", "7.5"))).await;
    let made = fx
        .pb
        .query_records(
            o,
            parts,
            QueryInput {
                filter: Some(json!({"field": "No", "op": "eq", "value": 7.5})),
                ..QueryInput::default()
            },
            FieldKey::Name,
        )
        .await
        .unwrap()
        .records;
    assert_eq!(made.len(), 1, "one record made");
    for l in linked {
        assert_eq!(l, json!([made[0].id]));
    }
    // A select primary field: a new name is a new record, and its choice.
    let colors = linked_by(
        &fx,
        "Color",
        "single_select",
        json!({"choices": ["Red"]}),
        "Colour",
    )
    .await;
    let blue = link_named(&fx, "Colour", "Blue").await;
    assert_eq!(
        link_named(&fx, "Colour", "Blue").await,
        blue,
        "matched the second time"
    );
    let made = fx
        .pb
        .get_record(
            o,
            colors,
            blue[0].as_str().unwrap().parse().unwrap(),
            FieldKey::Name,
        )
        .await
        .unwrap();
    assert_eq!(made.fields["Color"], json!("Blue"));
}

/// A link whose inverse takes one record: a write that would give a
/// linked record a second one is refused before the records for its new
/// names are made (the store's write would refuse it after).
pub async fn typecast_names_wait_for_the_single_record_inverse(store: Arc<dyn Store>) {
    let fx = Fixture::new(store).await;
    let o = &fx.owner;
    let parts = linked_by(&fx, "Code", "text", Value::Null, "Part").await;
    let inverse = single_record_inverse(&fx, parts).await;
    let p1 = link_named(&fx, "Part", "P1").await;
    let e = fx
        .pb
        .create_record(
            o,
            fx.table.table.id,
            cells(&[("Part", json!(["Fresh", p1[0]]))]),
            TYPECAST,
        )
        .await
        .unwrap_err();
    // Keyed by the inverse, as the store's write refuses it.
    assert_invalid(&e, &inverse.name);
    let fresh = fx
        .pb
        .query_records(
            o,
            parts,
            QueryInput {
                filter: Some(json!({"field": "Code", "op": "eq", "value": "Fresh"})),
                ..QueryInput::default()
            },
            FieldKey::Name,
        )
        .await
        .unwrap()
        .records;
    assert!(fresh.is_empty(), "nothing made for a refused write");
    // The record that holds P1 may keep it while it names a new part.
    let holder = fx
        .pb
        .query_records(o, fx.table.table.id, QueryInput::default(), FieldKey::Name)
        .await
        .unwrap()
        .records[0]
        .id;
    let kept = fx
        .pb
        .update_record(
            o,
            fx.table.table.id,
            holder,
            cells(&[("Part", json!([p1[0], "Fresh"]))]),
            TYPECAST,
            false,
        )
        .await
        .unwrap();
    assert_eq!(kept.fields["Part"].as_array().map(Vec::len), Some(2));
}

/// An upsert naming new linked records is refused before they are made
/// when its write would refuse it: a merge key matching two records (409),
/// a row giving a linked record a second one through a single-record
/// inverse (422 keyed by the inverse), whether the row is new or updates
/// the record its key matches; two records of one write naming the same new
/// record through it (also on create and update); a row updating the
/// record that already holds the link keeps it.
pub async fn typecast_upserts_the_write_refuses_make_nothing(store: Arc<dyn Store>) {
    let fx = Fixture::new(store).await;
    let o = &fx.owner;
    let items = fx.table.table.id;
    let parts = linked_by(&fx, "Code", "text", Value::Null, "Part").await;
    let inverse = single_record_inverse(&fx, parts).await;
    let code = |c: &str| {
        let c = c.to_owned();
        let fx = &fx;
        async move {
            fx.pb
                .query_records(
                    &fx.owner,
                    parts,
                    QueryInput {
                        filter: Some(json!({"field": "Code", "op": "eq", "value": c})),
                        ..QueryInput::default()
                    },
                    FieldKey::Name,
                )
                .await
                .unwrap()
                .records
                .len()
        }
    };
    let merge_on = ["Name".to_owned()];
    let upsert =
        |rows: Vec<crate::model::Cells>| fx.pb.upsert_records(o, items, &merge_on, rows, TYPECAST);
    let holder = fx
        .pb
        .create_record(
            o,
            items,
            cells(&[("Name", json!("holder")), ("Part", json!(["P1"]))]),
            TYPECAST,
        )
        .await
        .unwrap();
    let p1 = holder.fields["Part"][0].clone();
    fx.create(&[("Name", json!("twin"))]).await;
    fx.create(&[("Name", json!("twin"))]).await;

    // A key matching two records: the write's 409, nothing made.
    let e = upsert(vec![
        cells(&[("Name", json!("solo")), ("Part", json!(["Fresh A"]))]),
        cells(&[("Name", json!("twin")), ("Part", json!(["Fresh B"]))]),
    ])
    .await
    .unwrap_err();
    assert!(
        matches!(&e, crate::Error::Conflict { field, .. } if field == "merge_on"),
        "{e:?}"
    );
    assert_eq!((code("Fresh A").await, code("Fresh B").await), (0, 0));
    assert!(named(&fx, "solo").await.is_empty(), "no row written");
    // A new row, and a row updating another record, each taking P1 from
    // its holder: refused keyed by the inverse, nothing made.
    for name in ["newcomer", "twin"] {
        if name == "twin" {
            let twins = named(&fx, "twin").await;
            fx.pb
                .delete_records(
                    o,
                    items,
                    &[serde_json::from_value(twins[1].clone()).unwrap()],
                )
                .await
                .unwrap();
        }
        let e = upsert(vec![cells(&[
            ("Name", json!(name)),
            ("Part", json!(["Fresh C", p1])),
        ])])
        .await
        .unwrap_err();
        assert_invalid(&e, &inverse.name);
        assert_eq!(code("Fresh C").await, 0, "{name}");
    }
    // Two records of one write naming the same new part, which would be
    // linked twice: refused before it is made, on create, update and
    // upsert (rows new or matched).
    let twin = named(&fx, "twin").await[0].clone();
    let twin: crate::ids::RecordId = serde_json::from_value(twin).unwrap();
    let e = fx
        .pb
        .create_records(
            o,
            items,
            vec![
                cells(&[("Part", json!(["Fresh D"]))]),
                cells(&[("Part", json!(["Fresh D"]))]),
            ],
            TYPECAST,
        )
        .await
        .unwrap_err();
    assert_invalid(&e, &inverse.name);
    let e = fx
        .pb
        .update_records(
            o,
            items,
            vec![
                (twin, cells(&[("Part", json!(["Fresh D"]))])),
                (holder.id, cells(&[("Part", json!(["Fresh D"]))])),
            ],
            TYPECAST,
        )
        .await
        .unwrap_err();
    assert_invalid(&e, &inverse.name);
    let e = upsert(vec![
        cells(&[("Name", json!("twin")), ("Part", json!(["Fresh D"]))]),
        cells(&[("Name", json!("someone new")), ("Part", json!(["Fresh D"]))]),
    ])
    .await
    .unwrap_err();
    assert_invalid(&e, &inverse.name);
    assert_eq!(code("Fresh D").await, 0);
    // One record listed twice in an update links it once: allowed.
    fx.pb
        .update_records(
            o,
            items,
            vec![
                (twin, cells(&[("Part", json!(["Fresh D"]))])),
                (twin, cells(&[("Part", json!(["Fresh D"]))])),
            ],
            TYPECAST,
        )
        .await
        .unwrap();
    assert_eq!(code("Fresh D").await, 1);
    // The holder itself may keep P1 while naming a new part.
    let up = upsert(vec![cells(&[
        ("Name", json!("holder")),
        ("Part", json!([p1, "Fresh C"])),
    ])])
    .await
    .unwrap();
    assert_eq!(up.updated_records, vec![holder.id]);
    assert_eq!(code("Fresh C").await, 1);
}

/// The ids of `table`'s live records whose primary field "Name" is
/// `name`, oldest first.
async fn ids_named(fx: &Fixture, table: TableId, name: &str) -> Vec<Value> {
    fx.pb
        .query_records(
            &fx.owner,
            table,
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

/// What a validation error says of the field "Notes".
fn detail(e: &crate::error::Error) -> String {
    match e {
        crate::error::Error::Validation { fields, .. } => {
            fields.get("Notes").cloned().unwrap_or_default()
        }
        _ => String::new(),
    }
}

/// How many live records `table` has.
async fn live_count(fx: &Fixture, table: TableId) -> usize {
    fx.pb
        .query_records(&fx.owner, table, QueryInput::default(), FieldKey::Name)
        .await
        .unwrap()
        .records
        .len()
}

/// A field re-typed into a link of another table keeps what its cells said,
/// as Airtable's conversion does: a text's parts between commas name records
/// by primary value (the oldest match, or one new record per new name), a
/// link re-pointed at a third table names its records' primary values, and
/// a text that is a live record's id links it. A cell naming two records in
/// a link that takes one, or an id of no live record, refuses the
/// conversion, which then makes nothing.
pub async fn retyping_into_a_link_names_records_by_primary_value(store: Arc<dyn Store>) {
    let fx = Fixture::new(store).await;
    let o = &fx.owner;
    let t = fx.table.table.id;
    let vendors = fx.other_table().await.table.id;
    let make = |table: TableId, name: &'static str| {
        let pb = &fx.pb;
        async move {
            pb.create_record(o, table, cells(&[("Name", json!(name))]), TYPECAST)
                .await
                .unwrap()
                .id
        }
    };
    let acme = make(vendors, "Acme").await;
    make(vendors, "Acme").await;
    let beta = make(vendors, "Beta").await;
    let a = fx
        .create(&[("Name", json!("a")), ("Notes", json!("Acme, Gamma"))])
        .await;
    let b = fx
        .create(&[("Name", json!("b")), ("Notes", json!("Beta,Acme,Beta"))])
        .await;
    let c = fx.create(&[("Name", json!("c"))]).await;
    let d = fx
        .create(&[("Name", json!("d")), ("Notes", json!(" Gamma "))])
        .await;
    let notes = fx.field("Notes");
    let into = |linked: TableId, multiple: bool| crate::facade::FieldPatch {
        field_type: Some("link".into()),
        options: Some(json!({"linked_table_id": linked, "allow_multiple": multiple})),
        ..crate::facade::FieldPatch::default()
    };

    // A link taking one record refuses b's two names: nothing is made.
    let e = fx
        .pb
        .update_field(o, notes, into(vendors, false))
        .await
        .unwrap_err();
    assert_invalid(&e, "Notes");
    assert!(detail(&e).contains(&b.id.to_string()), "{e:?}");
    assert_eq!(live_count(&fx, vendors).await, 3);
    let still = fx.pb.get_field(o, notes).await.unwrap();
    assert_eq!(still.field_type.type_name(), "long_text");

    // A text that is an id of no live record of the linked table refuses it
    // too.
    let stray = fx
        .create(&[("Name", json!("e")), ("Notes", json!(a.id.to_string()))])
        .await;
    let e = fx
        .pb
        .update_field(o, notes, into(vendors, true))
        .await
        .unwrap_err();
    assert_invalid(&e, "Notes");
    assert!(detail(&e).contains(&stray.id.to_string()), "{e:?}");
    assert_eq!(live_count(&fx, vendors).await, 3);
    // As a live vendor's id, it links that vendor.
    fx.pb
        .update_record(
            o,
            t,
            stray.id,
            cells(&[("Notes", json!(beta.to_string()))]),
            WriteOptions::default(),
            false,
        )
        .await
        .unwrap();

    let field = fx
        .pb
        .update_field(o, notes, into(vendors, true))
        .await
        .unwrap();
    assert_eq!(field.field_type.type_name(), "link");
    let gamma = ids_named(&fx, vendors, "Gamma").await;
    assert_eq!(gamma.len(), 1, "one record for a name new to two cells");
    let cell = |r| {
        let pb = &fx.pb;
        async move {
            pb.get_record(o, t, r, FieldKey::Name)
                .await
                .unwrap()
                .fields
                .get("Notes")
                .cloned()
        }
    };
    assert_eq!(cell(a.id).await, Some(json!([acme, gamma[0]])));
    assert_eq!(cell(b.id).await, Some(json!([beta, acme])));
    assert_eq!(cell(c.id).await, None);
    assert_eq!(cell(d.id).await, Some(json!([gamma[0]])));
    assert_eq!(cell(stray.id).await, Some(json!([beta])));
    assert_eq!(live_count(&fx, vendors).await, 4);

    // A record made linked to the vendors, reverted after the re-point
    // below to its creation: the vendors are no records of the link's table
    // then, so it keeps what the conversion made (a reviewer saw it cleared).
    let made = fx
        .create(&[("Name", json!("f")), ("Notes", json!([acme.to_string()]))])
        .await;
    let made_seq = fx
        .pb
        .record_history(&fx.viewer, t, made.id, None, None)
        .await
        .unwrap()
        .items[0]
        .seq;
    // Re-pointed at another table, the link names its records' primary
    // values there.
    let suppliers = fx.other_table().await.table.id;
    let acme_supplier = make(suppliers, "Acme").await;
    fx.pb
        .update_field(o, notes, into(suppliers, true))
        .await
        .unwrap();
    let beta_supplier = ids_named(&fx, suppliers, "Beta").await;
    let gamma_supplier = ids_named(&fx, suppliers, "Gamma").await;
    assert_eq!((beta_supplier.len(), gamma_supplier.len()), (1, 1));
    assert_eq!(
        cell(a.id).await,
        Some(json!([acme_supplier, gamma_supplier[0]]))
    );
    assert_eq!(
        cell(b.id).await,
        Some(json!([beta_supplier[0], acme_supplier]))
    );
    assert_eq!(cell(stray.id).await, Some(json!([beta_supplier[0]])));
    assert_eq!(live_count(&fx, suppliers).await, 3);
    let back = fx
        .pb
        .revert_record(&fx.editor, t, made.id, made_seq, FieldKey::Name)
        .await
        .unwrap();
    assert_eq!(back.fields.get("Notes"), Some(&json!([acme_supplier])));
    // The vendors keep their records.
    assert_eq!(live_count(&fx, vendors).await, 4);
}
