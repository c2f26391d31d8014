use std::time::Duration;

use super::*;

/// Whether `f` is still pending after the runtime has had a while to run
/// it (a gate that should hold stays shut however long this waits).
async fn held<F: std::future::Future>(f: F) -> bool {
    tokio::time::timeout(Duration::from_millis(50), f)
        .await
        .is_err()
}

#[tokio::test]
async fn a_closed_gate_holds_writes_back_until_it_opens() {
    let gates = WriteGates::default();
    let table = TableId::new();
    let other = TableId::new();
    let before = gates.ticket(table);
    let mut closed = gates.close(table).await;
    // Held at the closed gate; another table's gate is open.
    assert!(held(WriteGates::pass(&before)).await);
    assert!(!held(WriteGates::pass(&gates.ticket(other))).await);
    let during = gates.ticket(table);
    closed.converted();
    drop(closed);
    // Open again: the write checked before the conversion is told so, as
    // is the one checked during it; one checked after goes ahead.
    assert!(WriteGates::pass(&before).await.moved);
    assert!(WriteGates::pass(&during).await.moved);
    assert!(!WriteGates::pass(&gates.ticket(table)).await.moved);
}

#[tokio::test]
async fn a_conversion_that_changed_nothing_leaves_writes_as_checked() {
    let gates = WriteGates::default();
    let table = TableId::new();
    let before = gates.ticket(table);
    let closed = gates.close(table).await;
    assert!(held(WriteGates::pass(&before)).await);
    drop(closed);
    assert!(!WriteGates::pass(&before).await.moved);
}

#[tokio::test]
async fn a_conversion_waits_for_the_writes_passing() {
    let gates = WriteGates::default();
    let table = TableId::new();
    let ticket = gates.ticket(table);
    let passing = WriteGates::pass(&ticket).await;
    assert!(!passing.moved);
    assert!(held(gates.close(table)).await);
    drop(passing);
    let _closed = gates.close(table).await;
}

#[tokio::test]
async fn a_converting_task_waits_at_no_gate() {
    let gates = WriteGates::default();
    let table = TableId::new();
    let _closed = gates.close(table).await;
    let ticket = gates.ticket(table);
    let passing = WriteGates::converting(WriteGates::pass(&ticket)).await;
    assert!(!passing.moved, "its own ticket, taken after it closed");
    // Not in the converting task: held.
    assert!(held(WriteGates::pass(&ticket)).await);
}

#[tokio::test]
async fn gates_nobody_holds_are_forgotten_past_the_limit() {
    let gates = WriteGates::default();
    let kept = gates.ticket(TableId::new());
    for _ in 0..KEPT_GATES + 10 {
        let _ = gates.ticket(TableId::new());
    }
    let count = gates.gates.lock().map(|g| g.len()).unwrap_or_default();
    assert!(count < KEPT_GATES, "{count} gates kept");
    // The one still held stays, with its count.
    assert!(!WriteGates::pass(&kept).await.moved);
    assert!(
        gates
            .gates
            .lock()
            .map(|g| g.values().any(|g| Arc::ptr_eq(g, &kept.gate)))
            .unwrap_or_default()
    );
}
