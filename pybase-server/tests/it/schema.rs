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
    // Ids in a body that name nothing here: 422 naming the field (the path's
    // table exists), whether the id is another base's or no one's.
    let e = s
        .req(
            &t,
            Method::POST,
            &format!("/api/v1/tables/{table_id}/fields"),
        )
        .json(&json!({"name": "L", "type": "link",
            "options": {"linked_table_id": "tblAAAAAAAAAAAAAA"}}))
        .send_expect_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
        .await;
    assert!(e["error"]["details"]["fields"]["L"].is_string(), "{e}");
    let e = s
        .req(&t, Method::PATCH, &format!("/api/v1/tables/{table_id}"))
        .json(&json!({"primary_field_id": "fldAAAAAAAAAAAAAA"}))
        .send_expect_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
        .await;
    assert!(
        e["error"]["details"]["fields"]["primary_field_id"].is_string(),
        "{e}"
    );
    s.req(&t, Method::POST, &format!("/api/v1/bases/{base}/tables"))
        .json(
            &json!({"name": "Bad", "fields": [{"name": "X", "type": "text"}],
            "primary_field": "Nope"}),
        )
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
    let e = s
        .req(&t, Method::PATCH, &format!("/api/v1/fields/{note}"))
        .json(&json!({"type": "number"}))
        .send_expect_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
        .await;
    // Keyed by the field alone, the failed cell named in its message.
    let fields = e["error"]["details"]["fields"].as_object().unwrap();
    assert_eq!(fields.keys().collect::<Vec<_>>(), ["Remarks"], "{e}");
    let why = fields["Remarks"].as_str().unwrap();
    assert!(
        why.starts_with("1 cell(s) cannot become number: record ") && why.contains(&rec),
        "{why}"
    );
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

/// Table names are unique within a base and view names within a table,
/// ignoring case, on create and rename, as field names are: 409 `conflict`
/// naming `name` in `details.fields` (and `details.field`); other bases
/// and tables may reuse them. `/v0` answers Airtable's 422.
#[tokio::test]
async fn duplicate_table_and_view_names_are_refused() {
    let s = TestServer::start().await;
    let (t, _) = s.register().await;
    let ws = s.workspace(&t).await;
    let (base, items) = s.table(&t, &ws).await;
    let tables = format!("/api/v1/bases/{base}/tables");
    let conflict = |v: &serde_json::Value| {
        assert_eq!(v["error"]["details"]["field"], "name", "{v}");
        let said = v["error"]["details"]["fields"]["name"].as_str().unwrap();
        assert!(said.contains("already exists"), "{v}");
    };
    let e = s
        .req(&t, Method::POST, &tables)
        .json(&json!({"name": "ITEMS"}))
        .send_expect_error(StatusCode::CONFLICT, "conflict")
        .await;
    conflict(&e);
    let other = s
        .req(&t, Method::POST, &tables)
        .json(&json!({"name": "Other"}))
        .send_created_id()
        .await;
    let e = s
        .req(&t, Method::PATCH, &format!("/api/v1/tables/{other}"))
        .json(&json!({"name": " items "}))
        .send_expect_error(StatusCode::CONFLICT, "conflict")
        .await;
    conflict(&e);
    // Renaming to its own name (another case) is no conflict.
    s.req(&t, Method::PATCH, &format!("/api/v1/tables/{other}"))
        .json(&json!({"name": "OTHER"}))
        .send_expect(StatusCode::OK)
        .await;
    // Another base may have an "Items".
    s.table(&t, &ws).await;
    // Views.
    let views = format!("/api/v1/tables/{items}/views");
    let grid = s
        .req(&t, Method::POST, &views)
        .json(&json!({"name": "Grid", "type": "grid"}))
        .send_created_id()
        .await;
    let e = s
        .req(&t, Method::POST, &views)
        .json(&json!({"name": "grid", "type": "grid"}))
        .send_expect_error(StatusCode::CONFLICT, "conflict")
        .await;
    conflict(&e);
    let second = s
        .req(&t, Method::POST, &views)
        .json(&json!({"name": "Second", "type": "grid"}))
        .send_created_id()
        .await;
    let e = s
        .req(&t, Method::PATCH, &format!("/api/v1/views/{second}"))
        .json(&json!({"name": "GRID"}))
        .send_expect_error(StatusCode::CONFLICT, "conflict")
        .await;
    conflict(&e);
    s.req(&t, Method::PATCH, &format!("/api/v1/views/{grid}"))
        .json(&json!({"name": "grid"}))
        .send_expect(StatusCode::OK)
        .await;
    // Another table may have a "Grid".
    s.req(&t, Method::POST, &format!("/api/v1/tables/{other}/views"))
        .json(&json!({"name": "Grid", "type": "grid"}))
        .send_created_id()
        .await;
    // A duplicate field name answers the same shape.
    let e = s
        .req(&t, Method::POST, &format!("/api/v1/tables/{items}/fields"))
        .json(&json!({"name": "name", "type": "text"}))
        .send_expect_error(StatusCode::CONFLICT, "conflict")
        .await;
    conflict(&e);
    // /v0: Airtable's 422.
    let key = s.key(&t, &["read", "write", "schema"], None).await;
    let r = s
        .req(&key, Method::POST, &format!("/v0/meta/bases/{base}/tables"))
        .json(&json!({"name": "Items", "fields": [{"name": "Name", "type": "singleLineText"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["error"]["type"], "INVALID_REQUEST_UNKNOWN", "{v}");
}

/// A datetime field's `timezone` must be an IANA zone, on create and on
/// change (422 naming the option), and typecast reads a local time in it.
#[tokio::test]
async fn datetime_zones_are_checked_and_used_by_typecast() {
    let s = TestServer::start().await;
    let (t, _) = s.register().await;
    let ws = s.workspace(&t).await;
    let (_, table) = s.table(&t, &ws).await;
    let fields = format!("/api/v1/tables/{table}/fields");
    let e = s
        .req(&t, Method::POST, &fields)
        .json(&json!({"name": "When", "type": "datetime", "options": {"timezone": "Mars/Olympus_Mons"}}))
        .send_expect_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
        .await;
    let said = e["error"]["details"]["fields"]["When"].as_str().unwrap();
    assert!(said.contains("option timezone"), "{e}");
    let when = s
        .req(&t, Method::POST, &fields)
        .json(&json!({"name": "When", "type": "datetime", "options": {"timezone": "America/New_York"}}))
        .send_created_id()
        .await;
    let e = s
        .req(&t, Method::PATCH, &format!("/api/v1/fields/{when}"))
        .json(&json!({"options": {"timezone": "Europe/Nowhere"}}))
        .send_expect_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
        .await;
    assert!(
        e["error"]["details"]["fields"]["When"]
            .as_str()
            .unwrap()
            .contains("timezone"),
        "{e}"
    );
    // 2026-03-08 is New York's spring-forward day: 01:30 is EST (-05:00),
    // 03:30 EDT (-04:00).
    let r = s
        .req(&t, Method::POST, &format!("/api/v1/tables/{table}/records"))
        .json(&json!({"records": [
            {"fields": {"When": "2026-03-08 01:30"}},
            {"fields": {"When": "2026-03-08 03:30"}},
        ], "typecast": true}))
        .send_expect(StatusCode::CREATED)
        .await;
    assert_eq!(
        r["records"][0]["fields"]["When"], "2026-03-08T06:30:00.000Z",
        "{r}"
    );
    assert_eq!(
        r["records"][1]["fields"]["When"], "2026-03-08T07:30:00.000Z",
        "{r}"
    );
}
