//! Migration 0013 (the log as a rowid table, its base's events deleted by a
//! trigger) on a database written before it: every event kept, numbers go
//! on from the newest, and a deleted base still takes its events with it.

use std::sync::Arc;

use pybase_core::facade::WriteOptions;
use pybase_core::ids::RecordId;
use pybase_core::store::{
    ChangesStore as _, NewRecord, RecordsStore as _, SchemaStore as _, Store,
};
use pybase_core::testkit::fixture::{Fixture, cells};
use rusqlite::Connection;
use serde_json::json;

use crate::SqliteStore;

/// The `changes` table's definition.
fn changes_sql(conn: &Connection) -> String {
    conn.query_row(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'changes'",
        [],
        |r| r.get(0),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_moves_to_a_rowid_table_with_every_event() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v12.db");
    let store = Arc::new(SqliteStore::open(&path).unwrap());
    let fx = Fixture::new(store.clone() as Arc<dyn Store>).await;
    let (base, table, qty) = (fx.base.id, fx.table.table.id, fx.field("Qty"));
    let records = (0..3).map(|i| cells(&[("Qty", json!(i))])).collect();
    fx.pb
        .create_records(&fx.owner, table, records, WriteOptions::default())
        .await
        .unwrap();
    let before = store.changes_since(base, 0, 1_000).await.unwrap();
    assert!(before.events.len() >= 3);
    drop(fx);
    drop(store);

    // Back to version 12: the log as 0007 made it.
    {
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(
            "PRAGMA foreign_keys = OFF;
             DROP TRIGGER changes_forget_base;
             CREATE TABLE changes_old (
                 base_id TEXT NOT NULL REFERENCES bases (id) ON DELETE CASCADE,
                 seq INTEGER NOT NULL, at TEXT NOT NULL, actor TEXT, kind TEXT NOT NULL,
                 table_id TEXT NOT NULL, record_id TEXT, field_id TEXT, view_id TEXT,
                 changed_fields TEXT, before TEXT, after TEXT,
                 PRIMARY KEY (base_id, seq)
             ) WITHOUT ROWID;
             INSERT INTO changes_old SELECT * FROM changes;
             DROP TABLE changes;
             ALTER TABLE changes_old RENAME TO changes;
             CREATE INDEX changes_record ON changes (table_id, record_id, seq)
                 WHERE record_id IS NOT NULL;
             PRAGMA user_version = 12;",
        )
        .unwrap();
        assert!(changes_sql(&conn).contains("WITHOUT ROWID"));
    }

    let store = Arc::new(SqliteStore::open(&path).unwrap());
    {
        let conn = Connection::open(&path).unwrap();
        assert!(!changes_sql(&conn).contains("WITHOUT ROWID"));
        assert!(!changes_sql(&conn).contains("REFERENCES"));
    }
    let after = store.changes_since(base, 0, 1_000).await.unwrap();
    assert_eq!(after, before, "every event, as it was");
    // The next write is numbered after the newest event.
    let record = NewRecord {
        id: RecordId::new(),
        cells: [(qty.to_string(), json!(9))].into_iter().collect(),
        created_by: None,
        created_time: chrono::Utc::now(),
    };
    store.create_records(table, &[record]).await.unwrap();
    let more = store
        .changes_since(base, before.last_seq, 10)
        .await
        .unwrap();
    assert_eq!(more.events.len(), 1);
    assert_eq!(more.events[0].seq, before.last_seq + 1);
    // A deleted base takes its events with it (the trigger).
    store.delete_base(base).await.unwrap();
    let conn = Connection::open(&path).unwrap();
    let left: i64 = conn
        .query_row(
            "SELECT count(*) FROM changes WHERE base_id = ?1",
            [base.as_str()],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(left, 0);
}
