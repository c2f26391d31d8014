//! Migration `20261129500000_compute_fills_again` on a database written
//! before it, holding a fill under way: the fill keeps its resume point,
//! reads no further pass asked for, and goes on from where it was.

use std::collections::HashMap;
use std::sync::Arc;

use pybase_core::facade::{NewField, WriteOptions};
use pybase_core::model::FieldStatus;
use pybase_core::store::computed::{FillQueue, FillStep};
use pybase_core::store::{RecordsStore, SchemaStore, Store};
use pybase_core::testkit::fixture::{Fixture, cells};
use pybase_store_postgres::testkit::TestDb;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fill_under_way_before_the_again_column_goes_on_from_its_resume_point() {
    let url = crate::require_postgres!();
    let db = TestDb::new(&url).await;
    let s = &db.store;
    let mut fx = Fixture::new(Arc::new(s.clone()) as Arc<dyn Store>).await;
    fx.pb = fx
        .pb
        .clone()
        .with_limits(pybase_core::Limits {
            compute_inline_records: 2,
            ..pybase_core::Limits::default()
        })
        .with_background_fills(false);
    let t = fx.table.table.id;
    let qty = fx.field("Qty");
    let records = (0..5)
        .map(|i| cells(&[("Qty", json!(i)), ("Price", json!(2))]))
        .collect();
    fx.pb
        .create_records(&fx.owner, t, records, WriteOptions::default())
        .await
        .unwrap();
    let total = fx
        .pb
        .create_field(
            &fx.owner,
            t,
            NewField {
                name: "Total".into(),
                field_type: "formula".into(),
                options: json!({ "formula": "{Qty} * {Price}" }),
                description: None,
                indexed: false,
            },
        )
        .await
        .unwrap();
    assert_eq!(total.status, FieldStatus::Computing);
    // One chunk by a worker that then stops (its lease already over).
    let now = chrono::Utc::now();
    let past = now - chrono::Duration::seconds(1);
    assert_eq!(s.claim_fill("w", now, past).await.unwrap(), Some(t));
    assert_eq!(s.fill_chunk(t, "w", 2, past).await.unwrap(), FillStep::More);
    let after: Option<String> = sqlx::query_scalar("SELECT after_id FROM compute_fills")
        .fetch_one(s.pool())
        .await
        .unwrap();
    assert!(after.is_some(), "a resume point");

    // Back to before the migration.
    for sql in [
        "ALTER TABLE compute_fills DROP COLUMN again",
        "DELETE FROM _sqlx_migrations WHERE version = 20261129500000",
    ] {
        sqlx::query(sql).execute(s.pool()).await.unwrap();
    }
    s.migrate().await.unwrap();
    let (kept, again): (Option<String>, bool) =
        sqlx::query_as("SELECT after_id, again FROM compute_fills WHERE table_id = $1")
            .bind(t.as_str())
            .fetch_one(s.pool())
            .await
            .unwrap();
    assert_eq!((kept, again), (after, false));

    // The runner at start re-queues the computing field as it is; the
    // fill goes on from its resume point and ends after this pass.
    s.queue_fill(t, &[total.id], FillQueue::Keep, chrono::Utc::now())
        .await
        .unwrap();
    let now = chrono::Utc::now();
    let until = now + chrono::Duration::seconds(60);
    assert_eq!(s.claim_fill("w2", now, until).await.unwrap(), Some(t));
    let mut steps = Vec::new();
    loop {
        let step = s.fill_chunk(t, "w2", 2, until).await.unwrap();
        steps.push(step);
        if step != FillStep::More {
            break;
        }
    }
    // Records 3-4, record 5, then none left.
    assert_eq!(steps, [FillStep::More, FillStep::More, FillStep::Done]);
    // Every record's Total is Qty * Price, those filled before the
    // migration and those after.
    let totals: HashMap<_, _> = s
        .field_cells(t, total.id)
        .await
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(totals.len(), 5);
    for (id, q) in s.field_cells(t, qty).await.unwrap() {
        let want = q.as_i64().unwrap() * 2;
        assert_eq!(
            totals.get(&id).and_then(serde_json::Value::as_i64),
            Some(want),
            "{id}"
        );
    }
    assert_eq!(
        s.get_field(total.id).await.unwrap().status,
        FieldStatus::Ready
    );
}
