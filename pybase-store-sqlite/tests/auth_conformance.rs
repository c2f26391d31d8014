//! The auth conformance suite of `pybase-core` on SQLite (in memory, a fresh
//! database per test).

use std::sync::Arc;

use pybase_core::store::Store;
use pybase_store_sqlite::SqliteStore;

pybase_core::auth_conformance_tests!(async {
    Arc::new(SqliteStore::open_in_memory().expect("open in-memory sqlite")) as Arc<dyn Store>
});
