//! The `/v0` rate limit (AIRTABLE.md §4): a token bucket per (credential,
//! base) refilled at `AIRTABLE_RATE_LIMIT_PER_BASE` tokens a second, holding
//! as many; `0` turns it off. A refused request has had no effect and is
//! told how many whole seconds until the next token (`Retry-After`).
//!
//! With Redis the buckets live there (one script reads, refills and takes
//! a token atomically, on Redis's clock), so every instance shares them;
//! when Redis does not answer, buckets are kept in this process until it
//! does (like the login limiter in [`crate::cache`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::cache::{RedisCache, SharedCache};

/// Reads, refills and takes one token; answers 1 when taken, else minus
/// the milliseconds until the next token.
const TAKE_SCRIPT: &str = r"
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local v = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(v[1]) or burst
local ts = tonumber(v[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate / 1000)
local ttl = math.ceil(burst * 1000 / rate) + 1000
if tokens < 1 then
  redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
  redis.call('PEXPIRE', KEYS[1], ttl)
  return -math.max(1, math.ceil((1 - tokens) * 1000 / rate))
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens - 1), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], ttl)
return 1
";

/// Most buckets kept in process before idle full ones are dropped.
const MAX_LOCAL_BUCKETS: usize = 100_000;

/// One bucket in this process.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Token buckets per (credential, base).
#[derive(Clone)]
pub struct V0RateLimiter {
    per_second: u32,
    redis: Option<RedisCache>,
    local: Arc<Mutex<HashMap<String, Bucket>>>,
}

impl std::fmt::Debug for V0RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("V0RateLimiter")
            .field("per_second", &self.per_second)
            .field("shared", &self.redis.is_some())
            .finish_non_exhaustive()
    }
}

impl V0RateLimiter {
    /// Buckets of `per_second` tokens (0: no limit), in Redis when `cache`
    /// is Redis.
    pub fn new(per_second: u32, cache: &SharedCache) -> Self {
        Self {
            per_second,
            redis: match cache {
                SharedCache::Redis(r) => Some(r.clone()),
                SharedCache::InProcess => None,
            },
            local: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// Takes a token of `credential`'s bucket for `base`; `Err(seconds)`
    /// until the next one when the bucket is empty.
    pub async fn take(&self, credential: &str, base: &str) -> Result<(), u64> {
        if self.per_second == 0 {
            return Ok(());
        }
        let key = format!("{credential}:{base}");
        if let Some(redis) = &self.redis {
            let mut cmd = redis::cmd("EVAL");
            cmd.arg(TAKE_SCRIPT)
                .arg(1)
                .arg(redis.key("v0rl", &key))
                .arg(self.per_second)
                .arg(self.per_second);
            match redis.query::<i64>(&cmd).await {
                Ok(n) if n < 0 => return Err(n.unsigned_abs().div_ceil(1000).max(1)),
                Ok(_) => return Ok(()),
                Err(e) => {
                    tracing::warn!(error = %e, "/v0 rate limit counted in this process only: redis is down");
                }
            }
        }
        self.take_local(&key, Instant::now())
    }

    fn take_local(&self, key: &str, now: Instant) -> Result<(), u64> {
        let rate = f64::from(self.per_second);
        let mut buckets = match self.local.lock() {
            Ok(b) => b,
            // A panic while holding the lock left plain numbers behind.
            Err(poisoned) => poisoned.into_inner(),
        };
        if buckets.len() >= MAX_LOCAL_BUCKETS && !buckets.contains_key(key) {
            buckets.retain(|_, b| {
                b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * rate < rate
            });
        }
        let bucket = buckets.entry(key.to_owned()).or_insert(Bucket {
            tokens: rate,
            at: now,
        });
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(rate);
        bucket.at = now;
        if bucket.tokens < 1.0 {
            let wait = (1.0 - bucket.tokens) / rate;
            // Whole seconds, at least one.
            let secs = wait.ceil().max(1.0);
            return Err(if secs.is_finite() && secs < 3600.0 {
                secs as u64
            } else {
                1
            });
        }
        bucket.tokens -= 1.0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_bucket_holds_its_rate_and_refills() {
        let l = V0RateLimiter::new(3, &SharedCache::InProcess);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(l.take_local("k:app", t0), Ok(()));
        }
        assert_eq!(l.take_local("k:app", t0), Err(1));
        // Another base, another bucket.
        assert_eq!(l.take_local("k:other", t0), Ok(()));
        // A third of a second gives one token back.
        let later = t0 + Duration::from_millis(340);
        assert_eq!(l.take_local("k:app", later), Ok(()));
        assert_eq!(l.take_local("k:app", later), Err(1));
    }

    #[tokio::test]
    async fn zero_means_no_limit() {
        let l = V0RateLimiter::new(0, &SharedCache::InProcess);
        for _ in 0..1000 {
            assert_eq!(l.take("k", "app").await, Ok(()));
        }
    }
}
