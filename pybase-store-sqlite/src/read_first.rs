//! One record's update as a read, a merge in Rust and a write of the whole
//! document (every record update of the store: single, batch, and the
//! match of an upsert). The record as it was comes from the read the write
//! needs anyway, so the change log's "before" costs no statement of its
//! own, and the `UPDATE` finds its row by rowid and answers nothing (no
//! `RETURNING`, no `jsonb_patch` evaluated twice): cheaper than the
//! in-database merge even without the log (benches/ANALYSIS.md).
//!
//! The merge is the one the store made inside SQLite before (until
//! 2026-11-29): `jsonb_patch` (RFC 7396) of the set cells after clearing
//! the object-valued ones. Cells named by `unset`, or set to null, go; an
//! object-valued cell replaces the old value whole, with its null members
//! dropped at every depth (RFC 7396 drops null members of a patch object);
//! any other value replaces the old one as it is. The unit test checks it
//! against SQLite's `jsonb_patch` on the same inputs.

use pybase_core::ids::{RecordId, TableId, UserId};
use pybase_core::model::{Cells, Record};
use pybase_core::store::RecordPatch;
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;

use crate::error::Result;
use crate::layout::record_columns;
use crate::rows::{parse_stored_time, record_at};

/// A live record as read for an update ([`read`]).
pub(crate) struct Current {
    rowid: i64,
    /// The seq of the record's newest event (`records.last_seq`).
    last_seq: Option<i64>,
    /// The record.
    pub(crate) record: Record,
}

/// A live record before and after an update ([`write`]).
pub(crate) struct Updated {
    /// The record as it was.
    pub(crate) before: Record,
    /// The record as written (`before` itself when nothing changed).
    pub(crate) after: Record,
    /// The seq of the event the write must log and the record's newest
    /// seq before ([`crate::changes::Entry::linked`]); `None` when
    /// nothing was written or the log is measured out.
    pub(crate) link: Option<(i64, Option<i64>)>,
}

/// The live record `id` of `table`, `None` if there is none.
pub(crate) fn read(conn: &Connection, table: TableId, id: RecordId) -> Result<Option<Current>> {
    Ok(conn
        .prepare_cached(concat!(
            "SELECT rowid, last_seq, ",
            record_columns!(),
            " FROM records WHERE table_id = ?2 AND id = ?1 AND deleted_time IS NULL"
        ))?
        .query_row([id.as_str(), table.as_str()], |row| {
            Ok(Current {
                rowid: row.get(0)?,
                last_seq: row.get(1)?,
                record: record_at(row, 2)?,
            })
        })
        .optional()?)
}

/// When a [`write`] gets the seq of the event the caller logs for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EventSeq {
    /// Now ([`crate::changes::take_seqs`]), set in the row it writes: the
    /// caller logs the event [`crate::changes::Entry::linked`] to
    /// [`Updated::link`].
    Taken,
    /// When [`crate::changes::log`] numbers it (which points the row at
    /// it): for a write whose events must keep the order they are built in
    /// (an upsert, whose rows' partners interleave with them).
    AtLog,
}

/// Applies `patch` to `current` (read by [`read`] in this transaction) at
/// `at` (a stored time, see [`crate::rows::fmt_time`]) by `by`. A patch
/// that leaves the cells as they are writes nothing (the update time
/// stays). A write gets its event's seq as `seq` says.
pub(crate) fn write(
    conn: &Connection,
    current: Current,
    patch: &RecordPatch,
    at: &str,
    by: Option<UserId>,
    seq: EventSeq,
) -> Result<Updated> {
    let before = current.record;
    let cells = merged(&before.cells, patch);
    if cells == before.cells {
        return Ok(Updated {
            after: before.clone(),
            before,
            link: None,
        });
    }
    let seq = match seq {
        EventSeq::Taken => crate::changes::take_seqs(conn, before.table_id, 1)?,
        EventSeq::AtLog => None,
    };
    conn.prepare_cached(
        "UPDATE records SET data = jsonb(?2), updated_time = ?3, updated_by = ?4, \
         last_seq = coalesce(?5, last_seq) WHERE rowid = ?1",
    )?
    .execute(params![
        current.rowid,
        serde_json::to_string(&cells)?,
        at,
        by.as_ref().map(UserId::as_str),
        seq
    ])?;
    let after = Record {
        id: before.id,
        table_id: before.table_id,
        cells,
        autonumber: before.autonumber,
        created_by: before.created_by,
        updated_by: by,
        created_time: before.created_time,
        updated_time: parse_stored_time(at)?,
        deleted_time: before.deleted_time,
    };
    Ok(Updated {
        before,
        after,
        link: seq.map(|s| (s, current.last_seq)),
    })
}

/// `cells` with `patch` applied (see the module's documentation).
pub(crate) fn merged(cells: &Cells, patch: &RecordPatch) -> Cells {
    if patch.replace {
        return patch
            .set
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
    }
    let mut out = cells.clone();
    for f in &patch.unset {
        out.remove(f.as_str());
    }
    for (k, v) in &patch.set {
        match v {
            Value::Null => {
                out.remove(k);
            }
            Value::Object(_) => {
                out.insert(k.clone(), without_null_members(v));
            }
            _ => {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    out
}

/// `v` with the null members of its objects removed, at every depth of
/// nested objects (arrays are values: their items stay as they are).
fn without_null_members(v: &Value) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), without_null_members(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::merged;
    use pybase_core::ids::{FieldId, RecordId};
    use pybase_core::model::Cells;
    use pybase_core::store::RecordPatch;
    use serde_json::{Value, json};

    fn cells(v: Value) -> Cells {
        serde_json::from_value(v).unwrap()
    }

    fn patch(set: Value, unset: &[&str], replace: bool) -> RecordPatch {
        RecordPatch {
            id: RecordId::new(),
            set: cells(set),
            unset: unset
                .iter()
                .map(|f| f.parse::<FieldId>().unwrap())
                .collect(),
            replace,
        }
    }

    /// The merge is SQLite's `jsonb_patch` as the store applied it in the
    /// database (object cells cleared first): compared on the same inputs
    /// with SQLite itself.
    #[test]
    fn merges_like_sqlite_jsonb_patch() {
        let f = || FieldId::new().to_string();
        let (a, b, c, d) = (f(), f(), f(), f());
        let before = cells(json!({
            &a: "one", &b: {"x": 1, "y": 2}, &c: [1, null], &d: 4
        }));
        let cases = [
            patch(json!({&a: "two"}), &[], false),
            patch(
                json!({&b: {"x": null, "z": {"w": null, "v": 1}}}),
                &[],
                false,
            ),
            patch(json!({&c: [null, {"k": null}], &d: null}), &[&a], false),
            patch(json!({&a: null, &b: 7}), &[&d], false),
            patch(json!({&a: "only", &b: {"n": null}}), &[], true),
        ];
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        for p in cases {
            let mut clear = serde_json::Map::new();
            let mut set = serde_json::Map::new();
            for (k, v) in &p.set {
                if v.is_object() {
                    clear.insert(k.clone(), Value::Null);
                }
                set.insert(k.clone(), v.clone());
            }
            for u in &p.unset {
                set.entry(u.as_str()).or_insert(Value::Null);
            }
            let sqlite: String = if p.replace {
                let doc: serde_json::Map<String, Value> = p
                    .set
                    .iter()
                    .filter(|(_, v)| !v.is_null())
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                conn.query_row(
                    "SELECT json(jsonb(?1))",
                    [Value::Object(doc).to_string()],
                    |r| r.get(0),
                )
                .unwrap()
            } else {
                conn.query_row(
                    "SELECT json(jsonb_patch(jsonb_patch(jsonb(?1), ?2), ?3))",
                    [
                        serde_json::to_string(&before).unwrap(),
                        Value::Object(clear).to_string(),
                        Value::Object(set).to_string(),
                    ],
                    |r| r.get(0),
                )
                .unwrap()
            };
            let expected: Cells = serde_json::from_str(&sqlite).unwrap();
            assert_eq!(merged(&before, &p), expected, "patch {:?}", p.set);
        }
    }
}
