//! What one run of a layout gives, and the Markdown tables printed from it.

use std::fmt::Write as _;
use std::time::Duration;

use crate::stats::{Samples, ratio, show};

/// The index-build test: writes to table A before and while a field of the
/// big table gets indexed.
#[derive(Debug, Clone)]
pub(crate) struct Build {
    /// How the index was built (for example `in the request's transaction`).
    pub(crate) how: String,
    /// How long the build took.
    pub(crate) took: Duration,
    /// Single inserts into A started before the build.
    pub(crate) before: Samples,
    /// Single inserts into A started while the build ran.
    pub(crate) during: Samples,
}

/// The figures of one layout at one number of tables.
#[derive(Debug, Clone)]
pub(crate) struct Run {
    /// Backend name.
    pub(crate) backend: &'static str,
    /// Layout name.
    pub(crate) layout: &'static str,
    /// User tables in the database (A included).
    pub(crate) tables: usize,
    /// Records in the database (A's included).
    pub(crate) records: usize,
    /// Creating the T-1 other tables with their indexed fields.
    pub(crate) create_all: Duration,
    /// Mean creation time of the first and the last tenth of those tables.
    pub(crate) create_first_last: (Duration, Duration),
    /// Filling the other tables with their records.
    pub(crate) fill: Duration,
    /// A database-wide `ANALYZE` after filling.
    pub(crate) analyze: Duration,
    /// Creating one more table (with its indexed fields) in the full database.
    pub(crate) one_more: Samples,
    /// Opening a connection and loading the schema (SQLite only).
    pub(crate) open: Option<Samples>,
    /// Single insert into A.
    pub(crate) insert: Samples,
    /// Point read of an A record by id.
    pub(crate) get: Samples,
    /// One-cell update of an A record.
    pub(crate) update: Samples,
    /// A's filtered, sorted page of 50 on indexed fields.
    pub(crate) page: Samples,
    /// The index-build tests (none when skipped or at T = 1).
    pub(crate) builds: Vec<Build>,
    /// The query plan of A's page.
    pub(crate) plan: String,
}

impl Run {
    fn ops(&self) -> [(&'static str, &Samples); 4] {
        [
            ("insert", &self.insert),
            ("point read", &self.get),
            ("update 1 cell", &self.update),
            ("indexed page", &self.page),
        ]
    }
}

/// The per-operation table: every layout at every T, with ratios against
/// the same layout's first (smallest) T of the run.
pub(crate) fn ops_table(runs: &[Run]) -> String {
    let mut out = String::from(
        "| backend | layout | T | records | insert p50 / p99 | point read p50 / p99 | \
         update p50 / p99 | page p50 / p99 |\n|---|---|---|---|---|---|---|---|\n",
    );
    for r in runs {
        let base = runs
            .iter()
            .find(|b| b.backend == r.backend && b.layout == r.layout);
        let _ = write!(
            out,
            "| {} | {} | {} | {} |",
            r.backend, r.layout, r.tables, r.records
        );
        for (i, (_, s)) in r.ops().iter().enumerate() {
            let cell = match base {
                Some(b) if b.tables != r.tables => {
                    let (_, bs) = b.ops()[i];
                    format!(
                        " {} / {} (**{}** / {})",
                        show(s.p50()),
                        show(s.p99()),
                        ratio(s.p50(), bs.p50()),
                        ratio(s.p99(), bs.p99())
                    )
                }
                _ => format!(" {} / {}", show(s.p50()), show(s.p99())),
            };
            let _ = write!(out, "{cell} |");
        }
        out.push('\n');
    }
    out
}

/// The schema-cost table: creating tables, one more table, `ANALYZE`,
/// opening a connection.
pub(crate) fn ddl_table(runs: &[Run]) -> String {
    let mut out = String::from(
        "| backend | layout | T | create T-1 tables | first / last tenth, per table | \
         fill | ANALYZE | one more table p50 | open + schema p50 |\n\
         |---|---|---|---|---|---|---|---|---|\n",
    );
    for r in runs {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} / {} | {} | {} | {} | {} |",
            r.backend,
            r.layout,
            r.tables,
            show(r.create_all),
            show(r.create_first_last.0),
            show(r.create_first_last.1),
            show(r.fill),
            show(r.analyze),
            show(r.one_more.p50()),
            r.open.as_ref().map_or("–".to_owned(), |o| show(o.p50())),
        );
    }
    out
}

/// The index-build table: A's insert latency before and during the build.
pub(crate) fn build_table(runs: &[Run]) -> String {
    let mut out = String::from(
        "| backend | layout | T | build | took | A writes before: n, p50 / p99 | \
         during: n, p50 / p99 / max | p99 during/before |\n\
         |---|---|---|---|---|---|---|---|\n",
    );
    for r in runs {
        for b in &r.builds {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {}, {} / {} | {}, {} / {} / {} | **{}** |",
                r.backend,
                r.layout,
                r.tables,
                b.how,
                show(b.took),
                b.before.len(),
                show(b.before.p50()),
                show(b.before.p99()),
                b.during.len(),
                show(b.during.p50()),
                show(b.during.p99()),
                show(b.during.max()),
                ratio(b.during.p99(), b.before.p99()),
            );
        }
    }
    out
}

/// The page plans, one block per backend, layout and T.
pub(crate) fn plans(runs: &[Run]) -> String {
    let mut out = String::new();
    for r in runs {
        let _ = writeln!(
            out,
            "{} / {} / T={}:\n```\n{}\n```",
            r.backend,
            r.layout,
            r.tables,
            r.plan.trim_end()
        );
    }
    out
}
