//! A PyBase fixture built only through the public API: a user, a workspace,
//! a base, and tables of the workload's six fields.

use std::sync::Arc;

use anyhow::Context as _;
use pybase_core::facade::{
    FieldKey, NewBase, NewField, NewTable, NewWorkspace, TableSchema, WriteOptions,
};
use pybase_core::ids::{BaseId, FieldId, RecordId, TableId, UserId};
use pybase_core::limits::Limits;
use pybase_core::model::User;
use pybase_core::store::Store;
use pybase_core::{Principal, Pybase};
use serde_json::{Map, Value, json};

use crate::data::{FIELD_NAMES, KINDS, row};

/// A placeholder hash: the bench never logs in.
const UNUSABLE_HASH: &str = "!unusable";

/// PyBase with an owner and a base to put tables in.
#[derive(Debug, Clone)]
pub struct Bench {
    /// The facade under test.
    pub pb: Pybase,
    /// The owner of the workspace; every call acts as them.
    pub who: Principal,
    /// The base holding the bench's tables.
    pub base: BaseId,
}

/// A table of the workload and its field ids.
#[derive(Debug, Clone)]
pub struct BenchTable {
    /// The table.
    pub id: TableId,
    /// Field ids in [`FIELD_NAMES`] order.
    pub fields: Vec<FieldId>,
}

impl BenchTable {
    /// The id of the field named `name`.
    pub fn field(&self, name: &str) -> Option<FieldId> {
        FIELD_NAMES
            .iter()
            .position(|n| *n == name)
            .and_then(|i| self.fields.get(i).copied())
    }
}

fn field(name: &str, ty: &str, options: Value) -> NewField {
    NewField {
        name: name.to_owned(),
        field_type: ty.to_owned(),
        options,
        description: None,
        indexed: false,
    }
}

impl Bench {
    /// Creates the owner, a workspace and a base on `store`.
    pub async fn new(store: Arc<dyn Store>) -> anyhow::Result<Self> {
        Self::with_limits(store, Limits::default()).await
    }

    /// As [`Bench::new`], with the facade's limits set (for example with
    /// automatic indexing off, to measure unindexed queries as such).
    pub async fn with_limits(store: Arc<dyn Store>, limits: Limits) -> anyhow::Result<Self> {
        let pb = Pybase::new(Arc::clone(&store)).with_limits(limits);
        let now = pb.clock().now();
        let tag = RecordId::new().as_str()[8..].to_ascii_lowercase();
        let user = User {
            id: UserId::new(),
            email: format!("bench-{tag}@example.com"),
            name: "Bench".to_owned(),
            created_at: now,
            updated_at: now,
        };
        store
            .create_user(&user, UNUSABLE_HASH)
            .await
            .context("creating the bench user")?;
        let who = Principal::user(user.id);
        let ws = pb
            .create_workspace(
                &who,
                NewWorkspace {
                    name: format!("Bench {tag}"),
                    ..Default::default()
                },
            )
            .await?;
        let base = pb
            .create_base(
                &who,
                ws.id,
                NewBase {
                    name: "Bench".to_owned(),
                    description: None,
                },
            )
            .await?;
        Ok(Self {
            pb,
            who,
            base: base.id,
        })
    }

    /// A new table with the six fields of the workload (text, number,
    /// currency, checkbox, single select, long text), none indexed.
    pub async fn table(&self, name: &str) -> anyhow::Result<BenchTable> {
        self.table_indexing(name, &[]).await
    }

    /// Like [`Bench::table`], with the fields named in `indexed` indexed.
    pub async fn table_indexing(&self, name: &str, indexed: &[&str]) -> anyhow::Result<BenchTable> {
        let field = |n: &str, ty: &str, options: Value| NewField {
            indexed: indexed.contains(&n),
            ..field(n, ty, options)
        };
        let schema: TableSchema = self
            .pb
            .create_table(
                &self.who,
                self.base,
                NewTable {
                    name: name.to_owned(),
                    fields: vec![
                        field("Part", "text", Value::Null),
                        field("Qty", "number", json!({ "precision": 0 })),
                        field(
                            "Price",
                            "currency",
                            json!({ "symbol": "$", "precision": 2 }),
                        ),
                        field("In stock", "checkbox", Value::Null),
                        field("Kind", "single_select", json!({ "choices": KINDS })),
                        field("Notes", "long_text", Value::Null),
                    ],
                    ..Default::default()
                },
            )
            .await?;
        let fields = FIELD_NAMES
            .iter()
            .map(|n| {
                schema
                    .fields
                    .iter()
                    .find(|f| f.name == *n)
                    .map(|f| f.id)
                    .with_context(|| format!("field {n} missing"))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(BenchTable {
            id: schema.table.id,
            fields,
        })
    }

    /// Rows `from..to` as create batches of `batch` name-keyed inputs.
    pub fn batches(from: u64, to: u64, batch: usize) -> Vec<Vec<Map<String, Value>>> {
        let rows: Vec<Map<String, Value>> = (from..to).map(|i| row(i).named()).collect();
        rows.chunks(batch.max(1)).map(<[_]>::to_vec).collect()
    }

    /// Inserts rows `0..n` through [`Pybase::create_records`] in batches of
    /// `batch`; returns the ids in insertion order.
    pub async fn fill(
        &self,
        table: &BenchTable,
        n: usize,
        batch: usize,
    ) -> anyhow::Result<Vec<RecordId>> {
        let mut ids = Vec::with_capacity(n);
        let step = batch.max(1);
        let mut from = 0;
        while from < n {
            let to = (from + step).min(n);
            let inputs: Vec<Map<String, Value>> =
                (from..to).map(|i| row(i as u64).named()).collect();
            let out = self
                .pb
                .create_records(&self.who, table.id, inputs, WriteOptions::default())
                .await?;
            ids.extend(out.into_iter().map(|r| r.id));
            from = to;
        }
        Ok(ids)
    }

    /// The facade's default write options (no typecast, cells by name).
    pub fn opts() -> WriteOptions {
        WriteOptions {
            typecast: false,
            field_key: FieldKey::Name,
        }
    }
}
