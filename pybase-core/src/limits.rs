//! Bounds on the size of what a caller may send, each checked before any
//! work that grows with the input, so one request cannot pin a core.
//!
//! [`crate::Pybase`] holds one [`Limits`] (set with
//! [`crate::Pybase::with_limits`]; the server reads each from the
//! environment variable named in its doc). A request past a limit is a
//! `Validation` error naming the field and the limit.

use serde_json::Value;

use crate::error::{Error, Result};
use crate::fields::FieldType;

/// Input size limits. The defaults suit a shared server; an embedding
/// program may raise them for its own data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Items in one cell: linked record ids, attachments, or multi-select
    /// names (`MAX_CELL_ITEMS`, default 1,000).
    pub cell_items: usize,
    /// Choices of one single- or multi-select field (`MAX_CHOICES`,
    /// default 1,000).
    pub choices: usize,
    /// Fields of one table (`MAX_FIELDS_PER_TABLE`, default 500).
    pub fields_per_table: usize,
    /// Indexed fields of one table (`MAX_INDEXED_FIELDS_PER_TABLE`, default
    /// 20): each costs index entries on every write of that table (two
    /// indexes on PostgreSQL), so they are capped. Views stop adding
    /// automatic indexes at the cap.
    pub indexed_fields_per_table: usize,
    /// Pages that filter or sort by an unindexed text or number field
    /// before PyBase indexes it on its own (`AUTO_INDEX_AFTER`, default 50;
    /// 0 turns automatic indexes off).
    pub auto_index_after: u32,
    /// Automatic indexes of one table (`AUTO_INDEXES_PER_TABLE`, default 5),
    /// within [`Limits::indexed_fields_per_table`].
    pub auto_indexes_per_table: usize,
    /// Conditions and groups in one filter (`MAX_FILTER_NODES`, default 200).
    pub filter_nodes: usize,
    /// Nesting of one filter (`MAX_FILTER_DEPTH`, default 16).
    pub filter_depth: usize,
    /// Values in the lists of one filter, all lists together
    /// (`MAX_FILTER_VALUES`, default 1,000).
    pub filter_values: usize,
    /// Records a `formula=` filter may evaluate in Rust for one page
    /// before the request is refused with 422 (`MAX_FORMULA_SCAN`,
    /// default 50,000).
    pub formula_scan: usize,
    /// Live records of a table up to which a new or changed computed
    /// field is filled inside the request (`COMPUTE_INLINE_MAX_RECORDS`,
    /// default 10,000); a larger table is filled by a background job, the
    /// field reading `status: computing` until it is done.
    pub compute_inline_records: usize,
    /// Records one write's recompute of computed fields may touch
    /// (`COMPUTE_FANOUT_MAX_RECORDS`, default 50,000): past it, beyond the
    /// written records and their direct dependents, the rest is handed to
    /// the background fill (its fields read `computing` until done).
    pub compute_fanout_records: usize,
    /// Events of its base a records walk reads from the change log at most
    /// (default 200,000; docs/API.md, sort): a walk whose base logged more
    /// since its first page is 422 on `cursor` (start again).
    pub walk_changes: usize,
    /// Records of its table a walk places as they were at its first page
    /// at most (those changed since in what it filters or sorts by;
    /// default 50,000): past it, 422 on `cursor`.
    pub walk_moved: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            cell_items: 1000,
            choices: 1000,
            fields_per_table: 500,
            indexed_fields_per_table: 20,
            auto_index_after: 50,
            auto_indexes_per_table: 5,
            filter_nodes: 200,
            filter_depth: 16,
            filter_values: 1000,
            formula_scan: 50_000,
            compute_inline_records: 10_000,
            compute_fanout_records: crate::store::computed::DEFAULT_FAN_OUT,
            walk_changes: 200_000,
            walk_moved: 50_000,
        }
    }
}

impl Limits {
    /// Refuses a cell of `field_type` with more items than
    /// [`Limits::cell_items`], counted on the raw input (a list, or for a
    /// typecast multi-select the comma-separated names of a string) before
    /// it is parsed or deduplicated. `Err` holds what was expected.
    pub fn check_cell(
        &self,
        field_type: &FieldType,
        value: &Value,
    ) -> std::result::Result<(), String> {
        let Some(items) = field_type.kind().raw_items(value) else {
            return Ok(());
        };
        if items > self.cell_items {
            return Err(format!(
                "at most {} items in one cell, got {items}",
                self.cell_items
            ));
        }
        Ok(())
    }

    /// Refuses select options listing more than [`Limits::choices`] choices.
    pub fn check_options(&self, field: &str, options: &Value) -> Result<()> {
        let n = options
            .get("choices")
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        if n > self.choices {
            return Err(Error::invalid(
                field,
                format!("at most {} choices, got {n}", self.choices),
            ));
        }
        Ok(())
    }

    /// Refuses a table that would have more than
    /// [`Limits::indexed_fields_per_table`] indexed fields.
    pub fn check_indexed_count(&self, key: &str, count: usize) -> Result<()> {
        if count > self.indexed_fields_per_table {
            return Err(Error::invalid(
                key,
                format!(
                    "at most {} indexed fields in a table, got {count}",
                    self.indexed_fields_per_table
                ),
            ));
        }
        Ok(())
    }

    /// Refuses a table that would have more than
    /// [`Limits::fields_per_table`] fields.
    pub fn check_field_count(&self, key: &str, count: usize) -> Result<()> {
        if count > self.fields_per_table {
            return Err(Error::invalid(
                key,
                format!(
                    "at most {} fields in a table, got {count}",
                    self.fields_per_table
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::fields::kinds::{Attachment, Link, LongText, MultiSelect};
    use crate::ids::TableId;

    #[test]
    fn cells_are_counted_before_parsing() {
        let l = Limits {
            cell_items: 3,
            ..Limits::default()
        };
        let link = FieldType::Link(Link::to(TableId::new(), true));
        let multi = FieldType::MultiSelect(MultiSelect { choices: vec![] });
        assert!(l.check_cell(&link, &json!(["a", "b", "c"])).is_ok());
        let e = l
            .check_cell(&link, &json!(["a", "b", "c", "d"]))
            .unwrap_err();
        assert_eq!(e, "at most 3 items in one cell, got 4");
        assert!(
            l.check_cell(&FieldType::Attachment(Attachment), &json!([1, 2, 3, 4]))
                .is_err()
        );
        assert!(l.check_cell(&multi, &json!("a,b,c,d")).is_err());
        assert!(l.check_cell(&multi, &json!("a,b,c")).is_ok());
        // Other types are not lists.
        assert!(
            l.check_cell(&FieldType::LongText(LongText), &json!("a,b,c,d,e"))
                .is_ok()
        );
    }

    #[test]
    fn options_and_field_counts_are_bounded() {
        let l = Limits {
            choices: 2,
            fields_per_table: 2,
            ..Limits::default()
        };
        assert!(
            l.check_options("Status", &json!({"choices": ["a", "b"]}))
                .is_ok()
        );
        assert!(
            l.check_options("Status", &json!({"choices": ["a", "b", "c"]}))
                .is_err()
        );
        assert!(l.check_options("Status", &Value::Null).is_ok());
        assert!(l.check_field_count("fields", 2).is_ok());
        assert!(l.check_field_count("fields", 3).is_err());
    }
}
