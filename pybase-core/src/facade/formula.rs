//! Formulas through the facade: the check endpoint's answer, and the pages
//! of a `formula=` filter whose residual runs in Rust.
//!
//! A planned formula filter ([`crate::formula::plan_filter`]) has already
//! put its exact part into the store query. What is left runs here:
//! - record ids (`OR(RECORD_ID()='rec…', …)`): the records are read by id,
//!   then the store query's filter ([`eval::matches`], the reference every
//!   store agrees with), the residual, the order and the cursor are applied
//!   in Rust;
//! - otherwise the store's pages are read in keyset order, in chunks that
//!   grow to [`MAX_PAGE_SIZE`], and the residual keeps or drops each record
//!   until the page is full, examining at most [`crate::Limits::formula_scan`]
//!   records before answering 422.
//!
//! A residual that reads link fields loads the linked records' primary
//! values per chunk (at most a tenth of the scan budget per page, else
//! 422).

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use super::Pybase;
use super::snapshots::Changed;
use crate::error::{Error, Result, StoreError};
use crate::fields::Reference;
use crate::formula::{FormulaFilter, LinkTitles, ResultType, Value, check, record_value};
use crate::ids::{FieldId, RecordId, TableId};
use crate::model::{Field, Record};
use crate::principal::Principal;
use crate::query::plan::QueryPlan;
use crate::query::{Cursor, MAX_PAGE_SIZE, RecordPage, eval};
use crate::role::Action;

/// What `POST /tables/{id}/formula/check` answers.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FormulaCheck {
    /// What the formula computes.
    pub result_type: ResultType,
    /// Every field the formula reads, in order of first appearance.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub referenced_field_ids: Vec<FieldId>,
}

/// The primary field of each linked table, loaded once per request.
type Primaries = HashMap<TableId, Option<Field>>;

impl Pybase {
    /// Checks `formula` against the fields of `table` (viewer and above):
    /// its result type and the fields it reads, or
    /// [`Error::InvalidFormula`] with the position of the problem.
    pub async fn check_formula(
        &self,
        principal: &Principal,
        table: TableId,
        formula: &str,
    ) -> Result<FormulaCheck> {
        let (_, fields) = self
            .table_fields_for(principal, table, Action::Read)
            .await?;
        let checked = check(formula, &fields)?;
        Ok(FormulaCheck {
            result_type: checked.result_type,
            referenced_field_ids: checked.referenced_field_ids,
        })
    }

    /// The page of `plan`, whose formula filter has record ids or a
    /// residual; `source_chars` is the formula's length, for the error.
    /// A page of a walk (`changed`: its table's records changed since its
    /// snapshot) places them as they were then (`snapshots`). Answers the
    /// next page's cursor too.
    pub(super) async fn formula_page(
        &self,
        fields: &[Field],
        plan: &QueryPlan,
        formula: &FormulaFilter,
        source_chars: usize,
        changed: Option<&mut Changed>,
    ) -> Result<(RecordPage, Option<String>)> {
        let table = plan.query.table_id;
        let mut residual = Residual {
            scan: Scan::new(fields, formula, self.limits.formula_scan / 10, source_chars),
            examined: 0,
            budget: self.limits.formula_scan,
        };
        let limit = plan.query.limit;
        let budget = self.limits.formula_scan;
        if let Some(ids) = &formula.ids {
            if ids.len() > budget {
                return Err(over_budget(ids.len(), budget, source_chars));
            }
            let records = self
                .store
                .get_records(table, ids, plan.query.include_deleted)
                .await?;
            // Each record with where it stood at the walk's snapshot.
            let mut rows: Vec<(Record, Record)> = match changed {
                Some(changed) => self.as_they_were(changed, records).await?,
                None => records.into_iter().map(|r| (r.clone(), r)).collect(),
            };
            let placed: Vec<Record> = rows.iter().map(|(then, _)| then.clone()).collect();
            self.load_titles(&mut residual.scan, &placed).await?;
            rows.retain(|(then, _)| {
                plan.query
                    .filter
                    .as_ref()
                    .is_none_or(|f| eval::matches(f, then))
                    && residual.scan.keeps(then)
            });
            rows.sort_by(|a, b| eval::compare_records(&plan.query.sort, &a.0, &b.0));
            if let Some(after) = &plan.query.after {
                rows.retain(|(then, _)| {
                    eval::is_after(&plan.query.sort, &after.values, &after.id, then)
                });
            }
            let has_more = rows.len() > limit;
            rows.truncate(limit);
            let next = rows
                .last()
                .filter(|_| has_more)
                .map(|(then, _)| Cursor::at(&plan.query.sort, then, plan.shape, plan.snapshot));
            let records = rows.into_iter().map(|(_, now)| now).collect();
            return Ok((
                RecordPage {
                    records,
                    has_more,
                    log_seq: None,
                },
                next.map(|c| c.encode()),
            ));
        }
        if let Some(changed) = changed {
            return self.snapshot_page(plan, changed, Some(&mut residual)).await;
        }
        let scan = &mut residual.scan;
        let mut query = plan.query.clone();
        let mut chunk = (limit + 1).min(MAX_PAGE_SIZE);
        let mut kept: Vec<Record> = Vec::with_capacity(limit);
        let mut examined = 0usize;
        loop {
            query.limit = chunk;
            let page = self.store.query_records(&query).await?;
            self.load_titles(scan, &page.records).await?;
            let position = page
                .records
                .last()
                .map(|last| Cursor::at(&query.sort, last, plan.shape, None));
            for r in page.records {
                examined += 1;
                if scan.keeps(&r) {
                    if kept.len() == limit {
                        return Ok(paged(plan, kept, true));
                    }
                    kept.push(r);
                }
            }
            let Some(position) = position.filter(|_| page.has_more) else {
                return Ok(paged(plan, kept, false));
            };
            if examined >= budget {
                if kept.len() == limit {
                    // The page is full; whether more follow is left to the
                    // next page's request.
                    return Ok(paged(plan, kept, true));
                }
                return Err(over_budget(examined, budget, source_chars));
            }
            query.after = Some(position);
            chunk = (chunk * 2).min(MAX_PAGE_SIZE);
        }
    }

    /// Loads the primary values of the records that `records`' link cells
    /// (of the fields the formula reads) point at and `scan` lacks.
    async fn load_titles(&self, scan: &mut Scan<'_>, records: &[Record]) -> Result<()> {
        for (field, linked) in scan.links.clone() {
            let mut missing: Vec<RecordId> = Vec::new();
            let mut seen = HashSet::new();
            for r in records {
                let Some(serde_json::Value::Array(items)) = r.cells.get(field.as_str()) else {
                    continue;
                };
                for id in items.iter().filter_map(|i| i.as_str()) {
                    if let Ok(id) = RecordId::parse(id)
                        && !scan.titles.contains_key(&id)
                        && !scan.gone.contains(&id)
                        && seen.insert(id)
                    {
                        missing.push(id);
                    }
                }
            }
            if missing.is_empty() {
                continue;
            }
            if scan.titles.len() + missing.len() > scan.max_titles {
                return Err(Error::InvalidFormula {
                    message: format!(
                        "This formula filter reads more than {} linked records for one page: filter on other fields first, or ask for a smaller page",
                        scan.max_titles
                    ),
                    start: 0,
                    end: scan.source_chars,
                });
            }
            let primary = match scan.primaries.get(&linked) {
                Some(p) => p.clone(),
                None => {
                    let p = self.primary_field(linked).await?;
                    scan.primaries.insert(linked, p.clone());
                    p
                }
            };
            for r in self.store.get_records(linked, &missing, false).await? {
                let title = primary
                    .as_ref()
                    .map_or(Value::Blank, |p| record_value(p, &r, &LinkTitles::new()));
                scan.titles.insert(r.id, title);
            }
            // Not found: soft-deleted (left out of the link's value).
            for id in missing {
                if !scan.titles.contains_key(&id) {
                    scan.gone.insert(id);
                }
            }
        }
        Ok(())
    }

    /// The primary field of `table` (its first field if none is set);
    /// `None` if the table is gone.
    pub(super) async fn primary_field(&self, table: TableId) -> Result<Option<Field>> {
        let t = match self.store.get_table(table).await {
            Ok(t) => t,
            Err(StoreError::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let mut fields = self.store.list_fields(table).await?;
        fields.sort_by_key(|f| f.position);
        Ok(t.primary_field_id
            .and_then(|id| fields.iter().find(|f| f.id == id).cloned())
            .or_else(|| fields.into_iter().next()))
    }
}

/// The state of one formula page.
struct Scan<'a> {
    by_id: HashMap<FieldId, &'a Field>,
    /// The link fields the formula reads, with their linked tables.
    links: Vec<(FieldId, TableId)>,
    titles: LinkTitles,
    /// Linked records not found (soft-deleted): left out of link values.
    gone: HashSet<RecordId>,
    primaries: Primaries,
    formula: &'a FormulaFilter,
    /// Most linked records whose primary values one page may load (a
    /// tenth of the scan budget: each is a read).
    max_titles: usize,
    /// The formula's length, for the error.
    source_chars: usize,
}

impl<'a> Scan<'a> {
    fn new(
        fields: &'a [Field],
        formula: &'a FormulaFilter,
        max_titles: usize,
        source_chars: usize,
    ) -> Self {
        Self {
            by_id: fields.iter().map(|f| (f.id, f)).collect(),
            links: link_fields(fields, formula),
            titles: LinkTitles::new(),
            gone: HashSet::new(),
            primaries: Primaries::new(),
            formula,
            max_titles,
            source_chars,
        }
    }

    fn keeps(&self, r: &Record) -> bool {
        self.formula.residual.iter().all(|e| {
            crate::formula::keeps_indexed(e, r, &self.by_id, &self.titles, self.formula.now)
        })
    }
}

/// A formula filter's residual as a walk's page applies it (`snapshots`):
/// records kept or dropped in order, the linked records' primary values
/// loaded as they are needed, at most `budget` store rows examined.
pub(super) struct Residual<'a> {
    scan: Scan<'a>,
    /// Store rows examined so far.
    examined: usize,
    budget: usize,
}

impl Residual<'_> {
    /// Counts `n` more store rows examined: an error once over the budget
    /// while the page is not full (`full`).
    pub(super) fn examined(&mut self, n: usize, full: bool) -> Result<()> {
        self.examined += n;
        if self.examined >= self.budget && !full {
            return Err(over_budget(
                self.examined,
                self.budget,
                self.scan.source_chars,
            ));
        }
        Ok(())
    }

    /// Whether the budget is spent (a full page then stops reading).
    pub(super) fn spent(&self) -> bool {
        self.examined >= self.budget
    }
}

impl Pybase {
    /// `records` less those `residual` drops (their link titles loaded
    /// first).
    pub(super) async fn residual_keeps(
        &self,
        residual: &mut Residual<'_>,
        mut records: Vec<Record>,
    ) -> Result<Vec<Record>> {
        self.load_titles(&mut residual.scan, &records).await?;
        records.retain(|r| residual.scan.keeps(r));
        Ok(records)
    }
}

/// A page of `records` and its next cursor.
fn paged(plan: &QueryPlan, records: Vec<Record>, has_more: bool) -> (RecordPage, Option<String>) {
    let page = RecordPage {
        records,
        has_more,
        log_seq: None,
    };
    let next = plan.next_cursor(&page);
    (page, next)
}

fn link_fields(fields: &[Field], formula: &FormulaFilter) -> Vec<(FieldId, TableId)> {
    if formula.residual.is_empty() {
        return Vec::new();
    }
    fields
        .iter()
        .filter(|f| formula.checked.referenced_field_ids.contains(&f.id))
        .filter_map(|f| match f.field_type.references() {
            Some(Reference::Records(t)) => Some((f.id, t)),
            _ => None,
        })
        .collect()
}

fn over_budget(examined: usize, budget: usize, source_chars: usize) -> Error {
    Error::InvalidFormula {
        message: format!(
            "This formula filter examined {examined} records without filling the page (at most {budget} per request): add a condition the database can index, such as a field compared with a constant, or use a filter"
        ),
        start: 0,
        end: source_chars,
    }
}
