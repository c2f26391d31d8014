//! Webhooks through the permission rules (admin and above, `admin` key
//! scope): creation with a secret shown once, listing, changes, deletion
//! and the deliveries list; the signing secret and the address rules the
//! delivering side uses.
//!
//! Secrets are not stored: each webhook stores a random nonce, and its
//! secret is `whsec_` + hex HMAC-SHA256(K, nonce), K being derived from the
//! key given to [`Pybase::with_webhook_key`] (the server's `SECRET_KEY`).
//! The database alone therefore reveals no secret, and the server can
//! always sign; changing `SECRET_KEY` changes every webhook's secret.

use std::net::IpAddr;
use std::sync::Arc;

use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::Value;
use sha2::Sha256;

use super::Pybase;
use crate::error::{Error, Result};
use crate::ids::{BaseId, TableId, WebhookId};
use crate::principal::Principal;
use crate::role::Action;
use crate::store::{ChangeKind, Delivery, Webhook};

/// Longest webhook URL accepted.
pub const MAX_URL_CHARS: usize = 2048;

/// `POST /bases/{id}/webhooks` body.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewWebhook {
    /// Where events are POSTed (`http` or `https`).
    pub url: String,
    /// Only these event kinds (all when absent or empty).
    #[serde(default)]
    pub events: Option<Vec<String>>,
    /// Only events of this table of the base.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub table_id: Option<Value>,
}

/// `PATCH /webhooks/{id}` body.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct WebhookPatch {
    /// New URL.
    #[serde(default)]
    pub url: Option<String>,
    /// New event kinds (empty: all).
    #[serde(default)]
    pub events: Option<Vec<String>>,
    /// Turn delivery on or off (turning it on clears the failure count).
    #[serde(default)]
    pub enabled: Option<bool>,
}

/// A webhook with its secret, as creation answers it (the only time the
/// secret is shown).
#[derive(Debug, Clone)]
pub struct CreatedWebhook {
    /// The webhook.
    pub webhook: Webhook,
    /// Its signing secret.
    pub secret: String,
}

/// Whether an address is one a webhook may not target unless private
/// targets are allowed: loopback, private, link-local, unique-local,
/// site-local, discard-only, benchmarking, IETF protocol assignment,
/// 6to4 relay, unspecified, broadcast, multicast, shared (CGNAT) and
/// documentation ranges, and IPv4-mapped forms of them.
pub fn forbidden_address(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || o[0] == 0
                || (o[0] == 100 && (o[1] & 0xc0) == 64)
                || (o[0] == 198 && (o[1] & 0xfe) == 18)
                // IETF protocol assignments (`192.0.0.0/24`) and the
                // deprecated 6to4 relay anycast (`192.88.99.0/24`).
                || (o[0] == 192 && o[1] == 0 && o[2] == 0)
                || (o[0] == 192 && o[1] == 88 && o[2] == 99)
                || o[0] >= 240
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return forbidden_address(IpAddr::V4(v4));
            }
            let s = v6.segments();
            let embedded = |hi: u16, lo: u16| {
                let [a, b] = hi.to_be_bytes();
                let [c, d] = lo.to_be_bytes();
                forbidden_address(IpAddr::V4(std::net::Ipv4Addr::new(a, b, c, d)))
            };
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                // Site-local (`fec0::/10`, deprecated but routed by some
                // networks), discard-only (`100::/64`) and benchmarking
                // (`2001:2::/48`).
                || (s[0] & 0xffc0) == 0xfec0
                || s[..4] == [0x0100, 0, 0, 0]
                || (s[0] == 0x2001 && s[1] == 0x0002 && s[2] == 0)
                || (s[0] == 0x2001 && s[1] == 0x0db8)
                // IPv4-compatible (`::a.b.c.d`) and NAT64 (`64:ff9b::/96`)
                // addresses carry an IPv4 address in their last 32 bits,
                // 6to4 (`2002::/16`) in bits 16 to 48: judged by it.
                || (s[..6].iter().all(|x| *x == 0) && embedded(s[6], s[7]))
                // IPv4-translated (`::ffff:0:a.b.c.d`, RFC 2765).
                || (s[..6] == [0, 0, 0, 0, 0xffff, 0] && embedded(s[6], s[7]))
                || (s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] && embedded(s[6], s[7]))
                || (s[0] == 0x2002 && embedded(s[1], s[2]))
                // Local-use NAT64 (`64:ff9b:1::/48`) and Teredo
                // (`2001::/32`) reach addresses that cannot be judged here.
                || (s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1)
                || (s[0] == 0x2001 && s[1] == 0)
        }
    }
}

/// The HMAC-SHA256 of `message` under `key` (32 bytes).
pub(crate) fn hmac_bytes(key: &[u8], message: &[u8]) -> Vec<u8> {
    // HMAC takes keys of any length.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

/// The hex HMAC-SHA256 of `message` under `key`.
pub fn hmac_hex(key: &[u8], message: &[u8]) -> String {
    hmac_bytes(key, message)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The `PyBase-Signature` of a delivery: `v1=` + hex
/// HMAC-SHA256(secret, "`<timestamp>.<body>`").
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut message = format!("{timestamp}.").into_bytes();
    message.extend_from_slice(body);
    format!("v1={}", hmac_hex(secret.as_bytes(), &message))
}

/// The key webhook secrets are derived from, itself derived from the
/// server's secret.
#[derive(Clone)]
pub(crate) struct WebhookKey(Arc<[u8]>);

impl std::fmt::Debug for WebhookKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookKey(..)")
    }
}

impl WebhookKey {
    /// The key's bytes.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.0
    }

    pub(crate) fn derive(secret: &[u8]) -> Self {
        let key = hmac_hex(secret, b"pybase webhook secrets v1");
        Self(Arc::from(key.into_bytes()))
    }
}

/// The kinds a webhook takes, from their names (deduplicated). A webhook
/// of one table (`table`) cannot take `table.created`: that table exists
/// already, so the kind could never match; refusing it names the entry
/// instead of leaving a filter that is silent for good.
fn kinds(events: Option<Vec<String>>, table: Option<TableId>) -> Result<Vec<ChangeKind>> {
    let mut out: Vec<ChangeKind> = Vec::new();
    for (i, name) in events.unwrap_or_default().iter().enumerate() {
        let kind = ChangeKind::parse(name).ok_or_else(|| {
            Error::invalid(
                format!("events[{i}]"),
                format!(
                    "one of {}, got {name:?}",
                    ChangeKind::ALL.map(ChangeKind::as_str).join(", ")
                ),
            )
        })?;
        if table.is_some() && kind == ChangeKind::TableCreated {
            return Err(Error::invalid(
                format!("events[{i}]"),
                "a kind the webhook's table can still have (with table_id, table.created cannot occur: the table exists)",
            ));
        }
        if !out.contains(&kind) {
            out.push(kind);
        }
    }
    Ok(out)
}

impl Pybase {
    /// Derives webhook secrets from `secret` (the server's `SECRET_KEY`):
    /// without it, webhooks cannot be created. Records cursors are sealed
    /// with a key derived from it too (`sealed_cursors.rs`).
    pub fn with_webhook_key(mut self, secret: &[u8]) -> Self {
        let key = WebhookKey::derive(secret);
        self.cursor_key = Some(super::sealed_cursors::CursorKey::derive(key.bytes()));
        self.webhook_key = Some(key);
        self
    }

    /// Lets webhooks target private, loopback and link-local addresses
    /// (`WEBHOOK_ALLOW_PRIVATE`; tests).
    pub fn with_webhooks_to_private_addresses(mut self, allow: bool) -> Self {
        self.webhook_allow_private = allow;
        self
    }

    /// Whether webhooks may target private addresses.
    pub fn webhooks_allow_private(&self) -> bool {
        self.webhook_allow_private
    }

    /// The signing secret of `webhook`.
    pub fn webhook_secret(&self, webhook: &Webhook) -> Result<String> {
        let key = self.webhook_key()?;
        Ok(format!(
            "whsec_{}",
            hmac_hex(&key.0, webhook.secret_nonce.as_bytes())
        ))
    }

    /// The key webhook secrets are derived from.
    pub(super) fn webhook_key(&self) -> Result<&WebhookKey> {
        self.webhook_key
            .as_ref()
            .ok_or_else(|| Error::Internal("webhooks need a key: Pybase::with_webhook_key".into()))
    }

    /// Checks a webhook URL: `http(s)`, a host, at most [`MAX_URL_CHARS`];
    /// a literal address in a forbidden range unless allowed.
    pub(super) fn check_webhook_url(&self, url: &str) -> Result<String> {
        let bad = |why: &str| Error::invalid("url", why.to_owned());
        if url.chars().count() > MAX_URL_CHARS {
            return Err(bad("a URL of at most 2048 characters"));
        }
        let parsed = url::Url::parse(url).map_err(|e| bad(&format!("an http(s) URL ({e})")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(bad("an http or https URL"));
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            // They would be shown to every admin and never sent.
            return Err(bad("a URL without user name or password"));
        }
        let ip = match parsed.host() {
            None => return Err(bad("a URL with a host")),
            Some(url::Host::Ipv4(v4)) => Some(IpAddr::V4(v4)),
            Some(url::Host::Ipv6(v6)) => Some(IpAddr::V6(v6)),
            Some(url::Host::Domain(_)) => None,
        };
        if let Some(ip) = ip
            && !self.webhook_allow_private
            && forbidden_address(ip)
        {
            return Err(bad(
                "a public address (private, loopback and link-local addresses are refused)",
            ));
        }
        Ok(parsed.to_string())
    }

    /// Creates a webhook on `base` (admin and above); answers it with its
    /// secret, shown only here.
    pub async fn create_webhook(
        &self,
        principal: &Principal,
        base: BaseId,
        input: NewWebhook,
    ) -> Result<CreatedWebhook> {
        let scope = self
            .base_for(principal, base, Action::ManageWebhooks)
            .await?;
        let url = self.check_webhook_url(&input.url)?;
        let table_id = match input.table_id {
            None | Some(Value::Null) => None,
            Some(v) => {
                let table = v
                    .as_str()
                    .and_then(|s| s.parse::<TableId>().ok())
                    .ok_or_else(|| Error::invalid("table_id", "a table id of this base"))?;
                match self.store.get_table(table).await {
                    Ok(t) if t.base_id == scope.base().id => Some(table),
                    Ok(_) | Err(crate::StoreError::NotFound { .. }) => {
                        return Err(Error::invalid("table_id", "a table id of this base"));
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        };
        let events = kinds(input.events, table_id)?;
        let now = self.clock.now();
        let nonce: [u8; 32] = rand::random();
        let draft = Webhook {
            id: WebhookId::new(),
            base_id: scope.base().id,
            table_id,
            url,
            events,
            enabled: true,
            disabled_reason: None,
            created_by: principal.user_id(),
            created_at: now,
            updated_at: now,
            cursor: 0,
            attempt: 0,
            next_attempt_at: None,
            secret_nonce: nonce.iter().map(|b| format!("{b:02x}")).collect(),
            start_seq: 0,
            airtable: None,
        };
        // The secret is checked to be derivable before anything is saved.
        let secret = self.webhook_secret(&draft)?;
        let webhook = self.store.create_webhook(&draft).await?;
        Ok(CreatedWebhook { webhook, secret })
    }

    /// The webhooks of `base` (admin and above).
    pub async fn list_webhooks(&self, principal: &Principal, base: BaseId) -> Result<Vec<Webhook>> {
        let scope = self
            .base_for(principal, base, Action::ManageWebhooks)
            .await?;
        Ok(self.store.list_webhooks(scope.base().id).await?)
    }

    /// A webhook, after checking the caller administers its base.
    async fn webhook_for(&self, principal: &Principal, id: WebhookId) -> Result<Webhook> {
        let webhook = self
            .store
            .get_webhook(id)
            .await
            .map_err(|e| super::not_found_as(e, "webhook"))?;
        match self
            .base_for(principal, webhook.base_id, Action::ManageWebhooks)
            .await
        {
            Ok(_) => Ok(webhook),
            Err(Error::NotFound { .. }) => Err(Error::not_found("webhook")),
            Err(e) => Err(e),
        }
    }

    /// A webhook (admin and above).
    pub async fn get_webhook(&self, principal: &Principal, id: WebhookId) -> Result<Webhook> {
        self.webhook_for(principal, id).await
    }

    /// Changes a webhook's URL, kinds or whether it delivers (admin and
    /// above). Enabling clears the failure count and the reason.
    pub async fn update_webhook(
        &self,
        principal: &Principal,
        id: WebhookId,
        patch: WebhookPatch,
    ) -> Result<Webhook> {
        let mut webhook = self.webhook_for(principal, id).await?;
        if let Some(url) = patch.url {
            webhook.url = self.check_webhook_url(&url)?;
        }
        if patch.events.is_some() {
            webhook.events = kinds(patch.events, webhook.table_id)?;
        }
        if let Some(enabled) = patch.enabled {
            if enabled {
                self.check_webhook_can_deliver(&webhook).await?;
                webhook.disabled_reason = None;
            }
            webhook.enabled = enabled;
        }
        webhook.updated_at = self.clock.now();
        self.store
            .update_webhook(&webhook)
            .await
            .map_err(|e| super::not_found_as(e, "webhook"))?;
        Ok(self.store.get_webhook(id).await?)
    }

    /// Why `webhook` may not deliver: its creator no longer holds a role
    /// that manages webhooks (admin and above) in its base's workspace
    /// (they left, were removed or demoted, or their account was deleted);
    /// `None` while they do. A webhook acts with its creator's access, so
    /// it never outlives it: the delivering program checks this before
    /// each round and disables the webhook with the reason, and enabling
    /// it again is refused until the creator has the role back.
    pub async fn webhook_creator_lost_access(&self, webhook: &Webhook) -> Result<Option<String>> {
        let base = match self.store.get_base(webhook.base_id).await {
            Ok(b) => b,
            Err(crate::StoreError::NotFound { .. }) => {
                return Ok(Some("its base was deleted".into()));
            }
            Err(e) => return Err(e.into()),
        };
        let role = self
            .store
            .member_role(base.workspace_id, webhook.created_by)
            .await?;
        if role.is_some_and(|r| r >= Action::ManageWebhooks.min_role()) {
            return Ok(None);
        }
        Ok(Some(format!(
            "its creator ({}) no longer administers the workspace, and a webhook \
             acts with its creator's access: an admin may create a new one",
            webhook.created_by
        )))
    }

    /// Why `webhook` has nothing more to deliver, ever: it takes only the
    /// events of a table that has been deleted. `None` while its table
    /// exists (or it takes every table's events). The delivering program
    /// asks once it has read the log to its end, then reads it once more,
    /// so the deletion's own `table.deleted` event is delivered first.
    pub async fn webhook_table_gone(&self, webhook: &Webhook) -> Result<Option<String>> {
        let Some(table) = webhook.table_id else {
            return Ok(None);
        };
        match self.store.get_table(table).await {
            Ok(_) => Ok(None),
            Err(crate::StoreError::NotFound { .. }) => Ok(Some(format!(
                "its table ({table}) was deleted, so no event can match it any more"
            ))),
            Err(e) => Err(e.into()),
        }
    }

    /// Refuses to enable `webhook` while it could deliver nothing: its
    /// creator lacks the role ([`Pybase::webhook_creator_lost_access`]), or
    /// it was disabled because its table is gone, with every event up to
    /// the deletion delivered ([`Pybase::webhook_table_gone`]; for good).
    /// 409 on `enabled`. A webhook of a deleted table disabled before it
    /// was done (by hand, or after failed attempts) may be enabled: it
    /// delivers what is left, then stops again.
    pub(super) async fn check_webhook_can_deliver(&self, webhook: &Webhook) -> Result<()> {
        let why = match self.webhook_creator_lost_access(webhook).await? {
            Some(why) => Some(why),
            None => self
                .webhook_table_gone(webhook)
                .await?
                .filter(|why| webhook.disabled_reason.as_deref() == Some(why.as_str())),
        };
        match why {
            None => Ok(()),
            Some(why) => Err(Error::Conflict {
                field: "enabled".into(),
                message: format!("this webhook cannot be enabled: {why}"),
            }),
        }
    }

    /// Deletes a webhook and its deliveries (admin and above).
    pub async fn delete_webhook(&self, principal: &Principal, id: WebhookId) -> Result<()> {
        let webhook = self.webhook_for(principal, id).await?;
        self.store
            .delete_webhook(webhook.id)
            .await
            .map_err(|e| super::not_found_as(e, "webhook"))
    }

    /// A webhook's delivery attempts, newest first (admin and above);
    /// `before` is a previous page's last id.
    pub async fn webhook_deliveries(
        &self,
        principal: &Principal,
        id: WebhookId,
        before: Option<i64>,
        page: Option<usize>,
    ) -> Result<Vec<Delivery>> {
        let size = page.unwrap_or(100);
        if !(1..=1000).contains(&size) {
            return Err(Error::invalid(
                "page_size",
                format!("a number from 1 to 1000, got {size}"),
            ));
        }
        if let Some(b) = before.filter(|b| *b < 0) {
            return Err(Error::invalid(
                "cursor",
                format!("a delivery id of 0 or more, got {b}"),
            ));
        }
        let webhook = self.webhook_for(principal, id).await?;
        Ok(self.store.list_deliveries(webhook.id, before, size).await?)
    }

    /// Takes the lease of up to `limit` webhooks due for delivery (for the
    /// delivering program: no principal applies; see
    /// [`crate::store::WebhooksStore::claim_webhooks`]).
    pub async fn claim_webhooks(
        &self,
        owner: &str,
        lease: chrono::TimeDelta,
        limit: usize,
    ) -> Result<Vec<Webhook>> {
        let now = self.clock.now();
        Ok(self
            .store
            .claim_webhooks(owner, now, now + lease, limit)
            .await?)
    }

    /// Saves a webhook's delivery progress while `owner` holds its lease;
    /// `false` when the lease was lost (for the delivering program).
    pub async fn save_webhook_progress(
        &self,
        owner: &str,
        id: WebhookId,
        progress: &crate::store::Progress,
    ) -> Result<bool> {
        Ok(self
            .store
            .save_progress(owner, id, progress, self.clock.now())
            .await?)
    }

    /// Gives back every webhook lease `owner` holds (for the delivering
    /// program, as it stops: see
    /// [`crate::store::WebhooksStore::release_webhooks`]).
    pub async fn release_webhooks(&self, owner: &str) -> Result<()> {
        Ok(self.store.release_webhooks(owner).await?)
    }

    /// Events of a webhook's base after `after` (for the delivering
    /// program; `Gone` when they were pruned).
    pub async fn webhook_events(
        &self,
        webhook: &Webhook,
        after: i64,
        limit: usize,
    ) -> Result<crate::store::ChangesPage> {
        Ok(self
            .store
            .changes_since(webhook.base_id, after, limit)
            .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_special_addresses_are_forbidden() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::",
            "::127.0.0.1",
            "::10.0.0.1",
            "64:ff9b::7f00:1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b:1::1",
            "2002:7f00:1::",
            "2002:c0a8:101::1",
            "2001:0:4136:e378::1",
            "fec0::1",
            "feff::1",
            "100::1",
            "::ffff:0:127.0.0.1",
            "::ffff:0:10.1.2.3",
            "2001:2::1",
            "192.0.0.1",
            "192.0.0.170",
            "192.88.99.1",
            "::ffff:192.88.99.1",
        ] {
            assert!(forbidden_address(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "2606:4700:4700::1111",
            "64:ff9b::808:808",
            "2002:808:808::1",
            "100:0:0:1::1",
            "2001:3::1",
            "192.0.1.1",
            "192.88.98.1",
        ] {
            assert!(!forbidden_address(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn signatures_are_hmac_sha256_of_timestamp_dot_body() {
        // RFC 4231 test case 2: key "Jefe".
        assert_eq!(
            hmac_hex(b"Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let s = signature("k", 10, b"{}");
        assert_eq!(s, format!("v1={}", hmac_hex(b"k", b"10.{}")));
    }
}
