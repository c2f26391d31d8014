//! Hostile input over HTTP (REVIEW-security H2, M1, M2, M5, L4): each is a
//! clear 4xx, never a hang or a 500, while `/health` keeps answering.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{SendExpect, TestServer, email, settings_in};

/// Polls `/health` every 100 ms until `stop`, answering the slowest reply.
async fn watch_health(s: &TestServer, mut stop: tokio::sync::oneshot::Receiver<()>) -> Duration {
    let mut worst = Duration::ZERO;
    loop {
        let started = Instant::now();
        let r = s
            .anon(Method::GET, "/health")
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .expect("health answers");
        assert!(r.status().is_success() || r.status() == StatusCode::SERVICE_UNAVAILABLE);
        worst = worst.max(started.elapsed());
        tokio::select! {
            _ = &mut stop => return worst,
            () = tokio::time::sleep(Duration::from_millis(100)) => {}
        }
    }
}

/// Sends `body` to `path` while `/health` is watched; answers the reply's
/// status and JSON, and the slowest health answer meanwhile.
async fn while_watched(
    s: &TestServer,
    token: &str,
    path: &str,
    body: &Value,
) -> (StatusCode, Value, Duration) {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let watcher = watch_health(s, rx);
    let request = async {
        let r = s
            .req(token, Method::POST, path)
            .json(body)
            .timeout(Duration::from_secs(60))
            .send()
            .await
            .expect("answered");
        let status = r.status();
        let json: Value = r.json().await.unwrap_or(Value::Null);
        let _ = tx.send(());
        (status, json)
    };
    let ((status, json), worst) = tokio::join!(request, watcher);
    (status, json, worst)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cell_of_200k_links_is_refused_and_health_keeps_answering() {
    let s = TestServer::start().await;
    let (t, _) = s.register().await;
    let ws = s.workspace(&t).await;
    let (base, table) = s.table(&t, &ws).await;
    let _ = base;
    s.req(&t, Method::POST, &format!("/api/v1/tables/{table}/fields"))
        .json(&json!({"name": "Links", "type": "link",
                      "options": {"linked_table_id": table, "allow_multiple": true}}))
        .send_expect(StatusCode::CREATED)
        .await;
    let ids: Vec<String> = (0..200_000).map(|i| format!("rec{i:014}")).collect();
    let (status, body, worst) = while_watched(
        &s,
        &t,
        &format!("/api/v1/tables/{table}/records"),
        &json!({"fields": {"Links": ids}}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let says = body["error"]["details"]["fields"]["Links"]
        .as_str()
        .unwrap_or_default();
    assert!(says.contains("at most 1000 items"), "{body}");
    assert!(worst < Duration::from_secs(1), "health took {worst:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_of_100k_fields_is_refused_and_health_keeps_answering() {
    let s = TestServer::start().await;
    let (t, _) = s.register().await;
    let ws = s.workspace(&t).await;
    let base = s
        .req(&t, Method::POST, &format!("/api/v1/workspaces/{ws}/bases"))
        .json(&json!({"name": "Base"}))
        .send_created_id()
        .await;
    let fields: Vec<Value> = (0..100_000)
        .map(|i| json!({"name": format!("f{i}"), "type": "text"}))
        .collect();
    let choices: Vec<String> = (0..200_000).map(|i| format!("c{i}")).collect();
    for body in [
        json!({"name": "x", "fields": fields}),
        json!({"name": "y", "fields": [{"name": "S", "type": "multi_select",
                                         "options": {"choices": choices}}]}),
    ] {
        let (status, body, worst) =
            while_watched(&s, &t, &format!("/api/v1/bases/{base}/tables"), &body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(body.to_string().contains("at most"), "{body}");
        assert!(worst < Duration::from_secs(1), "health took {worst:?}");
    }
}

#[tokio::test]
async fn metrics_keep_a_bounded_set_of_method_labels() {
    let s = TestServer::start().await;
    for i in 0..2000 {
        let method = Method::from_bytes(format!("X{i}").as_bytes()).unwrap();
        let _ = s.anon(method, "/health").send().await.unwrap();
    }
    let text = s
        .anon(Method::GET, "/metrics")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut methods: Vec<&str> = text
        .split("method=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .collect();
    methods.sort_unstable();
    methods.dedup();
    assert!(methods.len() <= 10, "{methods:?}");
    assert!(methods.contains(&"other"), "{methods:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registration_burst_is_throttled_and_health_keeps_answering() {
    let s = TestServer::start().await;
    let (tx, rx) = tokio::sync::oneshot::channel();
    let watcher = watch_health(&s, rx);
    let burst = async {
        let attempts = (0..300).map(|_| {
            s.anon(Method::POST, "/api/v1/auth/register")
                .json(&json!({"email": email(), "password": "correct horse battery", "name": "B"}))
                .send()
        });
        let answers = futures::future::join_all(attempts).await;
        let _ = tx.send(());
        answers
    };
    let (answers, worst) = tokio::join!(burst, watcher);
    let statuses: Vec<StatusCode> = answers.into_iter().map(|r| r.unwrap().status()).collect();
    let created = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    let limited = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!(created + limited, 300, "{statuses:?}");
    assert!(created <= 20, "{created} registrations from one client");
    assert!(worst < Duration::from_secs(1), "health took {worst:?}");
}

#[tokio::test]
async fn oversized_login_input_is_a_422() {
    let s = TestServer::start().await;
    let mail = email();
    s.register_as(&mail, "correct horse battery").await;
    s.anon(Method::POST, "/api/v1/auth/login")
        .json(&json!({"email": mail, "password": "x".repeat(300)}))
        .send_expect_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
        .await;
    s.anon(Method::POST, "/api/v1/auth/login")
        .json(&json!({"email": format!("{}@example.com", "a".repeat(1 << 20)), "password": "p"}))
        .send_expect_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
        .await;
    // Neither counted against the account.
    s.anon(Method::POST, "/api/v1/auth/login")
        .json(&json!({"email": mail, "password": "correct horse battery"}))
        .send_expect(StatusCode::OK)
        .await;
}

/// Behind a trusted proxy each forwarded client has its own budget; without
/// the setting, the header is ignored (a client cannot pick its key).
#[tokio::test]
async fn forwarded_clients_count_only_behind_trusted_proxies() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = settings_in(dir.path());
    settings.trusted_proxies = "127.0.0.1".into();
    let s = TestServer::start_with(settings).await;
    let mail = email();
    s.register_as(&mail, "correct horse battery").await;
    let login = |client: &'static str, email: String, password: &'static str| {
        s.anon(Method::POST, "/api/v1/auth/login")
            .header("x-forwarded-for", client)
            .json(&json!({"email": email, "password": password}))
            .send()
    };
    let mut limited = false;
    for _ in 0..60 {
        let r = login("203.0.113.1", email(), "wrong password")
            .await
            .unwrap();
        if r.status() == StatusCode::TOO_MANY_REQUESTS {
            limited = true;
            break;
        }
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    assert!(limited, "the sprayer is limited");
    let r = login("203.0.113.2", mail.clone(), "correct horse battery")
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "another client behind the proxy"
    );

    // The same header sent straight to a server that trusts no proxy changes nothing.
    let plain = TestServer::start().await;
    let mut statuses = Vec::new();
    for i in 0..51 {
        let r = plain
            .anon(Method::POST, "/api/v1/auth/login")
            .header("x-forwarded-for", format!("198.51.100.{i}"))
            .json(&json!({"email": email(), "password": "wrong password"}))
            .send()
            .await
            .unwrap();
        statuses.push(r.status());
    }
    assert_eq!(
        statuses.last(),
        Some(&StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
}

#[test]
fn help_never_prints_urls_with_passwords() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pybase-server"))
        .arg("--help")
        .env("DATABASE_URL", "postgres://u:hunter2@db.example/pybase")
        .env("REDIS_URL", "redis://:hunter3@cache.example:6379")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("DATABASE_URL"), "{text}");
    assert!(
        !text.contains("hunter2") && !text.contains("hunter3"),
        "{text}"
    );
}
