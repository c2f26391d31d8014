//! One PostgreSQL run per (layout, T): a fresh database, measured, dropped.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use pybase_benches::postgres_database_url;
use sqlx::AssertSqlSafe;
use sqlx::postgres::PgPoolOptions;

use crate::args::Args;
use crate::postgres::{Layout, Postgres};
use crate::report::{Build, Run};
use crate::run_sqlite::{first_last, split};
use crate::shape::{Rng, UserTable};
use crate::stats::Samples;

const LAYOUTS: [(&str, Layout); 4] = [
    ("shared", Layout::Shared),
    ("per-table", Layout::PerTable),
    ("partitioned", Layout::Partitioned),
    ("side-index", Layout::SideIndex),
];

/// Runs every selected PostgreSQL layout at every T.
pub(crate) async fn all(args: &Args, url: &str) -> anyhow::Result<Vec<Run>> {
    let admin = PgPoolOptions::new().max_connections(1).connect(url).await?;
    let mut runs = Vec::new();
    for (name, layout) in LAYOUTS {
        if !args.wants(name) {
            continue;
        }
        for &t in &args.tables {
            let db = format!(
                "pybase_layouts_{}_{}_{t}",
                std::process::id(),
                name.replace('-', "_")
            );
            sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE {db}")))
                .execute(&admin)
                .await?;
            let run = one(args, layout, t, &postgres_database_url(url, &db)).await;
            sqlx::raw_sql(AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {db} WITH (FORCE)"
            )))
            .execute(&admin)
            .await?;
            runs.push(run?);
        }
    }
    admin.close().await;
    Ok(runs)
}

async fn timed<F: Future<Output = anyhow::Result<()>>>(
    warm: usize,
    n: usize,
    mut f: impl FnMut(usize) -> F,
) -> anyhow::Result<Samples> {
    for i in 0..warm {
        f(i).await?;
    }
    let mut s = Samples::new();
    for i in warm..warm + n {
        let at = Instant::now();
        f(i).await?;
        s.push(at.elapsed());
    }
    Ok(s)
}

async fn one(args: &Args, layout: Layout, t: usize, url: &str) -> anyhow::Result<Run> {
    eprintln!("postgres / {} / T={t}", layout.name());
    let db = Postgres::open(url, layout).await?;
    let mut rng = Rng::new(42);
    let mut next = 1_u64;
    let a = UserTable::new(0);
    db.create_table(&a).await?;
    let a_ids = db.fill(&a, next, args.a_records, &mut rng).await?;
    next += args.a_records as u64;

    let others: Vec<UserTable> = (1..t).map(UserTable::new).collect();
    let started = Instant::now();
    let mut times = Vec::with_capacity(others.len());
    for o in &others {
        let s = Instant::now();
        db.create_table(o).await?;
        times.push(s.elapsed());
    }
    let create_all = started.elapsed();
    eprintln!("  created {} tables in {create_all:?}", others.len());
    let started = Instant::now();
    let per = if others.is_empty() {
        0
    } else {
        args.records / others.len()
    };
    for o in &others {
        db.fill(o, next, per, &mut rng).await?;
        next += per as u64;
    }
    let fill = started.elapsed();
    eprintln!("  filled in {fill:?}");
    let started = Instant::now();
    db.analyze().await?;
    let analyze = started.elapsed();
    eprintln!("  analysed in {analyze:?}");

    let one_more = timed(0, 3, |i| {
        let (db, o) = (db.clone(), UserTable::new(t + 1 + i));
        async move { db.create_table(&o).await }
    })
    .await?;

    let n = args.ops;
    let insert = timed(20, n, |_| {
        let (db, a, num, mut r) = (db.clone(), a.clone(), next, rng.clone());
        next += 1;
        rng.next();
        async move { db.insert_one(&a, num, &mut r).await }
    })
    .await?;
    let mut pick = Rng::new(7);
    let mut choose = || -> anyhow::Result<String> {
        Ok(a_ids[usize::try_from(pick.below(a_ids.len() as u64))?].clone())
    };
    let get = timed(20, n, |_| {
        let (db, a, id) = (db.clone(), a.clone(), choose());
        async move {
            let id = id?;
            anyhow::ensure!(db.get(&a, &id).await?, "record {id} not found");
            Ok(())
        }
    })
    .await?;
    let update = timed(20, n, |i| {
        let (db, a, id) = (db.clone(), a.clone(), choose());
        async move { db.update(&a, &id?, i64::try_from(i % 1000)?).await }
    })
    .await?;
    let page = timed(20, n, |_| {
        let (db, a) = (db.clone(), a.clone());
        async move {
            anyhow::ensure!(db.page(&a).await? == 50, "short page");
            Ok(())
        }
    })
    .await?;
    let plan = db.plan(&a).await?;

    let mut builds = Vec::new();
    let largest = args.tables.last().copied().unwrap_or(1);
    if args.big > 0 && t == largest {
        let big = UserTable::new(t + 100);
        db.create_table(&big).await?;
        db.fill(&big, next, args.big, &mut rng).await?;
        next += args.big as u64;
        db.analyze().await?;
        match layout {
            Layout::SideIndex => {
                let how = "side rows, 1000 records per transaction";
                builds.push(build(&db, &a, &big, false, how).await?);
            }
            Layout::Shared => {
                let how = "CREATE INDEX + ANALYZE in one transaction (today)";
                builds.push(build(&db, &a, &big, false, how).await?);
                db.drop_late(&big).await?;
                let how = "CREATE INDEX CONCURRENTLY";
                builds.push(build(&db, &a, &big, true, how).await?);
            }
            Layout::PerTable | Layout::Partitioned => {
                let how = "CREATE INDEX + ANALYZE of that table, one transaction";
                builds.push(build(&db, &a, &big, false, how).await?);
            }
        }
    }
    let _ = next;
    db.close().await;
    let extra = if t > 1 { per * (t - 1) } else { 0 };
    Ok(Run {
        backend: "PostgreSQL",
        layout: layout.name(),
        tables: t,
        records: args.a_records + extra,
        create_all,
        create_first_last: first_last(&times),
        fill,
        analyze,
        one_more,
        open: None,
        insert,
        get,
        update,
        page,
        builds,
        plan,
    })
}

async fn build(
    db: &Postgres,
    a: &UserTable,
    big: &UserTable,
    concurrently: bool,
    how: &str,
) -> anyhow::Result<Build> {
    let stop = Arc::new(AtomicBool::new(false));
    let (flag, w, a2) = (Arc::clone(&stop), db.clone(), a.clone());
    let writer = tokio::spawn(async move {
        let mut rng = Rng::new(99);
        // Each build's writer gets its own id range.
        let mut num = (1_u64 << 40) + (u64::from(concurrently) << 32);
        let mut out = Vec::new();
        while !flag.load(Ordering::Relaxed) {
            let at = Instant::now();
            w.insert_one(&a2, num, &mut rng).await?;
            num += 1;
            out.push((at, at.elapsed()));
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        Ok::<_, anyhow::Error>(out)
    });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let from = Instant::now();
    db.index_late(big, concurrently).await?;
    let took = from.elapsed();
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    let writes = writer.await??;
    let (before, during) = split(&writes, from, took);
    Ok(Build {
        how: how.to_owned(),
        took,
        before,
        during,
    })
}
