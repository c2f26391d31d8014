//! Schema, workspace and auth rules as the SQLite backend enforces them.

use chrono::TimeDelta;
use pybase_core::StoreError;
use pybase_core::fields::FieldType;
use pybase_core::fields::kinds::{LongText, Number, Text};
use pybase_core::ids::{ApiKeyId, UserId};
use pybase_core::model::ApiKey;
use pybase_core::role::{Role, Scope};
use pybase_core::store::{
    AuthStore, PasswordReset, RecordsStore, RefreshToken, RotateOutcome, SchemaStore, SessionState,
    StoredApiKey, WorkspacesStore,
};
use pybase_store_sqlite::SqliteStore;
use serde_json::json;

use crate::common::{cells, field, fixture, memory, new_record, now, user};

fn cell_indexes(path: &std::path::Path) -> Vec<String> {
    let conn = rusqlite::Connection::open(path).unwrap();
    let mut stmt = conn
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'index' AND name LIKE 'cell_%' ORDER BY name")
        .unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[tokio::test]
async fn indexed_fields_get_an_index_that_follows_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("i.db");
    let store = SqliteStore::open(&path).unwrap();
    let fx = fixture(&store).await;
    let mut f = field(
        fx.table.id,
        "Code",
        FieldType::Text(Text { max_length: None }),
        9,
    );
    f.indexed = true;
    store.create_field(&f).await.unwrap();
    let name = format!("cell_{}", f.id);
    assert_eq!(cell_indexes(&path), vec![name.clone()]);
    // The index serves queries and keeps data correct.
    store
        .create_records(
            fx.table.id,
            &[new_record(cells(&[(f.id, json!("x"))]), None)],
        )
        .await
        .unwrap();
    f.indexed = false;
    store.update_field(&f).await.unwrap();
    assert!(cell_indexes(&path).is_empty());
    f.indexed = true;
    store.replace_field(&f, &[]).await.unwrap();
    assert_eq!(cell_indexes(&path), vec![name.clone()]);
    store.delete_field(f.id).await.unwrap();
    assert!(cell_indexes(&path).is_empty());

    // Deleting a table, base or workspace drops its fields' indexes.
    let mut g = field(
        fx.table.id,
        "Other",
        FieldType::Number(Number { precision: 0 }),
        10,
    );
    g.indexed = true;
    store.create_field(&g).await.unwrap();
    assert_eq!(cell_indexes(&path).len(), 1);
    store.delete_workspace(fx.ws.id).await.unwrap();
    assert!(cell_indexes(&path).is_empty());
    assert!(matches!(
        store.get_table(fx.table.id).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        store.get_field(g.id).await,
        Err(StoreError::NotFound { .. })
    ));
}

#[tokio::test]
async fn field_names_are_unique_ignoring_case() {
    let store = memory();
    let fx = fixture(&*store).await;
    let dup = field(fx.table.id, "TEXT", FieldType::LongText(LongText), 5);
    let err = store.create_field(&dup).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::Conflict { entity: "field", field, .. } if field == "name"),
        "{err:?}"
    );
    // The same name in another table is fine.
    let other = fixture(&*store).await;
    store
        .create_field(&field(
            other.table.id,
            "Extra",
            FieldType::LongText(LongText),
            5,
        ))
        .await
        .unwrap();
    store
        .create_field(&field(
            fx.table.id,
            "Extra",
            FieldType::LongText(LongText),
            5,
        ))
        .await
        .unwrap();
    let mut renamed = store.get_field(fx.number).await.unwrap();
    renamed.name = "extra".into();
    assert!(matches!(
        store.update_field(&renamed).await,
        Err(StoreError::Conflict { .. })
    ));
    let missing = field(
        pybase_core::ids::TableId::new(),
        "X",
        FieldType::LongText(LongText),
        0,
    );
    assert!(matches!(
        store.create_field(&missing).await,
        Err(StoreError::NotFound {
            entity: "table",
            ..
        })
    ));
}

#[tokio::test]
async fn replace_and_delete_field_rewrite_cells_of_every_record() {
    let store = memory();
    let fx = fixture(&*store).await;
    let created = store
        .create_records(
            fx.table.id,
            &[
                new_record(
                    cells(&[(fx.text, json!("12")), (fx.number, json!(1))]),
                    None,
                ),
                new_record(
                    cells(&[(fx.text, json!("zz")), (fx.number, json!(2))]),
                    None,
                ),
            ],
        )
        .await
        .unwrap();
    store
        .delete_records(fx.table.id, &[created[1].id], now())
        .await
        .unwrap();
    let mut f = store.get_field(fx.text).await.unwrap();
    f.field_type = FieldType::Number(Number { precision: 0 });
    f.name = "As number".into();
    store
        .replace_field(
            &f,
            &[(created[0].id, Some(json!(12))), (created[1].id, None)],
        )
        .await
        .unwrap();
    assert_eq!(store.get_field(fx.text).await.unwrap(), f);
    assert_eq!(
        store.field_cells(fx.table.id, fx.text).await.unwrap(),
        vec![(created[0].id, json!(12))]
    );
    store.delete_field(fx.number).await.unwrap();
    assert!(
        store
            .field_cells(fx.table.id, fx.number)
            .await
            .unwrap()
            .is_empty()
    );
    let deleted = store
        .get_record(fx.table.id, created[1].id, true)
        .await
        .unwrap();
    assert!(deleted.cells.is_empty(), "{:?}", deleted.cells);
    assert!(matches!(
        store.delete_field(fx.number).await,
        Err(StoreError::NotFound {
            entity: "field",
            ..
        })
    ));
}

#[tokio::test]
async fn last_owner_rule_and_member_conflicts() {
    let store = memory();
    let fx = fixture(&*store).await;
    let other = user(&*store).await;
    let is_last_owner = |r: Result<(), StoreError>| matches!(r, Err(StoreError::Conflict { entity: "member", field, .. }) if field == "last_owner");
    assert!(is_last_owner(
        store
            .set_member_role(fx.ws.id, fx.owner.id, Role::Admin)
            .await
    ));
    assert!(is_last_owner(
        store.remove_member(fx.ws.id, fx.owner.id).await
    ));
    store
        .add_member(fx.ws.id, other.id, Role::Editor, now())
        .await
        .unwrap();
    assert!(matches!(
        store
            .add_member(fx.ws.id, other.id, Role::Viewer, now())
            .await,
        Err(StoreError::Conflict {
            entity: "member",
            ..
        })
    ));
    assert!(matches!(
        store
            .add_member(fx.ws.id, UserId::new(), Role::Viewer, now())
            .await,
        Err(StoreError::NotFound { entity: "user", .. })
    ));
    store
        .set_member_role(fx.ws.id, other.id, Role::Owner)
        .await
        .unwrap();
    store
        .set_member_role(fx.ws.id, fx.owner.id, Role::Viewer)
        .await
        .unwrap();
    assert!(is_last_owner(store.remove_member(fx.ws.id, other.id).await));
    store
        .set_member_role(fx.ws.id, other.id, Role::Owner)
        .await
        .unwrap();
    let members = store.list_members(fx.ws.id).await.unwrap();
    assert_eq!(members.len(), 2);
    assert_eq!(members[0].user, fx.owner);
    assert_eq!(members[0].role, Role::Viewer);
    store.remove_member(fx.ws.id, fx.owner.id).await.unwrap();
    assert_eq!(
        store.member_role(fx.ws.id, fx.owner.id).await.unwrap(),
        None
    );
    assert!(matches!(
        store.remove_member(fx.ws.id, fx.owner.id).await,
        Err(StoreError::NotFound { .. })
    ));
    let listed = store.list_workspaces(other.id).await.unwrap();
    assert_eq!(listed, vec![(fx.ws.clone(), Role::Owner)]);

    // Slug conflicts name the slug.
    let mut ws2 = fx.ws.clone();
    ws2.id = pybase_core::ids::WorkspaceId::new();
    assert!(matches!(
        store.create_workspace(&ws2, other.id).await,
        Err(StoreError::Conflict { entity: "workspace", field, .. }) if field == "slug"
    ));
}

#[tokio::test]
async fn users_tokens_resets_and_keys() {
    let store = memory();
    let u = user(&*store).await;
    let mut dup = u.clone();
    dup.id = UserId::new();
    assert!(matches!(
        store.create_user(&dup, "h").await,
        Err(StoreError::Conflict { entity: "user", field, .. }) if field == "email"
    ));
    assert_eq!(
        store
            .find_credentials(&u.email.to_uppercase())
            .await
            .unwrap()
            .map(|c| c.user),
        Some(u.clone())
    );
    store.set_password_hash(u.id, "new", now()).await.unwrap();
    assert_eq!(
        store.get_credentials(u.id).await.unwrap().password_hash,
        "new"
    );

    let token = RefreshToken {
        id: "jti1".into(),
        family_id: "fam".into(),
        user_id: u.id,
        token_hash: "h1".into(),
        created_at: now(),
        expires_at: now() + TimeDelta::days(7),
        spent_at: None,
        revoked_at: None,
    };
    store.insert_refresh_token(&token).await.unwrap();
    let next = |n: &str| RefreshToken {
        id: format!("jti-{n}"),
        token_hash: format!("h-{n}"),
        ..token.clone()
    };
    let (na, nb) = (next("a"), next("b"));
    let (a, b) = tokio::join!(
        store.rotate_refresh_token("h1", now(), &na),
        store.rotate_refresh_token("h1", now(), &nb)
    );
    let outcomes = [a.unwrap(), b.unwrap()];
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| matches!(o, RotateOutcome::Rotated(_)))
            .count(),
        1
    );
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| matches!(o, RotateOutcome::Reused(_)))
            .count(),
        1
    );
    assert_eq!(
        store
            .rotate_refresh_token("nope", now(), &next("c"))
            .await
            .unwrap(),
        RotateOutcome::Unknown
    );
    let second = RefreshToken {
        id: "jti2".into(),
        token_hash: "h2".into(),
        ..token.clone()
    };
    store.insert_refresh_token(&second).await.unwrap();
    store.revoke_token_family("fam", now()).await.unwrap();
    assert!(matches!(
        store.rotate_refresh_token("h2", now(), &next("d")).await.unwrap(),
        RotateOutcome::Reused(t) if t.revoked_at.is_some()
    ));
    // A token inserted into a revoked family cannot be continued.
    let late = RefreshToken {
        id: "jti3".into(),
        token_hash: "h3".into(),
        ..token.clone()
    };
    store.insert_refresh_token(&late).await.unwrap();
    assert!(matches!(
        store
            .rotate_refresh_token("h3", now(), &next("e"))
            .await
            .unwrap(),
        RotateOutcome::Refused(_)
    ));
    assert_eq!(
        store.session_state(u.id, "fam").await.unwrap(),
        Some(SessionState {
            tokens_valid_after: None,
            family_revoked: true
        })
    );

    let reset = PasswordReset {
        token_hash: "r1".into(),
        user_id: u.id,
        created_at: now(),
        expires_at: now() + TimeDelta::hours(1),
        used_at: None,
    };
    store.insert_password_reset(&reset).await.unwrap();
    assert!(
        store
            .use_password_reset("r1", now() + TimeDelta::hours(2))
            .await
            .unwrap()
            .is_none()
    );
    let used = store
        .use_password_reset("r1", now())
        .await
        .unwrap()
        .unwrap();
    assert!(used.used_at.is_some());
    assert!(
        store
            .use_password_reset("r1", now())
            .await
            .unwrap()
            .is_none()
    );

    let key = StoredApiKey {
        key: ApiKey {
            id: ApiKeyId::new(),
            user_id: u.id,
            name: "ci".into(),
            prefix: "pbk_abcd".into(),
            scopes: vec![Scope::Read, Scope::Write],
            workspaces: Some(vec![pybase_core::ids::WorkspaceId::new()]),
            created_at: now(),
            expires_at: None,
            last_used_at: None,
        },
        secret_hash: "s".into(),
    };
    store.create_api_key(&key).await.unwrap();
    assert_eq!(
        store.find_api_key("pbk_abcd").await.unwrap(),
        Some(key.clone())
    );
    let mut clash = key.clone();
    clash.key.id = ApiKeyId::new();
    assert!(matches!(
        store.create_api_key(&clash).await,
        Err(StoreError::Conflict { field, .. }) if field == "prefix"
    ));
    let t = now();
    store.touch_api_key(key.key.id, t).await.unwrap();
    assert_eq!(
        store.list_api_keys(u.id).await.unwrap()[0].last_used_at,
        Some(t)
    );
    let stranger = user(&*store).await;
    assert!(matches!(
        store.delete_api_key(stranger.id, key.key.id).await,
        Err(StoreError::NotFound { .. })
    ));
    store.delete_user(u.id).await.unwrap();
    assert!(store.find_api_key("pbk_abcd").await.unwrap().is_none());
    assert!(matches!(
        store.get_user(u.id).await,
        Err(StoreError::NotFound { entity: "user", .. })
    ));
    assert!(
        store
            .rotate_refresh_token("h1", now(), &next("z"))
            .await
            .unwrap()
            == RotateOutcome::Unknown
    );
}

#[tokio::test]
async fn table_access_sees_every_field_change_at_once() {
    // The fields are cached by the table's fields_version; every change of a
    // field, through this store or another connection, must show up.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.db");
    let store = SqliteStore::open(&path).unwrap();
    let fx = fixture(&store).await;
    let names = |a: &pybase_core::store::TableAccess| {
        a.fields.iter().map(|f| f.name.clone()).collect::<Vec<_>>()
    };
    let first = store.table_access(fx.table.id, fx.owner.id).await.unwrap();
    assert_eq!(first.role, Some(Role::Owner));
    let before = names(&first);
    let f = field(
        fx.table.id,
        "Extra",
        FieldType::Text(Text { max_length: None }),
        50,
    );
    store.create_field(&f).await.unwrap();
    let after = names(&store.table_access(fx.table.id, fx.owner.id).await.unwrap());
    assert_eq!(after.len(), before.len() + 1);
    assert!(after.contains(&"Extra".to_owned()));

    let mut renamed = f.clone();
    renamed.name = "Renamed".into();
    store.update_field(&renamed).await.unwrap();
    let now_names = names(&store.table_access(fx.table.id, fx.owner.id).await.unwrap());
    assert!(now_names.contains(&"Renamed".to_owned()), "{now_names:?}");

    // A write by another connection (another process, say) is seen too.
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute(
        "UPDATE fields SET name = 'Outside' WHERE id = ?1",
        [f.id.as_str()],
    )
    .unwrap();
    drop(conn);
    let now_names = names(&store.table_access(fx.table.id, fx.owner.id).await.unwrap());
    assert!(now_names.contains(&"Outside".to_owned()), "{now_names:?}");

    store.delete_field(f.id).await.unwrap();
    let (access, record) = store
        .record_access(fx.table.id, pybase_core::ids::RecordId::new(), fx.owner.id)
        .await
        .unwrap();
    assert_eq!(names(&access), before);
    assert!(record.is_none());
    let outsider = user(&store).await;
    let access = store.table_access(fx.table.id, outsider.id).await.unwrap();
    assert_eq!(access.role, None);
}
