//! The per-base change log: what the stores write in the same transaction
//! as each change, and how it is read back.
//!
//! # Contract (every backend, checked by the conformance suite)
//! - Every record write (create, update, upsert, delete, restore; one event
//!   per record of a batch) and every schema write of a table, field or
//!   view appends its events inside the writing transaction: a failed write
//!   logs nothing and uses no sequence number.
//! - Sequence numbers are per base, start at 1, increase by one with no gap,
//!   and become visible in order: a reader that has seen `seq` never later
//!   sees a smaller one appear.
//! - [`ChangesStore::prune_changes`] removes old events; a cursor older
//!   than the oldest kept event answers [`crate::StoreError::Gone`].

use std::future::Future;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio::sync::broadcast;

use crate::error::StoreResult;
use crate::ids::{BaseId, FieldId, RecordId, TableId, UserId, ViewId};
use crate::model::{Cells, Field, Record, Table, Timestamp, View};

/// What kind of change an event records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ChangeKind {
    /// A record was created.
    #[serde(rename = "record.created")]
    RecordCreated,
    /// Cells of a record changed.
    #[serde(rename = "record.updated")]
    RecordUpdated,
    /// A record was (soft-)deleted.
    #[serde(rename = "record.deleted")]
    RecordDeleted,
    /// A soft-deleted record was restored.
    #[serde(rename = "record.restored")]
    RecordRestored,
    /// A table was created.
    #[serde(rename = "table.created")]
    TableCreated,
    /// A table's name, description, primary field or position changed.
    #[serde(rename = "table.updated")]
    TableUpdated,
    /// A table was deleted.
    #[serde(rename = "table.deleted")]
    TableDeleted,
    /// A field was created.
    #[serde(rename = "field.created")]
    FieldCreated,
    /// A field changed.
    #[serde(rename = "field.updated")]
    FieldUpdated,
    /// A field was deleted.
    #[serde(rename = "field.deleted")]
    FieldDeleted,
    /// A view was created.
    #[serde(rename = "view.created")]
    ViewCreated,
    /// A view changed.
    #[serde(rename = "view.updated")]
    ViewUpdated,
    /// A view was deleted.
    #[serde(rename = "view.deleted")]
    ViewDeleted,
}

impl ChangeKind {
    /// Every kind, in the order of the API's list.
    pub const ALL: [Self; 13] = [
        Self::RecordCreated,
        Self::RecordUpdated,
        Self::RecordDeleted,
        Self::RecordRestored,
        Self::TableCreated,
        Self::TableUpdated,
        Self::TableDeleted,
        Self::FieldCreated,
        Self::FieldUpdated,
        Self::FieldDeleted,
        Self::ViewCreated,
        Self::ViewUpdated,
        Self::ViewDeleted,
    ];

    /// The kind's name in the API, e.g. `record.updated`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RecordCreated => "record.created",
            Self::RecordUpdated => "record.updated",
            Self::RecordDeleted => "record.deleted",
            Self::RecordRestored => "record.restored",
            Self::TableCreated => "table.created",
            Self::TableUpdated => "table.updated",
            Self::TableDeleted => "table.deleted",
            Self::FieldCreated => "field.created",
            Self::FieldUpdated => "field.updated",
            Self::FieldDeleted => "field.deleted",
            Self::ViewCreated => "view.created",
            Self::ViewUpdated => "view.updated",
            Self::ViewDeleted => "view.deleted",
        }
    }

    /// The kind named `name` in the API.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

/// One event of a base's change log, as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChangeEvent {
    /// Its sequence number in the base (from 1, no gaps).
    pub seq: i64,
    /// When the change was made.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub at: Timestamp,
    /// Who made it (absent for changes made by the system).
    pub actor: Option<UserId>,
    /// What happened.
    pub kind: ChangeKind,
    /// The table involved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table_id: Option<TableId>,
    /// The record involved (record events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_id: Option<RecordId>,
    /// The field involved (field events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field_id: Option<FieldId>,
    /// The view involved (view events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub view_id: Option<ViewId>,
    /// The fields whose cells changed (`record.updated`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed_fields: Option<Vec<FieldId>>,
    /// Cells (record events) or the object (schema events) before.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<Value>,
    /// Cells (record events) or the object (schema events) after.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Value>,
}

/// An event to append, before the store gives it its base, sequence
/// number, time and actor.
#[derive(Debug, Clone, PartialEq)]
pub struct NewChange {
    /// What happened.
    pub kind: ChangeKind,
    /// The table involved.
    pub table_id: TableId,
    /// The record involved.
    pub record_id: Option<RecordId>,
    /// The field involved.
    pub field_id: Option<FieldId>,
    /// The view involved.
    pub view_id: Option<ViewId>,
    /// The changed fields (`record.updated`).
    pub changed_fields: Option<Vec<FieldId>>,
    /// The state before.
    pub before: Option<Value>,
    /// The state after.
    pub after: Option<Value>,
}

impl NewChange {
    fn bare(kind: ChangeKind, table_id: TableId) -> Self {
        Self {
            kind,
            table_id,
            record_id: None,
            field_id: None,
            view_id: None,
            changed_fields: None,
            before: None,
            after: None,
        }
    }

    /// `record.created` with the record's cells.
    pub fn record_created(record: &Record) -> Self {
        Self {
            record_id: Some(record.id),
            after: Some(Value::Object(record.cells.clone())),
            ..Self::bare(ChangeKind::RecordCreated, record.table_id)
        }
    }

    /// `record.updated` from the cells before and the record after: only
    /// the cells that differ, on both sides (a cell absent on one side is
    /// absent from that side's object).
    pub fn record_updated(before: &Cells, after: &Record) -> Self {
        let mut changed: Vec<String> = before
            .iter()
            .filter(|(k, v)| after.cells.get(k.as_str()) != Some(*v))
            .map(|(k, _)| k.clone())
            .collect();
        changed.extend(
            after
                .cells
                .keys()
                .filter(|k| !before.contains_key(k.as_str()))
                .cloned(),
        );
        changed.sort();
        let side = |cells: &Cells| -> Value {
            Value::Object(
                changed
                    .iter()
                    .filter_map(|k| cells.get(k).map(|v| (k.clone(), v.clone())))
                    .collect::<Map<String, Value>>(),
            )
        };
        Self {
            record_id: Some(after.id),
            changed_fields: Some(
                changed
                    .iter()
                    .filter_map(|k| FieldId::parse(k).ok())
                    .collect(),
            ),
            before: Some(side(before)),
            after: Some(side(&after.cells)),
            ..Self::bare(ChangeKind::RecordUpdated, after.table_id)
        }
    }

    /// `record.updated` of one cell changed as a consequence of another
    /// write (the partner cell of a two-way link): that cell on both sides,
    /// absent on a side where it is empty.
    pub fn cell_updated(
        table: TableId,
        record: RecordId,
        field: FieldId,
        before: Option<Value>,
        after: Option<Value>,
    ) -> Self {
        let side = |v: Option<Value>| {
            Value::Object(v.map(|v| (field.to_string(), v)).into_iter().collect())
        };
        Self {
            record_id: Some(record),
            changed_fields: Some(vec![field]),
            before: Some(side(before)),
            after: Some(side(after)),
            ..Self::bare(ChangeKind::RecordUpdated, table)
        }
    }

    /// `record.updated` of one cell rewritten by a change of its field (a
    /// conversion: a new type, a choice renamed or removed): as
    /// [`Self::cell_updated`], with `field_id` naming that field, so a
    /// reader can tell it from an edit (a revert keeps it).
    pub fn cell_converted(
        table: TableId,
        record: RecordId,
        field: FieldId,
        before: Option<Value>,
        after: Option<Value>,
    ) -> Self {
        Self {
            field_id: Some(field),
            ..Self::cell_updated(table, record, field, before, after)
        }
    }

    /// `record.deleted` with the cells it had.
    pub fn record_deleted(table: TableId, id: RecordId, cells: Cells) -> Self {
        Self {
            record_id: Some(id),
            before: Some(Value::Object(cells)),
            ..Self::bare(ChangeKind::RecordDeleted, table)
        }
    }

    /// `record.restored` with the record's cells.
    pub fn record_restored(record: &Record) -> Self {
        Self {
            record_id: Some(record.id),
            after: Some(Value::Object(record.cells.clone())),
            ..Self::bare(ChangeKind::RecordRestored, record.table_id)
        }
    }

    /// `table.created` or `table.updated` with the table after.
    pub fn table(kind: ChangeKind, table: &Table) -> Self {
        Self {
            after: serde_json::to_value(table).ok(),
            ..Self::bare(kind, table.id)
        }
    }

    /// `table.deleted`.
    pub fn table_deleted(table: TableId) -> Self {
        Self::bare(ChangeKind::TableDeleted, table)
    }

    /// `field.created` or `field.updated` with the field after.
    pub fn field(kind: ChangeKind, field: &Field) -> Self {
        Self {
            field_id: Some(field.id),
            after: serde_json::to_value(field).ok(),
            ..Self::bare(kind, field.table_id)
        }
    }

    /// `field.deleted`.
    pub fn field_deleted(table: TableId, field: FieldId) -> Self {
        Self {
            field_id: Some(field),
            ..Self::bare(ChangeKind::FieldDeleted, table)
        }
    }

    /// `view.created` or `view.updated` with the view after.
    pub fn view(kind: ChangeKind, view: &View) -> Self {
        Self {
            view_id: Some(view.id),
            after: serde_json::to_value(view).ok(),
            ..Self::bare(kind, view.table_id)
        }
    }

    /// `view.deleted`.
    pub fn view_deleted(table: TableId, view: ViewId) -> Self {
        Self {
            view_id: Some(view),
            ..Self::bare(ChangeKind::ViewDeleted, table)
        }
    }

    /// The event with its place in the log.
    pub fn into_event(self, seq: i64, at: Timestamp, actor: Option<UserId>) -> ChangeEvent {
        ChangeEvent {
            seq,
            at,
            actor,
            kind: self.kind,
            table_id: Some(self.table_id),
            record_id: self.record_id,
            field_id: self.field_id,
            view_id: self.view_id,
            changed_fields: self.changed_fields,
            before: self.before,
            after: self.after,
        }
    }
}

/// A page of a base's log.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangesPage {
    /// Events after the cursor, in order (at most the limit asked).
    pub events: Vec<ChangeEvent>,
    /// The newest sequence number of the base (0 before its first event).
    pub last_seq: i64,
}

/// A commit that appended events to a base's log, announced in-process
/// after the commit (a wake-up hint: the log is what readers trust).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Committed {
    /// The base.
    pub base: BaseId,
    /// Its newest sequence number after the commit.
    pub last_seq: i64,
}

/// Where a store announces its commits to the log (a broadcast channel:
/// a slow listener misses announcements, never events, since it reads the
/// log).
#[derive(Debug, Clone)]
pub struct ChangeFeed {
    sender: broadcast::Sender<Committed>,
}

impl Default for ChangeFeed {
    fn default() -> Self {
        Self::new()
    }
}

impl ChangeFeed {
    /// A feed with room for 1,024 unread announcements per listener.
    pub fn new() -> Self {
        Self {
            sender: broadcast::channel(1024).0,
        }
    }

    /// Announces a commit (no-op without listeners).
    pub fn announce(&self, committed: Committed) {
        let _ = self.sender.send(committed);
    }

    /// A listener for the announcements made from now on.
    pub fn listen(&self) -> broadcast::Receiver<Committed> {
        self.sender.subscribe()
    }
}

/// The changed fields of a `record.updated` from its two sides, for a
/// store that keeps only the sides: both hold only the cells that changed,
/// so the changed fields are the keys of either, each once, in byte order,
/// those that are field ids (as [`NewChange::record_updated`] lists them).
pub fn changed_fields_of(before: Option<&Value>, after: Option<&Value>) -> Vec<FieldId> {
    let mut keys: Vec<&str> = [before, after]
        .into_iter()
        .flatten()
        .filter_map(Value::as_object)
        .flat_map(|cells| cells.keys().map(String::as_str))
        .collect();
    keys.sort_unstable();
    keys.dedup();
    keys.into_iter()
        .filter_map(|k| FieldId::parse(k).ok())
        .collect()
}

/// The changed fields of a stored event as a store's reader returns them:
/// the list stored with it, or, for a `record.updated` stored without one,
/// the keys of its sides ([`changed_fields_of`]).
pub fn changed_fields_or_sides(
    kind: ChangeKind,
    listed: Option<Vec<FieldId>>,
    before: Option<&Value>,
    after: Option<&Value>,
) -> Option<Vec<FieldId>> {
    match listed {
        None if kind == ChangeKind::RecordUpdated => Some(changed_fields_of(before, after)),
        listed => listed,
    }
}

/// Whether the stores write the change log (see [`measure_without_change_log`]).
static LOG_OFF: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// For benchmarks only: with `true`, every store in the process skips the
/// change log's writes (and the reads they need), so its cost can be
/// measured against the same build. Never set it in a program that relies
/// on the log.
#[doc(hidden)]
pub fn measure_without_change_log(off: bool) {
    LOG_OFF.store(off, std::sync::atomic::Ordering::Relaxed);
}

/// Whether stores write the change log (always, outside benchmarks).
#[doc(hidden)]
pub fn change_log_enabled() -> bool {
    !LOG_OFF.load(std::sync::atomic::Ordering::Relaxed)
}

tokio::task_local! {
    static ACTOR: UserId;
}

/// Runs `work` with `user` as the actor of the changes it logs: writes
/// whose store method takes no acting user (deletes, restores, schema
/// changes) read it with [`current_actor`].
pub async fn acting<F: Future>(user: UserId, work: F) -> F::Output {
    ACTOR.scope(user, work).await
}

/// The actor set by [`acting`] around the current task, if any.
pub fn current_actor() -> Option<UserId> {
    ACTOR.try_with(|u| *u).ok()
}

/// The change log of each base.
#[async_trait]
pub trait ChangesStore: Send + Sync {
    /// Up to `limit` events of `base` with `seq > after`, in order, and the
    /// base's newest sequence number. `Gone` if events after `after` were
    /// pruned (the cursor is older than the oldest kept event); an `after`
    /// beyond the newest answers an empty page.
    async fn changes_since(
        &self,
        base: BaseId,
        after: i64,
        limit: usize,
    ) -> StoreResult<ChangesPage>;
    /// The newest seq of `base` among its events logged at or before `at`
    /// (the oldest kept one's predecessor if none is kept from then, 0
    /// for a base without events): where a records cursor minted at `at`
    /// stands in the log. It reads back from the newest event, so it costs
    /// the events since `at`.
    async fn seq_at(&self, base: BaseId, at: Timestamp) -> StoreResult<i64>;
    /// Up to `limit` events of one record, newest first, with
    /// `seq < before` when given.
    async fn record_changes(
        &self,
        table: TableId,
        record: RecordId,
        before: Option<i64>,
        limit: usize,
    ) -> StoreResult<Vec<ChangeEvent>>;
    /// Removes events made before `cutoff` (of every base); returns how
    /// many. Sequence numbers are never reused.
    async fn prune_changes(&self, cutoff: Timestamp) -> StoreResult<u64>;
    /// The base of `table`, for callers that only know the table.
    /// `NotFound` if absent.
    async fn table_base(&self, table: TableId) -> StoreResult<BaseId>;
    /// Where this store announces its commits to the log.
    fn change_feed(&self) -> &ChangeFeed;
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn kinds_round_trip_by_name() {
        for k in ChangeKind::ALL {
            assert_eq!(ChangeKind::parse(k.as_str()), Some(k));
            assert_eq!(serde_json::to_value(k).unwrap(), json!(k.as_str()));
        }
        assert_eq!(ChangeKind::parse("record.moved"), None);
    }

    #[test]
    fn an_update_keeps_only_the_cells_that_differ() {
        let (a, b, c) = (FieldId::new(), FieldId::new(), FieldId::new());
        let before: Cells = [(a.to_string(), json!(1)), (b.to_string(), json!("x"))]
            .into_iter()
            .collect();
        let after_cells: Cells = [(a.to_string(), json!(2)), (c.to_string(), json!(true))]
            .into_iter()
            .chain([(b.to_string(), json!("x"))])
            .collect();
        let record = Record {
            id: RecordId::new(),
            table_id: TableId::new(),
            cells: after_cells,
            autonumber: 1,
            created_by: None,
            updated_by: None,
            created_time: chrono::Utc::now(),
            updated_time: chrono::Utc::now(),
            deleted_time: None,
        };
        let ch = NewChange::record_updated(&before, &record);
        let mut want = vec![a, c];
        want.sort_by(|x, y| x.as_str().cmp(y.as_str()));
        assert_eq!(ch.changed_fields, Some(want));
        assert_eq!(ch.before, Some(json!({a.to_string(): 1})));
        assert_eq!(
            ch.after,
            Some(json!({a.to_string(): 2, c.to_string(): true}))
        );
    }
}
