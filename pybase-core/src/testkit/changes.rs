//! The change log: every write logged in order with no gap, failed writes
//! logging nothing, concurrent writers, subscriptions, history, revert and
//! retention.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::fixture::{Fixture, assert_invalid, cells};
use crate::Error;
use crate::StoreError;
use crate::facade::{FieldKey, FieldPatch, NewField, NewView, TablePatch, ViewPatch, WriteOptions};
use crate::ids::{RecordId, UserId};
use crate::model::Cells;
use crate::role::Role;
use crate::store::{ChangeEvent, ChangeKind, NewRecord, RecordPatch, Store};

/// Every event of the fixture's base, read in pages of 7 (so paging is
/// exercised), checked to be numbered 1, 2, 3, ... with no gap.
async fn whole_log(fx: &Fixture) -> Vec<ChangeEvent> {
    let mut out: Vec<ChangeEvent> = Vec::new();
    let mut after = 0;
    loop {
        let page = fx
            .pb
            .changes_since(&fx.viewer, fx.base.id, after, Some(7))
            .await
            .unwrap();
        out.extend(page.items.iter().cloned());
        match page.next_cursor {
            Some(c) => {
                assert_eq!(Some(c), page.items.last().map(|e| e.seq));
                after = c;
            }
            None => {
                assert_eq!(out.last().map_or(0, |e| e.seq), page.last_seq);
                break;
            }
        }
    }
    for (i, e) in out.iter().enumerate() {
        assert_eq!(
            e.seq,
            i64::try_from(i).unwrap() + 1,
            "gap or repeat at {e:?}"
        );
    }
    out
}

fn obj(v: &Option<Value>) -> Map<String, Value> {
    v.as_ref()
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

/// Record and schema writes are logged in order, one event per record of a
/// batch, with the kind, ids, actor and cells the API documents; reading
/// needs viewer, and non-members get `NotFound`.
pub async fn changes_log_every_write_in_order(store: Arc<dyn Store>) {
    let fx = Fixture::new(store).await;
    let t = fx.table.table.id;
    let owner = fx.owner.user_id();
    let log = whole_log(&fx).await;
    // The table and one event per field, by the owner.
    assert_eq!(log[0].kind, ChangeKind::TableCreated);
    assert_eq!(log[0].table_id, Some(t));
    assert_eq!(log[0].actor, Some(owner));
    assert_eq!(log[0].after.as_ref().unwrap()["name"], json!("Items"));
    assert_eq!(log.len(), 1 + fx.table.fields.len());
    for (e, f) in log[1..].iter().zip(&fx.table.fields) {
        assert_eq!(e.kind, ChangeKind::FieldCreated);
        assert_eq!(e.field_id, Some(f.id));
    }
    let start = log.len();
    let (name, qty) = (fx.field("Name"), fx.field("Qty"));
    let w = WriteOptions::default();
    let made = fx
        .pb
        .create_records(
            &fx.editor,
            t,
            vec![
                cells(&[("Name", json!("a")), ("Qty", json!(1))]),
                cells(&[("Name", json!("b"))]),
            ],
            w,
        )
        .await
        .unwrap();
    fx.pb
        .update_record(
            &fx.editor,
            t,
            made[0].id,
            cells(&[("Qty", json!(2)), ("Name", json!("a"))]),
            w,
            false,
        )
        .await
        .unwrap();
    // An id given twice deletes its record once (one event).
    fx.pb
        .delete_records(&fx.admin, t, &[made[1].id, made[1].id])
        .await
        .unwrap();
    fx.pb
        .restore_record(&fx.admin, t, made[1].id, FieldKey::Name)
        .await
        .unwrap();
    // Restoring a live record changes nothing and logs nothing.
    fx.pb
        .restore_record(&fx.admin, t, made[1].id, FieldKey::Name)
        .await
        .unwrap();
    let field = fx
        .pb
        .create_field(
            &fx.owner,
            t,
            NewField {
                name: "Extra".into(),
                field_type: "text".into(),
                options: Value::Null,
                description: None,
                indexed: false,
            },
        )
        .await
        .unwrap();
    let view = fx
        .pb
        .create_view(
            &fx.admin,
            t,
            NewView {
                name: "Grid".into(),
                view_type: None,
                config: Value::Null,
            },
        )
        .await
        .unwrap();
    fx.pb
        .update_view(
            &fx.admin,
            view.id,
            ViewPatch {
                name: Some("Grid 2".into()),
                config: None,
            },
        )
        .await
        .unwrap();
    fx.pb.delete_view(&fx.admin, view.id).await.unwrap();
    fx.pb.delete_field(&fx.owner, field.id).await.unwrap();

    let log = whole_log(&fx).await;
    let new = &log[start..];
    let kinds: Vec<ChangeKind> = new.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [
            ChangeKind::RecordCreated,
            ChangeKind::RecordCreated,
            ChangeKind::RecordUpdated,
            ChangeKind::RecordDeleted,
            ChangeKind::RecordRestored,
            ChangeKind::FieldCreated,
            ChangeKind::ViewCreated,
            ChangeKind::ViewUpdated,
            ChangeKind::ViewDeleted,
            ChangeKind::FieldDeleted,
        ]
    );
    let editor = Some(fx.editor.user_id());
    let admin = Some(fx.admin.user_id());
    let actors: Vec<Option<UserId>> = new.iter().map(|e| e.actor).collect();
    assert_eq!(
        actors,
        [
            editor,
            editor,
            editor,
            admin,
            admin,
            Some(owner),
            admin,
            admin,
            admin,
            Some(owner)
        ]
    );
    assert_eq!(new[0].record_id, Some(made[0].id));
    assert_eq!(new[1].record_id, Some(made[1].id));
    assert_eq!(obj(&new[0].after)[name.as_str()], json!("a"));
    assert_eq!(obj(&new[0].after)[qty.as_str()], json!(1));
    assert!(new[0].before.is_none());
    // An update carries only the cells that changed.
    assert_eq!(new[2].changed_fields, Some(vec![qty]));
    assert_eq!(new[2].before, Some(json!({ qty.as_str(): 1 })));
    assert_eq!(new[2].after, Some(json!({ qty.as_str(): 2 })));
    assert_eq!(obj(&new[3].before)[name.as_str()], json!("b"));
    assert!(new[3].after.is_none());
    assert_eq!(obj(&new[4].after)[name.as_str()], json!("b"));
    assert_eq!(new[5].field_id, Some(field.id));
    assert_eq!(new[5].after.as_ref().unwrap()["name"], json!("Extra"));
    assert_eq!(new[6].view_id, Some(view.id));
    assert_eq!(new[7].after.as_ref().unwrap()["name"], json!("Grid 2"));
    assert_eq!(new[8].view_id, Some(view.id));
    assert_eq!(new[9].field_id, Some(field.id));
    assert!(new.iter().all(|e| e.table_id == Some(t)));
    // The API's JSON shape.
    let shown = serde_json::to_value(&new[2]).unwrap();
    assert_eq!(shown["kind"], json!("record.updated"));
    assert_eq!(shown["record_id"], json!(made[0].id.to_string()));
    assert!(shown.get("view_id").is_none());

    // Cursors: after the newest is an empty page; bad input is refused.
    let last = log.last().unwrap().seq;
    let page = fx
        .pb
        .changes_since(&fx.viewer, fx.base.id, last, None)
        .await
        .unwrap();
    assert!(page.items.is_empty() && page.next_cursor.is_none());
    assert_eq!(page.last_seq, last);
    let e = fx
        .pb
        .changes_since(&fx.viewer, fx.base.id, -1, None)
        .await
        .unwrap_err();
    assert_invalid(&e, "after");
    let e = fx
        .pb
        .changes_since(&fx.viewer, fx.base.id, 0, Some(0))
        .await
        .unwrap_err();
    assert_invalid(&e, "page_size");
    let e = fx
        .pb
        .changes_since(&fx.outsider, fx.base.id, 0, None)
        .await
        .unwrap_err();
    assert!(matches!(e, Error::NotFound { entity: "base" }), "{e:?}");
}

/// A field conversion (retype) logs `field.updated` and then, in the same
/// commit, one `record.updated` per record whose cell the conversion
/// changed, with that cell before and after; unchanged and empty cells log
/// nothing, and a refused conversion logs nothing at all.
pub async fn field_conversions_log_each_converted_record(store: Arc<dyn Store>) {
    let fx = Fixture::new(store).await;
    let o = &fx.owner;
    let t = fx.table.table.id;
    let code = fx
        .pb
        .create_field(
            o,
            t,
            NewField {
                name: "Code".into(),
                field_type: "text".into(),
                options: Value::Null,
                description: None,
                indexed: false,
            },
        )
        .await
        .unwrap();
    let a = fx.create(&[("Code", json!("12"))]).await;
    let b = fx.create(&[("Code", json!("3.5"))]).await;
    let _empty = fx.create(&[("Name", json!("no code"))]).await;
    let bad = fx.create(&[("Code", json!("n/a"))]).await;
    let to_number = || FieldPatch {
        field_type: Some("number".into()),
        options: Some(json!({"precision": 1})),
        ..Default::default()
    };
    let start = whole_log(&fx).await.len();
    // Refused whole (one cell does not convert): nothing logged.
    fx.pb
        .update_field(o, code.id, to_number())
        .await
        .unwrap_err();
    assert_eq!(whole_log(&fx).await.len(), start);
    fx.pb
        .update_record(
            &fx.editor,
            t,
            bad.id,
            cells(&[("Code", json!("7"))]),
            WriteOptions::default(),
            false,
        )
        .await
        .unwrap();
    fx.pb.update_field(o, code.id, to_number()).await.unwrap();
    let log = whole_log(&fx).await;
    let new = &log[start + 1..];
    assert_eq!(new[0].kind, ChangeKind::FieldUpdated);
    assert_eq!(new[0].field_id, Some(code.id));
    let records = &new[1..];
    assert!(
        records.iter().all(|e| e.kind == ChangeKind::RecordUpdated
            && e.table_id == Some(t)
            && e.changed_fields == Some(vec![code.id])
            && e.actor == Some(o.user_id())),
        "{records:?}"
    );
    let by_record: HashMap<RecordId, &ChangeEvent> =
        records.iter().map(|e| (e.record_id.unwrap(), e)).collect();
    assert_eq!(records.len(), 3, "one per converted record: {records:?}");
    let c = code.id.as_str();
    for (id, before, after) in [
        (a.id, json!("12"), json!(12)),
        (b.id, json!("3.5"), json!(3.5)),
        (bad.id, json!("7"), json!(7)),
    ] {
        let e = by_record[&id];
        assert_eq!(e.before, Some(json!({ c: before })), "{e:?}");
        assert_eq!(e.after, Some(json!({ c: after })), "{e:?}");
    }
    // The events are each record's history, consistent with its cells.
    let history = fx
        .pb
        .record_history(&fx.viewer, t, a.id, None, None)
        .await
        .unwrap();
    assert_eq!(history.items[0].seq, by_record[&a.id].seq);
    let now = fx
        .pb
        .get_record(&fx.viewer, t, a.id, FieldKey::Id)
        .await
        .unwrap();
    assert_eq!(now.fields.get(c), Some(&json!(12)));
    // Back to text: the numbers convert again, one event each.
    let before_text = whole_log(&fx).await.len();
    fx.pb
        .update_field(
            o,
            code.id,
            FieldPatch {
                field_type: Some("text".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let log = whole_log(&fx).await;
    assert_eq!(log.len(), before_text + 4);
    assert_eq!(
        by_id(&log[before_text + 1..], a.id).after,
        Some(json!({ c: "12" }))
    );
}

fn by_id(events: &[ChangeEvent], id: RecordId) -> &ChangeEvent {
    events
        .iter()
        .find(|e| e.record_id == Some(id))
        .unwrap_or_else(|| panic!("no event of {id} in {events:?}"))
}

/// Writes refused by the store (a missing record in a batch, a duplicate
/// id) log nothing and use no sequence number.
pub async fn failed_writes_log_nothing(store: Arc<dyn Store>) {
    let fx = Fixture::new(store.clone()).await;
    let t = fx.table.table.id;
    let a = fx.create(&[("Qty", json!(1))]).await;
    let before = whole_log(&fx).await;
    let qty = fx.field("Qty").to_string();
    let patch = |id: RecordId| RecordPatch {
        id,
        set: [(qty.clone(), json!(5))].into_iter().collect(),
        unset: Vec::new(),
        replace: false,
    };
    let now = chrono::Utc::now();
    let e = store
        .update_records(t, &[patch(a.id), patch(RecordId::new())], now, None)
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::NotFound { .. }), "{e:?}");
    let e = store
        .delete_records(t, &[a.id, RecordId::new()], now)
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::NotFound { .. }), "{e:?}");
    let dup = NewRecord {
        id: a.id,
        cells: Cells::new(),
        created_by: None,
        created_time: now,
    };
    let fresh = NewRecord {
        id: RecordId::new(),
        ..dup.clone()
    };
    assert!(store.create_records(t, &[fresh, dup]).await.is_err());
    assert!(store.restore_record(t, RecordId::new()).await.is_err());
    assert_eq!(whole_log(&fx).await, before);
    // The next write takes the next number.
    fx.create(&[("Qty", json!(2))]).await;
    let after = whole_log(&fx).await;
    assert_eq!(after.len(), before.len() + 1);
}

/// A write of the values a record already has changes nothing: no event,
/// no new update time (nor anything a webhook would deliver), through every
/// record write path (one-record merge and replace, batch, upsert, the
/// store's batch update); a batch logs only the records it changed, and a
/// real change afterwards logs and bumps the time as usual.
pub async fn unchanged_writes_log_nothing(store: Arc<dyn Store>) {
    let fx = Fixture::new(store.clone()).await;
    let t = fx.table.table.id;
    let w = WriteOptions::default();
    let a = fx
        .create(&[
            ("Name", json!("a")),
            ("Qty", json!(1)),
            ("Tags", json!(["a", "b"])),
        ])
        .await;
    let b = fx.create(&[("Name", json!("b")), ("Qty", json!(2))]).await;
    let log = whole_log(&fx).await;
    // The clock moves on, so a bumped update time would show.
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let same = fx
        .pb
        .update_record(&fx.editor, t, a.id, cells(&[("Qty", json!(1))]), w, false)
        .await
        .unwrap();
    assert_eq!(same.updated_time, a.updated_time);
    assert_eq!(same.fields, a.fields);
    let same = fx
        .pb
        .update_record(
            &fx.editor,
            t,
            a.id,
            cells(&[("Name", json!("a")), ("Tags", json!(["a", "b"]))]),
            w,
            false,
        )
        .await
        .unwrap();
    assert_eq!(same.updated_time, a.updated_time);
    // Unsetting an empty cell, and an empty patch.
    let same = fx
        .pb
        .update_record(
            &fx.editor,
            t,
            a.id,
            cells(&[("Notes", Value::Null)]),
            w,
            false,
        )
        .await
        .unwrap();
    assert_eq!(same.updated_time, a.updated_time);
    fx.pb
        .update_record(&fx.editor, t, a.id, Map::new(), w, false)
        .await
        .unwrap();
    // Replacing with the same cells.
    let same = fx
        .pb
        .update_record(
            &fx.editor,
            t,
            b.id,
            cells(&[("Name", json!("b")), ("Qty", json!(2))]),
            w,
            true,
        )
        .await
        .unwrap();
    assert_eq!(same.updated_time, b.updated_time);
    let same = fx
        .pb
        .upsert_records(
            &fx.editor,
            t,
            &["Name".to_owned()],
            vec![cells(&[("Name", json!("b")), ("Qty", json!(2))])],
            w,
        )
        .await
        .unwrap();
    assert_eq!(same.updated_records, vec![b.id]);
    assert_eq!(same.records[0].updated_time, b.updated_time);
    let qty = fx.field("Qty").to_string();
    store
        .update_records(
            t,
            &[RecordPatch {
                id: a.id,
                set: [(qty.clone(), json!(1))].into_iter().collect(),
                unset: Vec::new(),
                replace: false,
            }],
            chrono::Utc::now(),
            None,
        )
        .await
        .unwrap();
    // Schema patches that change nothing: the table's name again, an
    // empty table patch, a field's name and description again.
    let o = &fx.owner;
    let table = fx
        .pb
        .update_table(
            o,
            t,
            TablePatch {
                name: Some(fx.table.table.name.clone()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(table.updated_at, fx.table.table.updated_at);
    fx.pb
        .update_table(o, t, TablePatch::default())
        .await
        .unwrap();
    let notes = fx.table.fields.iter().find(|f| f.name == "Notes").unwrap();
    let field = fx
        .pb
        .update_field(
            o,
            notes.id,
            FieldPatch {
                name: Some("Notes".into()),
                description: Some(notes.description.clone()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(field.updated_at, notes.updated_at);
    assert_eq!(
        whole_log(&fx).await,
        log,
        "a write that changed nothing was logged"
    );
    // A batch: one record unchanged, one changed.
    let out = fx
        .pb
        .update_records(
            &fx.editor,
            t,
            vec![
                (a.id, cells(&[("Qty", json!(1))])),
                (b.id, cells(&[("Qty", json!(3))])),
            ],
            w,
        )
        .await
        .unwrap();
    assert_eq!(out[0].updated_time, a.updated_time);
    assert!(out[1].updated_time > b.updated_time);
    let after = whole_log(&fx).await;
    assert_eq!(after.len(), log.len() + 1);
    let e = after.last().unwrap();
    assert_eq!(e.kind, ChangeKind::RecordUpdated);
    assert_eq!(e.record_id, Some(b.id));
    assert_eq!(e.changed_fields, Some(vec![fx.field("Qty")]));
    // A real one-record change logs and bumps the time.
    let changed = fx
        .pb
        .update_record(&fx.editor, t, a.id, cells(&[("Qty", json!(4))]), w, false)
        .await
        .unwrap();
    assert!(changed.updated_time > a.updated_time);
    let after = whole_log(&fx).await;
    assert_eq!(after.len(), log.len() + 2);
    assert_eq!(after.last().unwrap().record_id, Some(a.id));
    // A view sorted by a field without an index: the view is logged; the
    // index it gets the field is not (like one the queries ask for).
    let log = after;
    let view = fx
        .pb
        .create_view(
            o,
            t,
            NewView {
                name: "By notes".into(),
                config: json!({"sort": "Notes"}),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let notes = store.get_field(notes.id).await.unwrap();
    assert!(notes.indexed, "the view's sort field is indexed");
    let after = whole_log(&fx).await;
    let kinds: Vec<ChangeKind> = after[log.len()..].iter().map(|e| e.kind).collect();
    assert_eq!(kinds, [ChangeKind::ViewCreated], "only the view is logged");
    // Patching the view with its own name and config, or with nothing,
    // changes nothing.
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let same = fx
        .pb
        .update_view(
            o,
            view.id,
            ViewPatch {
                name: Some(view.name.clone()),
                config: Some(json!({"sort": "Notes"})),
            },
        )
        .await
        .unwrap();
    assert_eq!(same.updated_at, view.updated_at);
    fx.pb
        .update_view(o, view.id, ViewPatch::default())
        .await
        .unwrap();
    assert_eq!(
        whole_log(&fx).await,
        after,
        "a view patch that changed nothing was logged"
    );
}

/// Applies `e` to `state` (the record's cells so far), checking that its
/// `before` side matches them.
fn replay(state: &mut HashMap<RecordId, Cells>, e: &ChangeEvent) {
    let Some(id) = e.record_id else {
        return;
    };
    match e.kind {
        ChangeKind::RecordCreated => {
            assert!(!state.contains_key(&id), "created twice: {e:?}");
            state.insert(id, obj(&e.after));
        }
        ChangeKind::RecordUpdated => {
            let cells = state.get_mut(&id).expect("update of an unknown record");
            let before = obj(&e.before);
            let after = obj(&e.after);
            for f in e.changed_fields.as_ref().expect("changed fields") {
                let f = f.as_str();
                assert_eq!(cells.get(f), before.get(f), "before of {f} in {e:?}");
                match after.get(f) {
                    Some(v) => cells.insert(f.to_owned(), v.clone()),
                    None => cells.remove(f),
                };
            }
        }
        ChangeKind::RecordDeleted => {
            assert_eq!(Some(&obj(&e.before)), state.get(&id), "{e:?}");
        }
        _ => {}
    }
}

/// Eight writers creating and updating records of one base at once leave
/// a log with no gap, in which each record's before/after chain follows
/// from its creation to its stored cells.
pub async fn concurrent_writers_leave_a_gapless_consistent_log(store: Arc<dyn Store>) {
    let fx = Arc::new(Fixture::new(store).await);
    let t = fx.table.table.id;
    let shared: Vec<RecordId> = {
        let mut ids = Vec::new();
        // Values no writer writes: a write of the stored value logs nothing.
        for i in 0..3 {
            ids.push(fx.create(&[("Qty", json!(10_000 + i))]).await.id);
        }
        ids
    };
    let mut tasks = Vec::new();
    for w in 0..8_i64 {
        let fx = Arc::clone(&fx);
        let shared = shared.clone();
        tasks.push(tokio::spawn(async move {
            let who = if w % 2 == 0 { &fx.editor } else { &fx.admin };
            let opts = WriteOptions::default();
            for i in 0..12_i64 {
                let target = shared[usize::try_from((w + i) % 3).unwrap()];
                let field = if w % 2 == 0 { "Qty" } else { "Notes" };
                let value = if field == "Qty" {
                    json!(w * 100 + i)
                } else {
                    json!(format!("w{w}-{i}"))
                };
                fx.pb
                    .update_record(who, t, target, cells(&[(field, value)]), opts, false)
                    .await
                    .unwrap();
                if i % 4 == 0 {
                    fx.pb
                        .create_records(
                            who,
                            t,
                            vec![cells(&[("Qty", json!(i))]), cells(&[("Qty", json!(w))])],
                            opts,
                        )
                        .await
                        .unwrap();
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let log = whole_log(&fx).await;
    let mut state: HashMap<RecordId, Cells> = HashMap::new();
    for e in &log {
        replay(&mut state, e);
    }
    let updates = log
        .iter()
        .filter(|e| e.kind == ChangeKind::RecordUpdated)
        .count();
    assert_eq!(updates, 8 * 12);
    assert_eq!(state.len(), 3 + 8 * 3 * 2);
    for (id, cells) in &state {
        let stored = fx.store.get_record(t, *id, false).await.unwrap();
        assert_eq!(&stored.cells, cells, "record {id}");
    }
}

/// A subscription started at a cursor yields each later event once, in
/// order, including those committed while it waits.
pub async fn subscriptions_yield_each_event_once_in_order(store: Arc<dyn Store>) {
    let fx = Arc::new(Fixture::new(store).await);
    let t = fx.table.table.id;
    let start = whole_log(&fx).await.len();
    let mut sub = fx
        .pb
        .subscribe_changes(&fx.viewer, fx.base.id, i64::try_from(start).unwrap())
        .await
        .unwrap();
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let fx = Arc::clone(&fx);
            tokio::spawn(async move {
                for i in 0..10 {
                    fx.pb
                        .create_record(
                            &fx.editor,
                            t,
                            cells(&[("Qty", json!(w * 10 + i))]),
                            WriteOptions::default(),
                        )
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    let mut seen = Vec::new();
    while seen.len() < 40 {
        let e = tokio::time::timeout(std::time::Duration::from_secs(30), sub.next())
            .await
            .expect("an event within 30 s")
            .unwrap();
        seen.push(e.seq);
    }
    for w in writers {
        w.await.unwrap();
    }
    let want: Vec<i64> = (1..=40)
        .map(|i| i64::try_from(start).unwrap() + i)
        .collect();
    assert_eq!(seen, want);
    assert_eq!(sub.cursor(), *want.last().unwrap());
    assert!(sub.next_now().await.unwrap().is_none());
    let e = fx
        .pb
        .subscribe_changes(&fx.outsider, fx.base.id, 0)
        .await
        .unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e:?}");
}

/// The next event of `sub`, within 30 s.
/// Two subscriptions of the viewer and one of the editor from the end of
/// the log, each shown to receive one new record's event: the starting
/// seq, the viewer's and the editor's subscriptions.
async fn viewer_twice_editor_once(
    fx: &Fixture,
) -> (
    i64,
    Vec<crate::facade::ChangeSubscription>,
    crate::facade::ChangeSubscription,
) {
    let start = i64::try_from(whole_log(fx).await.len()).unwrap();
    let mut revoked = Vec::new();
    for _ in 0..2 {
        revoked.push(
            fx.pb
                .subscribe_changes(&fx.viewer, fx.base.id, start)
                .await
                .unwrap(),
        );
    }
    let mut kept = fx
        .pb
        .subscribe_changes(&fx.editor, fx.base.id, start)
        .await
        .unwrap();
    fx.create(&[("Qty", json!(1))]).await;
    for sub in revoked.iter_mut().chain([&mut kept]) {
        assert_eq!(next_within(sub).await.seq, start + 1);
    }
    (start, revoked, kept)
}

async fn next_within(sub: &mut crate::facade::ChangeSubscription) -> ChangeEvent {
    tokio::time::timeout(std::time::Duration::from_secs(30), sub.next())
        .await
        .expect("an event within 30 s")
        .unwrap()
}

/// The subscriptions of a base share one reader of its log: two that are
/// up to date receive the very same event instance (read and encoded
/// once); one that falls behind by more than the reader keeps reads the
/// log itself and still gets every event once, in order, then takes its
/// events from the shared reader again once it has caught up.
pub async fn lagging_subscriptions_read_the_log_themselves(store: Arc<dyn Store>) {
    let fx = Fixture::new(Arc::clone(&store)).await;
    // A facade whose shared reader keeps only 4 events.
    let pb = crate::Pybase::new(store).with_kept_change_events(4);
    let start = i64::try_from(whole_log(&fx).await.len()).unwrap();
    let mut fast = pb
        .subscribe_changes(&fx.viewer, fx.base.id, start)
        .await
        .unwrap();
    let mut slow = pb
        .subscribe_changes(&fx.viewer, fx.base.id, start)
        .await
        .unwrap();
    fx.create(&[("Qty", json!(0))]).await;
    let a = fast.next_shared().await.unwrap();
    let b = slow.next_shared().await.unwrap();
    assert_eq!(a.seq(), start + 1);
    assert_eq!(b.seq(), start + 1);
    // Up to date: the next events come from the shared reader, the same
    // instances for both, without a read of their own.
    let (fast_reads, slow_reads) = (fast.own_reads(), slow.own_reads());
    fx.create(&[("Qty", json!(1))]).await;
    let a = tokio::time::timeout(std::time::Duration::from_secs(30), fast.next_shared())
        .await
        .expect("an event within 30 s")
        .unwrap();
    let b = tokio::time::timeout(std::time::Duration::from_secs(30), slow.next_shared())
        .await
        .expect("an event within 30 s")
        .unwrap();
    assert_eq!(a.seq(), start + 2);
    assert!(
        Arc::ptr_eq(&a, &b),
        "each subscription read the event itself"
    );
    assert_eq!(a.sse_frame().as_ptr(), b.sse_frame().as_ptr());
    assert_eq!(
        (fast.own_reads(), slow.own_reads()),
        (fast_reads, slow_reads)
    );
    // `fast` keeps up with 3 more (within the 4 kept); `slow` reads none.
    for i in 0..3 {
        fx.create(&[("Qty", json!(10 + i))]).await;
        assert_eq!(next_within(&mut fast).await.seq, start + 3 + i);
    }
    assert_eq!(fast.own_reads(), fast_reads);
    // 10 more while `slow` still waits: it is 13 behind, the reader keeps 4.
    for i in 0..10 {
        fx.create(&[("Qty", json!(100 + i))]).await;
    }
    let until = start + 15;
    let mut seen = Vec::new();
    while slow.cursor() < until {
        seen.push(next_within(&mut slow).await.seq);
    }
    assert_eq!(seen, (start + 3..=until).collect::<Vec<_>>());
    assert!(
        slow.own_reads() > slow_reads,
        "slow never read the log itself"
    );
    // Caught up, it takes the next events from the shared reader again.
    let caught_up = slow.own_reads();
    for i in 0..2 {
        fx.create(&[("Qty", json!(1000 + i))]).await;
        assert_eq!(next_within(&mut slow).await.seq, until + 1 + i);
    }
    assert_eq!(slow.own_reads(), caught_up);
    // And `fast`, behind by 12 now, also gets each event once, in order.
    let mut seen = Vec::new();
    while fast.cursor() < until + 2 {
        seen.push(next_within(&mut fast).await.seq);
    }
    assert_eq!(seen, (start + 6..=until + 2).collect::<Vec<_>>());
}

/// The answer of `sub` within `within`, which must be an error: `NotFound`,
/// with the cursor left at `cursor` (no event went out since).
async fn ends_not_found(
    sub: &mut crate::facade::ChangeSubscription,
    within: std::time::Duration,
    cursor: i64,
) {
    let e = tokio::time::timeout(within, sub.next())
        .await
        .unwrap_or_else(|_| panic!("an answer within {within:?}"))
        .expect_err("no event after the access change");
    assert!(matches!(e, Error::NotFound { .. }), "{e:?}");
    assert_eq!(sub.cursor(), cursor);
}

/// A member removed through the facade stops receiving at once: no event
/// committed after the removal reaches any of its subscriptions (each ends
/// with `NotFound` instead, well before the 5 s periodic check), while
/// another member's subscription of the base goes on; a role change that
/// keeps read access ends nothing; deleting the base ends the remaining
/// subscriptions although no event comes (found by review: removed members
/// kept receiving for up to 5 s).
pub async fn removed_members_stop_receiving_at_once(store: Arc<dyn Store>) {
    let fx = Fixture::new(store).await;
    let (start, mut revoked, mut kept) = viewer_twice_editor_once(&fx).await;
    // One of them waits for the next event while the member is removed.
    let waiting = tokio::spawn({
        let mut sub = revoked.pop().unwrap();
        async move {
            let got = tokio::time::timeout(std::time::Duration::from_secs(3), sub.next()).await;
            (got, sub.cursor())
        }
    });
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let removed_at = std::time::Instant::now();
    fx.pb
        .remove_member(&fx.owner, fx.ws.id, fx.viewer.user_id())
        .await
        .unwrap();
    fx.create(&[("Qty", json!(2))]).await;
    let (got, cursor) = waiting.await.unwrap();
    let e = got
        .expect("an answer within 3 s")
        .expect_err("no event after the removal");
    assert!(matches!(e, Error::NotFound { .. }), "{e:?}");
    assert_eq!(cursor, start + 1);
    for sub in &mut revoked {
        ends_not_found(sub, std::time::Duration::from_secs(3), start + 1).await;
    }
    assert!(
        removed_at.elapsed() < std::time::Duration::from_secs(4),
        "ended by the periodic check, not by the removal: {:?}",
        removed_at.elapsed()
    );
    assert_eq!(next_within(&mut kept).await.seq, start + 2);
    // Editor to viewer still reads: the subscription goes on.
    fx.pb
        .update_member(&fx.owner, fx.ws.id, fx.editor.user_id(), Role::Viewer)
        .await
        .unwrap();
    fx.create(&[("Qty", json!(3))]).await;
    assert_eq!(next_within(&mut kept).await.seq, start + 3);
    // The base is deleted: its idle subscriptions end without an event.
    let mut owners = fx
        .pb
        .subscribe_changes(&fx.owner, fx.base.id, start + 3)
        .await
        .unwrap();
    let deleted_at = std::time::Instant::now();
    fx.pb.delete_base(&fx.owner, fx.base.id).await.unwrap();
    for sub in [&mut kept, &mut owners] {
        ends_not_found(sub, std::time::Duration::from_secs(3), start + 3).await;
    }
    assert!(
        deleted_at.elapsed() < std::time::Duration::from_secs(4),
        "ended by the periodic check, not by the deletion: {:?}",
        deleted_at.elapsed()
    );
}

/// The periodic check is the backstop for what the facade does not see: a
/// member removed in the store directly stops receiving once the last
/// confirmation of its access is 5 s old (each of its subscriptions ends
/// with `NotFound` instead of the next event), while another member's
/// subscription of the same base goes on.
pub async fn revoked_subscriptions_stop_under_the_shared_reader(store: Arc<dyn Store>) {
    let fx = Fixture::new(Arc::clone(&store)).await;
    let (start, mut revoked, mut kept) = viewer_twice_editor_once(&fx).await;
    store
        .remove_member(fx.ws.id, fx.viewer.user_id())
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(5200)).await;
    fx.create(&[("Qty", json!(2))]).await;
    for sub in &mut revoked {
        ends_not_found(sub, std::time::Duration::from_secs(30), start + 1).await;
    }
    assert_eq!(next_within(&mut kept).await.seq, start + 2);
}

/// A record's history is its events newest first, in pages; revert puts
/// back the cells after a chosen event as a new update (editor and above).
pub async fn history_newest_first_and_revert(store: Arc<dyn Store>) {
    let fx = Fixture::new(store).await;
    let t = fx.table.table.id;
    let w = WriteOptions::default();
    let r = fx.create(&[("Name", json!("v0")), ("Qty", json!(0))]).await;
    for (i, notes) in ["one", "two", "three"].iter().enumerate() {
        fx.pb
            .update_record(
                &fx.editor,
                t,
                r.id,
                cells(&[("Qty", json!(i + 1)), ("Notes", json!(notes))]),
                w,
                false,
            )
            .await
            .unwrap();
    }
    let first = fx
        .pb
        .record_history(&fx.viewer, t, r.id, None, Some(3))
        .await
        .unwrap();
    assert_eq!(first.items.len(), 3);
    let more = fx
        .pb
        .record_history(&fx.viewer, t, r.id, first.next_cursor, Some(3))
        .await
        .unwrap();
    assert!(more.next_cursor.is_none());
    let all: Vec<ChangeEvent> = first.items.into_iter().chain(more.items).collect();
    assert_eq!(all.len(), 4);
    assert!(all.windows(2).all(|p| p[0].seq > p[1].seq));
    assert_eq!(all[3].kind, ChangeKind::RecordCreated);
    // Back to the state after the first update: Qty 1, Notes "one".
    let target = all[2].seq;
    let e = fx
        .pb
        .revert_record(&fx.viewer, t, r.id, target, FieldKey::Name)
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Forbidden(_)), "{e:?}");
    let back = fx
        .pb
        .revert_record(&fx.editor, t, r.id, target, FieldKey::Name)
        .await
        .unwrap();
    assert_eq!(back.fields["Qty"], json!(1));
    assert_eq!(back.fields["Notes"], json!("one"));
    assert_eq!(back.fields["Name"], json!("v0"));
    // To the creation: the cells set later are cleared.
    let back = fx
        .pb
        .revert_record(&fx.editor, t, r.id, all[3].seq, FieldKey::Name)
        .await
        .unwrap();
    assert_eq!(back.fields["Qty"], json!(0));
    assert!(back.fields.get("Notes").is_none(), "{:?}", back.fields);
    let now = fx
        .pb
        .record_history(&fx.viewer, t, r.id, None, None)
        .await
        .unwrap();
    assert_eq!(now.items.len(), 6);
    assert_eq!(now.items[0].kind, ChangeKind::RecordUpdated);
    // An event of another record is not this record's.
    let other = fx.create(&[("Name", json!("x"))]).await;
    let their = fx
        .pb
        .record_history(&fx.viewer, t, other.id, None, None)
        .await
        .unwrap()
        .items[0]
        .seq;
    let e = fx
        .pb
        .revert_record(&fx.editor, t, r.id, their, FieldKey::Name)
        .await
        .unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e:?}");
    let e = fx
        .pb
        .record_history(&fx.outsider, t, r.id, None, None)
        .await
        .unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e:?}");
}

/// Pruning keeps numbering going and makes older cursors, and reverts to
/// pruned events, `Gone`.
pub async fn pruned_cursors_are_gone(store: Arc<dyn Store>) {
    let fx = Fixture::new(store).await;
    let r = fx.create(&[("Qty", json!(1))]).await;
    let last = whole_log(&fx).await.last().unwrap().seq;
    let removed = fx
        .pb
        .prune_changes(chrono::Utc::now() + chrono::TimeDelta::minutes(1))
        .await
        .unwrap();
    assert!(removed >= u64::try_from(last).unwrap());
    let e = fx
        .pb
        .changes_since(&fx.viewer, fx.base.id, 0, None)
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Gone(_)), "{e:?}");
    // Reverting to a pruned event is gone too, not "not found".
    let e = fx
        .pb
        .revert_record(&fx.editor, fx.table.table.id, r.id, last, FieldKey::Name)
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Gone(_)), "{e:?}");
    let page = fx
        .pb
        .changes_since(&fx.viewer, fx.base.id, last, None)
        .await
        .unwrap();
    assert!(page.items.is_empty());
    fx.create(&[("Qty", json!(2))]).await;
    let page = fx
        .pb
        .changes_since(&fx.viewer, fx.base.id, last, None)
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].seq, last + 1);
}

/// Webhook rows: the cursor starts at the base's newest seq, a webhook is
/// claimed only with events after its cursor and by one owner at a time,
/// progress is saved only under the lease, deliveries list newest first,
/// and absent ones are `NotFound`.
pub async fn webhook_state_follows_the_lease(store: Arc<dyn Store>) {
    use crate::ids::WebhookId;
    use crate::store::{Delivery, Progress, Webhook};

    let fx = Fixture::new(store.clone()).await;
    let last = whole_log(&fx).await.last().unwrap().seq;
    let now = chrono::Utc::now();
    let draft = Webhook {
        id: WebhookId::new(),
        base_id: fx.base.id,
        table_id: Some(fx.table.table.id),
        url: "https://example.com/hook".into(),
        events: vec![ChangeKind::RecordCreated],
        enabled: true,
        disabled_reason: None,
        created_by: fx.owner.user_id(),
        created_at: now,
        updated_at: now,
        cursor: 0,
        attempt: 0,
        next_attempt_at: None,
        secret_nonce: "n".into(),
        start_seq: -1,
        airtable: Some(crate::store::AirtableHook {
            specification: json!({"options": {"filters": {"dataTypes": ["tableData"]}}}),
            expires_at: now,
            mark: Some(crate::store::PayloadMark { cursor: 3, seq: 9 }),
        }),
    };
    let made = store.create_webhook(&draft).await.unwrap();
    assert_eq!(made.cursor, last);
    // The creation point is the store's, and the Airtable part is kept.
    assert_eq!(made.start_seq, last);
    assert_eq!(made.airtable, draft.airtable);
    assert_eq!(made.events, vec![ChangeKind::RecordCreated]);
    assert_eq!(store.get_webhook(made.id).await.unwrap(), made);
    assert_eq!(
        store.list_webhooks(fx.base.id).await.unwrap(),
        vec![made.clone()]
    );
    let later = now + chrono::TimeDelta::seconds(60);
    // Nothing after its cursor: not claimed.
    assert!(
        store
            .claim_webhooks("a", now, later, 10)
            .await
            .unwrap()
            .is_empty()
    );
    fx.create(&[("Qty", json!(1))]).await;
    let claimed = store.claim_webhooks("a", now, later, 10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    // Another owner cannot take it while the lease holds, or save.
    assert!(
        store
            .claim_webhooks("b", now, later, 10)
            .await
            .unwrap()
            .is_empty()
    );
    // An owner that stops gives back its leases (its progress kept): the
    // other takes the webhook at once; another owner's release is no
    // release.
    store.release_webhooks("b").await.unwrap();
    assert!(
        store
            .claim_webhooks("b", now, later, 10)
            .await
            .unwrap()
            .is_empty()
    );
    store.release_webhooks("a").await.unwrap();
    let taken = store.claim_webhooks("b", now, later, 10).await.unwrap();
    assert_eq!(taken.len(), 1);
    assert_eq!((taken[0].cursor, taken[0].attempt), (last, 0));
    store.release_webhooks("b").await.unwrap();
    assert_eq!(
        store
            .claim_webhooks("a", now, later, 10)
            .await
            .unwrap()
            .len(),
        1
    );
    let progress = |cursor: i64, release: bool| Progress {
        cursor,
        attempt: 1,
        next_attempt_at: Some(now),
        disable: None,
        delivery: Some(Delivery {
            id: 0,
            event_seq: cursor + 1,
            attempt: 1,
            at: now,
            status_code: Some(500),
            error: Some("answered 500".into()),
            duration_ms: 3,
            next_retry_at: Some(now),
        }),
        release,
    };
    assert!(
        !store
            .save_progress("b", made.id, &progress(last, true), now)
            .await
            .unwrap()
    );
    assert!(
        store
            .save_progress("a", made.id, &progress(last, true), now)
            .await
            .unwrap()
    );
    // Released: the other owner may take it once due.
    let claimed = store.claim_webhooks("b", now, later, 10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].attempt, 1);
    let mut done = progress(last + 1, true);
    done.attempt = 0;
    done.next_attempt_at = None;
    done.disable = Some("gave up".into());
    assert!(store.save_progress("b", made.id, &done, now).await.unwrap());
    let after = store.get_webhook(made.id).await.unwrap();
    assert_eq!(after.cursor, last + 1);
    assert_eq!(after.start_seq, last);
    assert!(!after.enabled);
    assert_eq!(after.disabled_reason.as_deref(), Some("gave up"));
    // Disabled: never claimed.
    fx.create(&[("Qty", json!(2))]).await;
    assert!(
        store
            .claim_webhooks("c", now, later, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let deliveries = store.list_deliveries(made.id, None, 10).await.unwrap();
    assert_eq!(deliveries.len(), 2);
    assert!(deliveries[0].id > deliveries[1].id);
    assert_eq!(deliveries[0].event_seq, last + 2);
    assert_eq!(deliveries[1].status_code, Some(500));
    let older = store
        .list_deliveries(made.id, Some(deliveries[0].id), 10)
        .await
        .unwrap();
    assert_eq!(older, deliveries[1..].to_vec());
    // Enabling again clears the retry state.
    let mut on = after.clone();
    on.enabled = true;
    on.disabled_reason = None;
    let extended = now + chrono::TimeDelta::days(7);
    if let Some(hook) = on.airtable.as_mut() {
        hook.expires_at = extended;
    }
    store.update_webhook(&on).await.unwrap();
    let on = store.get_webhook(made.id).await.unwrap();
    assert!(on.enabled && on.attempt == 0 && on.next_attempt_at.is_none());
    assert_eq!(on.airtable.map(|h| h.expires_at), Some(extended));
    store.delete_webhook(made.id).await.unwrap();
    assert!(matches!(
        store.get_webhook(made.id).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        store.delete_webhook(made.id).await,
        Err(StoreError::NotFound { .. })
    ));
    let orphan = Webhook {
        id: WebhookId::new(),
        base_id: crate::ids::BaseId::new(),
        ..draft
    };
    assert!(matches!(
        store.create_webhook(&orphan).await,
        Err(StoreError::NotFound { .. })
    ));
}

/// A webhook's switch (`set_webhook_enabled`) and an Airtable webhook's own
/// state (`save_airtable_hook`) are written apart: each keeps what the
/// other wrote, whatever either read before (an `enableNotifications`
/// racing a payload listing loses neither).
pub async fn webhook_switch_and_airtable_state_are_written_apart(store: Arc<dyn Store>) {
    use crate::ids::WebhookId;
    use crate::store::{AirtableHook, PayloadMark, Progress, Webhook};

    let fx = Fixture::new(store.clone()).await;
    let now = chrono::Utc::now();
    let hook = AirtableHook {
        specification: json!({"options": {"filters": {"dataTypes": ["tableData"]}}}),
        expires_at: now,
        mark: None,
    };
    let made = store
        .create_webhook(&Webhook {
            id: WebhookId::new(),
            base_id: fx.base.id,
            table_id: None,
            url: "https://example.com/ping".into(),
            events: Vec::new(),
            enabled: true,
            disabled_reason: None,
            created_by: fx.owner.user_id(),
            created_at: now,
            updated_at: now,
            cursor: 0,
            attempt: 0,
            next_attempt_at: None,
            secret_nonce: "n".into(),
            start_seq: 0,
            airtable: Some(hook.clone()),
        })
        .await
        .unwrap();
    // A listing read the webhook (on), then notifications were turned off,
    // then the listing saved its mark and expiry: still off.
    let read_by_listing = store.get_webhook(made.id).await.unwrap();
    assert!(read_by_listing.enabled);
    let later = now + chrono::TimeDelta::seconds(5);
    store
        .set_webhook_enabled(made.id, false, later)
        .await
        .unwrap();
    let listed = AirtableHook {
        expires_at: now + chrono::TimeDelta::days(7),
        mark: Some(PayloadMark { cursor: 4, seq: 12 }),
        ..read_by_listing.airtable.clone().unwrap()
    };
    store
        .save_airtable_hook(made.id, &listed, later)
        .await
        .unwrap();
    let got = store.get_webhook(made.id).await.unwrap();
    assert!(!got.enabled, "the listing undid enableNotifications");
    assert_eq!(got.airtable.as_ref(), Some(&listed));
    assert_eq!(got.url, made.url);
    assert_eq!(got.cursor, made.cursor);
    // The delivery worker gives up (disabled, with a reason and retry
    // state); turning on clears those and keeps the Airtable state.
    store
        .set_webhook_enabled(made.id, true, later)
        .await
        .unwrap();
    let claimed = {
        fx.create(&[("Qty", json!(1))]).await;
        store
            .claim_webhooks("w", later, later + chrono::TimeDelta::seconds(60), 100)
            .await
            .unwrap()
    };
    assert!(claimed.iter().any(|w| w.id == made.id));
    let gave_up = Progress {
        cursor: made.cursor,
        attempt: 3,
        next_attempt_at: Some(later),
        disable: Some("gave up".into()),
        delivery: None,
        release: true,
    };
    // Whole milliseconds, as every store keeps a webhook's times.
    let gave_up_at = chrono::SubsecRound::trunc_subsecs(later + chrono::TimeDelta::seconds(1), 3);
    assert!(
        store
            .save_progress("w", made.id, &gave_up, gave_up_at)
            .await
            .unwrap()
    );
    let off = store.get_webhook(made.id).await.unwrap();
    assert!(!off.enabled && off.disabled_reason.as_deref() == Some("gave up"));
    // Disabled by the server is a change of the webhook's: it is stamped.
    assert_eq!(off.updated_at, gave_up_at);
    // Turning off again keeps the reason; turning on clears it.
    store
        .set_webhook_enabled(made.id, false, later)
        .await
        .unwrap();
    let off = store.get_webhook(made.id).await.unwrap();
    assert_eq!(off.disabled_reason.as_deref(), Some("gave up"));
    store
        .set_webhook_enabled(made.id, true, later)
        .await
        .unwrap();
    let on = store.get_webhook(made.id).await.unwrap();
    assert!(on.enabled && on.disabled_reason.is_none());
    assert_eq!((on.attempt, on.next_attempt_at), (0, None));
    assert_eq!(on.airtable.as_ref(), Some(&listed));
    // Absent webhooks: not found.
    let ghost = WebhookId::new();
    assert!(matches!(
        store.set_webhook_enabled(ghost, true, later).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        store.save_airtable_hook(ghost, &hook, later).await,
        Err(StoreError::NotFound { .. })
    ));
}

/// A table "Parts" beside the fixture's, and a link field "Part" to it on
/// the fixture's table; answers the new table.
async fn parts_link(fx: &Fixture) -> crate::ids::TableId {
    use super::computed::{field, nf, table};
    let parts = table(fx, "Parts").await;
    field(
        fx,
        fx.table.table.id,
        nf("Part", "link", json!({ "linked_table_id": parts })),
    )
    .await;
    parts
}

/// A revert writes only the cells that differ from now: a link cell whose
/// linked record was deleted since, unchanged, does not stop it. Cells a
/// field change rewrote since (conversions, logged with the field's id)
/// go back to the value undone when the field still takes it (a precision
/// lowered and raised again), else keep the conversion's value (a renamed
/// choice), else take the value undone as a typecast writes it (a number
/// in what is a text field now).
pub async fn revert_writes_only_what_differs_and_keeps_conversions(store: Arc<dyn Store>) {
    let fx = Fixture::new(store).await;
    let items = fx.table.table.id;
    let o = &fx.owner;
    let w = WriteOptions::default();
    let parts = parts_link(&fx).await;
    let part = fx
        .pb
        .create_records(o, parts, vec![cells(&[("Name", json!("p"))])], w)
        .await
        .unwrap()[0]
        .id;
    let r = fx
        .create(&[
            ("Name", json!("v0")),
            ("Status", json!("Closed")),
            ("Part", json!([part.to_string()])),
            ("Price", json!(1.25)),
            ("Qty", json!(5)),
        ])
        .await;
    let history = |fx: &Fixture| {
        let pb = fx.pb.clone();
        let viewer = fx.viewer.clone();
        async move {
            pb.record_history(&viewer, items, r.id, None, None)
                .await
                .unwrap()
                .items
        }
    };
    let created = history(&fx).await[0].seq;
    fx.pb
        .update_record(
            &fx.editor,
            items,
            r.id,
            cells(&[("Name", json!("v1")), ("Qty", json!(6))]),
            w,
            false,
        )
        .await
        .unwrap();
    let patch = |options: Value, ty: Option<&str>| FieldPatch {
        field_type: ty.map(str::to_owned),
        options: Some(options),
        ..Default::default()
    };
    // Price loses its cents (a conversion), then its precision comes back.
    let price = fx.field("Price");
    for precision in [0, 2] {
        fx.pb
            .update_field(o, price, patch(json!({ "precision": precision }), None))
            .await
            .unwrap();
    }
    // Qty becomes text: 6 is rewritten "6" by conversion.
    let qty = fx.field("Qty");
    fx.pb
        .update_field(o, qty, patch(Value::Null, Some("text")))
        .await
        .unwrap();
    // The linked record goes; the cell still names it as stored.
    fx.pb.delete_records(o, parts, &[part]).await.unwrap();
    // "Closed" is renamed "Shut": the cell is rewritten by conversion.
    let status = fx.field("Status");
    let mut choices = serde_json::to_value(
        fx.table
            .fields
            .iter()
            .find(|f| f.id == status)
            .unwrap()
            .field_type
            .choices(),
    )
    .unwrap();
    for c in choices.as_array_mut().unwrap() {
        if c["name"] == json!("Closed") {
            c["name"] = json!("Shut");
        }
    }
    fx.pb
        .update_field(
            o,
            status,
            FieldPatch {
                options: Some(json!({ "choices": choices })),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let newest = history(&fx).await;
    let conversion = newest
        .iter()
        .find(|e| e.field_id == Some(status))
        .expect("the conversion's event names its field");
    assert_eq!(conversion.kind, ChangeKind::RecordUpdated);
    assert_eq!(
        obj(&conversion.before).get(status.as_str()),
        Some(&json!("Closed"))
    );
    assert_eq!(
        obj(&conversion.after).get(status.as_str()),
        Some(&json!("Shut"))
    );
    let back = fx
        .pb
        .revert_record(&fx.editor, items, r.id, created, FieldKey::Name)
        .await
        .unwrap();
    assert_eq!(back.fields["Name"], json!("v0"));
    // The value undone fits: the cents come back.
    assert_eq!(back.fields["Price"], json!(1.25));
    // "Closed" is no choice any more: the conversion's name is kept.
    assert_eq!(back.fields["Status"], json!("Shut"));
    // 5 does not fit a text field: written as a typecast writes it.
    assert_eq!(back.fields["Qty"], json!("5"));
    let newest = history(&fx).await;
    let revert = &newest[0];
    assert_eq!(revert.kind, ChangeKind::RecordUpdated);
    let mut changed = revert.changed_fields.clone().unwrap_or_default();
    changed.sort();
    let mut want = vec![fx.field("Name"), price, qty];
    want.sort();
    assert_eq!(changed, want, "only the cells that differ are written");
    assert_eq!(revert.field_id, None);
    // Nothing differs any more: a second revert writes nothing.
    let again = fx
        .pb
        .revert_record(&fx.editor, items, r.id, created, FieldKey::Name)
        .await
        .unwrap();
    assert_eq!(again.fields["Name"], json!("v0"));
    assert_eq!(history(&fx).await.len(), newest.len());
}

/// A revert across a conversion that rewrote no cell (text made a single
/// select of the values its cells held, so the log has no event for it):
/// the cell's value then is no choice now and keeps its value now, and the
/// rest of the record is put back (a reviewer's case: the whole revert was
/// refused).
pub async fn revert_keeps_a_cell_whose_value_then_fits_no_more(store: Arc<dyn Store>) {
    let fx = Fixture::new(store).await;
    let items = fx.table.table.id;
    let w = WriteOptions::default();
    let r = fx
        .create(&[("Name", json!("foo")), ("Notes", json!("y1"))])
        .await;
    let created = fx
        .pb
        .record_history(&fx.viewer, items, r.id, None, None)
        .await
        .unwrap()
        .items[0]
        .seq;
    fx.pb
        .update_record(
            &fx.editor,
            items,
            r.id,
            cells(&[("Name", json!("bar")), ("Notes", json!("y2"))]),
            w,
            false,
        )
        .await
        .unwrap();
    let name = fx.field("Name");
    fx.pb
        .update_field(
            &fx.owner,
            name,
            FieldPatch {
                field_type: Some("single_select".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let back = fx
        .pb
        .revert_record(&fx.editor, items, r.id, created, FieldKey::Name)
        .await
        .unwrap();
    assert_eq!(back.fields["Notes"], json!("y1"));
    assert_eq!(back.fields["Name"], json!("bar"));
}

/// A revert whose link cell goes back to records deleted since leaves them
/// out (a write cannot link to a deleted record) and writes the rest: the
/// live links and the other cells; with none left the cell is cleared.
/// The record keeps that cell when a deleted record is restored later.
pub async fn revert_leaves_out_links_to_records_deleted_since(store: Arc<dyn Store>) {
    use super::computed::{create, get, update};
    let fx = Fixture::new(store).await;
    let items = fx.table.table.id;
    let o = &fx.owner;
    let parts = parts_link(&fx).await;
    let mut p = Vec::new();
    for name in ["p1", "p2", "p3"] {
        p.push(
            create(&fx, parts, &[("Name", json!(name))])
                .await
                .id
                .to_string(),
        );
    }
    let r = create(
        &fx,
        items,
        &[("Name", json!("v0")), ("Part", json!([p[0], p[1]]))],
    )
    .await;
    let seqs = |fx: &Fixture| {
        let pb = fx.pb.clone();
        let viewer = fx.viewer.clone();
        async move {
            let page = pb
                .record_history(&viewer, items, r.id, None, None)
                .await
                .unwrap();
            page.items.iter().map(|e| e.seq).collect::<Vec<_>>()
        }
    };
    let created = seqs(&fx).await[0];
    update(
        &fx,
        items,
        r.id,
        &[("Name", json!("v1")), ("Part", json!([p[2]]))],
    )
    .await;
    let updated = seqs(&fx).await[0];
    let id = |s: &str| RecordId::parse(s).unwrap();
    fx.pb.delete_records(o, parts, &[id(&p[1])]).await.unwrap();
    let back = fx
        .pb
        .revert_record(&fx.editor, items, r.id, created, FieldKey::Name)
        .await
        .expect("a revert to a link of a deleted record");
    assert_eq!(back.fields["Name"], json!("v0"));
    assert_eq!(back.fields["Part"], json!([p[0]]));
    // The live linked record's inverse cell names the record again.
    let p1 = get(&fx, parts, id(&p[0])).await;
    let inverse = p1.fields.values().find(|v| v.is_array()).cloned();
    assert_eq!(inverse, Some(json!([r.id.to_string()])));
    // Restoring the deleted record does not bring its link back.
    fx.pb
        .restore_record(o, parts, id(&p[1]), FieldKey::Name)
        .await
        .unwrap();
    assert_eq!(get(&fx, items, r.id).await.fields["Part"], json!([p[0]]));
    // Every record the cell went back to is gone: the cell is cleared.
    fx.pb.delete_records(o, parts, &[id(&p[2])]).await.unwrap();
    let back = fx
        .pb
        .revert_record(&fx.editor, items, r.id, updated, FieldKey::Name)
        .await
        .expect("a revert to links of deleted records only");
    assert_eq!(back.fields["Name"], json!("v1"));
    assert_eq!(back.fields.get("Part"), None);
    // The linked table deleted: the link is text of the primary values it
    // held (a conversion). Reverting past edits made while it was a link
    // keeps that text (the edits' record ids do not fit it) and reverts
    // the rest.
    update(&fx, items, r.id, &[("Part", json!([p[0]]))]).await;
    let linked = seqs(&fx).await[0];
    update(&fx, items, r.id, &[("Name", json!("v2"))]).await;
    fx.pb.delete_table(o, parts).await.unwrap();
    assert_eq!(get(&fx, items, r.id).await.fields["Part"], json!("p1"));
    let back = fx
        .pb
        .revert_record(&fx.editor, items, r.id, created, FieldKey::Name)
        .await
        .expect("a revert past a link turned into text");
    assert_eq!(back.fields["Name"], json!("v0"));
    assert_eq!(back.fields["Part"], json!("p1"));
    let back = fx
        .pb
        .revert_record(&fx.editor, items, r.id, linked, FieldKey::Name)
        .await
        .unwrap();
    assert_eq!(back.fields["Name"], json!("v1"));
    assert_eq!(back.fields["Part"], json!("p1"));
}

/// Every record's history is exactly its events in the whole log, newest
/// first, whatever wrote them: single and bulk creates, single and batch
/// updates (one changing nothing), an upsert's match and create, the
/// partners of a two-way link, computed cells of another table, a delete
/// and its restore, a revert and a field conversion; read in pages of 2.
pub async fn histories_are_each_records_events_of_the_log(store: Arc<dyn Store>) {
    use super::computed::{create, field, nf, table, update};
    let fx = Fixture::new(store).await;
    let items = fx.table.table.id;
    let w = WriteOptions::default();
    let o = &fx.owner;
    let code = field(&fx, items, nf("Code", "text", Value::Null)).await;
    let orders = table(&fx, "Orders").await;
    field(
        &fx,
        orders,
        nf("Items", "link", json!({ "linked_table_id": items })),
    )
    .await;
    field(
        &fx,
        orders,
        nf(
            "Sum",
            "rollup",
            json!({ "link_field": "Items", "field": "Qty", "formula": "SUM(values)" }),
        ),
    )
    .await;
    let made = fx
        .pb
        .create_records(
            o,
            items,
            vec![
                cells(&[
                    ("Name", json!("a")),
                    ("Qty", json!(1)),
                    ("Code", json!("12")),
                ]),
                cells(&[("Name", json!("b")), ("Qty", json!(2))]),
                cells(&[("Name", json!("c")), ("Code", json!("7"))]),
            ],
            w,
        )
        .await
        .unwrap();
    let (a, b, c) = (made[0].id, made[1].id, made[2].id);
    let d = fx.create(&[("Name", json!("d"))]).await.id;
    // A table with no link and no computed field: its creates log their
    // events in their insert (PostgreSQL keeps them out of the history
    // index).
    let plain = fx.other_table().await.table.id;
    let plain_made = fx
        .pb
        .create_records(
            o,
            plain,
            vec![
                cells(&[("Name", json!("p"))]),
                cells(&[("Name", json!("q"))]),
            ],
            w,
        )
        .await
        .unwrap();
    update(&fx, plain, plain_made[1].id, &[("Name", json!("q2"))]).await;
    let order = create(&fx, orders, &[("Items", json!([a, b]))]).await.id;
    update(&fx, items, a, &[("Qty", json!(5))]).await;
    fx.pb
        .update_records(
            o,
            items,
            vec![
                (b, cells(&[("Qty", json!(3))])),
                (c, cells(&[("Name", json!("c"))])),
                (d, cells(&[("Notes", json!("new"))])),
            ],
            w,
        )
        .await
        .unwrap();
    let upserted = fx
        .pb
        .upsert_records(
            o,
            items,
            &["Name".to_owned()],
            vec![
                cells(&[("Name", json!("b")), ("Qty", json!(4))]),
                cells(&[("Name", json!("e")), ("Qty", json!(9))]),
            ],
            w,
        )
        .await
        .unwrap();
    assert_eq!(upserted.created_records.len(), 1);
    update(&fx, orders, order, &[("Items", json!([b, d]))]).await;
    fx.pb.delete_records(o, items, &[b]).await.unwrap();
    fx.pb
        .restore_record(o, items, b, FieldKey::Name)
        .await
        .unwrap();
    let created_a = fx
        .pb
        .record_history(&fx.viewer, items, a, None, None)
        .await
        .unwrap()
        .items
        .last()
        .unwrap()
        .seq;
    fx.pb
        .revert_record(o, items, a, created_a, FieldKey::Name)
        .await
        .unwrap();

    fx.pb
        .update_field(
            o,
            code.id,
            FieldPatch {
                field_type: Some("number".into()),
                options: Some(json!({ "precision": 0 })),
                ..FieldPatch::default()
            },
        )
        .await
        .unwrap();
    let log = whole_log(&fx).await;
    let mut records: Vec<(crate::ids::TableId, RecordId)> = log
        .iter()
        .filter_map(|e| Some((e.table_id?, e.record_id?)))
        .collect();
    records.sort_unstable_by_key(|(t, r)| (t.to_string(), r.to_string()));
    records.dedup();
    assert_eq!(
        records.len(),
        8,
        "five items, an order and two plain records: {records:?}"
    );
    for (t, r) in records {
        let expected: Vec<&ChangeEvent> = log
            .iter()
            .rev()
            .filter(|e| e.record_id == Some(r))
            .collect();
        let mut history = Vec::new();
        let mut before = None;
        loop {
            let page = fx
                .pb
                .record_history(&fx.viewer, t, r, before, Some(2))
                .await
                .unwrap();
            history.extend(page.items);
            match page.next_cursor {
                Some(c) => before = Some(c),
                None => break,
            }
        }
        let history: Vec<&ChangeEvent> = history.iter().collect();
        assert_eq!(history, expected, "the history of record {r} of table {t}");
    }
}

/// A single-record update's event names its record and every cell it
/// changed and no other: a merge that clears a cell (the cell absent
/// after), a replace that sets one cell and so clears the cells it does
/// not name, and a batch of one record (which stores may write by another
/// statement than the single update) that sets one cell and clears another.
pub async fn updates_log_cleared_and_replaced_cells(store: Arc<dyn Store>) {
    let fx = Fixture::new(store).await;
    let t = fx.table.table.id;
    let w = WriteOptions::default();
    let (name, qty, notes) = (fx.field("Name"), fx.field("Qty"), fx.field("Notes"));
    let r = fx
        .create(&[
            ("Name", json!("a")),
            ("Qty", json!(1)),
            ("Notes", json!("n")),
        ])
        .await;
    let other = fx.create(&[("Name", json!("o")), ("Qty", json!(7))]).await;
    let start = whole_log(&fx).await.len();
    fx.pb
        .update_record(
            &fx.editor,
            t,
            r.id,
            cells(&[("Qty", Value::Null)]),
            w,
            false,
        )
        .await
        .unwrap();
    fx.pb
        .update_record(&fx.editor, t, r.id, cells(&[("Name", json!("b"))]), w, true)
        .await
        .unwrap();
    fx.pb
        .update_records(
            &fx.editor,
            t,
            vec![(other.id, cells(&[("Qty", json!(8)), ("Name", Value::Null)]))],
            w,
        )
        .await
        .unwrap();
    let log = whole_log(&fx).await;
    let new = &log[start..];
    assert_eq!(new.len(), 3, "{new:?}");
    assert_eq!(new[0].record_id, Some(r.id));
    assert_eq!(new[1].record_id, Some(r.id));
    assert_eq!(new[2].record_id, Some(other.id));
    let mut both = vec![name, qty];
    both.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    assert_eq!(new[2].changed_fields, Some(both));
    assert_eq!(
        new[2].before,
        Some(json!({ name.as_str(): "o", qty.as_str(): 7 }))
    );
    assert_eq!(new[2].after, Some(json!({ qty.as_str(): 8 })));
    assert_eq!(new[0].changed_fields, Some(vec![qty]));
    assert_eq!(new[0].before, Some(json!({ qty.as_str(): 1 })));
    assert_eq!(new[0].after, Some(json!({})));
    let mut changed = vec![name, notes];
    changed.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    assert_eq!(new[1].changed_fields, Some(changed));
    assert_eq!(
        new[1].before,
        Some(json!({ name.as_str(): "a", notes.as_str(): "n" }))
    );
    assert_eq!(new[1].after, Some(json!({ name.as_str(): "b" })));
}

/// An upsert whose rows (matched and new) link one record through a
/// two-way link logs one event for that record, its inverse cell from
/// before the upsert to after its last row, as a batch create does.
pub async fn an_upsert_logs_one_event_per_partner_record(store: Arc<dyn Store>) {
    let fx = Fixture::new(store).await;
    let o = &fx.owner;
    let items = fx.table.table.id;
    let companies = fx.other_table().await.table.id;
    fx.pb
        .create_field(
            o,
            items,
            NewField {
                name: "Company".into(),
                field_type: "link".into(),
                options: json!({ "linked_table_id": companies }),
                description: None,
                indexed: false,
            },
        )
        .await
        .unwrap();
    let inverse = fx
        .pb
        .list_fields(o, companies)
        .await
        .unwrap()
        .into_iter()
        .find(|f| f.field_type.type_name() == "link")
        .expect("the inverse link")
        .id;
    let acme = fx
        .pb
        .create_record(
            o,
            companies,
            cells(&[("Name", json!("Acme"))]),
            WriteOptions::default(),
        )
        .await
        .unwrap()
        .id;
    let p1 = fx.create(&[("Name", json!("p1"))]).await.id;
    let before = whole_log(&fx).await.len();
    let up = fx
        .pb
        .upsert_records(
            o,
            items,
            &["Name".to_owned()],
            vec![
                cells(&[("Name", json!("p1")), ("Company", json!([acme]))]),
                cells(&[("Name", json!("p2")), ("Company", json!([acme]))]),
                cells(&[("Name", json!("p3")), ("Company", json!([acme]))]),
            ],
            WriteOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(up.updated_records, vec![p1]);
    let log = whole_log(&fx).await;
    let written = &log[before..];
    let of_acme: Vec<&ChangeEvent> = written
        .iter()
        .filter(|e| e.record_id == Some(acme))
        .collect();
    assert_eq!(of_acme.len(), 1, "one event for the partner: {written:#?}");
    let linked: Vec<Value> = up.records.iter().map(|r| json!(r.id)).collect();
    assert_eq!(obj(&of_acme[0].after)[inverse.as_str()], json!(linked));
    assert_eq!(obj(&of_acme[0].before).get(inverse.as_str()), None);
    assert_eq!(written.len(), 4, "three rows and one partner: {written:#?}");
}

/// A link that stops being two-way changes its partner's options too (the
/// partner no longer names it): the log holds a `field.updated` of the
/// partner after the change, whether its other side was deleted, made
/// one-way or given another type (reviewer: a consumer rebuilding the
/// schema from the log kept an `inverse_field_id` naming a deleted field).
pub async fn unpairing_a_link_logs_its_partner(store: Arc<dyn Store>) {
    let fx = Fixture::new(store).await;
    let o = &fx.owner;
    let items = fx.table.table.id;
    let companies = fx.other_table().await.table.id;
    let link = |name: &str| NewField {
        name: name.into(),
        field_type: "link".into(),
        options: json!({ "linked_table_id": companies }),
        description: None,
        indexed: false,
    };
    let inverse_of = |f: &crate::model::Field| f.field_type.inverse_field_id().expect("two-way");
    let names_inverse = |e: &ChangeEvent| {
        e.after
            .as_ref()
            .is_some_and(|a| a.to_string().contains("inverse_field_id"))
    };
    // The event of `field` among `events`.
    fn event_of(events: &[ChangeEvent], field: crate::ids::FieldId) -> &ChangeEvent {
        events
            .iter()
            .find(|e| e.field_id == Some(field))
            .unwrap_or_else(|| panic!("{field}'s event: {events:#?}"))
    }
    // The events of the log after the first `from`.
    let tail = |from: usize| {
        let fx = &fx;
        async move {
            let log = whole_log(fx).await;
            log[from..].to_vec()
        }
    };
    // The other side deleted.
    let company = fx.pb.create_field(o, items, link("Company")).await.unwrap();
    let from = whole_log(&fx).await.len();
    fx.pb.delete_field(o, inverse_of(&company)).await.unwrap();
    let events = tail(from).await;
    assert_eq!(events.len(), 2, "{events:#?}");
    assert_eq!(events[0].kind, ChangeKind::FieldDeleted);
    assert_eq!(events[0].field_id, Some(inverse_of(&company)));
    assert_eq!(events[1].kind, ChangeKind::FieldUpdated);
    assert_eq!(events[1].field_id, Some(company.id));
    assert_eq!(events[1].table_id, Some(items));
    assert!(!names_inverse(&events[1]), "{:?}", events[1].after);
    // Made one-way.
    let vendor = fx.pb.create_field(o, items, link("Vendor")).await.unwrap();
    let from = whole_log(&fx).await.len();
    fx.pb
        .update_field(
            o,
            vendor.id,
            FieldPatch {
                options: Some(json!({ "linked_table_id": companies, "two_way": false })),
                ..FieldPatch::default()
            },
        )
        .await
        .unwrap();
    let events = tail(from).await;
    let partner = event_of(&events, inverse_of(&vendor));
    assert_eq!(partner.kind, ChangeKind::FieldUpdated);
    assert_eq!(partner.table_id, Some(companies));
    assert!(!names_inverse(partner), "{:?}", partner.after);
    // The other side given another type.
    let maker = fx.pb.create_field(o, items, link("Maker")).await.unwrap();
    let from = whole_log(&fx).await.len();
    fx.pb
        .update_field(
            o,
            inverse_of(&maker),
            FieldPatch {
                field_type: Some("text".into()),
                ..FieldPatch::default()
            },
        )
        .await
        .unwrap();
    let events = tail(from).await;
    let partner = event_of(&events, maker.id);
    assert_eq!(partner.kind, ChangeKind::FieldUpdated);
    assert!(!names_inverse(partner), "{:?}", partner.after);
    // What the log says is what the schema holds.
    let now = fx
        .pb
        .list_fields(o, items)
        .await
        .unwrap()
        .into_iter()
        .find(|f| f.id == maker.id)
        .unwrap();
    assert_eq!(now.field_type.inverse_field_id(), None);
}
