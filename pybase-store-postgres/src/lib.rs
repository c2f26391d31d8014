//! PostgreSQL storage backend for PyBase (production).
//!
//! [`PgStore`] implements every storage trait of [`pybase_core::store`] on
//! PostgreSQL through `sqlx`:
//! - records keep their cells in a `JSONB` column with a GIN index
//!   (`jsonb_path_ops`) serving equality, `has_any` and `has_all`, and a
//!   partial btree on `(table_id, id)` of live rows serving keyset pages;
//! - partial updates merge inside the database
//!   (`(data || patch) - removed`), so concurrent edits of different cells
//!   of one record both survive;
//! - filters and sorts compile to parameterised SQL that agrees with
//!   [`pybase_core::query::eval`];
//! - migrations are embedded ([`PgStore::migrate`]).
//!
//! ```no_run
//! # async fn demo() -> Result<(), pybase_core::StoreError> {
//! let store = pybase_store_postgres::PgStore::connect("postgres://postgres@127.0.0.1/pybase").await?;
//! # let _ = store; Ok(()) }
//! ```
#![forbid(unsafe_code)]

mod auth;
mod changes;
mod computed;
mod error;
mod fills;
mod layout;
mod links;
mod nul;
mod query;
mod records;
mod retry;
mod rows;
mod schema;
mod sql;
mod statistics;
mod table_names;
mod webhooks;
mod workspaces;

#[cfg(feature = "testkit")]
pub mod testkit;

#[doc(hidden)]
pub use error::unique_constraint;

use std::time::Duration;

use async_trait::async_trait;
use pybase_core::store::StoreHealth;
use pybase_core::{StoreError, StoreResult};
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::error::{BACKEND, PgError, ResultExt};

/// Prepared statements cached per connection.
const STATEMENT_CACHE: usize = 1000;

/// How long a pooled connection may have been idle and still be handed out
/// without a ping (see [`pool_options`]).
const PING_IF_IDLE_FOR: Duration = Duration::from_millis(50);

/// The pool's settings: at most `max_connections`, waiting `acquire_timeout`
/// for one.
///
/// sqlx tests a connection with a ping (a round trip) both when it goes
/// back to the pool and, by default, again when it is taken out: three round
/// trips for a one-statement read. The release ping already drops a
/// connection that broke while in use, so the acquire ping is kept only
/// for one that has been idle for [`PING_IF_IDLE_FOR`] or longer: what a
/// database restart or a dropped connection leaves behind (no restart is
/// that fast). Under load, connections are idle for a millisecond or so
/// and go out untested.
fn pool_options(max_connections: u32, acquire_timeout: Duration) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(max_connections.max(1))
        .acquire_timeout(acquire_timeout)
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for >= PING_IF_IDLE_FOR {
                    sqlx::Connection::ping(conn).await?;
                }
                Ok(true)
            })
        })
}

/// The embedded migrations of this crate.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!();

/// Connection settings of a [`PgStore`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgStoreOptions {
    /// Most connections the pool opens.
    pub max_connections: u32,
    /// How long to wait for a free connection before failing.
    pub acquire_timeout: Duration,
    /// Whether to run the embedded migrations on connect.
    pub migrate: bool,
}

impl Default for PgStoreOptions {
    fn default() -> Self {
        Self {
            max_connections: 10,
            acquire_timeout: Duration::from_secs(30),
            migrate: true,
        }
    }
}

/// A PyBase store on PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    fields: std::sync::Arc<pybase_core::store::FieldsCache>,
    feed: pybase_core::store::ChangeFeed,
    stats: std::sync::Arc<statistics::Statistics>,
}

impl PgStore {
    /// Connects with default options and runs the migrations.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        Self::connect_with(url, PgStoreOptions::default()).await
    }

    /// Connects with `options`, running the migrations if asked to.
    pub async fn connect_with(url: &str, options: PgStoreOptions) -> StoreResult<Self> {
        // Statements name a table's own records table, so each table in use
        // prepares its own: a larger cache than sqlx's 100 keeps the tables
        // a server is busy with prepared.
        let connect = url
            .parse::<PgConnectOptions>()
            .db()?
            .statement_cache_capacity(STATEMENT_CACHE);
        let pool = pool_options(options.max_connections, options.acquire_timeout)
            .connect_with(connect)
            .await
            .db()?;
        let store = Self::from_pool(pool);
        if options.migrate {
            store.migrate().await?;
        }
        Ok(store)
    }

    /// Wraps an existing pool; does not run the migrations.
    pub fn from_pool(pool: PgPool) -> Self {
        Self {
            pool,
            fields: std::sync::Arc::default(),
            feed: pybase_core::store::ChangeFeed::new(),
            stats: std::sync::Arc::default(),
        }
    }

    /// Applies the embedded migrations that have not been applied yet
    /// (idempotent; concurrent callers are serialised by the migrator's
    /// lock), then the steps that need Rust: moving records to their own
    /// tables (the `layout` module) and keying table names SQL cannot lowercase by
    /// core's rules (the `table_names` module).
    pub async fn migrate(&self) -> StoreResult<()> {
        MIGRATOR
            .run(&self.pool)
            .await
            .map_err(|e| StoreError::from(PgError::from(e)))?;
        layout::split_shared_records(&self.pool).await?;
        // The name keys SQL cannot compute (migration 20261129400000).
        table_names::key_remaining(&self.pool).await
    }

    /// The underlying connection pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

#[async_trait]
impl StoreHealth for PgStore {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await.db()?;
        Ok(())
    }

    fn backend_name(&self) -> &'static str {
        BACKEND
    }
}
