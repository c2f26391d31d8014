//! File databases: reopening keeps everything; schema version bookkeeping.

use pybase_core::query::RecordQuery;
use pybase_core::role::Role;
use pybase_core::store::{
    AuthStore, RecordPatch, RecordsStore, SchemaStore, StoreHealth, WorkspacesStore,
};
use pybase_store_sqlite::SqliteStore;
use serde_json::json;

use crate::common::{cells, fixture, new_record, now};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_database_survives_close_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    // A parent folder that does not exist yet is created.
    let path = dir.path().join("nested").join("pybase.db");
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.backend_name(), "sqlite");
    store.ping().await.unwrap();
    let fx = fixture(&store).await;
    let created = store
        .create_records(
            fx.table.id,
            &[
                new_record(
                    cells(&[(fx.text, json!("one")), (fx.number, json!(1.25))]),
                    Some(fx.owner.id),
                ),
                new_record(
                    cells(&[(fx.text, json!("two")), (fx.tags, json!(["a", "b"]))]),
                    None,
                ),
                new_record(cells(&[(fx.flag, json!(true))]), None),
            ],
        )
        .await
        .unwrap();
    let updated = store
        .update_records(
            fx.table.id,
            &[RecordPatch {
                id: created[0].id,
                set: cells(&[(fx.flag, json!(true))]),
                unset: vec![fx.number],
                replace: false,
            }],
            now(),
            Some(fx.owner.id),
        )
        .await
        .unwrap();
    store
        .delete_records(fx.table.id, &[created[2].id], now())
        .await
        .unwrap();
    let fields_before = store.list_fields(fx.table.id).await.unwrap();
    drop(store);

    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.schema_version().await.unwrap(), 14);
    assert_eq!(store.get_user(fx.owner.id).await.unwrap(), fx.owner);
    let creds = store
        .find_credentials(&fx.owner.email)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(creds.password_hash, "hash");
    assert_eq!(store.get_workspace(fx.ws.id).await.unwrap(), fx.ws);
    assert_eq!(
        store.member_role(fx.ws.id, fx.owner.id).await.unwrap(),
        Some(Role::Owner)
    );
    assert_eq!(store.get_base(fx.base.id).await.unwrap(), fx.base);
    assert_eq!(store.get_table(fx.table.id).await.unwrap(), fx.table);
    assert_eq!(store.list_fields(fx.table.id).await.unwrap(), fields_before);
    let page = store
        .query_records(&RecordQuery {
            table_id: fx.table.id,
            filter: None,
            sort: Vec::new(),
            after: None,
            limit: 10,
            include_deleted: true,
            log_seq: false,
        })
        .await
        .unwrap();
    assert_eq!(page.records.len(), 3);
    let find = |id| page.records.iter().find(|r| r.id == id).unwrap();
    assert_eq!(find(created[0].id), &updated[0]);
    assert_eq!(
        updated[0].cells,
        cells(&[(fx.text, json!("one")), (fx.flag, json!(true))])
    );
    assert_eq!(find(created[1].id), &created[1]);
    assert!(find(created[2].id).deleted_time.is_some());
    // The autonumber counter survives too.
    let more = store
        .create_records(fx.table.id, &[new_record(cells(&[]), None)])
        .await
        .unwrap();
    assert_eq!(more[0].autonumber, 4);
}

#[test]
fn opening_sets_wal_and_the_schema_version() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v.db");
    drop(SqliteStore::open(&path).unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, 14);
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    drop(conn);
    // Reopening an up-to-date database applies nothing and keeps the version.
    drop(SqliteStore::open(&path).unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, 14);
}

#[test]
fn a_database_from_a_newer_build_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new.db");
    drop(SqliteStore::open(&path).unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);
    let err = SqliteStore::open(&path).unwrap_err();
    assert!(err.to_string().contains("newer"), "{err}");
}

#[tokio::test]
async fn in_memory_stores_are_separate_and_share_between_connections() {
    let a = SqliteStore::open_in_memory().unwrap();
    let b = SqliteStore::open_in_memory().unwrap();
    let fx = fixture(&a).await;
    // Written by the writer, read by a reader connection.
    assert_eq!(a.get_user(fx.owner.id).await.unwrap(), fx.owner);
    assert!(b.get_user(fx.owner.id).await.is_err());
}
