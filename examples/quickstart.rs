//! Quickstart: embed PyBase with SQLite, no services needed.
//!
//! Creates a user, a workspace, a base and a table with several field types,
//! inserts records, then runs a filtered and sorted query and prints it.
//!
//! Run with `cargo run -p pybase-examples --example quickstart`
//! (add a path argument to keep the database in a file).

use std::sync::Arc;

use anyhow::Context as _;
use pybase_core::facade::{
    FieldKey, NewBase, NewField, NewTable, NewWorkspace, QueryInput, WriteOptions,
};
use pybase_core::ids::UserId;
use pybase_core::model::User;
use pybase_core::store::Store;
use pybase_core::{Principal, Pybase};
use pybase_store_sqlite::SqliteStore;
use serde_json::{Map, Value, json};

fn field(name: &str, ty: &str, options: Value) -> NewField {
    NewField {
        name: name.into(),
        field_type: ty.into(),
        options,
        description: None,
        indexed: false,
    }
}

fn cells(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let store: Arc<dyn Store> = match std::env::args().nth(1) {
        Some(path) => {
            Arc::new(SqliteStore::open(&path).with_context(|| format!("opening {path}"))?)
        }
        None => Arc::new(SqliteStore::open_in_memory()?),
    };
    let pybase = Pybase::new(store.clone());

    // An embedding program manages its own users; here we add one directly.
    // (The server registers users through pybase_core::auth instead.)
    let now = pybase.clock().now();
    let user = User {
        id: UserId::new(),
        email: format!(
            "ada-{}@example.com",
            UserId::new().as_str()[10..].to_lowercase()
        ),
        name: "Ada".into(),
        created_at: now,
        updated_at: now,
    };
    store.create_user(&user, "!unusable").await?;
    let ada = Principal::user(user.id);

    let ws = pybase
        .create_workspace(
            &ada,
            NewWorkspace {
                name: "Workshop".into(),
                ..Default::default()
            },
        )
        .await?;
    let base = pybase
        .create_base(
            &ada,
            ws.id,
            NewBase {
                name: "Inventory".into(),
                description: None,
            },
        )
        .await?;
    let parts = pybase
        .create_table(
            &ada,
            base.id,
            NewTable {
                name: "Parts".into(),
                fields: vec![
                    field("Part", "text", Value::Null),
                    field("Qty", "number", json!({ "precision": 0 })),
                    field(
                        "Price",
                        "currency",
                        json!({ "symbol": "€", "precision": 2 }),
                    ),
                    field("In stock", "checkbox", Value::Null),
                    field(
                        "Kind",
                        "single_select",
                        json!({ "choices": ["Bolt", "Nut", "Washer"] }),
                    ),
                    field("Added", "created_time", Value::Null),
                ],
                ..Default::default()
            },
        )
        .await?;
    let table = parts.table.id;

    let rows = [
        json!({ "Part": "M6 bolt", "Qty": 1200, "Price": 0.12, "In stock": true, "Kind": "Bolt" }),
        json!({ "Part": "M6 nut", "Qty": 800, "Price": 0.05, "In stock": true, "Kind": "Nut" }),
        json!({ "Part": "M8 bolt", "Qty": 300, "Price": "0.25", "Kind": "Bolt" }),
        json!({ "Part": "M8 washer", "Qty": 950, "Price": 0.03, "In stock": true, "Kind": "Washer" }),
        json!({ "Part": "M10 bolt", "Qty": 640, "Price": 0.41, "In stock": true, "Kind": "Bolt" }),
    ];
    // typecast lets "0.25" become a number.
    let created = pybase
        .create_records(
            &ada,
            table,
            rows.into_iter().map(cells).collect(),
            WriteOptions {
                typecast: true,
                field_key: FieldKey::Name,
            },
        )
        .await?;
    println!(
        "created {} records in table {}",
        created.len(),
        parts.table.name
    );

    // Bolts with more than 500 in stock, most expensive first.
    let page = pybase
        .query_records(
            &ada,
            table,
            QueryInput {
                filter: Some(json!({ "and": [
                    { "field": "Kind", "op": "eq", "value": "Bolt" },
                    { "field": "Qty", "op": "gt", "value": 500 }
                ]})),
                sort: Some(json!("-Price")),
                fields: Some(vec!["Part".into(), "Qty".into(), "Price".into()]),
                ..Default::default()
            },
            FieldKey::Name,
        )
        .await?;
    println!("bolts with Qty > 500, by price descending:");
    for r in &page.records {
        println!("  {} {}", r.id, serde_json::to_string(&r.fields)?);
    }
    Ok(())
}
