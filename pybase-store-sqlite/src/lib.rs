//! SQLite storage backend for PyBase: the embedded default.
//!
//! [`SqliteStore`] implements every trait of [`pybase_core::store`] on one
//! SQLite database (bundled SQLite, so no system library is needed):
//!
//! - one writer connection behind a mutex plus a small pool of reader
//!   connections; all blocking work runs in [`tokio::task::spawn_blocking`];
//! - WAL journal, `synchronous=NORMAL`, foreign keys on and a busy timeout;
//!   file databases open through `wal_vfs`, the default VFS writing each
//!   WAL frame with one system call instead of two;
//! - every writing method is one immediate transaction, so it fully happens
//!   or not at all, even if the process is killed half-way;
//! - record cells live in a JSONB `data` column keyed by field id, in one
//!   `records` table for all user tables, with a side index of indexed
//!   cells kept by triggers (a constant schema: see `layout`); a record
//!   update reads the record, merges by `jsonb_patch`'s rules in Rust and
//!   writes the whole document inside its write transaction (`read_first`:
//!   the record as read is the change log's "before"), while derived cells
//!   are merged inside SQLite (`jsonb_patch`);
//! - filters and sorts compile to parameterised SQL with the same semantics
//!   as [`pybase_core::query::eval`]; pages are keyset pages;
//! - migrations are embedded and tracked with `PRAGMA user_version`, so an
//!   existing database is upgraded in place when opened.

// `unsafe` in two places only: one call in `changes::data_version` (a file
// control rusqlite has no wrapper for), and `wal_vfs` (a VFS is C
// callbacks).
#![deny(unsafe_code)]

mod auth;
mod changes;
mod checkpoints;
mod computed;
mod error;
mod fills;
mod layout;
mod legacy_layout;
mod links;
mod migrate;
mod read_first;
mod records;
mod rows;
mod schema;
mod sql;
mod table_names;
#[allow(unsafe_code)]
mod wal_vfs;
mod webhooks;
mod workspaces;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, TryLockError};
use std::time::Duration;

use async_trait::async_trait;
use pybase_core::store::StoreHealth;
use pybase_core::{StoreError, StoreResult};
use rusqlite::{Connection, OpenFlags};
use tokio::sync::Semaphore;

use crate::error::{Error, Result};

/// Number of reader connections kept open.
const READERS: usize = 4;
/// How long a connection waits for a lock held by another one.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Prepared statements cached per connection.
const STATEMENT_CACHE: usize = 256;

/// Where the database lives.
#[derive(Clone)]
enum Location {
    /// A file on disk.
    File(PathBuf),
    /// A process-local in-memory database shared by this store's connections.
    Memory(String),
}

impl Location {
    fn open(&self, writer: bool) -> Result<Connection> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = match self {
            Self::File(path) => match wal_vfs::name() {
                Some(vfs) => Connection::open_with_flags_and_vfs(path, flags, vfs)?,
                None => Connection::open_with_flags(path, flags)?,
            },
            Self::Memory(uri) => Connection::open_with_flags(uri, flags)?,
        };
        conn.busy_timeout(BUSY_TIMEOUT)?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        conn.pragma_update(None, "foreign_keys", true)?;
        if let Self::File(_) = self {
            // WAL lets readers run while the writer writes; NORMAL is durable
            // across application crashes (only an OS crash may lose the last
            // commits, never corrupt).
            let mode: String =
                conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
            if !mode.eq_ignore_ascii_case("wal") {
                tracing::warn!(mode, "sqlite did not switch to WAL");
            }
            conn.pragma_update(None, "synchronous", "NORMAL")?;
        }
        if writer {
            // Statement journals (each INSERT with a foreign key in a
            // multi-row transaction opens one) stay in memory instead of
            // spilling to a temporary file: a fifth of a bulk insert's time.
            conn.pragma_update(None, "temp_store", "MEMORY")?;
        } else {
            conn.pragma_update(None, "query_only", true)?;
        }
        Ok(conn)
    }
}

struct Inner {
    location: Location,
    writer: Mutex<Writer>,
    readers: Mutex<Vec<Connection>>,
    read_permits: Arc<Semaphore>,
    fields: Arc<pybase_core::store::FieldsCache>,
    feed: pybase_core::store::ChangeFeed,
}

/// The writer connection, and what the change log keeps of the database
/// between its transactions (see [`changes::Numbers`]).
struct Writer {
    conn: Connection,
    numbers: changes::Numbers,
    /// The checkpointer thread of a file database (`None` in memory).
    checkpoints: Option<checkpoints::Checkpoints>,
}

impl Writer {
    /// Runs `f` in one write transaction ([`write_transaction`]) with the
    /// log's numbers lent to this thread, then announces what it logged if
    /// it committed ([`changes::finish`]).
    fn run<T>(
        &mut self,
        feed: &pybase_core::store::ChangeFeed,
        f: impl FnOnce(&Connection) -> Result<T>,
    ) -> Result<T> {
        changes::begin(std::mem::take(&mut self.numbers));
        let out = write_transaction(&self.conn, f);
        self.numbers = changes::finish(&self.conn, feed, out.is_ok());
        if let Some(checkpoints) = &self.checkpoints {
            checkpoints.committed();
        }
        out
    }
}

/// Rolls back the open transaction of a connection when dropped before
/// [`RollbackGuard::disarm`] (an error or a panic inside a write).
struct RollbackGuard<'c> {
    conn: &'c Connection,
    armed: bool,
}

impl RollbackGuard<'_> {
    fn disarm(mut self) {
        self.armed = false;
    }
}

impl Drop for RollbackGuard<'_> {
    fn drop(&mut self) {
        if self.armed && !self.conn.is_autocommit() {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }
}

/// Runs `f` in one immediate write transaction on `conn`, committing if it
/// succeeds and rolling back otherwise (cached `BEGIN IMMEDIATE`/`COMMIT`).
fn write_transaction<T>(conn: &Connection, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
    changes::reset();
    conn.prepare_cached("BEGIN IMMEDIATE")?.execute([])?;
    let guard = RollbackGuard { conn, armed: true };
    let out = f(conn)?;
    changes::settled()?;
    conn.prepare_cached("COMMIT")?.execute([])?;
    guard.disarm();
    Ok(out)
}

/// Runs `f` in one read transaction on `conn`. `BEGIN` and `COMMIT` are
/// cached statements: rusqlite's `transaction()` parses them on every call,
/// which costs about as much as a point read.
fn read_transaction<T>(conn: &Connection, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
    conn.prepare_cached("BEGIN")?.execute([])?;
    let out = f(conn);
    let end = conn
        .prepare_cached("COMMIT")
        .and_then(|mut s| s.execute([]));
    if end.is_err() && !conn.is_autocommit() {
        // Ends the transaction whatever happened, so the pooled connection
        // never keeps an old snapshot.
        let _ = conn.execute_batch("ROLLBACK");
    }
    let value = out?;
    end?;
    Ok(value)
}

/// A PyBase store on one SQLite database.
///
/// Cheap to clone: clones share the connections.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let location = match &self.inner.location {
            Location::File(p) => p.display().to_string(),
            Location::Memory(uri) => uri.clone(),
        };
        f.debug_struct("SqliteStore")
            .field("location", &location)
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (creating it and its parent folder if needed) the database file
    /// at `path` and brings its schema up to date.
    ///
    /// This blocks while it opens and migrates; call it at startup (or from
    /// `spawn_blocking`).
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref();
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(Error::from)?;
        }
        Ok(Self::with_location(Location::File(path.to_path_buf()))?)
    }

    /// A fresh, empty in-memory database, private to this store (and its
    /// clones) and gone when the last clone is dropped.
    ///
    /// Its connections share one database through SQLite's `memdb` VFS, so
    /// readers see exactly what the writer committed, with ordinary locking.
    pub fn open_in_memory() -> Result<Self, StoreError> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        // A leading '/' makes memdb share the database between connections
        // of this process that use the same name.
        let uri = format!("file:/pybase-{}-{nanos}-{n}?vfs=memdb", std::process::id());
        Ok(Self::with_location(Location::Memory(uri))?)
    }

    fn with_location(location: Location) -> Result<Self> {
        let mut writer = location.open(true)?;
        // Migrations may sort a whole table (0014 sorts the change log):
        // their sorts spill to temporary files, not memory.
        writer.pragma_update(None, "temp_store", "FILE")?;
        migrate::migrate(&mut writer, migrate::MIGRATIONS)?;
        writer.pragma_update(None, "temp_store", "MEMORY")?;
        // Finishes cell indexes whose build a previous process left half
        // done (queries ignore them until they are ready). No ANALYZE: the
        // plans of the shared layout do not depend on statistics, and
        // statistics of the shared tables would describe all user tables
        // at once (see crate::layout). Nor would they be harmless: the
        // bundled SQLite has STAT4, with which a statement whose indexed
        // `table_id = ?n` has statistics is prepared again at every new
        // binding, undoing the one statement for every table.
        while write_transaction(&writer, layout::build_step)? {}
        let readers = (0..READERS)
            .map(|_| location.open(false))
            .collect::<Result<Vec<_>>>()?;
        // WAL checkpoints move to a thread of their own (file databases:
        // in memory there is no WAL).
        let checkpoints = match &location {
            Location::File(_) => Some(checkpoints::Checkpoints::start(
                &writer,
                location.open(true)?,
            )?),
            Location::Memory(_) => None,
        };
        Ok(Self {
            inner: Arc::new(Inner {
                location,
                writer: Mutex::new(Writer {
                    conn: writer,
                    numbers: changes::Numbers::default(),
                    checkpoints,
                }),
                readers: Mutex::new(readers),
                read_permits: Arc::new(Semaphore::new(READERS)),
                fields: Arc::default(),
                feed: pybase_core::store::ChangeFeed::new(),
            }),
        })
    }

    /// The cache of parsed fields, for read closures.
    fn fields_cache(&self) -> Arc<pybase_core::store::FieldsCache> {
        Arc::clone(&self.inner.fields)
    }

    /// The schema version of the database (the number of applied migrations).
    pub async fn schema_version(&self) -> StoreResult<i64> {
        self.read(migrate::version).await
    }

    /// Runs `f` in one immediate write transaction on the writer connection,
    /// committing if it succeeds and rolling back otherwise.
    async fn write<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        // The caller's fan-out limit of computed fields, for the recompute
        // that runs on the blocking thread.
        let fan = pybase_core::store::computed::current_fan_out();
        let joined = tokio::task::spawn_blocking(move || -> Result<T> {
            // A panic inside a transaction unwinds through the rollback
            // guard, so a poisoned writer is still consistent.
            let mut writer = inner.writer.lock().unwrap_or_else(PoisonError::into_inner);
            pybase_core::store::computed::with_fan_out_here(fan, || writer.run(&inner.feed, f))
        })
        .await;
        match joined {
            Ok(r) => r.map_err(StoreError::from),
            Err(e) => Err(Error::from(e).into()),
        }
    }

    /// Fills the cell indexes still being built, one chunk of records per
    /// write transaction, so other writes interleave with the build (see
    /// [`layout::build_step`]). Called after a write that indexed a field.
    async fn build_cell_indexes(&self) -> StoreResult<()> {
        if !self.read_small(layout::building).await? {
            return Ok(());
        }
        while self.write(layout::build_step).await? {}
        Ok(())
    }

    /// Runs a small write (one record) like [`Self::write`], but on the
    /// calling thread when the writer is free at once: the hop to the
    /// blocking pool and back costs more than the write itself. Batches
    /// must use [`Self::write`].
    async fn write_small<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        // The guard must be gone before the await (it is not Send).
        let f = {
            let guard = match self.inner.writer.try_lock() {
                Ok(g) => Some(g),
                Err(TryLockError::Poisoned(p)) => Some(p.into_inner()),
                Err(TryLockError::WouldBlock) => None,
            };
            match guard {
                Some(mut writer) => {
                    return writer.run(&self.inner.feed, f).map_err(StoreError::from);
                }
                None => f,
            }
        };
        self.write(f).await
    }

    /// Runs a short read (a few lookups by key) like [`Self::read`], but on
    /// the calling thread when a reader is free at once.
    ///
    /// Handing work to the blocking pool and back costs several times more
    /// than a lookup by primary key, and such a lookup never waits for the
    /// writer (WAL readers read a snapshot), so point reads run in place.
    /// Unbounded reads (pages, scans) must use [`Self::read`].
    async fn read_small<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        if let Ok(permit) = Arc::clone(&self.inner.read_permits).try_acquire_owned() {
            let pooled = self
                .inner
                .readers
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .pop();
            if let Some(conn) = pooled {
                let out = read_transaction(&conn, f);
                self.inner
                    .readers
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(conn);
                drop(permit);
                return out.map_err(StoreError::from);
            }
        }
        self.read(f).await
    }

    /// Runs `f` in one read transaction (a consistent snapshot) on a reader.
    async fn read<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let permit = Arc::clone(&self.inner.read_permits)
            .acquire_owned()
            .await
            .map_err(|e| StoreError::backend(error::BACKEND, e))?;
        let inner = Arc::clone(&self.inner);
        let joined = tokio::task::spawn_blocking(move || -> Result<T> {
            let _permit = permit;
            let pooled = inner
                .readers
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .pop();
            // A reader lost to a panic is replaced here.
            let conn = match pooled {
                Some(c) => c,
                None => inner.location.open(false)?,
            };
            let out = read_transaction(&conn, f);
            inner
                .readers
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(conn);
            out
        })
        .await;
        match joined {
            Ok(r) => r.map_err(StoreError::from),
            Err(e) => Err(Error::from(e).into()),
        }
    }
}

#[async_trait]
impl StoreHealth for SqliteStore {
    async fn ping(&self) -> StoreResult<()> {
        self.read(|conn| {
            let one: i64 = conn.query_row("SELECT 1", [], |r| r.get(0))?;
            if one == 1 {
                Ok(())
            } else {
                Err(Error::corrupt("ping", "SELECT 1 did not answer 1"))
            }
        })
        .await
    }

    fn backend_name(&self) -> &'static str {
        error::BACKEND
    }
}
