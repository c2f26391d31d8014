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

/// The indexed fields of the side index (crate::layout) with whether each
/// is ready and how many entries it holds.
fn cell_indexes(path: &std::path::Path) -> Vec<(String, bool, i64)> {
    let conn = rusqlite::Connection::open(path).unwrap();
    let mut stmt = conn
        .prepare(
            "SELECT c.field_id, c.ready, \
             (SELECT count(*) FROM cell_index i WHERE i.field_id = c.field_id) \
             FROM cell_indexes c ORDER BY 1",
        )
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// The number of schema objects (tables, indexes, triggers).
fn schema_size(path: &std::path::Path) -> i64 {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))
        .unwrap()
}

#[tokio::test]
async fn indexed_fields_get_an_index_that_follows_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("i.db");
    let store = SqliteStore::open(&path).unwrap();
    let schema = schema_size(&path);
    let fx = fixture(&store).await;
    let mut f = field(
        fx.table.id,
        "Code",
        FieldType::Text(Text { max_length: None }),
        9,
    );
    f.indexed = true;
    store.create_field(&f).await.unwrap();
    let name = f.id.to_string();
    assert_eq!(cell_indexes(&path), vec![(name.clone(), true, 0)]);
    // The side index follows the records written.
    store
        .create_records(
            fx.table.id,
            &[new_record(cells(&[(f.id, json!("x"))]), None)],
        )
        .await
        .unwrap();
    assert_eq!(cell_indexes(&path), vec![(name.clone(), true, 1)]);
    f.indexed = false;
    store.update_field(&f).await.unwrap();
    assert!(cell_indexes(&path).is_empty());
    f.indexed = true;
    store.replace_field(&f, &[]).await.unwrap();
    assert_eq!(cell_indexes(&path), vec![(name.clone(), true, 1)]);
    store.delete_field(f.id).await.unwrap();
    assert!(cell_indexes(&path).is_empty());
    // Tables, fields and indexes are rows: the schema never changed.
    assert_eq!(schema_size(&path), schema);

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
    let conn = rusqlite::Connection::open(&path).unwrap();
    let left: (i64, i64) = conn
        .query_row(
            "SELECT (SELECT count(*) FROM records), (SELECT count(*) FROM cell_index)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(
        left,
        (0, 0),
        "records and side entries went with the workspace"
    );
    assert!(matches!(
        store.get_table(fx.table.id).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        store.get_field(g.id).await,
        Err(StoreError::NotFound { .. })
    ));
}

/// Indexing a field of a table larger than one build chunk fills the side
/// index over several write transactions; the field is ready when the
/// call returns, with one entry per record (empty cells included), and
/// queries on it use the side index.
#[tokio::test]
async fn indexing_a_large_table_fills_the_side_index_in_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.db");
    let store = SqliteStore::open(&path).unwrap();
    let fx = fixture(&store).await;
    let mut f = field(
        fx.table.id,
        "Qty",
        FieldType::Number(Number { precision: 0 }),
        9,
    );
    store.create_field(&f).await.unwrap();
    let records: Vec<_> = (0..2500)
        .map(|i| {
            let c = if i % 10 == 0 {
                cells(&[])
            } else {
                cells(&[(f.id, json!(i))])
            };
            new_record(c, None)
        })
        .collect();
    store.create_records(fx.table.id, &records).await.unwrap();
    f.indexed = true;
    store.update_field(&f).await.unwrap();
    assert_eq!(cell_indexes(&path), vec![(f.id.to_string(), true, 2500)]);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let empty: i64 = conn
        .query_row(
            "SELECT count(*) FROM cell_index WHERE field_id = ?1 AND value IS NULL",
            [f.id.as_str()],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(empty, 250);
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
