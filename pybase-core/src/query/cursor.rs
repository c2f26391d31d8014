//! Opaque keyset cursors.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use crate::ids::RecordId;

/// The value of one sort key at a cursor position.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SortValue {
    /// An empty cell.
    Null,
    /// A boolean (checkbox; absent cells are `false`, never `Null`).
    Bool(bool),
    /// A number.
    Number(f64),
    /// Text (including RFC 3339 times of meta columns).
    Text(String),
}

/// A position in a query's order: the sort-key values and id of the last
/// record of a page. The next page holds the records strictly after it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cursor {
    /// One value per sort key, in order.
    #[serde(rename = "v")]
    pub values: Vec<SortValue>,
    /// The record id (the final tie-break).
    #[serde(rename = "i")]
    pub id: RecordId,
    /// Fingerprint of the query (table, filter, sort) the cursor belongs to.
    #[serde(rename = "q")]
    pub query: u64,
    /// The snapshot the walk reads the order of: see [`Snapshot`]. Absent
    /// in cursors minted before snapshots, which walk the order as it is.
    #[serde(rename = "s", default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<Snapshot>,
}

/// Where a walk of pages stands in the base's change log: the order it
/// reads is the records' as they were then, so a record edited while a
/// client pages through them is returned once, at its place then (see
/// `facade::snapshots`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Snapshot {
    /// The first page's instant (milliseconds since the epoch): the second
    /// page finds the seq of the log's last event before it.
    #[serde(rename = "t")]
    At(i64),
    /// The seq of the log's last event when the walk began.
    #[serde(rename = "n")]
    Seq(i64),
}

impl Cursor {
    /// The position of `record` in the order `sort`, for the query whose
    /// fingerprint is `query`, in the walk `snapshot`.
    pub fn at(
        sort: &[super::SortKey],
        record: &crate::model::Record,
        query: u64,
        snapshot: Option<Snapshot>,
    ) -> Self {
        Self {
            values: sort
                .iter()
                .map(|k| super::eval::target_value(k.target, record))
                .collect(),
            id: record.id,
            query,
            snapshot,
        }
    }

    /// Encodes the cursor as an opaque URL-safe string.
    pub fn encode(&self) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        URL_SAFE_NO_PAD.encode(json)
    }

    /// Decodes a string made by [`Cursor::encode`]; `None` if it is not one.
    pub fn decode(s: &str) -> Option<Self> {
        let bytes = URL_SAFE_NO_PAD.decode(s.as_bytes()).ok()?;
        serde_json::from_slice(&bytes).ok()
    }
}
