//! Credential checks shared by long-lived responses (event streams).
//!
//! An event stream checks its caller's credential again before an event
//! goes out once the last check is older than a few seconds, or once a
//! revocation was applied since ([`Auth::revocation_count`]). A commit wakes
//! every stream at once, so a thousand streams opened with one credential
//! would otherwise check it a thousand times in the same instant; here the
//! streams presenting the same credential share one check, made by whichever
//! is first, while it is fresh.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use pybase_core::auth::Auth;

/// When one credential was last confirmed (`None`: not yet), locked by
/// the one check in flight.
type LastCheck = Arc<tokio::sync::Mutex<Option<Confirmed>>>;

/// A confirmation of a credential: when, and at which revocation count
/// (read before the check ran).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Confirmed {
    /// When the check ended.
    pub at: Instant,
    /// The revocation count it holds for.
    pub revocations: u64,
}

impl Confirmed {
    /// Whether it is younger than `fresh` and no revocation was applied
    /// by `auth` since.
    pub fn holds(&self, auth: &Auth, fresh: Duration) -> bool {
        self.revocations == auth.revocation_count() && self.at.elapsed() < fresh
    }
}

/// When each presented credential was last confirmed, shared by the
/// server's streams; cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct CredentialChecks(Arc<Mutex<HashMap<String, LastCheck>>>);

impl CredentialChecks {
    /// When `presented` was last confirmed by `auth`: now, after checking
    /// it, unless a stream confirmed it less than `fresh` ago and no
    /// revocation was applied since. One check at a time per credential; a
    /// failed check is not remembered (each stream then checks on its own,
    /// and fails).
    ///
    /// # Errors
    /// The refusal of [`Auth::authenticate`].
    pub async fn confirm(
        &self,
        auth: &Auth,
        presented: &str,
        fresh: Duration,
    ) -> pybase_core::Result<Confirmed> {
        let entry = {
            let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(e) = map.get(presented) {
                Arc::clone(e)
            } else {
                // Forget the credentials no stream is checking now.
                map.retain(|_, e| Arc::strong_count(e) > 1);
                let e = Arc::new(tokio::sync::Mutex::new(None));
                map.insert(presented.to_owned(), Arc::clone(&e));
                e
            }
        };
        let mut last = entry.lock().await;
        if let Some(c) = *last
            && c.holds(auth, fresh)
        {
            return Ok(c);
        }
        // Read before the check: a revocation during it calls for another.
        let revocations = auth.revocation_count();
        auth.authenticate(presented).await?;
        let confirmed = Confirmed {
            at: Instant::now(),
            revocations,
        };
        *last = Some(confirmed);
        Ok(confirmed)
    }
}
