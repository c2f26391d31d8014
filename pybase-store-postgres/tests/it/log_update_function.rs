//! `pybase_log_cells` (migration `20261130100000_log_update_in_returning`),
//! which logs the one-statement single-record update from its `RETURNING`
//! list: it compares a merge's named cells by a loop (more than 16 by an
//! aggregate), bumps the base's
//! counter by an `UPDATE` of its row, and for a base without that row (a
//! database written before the log, or a base whose first event this is)
//! makes it; an update that changes no cell logs nothing; a replace
//! compares every cell of both sides; concurrent updates number their
//! events without gaps.

use std::sync::Arc;

use pybase_core::facade::{FieldKey, NewField, QueryInput, WriteOptions};
use pybase_core::ids::{BaseId, RecordId};
use pybase_core::store::{ChangeKind, ChangesStore, RecordPatch, RecordsStore, Store};
use pybase_core::testkit::fixture::{Fixture, cells};
use pybase_store_postgres::PgStore;
use pybase_store_postgres::testkit::TestDb;
use serde_json::json;

/// A database of its own with the testkit's fixture on it.
async fn fixture(url: &str) -> (TestDb, Fixture) {
    let db = TestDb::new(url).await;
    let fx = Fixture::new(Arc::new(db.store.clone()) as Arc<dyn Store>).await;
    (db, fx)
}

/// Deletes `base`'s events and counter row, as in a database written
/// before the log.
async fn forget_log(s: &PgStore, base: BaseId) {
    for sql in [
        "DELETE FROM changes WHERE base_id = $1",
        "DELETE FROM change_counters WHERE base_id = $1",
    ] {
        sqlx::query(sql)
            .bind(base.as_str())
            .execute(s.pool())
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_statement_updates_log_with_and_without_a_counter_row() {
    let url = crate::require_postgres!();
    let (db, fx) = fixture(&url).await;
    let (s, t, base) = (&db.store, fx.table.table.id, fx.table.table.base_id);
    let w = WriteOptions::default();
    let update = |id: RecordId, q: i64, replace: bool| {
        fx.pb
            .update_record(&fx.owner, t, id, cells(&[("Qty", json!(q))]), w, replace)
    };
    let record = fx
        .pb
        .create_records(
            &fx.owner,
            t,
            vec![cells(&[("Qty", json!(1)), ("Name", json!("a"))])],
            w,
        )
        .await
        .unwrap()[0]
        .id;

    forget_log(s, base).await;
    let counter = || async {
        sqlx::query_scalar::<_, i64>("SELECT last_seq FROM change_counters WHERE base_id = $1")
            .bind(base.as_str())
            .fetch_optional(s.pool())
            .await
            .unwrap()
    };
    // The one-statement path writes no `changed_fields` (the reader lists
    // them): each event below must come from it.
    let rows = || async {
        sqlx::query_as::<_, (i64, String, bool)>(
            "SELECT seq, kind, changed_fields IS NULL FROM changes WHERE base_id = $1 \
             ORDER BY seq",
        )
        .bind(base.as_str())
        .fetch_all(s.pool())
        .await
        .unwrap()
    };
    let updated = ChangeKind::RecordUpdated.as_str().to_owned();

    update(record, 2, false).await.unwrap();
    assert_eq!(
        counter().await,
        Some(1),
        "the first event makes the counter"
    );
    assert_eq!(rows().await, [(1, updated.clone(), true)]);

    update(record, 3, false).await.unwrap();
    update(record, 3, false).await.unwrap();
    assert_eq!(
        counter().await,
        Some(2),
        "no number for a write of no change"
    );
    assert_eq!(
        rows().await,
        [(1, updated.clone(), true), (2, updated.clone(), true)]
    );

    // A replace without `Name` clears it: both changed cells on their sides.
    update(record, 4, true).await.unwrap();
    let history = s.record_changes(t, record, None, 10).await.unwrap();
    assert_eq!(history.len(), 3);
    let newest = &history[0];
    assert_eq!(newest.seq, 3);
    let name = fx.field("Name");
    let qty = fx.field("Qty");
    assert_eq!(
        newest.before,
        Some(json!({ name.as_str(): "a", qty.as_str(): 3 }))
    );
    assert_eq!(newest.after, Some(json!({ qty.as_str(): 4 })));
    let mut changed = newest.changed_fields.clone().unwrap_or_default();
    changed.sort();
    let mut expected = vec![name, qty];
    expected.sort();
    assert_eq!(changed, expected, "the reader lists both sides' keys");
    assert_eq!(history[1].before, Some(json!({ qty.as_str(): 2 })));
    assert_eq!(history[1].after, Some(json!({ qty.as_str(): 3 })));

    // The store's own replace (every cell, `p_replace`): `Qty` goes,
    // `Name` comes.
    let mut set = serde_json::Map::new();
    set.insert(name.to_string(), json!("b"));
    let patch = RecordPatch {
        id: record,
        set,
        replace: true,
        ..RecordPatch::default()
    };
    s.update_records(t, &[patch], chrono::Utc::now(), None)
        .await
        .unwrap();
    assert_eq!(rows().await.last(), Some(&(4, updated.clone(), true)));
    let newest = s.record_changes(t, record, None, 1).await.unwrap();
    assert_eq!(newest[0].after, Some(json!({ name.as_str(): "b" })));
    let before = newest[0].before.clone().unwrap_or_default();
    assert_eq!(before.get(qty.as_str()), Some(&json!(4)));
    assert_eq!(before.get(name.as_str()), None);

    // A merge that unsets a cell and sets one to the value it has: only
    // the unset cell changed.
    let mut set = serde_json::Map::new();
    set.insert(name.to_string(), json!("b"));
    let patch = RecordPatch {
        id: record,
        set,
        unset: vec![name],
        ..RecordPatch::default()
    };
    s.update_records(t, &[patch], chrono::Utc::now(), None)
        .await
        .unwrap();
    let newest = s.record_changes(t, record, None, 1).await.unwrap();
    assert_eq!(newest[0].seq, 5);
    assert_eq!(newest[0].before, Some(json!({ name.as_str(): "b" })));
    assert_eq!(newest[0].after, Some(json!({})));
    assert_eq!(rows().await.last(), Some(&(5, updated.clone(), true)));

    // A merge naming more than 16 cells is compared by the aggregate: the
    // same sides as the loop gives. The first names 18 new cells, the
    // second changes 16 of them and gives two the values they have.
    let merge = |set: serde_json::Map<String, serde_json::Value>| RecordPatch {
        id: record,
        set,
        ..RecordPatch::default()
    };
    let mut extras = Vec::new();
    for i in 0..17 {
        let spec = NewField {
            name: format!("N{i}"),
            field_type: "number".into(),
            options: json!({}),
            description: None,
            indexed: false,
        };
        extras.push(fx.pb.create_field(&fx.owner, t, spec).await.unwrap().id);
    }
    let extra = |i: usize| extras[i].to_string();
    // A read through the facade caches the new fields, which the
    // one-statement path needs (without them it cannot rule out a link).
    fx.pb
        .query_records(&fx.owner, t, QueryInput::default(), FieldKey::Id)
        .await
        .unwrap();
    let mut first = serde_json::Map::new();
    first.insert(qty.to_string(), json!(4));
    for i in 0..17 {
        first.insert(extra(i), json!(i));
    }
    s.update_records(t, &[merge(first.clone())], chrono::Utc::now(), None)
        .await
        .unwrap();
    let newest = s.record_changes(t, record, None, 1).await.unwrap();
    let first_seq = newest[0].seq;
    assert_eq!(newest[0].before, Some(json!({})));
    assert_eq!(
        newest[0].after,
        Some(serde_json::Value::Object(first.clone()))
    );
    let mut second = first.clone();
    let (mut before, mut after) = (serde_json::Map::new(), serde_json::Map::new());
    for i in 1..17 {
        second.insert(extra(i), json!(i + 100));
        before.insert(extra(i), json!(i));
        after.insert(extra(i), json!(i + 100));
    }
    s.update_records(t, &[merge(second)], chrono::Utc::now(), None)
        .await
        .unwrap();
    let newest = s.record_changes(t, record, None, 1).await.unwrap();
    assert_eq!(newest[0].seq, first_seq + 1);
    assert_eq!(newest[0].before, Some(serde_json::Value::Object(before)));
    assert_eq!(newest[0].after, Some(serde_json::Value::Object(after)));
    assert_eq!(
        rows().await.last(),
        Some(&(first_seq + 1, updated, true)),
        "every event above from the one-statement update"
    );
}

/// Concurrent one-statement updates of a base without a counter row (its
/// first events race to make it) and of a base with one: numbers 1 to N,
/// none lost or repeated; an update that finds no record takes none.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_one_statement_updates_number_without_gaps() {
    const WRITERS: usize = 8;
    let url = crate::require_postgres!();
    let (db, fx) = fixture(&url).await;
    let (s, t, base) = (&db.store, fx.table.table.id, fx.table.table.base_id);
    let qty = fx.field("Qty").to_string();
    let w = WriteOptions::default();
    let records: Vec<RecordId> = fx
        .pb
        .create_records(
            &fx.owner,
            t,
            (0..WRITERS).map(|_| cells(&[("Qty", json!(0))])).collect(),
            w,
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.id)
        .collect();
    let seqs = || async {
        sqlx::query_scalar::<_, i64>("SELECT seq FROM changes WHERE base_id = $1 ORDER BY seq")
            .bind(base.as_str())
            .fetch_all(s.pool())
            .await
            .unwrap()
    };
    for round in 1..=2_i64 {
        // Round 1 without the counter's row, round 2 with it.
        if round == 1 {
            forget_log(s, base).await;
        }
        let before = seqs().await.len();
        let writers: Vec<_> = records
            .iter()
            .map(|&id| {
                let s = s.clone();
                let qty = qty.clone();
                tokio::spawn(async move {
                    let mut set = serde_json::Map::new();
                    set.insert(qty, json!(round));
                    let patch = RecordPatch {
                        id,
                        set,
                        ..RecordPatch::default()
                    };
                    s.update_records(t, &[patch], chrono::Utc::now(), None)
                        .await
                        .unwrap();
                })
            })
            .collect();
        for writer in writers {
            writer.await.unwrap();
        }
        let all = seqs().await;
        let expected: Vec<i64> = (1..=i64::try_from(before + WRITERS).unwrap()).collect();
        assert_eq!(all, expected, "round {round}: gap-free, one each");
        let listed: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM changes WHERE base_id = $1 AND changed_fields IS NOT NULL",
        )
        .bind(base.as_str())
        .fetch_one(s.pool())
        .await
        .unwrap();
        assert_eq!(listed, 0, "every event from the one-statement update");
    }
    // A record that is not there: nothing written, no number taken.
    let mut set = serde_json::Map::new();
    set.insert(qty, json!(1));
    let missing = RecordPatch {
        id: RecordId::new(),
        set,
        ..RecordPatch::default()
    };
    assert!(
        s.update_records(t, &[missing], chrono::Utc::now(), None)
            .await
            .is_err()
    );
    assert_eq!(seqs().await.len(), 2 * WRITERS);
}
