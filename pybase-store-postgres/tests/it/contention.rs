//! Deadlocks on PostgreSQL (issue 12): a retype of a field racing a
//! background fill of computed fields takes the same rows in the opposite
//! order (the retype: the field's row, then its records; a fill chunk:
//! records, then, when it ends, the fields' rows). PostgreSQL aborts one of
//! the two; the store runs the retype's whole transaction again.

use std::time::Duration;

use pybase_core::store::{RecordsStore, SchemaStore};
use pybase_core::testkit::store_layer::build::{cells, number, record, table_with, text, user};
use pybase_store_postgres::testkit::TestDb;
use serde_json::json;

/// Waits until another session of this database waits for a lock.
async fn until_someone_waits(pool: &sqlx::PgPool) {
    for _ in 0..200 {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
             AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()",
        )
        .fetch_one(pool)
        .await
        .unwrap();
        if waiting > 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("no session came to wait for a lock");
}

/// The fill's side is played by hand, statement by statement, so the cycle
/// happens every time: it locks a record (as a chunk's update does), the
/// retype then locks the field's row and waits for that record, and the
/// fill asks for the field's row (as an ending fill turns its fields
/// ready). The retype's session detects the deadlock first (the fill's
/// waits longer before checking) and is aborted; the fill commits; the
/// retype, run again, converts the cells. Both succeed, which they can only
/// if the retype's first transaction was rolled back and retried.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retype_that_deadlocks_with_a_fill_is_run_again() {
    let url = crate::require_postgres!();
    let db = TestDb::new(&url).await;
    let s = &db.store;
    let a = user(s, "a").await;
    let (_, _, table, f) = table_with(s, a.id, &[("Name", text()), ("Qty", number())]).await;
    let rec = s
        .create_records(table.id, &[record(cells(&[(f[1].id, json!(5))]), None)])
        .await
        .unwrap()[0]
        .id;

    let mut fill = s.pool().begin().await.unwrap();
    sqlx::query("SET LOCAL deadlock_timeout = '30s'")
        .execute(&mut *fill)
        .await
        .unwrap();
    let records = format!("\"r_{}\"", table.id);
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE {records} SET data = data WHERE id = $1"
    )))
    .bind(rec.as_str())
    .execute(&mut *fill)
    .await
    .unwrap();

    let mut qty = f[1].clone();
    qty.field_type = text();
    let retype = tokio::spawn({
        let (s, qty) = (s.clone(), qty.clone());
        async move { s.replace_field(&qty, &[(rec, Some(json!("5")))]).await }
    });
    until_someone_waits(s.pool()).await;
    // Closes the cycle; returns once PostgreSQL aborted the retype.
    sqlx::query("UPDATE fields SET status = 'ready' WHERE id = $1")
        .bind(qty.id.as_str())
        .execute(&mut *fill)
        .await
        .unwrap();
    fill.commit().await.unwrap();

    tokio::time::timeout(Duration::from_secs(30), retype)
        .await
        .expect("the retype finishes")
        .unwrap()
        .unwrap();
    assert_eq!(s.get_field(qty.id).await.unwrap().field_type, text());
    let got = s.get_record(table.id, rec, false).await.unwrap();
    assert_eq!(got.cells.get(qty.id.as_str()), Some(&json!("5")));
}
