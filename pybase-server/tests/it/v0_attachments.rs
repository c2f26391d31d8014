//! Attachment links under `/v0` (AIRTABLE.md §6): a cell's `url` is a
//! signed link that downloads without credentials for two hours; a link
//! with another id, expiry or signature, or an expired one, is refused; a
//! signed link written back names its attachment.

use pybase_core::facade::hmac_hex;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{SendExpect, TestServer, settings_in};
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
    w.files_field().await;
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
    // Absolute, as Airtable's: clients download it as given. Unset
    // PUBLIC_URL, it names the address the server listens on.
    let prefix = format!("{}/api/v1/attachments/{a}/signed?expires=", w.s.base);
    assert!(url.starts_with(&prefix), "{url}");
    let parts: Vec<&str> = url[prefix.len()..].split("&signature=").collect();
    let expires: i64 = parts[0].parse().unwrap();
    let now = chrono::Utc::now().timestamp();
    assert!((now + 7100..=now + 7300).contains(&expires), "{expires}");
    assert_eq!(parts[1], signature(&a, expires));
    // No credentials: the bytes, with the stored type.
    let r = w.s.client.get(&url).send().await.unwrap();
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
        (
            format!("/api/v1/attachments/{a}/signed?expires={expires}"),
            "no signature",
        ),
        (format!("/api/v1/attachments/{a}/signed"), "neither part"),
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

/// With `PUBLIC_URL` set (a proxy's address with a path prefix), signed
/// links start with it, on reads and in `uploadAttachment`'s answer, and
/// written back they still name their attachment.
#[tokio::test]
async fn signed_links_start_with_the_public_url() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = settings_in(dir.path());
    settings.airtable_rate_limit_per_base = 10_000;
    settings.public_url = Some("https://pybase.example.com/tools/".into());
    let w = V0World::start(settings, dir).await;
    let files = w.files_field().await;
    let rec =
        w.s.req(&w.key, Method::POST, &format!("/v0/{}/Orders", w.base))
            .json(&json!({"fields": {"Name": "r"}}))
            .send_expect(StatusCode::OK)
            .await["id"]
            .as_str()
            .unwrap()
            .to_owned();
    let answer =
        w.s.req(&w.key, Method::POST, &w.upload_url(&rec, &files))
            .json(&json!({"contentType": "text/plain", "filename": "a.txt", "file": b64(b"hi")}))
            .send_expect(StatusCode::OK)
            .await;
    let id = answer["fields"][&files][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let prefix = format!("https://pybase.example.com/tools/api/v1/attachments/{id}/signed?");
    let uploaded = answer["fields"][&files][0]["url"].as_str().unwrap();
    assert!(uploaded.starts_with(&prefix), "{uploaded}");
    let got =
        w.s.req(&w.key, Method::GET, &format!("/v0/{}/Orders/{rec}", w.base))
            .send_expect(StatusCode::OK)
            .await;
    let url = got["fields"]["Files"][0]["url"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(url.starts_with(&prefix), "{url}");
    // The same path and query on this server download the bytes.
    let here = url.replace("https://pybase.example.com/tools", &w.s.base);
    let r = w.s.client.get(&here).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"hi");
    let back =
        w.s.req(
            &w.key,
            Method::PATCH,
            &format!("/v0/{}/Orders/{rec}", w.base),
        )
        .json(&json!({"fields": {"Files": [{"url": url}]}}))
        .send_expect(StatusCode::OK)
        .await;
    assert_eq!(back["fields"]["Files"][0]["id"], json!(id));
}

impl V0World {
    /// Adds an attachment field "Files" to Orders; answers its id.
    pub(crate) async fn files_field(&self) -> String {
        self.s
            .req(
                &self.key,
                Method::POST,
                &format!("/v0/meta/bases/{}/tables/{}/fields", self.base, self.table),
            )
            .json(&json!({"name": "Files", "type": "multipleAttachments"}))
            .send_expect(StatusCode::OK)
            .await["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    fn upload_url(&self, record: &str, field: &str) -> String {
        format!("/v0/{}/{record}/{field}/uploadAttachment", self.base)
    }
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// `uploadAttachment` stores the file, appends it to the cell and answers
/// the record keyed by field id; its link downloads the bytes.
#[tokio::test]
async fn upload_attachment_appends_to_the_cell() {
    let w = V0World::new().await;
    let files = w.files_field().await;
    let rec =
        w.s.req(&w.key, Method::POST, &format!("/v0/{}/Orders", w.base))
            .json(&json!({"fields": {"Name": "r"}}))
            .send_expect(StatusCode::OK)
            .await["id"]
            .as_str()
            .unwrap()
            .to_owned();
    for (i, by) in [(0, files.as_str()), (1, "Files")].into_iter() {
        let got = w
            .s
            .req(&w.key, Method::POST, &w.upload_url(&rec, by))
            .json(&json!({"contentType": "text/plain", "filename": format!("f{i}.txt"), "file": b64(format!("content {i}").as_bytes())}))
            .send_expect(StatusCode::OK)
            .await;
        assert_eq!(got["id"], json!(rec));
        let cell = got["fields"][&files].as_array().unwrap();
        assert_eq!(cell.len(), i + 1, "{got}");
        let last = &cell[i];
        assert_eq!(last["filename"], format!("f{i}.txt"));
        assert_eq!(last["type"], "text/plain");
        assert_eq!(last["size"], json!(9));
        let r =
            w.s.client
                .get(last["url"].as_str().unwrap())
                .send()
                .await
                .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(
            r.bytes().await.unwrap().as_ref(),
            format!("content {i}").as_bytes()
        );
    }
    // A field id names its table: a record of another table of the base
    // is not found there (the field's table is not searched for it).
    w.s.req(
        &w.key,
        Method::POST,
        &format!("/v0/meta/bases/{}/tables", w.base),
    )
    .json(&json!({"name": "Other", "fields": [{"name": "Name", "type": "singleLineText"}]}))
    .send_expect(StatusCode::OK)
    .await;
    let other =
        w.s.req(&w.key, Method::POST, &format!("/v0/{}/Other", w.base))
            .json(&json!({"fields": {"Name": "o"}}))
            .send_expect(StatusCode::OK)
            .await["id"]
            .as_str()
            .unwrap()
            .to_owned();
    let e =
        w.s.req(&w.key, Method::POST, &w.upload_url(&other, &files))
            .json(&json!({"contentType": "text/plain", "filename": "x.txt", "file": b64(b"x")}))
            .send_expect(StatusCode::NOT_FOUND)
            .await;
    assert_eq!(e["error"]["type"], "MODEL_ID_NOT_FOUND", "{e}");
}

/// Concurrent uploads to one cell all end up in it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_uploads_to_one_cell_all_land() {
    let w = V0World::new().await;
    let files = w.files_field().await;
    let rec =
        w.s.req(&w.key, Method::POST, &format!("/v0/{}/Orders", w.base))
            .json(&json!({"fields": {"Name": "r"}}))
            .send_expect(StatusCode::OK)
            .await["id"]
            .as_str()
            .unwrap()
            .to_owned();
    let url = w.upload_url(&rec, &files);
    let uploads = (0..12).map(|i| {
        w.s.req(&w.key, Method::POST, &url)
            .json(&json!({"contentType": "text/plain", "filename": format!("c{i}.txt"), "file": b64(b"x")}))
            .send_expect(StatusCode::OK)
    });
    futures::future::join_all(uploads).await;
    let got =
        w.s.req(
            &w.key,
            Method::GET,
            &format!("/v0/{}/Orders/{rec}?returnFieldsByFieldId=true", w.base),
        )
        .send_expect(StatusCode::OK)
        .await;
    let mut names: Vec<String> = got["fields"][&files]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["filename"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    let mut want: Vec<String> = (0..12).map(|i| format!("c{i}.txt")).collect();
    want.sort();
    assert_eq!(names, want);
}

/// Two server instances on one database (and one object store) taking
/// uploads to one cell at the same time: every upload lands, as the append
/// is a compare-and-set in the database, not a lock of one process.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn uploads_through_two_servers_to_one_cell_all_land() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = settings_in(dir.path());
    settings.airtable_rate_limit_per_base = 10_000;
    let other_settings = settings.clone();
    let w = V0World::start(settings, dir).await;
    let other = TestServer::start_with(other_settings).await;
    let files = w.files_field().await;
    for round in 0..3 {
        let rec =
            w.s.req(&w.key, Method::POST, &format!("/v0/{}/Orders", w.base))
                .json(&json!({"fields": {"Name": "r"}}))
                .send_expect(StatusCode::OK)
                .await["id"]
                .as_str()
                .unwrap()
                .to_owned();
        let url = w.upload_url(&rec, &files);
        let uploads = (0..8).map(|i| {
            let server = if i % 2 == 0 { &w.s } else { &other };
            server
                .req(&w.key, Method::POST, &url)
                .json(&json!({"contentType": "text/plain", "filename": format!("r{round}-{i}.txt"), "file": b64(b"x")}))
                .send_expect(StatusCode::OK)
        });
        futures::future::join_all(uploads).await;
        let got = other
            .req(
                &w.key,
                Method::GET,
                &format!("/v0/{}/Orders/{rec}?returnFieldsByFieldId=true", w.base),
            )
            .send_expect(StatusCode::OK)
            .await;
        let mut names: Vec<String> = got["fields"][&files]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["filename"].as_str().unwrap().to_owned())
            .collect();
        names.sort();
        let mut want: Vec<String> = (0..8).map(|i| format!("r{round}-{i}.txt")).collect();
        want.sort();
        assert_eq!(names, want, "round {round}");
    }
}

/// Bad uploads are refused in Airtable's shape, and nothing is appended.
#[tokio::test]
async fn bad_uploads_name_what_was_expected() {
    let w = V0World::new().await;
    let files = w.files_field().await;
    let rec =
        w.s.req(&w.key, Method::POST, &format!("/v0/{}/Orders", w.base))
            .json(&json!({"fields": {"Name": "r"}}))
            .send_expect(StatusCode::OK)
            .await["id"]
            .as_str()
            .unwrap()
            .to_owned();
    let ok = json!({"contentType": "text/plain", "filename": "a.txt", "file": b64(b"hi")});
    let big = "A".repeat(5 * 1024 * 1024 / 3 * 4 + 400);
    let read = w.s.key(&w.owner, &["read"], None).await;
    let (outsider, _) = w.s.register().await;
    for (token, url, body, status, kind) in [
        (
            &w.key,
            w.upload_url(&rec, &files),
            json!({"filename": "a", "file": "aGk="}),
            422,
            "INVALID_REQUEST_MISSING_FIELDS",
        ),
        (
            &w.key,
            w.upload_url(&rec, &files),
            json!({"contentType": "text/plain", "filename": "a", "file": "not base64!"}),
            422,
            "INVALID_REQUEST_UNKNOWN",
        ),
        (
            &w.key,
            w.upload_url(&rec, &files),
            json!({"contentType": "text/plain", "filename": 3, "file": "aGk="}),
            422,
            "INVALID_REQUEST_UNKNOWN",
        ),
        (
            &w.key,
            w.upload_url(&rec, &files),
            json!({"contentType": "text/plain", "filename": "a", "file": big}),
            413,
            "REQUEST_TOO_LARGE",
        ),
        (
            &w.key,
            w.upload_url("recAAAAAAAAAAAAAA", &files),
            ok.clone(),
            404,
            "MODEL_ID_NOT_FOUND",
        ),
        (
            &w.key,
            w.upload_url(&rec, "Nope"),
            ok.clone(),
            422,
            "UNKNOWN_FIELD_NAME",
        ),
        (
            &w.key,
            w.upload_url(&rec, "Name"),
            ok.clone(),
            422,
            "INVALID_VALUE_FOR_COLUMN",
        ),
        (
            &read,
            w.upload_url(&rec, &files),
            ok.clone(),
            403,
            "INVALID_PERMISSIONS",
        ),
        (
            &outsider,
            w.upload_url(&rec, &files),
            ok.clone(),
            403,
            "INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND",
        ),
    ] {
        let r =
            w.s.req(token, Method::POST, &url)
                .json(&body)
                .send()
                .await
                .unwrap();
        let status = StatusCode::from_u16(status).unwrap();
        crate::v0::airtable_error(r, status, kind).await;
    }
    let got =
        w.s.req(
            &w.key,
            Method::GET,
            &format!("/v0/{}/Orders/{rec}?returnFieldsByFieldId=true", w.base),
        )
        .send_expect(StatusCode::OK)
        .await;
    assert!(got["fields"].get(&files).is_none(), "{got}");
}

/// A lookup of an attachment field shows attachment objects, on
/// `/api/v1` and (in Airtable's shape, with signed links) on `/v0`, also
/// through a lookup of that lookup; a lookup of text whose value reads as
/// an attachment id stays that text.
#[tokio::test]
async fn lookups_of_attachments_show_attachment_objects() {
    let w = V0World::new().await;
    let v1 = |path: String| format!("/api/v1/{path}");
    let add_field = |table: String, body: Value| {
        let w = &w;
        async move {
            w.s.req(
                &w.owner,
                Method::POST,
                &v1(format!("tables/{table}/fields")),
            )
            .json(&body)
            .send_created_id()
            .await
        }
    };
    let add_table = |name: &'static str, link_to: String| {
        let w = &w;
        async move {
            let id =
                w.s.req(
                    &w.owner,
                    Method::POST,
                    &v1(format!("bases/{}/tables", w.base)),
                )
                .json(&json!({"name": name, "fields": [{"name": "Name", "type": "text"}]}))
                .send_created_id()
                .await;
            add_field(
                id.clone(),
                json!({"name": "Link", "type": "link", "options": {"linked_table_id": link_to}}),
            )
            .await;
            id
        }
    };
    add_field(
        w.table.clone(),
        json!({"name": "Files", "type": "attachment"}),
    )
    .await;
    add_field(w.table.clone(), json!({"name": "Note", "type": "text"})).await;
    let a = upload(&w, "a.txt", b"hello").await;
    let order = w
        .create(json!({"Name": "o1", "Files": [{"id": a}], "Note": a}))
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let shipments = add_table("Shipments", w.table.clone()).await;
    for (name, field) in [("Order files", "Files"), ("Order note", "Note")] {
        add_field(
            shipments.clone(),
            json!({"name": name, "type": "lookup", "options": {"link_field": "Link", "field": field}}),
        )
        .await;
    }
    let trips = add_table("Trips", shipments.clone()).await;
    add_field(
        trips.clone(),
        json!({"name": "Files", "type": "lookup", "options": {"link_field": "Link", "field": "Order files"}}),
    )
    .await;
    let shipment =
        w.s.req(
            &w.owner,
            Method::POST,
            &v1(format!("tables/{shipments}/records")),
        )
        .json(&json!({"fields": {"Name": "s1", "Link": [order]}}))
        .send_created_id()
        .await;
    let trip =
        w.s.req(
            &w.owner,
            Method::POST,
            &v1(format!("tables/{trips}/records")),
        )
        .json(&json!({"fields": {"Name": "t1", "Link": [shipment]}}))
        .send_created_id()
        .await;
    for (table, record, cell) in [
        (&shipments, &shipment, "Order files"),
        (&trips, &trip, "Files"),
    ] {
        let got =
            w.s.req(
                &w.owner,
                Method::GET,
                &v1(format!("tables/{table}/records/{record}")),
            )
            .send_expect(StatusCode::OK)
            .await;
        let files = &got["fields"][cell];
        assert_eq!(files[0]["id"], a.as_str(), "{got}");
        assert_eq!(files[0]["filename"], "a.txt", "{got}");
        assert_eq!(files[0]["size"], 5, "{got}");
        // The page path renders them the same.
        let page =
            w.s.req(
                &w.owner,
                Method::GET,
                &v1(format!("tables/{table}/records")),
            )
            .send_expect(StatusCode::OK)
            .await;
        assert_eq!(page["records"][0]["fields"][cell], *files, "{page}");
        // `/v0`: Airtable's attachment object with a signed link.
        let v0 =
            w.s.req(
                &w.key,
                Method::GET,
                &format!("/v0/{}/{table}/{record}", w.base),
            )
            .send_expect(StatusCode::OK)
            .await;
        let item = &v0["fields"][cell][0];
        assert_eq!(item["filename"], "a.txt", "{v0}");
        assert_eq!(item["type"], "text/plain", "{v0}");
        let url = item["url"].as_str().unwrap();
        assert!(
            url.contains(&format!("/api/v1/attachments/{a}/signed?")),
            "{url}"
        );
        let r = w.s.client.get(url).send().await.unwrap();
        assert_eq!(r.bytes().await.unwrap().as_ref(), b"hello");
    }
    // The base schema shows each lookup's result as its looked-up field's
    // type, as Airtable does (through the lookup of a lookup too).
    let meta =
        w.s.req(
            &w.key,
            Method::GET,
            &format!("/v0/meta/bases/{}/tables", w.base),
        )
        .send_expect(StatusCode::OK)
        .await;
    let result_of = |table: &str, field: &str| {
        meta["tables"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["id"] == table)
            .and_then(|t| {
                t["fields"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|f| f["name"] == field)
            })
            .map(|f| f["options"]["result"].clone())
            .unwrap()
    };
    assert_eq!(
        result_of(&shipments, "Order files")["type"],
        "multipleAttachments"
    );
    assert_eq!(result_of(&trips, "Files")["type"], "multipleAttachments");
    assert_eq!(
        result_of(&shipments, "Order note")["type"],
        "singleLineText"
    );
    // Text that reads as an attachment id is text.
    let got =
        w.s.req(
            &w.owner,
            Method::GET,
            &v1(format!("tables/{shipments}/records/{shipment}")),
        )
        .send_expect(StatusCode::OK)
        .await;
    assert_eq!(got["fields"]["Order note"], json!([a]), "{got}");
    // The lookup's signed link written into another table's attachment
    // field: a copy there, as Airtable re-hosts attachments by URL.
    add_field(
        shipments.clone(),
        json!({"name": "Copies", "type": "attachment"}),
    )
    .await;
    let read =
        w.s.req(
            &w.key,
            Method::GET,
            &format!("/v0/{}/{shipments}/{shipment}", w.base),
        )
        .send_expect(StatusCode::OK)
        .await;
    let url = read["fields"]["Order files"][0]["url"].clone();
    let patched =
        w.s.req(
            &w.key,
            Method::PATCH,
            &format!("/v0/{}/{shipments}/{shipment}", w.base),
        )
        .json(&json!({"fields": {"Copies": [{"url": url}]}}))
        .send_expect(StatusCode::OK)
        .await;
    let copy = &patched["fields"]["Copies"][0];
    assert_ne!(copy["id"], a.as_str(), "{patched}");
    assert_eq!(copy["filename"], "a.txt", "{patched}");
    let r =
        w.s.client
            .get(copy["url"].as_str().unwrap())
            .send()
            .await
            .unwrap();
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"hello");
    // A filename given with the URL names the copy, as in Airtable.
    let renamed =
        w.s.req(
            &w.key,
            Method::PATCH,
            &format!("/v0/{}/{shipments}/{shipment}", w.base),
        )
        .json(&json!({"fields": {"Copies": [{"url": url, "filename": "b.txt"}]}}))
        .send_expect(StatusCode::OK)
        .await;
    assert_eq!(
        renamed["fields"]["Copies"][0]["filename"], "b.txt",
        "{renamed}"
    );
}
