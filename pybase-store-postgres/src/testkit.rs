//! Throwaway PostgreSQL databases for tests (feature `testkit`): the
//! conformance suite, this crate's own tests and the cross-backend suite in
//! `pybase-testsuite` all make their databases here.
//!
//! Each [`TestDb`] is a fresh database, `pybase_test_<unix seconds>_<random>`,
//! migrated, so tests run in parallel on one server; it is dropped when the
//! test passes and kept (with its name printed) when it fails. Whether a
//! server is configured at all is `pybase_core::testkit::services`' business.

// Test support: a failed set-up is meant to panic with the reason.
#![allow(clippy::unwrap_used)]

use std::str::FromStr;
use std::sync::Arc;

use pybase_core::store::Store;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection};

use crate::PgStore;

/// A throwaway database with a migrated [`PgStore`] on it.
#[derive(Debug)]
pub struct TestDb {
    /// The store, connected to the fresh database.
    pub store: PgStore,
    /// The database's name.
    pub name: String,
    admin: PgConnectOptions,
    options: PgConnectOptions,
    keep: bool,
}

/// Prefix of every test database's name.
const PREFIX: &str = "pybase_test_";
/// Test databases left behind (those of conformance cases, whose store
/// outlives any guard, and of failed tests) are swept by later runs once
/// this old and unused...
const SWEEP_IDLE_AFTER_SECS: u64 = 600;
/// ...or this old in any case.
const SWEEP_AFTER_SECS: u64 = 3600;

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// `pybase_test_<unix seconds>_<random>`.
fn random_name() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    h.write_u32(std::process::id());
    format!("{PREFIX}{}_{:016x}", now_secs(), h.finish())
}

/// Drops test databases left behind by earlier runs (best effort, once per
/// test binary).
async fn sweep_old_databases(conn: &mut sqlx::PgConnection) {
    static SWEPT: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if SWEPT.swap(true, std::sync::atomic::Ordering::SeqCst) {
        return;
    }
    let names: Vec<(String, bool)> = sqlx::query_as(
        "SELECT d.datname::text, EXISTS (SELECT 1 FROM pg_stat_activity a \
         WHERE a.datname = d.datname) FROM pg_database d \
         WHERE d.datname LIKE 'pybase\\_test\\_%'",
    )
    .fetch_all(&mut *conn)
    .await
    .unwrap_or_default();
    let now = now_secs();
    for (name, in_use) in names {
        let age = if in_use {
            SWEEP_AFTER_SECS
        } else {
            SWEEP_IDLE_AFTER_SECS
        };
        let cutoff = now.saturating_sub(age);
        let born = name
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split('_').next())
            .and_then(|secs| secs.parse::<u64>().ok());
        if born.is_some_and(|b| b < cutoff)
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            let _ = sqlx::query(AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .execute(&mut *conn)
            .await;
        }
    }
}

impl TestDb {
    /// Creates a fresh database on the server at `url` and migrates it.
    pub async fn new(url: &str) -> Self {
        let admin = PgConnectOptions::from_str(url).expect("a valid postgres URL");
        let name = random_name();
        let mut conn = admin.connect().await.expect("connect to the test server");
        sweep_old_databases(&mut conn).await;
        sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .expect("create test database");
        conn.close().await.ok();
        let options = admin.clone().database(&name);
        let pool = PgPoolOptions::new()
            .max_connections(5)
            .connect_with(options.clone())
            .await
            .expect("connect to the test database");
        let store = PgStore::from_pool(pool);
        store.migrate().await.expect("migrate");
        Self {
            store,
            name,
            admin,
            options,
            keep: false,
        }
    }

    /// The store as a trait object, for the conformance suite.
    pub fn dyn_store(&self) -> Arc<dyn Store> {
        Arc::new(self.store.clone())
    }

    /// A second, independent pool on the same database.
    pub async fn second_store(&self) -> PgStore {
        let pool = PgPoolOptions::new()
            .max_connections(5)
            .connect_with(self.options.clone())
            .await
            .expect("connect to the test database");
        PgStore::from_pool(pool)
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if self.keep {
            return;
        }
        if std::thread::panicking() {
            eprintln!("test failed: keeping database {} for inspection", self.name);
            return;
        }
        let admin = self.admin.clone();
        let name = self.name.clone();
        // Drop cannot await: drop the database from a helper thread with its
        // own runtime, and wait for it. FORCE ends the pool's connections.
        let done = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async move {
                let mut conn = admin.connect().await.ok()?;
                sqlx::query(AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .execute(&mut conn)
                .await
                .ok()?;
                Some(())
            })
        })
        .join();
        if !matches!(done, Ok(Some(()))) {
            eprintln!("could not drop test database {}", self.name);
        }
    }
}

/// A store on a fresh database for a conformance case. The case only keeps
/// the store (its pool closes when the case ends), so the database outlives
/// it; the next test binary to start sweeps it.
pub async fn conformance_store(url: &str) -> Arc<dyn Store> {
    let mut db = TestDb::new(url).await;
    db.keep = true;
    db.dyn_store()
}
