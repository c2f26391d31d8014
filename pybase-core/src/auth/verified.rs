//! An in-process memory of credentials verified against the store, so that
//! a request presenting the same API key or access-token family again
//! within a short time needs neither the key's SHA-256 nor a store read.
//!
//! What is remembered, and what every hit still checks:
//! - **API keys**, by their public 12-character prefix: the whole presented
//!   key (compared in constant time with the one presented now), the
//!   principal it gives, and when the key was last marked used. Expiry is
//!   checked on every hit against the clock.
//! - **Session state** of an access token's family: when the user's tokens
//!   were last cut off (a password change or reset). Only families found
//!   unrevoked are remembered; the token's own issue time is compared on
//!   every hit.
//!
//! An entry is trusted for at most the cache's time to live, then read
//! again. Every revocation made through [`super::Auth`] on this instance
//! (key deletion, logout, reuse detection, password change or reset) drops
//! the entries it concerns before it returns, and bumps a generation
//! counter: a verification that read the store before the revocation and
//! finishes after it does not store its (stale) answer. Revocations made on
//! another server instance, or outside the service (a user deleted in the
//! database), are seen here after at most the time to live, or as soon as
//! they are relayed with [`super::Auth::apply_revocation`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use chrono::TimeDelta;

use crate::ids::{ApiKeyId, UserId};
use crate::model::Timestamp;
use crate::principal::Principal;

/// Most entries of each kind kept; a full map is emptied (the next requests
/// read the store again).
const MAX_ENTRIES: usize = 10_000;

/// A revocation one instance made, to be applied by the others (see
/// [`super::Auth::revocations`] and [`super::Auth::apply_revocation`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revocation {
    /// An API key was deleted.
    ApiKey(ApiKeyId),
    /// A session family was revoked (logout, refresh-token reuse).
    Family(String),
    /// Every session of a user issued so far was revoked (password change
    /// or reset), or the user is gone: their sessions and keys.
    User(UserId),
}

impl Revocation {
    /// A one-line text form (`key <id>`, `family <id>`, `user <id>`), for
    /// relaying between instances.
    pub fn encode(&self) -> String {
        match self {
            Self::ApiKey(id) => format!("key {id}"),
            Self::Family(f) => format!("family {f}"),
            Self::User(id) => format!("user {id}"),
        }
    }

    /// The revocation [`Revocation::encode`] wrote; `None` for any other text.
    pub fn decode(text: &str) -> Option<Self> {
        let (kind, value) = text.split_once(' ')?;
        match kind {
            "key" => value.parse().ok().map(Self::ApiKey),
            "family" if !value.is_empty() && value.len() <= 128 => {
                Some(Self::Family(value.to_owned()))
            }
            "user" => value.parse().ok().map(Self::User),
            _ => None,
        }
    }
}

/// A verified API key.
#[derive(Debug, Clone)]
pub(super) struct KeyEntry {
    /// The whole key as presented when it was verified.
    pub presented: Box<str>,
    /// What it gives.
    pub principal: Principal,
    /// When its use was last recorded in the store.
    pub last_used_at: Option<Timestamp>,
    /// When it was read from the store.
    pub verified_at: Timestamp,
}

/// A session family found unrevoked.
#[derive(Debug, Clone, Copy)]
struct SessionEntry {
    tokens_valid_after: Option<Timestamp>,
    verified_at: Timestamp,
}

/// The memory itself; see the module documentation.
#[derive(Debug)]
pub(super) struct VerifiedCache {
    ttl: TimeDelta,
    generation: AtomicU64,
    keys: Mutex<HashMap<Box<str>, KeyEntry>>,
    sessions: Mutex<HashMap<(UserId, Box<str>), SessionEntry>>,
}

fn fresh(verified_at: Timestamp, now: Timestamp, ttl: TimeDelta) -> bool {
    // A clock that went back counts as stale.
    verified_at <= now && now - verified_at < ttl
}

impl VerifiedCache {
    /// A cache trusting entries for `ttl`.
    pub(super) fn new(ttl: TimeDelta) -> Self {
        Self {
            ttl,
            generation: AtomicU64::new(0),
            keys: Mutex::default(),
            sessions: Mutex::default(),
        }
    }

    /// The generation to pass to the `remember_*` calls of a verification
    /// starting now.
    pub(super) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The entry of `prefix` if it holds exactly `presented` and is fresh.
    pub(super) fn key(&self, prefix: &str, presented: &str, now: Timestamp) -> Option<KeyEntry> {
        let keys = self.keys.lock().unwrap_or_else(PoisonError::into_inner);
        let e = keys.get(prefix)?;
        let same = e.presented.len() == presented.len()
            && bool::from(subtle::ConstantTimeEq::ct_eq(
                e.presented.as_bytes(),
                presented.as_bytes(),
            ));
        (same && fresh(e.verified_at, now, self.ttl)).then(|| e.clone())
    }

    /// Remembers a key verified by a check that started at `generation`.
    pub(super) fn remember_key(&self, prefix: &str, entry: KeyEntry, generation: u64) {
        let mut keys = self.keys.lock().unwrap_or_else(PoisonError::into_inner);
        // Checked under the lock that revocations also take.
        if self.generation() != generation {
            return;
        }
        if keys.len() >= MAX_ENTRIES && !keys.contains_key(prefix) {
            keys.clear();
        }
        keys.insert(prefix.into(), entry);
    }

    /// Records that the key of `prefix` was marked used at `at`.
    pub(super) fn key_used(&self, prefix: &str, at: Timestamp) {
        let mut keys = self.keys.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(e) = keys.get_mut(prefix) {
            e.last_used_at = Some(at);
        }
    }

    /// When the tokens of `user` were last cut off, if the family is
    /// remembered unrevoked and fresh (`Some(None)`: never cut off).
    pub(super) fn session(
        &self,
        user: UserId,
        family: &str,
        now: Timestamp,
    ) -> Option<Option<Timestamp>> {
        let sessions = self.sessions.lock().unwrap_or_else(PoisonError::into_inner);
        let e = sessions.get(&(user, Box::<str>::from(family)))?;
        fresh(e.verified_at, now, self.ttl).then_some(e.tokens_valid_after)
    }

    /// Remembers an unrevoked family read by a check that started at
    /// `generation`.
    pub(super) fn remember_session(
        &self,
        user: UserId,
        family: &str,
        tokens_valid_after: Option<Timestamp>,
        verified_at: Timestamp,
        generation: u64,
    ) {
        let mut sessions = self.sessions.lock().unwrap_or_else(PoisonError::into_inner);
        if self.generation() != generation {
            return;
        }
        let key = (user, Box::<str>::from(family));
        if sessions.len() >= MAX_ENTRIES && !sessions.contains_key(&key) {
            sessions.clear();
        }
        sessions.insert(
            key,
            SessionEntry {
                tokens_valid_after,
                verified_at,
            },
        );
    }

    /// Drops what `revocation` concerns. The generation moves while both
    /// maps are locked, so no check that read the store earlier can store
    /// its answer afterwards.
    pub(super) fn revoke(&self, revocation: &Revocation) {
        let mut keys = self.keys.lock().unwrap_or_else(PoisonError::into_inner);
        let mut sessions = self.sessions.lock().unwrap_or_else(PoisonError::into_inner);
        self.generation.fetch_add(1, Ordering::AcqRel);
        match revocation {
            Revocation::ApiKey(id) => keys.retain(|_, e| match &e.principal {
                Principal::ApiKey { id: k, .. } => k != id,
                Principal::User { .. } => true,
            }),
            Revocation::Family(f) => sessions.retain(|(_, fam), _| **fam != **f),
            Revocation::User(u) => {
                sessions.retain(|(user, _), _| user != u);
                keys.retain(|_, e| e.principal.user_id() != *u);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(ms: i64) -> Timestamp {
        chrono::DateTime::from_timestamp_millis(1_800_000_000_000 + ms).unwrap()
    }

    #[test]
    fn revocations_round_trip_as_text() {
        for r in [
            Revocation::ApiKey(ApiKeyId::at(1_800_000_000_000)),
            Revocation::Family("abcDEF_-12".into()),
            Revocation::User(UserId::at(1_800_000_000_001)),
        ] {
            assert_eq!(Revocation::decode(&r.encode()), Some(r));
        }
        for bad in ["", "key", "key nope", "family ", "user 12x", "other 1"] {
            assert_eq!(Revocation::decode(bad), None, "{bad}");
        }
    }

    #[test]
    fn entries_expire_and_a_stale_generation_is_not_stored() {
        let c = VerifiedCache::new(TimeDelta::seconds(2));
        let u = UserId::at(1_800_000_000_000);
        let g = c.generation();
        c.remember_session(u, "f", None, t(0), g);
        assert_eq!(c.session(u, "f", t(1_999)), Some(None));
        assert_eq!(c.session(u, "f", t(2_000)), None, "expired");
        assert_eq!(c.session(u, "f", t(-1)), None, "clock went back");
        c.revoke(&Revocation::Family("other".into()));
        c.remember_session(u, "g", None, t(0), g);
        assert_eq!(c.session(u, "g", t(0)), None, "read before a revocation");
    }
}
