//! Migration `20261129600000_created_seq` on a database written before
//! it: records tables made before it get `created_seq`, every event of
//! before stays in the history index and in its record's history, and a
//! create after it keeps its event in the record's row, out of the index.

use std::sync::Arc;

use pybase_core::facade::WriteOptions;
use pybase_core::ids::RecordId;
use pybase_core::store::{ChangeKind, ChangesStore, Store};
use pybase_core::testkit::fixture::{Fixture, cells};
use pybase_store_postgres::testkit::TestDb;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn histories_span_the_created_seq_migration() {
    let url = crate::require_postgres!();
    let db = TestDb::new(&url).await;
    let s = &db.store;
    let fx = Fixture::new(Arc::new(s.clone()) as Arc<dyn Store>).await;
    let t = fx.table.table.id;
    let w = WriteOptions::default();
    let create = |q: i64| {
        fx.pb
            .create_records(&fx.owner, t, vec![cells(&[("Qty", json!(q))])], w)
    };
    let update = |id: RecordId, q: i64| {
        fx.pb
            .update_record(&fx.owner, t, id, cells(&[("Qty", json!(q))]), w, false)
    };
    let old = create(1).await.unwrap()[0].id;
    update(old, 2).await.unwrap();
    let history = s.record_changes(t, old, None, 10).await.unwrap();
    assert_eq!(history.len(), 2);

    // Back to before the migration: every event in the history index, no
    // `created_seq` in the records table.
    for sql in [
        "DROP INDEX changes_record".to_owned(),
        "ALTER TABLE changes DROP COLUMN in_row".to_owned(),
        "CREATE INDEX changes_record ON changes (table_id, record_id, seq) \
         WHERE record_id IS NOT NULL"
            .to_owned(),
        format!("ALTER TABLE \"r_{t}\" DROP COLUMN created_seq"),
        "DELETE FROM _sqlx_migrations WHERE version = 20261129600000".to_owned(),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(s.pool())
            .await
            .unwrap();
    }
    s.migrate().await.unwrap();

    assert_eq!(
        s.record_changes(t, old, None, 10).await.unwrap(),
        history,
        "the history of before, from the index"
    );
    let new = create(3).await.unwrap()[0].id;
    update(new, 4).await.unwrap();
    update(old, 5).await.unwrap();
    let in_row: Vec<(String, bool)> =
        sqlx::query_as("SELECT record_id, in_row FROM changes WHERE kind = $1 ORDER BY seq")
            .bind(ChangeKind::RecordCreated.as_str())
            .fetch_all(s.pool())
            .await
            .unwrap();
    assert_eq!(
        in_row,
        [(old.to_string(), false), (new.to_string(), true)],
        "only the create after the migration keeps its event in its row"
    );
    let seq_in_row: Option<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT created_seq FROM \"r_{t}\" WHERE id = $1"
    )))
    .bind(new.as_str())
    .fetch_one(s.pool())
    .await
    .unwrap();
    let new_history = s.record_changes(t, new, None, 10).await.unwrap();
    let kinds: Vec<ChangeKind> = new_history.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [ChangeKind::RecordUpdated, ChangeKind::RecordCreated]
    );
    assert_eq!(Some(new_history[1].seq), seq_in_row);
    // Paged: before the update, only the created event.
    assert_eq!(
        s.record_changes(t, new, Some(new_history[0].seq), 10)
            .await
            .unwrap(),
        new_history[1..]
    );
    let old_history = s.record_changes(t, old, None, 10).await.unwrap();
    assert_eq!(old_history.len(), 3);
    assert_eq!(old_history[1..], history[..]);
}
