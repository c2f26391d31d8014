//! Command line and environment configuration.
//!
//! Every setting is a command-line flag and an environment variable; a `.env`
//! file in the working directory is read first (see [`Cli::load`]). Values
//! holding secrets are wrapped in [`Secret`] so they never reach the logs.

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use clap::{Parser, Subcommand};
use rand::RngCore as _;

/// The smallest secret key accepted in production, in bytes.
pub const MIN_SECRET_KEY_BYTES: usize = 32;

/// Name of the file, inside the data folder, that keeps a generated secret key.
const SECRET_KEY_FILE: &str = "secret_key";

/// A string that prints as `[redacted]` in `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself; call only where it is used.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

/// The `pybase-server` command line.
#[derive(Debug, Parser)]
#[command(
    name = "pybase-server",
    version,
    about = "PyBase reference HTTP server"
)]
pub struct Cli {
    /// What to do; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Settings shared by every sub-command.
    #[command(flatten)]
    pub settings: Settings,
}

impl Cli {
    /// Reads `.env` (a missing file is fine), then the command line and the
    /// environment.
    pub fn load() -> Self {
        // A missing .env is the normal case in production; a malformed one is
        // reported but does not stop the server from reading the real environment.
        if let Err(e) = dotenvy::dotenv()
            && !e.not_found()
        {
            eprintln!("warning: could not read .env: {e}");
        }
        Self::parse()
    }
}

/// Sub-commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// Run the HTTP server (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Print the OpenAPI document as JSON and exit.
    Openapi,
    /// Print the OpenAPI document of the Airtable-compatible `/v0` API and exit.
    OpenapiV0,
}

/// Every server setting, each also read from the environment variable named
/// in its `env`.
#[derive(Debug, Clone, clap::Args)]
pub struct Settings {
    /// Database URL: `sqlite://<path>` (embedded) or `postgres://...`;
    /// empty (the default): `pybase.db` in the data folder
    /// ([`Settings::database_url`]).
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "",
        global = true,
        hide_env_values = true
    )]
    pub database_url: String,

    /// Largest number of pooled PostgreSQL connections.
    #[arg(
        long,
        env = "DATABASE_MAX_CONNECTIONS",
        default_value_t = 10,
        global = true
    )]
    pub database_max_connections: u32,

    /// Seconds a request waits for a free PostgreSQL connection (or for a
    /// new one while the database is unreachable) before it fails with an
    /// error; keeps a database outage from holding requests for long.
    #[arg(
        long,
        env = "DATABASE_ACQUIRE_TIMEOUT_SECS",
        default_value_t = 5,
        global = true
    )]
    pub database_acquire_timeout_secs: u64,

    /// Do not apply database migrations when the server starts (run
    /// `pybase-server migrate` instead, e.g. once per deploy). PostgreSQL
    /// only: an embedded SQLite file is always brought up to date on open.
    #[arg(long, env = "PYBASE_NO_MIGRATE", global = true)]
    pub no_migrate: bool,

    /// Redis URL for rate limits shared between server instances; unset
    /// means in-process (single instance only).
    #[arg(long, env = "REDIS_URL", global = true, hide_env_values = true)]
    pub redis_url: Option<String>,

    /// Prefix of every Redis key this deployment writes (several
    /// deployments, or test runs, can share one Redis).
    #[arg(
        long,
        env = "REDIS_KEY_PREFIX",
        default_value = "pybase:",
        global = true
    )]
    pub redis_key_prefix: String,

    /// S3-compatible endpoint (e.g. `http://127.0.0.1:9000`); `MINIO_ENDPOINT`
    /// is accepted too. Unset with no bucket means files under the data folder.
    #[arg(long, env = "S3_ENDPOINT", global = true)]
    pub s3_endpoint: Option<String>,

    /// S3 bucket (`MINIO_BUCKET` accepted too); default `pybase`.
    #[arg(long, env = "S3_BUCKET", global = true)]
    pub s3_bucket: Option<String>,

    /// S3 access key id (`MINIO_ACCESS_KEY` / `MINIO_ROOT_USER` accepted too).
    #[arg(long, env = "S3_ACCESS_KEY_ID", global = true)]
    pub s3_access_key_id: Option<String>,

    /// S3 secret access key (`MINIO_SECRET_KEY` / `MINIO_ROOT_PASSWORD` accepted too).
    #[arg(
        long,
        env = "S3_SECRET_ACCESS_KEY",
        global = true,
        hide_env_values = true
    )]
    pub s3_secret_access_key: Option<Secret>,

    /// S3 region (`MINIO_REGION` accepted too); default `us-east-1`.
    #[arg(long, env = "S3_REGION", global = true)]
    pub s3_region: Option<String>,

    /// Key that signs access and refresh tokens. Unset: generated once and
    /// kept in the data folder (with a warning). Required, 32+ bytes, when
    /// `PYBASE_ENV=production`.
    #[arg(long, env = "SECRET_KEY", global = true, hide_env_values = true)]
    pub secret_key: Option<Secret>,

    /// `development` or `production`; production refuses weak or missing secrets.
    #[arg(long, env = "PYBASE_ENV", default_value = "development", global = true)]
    pub pybase_env: String,

    /// Folder for the embedded database, local files and the generated secret key.
    #[arg(
        long,
        env = "PYBASE_DATA_DIR",
        default_value = "./pybase-data",
        global = true
    )]
    pub data_dir: PathBuf,

    /// Origins allowed by CORS, comma separated (`*` allows any).
    #[arg(
        long,
        env = "CORS_ORIGINS",
        default_value = "http://localhost:3000",
        global = true
    )]
    pub cors_origins: String,

    /// Lifetime of access tokens, in minutes.
    #[arg(
        long,
        env = "ACCESS_TOKEN_EXPIRE_MINUTES",
        default_value_t = 30,
        global = true
    )]
    pub access_token_expire_minutes: u64,

    /// Lifetime of refresh tokens, in days.
    #[arg(
        long,
        env = "REFRESH_TOKEN_EXPIRE_DAYS",
        default_value_t = 7,
        global = true
    )]
    pub refresh_token_expire_days: u64,

    /// How long, in milliseconds, a verified API key or unrevoked session
    /// is trusted without reading the database again (0: every request
    /// reads it). Revocations made on this instance hold at once; those
    /// made on another instance are relayed through Redis when `REDIS_URL`
    /// is set, and hold on this one after at most this long in any case.
    #[arg(
        long,
        env = "CREDENTIAL_CACHE_MS",
        default_value_t = 2000,
        global = true
    )]
    pub credential_cache_ms: u64,

    /// The server's address as clients reach it (`https://pybase.example.com`,
    /// a path prefix allowed): absolute links the server hands out, such as
    /// `/v0`'s signed attachment URLs, start with it. Unset: `http://` and
    /// the address the server listens on (loopback for an unspecified
    /// `HOST` such as `0.0.0.0`, with a warning). Set it behind a proxy.
    #[arg(long, env = "PUBLIC_URL", global = true)]
    pub public_url: Option<String>,

    /// Address to listen on.
    #[arg(long, env = "HOST", default_value = "127.0.0.1", global = true)]
    pub host: IpAddr,

    /// Port to listen on.
    #[arg(long, env = "PORT", default_value_t = 8000, global = true)]
    pub port: u16,

    /// Largest accepted upload, in bytes (larger ones answer 413).
    #[arg(long, env = "MAX_UPLOAD_BYTES", default_value_t = 50 * 1024 * 1024, global = true)]
    pub max_upload_bytes: u64,

    /// Largest accepted JSON body, in bytes (larger ones answer 413).
    #[arg(long, env = "MAX_JSON_BYTES", default_value_t = 8 * 1024 * 1024, global = true)]
    pub max_json_bytes: u64,

    /// Seconds between refreshes of formulas reading the clock (`NOW()`,
    /// `TODAY()`); 0 turns the timer off.
    #[arg(
        long,
        env = "TIME_FORMULAS_REFRESH_SECS",
        default_value_t = 60,
        global = true
    )]
    pub time_formulas_refresh_secs: u64,

    /// Live records of a table up to which a new or changed computed field
    /// is filled inside the request; larger tables are filled by a
    /// background job (the field reads `status: computing` until done).
    #[arg(
        long,
        env = "COMPUTE_INLINE_MAX_RECORDS",
        default_value_t = 10_000,
        global = true
    )]
    pub compute_inline_max_records: usize,

    /// Records one write's recompute of computed fields may touch; past it
    /// (beyond the written records and their direct dependents) the rest
    /// is handed to the background fill.
    #[arg(
        long,
        env = "COMPUTE_FANOUT_MAX_RECORDS",
        default_value_t = 50_000,
        global = true
    )]
    pub compute_fanout_max_records: usize,

    /// Days of change-log events kept; an older cursor answers 410 `gone`.
    #[arg(
        long,
        env = "CHANGES_RETENTION_DAYS",
        default_value_t = 30,
        global = true
    )]
    pub changes_retention_days: u64,

    /// Attempts at one event before a webhook is disabled (with retries
    /// 1 s apart, doubling up to 1 h, 36 attempts take about a day).
    #[arg(
        long,
        env = "WEBHOOK_MAX_ATTEMPTS",
        default_value_t = 36,
        global = true
    )]
    pub webhook_max_attempts: u32,

    /// Let webhooks target private, loopback and link-local addresses
    /// (tests, trusted networks).
    #[arg(long, env = "WEBHOOK_ALLOW_PRIVATE", global = true)]
    pub webhook_allow_private: bool,

    /// The first webhook retry delay in milliseconds (doubling from there).
    #[arg(
        long,
        env = "WEBHOOK_FIRST_RETRY_MS",
        default_value_t = 1000,
        global = true
    )]
    pub webhook_first_retry_ms: u64,

    /// Requests a second per credential and base on the Airtable-compatible
    /// `/v0` API (a token bucket holding as many); `0` turns the limit off.
    #[arg(
        long,
        env = "AIRTABLE_RATE_LIMIT_PER_BASE",
        default_value_t = 50,
        global = true
    )]
    pub airtable_rate_limit_per_base: u32,

    /// Most records one `/v0` create, update or delete may carry.
    #[arg(
        long,
        env = "AIRTABLE_MAX_RECORDS_PER_REQUEST",
        default_value_t = 10,
        value_parser = clap::value_parser!(u16).range(1..=1000),
        global = true
    )]
    pub airtable_max_records_per_request: u16,

    /// Seconds a request may take before it answers 503.
    #[arg(
        long,
        env = "REQUEST_TIMEOUT_SECS",
        default_value_t = 30,
        global = true
    )]
    pub request_timeout_secs: u64,

    /// Most items in one link, attachment or multi-select cell.
    #[arg(long, env = "MAX_CELL_ITEMS", default_value_t = 1000, global = true)]
    pub max_cell_items: usize,

    /// Most choices of one single- or multi-select field.
    #[arg(long, env = "MAX_CHOICES", default_value_t = 1000, global = true)]
    pub max_choices: usize,

    /// Most fields in one table.
    #[arg(
        long,
        env = "MAX_FIELDS_PER_TABLE",
        default_value_t = 500,
        global = true
    )]
    pub max_fields_per_table: usize,

    /// Most indexed fields in one table (explicit or added by views).
    #[arg(
        long,
        env = "MAX_INDEXED_FIELDS_PER_TABLE",
        default_value_t = 20,
        global = true
    )]
    pub max_indexed_fields_per_table: usize,

    /// Pages that filter or sort by an unindexed text or number field before
    /// PyBase indexes it on its own (0 turns automatic indexes off).
    #[arg(long, env = "AUTO_INDEX_AFTER", default_value_t = 50, global = true)]
    pub auto_index_after: u32,

    /// Most automatic indexes of one table.
    #[arg(
        long,
        env = "AUTO_INDEXES_PER_TABLE",
        default_value_t = 5,
        global = true
    )]
    pub auto_indexes_per_table: usize,

    /// Most conditions and groups in one filter.
    #[arg(long, env = "MAX_FILTER_NODES", default_value_t = 200, global = true)]
    pub max_filter_nodes: usize,

    /// Deepest nesting of one filter.
    #[arg(long, env = "MAX_FILTER_DEPTH", default_value_t = 16, global = true)]
    pub max_filter_depth: usize,

    /// Most list values (`in`, `has_any`, `has_all`) in one filter, all lists together.
    #[arg(long, env = "MAX_FILTER_VALUES", default_value_t = 1000, global = true)]
    pub max_filter_values: usize,

    /// Records a `formula=` filter may evaluate in Rust for one page before
    /// the request is refused with 422.
    #[arg(
        long,
        env = "MAX_FORMULA_SCAN",
        default_value_t = 50_000,
        global = true
    )]
    pub max_formula_scan: usize,

    /// Reverse proxies (addresses or networks, comma separated, e.g.
    /// `10.0.0.0/8`) whose `X-Forwarded-For` header names the client for
    /// per-client rate limits. Empty: the header is ignored and the peer
    /// address is the client (behind a proxy, set this, or every user
    /// shares the proxy's login budget).
    #[arg(long, env = "TRUSTED_PROXIES", default_value = "", global = true)]
    pub trusted_proxies: String,

    /// Folder where outgoing mail is written as JSON files instead of being sent.
    #[arg(long, env = "MAIL_OUTBOX", global = true)]
    pub mail_outbox: Option<PathBuf>,

    /// Log as JSON lines (one object per event) instead of human-readable text.
    #[arg(long, env = "PYBASE_JSON_LOGS", global = true)]
    pub json_logs: bool,
}

impl Default for Settings {
    /// The defaults of the command line, ignoring the environment.
    fn default() -> Self {
        Self {
            database_url: String::new(),
            database_max_connections: 10,
            database_acquire_timeout_secs: 5,
            no_migrate: false,
            redis_url: None,
            redis_key_prefix: "pybase:".into(),
            s3_endpoint: None,
            s3_bucket: None,
            s3_access_key_id: None,
            s3_secret_access_key: None,
            s3_region: None,
            secret_key: None,
            pybase_env: "development".into(),
            data_dir: PathBuf::from("./pybase-data"),
            cors_origins: "http://localhost:3000".into(),
            access_token_expire_minutes: 30,
            refresh_token_expire_days: 7,
            credential_cache_ms: 2000,
            public_url: None,
            host: IpAddr::from([127, 0, 0, 1]),
            port: 8000,
            max_upload_bytes: 50 * 1024 * 1024,
            max_json_bytes: 8 * 1024 * 1024,
            changes_retention_days: 30,
            time_formulas_refresh_secs: 60,
            compute_inline_max_records: 10_000,
            compute_fanout_max_records: 50_000,
            webhook_max_attempts: 36,
            webhook_allow_private: false,
            webhook_first_retry_ms: 1000,
            airtable_rate_limit_per_base: 50,
            airtable_max_records_per_request: 10,
            request_timeout_secs: 30,
            max_cell_items: 1000,
            max_choices: 1000,
            max_fields_per_table: 500,
            max_indexed_fields_per_table: 20,
            auto_index_after: 50,
            auto_indexes_per_table: 5,
            max_filter_nodes: 200,
            max_filter_depth: 16,
            max_filter_values: 1000,
            max_formula_scan: 50_000,
            trusted_proxies: String::new(),
            mail_outbox: None,
            json_logs: false,
        }
    }
}

/// Why the settings cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SettingsError {
    /// Production without a strong secret key.
    #[error(
        "SECRET_KEY must be set to at least {MIN_SECRET_KEY_BYTES} bytes when PYBASE_ENV=production"
    )]
    WeakSecret,
    /// The generated secret key could not be read or written.
    #[error("could not keep the secret key in {path}: {source}")]
    SecretFile {
        /// The key file.
        path: PathBuf,
        /// The I/O failure.
        #[source]
        source: std::io::Error,
    },
    /// `PYBASE_ENV` is neither development nor production.
    #[error("PYBASE_ENV must be development or production, got {0:?}")]
    UnknownEnv(String),
}

/// S3 settings after `MINIO_*` fallbacks and defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Settings {
    /// Endpoint URL; `None` means AWS itself.
    pub endpoint: Option<String>,
    /// Bucket.
    pub bucket: String,
    /// Access key id.
    pub access_key_id: Option<String>,
    /// Secret access key.
    pub secret_access_key: Option<Secret>,
    /// Region.
    pub region: String,
}

impl Settings {
    /// The input limits these settings name.
    pub fn input_limits(&self) -> pybase_core::Limits {
        pybase_core::Limits {
            cell_items: self.max_cell_items,
            choices: self.max_choices,
            fields_per_table: self.max_fields_per_table,
            indexed_fields_per_table: self.max_indexed_fields_per_table,
            auto_index_after: self.auto_index_after,
            auto_indexes_per_table: self.auto_indexes_per_table,
            filter_nodes: self.max_filter_nodes,
            filter_depth: self.max_filter_depth,
            filter_values: self.max_filter_values,
            formula_scan: self.max_formula_scan,
            compute_inline_records: self.compute_inline_max_records,
            compute_fanout_records: self.compute_fanout_max_records,
            ..pybase_core::Limits::default()
        }
    }

    /// Whether `PYBASE_ENV` is `production`.
    pub fn is_production(&self) -> Result<bool, SettingsError> {
        match self.pybase_env.to_ascii_lowercase().as_str() {
            "production" | "prod" => Ok(true),
            "development" | "dev" | "test" => Ok(false),
            _ => Err(SettingsError::UnknownEnv(self.pybase_env.clone())),
        }
    }

    /// S3 settings when an endpoint or bucket is configured (by `S3_*` or
    /// `MINIO_*` variables), otherwise `None` (local files).
    pub fn s3(&self) -> Option<S3Settings> {
        self.s3_with_env(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
    }

    /// [`Self::s3`] with the `MINIO_*` fallbacks read through `env`.
    fn s3_with_env(&self, env: impl Fn(&str) -> Option<String>) -> Option<S3Settings> {
        let endpoint = self.s3_endpoint.clone().or_else(|| env("MINIO_ENDPOINT"));
        let bucket = self.s3_bucket.clone().or_else(|| env("MINIO_BUCKET"));
        if endpoint.is_none() && bucket.is_none() {
            return None;
        }
        let access_key_id = self
            .s3_access_key_id
            .clone()
            .or_else(|| env("MINIO_ACCESS_KEY"))
            .or_else(|| env("MINIO_ROOT_USER"));
        let secret_access_key = self
            .s3_secret_access_key
            .clone()
            .or_else(|| env("MINIO_SECRET_KEY").map(Secret))
            .or_else(|| env("MINIO_ROOT_PASSWORD").map(Secret));
        let region = self
            .s3_region
            .clone()
            .or_else(|| env("MINIO_REGION"))
            .unwrap_or_else(|| "us-east-1".into());
        Some(S3Settings {
            endpoint: endpoint.map(|e| {
                // MinIO's own variable is often a bare host:port.
                if e.contains("://") {
                    e
                } else {
                    format!("http://{e}")
                }
            }),
            bucket: bucket.unwrap_or_else(|| "pybase".into()),
            access_key_id,
            secret_access_key,
            region,
        })
    }

    /// The database to open: `DATABASE_URL`, or when it is empty the
    /// embedded database `pybase.db` in the data folder, so the folder
    /// holds all that the server keeps.
    pub fn database_url(&self) -> String {
        if self.database_url.trim().is_empty() {
            format!("sqlite://{}", self.data_dir.join("pybase.db").display())
        } else {
            self.database_url.clone()
        }
    }

    /// The folder for local files when no S3 store is configured.
    pub fn files_dir(&self) -> PathBuf {
        self.data_dir.join("files")
    }

    /// The secret key: the configured one, or (outside production) one
    /// generated once and kept in the data folder.
    pub fn resolve_secret_key(&self) -> Result<Secret, SettingsError> {
        let production = self.is_production()?;
        match &self.secret_key {
            Some(k) if k.expose().len() >= MIN_SECRET_KEY_BYTES => Ok(k.clone()),
            Some(_) | None if production => Err(SettingsError::WeakSecret),
            Some(k) => {
                tracing::warn!(
                    "SECRET_KEY is shorter than {MIN_SECRET_KEY_BYTES} bytes; \
                     acceptable for development only"
                );
                Ok(k.clone())
            }
            None => load_or_generate_secret(&self.data_dir),
        }
    }
}

/// Reads the secret key kept in `data_dir`, creating it on first use.
fn load_or_generate_secret(data_dir: &Path) -> Result<Secret, SettingsError> {
    let path = data_dir.join(SECRET_KEY_FILE);
    let io_err = |source| SettingsError::SecretFile {
        path: path.clone(),
        source,
    };
    match std::fs::read_to_string(&path) {
        Ok(s) if s.trim().len() >= MIN_SECRET_KEY_BYTES => {
            tracing::warn!(
                path = %path.display(),
                "SECRET_KEY is unset: using the key generated earlier in the data folder; \
                 set SECRET_KEY to share it between instances"
            );
            return Ok(Secret(s.trim().to_owned()));
        }
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err(e)),
    }
    std::fs::create_dir_all(data_dir).map_err(io_err)?;
    let mut bytes = [0u8; 48];
    rand::rng().fill_bytes(&mut bytes);
    let key = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    write_private(&path, key.as_bytes()).map_err(io_err)?;
    tracing::warn!(
        path = %path.display(),
        "SECRET_KEY is unset: generated a new key and kept it in the data folder; \
         set SECRET_KEY in production"
    );
    Ok(Secret(key))
}

/// Writes a file readable only by its owner (on Unix).
fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_database_lives_in_the_data_folder_unless_named() {
        let mut s = Settings {
            data_dir: PathBuf::from("/srv/pybase"),
            ..Settings::default()
        };
        assert_eq!(s.database_url(), "sqlite:///srv/pybase/pybase.db");
        s.database_url = "postgres://db/x".into();
        assert_eq!(s.database_url(), "postgres://db/x");
    }

    #[test]
    fn defaults_match_the_design() {
        let cli = Cli::try_parse_from(["pybase-server"]).unwrap();
        assert_eq!(cli.command, None);
        let s = cli.settings;
        assert_eq!(s.port, 8000);
        assert_eq!(s.max_upload_bytes, 50 * 1024 * 1024);
        assert_eq!(s.access_token_expire_minutes, 30);
        assert_eq!(s.credential_cache_ms, 2000);
        assert_eq!(s.refresh_token_expire_days, 7);
    }

    #[test]
    fn subcommand_accepts_settings_after_it() {
        let cli = Cli::try_parse_from(["pybase-server", "serve", "--port", "9001"]).unwrap();
        assert_eq!(cli.command, Some(Command::Serve));
        assert_eq!(cli.settings.port, 9001);
    }

    #[test]
    fn production_requires_a_long_secret() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Settings {
            pybase_env: "production".into(),
            data_dir: dir.path().to_path_buf(),
            ..Settings::default()
        };
        assert!(matches!(
            s.resolve_secret_key(),
            Err(SettingsError::WeakSecret)
        ));
        s.secret_key = Some(Secret::new("short"));
        assert!(matches!(
            s.resolve_secret_key(),
            Err(SettingsError::WeakSecret)
        ));
        s.secret_key = Some(Secret::new("x".repeat(32)));
        assert_eq!(s.resolve_secret_key().unwrap().expose().len(), 32);
    }

    #[test]
    fn generated_secret_is_kept_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let s = Settings {
            data_dir: dir.path().join("data"),
            ..Settings::default()
        };
        let first = s.resolve_secret_key().unwrap();
        let second = s.resolve_secret_key().unwrap();
        assert_eq!(first, second);
        assert!(first.expose().len() >= MIN_SECRET_KEY_BYTES);
    }

    #[test]
    fn minio_variables_are_accepted() {
        let s = Settings::default();
        assert_eq!(s.s3_with_env(|_| None), None);
        let s3 = s
            .s3_with_env(|name| match name {
                "MINIO_ENDPOINT" => Some("minio:9000".into()),
                "MINIO_ROOT_USER" => Some("user".into()),
                "MINIO_ROOT_PASSWORD" => Some("pass".into()),
                _ => None,
            })
            .unwrap();
        assert_eq!(s3.endpoint.as_deref(), Some("http://minio:9000"));
        assert_eq!(s3.bucket, "pybase");
        assert_eq!(s3.access_key_id.as_deref(), Some("user"));
        assert_eq!(s3.secret_access_key.map(|s| s.0), Some("pass".into()));
    }

    #[test]
    fn secrets_are_redacted_in_debug() {
        let s = Settings {
            secret_key: Some(Secret::new("hunter2hunter2")),
            ..Settings::default()
        };
        assert!(!format!("{s:?}").contains("hunter2"));
    }
}
