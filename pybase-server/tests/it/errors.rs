//! Every error class answers the error shape with its status.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::{SendExpect, TestServer, settings_in};

#[tokio::test]
async fn unknown_route_is_404_in_the_error_shape() {
    let s = TestServer::start().await;
    s.anon(Method::GET, "/api/v1/nope")
        .send_expect_error(StatusCode::NOT_FOUND, "not_found")
        .await;
    s.anon(Method::GET, "/totally/unknown")
        .send_expect_error(StatusCode::NOT_FOUND, "not_found")
        .await;
}

#[tokio::test]
async fn wrong_method_is_405_in_the_error_shape() {
    let s = TestServer::start().await;
    s.anon(Method::PUT, "/api/v1/auth/login")
        .send_expect_error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
        .await;
    s.anon(Method::DELETE, "/health")
        .send_expect_error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
        .await;
}

#[tokio::test]
async fn malformed_json_is_400() {
    let s = TestServer::start().await;
    s.anon(Method::POST, "/api/v1/auth/register")
        .header("content-type", "application/json")
        .body("{\"email\": ")
        .send_expect_error(StatusCode::BAD_REQUEST, "bad_request")
        .await;
}

/// A query parameter of the wrong type is 400 naming the parameter and
/// what was expected (serde's message), not a bare parse error.
#[tokio::test]
async fn a_query_parameter_of_the_wrong_type_is_400_naming_it() {
    let s = TestServer::start().await;
    let (owner, _) = s.register().await;
    let ws = s.workspace(&owner).await;
    let (_, table) = s.table(&owner, &ws).await;
    for (query, param) in [
        ("page_size=abc", "page_size"),
        ("page_size=-1", "page_size"),
        ("include_deleted=maybe", "include_deleted"),
    ] {
        let v = s
            .req(
                &owner,
                Method::GET,
                &format!("/api/v1/tables/{table}/records?{query}"),
            )
            .send_expect_error(StatusCode::BAD_REQUEST, "bad_request")
            .await;
        let problem = v["error"]["details"]["fields"][param].as_str();
        assert!(
            problem.is_some_and(|p| p.contains("expected")),
            "{query}: {v}"
        );
        if param == "page_size" {
            // Every page size of /api/v1 takes 1 to 1000: the answer says so.
            assert!(
                problem.is_some_and(|p| p.contains("from 1 to 1000")),
                "{query}: {v}"
            );
        }
    }
    // A parameter given twice is named too.
    let v = s
        .req(
            &owner,
            Method::GET,
            &format!("/api/v1/tables/{table}/records?cursor=a&cursor=b"),
        )
        .send_expect_error(StatusCode::BAD_REQUEST, "bad_request")
        .await;
    assert_eq!(
        v["error"]["details"]["fields"]["cursor"], "given once",
        "{v}"
    );
}

#[tokio::test]
async fn missing_content_type_is_415() {
    let s = TestServer::start().await;
    s.anon(Method::POST, "/api/v1/auth/register")
        .header("content-type", "text/plain")
        .body("{}")
        .send_expect_error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
        .await;
}

#[tokio::test]
async fn wrong_shape_is_422_naming_the_field() {
    let s = TestServer::start().await;
    let v = s
        .anon(Method::POST, "/api/v1/auth/register")
        .json(&json!({"email": "a@example.com", "password": 12345678, "name": "x"}))
        .send_expect_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
        .await;
    assert!(
        v["error"]["details"]["fields"]["password"].is_string(),
        "{v}"
    );
    let v = s
        .anon(Method::POST, "/api/v1/auth/register")
        .json(&json!({"email": "a@example.com", "name": "x"}))
        .send_expect_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
        .await;
    assert!(
        v["error"]["details"]["fields"]["password"].is_string(),
        "{v}"
    );
}

#[tokio::test]
async fn body_over_the_json_limit_is_413() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = settings_in(dir.path());
    settings.max_json_bytes = 1024;
    let s = TestServer::start_with(settings).await;
    let (token, _) = s.register().await;
    let big = "x".repeat(4096);
    s.req(&token, Method::POST, "/api/v1/workspaces")
        .json(&json!({"name": big}))
        .send_expect_error(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
        .await;
}

#[tokio::test]
async fn missing_and_bad_credentials_are_401() {
    let s = TestServer::start().await;
    s.anon(Method::GET, "/api/v1/workspaces")
        .send_expect_error(StatusCode::UNAUTHORIZED, "unauthorized")
        .await;
    s.req("not-a-token", Method::GET, "/api/v1/workspaces")
        .send_expect_error(StatusCode::UNAUTHORIZED, "unauthorized")
        .await;
    s.anon(Method::GET, "/api/v1/workspaces")
        .header("authorization", "Basic dXNlcjpwYXNz")
        .send_expect_error(StatusCode::UNAUTHORIZED, "unauthorized")
        .await;
    s.anon(Method::GET, "/api/v1/workspaces")
        .header("x-api-key", "pbk_0000000000000000000000")
        .send_expect_error(StatusCode::UNAUTHORIZED, "unauthorized")
        .await;
}

#[tokio::test]
async fn ids_of_the_wrong_kind_are_404() {
    let s = TestServer::start().await;
    let (token, _) = s.register().await;
    let ws = s.workspace(&token).await;
    // A workspace id where a table id belongs.
    s.req(&token, Method::GET, &format!("/api/v1/tables/{ws}"))
        .send_expect_error(StatusCode::NOT_FOUND, "not_found")
        .await;
    s.req(&token, Method::GET, "/api/v1/bases/short")
        .send_expect_error(StatusCode::NOT_FOUND, "not_found")
        .await;
}

#[tokio::test]
async fn request_ids_are_echoed_or_generated() {
    let s = TestServer::start().await;
    let r = s
        .anon(Method::GET, "/health")
        .header("x-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "abc-123");
    let r = s.anon(Method::GET, "/health").send().await.unwrap();
    let id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert!(id.len() >= 32, "{id}");
    let r = s.anon(Method::GET, "/nope").send().await.unwrap();
    assert!(r.headers().contains_key("x-request-id"));
}

#[tokio::test]
async fn cors_allows_the_configured_origin_only() {
    let s = TestServer::start().await;
    let r = s
        .anon(Method::OPTIONS, "/api/v1/workspaces")
        .header("origin", "http://localhost:3000")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization,content-type",
        )
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "http://localhost:3000"
    );
    // Bearer tokens need no credentials mode (REVIEW-security L7).
    assert!(!r.headers().contains_key("access-control-allow-credentials"));
    let r = s
        .anon(Method::GET, "/health")
        .header("origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    assert!(!r.headers().contains_key("access-control-allow-origin"));
}

#[tokio::test]
async fn storage_outages_are_503_without_internals() {
    // Object storage that refuses connections: uploads fail inside the
    // server, with 503 `unavailable` (a retry may succeed) and nothing of
    // the cause. (Other internal errors answer 500 `internal` without
    // internals: see the server's unit tests for panics and error bodies.)
    let dir = tempfile::tempdir().unwrap();
    let mut settings = settings_in(dir.path());
    settings.s3_endpoint = Some("http://127.0.0.1:9".into());
    settings.s3_bucket = Some("secret-bucket-name".into());
    settings.s3_access_key_id = Some("K".into());
    settings.s3_secret_access_key = Some(pybase_server::settings::Secret::new("S"));
    let s = TestServer::start_with(settings).await;
    let (token, _) = s.register().await;
    let ws = s.workspace(&token).await;
    let (_, table) = s.table(&token, &ws).await;
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(b"hello".to_vec()).file_name("a.txt"),
    );
    let v = s
        .req(
            &token,
            Method::POST,
            &format!("/api/v1/tables/{table}/attachments"),
        )
        .multipart(form)
        .send_expect_error(StatusCode::SERVICE_UNAVAILABLE, "unavailable")
        .await;
    let text = v.to_string();
    for leak in [
        "127.0.0.1",
        "secret-bucket-name",
        "connect",
        "s3",
        "error sending",
    ] {
        assert!(!text.contains(leak), "leaked {leak:?}: {text}");
    }
    // The health check names what is down.
    let v = s
        .anon(Method::GET, "/health")
        .send_expect(StatusCode::SERVICE_UNAVAILABLE)
        .await;
    assert_eq!(v["status"], "unhealthy");
    assert_eq!(v["checks"]["object_store"], "down");
    assert_eq!(v["checks"]["database"], "ok");
}

#[tokio::test]
async fn shape_errors_speak_json_not_rust() {
    let s = TestServer::start().await;
    let (t, _) = s.register().await;
    // An array or a string where an object belongs.
    for body in [json!([]), json!("x")] {
        let v = s
            .req(&t, Method::POST, "/api/v1/workspaces")
            .json(&body)
            .send_expect_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
            .await;
        let text = v.to_string();
        assert!(text.contains("expected a JSON object"), "{text}");
        assert!(!text.contains("struct"), "{text}");
    }
    // A time that is not RFC 3339 says which format is expected.
    let v = s
        .req(&t, Method::POST, "/api/v1/api-keys")
        .json(&json!({"name": "k", "expires_at": "tomorrow"}))
        .send_expect_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
        .await;
    let why = v["error"]["details"]["fields"]["expires_at"]
        .as_str()
        .unwrap_or_default();
    assert!(why.contains("RFC 3339"), "{v}");
    // A batch delete without `?ids=` names the missing parameter.
    let ws = s.workspace(&t).await;
    let (_, table) = s.table(&t, &ws).await;
    let v = s
        .req(
            &t,
            Method::DELETE,
            &format!("/api/v1/tables/{table}/records"),
        )
        .send_expect_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
        .await;
    assert!(v["error"]["details"]["fields"]["ids"].is_string(), "{v}");
}

/// JSON bodies are read whatever the spelling of a JSON content type:
/// exactly `application/json` (any case) takes the fast parse, parameters
/// or `+json` take axum's; a wrong shape names its field either way.
#[tokio::test]
async fn json_content_types_are_read_alike_and_errors_name_the_field() {
    let s = TestServer::start().await;
    for content_type in [
        "APPLICATION/JSON",
        "application/json; charset=utf-8",
        "application/vnd.api+json",
    ] {
        let body = json!({"email": crate::common::email(), "password": "correct horse battery", "name": "x"});
        s.anon(Method::POST, "/api/v1/auth/register")
            .header("content-type", content_type)
            .body(body.to_string())
            .send_expect(StatusCode::CREATED)
            .await;
        let bad = json!({"email": crate::common::email(), "password": ["no"], "name": "x"});
        let v = s
            .anon(Method::POST, "/api/v1/auth/register")
            .header("content-type", content_type)
            .body(bad.to_string())
            .send_expect_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
            .await;
        assert!(
            v["error"]["details"]["fields"]["password"].is_string(),
            "{content_type}: {v}"
        );
    }
}

/// The errors hyper answers itself, before any handler runs (a URI of
/// 64 KiB or more: 414; a head larger than its buffer: 431; a request line
/// it cannot parse: 400), come in the JSON error shape too, with
/// `X-Request-Id`; long URIs below that reach the API (AIRTABLE.md: up to
/// 16,000 characters).
#[tokio::test]
async fn hyper_s_own_errors_have_the_json_shape() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let s = TestServer::start().await;
    let addr = s.base.trim_start_matches("http://").to_owned();
    // Raw requests: clients refuse to send such URIs themselves.
    let raw = |request: Vec<u8>| {
        let addr = addr.clone();
        async move {
            let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
            tcp.write_all(&request).await.unwrap();
            let mut answer = Vec::new();
            tcp.read_to_end(&mut answer).await.unwrap();
            String::from_utf8_lossy(&answer).into_owned()
        }
    };
    let long = format!(
        "GET /api/v1/workspaces?x={} HTTP/1.1\r\nHost: x\r\n\r\n",
        "a".repeat(70_000)
    );
    let answer = raw(long.into_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 414 "), "{answer}");
    assert!(
        answer.contains("content-type: application/json\r\n"),
        "{answer}"
    );
    assert!(answer.contains("x-request-id: "), "{answer}");
    let body = answer.split("\r\n\r\n").nth(1).unwrap();
    let v: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(v["error"]["code"], "uri_too_long", "{v}");
    assert!(v["error"]["message"].is_string());
    // Under /v0, in Airtable's shape (a reviewer's finding).
    let long = format!(
        "GET /v0/appX/tblY?x={} HTTP/1.1\r\nHost: x\r\n\r\n",
        "a".repeat(70_000)
    );
    let answer = raw(long.into_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 414 "), "{answer}");
    let body = answer.split("\r\n\r\n").nth(1).unwrap();
    let v: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(v["error"]["type"], "URI_TOO_LONG", "{v}");
    assert!(v["error"].get("code").is_none(), "{v}");
    // (431, a head over hyper's buffer, is left to the unit test: the
    // server closes while such a client is still sending, so what the
    // client reads first is a matter of timing.)
    // A request line hyper cannot parse.
    let answer = raw(b"GET /a b c HTTP/1.1\r\nHost: x\r\n\r\n".to_vec()).await;
    assert!(answer.starts_with("HTTP/1.1 400 "), "{answer}");
    assert!(answer.contains("\"code\":\"bad_request\""), "{answer}");
    // A long URI below hyper's limit reaches the API: 401 in its shape.
    let fine = format!("/api/v1/workspaces?x={}", "a".repeat(16_000));
    s.anon(Method::GET, &fine)
        .send_expect_error(StatusCode::UNAUTHORIZED, "unauthorized")
        .await;
}

/// Sends `head` and then `body` on a fresh connection to `server`, writing
/// the body beside reading the answer (the server may answer and close
/// before it is all sent); answers the response head, lower-cased.
async fn raw_response_head(server: &TestServer, head: String, body: Vec<u8>) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let addr = server.base.trim_start_matches("http://");
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let sending = tokio::spawn(async move {
        // An error here is the server closing early: what is under test.
        let _ = writer.write_all(head.as_bytes()).await;
        let _ = writer.write_all(&body).await;
        writer
    });
    let mut seen = Vec::new();
    let mut buf = [0_u8; 4096];
    while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = reader.read(&mut buf).await.unwrap();
        assert!(n > 0, "the connection closed before a response");
        seen.extend_from_slice(&buf[..n]);
    }
    drop(sending);
    String::from_utf8_lossy(&seen).to_lowercase()
}

/// A response sent before the request's body was read says the connection
/// closes (hyper closes it: a pooling client must not reuse it); one whose
/// body was read, or that had none, keeps it open.
#[tokio::test]
async fn an_answer_before_the_body_is_read_closes_the_connection() {
    let server = TestServer::start().await;
    let (token, _) = server.register().await;
    let ws = server.workspace(&token).await;
    let (_, table) = server.table(&token, &ws).await;
    let body = serde_json::to_vec(&json!({"fields": {"Name": "x".repeat(256 * 1024)}})).unwrap();
    let head = |path: &str, auth: &str| {
        format!(
            "PATCH {path} HTTP/1.1\r\nHost: pybase\r\nAuthorization: Bearer {auth}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
    };
    // A record id that does not parse: 404 before the body is read.
    let bad_id = format!("/api/v1/tables/{table}/records/xyz");
    let answer = raw_response_head(&server, head(&bad_id, &token), body.clone()).await;
    assert!(answer.starts_with("http/1.1 404"), "{answer}");
    assert!(answer.contains("\r\nconnection: close\r\n"), "{answer}");
    // A bad token: 401 before the body is read.
    let answer = raw_response_head(&server, head(&bad_id, "not-a-token"), body.clone()).await;
    assert!(answer.starts_with("http/1.1 401"), "{answer}");
    assert!(answer.contains("\r\nconnection: close\r\n"), "{answer}");

    // The body read (a record made, then a 422 on a cell): kept open.
    let made = server
        .req(
            &token,
            Method::POST,
            &format!("/api/v1/tables/{table}/records"),
        )
        .json(&json!({"fields": {"Name": "a"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(made.status(), StatusCode::CREATED);
    assert!(made.headers().get("connection").is_none());
    let rejected = server
        .req(
            &token,
            Method::POST,
            &format!("/api/v1/tables/{table}/records"),
        )
        .json(&json!({"fields": {"Qty": "many"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(rejected.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(rejected.headers().get("connection").is_none());
    // No body at all: kept open.
    let listed = server
        .req(
            &token,
            Method::GET,
            &format!("/api/v1/tables/{table}/records"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), StatusCode::OK);
    assert!(listed.headers().get("connection").is_none());
}
