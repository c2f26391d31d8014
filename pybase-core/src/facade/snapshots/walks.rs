//! Walks kept between their pages: what a snapshot walk has learnt from the
//! log (how far it read, and the records changed since its snapshot, each
//! summarised and, once known, placed as it was), so that a later page
//! reads only the events logged since the page before it.
//!
//! Nothing kept goes stale: the log only grows, and where a record stood at
//! a snapshot never changes once known. A walk not kept (evicted, idle too
//! long, read by another server instance, or two of its pages read at
//! once) is rebuilt from its snapshot's seq, reading the log since then:
//! the same pages, more slowly.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::ids::{FieldId, RecordId, TableId};

use super::Trail;

/// Walks kept at most (a walk without changed records is a few hundred
/// bytes; the changed records are bounded by [`MAX_TRAILS`]).
const MAX_WALKS: usize = 4096;
/// Changed records kept at most, over every walk kept (a few hundred
/// bytes each: the cells a page reads, twice at most); room for two walks
/// at the default bound ([`crate::Limits::walk_moved`]).
const MAX_TRAILS: usize = 100_000;
/// A walk unread for this long is dropped.
const IDLE: Duration = Duration::from_secs(600);

/// What identifies a walk's state: its table, its snapshot (a seq of the
/// base's log) and what its pages read of a record (a record is placed
/// with those cells only).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct WalkKey {
    pub(crate) table: TableId,
    pub(crate) snapshot: i64,
    pub(crate) fields: Vec<FieldId>,
    pub(crate) meta: bool,
    pub(crate) last_change: bool,
}

/// A walk's state: the log read up to `upto`, `read` events since the
/// snapshot, and the records of its table changed since, by id.
#[derive(Debug, Default)]
pub(crate) struct WalkState {
    pub(crate) upto: i64,
    pub(crate) read: usize,
    pub(crate) trails: BTreeMap<RecordId, Trail>,
}

/// The walks kept, shared by every clone of the facade.
#[derive(Debug, Clone, Default)]
pub(crate) struct Walks(Arc<Mutex<Kept>>);

#[derive(Debug, Default)]
struct Kept {
    /// Each walk with when it was kept, and the order it was kept in.
    walks: HashMap<WalkKey, (WalkState, Instant, u64)>,
    /// The walks kept by the order of keeping (oldest first), so that
    /// dropping the idle and the least recently kept costs no scan.
    order: BTreeMap<u64, WalkKey>,
    /// Trails over every walk kept.
    trails: usize,
    /// Walks kept so far (the order of keeping).
    ticks: u64,
}

impl Kept {
    /// Removes the walk `key`, answering its state.
    fn remove(&mut self, key: &WalkKey) -> Option<WalkState> {
        let (state, _, tick) = self.walks.remove(key)?;
        self.order.remove(&tick);
        self.trails -= state.trails.len();
        Some(state)
    }

    /// The least recently kept walk, and whether it is idle at `now`.
    fn oldest(&self, now: Instant) -> Option<(WalkKey, bool)> {
        let (_, key) = self.order.first_key_value()?;
        let (_, at, _) = self.walks.get(key)?;
        Some((key.clone(), now.duration_since(*at) >= IDLE))
    }
}

impl Walks {
    /// Takes the state kept of the walk `key` (the next reader of the same
    /// walk rebuilds it until it is given back).
    pub(crate) fn take(&self, key: &WalkKey) -> Option<WalkState> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(key)
    }

    /// Keeps `state` of the walk `key`, unless a state read further is kept
    /// already; then drops the walks idle too long and, while over the
    /// bounds, the least recently kept (each in O(log n): walks kept later
    /// were kept at a later instant).
    pub(crate) fn keep(&self, key: WalkKey, state: WalkState) {
        self.keep_at(key, state, Instant::now());
    }

    /// [`Walks::keep`] at the instant `now` (a later one than every walk
    /// kept before).
    fn keep_at(&self, key: WalkKey, state: WalkState, now: Instant) {
        let mut kept = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((held, _, _)) = kept.walks.get(&key)
            && held.upto >= state.upto
        {
            return;
        }
        if state.trails.len() > MAX_TRAILS {
            return;
        }
        kept.remove(&key);
        kept.ticks += 1;
        let tick = kept.ticks;
        kept.trails += state.trails.len();
        kept.order.insert(tick, key.clone());
        kept.walks.insert(key, (state, now, tick));
        while let Some((oldest, idle)) = kept.oldest(now) {
            if !idle && kept.walks.len() <= MAX_WALKS && kept.trails <= MAX_TRAILS {
                break;
            }
            kept.remove(&oldest);
        }
    }

    /// How many walks are kept.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .walks
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(snapshot: i64) -> WalkKey {
        WalkKey {
            table: TableId::new(),
            snapshot,
            fields: Vec::new(),
            meta: false,
            last_change: false,
        }
    }

    fn state(upto: i64, trails: usize) -> WalkState {
        WalkState {
            upto,
            read: 0,
            trails: (0..trails)
                .map(|_| (RecordId::new(), Trail::default()))
                .collect(),
        }
    }

    #[test]
    fn a_walk_is_taken_once_and_the_furthest_state_is_kept() {
        let walks = Walks::default();
        let k = key(7);
        assert!(walks.take(&k).is_none());
        walks.keep(k.clone(), state(10, 2));
        walks.keep(k.clone(), state(9, 5));
        let s = walks.take(&k).expect("kept");
        assert_eq!((s.upto, s.trails.len()), (10, 2));
        assert!(walks.take(&k).is_none(), "a taken walk is not kept");
        walks.keep(k.clone(), state(12, 1));
        assert_eq!(walks.take(&k).map(|s| s.upto), Some(12));
    }

    #[test]
    fn the_least_recently_kept_walks_go_first() {
        let walks = Walks::default();
        let keys: Vec<WalkKey> = (0..=i64::try_from(MAX_WALKS).unwrap()).map(key).collect();
        for k in &keys {
            walks.keep(k.clone(), state(1, 0));
        }
        assert_eq!(walks.len(), MAX_WALKS);
        assert!(walks.take(&keys[0]).is_none(), "the first kept went");
        assert!(walks.take(&keys[MAX_WALKS]).is_some());
        // Bounded by records too: a large walk pushes out older ones.
        let (big, small, huge) = (key(-1), key(-2), key(-3));
        walks.keep(big.clone(), state(1, MAX_TRAILS - 3));
        walks.keep(small.clone(), state(1, 4));
        assert!(walks.take(&big).is_none(), "over the records kept");
        assert!(walks.take(&small).is_some());
        walks.keep(huge.clone(), state(1, MAX_TRAILS + 1));
        assert!(walks.take(&huge).is_none(), "too large to keep");
    }

    #[test]
    fn idle_walks_go_and_the_count_of_records_follows() {
        let walks = Walks::default();
        let start = Instant::now();
        let (old, busy, new) = (key(1), key(2), key(3));
        walks.keep_at(old.clone(), state(1, 5), start);
        walks.keep_at(busy.clone(), state(1, 7), start + IDLE / 2);
        walks.keep_at(busy.clone(), state(2, 9), start + IDLE / 2);
        walks.keep_at(
            new.clone(),
            state(1, 11),
            start + IDLE + Duration::from_secs(1),
        );
        assert_eq!(walks.len(), 2, "the walk idle for longer than IDLE went");
        assert!(walks.take(&old).is_none());
        assert_eq!(walks.take(&busy).map(|s| s.trails.len()), Some(9));
        let kept = walks.0.lock().unwrap();
        assert_eq!((kept.trails, kept.order.len()), (11, 1));
    }
}
