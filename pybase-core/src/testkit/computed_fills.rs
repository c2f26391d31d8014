//! Background fills in passes (issue 12): a write handing its fan-out to a
//! fill under way keeps the fill's resume point and asks for another pass,
//! so every pass completes and the fill ends once a pass runs without one;
//! the request survives a stop; a changed formula still starts over.
//!
//! Set-up shared by the cases: an item (`Total` = Qty × Price), two lines
//! looking it up (`Totals`), and [`ORDERS`] orders each linking both lines
//! (`Amount` = SUM of the lines' `Totals`, `Doubled` = Amount × 2). With a
//! fan-out limit of 3, an edit of the item recomputes the item and the
//! lines in its transaction and hands the orders to the background fill.
//! The fill is stepped by hand ([`crate::store::RecordsStore::fill_chunk`],
//! [`CHUNK`] records a step), so the hand-offs land between chunks.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Value, json};

use super::computed::{create, field, get, nf, table, update};
use super::fixture::{Fixture, cells};
use crate::facade::{FieldPatch, WriteOptions};
use crate::ids::{FieldId, RecordId, TableId};
use crate::model::FieldStatus;
use crate::store::Store;
use crate::store::computed::{FillQueue, FillStep};

/// The orders of the set-up.
const ORDERS: usize = 45;
/// The records one step of the hand-driven fill recomputes.
const CHUNK: usize = 10;
/// The steps of one pass: a step per chunk, and the one finding no record
/// left (which ends the pass).
const PASS: usize = ORDERS.div_ceil(CHUNK) + 1;
/// The item's `Price`.
const PRICE: i64 = 3;

/// The set-up of the module documentation.
struct Chain {
    fx: Fixture,
    items: TableId,
    item: RecordId,
    orders: TableId,
    order_ids: Vec<RecordId>,
    amount: FieldId,
    doubled: FieldId,
}

impl Chain {
    async fn new(store: Arc<dyn Store>) -> Self {
        let mut fx = Fixture::new(store).await;
        fx.pb = fx
            .pb
            .clone()
            .with_limits(crate::Limits {
                compute_fanout_records: 3,
                compute_inline_records: 5,
                ..crate::Limits::default()
            })
            .with_background_fills(false);
        let items = fx.table.table.id;
        field(
            &fx,
            items,
            nf("Total", "formula", json!({ "formula": "{Qty} * {Price}" })),
        )
        .await;
        let lines = table(&fx, "Lines").await;
        field(
            &fx,
            lines,
            nf("Item", "link", json!({ "linked_table_id": items })),
        )
        .await;
        field(
            &fx,
            lines,
            nf(
                "Totals",
                "lookup",
                json!({ "link_field": "Item", "field": "Total" }),
            ),
        )
        .await;
        let orders = table(&fx, "Orders").await;
        field(
            &fx,
            orders,
            nf("Lines", "link", json!({ "linked_table_id": lines })),
        )
        .await;
        let amount = field(
            &fx,
            orders,
            nf(
                "Amount",
                "rollup",
                json!({ "link_field": "Lines", "field": "Totals", "formula": "SUM(values)" }),
            ),
        )
        .await
        .id;
        let doubled = field(
            &fx,
            orders,
            nf("Doubled", "formula", json!({ "formula": "{Amount} * 2" })),
        )
        .await
        .id;
        let item = fx
            .create(&[("Qty", json!(2)), ("Price", json!(PRICE))])
            .await
            .id;
        let l1 = create(&fx, lines, &[("Item", json!([item]))]).await.id;
        let l2 = create(&fx, lines, &[("Item", json!([item]))]).await.id;
        let made = fx
            .pb
            .create_records(
                &fx.owner,
                orders,
                (0..ORDERS)
                    .map(|_| cells(&[("Lines", json!([l1, l2]))]))
                    .collect(),
                WriteOptions::default(),
            )
            .await
            .expect("create orders");
        let order_ids: Vec<RecordId> = made.into_iter().map(|r| r.id).collect();
        let chain = Self {
            fx,
            items,
            item,
            orders,
            order_ids,
            amount,
            doubled,
        };
        assert_eq!(chain.amounts().await, vec![json!(12); ORDERS]);
        chain
    }

    /// Sets the item's `Qty` to `qty`: the write recomputes the item and
    /// the lines and hands the orders to the fill.
    async fn hand_off(&self, qty: i64) {
        update(&self.fx, self.items, self.item, &[("Qty", json!(qty))]).await;
        // A hand-off leaves the fields ready (their last values readable).
        assert_eq!(self.status(self.amount).await, FieldStatus::Ready);
        assert_eq!(self.status(self.doubled).await, FieldStatus::Ready);
    }

    async fn status(&self, field: FieldId) -> FieldStatus {
        self.fx
            .pb
            .get_field(&self.fx.owner, field)
            .await
            .expect("get field")
            .status
    }

    /// The stored cells of `field` of every order (as the store holds
    /// them, also while a field reads `computing`), by record.
    async fn stored(&self, field: FieldId) -> HashMap<RecordId, Value> {
        self.fx
            .store
            .field_cells(self.orders, field)
            .await
            .expect("field cells")
            .into_iter()
            .collect()
    }

    /// Every order's stored `Amount`, in the order of `order_ids`
    /// (`null` for an absent cell).
    async fn amounts(&self) -> Vec<Value> {
        let stored = self.stored(self.amount).await;
        self.order_ids
            .iter()
            .map(|id| stored.get(id).cloned().unwrap_or(Value::Null))
            .collect()
    }

    /// The orders whose stored `Amount` is `value`.
    async fn amounting_to(&self, value: i64) -> Vec<RecordId> {
        let mut out: Vec<RecordId> = self
            .stored(self.amount)
            .await
            .into_iter()
            .filter(|(_, v)| v.as_i64() == Some(value))
            .map(|(id, _)| id)
            .collect();
        out.sort();
        out
    }

    /// The orders whose stored `Doubled` is three times their `Amount`
    /// (the changed formula's value).
    async fn tripled(&self) -> Vec<RecordId> {
        let amounts = self.stored(self.amount).await;
        let mut out: Vec<RecordId> = self
            .stored(self.doubled)
            .await
            .into_iter()
            .filter(|(id, v)| {
                let a = amounts.get(id).and_then(Value::as_i64).unwrap_or(0);
                a != 0 && v.as_i64() == Some(3 * a)
            })
            .map(|(id, _)| id)
            .collect();
        out.sort();
        out
    }

    /// One step of the orders' fill by `owner`, its lease then lasting
    /// `secs` seconds from now (negative: already over).
    async fn step(&self, owner: &str, secs: i64) -> FillStep {
        let until = chrono::Utc::now() + chrono::Duration::seconds(secs);
        self.fx
            .store
            .fill_chunk(self.orders, owner, CHUNK, until)
            .await
            .expect("fill chunk")
    }

    /// Takes the orders' fill for `owner` (the only fill queued).
    async fn claim(&self, owner: &str) {
        let now = chrono::Utc::now();
        let until = now + chrono::Duration::seconds(60);
        assert_eq!(
            self.fx.store.claim_fill(owner, now, until).await.unwrap(),
            Some(self.orders)
        );
    }

    /// The fill ended: both fields read `ready`, every cell is what the
    /// evaluator computes for an item `Qty` of `qty` (`Doubled` per
    /// `factor`), read through the facade too, a recompute of the whole
    /// table by the one recompute algorithm changes no cell, and no fill
    /// is left.
    async fn assert_filled(&self, qty: i64, factor: i64) {
        assert_eq!(self.status(self.amount).await, FieldStatus::Ready);
        assert_eq!(self.status(self.doubled).await, FieldStatus::Ready);
        let amount = 2 * qty * PRICE;
        assert_eq!(self.amounts().await, vec![json!(amount); ORDERS]);
        let doubled = self.stored(self.doubled).await;
        for id in &self.order_ids {
            assert_eq!(doubled.get(id), Some(&json!(amount * factor)), "{id}");
        }
        let read = get(&self.fx, self.orders, self.order_ids[ORDERS - 1]).await;
        assert_eq!(read.fields.get("Amount"), Some(&json!(amount)));
        assert_eq!(read.fields.get("Doubled"), Some(&json!(amount * factor)));
        let before = (self.stored(self.amount).await, doubled);
        let mut after = None;
        loop {
            after = self
                .fx
                .store
                .recompute_records(self.orders, after, 1000)
                .await
                .expect("recompute");
            if after.is_none() {
                break;
            }
        }
        let now = (
            self.stored(self.amount).await,
            self.stored(self.doubled).await,
        );
        assert_eq!(now, before, "a full recompute changed cells the fill left");
        let at = chrono::Utc::now();
        let until = at + chrono::Duration::seconds(1);
        assert_eq!(
            self.fx.store.claim_fill("anyone", at, until).await.unwrap(),
            None,
            "no fill left"
        );
    }
}

/// The steps of whole passes of the fill, each but the last followed by
/// another (`Pass`), the last ending it (`Done`).
fn passes(n: usize) -> Vec<FillStep> {
    let mut out = Vec::new();
    for i in 0..n {
        out.extend([FillStep::More].repeat(PASS - 1));
        out.push(if i + 1 == n {
            FillStep::Done
        } else {
            FillStep::Pass
        });
    }
    out
}

/// With a write handing the orders to their fill after every chunk, each
/// pass still reaches the last record (the resume point is kept; a pass
/// ends asking for the next, `FillStep::Pass`) and recomputes every
/// order; once the writes stop, the fill ends within two passes (the one
/// under way and one from the first record, for the orders passed before
/// the last write), every cell equal to the evaluator's value.
pub async fn hand_offs_between_chunks_let_each_pass_complete(store: Arc<dyn Store>) {
    let c = Chain::new(store).await;
    let mut qty = 10;
    c.hand_off(qty).await;
    c.claim("w").await;
    // Three passes and two chunks of a fourth, a write after every step.
    let stream = 3 * PASS + 2;
    let mut steps = Vec::new();
    for n in 1..=stream {
        steps.push(c.step("w", 60).await);
        if n == PASS {
            // The first pass recomputed every order (each from the item
            // as it was at its chunk): none holds its value from before.
            let amounts = c.amounts().await;
            assert!(
                !amounts.contains(&json!(12)) && !amounts.contains(&Value::Null),
                "{amounts:?}"
            );
        }
        qty += 1;
        c.hand_off(qty).await;
    }
    // No more writes: the pass under way ends, one more pass follows.
    let mut free = 0;
    loop {
        let step = c.step("w", 60).await;
        steps.push(step);
        free += 1;
        assert!(free <= 2 * PASS, "not done after two passes: {steps:?}");
        if step != FillStep::More && step != FillStep::Pass {
            break;
        }
    }
    assert_eq!(steps, passes(5));
    assert_eq!(free, 2 * PASS - 2);
    c.assert_filled(qty, 2).await;
}

/// A further pass asked for survives a stop: a worker whose lease ran out
/// mid-pass after a hand-off leaves the resume point and the request in
/// the database; a new runner, re-queuing the computing fields as it does
/// at start ([`FillQueue::Keep`]), goes on from the resume point, ends the
/// pass and runs the one asked for, and the orders passed before the
/// hand-off get its value. The same through a new facade's
/// `run_compute_fills`.
pub async fn a_pass_asked_for_survives_a_restart(store: Arc<dyn Store>) {
    let c = Chain::new(store.clone()).await;
    for (round, qty) in [(0, 10), (1, 20)] {
        c.hand_off(qty).await;
        c.claim("gone").await;
        assert_eq!(c.step("gone", 60).await, FillStep::More);
        assert_eq!(c.step("gone", 60).await, FillStep::More);
        // The first two chunks hold the value of `qty`; the write below
        // changes them behind the resume point.
        assert_eq!(c.amounting_to(2 * qty * PRICE).await.len(), 2 * CHUNK);
        c.hand_off(qty + 1).await;
        // One more chunk, then the worker stops: its lease is over.
        assert_eq!(c.step("gone", -1).await, FillStep::More);
        let fields = [c.amount, c.doubled];
        if round == 0 {
            // What a new runner does at start, then steps by hand.
            c.fx.store
                .queue_fill(c.orders, &fields, FillQueue::Keep, chrono::Utc::now())
                .await
                .unwrap();
            c.claim("next").await;
            let mut steps = Vec::new();
            loop {
                let step = c.step("next", 60).await;
                steps.push(step);
                assert!(steps.len() <= 2 * PASS, "{steps:?}");
                if step == FillStep::Done || step == FillStep::Lost {
                    break;
                }
            }
            // The rest of the pass from the resume point, then a whole one.
            assert_eq!(steps, passes(2)[3..].to_vec());
        } else {
            let restarted = crate::Pybase::new(store.clone()).with_background_fills(false);
            assert_eq!(restarted.run_compute_fills().await.unwrap(), 1);
        }
        c.assert_filled(qty + 1, 2).await;
    }
}

/// A changed formula starts its fill over from the first record even while
/// a pass is under way and another was asked for: the first step after
/// the change recomputes the first chunk of records (those the pass did
/// first), and one pass then ends the fill (the pass asked for is not run
/// on top: the restart covers it).
pub async fn a_changed_formula_restarts_the_fill(store: Arc<dyn Store>) {
    let c = Chain::new(store).await;
    c.hand_off(10).await;
    c.claim("w").await;
    assert_eq!(c.step("w", 60).await, FillStep::More);
    let first_chunk = c.amounting_to(60).await;
    assert_eq!(first_chunk.len(), CHUNK);
    assert_eq!(c.step("w", 60).await, FillStep::More);
    assert_eq!(c.amounting_to(60).await.len(), 2 * CHUNK);
    // A write behind the resume point asks for another pass...
    c.hand_off(11).await;
    // ...and the formula changes: the fill starts over.
    let changed =
        c.fx.pb
            .update_field(
                &c.fx.owner,
                c.doubled,
                FieldPatch {
                    options: Some(json!({ "formula": "{Amount} * 3" })),
                    ..FieldPatch::default()
                },
            )
            .await
            .expect("change formula");
    assert_eq!(changed.status, FieldStatus::Computing);
    assert!(c.tripled().await.is_empty(), "nothing recomputed yet");
    let mut steps = vec![c.step("w", 60).await];
    // The first chunk again (not the one after the resume point), under
    // the new formula.
    assert_eq!(c.tripled().await, first_chunk);
    assert_eq!(c.amounting_to(66).await, first_chunk);
    loop {
        let step = c.step("w", 60).await;
        steps.push(step);
        assert!(steps.len() <= 2 * PASS, "{steps:?}");
        if step == FillStep::Done || step == FillStep::Lost {
            break;
        }
    }
    assert_eq!(steps, passes(1));
    c.assert_filled(11, 3).await;
}
