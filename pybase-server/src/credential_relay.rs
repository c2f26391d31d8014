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
//! The relay itself is [`crate::redis_relay`]; the tasks end once the
//! service is gone.

use std::sync::Arc;

use pybase_core::auth::{Auth, Revocation};

use crate::redis_relay::{self, Relayed};

impl Relayed for Revocation {
    const NAME: &'static str = "credential";
    // A lost revocation is held by the others only for their TTL.
    const LOSS_MATTERS: bool = true;

    fn encode(&self) -> String {
        Self::encode(self)
    }

    fn decode(text: &str) -> Option<Self> {
        Self::decode(text)
    }
}

/// With `redis_url`, starts relaying `auth`'s revocations to the other
/// instances and theirs to it, on the channel `<prefix>credentials`.
///
/// # Errors
/// `redis_url` is not a valid Redis URL.
pub fn spawn(auth: &Arc<Auth>, redis_url: Option<&str>, prefix: &str) -> redis::RedisResult<()> {
    let Some(url) = redis_url else {
        return Ok(());
    };
    redis_relay::spawn(
        auth.revocations(),
        Arc::downgrade(auth),
        crate::cache::redis_client(url)?,
        format!("{prefix}credentials"),
        |auth: &Auth, r: Revocation| auth.apply_revocation(&r),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use pybase_core::ids::{ApiKeyId, UserId};

    #[test]
    fn revocations_round_trip_as_relay_text() {
        for r in [
            Revocation::User(UserId::at(1_800_000_000_000)),
            Revocation::ApiKey(ApiKeyId::new()),
            Revocation::Family("fam-1".into()),
        ] {
            assert_eq!(
                <Revocation as Relayed>::decode(&Relayed::encode(&r)),
                Some(r)
            );
        }
        assert_eq!(<Revocation as Relayed>::decode("key nope"), None);
    }
}
