//! The change log through the permission rules: catch-up pages, live
//! subscriptions, a record's history and revert.
//!
//! Subscriptions never trust a wake-up for completeness: a wake-up (a
//! commit of this process, announced by the store, or of another instance,
//! relayed by the embedding program through [`Pybase::remote_changes`])
//! only makes their base's shared reader (`change_tail`) read the log
//! after what it has read, and it also reads it every [`POLL_EVERY`]
//! without one; a subscription whose cursor is older than what that reader
//! keeps reads the log itself.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{broadcast, watch};

use super::Pybase;
use super::access_epochs::AccessChange;
use super::change_tail::{Confirmed, Progress, Tail, Take};
use super::shared_event::SharedEvent;
use crate::error::{Error, Result};
use crate::ids::{BaseId, RecordId, TableId, WorkspaceId};
use crate::principal::Principal;
use crate::role::Action;
use crate::store::{ChangeEvent, ChangeFeed, Committed};

/// Default number of events in a page.
pub const DEFAULT_CHANGES_PAGE: usize = 100;
/// Largest page of events a client may ask for.
pub const MAX_CHANGES_PAGE: usize = 1000;
/// How often a subscription reads the log without a wake-up.
pub const POLL_EVERY: Duration = Duration::from_secs(5);
/// How long a subscription goes on one check that its principal may read
/// the base: an event read after that is preceded by a new check. An
/// access-changing write through the facade calls for a new check at once
/// (`access_epochs`); this bounds what the facade does not see (a write
/// made in the database directly, a relay message lost between instances).
const RECHECK_EVERY: Duration = Duration::from_secs(5);
/// How long a subscription waits before reading the log again after the
/// database was unavailable.
pub(crate) const UNAVAILABLE_RETRY: Duration = Duration::from_millis(500);
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

/// `after` if it can be a seq (0 or more), else an error naming `name`.
pub(super) fn cursor(name: &str, after: i64) -> Result<i64> {
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
    /// as it commits (viewer and above; checked now, again before the next
    /// event after any access-changing write to the base's workspace made
    /// through this facade or relayed with [`Pybase::apply_access_change`],
    /// and at least every 5 s while events flow).
    pub async fn subscribe_changes(
        &self,
        principal: &Principal,
        base: BaseId,
        after: i64,
    ) -> Result<ChangeSubscription> {
        let after = cursor("after", after)?;
        let scope = self.base_for(principal, base, Action::Read).await?;
        let workspace = scope.base().workspace_id;
        // The generation this check holds for is unknown (the workspace
        // was not known before it): the first event is preceded by a
        // check shared with the principal's other subscriptions of the base.
        let checked = Confirmed {
            at: Instant::now(),
            generation: u64::MAX,
        };
        let tail = self.change_tails.of(base, &self.store, &self.remote);
        Ok(ChangeSubscription {
            pybase: self.clone(),
            principal: principal.clone(),
            base,
            workspace,
            after,
            buffer: VecDeque::new(),
            checked,
            bumps: self.access_epochs.bumps(),
            progress: tail.progress(),
            tail,
            own_reads: 0,
        })
    }

    /// Where an embedding program relays commits made by other instances
    /// sharing the database (for example from Redis pub/sub), to wake this
    /// instance's subscriptions early.
    pub fn remote_changes(&self) -> &ChangeFeed {
        &self.remote
    }

    /// Access-changing writes made through this facade from now on (a
    /// member removed, a role changed, a base or workspace deleted), for
    /// relaying them to other instances sharing the database, which apply
    /// them with [`Pybase::apply_access_change`] so their subscriptions
    /// check access again before their next event. A receiver that falls
    /// behind loses the oldest (the subscriptions' periodic check still
    /// bounds them).
    pub fn access_changes(&self) -> broadcast::Receiver<AccessChange> {
        self.access_epochs.listen()
    }

    /// Applies an access change relayed from another instance (see
    /// [`Pybase::access_changes`]): this instance's subscriptions of the
    /// workspace check access again before their next event. Not sent on
    /// [`Pybase::access_changes`] again.
    pub fn apply_access_change(&self, change: AccessChange) {
        self.access_epochs.apply(change);
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
}

/// A live follow of one base's log: see [`Pybase::subscribe_changes`].
///
/// The subscriptions of a base in one process share one reader of its log
/// (`change_tail`): they take the events it read, as [`SharedEvent`]s,
/// and read the log themselves only while their cursor is older than the
/// events it keeps ([`Pybase::with_kept_change_events`]).
#[derive(Debug)]
pub struct ChangeSubscription {
    pybase: Pybase,
    principal: Principal,
    base: BaseId,
    /// The base's workspace, whose access generation it follows.
    workspace: WorkspaceId,
    after: i64,
    buffer: VecDeque<Arc<SharedEvent>>,
    /// The last confirmation of the principal's access.
    checked: Confirmed,
    /// Wakes it while it waits when an access generation moves.
    bumps: watch::Receiver<()>,
    /// The base's reader shared by its subscriptions.
    tail: Arc<Tail>,
    /// Its progress.
    progress: watch::Receiver<Progress>,
    /// Reads of the log this subscription made itself.
    own_reads: u64,
}

impl ChangeSubscription {
    /// The seq of the last event returned (or the starting cursor).
    pub fn cursor(&self) -> i64 {
        self.after
    }

    /// How many times this subscription read the log itself because its
    /// cursor was older than the events its base's shared reader keeps (or
    /// that reader failed), rather than taking them from the reader: a
    /// diagnostic of the fallback.
    pub fn own_reads(&self) -> u64 {
        self.own_reads
    }

    /// The next event, waiting until one commits (and while the database
    /// is unavailable). Errors: `Gone` if the cursor fell behind the
    /// retention, `NotFound` if the principal lost access, other store
    /// failures.
    pub async fn next(&mut self) -> Result<ChangeEvent> {
        Ok(self.next_shared().await?.event().clone())
    }

    /// [`ChangeSubscription::next`] without copying the event: the one
    /// instance read for every subscription of the base in this process,
    /// with its encodings made once for all of them.
    ///
    /// Cancel-safe: dropped while it waits, no event is lost or repeated.
    pub async fn next_shared(&mut self) -> Result<Arc<SharedEvent>> {
        loop {
            // Before every event, also a buffered one: an event read after
            // an access-changing write is read after its bump.
            self.recheck_access().await?;
            if let Some(e) = self.pop() {
                return Ok(e);
            }
            let failures = self.progress.borrow().failures;
            match self.tail.take(self.after, SUBSCRIPTION_BATCH) {
                Take::Events(events) => self.buffer.extend(events),
                Take::Behind => {
                    if !self.read_own_retrying().await? {
                        // The log has nothing after the cursor although the
                        // reader went past it: not expected of a gap-free
                        // log; poll instead of spinning.
                        tokio::time::sleep(POLL_EVERY).await;
                    }
                }
                Take::AtEnd => self.wait(failures).await?,
            }
        }
    }

    /// The next event if one has committed, without waiting.
    pub async fn next_now(&mut self) -> Result<Option<ChangeEvent>> {
        self.recheck_access().await?;
        if let Some(e) = self.pop() {
            return Ok(Some(e.event().clone()));
        }
        match self.tail.take(self.after, SUBSCRIPTION_BATCH) {
            Take::Events(events) => self.buffer.extend(events),
            // The reader may not have read the newest commit yet: the log
            // says whether one exists.
            Take::AtEnd | Take::Behind => {
                self.read_own().await?;
            }
        }
        self.recheck_access().await?;
        Ok(self.pop().map(|e| e.event().clone()))
    }

    /// The next buffered event, moving the cursor past it.
    fn pop(&mut self) -> Option<Arc<SharedEvent>> {
        let e = self.buffer.pop_front()?;
        self.after = e.seq();
        Some(e)
    }

    /// Confirms the principal's access again once the last confirmation is
    /// [`RECHECK_EVERY`] old or the access generation of the base's
    /// workspace moved since (an access-changing write): one atomic load
    /// when neither happened. The check is shared with the base's other
    /// subscriptions of the same principal (a commit wakes them all at
    /// once).
    async fn recheck_access(&mut self) -> Result<()> {
        let (pybase, principal, base, ws) =
            (&self.pybase, &self.principal, self.base, self.workspace);
        let generation = || pybase.access_epochs.of(ws);
        if self.checked.holds(RECHECK_EVERY, generation()) {
            return Ok(());
        }
        self.checked = self
            .tail
            .checked_access(principal, RECHECK_EVERY, generation, || async move {
                pybase
                    .base_for(principal, base, Action::Read)
                    .await
                    .map(drop)
            })
            .await?;
        Ok(())
    }

    /// Waits until the shared reader has read past the cursor or failed
    /// (then reads the log itself), an access generation moved (the caller
    /// then checks access again if it was its workspace's: a removed
    /// member's subscription ends without waiting for an event), or
    /// [`POLL_EVERY`] passed.
    async fn wait(&mut self, failures: u64) -> Result<()> {
        let after = self.after;
        let progress = &mut self.progress;
        let bumps = &mut self.bumps;
        let read_on = async {
            tokio::time::timeout(
                POLL_EVERY,
                progress
                    .wait_for(|p| p.failures != failures || p.read_to.is_some_and(|to| to > after)),
            )
            .await
            .map(|seen| seen.map(|p| p.failures != failures))
        };
        let waited = tokio::select! {
            waited = read_on => waited,
            // Woken by a bump: back to the caller, which checks access.
            // (Its sender lives as long as the facade this holds: a closed
            // channel is not expected, and is treated as a gone reader.)
            changed = bumps.changed() => Ok(changed.map(|()| false)),
        };
        let failed = match waited {
            Err(_elapsed) => return Ok(()),
            Ok(Ok(failed)) => failed,
            // The reader is gone (only if its task ended abnormally): poll
            // the log on this subscription's own.
            Ok(Err(_closed)) => {
                tokio::time::sleep(UNAVAILABLE_RETRY).await;
                true
            }
        };
        if failed && self.tail.take(after, 1).is_at_end() {
            self.read_own_retrying().await?;
        }
        Ok(())
    }

    /// [`ChangeSubscription::read_own`], waiting while the database is
    /// briefly unavailable.
    async fn read_own_retrying(&mut self) -> Result<bool> {
        loop {
            match self.read_own().await {
                // The database is briefly out of reach (a full pool under
                // load, a restart): the log will still be there.
                Err(Error::Unavailable(why)) => {
                    tracing::debug!(error = %why, "change subscription: retrying the log");
                    tokio::time::sleep(UNAVAILABLE_RETRY).await;
                }
                other => return other,
            }
        }
    }

    /// Reads the log after the cursor itself into the buffer; whether it
    /// found events. The read runs as a task of its own: a subscriber that
    /// goes away (an SSE client disconnecting) drops this future, and
    /// dropping a store read in the middle of its transaction could hand
    /// its connection back to the pool still inside that transaction.
    async fn read_own(&mut self) -> Result<bool> {
        let store = Arc::clone(&self.pybase.store);
        let (base, after) = (self.base, self.after);
        let page =
            tokio::spawn(async move { store.changes_since(base, after, SUBSCRIPTION_BATCH).await })
                .await
                .map_err(|e| Error::Internal(Box::new(e)))??;
        self.own_reads += 1;
        let found = !page.events.is_empty();
        self.buffer.extend(
            page.events
                .into_iter()
                .filter(|e| e.seq > after)
                .map(|e| Arc::new(SharedEvent::new(e))),
        );
        Ok(found)
    }
}
