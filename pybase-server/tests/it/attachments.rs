//! Attachments on the local folder store.

use reqwest::multipart::{Form, Part};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::{SendExpect, TestServer, email, id_of, settings_in};

fn file(bytes: Vec<u8>, name: &str, ct: &str) -> Form {
    Form::new().part(
        "file",
        Part::bytes(bytes)
            .file_name(name.to_owned())
            .mime_str(ct)
            .unwrap(),
    )
}

/// Uploads, reads metadata and content, and checks who may do what.
pub(crate) async fn round_trip(s: &TestServer) {
    let (t, _) = s.register().await;
    let ws = s.workspace(&t).await;
    let (_, table) = s.table(&t, &ws).await;
    let bytes: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let a = s
        .req(
            &t,
            Method::POST,
            &format!("/api/v1/tables/{table}/attachments"),
        )
        .multipart(file(bytes.clone(), "data.bin", "application/x-test"))
        .send_expect(StatusCode::CREATED)
        .await;
    let id = id_of(&a);
    assert!(id.starts_with("att"));
    assert_eq!(a["size"], json!(bytes.len()));
    assert_eq!(a["filename"], "data.bin");
    assert_eq!(a["content_type"], "application/x-test");
    assert_eq!(a["sha256"].as_str().unwrap().len(), 64);

    let got = s
        .req(&t, Method::GET, &format!("/api/v1/attachments/{id}"))
        .send_expect(StatusCode::OK)
        .await;
    assert_eq!(got["id"], id);
    let r = s
        .req(&t, Method::GET, a["url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "application/x-test");
    // Served so that nothing uploaded can run as this origin (2.5 #8).
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    assert_eq!(r.headers()["content-security-policy"], "sandbox");
    assert_eq!(
        r.headers()["content-disposition"],
        "inline; filename=\"data.bin\""
    );
    assert_eq!(r.bytes().await.unwrap().to_vec(), bytes);
    // Markup is downloaded, never rendered inline.
    let html = s
        .req(
            &t,
            Method::POST,
            &format!("/api/v1/tables/{table}/attachments"),
        )
        .multipart(file(
            b"<script>alert(1)</script>".to_vec(),
            "page.svg",
            "image/svg+xml",
        ))
        .send_expect(StatusCode::CREATED)
        .await;
    let r = s
        .req(&t, Method::GET, html["url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.headers()["content-disposition"],
        "attachment; filename=\"page.svg\""
    );
    assert_eq!(r.headers()["content-security-policy"], "sandbox");

    // Into an attachment cell.
    s.req(&t, Method::POST, &format!("/api/v1/tables/{table}/fields"))
        .json(&json!({"name": "Files", "type": "attachment"}))
        .send_expect(StatusCode::CREATED)
        .await;
    let rec = s
        .req(&t, Method::POST, &format!("/api/v1/tables/{table}/records"))
        .json(&json!({"fields": {"Name": "with file", "Files": [{"id": id}]}}))
        .send_expect(StatusCode::CREATED)
        .await;
    assert_eq!(rec["fields"]["Files"][0]["id"], id);

    // Viewers read but cannot upload; strangers see nothing.
    let mail = email();
    let (viewer, _) = s.register_as(&mail, "correct horse battery").await;
    s.add_member(&t, &ws, &mail, "viewer").await;
    let r = s
        .req(
            &viewer,
            Method::GET,
            &format!("/api/v1/attachments/{id}/content"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    s.req(
        &viewer,
        Method::POST,
        &format!("/api/v1/tables/{table}/attachments"),
    )
    .multipart(file(b"x".to_vec(), "x.txt", "text/plain"))
    .send_expect_error(StatusCode::FORBIDDEN, "forbidden")
    .await;
    let (stranger, _) = s.register().await;
    s.req(&stranger, Method::GET, &format!("/api/v1/attachments/{id}"))
        .send_expect_error(StatusCode::NOT_FOUND, "not_found")
        .await;
}

#[tokio::test]
async fn upload_read_and_permissions_on_local_files() {
    let s = TestServer::start().await;
    round_trip(&s).await;
}

#[tokio::test]
async fn uploads_over_the_limit_are_413_and_wrong_types_415() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = settings_in(dir.path());
    settings.max_upload_bytes = 10_000;
    let s = TestServer::start_with(settings).await;
    let (t, _) = s.register().await;
    let ws = s.workspace(&t).await;
    let (_, table) = s.table(&t, &ws).await;
    let url = format!("/api/v1/tables/{table}/attachments");
    // Over the limit but within the multipart slack: the facade's count stops it.
    s.req(&t, Method::POST, &url)
        .multipart(file(
            vec![7u8; 20_000],
            "big.bin",
            "application/octet-stream",
        ))
        .send_expect_error(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
        .await;
    // Far over: the body limit stops it.
    s.req(&t, Method::POST, &url)
        .multipart(file(
            vec![7u8; 200_000],
            "huge.bin",
            "application/octet-stream",
        ))
        .send_expect_error(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
        .await;
    s.req(&t, Method::POST, &url)
        .json(&json!({"file": "nope"}))
        .send_expect_error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
        .await;
    s.req(&t, Method::POST, &url)
        .multipart(Form::new().text("other", "x"))
        .send_expect_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
        .await;
    // A second file is refused, not dropped.
    let two = file(b"one".to_vec(), "one.txt", "text/plain").part(
        "file",
        Part::bytes(b"two".to_vec())
            .file_name("two.txt")
            .mime_str("text/plain")
            .unwrap(),
    );
    let body = s
        .req(&t, Method::POST, &url)
        .multipart(two)
        .send_expect_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
        .await;
    assert!(
        body["error"]["details"]["fields"]["file"]
            .as_str()
            .is_some_and(|m| m.contains("one part")),
        "{body}"
    );
}
