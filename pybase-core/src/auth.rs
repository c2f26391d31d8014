//! Authentication: accounts, sessions, API keys and password resets.
//!
//! [`Auth`] is the service the server and embedding programs call. It owns
//! every rule of the issue "users, sessions and keys":
//!
//! - Passwords: 8 to 256 characters, not a common password, not the email;
//!   hashed with Argon2id at OWASP's parameters (PHC strings, so parameters
//!   can grow: weaker hashes are re-hashed at the next successful login).
//!   Hashing runs on a blocking thread. A login for an unknown email verifies
//!   against a dummy hash, so it costs the same time as a wrong password.
//! - Sessions: a JWT access token and a JWT refresh token per login, in one
//!   *family*. Refreshing spends the refresh token and stores its successor
//!   in one store transaction ([`AuthStore::rotate_refresh_token`]), which
//!   refuses a revoked family or a user whose tokens were cut off; presenting
//!   a spent token again is treated as theft and revokes the whole family.
//!   Only SHA-256 hashes of refresh tokens are stored. Logout revokes the
//!   family; a password change or reset cuts off all of the user's tokens
//!   (and outstanding reset tokens). Access tokens are checked against that
//!   stored state on every request, so revocations hold across restarts and
//!   server instances.
//! - API keys: `pbk_` + 48 URL-safe characters (36 random bytes), shown once;
//!   stored as SHA-256 with a 12-character lookup prefix; scopes and an
//!   optional workspace list travel in the [`Principal`].
//! - Password resets: single-use, hashed, expiring tokens handed to a
//!   [`Mailer`]; a request always succeeds outwardly.
//! - Logins are counted per email and per client address (an IPv6 client
//!   by its /64) by a [`RateLimiter`] before the password is checked, so
//!   concurrent attempts cannot pass the limit; registrations and reset
//!   requests are limited too, and Argon2 runs at most
//!   [`AuthLimits::hash_concurrency`] at a time.
//!
//! Every credential or token failure is [`Error::Unauthorized`] with one
//! generic message per class, so responses never say which check failed.
//! Time comes from a [`Clock`], so expiry is tested without sleeping.

mod api_key;
mod limit;
mod mail;
mod password;
mod tokens;
mod verified;

use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::TimeDelta;
use rand::RngCore;
use serde::{Deserialize, Serialize};

pub use api_key::{API_KEY_MARKER, API_KEY_PREFIX_LEN};
pub use limit::{AuthLimits, MemoryRateLimiter, RateLimiter, client_key};
pub use mail::{FileOutboxMailer, LogMailer, MailMessage, Mailer, MemoryMailer};
pub use password::{
    COMMON_PASSWORDS, MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS, PasswordParams, check_password_policy,
};
pub use tokens::JwtAlgorithm;
pub use verified::Revocation;

use crate::clock::{Clock, SystemClock};
use crate::error::{Error, Result, StoreError};
use crate::ids::{ApiKeyId, UserId, WorkspaceId};
use crate::model::{ApiKey, Timestamp, User};
use crate::principal::Principal;
use crate::role::Scope;
use crate::store::{AuthStore, PasswordReset, RefreshToken, RotateOutcome, StoredApiKey};
use tokens::{Claims, TokenCodec, TokenError, TokenKind};
use verified::{KeyEntry, VerifiedCache};

/// The one message for any refused login.
const BAD_CREDENTIALS: &str = "invalid email or password";
/// The one message for any refused access token, refresh token or API key.
const BAD_TOKEN: &str = "invalid or expired token";
/// The one message for any refused password-reset token.
const BAD_RESET_TOKEN: &str = "invalid or expired reset token";
/// Longest accepted email address in characters (RFC 5321 path limit).
pub const MAX_EMAIL_LEN: usize = 254;
/// Longest local part (before the `@`) of an email address, in characters.
pub const MAX_EMAIL_LOCAL_LEN: usize = 64;
/// Longest password a login reads, in bytes: no valid password is longer
/// ([`MAX_PASSWORD_CHARS`] characters of at most 4 bytes).
const MAX_PASSWORD_BYTES: usize = MAX_PASSWORD_CHARS * 4;
/// Longest accepted display name of a user or name of an API key, in
/// characters as sent.
pub const MAX_USER_NAME_CHARS: usize = 100;
const MAX_NAME_CHARS: usize = MAX_USER_NAME_CHARS;
/// A key's `last_used_at` is written at most this often.
const TOUCH_EVERY: TimeDelta = TimeDelta::minutes(1);

/// `n` random bytes as URL-safe base64 without padding.
pub(crate) fn random_token(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The key that signs tokens: at least 32 bytes. `Debug` never shows it.
#[derive(Clone)]
pub struct SecretKey(Arc<[u8]>);

impl SecretKey {
    /// Fewest bytes a signing key may have.
    pub const MIN_LEN: usize = 32;

    /// A key from bytes; `Validation` error when shorter than [`Self::MIN_LEN`].
    pub fn new(bytes: impl Into<Vec<u8>>) -> Result<Self> {
        let bytes: Vec<u8> = bytes.into();
        if bytes.len() < Self::MIN_LEN {
            return Err(Error::invalid(
                "secret_key",
                format!("expected at least {} bytes", Self::MIN_LEN),
            ));
        }
        Ok(Self(bytes.into()))
    }

    /// A fresh random 64-byte key.
    pub fn generate() -> Self {
        let mut bytes = vec![0u8; 64];
        rand::rng().fill_bytes(&mut bytes);
        Self(bytes.into())
    }

    /// The key bytes, for a program that must persist a generated key.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey([redacted])")
    }
}

/// Settings of [`Auth`]. Lifetimes must be positive.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    /// Signs access and refresh tokens.
    pub secret: SecretKey,
    /// Token signing algorithm (HS256 by default); decoding accepts only it.
    pub jwt_algorithm: JwtAlgorithm,
    /// Access-token lifetime (30 minutes by default).
    pub access_ttl: TimeDelta,
    /// Refresh-token lifetime (7 days by default).
    pub refresh_ttl: TimeDelta,
    /// Password-reset token lifetime (1 hour by default).
    pub reset_ttl: TimeDelta,
    /// Argon2id costs for new hashes (OWASP's by default).
    pub password_params: PasswordParams,
    /// Throttles of logins, registrations, resets and hashing.
    pub limits: AuthLimits,
}

impl AuthSettings {
    /// The defaults (30 minutes, 7 days, 1 hour, HS256, OWASP Argon2id,
    /// [`AuthLimits::default`]) with `secret`.
    pub fn new(secret: SecretKey) -> Self {
        Self {
            secret,
            jwt_algorithm: JwtAlgorithm::default(),
            access_ttl: TimeDelta::minutes(30),
            refresh_ttl: TimeDelta::days(7),
            reset_ttl: TimeDelta::hours(1),
            password_params: PasswordParams::OWASP,
            limits: AuthLimits::default(),
        }
    }

    /// The same settings with other Argon2id costs (tests use cheap ones).
    pub fn with_password_params(mut self, params: PasswordParams) -> Self {
        self.password_params = params;
        self
    }
}

/// A registration request. `Debug` redacts the password.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "openapi",
    schema(description = "`POST /auth/register` body. Other members are ignored.")
)]
#[derive(Clone, Deserialize)]
pub struct NewUser {
    /// Email; compared and stored lowercased.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::openapi::NewEmail))]
    pub email: String,
    /// Plain-text password, checked against the policy.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::openapi::NewPassword))]
    pub password: String,
    /// Display name.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::openapi::UserName))]
    pub name: String,
}

impl fmt::Debug for NewUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewUser")
            .field("email", &self.email)
            .field("password", &"[redacted]")
            .field("name", &self.name)
            .finish()
    }
}

/// What a new API key may do.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "openapi",
    schema(description = "`POST /api-keys` body. Other members are ignored.")
)]
#[derive(Debug, Clone, Default, Deserialize)]
pub struct NewApiKey {
    /// Display name.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::openapi::UserName))]
    pub name: String,
    /// Scopes; `None` means all the creator has.
    #[cfg_attr(feature = "openapi", schema(min_items = 1))]
    pub scopes: Option<Vec<Scope>>,
    /// Workspaces the key is limited to; `None` means all the creator sees.
    #[cfg_attr(feature = "openapi", schema(min_items = 1))]
    pub workspaces: Option<Vec<WorkspaceId>>,
    /// Optional expiry (must be in the future).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub expires_at: Option<Timestamp>,
}

/// A signed-in session: what register, login and refresh answer.
/// `Debug` redacts both tokens.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "openapi",
    schema(description = "A signed-in session: what register, login and refresh answer.")
)]
#[derive(Clone, Serialize)]
pub struct Session {
    /// The user.
    pub user: User,
    /// JWT access token for `Authorization: Bearer`.
    pub access_token: String,
    /// JWT refresh token, spent by the next refresh.
    pub refresh_token: String,
    /// Always `"bearer"`.
    #[cfg_attr(feature = "openapi", schema(example = "bearer"))]
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: i64,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("user", &self.user)
            .field("access_token", &"[redacted]")
            .field("refresh_token", &"[redacted]")
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

/// The authentication service. Cheap to clone (everything is shared).
#[derive(Clone)]
pub struct Auth {
    store: Arc<dyn AuthStore>,
    settings: Arc<AuthSettings>,
    codec: Arc<TokenCodec>,
    clock: Arc<dyn Clock>,
    mailer: Arc<dyn Mailer>,
    limiter: Arc<dyn RateLimiter>,
    /// Whether the limiter is the in-process default (which follows `with_clock`).
    default_limiter: bool,
    /// Slots for Argon2 runs ([`AuthLimits::hash_concurrency`]).
    hashing: Arc<tokio::sync::Semaphore>,
    /// Reset mails being sent off the request path.
    background: Arc<Mutex<tokio::task::JoinSet<()>>>,
    /// A hash of a random password under the current parameters, verified
    /// against when the email is unknown (equal timing). Made on first use.
    dummy_hash: Arc<OnceLock<String>>,
    /// Credentials verified recently ([`Auth::with_verified_cache`]).
    verified: Option<Arc<VerifiedCache>>,
    /// Revocations made here, for other instances ([`Auth::revocations`]).
    revocations: tokio::sync::broadcast::Sender<Revocation>,
    /// How many revocations this instance applied so far (its own and
    /// relayed ones), for long-lived responses ([`Auth::revocation_count`]).
    revoked: Arc<tokio::sync::watch::Sender<u64>>,
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Auth")
            .field("settings", &self.settings)
            .field("clock", &self.clock)
            .field("mailer", &self.mailer)
            .field("limiter", &self.limiter)
            .finish_non_exhaustive()
    }
}

fn unauthorized(message: &str) -> Error {
    Error::Unauthorized(message.to_owned())
}

fn internal(e: impl std::error::Error + Send + Sync + 'static) -> Error {
    Error::Internal(Box::new(e))
}

/// Runs CPU-bound work (Argon2) off the async runtime.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(internal)
}

/// Verifies `password` against `phc`; without a hash (unknown account) it
/// verifies against `dummy` (a hash of a random password under `params`,
/// made once) and answers `false`, so both paths do one Argon2 verification.
fn verify_or_dummy(
    password: &str,
    phc: Option<&str>,
    dummy: &OnceLock<String>,
    params: PasswordParams,
) -> bool {
    match phc {
        Some(phc) => password::verify_password(password, phc),
        None => {
            let phc = dummy.get_or_init(|| {
                password::hash_password(&random_token(24), params).unwrap_or_default()
            });
            // The result is ignored: only the work matters.
            std::hint::black_box(password::verify_password(password, phc));
            false
        }
    }
}

fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// Checks a trimmed email address: at most [`MAX_EMAIL_LEN`] characters,
/// no whitespace or control characters, one `@`, a local part of 1
/// to [`MAX_EMAIL_LOCAL_LEN`] characters and a domain of dot-separated
/// non-empty labels (at least two).
fn validate_email(email: &str) -> Result<()> {
    let expected = || Error::invalid("email", "expected an email address like name@example.com");
    if email.is_empty() || email.chars().count() > MAX_EMAIL_LEN {
        return Err(expected());
    }
    let Some((local, domain)) = email.split_once('@') else {
        return Err(expected());
    };
    let bad_char = |c: char| c.is_whitespace() || c.is_control() || c == '@';
    if local.is_empty()
        || local.chars().count() > MAX_EMAIL_LOCAL_LEN
        || local.chars().any(bad_char)
        || domain.chars().any(bad_char)
        || domain.starts_with('.')
        || domain.ends_with('.')
        || domain.contains("..")
        || !domain.contains('.')
    {
        return Err(expected());
    }
    Ok(())
}

/// Checks a user's or an API key's name (at most [`MAX_NAME_CHARS`]
/// characters; the rules of every name in PyBase).
fn validate_name(field: &str, name: &str) -> Result<String> {
    crate::facade::check_name_within(field, name, MAX_NAME_CHARS)
}

fn login_email_key(email: &str) -> String {
    format!("login:email:{email}")
}

/// The limiter keys one login attempt counts under: the email from this
/// client (the strict budget), the email from everywhere (the ceiling on
/// distributed guessing) and the client across emails. Without a known
/// client the email alone carries the strict budget.
struct LoginKeys {
    /// Strict per-account budget: the email from this client, or the email
    /// alone when the client is unknown.
    strict: String,
    /// The email from every client (only when the client is known).
    email: Option<String>,
    /// The client across every email (only when it is known).
    client: Option<String>,
}

impl LoginKeys {
    fn new(email: &str, client: Option<&str>) -> Self {
        match client {
            Some(c) => {
                let client = client_key(c);
                Self {
                    strict: format!("login:email-client:{email}|{client}"),
                    email: Some(login_email_key(email)),
                    client: Some(format!("login:client:{client}")),
                }
            }
            None => Self {
                strict: login_email_key(email),
                email: None,
                client: None,
            },
        }
    }

    /// Each key with its limit, the strict one first.
    fn limits(&self, limits: AuthLimits) -> [(Option<&str>, u32); 3] {
        [
            (Some(self.strict.as_str()), limits.login_per_email_client),
            (self.email.as_deref(), limits.login_per_email),
            (self.client.as_deref(), limits.login_per_client),
        ]
    }
}

/// A limiter key of `kind` for the client, if it is known.
fn client_limit_key(kind: &str, client: Option<&str>) -> Option<String> {
    client.map(|c| format!("{kind}:client:{}", client_key(c)))
}

/// A password-policy error about the field the request calls `new_password`.
fn as_new_password(e: Error) -> Error {
    match e {
        Error::Validation { fields, .. } => {
            let fields: crate::error::FieldErrors = fields
                .into_iter()
                .map(|(k, v)| {
                    let k = if k == "password" {
                        "new_password".to_owned()
                    } else {
                        k
                    };
                    (k, v)
                })
                .collect();
            let message = fields
                .iter()
                .next()
                .map(|(k, v)| format!("{k}: {v}"))
                .unwrap_or_default();
            Error::Validation { message, fields }
        }
        other => other,
    }
}

/// Refuses an email longer than any valid one before it becomes a limiter
/// key or a lookup (the message names the field and the bound only).
fn check_email_len(email: &str) -> Result<()> {
    if email.chars().count() > MAX_EMAIL_LEN {
        return Err(Error::invalid(
            "email",
            format!("expected at most {MAX_EMAIL_LEN} characters"),
        ));
    }
    Ok(())
}

impl Auth {
    /// A service on `store` with `settings`, the system clock, a
    /// [`LogMailer`], and an in-process rate limiter.
    pub fn new(store: Arc<dyn AuthStore>, settings: AuthSettings) -> Self {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let codec = TokenCodec::new(settings.secret.as_bytes(), settings.jwt_algorithm);
        let slots = settings.limits.hash_concurrency.max(1);
        Self {
            store,
            codec: Arc::new(codec),
            settings: Arc::new(settings),
            limiter: Arc::new(MemoryRateLimiter::with_clock(clock.clone())),
            clock,
            mailer: Arc::new(LogMailer),
            default_limiter: true,
            hashing: Arc::new(tokio::sync::Semaphore::new(slots)),
            background: Arc::default(),
            dummy_hash: Arc::new(OnceLock::new()),
            verified: None,
            revocations: tokio::sync::broadcast::channel(256).0,
            revoked: Arc::new(tokio::sync::watch::channel(0).0),
        }
    }

    /// Remembers verified API keys and unrevoked session families for up
    /// to `ttl`, so that a request presenting them again needs no store
    /// read (nor, for a key, its SHA-256). Revocations made through this
    /// service take effect at once; those made elsewhere (another server
    /// instance, the database directly) after at most `ttl`, or at once
    /// when relayed with [`Auth::apply_revocation`]. A zero or negative
    /// `ttl` leaves the cache off (the default).
    pub fn with_verified_cache(mut self, ttl: TimeDelta) -> Self {
        self.verified = (ttl > TimeDelta::zero()).then(|| Arc::new(VerifiedCache::new(ttl)));
        self
    }

    /// The revocations this service makes from now on (key deletions,
    /// logouts, reuse detection, password changes and resets), each sent
    /// once it is stored, for relaying to other server instances. A
    /// receiver that falls behind loses the oldest (the other instances'
    /// time to live still bounds them).
    pub fn revocations(&self) -> tokio::sync::broadcast::Receiver<Revocation> {
        self.revocations.subscribe()
    }

    /// Drops what this instance remembers about a credential revoked
    /// elsewhere (another instance, or a user deleted in the store
    /// directly). Does not send it on [`Auth::revocations`].
    pub fn apply_revocation(&self, revocation: &Revocation) {
        if let Some(cache) = &self.verified {
            cache.revoke(revocation);
        }
        self.revoked.send_modify(|n| *n += 1);
    }

    /// How many revocations this service has applied (made here, or
    /// relayed with [`Auth::apply_revocation`]); it moves after the cache
    /// entries the revocation concerns are dropped. A long-lived response
    /// (an event stream) that authenticated its caller at one count checks
    /// the credential again before sending more once the count moved, so a
    /// key deleted or a session signed out stops it at once.
    pub fn revocation_count(&self) -> u64 {
        *self.revoked.borrow()
    }

    /// A receiver woken by every revocation applied from now on (see
    /// [`Auth::revocation_count`]), for waking idle long-lived responses.
    pub fn revocations_applied(&self) -> tokio::sync::watch::Receiver<u64> {
        self.revoked.subscribe()
    }

    /// Applies a revocation just stored here, and announces it.
    fn revoked(&self, revocation: Revocation) {
        self.apply_revocation(&revocation);
        // No receiver (a single instance) is not an error.
        let _ = self.revocations.send(revocation);
    }

    /// Uses `clock` for every time check (and for the default in-process
    /// limiter, if still in use).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        if self.default_limiter {
            self.limiter = Arc::new(MemoryRateLimiter::with_clock(clock.clone()));
        }
        self.clock = clock;
        self
    }

    /// Delivers password-reset tokens through `mailer`.
    pub fn with_mailer(mut self, mailer: Arc<dyn Mailer>) -> Self {
        self.mailer = mailer;
        self
    }

    /// Counts failed logins with `limiter` (shared between servers, e.g. Redis).
    pub fn with_rate_limiter(mut self, limiter: Arc<dyn RateLimiter>) -> Self {
        self.limiter = limiter;
        self.default_limiter = false;
        self
    }

    /// Waits until every password-reset mail handed to the background by
    /// [`Auth::request_password_reset`] so far has been stored and sent
    /// (tests, and a graceful shutdown).
    pub async fn flush_background(&self) {
        loop {
            let mut set =
                std::mem::take(&mut *self.background.lock().unwrap_or_else(|p| p.into_inner()));
            if set.is_empty() {
                return;
            }
            while set.join_next().await.is_some() {}
        }
    }

    /// The settings in use.
    pub fn settings(&self) -> &AuthSettings {
        &self.settings
    }

    /// A slot for one Argon2 run, waiting at most
    /// [`AuthLimits::hash_wait`]; `RateLimited` when none frees up in time.
    async fn hashing_slot(&self) -> Result<tokio::sync::OwnedSemaphorePermit> {
        let wait = self.settings.limits.hash_wait;
        match tokio::time::timeout(wait, self.hashing.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            Ok(Err(e)) => Err(internal(e)),
            Err(_) => {
                tracing::warn!("password hashing is saturated; refusing an attempt");
                Err(Error::RateLimited {
                    retry_after_secs: 1,
                })
            }
        }
    }

    async fn hash(&self, password: &str) -> Result<String> {
        let permit = self.hashing_slot().await?;
        let password = password.to_owned();
        let params = self.settings.password_params;
        blocking(move || {
            let _permit = permit;
            password::hash_password(&password, params)
        })
        .await?
    }

    /// Verifies `password` against `phc`, or against the dummy hash when
    /// there is no account, so both cases cost one Argon2 verification.
    async fn verify(&self, password: &str, phc: Option<String>) -> Result<bool> {
        let permit = self.hashing_slot().await?;
        let password = password.to_owned();
        let params = self.settings.password_params;
        let dummy = self.dummy_hash.clone();
        blocking(move || {
            let _permit = permit;
            verify_or_dummy(&password, phc.as_deref(), &dummy, params)
        })
        .await
    }

    fn ensure_account_access(principal: &Principal) -> Result<()> {
        if principal.can_manage_account() {
            Ok(())
        } else {
            Err(Error::forbidden(
                "this needs an api key with the admin scope",
            ))
        }
    }

    fn ensure_account_change(principal: &Principal) -> Result<()> {
        if principal.can_change_account() {
            Ok(())
        } else {
            Err(Error::forbidden(
                "this needs an api key with the admin scope and no workspace limit",
            ))
        }
    }

    /// After a login with the right password: clears the strict budget and
    /// gives this attempt back to the email's and the client's (failures
    /// from elsewhere stay counted).
    async fn forgive_login(&self, keys: &LoginKeys) -> Result<()> {
        self.limiter.reset(&keys.strict).await?;
        for key in [&keys.email, &keys.client].into_iter().flatten() {
            self.limiter.release(key).await?;
        }
        Ok(())
    }

    /// Counts an attempt under each of `keys` (those that are known),
    /// refusing with `RateLimited` as soon as one is full. Attempts already
    /// counted under earlier keys stay counted: the work was tried.
    async fn acquire_all(&self, keys: &[(Option<&str>, u32)], window: TimeDelta) -> Result<()> {
        for (key, limit) in keys {
            if let Some(key) = key {
                self.limiter.acquire(key, *limit, window).await?;
            }
        }
        Ok(())
    }

    /// Signs an access and a refresh token for `user_id` in `family`; the
    /// refresh token's row (to be stored) comes with them.
    fn sign_pair(&self, user_id: UserId, family: String) -> Result<(String, String, RefreshToken)> {
        let now = self.clock.now();
        let s = &self.settings;
        let access = Claims::new(TokenKind::Access, user_id, &family, now, s.access_ttl);
        let refresh = Claims::new(TokenKind::Refresh, user_id, &family, now, s.refresh_ttl);
        let access_token = self.codec.encode(&access)?;
        let refresh_token = self.codec.encode(&refresh)?;
        let row = RefreshToken {
            id: refresh.jti,
            family_id: family,
            user_id,
            token_hash: api_key::sha256_hex(&refresh_token),
            created_at: now,
            expires_at: now + s.refresh_ttl,
            spent_at: None,
            revoked_at: None,
        };
        Ok((access_token, refresh_token, row))
    }

    fn session(&self, user: User, access_token: String, refresh_token: String) -> Session {
        Session {
            user,
            access_token,
            refresh_token,
            token_type: "bearer",
            expires_in: self.settings.access_ttl.num_seconds(),
        }
    }

    /// Issues an access and refresh token for `user` in a new family and
    /// stores the refresh token's hash.
    async fn issue_session(&self, user: User) -> Result<Session> {
        let (access, refresh, row) = self.sign_pair(user.id, random_token(16))?;
        self.store.insert_refresh_token(&row).await?;
        Ok(self.session(user, access, refresh))
    }

    /// Revokes one family (its refresh and access tokens).
    async fn revoke_family(&self, family: &str) -> Result<()> {
        let now = self.clock.now();
        let stored = self.store.revoke_token_family(family, now).await;
        // Even after an error: the revocation may have been stored.
        self.revoked(Revocation::Family(family.to_owned()));
        Ok(stored?)
    }

    /// Revokes every session of a user issued up to now, and every
    /// outstanding reset token.
    async fn revoke_user(&self, user: UserId) -> Result<()> {
        let now = self.clock.now();
        let stored = self.store.revoke_user_tokens(user, now).await;
        self.revoked(Revocation::User(user));
        Ok(stored?)
    }

    /// Creates an account and signs it in. `Validation` for a bad email,
    /// name or password; `Conflict` when the email is taken (in any case);
    /// `RateLimited` past [`AuthLimits::register_per_client`] registrations
    /// from `client` (checked before the password is hashed).
    pub async fn register(&self, new: NewUser, client: Option<&str>) -> Result<Session> {
        // The length counts what was sent; surrounding whitespace is trimmed.
        check_email_len(&new.email)?;
        validate_email(new.email.trim())?;
        let email = normalize_email(&new.email);
        let name = validate_name("name", &new.name)?;
        check_password_policy(&new.password, Some(&email))?;
        let limits = self.settings.limits;
        let client_key = client_limit_key("register", client);
        self.acquire_all(
            &[(client_key.as_deref(), limits.register_per_client)],
            limits.slow_window,
        )
        .await?;
        let password_hash = self.hash(&new.password).await?;
        let now = self.clock.now();
        let user = User {
            id: UserId::at(now.timestamp_millis()),
            email,
            name,
            created_at: now,
            updated_at: now,
        };
        self.store
            .create_user(&user, &password_hash)
            .await
            .map_err(|e| match e {
                StoreError::Conflict { entity, field } => Error::Conflict {
                    message: crate::error::conflict_message(entity, &field),
                    field: "email".into(),
                },
                other => other.into(),
            })?;
        self.issue_session(user).await
    }

    /// Signs in with email and password. Unknown email and wrong password
    /// give the same `Unauthorized` after the same work. Attempts are
    /// counted *before* the password is checked, per email from this
    /// `client`, per email from all clients and per client (see
    /// [`AuthLimits`]); over a limit the answer is `RateLimited` without
    /// checking it. Success clears the email-from-this-client count, gives
    /// its attempt back to the other two and upgrades a hash made with weaker parameters. An email or password
    /// longer than any valid one is a `Validation` error before any of this.
    pub async fn login(
        &self,
        email: &str,
        password: &str,
        client: Option<&str>,
    ) -> Result<Session> {
        check_email_len(email)?;
        let email = normalize_email(email);
        if password.len() > MAX_PASSWORD_BYTES || password.chars().count() > MAX_PASSWORD_CHARS {
            return Err(Error::invalid(
                "password",
                format!("expected at most {MAX_PASSWORD_CHARS} characters"),
            ));
        }
        let limits = self.settings.limits;
        let keys = LoginKeys::new(&email, client);
        self.acquire_all(&keys.limits(limits), limits.window)
            .await?;
        let creds = self.store.find_credentials(&email).await?;
        let stored = creds.as_ref().map(|c| c.password_hash.clone());
        let ok = self.verify(password, stored).await?;
        let Some(creds) = creds.filter(|_| ok) else {
            tracing::debug!("login refused: bad credentials");
            return Err(unauthorized(BAD_CREDENTIALS));
        };
        self.forgive_login(&keys).await?;
        if password::needs_rehash(&creds.password_hash, self.settings.password_params) {
            // An upgrade failure must not block the login: the old hash still works.
            match self.hash(password).await {
                Ok(phc) => {
                    let now = self.clock.now();
                    if let Err(e) = self.store.set_password_hash(creds.user.id, &phc, now).await {
                        tracing::warn!(error = %e, "could not store upgraded password hash");
                    }
                }
                Err(e) => tracing::warn!(error = %e, "could not upgrade password hash"),
            }
        }
        self.issue_session(creds.user).await
    }

    /// Exchanges a refresh token for a new pair in the same family; the
    /// presented token is spent. A spent (or revoked) token presented again
    /// revokes its whole family, and the answer is `Unauthorized`.
    pub async fn refresh(&self, refresh_token: &str) -> Result<Session> {
        let now = self.clock.now();
        let claims = self
            .codec
            .decode(refresh_token.trim(), TokenKind::Refresh, now, false)
            .map_err(|e| {
                tracing::debug!(reason = ?e, "refresh token refused");
                unauthorized(BAD_TOKEN)
            })?;
        let hash = api_key::sha256_hex(refresh_token.trim());
        let user_id = claims.user_id().ok_or_else(|| unauthorized(BAD_TOKEN))?;
        let user = match self.store.get_user(user_id).await {
            Ok(u) => u,
            Err(StoreError::NotFound { .. }) => return Err(unauthorized(BAD_TOKEN)),
            Err(e) => return Err(e.into()),
        };
        let (access, refresh, next) = self.sign_pair(user_id, claims.fam)?;
        match self.store.rotate_refresh_token(&hash, now, &next).await? {
            RotateOutcome::Rotated(_) => Ok(self.session(user, access, refresh)),
            RotateOutcome::Refused(row) => {
                tracing::debug!(
                    family = %row.family_id,
                    "refresh token refused: revoked (a logout or a detected replay), cut-off user, expired or mismatched"
                );
                Err(unauthorized(BAD_TOKEN))
            }
            RotateOutcome::Reused(row) => {
                tracing::warn!(
                    family = %row.family_id,
                    user = %row.user_id,
                    "spent refresh token presented again; revoking its family"
                );
                self.revoke_family(&row.family_id).await?;
                Err(unauthorized(BAD_TOKEN))
            }
            RotateOutcome::Unknown => {
                tracing::debug!("refresh token refused: unknown");
                Err(unauthorized(BAD_TOKEN))
            }
        }
    }

    /// Ends the session of `refresh_token`: its whole family (refresh and
    /// access tokens) is revoked. An authentic but expired token is accepted.
    pub async fn logout(&self, refresh_token: &str) -> Result<()> {
        let now = self.clock.now();
        let claims = self
            .codec
            .decode(refresh_token.trim(), TokenKind::Refresh, now, true)
            .map_err(|_| unauthorized(BAD_TOKEN))?;
        self.revoke_family(&claims.fam).await
    }

    /// Who is calling: a JWT access token (not a refresh token) or a `pbk_`
    /// API key. Refused (`Unauthorized`) when malformed, badly signed,
    /// expired, revoked, or of a deleted user or key.
    pub async fn authenticate(&self, bearer: &str) -> Result<Principal> {
        let bearer = bearer.trim();
        if bearer.starts_with(API_KEY_MARKER) {
            return self.authenticate_key(bearer).await;
        }
        let now = self.clock.now();
        let claims = self
            .codec
            .decode(bearer, TokenKind::Access, now, false)
            .map_err(|e| {
                if e != TokenError::Expired {
                    tracing::debug!(reason = ?e, "access token refused");
                }
                unauthorized(BAD_TOKEN)
            })?;
        let (Some(user_id), Some(issued_at)) = (claims.user_id(), claims.issued_at()) else {
            return Err(unauthorized(BAD_TOKEN));
        };
        let cut_off = |valid_after: Option<Timestamp>| valid_after.is_some_and(|t| issued_at <= t);
        if let Some(cache) = &self.verified
            && let Some(valid_after) = cache.session(user_id, &claims.fam, now)
        {
            if cut_off(valid_after) {
                tracing::debug!("access token refused: revoked");
                return Err(unauthorized(BAD_TOKEN));
            }
            return Ok(Principal::user(user_id));
        }
        let generation = self.verified.as_ref().map(|c| c.generation());
        let Some(state) = self.store.session_state(user_id, &claims.fam).await? else {
            return Err(unauthorized(BAD_TOKEN));
        };
        if state.family_revoked || cut_off(state.tokens_valid_after) {
            tracing::debug!("access token refused: revoked");
            return Err(unauthorized(BAD_TOKEN));
        }
        if let (Some(cache), Some(g)) = (&self.verified, generation) {
            cache.remember_session(user_id, &claims.fam, state.tokens_valid_after, now, g);
        }
        Ok(Principal::user(user_id))
    }

    async fn authenticate_key(&self, presented: &str) -> Result<Principal> {
        let Some(prefix) = api_key::parse_prefix(presented) else {
            return Err(unauthorized(BAD_TOKEN));
        };
        let now = self.clock.now();
        if let Some(cache) = &self.verified
            && let Some(hit) = cache.key(prefix, presented, now)
        {
            if hit.principal.key_expires_at().is_some_and(|t| t <= now) {
                tracing::debug!("api key refused: expired");
                return Err(unauthorized(BAD_TOKEN));
            }
            if hit.last_used_at.is_none_or(|t| now - t >= TOUCH_EVERY) {
                if let Principal::ApiKey { id, .. } = &hit.principal
                    && let Err(e) = self.store.touch_api_key(*id, now).await
                {
                    tracing::warn!(error = %e, "could not record api key use");
                }
                cache.key_used(prefix, now);
            }
            return Ok(hit.principal);
        }
        let generation = self.verified.as_ref().map(|c| c.generation());
        let hash = api_key::sha256_hex(presented);
        let Some(stored) = self.store.find_api_key(prefix).await? else {
            tracing::debug!("api key refused: unknown prefix");
            return Err(unauthorized(BAD_TOKEN));
        };
        if !api_key::hashes_match(&hash, &stored.secret_hash) {
            tracing::debug!("api key refused: secret mismatch");
            return Err(unauthorized(BAD_TOKEN));
        }
        let key = stored.key;
        if key.expires_at.is_some_and(|t| t <= now) {
            tracing::debug!("api key refused: expired");
            return Err(unauthorized(BAD_TOKEN));
        }
        let mut last_used_at = key.last_used_at;
        if key.last_used_at.is_none_or(|t| now - t >= TOUCH_EVERY) {
            // Bookkeeping only: a failed write must not refuse the request.
            if let Err(e) = self.store.touch_api_key(key.id, now).await {
                tracing::warn!(error = %e, "could not record api key use");
            }
            last_used_at = Some(now);
        }
        let principal = Principal::ApiKey {
            id: key.id,
            user_id: key.user_id,
            scopes: key.scopes,
            workspaces: key.workspaces,
            expires_at: key.expires_at,
        };
        if let (Some(cache), Some(g)) = (&self.verified, generation) {
            let entry = KeyEntry {
                presented: presented.into(),
                principal: principal.clone(),
                last_used_at,
                verified_at: now,
            };
            cache.remember_key(prefix, entry, g);
        }
        Ok(principal)
    }

    /// The calling user.
    pub async fn me(&self, principal: &Principal) -> Result<User> {
        Self::ensure_account_access(principal)?;
        Ok(self.store.get_user(principal.user_id()).await?)
    }

    /// Renames the calling user.
    pub async fn update_me(&self, principal: &Principal, name: &str) -> Result<User> {
        Self::ensure_account_change(principal)?;
        let name = validate_name("name", name)?;
        let mut user = self.store.get_user(principal.user_id()).await?;
        user.name = name;
        user.updated_at = self.clock.now();
        self.store.update_user(&user).await?;
        Ok(user)
    }

    /// Changes the caller's password. A wrong `current` is `Forbidden` (the
    /// request is well formed and the session itself is fine); attempts
    /// count against the user's own budget (`login_per_email_client`) and
    /// the email's ceiling shared with logins. Every session of the user, this one
    /// included, is revoked: every token issued up to this instant (to the
    /// millisecond, so a sign-in in the very same millisecond is revoked
    /// too), and every outstanding reset token.
    pub async fn change_password(
        &self,
        principal: &Principal,
        current: &str,
        new: &str,
    ) -> Result<()> {
        Self::ensure_account_change(principal)?;
        if current.len() > MAX_PASSWORD_BYTES || current.chars().count() > MAX_PASSWORD_CHARS {
            return Err(Error::invalid(
                "current_password",
                format!("expected at most {MAX_PASSWORD_CHARS} characters"),
            ));
        }
        let creds = self.store.get_credentials(principal.user_id()).await?;
        let limits = self.settings.limits;
        // Its own strict budget (a stolen session guessing the password),
        // under the email's ceiling shared with logins.
        let keys = LoginKeys {
            strict: format!("password:user:{}", creds.user.id),
            email: Some(login_email_key(&creds.user.email)),
            client: None,
        };
        self.acquire_all(&keys.limits(limits), limits.window)
            .await?;
        if !self
            .verify(current, Some(creds.password_hash.clone()))
            .await?
        {
            return Err(Error::forbidden(
                "current_password does not match the current password",
            ));
        }
        self.forgive_login(&keys).await?;
        check_password_policy(new, Some(&creds.user.email)).map_err(as_new_password)?;
        if new == current {
            return Err(Error::invalid(
                "new_password",
                "must differ from the current password",
            ));
        }
        let phc = self.hash(new).await?;
        self.store
            .set_password_hash(creds.user.id, &phc, self.clock.now())
            .await?;
        self.revoke_user(creds.user.id).await
    }

    /// Starts a password reset. `Ok` for any email, known or not: the
    /// lookup, the token (stored hashed) and the mail happen in a background
    /// task, so neither the answer nor its timing tells whether the account
    /// exists ([`Auth::flush_background`] waits for them). `RateLimited`
    /// past [`AuthLimits::reset_per_email`] requests for the email or
    /// [`AuthLimits::reset_per_client`] from `client`, known account or not.
    pub async fn request_password_reset(&self, email: &str, client: Option<&str>) -> Result<()> {
        check_email_len(email)?;
        let email = normalize_email(email);
        let limits = self.settings.limits;
        let email_key = format!("reset:email:{email}");
        let client_key = client_limit_key("reset", client);
        self.acquire_all(
            &[
                (client_key.as_deref(), limits.reset_per_client),
                (Some(&email_key), limits.reset_per_email),
            ],
            limits.slow_window,
        )
        .await?;
        let this = self.clone();
        let task = async move {
            match this.store.find_credentials(&email).await {
                Ok(Some(creds)) => {
                    if let Err(e) = this.send_reset(&creds.user).await {
                        tracing::warn!(error = %e, "could not issue a password reset");
                    }
                }
                Ok(None) => tracing::debug!("password reset requested for an unknown email"),
                Err(e) => tracing::warn!(error = %e, "could not look up a password reset"),
            }
        };
        let mut set = self.background.lock().unwrap_or_else(|p| p.into_inner());
        // Finished tasks are reaped here, so the set holds only running ones.
        while set.try_join_next().is_some() {}
        set.spawn(task);
        Ok(())
    }

    async fn send_reset(&self, user: &User) -> Result<()> {
        let now = self.clock.now();
        let token = random_token(32);
        self.store
            .insert_password_reset(&PasswordReset {
                token_hash: api_key::sha256_hex(&token),
                user_id: user.id,
                created_at: now,
                expires_at: now + self.settings.reset_ttl,
                used_at: None,
            })
            .await?;
        let minutes = self.settings.reset_ttl.num_minutes();
        let message = MailMessage {
            to: user.email.clone(),
            subject: "Reset your PyBase password".into(),
            body: format!(
                "Hello {},\n\nsomeone asked to reset the password of your PyBase account. \
                 To choose a new one, use this token within {minutes} minutes:\n\n{token}\n\n\
                 If you did not ask for this, ignore this message.\n",
                user.name
            ),
            token,
        };
        self.mailer.send(&message).await
    }

    /// Sets a new password with a reset token. The token is spent (single
    /// use) and every session of the user is revoked. A password that fails
    /// the length or common-password rules is refused before the token is
    /// spent; one equal to the email is refused after (the token is gone).
    pub async fn confirm_password_reset(&self, token: &str, new_password: &str) -> Result<()> {
        check_password_policy(new_password, None).map_err(as_new_password)?;
        let token = token.trim();
        if token.is_empty() || token.len() > 256 {
            return Err(unauthorized(BAD_RESET_TOKEN));
        }
        let now = self.clock.now();
        let Some(reset) = self
            .store
            .use_password_reset(&api_key::sha256_hex(token), now)
            .await?
        else {
            tracing::debug!("reset token refused");
            return Err(unauthorized(BAD_RESET_TOKEN));
        };
        let creds = match self.store.get_credentials(reset.user_id).await {
            Ok(c) => c,
            Err(StoreError::NotFound { .. }) => return Err(unauthorized(BAD_RESET_TOKEN)),
            Err(e) => return Err(e.into()),
        };
        check_password_policy(new_password, Some(&creds.user.email)).map_err(as_new_password)?;
        let phc = self.hash(new_password).await?;
        self.store
            .set_password_hash(creds.user.id, &phc, self.clock.now())
            .await?;
        self.revoke_user(creds.user.id).await?;
        self.limiter
            .reset(&login_email_key(&creds.user.email))
            .await
    }

    /// Creates an API key for the caller; answers its metadata and the
    /// secret, which is never shown again. A key acting here (admin scope)
    /// cannot create a key with scopes or workspaces beyond its own, nor one
    /// that outlives it: without `expires_at` the new key expires with it,
    /// and a later `expires_at` is `Forbidden`.
    pub async fn create_api_key(
        &self,
        principal: &Principal,
        new: NewApiKey,
    ) -> Result<(ApiKey, String)> {
        Self::ensure_account_access(principal)?;
        let name = validate_name("name", &new.name)?;
        let (own_scopes, own_workspaces) = match principal {
            Principal::User { .. } => (None, None),
            Principal::ApiKey {
                scopes, workspaces, ..
            } => (Some(scopes.as_slice()), workspaces.as_deref()),
        };
        let scopes = match new.scopes {
            None => own_scopes.map_or_else(|| Scope::ALL.to_vec(), <[Scope]>::to_vec),
            Some(mut list) => {
                list.sort();
                list.dedup();
                if list.is_empty() {
                    return Err(Error::invalid("scopes", "expected at least one scope"));
                }
                if own_scopes.is_some_and(|own| list.iter().any(|s| !own.contains(s))) {
                    return Err(Error::forbidden("an api key cannot grant scopes it lacks"));
                }
                list
            }
        };
        let workspaces = match new.workspaces {
            None => own_workspaces.map(<[WorkspaceId]>::to_vec),
            Some(mut list) => {
                list.sort();
                list.dedup();
                if list.is_empty() {
                    return Err(Error::invalid(
                        "workspaces",
                        "expected at least one workspace",
                    ));
                }
                if own_workspaces.is_some_and(|own| list.iter().any(|w| !own.contains(w))) {
                    return Err(Error::forbidden(
                        "an api key cannot grant workspaces it lacks",
                    ));
                }
                Some(list)
            }
        };
        let now = self.clock.now();
        if new.expires_at.is_some_and(|t| t <= now) {
            return Err(Error::invalid(
                "expires_at",
                "expected a time in the future",
            ));
        }
        let expires_at = match (new.expires_at, principal.key_expires_at()) {
            (Some(asked), Some(own)) if asked > own => {
                return Err(Error::forbidden(
                    "an api key cannot create a key that outlives it",
                ));
            }
            (asked, own) => asked.or(own),
        };
        // A prefix collision (48 random bits) is astronomically rare; retry anyway.
        let mut attempts = 0;
        loop {
            attempts += 1;
            let generated = api_key::generate();
            let key = ApiKey {
                id: ApiKeyId::at(now.timestamp_millis()),
                user_id: principal.user_id(),
                name: name.clone(),
                prefix: generated.prefix,
                scopes: scopes.clone(),
                workspaces: workspaces.clone(),
                created_at: now,
                expires_at,
                last_used_at: None,
            };
            let stored = StoredApiKey {
                key,
                secret_hash: api_key::sha256_hex(&generated.secret),
            };
            match self.store.create_api_key(&stored).await {
                Ok(()) => return Ok((stored.key, generated.secret)),
                Err(StoreError::Conflict { field, .. }) if field == "prefix" && attempts < 3 => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// The caller's API keys, oldest first, without secrets. A key limited
    /// to some workspaces sees only the keys limited to those workspaces.
    pub async fn list_api_keys(&self, principal: &Principal) -> Result<Vec<ApiKey>> {
        Self::ensure_account_access(principal)?;
        let mut keys = self.store.list_api_keys(principal.user_id()).await?;
        keys.retain(|k| Self::key_within_reach(principal, k));
        Ok(keys)
    }

    /// Whether `principal` may see and delete `key`: a workspace-limited
    /// principal only reaches keys limited to a subset of its workspaces.
    fn key_within_reach(principal: &Principal, key: &ApiKey) -> bool {
        match (principal.workspace_limit(), key.workspaces.as_deref()) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(own), Some(theirs)) => theirs.iter().all(|w| own.contains(w)),
        }
    }

    /// Deletes one of the caller's API keys; it stops working at once.
    /// `NotFound` when the caller has no such key, or a workspace-limited
    /// key asks for a key beyond its workspaces.
    pub async fn delete_api_key(&self, principal: &Principal, id: ApiKeyId) -> Result<()> {
        Self::ensure_account_access(principal)?;
        if principal.workspace_limit().is_some() {
            let keys = self.store.list_api_keys(principal.user_id()).await?;
            if !keys
                .iter()
                .any(|k| k.id == id && Self::key_within_reach(principal, k))
            {
                return Err(Error::not_found("api key"));
            }
        }
        let deleted = self.store.delete_api_key(principal.user_id(), id).await;
        self.revoked(Revocation::ApiKey(id));
        deleted.map_err(|e| match e {
            StoreError::NotFound { .. } => Error::not_found("api key"),
            other => other.into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_key_needs_32_bytes_and_hides_itself() {
        assert!(SecretKey::new(vec![1u8; 31]).is_err());
        let k = SecretKey::new(b"a-very-secret-key-of-32-bytes!!!".to_vec()).unwrap();
        assert_eq!(format!("{k:?}"), "SecretKey([redacted])");
        let settings = AuthSettings::new(k);
        assert!(!format!("{settings:?}").contains("a-very-secret"));
        assert_eq!(SecretKey::generate().as_bytes().len(), 64);
    }

    #[test]
    fn defaults_follow_the_issue() {
        let s = AuthSettings::new(SecretKey::generate());
        assert_eq!(s.access_ttl, TimeDelta::minutes(30));
        assert_eq!(s.refresh_ttl, TimeDelta::days(7));
        assert_eq!(s.reset_ttl, TimeDelta::hours(1));
        assert_eq!(s.password_params, PasswordParams::OWASP);
        assert_eq!(s.jwt_algorithm, JwtAlgorithm::Hs256);
    }

    #[test]
    fn unknown_accounts_verify_against_a_dummy_hash_of_current_params() {
        let params = PasswordParams::new(256, 1, 1).unwrap();
        let dummy = OnceLock::new();
        assert!(!verify_or_dummy("whatever", None, &dummy, params));
        let phc = dummy.get().expect("dummy hash made on first use").clone();
        assert!(phc.starts_with("$argon2id$v=19$m=256,t=1,p=1$"), "{phc}");
        assert!(!verify_or_dummy("other", None, &dummy, params));
        assert_eq!(dummy.get(), Some(&phc), "made once");
        let real = password::hash_password("s3cret-pass", params).unwrap();
        assert!(verify_or_dummy("s3cret-pass", Some(&real), &dummy, params));
        assert!(!verify_or_dummy("wrong-pass", Some(&real), &dummy, params));
    }

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(normalize_email("  Ann@Example.COM "), "ann@example.com");
        for ok in ["a@b.co", "first.last+tag@sub.example.org"] {
            assert!(validate_email(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "ann",
            "@example.com",
            "ann@",
            "ann@example",
            "a b@c.de",
            "a@b@c.de",
            "a@.b.c",
            "a@b..c",
        ] {
            assert!(validate_email(bad).is_err(), "{bad}");
        }
        assert!(validate_email(&format!("{}@example.com", "a".repeat(250))).is_err());
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(validate_name("name", "  Ann  ").unwrap(), "Ann");
        assert!(validate_name("name", "   ").is_err());
        assert!(validate_name("name", &"x".repeat(101)).is_err());
        assert!(validate_name("name", "a\u{0}b").is_err());
    }

    #[test]
    fn debug_output_redacts_secrets() {
        let new = NewUser {
            email: "ann@example.com".into(),
            password: "hunter2hunter2".into(),
            name: "Ann".into(),
        };
        assert!(!format!("{new:?}").contains("hunter2"));
        let now = chrono::Utc::now();
        let session = Session {
            user: User {
                id: UserId::new(),
                email: "ann@example.com".into(),
                name: "Ann".into(),
                created_at: now,
                updated_at: now,
            },
            access_token: "access-secret".into(),
            refresh_token: "refresh-secret".into(),
            token_type: "bearer",
            expires_in: 1800,
        };
        let dbg = format!("{session:?}");
        assert!(
            !dbg.contains("access-secret") && !dbg.contains("refresh-secret"),
            "{dbg}"
        );
    }
}
