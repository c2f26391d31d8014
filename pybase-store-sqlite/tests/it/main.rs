//! The tests of `SqliteStore`, one binary: the backend-agnostic
//! conformance suites (`conformance`) and what is SQLite's own.

// Test helpers panic on failure by design.
#![allow(clippy::unwrap_used)]

mod at_rest;
mod common;
mod conformance;
mod kill;
mod persistence;
mod records;
mod schema;
