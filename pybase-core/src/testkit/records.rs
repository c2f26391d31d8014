//! Record writes: batches, merges, concurrency, upserts, soft deletes, attachments.

use std::sync::Arc;

use futures::TryStreamExt;
use serde_json::{Value, json};

use super::fixture::{Fixture, assert_invalid, cells};
use crate::Error;
use crate::facade::{FieldKey, FieldPatch, QueryInput, WriteOptions};
use crate::ids::RecordId;
use crate::role::Role;
use crate::store::Store;

async fn count(fx: &Fixture) -> usize {
    let q = QueryInput {
        page_size: Some(1000),
        ..Default::default()
    };
    fx.pb
        .query_records(&fx.owner, fx.table.table.id, q, FieldKey::Name)
        .await
        .unwrap()
        .records
        .len()
}

/// One bad record fails the whole batch, naming its index; nothing is stored.
pub async fn batch_create_is_all_or_nothing_and_names_the_index(store: Arc<dyn Store>) {
    let fx = Fixture::new(store.clone()).await;
    let t = fx.table.table.id;
    let mut batch: Vec<_> = (0..50)
        .map(|i| cells(&[("Name", json!(format!("r{i}"))), ("Qty", json!(i))]))
        .collect();
    batch[37] = cells(&[("Qty", json!("many"))]);
    let e = fx
        .pb
        .create_records(&fx.owner, t, batch.clone(), WriteOptions::default())
        .await
        .unwrap_err();
    assert_invalid(&e, "records[37].Qty");
    assert_eq!(count(&fx).await, 0);
    batch[37] = cells(&[("Qty", json!(37))]);
    let created = fx
        .pb
        .create_records(&fx.owner, t, batch, WriteOptions::default())
        .await
        .unwrap();
    assert_eq!(created.len(), 50);
    assert_eq!(created[3].fields["Name"], json!("r3"));
    assert_eq!(count(&fx).await, 50);
    // With no sort, a batch lists in the order it was written (its ids are
    // made within a millisecond or two and still sort in making order).
    let page = fx
        .pb
        .query_records(
            &fx.owner,
            t,
            QueryInput {
                page_size: Some(100),
                ..Default::default()
            },
            FieldKey::Name,
        )
        .await
        .unwrap();
    let listed: Vec<Option<&Value>> = page.records.iter().map(|r| r.fields.get("Qty")).collect();
    let written: Vec<Value> = (0..50).map(|i| json!(i)).collect();
    assert_eq!(
        listed,
        written.iter().map(Some).collect::<Vec<_>>(),
        "batch order lost"
    );
    let too_many: Vec<_> = (0..1001).map(|_| cells(&[])).collect();
    assert_invalid(
        &fx.pb
            .create_records(&fx.owner, t, too_many, WriteOptions::default())
            .await
            .unwrap_err(),
        "records",
    );
    assert_invalid(
        &fx.pb
            .create_records(&fx.owner, t, vec![], WriteOptions::default())
            .await
            .unwrap_err(),
        "records",
    );
    // The largest batch is accepted, and every record is stored as sent,
    // with consecutive autonumbers in the batch's order (stores may insert
    // a batch by several rows a statement: the boundaries are checked).
    let full: Vec<_> = (0..1000).map(|i| cells(&[("Qty", json!(i))])).collect();
    let created = fx
        .pb
        .create_records(&fx.owner, t, full, WriteOptions::default())
        .await
        .unwrap();
    assert_eq!(created.len(), 1000);
    let ids: Vec<RecordId> = created.iter().map(|r| r.id).collect();
    let mut stored = store.get_records(t, &ids, false).await.unwrap();
    assert_eq!(stored.len(), 1000);
    stored.sort_by_key(|r| r.autonumber);
    let qty = fx.field("Qty");
    let first = stored[0].autonumber;
    for (i, r) in stored.iter().enumerate() {
        assert_eq!(r.id, ids[i], "record {i} in creation order");
        assert_eq!(r.autonumber, first + i as i64, "autonumber of record {i}");
        assert_eq!(
            r.cells.get(qty.as_str()),
            Some(&json!(i)),
            "cells of record {i}"
        );
    }
}

/// A batch update with one missing id or bad cell changes nothing.
pub async fn batch_update_is_all_or_nothing(store: Arc<dyn Store>) {
    let fx = Fixture::new(store.clone()).await;
    let t = fx.table.table.id;
    let a = fx.create(&[("Qty", json!(1))]).await;
    let b = fx.create(&[("Qty", json!(2))]).await;
    let e = fx
        .pb
        .update_records(
            &fx.owner,
            t,
            vec![
                (a.id, cells(&[("Qty", json!(10))])),
                (RecordId::new(), cells(&[("Qty", json!(20))])),
            ],
            WriteOptions::default(),
        )
        .await
        .unwrap_err();
    assert_invalid(&e, "records[1].id");
    let e = fx
        .pb
        .update_records(
            &fx.owner,
            t,
            vec![
                (a.id, cells(&[("Qty", json!(10))])),
                (b.id, cells(&[("Qty", json!("x"))])),
            ],
            WriteOptions::default(),
        )
        .await
        .unwrap_err();
    assert_invalid(&e, "records[1].Qty");
    assert_eq!(
        fx.pb
            .get_record(&fx.owner, t, a.id, FieldKey::Name)
            .await
            .unwrap()
            .fields["Qty"],
        json!(1)
    );
    // The store itself is atomic: a missing id in a patch list changes nothing.
    let patch = |id| crate::store::RecordPatch {
        id,
        set: cells(&[(fx.field("Qty").as_str(), json!(99))]),
        ..Default::default()
    };
    let e = store
        .update_records(
            t,
            &[patch(a.id), patch(RecordId::new())],
            chrono::Utc::now(),
            None,
        )
        .await
        .unwrap_err();
    assert!(matches!(e, crate::StoreError::NotFound { .. }), "{e:?}");
    assert_eq!(
        fx.pb
            .get_record(&fx.owner, t, a.id, FieldKey::Name)
            .await
            .unwrap()
            .fields["Qty"],
        json!(1)
    );
    let ok = fx
        .pb
        .update_records(
            &fx.owner,
            t,
            vec![
                (a.id, cells(&[("Qty", json!(10))])),
                (b.id, cells(&[("Qty", json!(20))])),
            ],
            WriteOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(ok[1].fields["Qty"], json!(20));
}

/// PATCH changes only the named cells (null clears one); PUT replaces all.
pub async fn partial_update_merges_and_replace_clears(store: Arc<dyn Store>) {
    let fx = Fixture::new(store).await;
    let t = fx.table.table.id;
    let r = fx
        .create(&[
            ("Name", json!("n")),
            ("Qty", json!(1)),
            ("Notes", json!("keep")),
        ])
        .await;
    let u = fx
        .pb
        .update_record(
            &fx.editor,
            t,
            r.id,
            cells(&[("Qty", json!(2)), ("Notes", Value::Null)]),
            WriteOptions::default(),
            false,
        )
        .await
        .unwrap();
    assert_eq!(u.fields["Name"], json!("n"));
    assert_eq!(u.fields["Qty"], json!(2));
    assert!(!u.fields.contains_key("Notes"));
    assert!(u.updated_time >= r.updated_time);
    let p = fx
        .pb
        .update_record(
            &fx.editor,
            t,
            r.id,
            cells(&[("Status", json!("Open"))]),
            WriteOptions::default(),
            true,
        )
        .await
        .unwrap();
    assert_eq!(
        p.fields
            .keys()
            .filter(|k| *k != "No" && *k != "Created")
            .collect::<Vec<_>>(),
        ["Status"]
    );
    let e = fx
        .pb
        .update_record(
            &fx.editor,
            t,
            RecordId::new(),
            cells(&[]),
            WriteOptions::default(),
            false,
        )
        .await
        .unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e:?}");
}

/// Two concurrent updates of different cells of one record both survive.
pub async fn concurrent_updates_of_different_fields_both_survive(store: Arc<dyn Store>) {
    let fx = Fixture::new(store).await;
    let t = fx.table.table.id;
    for round in 0..20 {
        let r = fx.create(&[("Name", json!("c"))]).await;
        let (pb1, pb2) = (fx.pb.clone(), fx.pb.clone());
        let (e1, e2) = (fx.editor.clone(), fx.admin.clone());
        let h1 = tokio::spawn(async move {
            pb1.update_record(
                &e1,
                t,
                r.id,
                cells(&[("Qty", json!(round))]),
                WriteOptions::default(),
                false,
            )
            .await
        });
        let h2 = tokio::spawn(async move {
            pb2.update_record(
                &e2,
                t,
                r.id,
                cells(&[("Notes", json!(format!("n{round}")))]),
                WriteOptions::default(),
                false,
            )
            .await
        });
        h1.await.unwrap().unwrap();
        h2.await.unwrap().unwrap();
        let back = fx
            .pb
            .get_record(&fx.owner, t, r.id, FieldKey::Name)
            .await
            .unwrap();
        assert_eq!(back.fields["Qty"], json!(round), "round {round}");
        assert_eq!(
            back.fields["Notes"],
            json!(format!("n{round}")),
            "round {round}"
        );
        assert_eq!(back.fields["Name"], json!("c"));
    }
}

/// Upsert updates the record matching on the merge fields, creates the
/// rest, says which, and refuses ambiguous matches.
pub async fn upsert_creates_and_updates(store: Arc<dyn Store>) {
    let fx = Fixture::new(store).await;
    let t = fx.table.table.id;
    let w = WriteOptions::default();
    let a = fx
        .create(&[
            ("Email", json!("a@example.com")),
            ("Qty", json!(1)),
            ("Notes", json!("keep")),
        ])
        .await;
    let res = fx
        .pb
        .upsert_records(
            &fx.editor,
            t,
            &["Email".into()],
            vec![
                cells(&[("Email", json!("a@EXAMPLE.COM")), ("Qty", json!(5))]),
                cells(&[("Email", json!("b@example.com")), ("Qty", json!(6))]),
            ],
            w,
        )
        .await
        .unwrap();
    assert_eq!(res.updated_records, vec![a.id]);
    assert_eq!(res.created_records.len(), 1);
    assert_eq!(res.records[0].id, a.id);
    assert_eq!(res.records[0].fields["Qty"], json!(5));
    assert_eq!(res.records[0].fields["Notes"], json!("keep"));
    assert_eq!(count(&fx).await, 2);
    // Two fields as the key.
    let res = fx
        .pb
        .upsert_records(
            &fx.editor,
            t,
            &["Email".into(), "Qty".into()],
            vec![cells(&[
                ("Email", json!("b@example.com")),
                ("Qty", json!(6)),
                ("Name", json!("B")),
            ])],
            w,
        )
        .await
        .unwrap();
    assert_eq!(res.updated_records.len(), 1);
    // Ambiguous: two records share the key; nothing changes.
    fx.create(&[("Email", json!("b@example.com"))]).await;
    let e = fx
        .pb
        .upsert_records(
            &fx.editor,
            t,
            &["Email".into()],
            vec![cells(&[
                ("Email", json!("b@example.com")),
                ("Qty", json!(9)),
            ])],
            w,
        )
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Conflict { .. }), "{e:?}");
    for bad in [
        vec![],
        vec!["Nope".to_owned()],
        vec!["Tags".to_owned()],
        vec!["No".to_owned()],
        vec!["Name".into(), "Qty".into(), "Email".into(), "Due".into()],
    ] {
        let e = fx
            .pb
            .upsert_records(&fx.editor, t, &bad, vec![cells(&[("Name", json!("x"))])], w)
            .await
            .unwrap_err();
        assert_invalid(&e, "merge_on");
    }
}

/// `upsert_matches` answers, for each key in order, the live records an
/// upsert on it would match (by id): a key's empty fields match only
/// records where they are empty, a deleted record matches nothing, and a
/// key given twice is answered twice.
pub async fn upsert_matches_answer_each_key(store: Arc<dyn Store>) {
    let fx = Fixture::new(store.clone()).await;
    let t = fx.table.table.id;
    let (name, qty) = (fx.field("Name"), fx.field("Qty"));
    let a1 = fx
        .create(&[("Name", json!("a")), ("Qty", json!(1))])
        .await
        .id;
    let a2 = fx
        .create(&[("Name", json!("a")), ("Qty", json!(2))])
        .await
        .id;
    let b = fx.create(&[("Name", json!("b"))]).await.id;
    let nul = fx.create(&[("Name", json!("x\u{0}y"))]).await.id;
    let gone = fx
        .create(&[("Name", json!("c")), ("Qty", json!(3))])
        .await
        .id;
    fx.pb.delete_records(&fx.editor, t, &[gone]).await.unwrap();
    let key = |pairs: &[(&crate::ids::FieldId, Value)]| {
        pairs
            .iter()
            .map(|(f, v)| (f.to_string(), v.clone()))
            .collect::<serde_json::Map<String, Value>>()
    };
    let by_id = |mut ids: Vec<RecordId>| {
        ids.sort_by(|x, y| x.as_str().cmp(y.as_str()));
        ids
    };
    let found = store
        .upsert_matches(
            t,
            &[name],
            &[
                key(&[(&name, json!("a"))]),
                key(&[(&name, json!("b"))]),
                key(&[(&name, json!("zz"))]),
                key(&[(&name, json!("c"))]),
                key(&[(&name, json!("b"))]),
                key(&[(&name, json!("x\u{0}y"))]),
            ],
        )
        .await
        .unwrap();
    assert_eq!(
        found,
        vec![
            by_id(vec![a1, a2]),
            vec![b],
            vec![],
            vec![],
            vec![b],
            vec![nul]
        ]
    );
    let found = store
        .upsert_matches(
            t,
            &[name, qty],
            &[
                key(&[(&name, json!("b"))]),
                key(&[(&name, json!("a"))]),
                key(&[(&name, json!("a")), (&qty, json!(2))]),
                key(&[(&name, json!("b")), (&qty, Value::Null)]),
                key(&[(&qty, json!(1))]),
            ],
        )
        .await
        .unwrap();
    assert_eq!(found, vec![vec![b], vec![], vec![a2], vec![b], vec![]]);
    assert!(
        store
            .upsert_matches(t, &[name], &[])
            .await
            .unwrap()
            .is_empty()
    );
}

/// Deleted records disappear from reads, come back with include_deleted,
/// and are restored.
pub async fn soft_delete_restore_and_include_deleted(store: Arc<dyn Store>) {
    let fx = Fixture::new(store).await;
    let t = fx.table.table.id;
    let a = fx.create(&[("Name", json!("a"))]).await;
    let b = fx.create(&[("Name", json!("b"))]).await;
    fx.pb
        .delete_records(&fx.editor, t, &[a.id, b.id])
        .await
        .unwrap();
    assert!(matches!(
        fx.pb.get_record(&fx.owner, t, a.id, FieldKey::Name).await,
        Err(Error::NotFound { .. })
    ));
    assert_eq!(count(&fx).await, 0);
    let all = fx
        .pb
        .query_records(
            &fx.owner,
            t,
            QueryInput {
                include_deleted: true,
                ..Default::default()
            },
            FieldKey::Name,
        )
        .await
        .unwrap();
    assert_eq!(all.records.len(), 2);
    assert!(all.records.iter().all(|r| r.deleted_time.is_some()));
    // Deleting again, or deleting a missing id, fails without changes.
    let e = fx
        .pb
        .delete_records(&fx.editor, t, &[a.id])
        .await
        .unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e:?}");
    let restored = fx
        .pb
        .restore_record(&fx.editor, t, a.id, FieldKey::Name)
        .await
        .unwrap();
    assert_eq!(restored.fields["Name"], json!("a"));
    assert!(restored.deleted_time.is_none());
    assert_eq!(count(&fx).await, 1);
    let c = fx.create(&[("Name", json!("c"))]).await;
    let e = fx
        .pb
        .delete_records(&fx.editor, t, &[c.id, RecordId::new()])
        .await
        .unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e:?}");
    assert_eq!(count(&fx).await, 2, "a failed batch delete deletes nothing");
}

/// Uploaded bytes come back with size and hash; attachment cells render
/// full objects; oversize uploads are refused.
pub async fn attachments_round_trip(store: Arc<dyn Store>) {
    let fx = Fixture::new(store).await;
    let o = &fx.owner;
    let t = fx.table.table.id;
    fx.pb
        .create_field(
            o,
            t,
            crate::facade::NewField {
                name: "Files".into(),
                field_type: "attachment".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let chunks = vec![
        Ok::<_, std::io::Error>(bytes::Bytes::from_static(b"hello ")),
        Ok(bytes::Bytes::from_static(b"world")),
    ];
    let a = fx
        .pb
        .upload_attachment(
            &fx.editor,
            t,
            "dir/hello.txt",
            Some("text/plain"),
            futures::stream::iter(chunks),
            1024,
        )
        .await
        .unwrap();
    assert_eq!(a.size, 11);
    assert_eq!(a.filename, "hello.txt");
    assert_eq!(
        a.sha256,
        "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"
    );
    let (meta, stream) = fx.pb.attachment_content(&fx.viewer, a.id).await.unwrap();
    let body: Vec<bytes::Bytes> = stream.try_collect().await.unwrap();
    assert_eq!(body.concat(), b"hello world");
    assert_eq!(meta.content_type, "text/plain");
    let r = fx.create(&[("Files", json!([{ "id": a.id }]))]).await;
    assert_eq!(r.fields["Files"][0]["filename"], json!("hello.txt"));
    assert_eq!(r.fields["Files"][0]["size"], json!(11));
    let big = vec![Ok::<_, std::io::Error>(bytes::Bytes::from(vec![0u8; 2048]))];
    let e = fx
        .pb
        .upload_attachment(
            &fx.editor,
            t,
            "big.bin",
            None,
            futures::stream::iter(big),
            1024,
        )
        .await
        .unwrap_err();
    assert!(matches!(e, Error::PayloadTooLarge { .. }), "{e:?}");
    let e = fx.pb.get_attachment(&fx.outsider, a.id).await.unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e:?}");
    // An attachment of another table put in a cell here by someone who
    // can read that table is copied here (a new id of this table); one of
    // a table the writer cannot read is refused like an unknown id, so no
    // other tenant's attachment is ever shown (REVIEW-security 2.5 #6).
    let other = fx.other_table().await;
    let theirs = fx
        .pb
        .upload_attachment(
            &fx.editor,
            other.table.id,
            "theirs.txt",
            Some("text/plain"),
            futures::stream::iter(vec![Ok::<_, std::io::Error>(bytes::Bytes::from_static(
                b"x",
            ))]),
            1024,
        )
        .await
        .unwrap();
    let copied = fx
        .pb
        .create_record(
            &fx.editor,
            t,
            cells(&[("Files", json!([theirs.id.to_string()]))]),
            WriteOptions::default(),
        )
        .await
        .unwrap();
    let copy_id = copied.fields["Files"][0]["id"].as_str().unwrap().to_owned();
    assert_ne!(copy_id, theirs.id.to_string());
    assert_eq!(copied.fields["Files"][0]["filename"], json!("theirs.txt"));
    let copy = fx
        .pb
        .get_attachment(&fx.editor, copy_id.parse().unwrap())
        .await
        .unwrap();
    assert_eq!(copy.table_id, t);
    let stranger_ws = fx
        .pb
        .create_workspace(
            &fx.outsider,
            crate::facade::NewWorkspace {
                name: format!("Stranger {}", super::fixture::tag()),
                ..crate::facade::NewWorkspace::default()
            },
        )
        .await
        .unwrap();
    let stranger_base = fx
        .pb
        .create_base(
            &fx.outsider,
            stranger_ws.id,
            crate::facade::NewBase {
                name: "B".into(),
                description: None,
            },
        )
        .await
        .unwrap();
    let theirs_table = fx
        .pb
        .create_table(
            &fx.outsider,
            stranger_base.id,
            crate::facade::NewTable {
                name: "T".into(),
                fields: vec![
                    super::computed::nf("Name", "text", Value::Null),
                    super::computed::nf("Files", "attachment", Value::Null),
                ],
                ..crate::facade::NewTable::default()
            },
        )
        .await
        .unwrap();
    let e = fx
        .pb
        .create_record(
            &fx.outsider,
            theirs_table.table.id,
            cells(&[("Files", json!([theirs.id.to_string()]))]),
            WriteOptions::default(),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Validation { .. }), "{e:?}");
    let e = fx
        .create_err(
            &[("Files", json!([{ "id": crate::ids::AttachmentId::new() }]))],
            false,
        )
        .await;
    assert_invalid(&e, "Files");
    // Deleting a table, then a workspace, deletes their attachment bytes
    // (REVIEW-security L6).
    let count = |table: crate::ids::TableId| {
        let objects = fx.pb.object_store().clone();
        async move {
            use futures::StreamExt;
            let prefix = object_store::path::Path::from(format!("attachments/{table}"));
            objects.list(Some(&prefix)).count().await
        }
    };
    assert_eq!(count(other.table.id).await, 1);
    fx.pb.delete_table(&fx.owner, other.table.id).await.unwrap();
    assert_eq!(count(other.table.id).await, 0, "bytes went with the table");
    assert!(count(t).await >= 1);
    fx.pb.delete_workspace(&fx.owner, fx.ws.id).await.unwrap();
    assert_eq!(count(t).await, 0, "bytes went with the workspace");
}

/// Concurrent appends to one attachment cell all land (`append_attachment`
/// is a compare-and-set of the cell, not a lock of this process, so
/// appenders of several server instances behave like these tasks); an
/// append keeps what the cell held, and refuses an attachment of another
/// table, a field that is not an attachment field and a viewer.
pub async fn concurrent_attachment_appends_all_land(store: Arc<dyn Store>) {
    let fx = Fixture::new(store).await;
    let t = fx.table.table.id;
    let files = fx
        .pb
        .create_field(
            &fx.owner,
            t,
            crate::facade::NewField {
                name: "Files".into(),
                field_type: "attachment".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .id;
    let upload = |table: crate::ids::TableId, name: String| {
        let pb = fx.pb.clone();
        let editor = fx.editor.clone();
        async move {
            pb.upload_attachment(
                &editor,
                table,
                &name,
                Some("text/plain"),
                futures::stream::iter(vec![Ok::<_, std::io::Error>(bytes::Bytes::from(
                    name.clone().into_bytes(),
                ))]),
                1024,
            )
            .await
            .unwrap()
            .id
        }
    };
    let first = upload(t, "first.txt".into()).await;
    for round in 0..3 {
        let r = fx.create(&[("Files", json!([{ "id": first }]))]).await;
        let mut ids = Vec::new();
        for i in 0..6 {
            ids.push(upload(t, format!("r{round}-{i}.txt")).await);
        }
        let tasks: Vec<_> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| {
                let (pb, id) = (fx.pb.clone(), *id);
                // Two users, as two clients would be.
                let who = if i % 2 == 0 {
                    fx.editor.clone()
                } else {
                    fx.admin.clone()
                };
                tokio::spawn(async move {
                    pb.append_attachment(&who, t, r.id, files, id, FieldKey::Name)
                        .await
                })
            })
            .collect();
        for task in tasks {
            let out = task.await.unwrap().unwrap();
            assert!(
                out.fields["Files"]
                    .as_array()
                    .is_some_and(|a| !a.is_empty())
            );
        }
        let back = fx
            .pb
            .get_record(&fx.owner, t, r.id, FieldKey::Name)
            .await
            .unwrap();
        let held: Vec<&str> = back.fields["Files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["id"].as_str().unwrap())
            .collect();
        assert_eq!(held.len(), 7, "round {round}: {held:?}");
        assert_eq!(held[0], first.as_str(), "what the cell held stays first");
        for id in &ids {
            assert!(held.contains(&id.as_str()), "round {round}: {id} lost");
        }
    }
    let r = fx.create(&[("Name", json!("x"))]).await;
    let mine = upload(t, "mine.txt".into()).await;
    let other = fx.other_table().await;
    let theirs = upload(other.table.id, "theirs.txt".into()).await;
    let e = fx
        .pb
        .append_attachment(&fx.editor, t, r.id, files, theirs, FieldKey::Name)
        .await
        .unwrap_err();
    assert_invalid(&e, "Files");
    let e = fx
        .pb
        .append_attachment(&fx.editor, t, r.id, fx.field("Name"), mine, FieldKey::Name)
        .await
        .unwrap_err();
    assert_invalid(&e, "Name");
    let e = fx
        .pb
        .append_attachment(&fx.viewer, t, r.id, files, mine, FieldKey::Name)
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Forbidden(_)), "{e:?}");
    let e = fx
        .pb
        .append_attachment(&fx.outsider, t, r.id, files, mine, FieldKey::Name)
        .await
        .unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e:?}");
    let out = fx
        .pb
        .append_attachment(&fx.editor, t, r.id, files, mine, FieldKey::Id)
        .await
        .unwrap();
    assert_eq!(out.fields[files.as_str()][0]["id"], json!(mine));
    assert_eq!(out.fields[fx.field("Name").as_str()], json!("x"));
}

/// Autonumbers follow creation order within a table, batches included.
pub async fn autonumbers_increase(store: Arc<dyn Store>) {
    let fx = Fixture::new(store).await;
    let t = fx.table.table.id;
    let batch: Vec<_> = (0..10).map(|i| cells(&[("Qty", json!(i))])).collect();
    let first = fx
        .pb
        .create_records(&fx.owner, t, batch.clone(), WriteOptions::default())
        .await
        .unwrap();
    let second = fx
        .pb
        .create_records(&fx.owner, t, batch, WriteOptions::default())
        .await
        .unwrap();
    let nums: Vec<i64> = first
        .iter()
        .chain(&second)
        .map(|r| r.fields["No"].as_i64().unwrap())
        .collect();
    assert!(nums.windows(2).all(|w| w[0] < w[1]), "{nums:?}");
    assert_eq!(nums[0], 1);
}

/// Single-record updates stay correct when the schema or the caller's role
/// changed since the last one (stores may validate against fields cached
/// from an earlier read and check role and fields' version as they write):
/// an update right after a field change is validated against the new
/// schema, a member demoted to viewer between two updates gets Forbidden,
/// and a removed member gets NotFound, with nothing written.
pub async fn update_after_field_or_role_change_uses_current_state(store: Arc<dyn Store>) {
    let fx = Fixture::new(store).await;
    let t = fx.table.table.id;
    let w = WriteOptions::default();
    let r = fx.create(&[("Name", json!("n")), ("Qty", json!(1))]).await;
    // Two updates: the second may take a store's cached-fields path.
    for qty in [2, 3] {
        let u = fx
            .pb
            .update_record(&fx.editor, t, r.id, cells(&[("Qty", json!(qty))]), w, false)
            .await
            .unwrap();
        assert_eq!(u.fields["Qty"], json!(qty));
        assert_eq!(u.fields["Name"], json!("n"));
    }

    // Notes becomes a number: text the old schema accepted is now refused.
    fx.pb
        .update_field(
            &fx.owner,
            fx.field("Notes"),
            FieldPatch {
                field_type: Some("number".into()),
                options: Some(json!({ "precision": 0 })),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let e = fx
        .pb
        .update_record(
            &fx.editor,
            t,
            r.id,
            cells(&[("Notes", json!("text"))]),
            w,
            false,
        )
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Validation { .. }), "{e:?}");
    let back = fx
        .pb
        .get_record(&fx.editor, t, r.id, FieldKey::Name)
        .await
        .unwrap();
    assert!(!back.fields.contains_key("Notes"), "{back:?}");
    assert_eq!(back.fields["Qty"], json!(3));
    let u = fx
        .pb
        .update_record(&fx.editor, t, r.id, cells(&[("Notes", json!(5))]), w, false)
        .await
        .unwrap();
    assert_eq!(u.fields["Notes"], json!(5));
    assert_eq!(u.fields["Qty"], json!(3));

    // A renamed field is found by its new name right away, the old is unknown.
    fx.pb
        .update_field(
            &fx.owner,
            fx.field("Qty"),
            FieldPatch {
                name: Some("Quantity".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let e = fx
        .pb
        .update_record(&fx.editor, t, r.id, cells(&[("Qty", json!(4))]), w, false)
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Validation { .. }), "{e:?}");
    let u = fx
        .pb
        .update_record(
            &fx.editor,
            t,
            r.id,
            cells(&[("Quantity", json!(4))]),
            w,
            false,
        )
        .await
        .unwrap();
    assert_eq!(u.fields["Quantity"], json!(4));
    assert_eq!(u.fields["Notes"], json!(5));

    // Demoted to viewer between two updates: the second is Forbidden.
    let editor_id = fx.editor.user_id();
    fx.pb
        .update_member(&fx.owner, fx.ws.id, editor_id, Role::Viewer)
        .await
        .unwrap();
    let e = fx
        .pb
        .update_record(
            &fx.editor,
            t,
            r.id,
            cells(&[("Quantity", json!(5))]),
            w,
            false,
        )
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Forbidden(_)), "{e:?}");
    // Promoted back, then removed: a non-member gets NotFound.
    fx.pb
        .update_member(&fx.owner, fx.ws.id, editor_id, Role::Editor)
        .await
        .unwrap();
    let u = fx
        .pb
        .update_record(
            &fx.editor,
            t,
            r.id,
            cells(&[("Quantity", json!(6))]),
            w,
            false,
        )
        .await
        .unwrap();
    assert_eq!(u.fields["Quantity"], json!(6));
    fx.pb
        .remove_member(&fx.owner, fx.ws.id, editor_id)
        .await
        .unwrap();
    let e = fx
        .pb
        .update_record(
            &fx.editor,
            t,
            r.id,
            cells(&[("Quantity", json!(7))]),
            w,
            false,
        )
        .await
        .unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e:?}");
    let back = fx
        .pb
        .get_record(&fx.owner, t, r.id, FieldKey::Name)
        .await
        .unwrap();
    assert_eq!(back.fields["Quantity"], json!(6));
    assert_eq!(back.fields["Notes"], json!(5));
}
