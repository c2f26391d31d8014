//! Revoked access tokens, behind a small trait.
//!
//! Access tokens are stateless JWTs; this list is what lets logout and
//! password changes stop them before they expire. Entries only need to live
//! as long as the tokens they stop (the access-token lifetime), so the list
//! stays small.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use crate::clock::{Clock, SystemClock};
use crate::error::Result;
use crate::ids::UserId;
use crate::model::Timestamp;

/// What the revocation list needs to know about a presented token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IssuedToken<'a> {
    /// The token's session family.
    pub family_id: &'a str,
    /// The user it was issued to.
    pub user_id: UserId,
    /// When it was issued (millisecond precision).
    pub issued_at: Timestamp,
}

/// Families and per-user cut-offs whose access tokens are no longer accepted.
///
/// A Redis implementation is natural: `revoke_family` is
/// `SET revoked:fam:<id> 1 PXAT <until>`, `revoke_user_before` keeps the
/// largest cut-off in `revoked:usr:<id>` with `PXAT <until>`, and
/// `is_revoked` is one `MGET` of both keys.
///
/// # Failure policy
/// [`crate::auth::Auth`] fails closed: an error from `is_revoked` refuses the
/// request (as [`crate::Error::Internal`]), and an error from a revoke call
/// is returned to the caller of logout or password change.
#[async_trait]
pub trait RevocationList: Send + Sync + Debug {
    /// Stops every token of `family_id`; the entry may be forgotten after `until`.
    async fn revoke_family(&self, family_id: &str, until: Timestamp) -> Result<()>;
    /// Stops every token of `user_id` issued at or before `cutoff`; the entry
    /// may be forgotten after `until`. A later cut-off replaces an earlier one,
    /// never the reverse.
    async fn revoke_user_before(
        &self,
        user_id: UserId,
        cutoff: Timestamp,
        until: Timestamp,
    ) -> Result<()>;
    /// Whether `token` was stopped by either kind of entry.
    async fn is_revoked(&self, token: &IssuedToken<'_>) -> Result<bool>;
}

#[derive(Debug, Default)]
struct Entries {
    families: HashMap<String, Timestamp>,
    /// user -> (cutoff, until)
    users: HashMap<UserId, (Timestamp, Timestamp)>,
}

/// An in-process [`RevocationList`] driven by a [`Clock`]: correct for a
/// single server instance (several instances need a shared one).
#[derive(Debug, Clone)]
pub struct MemoryRevocationList {
    clock: Arc<dyn Clock>,
    entries: Arc<Mutex<Entries>>,
}

impl MemoryRevocationList {
    /// A list on the system clock.
    pub fn new() -> Self {
        Self::with_clock(Arc::new(SystemClock))
    }

    /// A list on `clock`.
    pub fn with_clock(clock: Arc<dyn Clock>) -> Self {
        Self {
            clock,
            entries: Arc::new(Mutex::new(Entries::default())),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Drops entries whose tokens have all expired.
    fn sweep(entries: &mut Entries, now: Timestamp) {
        entries.families.retain(|_, until| *until > now);
        entries.users.retain(|_, (_, until)| *until > now);
    }
}

impl Default for MemoryRevocationList {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl RevocationList for MemoryRevocationList {
    async fn revoke_family(&self, family_id: &str, until: Timestamp) -> Result<()> {
        let now = self.clock.now();
        let mut e = self.lock();
        Self::sweep(&mut e, now);
        let slot = e.families.entry(family_id.to_owned()).or_insert(until);
        *slot = (*slot).max(until);
        Ok(())
    }

    async fn revoke_user_before(
        &self,
        user_id: UserId,
        cutoff: Timestamp,
        until: Timestamp,
    ) -> Result<()> {
        let now = self.clock.now();
        let mut e = self.lock();
        Self::sweep(&mut e, now);
        let slot = e.users.entry(user_id).or_insert((cutoff, until));
        *slot = (slot.0.max(cutoff), slot.1.max(until));
        Ok(())
    }

    async fn is_revoked(&self, token: &IssuedToken<'_>) -> Result<bool> {
        let now = self.clock.now();
        let e = self.lock();
        let family = e
            .families
            .get(token.family_id)
            .is_some_and(|until| *until > now);
        let user = e
            .users
            .get(&token.user_id)
            .is_some_and(|(cutoff, until)| *until > now && token.issued_at <= *cutoff);
        Ok(family || user)
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;

    use crate::clock::ManualClock;

    use super::*;

    #[tokio::test]
    async fn families_and_user_cutoffs() {
        let clock = Arc::new(ManualClock::new());
        let list = MemoryRevocationList::with_clock(clock.clone());
        let user = UserId::new();
        let t0 = clock.now();
        let tok = |fam: &'static str, at: Timestamp| IssuedToken {
            family_id: fam,
            user_id: user,
            issued_at: at,
        };
        assert!(!list.is_revoked(&tok("a", t0)).await.unwrap());
        let until = t0 + TimeDelta::minutes(30);
        list.revoke_family("a", until).await.unwrap();
        assert!(list.is_revoked(&tok("a", t0)).await.unwrap());
        assert!(!list.is_revoked(&tok("b", t0)).await.unwrap());

        list.revoke_user_before(user, t0, until).await.unwrap();
        assert!(list.is_revoked(&tok("b", t0)).await.unwrap());
        let later = t0 + TimeDelta::milliseconds(1);
        assert!(!list.is_revoked(&tok("b", later)).await.unwrap());
        // An earlier cut-off never replaces a later one.
        list.revoke_user_before(user, t0 - TimeDelta::seconds(5), until)
            .await
            .unwrap();
        assert!(list.is_revoked(&tok("b", t0)).await.unwrap());

        // Entries lapse after `until`.
        clock.advance(TimeDelta::minutes(30));
        assert!(!list.is_revoked(&tok("a", t0)).await.unwrap());
        assert!(!list.is_revoked(&tok("b", t0)).await.unwrap());
    }
}
