//! Records and attachments.

use async_trait::async_trait;
use serde_json::Value;

use super::{SchemaStore, TableAccess};
use crate::error::{StoreError, StoreResult};
use crate::ids::{AttachmentId, FieldId, RecordId, TableId, UserId};
use crate::model::{Attachment, Cells, Record, Timestamp};
use crate::query::{RecordPage, RecordQuery};

/// A record to insert (already validated by core).
#[derive(Debug, Clone, PartialEq)]
pub struct NewRecord {
    /// Its id (time-ordered, made by core).
    pub id: RecordId,
    /// Its non-empty cells by field id.
    pub cells: Cells,
    /// The creating user.
    pub created_by: Option<UserId>,
    /// Creation time; also its first `updated_time`.
    pub created_time: Timestamp,
}

/// A change to one record (already validated by core).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RecordPatch {
    /// The record.
    pub id: RecordId,
    /// Cells to set.
    pub set: Cells,
    /// Cells to remove.
    pub unset: Vec<FieldId>,
    /// Replace all cells with `set` instead of merging.
    pub replace: bool,
}

/// What an upsert did to one input record.
#[derive(Debug, Clone, PartialEq)]
pub struct UpsertOutcome {
    /// The record as stored afterwards.
    pub record: Record,
    /// `true` if it was created, `false` if an existing one was updated.
    pub created: bool,
}

/// Records and attachment metadata.
///
/// Batches are all-or-nothing. Merges happen inside the database (never
/// read-modify-write in Rust), so two concurrent patches of different cells
/// of one record both survive.
#[async_trait]
pub trait RecordsStore: SchemaStore + Send + Sync {
    /// Inserts records in one transaction, giving each the next autonumber of
    /// the table (in input order); `updated_time` = `created_time`,
    /// `updated_by` = `created_by`. Returns them in input order.
    /// `NotFound` if the table is absent.
    async fn create_records(
        &self,
        table: TableId,
        records: &[NewRecord],
    ) -> StoreResult<Vec<Record>>;
    /// A record of `table`; soft-deleted ones only with `include_deleted`.
    async fn get_record(
        &self,
        table: TableId,
        id: RecordId,
        include_deleted: bool,
    ) -> StoreResult<Record>;
    /// [`SchemaStore::table_access`] together with the live record `id` of
    /// that table (`None` if there is none), as one consistent read: a point
    /// read in one round trip. `NotFound` only if the table is absent.
    ///
    /// The default calls the two methods; backends override it.
    async fn record_access(
        &self,
        table: TableId,
        id: RecordId,
        user: UserId,
    ) -> StoreResult<(TableAccess, Option<Record>)> {
        let access = self.table_access(table, user).await?;
        let record = match self.get_record(table, id, false).await {
            Ok(r) => Some(r),
            Err(StoreError::NotFound { .. }) => None,
            Err(e) => return Err(e),
        };
        Ok((access, record))
    }
    /// Applies patches in one transaction, merging inside the database, and
    /// sets `updated_time`/`updated_by`. `NotFound` naming the first missing
    /// or soft-deleted id, with nothing changed. Returns records in input order.
    async fn update_records(
        &self,
        table: TableId,
        patches: &[RecordPatch],
        at: Timestamp,
        by: Option<UserId>,
    ) -> StoreResult<Vec<Record>>;
    /// For each input record, in order and in one transaction: the live record
    /// whose cells of `merge_on` equal the input's (absent equals absent) is
    /// merged with the input's cells; with no match the input is created
    /// (taking its id, `created_time` and the next autonumber). Several
    /// matches answer `Conflict { entity: "record", field: "merge_on" }` with
    /// nothing changed. Merge fields are never list-valued.
    async fn upsert_records(
        &self,
        table: TableId,
        merge_on: &[FieldId],
        records: &[NewRecord],
        at: Timestamp,
        by: Option<UserId>,
    ) -> StoreResult<Vec<UpsertOutcome>>;
    /// Soft-deletes records in one transaction; `NotFound` naming the first
    /// missing or already deleted id, with nothing changed.
    async fn delete_records(
        &self,
        table: TableId,
        ids: &[RecordId],
        at: Timestamp,
    ) -> StoreResult<()>;
    /// Undoes a soft delete (a live record is returned unchanged);
    /// `NotFound` if absent.
    async fn restore_record(&self, table: TableId, id: RecordId) -> StoreResult<Record>;
    /// A page of records in the order described in [`crate::query`].
    async fn query_records(&self, query: &RecordQuery) -> StoreResult<RecordPage>;
    /// Which of `ids` are live records of `table` (any order).
    async fn live_record_ids(&self, table: TableId, ids: &[RecordId])
    -> StoreResult<Vec<RecordId>>;
    /// Every stored cell of one field, soft-deleted records included.
    async fn field_cells(
        &self,
        table: TableId,
        field: FieldId,
    ) -> StoreResult<Vec<(RecordId, Value)>>;

    /// Inserts attachment metadata; `NotFound` if the table is absent.
    async fn create_attachment(&self, attachment: &Attachment) -> StoreResult<()>;
    /// Attachment metadata by id; `NotFound` if absent.
    async fn get_attachment(&self, id: AttachmentId) -> StoreResult<Attachment>;
    /// Attachments by id, any order; missing ids are skipped.
    async fn get_attachments(&self, ids: &[AttachmentId]) -> StoreResult<Vec<Attachment>>;
}
