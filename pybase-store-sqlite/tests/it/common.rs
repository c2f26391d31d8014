//! Fixtures: users, a workspace, a base and a table with one field of each
//! value kind, built straight on the store (no facade).

use pybase_core::clock::{Clock, SystemClock};
use pybase_core::fields::FieldType;
use pybase_core::ids::{BaseId, FieldId, RecordId, TableId, UserId, WorkspaceId};
use pybase_core::model::{Base, Cells, Field, Table, Timestamp, User, Workspace};
use pybase_core::store::{NewRecord, Store};

pub(crate) fn now() -> Timestamp {
    SystemClock.now()
}

pub(crate) async fn user(store: &dyn Store) -> User {
    let id = UserId::new();
    let u = User {
        id,
        email: format!("{}@example.com", id.as_str().to_lowercase()),
        name: "Ada".into(),
        created_at: now(),
        updated_at: now(),
    };
    store.create_user(&u, "$argon2id$hash").await.unwrap();
    u
}

/// A table with fields `text`, `number`, `flag` (checkbox) and `tags`
/// (multi select), owned by `owner`.
pub(crate) struct Fixture {
    pub(crate) owner: User,
    pub(crate) ws: Workspace,
    pub(crate) base: Base,
    pub(crate) table: Table,
    pub(crate) text: FieldId,
    pub(crate) number: FieldId,
    pub(crate) flag: FieldId,
    pub(crate) tags: FieldId,
}

pub(crate) fn field(table: TableId, name: &str, field_type: FieldType, position: i64) -> Field {
    Field {
        id: FieldId::new(),
        table_id: table,
        name: name.into(),
        description: None,
        field_type,
        position,
        indexed: false,
        created_at: now(),
        updated_at: now(),
    }
}

pub(crate) async fn fixture(store: &dyn Store) -> Fixture {
    let owner = user(store).await;
    let ws_id = WorkspaceId::new();
    let ws = Workspace {
        id: ws_id,
        name: "W".into(),
        slug: ws_id.as_str().to_lowercase(),
        description: None,
        created_at: now(),
        updated_at: now(),
    };
    store.create_workspace(&ws, owner.id).await.unwrap();
    let base = Base {
        id: BaseId::new(),
        workspace_id: ws.id,
        name: "B".into(),
        description: None,
        created_at: now(),
        updated_at: now(),
    };
    store.create_base(&base).await.unwrap();
    let table_id = TableId::new();
    let choices = serde_json::json!({"choices": ["a", "b", "c", "d"]});
    let fields = vec![
        field(table_id, "Text", FieldType::Text { max_length: None }, 0),
        field(table_id, "Number", FieldType::Number { precision: 2 }, 1),
        field(table_id, "Flag", FieldType::Checkbox, 2),
        field(
            table_id,
            "Tags",
            FieldType::from_parts("multi_select", &choices).unwrap(),
            3,
        ),
    ];
    let table = Table {
        id: table_id,
        base_id: base.id,
        workspace_id: ws.id,
        name: "T".into(),
        description: None,
        primary_field_id: Some(fields[0].id),
        position: 0,
        created_at: now(),
        updated_at: now(),
    };
    store.create_table(&table, &fields).await.unwrap();
    Fixture {
        owner,
        ws,
        base,
        table,
        text: fields[0].id,
        number: fields[1].id,
        flag: fields[2].id,
        tags: fields[3].id,
    }
}

pub(crate) fn cells(pairs: &[(FieldId, serde_json::Value)]) -> Cells {
    pairs
        .iter()
        .map(|(f, v)| (f.to_string(), v.clone()))
        .collect()
}

pub(crate) fn new_record(cells: Cells, by: Option<UserId>) -> NewRecord {
    NewRecord {
        id: RecordId::new(),
        cells,
        created_by: by,
        created_time: now(),
    }
}
