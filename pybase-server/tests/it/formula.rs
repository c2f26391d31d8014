//! Formulas over HTTP: `formula=` on the record list and the query
//! endpoint (ANDed with `filter` and a view), its 422s with positions, and
//! `POST /tables/{id}/formula/check`.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{SendExpect, TestServer, email};

fn names(page: &Value) -> Vec<String> {
    page["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["fields"]["Name"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn formula_filters_lists_and_queries() {
    let s = TestServer::start().await;
    let (t, _) = s.register().await;
    let ws = s.workspace(&t).await;
    let (_, table) = s.table(&t, &ws).await;
    let base = format!("/api/v1/tables/{table}/records");
    let mut records: Vec<Value> = (1..=30)
        .map(|i| json!({"fields": {"Name": format!("n{i:02}"), "Qty": i, "Tags": if i % 3 == 0 { json!(["a"]) } else { json!([]) }}}))
        .collect();
    records.push(json!({"fields": {"Name": "blank"}}));
    let created = s
        .req(&t, Method::POST, &base)
        .json(&json!({ "records": records }))
        .send_expect(StatusCode::CREATED)
        .await;
    let ids: Vec<String> = created["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect();

    // pyairtable's shape, spaces optional, on the list's query string.
    let page = s
        .req(&t, Method::GET, &base)
        .query(&[("formula", "AND({Qty}>=21, {Tags}='a')"), ("sort", "Qty")])
        .send_expect(StatusCode::OK)
        .await;
    assert_eq!(names(&page), vec!["n21", "n24", "n27", "n30"]);
    // Blank is 0 in a numeric comparison; ANDed with `filter`.
    let filter = json!({"field": "Name", "op": "starts_with", "value": "b"}).to_string();
    let page = s
        .req(&t, Method::GET, &base)
        .query(&[("formula", "{Qty} < 2"), ("filter", filter.as_str())])
        .send_expect(StatusCode::OK)
        .await;
    assert_eq!(names(&page), vec!["blank"]);
    // Residual parts page by cursor through the query endpoint.
    let mut body = json!({"formula": "MOD({Qty}, 4) = 1", "sort": "-Qty", "page_size": 3});
    let mut seen = Vec::new();
    loop {
        let page = s
            .req(&t, Method::POST, &format!("{base}/query"))
            .json(&body)
            .send_expect(StatusCode::OK)
            .await;
        assert!(page["records"].as_array().unwrap().len() <= 3);
        seen.extend(names(&page));
        match page["next_cursor"].as_str() {
            Some(c) => body["cursor"] = json!(c),
            None => break,
        }
    }
    assert_eq!(
        seen,
        vec!["n29", "n25", "n21", "n17", "n13", "n09", "n05", "n01"]
    );
    // Hundreds of RECORD_ID() terms, as pyairtable's ORM loads links.
    let terms: Vec<String> = ids
        .iter()
        .step_by(2)
        .map(|id| format!("RECORD_ID()='{id}'"))
        .chain((0..300).map(|i| format!("RECORD_ID()='recNone{i:010}'")))
        .collect();
    let page = s
        .req(&t, Method::POST, &format!("{base}/query"))
        .json(&json!({"formula": format!("OR({})", terms.join(",")), "sort": "Name", "page_size": 100}))
        .send_expect(StatusCode::OK)
        .await;
    assert_eq!(page["records"].as_array().unwrap().len(), 16);
    // A view's filter applies too.
    let view = s
        .req(&t, Method::POST, &format!("/api/v1/tables/{table}/views"))
        .json(&json!({"name": "big", "type": "grid", "config": {
            "filter": {"field": "Qty", "op": "gt", "value": 25}}}))
        .send_created_id()
        .await;
    let page = s
        .req(&t, Method::GET, &base)
        .query(&[
            ("formula", "{Qty} != 27"),
            ("view", view.as_str()),
            ("sort", "Qty"),
        ])
        .send_expect(StatusCode::OK)
        .await;
    assert_eq!(names(&page), vec!["n26", "n28", "n29", "n30"]);
    // Empty means none.
    let page = s
        .req(&t, Method::GET, &base)
        .query(&[("formula", "")])
        .send_expect(StatusCode::OK)
        .await;
    assert_eq!(page["records"].as_array().unwrap().len(), 31);
}

#[tokio::test]
async fn bad_formulas_are_422_with_positions() {
    let s = TestServer::start().await;
    let (t, _) = s.register().await;
    let ws = s.workspace(&t).await;
    let (_, table) = s.table(&t, &ws).await;
    let base = format!("/api/v1/tables/{table}/records");
    for (formula, message, start, end) in [
        ("{qtty} > 1", "Unknown field names: qtty", 0, 6),
        (
            "{Qty} + {Name} > 1",
            "'+' needs a number, got a text",
            8,
            14,
        ),
        ("NOPE({Qty})", "Unknown function names: NOPE", 0, 4),
        ("IF({Qty})", "IF takes 2 to 3 arguments, got 1", 0, 9),
    ] {
        let v = s
            .req(&t, Method::GET, &base)
            .query(&[("formula", formula)])
            .send_expect_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
            .await;
        let d = &v["error"]["details"];
        assert_eq!(
            d["formula"],
            json!({"message": message, "start": start, "end": end}),
            "{formula}: {v}"
        );
        assert_eq!(d["fields"]["formula"], json!(message), "{v}");
        let v = s
            .req(
                &t,
                Method::POST,
                &format!("/api/v1/tables/{table}/formula/check"),
            )
            .json(&json!({ "formula": formula }))
            .send_expect_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
            .await;
        assert_eq!(
            v["error"]["details"]["formula"]["start"],
            json!(start),
            "{v}"
        );
    }
    let v = s
        .req(&t, Method::POST, &format!("{base}/query"))
        .json(&json!({"formula": "AND({Qty} > 1"}))
        .send_expect_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
        .await;
    let f = &v["error"]["details"]["formula"];
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .starts_with("Invalid formula"),
        "{v}"
    );
    assert_eq!(f["start"], json!(13), "{v}");
    // Not a string: the body's shape is checked first.
    s.req(&t, Method::POST, &format!("{base}/query"))
        .json(&json!({"formula": 3}))
        .send_expect_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
        .await;
}

#[tokio::test]
async fn formula_check_answers_viewers_and_hides_from_others() {
    let s = TestServer::start().await;
    let (owner, _) = s.register().await;
    let ws = s.workspace(&owner).await;
    let (_, table) = s.table(&owner, &ws).await;
    let path = format!("/api/v1/tables/{table}/formula/check");
    let viewer_email = email();
    let (viewer, _) = s.register_as(&viewer_email, "correct horse battery").await;
    s.add_member(&owner, &ws, &viewer_email, "viewer").await;
    let fields = s
        .req(
            &owner,
            Method::GET,
            &format!("/api/v1/tables/{table}/fields"),
        )
        .send_expect(StatusCode::OK)
        .await;
    let id_of = |name: &str| {
        fields["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == name)
            .map(|f| f["id"].clone())
            .unwrap()
    };
    for (formula, result_type, refs) in [
        ("{Qty} * 2", "number", vec![id_of("Qty")]),
        ("name & {tags}", "text", vec![id_of("Name"), id_of("Tags")]),
        (
            "AND({Qty} > 1, {Tags})",
            "bool",
            vec![id_of("Qty"), id_of("Tags")],
        ),
        ("DATETIME_PARSE('2024-01-02')", "datetime", vec![]),
        ("ARRAYCOMPACT({Tags})", "list", vec![id_of("Tags")]),
    ] {
        let v = s
            .req(&viewer, Method::POST, &path)
            .json(&json!({ "formula": formula }))
            .send_expect(StatusCode::OK)
            .await;
        assert_eq!(
            v,
            json!({"result_type": result_type, "referenced_field_ids": refs}),
            "{formula}"
        );
    }
    let (stranger, _) = s.register().await;
    s.req(&stranger, Method::POST, &path)
        .json(&json!({"formula": "1"}))
        .send_expect_error(StatusCode::NOT_FOUND, "not_found")
        .await;
    s.req(&viewer, Method::POST, &path)
        .json(&json!({"formula": "1", "extra": true}))
        .send_expect_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
        .await;
}

#[tokio::test]
async fn hostile_formulas_are_refused_quickly() {
    let s = TestServer::start().await;
    let (t, _) = s.register().await;
    let ws = s.workspace(&t).await;
    let (_, table) = s.table(&t, &ws).await;
    let base = format!("/api/v1/tables/{table}/records");
    s.req(&t, Method::POST, &base)
        .json(&json!({"records": [{"fields": {"Name": "a", "Qty": 1}}]}))
        .send_expect(StatusCode::CREATED)
        .await;
    let many_args = format!("OR({})", vec!["{Qty} = 1"; 10_001].join(","));
    let long_chain = vec!["{Qty}"; 5_000].join(" + ");
    for (formula, status) in [
        ("(".repeat(10_000), StatusCode::UNPROCESSABLE_ENTITY),
        (
            "NOT(".repeat(100) + "1" + &")".repeat(100),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            format!("'{}'", "x".repeat(300 * 1024)),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (many_args, StatusCode::UNPROCESSABLE_ENTITY),
        (long_chain, StatusCode::UNPROCESSABLE_ENTITY),
        ("REPT('x', 1e12)".into(), StatusCode::OK),
        ("REGEX_MATCH({Name}, '(a+)+$')".into(), StatusCode::OK),
        ("{Name} = '\u{0}\u{202e}é'".into(), StatusCode::OK),
        ("{Qty} % 2".into(), StatusCode::UNPROCESSABLE_ENTITY),
    ] {
        let started = std::time::Instant::now();
        let r = s
            .req(&t, Method::POST, &format!("{base}/query"))
            .json(&json!({ "formula": formula }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), status, "{}", &formula[..formula.len().min(60)]);
        assert!(
            started.elapsed() < std::time::Duration::from_secs(2),
            "{} took {:?}",
            &formula[..formula.len().min(60)],
            started.elapsed()
        );
    }
}
