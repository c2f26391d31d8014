//! Editing computed fields and the records that hold them (issue 12
//! review): a changed formula logs one event per record, a replace keeps
//! derived cells, a deleted reference keeps its name in the formula text,
//! a formula that does not parse is refused with its position, and a PATCH
//! of a field's options merges them over the current ones.

use std::sync::Arc;

use serde_json::{Value, json};

use super::computed::{last_seq, nf};
use super::fixture::{Fixture, cells};
use crate::Error;
use crate::facade::{FieldKey, FieldPatch, NewField, WriteOptions};
use crate::ids::{FieldId, RecordId};
use crate::model::Field;
use crate::store::{ChangeEvent, ChangeKind, Store};

/// Creates `spec` in the fixture's table.
async fn field(fx: &Fixture, spec: NewField) -> Field {
    super::computed::field(fx, fx.table.table.id, spec).await
}

async fn patch_options(fx: &Fixture, id: FieldId, options: Value) -> crate::Result<Field> {
    fx.pb
        .update_field(
            &fx.owner,
            id,
            FieldPatch {
                options: Some(options),
                ..FieldPatch::default()
            },
        )
        .await
}

async fn read(fx: &Fixture, id: RecordId) -> serde_json::Map<String, Value> {
    fx.pb
        .get_record(&fx.owner, fx.table.table.id, id, FieldKey::Name)
        .await
        .expect("get record")
        .fields
}

/// The `record.updated` events of the fixture's base after `after`, each
/// record's once (a second event of a record fails).
async fn record_events(fx: &Fixture, after: i64) -> Vec<ChangeEvent> {
    let events = fx
        .pb
        .changes_since(&fx.viewer, fx.base.id, after, Some(1000))
        .await
        .expect("changes")
        .items;
    let mut seen: Vec<RecordId> = Vec::new();
    let mut out = Vec::new();
    for e in events {
        if e.kind != ChangeKind::RecordUpdated {
            continue;
        }
        let r = e.record_id.expect("a record event");
        assert!(!seen.contains(&r), "two events of {r}: {e:#?}");
        seen.push(r);
        out.push(e);
    }
    out
}

/// The event of record `r` among `events`.
fn of_record(events: &[ChangeEvent], r: RecordId) -> &ChangeEvent {
    events
        .iter()
        .find(|e| e.record_id == Some(r))
        .unwrap_or_else(|| panic!("no event of {r}: {events:#?}"))
}

/// One record's event changes `field` from `before` to `after`, in one step.
fn assert_moved(e: &ChangeEvent, field: FieldId, before: &Value, after: &Value) {
    let key = field.to_string();
    assert_eq!(e.changed_fields.clone().unwrap(), vec![field], "{e:#?}");
    assert_eq!(&e.before.clone().unwrap()[&key], before, "{e:#?}");
    assert_eq!(&e.after.clone().unwrap()[&key], after, "{e:#?}");
}

/// Changing a formula, or its time zone, recomputes its cells over the old
/// values: one `record.updated` per record whose value changed (old value
/// before, new after), none for a record whose value stayed, and no
/// clearing pass. The same on a large table filled in the background.
pub async fn changing_a_formula_logs_one_event_per_record(store: Arc<dyn Store>) {
    let fx = Fixture::new(store.clone()).await;
    let triple = field(
        &fx,
        nf("Triple", "formula", json!({ "formula": "{Qty} * 3" })),
    )
    .await;
    let a = fx.create(&[("Qty", json!(3))]).await;
    let b = fx.create(&[("Qty", json!(5))]).await;
    let zero = fx.create(&[("Qty", json!(0))]).await;

    let at = last_seq(&fx).await;
    patch_options(&fx, triple.id, json!({ "formula": "{Qty} * 4" }))
        .await
        .expect("change the formula");
    let events = record_events(&fx, at).await;
    let mut records: Vec<RecordId> = events.iter().filter_map(|e| e.record_id).collect();
    records.sort();
    let mut want = vec![a.id, b.id];
    want.sort();
    assert_eq!(records, want, "0 * 3 = 0 * 4: no event for {}", zero.id);
    assert_moved(of_record(&events, a.id), triple.id, &json!(9), &json!(12));
    assert_moved(of_record(&events, b.id), triple.id, &json!(15), &json!(20));
    assert_eq!(read(&fx, a.id).await.get("Triple"), Some(&json!(12)));

    // A time zone change of a formula reading the zone: one event each,
    // from the old value to the new.
    let local = "DATETIME_FORMAT({Created}, 'HH:mm')";
    let hour = field(&fx, nf("Hour", "formula", json!({ "formula": local }))).await;
    let mut before = Vec::new();
    for r in [a.id, b.id, zero.id] {
        before.push((r, read(&fx, r).await.get("Hour").cloned().expect("an hour")));
    }
    let at = last_seq(&fx).await;
    patch_options(
        &fx,
        hour.id,
        json!({ "formula": local, "time_zone": "Asia/Kolkata" }),
    )
    .await
    .expect("change the zone");
    let events = record_events(&fx, at).await;
    assert_eq!(events.len(), 3, "{events:#?}");
    for (r, old) in before {
        let now = read(&fx, r).await.get("Hour").cloned().expect("an hour");
        assert_ne!(now, old, "+05:30 moves every time");
        assert_moved(of_record(&events, r), hour.id, &old, &now);
    }

    // A large table: the background fill writes each changed cell once.
    let mut big = Fixture::new(store).await;
    big.pb = big
        .pb
        .clone()
        .with_limits(crate::Limits {
            compute_inline_records: 2,
            ..crate::Limits::default()
        })
        .with_background_fills(false);
    let records = (0..5).map(|i| cells(&[("Qty", json!(i + 1))])).collect();
    let made = big
        .pb
        .create_records(
            &big.owner,
            big.table.table.id,
            records,
            WriteOptions::default(),
        )
        .await
        .expect("create records");
    let double = field(
        &big,
        nf("Double", "formula", json!({ "formula": "{Qty} * 2" })),
    )
    .await;
    assert_eq!(big.pb.run_compute_fills().await.unwrap(), 1);
    let at = last_seq(&big).await;
    let changed = patch_options(&big, double.id, json!({ "formula": "{Qty} * 10" }))
        .await
        .expect("change the formula");
    assert_eq!(changed.status, crate::model::FieldStatus::Computing);
    assert!(
        record_events(&big, at).await.is_empty(),
        "no clearing pass before the fill"
    );
    assert_eq!(big.pb.run_compute_fills().await.unwrap(), 1);
    let events = record_events(&big, at).await;
    assert_eq!(events.len(), 5, "{events:#?}");
    for (i, r) in made.iter().enumerate() {
        let e = of_record(&events, r.id);
        let qty = i + 1;
        assert_moved(e, double.id, &json!(qty * 2), &json!(qty * 10));
    }
}

/// A replace (`PUT`) clears the writable cells it does not give and keeps
/// the computed ones: valid ones recomputed from the new cells, those of an
/// `is_valid: false` field with their last values.
pub async fn replace_keeps_derived_cells(store: Arc<dyn Store>) {
    let fx = Fixture::new(store).await;
    let t = fx.table.table.id;
    field(
        &fx,
        nf("Total", "formula", json!({ "formula": "{Qty} * 2" })),
    )
    .await;
    let stale = field(
        &fx,
        nf("Starry", "formula", json!({ "formula": "{Stars} + 1" })),
    )
    .await;
    let r = fx
        .create(&[("Qty", json!(3)), ("Stars", json!(2)), ("Name", json!("x"))])
        .await;
    assert_eq!(r.fields.get("Starry"), Some(&json!(3)));
    fx.pb
        .delete_field(&fx.owner, fx.field("Stars"))
        .await
        .expect("delete Stars");
    let replaced = fx
        .pb
        .update_record(
            &fx.owner,
            t,
            r.id,
            cells(&[("Qty", json!(4))]),
            WriteOptions::default(),
            true,
        )
        .await
        .expect("replace");
    for got in [replaced.fields, read(&fx, r.id).await] {
        assert_eq!(got.get("Name"), None, "cleared: {got:?}");
        assert_eq!(got.get("Qty"), Some(&json!(4)), "{got:?}");
        assert_eq!(got.get("Total"), Some(&json!(8)), "{got:?}");
        assert_eq!(got.get("Starry"), Some(&json!(3)), "kept: {got:?}");
    }
    let stored = fx.store.field_cells(t, stale.id).await.unwrap();
    assert_eq!(stored, vec![(r.id, json!(3))]);
}

/// Deleting a field a formula reads keeps its last known name in the
/// formula text (`is_valid: false`), even when the formula was already
/// invalid; saving the text again once a field of that name exists makes
/// it valid again.
pub async fn deleted_reference_keeps_its_name(store: Arc<dyn Store>) {
    let fx = Fixture::new(store).await;
    let text = |f: &Field| f.field_type.options_json()["formula"].clone();
    let valid = |f: &Field| f.field_type.options_json()["is_valid"].clone();
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
    let f = field(
        &fx,
        nf(
            "Total",
            "formula",
            json!({ "formula": "{Quantity} * {Stars}" }),
        ),
    )
    .await;
    fx.pb
        .delete_field(&fx.owner, fx.field("Stars"))
        .await
        .expect("delete Stars");
    let got = fx.pb.get_field(&fx.owner, f.id).await.unwrap();
    assert_eq!(text(&got), json!("{Quantity} * {Stars}"));
    assert_eq!(valid(&got), json!(false));
    // A second deleted reference of the now invalid formula: named too.
    fx.pb
        .delete_field(&fx.owner, fx.field("Qty"))
        .await
        .expect("delete Quantity");
    let got = fx.pb.get_field(&fx.owner, f.id).await.unwrap();
    assert_eq!(text(&got), json!("{Quantity} * {Stars}"));
    let listed = fx
        .pb
        .list_fields(&fx.owner, fx.table.table.id)
        .await
        .unwrap();
    let listed = listed.iter().find(|x| x.id == f.id).unwrap();
    assert_eq!(text(listed), json!("{Quantity} * {Stars}"));
    assert_eq!(valid(listed), json!(false));
    // Fixed by saving the text once the names exist again.
    field(&fx, nf("Quantity", "number", json!({ "precision": 0 }))).await;
    field(&fx, nf("Stars", "number", json!({ "precision": 0 }))).await;
    let fixed = patch_options(&fx, f.id, json!({ "formula": "{Quantity} * {Stars}" }))
        .await
        .expect("save again");
    assert_eq!(valid(&fixed), json!(true));
    let r = fx
        .create(&[("Quantity", json!(2)), ("Stars", json!(5))])
        .await;
    assert_eq!(r.fields.get("Total"), Some(&json!(10)));
}

/// A formula that does not parse is refused on create and on PATCH with
/// the position, like one that does not check ([`Error::InvalidFormula`]);
/// a rollup's formula alike.
pub async fn unparsable_formulas_give_their_position(store: Arc<dyn Store>) {
    let fx = Fixture::new(store).await;
    for (formula, start) in [("{Qty} * ", 8), ("(((1)", 5), ("é + 1", 0)] {
        let e = fx
            .pb
            .create_field(
                &fx.owner,
                fx.table.table.id,
                nf("Bad", "formula", json!({ "formula": formula })),
            )
            .await
            .unwrap_err();
        match &e {
            Error::InvalidFormula {
                message,
                start: s,
                end,
            } => {
                assert!(message.starts_with("Invalid formula"), "{formula}: {e:?}");
                assert_eq!(*s, start, "{formula}: {e:?}");
                assert!(*end >= *s && *end <= formula.chars().count(), "{e:?}");
            }
            other => panic!("{formula}: expected InvalidFormula, got {other:?}"),
        }
    }
    let good = field(
        &fx,
        nf("Good", "formula", json!({ "formula": "{Qty} + 1" })),
    )
    .await;
    let e = patch_options(&fx, good.id, json!({ "formula": "{Qty} * " }))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, Error::InvalidFormula { start: 8, .. }),
        "{e:?}"
    );
    let e = patch_options(&fx, good.id, json!({ "formula": "{Nope} + 1" }))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, Error::InvalidFormula { start: 0, .. }),
        "{e:?}"
    );
    let other = fx.other_table().await;
    let link = fx
        .pb
        .create_field(
            &fx.owner,
            fx.table.table.id,
            nf(
                "Others",
                "link",
                json!({ "linked_table_id": other.table.id }),
            ),
        )
        .await
        .expect("link");
    let e = fx
        .pb
        .create_field(
            &fx.owner,
            fx.table.table.id,
            nf(
                "Sum",
                "rollup",
                json!({ "link_field": link.id.to_string(), "field": other.fields[0].id.to_string(), "formula": "SUM(values" }),
            ),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&e, Error::InvalidFormula { start: 10, .. }),
        "{e:?}"
    );
}

/// A PATCH of a field's options keeping its type merges them over the
/// current ones (`null` removes one); a type change takes them as given.
pub async fn patched_options_merge(store: Arc<dyn Store>) {
    let fx = Fixture::new(store).await;
    let price = patch_options(&fx, fx.field("Price"), json!({ "precision": 0 }))
        .await
        .expect("precision only");
    let opts = price.field_type.options_json();
    assert_eq!(opts["symbol"], json!("$"), "{opts}");
    assert_eq!(opts["precision"], json!(0), "{opts}");

    let f = field(
        &fx,
        nf("Total", "formula", json!({ "formula": "{Qty} * 2" })),
    )
    .await;
    let zoned = patch_options(&fx, f.id, json!({ "time_zone": "Asia/Kolkata" }))
        .await
        .expect("time_zone only");
    let opts = zoned.field_type.options_json();
    assert_eq!(opts["formula"], json!("{Qty} * 2"), "{opts}");
    assert_eq!(opts["time_zone"], json!("Asia/Kolkata"), "{opts}");
    assert_eq!(opts["is_valid"], json!(true), "{opts}");
    let r = fx.create(&[("Qty", json!(4))]).await;
    assert_eq!(r.fields.get("Total"), Some(&json!(8)));
    let utc = patch_options(&fx, f.id, json!({ "time_zone": null }))
        .await
        .expect("drop the zone");
    assert!(utc.field_type.options_json().get("time_zone").is_none());

    // A type change takes the options as given.
    let retyped = fx
        .pb
        .update_field(
            &fx.owner,
            fx.field("Stars"),
            FieldPatch {
                field_type: Some("number".into()),
                options: Some(json!({ "precision": 1 })),
                ..FieldPatch::default()
            },
        )
        .await
        .expect("retype");
    let opts = retyped.field_type.options_json();
    assert_eq!(opts["precision"], json!(1), "{opts}");
    assert!(opts.get("max").is_none(), "{opts}");
}
