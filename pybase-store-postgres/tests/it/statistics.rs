//! The store keeps a records table's planner statistics current as it
//! grows: it analyses the table itself (in the background, off the request
//! path) once the rows written since its last analysis reach half of what
//! the table had then (at least 100), instead of leaving a table that grew
//! from empty to autovacuum's next pass.

use std::time::{Duration, Instant};

use pybase_core::ids::TableId;
use pybase_core::store::{NewRecord, RecordsStore};
use pybase_core::testkit::store_layer::build::{
    cells, now, number, record_at, table_with, text, user,
};
use pybase_store_postgres::PgStore;
use pybase_store_postgres::testkit::TestDb;
use serde_json::json;

/// Manual analyses of `table`'s records table (autovacuum's are counted
/// apart, so they cannot pass for the store's) and its row estimate.
async fn analysed(s: &PgStore, table: TableId) -> (i64, f32) {
    sqlx::query_as(
        "SELECT s.analyze_count, c.reltuples FROM pg_stat_user_tables s \
         JOIN pg_class c ON c.oid = s.relid WHERE s.relname = $1",
    )
    .bind(format!("r_{table}"))
    .fetch_one(s.pool())
    .await
    .unwrap()
}

/// Waits (up to 30 s) until `table` was analysed `count` times; answers its
/// row estimate then.
async fn wait_for_analyses(s: &PgStore, table: TableId, count: i64) -> f32 {
    let started = Instant::now();
    loop {
        let (n, rows) = analysed(s, table).await;
        if n >= count {
            assert_eq!(n, count, "one analysis per growth step");
            return rows;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "table analysed {n} times, expected {count}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_growing_table_is_analysed_by_the_store_as_it_grows() {
    let url = crate::require_postgres!();
    let db = TestDb::new(&url).await;
    let s = &db.store;
    let a = user(s, "a").await;
    let (_, _, table, fields) = table_with(s, a.id, &[("Name", text()), ("Qty", number())]).await;
    let qty = fields[1].id;
    let t = now();
    let rows = |from: usize, to: usize| -> Vec<NewRecord> {
        (from..to)
            .map(|i| record_at(cells(&[(qty, json!(i))]), Some(a.id), t))
            .collect()
    };
    // A few rows: not worth an analysis.
    s.create_records(table.id, &rows(0, 60)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(analysed(s, table.id).await.0, 0);
    // 1,000 rows: analysed, and the estimate is the table's size.
    let created = s.create_records(table.id, &rows(60, 1000)).await.unwrap();
    assert_eq!(wait_for_analyses(s, table.id, 1).await, 1000.0);
    // 400 more (less than half of 1,000): not yet.
    s.create_records(table.id, &rows(1000, 1400)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(analysed(s, table.id).await.0, 1);
    // Updates count as well: 100 more writes make 500, half the table.
    for (i, r) in created.iter().take(100).enumerate() {
        let patch = pybase_core::store::RecordPatch {
            id: r.id,
            set: cells(&[(qty, json!(5000 + i))]),
            unset: Vec::new(),
            replace: false,
        };
        s.update_records(table.id, &[patch], now(), Some(a.id))
            .await
            .unwrap();
    }
    assert_eq!(wait_for_analyses(s, table.id, 2).await, 1400.0);
}
