//! The clauses of [`crate::store::RecordsStore`]: all-or-nothing batches
//! naming the first missing id, merges inside the database, upserts,
//! restores and attachments.

use std::sync::Arc;

use chrono::TimeDelta;
use serde_json::json;

use super::build::{attachment, cells, live, now, number, record, table_with, text, user};
use super::{assert_conflict, assert_not_found};
use crate::StoreError;
use crate::ids::{AttachmentId, RecordId, TableId};
use crate::model::Cells;
use crate::store::{NewRecord, RecordPatch, Store};

/// `create_records` numbers records in input order, sets `updated_*` from
/// `created_*`, answers `NotFound` for an absent table, and a batch that
/// fails (an id already taken) inserts nothing and uses no autonumber.
pub async fn create_records_numbers_in_order_and_fails_whole(store: Arc<dyn Store>) {
    let a = user(&*store, "a").await;
    let (_, _, t, f) = table_with(&*store, a.id, &[("Name", text())]).await;
    let first = store
        .create_records(
            t.id,
            &(0..3)
                .map(|i| record(cells(&[(f[0].id, json!(format!("r{i}")))]), Some(a.id)))
                .collect::<Vec<_>>(),
        )
        .await
        .unwrap();
    let numbers: Vec<i64> = first.iter().map(|r| r.autonumber).collect();
    assert_eq!(numbers, vec![1, 2, 3]);
    for r in &first {
        assert_eq!(
            (r.updated_time, r.updated_by, r.deleted_time),
            (r.created_time, Some(a.id), None)
        );
        assert_eq!(store.get_record(t.id, r.id, false).await.unwrap(), *r);
    }
    let mut batch: Vec<NewRecord> = (0..20).map(|_| record(Cells::new(), None)).collect();
    batch.push(NewRecord {
        id: first[0].id,
        ..record(Cells::new(), None)
    });
    assert_conflict(store.create_records(t.id, &batch).await, "record", "id");
    assert_eq!(live(&*store, t.id).await.len(), 3);
    assert_not_found(store.get_record(t.id, batch[0].id, true).await);
    let next = store
        .create_records(t.id, &[record(Cells::new(), None)])
        .await
        .unwrap();
    assert_eq!(next[0].autonumber, 4, "a failed batch used autonumbers");
    assert_not_found(
        store
            .create_records(TableId::new(), &[record(Cells::new(), None)])
            .await,
    );
}

/// `update_records` and `delete_records` are all-or-nothing: a batch
/// naming a missing or soft-deleted record answers `NotFound` naming the
/// first such id, and changes nothing.
pub async fn failing_update_and_delete_batches_change_nothing(store: Arc<dyn Store>) {
    let a = user(&*store, "a").await;
    let (_, _, t, f) = table_with(&*store, a.id, &[("Name", text())]).await;
    let recs = store
        .create_records(
            t.id,
            &(0..4)
                .map(|i| record(cells(&[(f[0].id, json!(format!("r{i}")))]), None))
                .collect::<Vec<_>>(),
        )
        .await
        .unwrap();
    let at = now() + TimeDelta::seconds(1);
    store.delete_records(t.id, &[recs[3].id], at).await.unwrap();
    let deleted = store.get_record(t.id, recs[3].id, true).await.unwrap();
    let change = |id: RecordId| RecordPatch {
        id,
        set: cells(&[(f[0].id, json!("changed"))]),
        ..RecordPatch::default()
    };
    let (missing, also_missing) = (RecordId::new(), RecordId::new());
    let patches = vec![
        change(recs[0].id),
        change(recs[1].id),
        change(missing),
        change(also_missing),
        change(recs[2].id),
    ];
    match store.update_records(t.id, &patches, at, Some(a.id)).await {
        Err(StoreError::NotFound { id, .. }) => assert_eq!(id, missing.to_string()),
        other => panic!("{other:?}"),
    }
    let soft = vec![change(recs[0].id), change(recs[3].id)];
    match store.update_records(t.id, &soft, at, None).await {
        Err(StoreError::NotFound { id, .. }) => assert_eq!(id, recs[3].id.to_string()),
        other => panic!("{other:?}"),
    }
    for r in &recs[..3] {
        assert_eq!(store.get_record(t.id, r.id, false).await.unwrap(), *r);
    }
    assert_eq!(
        store.get_record(t.id, recs[3].id, true).await.unwrap(),
        deleted
    );
    let ids = [recs[0].id, recs[3].id, recs[1].id, missing];
    match store.delete_records(t.id, &ids, at).await {
        Err(StoreError::NotFound { id, .. }) => assert_eq!(id, recs[3].id.to_string()),
        other => panic!("{other:?}"),
    }
    let ids = [recs[0].id, missing];
    match store.delete_records(t.id, &ids, at).await {
        Err(StoreError::NotFound { id, .. }) => assert_eq!(id, missing.to_string()),
        other => panic!("{other:?}"),
    }
    assert_eq!(live(&*store, t.id).await.len(), 3);
}

/// A patch merges inside the database: `set` cells are written, `unset`
/// ones removed, others kept; `replace` keeps only `set`. `updated_time`
/// and `updated_by` are the call's; patches of one record in one batch
/// apply in order; records come back in input order.
pub async fn patches_merge_replace_and_apply_in_order(store: Arc<dyn Store>) {
    let a = user(&*store, "a").await;
    let (_, _, t, f) = table_with(
        &*store,
        a.id,
        &[("Name", text()), ("Qty", number()), ("Note", text())],
    )
    .await;
    let recs = store
        .create_records(
            t.id,
            &[
                record(
                    cells(&[
                        (f[0].id, json!("x")),
                        (f[1].id, json!(1.5)),
                        (f[2].id, json!("n")),
                    ]),
                    Some(a.id),
                ),
                record(Cells::new(), None),
            ],
        )
        .await
        .unwrap();
    let r = &recs[0];
    let later = now() + TimeDelta::seconds(1);
    let merged = store
        .update_records(
            t.id,
            &[RecordPatch {
                id: r.id,
                set: cells(&[(f[0].id, json!("y"))]),
                unset: vec![f[2].id],
                replace: false,
            }],
            later,
            None,
        )
        .await
        .unwrap()
        .remove(0);
    assert_eq!(
        merged.cells,
        cells(&[(f[0].id, json!("y")), (f[1].id, json!(1.5))])
    );
    assert_eq!((merged.updated_time, merged.updated_by), (later, None));
    assert_eq!(
        (merged.created_time, merged.created_by, merged.autonumber),
        (r.created_time, r.created_by, r.autonumber)
    );
    let replaced = store
        .update_records(
            t.id,
            &[RecordPatch {
                id: r.id,
                set: cells(&[(f[2].id, json!("only"))]),
                unset: vec![],
                replace: true,
            }],
            later,
            Some(a.id),
        )
        .await
        .unwrap()
        .remove(0);
    assert_eq!(replaced.cells, cells(&[(f[2].id, json!("only"))]));
    assert_eq!(replaced.updated_by, Some(a.id));
    let out = store
        .update_records(
            t.id,
            &[
                RecordPatch {
                    id: recs[1].id,
                    set: cells(&[(f[1].id, json!(7))]),
                    ..RecordPatch::default()
                },
                RecordPatch {
                    id: r.id,
                    set: cells(&[(f[0].id, json!("1"))]),
                    ..RecordPatch::default()
                },
                RecordPatch {
                    id: r.id,
                    set: cells(&[(f[0].id, json!("2")), (f[1].id, json!(2))]),
                    ..RecordPatch::default()
                },
            ],
            later,
            None,
        )
        .await
        .unwrap();
    let ids: Vec<RecordId> = out.iter().map(|x| x.id).collect();
    assert_eq!(ids, vec![recs[1].id, r.id, r.id]);
    assert_eq!(out[1].cells[f[0].id.as_str()], json!("1"));
    assert_eq!(
        out[2].cells,
        cells(&[
            (f[0].id, json!("2")),
            (f[1].id, json!(2)),
            (f[2].id, json!("only"))
        ])
    );
    assert_eq!(store.get_record(t.id, r.id, false).await.unwrap(), out[2]);
}

/// Upserts, in input order: a live match on the merge fields (absent
/// equals absent) is merged, no match creates the input with the next
/// autonumber; several matches answer
/// `Conflict { entity: "record", field: "merge_on" }` with nothing changed
/// and no autonumber used.
pub async fn upserts_merge_create_and_refuse_ambiguity_whole(store: Arc<dyn Store>) {
    let a = user(&*store, "a").await;
    let (_, _, t, f) = table_with(
        &*store,
        a.id,
        &[("Name", text()), ("Qty", number()), ("Note", text())],
    )
    .await;
    let r = store
        .create_records(t.id, &[record(cells(&[(f[0].id, json!("1"))]), None)])
        .await
        .unwrap()
        .remove(0);
    let gone = store
        .create_records(t.id, &[record(cells(&[(f[0].id, json!("gone"))]), None)])
        .await
        .unwrap()
        .remove(0);
    let later = now() + TimeDelta::seconds(1);
    store.delete_records(t.id, &[gone.id], later).await.unwrap();
    let inputs = [
        record(
            cells(&[(f[0].id, json!("1")), (f[2].id, json!("merged"))]),
            None,
        ),
        record(cells(&[(f[0].id, json!("new"))]), None),
        record(cells(&[(f[0].id, json!("new")), (f[1].id, json!(7))]), None),
        record(cells(&[(f[1].id, json!(3))]), None),
        record(cells(&[(f[0].id, json!("gone"))]), None),
    ];
    let out = store
        .upsert_records(t.id, &[f[0].id], &inputs, false, later, Some(a.id))
        .await
        .unwrap();
    let created: Vec<bool> = out.iter().map(|o| o.created).collect();
    assert_eq!(created, vec![false, true, false, true, true]);
    assert_eq!(out[0].record.id, r.id);
    assert_eq!(
        out[0].record.cells,
        cells(&[(f[0].id, json!("1")), (f[2].id, json!("merged"))])
    );
    assert_eq!(
        (out[0].record.updated_time, out[0].record.updated_by),
        (later, Some(a.id))
    );
    assert_eq!(out[1].record.id, inputs[1].id);
    assert_eq!(out[2].record.id, inputs[1].id);
    assert_eq!(out[2].record.cells[f[1].id.as_str()], json!(7));
    let numbers: Vec<i64> = out.iter().map(|o| o.record.autonumber).collect();
    assert_eq!(numbers, vec![1, 3, 3, 4, 5]);
    // An input without a Name matches the record without one.
    let again = store
        .upsert_records(
            t.id,
            &[f[0].id],
            &[record(cells(&[(f[2].id, json!("x"))]), None)],
            false,
            later,
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        (again[0].created, again[0].record.id),
        (false, out[3].record.id)
    );
    // Replacing: the match's cells become the input's, its 7 cleared.
    let replaced = store
        .upsert_records(
            t.id,
            &[f[0].id],
            &[record(
                cells(&[(f[0].id, json!("new")), (f[2].id, json!("z"))]),
                None,
            )],
            true,
            later,
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        (replaced[0].created, replaced[0].record.id),
        (false, inputs[1].id)
    );
    assert_eq!(
        replaced[0].record.cells,
        cells(&[(f[0].id, json!("new")), (f[2].id, json!("z"))])
    );
    // Two live records with Name "1": ambiguous, nothing changes.
    store
        .create_records(t.id, &[record(cells(&[(f[0].id, json!("1"))]), None)])
        .await
        .unwrap();
    let before = live(&*store, t.id).await;
    let ambiguous = [
        record(cells(&[(f[0].id, json!("fresh"))]), None),
        record(
            cells(&[(f[0].id, json!("new")), (f[2].id, json!("y"))]),
            None,
        ),
        record(cells(&[(f[0].id, json!("1"))]), None),
    ];
    assert_conflict(
        store
            .upsert_records(t.id, &[f[0].id], &ambiguous, false, later, None)
            .await,
        "record",
        "merge_on",
    );
    assert_eq!(live(&*store, t.id).await, before);
    let next = store
        .create_records(t.id, &[record(Cells::new(), None)])
        .await
        .unwrap();
    assert_eq!(next[0].autonumber, 7, "a failed upsert used autonumbers");
}

/// `get_record` sees a soft-deleted record only when asked;
/// `restore_record` undoes the delete, returns a live record unchanged and
/// answers `NotFound` for an absent one; `live_record_ids` and
/// `field_cells` follow.
pub async fn soft_delete_restore_and_live_ids(store: Arc<dyn Store>) {
    let a = user(&*store, "a").await;
    let (_, _, t, f) = table_with(&*store, a.id, &[("Name", text())]).await;
    let recs = store
        .create_records(
            t.id,
            &[
                record(cells(&[(f[0].id, json!("a"))]), None),
                record(cells(&[(f[0].id, json!("b"))]), None),
            ],
        )
        .await
        .unwrap();
    let r = &recs[0];
    let at = now() + TimeDelta::seconds(1);
    store.delete_records(t.id, &[r.id], at).await.unwrap();
    assert_not_found(store.get_record(t.id, r.id, false).await);
    assert_eq!(
        store
            .get_record(t.id, r.id, true)
            .await
            .unwrap()
            .deleted_time,
        Some(at)
    );
    assert_eq!(
        store
            .live_record_ids(t.id, &[r.id, recs[1].id, RecordId::new()])
            .await
            .unwrap(),
        vec![recs[1].id]
    );
    assert_eq!(store.field_cells(t.id, f[0].id).await.unwrap().len(), 2);
    let back = store.restore_record(t.id, r.id).await.unwrap();
    assert_eq!(back.deleted_time, None);
    assert_eq!(back.cells, r.cells);
    assert_eq!(store.restore_record(t.id, r.id).await.unwrap(), back);
    assert_not_found(store.restore_record(t.id, RecordId::new()).await);
    let mut ids = store
        .live_record_ids(t.id, &[r.id, recs[1].id])
        .await
        .unwrap();
    ids.sort_by(|x, y| x.as_str().cmp(y.as_str()));
    let mut want = vec![r.id, recs[1].id];
    want.sort_by(|x, y| x.as_str().cmp(y.as_str()));
    assert_eq!(ids, want);
}

/// Attachment metadata: `create_attachment` answers `NotFound` for an
/// absent table, `get_attachment` for an absent id; `get_attachments`
/// skips missing ids.
pub async fn attachments_round_trip_and_skip_missing(store: Arc<dyn Store>) {
    let a = user(&*store, "a").await;
    let (_, _, t, _) = table_with(&*store, a.id, &[("Name", text())]).await;
    let mut att = attachment(t.id);
    att.created_by = Some(a.id);
    store.create_attachment(&att).await.unwrap();
    let other = attachment(t.id);
    store.create_attachment(&other).await.unwrap();
    assert_eq!(store.get_attachment(att.id).await.unwrap(), att);
    let mut got = store
        .get_attachments(&[att.id, AttachmentId::new(), other.id])
        .await
        .unwrap();
    got.sort_by(|x, y| x.id.as_str().cmp(y.id.as_str()));
    let mut want = vec![att.clone(), other];
    want.sort_by(|x, y| x.id.as_str().cmp(y.id.as_str()));
    assert_eq!(got, want);
    assert_not_found(store.get_attachment(AttachmentId::new()).await);
    assert_not_found(store.create_attachment(&attachment(TableId::new())).await);
}

/// Concurrent patches of different cells of one record both survive
/// (merges happen inside the database, never read-modify-write).
pub async fn concurrent_patches_of_different_cells_both_survive(store: Arc<dyn Store>) {
    let a = user(&*store, "a").await;
    let (_, _, t, f) = table_with(&*store, a.id, &[("A", number()), ("B", number())]).await;
    let id = store
        .create_records(t.id, &[record(Cells::new(), None)])
        .await
        .unwrap()[0]
        .id;
    for round in 0..30 {
        let write = |field: crate::ids::FieldId| {
            let store = store.clone();
            let patch = vec![RecordPatch {
                id,
                set: cells(&[(field, json!(round))]),
                ..RecordPatch::default()
            }];
            tokio::spawn(async move { store.update_records(t.id, &patch, now(), None).await })
        };
        let (x, y) = tokio::join!(write(f[0].id), write(f[1].id));
        x.unwrap().unwrap();
        y.unwrap().unwrap();
        let r = store.get_record(t.id, id, false).await.unwrap();
        assert_eq!(r.cells[f[0].id.as_str()], json!(round), "round {round}");
        assert_eq!(r.cells[f[1].id.as_str()], json!(round), "round {round}");
    }
}

/// Stores keep what they are given: numbers (tiny, huge, beyond 2^53,
/// negative, integral) and text with quotes, backslashes and non-ASCII
/// come back exactly, from the write, a read and `field_cells`.
pub async fn cells_keep_numbers_and_text_exactly(store: Arc<dyn Store>) {
    let a = user(&*store, "a").await;
    let (_, _, t, f) = table_with(&*store, a.id, &[("Text", text()), ("Number", number())]).await;
    let values = [
        json!(0.1),
        json!(1e-7),
        json!(123_456_789.123_456_78),
        json!(9_007_199_254_740_993_i64),
        json!(-0.5),
        json!(1.0),
        json!(12),
        json!(1e300),
    ];
    let inputs: Vec<NewRecord> = values
        .iter()
        .map(|v| {
            record(
                cells(&[
                    (f[1].id, v.clone()),
                    (f[0].id, json!("é \"q\" \\ \u{1F600}")),
                ]),
                None,
            )
        })
        .collect();
    let created = store.create_records(t.id, &inputs).await.unwrap();
    for (input, got) in inputs.iter().zip(&created) {
        assert_eq!(got.cells, input.cells);
        let again = store.get_record(t.id, got.id, false).await.unwrap();
        assert_eq!(again.cells, input.cells);
    }
    let mut column = store.field_cells(t.id, f[1].id).await.unwrap();
    column.sort_by(|x, y| x.0.as_str().cmp(y.0.as_str()));
    let mut expected: Vec<_> = created
        .iter()
        .zip(&values)
        .map(|(r, v)| (r.id, v.clone()))
        .collect();
    expected.sort_by(|x, y| x.0.as_str().cmp(y.0.as_str()));
    assert_eq!(column, expected);
}
