//! Shared pieces of PyBase's benches: the workload's rows, a PyBase fixture
//! built through the public facade, and the raw-driver ceilings (rusqlite and
//! sqlx used directly on a table shaped like PyBase's `records`).
//!
//! The criterion bench (`benches/backends.rs`) runs every workload on SQLite
//! and, when `PYBASE_TEST_POSTGRES_URL` is set, on PostgreSQL; the
//! `pybase-load` binary drives a running server over HTTP; `pybase-report`
//! turns both into `benches/RESULTS.md`. `benches/run.sh` runs them all.

pub mod data;
pub mod fixture;
pub mod raw;

use std::path::PathBuf;

/// How many rows each workload uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sizes {
    /// Records created by one run of the bulk-create workload.
    pub bulk: usize,
    /// Records of the table that point reads, updates and filtered pages use.
    pub big: usize,
    /// Records of the table walked page by page.
    pub walk: usize,
    /// Records per write batch.
    pub batch: usize,
    /// Records per page.
    pub page: usize,
    /// A name for the scale, printed in the results.
    pub label: &'static str,
}

impl Sizes {
    /// The sizes of the issue: 100,000 bulk, 1,000,000 big, 100,000 walked.
    pub const FULL: Self = Self {
        bulk: 100_000,
        big: 1_000_000,
        walk: 100_000,
        batch: 1000,
        page: 100,
        label: "full",
    };
    /// A smoke run (`run.sh --quick`).
    pub const QUICK: Self = Self {
        bulk: 10_000,
        big: 50_000,
        walk: 10_000,
        batch: 1000,
        page: 100,
        label: "quick",
    };
    /// Tiny sizes for `cargo test`, which runs each bench function once.
    pub const TEST: Self = Self {
        bulk: 2_000,
        big: 3_000,
        walk: 1_000,
        batch: 1000,
        page: 100,
        label: "test",
    };

    /// Full sizes under `cargo bench` (criterion's `--bench` flag), quick
    /// ones when `PYBASE_BENCH_QUICK=1`, tiny ones under `cargo test`.
    pub fn detect() -> Self {
        let benching = std::env::args().any(|a| a == "--bench");
        if !benching {
            Self::TEST
        } else if std::env::var("PYBASE_BENCH_QUICK").is_ok_and(|v| v == "1") {
            Self::QUICK
        } else {
            Self::FULL
        }
    }
}

/// Where benches write their data files, notes and results:
/// `PYBASE_BENCH_OUT`, or `target/pybase-bench` of the workspace.
pub fn out_dir() -> PathBuf {
    match std::env::var_os("PYBASE_BENCH_OUT") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join("target")
            .join("pybase-bench"),
    }
}

/// The two-worker runtime the benches drive PyBase with.
pub fn bench_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
}

/// `out_dir()/name`, emptied (SQLite files start fresh each run).
pub fn fresh_dir(name: &str) -> std::io::Result<PathBuf> {
    let dir = out_dir().join(name);
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// Drops and creates the database `name` on the server of `admin` (a
/// `postgres://` URL of another database there); answers its URL.
pub async fn fresh_postgres_database(admin: &str, name: &str) -> anyhow::Result<String> {
    let pool = sqlx::PgPool::connect(admin).await?;
    for stmt in [
        format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        format!("CREATE DATABASE {name}"),
    ] {
        sqlx::raw_sql(sqlx::AssertSqlSafe(stmt))
            .execute(&pool)
            .await?;
    }
    pool.close().await;
    Ok(postgres_database_url(admin, name))
}

/// The URL of a database named `name` on the server of `url` (a
/// `postgres://` URL whose path names another database).
pub fn postgres_database_url(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let root = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{root}/{name}?{q}"),
        None => format!("{root}/{name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls_keep_host_and_options() {
        assert_eq!(
            postgres_database_url("postgres://u@h:5432/test", "b"),
            "postgres://u@h:5432/b"
        );
        assert_eq!(
            postgres_database_url("postgres://u@h/test?sslmode=disable", "b"),
            "postgres://u@h/b?sslmode=disable"
        );
        assert_eq!(postgres_database_url("postgres://h", "b"), "postgres://h/b");
    }
}
