//! Counting failed attempts (logins) per key, behind a small trait.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::TimeDelta;

use crate::clock::{Clock, SystemClock};
use crate::error::{Error, Result};
use crate::model::Timestamp;

/// Fixed-window attempt counters keyed by strings such as
/// `login:email:ann@example.com` or `login:client:203.0.113.7`.
///
/// An attempt is counted *before* the work it guards (a password check, a
/// mail), in one atomic step with the limit check, so concurrent attempts
/// cannot all pass a check made before any of them is counted. A caller
/// whose attempt succeeded gives it back with [`RateLimiter::release`] (or
/// forgets the key with [`RateLimiter::reset`]).
///
/// The shape maps onto Redis directly: `acquire` is one script (`GET`, then
/// `INCR` + `PEXPIRE` on the first attempt, or the remaining `PTTL` when
/// full), `release` is `DECR` above zero, `reset` is `DEL`.
///
/// # Failure policy
/// [`crate::auth::Auth`] passes errors from the limiter through unchanged
/// (they surface as [`Error::Internal`], so the attempt is refused: fail
/// closed). A limiter whose shared backend is down should fall back to a
/// local count rather than stop counting, and say so.
#[async_trait]
pub trait RateLimiter: Send + Sync + Debug {
    /// Counts one attempt for `key`, or refuses it with
    /// `Err(Error::RateLimited { retry_after_secs })` (not counted) when the
    /// current window already holds `limit` attempts. The first attempt opens
    /// a window of length `window`, after which the count starts again.
    async fn acquire(&self, key: &str, limit: u32, window: TimeDelta) -> Result<()>;
    /// Gives back one counted attempt of `key` (one that succeeded).
    async fn release(&self, key: &str) -> Result<()>;
    /// Forgets `key`'s attempts (a successful login clears its email).
    async fn reset(&self, key: &str) -> Result<()>;
}

/// The throttles of the unauthenticated and password endpoints. Every
/// count is kept per key in a [`RateLimiter`]; each attempt is counted
/// before its work starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthLimits {
    /// Login attempts per (lowercased) email from one client address within
    /// `window` (per email alone when the client is unknown); a successful
    /// login clears the count. Someone guessing from one address locks only
    /// that address out of the account, never its owner elsewhere.
    pub login_per_email_client: u32,
    /// Login attempts per email from all addresses together within `window`:
    /// the ceiling on guessing spread over many addresses. A successful
    /// login gives its own attempt back but keeps the others' failures.
    pub login_per_email: u32,
    /// Failed login attempts per client address within `window` (higher:
    /// many users can share one address). Successful logins are given back.
    pub login_per_client: u32,
    /// Length of a login counting window, from the first attempt.
    pub window: TimeDelta,
    /// Registrations per client address within `slow_window`.
    pub register_per_client: u32,
    /// Password-reset requests per email within `slow_window` (known or not,
    /// so the answer says nothing about the account).
    pub reset_per_email: u32,
    /// Password-reset requests per client address within `slow_window`.
    pub reset_per_client: u32,
    /// Length of the registration and reset counting windows.
    pub slow_window: TimeDelta,
    /// Argon2 hashes and verifications running at once; more wait in line
    /// (up to `hash_wait`), so a burst cannot take every core and gigabytes
    /// of memory.
    pub hash_concurrency: usize,
    /// How long an attempt waits for a hashing slot before it is refused
    /// with `RateLimited`.
    pub hash_wait: std::time::Duration,
}

impl Default for AuthLimits {
    /// Logins: 10 attempts per email from one client, 100 per email from
    /// all clients and 50 failures per client in 15 minutes; per client and hour 20 registrations and 20 reset requests;
    /// 5 reset requests per email and hour; Argon2 on all cores but one
    /// (at least one run at a time, so one core always serves requests),
    /// waiting at most 10 seconds.
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        Self {
            login_per_email_client: 10,
            login_per_email: 100,
            login_per_client: 50,
            window: TimeDelta::minutes(15),
            register_per_client: 20,
            reset_per_email: 5,
            reset_per_client: 20,
            slow_window: TimeDelta::hours(1),
            hash_concurrency: cores.saturating_sub(1).max(1),
            hash_wait: std::time::Duration::from_secs(10),
        }
    }
}

/// The limiter key of a client address: an IPv4 address as it is, an IPv6
/// address by its /64 prefix (one subscriber's allocation, so rotating
/// addresses inside it does not buy a fresh budget), an IPv4-mapped IPv6
/// address as its IPv4 form, anything else (not an address) as given, cut
/// to 64 bytes.
pub fn client_key(client: &str) -> String {
    use std::net::IpAddr;
    match client.trim().parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => v4.to_string(),
        Ok(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
        Err(_) => {
            let mut end = client.len().min(64);
            while !client.is_char_boundary(end) {
                end -= 1;
            }
            client[..end].to_owned()
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

/// The seconds left until `ends_at`, at least 1.
fn retry_after(ends_at: Timestamp, now: Timestamp) -> u64 {
    let ms = (ends_at - now).num_milliseconds();
    u64::try_from((ms + 999) / 1000).unwrap_or(1).max(1)
}

#[async_trait]
impl RateLimiter for MemoryRateLimiter {
    async fn acquire(&self, key: &str, limit: u32, window: TimeDelta) -> Result<()> {
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
        if w.count >= limit {
            return Err(Error::RateLimited {
                retry_after_secs: retry_after(w.ends_at, now),
            });
        }
        w.count += 1;
        Ok(())
    }

    async fn release(&self, key: &str) -> Result<()> {
        if let Some(w) = self.lock().get_mut(key) {
            w.count = w.count.saturating_sub(1);
        }
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

    fn limited(r: Result<()>) -> Option<u64> {
        match r {
            Err(Error::RateLimited { retry_after_secs }) => Some(retry_after_secs),
            Ok(()) => None,
            Err(e) => panic!("unexpected {e:?}"),
        }
    }

    #[tokio::test]
    async fn limits_within_a_window_and_forgets_after_it() {
        let clock = Arc::new(ManualClock::new());
        let l = MemoryRateLimiter::with_clock(clock.clone());
        let w = TimeDelta::minutes(15);
        for _ in 0..3 {
            l.acquire("k", 3, w).await.unwrap();
        }
        assert_eq!(limited(l.acquire("k", 3, w).await), Some(900));
        // Other keys are unaffected.
        l.acquire("other", 3, w).await.unwrap();
        clock.advance(TimeDelta::minutes(10));
        assert_eq!(limited(l.acquire("k", 3, w).await), Some(300));
        clock.advance(TimeDelta::minutes(5));
        // A new window starts from zero.
        for _ in 0..3 {
            l.acquire("k", 3, w).await.unwrap();
        }
        assert!(limited(l.acquire("k", 3, w).await).is_some());
    }

    #[tokio::test]
    async fn concurrent_acquires_pass_at_most_the_limit() {
        let l = MemoryRateLimiter::new();
        let w = TimeDelta::minutes(1);
        let results = futures::future::join_all((0..50).map(|_| l.acquire("burst", 10, w))).await;
        assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 10);
    }

    #[tokio::test]
    async fn release_gives_back_one_attempt_and_reset_all() {
        let l = MemoryRateLimiter::new();
        let w = TimeDelta::minutes(1);
        l.acquire("k", 2, w).await.unwrap();
        l.acquire("k", 2, w).await.unwrap();
        assert!(limited(l.acquire("k", 2, w).await).is_some());
        l.release("k").await.unwrap();
        l.acquire("k", 2, w).await.unwrap();
        l.reset("k").await.unwrap();
        l.acquire("k", 2, w).await.unwrap();
        l.acquire("k", 2, w).await.unwrap();
        // Releasing an unknown key is harmless.
        l.release("nobody").await.unwrap();
    }

    #[test]
    fn client_keys_group_ipv6_by_64_and_bound_the_rest() {
        assert_eq!(client_key("203.0.113.9"), "203.0.113.9");
        assert_eq!(client_key("2001:db8::1"), "2001:db8:0:0::/64");
        assert_eq!(client_key("2001:db8::3c"), client_key("2001:db8::ffff:1"));
        assert_ne!(client_key("2001:db8::1"), client_key("2001:db8:0:1::1"));
        assert_eq!(client_key("::ffff:198.51.100.7"), "198.51.100.7");
        assert_eq!(client_key(&"é".repeat(100)).len(), 64);
    }
}
