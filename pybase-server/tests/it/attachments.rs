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
        "inline; filename=\"data.bin\"; filename*=UTF-8''data.bin"
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
        "attachment; filename=\"page.svg\"; filename*=UTF-8''page.svg"
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

    copies_into_other_tables(s, &t, &table, &id, &bytes, &stranger).await;
}

/// An attachment of one table written into another table's cell is
/// copied there (new id, same name and bytes, its own object), as
/// Airtable re-hosts attachments; one of a table the writer cannot read
/// is refused like an unknown id.
async fn copies_into_other_tables(
    s: &TestServer,
    owner: &str,
    table: &str,
    id: &str,
    bytes: &[u8],
    stranger: &str,
) {
    let other_ws = s.workspace(owner).await;
    let (_, other) = s.table(owner, &other_ws).await;
    s.req(
        owner,
        Method::POST,
        &format!("/api/v1/tables/{other}/fields"),
    )
    .json(&json!({"name": "Files", "type": "attachment"}))
    .send_expect(StatusCode::CREATED)
    .await;
    let copied = s
        .req(
            owner,
            Method::POST,
            &format!("/api/v1/tables/{other}/records"),
        )
        .json(&json!({"fields": {"Name": "copy", "Files": [{"id": id}]}}))
        .send_expect(StatusCode::CREATED)
        .await;
    let copy = &copied["fields"]["Files"][0];
    let copy_id = copy["id"].as_str().unwrap();
    assert_ne!(copy_id, id, "{copied}");
    assert_eq!(copy["filename"], "data.bin");
    assert_eq!(copy["sha256"].as_str().unwrap().len(), 64);
    let meta = s
        .req(
            owner,
            Method::GET,
            &format!("/api/v1/attachments/{copy_id}"),
        )
        .send_expect(StatusCode::OK)
        .await;
    assert_eq!(meta["size"], json!(bytes.len()));
    let r = s
        .req(
            owner,
            Method::GET,
            &format!("/api/v1/attachments/{copy_id}/content"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.bytes().await.unwrap().to_vec(), bytes);
    // Writing the copy again into its own table keeps it (no copy of a copy).
    let again = s
        .req(
            owner,
            Method::POST,
            &format!("/api/v1/tables/{other}/records"),
        )
        .json(&json!({"fields": {"Files": [copy_id]}}))
        .send_expect(StatusCode::CREATED)
        .await;
    assert_eq!(again["fields"]["Files"][0]["id"], copy_id);
    // Someone who cannot read the source table: refused, nothing told.
    let ws = s.workspace(stranger).await;
    let (_, theirs) = s.table(stranger, &ws).await;
    s.req(
        stranger,
        Method::POST,
        &format!("/api/v1/tables/{theirs}/fields"),
    )
    .json(&json!({"name": "Files", "type": "attachment"}))
    .send_expect(StatusCode::CREATED)
    .await;
    let e = s
        .req(
            stranger,
            Method::POST,
            &format!("/api/v1/tables/{theirs}/records"),
        )
        .json(&json!({"fields": {"Files": [{"id": id}]}}))
        .send_expect_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
        .await;
    assert!(
        e["error"]["details"]["fields"]["Files"]
            .as_str()
            .unwrap()
            .contains("attachments uploaded to this table"),
        "{e}"
    );
    // The source is untouched.
    let r = s
        .req(
            owner,
            Method::GET,
            &format!("/api/v1/tables/{table}/records"),
        )
        .send_expect(StatusCode::OK)
        .await;
    assert_eq!(r["records"][0]["fields"]["Files"][0]["id"], id);
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
