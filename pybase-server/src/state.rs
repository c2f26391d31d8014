//! What every handler shares, built once at startup from the settings.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use chrono::TimeDelta;
use object_store::ObjectStore;
use pybase_core::Pybase;
use pybase_core::auth::{Auth, AuthSettings, FileOutboxMailer, Mailer, SecretKey};
use pybase_core::store::{Store, StoreHealth};
use pybase_store_postgres::{PgStore, PgStoreOptions};
use pybase_store_sqlite::SqliteStore;

use crate::cache::SharedCache;
use crate::metrics::Metrics;
use crate::settings::Settings;
use crate::storage::StorageKind;

/// The longest `CREDENTIAL_CACHE_MS` accepted: how long another instance
/// may still accept a revoked credential when the relay is down.
const MAX_CREDENTIAL_CACHE_MS: u64 = 60_000;

/// Limits that handlers enforce on bodies.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest upload, in bytes.
    pub max_upload_bytes: u64,
    /// Largest JSON body, in bytes.
    pub max_json_bytes: u64,
}

/// Shared state of the server; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The permission-checking facade over the store and object storage.
    pub pybase: Arc<Pybase>,
    /// Sign-in, tokens and API keys.
    pub auth: Arc<Auth>,
    /// Database liveness.
    pub store_health: Arc<dyn StoreHealth>,
    /// Rate limits (Redis or in-process).
    pub cache: SharedCache,
    /// Attachment bytes.
    pub objects: Arc<dyn ObjectStore>,
    /// Which kind of object store `objects` is.
    pub storage_kind: StorageKind,
    /// Request metrics.
    pub metrics: Arc<Metrics>,
    /// Body limits.
    pub limits: Limits,
    /// Reverse proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Arc<[crate::client_ip::IpNet]>,
    /// The Airtable-compatible API's batch limit and rate limiter.
    pub v0: crate::v0::V0Config,
    /// Where clients reach the server (`PUBLIC_URL`): the start of the
    /// absolute links it hands out.
    pub public_url: crate::public_url::PublicUrl,
    /// Becomes `true` when the server starts shutting down: long-lived
    /// responses (event streams) end then, so the graceful shutdown does
    /// not wait for them.
    pub closing: Arc<tokio::sync::watch::Sender<bool>>,
    /// The webhook worker, which ends after `closing` turns true (having
    /// given back its leases): the server waits for it before it exits.
    pub webhooks: Arc<std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>>,
    /// Credential checks shared by the event streams.
    pub stream_credentials: crate::credential_checks::CredentialChecks,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("database", &self.store_health.backend_name())
            .field("cache", &self.cache)
            .field("storage_kind", &self.storage_kind)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// Which database a URL names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// An SQLite file (`sqlite://<path>` or `sqlite:<path>`).
    Sqlite(std::path::PathBuf),
    /// PostgreSQL (`postgres://` or `postgresql://`).
    Postgres(String),
}

impl DatabaseUrl {
    /// Picks the backend from the URL scheme; an unknown scheme is an error.
    pub fn parse(url: &str) -> anyhow::Result<Self> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Self::Postgres(url.to_owned()));
        }
        if let Some(rest) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            let path = rest.split('?').next().unwrap_or_default();
            anyhow::ensure!(!path.is_empty(), "DATABASE_URL names no sqlite file");
            return Ok(Self::Sqlite(path.into()));
        }
        anyhow::bail!("DATABASE_URL must start with sqlite:// or postgres://")
    }
}

/// The store of each kind the server needs, from one backend.
struct Stores {
    store: Arc<dyn Store>,
    auth: Arc<dyn pybase_core::store::AuthStore>,
    health: Arc<dyn StoreHealth>,
}

fn stores<T: Store + StoreHealth>(s: T) -> Stores {
    let s = Arc::new(s);
    Stores {
        store: s.clone(),
        auth: s.clone(),
        health: s,
    }
}

/// Opens the configured database, bringing its schema up to date when
/// `migrate` is set (SQLite always is).
async fn open_store(settings: &Settings, migrate: bool) -> anyhow::Result<Stores> {
    match DatabaseUrl::parse(&settings.database_url())? {
        DatabaseUrl::Sqlite(path) => {
            let shown = path.display().to_string();
            let store = tokio::task::spawn_blocking(move || SqliteStore::open(path))
                .await
                .context("could not open the sqlite database")?
                .with_context(|| format!("could not open the sqlite database {shown}"))?;
            tracing::info!(path = %shown, "using sqlite");
            Ok(stores(store))
        }
        DatabaseUrl::Postgres(url) => {
            let options = PgStoreOptions {
                max_connections: settings.database_max_connections,
                acquire_timeout: Duration::from_secs(settings.database_acquire_timeout_secs.max(1)),
                migrate,
            };
            let store = PgStore::connect_with(&url, options)
                .await
                .context("could not connect to postgresql")?;
            tracing::info!(migrated = migrate, "using postgresql");
            Ok(stores(store))
        }
    }
}

/// `pybase-server migrate`: applies pending migrations and exits.
pub async fn migrate(settings: &Settings) -> anyhow::Result<()> {
    open_store(settings, true).await?;
    tracing::info!("migrations applied");
    Ok(())
}

impl AppState {
    /// Builds every backend the settings ask for: the database from
    /// `DATABASE_URL`, object storage from the `S3_*` settings, shared state
    /// from `REDIS_URL`, mail from `MAIL_OUTBOX`.
    pub async fn from_settings(settings: &Settings) -> anyhow::Result<Self> {
        let secret = settings.resolve_secret_key()?;
        // Webhook secrets are derived from SECRET_KEY (facade/webhooks.rs).
        let webhook_key = secret.expose().as_bytes().to_vec();
        let secret = SecretKey::new(secret.expose().as_bytes().to_vec())
            .map_err(|e| anyhow::anyhow!("SECRET_KEY: {e}"))?;
        let stores = open_store(settings, !settings.no_migrate).await?;
        let (objects, storage_kind) = crate::storage::from_settings(settings)?;
        tracing::info!(kind = storage_kind.name(), "object storage ready");
        let cache =
            SharedCache::from_url(settings.redis_url.as_deref(), &settings.redis_key_prefix)
                .context("invalid REDIS_URL")?;
        let mut auth_settings = AuthSettings::new(secret);
        auth_settings.access_ttl = minutes(settings.access_token_expire_minutes)?;
        auth_settings.refresh_ttl = TimeDelta::try_days(
            i64::try_from(settings.refresh_token_expire_days).unwrap_or(i64::MAX),
        )
        .filter(|d| *d > TimeDelta::zero())
        .context("REFRESH_TOKEN_EXPIRE_DAYS must be a positive number of days")?;
        anyhow::ensure!(
            settings.credential_cache_ms <= MAX_CREDENTIAL_CACHE_MS,
            "CREDENTIAL_CACHE_MS must be at most {MAX_CREDENTIAL_CACHE_MS} (one minute)"
        );
        let credential_ttl =
            TimeDelta::milliseconds(i64::try_from(settings.credential_cache_ms).unwrap_or(0));
        let mut auth = Auth::new(stores.auth, auth_settings)
            .with_rate_limiter(cache.rate_limiter())
            .with_verified_cache(credential_ttl);
        if let Some(dir) = &settings.mail_outbox {
            let mailer: Arc<dyn Mailer> = Arc::new(FileOutboxMailer::new(dir.clone()));
            auth = auth.with_mailer(mailer);
        } else {
            tracing::warn!(
                "MAIL_OUTBOX is unset: password-reset mail is not delivered anywhere, \
                 so resets cannot complete"
            );
        }
        let pybase = Pybase::new(stores.store)
            .with_webhook_key(&webhook_key)
            .with_webhooks_to_private_addresses(settings.webhook_allow_private)
            .with_object_store(objects.clone())
            .with_attachment_url(Arc::new(crate::routes::attachments::content_url))
            .with_limits(settings.input_limits());
        let v0 = crate::v0::V0Config::from_settings(settings, &cache);
        let public_url = match &settings.public_url {
            Some(url) => crate::public_url::PublicUrl::parse(url)?,
            None => crate::public_url::PublicUrl::of_listener(std::net::SocketAddr::new(
                settings.host,
                settings.port,
            )),
        };
        let pybase = Arc::new(pybase);
        let retention =
            TimeDelta::try_days(i64::try_from(settings.changes_retention_days).unwrap_or(i64::MAX))
                .filter(|d| *d > TimeDelta::zero())
                .context("CHANGES_RETENTION_DAYS must be a positive number of days")?;
        let auth = Arc::new(auth);
        crate::credential_relay::spawn(
            &auth,
            settings.redis_url.as_deref(),
            &settings.redis_key_prefix,
        )
        .context("invalid REDIS_URL")?;
        crate::access_relay::spawn(
            &pybase,
            settings.redis_url.as_deref(),
            &settings.redis_key_prefix,
        )
        .context("invalid REDIS_URL")?;
        crate::changes_relay::spawn(
            &pybase,
            settings.redis_url.as_deref(),
            &settings.redis_key_prefix,
            retention,
        )
        .context("invalid REDIS_URL")?;
        crate::time_formulas::spawn(
            &pybase,
            Duration::from_secs(settings.time_formulas_refresh_secs),
        );
        crate::compute_fills::spawn(&pybase);
        let closing = Arc::new(tokio::sync::watch::Sender::new(false));
        let webhooks = crate::webhooks::spawn(
            &pybase,
            crate::webhooks::WebhookConfig {
                max_attempts: i32::try_from(settings.webhook_max_attempts.max(1))
                    .unwrap_or(i32::MAX),
                allow_private: settings.webhook_allow_private,
                first_delay: Duration::from_millis(settings.webhook_first_retry_ms.max(1)),
            },
            closing.subscribe(),
        )
        .context("could not start the webhook worker")?;
        Ok(Self {
            pybase,
            auth,
            store_health: stores.health,
            cache,
            objects,
            storage_kind,
            metrics: Arc::new(Metrics::new()),
            limits: Limits {
                max_upload_bytes: settings.max_upload_bytes,
                max_json_bytes: settings.max_json_bytes,
            },
            trusted_proxies: crate::client_ip::parse_list(&settings.trusted_proxies)
                .map_err(|e| anyhow::anyhow!("TRUSTED_PROXIES: {e}"))?
                .into(),
            v0,
            public_url,
            closing,
            webhooks: Arc::new(std::sync::Mutex::new(Some(webhooks))),
            stream_credentials: crate::credential_checks::CredentialChecks::default(),
        })
    }
}

fn minutes(n: u64) -> anyhow::Result<TimeDelta> {
    TimeDelta::try_minutes(i64::try_from(n).unwrap_or(i64::MAX))
        .filter(|d| *d > TimeDelta::zero())
        .context("ACCESS_TOKEN_EXPIRE_MINUTES must be a positive number of minutes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls_pick_the_backend() {
        assert_eq!(
            DatabaseUrl::parse("sqlite://./pybase-data/pybase.db").unwrap(),
            DatabaseUrl::Sqlite("./pybase-data/pybase.db".into())
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite:/tmp/x.db?mode=rwc").unwrap(),
            DatabaseUrl::Sqlite("/tmp/x.db".into())
        );
        assert!(matches!(
            DatabaseUrl::parse("postgresql://u@h/db").unwrap(),
            DatabaseUrl::Postgres(_)
        ));
        assert!(DatabaseUrl::parse("mysql://x").is_err());
    }
}
