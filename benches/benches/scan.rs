//! The first query on an unindexed field (issue 11): a filtered, sorted page
//! and a selective page over a table of 10,000 records, through PyBase's
//! facade and through the raw driver, measured side by side in one run on
//! SQLite and (when `PYBASE_TEST_POSTGRES_URL` is set) PostgreSQL.
//!
//! Automatic indexing is off here (`auto_index_after = 0`): every query
//! scans, as the first ones on a field do. The target is PyBase at most
//! 1.5x the raw scan; `pybase-report`-style ratios come from the two
//! functions of each group.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode};
use pybase_benches::fixture::Bench;
use pybase_benches::raw::{Raw, RawPage, RawPg, RawSqlite, raw_batches, raw_fill};
use pybase_benches::{bench_runtime, fresh_dir, fresh_postgres_database, out_dir};
use pybase_core::facade::{FieldKey, QueryInput};
use pybase_core::ids::TableId;
use pybase_core::limits::Limits;
use pybase_core::store::Store;
use pybase_store_postgres::PgStore;
use pybase_store_sqlite::SqliteStore;
use serde_json::json;
use tokio::runtime::Runtime;

/// Records in the scanned table: the "10,000 records".
const RECORDS: usize = 10_000;
/// Records per page.
const PAGE: usize = 100;

fn scan_bench(
    c: &mut Criterion,
    rt: &Runtime,
    name: &str,
    store: Arc<dyn Store>,
    raw: &Raw,
    records: usize,
    pg: Option<&PgStore>,
) -> anyhow::Result<()> {
    let limits = Limits {
        auto_index_after: 0,
        ..Limits::default()
    };
    let bench = rt.block_on(Bench::with_limits(store, limits))?;
    let table = rt.block_on(bench.table("Scan"))?;
    rt.block_on(bench.fill(&table, records, 1000))?;
    let raw_table = TableId::new();
    rt.block_on(raw_fill(
        raw,
        raw_table,
        &raw_batches(&table, 0, records, 1000),
    ));
    // Both sides with fresh statistics (autovacuum would take up to a
    // minute to gather them on its own).
    if let Raw::Pg(r) = raw {
        rt.block_on(r.analyze())?;
    }
    if let Some(pg) = pg {
        rt.block_on(sqlx::raw_sql("ANALYZE").execute(pg.pool()))?;
    }
    let qty = table.field("Qty").expect("Qty field");
    let price = table.field("Price").expect("Price field");
    let kind = table.field("Kind").expect("Kind field");
    let pages = [
        (
            "scan_filter_sort",
            QueryInput {
                filter: Some(json!({ "field": "Qty", "op": "gt", "value": 500 })),
                sort: Some(json!("-Price")),
                page_size: Some(PAGE),
                ..Default::default()
            },
            RawPage::FilterSort { qty, price },
        ),
        (
            "scan_select_eq",
            QueryInput {
                filter: Some(json!({ "field": "Kind", "op": "eq", "value": "Bolt" })),
                page_size: Some(PAGE),
                ..Default::default()
            },
            RawPage::SelectEq { kind },
        ),
    ];
    for (label, query, raw_page) in pages {
        let mut g = c.benchmark_group(format!("{name}/{label}_{records}"));
        g.sampling_mode(SamplingMode::Flat);
        g.bench_function("pybase", |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        let page = bench
                            .pb
                            .query_records(&bench.who, table.id, query.clone(), FieldKey::Name)
                            .await
                            .expect("query");
                        assert_eq!(page.records.len(), PAGE.min(records));
                    }
                    start.elapsed()
                })
            });
        });
        g.bench_function("raw", |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        let ids = raw.page(raw_table, raw_page, &None, PAGE).await;
                        assert_eq!(ids.len(), PAGE.min(records));
                    }
                    start.elapsed()
                })
            });
        });
        g.finish();
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let benching = std::env::args().any(|a| a == "--bench");
    // Under `cargo test` each function runs once on a small table.
    let records = if benching { RECORDS } else { 1_000 };
    let out = out_dir();
    std::fs::create_dir_all(&out)?;
    let rt = bench_runtime()?;
    let mut c = Criterion::default()
        .output_directory(&out.join("criterion"))
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();

    let dir = fresh_dir("scan-sqlite-data")?;
    let sqlite = SqliteStore::open(dir.join("pybase.db"))?;
    let raw = Raw::Sqlite(Mutex::new(RawSqlite::open(&dir.join("raw.db"))?));
    scan_bench(&mut c, &rt, "sqlite", Arc::new(sqlite), &raw, records, None)?;

    match std::env::var("PYBASE_TEST_POSTGRES_URL") {
        Ok(admin) => {
            let url = rt.block_on(fresh_postgres_database(&admin, "pybase_bench_scan"))?;
            let pg = rt.block_on(PgStore::connect(&url))?;
            let raw = Raw::Pg(rt.block_on(RawPg::connect(&url))?);
            scan_bench(
                &mut c,
                &rt,
                "postgres",
                Arc::new(pg.clone()),
                &raw,
                records,
                Some(&pg),
            )?;
        }
        Err(_) => eprintln!("PYBASE_TEST_POSTGRES_URL is not set: PostgreSQL skipped"),
    }
    c.final_summary();
    Ok(())
}
