//! The command line of `pybase-layouts`.

use std::fmt;

use anyhow::{Context as _, bail};

/// What to run.
#[derive(Debug, Clone)]
pub(crate) struct Args {
    /// Run the SQLite layouts.
    pub(crate) sqlite: bool,
    /// Run the PostgreSQL layouts on this server (any database URL on it).
    pub(crate) postgres: Option<String>,
    /// Layout names to run (`shared`, `per-table`, `partitioned`,
    /// `side-index`); `partitioned` is PostgreSQL only.
    pub(crate) layouts: Vec<String>,
    /// The numbers of user tables, smallest first (the ratios' base).
    pub(crate) tables: Vec<usize>,
    /// Records spread over the tables other than A.
    pub(crate) records: usize,
    /// Records of table A.
    pub(crate) a_records: usize,
    /// Timed operations of each kind.
    pub(crate) ops: usize,
    /// Records of the table indexed during writes (0 skips that test).
    pub(crate) big: usize,
}

fn list(v: &str) -> Vec<String> {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

impl Args {
    /// Parses `--name value` pairs.
    pub(crate) fn parse(mut it: impl Iterator<Item = String>) -> anyhow::Result<Self> {
        let mut a = Self {
            sqlite: true,
            postgres: None,
            layouts: list("shared,per-table,partitioned,side-index"),
            tables: vec![1, 1000],
            records: 100_000,
            a_records: 5_000,
            ops: 300,
            big: 100_000,
        };
        let mut backends = list("sqlite,postgres");
        let mut url = std::env::var("PYBASE_TEST_POSTGRES_URL").ok();
        while let Some(flag) = it.next() {
            let value = it.next().with_context(|| format!("{flag} needs a value"))?;
            let num = || value.replace('_', "").parse::<usize>();
            match flag.as_str() {
                "--backends" => backends = list(&value),
                "--layouts" => a.layouts = list(&value),
                "--tables" => {
                    a.tables = list(&value)
                        .iter()
                        .map(|s| s.replace('_', "").parse())
                        .collect::<Result<_, _>>()?;
                }
                "--records" => a.records = num()?,
                "--a-records" => a.a_records = num()?,
                "--ops" => a.ops = num()?,
                "--big" => a.big = num()?,
                "--pg-url" => url = Some(value),
                _ => bail!("unknown flag {flag}"),
            }
        }
        if a.tables.is_empty() || a.tables.contains(&0) {
            bail!("--tables needs numbers of at least 1");
        }
        a.tables.sort_unstable();
        a.sqlite = backends.iter().any(|b| b == "sqlite");
        if backends.iter().any(|b| b == "postgres") {
            a.postgres = Some(url.context(
                "PostgreSQL needs PYBASE_TEST_POSTGRES_URL or --pg-url (or --backends sqlite)",
            )?);
        }
        Ok(a)
    }

    /// Whether the layout named `name` is selected.
    pub(crate) fn wants(&self, name: &str) -> bool {
        self.layouts.iter().any(|l| l == name)
    }
}

impl fmt::Display for Args {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tables: Vec<String> = self.tables.iter().map(ToString::to_string).collect();
        write!(
            f,
            "T = {}; {} records over the tables other than A; A has {} records; \
             {} timed operations of each kind; index-build test on {} records.",
            tables.join(", "),
            self.records,
            self.a_records,
            self.ops,
            self.big
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> anyhow::Result<Args> {
        Args::parse(s.split_whitespace().map(str::to_owned))
    }

    #[test]
    fn flags_override_defaults_and_tables_sort() -> anyhow::Result<()> {
        let a = parse("--backends sqlite --tables 1000,1 --records 10_000 --layouts shared")?;
        assert!(a.sqlite && a.postgres.is_none());
        assert_eq!(a.tables, vec![1, 1000]);
        assert_eq!(a.records, 10_000);
        assert!(a.wants("shared") && !a.wants("per-table"));
        assert!(parse("--tables 0").is_err());
        assert!(parse("--bogus 1").is_err());
        assert!(parse("--ops").is_err());
        Ok(())
    }
}
