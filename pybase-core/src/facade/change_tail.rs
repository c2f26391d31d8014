//! One shared read of a base's log for all of its live subscriptions.
//!
//! A commit wakes every subscription of its base at once. If each read the
//! log after its own cursor, a base with 1,000 SSE clients would make 1,000
//! identical reads per commit. Instead, the subscriptions of a base share a
//! [`Tail`]: the newest events read (up to [`KEPT`]) and the seq they reach.
//! A subscription at the tail's end asks it to read on; the first to ask
//! reads (one read per commit, whoever wakes first), the others wait for
//! that read and take its events. A subscription behind the kept events
//! (resuming from an old cursor) reads the log on its own, as before.
//!
//! Completeness does not change: the tail holds a contiguous run of the
//! log read in order, so a subscription takes from it exactly the events
//! after its cursor, or reads the log itself when the run does not reach
//! back to its cursor.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::ids::BaseId;
use crate::principal::Principal;
use crate::store::{ChangeEvent, Store};

/// When one principal's access was last confirmed (`None`: not yet),
/// locked by the one check in flight.
type LastCheck = Arc<tokio::sync::Mutex<Option<Instant>>>;

/// Events a tail keeps for subscriptions that are a little behind.
const KEPT: usize = 1024;

/// The tails of the bases that have live subscriptions.
#[derive(Debug, Default, Clone)]
pub(crate) struct Tails(Arc<Mutex<HashMap<BaseId, Weak<Tail>>>>);

impl Tails {
    /// The tail of `base`, shared with its other subscriptions.
    pub(crate) fn of(&self, base: BaseId) -> Arc<Tail> {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(tail) = map.get(&base).and_then(Weak::upgrade) {
            return tail;
        }
        // Forget the tails nobody follows any more.
        map.retain(|_, t| t.strong_count() > 0);
        let tail = Arc::new(Tail {
            base,
            state: Mutex::new(State::default()),
            reading: tokio::sync::Mutex::new(()),
            checks: Mutex::new(HashMap::new()),
        });
        map.insert(base, Arc::downgrade(&tail));
        tail
    }
}

/// What a tail has read.
#[derive(Debug, Default)]
struct State {
    /// The newest events read, consecutive seqs.
    events: VecDeque<ChangeEvent>,
    /// The seq the tail has read up to (`None` before its first read).
    read_to: Option<i64>,
    /// Reads begun so far (each numbered by this count when it begins).
    reads: u64,
    /// The number of the newest read of the current run that reached the
    /// end of the log (fewer events than asked for); 0 when none did.
    reached_end: u64,
}

/// One base's shared read of its log.
#[derive(Debug)]
pub(crate) struct Tail {
    base: BaseId,
    state: Mutex<State>,
    /// Held by the one read in flight.
    reading: tokio::sync::Mutex<()>,
    /// Per principal, when its access to the base was last confirmed (see
    /// [`Tail::checked_access`]).
    checks: Mutex<HashMap<Principal, LastCheck>>,
}

impl Tail {
    /// The kept events after `after` (at most `limit`), or `None` when the
    /// kept run does not reach back to `after` (the caller reads the log
    /// itself). `Some(empty)` means the tail has nothing newer yet; the
    /// number of reads begun so far comes with it (see [`Tail::read_on`]).
    fn take(&self, after: i64, limit: usize) -> (Option<Vec<ChangeEvent>>, u64) {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        (Self::take_from(&state, after, limit), state.reads)
    }

    fn take_from(state: &State, after: i64, limit: usize) -> Option<Vec<ChangeEvent>> {
        let read_to = state.read_to?;
        if after >= read_to {
            return Some(Vec::new());
        }
        let first = state.events.front().map_or(read_to + 1, |e| e.seq);
        if after + 1 < first {
            return None;
        }
        let skip = usize::try_from(after + 1 - first).unwrap_or(usize::MAX);
        Some(
            state
                .events
                .iter()
                .skip(skip)
                .take(limit)
                .cloned()
                .collect(),
        )
    }

    /// The events after `after` (at most `limit`): from the kept run, after
    /// reading on (once for every subscription waiting) when the caller is
    /// at its end; `None` when the caller is behind the kept run.
    ///
    /// The read runs as a task of its own that stores what it read in the
    /// tail: a subscription dropped while waiting (an SSE client going
    /// away) neither cancels a store read mid-transaction nor loses the
    /// events for the others.
    pub(crate) async fn next(
        self: &Arc<Self>,
        store: &Arc<dyn Store>,
        after: i64,
        limit: usize,
    ) -> Result<Option<Vec<ChangeEvent>>> {
        let asked = match self.take(after, limit) {
            (Some(events), _) if !events.is_empty() => return Ok(Some(events)),
            (None, _) => return Ok(None),
            (Some(_), reads) => reads,
        };
        let tail = Arc::clone(self);
        let store = Arc::clone(store);
        tokio::spawn(async move { tail.read_on(&store, after, asked, limit).await })
            .await
            .map_err(|e| Error::Internal(Box::new(e)))??;
        Ok(self.take(after, limit).0)
    }

    /// Reads the log after the tail's end (`after`), unless a read that
    /// finished while this one waited already went past `after`, or one
    /// that began after the caller asked (`asked`: the reads begun by then)
    /// reached the end of the log: every commit before the caller asked is
    /// in what that read saw, so a subscription at the tail's end that
    /// finds nothing newer costs no read of its own. Without this, every
    /// subscription that took an event went on to read the log once more,
    /// one after the other (a thousand reads per commit for a thousand
    /// subscribers).
    async fn read_on(
        &self,
        store: &Arc<dyn Store>,
        after: i64,
        asked: u64,
        limit: usize,
    ) -> Result<()> {
        let _reading = self.reading.lock().await;
        let (from, number) = {
            let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            let from = match state.read_to {
                Some(to) if to > after => return Ok(()),
                Some(to) if to == after && state.reached_end > asked => return Ok(()),
                Some(to) if to == after => to,
                // The first read, or a caller ahead of the run (it resumed
                // from a newer cursor): the run starts again at its cursor,
                // and callers behind it read the log on their own.
                _ => {
                    state.events.clear();
                    state.read_to = None;
                    state.reached_end = 0;
                    after
                }
            };
            state.reads += 1;
            (from, state.reads)
        };
        let page = store.changes_since(self.base, from, limit).await?;
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.read_to.is_none() {
            state.read_to = Some(from);
        }
        if page.events.len() < limit {
            state.reached_end = number;
        }
        for e in page.events {
            // Only the run's next seq extends it (a read is always of the
            // events right after `read_to`, but stay safe).
            if Some(e.seq - 1) == state.read_to {
                state.read_to = Some(e.seq);
                state.events.push_back(e);
            }
        }
        while state.events.len() > KEPT {
            state.events.pop_front();
        }
        Ok(())
    }

    /// When `principal`'s access to the base was last confirmed, running
    /// `check` first unless a subscription of the same principal confirmed
    /// it less than `fresh` ago. One check at a time per principal: the
    /// subscriptions of a principal due together (all of them, right after
    /// a commit wakes them) share one check instead of making one each.
    /// A failed check is not remembered: each subscription then checks
    /// on its own, and fails.
    pub(crate) async fn checked_access<F, Fut>(
        &self,
        principal: &Principal,
        fresh: Duration,
        check: F,
    ) -> Result<Instant>
    where
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
                let e = Arc::new(tokio::sync::Mutex::new(None));
                checks.insert(principal.clone(), Arc::clone(&e));
                e
            }
        };
        let mut last = entry.lock().await;
        if let Some(at) = *last
            && at.elapsed() < fresh
        {
            return Ok(at);
        }
        check().await?;
        let now = Instant::now();
        *last = Some(now);
        Ok(now)
    }
}
