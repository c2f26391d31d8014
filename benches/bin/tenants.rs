//! `pybase-tenants`: does an operation on one table cost the same whatever
//! else the database holds? (issue 11, "Tenant scale").
//!
//! Through PyBase itself (the facade over the real stores, as an embedding
//! program or the server calls it), for each backend it builds a database
//! with table A alone, and one with A plus `T - 1` other tables, all shaped
//! alike (the six workload fields, five of them indexed), the other tables
//! sharing `--records` records. On A it then times single inserts, point
//! reads, one-cell updates and an indexed filtered, sorted page, in rounds
//! that alternate between the two databases (so the machine's other work
//! weighs on both alike), and reports each median and p99 of the large
//! database against the small one. On the large database it also times
//! creating one more table (and the first read after it, which on SQLite
//! re-reads the schema), and A's updates while another table of `--big`
//! records gets an indexed field.
//!
//! ```text
//! cargo run --release -p pybase-benches --bin pybase-tenants -- \
//!     --tables 10000 --records 2000000 [--backends sqlite,postgres] \
//!     [--a-records 5000] [--ops 300] [--big 1000000]
//! ```
//!
//! PostgreSQL: `PYBASE_TEST_POSTGRES_URL`; its databases are created and
//! dropped. SQLite files go to a temporary folder, removed at the end.
//! Markdown to stdout, progress to stderr.

#[path = "layouts/stats.rs"]
#[allow(dead_code)]
mod stats;
#[path = "tenants_pg.rs"]
mod tenants_pg;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use pybase_benches::data::row;
use pybase_benches::fixture::{Bench, BenchTable};
use pybase_benches::postgres_database_url;
use pybase_core::facade::{FieldKey, FieldPatch, QueryInput, WriteOptions};
use pybase_core::ids::RecordId;
use pybase_core::store::Store;
use pybase_store_postgres::PgStore;
use pybase_store_sqlite::SqliteStore;
use serde_json::{Map, json};
use sqlx::{AssertSqlSafe, Connection as _};
use stats::{Samples, show};
use tenants_pg::PgProbe;

/// The five indexed fields of every table.
const INDEXED: [&str; 5] = ["Part", "Qty", "Price", "Kind", "Notes"];

/// What to run.
#[derive(Debug, Clone)]
struct Args {
    sqlite: bool,
    postgres: Option<String>,
    tables: usize,
    records: usize,
    a_records: usize,
    ops: usize,
    big: usize,
    /// PostgreSQL: log the plan of every statement slower than this many
    /// milliseconds to the server's log (`auto_explain`), in both databases.
    auto_explain_ms: Option<u64>,
}

impl Args {
    fn parse() -> anyhow::Result<Self> {
        let mut args = Self {
            sqlite: true,
            postgres: std::env::var("PYBASE_TEST_POSTGRES_URL").ok(),
            tables: 1000,
            records: 100_000,
            a_records: 5000,
            ops: 300,
            big: 100_000,
            auto_explain_ms: None,
        };
        let mut backends: Option<String> = None;
        let mut it = std::env::args().skip(1);
        while let Some(flag) = it.next() {
            let value = it.next().with_context(|| format!("{flag} needs a value"))?;
            let number = || value.replace('_', "").parse::<usize>();
            match flag.as_str() {
                "--backends" => backends = Some(value.clone()),
                "--tables" => args.tables = number()?.max(2),
                "--records" => args.records = number()?,
                "--a-records" => args.a_records = number()?.max(100),
                "--ops" => args.ops = number()?.max(10),
                "--big" => args.big = number()?,
                "--pg-url" => args.postgres = Some(value.clone()),
                "--auto-explain-ms" => args.auto_explain_ms = Some(number()? as u64),
                other => bail!("unknown flag {other}"),
            }
        }
        if let Some(b) = backends {
            args.sqlite = b.split(',').any(|x| x == "sqlite");
            if !b.split(',').any(|x| x == "postgres") {
                args.postgres = None;
            }
        }
        Ok(args)
    }
}

/// The indexed page's filter, sort and size.
fn page_filter() -> serde_json::Value {
    json!({"field": "Qty", "op": "gt", "value": 500})
}

fn page_sort() -> serde_json::Value {
    json!("-Price")
}

const PAGE_SIZE: usize = 50;

/// Tables created after "One more" on the large database, for a median.
const MORE_TABLES: usize = 20;

/// Timings of A's operations in one database.
#[derive(Debug, Default)]
struct Ops {
    insert: Samples,
    read: Samples,
    update: Samples,
    page: Samples,
}

/// What one large database adds.
#[derive(Debug, Default)]
struct Extra {
    build: Duration,
    one_more_table: Duration,
    /// The next [`MORE_TABLES`] creates after it.
    more_tables: Samples,
    /// Listing the base's tables through the facade: what every create
    /// read before table names were looked up by key (issue 11).
    list_tables: Duration,
    first_read_after: Duration,
    update_before: Samples,
    update_during: Samples,
    index_build: Duration,
}

async fn timed<F, T>(samples: &mut Samples, f: F) -> anyhow::Result<T>
where
    F: std::future::Future<Output = pybase_core::Result<T>>,
{
    let t = Instant::now();
    let out = f.await?;
    samples.push(t.elapsed());
    Ok(out)
}

fn opts() -> WriteOptions {
    WriteOptions {
        typecast: false,
        field_key: FieldKey::Name,
    }
}

/// Times one of each operation on `a` (whose records are `ids`), round `i`.
async fn measure_round(
    b: &Bench,
    a: &BenchTable,
    ids: &[RecordId],
    i: usize,
    o: &mut Ops,
) -> anyhow::Result<()> {
    let page = QueryInput {
        filter: Some(page_filter()),
        sort: Some(page_sort()),
        page_size: Some(PAGE_SIZE),
        ..QueryInput::default()
    };
    let id = ids[(i * 7919) % ids.len()];
    let cells = row(1_000_000 + i as u64).named();
    timed(
        &mut o.insert,
        b.pb.create_record(&b.who, a.id, cells, opts()),
    )
    .await?;
    timed(
        &mut o.read,
        b.pb.get_record(&b.who, a.id, id, FieldKey::Name),
    )
    .await?;
    let patch = Map::from_iter([("Qty".to_owned(), json!((i * 37) % 1000))]);
    timed(
        &mut o.update,
        b.pb.update_record(&b.who, a.id, id, patch, opts(), false),
    )
    .await?;
    timed(
        &mut o.page,
        b.pb.query_records(&b.who, a.id, page, FieldKey::Name),
    )
    .await?;
    Ok(())
}

/// Builds a database on `store`: A with `a_records`, then `tables - 1`
/// others sharing `records`. Returns the bench, A and A's record ids.
async fn build(
    store: Arc<dyn Store>,
    args: &Args,
    tables: usize,
) -> anyhow::Result<(Bench, BenchTable, Vec<RecordId>)> {
    let b = Bench::new(store).await?;
    let a = b.table_indexing("A", &INDEXED).await?;
    let ids = b.fill(&a, args.a_records, 500).await?;
    let others = tables.saturating_sub(1);
    let per = args.records.checked_div(others).unwrap_or(0);
    let started = Instant::now();
    for i in 0..others {
        let t = b.table_indexing(&format!("T{i}"), &INDEXED).await?;
        if per > 0 {
            b.fill(&t, per, 1000).await?;
        }
        if (i + 1) % 500 == 0 {
            eprintln!(
                "  {} of {others} tables ({per} records each) in {:.0?}",
                i + 1,
                started.elapsed()
            );
        }
    }
    Ok((b, a, ids))
}

/// The extra measurements of a large database.
async fn extra(b: &Bench, a: &BenchTable, ids: &[RecordId], args: &Args) -> anyhow::Result<Extra> {
    let mut x = Extra::default();
    let t = Instant::now();
    b.table_indexing("One more", &INDEXED).await?;
    x.one_more_table = t.elapsed();
    let t = Instant::now();
    b.pb.get_record(&b.who, a.id, ids[0], FieldKey::Name)
        .await?;
    x.first_read_after = t.elapsed();
    for i in 0..MORE_TABLES {
        let t = Instant::now();
        b.table_indexing(&format!("More {i}"), &INDEXED).await?;
        x.more_tables.push(t.elapsed());
    }
    let t = Instant::now();
    b.pb.list_tables(&b.who, b.base).await?;
    x.list_tables = t.elapsed();
    if args.big == 0 {
        return Ok(x);
    }
    let big = b.table("Big").await?;
    eprintln!("  filling Big with {} records", args.big);
    b.fill(&big, args.big, 1000).await?;
    let update = |i: usize| {
        let patch = Map::from_iter([("Qty".to_owned(), json!(i % 1000))]);
        b.pb.update_record(
            &b.who,
            a.id,
            ids[(i * 13) % ids.len()],
            patch,
            opts(),
            false,
        )
    };
    for i in 0..args.ops {
        timed(&mut x.update_before, update(i)).await?;
    }
    let part = big.field("Part").context("Part")?;
    let pb = b.pb.clone();
    let who = b.who.clone();
    let started = Instant::now();
    let builder = tokio::spawn(async move {
        let patch = FieldPatch {
            indexed: Some(true),
            ..FieldPatch::default()
        };
        let r = pb.update_field(&who, part, patch).await;
        (r, started.elapsed())
    });
    let mut i = 0;
    while !builder.is_finished() {
        timed(&mut x.update_during, update(i)).await?;
        i += 1;
    }
    let (r, took) = builder.await?;
    r?;
    x.index_build = took;
    Ok(x)
}

/// A fresh database of `backend`: its store, a probe into it on
/// PostgreSQL, and what drops it.
type Fresh = (
    Arc<dyn Store>,
    Option<PgProbe>,
    Box<dyn FnOnce() -> anyhow::Result<()>>,
);

/// A store of `backend` on a fresh database, and what drops it.
async fn fresh(backend: &str, args: &Args, name: &str) -> anyhow::Result<Fresh> {
    if backend == "sqlite" {
        let dir =
            std::env::temp_dir().join(format!("pybase-tenants-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let store = SqliteStore::open(dir.join("db.sqlite"))?;
        let cleanup = move || Ok(std::fs::remove_dir_all(&dir)?);
        return Ok((Arc::new(store), None, Box::new(cleanup)));
    }
    let url = args.postgres.clone().context("no PostgreSQL URL")?;
    let db = format!("pybase_tenants_{}_{name}", std::process::id());
    let mut admin = sqlx::PgConnection::connect(&url).await?;
    sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE {db}")))
        .execute(&mut admin)
        .await?;
    if let Some(ms) = args.auto_explain_ms {
        // Every session of this database loads auto_explain and logs the
        // plan (with its timing and buffers) of each statement slower than
        // `ms` to the server's log, prepared statements' generic plans
        // included.
        sqlx::raw_sql(AssertSqlSafe(format!(
            "ALTER DATABASE {db} SET session_preload_libraries = 'auto_explain'; \
             ALTER DATABASE {db} SET auto_explain.log_min_duration = {ms}; \
             ALTER DATABASE {db} SET auto_explain.log_analyze = on; \
             ALTER DATABASE {db} SET auto_explain.log_buffers = on"
        )))
        .execute(&mut admin)
        .await?;
    }
    let store = PgStore::connect(&postgres_database_url(&url, &db)).await?;
    let probe = PgProbe {
        store: store.clone(),
    };
    let cleanup = move || {
        let rt = tokio::runtime::Handle::current();
        std::thread::spawn(move || {
            rt.block_on(async {
                let mut admin = sqlx::PgConnection::connect(&url).await?;
                sqlx::raw_sql(AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {db} WITH (FORCE)"
                )))
                .execute(&mut admin)
                .await?;
                anyhow::Ok(())
            })
        })
        .join()
        .map_err(|_| anyhow::anyhow!("drop thread panicked"))?
    };
    Ok((Arc::new(store), Some(probe), Box::new(cleanup)))
}

fn ratio(large: Duration, small: Duration) -> String {
    if small.is_zero() {
        return "-".to_owned();
    }
    format!("{:.2}×", large.as_secs_f64() / small.as_secs_f64())
}

async fn run_backend(backend: &str, args: &Args) -> anyhow::Result<String> {
    eprintln!("{backend}: T = 1");
    let (store, small_probe, drop_small) = fresh(backend, args, "one").await?;
    let (sb, sa, sids) = build(store, args, 1).await?;
    eprintln!("{backend}: T = {}", args.tables);
    let (store, large_probe, drop_large) = fresh(backend, args, "many").await?;
    let t = Instant::now();
    let (b, a, ids) = build(store, args, args.tables).await?;
    let build_time = t.elapsed();
    let mut inside = String::new();
    let probes = [
        ("T = 1", small_probe.as_ref(), &sb, &sa),
        ("T = large", large_probe.as_ref(), &b, &a),
    ];
    look_inside(&mut inside, "before the rounds", &probes).await?;
    // Both databases are measured in alternating rounds, so whatever else
    // the machine does weighs on both alike; the first tenth warms caches.
    let (mut small, mut large, mut warm) = (Ops::default(), Ops::default(), Ops::default());
    let n = args.ops;
    for i in 0..n + n / 10 {
        let (s, l) = if i < n / 10 {
            (&mut warm, None)
        } else {
            (&mut small, Some(&mut large))
        };
        measure_round(&sb, &sa, &sids, i, s).await?;
        match l {
            Some(l) => measure_round(&b, &a, &ids, i, l).await?,
            None => measure_round(&b, &a, &ids, i, &mut Ops::default()).await?,
        }
        if let Some(p) = &large_probe
            && i % (n / 5).max(1) == 0
        {
            inside.push_str(&format!(
                "- round {i}, large database: {}\n",
                p.activity().await?
            ));
        }
    }
    look_inside(&mut inside, "after the rounds", &probes).await?;
    drop(sb);
    drop(small_probe);
    drop_small()?;
    let mut x = extra(&b, &a, &ids, args).await?;
    x.build = build_time;
    drop(b);
    drop_large()?;

    let mut out = format!(
        "### {backend}: table A ({} records) alone, and among {} tables ({} records)\n\n\
         | operation on A | T = 1 p50 / p99 | T = {} p50 / p99 | ratio p50 / p99 |\n|---|---|---|---|\n",
        args.a_records, args.tables, args.records, args.tables
    );
    for (name, s, l) in [
        ("single insert", &small.insert, &large.insert),
        ("point read", &small.read, &large.read),
        ("one-cell update", &small.update, &large.update),
        (
            "indexed page (Qty > 500, -Price, 50)",
            &small.page,
            &large.page,
        ),
    ] {
        out.push_str(&format!(
            "| {name} | {} / {} | {} / {} | **{}** / {} |\n",
            show(s.p50()),
            show(s.p99()),
            show(l.p50()),
            show(l.p99()),
            ratio(l.p50(), s.p50()),
            ratio(l.p99(), s.p99()),
        ));
    }
    out.push_str(&format!(
        "\nBuilding the large database: {}. One more table (6 fields, 5 indexed): {}; \
         the first read of A after it: {}. {MORE_TABLES} more tables: p50 {} / max {}; \
         listing the base's tables: {}.\n",
        show(x.build),
        show(x.one_more_table),
        show(x.first_read_after),
        show(x.more_tables.p50()),
        show(x.more_tables.max()),
        show(x.list_tables)
    ));
    if args.big > 0 {
        out.push_str(&format!(
            "Indexing a field of a {}-record table took {}; A's one-cell updates meanwhile: \
             p50 {} / p99 {} / max {} ({} updates), before: p50 {} / p99 {} / max {} \
             (p99 ratio **{}**, max ratio {}).\n",
            args.big,
            show(x.index_build),
            show(x.update_during.p50()),
            show(x.update_during.p99()),
            show(x.update_during.max()),
            x.update_during.len(),
            show(x.update_before.p50()),
            show(x.update_before.p99()),
            show(x.update_before.max()),
            ratio(x.update_during.p99(), x.update_before.p99()),
            ratio(x.update_during.max(), x.update_before.max()),
        ));
    }
    if !inside.is_empty() {
        out.push_str(&format!("\nInside PostgreSQL:\n\n{inside}"));
    }
    Ok(out)
}

/// Appends what PostgreSQL says about A in each database (`probes` without
/// a probe are skipped): its page's plan and its statistics, at `when`.
async fn look_inside(
    out: &mut String,
    when: &str,
    probes: &[(&str, Option<&PgProbe>, &Bench, &BenchTable)],
) -> anyhow::Result<()> {
    for (name, probe, b, a) in probes {
        let Some(p) = probe else { continue };
        let plan = p
            .explain_page(b, a, &page_filter(), &page_sort(), PAGE_SIZE)
            .await?;
        out.push_str(&format!(
            "- {name}, {when}: {}; {}\n\n```text\n{plan}\n```\n\n",
            p.table_stats(a).await?,
            p.activity().await?
        ));
    }
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse()?;
    let mut report = format!(
        "## Tenant scale (pybase-tenants)\n\nT = {} tables, {} records over the others, \
         A = {} records, {} operations of each kind, big table {} records.\n\n",
        args.tables, args.records, args.a_records, args.ops, args.big
    );
    if args.sqlite {
        report.push_str(&run_backend("sqlite", &args).await?);
        report.push('\n');
    }
    if args.postgres.is_some() {
        report.push_str(&run_backend("postgres", &args).await?);
    }
    println!("{report}");
    Ok(())
}
