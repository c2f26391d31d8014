//! One SQLite run per (layout, T): build the database, measure, remove it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::args::Args;
use crate::report::{Build, Run};
use crate::shape::{Rng, UserTable};
use crate::sqlite::{Layout, Sqlite};
use crate::stats::{Samples, measure};

const LAYOUTS: [(&str, Layout); 3] = [
    ("shared", Layout::Shared),
    ("per-table", Layout::PerTable),
    ("side-index", Layout::SideIndex),
];

/// Runs every selected SQLite layout at every T.
pub(crate) fn all(args: &Args) -> anyhow::Result<Vec<Run>> {
    let dir = std::env::temp_dir().join(format!("pybase-layouts-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let mut runs = Vec::new();
    let result = (|| {
        for (name, layout) in LAYOUTS {
            if !args.wants(name) {
                continue;
            }
            for &t in &args.tables {
                let path = dir.join(format!("{name}-{t}.db"));
                let run = one(args, layout, t, &path);
                for ext in ["", "-wal", "-shm"] {
                    let mut p = path.clone().into_os_string();
                    p.push(ext);
                    let _ = std::fs::remove_file(p);
                }
                runs.push(run?);
            }
        }
        Ok::<_, anyhow::Error>(())
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result.map(|()| runs)
}

/// Mean of the first and last tenth of per-table creation times.
pub(crate) fn first_last(times: &[Duration]) -> (Duration, Duration) {
    if times.is_empty() {
        return (Duration::ZERO, Duration::ZERO);
    }
    let k = (times.len() / 10).max(1);
    let mean = |s: &[Duration]| s.iter().sum::<Duration>() / u32::try_from(s.len()).unwrap_or(1);
    (mean(&times[..k]), mean(&times[times.len() - k..]))
}

fn one(args: &Args, layout: Layout, t: usize, path: &std::path::Path) -> anyhow::Result<Run> {
    eprintln!("sqlite / {} / T={t}", layout.name());
    let mut db = Sqlite::open(path, layout, 1)?;
    let mut rng = Rng::new(42);
    let a = UserTable::new(0);
    db.create_table(&a)?;
    let a_ids = db.fill(&a, args.a_records, &mut rng)?;

    let others: Vec<UserTable> = (1..t).map(UserTable::new).collect();
    let started = Instant::now();
    let mut times = Vec::with_capacity(others.len());
    for o in &others {
        let s = Instant::now();
        db.create_table(o)?;
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
        db.fill(o, per, &mut rng)?;
    }
    let fill = started.elapsed();
    eprintln!("  filled in {fill:?}");
    let started = Instant::now();
    db.analyze()?;
    let analyze = started.elapsed();

    let one_more = measure(0, 3, |i| db.create_table(&UserTable::new(t + 1 + i)))?;
    let open = measure(1, 5, |_| db.time_open(&a))?;

    let n = args.ops;
    let insert = measure(20, n, |_| db.insert_one(&a, &mut rng).map(drop))?;
    let mut pick = Rng::new(7);
    let get = measure(20, n, |_| {
        let id = &a_ids[usize::try_from(pick.below(a_ids.len() as u64))?];
        anyhow::ensure!(db.get(&a, id)?, "record {id} not found");
        Ok(())
    })?;
    let update = measure(20, n, |i| {
        let id = &a_ids[usize::try_from(pick.below(a_ids.len() as u64))?];
        db.update(&a, id, i64::try_from(i % 1000)?)
    })?;
    let page = measure(20, n, |_| {
        anyhow::ensure!(db.page(&a)? == 50, "short page");
        Ok(())
    })?;
    let plan = db.plan(&a)?;

    let mut builds = Vec::new();
    let largest = args.tables.last().copied().unwrap_or(1);
    if args.big > 0 && t == largest {
        let big = UserTable::new(t + 100);
        db.create_table(&big)?;
        db.fill(&big, args.big, &mut rng)?;
        db.analyze()?;
        let how = match layout {
            Layout::SideIndex => "side rows, 1000 records per transaction",
            _ => "CREATE INDEX",
        };
        builds.push(build(&mut db, &a, &big, how)?);
    }
    let extra = if t > 1 { per * (t - 1) } else { 0 };
    Ok(Run {
        backend: "SQLite",
        layout: layout.name(),
        tables: t,
        records: args.a_records + extra,
        create_all,
        create_first_last: first_last(&times),
        fill,
        analyze,
        one_more,
        open: Some(open),
        insert,
        get,
        update,
        page,
        builds,
        plan,
    })
}

/// Splits a writer's (start, latency) list at the build's window.
pub(crate) fn split(
    writes: &[(Instant, Duration)],
    from: Instant,
    took: Duration,
) -> (Samples, Samples) {
    let mut before = Samples::new();
    let mut during = Samples::new();
    for &(at, d) in writes {
        if at < from {
            before.push(d);
        } else if at < from + took {
            during.push(d);
        }
    }
    (before, during)
}

fn build(db: &mut Sqlite, a: &UserTable, big: &UserTable, how: &str) -> anyhow::Result<Build> {
    let stop = Arc::new(AtomicBool::new(false));
    let mut writer = db.reopen(1 << 40)?;
    let (flag, a2) = (Arc::clone(&stop), a.clone());
    let handle = std::thread::spawn(move || -> anyhow::Result<Vec<(Instant, Duration)>> {
        let mut rng = Rng::new(99);
        let mut out = Vec::new();
        while !flag.load(Ordering::Relaxed) {
            let at = Instant::now();
            writer.insert_one(&a2, &mut rng)?;
            out.push((at, at.elapsed()));
            std::thread::sleep(Duration::from_millis(1));
        }
        Ok(out)
    });
    std::thread::sleep(Duration::from_millis(1500));
    let from = Instant::now();
    db.index_late(big)?;
    let took = from.elapsed();
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    let writes = handle
        .join()
        .map_err(|_| anyhow::anyhow!("writer thread panicked"))??;
    let (before, during) = split(&writes, from, took);
    Ok(Build {
        how: how.to_owned(),
        took,
        before,
        during,
    })
}
