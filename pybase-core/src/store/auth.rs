//! Users, sessions (refresh tokens), password resets and API keys.

use async_trait::async_trait;

use crate::error::StoreResult;
use crate::ids::{ApiKeyId, UserId};
use crate::model::{ApiKey, Timestamp, User};

/// A user with the PHC string of their password hash.
#[derive(Debug, Clone, PartialEq)]
pub struct UserCredentials {
    /// The user.
    pub user: User,
    /// Argon2id PHC string.
    pub password_hash: String,
}

/// A stored refresh token (only its hash is kept).
#[derive(Debug, Clone, PartialEq)]
pub struct RefreshToken {
    /// The token's `jti`.
    pub id: String,
    /// The rotation family; spending a spent token revokes it whole.
    pub family_id: String,
    /// Owner.
    pub user_id: UserId,
    /// Lowercase hex SHA-256 of the whole token string.
    pub token_hash: String,
    /// Issue time.
    pub created_at: Timestamp,
    /// Expiry.
    pub expires_at: Timestamp,
    /// Set once the token has been exchanged for a new pair.
    pub spent_at: Option<Timestamp>,
    /// Set when its family was revoked (logout, theft, password change).
    pub revoked_at: Option<Timestamp>,
}

/// What happened when a refresh token was presented for rotation.
#[derive(Debug, Clone, PartialEq)]
pub enum RotateOutcome {
    /// It was live and is now spent, and its successor is stored, in one
    /// transaction; the old row as it is now.
    Rotated(RefreshToken),
    /// It had already been spent (rotated): a replay, whatever happened to
    /// it since. Nothing changed; the row as stored.
    Reused(RefreshToken),
    /// It is unspent but may not be continued: it or a token of its family
    /// has been revoked (a logout, a detected replay), its user's tokens were cut off at or after its issue
    /// (or the user is gone), it has expired, or the successor names another
    /// user or family. Nothing changed; the row as stored.
    Refused(RefreshToken),
    /// No token has this hash.
    Unknown,
}

/// What an access token's validity depends on, read in one step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionState {
    /// Tokens of the user issued at or before this instant are revoked
    /// (a password change or reset); `None` if never cut off.
    pub tokens_valid_after: Option<Timestamp>,
    /// Whether the family has a revoked token (logout or reuse detection).
    pub family_revoked: bool,
}

/// A stored password-reset token (only its hash is kept).
#[derive(Debug, Clone, PartialEq)]
pub struct PasswordReset {
    /// Lowercase hex SHA-256 of the token.
    pub token_hash: String,
    /// Whose password it resets.
    pub user_id: UserId,
    /// Issue time.
    pub created_at: Timestamp,
    /// Expiry.
    pub expires_at: Timestamp,
    /// Set once used.
    pub used_at: Option<Timestamp>,
}

/// An API key with the hash of its secret.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredApiKey {
    /// Metadata.
    pub key: ApiKey,
    /// Lowercase hex SHA-256 of the whole key string.
    pub secret_hash: String,
}

/// Users and their credentials, sessions, reset tokens and API keys.
#[async_trait]
pub trait AuthStore: Send + Sync {
    /// Inserts a user. `Conflict { field: "email" }` if the (lowercased)
    /// email is taken.
    async fn create_user(&self, user: &User, password_hash: &str) -> StoreResult<()>;
    /// A user by id; `NotFound` if absent.
    async fn get_user(&self, id: UserId) -> StoreResult<User>;
    /// Users by id, in any order; missing ids are skipped.
    async fn get_users(&self, ids: &[UserId]) -> StoreResult<Vec<User>>;
    /// A user and password hash by lowercased email; `None` if absent.
    async fn find_credentials(&self, email: &str) -> StoreResult<Option<UserCredentials>>;
    /// The password hash of a user; `NotFound` if absent.
    async fn get_credentials(&self, id: UserId) -> StoreResult<UserCredentials>;
    /// Saves a user's name, email and `updated_at`; `NotFound` if absent,
    /// `Conflict { field: "email" }` if the email is taken.
    async fn update_user(&self, user: &User) -> StoreResult<()>;
    /// Replaces a password hash; `NotFound` if absent.
    async fn set_password_hash(
        &self,
        id: UserId,
        password_hash: &str,
        at: Timestamp,
    ) -> StoreResult<()>;
    /// Deletes a user with their memberships, sessions, resets and keys;
    /// `NotFound` if absent. Records they created keep their `created_by` id.
    async fn delete_user(&self, id: UserId) -> StoreResult<()>;

    /// Inserts a refresh token (the first of a new family, at sign-in).
    async fn insert_refresh_token(&self, token: &RefreshToken) -> StoreResult<()>;
    /// In one transaction: spends the live token with this hash and inserts
    /// `next` (same user and family) in its place, unless the family has a
    /// revoked token or the user's tokens were cut off at or after the old
    /// token's issue (see [`RotateOutcome`]). Two concurrent calls with one
    /// hash: exactly one sees `Rotated`. A revocation of the family or the
    /// user that runs concurrently either sees `next` (and revokes it) or
    /// makes this call answer `Refused`: never a live successor in a revoked
    /// family.
    async fn rotate_refresh_token(
        &self,
        token_hash: &str,
        at: Timestamp,
        next: &RefreshToken,
    ) -> StoreResult<RotateOutcome>;
    /// Revokes every token of a family (idempotent).
    async fn revoke_token_family(&self, family_id: &str, at: Timestamp) -> StoreResult<()>;
    /// Cuts off a user's tokens (idempotent): every refresh token is revoked,
    /// every outstanding password-reset token is spent, and the user's
    /// `tokens_valid_after` becomes `at` (never earlier than it was), so
    /// tokens issued up to `at` stay refused. `NotFound` if absent.
    async fn revoke_user_tokens(&self, user_id: UserId, at: Timestamp) -> StoreResult<()>;
    /// The revocation state an access token of `user_id` in `family_id`
    /// depends on; `None` if the user does not exist.
    async fn session_state(
        &self,
        user_id: UserId,
        family_id: &str,
    ) -> StoreResult<Option<SessionState>>;

    /// Inserts a password-reset token.
    async fn insert_password_reset(&self, reset: &PasswordReset) -> StoreResult<()>;
    /// Atomically marks the unused, unexpired (at `at`) token with this hash
    /// as used and returns it; `None` if there is no such token. A token is
    /// returned at most once, even to concurrent callers.
    async fn use_password_reset(
        &self,
        token_hash: &str,
        at: Timestamp,
    ) -> StoreResult<Option<PasswordReset>>;

    /// Inserts an API key. `Conflict { field: "prefix" }` if the prefix is taken.
    async fn create_api_key(&self, key: &StoredApiKey) -> StoreResult<()>;
    /// The key with this prefix, if any.
    async fn find_api_key(&self, prefix: &str) -> StoreResult<Option<StoredApiKey>>;
    /// A user's keys, oldest first.
    async fn list_api_keys(&self, user_id: UserId) -> StoreResult<Vec<ApiKey>>;
    /// Deletes a user's key; `NotFound` if that user has no such key.
    async fn delete_api_key(&self, user_id: UserId, id: ApiKeyId) -> StoreResult<()>;
    /// Records a use of a key.
    async fn touch_api_key(&self, id: ApiKeyId, at: Timestamp) -> StoreResult<()>;
}
