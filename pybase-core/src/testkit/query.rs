//! Queries: filters, sorts, cursor pages and views, checked against the
//! reference evaluator in [`crate::query::eval`].

use std::sync::Arc;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Map, Value, json};

use super::fixture::{Fixture, assert_invalid, cells};
use crate::facade::{FieldKey, NewView, QueryInput, WriteOptions};
use crate::ids::{RecordId, TableId};
use crate::model::Record;
use crate::query::{FilterSpec, RecordQuery, SortSpec, eval, resolve_filter, resolve_sort};
use crate::store::Store;

const NAMES: [&str; 7] = [
    "apple",
    "Apple pie",
    "banana",
    "BANANA split",
    "éclair",
    "zed",
    "a\u{0}b",
];

/// Fills the fixture table with `n` records of varied (and often empty) cells.
pub(crate) async fn seed(fx: &Fixture, n: usize, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut batch = Vec::new();
    for _ in 0..n {
        let mut c = Map::new();
        if rng.random_bool(0.8) {
            c.insert(
                "Name".into(),
                json!(NAMES[rng.random_range(0..NAMES.len())]),
            );
        }
        if rng.random_bool(0.7) {
            c.insert("Qty".into(), json!(rng.random_range(-5..20)));
        }
        if rng.random_bool(0.7) {
            c.insert(
                "Price".into(),
                json!(f64::from(rng.random_range(-500..5000)) / 100.0),
            );
        }
        c.insert("Done".into(), json!(rng.random_bool(0.5)));
        if rng.random_bool(0.6) {
            c.insert(
                "Status".into(),
                json!(["Open", "Closed"][rng.random_range(0..2)]),
            );
        }
        if rng.random_bool(0.6) {
            let tags: Vec<&str> = ["a", "b", "c"]
                .into_iter()
                .filter(|_| rng.random_bool(0.5))
                .collect();
            c.insert("Tags".into(), json!(tags));
        }
        if rng.random_bool(0.6) {
            c.insert(
                "Due".into(),
                json!(format!(
                    "2026-0{}-1{}",
                    rng.random_range(1..10),
                    rng.random_range(0..10)
                )),
            );
        }
        batch.push(c);
    }
    for chunk in batch.chunks(500) {
        fx.pb
            .create_records(
                &fx.owner,
                fx.table.table.id,
                chunk.to_vec(),
                WriteOptions::default(),
            )
            .await
            .unwrap();
    }
}

pub(crate) async fn raw_records(fx: &Fixture) -> Vec<Record> {
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let q = RecordQuery {
            table_id: fx.table.table.id,
            filter: None,
            sort: vec![],
            after: after.clone(),
            limit: 1000,
            include_deleted: false,
            log_seq: false,
        };
        let page = fx.store.query_records(&q).await.unwrap();
        let last = page.records.last().map(|r| r.id);
        out.extend(page.records);
        if !page.has_more {
            return out;
        }
        after = last.map(|id| crate::query::Cursor {
            values: vec![],
            id,
            query: 0,
            snapshot: None,
        });
    }
}

/// The ids the reference evaluator says a query must return, in order.
async fn expected(fx: &Fixture, filter: &Value, sort: &Value) -> Result<Vec<RecordId>, String> {
    let fields = fx.store.list_fields(fx.table.table.id).await.unwrap();
    let f = if filter.is_null() {
        None
    } else {
        Some(
            resolve_filter(
                &FilterSpec::from_json(filter).map_err(|e| e.to_string())?,
                &fields,
            )
            .map_err(|e| e.to_string())?,
        )
    };
    let s = resolve_sort(
        &SortSpec::from_json(sort).map_err(|e| e.to_string())?,
        &fields,
    )
    .map_err(|e| e.to_string())?;
    let mut recs: Vec<Record> = raw_records(fx)
        .await
        .into_iter()
        .filter(|r| f.as_ref().is_none_or(|f| eval::matches(f, r)))
        .collect();
    recs.sort_by(|a, b| eval::compare_records(&s, a, b));
    Ok(recs.into_iter().map(|r| r.id).collect())
}

/// The ids a query returns through the facade, walking pages of `size`.
async fn walk(
    fx: &Fixture,
    filter: &Value,
    sort: &Value,
    size: usize,
) -> Result<Vec<RecordId>, crate::Error> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let q = QueryInput {
            filter: (!filter.is_null()).then(|| filter.clone()),
            sort: (!sort.is_null()).then(|| sort.clone()),
            page_size: Some(size),
            cursor: cursor.take(),
            ..Default::default()
        };
        let page = fx
            .pb
            .query_records(&fx.viewer, fx.table.table.id, q, FieldKey::Name)
            .await?;
        assert!(page.records.len() <= size);
        out.extend(page.records.iter().map(|r| r.id));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => return Ok(out),
        }
    }
}

async fn assert_query(fx: &Fixture, filter: Value, sort: Value) {
    let want = expected(fx, &filter, &sort)
        .await
        .unwrap_or_else(|e| panic!("bad test query {filter} {sort}: {e}"));
    let got = walk(fx, &filter, &sort, 7)
        .await
        .unwrap_or_else(|e| panic!("query {filter} {sort} failed: {e:?}"));
    assert_eq!(got, want, "filter {filter} sort {sort}");
}

/// Every operator on every kind of field gives what the reference gives.
pub async fn filter_operators_match_reference(store: Arc<dyn Store>) {
    let fx = Fixture::new(store).await;
    seed(&fx, 120, 7).await;
    let conds = [
        json!({"field": "Name", "op": "eq", "value": "apple"}),
        json!({"field": "Name", "op": "neq", "value": "apple"}),
        json!({"field": "Name", "op": "lt", "value": "b"}),
        json!({"field": "Name", "op": "gte", "value": "banana"}),
        json!({"field": "Name", "op": "contains", "value": "APPLE"}),
        json!({"field": "Name", "op": "not_contains", "value": "an"}),
        json!({"field": "Name", "op": "starts_with", "value": "ban"}),
        json!({"field": "Name", "op": "contains", "value": "É"}),
        json!({"field": "Name", "op": "is_empty"}),
        json!({"field": "Name", "op": "is_not_empty"}),
        json!({"field": "Name", "op": "in", "value": ["zed", "apple"]}),
        json!({"field": "Qty", "op": "eq", "value": 3}),
        json!({"field": "Qty", "op": "neq", "value": 3}),
        json!({"field": "Qty", "op": "lt", "value": 0}),
        json!({"field": "Qty", "op": "lte", "value": 0}),
        json!({"field": "Qty", "op": "gt", "value": 10}),
        json!({"field": "Qty", "op": "gte", "value": "10"}),
        json!({"field": "Qty", "op": "in", "value": [1, 2, 3]}),
        json!({"field": "Qty", "op": "is_empty"}),
        json!({"field": "Price", "op": "gt", "value": 9.5}),
        json!({"field": "Done", "op": "eq", "value": true}),
        json!({"field": "Done", "op": "eq", "value": false}),
        json!({"field": "Done", "op": "neq", "value": true}),
        json!({"field": "Status", "op": "eq", "value": "Open"}),
        json!({"field": "Status", "op": "neq", "value": "Open"}),
        json!({"field": "Status", "op": "in", "value": ["Open", "Closed"]}),
        json!({"field": "Tags", "op": "has_any", "value": ["a", "c"]}),
        json!({"field": "Tags", "op": "has_all", "value": ["a", "b"]}),
        json!({"field": "Tags", "op": "has_any", "value": "b"}),
        json!({"field": "Tags", "op": "is_empty"}),
        json!({"field": "Due", "op": "lt", "value": "2026-05-01"}),
        json!({"field": "Due", "op": "gte", "value": "2026-05-15"}),
        json!({"field": "No", "op": "lte", "value": 30}),
        json!({"field": "Created", "op": "lte", "value": "2100-01-01T00:00:00Z"}),
    ];
    for c in &conds {
        assert_query(&fx, c.clone(), Value::Null).await;
        assert_query(&fx, json!({"not": c}), Value::Null).await;
    }
    assert_query(&fx, json!({"and": [conds[4], conds[16]]}), json!("-Qty")).await;
    assert_query(
        &fx,
        json!({"or": [conds[0], {"not": conds[24]}]}),
        json!("Status,-Name"),
    )
    .await;
    assert_query(&fx, json!({"and": []}), Value::Null).await;
    assert_query(&fx, json!({"or": []}), Value::Null).await;
}

/// Sorts put empty cells last in both directions and break ties by id.
pub async fn sort_empty_last_and_ties_by_id(store: Arc<dyn Store>) {
    let fx = Fixture::new(store).await;
    let t = fx.table.table.id;
    let mk = |q: Option<i64>| cells(&q.map(|q| vec![("Qty", json!(q))]).unwrap_or_default());
    let batch = vec![
        mk(Some(2)),
        mk(None),
        mk(Some(1)),
        mk(Some(2)),
        mk(None),
        mk(Some(3)),
    ];
    let created = fx
        .pb
        .create_records(&fx.owner, t, batch, WriteOptions::default())
        .await
        .unwrap();
    let mut by_id: Vec<RecordId> = created.iter().map(|r| r.id).collect();
    by_id.sort();
    let ids = |idx: &[usize]| idx.iter().map(|i| created[*i].id).collect::<Vec<_>>();
    let asc = walk(&fx, &Value::Null, &json!("Qty"), 100).await.unwrap();
    let desc = walk(&fx, &Value::Null, &json!("-Qty"), 100).await.unwrap();
    let qty = |id: &RecordId| {
        created
            .iter()
            .find(|r| r.id == *id)
            .and_then(|r| r.fields.get("Qty"))
            .and_then(Value::as_i64)
    };
    assert_eq!(
        asc.iter().map(qty).collect::<Vec<_>>(),
        vec![Some(1), Some(2), Some(2), Some(3), None, None]
    );
    assert_eq!(
        desc.iter().map(qty).collect::<Vec<_>>(),
        vec![Some(3), Some(2), Some(2), Some(1), None, None]
    );
    // Ties (the two 2s and the two empties) come in id order in both directions.
    let twos = {
        let mut v = ids(&[0, 3]);
        v.sort();
        v
    };
    let empties = {
        let mut v = ids(&[1, 4]);
        v.sort();
        v
    };
    assert_eq!(asc[1..3], twos[..]);
    assert_eq!(desc[1..3], twos[..]);
    assert_eq!(asc[4..], empties[..]);
    assert_eq!(desc[4..], empties[..]);
    // No sort at all is id order; the same query always gives the same order.
    assert_eq!(
        walk(&fx, &Value::Null, &Value::Null, 100).await.unwrap(),
        by_id
    );
    assert_eq!(
        walk(
            &fx,
            &Value::Null,
            &json!([{"field": "Qty", "direction": "desc"}]),
            2
        )
        .await
        .unwrap(),
        desc
    );
}

/// Walking with cursors returns every record exactly once, in order, for
/// several sorts and page sizes.
pub async fn cursor_pages_walk_everything_once(store: Arc<dyn Store>) {
    let fx = Fixture::new(store).await;
    seed(&fx, 250, 11).await;
    for sort in [
        Value::Null,
        json!("Qty"),
        json!("-Price,Name"),
        json!("Done,-Due"),
        json!("Status,Qty,-Name"),
        json!("-Created"),
    ] {
        let want = expected(&fx, &Value::Null, &sort).await.unwrap();
        for size in [1, 13, 100, 1000] {
            if size == 1 && sort != Value::Null && sort != json!("Qty") {
                continue;
            }
            let got = walk(&fx, &Value::Null, &sort, size).await.unwrap();
            assert_eq!(got.len(), 250);
            assert_eq!(got, want, "sort {sort} page size {size}");
        }
    }
    // The default page size is 100.
    let page = fx
        .pb
        .query_records(
            &fx.owner,
            fx.table.table.id,
            QueryInput::default(),
            FieldKey::Name,
        )
        .await
        .unwrap();
    assert_eq!(page.records.len(), 100);
    assert!(page.next_cursor.is_some());
}

/// The live records of the fixture table other than `ids` (the ones a
/// walk's case made), to delete before its next walk.
async fn added_since(fx: &Fixture, ids: &[RecordId]) -> Vec<RecordId> {
    let page = QueryInput {
        page_size: Some(1000),
        ..Default::default()
    };
    fx.pb
        .query_records(&fx.owner, fx.table.table.id, page, FieldKey::Name)
        .await
        .unwrap()
        .records
        .iter()
        .map(|r| r.id)
        .filter(|id| !ids.contains(id))
        .collect()
}

/// A walk of pages reads the order as it was when it began (docs/API.md,
/// sort): a client that edits the field it sorts by as it reads each page
/// gets every record once and reaches the end; a record others move before
/// the cursor comes once, where it was; one deleted since is left out, as
/// is one made since. As one page request (JSON or records) and the other.
pub async fn cursors_walk_the_order_as_it_was(store: Arc<dyn Store>) {
    let fx = Fixture::new(store).await;
    let t = fx.table.table.id;
    let mut ids = Vec::new();
    for q in 1..=12 {
        ids.push(
            fx.create(&[("Name", json!("n")), ("Qty", json!(q))])
                .await
                .id,
        );
    }
    let bump = |id: RecordId, qty: i64| {
        let pb = fx.pb.clone();
        let editor = fx.editor.clone();
        async move {
            pb.update_record(
                &editor,
                t,
                id,
                cells(&[("Qty", json!(qty))]),
                WriteOptions::default(),
                false,
            )
            .await
            .unwrap();
        }
    };
    // A filter on a cell nobody edits: the records changed since are read
    // as they are now to place them (the other walks place them from their
    // events alone).
    let named = json!({"field": "Name", "op": "eq", "value": "n"});
    // The last walk reads each page through a facade of its own, as a
    // server instance that kept nothing of the walk would (every page
    // rebuilt from the log since the snapshot; the others keep what they
    // read between pages).
    // Formulas the database cannot run walk the same: kept or dropped by
    // the cells then (every record edited since fails `{Qty} * 1 < 100`
    // now), by a scan or by record ids.
    let by_ids = format!(
        "OR({})",
        ids.iter()
            .map(|id| format!("RECORD_ID()='{id}'"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    for (json_pages, filter, cold, formula) in [
        (false, None, false, None),
        (true, None, false, None),
        (false, Some(named), false, None),
        (false, None, true, None),
        (false, None, false, Some("{Qty} * 1 < 100".to_owned())),
        (true, None, true, Some("LEN({Name}) > 0".to_owned())),
        (false, None, false, Some(by_ids.clone())),
    ] {
        let mut seen: Vec<RecordId> = Vec::new();
        let mut cursor: Option<String> = None;
        for page_no in 1.. {
            assert!(page_no <= 12, "the walk does not end: {seen:?}");
            let walk = Walk {
                filter: filter.clone(),
                formula: formula.clone(),
                ..Walk::by("Qty", 3, None)
            };
            let pb = if cold {
                crate::Pybase::new(fx.store.clone())
            } else {
                fx.pb.clone()
            };
            let (page, next) = walk_qtys((&pb, &fx, t), &walk, cursor.clone(), json_pages).await;
            // A page with a cursor before it has records: the last one
            // with records knows it is the last (no empty page after).
            assert!(
                !page.is_empty(),
                "an empty page {page_no}, formula {formula:?}"
            );
            // Edits come after the page (a later millisecond than its read).
            tokio::time::sleep(std::time::Duration::from_millis(3)).await;
            for (id, qty) in &page {
                seen.push(*id);
                bump(*id, qty + 100).await;
            }
            if page_no == 1 {
                // Others: the tenth record moves before the cursor, the
                // eleventh goes, a new one comes where the walk has not been.
                bump(ids[9], 0).await;
                fx.pb
                    .delete_records(&fx.editor, t, &[ids[10]])
                    .await
                    .unwrap();
                fx.create(&[("Name", json!("n")), ("Qty", json!(5))]).await;
            }
            match next {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        let mut want: Vec<RecordId> = ids[..10].to_vec();
        want.push(ids[11]);
        assert_eq!(
            seen, want,
            "json pages: {json_pages}, filter {filter:?}, cold: {cold}, formula {formula:?}"
        );
        // Put the table back for the second walk.
        let live = added_since(&fx, &ids).await;
        fx.pb.delete_records(&fx.editor, t, &live).await.unwrap();
        fx.pb
            .restore_record(&fx.editor, t, ids[10], FieldKey::Name)
            .await
            .unwrap();
        for (i, id) in ids.iter().enumerate() {
            bump(*id, i64::try_from(i).unwrap() + 1).await;
        }
    }
}

/// Walks while another writer moves records back and forth and adds new
/// ones: every record there at the first page comes exactly once, none
/// added later comes, whichever read a write lands between (the log's and
/// the store's of a page). The writer starts once the first page is read
/// (a write landing while the first page is read may show on it: API.md).
pub async fn walks_hold_against_a_concurrent_writer(store: Arc<dyn Store>) {
    use std::sync::atomic::{AtomicBool, Ordering};
    let fx = Fixture::new(store).await;
    let t = fx.table.table.id;
    let mut batch = Vec::new();
    for q in 0..90 {
        batch.push(cells(&[("Name", json!("n")), ("Qty", json!(q))]));
    }
    let ids: Vec<RecordId> = fx
        .pb
        .create_records(&fx.editor, t, batch, WriteOptions::default())
        .await
        .unwrap()
        .iter()
        .map(|r| r.id)
        .collect();
    for (walk, filter, formula) in [
        (0, None, None),
        (
            1,
            Some(json!({"field": "Name", "op": "eq", "value": "n"})),
            None,
        ),
        // A formula the database cannot run (kept or dropped in Rust).
        (2, None, Some("LEN({Name}) > 0".to_owned())),
    ] {
        let stop = Arc::new(AtomicBool::new(false));
        let mut seen: Vec<RecordId> = Vec::new();
        let pages = Walk {
            filter: filter.clone(),
            formula: formula.clone(),
            ..Walk::by("Qty", 4, None)
        };
        let first = fx
            .pb
            .query_records(&fx.viewer, t, pages.page(None), FieldKey::Name)
            .await
            .unwrap();
        seen.extend(first.records.iter().map(|r| r.id));
        let mut cursor = first.next_cursor;
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
        let writer = {
            let (pb, editor, stop, ids) =
                (fx.pb.clone(), fx.editor.clone(), stop.clone(), ids.clone());
            tokio::spawn(async move {
                let mut k: u64 = walk;
                while !stop.load(Ordering::SeqCst) {
                    k = k
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    let id = ids[usize::try_from(k >> 33).unwrap_or(0) % ids.len()];
                    let qty = i64::try_from((k >> 40) % 200).unwrap_or(0) - 50;
                    let set = cells(&[("Qty", json!(qty))]);
                    let _ = pb
                        .update_record(&editor, t, id, set, WriteOptions::default(), false)
                        .await;
                    if k.is_multiple_of(5) {
                        let _ = pb
                            .create_records(
                                &editor,
                                t,
                                vec![cells(&[("Name", json!("n")), ("Qty", json!(qty))])],
                                WriteOptions::default(),
                            )
                            .await;
                    }
                    tokio::time::sleep(std::time::Duration::from_micros(300)).await;
                }
            })
        };
        for page_no in 1.. {
            assert!(page_no <= 200, "the walk does not end");
            let page = fx
                .pb
                .query_records(&fx.viewer, t, pages.page(cursor.clone()), FieldKey::Name)
                .await
                .unwrap();
            seen.extend(page.records.iter().map(|r| r.id));
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
            // Pages a client reads, a moment apart.
            tokio::task::yield_now().await;
        }
        stop.store(true, Ordering::SeqCst);
        writer.await.unwrap();
        let mut sorted = seen.clone();
        sorted.sort();
        let mut want = ids.clone();
        want.sort();
        assert_eq!(
            sorted, want,
            "walk {walk}: each record there at the first page once"
        );
        // The next walk starts from the table as it is now (new records
        // included: they are there at its first page).
        let all = added_since(&fx, &ids).await;
        for chunk in all.chunks(100) {
            fx.pb.delete_records(&fx.editor, t, chunk).await.unwrap();
        }
    }
}

/// Sets the `Qty` of record `id` of `t`, as the editor.
async fn set_qty(pb: &crate::Pybase, fx: &Fixture, t: TableId, id: RecordId, qty: i64) {
    set_cell(pb, fx, t, id, ("Qty", json!(qty))).await;
}

/// Sets one cell of record `id` of `t`, as the editor, through `pb`.
async fn set_cell(
    pb: &crate::Pybase,
    fx: &Fixture,
    t: TableId,
    id: RecordId,
    (field, value): (&str, Value),
) {
    pb.update_record(
        &fx.editor,
        t,
        id,
        cells(&[(field, value)]),
        WriteOptions::default(),
        false,
    )
    .await
    .unwrap();
}

/// What each page of a walk of the fixture's table asks: its sort (one
/// field), page size, filter and formula.
#[derive(Clone, Default)]
struct Walk {
    sort: &'static str,
    size: usize,
    filter: Option<Value>,
    formula: Option<String>,
}

impl Walk {
    /// A walk ordered by `sort`, `size` records a page, with `formula`.
    fn by(sort: &'static str, size: usize, formula: Option<&str>) -> Self {
        Self {
            sort,
            size,
            formula: formula.map(str::to_owned),
            ..Self::default()
        }
    }

    /// The page after `cursor`.
    fn page(&self, cursor: Option<String>) -> QueryInput {
        QueryInput {
            sort: Some(json!(self.sort)),
            filter: self.filter.clone(),
            page_size: Some(self.size),
            cursor,
            formula: self.formula.clone(),
            ..Default::default()
        }
    }
}

/// A page of a walk of `t` ordered by `sort`, `size` records a page, read
/// by the viewer through `pb`.
async fn walk_page(
    pb: &crate::Pybase,
    fx: &Fixture,
    t: TableId,
    (sort, size): (&'static str, usize),
    cursor: Option<String>,
    formula: Option<&str>,
) -> crate::facade::RecordsPage {
    let q = Walk::by(sort, size, formula).page(cursor);
    pb.query_records(&fx.viewer, t, q, FieldKey::Name)
        .await
        .unwrap()
}

/// The page of `walk` after `cursor` read by the viewer through `pb`, as
/// records or as JSON text ([`crate::facade::Pybase::query_records_json`])
/// with `json`: each record's id and `Qty`, and the next cursor.
async fn walk_qtys(
    (pb, fx, t): (&crate::Pybase, &Fixture, TableId),
    walk: &Walk,
    cursor: Option<String>,
    json: bool,
) -> (Vec<(RecordId, i64)>, Option<String>) {
    let qty = |fields: &Value| fields["Qty"].as_i64().expect("a Qty");
    let q = walk.page(cursor);
    if !json {
        let page = pb
            .query_records(&fx.viewer, t, q, FieldKey::Name)
            .await
            .unwrap();
        let records = page.records.iter().map(|r| (r.id, qty(&json!(r.fields))));
        return (records.collect(), page.next_cursor);
    }
    let text = pb
        .query_records_json(&fx.viewer, t, q, FieldKey::Name)
        .await
        .unwrap();
    let v: Value = serde_json::from_slice(&text).unwrap();
    let records = v["records"].as_array().unwrap().iter().map(|r| {
        let id = RecordId::parse(r["id"].as_str().unwrap()).unwrap();
        (id, qty(&r["fields"]))
    });
    (
        records.collect(),
        v["next_cursor"].as_str().map(str::to_owned),
    )
}

/// A walk stands in the log where its first page's records were read, not
/// at the first page's instant: a record edited just after the first page
/// (in the same millisecond as its request, say) is placed as that page saw
/// it and comes once. The walker's clock reads an hour ahead here, so every
/// edit is made "before" the first page's instant, as a same-millisecond
/// edit is: a walk standing at that instant would meet each edited record
/// again at the end. As records and as JSON pages, with and without a
/// formula the database cannot run.
pub async fn walks_stand_where_their_first_page_read(store: Arc<dyn Store>) {
    let fx = Fixture::new(store).await;
    let t = fx.table.table.id;
    let clock = Arc::new(crate::clock::ManualClock::new());
    clock.advance(chrono::TimeDelta::hours(1));
    // Its cursors sealed, as a server's are.
    let walker = crate::Pybase::new(fx.store.clone())
        .with_clock(clock)
        .with_webhook_key(b"walker secret");
    let mut all = Vec::new();
    for q in 0..5 {
        all.push(
            fx.create(&[("Name", json!("n")), ("Qty", json!(q))])
                .await
                .id,
        );
    }
    all.sort();
    for json in [false, true] {
        for formula in [None, Some("LEN({Name}) > 0")] {
            let mut cursor: Option<String> = None;
            let mut seen = Vec::new();
            loop {
                assert!(seen.len() <= 10, "the walk does not end: {seen:?}");
                let walk = Walk::by("Qty", 2, formula);
                let (page, next) = walk_qtys((&walker, &fx, t), &walk, cursor.clone(), json).await;
                for (id, qty) in page {
                    seen.push(id);
                    set_qty(&fx.pb, &fx, t, id, qty + 1000).await;
                }
                match next {
                    Some(c) => cursor = Some(c),
                    None => break,
                }
            }
            seen.sort();
            assert_eq!(seen, all, "json {json}, formula {formula:?}");
        }
    }
    // A sealed cursor whose snapshot was edited is not read.
    let first = walk_page(&walker, &fx, t, ("Qty", 2), None, None).await;
    let sealed = first.next_cursor.expect("a second page");
    let (position, signature) = sealed.split_once('.').expect("a sealed cursor");
    let mut edited = crate::query::Cursor::decode(position).expect("a position");
    edited.snapshot = Some(crate::query::Snapshot::Seq(0));
    for cursor in [
        format!("{}.{signature}", edited.encode()),
        position.to_owned(),
    ] {
        assert_walk_refused(&walker, &fx, t, Some(cursor)).await;
    }
}

/// Asserts that the `Qty` walk of two records a page refuses the page
/// after `cursor` with 422 on `cursor` (start again).
async fn assert_walk_refused(pb: &crate::Pybase, fx: &Fixture, t: TableId, cursor: Option<String>) {
    let q = Walk::by("Qty", 2, None).page(cursor);
    let e = pb
        .query_records(&fx.viewer, t, q, FieldKey::Name)
        .await
        .unwrap_err();
    assert_invalid(&e, "cursor");
}

/// A walk counts only the changes that may move a record in it: a script
/// that edits a cell the walk neither sorts nor filters by, in every record
/// it reads, walks a table with more such records than the walk may place
/// as they were; edits of what it sorts by past that bound, and a base that
/// logged more than the walk may read, end it with 422 on `cursor`.
pub async fn walks_count_what_they_read(store: Arc<dyn Store>) {
    let fx = Fixture::new(store).await;
    let t = fx.table.table.id;
    let walker = crate::Pybase::new(fx.store.clone()).with_limits(crate::Limits {
        walk_changes: 40,
        walk_moved: 3,
        ..crate::Limits::default()
    });
    let mut all = Vec::new();
    for q in 0..8 {
        all.push(
            fx.create(&[("Name", json!("n")), ("Qty", json!(q))])
                .await
                .id,
        );
    }
    all.sort();
    // Eight records renamed as they are read: the walk goes on.
    let mut cursor: Option<String> = None;
    let mut seen = Vec::new();
    loop {
        assert!(seen.len() <= 8, "the walk does not end: {seen:?}");
        let page = walk_page(&walker, &fx, t, ("Qty", 2), cursor.clone(), None).await;
        for r in &page.records {
            seen.push(r.id);
            set_cell(
                &fx.pb,
                &fx,
                t,
                r.id,
                ("Name", json!(seen.len().to_string())),
            )
            .await;
        }
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    seen.sort();
    assert_eq!(seen, all);
    // Four records moved past the end as they are read: past the bound of
    // three, the walk must start again.
    let mut cursor: Option<String> = None;
    let mut moved = 0;
    let refused = loop {
        assert!(moved <= 8, "the walk went on past its bound");
        let q = Walk::by("Qty", 2, None).page(cursor.clone());
        match walker.query_records(&fx.viewer, t, q, FieldKey::Name).await {
            Ok(page) => {
                for r in &page.records {
                    let qty = r.fields["Qty"].as_i64().unwrap();
                    set_qty(&fx.pb, &fx, t, r.id, qty + 1000).await;
                    moved += 1;
                }
                cursor = Some(page.next_cursor.expect("more pages"));
            }
            Err(e) => break e,
        }
    };
    assert_invalid(&refused, "cursor");
    assert!(moved > 3, "refused after {moved} records moved");
    // A base that logged more than the walk reads since its first page.
    let page = walk_page(&walker, &fx, t, ("Qty", 2), None, None).await;
    for i in 0..41 {
        set_cell(
            &fx.pb,
            &fx,
            t,
            all[i % all.len()],
            ("Name", json!(format!("again {i}"))),
        )
        .await;
    }
    assert_walk_refused(&walker, &fx, t, page.next_cursor).await;
}

/// A walk that moves each record it reads past the end of the order
/// (as it is now) ends on the page of its last record: that page has no
/// cursor, rather than one leading to an empty page.
pub async fn walks_end_on_their_last_records(store: Arc<dyn Store>) {
    let fx = Fixture::new(store).await;
    let t = fx.table.table.id;
    for q in 0..4 {
        fx.create(&[("Name", json!("n")), ("Qty", json!(q))]).await;
    }
    for formula in [None, Some("LEN({Name}) > 0")] {
        let mut cursor: Option<String> = None;
        let mut pages = Vec::new();
        loop {
            assert!(pages.len() < 8, "the walk does not end: {pages:?}");
            let page = walk_page(&fx.pb, &fx, t, ("Qty", 1), cursor.clone(), formula).await;
            tokio::time::sleep(std::time::Duration::from_millis(3)).await;
            pages.push(page.records.len());
            for r in &page.records {
                let qty = r.fields["Qty"].as_i64().unwrap();
                set_qty(&fx.pb, &fx, t, r.id, qty + 1000).await;
            }
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        assert_eq!(pages, vec![1, 1, 1, 1], "formula {formula:?}");
    }
}

/// Records made right where a walk's cursor stands while its pages are
/// read (they sort just after it, and are not in the walk): a page whose
/// store rows they took still answers the walk's next records, so none is
/// skipped and the walk does not end early.
pub async fn walks_hold_when_records_land_at_the_cursor(store: Arc<dyn Store>) {
    use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
    let fx = Fixture::new(store).await;
    let t = fx.table.table.id;
    let batch = (0..40)
        .map(|q| cells(&[("Name", json!("n")), ("Qty", json!(q))]))
        .collect();
    let ids: Vec<RecordId> = fx
        .pb
        .create_records(&fx.editor, t, batch, WriteOptions::default())
        .await
        .unwrap()
        .iter()
        .map(|r| r.id)
        .collect();
    for formula in [None, Some("LEN({Name}) > 0")] {
        let at = Arc::new(AtomicI64::new(-1));
        let stop = Arc::new(AtomicBool::new(false));
        let writer = {
            let (pb, editor, at, stop) =
                (fx.pb.clone(), fx.editor.clone(), at.clone(), stop.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::SeqCst) {
                    let q = at.load(Ordering::SeqCst);
                    if q >= 0 {
                        let late = cells(&[("Name", json!("late")), ("Qty", json!(q))]);
                        let _ = pb
                            .create_records(&editor, t, vec![late], WriteOptions::default())
                            .await;
                    }
                    tokio::time::sleep(std::time::Duration::from_micros(200)).await;
                }
            })
        };
        let mut seen: Vec<RecordId> = Vec::new();
        let mut cursor: Option<String> = None;
        for page_no in 1.. {
            assert!(page_no <= 80, "the walk does not end: {seen:?}");
            let page = walk_page(&fx.pb, &fx, t, ("Qty", 1), cursor.clone(), formula).await;
            if page_no == 1 {
                // Records made from the first page's millisecond on may be
                // in the walk: the writer starts later.
                tokio::time::sleep(std::time::Duration::from_millis(3)).await;
            }
            for r in &page.records {
                seen.push(r.id);
                at.store(r.fields["Qty"].as_i64().unwrap(), Ordering::SeqCst);
            }
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        stop.store(true, Ordering::SeqCst);
        writer.await.unwrap();
        assert_eq!(seen, ids, "formula {formula:?}");
        let late = added_since(&fx, &ids).await;
        for chunk in late.chunks(100) {
            fx.pb.delete_records(&fx.editor, t, chunk).await.unwrap();
        }
    }
}

/// A walk ordered by when records last changed, editing each page's
/// records as it goes (which moves them to the end of that order now):
/// each record comes once, where its last change before the walk put it,
/// and the walk ends; also with every page read by a facade that kept
/// nothing of the walk, and descending.
pub async fn walks_by_last_change_meet_each_record_once(store: Arc<dyn Store>) {
    let fx = Fixture::new(store).await;
    let t = fx.table.table.id;
    fx.pb
        .create_field(
            &fx.owner,
            t,
            crate::facade::NewField {
                name: "Changed".into(),
                field_type: "updated_time".into(),
                options: Value::Null,
                description: None,
                indexed: false,
            },
        )
        .await
        .unwrap();
    let mut ids = Vec::new();
    for q in 0..8 {
        ids.push(
            fx.create(&[("Name", json!("n")), ("Qty", json!(q))])
                .await
                .id,
        );
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    }
    // The fourth record last changed after the eighth was made.
    set_qty(&fx.pb, &fx, t, ids[3], 30).await;
    tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    let mut order: Vec<RecordId> = ids.clone();
    let fourth = order.remove(3);
    order.push(fourth);
    for (sort, cold) in [("Changed", false), ("Changed", true), ("-Changed", false)] {
        let mut seen: Vec<RecordId> = Vec::new();
        let mut cursor: Option<String> = None;
        for page_no in 1.. {
            assert!(page_no <= 8, "the walk does not end: {seen:?}");
            let pb = if cold {
                crate::Pybase::new(fx.store.clone())
            } else {
                fx.pb.clone()
            };
            let page = walk_page(&pb, &fx, t, (sort, 3), cursor.clone(), None).await;
            tokio::time::sleep(std::time::Duration::from_millis(3)).await;
            for r in &page.records {
                seen.push(r.id);
                let qty = r.fields["Qty"].as_i64().unwrap();
                set_qty(&fx.pb, &fx, t, r.id, qty + 100).await;
                // One change a millisecond at most: the order is by time.
                tokio::time::sleep(std::time::Duration::from_millis(2)).await;
            }
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        let mut want = order.clone();
        if sort.starts_with('-') {
            want.reverse();
        }
        assert_eq!(seen, want, "sort {sort}, cold: {cold}");
        // The next walk starts from the order this one left.
        order = seen;
        if sort.starts_with('-') {
            order.reverse();
        }
    }
}

/// Page sizes outside 1..=1000 and foreign or forged cursors are refused.
pub async fn page_size_limits_and_bad_cursors(store: Arc<dyn Store>) {
    let fx = Fixture::new(store).await;
    seed(&fx, 5, 3).await;
    let t = fx.table.table.id;
    for size in [0, 1001] {
        let e = fx
            .pb
            .query_records(
                &fx.owner,
                t,
                QueryInput {
                    page_size: Some(size),
                    ..Default::default()
                },
                FieldKey::Name,
            )
            .await
            .unwrap_err();
        assert_invalid(&e, "page_size");
    }
    let page = fx
        .pb
        .query_records(
            &fx.owner,
            t,
            QueryInput {
                page_size: Some(2),
                sort: Some(json!("Qty")),
                ..Default::default()
            },
            FieldKey::Name,
        )
        .await
        .unwrap();
    let cursor = page.next_cursor.unwrap();
    // The cursor of one query does not fit another.
    let e = fx
        .pb
        .query_records(
            &fx.owner,
            t,
            QueryInput {
                page_size: Some(2),
                sort: Some(json!("-Qty")),
                cursor: Some(cursor.clone()),
                ..Default::default()
            },
            FieldKey::Name,
        )
        .await
        .unwrap_err();
    assert_invalid(&e, "cursor");
    let e = fx
        .pb
        .query_records(
            &fx.owner,
            t,
            QueryInput {
                cursor: Some("garbage".into()),
                ..Default::default()
            },
            FieldKey::Name,
        )
        .await
        .unwrap_err();
    assert_invalid(&e, "cursor");
    assert!(
        fx.pb
            .query_records(
                &fx.owner,
                t,
                QueryInput {
                    page_size: Some(2),
                    sort: Some(json!("Qty")),
                    cursor: Some(cursor),
                    ..Default::default()
                },
                FieldKey::Name
            )
            .await
            .is_ok()
    );
}

/// A view's filter is ANDed with the query's; its sort applies unless the
/// query sorts; its hidden fields are not returned.
pub async fn view_filter_and_sort_apply(store: Arc<dyn Store>) {
    let fx = Fixture::new(store).await;
    seed(&fx, 80, 5).await;
    let t = fx.table.table.id;
    let view = fx
        .pb
        .create_view(&fx.admin, t, NewView { name: "Open by qty".into(), view_type: None, config: json!({"filter": {"field": "Status", "op": "eq", "value": "Open"}, "sort": "-Qty", "hidden_fields": ["Notes", "Price"]}) })
        .await
        .unwrap();
    // The fields the view filters and sorts by are indexed; others are not.
    let indexed: Vec<String> = fx
        .pb
        .list_fields(&fx.admin, t)
        .await
        .unwrap()
        .into_iter()
        .filter(|f| f.indexed)
        .map(|f| f.name)
        .collect();
    assert!(indexed.contains(&"Status".to_owned()), "{indexed:?}");
    assert!(indexed.contains(&"Qty".to_owned()), "{indexed:?}");
    assert!(!indexed.contains(&"Notes".to_owned()), "{indexed:?}");
    let run = |filter: Option<Value>, sort: Option<Value>| {
        let pb = fx.pb.clone();
        let viewer = fx.viewer.clone();
        let v = view.id.to_string();
        async move {
            pb.query_records(
                &viewer,
                t,
                QueryInput {
                    view: Some(v),
                    filter,
                    sort,
                    page_size: Some(1000),
                    ..Default::default()
                },
                FieldKey::Name,
            )
            .await
            .unwrap()
        }
    };
    let page = run(None, None).await;
    let want = expected(
        &fx,
        &json!({"field": "Status", "op": "eq", "value": "Open"}),
        &json!("-Qty"),
    )
    .await
    .unwrap();
    assert_eq!(page.records.iter().map(|r| r.id).collect::<Vec<_>>(), want);
    assert!(page.records.iter().all(|r| !r.fields.contains_key("Price")));
    let both = json!({"and": [{"field": "Status", "op": "eq", "value": "Open"}, {"field": "Qty", "op": "gt", "value": 5}]});
    let page = run(
        Some(json!({"field": "Qty", "op": "gt", "value": 5})),
        Some(json!("Name")),
    )
    .await;
    assert_eq!(
        page.records.iter().map(|r| r.id).collect::<Vec<_>>(),
        expected(&fx, &both, &json!("Name")).await.unwrap()
    );
    // Renaming a field does not break the view.
    fx.pb
        .update_field(
            &fx.owner,
            fx.field("Status"),
            crate::facade::FieldPatch {
                name: Some("State".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(run(None, None).await.records.len(), want.len());
    // By name too; an unknown view is an error.
    let by_name = fx
        .pb
        .query_records(
            &fx.viewer,
            t,
            QueryInput {
                view: Some("Open by qty".into()),
                page_size: Some(1000),
                ..Default::default()
            },
            FieldKey::Name,
        )
        .await
        .unwrap();
    assert_eq!(by_name.records.len(), want.len());
    let e = fx
        .pb
        .query_records(
            &fx.viewer,
            t,
            QueryInput {
                view: Some("viwAAAAAAAAAAAAAA".into()),
                ..Default::default()
            },
            FieldKey::Name,
        )
        .await
        .unwrap_err();
    assert_invalid(&e, "view");
}

/// Filters with unknown fields, wrong operators or bad operands name the
/// field and what was expected.
pub async fn filter_errors_name_the_field(store: Arc<dyn Store>) {
    let fx = Fixture::new(store).await;
    let t = fx.table.table.id;
    for (filter, key) in [
        (json!({"field": "Nope", "op": "eq", "value": 1}), "Nope"),
        (
            json!({"field": "Qty", "op": "contains", "value": "1"}),
            "Qty",
        ),
        (json!({"field": "Qty", "op": "gt", "value": "abc"}), "Qty"),
        (json!({"field": "Tags", "op": "eq", "value": "a"}), "Tags"),
        (
            json!({"field": "Tags", "op": "has_any", "value": []}),
            "Tags",
        ),
        (
            json!({"field": "Status", "op": "eq", "value": "Nope"}),
            "Status",
        ),
        (
            json!({"field": "Done", "op": "eq", "value": "maybe"}),
            "Done",
        ),
        (json!({"field": "Due", "op": "lt", "value": "soon"}), "Due"),
        (
            json!({"field": "Name", "op": "in", "value": "apple"}),
            "Name",
        ),
        (json!({"field": "Name", "op": "like", "value": "a"}), "Name"),
        (json!({"nand": []}), "filter"),
        (json!([1, 2]), "filter"),
    ] {
        let e = fx
            .pb
            .query_records(
                &fx.owner,
                t,
                QueryInput {
                    filter: Some(filter.clone()),
                    ..Default::default()
                },
                FieldKey::Name,
            )
            .await
            .unwrap_err();
        assert_invalid(&e, key);
    }
    for (sort, key) in [
        (json!("Nope"), "Nope"),
        (json!(5), "sort"),
        (json!("-"), "sort"),
    ] {
        let e = fx
            .pb
            .query_records(
                &fx.owner,
                t,
                QueryInput {
                    sort: Some(sort),
                    ..Default::default()
                },
                FieldKey::Name,
            )
            .await
            .unwrap_err();
        assert_invalid(&e, key);
    }
}

fn condition() -> impl Strategy<Value = Value> {
    let text = prop::sample::select(vec![
        "apple",
        "Apple pie",
        "banana",
        "zed",
        "b",
        "ap",
        "É",
        "x",
    ]);
    prop_oneof![
        (
            prop::sample::select(vec![
                "eq",
                "neq",
                "lt",
                "lte",
                "gt",
                "gte",
                "contains",
                "not_contains",
                "starts_with"
            ]),
            text.clone()
        )
            .prop_map(|(op, v)| json!({"field": "Name", "op": op, "value": v})),
        (
            prop::sample::select(vec!["eq", "neq", "lt", "lte", "gt", "gte"]),
            -6i64..21
        )
            .prop_map(|(op, v)| json!({"field": "Qty", "op": op, "value": v})),
        (prop::sample::select(vec!["lt", "gte", "eq"]), -6.0f64..51.0).prop_map(
            |(op, v)| json!({"field": "Price", "op": op, "value": (v * 100.0).round() / 100.0})
        ),
        (prop::sample::select(vec!["eq", "neq"]), any::<bool>())
            .prop_map(|(op, v)| json!({"field": "Done", "op": op, "value": v})),
        (
            prop::sample::select(vec!["eq", "neq"]),
            prop::sample::select(vec!["Open", "Closed"])
        )
            .prop_map(|(op, v)| json!({"field": "Status", "op": op, "value": v})),
        (
            prop::sample::select(vec!["has_any", "has_all"]),
            prop::sample::subsequence(vec!["a", "b", "c"], 1..=3)
        )
            .prop_map(|(op, v)| json!({"field": "Tags", "op": op, "value": v})),
        (
            prop::sample::select(vec!["Name", "Qty", "Price", "Status", "Tags", "Due"]),
            prop::sample::select(vec!["is_empty", "is_not_empty"])
        )
            .prop_map(|(f, op)| json!({"field": f, "op": op})),
        (prop::sample::select(vec!["lt", "gte"]), 1u32..10).prop_map(
            |(op, m)| json!({"field": "Due", "op": op, "value": format!("2026-0{m}-15")})
        ),
    ]
}

fn filter() -> impl Strategy<Value = Value> {
    condition().prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(|v| json!({"and": v})),
            prop::collection::vec(inner.clone(), 0..3).prop_map(|v| json!({"or": v})),
            inner.prop_map(|v| json!({"not": v})),
        ]
    })
}

pub(crate) fn sort() -> impl Strategy<Value = Value> {
    prop::collection::vec(
        (
            prop::sample::select(vec!["Name", "Qty", "Price", "Done", "Status", "Due", "No"]),
            any::<bool>(),
        ),
        0..3,
    )
    .prop_map(|keys| {
        json!(
            keys.into_iter()
                .map(|(f, d)| if d { format!("-{f}") } else { f.to_owned() })
                .collect::<Vec<_>>()
                .join(",")
        )
    })
}

/// Property: random filters and sorts over random records give exactly the
/// reference evaluator's records in its order, page by page.
pub async fn random_queries_match_reference(store: Arc<dyn Store>) {
    let fx = Fixture::new(store).await;
    seed(&fx, 150, 23).await;
    let mut runner = TestRunner::new(Config {
        cases: 48,
        failure_persistence: None,
        ..Config::default()
    });
    let handle = tokio::runtime::Handle::current();
    let result = runner.run(&(filter(), sort(), 1usize..40), |(f, s, size)| {
        tokio::task::block_in_place(|| {
            handle.block_on(async {
                let want = expected(&fx, &f, &s)
                    .await
                    .map_err(|e| TestCaseError::fail(format!("generator made a bad query: {e}")))?;
                let got = walk(&fx, &f, &s, size)
                    .await
                    .map_err(|e| TestCaseError::fail(format!("query failed: {e:?}")))?;
                prop_assert_eq!(got, want, "filter {} sort {} size {}", f, s, size);
                Ok(())
            })
        })
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// A page written as JSON text ([`crate::facade::Pybase::query_records_json`],
/// straight from the stored cells where the store offers it) is the JSON of
/// the rendered page ([`crate::facade::Pybase::query_records`]): keys by name
/// and by id, projections, sorts, every page of a cursor walk, soft-deleted
/// records, and a table with a computed field (rendered, not copied).
pub async fn json_pages_match_rendered_pages(store: Arc<dyn Store>) {
    let fx = Fixture::new(store).await;
    seed(&fx, 60, 29).await;
    let t = fx.table.table.id;
    let gone = fx
        .pb
        .query_records(&fx.owner, t, QueryInput::default(), FieldKey::Name)
        .await
        .unwrap()
        .records[3]
        .id;
    fx.pb.delete_records(&fx.owner, t, &[gone]).await.unwrap();
    let check = |q: QueryInput, key: FieldKey| {
        let fx = &fx;
        async move {
            let mut q = q;
            let mut pages = 0;
            loop {
                let want = fx
                    .pb
                    .query_records(&fx.owner, t, q.clone(), key)
                    .await
                    .unwrap();
                let text = fx
                    .pb
                    .query_records_json(&fx.owner, t, q.clone(), key)
                    .await
                    .unwrap();
                let mut got: Value = serde_json::from_slice(&text).unwrap();
                let mut want_json = serde_json::to_value(&want).unwrap();
                // A first page's cursor carries the instant it was read at
                // (a snapshot, `cursors_walk_the_order_as_it_was`): the
                // positions must agree.
                for page in [&mut got, &mut want_json] {
                    if let Some(c) = page["next_cursor"].as_str() {
                        // Its position (a sealed cursor: before the signature).
                        let position = c.split('.').next().unwrap_or(c);
                        let mut c = crate::query::Cursor::decode(position).expect("a cursor");
                        c.snapshot = None;
                        page["next_cursor"] = json!(c.encode());
                    }
                }
                assert_eq!(got, want_json, "{q:?} {key:?}");
                pages += 1;
                match want.next_cursor {
                    Some(c) => q.cursor = Some(c),
                    None => return pages,
                }
            }
        }
    };
    let sorts = [None, Some("-Price,Name"), Some("Name"), Some("-Created")];
    for key in [FieldKey::Name, FieldKey::Id] {
        for sort in sorts {
            let q = QueryInput {
                sort: sort.map(|s| json!(s)),
                page_size: Some(7),
                ..QueryInput::default()
            };
            assert_eq!(check(q, key).await, 9, "59 live records in pages of 7");
        }
        let q = QueryInput {
            filter: Some(json!({"field": "Qty", "op": "gt", "value": 3})),
            fields: Some(vec!["Name".into(), "Tags".into(), "No".into()]),
            ..QueryInput::default()
        };
        check(q, key).await;
        let q = QueryInput {
            fields: Some(vec!["Price".into(), "Created".into()]),
            include_deleted: true,
            ..QueryInput::default()
        };
        check(q, key).await;
    }
    fx.pb
        .create_field(
            &fx.owner,
            t,
            crate::facade::NewField {
                name: "Twice".into(),
                field_type: "formula".into(),
                options: json!({"formula": "{Qty} * 2"}),
                description: None,
                indexed: false,
            },
        )
        .await
        .unwrap();
    let q = QueryInput {
        sort: Some(json!("Qty")),
        page_size: Some(25),
        ..QueryInput::default()
    };
    check(q, FieldKey::Name).await;
}
