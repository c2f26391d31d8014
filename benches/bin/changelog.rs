//! `pybase-changelog`: what the change log (issue 14) costs a write.
//!
//! Through the facade, on each backend, it times single-record updates
//! (one cell, the server's `PATCH`) and bulk creates (1,000 records in one
//! call) with the log written and with its writes measured out
//! (`pybase_core::store::measure_without_change_log`: the same build, the
//! stores skip the append, the "before" reads it needs and, on
//! PostgreSQL, the transaction around a single update). Modes alternate
//! round by round, so the machine's other work weighs on both alike, and
//! the report gives each median and p99, the ratio of the medians, and
//! the median of the ratios of paired samples (the k-th sample of each
//! mode, taken in the same round).
//!
//! ```text
//! cargo run --release -p pybase-benches --bin pybase-changelog -- \
//!     [--rounds 10] [--updates 200] [--bulks 3] [--backends sqlite,postgres] [--trace] [--keep-db] [--only on|off]
//! ```
//!
//! PostgreSQL: `PYBASE_TEST_POSTGRES_URL`; its database is created and
//! dropped. SQLite uses a file in a temporary folder. Markdown to stdout.

#[path = "layouts/stats.rs"]
#[allow(dead_code)]
mod stats;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use pybase_benches::data::row;
use pybase_benches::fixture::{Bench, BenchTable};
use pybase_benches::postgres_database_url;
use pybase_core::ids::RecordId;
use pybase_core::store::{Store, measure_without_change_log};
use pybase_store_postgres::PgStore;
use pybase_store_sqlite::SqliteStore;
use serde_json::{Map, Value, json};
use sqlx::{AssertSqlSafe, Connection as _};
use stats::{Samples, ratio, show};

struct Args {
    rounds: usize,
    updates: usize,
    bulks: usize,
    sqlite: bool,
    postgres: bool,
    /// Print every bulk create's time to stderr, in the order taken.
    trace: bool,
    /// Keep the PostgreSQL database after the run (its name is printed),
    /// to study its statements with `pgbench` or `EXPLAIN`.
    keep_db: bool,
    /// Run only one mode (`on`: the log written, `off`: measured out), to
    /// profile it alone (`perf stat` of the whole machine per mode).
    only: Option<bool>,
}

fn args() -> anyhow::Result<Args> {
    let mut a = Args {
        rounds: 10,
        updates: 200,
        bulks: 3,
        sqlite: true,
        postgres: true,
        trace: false,
        keep_db: false,
        only: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().context("a value after the flag");
        match flag.as_str() {
            "--rounds" => a.rounds = value()?.parse()?,
            "--updates" => a.updates = value()?.parse()?,
            "--bulks" => a.bulks = value()?.parse()?,
            "--trace" => a.trace = true,
            "--keep-db" => a.keep_db = true,
            "--only" => {
                a.only = Some(match value()?.as_str() {
                    "on" => true,
                    "off" => false,
                    other => anyhow::bail!("--only takes on or off, not {other}"),
                })
            }
            "--backends" => {
                let v = value()?;
                a.sqlite = v.contains("sqlite");
                a.postgres = v.contains("postgres");
            }
            other => anyhow::bail!("unknown flag {other}"),
        }
    }
    Ok(a)
}

/// Per mode (log on, log off): update and bulk-create samples, also in
/// the order taken (the k-th of each mode come from the same round and
/// position: a pair).
#[derive(Default)]
struct Mode {
    update: Samples,
    bulk: Samples,
    update_order: Vec<Duration>,
    bulk_order: Vec<Duration>,
}

/// The median of the ratios of paired samples (`with[k] / without[k]`):
/// a slow phase of the machine (a background `ANALYZE`, a checkpoint)
/// that lands on one side of a pair moves one ratio, where it can move a
/// whole side's median.
fn paired_ratio(with: &[Duration], without: &[Duration]) -> String {
    let mut ratios: Vec<f64> = with
        .iter()
        .zip(without)
        .filter(|(_, b)| !b.is_zero())
        .map(|(a, b)| a.as_secs_f64() / b.as_secs_f64())
        .collect();
    if ratios.is_empty() {
        return "–".to_owned();
    }
    ratios.sort_by(f64::total_cmp);
    format!("{:.2}×", ratios[ratios.len() / 2])
}

async fn measure(store: Arc<dyn Store>, a: &Args) -> anyhow::Result<[Mode; 2]> {
    let bench = Bench::new(store).await?;
    let table: BenchTable = bench.table("Items").await?;
    let ids: Vec<RecordId> = bench.fill(&table, 2_000, 500).await?;
    let qty = "Qty";
    let mut modes = [Mode::default(), Mode::default()];
    let mut next_row = 10_000_u64;
    for round in 0..a.rounds {
        // Alternate which mode goes first, too.
        for step in 0..2 {
            let off = (round + step) % 2 == 1;
            if a.only.is_some_and(|on| on == off) {
                continue;
            }
            measure_without_change_log(off);
            let m = &mut modes[usize::from(off)];
            for i in 0..a.updates {
                let id = ids[(round * a.updates + i) % ids.len()];
                // Both modes update the same records in a round: the
                // second writes a value of its own, or its updates would
                // change nothing (neither written nor logged).
                let value = (round * 7 + i) % 1000 + 1000 * step;
                let cells: Map<String, Value> =
                    [(qty.to_owned(), json!(value))].into_iter().collect();
                let t0 = Instant::now();
                bench
                    .pb
                    .update_record(&bench.who, table.id, id, cells, Bench::opts(), false)
                    .await?;
                let d = t0.elapsed();
                m.update.push(d);
                m.update_order.push(d);
            }
            for _ in 0..a.bulks {
                let inputs: Vec<Map<String, Value>> = (next_row..next_row + 1000)
                    .map(|i| row(i).named())
                    .collect();
                next_row += 1000;
                let t0 = Instant::now();
                bench
                    .pb
                    .create_records(&bench.who, table.id, inputs, Bench::opts())
                    .await?;
                let d = t0.elapsed();
                if a.trace {
                    eprintln!(
                        "round {round} bulk {} log {}: {d:?}",
                        m.bulk.len(),
                        if off { "off" } else { "on" }
                    );
                }
                m.bulk.push(d);
                m.bulk_order.push(d);
            }
        }
    }
    measure_without_change_log(false);
    Ok(modes)
}

fn report(name: &str, modes: &[Mode; 2]) {
    let [on, off] = modes;
    println!(
        "| {name} | operation | log measured out: p50 / p99 | with the log: p50 / p99 | median ratio | median of paired ratios |"
    );
    println!("|---|---|---|---|---|---|");
    for (label, with, without, with_order, without_order) in [
        (
            "single-record update",
            &on.update,
            &off.update,
            &on.update_order,
            &off.update_order,
        ),
        (
            "bulk create (1,000 records)",
            &on.bulk,
            &off.bulk,
            &on.bulk_order,
            &off.bulk_order,
        ),
    ] {
        println!(
            "| {name} | {label} ({} samples each) | {} / {} | {} / {} | {} | {} |",
            with.len(),
            show(without.p50()),
            show(without.p99()),
            show(with.p50()),
            show(with.p99()),
            ratio(with.p50(), without.p50()),
            paired_ratio(with_order, without_order),
        );
    }
    println!();
}

fn main() -> anyhow::Result<()> {
    let a = args()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async {
        if a.sqlite {
            let dir = std::env::temp_dir().join(format!("pybase-changelog-{}", std::process::id()));
            std::fs::create_dir_all(&dir)?;
            let store = Arc::new(SqliteStore::open(dir.join("bench.db"))?);
            eprintln!("sqlite ...");
            let modes = measure(store, &a).await?;
            report("sqlite", &modes);
            std::fs::remove_dir_all(&dir).ok();
        }
        if a.postgres {
            let url = std::env::var("PYBASE_TEST_POSTGRES_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
            let db = format!("pybase_changelog_{}", std::process::id());
            let mut admin = sqlx::PgConnection::connect(&url).await?;
            sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE {db}")))
                .execute(&mut admin)
                .await?;
            eprintln!("postgres ...");
            let result = async {
                let store = Arc::new(PgStore::connect(&postgres_database_url(&url, &db)).await?);
                let modes = measure(store.clone(), &a).await?;
                store.pool().close().await;
                anyhow::Ok(modes)
            }
            .await;
            if a.keep_db {
                eprintln!("kept the database {db}");
            } else {
                sqlx::raw_sql(AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {db} WITH (FORCE)"
                )))
                .execute(&mut admin)
                .await?;
            }
            report("postgres", &result?);
        }
        anyhow::Ok(())
    })
}
