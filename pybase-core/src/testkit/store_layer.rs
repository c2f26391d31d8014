//! Store-layer cases: the clauses of the storage traits' contract
//! (`crate::store` and its method docs) called directly, without the
//! facade in between, one case per clause: `NotFound` and `Conflict` per
//! method that documents them, all-or-nothing batches, list order,
//! cascades, the last owner, the refresh-token spend race and the
//! reset-token single use. The cases of this file set up through the
//! facade; those of the submodules build rows straight on the store
//! (`build`), so every value is the case's own. Every case is listed in
//! [`conformance_tests!`](crate::conformance_tests) as `store_layer::<case>`.

pub mod build;
mod query;
mod records;
mod schema;
mod users;
mod workspaces;

use std::fmt::Debug;
use std::sync::Arc;

use chrono::TimeDelta;
use serde_json::json;

use super::fixture::{Fixture, cells, make_user};
use crate::StoreError;
use crate::clock::Clock;
use crate::facade::WriteOptions;
use crate::ids::{RecordId, TableId, UserId};
use crate::model::Cells;
use crate::role::Role;
use crate::store::{CachedFields, FieldsVersion, PasswordReset, RecordPatch, Store, UpdateGuard};

pub use query::*;
pub use records::*;
pub use schema::*;
pub use users::*;
pub use workspaces::*;

/// Asserts `NotFound`.
#[track_caller]
fn assert_not_found<T: Debug>(result: crate::StoreResult<T>) {
    match result {
        Err(StoreError::NotFound { .. }) => {}
        other => panic!("expected NotFound, got {other:?}"),
    }
}

/// Asserts `Conflict` naming `entity` and `field`.
#[track_caller]
// Taken by value so call sites read `assert_conflict(store.op().await, ..)`.
#[allow(clippy::needless_pass_by_value)]
fn assert_conflict<T: Debug>(result: crate::StoreResult<T>, entity: &str, field: &str) {
    match &result {
        Err(StoreError::Conflict {
            entity: e,
            field: f,
        }) if *e == entity && f == field => {}
        _ => panic!("expected Conflict {{ {entity}, {field} }}, got {result:?}"),
    }
}

fn patch(id: RecordId, field: &str, value: serde_json::Value) -> RecordPatch {
    let mut set = Cells::new();
    set.insert(field.to_owned(), value);
    RecordPatch {
        id,
        set,
        unset: Vec::new(),
        replace: false,
    }
}

/// `update_record_guarded` writes only while the record is live, the user's
/// role is allowed and the fields are the ones the patch was checked
/// against; otherwise it answers `None` and changes nothing.
pub async fn update_record_guarded_checks_role_fields_and_record(store: Arc<dyn Store>) {
    let fx = Fixture::new(store.clone()).await;
    let t = fx.table.table.id;
    let rec = fx.create(&[("Name", json!("a"))]).await.id;
    let now = fx.pb.clock().now();
    // The fields as the store holds them: its cache (with the backend's
    // version key) after a read, or as read for a store without a cache.
    let current_fields = || async {
        let access = store.table_access(t, fx.editor.user_id()).await.unwrap();
        store.cached_fields(t).unwrap_or(CachedFields {
            workspace_id: fx.ws.id,
            fields: access.fields.clone(),
            version: FieldsVersion(Arc::from(Vec::<String>::new())),
        })
    };
    let current = current_fields().await;
    let name = fx.field("Name").to_string();
    let guard = |roles: Vec<Role>, fields: CachedFields| UpdateGuard {
        user: fx.editor.user_id(),
        roles,
        fields,
        cells: crate::model::Cells::new(),
    };
    let writers = vec![Role::Editor, Role::Admin, Role::Owner];
    // One guarded write of `value` into Name of `id` in `table`.
    let write = |table: TableId, id: RecordId, value: &'static str, guard: UpdateGuard| {
        let store = store.clone();
        let p = patch(id, &name, json!(value));
        async move {
            store
                .update_record_guarded(table, &p, &guard, now, None)
                .await
                .unwrap()
        }
    };
    let done = write(t, rec, "b", guard(writers.clone(), current.clone()))
        .await
        .expect("all conditions hold");
    assert_eq!(done.cells[&name], json!("b"));
    // The role is not among the allowed ones.
    let r = write(t, rec, "c", guard(vec![Role::Owner], current.clone())).await;
    assert!(r.is_none(), "role");
    // The fields changed since the patch was checked.
    fx.pb
        .create_field(
            &fx.owner,
            t,
            crate::facade::NewField {
                name: "Added later".into(),
                field_type: "text".into(),
                ..crate::facade::NewField::default()
            },
        )
        .await
        .unwrap();
    let r = write(t, rec, "c", guard(writers.clone(), current.clone())).await;
    assert!(r.is_none(), "stale fields");
    let current = current_fields().await;
    // Another workspace's fields.
    let mut elsewhere = current.clone();
    elsewhere.workspace_id = crate::ids::WorkspaceId::new();
    let r = write(t, rec, "c", guard(writers.clone(), elsewhere)).await;
    assert!(r.is_none(), "workspace");
    // A missing record, a missing table.
    let r = write(
        t,
        RecordId::new(),
        "c",
        guard(writers.clone(), current.clone()),
    )
    .await;
    assert!(r.is_none(), "missing record");
    let r = write(
        TableId::new(),
        rec,
        "c",
        guard(writers.clone(), current.clone()),
    )
    .await;
    assert!(r.is_none(), "missing table");
    // Expected cells (a compare-and-set): a cell that differs stops the
    // write; an empty cell is expected as null.
    let qty = fx.field("Qty").to_string();
    let expecting = |expected: &[(&str, serde_json::Value)]| {
        let mut g = guard(writers.clone(), current.clone());
        for (f, v) in expected {
            g.cells.insert((*f).to_owned(), v.clone());
        }
        g
    };
    let r = write(t, rec, "c", expecting(&[(&name, json!("a"))])).await;
    assert!(r.is_none(), "a cell changed since it was read");
    let r = write(t, rec, "c", expecting(&[(&qty, json!(5))])).await;
    assert!(r.is_none(), "an empty cell expected to hold a value");
    let r = write(
        t,
        rec,
        "b",
        expecting(&[(&name, json!("b")), (&qty, serde_json::Value::Null)]),
    )
    .await;
    assert_eq!(r.expect("the expected cells hold").cells[&name], json!("b"));
    // Nothing above changed the record.
    let stored = store.get_record(t, rec, false).await.unwrap();
    assert_eq!(stored.cells[&name], json!("b"));
    // A deleted record is not written either.
    store.delete_records(t, &[rec], now).await.unwrap();
    let r = write(t, rec, "c", guard(writers, current)).await;
    assert!(r.is_none(), "deleted record");
}

/// `query_records_guarded` answers exactly `query_records`' page while the
/// user's role is allowed and the fields are current, and `None` (nothing
/// read) when any of that fails; a store may also always answer `None`.
pub async fn query_records_guarded_reads_only_while_current(store: Arc<dyn Store>) {
    let fx = Fixture::new(store.clone()).await;
    let t = fx.table.table.id;
    for v in ["b", "a", "c"] {
        fx.create(&[("Name", json!(v))]).await;
    }
    let current_fields = || async {
        let access = store.table_access(t, fx.editor.user_id()).await.unwrap();
        store.cached_fields(t).unwrap_or(CachedFields {
            workspace_id: fx.ws.id,
            fields: access.fields.clone(),
            version: FieldsVersion(Arc::from(Vec::<String>::new())),
        })
    };
    let current = current_fields().await;
    let name = fx.field("Name");
    let query = |table: TableId| crate::query::RecordQuery {
        table_id: table,
        filter: None,
        sort: vec![crate::query::SortKey {
            target: crate::query::Target::Cell {
                field: name,
                kind: crate::fields::ValueKind::Text,
            },
            desc: true,
        }],
        after: None,
        limit: 2,
        include_deleted: false,
        log_seq: false,
    };
    let guard = |roles: Vec<Role>, fields: CachedFields| UpdateGuard {
        user: fx.editor.user_id(),
        roles,
        fields,
        cells: crate::model::Cells::new(),
    };
    let readers = vec![Role::Viewer, Role::Editor, Role::Admin, Role::Owner];
    let read = |table: TableId, guard: UpdateGuard| {
        let store = store.clone();
        let q = query(table);
        async move { store.query_records_guarded(&q, &guard).await.unwrap() }
    };
    let expected = store.query_records(&query(t)).await.unwrap();
    let names = |page: &crate::query::RecordPage| -> Vec<serde_json::Value> {
        page.records
            .iter()
            .map(|r| r.cells[name.as_str()].clone())
            .collect()
    };
    assert_eq!(names(&expected), [json!("c"), json!("b")]);
    assert!(expected.has_more);
    if let Some(page) = read(t, guard(readers.clone(), current.clone())).await {
        assert_eq!(page, expected, "the guarded page is the page");
    }
    // The role is not among the allowed ones.
    let r = read(t, guard(vec![Role::Owner], current.clone())).await;
    assert!(r.is_none(), "role");
    // Another workspace.
    let mut elsewhere = current.clone();
    elsewhere.workspace_id = crate::ids::WorkspaceId::new();
    assert!(
        read(t, guard(readers.clone(), elsewhere)).await.is_none(),
        "workspace"
    );
    // A missing table.
    let r = read(TableId::new(), guard(readers.clone(), current.clone())).await;
    assert!(r.is_none(), "missing table");
    // The fields changed since they were read.
    fx.pb
        .create_field(
            &fx.owner,
            t,
            crate::facade::NewField {
                name: "Added later".into(),
                field_type: "text".into(),
                ..crate::facade::NewField::default()
            },
        )
        .await
        .unwrap();
    let r = read(t, guard(readers, current)).await;
    assert!(r.is_none(), "stale fields");
}

/// `table_access` and `record_access`: the role of a member, `None` for a
/// non-member, `NotFound` for an absent table; a deleted or absent record
/// is `None` while `get_record` finds a deleted one only when asked.
pub async fn table_and_record_access_read_one_consistent_state(store: Arc<dyn Store>) {
    let fx = Fixture::new(store.clone()).await;
    let t = fx.table.table.id;
    let rec = fx.create(&[("Name", json!("a"))]).await.id;
    let a = store.table_access(t, fx.viewer.user_id()).await.unwrap();
    assert_eq!(a.role, Some(Role::Viewer));
    assert_eq!(a.table.id, t);
    assert_eq!(a.fields.len(), fx.table.fields.len());
    let a = store.table_access(t, fx.outsider.user_id()).await.unwrap();
    assert_eq!(a.role, None);
    assert!(matches!(
        store.table_access(TableId::new(), fx.owner.user_id()).await,
        Err(StoreError::NotFound { .. })
    ));
    let (a, r) = store
        .record_access(t, rec, fx.editor.user_id())
        .await
        .unwrap();
    assert_eq!(a.role, Some(Role::Editor));
    assert_eq!(r.map(|r| r.id), Some(rec));
    let (_, r) = store
        .record_access(t, RecordId::new(), fx.editor.user_id())
        .await
        .unwrap();
    assert!(r.is_none());
    let now = fx.pb.clock().now();
    store.delete_records(t, &[rec], now).await.unwrap();
    let (_, r) = store
        .record_access(t, rec, fx.editor.user_id())
        .await
        .unwrap();
    assert!(r.is_none(), "a deleted record is not live");
    assert!(matches!(
        store.get_record(t, rec, false).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(
        store
            .get_record(t, rec, true)
            .await
            .unwrap()
            .deleted_time
            .is_some()
    );
    assert!(matches!(
        store
            .record_access(TableId::new(), rec, fx.editor.user_id())
            .await,
        Err(StoreError::NotFound { .. })
    ));
}

/// Every record operation is scoped by its table: another table's record
/// ids are not found, and nothing of that table changes.
pub async fn records_of_another_table_are_not_found(store: Arc<dyn Store>) {
    let fx = Fixture::new(store.clone()).await;
    let t = fx.table.table.id;
    let other = fx.other_table().await;
    let theirs = fx
        .pb
        .create_record(
            &fx.owner,
            other.table.id,
            cells(&[("Name", json!("theirs"))]),
            WriteOptions::default(),
        )
        .await
        .unwrap()
        .id;
    let now = fx.pb.clock().now();
    let name = fx.field("Name").to_string();
    assert!(matches!(
        store.get_record(t, theirs, true).await,
        Err(StoreError::NotFound { .. })
    ));
    let (_, r) = store
        .record_access(t, theirs, fx.owner.user_id())
        .await
        .unwrap();
    assert!(r.is_none());
    assert!(matches!(
        store
            .update_records(t, &[patch(theirs, &name, json!("x"))], now, None)
            .await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        store.delete_records(t, &[theirs], now).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        store.restore_record(t, theirs).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(
        store
            .live_record_ids(t, &[theirs])
            .await
            .unwrap()
            .is_empty()
    );
    let kept = store
        .get_record(other.table.id, theirs, false)
        .await
        .unwrap();
    assert!(kept.deleted_time.is_none());
    assert_eq!(kept.cells.values().next(), Some(&json!("theirs")));
}

/// A reset token is returned at most once, even to concurrent callers, and
/// not after it expires.
pub async fn reset_tokens_are_used_at_most_once_under_concurrency(store: Arc<dyn Store>) {
    let user = make_user(&store, "reset").await;
    let now = crate::clock::SystemClock.now();
    let hash = format!("hash-{}", super::fixture::tag());
    store
        .insert_password_reset(&PasswordReset {
            token_hash: hash.clone(),
            user_id: user.id,
            created_at: now,
            expires_at: now + TimeDelta::hours(1),
            used_at: None,
        })
        .await
        .unwrap();
    let tries = (0..16).map(|_| {
        let store = store.clone();
        let hash = hash.clone();
        tokio::spawn(async move { store.use_password_reset(&hash, now).await })
    });
    let wins = futures::future::join_all(tries)
        .await
        .into_iter()
        .filter(|r| matches!(r, Ok(Ok(Some(_)))))
        .count();
    assert_eq!(wins, 1);
    let late = format!("late-{}", super::fixture::tag());
    store
        .insert_password_reset(&PasswordReset {
            token_hash: late.clone(),
            user_id: user.id,
            created_at: now,
            expires_at: now + TimeDelta::hours(1),
            used_at: None,
        })
        .await
        .unwrap();
    assert!(
        store
            .use_password_reset(&late, now + TimeDelta::hours(2))
            .await
            .unwrap()
            .is_none()
    );
}

/// Users: `get_users` skips missing ids, `update_user` refuses a taken
/// email, `delete_user` takes the user's memberships with it.
pub async fn users_batch_read_email_conflict_and_delete_cascade(store: Arc<dyn Store>) {
    let fx = Fixture::new(store.clone()).await;
    let a = make_user(&store, "a").await;
    let b = make_user(&store, "b").await;
    // Times are kept to the millisecond: compare what identifies a user.
    let key = |u: &crate::model::User| (u.id, u.email.clone(), u.name.clone());
    let mut found: Vec<_> = store
        .get_users(&[a.id, UserId::new(), b.id])
        .await
        .unwrap()
        .iter()
        .map(key)
        .collect();
    found.sort();
    let mut want = vec![key(&a), key(&b)];
    want.sort();
    assert_eq!(found, want);
    let mut taken = a.clone();
    taken.email = b.email.clone();
    assert!(matches!(
        store.update_user(&taken).await,
        Err(StoreError::Conflict { entity: "user", ref field }) if field == "email"
    ));
    let viewer = fx.viewer.user_id();
    assert_eq!(
        store.member_role(fx.ws.id, viewer).await.unwrap(),
        Some(Role::Viewer)
    );
    store.delete_user(viewer).await.unwrap();
    assert_eq!(store.member_role(fx.ws.id, viewer).await.unwrap(), None);
    assert!(
        !store
            .list_members(fx.ws.id)
            .await
            .unwrap()
            .iter()
            .any(|m| m.user.id == viewer)
    );
    assert!(matches!(
        store.delete_user(viewer).await,
        Err(StoreError::NotFound { .. })
    ));
}
