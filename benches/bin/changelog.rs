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
//! By default the records live in one table of 2,000 (the worst case for
//! the ratio: every page the update touches is cached, and the record's
//! own write is as cheap as it gets). `--bases B --tables T --records N`
//! spreads the workload over `T` tables of `N` records each in `B` bases
//! (tables dealt round-robin): each update goes to a record drawn from all
//! of them, each bulk create to a table drawn likewise, as a server with
//! many tenants sees it. The fill is logged, so the log holds one event per
//! record when the measuring starts.
//!
//! ```text
//! cargo run --release -p pybase-benches --bin pybase-changelog -- \
//!     [--rounds 10] [--updates 200] [--bulks 3] [--backends sqlite,postgres] [--trace] [--keep-db] [--only on|off]
//!     [--bases 1] [--tables 1] [--records 2000]
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
    /// Bases the tables are spread over.
    bases: usize,
    /// Tables the records are spread over.
    tables: usize,
    /// Records filled into each table before measuring.
    records: usize,
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
        bases: 1,
        tables: 1,
        records: 2_000,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().context("a value after the flag");
        match flag.as_str() {
            "--rounds" => a.rounds = value()?.parse()?,
            "--updates" => a.updates = value()?.parse()?,
            "--bulks" => a.bulks = value()?.parse()?,
            "--bases" => a.bases = value()?.parse::<usize>()?.max(1),
            "--tables" => a.tables = value()?.parse::<usize>()?.max(1),
            "--records" => a.records = value()?.parse::<usize>()?.max(1),
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

/// The measured tables, the bench (owner and base) of each, and the ids
/// of their filled records.
struct Workload {
    benches: Vec<Bench>,
    /// Per table: its bench (index into `benches`), the table, its records.
    tables: Vec<(usize, BenchTable, Vec<RecordId>)>,
}

impl Workload {
    /// Creates `a.bases` bases and `a.tables` tables of `a.records` records.
    async fn fill(store: &Arc<dyn Store>, a: &Args) -> anyhow::Result<Self> {
        let mut benches = Vec::with_capacity(a.bases);
        for _ in 0..a.bases {
            benches.push(Bench::new(Arc::clone(store)).await?);
        }
        let mut tables = Vec::with_capacity(a.tables);
        let started = Instant::now();
        for t in 0..a.tables {
            let b = t % benches.len();
            let bench = &benches[b];
            let table = bench.table(&format!("Items {t}")).await?;
            let ids = bench.fill(&table, a.records, 1_000).await?;
            tables.push((b, table, ids));
            if a.tables >= 100 && (t + 1) % (a.tables / 10) == 0 {
                eprintln!("  {} tables filled in {:?}", t + 1, started.elapsed());
            }
        }
        Ok(Self { benches, tables })
    }

    /// The `k`-th record an update writes: drawn from every table's
    /// records (in order when there is one table, as before).
    fn record(&self, k: usize) -> (&Bench, &BenchTable, RecordId) {
        let (t, r) = if self.tables.len() == 1 {
            (0, k % self.tables[0].2.len())
        } else {
            let h = usize::try_from(pybase_benches::data::mix(k as u64)).unwrap_or(k);
            let t = h % self.tables.len();
            (t, (h / self.tables.len()) % self.tables[t].2.len())
        };
        let (b, table, ids) = &self.tables[t];
        (&self.benches[*b], table, ids[r])
    }

    /// The table the `k`-th bulk create goes to.
    fn bulk_table(&self, k: usize) -> (&Bench, &BenchTable) {
        let h = usize::try_from(pybase_benches::data::mix(!(k as u64))).unwrap_or(k);
        let (b, table, _) = &self.tables[h % self.tables.len()];
        (&self.benches[*b], table)
    }
}

async fn measure(store: Arc<dyn Store>, a: &Args) -> anyhow::Result<[Mode; 2]> {
    let work = Workload::fill(&store, a).await?;
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
                // On one table both modes update the same records in a
                // round (the second writes a value of its own, or its
                // updates would change nothing: neither written nor
                // logged). Spread over many tables each mode draws records
                // of its own: the second to write a record finds its pages
                // just written (cached, and on PostgreSQL without the
                // full-page image the first write after a checkpoint
                // logs), which made whichever mode went second look
                // several times faster.
                let k = if work.tables.len() == 1 {
                    round * a.updates + i
                } else {
                    (round * 2 + step) * a.updates + i
                };
                let (bench, table, id) = work.record(k);
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
                let (bench, table) = work.bulk_table(m.bulk.len() * 2 + usize::from(off));
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

fn report(name: &str, a: &Args, modes: &[Mode; 2]) {
    let [on, off] = modes;
    println!(
        "{name}: {} base(s), {} table(s) of {} records filled (logged) before measuring",
        a.bases, a.tables, a.records
    );
    println!();
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
            report("sqlite", &a, &modes);
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
            report("postgres", &a, &result?);
        }
        anyhow::Ok(())
    })
}
