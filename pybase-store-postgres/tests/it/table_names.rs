//! Migration `20261129400000_table_name_key` on a database written before
//! it, holding tables whose names differ only in case (or not at all: the
//! race the unique index closes), ASCII and not.

use pybase_core::StoreError;
use pybase_core::store::SchemaStore;
use pybase_core::testkit::store_layer::build::{table, table_with, text, user};
use pybase_store_postgres::testkit::TestDb;

#[tokio::test]
async fn a_database_with_same_named_tables_migrates_and_keeps_them_editable() {
    let url = crate::require_postgres!();
    let db = TestDb::new(&url).await;
    let s = &db.store;
    let a = user(s, "a").await;
    let (_, b, first, _) = table_with(s, a.id, &[("Name", text())]).await;
    // Renamed below to what the database held before the rule.
    let old = [
        "T", "Tasks", "tasks", "TASKS", "Ärger", "ärger", "ΣΑΣ", "σας",
    ];
    let mut ids = vec![first.id];
    for (i, _) in old.iter().enumerate().skip(1) {
        let t = table(&b, &format!("unique {i}"), i64::try_from(i).unwrap());
        s.create_table(&t, &[]).await.unwrap();
        ids.push(t.id);
    }
    // Back to before the migration, with the same-named tables.
    for sql in [
        "DROP INDEX tables_base_name_key",
        "DROP INDEX tables_unkeyed",
        "ALTER TABLE tables DROP COLUMN name_key",
        "DELETE FROM _sqlx_migrations WHERE version = 20261129400000",
    ] {
        sqlx::query(sql).execute(s.pool()).await.unwrap();
    }
    for (id, name) in ids.iter().zip(old) {
        sqlx::query("UPDATE tables SET name = $2 WHERE id = $1")
            .bind(id.as_str())
            .bind(name)
            .execute(s.pool())
            .await
            .unwrap();
    }

    s.migrate().await.unwrap();
    // Every table keeps its name; the first of each key (by position) has
    // the key, Rust's lowercasing ("ΣΑΣ" and "σας" are one name), the later
    // ones the key suffixed with U+001F and their id.
    let listed: Vec<String> = s
        .list_tables(b.id)
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(listed, old);
    let suffixed = |i: usize, key: &str| format!("{key}\u{1f}{}", ids[i]);
    let expected = [
        "t".to_owned(),
        "tasks".to_owned(),
        suffixed(2, "tasks"),
        suffixed(3, "tasks"),
        "ärger".to_owned(),
        suffixed(5, "ärger"),
        "σας".to_owned(),
        suffixed(7, "σας"),
    ];
    for (id, key) in ids.iter().zip(&expected) {
        let got: Option<String> = sqlx::query_scalar("SELECT name_key FROM tables WHERE id = $1")
            .bind(id.as_str())
            .fetch_one(s.pool())
            .await
            .unwrap();
        assert_eq!(got.as_ref(), Some(key));
    }

    for (name, taken) in [
        ("TASKS", true),
        ("ÄRGER", true),
        ("σασ", false),
        ("New", false),
    ] {
        assert_eq!(
            s.table_name_taken(b.id, name, None).await.unwrap(),
            taken,
            "{name}"
        );
    }
    assert_eq!(s.next_table_position(b.id).await.unwrap(), 8);
    // A later duplicate stays editable under its name, may not be renamed
    // onto a taken name, and may be renamed onto a free one.
    let mut dup = s.get_table(ids[2]).await.unwrap();
    dup.description = Some("kept".into());
    s.update_table(&dup).await.unwrap();
    let mut renamed = dup.clone();
    renamed.name = "Ärger".into();
    let refused = s.update_table(&renamed).await;
    assert!(
        matches!(&refused, Err(StoreError::Conflict { entity: "table", field }) if field == "name"),
        "{refused:?}"
    );
    assert_eq!(s.get_table(ids[2]).await.unwrap(), dup);
    renamed.name = "Done".into();
    s.update_table(&renamed).await.unwrap();
    // A new table may not take an old name.
    let again = table(&b, "ärger", 9);
    let refused = s.create_table(&again, &[]).await;
    assert!(
        matches!(&refused, Err(StoreError::Conflict { entity: "table", field }) if field == "name"),
        "{refused:?}"
    );
}
