//! Two-way links through the facade: the inverse field, the pair kept in
//! step by every record write, soft-deleted records hidden and restored,
//! one-way links, deleting one side, concurrent writers.

use std::sync::Arc;

use serde_json::{Value, json};

use super::computed::{events_after, last_seq};
use super::fixture::{Fixture, assert_invalid, cells, tag};
use crate::facade::{FieldKey, FieldPatch, NewField, NewTable, RecordOut, WriteOptions};
use crate::ids::{RecordId, TableId};
use crate::model::Field;
use crate::store::Store;

fn nf(name: &str, ty: &str, options: Value) -> NewField {
    NewField {
        name: name.into(),
        field_type: ty.into(),
        options,
        description: None,
        indexed: false,
    }
}

/// Two tables (`Projects`, `Tasks`, names tagged) and a two-way link
/// `Project` from tasks to projects.
struct Pair {
    fx: Fixture,
    projects: TableId,
    tasks: TableId,
    tasks_name: String,
    link: Field,
}

impl Pair {
    async fn new(store: Arc<dyn Store>, link_options: Value) -> Self {
        let fx = Fixture::new(store).await;
        let mut ids = Vec::new();
        let mut names = Vec::new();
        for name in ["Projects", "Tasks"] {
            let name = format!("{name} {}", tag());
            let t = fx
                .pb
                .create_table(
                    &fx.owner,
                    fx.base.id,
                    NewTable {
                        name: name.clone(),
                        ..NewTable::default()
                    },
                )
                .await
                .unwrap();
            ids.push(t.table.id);
            names.push(name);
        }
        let (projects, tasks) = (ids[0], ids[1]);
        let mut options = json!({ "linked_table_id": projects });
        if let (Value::Object(o), Value::Object(extra)) = (&mut options, link_options) {
            o.extend(extra);
        }
        let link = fx
            .pb
            .create_field(&fx.owner, tasks, nf("Project", "link", options))
            .await
            .unwrap();
        Self {
            fx,
            projects,
            tasks,
            tasks_name: names[1].clone(),
            link,
        }
    }

    async fn fields(&self, table: TableId) -> Vec<Field> {
        self.fx.pb.list_fields(&self.fx.owner, table).await.unwrap()
    }

    async fn inverse(&self) -> Field {
        let id = self.link.field_type.inverse_field_id().unwrap();
        self.fx.pb.get_field(&self.fx.owner, id).await.unwrap()
    }

    /// The inverse, made to take one record.
    async fn single_inverse(&self) -> Field {
        let inverse = self.inverse().await;
        self.fx
            .pb
            .update_field(
                &self.fx.owner,
                inverse.id,
                FieldPatch {
                    options: Some(
                        json!({ "linked_table_id": self.tasks, "allow_multiple": false }),
                    ),
                    ..FieldPatch::default()
                },
            )
            .await
            .unwrap()
    }

    async fn create(&self, table: TableId, pairs: &[(&str, Value)]) -> RecordOut {
        self.fx
            .pb
            .create_record(&self.fx.owner, table, cells(pairs), WriteOptions::default())
            .await
            .unwrap()
    }

    async fn update(
        &self,
        table: TableId,
        id: RecordId,
        pairs: &[(&str, Value)],
    ) -> crate::Result<RecordOut> {
        self.fx
            .pb
            .update_record(
                &self.fx.owner,
                table,
                id,
                cells(pairs),
                WriteOptions::default(),
                false,
            )
            .await
    }

    /// The cell `field` of record `id` as read (`Null` when absent).
    async fn cell(&self, table: TableId, id: RecordId, field: &str) -> Value {
        let r = self
            .fx
            .pb
            .get_record(&self.fx.owner, table, id, FieldKey::Name)
            .await
            .unwrap();
        r.fields.get(field).cloned().unwrap_or(Value::Null)
    }
}

fn ids(records: &[&RecordOut]) -> Value {
    Value::Array(records.iter().map(|r| json!(r.id)).collect())
}

/// Creating a link makes its inverse in the linked table (named after the
/// linking table, made unique), both naming each other; links made from
/// either side, changed, removed, batched and upserted show on the other
/// side in link order.
pub async fn two_way_links_stay_in_step(store: Arc<dyn Store>) {
    let p = Pair::new(store, json!({})).await;
    let inverse = p.inverse().await;
    assert_eq!(inverse.table_id, p.projects);
    assert_eq!(inverse.name, p.tasks_name);
    let opts = inverse.field_type.options_json();
    assert_eq!(opts["linked_table_id"], json!(p.tasks));
    assert_eq!(opts["allow_multiple"], json!(true));
    assert_eq!(opts["inverse_field_id"], json!(p.link.id));
    assert_eq!(
        p.link.field_type.options_json()["inverse_field_id"],
        json!(inverse.id)
    );
    assert!(p.link.field_type.options_json().get("two_way").is_none());
    // The stored link names its inverse too.
    let stored = p.fx.pb.get_field(&p.fx.owner, p.link.id).await.unwrap();
    assert_eq!(stored, p.link);
    // A second link between the same tables gets the next free name.
    let second =
        p.fx.pb
            .create_field(
                &p.fx.owner,
                p.tasks,
                nf(
                    "Reviewed in",
                    "link",
                    json!({ "linked_table_id": p.projects }),
                ),
            )
            .await
            .unwrap();
    let second_inverse = second.field_type.inverse_field_id().unwrap();
    let names: Vec<String> = p
        .fields(p.projects)
        .await
        .into_iter()
        .filter(|f| f.id == second_inverse)
        .map(|f| f.name)
        .collect();
    assert_eq!(names, vec![format!("{} 2", p.tasks_name)]);

    let inv = inverse.name.as_str();
    let p1 = p.create(p.projects, &[("Name", json!("p1"))]).await;
    let p2 = p.create(p.projects, &[("Name", json!("p2"))]).await;
    let t1 = p
        .create(
            p.tasks,
            &[("Name", json!("t1")), ("Project", json!([p1.id]))],
        )
        .await;
    let t2 = p
        .create(
            p.tasks,
            &[("Name", json!("t2")), ("Project", json!([p1.id]))],
        )
        .await;
    assert_eq!(p.cell(p.projects, p1.id, inv).await, ids(&[&t1, &t2]));
    // Moving t1 to p2 leaves p1 and joins p2.
    p.update(p.tasks, t1.id, &[("Project", json!([p2.id]))])
        .await
        .unwrap();
    assert_eq!(p.cell(p.projects, p1.id, inv).await, ids(&[&t2]));
    assert_eq!(p.cell(p.projects, p2.id, inv).await, ids(&[&t1]));
    // Writing the inverse side changes the tasks.
    p.update(p.projects, p2.id, &[(inv, json!([t1.id, t2.id]))])
        .await
        .unwrap();
    assert_eq!(p.cell(p.tasks, t2.id, "Project").await, ids(&[&p1, &p2]));
    // Clearing a link (the single-update fast path) removes it on both sides.
    p.update(p.tasks, t1.id, &[("Project", Value::Null)])
        .await
        .unwrap();
    assert_eq!(p.cell(p.tasks, t1.id, "Project").await, Value::Null);
    assert_eq!(p.cell(p.projects, p2.id, inv).await, ids(&[&t2]));
    // Batches: create and update several records at once.
    let made =
        p.fx.pb
            .create_records(
                &p.fx.owner,
                p.tasks,
                vec![
                    cells(&[("Name", json!("t3")), ("Project", json!([p1.id, p2.id]))]),
                    cells(&[("Name", json!("t4")), ("Project", json!([p2.id]))]),
                ],
                WriteOptions::default(),
            )
            .await
            .unwrap();
    let (t3, t4) = (&made[0], &made[1]);
    assert_eq!(p.cell(p.projects, p1.id, inv).await, ids(&[&t2, t3]));
    assert_eq!(p.cell(p.projects, p2.id, inv).await, ids(&[&t2, t3, t4]));
    p.fx.pb
        .update_records(
            &p.fx.owner,
            p.tasks,
            vec![
                (t3.id, cells(&[("Project", json!([p2.id]))])),
                (t2.id, cells(&[("Project", Value::Null)])),
            ],
            WriteOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(p.cell(p.projects, p1.id, inv).await, Value::Null);
    assert_eq!(p.cell(p.projects, p2.id, inv).await, ids(&[t3, t4]));
    // Upserts update and create through the same pairing.
    p.fx.pb
        .upsert_records(
            &p.fx.owner,
            p.tasks,
            &["Name".into()],
            vec![
                cells(&[("Name", json!("t4")), ("Project", json!([p1.id]))]),
                cells(&[("Name", json!("t5")), ("Project", json!([p1.id]))]),
            ],
            WriteOptions::default(),
        )
        .await
        .unwrap();
    let t5 =
        p.fx.pb
            .query_records(
                &p.fx.owner,
                p.tasks,
                crate::facade::QueryInput {
                    filter: Some(json!({ "field": "Name", "op": "eq", "value": "t5" })),
                    ..Default::default()
                },
                FieldKey::Name,
            )
            .await
            .unwrap()
            .records
            .remove(0);
    assert_eq!(p.cell(p.projects, p1.id, inv).await, ids(&[t4, &t5]));
    assert_eq!(p.cell(p.projects, p2.id, inv).await, ids(&[t3]));
    // A link to a record that does not exist is refused (nothing changes).
    let e = p
        .update(p.tasks, t3.id, &[("Project", json!([RecordId::new()]))])
        .await
        .unwrap_err();
    assert_invalid(&e, "Project");
    assert_eq!(p.cell(p.projects, p2.id, inv).await, ids(&[t3]));
}

/// Links to soft-deleted records leave link cells on read and come back
/// on restore; linking to a soft-deleted record is refused. The records
/// linking to one are not rewritten, so a soft delete or a restore logs
/// the record's own event only (docs/API.md, "Not logged").
pub async fn soft_deleted_links_hide_and_come_back(store: Arc<dyn Store>) {
    let p = Pair::new(store, json!({})).await;
    let inv = p.inverse().await.name;
    let p1 = p.create(p.projects, &[("Name", json!("p1"))]).await;
    let t1 = p
        .create(
            p.tasks,
            &[("Name", json!("t1")), ("Project", json!([p1.id]))],
        )
        .await;
    let t2 = p
        .create(
            p.tasks,
            &[("Name", json!("t2")), ("Project", json!([p1.id]))],
        )
        .await;
    let own_event_only = |from: i64, kind: crate::store::ChangeKind, id: RecordId| {
        let fx = &p.fx;
        async move {
            let log = events_after(fx, from).await;
            let summary: Vec<_> = log.iter().map(|e| (e.kind, e.record_id)).collect();
            assert_eq!(summary, [(kind, Some(id))], "{log:?}");
        }
    };
    let before_delete = last_seq(&p.fx).await;
    p.fx.pb
        .delete_records(&p.fx.owner, p.tasks, &[t1.id])
        .await
        .unwrap();
    own_event_only(
        before_delete,
        crate::store::ChangeKind::RecordDeleted,
        t1.id,
    )
    .await;
    assert_eq!(p.cell(p.projects, p1.id, &inv).await, ids(&[&t2]));
    p.fx.pb
        .delete_records(&p.fx.owner, p.projects, &[p1.id])
        .await
        .unwrap();
    // A cell whose every linked record is deleted reads as empty.
    assert_eq!(p.cell(p.tasks, t2.id, "Project").await, Value::Null);
    let e = p
        .update(p.tasks, t2.id, &[("Project", json!([p1.id]))])
        .await
        .unwrap_err();
    assert_invalid(&e, "Project");
    p.fx.pb
        .restore_record(&p.fx.owner, p.projects, p1.id, FieldKey::Name)
        .await
        .unwrap();
    let before_restore = last_seq(&p.fx).await;
    p.fx.pb
        .restore_record(&p.fx.owner, p.tasks, t1.id, FieldKey::Name)
        .await
        .unwrap();
    own_event_only(
        before_restore,
        crate::store::ChangeKind::RecordRestored,
        t1.id,
    )
    .await;
    assert_eq!(p.cell(p.projects, p1.id, &inv).await, ids(&[&t1, &t2]));
    assert_eq!(p.cell(p.tasks, t2.id, "Project").await, ids(&[&p1]));
    // Lists hide them too.
    p.fx.pb
        .delete_records(&p.fx.owner, p.tasks, &[t2.id])
        .await
        .unwrap();
    let page =
        p.fx.pb
            .query_records(
                &p.fx.owner,
                p.projects,
                crate::facade::QueryInput::default(),
                FieldKey::Name,
            )
            .await
            .unwrap();
    assert_eq!(page.records[0].fields[&inv], ids(&[&t1]));
}

/// `two_way: false` and links to their own table make no inverse;
/// deleting or re-typing one side of a pair leaves the other a one-way
/// link with its cells; `two_way: false` on an update unpairs.
pub async fn one_way_links_and_deleting_a_side(store: Arc<dyn Store>) {
    let p = Pair::new(store, json!({ "two_way": false })).await;
    assert_eq!(p.link.field_type.inverse_field_id(), None);
    assert_eq!(p.fields(p.projects).await.len(), 1);
    let own =
        p.fx.pb
            .create_field(
                &p.fx.owner,
                p.tasks,
                nf("Parent", "link", json!({ "linked_table_id": p.tasks })),
            )
            .await
            .unwrap();
    assert_eq!(own.field_type.inverse_field_id(), None);
    assert_eq!(p.fields(p.tasks).await.len(), 3);
    // A client's inverse_field_id is never taken.
    let forged = p
        .fx
        .pb
        .create_field(
            &p.fx.owner,
            p.tasks,
            nf(
                "Forged",
                "link",
                json!({ "linked_table_id": p.projects, "two_way": false, "inverse_field_id": own.id }),
            ),
        )
        .await
        .unwrap();
    assert_eq!(forged.field_type.inverse_field_id(), None);

    let p = Pair::new(p.fx.store.clone(), json!({})).await;
    let inverse = p.inverse().await;
    let p1 = p.create(p.projects, &[("Name", json!("p1"))]).await;
    let t1 = p
        .create(
            p.tasks,
            &[("Name", json!("t1")), ("Project", json!([p1.id]))],
        )
        .await;
    // Changing the link's options keeps the pairing.
    let changed = p
        .fx
        .pb
        .update_field(
            &p.fx.owner,
            p.link.id,
            FieldPatch {
                options: Some(json!({ "linked_table_id": p.projects, "allow_multiple": false })),
                ..FieldPatch::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(changed.field_type.inverse_field_id(), Some(inverse.id));
    // Deleting the inverse leaves the link one-way, cells kept.
    p.fx.pb.delete_field(&p.fx.owner, inverse.id).await.unwrap();
    let link = p.fx.pb.get_field(&p.fx.owner, p.link.id).await.unwrap();
    assert_eq!(link.field_type.inverse_field_id(), None);
    assert!(
        link.field_type
            .options_json()
            .get("inverse_field_id")
            .is_none()
    );
    assert_eq!(p.cell(p.tasks, t1.id, "Project").await, ids(&[&p1]));
    let t2 = p
        .create(
            p.tasks,
            &[("Name", json!("t2")), ("Project", json!([p1.id]))],
        )
        .await;
    assert_eq!(p.cell(p.tasks, t2.id, "Project").await, ids(&[&p1]));

    // `two_way: false` on an update unpairs; the other side keeps its cells.
    let p = Pair::new(p.fx.store.clone(), json!({})).await;
    let inverse = p.inverse().await;
    let p1 = p.create(p.projects, &[("Name", json!("p1"))]).await;
    let t1 = p
        .create(
            p.tasks,
            &[("Name", json!("t1")), ("Project", json!([p1.id]))],
        )
        .await;
    let unpaired =
        p.fx.pb
            .update_field(
                &p.fx.owner,
                p.link.id,
                FieldPatch {
                    options: Some(json!({ "linked_table_id": p.projects, "two_way": false })),
                    ..FieldPatch::default()
                },
            )
            .await
            .unwrap();
    assert_eq!(unpaired.field_type.inverse_field_id(), None);
    let back = p.fx.pb.get_field(&p.fx.owner, inverse.id).await.unwrap();
    assert_eq!(back.field_type.inverse_field_id(), None);
    assert_eq!(p.cell(p.projects, p1.id, &inverse.name).await, ids(&[&t1]));
    p.update(p.tasks, t1.id, &[("Project", Value::Null)])
        .await
        .unwrap();
    assert_eq!(p.cell(p.projects, p1.id, &inverse.name).await, ids(&[&t1]));

    // Re-typing one side away from a link unpairs the other.
    let p = Pair::new(p.fx.store.clone(), json!({})).await;
    let inverse = p.inverse().await;
    p.fx.pb
        .update_field(
            &p.fx.owner,
            inverse.id,
            FieldPatch {
                field_type: Some("long_text".into()),
                ..FieldPatch::default()
            },
        )
        .await
        .unwrap();
    let link = p.fx.pb.get_field(&p.fx.owner, p.link.id).await.unwrap();
    assert_eq!(link.field_type.inverse_field_id(), None);

    // A link made with a new table is paired too.
    let p = Pair::new(p.fx.store.clone(), json!({ "two_way": false })).await;
    let made =
        p.fx.pb
            .create_table(
                &p.fx.owner,
                p.fx.base.id,
                NewTable {
                    name: format!("Milestones {}", tag()),
                    fields: vec![
                        nf("Name", "text", Value::Null),
                        nf("Project", "link", json!({ "linked_table_id": p.projects })),
                        nf(
                            "Reviewed in",
                            "link",
                            json!({ "linked_table_id": p.projects }),
                        ),
                    ],
                    ..NewTable::default()
                },
            )
            .await
            .unwrap();
    let link = &made.fields[1];
    let inverse_id = link.field_type.inverse_field_id().unwrap();
    let inverse = p.fx.pb.get_field(&p.fx.owner, inverse_id).await.unwrap();
    assert_eq!(inverse.name, made.table.name);
    assert_eq!(inverse.field_type.inverse_field_id(), Some(link.id));
    let stored = p.fx.pb.get_field(&p.fx.owner, link.id).await.unwrap();
    assert_eq!(&stored, link);
    // Two links to one table: the second inverse gets the next free name.
    let second = made.fields[2].field_type.inverse_field_id().unwrap();
    let second = p.fx.pb.get_field(&p.fx.owner, second).await.unwrap();
    assert_eq!(second.name, format!("{} 2", made.table.name));
    let p1 = p.create(p.projects, &[("Name", json!("p1"))]).await;
    let m1 = p
        .create(
            made.table.id,
            &[("Name", json!("m1")), ("Project", json!([p1.id]))],
        )
        .await;
    assert_eq!(p.cell(p.projects, p1.id, &inverse.name).await, ids(&[&m1]));
}

/// An inverse limited to one record refuses a second link (422 naming it,
/// nothing changed); moving the one link is accepted.
pub async fn single_record_inverse_refuses_a_second_link(store: Arc<dyn Store>) {
    let p = Pair::new(store, json!({})).await;
    let inverse = p.single_inverse().await;
    assert_eq!(inverse.field_type.inverse_field_id(), Some(p.link.id));
    let p1 = p.create(p.projects, &[("Name", json!("p1"))]).await;
    let t1 = p
        .create(
            p.tasks,
            &[("Name", json!("t1")), ("Project", json!([p1.id]))],
        )
        .await;
    let e =
        p.fx.pb
            .create_record(
                &p.fx.owner,
                p.tasks,
                cells(&[("Name", json!("t2")), ("Project", json!([p1.id]))]),
                WriteOptions::default(),
            )
            .await
            .unwrap_err();
    assert_invalid(&e, &inverse.name);
    let page =
        p.fx.pb
            .query_records(
                &p.fx.owner,
                p.tasks,
                crate::facade::QueryInput::default(),
                FieldKey::Name,
            )
            .await
            .unwrap();
    assert_eq!(page.records.len(), 1, "the refused record was not created");
    assert_eq!(p.cell(p.projects, p1.id, &inverse.name).await, ids(&[&t1]));
    let t2 = p.create(p.tasks, &[("Name", json!("t2"))]).await;
    // Moving: t1 leaves p1, then t2 may join it.
    p.update(p.tasks, t1.id, &[("Project", Value::Null)])
        .await
        .unwrap();
    p.update(p.tasks, t2.id, &[("Project", json!([p1.id]))])
        .await
        .unwrap();
    assert_eq!(p.cell(p.projects, p1.id, &inverse.name).await, ids(&[&t2]));
}

/// A soft-deleted record lets go of a single-record inverse another record
/// takes (a reviewer's case: the cell read empty, yet a new link was
/// refused as a second one): the new link lands, the deleted record's own
/// cell loses it, so restoring it brings no second link back, and the log
/// has the deleted record's change.
pub async fn a_soft_deleted_record_lets_go_of_a_single_record_inverse(store: Arc<dyn Store>) {
    let p = Pair::new(store, json!({})).await;
    let inverse = p.single_inverse().await;
    let p1 = p.create(p.projects, &[("Name", json!("p1"))]).await;
    let t1 = p
        .create(
            p.tasks,
            &[("Name", json!("t1")), ("Project", json!([p1.id]))],
        )
        .await;
    p.fx.pb
        .delete_records(&p.fx.owner, p.tasks, &[t1.id])
        .await
        .unwrap();
    assert_eq!(p.cell(p.projects, p1.id, &inverse.name).await, Value::Null);
    // Taken on create, through the facade's check and the store's write.
    let before = last_seq(&p.fx).await;
    let t2 = p
        .create(
            p.tasks,
            &[("Name", json!("t2")), ("Project", json!([p1.id]))],
        )
        .await;
    assert_eq!(p.cell(p.projects, p1.id, &inverse.name).await, ids(&[&t2]));
    let let_go = events_after(&p.fx, before).await;
    assert!(
        let_go
            .iter()
            .any(|e| e.record_id == Some(t1.id)
                && e.changed_fields.as_deref() == Some(&[p.link.id][..])),
        "the deleted record's cell change is logged: {let_go:?}"
    );
    p.fx.pb
        .restore_record(&p.fx.owner, p.tasks, t1.id, FieldKey::Name)
        .await
        .unwrap();
    assert_eq!(p.cell(p.tasks, t1.id, "Project").await, Value::Null);
    assert_eq!(p.cell(p.projects, p1.id, &inverse.name).await, ids(&[&t2]));
    let linking =
        p.fx.store
            .records_linking_to(p.tasks, p.link.id, &[p1.id])
            .await
            .unwrap();
    assert_eq!(linking, vec![(p1.id, t2.id)]);
    // A live holder still refuses a second link.
    let e =
        p.fx.pb
            .update_record(
                &p.fx.owner,
                p.tasks,
                t1.id,
                cells(&[("Project", json!([p1.id]))]),
                WriteOptions::default(),
                false,
            )
            .await
            .unwrap_err();
    assert_invalid(&e, &inverse.name);
}

/// Many writers linking to one record at once: every link lands in its
/// inverse cell (no lost update).
pub async fn concurrent_links_to_one_record_all_land(store: Arc<dyn Store>) {
    let p = Arc::new(Pair::new(store, json!({})).await);
    let inv = p.inverse().await.name;
    let p1 = p.create(p.projects, &[("Name", json!("p1"))]).await;
    let tasks: Vec<RecordOut> = futures::future::join_all((0..8).map(|i| {
        let p = Arc::clone(&p);
        async move { p.create(p.tasks, &[("Name", json!(format!("t{i}")))]).await }
    }))
    .await;
    let writes = tasks.iter().map(|t| {
        let p = Arc::clone(&p);
        let (id, target) = (t.id, p1.id);
        async move {
            p.update(p.tasks, id, &[("Project", json!([target]))])
                .await
                .unwrap()
        }
    });
    futures::future::join_all(writes).await;
    let cell = p.cell(p.projects, p1.id, &inv).await;
    let mut got: Vec<String> = cell
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    got.sort();
    let mut want: Vec<String> = tasks.iter().map(|t| t.id.to_string()).collect();
    want.sort();
    assert_eq!(got, want);
}

/// The stores' reverse index answers who links to whom after every kind
/// of link write: creates, updates, the partner side kept in step, upserts,
/// a retype away from a link and back, soft deletes (still indexed).
pub async fn reverse_index_follows_link_writes(store: Arc<dyn Store>) {
    let p = Pair::new(store, json!({})).await;
    let inverse = p.inverse().await;
    let st = &p.fx.store;
    let p1 = p.create(p.projects, &[("Name", json!("p1"))]).await;
    let p2 = p.create(p.projects, &[("Name", json!("p2"))]).await;
    let t1 = p
        .create(
            p.tasks,
            &[("Name", json!("t1")), ("Project", json!([p1.id]))],
        )
        .await;
    let t2 = p
        .create(
            p.tasks,
            &[("Name", json!("t2")), ("Project", json!([p1.id, p2.id]))],
        )
        .await;
    let mut want = vec![(p1.id, t1.id), (p1.id, t2.id), (p2.id, t2.id)];
    want.sort();
    let got = st
        .records_linking_to(p.tasks, p.link.id, &[p1.id, p2.id])
        .await
        .unwrap();
    assert_eq!(got, want);
    // The inverse cells are indexed too.
    let mut want = vec![(t1.id, p1.id), (t2.id, p1.id), (t2.id, p2.id)];
    want.sort();
    let got = st
        .records_linking_to(p.projects, inverse.id, &[t1.id, t2.id])
        .await
        .unwrap();
    assert_eq!(got, want);
    // A write of the inverse side re-indexes both sides.
    p.update(p.projects, p1.id, &[(&inverse.name, json!([t2.id]))])
        .await
        .unwrap();
    let got = st
        .records_linking_to(p.tasks, p.link.id, &[p1.id])
        .await
        .unwrap();
    assert_eq!(got, vec![(p1.id, t2.id)]);
    let got = st
        .records_linking_to(p.projects, inverse.id, &[t1.id])
        .await
        .unwrap();
    assert_eq!(got, vec![]);
    // Soft-deleted sources stay indexed (their links come back on restore).
    p.fx.pb
        .delete_records(&p.fx.owner, p.tasks, &[t2.id])
        .await
        .unwrap();
    let got = st
        .records_linking_to(p.tasks, p.link.id, &[p2.id])
        .await
        .unwrap();
    assert_eq!(got, vec![(p2.id, t2.id)]);
    // Upserts.
    p.fx.pb
        .upsert_records(
            &p.fx.owner,
            p.tasks,
            &["Name".into()],
            vec![cells(&[("Name", json!("t1")), ("Project", json!([p2.id]))])],
            WriteOptions::default(),
        )
        .await
        .unwrap();
    let got = st
        .records_linking_to(p.tasks, p.link.id, &[p2.id])
        .await
        .unwrap();
    let mut want = vec![(p2.id, t1.id), (p2.id, t2.id)];
    want.sort();
    assert_eq!(got, want);
    // A retype to text leaves nothing indexed; back to a link, the text's
    // names (the projects' primary values) link the same records again.
    let mut linked = st
        .records_linking_to(p.tasks, p.link.id, &[p1.id, p2.id])
        .await
        .unwrap();
    linked.sort();
    for ty in ["long_text", "link"] {
        let options = (ty == "link").then(|| json!({ "linked_table_id": p.projects }));
        let e =
            p.fx.pb
                .update_field(
                    &p.fx.owner,
                    p.link.id,
                    FieldPatch {
                        field_type: Some(ty.into()),
                        options,
                        ..FieldPatch::default()
                    },
                )
                .await;
        e.unwrap();
        let got = st
            .records_linking_to(p.tasks, p.link.id, &[p1.id, p2.id])
            .await
            .unwrap();
        if ty == "link" {
            let mut got = got;
            got.sort();
            assert_eq!(got, linked);
        } else {
            assert_eq!(got, vec![]);
        }
    }
}

/// Writers on both sides of a pair at once (tasks moving between projects,
/// projects' inverse cells rewritten): every write succeeds and afterwards
/// each side mirrors the other exactly.
pub async fn concurrent_writes_on_both_sides_stay_mirrored(store: Arc<dyn Store>) {
    let p = Arc::new(Pair::new(store, json!({})).await);
    let inv = p.inverse().await.name;
    let p1 = p.create(p.projects, &[("Name", json!("p1"))]).await;
    let p2 = p.create(p.projects, &[("Name", json!("p2"))]).await;
    let mut tasks = Vec::new();
    for i in 0..6 {
        tasks.push(
            p.create(
                p.tasks,
                &[
                    ("Name", json!(format!("t{i}"))),
                    ("Project", json!([p1.id])),
                ],
            )
            .await,
        );
    }
    let task_ids: Vec<RecordId> = tasks.iter().map(|t| t.id).collect();
    let mut writes = Vec::new();
    for round in 0..3 {
        for (i, t) in task_ids.iter().enumerate() {
            let p = Arc::clone(&p);
            let (t, to) = (*t, if (i + round) % 2 == 0 { p2.id } else { p1.id });
            writes.push(tokio::spawn(async move {
                p.update(p.tasks, t, &[("Project", json!([to]))]).await
            }));
        }
        for (k, project) in [p1.id, p2.id].into_iter().enumerate() {
            let p = Arc::clone(&p);
            let inv = inv.clone();
            let some: Vec<RecordId> = task_ids
                .iter()
                .enumerate()
                .filter(|(i, _)| (i + k + round) % 3 == 0)
                .map(|(_, t)| *t)
                .collect();
            writes.push(tokio::spawn(async move {
                p.update(p.projects, project, &[(&inv, json!(some))]).await
            }));
        }
    }
    for w in writes {
        w.await.unwrap().unwrap();
    }
    for t in &task_ids {
        let linked = p.cell(p.tasks, *t, "Project").await;
        for project in [p1.id, p2.id] {
            let back = p.cell(p.projects, project, &inv).await;
            let holds = |cell: &Value, id: RecordId| {
                cell.as_array().is_some_and(|a| a.contains(&json!(id)))
            };
            assert_eq!(
                holds(&linked, project),
                holds(&back, *t),
                "task {t} and project {project} disagree: {linked} vs {back}"
            );
        }
    }
}

/// The change log sees the partner side of a link write: linking a task to
/// a project logs `record.updated` of the project's inverse cell, with its
/// before and after, in the same commit as the task's own event.
pub async fn partner_cells_are_logged(store: Arc<dyn Store>) {
    let p = Pair::new(store, json!({})).await;
    let inverse = p.inverse().await;
    let p1 = p.create(p.projects, &[("Name", json!("p1"))]).await;
    let p2 = p.create(p.projects, &[("Name", json!("p2"))]).await;
    let start =
        p.fx.pb
            .changes_since(&p.fx.viewer, p.fx.base.id, 0, Some(1000))
            .await
            .unwrap()
            .last_seq;
    let t1 = p
        .create(
            p.tasks,
            &[("Name", json!("t1")), ("Project", json!([p1.id]))],
        )
        .await;
    p.update(p.tasks, t1.id, &[("Project", json!([p2.id]))])
        .await
        .unwrap();
    let log =
        p.fx.pb
            .changes_since(&p.fx.viewer, p.fx.base.id, start, Some(1000))
            .await
            .unwrap()
            .items;
    use crate::store::ChangeKind::{RecordCreated, RecordUpdated};
    let summary: Vec<(crate::store::ChangeKind, Option<RecordId>)> =
        log.iter().map(|e| (e.kind, e.record_id)).collect();
    // Each write's own event first, then its partners' (in any order).
    assert_eq!(summary.len(), 5, "{log:?}");
    assert_eq!(
        summary[..3],
        [
            (RecordCreated, Some(t1.id)),
            (RecordUpdated, Some(p1.id)),
            (RecordUpdated, Some(t1.id)),
        ],
        "{log:?}"
    );
    let moved = |id: RecordId| {
        log[3..]
            .iter()
            .find(|e| e.record_id == Some(id) && e.kind == RecordUpdated)
            .unwrap_or_else(|| panic!("no event of {id}: {log:?}"))
    };
    let inv = inverse.id.to_string();
    // p1 gains t1, then loses it; p2 gains it. Only the inverse cell.
    assert_eq!(log[1].before, Some(json!({})));
    assert_eq!(log[1].after, Some(json!({ inv.clone(): [t1.id] })));
    assert_eq!(log[1].changed_fields, Some(vec![inverse.id]));
    assert_eq!(moved(p1.id).before, Some(json!({ inv.clone(): [t1.id] })));
    assert_eq!(moved(p1.id).after, Some(json!({})));
    assert_eq!(moved(p2.id).after, Some(json!({ inv: [t1.id] })));
    // The partner events are of the projects table.
    assert_eq!(log[1].table_id, Some(p.projects));
}
