//! One way for server instances to tell each other things over Redis
//! pub/sub: what an instance broadcasts locally is published on a channel
//! as `<instance> <text>`, and every other instance decodes and applies it.
//! The change log's wake-ups ([`crate::changes_relay`]), credential
//! revocations ([`crate::credential_relay`]) and access changes
//! ([`crate::access_relay`]) all travel this way.
//!
//! Pub/sub is best effort: a message is lost while Redis is down or a
//! subscriber reconnects, so what is relayed must be safe to lose (each
//! user of the relay says what bounds the loss). The tasks hold no strong
//! reference to what they serve: they end once it is gone.

use std::sync::Weak;
use std::time::Duration;

use futures::StreamExt as _;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::broadcast::{self, error::RecvError};

/// How long the subscriber waits before reconnecting to Redis.
const RECONNECT_AFTER: Duration = Duration::from_secs(1);
/// How often an idle subscriber checks that what it serves still exists.
const ALIVE_CHECK: Duration = Duration::from_secs(5);

/// Something one instance tells the others: its text form on the channel.
pub trait Relayed: Sized + Clone + Send + 'static {
    /// What the relay carries, for its log lines (`change relay`).
    const NAME: &'static str;
    /// Whether a message lost locally (the publisher fell behind) is worth
    /// a warning; otherwise it is logged at debug level.
    const LOSS_MATTERS: bool;
    /// The text form (no newline).
    fn encode(&self) -> String;
    /// Reads a text form back; `None` for anything else.
    fn decode(text: &str) -> Option<Self>;
}

/// Starts publishing what `local` yields on `channel` and applying what
/// the other instances publish there with `apply`, while `owner` exists.
pub fn spawn<T, O, F>(
    local: broadcast::Receiver<T>,
    owner: Weak<O>,
    client: redis::Client,
    channel: String,
    apply: F,
) where
    T: Relayed,
    O: Send + Sync + 'static,
    F: Fn(&O, T) + Send + 'static,
{
    let instance = format!("{:016x}", rand::random::<u64>());
    tokio::spawn(publish(
        local,
        client.clone(),
        channel.clone(),
        instance.clone(),
    ));
    tokio::spawn(subscribe(owner, client, channel, instance, apply));
}

/// A message announcing `item` from `instance`.
fn message<T: Relayed>(instance: &str, item: &T) -> String {
    format!("{instance} {}", item.encode())
}

/// What a message announces, unless it came from `instance` itself.
fn parse<T: Relayed>(instance: &str, text: &str) -> Option<T> {
    let (from, rest) = text.split_once(' ')?;
    if from == instance {
        return None;
    }
    T::decode(rest)
}

/// Publishes this instance's items; ends when their sender is gone.
async fn publish<T: Relayed>(
    mut local: broadcast::Receiver<T>,
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
            tracing::warn!(error = %e, relay = T::NAME, "relay cannot use redis");
            return;
        }
    };
    loop {
        let item = match local.recv().await {
            Ok(item) => item,
            Err(RecvError::Lagged(n)) => {
                if T::LOSS_MATTERS {
                    tracing::warn!(lost = n, relay = T::NAME, "relay fell behind");
                } else {
                    tracing::debug!(lost = n, relay = T::NAME, "relay fell behind");
                }
                continue;
            }
            Err(RecvError::Closed) => return,
        };
        let r: redis::RedisResult<i64> = redis::cmd("PUBLISH")
            .arg(&channel)
            .arg(message(&instance, &item))
            .query_async(&mut con)
            .await;
        if let Err(e) = r {
            tracing::debug!(error = %e, relay = T::NAME, "relay publish failed");
        }
    }
}

/// Applies other instances' items; reconnects after failures; ends when
/// `owner` is gone.
async fn subscribe<T, O, F>(
    owner: Weak<O>,
    client: redis::Client,
    channel: String,
    instance: String,
    apply: F,
) where
    T: Relayed,
    F: Fn(&O, T),
{
    loop {
        if owner.strong_count() == 0 {
            return;
        }
        let mut pubsub = match client.get_async_pubsub().await {
            Ok(p) => p,
            Err(e) => {
                tracing::debug!(error = %e, relay = T::NAME, "relay cannot subscribe yet");
                tokio::time::sleep(RECONNECT_AFTER).await;
                continue;
            }
        };
        if let Err(e) = pubsub.subscribe(&channel).await {
            tracing::debug!(error = %e, relay = T::NAME, "relay subscribe failed");
            tokio::time::sleep(RECONNECT_AFTER).await;
            continue;
        }
        let mut messages = pubsub.into_on_message();
        loop {
            tokio::select! {
                msg = messages.next() => {
                    let Some(msg) = msg else { break };
                    let text: String = msg.get_payload().unwrap_or_default();
                    if let Some(item) = parse::<T>(&instance, &text)
                        && let Some(o) = owner.upgrade()
                    {
                        apply(&o, item);
                    }
                }
                () = tokio::time::sleep(ALIVE_CHECK) => {}
            }
            if owner.strong_count() == 0 {
                return;
            }
        }
        tokio::time::sleep(RECONNECT_AFTER).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, PartialEq)]
    struct Word(String);

    impl Relayed for Word {
        const NAME: &'static str = "test";
        const LOSS_MATTERS: bool = false;
        fn encode(&self) -> String {
            self.0.clone()
        }
        fn decode(text: &str) -> Option<Self> {
            (!text.is_empty() && !text.contains(' ')).then(|| Self(text.to_owned()))
        }
    }

    #[test]
    fn messages_round_trip_and_own_ones_are_ignored() {
        let text = message("a", &Word("hello".into()));
        assert_eq!(parse::<Word>("b", &text), Some(Word("hello".into())));
        assert_eq!(parse::<Word>("a", &text), None);
        assert_eq!(parse::<Word>("b", "garbage"), None);
        assert_eq!(parse::<Word>("b", "a two words"), None);
    }
}
