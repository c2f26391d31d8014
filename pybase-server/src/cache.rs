//! State shared between server instances: the rate limits of logins,
//! registrations and password resets. (Token revocations live in the
//! database, which every instance shares, so they hold across restarts and
//! Redis outages.)
//!
//! With `REDIS_URL`, the counts live in Redis (through a
//! [`ConnectionManager`], which reconnects on its own). Without it, core's
//! in-process limiter is used and only one server instance may run.
//!
//! # When Redis goes away at run time
//! - Rate limits **degrade to per instance**: attempts are counted in this
//!   process (and a warning logged) until Redis answers again, so an outage
//!   neither locks every user out nor switches throttling off.
//! - `/health` reports the cache as down until a `PING` succeeds again.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use chrono::TimeDelta;
use pybase_core::auth::{MemoryRateLimiter, RateLimiter};
use pybase_core::{Error as CoreError, Result as CoreResult};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

/// How long a Redis command may take before the cache counts as down.
const RESPONSE_TIMEOUT: Duration = Duration::from_millis(500);

/// A Redis connection with the key prefix of this deployment and a record
/// of whether the last command succeeded.
#[derive(Clone)]
pub struct RedisCache {
    manager: ConnectionManager,
    prefix: Arc<str>,
    healthy: Arc<AtomicBool>,
}

impl std::fmt::Debug for RedisCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisCache")
            .field("prefix", &self.prefix)
            .field("healthy", &self.healthy.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// A Redis client for `url` whose TCP connections disable Nagle's
/// algorithm (redis-rs leaves it on): a command or pipeline written in
/// more than one segment would otherwise wait up to 40 ms for the
/// server's delayed acknowledgement. Every Redis user of the server
/// (cache, relays) connects through it.
pub fn redis_client(url: &str) -> redis::RedisResult<redis::Client> {
    use redis::IntoConnectionInfo as _;
    let info = url
        .into_connection_info()?
        .set_tcp_settings(redis::io::tcp::TcpSettings::default().set_nodelay(true));
    redis::Client::open(info)
}

impl RedisCache {
    /// A cache on `url`. Connects lazily: the server starts even while Redis
    /// is down, and reconnects when it comes back.
    pub fn connect(url: &str, prefix: &str) -> redis::RedisResult<Self> {
        let client = redis_client(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(1)))
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_secs(2));
        let manager = ConnectionManager::new_lazy_with_config(client, config)?;
        Ok(Self {
            manager,
            prefix: prefix.into(),
            healthy: Arc::new(AtomicBool::new(true)),
        })
    }

    /// The Redis key of `id` among keys of `kind`, under this deployment's prefix.
    pub(crate) fn key(&self, kind: &str, id: &str) -> String {
        format!("{}{kind}:{id}", self.prefix)
    }

    /// Notes the outcome of a command, logging transitions once.
    fn note<T>(&self, r: redis::RedisResult<T>) -> redis::RedisResult<T> {
        let ok = r.is_ok();
        let was = self.healthy.swap(ok, Ordering::Relaxed);
        match (&r, was) {
            (Err(e), true) => {
                tracing::warn!(error = %e, "redis is unreachable; rate limits count per instance")
            }
            (Ok(_), false) => tracing::info!("redis is reachable again"),
            _ => {}
        }
        r
    }

    /// A real round trip (`PING`).
    pub async fn ping(&self) -> redis::RedisResult<()> {
        let mut con = self.manager.clone();
        let r = redis::cmd("PING").query_async::<String>(&mut con).await;
        self.note(r).map(|_| ())
    }

    /// Whether the last command succeeded.
    pub fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }

    /// Runs `cmd`, noting the outcome.
    pub(crate) async fn query<T: redis::FromRedisValue>(
        &self,
        cmd: &redis::Cmd,
    ) -> redis::RedisResult<T> {
        let mut con = self.manager.clone();
        let r = cmd.query_async::<T>(&mut con).await;
        self.note(r)
    }
}

/// Counts one attempt unless the window is full: answers the count after
/// the attempt, or minus the milliseconds left in a full window.
const ACQUIRE_SCRIPT: &str = r"
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
if cur >= tonumber(ARGV[1]) then
  local ttl = redis.call('PTTL', KEYS[1])
  if ttl < 1 then ttl = 1 end
  return -ttl
end
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return n
";

/// Gives one attempt back, never below zero, keeping the window's expiry.
const RELEASE_SCRIPT: &str = r"
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
if cur > 0 then redis.call('DECR', KEYS[1]) end
return 1
";

/// A [`RateLimiter`] on Redis: fixed windows shared by every instance.
///
/// Each attempt is counted and checked in one script, so concurrent
/// attempts on several instances cannot pass the limit together. When Redis
/// does not answer, counting falls back to this process (with a warning):
/// limits then hold per instance instead of across them, and the shared
/// counts take over again as soon as Redis answers.
#[derive(Debug, Clone)]
pub struct RedisRateLimiter {
    redis: RedisCache,
    local: MemoryRateLimiter,
}

impl RedisRateLimiter {
    /// A limiter on `redis`.
    pub fn new(redis: RedisCache) -> Self {
        Self {
            redis,
            local: MemoryRateLimiter::new(),
        }
    }

    async fn script<T: redis::FromRedisValue>(
        &self,
        script: &str,
        key: &str,
        args: &[i64],
    ) -> redis::RedisResult<T> {
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(script).arg(1).arg(self.redis.key("rl", key));
        for a in args {
            cmd.arg(*a);
        }
        self.redis.query(&cmd).await
    }
}

#[async_trait]
impl RateLimiter for RedisRateLimiter {
    async fn acquire(&self, key: &str, limit: u32, window: TimeDelta) -> CoreResult<()> {
        let window_ms = window.num_milliseconds().max(1);
        match self
            .script::<i64>(ACQUIRE_SCRIPT, key, &[i64::from(limit), window_ms])
            .await
        {
            Ok(n) if n < 0 => Err(CoreError::RateLimited {
                retry_after_secs: n.unsigned_abs().div_ceil(1000).max(1),
            }),
            Ok(_) => Ok(()),
            Err(e) => {
                tracing::warn!(error = %e, "attempt counted in this process only: redis is down");
                self.local.acquire(key, limit, window).await
            }
        }
    }

    async fn release(&self, key: &str) -> CoreResult<()> {
        if let Err(e) = self.script::<i64>(RELEASE_SCRIPT, key, &[]).await {
            tracing::warn!(error = %e, "attempt given back in this process only: redis is down");
        }
        self.local.release(key).await
    }

    async fn reset(&self, key: &str) -> CoreResult<()> {
        let redis_key = self.redis.key("rl", key);
        if let Err(e) = self
            .redis
            .query::<i64>(redis::cmd("DEL").arg(&redis_key))
            .await
        {
            tracing::warn!(error = %e, "rate limit not reset: redis is down");
        }
        self.local.reset(key).await
    }
}

/// Where shared state lives: Redis, or this process only.
#[derive(Debug, Clone)]
pub enum SharedCache {
    /// In-process (single instance only).
    InProcess,
    /// Redis, shared between instances.
    Redis(RedisCache),
}

impl SharedCache {
    /// Redis when `url` is set (keys under `prefix`), otherwise in-process
    /// (with a warning).
    pub fn from_url(url: Option<&str>, prefix: &str) -> redis::RedisResult<Self> {
        match url {
            Some(url) => Ok(Self::Redis(RedisCache::connect(url, prefix)?)),
            None => {
                tracing::warn!(
                    "REDIS_URL is unset: rate limits are kept in this process; \
                     run a single instance only"
                );
                Ok(Self::InProcess)
            }
        }
    }

    /// A real round trip for Redis; always fine in-process.
    pub async fn ping(&self) -> redis::RedisResult<()> {
        match self {
            Self::InProcess => Ok(()),
            Self::Redis(r) => r.ping().await,
        }
    }

    /// The rate limiter for logins.
    pub fn rate_limiter(&self) -> Arc<dyn RateLimiter> {
        match self {
            Self::InProcess => Arc::new(MemoryRateLimiter::new()),
            Self::Redis(r) => Arc::new(RedisRateLimiter::new(r.clone())),
        }
    }

    /// `redis` or `in_process`.
    pub fn backend_name(&self) -> &'static str {
        match self {
            Self::InProcess => "in_process",
            Self::Redis(_) => "redis",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::redis_client;

    #[test]
    fn redis_connections_disable_nagle() {
        let client = redis_client("redis://127.0.0.1:6379/2").expect("a valid url");
        let info = client.get_connection_info();
        assert!(info.tcp_settings().nodelay());
        assert_eq!(info.redis_settings().db(), 2, "the url's settings are kept");
    }
}
