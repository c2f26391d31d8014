//! The formula language's speed (issue 12, benchmarks):
//!
//! - `formula_eval`: evaluations of a `{Qty} * {Price}`-sized formula per
//!   second on one core (target: 1,000,000 or more), against reading the
//!   same two values and multiplying them in Rust (the floor).
//! - `formula_filter`: a page of `formula={Qty} > 995` on a table whose `Qty`
//!   is indexed, against the equivalent native filter, on 1,000,000 records
//!   (`--bench`; 2,000 under `cargo test`), SQLite and, when
//!   `PYBASE_TEST_POSTGRES_URL` is set, PostgreSQL. Target: the formula's
//!   page reads the index like the native filter (the plans are printed and
//!   must be the same) and costs under 100 ms.
//!
//! `PYBASE_BENCH_FORMULA_RECORDS` overrides the table size.

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, SamplingMode};
use pybase_benches::fixture::{Bench, BenchTable};
use pybase_benches::{bench_runtime, fresh_dir, fresh_postgres_database, out_dir};
use pybase_core::facade::{FieldKey, QueryInput};
use pybase_core::formula::{EvalContext, Value, check, evaluate, parse, plan_filter};
use pybase_core::limits::Limits;
use pybase_core::query::{Condition, Filter, Op, Operand, RecordQuery, target_of};
use pybase_core::store::Store;
use pybase_store_postgres::PgStore;
use pybase_store_sqlite::SqliteStore;
use serde_json::json;
use tokio::runtime::Runtime;

/// Records in the filtered table: the "1,000,000 records".
const RECORDS: usize = 1_000_000;
/// Records per page.
const PAGE: usize = 100;
/// The selective bound: `Qty` is 0..=1000, so about 0.5% of the rows match.
const BOUND: i64 = 995;

fn eval_bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("formula_eval");
    let expr = parse("{Qty} * {Price}").expect("the formula parses");
    let rows: Vec<(f64, f64)> = (0..1024)
        .map(|i| (f64::from(i % 1001), 0.25 + f64::from(i % 97)))
        .collect();
    g.throughput(criterion::Throughput::Elements(rows.len() as u64));
    g.bench_function("qty_times_price", |b| {
        b.iter(|| {
            let mut sum = 0.0;
            for &(qty, price) in &rows {
                let source = |name: &str| match name {
                    "Qty" => Some(Value::number(qty)),
                    "Price" => Some(Value::number(price)),
                    _ => None,
                };
                let ctx = EvalContext::new(&source);
                if let Value::Number(n) = evaluate(&expr, &ctx) {
                    sum += n;
                }
            }
            std::hint::black_box(sum)
        });
    });
    g.bench_function("rust_floor", |b| {
        b.iter(|| {
            let mut sum = 0.0;
            for &(qty, price) in std::hint::black_box(&rows) {
                let source = |name: &str| match name {
                    "Qty" => Some(qty),
                    "Price" => Some(price),
                    _ => None,
                };
                if let (Some(q), Some(p)) = (source("Qty"), source("Price")) {
                    sum += q * p;
                }
            }
            std::hint::black_box(sum)
        });
    });
    g.finish();
}

/// Prints the store's plan of the native filter and of the formula's SQL
/// part, and fails the run if the formula did not lower to that filter.
async fn plans(
    name: &str,
    store: &Arc<dyn Store>,
    sqlite: Option<&SqliteStore>,
    pg: Option<&PgStore>,
    table: &BenchTable,
) -> anyhow::Result<()> {
    let fields = store.list_fields(table.id).await?;
    let qty = table.field("Qty").expect("Qty field");
    let qty = fields
        .iter()
        .find(|f| f.id == qty)
        .expect("Qty among the fields");
    let native = Filter::Cond(Condition {
        target: target_of(qty),
        op: Op::Gt,
        operand: Operand::Number(BOUND as f64),
    });
    let checked = check(&format!("{{Qty}} > {BOUND}"), &fields)
        .map_err(|e| anyhow::anyhow!("formula refused: {}", e.message))?;
    let planned = plan_filter(checked, &fields, chrono::Utc::now(), &Limits::default());
    anyhow::ensure!(
        planned.is_pure_sql(),
        "the formula left a residual: {planned:?}"
    );
    let lowered = planned.sql.clone().expect("an SQL part");
    anyhow::ensure!(
        lowered == native,
        "the formula lowered to {lowered:?}, not the native {native:?}"
    );
    let query = |filter: Filter| RecordQuery {
        table_id: table.id,
        filter: Some(filter),
        sort: Vec::new(),
        after: None,
        limit: PAGE + 1,
        include_deleted: false,
        log_seq: false,
    };
    for (label, filter) in [("native", native), ("formula", lowered)] {
        let lines = match (sqlite, pg) {
            (Some(s), _) => s.explain(&query(filter)).await?,
            (_, Some(p)) => p.explain(&query(filter), true).await?,
            _ => Vec::new(),
        };
        eprintln!("{name} plan of the {label} page:");
        for l in lines {
            eprintln!("    {l}");
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn filter_bench(
    c: &mut Criterion,
    rt: &Runtime,
    name: &str,
    store: &Arc<dyn Store>,
    sqlite: Option<&SqliteStore>,
    pg: Option<&PgStore>,
    records: usize,
) -> anyhow::Result<()> {
    let bench = rt.block_on(Bench::new(Arc::clone(store)))?;
    let table = rt.block_on(bench.table_indexing("Parts", &["Qty"]))?;
    let start = Instant::now();
    rt.block_on(bench.fill(&table, records, 1000))?;
    eprintln!(
        "{name}: {records} records written in {:.1} s",
        start.elapsed().as_secs_f64()
    );
    if let Some(pg) = pg {
        rt.block_on(sqlx::raw_sql("ANALYZE").execute(pg.pool()))?;
    }
    rt.block_on(plans(name, store, sqlite, pg, &table))?;
    let inputs = [
        (
            "native",
            QueryInput {
                filter: Some(json!({ "field": "Qty", "op": "gt", "value": BOUND })),
                page_size: Some(PAGE),
                ..Default::default()
            },
        ),
        (
            "formula",
            QueryInput {
                formula: Some(format!("{{Qty}} > {BOUND}")),
                page_size: Some(PAGE),
                ..Default::default()
            },
        ),
    ];
    // Both inputs select the same records; every timed page must be that one.
    let mut expected = None;
    for (label, input) in &inputs {
        let page = rt.block_on(bench.pb.query_records(
            &bench.who,
            table.id,
            input.clone(),
            FieldKey::Name,
        ))?;
        let ids: Vec<_> = page.records.iter().map(|r| r.id).collect();
        eprintln!("{name}: the {label} page holds {} records", ids.len());
        match &expected {
            None => expected = Some(ids),
            Some(first) => anyhow::ensure!(*first == ids, "{label} selected other records"),
        }
    }
    let expected = expected.map_or(0, |ids| ids.len());
    anyhow::ensure!(expected > 0, "no record matched; the fixture changed");
    let mut g = c.benchmark_group(format!("{name}/formula_filter"));
    g.sampling_mode(SamplingMode::Flat);
    for (label, input) in inputs {
        g.bench_with_input(BenchmarkId::new(label, records), &input, |b, input| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        let page = bench
                            .pb
                            .query_records(&bench.who, table.id, input.clone(), FieldKey::Name)
                            .await
                            .expect("query");
                        assert_eq!(page.records.len(), expected);
                    }
                    start.elapsed()
                })
            });
        });
    }
    g.finish();
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let benching = std::env::args().any(|a| a == "--bench");
    let records = std::env::var("PYBASE_BENCH_FORMULA_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if benching { RECORDS } else { 2_000 });
    let out = out_dir();
    std::fs::create_dir_all(&out)?;
    let rt = bench_runtime()?;
    let mut c = Criterion::default()
        .output_directory(&out.join("criterion"))
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();

    eval_bench(&mut c);

    let dir = fresh_dir("formula-sqlite-data")?;
    let sqlite = SqliteStore::open(dir.join("pybase.db"))?;
    filter_bench(
        &mut c,
        &rt,
        "sqlite",
        &(Arc::new(sqlite.clone()) as Arc<dyn Store>),
        Some(&sqlite),
        None,
        records,
    )?;

    match std::env::var("PYBASE_TEST_POSTGRES_URL") {
        Ok(admin) => {
            let url = rt.block_on(fresh_postgres_database(&admin, "pybase_bench_formula"))?;
            let pg = rt.block_on(PgStore::connect(&url))?;
            filter_bench(
                &mut c,
                &rt,
                "postgres",
                &(Arc::new(pg.clone()) as Arc<dyn Store>),
                None,
                Some(&pg),
                records,
            )?;
        }
        Err(_) => eprintln!("PYBASE_TEST_POSTGRES_URL is not set: PostgreSQL skipped"),
    }
    c.final_summary();
    Ok(())
}
