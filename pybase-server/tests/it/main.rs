//! Integration tests: a real server on 127.0.0.1:0, driven over HTTP.

// Test helpers (not only `#[test]` functions) fail by panicking.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod abuse;
mod attachments;
mod auth;
mod common;
mod concurrency;
mod docs;
mod errors;
mod postgres;
mod records;
mod redis_shared;
mod roles;
mod route_matrix;
mod s3;
mod schema;
mod workspaces;
