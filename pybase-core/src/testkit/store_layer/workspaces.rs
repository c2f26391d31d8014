//! The clauses of [`crate::store::WorkspacesStore`]: slugs, members, the
//! last owner, list order and the cascade of a deleted workspace.

use std::sync::Arc;

use chrono::TimeDelta;
use serde_json::json;

use super::build::{
    attachment, base, cells, now, record, table, table_with, text, user, view, workspace,
};
use super::{assert_conflict, assert_not_found};
use crate::ids::{UserId, WorkspaceId};
use crate::role::Role;
use crate::store::Store;

/// `create_workspace` and `update_workspace` refuse a taken slug with
/// `Conflict { field: "slug" }` and change nothing; `get_workspace`,
/// `update_workspace` and `delete_workspace` answer `NotFound` for an
/// absent workspace.
pub async fn workspace_slugs_are_unique_and_absent_ones_not_found(store: Arc<dyn Store>) {
    let a = user(&*store, "a").await;
    let ws = workspace();
    store.create_workspace(&ws, a.id).await.unwrap();
    assert_eq!(store.get_workspace(ws.id).await.unwrap(), ws);
    let taken = crate::model::Workspace {
        id: WorkspaceId::new(),
        ..ws.clone()
    };
    assert_conflict(
        store.create_workspace(&taken, a.id).await,
        "workspace",
        "slug",
    );
    assert_not_found(store.get_workspace(taken.id).await);
    assert_eq!(store.list_workspaces(a.id).await.unwrap().len(), 1);
    let mut other = workspace();
    store.create_workspace(&other, a.id).await.unwrap();
    other.slug = ws.slug.clone();
    assert_conflict(store.update_workspace(&other).await, "workspace", "slug");
    let mut renamed = ws.clone();
    renamed.name = "Renamed".into();
    renamed.slug = format!("{}-2", ws.slug);
    renamed.description = Some("d".into());
    renamed.updated_at = now() + TimeDelta::seconds(1);
    store.update_workspace(&renamed).await.unwrap();
    assert_eq!(store.get_workspace(ws.id).await.unwrap(), renamed);
    let absent = workspace();
    assert_not_found(store.update_workspace(&absent).await);
    assert_not_found(store.delete_workspace(absent.id).await);
    assert_eq!(store.member_role(absent.id, a.id).await.unwrap(), None);
}

/// Members: `add_member` answers `Conflict { field: "user" }` for a
/// member and `NotFound` for an absent workspace or user;
/// `set_member_role` and `remove_member` answer `NotFound` for a
/// non-member.
pub async fn members_conflict_and_not_found(store: Arc<dyn Store>) {
    let (a, b) = (user(&*store, "a").await, user(&*store, "b").await);
    let ws = workspace();
    store.create_workspace(&ws, a.id).await.unwrap();
    assert_eq!(
        store.member_role(ws.id, a.id).await.unwrap(),
        Some(Role::Owner)
    );
    let t = now();
    assert_not_found(
        store
            .add_member(ws.id, UserId::new(), Role::Viewer, t)
            .await,
    );
    assert_not_found(
        store
            .add_member(WorkspaceId::new(), b.id, Role::Viewer, t)
            .await,
    );
    assert_not_found(store.set_member_role(ws.id, b.id, Role::Editor).await);
    assert_not_found(store.remove_member(ws.id, b.id).await);
    store
        .add_member(ws.id, b.id, Role::Editor, t)
        .await
        .unwrap();
    assert_conflict(
        store.add_member(ws.id, b.id, Role::Viewer, t).await,
        "member",
        "user",
    );
    assert_eq!(
        store.member_role(ws.id, b.id).await.unwrap(),
        Some(Role::Editor)
    );
    store
        .set_member_role(ws.id, b.id, Role::Admin)
        .await
        .unwrap();
    assert_eq!(
        store.member_role(ws.id, b.id).await.unwrap(),
        Some(Role::Admin)
    );
    store.remove_member(ws.id, b.id).await.unwrap();
    assert_eq!(store.member_role(ws.id, b.id).await.unwrap(), None);
    assert!(store.list_workspaces(b.id).await.unwrap().is_empty());
}

/// The only owner can be neither demoted nor removed
/// (`Conflict { entity: "member", field: "last_owner" }`); of two owners
/// demoting each other at once, exactly one succeeds.
pub async fn the_last_owner_stays_even_under_concurrency(store: Arc<dyn Store>) {
    let (a, b) = (user(&*store, "a").await, user(&*store, "b").await);
    let ws = workspace();
    store.create_workspace(&ws, a.id).await.unwrap();
    assert_conflict(
        store.set_member_role(ws.id, a.id, Role::Admin).await,
        "member",
        "last_owner",
    );
    assert_conflict(
        store.remove_member(ws.id, a.id).await,
        "member",
        "last_owner",
    );
    assert_eq!(
        store.member_role(ws.id, a.id).await.unwrap(),
        Some(Role::Owner)
    );
    let t = now();
    store.add_member(ws.id, b.id, Role::Owner, t).await.unwrap();
    for round in 0..10 {
        let (s1, s2) = (store.clone(), store.clone());
        let (x, y) = tokio::join!(
            tokio::spawn(async move { s1.set_member_role(ws.id, a.id, Role::Viewer).await }),
            tokio::spawn(async move { s2.set_member_role(ws.id, b.id, Role::Viewer).await })
        );
        let (x, y) = (x.unwrap(), y.unwrap());
        assert_eq!(
            u8::from(x.is_ok()) + u8::from(y.is_ok()),
            1,
            "round {round}: {x:?} {y:?}"
        );
        let owners = store
            .list_members(ws.id)
            .await
            .unwrap()
            .iter()
            .filter(|m| m.role == Role::Owner)
            .count();
        assert_eq!(owners, 1, "round {round}");
        // Both owners again for the next round.
        store
            .set_member_role(ws.id, a.id, Role::Owner)
            .await
            .unwrap();
        store
            .set_member_role(ws.id, b.id, Role::Owner)
            .await
            .unwrap();
        // Removing at once: one of them stays.
        if round % 2 == 1 {
            let (s1, s2) = (store.clone(), store.clone());
            let (x, y) = tokio::join!(
                tokio::spawn(async move { s1.remove_member(ws.id, a.id).await }),
                tokio::spawn(async move { s2.remove_member(ws.id, b.id).await })
            );
            assert_eq!(
                u8::from(x.unwrap().is_ok()) + u8::from(y.unwrap().is_ok()),
                1,
                "round {round}"
            );
            for u in [a.id, b.id] {
                if store.member_role(ws.id, u).await.unwrap().is_none() {
                    store.add_member(ws.id, u, Role::Owner, t).await.unwrap();
                }
            }
        }
    }
}

/// `list_workspaces` and `list_members` are oldest first (ids and times
/// rise together, as core makes them).
pub async fn workspaces_and_members_list_oldest_first(store: Arc<dyn Store>) {
    let a = user(&*store, "a").await;
    let t = now();
    let mut made = Vec::new();
    for i in 0..4 {
        let mut ws = workspace();
        ws.created_at = t + TimeDelta::seconds(i);
        store.create_workspace(&ws, a.id).await.unwrap();
        made.push(ws.id);
    }
    let listed: Vec<WorkspaceId> = store
        .list_workspaces(a.id)
        .await
        .unwrap()
        .iter()
        .map(|(w, role)| {
            assert_eq!(*role, Role::Owner);
            w.id
        })
        .collect();
    assert_eq!(listed, made);
    let ws = made[0];
    let mut want = vec![a.id];
    for i in 0..4 {
        let u = user(&*store, "m").await;
        store
            .add_member(ws, u.id, Role::Viewer, t + TimeDelta::seconds(10 + i))
            .await
            .unwrap();
        want.push(u.id);
    }
    let members: Vec<UserId> = store
        .list_members(ws)
        .await
        .unwrap()
        .iter()
        .map(|m| m.user.id)
        .collect();
    assert_eq!(members, want);
}

/// Deleting a workspace removes its members, bases, tables, fields,
/// views, records and attachment rows, and nothing of another workspace.
pub async fn deleting_a_workspace_removes_everything_in_it(store: Arc<dyn Store>) {
    let a = user(&*store, "a").await;
    let (ws, b, t, f) = table_with(&*store, a.id, &[("Name", text())]).await;
    let (_, _, kept_table, kept_fields) = table_with(&*store, a.id, &[("Name", text())]).await;
    let second = table(&b, "T2", 1);
    store.create_table(&second, &[]).await.unwrap();
    let v = view(t.id, "Grid", 0);
    store.create_view(&v).await.unwrap();
    let rec = store
        .create_records(t.id, &[record(cells(&[(f[0].id, json!("x"))]), None)])
        .await
        .unwrap()
        .remove(0);
    let kept_rec = store
        .create_records(
            kept_table.id,
            &[record(cells(&[(kept_fields[0].id, json!("y"))]), None)],
        )
        .await
        .unwrap()
        .remove(0);
    let att = attachment(t.id);
    store.create_attachment(&att).await.unwrap();
    let other = base(ws.id, "B2");
    store.create_base(&other).await.unwrap();
    store.delete_workspace(ws.id).await.unwrap();
    assert_not_found(store.get_workspace(ws.id).await);
    assert_eq!(store.member_role(ws.id, a.id).await.unwrap(), None);
    assert!(store.list_members(ws.id).await.unwrap().is_empty());
    assert!(store.list_bases(ws.id).await.unwrap().is_empty());
    assert_not_found(store.get_base(b.id).await);
    assert_not_found(store.get_base(other.id).await);
    assert_not_found(store.get_table(t.id).await);
    assert_not_found(store.get_table(second.id).await);
    assert_not_found(store.get_field(f[0].id).await);
    assert_not_found(store.get_view(v.id).await);
    assert_not_found(store.get_record(t.id, rec.id, true).await);
    assert_not_found(store.get_attachment(att.id).await);
    assert_eq!(store.list_workspaces(a.id).await.unwrap().len(), 1);
    assert_eq!(
        store
            .get_record(kept_table.id, kept_rec.id, false)
            .await
            .unwrap(),
        kept_rec
    );
    assert_not_found(store.delete_workspace(ws.id).await);
}
