//! SQLite-specific tests of `SqliteStore` (the backend-agnostic suite is in
//! `tests/conformance.rs`).

// Test helpers panic on failure by design.
#![allow(clippy::unwrap_used)]

mod at_rest;
mod common;
mod kill;
mod persistence;
mod query;
mod records;
mod schema;
