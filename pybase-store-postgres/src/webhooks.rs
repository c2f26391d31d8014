//! [`WebhooksStore`]: webhooks and their deliveries.

use async_trait::async_trait;
use pybase_core::ids::{BaseId, WebhookId};
use pybase_core::model::Timestamp;
use pybase_core::store::{AirtableHook, ChangeKind, Delivery, Progress, Webhook, WebhooksStore};
use pybase_core::{StoreError, StoreResult};
use serde_json::Value;
use sqlx::Row;
use sqlx::postgres::PgRow;

use crate::PgStore;
use crate::error::{ResultExt, decode_error};
use crate::rows::{parsed, parsed_opt};
use crate::sql::cols;

const COLUMNS: &str = "id, base_id, table_id, url, events, enabled, disabled_reason, created_by, \
     created_at, updated_at, cursor, attempt, next_attempt_at, secret_nonce, start_seq, airtable";

fn events_json(events: &[ChangeKind]) -> Value {
    Value::Array(events.iter().map(|k| k.as_str().into()).collect())
}

fn airtable_json(hook: Option<&AirtableHook>) -> Option<Value> {
    hook.map(|h| serde_json::to_value(h).unwrap_or_default())
}

fn webhook(row: &PgRow) -> Result<Webhook, sqlx::Error> {
    let events: Value = row.try_get("events")?;
    let names: Vec<String> =
        serde_json::from_value(events).map_err(|e| decode_error("events", e))?;
    let events = names
        .iter()
        .map(|n| {
            ChangeKind::parse(n)
                .ok_or_else(|| decode_error("events", format!("unknown change kind {n}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Webhook {
        id: parsed(row, "id")?,
        base_id: parsed(row, "base_id")?,
        table_id: parsed_opt(row, "table_id")?,
        url: row.try_get("url")?,
        events,
        enabled: row.try_get("enabled")?,
        disabled_reason: row.try_get("disabled_reason")?,
        created_by: parsed(row, "created_by")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        cursor: row.try_get("cursor")?,
        attempt: row.try_get("attempt")?,
        next_attempt_at: row.try_get("next_attempt_at")?,
        secret_nonce: row.try_get("secret_nonce")?,
        start_seq: row.try_get("start_seq")?,
        airtable: row
            .try_get::<Option<Value>, _>("airtable")?
            .map(serde_json::from_value)
            .transpose()
            .map_err(|e| decode_error("airtable", e))?,
    })
}

fn delivery(row: &PgRow) -> Result<Delivery, sqlx::Error> {
    let status: Option<i32> = row.try_get("status_code")?;
    Ok(Delivery {
        id: row.try_get("id")?,
        event_seq: row.try_get("event_seq")?,
        attempt: row.try_get("attempt")?,
        at: row.try_get("at")?,
        status_code: status.and_then(|s| u16::try_from(s).ok()),
        error: row.try_get("error")?,
        duration_ms: row.try_get("duration_ms")?,
        next_retry_at: row.try_get("next_retry_at")?,
    })
}

fn ms(t: Timestamp) -> Timestamp {
    use chrono::SubsecRound as _;
    t.trunc_subsecs(3)
}

#[async_trait]
impl WebhooksStore for PgStore {
    async fn create_webhook(&self, w: &Webhook) -> StoreResult<Webhook> {
        let row = sqlx::query(cols(
            COLUMNS,
            "INSERT INTO webhooks (id, base_id, table_id, url, events, enabled, disabled_reason, \
             created_by, created_at, updated_at, cursor, attempt, next_attempt_at, secret_nonce, \
             start_seq, airtable) \
             SELECT $1, b.id, $3, $4, $5, $6, $7, $8, $9, $10, s.seq, 0, NULL, $11, s.seq, $12 \
             FROM bases b, LATERAL (SELECT coalesce((SELECT last_seq FROM change_counters \
             WHERE base_id = b.id), 0) AS seq) s WHERE b.id = $2 RETURNING {}",
        ))
        .bind(w.id.as_str())
        .bind(w.base_id.as_str())
        .bind(w.table_id.as_ref().map(|t| t.as_str()))
        .bind(&w.url)
        .bind(events_json(&w.events))
        .bind(w.enabled)
        .bind(&w.disabled_reason)
        .bind(w.created_by.as_str())
        .bind(ms(w.created_at))
        .bind(ms(w.updated_at))
        .bind(&w.secret_nonce)
        .bind(airtable_json(w.airtable.as_ref()))
        .fetch_optional(&self.pool)
        .await
        .db()?
        .ok_or_else(|| StoreError::not_found("base", w.base_id))?;
        webhook(&row).db()
    }

    async fn get_webhook(&self, id: WebhookId) -> StoreResult<Webhook> {
        let row = sqlx::query(cols(COLUMNS, "SELECT {} FROM webhooks WHERE id = $1"))
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await
            .db()?
            .ok_or_else(|| StoreError::not_found("webhook", id))?;
        webhook(&row).db()
    }

    async fn list_webhooks(&self, base: BaseId) -> StoreResult<Vec<Webhook>> {
        let rows = sqlx::query(cols(
            COLUMNS,
            "SELECT {} FROM webhooks WHERE base_id = $1 ORDER BY created_at, id",
        ))
        .bind(base.as_str())
        .fetch_all(&self.pool)
        .await
        .db()?;
        rows.iter().map(webhook).collect::<Result<_, _>>().db()
    }

    async fn update_webhook(&self, w: &Webhook) -> StoreResult<()> {
        let done = sqlx::query(
            "UPDATE webhooks SET url = $2, events = $3, \
             attempt = CASE WHEN $4 AND NOT enabled THEN 0 ELSE attempt END, \
             next_attempt_at = CASE WHEN $4 AND NOT enabled THEN NULL ELSE next_attempt_at END, \
             enabled = $4, disabled_reason = $5, updated_at = $6, airtable = $7 WHERE id = $1",
        )
        .bind(w.id.as_str())
        .bind(&w.url)
        .bind(events_json(&w.events))
        .bind(w.enabled)
        .bind(&w.disabled_reason)
        .bind(ms(w.updated_at))
        .bind(airtable_json(w.airtable.as_ref()))
        .execute(&self.pool)
        .await
        .db()?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found("webhook", w.id));
        }
        Ok(())
    }

    async fn set_webhook_enabled(
        &self,
        id: WebhookId,
        enabled: bool,
        at: Timestamp,
    ) -> StoreResult<()> {
        let done = sqlx::query(
            "UPDATE webhooks SET \
             attempt = CASE WHEN $2 AND NOT enabled THEN 0 ELSE attempt END, \
             next_attempt_at = CASE WHEN $2 AND NOT enabled THEN NULL ELSE next_attempt_at END, \
             disabled_reason = CASE WHEN $2 THEN NULL ELSE disabled_reason END, \
             enabled = $2, updated_at = $3 WHERE id = $1",
        )
        .bind(id.as_str())
        .bind(enabled)
        .bind(ms(at))
        .execute(&self.pool)
        .await
        .db()?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found("webhook", id));
        }
        Ok(())
    }

    async fn save_airtable_hook(
        &self,
        id: WebhookId,
        hook: &AirtableHook,
        at: Timestamp,
    ) -> StoreResult<()> {
        let done = sqlx::query("UPDATE webhooks SET airtable = $2, updated_at = $3 WHERE id = $1")
            .bind(id.as_str())
            .bind(airtable_json(Some(hook)))
            .bind(ms(at))
            .execute(&self.pool)
            .await
            .db()?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found("webhook", id));
        }
        Ok(())
    }

    async fn delete_webhook(&self, id: WebhookId) -> StoreResult<()> {
        let done = sqlx::query("DELETE FROM webhooks WHERE id = $1")
            .bind(id.as_str())
            .execute(&self.pool)
            .await
            .db()?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found("webhook", id));
        }
        Ok(())
    }

    async fn claim_webhooks(
        &self,
        owner: &str,
        now: Timestamp,
        until: Timestamp,
        limit: usize,
    ) -> StoreResult<Vec<Webhook>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = sqlx::query(cols(
            COLUMNS,
            "UPDATE webhooks SET lease_owner = $1, lease_until = $3 WHERE id IN ( \
             SELECT w.id FROM webhooks w JOIN change_counters c ON c.base_id = w.base_id \
             WHERE w.enabled AND c.last_seq > w.cursor \
             AND (w.next_attempt_at IS NULL OR w.next_attempt_at <= $2) \
             AND (w.lease_until IS NULL OR w.lease_until < $2 OR w.lease_owner = $1) \
             ORDER BY w.id LIMIT $4 FOR UPDATE OF w SKIP LOCKED) RETURNING {}",
        ))
        .bind(owner)
        .bind(now)
        .bind(until)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .db()?;
        rows.iter().map(webhook).collect::<Result<_, _>>().db()
    }

    async fn release_webhooks(&self, owner: &str) -> StoreResult<()> {
        sqlx::query(
            "UPDATE webhooks SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = $1",
        )
        .bind(owner)
        .execute(&self.pool)
        .await
        .db()?;
        Ok(())
    }

    async fn save_progress(
        &self,
        owner: &str,
        id: WebhookId,
        p: &Progress,
        at: Timestamp,
    ) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await.db()?;
        let done = sqlx::query(
            "UPDATE webhooks SET cursor = $3, attempt = $4, next_attempt_at = $5, \
             enabled = CASE WHEN $6::text IS NULL THEN enabled ELSE FALSE END, \
             disabled_reason = coalesce($6, disabled_reason), \
             updated_at = CASE WHEN $6::text IS NULL THEN updated_at ELSE $8 END, \
             lease_owner = CASE WHEN $7 THEN NULL ELSE lease_owner END, \
             lease_until = CASE WHEN $7 THEN NULL ELSE lease_until END \
             WHERE id = $1 AND lease_owner = $2",
        )
        .bind(id.as_str())
        .bind(owner)
        .bind(p.cursor)
        .bind(p.attempt)
        .bind(p.next_attempt_at.map(ms))
        .bind(&p.disable)
        .bind(p.release)
        // Disabled by the server: a change of the webhook's, as a PATCH is.
        .bind(ms(at))
        .execute(&mut *tx)
        .await
        .db()?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        if let Some(d) = &p.delivery {
            sqlx::query(
                "INSERT INTO webhook_deliveries (webhook_id, event_seq, attempt, at, status_code, \
                 error, duration_ms, next_retry_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(id.as_str())
            .bind(d.event_seq)
            .bind(d.attempt)
            .bind(ms(d.at))
            .bind(d.status_code.map(i32::from))
            .bind(&d.error)
            .bind(d.duration_ms)
            .bind(d.next_retry_at.map(ms))
            .execute(&mut *tx)
            .await
            .db()?;
        }
        tx.commit().await.db()?;
        Ok(true)
    }

    async fn list_deliveries(
        &self,
        id: WebhookId,
        before: Option<i64>,
        limit: usize,
    ) -> StoreResult<Vec<Delivery>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = sqlx::query(
            "SELECT id, event_seq, attempt, at, status_code, error, duration_ms, next_retry_at \
             FROM webhook_deliveries WHERE webhook_id = $1 AND ($2::int8 IS NULL OR id < $2) \
             ORDER BY id DESC LIMIT $3",
        )
        .bind(id.as_str())
        .bind(before)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .db()?;
        rows.iter().map(delivery).collect::<Result<_, _>>().db()
    }
}
