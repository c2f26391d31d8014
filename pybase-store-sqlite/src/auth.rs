//! [`AuthStore`]: users, refresh tokens, password resets and API keys.

use async_trait::async_trait;
use pybase_core::StoreResult;
use pybase_core::ids::{ApiKeyId, UserId, WorkspaceId};
use pybase_core::model::{ApiKey, Timestamp, User};
use pybase_core::role::Scope;
use pybase_core::store::{
    AuthStore, PasswordReset, RefreshToken, RotateOutcome, SessionState, StoredApiKey,
    UserCredentials,
};
use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::SqliteStore;
use crate::error::{Error, Result};
use crate::rows::{fmt_opt_time, fmt_time, id, id_list, json, opt_time, time};

const USER_COLUMNS: &str = "id, email, name, created_at, updated_at, password_hash";

fn user(row: &Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        id: id(row, 0)?,
        email: row.get(1)?,
        name: row.get(2)?,
        created_at: time(row, 3)?,
        updated_at: time(row, 4)?,
    })
}

fn credentials(row: &Row<'_>) -> rusqlite::Result<UserCredentials> {
    Ok(UserCredentials {
        user: user(row)?,
        password_hash: row.get(5)?,
    })
}

const TOKEN_COLUMNS: &str =
    "id, family_id, user_id, token_hash, created_at, expires_at, spent_at, revoked_at";

fn refresh_token(row: &Row<'_>) -> rusqlite::Result<RefreshToken> {
    Ok(RefreshToken {
        id: row.get(0)?,
        family_id: row.get(1)?,
        user_id: id(row, 2)?,
        token_hash: row.get(3)?,
        created_at: time(row, 4)?,
        expires_at: time(row, 5)?,
        spent_at: opt_time(row, 6)?,
        revoked_at: opt_time(row, 7)?,
    })
}

const KEY_COLUMNS: &str = "id, user_id, name, prefix, scopes, workspaces, created_at, \
     expires_at, last_used_at, secret_hash";

fn api_key(row: &Row<'_>) -> rusqlite::Result<ApiKey> {
    let scopes: Vec<Scope> = json(row, 4)?;
    let workspaces: Option<String> = row.get(5)?;
    let workspaces = match workspaces {
        Some(_) => Some(json::<Vec<WorkspaceId>>(row, 5)?),
        None => None,
    };
    Ok(ApiKey {
        id: id(row, 0)?,
        user_id: id(row, 1)?,
        name: row.get(2)?,
        prefix: row.get(3)?,
        scopes,
        workspaces,
        created_at: time(row, 6)?,
        expires_at: opt_time(row, 7)?,
        last_used_at: opt_time(row, 8)?,
    })
}

fn user_exists(conn: &Connection, user: &str) -> Result<()> {
    let found = conn
        .prepare_cached("SELECT 1 FROM users WHERE id = ?1")?
        .query_row([user], |_| Ok(()))
        .optional()?;
    found.ok_or_else(|| Error::not_found("user", user))
}

fn insert_token(tx: &Connection, t: &RefreshToken) -> Result<()> {
    tx.prepare_cached(&format!(
        "INSERT INTO refresh_tokens ({TOKEN_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
    ))?
    .execute(params![
        t.id,
        t.family_id,
        t.user_id.as_str(),
        t.token_hash,
        fmt_time(&t.created_at),
        fmt_time(&t.expires_at),
        fmt_opt_time(t.spent_at.as_ref()),
        fmt_opt_time(t.revoked_at.as_ref()),
    ])?;
    Ok(())
}

#[async_trait]
impl AuthStore for SqliteStore {
    async fn create_user(&self, user: &User, password_hash: &str) -> StoreResult<()> {
        let u = user.clone();
        let hash = password_hash.to_owned();
        self.write(move |tx| {
            tx.prepare_cached(
                "INSERT INTO users (id, email, name, password_hash, created_at, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                u.id.as_str(),
                u.email,
                u.name,
                hash,
                fmt_time(&u.created_at),
                fmt_time(&u.updated_at)
            ])?;
            Ok(())
        })
        .await
    }

    async fn get_user(&self, id: UserId) -> StoreResult<User> {
        self.read_small(move |conn| {
            conn.prepare_cached(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1"))?
                .query_row([id.as_str()], user)
                .optional()?
                .ok_or_else(|| Error::not_found("user", id))
        })
        .await
    }

    async fn get_users(&self, ids: &[UserId]) -> StoreResult<Vec<User>> {
        let list = id_list(ids);
        self.read_small(move |conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {USER_COLUMNS} FROM users WHERE id IN (SELECT value FROM json_each(?1))"
            ))?;
            let rows = stmt.query_map([list], user)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    async fn find_credentials(&self, email: &str) -> StoreResult<Option<UserCredentials>> {
        let email = email.to_lowercase();
        self.read_small(move |conn| {
            Ok(conn
                .prepare_cached(&format!(
                    "SELECT {USER_COLUMNS} FROM users WHERE email = ?1"
                ))?
                .query_row([email], credentials)
                .optional()?)
        })
        .await
    }

    async fn get_credentials(&self, id: UserId) -> StoreResult<UserCredentials> {
        self.read_small(move |conn| {
            conn.prepare_cached(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1"))?
                .query_row([id.as_str()], credentials)
                .optional()?
                .ok_or_else(|| Error::not_found("user", id))
        })
        .await
    }

    async fn update_user(&self, user: &User) -> StoreResult<()> {
        let u = user.clone();
        self.write(move |tx| {
            let n = tx
                .prepare_cached(
                    "UPDATE users SET name = ?2, email = ?3, updated_at = ?4 WHERE id = ?1",
                )?
                .execute(params![
                    u.id.as_str(),
                    u.name,
                    u.email,
                    fmt_time(&u.updated_at)
                ])?;
            if n == 0 {
                return Err(Error::not_found("user", u.id));
            }
            Ok(())
        })
        .await
    }

    async fn set_password_hash(
        &self,
        id: UserId,
        password_hash: &str,
        at: Timestamp,
    ) -> StoreResult<()> {
        let hash = password_hash.to_owned();
        self.write(move |tx| {
            let n = tx
                .prepare_cached(
                    "UPDATE users SET password_hash = ?2, updated_at = ?3 WHERE id = ?1",
                )?
                .execute(params![id.as_str(), hash, fmt_time(&at)])?;
            if n == 0 {
                return Err(Error::not_found("user", id));
            }
            Ok(())
        })
        .await
    }

    async fn delete_user(&self, id: UserId) -> StoreResult<()> {
        self.write(move |tx| {
            // Memberships, tokens, resets and keys go by ON DELETE CASCADE.
            let n = tx
                .prepare_cached("DELETE FROM users WHERE id = ?1")?
                .execute([id.as_str()])?;
            if n == 0 {
                return Err(Error::not_found("user", id));
            }
            Ok(())
        })
        .await
    }

    async fn insert_refresh_token(&self, token: &RefreshToken) -> StoreResult<()> {
        let t = token.clone();
        self.write(move |tx| {
            user_exists(tx, t.user_id.as_str())?;
            insert_token(tx, &t)
        })
        .await
    }

    async fn rotate_refresh_token(
        &self,
        token_hash: &str,
        at: Timestamp,
        next: &RefreshToken,
    ) -> StoreResult<RotateOutcome> {
        let hash = token_hash.to_owned();
        let next = next.clone();
        // The single writer plus an immediate transaction make the checks,
        // the spend and the insert one atomic step: a revocation runs wholly
        // before (and this call sees it) or after (and revokes `next`).
        self.write(move |tx| {
            let found = tx
                .prepare_cached(&format!(
                    "SELECT {TOKEN_COLUMNS} FROM refresh_tokens WHERE token_hash = ?1"
                ))?
                .query_row([&hash], refresh_token)
                .optional()?;
            let Some(mut token) = found else {
                return Ok(RotateOutcome::Unknown);
            };
            if token.spent_at.is_some() {
                return Ok(RotateOutcome::Reused(token));
            }
            let (cut_off, family_revoked) = tx
                .prepare_cached(
                    "SELECT u.tokens_valid_after, EXISTS (SELECT 1 FROM refresh_tokens r \
                     WHERE r.family_id = ?2 AND r.revoked_at IS NOT NULL) \
                     FROM users u WHERE u.id = ?1",
                )?
                .query_row(params![token.user_id.as_str(), token.family_id], |row| {
                    Ok((opt_time(row, 0)?, row.get::<_, bool>(1)?))
                })
                .optional()?
                .map_or((None, true), |(cut, revoked)| (cut, revoked));
            let refused = family_revoked
                || cut_off.is_some_and(|c| token.created_at <= c)
                || token.expires_at <= at
                || token.user_id != next.user_id
                || token.family_id != next.family_id;
            if refused {
                return Ok(RotateOutcome::Refused(token));
            }
            tx.prepare_cached("UPDATE refresh_tokens SET spent_at = ?2 WHERE id = ?1")?
                .execute(params![token.id, fmt_time(&at)])?;
            insert_token(tx, &next)?;
            token.spent_at = Some(at);
            Ok(RotateOutcome::Rotated(token))
        })
        .await
    }

    async fn revoke_token_family(&self, family_id: &str, at: Timestamp) -> StoreResult<()> {
        let family = family_id.to_owned();
        self.write(move |tx| {
            tx.prepare_cached(
                "UPDATE refresh_tokens SET revoked_at = ?2 \
                 WHERE family_id = ?1 AND revoked_at IS NULL",
            )?
            .execute(params![family, fmt_time(&at)])?;
            Ok(())
        })
        .await
    }

    async fn revoke_user_tokens(&self, user_id: UserId, at: Timestamp) -> StoreResult<()> {
        self.write(move |tx| {
            let at = fmt_time(&at);
            let done = tx
                .prepare_cached(
                    "UPDATE users SET tokens_valid_after = ?2 WHERE id = ?1 \
                     AND (tokens_valid_after IS NULL OR tokens_valid_after < ?2)",
                )?
                .execute(params![user_id.as_str(), at])?;
            if done == 0 {
                user_exists(tx, user_id.as_str())?;
            }
            tx.prepare_cached(
                "UPDATE refresh_tokens SET revoked_at = ?2 \
                 WHERE user_id = ?1 AND revoked_at IS NULL",
            )?
            .execute(params![user_id.as_str(), at])?;
            tx.prepare_cached(
                "UPDATE password_resets SET used_at = ?2 WHERE user_id = ?1 AND used_at IS NULL",
            )?
            .execute(params![user_id.as_str(), at])?;
            Ok(())
        })
        .await
    }

    async fn session_state(
        &self,
        user_id: UserId,
        family_id: &str,
    ) -> StoreResult<Option<SessionState>> {
        let family = family_id.to_owned();
        self.read_small(move |conn| {
            Ok(conn
                .prepare_cached(
                    "SELECT u.tokens_valid_after, EXISTS (SELECT 1 FROM refresh_tokens r \
                     WHERE r.family_id = ?2 AND r.revoked_at IS NOT NULL) \
                     FROM users u WHERE u.id = ?1",
                )?
                .query_row(params![user_id.as_str(), family], |row| {
                    Ok(SessionState {
                        tokens_valid_after: opt_time(row, 0)?,
                        family_revoked: row.get(1)?,
                    })
                })
                .optional()?)
        })
        .await
    }

    async fn insert_password_reset(&self, reset: &PasswordReset) -> StoreResult<()> {
        let r = reset.clone();
        self.write(move |tx| {
            user_exists(tx, r.user_id.as_str())?;
            tx.prepare_cached(
                "INSERT INTO password_resets (token_hash, user_id, created_at, expires_at, used_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![
                r.token_hash,
                r.user_id.as_str(),
                fmt_time(&r.created_at),
                fmt_time(&r.expires_at),
                fmt_opt_time(r.used_at.as_ref()),
            ])?;
            Ok(())
        })
        .await
    }

    async fn use_password_reset(
        &self,
        token_hash: &str,
        at: Timestamp,
    ) -> StoreResult<Option<PasswordReset>> {
        let hash = token_hash.to_owned();
        self.write(move |tx| {
            // Times are fixed-width UTC text, so text order is time order.
            Ok(tx
                .prepare_cached(
                    "UPDATE password_resets SET used_at = ?2 \
                     WHERE token_hash = ?1 AND used_at IS NULL AND expires_at > ?2 \
                     RETURNING token_hash, user_id, created_at, expires_at, used_at",
                )?
                .query_row(params![hash, fmt_time(&at)], |row| {
                    Ok(PasswordReset {
                        token_hash: row.get(0)?,
                        user_id: id(row, 1)?,
                        created_at: time(row, 2)?,
                        expires_at: time(row, 3)?,
                        used_at: opt_time(row, 4)?,
                    })
                })
                .optional()?)
        })
        .await
    }

    async fn create_api_key(&self, key: &StoredApiKey) -> StoreResult<()> {
        let k = key.clone();
        let scopes = serde_json::to_string(&k.key.scopes).map_err(Error::from)?;
        let workspaces = k
            .key
            .workspaces
            .as_ref()
            .map(serde_json::to_string)
            .transpose()
            .map_err(Error::from)?;
        self.write(move |tx| {
            let key = &k.key;
            user_exists(tx, key.user_id.as_str())?;
            tx.prepare_cached(&format!(
                "INSERT INTO api_keys ({KEY_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
            ))?
            .execute(params![
                key.id.as_str(),
                key.user_id.as_str(),
                key.name,
                key.prefix,
                scopes,
                workspaces,
                fmt_time(&key.created_at),
                fmt_opt_time(key.expires_at.as_ref()),
                fmt_opt_time(key.last_used_at.as_ref()),
                k.secret_hash,
            ])?;
            Ok(())
        })
        .await
    }

    async fn find_api_key(&self, prefix: &str) -> StoreResult<Option<StoredApiKey>> {
        let prefix = prefix.to_owned();
        self.read_small(move |conn| {
            Ok(conn
                .prepare_cached(&format!(
                    "SELECT {KEY_COLUMNS} FROM api_keys WHERE prefix = ?1"
                ))?
                .query_row([prefix], |row| {
                    Ok(StoredApiKey {
                        key: api_key(row)?,
                        secret_hash: row.get(9)?,
                    })
                })
                .optional()?)
        })
        .await
    }

    async fn list_api_keys(&self, user_id: UserId) -> StoreResult<Vec<ApiKey>> {
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {KEY_COLUMNS} FROM api_keys WHERE user_id = ?1 ORDER BY created_at, id"
            ))?;
            let rows = stmt.query_map([user_id.as_str()], api_key)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    async fn delete_api_key(&self, user_id: UserId, id: ApiKeyId) -> StoreResult<()> {
        self.write(move |tx| {
            let n = tx
                .prepare_cached("DELETE FROM api_keys WHERE id = ?1 AND user_id = ?2")?
                .execute(params![id.as_str(), user_id.as_str()])?;
            if n == 0 {
                return Err(Error::not_found("api_key", id));
            }
            Ok(())
        })
        .await
    }

    async fn touch_api_key(&self, id: ApiKeyId, at: Timestamp) -> StoreResult<()> {
        self.write(move |tx| {
            let n = tx
                .prepare_cached("UPDATE api_keys SET last_used_at = ?2 WHERE id = ?1")?
                .execute(params![id.as_str(), fmt_time(&at)])?;
            if n == 0 {
                return Err(Error::not_found("api_key", id));
            }
            Ok(())
        })
        .await
    }
}
