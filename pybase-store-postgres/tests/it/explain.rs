//! PostgreSQL's plans (`EXPLAIN ANALYZE`) for an equality filter and for
//! pages of a table use the GIN index on the cells and the btree on
//! `(table_id, id)`. A small variant runs always (5,000 records, with
//! sequential scans priced out so only a missing or unusable index can fail
//! it); the large one (200,000 records, the planner's own choice) is
//! ignored by default: run it with
//! `PYBASE_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test
//! cargo test -p pybase-store-postgres explain:: -- --ignored --nocapture`.

use chrono::Utc;
use pybase_core::fields::kinds::{Number, Text};
use pybase_core::fields::{FieldType, ValueKind};
use pybase_core::ids::{BaseId, FieldId, RecordId, TableId, UserId, WorkspaceId};
use pybase_core::model::{Base, Cells, Field, Table, User, Workspace};
use pybase_core::query::{Condition, Cursor, Filter, Op, Operand, RecordQuery, Target};
use pybase_core::store::{AuthStore, NewRecord, RecordsStore, SchemaStore, WorkspacesStore};
use pybase_store_postgres::testkit::TestDb;
use serde_json::json;

#[tokio::test]
#[ignore = "writes 200,000 records; run with --ignored --nocapture to print the plans"]
async fn print_plans_of_a_filter_and_a_page_on_200k_records() {
    plans_use_the_indexes(200_000, false).await;
}

#[tokio::test]
async fn a_filter_and_pages_can_use_their_indexes() {
    plans_use_the_indexes(5_000, true).await;
}

/// Writes `records` rows and checks the plans; with `force_index` the test
/// database prices sequential scans out, so a small table must still show
/// that the indexes exist and fit the queries.
async fn plans_use_the_indexes(records: usize, force_index: bool) {
    const RECORDS_PER_BATCH: usize = 1000;
    let url = crate::require_postgres!();
    let db = TestDb::new(&url).await;
    let forced;
    let s = if force_index {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "ALTER DATABASE \"{}\" SET enable_seqscan = off",
            db.name
        )))
        .execute(db.store.pool())
        .await
        .unwrap();
        // New connections carry the setting.
        forced = db.second_store().await;
        &forced
    } else {
        &db.store
    };
    let t = Utc::now();
    let owner = User {
        id: UserId::new(),
        email: "explain@example.com".into(),
        name: "Explain".into(),
        created_at: t,
        updated_at: t,
    };
    s.create_user(&owner, "x").await.unwrap();
    let ws = Workspace {
        id: WorkspaceId::new(),
        name: "W".into(),
        slug: "explain".into(),
        description: None,
        created_at: t,
        updated_at: t,
    };
    s.create_workspace(&ws, owner.id).await.unwrap();
    let base = Base {
        id: BaseId::new(),
        workspace_id: ws.id,
        name: "B".into(),
        description: None,
        created_at: t,
        updated_at: t,
    };
    s.create_base(&base).await.unwrap();
    let table = |name: &str| Table {
        id: TableId::new(),
        base_id: base.id,
        workspace_id: ws.id,
        name: name.into(),
        description: None,
        primary_field_id: None,
        position: 0,
        created_at: t,
        updated_at: t,
    };
    let field = |table: TableId, name: &str, ft: FieldType, position| Field {
        id: FieldId::new(),
        table_id: table,
        name: name.into(),
        description: None,
        field_type: ft,
        position,
        indexed: false,
        index_origin: Default::default(),
        status: Default::default(),
        created_at: t,
        updated_at: t,
    };
    let big = table("Big");
    let fields = [
        field(
            big.id,
            "Name",
            FieldType::Text(Text { max_length: None }),
            0,
        ),
        field(big.id, "Qty", FieldType::Number(Number { precision: 0 }), 1),
    ];
    s.create_table(&big, &fields).await.unwrap();
    // A second table, so a page has other tables' rows to skip.
    let small = table("Small");
    let small_fields = [field(
        small.id,
        "Name",
        FieldType::Text(Text { max_length: None }),
        0,
    )];
    s.create_table(&small, &small_fields).await.unwrap();
    let started = std::time::Instant::now();
    for chunk in 0..records / RECORDS_PER_BATCH {
        let batch: Vec<NewRecord> = (0..RECORDS_PER_BATCH)
            .map(|i| {
                let n = chunk * RECORDS_PER_BATCH + i;
                let mut cells = Cells::new();
                cells.insert(fields[0].id.to_string(), json!(format!("name {n}")));
                cells.insert(fields[1].id.to_string(), json!(n % 100));
                NewRecord {
                    id: RecordId::new(),
                    cells,
                    created_by: Some(owner.id),
                    created_time: t,
                }
            })
            .collect();
        s.create_records(big.id, &batch).await.unwrap();
    }
    let batch: Vec<NewRecord> = (0..5000)
        .map(|n| {
            let mut cells = Cells::new();
            cells.insert(small_fields[0].id.to_string(), json!(format!("small {n}")));
            NewRecord {
                id: RecordId::new(),
                cells,
                created_by: None,
                created_time: t,
            }
        })
        .collect();
    s.create_records(small.id, &batch).await.unwrap();
    sqlx::query("ANALYZE").execute(s.pool()).await.unwrap();
    println!(
        "{records} records (+5,000 in another table) written in {:?}",
        started.elapsed()
    );

    let eq = RecordQuery {
        table_id: big.id,
        filter: Some(Filter::Cond(Condition {
            target: Target::Cell {
                field: fields[0].id,
                kind: ValueKind::Text,
            },
            op: Op::Eq,
            operand: Operand::Text(format!("name {}", records / 2)),
        })),
        sort: vec![],
        after: None,
        limit: 100,
        include_deleted: false,
        log_seq: false,
    };
    let first_page = RecordQuery {
        filter: None,
        ..eq.clone()
    };
    // A page deep in the table, after a cursor.
    let middle = s.query_records(&first_page).await.unwrap();
    let mut after = middle.records.last().cloned().unwrap();
    for _ in 0..10 {
        let page = s
            .query_records(&RecordQuery {
                after: Some(Cursor {
                    values: vec![],
                    id: after.id,
                    query: 0,
                    snapshot: None,
                }),
                ..first_page.clone()
            })
            .await
            .unwrap();
        after = page.records.last().cloned().unwrap();
    }
    let next_page = RecordQuery {
        after: Some(Cursor {
            values: vec![],
            id: after.id,
            query: 0,
            snapshot: None,
        }),
        ..first_page.clone()
    };
    for (what, q) in [
        ("equality filter on a text cell (GIN)", &eq),
        ("first page of the table (btree)", &first_page),
        ("a page after a cursor (btree)", &next_page),
    ] {
        let plan = s.explain(q, true).await.unwrap();
        println!("\n== {what} ==\n{}", plan.join("\n"));
        let text = plan.join("\n");
        if q.filter.is_some() {
            assert!(text.contains("_data\""), "{text}");
        } else {
            assert!(text.contains("_live\""), "{text}");
            assert!(!text.contains("Seq Scan"), "{text}");
        }
    }
}
