//! The backend-agnostic conformance suite of pybase-core, on SQLite.
//!
//! Each case gets its own in-memory database.

use std::sync::Arc;

use pybase_core::store::Store;
use pybase_store_sqlite::SqliteStore;

pybase_core::conformance_tests!(async {
    Arc::new(SqliteStore::open_in_memory().expect("open in-memory sqlite")) as Arc<dyn Store>
});

/// The same suite through a store that forwards only the required methods,
/// so the traits' default methods are exercised too.
mod minimal {
    use std::sync::Arc;

    use pybase_core::store::Store;
    use pybase_core::testkit::minimal::MinimalStore;
    use pybase_store_sqlite::SqliteStore;

    pybase_core::conformance_tests!(async {
        MinimalStore::wrap(
            Arc::new(SqliteStore::open_in_memory().expect("open in-memory sqlite"))
                as Arc<dyn Store>,
        )
    });
}
