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
}

impl Cursor {
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
