//! Airtable-style webhooks (`/v0/bases/{id}/webhooks`, AIRTABLE.md §11)
//! through the permission rules: creation with a MAC secret shown once,
//! listing, deletion, refresh, notifications on or off, and payload pages
//! read from the base's change log.
//!
//! They are stored as webhooks (so the delivery worker pings them, with
//! its lease, retries and address rules) with an [`AirtableHook`] part: the
//! specification and the expiry. Nothing secret is stored: the MAC secret
//! is HMAC-SHA256 of the webhook's nonce under the key derived from the
//! server's `SECRET_KEY`, like the native secrets.
//!
//! # Payload cursors
//! Airtable numbers a webhook's payloads 1, 2, 3, … with no gaps, and
//! clients rely on it (pyairtable numbers a page's payloads from the cursor
//! it asked for). Here payload `n` is the `n`-th event of the base's log
//! after the webhook's creation point (`start_seq`) that its specification
//! selects. Finding it reads the log from a mark: a pair (cursor, seq)
//! saying that the selected events up to `seq` are numbered below
//! `cursor`. Marks are facts of the append-only log and the fixed
//! specification, so any saved mark stays true; each payload page saves the
//! one it ends at, and the next page starts from it.

use chrono::TimeDelta;
use serde_json::{Map, Value};

use super::Pybase;
use super::webhooks::hmac_bytes;
use crate::error::{Error, Result};
use crate::ids::{BaseId, FieldId, TableId, WebhookId};
use crate::model::Timestamp;
use crate::principal::Principal;
use crate::role::Action;
use crate::store::{AirtableHook, ChangeEvent, ChangeKind, Delivery, PayloadMark, Webhook};

use ChangeKind as K;

/// How long a webhook lives without a refresh or a payload listing.
pub const AIRTABLE_WEBHOOK_LIFETIME: TimeDelta = TimeDelta::days(7);
/// The most payloads a page holds (and the default).
pub const MAX_PAYLOADS_PAGE: usize = 50;
/// Events read from the log at once while counting payloads.
const SCAN_BATCH: usize = 1000;

/// The data types a specification may select.
const DATA_TYPES: [&str; 3] = ["tableData", "tableFields", "tableMetadata"];
/// The change types a specification may select.
const CHANGE_TYPES: [&str; 3] = ["add", "remove", "update"];

/// A webhook's specification, parsed: what it selects from the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AirtableSpec {
    /// Record changes (`tableData`).
    pub table_data: bool,
    /// Field changes (`tableFields`).
    pub table_fields: bool,
    /// Table changes (`tableMetadata`).
    pub table_metadata: bool,
    /// Only changes of this table (`recordChangeScope`).
    pub table: Option<TableId>,
    /// Only these change types (`changeTypes`: add, remove, update); all
    /// when empty.
    pub change_types: Vec<String>,
    /// Record updates only when one of these fields changed
    /// (`watchDataInFieldIds`); all when empty.
    pub watch_fields: Vec<FieldId>,
    /// Whether record updates carry the previous cell values
    /// (`includes.includePreviousCellValues`).
    pub include_previous_cells: bool,
}

fn invalid(path: &str, expected: impl Into<String>) -> Error {
    Error::invalid(format!("specification.{path}"), expected)
}

/// Refuses keys of `object` outside `known`.
fn only_keys(object: &Map<String, Value>, path: &str, known: &[&str]) -> Result<()> {
    if let Some(k) = object.keys().find(|k| !known.contains(&k.as_str())) {
        return Err(invalid(
            &format!("{path}.{k}"),
            format!("no such key (supported: {})", known.join(", ")),
        ));
    }
    Ok(())
}

fn object<'a>(v: Option<&'a Value>, path: &str) -> Result<&'a Map<String, Value>> {
    v.and_then(Value::as_object)
        .ok_or_else(|| invalid(path, "an object"))
}

fn strings(v: Option<&Value>, path: &str, allowed: Option<&[&str]>) -> Result<Vec<String>> {
    let Some(v) = v else { return Ok(Vec::new()) };
    let items = v
        .as_array()
        .ok_or_else(|| invalid(path, "an array of strings"))?;
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let s = item
            .as_str()
            .ok_or_else(|| invalid(&format!("{path}[{i}]"), "a string"))?;
        if let Some(allowed) = allowed
            && !allowed.contains(&s)
        {
            return Err(invalid(
                &format!("{path}[{i}]"),
                format!("one of {}, got {s:?}", allowed.join(", ")),
            ));
        }
        if !out.iter().any(|o| o == s) {
            out.push(s.to_owned());
        }
    }
    Ok(out)
}

fn flag(v: Option<&Value>, path: &str) -> Result<bool> {
    match v {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(invalid(path, "true or false")),
    }
}

impl AirtableSpec {
    /// Parses a specification:
    /// `{"options":{"filters":{"dataTypes":[…],"recordChangeScope"?,"changeTypes"?,
    /// "watchDataInFieldIds"?},"includes"?:{"includePreviousCellValues"?}}}`.
    /// Other keys are refused (Airtable options this server does not
    /// apply).
    pub fn parse(spec: &Value) -> Result<Self> {
        let root = spec
            .as_object()
            .ok_or_else(|| Error::invalid("specification", "an object"))?;
        only_keys(root, "", &["options"])
            .map_err(|_| Error::invalid("specification", "an object with only the key options"))?;
        let options = object(root.get("options"), "options")?;
        only_keys(options, "options", &["filters", "includes"])?;
        let filters = object(options.get("filters"), "options.filters")?;
        only_keys(
            filters,
            "options.filters",
            &[
                "dataTypes",
                "recordChangeScope",
                "changeTypes",
                "watchDataInFieldIds",
            ],
        )?;
        let data_types = strings(
            filters.get("dataTypes"),
            "options.filters.dataTypes",
            Some(&DATA_TYPES),
        )?;
        if data_types.is_empty() {
            return Err(invalid(
                "options.filters.dataTypes",
                format!("a non-empty array of {}", DATA_TYPES.join(", ")),
            ));
        }
        let table = match filters.get("recordChangeScope") {
            None | Some(Value::Null) => None,
            Some(v) => Some(v.as_str().and_then(|s| s.parse().ok()).ok_or_else(|| {
                invalid("options.filters.recordChangeScope", "a table id (tbl…)")
            })?),
        };
        let change_types = strings(
            filters.get("changeTypes"),
            "options.filters.changeTypes",
            Some(&CHANGE_TYPES),
        )?;
        let watch_fields = strings(
            filters.get("watchDataInFieldIds"),
            "options.filters.watchDataInFieldIds",
            None,
        )?
        .iter()
        .enumerate()
        .map(|(i, s)| {
            s.parse::<FieldId>().map_err(|_| {
                invalid(
                    &format!("options.filters.watchDataInFieldIds[{i}]"),
                    "a field id (fld…)",
                )
            })
        })
        .collect::<Result<Vec<_>>>()?;
        let include_previous_cells = match options.get("includes") {
            None | Some(Value::Null) => false,
            Some(v) => {
                let includes = object(Some(v), "options.includes")?;
                only_keys(includes, "options.includes", &["includePreviousCellValues"])?;
                flag(
                    includes.get("includePreviousCellValues"),
                    "options.includes.includePreviousCellValues",
                )?
            }
        };
        Ok(Self {
            table_data: data_types.iter().any(|d| d == "tableData"),
            table_fields: data_types.iter().any(|d| d == "tableFields"),
            table_metadata: data_types.iter().any(|d| d == "tableMetadata"),
            table,
            change_types,
            watch_fields,
            include_previous_cells,
        })
    }

    /// The change type of an event kind (`None`: views, never selected).
    fn change_type(kind: ChangeKind) -> Option<&'static str> {
        match kind {
            K::RecordCreated | K::RecordRestored | K::TableCreated | K::FieldCreated => Some("add"),
            K::RecordUpdated | K::TableUpdated | K::FieldUpdated => Some("update"),
            K::RecordDeleted | K::TableDeleted | K::FieldDeleted => Some("remove"),
            K::ViewCreated | K::ViewUpdated | K::ViewDeleted => None,
        }
    }

    /// Whether the specification selects `event`.
    pub fn wants(&self, event: &ChangeEvent) -> bool {
        let data_type = match event.kind {
            K::RecordCreated | K::RecordUpdated | K::RecordDeleted | K::RecordRestored => {
                self.table_data
            }
            K::FieldCreated | K::FieldUpdated | K::FieldDeleted => self.table_fields,
            K::TableCreated | K::TableUpdated | K::TableDeleted => self.table_metadata,
            K::ViewCreated | K::ViewUpdated | K::ViewDeleted => false,
        };
        let Some(change) = Self::change_type(event.kind) else {
            return false;
        };
        let watched = event.kind != K::RecordUpdated
            || self.watch_fields.is_empty()
            || event
                .changed_fields
                .as_ref()
                .is_some_and(|c| c.iter().any(|f| self.watch_fields.contains(f)));
        data_type
            && (self.change_types.is_empty() || self.change_types.iter().any(|c| c == change))
            && (self.table.is_none() || self.table == event.table_id)
            && watched
    }

    /// The native kinds this specification can select (for the stored
    /// webhook's coarse filter).
    fn kinds(&self) -> Vec<ChangeKind> {
        ChangeKind::ALL
            .into_iter()
            .filter(|k| {
                let probe = ChangeEvent {
                    seq: 0,
                    at: Timestamp::default(),
                    actor: None,
                    kind: *k,
                    table_id: self.table,
                    record_id: None,
                    field_id: None,
                    view_id: None,
                    changed_fields: None,
                    before: None,
                    after: None,
                };
                *k == K::RecordUpdated && self.table_data || self.wants(&probe)
            })
            .collect()
    }
}

/// The spec of a stored Airtable webhook (validated when it was made).
pub fn airtable_spec(webhook: &Webhook) -> Option<AirtableSpec> {
    webhook
        .airtable
        .as_ref()
        .and_then(|h| AirtableSpec::parse(&h.specification).ok())
}

/// Whether an Airtable webhook's specification selects `event` (`false`
/// for native webhooks).
pub fn airtable_wants(webhook: &Webhook, event: &ChangeEvent) -> bool {
    airtable_spec(webhook).is_some_and(|s| s.wants(event))
}

/// A webhook as creation answers it, with its MAC secret (shown once).
#[derive(Debug, Clone)]
pub struct CreatedAirtableWebhook {
    /// The webhook.
    pub webhook: Webhook,
    /// The raw MAC secret (Airtable shows it base64-encoded).
    pub mac_secret: Vec<u8>,
}

/// An Airtable webhook as listing answers it.
#[derive(Debug, Clone)]
pub struct AirtableWebhookOut {
    /// The webhook.
    pub webhook: Webhook,
    /// The cursor the next payload will have.
    pub cursor_for_next_payload: i64,
    /// Whether pings are sent (a notification URL, enabled, not disabled
    /// after failures).
    pub notifications_enabled: bool,
    /// Whether it has not expired.
    pub hook_enabled: bool,
    /// When it expires.
    pub expires_at: Timestamp,
    /// Its specification as created.
    pub specification: Value,
    /// Its newest notification attempt, if any.
    pub last_notification: Option<Delivery>,
    /// When a notification last reached its URL (a 2xx answer), among its
    /// newest 100 attempts.
    pub last_success_at: Option<Timestamp>,
}

/// The newest attempts read to find a webhook's last successful
/// notification.
const NOTIFICATIONS_LOOKED_AT: usize = 100;

/// A page of an Airtable webhook's payloads: the selected events.
#[derive(Debug, Clone)]
pub struct AirtablePayloads {
    /// The selected events, payload `cursor` first.
    pub events: Vec<ChangeEvent>,
    /// The specification they were selected by.
    pub spec: AirtableSpec,
    /// The cursor of the next page.
    pub cursor: i64,
    /// Whether more payloads may follow now.
    pub might_have_more: bool,
}

/// Where a scan of the log stopped.
struct Scan {
    /// The selected events from the cursor asked for (at most the limit).
    events: Vec<ChangeEvent>,
    /// The mark the scan ended at.
    mark: PayloadMark,
    /// Whether it stopped at the limit rather than the log's end.
    stopped_at_limit: bool,
}

impl Pybase {
    /// The MAC secret of an Airtable webhook: 32 bytes, HMAC-SHA256 of
    /// its nonce under the webhook key (never stored).
    pub fn webhook_mac_secret(&self, webhook: &Webhook) -> Result<Vec<u8>> {
        let key = self.webhook_key()?;
        Ok(hmac_bytes(
            key.bytes(),
            format!("airtable mac {}", webhook.secret_nonce).as_bytes(),
        ))
    }

    /// Creates an Airtable webhook on `base` (admin and above, `admin`
    /// key scope): pings go to `notification_url` when given.
    pub async fn create_airtable_webhook(
        &self,
        principal: &Principal,
        base: BaseId,
        notification_url: Option<String>,
        specification: Value,
    ) -> Result<CreatedAirtableWebhook> {
        let scope = self
            .base_for(principal, base, Action::ManageWebhooks)
            .await?;
        let spec = AirtableSpec::parse(&specification)?;
        if let Some(table) = spec.table {
            match self.store.get_table(table).await {
                Ok(t) if t.base_id == scope.base().id => {}
                Ok(_) | Err(crate::StoreError::NotFound { .. }) => {
                    return Err(invalid(
                        "options.filters.recordChangeScope",
                        "a table id of this base",
                    ));
                }
                Err(e) => return Err(e.into()),
            }
        }
        // Watched fields are fields of this base (of the scope's table, when
        // it has one): an unknown or foreign id would make a webhook that
        // never fires.
        for (i, field) in spec.watch_fields.iter().enumerate() {
            let table = match self.store.get_field(*field).await {
                Ok(f) => Some(f.table_id),
                Err(crate::StoreError::NotFound { .. }) => None,
                Err(e) => return Err(e.into()),
            };
            let in_base = match table {
                Some(t) if spec.table.is_none_or(|scope| scope == t) => {
                    match self.store.get_table(t).await {
                        Ok(t) => t.base_id == scope.base().id,
                        Err(crate::StoreError::NotFound { .. }) => false,
                        Err(e) => return Err(e.into()),
                    }
                }
                _ => false,
            };
            if !in_base {
                return Err(invalid(
                    &format!("options.filters.watchDataInFieldIds[{i}]"),
                    if spec.table.is_some() {
                        "a field id of the recordChangeScope table"
                    } else {
                        "a field id of this base"
                    },
                ));
            }
        }
        let url = match notification_url {
            None => String::new(),
            Some(u) => self.check_webhook_url(&u).map_err(|e| match e {
                Error::Validation { fields, .. } => {
                    let why = fields.into_values().next().unwrap_or_default();
                    Error::invalid("notificationUrl", why)
                }
                other => other,
            })?,
        };
        let now = self.clock.now();
        let nonce: [u8; 32] = rand::random();
        let draft = Webhook {
            id: WebhookId::new(),
            base_id: scope.base().id,
            table_id: spec.table,
            enabled: !url.is_empty(),
            url,
            events: spec.kinds(),
            disabled_reason: None,
            created_by: principal.user_id(),
            created_at: now,
            updated_at: now,
            cursor: 0,
            attempt: 0,
            next_attempt_at: None,
            secret_nonce: nonce.iter().map(|b| format!("{b:02x}")).collect(),
            start_seq: 0,
            airtable: Some(AirtableHook {
                specification,
                expires_at: now + AIRTABLE_WEBHOOK_LIFETIME,
                mark: None,
            }),
        };
        let mac_secret = self.webhook_mac_secret(&draft)?;
        let webhook = self.store.create_webhook(&draft).await?;
        Ok(CreatedAirtableWebhook {
            webhook,
            mac_secret,
        })
    }

    /// An Airtable webhook of `base`, after checking the caller
    /// administers it; other webhooks are not found.
    async fn airtable_webhook_for(
        &self,
        principal: &Principal,
        base: BaseId,
        id: WebhookId,
    ) -> Result<(Webhook, AirtableHook, AirtableSpec)> {
        let scope = self
            .base_for(principal, base, Action::ManageWebhooks)
            .await?;
        let webhook = self
            .store
            .get_webhook(id)
            .await
            .map_err(|e| super::not_found_as(e, "webhook"))?;
        if webhook.base_id != scope.base().id {
            return Err(Error::not_found("webhook"));
        }
        let hook = webhook
            .airtable
            .clone()
            .ok_or_else(|| Error::not_found("webhook"))?;
        let spec = AirtableSpec::parse(&hook.specification)?;
        Ok((webhook, hook, spec))
    }

    /// Reads the log from the best mark below `cursor`, collecting up to
    /// `limit` selected events from payload `cursor` on (none when
    /// `limit` is 0: then it only counts to the end).
    async fn scan_payloads(
        &self,
        webhook: &Webhook,
        hook: &AirtableHook,
        spec: &AirtableSpec,
        cursor: i64,
        limit: usize,
    ) -> Result<Scan> {
        let start = PayloadMark {
            cursor: 1,
            seq: webhook.start_seq,
        };
        let mut mark = match hook.mark {
            Some(m) if m.cursor <= cursor && m.seq >= webhook.start_seq => m,
            _ => start,
        };
        let mut events = Vec::new();
        loop {
            let page = self
                .store
                .changes_since(webhook.base_id, mark.seq, SCAN_BATCH)
                .await?;
            let read = page.events.len();
            for event in page.events {
                if spec.wants(&event) {
                    if mark.cursor >= cursor {
                        if events.len() == limit {
                            return Ok(Scan {
                                events,
                                mark,
                                stopped_at_limit: true,
                            });
                        }
                        events.push(event.clone());
                    }
                    mark.cursor += 1;
                }
                mark.seq = event.seq;
            }
            if read < SCAN_BATCH || mark.seq >= page.last_seq {
                return Ok(Scan {
                    events,
                    mark,
                    stopped_at_limit: false,
                });
            }
        }
    }

    /// Saves a further mark and a new expiry (best effort for the mark:
    /// any mark is true). Only the webhook's Airtable state is written, so
    /// a concurrent `enableNotifications` is never undone.
    async fn touch_airtable_webhook(
        &self,
        webhook: &Webhook,
        mut hook: AirtableHook,
        mark: Option<PayloadMark>,
    ) -> Result<Timestamp> {
        let now = self.clock.now();
        hook.expires_at = now + AIRTABLE_WEBHOOK_LIFETIME;
        if let Some(m) = mark
            && hook.mark.is_none_or(|old| old.seq < m.seq)
        {
            hook.mark = Some(m);
        }
        let expires = hook.expires_at;
        self.store
            .save_airtable_hook(webhook.id, &hook, now)
            .await
            .map_err(|e| super::not_found_as(e, "webhook"))?;
        Ok(expires)
    }

    /// The Airtable webhooks of `base` (admin and above), oldest first.
    pub async fn list_airtable_webhooks(
        &self,
        principal: &Principal,
        base: BaseId,
    ) -> Result<Vec<AirtableWebhookOut>> {
        let scope = self
            .base_for(principal, base, Action::ManageWebhooks)
            .await?;
        let now = self.clock.now();
        let mut out = Vec::new();
        for webhook in self.store.list_webhooks(scope.base().id).await? {
            let Some(hook) = webhook.airtable.clone() else {
                continue;
            };
            let spec = AirtableSpec::parse(&hook.specification)?;
            let scan = self
                .scan_payloads(&webhook, &hook, &spec, i64::MAX, 0)
                .await?;
            let attempts = self
                .store
                .list_deliveries(webhook.id, None, NOTIFICATIONS_LOOKED_AT)
                .await?;
            let last_success_at = attempts.iter().find(|d| d.succeeded()).map(|d| d.at);
            out.push(AirtableWebhookOut {
                last_notification: attempts.into_iter().next(),
                last_success_at,
                cursor_for_next_payload: scan.mark.cursor,
                notifications_enabled: webhook.enabled && !webhook.url.is_empty(),
                hook_enabled: hook.expires_at > now,
                expires_at: hook.expires_at,
                specification: hook.specification,
                webhook,
            });
        }
        Ok(out)
    }

    /// Deletes an Airtable webhook of `base` (admin and above).
    pub async fn delete_airtable_webhook(
        &self,
        principal: &Principal,
        base: BaseId,
        id: WebhookId,
    ) -> Result<()> {
        let (webhook, _, _) = self.airtable_webhook_for(principal, base, id).await?;
        self.store
            .delete_webhook(webhook.id)
            .await
            .map_err(|e| super::not_found_as(e, "webhook"))
    }

    /// Extends an Airtable webhook's life by [`AIRTABLE_WEBHOOK_LIFETIME`]
    /// from now (admin and above); answers the new expiry.
    pub async fn refresh_airtable_webhook(
        &self,
        principal: &Principal,
        base: BaseId,
        id: WebhookId,
    ) -> Result<Timestamp> {
        let (webhook, hook, _) = self.airtable_webhook_for(principal, base, id).await?;
        self.touch_airtable_webhook(&webhook, hook, None).await
    }

    /// Turns an Airtable webhook's pings on or off (admin and above); on
    /// needs a notification URL, and clears a disabling after failures.
    pub async fn enable_airtable_notifications(
        &self,
        principal: &Principal,
        base: BaseId,
        id: WebhookId,
        enable: bool,
    ) -> Result<()> {
        let (webhook, _, _) = self.airtable_webhook_for(principal, base, id).await?;
        if enable && webhook.url.is_empty() {
            return Err(Error::invalid(
                "enable",
                "false: this webhook has no notificationUrl",
            ));
        }
        if enable {
            self.check_webhook_can_deliver(&webhook).await?;
        }
        // Only the switch (and, turning on, the disabling it clears): a
        // concurrent payload listing's expiry and mark stay.
        self.store
            .set_webhook_enabled(webhook.id, enable, self.clock.now())
            .await
            .map_err(|e| super::not_found_as(e, "webhook"))
    }

    /// A page of an Airtable webhook's payloads from `cursor` (1 is the
    /// first; admin and above), at most `limit` (1 to
    /// [`MAX_PAYLOADS_PAGE`], default the most). Listing extends the
    /// webhook's life. `Gone` when the log was pruned past the events
    /// needed.
    pub async fn airtable_webhook_payloads(
        &self,
        principal: &Principal,
        base: BaseId,
        id: WebhookId,
        cursor: Option<i64>,
        limit: Option<usize>,
    ) -> Result<AirtablePayloads> {
        let cursor = cursor.unwrap_or(1);
        if cursor < 1 {
            return Err(Error::invalid(
                "cursor",
                format!("a whole number of 1 or more, got {cursor}"),
            ));
        }
        let limit = limit.unwrap_or(MAX_PAYLOADS_PAGE);
        if !(1..=MAX_PAYLOADS_PAGE).contains(&limit) {
            return Err(Error::invalid(
                "limit",
                format!("a number from 1 to {MAX_PAYLOADS_PAGE}, got {limit}"),
            ));
        }
        let (webhook, hook, spec) = self.airtable_webhook_for(principal, base, id).await?;
        let scan = self
            .scan_payloads(&webhook, &hook, &spec, cursor, limit)
            .await?;
        let next = scan.mark.cursor.max(cursor);
        self.touch_airtable_webhook(&webhook, hook, Some(scan.mark))
            .await?;
        Ok(AirtablePayloads {
            events: scan.events,
            spec,
            cursor: next,
            might_have_more: scan.stopped_at_limit,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(kind: ChangeKind, table: &TableId, changed: Option<Vec<FieldId>>) -> ChangeEvent {
        ChangeEvent {
            seq: 1,
            at: Timestamp::default(),
            actor: None,
            kind,
            table_id: Some(*table),
            record_id: None,
            field_id: None,
            view_id: None,
            changed_fields: changed,
            before: None,
            after: None,
        }
    }

    #[test]
    fn specifications_select_by_data_type_table_change_type_and_watched_fields() {
        let (t1, t2) = (TableId::new(), TableId::new());
        let (f1, f2) = (FieldId::new(), FieldId::new());
        let data =
            AirtableSpec::parse(&json!({"options": {"filters": {"dataTypes": ["tableData"]}}}))
                .unwrap();
        assert!(data.wants(&event(K::RecordCreated, &t1, None)));
        assert!(data.wants(&event(K::RecordDeleted, &t2, None)));
        assert!(!data.wants(&event(K::FieldCreated, &t1, None)));
        assert!(!data.wants(&event(K::ViewUpdated, &t1, None)));
        let scoped = AirtableSpec::parse(&json!({"options": {"filters": {
            "dataTypes": ["tableData", "tableFields"], "recordChangeScope": t1.as_str(),
            "changeTypes": ["update"], "watchDataInFieldIds": [f1.as_str()]}}}))
        .unwrap();
        assert!(scoped.wants(&event(K::RecordUpdated, &t1, Some(vec![f2, f1]))));
        assert!(!scoped.wants(&event(K::RecordUpdated, &t1, Some(vec![f2]))));
        assert!(!scoped.wants(&event(K::RecordUpdated, &t2, Some(vec![f1]))));
        assert!(!scoped.wants(&event(K::RecordCreated, &t1, None)));
        assert!(scoped.wants(&event(K::FieldUpdated, &t1, None)));
        assert!(scoped.kinds().contains(&K::RecordUpdated));
        assert!(!scoped.kinds().contains(&K::RecordCreated));
    }

    #[test]
    fn bad_specifications_name_what_was_expected() {
        for (spec, field) in [
            (json!([]), "specification"),
            (json!({"options": {}}), "specification.options.filters"),
            (
                json!({"options": {"filters": {"dataTypes": []}}}),
                "specification.options.filters.dataTypes",
            ),
            (
                json!({"options": {"filters": {"dataTypes": ["rows"]}}}),
                "specification.options.filters.dataTypes[0]",
            ),
            (
                json!({"options": {"filters": {"dataTypes": ["tableData"], "fromSources": ["client"]}}}),
                "specification.options.filters.fromSources",
            ),
            (
                json!({"options": {"filters": {"dataTypes": ["tableData"], "recordChangeScope": 3}}}),
                "specification.options.filters.recordChangeScope",
            ),
            (
                json!({"options": {"filters": {"dataTypes": ["tableData"]},
                    "includes": {"includePreviousCellValues": "yes"}}}),
                "specification.options.includes.includePreviousCellValues",
            ),
        ] {
            match AirtableSpec::parse(&spec) {
                Err(Error::Validation { fields, .. }) => {
                    assert!(fields.contains_key(field), "{spec}: {fields:?}");
                }
                other => panic!("{spec}: {other:?}"),
            }
        }
    }
}
