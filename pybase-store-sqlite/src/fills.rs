//! Background fills of computed fields in SQLite (issue 12): the fill's
//! state in `compute_fills` (migration 0010; `again`, a further pass asked
//! for, migration 0012), so it survives a restart, and each chunk in one
//! write transaction together with its resume point.
//! The records tables are reached only through `crate::layout` and the
//! recompute of `crate::computed`.

use chrono::Utc;
use pybase_core::ids::{FieldId, RecordId, TableId, UserId};
use pybase_core::model::Timestamp;
use pybase_core::store::computed::{FillQueue, FillStep};
use rusqlite::{Connection, OptionalExtension, params};

use crate::changes::{self, Entry};
use crate::computed;
use crate::error::{Error, Result};
use crate::rows::{fmt_time, id, id_list};

/// Whether `table` holds more than `n` live records.
pub(crate) fn exceed(conn: &Connection, table: TableId, n: usize) -> Result<bool> {
    let offset = i64::try_from(n).unwrap_or(i64::MAX);
    Ok(conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM records WHERE table_id = ?2 \
             AND deleted_time IS NULL LIMIT 1 OFFSET ?1)",
        )?
        .query_row(params![offset, table.as_str()], |r| r.get(0))?)
}

/// Queues the fill of `table` and, unless it is a hand-off, marks `fields`
/// computing; one already
/// queued starts over, or keeps its resume point and asks for another
/// pass, or is kept as it is, as `how` says (see [`FillQueue`]).
pub(crate) fn queue(
    conn: &Connection,
    table: TableId,
    fields: &[FieldId],
    how: FillQueue,
    now: &Timestamp,
) -> Result<()> {
    let exists: Option<i64> = conn
        .prepare_cached("SELECT 1 FROM tables WHERE id = ?1")?
        .query_row([table.as_str()], |r| r.get(0))
        .optional()?;
    if exists.is_none() {
        return Err(Error::not_found("table", table));
    }
    // A definition change makes the fields' cells unknown until the fill
    // has reached them; a hand-off leaves them readable (last values, the
    // fill brings them up to date), so a table that keeps being handed
    // work never reads empty.
    if how != FillQueue::Again {
        conn.prepare_cached(
            "UPDATE fields SET status = 'computing' WHERE table_id = ?1 \
             AND id IN (SELECT value FROM json_each(?2)) AND status <> 'computing'",
        )?
        .execute(params![table.as_str(), id_list(fields)])?;
    }
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
    conn.prepare_cached(
        "INSERT INTO compute_fills (table_id, after_id, again, queued_at) \
         VALUES (?1, NULL, 0, ?2) \
         ON CONFLICT (table_id) DO UPDATE SET \
         after_id = CASE WHEN ?3 THEN NULL ELSE after_id END, \
         again = CASE WHEN ?3 THEN 0 \
             ELSE (again OR (?4 AND after_id IS NOT NULL)) END, \
         queued_at = ?2",
    )?
    .execute(params![table.as_str(), fmt_time(now), restart, again])?;
    Ok(())
}

/// The fills a claim by `owner` at `now` may take (`?1` owner, `?2` now).
const CLAIMABLE: &str = "SELECT table_id FROM compute_fills \
    WHERE lease_until IS NULL OR lease_until < ?2 OR lease_owner = ?1 \
    ORDER BY queued_at, table_id LIMIT 1";

/// Whether a claim would find a fill (read without the writer).
pub(crate) fn claimable(conn: &Connection, owner: &str, now: &Timestamp) -> Result<bool> {
    Ok(conn
        .prepare_cached(&format!("SELECT EXISTS ({CLAIMABLE})"))?
        .query_row(params![owner, fmt_time(now)], |r| r.get(0))?)
}

/// Takes the lease of one claimable fill; answers its table.
pub(crate) fn claim(
    conn: &Connection,
    owner: &str,
    now: &Timestamp,
    until: &Timestamp,
) -> Result<Option<TableId>> {
    Ok(conn
        .prepare_cached(&format!(
            "UPDATE compute_fills SET lease_owner = ?1, lease_until = ?3 \
             WHERE table_id = ({CLAIMABLE}) RETURNING table_id"
        ))?
        .query_row(params![owner, fmt_time(now), fmt_time(until)], |r| id(r, 0))
        .optional()?)
}

/// One step of `table`'s fill for `owner` (see
/// `RecordsStore::fill_chunk`).
pub(crate) fn chunk(
    conn: &Connection,
    table: TableId,
    owner: &str,
    limit: usize,
    until: &Timestamp,
    actor: Option<UserId>,
) -> Result<FillStep> {
    let state: Option<(Option<String>, Option<String>, bool)> = conn
        .prepare_cached(
            "SELECT after_id, lease_owner, again FROM compute_fills WHERE table_id = ?1",
        )?
        .query_row([table.as_str()], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    let Some((after, leased_by, again)) = state else {
        return Ok(FillStep::Lost);
    };
    if leased_by.as_deref() != Some(owner) {
        return Ok(FillStep::Lost);
    }
    let after = after
        .map(|s| {
            RecordId::parse(&s).map_err(|e| Error::corrupt("compute_fills.after_id", e.to_string()))
        })
        .transpose()?;
    let now = Utc::now();
    let (last, mut done) = computed::chunk(conn, table, after, limit, now)?;
    let log: Vec<Entry> = std::mem::take(&mut done.changes)
        .into_iter()
        .map(Entry::from)
        .collect();
    changes::log(conn, Some(&now), actor, &log)?;
    match last {
        Some(last) => {
            conn.prepare_cached(
                "UPDATE compute_fills SET after_id = ?2, lease_until = ?3 WHERE table_id = ?1",
            )?
            .execute(params![table.as_str(), last.as_str(), fmt_time(until)])?;
            Ok(FillStep::More)
        }
        None if again => {
            // The pass is complete; records behind it changed meanwhile:
            // the next pass starts from the first record.
            conn.prepare_cached(
                "UPDATE compute_fills SET after_id = NULL, again = 0, lease_until = ?2 \
                 WHERE table_id = ?1",
            )?
            .execute(params![table.as_str(), fmt_time(until)])?;
            Ok(FillStep::Pass)
        }
        None => {
            conn.prepare_cached("DELETE FROM compute_fills WHERE table_id = ?1")?
                .execute([table.as_str()])?;
            conn.prepare_cached(
                "UPDATE fields SET status = 'ready' WHERE table_id = ?1 AND status = 'computing'",
            )?
            .execute([table.as_str()])?;
            Ok(FillStep::Done)
        }
    }
}

/// Turns `fields` ready and ends `table`'s fill when no field of it is
/// computing any more; answers whether a fill ended.
pub(crate) fn settle(conn: &Connection, table: TableId, fields: &[FieldId]) -> Result<bool> {
    conn.prepare_cached(
        "UPDATE fields SET status = 'ready' WHERE table_id = ?1 \
         AND id IN (SELECT value FROM json_each(?2)) AND status = 'computing'",
    )?
    .execute(params![table.as_str(), id_list(fields)])?;
    let n = conn
        .prepare_cached(
            "DELETE FROM compute_fills WHERE table_id = ?1 AND NOT EXISTS \
             (SELECT 1 FROM fields WHERE table_id = ?1 AND status = 'computing')",
        )?
        .execute([table.as_str()])?;
    Ok(n > 0)
}

#[cfg(test)]
mod tests;
