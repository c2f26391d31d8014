//! Shared setup for conformance cases: users of every role, a workspace,
//! a base and a table with many field types.

use std::sync::Arc;

use serde_json::{Map, Value, json};

use crate::facade::{
    FieldKey, NewBase, NewField, NewMember, NewTable, NewWorkspace, QueryInput, RecordOut,
    TableSchema, WriteOptions,
};
use crate::ids::{FieldId, UserId};
use crate::model::{Base, User, Workspace};
use crate::principal::Principal;
use crate::role::Role;
use crate::store::Store;
use crate::{Error, Pybase};

/// A random lowercase tag for unique names.
pub fn tag() -> String {
    crate::ids::RecordId::new().as_str()[10..].to_ascii_lowercase()
}

/// Inserts a user directly through the store (auth is tested elsewhere).
pub async fn make_user(store: &Arc<dyn Store>, name: &str) -> User {
    let now = chrono::Utc::now();
    let user = User {
        id: UserId::new(),
        email: format!("{name}-{}@example.com", tag()),
        name: name.to_owned(),
        created_at: now,
        updated_at: now,
    };
    store
        .create_user(
            &user,
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
        )
        .await
        .expect("create user");
    user
}

/// Builds a JSON object from pairs.
pub fn cells(pairs: &[(&str, Value)]) -> Map<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

/// Everything most cases need.
#[derive(Debug)]
pub struct Fixture {
    /// The facade.
    pub pb: Pybase,
    /// The store under test.
    pub store: Arc<dyn Store>,
    /// The workspace owner.
    pub owner: Principal,
    /// An admin member.
    pub admin: Principal,
    /// An editor member.
    pub editor: Principal,
    /// A viewer member.
    pub viewer: Principal,
    /// A registered user who is not a member.
    pub outsider: Principal,
    /// The workspace.
    pub ws: Workspace,
    /// A base in it.
    pub base: Base,
    /// A table with many field types (see [`Fixture::new`]).
    pub table: TableSchema,
}

impl Fixture {
    /// Sets up users of every role and a table with fields Name (text),
    /// Qty (number), Price (currency, 2 decimals), Done (checkbox), Status
    /// (single select Open/Closed), Tags (multi select a/b/c), Due (date),
    /// Notes (long text), Email (email), Stars (rating), No (autonumber),
    /// Created (created time).
    pub async fn new(store: Arc<dyn Store>) -> Self {
        let pb = Pybase::new(store.clone());
        let mut principals = Vec::new();
        for name in ["owner", "admin", "editor", "viewer", "outsider"] {
            principals.push(make_user(&store, name).await);
        }
        let owner = Principal::user(principals[0].id);
        let ws = pb
            .create_workspace(
                &owner,
                NewWorkspace {
                    name: format!("Fixture {}", tag()),
                    ..NewWorkspace::default()
                },
            )
            .await
            .expect("create workspace");
        for (user, role) in principals[1..4]
            .iter()
            .zip([Role::Admin, Role::Editor, Role::Viewer])
        {
            pb.add_member(
                &owner,
                ws.id,
                NewMember {
                    email: user.email.clone(),
                    role,
                },
            )
            .await
            .expect("add member");
        }
        let base = pb
            .create_base(
                &owner,
                ws.id,
                NewBase {
                    name: "Base".into(),
                    description: None,
                },
            )
            .await
            .expect("create base");
        let f = |name: &str, ty: &str, options: Value| NewField {
            name: name.into(),
            field_type: ty.into(),
            options,
            description: None,
            indexed: false,
        };
        let table = pb
            .create_table(
                &owner,
                base.id,
                NewTable {
                    name: "Items".into(),
                    description: None,
                    fields: vec![
                        f("Name", "text", Value::Null),
                        f("Qty", "number", json!({ "precision": 0 })),
                        f(
                            "Price",
                            "currency",
                            json!({ "precision": 2, "symbol": "$" }),
                        ),
                        f("Done", "checkbox", Value::Null),
                        f(
                            "Status",
                            "single_select",
                            json!({ "choices": ["Open", "Closed"] }),
                        ),
                        f(
                            "Tags",
                            "multi_select",
                            json!({ "choices": ["a", "b", "c"] }),
                        ),
                        f("Due", "date", Value::Null),
                        f("Notes", "long_text", Value::Null),
                        f("Email", "email", Value::Null),
                        f("Stars", "rating", json!({ "max": 5 })),
                        f("No", "autonumber", Value::Null),
                        f("Created", "created_time", Value::Null),
                    ],
                    primary_field: None,
                },
            )
            .await
            .expect("create table");
        Self {
            pb,
            store,
            owner,
            admin: Principal::user(principals[1].id),
            editor: Principal::user(principals[2].id),
            viewer: Principal::user(principals[3].id),
            outsider: Principal::user(principals[4].id),
            ws,
            base,
            table,
        }
    }

    /// The id of the fixture table's field `name`.
    pub fn field(&self, name: &str) -> FieldId {
        self.table
            .fields
            .iter()
            .find(|f| f.name == name)
            .map(|f| f.id)
            .unwrap_or_else(|| panic!("no field {name}"))
    }

    /// A second table (a text field "Name") in the fixture's base, made by
    /// the owner: for cases about what crosses between tables.
    pub async fn other_table(&self) -> TableSchema {
        self.pb
            .create_table(
                &self.owner,
                self.base.id,
                NewTable {
                    name: format!("Other {}", tag()),
                    ..NewTable::default()
                },
            )
            .await
            .expect("create another table")
    }

    /// The "Name" cells of the records of `table` that `query` finds (its
    /// first page), as the owner sees them, sorted.
    pub async fn sorted_names(&self, table: crate::ids::TableId, query: QueryInput) -> Vec<String> {
        let mut names: Vec<String> = self
            .pb
            .query_records(&self.owner, table, query, FieldKey::Name)
            .await
            .expect("query")
            .records
            .iter()
            .filter_map(|r| {
                r.fields
                    .get("Name")
                    .and_then(Value::as_str)
                    .map(String::from)
            })
            .collect();
        names.sort();
        names
    }

    /// Creates one record in the fixture table as the owner.
    pub async fn create(&self, pairs: &[(&str, Value)]) -> RecordOut {
        self.pb
            .create_record(
                &self.owner,
                self.table.table.id,
                cells(pairs),
                WriteOptions::default(),
            )
            .await
            .expect("create record")
    }

    /// Creates one record, returning the error.
    pub async fn create_err(&self, pairs: &[(&str, Value)], typecast: bool) -> Error {
        self.pb
            .create_record(
                &self.owner,
                self.table.table.id,
                cells(pairs),
                WriteOptions {
                    typecast,
                    field_key: FieldKey::Name,
                },
            )
            .await
            .expect_err("write should fail")
    }
}

/// Asserts that `e` is a validation error mentioning `key` in its fields.
#[track_caller]
pub fn assert_invalid(e: &Error, key: &str) {
    match e {
        Error::Validation { fields, .. } => {
            assert!(
                fields.contains_key(key),
                "expected a validation error on {key:?}, got {fields:?}"
            )
        }
        other => panic!("expected a validation error on {key:?}, got {other:?}"),
    }
}
