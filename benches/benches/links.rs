//! Two-way links: what keeping the other side in step costs, as ratios to a
//! plain single-record update measured in the same run, on SQLite and (when
//! `PYBASE_TEST_POSTGRES_URL` is set) PostgreSQL.
//!
//! Groups (`<backend>/links/...`):
//! - `update_text_plain`: a text cell of a table without links (the baseline);
//! - `update_text_beside_link`: a text cell of a table holding a two-way link
//!   (what every write of such a table now pays: reading its link fields);
//! - `move_link`: a task's link moved between two projects (the task and
//!   both projects' inverse cells written, one transaction);
//! - `reverse_lookup`: `records_linking_to` one project that `LINKED` tasks
//!   link to (the reverse index).

// A failed bench step is meant to stop the bench with its error shown.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use criterion::Criterion;
use pybase_benches::fixture::Bench;
use pybase_benches::{bench_runtime, fresh_dir, fresh_postgres_database, out_dir};
use pybase_core::facade::{NewField, NewTable, WriteOptions};
use pybase_core::ids::{FieldId, RecordId, TableId};
use pybase_core::store::Store;
use pybase_store_postgres::PgStore;
use pybase_store_sqlite::SqliteStore;
use serde_json::{Map, Value, json};
use tokio::runtime::Runtime;

/// Tasks linking to the looked-up project.
const LINKED: usize = 1_000;

fn cells(pairs: &[(&str, Value)]) -> Map<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

struct Setup {
    bench: Bench,
    store: Arc<dyn Store>,
    plain: (TableId, RecordId),
    tasks: TableId,
    task: RecordId,
    link: FieldId,
    projects: [RecordId; 2],
}

async fn setup(store: Arc<dyn Store>) -> anyhow::Result<Setup> {
    let bench = Bench::new(Arc::clone(&store)).await?;
    let (pb, who) = (&bench.pb, &bench.who);
    let table = |name: &str| NewTable {
        name: name.to_owned(),
        ..NewTable::default()
    };
    let plain = pb.create_table(who, bench.base, table("Plain")).await?;
    let plain_rec = pb
        .create_record(
            who,
            plain.table.id,
            cells(&[("Name", json!("x"))]),
            WriteOptions::default(),
        )
        .await?;
    let projects = pb.create_table(who, bench.base, table("Projects")).await?;
    let tasks = pb.create_table(who, bench.base, table("Tasks")).await?;
    let link = pb
        .create_field(
            who,
            tasks.table.id,
            NewField {
                name: "Project".into(),
                field_type: "link".into(),
                options: json!({ "linked_table_id": projects.table.id }),
                description: None,
                indexed: false,
            },
        )
        .await?;
    let mut ps = Vec::new();
    for name in ["p1", "p2"] {
        let r = pb
            .create_record(
                who,
                projects.table.id,
                cells(&[("Name", json!(name))]),
                WriteOptions::default(),
            )
            .await?;
        ps.push(r.id);
    }
    for chunk in 0..LINKED / 500 {
        let batch = (0..500)
            .map(|i| {
                cells(&[
                    ("Name", json!(format!("t{}", chunk * 500 + i))),
                    ("Project", json!([ps[0]])),
                ])
            })
            .collect();
        pb.create_records(who, tasks.table.id, batch, WriteOptions::default())
            .await?;
    }
    let task = pb
        .create_record(
            who,
            tasks.table.id,
            cells(&[("Name", json!("moving")), ("Project", json!([ps[1]]))]),
            WriteOptions::default(),
        )
        .await?;
    Ok(Setup {
        bench,
        store,
        plain: (plain.table.id, plain_rec.id),
        tasks: tasks.table.id,
        task: task.id,
        link: link.id,
        projects: [ps[0], ps[1]],
    })
}

fn run(c: &mut Criterion, rt: &Runtime, name: &str, s: &Setup) {
    let (pb, who) = (&s.bench.pb, &s.bench.who);
    let mut g = c.benchmark_group(format!("{name}/links"));
    let mut n = 0_u64;
    g.bench_function("update_text_plain", |b| {
        b.iter(|| {
            n += 1;
            rt.block_on(pb.update_record(
                who,
                s.plain.0,
                s.plain.1,
                cells(&[("Name", json!(format!("v{n}")))]),
                WriteOptions::default(),
                false,
            ))
            .unwrap()
        });
    });
    g.bench_function("update_text_beside_link", |b| {
        b.iter(|| {
            n += 1;
            rt.block_on(pb.update_record(
                who,
                s.tasks,
                s.task,
                cells(&[("Name", json!(format!("v{n}")))]),
                WriteOptions::default(),
                false,
            ))
            .unwrap()
        });
    });
    g.bench_function("move_link", |b| {
        b.iter(|| {
            n += 1;
            let to = s.projects[usize::from(n.is_multiple_of(2))];
            rt.block_on(pb.update_record(
                who,
                s.tasks,
                s.task,
                cells(&[("Project", json!([to]))]),
                WriteOptions::default(),
                false,
            ))
            .unwrap()
        });
    });
    g.bench_function("reverse_lookup", |b| {
        b.iter(|| {
            let found = rt
                .block_on(
                    s.store
                        .records_linking_to(s.tasks, s.link, &s.projects[..1]),
                )
                .unwrap();
            assert!(found.len() >= LINKED);
        });
    });
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

    let dir = fresh_dir("links-sqlite")?;
    let sqlite: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.join("pybase.db"))?);
    let s = rt.block_on(setup(sqlite))?;
    run(&mut c, &rt, "sqlite", &s);
    drop(s);

    match std::env::var("PYBASE_TEST_POSTGRES_URL") {
        Ok(admin) => {
            let url = rt.block_on(fresh_postgres_database(&admin, "pybase_bench_links"))?;
            let pg: Arc<dyn Store> = Arc::new(rt.block_on(PgStore::connect(&url))?);
            let s = rt.block_on(setup(pg))?;
            run(&mut c, &rt, "postgres", &s);
        }
        Err(_) => eprintln!("PYBASE_TEST_POSTGRES_URL is not set: PostgreSQL skipped"),
    }
    c.final_summary();
    Ok(())
}
