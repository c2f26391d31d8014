//! What only SQLite's schema code does: cell indexes that follow the
//! `indexed` flag, and the fields cache seeing every change, including
//! one made by another connection.

use pybase_core::StoreError;
use pybase_core::fields::FieldType;
use pybase_core::fields::kinds::{Number, Text};
use pybase_core::role::Role;
use pybase_core::store::{RecordsStore, SchemaStore, WorkspacesStore};
use pybase_store_sqlite::SqliteStore;
use serde_json::json;

use crate::common::{cells, field, fixture, new_record, user};

fn cell_indexes(path: &std::path::Path) -> Vec<String> {
    let conn = rusqlite::Connection::open(path).unwrap();
    let mut stmt = conn
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'index' AND name LIKE 'cell_%' ORDER BY name")
        .unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[tokio::test]
async fn indexed_fields_get_an_index_that_follows_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("i.db");
    let store = SqliteStore::open(&path).unwrap();
    let fx = fixture(&store).await;
    let mut f = field(
        fx.table.id,
        "Code",
        FieldType::Text(Text { max_length: None }),
        9,
    );
    f.indexed = true;
    store.create_field(&f).await.unwrap();
    let name = format!("cell_{}", f.id);
    assert_eq!(cell_indexes(&path), vec![name.clone()]);
    // The index serves queries and keeps data correct.
    store
        .create_records(
            fx.table.id,
            &[new_record(cells(&[(f.id, json!("x"))]), None)],
        )
        .await
        .unwrap();
    f.indexed = false;
    store.update_field(&f).await.unwrap();
    assert!(cell_indexes(&path).is_empty());
    f.indexed = true;
    store.replace_field(&f, &[]).await.unwrap();
    assert_eq!(cell_indexes(&path), vec![name.clone()]);
    store.delete_field(f.id).await.unwrap();
    assert!(cell_indexes(&path).is_empty());

    // Deleting a table, base or workspace drops its fields' indexes.
    let mut g = field(
        fx.table.id,
        "Other",
        FieldType::Number(Number { precision: 0 }),
        10,
    );
    g.indexed = true;
    store.create_field(&g).await.unwrap();
    assert_eq!(cell_indexes(&path).len(), 1);
    store.delete_workspace(fx.ws.id).await.unwrap();
    assert!(cell_indexes(&path).is_empty());
    assert!(matches!(
        store.get_table(fx.table.id).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        store.get_field(g.id).await,
        Err(StoreError::NotFound { .. })
    ));
}

#[tokio::test]
async fn table_access_sees_every_field_change_at_once() {
    // The fields are cached by the table's fields_version; every change of a
    // field, through this store or another connection, must show up.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.db");
    let store = SqliteStore::open(&path).unwrap();
    let fx = fixture(&store).await;
    let names = |a: &pybase_core::store::TableAccess| {
        a.fields.iter().map(|f| f.name.clone()).collect::<Vec<_>>()
    };
    let first = store.table_access(fx.table.id, fx.owner.id).await.unwrap();
    assert_eq!(first.role, Some(Role::Owner));
    let before = names(&first);
    let f = field(
        fx.table.id,
        "Extra",
        FieldType::Text(Text { max_length: None }),
        50,
    );
    store.create_field(&f).await.unwrap();
    let after = names(&store.table_access(fx.table.id, fx.owner.id).await.unwrap());
    assert_eq!(after.len(), before.len() + 1);
    assert!(after.contains(&"Extra".to_owned()));

    let mut renamed = f.clone();
    renamed.name = "Renamed".into();
    store.update_field(&renamed).await.unwrap();
    let now_names = names(&store.table_access(fx.table.id, fx.owner.id).await.unwrap());
    assert!(now_names.contains(&"Renamed".to_owned()), "{now_names:?}");

    // A write by another connection (another process, say) is seen too.
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute(
        "UPDATE fields SET name = 'Outside' WHERE id = ?1",
        [f.id.as_str()],
    )
    .unwrap();
    drop(conn);
    let now_names = names(&store.table_access(fx.table.id, fx.owner.id).await.unwrap());
    assert!(now_names.contains(&"Outside".to_owned()), "{now_names:?}");

    store.delete_field(f.id).await.unwrap();
    let (access, record) = store
        .record_access(fx.table.id, pybase_core::ids::RecordId::new(), fx.owner.id)
        .await
        .unwrap();
    assert_eq!(names(&access), before);
    assert!(record.is_none());
    let outsider = user(&store, "outsider").await;
    let access = store.table_access(fx.table.id, outsider.id).await.unwrap();
    assert_eq!(access.role, None);
}
