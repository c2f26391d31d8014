//! Dependency faults under load: the server runs on PostgreSQL with Redis
//! and S3 configured while client tasks keep reading and writing records;
//! then one dependency goes away and comes back:
//!
//! - PostgreSQL restarted: requests may fail (503 `unavailable`, within the
//!   acquire timeout) while it is down, then succeed again without
//!   restarting PyBase;
//! - Redis stopped and started: reads, writes and logins go on, logins are
//!   still throttled (per instance), `/health` reports the cache down and
//!   then up again by itself;
//! - the S3 server stopped and started: uploads answer 503 `unavailable`,
//!   records keep working, uploads work again afterwards and the earlier
//!   files are intact.
//!
//! Every acknowledged write is read back at the end: nothing may be lost.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::harness::{
    self, Cluster, ClusterGuard, Fixture, FreshDb, Outcomes, PASSWORD, RedisControl, RedisGuard,
    S3Process, ServerProcess, assert_error_shape, call, eventually, expect, list_all, summary,
    thousands, unique,
};

/// How long a request may wait for a PostgreSQL connection in these cases.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(2);

/// Slack on top of every bound, for a debug build on two busy cores.
const SLACK: Duration = Duration::from_secs(3);

/// Client tasks that write records.
const WRITERS: u64 = 2;

/// Records per write.
const PER_WRITE: u64 = 5;

/// A server on a fresh PostgreSQL database, Redis and an S3 store of its
/// own, with a user and a table.
struct Setup {
    // Fields drop in this order: the server first (its log is still there
    // to print when a case fails), the folder last.
    server: ServerProcess,
    s3: S3Process,
    client: reqwest::Client,
    fx: Arc<Fixture>,
    redis_prefix: String,
    db: FreshDb,
    dir: tempfile::TempDir,
}

impl Setup {
    /// Everything the fault cases need, or `None` after a skip.
    async fn new() -> Option<Self> {
        let admin = harness::service_var("PYBASE_TEST_POSTGRES_URL")?;
        let redis_url = harness::service_var("PYBASE_TEST_REDIS_URL")?;
        let s3_bin = S3Process::find_binary()?;
        let dir = tempfile::tempdir().expect("tempdir");
        let db = FreshDb::new(&admin).await;
        let s3 = S3Process::start(s3_bin, dir.path()).await;
        let redis_prefix = format!("pybase-reliability-{}:", unique());
        let mut env = vec![
            ("DATABASE_URL", db.url.clone()),
            (
                "DATABASE_ACQUIRE_TIMEOUT_SECS",
                ACQUIRE_TIMEOUT.as_secs().to_string(),
            ),
            ("REDIS_URL", redis_url),
            ("REDIS_KEY_PREFIX", redis_prefix.clone()),
        ];
        env.extend(s3.env());
        let server = ServerProcess::start(dir.path(), &env).await;
        let client = harness::client();
        let fx = Fixture::create(
            &client,
            &server,
            json!([
                {"name": "Note", "type": "text"},
                {"name": "Writer", "type": "number", "options": {"precision": 0}},
                {"name": "Seq", "type": "number", "options": {"precision": 0}},
            ]),
        )
        .await;
        let health = expect(
            &client,
            None,
            Method::GET,
            &server.url("/health"),
            None,
            StatusCode::OK,
        )
        .await;
        assert_eq!(
            health["backends"],
            json!({"database": "postgres", "cache": "redis", "object_store": "s3"}),
            "{health}"
        );
        Some(Self {
            server,
            s3,
            client,
            fx: Arc::new(fx),
            redis_prefix,
            db,
            dir,
        })
    }

    /// Checks that every acknowledged record is there; answers how many
    /// were checked. Then stops the server and drops the database.
    async fn finish(mut self, acknowledged: &BTreeSet<String>) -> u64 {
        let all = list_all(&self.client, &self.server, &self.fx, None, &["Seq"]).await;
        let ids: BTreeSet<String> = all
            .iter()
            .filter_map(|r| r["id"].as_str().map(str::to_owned))
            .collect();
        let lost: Vec<&String> = acknowledged.difference(&ids).collect();
        assert!(
            lost.is_empty(),
            "{} acknowledged records are missing, e.g. {:?}",
            lost.len(),
            &lost[..lost.len().min(5)]
        );
        self.server.kill();
        self.s3.stop();
        self.db.drop_now().await;
        drop(self.dir);
        acknowledged.len() as u64
    }

    async fn health(&self) -> Value {
        let (_, v) = call(
            &self.client,
            None,
            Method::GET,
            &self.server.url("/health"),
            None,
        )
        .await
        .expect("/health answers");
        v
    }

    /// Logs `email` in with `password`; answers the status and body.
    async fn login(&self, email: &str, password: &str) -> (StatusCode, Value, Duration) {
        let t = Instant::now();
        let (status, body) = call(
            &self.client,
            None,
            Method::POST,
            &self.server.url("/api/v1/auth/login"),
            Some(&json!({"email": email, "password": password})),
        )
        .await
        .expect("login answers");
        (status, body, t.elapsed())
    }

    /// Uploads `bytes`; answers the status and body.
    async fn upload(&self, bytes: Vec<u8>) -> (StatusCode, Value, Duration) {
        let part = reqwest::multipart::Part::bytes(bytes)
            .file_name("data.bin")
            .mime_str("application/octet-stream")
            .expect("mime");
        let t = Instant::now();
        let r = self
            .client
            .post(
                self.server
                    .url(&format!("/api/v1/tables/{}/attachments", self.fx.table)),
            )
            .bearer_auth(&self.fx.token)
            .multipart(reqwest::multipart::Form::new().part("file", part))
            .send()
            .await
            .expect("upload answers");
        let status = r.status();
        let body = r.json::<Value>().await.unwrap_or(Value::Null);
        (status, body, t.elapsed())
    }

    /// The bytes of attachment `id`.
    async fn content(&self, id: &str) -> (StatusCode, Vec<u8>) {
        let r = self
            .client
            .get(
                self.server
                    .url(&format!("/api/v1/attachments/{id}/content")),
            )
            .bearer_auth(&self.fx.token)
            .send()
            .await
            .expect("content answers");
        let status = r.status();
        (
            status,
            r.bytes().await.map(|b| b.to_vec()).unwrap_or_default(),
        )
    }
}

/// One request of the load.
#[derive(Debug)]
struct Sample {
    started: Instant,
    took: Duration,
    what: &'static str,
    /// The status, or `None` for no answer at all.
    status: Option<StatusCode>,
    body: Value,
}

/// Client tasks reading and writing records until stopped.
struct Load {
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<(Vec<Sample>, Vec<String>)>>,
}

impl Load {
    /// `WRITERS` tasks creating `PER_WRITE` records at a time and one
    /// reading pages and single records, each pausing 25 ms between requests.
    fn start(setup: &Setup) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let mut tasks = Vec::new();
        for writer in 0..WRITERS {
            let (client, fx, stop) = (setup.client.clone(), setup.fx.clone(), stop.clone());
            let url = setup.server.url(&fx.records_path(""));
            tasks.push(tokio::spawn(async move {
                let (mut samples, mut created) = (Vec::new(), Vec::new());
                let mut seq = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let records: Vec<Value> = (0..PER_WRITE)
                        .map(|i| json!({"fields": {"Note": format!("writer {writer}"), "Writer": writer, "Seq": seq + i}}))
                        .collect();
                    seq += PER_WRITE;
                    let body = json!({ "records": records });
                    let s = sample("write", &client, &fx.token, Method::POST, &url, Some(&body)).await;
                    if s.status == Some(StatusCode::CREATED) {
                        created.extend(
                            s.body["records"]
                                .as_array()
                                .into_iter()
                                .flatten()
                                .filter_map(|r| r["id"].as_str().map(str::to_owned)),
                        );
                    }
                    samples.push(s);
                    tokio::time::sleep(Duration::from_millis(25)).await;
                }
                (samples, created)
            }));
        }
        let (client, fx, stop2) = (setup.client.clone(), setup.fx.clone(), stop.clone());
        let list = setup.server.url(&fx.records_path("?page_size=20"));
        let one = setup.server.url(&fx.records_path(""));
        tasks.push(tokio::spawn(async move {
            let mut samples = Vec::new();
            let mut known: Option<String> = None;
            while !stop2.load(Ordering::Relaxed) {
                let s = sample("read page", &client, &fx.token, Method::GET, &list, None).await;
                if known.is_none() {
                    known = s.body["records"][0]["id"].as_str().map(str::to_owned);
                }
                samples.push(s);
                if let Some(id) = &known {
                    let url = format!("{one}/{id}");
                    samples.push(
                        sample("read one", &client, &fx.token, Method::GET, &url, None).await,
                    );
                }
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            (samples, Vec::new())
        }));
        Self { stop, tasks }
    }

    /// Stops the tasks; answers every sample and every acknowledged record id.
    async fn finish(self) -> (Vec<Sample>, BTreeSet<String>) {
        self.stop.store(true, Ordering::Relaxed);
        let mut samples = Vec::new();
        let mut created = BTreeSet::new();
        for t in self.tasks {
            let (s, c) = t.await.expect("load task");
            samples.extend(s);
            created.extend(c);
        }
        samples.sort_by_key(|s| s.started);
        (samples, created)
    }
}

async fn sample(
    what: &'static str,
    client: &reqwest::Client,
    token: &str,
    method: Method,
    url: &str,
    body: Option<&Value>,
) -> Sample {
    let started = Instant::now();
    let (status, body) = match call(client, Some(token), method, url, body).await {
        Ok((status, body)) => (Some(status), body),
        Err(e) => (None, json!(e.to_string())),
    };
    Sample {
        started,
        took: started.elapsed(),
        what,
        status,
        body,
    }
}

/// Counts the samples by outcome.
fn outcomes<'a>(samples: impl IntoIterator<Item = &'a Sample>) -> Outcomes {
    let mut o = Outcomes::default();
    for s in samples {
        o.add(
            &s.status
                .map_or("no answer".to_owned(), |st| st.as_u16().to_string()),
        );
    }
    o
}

/// Asserts that no request of the load took longer than `limit` (a hang).
#[track_caller]
fn assert_no_hang(samples: &[Sample], limit: Duration) {
    if let Some(s) = samples.iter().max_by_key(|s| s.took) {
        assert!(
            s.took <= limit,
            "a {} request took {:?} (limit {limit:?}): {:?}",
            s.what,
            s.took,
            s.status
        );
    }
}

/// Asserts that every request of `samples` succeeded.
#[track_caller]
fn assert_all_ok<'a>(samples: impl IntoIterator<Item = &'a Sample>, when: &str) {
    for s in samples {
        assert!(
            s.status.is_some_and(|st| st.is_success()),
            "{when}: a {} request failed: {:?} {}",
            s.what,
            s.status,
            s.body
        );
    }
}

/// PostgreSQL restarted under load.
pub(crate) async fn postgres_restart() {
    let started = Instant::now();
    let Some(url) = harness::service_var("PYBASE_TEST_POSTGRES_URL") else {
        return;
    };
    let Some(cluster) = Cluster::find(&url) else {
        return;
    };
    let Some(mut setup) = Setup::new().await else {
        return;
    };
    let guard = ClusterGuard(&cluster);
    let pid = setup.server.pid();
    let load = Load::start(&setup);
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let down = Instant::now();
    let (ok, out) = cluster.ctl("restart").await;
    assert!(ok, "pg_ctlcluster restart failed: {out}");
    let up = Instant::now();
    // The first write that succeeds after the restart returned.
    let writes = setup.server.url(&setup.fx.records_path(""));
    let recovered = eventually(
        Duration::from_secs(30),
        "a write after the restart",
        || async {
            let body = json!({"fields": {"Note": "probe"}});
            matches!(
                call(
                    &setup.client,
                    Some(&setup.fx.token),
                    Method::POST,
                    &writes,
                    Some(&body)
                )
                .await,
                Ok((StatusCode::CREATED, _))
            )
        },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (samples, created) = load.finish().await;
    drop(guard);

    assert!(setup.server.running(), "pybase-server died");
    assert_eq!(setup.server.pid(), pid, "pybase-server was restarted");
    assert_no_hang(&samples, ACQUIRE_TIMEOUT + SLACK);
    assert_all_ok(
        samples.iter().filter(|s| s.started + s.took < down),
        "before the restart",
    );
    // Failures: only 503 `unavailable` in the error shape, and only for requests
    // sent before the database was back (pg_ctlcluster returns once it
    // accepts connections): a request sent after that must succeed, so
    // connections the restart killed may not be handed out again.
    for s in samples
        .iter()
        .filter(|s| !s.status.is_some_and(|st| st.is_success()))
    {
        assert_eq!(
            s.status,
            Some(StatusCode::SERVICE_UNAVAILABLE),
            "a {} request failed otherwise than with 503: {}",
            s.what,
            s.body
        );
        assert_error_shape(&s.body);
        assert_eq!(s.body["error"]["code"], "unavailable", "{}", s.body);
        assert!(
            s.started + s.took >= down && s.started < up,
            "a {} request sent {:?} after the restart returned failed: {:?} {}",
            s.what,
            s.started.saturating_duration_since(up),
            s.status,
            s.body
        );
    }
    assert_all_ok(
        samples.iter().filter(|s| s.started >= up),
        "after the restart",
    );
    let health = setup.health().await;
    assert_eq!(health["checks"]["database"], "ok", "{health}");

    let all = outcomes(&samples);
    // Requests in flight at some point while pg_ctlcluster was restarting.
    let during = outcomes(
        samples
            .iter()
            .filter(|s| s.started <= up && s.started + s.took >= down),
    );
    let failed: Vec<&Sample> = samples
        .iter()
        .filter(|s| !s.status.is_some_and(|st| st.is_success()))
        .collect();
    let last_failure =
        failed
            .iter()
            .map(|s| s.started + s.took)
            .max()
            .map_or("none".to_owned(), |t| {
                if t <= up {
                    format!("{:.1} s before it returned", (up - t).as_secs_f64())
                } else {
                    format!("{:.1} s after it returned", (t - up).as_secs_f64())
                }
            });
    let restart_took = up - down;
    let checked = setup.finish(&created).await;
    summary(
        "faults postgres-restart",
        &format!(
            "1 PostgreSQL restart under load (pg_ctlcluster restart took {:.1} s), {} requests tried ({}), {} in flight during the restart ({}), {} failed (last one ended {last_failure}), first write ok {:.1} s after it returned, 0 failures later, PyBase not restarted, {} records written and checked, 0 lost",
            restart_took.as_secs_f64(),
            thousands(all.total()),
            all.describe(),
            thousands(during.total()),
            during.describe(),
            failed.len(),
            recovered.as_secs_f64(),
            thousands(checked),
        ),
        started.elapsed(),
    );
}

/// Redis stopped and started under load.
pub(crate) async fn redis_outage() {
    let started = Instant::now();
    let Some(url) = harness::service_var("PYBASE_TEST_REDIS_URL") else {
        return;
    };
    let Some(redis) = RedisControl::find(&url) else {
        return;
    };
    let Some(mut setup) = Setup::new().await else {
        return;
    };
    let guard = RedisGuard(&redis);
    let pid = setup.server.pid();
    assert_eq!(setup.health().await["checks"]["cache"], "ok");
    let load = Load::start(&setup);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    // A failed login before the outage is counted in Redis, under our prefix.
    let victim = format!("nobody-{}@example.com", unique());
    let (status, ..) = setup.login(&victim, "wrong password").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        redis.keys(&setup.redis_prefix).await > 0,
        "no rate-limit key in Redis before the outage"
    );

    let down = Instant::now();
    redis.stop().await;
    let health_down = eventually(
        Duration::from_secs(10),
        "/health reporting the cache down",
        || async { setup.health().await["checks"]["cache"] == "down" },
    )
    .await;
    // Logins go on, each answered promptly.
    let mut logins = Outcomes::default();
    let mut slowest = Duration::ZERO;
    for _ in 0..3 {
        let (status, body, took) = setup.login(&setup.fx.email, PASSWORD).await;
        assert_eq!(status, StatusCode::OK, "login while Redis is down: {body}");
        logins.add("200");
        slowest = slowest.max(took);
    }
    // And are still throttled: 10 attempts per email, counted in this
    // instance while Redis is away.
    let target = format!("target-{}@example.com", unique());
    let mut throttled_after = None;
    for attempt in 1..=12u32 {
        let (status, body, took) = setup.login(&target, "wrong password").await;
        slowest = slowest.max(took);
        logins.add(status.as_str());
        if status == StatusCode::TOO_MANY_REQUESTS {
            assert_error_shape(&body);
            assert_eq!(body["error"]["code"], "rate_limited", "{body}");
            throttled_after = Some(attempt - 1);
            break;
        }
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    }
    assert_eq!(
        throttled_after,
        Some(10),
        "logins were not throttled after 10 failures while Redis was down"
    );
    // Revocation lives in the database: a logged-out refresh token stays dead.
    let (_, session, _) = setup.login(&setup.fx.email, PASSWORD).await;
    let refresh = session["refresh_token"]
        .as_str()
        .expect("refresh_token")
        .to_owned();
    let auth = |path: &str| setup.server.url(&format!("/api/v1/auth/{path}"));
    expect(
        &setup.client,
        None,
        Method::POST,
        &auth("logout"),
        Some(json!({"refresh_token": refresh})),
        StatusCode::NO_CONTENT,
    )
    .await;
    expect(
        &setup.client,
        None,
        Method::POST,
        &auth("refresh"),
        Some(json!({"refresh_token": refresh})),
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert!(
        slowest < Duration::from_secs(5),
        "a login took {slowest:?} while Redis was down"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;

    redis.start().await;
    let outage = down.elapsed();
    let health_up = eventually(
        Duration::from_secs(30),
        "/health reporting the cache ok again",
        || async { setup.health().await["checks"]["cache"] == "ok" },
    )
    .await;
    // Shared counting is back: a failed login lands in Redis again.
    eventually(
        Duration::from_secs(10),
        "a failed login counted in Redis again",
        || async {
            let (status, ..) = setup
                .login(&format!("later-{}@example.com", unique()), "wrong password")
                .await;
            assert_eq!(status, StatusCode::UNAUTHORIZED);
            redis.keys(&setup.redis_prefix).await > 0
        },
    )
    .await;
    let (status, body, _) = setup.login(&setup.fx.email, PASSWORD).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "login after Redis came back: {body}"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (samples, created) = load.finish().await;
    drop(guard);

    assert!(setup.server.running(), "pybase-server died");
    assert_eq!(setup.server.pid(), pid, "pybase-server was restarted");
    assert_no_hang(&samples, SLACK);
    assert_all_ok(&samples, "with Redis down or restarting");
    let all = outcomes(&samples);
    let checked = setup.finish(&created).await;
    summary(
        "faults redis-outage",
        &format!(
            "Redis stopped for {:.1} s under load, {} requests tried ({}), 0 failed; logins during the outage: {} (throttled after 10 failures, per instance), a logged-out refresh token refused; /health cache down after {:.1} s, ok {:.1} s after Redis restarted, PyBase not restarted; {} records written and checked, 0 lost",
            outage.as_secs_f64(),
            thousands(all.total()),
            all.describe(),
            logins.describe(),
            health_down.as_secs_f64(),
            health_up.as_secs_f64(),
            thousands(checked),
        ),
        started.elapsed(),
    );
}

/// The S3 server stopped and started under load.
pub(crate) async fn s3_outage() {
    let started = Instant::now();
    let Some(mut setup) = Setup::new().await else {
        return;
    };
    let pid = setup.server.pid();
    let load = Load::start(&setup);
    // Files stored before the outage.
    let mut stored: Vec<(String, Vec<u8>)> = Vec::new();
    for i in 0..3u8 {
        let bytes: Vec<u8> = (0..50_000u32).map(|n| (n % 251) as u8 ^ i).collect();
        let (status, body, _) = setup.upload(bytes.clone()).await;
        assert_eq!(
            status,
            StatusCode::CREATED,
            "upload before the outage: {body}"
        );
        stored.push((
            body["id"].as_str().expect("attachment id").to_owned(),
            bytes,
        ));
    }

    let down = Instant::now();
    setup.s3.stop();
    let mut refused = Outcomes::default();
    let mut slowest = Duration::ZERO;
    for _ in 0..3 {
        let (status, body, took) = setup.upload(b"during the outage".to_vec()).await;
        refused.add(status.as_str());
        slowest = slowest.max(took);
        assert_eq!(
            status,
            StatusCode::SERVICE_UNAVAILABLE,
            "an upload while S3 is down: {body}"
        );
        assert_error_shape(&body);
        assert_eq!(body["error"]["code"], "unavailable", "{body}");
    }
    // Metadata lives in the database; the bytes do not.
    let (id, _) = &stored[0];
    expect(
        &setup.client,
        Some(&setup.fx.token),
        Method::GET,
        &setup.server.url(&format!("/api/v1/attachments/{id}")),
        None,
        StatusCode::OK,
    )
    .await;
    let (status, _) = setup.content(id).await;
    refused.add(status.as_str());
    assert_eq!(
        status,
        StatusCode::SERVICE_UNAVAILABLE,
        "reading a file while S3 is down"
    );
    let health = setup.health().await;
    assert_eq!(health["checks"]["object_store"], "down", "{health}");
    assert_eq!(health["checks"]["database"], "ok", "{health}");

    setup.s3.restart().await;
    let outage = down.elapsed();
    let back = eventually(
        Duration::from_secs(30),
        "an upload after S3 came back",
        || async { setup.upload(b"after the outage".to_vec()).await.0 == StatusCode::CREATED },
    )
    .await;
    for (id, bytes) in &stored {
        let (status, got) = setup.content(id).await;
        assert_eq!(status, StatusCode::OK);
        assert!(&got == bytes, "attachment {id} changed across the outage");
    }
    let health = setup.health().await;
    assert_eq!(health["checks"]["object_store"], "ok", "{health}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (samples, created) = load.finish().await;

    assert!(setup.server.running(), "pybase-server died");
    assert_eq!(setup.server.pid(), pid, "pybase-server was restarted");
    assert_no_hang(&samples, SLACK);
    assert_all_ok(&samples, "with S3 down or restarting");
    let all = outcomes(&samples);
    let files = stored.len();
    let checked = setup.finish(&created).await;
    summary(
        "faults s3-outage",
        &format!(
            "S3 server stopped for {:.1} s under load, {} record requests tried ({}), 0 failed; uploads and file reads during the outage: {} (slowest {:.1} s); uploads ok again {:.1} s after its restart; {files} earlier files intact; PyBase not restarted; {} records written and checked, 0 lost",
            outage.as_secs_f64(),
            thousands(all.total()),
            all.describe(),
            refused.describe(),
            slowest.as_secs_f64(),
            back.as_secs_f64(),
            thousands(checked),
        ),
        started.elapsed(),
    );
}
