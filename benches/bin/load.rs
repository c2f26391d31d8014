//! A small HTTP load generator for a running `pybase-server`.
//!
//! It registers a user, creates a workspace, a base and a table of the
//! workload's six fields, seeds records, then runs each scenario for a fixed
//! time on N keep-alive connections (each connection sends its next request
//! as soon as the previous answer is read): GET one record, list a filtered
//! and sorted page, create single records, create batches of 100. It prints
//! and writes (as JSON) req/s, p50/p99 latency and the server's memory
//! (VmRSS before the load, VmHWM after it, from `/proc/<pid>/status`).
//!
//! The client is a minimal HTTP/1.1 writer and reader over tokio, so that
//! on a shared 2-core machine the generator costs as little CPU as possible.
//!
//! With `--ceiling-url` it also seeds a running `pybase-ceiling` (the raw
//! axum + driver server, `bin/ceiling.rs`) with the same rows and measures
//! its GET one record right after PyBase's, in the same run: the report
//! gives PyBase's GET as a share of that ceiling.
//!
//! Usage: `pybase-load --url http://127.0.0.1:8000 [--pid N] [--connections 32]
//! [--seconds 10] [--records 10000] [--backend sqlite] [--out http.json]
//! [--ceiling-url http://127.0.0.1:18766] [--ceiling-pid N] [--only list_page_v1,list_page_v0]
//! [--compare 5]`
//!
//! With `--compare R` it then measures the `/v0` costs of issue 13 side by
//! side: each pair of [`comparisons`] (a baseline and a candidate, e.g. the
//! native filter through `/api/v1` and the same filter as
//! `filterByFormula` through `/v0`) alternates in R rounds of `--seconds`
//! each, and the report gives the median over the rounds of the
//! candidate's cost over the baseline's (throughput ratio, p50 ratio and
//! the ratio of the server's CPU time per request, read from `--pid`'s
//! `/proc/<pid>/stat`), so the machine's drift between rounds cancels out.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use pybase_benches::data::row;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// One keep-alive HTTP/1.1 connection.
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
            stream: BufReader::with_capacity(64 * 1024, stream),
            host: addr.to_owned(),
        })
    }

    /// Sends one request and reads the whole answer: (status, body).
    async fn send(
        &mut self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&[u8]>,
    ) -> anyhow::Result<(u16, Vec<u8>)> {
        let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {}\r\n", self.host);
        if let Some(t) = token {
            req.push_str("Authorization: Bearer ");
            req.push_str(t);
            req.push_str("\r\n");
        }
        let mut bytes = req.into_bytes();
        match body {
            Some(b) => {
                bytes.extend_from_slice(
                    format!(
                        "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                        b.len()
                    )
                    .as_bytes(),
                );
                bytes.extend_from_slice(b);
            }
            None => bytes.extend_from_slice(b"\r\n"),
        }
        self.stream.get_mut().write_all(&bytes).await?;
        self.read_response().await
    }

    async fn read_response(&mut self) -> anyhow::Result<(u16, Vec<u8>)> {
        let mut line = String::new();
        if self.stream.read_line(&mut line).await? == 0 {
            bail!("connection closed");
        }
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .with_context(|| format!("bad status line {line:?}"))?;
        let mut length: Option<usize> = None;
        let mut chunked = false;
        loop {
            line.clear();
            if self.stream.read_line(&mut line).await? == 0 {
                bail!("connection closed in headers");
            }
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                let value = value.trim();
                if name.eq_ignore_ascii_case("content-length") {
                    length = Some(value.parse()?);
                } else if name.eq_ignore_ascii_case("transfer-encoding")
                    && value.eq_ignore_ascii_case("chunked")
                {
                    chunked = true;
                }
            }
        }
        let mut body = Vec::new();
        if chunked {
            loop {
                line.clear();
                self.stream.read_line(&mut line).await?;
                let size = usize::from_str_radix(line.trim(), 16)?;
                let mut chunk = vec![0; size + 2];
                self.stream.read_exact(&mut chunk).await?;
                chunk.truncate(size);
                body.extend_from_slice(&chunk);
                if size == 0 {
                    break;
                }
            }
        } else if let Some(n) = length {
            body.resize(n, 0);
            self.stream.read_exact(&mut body).await?;
        }
        Ok((status, body))
    }

    /// A JSON request that must answer `want`.
    async fn json(
        &mut self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: &Value,
        want: u16,
    ) -> anyhow::Result<Value> {
        let payload = serde_json::to_vec(body)?;
        let (status, answer) = self.send(method, path, token, Some(&payload)).await?;
        if status != want {
            bail!(
                "{method} {path}: expected {want}, got {status}: {}",
                String::from_utf8_lossy(&answer)
            );
        }
        Ok(serde_json::from_slice(&answer)?)
    }
}

/// Settings from the command line.
struct Args {
    addr: String,
    pid: Option<u32>,
    /// The ceiling's process, whose CPU its scenario reports (`--ceiling-pid`).
    ceiling_pid: Option<u32>,
    connections: usize,
    seconds: f64,
    records: usize,
    backend: String,
    out: Option<String>,
    ceiling: Option<String>,
    /// Only the scenarios of these names (`--only a,b`).
    only: Option<Vec<String>>,
    /// Rounds of each side-by-side comparison (`--compare R`; 0: none).
    compare: usize,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut args = Args {
        addr: "127.0.0.1:8000".to_owned(),
        pid: None,
        ceiling_pid: None,
        connections: 32,
        seconds: 10.0,
        records: 10_000,
        backend: "sqlite".to_owned(),
        out: None,
        ceiling: None,
        only: None,
        compare: 0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--url" => {
                args.addr = value
                    .trim_start_matches("http://")
                    .trim_end_matches('/')
                    .to_owned();
            }
            "--pid" => args.pid = Some(value.parse()?),
            "--ceiling-pid" => args.ceiling_pid = Some(value.parse()?),
            "--connections" => args.connections = value.parse()?,
            "--seconds" => args.seconds = value.parse()?,
            "--records" => args.records = value.parse()?,
            "--backend" => args.backend = value,
            "--out" => args.out = Some(value),
            "--ceiling-url" => {
                args.ceiling = Some(
                    value
                        .trim_start_matches("http://")
                        .trim_end_matches('/')
                        .to_owned(),
                );
            }
            "--only" => args.only = Some(value.split(',').map(str::to_owned).collect()),
            "--compare" => args.compare = value.parse()?,
            other => bail!("unknown flag {other}"),
        }
    }
    Ok(args)
}

/// A kB figure of `/proc/<pid>/status` (`VmRSS`, `VmHWM`).
fn proc_kb(pid: Option<u32>, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{}/status", pid?)).ok()?;
    text.lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

/// The CPU time the server process has used, in milliseconds (user +
/// system, from `/proc/<pid>/stat`, whose clock ticks are Linux's fixed
/// `USER_HZ` of 100 a second). Unlike latency it barely moves with the
/// load other processes put on a shared machine.
fn proc_cpu_ms(pid: Option<u32>) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{}/stat", pid?)).ok()?;
    // Fields after the command name, which is in parentheses: state is
    // the first, utime the 12th and stime the 13th.
    let rest = text.rsplit_once(')')?.1;
    let mut f = rest.split_whitespace().skip(11);
    let user: u64 = f.next()?.parse().ok()?;
    let system: u64 = f.next()?.parse().ok()?;
    Some((user + system) * 10)
}

/// What one scenario's request is.
#[derive(Clone)]
enum Scenario {
    Get {
        table: String,
        ids: Arc<Vec<String>>,
    },
    List {
        name: &'static str,
        path: String,
    },
    CreateOne {
        table: String,
    },
    CreateBatch {
        table: String,
        size: usize,
    },
    /// GET one record from `pybase-ceiling` (no token).
    CeilingGet {
        ids: Arc<Vec<String>>,
    },
}

impl Scenario {
    fn name(&self) -> &'static str {
        match self {
            Self::Get { .. } => "get_record",
            Self::List { name, .. } => name,
            Self::CreateOne { .. } => "create_single",
            Self::CreateBatch { .. } => "create_batch_100",
            Self::CeilingGet { .. } => "ceiling_get_record",
        }
    }
}

/// Runs `scenario` on one connection until `stop`; returns latencies (µs)
/// and the number of failed requests.
async fn worker(
    addr: String,
    token: Arc<str>,
    scenario: Scenario,
    stop: Arc<AtomicBool>,
    seed: u64,
) -> anyhow::Result<(Vec<u32>, u64)> {
    let mut conn = Conn::open(&addr).await?;
    let mut latencies = Vec::with_capacity(64 * 1024);
    let mut errors = 0;
    let mut i = seed;
    while !stop.load(Ordering::Relaxed) {
        i = i.wrapping_add(1);
        let start = Instant::now();
        let (status, want) = match &scenario {
            Scenario::Get { table, ids } => {
                let id = &ids[usize::try_from(i).unwrap_or(0) % ids.len()];
                let path = format!("/api/v1/tables/{table}/records/{id}");
                (conn.send("GET", &path, Some(&token), None).await?.0, 200)
            }
            Scenario::List { path, .. } => {
                (conn.send("GET", path, Some(&token), None).await?.0, 200)
            }
            Scenario::CeilingGet { ids } => {
                let id = &ids[usize::try_from(i).unwrap_or(0) % ids.len()];
                let path = format!("/records/{id}");
                (conn.send("GET", &path, None, None).await?.0, 200)
            }
            Scenario::CreateOne { table } => {
                let body = serde_json::to_vec(&json!({ "fields": row(i).named() }))?;
                let path = format!("/api/v1/tables/{table}/records");
                (
                    conn.send("POST", &path, Some(&token), Some(&body)).await?.0,
                    201,
                )
            }
            Scenario::CreateBatch { table, size } => {
                let records: Vec<Value> = (0..*size as u64)
                    .map(|k| json!({ "fields": row(i * 1000 + k).named() }))
                    .collect();
                let body = serde_json::to_vec(&json!({ "records": records }))?;
                let path = format!("/api/v1/tables/{table}/records");
                (
                    conn.send("POST", &path, Some(&token), Some(&body)).await?.0,
                    201,
                )
            }
        };
        let micros = u32::try_from(start.elapsed().as_micros()).unwrap_or(u32::MAX);
        if status == want {
            latencies.push(micros);
        } else {
            errors += 1;
        }
    }
    Ok((latencies, errors))
}

/// Runs one scenario on `connections` connections for `seconds`.
async fn run_scenario(
    args: &Args,
    token: &Arc<str>,
    scenario: Scenario,
    seconds: f64,
) -> anyhow::Result<Value> {
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    let (addr, pid) = match (&scenario, &args.ceiling) {
        (Scenario::CeilingGet { .. }, Some(ceiling)) => (ceiling.clone(), args.ceiling_pid),
        _ => (args.addr.clone(), args.pid),
    };
    for c in 0..args.connections {
        tasks.push(tokio::spawn(worker(
            addr.clone(),
            Arc::clone(token),
            scenario.clone(),
            Arc::clone(&stop),
            (c as u64) << 32,
        )));
    }
    let start = Instant::now();
    let cpu_before = proc_cpu_ms(pid);
    tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (lat, err) = t.await??;
        all.extend(lat);
        errors += err;
    }
    let elapsed = start.elapsed().as_secs_f64();
    // The server's CPU per answered request, in microseconds.
    #[allow(clippy::cast_precision_loss)]
    let cpu_us = match (cpu_before, proc_cpu_ms(pid)) {
        (Some(a), Some(b)) if !all.is_empty() => {
            Some(b.saturating_sub(a) as f64 * 1000.0 / all.len() as f64)
        }
        _ => None,
    };
    all.sort_unstable();
    let pct = |p: f64| -> f64 {
        if all.is_empty() {
            return f64::NAN;
        }
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )]
        let idx = ((all.len() - 1) as f64 * p).round() as usize;
        f64::from(all[idx]) / 1000.0
    };
    #[allow(clippy::cast_precision_loss)]
    let rps = all.len() as f64 / elapsed;
    let out = json!({
        "name": scenario.name(),
        "requests": all.len(),
        "errors": errors,
        "rps": rps,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "server_cpu_us_per_request": cpu_us,
    });
    println!(
        "{:<20} {:>9.0} req/s  p50 {:>7.2} ms  p99 {:>7.2} ms  server CPU {:>6.0} µs/req  errors {}",
        scenario.name(),
        rps,
        pct(0.50),
        pct(0.99),
        cpu_us.unwrap_or(f64::NAN),
        errors
    );
    Ok(out)
}

/// Seeds `pybase-ceiling` with the rows PyBase got (`row(0..records)`, by
/// field name) in batches of 1000; returns their ids.
async fn seed_ceiling(addr: &str, records: usize) -> anyhow::Result<Vec<String>> {
    let mut conn = Conn::open(addr).await?;
    let mut ids = Vec::with_capacity(records);
    let mut from = 0;
    while from < records {
        let to = (from + 1000).min(records);
        let batch: Vec<Value> = (from..to)
            .map(|i| json!({ "fields": row(i as u64).named() }))
            .collect();
        let made = conn
            .json("POST", "/records", None, &json!({ "records": batch }), 201)
            .await?;
        for r in made["records"].as_array().context("ceiling records")? {
            ids.push(r["id"].as_str().context("ceiling record id")?.to_owned());
        }
        from = to;
    }
    println!("seeded the ceiling with {} records", ids.len());
    Ok(ids)
}

/// The side-by-side comparisons of `--compare` (issue 13's speed
/// targets): (what, baseline, candidate), each a first page of 100 records
/// in creation order.
fn comparisons(base: &str, table: &str) -> Vec<(&'static str, Scenario, Scenario)> {
    let v1 = |name: &'static str, query: String| Scenario::List {
        name,
        path: format!("/api/v1/tables/{table}/records?page_size=100{query}"),
    };
    let v0 = |name: &'static str, query: String| Scenario::List {
        name,
        path: format!("/v0/{base}/{table}?pageSize=100{query}"),
    };
    let native = |f: &str| format!("&filter={}", percent_encode(f));
    let gt = r#"{"field":"Qty","op":"gt","value":500}"#;
    let gt_formula = "{Qty} > 500";
    let and = r#"{"and":[{"field":"Kind","op":"eq","value":"Nut"},{"field":"Qty","op":"gte","value":500}]}"#;
    let and_formula = "AND({Kind}='Nut', {Qty}>=500)";
    vec![
        (
            "page of 100: /v0 over /api/v1",
            v1("list_page_v1", String::new()),
            v0("list_page_v0", String::new()),
        ),
        (
            "Qty > 500: /v0 filterByFormula over /api/v1 filter",
            v1("filter_gt_v1", native(gt)),
            v0(
                "formula_gt_v0",
                format!("&filterByFormula={}", percent_encode(gt_formula)),
            ),
        ),
        (
            "Qty > 500: /api/v1 formula over /api/v1 filter",
            v1("filter_gt_v1", native(gt)),
            v1(
                "formula_gt_v1",
                format!("&formula={}", percent_encode(gt_formula)),
            ),
        ),
        (
            "Kind = Nut AND Qty >= 500: /v0 filterByFormula over /api/v1 filter",
            v1("filter_and_v1", native(and)),
            v0(
                "formula_and_v0",
                format!("&filterByFormula={}", percent_encode(and_formula)),
            ),
        ),
    ]
}

/// The median of `v` (NaN when empty).
fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Runs `baseline` and `candidate` alternately for `args.compare` rounds
/// (the order flips each round) and reports the candidate's cost over the
/// baseline's: medians of the rounds' throughput, p50 and server CPU ratios.
async fn compare(
    args: &Args,
    token: &Arc<str>,
    what: &str,
    baseline: Scenario,
    candidate: Scenario,
) -> anyhow::Result<Value> {
    // Both sides must answer the same records, or the ratio means nothing.
    let mut conn = Conn::open(&args.addr).await?;
    let mut ids = Vec::new();
    for s in [&baseline, &candidate] {
        let Scenario::List { path, .. } = s else {
            bail!("{what}: only list scenarios are compared");
        };
        let (status, body) = conn.send("GET", path, Some(token), None).await?;
        if status != 200 {
            bail!("{what}: GET {path} answered {status}");
        }
        let v: Value = serde_json::from_slice(&body)?;
        let list = v.get("items").or_else(|| v.get("records"));
        let got: Vec<String> = list
            .and_then(Value::as_array)
            .context("no records in the answer")?
            .iter()
            .filter_map(|r| r["id"].as_str().map(str::to_owned))
            .collect();
        ids.push(got);
    }
    if ids[0] != ids[1] || ids[0].len() != 100 {
        bail!(
            "{what}: the two sides answer different pages ({} and {} records)",
            ids[0].len(),
            ids[1].len()
        );
    }
    drop(conn);
    let mut by_rps = Vec::new();
    let mut by_p50 = Vec::new();
    let mut by_cpu = Vec::new();
    let mut rounds = Vec::new();
    for round in 0..args.compare {
        let (b, c) = if round % 2 == 0 {
            let b = run_scenario(args, token, baseline.clone(), args.seconds).await?;
            let c = run_scenario(args, token, candidate.clone(), args.seconds).await?;
            (b, c)
        } else {
            let c = run_scenario(args, token, candidate.clone(), args.seconds).await?;
            let b = run_scenario(args, token, baseline.clone(), args.seconds).await?;
            (b, c)
        };
        let f = |v: &Value, k: &str| v[k].as_f64().unwrap_or(f64::NAN);
        by_rps.push(f(&b, "rps") / f(&c, "rps"));
        by_p50.push(f(&c, "p50_ms") / f(&b, "p50_ms"));
        by_cpu.push(f(&c, "server_cpu_us_per_request") / f(&b, "server_cpu_us_per_request"));
        rounds.push(json!({ "baseline": b, "candidate": c }));
    }
    let (rps, p50, cpu) = (median(by_rps), median(by_p50), median(by_cpu));
    println!(
        "{what}: cost {rps:.2}x by throughput, {p50:.2}x by p50, {cpu:.2}x by server CPU per request (median of {} rounds)",
        args.compare
    );
    Ok(json!({
        "what": what,
        "baseline": baseline.name(),
        "candidate": candidate.name(),
        "cost_by_rps": rps,
        "cost_by_p50": p50,
        "cost_by_server_cpu": cpu,
        "rounds": rounds,
    }))
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    // The server has just started and answered its health check: idle.
    let idle_rss = proc_kb(args.pid, "VmRSS:");
    let mut conn = Conn::open(&args.addr).await?;
    let tag = pybase_core::ids::RecordId::new().as_str()[8..].to_ascii_lowercase();
    let session = conn
        .json(
            "POST",
            "/api/v1/auth/register",
            None,
            &json!({ "email": format!("load-{tag}@example.com"), "password": "load-test-password", "name": "Load" }),
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
            &json!({ "name": format!("Load {tag}") }),
            201,
        )
        .await?;
    let ws = ws["id"].as_str().context("workspace id")?;
    let base = conn
        .json(
            "POST",
            &format!("/api/v1/workspaces/{ws}/bases"),
            t,
            &json!({ "name": "Load" }),
            201,
        )
        .await?;
    let base = base["id"].as_str().context("base id")?;
    let table = conn
        .json(
            "POST",
            &format!("/api/v1/bases/{base}/tables"),
            t,
            &json!({ "name": "Parts", "fields": [
                { "name": "Part", "type": "text" },
                { "name": "Qty", "type": "number", "options": { "precision": 0 } },
                { "name": "Price", "type": "currency", "options": { "symbol": "$", "precision": 2 } },
                { "name": "In stock", "type": "checkbox" },
                { "name": "Kind", "type": "single_select", "options": { "choices": pybase_benches::data::KINDS } },
                { "name": "Notes", "type": "long_text" },
            ]}),
            201,
        )
        .await?;
    let table = table["id"].as_str().context("table id")?.to_owned();
    // A view that filters and sorts indexes Qty and Price, as a user would.
    conn.json(
        "POST",
        &format!("/api/v1/tables/{table}/views"),
        t,
        &json!({ "name": "Big orders", "type": "grid", "config": {
            "filter": { "field": "Qty", "op": "gt", "value": 500 }, "sort": "-Price" } }),
        201,
    )
    .await?;
    let mut ids = Vec::with_capacity(args.records);
    let mut from = 0;
    while from < args.records {
        let to = (from + 1000).min(args.records);
        let records: Vec<Value> = (from..to)
            .map(|i| json!({ "fields": row(i as u64).named() }))
            .collect();
        let made = conn
            .json(
                "POST",
                &format!("/api/v1/tables/{table}/records"),
                t,
                &json!({ "records": records }),
                201,
            )
            .await?;
        for r in made["records"].as_array().context("records")? {
            ids.push(r["id"].as_str().context("record id")?.to_owned());
        }
        from = to;
    }
    drop(conn);
    println!("seeded {} records in table {table}", ids.len());
    let seeded_rss = proc_kb(args.pid, "VmRSS:");
    let ceiling_ids = match &args.ceiling {
        Some(addr) => Some(seed_ceiling(addr, args.records).await?),
        None => None,
    };

    let filter = percent_encode(r#"{"field":"Qty","op":"gt","value":500}"#);
    let mut scenarios = vec![Scenario::Get {
        table: table.clone(),
        ids: Arc::new(ids),
    }];
    if let Some(ids) = ceiling_ids {
        scenarios.push(Scenario::CeilingGet { ids: Arc::new(ids) });
    }
    scenarios.extend([
        Scenario::List {
            name: "list_filtered_page",
            path: format!(
                "/api/v1/tables/{table}/records?filter={filter}&sort=-Price&page_size=100"
            ),
        },
        Scenario::CreateOne {
            table: table.clone(),
        },
        Scenario::CreateBatch {
            table: table.clone(),
            size: 100,
        },
        // The same first page of 100 records (creation order) through
        // /api/v1 and through the Airtable-compatible /v0, twice each,
        // alternately (run the server with AIRTABLE_RATE_LIMIT_PER_BASE=0).
        Scenario::List {
            name: "list_page_v1",
            path: format!("/api/v1/tables/{table}/records?page_size=100"),
        },
        Scenario::List {
            name: "list_page_v0",
            path: format!("/v0/{base}/{table}?pageSize=100"),
        },
        Scenario::List {
            name: "list_page_v1",
            path: format!("/api/v1/tables/{table}/records?page_size=100"),
        },
        Scenario::List {
            name: "list_page_v0",
            path: format!("/v0/{base}/{table}?pageSize=100"),
        },
    ]);
    let mut results = Vec::new();
    for s in scenarios.iter().cloned() {
        if args
            .only
            .as_ref()
            .is_some_and(|only| !only.iter().any(|o| o == s.name()))
        {
            continue;
        }
        results.push(run_scenario(&args, &token, s, args.seconds).await?);
    }
    let mut compared = Vec::new();
    if args.compare > 0 {
        for (name, baseline, candidate) in comparisons(base, &table) {
            compared.push(compare(&args, &token, name, baseline, candidate).await?);
        }
    }
    // The share of the ceiling: the machine's load drifts between two long
    // runs, so PyBase's GET and the ceiling's alternate in three short
    // pairs and the median of the pairs' ratios is reported.
    let mut pairs = Vec::new();
    if let [
        get @ Scenario::Get { .. },
        ceiling @ Scenario::CeilingGet { .. },
        ..,
    ] = &scenarios[..]
    {
        let slice = (args.seconds / 3.0).max(1.0);
        for _ in 0..3 {
            let p = run_scenario(&args, &token, get.clone(), slice).await?;
            let c = run_scenario(&args, &token, ceiling.clone(), slice).await?;
            if let (Some(p), Some(c)) = (p["rps"].as_f64(), c["rps"].as_f64())
                && c > 0.0
            {
                pairs.push(p / c);
            }
        }
    }
    pairs.sort_by(f64::total_cmp);
    let peak = proc_kb(args.pid, "VmHWM:");
    let rate = |name: &str| {
        results
            .iter()
            .find(|r| r["name"] == name)
            .and_then(|r| r["rps"].as_f64())
    };
    let long_share = match (rate("get_record"), rate("ceiling_get_record")) {
        (Some(p), Some(c)) if c > 0.0 => Some(p / c),
        _ => None,
    };
    let share = pairs.get(pairs.len() / 2).copied();
    if let Some(share) = share {
        println!(
            "GET one record: PyBase at {:.0}% of the ceiling (median of alternating pairs {pairs:.2?}; \
             {:.0}% over the long runs)",
            share * 100.0,
            long_share.unwrap_or(f64::NAN) * 100.0
        );
    }
    let report = json!({
        "backend": args.backend,
        "connections": args.connections,
        "seconds": args.seconds,
        "seeded_records": args.records,
        "idle_rss_kb": idle_rss,
        "seeded_rss_kb": seeded_rss,
        "peak_rss_kb": peak,
        "scenarios": results,
        "get_share_of_ceiling": share,
        "get_share_pairs": pairs,
        "get_share_long_runs": long_share,
        "comparisons": compared,
    });
    println!(
        "server memory: idle {idle_rss:?} kB, after seeding {seeded_rss:?} kB, peak {peak:?} kB"
    );
    if let Some(out) = &args.out {
        std::fs::write(out, serde_json::to_string_pretty(&report)?)
            .with_context(|| format!("writing {out}"))?;
    }
    Ok(())
}
