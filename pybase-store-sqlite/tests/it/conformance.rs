//! The backend-agnostic conformance suites of `pybase_core::testkit` on
//! SQLite: each case gets its own in-memory database.

use std::sync::Arc;

use pybase_core::store::Store;
use pybase_store_sqlite::SqliteStore;

fn memory() -> Arc<dyn Store> {
    Arc::new(SqliteStore::open_in_memory().expect("open in-memory sqlite"))
}

pybase_core::conformance_tests!(async { memory() });

/// The same suite through a store that forwards only the required methods,
/// so the traits' default methods are exercised too.
mod minimal {
    use pybase_core::testkit::minimal::MinimalStore;

    pybase_core::conformance_tests!(async { MinimalStore::wrap(super::memory()) });
}

/// The auth rules and the security review's attacks.
mod auth {
    pybase_core::auth_conformance_tests!(async { super::memory() });
}
