//! Bases, tables, fields and views over HTTP.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::{SendExpect, TestServer, id_of};

#[tokio::test]
async fn bases_tables_fields_and_views() {
    let s = TestServer::start().await;
    let (t, _) = s.register().await;
    let ws = s.workspace(&t).await;

    // Bases.
    let base = s
        .req(&t, Method::POST, &format!("/api/v1/workspaces/{ws}/bases"))
        .json(&json!({"name": "Inventory"}))
        .send_created_id()
        .await;
    assert!(base.starts_with("app") && base.len() == 17);
    let got = s
        .req(&t, Method::GET, &format!("/api/v1/workspaces/{ws}/bases"))
        .send_expect(StatusCode::OK)
        .await;
    assert_eq!(got["items"].as_array().unwrap().len(), 1);
    let got = s
        .req(&t, Method::PATCH, &format!("/api/v1/bases/{base}"))
        .json(&json!({"name": "Stock"}))
        .send_expect(StatusCode::OK)
        .await;
    assert_eq!(got["name"], "Stock");
    let got = s
        .req(&t, Method::GET, &format!("/api/v1/bases/{base}"))
        .send_expect(StatusCode::OK)
        .await;
    assert_eq!(got["name"], "Stock");

    // Tables with fields; the first is primary.
    let table = s
        .req(&t, Method::POST, &format!("/api/v1/bases/{base}/tables"))
        .json(&json!({"name": "Parts", "fields": [
            {"name": "Part", "type": "text"},
            {"name": "Qty", "type": "number", "options": {"precision": 0}},
        ]}))
        .send_expect(StatusCode::CREATED)
        .await;
    let table_id = id_of(&table);
    let fields = table["fields"].as_array().unwrap();
    assert_eq!(fields.len(), 2);
    assert_eq!(table["primary_field_id"], fields[0]["id"]);
    // Unknown type: 422.
    s.req(&t, Method::POST, &format!("/api/v1/bases/{base}/tables"))
        .json(&json!({"name": "Bad", "fields": [{"name": "X", "type": "hologram"}]}))
        .send_expect_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
        .await;
    let got = s
        .req(&t, Method::GET, &format!("/api/v1/bases/{base}/tables"))
        .send_expect(StatusCode::OK)
        .await;
    assert_eq!(got["items"].as_array().unwrap().len(), 1);
    let got = s
        .req(&t, Method::PATCH, &format!("/api/v1/tables/{table_id}"))
        .json(&json!({"name": "Components"}))
        .send_expect(StatusCode::OK)
        .await;
    assert_eq!(got["name"], "Components");

    // Fields.
    let note = s
        .req(
            &t,
            Method::POST,
            &format!("/api/v1/tables/{table_id}/fields"),
        )
        .json(&json!({"name": "Note", "type": "long_text"}))
        .send_created_id()
        .await;
    s.req(
        &t,
        Method::POST,
        &format!("/api/v1/tables/{table_id}/fields"),
    )
    .json(&json!({"name": "note", "type": "text"}))
    .send_expect_error(StatusCode::CONFLICT, "conflict")
    .await;
    let got = s
        .req(
            &t,
            Method::GET,
            &format!("/api/v1/tables/{table_id}/fields"),
        )
        .send_expect(StatusCode::OK)
        .await;
    assert_eq!(got["items"].as_array().unwrap().len(), 3);

    // Rename keeps data; retype that cannot convert is 422.
    let rec = s
        .req(
            &t,
            Method::POST,
            &format!("/api/v1/tables/{table_id}/records"),
        )
        .json(&json!({"fields": {"Part": "bolt", "Note": "not a number"}}))
        .send_created_id()
        .await;
    let got = s
        .req(&t, Method::PATCH, &format!("/api/v1/fields/{note}"))
        .json(&json!({"name": "Remarks"}))
        .send_expect(StatusCode::OK)
        .await;
    assert_eq!(got["name"], "Remarks");
    let got = s
        .req(
            &t,
            Method::GET,
            &format!("/api/v1/tables/{table_id}/records/{rec}"),
        )
        .send_expect(StatusCode::OK)
        .await;
    assert_eq!(got["fields"]["Remarks"], "not a number");
    s.req(&t, Method::PATCH, &format!("/api/v1/fields/{note}"))
        .json(&json!({"type": "number"}))
        .send_expect_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
        .await;
    let got = s
        .req(&t, Method::GET, &format!("/api/v1/fields/{note}"))
        .send_expect(StatusCode::OK)
        .await;
    assert_eq!(got["type"], "long_text");

    // Views.
    let view = s
        .req(
            &t,
            Method::POST,
            &format!("/api/v1/tables/{table_id}/views"),
        )
        .json(&json!({"name": "Big", "type": "grid", "config": {"sort": "-Qty"}}))
        .send_created_id()
        .await;
    let got = s
        .req(&t, Method::GET, &format!("/api/v1/tables/{table_id}/views"))
        .send_expect(StatusCode::OK)
        .await;
    assert!(!got["items"].as_array().unwrap().is_empty());
    let got = s
        .req(&t, Method::PATCH, &format!("/api/v1/views/{view}"))
        .json(&json!({"name": "Largest"}))
        .send_expect(StatusCode::OK)
        .await;
    assert_eq!(got["name"], "Largest");
    let got = s
        .req(&t, Method::GET, &format!("/api/v1/views/{view}"))
        .send_expect(StatusCode::OK)
        .await;
    assert_eq!(got["type"], "grid");
    let full = s
        .req(&t, Method::GET, &format!("/api/v1/tables/{table_id}"))
        .send_expect(StatusCode::OK)
        .await;
    assert!(full["fields"].is_array() && full["views"].is_array());

    // Deletes.
    s.req(&t, Method::DELETE, &format!("/api/v1/views/{view}"))
        .send_expect(StatusCode::NO_CONTENT)
        .await;
    s.req(&t, Method::DELETE, &format!("/api/v1/fields/{note}"))
        .send_expect(StatusCode::NO_CONTENT)
        .await;
    s.req(&t, Method::DELETE, &format!("/api/v1/tables/{table_id}"))
        .send_expect(StatusCode::NO_CONTENT)
        .await;
    s.req(&t, Method::DELETE, &format!("/api/v1/bases/{base}"))
        .send_expect(StatusCode::NO_CONTENT)
        .await;
    s.req(&t, Method::GET, &format!("/api/v1/bases/{base}"))
        .send_expect_error(StatusCode::NOT_FOUND, "not_found")
        .await;
}
