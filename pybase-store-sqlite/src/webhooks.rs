//! [`WebhooksStore`]: webhooks and their deliveries.

use async_trait::async_trait;
use pybase_core::StoreResult;
use pybase_core::ids::{BaseId, WebhookId};
use pybase_core::model::Timestamp;
use pybase_core::store::{AirtableHook, ChangeKind, Delivery, Progress, Webhook, WebhooksStore};
use rusqlite::types::Type;
use rusqlite::{OptionalExtension, Row, params};

use crate::SqliteStore;
use crate::error::Error;
use crate::rows::{fmt_opt_time, fmt_time, id, opt_id, opt_time, time};

const COLUMNS: &str = "id, base_id, table_id, url, events, enabled, disabled_reason, created_by, \
     created_at, updated_at, cursor, attempt, next_attempt_at, secret_nonce, start_seq, airtable";

fn events_json(events: &[ChangeKind]) -> String {
    serde_json::Value::Array(events.iter().map(|k| k.as_str().into()).collect()).to_string()
}

fn airtable_json(hook: Option<&AirtableHook>) -> Option<String> {
    hook.map(|h| serde_json::to_value(h).unwrap_or_default().to_string())
}

fn airtable_from(text: Option<String>) -> Result<Option<AirtableHook>, serde_json::Error> {
    text.map(|t| serde_json::from_str(&t)).transpose()
}

fn webhook(row: &Row<'_>) -> rusqlite::Result<Webhook> {
    let events: String = row.get(4)?;
    let names: Vec<String> = serde_json::from_str(&events)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(4, Type::Text, Box::new(e)))?;
    let events = names
        .iter()
        .map(|n| {
            ChangeKind::parse(n).ok_or_else(|| {
                rusqlite::Error::FromSqlConversionFailure(
                    4,
                    Type::Text,
                    Box::new(std::io::Error::other(format!("unknown change kind {n}"))),
                )
            })
        })
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(Webhook {
        id: id(row, 0)?,
        base_id: id(row, 1)?,
        table_id: opt_id(row, 2)?,
        url: row.get(3)?,
        events,
        enabled: row.get(5)?,
        disabled_reason: row.get(6)?,
        created_by: id(row, 7)?,
        created_at: time(row, 8)?,
        updated_at: time(row, 9)?,
        cursor: row.get(10)?,
        attempt: row.get(11)?,
        next_attempt_at: opt_time(row, 12)?,
        secret_nonce: row.get(13)?,
        start_seq: row.get(14)?,
        airtable: airtable_from(row.get(15)?)
            .map_err(|e| rusqlite::Error::FromSqlConversionFailure(15, Type::Text, Box::new(e)))?,
    })
}

fn delivery(row: &Row<'_>) -> rusqlite::Result<Delivery> {
    let status: Option<i64> = row.get(4)?;
    Ok(Delivery {
        id: row.get(0)?,
        event_seq: row.get(1)?,
        attempt: row.get(2)?,
        at: time(row, 3)?,
        status_code: status.and_then(|s| u16::try_from(s).ok()),
        error: row.get(5)?,
        duration_ms: row.get(6)?,
        next_retry_at: opt_time(row, 7)?,
    })
}

/// The webhooks of a claim: enabled, with events past their cursor, due
/// (`?2` = now), and not leased by another owner (`?1`) in time.
const DUE: &str = concat!(
    "SELECT w.id FROM webhooks w WHERE w.enabled AND ",
    crate::changes::last_seq_of!("w.base_id"),
    " > w.cursor AND (w.next_attempt_at IS NULL OR w.next_attempt_at <= ?2) \
    AND (w.lease_until IS NULL OR w.lease_until < ?2 OR w.lease_owner = ?1)"
);

#[async_trait]
impl WebhooksStore for SqliteStore {
    async fn create_webhook(&self, w: &Webhook) -> StoreResult<Webhook> {
        let w = w.clone();
        self.write(move |tx| {
            let base: Option<i64> = tx
                .prepare_cached(concat!(
                    "SELECT ",
                    crate::changes::last_seq_of!("b.id"),
                    " FROM bases b WHERE b.id = ?1"
                ))?
                .query_row([w.base_id.as_str()], |r| r.get(0))
                .optional()?;
            let cursor = base.ok_or_else(|| Error::not_found("base", w.base_id))?;
            tx.prepare_cached(&format!(
                "INSERT INTO webhooks ({COLUMNS}) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, 0, NULL, ?12, ?11, ?13) \
                 RETURNING {COLUMNS}"
            ))?
            .query_row(
                params![
                    w.id.as_str(),
                    w.base_id.as_str(),
                    w.table_id.as_ref().map(|t| t.as_str()),
                    w.url,
                    events_json(&w.events),
                    w.enabled,
                    w.disabled_reason,
                    w.created_by.as_str(),
                    fmt_time(&w.created_at),
                    fmt_time(&w.updated_at),
                    cursor,
                    w.secret_nonce,
                    airtable_json(w.airtable.as_ref()),
                ],
                webhook,
            )
            .map_err(Error::from)
        })
        .await
    }

    async fn get_webhook(&self, id: WebhookId) -> StoreResult<Webhook> {
        self.read_small(move |conn| {
            conn.prepare_cached(&format!("SELECT {COLUMNS} FROM webhooks WHERE id = ?1"))?
                .query_row([id.as_str()], webhook)
                .optional()?
                .ok_or_else(|| Error::not_found("webhook", id))
        })
        .await
    }

    async fn list_webhooks(&self, base: BaseId) -> StoreResult<Vec<Webhook>> {
        self.read(move |conn| {
            Ok(conn
                .prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM webhooks WHERE base_id = ?1 ORDER BY created_at, id"
                ))?
                .query_map([base.as_str()], webhook)?
                .collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    async fn update_webhook(&self, w: &Webhook) -> StoreResult<()> {
        let w = w.clone();
        self.write(move |tx| {
            let n = tx
                .prepare_cached(
                    "UPDATE webhooks SET url = ?2, events = ?3, \
                     attempt = CASE WHEN ?4 AND NOT enabled THEN 0 ELSE attempt END, \
                     next_attempt_at = CASE WHEN ?4 AND NOT enabled THEN NULL ELSE next_attempt_at END, \
                     enabled = ?4, disabled_reason = ?5, updated_at = ?6, airtable = ?7 WHERE id = ?1",
                )?
                .execute(params![
                    w.id.as_str(),
                    w.url,
                    events_json(&w.events),
                    w.enabled,
                    w.disabled_reason,
                    fmt_time(&w.updated_at),
                    airtable_json(w.airtable.as_ref()),
                ])?;
            if n == 0 {
                return Err(Error::not_found("webhook", w.id));
            }
            Ok(())
        })
        .await
    }

    async fn set_webhook_enabled(
        &self,
        id: WebhookId,
        enabled: bool,
        at: Timestamp,
    ) -> StoreResult<()> {
        self.write(move |tx| {
            let n = tx
                .prepare_cached(
                    "UPDATE webhooks SET \
                     attempt = CASE WHEN ?2 AND NOT enabled THEN 0 ELSE attempt END, \
                     next_attempt_at = CASE WHEN ?2 AND NOT enabled THEN NULL ELSE next_attempt_at END, \
                     disabled_reason = CASE WHEN ?2 THEN NULL ELSE disabled_reason END, \
                     enabled = ?2, updated_at = ?3 WHERE id = ?1",
                )?
                .execute(params![id.as_str(), enabled, fmt_time(&at)])?;
            if n == 0 {
                return Err(Error::not_found("webhook", id));
            }
            Ok(())
        })
        .await
    }

    async fn save_airtable_hook(
        &self,
        id: WebhookId,
        hook: &AirtableHook,
        at: Timestamp,
    ) -> StoreResult<()> {
        let airtable = airtable_json(Some(hook));
        self.write(move |tx| {
            let n = tx
                .prepare_cached("UPDATE webhooks SET airtable = ?2, updated_at = ?3 WHERE id = ?1")?
                .execute(params![id.as_str(), airtable, fmt_time(&at)])?;
            if n == 0 {
                return Err(Error::not_found("webhook", id));
            }
            Ok(())
        })
        .await
    }

    async fn delete_webhook(&self, id: WebhookId) -> StoreResult<()> {
        self.write(move |tx| {
            let n = tx
                .prepare_cached("DELETE FROM webhooks WHERE id = ?1")?
                .execute([id.as_str()])?;
            if n == 0 {
                return Err(Error::not_found("webhook", id));
            }
            Ok(())
        })
        .await
    }

    async fn claim_webhooks(
        &self,
        owner: &str,
        now: Timestamp,
        until: Timestamp,
        limit: usize,
    ) -> StoreResult<Vec<Webhook>> {
        let owner = owner.to_owned();
        let (now, until) = (fmt_time(&now), fmt_time(&until));
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        // The worker asks every second: a read answers "nothing due" without
        // taking the single writer (the write below checks again).
        let (o, n) = (owner.clone(), now.clone());
        let due: bool = self
            .read_small(move |conn| {
                Ok(conn
                    .prepare_cached(&format!("SELECT EXISTS ({DUE})"))?
                    .query_row(params![o, n], |r| r.get(0))?)
            })
            .await?;
        if !due {
            return Ok(Vec::new());
        }
        self.write(move |tx| {
            Ok(tx
                .prepare_cached(&format!(
                    "UPDATE webhooks SET lease_owner = ?1, lease_until = ?3 WHERE id IN ( \
                     {DUE} ORDER BY w.id LIMIT ?4) RETURNING {COLUMNS}"
                ))?
                .query_map(params![owner, now, until, limit], webhook)?
                .collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    async fn release_webhooks(&self, owner: &str) -> StoreResult<()> {
        let owner = owner.to_owned();
        self.write(move |tx| {
            tx.prepare_cached(
                "UPDATE webhooks SET lease_owner = NULL, lease_until = NULL \
                 WHERE lease_owner = ?1",
            )?
            .execute([owner])?;
            Ok(())
        })
        .await
    }

    async fn save_progress(
        &self,
        owner: &str,
        id: WebhookId,
        p: &Progress,
        at: Timestamp,
    ) -> StoreResult<bool> {
        let owner = owner.to_owned();
        let p = p.clone();
        self.write(move |tx| {
            let n = tx
                .prepare_cached(
                    "UPDATE webhooks SET cursor = ?3, attempt = ?4, next_attempt_at = ?5, \
                     enabled = CASE WHEN ?6 IS NULL THEN enabled ELSE 0 END, \
                     disabled_reason = coalesce(?6, disabled_reason), \
                     updated_at = CASE WHEN ?6 IS NULL THEN updated_at ELSE ?8 END, \
                     lease_owner = CASE WHEN ?7 THEN NULL ELSE lease_owner END, \
                     lease_until = CASE WHEN ?7 THEN NULL ELSE lease_until END \
                     WHERE id = ?1 AND lease_owner = ?2",
                )?
                .execute(params![
                    id.as_str(),
                    owner,
                    p.cursor,
                    p.attempt,
                    fmt_opt_time(p.next_attempt_at.as_ref()),
                    p.disable,
                    p.release,
                    // Disabled by the server: a change of the webhook's, as
                    // a PATCH is.
                    fmt_time(&at),
                ])?;
            if n == 0 {
                return Ok(false);
            }
            if let Some(d) = &p.delivery {
                tx.prepare_cached(
                    "INSERT INTO webhook_deliveries (webhook_id, event_seq, attempt, at, \
                     status_code, error, duration_ms, next_retry_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )?
                .execute(params![
                    id.as_str(),
                    d.event_seq,
                    d.attempt,
                    fmt_time(&d.at),
                    d.status_code,
                    d.error,
                    d.duration_ms,
                    fmt_opt_time(d.next_retry_at.as_ref()),
                ])?;
            }
            Ok(true)
        })
        .await
    }

    async fn list_deliveries(
        &self,
        id: WebhookId,
        before: Option<i64>,
        limit: usize,
    ) -> StoreResult<Vec<Delivery>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(move |conn| {
            Ok(conn
                .prepare_cached(
                    "SELECT id, event_seq, attempt, at, status_code, error, duration_ms, \
                     next_retry_at FROM webhook_deliveries \
                     WHERE webhook_id = ?1 AND (?2 IS NULL OR id < ?2) ORDER BY id DESC LIMIT ?3",
                )?
                .query_map(params![id.as_str(), before, limit], delivery)?
                .collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }
}
