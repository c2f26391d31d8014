//! Tests that need both storage backends at once, kept in a crate of their
//! own so that neither store depends on the other, not even for tests.
//!
//! The crate has no code: everything is in `tests/it/` (one test binary).
//! `differential` builds the same tables, records, views and queries on
//! SQLite and on PostgreSQL and requires identical answers. Run it with
//! `PYBASE_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test
//! cargo test -p pybase-testsuite`.
