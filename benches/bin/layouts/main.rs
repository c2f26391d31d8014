//! `pybase-layouts`: the measurement that chooses PyBase's storage layout
//! (issue 11). For each backend and candidate layout it builds databases of
//! T user tables with five indexed fields each and R records, and measures
//! on one table A (shaped like the others) single inserts, point reads,
//! one-cell updates and an indexed filtered page, at every T of the run, so
//! the ratios large/1 come from one run; then, at the largest T, how a new
//! table costs and how A's writes fare while another table of `--big`
//! records gets one more indexed field. Raw drivers only, no PyBase code.
//!
//! ```text
//! cargo run --release -p pybase-benches --bin pybase-layouts -- \
//!     --tables 1,1000 --records 100000 [--backends sqlite,postgres] \
//!     [--layouts shared,per-table,partitioned,side-index] [--a-records 5000] \
//!     [--ops 300] [--big 100000]
//! ```
//!
//! PostgreSQL: `PYBASE_TEST_POSTGRES_URL` (or `--pg-url`); every database
//! is a fresh one, dropped at the end. SQLite files go to a temporary
//! directory, removed at the end. Markdown tables go to stdout, progress to
//! stderr.

mod args;
mod postgres;
mod report;
mod run_postgres;
mod run_sqlite;
mod shape;
mod sqlite;
mod stats;

use args::Args;

fn main() -> anyhow::Result<()> {
    let args = Args::parse(std::env::args().skip(1))?;
    let mut runs = Vec::new();
    if args.sqlite {
        runs.extend(run_sqlite::all(&args)?);
    }
    if let Some(url) = &args.postgres {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        runs.extend(rt.block_on(run_postgres::all(&args, url))?);
    }
    println!("## Layout experiment\n\n{args}\n");
    println!(
        "### Operations on table A (ratio against T = {})\n",
        args.tables[0]
    );
    println!("{}", report::ops_table(&runs));
    println!("### Schema costs\n\n{}", report::ddl_table(&runs));
    println!(
        "### Indexing a field of a {}-record table while A takes writes\n\n{}",
        args.big,
        report::build_table(&runs)
    );
    println!("### Plans of A's page\n\n{}", report::plans(&runs));
    Ok(())
}
