//! The same API on PostgreSQL. Needs `PYBASE_TEST_POSTGRES_URL`.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::{SendExpect, TestServer, id_of, settings_in};
use crate::require_service;

#[tokio::test]
async fn the_api_runs_on_postgres() {
    let url = require_service!("PYBASE_TEST_POSTGRES_URL");
    let dir = tempfile::tempdir().unwrap();
    let mut settings = settings_in(dir.path());
    settings.database_url = url;
    let s = TestServer::start_with(settings).await;
    let v = s
        .anon(Method::GET, "/health")
        .send_expect(StatusCode::OK)
        .await;
    assert_eq!(v["backends"]["database"], "postgres");
    let (t, _) = s.register().await;
    let ws = s.workspace(&t).await;
    let (_, table) = s.table(&t, &ws).await;
    let base = format!("/api/v1/tables/{table}/records");
    let created = s
        .req(&t, Method::POST, &base)
        .json(&json!({"records": [
            {"fields": {"Name": "a", "Qty": 2}},
            {"fields": {"Name": "b", "Qty": 1}},
        ]}))
        .send_expect(StatusCode::CREATED)
        .await;
    let id = id_of(&created["records"][0]);
    let got = s
        .req(&t, Method::PATCH, &format!("{base}/{id}"))
        .json(&json!({"fields": {"Qty": 5}}))
        .send_expect(StatusCode::OK)
        .await;
    assert_eq!(got["fields"]["Name"], "a");
    let page = s
        .req(&t, Method::GET, &format!("{base}?sort=-Qty"))
        .send_expect(StatusCode::OK)
        .await;
    assert_eq!(page["records"][0]["fields"]["Qty"], json!(5));
    assert_eq!(page["records"].as_array().unwrap().len(), 2);
}
