//! Airtable's own clients against a running server's `/v0`: pyairtable
//! (with its ORM) and airtable.js, installed by `scripts/airtable-clients.sh`
//! into the folder `PYBASE_TEST_AIRTABLE_CLIENTS` names (scripts/test.sh
//! sets it). Without it the tests skip loudly, and fail under
//! `PYBASE_REQUIRE_SERVICES=1`. The scripts are in `tests/clients/`.

use std::path::{Path, PathBuf};
use std::process::Command;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::SendExpect;
use crate::v0::V0World;

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/clients")
        .join(name)
}

/// Runs `cmd` off the runtime (the server under test runs on it) and
/// asserts it passed, showing its output otherwise.
async fn run(mut cmd: Command, what: &str) {
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("could not start {what}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    assert!(stdout.contains("passed, 0 failed"), "{what}: {stdout}");
    println!("{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pyairtable_and_its_orm_work_unchanged() {
    let dir = PathBuf::from(crate::require_service!("PYBASE_TEST_AIRTABLE_CLIENTS"));
    let w = V0World::new().await;
    let read = w.s.key(&w.owner, &["read"], None).await;
    let mut cmd = Command::new(dir.join("venv/bin/python"));
    cmd.arg(script("pyairtable_check.py"))
        .env("PYBASE_URL", &w.s.base)
        .env("PYBASE_KEY", &w.key)
        .env("PYBASE_READ_KEY", &read)
        .env("PYBASE_BASE", &w.base)
        .env("PYBASE_WORKSPACE", &w.ws);
    run(cmd, "pyairtable").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pyairtable_waits_out_429() {
    let dir = PathBuf::from(crate::require_service!("PYBASE_TEST_AIRTABLE_CLIENTS"));
    let w = V0World::with_rate(1).await;
    let code = r#"
import os, time
from pyairtable import Api
t = Api(os.environ["PYBASE_KEY"], endpoint_url=os.environ["PYBASE_URL"]).table(os.environ["PYBASE_BASE"], "Orders")
start = time.monotonic()
for _ in range(3):
    t.all(max_records=1)
took = time.monotonic() - start
assert took >= 1.0, f"three requests on a bucket of one a second took {took:.2f} s"
print("pyairtable 429: 1 passed, 0 failed")
"#;
    let mut cmd = Command::new(dir.join("venv/bin/python"));
    cmd.arg("-c")
        .arg(code)
        .env("PYBASE_URL", &w.s.base)
        .env("PYBASE_KEY", &w.key)
        .env("PYBASE_BASE", &w.base);
    // The world's setup spent the bucket: let it refill first.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    run(cmd, "pyairtable 429").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn airtable_js_works_unchanged() {
    let dir = PathBuf::from(crate::require_service!("PYBASE_TEST_AIRTABLE_CLIENTS"));
    let w = V0World::new().await;
    let limited = V0World::with_rate(1).await;
    // A record for the limited client to list.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    limited
        .s
        .req(
            &limited.key,
            Method::POST,
            &format!("/v0/{}/Orders", limited.base),
        )
        .json(&json!({"fields": {"Name": "x"}}))
        .send_expect(StatusCode::OK)
        .await;
    let mut cmd = Command::new("node");
    cmd.arg(script("airtable_js_check.js"))
        .env("NODE_PATH", dir.join("node/node_modules"))
        .env("PYBASE_URL", &w.s.base)
        .env("PYBASE_KEY", &w.key)
        .env("PYBASE_BASE", &w.base)
        .env("PYBASE_TABLE", "Orders")
        .env("PYBASE_LIMITED_URL", &limited.s.base)
        .env("PYBASE_LIMITED_KEY", &limited.key)
        .env("PYBASE_LIMITED_BASE", &limited.base);
    run(cmd, "airtable.js").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pyairtable_webhooks_deliver_verified_pings_and_payloads() {
    let dir = PathBuf::from(crate::require_service!("PYBASE_TEST_AIRTABLE_CLIENTS"));
    let files = tempfile::tempdir().unwrap();
    // Loopback targets allowed, retries after 100 ms, a database of its own
    // on PostgreSQL (other servers' workers refuse private targets).
    let (_db, settings) = crate::webhooks::isolated_settings(files.path()).await;
    let w = V0World::start(settings, files).await;
    let mut cmd = Command::new(dir.join("venv/bin/python"));
    cmd.arg(script("pyairtable_webhooks_check.py"))
        .env("PYBASE_URL", &w.s.base)
        .env("PYBASE_KEY", &w.key)
        .env("PYBASE_BASE", &w.base)
        .env("PYBASE_TABLE", &w.table);
    run(cmd, "pyairtable webhooks").await;
}
