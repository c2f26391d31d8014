//! The Airtable-compatible `/v0` API over plain HTTP: what neither client
//! sends (AIRTABLE.md §1, §3, §4, §5), the error shapes, the rate limit and
//! the role matrix. The real clients run in `v0_clients`.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{SendExpect, TestServer, email, settings_in, unique};

/// A server with a user, a workspace, a base, a full API key and a table
/// "Orders" made through `/v0`.
pub(crate) struct V0World {
    pub(crate) s: TestServer,
    pub(crate) owner: String,
    pub(crate) ws: String,
    pub(crate) base: String,
    pub(crate) key: String,
    pub(crate) table: String,
    _dir: Option<tempfile::TempDir>,
}

impl V0World {
    /// With the default settings except the rate limit (`per_second`).
    pub(crate) async fn with_rate(per_second: u32) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut settings = settings_in(dir.path());
        settings.airtable_rate_limit_per_base = per_second;
        Self::start(settings, dir).await
    }

    /// With `settings` (whose files are in `dir`).
    pub(crate) async fn start(settings: pybase_server::Settings, dir: tempfile::TempDir) -> Self {
        let s = TestServer::start_with(settings).await;
        let (owner, _) = s.register().await;
        let ws = s.workspace(&owner).await;
        let base = s
            .req(
                &owner,
                Method::POST,
                &format!("/api/v1/workspaces/{ws}/bases"),
            )
            .json(&json!({"name": "Ops"}))
            .send_created_id()
            .await;
        let key = s
            .key(&owner, &["read", "write", "schema", "admin"], None)
            .await;
        let table = s
            .req(&key, Method::POST, &format!("/v0/meta/bases/{base}/tables"))
            .json(&json!({"name": "Orders", "fields": [
                {"name": "Name", "type": "singleLineText"},
                {"name": "Qty", "type": "number", "options": {"precision": 0}},
                {"name": "Done", "type": "checkbox"},
                {"name": "Status", "type": "singleSelect", "options": {"choices": [{"name": "todo"}, {"name": "doing"}]}},
                {"name": "Email", "type": "email"},
            ]}))
            .send_expect(StatusCode::OK)
            .await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        Self {
            s,
            owner,
            ws,
            base,
            key,
            table,
            _dir: Some(dir),
        }
    }

    pub(crate) async fn new() -> Self {
        Self::with_rate(10_000).await
    }

    fn records(&self) -> String {
        format!("/v0/{}/{}", self.base, self.table)
    }

    pub(crate) async fn create(&self, fields: Value) -> Value {
        self.s
            .req(&self.key, Method::POST, &self.records())
            .json(&json!({ "fields": fields }))
            .send_expect(StatusCode::OK)
            .await
    }
}

impl TestServer {
    /// An API key of the holder of `token`.
    pub(crate) async fn key(
        &self,
        token: &str,
        scopes: &[&str],
        workspaces: Option<&[&str]>,
    ) -> String {
        let mut body = json!({"name": format!("k{}", unique()), "scopes": scopes});
        if let Some(ws) = workspaces {
            body["workspaces"] = json!(ws);
        }
        self.req(token, Method::POST, "/api/v1/api-keys")
            .json(&body)
            .send_expect(StatusCode::CREATED)
            .await["key"]
            .as_str()
            .unwrap()
            .to_owned()
    }
}

/// Asserts Airtable's error shape with `kind`, answering the body.
pub(crate) async fn airtable_error(r: reqwest::Response, status: StatusCode, kind: &str) -> Value {
    let got = r.status();
    let text = r.text().await.unwrap();
    assert_eq!(got, status, "body: {text}");
    let v: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
    assert_eq!(v["error"]["type"], kind, "{v}");
    assert!(v["error"]["message"].is_string(), "{v}");
    v
}

#[tokio::test]
async fn every_error_under_v0_has_airtables_shape() {
    let w = V0World::new().await;
    // Unknown route: the string form.
    let r =
        w.s.req(&w.key, Method::GET, "/v0/a/b/c/d/e")
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"error": "NOT_FOUND"})
    );
    let r = w.s.anon(Method::GET, "/v0").send().await.unwrap();
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"error": "NOT_FOUND"})
    );
    // No, malformed or unknown credentials, and a refresh token.
    let (_, session) = w.s.register().await;
    let refresh = format!("Bearer {}", session["refresh_token"].as_str().unwrap());
    for auth in [
        None,
        Some("Basic x"),
        Some("Bearer pbk_nope"),
        Some(refresh.as_str()),
    ] {
        let mut req = w.s.anon(Method::GET, &w.records());
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        airtable_error(
            req.send().await.unwrap(),
            StatusCode::UNAUTHORIZED,
            "AUTHENTICATION_REQUIRED",
        )
        .await;
    }
    // 405 from the router.
    let r =
        w.s.req(&w.key, Method::POST, "/v0/meta/whoami")
            .send()
            .await
            .unwrap();
    airtable_error(r, StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED").await;
    // Bad JSON, and JSON that is not an object.
    for body in ["{", "[1]", "\"x\""] {
        let r =
            w.s.req(&w.key, Method::POST, &w.records())
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
        airtable_error(r, StatusCode::BAD_REQUEST, "INVALID_REQUEST_BODY").await;
    }
    // Over the body limit.
    let big = format!(
        "{{\"fields\":{{\"Name\":\"{}\"}}}}",
        "x".repeat(9 * 1024 * 1024)
    );
    let r =
        w.s.req(&w.key, Method::POST, &w.records())
            .header("content-type", "application/json")
            .body(big)
            .send()
            .await
            .unwrap();
    airtable_error(r, StatusCode::PAYLOAD_TOO_LARGE, "REQUEST_TOO_LARGE").await;
    // Missing fields / records, too many records, empty records.
    let r =
        w.s.req(&w.key, Method::POST, &w.records())
            .json(&json!({}))
            .send()
            .await
            .unwrap();
    airtable_error(
        r,
        StatusCode::UNPROCESSABLE_ENTITY,
        "INVALID_REQUEST_MISSING_FIELDS",
    )
    .await;
    let eleven: Vec<Value> = (0..11).map(|i| json!({"fields": {"Qty": i}})).collect();
    let r =
        w.s.req(&w.key, Method::POST, &w.records())
            .json(&json!({"records": eleven}))
            .send()
            .await
            .unwrap();
    let v = airtable_error(r, StatusCode::UNPROCESSABLE_ENTITY, "INVALID_RECORDS").await;
    assert_eq!(
        v["error"]["message"],
        "A maximum of 10 records can be created per request but you have provided 11."
    );
    // Nothing of a failed batch was written.
    let all =
        w.s.req(&w.key, Method::GET, &w.records())
            .send_expect(StatusCode::OK)
            .await;
    assert_eq!(all["records"], json!([]));
    // Unknown field, bad value, unknown choice, unknown record.
    let r =
        w.s.req(&w.key, Method::POST, &w.records())
            .json(&json!({"fields": {"Qtty": 1}}))
            .send()
            .await
            .unwrap();
    let v = airtable_error(r, StatusCode::UNPROCESSABLE_ENTITY, "UNKNOWN_FIELD_NAME").await;
    assert_eq!(v["error"]["message"], "Unknown field name: \"Qtty\"");
    let r =
        w.s.req(&w.key, Method::POST, &w.records())
            .json(&json!({"fields": {"Qty": "abc"}}))
            .send()
            .await
            .unwrap();
    airtable_error(
        r,
        StatusCode::UNPROCESSABLE_ENTITY,
        "INVALID_VALUE_FOR_COLUMN",
    )
    .await;
    let r =
        w.s.req(&w.key, Method::POST, &w.records())
            .json(&json!({"fields": {"Status": "zzz"}}))
            .send()
            .await
            .unwrap();
    airtable_error(
        r,
        StatusCode::UNPROCESSABLE_ENTITY,
        "INVALID_MULTIPLE_CHOICE_OPTIONS",
    )
    .await;
    let missing = format!("{}/recAAAAAAAAAAAAAA", w.records());
    let r = w.s.req(&w.key, Method::GET, &missing).send().await.unwrap();
    let v = airtable_error(r, StatusCode::NOT_FOUND, "MODEL_ID_NOT_FOUND").await;
    assert_eq!(v["error"]["message"], "Record not found");
    let r =
        w.s.req(&w.key, Method::PATCH, &w.records())
            .json(&json!({"records": [{"id": "recAAAAAAAAAAAAAA", "fields": {"Qty": 1}}]}))
            .send()
            .await
            .unwrap();
    airtable_error(r, StatusCode::UNPROCESSABLE_ENTITY, "ROW_DOES_NOT_EXIST").await;
    let r =
        w.s.req(
            &w.key,
            Method::DELETE,
            &format!("{}?records[]=recAAAAAAAAAAAAAA", w.records()),
        )
        .send()
        .await
        .unwrap();
    airtable_error(r, StatusCode::UNPROCESSABLE_ENTITY, "ROW_DOES_NOT_EXIST").await;
    // Bad list parameters.
    for q in [
        "pageSize=0",
        "pageSize=101",
        "sort[0][field]=Qty&sort[0][direction]=up",
        "cellFormat=string",
        "offset=itrjunk",
    ] {
        let r =
            w.s.req(&w.key, Method::GET, &format!("{}?{q}", w.records()))
                .send()
                .await
                .unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{q}");
    }
    let r =
        w.s.req(
            &w.key,
            Method::GET,
            &format!("{}?sort[0][field]=Nope", w.records()),
        )
        .send()
        .await
        .unwrap();
    airtable_error(r, StatusCode::UNPROCESSABLE_ENTITY, "UNKNOWN_FIELD_NAME").await;
    let r =
        w.s.req(&w.key, Method::GET, &format!("{}?view=Nope", w.records()))
            .send()
            .await
            .unwrap();
    airtable_error(r, StatusCode::UNPROCESSABLE_ENTITY, "VIEW_NAME_NOT_FOUND").await;
    // A formula that names an unknown field.
    let r =
        w.s.req(
            &w.key,
            Method::GET,
            &format!("{}?filterByFormula=%7BQtty%7D+%3E+1", w.records()),
        )
        .send()
        .await
        .unwrap();
    let v = airtable_error(
        r,
        StatusCode::UNPROCESSABLE_ENTITY,
        "INVALID_FILTER_BY_FORMULA",
    )
    .await;
    assert!(
        v["error"]["message"].as_str().unwrap().contains("Qtty"),
        "{v}"
    );
    // Field name taken.
    let r =
        w.s.req(
            &w.key,
            Method::POST,
            &format!("/v0/meta/bases/{}/tables/{}/fields", w.base, w.table),
        )
        .json(&json!({"name": "qty", "type": "number"}))
        .send()
        .await
        .unwrap();
    airtable_error(
        r,
        StatusCode::UNPROCESSABLE_ENTITY,
        "DUPLICATE_OR_EMPTY_FIELD_NAME",
    )
    .await;
    // An empty name is refused the same way; a link to no table is the
    // request's fault, not a cell's.
    for (body, kind) in [
        (
            json!({"name": "", "type": "number"}),
            "DUPLICATE_OR_EMPTY_FIELD_NAME",
        ),
        (
            json!({"name": "L", "type": "multipleRecordLinks",
                   "options": {"linkedTableId": "tblAAAAAAAAAAAAAA"}}),
            "INVALID_REQUEST_UNKNOWN",
        ),
    ] {
        let r =
            w.s.req(
                &w.key,
                Method::POST,
                &format!("/v0/meta/bases/{}/tables/{}/fields", w.base, w.table),
            )
            .json(&body)
            .send()
            .await
            .unwrap();
        airtable_error(r, StatusCode::UNPROCESSABLE_ENTITY, kind).await;
    }
    let r =
        w.s.req(
            &w.key,
            Method::POST,
            &format!("/v0/meta/bases/{}/tables/{}/fields", w.base, w.table),
        )
        .json(&json!({"name": "F", "type": "formula"}))
        .send()
        .await
        .unwrap();
    airtable_error(
        r,
        StatusCode::UNPROCESSABLE_ENTITY,
        "INVALID_REQUEST_UNKNOWN",
    )
    .await;
}

#[tokio::test]
async fn client_habits_are_accepted() {
    let w = V0World::new().await;
    // A table name with a space and a slash, percent-encoded as one segment.
    let odd = w
        .s
        .req(&w.key, Method::POST, &format!("/v0/meta/bases/{}/tables", w.base))
        .json(&json!({"name": "My Table/x+y", "fields": [{"name": "Name", "type": "singleLineText"}]}))
        .send_expect(StatusCode::OK)
        .await;
    let encoded = format!("/v0/{}/My%20Table%2Fx+y", w.base);
    // Trailing slash, JSON content type on GET, an empty `?`.
    let made =
        w.s.req(&w.key, Method::POST, &format!("{encoded}/"))
            .json(&json!({"records": [{"fields": {"Name": "a"}}]}))
            .send_expect(StatusCode::OK)
            .await;
    let id = made["records"][0]["id"].as_str().unwrap().to_owned();
    let got =
        w.s.req(&w.key, Method::GET, &format!("{encoded}/{id}?"))
            .header("content-type", "application/json")
            .send_expect(StatusCode::OK)
            .await;
    assert_eq!(got["fields"], json!({"Name": "a"}));
    assert!(got["createdTime"].as_str().unwrap().ends_with('Z'));
    // By id and case-insensitively by name too.
    let by_id = format!("/v0/{}/{}", w.base, odd["id"].as_str().unwrap());
    let page =
        w.s.req(&w.key, Method::GET, &by_id)
            .send_expect(StatusCode::OK)
            .await;
    assert_eq!(page["records"].as_array().unwrap().len(), 1);
    let lower = format!("/v0/{}/my%20table%2Fx+y", w.base);
    w.s.req(&w.key, Method::GET, &lower)
        .send_expect(StatusCode::OK)
        .await;
    // X-API-Key works as well; DELETE with a JSON content type and no body.
    let r =
        w.s.anon(Method::DELETE, &format!("{encoded}/{id}"))
            .header("x-api-key", &w.key)
            .header("content-type", "application/json")
            .send_expect(StatusCode::OK)
            .await;
    assert_eq!(r, json!({"id": id, "deleted": true}));
    // A name resolved before, then renamed and reused by another table,
    // names the other table; a table of another base is not reachable
    // through this one.
    let meta = format!("/v0/meta/bases/{}/tables", w.base);
    w.s.req(&w.key, Method::GET, &format!("/v0/{}/Orders", w.base))
        .send_expect(StatusCode::OK)
        .await;
    w.s.req(&w.key, Method::PATCH, &format!("{meta}/Orders"))
        .json(&json!({"name": "Old orders"}))
        .send_expect(StatusCode::OK)
        .await;
    let r =
        w.s.req(&w.key, Method::GET, &format!("/v0/{}/Orders", w.base))
            .send()
            .await
            .unwrap();
    airtable_error(
        r,
        StatusCode::FORBIDDEN,
        "INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND",
    )
    .await;
    let newer = w
        .s
        .req(&w.key, Method::POST, &meta)
        .json(&json!({"name": "Orders", "fields": [{"name": "Other", "type": "singleLineText"}]}))
        .send_expect(StatusCode::OK)
        .await;
    w.s.req(&w.key, Method::POST, &format!("/v0/{}/Orders", w.base))
        .json(&json!({"fields": {"Other": "x"}}))
        .send_expect(StatusCode::OK)
        .await;
    let other_base =
        w.s.req(
            &w.owner,
            Method::POST,
            &format!("/api/v1/workspaces/{}/bases", w.ws),
        )
        .json(&json!({"name": "B2"}))
        .send_created_id()
        .await;
    let r =
        w.s.req(
            &w.key,
            Method::GET,
            &format!("/v0/{other_base}/{}", newer["id"].as_str().unwrap()),
        )
        .send()
        .await
        .unwrap();
    airtable_error(
        r,
        StatusCode::FORBIDDEN,
        "INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND",
    )
    .await;
    // URLs up to 16,000 characters (where the clients switch to POST
    // listRecords).
    let long = format!(
        "{}?{}",
        w.records(),
        vec!["fields%5B%5D=Name"; 900].join("&")
    );
    assert!(long.len() > 15_000, "{}", long.len());
    w.s.req(&w.key, Method::GET, &long)
        .send_expect(StatusCode::OK)
        .await;
    // CORS allows airtable.js's headers.
    let r =
        w.s.anon(Method::OPTIONS, &w.records())
            .header("origin", "http://localhost:3000")
            .header("access-control-request-method", "GET")
            .header(
                "access-control-request-headers",
                "authorization,x-api-version,x-airtable-application-id,x-airtable-user-agent",
            )
            .send()
            .await
            .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let allowed = r.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(allowed.contains("x-airtable-application-id"), "{allowed}");
}

#[tokio::test]
async fn lists_page_with_offsets_that_stop_and_hold_max_records() {
    let w = V0World::new().await;
    for chunk in 0..3 {
        let records: Vec<Value> = (0..10).map(|i| json!({"fields": {"Name": format!("n{}", chunk * 10 + i), "Qty": chunk * 10 + i}})).collect();
        w.s.req(&w.key, Method::POST, &w.records())
            .json(&json!({"records": records}))
            .send_expect(StatusCode::OK)
            .await;
    }
    // GET with pyairtable's ordering of sort keys, `+` for spaces.
    let mut seen = Vec::new();
    let mut offset: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut url = format!(
            "{}?pageSize=7&maxRecords=25&sort%5B0%5D%5Bdirection%5D=desc&sort%5B0%5D%5Bfield%5D=Qty&fields%5B%5D=Qty&returnFieldsByFieldId=0",
            w.records()
        );
        if let Some(o) = &offset {
            url.push_str(&format!("&offset={o}"));
        }
        let page =
            w.s.req(&w.key, Method::GET, &url)
                .send_expect(StatusCode::OK)
                .await;
        pages += 1;
        for r in page["records"].as_array().unwrap() {
            assert_eq!(
                r["fields"].as_object().unwrap().keys().collect::<Vec<_>>(),
                ["Qty"]
            );
            seen.push(r["fields"]["Qty"].as_i64().unwrap());
        }
        match page.get("offset") {
            Some(Value::String(o)) => offset = Some(o.clone()),
            None => break,
            Some(other) => panic!("offset is {other}, not a string or absent"),
        }
    }
    assert_eq!(pages, 4);
    assert_eq!(seen, (5..30).rev().collect::<Vec<i64>>());
    // An offset used with other parameters is refused.
    let first =
        w.s.req(&w.key, Method::GET, &format!("{}?pageSize=5", w.records()))
            .send_expect(StatusCode::OK)
            .await;
    let o = first["offset"].as_str().unwrap();
    let r =
        w.s.req(
            &w.key,
            Method::GET,
            &format!("{}?pageSize=5&sort[0][field]=Qty&offset={o}", w.records()),
        )
        .send()
        .await
        .unwrap();
    airtable_error(
        r,
        StatusCode::UNPROCESSABLE_ENTITY,
        "LIST_RECORDS_ITERATOR_NOT_AVAILABLE",
    )
    .await;
    // An offset whose count of records served was edited (so `maxRecords`
    // would not hold) is refused too: the count is sealed with the rest.
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let capped = format!("{}?pageSize=5&maxRecords=8", w.records());
    let first =
        w.s.req(&w.key, Method::GET, &capped)
            .send_expect(StatusCode::OK)
            .await;
    let o = first["offset"].as_str().unwrap();
    let raw = String::from_utf8(b64.decode(o.strip_prefix("itr").unwrap()).unwrap()).unwrap();
    let (served, rest) = raw.split_once('.').unwrap();
    assert_eq!(served, "5");
    let edited = format!("itr{}", b64.encode(format!("0.{rest}")));
    let r =
        w.s.req(&w.key, Method::GET, &format!("{capped}&offset={edited}"))
            .send()
            .await
            .unwrap();
    airtable_error(
        r,
        StatusCode::UNPROCESSABLE_ENTITY,
        "LIST_RECORDS_ITERATOR_NOT_AVAILABLE",
    )
    .await;
    // POST listRecords, with airtable.js's extra body keys.
    let body = json!({"pageSize": 100, "method": "post", "timeZone": "UTC", "sort": [{"field": "Qty"}], "maxRecords": 3});
    let page =
        w.s.req(
            &w.key,
            Method::POST,
            &format!("{}/listRecords", w.records()),
        )
        .json(&body)
        .send_expect(StatusCode::OK)
        .await;
    let qty: Vec<i64> = page["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["fields"]["Qty"].as_i64().unwrap())
        .collect();
    assert_eq!(qty, [0, 1, 2]);
    assert!(page.get("offset").is_none(), "{page}");
    // A view's filter and order apply, its hidden fields are still returned.
    let fields =
        w.s.req(
            &w.owner,
            Method::GET,
            &format!("/api/v1/tables/{}/fields", w.table),
        )
        .send_expect(StatusCode::OK)
        .await;
    let qty = fields["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "Qty")
        .unwrap()["id"]
        .clone();
    w.s.req(&w.owner, Method::POST, &format!("/api/v1/tables/{}/views", w.table))
        .json(&json!({"name": "Big", "config": {"filter": {"field": "Qty", "op": "gte", "value": 28}, "sort": "-Qty", "hidden_fields": [qty]}}))
        .send_expect(StatusCode::CREATED)
        .await;
    let page =
        w.s.req(&w.key, Method::GET, &format!("{}?view=Big", w.records()))
            .send_expect(StatusCode::OK)
            .await;
    let qty: Vec<i64> = page["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["fields"]["Qty"].as_i64().unwrap())
        .collect();
    assert_eq!(qty, [29, 28]);
    // filterByFormula, in the query (`+` for spaces) and in a POST body,
    // with pyairtable's shapes of formulas.
    let page = w.s.req(&w.key, Method::GET, &format!("{}?filterByFormula=AND(%7BQty%7D%3E%3D27%2C+%7BName%7D%21%3D%27n28%27)&sort[0][field]=Qty", w.records())).send_expect(StatusCode::OK).await;
    let qty: Vec<i64> = page["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["fields"]["Qty"].as_i64().unwrap())
        .collect();
    assert_eq!(qty, [27, 29]);
    let ids: Vec<String> = page["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect();
    let or = format!(
        "OR({})",
        ids.iter()
            .map(|id| format!("RECORD_ID()='{id}'"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let page =
        w.s.req(
            &w.key,
            Method::POST,
            &format!("{}/listRecords", w.records()),
        )
        .json(&json!({"filterByFormula": or, "pageSize": 1}))
        .send_expect(StatusCode::OK)
        .await;
    assert_eq!(page["records"].as_array().unwrap().len(), 1);
    assert!(page["offset"].is_string(), "{page}");
    // cellFormat=string with its required parameters; commentCount.
    let page = w.s.req(&w.key, Method::GET, &format!("{}?maxRecords=1&sort[0][field]=Qty&cellFormat=string&timeZone=UTC&userLocale=en&recordMetadata[]=commentCount", w.records())).send_expect(StatusCode::OK).await;
    assert_eq!(page["records"][0]["fields"]["Qty"], "0");
    assert_eq!(page["records"][0]["commentCount"], 0);
}

#[tokio::test]
async fn writes_merge_replace_and_upsert() {
    let w = V0World::new().await;
    let a = w.create(json!({"Name": "a", "Qty": 1, "Done": true})).await;
    assert_eq!(a["fields"], json!({"Name": "a", "Qty": 1, "Done": true}));
    let id = a["id"].as_str().unwrap();
    let one = format!("{}/{id}", w.records());
    let merged =
        w.s.req(&w.key, Method::PATCH, &one)
            .json(&json!({"fields": {"Qty": 2}}))
            .send_expect(StatusCode::OK)
            .await;
    assert_eq!(
        merged["fields"],
        json!({"Name": "a", "Qty": 2, "Done": true})
    );
    let replaced =
        w.s.req(&w.key, Method::PUT, &one)
            .json(&json!({"fields": {"Name": "b"}}))
            .send_expect(StatusCode::OK)
            .await;
    assert_eq!(replaced["fields"], json!({"Name": "b"}));
    let batch =
        w.s.req(&w.key, Method::PUT, &w.records())
            .json(&json!({"records": [{"id": id, "fields": {"Qty": 9}}]}))
            .send_expect(StatusCode::OK)
            .await;
    assert_eq!(batch["records"][0]["fields"], json!({"Qty": 9}));
    // An empty record still has `fields`.
    let empty = w.create(json!({})).await;
    assert_eq!(empty["fields"], json!({}));
    // Upsert: one match updates, no match creates, a missing merge field is refused.
    w.create(json!({"Email": "x@example.com", "Qty": 1})).await;
    let up =
        w.s.req(&w.key, Method::PATCH, &w.records())
            .json(
                &json!({"performUpsert": {"fieldsToMergeOn": ["Email"]}, "records": [
                    {"fields": {"Email": "x@example.com", "Qty": 2}},
                    {"fields": {"Email": "y@example.com", "Qty": 3}},
                ]}),
            )
            .send_expect(StatusCode::OK)
            .await;
    assert_eq!(up["createdRecords"].as_array().unwrap().len(), 1);
    assert_eq!(up["updatedRecords"].as_array().unwrap().len(), 1);
    assert_eq!(up["records"][0]["fields"]["Qty"], 2);
    // A PUT upsert replaces the match: its cells not named are cleared.
    let put =
        w.s.req(&w.key, Method::PUT, &w.records())
            .json(
                &json!({"performUpsert": {"fieldsToMergeOn": ["Email"]}, "records": [
                    {"fields": {"Email": "x@example.com", "Name": "replaced"}},
                ]}),
            )
            .send_expect(StatusCode::OK)
            .await;
    assert_eq!(put["updatedRecords"].as_array().unwrap().len(), 1, "{put}");
    assert_eq!(
        put["records"][0]["fields"],
        json!({"Email": "x@example.com", "Name": "replaced"})
    );
    let r = w
        .s
        .req(&w.key, Method::PATCH, &w.records())
        .json(&json!({"performUpsert": {"fieldsToMergeOn": ["Email"]}, "records": [{"fields": {"Qty": 3}}]}))
        .send()
        .await
        .unwrap();
    airtable_error(
        r,
        StatusCode::UNPROCESSABLE_ENTITY,
        "INVALID_REQUEST_MISSING_FIELDS",
    )
    .await;
    // A merge field the table does not have is an unknown field.
    let r = w
        .s
        .req(&w.key, Method::PATCH, &w.records())
        .json(&json!({"performUpsert": {"fieldsToMergeOn": ["Zzz"]}, "records": [{"fields": {"Qty": 3}}]}))
        .send()
        .await
        .unwrap();
    airtable_error(r, StatusCode::UNPROCESSABLE_ENTITY, "UNKNOWN_FIELD_NAME").await;
    // Two records with the same merge value make the upsert ambiguous.
    w.create(json!({"Email": "x@example.com"})).await;
    let r = w
        .s
        .req(&w.key, Method::PATCH, &w.records())
        .json(&json!({"performUpsert": {"fieldsToMergeOn": ["Email"]}, "records": [{"fields": {"Email": "x@example.com"}}]}))
        .send()
        .await
        .unwrap();
    airtable_error(r, StatusCode::UNPROCESSABLE_ENTITY, "INVALID_RECORDS").await;
    // So does one merge value given twice in one request.
    let r =
        w.s.req(&w.key, Method::PATCH, &w.records())
            .json(
                &json!({"performUpsert": {"fieldsToMergeOn": ["Email"]}, "records": [
                    {"fields": {"Email": "twice@example.com"}},
                    {"fields": {"Email": "twice@example.com"}},
                ]}),
            )
            .send()
            .await
            .unwrap();
    airtable_error(r, StatusCode::UNPROCESSABLE_ENTITY, "INVALID_RECORDS").await;
}

#[tokio::test]
async fn metadata_speaks_airtables_types() {
    let w = V0World::new().await;
    let me =
        w.s.req(&w.key, Method::GET, "/v0/meta/whoami")
            .send_expect(StatusCode::OK)
            .await;
    assert!(me["id"].as_str().unwrap().starts_with("usr"));
    assert!(
        me["scopes"]
            .as_array()
            .unwrap()
            .contains(&json!("data.records:write"))
    );
    let bases =
        w.s.req(&w.key, Method::GET, "/v0/meta/bases")
            .send_expect(StatusCode::OK)
            .await;
    assert_eq!(
        bases["bases"],
        json!([{"id": w.base, "name": "Ops", "permissionLevel": "create"}])
    );
    let schema =
        w.s.req(
            &w.key,
            Method::GET,
            &format!("/v0/meta/bases/{}/tables?include=visibleFieldIds", w.base),
        )
        .send_expect(StatusCode::OK)
        .await;
    let t = &schema["tables"][0];
    assert_eq!(t["name"], "Orders");
    assert_eq!(t["primaryFieldId"], t["fields"][0]["id"]);
    let types: Vec<&str> = t["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "singleLineText",
            "number",
            "checkbox",
            "singleSelect",
            "email"
        ]
    );
    assert_eq!(
        t["fields"][2]["options"],
        json!({"icon": "check", "color": "greenBright"})
    );
    assert_eq!(t["views"][0]["name"], "Grid view");
    assert_eq!(
        t["views"][0]["visibleFieldIds"].as_array().unwrap().len(),
        5
    );
    // Every type of the mapping round-trips through create field.
    let cases = [
        ("multilineText", json!(null), "multilineText"),
        ("richText", json!(null), "multilineText"),
        ("url", json!(null), "url"),
        ("phoneNumber", json!(null), "phoneNumber"),
        (
            "currency",
            json!({"precision": 2, "symbol": "€"}),
            "currency",
        ),
        ("percent", json!({"precision": 1}), "percent"),
        (
            "rating",
            json!({"max": 5, "icon": "star", "color": "yellowBright"}),
            "rating",
        ),
        (
            "duration",
            json!({"durationFormat": "h:mm:ss.S"}),
            "duration",
        ),
        (
            "multipleSelects",
            json!({"choices": [{"name": "x", "color": "blueLight2"}]}),
            "multipleSelects",
        ),
        ("date", json!({"dateFormat": {"name": "iso"}}), "date"),
        (
            "dateTime",
            json!({"timeZone": "utc", "dateFormat": {"name": "iso"}, "timeFormat": {"name": "24hour"}}),
            "dateTime",
        ),
        ("multipleAttachments", json!(null), "multipleAttachments"),
        (
            "multipleRecordLinks",
            json!({"linkedTableId": w.table, "prefersSingleRecordLink": true}),
            "multipleRecordLinks",
        ),
        ("autoNumber", json!(null), "autoNumber"),
        ("createdTime", json!(null), "createdTime"),
        ("lastModifiedTime", json!(null), "lastModifiedTime"),
        ("createdBy", json!(null), "createdBy"),
        ("lastModifiedBy", json!(null), "lastModifiedBy"),
    ];
    for (i, (t, options, back)) in cases.iter().enumerate() {
        let mut body = json!({"name": format!("F{i}"), "type": t});
        if !options.is_null() {
            body["options"] = options.clone();
        }
        let f =
            w.s.req(
                &w.key,
                Method::POST,
                &format!("/v0/meta/bases/{}/tables/Orders/fields", w.base),
            )
            .json(&body)
            .send_expect(StatusCode::OK)
            .await;
        assert_eq!(f["type"], *back, "{t}: {f}");
        assert!(f["id"].as_str().unwrap().starts_with("fld"));
    }
    let schema =
        w.s.req(
            &w.key,
            Method::GET,
            &format!("/v0/meta/bases/{}/tables", w.base),
        )
        .send_expect(StatusCode::OK)
        .await;
    let fields = schema["tables"][0]["fields"].as_array().unwrap();
    let by_name = |n: &str| fields.iter().find(|f| f["name"] == n).unwrap().clone();
    assert_eq!(
        by_name("F7")["options"],
        json!({"durationFormat": "h:mm:ss.S"})
    );
    assert_eq!(by_name("F12")["options"]["prefersSingleRecordLink"], true);
    assert_eq!(by_name("F10")["options"]["timeZone"], "utc");
    // PATCH a field and a table answer the whole object.
    let f =
        w.s.req(
            &w.key,
            Method::PATCH,
            &format!("/v0/meta/bases/{}/tables/Orders/fields/Qty", w.base),
        )
        .json(&json!({"name": "Quantity", "description": "how many"}))
        .send_expect(StatusCode::OK)
        .await;
    assert_eq!(f["options"], json!({"precision": 0}));
    assert_eq!(f["description"], "how many");
    let t =
        w.s.req(
            &w.key,
            Method::PATCH,
            &format!("/v0/meta/bases/{}/tables/{}", w.base, w.table),
        )
        .json(&json!({"description": "d"}))
        .send_expect(StatusCode::OK)
        .await;
    assert_eq!(t["description"], "d");
    assert!(t["fields"].is_array() && t["views"].is_array() && t["primaryFieldId"].is_string());
    // Collaborator and attachment cells have Airtable's shapes.
    let rec = w.create(json!({"Name": "who"})).await;
    let id = rec["id"].as_str().unwrap();
    let got =
        w.s.req(&w.key, Method::GET, &format!("{}/{id}", w.records()))
            .send_expect(StatusCode::OK)
            .await;
    let by = &got["fields"]["F16"];
    assert!(by["id"].as_str().unwrap().starts_with("usr"), "{got}");
    assert!(by["email"].as_str().unwrap().contains('@'), "{got}");
    let upload = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(b"hello".to_vec())
            .file_name("a.txt")
            .mime_str("text/plain")
            .unwrap(),
    );
    let att =
        w.s.req(
            &w.owner,
            Method::POST,
            &format!("/api/v1/tables/{}/attachments", w.table),
        )
        .multipart(upload)
        .send_expect(StatusCode::CREATED)
        .await;
    let with_file =
        w.s.req(&w.key, Method::PATCH, &format!("{}/{id}", w.records()))
            .json(&json!({"fields": {"F11": [{"url": att["url"]}]}}))
            .send_expect(StatusCode::OK)
            .await;
    let file = &with_file["fields"]["F11"][0];
    assert_eq!(file["filename"], "a.txt");
    assert_eq!(file["type"], "text/plain");
    assert_eq!(file["size"], 5);
    let r =
        w.s.req(&w.key, Method::PATCH, &format!("{}/{id}", w.records()))
            .json(&json!({"fields": {"F11": [{"url": "https://example.com/x.png"}]}}))
            .send()
            .await
            .unwrap();
    airtable_error(
        r,
        StatusCode::UNPROCESSABLE_ENTITY,
        "INVALID_VALUE_FOR_COLUMN",
    )
    .await;
}

#[tokio::test]
async fn the_rate_limit_holds_per_credential_and_base() {
    // One token a second: the refused write below comes well within the
    // second after the bucket ran dry, even on a loaded machine.
    let w = V0World::with_rate(1).await;
    let other_key = w.s.key(&w.owner, &["read"], None).await;
    let list = w.records();
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(w.s.req(&w.key, Method::GET, &list).send().await.unwrap());
    }
    let last = statuses.pop().unwrap();
    assert_eq!(last.headers()["retry-after"], "1");
    airtable_error(last, StatusCode::TOO_MANY_REQUESTS, "RATE_LIMIT_REACHED").await;
    // Another credential has its own bucket.
    w.s.req(&other_key, Method::GET, &list)
        .send_expect(StatusCode::OK)
        .await;
    // A refused write had no effect.
    let r =
        w.s.req(&w.key, Method::POST, &list)
            .json(&json!({"fields": {"Name": "no"}}))
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let page =
        w.s.req(&w.key, Method::GET, &list)
            .send_expect(StatusCode::OK)
            .await;
    assert_eq!(page["records"], json!([]));
}

#[tokio::test]
async fn the_rate_limit_is_shared_through_redis() {
    let url = crate::require_service!("PYBASE_TEST_REDIS_URL");
    let prefix = format!("pybase-test-{}:", unique());
    let dir = tempfile::tempdir().unwrap();
    let mut settings = settings_in(dir.path());
    settings.redis_url = Some(url.clone());
    settings.redis_key_prefix = prefix.clone();
    settings.airtable_rate_limit_per_base = 3;
    let a = TestServer::start_with(settings.clone()).await;
    let (owner, _) = a.register().await;
    let ws = a.workspace(&owner).await;
    let (base, table) = a.table(&owner, &ws).await;
    let key = a.key(&owner, &["read"], None).await;
    // A second instance on the same database and Redis.
    let b = TestServer::start_with(settings).await;
    let list = format!("/v0/{base}/{table}");
    for s in [&a, &b, &a] {
        s.req(&key, Method::GET, &list)
            .send_expect(StatusCode::OK)
            .await;
    }
    let r = b.req(&key, Method::GET, &list).send().await.unwrap();
    airtable_error(r, StatusCode::TOO_MANY_REQUESTS, "RATE_LIMIT_REACHED").await;
}

/// Answers (status, error type) of `method url` as `token` (None: anonymous).
async fn outcome(
    s: &TestServer,
    token: Option<&str>,
    method: Method,
    url: &str,
    body: Option<Value>,
) -> (StatusCode, String) {
    let mut req = s.anon(method, url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    let status = r.status();
    let v: Value = r.json().await.unwrap_or(Value::Null);
    (
        status,
        v["error"]["type"].as_str().unwrap_or_default().to_owned(),
    )
}

impl V0World {
    /// The concrete URL and body of a `/v0` operation of the matrix; a
    /// delete or record write acts on a fresh record, so each caller that
    /// is let through finds one.
    async fn concrete(&self, method: &str, path: &str) -> (String, Option<Value>) {
        let rec = self.create(json!({"Name": "r"})).await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let u = unique();
        let spec = json!({"options": {"filters": {"dataTypes": ["tableData"]}}});
        if path.contains("{webhookId}") {
            let hook = self
                .s
                .req(
                    &self.key,
                    Method::POST,
                    &format!("/v0/bases/{}/webhooks", self.base),
                )
                .json(&json!({ "specification": spec }))
                .send_expect(StatusCode::OK)
                .await;
            return self
                .concrete_hook(method, path, hook["id"].as_str().unwrap())
                .await;
        }
        if path.ends_with("/uploadAttachment") {
            // An attachment field to upload to (made once).
            let fields = format!("/v0/meta/bases/{}/tables/{}/fields", self.base, self.table);
            let _ = self
                .s
                .req(&self.key, Method::POST, &fields)
                .json(&json!({"name": "Files", "type": "multipleAttachments"}))
                .send()
                .await
                .unwrap();
            let url = path
                .replace("{baseId}", &self.base)
                .replace("{recordId}", &rec)
                .replace("{fieldIdOrName}", "Files");
            let body = json!({"contentType": "text/plain", "filename": "a.txt", "file": "aGk="});
            return (url, Some(body));
        }
        let mut url = path
            .replace("{baseId}", &self.base)
            .replace("{tableIdOrName}", &self.table)
            .replace("{recordId}", &rec)
            .replace("{fieldIdOrName}", "Name");
        let body = match (method, path) {
            ("POST", "/v0/meta/bases") => Some(json!({
                "name": format!("B{u}"),
                "workspaceId": self.ws,
                "tables": [{"name": "T", "fields": [{"name": "N", "type": "singleLineText"}]}],
            })),
            ("POST", "/v0/meta/bases/{baseId}/tables") => Some(
                json!({"name": format!("T{u}"), "fields": [{"name": "N", "type": "singleLineText"}]}),
            ),
            ("POST", p) if p.ends_with("/fields") => {
                Some(json!({"name": format!("F{u}"), "type": "singleLineText"}))
            }
            ("PATCH", p) if p.starts_with("/v0/meta/") => {
                Some(json!({"description": format!("d{u}")}))
            }
            ("POST", p) if p.ends_with("/listRecords") => Some(json!({})),
            ("POST", "/v0/bases/{baseId}/webhooks") => Some(json!({ "specification": spec })),
            ("POST", _) => Some(json!({"fields": {"Name": "n"}})),
            ("PATCH" | "PUT", p) if p.ends_with("{recordId}") => {
                Some(json!({"fields": {"Name": "q"}}))
            }
            ("PATCH" | "PUT", _) => {
                Some(json!({"records": [{"id": rec, "fields": {"Name": "p"}}]}))
            }
            ("DELETE", p) if !p.ends_with("{recordId}") => {
                url.push_str(&format!("?records[]={rec}"));
                None
            }
            _ => None,
        };
        (url, body)
    }

    /// [`Self::concrete`] for a path naming webhook `hook`.
    async fn concrete_hook(&self, method: &str, path: &str, hook: &str) -> (String, Option<Value>) {
        let url = path
            .replace("{baseId}", &self.base)
            .replace("{webhookId}", hook);
        let body = match (method, path) {
            ("POST", p) if p.ends_with("/enableNotifications") => Some(json!({"enable": false})),
            _ => None,
        };
        (url, body)
    }
}

/// A caller of the role matrix: who, their credential (None: anonymous)
/// and the status and error type expected (None: success).
type Case<'a> = (String, Option<String>, Option<(u16, &'a str)>);

/// Every operation of the `/v0` document (`route_matrix::V0_MATRIX`) as
/// every kind of caller: anonymous is 401; a non-member and a key limited
/// to other workspaces get 403 `INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND`
/// (word for word an unknown base's answer); the role below the one needed
/// and a key without the needed scope get 403 `INVALID_PERMISSIONS`; the
/// needed role and a key with the needed scope succeed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_role_matrix_holds_over_v0() {
    let w = V0World::new().await;
    let mut roles = Vec::new();
    for role in ["viewer", "editor", "admin"] {
        let mail = email();
        let (t, _) = w.s.register_as(&mail, "correct horse battery").await;
        w.s.add_member(&w.owner, &w.ws, &mail, role).await;
        roles.push((role, t));
    }
    let token = |r: &str| roles.iter().find(|(n, _)| *n == r).unwrap().1.clone();
    let (outsider, _) = w.s.register().await;
    let other_ws = w.s.workspace(&w.owner).await;
    let elsewhere =
        w.s.key(
            &w.owner,
            &["read", "write", "schema"],
            Some(&[other_ws.as_str()]),
        )
        .await;
    let read = w.s.key(&w.owner, &["read"], None).await;
    let write = w.s.key(&w.owner, &["read", "write"], None).await;
    let schema = w.s.key(&w.owner, &["read", "schema"], None).await;
    let admin = w.s.key(&w.owner, &["read", "admin"], None).await;
    // Webhooks deliver every record: `admin` alone does not manage them.
    let admin_only = w.s.key(&w.owner, &["admin"], None).await;
    let hidden = Some((403, "INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND"));
    let denied = Some((403, "INVALID_PERMISSIONS"));
    let mut failures = Vec::new();
    let mut checked = 0;
    for &(method, path, need) in crate::route_matrix::V0_MATRIX {
        let m = Method::from_bytes(method.as_bytes()).unwrap();
        // The account-wide reads see no base: nothing to hide.
        let account_wide = method == "GET" && matches!(path, "/v0/meta/whoami" | "/v0/meta/bases");
        let (role, below, key_ok, key_short) = match need {
            "read" => ("viewer", None, &read, None),
            "write" => ("editor", Some("viewer"), &write, Some(&read)),
            "schema" => ("admin", Some("editor"), &schema, Some(&read)),
            _ => ("admin", Some("editor"), &admin, Some(&schema)),
        };
        let mut cases: Vec<Case<'_>> = vec![
            (
                "anonymous".into(),
                None,
                Some((401, "AUTHENTICATION_REQUIRED")),
            ),
            (role.into(), Some(token(role)), None),
            (format!("a key with {need}"), Some(key_ok.clone()), None),
        ];
        if !account_wide {
            cases.push(("a non-member".into(), Some(outsider.clone()), hidden));
            cases.push((
                "a key for other workspaces".into(),
                Some(elsewhere.clone()),
                hidden,
            ));
        }
        if let Some(b) = below {
            cases.push((b.into(), Some(token(b)), denied));
        }
        if let Some(k) = key_short {
            cases.push(("a key without the scope".into(), Some(k.clone()), denied));
        }
        if need == "admin" {
            cases.push((
                "a key with admin alone".into(),
                Some(admin_only.clone()),
                denied,
            ));
        }
        for (who, t, want) in cases {
            let (url, body) = w.concrete(method, path).await;
            let got = outcome(&w.s, t.as_deref(), m.clone(), &url, body).await;
            checked += 1;
            let ok = match want {
                Some((s, kind)) => got.0.as_u16() == s && got.1 == kind,
                None => got.0.is_success(),
            };
            if !ok {
                failures.push(format!("{method} {path} as {who}: {} {}", got.0, got.1));
            }
        }
    }
    // The base list shows a base only to those who may see it.
    for (who, t, sees) in [
        ("the owner's full key", &w.key, true),
        ("a viewer", &token("viewer"), true),
        ("a non-member", &outsider, false),
        ("a key for other workspaces", &elsewhere, false),
    ] {
        let bases =
            w.s.req(t, Method::GET, "/v0/meta/bases")
                .send_expect(StatusCode::OK)
                .await;
        let listed = bases["bases"]
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["id"] == json!(w.base));
        assert_eq!(listed, sees, "{who}: {bases}");
    }
    // A non-member's answer is the unknown base's, word for word.
    let base = format!("/v0/{}/Orders", w.base);
    let r = w.s.req(&outsider, Method::GET, &base).send().await.unwrap();
    let hidden_body = r.text().await.unwrap();
    let r =
        w.s.req(&w.key, Method::GET, "/v0/appAAAAAAAAAAAAAA/Orders")
            .send()
            .await
            .unwrap();
    assert_eq!(hidden_body, r.text().await.unwrap());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(
        checked > 5 * crate::route_matrix::V0_MATRIX.len(),
        "{checked} calls"
    );
}

/// `POST /v0/meta/bases` (AIRTABLE.md §7.4, pyairtable's `create_base`):
/// the base and its tables in one request; a table that cannot be made
/// leaves no base behind.
#[tokio::test]
async fn a_base_is_created_with_its_tables_or_not_at_all() {
    let w = V0World::new().await;
    let names = |v: &Value| -> Vec<String> {
        v["bases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let made = w
        .s
        .req(&w.key, Method::POST, "/v0/meta/bases")
        .json(&json!({"name": "Apartment Hunting", "workspaceId": w.ws, "tables": [
            {"name": "Apartments", "description": "to visit", "fields": [
                {"name": "Name", "type": "singleLineText"},
                {"name": "Rent", "type": "currency", "options": {"precision": 0, "symbol": "$"}},
            ]},
            {"name": "Visits", "fields": [{"name": "When", "type": "date", "options": {"dateFormat": {"name": "iso"}}}]},
        ]}))
        .send_expect(StatusCode::OK)
        .await;
    let id = made["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("app") && id.len() == 17, "{made}");
    let tables = made["tables"].as_array().unwrap();
    assert_eq!(tables.len(), 2);
    assert_eq!(tables[0]["name"], "Apartments");
    assert_eq!(tables[0]["description"], "to visit");
    assert_eq!(tables[0]["fields"][1]["type"], "currency");
    assert_eq!(tables[0]["primaryFieldId"], tables[0]["fields"][0]["id"]);
    assert_eq!(tables[1]["views"][0]["name"], "Grid view");
    // The schema reads back what the answer showed; records go in.
    let schema =
        w.s.req(&w.key, Method::GET, &format!("/v0/meta/bases/{id}/tables"))
            .send_expect(StatusCode::OK)
            .await;
    assert_eq!(schema["tables"], made["tables"]);
    w.s.req(&w.key, Method::POST, &format!("/v0/{id}/Apartments"))
        .json(&json!({"fields": {"Name": "Loft", "Rent": 1200}}))
        .send_expect(StatusCode::OK)
        .await;
    let bases =
        w.s.req(&w.key, Method::GET, "/v0/meta/bases")
            .send_expect(StatusCode::OK)
            .await;
    assert!(names(&bases).contains(&"Apartment Hunting".to_owned()));

    // A second table the core refuses (two fields named alike) after the
    // base and the first table were made: 422, and no base "Half" remains.
    let r =
        w.s.req(&w.key, Method::POST, "/v0/meta/bases")
            .json(&json!({"name": "Half", "workspaceId": w.ws, "tables": [
                {"name": "Good", "fields": [{"name": "N", "type": "singleLineText"}]},
                {"name": "Twice", "fields": [
                    {"name": "N", "type": "singleLineText"},
                    {"name": "n", "type": "number", "options": {"precision": 0}},
                ]},
            ]}))
            .send()
            .await
            .unwrap();
    airtable_error(
        r,
        StatusCode::UNPROCESSABLE_ENTITY,
        "DUPLICATE_OR_EMPTY_FIELD_NAME",
    )
    .await;
    let bases =
        w.s.req(&w.key, Method::GET, "/v0/meta/bases")
            .send_expect(StatusCode::OK)
            .await;
    assert!(!names(&bases).contains(&"Half".to_owned()), "{bases}");
    // A type that cannot be made is refused before anything is made.
    let r =
        w.s.req(&w.key, Method::POST, "/v0/meta/bases")
            .json(&json!({"name": "Half", "workspaceId": w.ws, "tables": [
                {"name": "Good", "fields": [{"name": "N", "type": "singleLineText"}]},
                {"name": "Bad", "fields": [{"name": "N", "type": "button"}]},
            ]}))
            .send()
            .await
            .unwrap();
    let e = airtable_error(
        r,
        StatusCode::UNPROCESSABLE_ENTITY,
        "INVALID_REQUEST_UNKNOWN",
    )
    .await;
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("tables[1]"),
        "{e}"
    );
    let bases =
        w.s.req(&w.key, Method::GET, "/v0/meta/bases")
            .send_expect(StatusCode::OK)
            .await;
    assert!(!names(&bases).contains(&"Half".to_owned()), "{bases}");

    // Missing parts name themselves; an unknown workspace is hidden.
    for (body, missing) in [
        (json!({"workspaceId": w.ws, "tables": []}), "name"),
        (json!({"name": "X", "tables": []}), "workspaceId"),
        (json!({"name": "X", "workspaceId": w.ws}), "tables"),
        (
            json!({"name": "X", "workspaceId": w.ws, "tables": [{"name": "T"}]}),
            "tables[0].fields",
        ),
    ] {
        let r =
            w.s.req(&w.key, Method::POST, "/v0/meta/bases")
                .json(&body)
                .send()
                .await
                .unwrap();
        let e = airtable_error(
            r,
            StatusCode::UNPROCESSABLE_ENTITY,
            "INVALID_REQUEST_MISSING_FIELDS",
        )
        .await;
        assert!(
            e["error"]["message"]
                .as_str()
                .unwrap()
                .contains(&format!("\"{missing}\"")),
            "{e}"
        );
    }
    for ws in ["wspAAAAAAAAAAAAAA", "nonsense"] {
        let r =
            w.s.req(&w.key, Method::POST, "/v0/meta/bases")
                .json(&json!({"name": "X", "workspaceId": ws, "tables": [
                    {"name": "T", "fields": [{"name": "N", "type": "singleLineText"}]}]}))
                .send()
                .await
                .unwrap();
        airtable_error(
            r,
            StatusCode::FORBIDDEN,
            "INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND",
        )
        .await;
    }
}

/// What only scripts written from Airtable's docs send (AIRTABLE.md §5.1,
/// §5.5): `limit` for `pageSize`, `fields[0]=`/`fields=` and
/// `records[0]=`/`records=` besides the `[]` forms the clients use.
#[tokio::test]
async fn the_other_list_forms_of_airtables_docs_are_accepted() {
    let w = V0World::new().await;
    let mut ids = Vec::new();
    for i in 0..4 {
        let r = w
            .create(json!({"Name": format!("n{i}"), "Qty": i, "Done": true}))
            .await;
        ids.push(r["id"].as_str().unwrap().to_owned());
    }
    let page =
        w.s.req(&w.key, Method::GET, &format!("{}?limit=3", w.records()))
            .send_expect(StatusCode::OK)
            .await;
    assert_eq!(page["records"].as_array().unwrap().len(), 3);
    assert!(page["offset"].is_string(), "{page}");
    let keys = |page: &Value| -> Vec<Vec<String>> {
        page["records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["fields"].as_object().unwrap().keys().cloned().collect())
            .collect()
    };
    let page =
        w.s.req(
            &w.key,
            Method::GET,
            &format!("{}?fields%5B1%5D=Qty&fields%5B0%5D=Name", w.records()),
        )
        .send_expect(StatusCode::OK)
        .await;
    assert!(keys(&page).iter().all(|k| k == &["Name", "Qty"]), "{page}");
    let page =
        w.s.req(&w.key, Method::GET, &format!("{}?fields=Qty", w.records()))
            .send_expect(StatusCode::OK)
            .await;
    assert!(keys(&page).iter().all(|k| k == &["Qty"]), "{page}");
    let gone =
        w.s.req(
            &w.key,
            Method::DELETE,
            &format!(
                "{}?records%5B0%5D={}&records%5B1%5D={}",
                w.records(),
                ids[0],
                ids[1]
            ),
        )
        .send_expect(StatusCode::OK)
        .await;
    assert_eq!(
        gone,
        json!({"records": [{"id": ids[0], "deleted": true}, {"id": ids[1], "deleted": true}]})
    );
    let gone =
        w.s.req(
            &w.key,
            Method::DELETE,
            &format!("{}?records={}", w.records(), ids[2]),
        )
        .send_expect(StatusCode::OK)
        .await;
    assert_eq!(gone, json!({"records": [{"id": ids[2], "deleted": true}]}));
    let left =
        w.s.req(&w.key, Method::GET, &w.records())
            .send_expect(StatusCode::OK)
            .await;
    let left: Vec<&str> = left["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(left, [ids[3].as_str()]);
}

/// `cellFormat=string` writes dates with a time in the request's
/// `timeZone` (AIRTABLE.md §6); a zone that is not one is 422.
#[tokio::test]
async fn string_cells_show_times_in_the_time_zone() {
    let w = V0World::new().await;
    let events =
        w.s.req(
            &w.key,
            Method::POST,
            &format!("/v0/meta/bases/{}/tables", w.base),
        )
        .json(&json!({"name": "Events", "fields": [
            {"name": "What", "type": "singleLineText"},
            {"name": "At", "type": "dateTime", "options": {
                "timeZone": "utc",
                "dateFormat": {"name": "iso"},
                "timeFormat": {"name": "24hour"},
            }},
            {"name": "Local", "type": "dateTime", "options": {
                "timeZone": "Europe/Berlin",
                "dateFormat": {"name": "iso"},
                "timeFormat": {"name": "24hour"},
            }},
        ]}))
        .send_expect(StatusCode::OK)
        .await["id"]
            .as_str()
            .unwrap()
            .to_owned();
    let url = format!("/v0/{}/{events}", w.base);
    w.s.req(&w.key, Method::POST, &url)
        .json(&json!({"fields": {"What": "call", "At": "2024-05-01T09:30:00.000Z"}}))
        .send_expect(StatusCode::OK)
        .await;
    for (zone, shown) in [
        ("America/New_York", "2024-05-01 05:30"),
        ("Europe/Paris", "2024-05-01 11:30"),
        ("utc", "2024-05-01 09:30"),
    ] {
        let page =
            w.s.req(
                &w.key,
                Method::GET,
                &format!("{url}?cellFormat=string&timeZone={zone}&userLocale=en-us"),
            )
            .send_expect(StatusCode::OK)
            .await;
        assert_eq!(
            page["records"][0]["fields"]["At"],
            json!(shown),
            "{zone}: {page}"
        );
    }
    let r =
        w.s.req(
            &w.key,
            Method::GET,
            &format!("{url}?cellFormat=string&timeZone=Not/AZone&userLocale=en-us"),
        )
        .send()
        .await
        .unwrap();
    airtable_error(
        r,
        StatusCode::UNPROCESSABLE_ENTITY,
        "INVALID_REQUEST_UNKNOWN",
    )
    .await;
    // A plain write without an offset is read in the field's time zone.
    let made =
        w.s.req(&w.key, Method::POST, &url)
            .json(&json!({"fields": {"What": "local", "Local": "2024-05-01T10:00:00"}}))
            .send_expect(StatusCode::OK)
            .await;
    assert_eq!(
        made["fields"]["Local"],
        json!("2024-05-01T08:00:00.000Z"),
        "{made}"
    );
}

/// `cellFormat=string` shows links by the linked records' primary values
/// (AIRTABLE.md §6), in lists and single reads; a soft-deleted linked
/// record drops out of the cell (API.md, two-way links).
#[tokio::test]
async fn string_cells_show_links_by_primary_value() {
    let w = V0World::new().await;
    let people = w
        .s
        .req(&w.key, Method::POST, &format!("/v0/meta/bases/{}/tables", w.base))
        .json(&json!({"name": "People", "fields": [
            {"name": "Who", "type": "singleLineText"},
            {"name": "Orders", "type": "multipleRecordLinks", "options": {"linkedTableId": w.table}},
        ]}))
        .send_expect(StatusCode::OK)
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let a = w.create(json!({"Name": "apples", "Qty": 1})).await;
    let b = w.create(json!({"Name": "pears", "Qty": 2})).await;
    let c = w.create(json!({"Name": "plums", "Qty": 3})).await;
    let (a, b, c) = (
        a["id"].as_str().unwrap(),
        b["id"].as_str().unwrap(),
        c["id"].as_str().unwrap(),
    );
    let people_url = format!("/v0/{}/{people}", w.base);
    let ann =
        w.s.req(&w.key, Method::POST, &people_url)
            .json(&json!({"fields": {"Who": "Ann", "Orders": [b, a, c]}}))
            .send_expect(StatusCode::OK)
            .await;
    let ann_id = ann["id"].as_str().unwrap();
    w.s.req(&w.key, Method::DELETE, &format!("{}/{c}", w.records()))
        .send_expect(StatusCode::OK)
        .await;
    let text = "cellFormat=string&timeZone=UTC&userLocale=en";
    let page =
        w.s.req(&w.key, Method::GET, &format!("{people_url}?{text}"))
            .send_expect(StatusCode::OK)
            .await;
    let orders = &page["records"][0]["fields"]["Orders"];
    // A soft-deleted record drops out of link cells on read (a restore
    // brings it back).
    assert_eq!(*orders, json!("pears, apples"), "{page}");
    let one =
        w.s.req(
            &w.key,
            Method::GET,
            &format!("{people_url}/{ann_id}?{text}&returnFieldsByFieldId=1"),
        )
        .send_expect(StatusCode::OK)
        .await;
    let by_id: Vec<&Value> = one["fields"].as_object().unwrap().values().collect();
    assert!(by_id.contains(&orders), "{one}");
    // JSON cells are still ids.
    let page =
        w.s.req(&w.key, Method::GET, &people_url)
            .send_expect(StatusCode::OK)
            .await;
    assert_eq!(page["records"][0]["fields"]["Orders"][0], json!(b));
}

/// Comments (AIRTABLE.md §5.6) are not built: their routes answer 404
/// `NOT_FOUND` in Airtable's shape, whatever the method.
#[tokio::test]
async fn comments_are_404() {
    let w = V0World::new().await;
    let rec = w.create(json!({"Name": "c"})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for (method, path) in [
        (Method::GET, format!("{}/{rec}/comments", w.records())),
        (Method::POST, format!("{}/{rec}/comments", w.records())),
        (
            Method::PATCH,
            format!("{}/{rec}/comments/comAAAAAAAAAAAAAA", w.records()),
        ),
        // Enterprise metadata PyBase does not have: an unknown route, not
        // a base named `meta`.
        (Method::GET, format!("/v0/meta/workspaces/{}", w.ws)),
    ] {
        let r =
            w.s.req(&w.key, method.clone(), &path)
                .json(&json!({"text": "hi"}))
                .send()
                .await
                .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{method} {path}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v, json!({"error": "NOT_FOUND"}), "{method} {path}");
    }
}

/// Computed fields appear under `/v0` with Airtable's types and options
/// (`formula`, `count`, with `isValid`, `referencedFieldIds`, the link by id
/// and the result's schema), their values in the records, and a formula's
/// special value in Airtable's shape (`{"specialValue": "NaN"}`).
#[tokio::test]
async fn computed_fields_speak_airtables_types() {
    let w = V0World::with_rate(1000).await;
    let fields = format!("/api/v1/tables/{}/fields", w.table);
    for (name, formula) in [("Double", "{Qty} * 2"), ("Ratio", "{Qty} / {Qty}")] {
        w.s.req(&w.owner, Method::POST, &fields)
            .json(&json!({"name": name, "type": "formula", "options": {"formula": formula}}))
            .send_expect(StatusCode::CREATED)
            .await;
    }
    let schema =
        w.s.req(
            &w.key,
            Method::GET,
            &format!("/v0/meta/bases/{}/tables", w.base),
        )
        .send_expect(StatusCode::OK)
        .await;
    let orders = schema["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == json!(w.table))
        .unwrap();
    let double = orders["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "Double")
        .unwrap();
    assert_eq!(double["type"], "formula", "{double}");
    assert_eq!(double["options"]["isValid"], true, "{double}");
    assert_eq!(double["options"]["result"]["type"], "number", "{double}");
    let qty = orders["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "Qty")
        .unwrap();
    assert_eq!(
        double["options"]["referencedFieldIds"],
        json!([qty["id"]]),
        "{double}"
    );
    // The formula by field ids, as Airtable's API shows it.
    assert_eq!(
        double["options"]["formula"],
        json!(format!("{{{}}} * 2", qty["id"].as_str().unwrap())),
        "{double}"
    );
    let made =
        w.s.req(&w.key, Method::POST, &format!("/v0/{}/{}", w.base, w.table))
            .json(&json!({"records": [{"fields": {"Name": "a", "Qty": 3}}, {"fields": {"Name": "z", "Qty": 0}}]}))
            .send_expect(StatusCode::OK)
            .await;
    assert_eq!(made["records"][0]["fields"]["Double"], json!(6), "{made}");
    assert_eq!(made["records"][0]["fields"]["Ratio"], json!(1), "{made}");
    let zero = made["records"][1]["id"].as_str().unwrap();
    let got =
        w.s.req(
            &w.key,
            Method::GET,
            &format!("/v0/{}/{}/{zero}", w.base, w.table),
        )
        .send_expect(StatusCode::OK)
        .await;
    assert_eq!(
        got["fields"]["Ratio"],
        json!({"specialValue": "NaN"}),
        "{got}"
    );
    // Writing a computed field is refused in Airtable's shape.
    w.s.req(
        &w.key,
        Method::PATCH,
        &format!("/v0/{}/{}/{zero}", w.base, w.table),
    )
    .json(&json!({"fields": {"Double": 1}}))
    .send_expect(StatusCode::UNPROCESSABLE_ENTITY)
    .await;
}

/// `typecast` links records by their primary value, as Airtable's does:
/// an existing name links its record, a new one makes a record in the
/// linked table; without typecast a name is refused.
#[tokio::test]
async fn typecast_links_records_by_primary_value() {
    let w = V0World::new().await;
    let customers =
        w.s.req(
            &w.key,
            Method::POST,
            &format!("/v0/meta/bases/{}/tables", w.base),
        )
        .json(&json!({"name": "Customers", "fields": [{"name": "Name", "type": "singleLineText"}]}))
        .send_expect(StatusCode::OK)
        .await["id"]
            .as_str()
            .unwrap()
            .to_owned();
    w.s.req(
        &w.key,
        Method::POST,
        &format!("/v0/meta/bases/{}/tables/{}/fields", w.base, w.table),
    )
    .json(&json!({"name": "Customer", "type": "multipleRecordLinks",
        "options": {"linkedTableId": customers}}))
    .send_expect(StatusCode::OK)
    .await;
    // A linked table this base does not have: 422, as AIRTABLE.md's bad
    // options (a reviewer saw 403).
    let bad =
        w.s.req(
            &w.key,
            Method::POST,
            &format!("/v0/meta/bases/{}/tables/{}/fields", w.base, w.table),
        )
        .json(&json!({"name": "Ghost", "type": "multipleRecordLinks",
            "options": {"linkedTableId": "tblAAAAAAAAAAAAAA"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let acme =
        w.s.req(&w.key, Method::POST, &format!("/v0/{}/{customers}", w.base))
            .json(&json!({"fields": {"Name": "Acme"}}))
            .send_expect(StatusCode::OK)
            .await["id"]
            .as_str()
            .unwrap()
            .to_owned();
    let r =
        w.s.req(&w.key, Method::POST, &w.records())
            .json(&json!({"fields": {"Name": "o1", "Customer": ["Acme"]}}))
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let made =
        w.s.req(&w.key, Method::POST, &w.records())
            .json(
                &json!({"records": [{"fields": {"Name": "o1", "Customer": ["Acme", "Globex"]}}],
                "typecast": true}),
            )
            .send_expect(StatusCode::OK)
            .await;
    let linked = made["records"][0]["fields"]["Customer"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(linked.len(), 2, "{made}");
    assert_eq!(linked[0], acme.as_str());
    let globex =
        w.s.req(
            &w.key,
            Method::GET,
            &format!("/v0/{}/{customers}/{}", w.base, linked[1].as_str().unwrap()),
        )
        .send_expect(StatusCode::OK)
        .await;
    assert_eq!(globex["fields"]["Name"], "Globex", "{globex}");
}

/// A `sort` on a field that cannot be sorted (attachments; links likewise)
/// is a request parameter Airtable would refuse, `INVALID_REQUEST_UNKNOWN`
/// naming the field, not a cell value it cannot accept.
#[tokio::test]
async fn a_sort_on_an_unsortable_field_is_an_invalid_request() {
    let w = V0World::new().await;
    w.files_field().await;
    let r =
        w.s.req(
            &w.key,
            Method::GET,
            &format!("{}?sort[0][field]=Files", w.records()),
        )
        .send()
        .await
        .unwrap();
    let body = airtable_error(
        r,
        StatusCode::UNPROCESSABLE_ENTITY,
        "INVALID_REQUEST_UNKNOWN",
    )
    .await;
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("\"Files\""), "{message}");
}
