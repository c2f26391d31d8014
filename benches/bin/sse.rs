//! `pybase-sse`: the change stream at scale (issue 14) against a running
//! `pybase-server`.
//!
//! It registers a user, creates a workspace, a base and a table, then:
//!
//! 1. **Idle memory**: reads the server's `VmRSS` (`/proc/<pid>/status`),
//!    opens `--subscribers` SSE connections (`GET /api/v1/bases/{id}/events`,
//!    each on its own TCP connection, headers read), lets them sit idle for
//!    a second and reads `VmRSS` again: the difference over the number of
//!    connections is what an idle SSE connection costs the server. A warm-up
//!    of `--warmup` connections (opened and kept before the first reading)
//!    keeps the allocator's and runtime's one-time growth out of it.
//! 2. **Latency**: `--events` times, one record is created through the API
//!    (one connection, requests one after another, a short pause between),
//!    and each subscriber notes when that event's `id:` line arrives. The
//!    latency of a delivery is its arrival minus the moment the write's
//!    answer arrived (the commit happens before the answer, so this is a
//!    lower bound of commit-to-receipt by at most the answer's trip) and,
//!    as an upper bound, minus the moment the request was sent. The report
//!    gives p50, p99 and the maximum over every delivery (events ×
//!    subscribers) of both, and checks that every subscriber received every
//!    event once, in order.
//!
//! ```text
//! pybase-sse --url 127.0.0.1:18765 --pid <server pid> [--subscribers 1000]
//!     [--events 30] [--warmup 50]
//! ```
//!
//! `benches/sse.sh` builds and starts the server (SQLite, and PostgreSQL when
//! `PYBASE_TEST_POSTGRES_URL` is set) and runs this against it. Markdown to
//! stdout.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

struct Args {
    addr: String,
    pid: u32,
    subscribers: usize,
    events: usize,
    warmup: usize,
}

fn args() -> anyhow::Result<Args> {
    let mut a = Args {
        addr: "127.0.0.1:18765".to_owned(),
        pid: 0,
        subscribers: 1000,
        events: 30,
        warmup: 50,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--url" => a.addr = value.trim_start_matches("http://").to_owned(),
            "--pid" => a.pid = value.parse()?,
            "--subscribers" => a.subscribers = value.parse()?,
            "--events" => a.events = value.parse()?,
            "--warmup" => a.warmup = value.parse()?,
            other => bail!("unknown flag {other}"),
        }
    }
    if a.pid == 0 {
        bail!("--pid of the server is required (its memory is measured)");
    }
    Ok(a)
}

/// `VmRSS` of `pid` in KiB.
fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .context("no VmRSS in /proc/<pid>/status")
}

/// One keep-alive HTTP/1.1 connection for the setup and the writes.
struct Conn {
    stream: BufReader<TcpStream>,
    host: String,
}

impl Conn {
    async fn open(addr: &str) -> anyhow::Result<Self> {
        let stream = TcpStream::connect(addr)
            .await
            .with_context(|| format!("connecting to {addr}"))?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream: BufReader::new(stream),
            host: addr.to_owned(),
        })
    }

    /// A JSON request that must answer `want`; the answer's JSON.
    async fn json(
        &mut self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: &Value,
        want: u16,
    ) -> anyhow::Result<Value> {
        let payload = serde_json::to_vec(body)?;
        let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {}\r\n", self.host);
        if let Some(t) = token {
            req.push_str(&format!("Authorization: Bearer {t}\r\n"));
        }
        req.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            payload.len()
        ));
        let mut bytes = req.into_bytes();
        bytes.extend_from_slice(&payload);
        self.stream.get_mut().write_all(&bytes).await?;
        let (status, length) = read_head(&mut self.stream).await?;
        let mut body = vec![0; length.context("answer without Content-Length")?];
        self.stream.read_exact(&mut body).await?;
        if status != want {
            bail!(
                "{method} {path}: expected {want}, got {status}: {}",
                String::from_utf8_lossy(&body)
            );
        }
        Ok(serde_json::from_slice(&body)?)
    }
}

/// Reads a status line and headers: (status, Content-Length).
async fn read_head(stream: &mut BufReader<TcpStream>) -> anyhow::Result<(u16, Option<usize>)> {
    let mut line = String::new();
    if stream.read_line(&mut line).await? == 0 {
        bail!("connection closed");
    }
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("bad status line {line:?}"))?;
    let mut length = None;
    loop {
        line.clear();
        if stream.read_line(&mut line).await? == 0 {
            bail!("connection closed in headers");
        }
        let header = line.trim_end();
        if header.is_empty() {
            return Ok((status, length));
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = Some(value.trim().parse()?);
        }
    }
}

/// Opens one SSE subscription (headers read: the server holds it).
async fn subscribe(addr: &str, base: &str, token: &str) -> anyhow::Result<BufReader<TcpStream>> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let mut stream = BufReader::with_capacity(4096, stream);
    // What a browser's EventSource sends (gzip offered: the server must not
    // compress or buffer an event stream).
    let req = format!(
        "GET /api/v1/bases/{base}/events HTTP/1.1\r\nHost: {addr}\r\n\
         Authorization: Bearer {token}\r\nAccept: text/event-stream\r\n\
         Accept-Encoding: gzip, deflate, br\r\nCache-Control: no-cache\r\n\r\n"
    );
    stream.get_mut().write_all(req.as_bytes()).await?;
    let (status, _) = read_head(&mut stream).await?;
    if status != 200 {
        bail!("events: expected 200, got {status}");
    }
    Ok(stream)
}

/// Reads a subscription until `events` events arrived, sending each
/// event's (seq, arrival) to `out`. The body is chunked: chunk-size lines
/// are skipped, `id:` lines counted.
async fn listen(
    mut stream: BufReader<TcpStream>,
    events: usize,
    out: mpsc::UnboundedSender<(i64, Instant)>,
) -> anyhow::Result<()> {
    let mut line = String::new();
    let mut seen = 0;
    while seen < events {
        line.clear();
        if stream.read_line(&mut line).await? == 0 {
            bail!("the server closed an event stream");
        }
        if let Some(id) = line.strip_prefix("id:") {
            let at = Instant::now();
            let seq: i64 = id.trim().parse().context("event id")?;
            seen += 1;
            if out.send((seq, at)).is_err() {
                return Ok(());
            }
        }
    }
    Ok(())
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    // Nearest rank.
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let a = args()?;
    let mut conn = Conn::open(&a.addr).await?;
    let tag = pybase_core::ids::RecordId::new().as_str()[8..].to_ascii_lowercase();
    let session = conn
        .json(
            "POST",
            "/api/v1/auth/register",
            None,
            &json!({ "email": format!("sse-{tag}@example.com"), "password": "sse-bench-password", "name": "SSE" }),
            201,
        )
        .await?;
    let token: Arc<str> = session["access_token"]
        .as_str()
        .context("no access token")?
        .into();
    let t = Some(&*token);
    let ws = conn
        .json(
            "POST",
            "/api/v1/workspaces",
            t,
            &json!({ "name": format!("SSE {tag}") }),
            201,
        )
        .await?;
    let ws = ws["id"].as_str().context("workspace id")?;
    let base = conn
        .json(
            "POST",
            &format!("/api/v1/workspaces/{ws}/bases"),
            t,
            &json!({ "name": "SSE" }),
            201,
        )
        .await?;
    let base: Arc<str> = base["id"].as_str().context("base id")?.into();
    let table = conn
        .json(
            "POST",
            &format!("/api/v1/bases/{base}/tables"),
            t,
            &json!({ "name": "Items", "fields": [{ "name": "Name", "type": "text" }] }),
            201,
        )
        .await?;
    let table = table["id"].as_str().context("table id")?.to_owned();

    // 1. Idle memory.
    let mut streams = Vec::with_capacity(a.warmup + a.subscribers);
    for _ in 0..a.warmup {
        streams.push(subscribe(&a.addr, &base, &token).await?);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = rss_kib(a.pid)?;
    let opened = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..a.subscribers {
        let (addr, base, token) = (a.addr.clone(), Arc::clone(&base), Arc::clone(&token));
        tasks.spawn(async move { subscribe(&addr, &base, &token).await });
        // At most 64 connects in flight (the listen backlog).
        while tasks.len() >= 64 {
            if let Some(s) = tasks.join_next().await {
                streams.push(s??);
            }
        }
    }
    while let Some(s) = tasks.join_next().await {
        streams.push(s??);
    }
    let open_time = opened.elapsed();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = rss_kib(a.pid)?;
    let per_conn = (after.saturating_sub(before) as f64 * 1024.0) / a.subscribers as f64;

    // 2. Latency.
    let (tx, mut rx) = mpsc::unbounded_channel();
    let n = streams.len();
    let mut listeners = tokio::task::JoinSet::new();
    for s in streams {
        listeners.spawn(listen(s, a.events, tx.clone()));
    }
    drop(tx);
    let mut lower = Vec::with_capacity(a.events * n);
    let mut upper = Vec::with_capacity(a.events * n);
    let mut write_times = Vec::with_capacity(a.events);
    let mut last_seq_of: Vec<i64> = Vec::new();
    let path = format!("/api/v1/tables/{table}/records");
    for i in 0..a.events {
        let sent = Instant::now();
        conn.json(
            "POST",
            &path,
            t,
            &json!({ "fields": { "Name": format!("event {i}") } }),
            201,
        )
        .await?;
        let answered = Instant::now();
        write_times.push(answered - sent);
        let mut got = 0;
        let mut seq = None;
        while got < n {
            let (s, at) = tokio::time::timeout(Duration::from_secs(30), rx.recv())
                .await
                .context("an event did not reach every subscriber within 30 s")?
                .context("every subscriber stopped")?;
            match seq {
                None => seq = Some(s),
                Some(prev) if prev != s => bail!("event {s} arrived while {prev} was awaited"),
                Some(_) => {}
            }
            lower.push(at.saturating_duration_since(answered));
            upper.push(at - sent);
            got += 1;
        }
        last_seq_of.push(seq.unwrap_or_default());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    while let Some(done) = listeners.join_next().await {
        done??;
    }
    if last_seq_of.windows(2).any(|w| w[1] != w[0] + 1) {
        bail!("events were not consecutive: {last_seq_of:?}");
    }
    lower.sort();
    upper.sort();
    write_times.sort();
    println!(
        "| subscribers | events | deliveries | write p50 | commit→receipt p50 / p99 / max (from the write's answer) | same from the request sent | idle SSE connection (RSS delta / connections) | opening them |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    println!(
        "| {n} | {} | {} | {} | {} / {} / {} | {} / {} / {} | {:.1} KiB ({} → {} KiB) | {} |",
        a.events,
        lower.len(),
        ms(pct(&write_times, 50.0)),
        ms(pct(&lower, 50.0)),
        ms(pct(&lower, 99.0)),
        ms(pct(&lower, 100.0)),
        ms(pct(&upper, 50.0)),
        ms(pct(&upper, 99.0)),
        ms(pct(&upper, 100.0)),
        per_conn / 1024.0,
        before,
        after,
        ms(open_time),
    );
    Ok(())
}
