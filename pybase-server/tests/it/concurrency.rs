//! Concurrency against a model (issue 10, reliability suite): 32 clients
//! edit overlapping records (each record is written by four clients, each
//! owning one of its fields) while the table's schema changes under them;
//! the database ends exactly as the model of what each client last wrote.

use std::collections::BTreeMap;
use std::time::Instant;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{SendExpect, TestServer, id_of};

const RECORDS: usize = 8;
const FIELDS: usize = 4;
const CLIENTS: usize = RECORDS * FIELDS;
const WRITES_PER_CLIENT: usize = 25;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_edits_end_as_the_model_says() {
    let s = TestServer::start().await;
    let (t, _) = s.register().await;
    let ws = s.workspace(&t).await;
    let (_, table) = s.table(&t, &ws).await;
    let fields: Vec<String> = (0..FIELDS).map(|f| format!("F{f}")).collect();
    for f in &fields {
        s.req(&t, Method::POST, &format!("/api/v1/tables/{table}/fields"))
            .json(&json!({"name": f, "type": "text"}))
            .send_expect(StatusCode::CREATED)
            .await;
    }
    let mut records = Vec::new();
    for r in 0..RECORDS {
        records.push(id_of(
            &s.req(&t, Method::POST, &format!("/api/v1/tables/{table}/records"))
                .json(&json!({"fields": {"Name": format!("r{r}")}}))
                .send_expect(StatusCode::CREATED)
                .await,
        ));
    }
    let started = Instant::now();
    // Client c owns cell (record c / FIELDS, field c % FIELDS); it writes
    // its cell alone, by single PATCH or batch PATCH, and remembers the
    // last value the server confirmed.
    let clients = (0..CLIENTS).map(|c| {
        let (s, t, table) = (&s, &t, &table);
        let record = records[c / FIELDS].clone();
        let field = fields[c % FIELDS].clone();
        async move {
            let mut last: Option<String> = None;
            let mut writes = 0;
            for n in 0..WRITES_PER_CLIENT {
                let value = format!("c{c}-w{n}");
                let r = if n % 3 == 2 {
                    s.req(t, Method::PATCH, &format!("/api/v1/tables/{table}/records"))
                        .json(&json!({"records": [{"id": record, "fields": {&field: value}}]}))
                        .send()
                        .await
                } else {
                    s.req(
                        t,
                        Method::PATCH,
                        &format!("/api/v1/tables/{table}/records/{record}"),
                    )
                    .json(&json!({"fields": {&field: value}}))
                    .send()
                    .await
                }
                .unwrap();
                assert_eq!(r.status(), StatusCode::OK, "client {c} write {n}");
                last = Some(value);
                writes += 1;
            }
            ((record, field), last, writes)
        }
    });
    // Meanwhile the schema changes: fields come and go beside them.
    let churn = async {
        let mut changes = 0;
        for i in 0..10 {
            let id = s
                .req(&t, Method::POST, &format!("/api/v1/tables/{table}/fields"))
                .json(&json!({"name": format!("Churn{i}"), "type": "number"}))
                .send_created_id()
                .await;
            s.req(&t, Method::PATCH, &format!("/api/v1/fields/{id}"))
                .json(&json!({"name": format!("Churned{i}")}))
                .send_expect(StatusCode::OK)
                .await;
            s.req(&t, Method::DELETE, &format!("/api/v1/fields/{id}"))
                .send_expect(StatusCode::NO_CONTENT)
                .await;
            changes += 3;
        }
        changes
    };
    let (outcomes, changes) = tokio::join!(futures::future::join_all(clients), churn);
    let mut model: BTreeMap<(String, String), String> = BTreeMap::new();
    let mut writes = 0;
    for (cell, last, n) in outcomes {
        writes += n;
        model.insert(cell, last.expect("every client wrote"));
    }
    let page = s
        .req(
            &t,
            Method::GET,
            &format!("/api/v1/tables/{table}/records?page_size=100"),
        )
        .send_expect(StatusCode::OK)
        .await;
    let mut checked = 0;
    for rec in page["records"].as_array().unwrap() {
        let id = rec["id"].as_str().unwrap();
        for f in &fields {
            let want = &model[&(id.to_owned(), f.clone())];
            assert_eq!(rec["fields"][f], Value::String(want.clone()), "{id}.{f}");
            checked += 1;
        }
        assert!(rec["fields"]["Name"].as_str().unwrap().starts_with('r'));
    }
    assert_eq!(checked, CLIENTS);
    println!(
        "reliability: concurrency model: {CLIENTS} clients, {writes} writes, {changes} schema \
         changes, {checked} cells checked against the model, 0 lost, in {:?}",
        started.elapsed()
    );
}
