//! Indexes chosen from the queries actually run.
//!
//! Every page that filters or sorts by a field PyBase could index (a
//! stored text or number field that is not indexed and whose index was not
//! turned off by hand) counts one use of that field. At
//! [`Limits::auto_index_after`] uses the field is indexed in the
//! background, off the request path, within the table's budget
//! ([`Limits::auto_indexes_per_table`] automatic indexes, and the overall
//! [`Limits::indexed_fields_per_table`]). The field then reads
//! `"indexed": true, "index_origin": "automatic"`; `indexed: false` turns
//! it off for good (`"declined"`). Counts are per server instance and
//! bounded in memory.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::task::JoinHandle;

use super::schema::{auto_indexable, filter_fields};
use crate::Pybase;
use crate::ids::{FieldId, TableId};
use crate::limits::Limits;
use crate::model::{Field, IndexOrigin};
use crate::query::{RecordQuery, Target};

/// Distinct (table, field) pairs counted before the counts start over.
const MAX_COUNTED: usize = 10_000;

/// Query counts per field and the index builds they started.
#[derive(Debug, Default)]
pub(crate) struct AutoIndexer {
    counts: Mutex<HashMap<(TableId, FieldId), u32>>,
    builds: Mutex<Vec<JoinHandle<()>>>,
}

impl AutoIndexer {
    /// Counts one use of each field `query` filters or sorts by; returns
    /// those whose count just reached the threshold.
    fn count(&self, limits: &Limits, fields: &[Field], query: &RecordQuery) -> Vec<FieldId> {
        if limits.auto_index_after == 0 {
            return Vec::new();
        }
        let mut used = Vec::new();
        if let Some(filter) = &query.filter {
            filter_fields(filter, &mut used);
        }
        for key in &query.sort {
            if let Target::Cell { field, .. } = key.target
                && !used.contains(&field)
            {
                used.push(field);
            }
        }
        let candidates = used.into_iter().filter(|id| {
            fields.iter().any(|f| {
                f.id == *id && f.index_origin != IndexOrigin::Declined && auto_indexable(f)
            })
        });
        let Ok(mut counts) = self.counts.lock() else {
            return Vec::new();
        };
        if counts.len() >= MAX_COUNTED {
            counts.clear();
        }
        let mut due = Vec::new();
        for field in candidates {
            let n = counts.entry((query.table_id, field)).or_insert(0);
            *n = n.saturating_add(1);
            if *n == limits.auto_index_after {
                due.push(field);
            }
        }
        due
    }
}

impl Pybase {
    /// Counts the fields a page's query uses and starts the index builds
    /// that are due (see the module documentation).
    pub(crate) fn note_query(&self, fields: &[Field], query: &RecordQuery) {
        let due = self.auto_index.count(&self.limits, fields, query);
        if due.is_empty() {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let table = query.table_id;
        for field in due {
            let pb = self.clone();
            let build = runtime.spawn(async move {
                if let Err(e) = pb.index_automatically(table, field).await {
                    tracing::warn!(%table, %field, error = %e, "automatic index failed");
                }
            });
            if let Ok(mut builds) = self.auto_index.builds.lock() {
                builds.retain(|b| !b.is_finished());
                builds.push(build);
            }
        }
    }

    /// Indexes `field` of `table` if it still may be, within the budgets.
    async fn index_automatically(&self, table: TableId, field: FieldId) -> crate::Result<()> {
        let fields = self.store.list_fields(table).await?;
        let Some(f) = fields.iter().find(|f| f.id == field) else {
            return Ok(());
        };
        if f.index_origin == IndexOrigin::Declined || !auto_indexable(f) {
            return Ok(());
        }
        let indexed = fields.iter().filter(|f| f.indexed).count();
        let automatic = fields
            .iter()
            .filter(|f| f.indexed && f.index_origin == IndexOrigin::Automatic)
            .count();
        if indexed >= self.limits.indexed_fields_per_table
            || automatic >= self.limits.auto_indexes_per_table
        {
            tracing::debug!(%table, %field, "automatic index over budget");
            return Ok(());
        }
        let built = self
            .store
            .index_field_automatically(field, self.clock.now())
            .await?;
        if built {
            tracing::info!(%table, %field, "indexed a field the queries use");
        }
        Ok(())
    }

    /// Waits for the background work started so far (automatic index
    /// builds, fills of computed fields started by this process): for tests, and for programs that embed PyBase and want
    /// that work done before they exit.
    pub async fn flush_background(&self) {
        let mut builds: Vec<JoinHandle<()>> = match self.auto_index.builds.lock() {
            Ok(mut b) => b.drain(..).collect(),
            Err(_) => Vec::new(),
        };
        builds.extend(self.take_fill_tasks());
        for b in builds {
            let _ = b.await;
        }
    }
}

/// The shared state a [`Pybase`] and its clones count in.
pub(crate) type Shared = Arc<AutoIndexer>;
