//! The server's life on PostgreSQL: migrations at start (unless told not
//! to), the `migrate` sub-command, and a database restart under a running
//! server. Needs `PYBASE_TEST_POSTGRES_URL`; the restart test also needs
//! `pg_ctlcluster` and the right to use it (as the machine's PostgreSQL is
//! run here), and restarts that server.
//!
//! The restart test stops the machine's PostgreSQL, which every other test
//! of this binary may be using: it is `#[ignore]`d, and `scripts/test.sh`
//! runs it with the reliability suite (`--ignored --test-threads=1`), when
//! nothing else runs. The tests of this file take turns through a lock.

use std::process::Command;
use std::time::{Duration, Instant};

use pybase_core::testkit::services::{postgres_url, skip};

use super::reliability::harness::{Cluster, ClusterGuard, FreshDb, eventually};
use pybase_server::Settings;
use pybase_server::settings::{Cli, Command as SubCommand, Secret};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::sync::oneshot;

/// Tests of this file never overlap (one of them stops the database).
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Settings for a test server on `database_url` with files in `dir`.
fn settings(dir: &std::path::Path, database_url: String) -> Settings {
    Settings {
        database_url,
        database_acquire_timeout_secs: 2,
        data_dir: dir.join("data"),
        mail_outbox: Some(dir.join("outbox")),
        secret_key: Some(Secret::new(
            "test-secret-key-that-is-long-enough-0123456789",
        )),
        ..Settings::default()
    }
}

/// A running server; stops when dropped.
struct Server {
    base: String,
    client: reqwest::Client,
    _shutdown: oneshot::Sender<()>,
}

impl Server {
    async fn start(settings: Settings) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let shutdown = async {
                let _ = rx.await;
            };
            if let Err(e) = pybase_server::serve_with_listener(settings, listener, shutdown).await {
                panic!("server failed: {e:#}");
            }
        });
        let server = Self {
            base: format!("http://{addr}"),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
            _shutdown: tx,
        };
        for _ in 0..400 {
            if server.get("/health").await.is_ok() {
                return server;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("server did not start");
    }

    async fn get(&self, path: &str) -> reqwest::Result<reqwest::Response> {
        self.client.get(format!("{}{path}", self.base)).send().await
    }

    /// Sends a request; answers the status and the JSON body (`null` if none).
    async fn call(
        &self,
        token: Option<&str>,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let status = r.status();
        let body = r.json::<Value>().await.unwrap_or(Value::Null);
        (status, body)
    }

    async fn register(&self) -> (StatusCode, Value) {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        self.call(
            None,
            Method::POST,
            "/api/v1/auth/register",
            Some(json!({
                "email": format!("lifecycle-{nanos:x}@example.com"),
                "password": "correct horse battery",
                "name": "Lifecycle",
            })),
        )
        .await
    }

    /// `GET /api/v1/workspaces`, which needs the database.
    async fn workspaces(&self, token: &str) -> (StatusCode, Value) {
        self.call(Some(token), Method::GET, "/api/v1/workspaces", None)
            .await
    }

    async fn database_health(&self) -> String {
        let r = self.get("/health").await.unwrap();
        let v: Value = r.json().await.unwrap();
        v["checks"]["database"].as_str().unwrap_or("?").to_owned()
    }
}

/// Asserts the API's error shape with one of the given codes.
#[track_caller]
fn assert_error(status: StatusCode, body: &Value, statuses: &[StatusCode]) {
    assert!(
        statuses.contains(&status),
        "expected one of {statuses:?}, got {status} {body}"
    );
    assert!(
        body["error"]["code"].is_string() && body["error"]["message"].is_string(),
        "not the JSON error shape: {body}"
    );
}

#[tokio::test]
async fn the_server_migrates_on_start_unless_told_not_to() {
    let Some(url) = postgres_url() else { return };
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();

    // --no-migrate on an empty database: the server starts, but nothing
    // that needs the schema works yet.
    let empty = FreshDb::new(&url).await;
    let mut s = settings(dir.path(), empty.url.clone());
    s.no_migrate = true;
    let server = Server::start(s.clone()).await;
    let (status, body) = server.register().await;
    assert_error(status, &body, &[StatusCode::INTERNAL_SERVER_ERROR]);

    // `pybase-server migrate` brings it up to date, twice over (idempotent);
    // the running server then works without a restart.
    for _ in 0..2 {
        pybase_server::run(Cli {
            command: Some(SubCommand::Migrate),
            settings: s.clone(),
        })
        .await
        .unwrap();
    }
    let (status, body) = server.register().await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    drop(server);

    // Without the flag, a server on an empty database migrates it itself.
    let fresh = FreshDb::new(&url).await;
    let server = Server::start(settings(dir.path(), fresh.url.clone())).await;
    let (status, body) = server.register().await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    drop(server);

    empty.drop_now().await;
    fresh.drop_now().await;
}

#[tokio::test]
#[ignore = "restarts the machine's PostgreSQL; scripts/test.sh runs it with --ignored, alone"]
async fn a_database_restart_costs_failed_requests_never_a_stuck_server() {
    let Some(url) = postgres_url() else { return };
    let Some(cluster) = Cluster::find(&url) else {
        skip(
            "pg_ctlcluster and an online cluster on the URL's port (pg_lsclusters) are needed to restart PostgreSQL",
        );
        return;
    };
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let s = settings(dir.path(), url);
    let acquire = Duration::from_secs(s.database_acquire_timeout_secs);
    let server = Server::start(s).await;
    let (status, session) = server.register().await;
    assert_eq!(status, StatusCode::CREATED, "{session}");
    let token = session["access_token"].as_str().unwrap().to_owned();
    // Fill the pool with connections that the restart will kill.
    for _ in 0..8 {
        assert_eq!(server.workspaces(&token).await.0, StatusCode::OK);
    }
    assert_eq!(server.database_health().await, "ok");

    let guard = ClusterGuard(&cluster);
    let (ok, out) = cluster.ctl("stop").await;
    assert!(ok, "pg_ctlcluster stop failed: {out}");
    // While the database is down: every request fails, in the error shape,
    // within the acquire timeout (plus slack), and /health says so.
    for _ in 0..4 {
        let t = Instant::now();
        let (status, body) = server.workspaces(&token).await;
        assert_error(status, &body, &[StatusCode::SERVICE_UNAVAILABLE]);
        assert!(
            t.elapsed() < acquire + Duration::from_secs(3),
            "a request during the outage took {:?}",
            t.elapsed()
        );
    }
    assert_eq!(server.database_health().await, "down");

    let (ok, out) = cluster.ctl("start").await;
    assert!(ok, "pg_ctlcluster start failed: {out}");
    eventually(Duration::from_secs(30), "recovery after start", || async {
        server.workspaces(&token).await.0 == StatusCode::OK
    })
    .await;
    for _ in 0..10 {
        let (status, body) = server.workspaces(&token).await;
        assert_eq!(status, StatusCode::OK, "after the outage: {body}");
    }
    assert_eq!(server.database_health().await, "ok");

    // A plain restart under load: requests in flight may fail, then every
    // request succeeds again.
    let load = {
        let client = server.client.clone();
        let url = format!("{}/api/v1/workspaces", server.base);
        let token = token.clone();
        tokio::spawn(async move {
            let mut statuses = Vec::new();
            let end = Instant::now() + Duration::from_secs(6);
            while Instant::now() < end {
                let t = Instant::now();
                let r = client.get(&url).bearer_auth(&token).send().await.unwrap();
                statuses.push((r.status(), t.elapsed()));
            }
            statuses
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (ok, out) = cluster.ctl("restart").await;
    assert!(ok, "pg_ctlcluster restart failed: {out}");
    let statuses = load.await.unwrap();
    for (status, took) in &statuses {
        assert!(
            [StatusCode::OK, StatusCode::SERVICE_UNAVAILABLE].contains(status),
            "unexpected {status} during the restart"
        );
        assert!(
            *took < acquire + Duration::from_secs(3),
            "a request took {took:?}"
        );
    }
    assert!(statuses.iter().any(|(s, _)| *s == StatusCode::OK));
    eventually(
        Duration::from_secs(30),
        "recovery after restart",
        || async { server.workspaces(&token).await.0 == StatusCode::OK },
    )
    .await;
    for _ in 0..10 {
        let (status, body) = server.workspaces(&token).await;
        assert_eq!(status, StatusCode::OK, "after the restart: {body}");
    }
    assert_eq!(server.database_health().await, "ok");
    drop(guard);
}

/// Set in the child run of [`the_no_migrate_variable_sets_the_flag`].
const NO_MIGRATE_CHILD: &str = "PYBASE_TEST_NO_MIGRATE_CHILD";

/// `PYBASE_NO_MIGRATE=true` sets the flag. The environment is the whole
/// process's and other tests of this binary run meanwhile, so the variable
/// is set only in a child run of this test, before it starts.
#[test]
fn the_no_migrate_variable_sets_the_flag() {
    if std::env::var_os(NO_MIGRATE_CHILD).is_some() {
        let cli = <Cli as clap::Parser>::try_parse_from(["pybase-server", "serve"]).unwrap();
        assert!(cli.settings.no_migrate);
        return;
    }
    let name = "pg_lifecycle::the_no_migrate_variable_sets_the_flag";
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--test-threads=1"])
        .env(NO_MIGRATE_CHILD, "1")
        .env("PYBASE_NO_MIGRATE", "true")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "the child run failed or ran nothing:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cli = <Cli as clap::Parser>::try_parse_from(["pybase-server"]).unwrap();
    assert!(!cli.settings.no_migrate);
}
