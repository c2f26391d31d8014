//! Attachment links under `/v0` (AIRTABLE.md §6): a cell's `url` is a
//! signed link that downloads without credentials for two hours; a link
//! with another id, expiry or signature, or an expired one, is refused; a
//! signed link written back names its attachment.

use pybase_core::facade::hmac_hex;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::SendExpect;
use crate::v0::V0World;

/// The signature the server gives `"<id>.<expires>"`, computed from the
/// test settings' `SECRET_KEY` the way the server derives its keys, to
/// make an expired link (the server never hands one out).
fn signature(id: &str, expires: i64) -> String {
    let secret = b"test-secret-key-that-is-long-enough-0123456789";
    let webhook_key = hmac_hex(secret, b"pybase webhook secrets v1");
    let link_key_hex = hmac_hex(webhook_key.as_bytes(), b"pybase attachment links v1");
    let link_key: Vec<u8> = (0..link_key_hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&link_key_hex[i..i + 2], 16).unwrap())
        .collect();
    hmac_hex(&link_key, format!("{id}.{expires}").as_bytes())
}

async fn upload(w: &V0World, name: &str, bytes: &'static [u8]) -> String {
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(bytes)
            .file_name(name.to_owned())
            .mime_str("text/plain")
            .unwrap(),
    );
    w.s.req(
        &w.owner,
        Method::POST,
        &format!("/api/v1/tables/{}/attachments", w.table),
    )
    .multipart(form)
    .send_expect(StatusCode::CREATED)
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn attachment_urls_are_signed_links_that_expire() {
    let w = V0World::new().await;
    w.s.req(
        &w.key,
        Method::POST,
        &format!("/v0/meta/bases/{}/tables/{}/fields", w.base, w.table),
    )
    .json(&json!({"name": "Files", "type": "multipleAttachments"}))
    .send_expect(StatusCode::OK)
    .await;
    let a = upload(&w, "a.txt", b"hello").await;
    let b = upload(&w, "b.txt", b"other").await;
    let rec =
        w.s.req(&w.key, Method::POST, &format!("/v0/{}/Orders", w.base))
            .json(&json!({"fields": {"Name": "with files", "Files": [{"id": a}, {"id": b}]}}))
            .send_expect(StatusCode::OK)
            .await;
    let got =
        w.s.req(
            &w.key,
            Method::GET,
            &format!("/v0/{}/Orders/{}", w.base, rec["id"].as_str().unwrap()),
        )
        .send_expect(StatusCode::OK)
        .await;
    let files = got["fields"]["Files"].as_array().unwrap().clone();
    let url = files[0]["url"].as_str().unwrap().to_owned();
    let prefix = format!("/api/v1/attachments/{a}/signed?expires=");
    assert!(url.starts_with(&prefix), "{url}");
    let parts: Vec<&str> = url[prefix.len()..].split("&signature=").collect();
    let expires: i64 = parts[0].parse().unwrap();
    let now = chrono::Utc::now().timestamp();
    assert!((now + 7100..=now + 7300).contains(&expires), "{expires}");
    assert_eq!(parts[1], signature(&a, expires));
    // No credentials: the bytes, with the stored type.
    let r = w.s.anon(Method::GET, &url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "text/plain");
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"hello");
    // Another id, expiry or signature, or an expired link: refused.
    let sig = parts[1];
    for (bad, why) in [
        (
            format!("/api/v1/attachments/{b}/signed?expires={expires}&signature={sig}"),
            "another id",
        ),
        (
            format!(
                "/api/v1/attachments/{a}/signed?expires={}&signature={sig}",
                expires + 3600
            ),
            "a later expiry",
        ),
        (
            format!(
                "/api/v1/attachments/{a}/signed?expires={expires}&signature={}",
                "0".repeat(64)
            ),
            "another signature",
        ),
        (
            format!(
                "/api/v1/attachments/{a}/signed?expires={}&signature={}",
                now - 1,
                signature(&a, now - 1)
            ),
            "an expired link",
        ),
    ] {
        let r = w.s.anon(Method::GET, &bad).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{why}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"]["code"], "forbidden", "{why}: {v}");
    }
    // A well-signed link to an attachment that does not exist: 404.
    let ghost = "attAAAAAAAAAAAAAA";
    let r =
        w.s.anon(
            Method::GET,
            &format!(
                "/api/v1/attachments/{ghost}/signed?expires={expires}&signature={}",
                signature(ghost, expires)
            ),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // A malformed expiry: 400.
    let r =
        w.s.anon(
            Method::GET,
            &format!("/api/v1/attachments/{a}/signed?expires=soon&signature={sig}"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // Written back as read (pyairtable's ORM does), the cell is unchanged.
    let back =
        w.s.req(
            &w.key,
            Method::PATCH,
            &format!("/v0/{}/Orders/{}", w.base, rec["id"].as_str().unwrap()),
        )
        .json(&json!({"fields": {"Files": [{"url": url}, {"url": files[1]["url"]}]}}))
        .send_expect(StatusCode::OK)
        .await;
    let ids: Vec<&str> = back["fields"]["Files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [a.as_str(), b.as_str()]);
}
