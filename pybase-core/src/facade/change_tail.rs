//! One reader of a base's log per process, shared by all of the base's live
//! subscriptions.
//!
//! A commit used to wake every subscription, and each then asked a shared
//! tail for the new events (a task spawned and a lock taken per
//! subscription, in turn) and serialised them itself. Now each base with
//! live subscriptions has one [`Tail`] and one task, [`follow`], that
//! alone listens for commits (this process's, and other instances' relayed
//! through [`super::Pybase::remote_changes`]), reads each committed batch
//! from the log once, wraps each event once in a [`SharedEvent`] (whose
//! SSE frame is then encoded once), keeps the newest of them in a ring and
//! publishes how far it has read on a `watch` channel. Subscriptions wait
//! on that channel and take their events from the ring: per subscription,
//! a commit costs a wake-up, a short lock and a few reference counts.
//!
//! Completeness never depends on the tail: the ring holds every event of
//! the log after `start_after` up to `read_to`, in order, so a
//! subscription takes exactly the events after its cursor, or, when its
//! cursor is older than the ring (it resumed from far back, or fell behind
//! by more than the ring keeps), reads the log itself until it is within
//! the ring again. The reader reads the log on every wake-up and every
//! [`POLL_EVERY`] without one (a wake-up lost between instances delays an
//! event, it never loses one). A read that fails on anything but a briefly
//! unavailable database is counted in the published progress, and the
//! subscriptions waiting on the tail read the log themselves, meeting the
//! failure as they did before there was a tail.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use tokio::sync::{broadcast, watch};

use super::changes::{POLL_EVERY, UNAVAILABLE_RETRY};
use super::shared_event::SharedEvent;
use crate::error::{Result, StoreError};
use crate::ids::BaseId;
use crate::principal::Principal;
use crate::store::{ChangeFeed, Committed, Store};

/// Events a tail keeps, by default, for subscriptions a little behind.
pub const DEFAULT_KEPT_EVENTS: usize = 1024;
/// Events the reader reads from the log at once.
const READ_BATCH: usize = 500;

/// The tails of the bases that have live subscriptions.
#[derive(Debug, Clone)]
pub(crate) struct Tails {
    map: Arc<Mutex<HashMap<BaseId, Weak<Tail>>>>,
    kept: usize,
}

impl Default for Tails {
    fn default() -> Self {
        Self::keeping(DEFAULT_KEPT_EVENTS)
    }
}

impl Tails {
    /// Tails that keep `kept` events each (at least one).
    pub(crate) fn keeping(kept: usize) -> Self {
        Self {
            map: Arc::default(),
            kept: kept.max(1),
        }
    }

    /// The tail of `base`, shared with its other subscriptions; the first
    /// subscription of a base starts the tail's reader. Must run inside a
    /// tokio runtime.
    pub(crate) fn of(
        &self,
        base: BaseId,
        store: &Arc<dyn Store>,
        remote: &ChangeFeed,
    ) -> Arc<Tail> {
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(tail) = map.get(&base).and_then(Weak::upgrade) {
            return tail;
        }
        // Forget the tails nobody follows any more.
        map.retain(|_, t| t.strong_count() > 0);
        let (progress, watching) = watch::channel(Progress::default());
        let tail = Arc::new(Tail {
            base,
            kept: self.kept,
            ring: Mutex::new(Ring::default()),
            progress: watching,
            checks: Mutex::new(HashMap::new()),
        });
        // Listening before the reader's first read: a commit after that
        // read is announced to these listeners.
        let feeds = [Some(store.change_feed().listen()), Some(remote.listen())];
        tokio::spawn(follow(
            Arc::downgrade(&tail),
            Arc::downgrade(store),
            progress,
            feeds,
        ));
        map.insert(base, Arc::downgrade(&tail));
        tail
    }
}

/// How far a tail's reader has got, as its `watch` channel publishes it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Progress {
    /// The seq up to which the log has been read (`None` before the first
    /// read).
    pub(crate) read_to: Option<i64>,
    /// Reads that failed on something other than a briefly unavailable
    /// database, so far.
    pub(crate) failures: u64,
}

/// The events a tail keeps.
#[derive(Debug, Default)]
struct Ring {
    /// Every event of the log after `start_after`, up to `read_to`, in
    /// order (at most the tail's `kept`).
    events: VecDeque<Arc<SharedEvent>>,
    /// The cursor the kept run starts after.
    start_after: i64,
    /// The seq the log has been read up to (`None` before the first read).
    read_to: Option<i64>,
}

/// What a subscription finds in its base's tail.
#[derive(Debug)]
pub(crate) enum Take {
    /// The kept events after its cursor (at most the limit asked).
    Events(Vec<Arc<SharedEvent>>),
    /// Nothing after its cursor has been read yet: wait for the reader.
    AtEnd,
    /// Its cursor is older than the kept run: read the log itself.
    Behind,
}

impl Take {
    /// Whether there is nothing after the cursor yet.
    pub(crate) fn is_at_end(&self) -> bool {
        matches!(self, Self::AtEnd)
    }
}

/// One base's shared reader: its kept events, its progress, and the
/// access checks its subscriptions share.
#[derive(Debug)]
pub(crate) struct Tail {
    base: BaseId,
    kept: usize,
    ring: Mutex<Ring>,
    /// The reader's progress (a receiver kept for new subscriptions).
    progress: watch::Receiver<Progress>,
    /// Per principal, when its access to the base was last confirmed (see
    /// [`Tail::checked_access`]).
    checks: Mutex<HashMap<Principal, Arc<AccessCheck>>>,
}

/// When one principal's access was last confirmed, and the one check in
/// flight.
#[derive(Debug, Default)]
struct AccessCheck {
    /// When it was last confirmed, and the access generation of the base's
    /// workspace read before that check (`None`: not yet).
    last: Mutex<Option<Confirmed>>,
    /// Held by the one check in flight.
    running: tokio::sync::Mutex<()>,
}

/// A confirmation of a principal's access: when, and at which access
/// generation of the base's workspace (read before the check ran).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Confirmed {
    /// When the check ended.
    pub(crate) at: Instant,
    /// The generation it holds for.
    pub(crate) generation: u64,
}

impl Confirmed {
    /// Whether it is younger than `fresh` and was made at `generation`.
    pub(crate) fn holds(&self, fresh: Duration, generation: u64) -> bool {
        self.generation == generation && self.at.elapsed() < fresh
    }
}

impl AccessCheck {
    /// The last confirmation if it still holds (see [`Confirmed::holds`]).
    fn fresh(&self, fresh: Duration, generation: u64) -> Option<Confirmed> {
        let last = *self.last.lock().unwrap_or_else(PoisonError::into_inner);
        last.filter(|c| c.holds(fresh, generation))
    }
}

impl Tail {
    /// The kept events after `after`, at most `limit`.
    pub(crate) fn take(&self, after: i64, limit: usize) -> Take {
        let ring = self.ring.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(read_to) = ring.read_to else {
            return Take::AtEnd;
        };
        if after >= read_to {
            return Take::AtEnd;
        }
        if after < ring.start_after {
            return Take::Behind;
        }
        let from = ring.events.partition_point(|e| e.seq() <= after);
        Take::Events(ring.events.iter().skip(from).take(limit).cloned().collect())
    }

    /// A receiver of the reader's progress.
    pub(crate) fn progress(&self) -> watch::Receiver<Progress> {
        self.progress.clone()
    }

    /// Reads the log after the tail's end until it is caught up, keeping
    /// and publishing what it read; on the first read (or when events after
    /// the end were pruned), only finds where the log ends: subscriptions
    /// behind that read the log themselves.
    async fn read_on(&self, store: &dyn Store, progress: &watch::Sender<Progress>) -> Result<()> {
        loop {
            let read_to = self
                .ring
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .read_to;
            let Some(from) = read_to else {
                // Past any seq: no events, only the log's newest seq.
                let page = store.changes_since(self.base, i64::MAX, 1).await?;
                let end = page.last_seq;
                {
                    let mut ring = self.ring.lock().unwrap_or_else(PoisonError::into_inner);
                    ring.events.clear();
                    ring.start_after = end;
                    ring.read_to = Some(end);
                }
                progress.send_modify(|p| p.read_to = Some(end));
                return Ok(());
            };
            let page = match store.changes_since(self.base, from, READ_BATCH).await {
                Ok(page) => page,
                Err(StoreError::Gone { .. }) => {
                    // Events after the end were pruned (the reader was
                    // stuck for the whole retention): start again at the
                    // log's end; subscriptions behind it meet the `Gone`
                    // on their own reads.
                    self.ring
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .read_to = None;
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            let complete = page.events.len() < READ_BATCH;
            let Some(newest) = page.events.last().map(|e| e.seq) else {
                return Ok(());
            };
            {
                let mut ring = self.ring.lock().unwrap_or_else(PoisonError::into_inner);
                for e in page.events {
                    // The page is the log after `from`, in order.
                    ring.events.push_back(Arc::new(SharedEvent::new(e)));
                }
                ring.read_to = Some(newest);
                while ring.events.len() > self.kept {
                    if let Some(gone) = ring.events.pop_front() {
                        ring.start_after = gone.seq();
                    }
                }
            }
            progress.send_modify(|p| p.read_to = Some(newest));
            if complete {
                return Ok(());
            }
        }
    }

    /// The last confirmation of `principal`'s access to the base, running
    /// `check` first unless a subscription of the same principal confirmed
    /// it less than `fresh` ago at the current access generation
    /// (`generation` reads it: an access-changing write since the last
    /// confirmation calls for a new one). One check at a time per
    /// principal: the subscriptions of a principal due together (all of
    /// them, right after a commit wakes them) share one check instead of
    /// making one each, and while the last check holds none of them waits
    /// on a lock held across a store read. A failed check is not
    /// remembered: each subscription then checks on its own, and fails.
    pub(crate) async fn checked_access<G, F, Fut>(
        &self,
        principal: &Principal,
        fresh: Duration,
        generation: G,
        check: F,
    ) -> Result<Confirmed>
    where
        G: Fn() -> u64,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<()>>,
    {
        let entry = {
            let mut checks = self.checks.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(e) = checks.get(principal) {
                Arc::clone(e)
            } else {
                // Forget the principals no subscription is checking now.
                checks.retain(|_, e| Arc::strong_count(e) > 1);
                let e = Arc::new(AccessCheck::default());
                checks.insert(principal.clone(), Arc::clone(&e));
                e
            }
        };
        if let Some(c) = entry.fresh(fresh, generation()) {
            return Ok(c);
        }
        let _running = entry.running.lock().await;
        // Read before the check: a bump during it calls for another one.
        let before = generation();
        if let Some(c) = entry.fresh(fresh, before) {
            return Ok(c);
        }
        check().await?;
        let confirmed = Confirmed {
            at: Instant::now(),
            generation: before,
        };
        *entry.last.lock().unwrap_or_else(PoisonError::into_inner) = Some(confirmed);
        Ok(confirmed)
    }
}

/// The reader of one tail: reads the log whenever a commit of the base is
/// announced and every [`POLL_EVERY`]; ends once no subscription holds the
/// tail (or the store is gone). It holds neither between reads.
async fn follow(
    tail: Weak<Tail>,
    store: Weak<dyn Store>,
    progress: watch::Sender<Progress>,
    mut feeds: [Option<broadcast::Receiver<Committed>>; 2],
) {
    loop {
        let (Some(t), Some(s)) = (tail.upgrade(), store.upgrade()) else {
            return;
        };
        let base = t.base;
        let read = t.read_on(&*s, &progress).await;
        drop((t, s));
        match read {
            Ok(()) => {}
            Err(crate::Error::Unavailable(why)) => {
                tracing::debug!(error = %why, "change tail: retrying the log");
                tokio::time::sleep(UNAVAILABLE_RETRY).await;
                continue;
            }
            Err(e) => {
                tracing::warn!(error = %e, %base, "change tail: reading the log failed");
                progress.send_modify(|p| p.failures += 1);
                tokio::time::sleep(UNAVAILABLE_RETRY).await;
                continue;
            }
        }
        let read_to = progress.borrow().read_to.unwrap_or(i64::MAX);
        wake_up(base, read_to, &mut feeds).await;
    }
}

/// Waits for a commit of `base` past `read_to` to be announced (or for
/// missed announcements), or [`POLL_EVERY`].
async fn wake_up(
    base: BaseId,
    read_to: i64,
    feeds: &mut [Option<broadcast::Receiver<Committed>>; 2],
) {
    let deadline = tokio::time::Instant::now() + POLL_EVERY;
    loop {
        let [local, remote] = feeds;
        let woken = tokio::select! {
            r = recv(local) => relevant(local, &r, base, read_to),
            r = recv(remote) => relevant(remote, &r, base, read_to),
            () = tokio::time::sleep_until(deadline) => true,
        };
        if woken {
            return;
        }
    }
}

/// The next announcement of `feed`; never, once the feed is closed.
async fn recv(
    feed: &mut Option<broadcast::Receiver<Committed>>,
) -> std::result::Result<Committed, broadcast::error::RecvError> {
    match feed {
        Some(f) => f.recv().await,
        None => std::future::pending().await,
    }
}

/// Whether `r` calls for a read: a commit of `base` past `read_to`, or
/// missed announcements. A closed feed is dropped (and wakes the reader
/// once, so it finds out whether its tail is still followed).
fn relevant(
    feed: &mut Option<broadcast::Receiver<Committed>>,
    r: &std::result::Result<Committed, broadcast::error::RecvError>,
    base: BaseId,
    read_to: i64,
) -> bool {
    match r {
        Ok(c) => c.base == base && c.last_seq > read_to,
        Err(broadcast::error::RecvError::Lagged(_)) => true,
        Err(broadcast::error::RecvError::Closed) => {
            *feed = None;
            true
        }
    }
}
