//! The role matrix over HTTP: viewer, editor, admin, owner, non-member,
//! anonymous, and API keys with each scope.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::{SendExpect, TestServer, email, expect_error};

/// What each operation answers for a caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Ok,
    Forbidden,
    NotFound,
    Unauthorized,
}

struct World {
    s: TestServer,
    owner: String,
    ws: String,
    table: String,
}

async fn world() -> World {
    let s = TestServer::start().await;
    let (owner, _) = s.register().await;
    let ws = s.workspace(&owner).await;
    let (_, table) = s.table(&owner, &ws).await;
    World {
        s,
        owner,
        ws,
        table,
    }
}

impl World {
    async fn member(&self, role: &str) -> String {
        let mail = email();
        let (token, _) = self.s.register_as(&mail, "correct horse battery").await;
        self.s.add_member(&self.owner, &self.ws, &mail, role).await;
        token
    }

    async fn key(&self, scopes: &[&str]) -> String {
        self.s
            .req(&self.owner, Method::POST, "/api/v1/api-keys")
            .json(&json!({"name": "k", "scopes": scopes}))
            .send_expect(StatusCode::CREATED)
            .await["key"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Runs the probe operations as `token` (None: anonymous).
    async fn probe(&self, token: Option<&str>) -> [Outcome; 4] {
        let ops: [(Method, String, serde_json::Value); 4] = [
            (
                Method::GET,
                format!("/api/v1/tables/{}/records", self.table),
                json!(null),
            ),
            (
                Method::POST,
                format!("/api/v1/tables/{}/records", self.table),
                json!({"fields": {"Name": "x"}}),
            ),
            (
                Method::POST,
                format!("/api/v1/tables/{}/fields", self.table),
                json!({"name": format!("F{}", crate::common::unique()), "type": "text"}),
            ),
            (
                Method::PATCH,
                format!("/api/v1/workspaces/{}", self.ws),
                json!({"description": "changed"}),
            ),
        ];
        let mut out = [Outcome::Ok; 4];
        for (i, (m, path, body)) in ops.into_iter().enumerate() {
            let mut req = self.s.anon(m.clone(), &path);
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            if !body.is_null() {
                req = req.json(&body);
            }
            let r = req.send().await.unwrap();
            out[i] = match r.status() {
                s if s.is_success() => Outcome::Ok,
                StatusCode::FORBIDDEN => {
                    expect_error(r, StatusCode::FORBIDDEN, "forbidden").await;
                    Outcome::Forbidden
                }
                StatusCode::NOT_FOUND => {
                    expect_error(r, StatusCode::NOT_FOUND, "not_found").await;
                    Outcome::NotFound
                }
                StatusCode::UNAUTHORIZED => Outcome::Unauthorized,
                other => panic!("{m} {path}: unexpected {other}"),
            };
        }
        out
    }
}

use Outcome::{Forbidden as F, NotFound as N, Ok as O, Unauthorized as U};

#[tokio::test]
async fn roles_allow_what_the_contract_says() {
    let w = world().await;
    // [read records, write records, change schema, update workspace]
    let viewer = w.member("viewer").await;
    assert_eq!(w.probe(Some(&viewer)).await, [O, F, F, F]);
    let editor = w.member("editor").await;
    assert_eq!(w.probe(Some(&editor)).await, [O, O, F, F]);
    let admin = w.member("admin").await;
    assert_eq!(w.probe(Some(&admin)).await, [O, O, O, O]);
    assert_eq!(w.probe(Some(&w.owner)).await, [O, O, O, O]);
    let (stranger, _) = w.s.register().await;
    assert_eq!(w.probe(Some(&stranger)).await, [N, N, N, N]);
    assert_eq!(w.probe(None).await, [U, U, U, U]);
}

#[tokio::test]
async fn admins_manage_members_below_owner_and_only_owners_delete() {
    let w = world().await;
    let admin = w.member("admin").await;
    let mail = email();
    w.s.register_as(&mail, "correct horse battery").await;
    w.s.req(
        &admin,
        Method::POST,
        &format!("/api/v1/workspaces/{}/members", w.ws),
    )
    .json(&json!({"email": mail, "role": "owner"}))
    .send_expect_error(StatusCode::FORBIDDEN, "forbidden")
    .await;
    w.s.req(
        &admin,
        Method::DELETE,
        &format!("/api/v1/workspaces/{}", w.ws),
    )
    .send_expect_error(StatusCode::FORBIDDEN, "forbidden")
    .await;
    let editor = w.member("editor").await;
    w.s.req(
        &editor,
        Method::GET,
        &format!("/api/v1/workspaces/{}/members", w.ws),
    )
    .send_expect(StatusCode::OK)
    .await;
}

#[tokio::test]
async fn api_key_scopes_limit_what_a_key_does() {
    let w = world().await;
    let read = w.key(&["read"]).await;
    assert_eq!(w.probe(Some(&read)).await, [O, F, F, F]);
    let write = w.key(&["read", "write"]).await;
    assert_eq!(w.probe(Some(&write)).await, [O, O, F, F]);
    let schema = w.key(&["read", "schema"]).await;
    assert_eq!(w.probe(Some(&schema)).await, [O, F, O, F]);
    let admin = w.key(&["read", "admin"]).await;
    assert_eq!(w.probe(Some(&admin)).await, [O, F, F, O]);
    let all = w.key(&["read", "write", "schema", "admin"]).await;
    assert_eq!(w.probe(Some(&all)).await, [O, O, O, O]);
}

#[tokio::test]
async fn a_key_limited_to_other_workspaces_sees_nothing_here() {
    let w = world().await;
    let other_ws = w.s.workspace(&w.owner).await;
    let key =
        w.s.req(&w.owner, Method::POST, "/api/v1/api-keys")
            .json(&json!({"name": "k", "scopes": ["read", "write"], "workspaces": [other_ws]}))
            .send_expect(StatusCode::CREATED)
            .await["key"]
            .as_str()
            .unwrap()
            .to_owned();
    assert_eq!(w.probe(Some(&key)).await, [N, N, N, N]);
}

/// A key can only be limited to workspaces its user belongs to: another
/// user's workspace and an unknown one are refused alike, as not found.
#[tokio::test]
async fn a_key_cannot_be_limited_to_a_workspace_of_others() {
    let w = world().await;
    let (stranger, _) = w.s.register().await;
    let theirs = w.s.workspace(&stranger).await;
    for list in [json!([w.ws, theirs]), json!(["wspAAAAAAAAAAAAAA"])] {
        let body =
            w.s.req(&w.owner, Method::POST, "/api/v1/api-keys")
                .json(&json!({"name": "k", "workspaces": list}))
                .send_expect_error(StatusCode::NOT_FOUND, "not_found")
                .await;
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("member")),
            "{body}"
        );
    }
    w.s.req(&w.owner, Method::POST, "/api/v1/api-keys")
        .json(&json!({"name": "k", "workspaces": [w.ws]}))
        .send_expect(StatusCode::CREATED)
        .await;
}

/// Every route that names a workspace's resource (or another user's API
/// key) answers a signed-in stranger 404 in the error shape, never 403 and
/// never a success: nothing tells them it exists. Bodies are valid, so the
/// answer comes from the access check and not from body validation.
#[tokio::test]
async fn a_non_member_gets_404_on_every_workspace_resource() {
    let s = TestServer::start().await;
    let (owner, session) = s.register().await;
    let owner_id = session["user"]["id"].as_str().unwrap().to_owned();
    let ws = s.workspace(&owner).await;
    let (base, table) = s.table(&owner, &ws).await;
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
        .json(&json!({"name": "Grid", "type": "grid"}))
        .send_created_id()
        .await;
    let record = s
        .req(
            &owner,
            Method::POST,
            &format!("/api/v1/tables/{table}/records"),
        )
        .json(&json!({"fields": {"Name": "secret"}}))
        .send_created_id()
        .await;
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(b"private".to_vec())
            .file_name("a.txt")
            .mime_str("text/plain")
            .unwrap(),
    );
    let attachment = s
        .req(
            &owner,
            Method::POST,
            &format!("/api/v1/tables/{table}/attachments"),
        )
        .multipart(form)
        .send_created_id()
        .await;
    let key = s
        .req(&owner, Method::POST, "/api/v1/api-keys")
        .json(&json!({"name": "owner key"}))
        .send_created_id()
        .await;

    let stranger_email = email();
    let (stranger, _) = s
        .register_as(&stranger_email, "correct horse battery")
        .await;
    let none = json!(null);
    let routes: Vec<(Method, String, serde_json::Value)> = vec![
        (
            Method::GET,
            format!("/api/v1/workspaces/{ws}"),
            none.clone(),
        ),
        (
            Method::PATCH,
            format!("/api/v1/workspaces/{ws}"),
            json!({"name": "x"}),
        ),
        (
            Method::DELETE,
            format!("/api/v1/workspaces/{ws}"),
            none.clone(),
        ),
        (
            Method::GET,
            format!("/api/v1/workspaces/{ws}/members"),
            none.clone(),
        ),
        (
            Method::POST,
            format!("/api/v1/workspaces/{ws}/members"),
            json!({"email": stranger_email, "role": "owner"}),
        ),
        (
            Method::PATCH,
            format!("/api/v1/workspaces/{ws}/members/{owner_id}"),
            json!({"role": "viewer"}),
        ),
        (
            Method::DELETE,
            format!("/api/v1/workspaces/{ws}/members/{owner_id}"),
            none.clone(),
        ),
        (
            Method::GET,
            format!("/api/v1/workspaces/{ws}/bases"),
            none.clone(),
        ),
        (
            Method::POST,
            format!("/api/v1/workspaces/{ws}/bases"),
            json!({"name": "x"}),
        ),
        (Method::GET, format!("/api/v1/bases/{base}"), none.clone()),
        (
            Method::PATCH,
            format!("/api/v1/bases/{base}"),
            json!({"name": "x"}),
        ),
        (
            Method::DELETE,
            format!("/api/v1/bases/{base}"),
            none.clone(),
        ),
        (
            Method::GET,
            format!("/api/v1/bases/{base}/tables"),
            none.clone(),
        ),
        (
            Method::POST,
            format!("/api/v1/bases/{base}/tables"),
            json!({"name": "x"}),
        ),
        (Method::GET, format!("/api/v1/tables/{table}"), none.clone()),
        (
            Method::PATCH,
            format!("/api/v1/tables/{table}"),
            json!({"name": "x"}),
        ),
        (
            Method::DELETE,
            format!("/api/v1/tables/{table}"),
            none.clone(),
        ),
        (
            Method::GET,
            format!("/api/v1/tables/{table}/fields"),
            none.clone(),
        ),
        (
            Method::POST,
            format!("/api/v1/tables/{table}/fields"),
            json!({"name": "x", "type": "text"}),
        ),
        (Method::GET, format!("/api/v1/fields/{field}"), none.clone()),
        (
            Method::PATCH,
            format!("/api/v1/fields/{field}"),
            json!({"name": "x"}),
        ),
        (
            Method::DELETE,
            format!("/api/v1/fields/{field}"),
            none.clone(),
        ),
        (
            Method::GET,
            format!("/api/v1/tables/{table}/views"),
            none.clone(),
        ),
        (
            Method::POST,
            format!("/api/v1/tables/{table}/views"),
            json!({"name": "x", "type": "grid"}),
        ),
        (Method::GET, format!("/api/v1/views/{view}"), none.clone()),
        (
            Method::PATCH,
            format!("/api/v1/views/{view}"),
            json!({"name": "x"}),
        ),
        (
            Method::DELETE,
            format!("/api/v1/views/{view}"),
            none.clone(),
        ),
        (
            Method::GET,
            format!("/api/v1/tables/{table}/records"),
            none.clone(),
        ),
        (
            Method::POST,
            format!("/api/v1/tables/{table}/records"),
            json!({"fields": {"Name": "x"}}),
        ),
        (
            Method::PATCH,
            format!("/api/v1/tables/{table}/records"),
            json!({"records": [{"id": record, "fields": {"Name": "x"}}]}),
        ),
        (
            Method::PATCH,
            format!("/api/v1/tables/{table}/records"),
            json!({"records": [{"fields": {"Name": "x"}}], "upsert": {"merge_on": ["Name"]}}),
        ),
        (
            Method::DELETE,
            format!("/api/v1/tables/{table}/records?ids={record}"),
            none.clone(),
        ),
        (
            Method::POST,
            format!("/api/v1/tables/{table}/records/query"),
            json!({}),
        ),
        (
            Method::GET,
            format!("/api/v1/tables/{table}/records/{record}"),
            none.clone(),
        ),
        (
            Method::PATCH,
            format!("/api/v1/tables/{table}/records/{record}"),
            json!({"fields": {"Name": "x"}}),
        ),
        (
            Method::PUT,
            format!("/api/v1/tables/{table}/records/{record}"),
            json!({"fields": {"Name": "x"}}),
        ),
        (
            Method::DELETE,
            format!("/api/v1/tables/{table}/records/{record}"),
            none.clone(),
        ),
        (
            Method::POST,
            format!("/api/v1/tables/{table}/records/{record}/restore"),
            none.clone(),
        ),
        (
            Method::GET,
            format!("/api/v1/attachments/{attachment}"),
            none.clone(),
        ),
        (
            Method::GET,
            format!("/api/v1/attachments/{attachment}/content"),
            none.clone(),
        ),
        (
            Method::DELETE,
            format!("/api/v1/api-keys/{key}"),
            none.clone(),
        ),
    ];
    for (m, path, body) in routes {
        let mut req = s.req(&stranger, m.clone(), &path);
        if !body.is_null() {
            req = req.json(&body);
        }
        let r = req.send().await.unwrap();
        let status = r.status();
        let text = r.text().await.unwrap();
        assert_eq!(status, StatusCode::NOT_FOUND, "{m} {path}: {text}");
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["error"]["code"], "not_found", "{m} {path}: {text}");
        assert!(!text.contains("secret"), "{m} {path} leaks: {text}");
    }
    // An upload needs a multipart body.
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(b"x".to_vec()).file_name("b.txt"),
    );
    s.req(
        &stranger,
        Method::POST,
        &format!("/api/v1/tables/{table}/attachments"),
    )
    .multipart(form)
    .send_expect_error(StatusCode::NOT_FOUND, "not_found")
    .await;
    // And everything is still there for the owner.
    let v = s
        .req(
            &owner,
            Method::GET,
            &format!("/api/v1/tables/{table}/records/{record}"),
        )
        .send_expect(StatusCode::OK)
        .await;
    assert_eq!(v["fields"]["Name"], "secret");
}

/// Record writes answer the records they wrote, so a key with `write` but
/// not `read` would read any record through a no-op update, an upsert
/// matching a guessed value, a restore or a revert: every record write
/// needs both scopes, and refuses a write-only key before touching or
/// showing anything.
#[tokio::test]
async fn a_write_only_key_neither_writes_nor_reads_records() {
    let w = world().await;
    let records = format!("/api/v1/tables/{}/records", w.table);
    let created =
        w.s.req(&w.owner, Method::POST, &records)
            .json(&json!({"fields": {"Name": "secret"}}))
            .send_expect(StatusCode::CREATED)
            .await;
    let id = created["id"].as_str().unwrap().to_owned();
    let one = format!("{records}/{id}");
    let write_only = w.key(&["write"]).await;
    let attempts: [(Method, String, serde_json::Value); 7] = [
        (
            Method::POST,
            records.clone(),
            json!({"fields": {"Name": "x"}}),
        ),
        (Method::PATCH, one.clone(), json!({"fields": {}})),
        (
            Method::PATCH,
            records.clone(),
            json!({"records": [{"id": id, "fields": {}}]}),
        ),
        (
            Method::PATCH,
            records.clone(),
            json!({"records": [{"fields": {"Name": "secret"}}], "upsert": {"merge_on": ["Name"]}}),
        ),
        (Method::POST, format!("{one}/restore"), json!(null)),
        (Method::POST, format!("{one}/revert"), json!({"seq": 1})),
        (Method::DELETE, one.clone(), json!(null)),
    ];
    for (m, path, body) in attempts {
        let mut req = w.s.anon(m.clone(), &path).bearer_auth(&write_only);
        if !body.is_null() {
            req = req.json(&body);
        }
        let answer = expect_error(
            req.send().await.unwrap(),
            StatusCode::FORBIDDEN,
            "forbidden",
        )
        .await;
        let text = answer.to_string();
        assert!(text.contains("read scope"), "{m} {path}: {text}");
        assert!(!text.contains("secret"), "{m} {path} showed a cell: {text}");
    }
    // Nothing was written: still one record, still named "secret".
    let page =
        w.s.req(&w.owner, Method::GET, &records)
            .send_expect(StatusCode::OK)
            .await;
    assert_eq!(page["records"].as_array().unwrap().len(), 1, "{page}");
    assert_eq!(page["records"][0]["fields"]["Name"], "secret", "{page}");
}
