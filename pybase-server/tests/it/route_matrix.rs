//! The authorization matrix of every documented operation, generated from
//! the OpenAPI document (the route table the server serves): an operation
//! with no row here fails the build's tests, so a new endpoint cannot ship
//! without its role checks (issue 10, reliability suite).
//!
//! For each operation: anonymous callers get 401; non-members get 404;
//! the role just below the one needed gets 403; an owner's API key without
//! the needed scope gets 403; the needed role, and a key with only the
//! needed scopes (record writes need `read` with `write`, webhooks `read`
//! with `admin`), are let through
//! (anything but 401, 403 or 404).

use std::collections::BTreeSet;

use reqwest::multipart::{Form, Part};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{SendExpect, TestServer, email, id_of, unique};

/// What an operation needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Need {
    /// Anyone, signed in or not.
    Public,
    /// Any signed-in user, for their own account.
    Account,
    /// A member of the workspace with at least this role, and a key with
    /// this scope.
    Member(Role, &'static str),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Role {
    Viewer,
    Editor,
    Admin,
    Owner,
}

use Need::{Account, Member, Public};
use Role::{Admin, Editor, Owner, Viewer};

/// Every operation of the API and what it needs.
const MATRIX: &[(&str, &str, Need)] = &[
    ("GET", "/health", Public),
    ("POST", "/api/v1/auth/register", Public),
    ("POST", "/api/v1/auth/login", Public),
    ("POST", "/api/v1/auth/refresh", Public),
    ("POST", "/api/v1/auth/logout", Public),
    ("POST", "/api/v1/auth/password-reset/request", Public),
    ("POST", "/api/v1/auth/password-reset/confirm", Public),
    ("GET", "/api/v1/auth/me", Account),
    ("PATCH", "/api/v1/auth/me", Account),
    ("POST", "/api/v1/auth/change-password", Account),
    ("GET", "/api/v1/api-keys", Account),
    ("POST", "/api/v1/api-keys", Account),
    ("DELETE", "/api/v1/api-keys/{id}", Account),
    ("GET", "/api/v1/workspaces", Account),
    ("POST", "/api/v1/workspaces", Account),
    ("GET", "/api/v1/workspaces/{id}", Member(Viewer, "read")),
    ("PATCH", "/api/v1/workspaces/{id}", Member(Admin, "admin")),
    ("DELETE", "/api/v1/workspaces/{id}", Member(Owner, "admin")),
    (
        "GET",
        "/api/v1/workspaces/{id}/members",
        Member(Viewer, "read"),
    ),
    (
        "POST",
        "/api/v1/workspaces/{id}/members",
        Member(Admin, "admin"),
    ),
    (
        "PATCH",
        "/api/v1/workspaces/{id}/members/{user_id}",
        Member(Admin, "admin"),
    ),
    (
        "DELETE",
        "/api/v1/workspaces/{id}/members/{user_id}",
        Member(Admin, "admin"),
    ),
    (
        "GET",
        "/api/v1/workspaces/{id}/bases",
        Member(Viewer, "read"),
    ),
    (
        "POST",
        "/api/v1/workspaces/{id}/bases",
        Member(Admin, "schema"),
    ),
    ("GET", "/api/v1/bases/{id}", Member(Viewer, "read")),
    ("PATCH", "/api/v1/bases/{id}", Member(Admin, "schema")),
    ("DELETE", "/api/v1/bases/{id}", Member(Admin, "schema")),
    ("GET", "/api/v1/bases/{id}/tables", Member(Viewer, "read")),
    ("POST", "/api/v1/bases/{id}/tables", Member(Admin, "schema")),
    ("GET", "/api/v1/tables/{id}", Member(Viewer, "read")),
    ("PATCH", "/api/v1/tables/{id}", Member(Admin, "schema")),
    ("DELETE", "/api/v1/tables/{id}", Member(Admin, "schema")),
    ("GET", "/api/v1/tables/{id}/fields", Member(Viewer, "read")),
    (
        "POST",
        "/api/v1/tables/{id}/fields",
        Member(Admin, "schema"),
    ),
    ("GET", "/api/v1/fields/{id}", Member(Viewer, "read")),
    ("PATCH", "/api/v1/fields/{id}", Member(Admin, "schema")),
    ("DELETE", "/api/v1/fields/{id}", Member(Admin, "schema")),
    ("GET", "/api/v1/tables/{id}/views", Member(Viewer, "read")),
    ("POST", "/api/v1/tables/{id}/views", Member(Admin, "schema")),
    ("GET", "/api/v1/views/{id}", Member(Viewer, "read")),
    ("PATCH", "/api/v1/views/{id}", Member(Admin, "schema")),
    ("DELETE", "/api/v1/views/{id}", Member(Admin, "schema")),
    ("GET", "/api/v1/tables/{id}/records", Member(Viewer, "read")),
    (
        "POST",
        "/api/v1/tables/{id}/formula/check",
        Member(Viewer, "read"),
    ),
    (
        "POST",
        "/api/v1/tables/{id}/records/query",
        Member(Viewer, "read"),
    ),
    (
        "POST",
        "/api/v1/tables/{id}/records",
        Member(Editor, "write"),
    ),
    (
        "PATCH",
        "/api/v1/tables/{id}/records",
        Member(Editor, "write"),
    ),
    (
        "DELETE",
        "/api/v1/tables/{id}/records",
        Member(Editor, "write"),
    ),
    (
        "GET",
        "/api/v1/tables/{id}/records/{record_id}",
        Member(Viewer, "read"),
    ),
    (
        "PATCH",
        "/api/v1/tables/{id}/records/{record_id}",
        Member(Editor, "write"),
    ),
    (
        "PUT",
        "/api/v1/tables/{id}/records/{record_id}",
        Member(Editor, "write"),
    ),
    (
        "DELETE",
        "/api/v1/tables/{id}/records/{record_id}",
        Member(Editor, "write"),
    ),
    (
        "POST",
        "/api/v1/tables/{id}/records/{record_id}/restore",
        Member(Editor, "write"),
    ),
    (
        "GET",
        "/api/v1/tables/{id}/records/{record_id}/history",
        Member(Viewer, "read"),
    ),
    (
        "POST",
        "/api/v1/tables/{id}/records/{record_id}/revert",
        Member(Editor, "write"),
    ),
    ("GET", "/api/v1/bases/{id}/changes", Member(Viewer, "read")),
    (
        "POST",
        "/api/v1/bases/{id}/webhooks",
        Member(Admin, "admin"),
    ),
    ("GET", "/api/v1/bases/{id}/webhooks", Member(Admin, "admin")),
    ("GET", "/api/v1/webhooks/{id}", Member(Admin, "admin")),
    ("PATCH", "/api/v1/webhooks/{id}", Member(Admin, "admin")),
    ("DELETE", "/api/v1/webhooks/{id}", Member(Admin, "admin")),
    (
        "GET",
        "/api/v1/webhooks/{id}/deliveries",
        Member(Admin, "admin"),
    ),
    ("GET", "/api/v1/bases/{id}/events", Member(Viewer, "read")),
    (
        "POST",
        "/api/v1/tables/{id}/attachments",
        Member(Editor, "write"),
    ),
    ("GET", "/api/v1/attachments/{id}", Member(Viewer, "read")),
    (
        "GET",
        "/api/v1/attachments/{id}/content",
        Member(Viewer, "read"),
    ),
    // Checked by the link's signature instead (v0_attachments.rs).
    ("GET", "/api/v1/attachments/{id}/signed", Public),
];

/// Every operation of the Airtable-compatible `/v0` document and the key
/// scope it needs; the role follows from it (`read`: viewer, `write`:
/// editor, `schema` and `admin`: admin). `v0::the_role_matrix_holds_over_v0` calls each
/// as every kind of caller.
pub(crate) const V0_MATRIX: &[(&str, &str, &str)] = &[
    ("GET", "/v0/meta/whoami", "read"),
    ("GET", "/v0/meta/bases", "read"),
    ("POST", "/v0/meta/bases", "schema"),
    ("GET", "/v0/meta/bases/{baseId}/tables", "read"),
    ("POST", "/v0/meta/bases/{baseId}/tables", "schema"),
    (
        "PATCH",
        "/v0/meta/bases/{baseId}/tables/{tableIdOrName}",
        "schema",
    ),
    (
        "POST",
        "/v0/meta/bases/{baseId}/tables/{tableIdOrName}/fields",
        "schema",
    ),
    (
        "PATCH",
        "/v0/meta/bases/{baseId}/tables/{tableIdOrName}/fields/{fieldIdOrName}",
        "schema",
    ),
    ("GET", "/v0/{baseId}/{tableIdOrName}", "read"),
    ("POST", "/v0/{baseId}/{tableIdOrName}/listRecords", "read"),
    ("GET", "/v0/{baseId}/{tableIdOrName}/{recordId}", "read"),
    ("POST", "/v0/{baseId}/{tableIdOrName}", "write"),
    ("PATCH", "/v0/{baseId}/{tableIdOrName}", "write"),
    ("PUT", "/v0/{baseId}/{tableIdOrName}", "write"),
    ("DELETE", "/v0/{baseId}/{tableIdOrName}", "write"),
    ("PATCH", "/v0/{baseId}/{tableIdOrName}/{recordId}", "write"),
    ("PUT", "/v0/{baseId}/{tableIdOrName}/{recordId}", "write"),
    ("DELETE", "/v0/{baseId}/{tableIdOrName}/{recordId}", "write"),
    (
        "POST",
        "/v0/{baseId}/{recordId}/{fieldIdOrName}/uploadAttachment",
        "write",
    ),
    // Webhooks: admin and above with the admin key scope (`webhook:manage`).
    ("GET", "/v0/bases/{baseId}/webhooks", "admin"),
    ("POST", "/v0/bases/{baseId}/webhooks", "admin"),
    ("DELETE", "/v0/bases/{baseId}/webhooks/{webhookId}", "admin"),
    (
        "POST",
        "/v0/bases/{baseId}/webhooks/{webhookId}/refresh",
        "admin",
    ),
    (
        "POST",
        "/v0/bases/{baseId}/webhooks/{webhookId}/enableNotifications",
        "admin",
    ),
    (
        "GET",
        "/v0/bases/{baseId}/webhooks/{webhookId}/payloads",
        "admin",
    ),
];

/// The operations of a document, as (METHOD, path).
fn operations(doc: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if ["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                out.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    out
}

#[test]
fn every_documented_v0_operation_has_a_row() {
    let rows: BTreeSet<(String, String)> = V0_MATRIX
        .iter()
        .map(|(m, p, _)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    assert_eq!(rows.len(), V0_MATRIX.len(), "a row is listed twice");
    let docs = operations(&pybase_server::v0::openapi::document());
    assert_eq!(
        docs, rows,
        "V0_MATRIX and the /v0 document list different operations"
    );
}

/// The operations the server documents, as (METHOD, path).
fn documented() -> BTreeSet<(String, String)> {
    let doc: Value =
        serde_json::from_str(&pybase_server::openapi::document_json().unwrap()).unwrap();
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if ["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                out.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    out
}

#[test]
fn every_documented_operation_has_a_row() {
    let rows: BTreeSet<(String, String)> = MATRIX
        .iter()
        .map(|(m, p, _)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    assert_eq!(rows.len(), MATRIX.len(), "a row is listed twice");
    let docs = documented();
    let missing: Vec<_> = docs.difference(&rows).collect();
    assert!(
        missing.is_empty(),
        "operations without a row in MATRIX: {missing:?}"
    );
    let stale: Vec<_> = rows.difference(&docs).collect();
    assert!(
        stale.is_empty(),
        "rows for operations that do not exist: {stale:?}"
    );
}

/// A workspace with one member of each role, and one of everything in it.
struct World {
    s: TestServer,
    tokens: [(Role, String); 4],
    outsider: String,
    ws: String,
    base: String,
    table: String,
    field: String,
    view: String,
    record: String,
    /// The seq of an event of `record` (for revert).
    record_seq: i64,
    attachment: String,
    webhook: String,
    /// A viewer member the member routes act on.
    spare: String,
    /// A registered user who is not a member (for adding).
    newcomer_mail: String,
}

impl World {
    async fn new() -> Self {
        let s = TestServer::start().await;
        let owner_mail = email();
        let (owner, _) = s.register_as(&owner_mail, "correct horse battery").await;
        let ws = s.workspace(&owner).await;
        let (base, table) = s.table(&owner, &ws).await;
        let mut tokens = vec![(Owner, owner.clone())];
        for (role, name) in [(Admin, "admin"), (Editor, "editor"), (Viewer, "viewer")] {
            let mail = email();
            let (t, _) = s.register_as(&mail, "correct horse battery").await;
            s.add_member(&owner, &ws, &mail, name).await;
            tokens.push((role, t));
        }
        let (outsider, _) = s.register().await;
        let spare_mail = email();
        let (_, spare_session) = s.register_as(&spare_mail, "correct horse battery").await;
        s.add_member(&owner, &ws, &spare_mail, "viewer").await;
        let newcomer_mail = email();
        s.register_as(&newcomer_mail, "correct horse battery").await;
        let field = s
            .req(
                &owner,
                Method::POST,
                &format!("/api/v1/tables/{table}/fields"),
            )
            .json(&json!({"name": "Extra", "type": "text"}))
            .send_created_id()
            .await;
        let view = s
            .req(
                &owner,
                Method::POST,
                &format!("/api/v1/tables/{table}/views"),
            )
            .json(&json!({"name": "All"}))
            .send_created_id()
            .await;
        let record = s
            .req(
                &owner,
                Method::POST,
                &format!("/api/v1/tables/{table}/records"),
            )
            .json(&json!({"fields": {"Name": "r"}}))
            .send_created_id()
            .await;
        let history = s
            .req(
                &owner,
                Method::GET,
                &format!("/api/v1/tables/{table}/records/{record}/history"),
            )
            .send_expect(StatusCode::OK)
            .await;
        let record_seq = history["items"][0]["seq"].as_i64().unwrap();
        let attachment = id_of(
            &s.req(
                &owner,
                Method::POST,
                &format!("/api/v1/tables/{table}/attachments"),
            )
            .multipart(upload())
            .send_expect(StatusCode::CREATED)
            .await,
        );
        // `.invalid` never resolves: deliveries fail at once, quietly.
        let webhook = s
            .req(
                &owner,
                Method::POST,
                &format!("/api/v1/bases/{base}/webhooks"),
            )
            .json(&json!({"url": "http://hooks.invalid/x"}))
            .send_created_id()
            .await;
        let tokens: [(Role, String); 4] = tokens.try_into().unwrap();
        Self {
            s,
            tokens,
            outsider,
            ws,
            base,
            table,
            field,
            view,
            record,
            record_seq,
            attachment,
            webhook,
            spare: spare_session["user"]["id"].as_str().unwrap().to_owned(),
            newcomer_mail,
        }
    }

    fn token(&self, role: Role) -> &str {
        &self.tokens.iter().find(|(r, _)| *r == role).unwrap().1
    }

    /// An API key of the owner with `scopes`.
    async fn key(&self, scopes: &[&str]) -> String {
        self.s
            .req(self.token(Owner), Method::POST, "/api/v1/api-keys")
            .json(&json!({"name": "matrix", "scopes": scopes}))
            .send_expect(StatusCode::CREATED)
            .await["key"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// The concrete URL of `path` in this world.
    fn url(&self, path: &str, key_id: &str) -> String {
        let id = match path.split('/').nth(3) {
            Some("workspaces") => &self.ws,
            Some("bases") => &self.base,
            Some("tables") => &self.table,
            Some("fields") => &self.field,
            Some("views") => &self.view,
            Some("attachments") => &self.attachment,
            Some("webhooks") => &self.webhook,
            Some("api-keys") => key_id,
            _ => "",
        };
        let url = path
            .replace("{id}", id)
            .replace("{record_id}", &self.record)
            .replace("{user_id}", &self.spare);
        if url.ends_with("/records") {
            format!("{url}?ids={}", self.record)
        } else {
            url
        }
    }

    /// A body that the operation accepts when the caller may call it.
    fn body(&self, method: &str, path: &str) -> Option<Value> {
        let u = unique();
        Some(match (method, path) {
            ("PATCH", "/api/v1/auth/me") => json!({"name": "Renamed"}),
            ("POST", "/api/v1/auth/change-password") => {
                json!({"current_password": "correct horse battery", "new_password": "a new secret phrase"})
            }
            ("POST", "/api/v1/api-keys") => json!({"name": "k"}),
            ("POST", "/api/v1/workspaces") => json!({"name": "W", "slug": format!("w-{u}")}),
            ("PATCH", "/api/v1/workspaces/{id}") => json!({"description": "d"}),
            ("POST", "/api/v1/workspaces/{id}/members") => {
                json!({"email": self.newcomer_mail, "role": "viewer"})
            }
            ("PATCH", "/api/v1/workspaces/{id}/members/{user_id}") => json!({"role": "editor"}),
            ("POST", "/api/v1/workspaces/{id}/bases") => json!({"name": "B"}),
            ("PATCH", "/api/v1/bases/{id}" | "/api/v1/tables/{id}" | "/api/v1/views/{id}") => {
                json!({"name": format!("N{u}")})
            }
            ("POST", "/api/v1/bases/{id}/tables") => json!({"name": format!("T{u}")}),
            ("POST", "/api/v1/tables/{id}/fields") => {
                json!({"name": format!("F{u}"), "type": "text"})
            }
            ("PATCH", "/api/v1/fields/{id}") => json!({"description": "d"}),
            ("POST", "/api/v1/tables/{id}/views") => json!({"name": format!("V{u}")}),
            ("POST", "/api/v1/tables/{id}/records/query") => json!({}),
            ("POST", "/api/v1/tables/{id}/formula/check") => json!({"formula": "{Name} & 'x'"}),
            ("POST", "/api/v1/tables/{id}/records") => json!({"fields": {"Name": "n"}}),
            ("PATCH", "/api/v1/tables/{id}/records") => {
                json!({"records": [{"id": self.record, "fields": {"Name": "p"}}]})
            }
            ("PATCH" | "PUT", "/api/v1/tables/{id}/records/{record_id}") => {
                json!({"fields": {"Name": "q"}})
            }
            // The record's newest event (the world's record has one, its
            // creation, at least).
            ("POST", "/api/v1/bases/{id}/webhooks") => json!({"url": "http://hooks.invalid/y"}),
            ("PATCH", "/api/v1/webhooks/{id}") => json!({"enabled": true}),
            ("POST", "/api/v1/tables/{id}/records/{record_id}/revert") => {
                json!({"seq": self.record_seq})
            }
            _ => return None,
        })
    }

    /// Calls `method path` as `token` (None: anonymous); answers the status.
    async fn call(&self, method: &str, path: &str, token: Option<&str>) -> StatusCode {
        // The restore route needs a deleted record to act on.
        if path.ends_with("/restore") {
            self.s
                .req(
                    self.token(Owner),
                    Method::DELETE,
                    &format!("/api/v1/tables/{}/records/{}", self.table, self.record),
                )
                .send()
                .await
                .unwrap();
        }
        // An API key of the caller's own, to delete.
        let key_id = match (method, path, token) {
            ("DELETE", "/api/v1/api-keys/{id}", Some(t)) => {
                let r = self
                    .s
                    .req(t, Method::POST, "/api/v1/api-keys")
                    .json(&json!({"name": "doomed"}))
                    .send()
                    .await
                    .unwrap();
                let v: Value = r.json().await.unwrap_or(Value::Null);
                v["id"].as_str().unwrap_or("key00000000000000").to_owned()
            }
            _ => "key00000000000000".to_owned(),
        };
        let m = Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self.s.anon(m, &self.url(path, &key_id));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if path.ends_with("/attachments") {
            req = req.multipart(upload());
        } else if let Some(b) = self.body(method, path) {
            req = req.json(&b);
        }
        req.send().await.unwrap().status()
    }
}

fn upload() -> Form {
    Form::new().part(
        "file",
        Part::bytes(b"hello".to_vec())
            .file_name("a.txt")
            .mime_str("text/plain")
            .unwrap(),
    )
}

fn let_through(status: StatusCode) -> bool {
    !matches!(
        status,
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN | StatusCode::NOT_FOUND
    )
}

/// Checks one operation in a world of its own (operations change and
/// delete things).
async fn check(method: &'static str, path: &'static str, need: Need) -> Vec<String> {
    let mut failures = Vec::new();
    let mut expect = |what: &str, ok: bool, status: StatusCode| {
        if !ok {
            failures.push(format!("{method} {path}: {what} answered {status}"));
        }
    };
    let w = World::new().await;
    match need {
        Public => {}
        Account => {
            let s = w.call(method, path, None).await;
            expect("anonymous", s == StatusCode::UNAUTHORIZED, s);
            let s = w.call(method, path, Some(w.token(Viewer))).await;
            expect("a signed-in user", let_through(s), s);
        }
        Member(role, scope) => {
            let s = w.call(method, path, None).await;
            expect("anonymous", s == StatusCode::UNAUTHORIZED, s);
            let s = w.call(method, path, Some(&w.outsider)).await;
            expect("a non-member", s == StatusCode::NOT_FOUND, s);
            let below = [Viewer, Editor, Admin, Owner]
                .into_iter()
                .filter(|r| *r < role)
                .max();
            if let Some(below) = below {
                let s = w.call(method, path, Some(w.token(below))).await;
                expect(&format!("{below:?}"), s == StatusCode::FORBIDDEN, s);
            }
            let others: Vec<&str> = ["read", "write", "schema", "admin"]
                .into_iter()
                .filter(|s| *s != scope)
                .collect();
            let lacking = w.key(&others).await;
            let s = w.call(method, path, Some(&lacking)).await;
            expect(
                &format!("a key without {scope}"),
                s == StatusCode::FORBIDDEN,
                s,
            );
            // A delete that is let through leaves nothing for the next
            // caller: each allowed delete gets a world of its own.
            let fresh = if method == "DELETE" {
                Some(World::new().await)
            } else {
                None
            };
            let w2 = fresh.as_ref().unwrap_or(&w);
            // Record writes answer records, and webhooks deliver them, so
            // they need read as well.
            let needed: &[&str] = if scope == "write" {
                &["write", "read"]
            } else if path.contains("webhooks") {
                &["admin", "read"]
            } else {
                std::slice::from_ref(&scope)
            };
            if needed.len() > 1 {
                let write_only = w2.key(&[scope]).await;
                let s = w2.call(method, path, Some(&write_only)).await;
                expect(
                    &format!("a key with only {scope}"),
                    s == StatusCode::FORBIDDEN,
                    s,
                );
            }
            let only = w2.key(needed).await;
            let s = w2.call(method, path, Some(&only)).await;
            expect(&format!("a key with only {needed:?}"), let_through(s), s);
            let w3 = if method == "DELETE" {
                &World::new().await
            } else {
                &w
            };
            let s = w3.call(method, path, Some(w3.token(role))).await;
            expect(&format!("{role:?}"), let_through(s), s);
        }
    }
    failures
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_checks_its_role_scope_and_membership() {
    let mut failures = Vec::new();
    // A few worlds at a time: each is its own server and database.
    for chunk in MATRIX.chunks(6) {
        let results =
            futures::future::join_all(chunk.iter().map(|(m, p, n)| check(m, p, *n))).await;
        failures.extend(results.into_iter().flatten());
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
