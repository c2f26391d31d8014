//! Query planning: from a table's fields, a view's configuration and a
//! client's request to the [`RecordQuery`] a store runs, with no I/O.
//!
//! The rules, each tested below:
//! - **Filter**: the view's filter AND the request's (either alone if only
//!   one is given; a `null` request filter is no filter). A view filter that
//!   no longer fits the table is an error on `view`.
//! - **Sort**: the request's sort if it gives one (not `null`), else the
//!   view's, else none; stores always end the order with the record id
//!   ascending, so the order is total (the cursor carries that id).
//! - **Page size**: [`DEFAULT_PAGE_SIZE`] unless given; 1 to
//!   [`MAX_PAGE_SIZE`].
//! - **Cursor**: valid only for the query that made it: the fingerprint of
//!   table, `include_deleted`, filter and sort must match, and it holds one
//!   value per sort key.
//! - **Projection**: the fields the request names (by name or id), else the
//!   view's visible fields when it hides some, else every field.
//!
//! - **Formula**: a `formula` filter is checked against the fields; its
//!   exact part joins the filter (AND), its record ids and residual stay in
//!   [`QueryPlan::formula`] for the caller; the cursor fingerprint covers
//!   the formula too.
//!
//! - **Computing fields**: a filter (view, request or formula) that reads a
//!   field whose cells are still being filled in the background (`status:
//!   computing`) is refused with a 409 `conflict` naming the field, rather
//!   than answering from the cells filled so far.
//!
//! Errors come in this order: view filter, request filter, formula,
//! computing fields, sort, page size, cursor, projection.

use serde_json::Value;

use super::Snapshot;
use super::{
    Cursor, DEFAULT_PAGE_SIZE, Filter, FilterSpec, MAX_PAGE_SIZE, RecordPage, RecordQuery,
    SortDirection, SortKey, SortSpec, Target, ViewConfig, find_field, fingerprint, resolve_filter,
    resolve_sort,
};
use crate::error::{Error, Result};
use crate::formula::{FormulaFilter, check, plan_filter as plan_formula};
use crate::ids::{FieldId, TableId, ViewId};
use crate::limits::Limits;
use crate::model::{Field, FieldStatus, Timestamp, View};

/// What a client asks of one page of records.
#[derive(Debug, Clone, Copy, Default)]
pub struct PageRequest<'a> {
    /// Filter JSON; `None` or `null` for none.
    pub filter: Option<&'a Value>,
    /// Sort JSON; `None` or `null` for the view's.
    pub sort: Option<&'a Value>,
    /// Only these fields (names or ids).
    pub fields: Option<&'a [String]>,
    /// Records per page.
    pub page_size: Option<usize>,
    /// The previous page's `next_cursor`.
    pub cursor: Option<&'a str>,
    /// Include soft-deleted records.
    pub include_deleted: bool,
    /// A filter in the formula language (`None` or empty for none), ANDed
    /// with the others.
    pub formula: Option<&'a str>,
    /// The request's instant, read by `NOW()` and `TODAY()` in `formula`.
    pub now: Timestamp,
}

/// A planned page: the store query, its cursor fingerprint and the fields
/// the page shows.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryPlan {
    /// What the store runs.
    pub query: RecordQuery,
    /// The fingerprint every cursor of this query carries.
    pub shape: u64,
    /// The fields to show, by id (`None`: all of them).
    pub projection: Option<Vec<FieldId>>,
    /// The formula filter; its SQL part is already in `query.filter`, its
    /// record ids and residual are for the caller to apply.
    pub formula: Option<FormulaFilter>,
    /// The snapshot the walk reads ([`Snapshot`]): the first page's instant
    /// on a first page until its records are read (then the log's seq
    /// read with them: [`QueryPlan::settle`]), the cursor's on the others
    /// (`None` for a cursor minted without one, and for pages with deleted
    /// records). Every cursor of the walk carries it.
    pub snapshot: Option<Snapshot>,
}

impl QueryPlan {
    /// Settles a first page's snapshot at `log_seq`, the log's newest seq
    /// read with its records ([`RecordPage::log_seq`]), so the walk's
    /// cursors carry the position the page's records were read at; no
    /// change without one (the walk then stands at the page's instant).
    pub fn settle(&mut self, log_seq: Option<i64>) {
        if let (Some(Snapshot::At(_)), Some(seq)) = (self.snapshot, log_seq) {
            self.snapshot = Some(Snapshot::Seq(seq));
            self.query.log_seq = false;
        }
    }

    /// The cursor of the page after `page` (`None` on the last page).
    pub fn next_cursor(&self, page: &RecordPage) -> Option<String> {
        let last = page.records.last().filter(|_| page.has_more)?;
        Some(Cursor::at(&self.query.sort, last, self.shape, self.snapshot).encode())
    }
}

/// The view of `views` whose id or name is `key`; an error on `view` if
/// none is.
pub fn find_view<'v>(views: &'v [View], key: &str) -> Result<&'v View> {
    ViewId::parse(key)
        .ok()
        .and_then(|id| views.iter().find(|x| x.id == id))
        .or_else(|| views.iter().find(|x| x.name == key))
        .ok_or_else(|| Error::invalid("view", format!("a view of this table, {key:?} is not one")))
}

/// Plans one page of `table` (whose fields are `fields`), seen through
/// `view` if the request names one; see the module's rules.
pub fn plan(
    table: TableId,
    fields: &[Field],
    view: Option<&ViewConfig>,
    req: &PageRequest<'_>,
    limits: &Limits,
) -> Result<QueryPlan> {
    let mut filter = plan_filter(fields, view, req.filter, limits)?;
    let formula = match req.formula.filter(|f| !f.trim().is_empty()) {
        None => None,
        Some(text) => Some(plan_formula(check(text, fields)?, fields, req.now, limits)),
    };
    refuse_computing(fields, filter.as_ref(), formula.as_ref())?;
    let sort = plan_sort(fields, view, req.sort)?;
    let limit = page_size(req.page_size)?;
    // The formula's stored text, not its lowered filter: constants such as
    // NOW() fold differently on every page.
    let stored = formula
        .as_ref()
        .map(|f| f.checked.stored())
        .unwrap_or_default();
    let shape = fingerprint(
        &format!("{table}|{}|{stored}", req.include_deleted),
        filter.as_ref(),
        &sort,
    );
    if let Some(sql) = formula.as_ref().and_then(|f| f.sql.clone()) {
        filter = Some(match filter {
            None => sql,
            Some(Filter::And(mut parts)) => {
                parts.push(sql);
                Filter::And(parts)
            }
            Some(other) => Filter::And(vec![other, sql]),
        });
    }
    let after = match req.cursor {
        None => None,
        Some(c) => Some(
            Cursor::decode(c)
                .filter(|c| c.query == shape && c.values.len() == sort.len())
                .ok_or_else(|| {
                    Error::invalid(
                        "cursor",
                        "a next_cursor returned by this same query (a cursor ends when a \
                         field the query filters or sorts by changes: start again from the \
                         first page)",
                    )
                })?,
        ),
    };
    let projection = projection(fields, view, req.fields)?;
    let snapshot = match &after {
        _ if req.include_deleted => None,
        None => Some(Snapshot::At(req.now.timestamp_millis())),
        Some(c) => c.snapshot,
    };
    // A walk's first page reads where it stands in the log with its
    // records.
    let log_seq = after.is_none() && matches!(snapshot, Some(Snapshot::At(_)));
    Ok(QueryPlan {
        query: RecordQuery {
            table_id: table,
            filter,
            sort,
            after,
            limit,
            include_deleted: req.include_deleted,
            log_seq,
        },
        shape,
        projection,
        formula,
        snapshot,
    })
}

/// Refuses a filter (the view's, the request's or the formula's) on a
/// field whose cells are still being filled in the background (`status:
/// computing`): it would silently see only the cells filled so far. 409
/// `conflict` naming the field; the same filter succeeds once the field
/// reads `ready`. Sorting on such a field is allowed (every record is
/// returned; cells not yet filled sort as empty).
fn refuse_computing(
    fields: &[Field],
    filter: Option<&Filter>,
    formula: Option<&FormulaFilter>,
) -> Result<()> {
    if !fields.iter().any(|f| f.status == FieldStatus::Computing) {
        return Ok(());
    }
    let mut read: Vec<FieldId> = Vec::new();
    if let Some(f) = filter {
        filter_targets(f, &mut read);
    }
    if let Some(f) = formula {
        read.extend(f.checked.referenced_field_ids.iter().copied());
    }
    match fields
        .iter()
        .find(|f| f.status == FieldStatus::Computing && read.contains(&f.id))
    {
        None => Ok(()),
        Some(f) => Err(Error::Conflict {
            field: f.name.clone(),
            message: format!(
                "field {:?} is computing (status: computing): its cells are being filled in \
                 the background, so a filter on it would miss records; retry when the field \
                 reads \"ready\"",
                f.name
            ),
        }),
    }
}

/// The fields whose cells `filter` reads.
fn filter_targets(filter: &Filter, out: &mut Vec<FieldId>) {
    match filter {
        Filter::And(parts) | Filter::Or(parts) => {
            for p in parts {
                filter_targets(p, out);
            }
        }
        Filter::Not(inner) => filter_targets(inner, out),
        Filter::Cond(c) => {
            if let Target::Cell { field, .. } = c.target {
                out.push(field);
            }
        }
    }
}

/// The view's filter AND the request's.
fn plan_filter(
    fields: &[Field],
    view: Option<&ViewConfig>,
    requested: Option<&Value>,
    limits: &Limits,
) -> Result<Option<Filter>> {
    let mut parts: Vec<Filter> = Vec::new();
    if let Some(vf) = view.and_then(|v| v.filter.as_ref()) {
        let spec = FilterSpec::from_json_within(vf, limits)?;
        parts.push(resolve_filter(&spec, fields).map_err(|e| {
            Error::invalid(
                "view",
                format!("the view's filter no longer fits the table: {e}"),
            )
        })?);
    }
    if let Some(f) = requested.filter(|f| !f.is_null()) {
        parts.push(resolve_filter(
            &FilterSpec::from_json_within(f, limits)?,
            fields,
        )?);
    }
    Ok(match parts.len() {
        0 => None,
        1 => parts.pop(),
        _ => Some(Filter::And(parts)),
    })
}

/// The request's sort, else the view's.
fn plan_sort(
    fields: &[Field],
    view: Option<&ViewConfig>,
    requested: Option<&Value>,
) -> Result<Vec<SortKey>> {
    match requested.filter(|s| !s.is_null()) {
        Some(s) => Ok(resolve_sort(&SortSpec::from_json(s)?, fields)?),
        None => {
            let specs: Vec<SortSpec> = view
                .map(|v| {
                    v.sort
                        .iter()
                        .map(|s| SortSpec {
                            field: s.field.to_string(),
                            desc: s.direction == SortDirection::Desc,
                        })
                        .collect()
                })
                .unwrap_or_default();
            Ok(resolve_sort(&specs, fields)?)
        }
    }
}

/// The page size asked for, checked.
fn page_size(requested: Option<usize>) -> Result<usize> {
    let limit = requested.unwrap_or(DEFAULT_PAGE_SIZE);
    if limit == 0 || limit > MAX_PAGE_SIZE {
        return Err(Error::invalid(
            "page_size",
            format!("1 to {MAX_PAGE_SIZE}, got {limit}"),
        ));
    }
    Ok(limit)
}

/// The fields a page shows.
fn projection(
    fields: &[Field],
    view: Option<&ViewConfig>,
    requested: Option<&[String]>,
) -> Result<Option<Vec<FieldId>>> {
    match requested {
        Some(names) => names
            .iter()
            .map(|n| {
                find_field(fields, n).map(|f| f.id).ok_or_else(|| {
                    Error::invalid(
                        "fields",
                        format!("names of the table's fields, {n:?} is not one"),
                    )
                })
            })
            .collect::<Result<Vec<_>>>()
            .map(Some),
        None => Ok(view.filter(|v| !v.hidden_fields.is_empty()).map(|v| {
            fields
                .iter()
                .map(|f| f.id)
                .filter(|id| !v.hidden_fields.contains(id))
                .collect()
        })),
    }
}

#[cfg(test)]
mod tests;
