//! Crash safety: the server is SIGKILLed while several 1,000-record batches
//! are in flight, restarted on the same data, and every batch must then be
//! wholly present (all its records, each exactly once) or wholly absent;
//! a batch the server acknowledged must be present. On SQLite the file must
//! also pass `PRAGMA integrity_check` after each restart.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use pybase_core::facade::MAX_BATCH;
use rand::Rng as _;
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::harness::{
    self, Fixture, FreshDb, ServerProcess, env_number, list_all, long_run, summary, thousands,
};

/// Batches sent at once in each round.
const CONCURRENT: usize = 3;

/// Rounds by default: the 50 the issue asks for, which take well under
/// two minutes per backend on a two-core machine with a debug build (see
/// the README's figures). `PYBASE_RELIABILITY_ROUNDS` overrides it.
const DEFAULT_ROUNDS: u64 = 50;
/// Rounds of the long variant (`PYBASE_RELIABILITY_LONG=1`), run before a
/// release.
const LONG_ROUNDS: u64 = 200;

/// Where the records are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    /// A SQLite file in the case's folder.
    Sqlite,
    /// A fresh database on `PYBASE_TEST_POSTGRES_URL`.
    Postgres,
}

/// The fields of the table: a text primary field, the batch number and the
/// position inside the batch.
fn fields() -> Value {
    json!([
        {"name": "Note", "type": "text"},
        {"name": "Batch", "type": "number", "options": {"precision": 0}},
        {"name": "Seq", "type": "number", "options": {"precision": 0}},
    ])
}

/// The JSON body of batch `batch`: `MAX_BATCH` records, each with its
/// batch number and position.
fn batch_body(batch: u64) -> Vec<u8> {
    let records: Vec<Value> = (0..MAX_BATCH)
        .map(|seq| {
            json!({"fields": {
                "Note": format!("batch {batch} record {seq}: some text so the row has a body"),
                "Batch": batch,
                "Seq": seq,
            }})
        })
        .collect();
    serde_json::to_vec(&json!({ "records": records })).expect("batch json")
}

/// What became of one batch request.
#[derive(Debug)]
enum Sent {
    /// 201: the server says it is stored.
    Acknowledged,
    /// No answer: the kill cut the connection.
    CutOff,
}

/// Sends batch `batch`; a status other than 201 fails the case.
async fn send_batch(client: reqwest::Client, url: String, token: String, batch: u64) -> Sent {
    let r = client
        .post(&url)
        .bearer_auth(&token)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(batch_body(batch))
        .send()
        .await;
    match r {
        Ok(r) if r.status() == StatusCode::CREATED => {
            // The body may still be cut off by the kill; the status was sent
            // after the commit.
            let _ = r.bytes().await;
            Sent::Acknowledged
        }
        Ok(r) => {
            let status = r.status();
            let body = r.text().await.unwrap_or_default();
            panic!("batch {batch}: expected 201 or a cut connection, got {status}: {body}");
        }
        Err(_) => Sent::CutOff,
    }
}

/// The batch number and position of each record, by batch.
fn group(records: &[Value]) -> BTreeMap<u64, Vec<u64>> {
    let mut by_batch: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    for r in records {
        let number = |name: &str| {
            r["fields"][name]
                .as_f64()
                .unwrap_or_else(|| panic!("record without {name}: {r}"))
        };
        // Whole numbers below 2^53: exact as f64.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        by_batch
            .entry(number("Batch") as u64)
            .or_default()
            .push(number("Seq") as u64);
    }
    by_batch
}

/// Asserts that batch `batch` is whole (each position exactly once) when
/// `seqs` is not empty.
#[track_caller]
fn assert_whole(batch: u64, seqs: &mut [u64]) {
    seqs.sort_unstable();
    let expected: Vec<u64> = (0..MAX_BATCH as u64).collect();
    assert!(
        seqs.is_empty() || seqs == expected.as_slice(),
        "batch {batch} is partial: {} of {MAX_BATCH} records present (first positions {:?})",
        seqs.len(),
        &seqs[..seqs.len().min(10)]
    );
}

/// `PRAGMA integrity_check` on the SQLite file at `path`: "ok" or the problems.
async fn integrity_check(path: PathBuf) -> String {
    tokio::task::spawn_blocking(move || {
        let conn = rusqlite::Connection::open(&path).expect("open the sqlite file");
        conn.busy_timeout(Duration::from_secs(30))
            .expect("busy timeout");
        let mut stmt = conn
            .prepare("PRAGMA integrity_check")
            .expect("integrity_check");
        let rows: Vec<String> = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .expect("integrity_check")
            .collect::<Result<_, _>>()
            .expect("integrity_check rows");
        rows.join("; ")
    })
    .await
    .expect("integrity task")
}

/// Runs the case on `backend` (skips, or fails under
/// `PYBASE_REQUIRE_SERVICES=1`, when PostgreSQL is not configured).
pub(crate) async fn crash_safety(backend: Backend) {
    let started = Instant::now();
    let dir = tempfile::tempdir().expect("tempdir");
    let (database_url, fresh) = match backend {
        Backend::Sqlite => (
            format!("sqlite://{}", dir.path().join("pybase.db").display()),
            None,
        ),
        Backend::Postgres => {
            let Some(admin) = harness::service_var("PYBASE_TEST_POSTGRES_URL") else {
                return;
            };
            let db = FreshDb::new(&admin).await;
            (db.url.clone(), Some(db))
        }
    };
    let rounds = env_number(
        "PYBASE_RELIABILITY_ROUNDS",
        if long_run() {
            LONG_ROUNDS
        } else {
            DEFAULT_ROUNDS
        },
    );
    let mut server = ServerProcess::start(dir.path(), &[("DATABASE_URL", database_url)]).await;
    let client = harness::client();
    let fx = Fixture::create(&client, &server, fields()).await;

    // Two warm-up rounds without a kill, the second just after a restart
    // as every round runs: how long CONCURRENT batches take together, so
    // that the kills land anywhere from before the first byte arrives to
    // after the last commit.
    let mut next_batch: u64 = 0;
    let mut present: BTreeSet<u64> = BTreeSet::new();
    let mut absent: BTreeSet<u64> = BTreeSet::new();
    let mut window = Duration::ZERO;
    for warm_up in 0..2 {
        if warm_up == 1 {
            server.restart().await;
        }
        let t = Instant::now();
        let batches: Vec<u64> = (next_batch..next_batch + CONCURRENT as u64).collect();
        let url = server.url(&fx.records_path(""));
        let tasks: Vec<_> = batches
            .iter()
            .map(|&b| tokio::spawn(send_batch(client.clone(), url.clone(), fx.token.clone(), b)))
            .collect();
        for h in tasks {
            assert!(matches!(h.await.expect("batch task"), Sent::Acknowledged));
        }
        window = t.elapsed().mul_f64(1.2);
        present.extend(batches);
        next_batch += CONCURRENT as u64;
    }
    let warm_batches = next_batch;

    let mut checked: u64 = 0;
    let mut acknowledged: u64 = 0;
    let mut cut_off: u64 = 0;
    // Rounds whose kill came before every batch was acknowledged.
    let mut rounds_cut = 0u64;
    // Rounds whose kill left some batches stored and others not: it landed
    // between commits.
    let mut rounds_mixed = 0u64;
    let mut integrity_checks = 0u64;
    for round in 1..=rounds {
        let batches: Vec<u64> = (next_batch..next_batch + CONCURRENT as u64).collect();
        next_batch += CONCURRENT as u64;
        let url = server.url(&fx.records_path(""));
        let tasks: Vec<_> = batches
            .iter()
            .map(|&b| tokio::spawn(send_batch(client.clone(), url.clone(), fx.token.clone(), b)))
            .collect();
        let delay = window.mul_f64(rand::rng().random_range(0.0..1.0));
        tokio::time::sleep(delay).await;
        server.kill();
        let killed = Instant::now();
        let mut acked_now = BTreeSet::new();
        for (h, &b) in tasks.into_iter().zip(&batches) {
            let sent = tokio::time::timeout(Duration::from_secs(30), h)
                .await
                .unwrap_or_else(|_| {
                    panic!(
                        "round {round}: batch {b} had no outcome {:?} after the kill ({delay:?} into a {window:?} window)",
                        killed.elapsed()
                    )
                })
                .expect("batch task");
            match sent {
                Sent::Acknowledged => {
                    acknowledged += 1;
                    acked_now.insert(b);
                }
                Sent::CutOff => cut_off += 1,
            }
        }
        if acked_now.len() < batches.len() {
            rounds_cut += 1;
        }

        server.restart().await;
        let filter = json!({"field": "Batch", "op": "in", "value": batches});
        let records = list_all(&client, &server, &fx, Some(&filter), &["Batch", "Seq"]).await;
        checked += records.len() as u64;
        let mut by_batch = group(&records);
        let mut stored_now = 0;
        for &b in &batches {
            let mut seqs = by_batch.remove(&b).unwrap_or_default();
            assert_whole(b, &mut seqs);
            if seqs.is_empty() {
                assert!(
                    !acked_now.contains(&b),
                    "round {round}: batch {b} was acknowledged (201) but is missing after the restart"
                );
                absent.insert(b);
            } else {
                present.insert(b);
                stored_now += 1;
            }
        }
        if stored_now > 0 && stored_now < batches.len() {
            rounds_mixed += 1;
        }
        // Keep most kills inside the batches' lifetime: a round whose
        // batches were all acknowledged before the kill shortens the window
        // a lot, one where none was stored lengthens it a little (so about
        // three rounds in four have a batch in flight at the kill).
        if acked_now.len() == batches.len() {
            window = window.mul_f64(0.85);
        } else if stored_now == 0 {
            window = window.mul_f64(1.05);
        }
        assert!(
            by_batch.is_empty(),
            "records of unknown batches: {by_batch:?}"
        );
        if backend == Backend::Sqlite {
            let verdict = integrity_check(dir.path().join("pybase.db")).await;
            assert_eq!(verdict, "ok", "round {round}: PRAGMA integrity_check");
            integrity_checks += 1;
        }
    }

    // Every batch once more, after all the kills: the whole batches are
    // still whole, the absent ones never came back, and nothing else is there.
    let all = list_all(&client, &server, &fx, None, &["Batch", "Seq"]).await;
    checked += all.len() as u64;
    let mut by_batch = group(&all);
    for (b, seqs) in &mut by_batch {
        assert_whole(*b, seqs);
    }
    let found: BTreeSet<u64> = by_batch.keys().copied().collect();
    assert_eq!(
        found, present,
        "the batches present at the end differ from those found after each restart"
    );
    assert_eq!(all.len(), present.len() * MAX_BATCH);
    server.kill();
    if let Some(db) = fresh {
        db.drop_now().await;
    }

    let name = match backend {
        Backend::Sqlite => "crash-safety sqlite",
        Backend::Postgres => "crash-safety postgres",
    };
    let integrity = if backend == Backend::Sqlite {
        format!(", integrity_check ok ×{integrity_checks}")
    } else {
        String::new()
    };
    summary(
        name,
        &format!(
            "{rounds} kills, {} restarts, {} batches of {MAX_BATCH} sent, {CONCURRENT} at a time ({} acknowledged, {} cut off by the kill; {rounds_cut} kills before all {CONCURRENT} were acknowledged, {rounds_mixed} between two commits), {} whole, {} absent, 0 partial, {} records checked, 0 lost{integrity}",
            server.starts - 2,
            thousands(next_batch),
            acknowledged + warm_batches,
            cut_off,
            present.len(),
            absent.len(),
            thousands(checked),
        ),
        started.elapsed(),
    );
}
