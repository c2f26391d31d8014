//! Accounts, sessions, password resets and API keys.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{SendExpect, TestServer, email, expect_error, id_of};

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
    s.anon(Method::POST, "/api/v1/auth/register")
        .json(&json!({"email": mail, "password": PASSWORD, "name": "x"}))
        .send_expect_error(StatusCode::CONFLICT, "conflict")
        .await;
    // Short password: 422 naming it.
    let v = s
        .anon(Method::POST, "/api/v1/auth/register")
        .json(&json!({"email": email(), "password": "short", "name": "x"}))
        .send_expect_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
        .await;
    assert!(
        v["error"]["details"]["fields"]["password"].is_string(),
        "{v}"
    );

    let login = s
        .anon(Method::POST, "/api/v1/auth/login")
        .json(&json!({"email": mail, "password": PASSWORD}))
        .send_expect(StatusCode::OK)
        .await;
    assert!(login["access_token"].is_string());

    let me = s
        .req(&token, Method::GET, "/api/v1/auth/me")
        .send_expect(StatusCode::OK)
        .await;
    assert_eq!(me["email"], mail);
    let got = s
        .req(&token, Method::PATCH, "/api/v1/auth/me")
        .json(&json!({"name": "Renamed"}))
        .send_expect(StatusCode::OK)
        .await;
    assert_eq!(got["name"], "Renamed");
}

#[tokio::test]
async fn login_accepts_the_oauth2_password_form() {
    let s = TestServer::start().await;
    let mail = email();
    s.register_as(&mail, PASSWORD).await;
    let v = s
        .anon(Method::POST, "/api/v1/auth/login")
        .form(&[
            ("username", mail.as_str()),
            ("password", PASSWORD),
            ("grant_type", "password"),
        ])
        .send_expect(StatusCode::OK)
        .await;
    assert_eq!(v["token_type"], "bearer");
}

#[tokio::test]
async fn bad_logins_are_401_alike_then_429_with_retry_after() {
    let s = TestServer::start().await;
    let mail = email();
    s.register_as(&mail, PASSWORD).await;
    let unknown = s
        .anon(Method::POST, "/api/v1/auth/login")
        .json(&json!({"email": email(), "password": PASSWORD}))
        .send_expect_error(StatusCode::UNAUTHORIZED, "unauthorized")
        .await;
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
    s.anon(Method::POST, "/api/v1/auth/login")
        .json(&json!({"email": mail, "password": PASSWORD}))
        .send_expect_error(StatusCode::TOO_MANY_REQUESTS, "rate_limited")
        .await;
}

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_family() {
    let s = TestServer::start().await;
    let (_, session) = s.register().await;
    let old = session["refresh_token"].as_str().unwrap().to_owned();
    let next = s
        .anon(Method::POST, "/api/v1/auth/refresh")
        .json(&json!({"refresh_token": old}))
        .send_expect(StatusCode::OK)
        .await;
    let new_refresh = next["refresh_token"].as_str().unwrap().to_owned();
    let new_access = next["access_token"].as_str().unwrap().to_owned();
    assert_ne!(new_refresh, old);
    // A refresh token is not an access token, nor the reverse.
    s.req(&new_refresh, Method::GET, "/api/v1/auth/me")
        .send_expect_error(StatusCode::UNAUTHORIZED, "unauthorized")
        .await;
    s.anon(Method::POST, "/api/v1/auth/refresh")
        .json(&json!({"refresh_token": new_access}))
        .send_expect_error(StatusCode::UNAUTHORIZED, "unauthorized")
        .await;
    // Reusing the spent token: 401 and the family dies.
    s.anon(Method::POST, "/api/v1/auth/refresh")
        .json(&json!({"refresh_token": old}))
        .send_expect_error(StatusCode::UNAUTHORIZED, "unauthorized")
        .await;
    s.anon(Method::POST, "/api/v1/auth/refresh")
        .json(&json!({"refresh_token": new_refresh}))
        .send_expect_error(StatusCode::UNAUTHORIZED, "unauthorized")
        .await;
    s.req(&new_access, Method::GET, "/api/v1/auth/me")
        .send_expect_error(StatusCode::UNAUTHORIZED, "unauthorized")
        .await;
}

#[tokio::test]
async fn logout_revokes_the_session() {
    let s = TestServer::start().await;
    let (token, session) = s.register().await;
    s.anon(Method::POST, "/api/v1/auth/logout")
        .json(&json!({"refresh_token": session["refresh_token"]}))
        .send_expect(StatusCode::NO_CONTENT)
        .await;
    s.req(&token, Method::GET, "/api/v1/auth/me")
        .send_expect_error(StatusCode::UNAUTHORIZED, "unauthorized")
        .await;
    s.anon(Method::POST, "/api/v1/auth/refresh")
        .json(&json!({"refresh_token": session["refresh_token"]}))
        .send_expect_error(StatusCode::UNAUTHORIZED, "unauthorized")
        .await;
}

#[tokio::test]
async fn change_password_revokes_sessions() {
    let s = TestServer::start().await;
    let mail = email();
    let (token, _) = s.register_as(&mail, PASSWORD).await;
    s.req(&token, Method::POST, "/api/v1/auth/change-password")
        .json(&json!({"current_password": "not it at all", "new_password": "another good one"}))
        .send_expect_error(StatusCode::FORBIDDEN, "forbidden")
        .await;
    s.req(&token, Method::POST, "/api/v1/auth/change-password")
        .json(&json!({"current_password": PASSWORD, "new_password": "another good one"}))
        .send_expect(StatusCode::NO_CONTENT)
        .await;
    s.req(&token, Method::GET, "/api/v1/auth/me")
        .send_expect_error(StatusCode::UNAUTHORIZED, "unauthorized")
        .await;
    s.anon(Method::POST, "/api/v1/auth/login")
        .json(&json!({"email": mail, "password": "another good one"}))
        .send_expect(StatusCode::OK)
        .await;
}

/// The reset token mailed to `to`, waiting up to 5 s for the background
/// task that writes it (requests answer before the mail is written, so their
/// timing says nothing about the account).
async fn outbox_token(s: &TestServer, to: &str) -> Option<String> {
    for _ in 0..50 {
        if let Some(t) = outbox_token_now(s, to) {
            return Some(t);
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    None
}

fn outbox_token_now(s: &TestServer, to: &str) -> Option<String> {
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
        s.anon(Method::POST, "/api/v1/auth/password-reset/request")
            .json(&json!({"email": who}))
            .send_expect(StatusCode::ACCEPTED)
            .await;
    }
    let token = outbox_token(&s, &mail)
        .await
        .expect("a reset message in the outbox");
    assert!(outbox_token_now(&s, "nobody-here@example.com").is_none());
    s.anon(Method::POST, "/api/v1/auth/password-reset/confirm")
        .json(&json!({"token": token, "new_password": "a brand new secret"}))
        .send_expect(StatusCode::NO_CONTENT)
        .await;
    // Single use.
    s.anon(Method::POST, "/api/v1/auth/password-reset/confirm")
        .json(&json!({"token": token, "new_password": "yet another secret"}))
        .send_expect_error(StatusCode::UNAUTHORIZED, "unauthorized")
        .await;
    s.anon(Method::POST, "/api/v1/auth/login")
        .json(&json!({"email": mail, "password": "a brand new secret"}))
        .send_expect(StatusCode::OK)
        .await;
}

#[tokio::test]
async fn api_keys_work_in_both_headers_and_stop_when_deleted() {
    let s = TestServer::start().await;
    let (token, _) = s.register().await;
    let created = s
        .req(&token, Method::POST, "/api/v1/api-keys")
        .json(&json!({"name": "ci", "scopes": ["read", "write", "schema", "admin"]}))
        .send_expect(StatusCode::CREATED)
        .await;
    let key = created["key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("pbk_"));
    let id = created["id"].as_str().unwrap().to_owned();

    s.req(&key, Method::GET, "/api/v1/auth/me")
        .send_expect(StatusCode::OK)
        .await;
    s.anon(Method::GET, "/api/v1/workspaces")
        .header("x-api-key", &key)
        .send_expect(StatusCode::OK)
        .await;

    let list = s
        .req(&token, Method::GET, "/api/v1/api-keys")
        .send_expect(StatusCode::OK)
        .await;
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert!(items[0].get("key").is_none(), "secret listed: {list}");
    assert!(items[0].get("last_used_at").is_some());
    assert!(list["next_cursor"].is_null());

    s.req(&token, Method::DELETE, &format!("/api/v1/api-keys/{id}"))
        .send_expect(StatusCode::NO_CONTENT)
        .await;
    s.req(&key, Method::GET, "/api/v1/workspaces")
        .send_expect_error(StatusCode::UNAUTHORIZED, "unauthorized")
        .await;
}

/// The server remembers verified keys and sessions (`CREDENTIAL_CACHE_MS`),
/// yet every revocation and role change takes effect on the very next
/// request: a role lowered or removed (roles are never remembered), a key
/// deleted, a session signed out, a password changed. Each credential is
/// used right before, so the check runs against a remembered entry.
#[tokio::test]
async fn remembered_credentials_never_outlive_a_revocation_or_role_change() {
    let s = TestServer::start().await;
    let (owner, _) = s.register().await;
    let ws = s.workspace(&owner).await;
    let (_, table) = s.table(&owner, &ws).await;
    let mail = email();
    let (member, session) = s.register_as(&mail, "correct horse battery").await;
    let member_id = session["user"]["id"].as_str().unwrap().to_owned();
    s.add_member(&owner, &ws, &mail, "editor").await;
    let key = s
        .req(&member, Method::POST, "/api/v1/api-keys")
        .json(&json!({"name": "ci"}))
        .send_expect(StatusCode::CREATED)
        .await;
    let (key_id, key) = (id_of(&key), key["key"].as_str().unwrap().to_owned());
    let records = format!("/api/v1/tables/{table}/records");
    for credential in [&member, &key] {
        for _ in 0..2 {
            s.req(credential, Method::POST, &records)
                .json(&json!({"fields": {"Name": "bolt"}}))
                .send_expect(StatusCode::CREATED)
                .await;
        }
    }

    // Lowered to viewer: both credentials may read but no longer write.
    let member_path = format!("/api/v1/workspaces/{ws}/members/{member_id}");
    s.req(&owner, Method::PATCH, &member_path)
        .json(&json!({"role": "viewer"}))
        .send_expect(StatusCode::OK)
        .await;
    for credential in [&member, &key] {
        s.req(credential, Method::POST, &records)
            .json(&json!({"fields": {"Name": "bolt"}}))
            .send_expect_error(StatusCode::FORBIDDEN, "forbidden")
            .await;
        s.req(credential, Method::GET, &records)
            .send_expect(StatusCode::OK)
            .await;
    }

    // Removed from the workspace: the table is gone for both.
    s.req(&owner, Method::DELETE, &member_path)
        .send_expect(StatusCode::NO_CONTENT)
        .await;
    for credential in [&member, &key] {
        s.req(credential, Method::GET, &records)
            .send_expect_error(StatusCode::NOT_FOUND, "not_found")
            .await;
    }

    // The key deleted: refused at once.
    s.req(&key, Method::GET, "/api/v1/auth/me")
        .send_expect(StatusCode::OK)
        .await;
    s.req(
        &member,
        Method::DELETE,
        &format!("/api/v1/api-keys/{key_id}"),
    )
    .send_expect(StatusCode::NO_CONTENT)
    .await;
    s.req(&key, Method::GET, "/api/v1/auth/me")
        .send_expect_error(StatusCode::UNAUTHORIZED, "unauthorized")
        .await;

    // Signed out: refused at once.
    s.req(&member, Method::GET, "/api/v1/auth/me")
        .send_expect(StatusCode::OK)
        .await;
    s.anon(Method::POST, "/api/v1/auth/logout")
        .json(&json!({"refresh_token": session["refresh_token"]}))
        .send_expect(StatusCode::NO_CONTENT)
        .await;
    s.req(&member, Method::GET, "/api/v1/auth/me")
        .send_expect_error(StatusCode::UNAUTHORIZED, "unauthorized")
        .await;

    // A password change ends every session, remembered ones included.
    let (other, _) = s.register_as(&email(), "correct horse battery").await;
    s.req(&other, Method::GET, "/api/v1/auth/me")
        .send_expect(StatusCode::OK)
        .await;
    s.req(&other, Method::POST, "/api/v1/auth/change-password")
        .json(&json!({"current_password": "correct horse battery", "new_password": "a different secret"}))
        .send_expect(StatusCode::NO_CONTENT)
        .await;
    s.req(&other, Method::GET, "/api/v1/auth/me")
        .send_expect_error(StatusCode::UNAUTHORIZED, "unauthorized")
        .await;
}
