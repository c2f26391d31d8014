//! Migration 0011 on a database written before it, holding tables whose
//! names differ only in case (or not at all: the race the rule closes).

use pybase_core::StoreError;
use pybase_core::ids::{BaseId, TableId, WorkspaceId};
use pybase_core::store::SchemaStore as _;
use rusqlite::Connection;

use crate::SqliteStore;
use crate::migrate::{MIGRATIONS, migrate, version};

const T: &str = "2026-01-01T00:00:00.000Z";

fn assert_name_conflict<T: std::fmt::Debug>(result: pybase_core::StoreResult<T>) {
    match result {
        Err(StoreError::Conflict {
            entity: "table",
            field,
        }) if field == "name" => {}
        other => panic!("expected a table name conflict, got {other:?}"),
    }
}

#[tokio::test]
async fn a_database_with_same_named_tables_migrates_and_keeps_them_editable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v10.db");
    let (ws, base) = (WorkspaceId::new(), BaseId::new());
    let names = ["Tasks", "tasks", "Tasks", "Ärger", "ärger", "Other"];
    let ids: Vec<TableId> = names.iter().map(|_| TableId::new()).collect();
    {
        let mut conn = Connection::open(&path).unwrap();
        migrate(&mut conn, &MIGRATIONS[..10]).unwrap();
        assert_eq!(version(&conn).unwrap(), 10);
        conn.execute_batch(&format!(
            "INSERT INTO workspaces VALUES ('{ws}', 'W', 'w', NULL, '{T}', '{T}');
             INSERT INTO bases VALUES ('{base}', '{ws}', 'B', NULL, '{T}', '{T}');"
        ))
        .unwrap();
        for (i, (id, name)) in ids.iter().zip(names).enumerate() {
            conn.execute(
                "INSERT INTO tables (id, base_id, workspace_id, name, position, created_at, \
                 updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
                rusqlite::params![id.as_str(), base.as_str(), ws.as_str(), name, i as i64, T],
            )
            .unwrap();
        }
    }

    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(
        store.schema_version().await.unwrap(),
        i64::try_from(crate::migrate::MIGRATIONS.len()).unwrap()
    );
    // Every table is still there, as it was.
    let listed = store.list_tables(base).await.unwrap();
    let listed_names: Vec<&str> = listed.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(listed_names, names);
    // Each key is Rust's lowercasing (SQLite's lower() would have left
    // "Ärger" as it is); the later tables of a taken key have it suffixed
    // with their id.
    let legacy = |i: usize, key: &str| format!("{key}\u{1f}{}", ids[i]);
    let expected = [
        "tasks".to_owned(),
        legacy(1, "tasks"),
        legacy(2, "tasks"),
        "ärger".to_owned(),
        legacy(4, "ärger"),
        "other".to_owned(),
    ];
    {
        let conn = Connection::open(&path).unwrap();
        for (id, key) in ids.iter().zip(&expected) {
            let got: String = conn
                .query_row(
                    "SELECT name_key FROM tables WHERE id = ?1",
                    [id.as_str()],
                    |r| r.get(0),
                )
                .unwrap();
            assert_eq!(&got, key);
        }
    }
    // Taken names are found by key, ignoring case.
    for (name, taken) in [
        ("TASKS", true),
        ("ÄRGER", true),
        ("other", true),
        ("New", false),
    ] {
        assert_eq!(
            store.table_name_taken(base, name, None).await.unwrap(),
            taken,
            "{name}"
        );
    }
    // A table does not take its own name.
    let own = store.table_name_taken(base, "other", Some(ids[5]));
    assert!(!own.await.unwrap());
    assert_eq!(store.next_table_position(base).await.unwrap(), 6);

    // A duplicate keeps working under its name...
    let mut dup = store.get_table(ids[1]).await.unwrap();
    dup.description = Some("kept".into());
    store.update_table(&dup).await.unwrap();
    assert_eq!(store.get_table(ids[1]).await.unwrap(), dup);
    // ...may not be renamed onto a taken name, even one of its own case...
    let mut renamed = dup.clone();
    renamed.name = "ÄRGER".into();
    assert_name_conflict(store.update_table(&renamed).await);
    renamed.name = "TASKS".into();
    assert_name_conflict(store.update_table(&renamed).await);
    assert_eq!(store.get_table(ids[1]).await.unwrap(), dup);
    // ...and may be renamed onto a free one, which then is taken.
    renamed.name = "Done".into();
    store.update_table(&renamed).await.unwrap();
    assert!(store.table_name_taken(base, "DONE", None).await.unwrap());
    // The first of the old names may change its case: the key is its own.
    let mut first = store.get_table(ids[0]).await.unwrap();
    first.name = "TASKS".into();
    store.update_table(&first).await.unwrap();
    // A new table may not take any of the old names.
    let mut extra = store.get_table(ids[5]).await.unwrap();
    extra.id = TableId::new();
    extra.name = "ärger".into();
    assert_name_conflict(store.create_table(&extra, &[]).await);
}
