//! Migration tests: databases of both earlier layouts, with data in them,
//! opened by today's code.

use pybase_core::fields::ValueKind;
use pybase_core::ids::{FieldId, RecordId, TableId};
use pybase_core::query::{Condition, Filter, Op, Operand, RecordQuery, SortKey, Target};
use pybase_core::store::{NewRecord, RecordPatch, RecordsStore as _};
use rusqlite::Connection;
use serde_json::{Value, json};

use crate::SqliteStore;
use crate::migrate::{MIGRATIONS, migrate, version};

const T: &str = "2026-01-01T00:00:00.000Z";
const WS_BASE: &str = "INSERT INTO workspaces VALUES ('wspAAAAAAAAAAAAAA', 'W', 'w', NULL, \
     '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z');
     INSERT INTO bases VALUES ('basAAAAAAAAAAAAAA', 'wspAAAAAAAAAAAAAA', 'B', NULL, \
     '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z');";

fn cond(field: FieldId, kind: ValueKind, op: Op, operand: Operand) -> Filter {
    Filter::Cond(Condition {
        target: Target::Cell { field, kind },
        op,
        operand,
    })
}

fn query(table: TableId, filter: Option<Filter>, sort: Vec<SortKey>) -> RecordQuery {
    RecordQuery {
        table_id: table,
        filter,
        sort,
        after: None,
        limit: 100,
        include_deleted: false,
        log_seq: false,
    }
}

async fn ids(store: &SqliteStore, q: &RecordQuery) -> Vec<RecordId> {
    let page = store.query_records(q).await.unwrap();
    page.records.iter().map(|r| r.id).collect()
}

fn integrity_and_schema(conn: &Connection) -> (String, Vec<String>) {
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    let tables = conn
        .prepare(
            "SELECT name FROM sqlite_schema WHERE type = 'table' AND name LIKE 'r\\_%' ESCAPE '\\'",
        )
        .unwrap()
        .query_map([], |r| r.get::<_, String>(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    (integrity, tables)
}

/// A database written by the first shared-`records` layout (schema
/// version 3), with an indexed field, live and soft-deleted records in two
/// tables and the old partial cell index: opening it moves it through the
/// per-table layout into today's, keeping ids, cells, autonumbers and
/// deletions, and the indexed field is served by the side index.
#[tokio::test]
async fn a_first_shared_layout_database_reaches_the_current_layout() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    let (t1, t2) = (TableId::new(), TableId::new());
    let (code, note) = (FieldId::new(), FieldId::new());
    let ids_: Vec<RecordId> = (0..5).map(|_| RecordId::new()).collect();
    {
        let mut conn = Connection::open(&path).unwrap();
        migrate(&mut conn, &MIGRATIONS[..3]).unwrap();
        assert_eq!(version(&conn).unwrap(), 3);
        conn.execute_batch(&format!(
            "{WS_BASE}
             INSERT INTO tables (id, base_id, workspace_id, name, position, last_autonumber,
                created_at, updated_at)
             VALUES ('{t1}', 'basAAAAAAAAAAAAAA', 'wspAAAAAAAAAAAAAA', 'One', 0, 4, '{T}', '{T}'),
                    ('{t2}', 'basAAAAAAAAAAAAAA', 'wspAAAAAAAAAAAAAA', 'Two', 1, 1, '{T}', '{T}');
             INSERT INTO fields (id, table_id, name, type, options, position, indexed,
                created_at, updated_at)
             VALUES ('{code}', '{t1}', 'Code', 'text', '{{}}', 0, 1, '{T}', '{T}'),
                    ('{note}', '{t2}', 'Note', 'text', '{{}}', 0, 0, '{T}', '{T}');
             CREATE INDEX \"cell_{code}\" ON records (json_extract(data, '$.{code}'))
                WHERE table_id = '{t1}';"
        ))
        .unwrap();
        for (i, id) in ids_.iter().enumerate() {
            let (table, field) = if i < 4 { (t1, code) } else { (t2, note) };
            let deleted = (i == 2).then_some(T);
            conn.execute(
                "INSERT INTO records (id, table_id, data, autonumber, created_by, updated_by,
                    created_time, updated_time, deleted_time)
                 VALUES (?1, ?2, jsonb(?3), ?4, NULL, NULL, ?5, ?5, ?6)",
                rusqlite::params![
                    id.as_str(),
                    table.as_str(),
                    json!({ field.as_str(): format!("v{i}") }).to_string(),
                    i as i64 % 4 + 1,
                    T,
                    deleted
                ],
            )
            .unwrap();
        }
    }

    let store = SqliteStore::open(&path).unwrap();
    let latest = i64::try_from(MIGRATIONS.len()).unwrap();
    assert_eq!(store.schema_version().await.unwrap(), latest);
    let r = store.get_record(t1, ids_[1], false).await.unwrap();
    assert_eq!(r.cells[code.as_str()], json!("v1"));
    assert_eq!((r.table_id, r.autonumber), (t1, 2));
    assert!(store.get_record(t1, ids_[2], false).await.is_err());
    let deleted = store.get_record(t1, ids_[2], true).await.unwrap();
    assert!(deleted.deleted_time.is_some());
    // Records stay in their own table.
    assert!(store.get_record(t2, ids_[1], true).await.is_err());
    assert_eq!(
        store.get_record(t2, ids_[4], false).await.unwrap().cells[note.as_str()],
        json!("v4")
    );
    let q = query(
        t1,
        Some(cond(
            code,
            ValueKind::Text,
            Op::Eq,
            Operand::Text("v3".into()),
        )),
        Vec::new(),
    );
    assert_eq!(ids(&store, &q).await, [ids_[3]]);
    let plan = store.explain(&q).await.unwrap().join("; ");
    assert!(plan.contains("cell_index_value"), "{plan}");
    // New records continue the table's numbering.
    let created = store
        .create_records(
            t1,
            &[NewRecord {
                id: RecordId::new(),
                cells: Default::default(),
                created_by: None,
                created_time: chrono::Utc::now(),
            }],
        )
        .await
        .unwrap();
    assert_eq!(created[0].autonumber, 5);
    drop(store);

    let conn = Connection::open(&path).unwrap();
    let (integrity, per_table) = integrity_and_schema(&conn);
    assert_eq!(integrity, "ok");
    assert!(per_table.is_empty(), "{per_table:?}");
}

/// One record of the per-table database below: its table, cells and
/// whether it is soft-deleted.
struct Old {
    id: RecordId,
    table: TableId,
    cells: Value,
    autonumber: i64,
    deleted: bool,
}

/// A database of the per-table layout (schema version 8: `r_<table>`
/// tables with expression indexes), with two indexed fields (a number and
/// a text), empty and mixed-type cells, a soft-deleted record and link
/// cells with their reverse index: opening it moves every record into
/// `records`, fills the side index, drops the old tables, and every record
/// and query answer is as before.
#[tokio::test]
#[allow(clippy::too_many_lines)]
async fn a_per_table_database_is_moved_to_the_shared_layout() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v8.db");
    let (t1, t2) = (TableId::new(), TableId::new());
    let (qty, code, link, note) = (
        FieldId::new(),
        FieldId::new(),
        FieldId::new(),
        FieldId::new(),
    );
    let targets: Vec<RecordId> = (0..2).map(|_| RecordId::new()).collect();
    let mut old: Vec<Old> = Vec::new();
    let qtys: [Value; 7] = [
        json!(5),
        json!(1),
        json!(9.5),
        Value::Null,
        json!(7),
        json!("12"),
        json!(3),
    ];
    for (i, q) in qtys.iter().enumerate() {
        let mut cells = serde_json::Map::new();
        if !q.is_null() {
            cells.insert(qty.to_string(), q.clone());
        }
        cells.insert(code.to_string(), json!(format!("c{}", i % 3)));
        if i == 0 {
            cells.insert(
                link.to_string(),
                json!([targets[0].as_str(), targets[1].as_str()]),
            );
        }
        if i == 1 {
            cells.insert(link.to_string(), json!([targets[1].as_str()]));
        }
        old.push(Old {
            id: RecordId::new(),
            table: t1,
            cells: Value::Object(cells),
            autonumber: i as i64 + 1,
            deleted: i == 4,
        });
    }
    for (i, t) in targets.iter().enumerate() {
        old.push(Old {
            id: *t,
            table: t2,
            cells: json!({ note.as_str(): format!("n{i}") }),
            autonumber: i as i64 + 1,
            deleted: false,
        });
    }
    {
        let mut conn = Connection::open(&path).unwrap();
        migrate(&mut conn, &MIGRATIONS[..8]).unwrap();
        assert_eq!(version(&conn).unwrap(), 8);
        conn.execute_batch(&format!(
            "{WS_BASE}
             INSERT INTO tables (id, base_id, workspace_id, name, position, last_autonumber,
                created_at, updated_at)
             VALUES ('{t1}', 'basAAAAAAAAAAAAAA', 'wspAAAAAAAAAAAAAA', 'One', 0, 7, '{T}', '{T}'),
                    ('{t2}', 'basAAAAAAAAAAAAAA', 'wspAAAAAAAAAAAAAA', 'Two', 1, 2, '{T}', '{T}');
             INSERT INTO fields (id, table_id, name, type, options, position, indexed,
                created_at, updated_at)
             VALUES ('{qty}', '{t1}', 'Qty', 'number', '{{}}', 0, 1, '{T}', '{T}'),
                    ('{code}', '{t1}', 'Code', 'text', '{{}}', 1, 1, '{T}', '{T}'),
                    ('{link}', '{t1}', 'Link', 'link',
                     '{{\"linked_table_id\": \"{t2}\"}}', 2, 0, '{T}', '{T}'),
                    ('{note}', '{t2}', 'Note', 'text', '{{}}', 0, 0, '{T}', '{T}');"
        ))
        .unwrap();
        for t in [t1, t2] {
            crate::legacy_layout::create_records_table(&conn, t.as_str()).unwrap();
        }
        for r in &old {
            conn.execute(
                &format!(
                    "INSERT INTO {} (id, data, autonumber, created_time, updated_time, \
                     deleted_time) VALUES (?1, jsonb(?2), ?3, ?4, ?4, ?5)",
                    crate::legacy_layout::rel(r.table.as_str()).unwrap()
                ),
                rusqlite::params![
                    r.id.as_str(),
                    r.cells.to_string(),
                    r.autonumber,
                    T,
                    r.deleted.then_some(T)
                ],
            )
            .unwrap();
        }
        for f in [qty, code] {
            crate::legacy_layout::create_cell_index(&conn, t1, f).unwrap();
        }
        conn.execute_batch(&format!(
            "INSERT INTO record_links VALUES ('{link}', '{}', '{}'), ('{link}', '{}', '{}'), \
             ('{link}', '{}', '{}');",
            targets[0], old[0].id, targets[1], old[0].id, targets[1], old[1].id
        ))
        .unwrap();
    }

    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(
        store.schema_version().await.unwrap(),
        i64::try_from(MIGRATIONS.len()).unwrap()
    );
    // Every record as it was.
    for r in &old {
        let got = store.get_record(r.table, r.id, true).await.unwrap();
        assert_eq!(Value::Object(got.cells.clone()), r.cells, "{}", r.id);
        assert_eq!(got.autonumber, r.autonumber);
        assert_eq!(got.deleted_time.is_some(), r.deleted);
        assert_eq!(got.table_id, r.table);
        // and in no other table
        let other = if r.table == t1 { t2 } else { t1 };
        assert!(store.get_record(other, r.id, true).await.is_err());
    }
    let live = |pick: &dyn Fn(&Old) -> bool| -> Vec<RecordId> {
        let mut v: Vec<RecordId> = old
            .iter()
            .filter(|r| r.table == t1 && !r.deleted && pick(r))
            .map(|r| r.id)
            .collect();
        v.sort();
        v
    };
    let num = |r: &Old| r.cells.get(qty.as_str()).and_then(Value::as_f64);
    // Range filter on the indexed number (a text "12" in the number field
    // is not a number: it matches no comparison, as in the reference
    // evaluator and PostgreSQL).
    let q = query(
        t1,
        Some(cond(qty, ValueKind::Number, Op::Gt, Operand::Number(4.0))),
        Vec::new(),
    );
    let expected = live(&|r| num(r).is_some_and(|n| n > 4.0));
    assert_eq!(ids(&store, &q).await, expected);
    let plan = store.explain(&q).await.unwrap().join("; ");
    assert!(plan.contains("cell_index_value"), "{plan}");
    // Equality on the indexed text, sorted by the indexed number
    // descending (empty cell last), then by id.
    let q = query(
        t1,
        Some(cond(
            code,
            ValueKind::Text,
            Op::Eq,
            Operand::Text("c0".into()),
        )),
        vec![SortKey {
            target: Target::Cell {
                field: qty,
                kind: ValueKind::Number,
            },
            desc: true,
        }],
    );
    let got = ids(&store, &q).await;
    // c0: records 0 (5), 3 (empty), 6 (3)
    assert_eq!(got, [old[0].id, old[6].id, old[3].id]);
    // Soft-deleted rows come back on request.
    let mut all = query(t1, None, Vec::new());
    all.include_deleted = true;
    assert_eq!(ids(&store, &all).await.len(), 7);
    // The reverse index of links survived.
    let linking = store
        .records_linking_to(t1, link, &[targets[1]])
        .await
        .unwrap();
    let mut want = vec![(targets[1], old[0].id), (targets[1], old[1].id)];
    want.sort();
    assert_eq!(linking, want);
    // The side index follows writes: an update moves the record.
    store
        .update_records(
            t1,
            &[RecordPatch {
                id: old[1].id,
                set: serde_json::Map::from_iter([(qty.to_string(), json!(100))]),
                unset: Vec::new(),
                replace: false,
            }],
            chrono::Utc::now(),
            None,
        )
        .await
        .unwrap();
    let q = query(
        t1,
        Some(cond(
            qty,
            ValueKind::Number,
            Op::Gte,
            Operand::Number(100.0),
        )),
        Vec::new(),
    );
    // (the text "12" of record 5 is no number: not matched)
    assert_eq!(ids(&store, &q).await, vec![old[1].id]);
    drop(store);

    let conn = Connection::open(&path).unwrap();
    let (integrity, per_table) = integrity_and_schema(&conn);
    assert_eq!(integrity, "ok");
    assert!(per_table.is_empty(), "{per_table:?}");
    let entries: i64 = conn
        .query_row("SELECT count(*) FROM cell_index", [], |r| r.get(0))
        .unwrap();
    assert_eq!(entries, 14, "7 records of t1 × 2 indexed fields");
    let ready: i64 = conn
        .query_row("SELECT count(*) FROM cell_indexes WHERE ready", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(ready, 2);
}
