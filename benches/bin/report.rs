//! Writes `benches/RESULTS.md` from one run: criterion's estimates of the
//! `backends` bench (every PyBase figure beside its raw ceiling), the notes
//! the bench wrote (setup timings, query plans) and the HTTP load results.
//!
//! Usage: `pybase-report <out dir> <results file> <machine description file>`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde_json::Value;

/// One measured function: median time per iteration and elements per
/// iteration.
#[derive(Debug, Clone, Copy)]
struct Estimate {
    ns: f64,
    elements: f64,
}

impl Estimate {
    fn per_second(self) -> f64 {
        self.elements * 1e9 / self.ns
    }
}

fn collect(dir: &Path, out: &mut BTreeMap<String, Estimate>) -> anyhow::Result<()> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for entry in entries {
        let path = entry?.path();
        if !path.is_dir() {
            continue;
        }
        if path.file_name().is_some_and(|n| n == "new") {
            let bench: Value = serde_json::from_str(
                &std::fs::read_to_string(path.join("benchmark.json"))
                    .with_context(|| format!("reading {}", path.display()))?,
            )?;
            let est: Value =
                serde_json::from_str(&std::fs::read_to_string(path.join("estimates.json"))?)?;
            let id = bench["full_id"].as_str().unwrap_or_default().to_owned();
            let ns = est["median"]["point_estimate"].as_f64().unwrap_or(f64::NAN);
            let elements = bench["throughput"]["Elements"].as_f64().unwrap_or(1.0);
            out.insert(id, Estimate { ns, elements });
        } else {
            collect(&path, out)?;
        }
    }
    Ok(())
}

fn human_time(ns: f64) -> String {
    if ns >= 1e9 {
        format!("{:.2} s", ns / 1e9)
    } else if ns >= 1e6 {
        format!("{:.1} ms", ns / 1e6)
    } else {
        format!("{:.1} µs", ns / 1e3)
    }
}

fn human_rate(r: f64) -> String {
    if r >= 1e4 {
        format!("{:.0}k/s", r / 1e3)
    } else {
        format!("{r:.0}/s")
    }
}

/// A workload row of the table.
struct Workload {
    group: &'static str,
    title: &'static str,
    /// `true` when the figure is a rate (rows or operations per second).
    rate: bool,
    target: &'static str,
    check: fn(pybase: Estimate, raw: Estimate) -> Option<bool>,
}

fn half_rate(p: Estimate, r: Estimate) -> Option<bool> {
    Some(p.per_second() >= 0.5 * r.per_second())
}

fn under_100ms(p: Estimate, _: Estimate) -> Option<bool> {
    Some(p.ns < 100e6)
}

fn none(_: Estimate, _: Estimate) -> Option<bool> {
    None
}

const WORKLOADS: &[Workload] = &[
    Workload {
        group: "bulk_create",
        title: "bulk create (rows/s, batches of 1000)",
        rate: true,
        target: "≥ 50% of raw",
        check: half_rate,
    },
    Workload {
        group: "point_read",
        title: "point read by id",
        rate: true,
        target: "≥ 50% of raw",
        check: half_rate,
    },
    Workload {
        group: "update_cell",
        title: "update one cell",
        rate: true,
        target: "≥ 50% of raw",
        check: half_rate,
    },
    Workload {
        group: "filter_sort_page_noindex",
        title: "Qty > 500, sort -Price, 100 rows, no index",
        rate: false,
        target: "(reference)",
        check: none,
    },
    Workload {
        group: "filter_sort_page",
        title: "Qty > 500, sort -Price, 100 rows, indexed",
        rate: false,
        target: "< 100 ms",
        check: under_100ms,
    },
    Workload {
        group: "select_eq_page_noindex",
        title: "Kind = Bolt, 100 rows, no index",
        rate: false,
        target: "(reference)",
        check: none,
    },
    Workload {
        group: "select_eq_page",
        title: "Kind = Bolt, 100 rows, indexed",
        rate: false,
        target: "(reference)",
        check: none,
    },
];

/// "misses by N points" for a rate target of `share` (0.5 = 50%).
fn margin(ratio: f64, share: f64) -> String {
    format!("**misses** by {:.1} points", (share - ratio) * 100.0)
}

fn verdict(ok: Option<bool>) -> &'static str {
    match ok {
        Some(true) => "meets",
        Some(false) => "**misses**",
        None => "",
    }
}

fn figure(e: Estimate, rate: bool) -> String {
    if rate {
        format!(
            "{} ({} each)",
            human_rate(e.per_second()),
            human_time(e.ns / e.elements)
        )
    } else {
        human_time(e.ns)
    }
}

fn table(est: &BTreeMap<String, Estimate>) -> String {
    let mut t = String::new();
    t.push_str("| backend | workload | PyBase | raw driver | PyBase / raw | target | |\n");
    t.push_str("|---|---|---|---|---|---|---|\n");
    for backend in ["sqlite", "postgres"] {
        for w in WORKLOADS {
            let get = |f: &str| est.get(&format!("{backend}/{}/{f}", w.group)).copied();
            let (Some(p), Some(r)) = (get("pybase"), get("raw")) else {
                continue;
            };
            // Rates compare as rates; times as raw time over PyBase time, so
            // 1.0 means "as fast as the driver" either way.
            let ratio = r.ns / r.elements / (p.ns / p.elements);
            let _ = writeln!(
                t,
                "| {backend} | {} | {} | {} | {:.0}% | {} | {} |",
                w.title,
                figure(p, w.rate),
                figure(r, w.rate),
                ratio * 100.0,
                w.target,
                match (w.check)(p, r) {
                    Some(false) if w.rate => margin(ratio, 0.5),
                    other => verdict(other).to_owned(),
                },
            );
            if let Some(n) = get("raw_no_gin") {
                let ratio = n.ns / n.elements / (p.ns / p.elements);
                let _ = writeln!(
                    t,
                    "| {backend} | {} | | {} (raw table without the GIN index) | {:.0}% | (reference) | |",
                    w.title,
                    figure(n, w.rate),
                    ratio * 100.0
                );
            }
        }
        let get = |f: &str| est.get(&format!("{backend}/cursor_page/{f}")).copied();
        if let (Some(pf), Some(pl), Some(rf), Some(rl)) = (
            get("pybase_first"),
            get("pybase_last"),
            get("raw_first"),
            get("raw_last"),
        ) {
            let growth = pl.ns / pf.ns;
            let _ = writeln!(
                t,
                "| {backend} | cursor walk: first page / last page | {} / {} (last = {growth:.2}× first) | {} / {} | {:.0}% / {:.0}% | last ≤ 2× first | {} |",
                human_time(pf.ns),
                human_time(pl.ns),
                human_time(rf.ns),
                human_time(rl.ns),
                rf.ns / pf.ns * 100.0,
                rl.ns / pl.ns * 100.0,
                verdict(Some(growth <= 2.0)),
            );
        }
    }
    t
}

fn http_table(dir: &Path, backend: &str) -> Option<String> {
    let text = std::fs::read_to_string(dir.join(format!("http-{backend}.json"))).ok()?;
    let v: Value = serde_json::from_str(&text).ok()?;
    let mut t = String::new();
    let _ = writeln!(
        t,
        "HTTP load against `pybase-server` ({}), {} connections, {} s per scenario. \
         Server resident memory: {:.1} MB idle after start, {:.1} MB after seeding, \
         {:.1} MB peak (VmHWM) over the whole run.\n",
        v["backend"].as_str().unwrap_or("?"),
        v["connections"].as_u64().unwrap_or(0),
        v["seconds"].as_f64().unwrap_or(0.0),
        v["idle_rss_kb"].as_f64().unwrap_or(0.0) / 1024.0,
        v["seeded_rss_kb"].as_f64().unwrap_or(0.0) / 1024.0,
        v["peak_rss_kb"].as_f64().unwrap_or(0.0) / 1024.0,
    );
    t.push_str(
        "| scenario | req/s | p50 | p99 | errors | target | |\n|---|---|---|---|---|---|---|\n",
    );
    for s in v["scenarios"].as_array()? {
        let name = s["name"].as_str().unwrap_or("?");
        let rps = s["rps"].as_f64().unwrap_or(0.0);
        let p99 = s["p99_ms"].as_f64().unwrap_or(f64::NAN);
        let (target, ok) = if name == "get_record" && backend == "sqlite" {
            (
                "≥ 10,000 req/s, p99 < 20 ms",
                Some(rps >= 10_000.0 && p99 < 20.0),
            )
        } else if name == "ceiling_get_record" {
            ("(raw axum + driver, same rows)", None)
        } else {
            ("(reference)", None)
        };
        let _ = writeln!(
            t,
            "| {name} | {rps:.0} | {:.2} ms | {p99:.2} ms | {} | {target} | {} |",
            s["p50_ms"].as_f64().unwrap_or(f64::NAN),
            s["errors"].as_u64().unwrap_or(0),
            verdict(ok),
        );
    }
    if let Some(share) = v["get_share_of_ceiling"].as_f64() {
        let (target, ok) = if backend == "postgres" {
            ("≥ 60% of the ceiling", Some(share >= 0.6))
        } else {
            ("(reference)", None)
        };
        let _ = writeln!(
            t,
            "| get_record / ceiling_get_record (median of 3 alternating pairs; long runs {:.0}%) | {:.0}% | | | | {target} | {} |",
            v["get_share_long_runs"].as_f64().unwrap_or(f64::NAN) * 100.0,
            share * 100.0,
            verdict(ok),
        );
    }
    let idle = v["idle_rss_kb"].as_f64().unwrap_or(f64::NAN) / 1024.0;
    let _ = writeln!(
        t,
        "| server idle memory | {idle:.1} MB | | | | < 30 MB | {} |",
        verdict(Some(idle < 30.0))
    );
    Some(t)
}

fn main() -> anyhow::Result<()> {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let [dir, results, machine] = args.as_slice() else {
        anyhow::bail!("usage: pybase-report <out dir> <results file> <machine file>");
    };
    let mut est = BTreeMap::new();
    collect(&dir.join("criterion"), &mut est)?;
    let mut md = String::from("# PyBase benchmark results\n\n");
    md.push_str(&std::fs::read_to_string(machine).unwrap_or_default());
    md.push_str("\n## Storage: PyBase through its facade against the raw driver\n\n");
    md.push_str(
        "Medians of criterion samples. \"PyBase / raw\" is PyBase's rate as a share of the \
         raw driver's (for pages: raw time over PyBase time), measured in the same run. \
         The raw driver writes and reads the same rows in a table shaped like PyBase's \
         `records` with the same indexes, and decodes each record's JSON.\n\n",
    );
    md.push_str(&table(&est));
    for backend in ["sqlite", "postgres"] {
        if let Some(http) = http_table(dir, backend) {
            let _ = write!(md, "\n## HTTP on {backend}\n\n");
            md.push_str(&http);
        }
    }
    let analysis = Path::new(env!("CARGO_MANIFEST_DIR")).join("ANALYSIS.md");
    if let Ok(text) = std::fs::read_to_string(&analysis) {
        md.push('\n');
        md.push_str(&text);
    }
    md.push_str("\n## Notes from the run (setup timings, query plans)\n\n");
    for backend in ["sqlite", "postgres"] {
        if let Ok(notes) = std::fs::read_to_string(dir.join(format!("notes-{backend}.md"))) {
            md.push_str(&notes);
            md.push('\n');
        }
    }
    std::fs::write(results, md).with_context(|| format!("writing {}", results.display()))?;
    println!("wrote {}", results.display());
    Ok(())
}
