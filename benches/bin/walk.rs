//! `pybase-walk`: what a records walk costs a page when the client edits
//! what it pages through (the snapshot cursors of issue 14).
//!
//! Through the facade, on each backend, it walks a table of `--records`
//! records sorted by `Qty`, `--page` records a page, three ways, each in a
//! base of its own (so no walk reads another's events):
//!
//! - `plain`: nothing is written during the walk (the baseline);
//! - `edited`: after each page the client updates every record of it,
//!   `Qty + 2000` (pyairtable's `for page in iterate(sort=...)` with a
//!   `batch_update` inside), so each later page has every record edited so
//!   far to place as it was;
//! - `others`: after each page the client updates as many records of
//!   *another* table of the same base (the walk reads those events and
//!   keeps none);
//! - `unread`: after each page the client updates every record of it in a
//!   field the walk neither sorts nor filters by (`Price + 1`: a script
//!   that fixes every record as it reads it), so the walk reads their
//!   events and places none of them;
//! - `moved`: after the first page the client updates every record of the
//!   table, to 5,000 and above (all of them move past the end of the order as it
//!   is), so every later page places them as they were.
//!
//! Only the page reads are timed. Each walk checks that it met every
//! record once. The report gives the median page, the mean of the last
//! tenth of the pages, the whole walk, and each against `plain` of the same
//! run.
//!
//! ```text
//! cargo run --release -p pybase-benches --bin pybase-walk -- \
//!     [--records 20000] [--page 100] [--backends sqlite,postgres] [--trace]
//!     [--formula F] [--walks plain,edited,others,unread,moved]
//! ```
//!
//! PostgreSQL: `PYBASE_TEST_POSTGRES_URL`; its database is created and
//! dropped. SQLite uses a file in a temporary folder. Markdown to stdout.

#[path = "layouts/stats.rs"]
#[allow(dead_code)]
mod stats;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use pybase_benches::fixture::{Bench, BenchTable};
use pybase_benches::fresh_postgres_database;
use pybase_core::facade::{CellsInput, FieldKey, QueryInput};
use pybase_core::ids::RecordId;
use pybase_core::store::Store;
use pybase_store_postgres::PgStore;
use pybase_store_sqlite::SqliteStore;
use serde_json::json;
use sqlx::Connection as _;
use stats::{Samples, ratio, show};

struct Args {
    records: usize,
    page: usize,
    sqlite: bool,
    postgres: bool,
    /// Print every page's time to stderr.
    trace: bool,
    /// A `formula=` filter every page applies (the walk then expects the
    /// records it keeps at the first page, each once).
    formula: Option<String>,
    /// Which walks to run (`plain,edited,others,unread,moved`).
    walks: String,
}

fn args() -> anyhow::Result<Args> {
    let mut a = Args {
        records: 20_000,
        page: 100,
        sqlite: true,
        postgres: true,
        trace: false,
        formula: None,
        walks: "plain,edited,others,unread".to_owned(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().context("a value after the flag");
        match flag.as_str() {
            "--records" => a.records = value()?.parse::<usize>()?.max(1),
            "--page" => a.page = value()?.parse::<usize>()?.clamp(1, 1000),
            "--trace" => a.trace = true,
            "--formula" => a.formula = Some(value()?),
            "--walks" => a.walks = value()?,
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

/// What the client writes between pages.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Edits {
    Plain,
    Edited,
    Others,
    Unread,
    Moved,
}

impl Edits {
    fn label(self) -> &'static str {
        match self {
            Self::Plain => "plain (no writes)",
            Self::Edited => "edited (each page's records, Qty + 2000)",
            Self::Others => "others (as many records of another table)",
            Self::Unread => "unread (each page's records, Price + 1)",
            Self::Moved => "moved (every record to Qty 5,000+, after the first page)",
        }
    }
}

/// One walk's page reads.
struct Walk {
    pages: Samples,
    order: Vec<Duration>,
    total: Duration,
}

impl Walk {
    /// The mean of the last tenth of the pages.
    fn tail(&self) -> Duration {
        let n = (self.order.len() / 10).max(1);
        let last = &self.order[self.order.len().saturating_sub(n)..];
        last.iter().sum::<Duration>() / u32::try_from(last.len()).unwrap_or(1).max(1)
    }
}

async fn walk(store: &Arc<dyn Store>, a: &Args, edits: Edits) -> anyhow::Result<Walk> {
    let bench = Bench::new(Arc::clone(store)).await?;
    let table = bench.table("Walked").await?;
    let ids = bench.fill(&table, a.records, 1_000).await?;
    let other: Option<(BenchTable, Vec<RecordId>)> = if edits == Edits::Others {
        let t = bench.table("Other").await?;
        let ids = bench.fill(&t, a.records, 1_000).await?;
        Some((t, ids))
    } else {
        None
    };
    // The records the walk must meet: all, or those the formula keeps now.
    let expected = match &a.formula {
        None => ids.len(),
        Some(f) => kept_by(&bench, &table, f).await?,
    };
    let mut seen: HashSet<RecordId> = HashSet::with_capacity(ids.len());
    let mut out = Walk {
        pages: Samples::new(),
        order: Vec::new(),
        total: Duration::ZERO,
    };
    let mut cursor: Option<String> = None;
    let mut written = 0_usize;
    loop {
        let q = QueryInput {
            sort: Some(json!("Qty")),
            page_size: Some(a.page),
            cursor: cursor.clone(),
            formula: a.formula.clone(),
            ..QueryInput::default()
        };
        let t0 = Instant::now();
        let page = bench
            .pb
            .query_records(&bench.who, table.id, q, FieldKey::Name)
            .await?;
        let d = t0.elapsed();
        out.pages.push(d);
        out.order.push(d);
        out.total += d;
        if a.trace {
            eprintln!("{} page {}: {d:?}", edits.label(), out.order.len());
        }
        let mut batch: Vec<(RecordId, CellsInput)> = Vec::with_capacity(page.records.len());
        for r in &page.records {
            anyhow::ensure!(seen.insert(r.id), "record {} came twice", r.id);
            let cell = if edits == Edits::Unread {
                let price = r
                    .fields
                    .get("Price")
                    .and_then(|v| v.as_f64())
                    .unwrap_or(0.0);
                ("Price".to_owned(), json!(price + 1.0))
            } else {
                let qty = r.fields.get("Qty").and_then(|v| v.as_i64()).unwrap_or(0);
                ("Qty".to_owned(), json!(qty + 2000))
            };
            batch.push((r.id, [cell].into_iter().collect()));
        }
        match (&other, edits) {
            _ if page.records.is_empty() => {}
            (_, Edits::Moved) if out.order.len() == 1 => {
                for (n, chunk) in ids.chunks(1_000).enumerate() {
                    let batch = chunk
                        .iter()
                        .enumerate()
                        .map(|(k, id)| {
                            let cell = ("Qty".to_owned(), json!(5_000 + n * 1_000 + k));
                            (*id, [cell].into_iter().collect())
                        })
                        .collect();
                    bench
                        .pb
                        .update_records(&bench.who, table.id, batch, Bench::opts())
                        .await?;
                }
            }
            (_, Edits::Edited | Edits::Unread) => {
                bench
                    .pb
                    .update_records(&bench.who, table.id, batch, Bench::opts())
                    .await?;
            }
            (Some((t, others)), Edits::Others) => {
                let batch = (0..page.records.len())
                    .map(|k| {
                        let id = others[(written + k) % others.len()];
                        let cells = [("Qty".to_owned(), json!(written + k))].into_iter();
                        (id, cells.collect())
                    })
                    .collect();
                written += page.records.len();
                bench
                    .pb
                    .update_records(&bench.who, t.id, batch, Bench::opts())
                    .await?;
            }
            _ => {}
        }
        cursor = page.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    anyhow::ensure!(
        seen.len() == expected,
        "the walk met {} of {} records",
        seen.len(),
        expected
    );
    Ok(out)
}

/// How many records of `table` the formula `f` keeps, read untimed.
async fn kept_by(bench: &Bench, table: &BenchTable, f: &str) -> anyhow::Result<usize> {
    let mut n = 0;
    let mut cursor = None;
    loop {
        let q = QueryInput {
            page_size: Some(1000),
            cursor,
            formula: Some(f.to_owned()),
            ..QueryInput::default()
        };
        let page = bench
            .pb
            .query_records(&bench.who, table.id, q, FieldKey::Name)
            .await?;
        n += page.records.len();
        cursor = page.next_cursor;
        if cursor.is_none() {
            return Ok(n);
        }
    }
}

async fn measure(name: &str, store: Arc<dyn Store>, a: &Args) -> anyhow::Result<()> {
    let mut walks = Vec::new();
    for (edits, name) in [
        (Edits::Plain, "plain"),
        (Edits::Edited, "edited"),
        (Edits::Others, "others"),
        (Edits::Unread, "unread"),
        (Edits::Moved, "moved"),
    ] {
        if !a.walks.contains(name) {
            continue;
        }
        eprintln!("{name}: {}", edits.label());
        walks.push((edits, walk(&store, a, edits).await?));
    }
    println!(
        "{name}: {} records sorted by Qty, {} a page, formula {}; page reads only",
        a.records,
        a.page,
        a.formula.as_deref().unwrap_or("none")
    );
    println!();
    println!(
        "| {name} | walk | pages | page p50 | last tenth, mean | whole walk | p50 / plain | last tenth / plain | walk / plain |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let zero = Walk {
        pages: Samples::new(),
        order: Vec::new(),
        total: Duration::ZERO,
    };
    let plain = walks
        .iter()
        .find(|(e, _)| *e == Edits::Plain)
        .map_or(&zero, |(_, w)| w);
    for (edits, w) in &walks {
        println!(
            "| {name} | {} | {} | {} | {} | {} | {} | {} | {} |",
            edits.label(),
            w.pages.len(),
            show(w.pages.p50()),
            show(w.tail()),
            show(w.total),
            ratio(w.pages.p50(), plain.pages.p50()),
            ratio(w.tail(), plain.tail()),
            ratio(w.total, plain.total),
        );
    }
    println!();
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let a = args()?;
    pybase_benches::bench_runtime()?.block_on(async {
        if a.sqlite {
            let dir = pybase_benches::fresh_dir("walk")?;
            let store = Arc::new(SqliteStore::open(dir.join("bench.db"))?);
            measure("sqlite", store, &a).await?;
            std::fs::remove_dir_all(&dir).ok();
        }
        if a.postgres {
            let url = std::env::var("PYBASE_TEST_POSTGRES_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
            let db = format!("pybase_walk_{}", std::process::id());
            let db_url = fresh_postgres_database(&url, &db).await?;
            let store = Arc::new(PgStore::connect(&db_url).await?);
            let result = measure("postgres", store.clone(), &a).await;
            store.pool().close().await;
            let mut admin = sqlx::PgConnection::connect(&url).await?;
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {db} WITH (FORCE)"
            )))
            .execute(&mut admin)
            .await?;
            result?;
        }
        anyhow::Ok(())
    })
}
