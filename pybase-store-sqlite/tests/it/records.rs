//! Record writes: merges inside SQLite, all-or-nothing batches, upserts.

use std::sync::Arc;

use pybase_core::StoreError;
use pybase_core::ids::{AttachmentId, RecordId};
use pybase_core::model::Attachment;
use pybase_core::store::{NewRecord, RecordPatch, RecordsStore, Store};
use pybase_store_sqlite::SqliteStore;
use serde_json::json;

use crate::common::{cells, fixture, memory, new_record, now};

async fn concurrent_patches_of_different_cells_both_survive(store: Arc<dyn Store>) {
    let fx = fixture(&*store).await;
    let originals: Vec<NewRecord> = (0..40)
        .map(|i| new_record(cells(&[(fx.number, json!(i))]), None))
        .collect();
    let created = store.create_records(fx.table.id, &originals).await.unwrap();
    let mut tasks = Vec::new();
    for r in &created {
        for (field, value) in [(fx.text, json!("left")), (fx.tags, json!(["b"]))] {
            let store = Arc::clone(&store);
            let (table, id) = (fx.table.id, r.id);
            tasks.push(tokio::spawn(async move {
                store
                    .update_records(
                        table,
                        &[RecordPatch {
                            id,
                            set: cells(&[(field, value)]),
                            ..RecordPatch::default()
                        }],
                        now(),
                        None,
                    )
                    .await
                    .unwrap();
            }));
        }
    }
    for t in tasks {
        t.await.unwrap();
    }
    for (i, r) in created.iter().enumerate() {
        let got = store.get_record(fx.table.id, r.id, false).await.unwrap();
        assert_eq!(
            got.cells,
            cells(&[
                (fx.number, json!(i)),
                (fx.text, json!("left")),
                (fx.tags, json!(["b"]))
            ])
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_updates_of_different_cells_both_survive_in_memory() {
    concurrent_patches_of_different_cells_both_survive(memory()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_updates_of_different_cells_both_survive_on_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path().join("c.db")).unwrap());
    concurrent_patches_of_different_cells_both_survive(store).await;
}

#[tokio::test]
async fn a_batch_with_a_missing_id_changes_nothing() {
    let store = memory();
    let fx = fixture(&*store).await;
    let created = store
        .create_records(
            fx.table.id,
            &[
                new_record(cells(&[(fx.text, json!("a"))]), None),
                new_record(cells(&[(fx.text, json!("b"))]), None),
            ],
        )
        .await
        .unwrap();
    let missing = RecordId::new();
    let patch = |id| RecordPatch {
        id,
        set: cells(&[(fx.text, json!("changed"))]),
        ..RecordPatch::default()
    };
    let err = store
        .update_records(
            fx.table.id,
            &[patch(created[0].id), patch(missing), patch(created[1].id)],
            now(),
            None,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::NotFound { entity: "record", id } if *id == missing.to_string()),
        "{err:?}"
    );
    for r in &created {
        assert_eq!(
            &store.get_record(fx.table.id, r.id, false).await.unwrap(),
            r
        );
    }

    // Soft-deleted records count as missing for updates and deletes.
    store
        .delete_records(fx.table.id, &[created[1].id], now())
        .await
        .unwrap();
    let err = store
        .update_records(
            fx.table.id,
            &[patch(created[0].id), patch(created[1].id)],
            now(),
            None,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");
    assert_eq!(
        &store
            .get_record(fx.table.id, created[0].id, false)
            .await
            .unwrap(),
        &created[0]
    );
    let err = store
        .delete_records(fx.table.id, &[created[0].id, created[1].id], now())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");
    assert!(
        store
            .get_record(fx.table.id, created[0].id, false)
            .await
            .is_ok()
    );

    // A duplicate id in a create batch inserts nothing and burns no autonumber.
    let dup = new_record(cells(&[]), None);
    let err = store
        .create_records(
            fx.table.id,
            &[new_record(cells(&[]), None), dup.clone(), dup],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Conflict {
                entity: "record",
                ..
            }
        ),
        "{err:?}"
    );
    let next = store
        .create_records(fx.table.id, &[new_record(cells(&[]), None)])
        .await
        .unwrap();
    assert_eq!(next[0].autonumber, 3);

    // Records of another table are not reachable through this one.
    let other = fixture(&*store).await;
    let err = store
        .get_record(other.table.id, created[0].id, false)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }));
    let err = store
        .create_records(
            pybase_core::ids::TableId::new(),
            &[new_record(cells(&[]), None)],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::NotFound {
                entity: "table",
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn merges_set_unset_and_replace_inside_the_database() {
    let store = memory();
    let fx = fixture(&*store).await;
    let r = &store
        .create_records(
            fx.table.id,
            &[new_record(
                cells(&[
                    (fx.text, json!("a")),
                    (fx.number, json!(2)),
                    (fx.tags, json!(["a", "b"])),
                    (fx.flag, json!({"nested": {"x": 1, "y": 2}})),
                ]),
                Some(fx.owner.id),
            )],
        )
        .await
        .unwrap()[0];
    assert_eq!(r.autonumber, 1);
    assert_eq!(r.updated_by, Some(fx.owner.id));
    assert_eq!(r.updated_time, r.created_time);
    let at = now() + chrono::TimeDelta::seconds(5);
    let got = store
        .update_records(
            fx.table.id,
            &[RecordPatch {
                id: r.id,
                // Lists and objects are replaced whole, not merged (RFC 7396
                // would merge objects key by key).
                set: cells(&[
                    (fx.tags, json!(["c"])),
                    (fx.flag, json!({"nested": {"z": 3}})),
                ]),
                unset: vec![fx.number],
                replace: false,
            }],
            at,
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        got[0].cells,
        cells(&[
            (fx.text, json!("a")),
            (fx.tags, json!(["c"])),
            (fx.flag, json!({"nested": {"z": 3}}))
        ])
    );
    assert_eq!(got[0].updated_time, at);
    assert_eq!(got[0].updated_by, None);
    assert_eq!(got[0].created_by, Some(fx.owner.id));
    let got = store
        .update_records(
            fx.table.id,
            &[RecordPatch {
                id: r.id,
                set: cells(&[(fx.number, json!(7))]),
                unset: Vec::new(),
                replace: true,
            }],
            at,
            None,
        )
        .await
        .unwrap();
    assert_eq!(got[0].cells, cells(&[(fx.number, json!(7))]));
    assert_eq!(
        store.get_record(fx.table.id, r.id, false).await.unwrap(),
        got[0]
    );
}

#[tokio::test]
async fn numbers_and_text_round_trip_exactly() {
    let store = memory();
    let fx = fixture(&*store).await;
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
            new_record(
                cells(&[
                    (fx.number, v.clone()),
                    (fx.text, json!("é \"q\" \\ \u{1F600}")),
                ]),
                None,
            )
        })
        .collect();
    let created = store.create_records(fx.table.id, &inputs).await.unwrap();
    for (input, got) in inputs.iter().zip(&created) {
        assert_eq!(got.cells, input.cells);
        let again = store.get_record(fx.table.id, got.id, false).await.unwrap();
        assert_eq!(again.cells, input.cells);
    }
    let column = store.field_cells(fx.table.id, fx.number).await.unwrap();
    // field_cells answers in id order.
    let mut expected: Vec<(RecordId, serde_json::Value)> = created
        .iter()
        .zip(&values)
        .map(|(r, v)| (r.id, v.clone()))
        .collect();
    expected.sort_by_key(|(id, _)| *id);
    assert_eq!(column, expected);
}

#[tokio::test]
async fn upsert_creates_updates_and_refuses_ambiguous_matches() {
    let store = memory();
    let fx = fixture(&*store).await;
    let existing = store
        .create_records(
            fx.table.id,
            &[
                new_record(
                    cells(&[(fx.text, json!("ada")), (fx.number, json!(1))]),
                    None,
                ),
                new_record(
                    cells(&[(fx.text, json!("bob")), (fx.number, json!(1))]),
                    None,
                ),
                new_record(
                    cells(&[(fx.text, json!("bob")), (fx.number, json!(1))]),
                    None,
                ),
                // Same text, but the number 1 is not the string "1".
                new_record(cells(&[(fx.text, json!("1"))]), None),
            ],
        )
        .await
        .unwrap();
    let at = now();
    let out = store
        .upsert_records(
            fx.table.id,
            &[fx.text],
            &[
                new_record(
                    cells(&[(fx.text, json!("ada")), (fx.number, json!(2))]),
                    None,
                ),
                new_record(
                    cells(&[(fx.text, json!("cy")), (fx.number, json!(3))]),
                    None,
                ),
                // Matches the record created just above, in the same batch.
                new_record(
                    cells(&[(fx.text, json!("cy")), (fx.flag, json!(true))]),
                    None,
                ),
                // No text: matches records without text (none yet), so created.
                new_record(cells(&[(fx.number, json!(1.0))]), None),
            ],
            at,
            Some(fx.owner.id),
        )
        .await
        .unwrap();
    assert!(!out[0].created);
    assert_eq!(out[0].record.id, existing[0].id);
    assert_eq!(
        out[0].record.cells,
        cells(&[(fx.text, json!("ada")), (fx.number, json!(2))])
    );
    assert_eq!(out[0].record.updated_by, Some(fx.owner.id));
    assert!(out[1].created);
    assert_eq!(out[1].record.autonumber, 5);
    assert!(!out[2].created);
    assert_eq!(out[2].record.id, out[1].record.id);
    assert_eq!(
        out[2].record.cells,
        cells(&[
            (fx.text, json!("cy")),
            (fx.number, json!(3)),
            (fx.flag, json!(true))
        ])
    );
    assert!(out[3].created);
    assert_eq!(out[3].record.autonumber, 6);

    // Merge on a number: 1 and 1.0 are equal, "1" is not.
    let out = store
        .upsert_records(
            fx.table.id,
            &[fx.text, fx.number],
            &[new_record(cells(&[(fx.number, json!(1))]), None)],
            at,
            None,
        )
        .await
        .unwrap();
    assert!(!out[0].created);
    assert_eq!(out[0].record.autonumber, 6);

    // Two "bob"s: conflict, and the whole batch is rolled back.
    let before = store.field_cells(fx.table.id, fx.number).await.unwrap();
    let texts_before = store.field_cells(fx.table.id, fx.text).await.unwrap();
    let err = store
        .upsert_records(
            fx.table.id,
            &[fx.text],
            &[
                new_record(
                    cells(&[(fx.text, json!("ada")), (fx.number, json!(99))]),
                    None,
                ),
                new_record(cells(&[(fx.text, json!("new"))]), None),
                new_record(
                    cells(&[(fx.text, json!("bob")), (fx.number, json!(99))]),
                    None,
                ),
            ],
            at,
            None,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Conflict { entity: "record", field, .. } if field == "merge_on"),
        "{err:?}"
    );
    assert_eq!(
        store.field_cells(fx.table.id, fx.number).await.unwrap(),
        before
    );
    assert_eq!(
        store.field_cells(fx.table.id, fx.text).await.unwrap(),
        texts_before
    );

    // Soft-deleted records never match.
    store
        .delete_records(fx.table.id, &[existing[1].id], now())
        .await
        .unwrap();
    let out = store
        .upsert_records(
            fx.table.id,
            &[fx.text],
            &[new_record(
                cells(&[(fx.text, json!("bob")), (fx.number, json!(5))]),
                None,
            )],
            at,
            None,
        )
        .await
        .unwrap();
    assert_eq!(out[0].record.id, existing[2].id);
}

#[tokio::test]
async fn soft_delete_restore_and_live_ids() {
    let store = memory();
    let fx = fixture(&*store).await;
    let created = store
        .create_records(
            fx.table.id,
            &[new_record(cells(&[]), None), new_record(cells(&[]), None)],
        )
        .await
        .unwrap();
    let at = now();
    store
        .delete_records(fx.table.id, &[created[0].id], at)
        .await
        .unwrap();
    assert!(
        store
            .get_record(fx.table.id, created[0].id, false)
            .await
            .is_err()
    );
    let deleted = store
        .get_record(fx.table.id, created[0].id, true)
        .await
        .unwrap();
    assert_eq!(deleted.deleted_time, Some(at));
    let ghost = RecordId::new();
    let live = store
        .live_record_ids(fx.table.id, &[created[0].id, created[1].id, ghost])
        .await
        .unwrap();
    assert_eq!(live, vec![created[1].id]);
    let restored = store
        .restore_record(fx.table.id, created[0].id)
        .await
        .unwrap();
    assert_eq!(restored, created[0]);
    // Restoring a live record returns it unchanged.
    assert_eq!(
        store
            .restore_record(fx.table.id, created[1].id)
            .await
            .unwrap(),
        created[1]
    );
    assert!(matches!(
        store.restore_record(fx.table.id, ghost).await,
        Err(StoreError::NotFound {
            entity: "record",
            ..
        })
    ));
}

#[tokio::test]
async fn attachments_round_trip() {
    let store = memory();
    let fx = fixture(&*store).await;
    let a = Attachment {
        id: AttachmentId::new(),
        table_id: fx.table.id,
        filename: "a.png".into(),
        content_type: "image/png".into(),
        size: 3,
        sha256: "ab".repeat(32),
        storage_key: "k/a".into(),
        created_by: Some(fx.owner.id),
        created_at: now(),
    };
    store.create_attachment(&a).await.unwrap();
    assert_eq!(store.get_attachment(a.id).await.unwrap(), a);
    let ghost = AttachmentId::new();
    assert_eq!(
        store.get_attachments(&[a.id, ghost]).await.unwrap(),
        vec![a.clone()]
    );
    assert!(matches!(
        store.get_attachment(ghost).await,
        Err(StoreError::NotFound {
            entity: "attachment",
            ..
        })
    ));
    let orphan = Attachment {
        id: AttachmentId::new(),
        table_id: pybase_core::ids::TableId::new(),
        ..a
    };
    assert!(matches!(
        store.create_attachment(&orphan).await,
        Err(StoreError::NotFound {
            entity: "table",
            ..
        })
    ));
}
