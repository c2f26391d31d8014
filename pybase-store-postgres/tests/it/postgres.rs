//! PostgreSQL-specific tests of `PgStore`: migrations, every aggregate,
//! concurrency, all-or-nothing batches, cell indexes and plans, and a
//! property test of filters, sorts and keyset pages against
//! `pybase_core::query::eval`.
//!
//! Run with `PYBASE_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test
//! cargo test -p pybase-store-postgres postgres::`.

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use pybase_core::StoreError;
use pybase_core::fields::{FieldType, MetaColumn, ValueKind};
use pybase_core::ids::{
    ApiKeyId, AttachmentId, BaseId, FieldId, RecordId, TableId, UserId, ViewId, WorkspaceId,
};
use pybase_core::model::{
    ApiKey, Attachment, Base, Cells, Field, Record, Table, User, View, ViewType, Workspace,
};
use pybase_core::query::{
    Condition, Cursor, Filter, Op, Operand, RecordQuery, SortKey, Target, ViewConfig, eval,
};
use pybase_core::role::{Role, Scope};
use pybase_core::store::{
    AuthStore, NewRecord, PasswordReset, RecordPatch, RecordsStore, RefreshToken, RotateOutcome,
    SchemaStore, SessionState, StoreHealth, StoredApiKey, WorkspacesStore,
};
use pybase_store_postgres::testkit::TestDb;
use pybase_store_postgres::{PgStore, PgStoreOptions};
use serde_json::{Value, json};

fn now() -> DateTime<Utc> {
    pybase_core::clock::Clock::now(&pybase_core::clock::SystemClock)
}

async fn user(store: &PgStore, name: &str) -> User {
    let t = now();
    let u = User {
        id: UserId::new(),
        email: format!(
            "{name}-{}@example.com",
            RecordId::new().as_str()[10..].to_ascii_lowercase()
        ),
        name: name.to_owned(),
        created_at: t,
        updated_at: t,
    };
    store.create_user(&u, "hash").await.unwrap();
    u
}

fn field(table: TableId, name: &str, field_type: FieldType, position: i64) -> Field {
    let t = now();
    Field {
        id: FieldId::new(),
        table_id: table,
        name: name.to_owned(),
        description: None,
        field_type,
        position,
        indexed: false,
        created_at: t,
        updated_at: t,
    }
}

/// A workspace owned by `owner`, a base and a table with the given fields.
async fn table_with(
    store: &PgStore,
    owner: UserId,
    fields: &[(&str, FieldType)],
) -> (Workspace, Base, Table, Vec<Field>) {
    let t = now();
    let ws = Workspace {
        id: WorkspaceId::new(),
        name: "W".into(),
        slug: format!("w-{}", RecordId::new().as_str()[10..].to_ascii_lowercase()),
        description: None,
        created_at: t,
        updated_at: t,
    };
    store.create_workspace(&ws, owner).await.unwrap();
    let base = Base {
        id: BaseId::new(),
        workspace_id: ws.id,
        name: "B".into(),
        description: None,
        created_at: t,
        updated_at: t,
    };
    store.create_base(&base).await.unwrap();
    let table = Table {
        id: TableId::new(),
        base_id: base.id,
        workspace_id: ws.id,
        name: "T".into(),
        description: None,
        primary_field_id: None,
        position: 0,
        created_at: t,
        updated_at: t,
    };
    let fields: Vec<Field> = fields
        .iter()
        .enumerate()
        .map(|(i, (n, ft))| field(table.id, n, ft.clone(), i as i64))
        .collect();
    store.create_table(&table, &fields).await.unwrap();
    (ws, base, table, fields)
}

fn new_record(cells: Cells, by: Option<UserId>, at: DateTime<Utc>) -> NewRecord {
    NewRecord {
        id: RecordId::at(at.timestamp_millis()),
        cells,
        created_by: by,
        created_time: at,
    }
}

fn cells(pairs: &[(FieldId, Value)]) -> Cells {
    pairs
        .iter()
        .map(|(f, v)| (f.as_str().to_owned(), v.clone()))
        .collect()
}

fn text() -> FieldType {
    FieldType::Text { max_length: None }
}

fn number() -> FieldType {
    FieldType::Number { precision: 8 }
}

async fn count_live(store: &PgStore, table: TableId) -> usize {
    let q = RecordQuery {
        table_id: table,
        filter: None,
        sort: vec![],
        after: None,
        limit: 1000,
        include_deleted: false,
    };
    store.query_records(&q).await.unwrap().records.len()
}

/// The URL of database `name` on the server of `url`.
fn database_url(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    format!("{}/{name}{query}", &base[..host_end])
}

#[tokio::test]
async fn migrations_are_idempotent_and_connect_migrates() {
    let url = crate::require_postgres!();
    let db = TestDb::new(&url).await;
    db.store.migrate().await.unwrap();
    let other = db.second_store().await;
    let (a, b) = tokio::join!(db.store.migrate(), other.migrate());
    a.unwrap();
    b.unwrap();
    let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations")
        .fetch_one(db.store.pool())
        .await
        .unwrap();
    // Every migration file is applied, once.
    let files = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "sql"))
        })
        .count();
    assert_eq!(applied, i64::try_from(files).unwrap());
    let opts = PgStoreOptions {
        max_connections: 2,
        acquire_timeout: std::time::Duration::from_secs(5),
        migrate: true,
    };
    let again = PgStore::connect_with(&database_url(&url, &db.name), opts)
        .await
        .unwrap();
    again.ping().await.unwrap();
    assert_eq!(again.backend_name(), "postgres");
    let bad = PgStore::connect_with(
        &database_url(&url, "pybase_no_such_database"),
        PgStoreOptions {
            migrate: false,
            ..PgStoreOptions::default()
        },
    )
    .await;
    assert!(matches!(
        bad,
        Err(StoreError::Backend {
            backend: "postgres",
            ..
        })
    ));
}

#[tokio::test]
async fn users_sessions_resets_and_keys() {
    let url = crate::require_postgres!();
    let db = TestDb::new(&url).await;
    let s = &db.store;
    let mut u = user(s, "ann").await;
    assert_eq!(s.get_user(u.id).await.unwrap(), u);
    let dup = User {
        id: UserId::new(),
        ..u.clone()
    };
    let e = s.create_user(&dup, "h").await.unwrap_err();
    assert!(
        matches!(&e, StoreError::Conflict { field, .. } if field == "email"),
        "{e:?}"
    );
    let creds = s.find_credentials(&u.email).await.unwrap().unwrap();
    assert_eq!(creds.password_hash, "hash");
    assert!(
        s.find_credentials("nobody@example.com")
            .await
            .unwrap()
            .is_none()
    );
    u.name = "Ann B".into();
    u.updated_at = now();
    s.update_user(&u).await.unwrap();
    assert_eq!(s.get_user(u.id).await.unwrap().name, "Ann B");
    s.set_password_hash(u.id, "hash2", now()).await.unwrap();
    assert_eq!(
        s.get_credentials(u.id).await.unwrap().password_hash,
        "hash2"
    );
    let missing = UserId::new();
    assert!(matches!(
        s.get_user(missing).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        s.set_password_hash(missing, "x", now()).await,
        Err(StoreError::NotFound { .. })
    ));
    let other = user(s, "bob").await;
    let mut got = s.get_users(&[u.id, missing, other.id]).await.unwrap();
    got.sort_by_key(|x| x.id);
    let mut want = vec![s.get_user(u.id).await.unwrap(), other.clone()];
    want.sort_by_key(|x| x.id);
    assert_eq!(got, want);

    // Refresh tokens: one spend wins, reuse is reported, families revoke.
    let t = now();
    let token = RefreshToken {
        id: "jti1".into(),
        family_id: "fam1".into(),
        user_id: u.id,
        token_hash: "h1".into(),
        created_at: t,
        expires_at: t + TimeDelta::days(7),
        spent_at: None,
        revoked_at: None,
    };
    s.insert_refresh_token(&token).await.unwrap();
    let orphan = RefreshToken {
        id: "jti2".into(),
        token_hash: "h2".into(),
        user_id: missing,
        ..token.clone()
    };
    assert!(matches!(
        s.insert_refresh_token(&orphan).await,
        Err(StoreError::NotFound { entity: "user", .. })
    ));
    let store2 = db.second_store().await;
    let next = |n: &str| RefreshToken {
        id: format!("jti-{n}"),
        token_hash: format!("h-{n}"),
        ..token.clone()
    };
    let (na, nb) = (next("a"), next("b"));
    let (a, b) = tokio::join!(
        s.rotate_refresh_token("h1", t, &na),
        store2.rotate_refresh_token("h1", t, &nb)
    );
    let outcomes = [a.unwrap(), b.unwrap()];
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| matches!(o, RotateOutcome::Rotated(_)))
            .count(),
        1,
        "{outcomes:?}"
    );
    assert!(
        outcomes
            .iter()
            .any(|o| matches!(o, RotateOutcome::Reused(r) if r.spent_at == Some(t)))
    );
    assert_eq!(
        s.rotate_refresh_token("nope", t, &next("c")).await.unwrap(),
        RotateOutcome::Unknown
    );
    // The winner's successor is live; another successor's hash is unknown.
    let live = if matches!(outcomes[0], RotateOutcome::Rotated(_)) {
        "h-a"
    } else {
        "h-b"
    };
    // A successor naming another family is refused, and nothing changes.
    let stray = RefreshToken {
        family_id: "fam-other".into(),
        ..next("d")
    };
    assert!(matches!(
        s.rotate_refresh_token(live, t, &stray).await.unwrap(),
        RotateOutcome::Refused(_)
    ));
    s.revoke_token_family("fam1", t).await.unwrap();
    s.revoke_token_family("fam1", t + TimeDelta::seconds(1))
        .await
        .unwrap();
    match s.rotate_refresh_token("h1", t, &next("e")).await.unwrap() {
        RotateOutcome::Reused(r) => assert_eq!(r.revoked_at, Some(t)),
        other => panic!("{other:?}"),
    }
    // A token inserted into a revoked family cannot be continued.
    let late = RefreshToken {
        id: "jti-late".into(),
        token_hash: "h-late".into(),
        ..token.clone()
    };
    s.insert_refresh_token(&late).await.unwrap();
    assert!(matches!(
        s.rotate_refresh_token("h-late", t, &next("f"))
            .await
            .unwrap(),
        RotateOutcome::Refused(_)
    ));
    // A cut-off user's older tokens cannot be continued either.
    let fresh = RefreshToken {
        id: "jti-fresh".into(),
        family_id: "fam2".into(),
        token_hash: "h-fresh".into(),
        ..token.clone()
    };
    s.insert_refresh_token(&fresh).await.unwrap();
    assert_eq!(
        s.session_state(u.id, "fam2").await.unwrap(),
        Some(SessionState {
            tokens_valid_after: None,
            family_revoked: false
        })
    );
    s.revoke_user_tokens(u.id, t).await.unwrap();
    assert_eq!(
        s.session_state(u.id, "fam2").await.unwrap(),
        Some(SessionState {
            tokens_valid_after: Some(t),
            family_revoked: true
        })
    );
    assert!(matches!(
        s.rotate_refresh_token(
            "h-fresh",
            t,
            &RefreshToken {
                family_id: "fam2".into(),
                ..next("g")
            }
        )
        .await
        .unwrap(),
        RotateOutcome::Reused(_)
    ));
    assert_eq!(s.session_state(missing, "fam2").await.unwrap(), None);

    // Password resets: single use, unexpired only.
    let reset = PasswordReset {
        token_hash: "r1".into(),
        user_id: u.id,
        created_at: t,
        expires_at: t + TimeDelta::hours(1),
        used_at: None,
    };
    s.insert_password_reset(&reset).await.unwrap();
    assert!(
        s.use_password_reset("r1", t + TimeDelta::hours(2))
            .await
            .unwrap()
            .is_none()
    );
    let used = s.use_password_reset("r1", t).await.unwrap().unwrap();
    assert_eq!(used.used_at, Some(t));
    assert!(s.use_password_reset("r1", t).await.unwrap().is_none());

    // API keys.
    let key = StoredApiKey {
        key: ApiKey {
            id: ApiKeyId::new(),
            user_id: u.id,
            name: "ci".into(),
            prefix: "pbk_abc".into(),
            scopes: vec![Scope::Read, Scope::Write],
            workspaces: Some(vec![WorkspaceId::new()]),
            created_at: t,
            expires_at: None,
            last_used_at: None,
        },
        secret_hash: "sh".into(),
    };
    s.create_api_key(&key).await.unwrap();
    let clash = StoredApiKey {
        key: ApiKey {
            id: ApiKeyId::new(),
            ..key.key.clone()
        },
        ..key.clone()
    };
    let e = s.create_api_key(&clash).await.unwrap_err();
    assert!(
        matches!(&e, StoreError::Conflict { field, .. } if field == "prefix"),
        "{e:?}"
    );
    assert_eq!(s.find_api_key("pbk_abc").await.unwrap(), Some(key.clone()));
    s.touch_api_key(key.key.id, t).await.unwrap();
    assert_eq!(
        s.list_api_keys(u.id).await.unwrap()[0].last_used_at,
        Some(t)
    );
    assert!(matches!(
        s.delete_api_key(other.id, key.key.id).await,
        Err(StoreError::NotFound { .. })
    ));
    s.delete_api_key(u.id, key.key.id).await.unwrap();
    assert!(s.list_api_keys(u.id).await.unwrap().is_empty());

    // Deleting a user removes their sessions and keys with them.
    s.create_api_key(&key).await.unwrap();
    s.delete_user(u.id).await.unwrap();
    assert!(s.find_api_key("pbk_abc").await.unwrap().is_none());
    assert_eq!(
        s.rotate_refresh_token("h1", t, &next("z")).await.unwrap(),
        RotateOutcome::Unknown
    );
    assert!(matches!(
        s.delete_user(u.id).await,
        Err(StoreError::NotFound { .. })
    ));
}

/// REVIEW-security H1 at the store: a rotation racing a revocation of the
/// same user, on two connections, never leaves a live token behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_racing_revocation_leaves_no_live_token() {
    let url = crate::require_postgres!();
    let db = TestDb::new(&url).await;
    let (a, b) = (db.store.clone(), db.second_store().await);
    let u = user(&a, "racer").await;
    for round in 0..40 {
        let t = now();
        let first = RefreshToken {
            id: format!("r{round}-0"),
            family_id: format!("fam{round}"),
            user_id: u.id,
            token_hash: format!("r{round}-h0"),
            created_at: t,
            expires_at: t + TimeDelta::days(1),
            spent_at: None,
            revoked_at: None,
        };
        a.insert_refresh_token(&first).await.unwrap();
        let next = RefreshToken {
            id: format!("r{round}-1"),
            token_hash: format!("r{round}-h1"),
            ..first.clone()
        };
        let cut = t + TimeDelta::milliseconds(1);
        let (rotated, revoked) = tokio::join!(
            a.rotate_refresh_token(&first.token_hash, t, &next),
            b.revoke_user_tokens(u.id, cut)
        );
        revoked.unwrap();
        let outcome = rotated.unwrap();
        let live: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM sessions WHERE user_id = $1 \
             AND revoked_at IS NULL AND spent_at IS NULL",
        )
        .bind(u.id.as_str())
        .fetch_one(a.pool())
        .await
        .unwrap();
        assert_eq!(live, 0, "round {round}: {outcome:?} left a live token");
    }
}

/// Every unique constraint and unique index of a freshly migrated database
/// maps to a named entity and field, so a conflict on it names the field:
/// a new one without its entry in `unique_constraint` fails here.
#[tokio::test]
async fn every_unique_constraint_maps_to_a_named_field() {
    let url = crate::require_postgres!();
    let db = TestDb::new(&url).await;
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_index i \
         JOIN pg_class c ON c.oid = i.indexrelid \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         JOIN pg_class t ON t.oid = i.indrelid \
         WHERE i.indisunique AND n.nspname = current_schema() \
         AND t.relname <> '_sqlx_migrations'",
    )
    .fetch_all(db.store.pool())
    .await
    .unwrap();
    assert!(names.len() >= 10, "{names:?}");
    for name in &names {
        assert_ne!(
            pybase_store_postgres::unique_constraint(name),
            ("row", "unique"),
            "unique index {name} maps to no field"
        );
    }
}

#[tokio::test]
async fn workspaces_members_and_the_last_owner() {
    let url = crate::require_postgres!();
    let db = TestDb::new(&url).await;
    let s = &db.store;
    let (a, b) = (user(s, "a").await, user(s, "b").await);
    let (mut ws, ..) = table_with(s, a.id, &[]).await;
    assert_eq!(s.member_role(ws.id, a.id).await.unwrap(), Some(Role::Owner));
    let taken = Workspace {
        id: WorkspaceId::new(),
        ..ws.clone()
    };
    let e = s.create_workspace(&taken, b.id).await.unwrap_err();
    assert!(
        matches!(&e, StoreError::Conflict { field, .. } if field == "slug"),
        "{e:?}"
    );
    ws.name = "Renamed".into();
    s.update_workspace(&ws).await.unwrap();
    assert_eq!(s.get_workspace(ws.id).await.unwrap(), ws);
    assert!(matches!(
        s.add_member(ws.id, UserId::new(), Role::Viewer, now())
            .await,
        Err(StoreError::NotFound { entity: "user", .. })
    ));
    assert!(matches!(
        s.add_member(WorkspaceId::new(), b.id, Role::Viewer, now())
            .await,
        Err(StoreError::NotFound {
            entity: "workspace",
            ..
        })
    ));
    s.add_member(ws.id, b.id, Role::Editor, now())
        .await
        .unwrap();
    let e = s
        .add_member(ws.id, b.id, Role::Viewer, now())
        .await
        .unwrap_err();
    assert!(
        matches!(&e, StoreError::Conflict { field, .. } if field == "user"),
        "{e:?}"
    );
    let last = s
        .set_member_role(ws.id, a.id, Role::Admin)
        .await
        .unwrap_err();
    assert!(matches!(&last, StoreError::Conflict { field, .. } if field == "last_owner"));
    assert!(matches!(
        s.remove_member(ws.id, a.id).await,
        Err(StoreError::Conflict { .. })
    ));
    // Two owners demoting each other at once: exactly one succeeds.
    s.set_member_role(ws.id, b.id, Role::Owner).await.unwrap();
    let other = db.second_store().await;
    let (x, y) = tokio::join!(
        s.set_member_role(ws.id, a.id, Role::Viewer),
        other.set_member_role(ws.id, b.id, Role::Viewer)
    );
    assert_eq!(u8::from(x.is_ok()) + u8::from(y.is_ok()), 1, "{x:?} {y:?}");
    let members = s.list_members(ws.id).await.unwrap();
    assert_eq!(members.iter().filter(|m| m.role == Role::Owner).count(), 1);
    assert_eq!(s.list_workspaces(b.id).await.unwrap().len(), 1);
    assert!(matches!(
        s.remove_member(ws.id, UserId::new()).await,
        Err(StoreError::NotFound { .. })
    ));
    s.delete_workspace(ws.id).await.unwrap();
    assert!(matches!(
        s.get_workspace(ws.id).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(s.list_workspaces(a.id).await.unwrap().is_empty());
    assert!(matches!(
        s.delete_workspace(ws.id).await,
        Err(StoreError::NotFound { .. })
    ));
}

#[tokio::test]
async fn schema_crud_cascades_and_cell_indexes() {
    let url = crate::require_postgres!();
    let db = TestDb::new(&url).await;
    let s = &db.store;
    let a = user(s, "a").await;
    let (ws, mut base, mut table, fields) =
        table_with(s, a.id, &[("Name", text()), ("Qty", number())]).await;
    base.name = "B2".into();
    s.update_base(&base).await.unwrap();
    assert_eq!(s.list_bases(ws.id).await.unwrap(), vec![base.clone()]);
    table.primary_field_id = Some(fields[0].id);
    table.name = "T2".into();
    s.update_table(&table).await.unwrap();
    assert_eq!(s.get_table(table.id).await.unwrap(), table);
    assert_eq!(s.list_tables(base.id).await.unwrap(), vec![table.clone()]);
    assert_eq!(s.list_fields(table.id).await.unwrap(), fields);

    // Names are unique ignoring case, by Rust's lowercasing (not the locale).
    let e = s
        .create_field(&field(table.id, "NAME", text(), 5))
        .await
        .unwrap_err();
    assert!(matches!(&e, StoreError::Conflict { entity: "field", field, .. } if field == "name"));
    s.create_field(&field(table.id, "Ä", text(), 6))
        .await
        .unwrap();
    assert!(
        s.create_field(&field(table.id, "ä", text(), 7))
            .await
            .is_err()
    );
    assert!(matches!(
        s.create_field(&field(TableId::new(), "x", text(), 0)).await,
        Err(StoreError::NotFound {
            entity: "table",
            ..
        })
    ));

    // An indexed field has an index of its kind, dropped when cleared.
    let index_names = || async {
        sqlx::query_scalar::<_, String>(
            "SELECT indexname::text FROM pg_indexes WHERE indexname LIKE 'records\\_%\\_fld%' ORDER BY 1",
        )
        .fetch_all(s.pool())
        .await
        .unwrap()
    };
    let mut code = field(table.id, "Code", text(), 8);
    code.indexed = true;
    s.create_field(&code).await.unwrap();
    assert_eq!(
        index_names().await,
        vec![
            format!("records_txt_{}", code.id),
            format!("records_txt_{}_desc", code.id)
        ]
    );
    code.field_type = number();
    s.update_field(&code).await.unwrap();
    assert_eq!(
        index_names().await,
        vec![
            format!("records_num_{}", code.id),
            format!("records_num_{}_desc", code.id)
        ]
    );
    code.indexed = false;
    s.update_field(&code).await.unwrap();
    assert!(index_names().await.is_empty());
    let stats: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_statistic_ext WHERE stxname LIKE 'records\\_%'",
    )
    .fetch_one(s.pool())
    .await
    .unwrap();
    assert_eq!(stats, 0);
    code.indexed = true;
    s.update_field(&code).await.unwrap();
    s.delete_field(code.id).await.unwrap();
    assert!(index_names().await.is_empty());
    code.id = FieldId::new();
    s.create_field(&code).await.unwrap();
    // The ascending and the descending index.
    assert_eq!(index_names().await.len(), 2);

    // Views keep their config.
    let t = now();
    let view = View {
        id: ViewId::new(),
        table_id: table.id,
        name: "Grid".into(),
        view_type: ViewType::Grid,
        config: ViewConfig {
            filter: Some(json!({"field": fields[0].id, "op": "eq", "value": "x"})),
            hidden_fields: vec![fields[1].id],
            ..ViewConfig::default()
        },
        position: 0,
        created_at: t,
        updated_at: t,
    };
    s.create_view(&view).await.unwrap();
    assert_eq!(s.get_view(view.id).await.unwrap(), view);
    let mut renamed = view.clone();
    renamed.name = "Grid 2".into();
    s.update_view(&renamed).await.unwrap();
    assert_eq!(s.list_views(table.id).await.unwrap(), vec![renamed]);
    s.delete_view(view.id).await.unwrap();
    assert!(matches!(
        s.delete_view(view.id).await,
        Err(StoreError::NotFound { .. })
    ));

    // replace_field rewrites cells atomically, soft-deleted records too.
    let recs = s
        .create_records(
            table.id,
            &[
                new_record(cells(&[(fields[1].id, json!(1))]), Some(a.id), t),
                new_record(cells(&[(fields[1].id, json!(2))]), Some(a.id), t),
            ],
        )
        .await
        .unwrap();
    s.delete_records(table.id, &[recs[1].id], t).await.unwrap();
    let mut qty = fields[1].clone();
    qty.field_type = text();
    s.replace_field(
        &qty,
        &[(recs[0].id, Some(json!("one"))), (recs[1].id, None)],
    )
    .await
    .unwrap();
    assert_eq!(s.get_field(qty.id).await.unwrap().field_type, text());
    assert_eq!(
        s.field_cells(table.id, qty.id).await.unwrap(),
        vec![(recs[0].id, json!("one"))]
    );

    // Deleting the workspace takes everything with it, indexes included.
    let att = Attachment {
        id: AttachmentId::new(),
        table_id: table.id,
        filename: "a.txt".into(),
        content_type: "text/plain".into(),
        size: 3,
        sha256: "00".into(),
        storage_key: "k".into(),
        created_by: Some(a.id),
        created_at: t,
    };
    s.create_attachment(&att).await.unwrap();
    assert_eq!(
        s.get_attachments(&[att.id, AttachmentId::new()])
            .await
            .unwrap(),
        vec![att.clone()]
    );
    s.delete_workspace(ws.id).await.unwrap();
    assert!(index_names().await.is_empty());
    assert!(matches!(
        s.get_table(table.id).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        s.get_attachment(att.id).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        s.get_record(table.id, recs[0].id, true).await,
        Err(StoreError::NotFound { .. })
    ));
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM records")
        .fetch_one(s.pool())
        .await
        .unwrap();
    assert_eq!(left, 0);
}

#[tokio::test]
async fn records_merge_replace_delete_restore_and_upsert() {
    let url = crate::require_postgres!();
    let db = TestDb::new(&url).await;
    let s = &db.store;
    let a = user(s, "a").await;
    let (_, _, table, f) = table_with(
        s,
        a.id,
        &[("Name", text()), ("Qty", number()), ("Note", text())],
    )
    .await;
    let t = now();
    let r = s
        .create_records(
            table.id,
            &[new_record(
                cells(&[
                    (f[0].id, json!("x")),
                    (f[1].id, json!(1.5)),
                    (f[2].id, json!("n")),
                ]),
                Some(a.id),
                t,
            )],
        )
        .await
        .unwrap()
        .remove(0);
    assert_eq!(
        (r.autonumber, r.updated_time, r.updated_by),
        (1, t, Some(a.id))
    );
    assert_eq!(s.get_record(table.id, r.id, false).await.unwrap(), r);
    let later = t + TimeDelta::seconds(1);
    let merged = s
        .update_records(
            table.id,
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
    let replaced = s
        .update_records(
            table.id,
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
    // The same record twice in one batch: applied in order.
    let twice = s
        .update_records(
            table.id,
            &[
                RecordPatch {
                    id: r.id,
                    set: cells(&[(f[0].id, json!("1"))]),
                    ..RecordPatch::default()
                },
                RecordPatch {
                    id: r.id,
                    set: cells(&[(f[1].id, json!(2))]),
                    ..RecordPatch::default()
                },
            ],
            later,
            None,
        )
        .await
        .unwrap();
    assert_eq!(twice[1].cells.len(), 3);

    s.delete_records(table.id, &[r.id], later).await.unwrap();
    assert!(matches!(
        s.get_record(table.id, r.id, false).await,
        Err(StoreError::NotFound { .. })
    ));
    assert_eq!(
        s.get_record(table.id, r.id, true)
            .await
            .unwrap()
            .deleted_time,
        Some(later)
    );
    assert!(matches!(
        s.delete_records(table.id, &[r.id], later).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(
        s.live_record_ids(table.id, &[r.id])
            .await
            .unwrap()
            .is_empty()
    );
    let back = s.restore_record(table.id, r.id).await.unwrap();
    assert_eq!(back.deleted_time, None);
    assert_eq!(s.restore_record(table.id, r.id).await.unwrap(), back);
    assert_eq!(
        s.live_record_ids(table.id, &[r.id, RecordId::new()])
            .await
            .unwrap(),
        vec![r.id]
    );

    // Upsert: merge on Name; absent equals absent; ambiguity changes nothing.
    let inputs = [
        new_record(
            cells(&[(f[0].id, json!("1")), (f[2].id, json!("merged"))]),
            Some(a.id),
            later,
        ),
        new_record(cells(&[(f[0].id, json!("new"))]), Some(a.id), later),
        new_record(
            cells(&[(f[0].id, json!("new")), (f[1].id, json!(7))]),
            Some(a.id),
            later,
        ),
        new_record(cells(&[(f[1].id, json!(3))]), Some(a.id), later),
    ];
    let out = s
        .upsert_records(table.id, &[f[0].id], &inputs, later, Some(a.id))
        .await
        .unwrap();
    let created: Vec<bool> = out.iter().map(|o| o.created).collect();
    assert_eq!(created, vec![false, true, false, true]);
    assert_eq!(out[0].record.id, r.id);
    assert_eq!(out[0].record.cells[f[2].id.as_str()], json!("merged"));
    assert_eq!(out[2].record.id, out[1].record.id);
    assert_eq!(out[1].record.autonumber, 2);
    assert_eq!(out[3].record.autonumber, 3);
    let dup = new_record(cells(&[(f[0].id, json!("1"))]), Some(a.id), later);
    s.create_records(table.id, &[dup]).await.unwrap();
    let before = count_live(s, table.id).await;
    let e = s
        .upsert_records(
            table.id,
            &[f[0].id],
            &[
                new_record(cells(&[(f[0].id, json!("fresh"))]), None, later),
                new_record(cells(&[(f[0].id, json!("1"))]), None, later),
            ],
            later,
            None,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&e, StoreError::Conflict { field, .. } if field == "merge_on"),
        "{e:?}"
    );
    assert_eq!(count_live(s, table.id).await, before);
    let next = s
        .create_records(table.id, &[new_record(Cells::new(), None, later)])
        .await
        .unwrap();
    assert_eq!(
        next[0].autonumber, 5,
        "a failed upsert must not use autonumbers"
    );
}

#[tokio::test]
async fn failing_batches_change_nothing() {
    let url = crate::require_postgres!();
    let db = TestDb::new(&url).await;
    let s = &db.store;
    let a = user(s, "a").await;
    let (_, _, table, f) = table_with(s, a.id, &[("Name", text())]).await;
    let t = now();
    let first = s
        .create_records(
            table.id,
            &(0..3)
                .map(|i| new_record(cells(&[(f[0].id, json!(format!("r{i}")))]), None, t))
                .collect::<Vec<_>>(),
        )
        .await
        .unwrap();
    // A batch whose last record reuses an id: nothing is inserted.
    let mut batch: Vec<NewRecord> = (0..50).map(|_| new_record(Cells::new(), None, t)).collect();
    batch.push(NewRecord {
        id: first[0].id,
        ..new_record(Cells::new(), None, t)
    });
    let e = s.create_records(table.id, &batch).await.unwrap_err();
    assert!(
        matches!(
            &e,
            StoreError::Conflict {
                entity: "record",
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(count_live(s, table.id).await, 3);
    let next = s
        .create_records(table.id, &[new_record(Cells::new(), None, t)])
        .await
        .unwrap();
    assert_eq!(next[0].autonumber, 4);
    assert!(matches!(
        s.create_records(TableId::new(), &[new_record(Cells::new(), None, t)])
            .await,
        Err(StoreError::NotFound {
            entity: "table",
            ..
        })
    ));

    // An update batch naming a missing record: nothing changes.
    let missing = RecordId::new();
    let patches: Vec<RecordPatch> = first
        .iter()
        .map(|r| RecordPatch {
            id: r.id,
            set: cells(&[(f[0].id, json!("changed"))]),
            ..RecordPatch::default()
        })
        .chain([RecordPatch {
            id: missing,
            ..RecordPatch::default()
        }])
        .collect();
    let e = s
        .update_records(table.id, &patches, t, None)
        .await
        .unwrap_err();
    assert!(
        matches!(&e, StoreError::NotFound { id, .. } if *id == missing.to_string()),
        "{e:?}"
    );
    for r in &first {
        assert_eq!(s.get_record(table.id, r.id, false).await.unwrap(), *r);
    }
    // A deleted record in a delete batch: nothing is deleted.
    s.delete_records(table.id, &[first[2].id], t).await.unwrap();
    let e = s
        .delete_records(table.id, &[first[0].id, first[1].id, first[2].id], t)
        .await
        .unwrap_err();
    assert!(matches!(&e, StoreError::NotFound { id, .. } if *id == first[2].id.to_string()));
    assert_eq!(count_live(s, table.id).await, 3);
    // Updating a soft-deleted record is NotFound too.
    let e = s
        .update_records(table.id, &patches[2..3], t, None)
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::NotFound { .. }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_updates_of_different_cells_both_survive() {
    let url = crate::require_postgres!();
    let db = TestDb::new(&url).await;
    let s = db.store.clone();
    let other = db.second_store().await;
    let a = user(&s, "a").await;
    let (_, _, table, f) = table_with(&s, a.id, &[("A", number()), ("B", number())]).await;
    let recs = s
        .create_records(table.id, &[new_record(Cells::new(), None, now())])
        .await
        .unwrap();
    let id = recs[0].id;
    for round in 0..40 {
        let patch = |field: FieldId| {
            vec![RecordPatch {
                id,
                set: cells(&[(field, json!(round))]),
                ..RecordPatch::default()
            }]
        };
        let (pa, pb) = (patch(f[0].id), patch(f[1].id));
        let (s1, s2) = (s.clone(), other.clone());
        let ta = tokio::spawn(async move { s1.update_records(table.id, &pa, now(), None).await });
        let tb = tokio::spawn(async move { s2.update_records(table.id, &pb, now(), None).await });
        ta.await.unwrap().unwrap();
        tb.await.unwrap().unwrap();
        let r = s.get_record(table.id, id, false).await.unwrap();
        assert_eq!(r.cells[f[0].id.as_str()], json!(round), "round {round}");
        assert_eq!(r.cells[f[1].id.as_str()], json!(round), "round {round}");
    }
}

#[tokio::test]
async fn text_with_nul_and_control_characters_round_trips_and_compares() {
    let url = crate::require_postgres!();
    let db = TestDb::new(&url).await;
    let s = &db.store;
    let a = user(s, "a").await;
    let (_, _, table, f) = table_with(s, a.id, &[("Name", text())]).await;
    let values = ["a\u{0}b", "a\u{1}", "a", "a\u{0}", "\u{1}\u{0}", "é\u{0}"];
    let t = now();
    let batch: Vec<NewRecord> = values
        .iter()
        .map(|v| new_record(cells(&[(f[0].id, json!(v))]), None, t))
        .collect();
    let created = s.create_records(table.id, &batch).await.unwrap();
    for (r, v) in created.iter().zip(values) {
        assert_eq!(r.cells[f[0].id.as_str()], json!(v));
        assert_eq!(s.get_record(table.id, r.id, false).await.unwrap(), *r);
    }
    let target = Target::Cell {
        field: f[0].id,
        kind: ValueKind::Text,
    };
    let all = s
        .query_records(&RecordQuery {
            table_id: table.id,
            filter: None,
            sort: vec![SortKey {
                target,
                desc: false,
            }],
            after: None,
            limit: 100,
            include_deleted: false,
        })
        .await
        .unwrap();
    let mut want = created.clone();
    let sort = [SortKey {
        target,
        desc: false,
    }];
    want.sort_by(|x, y| eval::compare_records(&sort, x, y));
    assert_eq!(all.records, want);
    for (op, operand) in [
        (Op::Eq, "a\u{0}b"),
        (Op::Lt, "a\u{0}b"),
        (Op::Gt, "a\u{1}"),
        (Op::StartsWith, "A\u{0}"),
        (Op::Contains, "\u{0}b"),
    ] {
        let filter = Filter::Cond(Condition {
            target,
            op,
            operand: Operand::Text(operand.to_owned()),
        });
        let page = s
            .query_records(&RecordQuery {
                table_id: table.id,
                filter: Some(filter.clone()),
                sort: sort.to_vec(),
                after: None,
                limit: 100,
                include_deleted: false,
            })
            .await
            .unwrap();
        let expected: Vec<Record> = want
            .iter()
            .filter(|r| eval::matches(&filter, r))
            .cloned()
            .collect();
        assert_eq!(page.records, expected, "{op:?} {operand:?}");
    }
}

#[tokio::test]
async fn plans_use_the_gin_index_and_the_live_btree() {
    let url = crate::require_postgres!();
    let db = TestDb::new(&url).await;
    let s = &db.store;
    let a = user(s, "a").await;
    let (_, _, table, f) = table_with(s, a.id, &[("Name", text()), ("Qty", number())]).await;
    let t = now();
    for chunk in 0..20 {
        let batch: Vec<NewRecord> = (0..1000)
            .map(|i| {
                let n = chunk * 1000 + i;
                new_record(
                    cells(&[
                        (f[0].id, json!(format!("name {n}"))),
                        (f[1].id, json!(n % 100)),
                    ]),
                    None,
                    t,
                )
            })
            .collect();
        s.create_records(table.id, &batch).await.unwrap();
    }
    sqlx::query("ANALYZE records")
        .execute(s.pool())
        .await
        .unwrap();
    let eq = RecordQuery {
        table_id: table.id,
        filter: Some(Filter::Cond(Condition {
            target: Target::Cell {
                field: f[0].id,
                kind: ValueKind::Text,
            },
            op: Op::Eq,
            operand: Operand::Text("name 12345".into()),
        })),
        sort: vec![],
        after: None,
        limit: 100,
        include_deleted: false,
    };
    let plan = s.explain(&eq, true).await.unwrap().join("\n");
    eprintln!("EXPLAIN equality filter:\n{plan}");
    assert!(plan.contains("records_data_idx"), "{plan}");
    assert_eq!(s.query_records(&eq).await.unwrap().records.len(), 1);
    let page = RecordQuery {
        filter: None,
        after: Some(Cursor {
            values: vec![],
            id: RecordId::at(t.timestamp_millis()),
            query: 0,
        }),
        ..eq.clone()
    };
    let plan = s.explain(&page, true).await.unwrap().join("\n");
    eprintln!("EXPLAIN keyset page:\n{plan}");
    assert!(plan.contains("records_live_idx"), "{plan}");
    // An indexed number field serves range filters.
    let mut qty = f[1].clone();
    qty.indexed = true;
    s.update_field(&qty).await.unwrap();
    sqlx::query("ANALYZE records")
        .execute(s.pool())
        .await
        .unwrap();
    let range = RecordQuery {
        filter: Some(Filter::Cond(Condition {
            target: Target::Cell {
                field: f[1].id,
                kind: ValueKind::Number,
            },
            op: Op::Gt,
            operand: Operand::Number(98.5),
        })),
        ..eq.clone()
    };
    let plan = s.explain(&range, true).await.unwrap().join("\n");
    eprintln!("EXPLAIN range filter on an indexed number field:\n{plan}");
    assert!(plan.contains(&format!("records_num_{}", qty.id)), "{plan}");
    assert_eq!(s.query_records(&range).await.unwrap().records.len(), 100);
}

/// Shared setup of the property test: a table with a cell of every kind,
/// varied records (empties, ties, case, unicode), some updated and some
/// soft-deleted, and the reference copy of every record.
struct QueryFixture {
    store: PgStore,
    table: TableId,
    text: FieldId,
    num: FieldId,
    flag: FieldId,
    tags: FieldId,
    users: Vec<UserId>,
    times: Vec<String>,
    records: Vec<Record>,
}

const TEXTS: [&str; 10] = [
    "apple",
    "Apple pie",
    "APPLE",
    "banana",
    "b",
    "éclair",
    "Zed",
    "a_b%c",
    "10",
    "9",
];
const NUMBERS: [f64; 9] = [
    -1.5,
    0.0,
    0.1,
    0.30000000000000004,
    1.0,
    2.0,
    2.5,
    10.0,
    1e16,
];
const TAGS: [&str; 4] = ["a", "b", "c", "ü"];

async fn query_fixture(db: &TestDb) -> QueryFixture {
    let s = db.store.clone();
    let u1 = user(&s, "u1").await;
    let u2 = user(&s, "u2").await;
    let choices = |names: &[&str]| {
        FieldType::from_parts("multi_select", &json!({ "choices": names })).unwrap()
    };
    let (_, _, table, f) = table_with(
        &s,
        u1.id,
        &[
            ("Text", text()),
            ("Num", number()),
            ("Flag", FieldType::Checkbox),
            ("Tags", choices(&TAGS)),
        ],
    )
    .await;
    let mut indexed = f[0].clone();
    indexed.indexed = true;
    s.update_field(&indexed).await.unwrap();
    let base = now();
    let times: Vec<DateTime<Utc>> = (0..4)
        .map(|i| base + TimeDelta::milliseconds(i * 1500))
        .collect();
    let mut batch = Vec::new();
    for i in 0..70usize {
        let mut c = Cells::new();
        if i % 7 != 0 {
            c.insert(f[0].id.to_string(), json!(TEXTS[(i * 3) % TEXTS.len()]));
        }
        if i % 5 != 1 {
            let n = NUMBERS[(i * 7) % NUMBERS.len()];
            let v = if n.fract() == 0.0 && n.abs() < 1e15 {
                json!(n as i64)
            } else {
                json!(n)
            };
            c.insert(f[1].id.to_string(), v);
        }
        if i % 3 == 0 {
            c.insert(f[2].id.to_string(), json!(true));
        }
        let tags: Vec<&str> = TAGS
            .iter()
            .enumerate()
            .filter(|(k, _)| (i >> k) & 1 == 1 && i % 4 != 0)
            .map(|(_, t)| *t)
            .collect();
        if !tags.is_empty() {
            c.insert(f[3].id.to_string(), json!(tags));
        }
        let by = [Some(u1.id), Some(u2.id), None][i % 3];
        batch.push(new_record(c, by, times[i % times.len()]));
    }
    let created = s.create_records(table.id, &batch).await.unwrap();
    let patches: Vec<RecordPatch> = created
        .iter()
        .step_by(4)
        .map(|r| RecordPatch {
            id: r.id,
            set: cells(&[(f[0].id, json!("updated"))]),
            ..RecordPatch::default()
        })
        .collect();
    s.update_records(
        table.id,
        &patches,
        times[3] + TimeDelta::seconds(1),
        Some(u2.id),
    )
    .await
    .unwrap();
    let gone: Vec<RecordId> = created.iter().skip(2).step_by(9).map(|r| r.id).collect();
    s.delete_records(table.id, &gone, times[3]).await.unwrap();
    let mut records = Vec::new();
    for r in &created {
        records.push(s.get_record(table.id, r.id, true).await.unwrap());
    }
    QueryFixture {
        store: s,
        table: table.id,
        text: f[0].id,
        num: f[1].id,
        flag: f[2].id,
        tags: f[3].id,
        users: vec![u1.id, u2.id],
        times: times
            .iter()
            .map(|t| t.format(eval::TIME_FORMAT).to_string())
            .collect(),
        records,
    }
}

mod props {
    use proptest::prelude::*;
    use proptest::sample::select;

    use super::*;

    /// Inputs of one generated query: which target, op and operand per leaf.
    #[derive(Debug, Clone)]
    pub(super) enum Leaf {
        Text(Op, usize, Vec<usize>),
        Num(Op, usize, Vec<usize>),
        Flag(Op, bool),
        Tags(Op, Vec<usize>),
        Auto(Op, f64),
        Created(Op, usize),
        CreatedBy(Op, usize),
    }

    pub(super) fn leaf() -> impl Strategy<Value = Leaf> {
        let idx = || proptest::collection::vec(0usize..16, 1..4);
        prop_oneof![
            (
                select(Op::allowed_for(ValueKind::Text).to_vec()),
                0usize..16,
                idx()
            )
                .prop_map(|(o, i, l)| Leaf::Text(o, i, l)),
            (
                select(Op::allowed_for(ValueKind::Number).to_vec()),
                0usize..12,
                idx()
            )
                .prop_map(|(o, i, l)| Leaf::Num(o, i, l)),
            (select(vec![Op::Eq, Op::Neq]), any::<bool>()).prop_map(|(o, b)| Leaf::Flag(o, b)),
            (
                select(Op::allowed_for(ValueKind::List).to_vec()),
                proptest::collection::vec(0usize..5, 1..3)
            )
                .prop_map(|(o, l)| Leaf::Tags(o, l)),
            (
                select(vec![Op::Eq, Op::Neq, Op::Lt, Op::Gte, Op::IsEmpty]),
                select(vec![1.0, 2.5, 35.0, 70.0])
            )
                .prop_map(|(o, n)| Leaf::Auto(o, n)),
            (
                select(vec![
                    Op::Eq,
                    Op::Neq,
                    Op::Lt,
                    Op::Lte,
                    Op::Gt,
                    Op::Gte,
                    Op::Contains,
                    Op::StartsWith
                ]),
                0usize..6
            )
                .prop_map(|(o, i)| Leaf::Created(o, i)),
            (
                select(vec![
                    Op::Eq,
                    Op::Neq,
                    Op::Lt,
                    Op::Gt,
                    Op::IsEmpty,
                    Op::IsNotEmpty,
                    Op::In
                ]),
                0usize..3
            )
                .prop_map(|(o, i)| Leaf::CreatedBy(o, i)),
        ]
    }

    /// Text operands: stored values, case variants, pieces, and misses.
    const NEEDLES: [&str; 6] = ["app", "A", "é", "%", "zzz", "updated"];

    fn text_operand(i: usize) -> String {
        TEXTS
            .get(i)
            .copied()
            .or(NEEDLES.get(i - TEXTS.len().min(i)).copied())
            .unwrap_or("b")
            .to_owned()
    }

    fn number_operand(i: usize) -> f64 {
        NUMBERS
            .get(i)
            .copied()
            .unwrap_or(if i == 9 { 3.0 } else { -100.0 })
    }

    impl QueryFixture {
        pub(super) fn condition(&self, leaf: &Leaf) -> Filter {
            let cell = |field, kind| Target::Cell { field, kind };
            let (target, op, operand) = match leaf.clone() {
                Leaf::Text(op, i, list) => (
                    cell(self.text, ValueKind::Text),
                    op,
                    match op {
                        Op::IsEmpty | Op::IsNotEmpty => Operand::None,
                        Op::In => Operand::TextList(list.into_iter().map(text_operand).collect()),
                        _ => Operand::Text(text_operand(i)),
                    },
                ),
                Leaf::Num(op, i, list) => (
                    cell(self.num, ValueKind::Number),
                    op,
                    match op {
                        Op::IsEmpty | Op::IsNotEmpty => Operand::None,
                        Op::In => {
                            Operand::NumberList(list.into_iter().map(number_operand).collect())
                        }
                        _ => Operand::Number(number_operand(i)),
                    },
                ),
                Leaf::Flag(op, b) => (cell(self.flag, ValueKind::Bool), op, Operand::Bool(b)),
                Leaf::Tags(op, list) => (
                    cell(self.tags, ValueKind::List),
                    op,
                    match op {
                        Op::IsEmpty | Op::IsNotEmpty => Operand::None,
                        _ => Operand::TextList(
                            list.into_iter()
                                .map(|i| TAGS.get(i).copied().unwrap_or("zz").to_owned())
                                .collect(),
                        ),
                    },
                ),
                Leaf::Auto(op, n) => (
                    Target::Meta(MetaColumn::Autonumber),
                    op,
                    if op == Op::IsEmpty {
                        Operand::None
                    } else {
                        Operand::Number(n)
                    },
                ),
                Leaf::Created(op, i) => {
                    let s = match (op, self.times.get(i)) {
                        (Op::Contains, _) => "T".to_owned(),
                        (Op::StartsWith, Some(t)) => t[..10].to_owned(),
                        (_, Some(t)) => t.clone(),
                        (_, None) => "2020-01-01T00:00:00.000Z".to_owned(),
                    };
                    (Target::Meta(MetaColumn::CreatedTime), op, Operand::Text(s))
                }
                Leaf::CreatedBy(op, i) => {
                    let id = self
                        .users
                        .get(i)
                        .map_or_else(|| UserId::new().to_string(), ToString::to_string);
                    (
                        Target::Meta(MetaColumn::CreatedBy),
                        op,
                        match op {
                            Op::IsEmpty | Op::IsNotEmpty => Operand::None,
                            Op::In => Operand::TextList(vec![id]),
                            _ => Operand::Text(id),
                        },
                    )
                }
            };
            Filter::Cond(Condition {
                target,
                op,
                operand,
            })
        }

        pub(super) fn sort_key(&self, which: usize, desc: bool) -> SortKey {
            let target = match which % 7 {
                0 => Target::Cell {
                    field: self.text,
                    kind: ValueKind::Text,
                },
                1 => Target::Cell {
                    field: self.num,
                    kind: ValueKind::Number,
                },
                2 => Target::Cell {
                    field: self.flag,
                    kind: ValueKind::Bool,
                },
                3 => Target::Meta(MetaColumn::Autonumber),
                4 => Target::Meta(MetaColumn::CreatedTime),
                5 => Target::Meta(MetaColumn::CreatedBy),
                _ => Target::Meta(MetaColumn::UpdatedTime),
            };
            SortKey { target, desc }
        }
    }

    /// A filter tree of generated leaves.
    #[derive(Debug, Clone)]
    pub(super) enum Tree {
        Leaf(Leaf),
        And(Vec<Self>),
        Or(Vec<Self>),
        Not(Box<Self>),
    }

    pub(super) fn tree() -> impl Strategy<Value = Tree> {
        leaf()
            .prop_map(Tree::Leaf)
            .prop_recursive(3, 12, 3, |inner| {
                prop_oneof![
                    proptest::collection::vec(inner.clone(), 0..3).prop_map(Tree::And),
                    proptest::collection::vec(inner.clone(), 0..3).prop_map(Tree::Or),
                    inner.prop_map(|t| Tree::Not(Box::new(t))),
                ]
            })
    }

    impl QueryFixture {
        pub(super) fn filter(&self, tree: &Tree) -> Filter {
            match tree {
                Tree::Leaf(l) => self.condition(l),
                Tree::And(p) => Filter::And(p.iter().map(|t| self.filter(t)).collect()),
                Tree::Or(p) => Filter::Or(p.iter().map(|t| self.filter(t)).collect()),
                Tree::Not(t) => Filter::Not(Box::new(self.filter(t))),
            }
        }
    }
}

impl QueryFixture {
    /// Walks every page of a query and compares with the reference.
    async fn check(&self, filter: Option<Filter>, sort: Vec<SortKey>, limit: usize, deleted: bool) {
        let mut want: Vec<&Record> = self
            .records
            .iter()
            .filter(|r| deleted || r.deleted_time.is_none())
            .filter(|r| filter.as_ref().is_none_or(|f| eval::matches(f, r)))
            .collect();
        want.sort_by(|a, b| eval::compare_records(&sort, a, b));
        let want: Vec<RecordId> = want.iter().map(|r| r.id).collect();
        let mut got = Vec::new();
        let mut after = None;
        loop {
            let q = RecordQuery {
                table_id: self.table,
                filter: filter.clone(),
                sort: sort.clone(),
                after: after.take(),
                limit,
                include_deleted: deleted,
            };
            let page = self.store.query_records(&q).await.unwrap();
            assert!(page.records.len() <= limit);
            assert_eq!(
                page.has_more,
                got.len() + page.records.len() < want.len(),
                "has_more of {q:?}"
            );
            got.extend(page.records.iter().map(|r| r.id));
            match page.records.last() {
                Some(last) if page.has_more => {
                    after = Some(Cursor {
                        values: sort
                            .iter()
                            .map(|k| eval::target_value(k.target, last))
                            .collect(),
                        id: last.id,
                        query: 0,
                    });
                }
                _ => break,
            }
            assert!(
                got.len() <= want.len(),
                "pages overrun: {filter:?} {sort:?}"
            );
        }
        assert_eq!(got, want, "filter {filter:?} sort {sort:?} limit {limit}");
    }
}

#[test]
fn queries_and_pages_match_the_reference_evaluator() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};

    let url = crate::require_postgres!();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt.block_on(TestDb::new(&url));
    let fx = Arc::new(rt.block_on(query_fixture(&db)));
    let mut runner = TestRunner::new(Config {
        cases: 96,
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = (
        proptest::option::weighted(0.85, props::tree()),
        proptest::collection::vec((0usize..7, any::<bool>()), 0..3),
        1usize..12,
        proptest::bool::weighted(0.2),
    );
    runner
        .run(&strategy, |(tree, keys, limit, deleted)| {
            let filter = tree.as_ref().map(|t| fx.filter(t));
            let sort: Vec<SortKey> = keys.iter().map(|(k, d)| fx.sort_key(*k, *d)).collect();
            rt.block_on(fx.check(filter, sort, limit, deleted));
            Ok(())
        })
        .unwrap();
    // Every leaf kind on its own, with every sort key, as a floor of coverage.
    rt.block_on(async {
        for which in 0..7 {
            for desc in [false, true] {
                fx.check(None, vec![fx.sort_key(which, desc)], 4, true)
                    .await;
            }
        }
    });
    drop(fx);
    rt.block_on(async { drop(db) });
}

#[tokio::test]
async fn table_access_sees_field_changes_made_by_another_instance() {
    // Fields are cached per store by their rows' id:xmin list; a change made
    // through another store (another server instance) must show at once.
    let url = crate::require_postgres!();
    let db = TestDb::new(&url).await;
    let s = db.store.clone();
    let other = db.second_store().await;
    let a = user(&s, "a").await;
    let (_, _, table, f) = table_with(&s, a.id, &[("A", number()), ("B", text())]).await;
    let names = |access: &pybase_core::store::TableAccess| {
        access
            .fields
            .iter()
            .map(|x| x.name.clone())
            .collect::<Vec<_>>()
    };
    let first = s.table_access(table.id, a.id).await.unwrap();
    assert_eq!(names(&first), vec!["A", "B"]);
    assert_eq!(first.role, Some(Role::Owner));

    let mut renamed = f[1].clone();
    renamed.name = "Renamed".into();
    other.update_field(&renamed).await.unwrap();
    assert_eq!(
        names(&s.table_access(table.id, a.id).await.unwrap()),
        vec!["A", "Renamed"]
    );

    let extra = field(table.id, "C", number(), 5);
    other.create_field(&extra).await.unwrap();
    other.delete_field(f[0].id).await.unwrap();
    let recs = s
        .create_records(
            table.id,
            &[new_record(cells(&[(extra.id, json!(7))]), None, now())],
        )
        .await
        .unwrap();
    let (access, found) = s.record_access(table.id, recs[0].id, a.id).await.unwrap();
    assert_eq!(names(&access), vec!["Renamed", "C"]);
    assert_eq!(found.as_ref(), Some(&recs[0]));
    let (_, missing) = s
        .record_access(table.id, RecordId::new(), a.id)
        .await
        .unwrap();
    assert!(missing.is_none());
    let outsider = user(&s, "b").await;
    assert_eq!(
        s.table_access(table.id, outsider.id).await.unwrap().role,
        None
    );
    assert!(matches!(
        s.table_access(TableId::new(), a.id).await,
        Err(StoreError::NotFound { .. })
    ));
}
