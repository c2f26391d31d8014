//! Computed fields: the evaluation rate of a `{Qty} * {Price}`-sized
//! formula, and what keeping formula cells current costs a write, as
//! ratios to a plain single-record update measured in the same run, on
//! SQLite and (when `PYBASE_TEST_POSTGRES_URL` is set) PostgreSQL.
//!
//! Groups:
//! - `formula/eval_qty_times_price`: one evaluation of `{Qty} * {Price}`
//!   over a record's cells (pure, no store);
//! - `<backend>/computed/update_plain`: a number cell of a table without
//!   computed fields (the baseline);
//! - `<backend>/computed/update_with_5_formulas`: the same update in a table
//!   with five formula fields reading that cell (recomputed and stored in
//!   the write's transaction).
//!
//! Then timed runs (printed, not criterion groups):
//! - fan-out, on SQLite and (when the URL is set) PostgreSQL: one record
//!   that `PYBASE_BENCH_LOOKERS` (default 10,000) records of another table
//!   look up is updated; the lookups are recomputed in the write's
//!   transaction (cells/s), while point reads of the looking table go on
//!   (their p99 against idle); rounds alternate with the change log
//!   written and measured out (what its 10,000 events cost);
//! - background fill: a formula field added to a table of
//!   `PYBASE_BENCH_FILL_RECORDS` (default 200,000) records is filled by
//!   `Pybase::run_compute_fills` (records/s), while point reads go on
//!   (their p99 against idle) (SQLite).
//!
//! `PYBASE_BENCH_COMPUTED` picks the parts to run (`criterion`, `fanout`,
//! `fill`, comma-separated; all when unset).

// A failed bench step is meant to stop the bench with its error shown.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use criterion::Criterion;
use pybase_benches::fixture::{Bench, BenchTable};
use pybase_benches::{bench_runtime, fresh_dir, fresh_postgres_database, out_dir};
use pybase_core::Limits;
use pybase_core::Principal;
use pybase_core::Pybase;
use pybase_core::facade::{FieldKey, NewField, NewTable, WriteOptions};
use pybase_core::formula::{EvalContext, Value as FValue, evaluate, parse};
use pybase_core::ids::{RecordId, TableId};
use pybase_core::store::Store;
use pybase_store_postgres::PgStore;
use pybase_store_sqlite::SqliteStore;
use serde_json::{Map, Value, json};
use tokio::runtime::Runtime;

fn cells(pairs: &[(&str, Value)]) -> Map<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

struct Setup {
    bench: Bench,
    plain: (TableId, RecordId),
    computed: (TableId, RecordId),
}

async fn table_with(
    bench: &Bench,
    name: &str,
    formulas: usize,
) -> anyhow::Result<(TableId, RecordId)> {
    let (pb, who) = (&bench.pb, &bench.who);
    let t = pb
        .create_table(
            who,
            bench.base,
            NewTable {
                name: name.to_owned(),
                ..NewTable::default()
            },
        )
        .await?;
    for (n, ty) in [("Qty", "number"), ("Price", "number")] {
        pb.create_field(
            who,
            t.table.id,
            NewField {
                name: n.into(),
                field_type: ty.into(),
                options: json!({ "precision": 2 }),
                description: None,
                indexed: false,
            },
        )
        .await?;
    }
    for i in 0..formulas {
        pb.create_field(
            who,
            t.table.id,
            NewField {
                name: format!("F{i}"),
                field_type: "formula".into(),
                options: json!({ "formula": format!("{{Qty}} * {{Price}} + {i}") }),
                description: None,
                indexed: false,
            },
        )
        .await?;
    }
    let r = pb
        .create_record(
            who,
            t.table.id,
            cells(&[("Name", json!("x")), ("Qty", json!(1)), ("Price", json!(2))]),
            WriteOptions::default(),
        )
        .await?;
    Ok((t.table.id, r.id))
}

async fn setup(store: Arc<dyn Store>) -> anyhow::Result<Setup> {
    let bench = Bench::new(store).await?;
    let plain = table_with(&bench, "Plain", 0).await?;
    let computed = table_with(&bench, "Computed", 5).await?;
    Ok(Setup {
        bench,
        plain,
        computed,
    })
}

fn eval_rate(c: &mut Criterion) {
    let expr = parse("{Qty} * {Price}").unwrap();
    let values: HashMap<&str, FValue> =
        [("Qty", FValue::Number(3.0)), ("Price", FValue::Number(2.5))]
            .into_iter()
            .collect();
    let source = |name: &str| values.get(name).cloned();
    let mut g = c.benchmark_group("formula");
    g.bench_function("eval_qty_times_price", |b| {
        b.iter(|| {
            let ctx = EvalContext::new(&source);
            black_box(evaluate(black_box(&expr), &ctx))
        });
    });
    g.finish();
}

fn run(c: &mut Criterion, rt: &Runtime, name: &str, s: &Setup) {
    let (pb, who) = (&s.bench.pb, &s.bench.who);
    let mut g = c.benchmark_group(format!("{name}/computed"));
    let mut n = 0_u64;
    for (label, (table, record)) in [
        ("update_plain", s.plain),
        ("update_with_5_formulas", s.computed),
    ] {
        g.bench_function(label, |b| {
            b.iter(|| {
                n += 1;
                rt.block_on(pb.update_record(
                    who,
                    table,
                    record,
                    cells(&[("Qty", json!(n % 1000))]),
                    WriteOptions::default(),
                    false,
                ))
                .unwrap()
            });
        });
    }
    g.finish();
}

/// A count from the environment variable `name`, else `default`.
fn env_count(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The `q` quantile of `samples` (sorted here).
fn quantile(samples: &mut [Duration], q: f64) -> Duration {
    if samples.is_empty() {
        return Duration::ZERO;
    }
    samples.sort();
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let at = ((samples.len() - 1) as f64 * q).round() as usize;
    samples[at.min(samples.len() - 1)]
}

/// Point reads of `ids` (round robin) until `stop`, or `count` of them
/// when `stop` is `None`; answers each read's latency.
async fn point_reads(
    pb: Pybase,
    who: Principal,
    table: TableId,
    ids: Arc<Vec<RecordId>>,
    count: usize,
    stop: Option<Arc<AtomicBool>>,
) -> anyhow::Result<Vec<Duration>> {
    let mut out = Vec::new();
    let mut i = 0usize;
    loop {
        match &stop {
            Some(s) if s.load(Ordering::SeqCst) => break,
            None if out.len() >= count => break,
            _ => {}
        }
        let id = ids[(i * 7919) % ids.len()];
        i += 1;
        let t = Instant::now();
        pb.get_record(&who, table, id, FieldKey::Name).await?;
        out.push(t.elapsed());
    }
    Ok(out)
}

/// Runs `work` while point reads of `ids` go on; answers the work's time
/// and the reads' latencies.
async fn with_reads<F: std::future::Future<Output = anyhow::Result<()>>>(
    bench: &Bench,
    table: TableId,
    ids: &Arc<Vec<RecordId>>,
    work: F,
) -> anyhow::Result<(Duration, Vec<Duration>)> {
    let stop = Arc::new(AtomicBool::new(false));
    let reader = tokio::spawn(point_reads(
        bench.pb.clone(),
        bench.who.clone(),
        table,
        Arc::clone(ids),
        0,
        Some(Arc::clone(&stop)),
    ));
    tokio::time::sleep(Duration::from_millis(50)).await;
    let t = Instant::now();
    work.await?;
    let took = t.elapsed();
    stop.store(true, Ordering::SeqCst);
    let reads = reader.await??;
    Ok((took, reads))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// One record looked up by `lookers` records: the update's recompute rate
/// and the point reads meanwhile, on the backend `name`.
async fn fan_out(store: Arc<dyn Store>, name: &str, lookers: usize) -> anyhow::Result<()> {
    let bench = Bench::with_limits(
        store,
        Limits {
            auto_index_after: 0,
            ..Limits::default()
        },
    )
    .await?;
    let (pb, who) = (&bench.pb, &bench.who);
    let source: BenchTable = bench.table("Source").await?;
    let src = bench.fill(&source, 1, 1).await?[0];
    let looking = bench.table("Looking").await?;
    for (name, ty, options) in [
        ("Src", "link", json!({ "linked_table_id": source.id })),
        (
            "SrcQty",
            "lookup",
            json!({ "link_field": "Src", "field": "Qty" }),
        ),
    ] {
        pb.create_field(
            who,
            looking.id,
            NewField {
                name: name.into(),
                field_type: ty.into(),
                options,
                description: None,
                indexed: false,
            },
        )
        .await?;
    }
    let mut ids = Vec::with_capacity(lookers);
    for chunk in Bench::batches(0, lookers as u64, 1000) {
        let inputs = chunk
            .into_iter()
            .map(|mut m| {
                m.insert("Src".into(), json!([src]));
                m
            })
            .collect();
        let made = pb
            .create_records(who, looking.id, inputs, WriteOptions::default())
            .await?;
        ids.extend(made.into_iter().map(|r| r.id));
    }
    let ids = Arc::new(ids);
    let mut idle = point_reads(
        pb.clone(),
        who.clone(),
        looking.id,
        Arc::clone(&ids),
        2000,
        None,
    )
    .await?;
    // Rounds alternate the change log written (the target's figure) and
    // measured out (what the 10,000 events cost), 5 of each.
    let mut times = Vec::new();
    let mut times_no_log = Vec::new();
    let mut during = Vec::new();
    for round in 0..10_i64 {
        let log_off = round % 2 == 1;
        pybase_core::store::measure_without_change_log(log_off);
        let (took, reads) = with_reads(&bench, looking.id, &ids, async {
            pb.update_record(
                who,
                source.id,
                src,
                cells(&[("Qty", json!(2000 + round))]),
                WriteOptions::default(),
                false,
            )
            .await?;
            Ok(())
        })
        .await?;
        pybase_core::store::measure_without_change_log(false);
        if log_off {
            times_no_log.push(took);
        } else {
            times.push(took);
            during.extend(reads);
        }
    }
    let check = pb
        .get_record(who, looking.id, ids[ids.len() / 2], FieldKey::Name)
        .await?;
    anyhow::ensure!(
        check.fields.get("SrcQty") == Some(&json!([2009])),
        "lookup not current: {:?}",
        check.fields.get("SrcQty")
    );
    let median = quantile(&mut times, 0.5);
    let median_no_log = quantile(&mut times_no_log, 0.5);
    #[allow(clippy::cast_precision_loss)]
    let rate = lookers as f64 / median.as_secs_f64();
    #[allow(clippy::cast_precision_loss)]
    let rate_no_log = lookers as f64 / median_no_log.as_secs_f64();
    println!(
        "{name}/fan_out: update of 1 record looked up by {lookers}: median {:.1} ms over 5 \
         ({rate:.0} cells/s); with the change log measured out, median {:.1} ms over 5 \
         ({rate_no_log:.0} cells/s); point reads meanwhile (log written): {} reads, p99 \
         {:.2} ms (idle p99 {:.2} ms, ratio {:.1}x), max {:.1} ms",
        ms(median),
        ms(median_no_log),
        during.len(),
        ms(quantile(&mut during, 0.99)),
        ms(quantile(&mut idle, 0.99)),
        quantile(&mut during, 0.99).as_secs_f64() / quantile(&mut idle, 0.99).as_secs_f64(),
        ms(quantile(&mut during, 1.0)),
    );
    Ok(())
}

/// A formula field added to a table of `records` records, filled in the
/// background: the fill rate and the point reads meanwhile.
async fn background_fill(store: Arc<dyn Store>, records: usize) -> anyhow::Result<()> {
    let bench = Bench::with_limits(
        store,
        Limits {
            auto_index_after: 0,
            compute_inline_records: 0,
            ..Limits::default()
        },
    )
    .await?;
    let pb = bench.pb.clone().with_background_fills(false);
    let table = bench.table("Fill").await?;
    let t = Instant::now();
    let ids = Arc::new(bench.fill(&table, records, 1000).await?);
    println!(
        "sqlite/background_fill: {records} records inserted in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let mut idle = point_reads(
        pb.clone(),
        bench.who.clone(),
        table.id,
        Arc::clone(&ids),
        2000,
        None,
    )
    .await?;
    let field = pb
        .create_field(
            &bench.who,
            table.id,
            NewField {
                name: "Total".into(),
                field_type: "formula".into(),
                options: json!({ "formula": "{Qty} * {Price}" }),
                description: None,
                indexed: false,
            },
        )
        .await?;
    anyhow::ensure!(
        field.status == pybase_core::model::FieldStatus::Computing,
        "the field was filled inside the request"
    );
    let (took, mut during) = with_reads(&bench, table.id, &ids, async {
        anyhow::ensure!(pb.run_compute_fills().await? == 1, "no fill ran");
        Ok(())
    })
    .await?;
    let check = pb
        .get_record(&bench.who, table.id, ids[records / 2], FieldKey::Name)
        .await?;
    anyhow::ensure!(check.fields.contains_key("Total"), "fill left a cell empty");
    #[allow(clippy::cast_precision_loss)]
    let rate = records as f64 / took.as_secs_f64();
    println!(
        "sqlite/background_fill: {records} records filled in {:.1} s ({rate:.0} records/s); \
         point reads meanwhile: {} reads, p99 {:.2} ms (idle p99 {:.2} ms, ratio {:.1}x), \
         max {:.1} ms",
        took.as_secs_f64(),
        during.len(),
        ms(quantile(&mut during, 0.99)),
        ms(quantile(&mut idle, 0.99)),
        quantile(&mut during, 0.99).as_secs_f64() / quantile(&mut idle, 0.99).as_secs_f64(),
        ms(quantile(&mut during, 1.0)),
    );
    Ok(())
}

/// Whether the part `part` of this bench runs: `PYBASE_BENCH_COMPUTED`
/// lists the parts to run (`criterion`, `fanout`, `fill`, comma-separated;
/// all when unset).
fn runs(part: &str) -> bool {
    std::env::var("PYBASE_BENCH_COMPUTED")
        .map(|v| v.split(',').any(|p| p.trim() == part))
        .unwrap_or(true)
}

fn main() -> anyhow::Result<()> {
    let out = out_dir();
    std::fs::create_dir_all(&out)?;
    let rt = bench_runtime()?;
    let mut c = Criterion::default()
        .output_directory(&out.join("criterion"))
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();

    if runs("criterion") {
        eval_rate(&mut c);

        let dir = fresh_dir("computed-sqlite")?;
        let sqlite: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.join("pybase.db"))?);
        let s = rt.block_on(setup(sqlite))?;
        run(&mut c, &rt, "sqlite", &s);
        drop(s);

        match std::env::var("PYBASE_TEST_POSTGRES_URL") {
            Ok(admin) => {
                let url = rt.block_on(fresh_postgres_database(
                    &admin,
                    "pybase_compfan_bench_computed",
                ))?;
                let pg: Arc<dyn Store> = Arc::new(rt.block_on(PgStore::connect(&url))?);
                let s = rt.block_on(setup(pg))?;
                run(&mut c, &rt, "postgres", &s);
            }
            Err(_) => eprintln!("PYBASE_TEST_POSTGRES_URL is not set: PostgreSQL skipped"),
        }
        c.final_summary();
    }

    let lookers = env_count("PYBASE_BENCH_LOOKERS", 10_000);
    if runs("fanout") {
        let dir = fresh_dir("computed-fanout")?;
        let sqlite: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.join("pybase.db"))?);
        rt.block_on(fan_out(sqlite, "sqlite", lookers))?;
        match std::env::var("PYBASE_TEST_POSTGRES_URL") {
            Ok(admin) => {
                let url = rt.block_on(fresh_postgres_database(
                    &admin,
                    "pybase_compfan_bench_fanout",
                ))?;
                let pg: Arc<dyn Store> = Arc::new(rt.block_on(PgStore::connect(&url))?);
                rt.block_on(fan_out(pg, "postgres", lookers))?;
            }
            Err(_) => eprintln!("PYBASE_TEST_POSTGRES_URL is not set: PostgreSQL fan-out skipped"),
        }
    }
    if runs("fill") {
        let dir = fresh_dir("computed-fill")?;
        let sqlite: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.join("pybase.db"))?);
        rt.block_on(background_fill(
            sqlite,
            env_count("PYBASE_BENCH_FILL_RECORDS", 200_000),
        ))?;
    }
    Ok(())
}
