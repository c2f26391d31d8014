//! Embedded schema migrations, tracked with `PRAGMA user_version`.
//!
//! Migration `i` (0-based) brings a database from version `i` to `i + 1`.
//! Each runs in its own immediate transaction together with the version
//! bump, so a crash leaves the database at a whole version and the next
//! open resumes from there. Never edit a released migration: append one.

use rusqlite::{Connection, TransactionBehavior};

use crate::error::{Error, Result};

/// One migration: a script, or a step that needs Rust (data moved table by
/// table, DDL built from rows).
#[derive(Clone, Copy)]
pub(crate) enum Migration {
    /// SQL statements run as one batch.
    Sql(&'static str),
    /// A function run on the migration's transaction.
    Rust(fn(&Connection) -> Result<()>),
}

impl Migration {
    fn apply(self, conn: &Connection) -> Result<()> {
        match self {
            Self::Sql(sql) => Ok(conn.execute_batch(sql)?),
            Self::Rust(step) => step(conn),
        }
    }
}

/// Every migration, in order.
pub(crate) const MIGRATIONS: &[Migration] = &[
    Migration::Sql(include_str!("../migrations/0001_init.sql")),
    Migration::Sql(include_str!("../migrations/0002_fields_version.sql")),
    Migration::Sql(include_str!("../migrations/0003_token_cutoff.sql")),
    // 0004: one records table per user table (crate::layout).
    Migration::Rust(crate::legacy_layout::split_shared_records),
    Migration::Sql(include_str!("../migrations/0005_index_origin.sql")),
    // 0006: the reverse index of link cells (crate::links).
    Migration::Rust(crate::legacy_layout::create_reverse_index),
    Migration::Sql(include_str!("../migrations/0007_changes.sql")),
    Migration::Sql(include_str!("../migrations/0008_airtable_webhooks.sql")),
    // 0009: one shared records table and a side index of indexed cells,
    // no DDL per user table or field (crate::layout).
    Migration::Rust(crate::layout::move_to_shared_records),
    Migration::Sql(include_str!("../migrations/0010_compute_fills.sql")),
    // 0011: table name keys (migrations/0011_table_name_key.sql, then the
    // keys of the existing tables in Rust: crate::table_names).
    Migration::Rust(crate::table_names::add_name_keys),
    Migration::Sql(include_str!("../migrations/0012_compute_fills_again.sql")),
    Migration::Sql(include_str!("../migrations/0013_changes_rowid.sql")),
    Migration::Sql(include_str!("../migrations/0014_changes_keyed.sql")),
];

/// The schema version of a database (`PRAGMA user_version`).
pub(crate) fn version(conn: &Connection) -> Result<i64> {
    Ok(conn.pragma_query_value(None, "user_version", |r| r.get(0))?)
}

/// Brings `conn`'s database up to `migrations.len()`, applying only the
/// missing ones; refuses a database newer than `migrations`. Returns the
/// number of migrations applied.
pub(crate) fn migrate(conn: &mut Connection, migrations: &[Migration]) -> Result<usize> {
    let known = i64::try_from(migrations.len()).unwrap_or(i64::MAX);
    let mut applied = 0;
    loop {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        // Read inside the write lock: two processes opening one file at once
        // must not both apply the same migration.
        let current = version(&tx)?;
        if current > known {
            return Err(Error::TooNew {
                found: current,
                known,
            });
        }
        if current == known {
            tx.commit()?;
            return Ok(applied);
        }
        let idx = usize::try_from(current)
            .map_err(|_| Error::corrupt("user_version", format!("negative version {current}")))?;
        migrations[idx].apply(&tx)?;
        tx.pragma_update(None, "user_version", current + 1)?;
        tx.commit()?;
        applied += 1;
        tracing::info!(version = current + 1, "applied sqlite migration");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(conn: &Connection) -> Vec<String> {
        let mut stmt = conn
            .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")
            .unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    #[test]
    fn real_migrations_apply_once_and_reach_the_latest_version() {
        let mut conn = Connection::open_in_memory().unwrap();
        assert_eq!(version(&conn).unwrap(), 0);
        assert_eq!(migrate(&mut conn, MIGRATIONS).unwrap(), MIGRATIONS.len());
        assert_eq!(version(&conn).unwrap(), MIGRATIONS.len() as i64);
        assert!(names(&conn).contains(&"records".to_owned()));
        assert!(names(&conn).contains(&"cell_index".to_owned()));
        assert!(names(&conn).contains(&"tables".to_owned()));
        // A second run is a no-op.
        assert_eq!(migrate(&mut conn, MIGRATIONS).unwrap(), 0);
    }

    #[test]
    fn an_old_database_gets_only_the_later_migrations_and_keeps_its_data() {
        let v1 = Migration::Sql("CREATE TABLE a (x INTEGER);");
        let v2 = Migration::Sql("ALTER TABLE a ADD COLUMN y INTEGER NOT NULL DEFAULT 7;");
        let mut conn = Connection::open_in_memory().unwrap();
        assert_eq!(migrate(&mut conn, &[v1]).unwrap(), 1);
        conn.execute("INSERT INTO a (x) VALUES (1)", []).unwrap();
        // Re-running v1 would fail ("table a already exists"): only v2 may run.
        assert_eq!(migrate(&mut conn, &[v1, v2]).unwrap(), 1);
        assert_eq!(version(&conn).unwrap(), 2);
        let (x, y): (i64, i64) = conn
            .query_row("SELECT x, y FROM a", [], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap();
        assert_eq!((x, y), (1, 7));
    }

    #[test]
    fn a_failing_migration_leaves_the_previous_version_whole() {
        let v1 = Migration::Sql("CREATE TABLE a (x INTEGER);");
        let bad = Migration::Sql("CREATE TABLE b (x INTEGER); INSERT INTO nowhere VALUES (1);");
        let mut conn = Connection::open_in_memory().unwrap();
        assert!(migrate(&mut conn, &[v1, bad]).is_err());
        assert_eq!(version(&conn).unwrap(), 1);
        assert_eq!(names(&conn), vec!["a".to_owned()]);
    }

    #[test]
    fn a_newer_database_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", 5).unwrap();
        let err = migrate(&mut conn, &[Migration::Sql("SELECT 1;")]).unwrap_err();
        assert!(matches!(err, Error::TooNew { found: 5, known: 1 }), "{err}");
    }
}
