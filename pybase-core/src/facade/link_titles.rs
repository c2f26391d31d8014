//! A link field turned into text: each linked record is written as its
//! primary field's value (as Airtable does), not as its id.
//!
//! Used by a field's type change from `link` to a text type and by the
//! deletion of the table a link points at (its link fields become long
//! text), both before the linked records are gone. A linked record whose
//! primary value is empty is written as its id, so nothing is lost; one
//! that is soft-deleted is left out, as reads leave it out of the cell.

use std::collections::HashMap;

use serde_json::Value;

use super::Pybase;
use crate::error::Result;
use crate::fields::render_text;
use crate::ids::{RecordId, TableId};
use crate::store::links::link_ids;

/// Linked records read per store call.
const CHUNK: usize = 1000;

impl Pybase {
    /// The link `cells` with each linked record of `linked` replaced by
    /// its primary value (text), for their conversion to text.
    pub(super) async fn link_cells_as_titles(
        &self,
        linked: TableId,
        cells: Vec<(RecordId, Value)>,
    ) -> Result<Vec<(RecordId, Value)>> {
        let mut ids: Vec<RecordId> = cells.iter().flat_map(|(_, v)| link_ids(Some(v))).collect();
        ids.sort_unstable();
        ids.dedup();
        let titles = self.record_titles(linked, &ids).await?;
        Ok(cells
            .into_iter()
            .map(|(record, cell)| {
                let shown: Vec<Value> = link_ids(Some(&cell))
                    .iter()
                    .filter_map(|id| titles.get(id).cloned().map(Value::String))
                    .collect();
                (record, Value::Array(shown))
            })
            .collect())
    }

    /// The primary value as text of each live record of `table` among
    /// `ids` (its id where that is empty).
    async fn record_titles(
        &self,
        table: TableId,
        ids: &[RecordId],
    ) -> Result<HashMap<RecordId, String>> {
        let mut titles = HashMap::with_capacity(ids.len());
        if ids.is_empty() {
            return Ok(titles);
        }
        let primary = self.primary_field(table).await?;
        for chunk in ids.chunks(CHUNK) {
            for r in self.store.get_records(table, chunk, false).await? {
                let title = primary
                    .as_ref()
                    .and_then(|p| r.cells.get(p.id.as_str()))
                    .map(render_text)
                    .filter(|t| !t.trim().is_empty())
                    .unwrap_or_else(|| r.id.to_string());
                titles.insert(r.id, title);
            }
        }
        Ok(titles)
    }
}
