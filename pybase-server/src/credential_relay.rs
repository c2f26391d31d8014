//! Relaying credential revocations between server instances (Redis
//! pub/sub), so that a key deleted, a session signed out or a password
//! changed on one instance also drops what the others remember of it
//! ([`Auth::with_verified_cache`]).
//!
//! A message is `<instance> <revocation>` on the channel
//! `<prefix>credentials`. A lost message (Redis down, a subscriber
//! reconnecting) is not fatal: every instance reads the database again
//! once its entry is older than `CREDENTIAL_CACHE_MS`, so that time is the
//! bound on how long another instance can still accept a revoked
//! credential. With the relay up, the bound is the relay's latency.
//!
//! The tasks hold no strong reference to the service: they end once the
//! server that started them is gone.

use std::sync::{Arc, Weak};
use std::time::Duration;

use futures::StreamExt as _;
use pybase_core::auth::{Auth, Revocation};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::broadcast::error::RecvError;

/// How long the subscriber waits before reconnecting to Redis.
const RECONNECT_AFTER: Duration = Duration::from_secs(1);
/// How often idle tasks check that their server still runs.
const ALIVE_CHECK: Duration = Duration::from_secs(5);

/// With `redis_url`, starts relaying `auth`'s revocations to the other
/// instances and theirs to it.
///
/// # Errors
/// `redis_url` is not a valid Redis URL.
pub fn spawn(auth: &Arc<Auth>, redis_url: Option<&str>, prefix: &str) -> redis::RedisResult<()> {
    let Some(url) = redis_url else {
        return Ok(());
    };
    let client = redis::Client::open(url)?;
    let channel = format!("{prefix}credentials");
    let instance = format!("{:016x}", rand::random::<u64>());
    tokio::spawn(publish(
        auth.revocations(),
        client.clone(),
        channel.clone(),
        instance.clone(),
    ));
    tokio::spawn(subscribe(Arc::downgrade(auth), client, channel, instance));
    Ok(())
}

/// A message announcing `revocation` from `instance`.
fn message(instance: &str, revocation: &Revocation) -> String {
    format!("{instance} {}", revocation.encode())
}

/// The revocation a message announces, unless it came from `instance`.
fn parse(instance: &str, text: &str) -> Option<Revocation> {
    let (from, rest) = text.split_once(' ')?;
    if from == instance {
        return None;
    }
    Revocation::decode(rest)
}

/// Publishes this instance's revocations; ends when the service is gone.
async fn publish(
    mut local: tokio::sync::broadcast::Receiver<Revocation>,
    client: redis::Client,
    channel: String,
    instance: String,
) {
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(1)))
        .set_response_timeout(Some(Duration::from_millis(500)))
        .set_number_of_retries(1)
        .set_max_delay(Duration::from_secs(2));
    let mut con = match ConnectionManager::new_lazy_with_config(client, config) {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "credential relay: cannot use redis");
            return;
        }
    };
    loop {
        let revocation = match local.recv().await {
            Ok(r) => r,
            // Lost ones expire on the other instances within their TTL.
            Err(RecvError::Lagged(n)) => {
                tracing::warn!(lost = n, "credential relay: fell behind");
                continue;
            }
            Err(RecvError::Closed) => return,
        };
        let r: redis::RedisResult<i64> = redis::cmd("PUBLISH")
            .arg(&channel)
            .arg(message(&instance, &revocation))
            .query_async(&mut con)
            .await;
        if let Err(e) = r {
            tracing::warn!(error = %e, "credential relay: publish failed");
        }
    }
}

/// Applies other instances' revocations here; reconnects after failures;
/// ends when the service is gone.
async fn subscribe(auth: Weak<Auth>, client: redis::Client, channel: String, instance: String) {
    loop {
        if auth.strong_count() == 0 {
            return;
        }
        let mut pubsub = match client.get_async_pubsub().await {
            Ok(p) => p,
            Err(e) => {
                tracing::debug!(error = %e, "credential relay: cannot subscribe yet");
                tokio::time::sleep(RECONNECT_AFTER).await;
                continue;
            }
        };
        if let Err(e) = pubsub.subscribe(&channel).await {
            tracing::debug!(error = %e, "credential relay: subscribe failed");
            tokio::time::sleep(RECONNECT_AFTER).await;
            continue;
        }
        let mut messages = pubsub.into_on_message();
        loop {
            tokio::select! {
                msg = messages.next() => {
                    let Some(msg) = msg else { break };
                    let text: String = msg.get_payload().unwrap_or_default();
                    if let Some(r) = parse(&instance, &text)
                        && let Some(a) = auth.upgrade()
                    {
                        a.apply_revocation(&r);
                    }
                }
                () = tokio::time::sleep(ALIVE_CHECK) => {}
            }
            if auth.strong_count() == 0 {
                return;
            }
        }
        tokio::time::sleep(RECONNECT_AFTER).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pybase_core::ids::UserId;

    #[test]
    fn messages_round_trip_and_own_ones_are_ignored() {
        let r = Revocation::User(UserId::at(1_800_000_000_000));
        let text = message("a", &r);
        assert_eq!(parse("b", &text), Some(r));
        assert_eq!(parse("a", &text), None);
        assert_eq!(parse("b", "garbage"), None);
        assert_eq!(parse("b", "a key nope"), None);
    }
}
