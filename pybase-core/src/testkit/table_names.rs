//! Table names (issue 11): unique in a base ignoring case, by Rust's
//! lowercasing ("Ärger" takes "ärger"), on create and on rename, through
//! the facade and straight on the store, and under concurrent creates of
//! one name, where exactly one may win. Positions keep increasing.

use std::sync::Arc;

use super::fixture::Fixture;
use super::store_layer::build::{base, field, table, table_with, text, user};
use crate::facade::{NewBase, NewTable, TablePatch};
use crate::store::Store;
use crate::{Error, StoreError};

/// The words of a taken table name (API.md: 409 `conflict` on `name`).
const TAKEN: &str = "a table with this name already exists in the base";

#[track_caller]
// Taken by value so call sites read `assert_taken(pb.op().await)`.
#[allow(clippy::needless_pass_by_value)]
fn assert_taken<T: std::fmt::Debug>(result: crate::Result<T>) {
    match &result {
        Err(Error::Conflict { field, message }) if field == "name" && message == TAKEN => {}
        other => panic!("expected the taken-name conflict, got {other:?}"),
    }
}

#[track_caller]
#[allow(clippy::needless_pass_by_value)]
fn assert_store_taken<T: std::fmt::Debug>(result: crate::StoreResult<T>) {
    match &result {
        Err(StoreError::Conflict {
            entity: "table",
            field,
        }) if field == "name" => {}
        other => panic!("expected Conflict {{ table, name }}, got {other:?}"),
    }
}

fn named(name: &str) -> NewTable {
    NewTable {
        name: name.into(),
        ..NewTable::default()
    }
}

fn rename(name: &str) -> TablePatch {
    TablePatch {
        name: Some(name.into()),
        ..TablePatch::default()
    }
}

/// Through the facade: a name taken in any case is refused on create and
/// on rename with the 409 conflict on `name`; a table may change the case
/// of its own name; another base may reuse a name; a deleted or renamed
/// table's name is free again; each new table goes after the last.
pub async fn table_names_are_unique_in_a_base_ignoring_case(store: Arc<dyn Store>) {
    let fx = Fixture::new(store).await;
    let (o, b) = (&fx.owner, fx.base.id);
    let tasks = fx.pb.create_table(o, b, named("Tasks")).await.unwrap();
    let arger = fx.pb.create_table(o, b, named("Ärger")).await.unwrap();
    let positions = [&fx.table, &tasks, &arger].map(|t| t.table.position);
    assert_eq!(positions, [0, 1, 2]);
    for taken in ["TASKS", "tasks", " Tasks ", "ärger", "ÄRGER", "items"] {
        assert_taken(fx.pb.create_table(o, b, named(taken)).await);
    }
    assert_eq!(fx.pb.list_tables(o, b).await.unwrap().len(), 3);

    let t = tasks.table.id;
    assert_taken(fx.pb.update_table(o, t, rename("ärger")).await);
    assert_taken(fx.pb.update_table(o, t, rename("ITEMS")).await);
    assert_eq!(fx.pb.get_table(o, t).await.unwrap().table.name, "Tasks");
    fx.pb.update_table(o, t, rename("TASKS")).await.unwrap();
    fx.pb.update_table(o, t, rename("Jobs")).await.unwrap();
    // The old name is free, the new one taken.
    let again = fx.pb.create_table(o, b, named("tasks")).await.unwrap();
    assert_eq!(again.table.position, 3);
    assert_taken(fx.pb.create_table(o, b, named("JOBS")).await);
    // A deleted table's name is free; positions go on after the last.
    fx.pb.delete_table(o, arger.table.id).await.unwrap();
    let back = fx.pb.create_table(o, b, named("ärger")).await.unwrap();
    assert_eq!(back.table.position, 4);
    // Another base has names of its own.
    let other = fx
        .pb
        .create_base(
            o,
            fx.ws.id,
            NewBase {
                name: "Other".into(),
                description: None,
            },
        )
        .await
        .unwrap();
    let there = fx
        .pb
        .create_table(o, other.id, named("Tasks"))
        .await
        .unwrap();
    assert_eq!(there.table.position, 0);
}

/// Through the facade: concurrent creates of one name (in different cases)
/// all pass the facade's early check at once; the store lets exactly one
/// through and the others answer the taken-name conflict.
pub async fn concurrent_creates_of_one_table_name_leave_one(store: Arc<dyn Store>) {
    let fx = Fixture::new(store).await;
    let names = ["Race", "race", "RACE", "rAcE"];
    let mut tasks = Vec::new();
    for name in names {
        let (pb, o, b) = (fx.pb.clone(), fx.owner.clone(), fx.base.id);
        tasks.push(tokio::spawn(async move {
            pb.create_table(&o, b, named(name)).await
        }));
    }
    let mut won = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => won += 1,
            other => assert_taken(other),
        }
    }
    assert_eq!(won, 1);
    let listed = fx.pb.list_tables(&fx.owner, fx.base.id).await.unwrap();
    let racers = listed
        .iter()
        .filter(|t| t.name.to_lowercase() == "race")
        .count();
    assert_eq!(racers, 1, "{listed:?}");
}

/// Straight on the store: `create_table` and a renaming `update_table`
/// answer `Conflict { table, name }` for a name another table of the base
/// has in any case; `table_name_taken` and `next_table_position` answer
/// from what is stored; nothing refused is written.
pub async fn stores_refuse_a_taken_table_name(store: Arc<dyn Store>) {
    let a = user(&*store, "a").await;
    let (ws, b, t, _) = table_with(&*store, a.id, &[("Name", text())]).await;
    // `table_with` names its table "T" at position 0.
    assert_eq!(store.next_table_position(b.id).await.unwrap(), 1);
    let arger = table(&b, "Ärger", 7);
    store.create_table(&arger, &[]).await.unwrap();
    assert_eq!(store.next_table_position(b.id).await.unwrap(), 8);
    for (name, taken) in [("t", true), ("ÄRGER", true), ("ärger", true), ("U", false)] {
        assert_eq!(
            store.table_name_taken(b.id, name, None).await.unwrap(),
            taken,
            "{name}"
        );
    }
    assert!(!store.table_name_taken(b.id, "t", Some(t.id)).await.unwrap());

    let dup = table(&b, "ärger", 8);
    assert_store_taken(
        store
            .create_table(&dup, &[field(dup.id, "Name", text(), 0)])
            .await,
    );
    assert!(matches!(
        store.get_table(dup.id).await,
        Err(StoreError::NotFound { .. })
    ));
    let mut renamed = t.clone();
    renamed.name = "ÄRGER".into();
    assert_store_taken(store.update_table(&renamed).await);
    assert_eq!(store.get_table(t.id).await.unwrap(), t);
    // Its own name in another case, and a free one, are fine; the old name
    // is free afterwards.
    renamed.name = "t".into();
    store.update_table(&renamed).await.unwrap();
    renamed.name = "Renamed".into();
    store.update_table(&renamed).await.unwrap();
    assert!(!store.table_name_taken(b.id, "T", None).await.unwrap());
    assert!(store.table_name_taken(b.id, "renamed", None).await.unwrap());
    // Another base of the workspace may use the name.
    let other = base(ws.id, "Other");
    store.create_base(&other).await.unwrap();
    store
        .create_table(&table(&other, "Ärger", 0), &[])
        .await
        .unwrap();
    assert_eq!(store.list_tables(b.id).await.unwrap().len(), 2);
}

/// Straight on the store, without the facade's early check: of concurrent
/// `create_table`s of one name in one base, exactly one succeeds.
pub async fn concurrent_store_creates_of_one_table_name_leave_one(store: Arc<dyn Store>) {
    let a = user(&*store, "a").await;
    let (_, b, _, _) = table_with(&*store, a.id, &[("Name", text())]).await;
    let mut tasks = Vec::new();
    for (i, name) in ["Race", "race", "RACE", "rAcE"].into_iter().enumerate() {
        let store = store.clone();
        let t = table(&b, name, i64::try_from(i).unwrap() + 1);
        tasks.push(tokio::spawn(async move {
            let fields = [field(t.id, "Name", text(), 0)];
            store.create_table(&t, &fields).await
        }));
    }
    let mut won = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(()) => won += 1,
            other => assert_store_taken(other),
        }
    }
    assert_eq!(won, 1);
    assert_eq!(store.list_tables(b.id).await.unwrap().len(), 2);
}
