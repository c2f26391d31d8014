//! Background fills of computed fields in PostgreSQL (issue 12): the
//! fill's state in `compute_fills` (its resume point, lease, and `again`:
//! a further pass asked for), so it survives a restart, and each chunk in
//! one transaction together with its resume point. Lock order:
//! the base's advisory lock (a chunk, a record write), then the fill's
//! row, then field rows (a chunk, a queue, a settle, a write handing its
//! fan-out to the fill), so none of them waits on another in a cycle.

use chrono::Utc;
use pybase_core::ids::{FieldId, RecordId, TableId};
use pybase_core::model::Timestamp;
use pybase_core::store::computed::{FillQueue, FillStep};
use pybase_core::{StoreError, StoreResult};
use sqlx::{PgConnection, PgPool};

use crate::computed;
use crate::error::ResultExt;
use crate::layout::on;

fn field_ids(fields: &[FieldId]) -> Vec<String> {
    fields.iter().map(ToString::to_string).collect()
}

/// Whether `table` holds more than `n` live records.
pub(crate) async fn exceed(pool: &PgPool, table: TableId, n: usize) -> StoreResult<bool> {
    sqlx::query_scalar(on(
        table,
        "SELECT EXISTS (SELECT 1 FROM {records} WHERE deleted_time IS NULL LIMIT 1 OFFSET $1)",
    )?)
    .bind(i64::try_from(n).unwrap_or(i64::MAX))
    .fetch_one(pool)
    .await
    .db()
}

/// Queues the fill of `table` and, unless it is a hand-off, marks `fields`
/// computing; one already
/// queued starts over, or keeps its resume point and asks for another
/// pass, or is kept as it is, as `how` says (see [`FillQueue`]).
pub(crate) async fn queue(
    conn: &mut PgConnection,
    table: TableId,
    fields: &[FieldId],
    how: FillQueue,
    now: Timestamp,
) -> StoreResult<()> {
    // A new fill starts from the first record and needs no further pass.
    // A queued one: a restart (a definition changed) goes back to the
    // first record and drops a further pass asked for (this one covers
    // it); a hand-off (data changed) keeps the resume point and asks for
    // another pass if this one has started (a resume point is set); a
    // keep changes neither. (The right-hand sides read the row as it was.)
    let (restart, again) = match how {
        FillQueue::Restart => (true, false),
        FillQueue::Again => (false, true),
        FillQueue::Keep => (false, false),
    };
    sqlx::query(
        "INSERT INTO compute_fills (table_id, after_id, again, queued_at) \
         VALUES ($1, NULL, FALSE, $2) \
         ON CONFLICT (table_id) DO UPDATE SET \
         after_id = CASE WHEN $3 THEN NULL ELSE compute_fills.after_id END, \
         again = CASE WHEN $3 THEN FALSE \
             ELSE (compute_fills.again OR ($4 AND compute_fills.after_id IS NOT NULL)) END, \
         queued_at = $2",
    )
    .bind(table.as_str())
    .bind(now)
    .bind(restart)
    .bind(again)
    .execute(&mut *conn)
    .await
    .or_missing("table", table.as_str())?;
    // A definition change makes the fields' cells unknown until the fill
    // has reached them; a hand-off leaves them readable (last values, the
    // fill brings them up to date), so a table that keeps being handed
    // work never reads empty.
    if how != FillQueue::Again {
        sqlx::query(
            "UPDATE fields SET status = 'computing' WHERE table_id = $1 AND id = ANY($2) \
             AND status <> 'computing'",
        )
        .bind(table.as_str())
        .bind(field_ids(fields))
        .execute(&mut *conn)
        .await
        .db()?;
    }
    Ok(())
}

/// Takes the lease of one fill no other owner holds in time.
pub(crate) async fn claim(
    pool: &PgPool,
    owner: &str,
    now: Timestamp,
    until: Timestamp,
) -> StoreResult<Option<TableId>> {
    let found: Option<String> = sqlx::query_scalar(
        "UPDATE compute_fills SET lease_owner = $1, lease_until = $3 WHERE table_id = ( \
         SELECT table_id FROM compute_fills \
         WHERE lease_until IS NULL OR lease_until < $2 OR lease_owner = $1 \
         ORDER BY queued_at, table_id LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING table_id",
    )
    .bind(owner)
    .bind(now)
    .bind(until)
    .fetch_optional(pool)
    .await
    .db()?;
    found
        .map(|s| TableId::parse(&s).map_err(|e| StoreError::backend(crate::error::BACKEND, e)))
        .transpose()
}

/// One step of `table`'s fill for `owner` (see
/// `RecordsStore::fill_chunk`); the caller commits.
pub(crate) async fn chunk(
    conn: &mut PgConnection,
    table: TableId,
    owner: &str,
    limit: usize,
    until: Timestamp,
) -> StoreResult<(FillStep, Vec<pybase_core::store::NewChange>)> {
    // The base's advisory lock first, as a record write takes it before
    // it may queue a fill (its fan-out past the limit) and so lock this
    // row: the two never wait on each other in a cycle.
    crate::links::lock_base(conn, table).await?;
    let state: Option<(Option<String>, Option<String>, bool)> = sqlx::query_as(
        "SELECT after_id, lease_owner, again FROM compute_fills WHERE table_id = $1 FOR UPDATE",
    )
    .bind(table.as_str())
    .fetch_optional(&mut *conn)
    .await
    .db()?;
    let Some((after, leased_by, again)) = state else {
        return Ok((FillStep::Lost, Vec::new()));
    };
    if leased_by.as_deref() != Some(owner) {
        return Ok((FillStep::Lost, Vec::new()));
    }
    let after = after
        .map(|s| RecordId::parse(&s).map_err(|e| StoreError::backend(crate::error::BACKEND, e)))
        .transpose()?;
    let mut log = Vec::new();
    let last = computed::chunk(conn, table, after, limit, Utc::now(), &mut log).await?;
    let step = match last {
        Some(last) => {
            sqlx::query(
                "UPDATE compute_fills SET after_id = $2, lease_until = $3 WHERE table_id = $1",
            )
            .bind(table.as_str())
            .bind(last.as_str())
            .bind(until)
            .execute(&mut *conn)
            .await
            .db()?;
            FillStep::More
        }
        None if again => {
            // The pass is complete; records behind it changed meanwhile:
            // the next pass starts from the first record.
            sqlx::query(
                "UPDATE compute_fills SET after_id = NULL, again = FALSE, lease_until = $2 \
                 WHERE table_id = $1",
            )
            .bind(table.as_str())
            .bind(until)
            .execute(&mut *conn)
            .await
            .db()?;
            FillStep::Pass
        }
        None => {
            sqlx::query("DELETE FROM compute_fills WHERE table_id = $1")
                .bind(table.as_str())
                .execute(&mut *conn)
                .await
                .db()?;
            sqlx::query(
                "UPDATE fields SET status = 'ready' WHERE table_id = $1 AND status = 'computing'",
            )
            .bind(table.as_str())
            .execute(&mut *conn)
            .await
            .db()?;
            FillStep::Done
        }
    };
    Ok((step, log))
}

/// Turns `fields` ready and ends `table`'s fill when no field of it is
/// computing any more; answers whether a fill ended.
pub(crate) async fn settle(
    conn: &mut PgConnection,
    table: TableId,
    fields: &[FieldId],
) -> StoreResult<bool> {
    let queued: Option<String> =
        sqlx::query_scalar("SELECT table_id FROM compute_fills WHERE table_id = $1 FOR UPDATE")
            .bind(table.as_str())
            .fetch_optional(&mut *conn)
            .await
            .db()?;
    sqlx::query(
        "UPDATE fields SET status = 'ready' WHERE table_id = $1 AND id = ANY($2) \
         AND status = 'computing'",
    )
    .bind(table.as_str())
    .bind(field_ids(fields))
    .execute(&mut *conn)
    .await
    .db()?;
    if queued.is_none() {
        return Ok(false);
    }
    let ended = sqlx::query(
        "DELETE FROM compute_fills WHERE table_id = $1 AND NOT EXISTS \
         (SELECT 1 FROM fields WHERE table_id = $1 AND status = 'computing')",
    )
    .bind(table.as_str())
    .execute(&mut *conn)
    .await
    .db()?;
    Ok(ended.rows_affected() > 0)
}
