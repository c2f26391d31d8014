//! Bases, tables, fields and views over HTTP.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::{TestServer, expect, expect_error, id_of};

#[tokio::test]
async fn bases_tables_fields_and_views() {
    let s = TestServer::start().await;
    let (t, _) = s.register().await;
    let ws = s.workspace(&t).await;

    // Bases.
    let r = s
        .req(&t, Method::POST, &format!("/api/v1/workspaces/{ws}/bases"))
        .json(&json!({"name": "Inventory"}))
        .send()
        .await
        .unwrap();
    let base = id_of(&expect(r, StatusCode::CREATED).await);
    assert!(base.starts_with("app") && base.len() == 17);
    let r = s
        .req(&t, Method::GET, &format!("/api/v1/workspaces/{ws}/bases"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        expect(r, StatusCode::OK).await["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let r = s
        .req(&t, Method::PATCH, &format!("/api/v1/bases/{base}"))
        .json(&json!({"name": "Stock"}))
        .send()
        .await
        .unwrap();
    assert_eq!(expect(r, StatusCode::OK).await["name"], "Stock");
    let r = s
        .req(&t, Method::GET, &format!("/api/v1/bases/{base}"))
        .send()
        .await
        .unwrap();
    assert_eq!(expect(r, StatusCode::OK).await["name"], "Stock");

    // Tables with fields; the first is primary.
    let r = s
        .req(&t, Method::POST, &format!("/api/v1/bases/{base}/tables"))
        .json(&json!({"name": "Parts", "fields": [
            {"name": "Part", "type": "text"},
            {"name": "Qty", "type": "number", "options": {"precision": 0}},
        ]}))
        .send()
        .await
        .unwrap();
    let table = expect(r, StatusCode::CREATED).await;
    let table_id = id_of(&table);
    let fields = table["fields"].as_array().unwrap();
    assert_eq!(fields.len(), 2);
    assert_eq!(table["primary_field_id"], fields[0]["id"]);
    // Unknown type: 422.
    let r = s
        .req(&t, Method::POST, &format!("/api/v1/bases/{base}/tables"))
        .json(&json!({"name": "Bad", "fields": [{"name": "X", "type": "hologram"}]}))
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let r = s
        .req(&t, Method::GET, &format!("/api/v1/bases/{base}/tables"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        expect(r, StatusCode::OK).await["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let r = s
        .req(&t, Method::PATCH, &format!("/api/v1/tables/{table_id}"))
        .json(&json!({"name": "Components"}))
        .send()
        .await
        .unwrap();
    assert_eq!(expect(r, StatusCode::OK).await["name"], "Components");

    // Fields.
    let r = s
        .req(
            &t,
            Method::POST,
            &format!("/api/v1/tables/{table_id}/fields"),
        )
        .json(&json!({"name": "Note", "type": "long_text"}))
        .send()
        .await
        .unwrap();
    let note = id_of(&expect(r, StatusCode::CREATED).await);
    let r = s
        .req(
            &t,
            Method::POST,
            &format!("/api/v1/tables/{table_id}/fields"),
        )
        .json(&json!({"name": "note", "type": "text"}))
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::CONFLICT, "conflict").await;
    let r = s
        .req(
            &t,
            Method::GET,
            &format!("/api/v1/tables/{table_id}/fields"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        expect(r, StatusCode::OK).await["items"]
            .as_array()
            .unwrap()
            .len(),
        3
    );

    // Rename keeps data; retype that cannot convert is 422.
    let r = s
        .req(
            &t,
            Method::POST,
            &format!("/api/v1/tables/{table_id}/records"),
        )
        .json(&json!({"fields": {"Part": "bolt", "Note": "not a number"}}))
        .send()
        .await
        .unwrap();
    let rec = id_of(&expect(r, StatusCode::CREATED).await);
    let r = s
        .req(&t, Method::PATCH, &format!("/api/v1/fields/{note}"))
        .json(&json!({"name": "Remarks"}))
        .send()
        .await
        .unwrap();
    assert_eq!(expect(r, StatusCode::OK).await["name"], "Remarks");
    let r = s
        .req(
            &t,
            Method::GET,
            &format!("/api/v1/tables/{table_id}/records/{rec}"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        expect(r, StatusCode::OK).await["fields"]["Remarks"],
        "not a number"
    );
    let r = s
        .req(&t, Method::PATCH, &format!("/api/v1/fields/{note}"))
        .json(&json!({"type": "number"}))
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let r = s
        .req(&t, Method::GET, &format!("/api/v1/fields/{note}"))
        .send()
        .await
        .unwrap();
    assert_eq!(expect(r, StatusCode::OK).await["type"], "long_text");

    // Views.
    let r = s
        .req(
            &t,
            Method::POST,
            &format!("/api/v1/tables/{table_id}/views"),
        )
        .json(&json!({"name": "Big", "type": "grid", "config": {"sort": "-Qty"}}))
        .send()
        .await
        .unwrap();
    let view = id_of(&expect(r, StatusCode::CREATED).await);
    let r = s
        .req(&t, Method::GET, &format!("/api/v1/tables/{table_id}/views"))
        .send()
        .await
        .unwrap();
    assert!(
        !expect(r, StatusCode::OK).await["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let r = s
        .req(&t, Method::PATCH, &format!("/api/v1/views/{view}"))
        .json(&json!({"name": "Largest"}))
        .send()
        .await
        .unwrap();
    assert_eq!(expect(r, StatusCode::OK).await["name"], "Largest");
    let r = s
        .req(&t, Method::GET, &format!("/api/v1/views/{view}"))
        .send()
        .await
        .unwrap();
    assert_eq!(expect(r, StatusCode::OK).await["type"], "grid");
    let r = s
        .req(&t, Method::GET, &format!("/api/v1/tables/{table_id}"))
        .send()
        .await
        .unwrap();
    let full = expect(r, StatusCode::OK).await;
    assert!(full["fields"].is_array() && full["views"].is_array());

    // Deletes.
    let r = s
        .req(&t, Method::DELETE, &format!("/api/v1/views/{view}"))
        .send()
        .await
        .unwrap();
    expect(r, StatusCode::NO_CONTENT).await;
    let r = s
        .req(&t, Method::DELETE, &format!("/api/v1/fields/{note}"))
        .send()
        .await
        .unwrap();
    expect(r, StatusCode::NO_CONTENT).await;
    let r = s
        .req(&t, Method::DELETE, &format!("/api/v1/tables/{table_id}"))
        .send()
        .await
        .unwrap();
    expect(r, StatusCode::NO_CONTENT).await;
    let r = s
        .req(&t, Method::DELETE, &format!("/api/v1/bases/{base}"))
        .send()
        .await
        .unwrap();
    expect(r, StatusCode::NO_CONTENT).await;
    let r = s
        .req(&t, Method::GET, &format!("/api/v1/bases/{base}"))
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::NOT_FOUND, "not_found").await;
}
