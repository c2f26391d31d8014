//! Migrations 0013 and 0014 on a database written before them (the log as
//! 0007 made it: `WITHOUT ROWID`, a history index, counters keyed by
//! base): every event kept with its seq, each record's history chained,
//! numbers going on from the newest, and a deleted base still taking its
//! events with it.

use std::sync::Arc;

use pybase_core::facade::WriteOptions;
use pybase_core::ids::RecordId;
use pybase_core::store::{
    AuthStore as _, ChangesStore as _, RecordsStore as _, SchemaStore as _, Store,
};
use pybase_core::testkit::fixture::{Fixture, cells};
use rusqlite::Connection;
use serde_json::json;

use crate::SqliteStore;

/// The `changes` table's definition.
fn changes_sql(conn: &Connection) -> String {
    conn.query_row(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'changes'",
        [],
        |r| r.get(0),
    )
    .unwrap()
}

/// Turns the change log of `conn` (a database at the newest version) back
/// into the shape migration 0007 made (before 0013 and 0014), every event
/// and counter kept, for tests of migrations from older versions.
pub(crate) fn log_as_0007_made_it(conn: &Connection) {
    conn.execute_batch(
        "PRAGMA foreign_keys = OFF;
         DROP TRIGGER changes_forget_base;
         CREATE TABLE changes_old (
             base_id TEXT NOT NULL REFERENCES bases (id) ON DELETE CASCADE,
             seq INTEGER NOT NULL, at TEXT NOT NULL, actor TEXT, kind TEXT NOT NULL,
             table_id TEXT NOT NULL, record_id TEXT, field_id TEXT, view_id TEXT,
             changed_fields TEXT, before TEXT, after TEXT,
             PRIMARY KEY (base_id, seq)
         ) WITHOUT ROWID;
         INSERT INTO changes_old
             SELECT cc.base_id, c.k % 1099511627776, c.at, c.actor, c.kind, c.table_id,
                 c.record_id, c.field_id, c.view_id, c.changed_fields, c.before, c.after
             FROM changes c JOIN change_counters cc ON cc.no = c.k / 1099511627776;
         CREATE TABLE counters_old (
             base_id TEXT PRIMARY KEY NOT NULL REFERENCES bases (id) ON DELETE CASCADE,
             last_seq INTEGER NOT NULL, pruned_seq INTEGER NOT NULL DEFAULT 0
         );
         INSERT INTO counters_old SELECT base_id, last_seq, pruned_seq FROM change_counters;
         DROP TABLE changes;
         DROP TABLE change_counters;
         ALTER TABLE changes_old RENAME TO changes;
         ALTER TABLE counters_old RENAME TO change_counters;
         CREATE INDEX changes_record ON changes (table_id, record_id, seq)
             WHERE record_id IS NOT NULL;
         ALTER TABLE records DROP COLUMN last_seq;
         PRAGMA foreign_keys = ON;",
    )
    .unwrap();
}

#[test]
fn the_key_span_in_sql_is_the_constant() {
    assert_eq!(super::span!().parse::<i64>().unwrap(), super::SPAN);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_from_version_12_keeps_every_event_and_chains_histories() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v12.db");
    let store = Arc::new(SqliteStore::open(&path).unwrap());
    let fx = Fixture::new(store.clone() as Arc<dyn Store>).await;
    let (base, table) = (fx.base.id, fx.table.table.id);
    let records = (0..3).map(|i| cells(&[("Qty", json!(i))])).collect();
    let made = fx
        .pb
        .create_records(&fx.owner, table, records, WriteOptions::default())
        .await
        .unwrap();
    let id: RecordId = made[1].id;
    for qty in [10, 11] {
        fx.pb
            .update_record(
                &fx.owner,
                table,
                id,
                cells(&[("Qty", json!(qty))]),
                WriteOptions::default(),
                false,
            )
            .await
            .unwrap();
    }
    let before = store.changes_since(base, 0, 1_000).await.unwrap();
    let history = store.record_changes(table, id, None, 100).await.unwrap();
    assert_eq!(history.len(), 3, "created and two updates: {history:?}");
    drop(fx);
    drop(store);

    // Back to version 12: the log and its counters as 0007 made them.
    {
        let conn = Connection::open(&path).unwrap();
        log_as_0007_made_it(&conn);
        conn.execute_batch("PRAGMA user_version = 12;").unwrap();
        assert!(changes_sql(&conn).contains("WITHOUT ROWID"));
    }

    let store = Arc::new(SqliteStore::open(&path).unwrap());
    {
        let conn = Connection::open(&path).unwrap();
        let sql = changes_sql(&conn);
        assert!(sql.contains("k              INTEGER PRIMARY KEY"), "{sql}");
        assert!(!sql.contains("REFERENCES"));
        let indexes: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = 'changes'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(indexes, 0, "one B-tree an event");
    }
    let after = store.changes_since(base, 0, 1_000).await.unwrap();
    assert_eq!(after, before, "every event, as it was");
    assert_eq!(
        store.record_changes(table, id, None, 100).await.unwrap(),
        history,
        "the history chained by the migration"
    );
    assert_eq!(
        store
            .record_changes(table, id, Some(history[0].seq), 100)
            .await
            .unwrap(),
        history[1..],
        "a page before an event"
    );
    // The next write is numbered after the newest event and chained to
    // the record's history.
    let patch = pybase_core::store::RecordPatch {
        id,
        set: [(fx_qty(&store, table).await, json!(12))]
            .into_iter()
            .collect(),
        unset: Vec::new(),
        replace: false,
    };
    store
        .update_records(table, &[patch], chrono::Utc::now(), None)
        .await
        .unwrap();
    let more = store
        .changes_since(base, before.last_seq, 10)
        .await
        .unwrap();
    assert_eq!(more.events.len(), 1);
    assert_eq!(more.events[0].seq, before.last_seq + 1);
    let newer = store.record_changes(table, id, None, 100).await.unwrap();
    assert_eq!(newer.len(), 4);
    assert_eq!(newer[0], more.events[0]);
    assert_eq!(newer[1..], history[..]);
    // A deleted base takes its events and its number with it (the trigger).
    store.delete_base(base).await.unwrap();
    let conn = Connection::open(&path).unwrap();
    let left: (i64, i64) = conn
        .query_row(
            "SELECT (SELECT count(*) FROM changes), \
             (SELECT count(*) FROM change_counters WHERE base_id = ?1)",
            [base.as_str()],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(left, (0, 0));
}

/// The id of the fixture table's `Qty` field.
async fn fx_qty(store: &Arc<SqliteStore>, table: pybase_core::ids::TableId) -> String {
    store
        .list_fields(table)
        .await
        .unwrap()
        .into_iter()
        .find(|f| f.name == "Qty")
        .unwrap()
        .id
        .to_string()
}

/// Appends the event `seq` (a `table.updated` of `table`) to `base`'s log
/// through a connection of its own to the database at `path`, as another
/// process would.
fn append_elsewhere(
    path: &std::path::Path,
    base: pybase_core::ids::BaseId,
    table: pybase_core::ids::TableId,
    seq: i64,
) {
    let conn = Connection::open(path).unwrap();
    conn.execute(
        "INSERT INTO changes (k, at, kind, table_id) \
         SELECT no * 1099511627776 + ?2, '2026-11-29T00:00:00.000Z', 'table.updated', ?3 \
         FROM change_counters WHERE base_id = ?1",
        rusqlite::params![base.as_str(), seq, table.as_str()],
    )
    .unwrap();
}

/// The writer keeps each base's next seq between its transactions only
/// while no other connection commits: an event written by another
/// connection (another process on the same file) is numbered around, not
/// over, and a rolled-back write's numbers are given again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn numbers_kept_between_writes_follow_other_connections() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("two.db");
    let store = Arc::new(SqliteStore::open(&path).unwrap());
    let fx = Fixture::new(store.clone() as Arc<dyn Store>).await;
    let (base, table) = (fx.base.id, fx.table.table.id);
    let one = |q: i64| vec![cells(&[("Qty", json!(q))])];
    let w = WriteOptions::default();
    fx.pb
        .create_records(&fx.owner, table, one(1), w)
        .await
        .unwrap();
    let last = store.changes_since(base, 0, 1_000).await.unwrap().last_seq;
    // Another connection appends the base's next event.
    append_elsewhere(&path, base, table, last + 1);
    fx.pb
        .create_records(&fx.owner, table, one(2), w)
        .await
        .unwrap();
    let page = store.changes_since(base, last, 10).await.unwrap();
    let seqs: Vec<i64> = page.events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [last + 1, last + 2]);
    // Again, with a write of the writer that logs nothing committed in
    // between: it must not make the numbers it did not check look valid.
    append_elsewhere(&path, base, table, last + 3);
    store
        .set_password_hash(fx.owner.user_id(), "not-a-hash", chrono::Utc::now())
        .await
        .unwrap();
    fx.pb
        .create_records(&fx.owner, table, one(2), w)
        .await
        .unwrap();
    let page = store.changes_since(base, last + 2, 10).await.unwrap();
    let seqs: Vec<i64> = page.events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [last + 3, last + 4]);
    let last = last + 2;
    // A write that fails in the store after taking a seq (its first
    // record written, its second missing) gives it back with its rollback.
    let first = fx
        .pb
        .create_records(&fx.owner, table, one(3), w)
        .await
        .unwrap()[0]
        .id;
    let qty = fx_qty(&store, table).await;
    let patch = |id: RecordId| pybase_core::store::RecordPatch {
        id,
        set: [(qty.clone(), json!(4))].into_iter().collect(),
        unset: Vec::new(),
        replace: false,
    };
    let bad = store
        .update_records(
            table,
            &[patch(first), patch(RecordId::new())],
            chrono::Utc::now(),
            None,
        )
        .await;
    assert!(bad.is_err());
    store
        .update_records(table, &[patch(first)], chrono::Utc::now(), None)
        .await
        .unwrap();
    let page = store.changes_since(base, last + 2, 10).await.unwrap();
    let seqs: Vec<i64> = page.events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [last + 3, last + 4]);
    let history = store.record_changes(table, first, None, 10).await.unwrap();
    let chain: Vec<i64> = history.iter().map(|e| e.seq).collect();
    assert_eq!(
        chain,
        [last + 4, last + 3],
        "the rolled-back update left no trace"
    );
}

/// An update's event written as JSON text directly is the event
/// `NewChange::record_updated` gives for the same record before and after
/// (changed cells in byte order, values of every JSON kind, a cell
/// cleared, a cell added, escapes in text).
#[test]
fn an_updates_event_text_is_record_updated() {
    use pybase_core::ids::{FieldId, TableId};
    use pybase_core::model::Cells;
    use pybase_core::store::{NewChange, RecordPatch};

    let f = || FieldId::new().to_string();
    let (a, b, c, d, e, same) = (f(), f(), f(), f(), f(), f());
    let before: Cells = serde_json::from_value(json!({
        &a: 1, &b: "x \"quoted\" é", &c: {"n": [1, 2]}, &d: true, &same: "stays"
    }))
    .unwrap();
    // The cleared cell named by `unset` (the keys sorted apart) and by a
    // null in `set` (the set map's keys taken as they are).
    let unsetting = RecordPatch {
        id: RecordId::new(),
        set: serde_json::from_value(json!({
            &a: 2.5, &c: {"n": [3]}, &e: "new\nline", &same: "stays"
        }))
        .unwrap(),
        unset: vec![d.parse().unwrap()],
        replace: false,
    };
    let mut nulling = unsetting.clone();
    nulling.unset.clear();
    nulling.set.insert(d.clone(), serde_json::Value::Null);
    for patch in [unsetting, nulling] {
        let after = crate::links::created(
            TableId::new(),
            patch.id,
            &crate::read_first::merged(&before, &patch),
        );
        let direct =
            super::updated(&super::Before::of(before.clone(), &patch).unwrap(), &after).unwrap();
        let expected = NewChange::record_updated(&before, &after);
        let listed = expected.changed_fields.clone();
        let mapped = super::Entry::from(expected);
        let parse = |t: &Option<super::entry::JsonText>| -> serde_json::Value {
            t.as_ref().unwrap().parse().unwrap()
        };
        // The changed fields are read back from the two sides.
        let read_back = pybase_core::store::changed_fields_of(
            Some(&parse(&direct.before)),
            Some(&parse(&direct.after)),
        );
        assert_eq!(Some(read_back.clone()), listed);
        assert_eq!(read_back.len(), 4);
        assert_eq!(parse(&direct.before), parse(&mapped.before));
        assert_eq!(parse(&direct.after), parse(&mapped.after));
        assert_eq!(direct.before, mapped.before, "the same text");
        assert_eq!(direct.after, mapped.after, "the same text");
        assert_eq!(direct.record, Some(after.id));
    }
}

/// Once the largest base number is taken, a new base gets the smallest
/// free one (numbers of deleted bases come free), not a number whose keys
/// would overflow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn base_numbers_past_the_last_reuse_free_ones() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("numbers.db");
    let store = Arc::new(SqliteStore::open(&path).unwrap());
    let last = i64::MAX / super::SPAN;
    {
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(&format!(
            "INSERT INTO change_counters (no, base_id) VALUES (1, 'gone-1'), (2, 'gone-2'), \
             ({last}, 'gone-last');"
        ))
        .unwrap();
    }
    let fx = Fixture::new(store.clone() as Arc<dyn Store>).await;
    let (base, table) = (fx.base.id, fx.table.table.id);
    let created = fx
        .pb
        .create_records(
            &fx.owner,
            table,
            vec![cells(&[("Qty", json!(1))])],
            WriteOptions::default(),
        )
        .await
        .unwrap();
    let no: i64 = Connection::open(&path)
        .unwrap()
        .query_row(
            "SELECT no FROM change_counters WHERE base_id = ?1",
            [base.as_str()],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(no, 3, "the smallest free number");
    let page = store.changes_since(base, 0, 1_000).await.unwrap();
    assert!(
        page.events
            .iter()
            .any(|e| e.record_id == Some(created[0].id)),
        "the base's events are read back under its number"
    );
}
