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

/// Sends `body` (raw JSON text) and answers the status and how long it took.
async fn timed_raw(
    s: &TestServer,
    token: &str,
    method: Method,
    path: &str,
    body: String,
) -> (StatusCode, Duration) {
    let started = Instant::now();
    let r = s
        .req(token, method, path)
        .header("content-type", "application/json")
        .body(body)
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .expect("answered");
    (r.status(), started.elapsed())
}

/// Hostile strings in every string input of the main write paths: each
/// answer is a 2xx or a 4xx within a second, never a 5xx, on either backend.
#[tokio::test]
async fn hostile_strings_in_every_input_never_cause_a_5xx() {
    let s = TestServer::start().await;
    let (t, _) = s.register().await;
    let ws = s.workspace(&t).await;
    let (base, table) = s.table(&t, &ws).await;
    let view = s
        .req(&t, Method::POST, &format!("/api/v1/tables/{table}/views"))
        .json(&json!({"name": "V"}))
        .send_created_id()
        .await;
    // Raw JSON string literals, escapes included.
    let strings = [
        r#""a\u0000b""#,             // NUL
        r#""\u202eevil\u202c.txt""#, // right-to-left override
        r#""e\u0301\u0301\u0301""#,  // combining marks
        r#""\ud800""#,               // lone leading surrogate
        r#""\udc00x""#,              // lone trailing surrogate
        r#""\ud83d\ude00 emoji""#,   // a valid pair
        r#""\u0000""#,               // only NUL
        r#""   ""#,                  // blank
        "\"\u{feff}bom\"",           // byte order mark
        "\"\u{10ffff}\"",            // the last code point
    ];
    let long = format!("\"{}\"", "x".repeat(1_000_000));
    let mut tried = 0;
    for raw in strings.iter().map(|s| (*s).to_owned()).chain([long]) {
        let cases: Vec<(Method, String, String)> = vec![
            (
                Method::POST,
                "/api/v1/auth/register".into(),
                format!(
                    r#"{{"email":"u{}@example.com","password":"correct horse battery","name":{raw}}}"#,
                    crate::common::unique()
                ),
            ),
            (
                Method::PATCH,
                format!("/api/v1/workspaces/{ws}"),
                format!(r#"{{"name":{raw}}}"#),
            ),
            (
                Method::PATCH,
                format!("/api/v1/bases/{base}"),
                format!(r#"{{"name":{raw}}}"#),
            ),
            (
                Method::POST,
                format!("/api/v1/bases/{base}/tables"),
                format!(r#"{{"name":{raw}}}"#),
            ),
            (
                Method::POST,
                format!("/api/v1/tables/{table}/fields"),
                format!(r#"{{"name":{raw},"type":"text"}}"#),
            ),
            (
                Method::POST,
                format!("/api/v1/tables/{table}/records"),
                format!(r#"{{"fields":{{"Name":{raw}}}}}"#),
            ),
            (
                Method::POST,
                format!("/api/v1/tables/{table}/records"),
                format!(r#"{{"fields":{{{raw}:"x"}}}}"#),
            ),
            (
                Method::POST,
                format!("/api/v1/tables/{table}/records/query"),
                format!(r#"{{"filter":{{"field":"Name","op":"eq","value":{raw}}}}}"#),
            ),
            (
                Method::POST,
                format!("/api/v1/tables/{table}/records/query"),
                format!(r#"{{"filter":{{"field":{raw},"op":"eq","value":"x"}}}}"#),
            ),
            (
                Method::PATCH,
                format!("/api/v1/views/{view}"),
                format!(r#"{{"name":{raw}}}"#),
            ),
            (
                Method::POST,
                "/api/v1/auth/login".into(),
                format!(r#"{{"email":{raw},"password":"whatever password"}}"#),
            ),
        ];
        for (method, path, body) in cases {
            let (status, took) = timed_raw(&s, &t, method.clone(), &path, body).await;
            tried += 1;
            let shown: String = raw.chars().take(24).collect();
            assert!(
                !status.is_server_error(),
                "{method} {path} with {shown}: {status}"
            );
            assert!(
                took < Duration::from_secs(1),
                "{method} {path} with {shown}: {took:?}"
            );
        }
    }
    assert_eq!(tried, 11 * 11);
    s.anon(Method::GET, "/health")
        .send_expect(StatusCode::OK)
        .await;
}

/// Deep nesting, long lists and huge page sizes are 4xx answers naming the
/// problem, within a second.
#[tokio::test]
async fn deep_filters_long_lists_and_huge_pages_are_refused_quickly() {
    let s = TestServer::start().await;
    let (t, _) = s.register().await;
    let ws = s.workspace(&t).await;
    let (_, table) = s.table(&t, &ws).await;
    let query = format!("/api/v1/tables/{table}/records/query");
    let mut deep = r#"{"field":"Name","op":"eq","value":"x"}"#.to_owned();
    for _ in 0..10_000 {
        deep = format!(r#"{{"not":{deep}}}"#);
    }
    let values: Vec<String> = (0..10_000).map(|i| format!("v{i}")).collect();
    let cases = [
        format!(r#"{{"filter":{deep}}}"#),
        json!({"filter": {"field": "Name", "op": "in", "value": values}}).to_string(),
        json!({"page_size": 1_000_000_000_000u64}).to_string(),
        json!({"page_size": -1}).to_string(),
        json!({"sort": (0..10_000).map(|i| format!("f{i}")).collect::<Vec<_>>().join(",")})
            .to_string(),
    ];
    for body in cases {
        let (status, took) = timed_raw(&s, &t, Method::POST, &query, body.clone()).await;
        let shown: String = body.chars().take(60).collect();
        assert!(status.is_client_error(), "{shown}: {status}");
        assert!(took < Duration::from_secs(1), "{shown}: {took:?}");
    }
    for q in [
        "page_size=99999999999999999999",
        "page_size=0",
        "cursor=%00%00",
    ] {
        let r = s
            .req(
                &t,
                Method::GET,
                &format!("/api/v1/tables/{table}/records?{q}"),
            )
            .send()
            .await
            .unwrap();
        assert!(r.status().is_client_error(), "{q}: {}", r.status());
    }
}

/// Connections that send their headers byte by byte, or never finish them,
/// do not stop the server from answering others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_do_not_starve_others() {
    use tokio::io::AsyncWriteExt;
    let s = TestServer::start().await;
    let addr = s.base.trim_start_matches("http://").to_owned();
    let mut slow = Vec::new();
    for _ in 0..200 {
        let mut c = tokio::net::TcpStream::connect(&addr).await.unwrap();
        c.write_all(b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n")
            .await
            .unwrap();
        slow.push(c);
    }
    for _ in 0..10 {
        let started = Instant::now();
        s.anon(Method::GET, "/health")
            .send_expect(StatusCode::OK)
            .await;
        assert!(started.elapsed() < Duration::from_secs(1));
        for c in &mut slow {
            // One more header byte each, never the end of the headers.
            let _ = c.write_all(b"X").await;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
