//! WAL checkpoints on a thread of their own, off the write path.
//!
//! SQLite's automatic checkpoint runs inside the commit that takes the WAL
//! past 1,000 pages: that write (and every write waiting for the writer
//! behind it) pays for copying the WAL's pages into the database and
//! syncing it, several milliseconds at scale and 8-12% of the writer's time
//! (`benches/ANALYSIS.md`, "The log's cost at scale"). The store turns it
//! off on the writer and instead:
//!
//! - a WAL hook on the writer notes the WAL's size at each commit
//!   ([`note_wal_pages`]: SQLite calls it on the committing thread);
//! - after a commit that took the WAL to [`CHECKPOINT_PAGES`] or more, the
//!   writer wakes the checkpointer thread ([`Checkpoints::committed`]),
//!   which runs a `PASSIVE` checkpoint on a connection of its own (passive:
//!   it copies what no reader still needs and never blocks the writer or
//!   the readers);
//! - should the WAL still reach [`INLINE_PAGES`] (the checkpointer held up,
//!   or a long reader pinning old pages), the writer checkpoints in its own
//!   commit as before, so the WAL cannot grow without bound.

use std::cell::Cell;
use std::ffi::c_int;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::{self, JoinHandle};

use rusqlite::hooks::Wal;
use rusqlite::{Connection, ErrorCode};

use crate::error::Result;

/// WAL pages after which a commit wakes the checkpointer (SQLite's own
/// automatic checkpoint threshold).
pub(crate) const CHECKPOINT_PAGES: c_int = 1_000;

/// WAL pages after which the writer checkpoints in its own commit.
pub(crate) const INLINE_PAGES: c_int = 20 * CHECKPOINT_PAGES;

thread_local! {
    /// The WAL's size in pages after the last commit on this thread, as
    /// the writer's WAL hook saw it (0 once taken).
    static WAL_PAGES: Cell<c_int> = const { Cell::new(0) };
}

/// Whether the last checkpoint (either kind) failed, so a lasting failure
/// is logged once, not at every commit.
static FAILING: AtomicBool = AtomicBool::new(false);

/// Logs a checkpoint's failure once per run of failures; `Ok` ends a run.
fn report(outcome: &rusqlite::Result<()>, by: &str) {
    match outcome {
        Ok(()) => FAILING.store(false, Ordering::Relaxed),
        // A reader or the other checkpoint holds the pages: the next one
        // takes them.
        Err(e) if e.sqlite_error_code() == Some(ErrorCode::DatabaseBusy) => {}
        Err(e) => {
            if !FAILING.swap(true, Ordering::Relaxed) {
                tracing::warn!(error = %e, by, "sqlite WAL checkpoint failed; the WAL grows until one succeeds");
            }
        }
    }
}

/// The writer's WAL hook: notes the WAL's size for [`take_wal_pages`], and
/// checkpoints in the commit itself past [`INLINE_PAGES`].
fn note_wal_pages(wal: &Wal, pages: c_int) -> rusqlite::Result<()> {
    WAL_PAGES.with(|p| p.set(pages));
    if pages >= INLINE_PAGES {
        // As SQLite's automatic checkpoint does, the commit stands whatever
        // the checkpoint's outcome.
        report(&wal.checkpoint(), "writer");
    }
    Ok(())
}

/// The WAL's size noted by the last commit on this thread, then forgotten.
fn take_wal_pages() -> c_int {
    WAL_PAGES.with(|p| p.replace(0))
}

/// What the writer and the checkpointer thread share.
#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

#[derive(Default)]
struct State {
    /// A checkpoint is asked for.
    due: bool,
    /// The store is gone: the thread ends.
    stop: bool,
}

/// The checkpointer thread of a file database.
pub(crate) struct Checkpoints {
    shared: Arc<Shared>,
    /// Joined on drop, so no checkpoint writes the file after the store
    /// is gone.
    thread: Option<JoinHandle<()>>,
}

impl Checkpoints {
    /// Turns the writer's automatic checkpoint into the WAL hook and starts
    /// the thread, which checkpoints through `conn` (a connection of its
    /// own to the same database).
    pub(crate) fn start(writer: &Connection, conn: Connection) -> Result<Self> {
        let shared = Arc::new(Shared::default());
        let theirs = Arc::clone(&shared);
        let thread = thread::Builder::new()
            .name("pybase-sqlite-checkpoints".to_owned())
            .spawn(move || run(&theirs, &conn))?;
        // Replaces SQLite's automatic checkpoint (the same hook slot).
        writer.wal_hook(Some(note_wal_pages));
        Ok(Self {
            shared,
            thread: Some(thread),
        })
    }

    /// Called by the writer after each commit, on the committing thread:
    /// wakes the thread once the WAL has grown past [`CHECKPOINT_PAGES`].
    pub(crate) fn committed(&self) {
        if take_wal_pages() < CHECKPOINT_PAGES {
            return;
        }
        let mut state = self
            .shared
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if !state.due {
            state.due = true;
            self.shared.wake.notify_one();
        }
    }
}

impl Drop for Checkpoints {
    /// Stops the thread and waits for it (at most the checkpoint under
    /// way), so its connection is closed when the store is.
    fn drop(&mut self) {
        {
            let mut state = self
                .shared
                .state
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            state.stop = true;
            self.shared.wake.notify_one();
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The thread: one passive checkpoint each time it is woken, until the
/// store is dropped.
fn run(shared: &Shared, conn: &Connection) {
    loop {
        {
            let mut state = shared.state.lock().unwrap_or_else(PoisonError::into_inner);
            while !state.due && !state.stop {
                state = shared
                    .wake
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
            }
            if state.stop {
                return;
            }
            state.due = false;
        }
        report(&checkpoint(conn), "checkpoint thread");
    }
}

/// One passive checkpoint.
fn checkpoint(conn: &Connection) -> rusqlite::Result<()> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The writer's commits do not checkpoint (the database file keeps its
    /// size while the WAL grows past the threshold); the thread does once
    /// a commit tells it the WAL passed the threshold, and every commit
    /// stays readable through a third connection.
    #[test]
    fn the_thread_checkpoints_what_the_writer_leaves() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ckpt.db");
        let open = || {
            let c = Connection::open(&path).unwrap();
            c.pragma_update(None, "journal_mode", "WAL").unwrap();
            c
        };
        let writer = open();
        writer.execute_batch("CREATE TABLE t (x BLOB)").unwrap();
        let checkpoints = Checkpoints::start(&writer, open()).unwrap();
        let size = || std::fs::metadata(&path).unwrap().len();
        let before = size();
        // Each insert of a 4,000-byte blob adds a page or more to the WAL:
        // past SQLite's automatic threshold, short of the inline limit.
        let rows = CHECKPOINT_PAGES + CHECKPOINT_PAGES / 4;
        for _ in 0..rows {
            writer
                .execute("INSERT INTO t VALUES (zeroblob(4000))", [])
                .unwrap();
        }
        assert_eq!(size(), before, "the writer checkpointed");
        // The last commit's WAL size wakes the thread, which copies the
        // pages into the database file.
        checkpoints.committed();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while size() < 4_000 * u64::try_from(CHECKPOINT_PAGES).unwrap() {
            assert!(std::time::Instant::now() < deadline, "no checkpoint ran");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let reader = open();
        let n: i64 = reader
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, i64::from(rows));
        drop(checkpoints);
    }
}
