//! The backend-agnostic conformance suites of `pybase_core::testkit`, run
//! on PostgreSQL: one fresh database per case.
//!
//! Run with `PYBASE_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test
//! cargo test -p pybase-store-postgres --test conformance`.

mod common;

// `$make` is a block, not an async block, so its `return` skips the whole
// test when PostgreSQL is not configured (after saying so loudly).
pybase_core::conformance_tests!({
    let Some(url) = common::postgres_url() else {
        return;
    };
    common::conformance_store(url)
});

mod auth {
    use std::sync::Arc;

    use pybase_core::store::AuthStore;

    use super::common;

    pybase_core::auth_conformance_tests!({
        let Some(url) = common::postgres_url() else {
            return;
        };
        async move { common::conformance_store(url).await as Arc<dyn AuthStore> }
    });
}
