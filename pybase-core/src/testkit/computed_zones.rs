//! Formula and rollup fields with a `time_zone` (FORMULA.md A.6) through
//! the facade: cells are computed in the field's local time, changing the
//! zone recomputes them, a bad zone is refused naming the field and the
//! option.

use std::sync::Arc;

use serde_json::{Value, json};

use super::computed::{field, nf};
use super::fixture::{Fixture, assert_invalid, cells};
use crate::Error;
use crate::facade::{FieldKey, FieldPatch, NewTable, WriteOptions};
use crate::ids::TableId;
use crate::model::Field;
use crate::store::Store;

async fn set_options(fx: &Fixture, field: &Field, options: Value) -> Field {
    fx.pb
        .update_field(
            &fx.owner,
            field.id,
            FieldPatch {
                options: Some(options),
                ..FieldPatch::default()
            },
        )
        .await
        .unwrap_or_else(|e| panic!("update field: {e:?}"))
}

/// The cell `name` of record `id` of `table`, read back.
async fn cell(fx: &Fixture, table: TableId, id: crate::ids::RecordId, name: &str) -> Option<Value> {
    fx.pb
        .get_record(&fx.owner, table, id, FieldKey::Name)
        .await
        .expect("get record")
        .fields
        .get(name)
        .cloned()
}

const LOCAL: &str = "DATETIME_FORMAT({When}, 'YYYY-MM-DD HH:mm')";

/// A formula with `time_zone: "America/New_York"` stores local times on
/// both sides of a DST change; changing or dropping the zone recomputes
/// every cell; a rollup evaluates in its own zone.
pub async fn computed_fields_evaluate_in_their_time_zone(store: Arc<dyn Store>) {
    let fx = Fixture::new(store).await;
    let t = fx.table.table.id;
    field(&fx, t, nf("When", "datetime", json!({ "timezone": "UTC" }))).await;
    let local = field(
        &fx,
        t,
        nf(
            "Local",
            "formula",
            json!({ "formula": LOCAL, "time_zone": "America/New_York" }),
        ),
    )
    .await;
    let opts = local.field_type.options_json();
    assert_eq!(opts["time_zone"], json!("America/New_York"), "{opts}");
    assert_eq!(opts["result_type"], json!("text"), "{opts}");
    // 06:30Z is 01:30 EST, 07:30Z is 03:30 EDT (clocks went forward at 07:00Z).
    let before = fx
        .create(&[("When", json!("2026-03-08T06:30:00.000Z"))])
        .await;
    let after = fx
        .create(&[("When", json!("2026-03-08T07:30:00.000Z"))])
        .await;
    assert_eq!(before.fields.get("Local"), Some(&json!("2026-03-08 01:30")));
    assert_eq!(after.fields.get("Local"), Some(&json!("2026-03-08 03:30")));
    // A write of the input recomputes in the zone.
    let moved = fx
        .pb
        .update_record(
            &fx.owner,
            t,
            before.id,
            cells(&[("When", json!("2026-11-01T06:30:00.000Z"))]),
            WriteOptions::default(),
            false,
        )
        .await
        .expect("update record");
    assert_eq!(moved.fields.get("Local"), Some(&json!("2026-11-01 01:30")));
    // Another zone recomputes every cell.
    let local = set_options(
        &fx,
        &local,
        json!({ "formula": LOCAL, "time_zone": "Asia/Kolkata" }),
    )
    .await;
    assert_eq!(
        local.field_type.options_json()["time_zone"],
        json!("Asia/Kolkata")
    );
    assert_eq!(
        cell(&fx, t, before.id, "Local").await,
        Some(json!("2026-11-01 12:00"))
    );
    assert_eq!(
        cell(&fx, t, after.id, "Local").await,
        Some(json!("2026-03-08 13:00"))
    );
    // No zone is UTC, and the read options show none.
    let local = set_options(&fx, &local, json!({ "formula": LOCAL, "time_zone": null })).await;
    assert!(
        local.field_type.options_json().get("time_zone").is_none(),
        "{}",
        local.field_type.options_json()
    );
    assert_eq!(
        cell(&fx, t, after.id, "Local").await,
        Some(json!("2026-03-08 07:30"))
    );
    // A bad zone is refused naming the field, the option and what was expected.
    for bad in [json!("Mars/Olympus"), json!("europe/berlin"), json!(5)] {
        let e = fx
            .pb
            .create_field(
                &fx.owner,
                t,
                nf(
                    "Bad",
                    "formula",
                    json!({ "formula": LOCAL, "time_zone": bad }),
                ),
            )
            .await
            .unwrap_err();
        assert_invalid(&e, "Bad");
        let Error::Validation { fields, .. } = &e else {
            unreachable!("assert_invalid checked the kind")
        };
        let message = fields["Bad"].to_string();
        assert!(message.contains("time_zone"), "{message}");
        if bad.is_string() {
            assert!(message.contains("IANA time zone"), "{message}");
        }
    }
    // A rollup has its own zone.
    let orders = fx
        .pb
        .create_table(
            &fx.owner,
            fx.base.id,
            NewTable {
                name: format!("Orders {}", super::fixture::tag()),
                ..NewTable::default()
            },
        )
        .await
        .expect("create table")
        .table
        .id;
    field(
        &fx,
        orders,
        nf("Items", "link", json!({ "linked_table_id": t })),
    )
    .await;
    let latest = field(
        &fx,
        orders,
        nf(
            "Latest",
            "rollup",
            json!({
                "link_field": "Items",
                "field": "When",
                "formula": "DATETIME_FORMAT(MAX(values), 'YYYY-MM-DD HH:mm Z')",
                "time_zone": "Asia/Kathmandu",
            }),
        ),
    )
    .await;
    assert_eq!(
        latest.field_type.options_json()["time_zone"],
        json!("Asia/Kathmandu")
    );
    let o = fx
        .pb
        .create_record(
            &fx.owner,
            orders,
            cells(&[("Items", json!([before.id, after.id]))]),
            WriteOptions::default(),
        )
        .await
        .expect("create order");
    assert_eq!(
        o.fields.get("Latest"),
        Some(&json!("2026-11-01 12:15 +05:45"))
    );
}
