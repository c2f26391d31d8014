//! Background work of the change log: waking the event streams of every
//! server instance (Redis pub/sub) and pruning old events.
//!
//! Pub/sub only wakes: a message says "base B has events up to seq N", and
//! each instance's subscriptions then read the log after their cursor. A
//! lost message delays an event by at most the subscriptions' poll period
//! ([`pybase_core::facade::POLL_EVERY`]); it never loses one.
//!
//! The tasks hold no strong reference to the facade: they end once the
//! server that started them is gone.

use std::sync::{Arc, Weak};
use std::time::Duration;

use chrono::TimeDelta;
use futures::StreamExt as _;
use pybase_core::Pybase;
use pybase_core::ids::BaseId;
use pybase_core::store::Committed;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::broadcast::error::RecvError;

/// How often old events are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);
/// How long the subscriber waits before reconnecting to Redis.
const RECONNECT_AFTER: Duration = Duration::from_secs(1);
/// How often idle tasks check that their server still runs.
const ALIVE_CHECK: Duration = Duration::from_secs(5);

/// Starts the pruner, and with `redis_url` the relay between instances on
/// the channel `<prefix>changes`.
pub fn spawn(
    pybase: &Arc<Pybase>,
    redis_url: Option<&str>,
    prefix: &str,
    retention: TimeDelta,
) -> redis::RedisResult<()> {
    tokio::spawn(prune(Arc::downgrade(pybase), retention));
    if let Some(url) = redis_url {
        let client = redis::Client::open(url)?;
        let channel = format!("{prefix}changes");
        let instance = format!("{:016x}", rand::random::<u64>());
        tokio::spawn(publish(
            pybase.local_changes(),
            client.clone(),
            channel.clone(),
            instance.clone(),
        ));
        tokio::spawn(subscribe(Arc::downgrade(pybase), client, channel, instance));
    }
    Ok(())
}

/// Removes events older than `retention`, now and every [`PRUNE_EVERY`].
async fn prune(pybase: Weak<Pybase>, retention: TimeDelta) {
    loop {
        let Some(pb) = pybase.upgrade() else { return };
        let cutoff = pb.clock().now() - retention;
        match pb.prune_changes(cutoff).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(removed = n, "pruned old change-log events"),
            Err(e) => tracing::warn!(error = %e, "could not prune the change log"),
        }
        drop(pb);
        let mut waited = Duration::ZERO;
        while waited < PRUNE_EVERY {
            tokio::time::sleep(ALIVE_CHECK).await;
            waited += ALIVE_CHECK;
            if pybase.strong_count() == 0 {
                return;
            }
        }
    }
}

/// A message: `<instance> <base> <last seq>`.
fn message(instance: &str, c: Committed) -> String {
    format!("{instance} {} {}", c.base, c.last_seq)
}

/// The commit a message announces, unless it came from `instance` itself.
fn parse(instance: &str, text: &str) -> Option<Committed> {
    let mut parts = text.split(' ');
    let from = parts.next()?;
    let base: BaseId = parts.next()?.parse().ok()?;
    let last_seq = parts.next()?.parse().ok()?;
    (from != instance).then_some(Committed { base, last_seq })
}

/// Publishes this instance's commits; ends when the store is gone.
async fn publish(
    mut local: tokio::sync::broadcast::Receiver<Committed>,
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
            tracing::warn!(error = %e, "change relay: cannot use redis");
            return;
        }
    };
    loop {
        let c = match local.recv().await {
            Ok(c) => c,
            // Missed commits: the next one announces a newer seq anyway.
            Err(RecvError::Lagged(_)) => continue,
            Err(RecvError::Closed) => return,
        };
        let r: redis::RedisResult<i64> = redis::cmd("PUBLISH")
            .arg(&channel)
            .arg(message(&instance, c))
            .query_async(&mut con)
            .await;
        if let Err(e) = r {
            tracing::debug!(error = %e, "change relay: publish failed");
        }
    }
}

/// Relays other instances' commits to this instance's subscriptions;
/// reconnects after failures; ends when the server is gone.
async fn subscribe(pybase: Weak<Pybase>, client: redis::Client, channel: String, instance: String) {
    loop {
        let Some(feed) = pybase.upgrade().map(|pb| pb.remote_changes().clone()) else {
            return;
        };
        let mut pubsub = match client.get_async_pubsub().await {
            Ok(p) => p,
            Err(e) => {
                tracing::debug!(error = %e, "change relay: cannot subscribe yet");
                tokio::time::sleep(RECONNECT_AFTER).await;
                continue;
            }
        };
        if let Err(e) = pubsub.subscribe(&channel).await {
            tracing::debug!(error = %e, "change relay: subscribe failed");
            tokio::time::sleep(RECONNECT_AFTER).await;
            continue;
        }
        let mut messages = pubsub.into_on_message();
        loop {
            tokio::select! {
                msg = messages.next() => {
                    let Some(msg) = msg else { break };
                    let text: String = msg.get_payload().unwrap_or_default();
                    if let Some(c) = parse(&instance, &text) {
                        feed.announce(c);
                    }
                }
                () = tokio::time::sleep(ALIVE_CHECK) => {}
            }
            if pybase.strong_count() == 0 {
                return;
            }
        }
        tokio::time::sleep(RECONNECT_AFTER).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_and_own_ones_are_ignored() {
        let c = Committed {
            base: BaseId::new(),
            last_seq: 42,
        };
        let text = message("a", c);
        assert_eq!(parse("b", &text), Some(c));
        assert_eq!(parse("a", &text), None);
        assert_eq!(parse("b", "garbage"), None);
        assert_eq!(parse("b", "a app 1"), None);
    }
}
