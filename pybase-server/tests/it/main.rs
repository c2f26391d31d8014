//! Integration tests, one binary: a real server on 127.0.0.1:0 driven over
//! HTTP (most modules), the server's life on PostgreSQL (`pg_lifecycle`)
//! and the reliability suite (`reliability`, the real binary killed and its
//! services restarted). The tests that stop shared services are
//! `#[ignore]`d; `scripts/test.sh` runs them alone with
//! `cargo test -p pybase-server --test it -- --ignored --test-threads=1`.

// Test helpers (not only `#[test]` functions) fail by panicking.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod abuse;
mod attachments;
mod auth;
mod changes;
mod common;
mod computed;
mod concurrency;
mod docs;
mod errors;
mod formula;
mod pg_lifecycle;
mod postgres;
mod records;
mod redis_shared;
mod reliability;
mod roles;
mod route_matrix;
mod s3;
mod schema;
mod v0;
mod v0_attachments;
mod v0_clients;
mod v0_filter_property;
mod v0_webhooks;
mod webhooks;
mod workspaces;
