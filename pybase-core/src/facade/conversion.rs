//! A field's stored cells converted to its new type and written with it,
//! while other clients may be writing the same cells.
//!
//! The table's write gate is closed first (`write_gates.rs`): record writes
//! through this server wait until the conversion is over. The cells are
//! converted from a snapshot and written only if no write changed them
//! meanwhile (`SchemaStore::replace_field_if`; one through another server
//! instance may have): such a write would be undone, or left in the old
//! type. When one did, only the cells that changed since are converted
//! again; after [`CONVERSION_ATTEMPTS`] the conversion gives up with a
//! conflict and changes nothing.
//!
//! A conversion into a link may make records in the linked table (names no
//! record has); a conversion that fails after making them sends them to the
//! trash, so a failed conversion leaves nothing behind.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use super::Pybase;
use super::authz::TableScope;
use super::link_conversion::links_another_table;
use super::write_gates::{Closed, WriteGates};
use crate::error::{Error, Result};
use crate::fields::Reference;
use crate::ids::{RecordId, TableId};
use crate::model::Field;
use crate::principal::Principal;
use crate::store::acting;

/// Times a conversion is computed again when writes keep changing its
/// cells before it is written.
const CONVERSION_ATTEMPTS: usize = 5;

/// The pause after a lost attempt, times the attempts so far (1 s in all
/// before the last).
const RETRY_PAUSE: std::time::Duration = std::time::Duration::from_millis(100);

/// A field's stored cells, by record.
type StoredCells = Vec<(RecordId, Value)>;

/// Each record's new cell (`None` clears it), by record.
pub(super) type CellChanges = Vec<(RecordId, Option<Value>)>;

/// What the attempts so far converted: the cells as they were read, and
/// the new cell of each.
type Converted = (StoredCells, HashMap<RecordId, Option<Value>>);

impl Pybase {
    /// Converts `old`'s stored cells to `field`'s type and writes them with
    /// `field` in one store transaction (see the module doc); answers the
    /// cells it changed. `field` may gain select choices the cells need.
    pub(super) async fn convert_field(
        &self,
        principal: &Principal,
        table: &TableScope,
        old: &Field,
        field: &mut Field,
    ) -> Result<CellChanges> {
        let mut made = Vec::new();
        let converted = WriteGates::converting(async {
            // In a fixed order, so two conversions never wait for each other.
            let mut gated = vec![table.id()];
            if let (Some(_), Some(Reference::Records(linked))) = (
                old.field_type.inverse_field_id(),
                old.field_type.references(),
            ) && linked != table.id()
            {
                // A two-way link's cells change with writes of the other
                // side too.
                gated.push(linked);
            }
            gated.sort();
            let mut closed = Vec::with_capacity(gated.len());
            for t in gated {
                closed.push(self.write_gates.close(t).await);
            }
            let converted = self
                .convert_until_still(principal, table, old, field, &mut made)
                .await;
            if converted.is_ok() {
                closed.iter_mut().for_each(Closed::converted);
            }
            converted
        })
        .await;
        if converted.is_err() && !made.is_empty() {
            self.trash_made(table.user(), &made).await;
        }
        converted
    }

    /// The attempts of [`Self::convert_field`], adding the records a link
    /// conversion makes to `made`.
    async fn convert_until_still(
        &self,
        principal: &Principal,
        table: &TableScope,
        old: &Field,
        field: &mut Field,
        made: &mut Vec<(TableId, RecordId)>,
    ) -> Result<CellChanges> {
        let mut done: Option<Converted> = None;
        for attempt in 0..CONVERSION_ATTEMPTS {
            let cells = self.store.field_cells(table.id(), old.id).await?;
            let (todo, mut merged) = match done.take() {
                None => (cells.clone(), HashMap::new()),
                Some((before, merged)) => still_to_convert(&cells, before, merged),
            };
            let partial = self
                .convert_some(principal, table, old, field, todo, made)
                .await?;
            merged.extend(partial);
            let mut changes: CellChanges = merged.iter().map(|(r, v)| (*r, v.clone())).collect();
            changes.sort_by_key(|c| c.0);
            let store = &self.store;
            if acting(
                table.user(),
                store.replace_field_if(field, &changes, &cells),
            )
            .await?
            {
                return Ok(changes);
            }
            done = Some((cells, merged));
            // Writes this server does not hold back (another instance's):
            // give them a moment to pass before reading again.
            if attempt + 1 < CONVERSION_ATTEMPTS {
                tokio::time::sleep(RETRY_PAUSE * u32::try_from(attempt + 1).unwrap_or(1)).await;
            }
        }
        Err(Error::Conflict {
            field: field.name.clone(),
            message: format!(
                "the field's cells kept changing while it converted ({CONVERSION_ATTEMPTS} \
                 attempts); nothing was changed, try again"
            ),
        })
    }

    /// Converts `todo`, some of `old`'s stored cells, to `field`'s type.
    async fn convert_some(
        &self,
        principal: &Principal,
        table: &TableScope,
        old: &Field,
        field: &mut Field,
        todo: StoredCells,
        made: &mut Vec<(TableId, RecordId)>,
    ) -> Result<CellChanges> {
        if field.field_type.derived().is_some() {
            self.cells_a_recompute_misses(table, todo).await
        } else if links_another_table(&old.field_type, &field.field_type) {
            self.cells_into_links(principal, old, field, todo, made)
                .await?
                .map_err(|failures| super::schema::conversion_refused_with(old, field, &failures))
        } else {
            self.convert_cells(old, field, todo).await
        }
    }
}

/// After a lost attempt: the cells of `cells` (as read now) that differ
/// from `before` (as the last attempt read them), to convert again, and
/// what stays of `merged` (the last attempts' results for records still
/// there and unchanged).
fn still_to_convert(
    cells: &StoredCells,
    before: StoredCells,
    mut merged: HashMap<RecordId, Option<Value>>,
) -> (StoredCells, HashMap<RecordId, Option<Value>>) {
    let before: HashMap<RecordId, Value> = before.into_iter().collect();
    let now: HashSet<RecordId> = cells.iter().map(|(r, _)| *r).collect();
    let todo: StoredCells = cells
        .iter()
        .filter(|(r, v)| before.get(r) != Some(v))
        .cloned()
        .collect();
    let redo: HashSet<RecordId> = todo.iter().map(|(r, _)| *r).collect();
    merged.retain(|r, _| now.contains(r) && !redo.contains(r));
    (todo, merged)
}
