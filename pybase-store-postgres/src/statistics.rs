//! Planner statistics kept current as records tables grow, off the request
//! path.
//!
//! Each user table's records live in their own `r_<table>` (see
//! [`crate::layout`]), so its statistics are its own, and `ANALYZE` of one
//! such table is cheap (a sample of at most 30,000 rows per column). Left
//! to autovacuum alone they go stale in two ways:
//!
//! - a table that grows from empty keeps the statistics of a few rows (or
//!   none) until autovacuum's next pass reaches it; with them the planner
//!   picks, for a filtered and sorted page, an index on the filter and a
//!   sort of every match, not the walk of the sort's index that stops after
//!   one page (`benches/ANALYSIS.md`, the stale-statistics plan);
//! - with thousands of tables the autovacuum workers (3 by default) fall
//!   behind: after tables were filled they are still analysing them, one at
//!   a time, minutes later, while requests run.
//!
//! So the store counts the rows it writes to each table (inserted and
//! updated, committed) and, once they reach half the rows the table had at
//! its last analysis here (at least [`MIN_ROWS`]), analyses that one table
//! in a background task: the request that crossed the line does not wait,
//! at most one analysis per table runs at a time, and analysing resets
//! autovacuum's own count so it does not analyse the table again. The
//! threshold grows with the table, so a table that only grows is analysed
//! a logarithmic number of times. Autovacuum still covers the rest (its
//! thresholds are per table, see [`crate::layout::create_records_table`]).
//! The counts are per process; several servers on one database each count
//! their own writes, which only makes the analyses earlier.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use pybase_core::ids::TableId;
use sqlx::{AssertSqlSafe, PgPool};

use crate::layout::rel;

/// Rows written to a table before its first analysis by this process is
/// considered (below that, a plan's choice hardly matters).
pub(crate) const MIN_ROWS: u64 = 100;

/// A table is analysed again once the rows written since its last analysis
/// reach this fraction of the rows it had then.
pub(crate) const GROWTH: f64 = 0.5;

/// Tables followed at once; beyond that the counts start over (a process
/// writing to more tables than this only analyses them later).
const MAX_TABLES: usize = 100_000;

/// What this process knows about one table's statistics.
#[derive(Debug, Default, Clone, Copy)]
struct Entry {
    /// Rows written (inserted or updated) since the last analysis.
    written: u64,
    /// The table's row estimate after its last analysis (`None`: not read
    /// yet in this process).
    rows: Option<f64>,
    /// An analysis (or the read of the estimate) is under way.
    running: bool,
}

impl Entry {
    /// Whether the rows written call for a look at the table.
    fn due(&self) -> bool {
        let threshold = match self.rows {
            Some(rows) => (rows.max(0.0) * GROWTH).max(MIN_ROWS as f64),
            None => MIN_ROWS as f64,
        };
        !self.running && self.written as f64 >= threshold
    }
}

/// The per-table counts of one store (shared by its clones).
#[derive(Debug, Default)]
pub(crate) struct Statistics {
    tables: Mutex<HashMap<TableId, Entry>>,
}

/// What a background task is to do for one table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Task {
    /// Read the table's estimate first, analyse only if still due.
    Check,
    /// Analyse now.
    Analyse,
}

impl Statistics {
    fn with<R>(&self, f: impl FnOnce(&mut HashMap<TableId, Entry>) -> R) -> R {
        let mut tables = self.tables.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut tables)
    }

    /// Notes that `rows` rows of `table` were written and committed; when
    /// that makes the table due, analyses it in the background.
    pub(crate) fn wrote(self: &Arc<Self>, pool: &PgPool, table: TableId, rows: usize) {
        if rows == 0 {
            return;
        }
        let task = self.with(|tables| {
            if tables.len() >= MAX_TABLES && !tables.contains_key(&table) {
                tables.clear();
            }
            let e = tables.entry(table).or_default();
            e.written = e.written.saturating_add(rows as u64);
            if !e.due() {
                return None;
            }
            e.running = true;
            Some(if e.rows.is_some() {
                Task::Analyse
            } else {
                Task::Check
            })
        });
        if let Some(task) = task {
            self.spawn(pool, table, task);
        }
    }

    /// Analyses `table` in the background now (after one of its cell
    /// indexes was built: the index's expression gets statistics); if an
    /// analysis is already running, that one is left to finish.
    pub(crate) fn analyse_later(self: &Arc<Self>, pool: &PgPool, table: TableId) {
        let start = self.with(|tables| {
            let e = tables.entry(table).or_default();
            !std::mem::replace(&mut e.running, true)
        });
        if start {
            self.spawn(pool, table, Task::Analyse);
        }
    }

    /// Forgets `table` (its records table was dropped).
    pub(crate) fn forget(&self, table: TableId) {
        self.with(|tables| tables.remove(&table));
    }

    fn spawn(self: &Arc<Self>, pool: &PgPool, table: TableId, task: Task) {
        let this = Arc::clone(self);
        let pool = pool.clone();
        tokio::spawn(async move {
            if let Err(e) = this.run(&pool, table, task).await {
                tracing::debug!(error = %e, table = %table, "background ANALYZE failed");
                // Start over: the table may be gone, or the next write retries.
                this.forget(table);
            }
        });
    }

    async fn run(&self, pool: &PgPool, table: TableId, task: Task) -> Result<(), sqlx::Error> {
        let rel = rel(table).map_err(|e| sqlx::Error::Protocol(e.to_string()))?;
        if task == Task::Check {
            let rows = estimate(pool, &rel).await?;
            let due = self.with(|tables| {
                let e = tables.entry(table).or_default();
                e.rows = Some(rows);
                e.running = false;
                let due = e.due();
                e.running = due;
                due
            });
            if !due {
                return Ok(());
            }
        }
        let written = self.with(|tables| tables.get(&table).map_or(0, |e| e.written));
        sqlx::query(AssertSqlSafe(format!("ANALYZE {rel}")))
            .execute(pool)
            .await?;
        let rows = estimate(pool, &rel).await?;
        self.with(|tables| {
            let e = tables.entry(table).or_default();
            // Rows written while the analysis ran count towards the next.
            e.written = e.written.saturating_sub(written);
            e.rows = Some(rows);
            e.running = false;
        });
        Ok(())
    }
}

/// The planner's row estimate of a records table (0 for one never
/// analysed).
async fn estimate(pool: &PgPool, rel: &str) -> Result<f64, sqlx::Error> {
    let rows: Option<f32> =
        sqlx::query_scalar("SELECT reltuples FROM pg_class WHERE oid = to_regclass($1)")
            .bind(rel)
            .fetch_optional(pool)
            .await?
            .flatten();
    Ok(f64::from(rows.unwrap_or(0.0)).max(0.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_is_due_after_min_rows_then_after_it_grew_by_half() {
        let mut e = Entry {
            written: MIN_ROWS - 1,
            ..Entry::default()
        };
        assert!(!e.due());
        e.written = MIN_ROWS;
        assert!(e.due());
        e.running = true;
        assert!(!e.due(), "one analysis at a time");
        e = Entry {
            written: 499,
            rows: Some(1000.0),
            running: false,
        };
        assert!(!e.due());
        e.written = 500;
        assert!(e.due());
        // A never-analysed table reads -1; small tables still need MIN_ROWS.
        e = Entry {
            written: MIN_ROWS - 1,
            rows: Some(-1.0),
            running: false,
        };
        assert!(!e.due());
    }
}
