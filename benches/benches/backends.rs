//! PyBase through its public facade against the raw driver, on SQLite and
//! (when `PYBASE_TEST_POSTGRES_URL` is set) PostgreSQL.
//!
//! Every group holds a `pybase` function and a `raw` one, measured in the
//! same run; `pybase-report` prints each PyBase figure as a ratio to its raw
//! ceiling. Setup timings and query plans go to `notes-<backend>.md` beside
//! criterion's output. Under `cargo test` the sizes shrink (see
//! [`Sizes::detect`]) so CI only checks that everything runs.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, Throughput};
use pybase_benches::fixture::{Bench, BenchTable};
use pybase_benches::raw::{Raw, RawCursor, RawPage, RawPg, RawSqlite, raw_batches, raw_fill};
use pybase_benches::{Sizes, bench_runtime, fresh_dir, fresh_postgres_database, out_dir};
use pybase_core::facade::{FieldKey, FieldPatch, NewView, QueryInput};
use pybase_core::ids::{RecordId, TableId};
use pybase_core::query::RecordQuery;
use pybase_core::store::Store;
use pybase_store_postgres::PgStore;
use pybase_store_sqlite::SqliteStore;
use serde_json::{Map, json};
use tokio::runtime::Runtime;

/// One backend under test.
struct Side {
    name: &'static str,
    bench: Bench,
    raw: Raw,
    pg: Option<PgStore>,
    sqlite: Option<SqliteStore>,
    notes: String,
}

impl Side {
    fn note(&mut self, text: impl AsRef<str>) {
        eprintln!("[{}] {}", self.name, text.as_ref());
        self.notes.push_str(text.as_ref());
        self.notes.push('\n');
    }
}

/// Time of `f`, for setup steps worth reporting.
async fn timed<T>(f: impl Future<Output = T>) -> (T, Duration) {
    let start = Instant::now();
    let out = f.await;
    (out, start.elapsed())
}

fn rate(n: usize, d: Duration) -> String {
    #[allow(clippy::cast_precision_loss)]
    let r = n as f64 / d.as_secs_f64().max(1e-9);
    format!("{r:.0}/s")
}

fn filter_sort() -> QueryInput {
    QueryInput {
        filter: Some(json!({ "field": "Qty", "op": "gt", "value": 500 })),
        sort: Some(json!("-Price")),
        page_size: Some(100),
        ..Default::default()
    }
}

fn select_eq() -> QueryInput {
    QueryInput {
        filter: Some(json!({ "field": "Kind", "op": "eq", "value": "Bolt" })),
        page_size: Some(100),
        ..Default::default()
    }
}

/// Runs every workload on one backend.
#[allow(clippy::too_many_lines)]
fn run(c: &mut Criterion, rt: &Runtime, side: &mut Side, sizes: Sizes) {
    let name = side.name;
    let bench = side.bench.clone();
    let who = bench.who.clone();
    let pb = bench.pb.clone();

    // ---- setup: the big table, through PyBase and raw ----
    let big = rt.block_on(bench.table("Big")).expect("big table");
    let (ids, took) = rt.block_on(timed(bench.fill(&big, sizes.big, sizes.batch)));
    let ids = ids.expect("fill big table");
    side.note(format!(
        "- setup: {} records into the big table through PyBase in {:.1} s ({})",
        sizes.big,
        took.as_secs_f64(),
        rate(sizes.big, took)
    ));
    let raw_big = TableId::new();
    let batches = raw_batches(&big, 0, sizes.big, sizes.batch);
    let (raw_ids, took) = rt.block_on(timed(raw_fill(&side.raw, raw_big, &batches)));
    drop(batches);
    side.note(format!(
        "- setup: the same records through the raw driver in {:.1} s ({})",
        took.as_secs_f64(),
        rate(sizes.big, took)
    ));
    if let Some(pg) = &side.pg {
        rt.block_on(sqlx::raw_sql("ANALYZE").execute(pg.pool()))
            .expect("analyze");
    }
    if let Raw::Pg(r) = &side.raw {
        rt.block_on(r.analyze()).expect("analyze raw");
    }
    // Ids spread over the whole table, the same positions on both sides.
    let step = (ids.len() / 1024).max(1);
    let sample: Vec<RecordId> = ids.iter().step_by(step).copied().collect();
    let raw_sample: Vec<String> = raw_ids.iter().step_by(step).cloned().collect();

    // ---- point read ----
    let mut g = c.benchmark_group(format!("{name}/point_read"));
    g.throughput(Throughput::Elements(1));
    g.bench_function("pybase", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for i in 0..iters {
                    let id = sample[i as usize % sample.len()];
                    pb.get_record(&who, big.id, id, FieldKey::Name)
                        .await
                        .expect("get record");
                }
                start.elapsed()
            })
        });
    });
    g.bench_function("raw", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for i in 0..iters {
                    side.raw
                        .get(raw_big, &raw_sample[i as usize % raw_sample.len()])
                        .await;
                }
                start.elapsed()
            })
        });
    });
    g.finish();

    // ---- one-cell update ----
    let qty = big.field("Qty").expect("Qty field");
    let mut g = c.benchmark_group(format!("{name}/update_cell"));
    g.throughput(Throughput::Elements(1));
    g.bench_function("pybase", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for i in 0..iters {
                    let id = sample[i as usize % sample.len()];
                    let mut cells = Map::new();
                    cells.insert("Qty".to_owned(), json!(i % 1000));
                    pb.update_record(&who, big.id, id, cells, Bench::opts(), false)
                        .await
                        .expect("update record");
                }
                start.elapsed()
            })
        });
    });
    g.bench_function("raw", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for i in 0..iters {
                    let id = &raw_sample[i as usize % raw_sample.len()];
                    side.raw
                        .update(raw_big, id, qty, i64::try_from(i % 1000).unwrap_or(0))
                        .await;
                }
                start.elapsed()
            })
        });
    });
    g.finish();

    // ---- pages of the big table, before and after indexing ----
    let price = big.field("Price").expect("Price field");
    let kind = big.field("Kind").expect("Kind field");
    let pages = [
        (
            "filter_sort_page",
            filter_sort(),
            RawPage::FilterSort { qty, price },
        ),
        ("select_eq_page", select_eq(), RawPage::SelectEq { kind }),
    ];
    let mut page_groups = |side: &mut Side, suffix: &str| {
        for (label, query, raw_page) in &pages {
            let mut g = c.benchmark_group(format!("{name}/{label}{suffix}"));
            g.sampling_mode(SamplingMode::Flat);
            g.measurement_time(Duration::from_secs(2));
            g.bench_function("pybase", |b| {
                b.iter_custom(|iters| {
                    rt.block_on(async {
                        let start = Instant::now();
                        for _ in 0..iters {
                            let page = pb
                                .query_records(&who, big.id, query.clone(), FieldKey::Name)
                                .await
                                .expect("query");
                            assert_eq!(page.records.len(), sizes.page.min(page.records.len()));
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
                            side.raw.page(raw_big, *raw_page, &None, sizes.page).await;
                        }
                        start.elapsed()
                    })
                });
            });
            g.finish();
            let plan = rt.block_on(side.raw.explain(raw_big, *raw_page));
            side.note(format!(
                "\n#### {name} {label}{suffix}: raw query plan\n\n```\n{plan}\n```"
            ));
            let q = rt
                .block_on(pybase_query(&bench, &big, query))
                .expect("resolve query");
            let plan = match (&side.pg, &side.sqlite) {
                (Some(pg), _) => Some(rt.block_on(pg.explain(&q, true))),
                (None, Some(sqlite)) => Some(rt.block_on(sqlite.explain(&q))),
                (None, None) => None,
            };
            if let Some(plan) = plan {
                let plan = plan
                    .map(|l| l.join("\n"))
                    .unwrap_or_else(|e| format!("(no plan: {e})"));
                side.note(format!(
                    "\n#### {name} {label}{suffix}: PyBase query plan\n\n```\n{plan}\n```"
                ));
            }
        }
    };
    page_groups(side, "_noindex");

    // Views that filter and sort index their fields automatically.
    let views = [
        json!({ "filter": { "field": "Qty", "op": "gt", "value": 500 }, "sort": "-Price" }),
        json!({ "filter": { "field": "Kind", "op": "eq", "value": "Bolt" } }),
    ];
    let (made, took) = rt.block_on(timed(async {
        for (i, config) in views.iter().enumerate() {
            pb.create_view(
                &who,
                big.id,
                NewView {
                    name: format!("View {i}"),
                    view_type: None,
                    config: config.clone(),
                },
            )
            .await?;
        }
        let fields = pb.list_fields(&who, big.id).await?;
        Ok::<_, pybase_core::Error>(
            fields
                .iter()
                .filter(|f| f.indexed)
                .map(|f| f.name.clone())
                .collect::<Vec<_>>(),
        )
    }));
    let indexed = made.expect("create views");
    side.note(format!(
        "- two views (filter Qty > 500 sorted by -Price; Kind = Bolt) indexed {indexed:?} in {:.1} s",
        took.as_secs_f64()
    ));
    // Fields a view does not index are indexed explicitly (none expected).
    for field in ["Qty", "Price", "Kind"] {
        if !indexed.iter().any(|n| n == field) {
            let id = big.field(field).expect("field");
            rt.block_on(pb.update_field(
                &who,
                id,
                FieldPatch {
                    indexed: Some(true),
                    ..Default::default()
                },
            ))
            .expect("index field");
            side.note(format!("- indexed {field} explicitly"));
        }
    }
    let (_, took) = rt.block_on(timed(async {
        match &side.raw {
            Raw::Sqlite(r) => {
                let r = r.lock().expect("raw sqlite lock");
                for f in [qty, price, kind] {
                    r.index(raw_big, f).expect("raw index");
                }
            }
            Raw::Pg(r) => {
                for f in [qty, price] {
                    r.index_number(raw_big, f).await.expect("raw index");
                }
                r.analyze().await.expect("analyze");
            }
        }
    }));
    side.note(format!(
        "- raw: the same cell indexes in {:.1} s",
        took.as_secs_f64()
    ));
    if let Some(pg) = &side.pg {
        rt.block_on(sqlx::raw_sql("ANALYZE").execute(pg.pool()))
            .expect("analyze");
    }
    page_groups(side, "");

    // A selective equality (one record in the table): where PostgreSQL's
    // GIN index on the cells serves the filter.
    let one = QueryInput {
        filter: Some(json!({ "field": "Part", "op": "eq", "value": "Part 0000042" })),
        page_size: Some(100),
        ..Default::default()
    };
    let q = rt
        .block_on(pybase_query(&bench, &big, &one))
        .expect("resolve query");
    let plan = match (&side.pg, &side.sqlite) {
        (Some(pg), _) => Some(rt.block_on(pg.explain(&q, true))),
        (None, Some(sqlite)) => Some(rt.block_on(sqlite.explain(&q))),
        (None, None) => None,
    };
    if let Some(plan) = plan {
        let plan = plan
            .map(|l| l.join("\n"))
            .unwrap_or_else(|e| format!("(no plan: {e})"));
        side.note(format!(
            "\n#### {name}: PyBase plan of a selective equality (Part = \"Part 0000042\", not indexed)\n\n```\n{plan}\n```"
        ));
    }

    // ---- cursor walk ----
    let walk = rt.block_on(bench.table("Walk")).expect("walk table");
    rt.block_on(bench.fill(&walk, sizes.walk, sizes.batch))
        .expect("fill walk table");
    let raw_walk = TableId::new();
    let batches = raw_batches(&walk, 0, sizes.walk, sizes.batch);
    rt.block_on(raw_fill(&side.raw, raw_walk, &batches));
    drop(batches);
    let (cursors, took) = rt.block_on(timed(async {
        let mut cursors: Vec<Option<String>> = vec![None];
        loop {
            let q = QueryInput {
                page_size: Some(sizes.page),
                cursor: cursors.last().cloned().flatten(),
                ..Default::default()
            };
            let page = pb
                .query_records(&who, walk.id, q, FieldKey::Name)
                .await
                .expect("walk page");
            match page.next_cursor {
                Some(next) => cursors.push(Some(next)),
                None => break,
            }
        }
        cursors
    }));
    side.note(format!(
        "- walked {} records in {} pages through PyBase in {:.2} s",
        sizes.walk,
        cursors.len(),
        took.as_secs_f64()
    ));
    let (raw_cursors, took) = rt.block_on(timed(async {
        let mut cursors: Vec<RawCursor> = vec![None];
        loop {
            let after = cursors.last().cloned().flatten();
            let page = side
                .raw
                .page(raw_walk, RawPage::Walk, &after, sizes.page)
                .await;
            if page.len() < sizes.page {
                break;
            }
            match page.last() {
                Some(last) if cursors.len() * sizes.page < sizes.walk => {
                    cursors.push(Some(last.clone()));
                }
                _ => break,
            }
        }
        cursors
    }));
    side.note(format!(
        "- walked the same records in {} pages through the raw driver in {:.2} s",
        raw_cursors.len(),
        took.as_secs_f64()
    ));
    let first = cursors.first().cloned().flatten();
    let last = cursors.last().cloned().flatten();
    let raw_first = raw_cursors.first().cloned().flatten();
    let raw_last = raw_cursors.last().cloned().flatten();
    let mut g = c.benchmark_group(format!("{name}/cursor_page"));
    for (label, cursor) in [("pybase_first", &first), ("pybase_last", &last)] {
        g.bench_function(label, |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        let q = QueryInput {
                            page_size: Some(sizes.page),
                            cursor: cursor.clone(),
                            ..Default::default()
                        };
                        pb.query_records(&who, walk.id, q, FieldKey::Name)
                            .await
                            .expect("page");
                    }
                    start.elapsed()
                })
            });
        });
    }
    for (label, cursor) in [("raw_first", &raw_first), ("raw_last", &raw_last)] {
        g.bench_function(label, |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        side.raw
                            .page(raw_walk, RawPage::Walk, cursor, sizes.page)
                            .await;
                    }
                    start.elapsed()
                })
            });
        });
    }
    g.finish();

    // ---- bulk create: fresh tables, batches of `batch` ----
    let mut g = c.benchmark_group(format!("{name}/bulk_create"));
    g.sampling_mode(SamplingMode::Flat);
    g.sample_size(10);
    g.warm_up_time(Duration::from_millis(1));
    g.measurement_time(Duration::from_millis(1));
    g.throughput(Throughput::Elements(sizes.bulk as u64));
    let mut n = 0_u32;
    g.bench_function("pybase", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    n += 1;
                    let t = bench.table(&format!("Bulk {n}")).await.expect("table");
                    let batches = Bench::batches(0, sizes.bulk as u64, sizes.batch);
                    let start = Instant::now();
                    for batch in batches {
                        pb.create_records(&who, t.id, batch, Bench::opts())
                            .await
                            .expect("create records");
                    }
                    total += start.elapsed();
                }
                total
            })
        });
    });
    let mut bulk_raw = |label: &str, gin: bool| {
        g.bench_function(label, |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let t = TableId::new();
                        let batches = raw_batches(&big, 0, sizes.bulk, sizes.batch);
                        let start = Instant::now();
                        let mut first = 1;
                        for batch in &batches {
                            match (&side.raw, gin) {
                                (Raw::Pg(r), false) => {
                                    r.insert_batch(t, batch, first, false)
                                        .await
                                        .expect("raw insert");
                                }
                                _ => {
                                    side.raw.insert(t, batch, first).await;
                                }
                            }
                            first += i64::try_from(batch.len()).unwrap_or(0);
                        }
                        total += start.elapsed();
                    }
                    total
                })
            });
        });
    };
    bulk_raw("raw", true);
    if matches!(side.raw, Raw::Pg(_)) {
        bulk_raw("raw_no_gin", false);
    }
    g.finish();
}

/// The store query PyBase runs for `input` on `table` (for `EXPLAIN`).
async fn pybase_query(
    bench: &Bench,
    table: &BenchTable,
    input: &QueryInput,
) -> anyhow::Result<RecordQuery> {
    let fields = bench.pb.list_fields(&bench.who, table.id).await?;
    let filter = match &input.filter {
        Some(f) => Some(pybase_core::query::resolve_filter(
            &pybase_core::query::FilterSpec::from_json(f)?,
            &fields,
        )?),
        None => None,
    };
    let sort = match &input.sort {
        Some(s) => {
            pybase_core::query::resolve_sort(&pybase_core::query::SortSpec::from_json(s)?, &fields)?
        }
        None => Vec::new(),
    };
    Ok(RecordQuery {
        table_id: table.id,
        filter,
        sort,
        after: None,
        limit: input.page_size.unwrap_or(100),
        include_deleted: false,
        log_seq: false,
    })
}

fn write_notes(dir: &Path, side: &Side, sizes: Sizes) {
    let mut text = String::new();
    let _ = writeln!(text, "### {} ({} sizes)\n", side.name, sizes.label);
    text.push_str(&side.notes);
    let path = dir.join(format!("notes-{}.md", side.name));
    if let Err(e) = std::fs::write(&path, text) {
        eprintln!("could not write {}: {e}", path.display());
    }
}

fn main() -> anyhow::Result<()> {
    let sizes = Sizes::detect();
    let out = out_dir();
    std::fs::create_dir_all(&out)?;
    let rt = bench_runtime()?;
    let mut c = Criterion::default()
        .output_directory(&out.join("criterion"))
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    eprintln!("sizes: {sizes:?}");

    // SQLite: fresh files each run.
    let dir = fresh_dir("sqlite-data")?;
    let sqlite = SqliteStore::open(dir.join("pybase.db"))?;
    let store: Arc<dyn Store> = Arc::new(sqlite.clone());
    let mut side = Side {
        name: "sqlite",
        bench: rt.block_on(Bench::new(store))?,
        raw: Raw::Sqlite(Mutex::new(RawSqlite::open(&dir.join("raw.db"))?)),
        pg: None,
        sqlite: Some(sqlite),
        notes: String::new(),
    };
    run(&mut c, &rt, &mut side, sizes);
    write_notes(&out, &side, sizes);
    drop(side);

    // PostgreSQL: a fresh database each run, when a server is given.
    match std::env::var("PYBASE_TEST_POSTGRES_URL") {
        Ok(admin) => {
            let url = rt.block_on(fresh_postgres_database(&admin, "pybase_bench"))?;
            let pg = rt.block_on(PgStore::connect(&url))?;
            let store: Arc<dyn Store> = Arc::new(pg.clone());
            let mut side = Side {
                name: "postgres",
                bench: rt.block_on(Bench::new(store))?,
                raw: Raw::Pg(rt.block_on(RawPg::connect(&url))?),
                pg: Some(pg),
                sqlite: None,
                notes: String::new(),
            };
            run(&mut c, &rt, &mut side, sizes);
            write_notes(&out, &side, sizes);
        }
        Err(_) => {
            eprintln!("PYBASE_TEST_POSTGRES_URL is not set: PostgreSQL benches skipped");
        }
    }
    c.final_summary();
    Ok(())
}
