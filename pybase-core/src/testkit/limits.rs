//! Conformance cases for the input limits (REVIEW-security H2 and L2): each
//! oversized input is a `Validation` error naming the limit, found before
//! any work that grows with it, and nothing is written.

use std::sync::Arc;

use serde_json::{Value, json};

use super::fixture::{Fixture, cells};
use crate::Error;
use crate::facade::{FieldKey, NewField, NewTable, QueryInput, WriteOptions};
use crate::ids::RecordId;
use crate::limits::Limits;
use crate::store::Store;

#[track_caller]
fn assert_limit<T: std::fmt::Debug>(r: crate::Result<T>, key: &str, words: &str) {
    match r {
        Err(Error::Validation { fields, .. })
            if fields.get(key).is_some_and(|m| m.contains(words)) => {}
        other => panic!("expected a validation error on {key} saying {words:?}, got {other:?}"),
    }
}

fn field(name: &str, ty: &str, options: Value) -> NewField {
    NewField {
        name: name.into(),
        field_type: ty.into(),
        options,
        description: None,
        indexed: false,
    }
}

/// Link, attachment and multi-select cells hold at most `cell_items`
/// items, counted before parsing; typecast cannot grow a select past
/// `choices`; nothing is written when a limit is hit.
pub async fn cells_and_choices_are_bounded(store: Arc<dyn Store>) {
    let fx = Fixture::new(store).await;
    let pb = fx.pb.clone().with_limits(Limits {
        cell_items: 5,
        choices: 4,
        ..Limits::default()
    });
    let t = fx.table.table.id;
    let base = fx.base.id;
    let links = pb
        .create_table(
            &fx.owner,
            base,
            NewTable {
                name: "Linker".into(),
                fields: vec![
                    field("Name", "text", Value::Null),
                    field(
                        "Items",
                        "link",
                        json!({"linked_table_id": t.to_string(), "allow_multiple": true}),
                    ),
                ],
                ..NewTable::default()
            },
        )
        .await
        .expect("table");
    let lt = links.table.id;
    let ids: Vec<String> = (0..6).map(|_| RecordId::new().to_string()).collect();
    assert_limit(
        pb.create_record(
            &fx.editor,
            lt,
            cells(&[("Items", json!(ids))]),
            WriteOptions::default(),
        )
        .await,
        "Items",
        "at most 5 items",
    );
    assert_limit(
        pb.create_record(
            &fx.editor,
            t,
            cells(&[("Tags", json!("a,b,c,a,b,c"))]),
            WriteOptions {
                typecast: true,
                ..WriteOptions::default()
            },
        )
        .await,
        "Tags",
        "at most 5 items",
    );
    // Tags has a, b, c: typecast may add one more choice, not two.
    let opts = WriteOptions {
        typecast: true,
        ..WriteOptions::default()
    };
    let before = pb.list_fields(&fx.owner, t).await.expect("fields");
    assert_limit(
        pb.create_records(
            &fx.editor,
            t,
            vec![
                cells(&[("Tags", json!(["d"]))]),
                cells(&[("Tags", json!(["e"]))]),
            ],
            opts,
        )
        .await,
        "Tags",
        "at most 4 choices",
    );
    assert_eq!(pb.list_fields(&fx.owner, t).await.expect("fields"), before);
    let page = pb
        .query_records(&fx.owner, t, QueryInput::default(), FieldKey::Name)
        .await
        .expect("query");
    assert!(page.records.is_empty(), "nothing was written");
    pb.create_record(&fx.editor, t, cells(&[("Tags", json!(["d"]))]), opts)
        .await
        .expect("one more choice fits");
}

/// Select fields hold at most `choices` choices and tables at most
/// `fields_per_table` fields, at creation and later.
pub async fn fields_and_options_are_bounded(store: Arc<dyn Store>) {
    let fx = Fixture::new(store).await;
    let pb = fx.pb.clone().with_limits(Limits {
        choices: 3,
        fields_per_table: 3,
        ..Limits::default()
    });
    let many = |n: usize| json!({"choices": (0..n).map(|i| format!("c{i}")).collect::<Vec<_>>()});
    let new_table = |fields: Vec<NewField>| NewTable {
        name: "Bounded".into(),
        fields,
        ..NewTable::default()
    };
    assert_limit(
        pb.create_table(
            &fx.owner,
            fx.base.id,
            new_table(
                (0..4)
                    .map(|i| field(&format!("f{i}"), "text", Value::Null))
                    .collect(),
            ),
        )
        .await,
        "fields",
        "at most 3 fields",
    );
    assert_limit(
        pb.create_table(
            &fx.owner,
            fx.base.id,
            new_table(vec![field("S", "single_select", many(4))]),
        )
        .await,
        "fields[0].S",
        "at most 3 choices",
    );
    let table = pb
        .create_table(
            &fx.owner,
            fx.base.id,
            new_table(vec![
                field("A", "text", Value::Null),
                field("S", "multi_select", many(3)),
            ]),
        )
        .await
        .expect("within the limits");
    let t = table.table.id;
    pb.create_field(&fx.owner, t, field("C", "text", Value::Null))
        .await
        .expect("third field");
    assert_limit(
        pb.create_field(&fx.owner, t, field("D", "text", Value::Null))
            .await,
        "fields",
        "at most 3 fields",
    );
    let s = table.fields[1].id;
    assert_limit(
        pb.update_field(
            &fx.owner,
            s,
            crate::facade::FieldPatch {
                options: Some(many(4)),
                ..crate::facade::FieldPatch::default()
            },
        )
        .await,
        "S",
        "at most 3 choices",
    );
}

/// A table has at most `indexed_fields_per_table` indexed fields, whether
/// declared at creation, by a new field or by a patch; views stop adding
/// automatic indexes at the cap (and still work); unindexing frees a place.
pub async fn indexed_fields_are_capped(store: Arc<dyn Store>) {
    let fx = Fixture::new(store).await;
    let pb = fx.pb.clone().with_limits(Limits {
        indexed_fields_per_table: 2,
        ..Limits::default()
    });
    let indexed = |name: &str| NewField {
        indexed: true,
        ..field(name, "number", Value::Null)
    };
    let new_table = |fields: Vec<NewField>| NewTable {
        name: "Capped".into(),
        fields,
        ..NewTable::default()
    };
    assert_limit(
        pb.create_table(
            &fx.owner,
            fx.base.id,
            new_table(vec![indexed("A"), indexed("B"), indexed("C")]),
        )
        .await,
        "fields",
        "at most 2 indexed fields",
    );
    let table = pb
        .create_table(
            &fx.owner,
            fx.base.id,
            new_table(vec![indexed("A"), field("B", "number", Value::Null)]),
        )
        .await
        .expect("one indexed field");
    let t = table.table.id;
    let c = pb
        .create_field(&fx.owner, t, indexed("C"))
        .await
        .expect("second indexed field");
    assert_limit(
        pb.create_field(&fx.owner, t, indexed("D")).await,
        "indexed",
        "at most 2 indexed fields",
    );
    let index_b = || crate::facade::FieldPatch {
        indexed: Some(true),
        ..crate::facade::FieldPatch::default()
    };
    let b = table.fields[1].id;
    assert_limit(
        pb.update_field(&fx.owner, b, index_b()).await,
        "indexed",
        "at most 2 indexed fields",
    );
    // A view sorting by B works, unindexed, at the cap.
    pb.create_view(
        &fx.owner,
        t,
        crate::facade::NewView {
            name: "By B".into(),
            view_type: None,
            config: json!({"sort": "-B"}),
        },
    )
    .await
    .expect("a view at the cap");
    let fields = pb.list_fields(&fx.owner, t).await.expect("fields");
    assert_eq!(fields.iter().filter(|f| f.indexed).count(), 2);
    // Unindexing C makes room for B.
    pb.update_field(
        &fx.owner,
        c.id,
        crate::facade::FieldPatch {
            indexed: Some(false),
            ..crate::facade::FieldPatch::default()
        },
    )
    .await
    .expect("unindex");
    let b = pb
        .update_field(&fx.owner, b, index_b())
        .await
        .expect("room");
    assert!(b.indexed);
}

/// Pages that filter or sort by an unindexed text or number field get it
/// indexed after `auto_index_after` of them (origin `automatic`), within the
/// per-table budget; `indexed: false` declines it for good.
pub async fn queries_index_their_fields_automatically(store: Arc<dyn Store>) {
    let fx = Fixture::new(store).await;
    let pb = fx.pb.clone().with_limits(Limits {
        auto_index_after: 3,
        auto_indexes_per_table: 1,
        ..Limits::default()
    });
    let t = fx.table.table.id;
    let by = |filter: Value, sort: Value| QueryInput {
        filter: Some(filter),
        sort: Some(sort),
        ..QueryInput::default()
    };
    let origin = |id: crate::ids::FieldId| {
        let pb = pb.clone();
        let who = fx.owner.clone();
        async move {
            let f = pb.list_fields(&who, t).await.expect("fields");
            let f = f.into_iter().find(|f| f.id == id).expect("field");
            (f.indexed, f.index_origin)
        }
    };
    let qty = fx.field("Qty");
    let name = fx.field("Name");
    let manual = (false, crate::model::IndexOrigin::Manual);
    for i in 0..3 {
        assert_eq!(origin(qty).await, manual, "not before {i} queries");
        pb.query_records(
            &fx.viewer,
            t,
            by(
                json!({"field": "Qty", "op": "gt", "value": 1}),
                json!("-Qty"),
            ),
            FieldKey::Name,
        )
        .await
        .expect("query");
        pb.flush_background().await;
    }
    assert_eq!(
        origin(qty).await,
        (true, crate::model::IndexOrigin::Automatic)
    );
    // The table's budget of one automatic index is spent: Name stays.
    for _ in 0..4 {
        pb.query_records(
            &fx.viewer,
            t,
            by(
                json!({"field": "Name", "op": "eq", "value": "x"}),
                json!("Name"),
            ),
            FieldKey::Name,
        )
        .await
        .expect("query");
    }
    pb.flush_background().await;
    assert_eq!(origin(name).await, manual);
    // Turning the automatic index off declines it: more queries leave it.
    pb.update_field(
        &fx.owner,
        qty,
        crate::facade::FieldPatch {
            indexed: Some(false),
            ..crate::facade::FieldPatch::default()
        },
    )
    .await
    .expect("unindex");
    let declined = (false, crate::model::IndexOrigin::Declined);
    assert_eq!(origin(qty).await, declined);
    for _ in 0..6 {
        pb.query_records(
            &fx.viewer,
            t,
            by(
                json!({"field": "Qty", "op": "gt", "value": 1}),
                json!("Qty"),
            ),
            FieldKey::Name,
        )
        .await
        .expect("query");
    }
    pb.flush_background().await;
    assert_eq!(origin(qty).await, declined);
}

/// Filters count empty groups and list values (the review's two bypasses),
/// with the default limits, and the answer is a `Validation` error on
/// every backend, never a backend error.
pub async fn filter_size_is_bounded(store: Arc<dyn Store>) {
    let fx = Fixture::new(store).await;
    let t = fx.table.table.id;
    let limits = *fx.pb.limits();
    let query = |filter: Value| QueryInput {
        filter: Some(filter),
        ..QueryInput::default()
    };
    let empty_groups: Vec<Value> = (0..100_000).map(|_| json!({"or": []})).collect();
    assert_limit(
        fx.pb
            .query_records(
                &fx.viewer,
                t,
                query(json!({"and": empty_groups})),
                FieldKey::Name,
            )
            .await,
        "filter",
        "conditions and groups",
    );
    let names: Vec<String> = (0..40_000).map(|i| format!("n{i}")).collect();
    assert_limit(
        fx.pb
            .query_records(
                &fx.viewer,
                t,
                query(json!({"field": "Name", "op": "in", "value": names})),
                FieldKey::Name,
            )
            .await,
        "filter",
        "list values",
    );
    // Many lists that are each small still share one budget.
    let per = limits.filter_values / 4 + 1;
    let lists: Vec<Value> = (0..4)
        .map(|_| {
            json!({"field": "Name", "op": "in",
                   "value": (0..per).map(|i| format!("n{i}")).collect::<Vec<_>>()})
        })
        .collect();
    assert_limit(
        fx.pb
            .query_records(&fx.viewer, t, query(json!({"or": lists})), FieldKey::Name)
            .await,
        "filter",
        "list values",
    );
    // At the limits the query runs.
    let full: Vec<String> = (0..limits.filter_values).map(|i| format!("n{i}")).collect();
    fx.pb
        .query_records(
            &fx.viewer,
            t,
            query(json!({"field": "Name", "op": "in", "value": full})),
            FieldKey::Name,
        )
        .await
        .expect("a full list is fine");
    let groups: Vec<Value> = (0..limits.filter_nodes - 1)
        .map(|i| json!({"field": "Name", "op": "eq", "value": format!("n{i}")}))
        .collect();
    fx.pb
        .query_records(&fx.viewer, t, query(json!({"or": groups})), FieldKey::Name)
        .await
        .expect("the most conditions and groups");
}
