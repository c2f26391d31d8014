//! A writer killed with SIGKILL in the middle of a batch leaves whole
//! batches only, and a database that passes `PRAGMA integrity_check`.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use pybase_core::ids::{FieldId, RecordId, TableId};
use pybase_core::model::Cells;
use pybase_core::store::{NewRecord, RecordsStore, StoreHealth};
use pybase_store_sqlite::SqliteStore;
use serde_json::json;

use crate::common::{fixture, now};

/// Set in the child process: `<db path>|<table id>|<field id>`.
const CHILD_ENV: &str = "PYBASE_SQLITE_KILL_CHILD";
const TEST_NAME: &str = "kill::a_killed_writer_leaves_only_whole_batches";
const BATCH: usize = 1000;
const MAX_BATCHES: usize = 400;

fn child(spec: &str) {
    let mut parts = spec.split('|');
    let (Some(path), Some(table), Some(field)) = (parts.next(), parts.next(), parts.next()) else {
        panic!("bad {CHILD_ENV}: {spec}");
    };
    let table = TableId::parse(table).unwrap();
    let field = FieldId::parse(field).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = SqliteStore::open(path).unwrap();
        let mut out = std::io::stdout();
        for tag in 0..MAX_BATCHES {
            let records: Vec<NewRecord> = (0..BATCH)
                .map(|i| NewRecord {
                    id: RecordId::new(),
                    cells: Cells::from_iter([
                        (field.to_string(), json!(tag)),
                        ("padding".to_owned(), json!(format!("record {i} of batch {tag}"))),
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
    let spec = format!("{}|{}|{}", path.display(), fx.table.id, fx.number);
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", TEST_NAME, "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, &spec)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut committed: Vec<usize> = Vec::new();
    let mut in_flight = None;
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(n) = line.strip_prefix("COMMITTED ") {
            committed.push(n.parse().unwrap());
        } else if let Some(n) = line.strip_prefix("STARTED ")
            && committed.len() >= 3
        {
            in_flight = Some(n.parse::<usize>().unwrap());
            break;
        }
    }
    let in_flight = in_flight.expect("the child stopped before committing 3 batches");
    // Land somewhere inside the batch (a batch takes tens of milliseconds).
    let jitter = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos()
        % 15;
    std::thread::sleep(Duration::from_millis(u64::from(jitter)));
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success(), "the child was meant to be killed");

    // Check with a plain connection first: recovery of the WAL, integrity.
    let conn = rusqlite::Connection::open(&path).unwrap();
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
    let mut stmt = conn
        .prepare(
            "SELECT json_extract(data, ?2), count(*) FROM records WHERE table_id = ?1 \
             GROUP BY 1 ORDER BY 1",
        )
        .unwrap();
    let groups: Vec<(i64, i64)> = stmt
        .query_map(
            rusqlite::params![fx.table.id.as_str(), format!("$.{}", fx.number)],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap()
        .map(Result::unwrap)
        .collect();
    for (tag, count) in &groups {
        assert_eq!(*count, BATCH as i64, "batch {tag} is partial");
        let tag = usize::try_from(*tag).unwrap();
        assert!(committed.contains(&tag) || tag == in_flight, "unexpected batch {tag}");
    }
    for tag in &committed {
        assert!(groups.iter().any(|(t, _)| *t == *tag as i64), "committed batch {tag} was lost");
    }
    // The autonumber counter moved with the batches: no gaps, no reuse.
    let (rows, max, counter): (i64, i64, i64) = conn
        .query_row(
            "SELECT (SELECT count(*) FROM records WHERE table_id = ?1), \
             (SELECT max(autonumber) FROM records WHERE table_id = ?1), \
             (SELECT last_autonumber FROM tables WHERE id = ?1)",
            [fx.table.id.as_str()],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!((rows, max), (counter, counter));
    drop(stmt);
    drop(conn);

    // And the store opens it again and keeps working.
    rt.block_on(async {
        let store = SqliteStore::open(&path).unwrap();
        store.ping().await.unwrap();
        let more = store
            .create_records(fx.table.id, &[NewRecord {
                id: RecordId::new(),
                cells: Cells::new(),
                created_by: None,
                created_time: now(),
            }])
            .await
            .unwrap();
        assert_eq!(more[0].autonumber, counter + 1);
    });
}
