//! Background fills of computed fields (issue 12, API.md `status`).
//!
//! A new or changed computed field on a table of more than
//! [`crate::Limits::compute_inline_records`] live records is not filled in
//! the request: the field is saved with `status: computing` (its cells read
//! as empty) and the store queues the table's fill (`compute_fills`, with
//! its resume point, so it survives a restart). [`Pybase::run_compute_fills`]
//! runs the queued fills: it takes a fill's lease in the database (so with
//! several server instances one runs it, and another takes over when the
//! lease of a stopped one expires), then recomputes the table chunk by
//! chunk, [`COMPUTE_CHUNK_RECORDS`] records per transaction, each chunk
//! from the rows as they are in its own transaction and moving the resume
//! point in that same transaction; the last one turns the table's
//! `computing` fields `ready`. A record written meanwhile gets its value
//! from its write's own recompute (a computing field is computed by writes
//! like any other), and a chunk never writes a value older than the row it
//! reads. Changing the field again restarts the fill from the first
//! record (every cell must be computed under the new definition:
//! [`FillQueue::Restart`]); deleting it ends the fill when no other field
//! of the table is computing.
//!
//! A fill goes in passes. A write handing part of its fan-out to the fill
//! of a table ([`crate::store::computed::ComputeTx::queue_fill`]) only
//! changed data: a pass under way keeps its resume point, and another pass
//! is asked for ([`FillQueue::Again`]). When a pass reaches the last
//! record and another was asked for, the next starts from the first
//! record ([`FillStep::Pass`]: the records behind the resume point that
//! changed are recomputed by it); when none was, the fill ends. So every
//! pass completes even under a steady stream of such writes (starting
//! over at each one, a pass never would), and the fill ends after the
//! first pass during which none arrived.
//!
//! Queuing a fill starts [`Pybase::run_compute_fills`] in a task of this
//! process ([`Pybase::with_background_fills`] turns that off); the server
//! also calls it at start and every few seconds (taking over the fills of
//! stopped instances); an embedding program may call it when it likes.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::JoinHandle;

use super::Pybase;
use super::authz::TableScope;
use super::computed::COMPUTE_CHUNK_RECORDS;
use crate::error::Result;
use crate::ids::{FieldId, TableId};
use crate::model::FieldStatus;
use crate::store::acting;
use crate::store::computed::{FillQueue, FillStep};

/// How long a fill's lease lasts without a chunk renewing it (another
/// instance may take the fill over after that).
pub(crate) const FILL_LEASE: Duration = Duration::from_secs(60);

/// The derived field types (those a fill computes).
const DERIVED_TYPES: [&str; 4] = ["formula", "lookup", "rollup", "count"];

/// The state a [`Pybase`] and its clones share for fills.
#[derive(Debug)]
pub(crate) struct Fills {
    /// This process's name on leases.
    owner: String,
    /// One runner at a time in this process.
    running: tokio::sync::Mutex<()>,
    /// Whether fields left `computing` without a queued fill (a crash
    /// between saving a field and queuing its fill) were queued again.
    swept: AtomicBool,
    /// Runners started by queuing (awaited by `flush_background`).
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl Default for Fills {
    fn default() -> Self {
        Self {
            owner: format!(
                "pybase-{}-{:016x}",
                std::process::id(),
                rand::random::<u64>()
            ),
            running: tokio::sync::Mutex::new(()),
            swept: AtomicBool::new(false),
            tasks: Mutex::new(Vec::new()),
        }
    }
}

/// The shared fill state of a [`Pybase`] and its clones.
pub(crate) type SharedFills = Arc<Fills>;

fn lease_end(now: crate::model::Timestamp) -> crate::model::Timestamp {
    now + chrono::Duration::from_std(FILL_LEASE).unwrap_or(chrono::Duration::MAX)
}

impl Pybase {
    /// Whether a queued fill starts at once in a task of this process
    /// (default `true`). With `false` fills wait for
    /// [`Pybase::run_compute_fills`] (tests, or a program running its own
    /// worker).
    pub fn with_background_fills(mut self, on: bool) -> Self {
        self.fills_in_background = on;
        self
    }

    /// Whether a new or changed computed field of `table` is filled in the
    /// background (the table holds more than
    /// [`crate::Limits::compute_inline_records`] live records).
    pub(crate) async fn fills_in_background(&self, table: &TableScope) -> Result<bool> {
        Ok(self
            .store
            .live_records_exceed(table.id(), self.limits.compute_inline_records)
            .await?)
    }

    /// Queues (or restarts from the first record) the background fill of
    /// `table` after a schema change (`fields` created or changed, or what
    /// they read through a link: every cell must be computed again, so a
    /// fill under way starts over, [`FillQueue::Restart`]), `fields`
    /// reading `computing` until it is done, and starts it unless
    /// [`Pybase::with_background_fills`] said otherwise.
    pub(crate) async fn queue_fill(&self, table: &TableScope, fields: &[FieldId]) -> Result<()> {
        acting(
            table.user(),
            self.store
                .queue_fill(table.id(), fields, FillQueue::Restart, self.clock.now()),
        )
        .await?;
        self.start_fills();
        Ok(())
    }

    /// Ends the fill of `table` for `fields` that are no longer computed
    /// (retyped to a stored type) or deleted (`fields` empty): they read
    /// `ready`, and the fill stops when no field of the table is
    /// computing.
    pub(crate) async fn settle_fill(&self, table: &TableScope, fields: &[FieldId]) -> Result<()> {
        acting(table.user(), self.store.settle_fill(table.id(), fields)).await?;
        Ok(())
    }

    /// Runs `work` (record writes) within the fan-out limit
    /// ([`crate::Limits::compute_fanout_records`]); starts the fills when
    /// a recompute handed work to them.
    pub(crate) async fn fanning<F: std::future::Future>(&self, work: F) -> F::Output {
        let (out, handed_off) =
            crate::store::computed::with_fan_out(self.limits.compute_fanout_records, work).await;
        if handed_off {
            self.start_fills();
        }
        out
    }

    /// Starts [`Pybase::run_compute_fills`] in a task, if fills run in the
    /// background and a runtime is at hand.
    fn start_fills(&self) {
        if self.fills_in_background {
            self.spawn_fills();
        }
    }

    /// Runs [`Pybase::run_compute_fills`] in a task of the current runtime
    /// (none without one).
    fn spawn_fills(&self) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let pb = self.clone();
        let task = runtime.spawn(async move {
            if let Err(e) = pb.run_compute_fills().await {
                tracing::warn!(error = %e, "background fill of computed fields failed");
            }
        });
        if let Ok(mut tasks) = self.fills.tasks.lock() {
            tasks.retain(|t| !t.is_finished());
            tasks.push(task);
        }
    }

    /// Starts the queued fills in a task (see [`Pybase::run_compute_fills`]):
    /// for programs that open a store whose fills a previous run left
    /// unfinished. Needs a Tokio runtime; does nothing without one.
    pub fn resume_compute_fills(&self) {
        self.spawn_fills();
    }

    /// Runs the queued background fills of computed fields until none is
    /// left that another instance does not hold (see the module
    /// documentation); answers how many fills it finished. One runner at
    /// a time per process (a second call waits for the first). Fills act
    /// for no user (the change log records no actor). At the end of a
    /// pass that another follows, the runner claims again (it still holds
    /// the lease), so the fills queued longer go first.
    pub async fn run_compute_fills(&self) -> Result<usize> {
        let _one = self.fills.running.lock().await;
        if !self.fills.swept.swap(true, Ordering::SeqCst)
            && let Err(e) = self.requeue_interrupted().await
        {
            self.fills.swept.store(false, Ordering::SeqCst);
            return Err(e);
        }
        let owner = self.fills.owner.as_str();
        let mut finished = 0;
        loop {
            let now = self.clock.now();
            let Some(table) = self.store.claim_fill(owner, now, lease_end(now)).await? else {
                return Ok(finished);
            };
            loop {
                let until = lease_end(self.clock.now());
                match self
                    .store
                    .fill_chunk(table, owner, COMPUTE_CHUNK_RECORDS, until)
                    .await?
                {
                    FillStep::More => tokio::task::yield_now().await,
                    FillStep::Pass => {
                        tracing::debug!(%table, "fill pass done, another one asked for");
                        break;
                    }
                    FillStep::Done => {
                        tracing::info!(%table, "filled computed fields");
                        finished += 1;
                        break;
                    }
                    FillStep::Lost => break,
                }
            }
        }
    }

    /// Queues again (keeping any resume point and any further pass asked
    /// for: [`FillQueue::Keep`]) the fill of every table with a field left
    /// `computing`: a field saved `computing` whose fill was never queued
    /// (the process stopped in between) would read `computing` forever.
    /// Then settles what an earlier version left unset: lookups' item types
    /// ([`Pybase::settle_lookup_item_types`]).
    async fn requeue_interrupted(&self) -> Result<()> {
        let mut tables: BTreeMap<TableId, Vec<FieldId>> = BTreeMap::new();
        for ty in DERIVED_TYPES {
            for f in self.store.fields_of_type(ty).await? {
                if f.status == FieldStatus::Computing {
                    tables.entry(f.table_id).or_default().push(f.id);
                }
            }
        }
        for (table, fields) in tables {
            self.store
                .queue_fill(table, &fields, FillQueue::Keep, self.clock.now())
                .await?;
        }
        self.settle_lookup_item_types().await
    }

    /// The fill tasks started so far (for `flush_background`).
    pub(crate) fn take_fill_tasks(&self) -> Vec<JoinHandle<()>> {
        match self.fills.tasks.lock() {
            Ok(mut t) => t.drain(..).collect(),
            Err(_) => Vec::new(),
        }
    }
}
