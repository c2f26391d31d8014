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
use pybase_core::Pybase;
use pybase_core::store::Committed;

use crate::redis_relay::{self, Relayed};

/// How often old events are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);
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
        redis_relay::spawn(
            pybase.local_changes(),
            Arc::downgrade(pybase),
            crate::cache::redis_client(url)?,
            format!("{prefix}changes"),
            |pb: &Pybase, c: Committed| pb.remote_changes().announce(c),
        );
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

impl Relayed for Committed {
    const NAME: &'static str = "change";
    // A lost wake-up delays an event by one poll period at most.
    const LOSS_MATTERS: bool = false;

    /// `<base> <last seq>`.
    fn encode(&self) -> String {
        format!("{} {}", self.base, self.last_seq)
    }

    fn decode(text: &str) -> Option<Self> {
        let (base, seq) = text.split_once(' ')?;
        Some(Self {
            base: base.parse().ok()?,
            last_seq: seq.parse().ok()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pybase_core::ids::BaseId;

    #[test]
    fn commits_round_trip_as_relay_text() {
        let c = Committed {
            base: BaseId::new(),
            last_seq: 42,
        };
        assert_eq!(Committed::decode(&c.encode()), Some(c));
        assert_eq!(Committed::decode("garbage"), None);
        assert_eq!(Committed::decode("app 1"), None);
    }
}
