//! Migration 0012 (`compute_fills.again`) on a database written before it,
//! holding a fill under way: the fill keeps its resume point, reads no
//! further pass asked for, and goes on from where it was.

use std::sync::Arc;

use pybase_core::facade::{NewField, WriteOptions};
use pybase_core::model::FieldStatus;
use pybase_core::store::computed::{FillQueue, FillStep};
use pybase_core::store::{RecordsStore as _, SchemaStore as _, Store};
use pybase_core::testkit::fixture::{Fixture, cells};
use rusqlite::Connection;
use serde_json::json;

use crate::SqliteStore;

/// The resume point and `again` of every queued fill.
fn fills(conn: &Connection) -> Vec<(String, Option<String>, i64)> {
    let mut stmt = conn
        .prepare("SELECT table_id, after_id, again FROM compute_fills ORDER BY table_id")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fill_under_way_before_0012_goes_on_from_its_resume_point() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v11.db");
    let store = Arc::new(SqliteStore::open(&path).unwrap());
    let mut fx = Fixture::new(store.clone() as Arc<dyn Store>).await;
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
    assert_eq!(store.claim_fill("w", now, past).await.unwrap(), Some(t));
    assert_eq!(
        store.fill_chunk(t, "w", 2, past).await.unwrap(),
        FillStep::More
    );
    drop(fx);
    drop(store);

    // Back to version 11: no `again` column, the fill two records in.
    let before = {
        let conn = Connection::open(&path).unwrap();
        let before: (String, Option<String>) = conn
            .query_row("SELECT table_id, after_id FROM compute_fills", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert!(before.1.is_some(), "a resume point");
        crate::changes::tests::log_as_0007_made_it(&conn);
        conn.execute_batch(
            "ALTER TABLE compute_fills DROP COLUMN again; PRAGMA user_version = 11;",
        )
        .unwrap();
        before
    };

    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(
        store.schema_version().await.unwrap(),
        i64::try_from(crate::migrate::MIGRATIONS.len()).unwrap()
    );
    {
        let conn = Connection::open(&path).unwrap();
        assert_eq!(fills(&conn), vec![(before.0, before.1.clone(), 0)]);
    }
    // The runner at start re-queues the computing field as it is; the
    // fill goes on from its resume point and ends after this pass.
    store
        .queue_fill(t, &[total.id], FillQueue::Keep, chrono::Utc::now())
        .await
        .unwrap();
    let now = chrono::Utc::now();
    let until = now + chrono::Duration::seconds(60);
    assert_eq!(store.claim_fill("w2", now, until).await.unwrap(), Some(t));
    let mut steps = Vec::new();
    loop {
        let step = store.fill_chunk(t, "w2", 2, until).await.unwrap();
        steps.push(step);
        if step != FillStep::More {
            break;
        }
    }
    // Records 3-4, record 5, then none left.
    assert_eq!(steps, [FillStep::More, FillStep::More, FillStep::Done]);
    // Every record's Total is Qty * Price, those filled before the
    // migration and those after.
    let totals: std::collections::HashMap<_, _> = store
        .field_cells(t, total.id)
        .await
        .unwrap()
        .into_iter()
        .collect();
    let qtys = store.field_cells(t, qty).await.unwrap();
    assert_eq!(totals.len(), 5);
    for (id, q) in qtys {
        let want = q.as_i64().unwrap() * 2;
        assert_eq!(totals.get(&id).and_then(|v| v.as_i64()), Some(want), "{id}");
    }
    assert_eq!(
        store.get_field(total.id).await.unwrap().status,
        FieldStatus::Ready
    );
}
