//! Fixtures: users, a workspace, a base and a table with one field of each
//! value kind, built straight on the store (no facade).

use pybase_core::fields::FieldType;
use pybase_core::fields::kinds::{Checkbox, Number, Text};
use pybase_core::ids::{BaseId, FieldId, TableId, WorkspaceId};
use pybase_core::model::{Base, Table, User, Workspace};
use pybase_core::store::Store;

pub(crate) use pybase_core::testkit::store_layer::build::{
    cells, field, now, record as new_record, user,
};

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

pub(crate) async fn fixture(store: &dyn Store) -> Fixture {
    let owner = user(store, "Ada").await;
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
        field(
            table_id,
            "Text",
            FieldType::Text(Text { max_length: None }),
            0,
        ),
        field(
            table_id,
            "Number",
            FieldType::Number(Number { precision: 2 }),
            1,
        ),
        field(table_id, "Flag", FieldType::Checkbox(Checkbox), 2),
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
