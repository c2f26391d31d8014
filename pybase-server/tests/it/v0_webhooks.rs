//! `/v0` webhooks over plain HTTP (AIRTABLE.md §11): bad input answered in
//! Airtable's shape naming what was expected, payload cursors dense and
//! stable across pages, limits and specifications, and a receiver that
//! verifies every ping's `X-Airtable-Content-MAC`. pyairtable drives the
//! same routes in `v0_clients.rs`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode as AxStatus};
use base64::Engine as _;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::SendExpect;
use crate::v0::{V0World, airtable_error};

fn spec(data_types: &[&str]) -> Value {
    json!({"options": {"filters": {"dataTypes": data_types}}})
}

impl V0World {
    fn hooks(&self) -> String {
        format!("/v0/bases/{}/webhooks", self.base)
    }

    async fn make_hook(&self, body: Value) -> Value {
        self.s
            .req(&self.key, Method::POST, &self.hooks())
            .json(&body)
            .send_expect(StatusCode::OK)
            .await
    }

    async fn payloads(&self, hook: &str, query: &str) -> Value {
        self.s
            .req(
                &self.key,
                Method::GET,
                &format!("{}/{hook}/payloads{query}", self.hooks()),
            )
            .send_expect(StatusCode::OK)
            .await
    }

    async fn hook_listed(&self, hook: &str) -> Value {
        let all = self
            .s
            .req(&self.key, Method::GET, &self.hooks())
            .send_expect(StatusCode::OK)
            .await;
        all["webhooks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["id"] == json!(hook))
            .cloned()
            .unwrap_or(Value::Null)
    }
}

#[tokio::test]
async fn bad_webhook_requests_name_what_was_expected() {
    let w = V0World::new().await;
    let post = |body: Value| w.s.req(&w.key, Method::POST, &w.hooks()).json(&body).send();
    for (body, kind, says) in [
        (json!({}), "INVALID_REQUEST_MISSING_FIELDS", "specification"),
        (
            json!({"specification": spec(&[])}),
            "INVALID_REQUEST_UNKNOWN",
            "specification.options.filters.dataTypes",
        ),
        (
            json!({"specification": spec(&["rows"])}),
            "INVALID_REQUEST_UNKNOWN",
            "one of tableData, tableFields, tableMetadata",
        ),
        (
            json!({"specification": {"options": {"filters": {"dataTypes": ["tableData"], "fromSources": ["client"]}}}}),
            "INVALID_REQUEST_UNKNOWN",
            "specification.options.filters.fromSources",
        ),
        (
            json!({"specification": {"options": {"filters": {"dataTypes": ["tableData"], "recordChangeScope": "tblAAAAAAAAAAAAAA"}}}}),
            "INVALID_REQUEST_UNKNOWN",
            "a table id of this base",
        ),
        // A field no table of this base has (a reviewer's finding: the
        // webhook was made and never fired).
        (
            json!({"specification": {"options": {"filters": {"dataTypes": ["tableData"], "watchDataInFieldIds": ["fldAAAAAAAAAAAAAA"]}}}}),
            "INVALID_REQUEST_UNKNOWN",
            "a field id of this base",
        ),
        (
            json!({"specification": spec(&["tableData"]), "notificationUrl": 7}),
            "INVALID_REQUEST_UNKNOWN",
            "notificationUrl",
        ),
        (
            json!({"specification": spec(&["tableData"]), "notificationUrl": "ftp://x.example/"}),
            "INVALID_REQUEST_UNKNOWN",
            "notificationUrl",
        ),
        // Private targets are refused at creation (this server does not
        // allow them).
        (
            json!({"specification": spec(&["tableData"]), "notificationUrl": "http://127.0.0.1:9/hook"}),
            "INVALID_REQUEST_UNKNOWN",
            "a public address",
        ),
        (
            json!({"specification": spec(&["tableData"]), "extra": 1}),
            "INVALID_REQUEST_UNKNOWN",
            "extra",
        ),
    ] {
        let v = airtable_error(
            post(body.clone()).await.unwrap(),
            StatusCode::UNPROCESSABLE_ENTITY,
            kind,
        )
        .await;
        let message = v["error"]["message"].as_str().unwrap();
        assert!(message.contains(says), "{body}: {message}");
    }
    // Not a JSON object.
    let r =
        w.s.req(&w.key, Method::POST, &w.hooks())
            .body("[1]")
            .send()
            .await
            .unwrap();
    airtable_error(r, StatusCode::BAD_REQUEST, "INVALID_REQUEST_BODY").await;

    // No notification URL: notifications are off and cannot be turned on.
    let made = w
        .make_hook(json!({"specification": spec(&["tableData"])}))
        .await;
    let id = made["id"].as_str().unwrap();
    let listed = w.hook_listed(id).await;
    assert_eq!(listed["areNotificationsEnabled"], json!(false), "{listed}");
    assert_eq!(listed["notificationUrl"], Value::Null, "{listed}");
    assert_eq!(listed["isHookEnabled"], json!(true), "{listed}");
    let enable = format!("{}/{id}/enableNotifications", w.hooks());
    for (body, status, kind) in [
        (
            json!({"enable": true}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "INVALID_REQUEST_UNKNOWN",
        ),
        (
            json!({"enable": "yes"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "INVALID_REQUEST_UNKNOWN",
        ),
        (
            json!({}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "INVALID_REQUEST_MISSING_FIELDS",
        ),
    ] {
        let r = w.s.req(&w.key, Method::POST, &enable).json(&body).send();
        airtable_error(r.await.unwrap(), status, kind).await;
    }
    // Bad cursors and limits.
    for query in [
        "?cursor=0",
        "?cursor=-1",
        "?cursor=x",
        "?limit=0",
        "?limit=51",
    ] {
        let r =
            w.s.req(
                &w.key,
                Method::GET,
                &format!("{}/{id}/payloads{query}", w.hooks()),
            )
            .send()
            .await
            .unwrap();
        let v = airtable_error(
            r,
            StatusCode::UNPROCESSABLE_ENTITY,
            "INVALID_REQUEST_UNKNOWN",
        )
        .await;
        let message = v["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("cursor") || message.contains("limit"),
            "{query}: {message}"
        );
    }
    // Unknown webhooks, and another base's, are 404.
    let other = V0World::new().await;
    let foreign = other
        .make_hook(json!({"specification": spec(&["tableData"])}))
        .await;
    for hook in ["achAAAAAAAAAAAAAA", "nonsense"] {
        let r =
            w.s.req(&w.key, Method::DELETE, &format!("{}/{hook}", w.hooks()))
                .send()
                .await
                .unwrap();
        airtable_error(r, StatusCode::NOT_FOUND, "MODEL_ID_NOT_FOUND").await;
    }
    // The other base's webhook, named under this base with this base's key.
    let r =
        w.s.req(
            &w.key,
            Method::POST,
            &format!("{}/{}/refresh", w.hooks(), foreign["id"].as_str().unwrap()),
        )
        .send()
        .await
        .unwrap();
    airtable_error(r, StatusCode::NOT_FOUND, "MODEL_ID_NOT_FOUND").await;
    // Native webhooks are not listed or reachable under /v0.
    let native =
        w.s.req(
            &w.owner,
            Method::POST,
            &format!("/api/v1/bases/{}/webhooks", w.base),
        )
        .json(&json!({"url": "https://hooks.example.com/x", "events": ["field.deleted"]}))
        .send_expect(StatusCode::CREATED)
        .await["id"]
            .as_str()
            .unwrap()
            .to_owned();
    assert!(w.hook_listed(&native).await.is_null());
    let r =
        w.s.req(&w.key, Method::DELETE, &format!("{}/{native}", w.hooks()))
            .send()
            .await
            .unwrap();
    airtable_error(r, StatusCode::NOT_FOUND, "MODEL_ID_NOT_FOUND").await;
    // Deleted: gone from the list, then 404.
    w.s.req(&w.key, Method::DELETE, &format!("{}/{id}", w.hooks()))
        .send_expect(StatusCode::OK)
        .await;
    assert!(w.hook_listed(id).await.is_null());
    let r =
        w.s.req(&w.key, Method::DELETE, &format!("{}/{id}", w.hooks()))
            .send()
            .await
            .unwrap();
    airtable_error(r, StatusCode::NOT_FOUND, "MODEL_ID_NOT_FOUND").await;
}

/// Payload numbers count the selected events after creation, with no
/// gaps: events of other kinds and tables and events before the webhook
/// take no number; pages of any size and from any cursor agree.
#[tokio::test]
async fn payload_cursors_are_dense_and_pages_agree() {
    let w = V0World::new().await;
    // Before the webhook: never a payload.
    w.s.req(&w.key, Method::POST, &format!("/v0/{}/Orders", w.base))
        .json(&json!({"fields": {"Name": "before"}}))
        .send_expect(StatusCode::OK)
        .await;
    let made = w
        .make_hook(json!({"specification": {"options": {"filters": {
            "dataTypes": ["tableData"], "recordChangeScope": w.table, "changeTypes": ["add", "update"]
        }}}}))
        .await;
    let id = made["id"].as_str().unwrap().to_owned();
    assert!(made["expirationTime"].as_str().unwrap().ends_with('Z'));
    assert!(made.get("macSecretBase64").is_some());
    let other =
        w.s.req(
            &w.key,
            Method::POST,
            &format!("/v0/meta/bases/{}/tables", w.base),
        )
        .json(&json!({"name": "Other", "fields": [{"name": "N", "type": "singleLineText"}]}))
        .send_expect(StatusCode::OK)
        .await;
    let other_table = other["id"].as_str().unwrap().to_owned();
    // Watching a field of another table than the scope's: refused.
    let e =
        w.s.req(&w.key, Method::POST, &w.hooks())
            .json(&json!({"specification": {"options": {"filters": {
                "dataTypes": ["tableData"], "recordChangeScope": w.table,
                "watchDataInFieldIds": [other["fields"][0]["id"]]
            }}}}))
            .send_expect(StatusCode::UNPROCESSABLE_ENTITY)
            .await;
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("a field id of the recordChangeScope table"),
        "{e}"
    );
    let mut names = Vec::new();
    for i in 0..60 {
        let name = format!("r{i}");
        let rec =
            w.s.req(&w.key, Method::POST, &format!("/v0/{}/Orders", w.base))
                .json(&json!({"fields": {"Name": name, "Qty": i}}))
                .send_expect(StatusCode::OK)
                .await;
        names.push(name);
        // Not selected: another table, a field change, a deletion.
        if i % 10 == 0 {
            w.s.req(
                &w.key,
                Method::POST,
                &format!("/v0/{}/{other_table}", w.base),
            )
            .json(&json!({"fields": {"N": "x"}}))
            .send_expect(StatusCode::OK)
            .await;
            w.s.req(
                &w.key,
                Method::POST,
                &format!("/v0/meta/bases/{}/tables/{}/fields", w.base, w.table),
            )
            .json(&json!({"name": format!("F{i}"), "type": "singleLineText"}))
            .send_expect(StatusCode::OK)
            .await;
            let del =
                w.s.req(&w.key, Method::POST, &format!("/v0/{}/Orders", w.base))
                    .json(&json!({"fields": {"Name": "gone"}}))
                    .send_expect(StatusCode::OK)
                    .await;
            names.push("gone".into());
            w.s.req(
                &w.key,
                Method::DELETE,
                &format!("/v0/{}/Orders/{}", w.base, del["id"].as_str().unwrap()),
            )
            .send_expect(StatusCode::OK)
            .await;
        }
        // Selected: an update.
        if i % 20 == 0 {
            w.s.req(
                &w.key,
                Method::PATCH,
                &format!("/v0/{}/Orders/{}", w.base, rec["id"].as_str().unwrap()),
            )
            .json(&json!({"fields": {"Qty": 1000 + i}}))
            .send_expect(StatusCode::OK)
            .await;
            names.push(format!("update {}", 1000 + i));
        }
    }
    let total = i64::try_from(names.len()).unwrap();
    let listed = w.hook_listed(&id).await;
    assert_eq!(listed["cursorForNextPayload"], json!(total + 1), "{listed}");
    // What a payload says, in order.
    let describe = |p: &Value| -> String {
        let tables = p["changedTablesById"].as_object().unwrap();
        assert_eq!(tables.len(), 1, "{p}");
        let t = &tables[&w.table];
        if let Some(c) = t.get("createdRecordsById") {
            let (_, rec) = c.as_object().unwrap().iter().next().unwrap();
            let cells = rec["cellValuesByFieldId"].as_object().unwrap();
            cells
                .values()
                .find_map(|v| v.as_str().map(str::to_owned))
                .unwrap()
        } else {
            let (_, rec) = t["changedRecordsById"]
                .as_object()
                .unwrap()
                .iter()
                .next()
                .unwrap();
            let cells = rec["current"]["cellValuesByFieldId"].as_object().unwrap();
            assert!(rec.get("previous").is_none(), "{rec}");
            format!("update {}", cells.values().next().unwrap())
        }
    };
    let mut all = Vec::new();
    let mut cursor = 1;
    loop {
        let page = w.payloads(&id, &format!("?cursor={cursor}")).await;
        let items = page["payloads"].as_array().unwrap();
        assert!(items.len() <= 50);
        for p in items {
            assert_eq!(p["payloadFormat"], "v0");
            all.push(describe(p));
        }
        let next = page["cursor"].as_i64().unwrap();
        assert_eq!(next, cursor + i64::try_from(items.len()).unwrap());
        cursor = next;
        if page["mightHaveMore"] == json!(false) {
            break;
        }
    }
    assert_eq!(all, names);
    // Any page size from any cursor says the same.
    for (from, limit) in [(1, 7), (13, 1), (total, 50), (total - 5, 3)] {
        let page = w
            .payloads(&id, &format!("?cursor={from}&limit={limit}"))
            .await;
        let got: Vec<String> = page["payloads"]
            .as_array()
            .unwrap()
            .iter()
            .map(describe)
            .collect();
        let start = usize::try_from(from - 1).unwrap();
        let end = (start + usize::try_from(limit).unwrap()).min(names.len());
        assert_eq!(got, names[start..end], "cursor {from}, limit {limit}");
        assert_eq!(
            page["mightHaveMore"],
            json!(end < names.len()),
            "cursor {from}, limit {limit}"
        );
    }
    // Past the end: an empty page that keeps the cursor.
    let page = w.payloads(&id, &format!("?cursor={}", total + 5)).await;
    assert_eq!(page["payloads"], json!([]));
    assert_eq!(page["cursor"], json!(total + 5));
    assert_eq!(page["mightHaveMore"], json!(false));
}

/// Field and table changes as `tableFields` and `tableMetadata` payloads.
#[tokio::test]
async fn schema_changes_become_field_and_table_payloads() {
    let w = V0World::new().await;
    let made = w
        .make_hook(json!({"specification": spec(&["tableFields", "tableMetadata"])}))
        .await;
    let id = made["id"].as_str().unwrap();
    // A record change is not selected.
    w.s.req(&w.key, Method::POST, &format!("/v0/{}/Orders", w.base))
        .json(&json!({"fields": {"Name": "x"}}))
        .send_expect(StatusCode::OK)
        .await;
    let field =
        w.s.req(
            &w.key,
            Method::POST,
            &format!("/v0/meta/bases/{}/tables/{}/fields", w.base, w.table),
        )
        .json(&json!({"name": "Notes", "type": "multilineText"}))
        .send_expect(StatusCode::OK)
        .await["id"]
            .as_str()
            .unwrap()
            .to_owned();
    let table =
        w.s.req(
            &w.key,
            Method::POST,
            &format!("/v0/meta/bases/{}/tables", w.base),
        )
        .json(&json!({"name": "Later", "fields": [{"name": "N", "type": "singleLineText"}]}))
        .send_expect(StatusCode::OK)
        .await["id"]
            .as_str()
            .unwrap()
            .to_owned();
    let page = w.payloads(id, "").await;
    let payloads = page["payloads"].as_array().unwrap();
    let created_field = payloads
        .iter()
        .find_map(|p| p["changedTablesById"][&w.table]["createdFieldsById"].get(&field))
        .unwrap_or_else(|| panic!("no field payload: {page}"));
    assert_eq!(created_field["name"], "Notes");
    assert_eq!(created_field["type"], "multilineText");
    let created_table = payloads
        .iter()
        .find_map(|p| p["createdTablesById"].get(&table))
        .unwrap_or_else(|| panic!("no table payload: {page}"));
    assert_eq!(created_table["metadata"]["name"], "Later");
    assert!(
        payloads.iter().all(|p| p["changedTablesById"][&w.table]
            .get("createdRecordsById")
            .is_none()),
        "{page}"
    );
}

/// What the receiver saw: bodies with their header, answered 204.
#[derive(Default)]
struct Pings {
    got: Vec<(Vec<u8>, String)>,
}

/// A receiver on 127.0.0.1 answering 204; answers its URL.
async fn receiver(pings: Arc<Mutex<Pings>>) -> String {
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let pings = Arc::clone(&pings);
            async move {
                let mac = headers
                    .get("x-airtable-content-mac")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                pings.lock().unwrap().got.push((body.to_vec(), mac));
                AxStatus::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/hook")
}

/// Pings carry `hmac-sha256=<hex>` over the exact body under the secret
/// shown at creation; a burst of changes is covered by few pings, and a
/// disabled webhook is not pinged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pings_are_signed_with_the_secret_shown_once() {
    let files = tempfile::tempdir().unwrap();
    let (_db, settings) = crate::webhooks::isolated_settings(files.path()).await;
    let w = V0World::start(settings, files).await;
    let pings = Arc::new(Mutex::new(Pings::default()));
    let url = receiver(Arc::clone(&pings)).await;
    let made = w
        .make_hook(json!({"notificationUrl": url, "specification": spec(&["tableData"])}))
        .await;
    let id = made["id"].as_str().unwrap().to_owned();
    let secret = base64::engine::general_purpose::STANDARD
        .decode(made["macSecretBase64"].as_str().unwrap())
        .unwrap();
    assert_eq!(secret.len(), 32);
    for i in 0..20 {
        w.s.req(&w.key, Method::POST, &format!("/v0/{}/Orders", w.base))
            .json(&json!({"fields": {"Name": format!("p{i}")}}))
            .send_expect(StatusCode::OK)
            .await;
    }
    // Wait until a ping covered the last change: the listed webhook's
    // delivery cursor is not shown, so wait for pings to stop arriving.
    let mut seen = 0;
    for _ in 0..600 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let n = pings.lock().unwrap().got.len();
        if n > 0 && n == seen {
            break;
        }
        seen = n;
    }
    let got = std::mem::take(&mut pings.lock().unwrap().got);
    assert!(!got.is_empty(), "no ping");
    assert!(got.len() <= 20, "{} pings for 20 changes", got.len());
    // The listing tells how the last notification went.
    let listed = w.hook_listed(&id).await;
    assert!(
        listed["lastSuccessfulNotificationTime"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z')),
        "{listed}"
    );
    let last = &listed["lastNotificationResult"];
    assert_eq!(last["success"], json!(true), "{listed}");
    assert_eq!(last["error"], Value::Null, "{listed}");
    assert_eq!(last["retryNumber"], json!(0), "{listed}");
    assert!(last["durationMs"].is_i64(), "{listed}");
    for (body, mac) in &got {
        let want = format!(
            "hmac-sha256={}",
            pybase_core::facade::hmac_hex(&secret, body)
        );
        assert_eq!(mac, &want);
        let v: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(v["base"]["id"], json!(w.base));
        assert_eq!(v["webhook"]["id"], json!(id));
        assert!(v["timestamp"].as_str().unwrap().ends_with('Z'), "{v}");
        // A tampered body does not verify.
        let mut tampered = body.clone();
        tampered[0] = b' ';
        assert_ne!(
            format!(
                "hmac-sha256={}",
                pybase_core::facade::hmac_hex(&secret, &tampered)
            ),
            *mac
        );
    }
    // Turned off: no more pings.
    w.s.req(
        &w.key,
        Method::POST,
        &format!("{}/{id}/enableNotifications", w.hooks()),
    )
    .json(&json!({"enable": false}))
    .send_expect(StatusCode::OK)
    .await;
    w.s.req(&w.key, Method::POST, &format!("/v0/{}/Orders", w.base))
        .json(&json!({"fields": {"Name": "quiet"}}))
        .send_expect(StatusCode::OK)
        .await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(pings.lock().unwrap().got.is_empty(), "pinged while off");
    // On again: the change made meanwhile is pinged about.
    w.s.req(
        &w.key,
        Method::POST,
        &format!("{}/{id}/enableNotifications", w.hooks()),
    )
    .json(&json!({"enable": true}))
    .send_expect(StatusCode::OK)
    .await;
    for _ in 0..600 {
        if !pings.lock().unwrap().got.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        !pings.lock().unwrap().got.is_empty(),
        "no ping after enabling"
    );
    assert_eq!(w.hook_listed(&id).await["cursorForNextPayload"], json!(22));
}
