//! PostgreSQL-specific tests of `PgStore`: migrations, every aggregate,
//! concurrency, all-or-nothing batches, cell indexes and plans, and a
//! property test of filters, sorts and keyset pages against
//! `pybase_core::query::eval`.
//!
//! Run with `PYBASE_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test
//! cargo test -p pybase-store-postgres postgres::`.

use pybase_core::StoreError;
use pybase_core::fields::ValueKind;
use pybase_core::ids::{FieldId, RecordId, TableId};
use pybase_core::model::Record;
use pybase_core::query::{
    Condition, Cursor, Filter, Op, Operand, RecordQuery, SortKey, Target, eval,
};
use pybase_core::role::Role;
use pybase_core::store::{NewRecord, RecordsStore, SchemaStore, StoreHealth, WorkspacesStore};
use pybase_core::testkit::store_layer::build::{
    cells, field, now, number, record_at, table_with, text, user,
};
use pybase_store_postgres::testkit::TestDb;
use pybase_store_postgres::{PgStore, PgStoreOptions};
use serde_json::json;

/// The URL of database `name` on the server of `url`.
fn database_url(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    format!("{}/{name}{query}", &base[..host_end])
}

#[tokio::test]
async fn migrations_are_idempotent_and_connect_migrates() {
    let url = crate::require_postgres!();
    let db = TestDb::new(&url).await;
    db.store.migrate().await.unwrap();
    let other = db.second_store().await;
    let (a, b) = tokio::join!(db.store.migrate(), other.migrate());
    a.unwrap();
    b.unwrap();
    let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations")
        .fetch_one(db.store.pool())
        .await
        .unwrap();
    // Every migration file is applied, once.
    let files = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "sql"))
        })
        .count();
    assert_eq!(applied, i64::try_from(files).unwrap());
    let opts = PgStoreOptions {
        max_connections: 2,
        acquire_timeout: std::time::Duration::from_secs(5),
        migrate: true,
    };
    let again = PgStore::connect_with(&database_url(&url, &db.name), opts)
        .await
        .unwrap();
    again.ping().await.unwrap();
    assert_eq!(again.backend_name(), "postgres");
    let bad = PgStore::connect_with(
        &database_url(&url, "pybase_no_such_database"),
        PgStoreOptions {
            migrate: false,
            ..PgStoreOptions::default()
        },
    )
    .await;
    assert!(matches!(
        bad,
        Err(StoreError::Backend {
            backend: "postgres",
            ..
        })
    ));
}

/// The pool hands out a connection used moments ago without a ping, but
/// pings one that sat idle: a connection whose backend was terminated
/// while it idled (as a database restart leaves it) is replaced, and the
/// statement succeeds.
#[tokio::test]
async fn an_idle_connection_killed_under_the_pool_is_replaced() {
    let url = crate::require_postgres!();
    let db = TestDb::new(&url).await;
    let opts = PgStoreOptions {
        max_connections: 1,
        acquire_timeout: std::time::Duration::from_secs(5),
        migrate: false,
    };
    let store = PgStore::connect_with(&database_url(&url, &db.name), opts)
        .await
        .unwrap();
    let first: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(store.pool())
        .await
        .unwrap();
    // Terminated from another session while the pool's only connection idles.
    let killed: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)")
        .bind(first)
        .fetch_one(db.store.pool())
        .await
        .unwrap();
    assert!(killed);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let second: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_ne!(first, second, "the dead connection was not replaced");
    // Back to back, the same connection serves again.
    let third: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(second, third);
}

/// Every unique constraint and unique index of a freshly migrated database
/// maps to a named entity and field, so a conflict on it names the field:
/// a new one without its entry in `unique_constraint` fails here.
#[tokio::test]
async fn every_unique_constraint_maps_to_a_named_field() {
    let url = crate::require_postgres!();
    let db = TestDb::new(&url).await;
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_index i \
         JOIN pg_class c ON c.oid = i.indexrelid \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         JOIN pg_class t ON t.oid = i.indrelid \
         WHERE i.indisunique AND n.nspname = current_schema() \
         AND t.relname <> '_sqlx_migrations'",
    )
    .fetch_all(db.store.pool())
    .await
    .unwrap();
    assert!(names.len() >= 10, "{names:?}");
    for name in &names {
        assert_ne!(
            pybase_store_postgres::unique_constraint(name),
            ("row", "unique"),
            "unique index {name} maps to no field"
        );
    }
}

/// An indexed field has a cell index of its kind (ascending and
/// descending), rebuilt when its type changes and dropped when the flag is
/// cleared, the field deleted or its workspace deleted; no extended
/// statistics are left behind. (The store contract's cascades and name
/// rules are store-layer cases of the conformance suite.)
#[tokio::test]
async fn cell_indexes_follow_the_indexed_flag() {
    let url = crate::require_postgres!();
    let db = TestDb::new(&url).await;
    let s = &db.store;
    let a = user(s, "a").await;
    let (ws, _, table, _) = table_with(s, a.id, &[("Name", text()), ("Qty", number())]).await;
    let index_names = || async {
        sqlx::query_scalar::<_, String>(
            "SELECT indexname::text FROM pg_indexes WHERE indexname LIKE 'records\\_%\\_fld%' ORDER BY 1",
        )
        .fetch_all(s.pool())
        .await
        .unwrap()
    };
    let mut code = field(table.id, "Code", text(), 8);
    code.indexed = true;
    s.create_field(&code).await.unwrap();
    assert_eq!(
        index_names().await,
        vec![
            format!("records_txt_{}", code.id),
            format!("records_txt_{}_desc", code.id)
        ]
    );
    code.field_type = number();
    s.update_field(&code).await.unwrap();
    assert_eq!(
        index_names().await,
        vec![
            format!("records_num_{}", code.id),
            format!("records_num_{}_desc", code.id)
        ]
    );
    code.indexed = false;
    s.update_field(&code).await.unwrap();
    assert!(index_names().await.is_empty());
    let stats: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_statistic_ext WHERE stxname LIKE 'records\\_%'",
    )
    .fetch_one(s.pool())
    .await
    .unwrap();
    assert_eq!(stats, 0);
    code.indexed = true;
    s.update_field(&code).await.unwrap();
    s.delete_field(code.id).await.unwrap();
    assert!(index_names().await.is_empty());
    code.id = FieldId::new();
    s.create_field(&code).await.unwrap();
    // The ascending and the descending index.
    assert_eq!(index_names().await.len(), 2);
    let t = now();
    s.create_records(
        table.id,
        &[record_at(cells(&[(code.id, json!(1))]), Some(a.id), t)],
    )
    .await
    .unwrap();
    // Deleting the workspace takes the indexes and the rows with it.
    s.delete_workspace(ws.id).await.unwrap();
    assert!(index_names().await.is_empty());
    // The table's own records table went with it.
    let left: Option<String> = sqlx::query_scalar("SELECT to_regclass($1)::text")
        .bind(format!("r_{}", table.id))
        .fetch_one(s.pool())
        .await
        .unwrap();
    assert_eq!(left, None);
}

#[tokio::test]
async fn text_with_nul_and_control_characters_round_trips_and_compares() {
    let url = crate::require_postgres!();
    let db = TestDb::new(&url).await;
    let s = &db.store;
    let a = user(s, "a").await;
    let (_, _, table, f) = table_with(s, a.id, &[("Name", text())]).await;
    let values = ["a\u{0}b", "a\u{1}", "a", "a\u{0}", "\u{1}\u{0}", "é\u{0}"];
    let t = now();
    let batch: Vec<NewRecord> = values
        .iter()
        .map(|v| record_at(cells(&[(f[0].id, json!(v))]), None, t))
        .collect();
    let created = s.create_records(table.id, &batch).await.unwrap();
    for (r, v) in created.iter().zip(values) {
        assert_eq!(r.cells[f[0].id.as_str()], json!(v));
        assert_eq!(s.get_record(table.id, r.id, false).await.unwrap(), *r);
    }
    let target = Target::Cell {
        field: f[0].id,
        kind: ValueKind::Text,
    };
    let all = s
        .query_records(&RecordQuery {
            table_id: table.id,
            filter: None,
            sort: vec![SortKey {
                target,
                desc: false,
            }],
            after: None,
            limit: 100,
            include_deleted: false,
            log_seq: false,
        })
        .await
        .unwrap();
    let mut want = created.clone();
    let sort = [SortKey {
        target,
        desc: false,
    }];
    want.sort_by(|x, y| eval::compare_records(&sort, x, y));
    assert_eq!(all.records, want);
    for (op, operand) in [
        (Op::Eq, "a\u{0}b"),
        (Op::Lt, "a\u{0}b"),
        (Op::Gt, "a\u{1}"),
        (Op::StartsWith, "A\u{0}"),
        (Op::Contains, "\u{0}b"),
    ] {
        let filter = Filter::Cond(Condition {
            target,
            op,
            operand: Operand::Text(operand.to_owned()),
        });
        let page = s
            .query_records(&RecordQuery {
                table_id: table.id,
                filter: Some(filter.clone()),
                sort: sort.to_vec(),
                after: None,
                limit: 100,
                include_deleted: false,
                log_seq: false,
            })
            .await
            .unwrap();
        let expected: Vec<Record> = want
            .iter()
            .filter(|r| eval::matches(&filter, r))
            .cloned()
            .collect();
        assert_eq!(page.records, expected, "{op:?} {operand:?}");
    }
}

#[tokio::test]
async fn plans_use_the_gin_index_and_the_live_btree() {
    let url = crate::require_postgres!();
    let db = TestDb::new(&url).await;
    let s = &db.store;
    let a = user(s, "a").await;
    let (_, _, table, f) = table_with(s, a.id, &[("Name", text()), ("Qty", number())]).await;
    let t = now();
    for chunk in 0..20 {
        let batch: Vec<NewRecord> = (0..1000)
            .map(|i| {
                let n = chunk * 1000 + i;
                record_at(
                    cells(&[
                        (f[0].id, json!(format!("name {n}"))),
                        (f[1].id, json!(n % 100)),
                    ]),
                    None,
                    t,
                )
            })
            .collect();
        s.create_records(table.id, &batch).await.unwrap();
    }
    sqlx::query("ANALYZE").execute(s.pool()).await.unwrap();
    let eq = RecordQuery {
        table_id: table.id,
        filter: Some(Filter::Cond(Condition {
            target: Target::Cell {
                field: f[0].id,
                kind: ValueKind::Text,
            },
            op: Op::Eq,
            operand: Operand::Text("name 12345".into()),
        })),
        sort: vec![],
        after: None,
        limit: 100,
        include_deleted: false,
        log_seq: false,
    };
    let plan = s.explain(&eq, true).await.unwrap().join("\n");
    eprintln!("EXPLAIN equality filter:\n{plan}");
    assert!(plan.contains("_data\""), "{plan}");
    assert_eq!(s.query_records(&eq).await.unwrap().records.len(), 1);
    let page = RecordQuery {
        filter: None,
        after: Some(Cursor {
            values: vec![],
            id: RecordId::at(t.timestamp_millis()),
            query: 0,
            snapshot: None,
        }),
        ..eq.clone()
    };
    let plan = s.explain(&page, true).await.unwrap().join("\n");
    eprintln!("EXPLAIN keyset page:\n{plan}");
    assert!(plan.contains("_live\""), "{plan}");
    // An indexed number field serves range filters.
    let mut qty = f[1].clone();
    qty.indexed = true;
    s.update_field(&qty).await.unwrap();
    sqlx::query("ANALYZE").execute(s.pool()).await.unwrap();
    let range = RecordQuery {
        filter: Some(Filter::Cond(Condition {
            target: Target::Cell {
                field: f[1].id,
                kind: ValueKind::Number,
            },
            op: Op::Gt,
            operand: Operand::Number(98.5),
        })),
        ..eq.clone()
    };
    let plan = s.explain(&range, true).await.unwrap().join("\n");
    eprintln!("EXPLAIN range filter on an indexed number field:\n{plan}");
    assert!(plan.contains(&format!("records_num_{}", qty.id)), "{plan}");
    assert_eq!(s.query_records(&range).await.unwrap().records.len(), 100);
}

#[tokio::test]
async fn table_access_sees_field_changes_made_by_another_instance() {
    // Fields are cached per store by their rows' id:xmin list; a change made
    // through another store (another server instance) must show at once.
    let url = crate::require_postgres!();
    let db = TestDb::new(&url).await;
    let s = db.store.clone();
    let other = db.second_store().await;
    let a = user(&s, "a").await;
    let (_, _, table, f) = table_with(&s, a.id, &[("A", number()), ("B", text())]).await;
    let names = |access: &pybase_core::store::TableAccess| {
        access
            .fields
            .iter()
            .map(|x| x.name.clone())
            .collect::<Vec<_>>()
    };
    let first = s.table_access(table.id, a.id).await.unwrap();
    assert_eq!(names(&first), vec!["A", "B"]);
    assert_eq!(first.role, Some(Role::Owner));

    let mut renamed = f[1].clone();
    renamed.name = "Renamed".into();
    other.update_field(&renamed).await.unwrap();
    assert_eq!(
        names(&s.table_access(table.id, a.id).await.unwrap()),
        vec!["A", "Renamed"]
    );

    let extra = field(table.id, "C", number(), 5);
    other.create_field(&extra).await.unwrap();
    other.delete_field(f[0].id).await.unwrap();
    let recs = s
        .create_records(
            table.id,
            &[record_at(cells(&[(extra.id, json!(7))]), None, now())],
        )
        .await
        .unwrap();
    let (access, found) = s.record_access(table.id, recs[0].id, a.id).await.unwrap();
    assert_eq!(names(&access), vec!["Renamed", "C"]);
    assert_eq!(found.as_ref(), Some(&recs[0]));
    let (_, missing) = s
        .record_access(table.id, RecordId::new(), a.id)
        .await
        .unwrap();
    assert!(missing.is_none());
    let outsider = user(&s, "b").await;
    assert_eq!(
        s.table_access(table.id, outsider.id).await.unwrap().role,
        None
    );
    assert!(matches!(
        s.table_access(TableId::new(), a.id).await,
        Err(StoreError::NotFound { .. })
    ));
}

/// A database of the first layout (one shared `records` table with partial
/// cell indexes and extended statistics on it), with live and soft-deleted
/// records of an indexed field: migrating moves every record into its
/// table's own records table with ids, cells, autonumbers and deletions
/// kept, builds the cell indexes there, and drops `records` and its
/// statistics.
#[tokio::test]
async fn a_shared_records_database_is_moved_to_one_table_per_user_table() {
    let url = crate::require_postgres!();
    let db = TestDb::new(&url).await;
    let s = &db.store;
    let a = user(s, "a").await;
    let (_, _, table, f) = table_with(s, a.id, &[("Code", text()), ("Qty", number())]).await;
    let mut code = f[0].clone();
    code.indexed = true;
    s.update_field(&code).await.unwrap();
    let batch: Vec<NewRecord> = (0..50)
        .map(|i| {
            record_at(
                cells(&[(code.id, json!(format!("c{i}"))), (f[1].id, json!(i))]),
                None,
                now(),
            )
        })
        .collect();
    let created = s.create_records(table.id, &batch).await.unwrap();
    s.delete_records(table.id, &[created[7].id], now())
        .await
        .unwrap();
    let before = s.get_record(table.id, created[7].id, true).await.unwrap();

    // Back to the first layout, as its migrations and `sync_index` left it.
    let (t, fld) = (table.id.as_str(), code.id.as_str());
    for sql in [
        "CREATE TABLE records (
            id TEXT COLLATE \"C\" NOT NULL,
            table_id TEXT COLLATE \"C\" NOT NULL REFERENCES tables (id) ON DELETE CASCADE,
            autonumber BIGINT NOT NULL, data JSONB NOT NULL,
            created_by TEXT COLLATE \"C\", updated_by TEXT COLLATE \"C\",
            created_time TIMESTAMPTZ NOT NULL, updated_time TIMESTAMPTZ NOT NULL,
            deleted_time TIMESTAMPTZ,
            CONSTRAINT records_pkey PRIMARY KEY (table_id, id))"
            .to_owned(),
        "CREATE INDEX records_live_idx ON records (table_id, id) WHERE deleted_time IS NULL"
            .to_owned(),
        "CREATE INDEX records_data_idx ON records USING GIN (data jsonb_path_ops)".to_owned(),
        format!(
            "INSERT INTO records SELECT id, '{t}', autonumber, data, created_by, updated_by, \
             created_time, updated_time, deleted_time FROM \"r_{t}\""
        ),
        format!("DROP TABLE \"r_{t}\""),
        format!(
            "CREATE INDEX records_txt_{fld} ON records (((data ->> '{fld}') COLLATE \"C\")) \
             WHERE table_id = '{t}' AND deleted_time IS NULL"
        ),
        format!(
            "CREATE STATISTICS records_txt_{fld}_st ON ((data ->> '{fld}') COLLATE \"C\") \
             FROM records"
        ),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(s.pool())
            .await
            .unwrap();
    }

    s.migrate().await.unwrap();
    let all = s
        .query_records(&RecordQuery {
            table_id: table.id,
            filter: None,
            sort: vec![],
            after: None,
            limit: 100,
            include_deleted: true,
            log_seq: false,
        })
        .await
        .unwrap();
    assert_eq!(all.records.len(), 50);
    for r in &all.records {
        if r.id == before.id {
            assert_eq!(r, &before);
        } else {
            let want = created.iter().find(|c| c.id == r.id).unwrap();
            assert_eq!((&r.cells, r.autonumber), (&want.cells, want.autonumber));
            assert!(r.deleted_time.is_none());
        }
    }
    assert!(s.get_record(table.id, before.id, false).await.is_err());
    let eq = RecordQuery {
        table_id: table.id,
        filter: Some(Filter::Cond(Condition {
            target: Target::Cell {
                field: code.id,
                kind: ValueKind::Text,
            },
            op: Op::Eq,
            operand: Operand::Text("c12".into()),
        })),
        sort: vec![SortKey {
            target: Target::Cell {
                field: code.id,
                kind: ValueKind::Text,
            },
            desc: false,
        }],
        after: None,
        limit: 10,
        include_deleted: false,
        log_seq: false,
    };
    assert_eq!(
        s.query_records(&eq).await.unwrap().records[0].id,
        created[12].id
    );
    let left: (Option<String>, i64, Option<String>) = sqlx::query_as(
        "SELECT to_regclass('public.records')::text, \
         (SELECT count(*) FROM pg_statistic_ext WHERE stxname LIKE 'records\\_%'), \
         to_regclass($1)::text",
    )
    .bind(format!("\"records_txt_{fld}\""))
    .fetch_one(s.pool())
    .await
    .unwrap();
    assert_eq!(left, (None, 0, Some(format!("\"records_txt_{fld}\""))));
    // A second run finds nothing to move.
    s.migrate().await.unwrap();
}
