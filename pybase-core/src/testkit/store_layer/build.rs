//! Rows built straight on the store, for the store-layer cases and the
//! backends' own tests: no facade, so every value is what the test chose. Timestamps are whole
//! milliseconds (what stores keep), so rows read back compare equal.

use crate::fields::kinds::{Number, Text};
use chrono::{DateTime, TimeZone, Utc};
use serde_json::Value;

use crate::fields::FieldType;
use crate::ids::{AttachmentId, BaseId, FieldId, RecordId, TableId, UserId, ViewId, WorkspaceId};
use crate::model::{Attachment, Base, Cells, Field, Table, User, View, ViewType, Workspace};
use crate::query::{RecordQuery, ViewConfig};
use crate::store::{NewRecord, Store};
use crate::testkit::fixture::tag;

/// Now, to the millisecond.
pub fn now() -> DateTime<Utc> {
    Utc.timestamp_millis_opt(Utc::now().timestamp_millis())
        .single()
        .expect("a valid time")
}

/// A user with a unique, lowercase email (as core hands them to stores)
/// and the password hash `"hash"`, inserted.
pub async fn user(store: &dyn Store, name: &str) -> User {
    let t = now();
    let u = User {
        id: UserId::new(),
        email: format!("{}-{}@example.com", name.to_lowercase(), tag()),
        name: name.to_owned(),
        created_at: t,
        updated_at: t,
    };
    store.create_user(&u, "hash").await.unwrap();
    u
}

/// A workspace with a unique slug (not inserted).
pub fn workspace() -> Workspace {
    let t = now();
    Workspace {
        id: WorkspaceId::new(),
        name: "W".into(),
        slug: format!("w-{}", tag()),
        description: None,
        created_at: t,
        updated_at: t,
    }
}

/// A base of `ws` (not inserted).
pub fn base(ws: WorkspaceId, name: &str) -> Base {
    let t = now();
    Base {
        id: BaseId::new(),
        workspace_id: ws,
        name: name.into(),
        description: None,
        created_at: t,
        updated_at: t,
    }
}

/// A table of `base` at `position` (not inserted).
pub fn table(base: &Base, name: &str, position: i64) -> Table {
    let t = now();
    Table {
        id: TableId::new(),
        base_id: base.id,
        workspace_id: base.workspace_id,
        name: name.into(),
        description: None,
        primary_field_id: None,
        position,
        created_at: t,
        updated_at: t,
    }
}

/// A field of `table` (not inserted).
pub fn field(table: TableId, name: &str, field_type: FieldType, position: i64) -> Field {
    let t = now();
    Field {
        id: FieldId::new(),
        table_id: table,
        name: name.to_owned(),
        description: None,
        field_type,
        position,
        indexed: false,
        index_origin: crate::model::IndexOrigin::Manual,
        status: crate::model::FieldStatus::Ready,
        created_at: t,
        updated_at: t,
    }
}

/// A grid view of `table` (not inserted).
pub fn view(table: TableId, name: &str, position: i64) -> View {
    let t = now();
    View {
        id: ViewId::new(),
        table_id: table,
        name: name.into(),
        view_type: ViewType::Grid,
        config: ViewConfig::default(),
        position,
        created_at: t,
        updated_at: t,
    }
}

/// Attachment metadata of `table` (not inserted).
pub fn attachment(table: TableId) -> Attachment {
    Attachment {
        id: AttachmentId::new(),
        table_id: table,
        filename: "a.txt".into(),
        content_type: "text/plain".into(),
        size: 3,
        sha256: "00".into(),
        storage_key: format!("k-{}", tag()),
        created_by: None,
        created_at: now(),
    }
}

/// A text field type.
pub fn text() -> FieldType {
    FieldType::Text(Text { max_length: None })
}

/// A number field type.
pub fn number() -> FieldType {
    FieldType::Number(Number { precision: 8 })
}

/// A workspace owned by `owner` (inserted) with a base and a table of the
/// given fields.
pub async fn table_with(
    store: &dyn Store,
    owner: UserId,
    fields: &[(&str, FieldType)],
) -> (Workspace, Base, Table, Vec<Field>) {
    let ws = workspace();
    store.create_workspace(&ws, owner).await.unwrap();
    let base = base(ws.id, "B");
    store.create_base(&base).await.unwrap();
    let table = table(&base, "T", 0);
    let fields: Vec<Field> = (0_i64..)
        .zip(fields)
        .map(|(i, (n, ft))| field(table.id, n, ft.clone(), i))
        .collect();
    store.create_table(&table, &fields).await.unwrap();
    (ws, base, table, fields)
}

/// A new record with these cells (not inserted).
pub fn record(cells: Cells, by: Option<UserId>) -> NewRecord {
    let at = now();
    NewRecord {
        id: RecordId::new(),
        cells,
        created_by: by,
        created_time: at,
    }
}

/// A new record created at `at` (not inserted).
pub fn record_at(cells: Cells, by: Option<UserId>, at: DateTime<Utc>) -> NewRecord {
    NewRecord {
        id: RecordId::at(at.timestamp_millis()),
        cells,
        created_by: by,
        created_time: at,
    }
}

/// Cells from `(field, value)` pairs.
pub fn cells(pairs: &[(FieldId, Value)]) -> Cells {
    pairs
        .iter()
        .map(|(f, v)| (f.as_str().to_owned(), v.clone()))
        .collect()
}

/// The live records of `table`, in id order.
pub async fn live(store: &dyn Store, table: TableId) -> Vec<crate::model::Record> {
    let q = RecordQuery {
        table_id: table,
        filter: None,
        sort: vec![],
        after: None,
        limit: 1000,
        include_deleted: false,
        log_seq: false,
    };
    store.query_records(&q).await.unwrap().records
}
