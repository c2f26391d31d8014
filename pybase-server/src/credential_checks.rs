//! Credential checks shared by long-lived responses (event streams).
//!
//! An event stream checks its caller's credential again before an event
//! goes out once the last check is older than a few seconds. A commit wakes
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
type LastCheck = Arc<tokio::sync::Mutex<Option<Instant>>>;

/// When each presented credential was last confirmed, shared by the
/// server's streams; cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct CredentialChecks(Arc<Mutex<HashMap<String, LastCheck>>>);

impl CredentialChecks {
    /// When `presented` was last confirmed by `auth`: now, after checking
    /// it, unless a stream confirmed it less than `fresh` ago. One check at
    /// a time per credential; a failed check is not remembered (each
    /// stream then checks on its own, and fails).
    ///
    /// # Errors
    /// The refusal of [`Auth::authenticate`].
    pub async fn confirm(
        &self,
        auth: &Auth,
        presented: &str,
        fresh: Duration,
    ) -> pybase_core::Result<Instant> {
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
        if let Some(at) = *last
            && at.elapsed() < fresh
        {
            return Ok(at);
        }
        auth.authenticate(presented).await?;
        let now = Instant::now();
        *last = Some(now);
        Ok(now)
    }
}
