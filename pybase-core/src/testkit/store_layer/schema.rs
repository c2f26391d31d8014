//! The clauses of [`crate::store::SchemaStore`]: `NotFound` per method,
//! unique field names, list order, cascades and cell rewrites.

use std::sync::Arc;

use chrono::TimeDelta;
use serde_json::json;

use super::build::{
    attachment, base, cells, field, now, number, record, table, table_with, text, user, view,
};
use super::{assert_conflict, assert_not_found};
use crate::ids::{BaseId, FieldId, TableId, ViewId, WorkspaceId};
use crate::store::Store;

/// Every schema method that documents `NotFound` answers it for an absent
/// row (or an absent parent, when inserting).
pub async fn schema_methods_answer_not_found(store: Arc<dyn Store>) {
    let a = user(&*store, "a").await;
    let (ws, b, t, _) = table_with(&*store, a.id, &[("Name", text())]).await;
    assert_not_found(store.create_base(&base(WorkspaceId::new(), "B")).await);
    assert_not_found(store.get_base(BaseId::new()).await);
    let absent_base = base(ws.id, "absent");
    assert_not_found(store.update_base(&absent_base).await);
    assert_not_found(store.delete_base(absent_base.id).await);
    assert_not_found(store.get_table(TableId::new()).await);
    assert_not_found(
        store
            .create_field(&field(TableId::new(), "x", text(), 0))
            .await,
    );
    assert_not_found(store.get_field(FieldId::new()).await);
    assert_not_found(store.create_view(&view(TableId::new(), "V", 0)).await);
    assert_not_found(store.get_view(ViewId::new()).await);
    let absent_view = view(t.id, "absent", 0);
    assert_not_found(store.update_view(&absent_view).await);
    assert_not_found(store.delete_view(absent_view.id).await);
    // Nothing was inserted by the refused calls.
    assert_eq!(store.list_bases(ws.id).await.unwrap(), vec![b]);
    assert!(store.list_views(t.id).await.unwrap().is_empty());
}

/// Field names are unique in a table ignoring case (by Rust's lowercasing,
/// not the database's locale): `Conflict { entity: "field", field: "name" }`
/// on create and on update; another table may reuse the name.
pub async fn field_names_are_unique_in_a_table_ignoring_case(store: Arc<dyn Store>) {
    let a = user(&*store, "a").await;
    let (_, b, t, f) = table_with(&*store, a.id, &[("Name", text()), ("Qty", number())]).await;
    assert_conflict(
        store.create_field(&field(t.id, "NAME", text(), 5)).await,
        "field",
        "name",
    );
    store
        .create_field(&field(t.id, "Ä", text(), 6))
        .await
        .unwrap();
    assert_conflict(
        store.create_field(&field(t.id, "ä", text(), 7)).await,
        "field",
        "name",
    );
    let mut qty = f[1].clone();
    qty.name = "name".into();
    assert_conflict(store.update_field(&qty).await, "field", "name");
    assert_eq!(store.get_field(qty.id).await.unwrap(), f[1]);
    let other = table(&b, "Other", 1);
    store
        .create_table(&other, &[field(other.id, "Name", text(), 0)])
        .await
        .unwrap();
    assert_eq!(store.list_fields(t.id).await.unwrap().len(), 3);
}

/// What is saved is what is read back: bases, tables, fields and views.
pub async fn schema_rows_keep_what_they_are_given(store: Arc<dyn Store>) {
    let a = user(&*store, "a").await;
    let (ws, mut b, mut t, f) =
        table_with(&*store, a.id, &[("Name", text()), ("Qty", number())]).await;
    let later = now() + TimeDelta::seconds(1);
    b.name = "B2".into();
    b.description = Some("about".into());
    b.updated_at = later;
    store.update_base(&b).await.unwrap();
    assert_eq!(store.get_base(b.id).await.unwrap(), b);
    assert_eq!(store.list_bases(ws.id).await.unwrap(), vec![b.clone()]);
    t.name = "T2".into();
    t.description = Some("about".into());
    t.primary_field_id = Some(f[1].id);
    t.position = 4;
    t.updated_at = later;
    store.update_table(&t).await.unwrap();
    assert_eq!(store.get_table(t.id).await.unwrap(), t);
    assert_eq!(store.list_fields(t.id).await.unwrap(), f);
    let mut qty = f[1].clone();
    qty.name = "Amount".into();
    qty.description = Some("how many".into());
    qty.field_type = text();
    qty.position = 9;
    qty.updated_at = later;
    store.update_field(&qty).await.unwrap();
    assert_eq!(store.get_field(qty.id).await.unwrap(), qty);
    let mut v = view(t.id, "Grid", 0);
    v.config.hidden_fields = vec![f[1].id];
    v.config.filter = Some(json!({"field": f[0].id, "op": "eq", "value": "x"}));
    store.create_view(&v).await.unwrap();
    assert_eq!(store.get_view(v.id).await.unwrap(), v);
    v.name = "Grid 2".into();
    v.position = 3;
    v.config.hidden_fields.clear();
    v.updated_at = later;
    store.update_view(&v).await.unwrap();
    assert_eq!(store.list_views(t.id).await.unwrap(), vec![v]);
}

/// Bases are listed oldest first; tables, fields and views by position,
/// then id.
pub async fn schema_lists_follow_their_documented_order(store: Arc<dyn Store>) {
    let a = user(&*store, "a").await;
    let (ws, b, t, first) = table_with(&*store, a.id, &[]).await;
    assert!(first.is_empty());
    let t0 = now();
    let mut bases = vec![b.id];
    for i in 1..3 {
        let mut nb = base(ws.id, "B");
        nb.created_at = t0 + TimeDelta::seconds(i);
        store.create_base(&nb).await.unwrap();
        bases.push(nb.id);
    }
    let listed: Vec<BaseId> = store
        .list_bases(ws.id)
        .await
        .unwrap()
        .iter()
        .map(|x| x.id)
        .collect();
    assert_eq!(listed, bases);
    // Positions 2, 0, 1, 0: ties fall back to the id (creation order).
    let positions = [2, 0, 1, 0];
    let mut tables = vec![(t.position, t.id)];
    let mut fields = Vec::new();
    let mut views = Vec::new();
    for (i, p) in positions.iter().enumerate() {
        let nt = table(&b, &format!("T{i}"), *p);
        store.create_table(&nt, &[]).await.unwrap();
        tables.push((*p, nt.id));
        let nf = field(t.id, &format!("F{i}"), text(), *p);
        store.create_field(&nf).await.unwrap();
        fields.push((*p, nf.id));
        let nv = view(t.id, &format!("V{i}"), *p);
        store.create_view(&nv).await.unwrap();
        views.push((*p, nv.id));
    }
    tables.sort_by(|x, y| x.0.cmp(&y.0).then(x.1.as_str().cmp(y.1.as_str())));
    fields.sort_by(|x, y| x.0.cmp(&y.0).then(x.1.as_str().cmp(y.1.as_str())));
    views.sort_by(|x, y| x.0.cmp(&y.0).then(x.1.as_str().cmp(y.1.as_str())));
    let got: Vec<_> = store
        .list_tables(b.id)
        .await
        .unwrap()
        .iter()
        .map(|x| (x.position, x.id))
        .collect();
    assert_eq!(got, tables);
    let got: Vec<_> = store
        .list_fields(t.id)
        .await
        .unwrap()
        .iter()
        .map(|x| (x.position, x.id))
        .collect();
    assert_eq!(got, fields);
    let got: Vec<_> = store
        .list_views(t.id)
        .await
        .unwrap()
        .iter()
        .map(|x| (x.position, x.id))
        .collect();
    assert_eq!(got, views);
}

/// Deleting a base removes its tables (and what hangs off them); deleting
/// a table removes its fields, views, records and attachment rows; nothing
/// else is touched.
pub async fn deleting_a_base_or_table_removes_what_hangs_off_it(store: Arc<dyn Store>) {
    let a = user(&*store, "a").await;
    let (ws, b, t, f) = table_with(&*store, a.id, &[("Name", text())]).await;
    let sibling = table(&b, "Sibling", 1);
    let sf = field(sibling.id, "Name", text(), 0);
    store
        .create_table(&sibling, std::slice::from_ref(&sf))
        .await
        .unwrap();
    let v = view(t.id, "Grid", 0);
    store.create_view(&v).await.unwrap();
    let rec = store
        .create_records(t.id, &[record(cells(&[(f[0].id, json!("x"))]), None)])
        .await
        .unwrap()
        .remove(0);
    let kept = store
        .create_records(sibling.id, &[record(cells(&[(sf.id, json!("y"))]), None)])
        .await
        .unwrap()
        .remove(0);
    let att = attachment(t.id);
    store.create_attachment(&att).await.unwrap();
    let kept_att = attachment(sibling.id);
    store.create_attachment(&kept_att).await.unwrap();
    store.delete_table(t.id).await.unwrap();
    assert_not_found(store.get_table(t.id).await);
    assert_not_found(store.get_field(f[0].id).await);
    assert_not_found(store.get_view(v.id).await);
    assert_not_found(store.get_record(t.id, rec.id, true).await);
    assert_not_found(store.get_attachment(att.id).await);
    assert!(store.list_fields(t.id).await.unwrap().is_empty());
    assert!(store.list_views(t.id).await.unwrap().is_empty());
    assert_eq!(
        store.get_record(sibling.id, kept.id, false).await.unwrap(),
        kept
    );
    assert_eq!(store.get_attachment(kept_att.id).await.unwrap(), kept_att);
    let other_base = base(ws.id, "Other");
    store.create_base(&other_base).await.unwrap();
    store.delete_base(b.id).await.unwrap();
    assert_not_found(store.get_base(b.id).await);
    assert_not_found(store.get_table(sibling.id).await);
    assert_not_found(store.get_field(sf.id).await);
    assert_not_found(store.get_record(sibling.id, kept.id, true).await);
    assert_not_found(store.get_attachment(kept_att.id).await);
    assert!(store.list_tables(b.id).await.unwrap().is_empty());
    assert_eq!(store.list_bases(ws.id).await.unwrap(), vec![other_base]);
}

/// `replace_field` saves the field and rewrites its cells in one step,
/// soft-deleted records included (`None` removes a cell); `delete_field`
/// removes the field's cells from every record.
pub async fn replace_and_delete_field_rewrite_every_record(store: Arc<dyn Store>) {
    let a = user(&*store, "a").await;
    let (_, _, t, f) = table_with(&*store, a.id, &[("Name", text()), ("Qty", number())]).await;
    let recs = store
        .create_records(
            t.id,
            &[
                record(cells(&[(f[0].id, json!("a")), (f[1].id, json!(1))]), None),
                record(cells(&[(f[0].id, json!("b")), (f[1].id, json!(2))]), None),
                record(cells(&[(f[0].id, json!("c")), (f[1].id, json!(3))]), None),
            ],
        )
        .await
        .unwrap();
    store
        .delete_records(t.id, &[recs[1].id], now())
        .await
        .unwrap();
    let mut qty = f[1].clone();
    qty.field_type = text();
    store
        .replace_field(
            &qty,
            &[
                (recs[0].id, Some(json!("one"))),
                (recs[1].id, Some(json!("two"))),
                (recs[2].id, None),
            ],
        )
        .await
        .unwrap();
    assert_eq!(store.get_field(qty.id).await.unwrap(), qty);
    let mut got = store.field_cells(t.id, qty.id).await.unwrap();
    got.sort_by(|x, y| x.0.as_str().cmp(y.0.as_str()));
    let mut want = vec![(recs[0].id, json!("one")), (recs[1].id, json!("two"))];
    want.sort_by(|x, y| x.0.as_str().cmp(y.0.as_str()));
    assert_eq!(got, want);
    let deleted = store.get_record(t.id, recs[1].id, true).await.unwrap();
    assert_eq!(deleted.cells[qty.id.as_str()], json!("two"));
    store.delete_field(f[0].id).await.unwrap();
    assert_not_found(store.get_field(f[0].id).await);
    for r in &recs {
        let r = store.get_record(t.id, r.id, true).await.unwrap();
        assert!(!r.cells.contains_key(f[0].id.as_str()), "{r:?}");
    }
    assert!(store.field_cells(t.id, f[0].id).await.unwrap().is_empty());
}

/// `replace_field_if` rewrites only while the field's cells are the ones it
/// was given (a conversion computed from them): after a write changed one,
/// or made a record with a cell of the field, it writes nothing and says
/// so; with the cells as they are, it writes.
pub async fn replace_field_if_compares_the_cells_first(store: Arc<dyn Store>) {
    let a = user(&*store, "a").await;
    let (_, _, t, f) = table_with(&*store, a.id, &[("Name", text()), ("Qty", number())]).await;
    let recs = store
        .create_records(
            t.id,
            &[
                record(cells(&[(f[1].id, json!(1))]), None),
                record(cells(&[(f[1].id, json!(2))]), None),
            ],
        )
        .await
        .unwrap();
    let snapshot = store.field_cells(t.id, f[1].id).await.unwrap();
    let mut qty = f[1].clone();
    qty.field_type = text();
    let changes = vec![
        (recs[0].id, Some(json!("1"))),
        (recs[1].id, Some(json!("2"))),
    ];
    // A write lands after the snapshot: refused, nothing written.
    let patch = crate::store::RecordPatch {
        id: recs[1].id,
        set: cells(&[(f[1].id, json!(20))]),
        ..crate::store::RecordPatch::default()
    };
    store
        .update_records(t.id, &[patch], now(), Some(a.id))
        .await
        .unwrap();
    assert!(
        !store
            .replace_field_if(&qty, &changes, &snapshot)
            .await
            .unwrap()
    );
    assert_eq!(store.get_field(qty.id).await.unwrap(), f[1]);
    let now_cells = store.field_cells(t.id, f[1].id).await.unwrap();
    assert!(
        now_cells.contains(&(recs[1].id, json!(20))),
        "{now_cells:?}"
    );
    // A new record with a cell of the field: refused too.
    store
        .create_records(t.id, &[record(cells(&[(f[1].id, json!(3))]), None)])
        .await
        .unwrap();
    assert!(
        !store
            .replace_field_if(&qty, &changes, &now_cells)
            .await
            .unwrap()
    );
    // From the cells as they are: written.
    let fresh = store.field_cells(t.id, f[1].id).await.unwrap();
    let changes: Vec<_> = fresh
        .iter()
        .map(|(r, v)| (*r, Some(json!(v.to_string()))))
        .collect();
    assert!(
        store
            .replace_field_if(&qty, &changes, &fresh)
            .await
            .unwrap()
    );
    assert_eq!(store.get_field(qty.id).await.unwrap(), qty);
    let got = store.field_cells(t.id, qty.id).await.unwrap();
    assert_eq!(got.len(), 3);
    assert!(got.contains(&(recs[1].id, json!("20"))), "{got:?}");
}
