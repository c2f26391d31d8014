//! PostgreSQL-specific tests of `PgStore`, and the backend-agnostic
//! conformance suite of `pybase_core::testkit` on PostgreSQL, in one test
//! binary.
//!
//! Run with `PYBASE_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test
//! cargo test -p pybase-store-postgres`; without the variable every test
//! says loudly that it skipped (and fails under `PYBASE_REQUIRE_SERVICES=1`).

// Test helpers panic on failure by design.
#![allow(clippy::unwrap_used)]

mod compute_fills;
mod conformance;
mod contention;
mod created_seq;
mod explain;
mod log_update_function;
mod postgres;
mod statistics;
mod table_names;

/// The URL of the PostgreSQL test server, or returns from the calling test
/// after `pybase_core::testkit::services` said why.
#[macro_export]
macro_rules! require_postgres {
    () => {
        pybase_core::require_service!(pybase_core::testkit::services::POSTGRES_URL)
    };
}
