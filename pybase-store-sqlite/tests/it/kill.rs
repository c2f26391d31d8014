//! A writer killed with SIGKILL in the middle of a batch leaves whole
//! batches only, and a database that passes `PRAGMA integrity_check`.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use pybase_core::ids::{FieldId, RecordId, TableId};
use pybase_core::model::Cells;
use pybase_core::store::{NewRecord, RecordsStore, StoreHealth};
use pybase_store_sqlite::SqliteStore;
use serde_json::json;

use crate::common::{fixture, now};

/// Set in the child process: `<db path>|<table id>|<field id>|<first tag>`.
const CHILD_ENV: &str = "PYBASE_SQLITE_KILL_CHILD";
const TEST_NAME: &str = "kill::a_killed_writer_leaves_only_whole_batches";
const BATCH: usize = 1000;
const MAX_BATCHES: usize = 400;
/// Kills per test run, each against the database the previous one left.
const ROUNDS: usize = 4;

fn child(spec: &str) {
    let parts: Vec<&str> = spec.split('|').collect();
    let [path, table, field, first] = parts.as_slice() else {
        panic!("bad {CHILD_ENV}: {spec}");
    };
    let table = TableId::parse(table).unwrap();
    let field = FieldId::parse(field).unwrap();
    let first: usize = first.parse().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = SqliteStore::open(path).unwrap();
        let mut out = std::io::stdout();
        for tag in first..first + MAX_BATCHES {
            let records: Vec<NewRecord> = (0..BATCH)
                .map(|i| NewRecord {
                    id: RecordId::new(),
                    cells: Cells::from_iter([
                        (field.to_string(), json!(tag)),
                        ("padding".to_owned(), json!(format!("{i:>200}"))),
                    ]),
                    created_by: None,
                    created_time: now(),
                })
                .collect();
            writeln!(out, "STARTED {tag}").unwrap();
            out.flush().unwrap();
            store.create_records(table, &records).await.unwrap();
            writeln!(out, "COMMITTED {tag}").unwrap();
            out.flush().unwrap();
        }
    });
}

/// A pseudo-random duration in `0..max` (no RNG dependency needed).
fn jitter(max: Duration) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let max_micros = max.as_micros().max(1) as u64;
    Duration::from_micros(u64::from(nanos) % max_micros)
}

/// Runs one child from `first`, kills it inside a batch; returns the tags it
/// reported committed and the tag it was writing when killed.
fn run_and_kill(spec: &str) -> (Vec<usize>, usize) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", TEST_NAME, "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, spec)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    // Keep the pipe open until the child is dead, or it would fail on EPIPE.
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut committed: Vec<usize> = Vec::new();
    let mut started_at = Instant::now();
    let mut batch_time = Duration::from_millis(20);
    let mut in_flight = None;
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(n) = line.strip_prefix("COMMITTED ") {
            committed.push(n.parse().unwrap());
            batch_time = started_at.elapsed();
        } else if let Some(n) = line.strip_prefix("STARTED ") {
            started_at = Instant::now();
            if committed.len() >= 2 {
                in_flight = Some(n.parse::<usize>().unwrap());
                break;
            }
        }
    }
    let in_flight = in_flight.expect("the child stopped before committing 2 batches");
    // Anywhere in the batch, its commit included (and sometimes just after).
    std::thread::sleep(jitter(batch_time.mul_f64(1.2)));
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success(), "the child was meant to be killed");
    // The child may have gone on before the kill landed: what it said after
    // the line we stopped at is still in the pipe. The batch it was writing
    // when killed is the last one it started and did not report committed.
    let mut in_flight = in_flight;
    for line in lines.map_while(Result::ok) {
        if let Some(n) = line.strip_prefix("COMMITTED ") {
            committed.push(n.parse().unwrap());
        } else if let Some(n) = line.strip_prefix("STARTED ") {
            in_flight = n.parse().unwrap();
        }
    }
    if committed.last() == Some(&in_flight) {
        // Killed after reporting a commit, before starting another batch.
        in_flight += 1;
    }
    (committed, in_flight)
}

/// Checks the file with a plain connection: integrity, whole batches only,
/// and an autonumber counter that moved with the rows. Returns the tags found.
fn check_file(path: &Path, table: TableId, field: FieldId) -> Vec<usize> {
    let conn = rusqlite::Connection::open(path).unwrap();
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
    let mut stmt = conn
        .prepare(&format!(
            "SELECT json_extract(data, ?1), count(*) FROM records WHERE table_id = '{table}' \
             GROUP BY 1 ORDER BY 1"
        ))
        .unwrap();
    let groups: Vec<(i64, i64)> = stmt
        .query_map(rusqlite::params![format!("$.{field}")], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    for (tag, count) in &groups {
        assert_eq!(*count, BATCH as i64, "batch {tag} is partial");
    }
    let (rows, max, counter): (i64, Option<i64>, i64) = conn
        .query_row(
            &format!(
                "SELECT (SELECT count(*) FROM records WHERE table_id = '{table}'), \
                 (SELECT max(autonumber) FROM records WHERE table_id = '{table}'), \
                 (SELECT last_autonumber FROM tables WHERE id = ?1)"
            ),
            [table.as_str()],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!((rows, max.unwrap_or(0)), (counter, counter), "autonumbers");
    groups
        .iter()
        .map(|(t, _)| usize::try_from(*t).unwrap())
        .collect()
}

#[test]
fn a_killed_writer_leaves_only_whole_batches() {
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        child(&spec);
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kill.db");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let fx = rt.block_on(async {
        let store = SqliteStore::open(&path).unwrap();
        fixture(&store).await
    });
    let (table, field) = (fx.table.id, fx.number);
    let mut expected: Vec<usize> = Vec::new();
    let mut next = 0;
    for round in 0..ROUNDS {
        let spec = format!("{}|{table}|{field}|{next}", path.display());
        let (committed, in_flight) = run_and_kill(&spec);
        let found = check_file(&path, table, field);
        expected.extend(&committed);
        let landed = found.contains(&in_flight);
        if landed {
            // Killed after the commit, before it could say so.
            expected.push(in_flight);
        }
        assert_eq!(
            found, expected,
            "round {round}: committed batches lost or extra"
        );
        eprintln!(
            "round {round}: killed inside batch {in_flight}: {}",
            if landed {
                "it committed whole"
            } else {
                "it left no trace"
            }
        );
        next = in_flight + 1;
    }

    // The store opens the file again and keeps counting.
    rt.block_on(async {
        let store = SqliteStore::open(&path).unwrap();
        store.ping().await.unwrap();
        let more = store
            .create_records(
                table,
                &[NewRecord {
                    id: RecordId::new(),
                    cells: Cells::new(),
                    created_by: None,
                    created_time: now(),
                }],
            )
            .await
            .unwrap();
        assert_eq!(more[0].autonumber, (expected.len() * BATCH) as i64 + 1);
    });
}
