//! Per-table gates that hold record writes back while a field of the
//! table converts to another type, as a column's type change locks its
//! table in a SQL database.
//!
//! Every record write passes its table's gate for the length of its store
//! call; a conversion closes the gate, which waits for the writes passing
//! it and holds back new ones until the conversion is over. So the
//! conversion meets still cells (its compare-and-set,
//! `SchemaStore::replace_field_if`, then succeeds the first time), and no
//! write lands in the middle of it.
//!
//! A write checked against the table's fields before a conversion changed
//! them would store cells of the old type: each gate counts the
//! conversions that changed its table's fields ([`Ticket`]), and a write
//! whose fields were read under another count is checked again against the
//! fields as they are now ([`Pybase::rechecked`]; a conflict, with nothing
//! written, if they keep changing). A conversion that fails changes no
//! field and counts nothing.
//!
//! Writes through other server instances are not held back here; the
//! compare-and-set still catches the cells they change.
//!
//! The task that closed a gate passes every gate without waiting (a
//! self-link conversion creates records in its own table; two conversions
//! creating records in each other's tables must not wait for each other).
//! A write holds its pass over its store call alone, never while waiting
//! at another gate.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedRwLockReadGuard, OwnedRwLockWriteGuard, RwLock};

use super::Pybase;
use crate::error::{StoreError, StoreResult};
use crate::ids::TableId;

tokio::task_local! {
    /// Set in the task of a conversion, which waits at no gate.
    static CONVERTING: ();
}

/// Gates kept before those nobody holds are forgotten (about 150 bytes
/// each).
const KEPT_GATES: usize = 16_384;

/// One table's gate.
#[derive(Default)]
struct Gate {
    /// Shared by the writes passing, taken whole by a conversion.
    lock: Arc<RwLock<()>>,
    /// Conversions that changed the table's fields.
    generation: AtomicU64,
}

/// The gates of the tables written through a facade, shared by its clones.
#[derive(Default, Clone)]
pub(crate) struct WriteGates {
    gates: Arc<Mutex<HashMap<TableId, Arc<Gate>>>>,
}

impl std::fmt::Debug for WriteGates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WriteGates")
    }
}

/// Taken by a write before it reads the fields it is checked against.
pub(crate) struct Ticket {
    gate: Arc<Gate>,
    generation: u64,
}

/// Held by a write over its store call.
struct Passing {
    _guard: Option<OwnedRwLockReadGuard<()>>,
    /// Whether a conversion began or ended since the ticket was taken.
    moved: bool,
}

/// A gate closed by [`WriteGates::close`]: writes to its table wait until
/// it is dropped.
pub(crate) struct Closed {
    gate: Arc<Gate>,
    /// Whether the conversion changed the table's fields.
    converted: bool,
    _lock: OwnedRwLockWriteGuard<()>,
}

impl Closed {
    /// Says the conversion changed the table's fields: writes checked
    /// against them before are checked again.
    pub(crate) fn converted(&mut self) {
        self.converted = true;
    }
}

impl Drop for Closed {
    fn drop(&mut self) {
        if self.converted {
            // Counted before the lock opens (the fields drop after this),
            // so every write passing after it sees the count.
            self.gate.generation.fetch_add(1, Ordering::AcqRel);
        }
    }
}

impl WriteGates {
    /// `table`'s gate, made on first use.
    fn gate(&self, table: TableId) -> Arc<Gate> {
        let mut gates = self
            .gates
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if gates.len() >= KEPT_GATES && !gates.contains_key(&table) {
            // A gate nobody holds has no write or conversion under way and
            // no ticket out: forgotten, it starts again from nothing.
            gates.retain(|_, g| Arc::strong_count(g) > 1);
        }
        Arc::clone(gates.entry(table).or_default())
    }

    /// A ticket for a write to `table`, taken before the write reads the
    /// fields it is checked against.
    pub(crate) fn ticket(&self, table: TableId) -> Ticket {
        let gate = self.gate(table);
        let generation = gate.generation.load(Ordering::Acquire);
        Ticket { gate, generation }
    }

    /// Waits while the ticket's gate is closed by another task, and holds
    /// it open until the result is dropped.
    async fn pass(ticket: &Ticket) -> Passing {
        let guard = if CONVERTING.try_with(|()| ()).is_ok() {
            None
        } else {
            Some(Arc::clone(&ticket.gate.lock).read_owned().await)
        };
        Passing {
            _guard: guard,
            moved: ticket.gate.generation.load(Ordering::Acquire) != ticket.generation,
        }
    }

    /// Closes `table`'s gate: waits for the writes passing it, then holds
    /// back new ones until the result is dropped.
    pub(crate) async fn close(&self, table: TableId) -> Closed {
        let gate = self.gate(table);
        let lock = Arc::clone(&gate.lock).write_owned().await;
        Closed {
            gate,
            converted: false,
            _lock: lock,
        }
    }

    /// Runs `work`, a conversion, in a task that waits at no gate.
    pub(crate) async fn converting<F: std::future::Future>(work: F) -> F::Output {
        CONVERTING.scope((), work).await
    }
}

/// Times a checked write is checked again when fields of its table keep
/// converting while it is checked.
const RECHECKS: usize = 3;

/// The conflict [`Pybase::writing`] answers for a write checked against
/// fields that converted since.
fn stale_fields() -> StoreError {
    StoreError::conflict("table", STALE_FIELDS)
}

/// The key of [`stale_fields`]'s conflict.
pub(super) const STALE_FIELDS: &str = "fields";

impl Pybase {
    /// Runs `attempt`, a checked write that reads the table's fields and
    /// checks its inputs against them, again while it is refused because a
    /// field of the table converted meanwhile (each attempt checks against
    /// the fields as they are then), up to [`RECHECKS`] times; the last
    /// refusal is answered as it is (409).
    ///
    /// Records its attempts made for link names (typecast) stay if it
    /// succeeds, and go to the trash if it fails: a failed write leaves
    /// nothing behind.
    pub(super) async fn rechecked<T, F, Fut>(
        &self,
        principal: &crate::principal::Principal,
        mut attempt: F,
    ) -> crate::error::Result<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = crate::error::Result<T>>,
    {
        let (done, made) = super::link_names::collecting_made(async {
            let mut left = RECHECKS;
            loop {
                match attempt().await {
                    Err(crate::error::Error::Conflict { field, .. })
                        if field == STALE_FIELDS && left > 1 =>
                    {
                        left -= 1;
                    }
                    done => return done,
                }
            }
        })
        .await;
        if done.is_err() && !made.is_empty() {
            self.trash_made(principal.user_id(), &made).await;
        }
        done
    }

    /// A ticket for a write of `table`'s records ([`WriteGates::ticket`]).
    pub(super) fn write_ticket(&self, table: TableId) -> Ticket {
        self.write_gates.ticket(table)
    }

    /// Runs `work`, a store call writing records checked against fields
    /// read after `ticket` was taken, once the table's gate lets it pass;
    /// refuses it, writing nothing, if a field of the table converted
    /// meanwhile. Hands off computed fields' fills as [`Pybase::fanning`]
    /// does.
    pub(super) async fn writing<T, F>(&self, ticket: &Ticket, work: F) -> StoreResult<T>
    where
        F: std::future::Future<Output = StoreResult<T>>,
    {
        let passing = WriteGates::pass(ticket).await;
        if passing.moved {
            return Err(stale_fields());
        }
        self.fanning(work).await
    }

    /// [`Self::writing`] for a write that checks no cell (a delete, a
    /// restore): it waits at the gate, and goes ahead whatever converted.
    pub(super) async fn writing_any<T, F>(&self, table: TableId, work: F) -> StoreResult<T>
    where
        F: std::future::Future<Output = StoreResult<T>>,
    {
        let _passing = WriteGates::pass(&self.write_ticket(table)).await;
        self.fanning(work).await
    }
}

#[cfg(test)]
mod tests;
