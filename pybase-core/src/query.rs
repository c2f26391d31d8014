//! The query model: filters, sorts and cursor pages.
//!
//! Clients write filters and sorts by field name ([`FilterSpec`],
//! [`SortSpec`]); core resolves them against a table's fields into
//! [`Filter`] and [`SortKey`], checking every operator against the field type
//! and normalising every operand as a cell of that field. Stores compile the
//! resolved form to SQL; [`eval`] is the in-memory reference every store must
//! agree with.
//!
//! # Semantics every store implements
//! - Empty cells are absent from [`crate::model::Cells`] (writes never store
//!   `""`, `[]`, `false` or `null`). A [`crate::fields::ValueKind::Bool`] cell that is
//!   absent is `false`.
//! - Every condition is two-valued: an empty cell makes `eq`, `lt`, `lte`,
//!   `gt`, `gte`, `contains`, `starts_with`, `in`, `has_any` and `has_all`
//!   false, and `neq` and `not_contains` true.
//! - Text compares by bytes (dates and datetimes are stored so byte order is
//!   time order). `contains`, `not_contains` and `starts_with` ignore ASCII
//!   case only. Numbers compare numerically.
//! - A list cell is empty unless it is an array holding an item that is not
//!   null. `has_any` / `has_all` compare each wanted text with the items'
//!   text forms ([`eval::list_item_text`]: strings as they are, numbers in
//!   canonical JSON text, booleans as `true` / `false`); other items match
//!   nothing. Stores find a number item numerically ([`eval::ListWanted`]).
//! - Sorts order by each key in turn, empty cells last in either direction,
//!   then by record id ascending, so the order is total and stable.

mod cursor;
pub mod eval;
mod filter;
mod list_page;
pub mod plan;
mod resolve;
mod sort;

pub use cursor::{Cursor, Snapshot, SortValue};
pub use filter::{Condition, Filter, FilterSpec, Op, Operand, Target};
pub use list_page::{
    DEFAULT_LIST_PAGE_SIZE, LIST_CURSOR_PATTERN, ListPage, Listed, MAX_LIST_PAGE_SIZE, page_list,
};
pub use resolve::{
    FieldIndex, QueryError, find_field, fingerprint, resolve_filter, resolve_sort, target_of,
};
pub use sort::{SortDirection, SortKey, SortSpec, StoredSort, ViewConfig};

use crate::ids::TableId;
use crate::model::Record;

/// Default number of records in a page.
pub const DEFAULT_PAGE_SIZE: usize = 100;
/// Largest page a client may ask for.
pub const MAX_PAGE_SIZE: usize = 1000;

/// A resolved query handed to [`crate::store::RecordsStore::query_records`].
#[derive(Debug, Clone, PartialEq)]
pub struct RecordQuery {
    /// The table to read.
    pub table_id: TableId,
    /// Records must match this, if set.
    pub filter: Option<Filter>,
    /// Sort keys, applied before the final tie-break by record id.
    pub sort: Vec<SortKey>,
    /// Return only records strictly after this position in the order.
    pub after: Option<Cursor>,
    /// At most this many records (1..=[`MAX_PAGE_SIZE`]).
    pub limit: usize,
    /// Include soft-deleted records.
    pub include_deleted: bool,
    /// Also read the newest seq of the table's base's change log, in the
    /// same snapshot as the records ([`RecordPage::log_seq`]): the
    /// position in the log a walk's first page stands at.
    pub log_seq: bool,
}

/// One page of a query's results.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordPage {
    /// The records, in the query's order.
    pub records: Vec<Record>,
    /// Whether more records follow the last one.
    pub has_more: bool,
    /// The newest seq of the base's change log when the records were read
    /// (read with them), if the query asked ([`RecordQuery::log_seq`])
    /// and the store keeps a log.
    pub log_seq: Option<i64>,
}

/// A record as the store read it, its cells still the stored JSON object's
/// text: a page rendered straight from the text parses no cell into a
/// [`serde_json::Value`] (see
/// [`crate::store::RecordsStore::query_records_raw`]).
#[derive(Debug, Clone, PartialEq)]
pub struct RawRecord {
    /// The record's columns; its `cells` are left empty.
    pub record: Record,
    /// The cells: one JSON object keyed by field id.
    pub cells: String,
}

/// [`RecordPage`] of [`RawRecord`]s.
#[derive(Debug, Clone, PartialEq)]
pub struct RawRecordPage {
    /// The records, in the query's order.
    pub records: Vec<RawRecord>,
    /// Whether more records follow the last one.
    pub has_more: bool,
    /// As [`RecordPage::log_seq`].
    pub log_seq: Option<i64>,
}
