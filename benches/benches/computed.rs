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

// A failed bench step is meant to stop the bench with its error shown.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::Criterion;
use pybase_benches::fixture::Bench;
use pybase_benches::{bench_runtime, fresh_dir, fresh_postgres_database, out_dir};
use pybase_core::facade::{NewField, NewTable, WriteOptions};
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

    eval_rate(&mut c);

    let dir = fresh_dir("computed-sqlite")?;
    let sqlite: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.join("pybase.db"))?);
    let s = rt.block_on(setup(sqlite))?;
    run(&mut c, &rt, "sqlite", &s);
    drop(s);

    match std::env::var("PYBASE_TEST_POSTGRES_URL") {
        Ok(admin) => {
            let url = rt.block_on(fresh_postgres_database(&admin, "pybase_bench_computed"))?;
            let pg: Arc<dyn Store> = Arc::new(rt.block_on(PgStore::connect(&url))?);
            let s = rt.block_on(setup(pg))?;
            run(&mut c, &rt, "postgres", &s);
        }
        Err(_) => eprintln!("PYBASE_TEST_POSTGRES_URL is not set: PostgreSQL skipped"),
    }
    c.final_summary();
    Ok(())
}
