//! Webhooks: a receiver on loopback that verifies every signature and
//! fails the first attempts still gets every event, in order; pending
//! deliveries survive a restart; private targets are refused; the
//! deliveries list tells what happened.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode as AxStatus};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{SendExpect, TestServer, settings_in};

/// What the receiver saw.
#[derive(Default)]
struct Seen {
    /// The secret to verify with (set once the webhook exists).
    secret: Option<String>,
    /// Requests answered 500 so far.
    failed: usize,
    /// Event seqs accepted (answered 200), in arrival order.
    accepted: Vec<i64>,
    /// Requests whose signature did not verify.
    bad_signatures: usize,
}

/// The receiver's check: `v1=` + hex HMAC-SHA256(secret, "<ts>.<body>").
fn verify(secret: &str, headers: &HeaderMap, body: &[u8]) -> bool {
    let (Some(ts), Some(sig)) = (
        headers
            .get("pybase-timestamp")
            .and_then(|v| v.to_str().ok()),
        headers
            .get("pybase-signature")
            .and_then(|v| v.to_str().ok()),
    ) else {
        return false;
    };
    let Ok(ts) = ts.parse::<i64>() else {
        return false;
    };
    pybase_core::facade::signature(secret, ts, body) == sig
}

/// A receiver on 127.0.0.1 answering 500 to its first `fail_first`
/// requests and 200 afterwards; answers its URL.
async fn receiver(seen: Arc<Mutex<Seen>>, fail_first: usize) -> String {
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let seen = Arc::clone(&seen);
            async move {
                let mut s = seen.lock().unwrap();
                let ok = s
                    .secret
                    .as_deref()
                    .is_some_and(|k| verify(k, &headers, &body));
                if !ok {
                    s.bad_signatures += 1;
                    return AxStatus::UNAUTHORIZED;
                }
                if s.failed < fail_first {
                    s.failed += 1;
                    return AxStatus::INTERNAL_SERVER_ERROR;
                }
                let event: Value = serde_json::from_slice(&body).unwrap();
                let seq = event["seq"].as_i64().unwrap();
                assert_eq!(
                    headers["pybase-event-id"].to_str().unwrap(),
                    seq.to_string()
                );
                s.accepted.push(seq);
                AxStatus::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/hook")
}

pub(crate) fn test_settings(dir: &std::path::Path) -> pybase_server::Settings {
    let mut settings = settings_in(dir);
    settings.webhook_allow_private = true;
    settings.webhook_first_retry_ms = 100;
    settings
}

/// [`test_settings`] on a database of this test's own: on PostgreSQL the
/// suite's shared database is served by every other test's server, whose
/// webhook workers (private targets refused) would claim these webhooks.
pub(crate) async fn isolated_settings(
    dir: &std::path::Path,
) -> (
    Option<pybase_store_postgres::testkit::TestDb>,
    pybase_server::Settings,
) {
    let mut settings = test_settings(dir);
    if !settings.database_url.starts_with("postgres") {
        return (None, settings);
    }
    let (db, url) = crate::changes::fresh_postgres(&settings.database_url).await;
    settings.database_url = url;
    (Some(db), settings)
}

/// Creates `n` records through `s`.
async fn write(s: &TestServer, token: &str, table: &str, n: usize) {
    for i in 0..n {
        s.req(
            token,
            Method::POST,
            &format!("/api/v1/tables/{table}/records"),
        )
        .json(&json!({"fields": {"Name": format!("r{i}"), "Qty": i}}))
        .send_expect(StatusCode::CREATED)
        .await;
    }
}

/// What each webhook test starts from: a server on a database and data
/// folder of its own, its owner's token, a workspace, a base and a table.
/// The database and the folder go when it is dropped.
struct Started {
    s: TestServer,
    owner: String,
    ws: String,
    base: String,
    table: String,
    _db: Option<pybase_store_postgres::testkit::TestDb>,
    _dir: tempfile::TempDir,
}

/// A fresh [`Started`].
async fn started() -> Started {
    let dir = tempfile::tempdir().unwrap();
    let (db, settings) = isolated_settings(dir.path()).await;
    let s = TestServer::start_with(settings).await;
    let (owner, _) = s.register().await;
    let ws = s.workspace(&owner).await;
    let (base, table) = s.table(&owner, &ws).await;
    Started {
        s,
        owner,
        ws,
        base,
        table,
        _db: db,
        _dir: dir,
    }
}

/// Creates a webhook of `base` with `body` (its `url` a [`receiver`]) as
/// `token`, hands its secret to the receiver's `seen`, and answers the
/// webhook as created (with its secret).
async fn signed_webhook(
    s: &TestServer,
    token: &str,
    base: &str,
    seen: &Arc<Mutex<Seen>>,
    body: Value,
) -> Value {
    let made = s
        .req(
            token,
            Method::POST,
            &format!("/api/v1/bases/{base}/webhooks"),
        )
        .json(&body)
        .send_expect(StatusCode::CREATED)
        .await;
    seen.lock().unwrap().secret = Some(made["secret"].as_str().unwrap().to_owned());
    made
}

/// The webhook `id` once it is disabled (up to a minute), as `token` reads
/// it; panics if it stays enabled.
async fn disabled(s: &TestServer, token: &str, id: &str) -> Value {
    let mut hook = Value::Null;
    for _ in 0..600 {
        hook = s
            .req(token, Method::GET, &format!("/api/v1/webhooks/{id}"))
            .send_expect(StatusCode::OK)
            .await;
        if hook["enabled"] == json!(false) {
            return hook;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the webhook stayed enabled: {hook}");
}

/// Waits until `seen` has accepted `n` events (up to two minutes: retries
/// back off exponentially, so on a loaded machine the first retry after a
/// slow phase can be many seconds away).
async fn wait_for(seen: &Arc<Mutex<Seen>>, n: usize) {
    for _ in 0..1200 {
        if seen.lock().unwrap().accepted.len() >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let s = seen.lock().unwrap();
    panic!(
        "only {} of {n} events delivered ({} failed, {} bad signatures)",
        s.accepted.len(),
        s.failed,
        s.bad_signatures
    );
}

#[test]
fn the_receivers_check_detects_unsigned_and_tampered_deliveries() {
    let body = br#"{"seq":1}"#;
    let mut headers = HeaderMap::new();
    headers.insert("pybase-timestamp", "1700000000".parse().unwrap());
    let sig = pybase_core::facade::signature("whsec_k", 1_700_000_000, body);
    assert!(!verify("whsec_k", &headers, body), "unsigned passed");
    headers.insert("pybase-signature", sig.parse().unwrap());
    assert!(verify("whsec_k", &headers, body));
    assert!(
        !verify("whsec_k", &headers, br#"{"seq":2}"#),
        "tampered body passed"
    );
    assert!(
        !verify("whsec_other", &headers, body),
        "wrong secret passed"
    );
    headers.insert("pybase-timestamp", "1700000001".parse().unwrap());
    assert!(!verify("whsec_k", &headers, body), "moved timestamp passed");
}

#[tokio::test]
async fn a_failing_receiver_gets_every_event_in_order_once_it_answers() {
    let Started {
        s,
        owner,
        ws: _,
        base,
        table,
        _db,
        _dir,
    } = started().await;
    let seen = Arc::new(Mutex::new(Seen::default()));
    let url = receiver(Arc::clone(&seen), 3).await;
    let made = s
        .req(
            &owner,
            Method::POST,
            &format!("/api/v1/bases/{base}/webhooks"),
        )
        .json(&json!({"url": url, "events": ["record.created", "record.updated"]}))
        .send_expect(StatusCode::CREATED)
        .await;
    let secret = made["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"));
    seen.lock().unwrap().secret = Some(secret);
    let id = made["id"].as_str().unwrap().to_owned();
    // The secret is shown only at creation.
    let shown = s
        .req(&owner, Method::GET, &format!("/api/v1/webhooks/{id}"))
        .send_expect(StatusCode::OK)
        .await;
    assert!(shown.get("secret").is_none(), "{shown}");
    assert!(!shown.to_string().contains("whsec_"));
    let before = crate::changes::last_seq(&s, &owner, &base).await;
    write(&s, &owner, &table, 20).await;
    // A field change is not a kind it wants: skipped, not delivered.
    s.req(
        &owner,
        Method::POST,
        &format!("/api/v1/tables/{table}/fields"),
    )
    .json(&json!({"name": "Extra", "type": "text"}))
    .send_expect(StatusCode::CREATED)
    .await;
    write(&s, &owner, &table, 5).await;
    wait_for(&seen, 25).await;
    let accepted = seen.lock().unwrap().accepted.clone();
    let want: Vec<i64> = (before + 1..=before + 20)
        .chain(before + 22..=before + 26)
        .collect();
    assert_eq!(accepted, want);
    assert_eq!(seen.lock().unwrap().failed, 3);
    assert_eq!(seen.lock().unwrap().bad_signatures, 0);
    let d = s
        .req(
            &owner,
            Method::GET,
            &format!("/api/v1/webhooks/{id}/deliveries?page_size=1000"),
        )
        .send_expect(StatusCode::OK)
        .await;
    let items = d["items"].as_array().unwrap();
    assert_eq!(items.len(), 28, "{d}");
    // A negative cursor is refused as on the other cursors, naming it.
    let bad = s
        .req(
            &owner,
            Method::GET,
            &format!("/api/v1/webhooks/{id}/deliveries?cursor=-1"),
        )
        .send_expect(StatusCode::UNPROCESSABLE_ENTITY)
        .await;
    assert!(
        bad["error"]["details"]["fields"]["cursor"].is_string(),
        "{bad}"
    );
    let failures: Vec<&Value> = items
        .iter()
        .filter(|i| i["status_code"] == json!(500))
        .collect();
    assert_eq!(failures.len(), 3);
    for f in &failures {
        assert_eq!(f["event_seq"], json!(before + 1));
        assert!(f["next_retry_at"].is_string());
        assert!(f["error"].as_str().unwrap().contains("500"));
    }
    // Newest first; the first event's success was its fourth attempt.
    assert!(
        items
            .windows(2)
            .all(|p| p[0]["id"].as_i64() > p[1]["id"].as_i64())
    );
    let first_ok = items
        .iter()
        .find(|i| i["event_seq"] == json!(before + 1) && i["status_code"] == json!(200))
        .unwrap();
    assert_eq!(first_ok["attempt"], json!(4));
}

/// A webhook acts with its creator's access: once its creator is demoted
/// below admin (or leaves), it stops delivering and says why, enabling it
/// again is refused (409) until the creator is an admin again, and then it
/// delivers what it had left, in order.
#[tokio::test]
async fn a_webhook_stops_when_its_creator_loses_the_admin_role() {
    let Started {
        s,
        owner,
        ws,
        base,
        table,
        _db,
        _dir,
    } = started().await;
    let admin_email = crate::common::email();
    let (admin, session) = s.register_as(&admin_email, "correct horse battery").await;
    let admin_id = session["user"]["id"].as_str().unwrap().to_owned();
    s.add_member(&owner, &ws, &admin_email, "admin").await;
    let seen = Arc::new(Mutex::new(Seen::default()));
    let url = receiver(Arc::clone(&seen), 0).await;
    let made = signed_webhook(
        &s,
        &admin,
        &base,
        &seen,
        json!({"url": url, "events": ["record.created"]}),
    )
    .await;
    let id = made["id"].as_str().unwrap().to_owned();
    write(&s, &owner, &table, 1).await;
    wait_for(&seen, 1).await;
    let member = format!("/api/v1/workspaces/{ws}/members/{admin_id}");
    s.req(&owner, Method::PATCH, &member)
        .json(&json!({"role": "editor"}))
        .send_expect(StatusCode::OK)
        .await;
    write(&s, &owner, &table, 2).await;
    let hook = disabled(&s, &owner, &id).await;
    let why = hook["disabled_reason"].as_str().unwrap();
    assert!(
        why.contains(&admin_id) && why.contains("administers"),
        "{why}"
    );
    assert_eq!(
        seen.lock().unwrap().accepted.len(),
        1,
        "delivered after the demotion"
    );
    let enable = |token: &str| {
        s.req(token, Method::PATCH, &format!("/api/v1/webhooks/{id}"))
            .json(&json!({"enabled": true}))
    };
    let refused = enable(&owner).send_expect(StatusCode::CONFLICT).await;
    assert_eq!(refused["error"]["code"], "conflict", "{refused}");
    s.req(&owner, Method::PATCH, &member)
        .json(&json!({"role": "admin"}))
        .send_expect(StatusCode::OK)
        .await;
    enable(&owner).send_expect(StatusCode::OK).await;
    wait_for(&seen, 3).await;
    // Removed from the workspace: stops again.
    s.req(&owner, Method::DELETE, &member)
        .send_expect(StatusCode::NO_CONTENT)
        .await;
    write(&s, &owner, &table, 1).await;
    disabled(&s, &owner, &id).await;
    assert_eq!(seen.lock().unwrap().accepted.len(), 3);
}

/// A webhook of one table delivers that table's deletion, then stops with
/// the reason (no event can match it any more), instead of staying
/// enabled with nothing to deliver.
#[tokio::test]
async fn a_webhook_of_a_deleted_table_delivers_the_deletion_then_stops() {
    let Started {
        s,
        owner,
        ws: _,
        base,
        table,
        _db,
        _dir,
    } = started().await;
    let seen = Arc::new(Mutex::new(Seen::default()));
    let url = receiver(Arc::clone(&seen), 0).await;
    let made = signed_webhook(
        &s,
        &owner,
        &base,
        &seen,
        json!({"url": url, "table_id": table, "events": ["record.created", "table.deleted"]}),
    )
    .await;
    let id = made["id"].as_str().unwrap().to_owned();
    write(&s, &owner, &table, 1).await;
    wait_for(&seen, 1).await;
    s.req(&owner, Method::DELETE, &format!("/api/v1/tables/{table}"))
        .send_expect(StatusCode::NO_CONTENT)
        .await;
    let hook = disabled(&s, &owner, &id).await;
    let why = hook["disabled_reason"].as_str().unwrap();
    assert!(why.contains(&table) && why.contains("deleted"), "{why}");
    // Done for good: enabling it again is refused, saying why.
    let e = s
        .req(&owner, Method::PATCH, &format!("/api/v1/webhooks/{id}"))
        .json(&json!({"enabled": true}))
        .send_expect_error(StatusCode::CONFLICT, "conflict")
        .await;
    assert_eq!(e["error"]["details"]["field"], "enabled", "{e}");
    assert!(
        e["error"]["message"].as_str().unwrap().contains("deleted"),
        "{e}"
    );
    let seen = seen.lock().unwrap();
    assert_eq!(
        seen.accepted.len(),
        2,
        "the record and the table's deletion"
    );
    assert_eq!(seen.bad_signatures, 0);
}

/// A receiver that holds every request open until `release` is notified
/// (a black-hole URL), counting the requests it got.
async fn stalled_receiver(release: Arc<tokio::sync::Notify>, got: Arc<Mutex<usize>>) -> String {
    let app = axum::Router::new().route(
        "/stall",
        axum::routing::post(move || {
            let (release, got) = (Arc::clone(&release), Arc::clone(&got));
            async move {
                *got.lock().unwrap() += 1;
                release.notified().await;
                AxStatus::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/stall")
}

/// One webhook whose receiver never answers must not hold up the others:
/// each webhook is delivered in its own task. (The worker used to wait for
/// every claimed webhook of a round, so a black-hole URL delayed every
/// other webhook of the instance by its 10 s timeout per attempt.)
#[tokio::test]
async fn a_stalled_receiver_does_not_delay_other_webhooks() {
    let Started {
        s,
        owner,
        ws: _,
        base,
        table,
        _db,
        _dir,
    } = started().await;
    let path = format!("/api/v1/bases/{base}/webhooks");
    let release = Arc::new(tokio::sync::Notify::new());
    let stalled_got = Arc::new(Mutex::new(0));
    let stalled = stalled_receiver(Arc::clone(&release), Arc::clone(&stalled_got)).await;
    s.req(&owner, Method::POST, &path)
        .json(&json!({"url": stalled}))
        .send_expect(StatusCode::CREATED)
        .await;
    let seen = Arc::new(Mutex::new(Seen::default()));
    let url = receiver(Arc::clone(&seen), 0).await;
    let made = s
        .req(&owner, Method::POST, &path)
        .json(&json!({"url": url}))
        .send_expect(StatusCode::CREATED)
        .await;
    seen.lock().unwrap().secret = Some(made["secret"].as_str().unwrap().to_owned());
    write(&s, &owner, &table, 1).await;
    wait_for(&seen, 1).await;
    for _ in 0..100 {
        if *stalled_got.lock().unwrap() > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        *stalled_got.lock().unwrap(),
        1,
        "the stalled receiver was not called"
    );
    // The stalled request is still open: later events still reach the
    // other receiver, well before the 10 s attempt timeout would end it.
    write(&s, &owner, &table, 3).await;
    for _ in 0..80 {
        if seen.lock().unwrap().accepted.len() >= 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        seen.lock().unwrap().accepted.len(),
        4,
        "events waited for the stalled webhook"
    );
    assert_eq!(
        *stalled_got.lock().unwrap(),
        1,
        "still the one open request"
    );
    release.notify_waiters();
}

#[tokio::test]
async fn pending_deliveries_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (_db, settings) = isolated_settings(dir.path()).await;
    let seen = Arc::new(Mutex::new(Seen::default()));
    // Nothing listens on this port yet: every attempt is refused.
    let probe = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = probe.local_addr().unwrap().port();
    drop(probe);
    let url = format!("http://127.0.0.1:{port}/hook");
    let (owner, base, table, id, secret) = {
        let s = TestServer::start_with(settings.clone()).await;
        let (owner, _) = s.register().await;
        let ws = s.workspace(&owner).await;
        let (base, table) = s.table(&owner, &ws).await;
        let made = s
            .req(
                &owner,
                Method::POST,
                &format!("/api/v1/bases/{base}/webhooks"),
            )
            .json(&json!({"url": url, "table_id": table}))
            .send_expect(StatusCode::CREATED)
            .await;
        write(&s, &owner, &table, 5).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        (
            owner,
            base,
            table,
            made["id"].as_str().unwrap().to_owned(),
            made["secret"].as_str().unwrap().to_owned(),
        )
    };
    // The first server is gone; the receiver comes up on the same port
    // and a new server delivers what was pending.
    seen.lock().unwrap().secret = Some(secret);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    let app_seen = Arc::clone(&seen);
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let seen = Arc::clone(&app_seen);
            async move {
                let mut s = seen.lock().unwrap();
                let secret = s.secret.clone().unwrap_or_default();
                if !verify(&secret, &headers, &body) {
                    s.bad_signatures += 1;
                    return AxStatus::UNAUTHORIZED;
                }
                let event: Value = serde_json::from_slice(&body).unwrap();
                s.accepted.push(event["seq"].as_i64().unwrap());
                AxStatus::OK
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    let s = TestServer::start_with(settings).await;
    wait_for(&seen, 5).await;
    let accepted = seen.lock().unwrap().accepted.clone();
    let last = crate::changes::last_seq(&s, &owner, &base).await;
    assert_eq!(accepted, (last - 4..=last).collect::<Vec<_>>());
    let d = s
        .req(
            &owner,
            Method::GET,
            &format!("/api/v1/webhooks/{id}/deliveries"),
        )
        .send_expect(StatusCode::OK)
        .await;
    let refused = d["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["status_code"].is_null())
        .count();
    assert!(refused >= 1, "no refused attempt recorded: {d}");
    let _ = table;
}

/// A server stopped while a delivery is under way gives back its lease:
/// started again, it delivers the event at once, not when the lease of
/// the server before it expires (60 s).
#[tokio::test]
async fn a_stopped_server_gives_back_its_leases() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let dir = tempfile::tempdir().unwrap();
    let (_db, settings) = isolated_settings(dir.path()).await;
    // Holds every request open while `stall`, then answers 200 and counts.
    let stall = Arc::new(AtomicBool::new(true));
    let (got, accepted) = (Arc::new(Mutex::new(0_usize)), Arc::new(Mutex::new(0_usize)));
    let app = {
        let (stall, got, accepted) = (stall.clone(), got.clone(), accepted.clone());
        axum::Router::new().route(
            "/hook",
            axum::routing::post(move || {
                let (stall, got, accepted) = (stall.clone(), got.clone(), accepted.clone());
                async move {
                    *got.lock().unwrap() += 1;
                    while stall.load(Ordering::SeqCst) {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    *accepted.lock().unwrap() += 1;
                    AxStatus::OK
                }
            }),
        )
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let s = TestServer::start_with(settings.clone()).await;
    let (owner, _) = s.register().await;
    let ws = s.workspace(&owner).await;
    let (base, table) = s.table(&owner, &ws).await;
    s.req(
        &owner,
        Method::POST,
        &format!("/api/v1/bases/{base}/webhooks"),
    )
    .json(&json!({"url": url, "table_id": table}))
    .send_expect(StatusCode::CREATED)
    .await;
    write(&s, &owner, &table, 1).await;
    for _ in 0..600 {
        if *got.lock().unwrap() > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(*got.lock().unwrap(), 1, "the delivery never started");
    // Stopped with the delivery under way (the receiver holds it).
    drop(s);
    let stopped = std::time::Instant::now();
    // Its worker ends the delivery after its grace and gives the lease
    // back before the server's task ends; wait that long, then answer.
    tokio::time::sleep(Duration::from_secs(8)).await;
    stall.store(false, Ordering::SeqCst);
    let _s = TestServer::start_with(settings).await;
    // The new server's attempt (the stopped one's ended with it: it would
    // otherwise go on and answer in its place).
    for _ in 0..600 {
        if *got.lock().unwrap() > 1 && *accepted.lock().unwrap() > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(*got.lock().unwrap(), 2, "the event was not delivered again");
    assert!(*accepted.lock().unwrap() > 0);
    let took = stopped.elapsed();
    assert!(
        took < Duration::from_secs(40),
        "delivered {took:?} after the stop: the lease was not given back"
    );
}

#[tokio::test]
async fn private_targets_are_refused_and_bad_input_is_named() {
    let s = TestServer::start().await;
    let (owner, _) = s.register().await;
    let ws = s.workspace(&owner).await;
    let (base, table) = s.table(&owner, &ws).await;
    let path = format!("/api/v1/bases/{base}/webhooks");
    for url in [
        "http://127.0.0.1:9/x",
        "http://169.254.169.254/latest",
        "http://[::1]/x",
        "http://10.0.0.1/x",
        "http://[64:ff9b::7f00:1]/x",
        "http://[::127.0.0.1]/x",
        "http://[2002:7f00:1::]/x",
        "https://user:pass@example.com/x",
    ] {
        let e = s
            .req(&owner, Method::POST, &path)
            .json(&json!({"url": url}))
            .send_expect_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
            .await;
        assert!(
            e["error"]["details"]["fields"]["url"].is_string(),
            "{url}: {e}"
        );
    }
    for (body, field) in [
        (json!({"url": "ftp://example.com/x"}), "url"),
        (
            json!({"url": "https://example.com/x", "events": ["record.moved"]}),
            "events[0]",
        ),
        (
            json!({"url": "https://example.com/x", "table_id": "tblAAAAAAAAAAAAAA"}),
            "table_id",
        ),
        // A table's webhook can never see that table created.
        (
            json!({"url": "https://example.com/x", "table_id": table,
                   "events": ["record.created", "record.created", "table.created"]}),
            "events[2]",
        ),
    ] {
        let e = s
            .req(&owner, Method::POST, &path)
            .json(&body)
            .send_expect_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
            .await;
        assert!(
            e["error"]["details"]["fields"][field].is_string(),
            "{body}: {e}"
        );
    }
    // The same kind is refused when a table's webhook is changed to it,
    // and taken by a webhook of the whole base.
    let scoped = s
        .req(&owner, Method::POST, &path)
        .json(&json!({"url": "https://example.com/x", "table_id": table}))
        .send_expect(StatusCode::CREATED)
        .await;
    let scoped = format!("/api/v1/webhooks/{}", scoped["id"].as_str().unwrap());
    let e = s
        .req(&owner, Method::PATCH, &scoped)
        .json(&json!({"events": ["table.created"]}))
        .send_expect_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
        .await;
    assert!(
        e["error"]["details"]["fields"]["events[0]"].is_string(),
        "{e}"
    );
    s.req(&owner, Method::DELETE, &scoped)
        .send_expect(StatusCode::NO_CONTENT)
        .await;
    let whole = s
        .req(&owner, Method::POST, &path)
        .json(&json!({"url": "https://example.com/x", "events": ["table.created"]}))
        .send_expect(StatusCode::CREATED)
        .await;
    s.req(
        &owner,
        Method::DELETE,
        &format!("/api/v1/webhooks/{}", whole["id"].as_str().unwrap()),
    )
    .send_expect(StatusCode::NO_CONTENT)
    .await;
    // A name is checked after resolution, at delivery: localhost resolves
    // to loopback, so the attempt fails and says why.
    let made = s
        .req(&owner, Method::POST, &path)
        .json(&json!({"url": "http://localhost:9/x"}))
        .send_expect(StatusCode::CREATED)
        .await;
    let id = made["id"].as_str().unwrap();
    write(&s, &owner, &table, 1).await;
    let mut why = String::new();
    for _ in 0..100 {
        let d = s
            .req(
                &owner,
                Method::GET,
                // An empty cursor is the first page, as on every list.
                &format!("/api/v1/webhooks/{id}/deliveries?cursor="),
            )
            .send_expect(StatusCode::OK)
            .await;
        if let Some(e) = d["items"][0]["error"].as_str() {
            why = e.to_owned();
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(why.contains("private, loopback or link-local"), "{why}");
    // Disabling and enabling by PATCH; deleting.
    let w = s
        .req(&owner, Method::PATCH, &format!("/api/v1/webhooks/{id}"))
        .json(&json!({"enabled": false}))
        .send_expect(StatusCode::OK)
        .await;
    assert_eq!(w["enabled"], json!(false));
    let list = s
        .req(&owner, Method::GET, &path)
        .send_expect(StatusCode::OK)
        .await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    s.req(&owner, Method::DELETE, &format!("/api/v1/webhooks/{id}"))
        .send_expect(StatusCode::NO_CONTENT)
        .await;
    s.req(&owner, Method::GET, &format!("/api/v1/webhooks/{id}"))
        .send_expect_error(StatusCode::NOT_FOUND, "not_found")
        .await;
}

#[tokio::test]
async fn two_instances_deliver_each_event_once_through_the_lease() {
    let pg = crate::require_service!("PYBASE_TEST_POSTGRES_URL");
    let (_db, pg) = crate::changes::fresh_postgres(&pg).await;
    let dir = tempfile::tempdir().unwrap();
    let mut settings = test_settings(dir.path());
    settings.database_url = pg;
    let a = TestServer::start_with(settings.clone()).await;
    let b = TestServer::start_with(settings).await;
    let (owner, _) = a.register().await;
    let ws = a.workspace(&owner).await;
    let (base, table) = a.table(&owner, &ws).await;
    let seen = Arc::new(Mutex::new(Seen::default()));
    let url = receiver(Arc::clone(&seen), 0).await;
    signed_webhook(&a, &owner, &base, &seen, json!({"url": url})).await;
    let start = crate::changes::last_seq(&a, &owner, &base).await;
    // Writes through both instances; both workers run.
    for i in 0..10 {
        let s = if i % 2 == 0 { &a } else { &b };
        write(s, &owner, &table, 3).await;
    }
    wait_for(&seen, 30).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let accepted = seen.lock().unwrap().accepted.clone();
    assert_eq!(accepted, (start + 1..=start + 30).collect::<Vec<_>>());
}
