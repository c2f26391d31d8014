//! Storage traits: one per aggregate, gathered in [`Store`].
//!
//! # Contract (every backend, checked by the `testkit` conformance suite)
//! - Each method is one atomic unit of work: it fully happens or not at all.
//! - A missing row answers [`crate::StoreError::NotFound`]; a uniqueness violation
//!   answers [`crate::StoreError::Conflict`] naming the field; driver failures
//!   answer [`crate::StoreError::Backend`].
//! - Stores keep what they are given: validation, ids and timestamps come
//!   from core. Timestamps are kept to the millisecond.
//! - Ids are stored as text compared by bytes (`COLLATE "C"` in PostgreSQL).
//! - Soft-deleted records are invisible unless an operation says otherwise.
//! - Deleting a workspace removes its bases; a base its tables; a table its
//!   fields, views, records and attachment rows.
//! - Two-way links ([`links`]): a record write that changes the cells of a
//!   link field with an `inverse_field_id` changes the partner cells of the
//!   linked records in the same transaction; saving or deleting a field
//!   clears `inverse_field_id` on any partner it no longer points back to.

mod auth;
mod changes;
pub mod computed;
mod fields_cache;
mod health;
pub mod links;
mod records;
mod schema;
mod webhooks;
mod workspaces;

pub use auth::{
    AuthStore, PasswordReset, RefreshToken, RotateOutcome, SessionState, StoredApiKey,
    UserCredentials,
};
pub use changes::{
    ChangeEvent, ChangeFeed, ChangeKind, ChangesPage, ChangesStore, Committed, NewChange, acting,
    change_log_enabled, changed_fields_of, changed_fields_or_sides, current_actor,
    measure_without_change_log,
};
pub use fields_cache::{FIELDS_CACHE_TABLES, FieldsCache};
pub use health::StoreHealth;
pub use records::{
    CachedFields, FieldsVersion, NewRecord, RecordPatch, RecordsStore, UpdateGuard, UpsertOutcome,
    patch_rounds,
};
pub use schema::{SchemaStore, TableAccess};
pub use webhooks::{AirtableHook, Delivery, PayloadMark, Progress, Webhook, WebhooksStore};
pub use workspaces::WorkspacesStore;

use std::fmt::Debug;

/// Everything PyBase needs from a storage backend.
///
/// Implemented automatically for any type that implements every aggregate
/// trait, so `Arc<dyn Store>` works for all backends.
pub trait Store:
    AuthStore
    + WorkspacesStore
    + SchemaStore
    + RecordsStore
    + ChangesStore
    + WebhooksStore
    + Debug
    + Send
    + Sync
    + 'static
{
}

impl<T> Store for T where
    T: AuthStore
        + WorkspacesStore
        + SchemaStore
        + RecordsStore
        + ChangesStore
        + WebhooksStore
        + Debug
        + Send
        + Sync
        + 'static
{
}
