//! Counting failed attempts (logins) per key, behind a small trait.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::TimeDelta;

use crate::clock::{Clock, SystemClock};
use crate::error::{Error, Result};
use crate::model::Timestamp;

/// Fixed-window failure counters keyed by strings such as
/// `login:email:ann@example.com` or `login:client:203.0.113.7`.
///
/// The shape maps onto Redis directly: `check` is `GET` + `PTTL`,
/// `record_failure` is `INCR` + `EXPIRE .. NX` (the window starts at the
/// first failure), `reset` is `DEL`.
///
/// # Failure policy
/// [`crate::auth::Auth`] passes errors from the limiter through unchanged
/// (they surface as [`Error::Internal`], so the login is refused: fail
/// closed). A limiter that prefers availability over protection when its
/// backend is down returns `Ok(())` from `check` instead, and says so.
#[async_trait]
pub trait RateLimiter: Send + Sync + Debug {
    /// `Err(Error::RateLimited { retry_after_secs })` when `key` has `limit`
    /// or more failures in its current window; `Ok(())` otherwise.
    async fn check(&self, key: &str, limit: u32) -> Result<()>;
    /// Counts one failure for `key`; the first failure opens a window of
    /// length `window`, after which the count starts again from zero.
    async fn record_failure(&self, key: &str, window: TimeDelta) -> Result<()>;
    /// Forgets `key`'s failures (a successful login).
    async fn reset(&self, key: &str) -> Result<()>;
}

/// How many failed logins are allowed before answering `RateLimited`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginLimits {
    /// Failures allowed per (lowercased) email within `window`.
    pub per_email: u32,
    /// Failures allowed per client address within `window` (higher: many
    /// users can share one address).
    pub per_client: u32,
    /// Length of a counting window, from the first failure.
    pub window: TimeDelta,
}

impl Default for LoginLimits {
    /// 10 failures per email and 50 per client address in 15 minutes.
    fn default() -> Self {
        Self {
            per_email: 10,
            per_client: 50,
            window: TimeDelta::minutes(15),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Window {
    count: u32,
    ends_at: Timestamp,
}

/// An in-process [`RateLimiter`] driven by a [`Clock`]: correct for a single
/// server instance (several instances need a shared one, e.g. Redis).
#[derive(Debug, Clone)]
pub struct MemoryRateLimiter {
    clock: Arc<dyn Clock>,
    windows: Arc<Mutex<HashMap<String, Window>>>,
}

/// Above this many tracked keys, expired windows are swept on each write,
/// so the map cannot grow without bound under a spray of distinct keys.
const SWEEP_ABOVE: usize = 10_000;

impl MemoryRateLimiter {
    /// A limiter on the system clock.
    pub fn new() -> Self {
        Self::with_clock(Arc::new(SystemClock))
    }

    /// A limiter on `clock` (tests pass a [`crate::clock::ManualClock`]).
    pub fn with_clock(clock: Arc<dyn Clock>) -> Self {
        Self {
            clock,
            windows: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Window>> {
        self.windows.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Default for MemoryRateLimiter {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl RateLimiter for MemoryRateLimiter {
    async fn check(&self, key: &str, limit: u32) -> Result<()> {
        let now = self.clock.now();
        let windows = self.lock();
        match windows.get(key) {
            Some(w) if w.ends_at > now && w.count >= limit => {
                let ms = (w.ends_at - now).num_milliseconds();
                let secs = u64::try_from((ms + 999) / 1000).unwrap_or(1).max(1);
                Err(Error::RateLimited {
                    retry_after_secs: secs,
                })
            }
            _ => Ok(()),
        }
    }

    async fn record_failure(&self, key: &str, window: TimeDelta) -> Result<()> {
        let now = self.clock.now();
        let mut windows = self.lock();
        if windows.len() > SWEEP_ABOVE {
            windows.retain(|_, w| w.ends_at > now);
        }
        let w = windows.entry(key.to_owned()).or_insert(Window {
            count: 0,
            ends_at: now + window,
        });
        if w.ends_at <= now {
            *w = Window {
                count: 0,
                ends_at: now + window,
            };
        }
        w.count = w.count.saturating_add(1);
        Ok(())
    }

    async fn reset(&self, key: &str) -> Result<()> {
        self.lock().remove(key);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::clock::ManualClock;

    use super::*;

    #[tokio::test]
    async fn limits_within_a_window_and_forgets_after_it() {
        let clock = Arc::new(ManualClock::new());
        let l = MemoryRateLimiter::with_clock(clock.clone());
        let w = TimeDelta::minutes(15);
        for _ in 0..3 {
            l.check("k", 3).await.unwrap();
            l.record_failure("k", w).await.unwrap();
        }
        let err = l.check("k", 3).await.unwrap_err();
        assert!(
            matches!(
                err,
                Error::RateLimited {
                    retry_after_secs: 900
                }
            ),
            "{err:?}"
        );
        // Other keys are unaffected.
        l.check("other", 3).await.unwrap();
        clock.advance(TimeDelta::minutes(10));
        let err = l.check("k", 3).await.unwrap_err();
        assert!(
            matches!(
                err,
                Error::RateLimited {
                    retry_after_secs: 300
                }
            ),
            "{err:?}"
        );
        clock.advance(TimeDelta::minutes(5));
        l.check("k", 3).await.unwrap();
        // A new window starts from zero.
        l.record_failure("k", w).await.unwrap();
        l.check("k", 2).await.unwrap();
    }

    #[tokio::test]
    async fn reset_clears_a_key() {
        let l = MemoryRateLimiter::new();
        l.record_failure("k", TimeDelta::minutes(1)).await.unwrap();
        assert!(l.check("k", 1).await.is_err());
        l.reset("k").await.unwrap();
        l.check("k", 1).await.unwrap();
    }
}
