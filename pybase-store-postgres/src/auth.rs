//! [`AuthStore`]: users, refresh tokens, password resets and API keys.

use async_trait::async_trait;
use pybase_core::ids::{ApiKeyId, UserId};
use pybase_core::model::{ApiKey, Timestamp, User};
use pybase_core::store::{
    AuthStore, PasswordReset, RefreshToken, RotateOutcome, SessionState, StoredApiKey,
    UserCredentials,
};
use pybase_core::{StoreError, StoreResult};
use sqlx::Row;
use sqlx::postgres::PgRow;

use crate::PgStore;
use crate::error::ResultExt;
use crate::rows::{self, API_KEY_COLUMNS, SESSION_COLUMNS, USER_COLUMNS};
use crate::sql::cols;

fn credentials(row: &PgRow) -> Result<UserCredentials, sqlx::Error> {
    Ok(UserCredentials {
        user: rows::user(row)?,
        password_hash: row.try_get("password_hash")?,
    })
}

fn stored_key(row: &PgRow) -> Result<StoredApiKey, sqlx::Error> {
    Ok(StoredApiKey {
        key: rows::api_key(row)?,
        secret_hash: row.try_get("secret_hash")?,
    })
}

/// Inserts a session row on `exec` (the pool, or a transaction).
async fn insert_session<'e, E: sqlx::PgExecutor<'e>>(
    exec: E,
    token: &RefreshToken,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO sessions (id, family_id, user_id, token_hash, created_at, expires_at, \
         spent_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&token.id)
    .bind(&token.family_id)
    .bind(token.user_id.as_str())
    .bind(&token.token_hash)
    .bind(token.created_at)
    .bind(token.expires_at)
    .bind(token.spent_at)
    .bind(token.revoked_at)
    .execute(exec)
    .await?;
    Ok(())
}

#[async_trait]
impl AuthStore for PgStore {
    async fn create_user(&self, user: &User, password_hash: &str) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO users (id, email, name, password_hash, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(user.id.as_str())
        .bind(&user.email)
        .bind(&user.name)
        .bind(password_hash)
        .bind(user.created_at)
        .bind(user.updated_at)
        .execute(&self.pool)
        .await
        .db()?;
        Ok(())
    }

    async fn get_user(&self, id: UserId) -> StoreResult<User> {
        let sql = cols(USER_COLUMNS, "SELECT {} FROM users WHERE id = $1");
        let row = sqlx::query(sql)
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await
            .db()?
            .ok_or_else(|| StoreError::not_found("user", id))?;
        rows::user(&row).db()
    }

    async fn get_users(&self, ids: &[UserId]) -> StoreResult<Vec<User>> {
        let ids: Vec<&str> = ids.iter().map(UserId::as_str).collect();
        let sql = cols(
            USER_COLUMNS,
            "SELECT {} FROM users WHERE id = ANY($1) ORDER BY id",
        );
        let found = sqlx::query(sql)
            .bind(ids)
            .fetch_all(&self.pool)
            .await
            .db()?;
        found.iter().map(rows::user).collect::<Result<_, _>>().db()
    }

    async fn find_credentials(&self, email: &str) -> StoreResult<Option<UserCredentials>> {
        let sql = cols(USER_COLUMNS, "SELECT {} FROM users WHERE email = $1");
        let row = sqlx::query(sql)
            .bind(email)
            .fetch_optional(&self.pool)
            .await
            .db()?;
        row.as_ref().map(credentials).transpose().db()
    }

    async fn get_credentials(&self, id: UserId) -> StoreResult<UserCredentials> {
        let sql = cols(USER_COLUMNS, "SELECT {} FROM users WHERE id = $1");
        let row = sqlx::query(sql)
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await
            .db()?
            .ok_or_else(|| StoreError::not_found("user", id))?;
        credentials(&row).db()
    }

    async fn update_user(&self, user: &User) -> StoreResult<()> {
        let done =
            sqlx::query("UPDATE users SET email = $2, name = $3, updated_at = $4 WHERE id = $1")
                .bind(user.id.as_str())
                .bind(&user.email)
                .bind(&user.name)
                .bind(user.updated_at)
                .execute(&self.pool)
                .await
                .db()?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found("user", user.id));
        }
        Ok(())
    }

    async fn set_password_hash(
        &self,
        id: UserId,
        password_hash: &str,
        at: Timestamp,
    ) -> StoreResult<()> {
        let done =
            sqlx::query("UPDATE users SET password_hash = $2, updated_at = $3 WHERE id = $1")
                .bind(id.as_str())
                .bind(password_hash)
                .bind(at)
                .execute(&self.pool)
                .await
                .db()?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found("user", id));
        }
        Ok(())
    }

    async fn delete_user(&self, id: UserId) -> StoreResult<()> {
        // Memberships, sessions, resets and keys go with the user (ON DELETE CASCADE).
        let done = sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(id.as_str())
            .execute(&self.pool)
            .await
            .db()?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found("user", id));
        }
        Ok(())
    }

    async fn insert_refresh_token(&self, token: &RefreshToken) -> StoreResult<()> {
        insert_session(&self.pool, token)
            .await
            .or_missing("user", token.user_id.as_str())?;
        Ok(())
    }

    async fn rotate_refresh_token(
        &self,
        token_hash: &str,
        at: Timestamp,
        next: &RefreshToken,
    ) -> StoreResult<RotateOutcome> {
        let mut tx = self.pool.begin().await.db()?;
        // Revocations lock the user row for update; this share lock orders
        // the rotation wholly before or after them, so a revocation either
        // sees `next` or this transaction sees the revocation.
        let cut_off: Option<Option<Timestamp>> =
            sqlx::query_scalar("SELECT tokens_valid_after FROM users WHERE id = $1 FOR SHARE")
                .bind(next.user_id.as_str())
                .fetch_optional(&mut *tx)
                .await
                .db()?;
        let sql = cols(
            SESSION_COLUMNS,
            "SELECT {} FROM sessions WHERE token_hash = $1 FOR UPDATE",
        );
        let Some(row) = sqlx::query(sql)
            .bind(token_hash)
            .fetch_optional(&mut *tx)
            .await
            .db()?
        else {
            return Ok(RotateOutcome::Unknown);
        };
        let mut token = rows::refresh_token(&row).db()?;
        if token.spent_at.is_some() {
            return Ok(RotateOutcome::Reused(token));
        }
        let family_revoked: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM sessions WHERE family_id = $1 AND revoked_at IS NOT NULL)",
        )
        .bind(&token.family_id)
        .fetch_one(&mut *tx)
        .await
        .db()?;
        let refused = family_revoked
            || match cut_off {
                None => true,
                Some(cut) => cut.is_some_and(|c| token.created_at <= c),
            }
            || token.expires_at <= at
            || token.user_id != next.user_id
            || token.family_id != next.family_id;
        if refused {
            return Ok(RotateOutcome::Refused(token));
        }
        sqlx::query("UPDATE sessions SET spent_at = $2 WHERE id = $1")
            .bind(&token.id)
            .bind(at)
            .execute(&mut *tx)
            .await
            .db()?;
        insert_session(&mut *tx, next).await.db()?;
        tx.commit().await.db()?;
        token.spent_at = Some(at);
        Ok(RotateOutcome::Rotated(token))
    }

    async fn revoke_token_family(&self, family_id: &str, at: Timestamp) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.db()?;
        // Lock the family's user as rotations expect (see rotate_refresh_token).
        sqlx::query(
            "SELECT 1 FROM users WHERE id = \
             (SELECT user_id FROM sessions WHERE family_id = $1 LIMIT 1) FOR UPDATE",
        )
        .bind(family_id)
        .execute(&mut *tx)
        .await
        .db()?;
        sqlx::query(
            "UPDATE sessions SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL",
        )
        .bind(family_id)
        .bind(at)
        .execute(&mut *tx)
        .await
        .db()?;
        tx.commit().await.db()?;
        Ok(())
    }

    async fn revoke_user_tokens(&self, user_id: UserId, at: Timestamp) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.db()?;
        let done = sqlx::query(
            "UPDATE users SET tokens_valid_after = GREATEST(tokens_valid_after, $2) WHERE id = $1",
        )
        .bind(user_id.as_str())
        .bind(at)
        .execute(&mut *tx)
        .await
        .db()?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found("user", user_id));
        }
        sqlx::query(
            "UPDATE sessions SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL",
        )
        .bind(user_id.as_str())
        .bind(at)
        .execute(&mut *tx)
        .await
        .db()?;
        sqlx::query(
            "UPDATE password_resets SET used_at = $2 WHERE user_id = $1 AND used_at IS NULL",
        )
        .bind(user_id.as_str())
        .bind(at)
        .execute(&mut *tx)
        .await
        .db()?;
        tx.commit().await.db()?;
        Ok(())
    }

    async fn session_state(
        &self,
        user_id: UserId,
        family_id: &str,
    ) -> StoreResult<Option<SessionState>> {
        let row = sqlx::query(
            "SELECT u.tokens_valid_after, EXISTS (SELECT 1 FROM sessions s \
             WHERE s.family_id = $2 AND s.revoked_at IS NOT NULL) AS family_revoked \
             FROM users u WHERE u.id = $1",
        )
        .bind(user_id.as_str())
        .bind(family_id)
        .fetch_optional(&self.pool)
        .await
        .db()?;
        row.map(|row| {
            Ok(SessionState {
                tokens_valid_after: row.try_get("tokens_valid_after")?,
                family_revoked: row.try_get("family_revoked")?,
            })
        })
        .transpose()
        .db()
    }

    async fn insert_password_reset(&self, reset: &PasswordReset) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO password_resets (token_hash, user_id, created_at, expires_at, used_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&reset.token_hash)
        .bind(reset.user_id.as_str())
        .bind(reset.created_at)
        .bind(reset.expires_at)
        .bind(reset.used_at)
        .execute(&self.pool)
        .await
        .or_missing("user", reset.user_id.as_str())?;
        Ok(())
    }

    async fn use_password_reset(
        &self,
        token_hash: &str,
        at: Timestamp,
    ) -> StoreResult<Option<PasswordReset>> {
        let row = sqlx::query(
            "UPDATE password_resets SET used_at = $2 \
             WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2 \
             RETURNING token_hash, user_id, created_at, expires_at, used_at",
        )
        .bind(token_hash)
        .bind(at)
        .fetch_optional(&self.pool)
        .await
        .db()?;
        row.as_ref().map(rows::password_reset).transpose().db()
    }

    async fn create_api_key(&self, key: &StoredApiKey) -> StoreResult<()> {
        let k = &key.key;
        let scopes: Vec<&str> = k.scopes.iter().map(|s| s.as_str()).collect();
        let workspaces: Option<Vec<&str>> = k
            .workspaces
            .as_ref()
            .map(|list| list.iter().map(|w| w.as_str()).collect());
        sqlx::query(
            "INSERT INTO api_keys (id, user_id, name, prefix, scopes, workspaces, secret_hash, \
             created_at, expires_at, last_used_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(k.id.as_str())
        .bind(k.user_id.as_str())
        .bind(&k.name)
        .bind(&k.prefix)
        .bind(scopes)
        .bind(workspaces)
        .bind(&key.secret_hash)
        .bind(k.created_at)
        .bind(k.expires_at)
        .bind(k.last_used_at)
        .execute(&self.pool)
        .await
        .or_missing("user", k.user_id.as_str())?;
        Ok(())
    }

    async fn find_api_key(&self, prefix: &str) -> StoreResult<Option<StoredApiKey>> {
        let sql = cols(API_KEY_COLUMNS, "SELECT {} FROM api_keys WHERE prefix = $1");
        let row = sqlx::query(sql)
            .bind(prefix)
            .fetch_optional(&self.pool)
            .await
            .db()?;
        row.as_ref().map(stored_key).transpose().db()
    }

    async fn list_api_keys(&self, user_id: UserId) -> StoreResult<Vec<ApiKey>> {
        let sql = cols(
            API_KEY_COLUMNS,
            "SELECT {} FROM api_keys WHERE user_id = $1 ORDER BY created_at, id",
        );
        let found = sqlx::query(sql)
            .bind(user_id.as_str())
            .fetch_all(&self.pool)
            .await
            .db()?;
        found
            .iter()
            .map(rows::api_key)
            .collect::<Result<_, _>>()
            .db()
    }

    async fn delete_api_key(&self, user_id: UserId, id: ApiKeyId) -> StoreResult<()> {
        let done = sqlx::query("DELETE FROM api_keys WHERE id = $1 AND user_id = $2")
            .bind(id.as_str())
            .bind(user_id.as_str())
            .execute(&self.pool)
            .await
            .db()?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found("api_key", id));
        }
        Ok(())
    }

    async fn touch_api_key(&self, id: ApiKeyId, at: Timestamp) -> StoreResult<()> {
        let done = sqlx::query("UPDATE api_keys SET last_used_at = $2 WHERE id = $1")
            .bind(id.as_str())
            .bind(at)
            .execute(&self.pool)
            .await
            .db()?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found("api_key", id));
        }
        Ok(())
    }
}
