//! The change log over HTTP: catch-up pages, the SSE stream (resumed after
//! cuts, fed by concurrent writers, across two instances sharing
//! PostgreSQL and Redis), history and revert.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::StreamExt as _;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{SendExpect, TestServer, settings_in};
use crate::require_service;

/// One Server-Sent Event as received.
#[derive(Debug, Clone)]
struct Sse {
    id: i64,
    kind: String,
    data: Value,
}

/// A minimal SSE client: reads events of `base` from `server`, resuming
/// after `last` (`Last-Event-ID`), and gives up the connection after
/// `cut_after` events (as a dropped network would), or once `until` seq is
/// seen. Answers the events read.
async fn read_events(
    server: &TestServer,
    token: &str,
    base: &str,
    last: i64,
    cut_after: usize,
    until: i64,
) -> Vec<Sse> {
    let r = server
        .req(token, Method::GET, &format!("/api/v1/bases/{base}/events"))
        .header("Last-Event-ID", last.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let mut body = r.bytes_stream();
    let mut buf = String::new();
    let mut out = Vec::new();
    loop {
        while let Some(end) = buf.find("\n\n") {
            let frame: String = buf.drain(..end + 2).collect();
            let mut fields: BTreeMap<&str, String> = BTreeMap::new();
            for line in frame.lines() {
                if line.starts_with(':') || line.is_empty() {
                    continue;
                }
                let (k, v) = line.split_once(':').unwrap_or((line, ""));
                fields.insert(k, v.strip_prefix(' ').unwrap_or(v).to_owned());
            }
            assert_ne!(
                fields.get("event").map(String::as_str),
                Some("error"),
                "the stream failed: {fields:?}"
            );
            let Some(id) = fields.get("id") else { continue };
            let e = Sse {
                id: id.parse().unwrap(),
                kind: fields["event"].clone(),
                data: serde_json::from_str(&fields["data"]).unwrap(),
            };
            let done = e.id >= until;
            out.push(e);
            if out.len() >= cut_after || done {
                return out;
            }
        }
        let chunk = tokio::time::timeout(Duration::from_secs(30), body.next())
            .await
            .expect("an event within 30 s")
            .expect("the stream stays open")
            .unwrap();
        buf.push_str(std::str::from_utf8(&chunk).unwrap());
    }
}

/// A signed-in owner with a base and table, and a viewer of it.
struct World {
    owner: String,
    viewer: String,
    outsider: String,
    base: String,
    table: String,
}

async fn world(s: &TestServer) -> World {
    let (owner, _) = s.register().await;
    let ws = s.workspace(&owner).await;
    let (base, table) = s.table(&owner, &ws).await;
    let mail = crate::common::email();
    let (viewer, _) = s.register_as(&mail, "correct horse battery").await;
    s.add_member(&owner, &ws, &mail, "viewer").await;
    let (outsider, _) = s.register().await;
    World {
        owner,
        viewer,
        outsider,
        base,
        table,
    }
}

/// A fresh PostgreSQL database on the server of `url` (dropped with the
/// answer's first part) and its URL: tests that add rows under their own
/// migrations never touch the shared database.
pub(crate) async fn fresh_postgres(url: &str) -> (pybase_store_postgres::testkit::TestDb, String) {
    let db = pybase_store_postgres::testkit::TestDb::new(url).await;
    let mut u = url::Url::parse(url).unwrap();
    u.set_path(&format!("/{}", db.name));
    (db, u.to_string())
}

pub(crate) async fn last_seq(s: &TestServer, token: &str, base: &str) -> i64 {
    s.req(
        token,
        Method::GET,
        &format!("/api/v1/bases/{base}/changes?after=0&page_size=1"),
    )
    .send_expect(StatusCode::OK)
    .await["last_seq"]
        .as_i64()
        .unwrap()
}

#[tokio::test]
async fn changes_page_in_order_with_viewer_access_and_clear_errors() {
    let s = TestServer::start().await;
    let w = world(&s).await;
    for i in 0..5 {
        s.req(
            &w.owner,
            Method::POST,
            &format!("/api/v1/tables/{}/records", w.table),
        )
        .json(&json!({"fields": {"Name": format!("r{i}"), "Qty": i}}))
        .send_expect(StatusCode::CREATED)
        .await;
    }
    // table.created + 3 field.created + 5 record.created.
    let mut seen = Vec::new();
    let mut cursor: Option<i64> = None;
    loop {
        let q = cursor.map_or("page_size=4".to_owned(), |c| {
            format!("page_size=4&cursor={c}")
        });
        let page = s
            .req(
                &w.viewer,
                Method::GET,
                &format!("/api/v1/bases/{}/changes?{q}", w.base),
            )
            .send_expect(StatusCode::OK)
            .await;
        assert_eq!(page["last_seq"], json!(9));
        for e in page["items"].as_array().unwrap() {
            seen.push((
                e["seq"].as_i64().unwrap(),
                e["kind"].as_str().unwrap().to_owned(),
            ));
        }
        match page["next_cursor"].as_i64() {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    let seqs: Vec<i64> = seen.iter().map(|(s, _)| *s).collect();
    assert_eq!(seqs, (1..=9).collect::<Vec<_>>());
    assert_eq!(seen[0].1, "table.created");
    assert_eq!(seen[8].1, "record.created");
    s.req(
        &w.outsider,
        Method::GET,
        &format!("/api/v1/bases/{}/changes", w.base),
    )
    .send_expect_error(StatusCode::NOT_FOUND, "not_found")
    .await;
    s.req(
        &w.outsider,
        Method::GET,
        &format!("/api/v1/bases/{}/events", w.base),
    )
    .send_expect_error(StatusCode::NOT_FOUND, "not_found")
    .await;
    let e = s
        .req(
            &w.viewer,
            Method::GET,
            &format!("/api/v1/bases/{}/changes?after=-3", w.base),
        )
        .send_expect_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
        .await;
    assert!(e["error"]["details"]["fields"]["after"].is_string(), "{e}");
    let e = s
        .req(
            &w.viewer,
            Method::GET,
            &format!("/api/v1/bases/{}/events", w.base),
        )
        .header("Last-Event-ID", "soon")
        .send_expect_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
        .await;
    assert!(
        e["error"]["details"]["fields"]["Last-Event-ID"].is_string(),
        "{e}"
    );
}

#[tokio::test]
async fn history_is_newest_first_and_revert_is_a_new_update() {
    let s = TestServer::start().await;
    let w = world(&s).await;
    let rec = s
        .req(
            &w.owner,
            Method::POST,
            &format!("/api/v1/tables/{}/records", w.table),
        )
        .json(&json!({"fields": {"Name": "first", "Qty": 1}}))
        .send_created_id()
        .await;
    let path = format!("/api/v1/tables/{}/records/{rec}", w.table);
    s.req(&w.owner, Method::PATCH, &path)
        .json(&json!({"fields": {"Name": "second", "Qty": 2}}))
        .send_expect(StatusCode::OK)
        .await;
    let history = s
        .req(&w.viewer, Method::GET, &format!("{path}/history"))
        .send_expect(StatusCode::OK)
        .await;
    let items = history["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["kind"], "record.updated");
    assert_eq!(items[1]["kind"], "record.created");
    let created = items[1]["seq"].as_i64().unwrap();
    s.req(&w.viewer, Method::POST, &format!("{path}/revert"))
        .json(&json!({"seq": created}))
        .send_expect_error(StatusCode::FORBIDDEN, "forbidden")
        .await;
    let back = s
        .req(&w.owner, Method::POST, &format!("{path}/revert"))
        .json(&json!({"seq": created}))
        .send_expect(StatusCode::OK)
        .await;
    assert_eq!(back["fields"]["Name"], "first");
    assert_eq!(back["fields"]["Qty"], json!(1));
    s.req(&w.owner, Method::POST, &format!("{path}/revert"))
        .json(&json!({"seq": 999_999}))
        .send_expect_error(StatusCode::NOT_FOUND, "not_found")
        .await;
    s.req(&w.owner, Method::POST, &format!("{path}/revert"))
        .json(&json!({"sequence": created}))
        .send_expect_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
        .await;
    let history = s
        .req(
            &w.viewer,
            Method::GET,
            &format!("{path}/history?page_size=1"),
        )
        .send_expect(StatusCode::OK)
        .await;
    assert_eq!(history["items"][0]["kind"], "record.updated");
    assert_eq!(
        history["items"][0]["after"].as_object().unwrap().len(),
        2,
        "{history}"
    );
    assert!(history["next_cursor"].is_i64());
    // An empty cursor (a client that always sends one) is the first page,
    // as on every list; one that is not a number is 400.
    let first = s
        .req(&w.viewer, Method::GET, &format!("{path}/history?cursor="))
        .send_expect(StatusCode::OK)
        .await;
    assert_eq!(first["items"][0]["kind"], "record.updated");
    let base = &w.base;
    let changes = s
        .req(
            &w.viewer,
            Method::GET,
            &format!("/api/v1/bases/{base}/changes?cursor=&after="),
        )
        .send_expect(StatusCode::OK)
        .await;
    assert_eq!(changes["items"][0]["seq"], json!(1), "{changes}");
    s.req(
        &w.viewer,
        Method::GET,
        &format!("/api/v1/bases/{base}/changes?cursor=x"),
    )
    .send_expect(StatusCode::BAD_REQUEST)
    .await;
}

/// Creates `count` records in `table` through `server`, one request each.
async fn write(server: &TestServer, token: &str, table: &str, writer: usize, count: usize) {
    for i in 0..count {
        server
            .req(
                token,
                Method::POST,
                &format!("/api/v1/tables/{table}/records"),
            )
            .json(&json!({"fields": {"Name": format!("w{writer}-{i}")}}))
            .send_expect(StatusCode::CREATED)
            .await;
    }
}

/// Reads the stream from `start` until `until`, over `servers` in turn,
/// cutting the connection every `cut` events; checks every seq comes once,
/// in order.
async fn follow(
    servers: &[&TestServer],
    token: &str,
    base: &str,
    start: i64,
    until: i64,
    cut: usize,
) -> Vec<Sse> {
    let mut all: Vec<Sse> = Vec::new();
    let mut last = start;
    let mut connections = 0;
    while last < until {
        let server = servers[connections % servers.len()];
        connections += 1;
        let got = read_events(server, token, base, last, cut, until).await;
        for e in got {
            assert_eq!(e.id, last + 1, "gap or repeat after {last}");
            assert_eq!(e.data["seq"], json!(e.id));
            assert_eq!(e.data["kind"], json!(e.kind));
            last = e.id;
            all.push(e);
        }
    }
    assert!(connections > 3, "the stream was never cut");
    all
}

const WRITERS: usize = 8;
/// Writes per writer (issue 14: 8 writers of 1,000 writes each).
const WRITES: usize = 1000;

#[tokio::test]
async fn the_stream_gets_every_event_of_eight_writers_once_in_order_across_cuts() {
    let s = std::sync::Arc::new(TestServer::start().await);
    let w = world(&s).await;
    let start = last_seq(&s, &w.owner, &w.base).await;
    let until = start + i64::try_from(WRITERS * WRITES).unwrap();
    let writers: Vec<_> = (0..WRITERS)
        .map(|n| {
            let s = std::sync::Arc::clone(&s);
            let (token, table) = (w.owner.clone(), w.table.clone());
            tokio::spawn(async move { write(&s, &token, &table, n, WRITES).await })
        })
        .collect();
    let events = follow(&[&s], &w.viewer, &w.base, start, until, 1500).await;
    for t in writers {
        t.await.unwrap();
    }
    assert_eq!(events.len(), WRITERS * WRITES);
    assert!(events.iter().all(|e| e.kind == "record.created"));
    // Each writer's records arrive in the order it wrote them.
    for n in 0..WRITERS {
        let names: Vec<String> = events
            .iter()
            .filter_map(|e| e.data["after"].as_object())
            .flat_map(|cells| cells.values())
            .filter_map(Value::as_str)
            .filter(|v| v.starts_with(&format!("w{n}-")))
            .map(str::to_owned)
            .collect();
        let want: Vec<String> = (0..WRITES).map(|i| format!("w{n}-{i}")).collect();
        assert_eq!(names, want);
    }
    assert_eq!(last_seq(&s, &w.owner, &w.base).await, until);
}

#[tokio::test]
async fn two_instances_on_one_postgres_and_redis_stream_every_event() {
    let pg = require_service!("PYBASE_TEST_POSTGRES_URL");
    let redis = require_service!("PYBASE_TEST_REDIS_URL");
    let (_db, pg) = fresh_postgres(&pg).await;
    let dir = tempfile::tempdir().unwrap();
    let mut settings = settings_in(dir.path());
    settings.database_url = pg;
    settings.redis_url = Some(redis);
    let a = std::sync::Arc::new(TestServer::start_with(settings.clone()).await);
    let b = std::sync::Arc::new(TestServer::start_with(settings).await);
    let w = world(&a).await;
    // A commit on b reaches a stream on a through Redis well before the
    // streams' own poll of the log (5 s) would find it.
    let start = last_seq(&a, &w.owner, &w.base).await;
    let probe = {
        let (a, token, base) = (std::sync::Arc::clone(&a), w.viewer.clone(), w.base.clone());
        tokio::spawn(async move {
            let t0 = std::time::Instant::now();
            let got = read_events(&a, &token, &base, start, 1, start + 1).await;
            (got, t0.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    write(&b, &w.owner, &w.table, 0, 1).await;
    let (got, waited) = probe.await.unwrap();
    assert_eq!(got[0].id, start + 1);
    assert!(
        waited < Duration::from_secs(4),
        "woken by the log's poll, not by Redis: {waited:?}"
    );
    // Eight writers over both instances, a reader switching between them.
    let start = start + 1;
    let until = start + i64::try_from(WRITERS * WRITES).unwrap();
    let writers: Vec<_> = (0..WRITERS)
        .map(|n| {
            let s = if n % 2 == 0 {
                std::sync::Arc::clone(&a)
            } else {
                std::sync::Arc::clone(&b)
            };
            let (token, table) = (w.owner.clone(), w.table.clone());
            tokio::spawn(async move { write(&s, &token, &table, n, WRITES).await })
        })
        .collect();
    let events = follow(&[&a, &b], &w.viewer, &w.base, start, until, 1200).await;
    for t in writers {
        t.await.unwrap();
    }
    assert_eq!(events.len(), WRITERS * WRITES);
}

/// The frames of an open SSE response until it ends or `stop` says so:
/// `(event, data)` pairs, keep-alive comments left out.
pub(crate) async fn frames_until(
    r: reqwest::Response,
    stop: impl Fn(&[(String, String)]) -> bool,
) -> Vec<(String, String)> {
    let mut body = r.bytes_stream();
    let mut buf = String::new();
    let mut out = Vec::new();
    loop {
        while let Some(end) = buf.find("\n\n") {
            let frame: String = buf.drain(..end + 2).collect();
            let mut fields: BTreeMap<&str, String> = BTreeMap::new();
            for line in frame
                .lines()
                .filter(|l| !l.starts_with(':') && !l.is_empty())
            {
                let (k, v) = line.split_once(':').unwrap_or((line, ""));
                fields.insert(k, v.strip_prefix(' ').unwrap_or(v).to_owned());
            }
            if let Some(kind) = fields.get("event") {
                out.push((
                    kind.clone(),
                    fields.get("data").cloned().unwrap_or_default(),
                ));
                if stop(&out) {
                    return out;
                }
            }
        }
        match tokio::time::timeout(Duration::from_secs(30), body.next())
            .await
            .expect("a frame or the end within 30 s")
        {
            Some(chunk) => buf.push_str(std::str::from_utf8(&chunk.unwrap()).unwrap()),
            None => return out,
        }
    }
}

/// A stream opened with an API key ends once the key is deleted: the next
/// event is not delivered, an `error` event (401) is, and the stream closes
/// (a revocation makes the stream check its credential again at once;
/// found by review: a deleted key, a logout or an expired token kept
/// receiving events, first for good, then for up to 5 s).
#[tokio::test]
async fn a_stream_ends_when_its_api_key_is_deleted() {
    let s = TestServer::start().await;
    let w = world(&s).await;
    let made = s
        .req(&w.owner, Method::POST, "/api/v1/api-keys")
        .json(&json!({"name": "stream", "scopes": ["read"]}))
        .send_expect(StatusCode::CREATED)
        .await;
    let key = made["key"].as_str().unwrap().to_owned();
    let key_id = made["id"].as_str().unwrap().to_owned();
    let r = s
        .anon(Method::GET, &format!("/api/v1/bases/{}/events", w.base))
        .header("x-api-key", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let write = |name: &'static str| {
        s.req(
            &w.owner,
            Method::POST,
            &format!("/api/v1/tables/{}/records", w.table),
        )
        .json(&json!({"fields": {"Name": name}}))
        .send_expect(StatusCode::CREATED)
    };
    let reading = tokio::spawn(frames_until(r, |f| f.len() >= 2));
    write("sent-while-valid").await;
    // Delivered while the key works; then the key is deleted, and the
    // stream ends at once (no wait for the 5 s periodic check): the next
    // event does not go out.
    tokio::time::sleep(Duration::from_millis(500)).await;
    s.req(
        &w.owner,
        Method::DELETE,
        &format!("/api/v1/api-keys/{key_id}"),
    )
    .send_expect(StatusCode::NO_CONTENT)
    .await;
    write("sent-once-deleted").await;
    let frames = reading.await.unwrap();
    assert_eq!(frames.len(), 2, "{frames:?}");
    assert_eq!(frames[0].0, "record.created");
    assert!(frames[0].1.contains("sent-while-valid"), "{frames:?}");
    assert_eq!(frames[1].0, "error", "{frames:?}");
    assert!(frames[1].1.contains("unauthorized"), "{frames:?}");
    assert!(
        !frames.iter().any(|f| f.1.contains("sent-once-deleted")),
        "{frames:?}"
    );
}

/// A cursor beyond the log's newest seq names no event that was ever given
/// out: 422 naming it (`after`, or `Last-Event-ID` when it came in the
/// header), on the catch-up page and the stream alike; the newest seq
/// itself is fine (nothing after it yet).
#[tokio::test]
async fn cursors_beyond_the_log_are_refused() {
    let s = TestServer::start().await;
    let w = world(&s).await;
    s.req(
        &w.owner,
        Method::POST,
        &format!("/api/v1/tables/{}/records", w.table),
    )
    .json(&json!({"fields": {"Name": "a"}}))
    .send_expect(StatusCode::CREATED)
    .await;
    let last = last_seq(&s, &w.owner, &w.base).await;
    let page = s
        .req(
            &w.viewer,
            Method::GET,
            &format!("/api/v1/bases/{}/changes?after={last}", w.base),
        )
        .send_expect(StatusCode::OK)
        .await;
    assert_eq!(page["items"], json!([]));
    let beyond = last + 5;
    let e = s
        .req(
            &w.viewer,
            Method::GET,
            &format!("/api/v1/bases/{}/changes?after={beyond}", w.base),
        )
        .send_expect_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
        .await;
    let said = e["error"]["details"]["fields"]["after"].as_str().unwrap();
    assert!(said.contains(&last.to_string()), "{e}");
    let e = s
        .req(
            &w.viewer,
            Method::GET,
            &format!("/api/v1/bases/{}/events?after={beyond}", w.base),
        )
        .send_expect_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
        .await;
    assert!(e["error"]["details"]["fields"]["after"].is_string(), "{e}");
    let e = s
        .req(
            &w.viewer,
            Method::GET,
            &format!("/api/v1/bases/{}/events", w.base),
        )
        .header("Last-Event-ID", beyond.to_string())
        .send_expect_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
        .await;
    assert!(
        e["error"]["details"]["fields"]["Last-Event-ID"].is_string(),
        "{e}"
    );
    // A non-member still learns nothing: 404, whatever the cursor.
    s.req(
        &w.outsider,
        Method::GET,
        &format!("/api/v1/bases/{}/changes?after={beyond}", w.base),
    )
    .send_expect_error(StatusCode::NOT_FOUND, "not_found")
    .await;
}

/// Many streams of one base share its reader (each event read and encoded
/// once): every stream still gets every event once, in order, with the
/// same frame; a member removed from the workspace stops receiving at once
/// (its streams end with an `error` event, and no event committed after
/// the removal reaches them), while the other members' streams of the base
/// go on (found by review: removed members kept receiving for up to 5 s).
#[tokio::test]
async fn streams_share_the_reader_and_a_removed_member_stops_receiving() {
    let s = TestServer::start().await;
    let (owner, _) = s.register().await;
    let ws = s.workspace(&owner).await;
    let (base, table) = s.table(&owner, &ws).await;
    let mail = crate::common::email();
    let (leaver, session) = s.register_as(&mail, "correct horse battery").await;
    let leaver_id = session["user"]["id"].as_str().unwrap().to_owned();
    s.add_member(&owner, &ws, &mail, "viewer").await;
    let open = |token: String| {
        let s = &s;
        let base = base.clone();
        async move {
            let r = s
                .req(&token, Method::GET, &format!("/api/v1/bases/{base}/events"))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            r
        }
    };
    let create = |name: String| {
        s.req(
            &owner,
            Method::POST,
            &format!("/api/v1/tables/{table}/records"),
        )
        .json(&json!({"fields": {"Name": name}}))
        .send_expect(StatusCode::CREATED)
    };
    // Ten streams of the owner, three of the member to be removed.
    let mut staying = Vec::new();
    for _ in 0..10 {
        let r = open(owner.clone()).await;
        staying.push(tokio::spawn(frames_until(r, |f| f.len() >= 4)));
    }
    // Each of them says when it has received the three events committed
    // before the removal (access is checked as an event goes out: one
    // still on its way when the member is removed is not delivered).
    let (got_three, mut got_three_rx) = tokio::sync::mpsc::unbounded_channel();
    let mut leaving = Vec::new();
    for _ in 0..3 {
        let r = open(leaver.clone()).await;
        let got_three = got_three.clone();
        leaving.push(tokio::spawn(frames_until(r, move |f| {
            if f.len() == 3 {
                let _ = got_three.send(());
            }
            f.iter().any(|(kind, _)| kind == "error") || f.len() >= 4
        })));
    }
    for i in 0..3 {
        create(format!("before-{i}")).await;
    }
    for _ in 0..3 {
        tokio::time::timeout(Duration::from_secs(30), got_three_rx.recv())
            .await
            .expect("the events before the removal within 30 s");
    }
    s.req(
        &owner,
        Method::DELETE,
        &format!("/api/v1/workspaces/{ws}/members/{leaver_id}"),
    )
    .send_expect(StatusCode::NO_CONTENT)
    .await;
    // Right after the removal (no wait for the 5 s periodic check): the
    // removed member's streams must not get this event.
    create("after".to_owned()).await;
    let mut first: Option<Vec<(String, String)>> = None;
    for t in staying {
        let frames = t.await.unwrap();
        assert_eq!(frames.len(), 4, "{frames:?}");
        assert!(frames.iter().all(|(kind, _)| kind == "record.created"));
        for (i, (_, data)) in frames[..3].iter().enumerate() {
            assert!(data.contains(&format!(":\"before-{i}\"")), "{frames:?}");
        }
        assert!(frames[3].1.contains(":\"after\""), "{frames:?}");
        match &first {
            // The same events, byte for byte, on every stream.
            Some(f) => assert_eq!(&frames, f),
            None => first = Some(frames),
        }
    }
    for t in leaving {
        let frames = t.await.unwrap();
        assert_eq!(frames.len(), 4, "{frames:?}");
        assert!(frames[..3].iter().all(|(kind, _)| kind == "record.created"));
        assert_eq!(frames[3].0, "error", "{frames:?}");
        assert!(frames[3].1.contains("not_found"), "{frames:?}");
    }
}
