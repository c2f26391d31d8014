//! The facade every embedding program and the server use: [`Pybase`].
//!
//! Each operation takes the acting [`crate::principal::Principal`] and
//! first checks its role in the workspace involved, which yields a scope
//! ([`WorkspaceScope`], [`BaseScope`], [`TableScope`]) that the steps
//! touching storage require, so an embedding application gets exactly the
//! permission rules of the HTTP API:
//! - a non-member (or an API key limited to other workspaces) gets
//!   [`Error::NotFound`], never a hint that the resource exists;
//! - a member whose role or key scope is too low gets [`Error::Forbidden`].

mod access_epochs;
mod airtable_webhooks;
mod attachment_copies;
mod attachments;
mod authz;
mod auto_index;
mod change_tail;
mod changes;
mod computed;
mod conversion;
mod fills;
mod formula;
mod inputs;
mod link_conversion;
mod link_names;
mod link_titles;
mod links;
mod raw_page;
mod records;
mod render;
mod revert;
mod schema;
mod sealed_cursors;
mod shared_event;
mod signed_urls;
mod snapshots;
mod webhooks;
mod workspaces;
mod write_checks;
mod write_gates;

pub use access_epochs::AccessChange;
pub use airtable_webhooks::{
    AIRTABLE_WEBHOOK_LIFETIME, AirtablePayloads, AirtableSpec, AirtableWebhookOut,
    CreatedAirtableWebhook, MAX_PAYLOADS_PAGE, airtable_spec, airtable_wants,
};
pub use attachments::APPEND_ATTEMPTS;
pub use authz::{BaseScope, TableScope, WorkspaceScope};
pub use change_tail::DEFAULT_KEPT_EVENTS;
pub use changes::{
    ChangeSubscription, ChangesOut, DEFAULT_CHANGES_PAGE, HistoryOut, MAX_CHANGES_PAGE, POLL_EVERY,
};
pub use formula::FormulaCheck;
pub use inputs::{
    BasePatch, CellsInput, FieldPatch, NewBase, NewField, NewMember, NewTable, NewView,
    NewWorkspace, QueryInput, TablePatch, ViewPatch, WorkspacePatch, WriteOptions,
};
pub use records::MAX_BATCH;
pub use render::{
    AttachmentUrl, FieldKey, RecordOut, RecordsPage, TableSchema, UpsertResult, attachment_json,
};
pub use shared_event::SharedEvent;
pub use signed_urls::{SIGNED_URL_LIFETIME, SignedAttachment};
pub use webhooks::{
    CreatedWebhook, MAX_URL_CHARS, NewWebhook, WebhookPatch, forbidden_address, hmac_hex, signature,
};
pub(crate) use workspaces::check_name_within;
pub use workspaces::{MAX_DESCRIPTION_CHARS, MAX_NAME_CHARS};

use std::sync::Arc;

use object_store::ObjectStore;
use object_store::memory::InMemory;

use crate::clock::{Clock, SystemClock};
use crate::error::{Error, StoreError};
use crate::limits::Limits;
use crate::store::Store;

/// PyBase as a library: storage, object storage and a clock behind the
/// permission rules.
#[derive(Debug, Clone)]
pub struct Pybase {
    store: Arc<dyn Store>,
    objects: Arc<dyn ObjectStore>,
    clock: Arc<dyn Clock>,
    limits: Limits,
    attachment_url: Option<AttachmentUrlHook>,
    auto_index: auto_index::Shared,
    remote: crate::store::ChangeFeed,
    change_tails: change_tail::Tails,
    access_epochs: access_epochs::AccessEpochs,
    webhook_key: Option<webhooks::WebhookKey>,
    /// The key `next_cursor`s are sealed with (`sealed_cursors.rs`).
    cursor_key: Option<sealed_cursors::CursorKey>,
    webhook_allow_private: bool,
    fills: fills::SharedFills,
    fills_in_background: bool,
    /// Writers that create records for link names, one at a time per
    /// linked table (striped by table id): `link_names.rs`.
    name_locks: Arc<[tokio::sync::Mutex<()>]>,
    /// What snapshot walks learnt of the log, kept between their pages
    /// (`snapshots/walks.rs`).
    walks: snapshots::Walks,
    /// Record writes held back while a field of their table converts
    /// (`write_gates.rs`).
    write_gates: write_gates::WriteGates,
}

/// [`AttachmentUrl`] with a `Debug` that hides the closure.
#[derive(Clone)]
struct AttachmentUrlHook(AttachmentUrl);

impl std::fmt::Debug for AttachmentUrlHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AttachmentUrl")
    }
}

impl Pybase {
    /// A facade over `store`, keeping attachment bytes in memory until
    /// [`Pybase::with_object_store`] says otherwise.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self {
            store,
            objects: Arc::new(InMemory::new()),
            clock: Arc::new(SystemClock),
            limits: Limits::default(),
            attachment_url: None,
            auto_index: auto_index::Shared::default(),
            remote: crate::store::ChangeFeed::new(),
            change_tails: change_tail::Tails::default(),
            access_epochs: access_epochs::AccessEpochs::default(),
            webhook_key: None,
            cursor_key: None,
            webhook_allow_private: false,
            fills: fills::SharedFills::default(),
            fills_in_background: true,
            name_locks: (0..link_names::NAME_LOCK_STRIPES)
                .map(|_| tokio::sync::Mutex::new(()))
                .collect(),
            walks: snapshots::Walks::default(),
            write_gates: write_gates::WriteGates::default(),
        }
    }

    /// Keeps attachment bytes in `objects` (a local folder, S3, ...).
    pub fn with_object_store(mut self, objects: Arc<dyn ObjectStore>) -> Self {
        self.objects = objects;
        self
    }

    /// Uses `clock` for every timestamp.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// How many of a base's newest events its shared reader keeps for the
    /// live subscriptions that are a little behind (default
    /// [`DEFAULT_KEPT_EVENTS`], at least one); a subscription further
    /// behind reads the log itself until it catches up. Set it before the
    /// first subscription.
    pub fn with_kept_change_events(mut self, kept: usize) -> Self {
        self.change_tails = change_tail::Tails::keeping(kept);
        self
    }

    /// Bounds every input with `limits` instead of [`Limits::default`].
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Shows each attachment rendered in a cell with `"url": url(id)`,
    /// where the program serves its bytes; without it cells carry no URL.
    pub fn with_attachment_url(mut self, url: AttachmentUrl) -> Self {
        self.attachment_url = Some(AttachmentUrlHook(url));
        self
    }

    /// The attachment URL hook, if any (see [`Pybase::with_attachment_url`]).
    pub fn attachment_url(&self) -> Option<&AttachmentUrl> {
        self.attachment_url.as_ref().map(|h| &h.0)
    }

    /// The input limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The storage backend, for the conformance suite's set-up only:
    /// nothing outside the facade reaches the store.
    #[cfg(feature = "testkit")]
    pub(crate) fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The object store holding attachment bytes.
    pub fn object_store(&self) -> &Arc<dyn ObjectStore> {
        &self.objects
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }
}

/// Maps a store `NotFound` to the facade's, naming `entity`.
pub(crate) fn not_found_as(e: StoreError, entity: &'static str) -> Error {
    match e {
        StoreError::NotFound { .. } => Error::NotFound { entity },
        other => other.into(),
    }
}
