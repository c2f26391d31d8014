//! What the reliability cases share: the real `pybase-server` binary as a
//! child process, an HTTP client for it, and the services it depends on
//! (a fresh PostgreSQL database, the machine's PostgreSQL cluster and
//! Redis, an s3s-fs process of the test's own), each with a guard that puts
//! the service back when a case ends, even by a panic.

use std::fmt::Write as _;
use std::io::{Read as _, Seek as _, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::{AssertSqlSafe, Connection, PgConnection};

/// The signing key every server of a case shares, so tokens survive restarts.
const SECRET_KEY: &str = "reliability-secret-key-that-is-long-enough-0123456789";

/// The password of every user the cases register.
pub(crate) const PASSWORD: &str = "correct horse battery";

/// Skipping a case without its service, or failing it under
/// `PYBASE_REQUIRE_SERVICES=1`: the workspace's one rule.
pub(crate) use pybase_core::testkit::services::{service_var, skip};

/// Whether the long variants were asked for (`PYBASE_RELIABILITY_LONG=1`).
pub(crate) fn long_run() -> bool {
    std::env::var("PYBASE_RELIABILITY_LONG").as_deref() == Ok("1")
}

/// A number from the environment variable `var`, else `default`.
pub(crate) fn env_number(var: &str, default: u64) -> u64 {
    match std::env::var(var) {
        Ok(v) if !v.trim().is_empty() => v
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{var} must be a whole number, got {v:?}")),
        _ => default,
    }
}

/// A unique suffix for names, emails and database names.
pub(crate) fn unique() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "{}_{nanos:x}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// `n` with thousands separators: 31000 → "31,000".
pub(crate) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Prints a case's one summary line (kept apart from other output by the
/// `reliability:` prefix, which CI logs can be searched for).
pub(crate) fn summary(case: &str, figures: &str, took: Duration) {
    println!(
        "reliability: {case}: {figures} ({:.1} s)",
        took.as_secs_f64()
    );
}

/// A free TCP port on loopback (free when asked; the server binds it next).
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Whether something accepts TCP connections on 127.0.0.1:`port`.
pub(crate) fn port_open(port: u16) -> bool {
    std::net::TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(200),
    )
    .is_ok()
}

/// Runs a command to completion off the async runtime; answers whether it
/// succeeded, and its output for messages.
pub(crate) async fn run(program: &str, args: &[&str]) -> (bool, String) {
    let program = program.to_owned();
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    tokio::task::spawn_blocking(move || match Command::new(&program).args(&args).output() {
        Ok(o) => (
            o.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            ),
        ),
        Err(e) => (false, format!("could not run {program}: {e}")),
    })
    .await
    .expect("command task")
}

/// Repeats `check` every 100 ms until it holds, for at most `limit`;
/// answers how long it took, or panics naming `what`.
pub(crate) async fn eventually<F, Fut>(limit: Duration, what: &str, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if check().await {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < limit,
            "{what} did not happen within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// ---------------------------------------------------------------------------
// The server binary

/// The real `pybase-server` binary, run as a child process with its own
/// settings (from the environment, nothing inherited) and working folder,
/// logging to `server.log` there. Killed when dropped.
pub(crate) struct ServerProcess {
    child: Option<Child>,
    env: Vec<(String, String)>,
    dir: PathBuf,
    port: u16,
    /// How many times the process was started.
    pub(crate) starts: u32,
}

impl ServerProcess {
    /// Starts the server with `env` (on top of the case defaults: data in
    /// `dir`, a fixed secret key, mail to an outbox) and waits until it
    /// answers `/health`.
    pub(crate) async fn start(dir: &Path, env: &[(&str, String)]) -> Self {
        let mut all = vec![
            ("PYBASE_DATA_DIR".to_owned(), path_str(&dir.join("data"))),
            ("MAIL_OUTBOX".to_owned(), path_str(&dir.join("outbox"))),
            ("SECRET_KEY".to_owned(), SECRET_KEY.to_owned()),
            ("HOST".to_owned(), "127.0.0.1".to_owned()),
            ("RUST_LOG".to_owned(), "warn,pybase_server=info".to_owned()),
        ];
        for (k, v) in env {
            all.retain(|(name, _)| name != k);
            all.push(((*k).to_owned(), v.clone()));
        }
        let mut server = Self {
            child: None,
            env: all,
            dir: dir.to_owned(),
            port: 0,
            starts: 0,
        };
        server.spawn().await;
        server
    }

    /// `http://127.0.0.1:<port>` of the running process.
    pub(crate) fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Absolute URL of `path`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base())
    }

    /// The process id of the running process.
    pub(crate) fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Whether the process is still running (it was neither killed nor did
    /// it exit on its own).
    pub(crate) fn running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Starts the process with `PORT=0` and learns its port from the log
    /// line `pybase-server listening addr=...`: the port is the kernel's
    /// choice while the server holds it, so no other process on the machine
    /// can take it between a test's pick and the server's bind.
    async fn spawn(&mut self) {
        assert!(self.child.is_none(), "the server is already running");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("server log");
        let log_start = log.metadata().map_or(0, |m| m.len());
        let child = Command::new(env!("CARGO_BIN_EXE_pybase-server"))
            .arg("serve")
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .env("PORT", "0")
            .env("NO_COLOR", "1")
            // The folder holds no .env: nothing but `env` configures it.
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("server log"))
            .stderr(log)
            .spawn()
            .expect("start pybase-server");
        self.child = Some(child);
        self.starts += 1;
        let start = Instant::now();
        let fail = |server: &Self, why: &str| -> ! {
            panic!(
                "pybase-server {why}; its log ends with:\n{}",
                server.log_tail()
            )
        };
        self.port = loop {
            if let Some(port) = self.listening_port(log_start) {
                break port;
            }
            if !self.running() {
                fail(self, "exited at start");
            }
            if start.elapsed() > Duration::from_secs(60) {
                fail(self, "did not listen within 60 s");
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .expect("client");
        let health = self.url("/health");
        while client.get(&health).send().await.is_err() {
            if !self.running() {
                fail(self, "exited at start");
            }
            if start.elapsed() > Duration::from_secs(60) {
                fail(self, "did not answer /health within 60 s");
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The port of the `pybase-server listening addr=127.0.0.1:<port>` line
    /// written after byte `from` of the log, if there is one yet.
    fn listening_port(&self, from: u64) -> Option<u16> {
        let mut text = String::new();
        let mut f = std::fs::File::open(self.log_path()).ok()?;
        f.seek(SeekFrom::Start(from)).ok()?;
        f.read_to_string(&mut text).ok()?;
        let line = text
            .lines()
            .find(|l| l.contains("pybase-server listening"))?;
        let addr = line.split("addr=").nth(1)?.split_whitespace().next()?;
        addr.parse::<std::net::SocketAddr>().ok().map(|a| a.port())
    }

    /// SIGKILLs the process (no shutdown of any kind) and reaps it.
    pub(crate) fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            // `Child::kill` sends SIGKILL on Unix.
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the process again on the same data (on a new port).
    pub(crate) async fn restart(&mut self) {
        self.kill();
        self.spawn().await;
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join("server.log")
    }

    /// The last lines of the server's log, for failure messages.
    pub(crate) fn log_tail(&self) -> String {
        let mut text = String::new();
        if let Ok(mut f) = std::fs::File::open(self.log_path()) {
            let len = f.metadata().map_or(0, |m| m.len());
            let _ = f.seek(SeekFrom::Start(len.saturating_sub(8_000)));
            let _ = f.read_to_string(&mut text);
        }
        text
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if std::thread::panicking() && self.child.is_some() {
            eprintln!("pybase-server log (end):\n{}", self.log_tail());
        }
        self.kill();
    }
}

fn path_str(p: &Path) -> String {
    p.to_str().expect("a UTF-8 temp path").to_owned()
}

// ---------------------------------------------------------------------------
// HTTP

/// A client for the cases: generous timeouts (a debug server under load on
/// two cores is slow), no connection reuse across a kill.
pub(crate) fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .connect_timeout(Duration::from_secs(5))
        .build()
        .expect("client")
}

/// Sends one request; answers the status and the JSON body (`null` when
/// there is none), or the transport error (refused, reset, timed out).
pub(crate) async fn call(
    client: &reqwest::Client,
    token: Option<&str>,
    method: Method,
    url: &str,
    body: Option<&Value>,
) -> reqwest::Result<(StatusCode, Value)> {
    let mut req = client.request(method, url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(b);
    }
    let r = req.send().await?;
    let status = r.status();
    let bytes = r.bytes().await?;
    Ok((
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    ))
}

/// Like [`call`], but the request must answer `expected`.
#[track_caller]
pub(crate) fn expect(
    client: &reqwest::Client,
    token: Option<&str>,
    method: Method,
    url: &str,
    body: Option<Value>,
    expected: StatusCode,
) -> impl std::future::Future<Output = Value> {
    let at = std::panic::Location::caller();
    let client = client.clone();
    let url = url.to_owned();
    let token = token.map(str::to_owned);
    async move {
        let (status, v) = call(
            &client,
            token.as_deref(),
            method.clone(),
            &url,
            body.as_ref(),
        )
        .await
        .unwrap_or_else(|e| panic!("{at}: {method} {url}: {e}"));
        assert_eq!(status, expected, "{at}: {method} {url}: {v}");
        v
    }
}

/// Asserts the error shape of API.md: `{"error":{"code","message","details"}}`.
#[track_caller]
pub(crate) fn assert_error_shape(body: &Value) {
    assert!(
        body["error"]["code"].is_string()
            && body["error"]["message"].is_string()
            && body["error"]["details"].is_object(),
        "not the JSON error shape: {body}"
    );
}

/// A user with a workspace, a base and a table, created over HTTP.
pub(crate) struct Fixture {
    /// The user's email.
    pub(crate) email: String,
    /// The user's access token (30 minutes; the signing key survives restarts).
    pub(crate) token: String,
    /// The base's id.
    pub(crate) base: String,
    /// The table's id.
    pub(crate) table: String,
}

impl Fixture {
    /// Registers a user and makes a workspace, a base and a table with
    /// `fields` (`[{"name","type",...}]`).
    pub(crate) async fn create(
        client: &reqwest::Client,
        server: &ServerProcess,
        fields: Value,
    ) -> Self {
        let email = format!("reliability-{}@example.com", unique());
        let session = expect(
            client,
            None,
            Method::POST,
            &server.url("/api/v1/auth/register"),
            Some(json!({"email": email, "password": PASSWORD, "name": "Reliability"})),
            StatusCode::CREATED,
        )
        .await;
        let token = session["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned();
        let ws = expect(
            client,
            Some(&token),
            Method::POST,
            &server.url("/api/v1/workspaces"),
            Some(json!({"name": "Reliability", "slug": format!("rel-{}", unique().replace('_', "-"))})),
            StatusCode::CREATED,
        )
        .await;
        let ws = ws["id"].as_str().expect("workspace id");
        let base = expect(
            client,
            Some(&token),
            Method::POST,
            &server.url(&format!("/api/v1/workspaces/{ws}/bases")),
            Some(json!({"name": "Reliability"})),
            StatusCode::CREATED,
        )
        .await;
        let base = base["id"].as_str().expect("base id").to_owned();
        let table = expect(
            client,
            Some(&token),
            Method::POST,
            &server.url(&format!("/api/v1/bases/{base}/tables")),
            Some(json!({"name": "Items", "fields": fields})),
            StatusCode::CREATED,
        )
        .await;
        Self {
            email,
            token,
            base,
            table: table["id"].as_str().expect("table id").to_owned(),
        }
    }

    /// `/api/v1/tables/{table}/records` plus `rest`.
    pub(crate) fn records_path(&self, rest: &str) -> String {
        format!("/api/v1/tables/{}/records{rest}", self.table)
    }
}

/// Every record of `table` that `filter` (a filter JSON, or none) keeps,
/// with only `fields`, read page by page (1000 a page).
pub(crate) async fn list_all(
    client: &reqwest::Client,
    server: &ServerProcess,
    fx: &Fixture,
    filter: Option<&Value>,
    fields: &[&str],
) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut body = json!({"page_size": 1000, "fields": fields});
        if let Some(f) = filter {
            body["filter"] = f.clone();
        }
        if let Some(c) = &cursor {
            body["cursor"] = json!(c);
        }
        let page = expect(
            client,
            Some(&fx.token),
            Method::POST,
            &server.url(&fx.records_path("/query")),
            Some(body),
            StatusCode::OK,
        )
        .await;
        let records = page["records"].as_array().expect("records");
        out.extend(records.iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return out,
        }
    }
}

// ---------------------------------------------------------------------------
// PostgreSQL

/// `url` with its database name replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let (main, query) = url
        .split_once('?')
        .map_or((url, None), |(m, q)| (m, Some(q)));
    let scheme_end = main.find("//").map_or(0, |i| i + 2);
    let head = match main.rfind('/') {
        Some(i) if i >= scheme_end => &main[..i],
        _ => main,
    };
    match query {
        Some(q) => format!("{head}/{name}?{q}"),
        None => format!("{head}/{name}"),
    }
}

/// The port of a `scheme://[user@]host[:port]/...` URL, else `default`.
fn url_port(url: &str, default: u16) -> u16 {
    host_port(url)
        .1
        .and_then(|p| p.parse().ok())
        .unwrap_or(default)
}

/// Whether a URL names this machine (loopback, or no host: a local socket).
fn url_is_local(url: &str) -> bool {
    matches!(host_port(url).0, "" | "127.0.0.1" | "localhost" | "[::1]")
}

/// The host and port of a `scheme://[user[:password]@]host[:port]/...` URL.
fn host_port(url: &str) -> (&str, Option<&str>) {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    match hostport.rsplit_once(':') {
        Some((host, port)) if !port.contains(']') => (host, Some(port)),
        _ => (hostport, None),
    }
}

/// A fresh, empty database on the test server; dropped (forcefully, the
/// server may still hold connections) by [`FreshDb::drop_now`], or when the
/// guard is dropped (a failed case).
pub(crate) struct FreshDb {
    admin_url: String,
    name: String,
    /// Its URL.
    pub(crate) url: String,
    dropped: bool,
}

impl FreshDb {
    /// Creates `pybase_reliability_<unique>` on the server of `admin_url`.
    pub(crate) async fn new(admin_url: &str) -> Self {
        let name = format!("pybase_reliability_{}", unique());
        // A cluster that is (re)starting gets a moment to come up.
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut conn = loop {
            match PgConnection::connect(admin_url).await {
                Ok(conn) => break conn,
                Err(e) if Instant::now() > deadline => {
                    panic!("cannot connect to PYBASE_TEST_POSTGRES_URL: {e}")
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
            }
        };
        sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .expect("create database");
        conn.close().await.ok();
        Self {
            admin_url: admin_url.to_owned(),
            url: with_database(admin_url, &name),
            name,
            dropped: false,
        }
    }

    /// Drops the database.
    pub(crate) async fn drop_now(mut self) {
        drop_database(&self.admin_url, &self.name).await;
        self.dropped = true;
    }
}

async fn drop_database(admin_url: &str, name: &str) {
    if let Ok(mut conn) = PgConnection::connect(admin_url).await {
        let _ = sqlx::query(AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )))
        .execute(&mut conn)
        .await;
    }
}

impl Drop for FreshDb {
    fn drop(&mut self) {
        if self.dropped {
            return;
        }
        // Inside the test's runtime no future can be awaited here: drop it
        // from a thread with a runtime of its own.
        let (admin, name) = (self.admin_url.clone(), self.name.clone());
        let _ = std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                rt.block_on(drop_database(&admin, &name));
            }
        })
        .join();
    }
}

/// The machine's PostgreSQL cluster, as `pg_ctlcluster` names it.
pub(crate) struct Cluster {
    version: String,
}

impl Cluster {
    /// The local cluster named `main` that serves `url` (`pg_lsclusters`
    /// shows it online on the URL's port), which `pg_ctlcluster` can
    /// restart; otherwise `None` after [`skip`]. A server elsewhere (a
    /// container, another host) is not restarted from here.
    pub(crate) fn find(url: &str) -> Option<Self> {
        let port = url_port(url, 5432);
        let listed = Command::new("pg_lsclusters")
            .arg("-h")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        // Columns: version, cluster, port, status, owner, data dir, log.
        let found = listed.lines().find_map(|line| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            match cols.as_slice() {
                [version, "main", p, status, ..]
                    if p.parse() == Ok(port) && status.starts_with("online") =>
                {
                    Some((*version).to_owned())
                }
                _ => None,
            }
        });
        match found {
            Some(version) if url_is_local(url) => Some(Self { version }),
            _ => {
                skip(&format!(
                    "restarting PostgreSQL needs pg_ctlcluster and a local cluster `main` online on the port of PYBASE_TEST_POSTGRES_URL ({port}); pg_lsclusters shows: {}",
                    listed.trim()
                ));
                None
            }
        }
    }

    /// `pg_ctlcluster --skip-systemctl-redirect <version> main <action>`.
    pub(crate) async fn ctl(&self, action: &str) -> (bool, String) {
        run(
            "pg_ctlcluster",
            &["--skip-systemctl-redirect", &self.version, "main", action],
        )
        .await
    }

    /// Whether the cluster is running (`pg_ctlcluster ... status`).
    fn is_running(&self) -> bool {
        Command::new("pg_ctlcluster")
            .args(["--skip-systemctl-redirect", &self.version, "main", "status"])
            .output()
            .is_ok_and(|o| o.status.success())
    }
}

/// Starts the cluster again when dropped, if it is not running (a case
/// that fails half-way must not leave the machine without PostgreSQL).
pub(crate) struct ClusterGuard<'a>(pub(crate) &'a Cluster);

impl Drop for ClusterGuard<'_> {
    fn drop(&mut self) {
        if !self.0.is_running() {
            let ok = Command::new("pg_ctlcluster")
                .args([
                    "--skip-systemctl-redirect",
                    &self.0.version,
                    "main",
                    "start",
                ])
                .output()
                .is_ok_and(|o| o.status.success());
            eprintln!(
                "reliability: PostgreSQL was down at the end of the case; started again: {ok}"
            );
        }
    }
}

// ---------------------------------------------------------------------------
// Redis

/// The Redis server of `PYBASE_TEST_REDIS_URL` on this machine, stopped
/// with `redis-cli shutdown nosave` and started with `redis-server
/// --daemonize yes` (no persistence).
pub(crate) struct RedisControl {
    port: u16,
}

impl RedisControl {
    /// Redis at `url`, which must be a local `redis://127.0.0.1:<port>` (or
    /// `localhost`) whose `redis-cli` and `redis-server` are on PATH;
    /// otherwise `None` after [`skip`].
    pub(crate) fn find(url: &str) -> Option<Self> {
        let port = url_port(url, 6379);
        let tools = ["redis-cli", "redis-server"]
            .iter()
            .all(|t| Command::new(t).arg("--version").output().is_ok());
        if url_is_local(url) && tools {
            Some(Self { port })
        } else {
            skip(&format!(
                "stopping Redis needs a local PYBASE_TEST_REDIS_URL (got {url}) and redis-cli and redis-server on PATH"
            ));
            None
        }
    }

    /// Whether Redis answers `PING`.
    pub(crate) fn answers(&self) -> bool {
        Command::new("redis-cli")
            .args(["-p", &self.port.to_string(), "ping"])
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "PONG")
    }

    /// How many keys start with `prefix`.
    pub(crate) async fn keys(&self, prefix: &str) -> usize {
        let pattern = format!("{prefix}*");
        let port = self.port.to_string();
        let (ok, out) = run("redis-cli", &["-p", &port, "--scan", "--pattern", &pattern]).await;
        if ok {
            out.lines().filter(|l| !l.trim().is_empty()).count()
        } else {
            0
        }
    }

    /// Stops Redis without saving.
    pub(crate) async fn stop(&self) {
        let (ok, out) = run(
            "redis-cli",
            &["-p", &self.port.to_string(), "shutdown", "nosave"],
        )
        .await;
        // redis-cli reports the connection closing under it as an error.
        let deadline = Instant::now() + Duration::from_secs(10);
        while port_open(self.port) {
            assert!(
                Instant::now() < deadline,
                "Redis did not stop (redis-cli ok: {ok}): {out}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Starts Redis (daemonized, no persistence) and waits for `PING`.
    pub(crate) async fn start(&self) {
        let args = Self::server_args(self.port);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (ok, out) = run("redis-server", &args).await;
        assert!(ok, "redis-server did not start: {out}");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.answers() {
            assert!(
                Instant::now() < deadline,
                "Redis does not answer after start"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `redis-server --daemonize yes --bind 127.0.0.1 --port <port> --save "" --appendonly no`.
    fn server_args(port: u16) -> Vec<String> {
        let port = port.to_string();
        [
            "--daemonize",
            "yes",
            "--bind",
            "127.0.0.1",
            "--port",
            &port,
            "--save",
            "",
            "--appendonly",
            "no",
        ]
        .map(str::to_owned)
        .to_vec()
    }
}

/// Starts Redis again when dropped, if it does not answer.
pub(crate) struct RedisGuard<'a>(pub(crate) &'a RedisControl);

impl Drop for RedisGuard<'_> {
    fn drop(&mut self) {
        if !self.0.answers() {
            let ok = Command::new("redis-server")
                .args(RedisControl::server_args(self.0.port))
                .output()
                .is_ok_and(|o| o.status.success());
            eprintln!("reliability: Redis was down at the end of the case; started again: {ok}");
        }
    }
}

// ---------------------------------------------------------------------------
// S3

/// The bucket, keys and region every case's s3s-fs uses.
pub(crate) const S3_BUCKET: &str = "pybase-reliability";
const S3_ACCESS_KEY: &str = "K";
const S3_SECRET_KEY: &str = "S";

/// An s3s-fs server of the case's own (as scripts/start-s3.sh starts one,
/// on another port and folder), so stopping it disturbs no other test.
/// Killed when dropped.
pub(crate) struct S3Process {
    bin: PathBuf,
    data: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl S3Process {
    /// The s3s-fs binary that scripts/start-s3.sh installs
    /// (`$PYBASE_TOOLS_DIR/bin`, default `~/.cache/pybase-tools/bin`), or
    /// one on PATH; otherwise `None` after [`skip`].
    pub(crate) fn find_binary() -> Option<PathBuf> {
        let tools = std::env::var("PYBASE_TOOLS_DIR")
            .ok()
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var("HOME")
                    .ok()
                    .map(|h| Path::new(&h).join(".cache/pybase-tools"))
            });
        let installed = tools.map(|t| t.join("bin/s3s-fs")).filter(|p| p.is_file());
        let on_path = || {
            std::env::var("PATH").ok().and_then(|path| {
                std::env::split_paths(&path)
                    .map(|d| d.join("s3s-fs"))
                    .find(|p| p.is_file())
            })
        };
        let found = installed.or_else(on_path);
        if found.is_none() {
            skip("s3s-fs is not installed: run scripts/start-s3.sh once (it installs it)");
        }
        found
    }

    /// Starts s3s-fs from `bin` on a free port, serving a fresh folder.
    pub(crate) async fn start(bin: PathBuf, dir: &Path) -> Self {
        let data = dir.join("s3");
        std::fs::create_dir_all(data.join(S3_BUCKET)).expect("s3 folder");
        let mut s3 = Self {
            bin,
            data,
            port: free_port(),
            child: None,
        };
        s3.spawn().await;
        s3
    }

    async fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.data.with_extension("log"))
            .expect("s3s-fs log");
        let child = Command::new(&self.bin)
            .args(["--host", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--access-key", S3_ACCESS_KEY, "--secret-key", S3_SECRET_KEY])
            .arg(&self.data)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("s3s-fs log"))
            .stderr(log)
            .spawn()
            .expect("start s3s-fs");
        self.child = Some(child);
        let port = self.port;
        let deadline = Instant::now() + Duration::from_secs(10);
        while !port_open(port) {
            assert!(Instant::now() < deadline, "s3s-fs did not open port {port}");
            assert!(self.running(), "s3s-fs exited at start (port {port})");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // Something else could have taken the port meanwhile: then s3s-fs
        // fails to bind it and exits.
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(
            self.running(),
            "s3s-fs exited at start: port {port} is taken"
        );
    }

    fn running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Stops the server (SIGKILL), as an outage would.
    pub(crate) fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port and folder.
    pub(crate) async fn restart(&mut self) {
        self.stop();
        self.spawn().await;
    }

    /// The server settings that point PyBase at this store.
    pub(crate) fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("S3_ENDPOINT", format!("http://127.0.0.1:{}", self.port)),
            ("S3_BUCKET", S3_BUCKET.to_owned()),
            ("S3_ACCESS_KEY_ID", S3_ACCESS_KEY.to_owned()),
            ("S3_SECRET_ACCESS_KEY", S3_SECRET_KEY.to_owned()),
        ]
    }
}

impl Drop for S3Process {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Counts by outcome, printed as `ok 812, 503 ×3, refused ×2`.
#[derive(Debug, Default, Clone)]
pub(crate) struct Outcomes(pub(crate) std::collections::BTreeMap<String, u64>);

impl Outcomes {
    /// Counts one outcome.
    pub(crate) fn add(&mut self, outcome: &str) {
        *self.0.entry(outcome.to_owned()).or_default() += 1;
    }

    /// All outcomes counted.
    pub(crate) fn total(&self) -> u64 {
        self.0.values().sum()
    }

    /// `201 ×5, 503 ×2`.
    pub(crate) fn describe(&self) -> String {
        let mut s = String::new();
        for (k, n) in &self.0 {
            if !s.is_empty() {
                s.push_str(", ");
            }
            let _ = write!(s, "{k} ×{n}");
        }
        s
    }
}
