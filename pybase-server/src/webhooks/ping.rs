//! Pings of Airtable-style webhooks (`/v0`, AIRTABLE.md §11): one POST to
//! the notification URL says "there are new payloads", whatever their
//! number; the receiver then lists them. The body is
//! `{"base":{"id"},"webhook":{"id"},"timestamp"}`, signed with
//! `X-Airtable-Content-MAC: hmac-sha256=<hex HMAC-SHA256 of the body under
//! the webhook's MAC secret>`, as pyairtable's
//! `WebhookNotification.from_request` checks. Only 200 and 204 count as
//! received; anything else is retried with the worker's backoff, and the
//! webhook's notifications are turned off after `WEBHOOK_MAX_ATTEMPTS`.
//!
//! The webhook's cursor is the seq up to which a ping covered the log: a
//! ping is due when a selected event follows it, and a received ping moves
//! it to the base's newest seq at that time.

use std::time::Instant;

use pybase_core::Pybase;
use pybase_core::facade::{airtable_spec, forbidden_address, hmac_hex};
use pybase_core::store::{Delivery, Progress, Webhook};
use serde_json::json;

use super::{BATCH, WebhookConfig, failure, literal_ip, retry};

/// One ping: the status, or what went wrong.
async fn post(
    pb: &Pybase,
    client: &reqwest::Client,
    config: &WebhookConfig,
    webhook: &Webhook,
) -> (Option<u16>, Option<String>) {
    if !config.allow_private && literal_ip(&webhook.url).is_some_and(forbidden_address) {
        return (
            None,
            Some("the URL's address is private, loopback or link-local".into()),
        );
    }
    let secret = match pb.webhook_mac_secret(webhook) {
        Ok(s) => s,
        Err(e) => return (None, Some(format!("cannot sign: {e}"))),
    };
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let body = json!({
        "base": {"id": webhook.base_id},
        "webhook": {"id": webhook.id},
        "timestamp": now,
    })
    .to_string()
    .into_bytes();
    let mac = format!("hmac-sha256={}", hmac_hex(&secret, &body));
    let sent = client
        .post(&webhook.url)
        .header("content-type", "application/json")
        .header("x-airtable-content-mac", mac)
        .body(body)
        .send()
        .await;
    match sent {
        Ok(r) if matches!(r.status().as_u16(), 200 | 204) => (Some(r.status().as_u16()), None),
        Ok(r) => {
            let status = r.status();
            let why = if status.is_redirection() {
                format!("answered {status} (redirects are not followed)")
            } else {
                format!("answered {status} (only 200 and 204 count as received)")
            };
            (Some(status.as_u16()), Some(why))
        }
        Err(e) => (None, Some(failure(&e))),
    }
}

/// Pings a claimed Airtable webhook if a selected event follows its
/// cursor (once, however many), saving progress; moves its cursor over
/// events it does not select, and over everything once it has expired.
pub(super) async fn deliver(
    pb: &Pybase,
    client: &reqwest::Client,
    config: &WebhookConfig,
    owner: &str,
    webhook: Webhook,
) {
    let save = |progress: Progress| async move {
        match pb.save_webhook_progress(owner, webhook.id, &progress).await {
            Ok(held) => held,
            Err(e) => {
                tracing::warn!(webhook = %webhook.id, error = %e, "webhooks: could not save progress");
                false
            }
        }
    };
    let idle = |cursor: i64, release: bool| Progress {
        cursor,
        attempt: webhook.attempt,
        next_attempt_at: None,
        disable: None,
        delivery: None,
        release,
    };
    let spec = airtable_spec(&webhook);
    let expired = webhook
        .airtable
        .as_ref()
        .is_none_or(|h| h.expires_at <= chrono::Utc::now());
    let mut cursor = webhook.cursor;
    loop {
        let page = match pb.webhook_events(&webhook, cursor, BATCH).await {
            Ok(p) => p,
            Err(pybase_core::Error::Gone(why)) => {
                let mut p = idle(cursor, true);
                p.disable = Some(format!("its next events were pruned before a ping: {why}"));
                save(p).await;
                return;
            }
            Err(e) => {
                tracing::warn!(webhook = %webhook.id, error = %e, "webhooks: could not read the log");
                return;
            }
        };
        let Some(last) = page.events.last().map(|e| e.seq) else {
            save(idle(cursor, true)).await;
            return;
        };
        let due = !expired
            && spec
                .as_ref()
                .is_some_and(|s| page.events.iter().any(|e| s.wants(e)));
        if !due {
            cursor = last;
            if !save(idle(cursor, false)).await {
                return;
            }
            continue;
        }
        let t0 = Instant::now();
        let (status, error) = post(pb, client, config, &webhook).await;
        let duration_ms = i64::try_from(t0.elapsed().as_millis()).unwrap_or(i64::MAX);
        let attempt = webhook.attempt + 1;
        let at = chrono::Utc::now();
        let covered = page.last_seq.max(last);
        let progress = if error.is_none() {
            Progress {
                cursor: covered,
                attempt: 0,
                next_attempt_at: None,
                disable: None,
                delivery: Some(Delivery {
                    id: 0,
                    event_seq: covered,
                    attempt,
                    at,
                    status_code: status,
                    error: None,
                    duration_ms,
                    next_retry_at: None,
                }),
                release: true,
            }
        } else {
            let (next, disable) = retry(config, attempt, at, "a ping", error.as_deref());
            Progress {
                cursor,
                attempt,
                next_attempt_at: next,
                disable,
                delivery: Some(Delivery {
                    id: 0,
                    event_seq: covered,
                    attempt,
                    at,
                    status_code: status,
                    error,
                    duration_ms,
                    next_retry_at: next,
                }),
                release: true,
            }
        };
        save(progress).await;
        return;
    }
}
