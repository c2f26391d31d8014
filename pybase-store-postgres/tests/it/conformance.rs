//! The backend-agnostic conformance suites of `pybase_core::testkit`, run
//! on PostgreSQL: one fresh database per case.
//!
//! Run with `PYBASE_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test
//! cargo test -p pybase-store-postgres conformance::`.

use pybase_store_postgres::testkit::conformance_store;

// `$make` is a block, not an async block, so the `return` inside
// `require_postgres!` skips the whole test when PostgreSQL is not
// configured (after saying so loudly).
pybase_core::conformance_tests!({
    let url = crate::require_postgres!();
    async move { conformance_store(&url).await }
});

mod auth {
    use std::sync::Arc;

    use pybase_core::store::AuthStore;
    use pybase_store_postgres::testkit::conformance_store;

    pybase_core::auth_conformance_tests!({
        let url = crate::require_postgres!();
        async move { conformance_store(&url).await as Arc<dyn AuthStore> }
    });
}
