//! Schema operations and cell validation through the facade.

use crate::fields::kinds::{Currency, Number};
use std::sync::Arc;

use serde_json::{Value, json};

use super::fixture::{Fixture, assert_invalid, cells};
use crate::Error;
use crate::facade::{
    FieldKey, FieldPatch, NewField, NewTable, NewView, QueryInput, TablePatch, WriteOptions,
};
use crate::fields::FieldType;
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

/// Every registered field type, with each of its example option sets,
/// stores exactly what it validates: each of the type's sample inputs,
/// written with and without typecast, is either refused naming the field or
/// read back as the type normalises it. New types are covered by being in
/// the registry.
pub async fn every_registered_type_stores_what_it_validates(store: Arc<dyn Store>) {
    let fx = Fixture::new(store).await;
    let o = &fx.owner;
    let t = fx.table.table.id;
    for (i, example) in FieldType::examples(t).iter().enumerate() {
        // Lookups, rollups and counts need a link field of the table
        // (covered by testkit/computed.rs).
        if matches!(example.type_name(), "lookup" | "rollup" | "count") {
            continue;
        }
        let name = format!("T{i} {}", example.type_name());
        let mut field = fx
            .pb
            .create_field(o, t, nf(&name, example.type_name(), example.options_json()))
            .await
            .unwrap_or_else(|e| panic!("{example:?}: {e}"));
        for input in example.kind().sample_inputs() {
            for typecast in [false, true] {
                let expected = field.field_type.validate_cell(&input, typecast);
                let written = fx
                    .pb
                    .create_record(
                        o,
                        t,
                        cells(&[(name.as_str(), input.clone())]),
                        WriteOptions {
                            typecast,
                            ..WriteOptions::default()
                        },
                    )
                    .await;
                match (expected, written) {
                    (Ok(cell), Ok(record)) => assert_eq!(
                        record.fields.get(&name),
                        cell.as_ref(),
                        "{name}: {input} (typecast {typecast})"
                    ),
                    (Err(_), Err(Error::Validation { fields, .. })) => assert!(
                        fields.contains_key(&name),
                        "{name}: {input} refused without naming the field: {fields:?}"
                    ),
                    (expected, written) => panic!(
                        "{name}: {input} (typecast {typecast}): validation says {expected:?}, the write gave {written:?}"
                    ),
                }
                // Typecast may have added choices.
                field = fx.pb.get_field(o, field.id).await.unwrap();
            }
        }
    }
}

/// Tables, fields and views are created, read, changed and deleted; field
/// names are unique ignoring case; bad types and options are refused.
pub async fn schema_crud_and_unique_field_names(store: Arc<dyn Store>) {
    let fx = Fixture::new(store).await;
    let o = &fx.owner;
    let t = fx.table.table.id;
    assert_eq!(fx.table.table.primary_field_id, Some(fx.field("Name")));
    let got = fx.pb.get_table(o, t).await.unwrap();
    assert_eq!(got.fields.len(), 12);
    assert_eq!(
        got.fields
            .iter()
            .map(|f| f.name.as_str())
            .collect::<Vec<_>>()[..3],
        ["Name", "Qty", "Price"]
    );
    assert_eq!(
        got.fields
            .iter()
            .find(|f| f.name == "Price")
            .unwrap()
            .field_type,
        FieldType::Currency(Currency {
            symbol: "$".into(),
            precision: 2
        })
    );

    let e = fx
        .pb
        .create_field(o, t, nf("qty", "number", Value::Null))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Conflict { .. }), "{e:?}");
    let e = fx
        .pb
        .create_field(o, t, nf("Blob", "blob", Value::Null))
        .await
        .unwrap_err();
    assert_invalid(&e, "Blob");
    let e = fx
        .pb
        .create_field(o, t, nf("P", "number", json!({ "precision": 12 })))
        .await
        .unwrap_err();
    assert_invalid(&e, "P");
    let e = fx
        .pb
        .create_field(
            o,
            t,
            nf(
                "L",
                "link",
                json!({ "linked_table_id": crate::ids::TableId::new() }),
            ),
        )
        .await
        .unwrap_err();
    // A link to a table that is not in the base: 422 naming the field, the
    // same for a table of another base as for none.
    assert_invalid(&e, "L");

    // A table without fields gets a primary "Name" field; primary can move.
    let empty = fx
        .pb
        .create_table(
            o,
            fx.base.id,
            NewTable {
                name: "Empty".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(empty.fields.len(), 1);
    assert_eq!(empty.table.primary_field_id, Some(empty.fields[0].id));
    let other = fx
        .pb
        .create_field(o, empty.table.id, nf("Code", "text", Value::Null))
        .await
        .unwrap();
    let moved = fx
        .pb
        .update_table(
            o,
            empty.table.id,
            TablePatch {
                primary_field_id: Some("Code".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(moved.primary_field_id, Some(other.id));
    let e = fx.pb.delete_field(o, other.id).await.unwrap_err();
    assert!(
        matches!(e, Error::Conflict { .. }),
        "primary field deletion: {e:?}"
    );
    let tables = fx.pb.list_tables(o, fx.base.id).await.unwrap();
    assert_eq!(
        tables.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(),
        ["Items", "Empty"]
    );

    let view = fx
        .pb
        .create_view(o, t, NewView { name: "Open".into(), view_type: None, config: json!({ "filter": { "field": "Status", "op": "eq", "value": "Open" }, "sort": "-Qty", "hidden_fields": ["Notes"] }) })
        .await
        .unwrap();
    assert_eq!(view.config.hidden_fields, vec![fx.field("Notes")]);
    assert_eq!(fx.pb.list_views(o, t).await.unwrap().len(), 1);
    let e = fx
        .pb
        .create_view(
            o,
            t,
            NewView {
                name: "Bad".into(),
                view_type: None,
                config: json!({ "sort": "Nope" }),
            },
        )
        .await
        .unwrap_err();
    assert_invalid(&e, "Nope");
    fx.pb.delete_view(o, view.id).await.unwrap();
    assert!(matches!(
        fx.pb.get_view(o, view.id).await,
        Err(Error::NotFound { .. })
    ));
    fx.pb.delete_table(o, empty.table.id).await.unwrap();
    assert!(matches!(
        fx.pb.get_table(o, empty.table.id).await,
        Err(Error::NotFound { .. })
    ));
}

/// Each field type accepts its values, normalises them, and refuses others
/// with an error naming the field.
pub async fn every_field_type_validates_cells(store: Arc<dyn Store>) {
    let fx = Fixture::new(store).await;
    let o = &fx.owner;
    let t = fx.table.table.id;
    for (name, ty, opts) in [
        ("Web", "url", Value::Null),
        ("Tel", "phone", Value::Null),
        ("When", "datetime", Value::Null),
        ("Pct", "percent", json!({"precision": 0})),
        ("Dur", "duration", Value::Null),
        ("Short", "text", json!({"max_length": 3})),
    ] {
        fx.pb.create_field(o, t, nf(name, ty, opts)).await.unwrap();
    }
    let r = fx
        .create(&[
            ("Name", json!("Widget")),
            ("Qty", json!(3)),
            ("Price", json!(12.5)),
            ("Done", json!(true)),
            ("Status", json!("Open")),
            ("Tags", json!(["a", "c"])),
            ("Due", json!("2026-02-28")),
            ("Notes", json!("line one\nline two")),
            ("Email", json!("Ann@Example.COM")),
            ("Stars", json!(4)),
            ("Web", json!("https://example.com/x")),
            ("Tel", json!("+1 (555) 010-0000")),
            ("When", json!("2026-01-02T03:04:05+02:00")),
            ("Pct", json!(0.25)),
            ("Dur", json!(90)),
            ("Short", json!("abc")),
        ])
        .await;
    let f = &r.fields;
    assert_eq!(f["Qty"], json!(3));
    assert_eq!(f["Price"], json!(12.5));
    assert_eq!(f["Done"], json!(true));
    assert_eq!(f["Tags"], json!(["a", "c"]));
    assert_eq!(f["Email"], json!("Ann@example.com"));
    assert_eq!(f["When"], json!("2026-01-02T01:04:05.000Z"));
    // Empty values are stored as absent and omitted.
    let empty = fx
        .create(&[
            ("Name", json!("")),
            ("Done", json!(false)),
            ("Tags", json!([])),
            ("Qty", Value::Null),
        ])
        .await;
    assert!(
        empty.fields.keys().all(|k| k == "No" || k == "Created"),
        "{:?}",
        empty.fields
    );

    for (field, bad) in [
        ("Qty", json!("abc")),
        ("Qty", json!(true)),
        ("Price", json!({"x": 1})),
        ("Done", json!("yes")),
        ("Status", json!("Nope")),
        ("Tags", json!(["a", "zzz"])),
        ("Due", json!("2026-02-30")),
        ("Email", json!("not-an-email")),
        ("Stars", json!(6)),
        ("Web", json!("ftp://x")),
        ("Tel", json!("call me")),
        ("When", json!("yesterday")),
        ("Short", json!("abcd")),
        ("Name", json!(["list"])),
    ] {
        let e = fx.create_err(&[(field, bad.clone())], false).await;
        assert_invalid(&e, field);
    }
    let e = fx.create_err(&[("Nope", json!(1))], false).await;
    assert_invalid(&e, "Nope");
    // Nothing was stored by the failed writes.
    let page = fx
        .pb
        .query_records(o, t, QueryInput::default(), FieldKey::Name)
        .await
        .unwrap();
    assert_eq!(page.records.len(), 2);
}

/// With typecast, strings convert where sensible and unknown select names
/// become new choices; without it they are errors.
pub async fn typecast_converts_and_creates_choices(store: Arc<dyn Store>) {
    let fx = Fixture::new(store).await;
    let o = &fx.owner;
    let t = fx.table.table.id;
    let tc = WriteOptions {
        typecast: true,
        field_key: FieldKey::Name,
    };
    let r = fx
        .pb
        .create_record(
            o,
            t,
            cells(&[
                ("Qty", json!("12")),
                ("Price", json!("12.50")),
                ("Done", json!("true")),
                ("Status", json!("Blocked")),
                ("Tags", json!("b, d")),
            ]),
            tc,
        )
        .await
        .unwrap();
    assert_eq!(r.fields["Qty"], json!(12));
    assert_eq!(r.fields["Price"], json!(12.5));
    assert_eq!(r.fields["Done"], json!(true));
    assert_eq!(r.fields["Status"], json!("Blocked"));
    assert_eq!(r.fields["Tags"], json!(["b", "d"]));
    let table = fx.pb.get_table(o, t).await.unwrap();
    let status = table.fields.iter().find(|f| f.name == "Status").unwrap();
    assert!(
        status
            .field_type
            .choices()
            .iter()
            .any(|c| c.name == "Blocked")
    );
    let tags = table.fields.iter().find(|f| f.name == "Tags").unwrap();
    assert!(tags.field_type.choices().iter().any(|c| c.name == "d"));
    // Without typecast, the same input is refused.
    let e = fx.create_err(&[("Qty", json!("12"))], false).await;
    assert_invalid(&e, "Qty");
    let e = fx
        .create_err(&[("Status", json!("Elsewhere"))], false)
        .await;
    assert_invalid(&e, "Status");
    // Typecast cannot make a number of nonsense.
    let e = fx.create_err(&[("Qty", json!("twelve"))], true).await;
    assert_invalid(&e, "Qty");
}

/// Computed fields reject writes and show their values.
pub async fn computed_fields_reject_writes_and_are_rendered(store: Arc<dyn Store>) {
    let fx = Fixture::new(store).await;
    for (field, v) in [
        ("No", json!(5)),
        ("Created", json!("2026-01-01T00:00:00Z")),
        ("No", Value::Null),
    ] {
        let e = fx.create_err(&[(field, v)], true).await;
        assert_invalid(&e, field);
    }
    let a = fx.create(&[("Name", json!("a"))]).await;
    let b = fx.create(&[("Name", json!("b"))]).await;
    let (na, nb) = (
        a.fields["No"].as_i64().unwrap(),
        b.fields["No"].as_i64().unwrap(),
    );
    assert!(nb > na, "autonumbers increase: {na} then {nb}");
    let created = a.fields["Created"].as_str().unwrap();
    assert_eq!(
        chrono::DateTime::parse_from_rfc3339(created).unwrap(),
        a.created_time
    );
}

/// A link cell accepts only ids of live records of the linked table.
pub async fn link_cells_accept_only_live_records(store: Arc<dyn Store>) {
    let fx = Fixture::new(store).await;
    let o = &fx.owner;
    let t = fx.table.table.id;
    let suppliers = fx
        .pb
        .create_table(
            o,
            fx.base.id,
            NewTable {
                name: "Suppliers".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let st = suppliers.table.id;
    let link = fx
        .pb
        .create_field(
            o,
            t,
            nf(
                "Supplier",
                "link",
                json!({ "linked_table_id": st, "allow_multiple": false }),
            ),
        )
        .await
        .unwrap();
    let acme = fx
        .pb
        .create_record(
            o,
            st,
            cells(&[("Name", json!("Acme"))]),
            WriteOptions::default(),
        )
        .await
        .unwrap();
    let gone = fx
        .pb
        .create_record(
            o,
            st,
            cells(&[("Name", json!("Gone"))]),
            WriteOptions::default(),
        )
        .await
        .unwrap();
    fx.pb.delete_records(o, st, &[gone.id]).await.unwrap();
    let item = fx
        .create(&[("Name", json!("i")), ("Supplier", json!([acme.id]))])
        .await;
    assert_eq!(item.fields["Supplier"], json!([acme.id]));
    let e = fx
        .create_err(&[("Supplier", json!([gone.id]))], false)
        .await;
    assert_invalid(&e, "Supplier");
    let e = fx
        .create_err(&[("Supplier", json!([crate::ids::RecordId::new()]))], false)
        .await;
    assert_invalid(&e, "Supplier");
    // A record of another table is not a record of the linked table.
    let e = fx
        .create_err(&[("Supplier", json!([item.id]))], false)
        .await;
    assert_invalid(&e, "Supplier");
    let e = fx
        .create_err(&[("Supplier", json!([acme.id, acme.id, item.id]))], false)
        .await;
    assert_invalid(&e, "Supplier");
    let e = fx
        .create_err(&[("Supplier", json!(["tblAAAAAAAAAAAAAA"]))], false)
        .await;
    assert_invalid(&e, "Supplier");
    assert_eq!(link.field_type.type_name(), "link");
    // Deleting the linked table turns the link field into text holding the
    // linked records' primary values.
    fx.pb.delete_table(o, st).await.unwrap();
    let after = fx.pb.get_field(o, link.id).await.unwrap();
    assert_eq!(after.field_type.type_name(), "long_text");
    let back = fx
        .pb
        .get_record(o, t, item.id, FieldKey::Name)
        .await
        .unwrap();
    assert_eq!(back.fields["Supplier"], json!("Acme"));
}

/// A link field changed to text holds the linked records' primary values
/// in link order, joined by ", " (an empty primary value is written as
/// the record's id; a soft-deleted record is left out, as reads leave it
/// out); a change to a type that is not text is refused.
pub async fn link_fields_become_text_of_primary_values(store: Arc<dyn Store>) {
    let fx = Fixture::new(store).await;
    let o = &fx.owner;
    let t = fx.table.table.id;
    let parts = fx
        .pb
        .create_table(
            o,
            fx.base.id,
            NewTable {
                name: "Parts".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .table
        .id;
    let link = fx
        .pb
        .create_field(
            o,
            t,
            nf("Parts", "link", json!({ "linked_table_id": parts })),
        )
        .await
        .unwrap();
    let part = |name: Value| {
        let pb = fx.pb.clone();
        let o = o.clone();
        async move {
            pb.create_record(&o, parts, cells(&[("Name", name)]), WriteOptions::default())
                .await
                .unwrap()
                .id
        }
    };
    let (bolt, nut, blank, gone) = (
        part(json!("Bolt")).await,
        part(json!("Nut")).await,
        part(Value::Null).await,
        part(json!("Gone")).await,
    );
    let a = fx
        .create(&[
            ("Name", json!("a")),
            ("Parts", json!([nut, bolt, blank, gone])),
        ])
        .await;
    let b = fx
        .create(&[("Name", json!("b")), ("Parts", json!([gone]))])
        .await;
    fx.pb.delete_records(o, parts, &[gone]).await.unwrap();
    let to = |ty: &str| FieldPatch {
        field_type: Some(ty.to_owned()),
        options: Some(Value::Null),
        ..Default::default()
    };
    let e = fx
        .pb
        .update_field(o, link.id, to("number"))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Validation { .. }), "{e:?}");
    fx.pb.update_field(o, link.id, to("text")).await.unwrap();
    let read = |id| {
        let pb = fx.pb.clone();
        let o = o.clone();
        async move { pb.get_record(&o, t, id, FieldKey::Name).await.unwrap() }
    };
    assert_eq!(
        read(a.id).await.fields["Parts"],
        json!(format!("Nut, Bolt, {blank}"))
    );
    assert_eq!(read(b.id).await.fields.get("Parts"), None);
}

/// Numbers come back exactly as entered within their precision, and are
/// rounded half away from zero beyond it.
pub async fn numbers_round_trip_exactly(store: Arc<dyn Store>) {
    let fx = Fixture::new(store).await;
    let o = &fx.owner;
    let t = fx.table.table.id;
    fx.pb
        .create_field(o, t, nf("Fine", "number", json!({ "precision": 8 })))
        .await
        .unwrap();
    for text in [
        "0.1",
        "0.3",
        "123456.78901234",
        "-0.00000001",
        "9999999.99999999",
        "1234567.1",
        "0.12345678",
    ] {
        let v: Value = serde_json::from_str(text).unwrap();
        let r = fx.create(&[("Fine", v)]).await;
        let back = fx.pb.get_record(o, t, r.id, FieldKey::Name).await.unwrap();
        // The same JSON number comes back (serde_json may print 1e-8 for 0.00000001).
        assert_eq!(back.fields["Fine"], v_in(text), "round trip of {text}");
        assert_eq!(
            back.fields["Fine"].as_f64().map(|f| f.to_string()),
            text.parse::<f64>().ok().map(|f| f.to_string())
        );
    }
    // Beyond 15 significant digits a number cannot round-trip: refused, not drifted.
    let e = fx
        .create_err(&[("Fine", v_in("99999999.99999999"))], false)
        .await;
    assert_invalid(&e, "Fine");
    let r = fx
        .create(&[("Price", json!(2.675)), ("Qty", json!(2.5))])
        .await;
    assert_eq!(r.fields["Price"], json!(2.68));
    assert_eq!(r.fields["Qty"], json!(3));
    let r = fx.create(&[("Qty", json!(-2.5))]).await;
    assert_eq!(r.fields["Qty"], json!(-3));
}

fn v_in(text: &str) -> Value {
    serde_json::from_str(text).expect("a JSON number")
}

/// Renaming a field changes nothing stored.
pub async fn rename_field_keeps_data(store: Arc<dyn Store>) {
    let fx = Fixture::new(store).await;
    let o = &fx.owner;
    let t = fx.table.table.id;
    let r = fx
        .create(&[("Qty", json!(7)), ("Status", json!("Open"))])
        .await;
    fx.pb
        .update_field(
            o,
            fx.field("Qty"),
            FieldPatch {
                name: Some("Quantity".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let back = fx.pb.get_record(o, t, r.id, FieldKey::Name).await.unwrap();
    assert_eq!(back.fields["Quantity"], json!(7));
    assert!(!back.fields.contains_key("Qty"));
    let by_id = fx.pb.get_record(o, t, r.id, FieldKey::Id).await.unwrap();
    assert_eq!(by_id.fields[fx.field("Qty").as_str()], json!(7));
    // Renaming a choice rewrites the cells that hold it.
    let status = fx.pb.get_field(o, fx.field("Status")).await.unwrap();
    let mut choices = serde_json::to_value(status.field_type.choices()).unwrap();
    choices[0]["name"] = json!("Active");
    fx.pb
        .update_field(
            o,
            status.id,
            FieldPatch {
                options: Some(json!({ "choices": choices })),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let back = fx.pb.get_record(o, t, r.id, FieldKey::Name).await.unwrap();
    assert_eq!(back.fields["Status"], json!("Active"));
    // Renamed by its id beside a new choice taking its old name: two
    // choices, the new one with an id of its own (it took the renamed
    // one's, so a later rename of either rewrote both's cells).
    let mut choices = serde_json::to_value(
        fx.pb
            .get_field(o, status.id)
            .await
            .unwrap()
            .field_type
            .choices(),
    )
    .unwrap();
    let active_id = choices[0]["id"].clone();
    choices[0]["name"] = json!("Live");
    choices
        .as_array_mut()
        .unwrap()
        .push(json!({ "name": "Active" }));
    let patch = |choices: Value| FieldPatch {
        options: Some(json!({ "choices": choices })),
        ..Default::default()
    };
    let status = fx
        .pb
        .update_field(o, status.id, patch(choices))
        .await
        .unwrap();
    let ids: Vec<_> = status
        .field_type
        .choices()
        .iter()
        .map(|c| (c.name.clone(), c.id))
        .collect();
    let id_of = |name: &str| {
        ids.iter()
            .find(|(n, _)| n == name)
            .map(|(_, id)| *id)
            .unwrap()
    };
    assert_eq!(json!(id_of("Live")), active_id);
    assert_ne!(id_of("Active"), id_of("Live"));
    assert_eq!(
        ids.iter()
            .map(|(_, id)| *id)
            .collect::<std::collections::BTreeSet<_>>()
            .len(),
        ids.len()
    );
    let r2 = fx.create(&[("Status", json!("Active"))]).await;
    let mut choices = serde_json::to_value(status.field_type.choices()).unwrap();
    for c in choices.as_array_mut().unwrap() {
        if c["name"] == json!("Live") {
            c["name"] = json!("Gone live");
        }
    }
    fx.pb
        .update_field(o, status.id, patch(choices.clone()))
        .await
        .unwrap();
    let back = fx.pb.get_record(o, t, r.id, FieldKey::Name).await.unwrap();
    assert_eq!(back.fields["Status"], json!("Gone live"));
    let back = fx.pb.get_record(o, t, r2.id, FieldKey::Name).await.unwrap();
    assert_eq!(back.fields["Status"], json!("Active"));
    // One id given to two choices is refused.
    let mut twice = choices.clone();
    let first = twice[0]["id"].clone();
    twice[1]["id"] = first;
    let e = fx
        .pb
        .update_field(o, status.id, patch(twice))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("listed twice"), "{e}");
    let e = fx
        .pb
        .update_field(
            o,
            fx.field("Name"),
            FieldPatch {
                name: Some("quantity".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Conflict { .. }), "{e:?}");
}

/// A type change converts every cell, or refuses and changes nothing.
pub async fn change_field_type_converts_or_refuses_whole(store: Arc<dyn Store>) {
    let fx = Fixture::new(store).await;
    let o = &fx.owner;
    let t = fx.table.table.id;
    let code = fx
        .pb
        .create_field(o, t, nf("Code", "text", Value::Null))
        .await
        .unwrap();
    let a = fx.create(&[("Code", json!("12"))]).await;
    let b = fx.create(&[("Code", json!("3.5"))]).await;
    let c = fx.create(&[("Code", json!("n/a"))]).await;
    let e = fx
        .pb
        .update_field(
            o,
            code.id,
            FieldPatch {
                field_type: Some("number".into()),
                options: Some(json!({"precision": 1})),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    match &e {
        Error::Validation { fields, .. } => {
            // Keyed by the field, the failed record named in its message.
            assert_eq!(fields.len(), 1, "{fields:?}");
            assert!(fields["Code"].contains(c.id.as_str()), "{fields:?}");
        }
        other => panic!("expected a validation error, got {other:?}"),
    }
    // Nothing was half-converted: the field is still text with its cells.
    assert_eq!(
        fx.pb
            .get_field(o, code.id)
            .await
            .unwrap()
            .field_type
            .type_name(),
        "text"
    );
    assert_eq!(
        fx.pb
            .get_record(o, t, a.id, FieldKey::Name)
            .await
            .unwrap()
            .fields["Code"],
        json!("12")
    );
    // Clearing the bad cell lets the conversion go through.
    fx.pb
        .update_record(
            o,
            t,
            c.id,
            cells(&[("Code", Value::Null)]),
            WriteOptions::default(),
            false,
        )
        .await
        .unwrap();
    let f = fx
        .pb
        .update_field(
            o,
            code.id,
            FieldPatch {
                field_type: Some("number".into()),
                options: Some(json!({"precision": 1})),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(f.field_type, FieldType::Number(Number { precision: 1 }));
    assert_eq!(
        fx.pb
            .get_record(o, t, a.id, FieldKey::Name)
            .await
            .unwrap()
            .fields["Code"],
        json!(12)
    );
    assert_eq!(
        fx.pb
            .get_record(o, t, b.id, FieldKey::Name)
            .await
            .unwrap()
            .fields["Code"],
        json!(3.5)
    );
    // Number filters work on the converted cells.
    let page = fx
        .pb
        .query_records(
            o,
            t,
            QueryInput {
                filter: Some(json!({"field": "Code", "op": "gt", "value": 4})),
                ..Default::default()
            },
            FieldKey::Name,
        )
        .await
        .unwrap();
    assert_eq!(
        page.records.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![a.id]
    );
    // Text to single select creates the choices it needs.
    let g = fx
        .pb
        .create_field(o, t, nf("Grade", "text", Value::Null))
        .await
        .unwrap();
    fx.create(&[("Grade", json!("A"))]).await;
    let g = fx
        .pb
        .update_field(
            o,
            g.id,
            FieldPatch {
                field_type: Some("single_select".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        g.field_type
            .choices()
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>(),
        ["A"]
    );
}

/// Re-typing a field drops the view conditions its new type cannot answer
/// and keeps the rest, so the view keeps working.
pub async fn retype_fits_views_to_the_new_type(store: Arc<dyn Store>) {
    let fx = Fixture::new(store.clone()).await;
    let o = &fx.owner;
    let t = fx.table.table.id;
    fx.create(&[("Name", json!("x")), ("Notes", json!("12"))])
        .await;
    let v = fx
        .pb
        .create_view(o, t, NewView { name: "V".into(), view_type: None, config: json!({ "filter": {"and": [{"field": "Notes", "op": "contains", "value": "1"}, {"field": "Notes", "op": "is_not_empty"}, {"field": "Qty", "op": "gt", "value": 1}]}, "sort": "-Notes" }) })
        .await
        .unwrap();
    let notes = fx.field("Notes");
    fx.pb
        .update_field(
            o,
            notes,
            FieldPatch {
                field_type: Some("number".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let v = fx.pb.get_view(o, v.id).await.unwrap();
    let filter = v.config.filter.clone().expect("a filter is left");
    let text = filter.to_string();
    assert!(!text.contains("contains"), "{text}");
    assert!(
        text.contains("is_not_empty") && text.contains("\"gt\""),
        "{text}"
    );
    assert_eq!(v.config.sort.len(), 1, "a number sorts: the sort stays");
    fx.pb
        .query_records(
            o,
            t,
            QueryInput {
                view: Some(v.id.to_string()),
                ..Default::default()
            },
            FieldKey::Name,
        )
        .await
        .expect("the view still works");
}

/// Deleting a field removes its cells and every view's reference to it.
pub async fn delete_field_removes_cells_and_view_references(store: Arc<dyn Store>) {
    let fx = Fixture::new(store.clone()).await;
    let o = &fx.owner;
    let t = fx.table.table.id;
    let r = fx
        .create(&[("Name", json!("x")), ("Notes", json!("secret"))])
        .await;
    let v = fx
        .pb
        .create_view(o, t, NewView { name: "V".into(), view_type: None, config: json!({ "filter": {"and": [{"field": "Notes", "op": "is_not_empty"}, {"field": "Qty", "op": "gt", "value": 1}]}, "sort": "Notes", "hidden_fields": ["Notes"] }) })
        .await
        .unwrap();
    fx.pb.delete_field(o, fx.field("Notes")).await.unwrap();
    let stored = store.get_record(t, r.id, false).await.unwrap();
    assert!(!stored.cells.contains_key(fx.field("Notes").as_str()));
    let v = fx.pb.get_view(o, v.id).await.unwrap();
    assert!(v.config.sort.is_empty() && v.config.hidden_fields.is_empty());
    let filter = v.config.filter.expect("the Qty condition stays");
    assert!(!filter.to_string().contains(fx.field("Notes").as_str()));
    // The view still works.
    fx.pb
        .query_records(
            o,
            t,
            QueryInput {
                view: Some(v.id.to_string()),
                ..Default::default()
            },
            FieldKey::Name,
        )
        .await
        .unwrap();
}
