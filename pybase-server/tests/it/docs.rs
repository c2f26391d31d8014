//! Health, metrics, the OpenAPI document and the documentation pages.

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{SendExpect, TestServer};

/// What the server serves beside the API, outside the OpenAPI document.
const PAGES: &[(&str, &str)] = &[
    ("GET", "/metrics"),
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
    ("GET", "/redoc"),
    ("GET", "/openapi/v0.json"),
];

/// Every operation of the route table, as (METHOD, path template): the
/// document's paths come from the one declaration of each route.
fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let mut ops = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            ops.insert((method.to_uppercase(), path.clone()));
        }
    }
    ops
}

/// Every operation the contract (docs/API.md, before its planned
/// additions) lists in its route tables: `| GET, PATCH | `/path?query` |`.
fn in_the_contract() -> BTreeSet<(String, String)> {
    route_table("docs/API.md", "\n# Additions")
}

/// Every operation a route table of `file` lists before `stop`.
fn route_table(file: &str, stop: &str) -> BTreeSet<(String, String)> {
    let path = format!("{}/../{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(path).unwrap();
    let built = text.split(stop).next().unwrap();
    let mut ops = BTreeSet::new();
    for line in built.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let (Some(methods), Some(route)) = (cells.get(1), cells.get(2)) else {
            continue;
        };
        let Some(route) = route.strip_prefix("`/").and_then(|r| r.split('`').next()) else {
            continue;
        };
        if methods.is_empty()
            || !methods
                .chars()
                .all(|c| c.is_ascii_uppercase() || c == ',' || c == ' ')
        {
            continue;
        }
        let route = format!("/{}", route.split('?').next().unwrap());
        for method in methods.split(',') {
            ops.insert((method.trim().to_owned(), route.clone()));
        }
    }
    ops
}

/// The `/v0` document (its own, served at `/openapi/v0.json`) and the
/// route table of docs/AIRTABLE.md list the same operations; every
/// operation documents its errors in Airtable's shape.
#[tokio::test]
async fn the_v0_document_matches_docs_airtable_md() {
    let s = TestServer::start().await;
    let doc = s
        .anon(Method::GET, "/openapi/v0.json")
        .send_expect(StatusCode::OK)
        .await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    let ops = documented(&doc);
    assert_eq!(
        ops,
        route_table("docs/AIRTABLE.md", "\n## 1. Wire conventions")
    );
    for (method, path) in &ops {
        assert!(path.starts_with("/v0/"), "{path}");
        let op = &doc["paths"][path][method.to_lowercase()];
        for status in ["401", "403", "422", "429"] {
            assert_eq!(
                op["responses"][status]["content"]["application/json"]["schema"]["$ref"],
                "#/components/schemas/V0ErrorBody",
                "{method} {path} {status}"
            );
        }
    }
    let mut refs = Vec::new();
    collect_refs(&doc, &mut refs);
    for r in &refs {
        assert!(resolve(&doc, r).is_some(), "dangling $ref {r}");
    }
    // The main document leaves /v0 to its own.
    let main: Value =
        serde_json::from_str(&pybase_server::openapi::document_json().unwrap()).unwrap();
    assert!(documented(&main).iter().all(|(_, p)| !p.starts_with("/v0")));
}

fn collect_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                if k == "$ref" {
                    if let Some(s) = v.as_str() {
                        out.push(s.to_owned());
                    }
                } else {
                    collect_refs(v, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

fn resolve<'a>(doc: &'a Value, reference: &str) -> Option<&'a Value> {
    let pointer = reference.strip_prefix('#')?;
    doc.pointer(pointer)
}

#[tokio::test]
async fn openapi_is_3_1_covers_every_path_and_every_ref_resolves() {
    let s = TestServer::start().await;
    let doc = s
        .anon(Method::GET, "/openapi.json")
        .send_expect(StatusCode::OK)
        .await;
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    assert!(doc["info"]["title"].is_string());
    let ops = documented(&doc);
    assert!(ops.len() > 40, "{} operations", ops.len());
    for (method, path) in &ops {
        let op = &doc["paths"][path][method.to_lowercase()];
        assert!(
            op["responses"].is_object(),
            "{method} {path} has no responses"
        );
        let statuses: Vec<&String> = op["responses"].as_object().unwrap().keys().collect();
        if path != "/health" {
            assert!(
                statuses.iter().any(|s| s.starts_with('4')),
                "{method} {path} documents no error"
            );
        }
    }
    // Every path parameter is an id of the kind its route names.
    for (method, path) in &ops {
        let op = &doc["paths"][path][method.to_lowercase()];
        for p in op["parameters"].as_array().into_iter().flatten() {
            if p["in"] != "path" {
                continue;
            }
            let schema = match p["schema"]["$ref"].as_str() {
                Some(r) => resolve(&doc, r).unwrap(),
                None => &p["schema"],
            };
            let pattern = schema["pattern"].as_str().unwrap_or_default();
            assert!(
                schema["type"] == "string" && pattern.ends_with("[0-9A-Za-z]{14}$"),
                "{method} {path}: {{{}}} is not an id: {schema}",
                p["name"]
            );
        }
    }
    // The contract and the route table list the same operations.
    let contract = in_the_contract();
    let mut served = ops.clone();
    served.extend(
        PAGES
            .iter()
            .map(|(m, p)| ((*m).to_owned(), (*p).to_owned())),
    );
    let unlisted: Vec<_> = served.difference(&contract).collect();
    assert!(
        unlisted.is_empty(),
        "served but not in docs/API.md: {unlisted:?}"
    );
    let unserved: Vec<_> = contract.difference(&served).collect();
    assert!(
        unserved.is_empty(),
        "in docs/API.md but not served: {unserved:?}"
    );
    // OpenAPI requires operation ids to be unique across the document;
    // code generators and validators reject duplicates.
    let mut seen = std::collections::BTreeMap::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let id = op["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path} has no operationId"));
            if let Some(other) = seen.insert(id.to_owned(), format!("{method} {path}")) {
                panic!("operationId {id} of {method} {path} is also that of {other}");
            }
        }
    }
    let mut refs = Vec::new();
    collect_refs(&doc, &mut refs);
    assert!(!refs.is_empty());
    for r in &refs {
        assert!(resolve(&doc, r).is_some(), "dangling $ref {r}");
    }
    assert!(doc["components"]["schemas"]["ErrorBody"].is_object());
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    // The command-line document is the served one.
    let printed: Value =
        serde_json::from_str(&pybase_server::openapi::document_json().unwrap()).unwrap();
    assert_eq!(printed, doc);
}

#[tokio::test]
async fn swagger_ui_and_redoc_are_served_offline() {
    let s = TestServer::start().await;
    let r = s.anon(Method::GET, "/docs/").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    assert!(html.contains("swagger"), "{html}");
    let r = s
        .anon(Method::GET, "/docs/swagger-ui-bundle.js")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.bytes().await.unwrap().len() > 100_000,
        "vendored asset missing"
    );
    let r = s.anon(Method::GET, "/redoc").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    assert!(html.contains("/openapi.json"));
    // Every script the page loads comes from this server, none from a CDN.
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "{html}"
    );
    let r = s
        .anon(Method::GET, "/redoc/redoc.standalone.js")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.bytes().await.unwrap().len() > 500_000,
        "vendored ReDoc missing"
    );
}

#[tokio::test]
async fn health_reports_every_check() {
    let s = TestServer::start().await;
    let v = s
        .anon(Method::GET, "/health")
        .send_expect(StatusCode::OK)
        .await;
    assert_eq!(v["status"], "healthy");
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    for check in ["database", "cache", "object_store"] {
        assert_eq!(v["checks"][check], "ok", "{v}");
    }
    let expected = match std::env::var("PYBASE_TEST_SERVER_DATABASE_URL") {
        Ok(url) if url.starts_with("postgres") => "postgres",
        _ => "sqlite",
    };
    assert_eq!(v["backends"]["database"], expected);
}

#[tokio::test]
async fn metrics_count_requests_per_matched_route() {
    let s = TestServer::start().await;
    let (t, _) = s.register().await;
    let ws = s.workspace(&t).await;
    for _ in 0..3 {
        let r = s
            .req(&t, Method::GET, &format!("/api/v1/workspaces/{ws}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }
    let r = s.anon(Method::GET, "/metrics").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let text = r.text().await.unwrap();
    assert!(
        text.contains(
            "pybase_http_requests_total{method=\"GET\",route=\"/api/v1/workspaces/{id}\",status=\"200\"} 3"
        ),
        "{text}"
    );
    assert!(text.contains("pybase_http_request_duration_seconds_bucket"));
    assert!(!text.contains(&ws), "raw ids must not become labels");
}

/// Checks `value` against the part of JSON Schema the document uses
/// (`$ref`, `allOf`, `oneOf`/`anyOf`, `type`, `required`, `properties`,
/// `items`), answering what does not match.
fn conforms(doc: &Value, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    if let Some(r) = schema["$ref"].as_str() {
        let target = resolve(doc, r).ok_or_else(|| format!("{at}: dangling {r}"))?;
        return conforms(doc, target, value, at);
    }
    if let Some(all) = schema["allOf"].as_array() {
        for s in all {
            conforms(doc, s, value, at)?;
        }
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(any) = schema[key].as_array() {
            let errors: Vec<String> = any
                .iter()
                .filter_map(|s| conforms(doc, s, value, at).err())
                .collect();
            if errors.len() == any.len() {
                return Err(format!("{at}: matches no {key} branch: {errors:?}"));
            }
        }
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if !types.is_empty() {
        let ok = types.iter().any(|t| match *t {
            "string" => value.is_string(),
            "integer" => value.is_i64() || value.is_u64(),
            "number" => value.is_number(),
            "boolean" => value.is_boolean(),
            "array" => value.is_array(),
            "object" => value.is_object(),
            "null" => value.is_null(),
            _ => true,
        });
        if !ok {
            return Err(format!("{at}: {value} is not of type {types:?}"));
        }
    }
    if let (Some(obj), Some(required)) = (value.as_object(), schema["required"].as_array()) {
        for name in required.iter().filter_map(Value::as_str) {
            if !obj.contains_key(name) {
                return Err(format!("{at}: required property {name:?} is missing"));
            }
        }
    }
    if let (Some(obj), Some(props)) = (value.as_object(), schema["properties"].as_object()) {
        for (name, s) in props {
            if let Some(v) = obj.get(name) {
                conforms(doc, s, v, &format!("{at}.{name}"))?;
            }
        }
    }
    if let (Some(items), Some(s)) = (value.as_array(), schema.get("items")) {
        for (i, v) in items.iter().enumerate() {
            conforms(doc, s, v, &format!("{at}[{i}]"))?;
        }
    }
    Ok(())
}

/// Asserts that `body`, answered by `method path` with `status`, matches
/// the schema the document gives that answer.
#[track_caller]
fn assert_documented(doc: &Value, method: &str, path: &str, status: u16, body: &Value) {
    let response = &doc["paths"][path][method]["responses"][status.to_string()];
    let schema = &response["content"]["application/json"]["schema"];
    assert!(
        schema.is_object(),
        "{method} {path} documents no JSON body for {status}"
    );
    if let Err(e) = conforms(doc, schema, body, "body") {
        panic!("{method} {path} {status} breaks its documented schema: {e}\nbody: {body}");
    }
}

#[tokio::test]
async fn real_answers_match_their_documented_schemas() {
    let s = TestServer::start().await;
    let doc = s
        .anon(Method::GET, "/openapi.json")
        .send_expect(StatusCode::OK)
        .await;
    let (t, session) = s.register().await;
    assert_documented(&doc, "post", "/api/v1/auth/register", 201, &session);

    let key = s
        .req(&t, Method::POST, "/api/v1/api-keys")
        .json(&json!({"name": "ci", "scopes": ["read"]}))
        .send_expect(StatusCode::CREATED)
        .await;
    assert_documented(&doc, "post", "/api/v1/api-keys", 201, &key);
    let keys = s
        .req(&t, Method::GET, "/api/v1/api-keys")
        .send_expect(StatusCode::OK)
        .await;
    assert_documented(&doc, "get", "/api/v1/api-keys", 200, &keys);

    let ws = s.workspace(&t).await;
    let body = s
        .req(&t, Method::GET, &format!("/api/v1/workspaces/{ws}"))
        .send_expect(StatusCode::OK)
        .await;
    assert_documented(&doc, "get", "/api/v1/workspaces/{id}", 200, &body);
    let (_, table) = s.table(&t, &ws).await;
    let body = s
        .req(&t, Method::GET, &format!("/api/v1/tables/{table}"))
        .send_expect(StatusCode::OK)
        .await;
    assert_documented(&doc, "get", "/api/v1/tables/{id}", 200, &body);

    // One record and a batch answer different shapes under one status.
    let records = format!("/api/v1/tables/{table}/records");
    let one = s
        .req(&t, Method::POST, &records)
        .json(&json!({"fields": {"Name": "one", "Qty": 1}}))
        .send_expect(StatusCode::CREATED)
        .await;
    assert_documented(&doc, "post", "/api/v1/tables/{id}/records", 201, &one);
    let many = s
        .req(&t, Method::POST, &records)
        .json(&json!({"records": [{"fields": {"Name": "two"}}, {"fields": {"Name": "three"}}]}))
        .send_expect(StatusCode::CREATED)
        .await;
    assert_documented(&doc, "post", "/api/v1/tables/{id}/records", 201, &many);
    let page = s
        .req(&t, Method::GET, &records)
        .send_expect(StatusCode::OK)
        .await;
    assert_documented(&doc, "get", "/api/v1/tables/{id}/records", 200, &page);

    // Errors too.
    let err = s
        .req(&t, Method::POST, &records)
        .json(&json!({"fields": {"Qty": "abc"}}))
        .send_expect(StatusCode::UNPROCESSABLE_ENTITY)
        .await;
    assert_documented(&doc, "post", "/api/v1/tables/{id}/records", 422, &err);

    // The bytes of an attachment come with their own content type, which
    // the document must allow.
    let content =
        &doc["paths"]["/api/v1/attachments/{id}/content"]["get"]["responses"]["200"]["content"];
    assert!(content["*/*"].is_object(), "{content}");
}

#[tokio::test]
async fn every_operation_documents_the_errors_its_inputs_can_cause() {
    let s = TestServer::start().await;
    let doc = s
        .anon(Method::GET, "/openapi.json")
        .send_expect(StatusCode::OK)
        .await;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let responses = op["responses"].as_object().unwrap();
            let mut wanted = Vec::new();
            if op.get("requestBody").is_some() {
                wanted.extend(["400", "413", "415", "422"]);
            }
            let has_query = op["parameters"]
                .as_array()
                .is_some_and(|ps| ps.iter().any(|p| p["in"] == "query"));
            if has_query {
                wanted.extend(["400", "422"]);
            }
            for status in wanted {
                assert!(
                    responses.contains_key(status),
                    "{method} {path} does not document {status}"
                );
            }
        }
    }
    // What the document promises, the server does: a JSON operation sent
    // no body answers 415, garbage 400, both in the error shape.
    let (t, _) = s.register().await;
    s.req(&t, Method::POST, "/api/v1/workspaces")
        .send_expect_error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
        .await;
    s.req(&t, Method::PATCH, "/api/v1/auth/me")
        .header("content-type", "application/json")
        .body("\u{0}")
        .send_expect_error(StatusCode::BAD_REQUEST, "bad_request")
        .await;
}
