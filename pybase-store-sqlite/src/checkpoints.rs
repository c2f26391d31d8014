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
//! - each time a commit took the WAL [`CHECKPOINT_PAGES`] past where it
//!   was at the last wake, the writer wakes the checkpointer thread
//!   ([`Checkpoints::committed`]), which runs a `PASSIVE` checkpoint on a
//!   connection of its own (passive: it copies what no reader still needs
//!   and never blocks the writer or the readers);
//! - once the WAL reaches [`INLINE_PAGES`], the writer checkpoints in its
//!   own commit, which copies what the thread has not (the frames since its
//!   last wake, at most about [`CHECKPOINT_PAGES`]); with the WAL copied
//!   whole, the next write starts it again from its beginning. Should the
//!   thread's checkpoint be under way then, the writer's fails as busy and
//!   the next commits try again (a few milliseconds of commits past the
//!   limit); leaving the last stretch before the limit to the writer
//!   instead doubled what it copies in its commit, and a bulk create's
//!   p99 with it.
//!
//! SQLite starts the WAL again only at a write that begins with every
//! frame copied, which a checkpoint beside a busy writer never gets to (the
//! writer adds frames while it copies): the inline checkpoint is what keeps
//! the WAL small. Waking the thread at every commit past the threshold, as
//! the first version did, ran a checkpoint (and its two `fsync`s) about
//! every other commit while the WAL grew to the inline limit
//! (`benches/ANALYSIS.md`, "The log's cost at scale, eighth look").

use std::cell::Cell;
use std::ffi::c_int;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::{self, JoinHandle};

use rusqlite::hooks::{CheckpointMode, Wal};
use rusqlite::{Connection, ErrorCode};

use crate::error::Result;

/// WAL pages the WAL grows between two wakes of the checkpointer (SQLite's
/// own automatic checkpoint threshold).
pub(crate) const CHECKPOINT_PAGES: c_int = 1_000;

/// WAL pages after which the writer checkpoints in its own commit.
pub(crate) const INLINE_PAGES: c_int = 10 * CHECKPOINT_PAGES;

thread_local! {
    /// The WAL's size in pages after the last commit on this thread, as
    /// the writer's WAL hook saw it (0 once taken).
    static WAL_PAGES: Cell<c_int> = const { Cell::new(0) };
    /// Whether the writer copied the whole WAL in a commit since the last
    /// [`Checkpoints::committed`] on this thread: the WAL then starts
    /// again, so the wakes count from zero.
    static CHECKPOINTED_INLINE: Cell<bool> = const { Cell::new(false) };
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
        let outcome = wal.checkpoint_v2(CheckpointMode::PASSIVE);
        // Only a checkpoint that copied every frame lets the WAL start
        // again. One that found the thread's checkpoint under way (busy)
        // or a reader holding frames copied less, and the next commit
        // tries again; counting the wakes from zero after it would wake
        // the thread at every such commit.
        if let Ok((log, copied)) = outcome {
            CHECKPOINTED_INLINE.with(|c| c.set(copied >= log));
        }
        report(&outcome.map(|_| ()), "writer");
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
    /// Checkpoints the thread has run.
    runs: AtomicU64,
    /// Times the writer woke the thread.
    wakes: AtomicU64,
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
    /// The WAL's size in pages at the last wake (set back when the WAL
    /// starts again); touched by the writer only.
    mark: AtomicI32,
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
            mark: AtomicI32::new(0),
            thread: Some(thread),
        })
    }

    /// Called by the writer after each commit, on the committing thread:
    /// wakes the thread each time the WAL has grown [`CHECKPOINT_PAGES`]
    /// past its size at the last wake.
    pub(crate) fn committed(&self) {
        let pages = take_wal_pages();
        if pages == 0 {
            // Nothing committed on this thread since the last call.
            return;
        }
        if CHECKPOINTED_INLINE.with(|c| c.replace(false)) {
            // The writer copied the whole WAL in this commit: nothing is
            // left for the thread, and the next write starts the WAL again.
            self.mark.store(0, Ordering::Relaxed);
            return;
        }
        let mut mark = self.mark.load(Ordering::Relaxed);
        if pages < mark {
            // The WAL started again from its beginning.
            mark = 0;
            self.mark.store(0, Ordering::Relaxed);
        }
        if pages - mark < CHECKPOINT_PAGES {
            return;
        }
        self.mark.store(pages, Ordering::Relaxed);
        self.shared.wakes.fetch_add(1, Ordering::Relaxed);
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
        shared.runs.fetch_add(1, Ordering::Relaxed);
    }
}

/// One passive checkpoint.
fn checkpoint(conn: &Connection) -> rusqlite::Result<()> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};
    use std::time::{Duration, Instant};

    use super::*;

    /// A folder for a test database, and the database's path in it, with a
    /// table `t (x BLOB)`.
    fn database() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ckpt.db");
        open(&path)
            .execute_batch("CREATE TABLE t (x BLOB)")
            .unwrap();
        (dir, path)
    }

    /// A connection to `path` in WAL mode, synchronous as the store's.
    fn open(path: &Path) -> Connection {
        let c = Connection::open(path).unwrap();
        c.pragma_update(None, "journal_mode", "WAL").unwrap();
        c.pragma_update(None, "synchronous", "NORMAL").unwrap();
        c
    }

    /// Waits up to 10 s for the thread to have done what `done` checks.
    fn wait_until(done: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !done() {
            assert!(Instant::now() < deadline, "no checkpoint ran");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The writer's commits do not checkpoint (the database file keeps its
    /// size while the WAL grows past the threshold); the thread does once
    /// a commit tells it the WAL passed the threshold, and every commit
    /// stays readable through a third connection.
    #[test]
    fn the_thread_checkpoints_what_the_writer_leaves() {
        let (_dir, path) = database();
        let writer = open(&path);
        let checkpoints = Checkpoints::start(&writer, open(&path)).unwrap();
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
        wait_until(|| size() >= 4_000 * u64::try_from(CHECKPOINT_PAGES).unwrap());
        let reader = open(&path);
        let n: i64 = reader
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, i64::from(rows));
        drop(checkpoints);
    }

    /// The writer wakes the thread once per [`CHECKPOINT_PAGES`] the WAL
    /// grew, not at every commit past it, and its own checkpoint at
    /// [`INLINE_PAGES`] lets the WAL start again, so the WAL stays near
    /// that size however long the writer keeps committing.
    #[test]
    fn the_thread_runs_once_per_threshold_and_the_wal_stays_bounded() {
        let (_dir, path) = database();
        let writer = open(&path);
        let checkpoints = Checkpoints::start(&writer, open(&path)).unwrap();
        // Small commits, as the store's writer makes: the WAL pages they
        // add (counted from the hook's sizes) pass the inline limit.
        let (mut added, mut last, mut restarts, mut largest) = (0, 0, 0, 0);
        let mut commits = 0;
        while added < 4 * INLINE_PAGES {
            writer
                .execute("INSERT INTO t VALUES (zeroblob(3000))", [])
                .unwrap();
            let pages = WAL_PAGES.with(Cell::get);
            if pages < last {
                restarts += 1;
                added += pages;
            } else {
                added += pages - last;
            }
            largest = largest.max(pages);
            last = pages;
            commits += 1;
            checkpoints.committed();
        }
        let most = u64::try_from(added / CHECKPOINT_PAGES).unwrap();
        let wakes = checkpoints.shared.wakes.load(Ordering::Relaxed);
        assert!(
            (1..=most).contains(&wakes),
            "{wakes} wakes for {commits} commits adding {added} pages"
        );
        assert!(restarts >= 1, "the WAL never started again");
        // Past the limit only by the commits made while a checkpoint of
        // the thread kept the writer's busy: on a loaded machine (CI runs
        // the other tests beside it) that checkpoint took as long as
        // 10,000 pages of these commits, so the bound leaves it twice
        // that; without the writer's own checkpoint the WAL would hold
        // everything added (40,000 pages).
        assert!(
            largest < 3 * INLINE_PAGES,
            "the WAL grew to {largest} pages"
        );
        wait_until(|| checkpoints.shared.runs.load(Ordering::Relaxed) > 0);
        drop(checkpoints);
    }

    /// While a reader holds the WAL's first frames, no checkpoint copies
    /// them all and the WAL cannot start again: the writer's commits past
    /// [`INLINE_PAGES`] still wake the thread only once per
    /// [`CHECKPOINT_PAGES`] (as they would while the thread's checkpoint
    /// makes the writer's fail as busy), and the WAL starts again once the reader
    /// is gone.
    #[test]
    fn a_checkpoint_that_copies_part_of_the_wal_does_not_wake_at_every_commit() {
        let (_dir, path) = database();
        let writer = open(&path);
        writer
            .execute("INSERT INTO t VALUES (zeroblob(10))", [])
            .unwrap();
        let reader = open(&path);
        reader
            .execute_batch("BEGIN; SELECT count(*) FROM t;")
            .unwrap();
        let checkpoints = Checkpoints::start(&writer, open(&path)).unwrap();
        let mut pages = 0;
        let mut commits = 0;
        while pages < 2 * INLINE_PAGES {
            writer
                .execute("INSERT INTO t VALUES (zeroblob(3000))", [])
                .unwrap();
            pages = WAL_PAGES.with(Cell::get);
            checkpoints.committed();
            commits += 1;
        }
        let most = u64::try_from(pages / CHECKPOINT_PAGES).unwrap();
        let wakes = checkpoints.shared.wakes.load(Ordering::Relaxed);
        assert!(
            (1..=most).contains(&wakes),
            "{wakes} wakes for {commits} commits and {pages} WAL pages"
        );
        reader.execute_batch("COMMIT").unwrap();
        let mut restarted = false;
        for _ in 0..CHECKPOINT_PAGES {
            writer
                .execute("INSERT INTO t VALUES (zeroblob(3000))", [])
                .unwrap();
            let now = WAL_PAGES.with(Cell::get);
            checkpoints.committed();
            if now < pages {
                restarted = true;
                break;
            }
            pages = now;
        }
        assert!(restarted, "the WAL did not start again after the reader");
        drop(checkpoints);
    }
}
