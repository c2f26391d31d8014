//! Records and attachments.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;

use super::computed::{FillQueue, FillStep};
use super::{SchemaStore, TableAccess};
use crate::error::{StoreError, StoreResult};
use crate::ids::{AttachmentId, FieldId, RecordId, TableId, UserId, WorkspaceId};
use crate::model::{Attachment, Cells, Field, Record, Timestamp};
use crate::query::{RawRecordPage, RecordPage, RecordQuery};
use crate::role::Role;

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
    /// Replace all cells with `set` instead of merging: every cell, those
    /// of derived fields included (the recompute then writes the valid
    /// ones again). The facade's replace (`PUT`) does not use it: it
    /// unsets the writable fields it does not set, so derived cells stay.
    pub replace: bool,
}

/// The positions of `patches` in rounds that each name a record at most
/// once, in order: a record's first patch is in the first round, its
/// second in the second, and so on. A store applies a batch round by
/// round in its one transaction, recomputing derived cells and logging
/// events after each, so a record patched twice gets two events, each
/// with the derived cells its patch left (API.md: "each as that patch left
/// it"). Without a repeated record, one round of every position.
pub fn patch_rounds(patches: &[RecordPatch]) -> Vec<Vec<usize>> {
    let mut seen: std::collections::HashMap<RecordId, usize> =
        std::collections::HashMap::with_capacity(patches.len());
    let mut rounds: Vec<Vec<usize>> = Vec::new();
    for (i, p) in patches.iter().enumerate() {
        let n = seen.entry(p.id).or_insert(0);
        if rounds.len() <= *n {
            rounds.push(Vec::new());
        }
        rounds[*n].push(i);
        *n += 1;
    }
    rounds
}

/// What an upsert did to one input record.
#[derive(Debug, Clone, PartialEq)]
pub struct UpsertOutcome {
    /// The record as stored afterwards.
    pub record: Record,
    /// `true` if it was created, `false` if an existing one was updated.
    pub created: bool,
}

/// The version of a table's fields as a backend keys it (opaque to core:
/// equal keys mean the same field rows at the same version).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldsVersion(pub Arc<[String]>);

impl FieldsVersion {
    /// The version of a backend that counts changes to a table's fields.
    pub fn counter(n: i64) -> Self {
        Self(Arc::from([n.to_string()]))
    }

    /// Whether this is [`FieldsVersion::counter`]`(n)`, without building it.
    pub fn is_counter(&self, n: i64) -> bool {
        matches!(&*self.0, [one] if one.parse::<i64>().ok() == Some(n))
    }
}

/// A table's fields as a store last read them, held in memory by the store.
#[derive(Debug, Clone, PartialEq)]
pub struct CachedFields {
    /// The table's workspace (a table never changes workspace).
    pub workspace_id: WorkspaceId,
    /// The fields by position, as read at `version`.
    pub fields: Arc<[Field]>,
    /// The version they were read at.
    pub version: FieldsVersion,
}

/// The conditions of [`RecordsStore::update_record_guarded`] and
/// [`RecordsStore::query_records_guarded`]: the write or read happens only
/// while they all still hold.
#[derive(Debug, Clone, PartialEq)]
pub struct UpdateGuard {
    /// The acting user.
    pub user: UserId,
    /// The roles in the table's workspace that may make the write (the
    /// caller has already applied its own limits, such as key scopes).
    pub roles: Vec<Role>,
    /// The fields the patch was validated against; the table's current
    /// fields must still be these.
    pub fields: CachedFields,
    /// Cells (by field id) the record must hold right before the write,
    /// `Value::Null` for an empty cell; empty for no such condition. A
    /// caller that read a cell, computed its new value and writes it with
    /// the value it read here gets a compare-and-set: the write happens
    /// only if no other writer (of any process) changed the cell meanwhile.
    /// Writes only: [`RecordsStore::query_records_guarded`] ignores it.
    pub cells: Cells,
}

impl UpdateGuard {
    /// Whether `current` (a record's cells) holds every cell of
    /// [`UpdateGuard::cells`] (`Null` there: the cell is absent or null).
    pub fn cells_hold(&self, current: &Cells) -> bool {
        self.cells
            .iter()
            .all(|(field, expected)| match current.get(field) {
                None | Some(Value::Null) => expected.is_null(),
                Some(v) => v == expected,
            })
    }
}

/// The lock that [`RecordsStore::update_record_guarded`]'s default takes
/// around the compare and the write of a guard with cells: one of 64, by
/// record id.
fn default_cas_lock(record: RecordId) -> &'static tokio::sync::Mutex<()> {
    use std::hash::{Hash, Hasher};
    static LOCKS: std::sync::LazyLock<Vec<tokio::sync::Mutex<()>>> =
        std::sync::LazyLock::new(|| (0..64).map(|_| tokio::sync::Mutex::new(())).collect());
    let mut h = std::collections::hash_map::DefaultHasher::new();
    record.as_str().hash(&mut h);
    let i = usize::try_from(h.finish() % 64).unwrap_or(0);
    &LOCKS[i]
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
    /// The records of `table` among `ids` (any order; ids that name no
    /// record, or a soft-deleted one without `include_deleted`, are
    /// skipped). The default reads them one by one with
    /// [`RecordsStore::get_record`], a few at a time; backends may override
    /// it with one read.
    async fn get_records(
        &self,
        table: TableId,
        ids: &[RecordId],
        include_deleted: bool,
    ) -> StoreResult<Vec<Record>> {
        use futures::stream::{self, StreamExt, TryStreamExt};
        let found: Vec<Option<Record>> = stream::iter(ids.iter().copied())
            .map(|id| async move {
                match self.get_record(table, id, include_deleted).await {
                    Ok(r) => Ok(Some(r)),
                    Err(StoreError::NotFound { .. }) => Ok(None),
                    Err(e) => Err(e),
                }
            })
            .buffered(8)
            .try_collect()
            .await?;
        Ok(found.into_iter().flatten().collect())
    }
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
    /// The fields of `table` as this store holds them in memory, without any
    /// I/O; `None` if it holds none (the default: stores without a cache).
    /// Backends keep them in a [`super::FieldsCache`] keyed by their own
    /// [`FieldsVersion`].
    /// Callers validate against them only together with
    /// [`RecordsStore::update_record_guarded`], which checks they are current.
    fn cached_fields(&self, table: TableId) -> Option<CachedFields> {
        let _ = table;
        None
    }
    /// Applies one patch like [`RecordsStore::update_records`], but only if
    /// the live record exists, `guard.user`'s role in the table's workspace
    /// is one of `guard.roles` and the table's fields are still
    /// `guard.fields`. Returns `None`, with nothing changed, when any of these
    /// does not hold (including an absent table); callers then take the path
    /// that reports why.
    ///
    /// This is the write with a precondition of the facade's one
    /// record-write pipeline: `Some` is "applied", `None` is "stale".
    ///
    /// The default reads [`SchemaStore::table_access`] (and the record when
    /// `guard.cells` is not empty), compares, then calls
    /// [`RecordsStore::update_records`]. Its compare-and-set of
    /// `guard.cells` holds only among the guarded writes of this process
    /// (they take a lock per record); both backends override it with one
    /// statement (PostgreSQL) or one write transaction (SQLite) that checks
    /// and writes, atomic against every writer of every process.
    async fn update_record_guarded(
        &self,
        table: TableId,
        patch: &RecordPatch,
        guard: &UpdateGuard,
        at: Timestamp,
        by: Option<UserId>,
    ) -> StoreResult<Option<Record>> {
        if !guard_admits(self, table, guard).await? {
            return Ok(None);
        }
        // A compare-and-set needs the compare and the write together: here
        // only a lock of this process holds them so (see above).
        let _held = if guard.cells.is_empty() {
            None
        } else {
            Some(default_cas_lock(patch.id).lock().await)
        };
        if !guard.cells.is_empty() {
            match self.get_record(table, patch.id, false).await {
                Ok(r) if guard.cells_hold(&r.cells) => {}
                Ok(_) | Err(StoreError::NotFound { .. }) => return Ok(None),
                Err(e) => return Err(e),
            }
        }
        match self
            .update_records(table, std::slice::from_ref(patch), at, by)
            .await
        {
            Ok(mut records) => Ok(records.pop()),
            Err(StoreError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }
    /// Creates records like [`RecordsStore::create_records`], but only if
    /// `guard.user`'s role in the table's workspace is one of `guard.roles`
    /// and the table's fields are still `guard.fields` (`guard.cells` is
    /// ignored). Returns `None`, with nothing written, when either does not
    /// hold (including an absent table); callers then take the path that
    /// reports why.
    ///
    /// The default reads [`SchemaStore::table_access`], compares, then
    /// calls [`RecordsStore::create_records`]; SQLite overrides it with one
    /// write transaction that checks and writes.
    async fn create_records_guarded(
        &self,
        table: TableId,
        records: &[NewRecord],
        guard: &UpdateGuard,
    ) -> StoreResult<Option<Vec<Record>>> {
        if !guard_admits(self, table, guard).await? {
            return Ok(None);
        }
        self.create_records(table, records).await.map(Some)
    }
    /// For each input record, in order and in one transaction: the live record
    /// whose cells of `merge_on` equal the input's (absent equals absent) is
    /// merged with the input's cells (with `replace`, its cells become the
    /// input's, as [`RecordPatch::replace`]); with no match the input is
    /// created (taking its id, `created_time` and the next autonumber).
    /// Several matches answer `Conflict { entity: "record", field:
    /// "merge_on" }` with nothing changed. Merge fields are never
    /// list-valued.
    async fn upsert_records(
        &self,
        table: TableId,
        merge_on: &[FieldId],
        records: &[NewRecord],
        replace: bool,
        at: Timestamp,
        by: Option<UserId>,
    ) -> StoreResult<Vec<UpsertOutcome>>;
    /// The live records of `table` each of `keys` matches as
    /// [`Self::upsert_records`] matches an input (`keys[i]` holds input
    /// `i`'s cells of `merge_on`; absent equals absent), at most two a key
    /// (two: the upsert would refuse it), in the order of `keys`. A checked
    /// upsert reads them before it makes anything for the write (records
    /// for typecast link names), so that what the write would refuse is
    /// refused before.
    async fn upsert_matches(
        &self,
        table: TableId,
        merge_on: &[FieldId],
        keys: &[Cells],
    ) -> StoreResult<Vec<Vec<RecordId>>>;
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
    /// [`RecordsStore::query_records`], but only if `guard` holds (the
    /// user's role is one of `guard.roles` and the table's fields are still
    /// `guard.fields`), checked in the same round trip; `None` (nothing
    /// read) otherwise, and the caller takes its checked path. The default
    /// always answers `None`: a store whose access read costs no round trip
    /// gains nothing from it.
    async fn query_records_guarded(
        &self,
        query: &RecordQuery,
        guard: &UpdateGuard,
    ) -> StoreResult<Option<RecordPage>> {
        let _ = (query, guard);
        Ok(None)
    }
    /// [`RecordsStore::query_records`] with each record's cells left as the
    /// stored JSON text, for a page written out without building its cells
    /// as values. `None` if the store does not offer it (the default); the
    /// caller then reads the page with [`RecordsStore::query_records`].
    async fn query_records_raw(&self, query: &RecordQuery) -> StoreResult<Option<RawRecordPage>> {
        let _ = query;
        Ok(None)
    }
    /// Which of `ids` are live records of `table` (any order).
    async fn live_record_ids(&self, table: TableId, ids: &[RecordId])
    -> StoreResult<Vec<RecordId>>;
    /// Every stored cell of one field, soft-deleted records included.
    async fn field_cells(
        &self,
        table: TableId,
        field: FieldId,
    ) -> StoreResult<Vec<(RecordId, Value)>>;

    /// The reverse index of links: the records of `table` (soft-deleted
    /// ones included) whose cell of link field `field` holds one of
    /// `targets`, as `(target, source)` pairs ordered by target, then
    /// source. Kept in the same transaction as every write of link cells;
    /// backends answer from an index (SQLite: `record_links`; PostgreSQL:
    /// the GIN index on cells), never by reading every cell.
    ///
    /// The default reads every cell of the field.
    async fn records_linking_to(
        &self,
        table: TableId,
        field: FieldId,
        targets: &[RecordId],
    ) -> StoreResult<Vec<(RecordId, RecordId)>> {
        let mut out: Vec<(RecordId, RecordId)> = Vec::new();
        for (source, cell) in self.field_cells(table, field).await? {
            for target in super::links::link_ids(Some(&cell)) {
                if targets.contains(&target) {
                    out.push((target, source));
                }
            }
        }
        out.sort();
        out.dedup();
        Ok(out)
    }

    /// Recomputes the derived cells (formula, lookup, rollup, count) of the
    /// first `limit` live records of `table` after `after` in id order, and
    /// of every record depending on them, in one transaction of its own
    /// (`pybase_core::store::computed::recompute`); answers the last id of
    /// the chunk, `None` when no record was left. Filling a new computed
    /// field calls it chunk by chunk, so no transaction is long.
    async fn recompute_records(
        &self,
        table: TableId,
        after: Option<RecordId>,
        limit: usize,
    ) -> StoreResult<Option<RecordId>>;

    /// Whether `table` holds more than `n` live records (a new computed
    /// field on a larger table is filled in the background).
    async fn live_records_exceed(&self, table: TableId, n: usize) -> StoreResult<bool>;

    /// Queues the background fill of `table` (issue 12), in one
    /// transaction: `fields` read `computing` from now on, and the table's
    /// fill starts from its first record when none is queued; one already
    /// queued is treated as `how` says ([`FillQueue`]: starts over, keeps
    /// its resume point and asks for another pass, or is kept as it is).
    async fn queue_fill(
        &self,
        table: TableId,
        fields: &[FieldId],
        how: FillQueue,
        now: Timestamp,
    ) -> StoreResult<()>;

    /// Takes the lease of one queued fill that no other owner holds in
    /// time (free, expired, or already `owner`'s) until `until`; answers
    /// its table, `None` when no fill is waiting.
    async fn claim_fill(
        &self,
        owner: &str,
        now: Timestamp,
        until: Timestamp,
    ) -> StoreResult<Option<TableId>>;

    /// One step of `table`'s fill, in one transaction of its own, if
    /// `owner` still holds its lease: recomputes (from the rows as they
    /// are in this transaction) the next `limit` live records after the
    /// resume point and moves it past them, extending the lease to
    /// `until`. When no record is left in the pass: if another pass was
    /// asked for meanwhile ([`FillQueue::Again`]) the resume point goes
    /// back to the first record and the request is cleared
    /// ([`FillStep::Pass`], the lease extended); else the fill ends and
    /// the table's `computing` fields turn `ready` ([`FillStep::Done`]),
    /// in the same transaction either way.
    async fn fill_chunk(
        &self,
        table: TableId,
        owner: &str,
        limit: usize,
        until: Timestamp,
    ) -> StoreResult<FillStep>;

    /// Turns `fields` of `table` `ready` (a computing field that stopped
    /// being computed) and ends the table's fill when none of its fields
    /// is `computing` any more (one was deleted); answers whether a fill
    /// ended.
    async fn settle_fill(&self, table: TableId, fields: &[FieldId]) -> StoreResult<bool>;

    /// Inserts attachment metadata; `NotFound` if the table is absent.
    async fn create_attachment(&self, attachment: &Attachment) -> StoreResult<()>;
    /// Attachment metadata by id; `NotFound` if absent.
    async fn get_attachment(&self, id: AttachmentId) -> StoreResult<Attachment>;
    /// Attachments by id, any order; missing ids are skipped.
    async fn get_attachments(&self, ids: &[AttachmentId]) -> StoreResult<Vec<Attachment>>;
}

/// Whether `guard` still holds for `table`, read as the default guarded
/// writes do (a separate read before the write): the user's role is one
/// of `guard.roles`, and the table's workspace and fields are the ones
/// the caller validated against. An absent table does not hold.
async fn guard_admits<S: SchemaStore + ?Sized>(
    store: &S,
    table: TableId,
    guard: &UpdateGuard,
) -> StoreResult<bool> {
    let access = match store.table_access(table, guard.user).await {
        Ok(a) => a,
        Err(StoreError::NotFound { .. }) => return Ok(false),
        Err(e) => return Err(e),
    };
    Ok(access.role.is_some_and(|r| guard.roles.contains(&r))
        && access.table.workspace_id == guard.fields.workspace_id
        && access.fields == guard.fields.fields)
}
