//! Workspaces and members over HTTP.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::{SendExpect, TestServer, email, id_of, unique};

#[tokio::test]
async fn workspace_crud_and_slug_conflict() {
    let s = TestServer::start().await;
    let (token, _) = s.register().await;
    let slug = format!("acme-{}", unique());
    let ws = s
        .req(&token, Method::POST, "/api/v1/workspaces")
        .json(&json!({"name": "Acme", "slug": slug, "description": "d"}))
        .send_expect(StatusCode::CREATED)
        .await;
    assert_eq!(ws["role"], "owner");
    let id = id_of(&ws);
    s.req(&token, Method::POST, "/api/v1/workspaces")
        .json(&json!({"name": "Other", "slug": slug}))
        .send_expect_error(StatusCode::CONFLICT, "conflict")
        .await;

    let list = s
        .req(&token, Method::GET, "/api/v1/workspaces")
        .send_expect(StatusCode::OK)
        .await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert!(list["next_cursor"].is_null());

    let got = s
        .req(&token, Method::PATCH, &format!("/api/v1/workspaces/{id}"))
        .json(&json!({"name": "Acme 2"}))
        .send_expect(StatusCode::OK)
        .await;
    assert_eq!(got["name"], "Acme 2");
    let got = s
        .req(&token, Method::GET, &format!("/api/v1/workspaces/{id}"))
        .send_expect(StatusCode::OK)
        .await;
    assert_eq!(got["slug"], slug);
    s.req(&token, Method::DELETE, &format!("/api/v1/workspaces/{id}"))
        .send_expect(StatusCode::NO_CONTENT)
        .await;
    s.req(&token, Method::GET, &format!("/api/v1/workspaces/{id}"))
        .send_expect_error(StatusCode::NOT_FOUND, "not_found")
        .await;
}

#[tokio::test]
async fn list_pagination_walks_every_item() {
    let s = TestServer::start().await;
    let (token, _) = s.register().await;
    for _ in 0..5 {
        s.workspace(&token).await;
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = "/api/v1/workspaces?page_size=2".to_owned();
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let page = s
            .req(&token, Method::GET, &path)
            .send_expect(StatusCode::OK)
            .await;
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(items.iter().map(id_of));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 5);
    s.req(&token, Method::GET, "/api/v1/workspaces?page_size=0")
        .send_expect_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
        .await;
    // A cursor this list did not hand out is a 422 naming `cursor`, as on
    // records lists.
    let v = s
        .req(&token, Method::GET, "/api/v1/workspaces?cursor=%%%")
        .send_expect_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
        .await;
    assert!(v["error"]["details"]["fields"]["cursor"].is_string(), "{v}");
    // An empty cursor (`?cursor=` from a client that always sends one) is
    // the first page, on every list.
    let page = s
        .req(
            &token,
            Method::GET,
            "/api/v1/workspaces?page_size=2&cursor=",
        )
        .send_expect(StatusCode::OK)
        .await;
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    let ws = id_of(&page["items"][0]);
    let (_, table) = s.table(&token, &ws).await;
    let page = s
        .req(
            &token,
            Method::GET,
            &format!("/api/v1/tables/{table}/records?cursor="),
        )
        .send_expect(StatusCode::OK)
        .await;
    assert!(page["records"].is_array(), "{page}");
}

/// Workspaces of the first page deleted before the second is read, its
/// last one among them, move nothing: the second page starts after where
/// that one was, so every remaining workspace is listed once.
#[tokio::test]
async fn deletions_between_pages_skip_no_item() {
    let s = TestServer::start().await;
    let (token, _) = s.register().await;
    for _ in 0..6 {
        s.workspace(&token).await;
    }
    let page = |cursor: Option<String>| {
        let path = match cursor {
            None => "/api/v1/workspaces?page_size=3".to_owned(),
            Some(c) => format!("/api/v1/workspaces?page_size=3&cursor={c}"),
        };
        let req = s.req(&token, Method::GET, &path);
        async move { req.send_expect(StatusCode::OK).await }
    };
    let first = page(None).await;
    let firsts: Vec<String> = first["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(id_of)
        .collect();
    for gone in [&firsts[1], &firsts[2]] {
        s.req(
            &token,
            Method::DELETE,
            &format!("/api/v1/workspaces/{gone}"),
        )
        .send_expect(StatusCode::NO_CONTENT)
        .await;
    }
    let mut seen = vec![firsts[0].clone()];
    let mut cursor = first["next_cursor"].as_str().map(str::to_owned);
    while let Some(c) = cursor {
        let next = page(Some(c)).await;
        seen.extend(next["items"].as_array().unwrap().iter().map(id_of));
        cursor = next["next_cursor"].as_str().map(str::to_owned);
    }
    assert_eq!(seen.len(), 4, "{seen:?}");
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 4, "each remaining workspace once");
}

#[tokio::test]
async fn members_add_update_remove_and_last_owner() {
    let s = TestServer::start().await;
    let (owner, owner_session) = s.register().await;
    let owner_id = owner_session["user"]["id"].as_str().unwrap().to_owned();
    let ws = s.workspace(&owner).await;
    let mail = email();
    let (_, other) = s.register_as(&mail, "correct horse battery").await;
    let other_id = other["user"]["id"].as_str().unwrap().to_owned();

    let m = s
        .req(
            &owner,
            Method::POST,
            &format!("/api/v1/workspaces/{ws}/members"),
        )
        .json(&json!({"email": mail, "role": "editor"}))
        .send_expect(StatusCode::CREATED)
        .await;
    assert_eq!(m["role"], "editor");
    assert_eq!(m["user"]["email"], mail);
    // Already a member.
    s.req(
        &owner,
        Method::POST,
        &format!("/api/v1/workspaces/{ws}/members"),
    )
    .json(&json!({"email": mail, "role": "viewer"}))
    .send_expect_error(StatusCode::CONFLICT, "conflict")
    .await;
    // Unknown role: 422.
    s.req(
        &owner,
        Method::POST,
        &format!("/api/v1/workspaces/{ws}/members"),
    )
    .json(&json!({"email": mail, "role": "root"}))
    .send_expect_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
    .await;

    let list = s
        .req(
            &owner,
            Method::GET,
            &format!("/api/v1/workspaces/{ws}/members"),
        )
        .send_expect(StatusCode::OK)
        .await;
    assert_eq!(list["items"].as_array().unwrap().len(), 2);

    let got = s
        .req(
            &owner,
            Method::PATCH,
            &format!("/api/v1/workspaces/{ws}/members/{other_id}"),
        )
        .json(&json!({"role": "admin"}))
        .send_expect(StatusCode::OK)
        .await;
    assert_eq!(got["role"], "admin");

    // The last owner can be neither demoted nor removed.
    s.req(
        &owner,
        Method::PATCH,
        &format!("/api/v1/workspaces/{ws}/members/{owner_id}"),
    )
    .json(&json!({"role": "admin"}))
    .send_expect_error(StatusCode::CONFLICT, "conflict")
    .await;
    s.req(
        &owner,
        Method::DELETE,
        &format!("/api/v1/workspaces/{ws}/members/{owner_id}"),
    )
    .send_expect_error(StatusCode::CONFLICT, "conflict")
    .await;

    s.req(
        &owner,
        Method::DELETE,
        &format!("/api/v1/workspaces/{ws}/members/{other_id}"),
    )
    .send_expect(StatusCode::NO_CONTENT)
    .await;
}
