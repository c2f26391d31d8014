//! Webhook deliveries survive a crash: the real server binary is SIGKILLed
//! while deliveries are pending (the receiver has answered 500 to every
//! attempt so far), restarted on the same data, and the receiver, now
//! answering 200 and verifying every signature, gets every event exactly
//! once, in sequence order.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode as AxStatus};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::crash::Backend;
use super::harness::{self, Fixture, FreshDb, ServerProcess, eventually, summary};

/// Records written before the kill (one event each).
const EVENTS: i64 = 20;

/// What the receiver saw.
#[derive(Default)]
struct Seen {
    /// The webhook's signing secret.
    secret: String,
    /// Whether it answers 200 (after the kill) or 500 (before).
    accepting: bool,
    /// Attempts answered 500.
    failed: usize,
    /// Event seqs answered 200, in arrival order.
    accepted: Vec<i64>,
    /// Requests whose signature did not verify.
    bad_signatures: usize,
}

/// A receiver on 127.0.0.1; answers its URL.
async fn receiver(seen: Arc<Mutex<Seen>>) -> String {
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let seen = Arc::clone(&seen);
            async move {
                let mut s = seen
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                let signed = headers
                    .get("pybase-timestamp")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<i64>().ok())
                    .zip(
                        headers
                            .get("pybase-signature")
                            .and_then(|v| v.to_str().ok()),
                    )
                    .is_some_and(|(ts, sig)| {
                        pybase_core::facade::signature(&s.secret, ts, &body) == sig
                    });
                if !signed {
                    s.bad_signatures += 1;
                    return AxStatus::UNAUTHORIZED;
                }
                if !s.accepting {
                    s.failed += 1;
                    return AxStatus::INTERNAL_SERVER_ERROR;
                }
                let event: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                s.accepted.push(event["seq"].as_i64().unwrap_or(-1));
                AxStatus::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("receiver port");
    let addr = listener.local_addr().expect("receiver address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/hook")
}

pub(crate) async fn pending_deliveries_survive_sigkill(backend: Backend) {
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
    let mut server = ServerProcess::start(
        dir.path(),
        &[
            ("DATABASE_URL", database_url),
            ("WEBHOOK_ALLOW_PRIVATE", "true".to_owned()),
            ("WEBHOOK_FIRST_RETRY_MS", "100".to_owned()),
        ],
    )
    .await;
    let client = harness::client();
    let fx = Fixture::create(&client, &server, json!([{"name": "Name", "type": "text"}])).await;
    let seen = Arc::new(Mutex::new(Seen::default()));
    let url = receiver(Arc::clone(&seen)).await;
    let made = harness::expect(
        &client,
        Some(&fx.token),
        Method::POST,
        &server.url(&format!("/api/v1/bases/{}/webhooks", fx.base)),
        Some(json!({"url": url, "table_id": fx.table})),
        StatusCode::CREATED,
    )
    .await;
    seen.lock().expect("receiver state").secret =
        made["secret"].as_str().expect("secret").to_owned();
    for i in 0..EVENTS {
        harness::expect(
            &client,
            Some(&fx.token),
            Method::POST,
            &server.url(&fx.records_path("")),
            Some(json!({"fields": {"Name": format!("r{i}")}})),
            StatusCode::CREATED,
        )
        .await;
    }
    // Deliveries are pending: the worker has tried (and been refused) at
    // least twice, so it holds retry state when it dies.
    eventually(Duration::from_secs(60), "two refused attempts", || {
        let seen = Arc::clone(&seen);
        async move { seen.lock().expect("receiver state").failed >= 2 }
    })
    .await;
    let failed_before = seen.lock().expect("receiver state").failed;
    server.kill();
    {
        let mut s = seen.lock().expect("receiver state");
        assert!(s.accepted.is_empty(), "delivered before the kill");
        s.accepting = true;
    }
    server.restart().await;
    let waited = eventually(
        Duration::from_secs(120),
        "every pending event delivered after the restart",
        || {
            let seen = Arc::clone(&seen);
            async move {
                seen.lock().expect("receiver state").accepted.len()
                    >= usize::try_from(EVENTS).unwrap_or(usize::MAX)
            }
        },
    )
    .await;
    let changes = harness::expect(
        &client,
        Some(&fx.token),
        Method::GET,
        &server.url(&format!(
            "/api/v1/bases/{}/changes?after=0&page_size=1",
            fx.base
        )),
        None,
        StatusCode::OK,
    )
    .await;
    let last = changes["last_seq"].as_i64().expect("last_seq");
    // A moment for a (wrong) repeat to show up.
    tokio::time::sleep(Duration::from_millis(500)).await;
    {
        let s = seen.lock().expect("receiver state");
        assert_eq!(
            s.accepted,
            (last - EVENTS + 1..=last).collect::<Vec<_>>(),
            "every event once, in order"
        );
        assert_eq!(s.bad_signatures, 0);
    }
    let deliveries = harness::expect(
        &client,
        Some(&fx.token),
        Method::GET,
        &server.url(&format!(
            "/api/v1/webhooks/{}/deliveries",
            made["id"].as_str().expect("webhook id")
        )),
        None,
        StatusCode::OK,
    )
    .await;
    let codes: Vec<Value> = deliveries["items"]
        .as_array()
        .expect("deliveries")
        .iter()
        .map(|d| d["status_code"].clone())
        .collect();
    assert!(
        codes.contains(&json!(500)) && codes.contains(&json!(200)),
        "the log shows the refused attempts and the deliveries: {codes:?}"
    );
    server.kill();
    if let Some(db) = fresh {
        db.drop_now().await;
    }
    summary(
        &format!("webhook_sigkill_{backend:?}").to_lowercase(),
        &format!(
            "{EVENTS} events pending ({failed_before} attempts refused) at SIGKILL; after the \
             restart all delivered once, in order, in {:.1} s",
            waited.as_secs_f64()
        ),
        started.elapsed(),
    );
}
