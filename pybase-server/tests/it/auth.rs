//! Accounts, sessions, password resets and API keys.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{TestServer, email, expect, expect_error};

const PASSWORD: &str = "correct horse battery";

#[tokio::test]
async fn register_login_me_and_update() {
    let s = TestServer::start().await;
    let mail = email();
    let (token, session) = s.register_as(&mail.to_uppercase(), PASSWORD).await;
    assert_eq!(session["token_type"], "bearer");
    assert!(session["expires_in"].as_i64().unwrap() > 0);
    assert!(session["refresh_token"].is_string());
    assert_eq!(session["user"]["email"], mail);
    assert!(session["user"].get("password_hash").is_none());

    // Duplicate email in another case: 409.
    let r = s
        .anon(Method::POST, "/api/v1/auth/register")
        .json(&json!({"email": mail, "password": PASSWORD, "name": "x"}))
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::CONFLICT, "conflict").await;
    // Short password: 422 naming it.
    let r = s
        .anon(Method::POST, "/api/v1/auth/register")
        .json(&json!({"email": email(), "password": "short", "name": "x"}))
        .send()
        .await
        .unwrap();
    let v = expect_error(r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert!(
        v["error"]["details"]["fields"]["password"].is_string(),
        "{v}"
    );

    let r = s
        .anon(Method::POST, "/api/v1/auth/login")
        .json(&json!({"email": mail, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let login = expect(r, StatusCode::OK).await;
    assert!(login["access_token"].is_string());

    let r = s
        .req(&token, Method::GET, "/api/v1/auth/me")
        .send()
        .await
        .unwrap();
    let me = expect(r, StatusCode::OK).await;
    assert_eq!(me["email"], mail);
    let r = s
        .req(&token, Method::PATCH, "/api/v1/auth/me")
        .json(&json!({"name": "Renamed"}))
        .send()
        .await
        .unwrap();
    assert_eq!(expect(r, StatusCode::OK).await["name"], "Renamed");
}

#[tokio::test]
async fn login_accepts_the_oauth2_password_form() {
    let s = TestServer::start().await;
    let mail = email();
    s.register_as(&mail, PASSWORD).await;
    let r = s
        .anon(Method::POST, "/api/v1/auth/login")
        .form(&[
            ("username", mail.as_str()),
            ("password", PASSWORD),
            ("grant_type", "password"),
        ])
        .send()
        .await
        .unwrap();
    let v = expect(r, StatusCode::OK).await;
    assert_eq!(v["token_type"], "bearer");
}

#[tokio::test]
async fn bad_logins_are_401_alike_then_429_with_retry_after() {
    let s = TestServer::start().await;
    let mail = email();
    s.register_as(&mail, PASSWORD).await;
    let r = s
        .anon(Method::POST, "/api/v1/auth/login")
        .json(&json!({"email": email(), "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let unknown = expect_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let mut wrong = Value::Null;
    let mut limited = None;
    for _ in 0..20 {
        let r = s
            .anon(Method::POST, "/api/v1/auth/login")
            .json(&json!({"email": mail, "password": "wrong password"}))
            .send()
            .await
            .unwrap();
        if r.status() == StatusCode::TOO_MANY_REQUESTS {
            let retry: u64 = r.headers()["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!(retry >= 1);
            limited = Some(expect_error(r, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await);
            break;
        }
        wrong = expect_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
    assert_eq!(unknown["error"]["message"], wrong["error"]["message"]);
    assert!(limited.is_some(), "never rate limited");
    // Even the right password is refused while limited.
    let r = s
        .anon(Method::POST, "/api/v1/auth/login")
        .json(&json!({"email": mail, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
}

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_family() {
    let s = TestServer::start().await;
    let (_, session) = s.register().await;
    let old = session["refresh_token"].as_str().unwrap().to_owned();
    let r = s
        .anon(Method::POST, "/api/v1/auth/refresh")
        .json(&json!({"refresh_token": old}))
        .send()
        .await
        .unwrap();
    let next = expect(r, StatusCode::OK).await;
    let new_refresh = next["refresh_token"].as_str().unwrap().to_owned();
    let new_access = next["access_token"].as_str().unwrap().to_owned();
    assert_ne!(new_refresh, old);
    // A refresh token is not an access token, nor the reverse.
    let r = s
        .req(&new_refresh, Method::GET, "/api/v1/auth/me")
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let r = s
        .anon(Method::POST, "/api/v1/auth/refresh")
        .json(&json!({"refresh_token": new_access}))
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
    // Reusing the spent token: 401 and the family dies.
    let r = s
        .anon(Method::POST, "/api/v1/auth/refresh")
        .json(&json!({"refresh_token": old}))
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let r = s
        .anon(Method::POST, "/api/v1/auth/refresh")
        .json(&json!({"refresh_token": new_refresh}))
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let r = s
        .req(&new_access, Method::GET, "/api/v1/auth/me")
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

#[tokio::test]
async fn logout_revokes_the_session() {
    let s = TestServer::start().await;
    let (token, session) = s.register().await;
    let r = s
        .anon(Method::POST, "/api/v1/auth/logout")
        .json(&json!({"refresh_token": session["refresh_token"]}))
        .send()
        .await
        .unwrap();
    expect(r, StatusCode::NO_CONTENT).await;
    let r = s
        .req(&token, Method::GET, "/api/v1/auth/me")
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let r = s
        .anon(Method::POST, "/api/v1/auth/refresh")
        .json(&json!({"refresh_token": session["refresh_token"]}))
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

#[tokio::test]
async fn change_password_revokes_sessions() {
    let s = TestServer::start().await;
    let mail = email();
    let (token, _) = s.register_as(&mail, PASSWORD).await;
    let r = s
        .req(&token, Method::POST, "/api/v1/auth/change-password")
        .json(&json!({"current_password": "not it at all", "new_password": "another good one"}))
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let r = s
        .req(&token, Method::POST, "/api/v1/auth/change-password")
        .json(&json!({"current_password": PASSWORD, "new_password": "another good one"}))
        .send()
        .await
        .unwrap();
    expect(r, StatusCode::NO_CONTENT).await;
    let r = s
        .req(&token, Method::GET, "/api/v1/auth/me")
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let r = s
        .anon(Method::POST, "/api/v1/auth/login")
        .json(&json!({"email": mail, "password": "another good one"}))
        .send()
        .await
        .unwrap();
    expect(r, StatusCode::OK).await;
}

fn outbox_token(s: &TestServer, to: &str) -> Option<String> {
    let entries = std::fs::read_dir(&s.outbox).ok()?;
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.ends_with(".json") || name.starts_with('.') {
            continue;
        }
        let v: Value = serde_json::from_slice(&std::fs::read(e.path()).ok()?).ok()?;
        if v["to"] == to {
            return v["token"].as_str().map(str::to_owned);
        }
    }
    None
}

#[tokio::test]
async fn password_reset_through_the_outbox() {
    let s = TestServer::start().await;
    let mail = email();
    s.register_as(&mail, PASSWORD).await;
    for who in [mail.as_str(), "nobody-here@example.com"] {
        let r = s
            .anon(Method::POST, "/api/v1/auth/password-reset/request")
            .json(&json!({"email": who}))
            .send()
            .await
            .unwrap();
        expect(r, StatusCode::ACCEPTED).await;
    }
    let token = outbox_token(&s, &mail).expect("a reset message in the outbox");
    assert!(outbox_token(&s, "nobody-here@example.com").is_none());
    let r = s
        .anon(Method::POST, "/api/v1/auth/password-reset/confirm")
        .json(&json!({"token": token, "new_password": "a brand new secret"}))
        .send()
        .await
        .unwrap();
    expect(r, StatusCode::NO_CONTENT).await;
    // Single use.
    let r = s
        .anon(Method::POST, "/api/v1/auth/password-reset/confirm")
        .json(&json!({"token": token, "new_password": "yet another secret"}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error());
    let r = s
        .anon(Method::POST, "/api/v1/auth/login")
        .json(&json!({"email": mail, "password": "a brand new secret"}))
        .send()
        .await
        .unwrap();
    expect(r, StatusCode::OK).await;
}

#[tokio::test]
async fn api_keys_work_in_both_headers_and_stop_when_deleted() {
    let s = TestServer::start().await;
    let (token, _) = s.register().await;
    let r = s
        .req(&token, Method::POST, "/api/v1/api-keys")
        .json(&json!({"name": "ci", "scopes": ["read", "write", "schema", "admin"]}))
        .send()
        .await
        .unwrap();
    let created = expect(r, StatusCode::CREATED).await;
    let key = created["key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("pbk_"));
    let id = created["id"].as_str().unwrap().to_owned();

    let r = s
        .req(&key, Method::GET, "/api/v1/auth/me")
        .send()
        .await
        .unwrap();
    expect(r, StatusCode::OK).await;
    let r = s
        .anon(Method::GET, "/api/v1/workspaces")
        .header("x-api-key", &key)
        .send()
        .await
        .unwrap();
    expect(r, StatusCode::OK).await;

    let r = s
        .req(&token, Method::GET, "/api/v1/api-keys")
        .send()
        .await
        .unwrap();
    let list = expect(r, StatusCode::OK).await;
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert!(items[0].get("key").is_none(), "secret listed: {list}");
    assert!(items[0].get("last_used_at").is_some());
    assert!(list["next_cursor"].is_null());

    let r = s
        .req(&token, Method::DELETE, &format!("/api/v1/api-keys/{id}"))
        .send()
        .await
        .unwrap();
    expect(r, StatusCode::NO_CONTENT).await;
    let r = s
        .req(&key, Method::GET, "/api/v1/workspaces")
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
}
