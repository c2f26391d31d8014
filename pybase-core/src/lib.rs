//! PyBase core: the domain of a self-hosted Airtable alternative.
//!
//! - [`model`]: users, workspaces, bases, tables, fields, records, views,
//!   API keys and attachments, with typed ids ([`ids`]).
//! - [`fields`]: field types, their options, cell validation and conversion.
//! - [`query`]: filters, sorts and cursor pages, plus a reference evaluator.
//! - [`store`]: the storage traits every backend implements.
//! - [`role`]: roles, API-key scopes and what they allow.
//!
//! With the `openapi` feature, the types the HTTP API reads and writes
//! derive `utoipa::ToSchema`, and [`openapi`] holds the string formats and
//! JSON languages a derive cannot state.
//!
//! With the `testkit` feature, `testkit` holds the conformance suite that
//! every storage backend must pass.

pub mod auth;
pub mod clock;
pub mod error;
pub mod facade;
pub mod fields;
pub mod formula;
pub mod ids;
pub mod limits;
pub mod model;
#[cfg(feature = "openapi")]
pub mod openapi;
pub mod patterns;
pub mod principal;
pub mod query;
pub mod role;
pub mod store;
#[cfg(feature = "testkit")]
pub mod testkit;

pub use error::{Error, Result, StoreError, StoreResult};
pub use facade::Pybase;
pub use limits::Limits;
pub use principal::Principal;
