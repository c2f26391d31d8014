//! Access generations: how live subscriptions learn at once that someone
//! may have lost access.
//!
//! Every write through the facade that can take access away (a member
//! removed, a role changed, a base or workspace deleted) bumps the
//! generation of the workspace involved, after the write is stored and
//! before the call returns. A live subscription remembers the generation
//! of its base's workspace as it was when its access was last confirmed,
//! and before it hands out an event it compares it with the current one:
//! when they differ, it checks access again first. An event committed
//! after the write returned is read after the bump, so it never goes out
//! on the strength of a check made before it; when nothing changed, the
//! comparison is one atomic load.
//!
//! Generations are kept in a fixed number of slots, a workspace's slot
//! chosen by a hash of its id: two workspaces sharing a slot only cost
//! each other's subscriptions an extra check. Bumps made here are also
//! sent on a channel ([`super::Pybase::access_changes`]) for an embedding
//! program to relay to other instances sharing the database, which apply
//! them with [`super::Pybase::apply_access_change`]. A lost relay message
//! is bounded by the subscriptions' periodic check (every 5 s).

use std::hash::{BuildHasher as _, BuildHasherDefault, DefaultHasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::{broadcast, watch};

use crate::ids::WorkspaceId;

/// Generation slots (a power of two).
const SLOTS: usize = 64;
/// Bumps kept for a relay that is behind.
const RELAY_BACKLOG: usize = 256;

/// An access change to relay to other instances.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessChange {
    /// Access to this workspace (or a base in it) may have been taken away.
    Workspace(WorkspaceId),
}

impl AccessChange {
    /// A one-line text form (`workspace <id>`), for relaying.
    pub fn encode(&self) -> String {
        match self {
            Self::Workspace(id) => format!("workspace {id}"),
        }
    }

    /// The change [`AccessChange::encode`] wrote; `None` for any other text.
    pub fn decode(text: &str) -> Option<Self> {
        let (kind, value) = text.split_once(' ')?;
        match kind {
            "workspace" => value.parse().ok().map(Self::Workspace),
            _ => None,
        }
    }
}

/// The generations of one process; cheap to clone (shared).
#[derive(Debug, Clone)]
pub(crate) struct AccessEpochs {
    slots: Arc<[AtomicU64; SLOTS]>,
    changes: broadcast::Sender<AccessChange>,
    /// Told of every bump, to wake idle subscriptions (which then compare
    /// their own workspace's generation).
    bumps: Arc<watch::Sender<()>>,
}

impl Default for AccessEpochs {
    fn default() -> Self {
        Self {
            slots: Arc::new(std::array::from_fn(|_| AtomicU64::new(0))),
            changes: broadcast::channel(RELAY_BACKLOG).0,
            bumps: Arc::new(watch::channel(()).0),
        }
    }
}

impl AccessEpochs {
    fn slot(&self, ws: WorkspaceId) -> &AtomicU64 {
        // A fixed hasher: the same workspace always has the same slot.
        let h = BuildHasherDefault::<DefaultHasher>::default().hash_one(ws);
        // The modulo keeps the index below SLOTS: the cast cannot truncate
        // a value that matters.
        #[allow(clippy::cast_possible_truncation)]
        let i = (h % SLOTS as u64) as usize;
        &self.slots[i]
    }

    /// The current generation of `ws`.
    pub(crate) fn of(&self, ws: WorkspaceId) -> u64 {
        self.slot(ws).load(Ordering::SeqCst)
    }

    /// Bumps the generation of `change`'s workspace (an access-changing
    /// write just stored here) and announces it for relaying.
    pub(crate) fn changed(&self, change: AccessChange) {
        self.apply(change);
        // No receiver (a single instance) is not an error.
        let _ = self.changes.send(change);
    }

    /// Bumps the generation of `change`'s workspace without announcing it
    /// (a change relayed from another instance).
    pub(crate) fn apply(&self, change: AccessChange) {
        match change {
            AccessChange::Workspace(ws) => {
                self.slot(ws).fetch_add(1, Ordering::SeqCst);
            }
        }
        self.bumps.send_modify(|()| {});
    }

    /// A receiver woken by every bump from now on (of any workspace).
    pub(crate) fn bumps(&self) -> watch::Receiver<()> {
        self.bumps.subscribe()
    }

    /// The changes made here from now on.
    pub(crate) fn listen(&self) -> broadcast::Receiver<AccessChange> {
        self.changes.subscribe()
    }

    /// A guard that calls [`AccessEpochs::changed`] when it is dropped:
    /// taken before an access-changing write, it bumps once the write is
    /// done, also when the write failed with an uncertain outcome or the
    /// caller's future was dropped in the middle of it (a client that
    /// disconnected), so a write that did commit is never left unannounced.
    pub(crate) fn bump_when_done(&self, change: AccessChange) -> BumpWhenDone {
        BumpWhenDone {
            epochs: self.clone(),
            change,
        }
    }
}

/// See [`AccessEpochs::bump_when_done`].
#[derive(Debug)]
#[must_use = "the bump happens when the guard is dropped"]
pub(crate) struct BumpWhenDone {
    epochs: AccessEpochs,
    change: AccessChange,
}

impl Drop for BumpWhenDone {
    fn drop(&mut self) {
        self.epochs.changed(self.change);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_round_trip_as_text() {
        let c = AccessChange::Workspace(WorkspaceId::new());
        assert_eq!(AccessChange::decode(&c.encode()), Some(c));
        for bad in ["", "workspace", "workspace nope", "base 1", "workspace "] {
            assert_eq!(AccessChange::decode(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_bump_moves_its_workspace_and_is_announced_once() {
        let epochs = AccessEpochs::default();
        let (a, b) = (WorkspaceId::new(), WorkspaceId::new());
        let mut heard = epochs.listen();
        let mut woken = epochs.bumps();
        let (a0, b0) = (epochs.of(a), epochs.of(b));
        epochs.changed(AccessChange::Workspace(a));
        assert_eq!(epochs.of(a), a0 + 1);
        if epochs.slot(a).as_ptr() != epochs.slot(b).as_ptr() {
            assert_eq!(epochs.of(b), b0, "another slot stays");
        }
        assert_eq!(heard.try_recv().ok(), Some(AccessChange::Workspace(a)));
        assert!(woken.has_changed().unwrap());
        woken.mark_unchanged();
        // Relayed changes bump without being announced again.
        epochs.apply(AccessChange::Workspace(a));
        assert_eq!(epochs.of(a), a0 + 2);
        assert!(heard.try_recv().is_err());
        assert!(woken.has_changed().unwrap(), "relayed bumps wake too");
        // The guard bumps when it goes, not before.
        let guard = epochs.bump_when_done(AccessChange::Workspace(b));
        let b1 = epochs.of(b);
        drop(guard);
        assert_eq!(epochs.of(b), b1 + 1);
        assert_eq!(heard.try_recv().ok(), Some(AccessChange::Workspace(b)));
    }
}
