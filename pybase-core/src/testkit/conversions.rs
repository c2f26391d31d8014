//! A field converting to another type while records are written: writes
//! through the same facade wait for it and are checked against the new
//! type; writes it cannot hold back (another server instance's, made here
//! straight through the store) make it convert again the cells they
//! changed, or, when they never stop, give up changing nothing; records a
//! failed conversion into a link made go to the trash.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use futures::FutureExt as _;
use serde_json::{Map, Value, json};

use super::fixture::{Fixture, cells};
use super::minimal::{BeforeReplace, MinimalStore};
use crate::Error;
use crate::facade::{FieldKey, FieldPatch, QueryInput, WriteOptions};
use crate::ids::{FieldId, RecordId, TableId};
use crate::store::{RecordPatch, Store};

/// What a hook writes on its `n`th call (from 0): a record's cell, or
/// nothing.
type Plan = Arc<dyn Fn(usize) -> Option<(RecordId, Value)> + Send + Sync>;

/// A store over `store` whose conversions, before each compare-and-set,
/// write one cell of `field` of `table` straight through `store` (as
/// another server instance would) as `plan` says; with the count of
/// compare-and-sets.
struct Interleaved {
    store: Arc<dyn Store>,
    calls: Arc<AtomicUsize>,
    target: Arc<Mutex<Option<(TableId, FieldId, Plan)>>>,
}

impl Interleaved {
    fn new(inner: Arc<dyn Store>) -> Self {
        let calls = Arc::new(AtomicUsize::new(0));
        let target: Arc<Mutex<Option<(TableId, FieldId, Plan)>>> = Arc::new(Mutex::new(None));
        let hook: BeforeReplace = {
            let (inner, calls, target) = (inner.clone(), calls.clone(), target.clone());
            Arc::new(move || {
                let n = calls.fetch_add(1, Ordering::SeqCst);
                let planned = target
                    .lock()
                    .expect("plan")
                    .as_ref()
                    .and_then(|(t, f, plan)| plan(n).map(|(r, v)| (*t, *f, r, v)));
                let inner = inner.clone();
                async move {
                    if let Some((table, field, record, value)) = planned {
                        let mut set = Map::new();
                        set.insert(field.to_string(), value);
                        let patch = RecordPatch {
                            id: record,
                            set,
                            unset: Vec::new(),
                            replace: false,
                        };
                        inner
                            .update_records(table, &[patch], chrono::Utc::now(), None)
                            .await
                            .expect("the other instance's write");
                    }
                }
                .boxed()
            })
        };
        Self {
            store: MinimalStore::before_replace(inner, hook),
            calls,
            target,
        }
    }

    /// From now on, writes `plan`'s cells of `field` of `table`; counts
    /// compare-and-sets from 0 again.
    fn plan(&self, table: TableId, field: FieldId, plan: Plan) {
        *self.target.lock().expect("plan") = Some((table, field, plan));
        self.calls.store(0, Ordering::SeqCst);
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

fn retype(ty: &str, options: Value) -> FieldPatch {
    FieldPatch {
        field_type: Some(ty.into()),
        options: Some(options),
        ..FieldPatch::default()
    }
}

async fn cell(fx: &Fixture, record: RecordId, name: &str) -> Option<Value> {
    fx.pb
        .get_record(&fx.owner, fx.table.table.id, record, FieldKey::Name)
        .await
        .expect("get record")
        .fields
        .get(name)
        .cloned()
}

/// The names of `table`'s live records, sorted.
async fn live_names(fx: &Fixture, table: TableId) -> Vec<String> {
    fx.sorted_names(table, QueryInput::default()).await
}

/// The writes a hook started mid-conversion, each a record update.
type Held = Arc<Mutex<Vec<tokio::task::JoinHandle<crate::Result<crate::facade::RecordOut>>>>>;

/// Writes through the facade wait while a field of their table converts,
/// and one checked against the old type is checked again against the new
/// one once the conversion is over: refused if its cell no longer fits,
/// written if it does. The conversion itself meets still cells and
/// succeeds at its first compare-and-set.
pub async fn writes_wait_for_a_conversion_and_meet_the_new_type(store: Arc<dyn Store>) {
    let held: Held = Arc::new(Mutex::new(Vec::new()));
    let facade: Arc<OnceLock<Fixture>> = Arc::new(OnceLock::new());
    let record: Arc<OnceLock<RecordId>> = Arc::new(OnceLock::new());
    let calls = Arc::new(AtomicUsize::new(0));
    let hook: BeforeReplace = {
        let (facade, record, held, calls) =
            (facade.clone(), record.clone(), held.clone(), calls.clone());
        Arc::new(move || {
            let first = calls.fetch_add(1, Ordering::SeqCst) == 0;
            let (facade, record, held) = (facade.clone(), record.clone(), held.clone());
            async move {
                let (Some(fx), Some(r), true) = (facade.get(), record.get(), first) else {
                    return;
                };
                // Clients' writes arriving mid-conversion, checked against
                // the fields as they are (Notes still long text): one that
                // will not fit the new type, one of another field.
                // A third names a new vendor (typecast makes it) and will
                // not fit either.
                for write in [
                    cells(&[("Notes", json!("not a number"))]),
                    cells(&[("Qty", json!(5))]),
                    cells(&[("Notes", json!("nor this")), ("Vendor", json!(["Fresh"]))]),
                ] {
                    let (pb, o, t, r) = (fx.pb.clone(), fx.owner.clone(), fx.table.table.id, *r);
                    let write = tokio::spawn(async move {
                        pb.update_record(
                            &o,
                            t,
                            r,
                            write,
                            WriteOptions {
                                typecast: true,
                                field_key: FieldKey::Name,
                            },
                            false,
                        )
                        .await
                    });
                    held.lock().expect("held").push(write);
                }
                // An upsert checked against the old fields is checked again
                // too (it answered the merge fields' 409 before).
                let (pb, o, t) = (fx.pb.clone(), fx.owner.clone(), fx.table.table.id);
                let upsert = tokio::spawn(async move {
                    pb.upsert_records(
                        &o,
                        t,
                        &["Name".to_owned()],
                        vec![cells(&[("Name", json!("upserted")), ("Qty", json!(7))])],
                        WriteOptions::default(),
                    )
                    .await
                    .map(|u| u.records.into_iter().next().expect("one record"))
                });
                held.lock().expect("held").push(upsert);
                tokio::time::sleep(Duration::from_millis(100)).await;
                for write in held.lock().expect("held").iter() {
                    assert!(!write.is_finished(), "the write waits for the conversion");
                }
            }
            .boxed()
        })
    };
    let fx = Fixture::new(MinimalStore::before_replace(store, hook)).await;
    let vendors = fx.other_table().await.table.id;
    fx.pb
        .create_field(
            &fx.owner,
            fx.table.table.id,
            crate::facade::NewField {
                name: "Vendor".into(),
                field_type: "link".into(),
                options: json!({"linked_table_id": vendors}),
                description: None,
                indexed: false,
            },
        )
        .await
        .expect("link field");
    let a = fx.create(&[("Notes", json!("12"))]).await.id;
    let _ = record.set(a);
    let notes = fx.field("Notes");
    let pb = fx.pb.clone();
    let owner = fx.owner.clone();
    let _ = facade.set(fx);
    let fx = facade.get().expect("fixture");

    pb.update_field(&owner, notes, retype("number", json!({"precision": 0})))
        .await
        .expect("the conversion");
    assert_eq!(calls.load(Ordering::SeqCst), 1, "one compare-and-set");
    let writes: Vec<_> = held.lock().expect("held").drain(..).collect();
    let [notes_write, qty_write, vendor_write, upsert_write] =
        <[_; 4]>::try_from(writes).expect("four held writes");
    let upserted = upsert_write
        .await
        .expect("the upsert's task")
        .expect("an upsert fitting the new fields is written");
    assert_eq!(upserted.fields.get("Qty"), Some(&json!(7)));
    let refused = notes_write.await.expect("the write's task").unwrap_err();
    assert!(
        matches!(&refused, Error::Validation { fields, .. } if fields.contains_key("Notes")),
        "checked against the new type: {refused:?}"
    );
    qty_write
        .await
        .expect("the write's task")
        .expect("fits the new fields too");
    let refused = vendor_write.await.expect("the write's task").unwrap_err();
    assert!(matches!(&refused, Error::Validation { .. }), "{refused:?}");
    assert_eq!(cell(fx, a, "Notes").await, Some(json!(12)));
    assert_eq!(cell(fx, a, "Qty").await, Some(json!(5)));
    assert_eq!(cell(fx, a, "Vendor").await, None);
    assert!(
        live_names(fx, vendors).await.is_empty(),
        "the refused write's new vendor went to the trash"
    );
}

/// Writes the facade cannot hold back (another instance's) make a
/// conversion convert again the cells they changed: the last value written
/// is the one converted. Writes that never stop make it give up with a
/// conflict, changing nothing.
pub async fn conversions_convert_again_what_other_instances_wrote(store: Arc<dyn Store>) {
    let other = Interleaved::new(store);
    let fx = Fixture::new(other.store.clone()).await;
    let o = &fx.owner;
    let t = fx.table.table.id;
    let a = fx.create(&[("Notes", json!("1"))]).await.id;
    let b = fx.create(&[("Notes", json!("2"))]).await.id;
    let notes = fx.field("Notes");

    other.plan(
        t,
        notes,
        Arc::new(move |n| (n < 2).then(|| (a, json!(format!("{}", 10 + n))))),
    );
    fx.pb
        .update_field(o, notes, retype("number", json!({"precision": 0})))
        .await
        .expect("settles once the writes stop");
    assert_eq!(other.calls(), 3);
    assert_eq!(cell(&fx, a, "Notes").await, Some(json!(11)));
    assert_eq!(cell(&fx, b, "Notes").await, Some(json!(2)));

    let qty = fx.field("Qty");
    fx.pb
        .update_record(
            o,
            t,
            b,
            cells(&[("Qty", json!(5))]),
            WriteOptions::default(),
            false,
        )
        .await
        .expect("qty");
    other.plan(t, qty, Arc::new(move |n| Some((a, json!(100 + n)))));
    let e = fx
        .pb
        .update_field(o, qty, retype("text", Value::Null))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, Error::Conflict { field, .. } if field == "Qty"),
        "{e:?}"
    );
    assert_eq!(other.calls(), 5, "five attempts");
    let field = fx.pb.get_field(o, qty).await.expect("qty");
    assert_eq!(field.field_type.type_name(), "number", "nothing changed");
    assert_eq!(cell(&fx, a, "Qty").await, Some(json!(104)));
    assert_eq!(cell(&fx, b, "Qty").await, Some(json!(5)));
}

/// A conversion into a link that fails after making records of the linked
/// table (a cell changed meanwhile into one that cannot convert, or cells
/// that kept changing) sends them to the trash: the linked table is as it
/// was, and the field keeps its type and cells.
pub async fn failed_link_conversions_trash_the_records_they_made(store: Arc<dyn Store>) {
    let other = Interleaved::new(store);
    let fx = Fixture::new(other.store.clone()).await;
    let o = &fx.owner;
    let t = fx.table.table.id;
    let vendors = fx.other_table().await.table.id;
    fx.pb
        .create_record(
            o,
            vendors,
            cells(&[("Name", json!("Acme"))]),
            WriteOptions::default(),
        )
        .await
        .expect("acme");
    let a = fx.create(&[("Notes", json!("Acme, Gamma"))]).await.id;
    let b = fx.create(&[("Notes", json!("Delta"))]).await.id;
    let notes = fx.field("Notes");
    let into_vendors = retype("link", json!({"linked_table_id": vendors}));

    // b comes to name a record of no table the link reaches: refused.
    let stray = a.to_string();
    other.plan(
        t,
        notes,
        Arc::new(move |n| (n == 0).then(|| (b, json!(stray.clone())))),
    );
    let e = fx
        .pb
        .update_field(o, notes, into_vendors.clone())
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Validation { .. }), "{e:?}");
    assert_eq!(other.calls(), 1);
    assert_eq!(live_names(&fx, vendors).await, vec!["Acme".to_owned()]);
    let field = fx.pb.get_field(o, notes).await.expect("notes");
    assert_eq!(field.field_type.type_name(), "long_text");
    assert_eq!(cell(&fx, a, "Notes").await, Some(json!("Acme, Gamma")));

    // Names that keep changing: each attempt makes a record, all trashed.
    fx.pb
        .update_record(
            o,
            t,
            b,
            cells(&[("Notes", json!("Delta"))]),
            WriteOptions::default(),
            false,
        )
        .await
        .expect("b names Delta again");
    other.plan(
        t,
        notes,
        Arc::new(move |n| Some((b, json!(format!("Name {n}"))))),
    );
    let e = fx
        .pb
        .update_field(o, notes, into_vendors)
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Conflict { .. }), "{e:?}");
    assert_eq!(live_names(&fx, vendors).await, vec!["Acme".to_owned()]);
    assert_eq!(cell(&fx, b, "Notes").await, Some(json!("Name 4")));
}

/// Names holding commas survive a list's trip to text and back: a link's
/// titles and a multiple select's choices become text with such names
/// quoted, and the text splits back into the same records and choices
/// (nothing new made).
pub async fn names_with_commas_survive_text_and_back(store: Arc<dyn Store>) {
    let fx = Fixture::new(store).await;
    let o = &fx.owner;
    let t = fx.table.table.id;
    let vendors = fx.other_table().await.table.id;
    let mut ids = Vec::new();
    for name in ["Beta, Inc", r#"The "Best" Co"#, "Acme", " lead"] {
        let id = fx
            .pb
            .create_record(
                o,
                vendors,
                cells(&[("Name", json!(name))]),
                WriteOptions::default(),
            )
            .await
            .expect("vendor")
            .id;
        ids.push(json!(id.to_string()));
    }
    let vendor = fx
        .pb
        .create_field(
            o,
            t,
            crate::facade::NewField {
                name: "Vendor".into(),
                field_type: "link".into(),
                options: json!({"linked_table_id": vendors}),
                description: None,
                indexed: false,
            },
        )
        .await
        .expect("link field")
        .id;
    let tags = fx.field("Tags");
    fx.pb
        .update_field(
            o,
            tags,
            FieldPatch {
                options: Some(json!({"choices": ["a", "b", "c", "y, z"]})),
                ..FieldPatch::default()
            },
        )
        .await
        .expect("a choice with a comma");
    let a = fx
        .create(&[
            ("Vendor", Value::Array(ids.clone())),
            ("Tags", json!(["y, z", "a"])),
        ])
        .await
        .id;

    fx.pb
        .update_field(o, vendor, retype("long_text", Value::Null))
        .await
        .expect("to text");
    fx.pb
        .update_field(o, tags, retype("long_text", Value::Null))
        .await
        .expect("to text");
    assert_eq!(
        cell(&fx, a, "Vendor").await,
        Some(json!(r#""Beta, Inc", "The ""Best"" Co", Acme, " lead""#))
    );
    assert_eq!(cell(&fx, a, "Tags").await, Some(json!(r#""y, z", a"#)));

    fx.pb
        .update_field(
            o,
            vendor,
            retype("link", json!({"linked_table_id": vendors})),
        )
        .await
        .expect("back to a link");
    fx.pb
        .update_field(o, tags, retype("multi_select", Value::Null))
        .await
        .expect("back to choices");
    assert_eq!(
        cell(&fx, a, "Vendor").await,
        Some(Value::Array(ids.clone()))
    );
    assert_eq!(
        live_names(&fx, vendors).await.len(),
        4,
        "no record made for a part of a name"
    );
    assert_eq!(cell(&fx, a, "Tags").await, Some(json!(["y, z", "a"])));

    // A choice names one record, commas and all; so does each choice of a
    // multiple select.
    let status = fx.field("Status");
    fx.pb
        .update_field(
            o,
            status,
            FieldPatch {
                options: Some(json!({"choices": ["Open", "Closed", "Beta, Inc"]})),
                ..FieldPatch::default()
            },
        )
        .await
        .expect("a choice with a comma");
    fx.pb
        .update_record(
            o,
            t,
            a,
            cells(&[("Status", json!("Beta, Inc"))]),
            WriteOptions::default(),
            false,
        )
        .await
        .expect("choose it");
    for field in [status, tags] {
        fx.pb
            .update_field(
                o,
                field,
                retype("link", json!({"linked_table_id": vendors})),
            )
            .await
            .expect("into a link");
    }
    assert_eq!(cell(&fx, a, "Status").await, Some(json!([ids[0].clone()])));
    assert_eq!(
        live_names(&fx, vendors).await,
        [
            " lead",
            "Acme",
            "Beta, Inc",
            r#"The "Best" Co"#,
            "a",
            "y, z"
        ],
        "the choices of the multiple select made two records"
    );
}
