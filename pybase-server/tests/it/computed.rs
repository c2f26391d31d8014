//! Computed fields over HTTP: creating formula, lookup, rollup and count
//! fields (options resolved to ids, result type shown), writes to them
//! refused with 422 naming the field, values read back and kept current
//! across tables, formula errors and cycles as 422.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{SendExpect, TestServer};

#[tokio::test]
async fn computed_fields_over_http() {
    let s = TestServer::start().await;
    let (t, _) = s.register().await;
    let ws = s.workspace(&t).await;
    let (base, items) = s.table(&t, &ws).await;
    let fields = format!("/api/v1/tables/{items}/fields");
    let total = s
        .req(&t, Method::POST, &fields)
        .json(&json!({"name": "Total", "type": "formula", "options": {"formula": "{Qty} * 2"}}))
        .send_expect(StatusCode::CREATED)
        .await;
    assert_eq!(total["type"], json!("formula"));
    assert_eq!(total["options"]["result_type"], json!("number"));
    assert_eq!(total["options"]["is_valid"], json!(true));
    assert_eq!(
        total["options"]["referenced_field_ids"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // A bad formula: 422 with the position.
    let e = s
        .req(&t, Method::POST, &fields)
        .json(&json!({"name": "Bad", "type": "formula", "options": {"formula": "{Nope} + 1"}}))
        .send_expect(StatusCode::UNPROCESSABLE_ENTITY)
        .await;
    assert_eq!(e["error"]["details"]["formula"]["start"], json!(0), "{e}");

    let records = format!("/api/v1/tables/{items}/records");
    let r = s
        .req(&t, Method::POST, &records)
        .json(&json!({"fields": {"Name": "a", "Qty": 3}}))
        .send_expect(StatusCode::CREATED)
        .await;
    assert_eq!(r["fields"]["Total"], json!(6));
    let id = r["id"].as_str().unwrap().to_owned();

    // Writing a computed cell: 422 naming the field.
    let e = s
        .req(&t, Method::PATCH, &format!("{records}/{id}"))
        .json(&json!({"fields": {"Total": 1}}))
        .send_expect(StatusCode::UNPROCESSABLE_ENTITY)
        .await;
    assert!(
        e["error"]["details"]["fields"].get("Total").is_some(),
        "{e}"
    );

    // A second table looks the items up through a link.
    let orders = s
        .req(&t, Method::POST, &format!("/api/v1/bases/{base}/tables"))
        .json(&json!({"name": "Orders", "fields": [
            {"name": "Ref", "type": "text"},
            {"name": "Items", "type": "link", "options": {"linked_table_id": items}},
        ]}))
        .send_created_id()
        .await;
    let ofields = format!("/api/v1/tables/{orders}/fields");
    for (name, ty, options) in [
        (
            "Totals",
            "lookup",
            json!({"link_field": "Items", "field": "Total"}),
        ),
        (
            "Sum",
            "rollup",
            json!({"link_field": "Items", "field": "Qty", "formula": "SUM(values)"}),
        ),
        ("N", "count", json!({"link_field": "Items"})),
    ] {
        let f: Value = s
            .req(&t, Method::POST, &ofields)
            .json(&json!({"name": name, "type": ty, "options": options}))
            .send_expect(StatusCode::CREATED)
            .await;
        assert!(
            f["options"]["link_field"]
                .as_str()
                .unwrap()
                .starts_with("fld"),
            "{f}"
        );
    }
    let o = s
        .req(
            &t,
            Method::POST,
            &format!("/api/v1/tables/{orders}/records"),
        )
        .json(&json!({"fields": {"Ref": "o1", "Items": [id]}}))
        .send_expect(StatusCode::CREATED)
        .await;
    assert_eq!(o["fields"]["Totals"], json!([6]));
    assert_eq!(o["fields"]["Sum"], json!(3));
    assert_eq!(o["fields"]["N"], json!(1));
    let oid = o["id"].as_str().unwrap();
    s.req(&t, Method::PATCH, &format!("{records}/{id}"))
        .json(&json!({"fields": {"Qty": 5}}))
        .send_expect(StatusCode::OK)
        .await;
    let o = s
        .req(
            &t,
            Method::GET,
            &format!("/api/v1/tables/{orders}/records/{oid}"),
        )
        .send_expect(StatusCode::OK)
        .await;
    assert_eq!(o["fields"]["Totals"], json!([10]));
    assert_eq!(o["fields"]["Sum"], json!(5));

    // A cycle: 422 naming the path.
    let total_id = total["id"].as_str().unwrap();
    let twice = s
        .req(&t, Method::POST, &fields)
        .json(&json!({"name": "Twice", "type": "formula", "options": {"formula": "{Total} * 2"}}))
        .send_expect(StatusCode::CREATED)
        .await;
    assert_eq!(twice["options"]["result_type"], json!("number"));
    let e = s
        .req(&t, Method::PATCH, &format!("/api/v1/fields/{total_id}"))
        .json(&json!({"options": {"formula": "{Twice} + 1"}}))
        .send_expect(StatusCode::UNPROCESSABLE_ENTITY)
        .await;
    let msg = e["error"]["details"]["fields"]["Total"]
        .as_str()
        .unwrap_or_default();
    assert!(msg.contains("Total → Twice → Total"), "{e}");
    assert_eq!(
        e["error"]["details"]["cycle"],
        json!(["Total", "Twice", "Total"])
    );
}

/// A computed field on a table past `COMPUTE_INLINE_MAX_RECORDS` answers
/// `status: computing` at once and is filled by the background job, then
/// reads `ready` with every cell computed; fields show `status` always.
#[tokio::test]
async fn large_tables_fill_in_the_background() {
    let dir = tempfile::tempdir().expect("tempdir");
    let settings = pybase_server::Settings {
        compute_inline_max_records: 3,
        ..crate::common::settings_in(dir.path())
    };
    let s = TestServer::start_with(settings).await;
    let (t, _) = s.register().await;
    let ws = s.workspace(&t).await;
    let (_, items) = s.table(&t, &ws).await;
    let fields = format!("/api/v1/tables/{items}/fields");
    let records = format!("/api/v1/tables/{items}/records");
    let rows: Vec<Value> = (0..20)
        .map(|i| json!({"fields": {"Name": format!("r{i}"), "Qty": i}}))
        .collect();
    s.req(&t, Method::POST, &records)
        .json(&json!({ "records": rows }))
        .send_expect(StatusCode::CREATED)
        .await;
    let listed = s
        .req(&t, Method::GET, &fields)
        .send_expect(StatusCode::OK)
        .await;
    let listed = &listed["items"];
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["status"] == json!("ready")),
        "{listed}"
    );
    let total = s
        .req(&t, Method::POST, &fields)
        .json(&json!({"name": "Total", "type": "formula", "options": {"formula": "{Qty} * 2"}}))
        .send_expect(StatusCode::CREATED)
        .await;
    assert_eq!(total["status"], json!("computing"), "{total}");
    let id = total["id"].as_str().unwrap().to_owned();
    let mut status = Value::Null;
    for _ in 0..400 {
        let f = s
            .req(&t, Method::GET, &format!("/api/v1/fields/{id}"))
            .send_expect(StatusCode::OK)
            .await;
        status = f["status"].clone();
        if status == json!("ready") {
            break;
        }
        assert_eq!(status, json!("computing"));
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert_eq!(status, json!("ready"));
    let page = s
        .req(&t, Method::GET, &format!("{records}?page_size=100"))
        .send_expect(StatusCode::OK)
        .await;
    let got = page["records"].as_array().unwrap();
    assert_eq!(got.len(), 20);
    for r in got {
        let qty = r["fields"].get("Qty").and_then(Value::as_i64).unwrap_or(0);
        assert_eq!(r["fields"]["Total"], json!(qty * 2), "{r}");
    }
}

/// Formula errors on field create and PATCH have one shape whether the
/// formula does not parse or does not check: `details.formula` with the
/// position and `details.fields.formula` with the message (issue 12
/// review); a PATCH of options merges them over the current ones.
#[tokio::test]
async fn formula_errors_and_option_patches_over_http() {
    let s = TestServer::start().await;
    let (t, _) = s.register().await;
    let ws = s.workspace(&t).await;
    let (_, items) = s.table(&t, &ws).await;
    let fields = format!("/api/v1/tables/{items}/fields");
    for (formula, start, end) in [
        ("{Qty} * ", 8, 8),
        ("(((1)", 5, 5),
        ("é + 1", 0, 1),
        ("{Nope} + 1", 0, 6),
    ] {
        let e = s
            .req(&t, Method::POST, &fields)
            .json(&json!({"name": "Bad", "type": "formula", "options": {"formula": formula}}))
            .send_expect_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
            .await;
        let d = &e["error"]["details"];
        let message = d["formula"]["message"].as_str().expect("a message");
        assert_eq!(d["formula"]["start"], json!(start), "{formula}: {e}");
        assert_eq!(d["formula"]["end"], json!(end), "{formula}: {e}");
        assert_eq!(d["fields"]["formula"], json!(message), "{formula}: {e}");
        assert!(d["fields"].get("Bad").is_none(), "{formula}: {e}");
    }
    let total = s
        .req(&t, Method::POST, &fields)
        .json(&json!({"name": "Total", "type": "formula", "options": {"formula": "{Qty} * 2"}}))
        .send_expect(StatusCode::CREATED)
        .await;
    let field = format!("/api/v1/fields/{}", total["id"].as_str().unwrap());
    let e = s
        .req(&t, Method::PATCH, &field)
        .json(&json!({"options": {"formula": "{Qty} * "}}))
        .send_expect_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
        .await;
    assert_eq!(e["error"]["details"]["formula"]["start"], json!(8), "{e}");
    assert!(
        e["error"]["details"]["fields"]["formula"].is_string(),
        "{e}"
    );
    let zoned = s
        .req(&t, Method::PATCH, &field)
        .json(&json!({"options": {"time_zone": "Asia/Kolkata"}}))
        .send_expect(StatusCode::OK)
        .await;
    assert_eq!(zoned["options"]["formula"], json!("{Qty} * 2"), "{zoned}");
    assert_eq!(zoned["options"]["time_zone"], json!("Asia/Kolkata"));
}
