//! State shared between server instances: login rate limits and the
//! revocation list of access tokens.
//!
//! With `REDIS_URL`, both live in Redis (through a [`ConnectionManager`],
//! which reconnects on its own). Without it, core's in-process versions are
//! used and only one server instance may run.
//!
//! # When Redis goes away at run time
//! - Rate limits **fail open**: a login is allowed (and a warning logged)
//!   rather than locking every user out because the cache is down.
//! - Revocations are written to an in-process list as well as to Redis, and
//!   checks consult both. While Redis is down, a token revoked on *this*
//!   instance stays revoked here; one revoked on another instance is accepted
//!   until Redis returns or the token expires (access tokens are short-lived,
//!   and refresh tokens are revoked in the database, not here). Failing
//!   closed instead would turn every authenticated request into an error.
//! - `/health` reports the cache as down until a `PING` succeeds again.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use chrono::TimeDelta;
use pybase_core::auth::{
    IssuedToken, MemoryRateLimiter, MemoryRevocationList, RateLimiter, RevocationList,
};
use pybase_core::ids::UserId;
use pybase_core::model::Timestamp;
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

impl RedisCache {
    /// A cache on `url`. Connects lazily: the server starts even while Redis
    /// is down, and reconnects when it comes back.
    pub fn connect(url: &str, prefix: &str) -> redis::RedisResult<Self> {
        let client = redis::Client::open(url)?;
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

    fn key(&self, kind: &str, id: &str) -> String {
        format!("{}{kind}:{id}", self.prefix)
    }

    /// Notes the outcome of a command, logging transitions once.
    fn note<T>(&self, r: redis::RedisResult<T>) -> redis::RedisResult<T> {
        let ok = r.is_ok();
        let was = self.healthy.swap(ok, Ordering::Relaxed);
        match (&r, was) {
            (Err(e), true) => {
                tracing::warn!(error = %e, "redis is unreachable; rate limits fail open")
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
    async fn query<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> redis::RedisResult<T> {
        let mut con = self.manager.clone();
        let r = cmd.query_async::<T>(&mut con).await;
        self.note(r)
    }
}

/// Milliseconds since the Unix epoch of `t`, for Redis expiries and cut-offs.
fn millis(t: Timestamp) -> i64 {
    t.timestamp_millis()
}

/// A [`RateLimiter`] on Redis: fixed windows shared by every instance.
///
/// Fails open: when Redis does not answer, `check` allows the attempt and
/// counting is skipped, with a warning (see the module docs).
#[derive(Debug, Clone)]
pub struct RedisRateLimiter {
    redis: RedisCache,
}

impl RedisRateLimiter {
    /// A limiter on `redis`.
    pub fn new(redis: RedisCache) -> Self {
        Self { redis }
    }
}

#[async_trait]
impl RateLimiter for RedisRateLimiter {
    async fn check(&self, key: &str, limit: u32) -> CoreResult<()> {
        let key = self.redis.key("rl", key);
        let mut pipe = redis::pipe();
        pipe.cmd("GET").arg(&key).cmd("PTTL").arg(&key);
        let mut con = self.redis.manager.clone();
        let r = pipe.query_async::<(Option<u64>, i64)>(&mut con).await;
        match self.redis.note(r) {
            Ok((Some(count), ttl_ms)) if count >= u64::from(limit) => {
                let secs = u64::try_from(ttl_ms).unwrap_or(1).div_ceil(1000).max(1);
                Err(CoreError::RateLimited {
                    retry_after_secs: secs,
                })
            }
            Ok(_) => Ok(()),
            Err(e) => {
                tracing::warn!(error = %e, "rate limit not checked: redis is down (failing open)");
                Ok(())
            }
        }
    }

    async fn record_failure(&self, key: &str, window: TimeDelta) -> CoreResult<()> {
        let key = self.redis.key("rl", key);
        let window_ms = window.num_milliseconds().max(1);
        // SET NX PX opens the window with its expiry at the first failure;
        // INCR keeps the expiry. Both in one transaction.
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("SET")
            .arg(&key)
            .arg(0)
            .arg("PX")
            .arg(window_ms)
            .arg("NX")
            .ignore()
            .cmd("INCR")
            .arg(&key)
            .ignore();
        let mut con = self.redis.manager.clone();
        let r = pipe.query_async::<()>(&mut con).await;
        if let Err(e) = self.redis.note(r) {
            tracing::warn!(error = %e, "failed attempt not counted: redis is down (failing open)");
        }
        Ok(())
    }

    async fn reset(&self, key: &str) -> CoreResult<()> {
        let key = self.redis.key("rl", key);
        if let Err(e) = self.redis.query::<i64>(redis::cmd("DEL").arg(&key)).await {
            tracing::warn!(error = %e, "rate limit not reset: redis is down");
        }
        Ok(())
    }
}

/// Keeps the larger of the stored and the given cut-off, and the later expiry.
const REVOKE_USER_SCRIPT: &str = r"
local cur = redis.call('GET', KEYS[1])
if (not cur) or tonumber(cur) < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], ARGV[1], 'PXAT', ARGV[2])
else
  redis.call('PEXPIREAT', KEYS[1], ARGV[2], 'GT')
end
return 1
";

/// A [`RevocationList`] on Redis, written through to an in-process list.
///
/// Revocations are recorded in this process first, then in Redis. Checks ask
/// this process, then Redis; when Redis does not answer, the in-process
/// answer stands (see the module docs for why this fails open).
#[derive(Debug, Clone)]
pub struct RedisRevocationList {
    redis: RedisCache,
    local: MemoryRevocationList,
}

impl RedisRevocationList {
    /// A list on `redis`.
    pub fn new(redis: RedisCache) -> Self {
        Self {
            redis,
            local: MemoryRevocationList::new(),
        }
    }
}

#[async_trait]
impl RevocationList for RedisRevocationList {
    async fn revoke_family(&self, family_id: &str, until: Timestamp) -> CoreResult<()> {
        self.local.revoke_family(family_id, until).await?;
        let key = self.redis.key("rv:fam", family_id);
        let r = self
            .redis
            .query::<()>(
                redis::cmd("SET")
                    .arg(&key)
                    .arg(1)
                    .arg("PXAT")
                    .arg(millis(until)),
            )
            .await;
        if let Err(e) = r {
            tracing::warn!(error = %e, "token family revoked in this process only: redis is down");
        }
        Ok(())
    }

    async fn revoke_user_before(
        &self,
        user_id: UserId,
        cutoff: Timestamp,
        until: Timestamp,
    ) -> CoreResult<()> {
        self.local
            .revoke_user_before(user_id, cutoff, until)
            .await?;
        let key = self.redis.key("rv:usr", user_id.as_str());
        let r = self
            .redis
            .query::<i64>(
                redis::cmd("EVAL")
                    .arg(REVOKE_USER_SCRIPT)
                    .arg(1)
                    .arg(&key)
                    .arg(millis(cutoff))
                    .arg(millis(until)),
            )
            .await;
        if let Err(e) = r {
            tracing::warn!(error = %e, "user tokens revoked in this process only: redis is down");
        }
        Ok(())
    }

    async fn is_revoked(&self, token: &IssuedToken<'_>) -> CoreResult<bool> {
        if self.local.is_revoked(token).await? {
            return Ok(true);
        }
        let fam = self.redis.key("rv:fam", token.family_id);
        let usr = self.redis.key("rv:usr", token.user_id.as_str());
        let r = self
            .redis
            .query::<(Option<String>, Option<i64>)>(redis::cmd("MGET").arg(&fam).arg(&usr))
            .await;
        match r {
            Ok((family, cutoff)) => {
                Ok(family.is_some() || cutoff.is_some_and(|c| millis(token.issued_at) <= c))
            }
            Err(e) => {
                tracing::warn!(error = %e, "revocations checked in this process only: redis is down");
                Ok(false)
            }
        }
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
    /// Redis when `url` is set, otherwise in-process (with a warning).
    pub fn from_url(url: Option<&str>) -> redis::RedisResult<Self> {
        match url {
            Some(url) => Ok(Self::Redis(RedisCache::connect(url, "pybase:")?)),
            None => {
                tracing::warn!(
                    "REDIS_URL is unset: rate limits and token revocations are kept in \
                     this process; run a single instance only"
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

    /// The revocation list of access tokens.
    pub fn revocation_list(&self) -> Arc<dyn RevocationList> {
        match self {
            Self::InProcess => Arc::new(MemoryRevocationList::new()),
            Self::Redis(r) => Arc::new(RedisRevocationList::new(r.clone())),
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
