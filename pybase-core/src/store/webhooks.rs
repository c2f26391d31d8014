//! Webhooks on a base's change log and their delivery state.
//!
//! # Contract
//! - A webhook's `cursor` is the seq of the last event of its base that it
//!   is done with (delivered, or skipped by its filter). It starts at the
//!   base's newest seq when the webhook is created (read in the creating
//!   transaction), so a webhook receives the events committed after it.
//! - Delivery state lives in the database, so it survives restarts. A
//!   delivering instance holds a lease on the webhook
//!   ([`WebhooksStore::claim_webhooks`]); progress is saved only while the
//!   lease is held ([`WebhooksStore::save_progress`]), so one instance
//!   delivers each webhook at a time.
//! - Deleting a base deletes its webhooks and their deliveries.
//! - `start_seq` is the base's newest seq at creation (the same value
//!   `cursor` starts at) and never changes; `airtable` is stored as given
//!   on creation and on every update.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::StoreResult;
use crate::ids::{BaseId, TableId, UserId, WebhookId};
use crate::model::Timestamp;
use crate::store::ChangeKind;

/// A webhook as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Webhook {
    /// Its id.
    pub id: WebhookId,
    /// The base whose events it receives.
    pub base_id: BaseId,
    /// Only events of this table, when set.
    pub table_id: Option<TableId>,
    /// Where events are POSTed.
    pub url: String,
    /// Only these kinds, when not empty.
    pub events: Vec<ChangeKind>,
    /// Whether it delivers.
    pub enabled: bool,
    /// Why it was disabled by the server (after too many failed attempts).
    pub disabled_reason: Option<String>,
    /// Who created it.
    pub created_by: UserId,
    /// Creation time.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: Timestamp,
    /// Last change time.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub updated_at: Timestamp,
    /// The seq of the last event it is done with.
    pub cursor: i64,
    /// Failed attempts at the event after `cursor`.
    pub attempt: i32,
    /// When the next attempt is due (`None`: as soon as there is an event).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub next_attempt_at: Option<Timestamp>,
    /// The random value its signing secret is derived from (never shown).
    #[serde(skip)]
    pub secret_nonce: String,
    /// The base's newest seq when the webhook was created (set by the
    /// store in the creating transaction; the value given is ignored).
    #[serde(skip)]
    pub start_seq: i64,
    /// What an Airtable-style webhook (`/v0`) adds; `None` for the native
    /// ones.
    #[serde(skip)]
    pub airtable: Option<AirtableHook>,
}

/// What an Airtable-style webhook (created under `/v0`) keeps beside the
/// native fields: its specification as given and when it expires. Its
/// `url` is the notification URL (empty when it has none, and then it is
/// never enabled).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AirtableHook {
    /// The `specification` object as created (validated by the facade).
    pub specification: serde_json::Value,
    /// When it expires (creation or the last refresh or payload listing,
    /// plus seven days).
    pub expires_at: Timestamp,
    /// Where the last payload page ended (see [`PayloadMark`]).
    #[serde(default)]
    pub mark: Option<PayloadMark>,
}

/// A position in an Airtable webhook's payloads: the events of its base's
/// log up to `seq` that its specification selects are numbered below
/// `cursor` (payloads are numbered from 1 after the creation point).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayloadMark {
    /// The number the next selected event gets.
    pub cursor: i64,
    /// The last seq counted.
    pub seq: i64,
}

impl Webhook {
    /// Whether the webhook wants `kind` events of `table`.
    pub fn wants(&self, kind: ChangeKind, table: Option<TableId>) -> bool {
        (self.events.is_empty() || self.events.contains(&kind))
            && (self.table_id.is_none() || self.table_id == table)
    }
}

/// One delivery attempt.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Delivery {
    /// Its id (increasing).
    pub id: i64,
    /// The event's seq.
    pub event_seq: i64,
    /// 1 for the first attempt at this event.
    pub attempt: i32,
    /// When it was made.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub at: Timestamp,
    /// The receiver's status, if it answered.
    pub status_code: Option<u16>,
    /// What went wrong, if anything.
    pub error: Option<String>,
    /// How long it took.
    pub duration_ms: i64,
    /// When the event is tried again (`None`: delivered, or given up).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub next_retry_at: Option<Timestamp>,
}

impl Delivery {
    /// Whether the receiver took it (a 2xx answer).
    pub fn succeeded(&self) -> bool {
        self.error.is_none() && self.status_code.is_some_and(|c| (200..300).contains(&c))
    }
}

/// New delivery state of a webhook, saved with [`WebhooksStore::save_progress`].
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    /// The seq of the last event it is done with.
    pub cursor: i64,
    /// Failed attempts at the event after `cursor`.
    pub attempt: i32,
    /// When the next attempt is due.
    pub next_attempt_at: Option<Timestamp>,
    /// `Some(reason)` disables the webhook.
    pub disable: Option<String>,
    /// The attempt to add to its deliveries (its `id` is ignored).
    pub delivery: Option<Delivery>,
    /// Whether to give up the lease.
    pub release: bool,
}

/// Webhooks and their deliveries.
#[async_trait]
pub trait WebhooksStore: Send + Sync {
    /// Inserts a webhook, setting its cursor to its base's newest seq in
    /// the same transaction; answers it as stored. `NotFound` if the base
    /// is absent.
    async fn create_webhook(&self, webhook: &Webhook) -> StoreResult<Webhook>;
    /// A webhook by id; `NotFound` if absent.
    async fn get_webhook(&self, id: WebhookId) -> StoreResult<Webhook>;
    /// The webhooks of a base, oldest first.
    async fn list_webhooks(&self, base: BaseId) -> StoreResult<Vec<Webhook>>;
    /// Saves url, events, enabled, disabled reason and `updated_at`;
    /// enabling clears the attempt count and the next attempt time.
    /// `NotFound` if absent.
    async fn update_webhook(&self, webhook: &Webhook) -> StoreResult<()>;
    /// Turns a webhook on or off, writing only `enabled`, `updated_at` and,
    /// when it turns on, a cleared disabling reason, attempt count and next
    /// attempt time (as [`WebhooksStore::update_webhook`]); every other
    /// column stays as it is, so a concurrent write of them (an Airtable
    /// webhook's payload listing) is never undone. `NotFound` if absent.
    async fn set_webhook_enabled(
        &self,
        id: WebhookId,
        enabled: bool,
        at: Timestamp,
    ) -> StoreResult<()>;
    /// Saves an Airtable webhook's own state (`airtable`: expiry and payload
    /// mark) and `updated_at` only; every other column stays as it is, so a
    /// concurrent `enabled` change is never undone. `NotFound` if absent.
    async fn save_airtable_hook(
        &self,
        id: WebhookId,
        hook: &AirtableHook,
        at: Timestamp,
    ) -> StoreResult<()>;
    /// Deletes a webhook and its deliveries; `NotFound` if absent.
    async fn delete_webhook(&self, id: WebhookId) -> StoreResult<()>;
    /// Takes the lease (`owner` until `until`) of up to `limit` enabled
    /// webhooks that have events after their cursor, are due at `now` and
    /// whose lease is free or expired; answers them.
    async fn claim_webhooks(
        &self,
        owner: &str,
        now: Timestamp,
        until: Timestamp,
        limit: usize,
    ) -> StoreResult<Vec<Webhook>>;
    /// Saves `progress` (and its delivery) if `owner` still holds the
    /// lease, in one transaction; `false` (nothing saved) otherwise. A
    /// progress that disables the webhook stamps it changed `at`.
    async fn save_progress(
        &self,
        owner: &str,
        id: WebhookId,
        progress: &Progress,
        at: Timestamp,
    ) -> StoreResult<bool>;
    /// Gives back every lease `owner` holds (a delivering program that
    /// stops), so another owner may claim those webhooks at once rather
    /// than when the leases expire; their progress stays as saved.
    async fn release_webhooks(&self, owner: &str) -> StoreResult<()>;
    /// Up to `limit` deliveries of a webhook, newest first, with an id
    /// below `before` when given.
    async fn list_deliveries(
        &self,
        id: WebhookId,
        before: Option<i64>,
        limit: usize,
    ) -> StoreResult<Vec<Delivery>>;
}
