//! Relaying access changes between server instances (Redis pub/sub), so
//! that a member removed, a role changed or a base or workspace deleted on
//! one instance also makes the others' event streams of that workspace
//! check access again before their next event
//! ([`Pybase::access_changes`], [`Pybase::apply_access_change`]).
//!
//! A message is `<instance> workspace <id>` on the channel
//! `<prefix>access`. A lost message (Redis down, a subscriber
//! reconnecting) is not fatal: every stream checks access again at least
//! every 5 s while events flow, so that is the bound on how long another
//! instance's stream can still deliver to someone who lost access. With
//! the relay up, the bound is the relay's latency.
//!
//! The relay itself is [`crate::redis_relay`]; the tasks end once the
//! facade is gone.

use std::sync::Arc;

use pybase_core::Pybase;
use pybase_core::facade::AccessChange;

use crate::redis_relay::{self, Relayed};

impl Relayed for AccessChange {
    const NAME: &'static str = "access";
    // A lost change holds the others' streams only until their periodic
    // check.
    const LOSS_MATTERS: bool = true;

    fn encode(&self) -> String {
        Self::encode(self)
    }

    fn decode(text: &str) -> Option<Self> {
        Self::decode(text)
    }
}

/// With `redis_url`, starts relaying `pybase`'s access changes to the
/// other instances and theirs to it, on the channel `<prefix>access`.
///
/// # Errors
/// `redis_url` is not a valid Redis URL.
pub fn spawn(
    pybase: &Arc<Pybase>,
    redis_url: Option<&str>,
    prefix: &str,
) -> redis::RedisResult<()> {
    let Some(url) = redis_url else {
        return Ok(());
    };
    redis_relay::spawn(
        pybase.access_changes(),
        Arc::downgrade(pybase),
        crate::cache::redis_client(url)?,
        format!("{prefix}access"),
        |pb: &Pybase, c: AccessChange| pb.apply_access_change(c),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use pybase_core::ids::WorkspaceId;

    #[test]
    fn access_changes_round_trip_as_relay_text() {
        let c = AccessChange::Workspace(WorkspaceId::new());
        assert_eq!(
            <AccessChange as Relayed>::decode(&Relayed::encode(&c)),
            Some(c)
        );
        assert_eq!(<AccessChange as Relayed>::decode("workspace nope"), None);
    }
}
