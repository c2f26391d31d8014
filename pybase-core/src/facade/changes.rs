//! The change log through the permission rules: catch-up pages, live
//! subscriptions, a record's history and revert.
//!
//! Subscriptions never trust a wake-up for completeness: a wake-up (a
//! commit of this process, announced by the store, or of another instance,
//! relayed by the embedding program through [`Pybase::remote_changes`])
//! only makes them read the log after their cursor, and they also read it
//! every [`POLL_EVERY`] without one.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::broadcast;

use super::Pybase;
use super::inputs::{CellsInput, WriteOptions};
use super::render::{FieldKey, RecordOut};
use crate::error::{Error, Result};
use crate::ids::{BaseId, RecordId, TableId};
use crate::principal::Principal;
use crate::role::Action;
use crate::store::{ChangeEvent, ChangeFeed, ChangeKind, Committed};

/// Default number of events in a page.
pub const DEFAULT_CHANGES_PAGE: usize = 100;
/// Largest page of events a client may ask for.
pub const MAX_CHANGES_PAGE: usize = 1000;
/// How often a subscription reads the log without a wake-up.
pub const POLL_EVERY: Duration = Duration::from_secs(5);
/// How long a subscription goes on one check that its principal may read
/// the base: an event read after that is preceded by a new check, so a
/// removed member's stream ends within this time.
const RECHECK_EVERY: Duration = Duration::from_secs(5);
/// How long a subscription waits before reading the log again after the
/// database was unavailable.
const UNAVAILABLE_RETRY: Duration = Duration::from_millis(500);
/// Events a subscription reads from the log at once.
const SUBSCRIPTION_BATCH: usize = 500;

/// A page of a base's change log.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangesOut {
    /// Events after the cursor, in order.
    pub items: Vec<ChangeEvent>,
    /// The cursor of the next page (the seq of the last item) when more
    /// events exist now; `None` when the caller is up to date.
    pub next_cursor: Option<i64>,
    /// The newest seq of the base.
    pub last_seq: i64,
}

/// A page of one record's history, newest first.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryOut {
    /// The record's events, newest first.
    pub items: Vec<ChangeEvent>,
    /// Pass as `cursor` for older events; `None` on the last page.
    pub next_cursor: Option<i64>,
}

fn page_size(asked: Option<usize>) -> Result<usize> {
    let size = asked.unwrap_or(DEFAULT_CHANGES_PAGE);
    if !(1..=MAX_CHANGES_PAGE).contains(&size) {
        return Err(Error::invalid(
            "page_size",
            format!("a number from 1 to {MAX_CHANGES_PAGE}, got {size}"),
        ));
    }
    Ok(size)
}

fn cursor(name: &str, after: i64) -> Result<i64> {
    if after < 0 {
        return Err(Error::invalid(
            name,
            format!("a sequence number of 0 or more, got {after}"),
        ));
    }
    Ok(after)
}

impl Pybase {
    /// Events of `base` after `after` (0: from the start), in order (viewer
    /// and above; a non-member gets `NotFound`). `Gone` when events after
    /// `after` are no longer kept; a validation error on `after` when it is
    /// beyond the log's newest seq: no such event was ever given out (a
    /// cursor from another base, or from before the database was restored
    /// from an older backup), and accepting it would silently skip every
    /// event up to it.
    pub async fn changes_since(
        &self,
        principal: &Principal,
        base: BaseId,
        after: i64,
        page: Option<usize>,
    ) -> Result<ChangesOut> {
        let after = cursor("after", after)?;
        let size = page_size(page)?;
        let scope = self.base_for(principal, base, Action::Read).await?;
        let page = self
            .store
            .changes_since(scope.base().id, after, size)
            .await?;
        if after > page.last_seq {
            return Err(Error::invalid(
                "after",
                format!(
                    "a seq of this base's log, 0 to its newest ({}), got {after}",
                    page.last_seq
                ),
            ));
        }
        let next_cursor = page
            .events
            .last()
            .map(|e| e.seq)
            .filter(|&seq| seq < page.last_seq);
        Ok(ChangesOut {
            items: page.events,
            next_cursor,
            last_seq: page.last_seq,
        })
    }

    /// Follows `base`'s log from after `after`: each event once, in order,
    /// as it commits (viewer and above; checked now and again every so
    /// often while it runs).
    pub async fn subscribe_changes(
        &self,
        principal: &Principal,
        base: BaseId,
        after: i64,
    ) -> Result<ChangeSubscription> {
        let after = cursor("after", after)?;
        self.base_for(principal, base, Action::Read).await?;
        // Listening before the first read: a commit after that read is
        // announced to this listener.
        Ok(ChangeSubscription {
            local: self.store.change_feed().listen(),
            remote: self.remote.listen(),
            pybase: self.clone(),
            principal: principal.clone(),
            base,
            after,
            buffer: VecDeque::new(),
            checked: Instant::now(),
            tail: self.change_tails.of(base),
        })
    }

    /// Where an embedding program relays commits made by other instances
    /// sharing the database (for example from Redis pub/sub), to wake this
    /// instance's subscriptions early.
    pub fn remote_changes(&self) -> &ChangeFeed {
        &self.remote
    }

    /// Commits of this instance as they happen (wake-ups only: read the log
    /// with [`Pybase::changes_since`] for the events), for relaying them to
    /// other instances.
    pub fn local_changes(&self) -> broadcast::Receiver<Committed> {
        self.store.change_feed().listen()
    }

    /// Removes the events made before `cutoff` from every base's log
    /// (maintenance: no principal; run by the program that owns the store).
    pub async fn prune_changes(&self, cutoff: crate::model::Timestamp) -> Result<u64> {
        Ok(self.store.prune_changes(cutoff).await?)
    }

    /// The events of one record, newest first, older than `before` when
    /// given (a previous page's `next_cursor`); viewer and above.
    pub async fn record_history(
        &self,
        principal: &Principal,
        table: TableId,
        record: RecordId,
        before: Option<i64>,
        page: Option<usize>,
    ) -> Result<HistoryOut> {
        let size = page_size(page)?;
        let before = before.map(|b| cursor("cursor", b)).transpose()?;
        let scope = self.table_for(principal, table, Action::Read).await?;
        let mut items = self
            .store
            .record_changes(scope.id(), record, before, size + 1)
            .await?;
        if items.is_empty() && before.is_none() {
            // No event: a record this table never had (or whose history
            // was pruned while it still exists).
            self.store
                .get_record(scope.id(), record, true)
                .await
                .map_err(|e| super::not_found_as(e, "record"))?;
        }
        let more = items.len() > size;
        items.truncate(size);
        let next_cursor = if more {
            items.last().map(|e| e.seq)
        } else {
            None
        };
        Ok(HistoryOut { items, next_cursor })
    }

    /// Puts a record's cells back as they were right after its event `seq`,
    /// clearing cells set later, as a new update (editor and above). Cells
    /// of fields deleted since, or computed, are left out. `NotFound` if
    /// `seq` is not an event of that record; `Gone` if events after it
    /// were pruned.
    pub async fn revert_record(
        &self,
        principal: &Principal,
        table: TableId,
        record: RecordId,
        seq: i64,
        key: FieldKey,
    ) -> Result<RecordOut> {
        let seq = cursor("seq", seq)?;
        let (scope, fields, current) = self
            .record_for(principal, table, record, Action::WriteRecords)
            .await?;
        // Walks back from the current cells, undoing each later event.
        let mut cells = current.cells.clone();
        let mut before = None;
        let mut found = false;
        'pages: loop {
            let events = self
                .store
                .record_changes(scope.id(), record, before, SUBSCRIPTION_BATCH)
                .await?;
            let Some(last) = events.last() else {
                break;
            };
            before = Some(last.seq);
            for e in &events {
                if e.seq <= seq {
                    found = e.seq == seq;
                    break 'pages;
                }
                undo(&mut cells, e);
            }
        }
        if !found {
            return Err(Error::NotFound {
                entity: "event of this record",
            });
        }
        let input: CellsInput = fields
            .iter()
            .filter(|f| !f.field_type.is_computed())
            .filter_map(|f| {
                cells
                    .get(f.id.as_str())
                    .map(|v| (f.id.to_string(), v.clone()))
            })
            .collect();
        self.update_record(
            principal,
            scope.id(),
            record,
            input,
            WriteOptions {
                typecast: false,
                field_key: key,
            },
            true,
        )
        .await
    }
}

/// Undoes one logged update on `cells` (other kinds change no cell).
fn undo(cells: &mut crate::model::Cells, e: &ChangeEvent) {
    if e.kind != ChangeKind::RecordUpdated {
        return;
    }
    let before = e.before.as_ref().and_then(Value::as_object);
    for f in e.changed_fields.iter().flatten() {
        match before.and_then(|b| b.get(f.as_str())) {
            Some(v) => {
                cells.insert(f.to_string(), v.clone());
            }
            None => {
                cells.remove(f.as_str());
            }
        }
    }
}

/// A live follow of one base's log: see [`Pybase::subscribe_changes`].
#[derive(Debug)]
pub struct ChangeSubscription {
    pybase: Pybase,
    principal: Principal,
    base: BaseId,
    after: i64,
    buffer: VecDeque<ChangeEvent>,
    local: broadcast::Receiver<Committed>,
    remote: broadcast::Receiver<Committed>,
    checked: Instant,
    /// The base's read shared by its subscriptions.
    tail: std::sync::Arc<super::change_tail::Tail>,
}

impl ChangeSubscription {
    /// The seq of the last event returned (or the starting cursor).
    pub fn cursor(&self) -> i64 {
        self.after
    }

    /// The next event, waiting until one commits (and while the database
    /// is unavailable). Errors: `Gone` if the cursor fell behind the
    /// retention, `NotFound` if the principal lost access, other store
    /// failures.
    pub async fn next(&mut self) -> Result<ChangeEvent> {
        loop {
            if let Some(e) = self.buffer.pop_front() {
                self.after = e.seq;
                return Ok(e);
            }
            match self.next_now().await {
                Ok(Some(e)) => return Ok(e),
                Ok(None) => self.wait().await,
                // The database is briefly out of reach (a full pool under
                // load, a restart): the log will still be there.
                Err(Error::Unavailable(why)) => {
                    tracing::debug!(error = %why, "change subscription: retrying the log");
                    tokio::time::sleep(UNAVAILABLE_RETRY).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// The next event if one has committed, without waiting.
    pub async fn next_now(&mut self) -> Result<Option<ChangeEvent>> {
        if let Some(e) = self.buffer.pop_front() {
            self.after = e.seq;
            return Ok(Some(e));
        }
        if self.checked.elapsed() >= RECHECK_EVERY {
            // Shared with the base's other subscriptions of the same
            // principal: a commit wakes them all at once.
            let (pybase, principal, base) = (&self.pybase, &self.principal, self.base);
            self.checked = self
                .tail
                .checked_access(principal, RECHECK_EVERY, || async move {
                    pybase
                        .base_for(principal, base, Action::Read)
                        .await
                        .map(drop)
                })
                .await?;
        }
        // Behind the tail: read the log from its own cursor. The read runs
        // as a task of its own: a subscriber that goes away
        // (an SSE client disconnecting) drops this future, and dropping a
        // store read in the middle of its transaction could hand its
        // connection back to the pool still inside that transaction.
        // Up to date with the base's shared tail: take its events (one
        // read per commit for all of the base's subscriptions).
        if let Some(events) = self
            .tail
            .next(&self.pybase.store, self.after, SUBSCRIPTION_BATCH)
            .await?
        {
            self.buffer.extend(events);
            return Ok(self.buffer.pop_front().inspect(|e| self.after = e.seq));
        }
        let store = std::sync::Arc::clone(&self.pybase.store);
        let (base, after) = (self.base, self.after);
        let page =
            tokio::spawn(async move { store.changes_since(base, after, SUBSCRIPTION_BATCH).await })
                .await
                .map_err(|e| Error::Internal(Box::new(e)))??;
        self.buffer.extend(page.events);
        Ok(self.buffer.pop_front().inspect(|e| self.after = e.seq))
    }

    /// Waits for a wake-up about this base (or any missed wake-up), or
    /// [`POLL_EVERY`].
    async fn wait(&mut self) {
        let base = self.base;
        let after = self.after;
        let relevant = |r: std::result::Result<Committed, broadcast::error::RecvError>| match r {
            Ok(c) => c.base == base && c.last_seq > after,
            // Missed announcements (or none will come): read the log.
            Err(_) => true,
        };
        let deadline = tokio::time::Instant::now() + POLL_EVERY;
        loop {
            tokio::select! {
                r = self.local.recv() => if relevant(r) { return },
                r = self.remote.recv() => if relevant(r) { return },
                () = tokio::time::sleep_until(deadline) => return,
            }
        }
    }
}
