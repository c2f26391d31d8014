//! Two server instances sharing one Redis: login limits and revocations
//! are seen by both. Needs `PYBASE_TEST_REDIS_URL`.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::{SendExpect, TestServer, email, settings_in};
use crate::require_service;

const PASSWORD: &str = "correct horse battery";

async fn pair(redis: &str) -> (TestServer, TestServer, tempfile::TempDir) {
    // One database and one Redis, two servers: what a load balancer sees.
    let dir = tempfile::tempdir().unwrap();
    let mut settings = settings_in(dir.path());
    settings.redis_url = Some(redis.to_owned());
    let a = TestServer::start_with(settings.clone()).await;
    let b = TestServer::start_with(settings).await;
    (a, b, dir)
}

#[tokio::test]
async fn rate_limits_are_shared_between_instances() {
    let redis = require_service!("PYBASE_TEST_REDIS_URL");
    let (a, b, _dir) = pair(&redis).await;
    let mail = email();
    a.register_as(&mail, PASSWORD).await;
    let mut limited_on_b = false;
    for i in 0..30 {
        // Alternate instances: only a shared count reaches the limit on both.
        let s = if i % 2 == 0 { &a } else { &b };
        let r = s
            .anon(Method::POST, "/api/v1/auth/login")
            .json(&json!({"email": mail, "password": "wrong password"}))
            .send()
            .await
            .unwrap();
        if r.status() == StatusCode::TOO_MANY_REQUESTS {
            assert!(r.headers().contains_key("retry-after"));
            break;
        }
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert!(i < 20, "never rate limited");
    }
    let r = b
        .anon(Method::POST, "/api/v1/auth/login")
        .json(&json!({"email": mail, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    if r.status() == StatusCode::TOO_MANY_REQUESTS {
        limited_on_b = true;
    }
    assert!(limited_on_b, "instance b did not see a's failures");
    a.anon(Method::POST, "/api/v1/auth/login")
        .json(&json!({"email": mail, "password": PASSWORD}))
        .send_expect_error(StatusCode::TOO_MANY_REQUESTS, "rate_limited")
        .await;
}

/// Two instances that remember verified credentials for a minute
/// (`CREDENTIAL_CACHE_MS`), so that only the relay can tell the other
/// instance of a revocation within the test.
async fn remembering_pair(redis: &str) -> (TestServer, TestServer, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = settings_in(dir.path());
    settings.redis_url = Some(redis.to_owned());
    settings.credential_cache_ms = 60_000;
    let a = TestServer::start_with(settings.clone()).await;
    let b = TestServer::start_with(settings).await;
    (a, b, dir)
}

/// Waits until `credential` is refused on `s` (the relay is asynchronous:
/// the revoking request's answer can overtake its message); fails after
/// 5 s, far below the instances' one-minute cache.
async fn refused_soon(s: &TestServer, credential: &str) {
    let start = std::time::Instant::now();
    loop {
        let r = s
            .req(credential, Method::GET, "/api/v1/auth/me")
            .send()
            .await
            .unwrap();
        if r.status() == StatusCode::UNAUTHORIZED {
            return;
        }
        assert_eq!(r.status(), StatusCode::OK);
        assert!(
            start.elapsed() < std::time::Duration::from_secs(5),
            "the revocation never reached the other instance"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn logout_on_one_instance_revokes_on_the_other() {
    let redis = require_service!("PYBASE_TEST_REDIS_URL");
    let (a, b, _dir) = remembering_pair(&redis).await;
    let (token, session) = a.register().await;
    b.req(&token, Method::GET, "/api/v1/auth/me")
        .send_expect(StatusCode::OK)
        .await;
    a.anon(Method::POST, "/api/v1/auth/logout")
        .json(&json!({"refresh_token": session["refresh_token"]}))
        .send_expect(StatusCode::NO_CONTENT)
        .await;
    a.req(&token, Method::GET, "/api/v1/auth/me")
        .send_expect_error(StatusCode::UNAUTHORIZED, "unauthorized")
        .await;
    refused_soon(&b, &token).await;
}

#[tokio::test]
async fn key_deletion_and_password_change_reach_the_other_instance() {
    let redis = require_service!("PYBASE_TEST_REDIS_URL");
    let (a, b, _dir) = remembering_pair(&redis).await;
    let mail = email();
    let (token, _) = a.register_as(&mail, PASSWORD).await;
    let created = a
        .req(&token, Method::POST, "/api/v1/api-keys")
        .json(&json!({"name": "ci"}))
        .send_expect(StatusCode::CREATED)
        .await;
    let key = created["key"].as_str().unwrap().to_owned();
    let id = created["id"].as_str().unwrap().to_owned();
    for credential in [&token, &key] {
        b.req(credential, Method::GET, "/api/v1/auth/me")
            .send_expect(StatusCode::OK)
            .await;
    }
    a.req(&token, Method::DELETE, &format!("/api/v1/api-keys/{id}"))
        .send_expect(StatusCode::NO_CONTENT)
        .await;
    refused_soon(&b, &key).await;
    a.req(&token, Method::POST, "/api/v1/auth/change-password")
        .json(&json!({"current_password": PASSWORD, "new_password": "a different secret"}))
        .send_expect(StatusCode::NO_CONTENT)
        .await;
    refused_soon(&b, &token).await;
}

#[tokio::test]
async fn password_change_on_one_instance_revokes_on_the_other() {
    let redis = require_service!("PYBASE_TEST_REDIS_URL");
    let (a, b, _dir) = pair(&redis).await;
    let mail = email();
    let (token, _) = a.register_as(&mail, PASSWORD).await;
    a.req(&token, Method::POST, "/api/v1/auth/change-password")
        .json(&json!({"current_password": PASSWORD, "new_password": "a different secret"}))
        .send_expect(StatusCode::NO_CONTENT)
        .await;
    b.req(&token, Method::GET, "/api/v1/auth/me")
        .send_expect_error(StatusCode::UNAUTHORIZED, "unauthorized")
        .await;
}

#[tokio::test]
async fn health_reports_redis_and_requests_survive_it_going_away() {
    let redis = require_service!("PYBASE_TEST_REDIS_URL");
    let (a, _b, _dir) = pair(&redis).await;
    let v = a
        .anon(Method::GET, "/health")
        .send_expect(StatusCode::OK)
        .await;
    assert_eq!(v["checks"]["cache"], "ok");
    assert_eq!(v["backends"]["cache"], "redis");

    // A server whose Redis is unreachable keeps serving (fail open) and
    // reports the cache as down.
    let dir = tempfile::tempdir().unwrap();
    let mut settings = settings_in(dir.path());
    settings.redis_url = Some("redis://127.0.0.1:9/".into());
    let down = TestServer::start_with(settings).await;
    let mail = email();
    let (token, _) = down.register_as(&mail, PASSWORD).await;
    down.req(&token, Method::GET, "/api/v1/auth/me")
        .send_expect(StatusCode::OK)
        .await;
    down.anon(Method::POST, "/api/v1/auth/login")
        .json(&json!({"email": mail, "password": PASSWORD}))
        .send_expect(StatusCode::OK)
        .await;
    let v = down
        .anon(Method::GET, "/health")
        .send_expect(StatusCode::SERVICE_UNAVAILABLE)
        .await;
    assert_eq!(v["status"], "unhealthy");
    assert_eq!(v["checks"]["cache"], "down");
}

/// A member removed on one instance stops receiving on the other at once:
/// the removal is relayed (channel `<prefix>access`), and the removed
/// member's stream on the other instance ends with an `error` event
/// (`not_found`) well before its 5 s periodic check of access would end
/// it, with no event committed after the removal; the owner's stream there
/// goes on.
#[tokio::test]
async fn a_removal_on_one_instance_ends_the_streams_on_the_other() {
    let redis = require_service!("PYBASE_TEST_REDIS_URL");
    let (a, b, _dir) = pair(&redis).await;
    let (owner, _) = a.register().await;
    let ws = a.workspace(&owner).await;
    let (base, table) = a.table(&owner, &ws).await;
    let mail = email();
    let (leaver, session) = a.register_as(&mail, PASSWORD).await;
    let leaver_id = session["user"]["id"].as_str().unwrap().to_owned();
    a.add_member(&owner, &ws, &mail, "viewer").await;
    let (got_one, mut got_one_rx) = tokio::sync::mpsc::unbounded_channel();
    let mut streams = Vec::new();
    for token in [&leaver, &owner] {
        let r = b
            .req(token, Method::GET, &format!("/api/v1/bases/{base}/events"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let got_one = got_one.clone();
        streams.push(tokio::spawn(crate::changes::frames_until(r, move |f| {
            if f.len() == 1 {
                let _ = got_one.send(());
            }
            f.iter().any(|(kind, _)| kind == "error") || f.len() >= 2
        })));
    }
    let create = |name: &'static str| {
        a.req(
            &owner,
            Method::POST,
            &format!("/api/v1/tables/{table}/records"),
        )
        .json(&json!({"fields": {"Name": name}}))
        .send_expect(StatusCode::CREATED)
    };
    // Both streams on b have checked access and delivered an event.
    create("before").await;
    for _ in 0..2 {
        tokio::time::timeout(std::time::Duration::from_secs(30), got_one_rx.recv())
            .await
            .expect("the first event within 30 s");
    }
    let removed_at = std::time::Instant::now();
    a.req(
        &owner,
        Method::DELETE,
        &format!("/api/v1/workspaces/{ws}/members/{leaver_id}"),
    )
    .send_expect(StatusCode::NO_CONTENT)
    .await;
    let mut streams = streams.into_iter();
    let leaving = streams.next().unwrap().await.unwrap();
    let ended_after = removed_at.elapsed();
    assert_eq!(leaving.len(), 2, "{leaving:?}");
    assert!(leaving[0].1.contains(":\"before\""), "{leaving:?}");
    assert_eq!(leaving[1].0, "error", "{leaving:?}");
    assert!(leaving[1].1.contains("not_found"), "{leaving:?}");
    assert!(
        ended_after < std::time::Duration::from_secs(3),
        "ended by the periodic check, not by the relayed removal: {ended_after:?}"
    );
    create("after").await;
    let staying = streams.next().unwrap().await.unwrap();
    assert_eq!(staying.len(), 2, "{staying:?}");
    assert!(staying[1].1.contains(":\"after\""), "{staying:?}");
}
